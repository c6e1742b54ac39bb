/* SPDX-License-Identifier: MIT */
/*
 * nat_parse(): the guest's frame, from Ethernet to the transport header,
 * read once and checked once, so no handler ever reads a header field it
 * has not been promised. Every length is checked against both the bytes
 * the frame has and the lengths the headers claim; the smaller wins.
 * Checksums are not verified (nat.h says why).
 */
#include <netinet/in.h>
#include <string.h>

#include "base/iov.h"
#include "spec/ethernet.h"

#include "nat.h"

#define ETH_TYPE_ARP 0x0806u
#define ARP_LEN	     28u /* Ethernet/IPv4 ARP, RFC 826 */
#define IPV4_MIN     20u
#define IPV6_LEN     40u
#define TCP_MIN	     20u
#define UDP_LEN	     8u
#define ICMP_MIN     8u /* type, code, checksum, and 4 bytes (echo: id, seq) */

const char *nat_drop_name(enum nat_drop why)
{
	static const char *const names[NAT_DROP_N] = {
		[NAT_DROP_NONE] = "none",
		[NAT_DROP_RUNT] = "runt",
		[NAT_DROP_BAD_HDR] = "bad-header",
		[NAT_DROP_FRAGMENT] = "fragment",
		[NAT_DROP_UNKNOWN] = "unknown-protocol",
		[NAT_DROP_NOT_OURS] = "not-ours",
		[NAT_DROP_FLOWS] = "flow-table-full",
		[NAT_DROP_SOCKET] = "host-socket",
		[NAT_DROP_NO_FLOW] = "no-flow",
		[NAT_DROP_OUT_FULL] = "out-queue-full",
		[NAT_DROP_HANDOFF] = "handoff-full",
		[NAT_DROP_NOT_READY] = "not-ready",
	};

	return (unsigned)why < NAT_DROP_N && names[why] ? names[why] : "?";
}

/* TCP options (RFC 9293 §3.1, RFC 7323 §2.2, RFC 2018 §2): MSS, window
 * scale, SACK permitted. A malformed option ends the walk; the options
 * read so far stand (the segment itself is still good). */
static void parse_tcp_options(struct nat_pkt *p, const uint8_t *o, uint32_t len)
{
	uint32_t i = 0;

	while (i < len) {
		uint8_t kind = o[i], olen;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || (olen = o[i + 1]) < 2 || i + olen > len)
			break;
		if (kind == 2 && olen == 4)
			p->mss = nat_rd16(o + i + 2);
		else if (kind == 3 && olen == 3)
			p->wscale = o[i + 2] > 14 ? 14 : o[i + 2]; /* RFC 7323 §2.3 */
		else if (kind == 4 && olen == 2)
			p->sack_ok = true;
		i += olen;
	}
}

static enum nat_drop parse_tcp(struct nat_pkt *p, uint32_t l4_len)
{
	const uint8_t *t = p->hdr + p->l4_off;
	uint32_t doff;

	if (l4_len < TCP_MIN || p->l4_off + TCP_MIN > p->hdr_len)
		return NAT_DROP_RUNT;
	doff = (uint32_t)(t[12] >> 4) * 4;
	if (doff < TCP_MIN || doff > l4_len)
		return NAT_DROP_BAD_HDR;
	if (p->l4_off + doff > p->hdr_len)
		return NAT_DROP_RUNT;
	p->key.gport = nat_rd16(t);
	p->key.rport = nat_rd16(t + 2);
	p->seq = nat_rd32(t + 4);
	p->ack = nat_rd32(t + 8);
	p->tcp_flags = t[13];
	p->win = nat_rd16(t + 14);
	p->wscale = 0xff;
	parse_tcp_options(p, t + TCP_MIN, doff - TCP_MIN);
	p->pay_off = p->l4_off + doff;
	p->pay_len = l4_len - doff;
	return NAT_DROP_NONE;
}

