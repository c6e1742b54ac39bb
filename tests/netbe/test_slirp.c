/* SPDX-License-Identifier: MIT */
/*
 * The `slirp` backend (libslirp, lib/netbe/slirp.c) through its ops
 * table, with the test playing the guest: hand-built Ethernet frames go in
 * through tx(), slirp's answers come out of rx() when rx_fd() is readable.
 *
 * Loopback only: every frame is addressed to 10.0.2.x, which slirp answers
 * itself, or to 10.0.2.2:PORT, which slirp maps to a server of ours on
 * 127.0.0.1. Nothing leaves the machine; no root needed.
 *
 *  - DHCP: DISCOVER -> OFFER of 10.0.2.15, REQUEST -> ACK
 *  - ARP for 10.0.2.2 -> reply from slirp's MAC
 *  - TCP through the NAT: a minimal TCP client (SYN, ACK, data, FIN)
 *    receives a 64 KiB pattern from a host server and checks it exactly
 *  - hostfwd: a host connect() makes slirp send a SYN to 10.0.2.15:8080
 *  - bad hostfwd specs and MTUs are rejected with a reason
 *  - UDP through the NAT to a host echo socket; with two queue pairs the
 *    replies spread over both, each flow staying on one pair
 *  - oversized tx frames are dropped and counted
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

#include "inet_frame.h"
#include "netbe_fixture.h"

#define WAIT_MS	    10000
#define GUEST_PORT  40000
#define PATTERN_LEN (64 * 1024)

/* slirp's MAC: 52:55 then the IPv4 address of the virtual host */
static const uint8_t slirp_mac[6] = {0x52, 0x55, 10, 0, 2, 2};
static const uint8_t guest_ip[4] = {10, 0, 2, 15};
static const uint8_t host_ip[4] = {10, 0, 2, 2};
static const uint8_t zero_ip[4] = {0, 0, 0, 0};
static const uint8_t bcast_ip[4] = {255, 255, 255, 255};

/* ---- frames ------------------------------------------------------------ */

/* The TCP/UDP checksum over the pseudo header and the segment at f + 34
 * of a frame laid out by build_ipv4(). */
static uint16_t l4_csum(const uint8_t *f, size_t l4_len)
{
	return csum_finish(csum_add(pseudo_sum(f, (uint16_t)l4_len), f + 34, l4_len));
}

/* The guest's "who has 10.0.2.2", broadcast. */
static size_t build_arp_request(uint8_t *f)
{
	return build_arp(f, bcast_mac, 1, guest_mac, guest_ip, NULL, host_ip);
}

/* ---- the guest side of the backend -------------------------------------- */

struct guest {
	struct netbe *be;
	uint8_t buf[BUF_CAP];
	uint32_t len;
};

static struct netbe *new_be_opts(const char *const *fwd, unsigned nfwd, unsigned nq)
{
	struct netbe_options opt = opts(nq);
	struct netbe *be = NULL;
	char err[256] = "";
	int ret;

	opt.hostfwd = fwd;
	opt.n_hostfwd = nfwd;
	ret = netbe_slirp_new(&opt, &be, err, sizeof(err));
	if (ret)
		fprintf(stderr, "netbe_slirp_new: %d %s\n", ret, err);
	assert_int_equal(ret, 0);
	assert_non_null(be);
	assert_int_equal(be->ops->set_queue_pairs(be, nq), 0);
	return be;
}

static void send_frame(struct netbe *be, unsigned q, const uint8_t *f, size_t len)
{
	assert_int_equal(tx_one(be, q, f, (uint32_t)len, NULL), 1);
}

static bool is_arp_request_for_guest(const uint8_t *f, size_t len)
{
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 1 &&
	       !memcmp(f + 38, guest_ip, 4);
}

/* Answer slirp's "who has 10.0.2.15" like a guest would. */
static void answer_arp(struct netbe *be, const uint8_t *req)
{
	uint8_t f[60];

	send_frame(be, 0, f, build_arp(f, req + 6, 2, guest_mac, guest_ip, req + 22, req + 28));
}

typedef bool (*frame_pred)(const uint8_t *f, size_t len, const void *arg);

/**
 * wait_frame() - receive frames on queue pair @q until one satisfies @want
 * (left in g->buf), answering ARP requests for the guest and skipping
 * everything else (IPv6 router advertisements, ...).
 * Return: true when found within WAIT_MS.
 */
static bool wait_frame_q(struct guest *g, unsigned q, frame_pred want, const void *arg)
{
	struct timespec t0, t;
	int fd = g->be->ops->rx_fd(g->be, q);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct netbe_rxbuf b = {.data = g->buf, .cap = sizeof(g->buf)};
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long ms;
		int n = g->be->ops->rx(g->be, q, &b, 1);

		assert_true(n >= 0);
		if (n == 1) {
			g->len = b.len;
			assert_int_equal(b.meta.flags, 0);
			assert_int_equal(b.meta.gso_type, 0);
			if (want(g->buf, g->len, arg))
				return true;
			if (is_arp_request_for_guest(g->buf, g->len))
				answer_arp(g->be, g->buf);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= WAIT_MS)
			return false;
		assert_true(fd >= 0);
		poll(&pfd, 1, (int)(WAIT_MS - ms));
	}
}

static bool wait_frame(struct guest *g, frame_pred want, const void *arg)
{
	return wait_frame_q(g, 0, want, arg);
}

