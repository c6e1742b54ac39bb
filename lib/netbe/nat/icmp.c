/* SPDX-License-Identifier: MIT */
/*
 * ICMP and ICMPv6 for the user backend (nat/): the guest's echo requests
 * go out through the host's unprivileged ping sockets (socket(AF_INET,
 * SOCK_DGRAM, IPPROTO_ICMP), Linux 3.0+; IPPROTO_ICMPV6 for IPv6), one
 * connected socket per (guest, remote, identifier) flow. The kernel
 * writes its own identifier (the socket's "port") and checksum into what
 * we send and delivers only the echo replies that carry it, so the flow
 * keeps the guest's identifier (key.gport) and puts it back into each
 * reply, whose checksum is then computed in full (RFC 792, RFC 4443
 * §4.2: an ICMPv6 checksum covers the pseudo-header with the guest's
 * addresses, not the host's).
 *
 * A host whose net.ipv4.ping_group_range excludes our group refuses ping
 * sockets (EACCES): echo requests are then dropped (NAT_DROP_SOCKET), and
 * the reason is logged once per process.
 *
 * Also here: the ICMP port unreachable a UDP flow's ECONNREFUSED becomes
 * (RFC 792 type 3 code 3, RFC 4443 §3.1 type 1 code 4), quoting a header
 * rebuilt from the flow's key (the guest's stack matches it to its socket
 * by addresses and ports, RFC 1122 §3.2.2.1).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/counter.h"
#include "base/csum.h"
#include "spec/ethernet.h"
#include "vqnet/log.h"

#include "nat.h"

#define ICMP_HDR       8u
#define ICMP_IOV       260u /* entries of a guest frame (the device sends <= 256) */
#define ICMP_ECHO_REQ  8u   /* RFC 792 */
#define ICMP_ECHO_REP  0u
#define ICMP_UNREACH   3u
#define ICMP_PORT_UNR  3u
#define ICMP6_ECHO_REQ 128u /* RFC 4443 §4.1 */
#define ICMP6_ECHO_REP 129u
#define ICMP6_UNREACH  1u
#define ICMP6_PORT_UNR 4u

static uint32_t l3_len(const struct nat_key *k)
{
	return k->v6 ? 40u : 20u;
}

/* EACCES / EPERM: the host's policy, not a passing failure: say it once. */
static void ping_refused(int e)
{
	static int said;

	if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return;
	vqnet_log(VQNET_LOG_WARN, "user",
		  "ping sockets refused (%s): the guest's echo requests are dropped "
		  "(sysctl net.ipv4.ping_group_range must include our group)",
		  strerror(e));
}

static enum nat_drop icmp_open(struct nat_pair *p, const struct nat_key *k, struct nat_flow **out)
{
	enum nat_drop why;
	int fd;

	*out = NULL;
	why = nat_dgram_socket(p, k, k->v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, &fd);
	if (why == NAT_DROP_SOCKET) {
		if (fd == -EACCES || fd == -EPERM)
			ping_refused(-fd);
		else
			nat_log_sock("ping socket", -fd);
	}
	if (why != NAT_DROP_NONE)
		return why;
	*out = nat_dgram_add(p, k, NAT_FLOW_ICMP, fd);
	return *out ? NAT_DROP_NONE : NAT_DROP_FLOWS;
}

enum nat_drop nat_icmp_input(struct nat_pair *p, const struct nat_pkt *pkt)
{
	uint8_t req = pkt->ipv == 6 ? ICMP6_ECHO_REQ : ICMP_ECHO_REQ;
	struct iovec iov[ICMP_IOV];
	struct msghdr mh = {.msg_iov = iov};
	struct nat_flow *f;
	int n;

