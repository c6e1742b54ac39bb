/* SPDX-License-Identifier: MIT */
/*
 * The helpers of the test_netbe_*.c files: see netbe_fixture.h.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "netbe_fixture.h"

const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct inet_ends slirp_guest_to_host(void)
{
	struct inet_ends e = {.src_ip = {10, 0, 2, 15},
			      .dst_mac = {0x52, 0x55, 10, 0, 2, 2},
			      .dst_ip = {10, 0, 2, 2}};

	memcpy(e.src_mac, guest_mac, 6);
	return e;
}
const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct netbe_options opts(unsigned nq)
{
	struct netbe_options o = {.max_queue_pairs = nq, .mtu = 1500};

	memcpy(o.guest_mac, guest_mac, 6);
	return o;
}

struct netbe *open_be(const char *spec, const struct netbe_options *o)
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

bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

struct netbe_stats stats_of(struct netbe *be, unsigned q)
{
	struct netbe_stats s;

	be->ops->get_stats(be, q, &s);
	return s;
}

/* An Ethernet frame of @len bytes: dst guest, src 02:..:01, type 0x88b5,
 * then @tag in every payload byte. */
void make_frame(uint8_t *f, uint32_t len, uint8_t tag)
{
	static const uint8_t src[6] = {2, 0, 0, 0, 0, 1};

	memcpy(f, guest_mac, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memset(f + 14, tag, len - 14);
}

int tx_one(struct netbe *be, unsigned q, const uint8_t *f, uint32_t len,
	   const struct netbe_meta *meta)
{
	struct iovec iov = {(void *)f, len};
	struct netbe_txpkt p = {.iov = &iov, .iovcnt = 1, .len = len};

	if (meta)
		p.meta = *meta;
	return be->ops->tx(be, q, &p, 1);
}

/* ------------------------------------------------------------------ */
/* Checksums and packets the tests build. */

uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t csum_finish(uint32_t sum)
{
	return (uint16_t)~csum_fold(sum);
}

void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

uint32_t build_ipv4(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac, const void *src_ip,
		    const void *dst_ip, uint8_t proto, uint16_t l4_len)
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
	memcpy(ip + 12, src_ip, 4);
	memcpy(ip + 16, dst_ip, 4);
	put16(ip + 10, csum_finish(csum_add(0, ip, 20)));
	return 34;
}

uint32_t pseudo_sum(const uint8_t *f, uint16_t l4_len)
{
	uint32_t s = csum_add(0, f + 14 + 12, 8);

	return s + f[14 + 9] + l4_len;
}

uint32_t build_arp(uint8_t *f, const uint8_t *dst, uint16_t op, const uint8_t *sha, const void *spa,
		   const uint8_t *tha, const void *tpa)
{
	memset(f, 0, 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, sha, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, sha, 6);
	memcpy(f + 28, spa, 4);
	if (tha)
		memcpy(f + 32, tha, 6);
	memcpy(f + 38, tpa, 4);
	return 60;
}
