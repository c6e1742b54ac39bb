/* SPDX-License-Identifier: MIT */
/*
 * The `user` backend's link-level services (lib/netbe/nat/{arp,ndp,dhcp,
 * dhcp6,dns}.c) through its ops table, the test playing the guest:
 * hand-built frames go in through tx(), the answers come out of rx().
 * Every answer is taken apart by a parser of this file (not the
 * backend's) and its checksums recomputed with the fixture's helpers.
 *
 *  - ARP: requests for 10.0.2.2 and 10.0.2.3 answered, every field
 *    checked; the guest's own address, others, replies, gratuitous and
 *    malformed ARP not answered and counted
 *  - DHCP: DISCOVER -> OFFER, REQUEST -> ACK with type, server id,
 *    lease, mask, router, DNS and MTU; unicast or broadcast as RFC 2131
 *    §4.1 says; NAK for another address; another server's REQUEST
 *    ignored; truncated or malformed messages dropped and counted; a
 *    mutation storm never crashes
 *  - NDP: RS -> RA (prefix, MTU, RDNSS, source link-layer address), NS
 *    for fec0::2 -> NA; hop limit 254, bad option lengths, DAD rules
 *  - DHCPv6: Solicit -> Advertise, Request -> Reply with the address,
 *    Rapid Commit, Information-request; bad identifiers dropped
 *  - nat_dns_load() on a resolv.conf with good and garbage lines, and
 *    nat_remote_sockaddr()'s mapping of the gateway and DNS addresses
 *
 * No sockets but the backend's epoll and eventfds: no root needed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "vqnet/netbe.h"

#include "netbe/nat/nat.h" /* counters, nat_dns_load(), nat_remote_sockaddr() */

#include "netbe_fixture.h"

#define MAX_FRAMES 8

static const uint8_t gw_mac[6] = {0x52, 0x55, 10, 0, 2, 2};
static const uint8_t guest_ip[4] = {10, 0, 2, 15};
static const uint8_t gw_ip[4] = {10, 0, 2, 2};
static const uint8_t dns_ip[4] = {10, 0, 2, 3};
static const uint8_t zero_ip[4] = {0, 0, 0, 0};
static const uint8_t bcast_ip[4] = {255, 255, 255, 255};

/* fe80::5054:ff:fe12:3456, the guest's EUI-64 link-local address */
static const uint8_t guest_ll[16] = {0xfe, 0x80, 0, 0,	  0,	0,    0,    0,
				     0x50, 0x54, 0, 0xff, 0xfe, 0x12, 0x34, 0x56};
static const uint8_t gw6_ll[16] = {0xfe, 0x80, [15] = 2};
static const uint8_t gw6[16] = {0xfe, 0xc0, [15] = 2};
static const uint8_t dns6[16] = {0xfe, 0xc0, [15] = 3};
static const uint8_t guest6[16] = {0xfe, 0xc0, [15] = 0x15};
static const uint8_t all_routers[16] = {0xff, 2, [15] = 2};
static const uint8_t all_nodes[16] = {0xff, 2, [15] = 1};
static const uint8_t dhcp6_servers[16] = {0xff, 2, [13] = 1, [15] = 2};
static const uint8_t unspec6[16];
static unsigned ra_interval_ms; /* guest_new()'s, 0: the default */

/* ---- the backend ---------------------------------------------------------- */

struct guest {
	struct netbe *be;
	char resolv[64];
	uint8_t buf[MAX_FRAMES][BUF_CAP];
	uint32_t len[MAX_FRAMES];
	unsigned n;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* A user backend of one pair with MTU @mtu and a resolv.conf of ours. */
static struct guest *guest_new(uint16_t mtu)
{
	struct guest *g = calloc(1, sizeof(*g));
	struct netbe_options o = opts(1);
	int fd;

	assert_non_null(g);
	strcpy(g->resolv, "/tmp/test_nat_services.XXXXXX");
	fd = mkstemp(g->resolv);
	assert_true(fd >= 0);
	close(fd);
	write_file(g->resolv, "nameserver 127.0.0.53\n");
	o.mtu = mtu;
	o.resolv_conf = g->resolv;
	o.ra_interval_ms = ra_interval_ms;
	g->be = open_be("user", &o);
	assert_int_equal(g->be->ops->set_queue_pairs(g->be, 1), 0);
	assert_int_equal(g->be->ops->set_rx_offloads(g->be, 0), 0);
	return g;
}

static void guest_free(struct guest *g)
{
	netbe_free(g->be);
	unlink(g->resolv);
	free(g);
}

static uint64_t drops(struct guest *g, enum nat_drop why)
{
	struct nat *nat = g->be->priv;

	return nat->pairs[0].cnt.drops[why];
}

/* Send one frame, then take every frame the backend has (generated
 * answers are queued by tx() itself: no waiting). Return how many. */
static unsigned exchange(struct guest *g, const uint8_t *f, size_t len)
{
	struct netbe_rxbuf b[MAX_FRAMES];
	int n;

	assert_int_equal(tx_one(g->be, 0, f, (uint32_t)len, NULL), 1);
	for (unsigned i = 0; i < MAX_FRAMES; i++)
		b[i] = (struct netbe_rxbuf){.data = g->buf[i], .cap = BUF_CAP};
	n = g->be->ops->rx(g->be, 0, b, MAX_FRAMES);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		g->len[i] = b[i].len;
		assert_int_equal(b[i].meta.flags, 0);
		assert_int_equal(b[i].meta.gso_type, 0);
	}
	g->n = (unsigned)n;
	return g->n;
}

/* The frame was dropped for @why (counted once) and nothing answered. */
static void expect_drop(struct guest *g, const uint8_t *f, size_t len, enum nat_drop why)
{
	uint64_t before = drops(g, why), tx_before = stats_of(g->be, 0).tx_dropped;

	assert_int_equal(exchange(g, f, len), 0);
	assert_int_equal(drops(g, why), before + 1);
	assert_int_equal(stats_of(g->be, 0).tx_dropped, tx_before + 1);
}

/* ---- ARP ------------------------------------------------------------------ */

static void check_arp_reply(const uint8_t *r, uint32_t len, const uint8_t *ip)
{
	assert_int_equal(len, 60);
	assert_memory_equal(r, guest_mac, 6);
	assert_memory_equal(r + 6, gw_mac, 6);
	assert_int_equal(get16(r + 12), 0x0806);
	assert_int_equal(get16(r + 14), 1);	 /* Ethernet */
	assert_int_equal(get16(r + 16), 0x0800); /* IPv4 */
	assert_int_equal(r[18], 6);
	assert_int_equal(r[19], 4);
	assert_int_equal(get16(r + 20), 2); /* reply */
	assert_memory_equal(r + 22, gw_mac, 6);
	assert_memory_equal(r + 28, ip, 4);
	assert_memory_equal(r + 32, guest_mac, 6);
	assert_memory_equal(r + 38, guest_ip, 4);
	for (unsigned i = 42; i < 60; i++)
		assert_int_equal(r[i], 0);
}

