/* SPDX-License-Identifier: MIT */
/*
 * vq_drv_add_burst(): n one-descriptor chains in one call.
 *
 * The differential test runs two driver rings side by side ("twins") in
 * the same fake guest memory: ring A gets every burst through
 * vq_drv_add_burst(), ring B the same chains one by one through
 * vq_drv_add_chain(); both also get the same multi-descriptor chains
 * interleaved. After each publish the rings' descriptor tables and driver
 * areas must be identical byte for byte, and the ids returned equal. A
 * device (struct vq of the same library) on each ring pops every chain and
 * checks the buffers against what was added, then completes them (random
 * subsets in random order, or with IN_ORDER random batch entries); both
 * drivers reap the same tokens, ids and lengths in the expected order.
 * Split and packed, IN_ORDER and EVENT_IDX on and off, rings small enough
 * to fill and wrap many times.
 *
 * Then the edges (ring full, a zero-length entry, an open chain, a broken
 * queue) and a hostile device answering burst-built chains (ids out of
 * range, not in flight, not yet published, lengths too large, an IN_ORDER
 * batch id not yet published): the queue breaks with the same errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vqnet/virtq.h>

#include "guestmem.h"
#include "spec/virtio_ring.h"

#define F(bit) (1ull << (bit))
#define SEG    64u /* bytes per buffer slot */
#define MAXC   3u  /* descriptors of an interleaved add_chain() chain */

struct bparam {
	enum vq_format fmt;
	uint32_t size;
	uint64_t features;
	unsigned steps;
	uint64_t seed;
};

/* What the test expects of one chain in flight. */
struct exp {
	bool busy;
	unsigned serial;
	unsigned n, nout;
	uint64_t gpa[MAXC];
	uint32_t len[MAXC];
	uint32_t in_len;
	uint32_t done_len;
	bool popped, pushed;
};

struct bt {
	const struct bparam *p;
	struct tgm g;
	struct tring ra, rb;
	struct vq_drv *a, *b;
	struct vq *qa, *qb;
	uint64_t rng;
	bool in_order;
	struct exp *ex;	   /* [size], by id */
	unsigned serial;   /* chains added */
	unsigned reaped;   /* chains reaped */
	unsigned popped;   /* chains popped by the device */
	uint16_t *dev_ids; /* device: ids popped, not pushed, in pop order */
	unsigned dev_n;
	unsigned bursts, short_bursts;
};

static uint32_t rnd(struct bt *t, uint32_t n)
{
	return n ? (uint32_t)(trand(&t->rng) >> 33) % n : 0;
}

static int bt_open(struct bt *t, const struct bparam *p)
{
	memset(t, 0, sizeof(*t));
	t->p = p;
	t->rng = p->seed;
	t->in_order = vq_has_feature(p->features, VIRTIO_F_IN_ORDER);
	if (tgm_init(&t->g, (size_t)p->size * 128 + 64 * 1024, (size_t)p->size * MAXC * SEG * 2, 0))
		return -1;
	if (tring_alloc(&t->g, &t->ra, p->fmt, p->size, 0) ||
	    tring_alloc(&t->g, &t->rb, p->fmt, p->size, 0))
		return -1;
	if (tring_driver(&t->g, &t->ra, p->features, &t->a) ||
	    tring_driver(&t->g, &t->rb, p->features, &t->b))
		return -1;
	if (tring_device(&t->g, &t->ra, p->features, VQ_DIR_BOTH, 8, &t->qa) ||
	    tring_device(&t->g, &t->rb, p->features, VQ_DIR_BOTH, 8, &t->qb))
		return -1;
	t->ex = calloc(p->size, sizeof(*t->ex));
	t->dev_ids = calloc(p->size, sizeof(*t->dev_ids));
	return t->ex && t->dev_ids ? 0 : -1;
}

