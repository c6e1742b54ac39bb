/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net device (VIRTIO 1.2 §5.1): features, config space, the
 * vhost-user device callbacks and the control queue. Control thread only.
 *
 * Theory of operation. net_dev_new() computes the features offered (one
 * place: offered_features()) and the config space. The vhost-user backend
 * calls the ops below on the control thread: queue_start hands a ring to
 * the worker of its queue pair (created on the pair's first start),
 * queue_stop takes it back, and both, like every change to what a worker
 * reads (enable, call fd, features, MTU, filter, guest offloads), happen
 * with the worker parked by the pause handshake (net_dev_worker.c), so no lock
 * sits on the data path. The control queue (index 2 * max pairs) belongs
 * to no worker: the daemon watches net_dev_ctrl_fd() and calls
 * net_dev_ctrl_process(), which runs net_dev_ctrlq_process() with hooks that
 * publish their effects to the workers the same way.
 *
 * Queue pairs: pair k is served when both its rings are started and
 * enabled (SET_VRING_ENABLE, how QEMU and cloud-hypervisor switch queue
 * pairs when they keep the control queue) and k < the count set by
 * VQ_PAIRS_SET (§5.1.6.5.5, when the device serves the control queue; all
 * pairs until then). The backend learns the count of served pairs through
 * set_queue_pairs().
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/efd.h"
#include "net_dev/net_dev_ctrlq.h"
#include "net_dev/net_dev_internal.h"
#include "spec/ethernet.h"

#define RARP_FRAME_LEN 60u

static unsigned ctrl_index(const struct net_dev *d)
{
	return 2 * d->max_pairs;
}

/* GUEST_* feature bits -> the backend caps that produce them. */
static uint32_t offloads_to_caps(uint64_t offloads)
{
	uint32_t c = 0;

	if (vq_has_feature(offloads, VIRTIO_NET_F_GUEST_CSUM))
		c |= NETBE_CAP_CSUM;
	if (vq_has_feature(offloads, VIRTIO_NET_F_GUEST_TSO4))
		c |= NETBE_CAP_TSO4;
	if (vq_has_feature(offloads, VIRTIO_NET_F_GUEST_TSO6))
		c |= NETBE_CAP_TSO6;
	if (vq_has_feature(offloads, VIRTIO_NET_F_GUEST_ECN))
		c |= NETBE_CAP_ECN;
	if (vq_has_feature(offloads, VIRTIO_NET_F_GUEST_UFO))
		c |= NETBE_CAP_UFO;
	return c;
}

/* Every feature the device implements, in one place (§5.1.3, §6). */
static uint64_t offered_features(const struct net_dev_config *cfg, uint32_t caps)
{
	static const struct {
		unsigned bit;
		uint32_t cap;
	} guest[] = {
		{VIRTIO_NET_F_GUEST_CSUM, NETBE_CAP_CSUM},
		{VIRTIO_NET_F_GUEST_TSO4, NETBE_CAP_TSO4},
		{VIRTIO_NET_F_GUEST_TSO6, NETBE_CAP_TSO6},
		{VIRTIO_NET_F_GUEST_ECN, NETBE_CAP_ECN},
		{VIRTIO_NET_F_GUEST_UFO, NETBE_CAP_UFO},
	};
	/* Transmit offloads are always offered (the device finishes them in
	 * software when the backend lacks the cap), except UFO, which only a
	 * backend that takes it gets. */
	uint64_t f =
		NET_DEV_F(VIRTIO_F_VERSION_1) | NET_DEV_F(VIRTIO_F_RING_PACKED) |
		NET_DEV_F(VIRTIO_F_EVENT_IDX) | NET_DEV_F(VIRTIO_F_INDIRECT_DESC) |
		NET_DEV_F(VIRTIO_F_IN_ORDER) | NET_DEV_F(VIRTIO_NET_F_MAC) |
		NET_DEV_F(VIRTIO_NET_F_STATUS) | NET_DEV_F(VIRTIO_NET_F_SPEED_DUPLEX) |
		NET_DEV_F(VIRTIO_NET_F_MRG_RXBUF) | NET_DEV_F(VIRTIO_NET_F_CSUM) |
		NET_DEV_F(VIRTIO_NET_F_HOST_TSO4) | NET_DEV_F(VIRTIO_NET_F_HOST_TSO6) |
		NET_DEV_F(VIRTIO_NET_F_HOST_ECN) | NET_DEV_F(VIRTIO_NET_F_CTRL_VQ) |
		NET_DEV_F(VIRTIO_NET_F_CTRL_RX) | NET_DEV_F(VIRTIO_NET_F_CTRL_VLAN) |
		NET_DEV_F(VIRTIO_NET_F_CTRL_RX_EXTRA) | NET_DEV_F(VIRTIO_NET_F_GUEST_ANNOUNCE) |
		NET_DEV_F(VIRTIO_NET_F_CTRL_MAC_ADDR) | NET_DEV_F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);

	if (caps & NETBE_CAP_UFO)
		f |= NET_DEV_F(VIRTIO_NET_F_HOST_UFO);
	/* The guest only receives offloaded frames a backend can produce. */
	for (unsigned i = 0; i < ARRAY_SIZE(guest); i++)
		if (caps & guest[i].cap)
			f |= NET_DEV_F(guest[i].bit);
	if (cfg->mtu)
		f |= NET_DEV_F(VIRTIO_NET_F_MTU);
	if (cfg->queue_pairs > 1)
		f |= NET_DEV_F(VIRTIO_NET_F_MQ);
	return f & ~cfg->features_off;
}

