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
 * The packet itself is the chain's token: when the device is done,
 * reaping frees it to the pool. Reaping is lazy — only when a burst finds
 * fewer than tx_reap_below descriptors free — so a burst usually touches
 * the used ring once every few bursts. One publish and at most one kick
 * per burst (vq_drv_kick_needed()). Nothing here allocates.
 */
#include <errno.h>
#include <string.h>

#include "net_drv_internal.h"
#include "spec/virtio_net.h"

/* Is @ol something the negotiated features let the device finish? */
static bool tx_offload_ok(const struct vnet_drv *drv, const struct vnet_drv_offload *ol)
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

static void tx_write_hdr(struct vnet_drv_pkt *pkt)
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

/* Free every frame the device has finished with. Return: count or -ENOTCONN. */
static int tx_reap(struct vnet_drv_qpair *qp)
{
	struct vq_drv_used used[32];
	int total = 0, n;

	while ((n = vq_drv_reap(qp->tx.d, used, ARRAY_SIZE(used))) > 0) {
		for (int i = 0; i < n; i++)
			vnet_drv_pkt_free(used[i].token);
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

VQNET_EXPORT unsigned vnet_drv_tx_burst(struct vnet_drv *drv, unsigned qpi,
					struct vnet_drv_pkt **pkts, unsigned n)
{
	struct vq_drv_buf bufs[VNET_DRV_MAX_SEGS];
	struct vnet_drv_qpair *qp;
	unsigned i, queued = 0;

	if (unlikely(!drv || qpi >= drv->nqp || !pkts))
		return 0;
	qp = &drv->qp[qpi];
	if (vq_drv_free_descs(qp->tx.d) < qp->tx_reap_below)
		tx_reap(qp);
	for (i = 0; i < n; i++) {
		struct vnet_drv_pkt *pkt = pkts[i];
		unsigned nbufs;
		bool indirect;
		int id;

		if (unlikely(pkt->pool != &qp->pool))
			break; /* another pair's packet: not ours to free here */
		nbufs = tx_frame_bufs(&qp->pool, pkt, bufs);
		if (unlikely(nbufs == 0 || !tx_offload_ok(drv, &pkt->ol))) {
			qp->tx.stats.drops++;
			vnet_drv_pkt_free(pkt);
			continue;
		}
		indirect = nbufs > 1 && qp->tx_indirect;
		if (vq_drv_free_descs(qp->tx.d) < (indirect ? 1 : nbufs)) {
			tx_reap(qp);
			if (vq_drv_free_descs(qp->tx.d) < (indirect ? 1 : nbufs))
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
	}
	if (queued) {
		vq_drv_publish(qp->tx.d);
		net_drv_queue_kick(&qp->tx);
	}
	return i;
}
