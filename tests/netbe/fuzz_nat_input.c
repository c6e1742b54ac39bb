/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the user backend (lib/netbe/nat/) from the guest's side:
 * any sequence of frames through tx() on either of two queue pairs, and
 * rx() calls with buffers of any number and capacity, so the parser reads
 * every header of every protocol (Ethernet, ARP, IPv4, IPv6, TCP with its
 * options, UDP, ICMP, ICMPv6) and every handler that answers it runs
 * (ARP, neighbour discovery, DHCPv4, DHCPv6, TCP, UDP, echo).
 *
 * Host sockets are real: the process first moves into a network namespace
 * of its own (unshare(CLONE_NEWNET), so root), where only a loopback
 * exists: nothing the fuzzer makes up can leave the machine, a connect()
 * to anything but 127.0.0.1 / ::1 fails at once, and one to them meets a
 * closed port (refused) unless a flow of an earlier frame listens. Without
 * root the target exits 77 (skipped).
 *
 * A fresh backend (64 flows, 2 queue pairs) per input, so inputs replay
 * alike. Input, little-endian, reads past the end yield zeros:
 *   u8 config: bit 0 the guest accepts partial checksums, bit 1 TSO
 *   then up to 24 steps, each u8 op:
 *     op % 4 < 3: a frame on pair (u8 % 2) of u16 % 1601 bytes from the
 *                 input, split into (u8 % 4) + 1 iovec pieces
 *     op % 4 == 3: rx() on pair (u8 % 2) with (u8 % 8) + 1 buffers of
 *                 u16 % 2049 bytes each (a malloc() of exactly that size)
 *
 * Invariants (FUZZ_CHECK): tx() takes every frame; rx() returns 0..n; every
 * frame fits its buffer, is at least an Ethernet header long, comes from the
 * router's MAC and is not sent to it; an IPv4 header carries a
 * good checksum; a frame without NEEDS_CSUM carries a good transport
 * checksum (TCP, UDP, ICMP, ICMPv6), except an IP fragment, which carries
 * no NEEDS_CSUM, no DF and ends within 64 KiB. The guest's fragments are
 * reassembled (reasm.c): the seeds udp-frag4, udp-frag6 and icmp-frag
 * start from datagrams in fragments.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <unistd.h>

#include <vqnet/netbe.h>

#include "../fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_STEPS     24
#define FZ_FRAME_MAX 1600u
#define FZ_BUF_MAX   2048u
#define FZ_BUFS	     8

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t gw_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};

