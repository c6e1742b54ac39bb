/* SPDX-License-Identifier: MIT */
/*
 * How the device's workers pace and poll (net_dev_fixture.h has the
 * environment): the transmit rate limit delays frames without losing them,
 * busy polling leaves the driver no kicks to make, and the counters print.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_dev_fixture.h"

/* Rate limit: frames are delayed, not lost. */
static void rate_limit(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt,
			 .want = WANT_DEFAULT,
			 .mtu = 1500,
			 .tx_rate = {.pkts_per_sec = 50, .pkts_burst = 2}};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;

	rx_post(e, 20, RX_SLOT);
	for (unsigned i = 0; i < 12; i++)
		tx_send_plain(e, f, make_raw(f, 100, dev_mac, (uint8_t)i));
	for (unsigned i = 0; i < 12; i++) {
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 100);
		assert_int_equal(got[14], (uint8_t)(i + 14 * 7));
	}
	assert_true(qs(e, txq(e)).rate_limited > 0);
	assert_int_equal(qs(e, txq(e)).packets, 12);
	env_free(e);
}

static void test_rate_limit(void **state)
{
	(void)state;
	rate_limit(VQ_FORMAT_SPLIT);
	rate_limit(VQ_FORMAT_PACKED);
}

/* Busy polling and stats printing. */
/* Publish on @q and kick only when the ring asks; count the kicks. */
static void dq_kick_count(struct dq *q, unsigned *kicks)
{
	vq_drv_publish(q->d);
	if (vq_drv_kick_prepare(q->d)) {
		(*kicks)++;
		efd_signal(q->kick_fd);
	}
}

/*
 * While the device polls (poll_us), both rings say "no kicks" from the
 * start: a fresh ring asks for every kick (packed: flags 0 is ENABLE), so
 * a device that left it so cost the driver a system call per burst.
 */
static void poll_no_kicks(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT, .mtu = 1500, .poll_us = 3000000};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	unsigned tx_kicks = 0, rx_kicks = 0;

	rx_post(e, 8, RX_SLOT);
	tx_send_plain(e, f, make_raw(f, 80, dev_mac, 0));
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 80);
	for (unsigned i = 1; i <= 200; i++) {
		unsigned slot = e->rx_next[e->cur]++ % QSIZE;
		uint64_t off = rx_base(e) + (uint64_t)slot * RX_SLOT;
		struct vq_drv_buf b = {e->shm.gpa + off, RX_SLOT};

		tx_add(e, &(struct virtio_net_hdr_v1){0}, f, make_raw(f, 80, dev_mac, (uint8_t)i),
		       false);
		dq_kick_count(&e->q[txq(e)], &tx_kicks);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 80);
		assert_true(vq_drv_add_chain(e->q[rxq(e)].d, &b, 0, 1, false,
					     (void *)(uintptr_t)(slot + 1)) >= 0);
		dq_kick_count(&e->q[rxq(e)], &rx_kicks);
		tx_reap_all(e);
	}
	assert_int_equal(qs(e, rxq(e)).packets, 201);
	assert_int_equal(tx_kicks, 0);
	assert_int_equal(rx_kicks, 0);
	env_free(e);
}

static void test_poll_no_kicks(void **state)
{
	(void)state;
	poll_no_kicks(VQ_FORMAT_SPLIT);
	poll_no_kicks(VQ_FORMAT_PACKED);
}

static void test_poll_and_print(void **state)
{
	struct opts o = {
		.fmt = VQ_FORMAT_PACKED, .want = WANT_DEFAULT, .mtu = 1500, .poll_us = 200};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	char *buf = NULL;
	size_t blen = 0;
	FILE *m;

	(void)state;
	rx_post(e, 8, RX_SLOT);
	for (unsigned i = 0; i < 5; i++) {
		tx_send_plain(e, f, make_raw(f, 80, dev_mac, (uint8_t)i));
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 80);
	}
	m = open_memstream(&buf, &blen);
	assert_non_null(m);
	net_dev_print_stats(e->dev, m);
	fclose(m);
	assert_non_null(strstr(buf, "rxq0: packets=5 bytes=400 drops(rx_too_big=0,"));
	assert_non_null(strstr(buf, "txq0: packets=5"));
	assert_non_null(strstr(buf, "ctrlq:"));
	free(buf);
	assert_string_equal(net_dev_drop_name(NET_DEV_DROP_TX_MTU), "tx_mtu");
	env_free(e);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_no_kicks),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_poll_and_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
