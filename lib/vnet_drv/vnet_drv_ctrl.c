/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: control queue — theory of operation
 *
 * Commands (VIRTIO 1.2 §5.1.6.5) run one at a time on the control thread,
 * synchronously: the command (class, command, data) is written into the
 * control buffer in shared memory, posted as one chain (one readable
 * descriptor with header + data, one writable descriptor for the ack
 * byte), published and kicked; then the used ring is polled, sleeping on
 * the call eventfd between looks, until the chain comes back or
 * ctrl_timeout_ms passes. A chain that timed out is still in flight, so
 * the queue is not reused after a timeout (later commands fail with
 * -ETIMEDOUT at once rather than confuse two acks).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "base/clock.h"
#include "base/efd.h"
#include "vnet_drv_internal.h"
#include "spec/virtio_net.h"

/* Wait for the one chain in flight. Return: 0 (ack in @ack), -ETIMEDOUT,
 * -ENOTCONN (the device broke the ring). */
static int ctrl_wait(struct vnet_drv *drv, const volatile uint8_t *ack_byte, uint8_t *ack)
{
	struct vnet_drv_queue *q = &drv->ctrl;
	uint64_t deadline = clock_mono_ms() + drv->cfg.ctrl_timeout_ms;
	struct vq_drv_used u;

	for (;;) {
		int n = vq_drv_reap(q->d, &u, 1);
		struct pollfd pfd = {.fd = q->call_fd, .events = POLLIN};

		if (n < 0) {
			q->stats.errors++;
			return -ENOTCONN;
		}
		if (n == 1) {
			if (u.len < 1) {
				q->stats.drops++;
				return -EIO; /* no ack written (§5.1.6.5) */
			}
			*ack = *ack_byte;
			return 0;
		}
		if (clock_mono_ms() >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, 5) > 0)
			efd_drain(q->call_fd);
	}
}

/**
 * vnet_drv_ctrl_cmd() - send one command with @len bytes of @data.
 * Return: 0 (VIRTIO_NET_OK), -EIO, -ETIMEDOUT, -ENOTCONN, -EOPNOTSUPP
 * (no control queue), -EINVAL (data too long).
 */
static int vnet_drv_ctrl_cmd(struct vnet_drv *drv, uint8_t class, uint8_t cmd, const void *data,
			     uint32_t len)
{
	struct vnet_drv_queue *q = &drv->ctrl;
	uint8_t *buf = drv->shm.base + drv->ctrl_buf_off;
	struct vq_drv_buf bufs[2] = {
		{drv->shm.gpa + drv->ctrl_buf_off,
		 (uint32_t)sizeof(struct virtio_net_ctrl_hdr) + len},
		{drv->shm.gpa + drv->ctrl_buf_off + VNET_DRV_CTRL_ACK_OFF, 1},
	};
	struct virtio_net_ctrl_hdr h = {.class = class, .cmd = cmd};
	uint8_t ack = VIRTIO_NET_ERR;
	int rc;

	if (!q->d)
		return -EOPNOTSUPP;
	if (len > VNET_DRV_CTRL_ACK_OFF - sizeof(h))
		return -EINVAL;
	if (vq_drv_in_flight(q->d))
		return -ETIMEDOUT; /* an earlier command never came back */
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), data, len);
	buf[VNET_DRV_CTRL_ACK_OFF] = VIRTIO_NET_ERR;
	rc = vq_drv_add_chain(q->d, bufs, 1, 1, false, buf);
	if (rc < 0)
		return -ENOTCONN;
	vq_drv_publish(q->d);
	vnet_drv_queue_kick(q);
	rc = ctrl_wait(drv, buf + VNET_DRV_CTRL_ACK_OFF, &ack);
	if (rc < 0)
		return rc;
	q->stats.packets++;
	return ack == VIRTIO_NET_OK ? 0 : -EIO;
}

/* MQ_VQ_PAIRS_SET (§5.1.6.5.5): traffic on the first @pairs pairs. */
int vnet_drv_ctrl_mq_pairs(struct vnet_drv *drv, unsigned pairs)
{
	le16 n = (le16)pairs;

	return vnet_drv_ctrl_cmd(drv, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &n,
				 sizeof(n));
}

static int ctrl_rx_mode(struct vnet_drv *drv, uint8_t cmd, bool on)
{
	uint8_t v = on;

	if (!vq_has_feature(drv->features, VIRTIO_NET_F_CTRL_RX))
		return -EOPNOTSUPP;
	return vnet_drv_ctrl_cmd(drv, VIRTIO_NET_CTRL_RX, cmd, &v, 1);
}

VQNET_EXPORT int vnet_drv_set_promisc(struct vnet_drv *drv, bool on)
{
	if (!drv)
		return -EINVAL;
	return ctrl_rx_mode(drv, VIRTIO_NET_CTRL_RX_PROMISC, on);
}

VQNET_EXPORT int vnet_drv_set_allmulti(struct vnet_drv *drv, bool on)
{
	if (!drv)
		return -EINVAL;
	return ctrl_rx_mode(drv, VIRTIO_NET_CTRL_RX_ALLMULTI, on);
}

VQNET_EXPORT int vnet_drv_set_mac(struct vnet_drv *drv, const uint8_t mac[6])
{
	int rc;

	if (!drv || !mac)
		return -EINVAL;
	if (!vq_has_feature(drv->features, VIRTIO_NET_F_CTRL_MAC_ADDR))
		return -EOPNOTSUPP;
	rc = vnet_drv_ctrl_cmd(drv, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, 6);
	if (rc == 0)
		memcpy(drv->mac, mac, 6);
	return rc;
}
