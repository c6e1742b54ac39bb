/* SPDX-License-Identifier: MIT */
/*
 * UDP flows of the user backend (nat/): each (guest address and port,
 * remote address and port) the guest sends from is one connected UDP
 * socket of the host (nat.h). The flows of --hostfwd udp rules are the same flows,
 * made by fwd.c from the host's side.
 *
 * Guest -> host: the payload goes to the socket straight from guest
 * memory (no copy of ours), a run of one flow's datagrams in one tx()
 * burst by one sendmmsg() (sent before tx() returns: the frame is valid
 * only for the call). A socket that cannot take a datagram (EAGAIN: its
 * buffer is full) drops it and the rest of the run, as a full link would:
 * UDP promises nothing more (RFC 768).
 *
 * Host -> guest: recvmmsg() reads a batch of datagrams straight into the
 * receive buffers, each after the room its Ethernet, IP and UDP headers
 * need; the headers are then written in front. One syscall per batch, not
 * per datagram. A datagram larger than its buffer or the guest's MTU
 * spills into the pair's bounce buffer (a second iovec) and goes out in IP
 * fragments through the out queue (frag.c), and so does the rest of that
 * batch, to keep the flow's order. The bounce holds one datagram, so a
 * flow reads one datagram per recvmsg() while it may spill: for its first
 * NAT_UDP_ONE_BY_ONE datagrams, and again after a spill until as many in a
 * row fitted. In that mode, once one datagram of a receive turn went to
 * the out queue, the later ones of the turn follow it there (in order),
 * and reading goes on while the queue has room for a largest datagram.
 * When two in one batch spilled (a flow that turned to large datagrams
 * after NAT_UDP_ONE_BY_ONE small ones), the earlier one's tail was
 * overwritten: dropped and counted in rx_dropped, as is a datagram the
 * out queue has no room for.
 *
 * Errors: a connected UDP socket learns of an ICMP port unreachable as
 * ECONNREFUSED (on the next send or receive, RFC 1122 §4.1.3.3); the guest
 * gets an ICMP port unreachable built from the flow's key, so its own
 * socket fails the same way. A destination the host has no route to
 * (ENETUNREACH, EHOSTUNREACH, at connect() or later) or that a firewall
 * refuses (EACCES, EPERM) becomes net, host or admin unreachable. Other errors are counted
 * (tx_errors, rx_errors). A socket that reports EPOLLERR with nothing to read has its error cleared
 * (SO_ERROR), so epoll cannot report it forever.
 *
 * Timeouts: a flow idle for udp_idle_ns (struct nat, NAT_UDP_IDLE_NS by
 * default; DNS queries at most 10 s, ICMP echo flows at most
 * NAT_ICMP_IDLE_NS) is closed on the pair's tick; a flow asks for the
 * tick from its creation on.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/counter.h"
#include "base/iov.h"
#include "spec/ethernet.h"
#include "vqnet/log.h"

#include "nat.h"

#define UDP_HDR		8u
#define UDP_BATCH	64u  /* datagrams per recvmmsg() */
#define UDP_IOV		260u /* entries of a guest frame's payload (the device sends <= 256) */
#define UDP_DNS_IDLE_NS (10ull * 1000000000ull) /* a flow to port 53 */

/* ---- shared by udp.c, icmp.c and fwd.c --------------------------------- */

void nat_log_sock(const char *what, int err)
{
	/* One limiter per worker thread: vqnet_log_limited wants one user. */
	static __thread struct vqnet_log_limit lim;

	vqnet_log_limited(&lim, 10000, VQNET_LOG_WARN, "user", "%s: %s", what, strerror(err));
}

int nat_pkt_iov(const struct nat_pkt *pkt, uint32_t off, uint32_t len, struct iovec *out,
		unsigned cap)
{
	int n;
	size_t left = len;

	if (off > pkt->len || len > pkt->len - off)
		return -1;
	n = iov_tail(pkt->iov, pkt->iovcnt, off, out, cap);
	if (n < 0)
		return -1;
	/* Cut the list at @len: the frame may carry Ethernet padding. */
	for (int i = 0; i < n; i++) {
		if (out[i].iov_len >= left) {
			out[i].iov_len = left;
			return i + 1;
		}
		left -= out[i].iov_len;
	}
	return left ? -1 : n;
}

