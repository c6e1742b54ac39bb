/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of vq_set_inflight() (include/vqnet/virtq.h): the vhost-user
 * inflight region of split and packed rings, with and without IN_ORDER,
 * driven by hand. A first queue pops and completes some chains; a second
 * queue on the same ring and region (the restarted backend) hands the
 * chains still in flight out again, in pop order, before new ones. A crash
 * in the middle of a completion is played by rewinding the region (and the
 * ring) to the state between the region's put steps: a batch already
 * published is finished, one not yet published rolled back. Hostile packed
 * regions are refused untouched or bounded. Refusals: a region too small,
 * another version or size, a queue already used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <spec/virtio_ring.h>
#include <spec/vq_inflight.h>
#include <vqnet/virtq.h>

#include "guestmem.h"

#define QSIZE 8u

struct fx {
	struct tgm g;
	struct tring r;
	struct vq *q;
	uint16_t avail_idx;
	struct iovec iov[2];
	struct vq_elem e;
	uint16_t pos; /* packed driver: next ring position and wrap counter */
	bool wrap;
	union {
		struct vq_inflight_split hdr;
		struct vq_inflight_packed phdr;
		uint8_t bytes[512];
	} region;
};

#include "hand_fx.h"

static struct vq_inflight_split *reg(struct fx *f)
{
	return &f->region.hdr;
}

static struct vq_inflight_packed *preg(struct fx *f)
{
	return &f->region.phdr;
}

/* A new device queue on the ring with the region; returns
 * vq_set_inflight()'s code. Split resumes at the used index (as the
 * vhost-user backend does after a crash); packed at the ring's start, the
 * stale base a frontend may send: the region has the position. */
static int restart_rc(struct fx *f, uint64_t features)
{
	vq_free(f->q);
	f->q = NULL;
	struct vq_config cfg = {.format = f->r.format,
				.size = QSIZE,
				.features = F(VIRTIO_F_VERSION_1) | features,
				.desc_gpa = f->r.desc_gpa,
				.driver_gpa = f->r.driver_gpa,
				.device_gpa = f->r.device_gpa};
	struct vq_state st;
	vq_state_init(f->r.format, &st);
	if (f->r.format == VQ_FORMAT_SPLIT)
		st.avail_idx = st.used_idx = sused(f)->idx;
	assert_int_equal(vq_new(&cfg, f->g.mem, &st, &f->q), 0);
	return vq_set_inflight(f->q, &f->region, sizeof(f->region));
}

static void restart(struct fx *f, uint64_t features)
{
	assert_int_equal(restart_rc(f, features), 0);
}

/* Pop a packed chain and check it is @id with its @ndesc buffers. */
static void ppop(struct fx *f, uint16_t id, unsigned ndesc)
{
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.ndesc, ndesc);
	assert_int_equal(f->e.nin, ndesc);
	assert_int_equal(f->e.in_len, 64 * ndesc);
	for (unsigned k = 0; k < ndesc; k++) {
		/* The device's mapping of the buffer area follows the rings. */
		assert_ptr_equal(f->e.iov[k].iov_base,
				 f->g.dev_view + f->g.ring_bytes + (id * 4u + k) * 64u);
		assert_int_equal(f->e.iov[k].iov_len, 64);
	}
}

/* Packed: is the chain of buffer @id marked in flight in the region? */
static bool pmarked(struct fx *f, uint16_t id)
{
	for (unsigned i = 0; i < QSIZE; i++) {
		const struct vq_inflight_desc_packed *d = &preg(f)->desc[i];
		if (d->inflight && d->last < QSIZE && preg(f)->desc[d->last].id == id)
			return true;
	}
	return false;
}

static unsigned pmarked_count(struct fx *f)
{
	unsigned n = 0;
	for (unsigned i = 0; i < QSIZE; i++)
		n += preg(f)->desc[i].inflight;
	return n;
}

static void expect_state(struct fx *f, uint16_t avail, bool avail_wrap, uint16_t used,
			 bool used_wrap)
{
	struct vq_state s;
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, avail);
	assert_int_equal(s.avail_wrap, avail_wrap);
	assert_int_equal(s.used_idx, used);
	assert_int_equal(s.used_wrap, used_wrap);
}

