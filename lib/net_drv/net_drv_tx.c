/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: transmit — theory of operation
 *
 * A frame is a packet chain of the pair's pool. Its virtio-net header is
 * written into the VNET_DRV_HDR_LEN bytes just before the first segment's
 * data (DPDK's "can_push"), so the first descriptor covers header + first
 * segment and a one-segment frame takes one descriptor. Further segments
 * follow as descriptors of the same chain, or, with INDIRECT_DESC and more
 * than one segment, the whole chain goes in the id's indirect table (one
 * ring slot per frame).
 *
 * One-segment frames, the common case, are checked inline and collected
 * into arrays that go into the ring with one vq_drv_add_burst() (a few
 * stores per frame); others take vq_drv_add_chain(), the collected ones
 * flushed first so the ring keeps the caller's order. Counters are
 * updated once per batch.
 *
 * The packet itself is the chain's token: when the device is done,
 * reaping puts it back on the pool's free stack (in bulk). Reaping is lazy — only when a burst
 * finds fewer than tx_reap_below descriptors free — so a burst usually touches the used ring once
 * every few bursts. One publish and at most one kick per burst (vq_drv_kick_needed()). Nothing here
 * allocates.
 */
#include <errno.h>
#include <string.h>

#include "net_drv_internal.h"
#include "spec/virtio_net.h"

#define TX_BATCH    64u	 /* one-segment frames per vq_drv_add_burst() */
#define TX_REAP_MAX 128u /* used entries per vq_drv_reap() */

/* Is @ol something the negotiated features let the device finish? */
static bool tx_offload_check(const struct vnet_drv *drv, const struct vnet_drv_offload *ol)
{
	uint8_t gso = ol->gso_type & (uint8_t)~VNET_DRV_GSO_ECN;

	if ((ol->flags & VNET_DRV_OL_NEEDS_CSUM) &&
	    !vq_has_feature(drv->features, VIRTIO_NET_F_CSUM))
		return false;
	if (ol->flags & ~VNET_DRV_OL_NEEDS_CSUM)
		return false; /* DATA_VALID / RSC_INFO: rx only (§5.1.6.2.1) */
	switch (gso) {
	case VNET_DRV_GSO_NONE:
		return ol->gso_type == VNET_DRV_GSO_NONE;
	case VNET_DRV_GSO_TCPV4:
		if (!vq_has_feature(drv->features, VIRTIO_NET_F_HOST_TSO4))
			return false;
		break;
	case VNET_DRV_GSO_TCPV6:
		if (!vq_has_feature(drv->features, VIRTIO_NET_F_HOST_TSO6))
			return false;
		break;
	default:
		return false;
	}
	if ((ol->gso_type & VNET_DRV_GSO_ECN) &&
	    !vq_has_feature(drv->features, VIRTIO_NET_F_HOST_ECN))
		return false;
	return ol->gso_size > 0 && (ol->flags & VNET_DRV_OL_NEEDS_CSUM);
}

/* The common case first: no offload asked for (flags and GSO type 0). */
static inline bool tx_offload_ok(const struct vnet_drv *drv, const struct vnet_drv_offload *ol)
{
	if (likely((ol->flags | ol->gso_type) == 0))
		return true;
	return tx_offload_check(drv, ol);
}

/* Descriptors of @pkt's frame into @bufs (header in front of the first);
 * Return: the number, or 0 when the frame cannot go (counted by caller). */
static unsigned tx_frame_bufs(const struct vnet_drv_pool *pool, struct vnet_drv_pkt *pkt,
			      struct vq_drv_buf *bufs)
{
	unsigned n = 0;

	if (pkt->pool != pool || pkt->data < pkt->buf + VNET_DRV_HDR_LEN)
		return 0;
	for (struct vnet_drv_pkt *seg = pkt; seg; seg = seg->next) {
		uint64_t off = (uint64_t)(seg->data - seg->buf);

		if (n == VNET_DRV_MAX_SEGS || seg->pool != pool || seg->data < seg->buf ||
		    off > seg->buf_size || seg->len > seg->buf_size - off)
			return 0;
		if (n == 0) {
			bufs[0].gpa = seg->buf_gpa + off - VNET_DRV_HDR_LEN;
			bufs[0].len = seg->len + VNET_DRV_HDR_LEN;
		} else if (seg->len == 0) {
			continue; /* a descriptor of length 0 is not allowed */
		} else {
			bufs[n].gpa = seg->buf_gpa + off;
			bufs[n].len = seg->len;
		}
		n++;
	}
	return n;
}

