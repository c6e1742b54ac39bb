/* SPDX-License-Identifier: MIT */
/*
 * Network backend tests: each backend through its ops table only.
 *
 *  - spec parsing: good specs open, bad ones fail with -EINVAL and a reason;
 *  - loop: frames and metadata come back on their own queue pair, a full
 *    ring drops (tx_dropped), rx_fd is readable exactly while frames wait,
 *    offload metadata passes through whatever set_rx_offloads() said;
 *  - sink: every frame taken, nothing received;
 *  - gen: sizes, header and per-pair sequence numbers;
 *  - dgram: two backends on 127.0.0.1 talk; a third socket is not heard;
 *    oversize and runt datagrams are counted;
 *  - tap (root only, skipped otherwise): a real multi-queue TAP moved into
 *    a fresh network namespace answers ARP, ICMP echo and a TCP SYN with a
 *    partial checksum; vnet headers in both directions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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

#define BUF_CAP 2048u

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static struct netbe_options opts(unsigned nq)
{
	struct netbe_options o = {.max_queue_pairs = nq, .mtu = 1500};

	memcpy(o.guest_mac, guest_mac, 6);
	return o;
}

static struct netbe *open_be(const char *spec, const struct netbe_options *o)
{
	char err[256] = "";
	struct netbe *be = NULL;
	int ret = netbe_new(spec, o, &be, err, sizeof(err));

	if (ret)
		print_error("netbe_new(%s): %d %s\n", spec, ret, err);
	assert_int_equal(ret, 0);
	assert_non_null(be);
	return be;
}

static bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static struct netbe_stats stats_of(struct netbe *be, unsigned q)
{
	struct netbe_stats s;

	be->ops->get_stats(be, q, &s);
	return s;
}

/* An Ethernet frame of @len bytes: dst guest, src 02:..:01, type 0x88b5,
 * then @tag in every payload byte. */
static void make_frame(uint8_t *f, uint32_t len, uint8_t tag)
{
	static const uint8_t src[6] = {2, 0, 0, 0, 0, 1};

	memcpy(f, guest_mac, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memset(f + 14, tag, len - 14);
}

/* ------------------------------------------------------------------ */
/* Checksums and packets the tests build. */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ethernet + IPv4 header (20 bytes, no options) for @l4_len bytes of
 * protocol @proto; returns the L4 offset (34). */
static uint32_t build_ipv4(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac,
			   uint32_t src_ip, uint32_t dst_ip, uint8_t proto, uint16_t l4_len)
{
	uint8_t *ip = f + 14;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &src_ip, 4);
	memcpy(ip + 16, &dst_ip, 4);
	put16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, 20)));
	return 34;
}

/* The IPv4 pseudo-header sum of a frame built by build_ipv4(). */
static uint32_t pseudo_sum(const uint8_t *f, uint16_t l4_len)
{
	uint32_t s = csum_add(0, f + 14 + 12, 8);

	return s + f[14 + 9] + l4_len;
}

/* ------------------------------------------------------------------ */
/* netbe_new(): the spec table. */

static void test_spec_good(void **state)
{
	static const char *const good[] = {
		"loop", "sink", "gen", "dgram:127.0.0.1:0,127.0.0.1:9", "dgram:[::1]:0,[::1]:9",
	};
	struct netbe_options o = opts(2);

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char err[256] = "x";
		struct netbe *be = NULL;
		int ret = netbe_new(good[i], &o, &be, err, sizeof(err));

		if (ret == -EADDRNOTAVAIL && strchr(good[i], '['))
			continue; /* no IPv6 loopback here */
		if (ret)
			print_error("%s: %d %s\n", good[i], ret, err);
		assert_int_equal(ret, 0);
		assert_non_null(be);
		assert_string_equal(err, "");
		assert_true(be->max_queue_pairs == 2);
		assert_string_equal(be->ops->name, good[i][0] == 'd' ? "dgram" : good[i]);
		netbe_free(be);
	}
	/* No options: one queue pair. */
	{
		struct netbe *be = NULL;

		assert_int_equal(netbe_new("loop", NULL, &be, NULL, 0), 0);
		assert_int_equal(be->max_queue_pairs, 1);
		netbe_free(be);
	}
	netbe_free(NULL);
}