static void test_resubmit_in_pop_order(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_SPLIT, QSIZE, 0), 0);
	restart(f, 0);
	assert_int_equal(reg(f)->version, VQ_INFLIGHT_VERSION);
	assert_int_equal(reg(f)->desc_num, QSIZE);
	const uint16_t order[] = {6, 1, 7, 3, 0};
	for (unsigned i = 0; i < 5; i++)
		split_add(f, order[i], 0);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(pop(f), order[i]);
	assert_int_equal(vq_push(f->q, 7, 0), 0);
	assert_int_equal(vq_push(f->q, 6, 0), 0);
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(reg(f)->desc[i].inflight, i == 1 || i == 3 || i == 0);
	assert_int_equal(reg(f)->used_idx, 2);
	split_add(f, 5, 0); /* not popped before the restart */

	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);
	assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 3);
	assert_int_equal(pop(f), 0);
	assert_int_equal(pop(f), 5);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(vq_in_flight(f->q), 4);
	/* The restarted counters keep the order for a second restart. */
	restart(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 3);
	assert_int_equal(pop(f), 0);
	assert_int_equal(pop(f), 5);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
}

static void test_refused(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_SPLIT, QSIZE, 0), 0);
	assert_int_equal(tring_device(&f->g, &f->r, 0, VQ_DIR_BOTH, 0, &f->q), 0);
	assert_int_equal(vq_set_inflight(f->q, &f->region, 16 + 16 * QSIZE - 1),
			 -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_set_inflight(f->q, NULL, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	reg(f)->version = 2;
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	reg(f)->version = 1;
	reg(f)->desc_num = QSIZE / 2;
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	reg(f)->version = 0;
	split_add(f, 2, 0);
	assert_int_equal(pop(f), 2);
	/* Not on a queue already in use. */
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	vq_free(f->q);
	f->q = NULL;
	struct tring pr;
	assert_int_equal(tring_alloc(&f->g, &pr, VQ_FORMAT_PACKED, QSIZE, 0), 0);
	assert_int_equal(tring_device(&f->g, &pr, 0, VQ_DIR_BOTH, 0, &f->q), 0);
	/* Packed regions are twice as large: the split size is too small. */
	assert_int_equal(vq_set_inflight(f->q, &f->region, 16 + 16 * QSIZE), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_set_inflight(f->q, &f->region, 32 + 32 * QSIZE - 1),
			 -VQ_ERR_INVALID_ARG);
	memset(&f->region, 0, sizeof(f->region));
	assert_int_equal(vq_set_inflight(f->q, &f->region, 32 + 32 * QSIZE), 0);
	assert_int_equal(vq_set_inflight(f->q, &f->region, 32 + 32 * QSIZE), -VQ_ERR_INVALID_ARG);
}

/*
 * Split with IN_ORDER: one used element completes a batch of chains
 * (vq_push_in_order()); every chain of the batch is listed and cleared.
 * A crash after used->idx but before the clearing finishes the batch; one
 * before used->idx resubmits it.
 */
static void test_split_in_order(void **state)
{
	struct fx *f = *state;
	const uint64_t io = F(VIRTIO_F_IN_ORDER);
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_SPLIT, QSIZE, 0), 0);
	restart(f, io);
	for (uint16_t h = 0; h < 5; h++)
		split_add(f, h, 0);
	for (uint16_t h = 0; h < 5; h++)
		assert_int_equal(pop(f), h);
	assert_int_equal(vq_push_in_order(f->q, 2, 1), 0);
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(reg(f)->desc[i].inflight, i >= 2 && i < 5);
	assert_int_equal(reg(f)->used_idx, 2);
	assert_int_equal(vq_push_in_order(f->q, 2, 1), 0);
	assert_int_equal(sused(f)->idx, 4);
	/* Crash between used->idx and the clearing of the batch {2, 3}. */
	reg(f)->desc[2].inflight = reg(f)->desc[3].inflight = 1;
	reg(f)->used_idx = 2;
	split_add(f, 5, 0);
	restart(f, io);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 1);
	assert_int_equal(pop(f), 4);
	assert_int_equal(pop(f), 5);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(reg(f)->used_idx, 4);

	/* Crash before used->idx of the batch {4, 5}: both come back. */
	assert_int_equal(vq_push_in_order(f->q, 2, 1), 0);
	assert_int_equal(reg(f)->desc[4].inflight + reg(f)->desc[5].inflight, 0);
	reg(f)->desc[4].inflight = reg(f)->desc[5].inflight = 1;
	reg(f)->used_idx = 4;
	sused(f)->idx = 4;
	restart(f, io);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 2);
	assert_int_equal(pop(f), 4);
	assert_int_equal(pop(f), 5);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	/* In-order completion of resubmitted chains, one by one and batched. */
	split_add(f, 6, 0);
	assert_int_equal(pop(f), 6);
	assert_int_equal(vq_push(f->q, 4, 0), 0);
	assert_int_equal(vq_push_in_order(f->q, 2, 1), 0);
	assert_int_equal(sused(f)->idx, 7);
	assert_int_equal(reg(f)->used_idx, 7);
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(reg(f)->desc[i].inflight, 0);
	assert_int_equal(vq_in_flight(f->q), 0);
}