static inline void tx_write_hdr(struct vnet_drv_pkt *pkt)
{
	struct virtio_net_hdr_v1 h = {
		.flags = pkt->ol.flags,
		.gso_type = pkt->ol.gso_type,
		.hdr_len = pkt->ol.hdr_len,
		.gso_size = pkt->ol.gso_size,
		.csum_start = pkt->ol.csum_start,
		.csum_offset = pkt->ol.csum_offset,
		.num_buffers = 0, /* §5.1.6.2: the driver sets it to 0 */
	};

	memcpy(pkt->data - VNET_DRV_HDR_LEN, &h, sizeof(h));
}

/* Give the packets of @used back to @pool: one-segment frames (the
 * common case) straight onto the free stack, others segment by segment.
 * Every token is a frame of this pair's pool (checked at transmit). */
static void tx_free_used(struct vnet_drv_pool *pool, const struct vq_drv_used *used, unsigned n)
{
	struct vnet_drv_pkt **top = pool->free + pool->nfree;

	for (unsigned i = 0; i < n; i++) {
		struct vnet_drv_pkt *pkt = used[i].token;

		if (likely(!pkt->next)) {
			*top++ = pkt;
		} else {
			pool->nfree = (uint32_t)(top - pool->free);
			vnet_drv_pkt_free(pkt);
			top = pool->free + pool->nfree;
		}
	}
	pool->nfree = (uint32_t)(top - pool->free);
}

/* Free every frame the device has finished with. Return: count or -ENOTCONN. */
static int tx_reap(struct vnet_drv_qpair *qp)
{
	struct vq_drv_used used[TX_REAP_MAX];
	int total = 0, n;

	while ((n = vq_drv_reap(qp->tx.d, used, ARRAY_SIZE(used))) > 0) {
		tx_free_used(&qp->pool, used, (unsigned)n);
		total += n;
		if ((unsigned)n < ARRAY_SIZE(used))
			break;
	}
	if (n < 0) {
		qp->tx.stats.errors++;
		return total ? total : -ENOTCONN;
	}
	return total;
}

VQNET_EXPORT int vnet_drv_tx_reap(struct vnet_drv *drv, unsigned qp)
{
	if (!drv || qp >= drv->nqp)
		return -EINVAL;
	return tx_reap(&drv->qp[qp]);
}

/* One-segment frames collected for one vq_drv_add_burst(). */
struct tx_batch {
	struct vq_drv_buf bufs[TX_BATCH];
	void *tokens[TX_BATCH];
	unsigned first; /* pkts index of bufs[0]: the batch is pkts[first, first + n) */
	unsigned n;
	uint64_t bytes;
};

/* Add the collected frames. Space was made sure of when each was
 * collected, so only a broken queue adds fewer. Return: true when all
 * went in; else false with *@stop the pkts index of the first that did
 * not (it and the rest of the batch stay the caller's). */
static bool tx_flush(struct vnet_drv_qpair *qp, struct tx_batch *b, unsigned *queued,
		     unsigned *stop)
{
	unsigned want = b->n;
	int r;

	if (want == 0)
		return true;
	b->n = 0;
	r = vq_drv_add_burst(qp->tx.d, b->bufs, b->tokens, want, false);
	if (unlikely(r != (int)want)) {
		unsigned got = r > 0 ? (unsigned)r : 0;
		uint64_t bytes = 0;

		for (unsigned k = 0; k < got; k++)
			bytes += ((struct vnet_drv_pkt *)b->tokens[k])->len;
		qp->tx.stats.errors++;
		qp->tx.stats.packets += got;
		qp->tx.stats.bytes += bytes;
		*queued += got;
		*stop = b->first + got;
		return false;
	}
	qp->tx.stats.packets += want;
	qp->tx.stats.bytes += b->bytes;
	*queued += want;
	b->bytes = 0;
	return true;
}

