/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the device side of a virtqueue (include/vqnet/virtq.h):
 * popping chains (one by one and in bursts, direct and indirect) and
 * completing them (vq_push, vq_push_burst, vq_push_in_order).
 *
 * The driver is played by hand (virtq_device_fx.h). Format-dependent
 * tests run once per format; their names end in _split / _packed.
 */
#include <stdlib.h>
#include <string.h>

#include "virtq_device_fx.h"

/* ------------------------------------------------------------ pop / push */

static void test_pop_empty(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 0);
	assert_int_equal(vq_get_stats(f->q)->popped, 0);
	assert_false(vq_is_broken(f->q));
	/* a used-but-not-available descriptor (packed) / a stale ring entry
	 * behind avail->idx (split) is not available either */
	if (f->fmt == VQ_FORMAT_PACKED)
		pdesc(f)[0].flags = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
	else
		savail(f)->ring[0] = 3;
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_false(vq_avail_pending(f->q));
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13);
}

static void test_pop_push_chain(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	fill(bptr(f, 0), 100, 1);
	fill(bptr(f, 4096), 50, 2);
	memset(bptr(f, 8192), 0, 200);
	struct hb b[3] = {
		{bgpa(f, 0), 100, false}, {bgpa(f, 4096), 50, false}, {bgpa(f, 8192), 200, true}};
	uint16_t id;
	if (f->fmt == VQ_FORMAT_SPLIT) {
		const uint16_t idx[3] = {5, 2, 7}; /* not consecutive */
		split_chain_at(f, idx, b, 3);
		id = 5;
	} else {
		packed_chain(f, 6, b, 3, 0);
		id = 6;
	}
	assert_true(vq_avail_pending(f->q));
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.err, VQ_OK);
	assert_int_equal(f->e.ndesc, f->fmt == VQ_FORMAT_SPLIT ? 1 : 3);
	assert_int_equal(f->e.nout, 2);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(f->e.out_len, 150);
	assert_int_equal(f->e.in_len, 200);
	assert_int_equal(f->e.iov_cap, NIOV);
	assert_ptr_equal(f->iov[0].iov_base, bdev(f, 0));
	assert_int_equal(f->iov[0].iov_len, 100);
	assert_ptr_equal(f->iov[1].iov_base, bdev(f, 4096));
	assert_int_equal(f->iov[1].iov_len, 50);
	assert_ptr_equal(f->iov[2].iov_base, bdev(f, 8192));
	assert_int_equal(f->iov[2].iov_len, 200);
	/* through the device's own mapping: same bytes the driver wrote */
	assert_memory_equal(f->iov[0].iov_base, bptr(f, 0), 100);
	assert_memory_equal(f->iov[1].iov_base, bptr(f, 4096), 50);
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_pop(f->q, &f->e), 0);

	fill(f->iov[2].iov_base, 123, 9);
	assert_int_equal(vq_push(f->q, id, 123), 0);
	uint8_t expect[123];
	fill(expect, 123, 9);
	assert_memory_equal(bptr(f, 8192), expect, 123);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 1);
		assert_split_used(f, 0, 5, 123);
		assert_int_equal(sused(f)->flags, 0);
		assert_state(f, 1, 1, false, false);
	} else {
		assert_packed_used(f, 0, 6, 123, true);
		assert_state(f, 3, 3, true, true);
	}
	assert_int_equal(vq_in_flight(f->q), 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 1);
	assert_int_equal(s->pushed, 1);
	assert_int_equal(s->dropped, 0);

	/* a second chain, completed with length 0 */
	struct hb b2 = {bgpa(f, 0), 10, false};
	hand_add(f, 0, &b2, 1);
	pop_ok(f, 0);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 0);
	assert_int_equal(f->e.ndesc, 1);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 2);
		assert_split_used(f, 1, 0, 0);
	} else {
		assert_packed_used(f, 3, 0, 0, true);
		assert_state(f, 4, 4, true, true);
	}
}

/* Chains A (id 0, 2 descriptors), B (id 2, 1) and C (id 3, 3): the same
 * ids and, for packed, ring positions 0-1, 2 and 3-5. */
