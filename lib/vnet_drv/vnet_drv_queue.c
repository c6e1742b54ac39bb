/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: one virtqueue's set-up and kick —
 * theory of operation
 *
 * A queue is the driver side of a ring (struct vq_drv over ring memory in
 * the shared block) plus its two eventfds: kick (we write, the device
 * reads) and call (the device writes, we read). Creating builds the ring
 * (vq_drv_new initialises the memory) so buffers can be posted before the
 * device learns of the ring; starting hands the ring to the backend
 * (SET_VRING_NUM/ADDR/BASE/CALL/KICK) and enables it. Ring code knows no
 * fds: vq_drv_kick_prepare() reports and vnet_drv_queue_kick() writes.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/efd.h"
#include "vnet_drv_internal.h"

void vnet_drv_queue_init(struct vnet_drv_queue *q, unsigned index)
{
	*q = (struct vnet_drv_queue){.index = index, .kick_fd = -1, .call_fd = -1};
}

/**
 * vnet_drv_queue_create() - the ring and the eventfds of @q (offsets already
 * laid out), used-buffer notifications off.
 * @indirect_off: offset of @size indirect tables of VNET_DRV_MAX_SEGS
 *                descriptors, or 0 for none.
 * Return: 0 or -errno (the caller runs vnet_drv_queue_fini()).
 */
int vnet_drv_queue_create(struct vnet_drv *drv, struct vnet_drv_queue *q, uint32_t size,
			  uint64_t indirect_off)
{
	struct vq_drv_config dc = {
		.format = drv->format,
		.size = size,
		.features = drv->features,
		.desc = drv->shm.base + q->desc_off,
		.driver_area = drv->shm.base + q->driver_off,
		.device_area = drv->shm.base + q->device_off,
	};
	int rc;

	if (indirect_off) {
		dc.indirect = drv->shm.base + indirect_off;
		dc.indirect_gpa = drv->shm.gpa + indirect_off;
		dc.indirect_max = VNET_DRV_MAX_SEGS;
		q->ind_off = indirect_off;
	}
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick_fd < 0)
		return -errno;
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->call_fd < 0)
		return -errno;
	rc = vq_drv_new(&dc, &q->d);
	if (rc < 0)
		return rc == -VQ_ERR_NO_MEMORY ? -ENOMEM : -EINVAL;
	vq_drv_disable_used_notify(q->d);
	return 0;
}

/* The initial SET_VRING_BASE: split avail index 0; packed (QEMU/DPDK
 * encoding) both wrap counters 1 on a fresh ring (VIRTIO 1.2 §2.8.1). */
static uint32_t fresh_base(enum vq_format fmt)
{
	return fmt == VQ_FORMAT_PACKED ? (1u << 15) | (1u << 31) : 0;
}

/**
 * vnet_drv_queue_start() - hand @q to the backend and enable it (with
 * protocol features; without, rings run once kicked, vhost-user.rst
 * "Ring states"). Return: 0 or -errno from the frontend.
 */
int vnet_drv_queue_start(struct vnet_drv *drv, struct vnet_drv_queue *q, uint32_t size)
{
	uintptr_t base = (uintptr_t)drv->shm.base;
	struct vu_vring_setup s = {
		.num = size,
		.desc_uva = base + q->desc_off,
		.driver_uva = base + q->driver_off,
		.device_uva = base + q->device_off,
		.base = fresh_base(drv->format),
		.kick_fd = q->kick_fd,
		.call_fd = q->call_fd,
	};
	int rc;

	rc = vu_frontend_setup_vring(drv->fe, q->index, &s);
	if (rc < 0)
		return rc;
	if (drv->has_protocol)
		rc = vu_frontend_set_vring_enable(drv->fe, q->index, true);
	return rc;
}

void vnet_drv_queue_fini(struct vnet_drv_queue *q)
{
	if (q->d)
		vq_drv_free(q->d);
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	q->d = NULL;
	q->kick_fd = q->call_fd = -1;
}

/* After a publish: kick when the device wants to hear of it. */
void vnet_drv_queue_kick(struct vnet_drv_queue *q)
{
	if (!vq_drv_kick_prepare(q->d)) {
		q->stats.kicks_suppressed++;
		return;
	}
	q->stats.kicks++;
	efd_signal(q->kick_fd);
}
