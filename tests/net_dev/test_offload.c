/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the software offloads (lib/net_dev/offload.h).
 *
 * A small frame builder writes real Ethernet/VLAN/IPv4/IPv6/TCP/UDP frames
 * the way a guest driver does for VIRTIO_NET_HDR_F_NEEDS_CSUM (the L4
 * checksum field holds the pseudo-header sum). Segments are checked field
 * by field, and their checksums are verified with this file's own RFC 1071
 * code, not the library's. Truncated and lying frames are parsed from
 * buffers of their exact size so ASan sees any read past the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_dev/offload.h"
#include "spec/virtio_net.h"

#define FRAME_MAX (70u * 1024)
#define SEG_MAX	  (70u * 1024)

/* ---- independent helpers ---------------------------------------------- */

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)g16(p) << 16 | g16(p + 2);
}

static void p16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void p32(uint8_t *p, uint32_t v)
{
	p16(p, (uint16_t)(v >> 16));
	p16(p + 2, (uint16_t)v);
}

/* RFC 1071, written separately from the library's. */
static uint64_t t_sum(uint64_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	return s;
}

static uint16_t t_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static const uint8_t final_dst6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x99};

/* ---- frame builder ---------------------------------------------------- */

struct fspec {
	const char *name;
	bool ipv6;
	unsigned vlans; /* 0..2 */
	bool ip_opts;	/* IPv4: 8 bytes of options (one copied, one not) */
	unsigned ext;	/* IPv6: extension headers (hop-by-hop, then dest opts) */
	bool rthdr;	/* IPv6: a routing header, final dst final_dst6 */
	bool srh;	/* ... of type 4 (RFC 8754) rather than 2 */
	uint8_t proto;	/* 6 or 17 */
	bool tcp_opts;	/* 12 bytes of TCP options */
	uint8_t tcp_flags;
	bool df;
	uint32_t payload;
	uint8_t gso_type;
	uint16_t gso_size;
	int expect_segs; /* -1: net_dev_gso_init() refuses */
};

struct built {
	uint32_t len, l3_off, l4_off, l4_len, hdr_len;
	struct netbe_meta meta;
};

#define SEQ0  0xfffff000u /* wraps during segmentation */
#define IPID0 0xfffeu	  /* wraps too */

static uint8_t pat(uint32_t i)
{
	return (uint8_t)(i * 7 + 3 + (i >> 8));
}

/* Pseudo-header sum of the L4 part of @f (RFC 9293 §3.1, RFC 8200 §8.1). */
static uint64_t t_pseudo(const uint8_t *f, const struct built *b, const struct fspec *s,
			 uint32_t l4len)
{
	uint8_t t[4];
	uint64_t sum;

	if (s->ipv6) {
		sum = t_sum(0, f + b->l3_off + 8, 16);
		sum = t_sum(sum, s->rthdr ? final_dst6 : f + b->l3_off + 24, 16);
		p32(t, l4len);
		sum = t_sum(sum, t, 4);
	} else {
		sum = t_sum(0, f + b->l3_off + 12, 8);
		p16(t, (uint16_t)l4len);
		sum = t_sum(sum, t, 2);
	}
	t[0] = 0;
	t[1] = s->proto;
	return t_sum(sum, t, 2);
}

static void build(uint8_t *f, const struct fspec *s, struct built *b)
{
	uint32_t off = 12, ip_hlen;
	static const uint8_t mac[12] = {0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2};

	memset(b, 0, sizeof(*b));
	memcpy(f, mac, 12);
	for (unsigned v = 0; v < s->vlans; v++) {
		p16(f + off, v == 0 && s->vlans == 2 ? 0x88a8 : 0x8100);
		p16(f + off + 2, (uint16_t)(100 + v));
		off += 4;
	}
	p16(f + off, s->ipv6 ? 0x86dd : 0x0800);
	off += 2;
	b->l3_off = off;
	if (!s->ipv6) {
		ip_hlen = s->ip_opts ? 28 : 20;
		memset(f + off, 0, ip_hlen);
		f[off] = (uint8_t)(0x40 | ip_hlen / 4);
		p16(f + off + 4, IPID0);
		p16(f + off + 6, s->df ? 0x4000 : 0);
		f[off + 8] = 64;
		f[off + 9] = s->proto;
		p32(f + off + 12, 0x0a000001);
		p32(f + off + 16, 0x0a000002);
		if (s->ip_opts) {
			static const uint8_t o[8] = {0x94, 4, 0, 0, 0x44, 4, 5, 0};
			memcpy(f + off + 20, o, 8);
		}
		off += ip_hlen;
	} else {
		static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};
		uint8_t *nh = f + off + 6;
		memset(f + off, 0, 40);
		f[off] = 0x60;
		f[off + 7] = 64;
		memcpy(f + off + 8, a6, 16);
		f[off + 23] = 1;
		memcpy(f + off + 24, a6, 16);
		f[off + 39] = 2;
		off += 40;
		for (unsigned e = 0; e < s->ext; e++) {
			*nh = e == 0 ? 0 : 60;
			uint8_t h[8] = {0, 0, 1, 4, 0, 0, 0, 0}; /* PadN */
			memcpy(f + off, h, 8);
			nh = f + off;
			off += 8;
		}
		if (s->rthdr) {
			*nh = 43;
			memset(f + off, 0, 24);
			f[off + 1] = 2;		     /* (2 + 1) * 8 bytes */
			f[off + 2] = s->srh ? 4 : 2; /* type; the same layout here */
			f[off + 3] = 1;		     /* segments left */
			memcpy(f + off + 8, final_dst6, 16);
			nh = f + off;
			off += 24;
		}
		*nh = s->proto;
	}
	b->l4_off = off;
	if (s->proto == 6) {
		b->l4_len = s->tcp_opts ? 32 : 20;
		memset(f + off, 0, b->l4_len);
		p16(f + off, 0x1234);
		p16(f + off + 2, 80);
		p32(f + off + 4, SEQ0);
		p32(f + off + 8, 0x01020304);
		f[off + 12] = (uint8_t)(b->l4_len / 4 << 4);
		f[off + 13] = s->tcp_flags;
		p16(f + off + 14, 0xffff);
		if (s->tcp_opts) {
			static const uint8_t o[12] = {2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1};
			memcpy(f + off + 20, o, 12);
		}
	} else {
		b->l4_len = 8;
		memset(f + off, 0, 8);
		p16(f + off, 0x1234);
		p16(f + off + 2, 53);
		p16(f + off + 4, (uint16_t)(8 + s->payload));
	}
	b->hdr_len = off + b->l4_len;
	for (uint32_t i = 0; i < s->payload; i++)
		f[b->hdr_len + i] = pat(i);
	b->len = b->hdr_len + s->payload;
	if (!s->ipv6) {
		uint8_t *ip = f + b->l3_off;
		p16(ip + 2, (uint16_t)(b->len - b->l3_off));
		p16(ip + 10, (uint16_t)~t_fold(t_sum(0, ip, (ip[0] & 0xf) * 4u)));
	} else {
		p16(f + b->l3_off + 4, (uint16_t)(b->len - b->l3_off - 40));
	}
	/* NEEDS_CSUM: the field holds the pseudo-header sum (§5.1.6.2). */
	uint32_t csum_off = s->proto == 6 ? 16 : 6;
	p16(f + b->l4_off + csum_off, t_fold(t_pseudo(f, b, s, b->len - b->l4_off)));
	b->meta = (struct netbe_meta){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .gso_type = s->gso_type,
				      .hdr_len = (uint16_t)b->hdr_len,
				      .gso_size = s->gso_size,
				      .csum_start = (uint16_t)b->l4_off,
				      .csum_offset = (uint16_t)csum_off};
}

