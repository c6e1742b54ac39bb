/* SPDX-License-Identifier: MIT */
/*
 * The slirp backend with a large MTU (65520): libslirp runs with at most
 * SLIRP_IF_MTU_MAX (lib/netbe/slirp.c; docs/vqnetd.md "The slirp backend"):
 *
 *  - a download to a guest that offers MSS 65480 and then keeps offering a
 *    32712-byte window (what Linux offered when a transfer stalled) never
 *    waits for libslirp's 5 s persist timer: slirp's SYN-ACK offers at most
 *    16344, its segments are no larger, and the longest gap between two
 *    data segments stays under 2.5 s. With libslirp at MTU 65520 it sends
 *    32768-byte segments and waits 5 s before each window;
 *  - a 30000-byte UDP datagram from the guest reaches the host whole, and
 *    the host's 30000-byte answer reaches the guest in IPv4 fragments of at
 *    most 16384 bytes.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "vqnet/netbe.h"

#include "netbe/netbe_internal.h" /* netbe_slirp_new() */

#include "netbe_fixture.h"

#define CAP	   16344 /* SLIRP_IF_MTU_MAX in slirp.c, less 40 */
#define GUEST_PORT 40001
#define DATA_LEN   (512 * 1024)
#define GUEST_WIN  32712 /* the window Linux kept offering in the stall */
#define BIG_MTU	   65520
#define WAIT_MS	   20000
#define MAX_GAP_MS 2500 /* half of libslirp's 5 s persist timer */
#define FRAME_CAP  (BIG_MTU + 18)

static const uint8_t guest_ip[4] = {10, 0, 2, 15};

#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define TCP_FIN 0x01

/* ---- through the backend, MTU 65520 -------------------------------------- */

struct server {
	int lfd;
	uint16_t port;
	int result;
	pthread_t thread;
};

