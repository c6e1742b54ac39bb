/* SPDX-License-Identifier: MIT */
/*
 * The `user` backend's ops (user-mode networking by socket translation;
 * the module keeps its nat_ prefix): set-up, the dispatch of each guest
 * frame to its protocol's handler (tx), and the receive turn that hands
 * the guest the generated frames and the data of every socket epoll
 * reports ready (rx). nat.h has the theory of operation; docs/vqnetd.md
 * "The user backend" the reasons.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/efd.h"
#include "base/iov.h"
#include "spec/ethernet.h"
#include "vqnet/log.h"

#include "../netbe_internal.h"
#include "nat.h"
#include "nat_priv.h"

#define NAT_EVENTS     64 /* epoll events read per rx() turn */
#define NAT_PAIR_FLOWS 16 /* fewest flows a pair gets */

static inline struct nat *to_nat(struct netbe *be)
{
	return be->priv;
}

static inline unsigned active_pairs(struct nat *nat)
{
	return atomic_load_explicit(&nat->active_pairs, memory_order_relaxed);
}

/* ---- guest -> host: dispatch ------------------------------------------- */

/* Broadcast and multicast reach us (ARP, DHCP, neighbour discovery);
 * unicast only when it is for the router. */
static bool dst_is_ours(const struct nat_pair *p, const struct nat_pkt *pkt)
{
	return (pkt->hdr[0] & 1) || !memcmp(pkt->hdr, p->nat->net.gw_mac, ETH_ADDR_LEN);
}

/* A destination no socket may be opened to on the guest's behalf: it would
 * leave the host on a link of the host's (multicast, broadcast), is
 * nonsense (unspecified), or is on the virtual link, where nothing but the
 * router and the DNS address exists (libslirp refuses these too). The
 * link services answer theirs first. */
static bool raddr_refused(const struct nat_net *net, const struct nat_key *k)
{
	const uint8_t *a = k->raddr.s6_addr;

	if (k->v6) {
		if (a[0] == 0xff || IN6_IS_ADDR_UNSPECIFIED(&k->raddr))
			return true;
		/* The virtual link itself: only the router and DNS exist. */
		return !memcmp(a, &net->prefix6, 8) && memcmp(a, &net->gw6, 16) &&
		       memcmp(a, &net->dns6, 16);
	} else {
		struct in_addr v4 = nat_mapped_to_v4(&k->raddr);

		if (a[12] >= 224 || !v4.s_addr)
			return true;
		return (v4.s_addr & net->mask4.s_addr) == (net->gw4.s_addr & net->mask4.s_addr) &&
		       v4.s_addr != net->gw4.s_addr && v4.s_addr != net->dns4.s_addr;
	}
}

static enum nat_drop dispatch_udp(struct nat_pair *p, const struct nat_pkt *pkt)
{
	if (pkt->ipv == 4 && pkt->key.rport == 67)
		return nat_dhcp_input(p, pkt);
	if (pkt->ipv == 6 && pkt->key.rport == 547)
		return nat_dhcp6_input(p, pkt);
	if (raddr_refused(&p->nat->net, &pkt->key))
		return NAT_DROP_NOT_OURS;
	return nat_udp_input(p, pkt);
}

static enum nat_drop dispatch_icmp6(struct nat_pair *p, const struct nat_pkt *pkt)
{
	switch (pkt->icmp_type) {
	case 133: /* Router Solicitation (RFC 4861 §4.1) */
	case 135: /* Neighbor Solicitation (§4.3) */
		return nat_ndp_input(p, pkt);
	case 128: /* Echo Request (RFC 4443 §4.1) */
		return raddr_refused(&p->nat->net, &pkt->key) ? NAT_DROP_NOT_OURS
							      : nat_icmp_input(p, pkt);
	default:
		return NAT_DROP_UNKNOWN;
	}
}