static void test_arp_answered(void **state)
{
	struct guest *g = guest_new(1500);
	uint8_t f[60];

	(void)state;
	assert_int_equal(
		exchange(g, f, build_arp(f, bcast_mac, 1, guest_mac, guest_ip, NULL, gw_ip)), 1);
	check_arp_reply(g->buf[0], g->len[0], gw_ip);
	/* unicast to the router, as a guest refreshing its cache does */
	assert_int_equal(exchange(g, f, build_arp(f, gw_mac, 1, guest_mac, guest_ip, NULL, dns_ip)),
			 1);
	check_arp_reply(g->buf[0], g->len[0], dns_ip);
	/* a 42-byte request (no padding) is as good */
	assert_int_equal(exchange(g, f, 42), 1);
	check_arp_reply(g->buf[0], g->len[0], dns_ip);
	guest_free(g);
}

static void test_arp_ignored(void **state)
{
	static const uint8_t other_ip[4] = {10, 0, 2, 77};
	struct guest *g = guest_new(1500);
	uint8_t f[60];

	(void)state;
	/* the guest's own address: udhcpc -a's conflict check must fail */
	expect_drop(g, f, build_arp(f, bcast_mac, 1, guest_mac, zero_ip, NULL, guest_ip),
		    NAT_DROP_NOT_OURS);
	expect_drop(g, f, build_arp(f, bcast_mac, 1, guest_mac, guest_ip, NULL, other_ip),
		    NAT_DROP_NOT_OURS);
	/* gratuitous: sender and target the same */
	expect_drop(g, f, build_arp(f, bcast_mac, 1, guest_mac, gw_ip, NULL, gw_ip),
		    NAT_DROP_NOT_OURS);
	/* replies need nothing */
	expect_drop(g, f, build_arp(f, gw_mac, 2, guest_mac, guest_ip, gw_mac, gw_ip),
		    NAT_DROP_NOT_OURS);
	/* wrong hardware length, wrong protocol type, unknown operation */
	build_arp(f, bcast_mac, 1, guest_mac, guest_ip, NULL, gw_ip);
	f[18] = 5;
	expect_drop(g, f, 60, NAT_DROP_BAD_HDR);
	build_arp(f, bcast_mac, 1, guest_mac, guest_ip, NULL, gw_ip);
	put16(f + 16, 0x86dd);
	expect_drop(g, f, 60, NAT_DROP_UNKNOWN);
	build_arp(f, bcast_mac, 3, guest_mac, guest_ip, NULL, gw_ip);
	expect_drop(g, f, 60, NAT_DROP_UNKNOWN);
	/* a multicast sender hardware address is no one to answer */
	build_arp(f, bcast_mac, 1, guest_mac, guest_ip, NULL, gw_ip);
	f[22] |= 1;
	expect_drop(g, f, 60, NAT_DROP_BAD_HDR);
	/* cut short */
	build_arp(f, bcast_mac, 1, guest_mac, guest_ip, NULL, gw_ip);
	expect_drop(g, f, 41, NAT_DROP_RUNT);
	guest_free(g);
}

/* ---- DHCP ----------------------------------------------------------------- */

#define DHCP_XID 0x5eed1234u

struct dhcp_msg {
	uint8_t type;	       /* 53 */
	uint16_t flags;	       /* BOOTP flags */
	const uint8_t *ciaddr; /* NULL: 0 */
	const uint8_t *req_ip; /* option 50, or NULL */
	const uint8_t *sid;    /* option 54, or NULL */
	const uint8_t *extra;  /* raw option bytes appended, or NULL */
	size_t extra_len;
	size_t bootp_len; /* 0: 300 */
};

/* A DHCP message from the guest (0.0.0.0:68 -> 255.255.255.255:67). */
static size_t build_dhcp(uint8_t *f, const struct dhcp_msg *d)
{
	size_t blen = d->bootp_len ? d->bootp_len : 300, udp_len = 8 + blen;
	uint8_t *bp = f + 42, *o;

	memset(f, 0, 42 + blen);
	build_ipv4(f, bcast_mac, guest_mac, d->ciaddr ? d->ciaddr : zero_ip,
		   d->ciaddr ? gw_ip : bcast_ip, 17, (uint16_t)udp_len);
	put16(f + 34, 68);
	put16(f + 36, 67);
	put16(f + 38, (uint16_t)udp_len); /* checksum 0: none (RFC 768) */
	bp[0] = 1;
	bp[1] = 1;
	bp[2] = 6;
	put32(bp + 4, DHCP_XID);
	put16(bp + 10, d->flags);
	if (d->ciaddr)
		memcpy(bp + 12, d->ciaddr, 4);
	memcpy(bp + 28, guest_mac, 6);
	put32(bp + 236, 0x63825363);
	o = bp + 240;
	*o++ = 53, *o++ = 1, *o++ = d->type;
	if (d->req_ip) {
		*o++ = 50, *o++ = 4;
		memcpy(o, d->req_ip, 4), o += 4;
	}
	if (d->sid) {
		*o++ = 54, *o++ = 4;
		memcpy(o, d->sid, 4), o += 4;
	}
	if (d->extra) {
		memcpy(o, d->extra, d->extra_len);
		o += d->extra_len;
	}
	if ((size_t)(o - bp) < blen)
		*o = 255;
	return 42 + blen;
}

/* The options of an answer, found by a parser of our own: value and
 * length of each code seen (the last instance). */
struct dhcp_opts {
	const uint8_t *v[256];
	uint8_t len[256];
	bool end;
};

static void parse_dhcp_options(const uint8_t *o, const uint8_t *end, struct dhcp_opts *out)
{
	memset(out, 0, sizeof(*out));
	while (o < end) {
		if (*o == 0) {
			o++;
			continue;
		}
		if (*o == 255) {
			out->end = true;
			return;
		}
		assert_true(end - o >= 2);
		assert_true(end - o - 2 >= o[1]);
		out->v[o[0]] = o + 2;
		out->len[o[0]] = o[1];
		o += 2 + o[1];
	}
}

static void expect_opt(const struct dhcp_opts *d, uint8_t code, const void *v, uint8_t len)
{
	assert_non_null(d->v[code]);
	assert_int_equal(d->len[code], len);
	assert_memory_equal(d->v[code], v, len);
}

static uint32_t opt32(const struct dhcp_opts *d, uint8_t code)
{
	assert_non_null(d->v[code]);
	assert_int_equal(d->len[code], 4);
	return get32(d->v[code]);
}

/*
 * Check a DHCP answer frame from the router to @dst_ip / @dst_mac as a
 * client's raw socket does (busybox udhcpc's udhcp_recv_raw_packet():
 * IPv4 without options, lengths, both checksums, port 68; then xid,
 * chaddr, cookie) and return its options.
 */