static void config_set_status(struct net_dev *d, uint16_t set, uint16_t clear)
{
	uint16_t s = le16toh(d->config.status);

	d->config.status = htole16((uint16_t)((s | set) & ~clear));
}

/* ------------------------------------------------------------------------
 * Workers: pause all, recompute which pairs are served
 * ------------------------------------------------------------------------ */

void net_dev_pause_all(struct net_dev *d)
{
	for (unsigned k = 0; k < d->max_pairs; k++)
		net_dev_worker_pause(d->workers[k]);
}

void net_dev_resume_all(struct net_dev *d)
{
	for (unsigned k = 0; k < d->max_pairs; k++)
		net_dev_worker_resume(d->workers[k]);
}

void net_dev_sync_all(struct net_dev *d)
{
	for (unsigned k = 0; k < d->max_pairs; k++)
		if (d->workers[k])
			net_dev_worker_sync(d->workers[k]);
}

/* With every worker parked: mark the served pairs and tell the backend. */
static void update_active(struct net_dev *d)
{
	unsigned n = 0;

	for (unsigned k = 0; k < d->max_pairs; k++) {
		struct net_dev_worker *w = d->workers[k];
		bool on = w && w->rx.vq && w->tx.vq && w->rx.enabled && w->tx.enabled &&
			  k < d->mq_pairs;

		if (w)
			w->active = on;
		n += on;
	}
	if (n && n != d->be_pairs && d->be->ops->set_queue_pairs) {
		int rc = d->be->ops->set_queue_pairs(d->be, n);

		if (rc < 0)
			vqnet_log(VQNET_LOG_WARN, "virtio-net", "backend set_queue_pairs(%u): %d",
				  n, rc);
		d->be_pairs = n;
	}
}

static void publish_filter(struct net_dev *d)
{
	for (unsigned k = 0; k < d->max_pairs; k++) {
		struct net_dev_worker *w = d->workers[k];

		if (!w)
			continue;
		net_dev_worker_pause(w);
		memcpy(&w->filter, &d->filter, sizeof(w->filter));
		net_dev_worker_resume(w);
	}
}

/* With every worker parked: give the backend the guest's offloads. */
static int set_rx_offloads(struct net_dev *d)
{
	if (!d->be->ops->set_rx_offloads)
		return 0;
	return d->be->ops->set_rx_offloads(d->be, offloads_to_caps(d->guest_offloads) & d->be_caps);
}