/* Like wait_frame_q() over queue pairs 0..@nq-1; *@q_out says which. */
static bool wait_frame_any(struct guest *g, unsigned nq, frame_pred want, const void *arg,
			   unsigned *q_out)
{
	for (int round = 0; round < WAIT_MS / 10; round++) {
		struct pollfd pfd[4];

		assert_true(nq <= 4);
		for (unsigned q = 0; q < nq; q++) {
			struct netbe_rxbuf b = {.data = g->buf, .cap = sizeof(g->buf)};

			while (g->be->ops->rx(g->be, q, &b, 1) == 1) {
				g->len = b.len;
				if (want(g->buf, g->len, arg)) {
					*q_out = q;
					return true;
				}
				if (is_arp_request_for_guest(g->buf, g->len))
					answer_arp(g->be, g->buf);
				b.cap = sizeof(g->buf);
			}
			pfd[q] = (struct pollfd){.fd = g->be->ops->rx_fd(g->be, q),
						 .events = POLLIN};
		}
		poll(pfd, nq, 10);
	}
	return false;
}

/* ---- DHCP --------------------------------------------------------------- */

#define BOOTP_LEN 548 /* 236 fixed + 312 options, like slirp's struct bootp_t */
#define DHCP_XID  0x5eed1234u

static size_t build_dhcp(uint8_t *f, uint8_t type)
{
	uint8_t *bp = f + 42, *o;
	size_t udp_len = 8 + BOOTP_LEN;

	memset(f, 0, 42 + BOOTP_LEN);
	build_ipv4(f, bcast_mac, guest_mac, zero_ip, bcast_ip, 17, (uint16_t)udp_len);
	put16(f + 34, 68);
	put16(f + 36, 67);
	put16(f + 38, (uint16_t)udp_len); /* checksum 0: none (RFC 768) */
	bp[0] = 1;			  /* BOOTREQUEST */
	bp[1] = 1;
	bp[2] = 6;
	put32(bp + 4, DHCP_XID);
	memcpy(bp + 28, guest_mac, 6);
	o = bp + 236;
	put32(o, 0x63825363); /* magic cookie */
	o += 4;
	*o++ = 53, *o++ = 1, *o++ = type;
	if (type == 3) { /* REQUEST: requested address and server id */
		*o++ = 50, *o++ = 4;
		memcpy(o, guest_ip, 4), o += 4;
		*o++ = 54, *o++ = 4;
		memcpy(o, host_ip, 4), o += 4;
	}
	*o = 255;
	return 42 + BOOTP_LEN;
}

static bool is_dhcp_reply(const uint8_t *f, size_t len, const void *arg)
{
	(void)arg;
	return len >= 42 + 240 && get16(f + 12) == 0x0800 && f[23] == 17 && get16(f + 34) == 67 &&
	       get16(f + 36) == 68;
}

/* The DHCP message type (option 53) of the reply in @f, or -1. */
static int dhcp_type(const uint8_t *f, size_t len)
{
	const uint8_t *bp = f + 42, *o = bp + 240, *end = f + len;

	if (get32(bp + 236) != 0x63825363)
		return -1;
	while (o < end && *o != 255) {
		if (*o == 0) {
			o++;
			continue;
		}
		if (o + 2 > end || o + 2 + o[1] > end)
			return -1;
		if (o[0] == 53 && o[1] == 1)
			return o[2];
		o += 2 + o[1];
	}
	return -1;
}

static void test_dhcp(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 1)};
	uint8_t f[BUF_CAP];
	const uint8_t *bp = g.buf + 42;

	(void)state;
	send_frame(g.be, 0, f, build_dhcp(f, 1));
	assert_true(wait_frame(&g, is_dhcp_reply, NULL));
	assert_int_equal(bp[0], 2); /* BOOTREPLY */
	assert_int_equal(get32(bp + 4), DHCP_XID);
	assert_memory_equal(bp + 16, guest_ip, 4); /* yiaddr */
	assert_memory_equal(bp + 28, guest_mac, 6);
	assert_int_equal(dhcp_type(g.buf, g.len), 2); /* OFFER */
	assert_memory_equal(g.buf + 6, slirp_mac, 6);

	send_frame(g.be, 0, f, build_dhcp(f, 3));
	assert_true(wait_frame(&g, is_dhcp_reply, NULL));
	assert_int_equal(get32(bp + 4), DHCP_XID);
	assert_memory_equal(bp + 16, guest_ip, 4);
	assert_int_equal(dhcp_type(g.buf, g.len), 5); /* ACK */
	g.be->ops->free(g.be);
}

/* --net 10.9.0.0/24: libslirp offers host 15 of it, from host 2. */
static void test_dhcp_subnet(void **state)
{
	static const uint8_t want_ip[4] = {10, 9, 0, 15}, want_srv[4] = {10, 9, 0, 2};
	struct netbe_options opt = opts(1);
	struct guest g = {0};
	uint8_t f[BUF_CAP];
	const uint8_t *bp = g.buf + 42;
	char err[256] = "";

	(void)state;
	opt.net4 = "10.9.0.0/24";
	assert_int_equal(netbe_slirp_new(&opt, &g.be, err, sizeof(err)), 0);
	assert_int_equal(g.be->ops->set_queue_pairs(g.be, 1), 0);
	send_frame(g.be, 0, f, build_dhcp(f, 1));
	assert_true(wait_frame(&g, is_dhcp_reply, NULL));
	assert_int_equal(dhcp_type(g.buf, g.len), 2); /* OFFER */
	assert_memory_equal(bp + 16, want_ip, 4);     /* yiaddr */
	assert_memory_equal(g.buf + 26, want_srv, 4); /* IP source */
	g.be->ops->free(g.be);
}

