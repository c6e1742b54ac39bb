/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of vq_unpop() (include/vqnet/virtq.h): chains given back
 * newest first are popped again with the same ids and iovecs, on split and
 * packed rings, with and without VIRTIO_F_IN_ORDER. Refusals (with
 * IN_ORDER a chain that is not the newest pop; ids not in flight; a broken
 * queue), the counters put back (drops included), a packed ring's position
 * stepped back across its wrap (the wrap counter flips back), and the
 * vhost-user inflight region (vq_set_inflight(), split and packed) cleared
 * for a chain given back. The driver side is vqnet's own (vq_drv_*) over the test guest
 * memory (tests/harness/guestmem.h).
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
#include "ring_view.h"

#define F(bit)	   (1ull << (bit))
#define RING_BYTES (64u * 1024)
#define BUF_BYTES  (64u * 1024)
#define QSIZE	   16u
#define NCHAIN	   4u
#define NIOV	   8u
#define SEG	   32u

struct param {
	enum vq_format fmt;
	bool in_order;
};

struct fx {
	struct param p;
	struct tgm g;
	struct tring r;
	struct vq *q;
	struct vq_drv *d;
	uint64_t features;
	uint32_t buf_next;
	struct iovec iov[NCHAIN + 1][NIOV];
	struct vq_elem e[NCHAIN + 1];
	union {
		struct vq_inflight_split hdr;
		struct vq_inflight_packed phdr;
		uint8_t bytes[32 + 32 * QSIZE];
	} region;
};