static void test_spec_bad(void **state)
{
	static const struct {
		const char *spec;
		const char *why; /* a part of the message */
	} bad[] = {
		{"", "empty backend spec"},
		{"bogus", "unknown backend 'bogus'"},
		{"loopx", "unknown backend 'loopx'"},
		{"loop:1", "takes no argument"},
		{"sink:", "takes no argument"},
		{"user:x", "takes no argument"},
		{"tap", "needs an argument: tap:IFNAME"},
		{"tap:", "needs an argument"},
		{"tap:abcdefghijklmnop", "bad interface name"},
		{"tap:a/b", "bad character"},
		{"tap:a b", "bad character"},
		{"tap:..", "bad interface name"},
		{"dgram", "needs an argument"},
		{"dgram:127.0.0.1:1", "want dgram:LADDR:LPORT,RADDR:RPORT"},
		{"dgram:127.0.0.1,127.0.0.1:2", "local address '127.0.0.1' has no port"},
		{"dgram:127.0.0.1:1,127.0.0.1", "remote address '127.0.0.1' has no port"},
		{"dgram:127.0.0.1:99999,127.0.0.1:2", "bad local port '99999'"},
		{"dgram:127.0.0.1:-1,127.0.0.1:2", "bad local port '-1'"},
		{"dgram:127.0.0.1:1,127.0.0.1:x", "bad remote port 'x'"},
		{"dgram:localhost:1,127.0.0.1:2", "bad local IPv4 address 'localhost'"},
		{"dgram:::1:1,127.0.0.1:2", "bad local IPv4 address"},
		{"dgram:[::1:1,[::1]:2", "want [ADDR6]:PORT"},
		{"dgram:[zz]:1,[::1]:2", "bad local IPv6 address 'zz'"},
		{"dgram:[::1]:1,127.0.0.1:2", "different families"},
		{"dgram:127.0.0.1:1,127.0.0.1:0", "remote port 0"},
		{"dgram:,127.0.0.1:2", "bad local address"},
	};
	struct netbe_options o = opts(1);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		struct netbe *be = (struct netbe *)&o; /* must be cleared */
		int ret = netbe_new(bad[i].spec, &o, &be, err, sizeof(err));

		if (ret != -EINVAL || !strstr(err, bad[i].why))
			print_error("'%s': %d '%s', want '%s'\n", bad[i].spec, ret, err,
				    bad[i].why);
		assert_int_equal(ret, -EINVAL);
		assert_null(be);
		assert_non_null(strstr(err, bad[i].why));
		assert_null(strchr(err, '\n'));
	}
}