/*
 * Packed, out of order: chains of 1 and 2 descriptors; two completed, the
 * driver reuses the freed slots (the ring no longer holds the first
 * chain's descriptors): the restart hands the others out from the
 * region's copies, in pop order, then the new chain, at the region's
 * positions whatever base the queue was started with.
 */
static void test_packed_resubmit(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_PACKED, QSIZE, 0), 0);
	restart(f, 0);
	assert_int_equal(preg(f)->version, VQ_INFLIGHT_VERSION);
	assert_int_equal(preg(f)->desc_num, QSIZE);
	const uint16_t ids[] = {5, 2, 7, 0, 3};
	const unsigned nd[] = {2, 1, 2, 1, 2};
	for (unsigned i = 0; i < 5; i++)
		packed_add(f, ids[i], nd[i]);
	for (unsigned i = 0; i < 5; i++)
		ppop(f, ids[i], nd[i]);
	expect_state(f, 0, false, 0, true);
	struct vq_used done[2] = {{.id = 7, .len = 0}, {.id = 2, .len = 0}};
	assert_int_equal(vq_push_burst(f->q, done, 2), 0);
	expect_state(f, 0, false, 3, true);
	assert_int_equal(pmarked_count(f), 3);
	assert_true(pmarked(f, 5) && pmarked(f, 0) && pmarked(f, 3));
	assert_int_equal(preg(f)->old_used_idx, 3);
	/* The driver reaps and reuses slot 0 (slot 1 keeps a used id 2). */
	packed_add(f, 1, 1);

	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);
	expect_state(f, 0, false, 3, true); /* 3 + 5 descriptors in flight */
	ppop(f, 5, 2);
	ppop(f, 0, 1);
	ppop(f, 3, 2);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 0);
	ppop(f, 1, 1);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	expect_state(f, 1, false, 3, true);
	assert_int_equal(vq_in_flight(f->q), 4);
	/* A second restart keeps the same chains and order. */
	restart(f, 0);
	ppop(f, 5, 2);
	ppop(f, 0, 1);
	ppop(f, 3, 2);
	ppop(f, 1, 1);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	/* Complete them all: nothing left for the next restart. */
	struct vq_used rest[4] = {{.id = 3}, {.id = 1}, {.id = 5}, {.id = 0}};
	assert_int_equal(vq_push_burst(f->q, rest, 4), 0);
	expect_state(f, 1, false, 1, false);
	assert_int_equal(pmarked_count(f), 0);
	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 0);
	expect_state(f, 1, false, 1, false);
	packed_add(f, 6, 2);
	ppop(f, 6, 2);
	assert_int_equal(vq_push(f->q, 6, 0), 0);
	assert_false(vq_is_broken(f->q));
}

/* Rewind the packed region to "between put_begin and put_end": the heads
 * of @ids marked again, the old_* fields as in @before. */
static void rewind_put(struct fx *f, const struct vq_inflight_packed *before, const uint16_t *ids,
		       unsigned n)
{
	for (unsigned i = 0; i < QSIZE; i++)
		for (unsigned j = 0; j < n; j++)
			if (preg(f)->desc[i].num && preg(f)->desc[i].last < QSIZE &&
			    preg(f)->desc[preg(f)->desc[i].last].id == ids[j] &&
			    !preg(f)->desc[i].inflight && before->desc[i].inflight)
				preg(f)->desc[i].inflight = 1;
	preg(f)->old_free_head = before->old_free_head;
	preg(f)->old_used_idx = before->old_used_idx;
	preg(f)->old_used_wrap_counter = before->old_used_wrap_counter;
}

/*
 * Packed: a crash between the region's put steps. Used descriptors not
 * yet visible (the ring rewound too): the batch is rolled back, its
 * chains come back. Already visible: the batch is finished.
 */
