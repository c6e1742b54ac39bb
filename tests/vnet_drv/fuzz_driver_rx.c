/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the driver library's receive assembly (vnet_drv_rx_burst(),
 * lib/vnet_drv/vnet_drv_rx.c) against a lying device: mergeable buffers
 * or multi-buffer chains, num_buffers, used lengths, header fields and
 * the used ring itself all chosen by the input.
 *
 * One queue pair is built in-process the way vnet_drv_open() lays it out
 * (vnet_drv_queue_create(), vnet_drv_pool_init() over one block of memory
 * allocated to its exact size), with no vhost-user connection: the
 * device is a struct vq over the same memory (pops what the driver
 * posted, so it knows the buffers) and raw writes into the ring.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h):
 *   u8  bit 0 packed, 1 MRG_RXBUF, 2 EVENT_IDX, 3 IN_ORDER
 *   u8  ring size (fg-style: split 2 << (x % 6), packed 1 + x % 64)
 *   u8  pool buffers: 1 + x % 128
 *   u8  stride: 128 + 64 * (x % 32) bytes
 *   u8  buffers per chain without MRG_RXBUF: 1 + x % 4
 *   then operations until the input ends (at most 256), one byte x, x % 5:
 *   0 device: pop up to 1 + u8 % 8 chains; for each u16 num_buffers,
 *     u8 flags, u8 gso_type, u16 length: header at the chain's start,
 *     bytes after it, completed with length (bit 15 set: the chain's
 *     writable length minus the low bits; else the low bits, may lie)
 *   1 device: IN_ORDER batch: pop u8 % 8 chains, complete them with one
 *     vq_push_in_order(), u16 last length
 *   2 driver: vnet_drv_rx_burst(1 + u8 % 64), packets checked and freed
 *   3 device scribbles the ring (any byte of the three parts): u16 offset,
 *     u8 len, bytes
 *   4 device: pop 1 + u8 % 4 chains, complete them newest first with
 *     u16 length (clipped to each chain)
 *
 * Invariants (FUZZ_CHECK):
 *  - at most n packets; each a chain of nb_segs (<= VNET_DRV_MAX_SEGS)
 *    segments whose lengths add up to pkt_len > 0, each segment's bytes
 *    inside its own buffer, the head's data at VNET_DRV_RX_HEADROOM;
 *  - no buffer lost or doubled: free in the pool + posted in the ring +
 *    held by a frame being assembled = the pool's size, after every call;
 *  - a device that never lies about lengths or the ring (no op 3, lengths
 *    within the chain) breaks nothing: the queue's error count stays 0;
 *  - ASan/UBSan: nothing read or written outside the block.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vqnet/gmem.h>

#include "../fuzz/fuzz_input.h"
#include "spec/virtio_net.h"
#include "vnet_drv/vnet_drv_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_GPA	   0x100000ull
#define FZ_MAX_OPS 256
#define FZ_QMAX	   64

struct fz {
	struct fuzz_input in;
	struct vnet_drv drv;
	struct vnet_drv_qpair qp;
	uint8_t *block;
	size_t block_size, rings_end;
	struct gmem_table *t;
	struct vq *vq;
	bool lied;
};

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static bool setup(struct fz *z)
{
	uint8_t f = fin_u8(&z->in);
	enum vq_format fmt = f & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT;
	uint8_t s = fin_u8(&z->in);
	uint32_t qsize = fmt == VQ_FORMAT_PACKED ? 1u + s % FZ_QMAX : 2u << (s % 6);
	uint32_t nbufs = 1u + fin_u8(&z->in) % 128u;
	uint32_t stride = 128u + 64u * (fin_u8(&z->in) % 32u);
	unsigned chain_bufs = 1u + fin_u8(&z->in) % 4u;
	uint64_t features = 1ull << VIRTIO_F_VERSION_1;

	if (f & 2)
		features |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	if (f & 4)
		features |= 1ull << VIRTIO_F_EVENT_IDX;
	if (f & 8)
		features |= 1ull << VIRTIO_F_IN_ORDER;
	if (fmt == VQ_FORMAT_PACKED)
		features |= 1ull << VIRTIO_F_RING_PACKED;
	z->drv.format = fmt;
	z->drv.features = features;
	z->drv.nqp = 1;
	z->drv.qp = &z->qp;
	/* As vnet_drv_open(): one chain per buffer with MRG_RXBUF. */
	z->qp.rx_chain_bufs = f & 2 ? 1 : chain_bufs;

	struct vq_layout l;
	FUZZ_CHECK(vq_layout(fmt, qsize, &l) == 0);
	struct vnet_drv_queue *q = &z->qp.rx;
	vnet_drv_queue_init(q, 0);
	q->desc_off = 0;
	q->driver_off = align_up(l.desc_bytes, 64);
	q->device_off = align_up(q->driver_off + l.driver_bytes, 64);
	z->rings_end = q->device_off + l.device_bytes;
	size_t pool_off = align_up(z->rings_end, 4096);
	z->block_size = pool_off + (size_t)nbufs * stride;
	z->block = calloc(1, z->block_size);
	FUZZ_CHECK(z->block);
	z->drv.shm =
		(struct vu_shm){.fd = -1, .base = z->block, .size = z->block_size, .gpa = FZ_GPA};
	if (vnet_drv_queue_create(&z->drv, q, qsize, 0) < 0)
		return false;
	FUZZ_CHECK(vnet_drv_pool_init(&z->qp.pool, z->block + pool_off, FZ_GPA + pool_off, nbufs,
				      stride) == 0);

	struct gmem_region_desc rd = {
		.gpa = FZ_GPA, .size = z->block_size, .hva = z->block, .fd = -1};
	FUZZ_CHECK(gmem_table_new(&rd, 1, &z->t) == 0);
	struct vq_config c = {.format = fmt,
			      .size = qsize,
			      .features = features,
			      .desc_gpa = FZ_GPA + q->desc_off,
			      .driver_gpa = FZ_GPA + q->driver_off,
			      .device_gpa = FZ_GPA + q->device_off,
			      .dir = VQ_DIR_DEVICE_WRITES};
	FUZZ_CHECK(vq_new(&c, z->t, NULL, &z->vq) == 0);
	vnet_drv_rx_refill(&z->drv, &z->qp);
	return true;
}