static void add_abc(struct fx *f)
{
	struct hb a[2] = {{bgpa(f, 0), 16, false}, {bgpa(f, 64), 100, true}};
	struct hb b[1] = {{bgpa(f, 256), 50, true}};
	struct hb c[3] = {
		{bgpa(f, 512), 8, false}, {bgpa(f, 1024), 60, true}, {bgpa(f, 2048), 40, true}};
	hand_add(f, 0, a, 2);
	hand_add(f, 2, b, 1);
	hand_add(f, 3, c, 3);
}

static void pop_abc(struct fx *f)
{
	pop_ok(f, 0);
	assert_int_equal(f->e.in_len, 100);
	pop_ok(f, 2);
	pop_ok(f, 3);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.in_len, 100);
	assert_int_equal(vq_in_flight(f->q), 3);
}

static void test_push_burst(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_abc(f);
	const struct vq_used u[3] = {{3, 30}, {0, 10}, {2, 0}};
	assert_int_equal(vq_push_burst(f->q, u, 3), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
	assert_int_equal(vq_get_stats(f->q)->pushed, 3);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 3);
		assert_split_used(f, 0, 3, 30);
		assert_split_used(f, 1, 0, 10);
		assert_split_used(f, 2, 2, 0);
		assert_state(f, 3, 3, false, false);
	} else {
		/* each used descriptor skips its buffer's descriptor count */
		assert_packed_used(f, 0, 3, 30, true);
		assert_packed_used(f, 3, 0, 10, true);
		assert_packed_used(f, 5, 2, 0, true);
		assert_state(f, 6, 6, true, true);
	}
	/* an empty burst is a no-op */
	assert_int_equal(vq_push_burst(f->q, u, 0), 0);
	assert_int_equal(vq_get_stats(f->q)->pushed, 3);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->idx, 3);
	else
		assert_state(f, 6, 6, true, true);
}

static void test_push_not_in_flight(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_ok(f, 0);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_push(f->q, 2, 5), -VQ_ERR_INVALID_ARG); /* available, not popped */
	assert_int_equal(vq_push(f->q, 7, 5), -VQ_ERR_INVALID_ARG); /* never seen */
	assert_int_equal(vq_push(f->q, 8, 5), -VQ_ERR_INVALID_ARG); /* >= size */
	assert_int_equal(vq_push(f->q, 0xffff, 5), -VQ_ERR_INVALID_ARG);
	const struct vq_used u[2] = {{0, 1}, {7, 1}};
	assert_int_equal(vq_push_burst(f->q, u, 2), -VQ_ERR_INVALID_ARG); /* good then bad */
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_get_stats(f->q)->pushed, 0);
	assert_false(vq_is_broken(f->q)); /* a caller bug does not break the queue */

	assert_int_equal(vq_push(f->q, 0, 1), 0);
	snap = snapshot(f, &len);
	assert_int_equal(vq_push(f->q, 0, 1), -VQ_ERR_INVALID_ARG); /* twice */
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_get_stats(f->q)->pushed, 1);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->idx, 1);
	else
		assert_state(f, 2, 2, true, true);
}

static void test_push_duplicate_in_burst(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_ok(f, 0);
	pop_ok(f, 2);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	const struct vq_used dup[3] = {{0, 1}, {2, 2}, {0, 3}};
	assert_int_equal(vq_push_burst(f->q, dup, 3), -VQ_ERR_INVALID_ARG);
	const struct vq_used dup2[2] = {{2, 1}, {2, 1}};
	assert_int_equal(vq_push_burst(f->q, dup2, 2), -VQ_ERR_INVALID_ARG);
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_in_flight(f->q), 2);
	/* the refused batch left no trace: the same ids complete now */
	const struct vq_used ok[2] = {{2, 7}, {0, 9}};
	assert_int_equal(vq_push_burst(f->q, ok, 2), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 2);
		assert_split_used(f, 0, 2, 7);
		assert_split_used(f, 1, 0, 9);
	} else {
		assert_packed_used(f, 0, 2, 7, true);
		assert_packed_used(f, 1, 0, 9, true);
		assert_state(f, 3, 3, true, true);
	}
}

