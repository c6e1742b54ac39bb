/* SPDX-License-Identifier: MIT */
/*
 * A DHCPv6 server (RFC 8415) with one address, guest6, and the DNS
 * address (RFC 3646). The router advertisement (ndp.c) sets the O flag:
 * a stateless client sends Information-request for the DNS server; a
 * stateful one (dhclient -6, NetworkManager) Solicits an address too.
 *
 *   Solicit -> Advertise (preference 255, so the client need not wait for
 *              others, §18.2.1), or Reply when it asked for Rapid Commit
 *   Request, Renew, Rebind -> Reply with the address in the first IA_NA
 *   Confirm -> Reply, Success when its addresses are on our prefix
 *   Release, Decline -> Reply, Success (there is no pool to return to)
 *   Information-request -> Reply with the DNS server
 *
 * Answers go from gw6_ll port 547 to the asker's address port 546. Our
 * Server Identifier is a DUID-LL (§11.4) from gw_mac, so it is the same
 * every time the backend starts. Messages are checked as §16 asks
 * (Client and Server Identifier presence, a Server Identifier that is
 * not ours means another server's conversation) and every option's
 * length is checked before it is read.
 */
#include <netinet/in.h>
#include <string.h>

#include "spec/ethernet.h"

#include "nat.h"
#include "svc.h"

#define DHCP6_CLIENT_PORT 546
#define DHCP6_SERVER_PORT 547
#define DHCP6_MSG_MAX	  1500u
#define DHCP6_L4_OFF	  (ETH_HDR_LEN + 40u)
#define DHCP6_DUID_MAX	  130u /* type + 128 bytes (§11.1) */
#define DHCP6_MAX_IA	  4u   /* IA_NAs answered per message */
#define DHCP6_LIFETIME	  86400u
#define DHCP6_T1	  (DHCP6_LIFETIME / 2) /* §21.4 recommends 0.5 and 0.8 */
#define DHCP6_T2	  (DHCP6_LIFETIME / 5 * 4)

enum {
	SOLICIT = 1,
	ADVERTISE,
	REQUEST,
	CONFIRM,
	RENEW,
	REBIND,
	REPLY,
	RELEASE,
	DECLINE,
	RECONFIGURE,
	INFORMATION_REQUEST,
};

enum {
	OPT_CLIENTID = 1,
	OPT_SERVERID = 2,
	OPT_IA_NA = 3,
	OPT_IA_TA = 4,
	OPT_IAADDR = 5,
	OPT_PREFERENCE = 7,
	OPT_STATUS_CODE = 13,
	OPT_RAPID_COMMIT = 14,
	OPT_DNS_SERVERS = 23,
	OPT_IA_PD = 25,
};

enum { ST_SUCCESS = 0, ST_NOADDRSAVAIL = 2, ST_NOTONLINK = 4 };

#define IA_NA_FIXED  12u /* IAID, T1, T2 */
#define IAADDR_FIXED 24u /* address, preferred and valid lifetimes */

/* What we read from a client's message (pointers into it). */
struct dhcp6_req {
	const uint8_t *m;
	uint8_t type;
	const uint8_t *client_id, *server_id;
	uint16_t client_id_len, server_id_len;
	bool rapid_commit, has_ia_other; /* IA_TA, IA_PD: not served */
	unsigned n_ia;
	const uint8_t *iaid[DHCP6_MAX_IA];
	unsigned n_addr, n_offlink; /* Confirm: IA addresses, off our prefix */
};

/* Is @a on our prefix (Confirm, §18.3.3)? */
static bool on_prefix(const struct nat_net *net, const uint8_t *a)
{
	unsigned plen = net->prefix6_len > 128 ? 128 : net->prefix6_len;

	for (unsigned i = 0; i < 16 && plen; i++) {
		unsigned bits = plen >= 8 ? 8 : plen;
		uint8_t mask = (uint8_t)(0xff00 >> bits);

		if ((a[i] ^ net->prefix6.s6_addr[i]) & mask)
			return false;
		plen -= bits;
	}
	return true;
}