static unsigned partial_segs(const struct fz *z)
{
	unsigned n = 0;
	for (const struct vnet_drv_pkt *s = z->qp.rx_head; s; s = s->next)
		n++;
	return n;
}

static void check_buffers(const struct fz *z)
{
	const struct vnet_drv_pool *p = &z->qp.pool;
	uint64_t posted = (uint64_t)vq_drv_in_flight(z->qp.rx.d) * z->qp.rx_chain_bufs;
	if (vq_drv_is_broken(z->qp.rx.d))
		return; /* a broken ring keeps its buffers until close */
	FUZZ_CHECK(p->nfree + posted + partial_segs(z) == p->size);
}

static void check_pkt(const struct fz *z, const struct vnet_drv_pkt *h)
{
	unsigned n = 0;
	uint64_t sum = 0;
	FUZZ_CHECK(h->data == h->buf + VNET_DRV_RX_HEADROOM);
	for (const struct vnet_drv_pkt *s = h; s; s = s->next) {
		FUZZ_CHECK(s->pool == &z->qp.pool);
		FUZZ_CHECK(s->data >= s->buf && s->data <= s->buf + s->buf_size);
		FUZZ_CHECK(s->len <= (size_t)(s->buf + s->buf_size - s->data));
		/* Every byte of the segment is readable: ASan checks it. */
		volatile uint8_t x = 0;
		for (uint32_t i = 0; i < s->len; i++)
			x ^= s->data[i];
		(void)x;
		sum += s->len;
		n++;
		FUZZ_CHECK(n <= VNET_DRV_MAX_SEGS);
	}
	FUZZ_CHECK(n == h->nb_segs);
	FUZZ_CHECK(sum == h->pkt_len && sum > 0);
}

static void op_device_fill(struct fz *z)
{
	static struct iovec iov[VNET_DRV_MAX_SEGS];
	unsigned k = 1u + fin_u8(&z->in) % 8u;
	for (unsigned i = 0; i < k; i++) {
		struct vq_elem el = {.iov = iov, .iov_cap = VNET_DRV_MAX_SEGS}, *e = &el;
		uint16_t nb = fin_u16(&z->in);
		uint8_t flags = fin_u8(&z->in), gso = fin_u8(&z->in);
		uint16_t lm = fin_u16(&z->in);
		int rc = vq_pop(z->vq, e);
		if (rc <= 0)
			break;
		/* Header at the chain's start (if the first buffer holds it),
		 * then bytes. */
		struct virtio_net_hdr_v1 h = {.flags = flags, .gso_type = gso, .num_buffers = nb};
		for (unsigned j = 0; j < e->nin; j++)
			memset(e->iov[j].iov_base, (int)(0x40 + j), e->iov[j].iov_len);
		if (e->nin && e->iov[0].iov_len >= sizeof(h))
			memcpy(e->iov[0].iov_base, &h, sizeof(h));
		uint32_t len;
		if (lm & 0x8000) {
			uint32_t less = lm & 0x7fff;
			len = less < e->in_len ? e->in_len - less : 0;
		} else {
			len = lm;
			z->lied |= len > e->in_len;
		}
		if (vq_push(z->vq, e->id, len) < 0)
			z->lied = true;
	}
}