/* ---- ARP ---------------------------------------------------------------- */

static bool is_arp_reply(const uint8_t *f, size_t len, const void *arg)
{
	(void)arg;
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2;
}

static void test_arp(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 1)};
	uint8_t f[60];

	(void)state;
	send_frame(g.be, 0, f, build_arp_request(f));

	assert_true(wait_frame(&g, is_arp_reply, NULL));
	assert_memory_equal(g.buf, guest_mac, 6);
	assert_memory_equal(g.buf + 6, slirp_mac, 6);
	assert_memory_equal(g.buf + 22, slirp_mac, 6); /* sender MAC */
	assert_memory_equal(g.buf + 28, host_ip, 4);   /* sender IP */
	assert_memory_equal(g.buf + 32, guest_mac, 6); /* target MAC */
	assert_memory_equal(g.buf + 38, guest_ip, 4);
	g.be->ops->free(g.be);
}

/* ---- TCP through the NAT ------------------------------------------------ */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) + 3);
}

/* A TCP segment from the guest 10.0.2.15:GUEST_PORT to 10.0.2.2:@dport. */
static size_t build_tcp(uint8_t *f, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	struct inet_ends e = slirp_guest_to_host();

	return inet_frame_tcp(f, &e, GUEST_PORT, dport, seq, ack, flags);
}

struct tcp_match {
	uint16_t sport, dport;
	const uint8_t *dst_ip;
};

static bool is_tcp_for(const uint8_t *f, size_t len, const void *arg)
{
	const struct tcp_match *m = arg;

	return len >= 54 && get16(f + 12) == 0x0800 && f[23] == 6 &&
	       !memcmp(f + 30, m->dst_ip, 4) && (!m->sport || get16(f + 34) == m->sport) &&
	       get16(f + 36) == m->dport;
}

struct host_server {
	int lfd;
	uint16_t port;
	int result; /* 0: sent all, else -errno */
	pthread_t thread;
};

static void *host_server_run(void *arg)
{
	struct host_server *hs = arg;
	struct pollfd pfd = {.fd = hs->lfd, .events = POLLIN};
	static uint8_t data[PATTERN_LEN];
	size_t off = 0;
	int fd;

	for (size_t i = 0; i < PATTERN_LEN; i++)
		data[i] = pattern_byte(i);
	if (poll(&pfd, 1, WAIT_MS) != 1 || (fd = accept(hs->lfd, NULL, NULL)) < 0) {
		hs->result = -ETIMEDOUT;
		return NULL;
	}
	while (off < PATTERN_LEN) {
		ssize_t n = write(fd, data + off, PATTERN_LEN - off);

		if (n <= 0) {
			hs->result = n < 0 ? -errno : -EPIPE;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	return NULL;
}

/* A socket of @type bound to 127.0.0.1:<ephemeral>; *@port says which. */
static int bound_loopback(int type, uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Listen on 127.0.0.1:<ephemeral>; return the port. */
static int listen_loopback(uint16_t *port)
{
	int fd = bound_loopback(SOCK_STREAM, port);

	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/**
 * tcp_receive_all() - the guest's receive side: take in-order segments,
 * ACK every segment cumulatively, stop after the FIN.
 * Return: bytes received into @out (capacity @cap).
 */
static size_t tcp_receive_all(struct guest *g, uint16_t port, uint32_t snd_nxt, uint32_t *rcv_nxt,
			      uint8_t *out, size_t cap)
{
	struct tcp_match m = {.sport = port, .dport = GUEST_PORT, .dst_ip = guest_ip};
	uint32_t irs = *rcv_nxt;
	uint8_t f[128];
	bool fin = false;

	while (!fin && wait_frame(g, is_tcp_for, &m)) {
		const uint8_t *t = g->buf + 34;
		size_t ip_len = get16(g->buf + 16), hl = (size_t)(t[12] >> 4) * 4;
		size_t plen = ip_len - 20 - hl;
		uint32_t seq = get32(t + 4);

		assert_false(t[13] & TCP_RST);
		assert_true(34 + hl + plen <= g->len);
		assert_int_equal(l4_csum(g->buf, hl + plen), 0);
		if (seq == *rcv_nxt) {
			size_t off = *rcv_nxt - irs;

			assert_true(off + plen <= cap);
			memcpy(out + off, t + hl, plen);
			*rcv_nxt += (uint32_t)plen;
			if (t[13] & TCP_FIN) {
				*rcv_nxt += 1;
				fin = true;
			}
		}
		send_frame(g->be, 0, f, build_tcp(f, port, snd_nxt, *rcv_nxt, TCP_ACK));
	}
	assert_true(fin);
	return *rcv_nxt - irs - 1;
}

static void test_tcp_nat(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 1)};
	struct host_server hs = {.result = 0};
	struct tcp_match m = {.dport = GUEST_PORT, .dst_ip = guest_ip};
	const uint32_t iss = 1000;
	uint32_t rcv_nxt;
	uint8_t f[128], *data = calloc(1, PATTERN_LEN + 1);
	size_t got;

	(void)state;
	assert_non_null(data);
	hs.lfd = listen_loopback(&hs.port);
	assert_int_equal(pthread_create(&hs.thread, NULL, host_server_run, &hs), 0);

	/* Handshake: SYN -> SYN/ACK -> ACK. */
	m.sport = hs.port;
	send_frame(g.be, 0, f, build_tcp(f, hs.port, iss, 0, TCP_SYN));
	assert_true(wait_frame(&g, is_tcp_for, &m));
	assert_int_equal(g.buf[34 + 13] & (TCP_SYN | TCP_ACK | TCP_RST), TCP_SYN | TCP_ACK);
	assert_int_equal(get32(g.buf + 34 + 8), iss + 1);
	rcv_nxt = get32(g.buf + 34 + 4) + 1;
	send_frame(g.be, 0, f, build_tcp(f, hs.port, iss + 1, rcv_nxt, TCP_ACK));

	/* Data, then the host's FIN. */
	got = tcp_receive_all(&g, hs.port, iss + 1, &rcv_nxt, data, PATTERN_LEN + 1);
	assert_int_equal(got, PATTERN_LEN);
	for (size_t i = 0; i < PATTERN_LEN; i++)
		if (data[i] != pattern_byte(i))
			fail_msg("byte %zu: got %u want %u", i, data[i], pattern_byte(i));

	/* Our FIN; slirp ACKs it. */
	send_frame(g.be, 0, f, build_tcp(f, hs.port, iss + 1, rcv_nxt, TCP_FIN | TCP_ACK));
	assert_true(wait_frame(&g, is_tcp_for, &m));
	assert_true(g.buf[34 + 13] & TCP_ACK);
	assert_int_equal(get32(g.buf + 34 + 8), iss + 2);

	pthread_join(hs.thread, NULL);
	assert_int_equal(hs.result, 0);
	close(hs.lfd);
	free(data);
	g.be->ops->free(g.be);
}

/* ---- UDP through the NAT, and queue pair spreading ---------------------- */

/* A UDP datagram 10.0.2.15:@sport -> 10.0.2.2:@dport. */
static size_t build_udp(uint8_t *f, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
	struct inet_ends e = slirp_guest_to_host();

	return inet_frame_udp(f, &e, sport, dport, data, len);
}

static bool is_udp_for(const uint8_t *f, size_t len, const void *arg)
{
	const struct tcp_match *m = arg;

	return len >= 42 && get16(f + 12) == 0x0800 && f[23] == 17 &&
	       !memcmp(f + 30, m->dst_ip, 4) && get16(f + 34) == m->sport &&
	       get16(f + 36) == m->dport;
}

static int udp_loopback(uint16_t *port)
{
	return bound_loopback(SOCK_DGRAM, port);
}

/* The host echoes one datagram back to its sender. */
static void host_echo_one(int fd, const char *want)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char buf[256];
	ssize_t n;

	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
	assert_int_equal(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl), n);
}