/* Accept one connection and write DATA_LEN bytes in one go. */
static void *server_run(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
	uint8_t *data = malloc(DATA_LEN);
	size_t off = 0;
	int fd;

	if (!data || poll(&pfd, 1, WAIT_MS) != 1 || (fd = accept(s->lfd, NULL, NULL)) < 0) {
		s->result = -ETIMEDOUT;
		free(data);
		return NULL;
	}
	for (size_t i = 0; i < DATA_LEN; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	while (off < DATA_LEN) {
		ssize_t n = write(fd, data + off, DATA_LEN - off);

		if (n <= 0) {
			s->result = n < 0 ? -errno : -EPIPE;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	free(data);
	return NULL;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The next frame from slirp to the guest (ARP requests answered), within
 * WAIT_MS; its length, or 0. */
static uint32_t next_frame(struct netbe *be, uint8_t *buf)
{
	long t0 = now_ms();

	for (;;) {
		struct netbe_rxbuf b = {.data = buf, .cap = FRAME_CAP};
		struct pollfd pfd = {.fd = be->ops->rx_fd(be, 0), .events = POLLIN};

		if (be->ops->rx(be, 0, &b, 1) == 1) {
			if (b.len >= 42 && get16(buf + 12) == 0x0806 && get16(buf + 20) == 1) {
				uint8_t a[60];

				build_arp(a, buf + 6, 2, guest_mac, guest_ip, buf + 22, buf + 28);
				assert_int_equal(tx_one(be, 0, a, 60, NULL), 1);
				continue;
			}
			return b.len;
		}
		if (now_ms() - t0 >= WAIT_MS)
			return 0;
		poll(&pfd, 1, 100);
	}
}

/* A segment from the guest to 10.0.2.2:@dport, window @win; SYNs carry
 * MSS 65480 (what Linux offers with MTU 65520). */
static size_t guest_seg(uint8_t *f, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
			uint16_t win)
{
	struct inet_ends e = slirp_guest_to_host();

	return inet_frame_tcp_win(f, &e, GUEST_PORT, dport, seq, ack, flags, win, BIG_MTU - 40);
}

static bool is_ours(const uint8_t *f, uint32_t len, uint16_t sport)
{
	return len >= 54 && get16(f + 12) == 0x0800 && f[23] == 6 && get16(f + 34) == sport &&
	       get16(f + 36) == GUEST_PORT;
}

static void test_big_mtu_download(void **state)
{
	struct netbe_options o = opts(1);
	struct netbe *be = NULL;
	struct server s = {.result = 0};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	uint8_t *buf = malloc(FRAME_CAP), f[64];
	uint32_t rcv_nxt = 0, got = 0, len, iss = 5000, syn_mss, max_seg = 0;
	long last = 0, max_gap = 0;
	char err[256] = "";
	bool fin = false;

	(void)state;
	assert_non_null(buf);
	o.mtu = BIG_MTU;
	assert_int_equal(netbe_slirp_new(&o, &be, err, sizeof(err)), 0);
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s.lfd >= 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(listen(s.lfd, 1), 0);
	s.port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s.thread, NULL, server_run, &s), 0);

	/* SYN (MSS 65480, window 65480) -> SYN-ACK offering at most the cap. */
	assert_int_equal(
		tx_one(be, 0, f, (uint32_t)guest_seg(f, s.port, iss, 0, TCP_SYN, 65480), NULL), 1);
	do {
		len = next_frame(be, buf);
		assert_true(len > 0);
	} while (!is_ours(buf, len, s.port));
	assert_int_equal(buf[34 + 13] & (TCP_SYN | TCP_ACK), TCP_SYN | TCP_ACK);
	assert_int_equal(buf[34 + 20], 2); /* slirp's MSS option comes first */
	syn_mss = get16(buf + 34 + 22);
	rcv_nxt = get32(buf + 34 + 4) + 1;
	assert_int_equal(tx_one(be, 0, f,
				(uint32_t)guest_seg(f, s.port, iss + 1, rcv_nxt, TCP_ACK, 65480),
				NULL),
			 1);

	/* Every segment acknowledged at once with the same 32712-byte window. */
	last = now_ms();
	while (!fin && (len = next_frame(be, buf)) > 0) {
		const uint8_t *t = buf + 34;
		uint32_t hl = (uint32_t)(t[12] >> 4) * 4, plen = get16(buf + 16) - 20 - hl;
		long now = now_ms();

		if (!is_ours(buf, len, s.port))
			continue;
		assert_false(t[13] & TCP_RST);
		if (plen > max_seg)
			max_seg = plen;
		if (plen && now - last > max_gap)
			max_gap = now - last;
		if (max_gap >= MAX_GAP_MS)
			break; /* waited for the persist timer: fail now */
		if (plen)
			last = now;
		if (get32(t + 4) == rcv_nxt) {
			rcv_nxt += plen;
			got += plen;
			if (t[13] & TCP_FIN) {
				rcv_nxt++;
				fin = true;
			}
		}
		assert_int_equal(
			tx_one(be, 0, f,
			       (uint32_t)guest_seg(f, s.port, iss + 1, rcv_nxt, TCP_ACK, GUEST_WIN),
			       NULL),
			1);
	}
	print_message("big MTU download: %u bytes, slirp's MSS %u, segments up to %u bytes, "
		      "longest gap between data segments %ld ms\n",
		      got, syn_mss, max_seg, max_gap);
	be->ops->free(be); /* closes slirp's socket: the server stops */
	pthread_join(s.thread, NULL);
	close(s.lfd);
	free(buf);
	assert_true(max_gap < MAX_GAP_MS);
	assert_true(syn_mss <= CAP);
	assert_true(max_seg <= CAP);
	assert_true(fin);
	assert_int_equal(got, DATA_LEN);
	assert_int_equal(s.result, 0);
}

#define UDP_LEN 30000

static void test_big_mtu_udp(void **state)
{
	struct netbe_options o = opts(1);
	struct netbe *be = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in from;
	socklen_t sl = sizeof(sa), fl = sizeof(from);
	uint8_t *f = calloc(1, FRAME_CAP), *buf = malloc(FRAME_CAP);
	uint32_t got = 0, len;
	struct inet_ends e = slirp_guest_to_host();
	char err[256] = "";
	int fd;

	(void)state;
	assert_non_null(f);
	assert_non_null(buf);
	o.mtu = BIG_MTU;
	assert_int_equal(netbe_slirp_new(&o, &be, err, sizeof(err)), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);

	/* Guest -> host: one 30028-byte IPv4 packet, larger than slirp's MTU. */
	for (uint32_t i = 0; i < UDP_LEN; i++)
		buf[i] = (uint8_t)(i * 7);
	inet_frame_udp(f, &e, GUEST_PORT, ntohs(sa.sin_port), buf, UDP_LEN);
	assert_int_equal(tx_one(be, 0, f, 42 + UDP_LEN, NULL), 1);
	assert_true(fd_readable(fd, WAIT_MS));
	assert_int_equal(recvfrom(fd, buf, FRAME_CAP, 0, (struct sockaddr *)&from, &fl), UDP_LEN);
	assert_memory_equal(buf, f + 42, UDP_LEN);

	/* Host -> guest: the answer comes in fragments no larger than 16384. */
	assert_int_equal(sendto(fd, buf, UDP_LEN, 0, (struct sockaddr *)&from, fl), UDP_LEN);
	while (got < 8 + UDP_LEN && (len = next_frame(be, buf)) > 0) {
		if (len < 34 || get16(buf + 12) != 0x0800 || buf[23] != 17)
			continue;
		assert_true(len <= 14 + 16384);
		got += get16(buf + 16) - 20u;
	}
	assert_int_equal(got, 8 + UDP_LEN);

	close(fd);
	free(f);
	free(buf);
	be->ops->free(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_mtu_download),
		cmocka_unit_test(test_big_mtu_udp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
