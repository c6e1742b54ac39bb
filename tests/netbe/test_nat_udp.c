/* SPDX-License-Identifier: MIT */
/*
 * The `user` backend's datagram flows and port forwarding (lib/netbe/nat/
 * udp.c, icmp.c, fwd.c) through its ops table: the test plays the guest
 * (hand-built frames in through tx(), frames out of rx() when rx_fd() is
 * readable) and the host's peers (sockets on the loopback).
 *
 * Loopback only: the guest talks to 10.0.2.2 / fec0::2 (the host's
 * loopback) and 10.0.2.3 (a fake resolver of ours on 127.0.0.1).
 *
 *  - UDP to 10.0.2.2:P reaches 127.0.0.1:P and the reply comes back
 *    byte-exact with valid checksums; the same over IPv6 (fec0::2 -> ::1);
 *    with NEEDS_CSUM allowed, the partial checksum completes right
 *  - 1000 sequence-numbered datagrams each way, in order, none lost
 *  - DNS: a query to 10.0.2.3:53 reaches the resolver given with --dns
 *  - an idle flow is closed after udp_idle_ms, not before the tick runs
 *  - IP fragments: a datagram larger than the MTU reaches the guest in
 *    fragments (checked and put back together by an oracle of the test's),
 *    in order with the datagrams around it, whole when partial checksums
 *    are allowed too; the guest's fragments (in any order, v4 and v6, an
 *    IPv6 atomic fragment) reach the host as one datagram; overlaps,
 *    duplicates, disagreeing ends, beyond 64 KiB, bad lengths and more
 *    unfinished datagrams than slots are refused and counted
 *  - a closed host port: the guest gets an ICMP / ICMPv6 port unreachable
 *  - ping 10.0.2.2 and fec0::2 through ping sockets (as root in a private
 *    network namespace where they are allowed, and refused and counted
 *    where they are not; skipped for other users without ping sockets)
 *  - hostfwd TCP: a host connect() to 127.0.0.1:HP makes a SYN to the
 *    guest's GP from 10.0.2.2; with two pairs the connections spread;
 *    out of fds, accept fails without a busy loop and recovers
 *  - hostfwd UDP: a host datagram to HP reaches the guest's GP from
 *    10.0.2.2, the guest's reply reaches the host peer from HP
 *  - nat_fwd_parse(): good and bad rules; a port already in use
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
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
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "vqnet/netbe.h"

#include "netbe/nat/nat.h" /* counters, flows, nat_fwd_parse() */

#include "netbe_fixture.h"

#define WAIT_MS	   10000
#define GPORT	   40000
#define NBUF	   32
#define STREAM_N   1000
#define STREAM_BAT 25

static const uint8_t gw_mac[6] = {0x52, 0x55, 10, 0, 2, 2};
static const uint8_t guest4[4] = {10, 0, 2, 15};
static const uint8_t gw4[4] = {10, 0, 2, 2};
static const uint8_t dns4[4] = {10, 0, 2, 3};
static struct in6_addr guest6, gw6;

/* ---- frames from the guest ---------------------------------------------- */

/* The transport checksum of @l4 (@len bytes) between @src and @dst
 * (16 bytes each for IPv6, 4 for IPv4; ICMPv4 has no pseudo-header). */
static uint16_t l4_sum(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		       const uint8_t *l4, uint32_t len)
{
	uint32_t s = 0;
	uint8_t t[4];

	if (v6) {
		s = csum_add(csum_add(0, src, 16), dst, 16);
		put32(t, len);
		s = csum_add(s, t, 4);
		s += proto;
	} else if (proto != IPPROTO_ICMP) {
		s = csum_add(csum_add(0, src, 4), dst, 4);
		s += proto + len;
	}
	return csum_finish(csum_add(s, l4, len));
}

/* Ethernet (to the router) + IP from the guest to @dst + @l4 (its
 * checksum filled at @csum_off). Return: the frame length. */
static size_t guest_frame(uint8_t *f, bool v6, const void *dst, uint8_t proto, const uint8_t *l4,
			  uint32_t len, uint32_t csum_off)
{
	const uint8_t *src = v6 ? guest6.s6_addr : guest4;
	uint32_t l3 = v6 ? 40 : 20;
	uint8_t *ip = f + 14, *t = f + 14 + l3;

	memcpy(f, gw_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, v6 ? 0x86dd : 0x0800);
	memset(ip, 0, l3);
	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)len);
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + len));
		put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		put16(ip + 10, csum_finish(csum_add(0, ip, 20)));
	}
	memcpy(t, l4, len);
	put16(t + csum_off, 0);
	put16(t + csum_off, l4_sum(v6, src, dst, proto, t, len));
	return 14 + l3 + len;
}

static size_t guest_udp(uint8_t *f, bool v6, const void *dst, uint16_t sport, uint16_t dport,
			const void *data, size_t len)
{
	uint8_t u[2048];

	assert_true(len + 8 <= sizeof(u));
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + len));
	memcpy(u + 8, data, len);
	return guest_frame(f, v6, dst, IPPROTO_UDP, u, (uint32_t)(8 + len), 6);
}

static size_t guest_echo(uint8_t *f, bool v6, const void *dst, uint16_t id, uint16_t seq,
			 const void *data, size_t len)
{
	uint8_t m[512];

	assert_true(len + 8 <= sizeof(m));
	memset(m, 0, 8);
	m[0] = v6 ? 128 : 8;
	put16(m + 4, id);
	put16(m + 6, seq);
	memcpy(m + 8, data, len);
	return guest_frame(f, v6, dst, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, m, (uint32_t)(8 + len),
			   2);
}

/* ---- frames to the guest ------------------------------------------------- */

/* A frame rx() gave, checked: Ethernet from the router to the guest, a
 * well-formed IP header to the guest (IPv4 header checksum right), the
 * transport checksum complete and right. */
struct rx_frame {
	bool v6;
	uint8_t proto;
	const uint8_t *src; /* 4 or 16 bytes */
	const uint8_t *l4;
	uint32_t l4_len;
};

static bool parse_rx(const uint8_t *f, uint32_t len, struct rx_frame *r)
{
	const uint8_t *ip = f + 14;
	uint32_t l3;

	if (len < 14 + 20 || memcmp(f, guest_mac, 6) || memcmp(f + 6, gw_mac, 6))
		return false;
	r->v6 = get16(f + 12) == 0x86dd;
	if (!r->v6 && get16(f + 12) != 0x0800)
		return false;
	if (r->v6) {
		l3 = 40;
		if (len < 14 + 40 || ip[0] >> 4 != 6 || memcmp(ip + 24, &guest6, 16))
			return false;
		r->l4_len = get16(ip + 4);
		r->proto = ip[6];
		r->src = ip + 8;
	} else {
		l3 = 20;
		if (ip[0] != 0x45 || memcmp(ip + 16, guest4, 4))
			return false;
		assert_int_equal(csum_finish(csum_add(0, ip, 20)), 0);
		r->l4_len = get16(ip + 2) - 20u;
		r->proto = ip[9];
		r->src = ip + 12;
	}
	assert_int_equal(14 + l3 + r->l4_len, len);
	r->l4 = f + 14 + l3;
	assert_int_equal(
		l4_sum(r->v6, r->src, r->v6 ? ip + 24 : ip + 16, r->proto, r->l4, r->l4_len), 0);
	return true;
}

/* ---- the guest side of the backend --------------------------------------- */

struct guest {
	struct netbe *be;
	unsigned nq;
	uint8_t buf[BUF_CAP];
	uint32_t len;
	unsigned q; /* where the last frame came from */
};

static struct nat *nat_of(struct netbe *be)
{
	return be->priv;
}

static void guest_open(struct guest *g, struct netbe_options *o, unsigned nq)
{
	memset(g, 0, sizeof(*g));
	o->max_queue_pairs = nq;
	g->be = open_be("user", o);
	g->nq = nq;
	assert_int_equal(g->be->ops->set_queue_pairs(g->be, nq), 0);
	assert_int_equal(g->be->ops->set_rx_offloads(g->be, 0), 0);
}

static void guest_close(struct guest *g)
{
	netbe_free(g->be);
	g->be = NULL;
}

