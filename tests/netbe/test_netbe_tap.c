/* SPDX-License-Identifier: MIT */
/*
 * The tap backend (netbe_fixture.h has the helpers), root only, skipped
 * otherwise: a real multi-queue TAP moved into a fresh network namespace
 * answers ARP, ICMP echo and a TCP SYN with a partial checksum; vnet
 * headers in both directions; fds of an open device handed over; a burst
 * of 100 UDP datagrams in one tx() reaches a socket in the namespace in
 * order, through io_uring (two submissions) and through writev.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/netbe.h>

#include "spec/virtio_net.h"

#include "netbe_fixture.h"

struct tap_env {
	char ns[32];
	char ifname[16];
	unsigned net; /* 10.99.net.0/24 */
	bool ns_made;
};

static struct tap_env tap_env;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int tap_setup(void **state)
{
	int fd;

	(void)state;
	snprintf(tap_env.ns, sizeof(tap_env.ns), "vqnet-test-%d", (int)getpid());
	snprintf(tap_env.ifname, sizeof(tap_env.ifname), "vqt%d", (int)getpid());
	tap_env.net = (unsigned)getpid() % 250 + 1;
	if (geteuid() != 0)
		return 0;
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		return 0;
	close(fd);
	if (run("ip netns add %s 2>/dev/null", tap_env.ns) == 0)
		tap_env.ns_made = true;
	return 0;
}

static int tap_teardown(void **state)
{
	(void)state;
	if (tap_env.ns_made)
		run("ip netns del %s 2>/dev/null", tap_env.ns);
	tap_env.ns_made = false;
	run("ip link del %s 2>/dev/null", tap_env.ifname);
	return 0;
}

static const uint8_t peer_mac_unknown[6];

/* Wait up to @ms for a frame on any of @nq pairs for which @match is true;
 * copy it to @out. Other frames (IPv6 noise) are skipped. */
static bool tap_wait(struct netbe *be, unsigned nq, bool (*match)(const uint8_t *, uint32_t),
		     uint8_t *out, struct netbe_rxbuf *res, int ms)
{
	static uint8_t buf[65536 + 100];

	for (int t = 0; t < ms / 10; t++) {
		struct pollfd p[8];

		for (unsigned q = 0; q < nq; q++)
			p[q] = (struct pollfd){.fd = be->ops->rx_fd(be, q), .events = POLLIN};
		if (poll(p, nq, 10) <= 0)
			continue;
		for (unsigned q = 0; q < nq; q++) {
			struct netbe_rxbuf b = {.data = buf, .cap = sizeof(buf)};

			while (be->ops->rx(be, q, &b, 1) == 1) {
				if (match(buf, b.len)) {
					memcpy(out, buf, b.len);
					*res = b;
					return true;
				}
				b = (struct netbe_rxbuf){.data = buf, .cap = sizeof(buf)};
			}
		}
	}
	return false;
}

static uint32_t tap_ip(unsigned host)
{
	return htonl(0x0a630000u | tap_env.net << 8 | host);
}

static uint8_t tap_host_mac[6];

static bool is_arp_reply(const uint8_t *f, uint32_t len)
{
	uint32_t ip1 = tap_ip(1);

	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
	       !memcmp(f + 28, &ip1, 4) && !memcmp(f + 32, guest_mac, 6);
}

static bool is_echo_reply(const uint8_t *f, uint32_t len)
{
	return len >= 42 && get16(f + 12) == 0x0800 && f[23] == 1 && f[34] == 0 &&
	       get16(f + 38) == 0x7171;
}

static uint16_t rst_port; /* the port our TCP segment came from */

static bool is_tcp_rst(const uint8_t *f, uint32_t len)
{
	return len >= 54 && get16(f + 12) == 0x0800 && f[23] == 6 && get16(f + 34) == 7777 &&
	       get16(f + 36) == rst_port && (f[47] & 0x04);
}

