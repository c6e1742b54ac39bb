/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: control-queue chain framing (net_dev_ctrlq_process(),
 * lib/net_dev/net_dev_ctrlq.c) — the command (class, command, data) and
 * the ack byte split over descriptors in any way, direct or indirect,
 * split or packed ring, commands longer than NET_DEV_CTRLQ_MAX_CMD,
 * chains without a writable byte or with more segments than the queue
 * takes. fuzz_ctrlq.c fuzzes the command bytes once gathered
 * (net_dev_ctrlq_exec()); this target checks that the gathering and the
 * ack are independent of how the chain is cut.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h):
 *   u8  ring: bit 0 packed, 1 EVENT_IDX, 2 INDIRECT_DESC, 3 IN_ORDER
 *   u8  queue size (fg_pick_size(), at most 16)
 *   u8  control features: bit 0 CTRL_RX, 1 CTRL_RX_EXTRA, 2 CTRL_VLAN,
 *       3 GUEST_ANNOUNCE, 4 MQ, 5 CTRL_MAC_ADDR, 6 CTRL_GUEST_OFFLOADS
 *       (with every GUEST_* offload), 7 set_queue_pairs fails
 *   u8  max queue pairs
 *   then operations until the input ends (at most 128), one byte x, x % 4:
 *   0 post a chain: u8 a (bit 7 indirect), nout = a % 72 readable
 *     buffers; u8 nin (% 4) writable buffers; u16 command length
 *     (% 9000) and its bytes; nout x u16 piece lengths (the last piece
 *     takes the rest; a buffer gets at least one byte); nin x u8 length
 *     (1 + x % 32)
 *   1 publish   2 process: u8 budget (1 + x % 64), then reap
 *   3 scribble (the guest turns hostile): u8 region, u16 offset, u8 len,
 *     bytes
 *
 * Invariants (FUZZ_CHECK), honest guest: chains complete in the order
 * posted; a chain without a writable byte or with more than 64 segments
 * (or more descriptors than the queue size) is completed with length 0; any other with length 1 and
 * its ack, the first writable byte, equal to what net_dev_ctrlq_exec() answers on a reference copy
 * of the filter for the chain's readable bytes concatenated (ERR past NET_DEV_CTRLQ_MAX_CMD), no
 * other writable byte touched; after each process the device's filter equals the reference. Always:
 * the return value is the number of chains completed, at most the budget; ASan/UBSan: no access
 * outside the guest regions.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_guest.h"
#include "../fuzz/fuzz_input.h"
#include "net_dev/net_dev_ctrlq.h"
#include "spec/virtio_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_QMAX	    16
#define FZ_MAX_OPS  128
#define FZ_MAX_OUT  72
#define FZ_MAX_IN   4
#define FZ_IOV_CAP  64 /* NET_DEV_CTRLQ_MAX_IOV */
#define FZ_CMD_MAX  9000u
#define FZ_OUT_SIZE (FZ_CMD_MAX + FZ_MAX_OUT)
#define GPA_RING    0x100000ull
#define GPA_OUT	    0x200000ull
#define GPA_IN	    0x400000ull
#define FZ_IN_SLOT  (FZ_MAX_IN * 32u)

struct side {
	struct net_dev_rx_filter f;
	struct net_dev_ctrlq_target t;
	int pairs_rc;
};

struct chain {
	bool busy;
	unsigned nout, nin;
	uint32_t cmd_len;
	uint8_t cmd[FZ_CMD_MAX];
	uint32_t in_len[FZ_MAX_IN];
};

struct fz {
	struct fuzz_input in;
	struct fg_mem m;
	struct fg_ring r;
	unsigned out_reg, in_reg;
	bool hostile;
	struct side dev, ref;
	struct chain c[FZ_QMAX];	  /* by slot (token - 1) */
	unsigned order[FZ_QMAX], n_order; /* slots in the order posted */
};

static int hook_pairs(void *o, unsigned pairs)
{
	(void)pairs;
	return ((struct side *)o)->pairs_rc;
}

static int hook_offloads(void *o, uint64_t offloads)
{
	(void)o, (void)offloads;
	return 0;
}

static void side_init(struct side *s, uint64_t features, unsigned pairs, int pairs_rc)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
	net_dev_rx_filter_reset(&s->f, mac, vq_has_feature(features, VIRTIO_NET_F_CTRL_VLAN));
	s->pairs_rc = pairs_rc;
	s->t = (struct net_dev_ctrlq_target){.features = features,
					     .max_queue_pairs = pairs,
					     .filter = &s->f,
					     .opaque = s,
					     .set_queue_pairs = hook_pairs,
					     .set_guest_offloads = hook_offloads};
}

