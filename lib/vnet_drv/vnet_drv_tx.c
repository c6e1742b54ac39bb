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
 * One-segment frames, the common case, are checked inline in runs of at
 * most min(TX_BATCH, free descriptors) — no per-frame room test — and each
 * run goes into the ring with one vq_drv_add_burst() (a few stores per
 * frame); the frame a run stops at takes vq_drv_add_chain() (or is
 * dropped), so the ring keeps the caller's order. Counters are updated
 * once per run.
 *
 * The packet itself is the chain's token: when the device is done,
 * reaping puts it back on the pool's free stack (in bulk). Reaping is
 * lazy — only when a burst finds fewer than tx_reap_below descriptors
 * free — so a burst usually touches the used ring once every few bursts.
 * One publish and at most one kick per burst (vq_drv_kick_prepare()).
 * Nothing here allocates.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "vnet_drv_internal.h"
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

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
_Static_assert(offsetof(struct vnet_drv_offload, flags) == 0 &&
		       offsetof(struct vnet_drv_offload, gso_type) == 1 &&
		       offsetof(struct vnet_drv_offload, hdr_len) == 2 &&
		       offsetof(struct vnet_drv_offload, gso_size) == 4 &&
		       offsetof(struct vnet_drv_offload, csum_start) == 6 &&
		       offsetof(struct vnet_drv_offload, csum_offset) == 8 &&
		       sizeof(struct vnet_drv_offload) == 10,
	       "vnet_drv_offload is the header's first 10 bytes");

/* Little-endian host: struct vnet_drv_offload is, byte for byte, the
 * header's first 10 bytes; num_buffers 0 (§5.1.6.2) — two stores. */
static inline void tx_write_hdr(struct vnet_drv_pkt *pkt)
{
	uint8_t *h = pkt->data - VNET_DRV_HDR_LEN;
	uint64_t lo;
	uint32_t hi = pkt->ol.csum_offset; /* num_buffers (high half) 0 */

	memcpy(&lo, &pkt->ol, sizeof(lo)); /* flags .. csum_start */
	memcpy(h, &lo, sizeof(lo));
	memcpy(h + sizeof(lo), &hi, sizeof(hi));
}
#else
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
#endif

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

/* A frame of one segment of @pool with at least VNET_DRV_HDR_LEN bytes
 * of headroom, inside its buffer, with an offload the device can finish:
 * the checks of tx_frame_bufs() and tx_offload_ok(), inline. @off is
 * data - buf. */
static inline bool tx_single_ok(const struct vnet_drv *drv, const struct vnet_drv_pool *pool,
				const struct vnet_drv_pkt *pkt, uint64_t off)
{
	/* off < HDR_LEN (data before buf + HDR_LEN, or before buf) wraps */
	return pkt->pool == pool && !pkt->next &&
	       off - VNET_DRV_HDR_LEN <= (uint64_t)pkt->buf_size - VNET_DRV_HDR_LEN &&
	       pkt->len <= pkt->buf_size - off && tx_offload_ok(drv, &pkt->ol);
}

/* A frame tx_single_ok() refused: another pair's packet (stop), a chain or
 * one to drop. Return: 2 sent, 1 dropped (freed, counted), 0 stop (the
 * frame stays the caller's: foreign, or no room), -1 the queue broke. */
static int tx_general(struct vnet_drv *drv, struct vnet_drv_qpair *qp, struct vnet_drv_pkt *pkt,
		      unsigned *room)
{
	struct vq_drv_buf bufs[VNET_DRV_MAX_SEGS];
	unsigned nbufs, need;
	int id;

	if (unlikely(pkt->pool != &qp->pool))
		return 0; /* another pair's packet: not ours to free here */
	nbufs = tx_frame_bufs(&qp->pool, pkt, bufs);
	if (unlikely(nbufs == 0 || !tx_offload_ok(drv, &pkt->ol))) {
		qp->tx.stats.drops++;
		vnet_drv_pkt_free(pkt);
		return 1;
	}
	bool indirect = nbufs > 1 && qp->tx_indirect;
	need = indirect ? 1 : nbufs;
	if (*room < need) {
		tx_reap(qp);
		*room = vq_drv_free_descs(qp->tx.d);
		if (*room < need)
			return 0;
	}
	tx_write_hdr(pkt);
	id = vq_drv_add_chain(qp->tx.d, bufs, nbufs, 0, indirect, pkt);
	if (unlikely(id < 0)) {
		if (id != -VQ_ERR_NO_SPACE)
			qp->tx.stats.errors++;
		return id == -VQ_ERR_NO_SPACE ? 0 : -1;
	}
	qp->tx.stats.packets++;
	for (struct vnet_drv_pkt *seg = pkt; seg; seg = seg->next)
		qp->tx.stats.bytes += seg->len;
	*room = vq_drv_free_descs(qp->tx.d);
	return 2;
}