static void send_frame(struct guest *g, const uint8_t *f, size_t len)
{
	assert_int_equal(tx_one(g->be, 0, f, (uint32_t)len, NULL), 1);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One rx() turn on every pair, frames one at a time: whether a frame came
 * (left in g->buf). */
static bool rx_one(struct guest *g)
{
	for (unsigned q = 0; q < g->nq; q++) {
		struct netbe_rxbuf b = {.data = g->buf, .cap = sizeof(g->buf)};
		int n = g->be->ops->rx(g->be, q, &b, 1);

		assert_true(n >= 0);
		if (n == 1) {
			assert_int_equal(b.meta.flags, 0);
			assert_int_equal(b.meta.gso_type, 0);
			g->len = b.len;
			g->q = q;
			return true;
		}
	}
	return false;
}

static void wait_rx_fds(struct guest *g, int ms)
{
	struct pollfd pfd[NAT_MAX_PAIRS];

	for (unsigned q = 0; q < g->nq; q++)
		pfd[q] = (struct pollfd){.fd = g->be->ops->rx_fd(g->be, q), .events = POLLIN};
	poll(pfd, g->nq, ms);
}

typedef bool (*frame_pred)(const struct rx_frame *r, const void *arg);

/* Receive until a frame satisfies @want (others are skipped), for at
 * most @ms. */
static bool wait_frame_ms(struct guest *g, frame_pred want, const void *arg, struct rx_frame *r,
			  long ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < ms) {
		if (rx_one(g)) {
			if (parse_rx(g->buf, g->len, r) && want(r, arg))
				return true;
			continue;
		}
		wait_rx_fds(g, 100);
	}
	return false;
}

static bool wait_frame(struct guest *g, frame_pred want, const void *arg, struct rx_frame *r)
{
	return wait_frame_ms(g, want, arg, r, WAIT_MS);
}

struct want_udp {
	bool v6;
	const void *src;
	uint16_t sport, dport;
};

static bool is_udp(const struct rx_frame *r, const void *arg)
{
	const struct want_udp *w = arg;

	return r->v6 == w->v6 && r->proto == IPPROTO_UDP && r->l4_len >= 8 &&
	       !memcmp(r->src, w->src, w->v6 ? 16 : 4) && get16(r->l4) == w->sport &&
	       get16(r->l4 + 2) == w->dport && get16(r->l4 + 4) == r->l4_len;
}

static void expect_udp(struct guest *g, const struct want_udp *w, const void *data, size_t len)
{
	struct rx_frame r;

	assert_true(wait_frame(g, is_udp, w, &r));
	assert_int_equal(r.l4_len, 8 + len);
	assert_memory_equal(r.l4 + 8, data, len);
}

/* ---- the host side -------------------------------------------------------- */

/* A socket of @type bound to the loopback of @family, port 0 (or *@port
 * when not 0); its port in *@port. */
static int host_sock(int family, int type, uint16_t *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int s = socket(family, type | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(*port);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(*port);
		sl = sizeof(*a);
	}
	assert_int_equal(bind(s, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&ss, &sl), 0);
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return s;
}

/* A port nothing listens on now (of @type, on 127.0.0.1). */
static uint16_t free_port(int type)
{
	uint16_t port = 0;
	int s = host_sock(AF_INET, type, &port);

	close(s);
	return port;
}

static ssize_t host_recv(int s, void *buf, size_t cap, struct sockaddr_storage *from)
{
	socklen_t sl = sizeof(*from);

	memset(from, 0, sizeof(*from));
	assert_true(fd_readable(s, WAIT_MS));
	return recvfrom(s, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, &sl);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
					       : ((const struct sockaddr_in *)ss)->sin_port);
}

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7);
}

/* ---- private network namespace (root) ------------------------------------ */

static int saved_netns = -1;

/* Run in a network namespace of our own with its loopback up. */
static bool enter_netns(void)
{
	struct ifreq ifr = {0};
	int s;

	if (geteuid() != 0)
		return false;
	saved_netns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved_netns < 0)
		return false;
	if (unshare(CLONE_NEWNET) < 0) {
		close(saved_netns);
		saved_netns = -1;
		return false;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	strcpy(ifr.ifr_name, "lo");
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	return true;
}

static void leave_netns(void)
{
	if (saved_netns < 0)
		return;
	assert_int_equal(setns(saved_netns, CLONE_NEWNET), 0);
	close(saved_netns);
	saved_netns = -1;
}

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

static bool ping_allowed(int family)
{
	int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC,
		       family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);

	if (s < 0)
		return false;
	close(s);
	return true;
}

static bool have_ipv6_loopback(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (s >= 0)
		close(s);
	return ok;
}

/* ---- UDP through the NAT ---------------------------------------------------- */

/* Guest -> 10.0.2.2:P (or fec0::2:P) -> the host socket on the loopback,
 * and its reply back to the guest, byte-exact. */
static void udp_echo(bool v6)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[2048], req[300], rep[700], got[2048];
	struct sockaddr_storage from = {0};
	uint16_t hp = 0;
	int hs = host_sock(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, &hp);
	const void *gw = v6 ? (const void *)gw6.s6_addr : gw4;
	struct want_udp w = {.v6 = v6, .src = gw, .sport = hp, .dport = GPORT};

	guest_open(&g, &o, 1);
	fill(req, sizeof(req), 1);
	fill(rep, sizeof(rep), 2);
	send_frame(&g, f, guest_udp(f, v6, gw, GPORT, hp, req, sizeof(req)));
	assert_int_equal(host_recv(hs, got, sizeof(got), &from), sizeof(req));
	assert_memory_equal(got, req, sizeof(req));
	assert_int_equal(from.ss_family, v6 ? AF_INET6 : AF_INET);
	if (v6)
		assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&from)->sin6_addr));
	else
		assert_int_equal(ntohl(((struct sockaddr_in *)&from)->sin_addr.s_addr),
				 INADDR_LOOPBACK);
	assert_int_equal(sendto(hs, rep, sizeof(rep), 0, (struct sockaddr *)&from, ss_len(&from)),
			 sizeof(rep));
	expect_udp(&g, &w, rep, sizeof(rep));
	/* The second datagram takes the same flow (the same host port). */
	send_frame(&g, f, guest_udp(f, v6, gw, GPORT, hp, req, 10));
	{
		struct sockaddr_storage from2;

		assert_int_equal(host_recv(hs, got, sizeof(got), &from2), 10);
		assert_int_equal(port_of(&from2), port_of(&from));
	}
	assert_int_equal(nat_of(g.be)->pairs[0].cnt.udp_opened, 1);
	assert_int_equal(nat_of(g.be)->pairs[0].nflows, 1);
	guest_close(&g);
	close(hs);
}

static void test_udp_echo_v4(void **state)
{
	(void)state;
	udp_echo(false);
}

static void test_udp_echo_v6(void **state)
{
	(void)state;
	if (!have_ipv6_loopback())
		skip();
	udp_echo(true);
}

/* With NEEDS_CSUM allowed the UDP checksum is left partial: the
 * pseudo-header sum in the field, csum_start/offset at the UDP header. */
static void test_udp_partial_csum(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[2048], got[2048], data[123];
	struct sockaddr_storage from = {0};
	struct netbe_rxbuf b = {.data = g.buf, .cap = sizeof(g.buf)};
	uint16_t hp = 0;
	int hs = host_sock(AF_INET, SOCK_DGRAM, &hp), n = 0;
	struct timespec t0;

	(void)state;
	guest_open(&g, &o, 1);
	assert_int_equal(g.be->ops->set_rx_offloads(g.be, NETBE_CAP_CSUM), 0);
	b.data = g.buf;
	fill(data, sizeof(data), 3);
	send_frame(&g, f, guest_udp(f, false, gw4, GPORT, hp, data, 1));
	assert_int_equal(host_recv(hs, got, sizeof(got), &from), 1);
	assert_int_equal(sendto(hs, data, sizeof(data), 0, (struct sockaddr *)&from, ss_len(&from)),
			 sizeof(data));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < WAIT_MS && (n = g.be->ops->rx(g.be, 0, &b, 1)) == 0)
		wait_rx_fds(&g, 100);
	assert_int_equal(n, 1);
	assert_int_equal(b.len, 42 + sizeof(data));
	assert_int_equal(b.meta.flags, 1); /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
	assert_int_equal(b.meta.csum_start, 34);
	assert_int_equal(b.meta.csum_offset, 6);
	/* What the driver does: sum from csum_start on, store the result. */
	put16(g.buf + 34 + 6, csum_finish(csum_add(0, g.buf + 34, 8 + sizeof(data))));
	assert_int_equal(csum_finish(csum_add(pseudo_sum(g.buf, 8 + sizeof(data)), g.buf + 34,
					      8 + sizeof(data))),
			 0);
	assert_memory_equal(g.buf + 42, data, sizeof(data));
	guest_close(&g);
	close(hs);
}

/* 1000 numbered datagrams each way, in batches the test paces: all of
 * them, in order. Host -> guest uses rx() with many buffers (a batch). */