static void bt_close(struct bt *t)
{
	vq_free(t->qa);
	vq_free(t->qb);
	vq_drv_free(t->a);
	vq_drv_free(t->b);
	tgm_fini(&t->g);
	free(t->ex);
	free(t->dev_ids);
}

/* Ring memory the driver writes: descriptor table and driver area. */
static void assert_twins_equal(struct bt *t)
{
	struct vq_layout l;
	assert_int_equal(vq_layout(t->p->fmt, t->p->size, &l), 0);
	assert_memory_equal(tgm_drv_ptr(&t->g, t->ra.desc_gpa), tgm_drv_ptr(&t->g, t->rb.desc_gpa),
			    l.desc_bytes);
	assert_memory_equal(tgm_drv_ptr(&t->g, t->ra.driver_gpa),
			    tgm_drv_ptr(&t->g, t->rb.driver_gpa), l.driver_bytes);
	assert_int_equal(vq_drv_free_descs(t->a), vq_drv_free_descs(t->b));
	assert_int_equal(vq_drv_in_flight(t->a), vq_drv_in_flight(t->b));
}

/* A buffer slot for descriptor @k of the chain of @serial. */
static uint64_t buf_gpa(struct bt *t, unsigned serial, unsigned k)
{
	unsigned slot = (serial % (t->p->size * 2)) * MAXC + k;
	return tgm_buf_gpa(&t->g) + (uint64_t)slot * SEG;
}

static void *token_of(struct bt *t, uint16_t id)
{
	return &t->ex[id];
}

static void note_chain(struct bt *t, int id, unsigned n, unsigned nout, const struct vq_drv_buf *b)
{
	assert_true(id >= 0 && (uint32_t)id < t->p->size);
	struct exp *e = &t->ex[id];
	assert_false(e->busy);
	*e = (struct exp){.busy = true, .serial = t->serial++, .n = n, .nout = nout};
	for (unsigned k = 0; k < n; k++) {
		e->gpa[k] = b[k].gpa;
		e->len[k] = b[k].len;
		if (k >= nout)
			e->in_len += b[k].len;
	}
}

/* A burst of 1..size+3 chains on A, the same one by one on B. */
static void add_burst_step(struct bt *t)
{
	unsigned want = 1 + rnd(t, t->p->size + 3);
	bool w = rnd(t, 2);
	struct vq_drv_buf bufs[128];
	void *toks[128];
	int ids_b[128];
	unsigned free_before = vq_drv_free_descs(t->a);
	assert_true(want <= 128);
	for (unsigned i = 0; i < want; i++) {
		bufs[i].gpa = buf_gpa(t, t->serial + i, 0);
		bufs[i].len = 1 + rnd(t, SEG);
		toks[i] = NULL; /* set below, once the id is known */
	}
	/* B first: its ids say which token each chain must carry. */
	unsigned nb = 0;
	for (; nb < want; nb++) {
		int rc = vq_drv_add_chain(t->b, &bufs[nb], w ? 0 : 1, w ? 1 : 0, false, NULL);
		if (rc == -VQ_ERR_NO_SPACE)
			break;
		assert_true(rc >= 0);
		ids_b[nb] = rc;
	}
	assert_int_equal(nb, want < free_before ? want : free_before);
	/* B's records carry NULL tokens; A's carry the real ones. The twin
	 * check is about ring bytes; tokens are checked at reap on A and
	 * through ids on B. */
	for (unsigned i = 0; i < nb; i++)
		toks[i] = token_of(t, (uint16_t)ids_b[i]);
	int r = vq_drv_add_burst(t->a, bufs, toks, want, w);
	assert_int_equal(r, (int)nb);
	t->bursts++;
	if (nb < want)
		t->short_bursts++;
	for (unsigned i = 0; i < nb; i++)
		note_chain(t, ids_b[i], 1, w ? 0 : 1, &bufs[i]);
}

