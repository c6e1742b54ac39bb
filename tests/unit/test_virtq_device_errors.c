/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the device side of a virtqueue (include/vqnet/virtq.h):
 * malformed chains that are dropped, driver faults that break the queue,
 * and the error codes (vq_strerror, vq_err_is_drop).
 *
 * The driver is played by hand (virtq_device_fx.h). Format-dependent
 * tests run once per format; their names end in _split / _packed.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "virtq_device_fx.h"

/* -------------------------------------------------------- drops, breaks */

static void test_drop_stats(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct hb zero = {bgpa(f, 0), 0, false};
	struct hb outside = {0x1000, 16, false};
	struct hb wrap = {UINT64_MAX - 10, 100, true};
	struct hb raw[2] = {{bgpa(f, 0), 8, true}, {bgpa(f, 64), 8, false}};
	hand_add(f, 0, &zero, 1);
	hand_add(f, 1, &outside, 1);
	hand_add(f, 2, &wrap, 1);
	hand_add(f, 3, raw, 2);
	static const int expect[4] = {VQ_ERR_DESC_ZERO_LEN, VQ_ERR_DESC_OUT_OF_MEMORY,
				      VQ_ERR_DESC_ADDR_OVERFLOW, VQ_ERR_DESC_READ_AFTER_WRITE};
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(f->q, &f->e), -expect[i]);
		assert_int_equal(f->e.id, i);
		assert_int_equal(f->e.err, expect[i]);
		assert_true(vq_err_is_drop(-expect[i]));
	}
	assert_int_equal(f->e.ndesc, f->fmt == VQ_FORMAT_SPLIT ? 1 : 2);
	assert_false(vq_is_broken(f->q));
	assert_int_equal(vq_in_flight(f->q), 4);
	const struct vq_used u[4] = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
	assert_int_equal(vq_push_burst(f->q, u, 4), 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 4);
	assert_int_equal(s->dropped, 4);
	assert_int_equal(s->pushed, 4);
	for (int code = 0; code <= VQ_ERR_LAST_DROP; code++) {
		bool hit = code == expect[0] || code == expect[1] || code == expect[2] ||
			   code == expect[3];
		assert_int_equal(s->drop_reason[code], hit ? 1 : 0);
	}
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 4);
	} else {
		/* the dropped 2-descriptor list kept the ring in step */
		assert_packed_used(f, 3, 3, 0, true);
		assert_state(f, 5, 5, true, true);
	}
	/* the queue keeps working */
	cycle(f, 5, 9);
	assert_int_equal(s->popped, 5);
	assert_int_equal(s->dropped, 4);
}

/* A bad first descriptor in a packed list still consumes the whole list. */
static void test_drop_long_list(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 2);
	struct hb three[3] = {
		{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}, {bgpa(f, 128), 8, true}};
	hand_add(f, 0, three, 3);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_CHAIN_TOO_LONG);
	assert_int_equal(f->e.id, 0);
	assert_int_equal(f->e.ndesc, f->fmt == VQ_FORMAT_SPLIT ? 1 : 3);
	hand_add(f, 3, three, 2);
	pop_ok(f, 3);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	assert_int_equal(vq_push(f->q, 3, 8), 0);
	if (f->fmt == VQ_FORMAT_PACKED) {
		assert_packed_used(f, 0, 0, 0, true);
		assert_packed_used(f, 3, 3, 8, true);
		assert_state(f, 5, 5, true, true);
	}
}

static void test_dir(void **state)
{
	struct fx *f = *state;
	struct hb rw[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}};
	struct hb r = {bgpa(f, 0), 8, false}, w = {bgpa(f, 64), 8, true};

	fx_open(f, 8, 0, VQ_DIR_DEVICE_READS, 0);
	hand_add(f, 0, rw, 2);
	hand_add(f, 2, &r, 1);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_DESC_WRITE_FORBIDDEN);
	assert_int_equal(f->e.id, 0);
	pop_ok(f, 2);
	assert_int_equal(f->e.nout, 1);

	fx_open(f, 8, 0, VQ_DIR_DEVICE_WRITES, 0);
	hand_add(f, 0, rw, 2);
	hand_add(f, 2, &w, 1);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_DESC_READ_FORBIDDEN);
	assert_int_equal(f->e.id, 0);
	pop_ok(f, 2);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(f->e.nout, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->drop_reason[VQ_ERR_DESC_READ_FORBIDDEN], 1);
}