/* A frame of exactly its size on the heap (ASan). */
static uint8_t *exact_copy(const uint8_t *f, uint32_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	memcpy(p, f, len);
	return p;
}

static bool ipv4_csum_ok(const uint8_t *ip)
{
	return t_fold(t_sum(0, ip, (ip[0] & 0xf) * 4u)) == 0xffff;
}

/* ---- segmentation ------------------------------------------------------ */

static void check_tcp_segment(const uint8_t *seg, uint32_t sl, const uint8_t *orig,
			      const struct built *b, const struct fspec *s, unsigned idx,
			      unsigned nsegs)
{
	const uint8_t *ip = seg + b->l3_off, *th = seg + b->l4_off;
	uint8_t want_flags = s->tcp_flags;

	/* Headers before L3 and the rest of the L3/L4 headers unchanged. */
	assert_memory_equal(seg, orig, b->l3_off);
	if (!s->ipv6) {
		assert_int_equal(g16(ip + 2), sl - b->l3_off);
		assert_int_equal(g16(ip + 4), (uint16_t)(IPID0 + idx));
		assert_int_equal(g16(ip + 6), s->df ? 0x4000 : 0);
		assert_true(ipv4_csum_ok(ip));
		assert_memory_equal(ip + 12, orig + b->l3_off + 12, b->l4_off - b->l3_off - 12);
	} else {
		assert_int_equal(g16(ip + 4), sl - b->l3_off - 40);
		assert_memory_equal(ip + 6, orig + b->l3_off + 6, b->l4_off - b->l3_off - 6);
	}
	assert_int_equal(g32(th + 4), SEQ0 + idx * (uint32_t)s->gso_size);
	if (idx != nsegs - 1)
		want_flags &= (uint8_t)~0x09; /* FIN, PSH */
	if (idx != 0)
		want_flags &= (uint8_t)~0x80; /* CWR */
	assert_int_equal(th[13], want_flags);
	assert_memory_equal(th + 20, orig + b->l4_off + 20, b->l4_len - 20);
	uint32_t l4len = sl - b->l4_off;
	assert_int_equal(t_fold(t_sum(t_pseudo(seg, b, s, l4len), th, l4len)), 0xffff);
}

/* Segment @f and check every segment; return the number of segments. */
static unsigned segment_tcp(const uint8_t *f, const struct built *b, const struct fspec *s,
			    uint8_t *seg, uint8_t *reasm)
{
	struct net_dev_gso_iter it;
	uint32_t got = 0, payload = b->len - b->hdr_len;
	unsigned nsegs = payload ? (payload + s->gso_size - 1) / s->gso_size : 1, idx = 0;
	int sl;

	assert_int_equal(net_dev_gso_init(&it, f, b->len, &b->meta), 0);
	while ((sl = net_dev_gso_next(&it, seg, SEG_MAX)) > 0) {
		uint32_t n = (uint32_t)sl - b->hdr_len;
		assert_true((uint32_t)sl >= b->hdr_len);
		assert_true(n <= s->gso_size);
		if (idx + 1 < nsegs)
			assert_int_equal(n, s->gso_size);
		check_tcp_segment(seg, (uint32_t)sl, f, b, s, idx, nsegs);
		memcpy(reasm + got, seg + b->hdr_len, n);
		got += n;
		idx++;
	}
	assert_int_equal(sl, 0);
	assert_int_equal(net_dev_gso_next(&it, seg, SEG_MAX), 0);
	assert_int_equal(idx, nsegs);
	assert_int_equal(got, payload);
	assert_memory_equal(reasm, f + b->hdr_len, payload);
	return idx;
}