static const uint8_t *check_dhcp_frame(const uint8_t *r, uint32_t len, const uint8_t *dst_mac,
				       const uint8_t *dst_ip, struct dhcp_opts *opts)
{
	const uint8_t *ip = r + 14, *bp = r + 42;
	uint16_t udp_len;

	assert_true(len >= 42 + 240);
	assert_memory_equal(r, dst_mac, 6);
	assert_memory_equal(r + 6, gw_mac, 6);
	assert_int_equal(get16(r + 12), 0x0800);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), len - 14);
	assert_int_equal(ip[9], 17);
	assert_true(ip[8] > 0);
	assert_int_equal(csum_finish(csum_add(0, ip, 20)), 0);
	assert_memory_equal(ip + 12, gw_ip, 4);
	assert_memory_equal(ip + 16, dst_ip, 4);
	udp_len = get16(r + 38);
	assert_int_equal(udp_len, len - 34);
	assert_int_equal(get16(r + 34), 67);
	assert_int_equal(get16(r + 36), 68);
	assert_int_not_equal(get16(r + 40), 0);
	assert_int_equal(csum_finish(csum_add(pseudo_sum(r, udp_len), r + 34, udp_len)), 0);
	assert_true(udp_len - 8 >= 300); /* RFC 1542 §3.1.1's minimum BOOTP size */
	assert_int_equal(bp[0], 2);
	assert_int_equal(bp[1], 1);
	assert_int_equal(bp[2], 6);
	assert_int_equal(get32(bp + 4), DHCP_XID);
	assert_memory_equal(bp + 28, guest_mac, 6);
	assert_int_equal(get32(bp + 236), 0x63825363);
	parse_dhcp_options(bp + 240, r + len, opts);
	assert_true(opts->end);
	/* the message type comes first (some clients look only there) */
	assert_int_equal(bp[240], 53);
	return bp;
}

/* The options of an OFFER or ACK that leases an address. */
static void check_lease_options(const struct dhcp_opts *o, uint8_t type, uint16_t mtu)
{
	static const uint8_t mask[4] = {255, 255, 255, 0};
	uint8_t mtu_be[2];

	expect_opt(o, 53, &type, 1);
	expect_opt(o, 54, gw_ip, 4);
	assert_int_equal(opt32(o, 51), 86400);
	assert_true(opt32(o, 58) < opt32(o, 59));
	assert_true(opt32(o, 59) < 86400);
	expect_opt(o, 1, mask, 4);
	expect_opt(o, 3, gw_ip, 4);
	expect_opt(o, 6, dns_ip, 4);
	put16(mtu_be, mtu);
	expect_opt(o, 26, mtu_be, 2);
}

static void test_dhcp_offer_ack(void **state)
{
	static const uint8_t client_id[] = {61, 7, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct guest *g = guest_new(9000);
	struct dhcp_opts o;
	const uint8_t *bp;
	uint8_t f[BUF_CAP];
	struct dhcp_msg d = {.type = 1, .extra = client_id, .extra_len = sizeof(client_id)};

	(void)state;
	/* DISCOVER without the BROADCAST flag: unicast to yiaddr at chaddr */
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	bp = check_dhcp_frame(g->buf[0], g->len[0], guest_mac, guest_ip, &o);
	assert_memory_equal(bp + 16, guest_ip, 4); /* yiaddr */
	assert_memory_equal(bp + 12, zero_ip, 4);  /* ciaddr */
	check_lease_options(&o, 2, 9000);
	expect_opt(&o, 61, client_id + 2, sizeof(client_id) - 2); /* RFC 6842 */

	/* REQUEST (selecting) with the BROADCAST flag: to everyone */
	d = (struct dhcp_msg){.type = 3, .flags = 0x8000, .req_ip = guest_ip, .sid = gw_ip};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	bp = check_dhcp_frame(g->buf[0], g->len[0], bcast_mac, bcast_ip, &o);
	assert_memory_equal(bp + 16, guest_ip, 4);
	assert_int_equal(get16(bp + 10), 0x8000);
	check_lease_options(&o, 5, 9000);
	assert_null(o.v[61]);

	/* REQUEST (init-reboot): requested address only */
	d = (struct dhcp_msg){.type = 3, .req_ip = guest_ip};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	check_dhcp_frame(g->buf[0], g->len[0], guest_mac, guest_ip, &o);
	check_lease_options(&o, 5, 9000);

	/* REQUEST (renewing): ciaddr, answered to ciaddr, which it echoes */
	d = (struct dhcp_msg){.type = 3, .ciaddr = guest_ip};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	bp = check_dhcp_frame(g->buf[0], g->len[0], guest_mac, guest_ip, &o);
	assert_memory_equal(bp + 12, guest_ip, 4);
	check_lease_options(&o, 5, 9000);
	guest_free(g);
}

static void test_dhcp_nak_inform_release(void **state)
{
	static const uint8_t other_ip[4] = {192, 168, 1, 50};
	static const uint8_t other_server[4] = {10, 0, 2, 9};
	struct guest *g = guest_new(1500);
	struct dhcp_opts o;
	const uint8_t *bp;
	uint8_t f[BUF_CAP], type;
	struct dhcp_msg d = {.type = 3, .req_ip = other_ip};

	(void)state;
	/* an address from another network: NAK, broadcast (§4.1) */
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	bp = check_dhcp_frame(g->buf[0], g->len[0], bcast_mac, bcast_ip, &o);
	type = 6;
	expect_opt(&o, 53, &type, 1);
	expect_opt(&o, 54, gw_ip, 4);
	assert_null(o.v[51]);
	assert_null(o.v[3]);
	assert_memory_equal(bp + 16, zero_ip, 4);
	/* renewing an address that is not the guest's */
	d = (struct dhcp_msg){.type = 3, .ciaddr = other_ip};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	check_dhcp_frame(g->buf[0], g->len[0], bcast_mac, bcast_ip, &o);
	expect_opt(&o, 53, &type, 1);
	/* the client took another server's offer */
	d = (struct dhcp_msg){.type = 3, .req_ip = guest_ip, .sid = other_server};
	expect_drop(g, f, build_dhcp(f, &d), NAT_DROP_NOT_OURS);
	/* INFORM: an ACK to ciaddr without lease or yiaddr (§4.3.5) */
	d = (struct dhcp_msg){.type = 8, .ciaddr = guest_ip};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	bp = check_dhcp_frame(g->buf[0], g->len[0], guest_mac, guest_ip, &o);
	type = 5;
	expect_opt(&o, 53, &type, 1);
	assert_null(o.v[51]);
	expect_opt(&o, 6, dns_ip, 4);
	assert_memory_equal(bp + 16, zero_ip, 4);
	/* INFORM without ciaddr: there is no address to send to but all */
	d = (struct dhcp_msg){.type = 8};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 1);
	check_dhcp_frame(g->buf[0], g->len[0], bcast_mac, bcast_ip, &o);
	expect_opt(&o, 53, &type, 1);
	/* RELEASE and DECLINE: used, nothing to say */
	d = (struct dhcp_msg){.type = 7, .ciaddr = guest_ip, .sid = gw_ip};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 0);
	d = (struct dhcp_msg){.type = 4, .req_ip = guest_ip, .sid = gw_ip};
	assert_int_equal(exchange(g, f, build_dhcp(f, &d)), 0);
	assert_int_equal(stats_of(g->be, 0).tx_dropped, 1); /* the other server's */
	guest_free(g);
}

