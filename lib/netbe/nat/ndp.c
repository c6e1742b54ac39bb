/* SPDX-License-Identifier: MIT */
/*
 * Neighbour discovery (RFC 4861) as the guest's only router:
 *
 *  - Neighbor Solicitation for gw6, dns6 or gw6_ll -> Neighbor
 *    Advertisement with our MAC (Router, Solicited, Override; §7.2.4);
 *    anything else (the guest's duplicate address detection, other
 *    addresses of the prefix) is not answered: nobody else is on the link.
 *  - Router Solicitation -> Router Advertisement from gw6_ll (§6.2.6):
 *    the prefix, on-link and autonomous, so SLAAC (RFC 4862) gives the
 *    guest an address; the MTU; our MAC; the DNS address (RDNSS, RFC
 *    8106); the O flag, so a client asks DHCPv6 (dhcp6.c) for the rest.
 *
 * A guest solicits an advertisement only when its interface comes up, so
 * once one did, pair 0 also sends one to all nodes every
 * NAT_RA_INTERVAL_MS (§6.2.4; the interval is fixed, with one guest there
 * are no routers to keep apart, §6.2.1's jitter): the router lifetime
 * (65535 s, RFC 8319) never runs out under a long-running guest.
 *
 * Every message is validated as §6.1.1 and §7.1.1 ask (hop limit 255,
 * code 0, lengths, option lengths non-zero and inside the message, the
 * unspecified source rules): a hop limit below 255 means the message
 * crossed a router, which on this link is forged.
 */
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>

#include "spec/ethernet.h"

#include "nat.h"
#include "svc.h"

#define ND_HOP_LIMIT 255
#define ND_RS	     133
#define ND_RA	     134
#define ND_NS	     135
#define ND_NA	     136
#define ND_RS_LEN    8u	   /* type, code, checksum, reserved */
#define ND_NS_LEN    24u   /* ...and the target address */
#define ND_MSG_MAX   1280u /* larger solicitations are not real (RFC 8200 §5) */

/* Option types (§4.6, RFC 8106 §5.1). */
#define ND_OPT_SLLA   1
#define ND_OPT_TLLA   2
#define ND_OPT_PREFIX 3
#define ND_OPT_MTU    5
#define ND_OPT_RDNSS  25

/* Router Advertisement contents. */
#define RA_HOP_LIMIT 64
#define RA_FLAG_O    0x40
/* The longest router lifetime (RFC 8319 §4 lifted RFC 4861's 9000 s):
 * the guest hears from us only when it solicits. */
#define RA_ROUTER_LIFETIME 65535u
#define RA_INFINITE	   0xffffffffu /* prefix and RDNSS lifetimes */
#define RA_PFX_L	   0x80	       /* on-link */
#define RA_PFX_A	   0x40	       /* autonomous address configuration */
#define IPV6_MIN_MTU	   1280u
#define RA_LEN		   (16u + 8u + 8u + 32u + 24u)

#define NA_FLAG_R 0x80
#define NA_FLAG_S 0x40
#define NA_FLAG_O 0x20
#define NA_LEN	  (ND_NS_LEN + 8u)