static int fx_setup(void **state)
{
	const struct param *p = *state;
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->p = *p;
	f->features = F(VIRTIO_F_VERSION_1) | (p->in_order ? F(VIRTIO_F_IN_ORDER) : 0);
	if (tgm_init(&f->g, RING_BYTES, BUF_BYTES, 0) ||
	    tring_alloc(&f->g, &f->r, p->fmt, QSIZE, 0) ||
	    tring_driver(&f->g, &f->r, f->features, &f->d) ||
	    tring_device(&f->g, &f->r, f->features, VQ_DIR_BOTH, 0, &f->q)) {
		free(f);
		return -1;
	}
	for (unsigned i = 0; i <= NCHAIN; i++) {
		f->e[i].iov = f->iov[i];
		f->e[i].iov_cap = NIOV;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_free(f->q);
	vq_drv_free(f->d);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

/* Post a chain of @nout readable and @nin writable buffers; return its id.
 * @gpa0, when not 0, replaces the first buffer's address (a bad one). */
static int post(struct fx *f, unsigned nout, unsigned nin, uint64_t gpa0)
{
	struct vq_drv_buf b[NIOV];
	for (unsigned i = 0; i < nout + nin; i++) {
		b[i] = (struct vq_drv_buf){.gpa = tgm_buf_gpa(&f->g) + f->buf_next, .len = SEG + i};
		f->buf_next = (f->buf_next + 2 * SEG) % BUF_BYTES;
	}
	if (gpa0)
		b[0].gpa = gpa0;
	int id = vq_drv_add_chain(f->d, b, nout, nin, false, (void *)(uintptr_t)(f->buf_next + 1));
	assert_true(id >= 0);
	return id;
}

/* The chain shapes posted: k readable + writable buffers of 1..3 each, so
 * packed chains occupy 2..5 descriptors. */
static void post_shapes(struct fx *f, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		post(f, 1 + k % 2, 1 + k % 3, 0);
	vq_drv_publish(f->d);
}

static void assert_same_elem(const struct vq_elem *a, const struct vq_elem *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->ndesc, b->ndesc);
	assert_int_equal(a->nout, b->nout);
	assert_int_equal(a->nin, b->nin);
	assert_int_equal(a->err, b->err);
	assert_int_equal(a->out_len, b->out_len);
	assert_int_equal(a->in_len, b->in_len);
	for (unsigned i = 0; i < (unsigned)a->nout + a->nin; i++) {
		assert_ptr_equal(a->iov[i].iov_base, b->iov[i].iov_base);
		assert_int_equal(a->iov[i].iov_len, b->iov[i].iov_len);
	}
}

/* Complete everything in flight (pop order) and check the driver reaps
 * it all: the ring stayed consistent for both sides. */
static void push_and_reap(struct fx *f, struct vq_elem *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(vq_push(f->q, e[i].id, 0), 0);
	struct vq_drv_used u[NCHAIN + 2];
	assert_int_equal(vq_drv_reap(f->d, u, NCHAIN + 2), n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(u[i].id, e[i].id);
	assert_false(vq_drv_is_broken(f->d));
}

/* Pop 3, give back the 3rd then the 2nd; they come back in ring order
 * with the same ids and iovecs, then the 4th chain. */
static void test_unpop_lifo(void **state)
{
	struct fx *f = *state;
	post_shapes(f, NCHAIN);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
	struct vq_stats st3 = *vq_get_stats(f->q);
	assert_int_equal(st3.popped, 3);
	struct vq_state s1;
	struct vq_elem saved[3];
	struct iovec saved_iov[3][NIOV];
	for (unsigned i = 0; i < 3; i++) {
		saved[i] = f->e[i];
		saved[i].iov = saved_iov[i];
		memcpy(saved_iov[i], f->iov[i], sizeof(saved_iov[i]));
	}

	assert_int_equal(vq_unpop(f->q, &f->e[2]), 0);
	assert_int_equal(vq_unpop(f->q, &f->e[1]), 0);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_get_stats(f->q)->popped, 1);
	assert_true(vq_avail_pending(f->q));
	/* The position is where it was after the first pop. */
	vq_get_state(f->q, &s1);
	if (f->p.fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(s1.avail_idx, 1);
	else
		assert_int_equal(s1.avail_idx, saved[0].ndesc);

	memset(f->iov[1], 0, sizeof(f->iov[1]));
	memset(f->iov[2], 0, sizeof(f->iov[2]));
	assert_int_equal(vq_pop(f->q, &f->e[1]), 1);
	assert_same_elem(&f->e[1], &saved[1]);
	assert_int_equal(vq_pop(f->q, &f->e[2]), 1);
	assert_same_elem(&f->e[2], &saved[2]);
	assert_int_equal(vq_get_stats(f->q)->popped, 3);
	assert_int_equal(vq_pop(f->q, &f->e[3]), 1);
	assert_true(f->e[3].id != saved[0].id && f->e[3].id != saved[1].id &&
		    f->e[3].id != saved[2].id);
	assert_int_equal(vq_pop(f->q, &f->e[4]), 0);
	assert_int_equal(vq_in_flight(f->q), 4);
	push_and_reap(f, f->e, 4);
	assert_int_equal(vq_get_stats(f->q)->pushed, 4);
}

/* Refusals leave the queue as it was. */
static void test_unpop_refused(void **state)
{
	struct fx *f = *state;
	post_shapes(f, NCHAIN);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
	struct vq_state before, after;
	vq_get_state(f->q, &before);

	if (f->p.in_order) {
		/* Not the newest pop: refused. */
		assert_int_equal(vq_unpop(f->q, &f->e[1]), -VQ_ERR_INVALID_ARG);
		assert_int_equal(vq_unpop(f->q, &f->e[0]), -VQ_ERR_INVALID_ARG);
	}
	/* An id not in flight, one out of range, NULL. */
	struct vq_elem other = f->e[2];
	other.id = (uint16_t)((f->e[0].id + QSIZE - 1) % QSIZE);
	if (other.id == f->e[1].id || other.id == f->e[2].id)
		other.id = (uint16_t)((other.id + QSIZE - 3) % QSIZE);
	assert_int_equal(vq_unpop(f->q, &other), -VQ_ERR_INVALID_ARG);
	other.id = QSIZE;
	assert_int_equal(vq_unpop(f->q, &other), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_unpop(f->q, NULL), -VQ_ERR_INVALID_ARG);
	if (f->p.fmt == VQ_FORMAT_PACKED) {
		/* Packed: the element's descriptor count must match. */
		other = f->e[2];
		other.ndesc++;
		assert_int_equal(vq_unpop(f->q, &other), -VQ_ERR_INVALID_ARG);
	}
	vq_get_state(f->q, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(vq_in_flight(f->q), 3);
	assert_int_equal(vq_get_stats(f->q)->popped, 3);

	/* A pushed chain is no longer the caller's to give back. */
	if (f->p.in_order) {
		assert_int_equal(vq_push_in_order(f->q, 1, 0), 0);
	} else {
		assert_int_equal(vq_push(f->q, f->e[0].id, 0), 0);
	}
	assert_int_equal(vq_unpop(f->q, &f->e[0]), -VQ_ERR_INVALID_ARG);
	/* The newest still can be, and is popped again. */
	assert_int_equal(vq_unpop(f->q, &f->e[2]), 0);
	uint16_t id2 = f->e[2].id;
	assert_int_equal(vq_pop(f->q, &f->e[2]), 1);
	assert_int_equal(f->e[2].id, id2);
	assert_int_equal(vq_in_flight(f->q), 2);
}

/* A broken queue refuses with -VQ_ERR_BROKEN. */
static void test_unpop_broken(void **state)
{
	struct fx *f = *state;
	post_shapes(f, 1);
	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	if (f->p.fmt == VQ_FORMAT_SPLIT) {
		__atomic_store_n(&savail(f)->idx, (uint16_t)(QSIZE + 5), __ATOMIC_RELEASE);
	} else {
		uint16_t pos = f->e[0].ndesc;
		pdesc(f)[pos] = (struct pvirtq_desc){.addr = bgpa(f, 0), .len = 4, .id = QSIZE};
		__atomic_store_n(&pdesc(f)[pos].flags, (uint16_t)VIRTQ_DESC_F_AVAIL,
				 __ATOMIC_RELEASE);
	}
	int rc = vq_pop(f->q, &f->e[1]);
	assert_true(rc < 0 && !vq_err_is_drop(rc));
	assert_int_equal(vq_unpop(f->q, &f->e[0]), -VQ_ERR_BROKEN);
}

/* A dropped chain given back: popped, dropped and the reason counted down,
 * and popped (and dropped) again. */
static void test_unpop_drop_stats(void **state)
{
	struct fx *f = *state;
	post(f, 1, 1, 0);
	post(f, 2, 1, 0x1000); /* outside guest memory */
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	assert_int_equal(vq_pop(f->q, &f->e[1]), -VQ_ERR_DESC_OUT_OF_MEMORY);
	assert_int_equal(f->e[1].err, VQ_ERR_DESC_OUT_OF_MEMORY);
	const struct vq_stats *st = vq_get_stats(f->q);
	assert_int_equal(st->popped, 2);
	assert_int_equal(st->dropped, 1);
	assert_int_equal(st->drop_reason[VQ_ERR_DESC_OUT_OF_MEMORY], 1);

	uint16_t id = f->e[1].id, ndesc = f->e[1].ndesc;
	assert_int_equal(vq_unpop(f->q, &f->e[1]), 0);
	assert_int_equal(st->popped, 1);
	assert_int_equal(st->dropped, 0);
	assert_int_equal(st->drop_reason[VQ_ERR_DESC_OUT_OF_MEMORY], 0);
	assert_int_equal(vq_unpop(f->q, &f->e[0]), 0);
	assert_int_equal(st->popped, 0);
	assert_int_equal(vq_in_flight(f->q), 0);

	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	assert_int_equal(vq_pop(f->q, &f->e[1]), -VQ_ERR_DESC_OUT_OF_MEMORY);
	assert_int_equal(f->e[1].id, id);
	assert_int_equal(f->e[1].ndesc, ndesc);
	assert_int_equal(st->popped, 2);
	assert_int_equal(st->dropped, 1);
	assert_int_equal(st->drop_reason[VQ_ERR_DESC_OUT_OF_MEMORY], 1);
	push_and_reap(f, f->e, 2);
}

/* Packed: a chain whose descriptors run over the ring's end (the pop flips
 * the driver wrap counter) and one ending exactly at the end; unpop steps
 * back and flips it back. */
static void test_unpop_packed_wrap(void **state)
{
	struct fx *f = *state;
	struct vq_state s0, s;
	/* Advance to position QSIZE - 2 with 2-descriptor chains. */
	for (unsigned i = 0; i < (QSIZE - 2) / 2; i++) {
		post(f, 1, 1, 0);
		vq_drv_publish(f->d);
		assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
		push_and_reap(f, f->e, 1);
	}
	vq_get_state(f->q, &s0);
	assert_int_equal(s0.avail_idx, QSIZE - 2);
	assert_true(s0.avail_wrap);

	/* 3 descriptors: QSIZE-2, QSIZE-1, 0. */
	post(f, 2, 1, 0);
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	assert_int_equal(f->e[0].ndesc, 3);
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, 1);
	assert_false(s.avail_wrap);
	struct vq_elem saved = f->e[0];
	struct iovec saved_iov[NIOV];
	memcpy(saved_iov, f->iov[0], sizeof(saved_iov));
	saved.iov = saved_iov;
	assert_int_equal(vq_unpop(f->q, &f->e[0]), 0);
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, QSIZE - 2);
	assert_true(s.avail_wrap);
	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	assert_same_elem(&f->e[0], &saved);
	push_and_reap(f, f->e, 1);

	/* Now at 1 (wrap 0): advance to QSIZE - 2 again, then a chain of 2
	 * ending exactly at the ring's end (position 0 after the pop). */
	for (unsigned i = 0; i < (QSIZE - 3) / 2; i++) {
		post(f, 1, 1, 0);
		vq_drv_publish(f->d);
		assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
		push_and_reap(f, f->e, 1);
	}
	post(f, 1, 0, 0); /* one descriptor: to QSIZE - 2 */
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	push_and_reap(f, f->e, 1);
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, QSIZE - 2);
	assert_false(s.avail_wrap);
	post(f, 1, 1, 0);
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, 0);
	assert_true(s.avail_wrap);
	assert_int_equal(vq_unpop(f->q, &f->e[0]), 0);
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, QSIZE - 2);
	assert_false(s.avail_wrap);
	uint16_t id = f->e[0].id;
	assert_int_equal(vq_pop(f->q, &f->e[0]), 1);
	assert_int_equal(f->e[0].id, id);
	push_and_reap(f, f->e, 1);
	assert_false(vq_is_broken(f->q));
}