/* Private network namespace with its loopback up, once per process. */
static void once(void)
{
	static bool done;
	struct ifreq ifr = {0};
	FILE *f;
	int s;

	if (done)
		return;
	done = true;
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "fuzz-nat_input: needs a network namespace of its own (root): %s\n",
			strerror(errno));
		exit(77);
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	FUZZ_CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	FUZZ_CHECK(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
	close(s);
	/* Ping sockets for every group, in this namespace only, so echo
	 * requests reach icmp.c's socket path. */
	f = fopen("/proc/sys/net/ipv4/ping_group_range", "w");
	if (f) {
		fputs("0 2147483647\n", f);
		fclose(f);
	}
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 sum, computed here independently of lib/. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += rd16(p + i);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static bool sum_ok(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

/* The transport checksum of an IPv4 / IPv6 packet at @ip (@avail bytes). */
static void check_l4(const uint8_t *ip, size_t avail, bool v6)
{
	size_t l3 = v6 ? 40 : (size_t)(ip[0] & 0xf) * 4;
	size_t l4_len = v6 ? rd16(ip + 4) : (size_t)rd16(ip + 2) - l3;
	uint8_t proto = v6 ? ip[6] : ip[9];
	uint32_t s = 0;
	uint8_t pz[4] = {0};

	FUZZ_CHECK(l3 + l4_len <= avail);
	if (proto != 6 && proto != 17 && proto != 1 && proto != 58)
		return;
	if (proto != 1) { /* ICMPv4 has no pseudo-header */
		s = v6 ? sum16(0, ip + 8, 32) : sum16(0, ip + 12, 8);
		pz[0] = (uint8_t)(l4_len >> 8);
		pz[1] = (uint8_t)l4_len;
		s += rd16(pz) + proto;
		if (v6)
			s += (uint32_t)(l4_len >> 16);
	}
	FUZZ_CHECK(sum_ok(sum16(s, ip + l3, l4_len)));
}

static void check_frame(const struct netbe_rxbuf *b)
{
	const uint8_t *f = b->data;
	uint16_t type;

	FUZZ_CHECK(b->len >= 14 && b->len <= b->cap);
	/* Replies go to whoever asked (an ARP sender, a DHCP chaddr), never
	 * to the router itself; they always come from it. */
	FUZZ_CHECK(memcmp(f, gw_mac, 6));
	FUZZ_CHECK(!memcmp(f + 6, gw_mac, 6));
	type = rd16(f + 12);
	if (type == 0x0800) {
		FUZZ_CHECK(b->len >= 34);
		FUZZ_CHECK(sum_ok(sum16(0, f + 14, (size_t)(f[14] & 0xf) * 4)));
		/* A fragment (frag.c) has no transport checksum of its own to
		 * check: its piece of the datagram stays within 64 KiB, and a
		 * fragment never says "don't fragment". */
		if (rd16(f + 20) & 0x3fff) {
			FUZZ_CHECK(!(rd16(f + 20) & 0x4000) && !(b->meta.flags & 1));
			FUZZ_CHECK((size_t)(rd16(f + 20) & 0x1fff) * 8 + rd16(f + 16) <=
				   65535u + 20u);
		} else if (!(b->meta.flags & 1)) {
			check_l4(f + 14, b->len - 14, false);
		}
	} else if (type == 0x86dd) {
		FUZZ_CHECK(b->len >= 54);
		if (f[20] == 44) /* Fragment header */
			FUZZ_CHECK(b->len >= 62 && !(b->meta.flags & 1));
		else if (!(b->meta.flags & 1))
			check_l4(f + 14, b->len - 14, true);
	}
}

static void step_tx(struct netbe *be, struct fuzz_input *in)
{
	unsigned q = fin_u8(in) % 2, pieces = fin_u8(in) % 4 + 1, n = 0;
	uint32_t len = fin_u16(in) % (FZ_FRAME_MAX + 1);
	static uint8_t frame[FZ_FRAME_MAX];
	struct iovec iov[4];
	struct netbe_txpkt pkt;
	uint32_t off = 0;

	if (len > in->left)
		len = (uint32_t)in->left;
	memcpy(frame, in->p, len);
	in->p += len;
	in->left -= len;
	/* Equal pieces, the last one taking the rest. */
	for (unsigned i = 0; i < pieces && off < len; i++) {
		uint32_t l = i + 1 == pieces ? len - off : len / pieces;

		iov[n++] = (struct iovec){.iov_base = frame + off, .iov_len = l};
		off += l;
	}
	pkt = (struct netbe_txpkt){.iov = iov, .iovcnt = n, .len = len};
	FUZZ_CHECK(be->ops->tx(be, q, &pkt, 1) == 1);
}

static void step_rx(struct netbe *be, struct fuzz_input *in)
{
	unsigned q = fin_u8(in) % 2, n = fin_u8(in) % FZ_BUFS + 1;
	struct netbe_rxbuf bufs[FZ_BUFS];
	int got;

	for (unsigned i = 0; i < n; i++) {
		uint32_t cap = fin_u16(in) % (FZ_BUF_MAX + 1);

		bufs[i] = (struct netbe_rxbuf){.data = malloc(cap ? cap : 1), .cap = cap};
		FUZZ_CHECK(bufs[i].data);
	}
	got = be->ops->rx(be, q, bufs, n);
	FUZZ_CHECK(got >= 0 && (unsigned)got <= n);
	for (int i = 0; i < got; i++)
		check_frame(&bufs[i]);
	for (unsigned i = 0; i < n; i++)
		free(bufs[i].data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct netbe_options opt = {.max_queue_pairs = 2, .mtu = 1500, .max_flows = 64};
	static const char *const dns[] = {"127.0.0.1"};
	struct netbe *be;
	char err[256];
	uint8_t cfg;

	once();
	memcpy(opt.guest_mac, guest_mac, 6);
	opt.dns = dns;
	opt.n_dns = 1;
	if (netbe_new("user", &opt, &be, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	cfg = fin_u8(&in);
	FUZZ_CHECK(be->ops->set_queue_pairs(be, 2) == 0);
	FUZZ_CHECK(be->ops->set_rx_offloads(
			   be, (cfg & 1 ? NETBE_CAP_CSUM : 0) |
				       (cfg & 2 ? NETBE_CAP_TSO4 | NETBE_CAP_TSO6 : 0)) == 0);
	for (unsigned s = 0; s < FZ_STEPS && in.left; s++) {
		if (fin_u8(&in) % 4 < 3)
			step_tx(be, &in);
		else
			step_rx(be, &in);
	}
	netbe_free(be);
	return 0;
}