/* UFO: check the fragments and the reassembled datagram. */
static unsigned segment_udp(const uint8_t *f, const struct built *b, const struct fspec *s,
			    uint8_t *seg, uint8_t *reasm)
{
	struct net_dev_gso_iter it;
	uint32_t ihl = b->l4_off - b->l3_off, dgram = b->len - b->l4_off, got = 0;
	uint32_t step = s->gso_size & ~7u;
	unsigned idx = 0, nfrag = (dgram + step - 1) / step;
	int sl;

	assert_int_equal(net_dev_gso_init(&it, f, b->len, &b->meta), 0);
	while ((sl = net_dev_gso_next(&it, seg, SEG_MAX)) > 0) {
		const uint8_t *ip = seg + b->l3_off;
		uint32_t n = (uint32_t)sl - b->l4_off;
		bool last = idx == nfrag - 1;
		assert_memory_equal(seg, f, b->l3_off);
		assert_int_equal(ip[0] & 0xf, ihl / 4);
		assert_int_equal(g16(ip + 2), sl - b->l3_off);
		assert_int_equal(g16(ip + 4), IPID0); /* one id for all fragments */
		assert_true(ipv4_csum_ok(ip));
		if (nfrag == 1) {
			assert_int_equal(g16(ip + 6), s->df ? 0x4000 : 0);
		} else {
			assert_int_equal(g16(ip + 6), got / 8 | (last ? 0 : 0x2000));
			assert_true(last || n % 8 == 0);
			assert_int_equal(n, last ? dgram - got : step);
		}
		if (ihl > 20) {
			/* copied option kept; the other only in the first */
			static const uint8_t first[8] = {0x94, 4, 0, 0, 0x44, 4, 5, 0};
			static const uint8_t rest[8] = {0x94, 4, 0, 0, 1, 1, 1, 1};
			assert_memory_equal(ip + 20, idx == 0 ? first : rest, 8);
		}
		memcpy(reasm + got, seg + b->l4_off, n);
		got += n;
		idx++;
	}
	assert_int_equal(sl, 0);
	assert_int_equal(idx, nfrag);
	assert_int_equal(got, dgram);
	/* The datagram: length, checksum, data. */
	assert_int_equal(g16(reasm + 4), dgram);
	assert_int_not_equal(g16(reasm + 6), 0);
	assert_int_equal(t_fold(t_sum(t_pseudo(f, b, s, dgram), reasm, dgram)), 0xffff);
	assert_memory_equal(reasm + 8, f + b->hdr_len, dgram - 8);
	return idx;
}

#define TCP_ACK 0x10u
#define ALLF	(0x80u | 0x40u | TCP_ACK | 0x08u | 0x01u) /* CWR ECE ACK PSH FIN */
#define T4	VIRTIO_NET_HDR_GSO_TCPV4
#define T6	VIRTIO_NET_HDR_GSO_TCPV6
#define UDPG	VIRTIO_NET_HDR_GSO_UDP
#define ECN	VIRTIO_NET_HDR_GSO_ECN

static const struct fspec gso_cases[] = {
	{"tcp4 3 segs ECN", .proto = 6, .tcp_flags = ALLF, .payload = 4000, .gso_type = T4 | ECN,
	 .gso_size = 1448, .df = true, .expect_segs = 3},
	{"tcp4 vlan ip+tcp options", .vlans = 1, .ip_opts = true, .proto = 6, .tcp_opts = true,
	 .tcp_flags = TCP_ACK | 0x08, .payload = 9000, .gso_type = T4, .gso_size = 1400,
	 .expect_segs = 7},
	{"tcp4 qinq", .vlans = 2, .proto = 6, .tcp_flags = ALLF, .payload = 2896, .gso_type = T4,
	 .gso_size = 1448, .expect_segs = 2},
	{"tcp4 fits one segment", .proto = 6, .tcp_flags = ALLF, .payload = 1000, .gso_type = T4,
	 .gso_size = 1448, .expect_segs = 1},
	{"tcp4 no payload", .proto = 6, .tcp_flags = TCP_ACK | 0x01, .payload = 0, .gso_type = T4,
	 .gso_size = 1448, .expect_segs = 1},
	{"tcp4 gso_size 1", .proto = 6, .tcp_flags = ALLF, .payload = 300, .gso_type = T4,
	 .gso_size = 1, .expect_segs = 300},
	{"tcp4 64k", .proto = 6, .tcp_flags = ALLF, .payload = 65000, .gso_type = T4 | ECN,
	 .gso_size = 1460, .expect_segs = 45},
	{"tcp6 exact multiple", .ipv6 = true, .proto = 6, .tcp_flags = ALLF, .payload = 3000,
	 .gso_type = T6, .gso_size = 1000, .expect_segs = 3},
	{"tcp6 ext headers vlan", .ipv6 = true, .vlans = 1, .ext = 2, .proto = 6, .tcp_opts = true,
	 .tcp_flags = ALLF, .payload = 5000, .gso_type = T6 | ECN, .gso_size = 1440,
	 .expect_segs = 4},
	{"tcp6 routing header", .ipv6 = true, .ext = 1, .rthdr = true, .proto = 6,
	 .tcp_flags = ALLF, .payload = 3001, .gso_type = T6, .gso_size = 1000, .expect_segs = 4},
	{"tcp6 segment routing header", .ipv6 = true, .rthdr = true, .srh = true, .proto = 6,
	 .tcp_flags = ALLF, .payload = 2000, .gso_type = T6, .gso_size = 1000, .expect_segs = 2},
	{"udp4 ufo", .proto = 17, .payload = 4000, .gso_type = UDPG, .gso_size = 1480,
	 .expect_segs = 3},
	{"udp4 ufo gso_size rounded", .proto = 17, .ip_opts = true, .vlans = 1, .payload = 3000,
	 .gso_type = UDPG, .gso_size = 1003, .expect_segs = 4},
	{"udp4 ufo single, DF kept", .proto = 17, .df = true, .payload = 100, .gso_type = UDPG,
	 .gso_size = 1480, .expect_segs = 1},
	{"udp4 ufo gso_size 8", .proto = 17, .payload = 200, .gso_type = UDPG, .gso_size = 8,
	 .expect_segs = 26},
	{"udp6 ufo refused", .ipv6 = true, .proto = 17, .payload = 4000, .gso_type = UDPG,
	 .gso_size = 1440, .expect_segs = -1},
	{"udp4 ufo gso_size 7 refused", .proto = 17, .payload = 100, .gso_type = UDPG,
	 .gso_size = 7, .expect_segs = -1},
	{"tcp4 over 64k payload refused", .proto = 6, .payload = 65536, .gso_type = T4,
	 .gso_size = 1000, .expect_segs = -1},
	{"tcp4 segment IP length overflow", .proto = 6, .payload = 65535, .gso_type = T4,
	 .gso_size = 65535, .expect_segs = -1},
};