static void op_post(struct fz *z)
{
	uint8_t a = fin_u8(&z->in);
	bool indirect = a & 0x80;
	unsigned nout = (a & 0x7f) % FZ_MAX_OUT, nin = fin_u8(&z->in) % (FZ_MAX_IN + 1);
	uint32_t len = fin_u16(&z->in) % FZ_CMD_MAX;
	int slot = -1;
	for (unsigned i = 0; i < FZ_QMAX && slot < 0; i++)
		if (!z->c[i].busy)
			slot = (int)i;
	struct chain *c = &z->c[slot < 0 ? 0 : slot];
	static struct chain scratch;
	if (slot < 0)
		c = &scratch;
	memset(c, 0, offsetof(struct chain, cmd));
	for (uint32_t i = 0; i < len; i++)
		c->cmd[i] = fin_u8(&z->in);
	if (nout && len < nout) {
		memset(c->cmd + len, 0, nout - len); /* every buffer holds a byte */
		len = nout;
	}
	if (!nout)
		len = 0;
	c->cmd_len = len;
	c->nout = nout;
	c->nin = nin;

	/* Cut the command into nout pieces in fresh space of the region. */
	uint32_t pieces[FZ_MAX_OUT], left = len;
	for (unsigned i = 0; i < nout; i++) {
		uint32_t want = fin_u16(&z->in);
		uint32_t room = left - (nout - 1 - i); /* one byte for each later piece */
		pieces[i] = i + 1 == nout ? left : 1u + want % room;
		left -= pieces[i];
	}
	for (unsigned i = 0; i < nin; i++)
		c->in_len[i] = 1u + fin_u8(&z->in) % 32u;
	if (slot < 0 || z->r.drv == NULL || nout + nin == 0)
		return;
	if (vq_drv_chain_start(z->r.drv, indirect && z->r.ind_max) < 0)
		return;
	uint32_t off = 0;
	bool ok = true;
	for (unsigned i = 0; i < nout && ok; i++) {
		uint64_t gpa = GPA_OUT + (uint64_t)slot * FZ_OUT_SIZE + off;
		memcpy(z->m.reg[z->out_reg].host + (gpa - GPA_OUT), c->cmd + off, pieces[i]);
		ok = vq_drv_chain_add(z->r.drv, gpa, pieces[i], false) == 0;
		off += pieces[i];
	}
	for (unsigned i = 0; i < nin && ok; i++) {
		uint64_t gpa = GPA_IN + (uint64_t)slot * FZ_IN_SLOT + i * 32u;
		memset(z->m.reg[z->in_reg].host + (gpa - GPA_IN), 0xa5, c->in_len[i]);
		ok = vq_drv_chain_add(z->r.drv, gpa, c->in_len[i], true) == 0;
	}
	if (!ok || vq_drv_chain_end(z->r.drv, (void *)(uintptr_t)(slot + 1)) < 0) {
		vq_drv_chain_rewind(z->r.drv);
		return;
	}
	c->busy = true;
	z->order[z->n_order++] = (unsigned)slot;
}

/* What the device must have done with chain @slot: its used length and
 * ack, from the reference. */
static void check_done(struct fz *z, unsigned slot, uint32_t used_len)
{
	struct chain *c = &z->c[slot];
	const uint8_t *in = z->m.reg[z->in_reg].host + (size_t)slot * FZ_IN_SLOT;
	FUZZ_CHECK(z->n_order && z->order[0] == slot);
	/* Dropped (too many segments for the element, longer than the
	 * queue: vq_pop's drop codes) or no byte for the ack. */
	if (!c->nin || c->nout + c->nin > FZ_IOV_CAP || c->nout + c->nin > z->r.size) {
		FUZZ_CHECK(used_len == 0);
	} else {
		uint8_t ack = c->cmd_len > NET_DEV_CTRLQ_MAX_CMD
				      ? VIRTIO_NET_ERR
				      : net_dev_ctrlq_exec(&z->ref.t, c->cmd, c->cmd_len);
		FUZZ_CHECK(used_len == 1);
		FUZZ_CHECK(in[0] == ack);
	}
	/* No writable byte but the ack touched. */
	for (unsigned i = 0; i < c->nin; i++)
		for (uint32_t k = i == 0 && used_len ? 1 : 0; k < c->in_len[i]; k++)
			FUZZ_CHECK(in[i * 32u + k] == 0xa5);
}