static void test_push_in_order(void **state)
{
	struct fx *f = *state;
	fx_open(f, 16, F(VIRTIO_F_IN_ORDER), VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_abc(f);
	/* out of pop order is refused */
	const struct vq_used bad[1] = {{2, 1}};
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_push_burst(f->q, bad, 1), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_push_in_order(f->q, 0, 1), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_push_in_order(f->q, 4, 1), -VQ_ERR_INVALID_ARG);
	assert_unchanged(f, snap, len);

	assert_int_equal(vq_push_in_order(f->q, 3, 77), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
	assert_int_equal(vq_get_stats(f->q)->pushed, 3);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		/* one element with the last id; the index moves by 3 */
		assert_int_equal(sused(f)->idx, 3);
		assert_split_used(f, 0, 3, 77);
		assert_split_used(f, 1, 0, 0);
		assert_split_used(f, 2, 0, 0);
		assert_state(f, 3, 3, false, false);
	} else {
		/* one used descriptor; the position skips all 6 descriptors */
		assert_packed_used(f, 0, 3, 77, true);
		assert_int_equal(pdesc(f)[2].flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_WRITE);
		assert_int_equal(pdesc(f)[3].flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT);
		assert_state(f, 6, 6, true, true);
	}

	/* again: a batch of 2 of 3, then the third alone by push_burst */
	uint16_t base = f->fmt == VQ_FORMAT_SPLIT ? 6 : 0;
	struct hb one = {bgpa(f, 0), 32, true};
	hand_add(f, (uint16_t)(base + 0), &one, 1);
	hand_add(f, (uint16_t)(base + 1), &one, 1);
	hand_add(f, (uint16_t)(base + 2), &one, 1);
	pop_ok(f, (uint16_t)(base + 0));
	pop_ok(f, (uint16_t)(base + 1));
	pop_ok(f, (uint16_t)(base + 2));
	assert_int_equal(vq_push_in_order(f->q, 2, 5), 0);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_push(f->q, (uint16_t)(base + 2), 6), 0);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 6);
		assert_split_used(f, 3, 7, 5);
		assert_split_used(f, 5, 8, 6);
	} else {
		assert_packed_used(f, 6, 1, 5, true);
		assert_packed_used(f, 8, 2, 6, true);
		assert_state(f, 9, 9, true, true);
	}
}

static void test_push_in_order_not_negotiated(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_abc(f);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_push_in_order(f->q, 1, 1), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_push_in_order(f->q, 3, 1), -VQ_ERR_INVALID_ARG);
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_in_flight(f->q), 3);
}

/* --------------------------------------------------------- bursts, indirect */

static void test_pop_burst(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct iovec iov[4][4];
	struct vq_elem el[4];
	for (int i = 0; i < 4; i++)
		el[i] = (struct vq_elem){.iov = iov[i], .iov_cap = 4};
	struct hb zero = {bgpa(f, 0), 0, true};
	hand_add1(f, 0);
	hand_add(f, 1, &zero, 1);
	hand_add1(f, 2);
	int err = 1;
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 3);
	assert_int_equal(err, 0);
	assert_int_equal(el[0].id, 0);
	assert_int_equal(el[0].err, VQ_OK);
	assert_int_equal(el[1].id, 1);
	assert_int_equal(el[1].err, VQ_ERR_DESC_ZERO_LEN);
	assert_int_equal(el[2].id, 2);
	assert_int_equal(el[2].err, VQ_OK);
	assert_int_equal(el[2].nin, 1);
	assert_ptr_equal(iov[2][0].iov_base, bdev(f, 128));
	err = 1;
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 0);
	assert_int_equal(err, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 3);
	assert_int_equal(s->dropped, 1);

	/* n limits the burst; err may be NULL */
	hand_add1(f, 3);
	hand_add1(f, 4);
	assert_int_equal(vq_pop_burst(f->q, el, 1, NULL), 1);
	assert_int_equal(el[0].id, 3);
	assert_int_equal(vq_in_flight(f->q), 4);

	/* a break stops the burst after the good ones */
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_avail(f, 9);
	} else {
		struct hb b = {bgpa(f, 0), 8, true};
		packed_chain(f, 200, &b, 1, 0);
	}
	err = 0;
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 1);
	assert_int_equal(el[0].id, 4);
	assert_int_equal(err, -VQ_ERR_HEAD_OUT_OF_RANGE);
	assert_true(vq_is_broken(f->q));
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 0);
	assert_int_equal(err, -VQ_ERR_BROKEN);
}