/* A TCP/IPv4 segment from @sport to 10.99.N.1:7777 with @payload bytes,
 * flags @tcp_flags, its checksum left partial (pseudo-header sum). */
static uint32_t tcp_partial(uint8_t *f, uint16_t sport, uint8_t tcp_flags, uint16_t payload,
			    struct netbe_meta *m)
{
	uint32_t me = tap_ip(2), host = tap_ip(1), off;
	uint16_t l4 = (uint16_t)(20 + payload);

	off = build_ipv4(f, tap_host_mac, guest_mac, &me, &host, 6, l4);
	memset(f + off, 0, l4);
	put16(f + off, sport);
	put16(f + off + 2, 7777);
	f[off + 4] = 0x11;  /* seq */
	f[off + 11] = 0x22; /* ack */
	f[off + 12] = 5 << 4;
	f[off + 13] = tcp_flags;
	put16(f + off + 14, 65535);
	for (uint16_t i = 0; i < payload; i++)
		f[off + 20 + i] = (uint8_t)i;
	put16(f + off + 16, csum_fold(pseudo_sum(f, l4)));
	*m = (struct netbe_meta){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				 .csum_start = (uint16_t)off,
				 .csum_offset = 16};
	return off + l4;
}

static void test_tap(void **state)
{
	struct netbe_options o = opts(2);
	struct netbe *be;
	static uint8_t f[1500], out[65536 + 100];
	struct netbe_rxbuf res;
	char spec[32], err[256];
	uint32_t me = tap_ip(2), host = tap_ip(1), off;
	uint16_t l4;
	int ret;

	(void)state;
	if (geteuid() != 0 || !tap_env.ns_made) {
		print_message("tap: needs root, /dev/net/tun and ip netns; skipped\n");
		skip();
	}
	snprintf(spec, sizeof(spec), "tap:%s", tap_env.ifname);
	ret = netbe_new(spec, &o, &be, err, sizeof(err));
	if (ret == -EPERM || ret == -EACCES) {
		print_message("tap: %s; skipped\n", err);
		skip();
	}
	assert_int_equal(ret, 0);
	assert_int_equal(be->max_queue_pairs, 2);
	assert_true(be->ops->caps(be) & NETBE_CAP_CSUM);
	assert_true(be->ops->caps(be) & NETBE_CAP_TSO4);
	assert_int_equal(be->ops->set_queue_pairs(be, 2), 0);
	assert_int_equal(be->ops->set_queue_pairs(be, 1), 0);
	assert_int_equal(be->ops->set_queue_pairs(be, 2), 0);
	assert_int_equal(be->ops->set_rx_offloads(be, 0), 0);
	assert_true(be->ops->link_up(be));

	/* A second backend on the same name joins the same device... */
	{
		struct netbe *be2 = NULL;
		struct netbe_options o1 = opts(1);

		assert_int_equal(netbe_new(spec, &o1, &be2, err, sizeof(err)), 0);
		netbe_free(be2);
	}
	assert_int_equal(run("ip link set %s netns %s", tap_env.ifname, tap_env.ns), 0);
	assert_int_equal(run("ip -n %s addr add 10.99.%u.1/24 dev %s", tap_env.ns, tap_env.net,
			     tap_env.ifname),
			 0);
	assert_int_equal(run("ip -n %s link set %s up", tap_env.ns, tap_env.ifname), 0);

	/* ARP: who has 10.99.N.1? tell 10.99.N.2 */
	build_arp(f, bcast_mac, 1, guest_mac, &me, NULL, &host);
	assert_int_equal(tx_one(be, 0, f, 60, NULL), 1);
	assert_true(tap_wait(be, 2, is_arp_reply, out, &res, 3000));
	memcpy(tap_host_mac, out + 22, 6);
	assert_memory_not_equal(tap_host_mac, peer_mac_unknown, 6);
	assert_int_equal(res.meta.flags, 0);
	assert_int_equal(res.meta.gso_type, 0);

	/* ICMP echo, sent from pair 1. */
	l4 = 8 + 32;
	off = build_ipv4(f, tap_host_mac, guest_mac, &me, &host, 1, l4);
	memset(f + off, 0, l4);
	f[off] = 8;
	put16(f + off + 4, 0x7171);
	put16(f + off + 6, 1);
	for (int i = 8; i < l4; i++)
		f[off + i] = (uint8_t)i;
	put16(f + off + 2, csum_finish(csum_add(0, f + off, l4)));
	assert_int_equal(tx_one(be, 1, f, off + l4, NULL), 1);
	assert_true(tap_wait(be, 2, is_echo_reply, out, &res, 3000));
	assert_int_equal(res.len, off + l4);
	assert_memory_equal(out + off + 8, f + off + 8, l4 - 8);
	assert_int_equal(res.meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, 0);

	/* Offloads on: a TCP SYN with a partial checksum to a closed port
	 * is answered with a RST, which may come with a partial checksum. */
	assert_int_equal(be->ops->set_rx_offloads(be, be->ops->caps(be)), 0);
	{
		struct netbe_meta m;
		uint32_t len = tcp_partial(f, 40000, 0x02 /* SYN */, 0, &m);

		rst_port = 40000;
		assert_int_equal(tx_one(be, 0, f, len, &m), 1);
	}
	assert_true(tap_wait(be, 2, is_tcp_rst, out, &res, 3000));
	if (res.meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		assert_int_equal(res.meta.csum_start, 34);
		assert_int_equal(res.meta.csum_offset, 16);
	}
	assert_int_equal(res.meta.gso_type, 0);

	/* A GSO frame (3 segments of 400 bytes) is taken by the kernel and
	 * answered, too: the header's GSO fields are where it expects them. */
	{
		static uint8_t big[54 + 1200];
		struct netbe_meta m;
		uint32_t len = tcp_partial(big, 40001, 0x10 /* ACK */, 1200, &m);

		m.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		m.gso_size = 400;
		m.hdr_len = 54;
		rst_port = 40001;
		assert_int_equal(tx_one(be, 1, big, len, &m), 1);
		assert_true(tap_wait(be, 2, is_tcp_rst, out, &res, 3000));
	}

	/* A frame larger than the buffer is dropped and counted. */
	{
		struct netbe_stats s0 = stats_of(be, 0), s1 = stats_of(be, 1);
		uint8_t small[60];
		struct netbe_rxbuf b = {.data = small, .cap = sizeof(small)};
		uint64_t drops = s0.rx_dropped + s1.rx_dropped;

		off = build_ipv4(f, tap_host_mac, guest_mac, &me, &host, 1, 8 + 500);
		memset(f + off, 0, 508);
		f[off] = 8;
		put16(f + off + 4, 0x7171);
		put16(f + off + 2, csum_finish(csum_add(0, f + off, 508)));
		assert_int_equal(tx_one(be, 0, f, off + 508, NULL), 1);
		for (int t = 0; t < 300 && drops == s0.rx_dropped + s1.rx_dropped; t++) {
			usleep(10000);
			for (unsigned q = 0; q < 2; q++)
				while (be->ops->rx(be, q, &b, 1) == 1)
					b.cap = sizeof(small);
			s0 = stats_of(be, 0);
			s1 = stats_of(be, 1);
		}
		assert_true(s0.rx_dropped + s1.rx_dropped > drops);
	}
	{
		struct netbe_stats s = stats_of(be, 0);

		assert_int_equal(s.tx_dropped + s.tx_errors + s.rx_errors, 0);
	}
	netbe_free(be);
}

