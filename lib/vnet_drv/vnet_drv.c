/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: open, negotiate, close — theory of
 * operation
 *
 * vnet_drv_open() plays the frontend's part of vhost-user.rst in the order
 * QEMU and DPDK's virtio-user use:
 *   1. connect; SET_OWNER; GET_FEATURES (VERSION_1 required);
 *   2. with PROTOCOL_FEATURES: GET/SET_PROTOCOL_FEATURES, keeping
 *      REPLY_ACK, CONFIG, MQ and BACKEND_REQ of what is offered;
 *   3. SET_FEATURES: offered AND wanted AND supported (+ VERSION_1, the
 *      ring format's bit, PROTOCOL_FEATURES); dependent features go with
 *      their base (§5.1.3.1);
 *   4. the backend request channel (config change events), config space
 *      (MAC, link, max_virtqueue_pairs) when the backend serves it;
 *   5. one shared memory block (memfd or hugetlbfs): rings, indirect
 *      tables, control buffer, pools (layout in vnet_drv_internal.h);
 *      SET_MEM_TABLE;
 *   6. per pair: pool, rx ring filled, tx ring; then every ring started
 *      (SET_VRING_NUM/ADDR/BASE/CALL/KICK) and enabled; the control queue
 *      last, then MQ_VQ_PAIRS_SET when MQ was negotiated.
 * Any failure tears down what was built (vnet_drv_destroy() copes with a
 * half-built device, so every step has one exit) and returns -errno.
 *
 * Close only disconnects: the backend stops its rings when the socket
 * closes, and it maps the memory through its own fd, so unmapping ours
 * right away is safe.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "vnet_drv_internal.h"
#include "spec/vhost_user_msg.h"
#include "spec/virtio_net.h"

#define F(bit) (1ull << (bit))

#define WANTED_PROTOCOL_FEATURES                                                                   \
	(F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_CONFIG) |                    \
	 F(VHOST_USER_PROTOCOL_F_MQ) | F(VHOST_USER_PROTOCOL_F_BACKEND_REQ))

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int apply_defaults(const struct vnet_drv_config *in, struct vnet_drv_config *c)
{
	*c = *in;
	c->socket_path = NULL;
	if (!c->connect_timeout_ms)
		c->connect_timeout_ms = 5000;
	if (!c->queue_pairs)
		c->queue_pairs = 1;
	if (!c->ring_size)
		c->ring_size = 256;
	if (!c->features)
		c->features = VNET_DRV_FEATURES_DEFAULT;
	if (!c->pool_size)
		c->pool_size = 4 * c->ring_size;
	if (!c->buf_data_room)
		c->buf_data_room = 2048;
	if (!c->rx_frame_max)
		c->rx_frame_max = 1518;
	if (!c->ctrl_timeout_ms)
		c->ctrl_timeout_ms = 2000;
	if (c->queue_pairs > VNET_DRV_MAX_QUEUE_PAIRS || c->ring_size < 2 ||
	    c->ring_size > VQ_MAX_QUEUE_SIZE || (c->ring_size & (c->ring_size - 1)) ||
	    c->buf_data_room < 64 || c->buf_data_room > 65535 ||
	    c->ring_format > VNET_DRV_RING_PACKED || c->rx_frame_max > 65550 ||
	    c->pool_size < 2 * c->ring_size || c->pool_size > (1u << 24))
		return -EINVAL;
	return 0;
}

