/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-net device's transmit and receive turns
 * (net_dev_tx_turn(), net_dev_rx_turn(), lib/net_dev) over a split or
 * packed ring pair in fuzzed guest memory, with the features, the guest's
 * offloads and the backend's caps chosen by the input, and a loop-like
 * backend that gives back what the device sent plus frames the input
 * injects (any offload metadata).
 *
 * The device (net_dev_new()) and its queue-pair worker are made once per
 * process; the worker thread is parked for good (net_dev_worker_pause())
 * and this thread runs the turns, as the worker would. Each input starts
 * from the worker state saved after creation, so runs are deterministic.
 * Guest memory is separate malloc()s of exact sizes (fuzz_guest.h); the
 * guest is vqnet's own driver (vq_drv), honest until the input scribbles.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h):
 *   u8  ring: bit 0 packed, 1 EVENT_IDX, 2 INDIRECT_DESC, 3 IN_ORDER,
 *       4 MRG_RXBUF, 5 link down, 6 filter not promiscuous (own MAC only),
 *       7 the backend writes frames into the chains the device lends
 *       (rx_direct) while they fit and keep its contract (offloads the
 *       guest takes, a MAC the filter passes), the rest into the bounce
 *       buffers
 *   u8  queue size (fg_pick_size(), at most 64)
 *   u8  host offloads negotiated: bit 0 CSUM, 1 HOST_TSO4, 2 HOST_TSO6,
 *       3 HOST_ECN, 4 HOST_UFO
 *   u8  guest offloads negotiated and taken: bit 0 GUEST_CSUM, 1 TSO4,
 *       2 TSO6, 3 ECN, 4 UFO
 *   u8  backend caps (NETBE_CAP_*)
 *   u16 mtu (68 + x % 9000)
 *   u8  receive buffer slot size: 16 << (x % 8) (16..2048)
 *   then operations until the input ends (at most FZ_MAX_OPS), one byte
 *   x, x % 10:
 *   0 post a tx chain: u8 n (1 + n % 4 buffers; bit 7 indirect), n x
 *     (u16 offset, u16 len) in the tx region (clipped), u16 data length,
 *     data copied over the chain's bytes in order (header first)
 *   1 post an rx chain: u8 n (1 + n % 4 buffers; bit 7 indirect), n x
 *     u16 len (1 + len % slot), each buffer in its own slot
 *   2 publish both rings
 *   3 tx turn     4 rx turn (each followed by reaping both rings)
 *   5 inject a backend frame: u16 len (% 9100), u8 flags, u8 gso_type,
 *     u16 hdr_len, u16 gso_size, u16 csum_start, u16 csum_offset, bytes
 *   6 backend tx: u8 how many frames the next tx() calls take (255: all;
 *     254: fail with -EIO)
 *   7 scribble (the guest turns hostile): u8 region, u16 offset, u8 len,
 *     bytes written there
 *   8 toggle the link   9 backend rx fails (-EIO) once
 *
 * Invariants (FUZZ_CHECK):
 *  - every tx chain popped is completed in the same turn (none in
 *    flight after a turn) and each accounts for exactly one outcome: the
 *    turn's count equals the packets sent plus the tx drops counted;
 *  - no rx chain stays in flight after a turn;
 *  - frames handed to the backend: the iov lengths add up to len, and
 *    offloads only those the backend's caps allow;
 *  - honest guest: the driver side never sees a fault; tx chains are
 *    completed with length 0; an rx used length is within the chain's
 *    writable length, and the bytes past it are untouched; a frame's
 *    first chain starts with the header, num_buffers is 1 without
 *    MRG_RXBUF, else >= 1 and exactly that many chains follow in the same
 *    turn; the header carries only offloads the guest takes (GSO types,
 *    NEEDS_CSUM / DATA_VALID with GUEST_CSUM); frames found = rx packets;
 *  - ASan/UBSan: no access outside the guest regions or the backend's
 *    buffers.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_guest.h"