/* One chain of 1..MAXC descriptors through add_chain() on both. */
static void add_chain_step(struct bt *t)
{
	unsigned n = 1 + rnd(t, MAXC), nout = rnd(t, n + 1);
	struct vq_drv_buf bufs[MAXC];
	if (vq_drv_free_descs(t->a) < n)
		return;
	for (unsigned k = 0; k < n; k++) {
		bufs[k].gpa = buf_gpa(t, t->serial, k);
		bufs[k].len = 1 + rnd(t, SEG);
	}
	int ib = vq_drv_add_chain(t->b, bufs, nout, n - nout, false, NULL);
	assert_true(ib >= 0);
	int ia = vq_drv_add_chain(t->a, bufs, nout, n - nout, false, token_of(t, (uint16_t)ib));
	assert_int_equal(ia, ib);
	note_chain(t, ia, n, nout, bufs);
}

static void publish_both(struct bt *t)
{
	vq_drv_publish(t->a);
	vq_drv_publish(t->b);
	assert_int_equal(vq_drv_kick_prepare(t->a), vq_drv_kick_prepare(t->b));
	assert_twins_equal(t);
}

/* The device of each ring pops everything published; both must see the
 * same chain, and it must be what was added. */
static void device_pop(struct bt *t)
{
	struct iovec iova[8], iovb[8];
	struct vq_elem ea = {.iov = iova, .iov_cap = 8}, eb = {.iov = iovb, .iov_cap = 8};
	for (;;) {
		int ra = vq_pop(t->qa, &ea), rb = vq_pop(t->qb, &eb);
		assert_int_equal(ra, rb);
		if (ra == 0)
			break;
		assert_int_equal(ra, 1);
		assert_int_equal(ea.id, eb.id);
		assert_true(ea.id < t->p->size);
		struct exp *e = &t->ex[ea.id];
		assert_true(e->busy && !e->popped);
		assert_int_equal(ea.nout, e->nout);
		assert_int_equal(ea.nout + ea.nin, e->n);
		for (unsigned k = 0; k < e->n; k++) {
			uint8_t *want = t->g.dev_view + (e->gpa[k] - TGM_GPA_BASE);
			assert_ptr_equal(ea.iov[k].iov_base, want);
			assert_int_equal(ea.iov[k].iov_len, e->len[k]);
			assert_int_equal(eb.iov[k].iov_len, e->len[k]);
		}
		assert_int_equal(ea.in_len, e->in_len);
		if (t->in_order) /* pop order is add order */
			assert_int_equal(e->serial, t->popped);
		t->popped++;
		e->popped = true;
		t->dev_ids[t->dev_n++] = ea.id;
	}
}

static void device_push(struct bt *t)
{
	if (t->dev_n == 0)
		return;
	if (t->in_order) {
		unsigned count = 1 + rnd(t, t->dev_n);
		struct exp *last = &t->ex[t->dev_ids[count - 1]];
		uint32_t len = rnd(t, last->in_len + 1);
		for (unsigned i = 0; i < count; i++) {
			struct exp *e = &t->ex[t->dev_ids[i]];
			e->pushed = true;
			e->done_len = i + 1 == count ? len : e->in_len;
		}
		assert_int_equal(vq_push_in_order(t->qa, count, len), 0);
		assert_int_equal(vq_push_in_order(t->qb, count, len), 0);
		memmove(t->dev_ids, t->dev_ids + count, (t->dev_n - count) * sizeof(*t->dev_ids));
		t->dev_n -= count;
		return;
	}
	unsigned count = 1 + rnd(t, t->dev_n);
	for (unsigned i = 0; i < count; i++) {
		unsigned j = rnd(t, t->dev_n);
		uint16_t id = t->dev_ids[j];
		struct exp *e = &t->ex[id];
		e->pushed = true;
		e->done_len = rnd(t, e->in_len + 1);
		assert_int_equal(vq_push(t->qa, id, e->done_len), 0);
		assert_int_equal(vq_push(t->qb, id, e->done_len), 0);
		t->dev_ids[j] = t->dev_ids[--t->dev_n];
	}
}