static void test_udp_stream(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	static uint8_t bufs[NBUF][BUF_CAP];
	struct netbe_rxbuf rb[NBUF];
	uint8_t f[2048], d[1100], got[2048];
	struct sockaddr_storage from = {0};
	uint16_t hp = 0;
	int hs = host_sock(AF_INET, SOCK_DGRAM, &hp);
	struct want_udp w = {.src = gw4, .dport = GPORT};
	unsigned next = 0;

	(void)state;
	guest_open(&g, &o, 1);
	w.sport = hp;
	for (unsigned i = 0; i < STREAM_N; i += STREAM_BAT) {
		for (unsigned k = i; k < i + STREAM_BAT; k++) {
			size_t len = 4 + k % 500;

			put32(d, k);
			fill(d + 4, len - 4, k);
			send_frame(&g, f, guest_udp(f, false, gw4, GPORT, hp, d, len));
		}
		for (unsigned k = i; k < i + STREAM_BAT; k++) {
			ssize_t n = host_recv(hs, got, sizeof(got), &from);

			assert_int_equal(n, 4 + k % 500);
			assert_int_equal(get32(got), k);
		}
	}
	assert_int_equal(stats_of(g.be, 0).tx_dropped, 0);
	for (unsigned i = 0; i < STREAM_N; i += STREAM_BAT) {
		struct timespec t0;

		for (unsigned k = i; k < i + STREAM_BAT; k++) {
			size_t len = 4 + k % 1000;

			put32(d, k);
			assert_int_equal(
				sendto(hs, d, len, 0, (struct sockaddr *)&from, ss_len(&from)),
				len);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (next < i + STREAM_BAT && ms_since(&t0) < WAIT_MS) {
			int n;

			for (unsigned j = 0; j < NBUF; j++)
				rb[j] = (struct netbe_rxbuf){.data = bufs[j], .cap = BUF_CAP};
			n = g.be->ops->rx(g.be, 0, rb, NBUF);
			assert_true(n >= 0);
			for (int j = 0; j < n; j++) {
				struct rx_frame r;

				assert_true(parse_rx(rb[j].data, rb[j].len, &r));
				assert_true(is_udp(&r, &w));
				assert_int_equal(r.l4_len, 8 + 4 + next % 1000);
				assert_int_equal(get32(r.l4 + 8), next);
				next++;
			}
			if (!n)
				wait_rx_fds(&g, 100);
		}
		assert_int_equal(next, i + STREAM_BAT);
	}
	assert_int_equal(stats_of(g.be, 0).rx_dropped, 0);
	guest_close(&g);
	close(hs);
}

/* ---- IP fragments (lib/netbe/nat/reasm.c, frag.c) ------------------------ */

/* The UDP datagram from the guest's @sport to @dst:@dport carrying @len
 * bytes of @data, checksum right, at @u. Return: its length. */
static uint32_t guest_udp_l4(uint8_t *u, bool v6, const void *dst, uint16_t sport, uint16_t dport,
			     const uint8_t *data, uint32_t len)
{
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + len));
	put16(u + 6, 0);
	memcpy(u + 8, data, len);
	put16(u + 6, l4_sum(v6, v6 ? guest6.s6_addr : guest4, dst, IPPROTO_UDP, u, 8 + len));
	return 8 + len;
}

/* A fragment from the guest to @dst: bytes [@off, @off + @n) of the
 * transport datagram @l4 of @proto, Identification @id, MF when @more.
 * Return: the frame length. */
static size_t guest_fragment(uint8_t *f, bool v6, const void *dst, uint8_t proto, const uint8_t *l4,
			     uint32_t off, uint32_t n, bool more, uint32_t id)
{
	uint8_t *ip = f + 14;
	uint32_t at;

	memcpy(f, gw_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, v6 ? 0x86dd : 0x0800);
	if (v6) {
		memset(ip, 0, 48);
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(8 + n));
		ip[6] = 44; /* Fragment header */
		ip[7] = 64;
		memcpy(ip + 8, guest6.s6_addr, 16);
		memcpy(ip + 24, dst, 16);
		ip[40] = proto;
		put16(ip + 42, (uint16_t)(off | (more ? 1 : 0)));
		put32(ip + 44, id);
		at = 14 + 48;
	} else {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + n));
		put16(ip + 4, (uint16_t)id);
		put16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, guest4, 4);
		memcpy(ip + 16, dst, 4);
		put16(ip + 10, csum_finish(csum_add(0, ip, 20)));
		at = 34;
	}
	memcpy(f + at, l4 + off, n);
	return at + n;
}

/* What the guest's stack does with frames to it: a datagram sent whole,
 * or fragments put back together (checked on the way: each fragment
 * within the MTU, offsets in 8-byte units, one Identification, no byte
 * twice, IPv4 header checksums right, DF clear). */
struct oracle {
	uint8_t l4[70000];
	uint8_t seen[70000];
	uint32_t total, got, id;
	bool started;
};

/* Frame @f of @len bytes (meta @m, completed as a driver would) into @o.
 * Return: the transport length of the datagram it completed, 0 while
 * one is incomplete; the transport checksum is checked when complete. */
static uint32_t oracle_frame(struct oracle *o, uint8_t *f, uint32_t len, const struct netbe_meta *m,
			     bool v6)
{
	uint8_t *ip = f + 14, proto;
	const uint8_t *src = ip + (v6 ? 8 : 12), *dst = ip + (v6 ? 24 : 16);
	uint32_t hl, n, off, id;
	bool more;

	assert_true(len <= 14 + 1500);
	assert_memory_equal(f, guest_mac, 6);
	/* NEEDS_CSUM (only on a datagram sent whole): the field holds the
	 * pseudo-header sum; the driver sums from csum_start on and stores. */
	if (m->flags & 1)
		put16(f + m->csum_start + m->csum_offset,
		      csum_finish(csum_add(0, f + m->csum_start, len - m->csum_start)));
	if (v6) {
		assert_int_equal(get16(f + 12), 0x86dd);
		assert_int_equal(14 + 40 + get16(ip + 4), len);
		if (ip[6] != 44) {
			memcpy(o->l4, ip + 40, len - 54);
			assert_int_equal(l4_sum(true, src, dst, ip[6], o->l4, len - 54), 0);
			return len - 54;
		}
		proto = ip[40];
		off = get16(ip + 42) & 0xfff8;
		more = get16(ip + 42) & 1;
		id = get32(ip + 44);
		hl = 14 + 48;
	} else {
		assert_int_equal(get16(f + 12), 0x0800);
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(csum_finish(csum_add(0, ip, 20)), 0);
		assert_int_equal(14 + get16(ip + 2), len);
		proto = ip[9];
		off = (get16(ip + 6) & 0x1fff) * 8u;
		more = get16(ip + 6) & 0x2000;
		id = get16(ip + 4);
		hl = 34;
		if (!off && !more) {
			memcpy(o->l4, f + hl, len - hl);
			assert_int_equal(l4_sum(false, src, dst, proto, o->l4, len - hl), 0);
			return len - hl;
		}
		assert_int_equal(get16(ip + 6) & 0x4000, 0); /* DF on a fragment */
	}
	n = len - hl;
	if (!o->started) {
		memset(o->seen, 0, sizeof(o->seen));
		o->started = true;
		o->id = id;
		o->total = o->got = 0;
	}
	assert_int_equal(id, o->id);
	assert_true(!more || n % 8 == 0);
	assert_true(off + n <= sizeof(o->l4));
	for (uint32_t i = off; i < off + n; i++)
		assert_int_equal(o->seen[i]++, 0);
	memcpy(o->l4 + off, f + hl, n);
	o->got += n;
	if (!more)
		o->total = off + n;
	if (!o->total || o->got != o->total)
		return 0;
	o->started = false;
	assert_int_equal(l4_sum(v6, src, dst, proto, o->l4, o->total), 0);
	return o->total;
}

/* rx() with @n buffers until @want datagrams came whole; their transport
 * lengths in @lens, the last one's bytes in o->l4. Return: the frames the
 * first rx() call that gave any returned. */
static int rx_datagrams(struct guest *g, struct oracle *o, bool v6, uint32_t *lens, unsigned want,
			unsigned n)
{
	static uint8_t bufs[8][BUF_CAP];
	struct netbe_rxbuf rb[8];
	unsigned have = 0;
	int first = 0;
	struct timespec t0;

	assert_true(n <= 8);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (have < want && ms_since(&t0) < WAIT_MS) {
		int got;

		for (unsigned j = 0; j < n; j++)
			rb[j] = (struct netbe_rxbuf){.data = bufs[j], .cap = BUF_CAP};
		got = g->be->ops->rx(g->be, 0, rb, n);
		assert_true(got >= 0);
		if (!first)
			first = got;
		for (int j = 0; j < got && have < want; j++) {
			uint32_t l = oracle_frame(o, rb[j].data, rb[j].len, &rb[j].meta, v6);

			if (l)
				lens[have++] = l;
		}
		if (!got)
			wait_rx_fds(g, 100);
	}
	assert_int_equal(have, want);
	return first;
}

/* Host -> guest, 100, 3000 (> MTU 1500), 101 bytes queued at once: the
 * large one arrives in fragments, all three in order, the first rx() call
 * giving all five frames (the batch that spilled). Then, one by one,
 * 65000 bytes (45 fragments) and 3000 again. With @csum the guest
 * accepts partial checksums: the fragmented ones are complete anyway. */
