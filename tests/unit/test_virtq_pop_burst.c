/* SPDX-License-Identifier: MIT */
/*
 * Differential test of vq_pop_burst() (include/vqnet/virtq.h): its fast
 * paths must give exactly what popping the same chains one by one with
 * vq_pop() gives.
 *
 * Two identical guest memories hold identical rings, written by a
 * hand-played driver that applies every write to both; queue A pops with
 * vq_pop_burst() (random burst sizes), queue B with vq_pop() in the loop
 * vq_pop_burst() documents. After every step both sides must agree on
 * every element field (iovecs as offsets into their memory), the counts
 * and codes returned, vq_get_stats(), vq_in_flight(), vq_get_state(), the
 * broken reason, the inflight region and every byte of guest memory.
 *
 * Each seed picks a format, features (INDIRECT_DESC, EVENT_IDX, IN_ORDER),
 * inflight tracking on or off, a direction, a queue size, a max_chain and
 * one buffer region or many tiny ones (so translations cross regions and
 * the translation hint moves). Rounds publish a random mix of good
 * one-descriptor chains, longer and indirect chains and malformed ones
 * (zero length, outside memory, address wrap, forbidden direction,
 * readable after writable, too many descriptors, iovec capacity too
 * small), pop them, give some back with vq_unpop() and pop them again,
 * then complete some (in order, in batches or at random). One seed in four
 * ends with ring corruption: a head / buffer id out of range or already in
 * flight, an avail index jump (split), a list whose next descriptor is not
 * available or one descriptor more than the ring holds (packed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <spec/virtio_ring.h>
#include <spec/vq_inflight.h>
#include <vqnet/virtq.h>

#include "guestmem.h"

#define F(bit)	   (1ull << (bit))
#define RING_BYTES (64u * 1024)
#define BUF_BYTES  (32u * 1024)
#define MAX_SIZE   64u
#define IND_MAX	   4u /* entries per indirect table */
#define MAX_BURST  64u
#define NIOV	   4u
#define SEEDS	   3000u

static uint64_t cur_seed;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			fail_msg("seed %llu, line %d: %s", (unsigned long long)cur_seed, __LINE__, \
				 #c);                                                              \
	} while (0)

/* One side: memory, ring, queue, elements, inflight region. */
struct side {
	struct tgm g;
	struct tring r;
	struct vq *q;
	struct iovec iov[MAX_BURST][NIOV];
	struct vq_elem el[MAX_BURST];
	uint64_t *region; /* 8-aligned */
	size_t region_bytes;
};

/* What both sides share: the configuration and the driver's model. */
struct world {
	uint64_t rng;
	enum vq_format fmt;
	uint32_t size, max_chain;
	uint64_t features;
	enum vq_dir dir;
	bool in_order, indirect;
	struct side a, b;

	/* Driver: chains made available and not yet completed, by id. */
	bool outstanding[MAX_SIZE];
	uint16_t ndesc[MAX_SIZE];	   /* packed: ring descriptors */
	uint16_t ents[MAX_SIZE][MAX_SIZE]; /* split: table entries of the chain */
	uint16_t nents[MAX_SIZE];
	bool desc_used[MAX_SIZE]; /* split: table entry taken */
	uint16_t avail_idx;	  /* split */
	uint16_t pos;		  /* packed */
	bool wrap;
	uint32_t ring_free; /* packed: descriptors the driver may still fill */

	/* Device: chains in flight in pop order (same on both sides). */
	struct vq_elem fl[MAX_SIZE];
	unsigned nfl;
	bool broken;
};

static uint32_t rnd(struct world *w, uint32_t n)
{
	return n ? (uint32_t)(trand(&w->rng) >> 33) % n : 0;
}

static bool chance(struct world *w, unsigned pct)
{
	return rnd(w, 100) < pct;
}

/* ------------------------------------------------------------ set-up */

static void side_open(struct world *w, struct side *s, size_t region_bytes)
{
	CHECK(tgm_init(&s->g, RING_BYTES, BUF_BYTES, region_bytes) == 0);
	CHECK(tring_alloc(&s->g, &s->r, w->fmt, w->size, IND_MAX) == 0);
	CHECK(tring_device(&s->g, &s->r, w->features, w->dir, w->max_chain, &s->q) == 0);
	for (unsigned i = 0; i < MAX_BURST; i++)
		s->el[i] = (struct vq_elem){.iov = s->iov[i], .iov_cap = NIOV};
	s->region = NULL;
}

