/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table, whole-queue rows (HOSTILE-INPUTS.md G7, A23): a
 * flood of vq_pop() calls on an empty and on a broken ring, and a queue
 * broken with a chain in flight, on both ring formats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "malformed.h"

static const struct row misc_row = {
	.fmts = FB, .hid = "G7", .name = "misc", .features = F_BASE, .dir = DB};

static struct ctx *misc_ctx(struct inst *in, enum vq_format fmt)
{
	in->row = &misc_row;
	in->fmt = fmt;
	void *st = in;
	assert_int_equal(row_setup(&st), 0);
	return st;
}

static void misc_free(struct ctx *c)
{
	void *st = c;
	row_teardown(&st);
}

/* G7: a kick flood on an empty ring, then on a broken ring: 10^6 calls,
 * each O(1) (no timing assertion; the suite timeout bounds it). */
static void g7_flood(enum vq_format fmt)
{
	struct inst in;
	struct ctx *c = misc_ctx(&in, fmt);
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", fmt == VQ_FORMAT_SPLIT ? "split" : "packed", "G7",
	       "1e6 vq_pop on an empty ring", "0 (nothing)", "NONE");
	for (unsigned i = 0; i < 1000000; i++)
		if (vq_pop(c->q, &c->e) != 0)
			fail();
	assert_int_equal(vq_get_stats(c->q)->popped, 0);
	/* Break it (split: head out of range; packed: id out of range). */
	if (fmt == VQ_FORMAT_SPLIT) {
		sdesc(c, 0, B(0), 64, 0, 0);
		spublish(c, 0xffff);
	} else {
		struct bd b = good(c, 0);
		put_chain(c, 0xffff, 1, &b);
	}
	assert_int_equal(vq_pop(c->q, &c->e), E(HEAD_OUT_OF_RANGE));
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", fmt == VQ_FORMAT_SPLIT ? "split" : "packed", "G7",
	       "1e6 vq_pop on a broken ring", "BROKEN", "BROKEN");
	for (unsigned i = 0; i < 1000000; i++)
		if (vq_pop(c->q, &c->e) != E(BROKEN))
			fail();
	misc_free(c);
}

static void test_g7_split(void **state)
{
	(void)state;
	g7_flood(VQ_FORMAT_SPLIT);
}

static void test_g7_packed(void **state)
{
	(void)state;
	g7_flood(VQ_FORMAT_PACKED);
}

/* A23-like: a queue broken while a chain is in flight; completing that
 * chain, notifying or re-enabling kicks afterwards writes nothing. */
static void a23_inflight(enum vq_format fmt)
{
	struct inst in;
	struct ctx *c = misc_ctx(&in, fmt);
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", fmt == VQ_FORMAT_SPLIT ? "split" : "packed",
	       "A23", "push/notify/kicks on a queue broken with a chain in flight", "BROKEN",
	       "BROKEN");
	struct bd b = good(c, 0);
	put_chain(c, 2, 1, &b);
	uint16_t id = pre_pop(c, false);
	assert_int_equal(id, 2);
	if (fmt == VQ_FORMAT_SPLIT) {
		spublish(c, 0x8000);
	} else {
		put_chain(c, 2, 1, &b); /* id 2 is in flight */
	}
	int rc = vq_pop(c->q, &c->e);
	assert_int_equal(rc, fmt == VQ_FORMAT_SPLIT ? E(HEAD_OUT_OF_RANGE) : E(HEAD_IN_FLIGHT));
	uint8_t *snap = malloc(c->g.ring_bytes);
	assert_non_null(snap);
	memcpy(snap, c->g.drv_view, c->g.ring_bytes);
	assert_int_equal(vq_in_flight(c->q), 1);
	assert_broken_inert(c, (enum vq_err) - rc, id);
	assert_int_equal(vq_push_in_order(c->q, 1, 0), E(BROKEN));
	assert_memory_equal(snap, c->g.drv_view, c->g.ring_bytes);
	assert_int_equal(vq_get_stats(c->q)->pushed, 0);
	free(snap);
	misc_free(c);
}

static void test_a23_split(void **state)
{
	(void)state;
	a23_inflight(VQ_FORMAT_SPLIT);
}

static void test_a23_packed(void **state)
{
	(void)state;
	a23_inflight(VQ_FORMAT_PACKED);
}

/* ------------------------------------------------------------------ main */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_g7_split),
		cmocka_unit_test(test_g7_packed),
		cmocka_unit_test(test_a23_split),
		cmocka_unit_test(test_a23_packed),
	};
	return cmocka_run_group_tests_name("malformed-misc", tests, NULL, NULL);
}