/* Too few iovecs for a chain: a drop, not a break. */
static void test_pop_iov_cap(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct hb b[3] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}, {bgpa(f, 128), 8, true}};
	hand_add(f, 0, b, 3);
	hand_add(f, 3, b, 2);
	f->e.iov_cap = 2;
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_CHAIN_TOO_MANY_SEGMENTS);
	assert_int_equal(f->e.id, 0);
	pop_ok(f, 3);
	assert_int_equal(f->e.nout + f->e.nin, 2);
	assert_false(vq_is_broken(f->q));
}

/* Indirect tables, laid out by hand in the buffer area. */
static void test_indirect(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_INDIRECT_DESC), VQ_DIR_BOTH, 0);
	const uint32_t toff = 0x8000;
	fill(bptr(f, 0), 32, 3);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		struct virtq_desc *t = (struct virtq_desc *)bptr(f, toff);
		/* entries out of order: 0 -> 2 -> 1 */
		t[0] = (struct virtq_desc){bgpa(f, 0), 32, VIRTQ_DESC_F_NEXT, 2};
		t[2] = (struct virtq_desc){bgpa(f, 64), 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
					   1};
		t[1] = (struct virtq_desc){bgpa(f, 128), 48, VIRTQ_DESC_F_WRITE, 0};
		/* WRITE on the pointing descriptor is ignored (§2.7.5.3.2) */
		split_desc(f, 4, bgpa(f, toff), 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
		split_avail(f, 4);
	} else {
		struct pvirtq_desc *t = (struct pvirtq_desc *)bptr(f, toff);
		/* NEXT and id in a table are ignored (§2.8.7) */
		t[0] = (struct pvirtq_desc){bgpa(f, 0), 32, 55, VIRTQ_DESC_F_NEXT};
		t[1] = (struct pvirtq_desc){bgpa(f, 64), 16, 0, VIRTQ_DESC_F_WRITE};
		t[2] = (struct pvirtq_desc){bgpa(f, 128), 48, 0, VIRTQ_DESC_F_WRITE};
		struct hb b = {bgpa(f, toff), 48, false};
		packed_chain(f, 4, &b, 1, VIRTQ_DESC_F_INDIRECT);
	}
	pop_ok(f, 4);
	assert_int_equal(f->e.ndesc, 1);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.out_len, 32);
	assert_int_equal(f->e.in_len, 64);
	assert_ptr_equal(f->iov[0].iov_base, bdev(f, 0));
	assert_memory_equal(f->iov[0].iov_base, bptr(f, 0), 32);
	assert_ptr_equal(f->iov[1].iov_base, bdev(f, 64));
	assert_int_equal(f->iov[1].iov_len, 16);
	assert_ptr_equal(f->iov[2].iov_base, bdev(f, 128));
	assert_int_equal(f->iov[2].iov_len, 48);
	assert_int_equal(vq_push(f->q, 4, 64), 0);
	if (f->fmt == VQ_FORMAT_PACKED)
		assert_state(f, 1, 1, true, true);

	/* a bad table is a drop */
	struct hb bad = {bgpa(f, toff), 40, false};
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_desc(f, 1, bgpa(f, toff), 40, VIRTQ_DESC_F_INDIRECT, 0);
		split_avail(f, 1);
	} else {
		packed_chain(f, 1, &bad, 1, VIRTQ_DESC_F_INDIRECT);
	}
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_INDIRECT_BAD_LEN);
	assert_int_equal(f->e.id, 1);
	assert_int_equal(vq_push(f->q, 1, 0), 0);

	/* not negotiated */
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	bad.len = 48;
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_desc(f, 2, bgpa(f, toff), 48, VIRTQ_DESC_F_INDIRECT, 0);
		split_avail(f, 2);
	} else {
		packed_chain(f, 2, &bad, 1, VIRTQ_DESC_F_INDIRECT);
	}
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_INDIRECT_NOT_NEGOTIATED);
	assert_int_equal(f->e.id, 2);
	assert_false(vq_is_broken(f->q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_pop_empty),
		T2(test_pop_push_chain),
		T2(test_push_burst),
		T2(test_push_not_in_flight),
		T2(test_push_duplicate_in_burst),
		T2(test_push_in_order),
		T2(test_push_in_order_not_negotiated),
		T2(test_pop_burst),
		T2(test_pop_iov_cap),
		T2(test_indirect),
	};
	return cmocka_run_group_tests_name("virtq_device_pop_push", tests, NULL, NULL);
}