static void op_device_push_held(struct fz *z)
{
	/* Up to 4 chains popped and completed newest first, lengths within
	 * each chain. */
	unsigned skip = fin_u8(&z->in) % 4u;
	uint16_t len = fin_u16(&z->in);
	struct vq_elem tmp[4];
	struct iovec tiov[4][VNET_DRV_MAX_SEGS];
	unsigned n = 0;
	for (unsigned i = 0; i <= skip; i++) {
		tmp[n] = (struct vq_elem){.iov = tiov[n], .iov_cap = VNET_DRV_MAX_SEGS};
		if (vq_pop(z->vq, &tmp[n]) <= 0)
			break;
		n++;
	}
	/* Newest first: out of order unless IN_ORDER was negotiated. */
	while (n--) {
		uint32_t l = len < tmp[n].in_len ? len : tmp[n].in_len;
		if (vq_push(z->vq, tmp[n].id, l) < 0)
			z->lied = true;
	}
	if (vq_has_feature(z->drv.features, VIRTIO_F_IN_ORDER) && skip)
		z->lied = true; /* out of order on an IN_ORDER ring */
}

static void op_in_order(struct fz *z)
{
	unsigned count = fin_u8(&z->in) % 8u;
	uint16_t last = fin_u16(&z->in);
	static struct iovec tiov[VNET_DRV_MAX_SEGS];
	unsigned popped = 0;
	uint32_t last_in = 0;
	for (unsigned i = 0; i < count; i++) {
		struct vq_elem e = {.iov = tiov, .iov_cap = VNET_DRV_MAX_SEGS};
		if (vq_pop(z->vq, &e) <= 0)
			break;
		popped++;
		last_in = e.in_len;
	}
	if (!popped)
		return;
	/* Earlier chains count as wholly written (§2.7.9): honest when the
	 * ring is IN_ORDER and the last length fits. */
	if (vq_push_in_order(z->vq, popped, last) < 0 ||
	    !vq_has_feature(z->drv.features, VIRTIO_F_IN_ORDER) || last > last_in)
		z->lied = true;
}

static void op_rx_burst(struct fz *z)
{
	struct vnet_drv_pkt *pkts[64];
	unsigned n = 1u + fin_u8(&z->in) % 64u;
	unsigned got = vnet_drv_rx_burst(&z->drv, 0, pkts, n);
	FUZZ_CHECK(got <= n);
	for (unsigned i = 0; i < got; i++)
		check_pkt(z, pkts[i]);
	vnet_drv_pkt_free_bulk(pkts, got);
	check_buffers(z);
	if (!z->lied)
		FUZZ_CHECK(z->qp.rx.stats.errors == 0);
}

static void op_scribble(struct fz *z)
{
	size_t off = fin_u16(&z->in) % z->rings_end;
	size_t n = fin_u8(&z->in);
	z->lied = true;
	for (size_t i = 0; i < n && off + i < z->rings_end; i++)
		z->block[off + i] = fin_u8(&z->in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz z;
	memset(&z, 0, sizeof(z));
	z.in = (struct fuzz_input){data, size};
	if (setup(&z)) {
		for (unsigned ops = 0; z.in.left && ops < FZ_MAX_OPS; ops++) {
			switch (fin_u8(&z.in) % 5) {
			case 0:
				op_device_fill(&z);
				break;
			case 1:
				op_in_order(&z);
				break;
			case 2:
				op_rx_burst(&z);
				break;
			case 3:
				op_scribble(&z);
				break;
			case 4:
				op_device_push_held(&z);
				break;
			}
		}
	}
#ifdef FZ_TRACE
	/* Build with -DFZ_TRACE to see what an input did (tests/fuzz/README.md). */
	fprintf(stderr, "packets %llu bytes %llu drops %llu errors %llu no_buffers %llu%s\n",
		(unsigned long long)z.qp.rx.stats.packets, (unsigned long long)z.qp.rx.stats.bytes,
		(unsigned long long)z.qp.rx.stats.drops, (unsigned long long)z.qp.rx.stats.errors,
		(unsigned long long)z.qp.rx.stats.no_buffers, z.lied ? " (lied)" : "");
#endif
	vnet_drv_rx_fini(&z.qp);
	vnet_drv_queue_fini(&z.qp.rx);
	vnet_drv_pool_fini(&z.qp.pool);
	vq_free(z.vq);
	gmem_table_put(z.t);
	free(z.block);
	return 0;
}