static void frag_out(bool v6, bool csum)
{
	struct netbe_options o = opts(1);
	struct guest g;
	static struct oracle orc;
	static uint8_t d[65000];
	uint8_t f[2048], got[64];
	struct sockaddr_storage from = {0};
	uint16_t hp = 0;
	int hs = host_sock(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, &hp);
	size_t sizes[5] = {100, 3000, 101, 65000, 3000};
	uint32_t lens[5];
	const struct nat_counters *c;

	guest_open(&g, &o, 1);
	c = &nat_of(g.be)->pairs[0].cnt;
	if (csum)
		assert_int_equal(g.be->ops->set_rx_offloads(g.be, NETBE_CAP_CSUM), 0);
	send_frame(&g, f, guest_udp(f, v6, v6 ? (const void *)&gw6 : gw4, GPORT, hp, "x", 1));
	assert_int_equal(host_recv(hs, got, sizeof(got), &from), 1);
	for (unsigned i = 0; i < 5; i++) {
		if (i == 3)
			assert_int_equal(rx_datagrams(&g, &orc, v6, lens, 3, 8), 5);
		fill(d, sizes[i], i);
		assert_int_equal(
			sendto(hs, d, sizes[i], 0, (struct sockaddr *)&from, ss_len(&from)),
			sizes[i]);
	}
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(lens[i], 8 + sizes[i]);
	rx_datagrams(&g, &orc, v6, lens + 3, 2, 8);
	assert_int_equal(lens[3], 8 + 65000);
	assert_int_equal(lens[4], 8 + 3000);
	fill(d, 3000, 4);
	assert_memory_equal(orc.l4 + 8, d, 3000);
	assert_int_equal(get16(orc.l4), hp);
	assert_int_equal(get16(orc.l4 + 2), GPORT);
	/* 3000 + 8: 3 fragments; 65008: 45 at 1480 (IPv4), 1448 (IPv6). */
	assert_int_equal(c->frags_out, 3 + 3 + (v6 ? 45 : 44));
	assert_int_equal(stats_of(g.be, 0).rx_dropped, 0);
	guest_close(&g);
	close(hs);
}

/* A stream of datagrams alternately larger (3000 bytes: 3 fragments) and
 * smaller (200) than the MTU, all queued on the host first: every one
 * arrives whole and in order, and a receive turn is not limited to one
 * datagram: once one went to the out queue the later ones follow it there
 * in the same turn, so the 60 frames come in about 60 / 8 rx() calls of 8
 * buffers (one datagram a turn would take 30 or more). */
static void test_frag_out_stream(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	static struct oracle orc;
	static uint8_t d[3000], bufs[8][BUF_CAP];
	uint8_t f[2048], got[64];
	struct sockaddr_storage from = {0};
	uint16_t hp = 0;
	int hs = host_sock(AF_INET, SOCK_DGRAM, &hp);
	unsigned have = 0, calls = 0;
	struct timespec t0;

	(void)state;
	guest_open(&g, &o, 1);
	send_frame(&g, f, guest_udp(f, false, gw4, GPORT, hp, "x", 1));
	assert_int_equal(host_recv(hs, got, sizeof(got), &from), 1);
	for (unsigned i = 0; i < 30; i++) {
		size_t n = i % 2 ? 200 : 3000;

		fill(d, n, i);
		assert_int_equal(sendto(hs, d, n, 0, (struct sockaddr *)&from, ss_len(&from)),
				 (ssize_t)n);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (have < 30 && ms_since(&t0) < WAIT_MS) {
		struct netbe_rxbuf rb[8];
		int n;

		for (unsigned j = 0; j < 8; j++)
			rb[j] = (struct netbe_rxbuf){.data = bufs[j], .cap = BUF_CAP};
		n = g.be->ops->rx(g.be, 0, rb, 8);
		assert_true(n >= 0);
		if (!n) {
			wait_rx_fds(&g, 100);
			continue;
		}
		calls++;
		for (int j = 0; j < n; j++) {
			uint32_t l = oracle_frame(&orc, rb[j].data, rb[j].len, &rb[j].meta, false);

			if (!l)
				continue;
			assert_int_equal(l, 8 + (have % 2 ? 200 : 3000));
			fill(d, l - 8, have);
			assert_memory_equal(orc.l4 + 8, d, l - 8);
			have++;
		}
	}
	assert_int_equal(have, 30);
	assert_true(calls <= 10);
	assert_int_equal(stats_of(g.be, 0).rx_dropped, 0);
	guest_close(&g);
	close(hs);
}

static void test_frag_out_v4(void **state)
{
	(void)state;
	frag_out(false, false);
	frag_out(false, true);
}

static void test_frag_out_v6(void **state)
{
	(void)state;
	if (!have_ipv6_loopback())
		skip();
	frag_out(true, false);
	frag_out(true, true);
}

/* Guest -> host: 4000 bytes in three fragments sent last first, then an
 * IPv6 atomic fragment (RFC 6946): both reach the host whole. The host's
 * 4000-byte answer comes back in fragments. */
static void frag_in(bool v6)
{
	struct netbe_options o = opts(1);
	struct guest g;
	static struct oracle orc;
	static uint8_t d[4000], l4[4100], got[5000];
	uint8_t f[2048];
	struct sockaddr_storage from = {0};
	uint16_t hp = 0;
	int hs = host_sock(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, &hp);
	const void *dst = v6 ? (const void *)&gw6 : gw4;
	uint32_t n, lens[1];
	const struct nat_counters *c;

	guest_open(&g, &o, 1);
	c = &nat_of(g.be)->pairs[0].cnt;
	fill(d, sizeof(d), 9);
	n = guest_udp_l4(l4, v6, dst, GPORT, hp, d, sizeof(d));
	send_frame(&g, f, guest_fragment(f, v6, dst, IPPROTO_UDP, l4, 2960, n - 2960, false, 7));
	send_frame(&g, f, guest_fragment(f, v6, dst, IPPROTO_UDP, l4, 0, 1480, true, 7));
	assert_false(fd_readable(hs, 0));
	send_frame(&g, f, guest_fragment(f, v6, dst, IPPROTO_UDP, l4, 1480, 1480, true, 7));
	assert_int_equal(host_recv(hs, got, sizeof(got), &from), sizeof(d));
	assert_memory_equal(got, d, sizeof(d));
	assert_int_equal(c->frags_in, 3);
	assert_int_equal(c->reasm_done, 1);
	if (v6) { /* offset 0, M 0, ID 8: the whole datagram */
		n = guest_udp_l4(l4, v6, dst, GPORT, hp, d, 200);
		send_frame(&g, f, guest_fragment(f, v6, dst, IPPROTO_UDP, l4, 0, n, false, 8));
		assert_int_equal(host_recv(hs, got, sizeof(got), &from), 200);
		assert_memory_equal(got, d, 200);
	}
	assert_int_equal(sendto(hs, d, sizeof(d), 0, (struct sockaddr *)&from, ss_len(&from)),
			 sizeof(d));
	rx_datagrams(&g, &orc, v6, lens, 1, 4);
	assert_int_equal(lens[0], 8 + sizeof(d));
	assert_int_equal(get16(orc.l4 + 2), GPORT);
	assert_memory_equal(orc.l4 + 8, d, sizeof(d));
	assert_int_equal(c->reasm_failed, 0);
	assert_int_equal(stats_of(g.be, 0).tx_dropped, 0);
	guest_close(&g);
	close(hs);
}

static void test_frag_in_v4(void **state)
{
	(void)state;
	frag_in(false);
}

static void test_frag_in_v6(void **state)
{
	(void)state;
	if (!have_ipv6_loopback())
		skip();
	frag_in(true);
}

/* What a hostile guest does with fragments (reasm.c's list), each refused
 * and counted, none reaching the host; then a good datagram still does. */
static void test_frag_hostile(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	static uint8_t d[4000], l4[4100], got[5000];
	uint8_t f[2048];
	struct sockaddr_storage from = {0};
	uint16_t hp = 0;
	int hs = host_sock(AF_INET, SOCK_DGRAM, &hp);
	uint32_t n, id = 100;
	const struct nat_counters *c;

	(void)state;
	guest_open(&g, &o, 1);
	c = &nat_of(g.be)->pairs[0].cnt;
	fill(d, sizeof(d), 5);
	n = guest_udp_l4(l4, false, gw4, GPORT, hp, d, sizeof(d));
	/* Overlap: [0, 1480) then [1472, 2952): the datagram is given up;
	 * its last fragment then starts a datagram that never completes. */
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 0, 1480, true, id));
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 1472, 1480, true, id));
	send_frame(&g, f,
		   guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 2952, n - 2952, false, id));
	assert_int_equal(c->reasm_failed, 1);
	/* The same fragment twice. */
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 0, 1480, true, ++id));
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 0, 1480, true, id));
	assert_int_equal(c->reasm_failed, 2);
	/* Two last fragments that disagree on the end, and a fragment
	 * past the end a last one set. */
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 1480, 800, false, ++id));
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 1480, 600, false, id));
	assert_int_equal(c->reasm_failed, 3);
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 1480, 800, false, ++id));
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 2400, 80, true, id));
	assert_int_equal(c->reasm_failed, 4);
	/* Beyond 64 KiB (ping of death): offset 65528 + 16. */
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 65528, 16, false, ++id));
	/* A middle fragment not a multiple of 8; an empty one. */
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 0, 1477, true, ++id));
	send_frame(&g, f, guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 8, 0, true, ++id));
	assert_int_equal(c->drops[NAT_DROP_FRAGMENT], 5);
	assert_int_equal(c->drops[NAT_DROP_BAD_HDR], 2);
	/* More unfinished datagrams than slots: the oldest are given up
	 * (one slot still holds the overlap case's last fragment). */
	for (unsigned i = 0; i < 2 * NAT_REASM_SLOTS; i++)
		send_frame(&g, f,
			   guest_fragment(f, false, gw4, IPPROTO_UDP, l4, 0, 1480, true, 1000 + i));
	assert_int_equal(c->reasm_failed, 4 + NAT_REASM_SLOTS + 1);
	assert_false(fd_readable(hs, 200));
	/* A good one, in order. */
	for (uint32_t off = 0; off < n; off += 1480)
		send_frame(&g, f,
			   guest_fragment(f, false, gw4, IPPROTO_UDP, l4, off,
					  n - off < 1480 ? n - off : 1480, n - off > 1480, 2000));
	assert_int_equal(host_recv(hs, got, sizeof(got), &from), sizeof(d));
	assert_memory_equal(got, d, sizeof(d));
	assert_int_equal(c->reasm_done, 1);
	guest_close(&g);
	close(hs);
}

