/* SPDX-License-Identifier: MIT */
/*
 * A DHCP server (RFC 2131, options RFC 2132) with one lease: guest4, for
 * whoever asks (the link has one guest). DISCOVER -> OFFER, REQUEST ->
 * ACK when it asks for guest4 (else NAK, so a guest that remembers an
 * address from another network starts over), INFORM -> ACK without a
 * lease, RELEASE and DECLINE need nothing (the address stays the
 * guest's: there is no pool to return it to).
 *
 * Every answer carries what a client needs to configure itself without
 * asking twice: message type (53) first, server identifier (54, gw4;
 * busybox udhcpc and ISC dhclient ignore offers without it), lease time
 * (51) with T1/T2 (58, 59), subnet mask (1), router (3), DNS (6), and the
 * interface MTU (26), which libslirp never sends: without it a guest
 * keeps 1500 on a device whose MTU (F_MTU) says otherwise. The client
 * identifier (61) is echoed (RFC 6842 §3).
 *
 * The message is copied out of the guest's frame into a bounded buffer
 * and every option's length is checked against it before it is read.
 */
#include <netinet/in.h>
#include <string.h>

#include "spec/ethernet.h"

#include "nat.h"
#include "svc.h"

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP_MSG_MAX	 1500u /* larger requests are not real clients' */
#define DHCP_MIN_LEN	 300u  /* RFC 1542 §3.1.1: BOOTP's minimum, padded */
#define DHCP_MAGIC	 0x63825363u
#define DHCP_BROADCAST	 0x8000u /* flags (RFC 2131 §2, figure 2) */
#define DHCP_LEASE_S	 86400u
#define DHCP_T1_S	 (DHCP_LEASE_S / 2) /* RFC 2131 §4.4.5 defaults */
#define DHCP_T2_S	 (DHCP_LEASE_S / 8 * 7)
#define DHCP_MTU_MIN	 68u /* RFC 2132 §5.1 */
#define DHCP_L4_OFF	 (ETH_HDR_LEN + 20u)

/* The fixed part of a message (RFC 2131 §2, figure 1). */
enum {
	BP_OP = 0,
	BP_HTYPE = 1,
	BP_HLEN = 2,
	BP_XID = 4,
	BP_FLAGS = 10,
	BP_CIADDR = 12,
	BP_YIADDR = 16,
	BP_GIADDR = 24,
	BP_CHADDR = 28,
	BP_COOKIE = 236,
	BP_OPTIONS = 240,
};

enum { BOOTREQUEST = 1, BOOTREPLY = 2 };

enum {
	DHCPDISCOVER = 1,
	DHCPOFFER,
	DHCPREQUEST,
	DHCPDECLINE,
	DHCPACK,
	DHCPNAK,
	DHCPRELEASE,
	DHCPINFORM,
};

/* Options (RFC 2132). */
enum {
	OPT_PAD = 0,
	OPT_MASK = 1,
	OPT_ROUTER = 3,
	OPT_DNS = 6,
	OPT_MTU = 26,
	OPT_REQ_IP = 50,
	OPT_LEASE = 51,
	OPT_TYPE = 53,
	OPT_SERVER_ID = 54,
	OPT_T1 = 58,
	OPT_T2 = 59,
	OPT_CLIENT_ID = 61,
	OPT_END = 255,
};

/* What we read from a request. Addresses as on the wire. */
struct dhcp_req {
	const uint8_t *m; /* the message */
	uint8_t type;
	bool has_sid, has_req_ip;
	struct in_addr sid, req_ip, ciaddr;
	const uint8_t *client_id; /* into m, or NULL */
	uint8_t client_id_len;
};

/* The options we read; each is checked for its length (RFC 2132: the
 * fixed ones exactly, the client identifier a type and a byte, §9.14)
 * before its value is read. */
static enum nat_drop dhcp_option(struct dhcp_req *r, uint8_t code, const uint8_t *v, uint8_t olen)
{
	switch (code) {
	case OPT_TYPE:
		if (olen != 1)
			return NAT_DROP_BAD_HDR;
		r->type = v[0];
		return NAT_DROP_NONE;
	case OPT_SERVER_ID:
	case OPT_REQ_IP:
		if (olen != 4)
			return NAT_DROP_BAD_HDR;
		if (code == OPT_SERVER_ID) {
			r->has_sid = true;
			memcpy(&r->sid, v, 4);
		} else {
			r->has_req_ip = true;
			memcpy(&r->req_ip, v, 4);
		}
		return NAT_DROP_NONE;
	case OPT_CLIENT_ID:
		if (olen < 2)
			return NAT_DROP_BAD_HDR;
		r->client_id = v;
		r->client_id_len = olen;
		return NAT_DROP_NONE;
	default:
		return NAT_DROP_NONE;
	}
}

/*
 * Walk the options (RFC 2132 §2): pad and end are one byte, every other
 * option a code, a length, and that many bytes, all inside the message.
 * A message that ends without the end option is taken as ended.
 */
