/* SPDX-License-Identifier: MIT */
/*
 * ARP (RFC 826): the router answers "who has 10.0.2.2" and "who has
 * 10.0.2.3" with its own MAC, so the guest can reach the gateway and the
 * DNS address. Nothing else on the subnet is answered, as in libslirp
 * (arp_input() answers only its host, DNS and guestfwd addresses): there
 * is nobody else on the link, and an answer for every address would
 * defeat a client's duplicate-address check of the address DHCP offered
 * (udhcpc -a, RFC 5227 probes of 10.0.2.15) and of addresses it picks.
 * Replies and gratuitous announcements from the guest are not needed:
 * our frames go to the MAC the guest asked from.
 */
#include <netinet/in.h>
#include <string.h>

#include "spec/ethernet.h"

#include "nat.h"
#include "svc.h"

#define ETH_TYPE_ARP 0x0806u
#define ARP_LEN	     28u /* hardware Ethernet, protocol IPv4 */
#define ARP_FRAME    60u /* the Ethernet minimum (without FCS): padded */
#define ARP_REQUEST  1u
#define ARP_REPLY    2u

/* The fields of an Ethernet/IPv4 ARP packet (RFC 826 "Packet format"). */
enum {
	ARP_HTYPE = 0,
	ARP_PTYPE = 2,
	ARP_HLEN = 4,
	ARP_PLEN = 5,
	ARP_OP = 6,
	ARP_SHA = 8,
	ARP_SPA = 14,
	ARP_THA = 18,
	ARP_TPA = 24,
};

/* Only Ethernet hardware (1) and IPv4 (0x0800) with their lengths: the
 * only resolution this link has. */
static enum nat_drop arp_check(const uint8_t *a)
{
	if (nat_rd16(a + ARP_HTYPE) != 1 || nat_rd16(a + ARP_PTYPE) != ETH_TYPE_IPV4)
		return NAT_DROP_UNKNOWN;
	if (a[ARP_HLEN] != ETH_ADDR_LEN || a[ARP_PLEN] != 4)
		return NAT_DROP_BAD_HDR;
	return NAT_DROP_NONE;
}

/* Is @tpa an address the router answers for? */
static bool arp_ours(const struct nat_net *net, const uint8_t *tpa)
{
	return !memcmp(tpa, &net->gw4, 4) || !memcmp(tpa, &net->dns4, 4);
}

/* The reply: sender = the router (gw_mac, the asked address), target =
 * the asker, sent to the asker's hardware address (RFC 826 "Packet
 * Reception": swap, fill in, turn into a reply). */
static enum nat_drop arp_reply(struct nat_pair *p, const uint8_t *req)
{
	uint8_t *f = nat_out_reserve(p), *a;

	if (!f)
		return NAT_DROP_OUT_FULL;
	memset(f, 0, ARP_FRAME);
	nat_build_eth(p, f, ETH_TYPE_ARP);
	memcpy(f, req + ARP_SHA, ETH_ADDR_LEN);
	a = f + ETH_HDR_LEN;
	memcpy(a, req, ARP_OP); /* htype, ptype, hlen, plen as checked */
	nat_wr16(a + ARP_OP, ARP_REPLY);
	memcpy(a + ARP_SHA, p->nat->net.gw_mac, ETH_ADDR_LEN);
	memcpy(a + ARP_SPA, req + ARP_TPA, 4);
	memcpy(a + ARP_THA, req + ARP_SHA, ETH_ADDR_LEN);
	memcpy(a + ARP_TPA, req + ARP_SPA, 4);
	return svc_send(p, ARP_FRAME);
}

enum nat_drop nat_arp_input(struct nat_pair *p, const struct nat_pkt *pkt)
{
	uint8_t a[ARP_LEN];
	enum nat_drop why;

	if (!svc_copy(pkt, pkt->l3_off, a, ARP_LEN))
		return NAT_DROP_RUNT;
	why = arp_check(a);
	if (why != NAT_DROP_NONE)
		return why;
	if (nat_rd16(a + ARP_OP) != ARP_REQUEST)
		return nat_rd16(a + ARP_OP) == ARP_REPLY ? NAT_DROP_NOT_OURS : NAT_DROP_UNKNOWN;
	/* A gratuitous request announces the sender's own address. */
	if (!memcmp(a + ARP_SPA, a + ARP_TPA, 4) || !arp_ours(&p->nat->net, a + ARP_TPA))
		return NAT_DROP_NOT_OURS;
	/* A broadcast or multicast sender address is no one to answer. */
	if (a[ARP_SHA] & 1)
		return NAT_DROP_BAD_HDR;
	return arp_reply(p, a);
}