/* A query to 10.0.2.3:53 reaches the resolver given as --dns (a fake one
 * on 127.0.0.1), and its answer comes back from 10.0.2.3:53. */
static void test_dns(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[2048], q[40], a[80], got[256];
	struct sockaddr_storage from = {0};
	uint16_t rp = 0;
	int rs = host_sock(AF_INET, SOCK_DGRAM, &rp);
	char dns[32];
	const char *dnsv[1] = {dns};
	struct want_udp w = {.src = dns4, .sport = 53, .dport = GPORT};

	(void)state;
	snprintf(dns, sizeof(dns), "127.0.0.1:%u", rp);
	o.dns = dnsv;
	o.n_dns = 1;
	guest_open(&g, &o, 1);
	fill(q, sizeof(q), 4);
	fill(a, sizeof(a), 5);
	send_frame(&g, f, guest_udp(f, false, dns4, GPORT, 53, q, sizeof(q)));
	assert_int_equal(host_recv(rs, got, sizeof(got), &from), sizeof(q));
	assert_memory_equal(got, q, sizeof(q));
	assert_int_equal(sendto(rs, a, sizeof(a), 0, (struct sockaddr *)&from, ss_len(&from)),
			 sizeof(a));
	expect_udp(&g, &w, a, sizeof(a));
	guest_close(&g);
	close(rs);
}

/* Without any resolver a query is dropped and counted (not-ready). */
static void test_dns_none(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[256];
	char path[] = "/tmp/vqnet-nat-resolv-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd); /* empty: no nameserver */
	o.resolv_conf = path;
	guest_open(&g, &o, 1);
	send_frame(&g, f, guest_udp(f, false, dns4, GPORT, 53, "q", 1));
	assert_int_equal(nat_of(g.be)->pairs[0].cnt.drops[NAT_DROP_NOT_READY], 1);
	assert_int_equal(nat_of(g.be)->pairs[0].nflows, 0);
	guest_close(&g);
	unlink(path);
}

/* udp_idle_ms 200: the flow lives until the tick finds it idle. */
static void test_udp_idle(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[256], got[16];
	struct sockaddr_storage from = {0};
	uint16_t hp = 0;
	int hs = host_sock(AF_INET, SOCK_DGRAM, &hp);
	struct nat_pair *p;
	struct timespec t0;

	(void)state;
	o.udp_idle_ms = 200;
	guest_open(&g, &o, 1);
	p = &nat_of(g.be)->pairs[0];
	send_frame(&g, f, guest_udp(f, false, gw4, GPORT, hp, "x", 1));
	assert_int_equal(host_recv(hs, got, sizeof(got), &from), 1);
	/* No rx() yet, so no tick has run: the flow is there. */
	assert_int_equal(p->nflows, 1);
	assert_int_equal(p->cnt.udp_closed, 0);
	assert_true(p->timers_wanted > 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (p->nflows && ms_since(&t0) < WAIT_MS) {
		rx_one(&g);
		wait_rx_fds(&g, 50);
	}
	assert_int_equal(p->nflows, 0);
	assert_int_equal(p->cnt.udp_closed, 1);
	assert_int_equal(p->timers_wanted, 0);
	assert_true(ms_since(&t0) >= 100);
	guest_close(&g);
	close(hs);
}

/* ---- ICMP --------------------------------------------------------------- */

struct want_icmp {
	bool v6;
	uint8_t type, code;
};

static bool is_icmp(const struct rx_frame *r, const void *arg)
{
	const struct want_icmp *w = arg;

	return r->v6 == w->v6 && r->proto == (w->v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP) &&
	       r->l4_len >= 8 && r->l4[0] == w->type && r->l4[1] == w->code;
}

/* A datagram whose first fragment came but not the rest is given up when
 * its time is up, and the guest hears ICMP time exceeded, code 1, from
 * its destination, quoting that fragment (IPv6: with its Fragment
 * header); one without its first fragment is given up silently (RFC 792,
 * RFC 8200 §4.5). The timeout is lowered to 300 ms. */
static void frag_timeout(bool v6)
{
	struct netbe_options o = opts(1);
	struct guest g;
	static uint8_t d[3000], l4[3100];
	uint8_t f[2048];
	uint16_t hp = 0;
	int hs = host_sock(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, &hp);
	const void *dst = v6 ? (const void *)&gw6 : gw4;
	struct want_icmp w = {.v6 = v6, .type = v6 ? 3 : 11, .code = 1};
	uint32_t l3 = v6 ? 40 : 20, n;
	const struct nat_counters *c;
	const uint8_t *q;
	struct rx_frame r;

	o.reasm_timeout_ms = 300;
	guest_open(&g, &o, 1);
	c = &nat_of(g.be)->pairs[0].cnt;
	fill(d, sizeof(d), 3);
	n = guest_udp_l4(l4, v6, dst, GPORT, hp, d, sizeof(d));
	send_frame(&g, f, guest_fragment(f, v6, dst, IPPROTO_UDP, l4, 0, 1480, true, 0x4242));
	send_frame(&g, f, guest_fragment(f, v6, dst, IPPROTO_UDP, l4, 1480, n - 1480, false, 77));
	assert_true(wait_frame(&g, is_icmp, &w, &r));
	assert_memory_equal(r.src, dst, v6 ? 16 : 4);
	q = r.l4 + 8;
	assert_int_equal(r.l4_len, 8 + l3 + (v6 ? 8 : 0) + 8);
	assert_int_equal(l4_sum(v6, r.src, v6 ? guest6.s6_addr : guest4,
				v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, r.l4, r.l4_len),
			 0);
	assert_memory_equal(q + (v6 ? 8 : 12), v6 ? guest6.s6_addr : guest4, v6 ? 16 : 4);
	assert_memory_equal(q + (v6 ? 24 : 16), dst, v6 ? 16 : 4);
	if (v6) {
		assert_int_equal(q[6], 44);
		assert_int_equal(q[40], IPPROTO_UDP);
		assert_int_equal(get16(q + 42), 1); /* offset 0, M */
		assert_int_equal(get32(q + 44), 0x4242);
	} else {
		assert_int_equal(get16(q + 4), 0x4242);
		assert_int_equal(get16(q + 6), 0x2000); /* MF, offset 0 */
	}
	assert_memory_equal(q + l3 + (v6 ? 8 : 0), l4, 8); /* the UDP header */
	assert_int_equal(c->reasm_failed, 2);
	/* one report only: nothing for the datagram without its first */
	assert_false(wait_frame_ms(&g, is_icmp, &w, &r, 600));
	assert_false(fd_readable(hs, 0));
	assert_int_equal(c->reasm_failed, 2);
	guest_close(&g);
	close(hs);
}

static void test_frag_timeout_v4(void **state)
{
	(void)state;
	frag_timeout(false);
}

static void test_frag_timeout_v6(void **state)
{
	(void)state;
	if (!have_ipv6_loopback())
		skip();
	frag_timeout(true);
}

/* UDP to a closed host port: the guest gets a port unreachable from the
 * remote end quoting its datagram's addresses and ports. */
static void port_unreach(bool v6)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[256];
	uint16_t cp = free_port(SOCK_DGRAM);
	const uint8_t *gw = v6 ? gw6.s6_addr : gw4;
	struct want_icmp w = {.v6 = v6, .type = v6 ? 1 : 3, .code = v6 ? 4 : 3};
	struct rx_frame r;
	uint32_t l3 = v6 ? 40 : 20;

	if (v6) {
		uint16_t p6 = 0;
		int s = host_sock(AF_INET6, SOCK_DGRAM, &p6);

		close(s);
		cp = p6;
	}
	guest_open(&g, &o, 1);
	send_frame(&g, f, guest_udp(f, v6, gw, GPORT, cp, "knock", 5));
	assert_true(wait_frame(&g, is_icmp, &w, &r));
	assert_memory_equal(r.src, gw, v6 ? 16 : 4);
	assert_true(r.l4_len >= 8 + l3 + 8);
	/* the quoted datagram: from the guest to the remote end */
	assert_memory_equal(r.l4 + 8 + (v6 ? 8 : 12), v6 ? guest6.s6_addr : guest4, v6 ? 16 : 4);
	assert_memory_equal(r.l4 + 8 + (v6 ? 24 : 16), gw, v6 ? 16 : 4);
	assert_int_equal(get16(r.l4 + 8 + l3), GPORT);
	assert_int_equal(get16(r.l4 + 8 + l3 + 2), cp);
	guest_close(&g);
}