/* The region entry marking chain @id in flight, or NULL: split, the
 * head's entry; packed, the head entry whose last entry names @id. */
static const void *marked_entry(struct fx *f, uint16_t id, uint64_t *counter)
{
	if (f->p.fmt == VQ_FORMAT_SPLIT) {
		const struct vq_inflight_desc_split *d = &f->region.hdr.desc[id];
		*counter = d->counter;
		return d->inflight ? d : NULL;
	}
	const struct vq_inflight_packed *r = &f->region.phdr;
	for (unsigned i = 0; i < QSIZE; i++) {
		const struct vq_inflight_desc_packed *d = &r->desc[i];
		if (d->inflight && d->last < QSIZE && r->desc[d->last].id == id) {
			*counter = d->counter;
			return d;
		}
	}
	return NULL;
}

static bool marked(struct fx *f, uint16_t id)
{
	uint64_t c;
	return marked_entry(f, id, &c) != NULL;
}

static uint64_t counter_of(struct fx *f, uint16_t id)
{
	uint64_t c = 0;
	assert_non_null(marked_entry(f, id, &c));
	return c;
}

/* With vhost-user inflight tracking: a chain given back is no longer
 * marked in flight in the region, and gets the same counter when popped
 * again. */
static void test_unpop_inflight(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), 0);
	post_shapes(f, NCHAIN);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
	uint64_t counter[3];
	for (unsigned i = 0; i < 3; i++)
		counter[i] = counter_of(f, f->e[i].id);
	assert_int_equal(vq_unpop(f->q, &f->e[2]), 0);
	assert_int_equal(vq_unpop(f->q, &f->e[1]), 0);
	assert_true(marked(f, f->e[0].id));
	assert_false(marked(f, f->e[1].id));
	assert_false(marked(f, f->e[2].id));
	for (unsigned i = 1; i < 3; i++) {
		uint16_t id = f->e[i].id;
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
		assert_int_equal(f->e[i].id, id);
		assert_true(counter_of(f, id) == counter[i]);
	}
	push_and_reap(f, f->e, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_false(marked(f, f->e[i].id));
}

