/* SPDX-License-Identifier: MIT */
/* The recording device of the vhost-user backend fuzz target
 * (fuzz_backend.h). */
#include "fuzz_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "spec/virtio_ring.h"

static uint8_t sink;

bool fz_trace;

void dev_work(struct vq *q, unsigned n, bool hold)
{
	struct iovec iov[16];
	for (unsigned k = 0; k < n; k++) {
		struct vq_elem e = {.iov = iov, .iov_cap = 16};
		int rc = vq_pop(q, &e);
		if (rc == 0)
			break;
		if (rc < 0 && !vq_err_is_drop(rc))
			break; /* broken */
		uint32_t len = 0;
		if (rc == 1) {
			for (unsigned i = 0; i < (unsigned)e.nout + e.nin; i++) {
				uint8_t *b = iov[i].iov_base;
				if (!iov[i].iov_len)
					continue;
				sink ^= b[0] ^ b[iov[i].iov_len - 1];
				if (i >= e.nout) {
					b[0] = 0xa5;
					b[iov[i].iov_len - 1] = 0x5a;
				}
			}
			len = e.in_len;
		}
		if (fz_trace)
			fprintf(stderr, "fuzz: popped id %u rc %d out %u in %u\n", e.id, rc,
				e.out_len, e.in_len);
		if (hold && k + 1 == n)
			break;
		if (vq_push(q, e.id, len) != 0)
			break;
		(void)vq_notify_prepare(q);
	}
	(void)vq_enable_kicks(q);
	(void)vq_in_flight(q);
}

static int dev_set_features(void *opaque, uint64_t features)
{
	(void)opaque;
	if (features & ~DEV_FEATURES)
		abort();
	return 0;
}

static int dev_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct dev *d = opaque;
	if ((uint64_t)offset + len > CONFIG_SIZE)
		abort();
	memcpy(buf, d->config + offset, len);
	return 0;
}

static int dev_set_config(void *opaque, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	struct dev *d = opaque;
	if ((uint64_t)offset + len > CONFIG_SIZE)
		abort();
	memcpy(d->config + offset, buf, len);
	return 0;
}

static int dev_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct dev *d = opaque;
	/* kick_fd is -1 after SET_VRING_KICK with NOFD (the device polls). */
	if (vr->index >= NQUEUES || d->vq[vr->index] || !vr->vq ||
	    (vr->kick_fd >= 0 && fcntl(vr->kick_fd, F_GETFD) < 0) || vr->kick_fd < -1)
		abort();
	if (d->refuse && ++d->start_calls % 4 == 0)
		return -EINVAL;
	d->vq[vr->index] = vr->vq;
	d->starts++;
	dev_work(vr->vq, d->pops, false);
	return 0;
}

static void dev_queue_stop(void *opaque, unsigned index)
{
	struct dev *d = opaque;
	if (index >= NQUEUES || !d->vq[index])
		abort();
	d->vq[index] = NULL;
	d->stops++;
}

static void dev_queue_enable(void *opaque, unsigned index, bool enabled)
{
	struct dev *d = opaque;
	(void)enabled;
	if (index >= NQUEUES || !d->vq[index])
		abort();
}

static void dev_queue_call_fd(void *opaque, unsigned index, int call_fd)
{
	struct dev *d = opaque;
	(void)call_fd;
	if (index >= NQUEUES || !d->vq[index])
		abort();
}

static void dev_set_status(void *opaque, uint8_t status)
{
	(void)opaque;
	(void)status;
}

static void dev_send_rarp(void *opaque, const uint8_t mac[6])
{
	(void)opaque;
	sink ^= mac[0] ^ mac[5];
}

static int dev_set_mtu(void *opaque, uint16_t mtu)
{
	(void)opaque;
	return mtu < 68 ? -EINVAL : 0;
}

static void dev_reset(void *opaque)
{
	struct dev *d = opaque;
	for (unsigned i = 0; i < NQUEUES; i++)
		if (d->vq[i])
			abort(); /* every ring is stopped first */
}

const struct vu_device_ops dev_ops = {
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.set_config = dev_set_config,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_enable = dev_queue_enable,
	.queue_call_fd = dev_queue_call_fd,
	.set_status = dev_set_status,
	.send_rarp = dev_send_rarp,
	.set_mtu = dev_set_mtu,
	.reset = dev_reset,
};