static void test_gso_table(void **state)
{
	uint8_t *f = malloc(FRAME_MAX), *seg = malloc(SEG_MAX), *reasm = malloc(FRAME_MAX);
	(void)state;
	assert_non_null(f);
	assert_non_null(seg);
	assert_non_null(reasm);
	for (size_t i = 0; i < sizeof(gso_cases) / sizeof(gso_cases[0]); i++) {
		const struct fspec *s = &gso_cases[i];
		struct built b;
		struct net_dev_gso_iter it;
		print_message("gso: %s\n", s->name);
		build(f, s, &b);
		uint8_t *ex = exact_copy(f, b.len);
		if (s->expect_segs < 0) {
			assert_int_equal(net_dev_gso_init(&it, ex, b.len, &b.meta), -EINVAL);
			assert_int_equal(net_dev_gso_next(&it, seg, SEG_MAX), -EINVAL);
		} else if (s->proto == 6) {
			assert_int_equal(segment_tcp(ex, &b, s, seg, reasm), s->expect_segs);
		} else {
			assert_int_equal(segment_udp(ex, &b, s, seg, reasm), s->expect_segs);
		}
		/* The source frame is never written. */
		assert_memory_equal(ex, f, b.len);
		free(ex);
	}
	free(f);
	free(seg);
	free(reasm);
}

/* hdr_len is a hint: a wrong one changes nothing (§5.1.6.2.2). */
static void test_gso_ignores_hdr_len(void **state)
{
	static uint8_t f[8192], seg[8192], reasm[8192];
	const struct fspec s = {
		.proto = 6, .tcp_flags = ALLF, .payload = 4000, .gso_type = T4, .gso_size = 1448};
	struct built b;
	(void)state;
	build(f, &s, &b);
	for (unsigned h = 0; h < 3; h++) {
		b.meta.hdr_len = (uint16_t[]){0, 1, 60000}[h];
		assert_int_equal(net_dev_tx_meta_check(f, b.len, b.len, &b.meta, NULL), 0);
		assert_int_equal(segment_tcp(f, &b, &s, seg, reasm), 3);
	}
}

/* Worst case bound: 65535 one-byte segments. */
static void test_gso_many_segments(void **state)
{
	uint8_t *f = malloc(FRAME_MAX), seg[128];
	const struct fspec s = {
		.proto = 6, .tcp_flags = ALLF, .payload = 65535, .gso_type = T4, .gso_size = 1};
	struct built b;
	struct net_dev_gso_iter it;
	unsigned n = 0;
	int sl;
	(void)state;
	assert_non_null(f);
	build(f, &s, &b);
	assert_int_equal(net_dev_gso_init(&it, f, b.len, &b.meta), 0);
	while ((sl = net_dev_gso_next(&it, seg, sizeof(seg))) > 0) {
		assert_int_equal(sl, b.hdr_len + 1);
		assert_int_equal(seg[b.hdr_len], f[b.hdr_len + n]);
		n++;
	}
	assert_int_equal(sl, 0);
	assert_int_equal(n, 65535);
	free(f);
}

static void test_gso_enospc(void **state)
{
	static uint8_t f[8192], seg[8192];
	const struct fspec s = {
		.proto = 6, .tcp_flags = ALLF, .payload = 3000, .gso_type = T4, .gso_size = 1448};
	struct built b;
	struct net_dev_gso_iter it;
	(void)state;
	build(f, &s, &b);
	assert_int_equal(net_dev_gso_init(&it, f, b.len, &b.meta), 0);
	assert_int_equal(net_dev_gso_next(&it, seg, b.hdr_len + 1447), -ENOSPC);
	/* Nothing consumed: the same segment comes with room. */
	assert_int_equal(net_dev_gso_next(&it, seg, b.hdr_len + 1448), b.hdr_len + 1448);
	assert_int_equal(g32(seg + b.l4_off + 4), SEQ0);
	assert_int_equal(net_dev_gso_next(&it, seg, sizeof(seg)), b.hdr_len + 1448);
	assert_int_equal(net_dev_gso_next(&it, seg, b.hdr_len + 103), -ENOSPC);
	assert_int_equal(net_dev_gso_next(&it, seg, b.hdr_len + 104), b.hdr_len + 104);
	assert_int_equal(net_dev_gso_next(&it, seg, sizeof(seg)), 0);
}