static enum nat_drop parse_udp(struct nat_pkt *p, uint32_t l4_len)
{
	const uint8_t *u = p->hdr + p->l4_off;
	uint32_t ulen;

	if (l4_len < UDP_LEN || p->l4_off + UDP_LEN > p->hdr_len)
		return NAT_DROP_RUNT;
	ulen = nat_rd16(u + 4);
	/* RFC 768: the length covers header and data; it may not claim more
	 * than the IP packet holds. Less is legal (trailing bytes ignored). */
	if (ulen < UDP_LEN || ulen > l4_len)
		return NAT_DROP_BAD_HDR;
	p->key.gport = nat_rd16(u);
	p->key.rport = nat_rd16(u + 2);
	p->pay_off = p->l4_off + UDP_LEN;
	p->pay_len = ulen - UDP_LEN;
	return NAT_DROP_NONE;
}

/* ICMP and ICMPv6: type, code, and for echo the identifier as the flow's
 * "ports" (RFC 792, RFC 4443 §4.1). */
static enum nat_drop parse_icmp(struct nat_pkt *p, uint32_t l4_len)
{
	const uint8_t *c = p->hdr + p->l4_off;

	if (l4_len < ICMP_MIN || p->l4_off + ICMP_MIN > p->hdr_len)
		return NAT_DROP_RUNT;
	p->icmp_type = c[0];
	p->icmp_code = c[1];
	p->key.gport = p->key.rport = nat_rd16(c + 4);
	p->pay_off = p->l4_off + ICMP_MIN;
	p->pay_len = l4_len - ICMP_MIN;
	return NAT_DROP_NONE;
}

static enum nat_drop parse_l4(struct nat_pkt *p, uint32_t l4_len)
{
	p->key.proto = p->proto;
	switch (p->proto) {
	case IPPROTO_TCP:
		return parse_tcp(p, l4_len);
	case IPPROTO_UDP:
		return parse_udp(p, l4_len);
	case IPPROTO_ICMP:
		return p->ipv == 4 ? parse_icmp(p, l4_len) : NAT_DROP_UNKNOWN;
	case IPPROTO_ICMPV6:
		return p->ipv == 6 ? parse_icmp(p, l4_len) : NAT_DROP_UNKNOWN;
	default:
		return NAT_DROP_UNKNOWN;
	}
}

static enum nat_drop parse_ipv4(struct nat_pkt *p)
{
	const uint8_t *ip = p->hdr + p->l3_off;
	uint32_t ihl, tot;
	struct in_addr a;

	if (p->l3_off + IPV4_MIN > p->hdr_len)
		return NAT_DROP_RUNT;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	tot = nat_rd16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < IPV4_MIN)
		return NAT_DROP_BAD_HDR;
	if (p->l3_off + ihl > p->hdr_len || p->l3_off + tot > p->len)
		return NAT_DROP_RUNT;
	if (tot < ihl)
		return NAT_DROP_BAD_HDR;
	p->ipv = 4;
	p->ttl = ip[8];
	p->proto = ip[9];
	p->key.v6 = 0;
	memcpy(&a, ip + 12, 4);
	nat_v4_to_mapped(&p->key.gaddr, a);
	memcpy(&a, ip + 16, 4);
	nat_v4_to_mapped(&p->key.raddr, a);
	p->l4_off = p->l3_off + ihl;
	/* More fragments, or an offset (RFC 791 §3.1): for reasm.c. */
	if ((ip[6] & 0x3f) || ip[7]) {
		p->frag = true;
		p->frag_more = ip[6] & 0x20;
		p->frag_off = (uint32_t)(nat_rd16(ip + 6) & 0x1fff) * 8;
		p->frag_id = nat_rd16(ip + 4);
		p->pay_off = p->l4_off;
		p->pay_len = tot - ihl;
		return NAT_DROP_NONE;
	}
	return parse_l4(p, tot - ihl);
}

/* The Fragment header (RFC 8200 §4.5) at l4_off, @plen bytes from it on. */
static enum nat_drop parse_frag6(struct nat_pkt *p, uint32_t plen)
{
	const uint8_t *fh = p->hdr + p->l4_off;
	uint16_t off_m;