static void test_tap_fds(void **state)
{
	struct netbe_options o = opts(4), o2 = opts(2);
	struct netbe *be = NULL, *owner;
	char spec[32], err[256];
	int fds[2] = {-1, -1};
	static uint8_t f[60];

	(void)state;
	if (geteuid() != 0 || !tap_env.ns_made)
		skip();
	snprintf(spec, sizeof(spec), "tap:%s", tap_env.ifname);
	/* A pipe is refused with a reason. */
	assert_int_equal(pipe(fds), 0);
	o.tap_fds = fds;
	o.n_tap_fds = 1;
	assert_int_equal(netbe_new(spec, &o, &be, err, sizeof(err)), -ENOTTY);
	assert_non_null(strstr(err, "is not an attached TUN/TAP fd"));
	assert_null(be);
	close(fds[0]);
	close(fds[1]);

	/* Fds of an open device (here: another backend's): 2 fds for 4
	 * wanted queue pairs give 2; they are duplicated, so both backends
	 * work and close their own. */
	owner = open_be(spec, &o2);
	fds[0] = owner->ops->rx_fd(owner, 0);
	fds[1] = owner->ops->rx_fd(owner, 1);
	o.n_tap_fds = 2;
	be = open_be(spec, &o);
	assert_int_equal(be->max_queue_pairs, 2);
	assert_int_not_equal(be->ops->rx_fd(be, 0), fds[0]);
	assert_int_equal(be->ops->caps(be), owner->ops->caps(owner));
	assert_int_equal(be->ops->set_queue_pairs(be, 2), 0);
	make_frame(f, 60, 1);
	/* The interface is down: the kernel refuses (EIO), an error. */
	assert_int_equal(tx_one(be, 1, f, 60, NULL), 0);
	assert_int_equal(stats_of(be, 1).tx_dropped, 1);
	assert_int_equal(stats_of(be, 1).tx_errors, 1);
	assert_int_equal(run("ip link set %s up", tap_env.ifname), 0);
	assert_int_equal(tx_one(be, 1, f, 60, NULL), 1);
	netbe_free(be);
	/* The wrong name is refused. */
	assert_int_equal(netbe_new("tap:vqnet-other", &o, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "want a tap of vqnet-other"));
	netbe_free(owner);
}
/* A UDP socket of namespace @ns bound to @ip:@port (setns there and back). */
static int udp_socket_in(const char *ns, uint32_t ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	char path[96];
	int nsfd, self, s;

	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(nsfd >= 0 && self >= 0);
	assert_int_equal(setns(nsfd, CLONE_NEWNET), 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(setns(self, CLONE_NEWNET), 0);
	close(nsfd);
	close(self);
	assert_true(s >= 0);
	a.sin_addr.s_addr = ip;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	return s;
}

#define BURST 100

/* Send BURST UDP datagrams (sequence number first, then bytes of it) to
 * 10.99.N.1:7000 in one tx() call, each frame in two pieces; the socket
 * @s must get them all, in order. Return the backend's print_stats line. */
static void tap_burst(struct netbe *be, int s, char *line, size_t linelen)
{
	static uint8_t f[BURST][128];
	static struct iovec iov[BURST][2];
	static struct netbe_txpkt pkts[BURST];
	uint32_t me = tap_ip(2), host = tap_ip(1);
	uint8_t got[128];
	FILE *m;

	for (unsigned i = 0; i < BURST; i++) {
		uint16_t l4 = (uint16_t)(8 + 20 + i % 40);
		uint32_t off = build_ipv4(f[i], tap_host_mac, guest_mac, &me, &host, 17, l4);

		put16(f[i] + off, 40000);
		put16(f[i] + off + 2, 7000);
		put16(f[i] + off + 4, l4);
		put16(f[i] + off + 6, 0); /* no checksum (IPv4 allows it) */
		put32(f[i] + off + 8, i);
		for (unsigned k = 12; k < l4; k++)
			f[i][off + k] = (uint8_t)(i * 7 + k);
		iov[i][0] = (struct iovec){f[i], 20};
		iov[i][1] = (struct iovec){f[i] + 20, off + l4 - 20};
		pkts[i] = (struct netbe_txpkt){.iov = iov[i], .iovcnt = 2, .len = off + l4};
	}
	assert_int_equal(be->ops->tx(be, 0, pkts, BURST), BURST);
	for (unsigned i = 0; i < BURST; i++) {
		uint16_t l4 = (uint16_t)(8 + 20 + i % 40);
		ssize_t n;

		assert_true(fd_readable(s, 3000));
		n = recv(s, got, sizeof(got), 0);
		assert_int_equal(n, l4 - 8);
		assert_int_equal(get32(got), i);
		assert_memory_equal(got, f[i] + pkts[i].len - (uint32_t)n, (size_t)n);
	}
	assert_int_equal(stats_of(be, 0).tx_dropped, 0);
	m = fmemopen(line, linelen, "w");
	assert_non_null(m);
	be->ops->print_stats(be, 0, m);
	fclose(m);
}

/* The namespace's socket @s sends BURST datagrams (sequence number
 * first) to the guest, 10.99.N.2:40000; rx() on @be's queue 0, up to 32
 * buffers a call, must give them all, in order, intact. Other frames
 * (IPv6 noise) are skipped. */
static void tap_rx_burst(struct netbe *be, int s)
{
	static uint8_t bufs[32][2048];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(40000)};
	struct netbe_rxbuf b[32];
	uint8_t msg[64];
	unsigned next = 0;

	to.sin_addr.s_addr = tap_ip(2);
	for (unsigned i = 0; i < BURST; i++) {
		memset(msg, (int)i, sizeof(msg));
		put32(msg, i);
		assert_int_equal(sendto(s, msg, 20 + i % 40, 0, (struct sockaddr *)&to, sizeof(to)),
				 (ssize_t)(20 + i % 40));
	}
	for (int t = 0; t < 300 && next < BURST; t++) {
		int got;

		for (unsigned k = 0; k < 32; k++)
			b[k] = (struct netbe_rxbuf){.data = bufs[k], .cap = sizeof(bufs[k])};
		got = be->ops->rx(be, 0, b, 32);
		assert_true(got >= 0);
		if (!got)
			fd_readable(be->ops->rx_fd(be, 0), 10);
		for (int k = 0; k < got; k++) {
			const uint8_t *f = b[k].data;
			uint32_t len = b[k].len;

			if (len < 42 || get16(f + 12) != 0x0800 || f[23] != 17 ||
			    get16(f + 36) != 40000)
				continue;
			assert_int_equal(get32(f + 42), next);
			assert_int_equal(get16(f + 38), 8 + 20 + next % 40);
			for (unsigned j = 4; j < 20 + next % 40; j++)
				assert_int_equal(f[42 + j], (uint8_t)next);
			next++;
		}
	}
	assert_int_equal(next, BURST);
}