/*
 * Runs of one-segment frames (the common case) are checked and written
 * (header, descriptor entry, token) in a tight loop of at most
 * min(TX_BATCH, free descriptors) frames, with no per-frame room or batch
 * test, and go in with one vq_drv_add_burst(); a frame the run stops at
 * takes the general path, so frames enter the ring in the caller's order.
 * When the queue breaks, the frames from the first not added on are
 * returned as not taken. Counters once per run, one publish and at most
 * one kick per call.
 */
VQNET_EXPORT unsigned vnet_drv_tx_burst(struct vnet_drv *drv, unsigned qpi,
					struct vnet_drv_pkt **pkts, unsigned n)
{
	struct vq_drv_buf bufs[TX_BATCH];
	void *tokens[TX_BATCH];
	struct vnet_drv_qpair *qp;
	const struct vnet_drv_pool *pool;
	unsigned i = 0, queued = 0, room;

	if (unlikely(!drv || qpi >= drv->nqp || !pkts))
		return 0;
	qp = &drv->qp[qpi];
	pool = &qp->pool;
	room = vq_drv_free_descs(qp->tx.d);
	if (room < qp->tx_reap_below) {
		tx_reap(qp);
		room = vq_drv_free_descs(qp->tx.d);
	}
	while (i < n) {
		unsigned lim = n - i < TX_BATCH ? n - i : TX_BATCH, k;
		uint64_t bytes = 0;
		int r;

		if (unlikely(room == 0)) { /* ring full: reap, retry */
			tx_reap(qp);
			room = vq_drv_free_descs(qp->tx.d);
			if (room == 0)
				break;
		}
		if (lim > room)
			lim = room;
		for (k = 0; k < lim; k++) {
			struct vnet_drv_pkt *pkt = pkts[i + k];
			uint64_t off = (uint64_t)(pkt->data - pkt->buf);

			if (unlikely(!tx_single_ok(drv, pool, pkt, off)))
				break;
			tx_write_hdr(pkt);
			bufs[k].gpa = pkt->buf_gpa + off - VNET_DRV_HDR_LEN;
			bufs[k].len = pkt->len + VNET_DRV_HDR_LEN;
			tokens[k] = pkt;
			bytes += pkt->len;
		}
		if (k) {
			r = vq_drv_add_burst(qp->tx.d, bufs, tokens, k, false);
			if (unlikely(r != (int)k)) { /* room was made sure of: broken */
				unsigned got = r > 0 ? (unsigned)r : 0;

				bytes = 0;
				for (unsigned j = 0; j < got; j++)
					bytes += pkts[i + j]->len;
				qp->tx.stats.errors++;
				qp->tx.stats.packets += got;
				qp->tx.stats.bytes += bytes;
				queued += got;
				i += got;
				break;
			}
			qp->tx.stats.packets += k;
			qp->tx.stats.bytes += bytes;
			queued += k;
			room -= k;
			i += k;
		}
		if (k == lim)
			continue;
		/* pkts[i] is not a plain one-segment frame of ours */
		r = tx_general(drv, qp, pkts[i], &room);
		if (r <= 0)
			break;
		queued += r == 2;
		i++;
	}
	if (queued) {
		vq_drv_publish(qp->tx.d);
		vnet_drv_queue_kick(&qp->tx);
	}
	return i;
}