static void test_udp_port_unreach_v4(void **state)
{
	(void)state;
	port_unreach(false);
}

static void test_udp_port_unreach_v6(void **state)
{
	(void)state;
	if (!have_ipv6_loopback())
		skip();
	port_unreach(true);
}

/* One tx() burst of 100 datagrams over three flows, in runs and
 * interleaved, with a closed port in the middle (nat_udp_flush()'s
 * sendmmsg() runs and their error path): every datagram to a listening
 * port arrives, in order per flow; the closed port's come back as port
 * unreachable and are counted, not lost silently. */
#define BURST_N 100
static void test_udp_burst(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	static uint8_t frames[BURST_N][128];
	struct iovec iov[BURST_N];
	struct netbe_txpkt pk[BURST_N];
	uint16_t hp[2] = {0, 0}, closed = free_port(SOCK_DGRAM);
	int hs[2] = {host_sock(AF_INET, SOCK_DGRAM, &hp[0]),
		     host_sock(AF_INET, SOCK_DGRAM, &hp[1])};
	unsigned sent[2] = {0, 0}, to_closed = 0, want_icmp_n = 0;
	struct want_icmp w = {.v6 = false, .type = 3, .code = 3};
	struct rx_frame r;

	(void)state;
	guest_open(&g, &o, 1);
	/* the closed port's flow exists before the burst */
	send_frame(&g, frames[0], guest_udp(frames[0], false, gw4, GPORT, closed, "x", 1));
	assert_true(wait_frame(&g, is_icmp, &w, &r));
	for (unsigned i = 0; i < BURST_N; i++) {
		/* 0-39 flow A, 40-44 closed, 45-79 alternate A/B, 80-99 B */
		int which = i < 40 ? 0 : i < 45 ? -1 : i < 80 ? (int)(i & 1) : 1;
		uint8_t d[8];
		size_t len;

		put32(d, which < 0 ? 0xffffffffu : sent[which]);
		put32(d + 4, (uint32_t)i);
		len = guest_udp(frames[i], false, gw4, GPORT, which < 0 ? closed : hp[which], d,
				sizeof(d));
		if (which < 0)
			to_closed++;
		else
			sent[which]++;
		iov[i] = (struct iovec){frames[i], len};
		pk[i] = (struct netbe_txpkt){.iov = &iov[i], .iovcnt = 1, .len = (uint32_t)len};
	}
	assert_int_equal(g.be->ops->tx(g.be, 0, pk, BURST_N), BURST_N);
	for (int k = 0; k < 2; k++) {
		for (unsigned n = 0; n < sent[k]; n++) {
			uint8_t got[64];
			struct sockaddr_storage from;

			assert_int_equal(host_recv(hs[k], got, sizeof(got), &from), 8);
			assert_int_equal(get32(got), n);
		}
		assert_false(fd_readable(hs[k], 0));
	}
	/* Each datagram to the closed port was refused by its send
	 * (ECONNREFUSED: an earlier one's ICMP error was pending; counted,
	 * and the guest gets a port unreachable) or went out and drew an
	 * ICMP error of its own, which the receive side reports. Which one
	 * depends on when the host's softirq ran: the guest hears at least
	 * once, and nothing else is counted as an error. */
	for (int idle = 0; idle < 3;) {
		if (!rx_one(&g)) {
			wait_rx_fds(&g, 100);
			idle++;
			continue;
		}
		want_icmp_n += parse_rx(g.buf, g.len, &r) && is_icmp(&r, &w);
	}
	assert_true(want_icmp_n >= 1);
	assert_true(stats_of(g.be, 0).tx_dropped <= to_closed);
	assert_int_equal(stats_of(g.be, 0).tx_errors, 0);
	guest_close(&g);
	close(hs[0]);
	close(hs[1]);
}

static void ping(bool v6)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[512], data[56];
	const uint8_t *gw = v6 ? gw6.s6_addr : gw4;
	struct want_icmp w = {.v6 = v6, .type = v6 ? 129 : 0, .code = 0};
	struct rx_frame r;
	struct nat_pair *p;

	guest_open(&g, &o, 1);
	p = &nat_of(g.be)->pairs[0];
	fill(data, sizeof(data), 6);
	for (uint16_t seq = 1; seq <= 3; seq++) {
		send_frame(&g, f, guest_echo(f, v6, gw, 0x4242, seq, data, sizeof(data)));
		assert_true(wait_frame(&g, is_icmp, &w, &r));
		assert_memory_equal(r.src, gw, v6 ? 16 : 4);
		assert_int_equal(r.l4_len, 8 + sizeof(data));
		assert_int_equal(get16(r.l4 + 4), 0x4242); /* the guest's identifier */
		assert_int_equal(get16(r.l4 + 6), seq);
		assert_memory_equal(r.l4 + 8, data, sizeof(data));
	}
	assert_int_equal(p->cnt.icmp_opened, 1);
	assert_int_equal(p->nflows, 1);
	guest_close(&g);
}

/* Refused ping sockets: the request is dropped and counted. */
static void ping_refused(bool v6)
{
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[512];

	guest_open(&g, &o, 1);
	send_frame(&g, f, guest_echo(f, v6, v6 ? gw6.s6_addr : gw4, 1, 1, "x", 1));
	assert_int_equal(nat_of(g.be)->pairs[0].cnt.drops[NAT_DROP_SOCKET], 1);
	assert_int_equal(stats_of(g.be, 0).tx_dropped, 1);
	guest_close(&g);
}

static void test_ping(void **state)
{
	bool ns = false;

	(void)state;
	if (!ping_allowed(AF_INET)) {
		if (!enter_netns())
			skip();
		ns = true;
		/* a new namespace starts with ping_group_range "1 0": none */
		ping_refused(false);
		assert_true(write_file("/proc/sys/net/ipv4/ping_group_range", "0 2147483647"));
	}
	ping(false);
	if (have_ipv6_loopback() && ping_allowed(AF_INET6))
		ping(true);
	if (ns)
		leave_netns();
}

/* UDP, then TCP, to a destination the host has no route to (a namespace
 * with only its loopback): the guest hears net unreachable from it,
 * quoting its packet; the datagram counts as a host-socket drop, the
 * connection as refused, neither as an error. */
static void no_route(bool v6)
{
	static const uint8_t dst4[4] = {10, 99, 0, 1};
	struct in6_addr dst6;
	struct netbe_options o = opts(1);
	struct guest g;
	uint8_t f[256];
	const uint8_t *dst = v6 ? dst6.s6_addr : dst4;
	struct want_icmp w = {.v6 = v6, .type = v6 ? 1 : 3, .code = 0};
	struct rx_frame r;
	uint32_t l3 = v6 ? 40 : 20;

	inet_pton(AF_INET6, "2001:db8::1", &dst6);
	guest_open(&g, &o, 1);
	send_frame(&g, f, guest_udp(f, v6, dst, GPORT, 7, "hello", 5));
	assert_true(wait_frame(&g, is_icmp, &w, &r));
	assert_memory_equal(r.src, dst, v6 ? 16 : 4);
	assert_memory_equal(r.l4 + 8 + (v6 ? 24 : 16), dst, v6 ? 16 : 4);
	assert_int_equal(get16(r.l4 + 8 + l3), GPORT);
	assert_int_equal(get16(r.l4 + 8 + l3 + 2), 7);
	assert_int_equal(nat_of(g.be)->pairs[0].cnt.drops[NAT_DROP_SOCKET], 1);
	assert_int_equal(stats_of(g.be, 0).tx_errors, 0);

	/* A TCP SYN there: the same error, quoting its ports and sequence
	 * number (what the guest's stack matches it by), no RST. */
	{
		uint8_t syn[20] = {0};

		put16(syn, GPORT + 1);
		put16(syn + 2, 80);
		put32(syn + 4, 0x12345678);
		syn[12] = 5 << 4;
		syn[13] = 0x02; /* SYN */
		put16(syn + 14, 65535);
		send_frame(&g, f, guest_frame(f, v6, dst, IPPROTO_TCP, syn, sizeof(syn), 16));
		assert_true(wait_frame(&g, is_icmp, &w, &r));
		assert_int_equal(r.l4[8 + (v6 ? 6 : 9)], IPPROTO_TCP);
		assert_int_equal(get16(r.l4 + 8 + l3), GPORT + 1);
		assert_int_equal(get16(r.l4 + 8 + l3 + 2), 80);
		assert_int_equal(get32(r.l4 + 8 + l3 + 4), 0x12345678);
		assert_int_equal(nat_of(g.be)->pairs[0].cnt.tcp_refused, 1);
	}
	guest_close(&g);
}