/* ------------------------------------------------------------------------
 * vhost-user device callbacks
 * ------------------------------------------------------------------------ */

/* Names of the feature bits, for the log line of each negotiation. */
static const char *const feature_names[64] = {
	[VIRTIO_NET_F_CSUM] = "CSUM",
	[VIRTIO_NET_F_GUEST_CSUM] = "GUEST_CSUM",
	[VIRTIO_NET_F_CTRL_GUEST_OFFLOADS] = "CTRL_GUEST_OFFLOADS",
	[VIRTIO_NET_F_MTU] = "MTU",
	[VIRTIO_NET_F_MAC] = "MAC",
	[VIRTIO_NET_F_GUEST_TSO4] = "GUEST_TSO4",
	[VIRTIO_NET_F_GUEST_TSO6] = "GUEST_TSO6",
	[VIRTIO_NET_F_GUEST_ECN] = "GUEST_ECN",
	[VIRTIO_NET_F_GUEST_UFO] = "GUEST_UFO",
	[VIRTIO_NET_F_HOST_TSO4] = "HOST_TSO4",
	[VIRTIO_NET_F_HOST_TSO6] = "HOST_TSO6",
	[VIRTIO_NET_F_HOST_ECN] = "HOST_ECN",
	[VIRTIO_NET_F_HOST_UFO] = "HOST_UFO",
	[VIRTIO_NET_F_MRG_RXBUF] = "MRG_RXBUF",
	[VIRTIO_NET_F_STATUS] = "STATUS",
	[VIRTIO_NET_F_CTRL_VQ] = "CTRL_VQ",
	[VIRTIO_NET_F_CTRL_RX] = "CTRL_RX",
	[VIRTIO_NET_F_CTRL_VLAN] = "CTRL_VLAN",
	[VIRTIO_NET_F_CTRL_RX_EXTRA] = "CTRL_RX_EXTRA",
	[VIRTIO_NET_F_GUEST_ANNOUNCE] = "GUEST_ANNOUNCE",
	[VIRTIO_NET_F_MQ] = "MQ",
	[VIRTIO_NET_F_CTRL_MAC_ADDR] = "CTRL_MAC_ADDR",
	[VIRTIO_F_INDIRECT_DESC] = "INDIRECT_DESC",
	[VIRTIO_F_EVENT_IDX] = "EVENT_IDX",
	[VIRTIO_F_VERSION_1] = "VERSION_1",
	[VIRTIO_F_RING_PACKED] = "RING_PACKED",
	[VIRTIO_F_IN_ORDER] = "IN_ORDER",
	[VIRTIO_NET_F_SPEED_DUPLEX] = "SPEED_DUPLEX",
};

VQNET_EXPORT const char *net_dev_feature_name(unsigned bit)
{
	return bit < 64 ? feature_names[bit] : NULL;
}

static void log_features(const char *what, uint64_t features)
{
	char names[512];
	size_t n = 0;

	if (!vqnet_log_enabled(VQNET_LOG_INFO))
		return;
	names[0] = '\0';
	for (unsigned bit = 0; bit < 64 && n < sizeof(names); bit++) {
		if (!vq_has_feature(features, bit))
			continue;
		if (feature_names[bit])
			n += (size_t)snprintf(names + n, sizeof(names) - n, " %s",
					      feature_names[bit]);
		else
			n += (size_t)snprintf(names + n, sizeof(names) - n, " bit%u", bit);
	}
	vqnet_log(VQNET_LOG_INFO, NULL, "%s 0x%016" PRIx64 "%s", what, features, names);
}