#include "../fuzz/fuzz_input.h"
#include "rxwin_place.h"
#include "net_dev/net_dev_internal.h"
#include "spec/virtio_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_OPS   256
#define FZ_QMAX	     64
#define FZ_BUFS	     4
#define FZ_BE_FRAMES 8
#define FZ_TX_REGION 8192u
#define GPA_RX_RING  0x100000ull
#define GPA_TX_RING  0x200000ull
#define GPA_TX_BUF   0x300000ull
#define GPA_RX_BUF   0x400000ull

/* ---- The backend: a loop with a queue of FZ_BE_FRAMES frames ---------- */

struct fbe_frame {
	uint32_t len;
	struct netbe_meta meta;
	uint8_t data[NET_DEV_FRAME_MAX];
};

static struct fbe {
	struct netbe be;
	uint32_t caps;
	unsigned take; /* frames tx() takes per call; 255: all; 254: -EIO */
	bool rx_fail;
	bool direct, own_mac_only; /* ring bits 7 and 6 */
	uint64_t guest_offloads;
	unsigned head, count;
	struct fbe_frame q[FZ_BE_FRAMES];
} fbe;

static uint32_t fbe_caps(struct netbe *be)
{
	(void)be;
	return NETBE_CAP_ALL;
}

static void fbe_push(const struct iovec *iov, unsigned iovcnt, uint32_t len,
		     const struct netbe_meta *meta)
{
	/* Every byte is read (ASan checks the iovecs) even when it is not kept. */
	static uint8_t scratch[NET_DEV_FRAME_MAX];
	bool keep = fbe.count < FZ_BE_FRAMES && len <= NET_DEV_FRAME_MAX;
	struct fbe_frame *f = &fbe.q[(fbe.head + fbe.count) % FZ_BE_FRAMES];
	uint8_t *dst = keep ? f->data : scratch;
	uint32_t off = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		size_t n = iov[i].iov_len;
		if (off + n > NET_DEV_FRAME_MAX)
			n = off < NET_DEV_FRAME_MAX ? NET_DEV_FRAME_MAX - off : 0;
		memcpy(dst + off, iov[i].iov_base, n);
		off += (uint32_t)n;
	}
	if (!keep)
		return;
	f->len = len;
	f->meta = *meta;
	fbe.count++;
}

static int fbe_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	(void)be;
	FUZZ_CHECK(q == 0 && n >= 1 && n <= NET_DEV_BURST);
	if (fbe.take == 254)
		return -EIO;
	unsigned take = fbe.take == 255 || fbe.take > n ? n : fbe.take;
	for (unsigned i = 0; i < n; i++) {
		const struct netbe_txpkt *p = &pkts[i];
		uint64_t sum = 0;
		for (unsigned k = 0; k < p->iovcnt; k++)
			sum += p->iov[k].iov_len;
		FUZZ_CHECK(sum == p->len);
		/* Offloads only as the device's backend caps allow. */
		uint8_t gso = p->meta.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
		if (p->meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			FUZZ_CHECK(fbe.caps & NETBE_CAP_CSUM);
		FUZZ_CHECK(!(p->meta.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM));
		if (p->meta.gso_type & VIRTIO_NET_HDR_GSO_ECN)
			FUZZ_CHECK(fbe.caps & NETBE_CAP_ECN);
		if (gso == VIRTIO_NET_HDR_GSO_TCPV4)
			FUZZ_CHECK(fbe.caps & NETBE_CAP_TSO4);
		else if (gso == VIRTIO_NET_HDR_GSO_TCPV6)
			FUZZ_CHECK(fbe.caps & NETBE_CAP_TSO6);
		else if (gso == VIRTIO_NET_HDR_GSO_UDP)
			FUZZ_CHECK(fbe.caps & NETBE_CAP_UFO);
		else
			FUZZ_CHECK(gso == VIRTIO_NET_HDR_GSO_NONE);
		if (i < take)
			fbe_push(p->iov, p->iovcnt, p->len, &p->meta);
	}
	return (int)take;
}