static void test_dhcp_malformed(void **state)
{
	static const uint8_t past_end[] = {12, 200, 'h', 'o', 's', 't'};
	static const uint8_t bad_type_len[] = {53, 2, 1, 1};
	static const uint8_t short_sid[] = {54, 3, 10, 0, 2};
	static const uint8_t short_cid[] = {61, 1, 1};
	struct guest *g = guest_new(1500);
	struct dhcp_msg d = {.type = 1};
	uint8_t f[BUF_CAP];
	size_t len;

	(void)state;
	/* an option whose length runs past the message */
	d.extra = past_end;
	d.extra_len = sizeof(past_end);
	d.bootp_len = 240 + 3 + sizeof(past_end);
	expect_drop(g, f, build_dhcp(f, &d), NAT_DROP_BAD_HDR);
	/* the message ends after an option code */
	d = (struct dhcp_msg){.type = 1, .extra = past_end, .extra_len = 1, .bootp_len = 244};
	expect_drop(g, f, build_dhcp(f, &d), NAT_DROP_BAD_HDR);
	/* wrong lengths of options we read */
	d = (struct dhcp_msg){.type = 1, .extra = bad_type_len, .extra_len = sizeof(bad_type_len)};
	expect_drop(g, f, build_dhcp(f, &d), NAT_DROP_BAD_HDR);
	d.extra = short_sid;
	d.extra_len = sizeof(short_sid);
	expect_drop(g, f, build_dhcp(f, &d), NAT_DROP_BAD_HDR);
	d.extra = short_cid;
	d.extra_len = sizeof(short_cid);
	expect_drop(g, f, build_dhcp(f, &d), NAT_DROP_BAD_HDR);
	/* shorter than the fixed part */
	d = (struct dhcp_msg){.type = 1, .bootp_len = 239};
	len = build_dhcp(f, &d);
	expect_drop(g, f, len, NAT_DROP_RUNT);
	/* a reply, another hardware, another hardware length, no cookie */
	d = (struct dhcp_msg){.type = 1};
	len = build_dhcp(f, &d);
	f[42] = 2;
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	len = build_dhcp(f, &d);
	f[43] = 6;
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	len = build_dhcp(f, &d);
	f[44] = 16;
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	len = build_dhcp(f, &d);
	f[42 + 236] ^= 0xff;
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	/* plain BOOTP (no message type) and a server's message */
	len = build_dhcp(f, &d);
	f[42 + 240] = 0; /* option 53 becomes pad, its length and value pads */
	f[42 + 241] = 0;
	f[42 + 242] = 0;
	expect_drop(g, f, len, NAT_DROP_UNKNOWN);
	d.type = 2;
	expect_drop(g, f, build_dhcp(f, &d), NAT_DROP_UNKNOWN);
	guest_free(g);
}

/* Random damage to a good DISCOVER and REQUEST: nothing crashes, reads
 * stay inside the frame (run under ASan), every frame is answered or
 * counted. */
static void test_dhcp_mutations(void **state)
{
	static const uint8_t cid[] = {61, 3, 1, 2, 3, 55, 4, 1, 3, 6, 26};
	struct guest *g = guest_new(1500);
	uint8_t base[BUF_CAP], f[BUF_CAP];
	struct dhcp_msg d = {.type = 3,
			     .req_ip = guest_ip,
			     .sid = gw_ip,
			     .extra = cid,
			     .extra_len = sizeof(cid)};
	size_t len = build_dhcp(base, &d);
	uint64_t answered = 0;
	unsigned seed = 12345;

	(void)state;
	for (unsigned i = 0; i < 20000; i++) {
		size_t flen = len;

		memcpy(f, base, len);
		for (unsigned k = 0, n = 1 + rand_r(&seed) % 8; k < n; k++) {
			size_t at = 42 + 236 + (size_t)rand_r(&seed) % (len - 42 - 236);

			f[at] = (uint8_t)rand_r(&seed);
		}
		if (rand_r(&seed) % 4 == 0) { /* cut the message, lengths kept right */
			flen = 42 + 236 + (size_t)rand_r(&seed) % (len - 42 - 236);
			put16(f + 16, (uint16_t)(flen - 14));
			put16(f + 24, 0);
			put16(f + 24, csum_finish(csum_add(0, f + 14, 20)));
			put16(f + 38, (uint16_t)(flen - 34));
		}
		answered += exchange(g, f, flen);
	}
	assert_true(answered > 0);
	assert_true(stats_of(g->be, 0).tx_dropped > 0);
	guest_free(g);
}

/* ---- IPv6 frames --------------------------------------------------------- */

/* Ethernet + IPv6 header for @l4_len bytes of @nh; returns 54. */
static uint32_t build_ipv6(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src,
			   const uint8_t *dst, uint8_t nh, uint8_t hop, uint16_t l4_len)
{
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x86dd);
	memset(f + 14, 0, 40);
	f[14] = 0x60;
	put16(f + 18, l4_len);
	f[20] = nh;
	f[21] = hop;
	memcpy(f + 22, src, 16);
	memcpy(f + 38, dst, 16);
	return 54;
}

/* The transport checksum over the IPv6 pseudo-header (RFC 8200 §8.1) of
 * the packet in @f: 0 when right. */
static uint16_t l4_csum6(const uint8_t *f)
{
	uint16_t l4_len = get16(f + 18);
	uint32_t s = csum_add(0, f + 22, 32);

	s += l4_len + f[20];
	return csum_finish(csum_add(s, f + 54, l4_len));
}

static void fill_csum6(uint8_t *f, unsigned field)
{
	put16(f + 54 + field, 0);
	put16(f + 54 + field, l4_csum6(f));
}

static void mcast_mac(uint8_t *mac, const uint8_t *a)
{
	mac[0] = mac[1] = 0x33;
	memcpy(mac + 2, a + 12, 4);
}

/* An ICMPv6 message @body (@len bytes, type first, checksum field zero)
 * from @src to @dst with hop limit @hop. */
static size_t build_icmp6(uint8_t *f, const uint8_t *src, const uint8_t *dst, uint8_t hop,
			  const uint8_t *body, uint16_t len)
{
	uint8_t mac[6];

	mcast_mac(mac, dst);
	build_ipv6(f, dst[0] == 0xff ? mac : gw_mac, src, dst, 58, hop, len);
	memcpy(f + 54, body, len);
	fill_csum6(f, 2);
	return 54u + len;
}

/* The fixed part of an ICMPv6 answer from the router: Ethernet, IPv6 with
 * hop limit 255 (RFC 4861 §6.1.2, §7.1.2), a right checksum. */
static void check_nd_frame(const uint8_t *r, uint32_t len, const uint8_t *dst_mac,
			   const uint8_t *src, const uint8_t *dst, uint8_t type)
{
	assert_true(len >= 54 + 8);
	assert_memory_equal(r, dst_mac, 6);
	assert_memory_equal(r + 6, gw_mac, 6);
	assert_int_equal(get16(r + 12), 0x86dd);
	assert_int_equal(r[14] >> 4, 6);
	assert_int_equal(get16(r + 18), len - 54);
	assert_int_equal(r[20], 58);
	assert_int_equal(r[21], 255);
	assert_memory_equal(r + 22, src, 16);
	assert_memory_equal(r + 38, dst, 16);
	assert_int_equal(r[54], type);
	assert_int_equal(r[55], 0);
	assert_int_equal(l4_csum6(r), 0);
}