static int dev_set_features(void *opaque, uint64_t features)
{
	struct net_dev *d = opaque;
	int rc;

	if (features & ~d->offered) {
		log_features("refused features (not offered)", features & ~d->offered);
		return -EINVAL;
	}
	/* The same features again (QEMU toggling LOG_ALL for migration while
	 * rings run): keep the control queue's filter and offload state. */
	if (d->features_set && features == d->features)
		return 0;
	log_features("features", features);
	net_dev_pause_all(d);
	d->features = features;
	d->features_set = true;
	d->guest_offloads = features & NET_DEV_GUEST_OFFLOAD_MASK;
	d->mq_pairs = vq_has_feature(features, VIRTIO_NET_F_MQ) ? d->max_pairs : 1;
	net_dev_rx_filter_reset(&d->filter, d->config.mac,
				vq_has_feature(features, VIRTIO_NET_F_CTRL_VLAN));
	rc = set_rx_offloads(d);
	if (rc < 0)
		vqnet_log(VQNET_LOG_WARN, "virtio-net", "backend set_rx_offloads: %d", rc);
	net_dev_sync_all(d);
	update_active(d);
	net_dev_resume_all(d);
	return 0;
}

static int dev_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct net_dev *d = opaque;

	if (offset > sizeof(d->config) || len > sizeof(d->config) - offset)
		return -EINVAL;
	memcpy(buf, (const uint8_t *)&d->config + offset, len);
	return 0;
}

static struct net_dev_ring *worker_ring(struct net_dev_worker *w, unsigned index)
{
	return index & 1 ? &w->tx : &w->rx;
}

static int dev_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct net_dev *d = opaque;
	struct net_dev_ring ring = {.index = vr->index,
				    .vq = vr->vq,
				    .kick_fd = vr->kick_fd,
				    .call_fd = vr->call_fd,
				    .enabled = vr->enabled};
	struct net_dev_worker *w;
	unsigned pair = vr->index / 2;
	int rc;

	vqnet_log(VQNET_LOG_INFO, NULL, "queue %u started: %s ring, size %u%s", vr->index,
		  vq_get_format(vr->vq) == VQ_FORMAT_PACKED ? "packed" : "split",
		  vq_get_size(vr->vq), vr->enabled ? ", enabled" : "");
	if (vr->index == ctrl_index(d)) {
		d->ctrl = ring;
		d->ever_started[vr->index] = true;
		counter_add(&d->stats[vr->index].starts, 1);
		return 0;
	}
	if (vr->index > ctrl_index(d))
		return -EINVAL;
	if (!d->workers[pair]) {
		rc = net_dev_worker_new(d, pair, &d->workers[pair]);
		if (rc < 0) {
			vqnet_log(VQNET_LOG_ERROR, "virtio-net", "worker for queue pair %u: %d",
				  pair, rc);
			return rc;
		}
	}
	w = d->workers[pair];
	net_dev_pause_all(d);
	*worker_ring(w, vr->index) = ring;
	if (!(vr->index & 1)) {
		/* Buffer writes are logged by gpa while the frontend asks
		 * (vu_backend_logging() changes only with the rings stopped). */
		gmem_table_put(w->mem);
		w->mem = NULL;
		w->logging = d->vb && vu_backend_logging(d->vb);
		if (w->logging)
			w->mem = vu_backend_mem(d->vb);
	}
	net_dev_worker_sync(w);
	update_active(d);
	net_dev_resume_all(d);
	d->ever_started[vr->index] = true;
	counter_add(&d->stats[vr->index].starts, 1);
	return 0;
}

static void dev_queue_stop(void *opaque, unsigned index)
{
	struct net_dev *d = opaque;
	struct net_dev_worker *w;
	struct net_dev_ring *r;

	if (index == ctrl_index(d)) {
		d->ctrl.vq = NULL;
		d->ctrl.kick_fd = d->ctrl.call_fd = -1;
		return;
	}
	if (index > ctrl_index(d) || !(w = d->workers[index / 2]))
		return;
	net_dev_pause_all(d);
	r = worker_ring(w, index);
	*r = (struct net_dev_ring){.index = index, .kick_fd = -1, .call_fd = -1};
	if (!(index & 1)) {
		gmem_table_put(w->mem);
		w->mem = NULL;
		w->logging = false;
	}
	update_active(d);
	net_dev_resume_all(d);
}

