/* SPDX-License-Identifier: MIT */
/*
 * Fixture of the device-side unit tests (test_virtq_device_*.c): the device
 * under test plus a driver played by hand. Descriptors, avail ring entries
 * and packed flags are written through the driver's mapping of the fake
 * guest memory (tests/harness), and what the device writes (used ring, used
 * descriptors, event suppression) is read back the same way.
 */
#ifndef VQNET_TEST_VIRTQ_DEVICE_FX_H
#define VQNET_TEST_VIRTQ_DEVICE_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <spec/virtio_ring.h>
#include <vqnet/virtq.h>

#include "guestmem.h"
#include "ring_view.h"
#include "virtq_fx.h"

/* Device under test plus the hand-played driver's state. */
struct fx {
	enum vq_format fmt;
	struct tgm g;
	struct tring r;
	struct vq *q;
	uint16_t avail_idx; /* split: next avail index the hand driver publishes */
	uint16_t pos;	    /* packed: next ring position the hand driver fills */
	bool wrap;	    /* packed: the hand driver's wrap counter */
	struct iovec iov[NIOV];
	struct vq_elem e;
};

/* cmocka set-up / tear-down; *state points at the format to test. */
int fx_setup(void **state);
int fx_teardown(void **state);
/* Lay out a ring in the ring area and start the device on it. */
void fx_open(struct fx *f, uint32_t size, uint64_t features, enum vq_dir dir, uint32_t max_chain);

/* Split: write descriptor @i. */
void split_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next);
/* Split: put @head in the next avail slot and publish it. */
void split_avail(struct fx *f, uint16_t head);
/* Split: a chain through descriptors @idx[0..n), published. */
void split_chain_at(struct fx *f, const uint16_t *idx, const struct hb *b, unsigned n);
/* Packed: a list at the hand driver's position; @extra is or-ed into every
 * descriptor's flags; the head's flags are stored last, with release. */
void packed_chain(struct fx *f, uint16_t id, const struct hb *b, unsigned n, uint16_t extra);
/* Make a chain available: split through descriptors id, id+1, ... (head
 * id); packed with buffer id @id at the hand driver's position. */
void hand_add(struct fx *f, uint16_t id, const struct hb *b, unsigned n);
/* A one-descriptor writable chain of 64 bytes at buffer offset id*64. */
void hand_add1(struct fx *f, uint16_t id);
/* Pop a chain that must be good and have id @id. */
void pop_ok(struct fx *f, uint16_t id);
/* One 1-descriptor chain made available, popped and pushed. */
void cycle(struct fx *f, uint16_t id, uint32_t len);

/* A copy of the bytes the device may write (split used ring, packed
 * descriptor ring), and the check that they did not change (frees it). */
uint8_t *snapshot(struct fx *f, size_t *len);
void assert_unchanged(struct fx *f, uint8_t *copy, size_t len);
/* Packed used descriptor at @pos: id, len and flags for wrap @wrap. */
void assert_packed_used(struct fx *f, uint16_t pos, uint16_t id, uint32_t len, bool wrap);
/* Split used element in @slot. */
void assert_split_used(struct fx *f, uint16_t slot, uint32_t id, uint32_t len);
/* The device's ring state (wrap counters: packed only). */
void assert_state(struct fx *f, uint16_t avail, uint16_t used, bool aw, bool uw);

#endif