/* IPv4 total length and UDP length lie (they are not used for offsets):
 * segments follow the frame's real length; a UFO datagram whose real
 * length exceeds what IPv4 can reassemble is refused. */
static void test_gso_lying_lengths(void **state)
{
	uint8_t *f = malloc(FRAME_MAX), *seg = malloc(SEG_MAX), *reasm = malloc(FRAME_MAX);
	const struct fspec s = {
		.proto = 6, .tcp_flags = ALLF, .payload = 3000, .gso_type = T4, .gso_size = 1448};
	const struct fspec u = {.proto = 17, .payload = 65508, .gso_type = UDPG, .gso_size = 1480};
	struct net_dev_gso_iter it;
	struct built b;
	(void)state;
	assert_non_null(f);
	assert_non_null(seg);
	assert_non_null(reasm);
	build(f, &s, &b);
	p16(f + b.l3_off + 2, 40); /* claims no payload */
	assert_int_equal(segment_tcp(f, &b, &s, seg, reasm), 3);
	build(f, &u, &b);
	p16(f + b.l3_off + 2, 1500); /* the real one, 65536, does not fit */
	assert_int_equal(net_dev_gso_init(&it, f, b.len, &b.meta), -EINVAL);
	free(f);
	free(seg);
	free(reasm);
}

/* Every prefix of GSO frames (lying lengths: IP total length and UDP
 * length claim the whole frame) from an exact-size buffer: init either
 * refuses or segments within bounds. */
static void test_gso_truncated(void **state)
{
	static uint8_t f[4096], seg[4096];
	static const struct fspec fs[] = {
		{.proto = 6,
		 .tcp_opts = true,
		 .tcp_flags = ALLF,
		 .payload = 600,
		 .gso_type = T4,
		 .gso_size = 100},
		{.ipv6 = true,
		 .ext = 2,
		 .rthdr = true,
		 .vlans = 2,
		 .proto = 6,
		 .payload = 300,
		 .gso_type = T6,
		 .gso_size = 64},
		{.proto = 17, .ip_opts = true, .payload = 300, .gso_type = UDPG, .gso_size = 64},
	};
	(void)state;
	for (size_t k = 0; k < sizeof(fs) / sizeof(fs[0]); k++) {
		struct built b;
		build(f, &fs[k], &b);
		for (uint32_t len = 0; len <= b.len; len++) {
			uint8_t *ex = exact_copy(f, len);
			struct net_dev_gso_iter it;
			int rc = net_dev_gso_init(&it, ex, len, &b.meta), sl;
			if (len < b.hdr_len)
				assert_int_equal(rc, -EINVAL);
			else
				assert_int_equal(rc, 0);
			uint32_t total = 0;
			while (rc == 0 && (sl = net_dev_gso_next(&it, seg, sizeof(seg))) > 0)
				total += (uint32_t)sl - it.hdr_len;
			if (rc == 0)
				assert_int_equal(total, len - it.hdr_len);
			free(ex);
		}
	}
}

/* ---- parsing ------------------------------------------------------------ */

static void test_parse_layouts(void **state)
{
	static uint8_t f[4096];
	struct net_dev_frame_info fi;
	struct built b;
	(void)state;

	build(f, &(struct fspec){.vlans = 2, .proto = 6, .tcp_opts = true, .payload = 10}, &b);
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_int_equal(fi.ethertype, 0x0800);
	assert_true(fi.has_vlan);
	assert_int_equal(fi.vlan_tci, 100);
	assert_int_equal(fi.l3_off, 22);
	assert_int_equal(fi.l4_off, 42);
	assert_int_equal(fi.l4_len, 32);
	assert_int_equal(fi.l4_proto, 6);
	assert_false(fi.ipv6);

	build(f, &(struct fspec){.ipv6 = true, .ext = 2, .rthdr = true, .proto = 17, .payload = 3},
	      &b);
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_true(fi.ipv6);
	assert_false(fi.has_vlan);
	assert_int_equal(fi.l3_off, 14);
	assert_int_equal(fi.l4_off, 14 + 40 + 16 + 24);
	assert_int_equal(fi.l4_len, 8);
	assert_int_equal(fi.l4_proto, 17);

	/* IPv6 fragment header: no L4. */
	build(f, &(struct fspec){.ipv6 = true, .proto = 6, .payload = 40}, &b);
	f[14 + 6] = 44;
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_int_equal(fi.l4_off, 0);
	assert_int_equal(fi.l4_proto, 44);

	/* More extension headers than followed: no L4, no error. */
	build(f, &(struct fspec){.ipv6 = true, .ext = 9, .proto = 6, .payload = 40}, &b);
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_int_equal(fi.l4_off, 0);
	build(f, &(struct fspec){.ipv6 = true, .ext = 8, .proto = 6, .payload = 40}, &b);
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_int_equal(fi.l4_off, 14 + 40 + 64);

	/* IPv4 fragments: no L4. */
	build(f, &(struct fspec){.proto = 17, .payload = 40}, &b);
	p16(f + 14 + 6, 0x2000);
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_int_equal(fi.l4_off, 0);
	p16(f + 14 + 6, 0x0001);
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_int_equal(fi.l4_off, 0);

	/* Non-IP (ARP); three VLAN tags: the third is not followed. */
	build(f, &(struct fspec){.proto = 17, .payload = 40}, &b);
	p16(f + 12, 0x0806);
	assert_int_equal(net_dev_frame_parse(f, 60, &fi), 0);
	assert_int_equal(fi.l3_off, 0);
	assert_int_equal(fi.ethertype, 0x0806);
	build(f, &(struct fspec){.vlans = 2, .proto = 17, .payload = 40}, &b);
	memmove(f + 20, f + 16, b.len - 16);
	p16(f + 16, 0x8100);
	assert_int_equal(net_dev_frame_parse(f, b.len + 4, &fi), 0);
	assert_int_equal(fi.ethertype, 0x8100);
	assert_int_equal(fi.l3_off, 0);
	/* Other L4 protocol. */
	build(f, &(struct fspec){.proto = 17, .payload = 40}, &b);
	f[14 + 9] = 1; /* ICMP */
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), 0);
	assert_int_equal(fi.l3_off, 14);
	assert_int_equal(fi.l4_off, 0);
	assert_int_equal(fi.l4_proto, 1);
}