static void side_inflight(struct world *w, struct side *s)
{
	s->region_bytes = w->fmt == VQ_FORMAT_SPLIT
				  ? sizeof(struct vq_inflight_split) +
					    w->size * sizeof(struct vq_inflight_desc_split)
				  : offsetof(struct vq_inflight_packed, desc) +
					    w->size * sizeof(struct vq_inflight_desc_packed);
	s->region = calloc(1, s->region_bytes + 8);
	CHECK(s->region);
	CHECK(vq_set_inflight(s->q, s->region, s->region_bytes) == 0);
}

static void side_close(struct side *s)
{
	vq_free(s->q);
	tgm_fini(&s->g);
	free(s->region);
}

/* ------------------------------------------------------------ driver */

/* Both memories at @gpa. */
static void *drv(struct world *w, struct side *s, uint64_t gpa)
{
	(void)w;
	void *p = tgm_drv_ptr(&s->g, gpa);
	CHECK(p);
	return p;
}

/* A buffer: usually good, sometimes malformed. Mostly of the direction
 * the queue wants. */
struct buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

static struct buf gen_buf(struct world *w, bool writable, bool bad)
{
	uint64_t base = TGM_GPA_BASE + RING_BYTES;
	struct buf b = {.writable = writable};
	b.len = 1 + rnd(w, 300);
	b.gpa = base + rnd(w, BUF_BYTES - b.len);
	if (bad) {
		switch (rnd(w, 4)) {
		case 0:
			b.len = 0;
			break;
		case 1:
			b.gpa = base + BUF_BYTES - rnd(w, 8); /* runs out of memory */
			b.len = 16;
			break;
		case 2:
			b.gpa = 0x1000 + rnd(w, 4096); /* below guest memory */
			break;
		default:
			b.gpa = UINT64_MAX - rnd(w, 8); /* wraps */
			break;
		}
	}
	return b;
}

static bool want_writable(struct world *w)
{
	if (w->dir == VQ_DIR_DEVICE_READS)
		return chance(w, 3); /* forbidden now and then */
	if (w->dir == VQ_DIR_DEVICE_WRITES)
		return !chance(w, 3);
	return chance(w, 50);
}

/* The buffers of one chain: 1 (most), 2..4, or more than max_chain. */
static unsigned gen_bufs(struct world *w, struct buf *b, unsigned cap)
{
	unsigned n = 1;
	unsigned k = rnd(w, 100);
	if (k >= 60 && k < 85)
		n = 2 + rnd(w, 3);
	else if (k >= 85 && k < 90)
		n = w->max_chain + 1;
	if (n > cap)
		n = cap;
	bool wr = want_writable(w);
	bool bad_order = chance(w, 3);
	for (unsigned i = 0; i < n; i++) {
		bool writable = wr;
		if (n > 1 && w->dir == VQ_DIR_BOTH && !bad_order)
			writable = i >= n / 2; /* readable first */
		else if (bad_order)
			writable = !(i & 1) && i + 1 < n; /* writable, then readable */
		b[i] = gen_buf(w, writable, chance(w, 4));
	}
	return n;
}

static void write_split_desc(struct world *w, uint16_t i, uint64_t addr, uint32_t len,
			     uint16_t flags, uint16_t next)
{
	struct side *sides[2] = {&w->a, &w->b};
	for (int k = 0; k < 2; k++) {
		struct virtq_desc *d = drv(w, sides[k], sides[k]->r.desc_gpa);
		d[i] = (struct virtq_desc){.addr = addr, .len = len, .flags = flags, .next = next};
	}
}

static void write_split_avail(struct world *w, uint16_t head)
{
	struct side *sides[2] = {&w->a, &w->b};
	for (int k = 0; k < 2; k++) {
		struct virtq_avail *av = drv(w, sides[k], sides[k]->r.driver_gpa);
		av->ring[w->avail_idx & (w->size - 1)] = head;
	}
	w->avail_idx++;
}

static void publish_split(struct world *w, uint16_t idx)
{
	struct side *sides[2] = {&w->a, &w->b};
	for (int k = 0; k < 2; k++) {
		struct virtq_avail *av = drv(w, sides[k], sides[k]->r.driver_gpa);
		__atomic_store_n(&av->idx, idx, __ATOMIC_RELEASE);
	}
}