static void driver_reap(struct bt *t)
{
	struct vq_drv_used ua[16], ub[16];
	unsigned n = 1 + rnd(t, 16);
	int ga = vq_drv_reap(t->a, ua, n), gb = vq_drv_reap(t->b, ub, n);
	assert_int_equal(ga, gb);
	assert_true(ga >= 0);
	for (int i = 0; i < ga; i++) {
		assert_int_equal(ua[i].id, ub[i].id);
		assert_int_equal(ua[i].len, ub[i].len);
		assert_null(ub[i].token);
		struct exp *e = &t->ex[ua[i].id];
		assert_ptr_equal(ua[i].token, e);
		assert_true(e->busy && e->pushed);
		assert_int_equal(ua[i].len, e->done_len);
		if (t->in_order)
			assert_int_equal(e->serial, t->reaped);
		e->busy = false;
		t->reaped++;
	}
}

/* Let the device finish everything in flight (bounded by the ring). */
static void drain(struct bt *t, unsigned size)
{
	for (unsigned k = 0; k < 4 * size && vq_drv_in_flight(t->a); k++) {
		publish_both(t);
		device_pop(t);
		device_push(t);
		driver_reap(t);
	}
}

static void test_differential(void **state)
{
	const struct bparam *p = *state;
	struct bt t;
	assert_int_equal(bt_open(&t, p), 0);
	for (unsigned s = 0; s < p->steps; s++) {
		unsigned adds = rnd(&t, 4);
		for (unsigned i = 0; i < adds; i++) {
			if (rnd(&t, 3))
				add_burst_step(&t);
			else
				add_chain_step(&t);
		}
		publish_both(&t);
		device_pop(&t);
		if (rnd(&t, 3))
			device_push(&t);
		if (rnd(&t, 3))
			driver_reap(&t);
	}
	drain(&t, p->size);
	assert_int_equal(vq_drv_in_flight(t.a), 0);
	assert_int_equal(vq_drv_free_descs(t.a), p->size);
	assert_true(t.bursts > 100 && t.short_bursts > 10);
	assert_false(vq_drv_is_broken(t.a) || vq_drv_is_broken(t.b));
	bt_close(&t);
}

/*
 * IN_ORDER steady state: long runs of bursts only (one-descriptor chains,
 * so every avail slot comes to hold its own descriptor and the burst path
 * stops checking the slots), broken now and then by a chain of random
 * shape (several descriptors shift slots against descriptors); the twins'
 * rings must stay byte for byte equal throughout.
 */
static void test_in_order_steady(void **state)
{
	const struct bparam *p = *state;
	struct bt t;
	assert_int_equal(bt_open(&t, p), 0);
	for (unsigned s = 0; s < p->steps; s++) {
		if (s % 97 == 96)
			add_chain_step(&t);
		else
			add_burst_step(&t);
		publish_both(&t);
		device_pop(&t);
		device_push(&t);
		driver_reap(&t);
	}
	drain(&t, p->size);
	assert_int_equal(vq_drv_in_flight(t.a), 0);
	assert_false(vq_drv_is_broken(t.a) || vq_drv_is_broken(t.b));
	bt_close(&t);
}

/* ------------------------------------------------------------ edges */

static const struct bparam edge_split = {VQ_FORMAT_SPLIT, 8, 0, 0, 1};
static const struct bparam edge_packed = {VQ_FORMAT_PACKED, 8, 0, 0, 1};
static const struct bparam edge_split_io = {VQ_FORMAT_SPLIT, 8, F(VIRTIO_F_IN_ORDER), 0, 1};
static const struct bparam edge_packed_io = {VQ_FORMAT_PACKED, 8, F(VIRTIO_F_IN_ORDER), 0, 1};