/* One datagram out and its echo back on some queue pair (returned). */
static unsigned udp_round_trip(struct guest *g, unsigned nq, int hfd, uint16_t hport,
			       uint16_t sport)
{
	struct tcp_match m = {.sport = hport, .dport = sport, .dst_ip = guest_ip};
	char msg[32];
	uint8_t f[128];
	unsigned q = ~0u;

	snprintf(msg, sizeof(msg), "hello from %u", sport);
	send_frame(g->be, sport % nq, f, build_udp(f, sport, hport, msg, strlen(msg)));
	host_echo_one(hfd, msg);
	assert_true(wait_frame_any(g, nq, is_udp_for, &m, &q));
	assert_int_equal(get16(g->buf + 38), 8 + strlen(msg));
	assert_memory_equal(g->buf + 42, msg, strlen(msg));
	assert_memory_equal(g->buf, guest_mac, 6);
	return q;
}

static void test_udp_nat(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 1)};
	uint16_t hport;
	int hfd = udp_loopback(&hport);

	(void)state;
	assert_int_equal(udp_round_trip(&g, 1, hfd, hport, 5000), 0);
	assert_int_equal(udp_round_trip(&g, 1, hfd, hport, 5001), 0);
	close(hfd);
	g.be->ops->free(g.be);
}

static void test_udp_two_pairs(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 2)};
	unsigned used[2] = {0, 0};
	uint16_t hport;
	int hfd = udp_loopback(&hport);

	(void)state;
	for (uint16_t sport = 6000; sport < 6032; sport++) {
		unsigned q = udp_round_trip(&g, 2, hfd, hport, sport);

		assert_true(q < 2);
		used[q]++;
		/* the same flow again: same pair */
		assert_int_equal(udp_round_trip(&g, 2, hfd, hport, sport), q);
	}
	assert_true(used[0] > 0 && used[1] > 0);
	close(hfd);
	g.be->ops->free(g.be);
}

/* ---- hostfwd ------------------------------------------------------------ */

static uint16_t free_port(void)
{
	uint16_t port;
	int fd = listen_loopback(&port);

	close(fd);
	return port;
}