/* udp_idle_ns (udp_idle_ms in the options; tests lower it). Echo flows
 * at most NAT_ICMP_IDLE_NS: a ping is answered within seconds or never.
 * DNS queries at most UDP_DNS_IDLE_NS: a resolver picks a new source port
 * for each query (RFC 5452 §9.2), so each is a flow of its own, done once
 * answered (libslirp expires them after 10 s too). */
static uint64_t idle_ns(const struct nat_pair *p, const struct nat_flow *f)
{
	uint64_t t = p->nat->udp_idle_ns ? p->nat->udp_idle_ns : NAT_UDP_IDLE_NS;
	uint64_t cap = UINT64_MAX;

	if (f->kind == NAT_FLOW_ICMP)
		cap = NAT_ICMP_IDLE_NS;
	else if (f->key.rport == 53 && !f->dg.fwd)
		cap = UDP_DNS_IDLE_NS;
	return t < cap ? t : cap;
}

void nat_dgram_touch(const struct nat_pair *p, struct nat_flow *f, uint64_t now_ns)
{
	f->dg.idle_at_ns = now_ns + idle_ns(p, f);
}

struct nat_flow *nat_dgram_add(struct nat_pair *p, const struct nat_key *k, uint8_t kind, int fd)
{
	struct nat_flow *f = nat_flow_add(p, k, kind, fd, EPOLLIN);

	if (!f) {
		close(fd);
		return NULL;
	}
	nat_count(kind == NAT_FLOW_ICMP ? &p->cnt.icmp_opened : &p->cnt.udp_opened);
	nat_dgram_touch(p, f, clock_mono_ns());
	nat_timer_want(p, f, true);
	return f;
}

void nat_dgram_tick(struct nat_pair *p, struct nat_flow *f, uint64_t now_ns)
{
	if (now_ns < f->dg.idle_at_ns)
		return;
	if (f->kind == NAT_FLOW_UDP)
		nat_count(&p->cnt.udp_closed);
	nat_flow_del(p, f);
}

/* ---- frames to the guest ------------------------------------------------ */

static uint32_t l3_len(const struct nat_key *k)
{
	return k->v6 ? 40u : 20u;
}

uint32_t nat_udp_hdr_len(const struct nat_key *k)
{
	return ETH_HDR_LEN + l3_len(k) + UDP_HDR;
}

uint32_t nat_udp_room(const struct nat_pair *p, const struct nat_key *k, uint32_t cap)
{
	uint32_t hl = nat_udp_hdr_len(k), by_mtu, by_cap;
	uint32_t mtu = p->nat->net.mtu;

	by_cap = cap > hl ? cap - hl : 0;
	by_mtu = mtu > l3_len(k) + UDP_HDR ? mtu - l3_len(k) - UDP_HDR : 0;
	if (by_mtu > 65535u - UDP_HDR)
		by_mtu = 65535u - UDP_HDR; /* the UDP length field */
	return by_cap < by_mtu ? by_cap : by_mtu;
}

void nat_udp_finish(const struct nat_pair *p, struct netbe_rxbuf *b, const struct nat_key *k,
		    uint32_t len)
{
	uint32_t l4 = nat_build_ip(p, b->data, k, UDP_HDR + len);
	uint8_t *u = b->data + l4;

	nat_wr16(u, k->rport);
	nat_wr16(u + 2, k->gport);
	nat_wr16(u + 4, (uint16_t)(UDP_HDR + len));
	nat_wr16(u + 6, 0);
	memset(&b->meta, 0, sizeof(b->meta));
	nat_build_l4_csum(p, b->data, l4, UDP_HDR + len, &b->meta);
	b->len = l4 + UDP_HDR + len;
}