static int fbe_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	(void)be;
	FUZZ_CHECK(q == 0 && n >= 1);
	if (fbe.rx_fail) {
		fbe.rx_fail = false;
		return -EIO;
	}
	unsigned k = 0;
	while (k < n && fbe.count) {
		struct fbe_frame *f = &fbe.q[fbe.head];
		fbe.head = (fbe.head + 1) % FZ_BE_FRAMES;
		fbe.count--;
		if (f->len > bufs[k].cap)
			continue; /* dropped, as a backend would */
		memcpy(bufs[k].data, f->data, f->len);
		bufs[k].len = f->len;
		bufs[k].meta = f->meta;
		k++;
	}
	return (int)k;
}

static bool guest_takes(uint64_t offloads, uint8_t gso);

/* May frame @f go into the window (netbe_ops.rx_direct's contract)? */
static bool fbe_window_may(const struct fbe_frame *f)
{
	static const uint8_t own[6] = {2, 0, 0, 0, 0, 1};
	const struct netbe_meta *m = &f->meta;

	if (f->len < 14 || (fbe.own_mac_only && memcmp(f->data, own, 6)))
		return false;
	if (m->gso_type != VIRTIO_NET_HDR_GSO_NONE && !guest_takes(fbe.guest_offloads, m->gso_type))
		return false;
	return !(m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
	       vq_has_feature(fbe.guest_offloads, VIRTIO_NET_F_GUEST_CSUM);
}

static int fbe_rx_direct(struct netbe *be, unsigned q, struct netbe_rxwin *w,
			 struct netbe_rxbuf *bufs, unsigned n)
{
	FUZZ_CHECK(w->nframes == 0 && w->chains_used == 0 && w->hdr_room == VIRTIO_NET_HDR_LEN);
	for (unsigned i = 0; i < w->nchains; i++) {
		uint64_t sum = 0;
		for (unsigned k = 0; k < w->chains[i].iovcnt; k++)
			sum += w->chains[i].iov[k].iov_len;
		FUZZ_CHECK(sum == w->chains[i].len);
	}
	while (fbe.direct && !fbe.rx_fail && fbe.count) {
		struct fbe_frame *f = &fbe.q[fbe.head];

		if (!fbe_window_may(f) || !rxwin_place(w, f->data, f->len, &f->meta, false))
			break;
		fbe.head = (fbe.head + 1) % FZ_BE_FRAMES;
		fbe.count--;
	}
	return fbe_rx(be, q, bufs, n);
}

static bool fbe_link_up(struct netbe *be)
{
	(void)be;
	return true;
}

static const struct netbe_ops fbe_ops = {.name = "fuzz",
					 .caps = fbe_caps,
					 .tx = fbe_tx,
					 .rx = fbe_rx,
					 .rx_direct = fbe_rx_direct,
					 .link_up = fbe_link_up};

/* ---- The device, made once ---------------------------------------------- */

static struct net_dev *dev;
static struct net_dev_worker *wk;
/* The worker's fields from rx on, as created (buffers allocated, nothing
 * pending): restored before each input. */
static uint8_t wk_saved[sizeof(struct net_dev_worker)];
#define WK_OFF offsetof(struct net_dev_worker, rx)

static void discard_log(void *o, enum vqnet_log_level l, const char *s, const char *m)
{
	(void)o, (void)l, (void)s, (void)m;
}

static void device_once(void)
{
	if (dev)
		return;
	vqnet_log_set_sink(discard_log, NULL);
	fbe.be = (struct netbe){.ops = &fbe_ops, .max_queue_pairs = 1};
	struct net_dev_config cfg = {.queue_pairs = 1, .mac = {2, 0, 0, 0, 0, 1}, .be = &fbe.be};
	FUZZ_CHECK(net_dev_new(&cfg, &dev) == 0);
	FUZZ_CHECK(net_dev_worker_new(dev, 0, &wk) == 0);
	net_dev_worker_pause(wk);
	memcpy(wk_saved + WK_OFF, (uint8_t *)wk + WK_OFF, sizeof(*wk) - WK_OFF);
}

/* ---- The guest ---------------------------------------------------------- */

struct chain {
	bool busy;
	unsigned nbuf;
	uint64_t gpa[FZ_BUFS];
	uint32_t len[FZ_BUFS];
	uint32_t wlen; /* writable bytes */
};

struct fz {
	struct fuzz_input in;
	struct fg_mem m;
	struct fg_ring rx, tx;
	unsigned txbuf_reg, rxbuf_reg;
	uint32_t slot;
	uint64_t features, guest_offloads;
	bool mrg, hostile;
	struct chain rxc[FZ_QMAX], txc[FZ_QMAX]; /* by slot (the token) */
	unsigned frame_left;			 /* chains of the current rx frame to come */
	uint64_t frames;			 /* rx frames found in the used ring */
};

static const unsigned host_bits[] = {VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4,
				     VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN,
				     VIRTIO_NET_F_HOST_UFO};
static const unsigned guest_bits[] = {VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4,
				      VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN,
				      VIRTIO_NET_F_GUEST_UFO};

static uint64_t bits_of(uint8_t x, const unsigned *bits)
{
	uint64_t f = 0;
	for (unsigned i = 0; i < 5; i++)
		if (x >> i & 1)
			f |= 1ull << bits[i];
	return f;
}

static int free_slot(const struct chain *c)
{
	for (unsigned i = 0; i < FZ_QMAX; i++)
		if (!c[i].busy)
			return (int)i;
	return -1;
}

/* Add the buffers of @c as one chain; true when it was posted. */
static bool post(struct fg_ring *r, struct chain *c, bool writable, bool indirect, unsigned slot)
{
	indirect = indirect && r->ind_max;
	if (vq_drv_chain_start(r->drv, indirect) < 0)
		return false;
	for (unsigned i = 0; i < c->nbuf; i++)
		if (vq_drv_chain_add(r->drv, c->gpa[i], c->len[i], writable) < 0) {
			vq_drv_chain_rewind(r->drv);
			return false;
		}
	if (vq_drv_chain_end(r->drv, (void *)(uintptr_t)(slot + 1)) < 0) {
		vq_drv_chain_rewind(r->drv);
		return false;
	}
	c->busy = true;
	return true;
}

static void op_tx_chain(struct fz *z)
{
	uint8_t x = fin_u8(&z->in);
	int s = free_slot(z->txc);
	struct chain c = {.nbuf = 1u + (x & 0x7f) % FZ_BUFS};
	uint8_t *base = z->m.reg[z->txbuf_reg].host;

	for (unsigned i = 0; i < c.nbuf; i++) {
		uint32_t off = fin_u16(&z->in) % FZ_TX_REGION;
		uint32_t len = 1u + fin_u16(&z->in) % (FZ_TX_REGION - off);
		c.gpa[i] = GPA_TX_BUF + off;
		c.len[i] = len;
	}
	/* The guest writes header and frame before posting. */
	uint32_t dlen = fin_u16(&z->in);
	for (unsigned i = 0; i < c.nbuf && dlen && z->in.left; i++) {
		uint32_t n = c.len[i] < dlen ? c.len[i] : dlen;
		if (n > z->in.left)
			n = (uint32_t)z->in.left;
		memcpy(base + (c.gpa[i] - GPA_TX_BUF), z->in.p, n);
		z->in.p += n;
		z->in.left -= n;
		dlen -= n;
	}
	if (s >= 0 && post(&z->tx, &c, false, x & 0x80, (unsigned)s))
		z->txc[s] = c, z->txc[s].busy = true;
}

static uint8_t *rx_buf_host(struct fz *z, unsigned slot, unsigned i)
{
	return z->m.reg[z->rxbuf_reg].host + ((size_t)slot * FZ_BUFS + i) * z->slot;
}

static void op_rx_chain(struct fz *z)
{
	uint8_t x = fin_u8(&z->in);
	int s = free_slot(z->rxc);
	struct chain c = {.nbuf = 1u + (x & 0x7f) % FZ_BUFS};

	for (unsigned i = 0; i < c.nbuf; i++) {
		c.len[i] = 1u + fin_u16(&z->in) % z->slot;
		c.wlen += c.len[i];
	}
	if (s < 0 || (unsigned)s >= z->rx.size)
		return;
	for (unsigned i = 0; i < c.nbuf; i++) {
		c.gpa[i] = GPA_RX_BUF + ((uint64_t)s * FZ_BUFS + i) * z->slot;
		/* A canary: bytes past the used length must stay as they are. */
		memset(rx_buf_host(z, (unsigned)s, i), 0xa5, c.len[i]);
	}
	if (post(&z->rx, &c, true, x & 0x80, (unsigned)s))
		z->rxc[s] = c, z->rxc[s].busy = true;
}

/* Copy @n bytes at offset @off of the chain's writable bytes. */
static void chain_read(struct fz *z, unsigned slot, uint32_t off, void *dst, uint32_t n)
{
	const struct chain *c = &z->rxc[slot];
	uint8_t *d = dst;
	for (unsigned i = 0; i < c->nbuf && n; i++) {
		if (off >= c->len[i]) {
			off -= c->len[i];
			continue;
		}
		uint32_t k = c->len[i] - off < n ? c->len[i] - off : n;
		memcpy(d, rx_buf_host(z, slot, i) + off, k);
		d += k;
		n -= k;
		off = 0;
	}
}

static bool guest_takes(uint64_t offloads, uint8_t gso)
{
	if ((gso & VIRTIO_NET_HDR_GSO_ECN) && !vq_has_feature(offloads, VIRTIO_NET_F_GUEST_ECN))
		return false;
	switch (gso & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return vq_has_feature(offloads, VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return vq_has_feature(offloads, VIRTIO_NET_F_GUEST_TSO6);
	case VIRTIO_NET_HDR_GSO_UDP:
		return vq_has_feature(offloads, VIRTIO_NET_F_GUEST_UFO);
	default:
		return false;
	}
}

/* One rx completion of an honest guest's chain. */
static void check_rx_used(struct fz *z, unsigned slot, uint32_t len)
{
	const struct chain *c = &z->rxc[slot];
	FUZZ_CHECK(len <= c->wlen);
	/* Past the used length nothing was written. */
	uint32_t off = 0;
	for (unsigned i = 0; i < c->nbuf; i++) {
		const uint8_t *p = rx_buf_host(z, slot, i);
		for (uint32_t k = 0; k < c->len[i]; k++, off++)
			if (off >= len)
				FUZZ_CHECK(p[k] == 0xa5);
	}
	if (z->frame_left) {
		FUZZ_CHECK(len > 0);
		z->frame_left--;
		return;
	}
	if (len == 0)
		return; /* a buffer too small, completed empty (counted) */
	struct virtio_net_hdr_v1 h;
	FUZZ_CHECK(len >= sizeof(h));
	chain_read(z, slot, 0, &h, sizeof(h));
	uint16_t nb = le16toh(h.num_buffers);
	if (z->mrg)
		FUZZ_CHECK(nb >= 1 && nb <= z->rx.size);
	else
		FUZZ_CHECK(nb == 1);
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		FUZZ_CHECK(guest_takes(z->guest_offloads, h.gso_type));
	if (h.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		FUZZ_CHECK(vq_has_feature(z->guest_offloads, VIRTIO_NET_F_GUEST_CSUM));
	z->frame_left = nb - 1u;
	z->frames++;
}

static void reap(struct fz *z, struct fg_ring *r, bool is_rx)
{
	struct vq_drv_used u[16];
	int n;
	while ((n = vq_drv_reap(r->drv, u, 16)) > 0) {
		for (int i = 0; i < n; i++) {
			unsigned slot = (unsigned)(uintptr_t)u[i].token - 1u;
			FUZZ_CHECK(slot < FZ_QMAX);
			struct chain *c = is_rx ? &z->rxc[slot] : &z->txc[slot];
			FUZZ_CHECK(c->busy);
			if (!z->hostile) {
				if (is_rx)
					check_rx_used(z, slot, u[i].len);
				else
					FUZZ_CHECK(u[i].len == 0);
			}
			c->busy = false;
		}
	}
	FUZZ_CHECK(n == 0 || z->hostile);
}

static uint64_t tx_outcomes(void)
{
	const struct net_dev_queue_stats *s = &dev->stats[1];
	static const enum net_dev_drop tx_drops[] = {
		NET_DEV_DROP_TX_MTU,	 NET_DEV_DROP_TX_BAD_HDR, NET_DEV_DROP_TX_SHORT,
		NET_DEV_DROP_TX_OFFLOAD, NET_DEV_DROP_TX_BACKEND, NET_DEV_DROP_BAD_CHAIN,
		NET_DEV_DROP_LINK_DOWN};
	uint64_t n = s->packets;
	for (unsigned i = 0; i < sizeof(tx_drops) / sizeof(tx_drops[0]); i++)
		n += s->drops[tx_drops[i]];
	return n;
}

static void op_tx_turn(struct fz *z)
{
	uint64_t before = tx_outcomes();
	unsigned n = net_dev_tx_turn(wk);
	FUZZ_CHECK(tx_outcomes() - before == n);
	if (!vq_is_broken(z->tx.vq))
		FUZZ_CHECK(vq_in_flight(z->tx.vq) == 0);
	reap(z, &z->tx, false);
}

static void op_rx_turn(struct fz *z)
{
	net_dev_rx_turn(wk);
	if (!vq_is_broken(z->rx.vq))
		FUZZ_CHECK(vq_in_flight(z->rx.vq) == 0);
	reap(z, &z->rx, true);
	if (!z->hostile) {
		/* A frame's chains are all completed in the turn that wrote it. */
		FUZZ_CHECK(z->frame_left == 0);
		FUZZ_CHECK(z->frames == dev->stats[0].packets);
	}
	reap(z, &z->tx, false);
}

static void op_inject(struct fz *z)
{
	uint32_t len = fin_u16(&z->in) % 9100u;
	struct fbe_frame *f = &fbe.q[(fbe.head + fbe.count) % FZ_BE_FRAMES];
	struct netbe_meta m = {.flags = fin_u8(&z->in), .gso_type = fin_u8(&z->in)};
	m.hdr_len = fin_u16(&z->in);
	m.gso_size = fin_u16(&z->in);
	m.csum_start = fin_u16(&z->in);
	m.csum_offset = fin_u16(&z->in);
	if (fbe.count == FZ_BE_FRAMES)
		return;
	uint32_t k = len < z->in.left ? len : (uint32_t)z->in.left;
	memcpy(f->data, z->in.p, k);
	memset(f->data + k, 0, len - k);
	z->in.p += k;
	z->in.left -= k;
	f->len = len;
	f->meta = m;
	fbe.count++;
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

static void setup(struct fz *z)
{
	uint8_t ring = fin_u8(&z->in);
	enum vq_format fmt = fg_ring_format(ring);
	uint32_t qsize = fg_pick_size(fmt, fin_u8(&z->in), FZ_QMAX);
	uint64_t vqf = fg_ring_features(ring);
	z->mrg = ring & 16;
	uint64_t host = bits_of(fin_u8(&z->in), host_bits);
	z->guest_offloads = bits_of(fin_u8(&z->in), guest_bits);
	z->features =
		vqf | host | z->guest_offloads | (z->mrg ? 1ull << VIRTIO_NET_F_MRG_RXBUF : 0);
	fbe.caps = fin_u8(&z->in) & NETBE_CAP_ALL;
	uint32_t mtu = 68u + fin_u16(&z->in) % 9000u;
	z->slot = 16u << (fin_u8(&z->in) % 8);

	fg_ring_init(&z->rx, &z->m, GPA_RX_RING, fmt, qsize, vqf, FZ_BUFS);
	fg_ring_init(&z->tx, &z->m, GPA_TX_RING, fmt, qsize, vqf, FZ_BUFS);
	z->txbuf_reg = fg_region_add(&z->m, GPA_TX_BUF, FZ_TX_REGION);
	z->rxbuf_reg = fg_region_add(&z->m, GPA_RX_BUF, (size_t)qsize * FZ_BUFS * z->slot);
	fg_mem_table(&z->m);
	fg_ring_start(&z->rx, &z->m, VQ_DIR_DEVICE_WRITES);
	fg_ring_start(&z->tx, &z->m, VQ_DIR_DEVICE_READS);

	/* The device as dev_queue_start() leaves it, the worker parked. */
	memcpy((uint8_t *)wk + WK_OFF, wk_saved + WK_OFF, sizeof(*wk) - WK_OFF);
	memset(dev->stats, 0, sizeof(dev->stats));
	dev->features = z->features;
	dev->guest_offloads = z->guest_offloads;
	dev->mtu = mtu;
	dev->be_caps = fbe.caps;
	atomic_store(&dev->link_up, !(ring & 32));
	net_dev_rx_filter_reset(&dev->filter, dev->config.mac, false);
	if (ring & 64)
		dev->filter.promisc = false;
	wk->rx = (struct net_dev_ring){
		.index = 0, .vq = z->rx.vq, .kick_fd = -1, .call_fd = -1, .enabled = true};
	wk->tx = (struct net_dev_ring){
		.index = 1, .vq = z->tx.vq, .kick_fd = -1, .call_fd = -1, .enabled = true};
	wk->active = true;
	net_dev_worker_sync(wk);
	fbe.take = 255;
	fbe.rx_fail = false;
	fbe.direct = ring & 128;
	fbe.own_mac_only = ring & 64;
	fbe.guest_offloads = z->guest_offloads;
	fbe.head = fbe.count = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz z;

	device_once();
	memset(&z, 0, sizeof(z));
	z.in = (struct fuzz_input){data, size};
	setup(&z);
	for (unsigned ops = 0; z.in.left && ops < FZ_MAX_OPS; ops++) {
		switch (fin_u8(&z.in) % 10) {
		case 0:
			op_tx_chain(&z);
			break;
		case 1:
			op_rx_chain(&z);
			break;
		case 2:
			vq_drv_publish(z.rx.drv);
			vq_drv_publish(z.tx.drv);
			break;
		case 3:
			op_tx_turn(&z);
			break;
		case 4:
			op_rx_turn(&z);
			break;
		case 5:
			op_inject(&z);
			break;
		case 6:
			fbe.take = fin_u8(&z.in);
			break;
		case 7:
			op_scribble(&z);
			break;
		case 8:
			atomic_store(&dev->link_up, !atomic_load(&dev->link_up));
			break;
		case 9:
			fbe.rx_fail = true;
			break;
		}
	}
#ifdef FZ_TRACE
	/* Build with -DFZ_TRACE to see what an input did (tests/fuzz/README.md). */
	for (unsigned q = 0; q < 2; q++) {
		const struct net_dev_queue_stats *s = &dev->stats[q];
		fprintf(stderr, "%s: packets %llu bytes %llu", q ? "tx" : "rx",
			(unsigned long long)s->packets, (unsigned long long)s->bytes);
		for (unsigned i = 0; i < NET_DEV_DROP__COUNT; i++)
			if (s->drops[i])
				fprintf(stderr, " %s %llu", net_dev_drop_name(i),
					(unsigned long long)s->drops[i]);
		fprintf(stderr, " merged %llu csum %llu gso %llu%s\n",
			(unsigned long long)s->rx_merged, (unsigned long long)s->csum_finished,
			(unsigned long long)s->gso_segmented, z.hostile ? " (hostile)" : "");
	}
#endif
	wk->rx.vq = wk->tx.vq = NULL;
	fg_ring_free(&z.rx);
	fg_ring_free(&z.tx);
	fg_mem_free(&z.m);
	return 0;
}