static void fill_bufs(struct bt *t, struct vq_drv_buf *b, void **tok, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		b[i].gpa = buf_gpa(t, i, 0);
		b[i].len = 32;
		tok[i] = &t->ex[i % t->p->size];
	}
}

static void test_edges(void **state)
{
	const struct bparam *p = *state;
	struct bt t;
	struct vq_drv_buf b[16];
	void *tok[16];
	assert_int_equal(bt_open(&t, p), 0);
	fill_bufs(&t, b, tok, 16);

	/* n == 0: nothing */
	assert_int_equal(vq_drv_add_burst(t.a, b, tok, 0, true), 0);
	/* first entry of length 0: nothing added */
	b[0].len = 0;
	assert_int_equal(vq_drv_add_burst(t.a, b, tok, 4, true), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_drv_free_descs(t.a), 8);
	assert_int_equal(vq_drv_in_flight(t.a), 0);
	b[0].len = 32;
	/* a later zero-length entry stops the burst there */
	b[2].len = 0;
	assert_int_equal(vq_drv_add_burst(t.a, b, tok, 4, true), 2);
	assert_int_equal(vq_drv_free_descs(t.a), 6);
	assert_int_equal(vq_drv_in_flight(t.a), 2);
	b[2].len = 32;
	/* an open chain: refused, the chain stays open */
	assert_int_equal(vq_drv_chain_start(t.a, false), 0);
	assert_int_equal(vq_drv_add_burst(t.a, b, tok, 4, true), -VQ_ERR_INVALID_ARG);
	vq_drv_chain_rewind(t.a);
	/* ring full: fewer, then 0 */
	assert_int_equal(vq_drv_add_burst(t.a, b, tok, 16, false), 6);
	assert_int_equal(vq_drv_free_descs(t.a), 0);
	assert_int_equal(vq_drv_add_burst(t.a, b, tok, 16, false), 0);
	assert_int_equal(vq_drv_in_flight(t.a), 8);
	vq_drv_publish(t.a);
	/* the device sees 2 writable, then 6 readable chains of 32 bytes */
	struct iovec iov[2];
	struct vq_elem e = {.iov = iov, .iov_cap = 2};
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(vq_pop(t.qa, &e), 1);
		assert_int_equal(e.nout + e.nin, 1);
		assert_int_equal(e.nin, i < 2);
		assert_int_equal(iov[0].iov_len, 32);
		assert_int_equal(vq_push(t.qa, e.id, 0), 0);
	}
	struct vq_drv_used u[16];
	assert_int_equal(vq_drv_reap(t.a, u, 16), 8);
	for (unsigned i = 0; i < 8; i++) {
		unsigned k = i < 2 ? i : i - 2;
		assert_ptr_equal(u[i].token, tok[k]);
		assert_int_equal(u[i].len, 0);
	}
	bt_close(&t);
}

/* ---------------------------------------------------------- hostile */

/* Two bursts published (ids of chains 0..3, writable 32 bytes each),
 * then one more burst added but not published (chain 4). */
static void hostile_open(struct bt *t, const struct bparam *p, uint16_t ids[5])
{
	struct vq_drv_buf b[4];
	void *tok[4];
	assert_int_equal(bt_open(t, p), 0);
	fill_bufs(t, b, tok, 4);
	assert_int_equal(vq_drv_add_burst(t->a, b, tok, 2, true), 2);
	assert_int_equal(vq_drv_add_burst(t->a, b + 2, tok + 2, 2, true), 2);
	vq_drv_publish(t->a);
	assert_int_equal(vq_drv_add_burst(t->a, b, tok, 1, true), 1);
	/* the device pops the published four: their ids */
	struct iovec iov[2];
	struct vq_elem e = {.iov = iov, .iov_cap = 2};
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(t->qa, &e), 1);
		ids[i] = e.id;
	}
	assert_int_equal(vq_pop(t->qa, &e), 0);
	/* chain 4: split in-order / packed in-order next slot; without
	 * IN_ORDER the free list hands out 4 next on a fresh ring */
	ids[4] = 4;
}