/* Chain @slot is done: off the posting order, its slot free. */
static void forget(struct fz *z, unsigned slot)
{
	for (unsigned i = 0; i < z->n_order; i++)
		if (z->order[i] == slot) {
			memmove(z->order + i, z->order + i + 1,
				(--z->n_order - i) * sizeof(z->order[0]));
			break;
		}
	z->c[slot].busy = false;
}

static void op_process(struct fz *z)
{
	unsigned budget = 1u + fin_u8(&z->in) % 64u;
	bool notify;
	int n = net_dev_ctrlq_process(&z->dev.t, z->r.vq, budget, &notify);
	FUZZ_CHECK(n < 0 || (unsigned)n <= budget);
	struct vq_drv_used u[FZ_QMAX];
	int got;
	unsigned reaped = 0;
	while ((got = vq_drv_reap(z->r.drv, u, FZ_QMAX)) > 0) {
		for (int i = 0; i < got; i++) {
			unsigned slot = (unsigned)(uintptr_t)u[i].token - 1u;
			FUZZ_CHECK(slot < FZ_QMAX && z->c[slot].busy);
			if (!z->hostile)
				check_done(z, slot, u[i].len);
			forget(z, slot);
			reaped++;
		}
	}
	if (z->hostile)
		return;
	FUZZ_CHECK(got == 0);
	FUZZ_CHECK(n >= 0 && reaped == (unsigned)n);
	FUZZ_CHECK(!memcmp(&z->dev.f, &z->ref.f, sizeof(z->dev.f)));
}

static void op_scribble(struct fz *z)
{
	struct fg_region *r = &z->m.reg[fin_u8(&z->in) % z->m.nreg];
	size_t off = fin_u16(&z->in) % r->size;
	size_t n = fin_u8(&z->in);
	z->hostile = true;
	for (size_t i = 0; i < n && off + i < r->size; i++)
		r->host[off + i] = fin_u8(&z->in);
}

static const unsigned ctrl_bits[] = {VIRTIO_NET_F_CTRL_RX,
				     VIRTIO_NET_F_CTRL_RX_EXTRA,
				     VIRTIO_NET_F_CTRL_VLAN,
				     VIRTIO_NET_F_GUEST_ANNOUNCE,
				     VIRTIO_NET_F_MQ,
				     VIRTIO_NET_F_CTRL_MAC_ADDR,
				     VIRTIO_NET_F_CTRL_GUEST_OFFLOADS};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz z;
	memset(&z, 0, sizeof(z));
	z.in = (struct fuzz_input){data, size};
	uint8_t ring = fin_u8(&z.in);
	enum vq_format fmt = fg_ring_format(ring);
	uint32_t qsize = fg_pick_size(fmt, fin_u8(&z.in), FZ_QMAX);
	uint64_t vqf = fg_ring_features(ring);
	uint8_t cf = fin_u8(&z.in);
	uint64_t features = vqf | 1ull << VIRTIO_NET_F_CTRL_VQ;
	for (unsigned i = 0; i < 7; i++)
		if (cf >> i & 1)
			features |= 1ull << ctrl_bits[i];
	if (cf & 64)
		features |= 1ull << VIRTIO_NET_F_GUEST_CSUM | 1ull << VIRTIO_NET_F_GUEST_TSO4 |
			    1ull << VIRTIO_NET_F_GUEST_TSO6 | 1ull << VIRTIO_NET_F_GUEST_ECN |
			    1ull << VIRTIO_NET_F_GUEST_UFO;
	unsigned pairs = fin_u8(&z.in);
	int pairs_rc = cf & 128 ? -EBUSY : 0;
	side_init(&z.dev, features, pairs, pairs_rc);
	side_init(&z.ref, features, pairs, pairs_rc);

	fg_ring_init(&z.r, &z.m, GPA_RING, fmt, qsize, vqf, FZ_MAX_OUT + FZ_MAX_IN);
	z.out_reg = fg_region_add(&z.m, GPA_OUT, (size_t)FZ_QMAX * FZ_OUT_SIZE);
	z.in_reg = fg_region_add(&z.m, GPA_IN, (size_t)FZ_QMAX * FZ_IN_SLOT);
	fg_mem_table(&z.m);
	fg_ring_start(&z.r, &z.m, VQ_DIR_BOTH);

	for (unsigned ops = 0; z.in.left && ops < FZ_MAX_OPS; ops++) {
		switch (fin_u8(&z.in) % 4) {
		case 0:
			op_post(&z);
			break;
		case 1:
			vq_drv_publish(z.r.drv);
			break;
		case 2:
			op_process(&z);
			break;
		case 3:
			op_scribble(&z);
			break;
		}
	}
	fg_ring_free(&z.r);
	fg_mem_free(&z.m);
	return 0;
}