static void test_packed_crash_mid_batch(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_PACKED, QSIZE, 0), 0);
	restart(f, 0);
	for (uint16_t id = 0; id < 4; id++)
		packed_add(f, id, 1 + id % 2);
	for (uint16_t id = 0; id < 4; id++)
		ppop(f, id, 1 + id % 2);
	struct vq_inflight_packed before;
	struct pvirtq_desc ring[QSIZE];
	memcpy(&before, preg(f), sizeof(before));
	static uint8_t before_all[512];
	memcpy(before_all, &f->region, sizeof(before_all));
	memcpy(ring, pdesc(f), sizeof(ring));
	const uint16_t batch[2] = {2, 0};
	struct vq_used done[2] = {{.id = 2, .len = 5}, {.id = 0, .len = 5}};
	assert_int_equal(vq_push_burst(f->q, done, 2), 0);
	expect_state(f, 6, true, 2, true);

	/* Not published: the ring as before the push. */
	rewind_put(f, (const struct vq_inflight_packed *)before_all, batch, 2);
	memcpy(pdesc(f), ring, sizeof(ring));
	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 4);
	expect_state(f, 6, true, 0, true);
	for (uint16_t id = 0; id < 4; id++)
		ppop(f, id, 1 + id % 2);
	assert_int_equal(vq_pop(f->q, &f->e), 0);

	/* Published, the clearing not done. */
	memcpy(before_all, &f->region, sizeof(before_all));
	assert_int_equal(vq_push_burst(f->q, done, 2), 0);
	rewind_put(f, (const struct vq_inflight_packed *)before_all, batch, 2);
	assert_int_equal(pmarked_count(f), 4);
	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 2);
	expect_state(f, 6, true, 2, true);
	ppop(f, 1, 2);
	ppop(f, 3, 2);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(pmarked_count(f), 2);
	assert_int_equal(preg(f)->old_used_idx, 2);
}

/*
 * Packed with IN_ORDER: batches completed by one used descriptor
 * (vq_push_in_order()) clear all their chains; a batch published but not
 * cleared is finished at restart, one not published comes back; the
 * restarted queue completes in order on.
 */
static void test_packed_in_order(void **state)
{
	struct fx *f = *state;
	const uint64_t io = F(VIRTIO_F_IN_ORDER);
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_PACKED, QSIZE, 0), 0);
	restart(f, io);
	for (uint16_t id = 0; id < 5; id++)
		packed_add(f, id, id == 1 || id == 3 ? 2 : 1); /* 7 descriptors */
	for (uint16_t id = 0; id < 5; id++)
		ppop(f, id, id == 1 || id == 3 ? 2 : 1);
	assert_int_equal(vq_push_in_order(f->q, 2, 9), 0);
	expect_state(f, 7, true, 3, true);
	assert_int_equal(pmarked_count(f), 3);
	assert_true(pmarked(f, 2) && pmarked(f, 3) && pmarked(f, 4));
	static uint8_t before_all[512];
	memcpy(before_all, &f->region, sizeof(before_all));
	struct pvirtq_desc ring[QSIZE];
	memcpy(ring, pdesc(f), sizeof(ring));
	assert_int_equal(vq_push_in_order(f->q, 2, 9), 0); /* {2, 3}: 3 descriptors */
	expect_state(f, 7, true, 6, true);
	assert_int_equal(pmarked_count(f), 1);

	/* Published, not cleared: finished. */
	const uint16_t batch[2] = {2, 3};
	rewind_put(f, (const struct vq_inflight_packed *)before_all, batch, 2);
	restart(f, io);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 1);
	expect_state(f, 7, true, 6, true);
	ppop(f, 4, 1);
	assert_int_equal(vq_pop(f->q, &f->e), 0);

	/* Not published: back to before the batch. */
	memcpy(&f->region, before_all, sizeof(before_all));
	memcpy(pdesc(f), ring, sizeof(ring));
	restart(f, io);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);
	expect_state(f, 7, true, 3, true);
	ppop(f, 2, 1);
	ppop(f, 3, 2);
	ppop(f, 4, 1);
	packed_add(f, 5, 2); /* positions 7, 0 */
	ppop(f, 5, 2);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(vq_push_in_order(f->q, 3, 9), 0);
	assert_int_equal(vq_push(f->q, 5, 0), 0);
	expect_state(f, 1, false, 1, false);
	assert_int_equal(pmarked_count(f), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
	assert_false(vq_is_broken(f->q));
}