/* Every call on a broken queue fails and writes nothing. */
static void assert_broken(struct fx *f, enum vq_err why)
{
	assert_true(vq_is_broken(f->q));
	assert_int_equal(vq_broken_reason(f->q), why);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_BROKEN);
	assert_int_equal(vq_push(f->q, 0, 0), -VQ_ERR_BROKEN);
	const struct vq_used u = {0, 0};
	assert_int_equal(vq_push_burst(f->q, &u, 1), -VQ_ERR_BROKEN);
	assert_int_equal(vq_push_in_order(f->q, 1, 0), -VQ_ERR_BROKEN);
	assert_false(vq_notify_prepare(f->q));
	assert_false(vq_avail_pending(f->q));
	vq_disable_kicks(f->q);
	assert_false(vq_enable_kicks(f->q));
	int err = 1;
	assert_int_equal(vq_pop_burst(f->q, &f->e, 1, &err), 0);
	assert_int_equal(err, -VQ_ERR_BROKEN);
	assert_unchanged(f, snap, len);
	assert_true(vq_is_broken(f->q));
	assert_int_equal(vq_broken_reason(f->q), why);
}

static void test_break_head_out_of_range(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	cycle(f, 0, 1);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_avail(f, 8);
	} else {
		struct hb b = {bgpa(f, 0), 8, true};
		packed_chain(f, 8, &b, 1, 0);
	}
	assert_true(vq_avail_pending(f->q));
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_HEAD_OUT_OF_RANGE);
	assert_false(vq_err_is_drop(-VQ_ERR_HEAD_OUT_OF_RANGE));
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 1);
	assert_int_equal(s->dropped, 0);
	assert_broken(f, VQ_ERR_HEAD_OUT_OF_RANGE);
}

static void test_break_head_in_flight(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	hand_add1(f, 3);
	pop_ok(f, 3);
	if (f->fmt == VQ_FORMAT_SPLIT)
		split_avail(f, 3);
	else
		hand_add1(f, 3);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_HEAD_IN_FLIGHT);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_broken(f, VQ_ERR_HEAD_IN_FLIGHT);
}

/* Split: avail->idx more than the queue size ahead, or moved backwards. */
static void test_break_avail_idx_jump(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	savail(f)->idx = 8; /* exactly the queue size: legal */
	for (uint16_t i = 0; i < 8; i++) {
		savail(f)->ring[i] = i;
		split_desc(f, i, bgpa(f, i * 64u), 64, VIRTQ_DESC_F_WRITE, 0);
	}
	for (uint16_t i = 0; i < 8; i++)
		pop_ok(f, i);
	const struct vq_used u[8] = {{0, 0}, {1, 0}, {2, 0}, {3, 0},
				     {4, 0}, {5, 0}, {6, 0}, {7, 0}};
	assert_int_equal(vq_push_burst(f->q, u, 8), 0);
	savail(f)->idx = 8 + 9;
	assert_false(vq_is_broken(f->q));
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_AVAIL_IDX_JUMP);
	assert_int_equal(vq_get_stats(f->q)->popped, 8);
	assert_broken(f, VQ_ERR_AVAIL_IDX_JUMP);

	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	cycle(f, 0, 0);
	savail(f)->idx = 0; /* backwards by one: 65535 "new" entries */
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_AVAIL_IDX_JUMP);
	assert_broken(f, VQ_ERR_AVAIL_IDX_JUMP);
}

/* Packed: a list whose next descriptor is not available. */
static void test_break_packed_incomplete(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct pvirtq_desc *d = pdesc(f);
	d[1] = (struct pvirtq_desc){.addr = bgpa(f, 64), .len = 8, .id = 0, .flags = 0};
	d[0] = (struct pvirtq_desc){.addr = bgpa(f, 0),
				    .len = 8,
				    .id = 0,
				    .flags = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT};
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_PACKED_CHAIN_INCOMPLETE);
	assert_broken(f, VQ_ERR_PACKED_CHAIN_INCOMPLETE);
}