static void queue_attach(int fd, bool on)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	assert_int_equal(ioctl(fd, TUNSETQUEUE, &ifr), 0);
}

static void test_tap_burst(void **state)
{
	static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x0b, 0x01};
	struct netbe_options o = opts(1), ow = opts(1);
	char spec[32], line[160];
	struct netbe *be, *bew;
	int s;

	(void)state;
	if (geteuid() != 0 || !tap_env.ns_made)
		skip();
	snprintf(spec, sizeof(spec), "tap:%s", tap_env.ifname);
	/* Two backends on one device (each a queue of it): io_uring where
	 * the kernel allows it, and --tap-writev. */
	be = open_be(spec, &o);
	ow.tap_writev = true;
	bew = open_be(spec, &ow);
	assert_int_equal(run("ip link set %s address 02:00:00:00:0b:01", tap_env.ifname), 0);
	memcpy(tap_host_mac, mac, 6);
	assert_int_equal(run("ip link set %s netns %s", tap_env.ifname, tap_env.ns), 0);
	assert_int_equal(run("ip -n %s addr add 10.99.%u.1/24 dev %s", tap_env.ns, tap_env.net,
			     tap_env.ifname),
			 0);
	assert_int_equal(run("ip -n %s link set %s up", tap_env.ns, tap_env.ifname), 0);
	assert_int_equal(run("ip -n %s neigh add 10.99.%u.2 lladdr 52:54:00:12:34:56 dev %s",
			     tap_env.ns, tap_env.net, tap_env.ifname),
			 0);
	s = udp_socket_in(tap_env.ns, tap_ip(1), 7000);

	/* Receive through the ring: the kernel steers the namespace's flow
	 * to one queue of the device, so bew's is detached meanwhile. */
	queue_attach(bew->ops->rx_fd(bew, 0), false);
	tap_rx_burst(be, s);
	queue_attach(bew->ops->rx_fd(bew, 0), true);

	tap_burst(be, s, line, sizeof(line)); /* 64 + 36 frames */
	if (strstr(line, "io=io_uring")) {
		unsigned rx_submits, rx_frames;

		assert_int_equal(sscanf(line,
					"tap q0: io=io_uring tx_submits=2 tx_frames=100 "
					"rx_submits=%u rx_frames=%u\n",
					&rx_submits, &rx_frames),
				 2);
		/* most of the 100 came through the ring, in batches */
		assert_true(rx_frames >= 50 && rx_submits < rx_frames);
	} else {
		assert_non_null(strstr(line, "tap q0: io=writev (io_uring: "));
	}
	tap_burst(bew, s, line, sizeof(line));
	assert_string_equal(line, "tap q0: io=writev\n");
	netbe_free(bew);
	netbe_free(be);
	close(s);
}

