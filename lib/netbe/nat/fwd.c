/* SPDX-License-Identifier: MIT */
/*
 * --hostfwd for the user backend (nat/): a host address and port
 * forwarded to a port of the guest ("tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT",
 * the `slirp` backend's syntax, plus [IPv6] host addresses).
 *
 * Each active queue pair has its own listening socket per rule, all bound
 * with SO_REUSEPORT, so the kernel spreads the host's connections (and
 * UDP peers) over the pairs by a hash of their addresses and ports; the
 * pair whose socket the kernel chose owns the flow (nat.h). Pair 0 first
 * makes sure nobody else holds the port (a bind without SO_REUSEPORT),
 * since SO_REUSEPORT alone would quietly share it with another program of
 * the same user, e.g. a second vqnetd with the same rule.
 *
 * The guest sees a forwarded flow come from the host's peer as it would
 * reach the guest: a loopback peer is the gateway (10.0.2.2, fec0::2),
 * any other peer its own address.
 *
 * TCP: accepted sockets go to tcp.c (nat_tcp_open_to_guest), which sends
 * the guest a SYN. If the process runs out of fds, accept4() fails and the
 * connection stays in the backlog; the listener turns edge-triggered until
 * the next accept succeeds, so epoll does not report it in a busy loop.
 *
 * UDP: a datagram from a new peer makes a UDP flow whose socket is bound
 * to the rule's address and port too (SO_REUSEPORT) and connected to the
 * peer: Linux then delivers that peer's datagrams to it rather than to
 * the listeners (a connected socket wins the lookup, also in a reuseport
 * group), and the guest's replies leave from the forwarded port, which is
 * what the peer expects. Datagrams the kernel queued on the new socket
 * before it was connected (another peer's, hashed to it in that instant)
 * are dropped and counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/counter.h"
#include "vqnet/log.h"

#include "../netbe_internal.h"
#include "nat.h"

#define FWD_BACKLOG	 128
#define FWD_ACCEPT_BATCH 16 /* connections accepted per event */
#define FWD_SPEC_MAX	 128
#define FWD_USAGE	 "want tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT, ports 1-65535"

/* ---- parsing ------------------------------------------------------------ */

/* A port: 1 to 5 digits, 1..65535 (no sign, no spaces: as the user
 * backend accepts). Return 0 or -1. */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* The host address @s (@len bytes; "a.b.c.d" or an IPv6 address without
 * its brackets) into @out with port @port. Return 0 or -1. */
