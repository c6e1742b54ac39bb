/* SPDX-License-Identifier: MIT */
/*
 * Wire format of one queue's region of the vhost-user inflight buffer
 * (vhost-user.rst "Inflight I/O tracking", VHOST_USER_PROTOCOL_F_INFLIGHT_
 * SHMFD): QueueRegionSplit / DescStateSplit for split virtqueues,
 * QueueRegionPacked / DescStatePacked for packed ones. Shared with the
 * frontend, which keeps it across a backend crash; every field is read as
 * untrusted. Little-endian (the x86-64 / aarch64 hosts vqnet runs on).
 */
#ifndef VQNET_SPEC_VQ_INFLIGHT_H
#define VQNET_SPEC_VQ_INFLIGHT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define VQ_INFLIGHT_VERSION 1u

struct vq_inflight_desc_split {
	uint8_t inflight;   /* head in flight (popped, not completed) */
	uint8_t padding[5]; /* [0]: vqnet's own mark, content consumed
			       (vq_inflight_consume()); frontends ignore padding */
	uint16_t next;	    /* list of the last batch of used heads */
	uint64_t counter;   /* pop order */
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

/* Packed: one entry per descriptor fetched from the ring, taken from a free
 * list (next); a chain's entries are consecutive in that list, its head
 * entry holding inflight, num, last and counter. */
struct vq_inflight_desc_packed {
	uint8_t inflight; /* head entry: chain in flight */
	uint8_t padding;  /* head entry: vqnet's consumed mark (as in split) */
	uint16_t next;	  /* next entry of the free list (or of the chain) */
	uint16_t last;	  /* head entry: the chain's last entry */
	uint16_t num;	  /* head entry: descriptors of the chain */
	uint64_t counter; /* head entry: pop order */
	uint16_t id;	  /* the descriptor's buffer id (the last one's counts) */
	uint16_t flags;	  /* the descriptor's flags */
	uint32_t len;
	uint64_t addr;
};
static_assert(sizeof(struct vq_inflight_desc_packed) == 32, "DescStatePacked");

struct vq_inflight_packed {
	uint64_t features; /* 0 */
	uint16_t version;  /* 1; 0 = not initialised yet */
	uint16_t desc_num; /* queue size */
	uint16_t free_head;
	uint16_t old_free_head; /* free_head as of the last completed step */
	uint16_t used_idx;	/* device ring position after the batch being put */
	uint16_t old_used_idx;	/* ... after the last completed batch */
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct vq_inflight_desc_packed desc[];
};
/* 29 bytes of fields; desc[] (8-byte aligned) starts at 32. */
static_assert(offsetof(struct vq_inflight_packed, desc) == 32, "QueueRegionPacked");

static inline uint64_t vq_inflight_packed_bytes(uint32_t queue_size)
{
	uint64_t n = offsetof(struct vq_inflight_packed, desc) +
		     (uint64_t)queue_size * sizeof(struct vq_inflight_desc_packed);
	return (n + 63) & ~(uint64_t)63;
}

#endif