/* ---- NDP ------------------------------------------------------------------ */

/* RS with a source link-layer address option. */
static size_t build_rs(uint8_t *f, const uint8_t *src, uint8_t hop, bool slla)
{
	uint8_t rs[16] = {133};

	if (slla) {
		rs[8] = 1;
		rs[9] = 1;
		memcpy(rs + 10, guest_mac, 6);
	}
	return build_icmp6(f, src, all_routers, hop, rs, slla ? 16 : 8);
}

static void test_ndp_rs_ra(void **state)
{
	struct guest *g = guest_new(1500);
	const uint8_t *ra, *o, *end;
	bool seen_slla = false, seen_mtu = false, seen_pfx = false, seen_rdnss = false;
	uint8_t f[256], mac[6];

	(void)state;
	assert_int_equal(exchange(g, f, build_rs(f, guest_ll, 255, true)), 1);
	check_nd_frame(g->buf[0], g->len[0], guest_mac, gw6_ll, guest_ll, 134);
	ra = g->buf[0] + 54;
	end = g->buf[0] + g->len[0];
	assert_int_equal(ra[4], 64);   /* cur hop limit */
	assert_int_equal(ra[5], 0x40); /* O, not M */
	assert_true(get16(ra + 6) >= 1800);
	for (o = ra + 16; o < end; o += o[1] * 8) {
		assert_true(end - o >= 8);
		assert_true(o[1] > 0 && o[1] * 8 <= end - o);
		switch (o[0]) {
		case 1:
			assert_int_equal(o[1], 1);
			assert_memory_equal(o + 2, gw_mac, 6);
			seen_slla = true;
			break;
		case 5:
			assert_int_equal(o[1], 1);
			assert_int_equal(get32(o + 4), 1500);
			seen_mtu = true;
			break;
		case 3:
			assert_int_equal(o[1], 4);
			assert_int_equal(o[2], 64);
			assert_int_equal(o[3] & 0xc0, 0xc0); /* L and A */
			assert_true(get32(o + 4) >= get32(o + 8));
			assert_true(get32(o + 8) > 0);
			assert_int_equal(o[16], 0xfe);
			assert_int_equal(o[17], 0xc0);
			for (int i = 18; i < 32; i++)
				assert_int_equal(o[i], 0);
			seen_pfx = true;
			break;
		case 25:
			assert_int_equal(o[1], 3);
			assert_true(get32(o + 4) > 0);
			assert_memory_equal(o + 8, dns6, 16);
			seen_rdnss = true;
			break;
		default:
			fail_msg("unexpected RA option %u", o[0]);
		}
	}
	assert_true(o == end);
	assert_true(seen_slla && seen_mtu && seen_pfx && seen_rdnss);

	/* from :: (before the guest has an address): to all nodes */
	assert_int_equal(exchange(g, f, build_rs(f, unspec6, 255, false)), 1);
	mcast_mac(mac, all_nodes);
	check_nd_frame(g->buf[0], g->len[0], mac, gw6_ll, all_nodes, 134);
	guest_free(g);
}

/* The frames the backend has now, without sending any (rx() only). */
static unsigned take_frames(struct guest *g)
{
	struct netbe_rxbuf b[MAX_FRAMES];
	int n;

	for (unsigned i = 0; i < MAX_FRAMES; i++)
		b[i] = (struct netbe_rxbuf){.data = g->buf[i], .cap = BUF_CAP};
	n = g->be->ops->rx(g->be, 0, b, MAX_FRAMES);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		g->len[i] = b[i].len;
	g->n = (unsigned)n;
	return g->n;
}

/* Unsolicited RAs (every 100 ms here, 600 s by default): none while the
 * guest has not solicited one (it may not speak IPv6 at all), then to all
 * nodes each period, from pair 0's timer. */
static void test_ndp_ra_periodic(void **state)
{
	struct guest *g;
	uint8_t f[256], mac[6];
	unsigned got = 0;

	(void)state;
	ra_interval_ms = 100;
	g = guest_new(1500);
	ra_interval_ms = 0;
	usleep(350 * 1000);
	assert_int_equal(take_frames(g), 0);
	assert_int_equal(exchange(g, f, build_rs(f, guest_ll, 255, true)), 1);
	mcast_mac(mac, all_nodes);
	for (int i = 0; i < 5; i++) {
		usleep(110 * 1000);
		for (unsigned k = take_frames(g); k; k--) {
			check_nd_frame(g->buf[k - 1], g->len[k - 1], mac, gw6_ll, all_nodes, 134);
			got++;
		}
	}
	assert_true(got >= 3);
	guest_free(g);
}

static void test_ndp_ra_small_mtu(void **state)
{
	struct guest *g = guest_new(1000);
	uint8_t f[256];

	(void)state;
	/* below IPv6's minimum there is no MTU option (88 - 8 bytes) */
	assert_int_equal(exchange(g, f, build_rs(f, guest_ll, 255, true)), 1);
	check_nd_frame(g->buf[0], g->len[0], guest_mac, gw6_ll, guest_ll, 134);
	assert_int_equal(g->len[0], 54 + 80);
	guest_free(g);
}

/* NS for @target from @src to @dst (its solicited-node group unless
 * @dst is given), with a source link-layer option when @slla. */
static size_t build_ns(uint8_t *f, const uint8_t *src, const uint8_t *target, uint8_t hop,
		       bool slla)
{
	uint8_t ns[32] = {135}, dst[16] = {0xff, 2, [11] = 1, [12] = 0xff};

	memcpy(dst + 13, target + 13, 3);
	memcpy(ns + 8, target, 16);
	if (slla) {
		ns[24] = 1;
		ns[25] = 1;
		memcpy(ns + 26, guest_mac, 6);
	}
	return build_icmp6(f, src, dst, hop, ns, slla ? 32 : 24);
}

static void check_na(struct guest *g, const uint8_t *target, const uint8_t *dst_mac,
		     const uint8_t *dst, uint8_t flags)
{
	const uint8_t *na = g->buf[0] + 54;

	assert_int_equal(g->n, 1);
	assert_int_equal(g->len[0], 54 + 32);
	check_nd_frame(g->buf[0], g->len[0], dst_mac, target, dst, 136);
	assert_int_equal(na[4], flags);
	assert_memory_equal(na + 8, target, 16);
	assert_int_equal(na[24], 2); /* target link-layer address */
	assert_int_equal(na[25], 1);
	assert_memory_equal(na + 26, gw_mac, 6);
}