/* The IA Address options inside an IA_NA's @len bytes at @o (after its
 * fixed part): each inside, counted for Confirm. */
static enum nat_drop ia_na_options(const struct nat_net *net, struct dhcp6_req *r, const uint8_t *o,
				   uint32_t len)
{
	uint32_t i = 0;

	while (i < len) {
		uint16_t code, olen;

		if (len - i < 4)
			return NAT_DROP_BAD_HDR;
		code = nat_rd16(o + i);
		olen = nat_rd16(o + i + 2);
		if (olen > len - i - 4)
			return NAT_DROP_BAD_HDR;
		if (code == OPT_IAADDR) {
			if (olen < IAADDR_FIXED)
				return NAT_DROP_BAD_HDR;
			r->n_addr++;
			r->n_offlink += !on_prefix(net, o + i + 4);
		}
		i += 4u + olen;
	}
	return NAT_DROP_NONE;
}

static enum nat_drop dhcp6_option(const struct nat_net *net, struct dhcp6_req *r, uint16_t code,
				  const uint8_t *v, uint16_t olen)
{
	switch (code) {
	case OPT_CLIENTID:
	case OPT_SERVERID:
		if (olen < 2 || olen > DHCP6_DUID_MAX)
			return NAT_DROP_BAD_HDR;
		if (code == OPT_CLIENTID) {
			r->client_id = v;
			r->client_id_len = olen;
		} else {
			r->server_id = v;
			r->server_id_len = olen;
		}
		return NAT_DROP_NONE;
	case OPT_IA_NA:
		if (olen < IA_NA_FIXED)
			return NAT_DROP_BAD_HDR;
		if (r->n_ia < DHCP6_MAX_IA)
			r->iaid[r->n_ia++] = v;
		return ia_na_options(net, r, v + IA_NA_FIXED, olen - IA_NA_FIXED);
	case OPT_IA_TA:
	case OPT_IA_PD:
		r->has_ia_other = true;
		return NAT_DROP_NONE;
	case OPT_RAPID_COMMIT:
		r->rapid_commit = true;
		return olen ? NAT_DROP_BAD_HDR : NAT_DROP_NONE;
	default:
		return NAT_DROP_NONE;
	}
}

/* Every option (§21.1: code, length, that many bytes) inside @len. */
static enum nat_drop dhcp6_options(const struct nat_net *net, struct dhcp6_req *r, uint32_t len)
{
	uint32_t i = 4; /* after type and transaction id */

	while (i < len) {
		enum nat_drop why;
		uint16_t olen;

		if (len - i < 4)
			return NAT_DROP_BAD_HDR;
		olen = nat_rd16(r->m + i + 2);
		if (olen > len - i - 4)
			return NAT_DROP_BAD_HDR;
		why = dhcp6_option(net, r, nat_rd16(r->m + i), r->m + i + 4, olen);
		if (why != NAT_DROP_NONE)
			return why;
		i += 4u + olen;
	}
	return NAT_DROP_NONE;
}

/* ---- the answer ---------------------------------------------------------- */

static uint8_t *opt_start(uint8_t *o, uint16_t code, uint16_t len)
{
	nat_wr16(o, code);
	nat_wr16(o + 2, len);
	return o + 4;
}

static uint8_t *opt_put(uint8_t *o, uint16_t code, const void *v, uint16_t len)
{
	memcpy(opt_start(o, code, len), v, len);
	return o + 4 + len;
}

/* DUID-LL (§11.4): type 3, hardware type 1 (Ethernet), the MAC. */
#define DUID_LL_LEN 10u
static void our_duid(const struct nat_net *net, uint8_t *d)
{
	nat_wr16(d, 3);
	nat_wr16(d + 2, 1);
	memcpy(d + 4, net->gw_mac, ETH_ADDR_LEN);
}

static uint8_t *opt_status(uint8_t *o, uint16_t status)
{
	nat_wr16(opt_start(o, OPT_STATUS_CODE, 2), status);
	return o + 6;
}