/* An indirect table for @id, holding @b. Returns its gpa. */
static uint64_t write_indirect(struct world *w, uint16_t id, const struct buf *b, unsigned n)
{
	struct side *sides[2] = {&w->a, &w->b};
	uint64_t gpa = w->a.r.indirect_gpa + (uint64_t)id * IND_MAX * 16;
	for (int k = 0; k < 2; k++) {
		struct virtq_desc *t = drv(w, sides[k], gpa);
		for (unsigned i = 0; i < n; i++)
			t[i] = (struct virtq_desc){
				.addr = b[i].gpa,
				.len = b[i].len,
				.flags = (uint16_t)((b[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				.next = (uint16_t)(i + 1)};
	}
	return gpa;
}

/* Split: one chain; false when the table is too full for it. */
static bool add_split_chain(struct world *w)
{
	struct buf b[MAX_SIZE + 1];
	bool ind = (w->indirect || chance(w, 10)) && chance(w, 12);
	unsigned n = gen_bufs(w, b, ind ? IND_MAX : w->size);
	unsigned need = ind ? 1 : n;
	uint16_t ent[MAX_SIZE] = {0};
	unsigned got = 0;
	for (uint32_t i = rnd(w, w->size), k = 0; k < w->size && got < need; k++) {
		uint16_t e = (uint16_t)((i + k) % w->size);
		if (!w->desc_used[e])
			ent[got++] = e;
	}
	if (need == 0 || got < need)
		return false;
	uint16_t head = ent[0];
	if (ind) {
		uint64_t t = write_indirect(w, head, b, n);
		uint32_t len = (uint32_t)n * 16;
		if (chance(w, 5))
			len = chance(w, 50) ? 0 : len - 3; /* bad table length */
		write_split_desc(w, head, t, len, VIRTQ_DESC_F_INDIRECT, 0);
	} else {
		for (unsigned i = 0; i < n; i++)
			write_split_desc(w, ent[i], b[i].gpa, b[i].len,
					 (uint16_t)((b[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
					 i + 1 < n ? ent[i + 1] : 0);
	}
	for (unsigned i = 0; i < need; i++) {
		w->desc_used[ent[i]] = true;
		w->ents[head][i] = ent[i];
	}
	w->nents[head] = (uint16_t)need;
	w->outstanding[head] = true;
	write_split_avail(w, head);
	return true;
}

static uint16_t pavail_flags(bool wrap)
{
	return wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
}

static void write_packed_desc(struct world *w, uint16_t pos, uint64_t addr, uint32_t len,
			      uint16_t id, uint16_t flags)
{
	struct side *sides[2] = {&w->a, &w->b};
	for (int k = 0; k < 2; k++) {
		struct pvirtq_desc *d = drv(w, sides[k], sides[k]->r.desc_gpa);
		d[pos].addr = addr;
		d[pos].len = len;
		d[pos].id = id;
		__atomic_store_n(&d[pos].flags, flags, __ATOMIC_RELEASE);
	}
}

static void packed_next(struct world *w)
{
	if (++w->pos == w->size) {
		w->pos = 0;
		w->wrap = !w->wrap;
	}
}

/* Packed: one list; false when the ring or the ids are used up. */
static bool add_packed_chain(struct world *w)
{
	struct buf b[MAX_SIZE + 1];
	bool ind = (w->indirect || chance(w, 10)) && chance(w, 12);
	unsigned n = gen_bufs(w, b, ind ? IND_MAX : w->ring_free);
	unsigned need = ind ? 1 : n;
	int id = -1;
	for (uint32_t i = rnd(w, w->size), k = 0; k < w->size; k++)
		if (!w->outstanding[(i + k) % w->size]) {
			id = (int)((i + k) % w->size);
			break;
		}
	if (id < 0 || need == 0 || need > w->ring_free)
		return false;
	if (ind) {
		uint64_t t = write_indirect(w, (uint16_t)id, b, n);
		write_packed_desc(w, w->pos, t, (uint32_t)n * 16, (uint16_t)id,
				  VIRTQ_DESC_F_INDIRECT | pavail_flags(w->wrap));
		packed_next(w);
	} else {
		/* The head's flags last, as a driver publishes (§2.8.6). */
		uint16_t head_pos = w->pos;
		bool head_wrap = w->wrap;
		packed_next(w);
		for (unsigned i = 1; i < n; i++) {
			write_packed_desc(w, w->pos, b[i].gpa, b[i].len, (uint16_t)id,
					  (uint16_t)((b[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
						     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
						     pavail_flags(w->wrap)));
			packed_next(w);
		}
		write_packed_desc(w, head_pos, b[0].gpa, b[0].len, (uint16_t)id,
				  (uint16_t)((b[0].writable ? VIRTQ_DESC_F_WRITE : 0) |
					     (n > 1 ? VIRTQ_DESC_F_NEXT : 0) |
					     pavail_flags(head_wrap)));
	}
	w->outstanding[id] = true;
	w->ndesc[id] = (uint16_t)need;
	w->ring_free -= need;
	return true;
}

/* The driver learns that @id was completed. */
static void drv_complete(struct world *w, uint16_t id)
{
	CHECK(w->outstanding[id]);
	w->outstanding[id] = false;
	if (w->fmt == VQ_FORMAT_SPLIT) {
		for (unsigned i = 0; i < w->nents[id]; i++)
			w->desc_used[w->ents[id][i]] = false;
	} else {
		w->ring_free += w->ndesc[id];
	}
}

/* One kind of ring corruption; the queue must break at it. */
static void corrupt(struct world *w)
{
	unsigned kind = rnd(w, 3);
	if (w->fmt == VQ_FORMAT_SPLIT) {
		if (kind == 0) {
			write_split_avail(w, (uint16_t)(w->size + rnd(w, 100)));
		} else if (kind == 1 && w->nfl) {
			write_split_avail(w, w->fl[rnd(w, w->nfl)].id);
		} else {
			w->avail_idx = (uint16_t)(w->avail_idx + w->size + 1 + rnd(w, 1000));
		}
		publish_split(w, w->avail_idx);
		return;
	}
	struct buf b = gen_buf(w, w->dir == VQ_DIR_DEVICE_WRITES, false);
	if (kind == 0 || (kind == 1 && !w->nfl)) {
		write_packed_desc(w, w->pos, b.gpa, b.len, (uint16_t)(w->size + rnd(w, 100)),
				  pavail_flags(w->wrap) | (b.writable ? VIRTQ_DESC_F_WRITE : 0));
	} else if (kind == 1) {
		write_packed_desc(w, w->pos, b.gpa, b.len, w->fl[rnd(w, w->nfl)].id,
				  pavail_flags(w->wrap) | (b.writable ? VIRTQ_DESC_F_WRITE : 0));
	} else {
		/* NEXT, but the next descriptor is not made available. */
		write_packed_desc(w, w->pos, b.gpa, b.len, 0,
				  pavail_flags(w->wrap) | VIRTQ_DESC_F_NEXT |
					  (b.writable ? VIRTQ_DESC_F_WRITE : 0));
	}
}

/* ------------------------------------------------------------ comparing */

static const uint8_t *dev_base(const struct side *s)
{
	return s->g.dev_view;
}

static void cmp_elem(const struct side *sa, const struct vq_elem *a, const struct side *sb,
		     const struct vq_elem *b)
{
	CHECK(a->id == b->id);
	CHECK(a->ndesc == b->ndesc);
	CHECK(a->nout == b->nout);
	CHECK(a->nin == b->nin);
	CHECK(a->err == b->err);
	CHECK(a->out_len == b->out_len);
	CHECK(a->in_len == b->in_len);
	CHECK(a->iov_cap == b->iov_cap);
	unsigned n = (unsigned)a->nout + a->nin;
	for (unsigned i = 0; i < n && i < a->iov_cap; i++) {
		CHECK(a->iov[i].iov_len == b->iov[i].iov_len);
		CHECK((const uint8_t *)a->iov[i].iov_base - dev_base(sa) ==
		      (const uint8_t *)b->iov[i].iov_base - dev_base(sb));
	}
}

static void cmp_state(struct world *w)
{
	struct vq *qa = w->a.q, *qb = w->b.q;
	CHECK(memcmp(vq_get_stats(qa), vq_get_stats(qb), sizeof(struct vq_stats)) == 0);
	CHECK(vq_in_flight(qa) == vq_in_flight(qb));
	CHECK(vq_in_flight(qa) == w->nfl);
	struct vq_state sa, sb;
	vq_get_state(qa, &sa);
	vq_get_state(qb, &sb);
	CHECK(sa.avail_idx == sb.avail_idx && sa.used_idx == sb.used_idx &&
	      sa.avail_wrap == sb.avail_wrap && sa.used_wrap == sb.used_wrap);
	CHECK(vq_is_broken(qa) == vq_is_broken(qb));
	CHECK(vq_broken_reason(qa) == vq_broken_reason(qb));
	CHECK(vq_inflight_resubmit_pending(qa) == vq_inflight_resubmit_pending(qb));
	CHECK(memcmp(w->a.g.drv_view, w->b.g.drv_view, w->a.g.total) == 0);
	if (w->a.region)
		CHECK(memcmp(w->a.region, w->b.region, w->a.region_bytes) == 0);
}

/* ------------------------------------------------------------ device */

/* vq_pop_burst() as its comment defines it, with vq_pop(). */
static unsigned pop_each(struct vq *q, struct vq_elem *el, unsigned n, int *err)
{
	unsigned got = 0;
	int rc = 0;
	while (got < n) {
		rc = vq_pop(q, &el[got]);
		if (rc == 0)
			break;
		if (rc < 0 && !vq_err_is_drop(rc))
			break;
		got++;
		rc = 0;
	}
	*err = rc;
	return got;
}

/* Burst on A, one by one on B; compare. Returns the number popped, and
 * false in *more when the ring gave fewer than asked. */
static unsigned pop_round(struct world *w, bool *more)
{
	unsigned m = 1 + rnd(w, chance(w, 20) ? MAX_BURST : 8);
	/* The same stale content and iovec capacities on both sides. */
	for (unsigned i = 0; i < m; i++) {
		uint16_t cap = chance(w, 4) ? (uint16_t)rnd(w, 2) : (uint16_t)(1 + rnd(w, NIOV));
		struct vq_elem junk = {.id = 0xdead, .ndesc = 7, .nout = 9, .nin = 9, .err = 99};
		junk.iov_cap = cap;
		junk.iov = w->a.iov[i];
		w->a.el[i] = junk;
		junk.iov = w->b.iov[i];
		w->b.el[i] = junk;
	}
	bool with_err = !chance(w, 10); /* err may be NULL */
	int ea = 12345, eb = 0;
	unsigned ga = vq_pop_burst(w->a.q, w->a.el, m, with_err ? &ea : NULL);
	unsigned gb = pop_each(w->b.q, w->b.el, m, &eb);
	CHECK(ga == gb);
	CHECK(!with_err || ea == eb);
	for (unsigned i = 0; i < ga; i++) {
		cmp_elem(&w->a, &w->a.el[i], &w->b, &w->b.el[i]);
		CHECK(w->nfl < MAX_SIZE);
		w->fl[w->nfl++] = w->a.el[i];
	}
	if (eb < 0 && !vq_err_is_drop(eb))
		w->broken = true;
	*more = ga == m && !w->broken;
	cmp_state(w);
	return ga;
}

/* Give back the newest @k chains popped (none completed since). */
static void unpop(struct world *w, unsigned k)
{
	for (unsigned i = 0; i < k && w->nfl; i++) {
		struct vq_elem *e = &w->fl[w->nfl - 1];
		int ra = vq_unpop(w->a.q, e);
		int rb = vq_unpop(w->b.q, e);
		CHECK(ra == rb);
		CHECK(ra == 0);
		w->nfl--;
	}
	cmp_state(w);
}

/* Complete some chains in flight. */
static void push_some(struct world *w)
{
	if (!w->nfl)
		return;
	if (w->in_order && chance(w, 50)) {
		unsigned c = 1 + rnd(w, w->nfl);
		uint32_t len = w->fl[c - 1].err ? 0 : rnd(w, w->fl[c - 1].in_len + 1);
		CHECK(vq_push_in_order(w->a.q, c, len) == 0);
		CHECK(vq_push_in_order(w->b.q, c, len) == 0);
		for (unsigned i = 0; i < c; i++)
			drv_complete(w, w->fl[i].id);
		memmove(w->fl, w->fl + c, (w->nfl - c) * sizeof(w->fl[0]));
		w->nfl -= c;
	} else {
		struct vq_used u[MAX_SIZE];
		unsigned c = 1 + rnd(w, w->nfl);
		for (unsigned i = 0; i < c; i++) {
			/* IN_ORDER: the oldest, in order; else any. */
			unsigned k = w->in_order ? 0 : rnd(w, w->nfl);
			struct vq_elem *e = &w->fl[k];
			u[i] = (struct vq_used){.id = e->id,
						.len = e->err ? 0 : rnd(w, e->in_len + 1)};
			memmove(e, e + 1, (w->nfl - k - 1) * sizeof(*e));
			w->nfl--;
		}
		if (chance(w, 50)) {
			CHECK(vq_push_burst(w->a.q, u, c) == 0);
			CHECK(vq_push_burst(w->b.q, u, c) == 0);
		} else {
			for (unsigned i = 0; i < c; i++) {
				CHECK(vq_push(w->a.q, u[i].id, u[i].len) == 0);
				CHECK(vq_push(w->b.q, u[i].id, u[i].len) == 0);
			}
		}
		for (unsigned i = 0; i < c; i++)
			drv_complete(w, u[i].id);
	}
	CHECK(vq_notify_prepare(w->a.q) == vq_notify_prepare(w->b.q));
	cmp_state(w);
}

/* ------------------------------------------------------------ one seed */

static void run_seed(uint64_t seed)
{
	static const uint32_t split_sizes[] = {1, 2, 4, 8, 16, 32, 64};
	struct world *w = calloc(1, sizeof(*w));
	CHECK(w);
	cur_seed = seed;
	w->rng = seed * 0x9E3779B97F4A7C15ull + 1;
	w->fmt = seed & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT;
	w->size = w->fmt == VQ_FORMAT_SPLIT ? split_sizes[rnd(w, 7)] : 1 + rnd(w, MAX_SIZE);
	w->max_chain = chance(w, 70) ? 0 : 1 + rnd(w, 4);
	uint32_t max_chain = w->max_chain ? w->max_chain : w->size;
	w->max_chain = max_chain;
	w->indirect = chance(w, 75);
	w->in_order = chance(w, 40);
	w->features = F(VIRTIO_F_VERSION_1) | (w->indirect ? F(VIRTIO_F_INDIRECT_DESC) : 0) |
		      (chance(w, 50) ? F(VIRTIO_F_EVENT_IDX) : 0) |
		      (w->in_order ? F(VIRTIO_F_IN_ORDER) : 0);
	w->dir = (enum vq_dir)rnd(w, 3);
	bool infl = chance(w, 33);
	size_t region_bytes = chance(w, 40) ? 512 : 0; /* many tiny regions, one mapping */
	bool do_corrupt = chance(w, 25);
	unsigned rounds = 4 + rnd(w, 12);
	unsigned corrupt_round = rnd(w, rounds);
	w->wrap = true;
	w->ring_free = w->size;

	side_open(w, &w->a, region_bytes);
	side_open(w, &w->b, region_bytes);
	if (infl) {
		side_inflight(w, &w->a);
		side_inflight(w, &w->b);
	}
	cmp_state(w);

	for (unsigned r = 0; r < rounds && !w->broken; r++) {
		unsigned k = rnd(w, w->size + 1);
		for (unsigned i = 0; i < k; i++)
			if (!(w->fmt == VQ_FORMAT_SPLIT ? add_split_chain(w) : add_packed_chain(w)))
				break;
		if (w->fmt == VQ_FORMAT_SPLIT)
			publish_split(w, w->avail_idx);
		bool corrupting = do_corrupt && r == corrupt_round;
		bool overrun = corrupting && w->fmt == VQ_FORMAT_PACKED && chance(w, 40);
		if (corrupting && !overrun)
			corrupt(w);
		bool more = true;
		unsigned popped = 0;
		while (more)
			popped += pop_round(w, &more);
		if (overrun) {
			/* Packed: fill the ring, then make one more good
			 * descriptor available over the oldest chain in flight
			 * (HOSTILE C2): the burst that pops the new chains must
			 * stop at the ring's capacity. */
			while (add_packed_chain(w))
				;
			int id = 0;
			for (uint32_t i = 0; i < w->size; i++)
				if (!w->outstanding[i])
					id = (int)i;
			struct buf b = gen_buf(w, w->dir == VQ_DIR_DEVICE_WRITES, false);
			write_packed_desc(w, w->pos, b.gpa, b.len, (uint16_t)id,
					  pavail_flags(w->wrap) |
						  (b.writable ? VIRTQ_DESC_F_WRITE : 0));
			more = true;
			while (more)
				pop_round(w, &more);
		}
		if (corrupting)
			break; /* the driver model no longer holds */
		if (!w->broken && popped && chance(w, 40)) {
			unpop(w, 1 + rnd(w, popped));
			more = true;
			while (more)
				pop_round(w, &more);
		}
		if (!w->broken && chance(w, 80))
			push_some(w);
	}
	if (w->broken) {
		/* Broken stays broken, the same way on both sides. */
		bool more;
		pop_round(w, &more);
		CHECK(vq_is_broken(w->a.q));
	}
	side_close(&w->a);
	side_close(&w->b);
	free(w);
}

static void test_pop_burst_differential(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= SEEDS; seed++)
		run_seed(seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pop_burst_differential),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