static enum nat_drop dispatch_ip(struct nat_pair *p, const struct nat_pkt *pkt)
{
	switch (pkt->proto) {
	case IPPROTO_TCP:
		return raddr_refused(&p->nat->net, &pkt->key) ? NAT_DROP_NOT_OURS
							      : nat_tcp_input(p, pkt);
	case IPPROTO_UDP:
		return dispatch_udp(p, pkt);
	case IPPROTO_ICMP:
		if (pkt->icmp_type != 8) /* Echo (RFC 792) */
			return NAT_DROP_UNKNOWN;
		return raddr_refused(&p->nat->net, &pkt->key) ? NAT_DROP_NOT_OURS
							      : nat_icmp_input(p, pkt);
	case IPPROTO_ICMPV6:
		return dispatch_icmp6(p, pkt);
	default:
		return NAT_DROP_UNKNOWN;
	}
}

/* The pair that owns @pkt's flow when it is not @p (a guest that moved the
 * flow to another transmit queue), else -1. Asked only with several
 * pairs and only when @p's own table misses. */
static int foreign_owner(struct nat_pair *p, const struct nat_pkt *pkt)
{
	int owner;

	if (active_pairs(p->nat) < 2 || pkt->ipv == 0)
		return -1;
	if (pkt->proto != IPPROTO_TCP && pkt->proto != IPPROTO_UDP && pkt->proto != IPPROTO_ICMP &&
	    pkt->proto != IPPROTO_ICMPV6)
		return -1;
	if (nat_flow_find(p, &pkt->key))
		return -1;
	owner = nat_dir_owner(p->nat, &pkt->key);
	return owner == (int)p->index ? -1 : owner;
}

/* Copy the frame into the owner's hand-off queue and wake it. */
static enum nat_drop hand_off(struct nat_pair *p, unsigned owner, const struct nat_pkt *pkt)
{
	struct nat_pair *o = &p->nat->pairs[owner];
	struct nat_handoff *h = &o->handoff;
	enum nat_drop why = NAT_DROP_NONE;

	if (pkt->len > NAT_HANDOFF_BYTES)
		return NAT_DROP_HANDOFF;
	pthread_mutex_lock(&h->lock);
	if (h->tail - h->head >= NAT_HANDOFF_SLOTS) {
		why = NAT_DROP_HANDOFF;
	} else {
		uint32_t i = h->tail % NAT_HANDOFF_SLOTS;

		iov_to_buf(pkt->iov, pkt->iovcnt, 0, h->slots + (size_t)i * NAT_HANDOFF_BYTES,
			   pkt->len);
		h->len[i] = pkt->len;
		h->meta[i] = pkt->meta;
		h->tail++;
	}
	pthread_mutex_unlock(&h->lock);
	if (why == NAT_DROP_NONE) {
		nat_count(&p->cnt.handed_off);
		efd_signal(o->wake_efd);
	}
	return why;
}

static void input_frame(struct nat_pair *p, const struct netbe_txpkt *tx);

/* A fragment: kept for its datagram; the datagram it completes runs as
 * a frame of its own (not a fragment: one level deep), then its slot is
 * free again. */
static enum nat_drop input_fragment(struct nat_pair *p, const struct nat_pkt *pkt)
{
	struct netbe_txpkt whole;
	enum nat_drop why = nat_reasm_input(p, pkt, &whole);

	if (why != NAT_DROP_NONE || !whole.len)
		return why;
	input_frame(p, &whole);
	nat_udp_flush(p); /* its batch points into the slot */
	nat_reasm_release(p, &whole);
	return NAT_DROP_NONE;
}

/* One guest frame on pair @p: parse, check, hand to its handler. */
static void input_frame(struct nat_pair *p, const struct netbe_txpkt *tx)
{
	struct nat_pkt *pkt = &p->scratch_pkt;
	enum nat_drop why = nat_parse(pkt, tx);
	int owner;

	if (why == NAT_DROP_NONE && !dst_is_ours(p, pkt))
		why = NAT_DROP_NOT_OURS;
	if (why == NAT_DROP_NONE && pkt->frag)
		why = input_fragment(p, pkt);
	else if (why == NAT_DROP_NONE && (owner = foreign_owner(p, pkt)) >= 0)
		why = hand_off(p, (unsigned)owner, pkt);
	else if (why == NAT_DROP_NONE)
		why = pkt->ipv ? dispatch_ip(p, pkt) : nat_arp_input(p, pkt);
	if (why != NAT_DROP_NONE) {
		nat_drop_count(p, why);
		counter_add(&p->stats.tx_dropped, 1);
	}
}

