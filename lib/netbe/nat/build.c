/* SPDX-License-Identifier: MIT */
/*
 * Frames to the guest: Ethernet and IP headers from a flow's key, the
 * transport checksum (complete, or left partial when the guest accepts
 * VIRTIO_NET_HDR_F_NEEDS_CSUM: VIRTIO 1.2 §5.1.6.4.1, where the driver
 * then validates nothing and the sum is never computed at all), and the
 * pair's queue of generated frames (ARP, DHCP, TCP control segments)
 * that rx() hands out before any socket data.
 */
#include <netinet/in.h>
#include <string.h>

#include "base/csum.h"
#include "spec/ethernet.h"
#include "spec/virtio_net.h"

#include "nat.h"

void nat_build_eth(const struct nat_pair *p, uint8_t *buf, uint16_t ethertype)
{
	const struct nat_net *net = &p->nat->net;

	memcpy(buf, net->guest_mac, ETH_ADDR_LEN);
	memcpy(buf + ETH_ADDR_LEN, net->gw_mac, ETH_ADDR_LEN);
	nat_wr16(buf + ETH_TYPE_OFF, (uint16_t)ethertype);
}

static uint32_t build_ipv4(uint8_t *ip, const struct nat_key *k, uint32_t l4_len, uint8_t ttl)
{
	struct in_addr src = nat_mapped_to_v4(&k->raddr), dst = nat_mapped_to_v4(&k->gaddr);

	ip[0] = 0x45;
	ip[1] = 0;
	nat_wr16(ip + 2, (uint16_t)(20 + l4_len));
	nat_wr16(ip + 4, 0);
	nat_wr16(ip + 6, 0x4000); /* DF: we never fragment (RFC 6864 §4.1: ID may be 0) */
	ip[8] = ttl;
	ip[9] = k->proto;
	nat_wr16(ip + 10, 0);
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	nat_wr16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, 20)));
	return 20;
}

static uint32_t build_ipv6(uint8_t *ip, const struct nat_key *k, uint32_t l4_len, uint8_t ttl)
{
	ip[0] = 0x60;
	ip[1] = ip[2] = ip[3] = 0;
	nat_wr16(ip + 4, (uint16_t)l4_len);
	ip[6] = k->proto;
	ip[7] = ttl;
	memcpy(ip + 8, &k->raddr, 16);
	memcpy(ip + 24, &k->gaddr, 16);
	return 40;
}

uint32_t nat_build_ip_ttl(const struct nat_pair *p, uint8_t *buf, const struct nat_key *k,
			  uint32_t l4_len, uint8_t ttl)
{
	uint8_t *ip = buf + ETH_HDR_LEN;

	if (k->v6) {
		nat_build_eth(p, buf, ETH_TYPE_IPV6);
		return ETH_HDR_LEN + build_ipv6(ip, k, l4_len, ttl);
	}
	nat_build_eth(p, buf, ETH_TYPE_IPV4);
	return ETH_HDR_LEN + build_ipv4(ip, k, l4_len, ttl);
}

uint32_t nat_build_ip(const struct nat_pair *p, uint8_t *buf, const struct nat_key *k,
		      uint32_t l4_len)
{
	return nat_build_ip_ttl(p, buf, k, l4_len, 64);
}

/* Where the checksum of @proto sits in its header; 0 for none. */
static uint16_t csum_offset_of(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
		return 6;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 2;
	default:
		return 0;
	}
}

/* The pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1) of the packet at
 * @buf; ICMPv4 has none (RFC 792). Sets *@proto from the IP header. */
static uint32_t pseudo_sum(const uint8_t *buf, uint32_t l4_len, uint8_t *proto)
{
	const uint8_t *ip = buf + ETH_HDR_LEN;

	if ((ip[0] >> 4) == 6) {
		*proto = ip[6];
		return inet_pseudo_sum(ip + 8, ip + 24, 16, *proto, l4_len);
	}
	*proto = ip[9];
	return *proto == IPPROTO_ICMP ? 0 : inet_pseudo_sum(ip + 12, ip + 16, 4, *proto, l4_len);
}

void nat_build_l4_csum_full(uint8_t *buf, uint32_t l4_off, uint32_t l4_len)
{
	uint8_t proto;
	uint32_t s = pseudo_sum(buf, l4_len, &proto);
	uint16_t off = csum_offset_of(proto), c;

	if (!off)
		return;
	nat_wr16(buf + l4_off + off, 0);
	c = inet_csum_fold(inet_csum_add(s, buf + l4_off, l4_len));
	/* A computed 0 is sent as 0xffff: for UDP 0 means "no checksum"
	 * (RFC 768), and both verify the same for TCP and ICMP. */
	nat_wr16(buf + l4_off + off, c ? c : 0xffff);
}

void nat_build_l4_csum(const struct nat_pair *p, uint8_t *buf, uint32_t l4_off, uint32_t l4_len,
		       struct netbe_meta *meta)
{
	uint8_t proto;
	uint32_t s;
	uint16_t off;

	if (!(p->rx_offloads & NETBE_CAP_CSUM)) {
		nat_build_l4_csum_full(buf, l4_off, l4_len);
		return;
	}
	s = pseudo_sum(buf, l4_len, &proto);
	off = csum_offset_of(proto);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		nat_build_l4_csum_full(buf, l4_off, l4_len);
		return;
	}
	/* §5.1.6.4: the driver sums from csum_start to the end, the field
	 * included, which holds the pseudo-header sum, not complemented. */
	nat_wr16(buf + l4_off + off, inet_csum_fold16(s));
	meta->flags |= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	meta->csum_start = (uint16_t)l4_off;
	meta->csum_offset = off;
}

/* ---- the out queue ------------------------------------------------------ */

uint8_t *nat_out_reserve(struct nat_pair *p)
{
	struct nat_out_queue *q = &p->out;

	if (q->tail - q->head >= NAT_OUT_SLOTS)
		return NULL;
	return q->slots + (size_t)(q->tail % NAT_OUT_SLOTS) * NAT_OUT_SLOT_BYTES;
}

void nat_out_commit(struct nat_pair *p, uint32_t len, const struct netbe_meta *meta)
{
	struct nat_out_queue *q = &p->out;
	uint32_t i = q->tail % NAT_OUT_SLOTS;

	q->len[i] = len < NAT_OUT_SLOT_BYTES ? len : NAT_OUT_SLOT_BYTES;
	if (meta)
		q->meta[i] = *meta;
	else
		memset(&q->meta[i], 0, sizeof(q->meta[i]));
	q->tail++;
}