/*
 * HOSTILE F16 on the packed region: each lie is refused with the region
 * left untouched (ids out of range or twice, a chain list that loops or
 * leaves the queue, num > size, chains over more than the ring, positions
 * or wrap counters out of range), or is harmless and bounded (a free list
 * that loops, counters in any order, a flag pattern at old_used_idx).
 */
static void test_packed_hostile(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_PACKED, QSIZE, 0), 0);
	restart(f, 0);
	for (uint16_t id = 0; id < 3; id++)
		packed_add(f, id, 2);
	for (uint16_t id = 0; id < 3; id++)
		ppop(f, id, 2);
	static uint8_t good[512], bad[512];
	memcpy(good, &f->region, sizeof(good));
	/* Chains: heads 0, 2, 4 (entries 0-1, 2-3, 4-5), free 6, 7. */
	assert_int_equal(preg(f)->desc[0].num, 2);
	assert_int_equal(preg(f)->desc[2].last, 3);
	assert_int_equal(preg(f)->free_head, 6);
	struct vq_inflight_packed *r = preg(f);
	for (unsigned c = 0; c < 11; c++) {
		memcpy(&f->region, good, sizeof(good));
		switch (c) {
		case 0: /* an id out of range */
			r->desc[1].id = QSIZE;
			break;
		case 1: /* an id twice */
			r->desc[3].id = 0;
			break;
		case 2: /* a chain list looping */
			r->desc[2].num = 3;
			r->desc[3].next = 2;
			break;
		case 3: /* a chain list leaving the queue */
			r->desc[0].next = 0xffff;
			break;
		case 4: /* num > size */
			r->desc[4].num = QSIZE + 1;
			break;
		case 5: /* a mark inside a chain (two chains overlap) */
			r->desc[3].inflight = 1;
			break;
		case 6: /* an empty chain */
			r->desc[0].num = 0;
			break;
		case 7: /* a position beyond the ring */
			r->used_idx = r->old_used_idx = QSIZE;
			break;
		case 8: /* a wrap counter not 0 or 1 */
			r->old_used_wrap_counter = 2;
			break;
		case 9: /* an update in progress: the old_* fields win */
			r->free_head = QSIZE + 3;
			r->used_idx = 5;
			break;
		case 10: /* a chain swallowing the next one */
			r->desc[1].next = 2;
			r->desc[0].num = 4;
			break;
		}
		if (c == 9) {
			/* The descriptor at old_used_idx still looks available:
			 * rolled back, accepted. */
			assert_int_equal(restart_rc(f, 0), 0);
			assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);
			continue;
		}
		memcpy(bad, &f->region, sizeof(bad));
		if (restart_rc(f, 0) != -VQ_ERR_INVALID_ARG)
			fail_msg("case %u accepted", c);
		assert_memory_equal(bad, &f->region, sizeof(bad));
		/* The queue runs untracked and safe. */
		assert_int_equal(vq_inflight_resubmit_pending(f->q), 0);
		(void)vq_pop(f->q, &f->e);
	}
	/* Harmless: a free list looping on itself, counters reversed. */
	memcpy(&f->region, good, sizeof(good));
	r->desc[6].next = 6;
	r->desc[0].counter = 1000;
	r->desc[2].counter = UINT64_MAX;
	r->desc[4].counter = 0;
	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);
	ppop(f, 2, 2);
	ppop(f, 0, 2);
	ppop(f, 1, 2);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	packed_add(f, 3, 2);
	ppop(f, 3, 2);
	assert_int_equal(preg(f)->desc[6].next, 7); /* the free list rebuilt */
	/* Head flags on an entry of a free list: cleared, not resubmitted. */
	memcpy(&f->region, good, sizeof(good));
	r->desc[6].inflight = 1;
	r->desc[6].num = 1;
	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);
	assert_int_equal(r->desc[6].inflight, 0);
	/* Another version or size. */
	memcpy(&f->region, good, sizeof(good));
	r->version = 2;
	assert_int_equal(restart_rc(f, 0), -VQ_ERR_INVALID_ARG);
	r->version = 1;
	r->desc_num = QSIZE - 1;
	assert_int_equal(restart_rc(f, 0), -VQ_ERR_INVALID_ARG);
}