static void test_hostfwd_syn(void **state)
{
	char spec[64], spec_udp[64];
	uint16_t port = free_port(), uport = free_port();
	const char *fwd[2] = {spec, spec_udp};
	struct tcp_match m = {.dport = 8080, .dst_ip = guest_ip};
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct guest g;
	int fd;

	(void)state;
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u:8080", port);
	snprintf(spec_udp, sizeof(spec_udp), "udp:%u:5353", uport);
	g.be = new_be_opts(fwd, 2, 1);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	assert_true(wait_frame(&g, is_tcp_for, &m));
	assert_int_equal(g.buf[34 + 13] & (TCP_SYN | TCP_ACK | TCP_RST), TCP_SYN);
	assert_memory_equal(g.buf + 30, guest_ip, 4);
	assert_memory_equal(g.buf, guest_mac, 6);
	close(fd);
	g.be->ops->free(g.be);
}

static void test_hostfwd_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"tcp",
		"tcp:1",
		"sctp:1:2",
		"tcp:0:80",
		"tcp:65536:80",
		"tcp:abc:80",
		"tcp:80:",
		"tcp::80:80",
		"tcp:1:-2",
		"tcp: 1:2",
		":tcp:1:2",
		"tcp:1.2.3:80:80",
		"tcp:127.0.0.1:1:2:3",
		"udp:1:2x",
	};
	struct netbe_options opt = {.max_queue_pairs = 1, .mtu = 1500};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct netbe *be = (struct netbe *)&opt; /* must be reset to NULL */
		char err[256] = "";

		opt.hostfwd = &bad[i];
		opt.n_hostfwd = 1;
		assert_int_equal(netbe_slirp_new(&opt, &be, err, sizeof(err)), -EINVAL);
		assert_null(be);
		if (!strstr(err, "hostfwd") || !strstr(err, bad[i]))
			fail_msg("spec '%s': reason '%s'", bad[i], err);
	}
	/* MTU out of range */
	opt.n_hostfwd = 0;
	opt.mtu = 40;
	{
		struct netbe *be = NULL;
		char err[256] = "";

		assert_int_equal(netbe_slirp_new(&opt, &be, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "mtu"));
	}
}

/* A port already taken on the host: -errno with a reason, nothing leaked. */
static void test_hostfwd_busy(void **state)
{
	struct netbe_options opt = {.max_queue_pairs = 1, .mtu = 1500};
	uint16_t port;
	int lfd = listen_loopback(&port);
	char spec[64], err[256] = "";
	const char *fwd[1] = {spec};
	struct netbe *be = NULL;
	int ret;

	(void)state;
	snprintf(spec, sizeof(spec), "tcp:%u:22", port);
	opt.hostfwd = fwd;
	opt.n_hostfwd = 1;
	ret = netbe_slirp_new(&opt, &be, err, sizeof(err));
	assert_true(ret < 0 && ret != -EINVAL);
	assert_null(be);
	assert_non_null(strstr(err, spec));
	close(lfd);
}

/* ---- malformed guest frames ---------------------------------------------- */

/* The IPv4 header checksum of the frame in @f again, over the 20 fixed
 * bytes (whatever its IHL says), so that slirp's ip_input() looks further. */
static void ip4_recsum(uint8_t *f)
{
	put16(f + 24, 0);
	put16(f + 24, csum_finish(csum_add(0, f + 14, 20)));
}

/* Queue one frame for slirp; wait while the tx queue is full (each refusal
 * counts in tx_dropped). */
