/* SPDX-License-Identifier: MIT */
/*
 * The receive path of the virtio-net device: the backend's rx(k) to
 * receiveq 2k.
 *
 * Theory of operation. The worker owns NET_DEV_BURST bounce buffers of
 * NET_DEV_FRAME_MAX bytes. It asks the backend for frames only when the guest
 * has receive buffers posted (vq_avail_pending): a guest without buffers
 * leaves the frames in the backend, which has its own queue and drop
 * policy. Frames read form a pending list; each is, in order:
 *   - dropped while the link is down (LINK_DOWN),
 *   - filtered (§5.1.6.5.1-3: RX mode, MAC table, VLAN; RX_FILTERED),
 *   - rate-limited (no tokens: it stays pending and the worker sleeps),
 *   - finished for the guest's offloads: a partial checksum the guest
 *     did not ask for (no GUEST_CSUM) is completed, a GSO frame of a type
 *     the guest does not take is segmented (each segment delivered as a
 *     frame), DATA_VALID is passed only with GUEST_CSUM (§5.1.6.4),
 *   - delivered: the 12-byte header (flags, GSO fields, num_buffers) and
 *     the frame. With MRG_RXBUF chains are popped until header and frame
 *     fit, num_buffers in the first header says how many (§5.1.6.4); each
 *     chain is completed with the bytes written into it. Without it one
 *     chain per frame, num_buffers = 1; a chain too small for the frame
 *     is given back to the driver (vq_unpop) and the frame dropped
 *     (RX_TOO_BIG); a chain too small for any frame (header + Ethernet
 *     header) is completed empty and counted (RX_SMALL_BUF), and the
 *     frame takes the next. With MRG_RXBUF the same for a frame's first
 *     chain shorter than the header.
 * When the ring runs dry in the middle of a frame the chains taken are
 * given back (newest first), the frame stays pending and the worker waits
 * for a kick for buffers beyond those (vq_enable_kicks_for_more()): no
 * drop, and no spinning over the same too few chains. A frame that would need more chains than the
 * ring holds is RX_TOO_BIG. Chains come from one burst pop per turn with MRG_RXBUF (rx_prepop(): as
 * many as frames are pending, NET_DEV_RX_BATCH_IOV iovecs each), then one at a time (iovecs from a
 * pool) for merged frames and without MRG_RXBUF. The common case runs in one loop (rx_turn_fast()):
 * frames without offload work that fit one chain's first buffer, no rate limit, no dirty log; the
 * general path goes on from the first that doesn't. Chains popped and not used at the end of the
 * turn are given back. Completions are collected in rx_used[] in pop order and pushed once per turn
 * (rx_flush(): one used-index publish; with IN_ORDER one batch entry when every chain but the last
 * was wholly written), then one notification decision (vq_notify_prepare()). Giving chains back
 * (vq_unpop) stays legal: only the chains of the frame being collected are given back, and they
 * were popped after every chain in rx_used[] (pushed or not).
 * While dirty logging is on, every byte written into guest buffers is
 * logged by gpa.
 */
#include <endian.h>
#include <string.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/iov.h"
#include "base/prefetch.h"
#include "net_dev/net_dev_internal.h"
#include "spec/ethernet.h"

enum rx_result {
	RX_DONE,   /* delivered or dropped (counted): next frame */
	RX_WAIT,   /* no buffers or tokens now: keep the frame pending */
	RX_BROKEN, /* the ring broke */
};

/* Does the guest take this GSO type now (§5.1.6.4: GUEST_TSO4/TSO6/UFO,
 * GUEST_ECN for the ECN bit)? */