	/* Echo requests only: errors from the guest concern flows the host
	 * kernel runs (it sends its own), NDP is ndp.c's. */
	if (pkt->icmp_type != req || pkt->icmp_code != 0)
		return NAT_DROP_UNKNOWN;
	f = nat_flow_find(p, &pkt->key);
	if (!f) {
		enum nat_drop why = icmp_open(p, &pkt->key, &f);

		if (why != NAT_DROP_NONE)
			return why;
	}
	nat_dgram_touch(p, f, clock_mono_ns());
	/* The whole message: the kernel checks type and code, and writes its
	 * identifier and the checksum. */
	n = nat_pkt_iov(pkt, pkt->l4_off, ICMP_HDR + pkt->pay_len, iov, ICMP_IOV);
	if (n < 0) {
		counter_add(&p->stats.tx_dropped, 1);
		return NAT_DROP_NONE;
	}
	mh.msg_iovlen = (size_t)n;
	if (sendmsg(f->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		counter_add(&p->stats.tx_dropped, 1);
		if (errno != EAGAIN && errno != ENOBUFS)
			counter_add(&p->stats.tx_errors, 1);
	}
	return NAT_DROP_NONE;
}

/* One echo reply of @len bytes at b->data + its headers' room: back to the
 * guest's identifier, headers in front, checksum complete. */
static void icmp_finish(const struct nat_pair *p, struct netbe_rxbuf *b, const struct nat_key *k,
			uint32_t len)
{
	uint32_t l4 = nat_build_ip(p, b->data, k, len);

	nat_wr16(b->data + l4 + 4, k->gport);
	nat_build_l4_csum_full(b->data, l4, len);
	memset(&b->meta, 0, sizeof(b->meta));
	b->len = l4 + len;
}

/* A reply larger than its buffer (or the MTU): whole in the bounce, then
 * to the guest in IP fragments through the out queue (frag.c). */
static void icmp_spill(struct nat_pair *p, const struct nat_key *k, const struct netbe_rxbuf *b,
		       uint32_t room, uint32_t len)
{
	struct netbe_rxbuf whole = {
		.data = nat_bounce_whole(p, b->data, ETH_HDR_LEN + l3_len(k), room, len)};

	icmp_finish(p, &whole, k, len);
	if (!nat_frag_out(p, whole.data, whole.len))
		counter_add(&p->stats.rx_dropped, 1);
}

unsigned nat_icmp_ready(struct nat_pair *p, struct nat_flow *f, uint32_t events,
			struct netbe_rxbuf *bufs, unsigned n)
{
	const struct nat_key *k = &f->key;
	uint32_t hl = ETH_HDR_LEN + l3_len(k), mtu = p->nat->net.mtu;
	uint8_t rep = k->v6 ? ICMP6_ECHO_REP : ICMP_ECHO_REP;
	unsigned done = 0;

	while (done < n) {
		struct netbe_rxbuf *b = &bufs[done];
		uint32_t room = b->cap > hl ? b->cap - hl : 0;
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov};
		ssize_t r;

		if (mtu > l3_len(k) && room > mtu - l3_len(k))
			room = mtu - l3_len(k);
		if (room < ICMP_HDR)
			break;
		/* The bounce takes what does not fit, in place for icmp_spill(). */
		mh.msg_iovlen = nat_bounce_iov(p, b->data, hl, room, iov);
		r = recvmsg(f->fd, &mh, MSG_DONTWAIT);
		if (r < 0) {
			int e = errno;
			socklen_t sl = sizeof(e);

			if (e == EAGAIN && (events & EPOLLERR) && !done)
				getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &e, &sl);
			if (e != EAGAIN && e != EINTR && e)
				counter_add(&p->stats.rx_errors, 1);
			break;
		}
		if ((mh.msg_flags & MSG_TRUNC) || r < (ssize_t)ICMP_HDR || b->data[hl] != rep) {
			counter_add(&p->stats.rx_dropped, 1);
			continue;
		}
		if ((size_t)r > room) {
			icmp_spill(p, k, b, room, (uint32_t)r);
			break; /* the out queue goes before later replies */
		}
		icmp_finish(p, b, k, (uint32_t)r);
		done++;
	}
	if (done)
		nat_dgram_touch(p, f, clock_mono_ns());
	return done;
}

/* ---- errors to the guest ------------------------------------------------ */