/* Steps 1-3: features and protocol features. */
static int negotiate(struct vnet_drv *drv)
{
	const struct vnet_drv_config *c = &drv->cfg;
	uint64_t offered, want, pf;
	int rc;

	rc = vu_frontend_set_owner(drv->fe);
	if (rc < 0)
		return rc;
	rc = vu_frontend_get_features(drv->fe, &offered);
	if (rc < 0)
		return rc;
	if (!vq_has_feature(offered, VIRTIO_F_VERSION_1))
		return -EOPNOTSUPP;
	drv->has_protocol = vq_has_feature(offered, VHOST_USER_F_PROTOCOL_FEATURES);
	if (drv->has_protocol) {
		rc = vu_frontend_get_protocol_features(drv->fe, &pf);
		if (rc < 0)
			return rc;
		pf &= WANTED_PROTOCOL_FEATURES;
		rc = vu_frontend_set_protocol_features(drv->fe, pf);
		if (rc < 0)
			return rc;
		drv->protocol_features = pf;
	}

	want = (c->features & VNET_DRV_FEATURES_SUPPORTED) | F(VIRTIO_F_VERSION_1);
	want &= ~F(VIRTIO_F_RING_PACKED);
	if (c->ring_format != VNET_DRV_RING_SPLIT)
		want |= F(VIRTIO_F_RING_PACKED);
	if (c->queue_pairs == 1)
		want &= ~F(VIRTIO_NET_F_MQ);
	drv->features = offered & want;
	if (!vq_has_feature(drv->features, VIRTIO_NET_F_CTRL_VQ))
		drv->features &= ~(F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_MQ) |
				   F(VIRTIO_NET_F_CTRL_MAC_ADDR));
	if (c->ring_format == VNET_DRV_RING_PACKED &&
	    !vq_has_feature(drv->features, VIRTIO_F_RING_PACKED))
		return -EOPNOTSUPP;
	if (c->queue_pairs > 1 && !vq_has_feature(drv->features, VIRTIO_NET_F_MQ))
		return -EOPNOTSUPP;
	drv->format = vq_has_feature(drv->features, VIRTIO_F_RING_PACKED) ? VQ_FORMAT_PACKED
									  : VQ_FORMAT_SPLIT;
	return vu_frontend_set_features(
		drv->fe,
		drv->features | (drv->has_protocol ? F(VHOST_USER_F_PROTOCOL_FEATURES) : 0));
}

