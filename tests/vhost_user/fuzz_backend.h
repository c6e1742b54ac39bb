/* SPDX-License-Identifier: MIT */
/*
 * The recording device of the vhost-user backend fuzz target
 * (fuzz_backend.c, fuzz_backend_dev.c): the features it offers, and a
 * device that checks the backend's calls are consistent (abort() when not,
 * so libFuzzer keeps the input) and works the rings it is given.
 */
#ifndef VQNET_TESTS_VHOST_USER_FUZZ_BACKEND_H
#define VQNET_TESTS_VHOST_USER_FUZZ_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/vhost_user.h>

#define NQUEUES	    2u
#define CONFIG_SIZE 8u
#define DEV_FEATURES                                                                               \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_PACKED) |                           \
	 (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC) |                         \
	 (1ull << VIRTIO_F_IN_ORDER))

struct dev {
	unsigned starts, stops, start_calls;
	bool refuse;   /* refuse every 4th queue_start */
	unsigned pops; /* chains to pop in queue_start */
	struct vq *vq[NQUEUES];
	uint8_t config[CONFIG_SIZE];
};

/* Its operations (opaque: a struct dev). */
extern const struct vu_device_ops dev_ops;

/* Pop up to @n chains, touch their buffers, complete them in order (the
 * last one left in flight if @hold). */
void dev_work(struct vq *q, unsigned n, bool hold);

/* FUZZ_BACKEND_TRACE set: one line per message (and per chain popped). */
extern bool fz_trace;

#endif