static int parse_host(const char *s, size_t len, bool v6, uint16_t port, struct nat_fwd_rule *out)
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&out->host, 0, sizeof(out->host));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->host;

		if (inet_pton(AF_INET6, buf, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		out->host_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->host;

		if (inet_pton(AF_INET, buf, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		out->host_len = sizeof(*a);
	}
	return 0;
}

int nat_fwd_parse(const char *spec, struct nat_fwd_rule *out, char *err, size_t errlen)
{
	const char *rest, *addr = "127.0.0.1", *ports, *colon;
	size_t addr_len = 9;
	bool v6 = false;
	uint16_t hport, gport;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (!spec || strlen(spec) >= FWD_SPEC_MAX) {
		why = "too long";
		goto bad;
	}
	if (!strncmp(spec, "tcp:", 4)) {
		out->proto = IPPROTO_TCP;
	} else if (!strncmp(spec, "udp:", 4)) {
		out->proto = IPPROTO_UDP;
	} else {
		why = "protocol not tcp or udp";
		goto bad;
	}
	rest = spec + 4;
	if (rest[0] == '[') {
		const char *end = strchr(rest, ']');

		if (!end || end[1] != ':') {
			why = "IPv6 address without ']:'";
			goto bad;
		}
		addr = rest + 1;
		addr_len = (size_t)(end - addr);
		v6 = true;
		ports = end + 2;
	} else {
		colon = strchr(rest, ':');
		if (colon && strchr(colon + 1, ':')) {
			addr = rest;
			addr_len = (size_t)(colon - rest);
			ports = colon + 1;
		} else {
			ports = rest;
		}
	}
	colon = strchr(ports, ':');
	if (!colon || strchr(colon + 1, ':')) {
		why = "not HOSTPORT:GUESTPORT";
		goto bad;
	}
	if (parse_port(ports, (size_t)(colon - ports), &hport) ||
	    parse_port(colon + 1, strlen(colon + 1), &gport)) {
		why = "bad port";
		goto bad;
	}
	if (parse_host(addr, addr_len, v6, hport, out)) {
		why = v6 ? "bad IPv6 address" : "bad IPv4 address";
		goto bad;
	}
	out->guest_port = gport;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return netbe_set_err(err, errlen, -EINVAL, "user: bad hostfwd '%.*s': %s (" FWD_USAGE ")",
			     FWD_SPEC_MAX, spec ? spec : "", why);
}

/* "tcp 127.0.0.1:2222" or "udp [::1]:53" for messages. */
static void rule_name(const struct nat_fwd_rule *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	const char *proto = r->proto == IPPROTO_TCP ? "tcp" : "udp";

	if (r->host.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&r->host;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "%s [%s]:%u", proto, a, ntohs(s->sin6_port));
	} else {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&r->host;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s %s:%u", proto, a, ntohs(s->sin_port));
	}
}

/* ---- sockets ------------------------------------------------------------ */

static int sock_type(const struct nat_fwd_rule *r)
{
	return r->proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
}

/*
 * A socket of rule @r bound to its host address (SO_REUSEADDR so TCP's
 * TIME_WAIT does not block a restart; SO_REUSEPORT when @reuseport;
 * an IPv6 socket takes IPv6 only, so "[::]" and "0.0.0.0" rules can
 * coexist). Return the fd or -errno.
 */
static int fwd_socket(const struct nat_fwd_rule *r, bool reuseport)
{
	int one = 1, s, e;

	s = socket(r->host.ss_family, sock_type(r) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	/* UDP's SO_REUSEADDR would share the port like SO_REUSEPORT: the
	 * probe (no reuseport) must not set it. */
	if ((r->proto == IPPROTO_TCP || reuseport) &&
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (r->host.ss_family == AF_INET6 &&
	    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(s, (const struct sockaddr *)&r->host, r->host_len) < 0)
		goto fail;
	return s;
fail:
	e = errno;
	close(s);
	return -e;
}

/* Nobody holds @r's port yet (pair 0, before its first listener). */
static int fwd_probe(const struct nat_fwd_rule *r)
{
	int s = fwd_socket(r, false);

	if (s < 0)
		return s;
	close(s);
	return 0;
}

static int fwd_listen(struct nat_pair *p, unsigned i)
{
	const struct nat_fwd_rule *r = &p->nat->fwd[i];
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = nat_ev(NAT_EV_FWD, i)};
	int s, e;

	if (p->index == 0 && (e = fwd_probe(r)) < 0)
		return e;
	s = fwd_socket(r, true);
	if (s < 0)
		return s;
	if ((r->proto == IPPROTO_TCP && listen(s, FWD_BACKLOG) < 0) ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev) < 0) {
		e = errno;
		close(s);
		return -e;
	}
	p->fwd_fd[i] = s;
	p->nat->fwd[i].edge[p->index] = 0;
	return 0;
}

int nat_fwd_open(struct nat_pair *p, char *err, size_t errlen)
{
	char name[80];
	int rc;

	for (unsigned i = 0; i < p->nat->n_fwd; i++) {
		if (p->fwd_fd[i] >= 0)
			continue; /* already listening (set_queue_pairs again) */
		rc = fwd_listen(p, i);
		if (rc < 0) {
			rule_name(&p->nat->fwd[i], name, sizeof(name));
			nat_fwd_close(p);
			return netbe_set_err(err, errlen, rc,
					     "user: hostfwd %s (%s): cannot listen: %s",
					     p->nat->fwd[i].spec, name, strerror(-rc));
		}
	}
	return 0;
}

void nat_fwd_close(struct nat_pair *p)
{
	/* A pair the backend never set up (p->nat unset) has no listeners. */
	if (!p->nat)
		return;
	for (unsigned i = 0; i < NAT_MAX_FWD; i++) {
		if (p->fwd_fd[i] >= 0)
			close(p->fwd_fd[i]); /* leaves the epoll set too */
		p->fwd_fd[i] = -1;
	}
}

/* ---- the host's side starts a flow --------------------------------------- */

/*
 * The key of a flow from host peer @peer to the guest's port of rule @r,
 * as the guest sees it (nat.h). Return false for a peer of no family we
 * serve.
 */
static bool fwd_key(const struct nat_pair *p, const struct nat_fwd_rule *r,
		    const struct sockaddr_storage *peer, struct nat_key *k)
{
	const struct nat_net *net = &p->nat->net;
	struct in_addr a4;

	memset(k, 0, sizeof(*k));
	k->proto = r->proto;
	k->gport = r->guest_port;
	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)peer;

		k->rport = ntohs(s->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			memcpy(&a4, &s->sin6_addr.s6_addr[12], 4);
			goto v4;
		}
		k->v6 = 1;
		k->gaddr = net->guest6;
		k->raddr = IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) ? net->gw6 : s->sin6_addr;
		return true;
	}
	if (peer->ss_family != AF_INET)
		return false;
	a4 = ((const struct sockaddr_in *)peer)->sin_addr;
	k->rport = ntohs(((const struct sockaddr_in *)peer)->sin_port);