/*
 * Property: against vqnet's own driver, random chains (1..3 descriptors)
 * popped, completed out of order (IN_ORDER: in batches), given back
 * (vq_unpop(), newest pops first), and the device restarted at random
 * points: each restart hands out exactly the chains in flight — and the
 * resubmitted ones given back and not taken again, which the avail ring
 * no longer holds — in pop order, before any new one; the driver reaps
 * every chain once and no side breaks. All four layouts.
 */
struct model_chain {
	uint16_t id, ndesc;
	bool resubmitted; /* handed out by the last restart */
};

struct model {
	struct model_chain fly[QSIZE];	/* in flight, pop order */
	struct model_chain back[QSIZE]; /* resubmitted, given back: next pops */
	unsigned nfly, nback;
	unsigned lifo; /* the newest of fly[] that are the newest pops */
};

static void model_pop(struct fx *f, struct model *m, struct vq_elem *e)
{
	int rc = vq_pop(f->q, e);
	assert_true(rc >= 0);
	if (rc == 0) {
		assert_int_equal(m->nback, 0);
		return;
	}
	struct model_chain c = {.id = e->id, .ndesc = e->ndesc};
	if (m->nback) { /* a given-back resubmitted chain comes first */
		c = m->back[--m->nback];
		assert_int_equal(e->id, c.id);
		assert_int_equal(e->ndesc, c.ndesc);
	}
	m->fly[m->nfly++] = c;
	m->lifo++;
}

static void model_unpop(struct fx *f, struct model *m)
{
	struct model_chain c = m->fly[--m->nfly];
	struct vq_elem back = {.id = c.id, .ndesc = c.ndesc};
	assert_int_equal(vq_unpop(f->q, &back), 0);
	m->lifo--;
	if (c.resubmitted)
		m->back[m->nback++] = c;
}

static void model_push(struct fx *f, struct model *m, bool in_order, uint64_t *rng)
{
	if (in_order) {
		unsigned k = 1 + (unsigned)(trand(rng) % m->nfly);
		assert_int_equal(vq_push_in_order(f->q, k, 0), 0);
		memmove(m->fly, m->fly + k, (m->nfly - k) * sizeof(m->fly[0]));
		m->nfly -= k;
		m->lifo = m->lifo < m->nfly ? m->lifo : m->nfly;
		return;
	}
	unsigned k = (unsigned)(trand(rng) % m->nfly);
	assert_int_equal(vq_push(f->q, m->fly[k].id, 0), 0);
	memmove(m->fly + k, m->fly + k + 1, (m->nfly - k - 1) * sizeof(m->fly[0]));
	if (k >= m->nfly - m->lifo)
		m->lifo = m->nfly - 1 - k;
	m->nfly--;
}

static void model_restart(struct fx *f, struct model *m, uint64_t feat)
{
	restart(f, feat);
	/* The given-back ones were popped after the ones still in flight. */
	while (m->nback)
		m->fly[m->nfly++] = m->back[--m->nback];
	assert_int_equal(vq_inflight_resubmit_pending(f->q), m->nfly);
	struct iovec iov[4];
	struct vq_elem e = {.iov = iov, .iov_cap = 4};
	for (unsigned i = 0; i < m->nfly; i++) {
		assert_int_equal(vq_pop(f->q, &e), 1);
		assert_int_equal(e.id, m->fly[i].id);
		assert_int_equal(e.ndesc, m->fly[i].ndesc);
		m->fly[i].resubmitted = true;
	}
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 0);
	m->lifo = m->nfly;
}

