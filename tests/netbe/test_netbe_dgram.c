/* SPDX-License-Identifier: MIT */
/*
 * The dgram backend (netbe_fixture.h has the helpers): two backends on
 * 127.0.0.1 talk; a third socket is not heard; oversize and runt datagrams
 * are counted; sends fail once the peer is gone.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/netbe.h>

#include "netbe_fixture.h"

static uint16_t free_udp_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	return ntohs(a.sin_port);
}

static void test_dgram(void **state)
{
	struct netbe_options o = opts(2);
	uint16_t pa = free_udp_port(), pb = free_udp_port();
	static uint8_t f[3000], out[4][BUF_CAP];
	struct netbe_rxbuf b[4];
	struct netbe *a, *bb;
	char spec[96];
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(pb),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int third;

	(void)state;
	snprintf(spec, sizeof(spec), "dgram:127.0.0.1:%u,127.0.0.1:%u", pa, pb);
	a = open_be(spec, &o);
	snprintf(spec, sizeof(spec), "dgram:127.0.0.1:%u,127.0.0.1:%u", pb, pa);
	bb = open_be(spec, &o);
	assert_int_equal(a->ops->caps(a), 0);
	assert_int_equal(a->ops->set_queue_pairs(a, 2), 0);
	assert_int_equal(bb->ops->set_queue_pairs(bb, 2), 0);
	assert_false(fd_readable(bb->ops->rx_fd(bb, 0), 0));
	assert_false(fd_readable(bb->ops->rx_fd(bb, 1), 0));

	/* From both of A's pairs; B receives on pair 0 only. */
	make_frame(f, 200, 1);
	assert_int_equal(tx_one(a, 0, f, 200, NULL), 1);
	make_frame(f, 300, 2);
	assert_int_equal(tx_one(a, 1, f, 300, NULL), 1);
	assert_true(fd_readable(bb->ops->rx_fd(bb, 0), 1000));
	assert_false(fd_readable(bb->ops->rx_fd(bb, 1), 0));
	for (int i = 0; i < 4; i++)
		b[i] = (struct netbe_rxbuf){.data = out[i], .cap = BUF_CAP};
	assert_int_equal(bb->ops->rx(bb, 1, b, 4), 0);
	assert_int_equal(bb->ops->rx(bb, 0, b, 4), 2);
	assert_int_equal(b[0].len, 200);
	assert_int_equal(out[0][14], 1);
	assert_int_equal(b[1].len, 300);
	assert_memory_equal(out[1], f, 300);
	assert_int_equal(b[1].meta.flags, 0);

	/* A stranger's datagram to B's port is not heard. */
	third = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(third >= 0);
	assert_int_equal(sendto(third, f, 100, 0, (struct sockaddr *)&to, sizeof(to)), 100);
	assert_false(fd_readable(bb->ops->rx_fd(bb, 0), 100));
	assert_int_equal(bb->ops->rx(bb, 0, b, 4), 0);
	close(third);

	/* Oversize (dropped), runt (error), then a good one: the good one
	 * lands in the first buffer. */
	make_frame(f, 3000, 3);
	assert_int_equal(tx_one(a, 0, f, 3000, NULL), 1);
	assert_int_equal(tx_one(a, 0, f, 10, NULL), 1);
	make_frame(f, 64, 4);
	assert_int_equal(tx_one(a, 0, f, 64, NULL), 1);
	assert_true(fd_readable(bb->ops->rx_fd(bb, 0), 1000));
	usleep(10000);
	assert_int_equal(bb->ops->rx(bb, 0, b, 4), 1);
	assert_int_equal(b[0].len, 64);
	assert_int_equal(out[0][14], 4);
	assert_int_equal(stats_of(bb, 0).rx_dropped, 1);
	assert_int_equal(stats_of(bb, 0).rx_errors, 1);
	assert_false(fd_readable(bb->ops->rx_fd(bb, 0), 0));

	/* B goes away: A's sends fail once the ICMP error is back. */
	netbe_free(bb);
	for (int i = 0; i < 4; i++)
		tx_one(a, 0, f, 64, NULL);
	assert_true(stats_of(a, 0).tx_errors >= 1);
	assert_int_equal(stats_of(a, 1).tx_errors, 0);
	netbe_free(a);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dgram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
