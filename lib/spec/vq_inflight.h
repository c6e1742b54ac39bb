/* SPDX-License-Identifier: MIT */
/*
 * Wire format of one queue's region of the vhost-user inflight buffer
 * (vhost-user.rst "Inflight I/O tracking", VHOST_USER_PROTOCOL_F_INFLIGHT_
 * SHMFD), split virtqueues: QueueRegionSplit / DescStateSplit. Shared with
 * the frontend, which keeps it across a backend crash; every field is read
 * as untrusted. Little-endian (the x86-64 / aarch64 hosts vqnet runs on).
 */
#ifndef VQNET_SPEC_VQ_INFLIGHT_H
#define VQNET_SPEC_VQ_INFLIGHT_H

#include <assert.h>
#include <stdint.h>

#define VQ_INFLIGHT_VERSION 1u

struct vq_inflight_desc_split {
	uint8_t inflight; /* head in flight (popped, not completed) */
	uint8_t padding[5];
	uint16_t next;	  /* list of the last batch of used heads */
	uint64_t counter; /* pop order */
};
static_assert(sizeof(struct vq_inflight_desc_split) == 16, "DescStateSplit");

struct vq_inflight_split {
	uint64_t features; /* 0 */
	uint16_t version;  /* 1; 0 = not initialised yet */
	uint16_t desc_num; /* queue size */
	uint16_t last_batch_head;
	uint16_t used_idx; /* used->idx after the last completed batch */
	struct vq_inflight_desc_split desc[];
};
static_assert(sizeof(struct vq_inflight_split) == 16, "QueueRegionSplit");

/* Bytes of one queue's region for @queue_size entries (what a backend
 * allocates per queue; 64-byte aligned so regions start on cache lines). */
static inline uint64_t vq_inflight_split_bytes(uint32_t queue_size)
{
	uint64_t n = sizeof(struct vq_inflight_split) +
		     (uint64_t)queue_size * sizeof(struct vq_inflight_desc_split);
	return (n + 63) & ~(uint64_t)63;
}

#endif