/* Write one used entry (@id, @len) at the driver's next used position
 * (fresh ring: entry 0 / descriptor 0), as a hostile device would. */
static void hostile_used(struct bt *t, uint32_t id, uint32_t len)
{
	if (t->p->fmt == VQ_FORMAT_SPLIT) {
		struct virtq_used *u = tgm_drv_ptr(&t->g, t->ra.device_gpa);
		u->ring[0].id = id;
		u->ring[0].len = len;
		__atomic_store_n(&u->idx, (uint16_t)1, __ATOMIC_RELEASE);
	} else {
		struct pvirtq_desc *d = tgm_drv_ptr(&t->g, t->ra.desc_gpa);
		d[0].id = (uint16_t)id;
		d[0].len = len;
		__atomic_store_n(
			&d[0].flags,
			(uint16_t)(VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED | VIRTQ_DESC_F_WRITE),
			__ATOMIC_RELEASE);
	}
}

static void expect_broken(struct bt *t, enum vq_err why)
{
	struct vq_drv_used u[8];
	struct vq_drv_buf b = {.gpa = buf_gpa(t, 0, 0), .len = 8};
	void *tok = NULL;
	assert_int_equal(vq_drv_reap(t->a, u, 8), -(int)why);
	assert_true(vq_drv_is_broken(t->a));
	assert_int_equal(vq_drv_broken_reason(t->a), why);
	assert_int_equal(vq_drv_reap(t->a, u, 8), -VQ_ERR_BROKEN);
	assert_int_equal(vq_drv_add_burst(t->a, &b, &tok, 1, true), -VQ_ERR_BROKEN);
}

static void test_hostile(void **state)
{
	const struct bparam *p = *state;
	struct bt t;
	uint16_t ids[5];

	hostile_open(&t, p, ids);
	hostile_used(&t, p->size, 0);
	expect_broken(&t, VQ_ERR_USED_ID_OUT_OF_RANGE);
	bt_close(&t);

	hostile_open(&t, p, ids);
	hostile_used(&t, 0xffff, 0);
	expect_broken(&t, VQ_ERR_USED_ID_OUT_OF_RANGE);
	bt_close(&t);

	hostile_open(&t, p, ids);
	hostile_used(&t, 7, 0); /* never added */
	expect_broken(&t, VQ_ERR_USED_ID_NOT_IN_FLIGHT);
	bt_close(&t);

	hostile_open(&t, p, ids);
	hostile_used(&t, ids[4], 0); /* added, not published */
	expect_broken(&t, VQ_ERR_USED_ID_NOT_IN_FLIGHT);
	bt_close(&t);

	hostile_open(&t, p, ids);
	hostile_used(&t, ids[0], 33); /* 32 writable bytes */
	expect_broken(&t, VQ_ERR_USED_LEN_TOO_LARGE);
	bt_close(&t);

	/* IN_ORDER: a batch entry naming the last published chain closes
	 * all four; naming a later one (unpublished) breaks */
	hostile_open(&t, p, ids);
	if (t.in_order) {
		struct vq_drv_used u[8];
		hostile_used(&t, ids[3], 5);
		if (p->fmt == VQ_FORMAT_SPLIT) {
			struct virtq_used *uu = tgm_drv_ptr(&t.g, t.ra.device_gpa);
			__atomic_store_n(&uu->idx, (uint16_t)4, __ATOMIC_RELEASE);
		}
		assert_int_equal(vq_drv_reap(t.a, u, 8), 4);
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(u[i].len, i == 3 ? 5 : 32);
	} else {
		/* a used entry twice: the second is not in flight */
		struct vq_drv_used u[8];
		hostile_used(&t, ids[0], 1);
		assert_int_equal(vq_drv_reap(t.a, u, 8), 1);
		if (p->fmt == VQ_FORMAT_SPLIT) {
			struct virtq_used *uu = tgm_drv_ptr(&t.g, t.ra.device_gpa);
			uu->ring[1] = uu->ring[0];
			__atomic_store_n(&uu->idx, (uint16_t)2, __ATOMIC_RELEASE);
		} else {
			struct pvirtq_desc *d = tgm_drv_ptr(&t.g, t.ra.desc_gpa);
			d[1] = d[0];
		}
		expect_broken(&t, VQ_ERR_USED_ID_NOT_IN_FLIGHT);
	}
	bt_close(&t);

	/* split: the used index moving past the chains published (4 of the
	 * 5 in flight) is a jump */
	if (p->fmt == VQ_FORMAT_SPLIT) {
		hostile_open(&t, p, ids);
		struct virtq_used *uu = tgm_drv_ptr(&t.g, t.ra.device_gpa);
		uu->ring[0].id = ids[0];
		uu->ring[0].len = 0;
		__atomic_store_n(&uu->idx, (uint16_t)5, __ATOMIC_RELEASE);
		expect_broken(&t, VQ_ERR_USED_IDX_JUMP);
		bt_close(&t);
	}
}