static void dev_queue_enable(void *opaque, unsigned index, bool enabled)
{
	struct net_dev *d = opaque;
	struct net_dev_worker *w;

	if (index == ctrl_index(d)) {
		d->ctrl.enabled = enabled;
		return;
	}
	if (index > ctrl_index(d) || !(w = d->workers[index / 2]))
		return;
	net_dev_pause_all(d);
	worker_ring(w, index)->enabled = enabled;
	update_active(d);
	net_dev_resume_all(d);
}

static void dev_queue_call_fd(void *opaque, unsigned index, int call_fd)
{
	struct net_dev *d = opaque;
	struct net_dev_worker *w;

	if (index == ctrl_index(d)) {
		d->ctrl.call_fd = call_fd;
		return;
	}
	if (index > ctrl_index(d) || !(w = d->workers[index / 2]))
		return;
	net_dev_worker_pause(w);
	worker_ring(w, index)->call_fd = call_fd;
	net_dev_worker_resume(w);
}

/* A gratuitous RARP for @mac, as QEMU's announce sends (opcode 3, reverse
 * request; sender and target hardware address = @mac). */
static void build_rarp(uint8_t f[RARP_FRAME_LEN], const uint8_t mac[6])
{
	static const uint8_t arp_hdr[8] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03};

	memset(f, 0, RARP_FRAME_LEN);
	memset(f, 0xff, ETH_ADDR_LEN);
	memcpy(f + ETH_ADDR_LEN, mac, ETH_ADDR_LEN);
	f[ETH_TYPE_OFF] = 0x80; /* EtherType 0x8035, RARP */
	f[ETH_TYPE_OFF + 1] = 0x35;
	memcpy(f + ETH_HDR_LEN, arp_hdr, sizeof(arp_hdr));
	memcpy(f + 22, mac, 6); /* sender hardware address; protocol address 0 */
	memcpy(f + 32, mac, 6); /* target hardware address; protocol address 0 */
}

static void dev_send_rarp(void *opaque, const uint8_t mac[6])
{
	struct net_dev *d = opaque;
	uint8_t frame[RARP_FRAME_LEN];
	struct iovec iov = {.iov_base = frame, .iov_len = sizeof(frame)};
	struct netbe_txpkt pkt = {.iov = &iov, .iovcnt = 1, .len = sizeof(frame)};
	int rc = 0;

	build_rarp(frame, mac);
	/* Sent from the control thread with queue pair 0's worker parked:
	 * tx(0) still has one caller at a time. */
	net_dev_pause_all(d);
	if (!d->be_pairs && d->be->ops->set_queue_pairs) {
		rc = d->be->ops->set_queue_pairs(d->be, 1);
		d->be_pairs = 1;
	}
	if (rc >= 0)
		rc = d->be->ops->tx(d->be, 0, &pkt, 1);
	net_dev_resume_all(d);
	if (rc != 1)
		vqnet_log(VQNET_LOG_WARN, "virtio-net", "RARP announce not sent (%d)", rc);
}

static int dev_set_mtu(void *opaque, uint16_t mtu)
{
	struct net_dev *d = opaque;

	if (mtu < 68)
		return -EINVAL;
	net_dev_pause_all(d);
	d->mtu = mtu;
	net_dev_sync_all(d);
	net_dev_resume_all(d);
	return 0;
}

static void dev_reset(void *opaque)
{
	struct net_dev *d = opaque;

	/* Every ring is stopped: the workers are idle and go away; the next
	 * connection starts fresh ones. */
	for (unsigned k = 0; k < d->max_pairs; k++) {
		net_dev_worker_free(d->workers[k]);
		d->workers[k] = NULL;
	}
	d->ctrl = (struct net_dev_ring){.index = ctrl_index(d), .kick_fd = -1, .call_fd = -1};
	d->features = 0;
	d->features_set = false;
	d->guest_offloads = 0;
	d->mtu = d->cfg.mtu ? d->cfg.mtu : VQNET_MTU_DEFAULT;
	d->mq_pairs = d->max_pairs;
	memcpy(d->config.mac, d->cfg.mac, 6);
	config_set_status(d, 0, VIRTIO_NET_S_ANNOUNCE);
	net_dev_rx_filter_reset(&d->filter, d->config.mac, false);
}