static void test_parse_malformed(void **state)
{
	static uint8_t f[4096];
	struct net_dev_frame_info fi;
	struct built b;
	(void)state;

	build(f, &(struct fspec){.proto = 6, .payload = 10}, &b);
	f[14] = 0x44; /* IHL 4 */
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), -EINVAL);
	f[14] = 0x55; /* version 5 */
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), -EINVAL);
	f[14] = 0x4f; /* IHL 15: 60 bytes, TCP header then cut */
	assert_int_equal(net_dev_frame_parse(f, 14 + 59, &fi), -EINVAL);
	build(f, &(struct fspec){.proto = 6, .payload = 10}, &b);
	p16(f + 16, 19); /* total length below the header */
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), -EINVAL);
	build(f, &(struct fspec){.proto = 6, .payload = 10}, &b);
	f[b.l4_off + 12] = 0x40; /* data offset 4 */
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), -EINVAL);
	f[b.l4_off + 12] = 0xf0; /* data offset 15: beyond the frame */
	assert_int_equal(net_dev_frame_parse(f, b.l4_off + 59, &fi), -EINVAL);
	assert_int_equal(net_dev_frame_parse(f, b.l4_off + 60, &fi), 0);
	build(f, &(struct fspec){.ipv6 = true, .proto = 6, .payload = 10}, &b);
	f[14] = 0x40; /* IPv6 ethertype, version 4 */
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), -EINVAL);
	build(f, &(struct fspec){.ipv6 = true, .ext = 1, .proto = 6, .payload = 10}, &b);
	f[14 + 40 + 1] = 255; /* extension header of 2 KiB */
	assert_int_equal(net_dev_frame_parse(f, b.len, &fi), -EINVAL);
	assert_int_equal(net_dev_frame_parse(f, 13, &fi), -EINVAL);
}

/* Every prefix of every layout parses without reading past it. */
static void test_parse_prefixes(void **state)
{
	static uint8_t f[4096];
	static const struct fspec fs[] = {
		{.vlans = 2, .ip_opts = true, .proto = 6, .tcp_opts = true, .payload = 4},
		{.vlans = 1, .proto = 17, .payload = 4},
		{.ipv6 = true, .ext = 3, .rthdr = true, .proto = 6, .tcp_opts = true, .payload = 4},
		{.ipv6 = true, .vlans = 2, .proto = 17, .payload = 4},
	};
	(void)state;
	for (size_t k = 0; k < sizeof(fs) / sizeof(fs[0]); k++) {
		struct built b;
		build(f, &fs[k], &b);
		for (uint32_t len = 0; len <= b.len; len++) {
			uint8_t *ex = exact_copy(f, len);
			struct net_dev_frame_info fi;
			int rc = net_dev_frame_parse(ex, len, &fi);
			assert_int_equal(rc, len < b.hdr_len ? -EINVAL : 0);
			if (rc == 0) {
				assert_int_equal(fi.l4_off, b.l4_off);
				assert_true((uint32_t)fi.l4_off + fi.l4_len <= len);
			}
			free(ex);
		}
	}
}

/* ---- header rules --------------------------------------------------------- */

enum frame_kind { F_TCP4, F_TCP6, F_UDP4, F_UDP6, F_ARP, F_TCP4_FRAG };

struct meta_case {
	const char *name;
	enum frame_kind kind;
	struct netbe_meta m; /* csum_start/csum_offset 0xffff: the frame's own */
	int head_cut;	     /* head_len = l4_off + head_cut when > 0 */
	int frame_extra;     /* frame_len adjustment */
	int rc;
};

#define OWN 0xffff
#define NC  VIRTIO_NET_HDR_F_NEEDS_CSUM
#define DV  VIRTIO_NET_HDR_F_DATA_VALID
#define GSOK(t, sz)                                                                                \
	{                                                                                          \
		.flags = NC, .gso_type = (t), .gso_size = (sz), .csum_start = OWN,                 \
		.csum_offset = OWN                                                                 \
	}