static const struct in6_addr all_nodes = {{{0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}};

/*
 * Walk the options after the fixed part (@off bytes) of @m (@len bytes):
 * each has a non-zero length and ends inside the message (§4.6, a
 * receiver "MUST silently discard an ND packet that contains an option
 * with length zero"). Return: whether a source link-layer address option
 * is present, or -1 for a malformed list.
 */
static int nd_options(const uint8_t *m, uint32_t off, uint32_t len)
{
	int slla = 0;

	while (off < len) {
		uint32_t olen;

		if (len - off < 2 || !m[off + 1])
			return -1;
		olen = m[off + 1] * 8u;
		if (olen > len - off)
			return -1;
		if (m[off] == ND_OPT_SLLA)
			slla = 1;
		off += olen;
	}
	return slla;
}

/*
 * Read the ICMPv6 message of @pkt into @m (ND_MSG_MAX bytes) and check
 * what every ND message must satisfy. Return: its length, or 0 when it
 * must be dropped (*@why says why).
 */
static uint32_t nd_read(const struct nat_pkt *pkt, uint8_t *m, uint32_t min, enum nat_drop *why)
{
	uint32_t len = svc_l4_len(pkt);

	*why = NAT_DROP_BAD_HDR;
	if (pkt->ttl != ND_HOP_LIMIT || pkt->icmp_code != 0)
		return 0;
	if (len < min) {
		*why = NAT_DROP_RUNT;
		return 0;
	}
	if (len > ND_MSG_MAX)
		return 0;
	if (!svc_copy(pkt, pkt->l4_off, m, len)) {
		*why = NAT_DROP_RUNT;
		return 0;
	}
	return len;
}

static bool nd_unspecified(const struct in6_addr *a)
{
	static const struct in6_addr any;

	return !memcmp(a, &any, sizeof(any));
}

/* Is @t one of the router's addresses? */
static bool nd_ours(const struct nat_net *net, const uint8_t *t)
{
	return !memcmp(t, &net->gw6, 16) || !memcmp(t, &net->dns6, 16) ||
	       !memcmp(t, &net->gw6_ll, 16);
}

/*
 * Start an ICMPv6 answer of @l4_len bytes from @src to @dst (hop limit
 * 255, §6.1.2 and §7.1.2 checks of the receiver), Ethernet destination
 * the multicast MAC of @dst or @mac. Return: the ICMPv6 header, or NULL
 * when the out queue is full. *@frame and *@l4_off say where it went.
 */
static uint8_t *nd_start(struct nat_pair *p, const struct in6_addr *src, const struct in6_addr *dst,
			 const uint8_t *mac, uint32_t l4_len, uint8_t **frame, uint32_t *l4_off)
{
	struct nat_key k = {.gaddr = *dst, .raddr = *src, .proto = IPPROTO_ICMPV6, .v6 = 1};
	uint8_t *f = nat_out_reserve(p);

	if (!f)
		return NULL;
	*l4_off = nat_build_ip_ttl(p, f, &k, l4_len, ND_HOP_LIMIT);
	svc_eth_dst6(f, dst, mac);
	*frame = f;
	memset(f + *l4_off, 0, l4_len);
	return f + *l4_off;
}

static enum nat_drop nd_finish(struct nat_pair *p, uint8_t *f, uint32_t l4_off, uint32_t l4_len)
{
	nat_build_l4_csum_full(f, l4_off, l4_len);
	return svc_send(p, l4_off + l4_len);
}

/* A link-layer address option (source or target, §4.6.1) with our MAC. */
static uint8_t *nd_opt_lla(uint8_t *o, uint8_t type, const uint8_t *mac)
{
	o[0] = type;
	o[1] = 1;
	memcpy(o + 2, mac, ETH_ADDR_LEN);
	return o + 8;
}

/* §7.2.4: answer a solicitation for one of our addresses. */
static enum nat_drop nd_advertise(struct nat_pair *p, const struct nat_pkt *pkt, const uint8_t *ns)
{
	const struct nat_net *net = &p->nat->net;
	const struct in6_addr *src = &pkt->key.gaddr;
	bool dad = nd_unspecified(src);
	struct in6_addr target;
	uint32_t l4_off;
	uint8_t *f, *na;

	memcpy(&target, ns + 8, sizeof(target)); /* @ns is not aligned */

	/* A solicitation from :: (the guest checking whether the address
	 * is free) is answered to all nodes, not solicited (§7.2.4). */
	na = nd_start(p, &target, dad ? &all_nodes : src, pkt->src_mac, NA_LEN, &f, &l4_off);
	if (!na)
		return NAT_DROP_OUT_FULL;
	na[0] = ND_NA;
	na[4] = NA_FLAG_R | NA_FLAG_O | (dad ? 0 : NA_FLAG_S);
	memcpy(na + 8, ns + 8, 16);
	nd_opt_lla(na + ND_NS_LEN, ND_OPT_TLLA, net->gw_mac);
	return nd_finish(p, f, l4_off, NA_LEN);
}

static enum nat_drop nd_solicit(struct nat_pair *p, const struct nat_pkt *pkt)
{
	uint8_t m[ND_MSG_MAX];
	enum nat_drop why;
	uint32_t len = nd_read(pkt, m, ND_NS_LEN, &why);
	int slla;

	if (!len)
		return why;
	slla = nd_options(m, ND_NS_LEN, len);
	if (slla < 0 || m[8] == 0xff) /* the target is never multicast */
		return NAT_DROP_BAD_HDR;
	/* From ::, the destination is a solicited-node address and there
	 * is no source link-layer option (§7.1.1). */
	if (nd_unspecified(&pkt->key.gaddr) && (slla || pkt->key.raddr.s6_addr[0] != 0xff))
		return NAT_DROP_BAD_HDR;
	if (!nd_ours(&p->nat->net, m + 8))
		return NAT_DROP_NOT_OURS;
	return nd_advertise(p, pkt, m);
}

/* The prefix information option (§4.6.2): on-link and autonomous. */
static uint8_t *ra_opt_prefix(uint8_t *o, const struct nat_net *net)
{
	unsigned plen = net->prefix6_len > 128 ? 128 : net->prefix6_len;

	o[0] = ND_OPT_PREFIX;
	o[1] = 4;
	o[2] = (uint8_t)plen;
	o[3] = RA_PFX_L | RA_PFX_A;
	nat_wr32(o + 4, RA_INFINITE); /* valid */
	nat_wr32(o + 8, RA_INFINITE); /* preferred */
	/* The bits past the prefix length are zero (§4.6.2 "Prefix"). */
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;

		o[16 + i] = (uint8_t)(net->prefix6.s6_addr[i] & (0xff00 >> keep));
	}
	return o + 32;
}