/* §5.1.2 and §2.7.5.1: the device only writes a receiveq (2k) and only
 * reads a transmitq (2k+1); a descriptor of the other direction makes the
 * chain a drop (HOSTILE A18). The control queue has both. */
static enum vq_dir dev_queue_dir(void *opaque, unsigned index)
{
	const struct net_dev *d = opaque;

	if (index >= ctrl_index(d))
		return VQ_DIR_BOTH;
	return index & 1 ? VQ_DIR_DEVICE_READS : VQ_DIR_DEVICE_WRITES;
}

static const struct vu_device_ops net_dev_ops = {
	.queue_dir = dev_queue_dir,
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_enable = dev_queue_enable,
	.queue_call_fd = dev_queue_call_fd,
	.send_rarp = dev_send_rarp,
	.set_mtu = dev_set_mtu,
	.reset = dev_reset,
};

VQNET_EXPORT const struct vu_device_ops *net_dev_vu_ops(void)
{
	return &net_dev_ops;
}

VQNET_EXPORT void net_dev_attach(struct net_dev *d, struct vu_backend *b)
{
	d->vb = b;
}

/* ------------------------------------------------------------------------
 * Control queue (§5.1.6.5), on the control thread
 * ------------------------------------------------------------------------ */

static void ctrl_filter_changed(void *opaque)
{
	publish_filter(opaque);
}

static void ctrl_mac_changed(void *opaque, const uint8_t mac[6])
{
	struct net_dev *d = opaque;

	memcpy(d->config.mac, mac, 6);
}

static int ctrl_set_queue_pairs(void *opaque, unsigned pairs)
{
	struct net_dev *d = opaque;

	if (pairs < 1 || pairs > d->max_pairs)
		return -EINVAL;
	net_dev_pause_all(d);
	d->mq_pairs = pairs;
	update_active(d);
	net_dev_resume_all(d);
	return 0;
}

static int ctrl_set_guest_offloads(void *opaque, uint64_t offloads)
{
	struct net_dev *d = opaque;
	int rc;

	net_dev_pause_all(d);
	d->guest_offloads = offloads & NET_DEV_GUEST_OFFLOAD_MASK & d->features;
	rc = set_rx_offloads(d);
	net_dev_sync_all(d);
	net_dev_resume_all(d);
	return rc < 0 ? rc : 0;
}

static void ctrl_announce_ack(void *opaque)
{
	config_set_status(opaque, 0, VIRTIO_NET_S_ANNOUNCE);
}

/* The limiter of @line's reason (its text up to the first ':', digits
 * left out): the slot holding that reason, else a new one (the oldest
 * reused when all are taken). */
static struct vqnet_log_limit *ctrl_reason_limit(struct net_dev *d, const char *line)
{
	char key[sizeof(d->ctrl_reasons[0].key)];
	size_t n = 0;
	struct net_dev_log_reason *r;

	for (const char *p = line; *p && *p != ':' && n + 1 < sizeof(key); p++)
		if (*p < '0' || *p > '9')
			key[n++] = *p;
	key[n] = '\0';
	for (unsigned i = 0; i < NET_DEV_LOG_REASONS; i++)
		if (!strcmp(d->ctrl_reasons[i].key, key))
			return &d->ctrl_reasons[i].limit;
	r = &d->ctrl_reasons[d->ctrl_reason_next++ % NET_DEV_LOG_REASONS];
	memcpy(r->key, key, n + 1);
	r->limit = (struct vqnet_log_limit){0};
	return &r->limit;
}

static void ctrl_log(void *opaque, enum vqnet_log_level level, const char *line)
{
	struct net_dev *d = opaque;

	vqnet_log_limited(ctrl_reason_limit(d, line), 1000, level, NULL, "%s", line);
}

VQNET_EXPORT int net_dev_ctrl_fd(const struct net_dev *d)
{
	if (!d->ctrl.vq || !vq_has_feature(d->features, VIRTIO_NET_F_CTRL_VQ))
		return -1;
	return d->ctrl.kick_fd;
}