/* ---- guest -> host ------------------------------------------------------ */

static bool is_dns(const struct nat_net *net, const struct nat_key *k)
{
	struct in6_addr d4;

	if (k->v6)
		return !memcmp(&k->raddr, &net->dns6, 16);
	nat_v4_to_mapped(&d4, net->dns4);
	return !memcmp(&k->raddr, &d4, 16);
}

enum nat_drop nat_dgram_socket(struct nat_pair *p, const struct nat_key *k, int proto, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = nat_remote_sockaddr(&p->nat->net, k, &ss);
	int s, e;

	*fd = -EINVAL;
	/* None: dns4/dns6 without a host resolver, or an address no flow
	 * may go to (broadcast, multicast, loopback, link-local: dns.c). */
	if (!sl)
		return is_dns(&p->nat->net, k) ? NAT_DROP_NOT_READY : NAT_DROP_NOT_OURS;
	s = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (s < 0) {
		*fd = -errno;
		return NAT_DROP_SOCKET;
	}
	if (connect(s, (struct sockaddr *)&ss, sl) < 0) {
		e = errno;
		close(s);
		*fd = -e;
		return NAT_DROP_SOCKET;
	}
	*fd = s;
	return NAT_DROP_NONE;
}

static enum nat_drop udp_open(struct nat_pair *p, const struct nat_key *k, struct nat_flow **out)
{
	enum nat_drop why;
	int fd;

	why = nat_dgram_socket(p, k, IPPROTO_UDP, &fd);
	/* No route, or a firewall's refusal, is the guest's to hear about
	 * (as from a router, RFC 1812 §5.2.7.1), not ours to log. */
	if (why == NAT_DROP_SOCKET && !nat_icmp_unreach(p, k, -fd))
		nat_log_sock("udp socket", -fd);
	if (why != NAT_DROP_NONE)
		return why;
	*out = nat_dgram_add(p, k, NAT_FLOW_UDP, fd);
	if (!*out)
		return NAT_DROP_FLOWS;
	(*out)->dg.dns = is_dns(&p->nat->net, k) ? 1 : 0;
	(*out)->dg.one_by_one = NAT_UDP_ONE_BY_ONE; /* see the top of this file */
	return NAT_DROP_NONE;
}

/* A datagram the host refused (errno @e): counted; a refusal or an
 * unreachable destination becomes the guest's ICMP error. */
static void udp_send_failed(struct nat_pair *p, const struct nat_flow *f, int e)
{
	counter_add(&p->stats.tx_dropped, 1);
	if (!nat_icmp_unreach(p, &f->key, e) && e != EAGAIN && e != ENOBUFS)
		counter_add(&p->stats.tx_errors, 1);
}

void nat_udp_flush(struct nat_pair *p)
{
	struct nat_udp_batch *b = &p->udp_tx;
	unsigned i = 0;

	while (i < b->n) {
		int r = sendmmsg(b->fd, b->msg + i, b->n - i, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r > 0) {
			i += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* Datagram i failed; a full socket buffer fails the rest too. */
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			counter_add(&p->stats.tx_dropped, b->n - i);
			break;
		}
		udp_send_failed(p, &p->flows[b->flow], r < 0 ? errno : EIO);
		i++;
	}
	b->n = b->niov = 0;
}

/* Batch the payload, straight from guest memory, for the flow's socket:
 * one sendmmsg() per run of datagrams of one flow (nat_udp_flush()). */
static void udp_send(struct nat_pair *p, struct nat_flow *f, const struct nat_pkt *pkt)
{
	struct nat_udp_batch *b = &p->udp_tx;
	int n;

	if (b->n &&
	    (b->fd != f->fd || b->n == NAT_UDP_TX_BATCH || NAT_UDP_TX_IOV - b->niov < UDP_IOV))
		nat_udp_flush(p);
	n = nat_pkt_iov(pkt, pkt->pay_off, pkt->pay_len, b->iov + b->niov, UDP_IOV);
	if (n < 0) {
		counter_add(&p->stats.tx_dropped, 1);
		return;
	}
	b->msg[b->n] =
		(struct mmsghdr){.msg_hdr = {.msg_iov = b->iov + b->niov, .msg_iovlen = (size_t)n}};
	b->niov += (unsigned)n;
	b->fd = f->fd;
	b->flow = (uint32_t)(f - p->flows);
	b->n++;
}