static void send_hostile(struct netbe *be, const uint8_t *f, size_t len)
{
	for (int i = 0; i < 1000; i++) {
		struct timespec ts = {0, 1000000};

		if (tx_one(be, 0, f, (uint32_t)len, NULL) == 1)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("the tx queue stays full");
}

/* An IPv6 header 40 bytes at f + 14 (fe80::15 -> fe80::2), next header
 * @nh, payload length @plen, for a frame to slirp. */
static void build_ipv6(uint8_t *f, uint8_t nh, uint16_t plen)
{
	uint8_t *ip = f + 14;

	memcpy(f, slirp_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x86dd);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	put16(ip + 4, plen);
	ip[6] = nh;
	ip[7] = 255;
	ip[8] = 0xfe, ip[9] = 0x80, ip[23] = 0x15;
	ip[24] = 0xfe, ip[25] = 0x80, ip[39] = 0x02;
}

/*
 * I2: malformed frames from the guest: runts, a garbage ethertype, a
 * truncated ARP, IPv4 with IHL < 5 and options running past the frame,
 * total length beyond the frame or below the header, truncated TCP (data
 * offset past the segment too), UDP and ICMP headers, a UDP length beyond
 * the datagram, a truncated DHCP request, fragments with odd offsets, IPv6
 * with a payload length beyond the frame, a truncated IPv6 header, a
 * truncated ICMPv6 and UDP over IPv6, then 2000 frames of seeded garbage
 * behind valid Ethernet and IPv4 headers. Each is queued and read by
 * slirp_input(); none may crash (the suite runs under ASan: our queueing
 * and flow hashing are checked, libslirp's own code is not instrumented),
 * and slirp still answers ARP, DHCP and UDP through the NAT after them.
 * libslirp >= 4.6 is required (lib/meson.build) for its fixes of
 * guest-reachable out-of-bounds reads.
 */
static void test_malformed_frames(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 1)};
	static uint8_t f[BUF_CAP];
	uint16_t hport;
	int hfd = udp_loopback(&hport);
	uint32_t seed = 0x9e3779b9u;
	size_t len;

	(void)state;
	/* runts and a garbage ethertype */
	memset(f, 0xab, 64);
	send_hostile(g.be, f, 1);
	send_hostile(g.be, f, 13);
	memcpy(f, slirp_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	send_hostile(g.be, f, 14);
	put16(f + 12, 0x1234);
	send_hostile(g.be, f, 60);
	put16(f + 12, 0x0800); /* IPv4, header cut short */
	send_hostile(g.be, f, 20);
	put16(f + 12, 0x86dd); /* IPv6, header cut short */
	send_hostile(g.be, f, 30);
	/* ARP, truncated */
	len = build_arp_request(f);
	send_hostile(g.be, f, 20);
	send_hostile(g.be, f, 28);

	/* IPv4 with IHL 0..4, and IHL 15 in a 40-byte frame */
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		len = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, 17, 8);
		f[14] = (uint8_t)(0x40 | ihl);
		ip4_recsum(f);
		send_hostile(g.be, f, len + 8);
	}
	len = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, 6, 6);
	f[14] = 0x4f;
	ip4_recsum(f);
	send_hostile(g.be, f, len + 6);
	/* total length beyond the frame, and below the header */
	len = build_udp(f, 5100, hport, "x", 1);
	put16(f + 16, 1500);
	ip4_recsum(f);
	send_hostile(g.be, f, len);
	put16(f + 16, 65535);
	ip4_recsum(f);
	send_hostile(g.be, f, len);
	put16(f + 16, 12);
	ip4_recsum(f);
	send_hostile(g.be, f, len);
	/* truncated TCP (10 of 20 bytes), and a data offset past the segment */
	len = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, 6, 10);
	memset(f + 34, 0, 10);
	put16(f + 36, 9);
	send_hostile(g.be, f, len + 10);
	len = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, 6, 20);
	memset(f + 34, 0, 20);
	put16(f + 36, 9);
	f[46] = 0xf0; /* 60-byte header in a 20-byte segment */
	f[47] = 0x02; /* SYN */
	send_hostile(g.be, f, len + 20);
	f[46] = 0x10; /* 4-byte header */
	send_hostile(g.be, f, len + 20);
	/* truncated UDP (4 of 8 bytes) to the host, DNS and DHCP */
	len = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, 17, 4);
	put16(f + 34, 5101);
	put16(f + 36, hport);
	send_hostile(g.be, f, len + 4);
	/* a UDP length beyond the datagram */
	len = build_udp(f, 5102, hport, "abcd", 4);
	put16(f + 38, 400);
	send_hostile(g.be, f, len);
	put16(f + 38, 3); /* below the UDP header */
	send_hostile(g.be, f, len);
	/* a DHCP request cut inside the BOOTP header, lengths kept */
	len = build_dhcp(f, 1);
	send_hostile(g.be, f, 42 + 20);
	put16(f + 16, 20 + 8 + 20);
	put16(f + 38, 8 + 20);
	ip4_recsum(f);
	send_hostile(g.be, f, 42 + 20);
	/* truncated ICMP echo (4 of 8 bytes) */
	len = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, 1, 4);
	f[34] = 8;
	send_hostile(g.be, f, len + 4);
	/* fragments: MF with 3 bytes, the last offset, and one past 64 KiB:
	 * refused before libslirp (test_fragments_refused) */
	len = build_udp(f, 5103, hport, "fragment", 8);
	put16(f + 20, 0x2000);
	put16(f + 16, 20 + 3);
	ip4_recsum(f);
	assert_int_equal(tx_one(g.be, 0, f, 14 + 20 + 3, NULL), 0);
	put16(f + 20, 0x1fff);
	put16(f + 16, 20 + 16);
	ip4_recsum(f);
	assert_int_equal(tx_one(g.be, 0, f, 14 + 20 + 16, NULL), 0);
	put16(f + 20, 0x3fff);
	ip4_recsum(f);
	assert_int_equal(tx_one(g.be, 0, f, 14 + 20 + 16, NULL), 0);

	/* IPv6: payload length beyond the frame (UDP, ICMPv6), truncated
	 * UDP and ICMPv6 headers, a hop-by-hop header running past the end */
	build_ipv6(f, 17, 1000);
	memset(f + 54, 0, 8);
	put16(f + 56, 53);
	send_hostile(g.be, f, 54 + 8);
	build_ipv6(f, 58, 1000);
	f[54] = 135; /* neighbour solicitation */
	send_hostile(g.be, f, 54 + 8);
	build_ipv6(f, 17, 4);
	send_hostile(g.be, f, 54 + 4);
	build_ipv6(f, 58, 2);
	f[54] = 128; /* echo request */
	send_hostile(g.be, f, 54 + 2);
	build_ipv6(f, 0, 8);
	f[54] = 17;
	f[55] = 200; /* 1608 bytes of options */
	send_hostile(g.be, f, 54 + 8);

	/* seeded garbage behind valid Ethernet + IPv4 headers (checksum
	 * right, so slirp looks past them), 20..200 bytes of payload */
	for (unsigned i = 0; i < 2000; i++) {
		uint32_t plen;
		uint8_t proto;

		seed = seed * 1103515245u + 12345u;
		plen = 20 + (seed >> 16) % 181;
		proto = (uint8_t[]){1, 6, 17, 2}[(seed >> 8) & 3];
		len = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, proto, (uint16_t)plen);
		for (uint32_t k = 0; k < plen; k++) {
			seed = seed * 1103515245u + 12345u;
			f[len + k] = (uint8_t)(seed >> 24);
		}
		if (proto == 6 || proto == 17)
			put16(f + 36, 9); /* the discard port: nothing listens */
		send_hostile(g.be, f, len + plen);
	}

	/* still alive: ARP, DHCP, and UDP through the NAT */
	send_frame(g.be, 0, f, build_arp_request(f));
	assert_true(wait_frame(&g, is_arp_reply, NULL));
	assert_memory_equal(g.buf + 28, host_ip, 4);
	send_frame(g.be, 0, f, build_dhcp(f, 1));
	assert_true(wait_frame(&g, is_dhcp_reply, NULL));
	assert_int_equal(dhcp_type(g.buf, g.len), 2); /* OFFER */
	assert_int_equal(udp_round_trip(&g, 1, hfd, hport, 5200), 0);
	close(hfd);
	g.be->ops->free(g.be);
}