static void test_ndp_ns_na(void **state)
{
	static const uint8_t other[16] = {0xfe, 0xc0, [15] = 0x99};
	struct guest *g = guest_new(1500);
	uint8_t f[256], mac[6];

	(void)state;
	exchange(g, f, build_ns(f, guest_ll, gw6, 255, true));
	check_na(g, gw6, guest_mac, guest_ll, 0xe0); /* R, S, O */
	exchange(g, f, build_ns(f, guest6, dns6, 255, true));
	check_na(g, dns6, guest_mac, guest6, 0xe0);
	exchange(g, f, build_ns(f, guest_ll, gw6_ll, 255, false));
	check_na(g, gw6_ll, guest_mac, guest_ll, 0xe0);
	/* duplicate address detection of one of ours: to all nodes, not
	 * solicited (§7.2.4) */
	exchange(g, f, build_ns(f, unspec6, gw6, 255, false));
	mcast_mac(mac, all_nodes);
	check_na(g, gw6, mac, all_nodes, 0xa0);
	/* nobody else is on the link; the guest's own DAD is not answered */
	expect_drop(g, f, build_ns(f, guest_ll, other, 255, true), NAT_DROP_NOT_OURS);
	expect_drop(g, f, build_ns(f, unspec6, guest_ll, 255, false), NAT_DROP_NOT_OURS);
	guest_free(g);
}

static void test_ndp_malformed(void **state)
{
	struct guest *g = guest_new(1500);
	uint8_t f[256], body[32] = {135};
	size_t len;

	(void)state;
	/* hop limit 254: crossed a router (§6.1.1, §7.1.1) */
	expect_drop(g, f, build_rs(f, guest_ll, 254, true), NAT_DROP_BAD_HDR);
	expect_drop(g, f, build_ns(f, guest_ll, gw6, 254, true), NAT_DROP_BAD_HDR);
	/* code not 0 */
	len = build_rs(f, guest_ll, 255, true);
	f[55] = 1;
	fill_csum6(f, 2);
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	/* an option of length 0, and one past the end */
	len = build_ns(f, guest_ll, gw6, 255, true);
	f[54 + 25] = 0;
	fill_csum6(f, 2);
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	len = build_ns(f, guest_ll, gw6, 255, true);
	f[54 + 25] = 2;
	fill_csum6(f, 2);
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	len = build_rs(f, guest_ll, 255, true);
	f[54 + 9] = 0;
	fill_csum6(f, 2);
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	/* DAD (source ::) with a source link-layer option */
	expect_drop(g, f, build_ns(f, unspec6, gw6, 255, true), NAT_DROP_BAD_HDR);
	/* RS from :: with a source link-layer option */
	expect_drop(g, f, build_rs(f, unspec6, 255, true), NAT_DROP_BAD_HDR);
	/* an NS too short for its target, a multicast target */
	memcpy(body + 8, gw6, 16);
	expect_drop(g, f, build_icmp6(f, guest_ll, gw6, 255, body, 20), NAT_DROP_RUNT);
	body[8] = 0xff;
	expect_drop(g, f, build_icmp6(f, guest_ll, gw6, 255, body, 24), NAT_DROP_BAD_HDR);
	/* Router Advertisements and Redirects from the guest: not ours */
	body[0] = 134;
	expect_drop(g, f, build_icmp6(f, guest_ll, all_nodes, 255, body, 16), NAT_DROP_UNKNOWN);
	guest_free(g);
}

/* ---- DHCPv6 -------------------------------------------------------------- */

#define XID6 0xabcdefu

static const uint8_t client_duid[] = {0, 3, 0, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t iaid[4] = {0xde, 0xad, 0xbe, 0xef};

struct d6 {
	uint8_t buf[512];
	size_t len;
};

static void d6_start(struct d6 *m, uint8_t type)
{
	m->buf[0] = type;
	m->buf[1] = (uint8_t)(XID6 >> 16);
	m->buf[2] = (uint8_t)(XID6 >> 8);
	m->buf[3] = (uint8_t)XID6;
	m->len = 4;
}

static void d6_opt(struct d6 *m, uint16_t code, const void *v, uint16_t len)
{
	put16(m->buf + m->len, code);
	put16(m->buf + m->len + 2, len);
	memcpy(m->buf + m->len + 4, v, len);
	m->len += 4u + len;
}

static void d6_ia_na(struct d6 *m, const uint8_t *addr)
{
	uint8_t ia[12 + 28] = {0};

	memcpy(ia, iaid, 4);
	if (addr) {
		put16(ia + 12, 5);
		put16(ia + 14, 24);
		memcpy(ia + 16, addr, 16);
	}
	d6_opt(m, 3, ia, addr ? 40 : 12);
}

static const uint8_t our_duid[] = {0, 3, 0, 1, 0x52, 0x55, 10, 0, 2, 2};

/* A message as clients send it: Client ID, ORO for DNS, elapsed time. */
static void d6_client(struct d6 *m, uint8_t type)
{
	static const uint8_t oro[] = {0, 23, 0, 24}, elapsed[2];

	d6_start(m, type);
	d6_opt(m, 1, client_duid, sizeof(client_duid));
	d6_opt(m, 6, oro, sizeof(oro));
	d6_opt(m, 8, elapsed, sizeof(elapsed));
}

static size_t build_dhcp6(uint8_t *f, const struct d6 *m)
{
	uint8_t mac[6];

	mcast_mac(mac, dhcp6_servers);
	build_ipv6(f, mac, guest_ll, dhcp6_servers, 17, 1, (uint16_t)(8 + m->len));
	put16(f + 54, 546);
	put16(f + 56, 547);
	put16(f + 58, (uint16_t)(8 + m->len));
	memcpy(f + 62, m->buf, m->len);
	fill_csum6(f, 6);
	return 62 + m->len;
}

/* Options of an answer by code (the last instance of each). */
struct d6_opts {
	const uint8_t *v[64];
	uint16_t len[64];
};

static void parse_d6(const uint8_t *o, const uint8_t *end, struct d6_opts *out)
{
	memset(out, 0, sizeof(*out));
	while (o < end) {
		uint16_t code, len;

		assert_true(end - o >= 4);
		code = get16(o);
		len = get16(o + 2);
		assert_true(end - o - 4 >= len);
		assert_true(code < 64);
		out->v[code] = o + 4;
		out->len[code] = len;
		o += 4 + len;
	}
}

/* The answer: from fe80::2:547 to the guest's :546, checksum right, the
 * transaction id and identifiers; returns its options. */
static void check_dhcp6(struct guest *g, uint8_t type, struct d6_opts *o)
{
	const uint8_t *r = g->buf[0];
	uint32_t len = g->len[0];

	assert_int_equal(g->n, 1);
	assert_true(len >= 62 + 4);
	assert_memory_equal(r, guest_mac, 6);
	assert_memory_equal(r + 6, gw_mac, 6);
	assert_int_equal(get16(r + 12), 0x86dd);
	assert_int_equal(get16(r + 18), len - 54);
	assert_int_equal(r[20], 17);
	assert_memory_equal(r + 22, gw6_ll, 16);
	assert_memory_equal(r + 38, guest_ll, 16);
	assert_int_equal(get16(r + 54), 547);
	assert_int_equal(get16(r + 56), 546);
	assert_int_equal(get16(r + 58), len - 54);
	assert_int_equal(l4_csum6(r), 0);
	assert_int_equal(r[62], type);
	assert_int_equal((uint32_t)r[63] << 16 | get16(r + 64), XID6);
	parse_d6(r + 66, r + len, o);
	assert_non_null(o->v[2]);
	assert_int_equal(o->len[2], sizeof(our_duid));
	assert_memory_equal(o->v[2], our_duid, sizeof(our_duid));
	assert_non_null(o->v[1]);
	assert_int_equal(o->len[1], sizeof(client_duid));
	assert_memory_equal(o->v[1], client_duid, sizeof(client_duid));
}

static void check_dns6(const struct d6_opts *o)
{
	assert_non_null(o->v[23]);
	assert_int_equal(o->len[23], 16);
	assert_memory_equal(o->v[23], dns6, 16);
}

/* The IA_NA carries our IAID and guest6 with lifetimes. */
static void check_ia_na(const struct d6_opts *o)
{
	const uint8_t *ia = o->v[3];

	assert_non_null(ia);
	assert_int_equal(o->len[3], 40);
	assert_memory_equal(ia, iaid, 4);
	assert_true(get32(ia + 4) > 0 && get32(ia + 4) <= get32(ia + 8));
	assert_int_equal(get16(ia + 12), 5);
	assert_int_equal(get16(ia + 14), 24);
	assert_memory_equal(ia + 16, guest6, 16);
	assert_true(get32(ia + 32) > 0 && get32(ia + 32) <= get32(ia + 36));
	assert_true(get32(ia + 8) < get32(ia + 32));
}

static void test_dhcp6_solicit_request(void **state)
{
	struct guest *g = guest_new(1500);
	struct d6_opts o;
	uint8_t f[BUF_CAP];
	struct d6 m;

	(void)state;
	d6_client(&m, 1);
	d6_ia_na(&m, NULL);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 2, &o); /* Advertise */
	check_ia_na(&o);
	check_dns6(&o);
	assert_non_null(o.v[7]); /* preference 255: no waiting */
	assert_int_equal(o.v[7][0], 255);
	assert_null(o.v[14]);

	d6_client(&m, 3); /* Request */
	d6_opt(&m, 2, our_duid, sizeof(our_duid));
	d6_ia_na(&m, guest6);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	check_ia_na(&o);
	check_dns6(&o);

	d6_client(&m, 5); /* Renew */
	d6_opt(&m, 2, our_duid, sizeof(our_duid));
	d6_ia_na(&m, guest6);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	check_ia_na(&o);

	d6_client(&m, 6); /* Rebind */
	d6_ia_na(&m, guest6);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	check_ia_na(&o);

	d6_client(&m, 1); /* Solicit with Rapid Commit: Reply at once */
	d6_opt(&m, 14, "", 0);
	d6_ia_na(&m, NULL);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	assert_non_null(o.v[14]);
	assert_int_equal(o.len[14], 0);
	check_ia_na(&o);
	guest_free(g);
}