/* Step 4: events, config space, MAC, the number of pairs the device has. */
static int read_device(struct vnet_drv *drv)
{
	struct virtio_net_config cfg;
	uint64_t nq;
	int rc;

	if (drv->protocol_features & F(VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		rc = vu_frontend_open_backend_req(drv->fe);
		if (rc < 0)
			return rc;
	}
	if (drv->protocol_features & F(VHOST_USER_PROTOCOL_F_CONFIG)) {
		rc = vu_frontend_get_config(drv->fe, 0, &cfg, sizeof(cfg));
		if (rc < 0 && rc != -EIO)
			return rc;
		drv->has_config = rc == 0;
	}
	if (drv->has_config && vq_has_feature(drv->features, VIRTIO_NET_F_MAC)) {
		memcpy(drv->mac, cfg.mac, 6);
	} else {
		if (getrandom(drv->mac, 6, 0) != 6)
			memcpy(drv->mac, "\x02\x00\x00\x00\x00\x01", 6);
		drv->mac[0] = (uint8_t)((drv->mac[0] & 0xfe) | 0x02); /* unicast, local */
	}
	/* §5.1.4.1: 68..65535; anything else is no advice at all */
	if (drv->has_config && vq_has_feature(drv->features, VIRTIO_NET_F_MTU) &&
	    le16toh(cfg.mtu) >= 68)
		drv->mtu = le16toh(cfg.mtu);
	drv->max_qp = 1;
	if (vq_has_feature(drv->features, VIRTIO_NET_F_MQ)) {
		if (drv->has_config) {
			drv->max_qp = cfg.max_virtqueue_pairs;
		} else if (drv->protocol_features & F(VHOST_USER_PROTOCOL_F_MQ)) {
			rc = vu_frontend_get_queue_num(drv->fe, &nq);
			if (rc < 0)
				return rc;
			drv->max_qp = (unsigned)(nq / 2);
		}
		if (drv->max_qp < 1 || drv->max_qp > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX ||
		    2 * drv->max_qp + 1 > VU_MAX_QUEUES)
			return -EPROTO;
	}
	if (drv->cfg.queue_pairs > drv->max_qp)
		return -EOPNOTSUPP;
	drv->nqp = drv->cfg.queue_pairs;
	return 0;
}

/* Ring parts of @q at *off, advancing it. */
static int layout_queue(struct vnet_drv *drv, struct vnet_drv_queue *q, uint32_t size,
			uint64_t *off)
{
	struct vq_layout l;

	if (vq_layout(drv->format, size, &l) < 0)
		return -EINVAL;
	q->desc_off = align_up(*off, 4096);
	q->driver_off = align_up(q->desc_off + l.desc_bytes, VQNET_CACHELINE);
	q->device_off = align_up(q->driver_off + l.driver_bytes, VQNET_CACHELINE);
	*off = q->device_off + l.device_bytes;
	return 0;
}

/* Step 5: lay out and allocate the shared memory, share it. */
static int setup_memory(struct vnet_drv *drv, uint64_t *ind_off, uint64_t *pool_off,
			uint32_t *stride)
{
	const struct vnet_drv_config *c = &drv->cfg;
	bool indirect = vq_has_feature(drv->features, VIRTIO_F_INDIRECT_DESC);
	uint64_t off = 0;
	int rc;

	for (unsigned i = 0; i < drv->nqp; i++) {
		rc = layout_queue(drv, &drv->qp[i].rx, c->ring_size, &off);
		if (rc == 0)
			rc = layout_queue(drv, &drv->qp[i].tx, c->ring_size, &off);
		if (rc < 0)
			return rc;
	}
	if (vq_has_feature(drv->features, VIRTIO_NET_F_CTRL_VQ)) {
		rc = layout_queue(drv, &drv->ctrl, VNET_DRV_CTRL_SIZE, &off);
		if (rc < 0)
			return rc;
	}
	*ind_off = 0;
	if (indirect) {
		*ind_off = align_up(off, 4096);
		off = *ind_off + (uint64_t)drv->nqp * c->ring_size * VNET_DRV_MAX_SEGS * 16;
	}
	drv->ctrl_buf_off = align_up(off, 4096);
	off = drv->ctrl_buf_off + VNET_DRV_CTRL_BUF;
	*stride = (uint32_t)align_up(VNET_DRV_HEADROOM + c->buf_data_room, VQNET_CACHELINE);
	/* An odd number of lines, as DPDK's mempool sizes its objects: with
	 * an even one the same line of consecutive buffers falls in only half
	 * the cache sets (docs/performance.md: DPDK's vhost delivered 18.5
	 * instead of 23.5 Mpps on a packed ring with 34-line buffers). */
	if ((*stride / VQNET_CACHELINE) % 2 == 0)
		*stride += VQNET_CACHELINE;
	*pool_off = align_up(off, 4096);
	off = *pool_off + (uint64_t)drv->nqp * c->pool_size * *stride;
	rc = vu_shm_alloc(off, VNET_DRV_GPA, c->hugepages, &drv->shm);
	if (rc < 0)
		return rc;
	return vu_frontend_set_mem_table(drv->fe, &drv->shm, 1);
}

/* Step 6 for one pair: pool, rings, rx filled. */
static int setup_pair(struct vnet_drv *drv, struct vnet_drv_qpair *qp, unsigned i, uint64_t ind_off,
		      uint64_t pool_off, uint32_t stride)
{
	const struct vnet_drv_config *c = &drv->cfg;
	uint64_t pbase = pool_off + (uint64_t)i * c->pool_size * stride;
	uint32_t room = stride - VNET_DRV_RX_HEADROOM, frame_max = c->rx_frame_max;
	int rc;

	rc = vnet_drv_pool_init(&qp->pool, drv->shm.base + pbase, drv->shm.gpa + pbase,
				c->pool_size, stride);
	if (rc < 0)
		return rc;
	qp->rx_chain_bufs = 1;
	if (!vq_has_feature(drv->features, VIRTIO_NET_F_MRG_RXBUF)) {
		/* §5.1.6.3.1: without MRG_RXBUF but with GUEST_TSO a buffer
		 * chain holds 65562 bytes (header included) */
		if (vq_has_feature(drv->features, VIRTIO_NET_F_GUEST_TSO4) ||
		    vq_has_feature(drv->features, VIRTIO_NET_F_GUEST_TSO6))
			frame_max = 65550;
		qp->rx_chain_bufs =
			(frame_max + 2 * VNET_DRV_HDR_LEN + room - 1) / (room + VNET_DRV_HDR_LEN);
		if (qp->rx_chain_bufs > VNET_DRV_MAX_SEGS || qp->rx_chain_bufs > c->ring_size)
			return -EINVAL;
	}
	qp->tx_reap_below = c->ring_size / 2;
	qp->tx_indirect = ind_off != 0;
	rc = vnet_drv_queue_create(drv, &qp->rx, c->ring_size, 0);
	if (rc == 0)
		rc = vnet_drv_queue_create(drv, &qp->tx, c->ring_size,
					   ind_off ? ind_off + (uint64_t)i * c->ring_size *
								       VNET_DRV_MAX_SEGS * 16
						   : 0);
	if (rc < 0)
		return rc;
	vnet_drv_rx_refill(drv, qp);
	return 0;
}

static int start_rings(struct vnet_drv *drv)
{
	int rc;

	for (unsigned i = 0; i < drv->nqp; i++) {
		rc = vnet_drv_queue_start(drv, &drv->qp[i].rx, drv->cfg.ring_size);
		if (rc == 0)
			rc = vnet_drv_queue_start(drv, &drv->qp[i].tx, drv->cfg.ring_size);
		if (rc < 0)
			return rc;
		/* buffers posted before the ring started: tell the device */
		vnet_drv_queue_kick(&drv->qp[i].rx);
	}
	if (!drv->ctrl.d)
		return 0;
	rc = vnet_drv_queue_start(drv, &drv->ctrl, VNET_DRV_CTRL_SIZE);
	if (rc == 0 && vq_has_feature(drv->features, VIRTIO_NET_F_MQ))
		rc = vnet_drv_ctrl_mq_pairs(drv, drv->nqp);
	return rc;
}

/* Tear down whatever open built (any stage). */
static void vnet_drv_destroy(struct vnet_drv *drv)
{
	if (drv->fe)
		vu_frontend_close(drv->fe);
	for (unsigned i = 0; drv->qp && i < drv->cfg.queue_pairs; i++) {
		vnet_drv_rx_fini(&drv->qp[i]);
		vnet_drv_queue_fini(&drv->qp[i].rx);
		vnet_drv_queue_fini(&drv->qp[i].tx);
		vnet_drv_pool_fini(&drv->qp[i].pool);
	}
	vnet_drv_queue_fini(&drv->ctrl);
	vu_shm_free(&drv->shm);
	free(drv->qp);
	free(drv);
}

static int open_steps(struct vnet_drv *drv, const char *path)
{
	uint64_t ind_off, pool_off;
	uint32_t stride;
	int rc;

	rc = vu_frontend_connect(path, drv->cfg.connect_timeout_ms, &drv->fe);
	if (rc == 0)
		rc = negotiate(drv);
	if (rc == 0)
		rc = read_device(drv);
	if (rc == 0)
		rc = setup_memory(drv, &ind_off, &pool_off, &stride);
	for (unsigned i = 0; rc == 0 && i < drv->nqp; i++)
		rc = setup_pair(drv, &drv->qp[i], i, ind_off, pool_off, stride);
	if (rc == 0 && vq_has_feature(drv->features, VIRTIO_NET_F_CTRL_VQ)) {
		drv->ctrl.index = 2 * drv->max_qp;
		rc = vnet_drv_queue_create(drv, &drv->ctrl, VNET_DRV_CTRL_SIZE, 0);
		if (rc == 0)
			vq_drv_enable_used_notify(drv->ctrl.d);
	}
	if (rc == 0)
		rc = start_rings(drv);
	return rc;
}

VQNET_EXPORT int vnet_drv_open(const struct vnet_drv_config *cfg, struct vnet_drv **out)
{
	struct vnet_drv *drv;
	int rc;

	if (!cfg || !cfg->socket_path || !out)
		return -EINVAL;
	drv = calloc(1, sizeof(*drv));
	if (!drv)
		return -ENOMEM;
	drv->shm.fd = -1;
	rc = apply_defaults(cfg, &drv->cfg);
	if (rc < 0) {
		free(drv);
		return rc;
	}
	vnet_drv_queue_init(&drv->ctrl, 0);
	drv->qp = aligned_alloc(VQNET_CACHELINE,
				align_up(sizeof(*drv->qp) * drv->cfg.queue_pairs, VQNET_CACHELINE));
	if (!drv->qp) {
		free(drv);
		return -ENOMEM;
	}
	memset(drv->qp, 0, sizeof(*drv->qp) * drv->cfg.queue_pairs);
	for (unsigned i = 0; i < drv->cfg.queue_pairs; i++) {
		vnet_drv_queue_init(&drv->qp[i].rx, 2 * i);
		vnet_drv_queue_init(&drv->qp[i].tx, 2 * i + 1);
	}
	rc = open_steps(drv, cfg->socket_path);
	if (rc < 0) {
		vnet_drv_destroy(drv);
		return rc;
	}
	*out = drv;
	return 0;
}

VQNET_EXPORT void vnet_drv_close(struct vnet_drv *drv)
{
	if (drv)
		vnet_drv_destroy(drv);
}

VQNET_EXPORT uint64_t vnet_drv_features(const struct vnet_drv *drv)
{
	return drv ? drv->features : 0;
}

VQNET_EXPORT enum vnet_drv_ring_format vnet_drv_ring_format(const struct vnet_drv *drv)
{
	return drv && drv->format == VQ_FORMAT_PACKED ? VNET_DRV_RING_PACKED : VNET_DRV_RING_SPLIT;
}

VQNET_EXPORT unsigned vnet_drv_queue_pairs(const struct vnet_drv *drv)
{
	return drv ? drv->nqp : 0;
}

VQNET_EXPORT void vnet_drv_mac(const struct vnet_drv *drv, uint8_t mac[6])
{
	if (drv && mac)
		memcpy(mac, drv->mac, 6);
}

VQNET_EXPORT unsigned vnet_drv_mtu(const struct vnet_drv *drv)
{
	return drv ? drv->mtu : 0;
}

VQNET_EXPORT int vnet_drv_link_up(struct vnet_drv *drv)
{
	le16 status;
	int rc;

	if (!drv)
		return -EINVAL;
	if (!drv->has_config || !vq_has_feature(drv->features, VIRTIO_NET_F_STATUS))
		return 1;
	rc = vu_frontend_get_config(drv->fe, offsetof(struct virtio_net_config, status), &status,
				    sizeof(status));
	if (rc < 0)
		return rc;
	return (status & VIRTIO_NET_S_LINK_UP) != 0;
}

VQNET_EXPORT int vnet_drv_event_fd(const struct vnet_drv *drv)
{
	return drv ? vu_frontend_backend_req_fd(drv->fe) : -1;
}

VQNET_EXPORT int vnet_drv_poll_events(struct vnet_drv *drv)
{
	unsigned before;

	if (!drv)
		return -EINVAL;
	before = vu_frontend_config_changes(drv->fe);
	for (;;) {
		struct pollfd pfd = {.fd = vu_frontend_backend_req_fd(drv->fe), .events = POLLIN};
		int rc;

		if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
			break;
		rc = vu_frontend_dispatch_backend_req(drv->fe);
		if (rc < 0 && rc != -EOPNOTSUPP)
			return rc;
	}
	drv->config_changes = vu_frontend_config_changes(drv->fe);
	return (int)(drv->config_changes - before);
}

VQNET_EXPORT unsigned vnet_drv_config_changes(const struct vnet_drv *drv)
{
	return drv ? drv->config_changes : 0;
}

VQNET_EXPORT int vnet_drv_conn_fd(const struct vnet_drv *drv)
{
	return drv ? vu_frontend_fd(drv->fe) : -1;
}