static void test_udp_no_route(void **state)
{
	(void)state;
	if (!enter_netns())
		skip();
	no_route(false);
	if (have_ipv6_loopback())
		no_route(true);
	leave_netns();
}

/* ---- hostfwd ----------------------------------------------------------- */

struct want_syn {
	bool v6;
	uint16_t dport;
};

static bool is_syn(const struct rx_frame *r, const void *arg)
{
	const struct want_syn *w = arg;

	return r->v6 == w->v6 && r->proto == IPPROTO_TCP && r->l4_len >= 20 &&
	       !memcmp(r->src, w->v6 ? gw6.s6_addr : gw4, w->v6 ? 16 : 4) &&
	       get16(r->l4 + 2) == w->dport && (r->l4[13] & 0x12) == 0x02;
}

static int host_connect6(bool v6, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (v6) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		a6->sin6_addr = in6addr_loopback;
	} else {
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&ss, ss_len(&ss)), 0);
	return s;
}

static int host_connect(uint16_t port)
{
	return host_connect6(false, port);
}

/* A host connect() to 127.0.0.1:HP ([::1]:HP): the guest sees a SYN to
 * GP from 10.0.2.2 (fec0::2) and the peer's port. */
static void hostfwd_tcp(bool v6)
{
	struct netbe_options o = opts(1);
	struct guest g;
	char rule[64];
	const char *rules[1] = {rule};
	uint16_t hp = 0;
	int hold = host_sock(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, &hp), c;
	struct want_syn w = {.v6 = v6, .dport = 8022};
	struct sockaddr_storage me = {0};
	socklen_t sl = sizeof(me);
	struct rx_frame r;

	close(hold); /* a free port */
	snprintf(rule, sizeof(rule), v6 ? "tcp:[::1]:%u:8022" : "tcp:127.0.0.1:%u:8022", hp);
	o.hostfwd = rules;
	o.n_hostfwd = 1;
	guest_open(&g, &o, 1);
	c = host_connect6(v6, hp);
	assert_int_equal(getsockname(c, (struct sockaddr *)&me, &sl), 0);
	assert_true(wait_frame(&g, is_syn, &w, &r));
	assert_int_equal(get16(r.l4), port_of(&me));
	assert_int_equal(nat_of(g.be)->pairs[0].cnt.fwd_accepted, 1);
	close(c);
	guest_close(&g);
}

static void test_hostfwd_tcp(void **state)
{
	(void)state;
	hostfwd_tcp(false);
	if (have_ipv6_loopback())
		hostfwd_tcp(true);
}

/* Out of fds: accept4() fails, the drop is counted, and the listener does
 * not keep epoll readable (no busy loop); once fds are back, the next
 * connection brings both in. */
