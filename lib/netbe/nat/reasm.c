/* SPDX-License-Identifier: MIT */
/*
 * Reassembly of the guest's IP fragments (RFC 791 §3.2, RFC 8200 §4.5),
 * so that a guest whose datagrams exceed the MTU (a UDP application
 * writing 8 KB at MTU 1500, ping -s 4000) is served as libslirp serves
 * it. The whole datagram then takes the normal path (nat.c), once.
 *
 * What a hostile guest can do with fragments, and what it gets:
 *  - overlapping fragments (the old teardrop and the RFC 5722 ambiguity:
 *    which copy of the bytes wins?): the whole datagram is given up, as
 *    RFC 5722 §4 asks for IPv6 and Linux does for both families;
 *  - a datagram beyond 64 KiB (ping of death): refused at the fragment
 *    that would pass the limit;
 *  - fragments that never complete: at most NAT_REASM_SLOTS datagrams per
 *    pair wait, each at most reasm_timeout_ns (NAT_REASM_TIMEOUT_NS); a
 *    new datagram takes the oldest slot when none is free. All memory is
 *    allocated with the pair; every datagram given up is counted
 *    (reasm_failed).
 *
 * A datagram that times out after its first fragment came is reported to
 * the guest as its destination would report it: ICMP time exceeded,
 * "fragment reassembly time exceeded" (RFC 792; RFC 8200 §4.5 for IPv6,
 * which asks for it only then), quoting that fragment. The pair's tick
 * runs while a slot waits, so a lone fragment is noticed on time.
 * docs/security.md lists these with the tests that prove them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/csum.h"
#include "base/iov.h"
#include "spec/ethernet.h"

#include "nat.h"

int nat_reasm_init(struct nat_pair *p)
{
	for (unsigned i = 0; i < NAT_REASM_SLOTS; i++) {
		p->reasm[i].buf = malloc(NAT_REASM_HDR + NAT_IP_MAX);
		if (!p->reasm[i].buf)
			return -ENOMEM;
	}
	return 0;
}

void nat_reasm_fini(struct nat_pair *p)
{
	for (unsigned i = 0; i < NAT_REASM_SLOTS; i++) {
		free(p->reasm[i].buf);
		p->reasm[i].buf = NULL;
	}
}

static bool same_datagram(const struct nat_reasm *r, const struct nat_pkt *pkt)
{
	/* RFC 791 §3.2: source, destination, protocol and ID; RFC 8200
	 * §4.5: source, destination and ID. */
	return r->used && r->v6 == pkt->key.v6 && r->id == pkt->frag_id &&
	       (pkt->key.v6 || r->proto == pkt->proto) && !memcmp(&r->src, &pkt->key.gaddr, 16) &&
	       !memcmp(&r->dst, &pkt->key.raddr, 16);
}

/* Whether any of the 8-byte blocks [@first, @end) was received. */
static bool blocks_any(const struct nat_reasm *r, uint32_t first, uint32_t end)
{
	for (uint32_t b = first; b < end; b++)
		if (r->blocks[b / 64] >> (b % 64) & 1)
			return true;
	return false;
}

/* The tick is wanted while any slot waits. */
static void timer_update(struct nat_pair *p)
{
	bool any = false;

	for (unsigned i = 0; i < NAT_REASM_SLOTS; i++)
		any |= p->reasm[i].used;
	nat_timer_hold(p, &p->reasm_timer, any);
}

static void give_up(struct nat_pair *p, struct nat_reasm *r)
{
	r->used = 0;
	nat_count(&p->cnt.reasm_failed);
}

/* ICMP time exceeded, code 1, to the guest from the datagram's
 * destination, quoting the first fragment: its IP header (IPv6: with a
 * Fragment header again, offset 0, M set) and the first 8 bytes of its
 * data, which it has: a fragment with more after it carries a nonzero
 * multiple of 8 (check_fragment()), and one at offset 0 without would
 * have completed the datagram or given it up. */