static enum nat_drop dhcp_options(struct dhcp_req *r, uint32_t len)
{
	const uint8_t *m = r->m;
	uint32_t i = BP_OPTIONS;

	while (i < len && m[i] != OPT_END) {
		enum nat_drop why;

		if (m[i] == OPT_PAD) {
			i++;
			continue;
		}
		if (len - i < 2 || m[i + 1] > len - i - 2)
			return NAT_DROP_BAD_HDR;
		why = dhcp_option(r, m[i], m + i + 2, m[i + 1]);
		if (why != NAT_DROP_NONE)
			return why;
		i += 2u + m[i + 1];
	}
	return NAT_DROP_NONE;
}

/* The fixed part (RFC 2131 §2, §4.1): a request from Ethernet hardware. */
static enum nat_drop dhcp_check(const uint8_t *m, uint32_t len)
{
	if (len < BP_OPTIONS)
		return NAT_DROP_RUNT;
	if (m[BP_OP] != BOOTREQUEST || m[BP_HTYPE] != 1 || m[BP_HLEN] != ETH_ADDR_LEN)
		return NAT_DROP_BAD_HDR;
	if (nat_rd32(m + BP_COOKIE) != DHCP_MAGIC)
		return NAT_DROP_BAD_HDR;
	return NAT_DROP_NONE;
}

/* ---- the answer ---------------------------------------------------------- */

static uint8_t *opt_put(uint8_t *o, uint8_t code, const void *v, uint8_t len)
{
	o[0] = code;
	o[1] = len;
	memcpy(o + 2, v, len);
	return o + 2 + len;
}

static uint8_t *opt_put32(uint8_t *o, uint8_t code, uint32_t v)
{
	uint8_t b[4];

	nat_wr32(b, v);
	return opt_put(o, code, b, 4);
}

/* The options of an answer of @type (RFC 2131 §4.3.1 table 3: a NAK
 * carries only the type and the server id; an ACK to INFORM no lease). */
static uint8_t *dhcp_put_options(uint8_t *o, const struct nat_net *net, const struct dhcp_req *r,
				 uint8_t type)
{
	uint8_t mtu[2];

	o = opt_put(o, OPT_TYPE, &type, 1);
	o = opt_put(o, OPT_SERVER_ID, &net->gw4, 4);
	if (type != DHCPNAK) {
		if (r->type != DHCPINFORM) {
			o = opt_put32(o, OPT_LEASE, DHCP_LEASE_S);
			o = opt_put32(o, OPT_T1, DHCP_T1_S);
			o = opt_put32(o, OPT_T2, DHCP_T2_S);
		}
		o = opt_put(o, OPT_MASK, &net->mask4, 4);
		o = opt_put(o, OPT_ROUTER, &net->gw4, 4);
		o = opt_put(o, OPT_DNS, &net->dns4, 4);
		if (net->mtu >= DHCP_MTU_MIN) {
			nat_wr16(mtu, net->mtu);
			o = opt_put(o, OPT_MTU, mtu, 2);
		}
	}
	if (r->client_id)
		o = opt_put(o, OPT_CLIENT_ID, r->client_id, r->client_id_len);
	*o++ = OPT_END;
	return o;
}

/*
 * Where the answer goes (RFC 2131 §4.1, "If the 'giaddr' field is zero"):
 * a NAK to broadcast; to ciaddr when the client has one (renewing,
 * INFORM); to broadcast when the client asks with the BROADCAST flag
 * (it cannot take unicast before it has its address); else to yiaddr at
 * chaddr. Return: whether it is a broadcast, the unicast address in
 * *@dst.
 */
static bool dhcp_dest(const struct dhcp_req *r, uint8_t type, struct in_addr yiaddr,
		      struct in_addr *dst)
{
	if (type == DHCPNAK)
		return true;
	if (r->ciaddr.s_addr) {
		*dst = r->ciaddr;
		return false;
	}
	/* An INFORM without ciaddr has no yiaddr either: broadcast. */
	if ((nat_rd16(r->m + BP_FLAGS) & DHCP_BROADCAST) || !yiaddr.s_addr)
		return true;
	*dst = yiaddr;
	return false;
}

/* The fixed part of the answer (table 3 of §4.3.1). */
static void dhcp_put_fixed(uint8_t *b, const struct dhcp_req *r, uint8_t type,
			   struct in_addr yiaddr)
{
	memset(b, 0, BP_OPTIONS);
	b[BP_OP] = BOOTREPLY;
	b[BP_HTYPE] = 1;
	b[BP_HLEN] = ETH_ADDR_LEN;
	memcpy(b + BP_XID, r->m + BP_XID, 4);
	memcpy(b + BP_FLAGS, r->m + BP_FLAGS, 2);
	if (type == DHCPACK)
		memcpy(b + BP_CIADDR, &r->ciaddr, 4);
	memcpy(b + BP_YIADDR, &yiaddr, 4);
	memcpy(b + BP_GIADDR, r->m + BP_GIADDR, 4);
	memcpy(b + BP_CHADDR, r->m + BP_CHADDR, ETH_ADDR_LEN);
	nat_wr32(b + BP_COOKIE, DHCP_MAGIC);
}