static void test_dhcp6_stateless_confirm_release(void **state)
{
	static const uint8_t far6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	struct guest *g = guest_new(1500);
	struct d6_opts o;
	uint8_t f[BUF_CAP];
	struct d6 m;

	(void)state;
	d6_client(&m, 11); /* Information-request: DNS, no address */
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	check_dns6(&o);
	assert_null(o.v[3]);
	assert_null(o.v[13]);

	d6_client(&m, 4); /* Confirm an address on our prefix */
	d6_ia_na(&m, guest6);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	assert_non_null(o.v[13]);
	assert_int_equal(get16(o.v[13]), 0); /* Success */
	d6_client(&m, 4);		     /* ...and one from elsewhere */
	d6_ia_na(&m, far6);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	assert_int_equal(get16(o.v[13]), 4); /* NotOnLink */

	d6_client(&m, 8); /* Release */
	d6_opt(&m, 2, our_duid, sizeof(our_duid));
	d6_ia_na(&m, guest6);
	exchange(g, f, build_dhcp6(f, &m));
	check_dhcp6(g, 7, &o);
	assert_int_equal(get16(o.v[13]), 0);
	guest_free(g);
}

static void test_dhcp6_malformed(void **state)
{
	static const uint8_t other_duid[] = {0, 3, 0, 1, 2, 0, 0, 0, 0, 9};
	struct guest *g = guest_new(1500);
	uint8_t f[BUF_CAP];
	struct d6 m;
	size_t len;

	(void)state;
	/* Request for another server */
	d6_client(&m, 3);
	d6_opt(&m, 2, other_duid, sizeof(other_duid));
	d6_ia_na(&m, NULL);
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_NOT_OURS);
	/* Request without Server ID, Solicit with one, Solicit without
	 * Client ID, Information-request with an IA */
	d6_client(&m, 3);
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_BAD_HDR);
	d6_client(&m, 1);
	d6_opt(&m, 2, our_duid, sizeof(our_duid));
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_BAD_HDR);
	d6_start(&m, 1);
	d6_ia_na(&m, NULL);
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_BAD_HDR);
	d6_client(&m, 11);
	d6_ia_na(&m, NULL);
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_BAD_HDR);
	/* an option past the end; an IA_NA too short; a bad IA address */
	d6_client(&m, 1);
	d6_ia_na(&m, NULL);
	len = build_dhcp6(f, &m);
	put16(f + len - 12 - 2, 13);
	fill_csum6(f, 6);
	expect_drop(g, f, len, NAT_DROP_BAD_HDR);
	d6_client(&m, 1);
	d6_opt(&m, 3, iaid, 4);
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_BAD_HDR);
	d6_client(&m, 1);
	d6_ia_na(&m, guest6);
	m.buf[m.len - 28 + 3] = 20; /* the IA address option says 20 bytes */
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_BAD_HDR);
	/* a header cut short; a server's message */
	d6_start(&m, 1);
	m.len = 3;
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_RUNT);
	d6_client(&m, 7);
	expect_drop(g, f, build_dhcp6(f, &m), NAT_DROP_UNKNOWN);
	guest_free(g);
}

/* ---- DNS ----------------------------------------------------------------- */

static const struct sockaddr_in *sin_of(const struct sockaddr_storage *s)
{
	return (const struct sockaddr_in *)s;
}

static const struct sockaddr_in6 *sin6_of(const struct sockaddr_storage *s)
{
	return (const struct sockaddr_in6 *)s;
}