/* ------------------------------------------------------------- main */

#define DIFF(name, fmt, size, feat, seed)                                                          \
	static const struct bparam name = {fmt, size, feat, 4000, seed}
DIFF(d_split, VQ_FORMAT_SPLIT, 16, 0, 11);
DIFF(d_split_ev, VQ_FORMAT_SPLIT, 16, F(VIRTIO_F_EVENT_IDX), 12);
DIFF(d_split_io, VQ_FORMAT_SPLIT, 16, F(VIRTIO_F_IN_ORDER), 13);
DIFF(d_split_io_ev, VQ_FORMAT_SPLIT, 8, F(VIRTIO_F_IN_ORDER) | F(VIRTIO_F_EVENT_IDX), 14);
DIFF(d_packed, VQ_FORMAT_PACKED, 16, 0, 21);
DIFF(d_packed_ev, VQ_FORMAT_PACKED, 13, F(VIRTIO_F_EVENT_IDX), 22);
DIFF(d_packed_io, VQ_FORMAT_PACKED, 11, F(VIRTIO_F_IN_ORDER), 23);
DIFF(d_packed_io_ev, VQ_FORMAT_PACKED, 16, F(VIRTIO_F_IN_ORDER) | F(VIRTIO_F_EVENT_IDX), 24);
DIFF(s_split_io, VQ_FORMAT_SPLIT, 16, F(VIRTIO_F_IN_ORDER), 31);
DIFF(s_split_io_ev, VQ_FORMAT_SPLIT, 8, F(VIRTIO_F_IN_ORDER) | F(VIRTIO_F_EVENT_IDX), 32);
DIFF(s_packed_io, VQ_FORMAT_PACKED, 11, F(VIRTIO_F_IN_ORDER), 33);

#define T(fn, p) cmocka_unit_test_prestate(fn, (void *)&(p))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_differential, d_split),
		T(test_differential, d_split_ev),
		T(test_differential, d_split_io),
		T(test_differential, d_split_io_ev),
		T(test_differential, d_packed),
		T(test_differential, d_packed_ev),
		T(test_differential, d_packed_io),
		T(test_differential, d_packed_io_ev),
		T(test_edges, edge_split),
		T(test_edges, edge_packed),
		T(test_edges, edge_split_io),
		T(test_edges, edge_packed_io),
		T(test_hostile, edge_split),
		T(test_hostile, edge_packed),
		T(test_hostile, edge_split_io),
		T(test_hostile, edge_packed_io),
		T(test_in_order_steady, s_split_io),
		T(test_in_order_steady, s_split_io_ev),
		T(test_in_order_steady, s_packed_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