/* Packed with tracking: completions between pops and a give-back keep the
 * region's free list whole: a full ring's worth of rounds (pop 3, push the
 * first, give back the others) never runs out of entries, and a restart
 * then finds nothing in flight. */
static void test_unpop_inflight_rounds(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), 0);
	post_shapes(f, 3);
	for (unsigned round = 0; round < 3 * QSIZE; round++) {
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
		assert_int_equal(vq_unpop(f->q, &f->e[2]), 0);
		assert_int_equal(vq_push(f->q, f->e[0].id, 0), 0);
		assert_int_equal(vq_unpop(f->q, &f->e[1]), 0);
		struct vq_drv_used u[2];
		assert_int_equal(vq_drv_reap(f->d, u, 2), 1);
		post_shapes(f, 1);
	}
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
	push_and_reap(f, f->e, 3);
	assert_false(vq_is_broken(f->q));
	for (unsigned i = 0; i < 3; i++)
		assert_false(marked(f, f->e[i].id));
}

/* Inflight tracking after a restart: chains handed out again from the
 * region (resubmitted) and given back are handed out again, in order,
 * before new chains; their region entries stay in flight. The caller pops
 * until the ring is empty first (a pop returning 0 in between), as a
 * receive path does. (Found a bug: a one-pop flag told resubmitted heads
 * from avail ones; the second unpop cleared the region's inflight flag.) */