static void time_exceeded(struct nat_pair *p, const struct nat_reasm *r)
{
	struct nat_key k = {.v6 = r->v6, .gaddr = r->src, .raddr = r->dst};
	uint32_t n = r->hdr_len - ETH_HDR_LEN;
	uint8_t q[60 + 8 + 8];

	memcpy(q, r->hdr + ETH_HDR_LEN, n);
	if (r->v6) {
		q[6] = 44; /* Fragment header (RFC 8200 §4.5) */
		q[40] = r->proto;
		q[41] = 0;
		nat_wr16(q + 42, 1); /* offset 0, M */
		nat_wr32(q + 44, r->id);
		n += 8;
	}
	memcpy(q + n, r->buf + NAT_REASM_HDR, 8);
	/* ICMPv6 type 3 / ICMP type 11, code 1: reassembly time exceeded */
	nat_icmp_error(p, &k, r->v6 ? 3 : 11, 1, q, n + 8);
}

/* @r's time is up: given up, and reported when its first fragment came. */
static void expire(struct nat_pair *p, struct nat_reasm *r)
{
	if (r->hdr_len)
		time_exceeded(p, r);
	give_up(p, r);
}

static void slot_start(struct nat_pair *p, struct nat_reasm *r, const struct nat_pkt *pkt,
		       uint64_t now)
{
	r->used = 1;
	r->v6 = pkt->key.v6;
	r->proto = pkt->proto;
	r->id = pkt->frag_id;
	r->src = pkt->key.gaddr;
	r->dst = pkt->key.raddr;
	r->expire_ns = now + p->nat->reasm_timeout_ns;
	r->total = r->got = 0;
	r->hdr_len = 0;
	memset(r->blocks, 0, sizeof(r->blocks));
}

/* The slot of @pkt's datagram: its own, else a free or expired one, else
 * the oldest (its datagram given up). */
static struct nat_reasm *slot_for(struct nat_pair *p, const struct nat_pkt *pkt, uint64_t now)
{
	struct nat_reasm *r, *pick = NULL;

	for (unsigned i = 0; i < NAT_REASM_SLOTS; i++) {
		r = &p->reasm[i];
		if (r->used && now >= r->expire_ns)
			expire(p, r);
		if (same_datagram(r, pkt))
			return r;
		if (!pick || (pick->used && (!r->used || r->expire_ns < pick->expire_ns)))
			pick = r;
	}
	if (pick->used)
		give_up(p, pick);
	slot_start(p, pick, pkt, now);
	return pick;
}

/* Mark blocks [@first, @end) received; false when one already was. */
static bool blocks_claim(struct nat_reasm *r, uint32_t first, uint32_t end)
{
	if (blocks_any(r, first, end))
		return false;
	for (uint32_t b = first; b < end; b++)
		r->blocks[b / 64] |= 1ull << (b % 64);
	return true;
}

/* The fragment fits what the datagram's other fragments said. */
static bool fragment_fits(struct nat_reasm *r, const struct nat_pkt *pkt)
{
	uint32_t end = pkt->frag_off + pkt->pay_len;

	if (r->total && end > r->total)
		return false; /* past the end the last fragment set */
	if (!pkt->frag_more) {
		if (r->total)
			return false; /* a second last fragment */
		if (blocks_any(r, (end + 7) / 8, (NAT_IP_MAX + 1) / 8))
			return false; /* something received beyond this end */
		r->total = end;
	}
	return blocks_claim(r, pkt->frag_off / 8, (end + 7) / 8);
}

/* Keep the Ethernet and IP headers of the fragment at offset 0: they
 * become the datagram's (IPv6: the fixed header, its Fragment header
 * dropped). */
static void keep_headers(struct nat_reasm *r, const struct nat_pkt *pkt)
{
	uint32_t l3 = pkt->key.v6 ? 40 : pkt->l4_off - pkt->l3_off;

	r->hdr_len = (uint8_t)(ETH_HDR_LEN + l3);
	memcpy(r->hdr, pkt->hdr, r->hdr_len);
	if (pkt->key.v6)
		r->hdr[ETH_HDR_LEN + 6] = pkt->proto;
}

/* The datagram is whole: its headers in front of its payload, the length
 * fields set, the fragment fields cleared. */
