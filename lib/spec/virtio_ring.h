/* SPDX-License-Identifier: MIT */
/*
 * Wire formats of the virtqueue rings, VIRTIO 1.2 §2.7 (split) and §2.8
 * (packed). Only layouts and constants live here: no code. All fields are
 * little-endian in guest memory; vqnet runs on little-endian hosts only
 * (checked below), so the le* types are plain integers with a name that
 * says where they come from.
 */
#ifndef VQNET_SPEC_VIRTIO_RING_H
#define VQNET_SPEC_VIRTIO_RING_H

#include <assert.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vqnet assumes a little-endian host (virtio 1.x rings are little-endian)"
#endif

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

/* §2.7.5 descriptor flags; the packed ring (§2.8) uses the same low bits. */
#define VIRTQ_DESC_F_NEXT     1u
#define VIRTQ_DESC_F_WRITE    2u
#define VIRTQ_DESC_F_INDIRECT 4u
/* §2.8.1 packed-ring availability bits. */
#define VIRTQ_DESC_F_AVAIL (1u << 7)
#define VIRTQ_DESC_F_USED  (1u << 15)

/* §2.7.7 / §2.7.10 split-ring notification suppression flags. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY	   1u

/* §2.8.10 packed-ring event suppression flags. */
#define RING_EVENT_FLAGS_ENABLE	 0x0u
#define RING_EVENT_FLAGS_DISABLE 0x1u
#define RING_EVENT_FLAGS_DESC	 0x2u
#define RING_EVENT_WRAP_SHIFT	 15

/* §2.7.5 split descriptor, 16 bytes, table aligned to 16. */
struct virtq_desc {
	le64 addr;
	le32 len;
	le16 flags;
	le16 next;
};
static_assert(sizeof(struct virtq_desc) == 16, "split descriptor size");

/* §2.7.6 available ring: flags, idx, ring[size], then used_event. */
struct virtq_avail {
	le16 flags;
	le16 idx;
	le16 ring[];
};
static_assert(sizeof(struct virtq_avail) == 4, "avail header size");

/* §2.7.8 used ring element. */
struct virtq_used_elem {
	le32 id;
	le32 len;
};
static_assert(sizeof(struct virtq_used_elem) == 8, "used element size");

/* §2.7.8 used ring: flags, idx, ring[size], then avail_event. */
struct virtq_used {
	le16 flags;
	le16 idx;
	struct virtq_used_elem ring[];
};
static_assert(sizeof(struct virtq_used) == 4, "used header size");

/* §2.8.13 packed descriptor, 16 bytes. */
struct pvirtq_desc {
	le64 addr;
	le32 len;
	le16 id;
	le16 flags;
};
static_assert(sizeof(struct pvirtq_desc) == 16, "packed descriptor size");

/* §2.8.10 event suppression structure (driver area and device area). */
struct pvirtq_event_suppress {
	le16 off_wrap; /* bits 0-14 descriptor offset, bit 15 wrap counter */
	le16 flags;    /* RING_EVENT_FLAGS_* */
};
static_assert(sizeof(struct pvirtq_event_suppress) == 4, "event suppression size");

/* §2.7 table: alignment of each part. */
#define VIRTQ_DESC_ALIGN   16u
#define VIRTQ_AVAIL_ALIGN  2u
#define VIRTQ_USED_ALIGN   4u
#define PVIRTQ_DESC_ALIGN  16u
#define PVIRTQ_EVENT_ALIGN 4u

/* Sizes of the split parts with EVENT_IDX's trailing u16 always included:
 * a ring laid out this way works whether or not EVENT_IDX is negotiated. */
static inline uint64_t virtq_split_desc_bytes(uint32_t size)
{
	return 16ull * size;
}
static inline uint64_t virtq_split_avail_bytes(uint32_t size)
{
	return 4ull + 2ull * size + 2ull;
}
static inline uint64_t virtq_split_used_bytes(uint32_t size)
{
	return 4ull + 8ull * size + 2ull;
}

/*
 * §2.7.7 / §2.7.10: the driver (device) needs a notification if the event index
 * lies in the half-open window of indices published since the last check.
 * Written exactly as the spec's vring_need_event().
 */
static inline int vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/*
 * §2.8.10 / §2.8.14: does the event at @off_wrap (offset, wrap counter in
 * bit 15) lie among the @count positions that just became available or
 * used, ending at (@new_pos, @wrap)? The arithmetic of Linux
 * virtqueue_kick_prepare_packed() and DPDK vhost_vring_call_packed(): an
 * event on the other wrap counter is taken to be on the previous lap.
 * Requires @count < @size.
 */
static inline int vring_packed_need_event(uint16_t off_wrap, uint16_t new_pos, int wrap,
					  uint32_t count, uint32_t size)
{
	uint16_t off = off_wrap & 0x7fffu;
	int ev_wrap = off_wrap >> RING_EVENT_WRAP_SHIFT;
	uint16_t old_pos = (uint16_t)(new_pos - count);
	if (ev_wrap != !!wrap)
		off = (uint16_t)(off - size);
	return vring_need_event(off, new_pos, old_pos);
}

#endif
