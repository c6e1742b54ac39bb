/* SPDX-License-Identifier: MIT */
/*
 * Fixture of the driver-side unit tests (test_virtq_driver_*.c): the driver
 * under test, optionally the library's device side on the same ring, and a
 * device played by hand. What the driver writes is checked in ring memory
 * by hand and, where it matters, by popping it with the library's device
 * side. The device's answers (used ring entries, used descriptors, event
 * suppression) are written by hand, so a hostile device can be played
 * exactly.
 */
#ifndef VQNET_TEST_VIRTQ_DRIVER_FX_H
#define VQNET_TEST_VIRTQ_DRIVER_FX_H

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

struct fx {
	enum vq_format fmt;
	struct tgm g;
	struct tring r;
	struct vq_drv *d;
	struct vq *q;	   /* the library's device side, when a test uses it */
	uint16_t used_idx; /* split: the hand device's next used index */
	uint16_t upos;	   /* packed: the hand device's next used position */
	bool uwrap;	   /* packed: the hand device's wrap counter */
	struct iovec iov[NIOV];
	struct vq_elem e;
	int tokens[64]; /* &tokens[i] are the chains' tokens */
};

/* cmocka set-up / tear-down; *state points at the format to test. */
int fx_setup(void **state);
int fx_teardown(void **state);
/* A ring with the driver on it and, if @device, the device too. */
void fx_open(struct fx *f, uint32_t size, uint64_t features, uint32_t indirect_max, bool device);

/* The token of chain @i. */
void *tok(struct fx *f, unsigned i);
/* Build and end a direct chain; returns its id. */
uint16_t build(struct fx *f, const struct hb *b, unsigned n, void *token);
/* A one-descriptor writable chain of @len bytes at offset @off. */
uint16_t build1(struct fx *f, uint32_t off, uint32_t len, void *token);
/* The hand device completes @id: split writes the next used element and
 * publishes used->idx; packed writes a used descriptor at its position and
 * skips @ndesc. */
void dev_used(struct fx *f, uint32_t id, uint32_t len, uint16_t ndesc);
/* A reaped entry is (token, id, len). */
void assert_reaped(const struct vq_drv_used *u, void *token, uint16_t id, uint32_t len);

#endif
