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

void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ethernet + IPv4 header (20 bytes, no options) for @l4_len bytes of
 * protocol @proto; returns the L4 offset (34). */
uint32_t build_ipv4(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac, uint32_t src_ip,
		    uint32_t dst_ip, uint8_t proto, uint16_t l4_len)
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
uint32_t pseudo_sum(const uint8_t *f, uint16_t l4_len)
{
	uint32_t s = csum_add(0, f + 14 + 12, 8);

	return s + f[14 + 9] + l4_len;
}