enum nat_drop nat_udp_input(struct nat_pair *p, const struct nat_pkt *pkt)
{
	struct nat_flow *f = nat_flow_find(p, &pkt->key);

	if (!f) {
		enum nat_drop why;

		/* A new flow changes the table the batch points into. */
		nat_udp_flush(p);
		why = udp_open(p, &pkt->key, &f);
		if (why != NAT_DROP_NONE)
			return why;
	}
	nat_dgram_touch(p, f, clock_mono_ns());
	udp_send(p, f, pkt);
	return NAT_DROP_NONE;
}

/* ---- host -> guest ------------------------------------------------------ */

/*
 * The socket failed or reported EPOLLERR with nothing to read: take its
 * pending error (a receive already took it when @e is not 0).
 */
static void udp_error(struct nat_pair *p, struct nat_flow *f, int e)
{
	socklen_t sl = sizeof(e);

	if (!e && getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
		e = errno;
	if (e && !nat_icmp_unreach(p, &f->key, e))
		counter_add(&p->stats.rx_errors, 1);
}

unsigned nat_udp_rx_iov(struct nat_pair *p, const struct nat_key *k, const struct netbe_rxbuf *b,
			struct iovec *iov)
{
	return nat_bounce_iov(p, b->data, nat_udp_hdr_len(k), nat_udp_room(p, k, b->cap), iov);
}

void nat_udp_spill(struct nat_pair *p, struct nat_flow *f, const struct netbe_rxbuf *b,
		   uint32_t head, uint32_t len)
{
	struct netbe_rxbuf whole = {
		.data = nat_bounce_whole(p, b->data, nat_udp_hdr_len(&f->key), head, len)};

	f->dg.one_by_one = NAT_UDP_ONE_BY_ONE;
	nat_udp_finish(p, &whole, &f->key, len);
	if (!nat_frag_out(p, whole.data, whole.len))
		counter_add(&p->stats.rx_dropped, 1);
}

/*
 * Finish the @got datagrams recvmmsg() put into @bufs: drop the truncated
 * ones and move the later ones down over the hole. From the first one
 * that spilled into the bounce on, the rest go through the out queue
 * (nat_udp_spill()), in order. Return: the frames ready in @bufs.
 */
static unsigned udp_finish_batch(struct nat_pair *p, struct nat_flow *f, struct netbe_rxbuf *bufs,
				 const struct mmsghdr *m, unsigned got)
{
	uint32_t hl = nat_udp_hdr_len(&f->key);
	unsigned out = 0, last_spilled = got;
	bool spilling = false;

	for (unsigned i = 0; i < got; i++)
		if (m[i].msg_len > m[i].msg_hdr.msg_iov[0].iov_len)
			last_spilled = i;
	for (unsigned i = 0; i < got; i++) {
		uint32_t len = m[i].msg_len, room = (uint32_t)m[i].msg_hdr.msg_iov[0].iov_len;

		if (m[i].msg_hdr.msg_flags & MSG_TRUNC) {
			counter_add(&p->stats.rx_dropped, 1);
			continue;
		}
		spilling = spilling || len > room;
		if (spilling) {
			if (len > room && i != last_spilled)
				counter_add(&p->stats.rx_dropped, 1); /* its tail is gone */
			else
				nat_udp_spill(p, f, &bufs[i], len < room ? len : room, len);
			continue;
		}
		if (out != i) {
			if (len > nat_udp_room(p, &f->key, bufs[out].cap)) {
				counter_add(&p->stats.rx_dropped, 1);
				continue;
			}
			memmove(bufs[out].data + hl, bufs[i].data + hl, len);
		}
		nat_udp_finish(p, &bufs[out], &f->key, len);
		out++;
	}
	return out;
}

/* The out queue can take the largest datagram's fragments. */
static bool out_has_room(const struct nat_pair *p)
{
	return NAT_OUT_SLOTS - (p->out.tail - p->out.head) >= NAT_OUT_SLOTS / 2;
}

/* Read one datagram into @b (or the bounce). Return: 1 when @b holds a
 * frame, 0 when it went to the out queue (it spilled, or @queued: one
 * before it in this call did, and the rest follow it there to keep the
 * order) or was dropped, -1 when nothing was read (errno). */
static int udp_read_one(struct nat_pair *p, struct nat_flow *f, struct netbe_rxbuf *b, bool queued)
{
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = nat_udp_rx_iov(p, &f->key, b, iov)};
	ssize_t r = recvmsg(f->fd, &mh, MSG_DONTWAIT);

	if (r < 0)
		return -1;
	if (mh.msg_flags & MSG_TRUNC) {
		counter_add(&p->stats.rx_dropped, 1);
		return 0;
	}
	if ((size_t)r > iov[0].iov_len || queued) {
		nat_udp_spill(p, f, b,
			      r < (ssize_t)iov[0].iov_len ? (uint32_t)r : (uint32_t)iov[0].iov_len,
			      (uint32_t)r);
		return 0;
	}
	nat_udp_finish(p, b, &f->key, (uint32_t)r);
	if (f->dg.one_by_one)
		f->dg.one_by_one--;
	return 1;
}