/* A frame of one segment of @pool: the checks of tx_frame_bufs(), inline. */
static inline bool tx_single_ok(const struct vnet_drv_pool *pool, const struct vnet_drv_pkt *pkt)
{
	uint64_t off = (uint64_t)(pkt->data - pkt->buf);

	(void)pool; /* the caller checked pkt->pool */
	return pkt->data >= pkt->buf + VNET_DRV_HDR_LEN && off <= pkt->buf_size &&
	       pkt->len <= pkt->buf_size - off;
}

/*
 * One-segment frames are collected (header written, offload checked) and
 * go in with one vq_drv_add_burst() per TX_BATCH; a frame of several
 * segments, a frame to drop or a full ring first flushes the collected
 * ones, so frames enter the ring in the caller's order and a batch is
 * always a run pkts[first, first + n) (when the queue breaks, the frames
 * from the first not added on are returned as not taken).
 */
VQNET_EXPORT unsigned vnet_drv_tx_burst(struct vnet_drv *drv, unsigned qpi,
					struct vnet_drv_pkt **pkts, unsigned n)
{
	struct vq_drv_buf bufs[VNET_DRV_MAX_SEGS];
	struct tx_batch b;
	struct vnet_drv_qpair *qp;
	unsigned i, queued = 0, room;

	if (unlikely(!drv || qpi >= drv->nqp || !pkts))
		return 0;
	qp = &drv->qp[qpi];
	room = vq_drv_free_descs(qp->tx.d);
	if (room < qp->tx_reap_below) {
		tx_reap(qp);
		room = vq_drv_free_descs(qp->tx.d);
	}
	b.n = 0;
	b.bytes = 0;
	b.first = 0;
	for (i = 0; i < n; i++) {
		struct vnet_drv_pkt *pkt = pkts[i];
		unsigned nbufs;
		bool indirect;
		int id;

		if (unlikely(pkt->pool != &qp->pool))
			break; /* another pair's packet: not ours to free here */
		if (likely(!pkt->next && tx_single_ok(&qp->pool, pkt) &&
			   tx_offload_ok(drv, &pkt->ol))) {
			if (unlikely(b.n == room)) { /* ring full: flush, reap, retry */
				if (!tx_flush(qp, &b, &queued, &i))
					goto out;
				tx_reap(qp);
				room = vq_drv_free_descs(qp->tx.d);
				if (room == 0)
					break;
			}
			if (b.n == 0)
				b.first = i;
			tx_write_hdr(pkt);
			b.bufs[b.n].gpa =
				pkt->buf_gpa + (uint64_t)(pkt->data - pkt->buf) - VNET_DRV_HDR_LEN;
			b.bufs[b.n].len = pkt->len + VNET_DRV_HDR_LEN;
			b.tokens[b.n] = pkt;
			b.bytes += pkt->len;
			if (++b.n == TX_BATCH) {
				if (!tx_flush(qp, &b, &queued, &i))
					goto out;
				room -= TX_BATCH;
			}
			continue;
		}
		/* the general path: what was collected goes first (order) */
		if (b.n) {
			unsigned added = b.n;

			if (!tx_flush(qp, &b, &queued, &i))
				goto out;
			room -= added;
		}
		nbufs = tx_frame_bufs(&qp->pool, pkt, bufs);
		if (unlikely(nbufs == 0 || !tx_offload_ok(drv, &pkt->ol))) {
			qp->tx.stats.drops++;
			vnet_drv_pkt_free(pkt);
			continue;
		}
		indirect = nbufs > 1 && qp->tx_indirect;
		if (room < (indirect ? 1 : nbufs)) {
			tx_reap(qp);
			room = vq_drv_free_descs(qp->tx.d);
			if (room < (indirect ? 1 : nbufs))
				break;
		}
		tx_write_hdr(pkt);
		id = vq_drv_add_chain(qp->tx.d, bufs, nbufs, 0, indirect, pkt);
		if (unlikely(id < 0)) {
			if (id == -VQ_ERR_NO_SPACE)
				break;
			qp->tx.stats.errors++;
			break;
		}
		qp->tx.stats.packets++;
		for (struct vnet_drv_pkt *seg = pkt; seg; seg = seg->next)
			qp->tx.stats.bytes += seg->len;
		queued++;
		room = vq_drv_free_descs(qp->tx.d);
	}
	tx_flush(qp, &b, &queued, &i);
out:
	if (queued) {
		vq_drv_publish(qp->tx.d);
		net_drv_queue_kick(&qp->tx);
	}
	return i;
}