v4:
	if ((ntohl(a4.s_addr) >> 24) == 127) /* 127/8 is the host: the gateway */
		a4 = net->gw4;
	nat_v4_to_mapped(&k->gaddr, net->guest4);
	nat_v4_to_mapped(&k->raddr, a4);
	return true;
}

/* EMFILE: stop level-triggered reports until a new connection arrives
 * (@on), or back to level-triggered after an accept worked. */
static void fwd_edge(struct nat_pair *p, unsigned rule, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLET : 0),
				 .data.u64 = nat_ev(NAT_EV_FWD, rule)};
	uint8_t *edge = &p->nat->fwd[rule].edge[p->index];

	if (*edge == on)
		return;
	if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, p->fwd_fd[rule], &ev) == 0)
		*edge = on;
}

static void fwd_accept(struct nat_pair *p, unsigned rule)
{
	const struct nat_fwd_rule *r = &p->nat->fwd[rule];

	for (unsigned i = 0; i < FWD_ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer = {.ss_family = AF_UNSPEC};
		socklen_t sl = sizeof(peer);
		struct nat_key k;
		enum nat_drop why;
		int fd = accept4(p->fwd_fd[rule], (struct sockaddr *)&peer, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				nat_log_sock("hostfwd accept", errno);
				nat_drop_count(p, NAT_DROP_SOCKET);
				fwd_edge(p, rule, true);
				return;
			}
			if (errno == EAGAIN || errno == EINTR)
				return;
			continue; /* ECONNABORTED and the like: the next one */
		}
		fwd_edge(p, rule, false);
		if (!fwd_key(p, r, &peer, &k) || nat_flow_find(p, &k)) {
			/* a second peer the guest could not tell apart */
			close(fd);
			nat_drop_count(p, NAT_DROP_FLOWS);
			continue;
		}
		nat_count(&p->cnt.fwd_accepted);
		why = nat_tcp_open_to_guest(p, fd, &k);
		if (why != NAT_DROP_NONE)
			nat_drop_count(p, why); /* tcp.c closed @fd (nat.h) */
	}
}