static int nat_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct nat_pair *p = &to_nat(be)->pairs[q];

	for (unsigned i = 0; i < n; i++)
		input_frame(p, &pkts[i]);
	nat_udp_flush(p);
	return (int)n;
}

/* ---- host -> guest: the receive turn ------------------------------------ */

/* Frames other pairs handed over: run them as if sent here. The slots
 * between head and the tail read here are ours until head moves on. */
static void run_handoffs(struct nat_pair *p)
{
	struct nat_handoff *h = &p->handoff;
	uint32_t head, tail;

	pthread_mutex_lock(&h->lock);
	head = h->head;
	tail = h->tail;
	pthread_mutex_unlock(&h->lock);
	for (uint32_t k = head; k != tail; k++) {
		uint32_t i = k % NAT_HANDOFF_SLOTS;
		struct iovec iov = {.iov_base = h->slots + (size_t)i * NAT_HANDOFF_BYTES,
				    .iov_len = h->len[i]};
		struct netbe_txpkt tx = {
			.iov = &iov, .iovcnt = 1, .len = h->len[i], .meta = h->meta[i]};

		input_frame(p, &tx);
	}
	nat_udp_flush(p); /* before the slots are given back */
	pthread_mutex_lock(&h->lock);
	h->head = tail;
	pthread_mutex_unlock(&h->lock);
}

/* Move generated frames into @bufs[*filled..n). */
static void drain_out(struct nat_pair *p, struct netbe_rxbuf *bufs, unsigned *filled, unsigned n)
{
	struct nat_out_queue *q = &p->out;

	while (*filled < n && q->head != q->tail) {
		uint32_t i = q->head % NAT_OUT_SLOTS;
		struct netbe_rxbuf *b = &bufs[*filled];

		q->head++;
		if (q->len[i] > b->cap) {
			counter_add(&p->stats.rx_dropped, 1);
			continue;
		}
		memcpy(b->data, q->slots + (size_t)i * NAT_OUT_SLOT_BYTES, q->len[i]);
		b->len = q->len[i];
		b->meta = q->meta[i];
		(*filled)++;
	}
}

