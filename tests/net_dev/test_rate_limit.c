/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the token-bucket rate limiter (lib/net_dev/rate_limit.h) with a
 * fake clock: bursts, continuous refill without lost or invented
 * fractions, frames larger than the bucket, clock jumps (forward by
 * centuries, backwards), huge rates, and the option parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net_dev/rate_limit.h"

#define MS 1000000ull
#define S  1000000000ull

static void test_unlimited(void **state)
{
	struct net_dev_limiter rl;
	(void)state;
	net_dev_limiter_init(&rl, &(struct net_dev_rate){0}, 5);
	assert_true(net_dev_limiter_unlimited(&rl));
	for (int i = 0; i < 1000; i++)
		assert_true(net_dev_limiter_consume(&rl, UINT64_MAX, 5));
	assert_int_equal(net_dev_limiter_wait_ns(&rl, UINT64_MAX, 0), 0);
	net_dev_limiter_init(&rl, &(struct net_dev_rate){.pkts_per_sec = 1}, 5);
	assert_false(net_dev_limiter_unlimited(&rl));
}

/* 1000 bytes/s, burst 1000: the burst passes, then 1 byte per ms. */
static void test_bytes_burst_refill(void **state)
{
	struct net_dev_limiter rl;
	uint64_t t = 123 * S;
	(void)state;
	net_dev_limiter_init(&rl, &(struct net_dev_rate){.bytes_per_sec = 1000}, t);
	assert_true(net_dev_limiter_consume(&rl, 600, t));
	assert_true(net_dev_limiter_consume(&rl, 400, t));
	assert_false(net_dev_limiter_consume(&rl, 1, t));
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 1, t), 1 * MS);
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 100, t), 100 * MS);
	/* Half a token earned is not a token, and is not lost either. */
	assert_false(net_dev_limiter_consume(&rl, 1, t + MS / 2));
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 1, t + MS / 2), MS / 2);
	assert_true(net_dev_limiter_consume(&rl, 1, t + MS));
	assert_false(net_dev_limiter_consume(&rl, 1, t + MS));
	/* 1000 steps of 1 ms each earn exactly 1000 bytes. */
	unsigned passed = 0;
	for (uint64_t k = 2; k <= 1001; k++)
		passed += net_dev_limiter_consume(&rl, 1, t + k * MS);
	assert_int_equal(passed, 1000);
	/* Steps of 0.3 ms: no rounding drift over 10000 steps (3 s = 3000). */
	t += 1001 * MS;
	passed = 0;
	for (uint64_t k = 1; k <= 10000; k++)
		passed += net_dev_limiter_consume(&rl, 1, t + k * 300000);
	assert_int_equal(passed, 3000);
}

/* A long idle time fills the bucket to its size only. */
static void test_cap_and_burst(void **state)
{
	struct net_dev_limiter rl;
	(void)state;
	net_dev_limiter_init(&rl,
			     &(struct net_dev_rate){.bytes_per_sec = 1000, .bytes_burst = 5000}, 0);
	assert_true(net_dev_limiter_consume(&rl, 5000, 0));
	assert_false(net_dev_limiter_consume(&rl, 1, 0));
	unsigned passed = 0;
	for (int i = 0; i < 20000; i++)
		passed += net_dev_limiter_consume(&rl, 1, 3600 * S);
	assert_int_equal(passed, 5000);
	/* Full since long ago: the burst is all there is, idle time after a
	 * full bucket is not banked. */
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 1, 3600 * S), MS);
}

/* Packets: 10/s, burst 2. Both buckets must agree; nothing is taken from
 * one when the other refuses. */
static void test_packets_and_both(void **state)
{
	struct net_dev_limiter rl;
	(void)state;
	net_dev_limiter_init(
		&rl,
		&(struct net_dev_rate){.bytes_per_sec = 1000, .pkts_per_sec = 10, .pkts_burst = 2},
		0);
	assert_true(net_dev_limiter_consume(&rl, 100, 0));
	assert_true(net_dev_limiter_consume(&rl, 100, 0));
	assert_false(net_dev_limiter_consume(&rl, 100, 0)); /* packets out */
	assert_int_equal(rl.bytes.tokens, 800);		    /* bytes untouched */
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 100, 0), 100 * MS);
	assert_true(net_dev_limiter_consume(&rl, 800, 100 * MS));
	/* 200 ms: 100 + 100 bytes, 1 packet; 201 bytes is one too many. */
	assert_false(net_dev_limiter_consume(&rl, 201, 200 * MS));
	assert_int_equal(rl.pkts.tokens, 1); /* packet not taken */
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 200, 200 * MS), 0);
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 201, 200 * MS), 1 * MS);
	/* The larger of the two waits. */
	assert_true(net_dev_limiter_consume(&rl, 1, 200 * MS));
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 1, 200 * MS), 100 * MS);
}

/* A frame larger than the bucket passes when the bucket is full. */
static void test_large_frame(void **state)
{
	struct net_dev_limiter rl;
	(void)state;
	net_dev_limiter_init(&rl, &(struct net_dev_rate){.bytes_per_sec = 1000}, 0);
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 65536, 0), 0);
	assert_true(net_dev_limiter_consume(&rl, 65536, 0));
	assert_int_equal(rl.bytes.tokens, 0);
	assert_false(net_dev_limiter_consume(&rl, 65536, 500 * MS));
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 65536, 500 * MS), 500 * MS);
	assert_true(net_dev_limiter_consume(&rl, 65536, S));
	assert_false(net_dev_limiter_consume(&rl, 1, S));
}