static enum nat_drop dhcp_reply(struct nat_pair *p, const struct dhcp_req *r, uint8_t type)
{
	static const uint8_t bcast_mac[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const struct nat_net *net = &p->nat->net;
	struct nat_key k = {
		.gport = DHCP_CLIENT_PORT, .rport = DHCP_SERVER_PORT, .proto = IPPROTO_UDP};
	struct in_addr yiaddr = {0}, dst = {INADDR_BROADCAST};
	uint8_t *f = nat_out_reserve(p), *b, *end;
	uint32_t l4_off, blen;
	bool bcast;

	if (!f)
		return NAT_DROP_OUT_FULL;
	if (type != DHCPNAK && r->type != DHCPINFORM)
		yiaddr = net->guest4;
	bcast = dhcp_dest(r, type, yiaddr, &dst);
	/* The message first: its size goes into the headers. */
	b = f + DHCP_L4_OFF + 8;
	dhcp_put_fixed(b, r, type, yiaddr);
	end = dhcp_put_options(b + BP_OPTIONS, net, r, type);
	blen = (uint32_t)(end - b);
	if (blen < DHCP_MIN_LEN) {
		memset(end, 0, DHCP_MIN_LEN - blen);
		blen = DHCP_MIN_LEN;
	}
	nat_v4_to_mapped(&k.gaddr, dst);
	nat_v4_to_mapped(&k.raddr, net->gw4);
	l4_off = nat_build_ip(p, f, &k, 8 + blen); /* DHCP_L4_OFF: IPv4, no options */
	memcpy(f, bcast ? bcast_mac : r->m + BP_CHADDR, ETH_ADDR_LEN);
	nat_wr16(f + l4_off, DHCP_SERVER_PORT);
	nat_wr16(f + l4_off + 2, DHCP_CLIENT_PORT);
	nat_wr16(f + l4_off + 4, (uint16_t)(8 + blen));
	nat_wr16(f + l4_off + 6, 0);
	nat_build_l4_csum_full(f, l4_off, 8 + blen);
	return svc_send(p, l4_off + 8 + blen);
}

/*
 * REQUEST (RFC 2131 §4.3.2): selecting (server id and requested address:
 * another server's offer was taken when the id is not ours), init-reboot
 * (requested address only) or renewing / rebinding (ciaddr only). Only
 * guest4 is ever ACKed.
 */
static enum nat_drop dhcp_request(struct nat_pair *p, const struct dhcp_req *r)
{
	const struct nat_net *net = &p->nat->net;
	struct in_addr want = r->ciaddr;

	if (r->has_sid && r->sid.s_addr != net->gw4.s_addr)
		return NAT_DROP_NOT_OURS;
	if (r->has_req_ip)
		want = r->req_ip;
	return dhcp_reply(p, r, want.s_addr == net->guest4.s_addr ? DHCPACK : DHCPNAK);
}

static enum nat_drop dhcp_serve(struct nat_pair *p, const struct dhcp_req *r)
{
	switch (r->type) {
	case DHCPDISCOVER:
		return dhcp_reply(p, r, DHCPOFFER);
	case DHCPREQUEST:
		return dhcp_request(p, r);
	case DHCPINFORM:
		return dhcp_reply(p, r, DHCPACK);
	case DHCPDECLINE:
	case DHCPRELEASE:
		/* For another server: not ours; for us: nothing to free. */
		return r->has_sid && r->sid.s_addr != p->nat->net.gw4.s_addr ? NAT_DROP_NOT_OURS
									     : NAT_DROP_NONE;
	default: /* plain BOOTP (no type), or a server's message */
		return NAT_DROP_UNKNOWN;
	}
}

enum nat_drop nat_dhcp_input(struct nat_pair *p, const struct nat_pkt *pkt)
{
	uint8_t m[DHCP_MSG_MAX];
	struct dhcp_req r = {.m = m};
	enum nat_drop why;

	if (pkt->ipv != 4 || pkt->proto != IPPROTO_UDP)
		return NAT_DROP_UNKNOWN;
	if (pkt->pay_len > sizeof(m))
		return NAT_DROP_BAD_HDR;
	if (!svc_copy(pkt, pkt->pay_off, m, pkt->pay_len))
		return NAT_DROP_RUNT;
	why = dhcp_check(m, pkt->pay_len);
	if (why == NAT_DROP_NONE)
		why = dhcp_options(&r, pkt->pay_len);
	if (why != NAT_DROP_NONE)
		return why;
	memcpy(&r.ciaddr, m + BP_CIADDR, 4);
	return dhcp_serve(p, &r);
}