static void test_dns_load(void **state)
{
	char path[] = "/tmp/test_nat_resolv.XXXXXX", longline[1200];
	struct nat_net net;
	struct in6_addr a6;
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "nameserver 9.9.9.9 ", 19); /* overlong: not taken */
	fprintf(f,
		"# generated\n"
		"search example.com\n"
		"nameserver\n"
		"nameserver 999.1.2.3\n"
		"nameserverX 1.2.3.4\n"
		"nameserver not-an-address\n"
		"nameserver fe80::1%%no-such-if0\n"
		"%s\n"
		"  nameserver\t192.0.2.53 # the first\n"
		"nameserver 2001:db8::53\n"
		"nameserver fe80::53%%1\n"
		"nameserver 192.0.2.54\n",
		longline);
	assert_int_equal(fclose(f), 0);

	memset(&net, 0xaa, sizeof(net));
	assert_int_equal(nat_dns_load(&net, path), 3);
	assert_int_equal(net.n_dns_host, 3);
	assert_int_equal(net.dns_host[0].ss_family, AF_INET);
	assert_int_equal(ntohl(sin_of(&net.dns_host[0])->sin_addr.s_addr), 0xc0000235);
	assert_int_equal(ntohs(sin_of(&net.dns_host[0])->sin_port), 53);
	assert_int_equal(net.dns_host[1].ss_family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8::53", &a6);
	assert_memory_equal(&sin6_of(&net.dns_host[1])->sin6_addr, &a6, 16);
	assert_int_equal(sin6_of(&net.dns_host[1])->sin6_scope_id, 0);
	assert_int_equal(net.dns_host[2].ss_family, AF_INET6);
	inet_pton(AF_INET6, "fe80::53", &a6);
	assert_memory_equal(&sin6_of(&net.dns_host[2])->sin6_addr, &a6, 16);
	assert_int_equal(sin6_of(&net.dns_host[2])->sin6_scope_id, 1);
	assert_int_equal(ntohs(sin6_of(&net.dns_host[2])->sin6_port), 53);

	/* an interface name as the scope */
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "nameserver fe80::53%%lo\n");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(nat_dns_load(&net, path), 1);
	assert_int_equal(sin6_of(&net.dns_host[0])->sin6_scope_id, if_nametoindex("lo"));
	assert_int_equal(net.dns_host[1].ss_family, AF_UNSPEC);

	/* nothing usable; no file */
	write_file(path, "garbage\n\n\x01\x02\n");
	assert_int_equal(nat_dns_load(&net, path), 0);
	assert_int_equal(net.n_dns_host, 0);
	unlink(path);
	assert_int_equal(nat_dns_load(&net, path), -ENOENT);
}

static void key_to(struct nat_key *k, const char *addr, uint16_t port, uint8_t proto)
{
	struct in_addr a4;

	memset(k, 0, sizeof(*k));
	k->rport = port;
	k->gport = 40000;
	k->proto = proto;
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		nat_v4_to_mapped(&k->raddr, a4);
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, addr, &k->raddr), 1);
	k->v6 = 1;
}

static void net_default(struct nat_net *net)
{
	memset(net, 0, sizeof(*net));
	inet_pton(AF_INET, "10.0.2.15", &net->guest4);
	inet_pton(AF_INET, "10.0.2.2", &net->gw4);
	inet_pton(AF_INET, "10.0.2.3", &net->dns4);
	inet_pton(AF_INET, "255.255.255.0", &net->mask4);
	inet_pton(AF_INET6, "fec0::15", &net->guest6);
	inet_pton(AF_INET6, "fec0::2", &net->gw6);
	inet_pton(AF_INET6, "fec0::3", &net->dns6);
	inet_pton(AF_INET6, "fe80::2", &net->gw6_ll);
}

/* nat_remote_sockaddr(@k) is @want:@port ("" for 0). */
static void expect_remote(const struct nat_net *net, const char *raddr, uint16_t rport,
			  const char *want, uint16_t port)
{
	struct sockaddr_storage ss;
	struct nat_key k;
	char got[INET6_ADDRSTRLEN] = "";
	socklen_t len;

	key_to(&k, raddr, rport, IPPROTO_UDP);
	len = nat_remote_sockaddr(net, &k, &ss);
	if (!*want) {
		assert_int_equal(len, 0);
		return;
	}
	if (ss.ss_family == AF_INET) {
		assert_int_equal(len, sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &sin_of(&ss)->sin_addr, got, sizeof(got));
		assert_int_equal(ntohs(sin_of(&ss)->sin_port), port);
	} else {
		assert_int_equal(ss.ss_family, AF_INET6);
		assert_int_equal(len, sizeof(struct sockaddr_in6));
		inet_ntop(AF_INET6, &sin6_of(&ss)->sin6_addr, got, sizeof(got));
		assert_int_equal(ntohs(sin6_of(&ss)->sin6_port), port);
	}
	assert_string_equal(got, want);
}

static void test_remote_sockaddr(void **state)
{
	char path[] = "/tmp/test_nat_resolv.XXXXXX";
	struct nat_net net;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	net_default(&net);
	/* the gateway is the host's loopback, the port kept */
	expect_remote(&net, "10.0.2.2", 8080, "127.0.0.1", 8080);
	expect_remote(&net, "fec0::2", 22, "::1", 22);
	expect_remote(&net, "fe80::2", 22, "::1", 22);
	/* no resolvers: the DNS address leads nowhere */
	expect_remote(&net, "10.0.2.3", 53, "", 0);
	expect_remote(&net, "fec0::3", 53, "", 0);
	/* only an IPv6 resolver: serves IPv4 queries too */
	write_file(path, "nameserver 2001:db8::53\n");
	assert_int_equal(nat_dns_load(&net, path), 1);
	expect_remote(&net, "10.0.2.3", 53, "2001:db8::53", 53);
	expect_remote(&net, "fec0::3", 53, "2001:db8::53", 53);
	/* one of each: each family its own, the first of that family */
	write_file(path, "nameserver 2001:db8::53\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n");
	assert_int_equal(nat_dns_load(&net, path), 3);
	expect_remote(&net, "10.0.2.3", 53, "127.0.0.53", 53);
	expect_remote(&net, "fec0::3", 53, "2001:db8::53", 53);
	/* another port of the DNS address is kept */
	expect_remote(&net, "10.0.2.3", 853, "127.0.0.53", 853);
	/* a resolver on another port (--dns ADDR:PORT) keeps its port */
	((struct sockaddr_in *)&net.dns_host[1])->sin_port = htons(5353);
	expect_remote(&net, "10.0.2.3", 53, "127.0.0.53", 5353);
	/* anything else is itself */
	expect_remote(&net, "192.0.2.80", 80, "192.0.2.80", 80);
	expect_remote(&net, "2001:db8::80", 443, "2001:db8::80", 443);
	/* no host to connect to */
	expect_remote(&net, "0.0.0.0", 80, "", 0);
	expect_remote(&net, "0.1.2.3", 80, "", 0);
	expect_remote(&net, "255.255.255.255", 80, "", 0);
	expect_remote(&net, "10.0.2.255", 80, "", 0);
	expect_remote(&net, "224.0.0.251", 5353, "", 0);
	expect_remote(&net, "127.0.0.1", 80, "", 0);
	expect_remote(&net, "::", 80, "", 0);
	expect_remote(&net, "::1", 80, "", 0);
	expect_remote(&net, "ff02::fb", 5353, "", 0);
	expect_remote(&net, "fe80::99", 80, "", 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arp_answered),
		cmocka_unit_test(test_arp_ignored),
		cmocka_unit_test(test_dhcp_offer_ack),
		cmocka_unit_test(test_dhcp_nak_inform_release),
		cmocka_unit_test(test_dhcp_malformed),
		cmocka_unit_test(test_dhcp_mutations),
		cmocka_unit_test(test_ndp_rs_ra),
		cmocka_unit_test(test_ndp_ra_periodic),
		cmocka_unit_test(test_ndp_ra_small_mtu),
		cmocka_unit_test(test_ndp_ns_na),
		cmocka_unit_test(test_ndp_malformed),
		cmocka_unit_test(test_dhcp6_solicit_request),
		cmocka_unit_test(test_dhcp6_stateless_confirm_release),
		cmocka_unit_test(test_dhcp6_malformed),
		cmocka_unit_test(test_dns_load),
		cmocka_unit_test(test_remote_sockaddr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