/*
 * IPv4 fragments never reach libslirp: its reassembly (4.7) followed a wild
 * pointer and killed vqnetd (SIGBUS, SIGSEGV) within a few hundred
 * fragments that came out of order, with some lost and IDs reused, as an
 * 8000-byte UDP stream through MTU 1500 makes them. The same sequence
 * here, seeded: each fragment refused and counted (tx_dropped), and slirp
 * serves UDP afterwards. Without the refusal this test dies with libslirp.
 */
static void test_fragments_refused(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 1)};
	static uint8_t f[BUF_CAP], data[8000];
	uint32_t seed = 2, refused = 0;
	uint16_t hport;
	int hfd = udp_loopback(&hport);

	(void)state;
	for (unsigned d = 0; d < 60; d++) {
		uint32_t total = (uint32_t[]){1600, 3000, 4000, 8000}[d % 4];
		uint32_t nfr = (total + 1479) / 1480, order[8];

		for (uint32_t i = 0; i < nfr; i++)
			order[i] = i;
		for (uint32_t i = nfr - 1; i > 0; i--) { /* shuffle */
			uint32_t j, t;

			seed = seed * 1103515245u + 12345u;
			j = (seed >> 16) % (i + 1);
			t = order[i], order[i] = order[j], order[j] = t;
		}
		memset(data, (int)d, total);
		put16(data, 40000);
		put16(data + 2, hport);
		put16(data + 4, (uint16_t)total);
		for (uint32_t i = 0; i < nfr; i++) {
			uint32_t off = order[i] * 1480, n = total - off < 1480 ? total - off : 1480;
			uint32_t l4 = build_ipv4(f, slirp_mac, guest_mac, guest_ip, host_ip, 17,
						 (uint16_t)n);

			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 5 == 0)
				continue;		      /* lost */
			put16(f + 18, (uint16_t)(1 + d % 3)); /* IDs reused */
			put16(f + 20, (uint16_t)((off + n < total ? 0x2000 : 0) | off / 8));
			ip4_recsum(f);
			memcpy(f + l4, data + off, n);
			assert_int_equal(tx_one(g.be, 0, f, l4 + n, NULL), 0);
			refused++;
		}
	}
	assert_true(refused > 100);
	assert_int_equal(stats_of(g.be, 0).tx_dropped, refused);
	assert_int_equal(udp_round_trip(&g, 1, hfd, hport, 5300), 0);
	close(hfd);
	g.be->ops->free(g.be);
}

/* ---- ops details -------------------------------------------------------- */

static void test_ops(void **state)
{
	struct netbe *be = new_be_opts(NULL, 0, 2);
	static uint8_t big[1600];
	struct iovec iov = {.iov_base = big, .iov_len = sizeof(big)};
	struct netbe_txpkt pkt = {.iov = &iov, .iovcnt = 1, .len = sizeof(big)};
	struct netbe_stats st;
	struct netbe_rxbuf b = {.data = big, .cap = sizeof(big)};

	(void)state;
	assert_string_equal(be->ops->name, "slirp");
	assert_int_equal(be->ops->caps(be), 0);
	assert_true(be->ops->link_up(be));
	assert_int_equal(be->max_queue_pairs, 2);
	assert_int_equal(be->ops->set_queue_pairs(be, 3), -EINVAL);
	assert_int_equal(be->ops->set_rx_offloads(be, 0), 0);
	assert_true(be->ops->rx_fd(be, 0) >= 0);
	assert_true(be->ops->rx_fd(be, 1) >= 0);
	assert_int_not_equal(be->ops->rx_fd(be, 0), be->ops->rx_fd(be, 1));
	/* larger than mtu + 18: dropped and counted */
	assert_int_equal(be->ops->tx(be, 1, &pkt, 1), 0);
	be->ops->get_stats(be, 1, &st);
	assert_int_equal(st.tx_dropped, 1);
	be->ops->get_stats(be, 0, &st);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(be->ops->rx(be, 1, &b, 1), 0);
	be->ops->free(be);

	/* One slirp thread: the backend serves at most 16 pairs, whatever asked. */
	{
		struct netbe_options opt = {.max_queue_pairs = 40};
		char err[128];

		assert_int_equal(netbe_slirp_new(&opt, &be, err, sizeof(err)), 0);
		assert_int_equal(be->max_queue_pairs, 16);
		assert_int_equal(be->ops->set_queue_pairs(be, 16), 0);
		be->ops->free(be);
	}
}

