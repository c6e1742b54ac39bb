/* SPDX-License-Identifier: MIT */
/*
 * The transmit path of the virtio-net device: transmitq (2k+1) to the
 * backend's tx(k).
 *
 * Theory of operation. A turn pops a burst of up to NET_DEV_BURST chains into
 * elements whose iovec arrays were allocated at worker start. Each chain
 * is a 12-byte struct virtio_net_hdr_v1 followed by the frame (VIRTIO 1.2
 * §5.1.6; the header may span iovecs). A frame is checked in this order,
 * each failure dropped and counted on the queue:
 *   malformed chain (vq drop code)     -> BAD_CHAIN
 *   shorter than header + Ethernet     -> TX_SHORT
 *   header rules (§5.1.6.2, the HOST_* features negotiated) -> TX_BAD_HDR
 *   no GSO and longer than MTU + 14 (+4 with an 802.1Q tag) -> TX_MTU
 *   link down                          -> LINK_DOWN
 * then the rate limiter: out of tokens, the chains not yet sent are given
 * back (vq_unpop, newest first) and the worker sleeps until tokens return,
 * so frames are delayed, never lost. A frame whose offload the backend
 * cannot take (caps) is linearised and finished here (net_dev_csum_finish, or
 * net_dev_gso_* segments sent in batches); others go to the backend as the
 * guest's iovecs with their metadata, one tx() call per burst. Frames the
 * backend did not take count as TX_BACKEND. Every chain popped is then
 * completed with length 0 (the device writes nothing on a transmitq; with
 * IN_ORDER one batch entry covers the burst) and the driver is notified if
 * the ring asks for it. The header and the Ethernet header of a frame
 * without GSO are read straight from the first buffer when it holds them;
 * GSO headers are parsed from a private copy.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/iov.h"
#include "net_dev/net_dev_internal.h"
#include "spec/ethernet.h"

enum tx_verdict {
	TX_SEND, /* staged for the backend as is */
	TX_SOFT, /* the device finishes the offload first */
	TX_DROP, /* counted */
};

/* Backend caps a GSO type needs (ECN bit included). */
static uint32_t gso_caps_needed(uint8_t gso_type)
{
	uint32_t c = gso_type & VIRTIO_NET_HDR_GSO_ECN ? NETBE_CAP_ECN : 0;

	switch (gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return c | NETBE_CAP_TSO4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return c | NETBE_CAP_TSO6;
	case VIRTIO_NET_HDR_GSO_UDP:
		return c | NETBE_CAP_UFO;
	default:
		return c;
	}
}

/* §5.1.6.2: offloads used only when negotiated (CSUM for NEEDS_CSUM,
 * HOST_TSO4/TSO6/UFO for the GSO types, HOST_ECN for the ECN bit). */