static const struct meta_case meta_cases[] = {
	{"no offload", F_TCP4, {0}, 0, 0, 0},
	{"DATA_VALID ignored", F_TCP4, {.flags = DV}, 0, 0, 0},
	/* §5.1.6.2.2: the device ignores flag bits it does not recognize. */
	{"RSC_INFO ignored", F_TCP4, {.flags = VIRTIO_NET_HDR_F_RSC_INFO}, 0, 0, 0},
	{"unknown flag ignored", F_TCP4, {.flags = 0x80}, 0, 0, 0},
	{"csum fits", F_TCP4, {.flags = NC, .csum_start = OWN, .csum_offset = OWN}, 0, 0, 0},
	{"csum any offset that fits",
	 F_TCP4,
	 {.flags = NC, .csum_start = 14, .csum_offset = 40},
	 0,
	 0,
	 0},
	{"csum field ends at the frame end",
	 F_ARP,
	 {.flags = NC, .csum_start = 58, .csum_offset = 0},
	 0,
	 0,
	 0},
	{"csum field past the end",
	 F_ARP,
	 {.flags = NC, .csum_start = 58, .csum_offset = 1},
	 0,
	 0,
	 -EINVAL},
	{"csum_start past the end",
	 F_ARP,
	 {.flags = NC, .csum_start = 0xfffe, .csum_offset = 0xffff},
	 0,
	 0,
	 -EINVAL},
	{"csum without NEEDS_CSUM not checked",
	 F_ARP,
	 {.csum_start = 0xffff, .csum_offset = 0xffff},
	 0,
	 0,
	 0},
	{"tso4", F_TCP4, GSOK(T4, 1448), 0, 0, 0},
	{"tso4 ecn", F_TCP4, GSOK(T4 | ECN, 1448), 0, 0, 0},
	{"tso6 ecn", F_TCP6, GSOK(T6 | ECN, 1448), 0, 0, 0},
	{"ufo4", F_UDP4, GSOK(UDPG, 1480), 0, 0, 0},
	{"ufo6 passes the check", F_UDP6, GSOK(UDPG, 1440), 0, 0, 0},
	{"gso type 2", F_TCP4, GSOK(2, 1448), 0, 0, -EINVAL},
	{"gso type 5", F_TCP4, GSOK(5, 1448), 0, 0, -EINVAL},
	{"gso type 0x7f", F_TCP4, GSOK(0x7f, 1448), 0, 0, -EINVAL},
	{"ECN alone",
	 F_TCP4,
	 {.flags = NC, .gso_type = ECN, .csum_start = OWN, .csum_offset = OWN},
	 0,
	 0,
	 -EINVAL},
	{"ECN with UDP", F_UDP4, GSOK(UDPG | ECN, 1480), 0, 0, -EINVAL},
	{"GSO without NEEDS_CSUM", F_TCP4, {.gso_type = T4, .gso_size = 1448}, 0, 0, -EINVAL},
	{"gso_size 0", F_TCP4, GSOK(T4, 0), 0, 0, -EINVAL},
	{"tso4 on IPv6", F_TCP6, GSOK(T4, 1448), 0, 0, -EINVAL},
	{"tso6 on IPv4", F_TCP4, GSOK(T6, 1448), 0, 0, -EINVAL},
	{"tso4 on UDP", F_UDP4, GSOK(T4, 1448), 0, 0, -EINVAL},
	{"ufo on TCP", F_TCP4, GSOK(UDPG, 1448), 0, 0, -EINVAL},
	{"tso4 on ARP",
	 F_ARP,
	 {.flags = NC, .gso_type = T4, .gso_size = 1448, .csum_start = 14, .csum_offset = 16},
	 0,
	 0,
	 -EINVAL},
	{"tso4 on an IPv4 fragment", F_TCP4_FRAG, GSOK(T4, 1448), 0, 0, -EINVAL},
	{"tso4 headers cut in the head", F_TCP4, GSOK(T4, 1448), 19, 0, -EINVAL},
	{"tso4 headers just in the head", F_TCP4, GSOK(T4, 1448), 20, 0, 0},
	{"tso6 headers cut", F_TCP6, GSOK(T6, 1448), 10, 0, -EINVAL},
	{"tso4 csum_offset of UDP",
	 F_TCP4,
	 {.flags = NC, .gso_type = T4, .gso_size = 1448, .csum_start = OWN, .csum_offset = 6},
	 0,
	 0,
	 -EINVAL},
	{"ufo csum_offset not checked (as Linux)",
	 F_UDP4,
	 {.flags = NC, .gso_type = UDPG, .gso_size = 1448, .csum_start = OWN, .csum_offset = 16},
	 0,
	 0,
	 0},
	{"head longer than the frame", F_TCP4, GSOK(T4, 1448), 0, -3000 + 60, 0},
};

static void build_kind(uint8_t *f, enum frame_kind k, struct built *b)
{
	struct fspec s = {.proto = 6, .payload = 3000};
	if (k == F_TCP6 || k == F_UDP6)
		s.ipv6 = true;
	if (k == F_UDP4 || k == F_UDP6)
		s.proto = 17;
	build(f, &s, b);
	if (k == F_ARP) {
		p16(f + 12, 0x0806);
		b->len = 60;
	}
	if (k == F_TCP4_FRAG) {
		p16(f + 14 + 6, 0x2000);
	}
}

static void test_meta_check(void **state)
{
	static uint8_t f[8192];
	(void)state;
	for (size_t i = 0; i < sizeof(meta_cases) / sizeof(meta_cases[0]); i++) {
		const struct meta_case *c = &meta_cases[i];
		struct built b;
		const char *why = "unset";
		print_message("meta: %s\n", c->name);
		build_kind(f, c->kind, &b);
		struct netbe_meta m = c->m;
		if (m.csum_start == OWN && m.csum_offset == OWN) {
			m.csum_start = b.meta.csum_start;
			m.csum_offset = b.meta.csum_offset;
		} else if (m.csum_start == OWN) {
			m.csum_start = b.meta.csum_start;
		}
		uint32_t frame_len = b.len + (uint32_t)c->frame_extra;
		uint32_t head_len = b.len < NET_DEV_TX_HEAD_MAX ? b.len : NET_DEV_TX_HEAD_MAX;
		if (c->head_cut > 0)
			head_len = b.l4_off + (uint32_t)c->head_cut;
		if (c->frame_extra)
			head_len = NET_DEV_TX_HEAD_MAX; /* more than the frame */
		uint8_t *ex = exact_copy(f, head_len);
		int rc = net_dev_tx_meta_check(ex, head_len, frame_len, &m, &why);
		assert_int_equal(rc, c->rc);
		if (rc)
			assert_true(why && why[0]);
		else
			assert_null(why);
		assert_int_equal(net_dev_tx_meta_check(ex, head_len, frame_len, &m, NULL), c->rc);
		free(ex);
	}
}