static void complete(struct nat_reasm *r, struct netbe_txpkt *whole)
{
	uint8_t *f = r->buf + NAT_REASM_HDR - r->hdr_len, *ip = f + ETH_HDR_LEN;
	uint32_t l3 = r->hdr_len - ETH_HDR_LEN;

	memcpy(f, r->hdr, r->hdr_len);
	if (r->v6) {
		nat_wr16(ip + 4, (uint16_t)r->total);
	} else {
		nat_wr16(ip + 2, (uint16_t)(l3 + r->total));
		nat_wr16(ip + 6, 0);
		nat_wr16(ip + 10, 0);
		nat_wr16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, l3)));
	}
	r->iov = (struct iovec){.iov_base = f, .iov_len = r->hdr_len + r->total};
	*whole = (struct netbe_txpkt){.iov = &r->iov, .iovcnt = 1, .len = (uint32_t)r->iov.iov_len};
}

static enum nat_drop check_fragment(const struct nat_pkt *pkt)
{
	uint32_t l3 = pkt->key.v6 ? 0 : pkt->l4_off - pkt->l3_off;

	/* Every fragment but the last carries a multiple of 8 bytes (RFC
	 * 791 §3.1, RFC 8200 §4.5); an empty one carries nothing. */
	if (!pkt->pay_len || (pkt->frag_more && pkt->pay_len % 8))
		return NAT_DROP_BAD_HDR;
	/* The datagram may not exceed 64 KiB (IPv4: with its header). */
	if (pkt->frag_off + pkt->pay_len > NAT_IP_MAX - l3)
		return NAT_DROP_FRAGMENT;
	return NAT_DROP_NONE;
}

/* Put @pkt into @r's datagram; as nat_reasm_input(). */
static enum nat_drop take_fragment(struct nat_pair *p, struct nat_reasm *r,
				   const struct nat_pkt *pkt, struct netbe_txpkt *whole)
{
	if (!fragment_fits(r, pkt)) {
		give_up(p, r);
		return NAT_DROP_FRAGMENT;
	}
	if (iov_to_buf(pkt->iov, pkt->iovcnt, pkt->pay_off, r->buf + NAT_REASM_HDR + pkt->frag_off,
		       pkt->pay_len) != pkt->pay_len) {
		give_up(p, r);
		return NAT_DROP_RUNT;
	}
	nat_count(&p->cnt.frags_in);
	if (!pkt->frag_off)
		keep_headers(r, pkt);
	r->got += pkt->pay_len;
	if (r->total && r->got == r->total && r->hdr_len) {
		if (r->hdr_len - ETH_HDR_LEN + r->total > NAT_IP_MAX + (r->v6 ? 40u : 0u)) {
			give_up(p, r); /* IPv4 options made it too long */
			return NAT_DROP_FRAGMENT;
		}
		complete(r, whole);
		nat_count(&p->cnt.reasm_done);
	}
	return NAT_DROP_NONE;
}

enum nat_drop nat_reasm_input(struct nat_pair *p, const struct nat_pkt *pkt,
			      struct netbe_txpkt *whole)
{
	enum nat_drop why = check_fragment(pkt);
	struct nat_reasm *r;

	whole->len = 0;
	if (why != NAT_DROP_NONE)
		return why;
	r = slot_for(p, pkt, clock_mono_ns());
	why = take_fragment(p, r, pkt, whole);
	timer_update(p);
	return why;
}

void nat_reasm_release(struct nat_pair *p, const struct netbe_txpkt *whole)
{
	for (unsigned i = 0; i < NAT_REASM_SLOTS; i++)
		if (whole->iov == &p->reasm[i].iov)
			p->reasm[i].used = 0;
	timer_update(p);
}

void nat_reasm_tick(struct nat_pair *p, uint64_t now)
{
	for (unsigned i = 0; i < NAT_REASM_SLOTS; i++) {
		struct nat_reasm *r = &p->reasm[i];

		if (r->used && now >= r->expire_ns)
			expire(p, r);
	}
	timer_update(p);
}