static const char *meta_features_check(const struct netbe_meta *m, uint64_t features)
{
	unsigned bit;

	if ((m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    !vq_has_feature(features, VIRTIO_NET_F_CSUM))
		return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
	if (m->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return NULL;
	if ((m->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    !vq_has_feature(features, VIRTIO_NET_F_HOST_ECN))
		return "GSO ECN without VIRTIO_NET_F_HOST_ECN";
	switch (m->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		bit = VIRTIO_NET_F_HOST_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		bit = VIRTIO_NET_F_HOST_TSO6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		bit = VIRTIO_NET_F_HOST_UFO;
		break;
	default:
		return NULL; /* net_dev_tx_meta_check() names unknown types */
	}
	return vq_has_feature(features, bit) ? NULL : "GSO type not negotiated";
}

static void tx_drop(struct net_dev_worker *w, enum net_dev_drop why)
{
	net_dev_drop(w->d, w->tx.index, why);
}

/* Check one chain; on TX_SEND / TX_SOFT *meta and *len describe the frame
 * (which starts VIRTIO_NET_HDR_LEN bytes into the chain). */
static enum tx_verdict tx_classify(struct net_dev_worker *w, const struct vq_elem *e,
				   struct netbe_meta *meta, uint32_t *len)
{
	struct net_dev *d = w->d;
	struct virtio_net_hdr_v1 h;
	uint8_t head_copy[NET_DEV_TX_HEAD_MAX];
	const uint8_t *head = head_copy;
	uint32_t head_len, max;
	const char *why = NULL;
	uint32_t need;

	if (e->err == VQ_ERR_CONSUMED)
		return TX_DROP; /* sent before a restart: only completed, not a drop */
	if (e->err != VQ_OK) {
		tx_drop(w, NET_DEV_DROP_BAD_CHAIN);
		return TX_DROP;
	}
	if (e->out_len < VIRTIO_NET_HDR_LEN + ETH_HDR_LEN) {
		tx_drop(w, NET_DEV_DROP_TX_SHORT);
		return TX_DROP;
	}
	/* The header in the first buffer (every driver's layout but the
	 * legacy one): one fixed-size copy. */
	if (e->iov[0].iov_len >= sizeof(h))
		memcpy(&h, e->iov[0].iov_base, sizeof(h));
	else
		iov_to_buf(e->iov, e->nout, 0, &h, sizeof(h));
	/* §5.1.6.2.2: flag bits other than NEEDS_CSUM are ignored (and not
	 * passed on: a TAP would see them in its vnet header). */
	*meta = (struct netbe_meta){.flags = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = h.gso_type,
				    .hdr_len = le16toh(h.hdr_len),
				    .gso_size = le16toh(h.gso_size),
				    .csum_start = le16toh(h.csum_start),
				    .csum_offset = le16toh(h.csum_offset)};
	*len = e->out_len - VIRTIO_NET_HDR_LEN;
	head_len = *len < NET_DEV_TX_HEAD_MAX ? *len : NET_DEV_TX_HEAD_MAX;
	if (meta->gso_type == VIRTIO_NET_HDR_GSO_NONE &&
	    e->iov[0].iov_len >= VIRTIO_NET_HDR_LEN + ETH_HDR_LEN) {
		/* Without GSO only the Ethernet header is looked at (the
		 * 802.1Q test below; net_dev_tx_meta_check() parses the headers
		 * of GSO frames only), each byte once: read it in place. */
		head = (const uint8_t *)e->iov[0].iov_base + VIRTIO_NET_HDR_LEN;
		head_len = ETH_HDR_LEN;
	} else {
		/* GSO headers are parsed from a private copy: the guest may
		 * change its buffers at any time. */
		iov_to_buf(e->iov, e->nout, VIRTIO_NET_HDR_LEN, head_copy, head_len);
	}
	why = meta_features_check(meta, w->features);
	/* net_dev_tx_meta_check() has nothing to object to in a frame without
	 * offloads (no GSO, no NEEDS_CSUM): skip the call. */
	if (!why &&
	    (meta->gso_type != VIRTIO_NET_HDR_GSO_NONE ||
	     (meta->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) &&
	    net_dev_tx_meta_check(head, head_len, *len, meta, &why) < 0 && !why)
		why = "header rules";
	if (why) {
		tx_drop(w, NET_DEV_DROP_TX_BAD_HDR);
		vqnet_log_limited(&w->log_tx_hdr, 1000, VQNET_LOG_WARN, "virtio-net",
				  "txq%u: frame dropped: %s (flags %#x gso %#x)", w->pair, why,
				  meta->flags, meta->gso_type);
		return TX_DROP;
	}
	/* §5.1.6.2: without GSO the frame must fit the MTU (§5.1.4.2). */
	max = w->mtu + ETH_HDR_LEN +
	      (eth_frame_type(head) == ETH_TYPE_8021Q ? ETH_VLAN_TAG_LEN : 0u);
	if (meta->gso_type == VIRTIO_NET_HDR_GSO_NONE && *len > max) {
		tx_drop(w, NET_DEV_DROP_TX_MTU);
		return TX_DROP;
	}
	if (!atomic_load_explicit(&d->link_up, memory_order_relaxed)) {
		tx_drop(w, NET_DEV_DROP_LINK_DOWN);
		return TX_DROP;
	}
	/* DATA_VALID means nothing on transmit (§5.1.6.2.1): not passed on. */
	meta->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (meta->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		/* A GSO frame's partial checksum needs CSUM too: a backend
		 * with TSO but no CSUM gets it segmented and finished here. */
		need = gso_caps_needed(meta->gso_type) |
		       (meta->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM ? NETBE_CAP_CSUM : 0u);
		return (d->be_caps & need) == need ? TX_SEND : TX_SOFT;
	}
	if ((meta->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(d->be_caps & NETBE_CAP_CSUM))
		return TX_SOFT;
	return TX_SEND;
}

/*
 * The backend's tx() for @n frames of chains @ids. With inflight tracking
 * (a restart state file, docs/vqnetd.md "Restart without loss") the
 * burst's chains are marked consumed just before it is handed on, so a
 * kill at any point never sends a frame twice after the restart (and
 * loses at most the burst marked, before its write: the backends write a
 * burst with one system call, which a kill cannot split).
 */
static int tx_backend(struct net_dev_worker *w, const struct netbe_txpkt *pkts, const uint16_t *ids,
		      unsigned n)
{
	struct net_dev *d = w->d;

	if (vq_inflight_tracked(w->tx.vq)) {
		for (unsigned i = 0; i < n; i++)
			vq_inflight_consume(w->tx.vq, ids[i]);
	}
	return d->be->ops->tx(d->be, w->pair, pkts, n);
}

/* Hand @n staged frames (of chains @ids) to the backend; count what it took. */
static void tx_send(struct net_dev_worker *w, const struct netbe_txpkt *pkts, const uint16_t *ids,
		    unsigned n)
{
	struct net_dev *d = w->d;
	struct net_dev_queue_stats *s = &d->stats[w->tx.index];
	uint64_t bytes = 0;
	int sent;

	if (!n)
		return;
	if (unlikely(w->cap))
		net_dev_cap_tx(w->cap, pkts, n);
	sent = tx_backend(w, pkts, ids, n);
	if (sent < 0)
		sent = 0;
	if ((unsigned)sent > n)
		sent = (int)n;
	for (int i = 0; i < sent; i++)
		bytes += pkts[i].len;
	counter_add(&s->packets, sent);
	counter_add(&s->bytes, bytes);
	if ((unsigned)sent < n)
		counter_add(&s->drops[NET_DEV_DROP_TX_BACKEND], n - (unsigned)sent);
}

/* Send @n segments; return how many the backend took. */
static unsigned tx_send_segs(struct net_dev_worker *w, const struct netbe_txpkt *pkts, unsigned n)
{
	int sent;

	if (unlikely(w->cap) && n)
		net_dev_cap_tx(w->cap, pkts, n);
	sent = n ? w->d->be->ops->tx(w->d->be, w->pair, pkts, n) : 0;

	return sent < 0 ? 0 : (unsigned)sent > n ? n : (unsigned)sent;
}

/* Segment the linearised frame of @len bytes and send the segments.
 * Return 0, -EINVAL (the offload cannot be done) or -EIO (the backend
 * refused a segment). */
static int tx_soft_gso(struct net_dev_worker *w, uint16_t id, uint32_t len,
		       const struct netbe_meta *meta)
{
	struct netbe_txpkt pkts[NET_DEV_TX_SEGS];
	struct iovec iov[NET_DEV_TX_SEGS];
	struct net_dev_gso_iter it;
	unsigned k = 0, lost = 0;
	int sl;

	if (net_dev_gso_init(&it, w->tx_lin, len, meta) < 0)
		return -EINVAL;
	/* Segments of one chain: consumed once, before the first leaves. */
	vq_inflight_consume(w->tx.vq, id);
	while ((sl = net_dev_gso_next(&it, w->tx_seg[k], NET_DEV_FRAME_MAX)) > 0) {
		iov[k] = (struct iovec){.iov_base = w->tx_seg[k], .iov_len = (size_t)sl};
		pkts[k] = (struct netbe_txpkt){.iov = &iov[k], .iovcnt = 1, .len = (uint32_t)sl};
		if (++k == NET_DEV_TX_SEGS) {
			lost += k - tx_send_segs(w, pkts, k);
			k = 0;
		}
	}
	lost += k - tx_send_segs(w, pkts, k);
	if (sl < 0)
		return -EINVAL;
	counter_add(&w->d->stats[w->tx.index].gso_segmented, 1);
	return lost ? -EIO : 0;
}

/* Finish the offload the backend lacks, then send the result. */
static void tx_soft(struct net_dev_worker *w, const struct vq_elem *e,
		    const struct netbe_meta *meta, uint32_t len)
{
	struct net_dev_queue_stats *s = &w->d->stats[w->tx.index];
	struct netbe_txpkt pkt;
	struct iovec iov;
	int rc;

	if (len > NET_DEV_FRAME_MAX) {
		tx_drop(w, NET_DEV_DROP_TX_OFFLOAD);
		return;
	}
	iov_to_buf(e->iov, e->nout, VIRTIO_NET_HDR_LEN, w->tx_lin, len);
	if (meta->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		rc = tx_soft_gso(w, e->id, len, meta);
		if (rc == -EINVAL)
			tx_drop(w, NET_DEV_DROP_TX_OFFLOAD);
		else if (rc == -EIO)
			tx_drop(w, NET_DEV_DROP_TX_BACKEND);
		if (rc == 0) {
			counter_add(&s->packets, 1);
			counter_add(&s->bytes, len);
		}
		return;
	}
	if (net_dev_csum_finish(w->tx_lin, len, meta->csum_start, meta->csum_offset) < 0) {
		tx_drop(w, NET_DEV_DROP_TX_OFFLOAD);
		return;
	}
	counter_add(&s->csum_finished, 1);
	iov = (struct iovec){.iov_base = w->tx_lin, .iov_len = len};
	pkt = (struct netbe_txpkt){.iov = &iov, .iovcnt = 1, .len = len};
	tx_send(w, &pkt, &e->id, 1);
}

/* Out of tokens at element @i: give back elements @i..@n-1 (newest
 * first) and sleep until a frame of @len bytes may pass. Return the
 * number of elements that stay popped. */
static unsigned tx_rate_stop(struct net_dev_worker *w, unsigned i, unsigned n, uint32_t len,
			     uint64_t now)
{
	uint64_t wait = net_dev_limiter_wait_ns(&w->rl_tx, len, now);

	for (unsigned j = n; j-- > i;)
		if (vq_unpop(w->tx.vq, &w->tx_elems[j]) < 0) {
			/* cannot happen for chains just popped; keep them */
			return j + 1;
		}
	counter_add(&w->d->stats[w->tx.index].rate_limited, 1);
	w->tx_wait_until = now + (wait ? wait : 1000);
	return i;
}

/*
 * The common case in one loop, from chain @i on: a well-formed chain of
 * one buffer holding header and frame, no offload asked for (no GSO, no
 * NEEDS_CSUM; other flag bits are ignored, §5.1.6.2.2), within the MTU,
 * link up, no rate limit. Such a frame goes to the backend as is (its
 * header needs no check beyond those two fields). Stages frames into
 * tx_pkts[*nstage ..] and returns the index of the first chain that needs
 * tx_classify(), or @n.
 */
static unsigned tx_turn_fast(struct net_dev_worker *w, unsigned n, unsigned *nstage)
{
	/* Locals: guest memory reads could alias *w as far as the compiler
	 * knows. */
	const struct vq_elem *elems = w->tx_elems;
	struct netbe_txpkt *pkts = w->tx_pkts;
	struct iovec *one = w->tx_one;
	const uint32_t max = w->mtu + ETH_HDR_LEN;
	unsigned i, k = *nstage;

	if (!atomic_load_explicit(&w->d->link_up, memory_order_relaxed))
		return 0;
	/* Headers and frames were written by the driver: ask for the first
	 * and last line of every one-buffer chain before the first is read. */
	for (i = 0; i < n; i++) {
		if (elems[i].err == VQ_OK && elems[i].nout == 1 && elems[i].iov[0].iov_len) {
			const uint8_t *p = elems[i].iov[0].iov_base;

			__builtin_prefetch(p);
			__builtin_prefetch(p + elems[i].iov[0].iov_len - 1);
		}
	}
	for (i = 0; i < n; i++) {
		const struct vq_elem *e = &elems[i];
		const uint8_t *p = e->iov[0].iov_base;
		struct virtio_net_hdr_v1 h;
		uint32_t len;

		if (e->err != VQ_OK || e->nout != 1 ||
		    e->iov[0].iov_len < VIRTIO_NET_HDR_LEN + ETH_HDR_LEN)
			break;
		memcpy(&h, p, sizeof(h));
		len = (uint32_t)e->iov[0].iov_len - VIRTIO_NET_HDR_LEN;
		if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
		    h.gso_type != VIRTIO_NET_HDR_GSO_NONE || len > max)
			break; /* an 802.1Q frame over max is for tx_classify() too */
		one[k] = (struct iovec){.iov_base = (uint8_t *)p + VIRTIO_NET_HDR_LEN,
					.iov_len = len};
		pkts[k] = (struct netbe_txpkt){.iov = &one[k], .iovcnt = 1, .len = len};
		w->tx_stage_id[k] = e->id;
		k++;
	}
	*nstage = k;
	return i;
}

unsigned net_dev_tx_turn(struct net_dev_worker *w)
{
	struct net_dev_ring *r = &w->tx;
	bool limited = !net_dev_limiter_unlimited(&w->rl_tx);
	unsigned n, i, nstage = 0;
	int err = 0;

	if (w->tx_wait_until) {
		if (clock_mono_ns() < w->tx_wait_until)
			return 0;
		w->tx_wait_until = 0;
	}
	/* An empty ring costs one peek (a full pop attempt otherwise);
	 * chains recovered from the inflight region and a queue broken
	 * behind our back (vq_set_mem) still go through the pop. */
	if (!vq_avail_pending(r->vq) && !vq_inflight_resubmit_pending(r->vq) &&
	    !vq_is_broken(r->vq))
		return 0;
	n = vq_pop_burst(r->vq, w->tx_elems, NET_DEV_BURST, &err);
	i = limited ? 0 : tx_turn_fast(w, n, &nstage);
	for (; i < n; i++) {
		struct vq_elem *e = &w->tx_elems[i];
		struct netbe_txpkt *p = &w->tx_pkts[nstage];
		struct netbe_meta meta;
		enum tx_verdict v;
		uint32_t len;
		int cnt;

		v = tx_classify(w, e, &meta, &len);
		if (v == TX_DROP)
			continue;
		if (limited) {
			uint64_t now = clock_mono_ns();

			if (!net_dev_limiter_consume(&w->rl_tx, len, now)) {
				n = tx_rate_stop(w, i, n, len, now);
				break;
			}
		}
		if (v == TX_SOFT) {
			tx_send(w, w->tx_pkts, w->tx_stage_id, nstage); /* keep the order */
			nstage = 0;
			tx_soft(w, e, &meta, len);
			continue;
		}
		if (e->nout == 1) {
			/* One buffer (header and frame): no cursor walk. */
			w->tx_tail[(size_t)nstage * NET_DEV_TX_IOV_CAP] = (struct iovec){
				.iov_base = (uint8_t *)e->iov[0].iov_base + VIRTIO_NET_HDR_LEN,
				.iov_len = len};
			cnt = 1;
		} else {
			cnt = iov_tail(e->iov, e->nout, VIRTIO_NET_HDR_LEN,
				       w->tx_tail + (size_t)nstage * NET_DEV_TX_IOV_CAP,
				       NET_DEV_TX_IOV_CAP);
		}
		*p = (struct netbe_txpkt){.iov = w->tx_tail + (size_t)nstage * NET_DEV_TX_IOV_CAP,
					  .iovcnt = cnt < 0 ? 0 : (unsigned)cnt,
					  .len = len,
					  .meta = meta};
		w->tx_stage_id[nstage] = e->id;
		nstage++;
	}
	tx_send(w, w->tx_pkts, w->tx_stage_id, nstage);
	if (n > 1 && vq_has_feature(w->features, VIRTIO_F_IN_ORDER) && vq_in_flight(r->vq) == n) {
		/* Every chain is completed with length 0, its whole
		 * writable part: one batch entry (§2.7.9, §2.8.8). */
		if (vq_push_in_order(r->vq, n, 0) < 0)
			counter_add(&w->d->stats[r->index].errors, 1);
	} else if (n) {
		for (i = 0; i < n; i++)
			w->tx_used[i] = (struct vq_used){.id = w->tx_elems[i].id, .len = 0};
		if (vq_push_burst(r->vq, w->tx_used, n) < 0)
			counter_add(&w->d->stats[r->index].errors, 1);
	}
	if (n)
		net_dev_ring_notify(w, r);
	if (err < 0 && !vq_err_is_drop(err))
		net_dev_ring_broken(w, r, err);
	return n;
}
