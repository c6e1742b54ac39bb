/* SPDX-License-Identifier: MIT */
/*
 * The TAP backend's batched receive (tap_rx_batch() in lib/netbe/tap.c,
 * included) against a scripted ring: the one case a real TAP cannot be
 * made to show on demand, a frame that arrived while a batch of reads ran
 * and landed after a read that found none. The frames must come out
 * dense (no empty buffer between two frames), in order, intact; a moved
 * frame too big for its new buffer is dropped and counted; the batch
 * size follows what the reads found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "netbe/tap.c" /* the unit itself: tap_rx_batch() is static */

/* The script: what read i of the next batch returns (a frame of this
 * many bytes, tagged i, or -EAGAIN), and how many reads were posted. */
static int script[TAP_RX_BATCH];
static unsigned posted;

int tap_uring_readv(struct tap_uring *u, const struct iovec *iov, unsigned iovcnt, unsigned k,
		    int *res)
{
	(void)u;
	assert_int_equal(iovcnt, 3);
	posted = k;
	for (unsigned i = 0; i < k; i++) {
		const struct iovec *v = iov + (size_t)i * 3;

		res[i] = script[i];
		if (script[i] < (int)v[0].iov_len)
			continue; /* nothing, a failure, or shorter than a header */
		/* a zero vnet header, then the frame: bytes of value i */
		memset(v[0].iov_base, 0, v[0].iov_len);
		memset(v[1].iov_base, (int)i, (size_t)script[i] - v[0].iov_len);
	}
	return (int)k;
}

/* The rest of tap_uring.h, unused here. */
int tap_uring_new(int fd, struct tap_uring **out)
{
	(void)fd;
	(void)out;
	return -ENOSYS;
}
void tap_uring_free(struct tap_uring *u)
{
	(void)u;
}
unsigned tap_uring_tx(struct tap_uring *u, const struct netbe_txpkt *pkts, unsigned n,
		      struct netbe_stats *st)
{
	(void)u, (void)pkts, (void)n, (void)st;
	return 0;
}
bool tap_uring_usable(const struct tap_uring *u)
{
	return u != NULL;
}
static unsigned counted_rx;
void tap_uring_count_rx(struct tap_uring *u, unsigned n)
{
	(void)u;
	counted_rx += n;
}
void tap_uring_get_stats(const struct tap_uring *u, struct tap_uring_stats *out)
{
	(void)u;
	memset(out, 0, sizeof(*out));
}
/* netbe.c's, which tap.c's constructor uses. */
int netbe_set_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	(void)err, (void)errlen, (void)fmt;
	return ret;
}
bool netbe_link_always_up(struct netbe *be)
{
	(void)be;
	return true;
}

#define HDR sizeof(struct virtio_net_hdr_v1)

static uint8_t data[8][256];
static struct netbe_rxbuf bufs[8];
static struct tap_pair pair;

static void fresh(uint32_t cap_of_first)
{
	memset(&pair, 0, sizeof(pair));
	pair.rx_want = 8;
	for (unsigned i = 0; i < 8; i++)
		bufs[i] = (struct netbe_rxbuf){.data = data[i], .cap = i ? 256 : cap_of_first};
	counted_rx = 0;
}

/* Reads 0 and 2 find frames, 1 and 3 none: frame 2 moves to buffer 1. */
static void test_hole_filled(void **state)
{
	bool more;

	(void)state;
	fresh(256);
	int s[4] = {(int)HDR + 70, -EAGAIN, (int)HDR + 90, -EAGAIN};
	memcpy(script, s, sizeof(s));
	pair.rx_want = 4;
	assert_int_equal(tap_rx_batch(&pair, bufs, 8, 0, &more), 2);
	assert_false(more);
	assert_int_equal(posted, 4);
	assert_int_equal(bufs[0].len, 70);
	assert_int_equal(bufs[1].len, 90);
	for (unsigned k = 0; k < 70; k++)
		assert_int_equal(data[0][k], 0);
	for (unsigned k = 0; k < 90; k++)
		assert_int_equal(data[1][k], 2);
	assert_int_equal(counted_rx, 2);
	assert_int_equal(pair.stats.rx_dropped + pair.stats.rx_errors, 0);
	/* found 2 of 4: the next batch posts 2 */
	assert_int_equal(pair.rx_want, 2);
}

/* Every read finds a frame: all kept in place, *more, the batch doubles
 * (to at most TAP_RX_BATCH). */
static void test_all_found(void **state)
{
	bool more;

	(void)state;
	fresh(256);
	for (unsigned i = 0; i < 4; i++)
		script[i] = (int)HDR + 60 + (int)i;
	pair.rx_want = 4;
	assert_int_equal(tap_rx_batch(&pair, bufs, 8, 0, &more), 4);
	assert_true(more);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(bufs[i].len, 60 + i);
		assert_int_equal(data[i][0], i);
	}
	assert_int_equal(pair.rx_want, 8);
	pair.rx_want = TAP_RX_BATCH;
	for (unsigned i = 0; i < 8; i++)
		script[i] = (int)HDR + 60;
	assert_int_equal(tap_rx_batch(&pair, bufs, 8, 0, &more), 8);
	assert_int_equal(posted, 8); /* no more reads than buffers */
	assert_int_equal(pair.rx_want, 16);
}

/* A frame that must move to a buffer too small for it is dropped and
 * counted; one that fits behind it still moves. */
static void test_moved_too_big(void **state)
{
	bool more;

	(void)state;
	fresh(64); /* buffer 0 holds 64 bytes */
	int s[3] = {-EAGAIN, (int)HDR + 200, (int)HDR + 50};
	memcpy(script, s, sizeof(s));
	pair.rx_want = 3;
	assert_int_equal(tap_rx_batch(&pair, bufs, 8, 0, &more), 1);
	assert_false(more);
	assert_int_equal(pair.stats.rx_dropped, 1);
	assert_int_equal(bufs[0].len, 50);
	assert_int_equal(data[0][0], 2);
	assert_int_equal(data[0][49], 2);
}

/* Nothing found: 0 frames, and no batch until readv() finds frames
 * queued again (rx_want < 2). A short read and a failed one are counted
 * as errors, never frames, and end the call. */
static void test_none_and_errors(void **state)
{
	bool more;

	(void)state;
	fresh(256);
	int s[3] = {-EAGAIN, 5, -EIO};
	memcpy(script, s, sizeof(s));
	pair.rx_want = 3;
	assert_int_equal(tap_rx_batch(&pair, bufs, 8, 0, &more), 0);
	assert_false(more);
	assert_int_equal(pair.stats.rx_errors, 2);
	assert_int_equal(pair.rx_want, 0);
	/* reads that all fail do not ask for more (rx() would spin) */
	script[0] = script[1] = -EIO;
	pair.rx_want = 2;
	assert_int_equal(tap_rx_batch(&pair, bufs, 8, 0, &more), 0);
	assert_false(more);
	assert_int_equal(pair.stats.rx_errors, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hole_filled),
		cmocka_unit_test(test_all_found),
		cmocka_unit_test(test_moved_too_big),
		cmocka_unit_test(test_none_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