static void run_tick(struct nat_pair *p)
{
	uint64_t now = clock_mono_ns(), expirations;

	if (read(p->timer_fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return;
	for (uint32_t i = 0; i < p->cap; i++) {
		struct nat_flow *f = &p->flows[i];

		if (!f->timer_on)
			continue;
		if (f->kind == NAT_FLOW_TCP)
			nat_tcp_tick(p, f, now);
		else if (f->kind == NAT_FLOW_UDP || f->kind == NAT_FLOW_ICMP)
			nat_dgram_tick(p, f, now);
	}
	if (p->reasm_timer)
		nat_reasm_tick(p, now);
}

static unsigned flow_ready(struct nat_pair *p, uint32_t idx, uint32_t events,
			   struct netbe_rxbuf *bufs, unsigned n)
{
	struct nat_flow *f;

	if (idx >= p->cap)
		return 0;
	f = &p->flows[idx];
	switch (f->kind) {
	case NAT_FLOW_TCP:
		return nat_tcp_ready(p, f, events, bufs, n);
	case NAT_FLOW_UDP:
		return nat_udp_ready(p, f, events, bufs, n);
	case NAT_FLOW_ICMP:
		return nat_icmp_ready(p, f, events, bufs, n);
	default:
		return 0; /* removed earlier in this turn */
	}
}

/* Serve what epoll reports, while buffers last. Events left unserved are
 * reported again (level-triggered). */
static void serve_events(struct nat_pair *p, struct netbe_rxbuf *bufs, unsigned *filled, unsigned n)
{
	struct epoll_event ev[NAT_EVENTS];
	int got = epoll_wait(p->epfd, ev, NAT_EVENTS, 0);

	for (int i = 0; i < got; i++) {
		uint32_t idx = (uint32_t)ev[i].data.u64;

		switch ((enum nat_ev_kind)(ev[i].data.u64 >> 32)) {
		case NAT_EV_WAKE:
			efd_drain(p->wake_efd);
			break;
		case NAT_EV_TIMER:
			run_tick(p);
			break;
		case NAT_EV_RA: {
			uint64_t expirations;

			if (read(p->ra_fd, &expirations, sizeof(expirations)) > 0)
				nat_ndp_ra_periodic(p);
			break;
		}
		case NAT_EV_FWD:
			*filled += nat_fwd_ready(p, idx, bufs + *filled, n - *filled);
			break;
		case NAT_EV_FLOW:
			*filled += flow_ready(p, idx, ev[i].events, bufs + *filled, n - *filled);
			break;
		}
		drain_out(p, bufs, filled, n);
	}
}

static int nat_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	struct nat_pair *p = &to_nat(be)->pairs[q];
	unsigned filled = 0;

	run_handoffs(p);
	drain_out(p, bufs, &filled, n);
	if (filled < n)
		serve_events(p, bufs, &filled, n);
	/* Frames still waiting keep rx_fd(q) readable: the worker comes back
	 * as soon as the guest posts buffers. */
	if (p->out.head != p->out.tail)
		efd_signal(p->wake_efd);
	return (int)filled;
}

/* rx() with the guest's buffers lent: TCP data is peeked straight into
 * them (tcp.c), everything else goes to @bufs. */
static int nat_rx_direct(struct netbe *be, unsigned q, struct netbe_rxwin *win,
			 struct netbe_rxbuf *bufs, unsigned n)
{
	struct nat_pair *p = &to_nat(be)->pairs[q];
	int r;

	p->win = win;
	r = nat_rx(be, q, bufs, n);
	p->win = NULL;
	return r;
}

static int nat_rx_fd(struct netbe *be, unsigned q)
{
	return to_nat(be)->pairs[q].epfd;
}

/* ---- control-thread ops ------------------------------------------------- */

static uint32_t nat_caps(struct netbe *be)
{
	(void)be;
	/* A guest's TCP segment of any size is one socket write, its
	 * checksum is never needed; UDP GSO would need splitting: not
	 * offered, the device segments it. */
	return NETBE_CAP_CSUM | NETBE_CAP_TSO4 | NETBE_CAP_TSO6 | NETBE_CAP_ECN;
}

static int nat_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	struct nat *nat = to_nat(be);

	nat->rx_offloads = caps & nat_caps(be);
	for (unsigned q = 0; q < be->max_queue_pairs; q++)
		nat->pairs[q].rx_offloads = nat->rx_offloads;
	return 0;
}

/* Pairs 0..n-1 listen for --hostfwd connections (SO_REUSEPORT spreads
 * them); the others close their listeners, so the kernel never queues a
 * connection where no worker serves it. */
static int nat_set_queue_pairs(struct netbe *be, unsigned n)
{
	struct nat *nat = to_nat(be);
	char err[160];
	int rc = 0;

	if (n < 1 || n > be->max_queue_pairs)
		return -EINVAL;
	for (unsigned q = 0; q < be->max_queue_pairs; q++) {
		if (q >= n) {
			nat_fwd_close(&nat->pairs[q]);
		} else if (nat->n_fwd &&
			   (rc = nat_fwd_open(&nat->pairs[q], err, sizeof(err))) < 0) {
			vqnet_log(VQNET_LOG_WARN, "user", "pair %u: %s", q, err);
			break;
		}
	}
	atomic_store_explicit(&nat->active_pairs, n, memory_order_relaxed);
	return rc < 0 ? rc : 0;
}

static void nat_get_stats(struct netbe *be, unsigned q, struct netbe_stats *out)
{
	netbe_stats_copy(out, &to_nat(be)->pairs[q].stats);
}