	if (plen < 8)
		return NAT_DROP_RUNT;
	if (p->l4_off + 8 > p->hdr_len)
		return NAT_DROP_RUNT;
	p->proto = fh[0];
	off_m = nat_rd16(fh + 2);
	p->l4_off += 8;
	/* An atomic fragment (offset 0, no more: RFC 6946) is the whole
	 * datagram. */
	if (!(off_m & 0xfff9))
		return parse_l4(p, plen - 8);
	p->frag = true;
	p->frag_more = off_m & 1;
	p->frag_off = off_m & 0xfff8u;
	p->frag_id = nat_rd32(fh + 4);
	p->pay_off = p->l4_off;
	p->pay_len = plen - 8;
	return NAT_DROP_NONE;
}

static enum nat_drop parse_ipv6(struct nat_pkt *p)
{
	const uint8_t *ip = p->hdr + p->l3_off;
	uint32_t plen;

	if (p->l3_off + IPV6_LEN > p->hdr_len)
		return NAT_DROP_RUNT;
	if ((ip[0] >> 4) != 6)
		return NAT_DROP_BAD_HDR;
	plen = nat_rd16(ip + 4);
	/* Payload length 0 is a jumbogram (RFC 2675), which needs a
	 * hop-by-hop option we do not read: refused with it below. */
	if (p->l3_off + IPV6_LEN + plen > p->len)
		return NAT_DROP_RUNT;
	p->ipv = 6;
	p->proto = ip[6];
	p->ttl = ip[7];
	p->key.v6 = 1;
	memcpy(&p->key.gaddr, ip + 8, 16);
	memcpy(&p->key.raddr, ip + 24, 16);
	p->l4_off = p->l3_off + IPV6_LEN;
	if (p->proto == 44) /* Fragment header */
		return parse_frag6(p, plen);
	return parse_l4(p, plen);
}

static enum nat_drop parse_arp(struct nat_pkt *p)
{
	if (p->l3_off + ARP_LEN > p->hdr_len)
		return NAT_DROP_RUNT;
	p->ipv = 0;
	p->proto = 0;
	p->l4_off = p->pay_off = p->l3_off + ARP_LEN;
	return NAT_DROP_NONE;
}

enum nat_drop nat_parse(struct nat_pkt *p, const struct netbe_txpkt *tx)
{
	uint32_t copy = tx->len < NAT_HDR_MAX ? tx->len : NAT_HDR_MAX;

	p->iov = tx->iov;
	p->iovcnt = tx->iovcnt;
	p->len = tx->len;
	p->meta = tx->meta;
	p->hdr_len = (uint32_t)iov_to_buf(tx->iov, tx->iovcnt, 0, p->hdr, copy);
	p->ipv = p->proto = p->ttl = 0;
	p->tcp_flags = p->icmp_type = p->icmp_code = 0;
	p->seq = p->ack = 0;
	p->win = p->mss = 0;
	p->wscale = 0xff;
	p->sack_ok = false;
	p->frag = p->frag_more = false;
	p->frag_off = p->frag_id = 0;
	p->pay_off = p->pay_len = 0;
	memset(&p->key, 0, sizeof(p->key));
	if (p->hdr_len < ETH_HDR_LEN || p->hdr_len < copy)
		return NAT_DROP_RUNT;
	p->ethertype = eth_frame_type(p->hdr);
	memcpy(p->src_mac, p->hdr + ETH_ADDR_LEN, ETH_ADDR_LEN);
	p->l3_off = ETH_HDR_LEN;
	switch (p->ethertype) {
	case ETH_TYPE_ARP:
		return parse_arp(p);
	case ETH_TYPE_IPV4:
		return parse_ipv4(p);
	case ETH_TYPE_IPV6:
		return parse_ipv6(p);
	default:
		return NAT_DROP_UNKNOWN;
	}
}