static void test_spec_options(void **state)
{
	struct netbe_options o = opts(0);
	struct netbe *be = NULL;
	char err[256];
	char tiny[8];

	(void)state;
	assert_int_equal(netbe_new("loop", &o, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_queue_pairs 0"));
	o = opts(1);
	o.gen_frame_size = 59;
	assert_int_equal(netbe_new("gen", &o, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "frame size 59"));
	o.gen_frame_size = 65536;
	assert_int_equal(netbe_new("gen", &o, &be, err, sizeof(err)), -EINVAL);
	/* A short err buffer is cut, still terminated; none at all is fine. */
	assert_int_equal(netbe_new("nope", &o, &be, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(netbe_new("nope", &o, &be, NULL, 0), -EINVAL);
	/* A port in use: the constructor's own reason. */
	{
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof(a);
		char spec[64];

		assert_true(s >= 0);
		assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
		snprintf(spec, sizeof(spec), "dgram:127.0.0.1:%u,127.0.0.1:9", ntohs(a.sin_port));
		assert_int_equal(netbe_new(spec, &o, &be, err, sizeof(err)), -EADDRINUSE);
		assert_non_null(strstr(err, "dgram: bind"));
		close(s);
	}
}

/* ------------------------------------------------------------------ */
/* loop */

static int tx_one(struct netbe *be, unsigned q, const uint8_t *f, uint32_t len,
		  const struct netbe_meta *meta)
{
	struct iovec iov = {(void *)f, len};
	struct netbe_txpkt p = {.iov = &iov, .iovcnt = 1, .len = len};

	if (meta)
		p.meta = *meta;
	return be->ops->tx(be, q, &p, 1);
}

static void test_loop_roundtrip(void **state)
{
	struct netbe_options o = opts(2);
	struct netbe *be = open_be("loop", &o);
	static uint8_t f[3][1000], out[4][BUF_CAP];
	struct netbe_rxbuf bufs[4];
	struct netbe_meta m = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			       .gso_type = 1,
			       .hdr_len = 54,
			       .gso_size = 1448,
			       .csum_start = 34,
			       .csum_offset = 16};
	struct iovec iov[3];
	struct netbe_txpkt pk[2];

	(void)state;
	assert_int_equal(be->ops->caps(be), NETBE_CAP_ALL);
	assert_true(be->ops->link_up(be));
	assert_int_equal(be->ops->set_queue_pairs(be, 2), 0);
	assert_int_equal(be->ops->set_rx_offloads(be, NETBE_CAP_ALL), 0);
	assert_false(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_false(fd_readable(be->ops->rx_fd(be, 1), 0));
	assert_true(be->ops->rx_fd(be, 0) != be->ops->rx_fd(be, 1));

	make_frame(f[0], 100, 0xa0);
	make_frame(f[1], 1000, 0xa1);
	make_frame(f[2], 60, 0xa2);
	/* Pair 0: a frame in three pieces with GSO metadata, then a plain one. */
	iov[0] = (struct iovec){f[0], 14};
	iov[1] = (struct iovec){f[0] + 14, 50};
	iov[2] = (struct iovec){f[0] + 64, 36};
	pk[0] = (struct netbe_txpkt){.iov = iov, .iovcnt = 3, .len = 100, .meta = m};
	pk[1] = (struct netbe_txpkt){.iov = &iov[0], .iovcnt = 0, .len = 0};
	iov[0].iov_len = 14;
	pk[1].iov = (struct iovec[]){{f[1], 1000}};
	pk[1].iovcnt = 1;
	pk[1].len = 1000;
	assert_int_equal(be->ops->tx(be, 0, pk, 2), 2);
	assert_int_equal(tx_one(be, 1, f[2], 60, NULL), 1);
	assert_true(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_true(fd_readable(be->ops->rx_fd(be, 1), 0));

	for (int i = 0; i < 4; i++)
		bufs[i] = (struct netbe_rxbuf){.data = out[i], .cap = BUF_CAP};
	/* Pair 1 sees only its own frame. */
	assert_int_equal(be->ops->rx(be, 1, bufs, 4), 1);
	assert_int_equal(bufs[0].len, 60);
	assert_memory_equal(out[0], f[2], 60);
	assert_false(fd_readable(be->ops->rx_fd(be, 1), 0));
	/* Pair 0, one at a time: the fd stays readable until the last. */
	assert_int_equal(be->ops->rx(be, 0, bufs, 1), 1);
	assert_int_equal(bufs[0].len, 100);
	assert_memory_equal(out[0], f[0], 100);
	assert_memory_equal(&bufs[0].meta, &m, sizeof(m));
	assert_true(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_int_equal(be->ops->rx(be, 0, bufs, 4), 1);
	assert_int_equal(bufs[0].len, 1000);
	assert_memory_equal(out[0], f[1], 1000);
	assert_int_equal(bufs[0].meta.flags, 0);
	assert_int_equal(bufs[0].meta.gso_type, 0);
	assert_false(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_int_equal(be->ops->rx(be, 0, bufs, 4), 0);

	/* A frame bigger than the buffer is dropped and counted. */
	assert_int_equal(tx_one(be, 0, f[1], 1000, NULL), 1);
	assert_int_equal(tx_one(be, 0, f[2], 60, NULL), 1);
	bufs[0].cap = 999;
	assert_int_equal(be->ops->rx(be, 0, bufs, 4), 1);
	assert_int_equal(bufs[0].len, 60);
	assert_int_equal(stats_of(be, 0).rx_dropped, 1);
	assert_int_equal(stats_of(be, 1).rx_dropped, 0);
	/* Out of range queue pairs are refused. */
	assert_int_equal(be->ops->tx(be, 2, pk, 1), -EINVAL);
	assert_int_equal(be->ops->rx(be, 2, bufs, 1), -EINVAL);
	assert_int_equal(be->ops->set_queue_pairs(be, 3), -EINVAL);
	assert_int_equal(be->ops->set_rx_offloads(be, 1u << 20), -EINVAL);
	netbe_free(be);
}

static void test_loop_full(void **state)
{
	struct netbe_options o = opts(2);
	struct netbe *be = open_be("loop", &o);
	static uint8_t f[64], out[BUF_CAP];
	struct netbe_rxbuf b = {.data = out, .cap = BUF_CAP};
	struct iovec iov = {f, sizeof(f)};
	struct netbe_txpkt pk[300];
	unsigned got = 0;
	int ret;

	(void)state;
	/* Before set_queue_pairs() a pair has no ring: frames are dropped. */
	assert_int_equal(tx_one(be, 0, f, 64, NULL), 0);
	assert_int_equal(stats_of(be, 0).tx_dropped, 1);
	assert_int_equal(be->ops->set_queue_pairs(be, 1), 0);
	make_frame(f, 64, 0);
	for (unsigned i = 0; i < 300; i++)
		pk[i] = (struct netbe_txpkt){.iov = &iov, .iovcnt = 1, .len = 64};
	ret = be->ops->tx(be, 0, pk, 300);
	assert_true(ret > 0 && ret < 300);
	assert_int_equal(stats_of(be, 0).tx_dropped, 1 + 300 - (unsigned)ret);
	assert_int_equal(tx_one(be, 0, f, 64, NULL), 0);
	while (be->ops->rx(be, 0, &b, 1) == 1)
		got++;
	assert_int_equal(got, (unsigned)ret);
	assert_false(fd_readable(be->ops->rx_fd(be, 0), 0));
	/* The ring works again after draining. */
	assert_int_equal(tx_one(be, 0, f, 64, NULL), 1);
	/* Pair 1 was never activated: still dropping. */
	assert_int_equal(tx_one(be, 1, f, 64, NULL), 0);
	assert_int_equal(stats_of(be, 1).tx_dropped, 1);
	netbe_free(be); /* with a frame still queued */
}

/* A UDP/IPv4 frame with a partial checksum, as a driver hands it over. */
static uint32_t udp_partial(uint8_t *f, uint16_t payload, struct netbe_meta *m)
{
	static const uint8_t src_mac[6] = {2, 0, 0, 0, 0, 1};
	uint16_t l4 = (uint16_t)(8 + payload);
	uint32_t off =
		build_ipv4(f, guest_mac, src_mac, htonl(0x0a000001), htonl(0x0a000002), 17, l4);

	put16(f + off, 1234);
	put16(f + off + 2, 5678);
	put16(f + off + 4, l4);
	for (uint16_t i = 0; i < payload; i++)
		f[off + 8 + i] = (uint8_t)(i * 7 + 1);
	put16(f + off + 6, csum_fold(pseudo_sum(f, l4)));
	*m = (struct netbe_meta){.flags = 1, .csum_start = (uint16_t)off, .csum_offset = 6};
	return off + l4;
}

static void test_loop_offloads(void **state)
{
	struct netbe_options o = opts(1);
	struct netbe *be = open_be("loop", &o);
	static uint8_t f[200], out[2][BUF_CAP];
	struct netbe_rxbuf b[2] = {{.data = out[0], .cap = BUF_CAP},
				   {.data = out[1], .cap = BUF_CAP}};
	struct netbe_meta m, gso = {.flags = 1,
				    .gso_type = 1,
				    .hdr_len = 54,
				    .gso_size = 100,
				    .csum_start = 34,
				    .csum_offset = 16};
	uint32_t len = udp_partial(f, 101, &m);

	(void)state;
	assert_int_equal(be->ops->set_queue_pairs(be, 1), 0);
	/* CSUM allowed: the partial checksum travels as it is. */
	assert_int_equal(be->ops->set_rx_offloads(be, NETBE_CAP_CSUM), 0);
	assert_int_equal(tx_one(be, 0, f, len, &m), 1);
	assert_int_equal(be->ops->rx(be, 0, b, 2), 1);
	assert_memory_equal(&b[0].meta, &m, sizeof(m));
	assert_memory_equal(out[0], f, len);
	/* Nothing allowed: metadata still travels (the device finishes
	 * partial checksums and segments GSO frames on its receive path);
	 * DATA_VALID from a driver is not passed on. */
	assert_int_equal(be->ops->set_rx_offloads(be, 0), 0);
	assert_int_equal(tx_one(be, 0, f, len, &gso), 1);
	m.flags |= VIRTIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(tx_one(be, 0, f, len, &m), 1);
	assert_int_equal(be->ops->rx(be, 0, b, 2), 2);
	assert_memory_equal(&b[0].meta, &gso, sizeof(gso));
	assert_int_equal(b[1].meta.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(b[1].meta.csum_start, 34);
	assert_int_equal(stats_of(be, 0).rx_dropped, 0);
	/* The driver's pseudo-header sum is left for the device to finish. */
	assert_int_equal(get16(out[1] + 40), get16(f + 40));
	assert_int_equal(csum_fold(pseudo_sum(out[1], (uint16_t)(len - 34))), get16(f + 40));
	netbe_free(be);
}

/* ------------------------------------------------------------------ */
/* sink and gen */

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

/* ------------------------------------------------------------------ */
/* dgram */

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

/* ------------------------------------------------------------------ */
/* tap: a real TAP in a network namespace (root only). */

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

	off = build_ipv4(f, tap_host_mac, guest_mac, me, host, 6, l4);
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
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1);
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, &me, 4);
	memcpy(f + 38, &host, 4);
	assert_int_equal(tx_one(be, 0, f, 60, NULL), 1);
	assert_true(tap_wait(be, 2, is_arp_reply, out, &res, 3000));
	memcpy(tap_host_mac, out + 22, 6);
	assert_memory_not_equal(tap_host_mac, peer_mac_unknown, 6);
	assert_int_equal(res.meta.flags, 0);
	assert_int_equal(res.meta.gso_type, 0);

	/* ICMP echo, sent from pair 1. */
	l4 = 8 + 32;
	off = build_ipv4(f, tap_host_mac, guest_mac, me, host, 1, l4);
	memset(f + off, 0, l4);
	f[off] = 8;
	put16(f + off + 4, 0x7171);
	put16(f + off + 6, 1);
	for (int i = 8; i < l4; i++)
		f[off + i] = (uint8_t)i;
	put16(f + off + 2, (uint16_t)~csum_fold(csum_add(0, f + off, l4)));
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

		off = build_ipv4(f, tap_host_mac, guest_mac, me, host, 1, 8 + 500);
		memset(f + off, 0, 508);
		f[off] = 8;
		put16(f + off + 4, 0x7171);
		put16(f + off + 2, (uint16_t)~csum_fold(csum_add(0, f + off, 508)));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_good),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_spec_options),
		cmocka_unit_test(test_loop_roundtrip),
		cmocka_unit_test(test_loop_full),
		cmocka_unit_test(test_loop_offloads),
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_gen),
		cmocka_unit_test(test_dgram),
		cmocka_unit_test_setup_teardown(test_tap, tap_setup, tap_teardown),
		cmocka_unit_test_setup_teardown(test_tap_fds, tap_setup, tap_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