/* Drop what a new flow socket got before it was connected. */
static void fwd_flush(struct nat_pair *p, int fd)
{
	char b;

	while (recv(fd, &b, 1, MSG_DONTWAIT) >= 0)
		counter_add(&p->stats.rx_dropped, 1);
}

/* The UDP flow of rule @rule for @peer (key @k): a socket bound to the
 * rule's address and port and connected to @peer. NULL when none could
 * be made (counted). */
static struct nat_flow *fwd_udp_flow(struct nat_pair *p, unsigned rule, const struct nat_key *k,
				     const struct sockaddr_storage *peer, socklen_t peer_len)
{
	struct nat_flow *f;
	int s = fwd_socket(&p->nat->fwd[rule], true);

	if (s < 0 || connect(s, (const struct sockaddr *)peer, peer_len) < 0) {
		int e = s < 0 ? -s : errno;

		if (s >= 0)
			close(s);
		nat_log_sock("hostfwd udp socket", e);
		nat_drop_count(p, NAT_DROP_SOCKET);
		return NULL;
	}
	fwd_flush(p, s);
	f = nat_dgram_add(p, k, NAT_FLOW_UDP, s);
	if (!f) {
		nat_drop_count(p, NAT_DROP_FLOWS);
		return NULL;
	}
	f->dg.fwd = rule + 1;
	f->dg.one_by_one = NAT_UDP_ONE_BY_ONE; /* udp.c: a new flow reads one at a time */
	nat_count(&p->cnt.fwd_accepted);
	return f;
}

/* Datagrams on rule @rule's listener: each to the guest through its flow,
 * one per buffer. Return: the buffers filled. */
static unsigned fwd_udp(struct nat_pair *p, unsigned rule, struct netbe_rxbuf *bufs, unsigned n)
{
	struct nat_key tmpl = {.v6 = p->nat->fwd[rule].host.ss_family == AF_INET6};
	unsigned done = 0;

	while (done < n) {
		struct netbe_rxbuf *b = &bufs[done];
		struct sockaddr_storage peer = {.ss_family = AF_UNSPEC};
		struct iovec iov[2];
		struct msghdr mh = {.msg_name = &peer,
				    .msg_namelen = sizeof(peer),
				    .msg_iov = iov,
				    .msg_iovlen = nat_udp_rx_iov(p, &tmpl, b, iov)};
		struct nat_flow *f;
		struct nat_key k;
		ssize_t len = recvmsg(p->fwd_fd[rule], &mh, MSG_DONTWAIT);

		if (len < 0) {
			if (errno != EAGAIN && errno != EINTR)
				counter_add(&p->stats.rx_errors, 1);
			break;
		}
		if ((mh.msg_flags & MSG_TRUNC) || !fwd_key(p, &p->nat->fwd[rule], &peer, &k)) {
			counter_add(&p->stats.rx_dropped, 1);
			continue;
		}
		f = nat_flow_find(p, &k);
		if (!f)
			f = fwd_udp_flow(p, rule, &k, &peer, mh.msg_namelen);
		if (!f)
			continue;
		nat_dgram_touch(p, f, clock_mono_ns());
		if ((size_t)len > iov[0].iov_len) {
			/* Larger than the buffer: fragments through the out
			 * queue, which goes before anything read later. */
			nat_udp_spill(p, f, b, (uint32_t)iov[0].iov_len, (uint32_t)len);
			break;
		}
		nat_udp_finish(p, b, &k, (uint32_t)len);
		done++;
	}
	return done;
}

unsigned nat_fwd_ready(struct nat_pair *p, unsigned rule, struct netbe_rxbuf *bufs, unsigned n)
{
	if (rule >= p->nat->n_fwd || p->fwd_fd[rule] < 0)
		return 0;
	if (p->nat->fwd[rule].proto == IPPROTO_TCP) {
		fwd_accept(p, rule);
		return 0;
	}
	return fwd_udp(p, rule, bufs, n);
}
