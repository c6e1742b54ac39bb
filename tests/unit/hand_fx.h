/* SPDX-License-Identifier: MIT */
/*
 * The fixture of the unit tests that drive one device queue with the
 * driver played by hand (test_virtq_dirty_log.c, test_virtq_inflight.c):
 * the test guest memory, its setup and teardown, chains made available on
 * a split or a packed ring, a chain popped.
 *
 * The including test defines QSIZE and then struct fx with at least:
 *	struct tgm g; struct tring r; struct vq *q;
 *	uint16_t avail_idx;	split: next avail index
 *	uint16_t pos; bool wrap; packed: next ring position, wrap counter
 *	struct iovec iov[N]; struct vq_elem e;	the chain popped (N entries)
 * before including this header.
 */
#ifndef VQNET_TEST_HAND_FX_H
#define VQNET_TEST_HAND_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <spec/virtio_ring.h>
#include <vqnet/virtq.h>

#include "guestmem.h"
#include "ring_view.h"

#define F(bit)	   (1ull << (bit))
#define RING_BYTES (64u * 1024)
#define BUF_BYTES  (64u * 1024)

static inline int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || tgm_init(&f->g, RING_BYTES, BUF_BYTES, 0)) {
		free(f);
		return -1;
	}
	f->wrap = true;
	f->e.iov = f->iov;
	f->e.iov_cap = sizeof(f->iov) / sizeof(f->iov[0]);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_free(f->q);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

/* Split: chain @head of one 64-byte descriptor with @flags, at buffer
 * offset head * 64, made available. */
static inline void split_add(struct fx *f, uint16_t head, uint16_t flags)
{
	struct virtq_desc *d = &sdesc(f)[head];
	*d = (struct virtq_desc){.addr = bgpa(f, head * 64u), .len = 64, .flags = flags};
	savail(f)->ring[f->avail_idx % QSIZE] = head;
	__atomic_store_n(&savail(f)->idx, ++f->avail_idx, __ATOMIC_RELEASE);
}

/* Packed: chain @id of @ndesc writable descriptors (64 bytes each, at
 * buffer (id * 4 + k) * 64), head flags stored last (§2.8.6). */
static inline void packed_add(struct fx *f, uint16_t id, unsigned ndesc)
{
	uint16_t head_pos = f->pos, head_flags = 0;
	for (unsigned k = 0; k < ndesc; k++) {
		uint16_t flags = VIRTQ_DESC_F_WRITE | (k + 1 < ndesc ? VIRTQ_DESC_F_NEXT : 0) |
				 (f->wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED);
		struct pvirtq_desc *d = &pdesc(f)[f->pos];
		d->addr = bgpa(f, (id * 4u + k) * 64u);
		d->len = 64;
		d->id = id;
		if (k == 0)
			head_flags = flags;
		else
			d->flags = flags;
		if (++f->pos == QSIZE) {
			f->pos = 0;
			f->wrap = !f->wrap;
		}
	}
	__atomic_store_n(&pdesc(f)[head_pos].flags, head_flags, __ATOMIC_RELEASE);
}

/* Pop a chain, which must be there; returns its id. */
static inline uint16_t pop(struct fx *f)
{
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	return f->e.id;
}

#endif