VQNET_EXPORT void net_dev_ctrl_process(struct net_dev *d)
{
	struct net_dev_queue_stats *s = &d->stats[ctrl_index(d)];
	struct net_dev_ctrlq_target t = {
		.features = d->features,
		.max_queue_pairs = d->max_pairs,
		.filter = &d->filter,
		.opaque = d,
		.filter_changed = ctrl_filter_changed,
		.mac_changed = ctrl_mac_changed,
		.set_queue_pairs = ctrl_set_queue_pairs,
		.set_guest_offloads = ctrl_set_guest_offloads,
		.announce_ack = ctrl_announce_ack,
		.log = ctrl_log,
	};
	bool notify = false, more = false;
	int rc, done = 0;

	if (!d->ctrl.vq)
		return;
	if (efd_drain(d->ctrl.kick_fd) > 0 && !d->ctrl_resched)
		counter_add(&s->kicks, 1);
	d->ctrl_resched = false;
	if (d->ctrl.broken || !d->ctrl.enabled ||
	    !vq_has_feature(d->features, VIRTIO_NET_F_CTRL_VQ))
		return;
	/* Serve until the ring is empty with kicks enabled (re-enabling
	 * publishes avail_event and catches a command that raced in,
	 * §2.7.10), or until the turn's budget is spent: a guest refilling
	 * the queue as fast as it is served must not keep the control thread
	 * from its signals and the vhost-user socket. */
	do {
		bool n = false;

		rc = net_dev_ctrlq_process(&t, d->ctrl.vq, NET_DEV_CTRLQ_BUDGET - (unsigned)done,
					   &n);
		notify |= n;
		if (rc < 0)
			break;
		done += rc;
		more = (unsigned)done == NET_DEV_CTRLQ_BUDGET;
	} while (!more && vq_enable_kicks(d->ctrl.vq));
	if (more) {
		/* Come back once the caller's poll() has served the rest. */
		d->ctrl_resched = true;
		efd_signal(d->ctrl.kick_fd);
	}
	if (rc < 0) {
		counter_add(&s->errors, 1);
		d->ctrl.broken = true;
		if (d->vb)
			vu_backend_vring_error(d->vb, d->ctrl.index);
		vqnet_log(VQNET_LOG_ERROR, "virtio-net", "control queue broken: %s",
			  vq_strerror(rc));
		return;
	}
	counter_add(&s->packets, done);
	if (done > 0) {
		if (notify) {
			efd_signal(d->ctrl.call_fd);
			counter_add(&s->notify_sent, 1);
		} else {
			counter_add(&s->notify_suppressed, 1);
		}
	}
}

/* ------------------------------------------------------------------------
 * Link, announce
 * ------------------------------------------------------------------------ */

static void config_changed(struct net_dev *d)
{
	if (d->vb && vu_backend_connected(d->vb) && d->features_set) {
		int rc = vu_backend_config_changed(d->vb);

		if (rc < 0 && rc != -ENOTCONN && rc != -EOPNOTSUPP)
			vqnet_log(VQNET_LOG_WARN, "virtio-net", "config change notification: %d",
				  rc);
	}
}

VQNET_EXPORT void net_dev_set_link(struct net_dev *d, bool up)
{
	atomic_store(&d->link_up, up);
	if (up)
		config_set_status(d, VIRTIO_NET_S_LINK_UP, 0);
	else
		config_set_status(d, 0, VIRTIO_NET_S_LINK_UP);
	config_changed(d);
}

VQNET_EXPORT int net_dev_announce(struct net_dev *d)
{
	/* §5.1.6.5.4: only with GUEST_ANNOUNCE (which needs CTRL_VQ). */
	if (!vq_has_feature(d->features, VIRTIO_NET_F_GUEST_ANNOUNCE) ||
	    !vq_has_feature(d->features, VIRTIO_NET_F_CTRL_VQ))
		return -EOPNOTSUPP;
	config_set_status(d, VIRTIO_NET_S_ANNOUNCE, 0);
	config_changed(d);
	return 0;
}