static bool guest_takes_gso(uint64_t offloads, uint8_t gso_type)
{
	unsigned bit;

	if ((gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    !vq_has_feature(offloads, VIRTIO_NET_F_GUEST_ECN))
		return false;
	switch (gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		bit = VIRTIO_NET_F_GUEST_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		bit = VIRTIO_NET_F_GUEST_TSO6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		bit = VIRTIO_NET_F_GUEST_UFO;
		break;
	default:
		return false;
	}
	return vq_has_feature(offloads, bit);
}

/* Mark guest writes dirty for live migration: host address -> gpa through
 * the memory table the ring was started with. */
static void rx_log_writes(struct net_dev_worker *w, const struct iovec *iov, unsigned n,
			  uint32_t bytes)
{
	unsigned nr = gmem_table_nregions(w->mem);

	for (unsigned i = 0; i < n && bytes; i++) {
		const uint8_t *p = iov[i].iov_base;
		uint32_t len = iov[i].iov_len < bytes ? (uint32_t)iov[i].iov_len : bytes;

		for (unsigned j = 0; j < nr; j++) {
			const struct gmem_region *r = gmem_table_region(w->mem, j);

			if (p >= r->hva && (uint64_t)(p - r->hva) < r->size) {
				vu_backend_log_write(w->d->vb, r->gpa + (uint64_t)(p - r->hva),
						     len);
				break;
			}
		}
		bytes -= len;
	}
}

/* Give back the chains popped and not used, rx_elems[rx_pos, rx_npop),
 * newest first (vq_unpop: they were popped after every chain completed). */
static void rx_unpop_rest(struct net_dev_worker *w)
{
	while (w->rx_npop > w->rx_pos)
		vq_unpop(w->rx.vq, &w->rx_elems[--w->rx_npop]);
}

/* Push the turn's completions (rx_used[0 .. rx_nused)) and count the
 * frames they carry. */
static void rx_flush(struct net_dev_worker *w)
{
	struct net_dev_queue_stats *s = &w->d->stats[w->rx.index];
	unsigned n = w->rx_nused;
	int rc;

	if (!n)
		return;
	/* A ring that broke in this turn (counted and reported then) takes
	 * no completions: its chains stay in flight, their frames are not
	 * delivered. */
	if (!vq_is_broken(w->rx.vq)) {
		/* Counted before the push's release store: whoever sees a
		 * frame delivered sees it counted. (A push fails only on a
		 * bug of ours, counted in errors too.) */
		if (w->rx_acc_packets) {
			counter_add(&s->packets, w->rx_acc_packets);
			counter_add(&s->bytes, w->rx_acc_bytes);
			if (w->rx_acc_merged)
				counter_add(&s->rx_merged, w->rx_acc_merged);
			if (w->rx_acc_zero_copy)
				counter_add(&s->rx_zero_copy, w->rx_acc_zero_copy);
		}
		if (n > 1 && w->rx_npartial == (w->rx_last_partial ? 1u : 0u) &&
		    vq_has_feature(w->features, VIRTIO_F_IN_ORDER) && vq_in_flight(w->rx.vq) == n)
			rc = vq_push_in_order(w->rx.vq, n, w->rx_used[n - 1].len);
		else
			rc = vq_push_burst(w->rx.vq, w->rx_used, n);
		if (rc < 0)
			counter_add(&s->errors, 1);
		w->rx_pushed += n;
	}
	w->rx_nused = w->rx_npartial = 0;
	w->rx_last_partial = false;
	w->rx_acc_packets = w->rx_acc_bytes = w->rx_acc_merged = w->rx_acc_zero_copy = 0;
}

/* Make room for @n more completions in rx_used[]. */
static inline void rx_used_reserve(struct net_dev_worker *w, unsigned n)
{
	if (w->rx_nused + n > NET_DEV_RX_MAX_CHAINS)
		rx_flush(w);
}

/* Add a completion of @len bytes of a chain with @in_len writable bytes. */
static inline void rx_used_add(struct net_dev_worker *w, uint16_t id, uint32_t len, uint32_t in_len)
{
	bool partial = len != in_len;

	w->rx_used[w->rx_nused++] = (struct vq_used){.id = id, .len = len};
	w->rx_npartial += partial;
	w->rx_last_partial = partial;
}

/*
 * Chains for the next @want frames in one burst pop (MRG_RXBUF: a frame
 * of up to a buffer's size takes one chain, so pops and ring reads are
 * batched like transmit's). Elements of the burst have NET_DEV_RX_BATCH_IOV
 * iovecs each. Return false when the ring broke.
 */
static bool rx_prepop(struct net_dev_worker *w, unsigned want)
{
	int err = 0;

	w->rx_pos = w->rx_npop = 0;
	if (want > NET_DEV_BURST)
		want = NET_DEV_BURST;
	for (unsigned i = 0; i < want; i++) {
		w->rx_elems[i].iov = w->rx_iov + (size_t)i * NET_DEV_RX_BATCH_IOV;
		w->rx_elems[i].iov_cap = NET_DEV_RX_BATCH_IOV;
	}
	w->rx_npop = vq_pop_burst(w->rx.vq, w->rx_elems, want, &err);
	if (err < 0 && !vq_err_is_drop(err)) {
		rx_unpop_rest(w);
		net_dev_ring_broken(w, &w->rx, err);
		return false;
	}
	return true;
}

/*
 * Chains for one frame of @total bytes (header included), from
 * rx_elems[rx_pos]: first the chains the turn popped in a burst, then
 * popped one at a time (iovecs from the pool past the burst's). One chain
 * without MRG_RXBUF. Return the number of chains (> 0), 0 when the ring
 * ran dry (every chain not used yet given back), -1 when the frame can
 * never fit (its chains given back), or -2 when the ring broke.
 */
static int rx_collect(struct net_dev_worker *w, uint32_t total)
{
	bool mrg = vq_has_feature(w->features, VIRTIO_NET_F_MRG_RXBUF);
	unsigned size = vq_get_size(w->rx.vq), k = 0, iov_used = 0;
	struct iovec *pool = w->rx_iov + (size_t)NET_DEV_BURST * NET_DEV_RX_BATCH_IOV;
	uint64_t have = 0;

	while (have < total) {
		unsigned idx = w->rx_pos + k;
		struct vq_elem *e = &w->rx_elems[idx];

		if (k && (!mrg || k == size || k == NET_DEV_RX_MAX_CHAINS ||
			  iov_used == NET_DEV_RX_IOV_POOL)) {
			rx_unpop_rest(w);
			return -1;
		}
		if (idx == w->rx_npop) {
			unsigned cap = NET_DEV_RX_IOV_POOL - iov_used;
			int rc;

			e->iov = pool + iov_used;
			e->iov_cap = (uint16_t)(cap > UINT16_MAX ? UINT16_MAX : cap);
			rc = vq_pop(w->rx.vq, e);
			if (rc == 0) {
				rx_unpop_rest(w);
				return 0;
			}
			if (rc < 0 && !vq_err_is_drop(rc)) {
				rx_unpop_rest(w);
				net_dev_ring_broken(w, &w->rx, rc);
				return -2;
			}
			w->rx_npop++;
			if (e->iov >= pool)
				iov_used += (unsigned)e->nout + e->nin;
		}
		if (e->err != VQ_OK) {
			/* A malformed chain: completed empty, with the chains
			 * taken before it (in ring order, as IN_ORDER needs; a
			 * driver sees empty used buffers as errors), and the
			 * frame starts over with the next chains. */
			rx_used_reserve(w, k + 1);
			for (unsigned j = 0; j <= k; j++)
				rx_used_add(w, w->rx_elems[w->rx_pos + j].id, 0, 1);
			net_dev_drop(w->d, w->rx.index, NET_DEV_DROP_BAD_CHAIN);
			w->rx_pos = idx + 1;
			k = 0;
			have = 0;
			continue;
		}
		if (k == 0 &&
		    e->in_len < (mrg ? VIRTIO_NET_HDR_LEN : VIRTIO_NET_HDR_LEN + ETH_HDR_LEN)) {
			/* Without MRG_RXBUF a chain holds a whole frame; one
			 * too small for any frame would be given back and
			 * met again by every frame, and the buffers behind it
			 * never used. With it, a frame's first chain holds the
			 * whole header, num_buffers included (§5.1.6.3.1,
			 * §5.1.6.4; Linux drops a shorter one as a short
			 * packet). Either way: complete it empty, take the
			 * next. */
			rx_used_reserve(w, 1);
			rx_used_add(w, e->id, 0, 1);
			net_dev_drop(w->d, w->rx.index, NET_DEV_DROP_RX_SMALL_BUF);
			w->rx_pos = idx + 1;
			continue;
		}
		have += e->in_len;
		k++;
	}
	return (int)k;
}

/* Write header + frame over the frame's chains rx_elems[rx_pos, +n) and
 * add their completions to the turn's (pushed by rx_flush()). */
static void rx_fill(struct net_dev_worker *w, unsigned n, const uint8_t *hdr, const uint8_t *data,
		    uint32_t len)
{
	uint32_t total = VIRTIO_NET_HDR_LEN + len, pos = 0;

	rx_used_reserve(w, n);
	for (unsigned j = 0; j < n; j++) {
		const struct vq_elem *e = &w->rx_elems[w->rx_pos + j];
		const struct iovec *iov = e->iov + e->nout;
		uint32_t c = e->in_len < total - pos ? e->in_len : total - pos, k = 0;

		if (pos < VIRTIO_NET_HDR_LEN)
			k = VIRTIO_NET_HDR_LEN - pos < c ? VIRTIO_NET_HDR_LEN - pos : c;
		if (e->nin && iov[0].iov_len >= c && (pos == 0 ? c >= VIRTIO_NET_HDR_LEN : !k)) {
			/* The chain's part in its first buffer (the common
			 * layout): plain copies, the header's of fixed size. */
			uint8_t *p = iov[0].iov_base;

			if (pos == 0) {
				memcpy(p, hdr, VIRTIO_NET_HDR_LEN);
				memcpy(p + VIRTIO_NET_HDR_LEN, data, c - VIRTIO_NET_HDR_LEN);
			} else {
				memcpy(p, data + (pos - VIRTIO_NET_HDR_LEN), c);
			}
		} else {
			if (k)
				iov_from_buf(iov, e->nin, 0, hdr + pos, k);
			if (c > k)
				iov_from_buf(iov, e->nin, k, data + (pos + k - VIRTIO_NET_HDR_LEN),
					     c - k);
		}
		if (w->logging && w->mem)
			rx_log_writes(w, iov, e->nin, c);
		rx_used_add(w, e->id, c, e->in_len);
		pos += c;
	}
	w->rx_pos += n;
}

/* Deliver one frame with @meta (already adjusted to the guest's offloads). */
static enum rx_result rx_deliver(struct net_dev_worker *w, const uint8_t *data, uint32_t len,
				 const struct netbe_meta *meta)
{
	struct virtio_net_hdr_v1 h;
	int n;

	if (w->rx_pos == w->rx_npop) {
		/* Every chain popped so far is used: pop for the frames
		 * pending (at least this one) in one burst. */
		w->rx_pos = w->rx_npop = 0;
		if (vq_has_feature(w->features, VIRTIO_NET_F_MRG_RXBUF) &&
		    !rx_prepop(w, w->rx_count ? w->rx_count : 1))
			return RX_BROKEN;
	}
	n = rx_collect(w, VIRTIO_NET_HDR_LEN + len);

	if (n == 0) {
		w->rx_waiting = true;
		return RX_WAIT;
	}
	if (n == -2)
		return RX_BROKEN;
	if (n < 0) {
		net_dev_drop(w->d, w->rx.index, NET_DEV_DROP_RX_TOO_BIG);
		vqnet_log_limited(&w->log_rx_too_big, 1000, VQNET_LOG_WARN, "virtio-net",
				  "rxq%u: %u-byte frame does not fit the buffers", w->pair, len);
		return RX_DONE;
	}
	h = (struct virtio_net_hdr_v1){.flags = meta->flags,
				       .gso_type = meta->gso_type,
				       .hdr_len = htole16(meta->hdr_len),
				       .gso_size = htole16(meta->gso_size),
				       .csum_start = htole16(meta->csum_start),
				       .csum_offset = htole16(meta->csum_offset),
				       .num_buffers = htole16((uint16_t)n)};
	rx_fill(w, (unsigned)n, (const uint8_t *)&h, data, len);
	w->rx_acc_packets++;
	w->rx_acc_bytes += len;
	if (n > 1)
		w->rx_acc_merged++;
	return RX_DONE;
}

/* Deliver the segments of the frame being segmented. */
static enum rx_result rx_deliver_segments(struct net_dev_worker *w)
{
	static const struct netbe_meta none;

	for (;;) {
		enum rx_result r;

		if (!w->rx_seg_ready) {
			int sl = net_dev_gso_next(&w->rx_gso, w->rx_seg, NET_DEV_FRAME_MAX);

			if (sl <= 0) {
				if (sl < 0)
					counter_add(&w->d->stats[w->rx.index].errors, 1);
				w->rx_gso_active = false;
				return RX_DONE;
			}
			w->rx_seg_len = (uint32_t)sl;
			w->rx_seg_ready = true;
		}
		r = rx_deliver(w, w->rx_seg, w->rx_seg_len, &none);
		if (r != RX_DONE)
			return r;
		w->rx_seg_ready = false;
	}
}

/* First look at a frame: link, filter, rate, offloads. Return RX_DONE
 * when it was dropped, RX_WAIT to retry later, RX_BROKEN never. */
static enum rx_result rx_prepare(struct net_dev_worker *w, struct netbe_rxbuf *f, bool *drop)
{
	struct net_dev_queue_stats *s = &w->d->stats[w->rx.index];
	struct netbe_meta *m = &f->meta;
	uint64_t now;

	*drop = true;
	if (!atomic_load_explicit(&w->d->link_up, memory_order_relaxed)) {
		net_dev_drop(w->d, w->rx.index, NET_DEV_DROP_LINK_DOWN);
		return RX_DONE;
	}
	if (!net_dev_rx_filter_accept(&w->filter, f->data, f->len)) {
		net_dev_drop(w->d, w->rx.index, NET_DEV_DROP_RX_FILTERED);
		return RX_DONE;
	}
	if (w->rx_limited) {
		now = clock_mono_ns();
		if (!net_dev_limiter_consume(&w->rl_rx, f->len, now)) {
			uint64_t wait = net_dev_limiter_wait_ns(&w->rl_rx, f->len, now);

			counter_add(&s->rate_limited, 1);
			w->rx_wait_until = now + (wait ? wait : 1000);
			*drop = false;
			return RX_WAIT;
		}
	}
	*drop = false;
	if (m->gso_type != VIRTIO_NET_HDR_GSO_NONE &&
	    !guest_takes_gso(w->guest_offloads, m->gso_type)) {
		if (net_dev_gso_init(&w->rx_gso, f->data, f->len, m) < 0) {
			counter_add(&s->errors, 1);
			*drop = true;
			return RX_DONE;
		}
		counter_add(&s->gso_segmented, 1);
		w->rx_gso_active = true;
		w->rx_seg_ready = false;
		return RX_DONE;
	}
	if ((m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    !vq_has_feature(w->guest_offloads, VIRTIO_NET_F_GUEST_CSUM)) {
		if (net_dev_csum_finish(f->data, f->len, m->csum_start, m->csum_offset) < 0) {
			counter_add(&s->errors, 1);
			*drop = true;
			return RX_DONE;
		}
		counter_add(&s->csum_finished, 1);
		m->flags &= (uint8_t)~VIRTIO_NET_HDR_F_NEEDS_CSUM;
	}
	if (!vq_has_feature(w->guest_offloads, VIRTIO_NET_F_GUEST_CSUM))
		m->flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID;
	m->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	return RX_DONE;
}

static enum rx_result rx_frame(struct net_dev_worker *w, struct netbe_rxbuf *f, bool *prepared)
{
	if (!*prepared && !w->rx_gso_active) {
		bool drop;
		enum rx_result r = rx_prepare(w, f, &drop);

		if (r == RX_WAIT)
			return r;
		if (drop)
			return RX_DONE;
		*prepared = true;
	}
	if (w->rx_gso_active)
		return rx_deliver_segments(w);
	return rx_deliver(w, f->data, f->len, &f->meta);
}

/*
 * The common case in one loop: with MRG_RXBUF, frames without offload
 * work (no GSO, no partial checksum) that fit the first buffer of one
 * chain each, no rate limit and no dirty log. Each takes the next chain
 * of one burst pop: filter, header (num_buffers 1, DATA_VALID kept only
 * for a guest with GUEST_CSUM, §5.1.6.4), copy, completion. It stops at
 * the first frame or chain that needs more (GSO, checksum, a chain of
 * several buffers, a malformed chain, a frame larger than the buffer);
 * rx_frame() then goes on from there with the chains already popped.
 */
static void rx_turn_fast(struct net_dev_worker *w)
{
	uint8_t keep = vq_has_feature(w->guest_offloads, VIRTIO_NET_F_GUEST_CSUM)
			       ? VIRTIO_NET_HDR_F_DATA_VALID
			       : 0;
	/* Locals: the copies into guest memory could alias *w as far as the
	 * compiler knows, which would reload and store every field per frame. */
	unsigned i = 0, head = w->rx_head, count = w->rx_count, npop, nused, npartial = 0;
	const struct netbe_rxbuf *bufs = w->rx_bufs;
	const struct vq_elem *elems = w->rx_elems;
	struct vq_used *used;
	const bool promisc = w->filter.promisc;
	uint64_t bytes = 0;
	bool partial = false;

	if (!vq_has_feature(w->features, VIRTIO_NET_F_MRG_RXBUF) || w->rx_limited || w->logging ||
	    w->rx_gso_active || w->rx_pos != w->rx_npop ||
	    !atomic_load_explicit(&w->d->link_up, memory_order_relaxed))
		return;
	if (!rx_prepop(w, count))
		return;
	npop = w->rx_npop;
	rx_used_reserve(w, npop);
	nused = w->rx_nused;
	used = w->rx_used;
	/* The header's and the frame's first lines of every chain, lines the
	 * driver last read: asked for writable at once (lib/base/prefetch.h). */
	for (unsigned k = 0; k < npop && k < count; k++) {
		if (elems[k].err == VQ_OK && elems[k].nin) {
			const uint8_t *b = elems[k].iov[0].iov_base;

			prefetch_write(b);
			prefetch_write(b + VIRTIO_NET_HDR_LEN);
		}
	}
	while (count && i < npop) {
		const struct netbe_rxbuf *f = &bufs[head];
		const struct vq_elem *e = &elems[i];
		struct virtio_net_hdr_v1 h = {.num_buffers = htole16(1)};
		uint32_t len = f->len;
		uint8_t *p;

		if (len < ETH_HDR_LEN || f->meta.gso_type != VIRTIO_NET_HDR_GSO_NONE ||
		    (f->meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || e->err != VQ_OK ||
		    e->nin != 1 || e->iov[0].iov_len < VIRTIO_NET_HDR_LEN + (uint64_t)len)
			break;
		if (!promisc && !w->rx_prepared[head] &&
		    !net_dev_rx_filter_accept(&w->filter, f->data, len)) {
			net_dev_drop(w->d, w->rx.index, NET_DEV_DROP_RX_FILTERED);
		} else {
			p = e->iov[0].iov_base;
			h.flags = f->meta.flags & keep;
			memcpy(p, &h, sizeof(h));
			memcpy(p + VIRTIO_NET_HDR_LEN, f->data, len);
			used[nused++] =
				(struct vq_used){.id = e->id, .len = VIRTIO_NET_HDR_LEN + len};
			partial = VIRTIO_NET_HDR_LEN + len != e->in_len;
			npartial += partial;
			bytes += len;
			i++;
		}
		head++;
		count--;
	}
	if (i) {
		w->rx_acc_packets += i;
		w->rx_acc_bytes += bytes;
		w->rx_npartial += npartial;
		w->rx_last_partial = partial;
		w->rx_nused = nused;
	}
	w->rx_head = head;
	w->rx_count = count;
	w->rx_pos = i;
}

/* The backend filled @got of the bounce buffers: they are the pending
 * frames. rx_bufs[] point at the bounce buffers from worker start on
 * (net_dev_worker.c); a backend sets only len and meta, so the entries
 * stay ready for the next call. */
static unsigned rx_set_pending(struct net_dev_worker *w, int got)
{
	if (got < 0) {
		counter_add(&w->d->stats[w->rx.index].errors, 1);
		vqnet_log_limited(&w->log_rx_backend, 1000, VQNET_LOG_WARN, "virtio-net",
				  "rxq%u: backend rx error %d", w->pair, got);
		got = 0;
	}
	if ((unsigned)got > NET_DEV_BURST)
		got = NET_DEV_BURST;
	for (int i = 0; i < got; i++) {
		if (unlikely(w->rx_bufs[i].len > NET_DEV_FRAME_MAX))
			w->rx_bufs[i].len = NET_DEV_FRAME_MAX;
		w->rx_prepared[i] = false;
	}
	if (unlikely(w->cap) && got)
		net_dev_cap_rx(w->cap, w->rx_bufs, (unsigned)got);
	w->rx_head = 0;
	w->rx_count = (unsigned)got;
	return (unsigned)got;
}

/* Read a burst from the backend into the bounce buffers. */
static unsigned rx_fill_pending(struct net_dev_worker *w)
{
	return rx_set_pending(w, w->d->be->ops->rx(w->d->be, w->pair, w->rx_bufs, NET_DEV_BURST));
}

/* ---- zero-copy receive (netbe_ops.rx_direct) ----------------------------
 *
 * The backend writes frames straight into the guest's buffers: the turn
 * pops up to rxd_want chains, lends the good ones before the first
 * malformed one as a struct netbe_rxwin (frames start after the
 * virtio-net header, §5.1.6.4), and calls rx_direct() instead of rx().
 * Each frame the backend wrote is checked as the copying path would
 * check it (length, chains, offloads the guest takes, the receive
 * filter), gets its header (num_buffers: its chains) and its completions;
 * one that fails is completed empty and counted, as a malformed chain is.
 * The chains not used go back to the driver, newest first, and the
 * frames the backend put in the bounce buffers follow by the copying path
 * in the same turn. Only with MRG_RXBUF, and without rate limit, capture
 * or dirty logging, which want the frame before it is in guest memory. */

static bool rx_direct_ok(const struct net_dev_worker *w)
{
	return w->rxd_elems && vq_has_feature(w->features, VIRTIO_NET_F_MRG_RXBUF) &&
	       !w->rx_limited && !w->logging && !w->cap &&
	       atomic_load_explicit(&w->d->link_up, memory_order_relaxed);
}

/* Pop the chains to lend into rxd_elems[0, *npop); the window is the good
 * ones before the first malformed one. Return its size, -1 when the ring
 * broke. */
static int rxd_pop(struct net_dev_worker *w, unsigned *npop)
{
	int err = 0;
	unsigned k;

	*npop = vq_pop_burst(w->rx.vq, w->rxd_elems, w->rxd_want, &err);
	if (err < 0 && !vq_err_is_drop(err)) {
		while (*npop)
			vq_unpop(w->rx.vq, &w->rxd_elems[--*npop]);
		net_dev_ring_broken(w, &w->rx, err);
		return -1;
	}
	for (k = 0; k < *npop; k++) {
		const struct vq_elem *e = &w->rxd_elems[k];

		if (e->err != VQ_OK || !e->nin)
			break;
		w->rxd_chains[k] = (struct netbe_rxchain){
			.iov = e->iov + e->nout, .iovcnt = e->nin, .len = e->in_len};
	}
	return (int)k;
}

/* May the guest take window frame @f in chains rxd_elems[@c, +nchains)?
 * Its header and Ethernet header lie in the first chain's first buffer
 * (the backend wrote them there); it reaches into its last chain. */
static bool rxd_frame_ok(struct net_dev_worker *w, const struct netbe_rxwin_frame *f, unsigned c)
{
	const struct vq_elem *first = &w->rxd_elems[c];
	const struct iovec *iov = first->iov + first->nout;
	uint64_t room = 0, total = VIRTIO_NET_HDR_LEN + (uint64_t)f->len;

	if (f->len < ETH_HDR_LEN || iov[0].iov_len < VIRTIO_NET_HDR_LEN + ETH_HDR_LEN + 4)
		return false;
	for (unsigned j = 0; j + 1 < f->nchains; j++)
		room += w->rxd_elems[c + j].in_len;
	if (total <= room || total > room + w->rxd_elems[c + f->nchains - 1].in_len)
		return false;
	if (f->meta.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
	    !guest_takes_gso(w->guest_offloads, f->meta.gso_type))
		return false;
	return !(f->meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
	       vq_has_feature(w->guest_offloads, VIRTIO_NET_F_GUEST_CSUM);
}

/* Header and completions of window frame @f in chains from @c. */
static void rxd_complete(struct net_dev_worker *w, const struct netbe_rxwin_frame *f, unsigned c)
{
	const struct netbe_meta *m = &f->meta;
	const struct vq_elem *first = &w->rxd_elems[c];
	uint8_t keep = VIRTIO_NET_HDR_F_NEEDS_CSUM |
		       (vq_has_feature(w->guest_offloads, VIRTIO_NET_F_GUEST_CSUM)
				? VIRTIO_NET_HDR_F_DATA_VALID
				: 0);
	struct virtio_net_hdr_v1 h = {.flags = m->flags & keep,
				      .gso_type = m->gso_type,
				      .hdr_len = htole16(m->hdr_len),
				      .gso_size = htole16(m->gso_size),
				      .csum_start = htole16(m->csum_start),
				      .csum_offset = htole16(m->csum_offset),
				      .num_buffers = htole16((uint16_t)f->nchains)};
	uint32_t left = VIRTIO_NET_HDR_LEN + f->len;

	memcpy(first->iov[first->nout].iov_base, &h, sizeof(h));
	rx_used_reserve(w, f->nchains);
	for (unsigned j = 0; j < f->nchains; j++) {
		const struct vq_elem *e = &w->rxd_elems[c + j];
		uint32_t n = e->in_len < left ? e->in_len : left;

		rx_used_add(w, e->id, n, e->in_len);
		left -= n;
	}
	w->rx_acc_packets++;
	w->rx_acc_zero_copy++;
	w->rx_acc_bytes += f->len;
	if (f->nchains > 1)
		w->rx_acc_merged++;
}

/* Deliver the window's frames. Return the chains they took. */
static unsigned rxd_deliver(struct net_dev_worker *w, const struct netbe_rxwin *win,
			    unsigned *frames)
{
	unsigned c = 0;

	*frames = 0;
	for (unsigned i = 0; i < win->nframes && i < win->max_frames; i++) {
		const struct netbe_rxwin_frame *f = &win->frames[i];
		const struct vq_elem *first = &w->rxd_elems[c];
		bool ok;

		if (!f->nchains || f->nchains > win->nchains - c) {
			/* The backend overran its window: nothing after
			 * this is trusted (its chains go back unused). */
			counter_add(&w->d->stats[w->rx.index].errors, win->nframes - i);
			break;
		}
		ok = rxd_frame_ok(w, f, c);
		if (ok &&
		    !net_dev_rx_filter_accept(&w->filter,
					      (const uint8_t *)first->iov[first->nout].iov_base +
						      VIRTIO_NET_HDR_LEN,
					      f->len)) {
			net_dev_drop(w->d, w->rx.index, NET_DEV_DROP_RX_FILTERED);
			ok = false;
		} else if (!ok) {
			counter_add(&w->d->stats[w->rx.index].errors, 1);
		}
		if (ok) {
			rxd_complete(w, f, c);
			(*frames)++;
		} else {
			rx_used_reserve(w, f->nchains);
			for (unsigned j = 0; j < f->nchains; j++)
				rx_used_add(w, w->rxd_elems[c + j].id, 0, 1);
		}
		c += f->nchains;
	}
	return c;
}

/* A backend that uses none of the lent chains (the user backend when the
 * guest takes no partial checksums, or with no TCP data flowing) would
 * have NET_DEV_RX_DIRECT_MIN chains popped and given back every turn for
 * nothing. After RXD_IDLE_TURNS such turns in a row, the copying path
 * runs for 1, 2, 4... up to RXD_SKIP_MAX turns between two tries. */
#define RXD_IDLE_TURNS 4u
#define RXD_SKIP_MAX   64u
static void rxd_backoff(struct net_dev_worker *w, unsigned used)
{
	unsigned shift;

	if (used) {
		w->rxd_idle = 0;
		return;
	}
	if (++w->rxd_idle < RXD_IDLE_TURNS)
		return;
	shift = w->rxd_idle - RXD_IDLE_TURNS;
	w->rxd_skip = shift >= 6 ? RXD_SKIP_MAX : 1u << shift;
}

/* This turn uses the copying path (rxd_backoff()). */
static bool rxd_skip_turn(struct net_dev_worker *w)
{
	if (!w->rxd_skip)
		return false;
	w->rxd_skip--;
	return true;
}

/* Lend chains to the backend: deliver what it wrote into them, keep what
 * it put in the bounce buffers pending. Return the frames delivered. */
static unsigned rx_direct_fill(struct net_dev_worker *w)
{
	struct netbe *be = w->d->be;
	struct netbe_rxwin win = {.chains = w->rxd_chains,
				  .hdr_room = VIRTIO_NET_HDR_LEN,
				  .frames = w->rxd_frames,
				  .max_frames = NET_DEV_RX_DIRECT_CHAINS};
	unsigned npop, used, frames = 0;
	int k = rxd_pop(w, &npop), got;

	if (k < 0)
		return 0;
	win.nchains = (unsigned)k;
	got = be->ops->rx_direct(be, w->pair, &win, w->rx_bufs, NET_DEV_BURST);
	/* Frames in the window are delivered even when rx_direct() failed
	 * after writing them: they left the backend. */
	used = rxd_deliver(w, &win, &frames);
	while (npop > used)
		vq_unpop(w->rx.vq, &w->rxd_elems[--npop]);
	/* Lend about twice what was used, within the bounds. */
	w->rxd_want = used * 2 < NET_DEV_RX_DIRECT_MIN	    ? NET_DEV_RX_DIRECT_MIN
		      : used * 2 > NET_DEV_RX_DIRECT_CHAINS ? NET_DEV_RX_DIRECT_CHAINS
							    : used * 2;
	rxd_backoff(w, used);
	rx_set_pending(w, got);
	return frames;
}

void net_dev_rx_discard(struct net_dev_worker *w)
{
	w->rx_head = w->rx_count = 0;
	w->rx_gso_active = w->rx_seg_ready = false;
	w->rx_wait_until = 0;
	/* Completions are pushed before every turn ends: none are left. */
	w->rx_nused = w->rx_npartial = 0;
	w->rx_last_partial = false;
	w->rx_acc_packets = w->rx_acc_bytes = w->rx_acc_merged = w->rx_acc_zero_copy = 0;
	w->rx_be_quiet = false;
	w->rx_pos = w->rx_npop = 0;
	w->rxd_idle = w->rxd_skip = 0;
}

unsigned net_dev_rx_turn(struct net_dev_worker *w)
{
	/* The worker's poll() just found the backend's rx fd not readable:
	 * no need to ask the backend in this turn (the next one does). */
	bool be_quiet = w->rx_be_quiet;
	unsigned done = 0, direct = 0;

	w->rx_be_quiet = false;
	if (w->rx_wait_until) {
		if (clock_mono_ns() < w->rx_wait_until)
			return 0;
		w->rx_wait_until = 0;
	}
	if (!w->rx_count) {
		/* No buffers: the backend keeps its frames. */
		if (!vq_avail_pending(w->rx.vq)) {
			w->rx_waiting = true;
			return 0;
		}
		w->rx_waiting = false;
		if (be_quiet)
			return 0;
		if (rx_direct_ok(w) && !rxd_skip_turn(w))
			direct = rx_direct_fill(w);
		else if (!rx_fill_pending(w))
			return 0;
	}
	done = w->rx_count;
	if (w->rx_count)
		rx_turn_fast(w);
	done -= w->rx_count;
	while (w->rx_count) {
		enum rx_result r =
			rx_frame(w, &w->rx_bufs[w->rx_head], &w->rx_prepared[w->rx_head]);

		if (r != RX_DONE)
			break;
		w->rx_head++;
		w->rx_count--;
		done++;
	}
	/* Chains popped for frames that were dropped or wait go back to
	 * the driver (popped after every completion of the turn). */
	rx_unpop_rest(w);
	rx_flush(w);
	if (w->rx_pushed) {
		net_dev_ring_notify(w, &w->rx);
		w->rx_pushed = 0;
	}
	return done + direct;
}