/* Packed: NEXT on every descriptor around the whole ring. */
static void test_break_packed_overrun(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4, 0, VQ_DIR_BOTH, 0);
	struct pvirtq_desc *d = pdesc(f);
	for (int i = 3; i >= 0; i--)
		d[i] = (struct pvirtq_desc){.addr = bgpa(f, 0),
					    .len = 8,
					    .id = 1,
					    .flags = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT};
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_PACKED_RING_OVERRUN);
	assert_broken(f, VQ_ERR_PACKED_RING_OVERRUN);

	/* a list of exactly the ring size is fine */
	fx_open(f, 4, 0, VQ_DIR_BOTH, 0);
	struct hb b[4] = {{bgpa(f, 0), 8, false},
			  {bgpa(f, 64), 8, false},
			  {bgpa(f, 128), 8, true},
			  {bgpa(f, 192), 8, true}};
	hand_add(f, 2, b, 4);
	pop_ok(f, 2);
	assert_int_equal(f->e.ndesc, 4);
	assert_int_equal(vq_push(f->q, 2, 16), 0);
	assert_packed_used(f, 0, 2, 16, true);
	assert_state(f, 0, 0, false, false);
}

/* ------------------------------------------------------ error strings */

static void test_strerror(void **state)
{
	(void)state;
	const char *unknown = vq_strerror(VQ_ERR__COUNT);
	assert_non_null(unknown);
	for (int i = 0; i < VQ_ERR__COUNT; i++) {
		const char *m = vq_strerror(i);
		assert_non_null(m);
		assert_true(strlen(m) > 0);
		assert_string_not_equal(m, unknown);
		assert_ptr_equal(vq_strerror(-i), m);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(m, vq_strerror(j));
	}
	assert_string_equal(vq_strerror(VQ_ERR__COUNT + 1), unknown);
	assert_string_equal(vq_strerror(-VQ_ERR__COUNT), unknown);
	assert_string_equal(vq_strerror(1000000), unknown);
	assert_string_equal(vq_strerror(INT_MAX), unknown);
	assert_string_equal(vq_strerror(-INT_MAX), unknown);
}

static void test_err_is_drop(void **state)
{
	(void)state;
	for (int i = 0; i < VQ_ERR__COUNT + 3; i++) {
		bool drop = i >= VQ_ERR_FIRST_DROP && i <= VQ_ERR_LAST_DROP;
		assert_int_equal(vq_err_is_drop(i), drop);
		assert_int_equal(vq_err_is_drop(-i), drop);
	}
	assert_true(vq_err_is_drop(-VQ_ERR_DESC_OUT_OF_MEMORY));
	assert_true(vq_err_is_drop(VQ_ERR_INDIRECT_WITH_NEXT));
	assert_false(vq_err_is_drop(VQ_OK));
	assert_false(vq_err_is_drop(-VQ_ERR_HEAD_OUT_OF_RANGE));
	assert_false(vq_err_is_drop(-VQ_ERR_BROKEN));
	assert_false(vq_err_is_drop(-VQ_ERR_USED_LEN_TOO_LARGE));
	assert_false(vq_err_is_drop(-VQ_ERR_INVALID_ARG));
	assert_false(vq_err_is_drop(-VQ_ERR_NO_MEMORY));
	assert_false(vq_err_is_drop(INT_MAX));
	assert_false(vq_err_is_drop(-INT_MAX));
	/* the drop codes are exactly the documented contiguous range */
	assert_int_equal(VQ_ERR_FIRST_DROP, 1);
	assert_int_equal(VQ_ERR_LAST_DROP + 1, VQ_ERR_HEAD_OUT_OF_RANGE);
}

/* "A message for a code, positive or negative; never NULL": INT_MIN is a
 * negative int too. Kept last: negating it is undefined behaviour and the
 * index that results reads far outside the message table. */
static void test_strerror_int_min(void **state)
{
	(void)state;
	assert_false(vq_err_is_drop(INT_MIN));
	const char *m = vq_strerror(INT_MIN);
	assert_non_null(m);
	assert_string_equal(m, vq_strerror(VQ_ERR__COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_drop_stats),
		T2(test_drop_long_list),
		T2(test_dir),
		T2(test_break_head_out_of_range),
		T2(test_break_head_in_flight),
		TS(test_break_avail_idx_jump),
		TP(test_break_packed_incomplete),
		TP(test_break_packed_overrun),
		T(test_strerror),
		T(test_err_is_drop),
		T(test_strerror_int_min),
	};
	return cmocka_run_group_tests_name("virtq_device_errors", tests, NULL, NULL);
}