static void test_unpop_inflight_resubmit(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), 0);
	post_shapes(f, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
	/* The backend "crashes": a new queue on the same ring and region. */
	vq_free(f->q);
	struct vq_config cfg = {.format = f->p.fmt,
				.size = QSIZE,
				.features = f->features,
				.desc_gpa = f->r.desc_gpa,
				.driver_gpa = f->r.driver_gpa,
				.device_gpa = f->r.device_gpa};
	struct vq_state st;
	vq_state_init(f->p.fmt, &st);
	assert_int_equal(vq_new(&cfg, f->g.mem, &st, &f->q), 0);
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);

	uint16_t ids[3] = {f->e[0].id, f->e[1].id, f->e[2].id};
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
		assert_int_equal(f->e[i].id, ids[i]);
	}
	assert_int_equal(vq_pop(f->q, &f->e[3]), 0);
	assert_int_equal(vq_unpop(f->q, &f->e[2]), 0);
	assert_int_equal(vq_unpop(f->q, &f->e[1]), 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 2);
	for (unsigned i = 0; i < 3; i++)
		assert_true(marked(f, ids[i]));

	post_shapes(f, 1); /* a new chain behind them */
	for (unsigned i = 1; i < 3; i++) {
		assert_int_equal(vq_pop(f->q, &f->e[i]), 1);
		assert_int_equal(f->e[i].id, ids[i]);
	}
	assert_int_equal(vq_pop(f->q, &f->e[3]), 1);
	assert_true(marked(f, f->e[3].id));
	/* The new chain given back and taken again. */
	uint16_t id3 = f->e[3].id;
	assert_int_equal(vq_unpop(f->q, &f->e[3]), 0);
	assert_false(marked(f, id3));
	assert_int_equal(vq_pop(f->q, &f->e[3]), 1);
	assert_int_equal(f->e[3].id, id3);
	assert_int_equal(vq_pop(f->q, &f->e[4]), 0);
	push_and_reap(f, f->e, 4);
	assert_false(vq_is_broken(f->q));
}

static const struct param split = {VQ_FORMAT_SPLIT, false};
static const struct param split_io = {VQ_FORMAT_SPLIT, true};
static const struct param packed = {VQ_FORMAT_PACKED, false};
static const struct param packed_io = {VQ_FORMAT_PACKED, true};

#define T(fn, p) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, (void *)&(p))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_unpop_lifo, split),
		T(test_unpop_lifo, split_io),
		T(test_unpop_lifo, packed),
		T(test_unpop_lifo, packed_io),
		T(test_unpop_refused, split),
		T(test_unpop_refused, split_io),
		T(test_unpop_refused, packed),
		T(test_unpop_refused, packed_io),
		T(test_unpop_broken, split),
		T(test_unpop_broken, packed),
		T(test_unpop_drop_stats, split),
		T(test_unpop_drop_stats, split_io),
		T(test_unpop_drop_stats, packed),
		T(test_unpop_drop_stats, packed_io),
		T(test_unpop_packed_wrap, packed),
		T(test_unpop_packed_wrap, packed_io),
		T(test_unpop_inflight, split),
		T(test_unpop_inflight_resubmit, split),
		T(test_unpop_inflight, packed),
		T(test_unpop_inflight_resubmit, packed),
		T(test_unpop_inflight, split_io),
		T(test_unpop_inflight_resubmit, split_io),
		T(test_unpop_inflight, packed_io),
		T(test_unpop_inflight_resubmit, packed_io),
		T(test_unpop_inflight_rounds, packed),
		T(test_unpop_inflight_rounds, split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