/* ---- checksums -------------------------------------------------------------- */

static void test_csum_helpers(void **state)
{
	/* RFC 1071 §3 example. */
	static const uint8_t d[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	(void)state;
	assert_int_equal(inet_csum_fold(inet_csum_add(0, d, 8)), (uint16_t)~0xddf2);
	assert_int_equal(inet_csum_fold(inet_csum_add(inet_csum_add(0, d, 4), d + 4, 4)),
			 (uint16_t)~0xddf2);
	static const uint8_t odd[3] = {0x12, 0x34, 0x56};
	assert_int_equal(inet_csum_fold(inet_csum_add(0, odd, 3)), (uint16_t) ~(0x1234 + 0x5600));
	assert_int_equal(inet_csum_fold(0), 0xffff);
	assert_int_equal(inet_csum_fold(0xffffffffu), (uint16_t)~t_fold(0xffffffffu));
	/* A large sum keeps its carries. */
	static uint8_t ff[65536];
	memset(ff, 0xff, sizeof(ff));
	uint32_t s = inet_csum_add(0xffffffffu, ff, sizeof(ff));
	assert_int_equal(inet_csum_fold(s), (uint16_t)~t_fold(t_sum(0xffffffffu, ff, sizeof(ff))));
}

static void test_csum_finish(void **state)
{
	static uint8_t f[4096];
	static const struct fspec fs[] = {
		{.proto = 6, .tcp_opts = true, .payload = 1001},
		{.ipv6 = true, .ext = 1, .proto = 6, .payload = 77},
		{.vlans = 1, .proto = 17, .payload = 333},
		{.ipv6 = true, .proto = 17, .payload = 0},
	};
	(void)state;
	for (size_t k = 0; k < sizeof(fs) / sizeof(fs[0]); k++) {
		struct built b;
		build(f, &fs[k], &b);
		uint8_t *ex = exact_copy(f, b.len);
		assert_int_equal(
			net_dev_csum_finish(ex, b.len, b.meta.csum_start, b.meta.csum_offset), 0);
		uint32_t l4len = b.len - b.l4_off;
		assert_int_equal(
			t_fold(t_sum(t_pseudo(ex, &b, &fs[k], l4len), ex + b.l4_off, l4len)),
			0xffff);
		/* Only the field changed. */
		assert_memory_equal(ex, f, b.l4_off + b.meta.csum_offset);
		assert_memory_equal(ex + b.l4_off + b.meta.csum_offset + 2,
				    f + b.l4_off + b.meta.csum_offset + 2,
				    b.len - b.l4_off - b.meta.csum_offset - 2);
		free(ex);
	}
}

/* UDP: a checksum computing to 0 is sent as 0xffff (RFC 768). */
static void test_csum_finish_zero(void **state)
{
	static uint8_t f[256];
	const struct fspec s = {.proto = 17, .payload = 20};
	struct built b;
	(void)state;
	build(f, &s, &b);
	/* Make the sum over [csum_start, len) 0xffff: adjust the last word. */
	p16(f + b.len - 2, 0);
	uint16_t rest = t_fold(t_sum(0, f + b.l4_off, b.len - b.l4_off));
	p16(f + b.len - 2, (uint16_t)~rest);
	assert_int_equal(t_fold(t_sum(0, f + b.l4_off, b.len - b.l4_off)), 0xffff);
	assert_int_equal(net_dev_csum_finish(f, b.len, b.meta.csum_start, b.meta.csum_offset), 0);
	assert_int_equal(g16(f + b.l4_off + 6), 0xffff);
	assert_int_equal(t_fold(t_sum(t_pseudo(f, &b, &s, b.len - b.l4_off), f + b.l4_off,
				      b.len - b.l4_off)),
			 0xffff);
}

static void test_csum_finish_bounds(void **state)
{
	uint8_t *f = malloc(64);
	(void)state;
	assert_non_null(f);
	memset(f, 0xab, 64);
	assert_int_equal(net_dev_csum_finish(f, 64, 62, 0), 0);
	assert_int_equal(net_dev_csum_finish(f, 64, 0, 62), 0);
	assert_int_equal(net_dev_csum_finish(f, 64, 63, 0), -EINVAL);
	assert_int_equal(net_dev_csum_finish(f, 64, 0, 63), -EINVAL);
	assert_int_equal(net_dev_csum_finish(f, 64, 64, 0), -EINVAL);
	assert_int_equal(net_dev_csum_finish(f, 64, 0xffff, 0xffff), -EINVAL);
	assert_int_equal(net_dev_csum_finish(f, 0, 0, 0), -EINVAL);
	assert_int_equal(net_dev_csum_finish(f, 2, 0, 0), 0);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gso_table),
		cmocka_unit_test(test_gso_ignores_hdr_len),
		cmocka_unit_test(test_gso_many_segments),
		cmocka_unit_test(test_gso_enospc),
		cmocka_unit_test(test_gso_lying_lengths),
		cmocka_unit_test(test_gso_truncated),
		cmocka_unit_test(test_parse_layouts),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_prefixes),
		cmocka_unit_test(test_meta_check),
		cmocka_unit_test(test_csum_helpers),
		cmocka_unit_test(test_csum_finish),
		cmocka_unit_test(test_csum_finish_zero),
		cmocka_unit_test(test_csum_finish_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