static void random_restarts(struct fx *f, enum vq_format fmt, bool in_order, uint64_t seed)
{
	const uint64_t feat = in_order ? F(VIRTIO_F_IN_ORDER) : 0;
	struct vq_drv *d = NULL;
	assert_int_equal(tring_alloc(&f->g, &f->r, fmt, QSIZE, 0), 0);
	assert_int_equal(tring_driver(&f->g, &f->r, F(VIRTIO_F_VERSION_1) | feat, &d), 0);
	memset(&f->region, 0, sizeof(f->region));
	restart(f, feat);
	struct iovec iov[4];
	struct vq_elem e = {.iov = iov, .iov_cap = 4};
	struct model m = {0};
	unsigned posted = 0, reaped = 0;
	uint64_t rng = seed;
	for (unsigned step = 0; step < 4000; step++) {
		unsigned r = (unsigned)(trand(&rng) % 16);
		if (r < 5) { /* the driver posts */
			struct vq_drv_buf b[3];
			unsigned n = 1 + (unsigned)(trand(&rng) % 3);
			for (unsigned k = 0; k < n; k++)
				b[k] = (struct vq_drv_buf){.gpa = bgpa(f, k * 64u), .len = 64};
			if (vq_drv_add_chain(d, b, 0, n, false, NULL) >= 0)
				posted++;
			vq_drv_publish(d);
		} else if (r < 9) {
			model_pop(f, &m, &e);
		} else if (r < 10 && m.lifo) {
			model_unpop(f, &m);
		} else if (r < 14 && m.nfly) {
			model_push(f, &m, in_order, &rng);
			struct vq_drv_used u[QSIZE];
			int got = vq_drv_reap(d, u, QSIZE);
			if (got < 0)
				fail_msg("layout %d/%d step %u: reap %s", fmt, in_order, step,
					 vq_strerror(got));
			reaped += (unsigned)got;
		} else if (r == 15) { /* the backend crashes and restarts */
			model_restart(f, &m, feat);
		}
		if (vq_is_broken(f->q) || vq_drv_is_broken(d) || vq_in_flight(f->q) != m.nfly)
			fail_msg("layout %d/%d step %u r %u: %s / %s, %u in flight, %u expected",
				 fmt, in_order, step, r, vq_strerror(-(int)vq_broken_reason(f->q)),
				 vq_drv_is_broken(d) ? "driver broken" : "driver ok",
				 vq_in_flight(f->q), m.nfly);
	}
	assert_true(reaped > 100);
	assert_true(posted >= reaped);
	vq_drv_free(d);
}

/*
 * vq_inflight_consume(): a chain whose content the device took for good
 * (a frame sent) before a crash comes back with VQ_ERR_CONSUMED, to be
 * completed, never processed again; the chains not marked come back as
 * they were; a chain popped again after its completion is not marked.
 * Split and packed.
 */
static void consumed_case(struct fx *f, enum vq_format fmt)
{
	assert_int_equal(tring_alloc(&f->g, &f->r, fmt, QSIZE, 0), 0);
	restart(f, 0);
	const uint16_t ids[] = {4, 1, 6};
	for (unsigned i = 0; i < 3; i++) {
		if (fmt == VQ_FORMAT_SPLIT)
			split_add(f, ids[i], 0);
		else
			packed_add(f, ids[i], 1);
	}
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(f->q, &f->e), 1);
		assert_int_equal(f->e.id, ids[i]);
	}
	vq_inflight_consume(f->q, 1);
	vq_inflight_consume(f->q, 6);
	vq_inflight_consume(f->q, 2);		  /* not in flight: nothing */
	assert_int_equal(vq_push(f->q, 6, 0), 0); /* completed: its mark goes too */

	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 2);
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, 4);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_CONSUMED);
	assert_int_equal(f->e.id, 1);
	assert_int_equal(f->e.err, VQ_ERR_CONSUMED);
	assert_true(vq_err_is_drop(VQ_ERR_CONSUMED));
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(vq_push(f->q, 1, 0), 0);
	assert_int_equal(vq_push(f->q, 4, 0), 0);
	assert_int_equal(vq_get_stats(f->q)->drop_reason[VQ_ERR_CONSUMED], 1);
	/* Id 1 made available and popped again: a new chain, not consumed. */
	if (fmt == VQ_FORMAT_SPLIT)
		split_add(f, 1, 0);
	else
		packed_add(f, 1, 1);
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, 1);
	restart(f, 0);
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, 1);
	assert_false(vq_is_broken(f->q));
}

static void test_consumed_split(void **state)
{
	consumed_case(*state, VQ_FORMAT_SPLIT);
}

static void test_consumed_packed(void **state)
{
	consumed_case(*state, VQ_FORMAT_PACKED);
}

static void test_random_restarts(void **state)
{
	struct fx *f = *state;
	for (unsigned layout = 0; layout < 4; layout++) {
		random_restarts(f, layout & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT, layout & 2,
				0x9e3779b97f4a7c15ull * (layout + 1));
		vq_free(f->q);
		f->q = NULL;
		tgm_fini(&f->g);
		assert_int_equal(tgm_init(&f->g, RING_BYTES, BUF_BYTES, 0), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resubmit_in_pop_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_split_in_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed_resubmit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed_crash_mid_batch, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed_in_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed_hostile, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_restarts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_consumed_split, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_consumed_packed, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