/* One IA_NA (§21.4): the address for the first, NoAddrsAvail for any
 * other (one guest, one address). */
static uint8_t *opt_ia_na(uint8_t *o, const struct nat_net *net, const uint8_t *iaid, bool addr)
{
	uint8_t *v = opt_start(o, OPT_IA_NA, IA_NA_FIXED + (addr ? 4 + IAADDR_FIXED : 6));

	memcpy(v, iaid, 4);
	nat_wr32(v + 4, addr ? DHCP6_T1 : 0);
	nat_wr32(v + 8, addr ? DHCP6_T2 : 0);
	if (!addr)
		return opt_status(v + IA_NA_FIXED, ST_NOADDRSAVAIL);
	v = opt_start(v + IA_NA_FIXED, OPT_IAADDR, IAADDR_FIXED);
	memcpy(v, &net->guest6, 16);
	nat_wr32(v + 16, DHCP6_LIFETIME);
	nat_wr32(v + 20, DHCP6_LIFETIME);
	return v + IAADDR_FIXED;
}

/* What a message of @type says beyond the identifiers. @status < 0:
 * none. */
static uint8_t *dhcp6_put_body(uint8_t *o, const struct nat_net *net, const struct dhcp6_req *r,
			       uint8_t type, int status)
{
	static const uint8_t pref = 255;

	if (status >= 0)
		return opt_status(o, (uint16_t)status);
	if (type == ADVERTISE)
		o = opt_put(o, OPT_PREFERENCE, &pref, 1);
	if (r->type == SOLICIT && type == REPLY)
		o = opt_start(o, OPT_RAPID_COMMIT, 0);
	if (r->type != INFORMATION_REQUEST) {
		for (unsigned i = 0; i < r->n_ia; i++)
			o = opt_ia_na(o, net, r->iaid[i], i == 0);
		/* §18.3.1: an Advertise that will assign nothing says so. */
		if (!r->n_ia)
			o = opt_status(o, ST_NOADDRSAVAIL);
	}
	return opt_put(o, OPT_DNS_SERVERS, &net->dns6, 16);
}

static enum nat_drop dhcp6_reply(struct nat_pair *p, const struct nat_pkt *pkt,
				 const struct dhcp6_req *r, uint8_t type, int status)
{
	const struct nat_net *net = &p->nat->net;
	struct nat_key k = {.gaddr = pkt->key.gaddr,
			    .raddr = net->gw6_ll,
			    .gport = DHCP6_CLIENT_PORT,
			    .rport = DHCP6_SERVER_PORT,
			    .proto = IPPROTO_UDP,
			    .v6 = 1};
	uint8_t *f = nat_out_reserve(p), *m, *o, duid[DUID_LL_LEN];
	uint32_t l4_off, mlen;

	if (!f)
		return NAT_DROP_OUT_FULL;
	m = f + DHCP6_L4_OFF + 8;
	m[0] = type;
	memcpy(m + 1, r->m + 1, 3); /* transaction id */
	our_duid(net, duid);
	o = opt_put(m + 4, OPT_SERVERID, duid, DUID_LL_LEN);
	if (r->client_id)
		o = opt_put(o, OPT_CLIENTID, r->client_id, r->client_id_len);
	o = dhcp6_put_body(o, net, r, type, status);
	mlen = (uint32_t)(o - m);
	l4_off = nat_build_ip(p, f, &k, 8 + mlen); /* DHCP6_L4_OFF */
	svc_eth_dst6(f, &pkt->key.gaddr, pkt->src_mac);
	nat_wr16(f + l4_off, DHCP6_SERVER_PORT);
	nat_wr16(f + l4_off + 2, DHCP6_CLIENT_PORT);
	nat_wr16(f + l4_off + 4, (uint16_t)(8 + mlen));
	nat_wr16(f + l4_off + 6, 0);
	nat_build_l4_csum_full(f, l4_off, 8 + mlen);
	return svc_send(p, l4_off + 8 + mlen);
}