/* D12: reads shorter than the TAP's vnet header (0, 1 and 11 bytes) are
 * dropped and counted (rx_errors), never turned into a frame with a
 * length computed by underflow; the next good read is a frame. A real TAP
 * never returns one, so the backend's queue fd is replaced by a
 * non-blocking SOCK_SEQPACKET socket whose peer writes the reads. */
static void test_tap_short_read(void **state)
{
	static const size_t shorts[] = {0, 1, sizeof(struct virtio_net_hdr_v1) - 1};
	struct netbe_options o = opts(1);
	struct netbe *be;
	struct netbe_rxbuf b;
	static uint8_t buf[BUF_CAP], msg[sizeof(struct virtio_net_hdr_v1) + 60];
	char spec[32];
	int sv[2];

	(void)state;
	if (geteuid() != 0 || !tap_env.ns_made)
		skip();
	snprintf(spec, sizeof(spec), "tap:%s", tap_env.ifname);
	be = open_be(spec, &o);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(dup2(sv[0], be->ops->rx_fd(be, 0)), be->ops->rx_fd(be, 0));
	close(sv[0]);
	memset(msg, 0xa5, sizeof(msg));
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(write(sv[1], msg, shorts[i]), (ssize_t)shorts[i]);
	/* then a good one: a zero vnet header and a 60-byte frame */
	memset(msg, 0, sizeof(struct virtio_net_hdr_v1));
	make_frame(msg + sizeof(struct virtio_net_hdr_v1), 60, 7);
	assert_int_equal(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));

	b = (struct netbe_rxbuf){.data = buf, .cap = BUF_CAP};
	assert_int_equal(be->ops->rx(be, 0, &b, 1), 1);
	assert_int_equal(b.len, 60);
	assert_memory_equal(buf, msg + sizeof(struct virtio_net_hdr_v1), 60);
	assert_int_equal(b.meta.flags, 0);
	assert_int_equal(b.meta.gso_type, 0);
	assert_int_equal(stats_of(be, 0).rx_errors, 3);
	assert_int_equal(stats_of(be, 0).rx_dropped, 0);
	/* drained: nothing more, nothing counted */
	assert_int_equal(be->ops->rx(be, 0, &b, 1), 0);
	assert_int_equal(stats_of(be, 0).rx_errors, 3);
	close(sv[1]);
	netbe_free(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tap, tap_setup, tap_teardown),
		cmocka_unit_test_setup_teardown(test_tap_fds, tap_setup, tap_teardown),
		cmocka_unit_test_setup_teardown(test_tap_burst, tap_setup, tap_teardown),
		cmocka_unit_test_setup_teardown(test_tap_short_read, tap_setup, tap_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