/* Clocks: far jumps, huge rates, time going backwards. */
static void test_clock_extremes(void **state)
{
	struct net_dev_limiter rl;
	(void)state;
	net_dev_limiter_init(
		&rl,
		&(struct net_dev_rate){.bytes_per_sec = UINT64_MAX, .pkts_per_sec = UINT64_MAX}, 0);
	assert_true(net_dev_limiter_consume(&rl, UINT64_MAX - 1, 0));
	assert_true(net_dev_limiter_consume(&rl, 1, 0));
	assert_false(net_dev_limiter_consume(&rl, 1, 0));
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 1, 0), 1);
	assert_true(net_dev_limiter_consume(&rl, UINT64_MAX, UINT64_MAX));
	assert_int_equal(rl.bytes.tokens, 0);

	net_dev_limiter_init(&rl, &(struct net_dev_rate){.bytes_per_sec = 1}, UINT64_MAX - 10);
	assert_true(net_dev_limiter_consume(&rl, 1, UINT64_MAX - 10));
	/* Backwards: nothing earned, no wrap. */
	assert_false(net_dev_limiter_consume(&rl, 1, 5));
	assert_int_equal(rl.bytes.tokens, 0);
	assert_true(net_dev_limiter_wait_ns(&rl, 1, 5) > 0);
	/* A wait beyond the end of time saturates. */
	assert_int_equal(net_dev_limiter_wait_ns(&rl, 1, UINT64_MAX - 10), S);
	assert_false(net_dev_limiter_consume(&rl, 1, UINT64_MAX));
	net_dev_limiter_init(&rl,
			     &(struct net_dev_rate){.bytes_per_sec = 1, .bytes_burst = UINT64_MAX},
			     UINT64_MAX);
	assert_true(net_dev_limiter_consume(&rl, UINT64_MAX, UINT64_MAX));
	assert_int_equal(net_dev_limiter_wait_ns(&rl, UINT64_MAX, UINT64_MAX), UINT64_MAX);
	/* From 0 to the end of time at 1e9/s: fills, no overflow. */
	net_dev_limiter_init(&rl, &(struct net_dev_rate){.bytes_per_sec = S}, 0);
	assert_true(net_dev_limiter_consume(&rl, S, 0));
	assert_true(net_dev_limiter_consume(&rl, S, UINT64_MAX));
}

struct parse_case {
	const char *s;
	int rc;
	uint64_t bytes, pkts;
};

static const struct parse_case parse_cases[] = {
	{"10M", 0, 10000000, 0},
	{"100M:20k", 0, 100000000, 20000},
	{":5000", 0, 0, 5000},
	{"1500", 0, 1500, 0},
	{"2G", 0, 2000000000, 0},
	{"3k:1M", 0, 3000, 1000000},
	{"0", 0, 0, 0},
	{"18446744073709551615", 0, UINT64_MAX, 0},
	{"18446744073709551616", -EINVAL, 0, 0},
	{"18446744073709551615k", -EINVAL, 0, 0},
	{"18446744073G", 0, 18446744073000000000ull, 0},
	{"18446744074G", -EINVAL, 0, 0},
	{"", -EINVAL, 0, 0},
	{":", -EINVAL, 0, 0},
	{"10M:", -EINVAL, 0, 0},
	{"M", -EINVAL, 0, 0},
	{"-5", -EINVAL, 0, 0},
	{"+5", -EINVAL, 0, 0},
	{" 5", -EINVAL, 0, 0},
	{"5 ", -EINVAL, 0, 0},
	{"5x", -EINVAL, 0, 0},
	{"5K", -EINVAL, 0, 0},
	{"5m", -EINVAL, 0, 0},
	{"5MM", -EINVAL, 0, 0},
	{"1.5M", -EINVAL, 0, 0},
	{"5:3G", -EINVAL, 0, 0},
	{"5:3:4", -EINVAL, 0, 0},
	{"5::3", -EINVAL, 0, 0},
	{"0x10", -EINVAL, 0, 0},
	{"10M:-1", -EINVAL, 0, 0},
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct net_dev_rate r;
		memset(&r, 0xa5, sizeof(r));
		print_message("parse \"%s\"\n", c->s);
		assert_int_equal(net_dev_rate_parse(c->s, &r), c->rc);
		assert_int_equal(r.bytes_per_sec, c->bytes);
		assert_int_equal(r.pkts_per_sec, c->pkts);
		assert_int_equal(r.bytes_burst, 0);
		assert_int_equal(r.pkts_burst, 0);
	}
	struct net_dev_rate r;
	assert_int_equal(net_dev_rate_parse(NULL, &r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),     cmocka_unit_test(test_bytes_burst_refill),
		cmocka_unit_test(test_cap_and_burst), cmocka_unit_test(test_packets_and_both),
		cmocka_unit_test(test_large_frame),   cmocka_unit_test(test_clock_extremes),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
