/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: receive — theory of operation
 *
 * The receive ring is kept full of buffers from the pair's pool. A buffer
 * is posted from VNET_DRV_HDR_LEN bytes before its data room, so the
 * device's virtio-net header lands just in front of where the frame starts
 * (the packet's data = buf + VNET_DRV_RX_HEADROOM). With MRG_RXBUF each chain
 * is one buffer and a frame may take several (num_buffers in the first
 * buffer's header, §5.1.6.4). Without it each chain is rx_chain_bufs
 * buffers, enough for rx_frame_max, and a frame is one chain. Either way
 * a frame comes back as a packet chain; continuation segments start at
 * buf + VNET_DRV_RX_HEADROOM - VNET_DRV_HDR_LEN (no header there). Unused
 * trailing buffers of a chain go back to the pool.
 *
 * Used entries are reaped in bursts no larger than the frames still
 * wanted, so a burst never completes more frames than the caller has room
 * for; a mergeable frame whose buffers are not all used yet stays in
 * rx_head/rx_tail for the next call. Everything the device wrote (lengths,
 * num_buffers) is checked before it is believed: a bad frame is dropped
 * and counted, never crashes us. Refill publishes once and kicks at most
 * once; with one buffer per chain it takes buffers off the pool's stack
 * in bulk and posts them with vq_drv_add_burst(). Nothing here allocates.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "base/efd.h"
#include "vnet_drv_internal.h"
#include "spec/virtio_net.h"

#define RX_BATCH 64u /* buffers per vq_drv_add_burst() */

static inline uint32_t rx_first_room(const struct vnet_drv_pkt *seg)
{
	return seg->buf_size - VNET_DRV_RX_HEADROOM;
}

/* The descriptor a receive buffer is posted with: from the header's place
 * just before the frame to the buffer's end. */
static inline struct vq_drv_buf rx_post_buf(const struct vnet_drv_pkt *seg)
{
	return (struct vq_drv_buf){.gpa = seg->buf_gpa + VNET_DRV_RX_HEADROOM - VNET_DRV_HDR_LEN,
				   .len = rx_first_room(seg) + VNET_DRV_HDR_LEN};
}

/* One buffer per chain (MRG_RXBUF): buffers off the top of the pool's
 * stack in bulk, posted with one vq_drv_add_burst() per RX_BATCH.
 * Return: chains posted. */
static unsigned rx_refill_single(struct vnet_drv_qpair *qp, unsigned room)
{
	struct vq_drv_buf bufs[RX_BATCH];
	void *tokens[RX_BATCH];
	struct vnet_drv_pool *p = &qp->pool;
	unsigned posted = 0;

	if (p->nfree < room)
		qp->rx.stats.no_buffers++;
	while (room && p->nfree) {
		unsigned n = room < RX_BATCH ? room : RX_BATCH;
		struct vnet_drv_pkt **top;
		int r;

		if (n > p->nfree)
			n = p->nfree;
		top = p->free + p->nfree;
		for (unsigned i = 0; i < n; i++) {
			struct vnet_drv_pkt *seg = *--top;

			vnet_drv_pkt_reset_at(seg, VNET_DRV_RX_HEADROOM);
			bufs[i] = rx_post_buf(seg);
			tokens[i] = seg;
		}
		r = vq_drv_add_burst(qp->rx.d, bufs, tokens, n, true);
		if (r <= 0)
			break;
		p->nfree -= (uint32_t)r; /* the ones not posted stay on the stack */
		posted += (unsigned)r;
		if ((unsigned)r < n)
			break;
		room -= n;
	}
	return posted;
}

/* Post as many chains as ring and pool allow; one publish, one kick. */
void vnet_drv_rx_refill(struct vnet_drv *drv, struct vnet_drv_qpair *qp)
{
	struct vq_drv_buf bufs[VNET_DRV_MAX_SEGS];
	unsigned k = qp->rx_chain_bufs, posted = 0, room = vq_drv_free_descs(qp->rx.d);

	(void)drv;
	if (room < k)
		return;
	if (k == 1) {
		posted = rx_refill_single(qp, room);
		goto out;
	}
	while (vq_drv_free_descs(qp->rx.d) >= k) {
		struct vnet_drv_pkt *head = NULL, *prev = NULL;
		int id;

		if (qp->pool.nfree < k) {
			qp->rx.stats.no_buffers++;
			break;
		}
		for (unsigned i = 0; i < k; i++) {
			struct vnet_drv_pkt *seg =
				vnet_drv_pool_get(&qp->pool, VNET_DRV_RX_HEADROOM);

			bufs[i] = rx_post_buf(seg);
			if (prev)
				prev->next = seg;
			else
				head = seg;
			prev = seg;
		}
		id = vq_drv_add_chain(qp->rx.d, bufs, 0, k, false, head);
		if (id < 0) {
			vnet_drv_pkt_free(head);
			break;
		}
		posted++;
	}
out:
	if (posted) {
		vq_drv_publish(qp->rx.d);
		vnet_drv_queue_kick(&qp->rx);
	}
}

/* Header of a used chain into the head's offload metadata. Return:
 * num_buffers (1 without MRG_RXBUF), or 0 when it is bad. */
static uint16_t rx_parse_hdr(const struct vnet_drv *drv, struct vnet_drv_pkt *head)
{
	struct virtio_net_hdr_v1 h;

	memcpy(&h, head->buf + VNET_DRV_RX_HEADROOM - VNET_DRV_HDR_LEN, sizeof(h));
	head->ol = (struct vnet_drv_offload){
		.flags = h.flags & (VNET_DRV_OL_NEEDS_CSUM | VNET_DRV_OL_DATA_VALID),
		.gso_type = h.gso_type,
		.hdr_len = h.hdr_len,
		.gso_size = h.gso_size,
		.csum_start = h.csum_start,
		.csum_offset = h.csum_offset,
	};
	if (!vq_has_feature(drv->features, VIRTIO_NET_F_MRG_RXBUF))
		return 1;
	return h.num_buffers <= VNET_DRV_MAX_SEGS ? h.num_buffers : 0;
}

/* A non-mergeable chain of @len bytes (header included): spread the bytes
 * over its segments, free the unused tail. */
static void rx_trim_chain(struct vnet_drv_pkt *head, uint32_t len)
{
	struct vnet_drv_pkt *seg = head, *last = head;
	uint32_t left = len - VNET_DRV_HDR_LEN;
	uint16_t nsegs = 0;

	head->pkt_len = left;
	for (; seg; seg = seg->next) {
		uint32_t room =
			seg == head ? rx_first_room(seg) : rx_first_room(seg) + VNET_DRV_HDR_LEN;

		if (seg != head)
			seg->data = seg->buf + VNET_DRV_RX_HEADROOM - VNET_DRV_HDR_LEN;
		seg->len = left < room ? left : room;
		left -= seg->len;
		nsegs++;
		last = seg;
		if (left == 0)
			break;
	}
	head->nb_segs = nsegs;
	vnet_drv_pkt_free(last->next);
	last->next = NULL;
}

/* Drop the frame being assembled (bad lengths / num_buffers). */
static void rx_drop_partial(struct vnet_drv_qpair *qp)
{
	vnet_drv_pkt_free(qp->rx_head);
	qp->rx_head = qp->rx_tail = NULL;
	qp->rx_missing = 0;
	qp->rx.stats.drops++;
}

/* One used entry of a mergeable ring; @later used entries of this burst
 * follow it. Return: a finished frame, or NULL. */
static struct vnet_drv_pkt *rx_mrg_entry(struct vnet_drv *drv, struct vnet_drv_qpair *qp,
					 struct vnet_drv_pkt *seg, uint32_t len, unsigned later)
{
	struct vnet_drv_pkt *head;

	if (qp->rx_head) { /* a continuation: no header in it */
		seg->data = seg->buf + VNET_DRV_RX_HEADROOM - VNET_DRV_HDR_LEN;
		seg->len = len;
		qp->rx_tail->next = seg;
		qp->rx_tail = seg;
		qp->rx_head->nb_segs++;
		qp->rx_head->pkt_len += len;
	} else {
		uint16_t nbufs;

		/* num_buffers 0, or more buffers than were ever posted (the
		 * device took them all before writing the header, §5.1.6.4:
		 * they are used in this burst or still in flight): a lie. */
		if (len < VNET_DRV_HDR_LEN || !(nbufs = rx_parse_hdr(drv, seg)) ||
		    nbufs - 1u > later + vq_drv_in_flight(qp->rx.d)) {
			qp->rx.stats.drops++;
			vnet_drv_pkt_free(seg);
			return NULL;
		}
		seg->len = len - VNET_DRV_HDR_LEN;
		seg->pkt_len = seg->len;
		qp->rx_head = qp->rx_tail = seg;
		qp->rx_missing = nbufs;
	}
	/* §5.1.6.4.1: the device MUST use all buffers but the last
	 * completely. One that is not full ends the frame whatever
	 * num_buffers said (more than it used): drop it, and the next used
	 * buffer starts a frame again. */
	if (qp->rx_missing > 1 && len < rx_post_buf(seg).len) {
		rx_drop_partial(qp);
		return NULL;
	}
	if (--qp->rx_missing)
		return NULL;
	head = qp->rx_head;
	qp->rx_head = qp->rx_tail = NULL;
	if (head->pkt_len == 0) { /* no frame bytes at all */
		qp->rx.stats.drops++;
		vnet_drv_pkt_free(head);
		return NULL;
	}
	return head;
}

/* One used entry of a non-mergeable ring. Return: the frame, or NULL. */
static struct vnet_drv_pkt *rx_chain_entry(struct vnet_drv *drv, struct vnet_drv_qpair *qp,
					   struct vnet_drv_pkt *head, uint32_t len)
{
	if (len <= VNET_DRV_HDR_LEN || !rx_parse_hdr(drv, head)) {
		qp->rx.stats.drops++;
		vnet_drv_pkt_free(head);
		return NULL;
	}
	rx_trim_chain(head, len);
	return head;
}

VQNET_EXPORT unsigned vnet_drv_rx_burst(struct vnet_drv *drv, unsigned qpi,
					struct vnet_drv_pkt **pkts, unsigned n)
{
	struct vq_drv_used used[32];
	struct vnet_drv_qpair *qp;
	bool mrg;
	unsigned got = 0;

	if (unlikely(!drv || qpi >= drv->nqp || !pkts))
		return 0;
	qp = &drv->qp[qpi];
	mrg = qp->rx_chain_bufs == 1 && vq_has_feature(drv->features, VIRTIO_NET_F_MRG_RXBUF);
	while (got < n) {
		unsigned want = n - got < ARRAY_SIZE(used) ? n - got : ARRAY_SIZE(used);
		int r = vq_drv_reap(qp->rx.d, used, want);

		if (r <= 0) {
			if (r < 0) {
				qp->rx.stats.errors++;
				if (qp->rx_head)
					rx_drop_partial(qp);
			}
			break;
		}
		/* The header line of each used buffer, and the frame's first
		 * (the caller reads it next), were written by the device: ask
		 * for them all before the first is parsed. */
		for (int i = 0; i < r; i++) {
			const struct vnet_drv_pkt *seg = used[i].token;

			__builtin_prefetch(seg->buf + VNET_DRV_RX_HEADROOM - VNET_DRV_HDR_LEN);
			__builtin_prefetch(seg->buf + VNET_DRV_RX_HEADROOM);
		}
		for (int i = 0; i < r; i++) {
			struct vnet_drv_pkt *f =
				mrg ? rx_mrg_entry(drv, qp, used[i].token, used[i].len,
						   (unsigned)(r - 1 - i))
				    : rx_chain_entry(drv, qp, used[i].token, used[i].len);

			if (f) {
				qp->rx.stats.packets++;
				qp->rx.stats.bytes += f->pkt_len;
				pkts[got++] = f;
			}
		}
		if ((unsigned)r < want)
			break;
	}
	vnet_drv_rx_refill(drv, qp);
	return got;
}

/* At close: the frame being assembled goes back with the pool. */
void vnet_drv_rx_fini(struct vnet_drv_qpair *qp)
{
	qp->rx_head = qp->rx_tail = NULL;
	qp->rx_missing = 0;
}

VQNET_EXPORT int vnet_drv_rx_fd(const struct vnet_drv *drv, unsigned qp)
{
	if (!drv || qp >= drv->nqp)
		return -EINVAL;
	return drv->qp[qp].rx.call_fd;
}

VQNET_EXPORT int vnet_drv_rx_arm(struct vnet_drv *drv, unsigned qpi)
{
	struct vnet_drv_queue *q;

	if (!drv || qpi >= drv->nqp)
		return -EINVAL;
	q = &drv->qp[qpi].rx;
	efd_drain(q->call_fd);
	/* on, then re-check: a frame used before the flag was seen is
	 * reported here instead of being slept over (§2.7.10, §2.8.22) */
	if (vq_drv_enable_used_notify(q->d)) {
		vq_drv_disable_used_notify(q->d);
		return 1;
	}
	return 0;
}

VQNET_EXPORT void vnet_drv_rx_disarm(struct vnet_drv *drv, unsigned qpi)
{
	struct vnet_drv_queue *q;

	if (!drv || qpi >= drv->nqp)
		return;
	q = &drv->qp[qpi].rx;
	vq_drv_disable_used_notify(q->d);
	efd_drain(q->call_fd);
}

VQNET_EXPORT int vnet_drv_rx_wait(struct vnet_drv *drv, unsigned qpi, int timeout_ms)
{
	struct pollfd pfd;
	int rc;

	rc = vnet_drv_rx_arm(drv, qpi);
	if (rc != 0)
		return rc;
	pfd = (struct pollfd){.fd = drv->qp[qpi].rx.call_fd, .events = POLLIN};
	rc = poll(&pfd, 1, timeout_ms);
	rc = rc < 0 ? -errno : rc > 0;
	vnet_drv_rx_disarm(drv, qpi);
	return rc;
}

VQNET_EXPORT void vnet_drv_queue_stats(const struct vnet_drv *drv, unsigned qp,
				       struct vnet_drv_queue_stats *rx,
				       struct vnet_drv_queue_stats *tx)
{
	if (!drv || qp >= drv->nqp)
		return;
	if (rx)
		*rx = drv->qp[qp].rx.stats;
	if (tx)
		*tx = drv->qp[qp].tx.stats;
}