/* The spec "slirp" through netbe_new() reaches this backend; an argument
 * is refused. */
static void test_netbe_new_slirp(void **state)
{
	struct netbe_options opt = {.max_queue_pairs = 1, .mtu = 1500};
	struct netbe *be = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(netbe_new("slirp", &opt, &be, err, sizeof(err)), 0);
	assert_non_null(be);
	assert_string_equal(be->ops->name, "slirp");
	netbe_free(be);
	be = NULL;
	assert_int_equal(netbe_new("slirp:x", &opt, &be, err, sizeof(err)), -EINVAL);
	assert_null(be);
}

/* Two queue pairs: the ARP reply (not a flow) comes back on pair 0 even
 * when the request went out on pair 1. */
static void test_two_pairs_arp(void **state)
{
	struct guest g = {.be = new_be_opts(NULL, 0, 2)};
	uint8_t f[60];

	(void)state;
	send_frame(g.be, 1, f, build_arp_request(f));
	assert_true(wait_frame_q(&g, 0, is_arp_reply, NULL));
	g.be->ops->free(g.be);
}

/* ---- stress: two workers flood ARP requests ---------------------------- */

#define STRESS_FRAMES 5000

struct stress_worker {
	struct netbe *be;
	unsigned q;
	uint64_t sent, received; /* received: pair 0's worker only */
};

static void stress_drain(struct stress_worker *w)
{
	uint8_t bufs[8][BUF_CAP];
	struct netbe_rxbuf b[8];
	int n;

	do {
		for (unsigned i = 0; i < 8; i++)
			b[i] = (struct netbe_rxbuf){.data = bufs[i], .cap = BUF_CAP};
		n = w->be->ops->rx(w->be, 0, b, 8);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			if (is_arp_reply(b[i].data, b[i].len, NULL))
				w->received++;
	} while (n == 8);
}

/* Each worker sends bursts of 16 on its own pair; pair 0's worker also
 * drains pair 0, where all replies land (ARP is not a flow). */
static void *stress_run(void *arg)
{
	struct stress_worker *w = arg;
	uint8_t f[60];
	struct iovec iov = {.iov_base = f, .iov_len = build_arp_request(f)};
	struct netbe_txpkt pkts[16];

	for (unsigned i = 0; i < 16; i++)
		pkts[i] = (struct netbe_txpkt){.iov = &iov, .iovcnt = 1, .len = 60};
	for (unsigned done = 0; done < STRESS_FRAMES; done += 16) {
		w->sent += (uint64_t)w->be->ops->tx(w->be, w->q, pkts, 16);
		if (w->q == 0)
			stress_drain(w);
		usleep(20); /* let the slirp thread run between bursts, sometimes */
	}
	return NULL;
}

/* Conservation: every frame tx() took gets a reply that is either
 * received or counted in rx_dropped; frames tx() refused are in
 * tx_dropped. A lost wake-up would leave frames stuck (timeout). */
static void test_stress_two_workers(void **state)
{
	struct netbe *be = new_be_opts(NULL, 0, 2);
	struct stress_worker w[2] = {{.be = be, .q = 0}, {.be = be, .q = 1}};
	struct netbe_stats st0, st1;
	pthread_t t[2];
	uint64_t total = 0;
	unsigned ms = 0;

	(void)state;
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, stress_run, &w[i]), 0);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (;; ms += 10) {
		struct pollfd pfd = {.fd = be->ops->rx_fd(be, 0), .events = POLLIN};

		stress_drain(&w[0]);
		be->ops->get_stats(be, 0, &st0);
		if (w[0].received + st0.rx_dropped >= w[0].sent + w[1].sent || ms > WAIT_MS)
			break;
		poll(&pfd, 1, 10);
	}
	be->ops->get_stats(be, 1, &st1);
	total = w[0].received + st0.rx_dropped;
	fprintf(stderr, "stress: sent %lu+%lu received %lu rx_dropped %lu tx_dropped %lu+%lu\n",
		(unsigned long)w[0].sent, (unsigned long)w[1].sent, (unsigned long)w[0].received,
		(unsigned long)st0.rx_dropped, (unsigned long)st0.tx_dropped,
		(unsigned long)st1.tx_dropped);
	assert_int_equal(total, w[0].sent + w[1].sent);
	assert_int_equal(w[0].sent + st0.tx_dropped,
			 STRESS_FRAMES + (16 - STRESS_FRAMES % 16) % 16);
	assert_int_equal(w[1].sent + st1.tx_dropped,
			 STRESS_FRAMES + (16 - STRESS_FRAMES % 16) % 16);
	assert_int_equal(st1.rx_dropped, 0);
	assert_true(w[0].received > 0);
	be->ops->free(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_netbe_new_slirp),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_two_pairs_arp),
		cmocka_unit_test(test_dhcp),
		cmocka_unit_test(test_dhcp_subnet),
		cmocka_unit_test(test_tcp_nat),
		cmocka_unit_test(test_udp_nat),
		cmocka_unit_test(test_udp_two_pairs),
		cmocka_unit_test(test_hostfwd_syn),
		cmocka_unit_test(test_hostfwd_bad),
		cmocka_unit_test(test_hostfwd_busy),
		cmocka_unit_test(test_stress_two_workers),
		cmocka_unit_test(test_malformed_frames),
		cmocka_unit_test(test_fragments_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