/* Is the Server Identifier ours? */
static bool sid_ours(const struct nat_net *net, const struct dhcp6_req *r)
{
	uint8_t duid[DUID_LL_LEN];

	our_duid(net, duid);
	return r->server_id_len == DUID_LL_LEN && !memcmp(r->server_id, duid, DUID_LL_LEN);
}

/*
 * §16: which identifiers each message must (or must not) carry. Return:
 * NAT_DROP_NONE, NAT_DROP_NOT_OURS for another server's conversation,
 * NAT_DROP_BAD_HDR for a malformed message.
 */
static enum nat_drop dhcp6_validate(const struct nat_net *net, const struct dhcp6_req *r)
{
	bool sid = r->server_id != NULL;

	switch (r->type) {
	case SOLICIT:
	case CONFIRM:
	case REBIND: /* §16.2, §16.5, §16.7: no Server Identifier */
		return r->client_id && !sid ? NAT_DROP_NONE : NAT_DROP_BAD_HDR;
	case REQUEST:
	case RENEW:
	case RELEASE:
	case DECLINE: /* §16.4, §16.6, §16.8, §16.9 */
		if (!r->client_id || !sid)
			return NAT_DROP_BAD_HDR;
		return sid_ours(net, r) ? NAT_DROP_NONE : NAT_DROP_NOT_OURS;
	case INFORMATION_REQUEST: /* §16.12: no IA; a Server Identifier ours */
		if (r->n_ia || r->has_ia_other)
			return NAT_DROP_BAD_HDR;
		return !sid || sid_ours(net, r) ? NAT_DROP_NONE : NAT_DROP_NOT_OURS;
	default: /* server and relay messages */
		return NAT_DROP_UNKNOWN;
	}
}

static enum nat_drop dhcp6_serve(struct nat_pair *p, const struct nat_pkt *pkt,
				 const struct dhcp6_req *r)
{
	switch (r->type) {
	case SOLICIT:
		return dhcp6_reply(p, pkt, r, r->rapid_commit ? REPLY : ADVERTISE, -1);
	case CONFIRM:
		/* §18.3.3: without addresses there is nothing to confirm,
		 * and no answer. */
		if (!r->n_addr)
			return NAT_DROP_NONE;
		return dhcp6_reply(p, pkt, r, REPLY, r->n_offlink ? ST_NOTONLINK : ST_SUCCESS);
	case RELEASE:
	case DECLINE:
		return dhcp6_reply(p, pkt, r, REPLY, ST_SUCCESS);
	default: /* Request, Renew, Rebind, Information-request */
		return dhcp6_reply(p, pkt, r, REPLY, -1);
	}
}

enum nat_drop nat_dhcp6_input(struct nat_pair *p, const struct nat_pkt *pkt)
{
	const struct nat_net *net = &p->nat->net;
	uint8_t m[DHCP6_MSG_MAX];
	struct dhcp6_req r = {.m = m};
	enum nat_drop why;

	if (pkt->ipv != 6 || pkt->proto != IPPROTO_UDP)
		return NAT_DROP_UNKNOWN;
	/* The answer goes back to the source: it must be a unicast one. */
	if (pkt->key.gaddr.s6_addr[0] == 0xff || IN6_IS_ADDR_UNSPECIFIED(&pkt->key.gaddr))
		return NAT_DROP_BAD_HDR;
	if (pkt->pay_len > sizeof(m))
		return NAT_DROP_BAD_HDR;
	if (pkt->pay_len < 4)
		return NAT_DROP_RUNT;
	if (!svc_copy(pkt, pkt->pay_off, m, pkt->pay_len))
		return NAT_DROP_RUNT;
	r.type = m[0];
	why = dhcp6_options(net, &r, pkt->pay_len);
	if (why == NAT_DROP_NONE)
		why = dhcp6_validate(net, &r);
	if (why != NAT_DROP_NONE)
		return why;
	return dhcp6_serve(p, pkt, &r);
}