static void nat_print_stats(struct netbe *be, unsigned q, FILE *f)
{
	const struct nat_counters *c = &to_nat(be)->pairs[q].cnt;

	fprintf(f,
		"nat q%u: tcp_opened=%" PRIu64 " tcp_refused=%" PRIu64 " tcp_closed=%" PRIu64
		" tcp_reset=%" PRIu64 " udp_opened=%" PRIu64 " udp_closed=%" PRIu64
		" icmp_opened=%" PRIu64 " handed_off=%" PRIu64 " fwd_accepted=%" PRIu64
		" frags_in=%" PRIu64 " reasm_done=%" PRIu64 " reasm_failed=%" PRIu64
		" frags_out=%" PRIu64 " drops(",
		q, counter_get(&c->tcp_opened), counter_get(&c->tcp_refused),
		counter_get(&c->tcp_closed), counter_get(&c->tcp_reset),
		counter_get(&c->udp_opened), counter_get(&c->udp_closed),
		counter_get(&c->icmp_opened), counter_get(&c->handed_off),
		counter_get(&c->fwd_accepted), counter_get(&c->frags_in),
		counter_get(&c->reasm_done), counter_get(&c->reasm_failed),
		counter_get(&c->frags_out));
	for (unsigned r = 1; r < NAT_DROP_N; r++)
		fprintf(f, "%s%s=%" PRIu64, r > 1 ? "," : "", nat_drop_name((enum nat_drop)r),
			counter_get(&c->drops[r]));
	fputs(")\n", f);
}

static void pair_fini(struct nat_pair *p)
{
	for (uint32_t i = 0; p->flows && i < p->cap; i++) {
		struct nat_flow *f = &p->flows[i];

		if (f->kind == NAT_FLOW_TCP)
			nat_tcp_drop(p, f);
		nat_flow_del(p, f);
	}
	nat_fwd_close(p);
	nat_flows_fini(p);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->wake_efd >= 0)
		close(p->wake_efd);
	if (p->timer_fd >= 0)
		close(p->timer_fd);
	if (p->ra_fd >= 0)
		close(p->ra_fd);
	if (p->handoff.slots)
		pthread_mutex_destroy(&p->handoff.lock);
	free(p->handoff.slots);
	free(p->out.slots);
	free(p->bounce);
	nat_reasm_fini(p);
}

static void nat_free(struct netbe *be)
{
	struct nat *nat = to_nat(be);

	for (unsigned q = 0; nat->pairs && q < be->max_queue_pairs; q++)
		pair_fini(&nat->pairs[q]);
	nat_dir_fini(nat);
	free(nat->pairs);
	free(nat);
}

static const struct netbe_ops nat_ops = {
	.name = "user",
	.caps = nat_caps,
	.set_queue_pairs = nat_set_queue_pairs,
	.rx_direct = nat_rx_direct,
	.set_rx_offloads = nat_set_rx_offloads,
	.tx = nat_tx,
	.rx = nat_rx,
	.rx_fd = nat_rx_fd,
	.link_up = netbe_link_always_up,
	.get_stats = nat_get_stats,
	.print_stats = nat_print_stats,
	.free = nat_free,
};

/* ---- set-up ----------------------------------------------------------- */

static int epoll_add(int epfd, int fd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Pair 0's periodic timer for unsolicited RAs (ndp.c). */
static int ra_timer_init(struct nat_pair *p)
{
	uint32_t ms = p->nat->ra_interval_ms;
	struct itimerspec it = {
		.it_interval = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L}};

	it.it_value = it.it_interval;
	p->ra_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->ra_fd < 0)
		return -errno;
	if (timerfd_settime(p->ra_fd, 0, &it, NULL) < 0)
		return -errno;
	return epoll_add(p->epfd, p->ra_fd, nat_ev(NAT_EV_RA, 0));
}