/* The limiters belong to the workers: they are replaced while every worker
 * is parked, as for an MTU change, and start full (a new limit starts with
 * a second's worth, as at start-up). */
VQNET_EXPORT int net_dev_set_rate(struct net_dev *d, bool rx, const struct net_dev_rate *r)
{
	uint64_t now = clock_mono_ns();

	if (!d || !r)
		return -EINVAL;
	if (rx)
		d->cfg.rx_rate = *r;
	else
		d->cfg.tx_rate = *r;
	net_dev_pause_all(d);
	for (unsigned k = 0; k < d->max_pairs; k++) {
		struct net_dev_worker *w = d->workers[k];

		if (!w)
			continue;
		if (rx) {
			net_dev_limiter_init(&w->rl_rx, r, now);
			w->rx_limited = !net_dev_limiter_unlimited(&w->rl_rx);
			w->rx_wait_until = 0;
		} else {
			net_dev_limiter_init(&w->rl_tx, r, now);
			w->tx_wait_until = 0;
		}
	}
	net_dev_resume_all(d);
	return 0;
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

static bool config_valid(const struct net_dev_config *cfg)
{
	const struct netbe *be = cfg ? cfg->be : NULL;

	if (!be || !be->ops || !be->ops->tx || !be->ops->rx)
		return false;
	if (cfg->queue_pairs < 1 || cfg->queue_pairs > NET_DEV_MAX_QUEUE_PAIRS)
		return false;
	if (be->max_queue_pairs && cfg->queue_pairs > be->max_queue_pairs)
		return false;
	return cfg->mtu == 0 || cfg->mtu >= 68;
}

VQNET_EXPORT int net_dev_new(const struct net_dev_config *cfg, struct net_dev **out)
{
	struct net_dev *d;
	bool up;

	if (!out || !config_valid(cfg))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->be = cfg->be;
	d->be_caps = d->be->ops->caps ? d->be->ops->caps(d->be) & NETBE_CAP_ALL : 0;
	d->max_pairs = cfg->queue_pairs;
	d->offered = offered_features(cfg, d->be_caps);
	d->mtu = cfg->mtu ? cfg->mtu : VQNET_MTU_DEFAULT;
	d->mq_pairs = d->max_pairs;
	d->ctrl = (struct net_dev_ring){.index = ctrl_index(d), .kick_fd = -1, .call_fd = -1};

	/* §5.1.4: config space, little-endian. */
	memcpy(d->config.mac, cfg->mac, 6);
	d->config.max_virtqueue_pairs = htole16((uint16_t)d->max_pairs);
	d->config.mtu = htole16(d->mtu);
	d->config.speed = htole32(cfg->speed_mbps ? cfg->speed_mbps : VIRTIO_NET_SPEED_UNKNOWN);
	d->config.duplex = cfg->speed_mbps ? (cfg->full_duplex ? VIRTIO_NET_DUPLEX_FULL
							       : VIRTIO_NET_DUPLEX_HALF)
					   : VIRTIO_NET_DUPLEX_UNKNOWN;
	up = d->be->ops->link_up ? d->be->ops->link_up(d->be) : true;
	atomic_init(&d->link_up, up);
	config_set_status(d, up ? VIRTIO_NET_S_LINK_UP : 0, 0);
	net_dev_rx_filter_reset(&d->filter, d->config.mac, false);
	*out = d;
	return 0;
}

VQNET_EXPORT void net_dev_free(struct net_dev *d)
{
	if (!d)
		return;
	for (unsigned k = 0; k < d->max_pairs; k++)
		net_dev_worker_free(d->workers[k]);
	free(d);
}

VQNET_EXPORT uint64_t net_dev_features(const struct net_dev *d)
{
	return d->offered;
}

VQNET_EXPORT unsigned net_dev_num_queues(const struct net_dev *d)
{
	return 2 * d->max_pairs + 1;
}

VQNET_EXPORT uint32_t net_dev_config_size(const struct net_dev *d)
{
	return (uint32_t)sizeof(d->config);
}
