/* SPDX-License-Identifier: MIT */
/*
 * The restart state file's layout (lib/vhost_user/backend_state.c; docs/vqnetd.md
 * "Restart without loss"). vqnet's own format, kept by the backend in a
 * file it owns (not shared with any frontend); read back only by the next
 * backend process, and still checked field by field, as a file can be
 * damaged or left by something else. Little-endian (the hosts vqnet runs on).
 *
 *   page 0                      struct vu_state_hdr
 *   VU_STATE_PAGE + i * stride  ring i: struct vu_state_ring, then at
 *                               VU_STATE_RING_HDR its inflight region
 *                               (lib/spec/vq_inflight.h: QueueRegionSplit or
 *                               QueueRegionPacked per the ring's format)
 */
#ifndef VQNET_SPEC_VU_STATE_FILE_H
#define VQNET_SPEC_VU_STATE_FILE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "vq_inflight.h"

#define VU_STATE_MAGIC	    "vqnetst\n"
#define VU_STATE_VERSION    1u
#define VU_STATE_PAGE	    4096u
#define VU_STATE_DEVICE_MAX 200u /* bytes of the device identity, NUL included */
#define VU_STATE_RING_HDR   128u /* a ring's region starts this far into its slot */

struct vu_state_hdr {
	char magic[8];		 /* VU_STATE_MAGIC */
	uint32_t version;	 /* VU_STATE_VERSION */
	uint32_t num_rings;	 /* the device's queues */
	uint32_t max_queue_size; /* what each region is sized for */
	uint32_t ring_stride;	 /* bytes per ring slot, a multiple of VU_STATE_PAGE */
	uint64_t file_bytes;
	char device[VU_STATE_DEVICE_MAX]; /* the device's identity, NUL-terminated */
	uint64_t checksum;		  /* FNV-1a 64 of every byte above */
};
static_assert(sizeof(struct vu_state_hdr) <= VU_STATE_PAGE, "state header");

/* What a ring's record says about its region. */
enum vu_state_ring_state {
	VU_STATE_RING_EMPTY = 0,   /* nothing to resume */
	VU_STATE_RING_RUNNING = 1, /* served until the process or the connection went away:
				      the region is the truth, the frontend may not know it */
	VU_STATE_RING_STOPPED = 2, /* its position was given to the frontend
				      (GET_VRING_BASE): the frontend's base is the truth */
};

/* Ring i's identity when its region was started; a new start resumes only
 * with the same one. Written by the control thread before the ring is
 * handed to the device; the region after it by the ring's worker. */
struct vu_state_ring {
	uint32_t state;				/* enum vu_state_ring_state */
	uint32_t num;				/* ring size */
	uint64_t features;			/* negotiated virtio features */
	uint64_t desc_uva, avail_uva, used_uva; /* the frontend's addresses of the ring */
	uint64_t desc_gpa, driver_gpa, device_gpa;
	uint32_t start_base; /* the frontend's SET_VRING_BASE at the start */
	uint32_t format;     /* enum vq_format */
	uint64_t checksum;   /* FNV-1a 64 of num .. format */
};
static_assert(sizeof(struct vu_state_ring) <= VU_STATE_RING_HDR, "state ring record");
static_assert(VU_STATE_RING_HDR % 64 == 0, "regions start on cache lines");

/* Bytes per ring slot for rings up to @max_queue_size entries: the record
 * and the larger (packed) region, rounded up to pages. */
static inline uint64_t vu_state_ring_stride(uint32_t max_queue_size)
{
	uint64_t n = VU_STATE_RING_HDR + vq_inflight_packed_bytes(max_queue_size);
	return (n + VU_STATE_PAGE - 1) / VU_STATE_PAGE * VU_STATE_PAGE;
}

static inline uint64_t vu_state_fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#endif