static int pair_init(struct nat *nat, unsigned q, uint32_t flows)
{
	struct nat_pair *p = &nat->pairs[q];
	int rc;

	p->nat = nat;
	p->index = q;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	for (unsigned i = 0; i < NAT_MAX_FWD; i++)
		p->fwd_fd[i] = -1;
	if (p->epfd < 0 || p->wake_efd < 0 || p->timer_fd < 0)
		return -errno;
	rc = epoll_add(p->epfd, p->wake_efd, nat_ev(NAT_EV_WAKE, 0));
	if (!rc)
		rc = epoll_add(p->epfd, p->timer_fd, nat_ev(NAT_EV_TIMER, 0));
	if (!rc && q == 0)
		rc = ra_timer_init(p);
	if (rc)
		return rc;
	p->out.slots = malloc((size_t)NAT_OUT_SLOTS * NAT_OUT_SLOT_BYTES);
	p->handoff.slots = malloc((size_t)NAT_HANDOFF_SLOTS * NAT_HANDOFF_BYTES);
	p->bounce = malloc(NAT_BOUNCE_BYTES);
	if (!p->out.slots || !p->handoff.slots || !p->bounce || nat_reasm_init(p))
		return -ENOMEM;
	if (pthread_mutex_init(&p->handoff.lock, NULL)) {
		free(p->handoff.slots);
		p->handoff.slots = NULL;
		return -ENOMEM;
	}
	return nat_flows_init(p, flows);
}

/* The user network (nat.h "addressing"): QEMU's and libslirp's unless
 * --net / --net6 name another (netbe_usernet_get()). */
static int net_init(struct nat_net *net, const struct netbe_options *opt, char *err, size_t errlen)
{
	static const uint8_t gw_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
	struct netbe_usernet u;
	int rc = netbe_usernet_get(opt, &u, err, errlen);

	if (rc < 0)
		return rc;
	net->guest4 = u.guest4;
	net->gw4 = u.gw4;
	net->dns4 = u.dns4;
	net->mask4 = u.mask4;
	net->guest6 = u.guest6;
	net->gw6 = u.gw6;
	net->dns6 = u.dns6;
	inet_pton(AF_INET6, "fe80::2", &net->gw6_ll);
	net->prefix6 = u.prefix6;
	net->prefix6_len = 64;
	memcpy(net->gw_mac, gw_mac, 6);
	memcpy(net->guest_mac, opt->guest_mac, 6);
	net->mtu = opt->mtu;
	return 0;
}

/* "ADDR", "ADDR:PORT", "[ADDR6]" or "[ADDR6]:PORT" (port 53 when not
 * given) into @ss. Return 0 or -EINVAL. */
static int parse_dns_addr(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *end, *port = NULL;
	unsigned long pn = 53;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		port = end[1] ? end + 2 : NULL;
		s++;
	} else {
		end = strchr(s, ':');
		hl = end ? (size_t)(end - s) : strlen(s);
		port = end ? end + 1 : NULL;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (port) {
		char *e;

		pn = strtoul(port, &e, 10);
		if (!*port || *e || pn == 0 || pn > 65535)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)pn);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)pn);
	} else {
		return -EINVAL;
	}
	return 0;
}

/* --dns: one more host resolver. */
static int dns_from_option(struct nat_net *net, const char *s, char *err, size_t errlen)
{
	if (net->n_dns_host == NAT_MAX_DNS)
		return netbe_set_err(err, errlen, -EINVAL, "at most %u DNS servers", NAT_MAX_DNS);
	if (parse_dns_addr(s, &net->dns_host[net->n_dns_host]) < 0)
		return netbe_set_err(err, errlen, -EINVAL,
				     "DNS server '%s': not ADDR[:PORT] or [ADDR6][:PORT]", s);
	net->n_dns_host++;
	return 0;
}