static void test_hostfwd_tcp_emfile(void **state)
{
	struct netbe_options o = opts(1);
	struct guest g;
	char rule[64];
	const char *rules[1] = {rule};
	uint16_t hp = free_port(SOCK_STREAM);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct rlimit old, low;
	struct nat_pair *p;
	struct timespec t0;
	int c1, c2, x;

	(void)state;
	snprintf(rule, sizeof(rule), "tcp:%u:8024", hp);
	o.hostfwd = rules;
	o.n_hostfwd = 1;
	guest_open(&g, &o, 1);
	p = &nat_of(g.be)->pairs[0];
	a.sin_port = htons(hp);
	c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c1 >= 0 && c2 >= 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	x = dup(0); /* the lowest free fd: no fd below it is free */
	assert_true(x >= 0);
	close(x);
	low = old;
	low.rlim_cur = (rlim_t)x;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&a, sizeof(a)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!p->cnt.drops[NAT_DROP_SOCKET] && ms_since(&t0) < WAIT_MS) {
		rx_one(&g);
		wait_rx_fds(&g, 50);
	}
	assert_true(p->cnt.drops[NAT_DROP_SOCKET] >= 1);
	for (int i = 0; i < 3; i++)
		rx_one(&g);
	assert_false(fd_readable(g.be->ops->rx_fd(g.be, 0), 300));
	assert_int_equal(p->cnt.fwd_accepted, 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(connect(c2, (struct sockaddr *)&a, sizeof(a)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (p->cnt.fwd_accepted < 2 && ms_since(&t0) < WAIT_MS) {
		if (!rx_one(&g))
			wait_rx_fds(&g, 50);
	}
	assert_int_equal(p->cnt.fwd_accepted, 2);
	close(c1);
	close(c2);
	guest_close(&g);
}

/* Two pairs: each has a listener (SO_REUSEPORT), the kernel spreads 32
 * connections over both (all on one: 2^-31), each accepted once. */
static void test_hostfwd_tcp_spread(void **state)
{
	struct netbe_options o = opts(2);
	struct guest g;
	char rule[64];
	const char *rules[1] = {rule};
	uint16_t hp = free_port(SOCK_STREAM);
	int c[32];
	struct timespec t0;
	struct nat *nat;

	(void)state;
	snprintf(rule, sizeof(rule), "tcp:%u:8023", hp);
	o.hostfwd = rules;
	o.n_hostfwd = 1;
	guest_open(&g, &o, 2);
	nat = nat_of(g.be);
	for (unsigned i = 0; i < 32; i++)
		c[i] = host_connect(hp);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (nat->pairs[0].cnt.fwd_accepted + nat->pairs[1].cnt.fwd_accepted < 32 &&
	       ms_since(&t0) < WAIT_MS) {
		if (!rx_one(&g))
			wait_rx_fds(&g, 50);
	}
	assert_int_equal(nat->pairs[0].cnt.fwd_accepted + nat->pairs[1].cnt.fwd_accepted, 32);
	assert_true(nat->pairs[0].cnt.fwd_accepted > 0);
	assert_true(nat->pairs[1].cnt.fwd_accepted > 0);
	for (unsigned i = 0; i < 32; i++)
		close(c[i]);
	/* Back to one pair: pair 1's listener is closed, pair 0's stays. */
	assert_int_equal(g.be->ops->set_queue_pairs(g.be, 1), 0);
	assert_true(nat->pairs[1].fwd_fd[0] < 0);
	assert_true(nat->pairs[0].fwd_fd[0] >= 0);
	guest_close(&g);
}

/* A host datagram to 127.0.0.1:HP reaches the guest's GP from 10.0.2.2
 * and the peer's port; the guest's reply reaches the peer from HP; the
 * peer's next datagram takes the flow's own socket; a second peer gets a
 * flow of its own. */
static void hostfwd_udp(bool v6, bool any)
{
	struct netbe_options o = opts(1);
	struct guest g;
	char rule[64];
	const char *rules[1] = {rule};
	int fam = v6 ? AF_INET6 : AF_INET;
	uint16_t hp = 0, cp1 = 0, cp2 = 0;
	int hold = host_sock(fam, SOCK_DGRAM, &hp), c1, c2;
	uint8_t f[2048], got[256];
	struct sockaddr_storage to = {0}, from = {0};
	const uint8_t *gw = v6 ? gw6.s6_addr : gw4;
	struct want_udp w = {.v6 = v6, .src = gw, .dport = 5353};
	struct nat_pair *p;

	close(hold); /* a free port */
	if (any)
		snprintf(rule, sizeof(rule), v6 ? "udp:[::]:%u:5353" : "udp:0.0.0.0:%u:5353", hp);
	else
		snprintf(rule, sizeof(rule), v6 ? "udp:[::1]:%u:5353" : "udp:%u:5353", hp);
	o.hostfwd = rules;
	o.n_hostfwd = 1;
	guest_open(&g, &o, 1);
	p = &nat_of(g.be)->pairs[0];
	c1 = host_sock(fam, SOCK_DGRAM, &cp1);
	c2 = host_sock(fam, SOCK_DGRAM, &cp2);
	hold = host_sock(fam, SOCK_DGRAM, &(uint16_t){0}); /* to learn the address */
	assert_int_equal(getsockname(hold, (struct sockaddr *)&to, &(socklen_t){sizeof(to)}), 0);
	close(hold);
	if (v6)
		((struct sockaddr_in6 *)&to)->sin6_port = htons(hp);
	else
		((struct sockaddr_in *)&to)->sin_port = htons(hp);

	assert_int_equal(sendto(c1, "question", 8, 0, (struct sockaddr *)&to, ss_len(&to)), 8);
	w.sport = cp1;
	expect_udp(&g, &w, "question", 8);
	assert_int_equal(p->cnt.udp_opened, 1);
	send_frame(&g, f, guest_udp(f, v6, gw, 5353, cp1, "answer", 6));
	assert_int_equal(host_recv(c1, got, sizeof(got), &from), 6);
	assert_memory_equal(got, "answer", 6);
	assert_int_equal(port_of(&from), hp);
	/* again, now through the flow's connected socket */
	assert_int_equal(sendto(c1, "again", 5, 0, (struct sockaddr *)&to, ss_len(&to)), 5);
	expect_udp(&g, &w, "again", 5);
	assert_int_equal(p->cnt.udp_opened, 1);
	/* a second peer */
	assert_int_equal(sendto(c2, "other", 5, 0, (struct sockaddr *)&to, ss_len(&to)), 5);
	w.sport = cp2;
	expect_udp(&g, &w, "other", 5);
	send_frame(&g, f, guest_udp(f, v6, gw, 5353, cp2, "reply2", 6));
	assert_int_equal(host_recv(c2, got, sizeof(got), &from), 6);
	assert_memory_equal(got, "reply2", 6);
	assert_int_equal(port_of(&from), hp);
	assert_int_equal(p->cnt.udp_opened, 2);
	assert_int_equal(p->cnt.fwd_accepted, 2);
	assert_int_equal(stats_of(g.be, 0).rx_dropped, 0);
	close(c1);
	close(c2);
	guest_close(&g);
}

static void test_hostfwd_udp_v4(void **state)
{
	(void)state;
	hostfwd_udp(false, false);
	hostfwd_udp(false, true); /* 0.0.0.0: the flow socket too */
}

static void test_hostfwd_udp_v6(void **state)
{
	(void)state;
	if (!have_ipv6_loopback())
		skip();
	hostfwd_udp(true, false);
	hostfwd_udp(true, true);
}

/* A port someone else holds (with or without SO_REUSEPORT) is an error
 * at netbe_new(), with the reason. */
static void test_hostfwd_port_in_use(void **state)
{
	struct netbe_options o = opts(1);
	char rule[64], port[16], err[256] = "";
	const char *rules[1] = {rule};
	struct netbe *be = NULL;
	int one = 1, s;

	(void)state;
	/* TCP and UDP, the holder with SO_REUSEPORT or without, and for UDP
	 * with SO_REUSEADDR (which shares a UDP port as well) */
	for (int i = 0; i < 5; i++) {
		int type = i < 2 ? SOCK_STREAM : SOCK_DGRAM;
		int opt = i % 2 ? SO_REUSEPORT : i == 4 ? SO_REUSEADDR : 0;
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t sl = sizeof(a);
		uint16_t hp;

		s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
		assert_true(s >= 0);
		if (opt)
			assert_int_equal(setsockopt(s, SOL_SOCKET, opt, &one, sizeof(one)), 0);
		assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
		if (type == SOCK_STREAM)
			assert_int_equal(listen(s, 1), 0);
		assert_int_equal(getsockname(s, (struct sockaddr *)&a, &sl), 0);
		hp = ntohs(a.sin_port);
		snprintf(rule, sizeof(rule), "%s:%u:80", type == SOCK_STREAM ? "tcp" : "udp", hp);
		o.hostfwd = rules;
		o.n_hostfwd = 1;
		assert_int_equal(netbe_new("user", &o, &be, err, sizeof(err)), -EADDRINUSE);
		assert_null(be);
		assert_non_null(strstr(err, "cannot listen"));
		snprintf(port, sizeof(port), ":%u", hp);
		assert_non_null(strstr(err, port));
		close(s);
	}
}

/* ---- nat_fwd_parse ---------------------------------------------------- */

static void test_fwd_parse(void **state)
{
	static const char *const bad[] = {
		"",
		"tcp",
		"tcp:",
		"tcp:22",
		"sctp:1:2",
		"TCP:1:2",
		"tcp:0:22",
		"tcp:65536:22",
		"tcp:22:0",
		"tcp:22:99999",
		"tcp::22:80",
		"tcp:22:80:",
		"tcp:a.b.c.d:1:2",
		"tcp:[::1:22:80",
		"tcp:[::1]22:80",
		"tcp:[]:22:80",
		"tcp:[1.2.3.4]:1:2",
		"tcp:1.2.3.4:5:6:7",
		"tcp:+22:80",
		"tcp: 22:80",
		"tcp:22:80 ",
		"tcp:::1:22:80",
		"udp:1.2.3:1:2",
		"tcp:-1:2",
		"tcp:1.2.3.4:22:"
		"80xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	};
	struct nat_fwd_rule r;
	char err[256];
	const struct sockaddr_in *in = (const struct sockaddr_in *)&r.host;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&r.host;

	(void)state;
	assert_int_equal(nat_fwd_parse("tcp:2222:22", &r, err, sizeof(err)), 0);
	assert_int_equal(r.proto, IPPROTO_TCP);
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(in->sin_port), 2222);
	assert_int_equal(r.host_len, sizeof(*in));
	assert_int_equal(r.guest_port, 22);

	assert_int_equal(nat_fwd_parse("udp:0.0.0.0:53:5353", &r, err, sizeof(err)), 0);
	assert_int_equal(r.proto, IPPROTO_UDP);
	assert_int_equal(in->sin_addr.s_addr, 0);
	assert_int_equal(ntohs(in->sin_port), 53);
	assert_int_equal(r.guest_port, 5353);

	assert_int_equal(nat_fwd_parse("tcp:10.1.2.3:1:65535", &r, err, sizeof(err)), 0);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0x0a010203);
	assert_int_equal(r.guest_port, 65535);

	assert_int_equal(nat_fwd_parse("tcp:[::1]:8080:80", &r, err, sizeof(err)), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	assert_int_equal(ntohs(in6->sin6_port), 8080);
	assert_int_equal(r.host_len, sizeof(*in6));
	assert_int_equal(r.guest_port, 80);

	assert_int_equal(nat_fwd_parse("udp:[::]:65535:1", &r, err, sizeof(err)), 0);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (nat_fwd_parse(bad[i], &r, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(strstr(err, "bad hostfwd"));
		assert_null(strchr(err, '\n'));
		assert_int_equal(r.proto, 0);
	}
	/* through netbe_new: the same reason */
	{
		struct netbe_options o = opts(1);
		const char *rules[1] = {"tcp:22"};
		struct netbe *be = NULL;

		o.hostfwd = rules;
		o.n_hostfwd = 1;
		assert_int_equal(netbe_new("user", &o, &be, err, sizeof(err)), -EINVAL);
		assert_null(be);
		assert_non_null(strstr(err, "tcp:22"));
	}
}

/* Every test leaves the fds as it found them: flows, listeners and
 * their sockets all closed by netbe_free(). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int fds_before;

static int fd_setup(void **state)
{
	(void)state;
	fds_before = count_fds();
	return 0;
}

static int fd_teardown(void **state)
{
	int now = count_fds();

	(void)state;
	if (now != fds_before) {
		fprintf(stderr, "fd leak: %d before, %d after\n", fds_before, now);
		return -1;
	}
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, fd_setup, fd_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fwd_parse),
		T(test_udp_echo_v4),
		T(test_udp_echo_v6),
		T(test_udp_partial_csum),
		T(test_udp_stream),
		T(test_udp_burst),
		T(test_frag_out_v4),
		T(test_frag_out_v6),
		T(test_frag_in_v4),
		T(test_frag_in_v6),
		T(test_frag_out_stream),
		T(test_frag_hostile),
		T(test_frag_timeout_v4),
		T(test_frag_timeout_v6),
		T(test_dns),
		T(test_dns_none),
		T(test_udp_idle),
		T(test_udp_port_unreach_v4),
		T(test_udp_port_unreach_v6),
		T(test_udp_no_route),
		T(test_hostfwd_udp_v4),
		T(test_hostfwd_udp_v6),
		T(test_hostfwd_port_in_use),
		T(test_hostfwd_tcp),
		T(test_hostfwd_tcp_spread),
		T(test_hostfwd_tcp_emfile),
		T(test_ping),
	};

	inet_pton(AF_INET6, "fec0::15", &guest6);
	inet_pton(AF_INET6, "fec0::2", &gw6);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