/* The guest's packet of flow @k as it was sent, as much as an ICMP error
 * quotes (RFC 792: the IP header and 64 bits of data): an IP header from
 * gaddr to raddr, then the ports and, for TCP, the sequence number @seq
 * (a receiver matches it to its connection, RFC 5927 §4.1); UDP's length
 * in place of it. The IP length is the quoted transport header's (8 for
 * UDP, 20 for a TCP header without options). Return: the quote's length. */
static uint32_t quote_l4(uint8_t *q, const struct nat_key *k, uint32_t seq)
{
	uint32_t l3 = l3_len(k), l4 = k->proto == IPPROTO_TCP ? 20 : 8;

	memset(q, 0, l3 + 8);
	if (k->v6) {
		q[0] = 0x60;
		nat_wr16(q + 4, (uint16_t)l4);
		q[6] = k->proto;
		q[7] = 64;
		memcpy(q + 8, &k->gaddr, 16);
		memcpy(q + 24, &k->raddr, 16);
	} else {
		q[0] = 0x45;
		nat_wr16(q + 2, (uint16_t)(20 + l4));
		q[8] = 64;
		q[9] = k->proto;
		memcpy(q + 12, &k->gaddr.s6_addr[12], 4);
		memcpy(q + 16, &k->raddr.s6_addr[12], 4);
		nat_wr16(q + 10, inet_csum_fold(inet_csum_add(0, q, 20)));
	}
	nat_wr16(q + l3, k->gport);
	nat_wr16(q + l3 + 2, k->rport);
	if (k->proto == IPPROTO_TCP) {
		nat_wr16(q + l3 + 4, (uint16_t)(seq >> 16));
		nat_wr16(q + l3 + 6, (uint16_t)seq);
	} else {
		nat_wr16(q + l3 + 4, 8);
	}
	return l3 + 8;
}

/* The destination-unreachable code for a host socket's errno @e (RFC 792
 * type 3; RFC 4443 §3.1 type 1), or -1 when there is none. */
static int unreach_code(int e, bool v6)
{
	switch (e) {
	case ENETUNREACH:
		return 0; /* net unreachable / no route to destination */
	case EHOSTUNREACH:
		return v6 ? 3 : 1; /* address / host unreachable */
	case ECONNREFUSED:
		return v6 ? ICMP6_PORT_UNR : ICMP_PORT_UNR;
	case EACCES:
	case EPERM:
		return v6 ? 1 : 13; /* administratively prohibited (RFC 1812 §5.2.7.1) */
	default:
		return -1;
	}
}

bool nat_icmp_error(struct nat_pair *p, const struct nat_key *k, uint8_t type, uint8_t code,
		    const uint8_t *quote, uint32_t quote_len)
{
	struct nat_key ik = *k;
	uint32_t l4, l4_len = ICMP_HDR + quote_len;
	uint8_t *buf = nat_out_reserve(p), *c;

	if (!buf) {
		nat_drop_count(p, NAT_DROP_OUT_FULL);
		return false;
	}
	ik.proto = k->v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	l4 = nat_build_ip(p, buf, &ik, l4_len);
	c = buf + l4;
	memset(c, 0, ICMP_HDR);
	c[0] = type;
	c[1] = code;
	memcpy(c + ICMP_HDR, quote, quote_len);
	nat_build_l4_csum_full(buf, l4, l4_len);
	nat_out_commit(p, l4 + l4_len, NULL);
	return true;
}

bool nat_icmp_unreach_seq(struct nat_pair *p, const struct nat_key *k, uint32_t seq, int err)
{
	int code = unreach_code(err, k->v6);
	uint8_t q[40 + 8];

	if (code < 0)
		return false;
	return nat_icmp_error(p, k, k->v6 ? ICMP6_UNREACH : ICMP_UNREACH, (uint8_t)code, q,
			      quote_l4(q, k, seq));
}

bool nat_icmp_unreach(struct nat_pair *p, const struct nat_key *k, int err)
{
	return nat_icmp_unreach_seq(p, k, 0, err);
}