static int nat_configure(struct nat *nat, const struct netbe_options *opt, char *err, size_t errlen)
{
	char dns4[INET_ADDRSTRLEN];
	int rc = net_init(&nat->net, opt, err, errlen);

	if (rc < 0)
		return rc;
	nat->udp_idle_ns = opt->udp_idle_ms ? opt->udp_idle_ms * 1000000ull : NAT_UDP_IDLE_NS;
	nat->reasm_timeout_ns =
		opt->reasm_timeout_ms ? opt->reasm_timeout_ms * 1000000ull : NAT_REASM_TIMEOUT_NS;
	nat->ra_interval_ms = opt->ra_interval_ms ? opt->ra_interval_ms : NAT_RA_INTERVAL_MS;
	for (unsigned i = 0; i < opt->n_dns; i++) {
		rc = dns_from_option(&nat->net, opt->dns[i], err, errlen);
		if (rc < 0)
			return rc;
	}
	if (!opt->n_dns) {
		const char *path = opt->resolv_conf ? opt->resolv_conf : "/etc/resolv.conf";

		rc = nat_dns_load(&nat->net, path);
		inet_ntop(AF_INET, &nat->net.dns4, dns4, sizeof(dns4));
		if (rc <= 0)
			vqnet_log(VQNET_LOG_WARN, "user",
				  "no DNS server from %s (%s): the guest's queries to %s are "
				  "dropped (--dns ADDR to name one)",
				  path, rc < 0 ? strerror(-rc) : "no nameserver line", dns4);
	}
	if (opt->n_hostfwd > NAT_MAX_FWD)
		return netbe_set_err(err, errlen, -EINVAL, "at most %u --hostfwd rules",
				     NAT_MAX_FWD);
	for (unsigned i = 0; i < opt->n_hostfwd; i++) {
		rc = nat_fwd_parse(opt->hostfwd[i], &nat->fwd[i], err, errlen);
		if (rc < 0)
			return rc;
		snprintf(nat->fwd[i].spec, sizeof(nat->fwd[i].spec), "%s", opt->hostfwd[i]);
	}
	nat->n_fwd = opt->n_hostfwd;
	return 0;
}

int netbe_nat_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen)
{
	unsigned pairs = opt->max_queue_pairs,
		 flows = opt->max_flows ? opt->max_flows : NAT_FLOWS_DEFAULT;
	struct nat *nat;
	uint32_t per_pair;
	int rc;

	*out = NULL;
	if (pairs < 1 || pairs > NAT_MAX_PAIRS)
		return netbe_set_err(err, errlen, -EINVAL, "user: 1 to %d queue pairs",
				     NAT_MAX_PAIRS);
	if (opt->mtu < 68)
		return netbe_set_err(err, errlen, -EINVAL, "user: mtu %u below 68 (RFC 791)",
				     opt->mtu);
	nat = calloc(1, sizeof(*nat));
	if (!nat)
		return netbe_set_err(err, errlen, -ENOMEM, "user: out of memory");
	nat->be.ops = &nat_ops;
	nat->be.priv = nat;
	nat->be.max_queue_pairs = pairs;
	nat->pairs = netbe_calloc_aligned(pairs, sizeof(*nat->pairs));
	if (!nat->pairs) {
		free(nat);
		return netbe_set_err(err, errlen, -ENOMEM, "user: out of memory");
	}
	for (unsigned q = 0; q < pairs; q++)
		nat->pairs[q].epfd = nat->pairs[q].wake_efd = nat->pairs[q].timer_fd =
			nat->pairs[q].ra_fd = -1;
	rc = nat_configure(nat, opt, err, errlen);
	if (rc < 0)
		goto fail;
	per_pair = flows / pairs > NAT_PAIR_FLOWS ? flows / pairs : NAT_PAIR_FLOWS;
	rc = nat_dir_init(nat, per_pair * pairs);
	for (unsigned q = 0; !rc && q < pairs; q++)
		rc = pair_init(nat, q, per_pair);
	if (rc < 0) {
		netbe_set_err(err, errlen, rc, "user: set-up failed: %s", strerror(-rc));
		goto fail;
	}
	/* Pair 0 listens from the start, so a port already taken is an error
	 * now rather than a warning when the guest starts its rings. */
	atomic_init(&nat->active_pairs, 1);
	if (nat->n_fwd && (rc = nat_fwd_open(&nat->pairs[0], err, errlen)) < 0)
		goto fail;
	*out = &nat->be;
	return 0;
fail:
	nat_free(&nat->be);
	return rc;
}