/* A flow that spilled lately: one datagram per syscall (the bounce holds
 * one). Once one went to the out queue (its fragments), every later one
 * of the call follows it there, so the guest gets them in order; reading
 * goes on while the queue has room for a largest datagram. */
static unsigned udp_ready_one_by_one(struct nat_pair *p, struct nat_flow *f, uint32_t events,
				     struct netbe_rxbuf *bufs, unsigned n)
{
	unsigned done = 0;
	bool queued = false;

	while (done < n && f->dg.one_by_one && out_has_room(p)) {
		int r = udp_read_one(p, f, &bufs[done], queued);

		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				udp_error(p, f, errno);
			else if (!done && (events & EPOLLERR))
				udp_error(p, f, 0);
			break;
		}
		if (!r) {
			queued = true;
			continue;
		}
		done++;
	}
	return done;
}

unsigned nat_udp_ready(struct nat_pair *p, struct nat_flow *f, uint32_t events,
		       struct netbe_rxbuf *bufs, unsigned n)
{
	struct mmsghdr m[UDP_BATCH];
	struct iovec iov[UDP_BATCH][2];
	unsigned done = 0;
	int got;

	if (f->dg.one_by_one) {
		done = udp_ready_one_by_one(p, f, events, bufs, n);
		if (f->dg.one_by_one || !out_has_room(p))
			goto out;
	}
	while (done < n) {
		unsigned want = n - done < UDP_BATCH ? n - done : UDP_BATCH;

		for (unsigned i = 0; i < want; i++) {
			memset(&m[i], 0, sizeof(m[i]));
			m[i].msg_hdr.msg_iov = iov[i];
			m[i].msg_hdr.msg_iovlen =
				nat_udp_rx_iov(p, &f->key, &bufs[done + i], iov[i]);
		}
		got = recvmmsg(f->fd, m, want, MSG_DONTWAIT, NULL);
		if (got <= 0) {
			if (got < 0 && errno != EAGAIN && errno != EINTR)
				udp_error(p, f, errno);
			else if (!done && (events & EPOLLERR))
				udp_error(p, f, 0);
			break;
		}
		done += udp_finish_batch(p, f, bufs + done, m, (unsigned)got);
		if ((unsigned)got < want || f->dg.one_by_one)
			break; /* drained, or the out queue goes first */
	}
out:
	if (done)
		nat_dgram_touch(p, f, clock_mono_ns());
	return done;
}
