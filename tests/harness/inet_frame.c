/* SPDX-License-Identifier: MIT */
/*
 * IPv4 test frames (inet_frame.h): RFC 791 header, RFC 768/793/792
 * payloads, the Internet checksum (RFC 1071) over each.
 */
#include "inet_frame.h"

#include <string.h>

#define ETH_LEN 14
#define IP_LEN	20

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* One's complement sum of @len bytes, folded, added to @sum. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet and IPv4 headers for @l4_len bytes of protocol @proto. */
static void put_ipv4(uint8_t *f, const struct inet_ends *e, uint8_t proto, size_t l4_len)
{
	uint8_t *ip = f + ETH_LEN;

	memcpy(f, e->dst_mac, 6);
	memcpy(f + 6, e->src_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, IP_LEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP_LEN + l4_len));
	ip[6] = 0x40; /* DF */
	ip[8] = 64;   /* TTL */
	ip[9] = proto;
	memcpy(ip + 12, e->src_ip, 4);
	memcpy(ip + 16, e->dst_ip, 4);
	put16(ip + 10, fold(sum16(ip, IP_LEN, 0)));
}

/* The UDP/TCP checksum over the pseudo-header and @l4_len bytes. */
static uint16_t l4_csum(const uint8_t *f, uint8_t proto, size_t l4_len)
{
	uint32_t sum = sum16(f + ETH_LEN + 12, 8, 0) + proto + (uint32_t)l4_len;

	return fold(sum16(f + ETH_LEN + IP_LEN, l4_len, sum));
}

size_t inet_frame_udp(uint8_t *f, const struct inet_ends *e, uint16_t sport, uint16_t dport,
		      const void *data, size_t len)
{
	uint8_t *u = f + ETH_LEN + IP_LEN;
	uint16_t c;

	put_ipv4(f, e, 17, 8 + len);
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + len));
	put16(u + 6, 0);
	memcpy(u + 8, data, len);
	c = l4_csum(f, 17, 8 + len);
	put16(u + 6, c ? c : 0xffff);
	return ETH_LEN + IP_LEN + 8 + len;
}

size_t inet_frame_tcp(uint8_t *f, const struct inet_ends *e, uint16_t sport, uint16_t dport,
		      uint32_t seq, uint32_t ack, uint8_t flags)
{
	return inet_frame_tcp_win(f, e, sport, dport, seq, ack, flags, 65535, 1460);
}

size_t inet_frame_tcp_win(uint8_t *f, const struct inet_ends *e, uint16_t sport, uint16_t dport,
			  uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win, uint16_t mss)
{
	size_t hl = (flags & INET_TCP_SYN) ? 24 : 20;
	uint8_t *t = f + ETH_LEN + IP_LEN;

	put_ipv4(f, e, 6, hl);
	memset(t, 0, hl);
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((hl / 4) << 4);
	t[13] = flags;
	put16(t + 14, win);
	if (hl == 24) {
		t[20] = 2; /* MSS */
		t[21] = 4;
		put16(t + 22, mss);
	}
	put16(t + 16, l4_csum(f, 6, hl));
	return ETH_LEN + IP_LEN + hl;
}

size_t inet_frame_icmp_echo(uint8_t *f, const struct inet_ends *e, uint16_t id, uint16_t seq)
{
	uint8_t *icmp = f + ETH_LEN + IP_LEN;
	const size_t len = 8 + 32;

	put_ipv4(f, e, 1, len);
	memset(icmp, 0, len);
	icmp[0] = 8; /* echo request */
	put16(icmp + 4, id);
	put16(icmp + 6, seq);
	for (size_t i = 8; i < len; i++)
		icmp[i] = (uint8_t)i;
	put16(icmp + 2, fold(sum16(icmp, len, 0)));
	return ETH_LEN + IP_LEN + len;
}

int inet_frame_proto(const uint8_t *f, size_t len)
{
	if (len >= ETH_LEN + 28 && f[12] == 0x08 && f[13] == 0x06)
		return -2;
	if (len < ETH_LEN + IP_LEN || f[12] != 0x08 || f[13] != 0x00)
		return -1;
	return f[ETH_LEN + 9];
}