static uint8_t *ra_opt_mtu(uint8_t *o, uint32_t mtu)
{
	o[0] = ND_OPT_MTU;
	o[1] = 1;
	nat_wr32(o + 4, mtu);
	return o + 8;
}

/* RDNSS (RFC 8106 §5.1): one address, length 3 (8-octet units). */
static uint8_t *ra_opt_rdnss(uint8_t *o, const struct in6_addr *dns)
{
	o[0] = ND_OPT_RDNSS;
	o[1] = 3;
	nat_wr32(o + 4, RA_INFINITE);
	memcpy(o + 8, dns, 16);
	return o + 24;
}

enum nat_drop nat_ndp_ra(struct nat_pair *p, const struct in6_addr *dst, const uint8_t *mac)
{
	const struct nat_net *net = &p->nat->net;
	/* Below 1280 IPv6 does not work at all (RFC 8200 §5) and a
	 * receiver would ignore the option: then there is none. */
	bool mtu = net->mtu >= IPV6_MIN_MTU;
	uint32_t l4_off, len = RA_LEN - (mtu ? 0 : 8);
	uint8_t *f, *ra, *o;

	ra = nd_start(p, &net->gw6_ll, dst, mac, len, &f, &l4_off);
	if (!ra)
		return NAT_DROP_OUT_FULL;
	ra[0] = ND_RA;
	ra[4] = RA_HOP_LIMIT;
	ra[5] = RA_FLAG_O;
	nat_wr16(ra + 6, RA_ROUTER_LIFETIME);
	/* reachable time and retransmission timer 0: unspecified (§4.2) */
	o = nd_opt_lla(ra + 16, ND_OPT_SLLA, net->gw_mac);
	if (mtu)
		o = ra_opt_mtu(o, net->mtu);
	o = ra_opt_prefix(o, net);
	ra_opt_rdnss(o, &net->dns6);
	return nd_finish(p, f, l4_off, len);
}

void nat_ndp_ra_periodic(struct nat_pair *p)
{
	if (atomic_load_explicit(&p->nat->ra_wanted, memory_order_relaxed))
		nat_drop_count(p, nat_ndp_ra(p, &all_nodes, NULL));
}

static enum nat_drop nd_router_solicit(struct nat_pair *p, const struct nat_pkt *pkt)
{
	uint8_t m[ND_MSG_MAX];
	enum nat_drop why;
	uint32_t len = nd_read(pkt, m, ND_RS_LEN, &why);
	int slla;
	bool any;

	if (!len)
		return why;
	slla = nd_options(m, ND_RS_LEN, len);
	any = nd_unspecified(&pkt->key.gaddr);
	if (slla < 0 || (any && slla)) /* §6.1.1 */
		return NAT_DROP_BAD_HDR;
	atomic_store_explicit(&p->nat->ra_wanted, true, memory_order_relaxed);
	/* Unicast to the asker when it has an address (§6.2.6 allows it),
	 * else to all nodes. */
	return nat_ndp_ra(p, any ? &all_nodes : &pkt->key.gaddr, pkt->src_mac);
}

enum nat_drop nat_ndp_input(struct nat_pair *p, const struct nat_pkt *pkt)
{
	if (pkt->ipv != 6 || pkt->proto != IPPROTO_ICMPV6)
		return NAT_DROP_UNKNOWN;
	switch (pkt->icmp_type) {
	case ND_NS:
		return nd_solicit(p, pkt);
	case ND_RS:
		return nd_router_solicit(p, pkt);
	default:
		return NAT_DROP_UNKNOWN;
	}
}
