/* SPDX-License-Identifier: MIT */
/*
 * The sink and gen backends through their ops tables (netbe_fixture.h
 * has the helpers): sink takes every frame and receives nothing; gen
 * makes frames of the size asked, its header and per-pair sequence
 * numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vqnet/netbe.h>

#include "netbe_fixture.h"

static void test_sink(void **state)
{
	struct netbe_options o = opts(2);
	struct netbe *be = open_be("sink", &o);
	static uint8_t f[1500], out[BUF_CAP];
	struct netbe_rxbuf b = {.data = out, .cap = BUF_CAP};
	struct iovec iov[2] = {{f, 700}, {f + 700, 800}};
	struct netbe_txpkt pk[8];
	struct netbe_stats s;

	(void)state;
	assert_int_equal(be->ops->caps(be), NETBE_CAP_ALL);
	assert_int_equal(be->ops->set_queue_pairs(be, 2), 0);
	make_frame(f, sizeof(f), 0x5a);
	for (int i = 0; i < 8; i++)
		pk[i] = (struct netbe_txpkt){.iov = iov, .iovcnt = 2, .len = 1500};
	for (unsigned q = 0; q < 2; q++) {
		for (int k = 0; k < 100; k++)
			assert_int_equal(be->ops->tx(be, q, pk, 8), 8);
		assert_int_equal(be->ops->rx(be, q, &b, 1), 0);
		assert_true(be->ops->rx_fd(be, q) >= 0);
		assert_false(fd_readable(be->ops->rx_fd(be, q), 0));
		s = stats_of(be, q);
		assert_int_equal(s.tx_dropped + s.tx_errors + s.rx_dropped + s.rx_errors, 0);
	}
	netbe_free(be);
}

static void test_gen(void **state)
{
	struct netbe_options o = opts(2);
	struct netbe *be;
	static uint8_t out[4][BUF_CAP];
	struct netbe_rxbuf b[4];
	static const uint8_t src[6] = {2, 0, 0, 0, 0, 2};

	(void)state;
	o.gen_frame_size = 100;
	be = open_be("gen", &o);
	assert_int_equal(be->ops->caps(be), 0);
	assert_int_equal(be->ops->set_queue_pairs(be, 2), 0);
	assert_int_equal(be->ops->set_rx_offloads(be, 0), 0);
	assert_true(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_true(fd_readable(be->ops->rx_fd(be, 1), 0));
	/* The same buffers each round, untouched between calls (netbe.h):
	 * the first round writes whole frames, the later ones the 22 header
	 * and sequence bytes over them; the frames read the same. */
	memset(out, 0xee, sizeof(out));
	for (uint64_t round = 0; round < 3; round++) {
		if (round == 2)
			memset(out[1] + 14, 0xee, 8); /* a later round still writes these */
		for (int i = 0; i < 4; i++)
			b[i] = (struct netbe_rxbuf){.data = out[i], .cap = BUF_CAP};
		assert_int_equal(be->ops->rx(be, 0, b, 4), 4);
		for (int i = 0; i < 4; i++) {
			uint64_t seq = 0;

			assert_int_equal(b[i].len, 100);
			assert_memory_equal(out[i], guest_mac, 6);
			assert_memory_equal(out[i] + 6, src, 6);
			assert_int_equal(get16(out[i] + 12), 0x88b5);
			for (int k = 7; k >= 0; k--)
				seq = seq << 8 | out[i][14 + k];
			assert_int_equal(seq, round * 4 + (uint64_t)i);
			for (int k = 22; k < 100; k++)
				assert_int_equal(out[i][k], 0);
			assert_int_equal(out[i][100], 0xee);
		}
	}
	/* Pair 1 counts on its own; a smaller buffer gets a shorter frame,
	 * one under 60 bytes stops the call and loses a frame. */
	b[0] = (struct netbe_rxbuf){.data = out[0], .cap = BUF_CAP};
	b[1] = (struct netbe_rxbuf){.data = out[1], .cap = 80};
	b[2] = (struct netbe_rxbuf){.data = out[2], .cap = 59};
	assert_int_equal(be->ops->rx(be, 1, b, 4), 2);
	assert_int_equal(out[0][14], 0);
	assert_int_equal(b[1].len, 80);
	assert_int_equal(out[1][14], 1);
	assert_int_equal(stats_of(be, 1).rx_dropped, 1);
	assert_int_equal(stats_of(be, 0).rx_dropped, 0);
	b[0] = (struct netbe_rxbuf){.data = out[0], .cap = BUF_CAP};
	assert_int_equal(be->ops->rx(be, 1, b, 1), 1);
	assert_int_equal(out[0][14], 3);
	assert_true(fd_readable(be->ops->rx_fd(be, 1), 0));
	netbe_free(be);

	/* The default size is 64. */
	o.gen_frame_size = 0;
	be = open_be("gen", &o);
	b[0] = (struct netbe_rxbuf){.data = out[0], .cap = BUF_CAP};
	assert_int_equal(be->ops->rx(be, 0, b, 1), 1);
	assert_int_equal(b[0].len, 64);
	netbe_free(be);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_gen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
