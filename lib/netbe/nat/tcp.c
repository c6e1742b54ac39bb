/* SPDX-License-Identifier: MIT */
/*
 * TCP by socket translation: each guest connection is one TCP socket of
 * the host kernel, and this file only translates between the guest's
 * segments and that socket. There is no TCP stack here: no queue, no
 * reassembly, no congestion control. The ideas are passt's (tcp.c):
 *
 *  - Guest -> host: a segment's payload is written straight from guest
 *    memory with one sendmsg() (a 64 KB GSO segment too) and only what the
 *    socket took is acknowledged. The window we give the guest is the
 *    socket's free send space (SO_MEMINFO, with a margin), so nothing is
 *    buffered here and a host peer that stops reading closes the guest's
 *    window; EPOLLOUT reopens it. A burst of guest segments gets one ACK
 *    (the queued one is updated in place).
 *  - Host -> guest: data stays in the socket until the guest acknowledges
 *    it. It is read with MSG_PEEK (at SO_PEEK_OFF: where the last peek
 *    ended; before Linux 6.10, from the front, skipping what the guest
 *    has) straight into the guest's receive buffers behind headers we
 *    write, as GSO frames of up to 64 KB when the guest takes TSO, never
 *    past the guest's window, and discarded (MSG_TRUNC) as its ACKs come
 *    in. Retransmission (RTO, three duplicate ACKs) is going back to the
 *    last acknowledged byte and peeking again. "The guest's receive
 *    buffers" are its own memory when the device lends them (rx_direct,
 *    struct netbe_rxwin: a frame spans chains as MRG_RXBUF allows; only
 *    with partial checksums, as we never read the payload), else the
 *    device's bounce buffers; a flow's data goes to the first while they
 *    last, then to the second, which the guest gets after them.
 *  - FIN, RST and half-close map onto shutdown(SHUT_WR), end of stream
 *    and SO_LINGER {1, 0}.
 *
 * Epoll. A socket with unacknowledged data stays readable, so a
 * level-triggered EPOLLIN would report it forever once everything it had
 * is sent: the flow then turns edge-triggered ("stalled": new data is an
 * edge), and level-triggered again when it has more to send than the
 * receive buffers of one rx() held. A guest window that is full turns
 * EPOLLIN off; the ACK that opens it turns it back on (EPOLL_CTL_MOD
 * re-evaluates readiness, so the data still there is reported). Edges
 * are not repeated: the rx() loop must hand every event epoll_wait()
 * returned to nat_tcp_ready(), with no buffers left too (n == 0: the
 * flow then turns level-triggered and is reported again).
 *
 * Timers: every flow wants the pair's tick (NAT_TIMER_PERIOD_MS) for its
 * retransmission deadline (200 ms doubling, RFC 6298 §5 in spirit, at
 * the tick's granularity; a reset after TCP_MAX_RETRIES) and its idle
 * timeout (NAT_TCP_IDLE_NS).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sock_diag.h>
#include <linux/sockios.h>

#include "base/clock.h"
#include "base/iov.h"
#include "spec/ethernet.h"
#include "spec/virtio_net.h"

#include "nat.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define TCP_HDR		  20u
#define TCP_OUR_WS	  8u /* windows up to 16 MB (RFC 7323 §2.3 allows 14) */
#define TCP_MSS_MIN	  64u
#define TCP_MSS4_DEFAULT  536u	/* RFC 9293 §3.7.1 */
#define TCP_MSS6_DEFAULT  1220u /* RFC 8200 §5: 1280 - 60 */
#define TCP_RTO_INIT_NS	  (200ull * 1000000ull)
#define TCP_RTO_MAX_SHIFT 8u
#define TCP_MAX_RETRIES	  8u
#define TCP_IOV		  64u	 /* frames one recvmsg() fills, iovecs of a write */
#define TCP_DISCARD	  65536u /* scratch for peeks without SO_PEEK_OFF */
#define TCP_DISCARD_IOV	  8u	 /* without SO_PEEK_OFF: at most 512 KB in flight */
#define TCP_WIN_IOV	  256u	 /* iovecs of one peek into the guest's buffers */
#define TCP_WIN_FRAMES	  32u	 /* frames of one such peek */

enum tcp_state {
	TS_CONNECTING = 1, /* guest's SYN seen, our connect() under way */
	TS_SYN_RCVD,	   /* SYN-ACK sent to the guest */
	TS_SYN_SENT,	   /* --hostfwd: SYN sent to the guest */
	TS_ESTABLISHED,	   /* both ways open, or half-closed (flags) */
};

enum tcp_flag {
	TF_WS = 1u << 0,	 /* window scaling on: both SYNs carried it */
	TF_GUEST_FIN = 1u << 1,	 /* the guest's FIN taken: socket shut for writing */
	TF_SOCK_EOF = 1u << 2,	 /* the host peer ended its stream */
	TF_FIN_SENT = 1u << 3,	 /* our FIN sent, at seq_max - 1 */
	TF_FIN_ACKED = 1u << 4,	 /* ... and acknowledged */
	TF_STALLED = 1u << 5,	 /* all the socket had is sent: edge-triggered */
	TF_WND_FULL = 1u << 6,	 /* the guest's window is full: EPOLLIN off */
	TF_WUPD = 1u << 7,	 /* our window is small: EPOLLOUT, updates */
	TF_ACTIVE = 1u << 8,	 /* a guest segment since the last tick */
	TF_ACK_QUEUED = 1u << 9, /* our last pure ACK still in the out queue */
	TF_FWD = 1u << 10,	 /* opened by --hostfwd */
	TF_LOST = 1u << 11,	 /* guest data refused: it must send it again */
	TF_EDGE = 1u << 12,	 /* wnd_edge holds the right edge we gave */
};

/* SO_PEEK_OFF for TCP (Linux 6.10) and MSG_TRUNC discards: 1 yes, 0 no,
 * -1 not known yet. Process-wide: every pair probes the same kernel. */
static int peek_off_ok = -1;
static int trunc_ok = -1;
/* Written by the kernel only (peeks and reads that skip data), never
 * read: shared by the pairs' workers without harm. */
static uint8_t discard_buf[TCP_DISCARD];

void nat_tcp_test_fallbacks(bool on)
{
	__atomic_store_n(&peek_off_ok, on ? 0 : -1, __ATOMIC_RELAXED);
	__atomic_store_n(&trunc_ok, on ? 0 : -1, __ATOMIC_RELAXED);
}

/* ---- sequence numbers (RFC 9293 §3.4: modulo 2^32) ------------------- */

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* ---- small helpers ----------------------------------------------------- */

static inline uint32_t ip_hdr_len(const struct nat_key *k)
{
	return k->v6 ? 40u : 20u;
}

/* Ethernet + IP + TCP without options: the header of every data frame. */
static inline uint32_t data_hdr_len(const struct nat_key *k)
{
	return ETH_HDR_LEN + ip_hdr_len(k) + TCP_HDR;
}

/* The MSS we announce: what one frame of the device's MTU holds. */
static uint16_t our_mss(const struct nat_pair *p, const struct nat_key *k)
{
	uint32_t mtu = p->nat->net.mtu, over = ip_hdr_len(k) + TCP_HDR;

	return (uint16_t)(mtu > over + TCP_MSS4_DEFAULT ? mtu - over : TCP_MSS4_DEFAULT);
}

/* The payload of one frame to the guest without GSO: its MSS, no more
 * than our MTU carries. */
static uint32_t frame_mss(const struct nat_pair *p, const struct nat_flow *f)
{
	return min_u32(f->tcp.g_mss, our_mss(p, &f->key));
}

/* RFC 9293 §3.7.1: the guest's MSS option, its default when absent, and
 * a floor so that a hostile one cannot make us cut 1-byte frames. */
static uint16_t guest_mss(const struct nat_pkt *pkt)
{
	uint16_t m = pkt->mss ? pkt->mss : (pkt->key.v6 ? TCP_MSS6_DEFAULT : TCP_MSS4_DEFAULT);

	return m < TCP_MSS_MIN ? TCP_MSS_MIN : m;
}

/* GSO frames to the guest: it takes TSO for this family and partial
 * checksums (a GSO frame is always NEEDS_CSUM). */
static bool gso_ok(const struct nat_pair *p, const struct nat_flow *f)
{
	uint32_t tso = f->key.v6 ? NETBE_CAP_TSO6 : NETBE_CAP_TSO4;

	return (p->rx_offloads & (tso | NETBE_CAP_CSUM)) == (tso | NETBE_CAP_CSUM);
}

/* An initial sequence number (RFC 9293 §3.4.1, RFC 6528): clock, key and
 * a counter through a mixer. The guest's only peer is us, so it needs to
 * be unpredictable to nobody but the guest itself; no syscall. */
static uint32_t new_isn(const struct nat_key *k)
{
	static uint64_t ctr;
	uint64_t x = clock_mono_ns() ^ ((uint64_t)nat_key_hash(k) << 32) ^
		     __atomic_add_fetch(&ctr, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return (uint32_t)(x ^ (x >> 31));
}

static void rto_arm(struct nat_tcp_conn *c)
{
	unsigned shift = c->retries < TCP_RTO_MAX_SHIFT ? c->retries : TCP_RTO_MAX_SHIFT;

	c->rto_at_ns = clock_mono_ns() + (TCP_RTO_INIT_NS << shift);
}

/* ---- the socket -------------------------------------------------------- */

/* Options every connection's socket gets: no Nagle (the guest's stack
 * already decided when to send), peeks that start where the last ended. */
static void sock_setup(int fd)
{
	int one = 1, zero = 0, ok = __atomic_load_n(&peek_off_ok, __ATOMIC_RELAXED);

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ok == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) == 0) {
		if (ok < 0)
			__atomic_store_n(&peek_off_ok, 1, __ATOMIC_RELAXED);
	} else if (errno == EOPNOTSUPP || errno == ENOPROTOOPT || errno == EINVAL) {
		__atomic_store_n(&peek_off_ok, 0, __ATOMIC_RELAXED);
	}
}

static bool have_peek_off(void)
{
	return __atomic_load_n(&peek_off_ok, __ATOMIC_RELAXED) == 1;
}

/*
 * Re-read the free send space: what the socket takes before a write
 * fails, i.e. SO_SNDBUF (grown by autotuning) less the memory its queue
 * holds, buffer overhead included (SO_MEMINFO, Linux 4.6). Without it,
 * SO_SNDBUF less the bytes queued (SIOCOUTQ), which overestimates.
 */
static void space_refresh(int fd, struct nat_tcp_conn *c)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t l = sizeof(mem);
	int v = 0, outq = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &l) == 0 &&
	    l > SK_MEMINFO_WMEM_QUEUED * sizeof(uint32_t)) {
		c->sndbuf = mem[SK_MEMINFO_SNDBUF];
		outq = (int)min_u32(mem[SK_MEMINFO_WMEM_QUEUED], INT32_MAX);
	} else {
		l = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &l) == 0 && v > 0)
			c->sndbuf = (uint32_t)v;
		if (ioctl(fd, SIOCOUTQ, &outq) < 0 || outq < 0)
			outq = (int)c->sndbuf;
	}
	c->space = (uint32_t)outq < c->sndbuf ? c->sndbuf - (uint32_t)outq : 0;
	/* A margin: a guest that sends what we promise is never refused. */
	c->space -= c->space / 4;
}

/* The least a window may open by (RFC 9293 §3.8.6.2.2, receiver-side
 * silly window avoidance): one of the guest's segments, or half the
 * socket's buffer if that is smaller. */
static uint32_t wnd_step(const struct nat_tcp_conn *c)
{
	/* Plus a unit of our scale: the field is rounded down. */
	return min_u32(c->our_mss, c->sndbuf / 2) + (1u << c->our_wscale);
}

/*
 * The window we offer: the socket's free space, unless that is less than
 * wnd_step(); then the right edge we gave before, never moved on (0 when
 * the guest has reached it). A Linux sender does not send into a window
 * smaller than its MSS until its persist timer fires (200 ms at least):
 * offering such a window stalled uploads through --hostfwd for 200 ms at
 * a time on a loaded machine. The update comes when the socket drains
 * (window_update()).
 */
static uint32_t wnd_offer(const struct nat_tcp_conn *c)
{
	if (c->space >= wnd_step(c))
		return c->space;
	if ((c->flags & TF_EDGE) && seq_lt(c->seq_from_guest, c->wnd_edge))
		return c->wnd_edge - c->seq_from_guest;
	return 0;
}

/* The window field we send (RFC 7323 §2.3: scaled by ours, 65535 at most
 * and unscaled without scaling). Rounded down: a kept edge may move back
 * by less than one unit of the scale (RFC 7323 §2.4), where rounding up
 * would leave the guest a window of a few bytes to wait on. */
static uint16_t wnd_field(const struct nat_tcp_conn *c)
{
	uint32_t w = wnd_offer(c) >> c->our_wscale;

	return (uint16_t)(w > 65535 ? 65535 : w);
}

/* Drop @n acknowledged bytes from the front of the receive queue. */
static void sock_discard(int fd, uint32_t n)
{
	while (n) {
		int ok = __atomic_load_n(&trunc_ok, __ATOMIC_RELAXED);
		ssize_t r = -1;

		if (ok != 0) {
			/* tcp(7): MSG_TRUNC discards instead of copying. */
			r = recv(fd, NULL, n, MSG_TRUNC | MSG_DONTWAIT);
			if (r < 0 && (errno == EFAULT || errno == EINVAL || errno == EOPNOTSUPP))
				__atomic_store_n(&trunc_ok, ok = 0, __ATOMIC_RELAXED);
			else if (r > 0 && ok < 0)
				__atomic_store_n(&trunc_ok, 1, __ATOMIC_RELAXED);
		}
		if (ok == 0)
			r = recv(fd, discard_buf, min_u32(n, TCP_DISCARD), MSG_DONTWAIT);
		if (r <= 0)
			return; /* nothing there: the kernel knows better */
		n -= (uint32_t)r;
	}
}

/* The host peer sees a reset when the socket closes (RFC 9293 §3.10.4
 * ABORT through the kernel). */
static void sock_linger0(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* ---- building segments -------------------------------------------------- */

struct tcp_seg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint8_t optlen;
	uint8_t opt[8];
};

/* Where frames built in nat_tcp_ready() go: data into the guest's own
 * buffers while the device lends them (win, rx_direct) and the guest
 * takes partial checksums, then the receive buffers (in order with the
 * data), the out queue when they are used up. */
struct tcp_out {
	struct netbe_rxbuf *bufs;
	unsigned n, used;
	struct netbe_rxwin *win;
};

static void tcp_hdr_write(uint8_t *t, const struct nat_key *k, const struct tcp_seg *s)
{
	nat_wr16(t, k->rport);
	nat_wr16(t + 2, k->gport);
	nat_wr32(t + 4, s->seq);
	nat_wr32(t + 8, s->ack);
	t[12] = (uint8_t)((TCP_HDR + s->optlen) / 4 << 4);
	t[13] = s->flags;
	nat_wr16(t + 14, s->win);
	nat_wr16(t + 16, 0);
	nat_wr16(t + 18, 0);
	memcpy(t + TCP_HDR, s->opt, s->optlen);
}

/* A segment without payload at @buf. Return its length; *@l4 the offset
 * of the TCP header. */
static uint32_t seg_build(const struct nat_pair *p, uint8_t *buf, const struct nat_key *k,
			  const struct tcp_seg *s, uint32_t *l4)
{
	uint32_t l4_len = TCP_HDR + s->optlen;

	*l4 = nat_build_ip(p, buf, k, l4_len);
	tcp_hdr_write(buf + *l4, k, s);
	return *l4 + l4_len;
}

/* Queue a segment for the guest (complete checksum). */
static bool seg_queue(struct nat_pair *p, const struct nat_key *k, const struct tcp_seg *s)
{
	uint8_t *buf = nat_out_reserve(p);
	uint32_t l4, len;

	if (!buf) {
		nat_drop_count(p, NAT_DROP_OUT_FULL);
		return false;
	}
	len = seg_build(p, buf, k, s, &l4);
	nat_build_l4_csum_full(buf, l4, len - l4);
	nat_out_commit(p, len, NULL);
	return true;
}

/* A segment into the next receive buffer of @o, else into the queue. */
static void seg_emit(struct nat_pair *p, struct nat_flow *f, const struct tcp_seg *s,
		     struct tcp_out *o)
{
	struct netbe_rxbuf *b;
	uint32_t l4, len;

	if (s->flags & TH_ACK)
		f->tcp.flags &= (uint16_t)~TF_ACK_QUEUED;
	if (!o || o->used >= o->n ||
	    o->bufs[o->used].cap < data_hdr_len(&f->key) + sizeof(s->opt)) {
		seg_queue(p, &f->key, s);
		return;
	}
	b = &o->bufs[o->used++];
	memset(&b->meta, 0, sizeof(b->meta));
	len = seg_build(p, b->data, &f->key, s, &l4);
	nat_build_l4_csum(p, b->data, l4, len - l4, &b->meta);
	b->len = len;
}

/* The MSS option (RFC 9293 §3.2) and, when @ws >= 0, the window scale
 * option (RFC 7323 §2.2) behind a NOP. */
static void syn_opts(struct tcp_seg *s, uint16_t mss, int ws)
{
	s->opt[0] = 2;
	s->opt[1] = 4;
	nat_wr16(s->opt + 2, mss);
	s->optlen = 4;
	if (ws < 0)
		return;
	s->opt[4] = 1;
	s->opt[5] = 3;
	s->opt[6] = 3;
	s->opt[7] = (uint8_t)ws;
	s->optlen = 8;
}

/* An ACK with our current sequence number and window (remembered: a
 * window update is due when it has grown enough). */
static struct tcp_seg ack_seg(struct nat_tcp_conn *c, uint8_t flags)
{
	uint16_t win = wnd_field(c);

	c->wnd_edge = c->seq_from_guest + ((uint32_t)win << c->our_wscale);
	c->flags |= TF_EDGE;
	return (struct tcp_seg){.seq = c->seq_to_guest,
				.ack = c->seq_from_guest,
				.flags = (uint8_t)(TH_ACK | flags),
				.win = win};
}

/*
 * A pure ACK from the guest's transmit path. When our previous one still
 * waits, unread, last in the out queue, it is brought up to date instead:
 * a burst of guest segments costs the guest one ACK, as with a delayed
 * ACK (RFC 9293 §3.8.6.3), without the delay.
 */
static void send_ack(struct nat_pair *p, struct nat_flow *f)
{
	struct nat_tcp_conn *c = &f->tcp;
	struct nat_out_queue *q = &p->out;
	struct tcp_seg s = ack_seg(c, 0);

	if ((c->flags & TF_ACK_QUEUED) && q->tail == c->ack_slot && q->head != q->tail) {
		uint32_t i = (q->tail - 1) % NAT_OUT_SLOTS, l4;
		uint8_t *buf = q->slots + (size_t)i * NAT_OUT_SLOT_BYTES;
		uint32_t len = seg_build(p, buf, &f->key, &s, &l4);

		nat_build_l4_csum_full(buf, l4, len - l4);
		return;
	}
	if (seg_queue(p, &f->key, &s)) {
		c->flags |= TF_ACK_QUEUED;
		c->ack_slot = q->tail;
	}
}

/* RFC 9293 §3.10.7.1: the answer to a segment for no connection. */
static void rst_reply(struct nat_pair *p, const struct nat_pkt *pkt)
{
	struct tcp_seg s = {0};
	uint8_t fl = pkt->tcp_flags;

	if (fl & TH_RST)
		return;
	if (fl & TH_ACK) {
		s.seq = pkt->ack;
		s.flags = TH_RST;
	} else {
		s.ack = pkt->seq + pkt->pay_len + !!(fl & TH_SYN) + !!(fl & TH_FIN);
		s.flags = TH_RST | TH_ACK;
	}
	seg_queue(p, &pkt->key, &s);
}

/* ---- flow life ------------------------------------------------------- */

/* What epoll should watch, from the state (the file's top comment). */
static uint32_t conn_events(const struct nat_tcp_conn *c)
{
	uint32_t ev;

	switch (c->state) {
	case TS_CONNECTING:
		return EPOLLOUT | EPOLLET;
	case TS_ESTABLISHED:
		break;
	default:
		return EPOLLET; /* errors only, until the guest answers */
	}
	ev = EPOLLRDHUP;
	if (!(c->flags & TF_WND_FULL) &&
	    !((c->flags & TF_FIN_SENT) && c->seq_to_guest == c->seq_max))
		ev |= EPOLLIN;
	if (c->flags & TF_WUPD)
		ev |= EPOLLOUT;
	if ((c->flags & TF_STALLED) || !(ev & EPOLLIN))
		ev |= EPOLLET;
	return ev;
}

static void conn_watch(struct nat_pair *p, struct nat_flow *f)
{
	nat_flow_watch(p, f, conn_events(&f->tcp));
}

/* The end of a connection: its counter, then the flow and socket go. */
static void conn_close(struct nat_pair *p, struct nat_flow *f, bool reset_host, uint64_t *counter)
{
	if (reset_host)
		sock_linger0(f->fd);
	nat_count(counter);
	nat_flow_del(p, f);
}

/* Reset both ends (a host socket error, a guest that stopped answering). */
static void conn_reset(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o)
{
	struct nat_tcp_conn *c = &f->tcp;
	struct tcp_seg s = {.seq = c->seq_max, .ack = c->seq_from_guest, .flags = TH_RST | TH_ACK};

	/* The guest's RCV.NXT is most likely seq_max; if it is not, its
	 * challenge ACK (RFC 5961 §3.2) meets no flow and rst_reply()
	 * answers it with the right number. */
	if (c->state == TS_SYN_SENT)
		s.flags = TH_RST; /* the guest's SYN-ACK never came: nothing to ack */
	seg_emit(p, f, &s, o);
	conn_close(p, f, true, &p->cnt.tcp_reset);
}

/* Both directions finished and acknowledged: a clean close. */
static bool conn_maybe_done(struct nat_pair *p, struct nat_flow *f)
{
	uint16_t done = TF_GUEST_FIN | TF_FIN_SENT | TF_FIN_ACKED;

	if ((f->tcp.flags & done) != done)
		return false;
	conn_close(p, f, false, &p->cnt.tcp_closed);
	return true;
}

/* ---- host -> guest ------------------------------------------------------- */

/* Go back to the last byte the guest acknowledged (RFC 9293 §3.8.1, RFC
 * 5681 §3.2): the next peek starts there again. */
static void rewind_to_acked(struct nat_pair *p, struct nat_flow *f)
{
	struct nat_tcp_conn *c = &f->tcp;
	int zero = 0;

	c->seq_to_guest = c->seq_acked;
	c->dup_acks = 0;
	c->flags &= (uint16_t) ~(TF_STALLED | TF_WND_FULL);
	if (have_peek_off())
		setsockopt(f->fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
	conn_watch(p, f);
}

/* Bytes in flight to the guest: sent, not acknowledged, still in the
 * socket (a FIN in flight is no byte of it). */
static uint32_t in_flight(const struct nat_tcp_conn *c)
{
	uint32_t n = c->seq_to_guest - c->seq_acked;

	if ((c->flags & TF_FIN_SENT) && c->seq_to_guest == c->seq_max && n)
		n--;
	return n;
}

/* The payload bytes one frame may carry: one segment, or one GSO frame,
 * an IP packet of 64 KB at most (IPv4 total length, IPv6 payload length;
 * RFC 791, RFC 8200 §3). */
static uint32_t frame_lim(const struct nat_pair *p, const struct nat_flow *f, uint32_t mss)
{
	if (gso_ok(p, f))
		return f->key.v6 ? 65535u - TCP_HDR : 65535u - 20u - TCP_HDR;
	return mss;
}

/* The payload bytes receive buffer @b can carry to the guest. */
static uint32_t frame_room(const struct nat_pair *p, const struct nat_flow *f,
			   const struct netbe_rxbuf *b, uint32_t mss)
{
	uint32_t hdr = data_hdr_len(&f->key);

	if (b->cap <= hdr)
		return 0;
	return min_u32(b->cap - hdr, frame_lim(p, f, mss));
}

/* Write the headers of a data frame of @len payload bytes at @seq. */
static void data_frame(const struct nat_pair *p, struct nat_flow *f, struct netbe_rxbuf *b,
		       uint32_t seq, uint32_t len, bool psh, uint32_t mss)
{
	struct nat_tcp_conn *c = &f->tcp;
	struct tcp_seg s = ack_seg(c, psh ? TH_PSH : 0);
	uint32_t l4, l4_len = TCP_HDR + len;

	s.seq = seq;
	l4 = nat_build_ip(p, b->data, &f->key, l4_len);
	tcp_hdr_write(b->data + l4, &f->key, &s);
	memset(&b->meta, 0, sizeof(b->meta));
	nat_build_l4_csum(p, b->data, l4, l4_len, &b->meta);
	if (len > mss) {
		b->meta.gso_type = f->key.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		b->meta.gso_size = (uint16_t)mss;
		b->meta.hdr_len = (uint16_t)(l4 + TCP_HDR);
	}
	b->len = l4 + l4_len;
}

/* The iovecs for bytes already sent when the kernel cannot peek at an
 * offset: they are read again into the scratch buffer. Return their
 * count, or -1 when there are more than we read past. */
static int skip_iov(struct iovec *iov, uint32_t skip)
{
	int k = 0;

	while (skip) {
		uint32_t n = min_u32(skip, TCP_DISCARD);

		if (k == (int)TCP_DISCARD_IOV)
			return -1;
		iov[k++] = (struct iovec){discard_buf, n};
		skip -= n;
	}
	return k;
}

/* Peek with @mh, whose first @skip bytes are data the guest has. Return
 * as peek_round(). */
static ssize_t peek(const struct nat_flow *f, struct msghdr *mh, uint32_t skip)
{
	ssize_t r = recvmsg(f->fd, mh, MSG_PEEK | MSG_DONTWAIT);

	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (r == 0)
		return 0;
	if ((uint32_t)r <= skip) /* nothing new (at the end: RDHUP told us) */
		return (f->tcp.flags & TF_SOCK_EOF) ? 0 : -EAGAIN;
	return r - (ssize_t)skip;
}

/* One peek: fill frames from o->bufs[o->used..] within @wnd bytes.
 * Return: bytes of new data, 0 at the end of the stream, -EAGAIN when
 * there is nothing new, -ENOBUFS when the next buffer cannot hold a
 * frame, -EMSGSIZE when more is in flight than we can peek past, or
 * -errno. */
static ssize_t peek_round(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o, uint32_t wnd,
			  uint32_t mss, uint32_t *asked)
{
	struct iovec iov[TCP_DISCARD_IOV + TCP_IOV];
	struct msghdr mh = {.msg_iov = iov};
	uint32_t skip = have_peek_off() ? 0 : in_flight(&f->tcp), hdr = data_hdr_len(&f->key);
	int k = skip_iov(iov, skip);

	if (k < 0)
		return -EMSGSIZE;
	*asked = 0;
	for (unsigned i = o->used; i < o->n && wnd && i - o->used < TCP_IOV; i++) {
		uint32_t room = min_u32(frame_room(p, f, &o->bufs[i], mss), wnd);

		if (!room)
			break;
		iov[k++] = (struct iovec){o->bufs[i].data + hdr, room};
		*asked += room;
		wnd -= room;
	}
	if (!*asked)
		return -ENOBUFS;
	mh.msg_iovlen = (size_t)k;
	return peek(f, &mh, skip);
}

/* Hand @got new bytes, peeked into the buffers from o->used on, out as
 * frames. */
static void emit_data(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o, uint32_t got,
		      uint32_t mss)
{
	struct nat_tcp_conn *c = &f->tcp;

	while (got) {
		struct netbe_rxbuf *b = &o->bufs[o->used++];
		uint32_t len = min_u32(frame_room(p, f, b, mss), got);

		got -= len;
		data_frame(p, f, b, c->seq_to_guest, len, !got, mss);
		c->seq_to_guest += len;
	}
	if (seq_lt(c->seq_max, c->seq_to_guest))
		c->seq_max = c->seq_to_guest;
}

/* ---- data straight into the guest's buffers (struct netbe_rxwin) -------- */

/* A frame planned in the window: its first chain, where its headers go
 * (after the device's header room), the payload bytes its iovecs hold. */
struct win_frame {
	unsigned chain;
	uint8_t *hdr;
	uint32_t room;
};

/* Append iovecs for up to @want bytes of chain @ch from byte @off on to
 * @iov (*@k used of @cap). Return the bytes they hold. */
static uint32_t chain_iov(const struct netbe_rxchain *ch, uint32_t off, uint32_t want,
			  struct iovec *iov, unsigned *k, unsigned cap)
{
	uint32_t got = 0;

	for (unsigned i = 0; i < ch->iovcnt && got < want && *k < cap; i++) {
		size_t l = ch->iov[i].iov_len;
		uint32_t n;

		if (off >= l) {
			off -= (uint32_t)l;
			continue;
		}
		n = min_u32((uint32_t)(l - off), want - got);
		iov[(*k)++] = (struct iovec){(uint8_t *)ch->iov[i].iov_base + off, n};
		got += n;
		off = 0;
	}
	return got;
}

/* Plan frames in the window's chains from the first unused one, within
 * @wnd bytes: each starts with our headers in its first chain's first
 * buffer, its payload follows over as many chains as it needs. Return the
 * frames planned (0: the window has no room, or its next chain no space
 * for the headers); their payload iovecs are appended to @iov, *@asked
 * is their room. */
static unsigned win_plan(const struct nat_pair *p, const struct nat_flow *f,
			 const struct netbe_rxwin *win, uint32_t wnd, uint32_t mss,
			 struct win_frame *fr, struct iovec *iov, unsigned *k, unsigned cap,
			 uint32_t *asked)
{
	uint32_t hdr = data_hdr_len(&f->key), lim = frame_lim(p, f, mss);
	unsigned c = win->chains_used, n = 0;

	*asked = 0;
	while (wnd && c < win->nchains && n < TCP_WIN_FRAMES &&
	       win->nframes + n < win->max_frames && *k < cap) {
		const struct netbe_rxchain *ch = &win->chains[c];
		uint32_t room = min_u32(lim, wnd), got;

		if (!ch->iovcnt || ch->iov[0].iov_len <= (size_t)win->hdr_room + hdr)
			break;
		fr[n] = (struct win_frame){.chain = c,
					   .hdr = (uint8_t *)ch->iov[0].iov_base + win->hdr_room};
		got = chain_iov(ch, win->hdr_room + hdr, room, iov, k, cap);
		for (c++; got < room && c < win->nchains && *k < cap; c++)
			got += chain_iov(&win->chains[c], 0, room - got, iov, k, cap);
		fr[n++].room = got;
		*asked += got;
		wnd -= got;
	}
	return n;
}

/* Hand @got new bytes, peeked into the planned frames, out as window
 * frames: headers written in place, each frame's chains counted. */
static void win_emit(const struct nat_pair *p, struct nat_flow *f, struct netbe_rxwin *win,
		     const struct win_frame *fr, unsigned nfr, uint32_t got, uint32_t mss)
{
	struct nat_tcp_conn *c = &f->tcp;

	for (unsigned i = 0; i < nfr && got; i++) {
		uint32_t len = min_u32(fr[i].room, got), need, have = 0;
		struct netbe_rxbuf b = {.data = fr[i].hdr};
		unsigned ch = fr[i].chain;

		got -= len;
		data_frame(p, f, &b, c->seq_to_guest, len, !got, mss);
		c->seq_to_guest += len;
		need = win->hdr_room + b.len;
		while (have < need && ch < win->nchains)
			have += win->chains[ch++].len;
		win->frames[win->nframes++] = (struct netbe_rxwin_frame){
			.len = b.len, .nchains = ch - fr[i].chain, .meta = b.meta};
		win->chains_used = ch;
	}
	if (seq_lt(c->seq_max, c->seq_to_guest))
		c->seq_max = c->seq_to_guest;
}

/* One peek into the window within @wnd bytes, its frames emitted. Return
 * as peek_round() (-ENOBUFS: no room in the window). */
static ssize_t peek_win(const struct nat_pair *p, struct nat_flow *f, struct tcp_out *o,
			uint32_t wnd, uint32_t mss, uint32_t *asked)
{
	struct iovec iov[TCP_DISCARD_IOV + TCP_WIN_IOV];
	struct win_frame fr[TCP_WIN_FRAMES];
	struct msghdr mh = {.msg_iov = iov};
	uint32_t skip = have_peek_off() ? 0 : in_flight(&f->tcp);
	int k0 = skip_iov(iov, skip);
	unsigned k, nfr;
	ssize_t got;

	if (k0 < 0)
		return -EMSGSIZE;
	k = (unsigned)k0;
	nfr = win_plan(p, f, o->win, wnd, mss, fr, iov, &k, TCP_DISCARD_IOV + TCP_WIN_IOV, asked);
	if (!nfr)
		return -ENOBUFS;
	mh.msg_iovlen = k;
	got = peek(f, &mh, skip);
	if (got > 0)
		win_emit(p, f, o->win, fr, nfr, (uint32_t)got, mss);
	return got;
}

/* The host peer ended its stream and all of it is sent: our FIN. */
static void send_fin(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o)
{
	struct nat_tcp_conn *c = &f->tcp;
	struct tcp_seg s = ack_seg(c, TH_FIN);

	seg_emit(p, f, &s, o);
	c->flags |= TF_FIN_SENT | TF_SOCK_EOF;
	c->seq_to_guest++;
	if (seq_lt(c->seq_max, c->seq_to_guest))
		c->seq_max = c->seq_to_guest;
}

/*
 * Send what the socket holds beyond what the guest has, within the
 * guest's window and the buffers of @o. Return false when the flow is
 * gone (a socket error reset it).
 */
static bool data_from_sock(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o)
{
	struct nat_tcp_conn *c = &f->tcp;
	uint32_t mss = frame_mss(p, f);

	while (!((c->flags & TF_FIN_SENT) && c->seq_to_guest == c->seq_max)) {
		int32_t wnd = (int32_t)(c->seq_acked + c->g_win - c->seq_to_guest);
		uint32_t asked, before = c->seq_to_guest;
		ssize_t got;
		bool in_win;

		/* Without SO_PEEK_OFF every peek reads past what is in
		 * flight again: keep that bounded. */
		if (!have_peek_off()) {
			uint32_t fl = in_flight(c), cap = TCP_DISCARD * TCP_DISCARD_IOV;

			wnd = fl >= cap ? 0
					: (int32_t)min_u32((uint32_t)(wnd > 0 ? wnd : 0), cap - fl);
		}
		if (wnd <= 0) {
			c->flags |= TF_WND_FULL;
			break;
		}
		in_win = o->win != NULL;
		if (in_win) {
			got = peek_win(p, f, o, (uint32_t)wnd, mss, &asked);
			if (got == -ENOBUFS && o->win->nchains &&
			    o->win->chains_used == o->win->nchains) {
				/* The window is used up: the rest waits for
				 * the next turn's, with no copy either. */
				c->flags &= (uint16_t)~TF_STALLED; /* level */
				break;
			}
			if (got == -ENOBUFS) {
				/* A chain without room for our headers, or no
				 * chain at all: the receive buffers now, for
				 * this flow and every later one. */
				o->win = NULL;
				continue;
			}
		} else if (o->used >= o->n) {
			c->flags &= (uint16_t)~TF_STALLED; /* more to send: level */
			break;
		} else {
			got = peek_round(p, f, o, (uint32_t)wnd, mss, &asked);
		}
		if (got == -EAGAIN) {
			c->flags |= TF_STALLED;
			break;
		}
		if (got == -ENOBUFS) {
			c->flags &= (uint16_t)~TF_STALLED; /* other buffers, later */
			break;
		}
		if (got == -EMSGSIZE) {
			c->flags |= TF_WND_FULL; /* ACKs make room */
			break;
		}
		if (got < 0) {
			conn_reset(p, f, o);
			return false;
		}
		if (got == 0) {
			send_fin(p, f, o);
		} else {
			if (!in_win)
				emit_data(p, f, o, (uint32_t)got, mss);
			c->flags &= (uint16_t)~TF_STALLED;
		}
		if (!c->rto_at_ns && c->seq_to_guest != before)
			rto_arm(c);
		/* All the socket had: wait for an edge, unless the end of
		 * the stream is known (its edge came with this event). */
		if (got > 0 && (uint32_t)got < asked && !(c->flags & TF_SOCK_EOF)) {
			c->flags |= TF_STALLED;
			break;
		}
	}
	conn_watch(p, f);
	return true;
}

/* SO_ERROR of the socket, or 0. */
static int sock_error(int fd)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		return errno;
	return err;
}

/* Our SYN-ACK (first or again): the handshake toward the guest. */
static void send_synack(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o)
{
	struct nat_tcp_conn *c = &f->tcp;
	struct tcp_seg s = {.seq = c->isn, .ack = c->seq_from_guest, .flags = TH_SYN | TH_ACK};

	space_refresh(f->fd, c);
	/* RFC 7323 §2.2: the window of a SYN is never scaled. */
	s.win = (uint16_t)min_u32(c->space, 65535);
	c->wnd_edge = c->seq_from_guest + s.win;
	c->flags |= TF_EDGE;
	c->our_mss = our_mss(p, &f->key);
	syn_opts(&s, c->our_mss, (c->flags & TF_WS) ? (int)c->our_wscale : -1);
	seg_emit(p, f, &s, o);
	c->state = TS_SYN_RCVD;
	c->seq_to_guest = c->seq_max = c->isn + 1;
	c->seq_acked = c->isn;
	rto_arm(c);
	conn_watch(p, f);
}

/* Our connect() failed: the guest's SYN is refused (RST|ACK). */
/* Our connect() failed with @err. An unreachable net or host (no route,
 * ARP or NDP gave up) or a firewall's refusal: the ICMP error a router
 * would send, quoting the guest's SYN, so its connect() fails with the
 * same errno; a refused port (or anything else): RST. */
static void connect_failed(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o, int err)
{
	struct tcp_seg s = {.ack = f->tcp.seq_from_guest, .flags = TH_RST | TH_ACK};

	if (err == ECONNREFUSED ||
	    !nat_icmp_unreach_seq(p, &f->key, f->tcp.seq_from_guest - 1, err))
		seg_emit(p, f, &s, o);
	conn_close(p, f, false, &p->cnt.tcp_refused);
}

/* Our connect() finished (epoll says): a SYN-ACK, or a reset. */
static void connect_done(struct nat_pair *p, struct nat_flow *f, uint32_t events, struct tcp_out *o)
{
	int err = sock_error(f->fd);

	if (err || (events & EPOLLERR))
		connect_failed(p, f, o, err);
	else
		send_synack(p, f, o);
}

/*
 * The socket has room again: tell the guest its window opened, once it
 * grew by a useful amount (RFC 9293 §3.8.6.2.2: receiver-side silly
 * window avoidance), and stop watching when it is wide again. When we
 * refused data, three duplicates follow the update: the guest resends
 * at once (RFC 5681 §3.2 fast retransmit) instead of after its RTO.
 */
static void window_update(struct nat_pair *p, struct nat_flow *f, struct tcp_out *o)
{
	struct nat_tcp_conn *c = &f->tcp;
	struct tcp_seg s;
	uint16_t win;

	space_refresh(f->fd, c);
	if (c->space >= c->sndbuf / 2)
		c->flags &= (uint16_t)~TF_WUPD;
	/* Only an edge that moved by wnd_step() is worth a segment. */
	win = wnd_field(c);
	if (!win ||
	    ((c->flags & TF_EDGE) && seq_lt(c->seq_from_guest + ((uint32_t)win << c->our_wscale),
					    c->wnd_edge + wnd_step(c))))
		return;
	s = ack_seg(c, 0);
	seg_emit(p, f, &s, o);
	if (c->flags & TF_LOST) {
		c->flags &= (uint16_t)~TF_LOST;
		for (int i = 0; i < 3; i++)
			seg_emit(p, f, &s, o);
	}
}

unsigned nat_tcp_ready(struct nat_pair *p, struct nat_flow *f, uint32_t events,
		       struct netbe_rxbuf *bufs, unsigned n)
{
	struct nat_tcp_conn *c = &f->tcp;
	/* Partial checksums only in the window: the payload is not ours to
	 * sum once it is in the guest's buffers. */
	struct tcp_out o = {
		.bufs = bufs, .n = n, .win = (p->rx_offloads & NETBE_CAP_CSUM) ? p->win : NULL};

	switch (c->state) {
	case TS_CONNECTING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			connect_done(p, f, events, &o);
		return o.used;
	case TS_ESTABLISHED:
		break;
	default:
		if (events & EPOLLERR)
			conn_reset(p, f, &o);
		return o.used;
	}
	if (events & EPOLLERR) {
		int err = sock_error(f->fd);

		if (err && err != EAGAIN) {
			conn_reset(p, f, &o);
			return o.used;
		}
	}
	if (events & EPOLLRDHUP)
		c->flags |= TF_SOCK_EOF;
	if ((events & EPOLLOUT) && (c->flags & TF_WUPD))
		window_update(p, f, &o);
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
		if (!data_from_sock(p, f, &o))
			return o.used;
		if (conn_maybe_done(p, f))
			return o.used;
	}
	conn_watch(p, f);
	return o.used;
}

/* ---- guest -> host ------------------------------------------------------- */

/* Write @len bytes of the guest's payload, from @off into it, to the
 * socket, straight from guest memory. Return the bytes taken, or -errno
 * when the connection failed. */
static ssize_t write_payload(int fd, const struct nat_pkt *pkt, uint32_t off, uint32_t len)
{
	struct iovec iov[TCP_IOV];
	uint32_t done = 0;

	while (done < len) {
		int k = iov_tail(pkt->iov, pkt->iovcnt, (size_t)pkt->pay_off + off + done, iov,
				 TCP_IOV);
		struct msghdr mh = {.msg_iov = iov};
		uint32_t want = 0, left = len - done;
		ssize_t w;

		if (k < 0)
			k = (int)TCP_IOV;
		/* Only the payload: not the Ethernet padding behind it. */
		for (int i = 0; i < k && left; i++) {
			if (iov[i].iov_len > left)
				iov[i].iov_len = left;
			left -= (uint32_t)iov[i].iov_len;
			want += (uint32_t)iov[i].iov_len;
			mh.msg_iovlen = (size_t)i + 1;
		}
		if (!want)
			break; /* the parser promised these bytes; never loop */
		w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? (ssize_t)done : -errno;
		done += (uint32_t)w;
		if ((uint32_t)w < want)
			break;
	}
	return (ssize_t)done;
}

/* After @w bytes went into the socket: the space left, counted down
 * and read again when it runs low. A short write means the socket is
 * full, whatever our estimate said: the window closes (RFC 9293
 * §3.8.6.2.2 lets a receiver close it). A small window is watched
 * (EPOLLOUT) and updated as the socket drains. */
static void space_after_write(struct nat_flow *f, uint32_t w, bool short_write)
{
	struct nat_tcp_conn *c = &f->tcp;

	c->space = c->space > w ? c->space - w : 0;
	if (short_write)
		c->space = 0;
	else if (c->space < c->sndbuf / 2)
		space_refresh(f->fd, c);
	/* Watched too while wnd_offer() holds the edge back: the update
	 * must come before the guest's persist timer. */
	if (c->space < c->sndbuf / 4 || c->space < wnd_step(c) || !wnd_field(c))
		c->flags |= TF_WUPD;
}

/*
 * The guest's payload and FIN (RFC 9293 §3.10.7.4, steps seven and
 * eight, without a reassembly queue: a segment past what we have is not
 * kept, only acknowledged, and the guest sends it again). Return
 * -errno when the socket failed, else 0; *@ack when the guest should
 * hear from us.
 */
static int data_input(struct nat_flow *f, const struct nat_pkt *pkt, bool *ack)
{
	struct nat_tcp_conn *c = &f->tcp;
	bool fin = pkt->tcp_flags & TH_FIN;
	uint32_t len = pkt->pay_len, off = c->seq_from_guest - pkt->seq;
	ssize_t w = 0;

	if (!len && !fin) {
		/* Not acceptable (§3.10.7.4: before RCV.NXT or past the
		 * window): a window probe or keepalive one byte behind,
		 * which an ACK answers. */
		*ack = seq_lt(pkt->seq, c->seq_from_guest) || seq_lt(c->wnd_edge, pkt->seq);
		/* A zero-window probe (RFC 9293 §3.8.6.1) hears the space
		 * as it is now, not as the last write left it. */
		if (*ack)
			space_refresh(f->fd, c);
		return 0;
	}
	*ack = true;
	if (c->flags & TF_GUEST_FIN)
		return 0; /* nothing after its FIN */
	if (seq_lt(c->seq_from_guest, pkt->seq)) {
		c->flags |= TF_LOST; /* a gap: after data we refused */
		return 0;
	}
	if (off > len || (off == len && !fin))
		return 0; /* all of it is old */
	if (off < len) {
		w = write_payload(f->fd, pkt, off, len - off);
		if (w < 0)
			return (int)w;
		c->seq_from_guest += (uint32_t)w;
		space_after_write(f, (uint32_t)w, (uint32_t)w < len - off);
		if ((uint32_t)w < len - off) {
			c->flags |= TF_LOST;
			return 0; /* the FIN, if any, comes again */
		}
	}
	if (fin) {
		shutdown(f->fd, SHUT_WR);
		c->seq_from_guest++;
		c->flags |= TF_GUEST_FIN;
	}
	return 0;
}

/* The guest's acknowledgment and window (RFC 9293 §3.10.7.4 step five).
 * Return: false when the segment is to be dropped (it acknowledges what
 * we never sent: then it got an ACK). */
static bool ack_input(struct nat_pair *p, struct nat_flow *f, const struct nat_pkt *pkt)
{
	struct nat_tcp_conn *c = &f->tcp;
	uint32_t ack = pkt->ack, win = (uint32_t)pkt->win << c->g_wscale;

	if (seq_lt(c->seq_max, ack)) {
		send_ack(p, f);
		return false;
	}
	if (seq_lt(ack, c->seq_acked))
		return true; /* old: its data may still be new */
	if (ack != c->seq_acked) {
		uint32_t bytes = ack - c->seq_acked;

		if ((c->flags & TF_FIN_SENT) && ack == c->seq_max) {
			c->flags |= TF_FIN_ACKED;
			bytes--;
		}
		sock_discard(f->fd, bytes);
		c->seq_acked = ack;
		if (seq_lt(c->seq_to_guest, ack))
			c->seq_to_guest = ack; /* acks what a rewind meant to resend */
		c->retries = c->dup_acks = 0;
		c->rto_at_ns = 0;
		if (c->seq_acked != c->seq_to_guest)
			rto_arm(c);
	} else if (!pkt->pay_len && !(pkt->tcp_flags & TH_FIN) && win == c->g_win &&
		   c->seq_acked != c->seq_to_guest && ++c->dup_acks == 3) {
		rewind_to_acked(p, f); /* RFC 5681 §3.2 fast retransmit */
	}
	if (!c->g_win && win) {
		/* The window opened: probes do not count against the data. */
		c->retries = 0;
		c->rto_at_ns = 0;
		if (c->seq_acked != c->seq_to_guest)
			rto_arm(c);
	}
	c->g_win = win;
	if (!win && !c->rto_at_ns)
		rto_arm(c); /* probe the zero window (RFC 9293 §3.8.6.1) */
	if ((c->flags & TF_WND_FULL) && seq_lt(c->seq_to_guest, c->seq_acked + c->g_win))
		c->flags &= (uint16_t)~TF_WND_FULL;
	return true;
}

/* RFC 5961 §3.2: a reset is taken when its sequence number is in the
 * window we gave; the guest's RST makes the host peer's too. */
static enum nat_drop rst_input(struct nat_pair *p, struct nat_flow *f, const struct nat_pkt *pkt)
{
	struct nat_tcp_conn *c = &f->tcp;
	uint32_t wnd = (uint32_t)wnd_field(c) << c->our_wscale;

	if (c->state != TS_CONNECTING && c->state != TS_SYN_SENT &&
	    (seq_lt(pkt->seq, c->seq_from_guest) || seq_lt(c->seq_from_guest + wnd, pkt->seq)))
		return NAT_DROP_BAD_HDR;
	if (c->state == TS_SYN_SENT) {
		/* RFC 9293 §3.10.7.3: acceptable when it acks our SYN. The
		 * guest refused the forwarded connection. */
		if (!(pkt->tcp_flags & TH_ACK) || pkt->ack != c->isn + 1)
			return NAT_DROP_BAD_HDR;
		conn_close(p, f, true, &p->cnt.tcp_refused);
		return NAT_DROP_NONE;
	}
	conn_close(p, f, true, &p->cnt.tcp_reset);
	return NAT_DROP_NONE;
}

static enum nat_drop in_established(struct nat_pair *p, struct nat_flow *f,
				    const struct nat_pkt *pkt)
{
	bool need_ack = false;
	int rc;

	if (pkt->tcp_flags & TH_RST)
		return rst_input(p, f, pkt);
	if (pkt->tcp_flags & TH_SYN) {
		send_ack(p, f); /* RFC 5961 §4: a challenge ACK */
		return NAT_DROP_NONE;
	}
	if (!(pkt->tcp_flags & TH_ACK))
		return NAT_DROP_BAD_HDR;
	if (!ack_input(p, f, pkt))
		return NAT_DROP_BAD_HDR;
	rc = data_input(f, pkt, &need_ack);
	if (rc < 0) {
		conn_reset(p, f, NULL);
		return NAT_DROP_NONE;
	}
	if (need_ack)
		send_ack(p, f);
	if (conn_maybe_done(p, f))
		return NAT_DROP_NONE;
	conn_watch(p, f);
	return NAT_DROP_NONE;
}

/* The guest's answer to our SYN-ACK: the handshake ends, and the segment
 * may carry data already. */
static enum nat_drop in_syn_rcvd(struct nat_pair *p, struct nat_flow *f, const struct nat_pkt *pkt)
{
	struct nat_tcp_conn *c = &f->tcp;
	uint8_t fl = pkt->tcp_flags;

	if (fl & TH_RST)
		return rst_input(p, f, pkt);
	if ((fl & (TH_SYN | TH_ACK)) == TH_SYN) {
		/* Our SYN-ACK was lost: the guest asks again. */
		if (pkt->seq + 1 != c->seq_from_guest)
			return NAT_DROP_BAD_HDR;
		send_synack(p, f, NULL);
		return NAT_DROP_NONE;
	}
	if (!(fl & TH_ACK) || (fl & TH_SYN) || pkt->ack != c->isn + 1)
		return NAT_DROP_BAD_HDR;
	c->state = TS_ESTABLISHED;
	c->seq_acked = c->isn + 1;
	c->g_win = (uint32_t)pkt->win << c->g_wscale;
	c->retries = 0;
	c->rto_at_ns = 0;
	return in_established(p, f, pkt);
}

/* --hostfwd: the guest's SYN-ACK to our SYN (RFC 9293 §3.10.7.3). */
static enum nat_drop in_syn_sent(struct nat_pair *p, struct nat_flow *f, const struct nat_pkt *pkt)
{
	struct nat_tcp_conn *c = &f->tcp;
	uint8_t fl = pkt->tcp_flags;

	if (fl & TH_RST)
		return rst_input(p, f, pkt);
	if ((fl & (TH_SYN | TH_ACK)) != (TH_SYN | TH_ACK) || pkt->ack != c->isn + 1)
		return NAT_DROP_BAD_HDR;
	if (pkt->wscale != 0xff) {
		c->flags |= TF_WS;
		c->g_wscale = pkt->wscale;
	} else {
		c->our_wscale = 0;
	}
	c->g_mss = guest_mss(pkt);
	c->seq_from_guest = pkt->seq + 1;
	c->seq_acked = c->isn + 1;
	c->g_win = pkt->win; /* a SYN's window is never scaled */
	c->state = TS_ESTABLISHED;
	c->retries = 0;
	c->rto_at_ns = 0;
	send_ack(p, f);
	conn_watch(p, f);
	return NAT_DROP_NONE;
}

static enum nat_drop in_connecting(struct nat_pair *p, struct nat_flow *f,
				   const struct nat_pkt *pkt)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int err;

	if (pkt->tcp_flags & TH_RST)
		return rst_input(p, f, pkt);
	if (!(pkt->tcp_flags & TH_SYN) || pkt->seq + 1 != f->tcp.seq_from_guest)
		return NAT_DROP_BAD_HDR; /* nothing else is valid yet */
	/* The guest asks again (its SYN timer, a second or more): the
	 * SYN-ACK comes when our connect() is done, which epoll should
	 * have told; ask the socket in case that news was missed. */
	if (getpeername(f->fd, (struct sockaddr *)&ss, &sl) == 0) {
		send_synack(p, f, NULL);
		return NAT_DROP_NONE;
	}
	err = errno == ENOTCONN ? sock_error(f->fd) : errno;
	if (err)
		connect_failed(p, f, NULL, err);
	return NAT_DROP_NONE;
}

/* The guest's SYN for no flow: a socket, connect(), a flow that waits
 * for the connection (RFC 9293 §3.10.7.2, answered once the host's
 * handshake is done, so a refused port is a refused port). */
static enum nat_drop tcp_open(struct nat_pair *p, const struct nat_pkt *pkt)
{
	struct sockaddr_storage ss;
	socklen_t sl = nat_remote_sockaddr(&p->nat->net, &pkt->key, &ss);
	struct nat_tcp_conn *c;
	struct nat_flow *f;
	int fd, rc;

	if (!sl) {
		rst_reply(p, pkt);
		nat_count(&p->cnt.tcp_refused);
		return NAT_DROP_NONE;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rst_reply(p, pkt);
		return NAT_DROP_SOCKET;
	}
	sock_setup(fd);
	rc = connect(fd, (struct sockaddr *)&ss, sl);
	if (rc < 0 && errno != EINPROGRESS) {
		/* No route or a firewall: the router's ICMP error (the
		 * guest's connect() fails with the same errno); else RST. */
		if (errno == ECONNREFUSED || !nat_icmp_unreach_seq(p, &pkt->key, pkt->seq, errno))
			rst_reply(p, pkt);
		close(fd);
		nat_count(&p->cnt.tcp_refused);
		return NAT_DROP_NONE;
	}
	f = nat_flow_add(p, &pkt->key, NAT_FLOW_TCP, fd, EPOLLOUT | EPOLLET);
	if (!f) {
		close(fd);
		rst_reply(p, pkt);
		return NAT_DROP_FLOWS;
	}
	c = &f->tcp;
	c->state = TS_CONNECTING;
	c->flags = TF_ACTIVE;
	c->seq_from_guest = pkt->seq + 1;
	c->g_mss = guest_mss(pkt);
	c->g_win = pkt->win;
	if (pkt->wscale != 0xff) {
		c->flags |= TF_WS;
		c->g_wscale = pkt->wscale;
		c->our_wscale = TCP_OUR_WS;
	}
	c->isn = new_isn(&pkt->key);
	c->seq_to_guest = c->seq_max = c->seq_acked = c->isn;
	c->idle_at_ns = clock_mono_ns() + NAT_TCP_IDLE_NS;
	nat_timer_want(p, f, true);
	nat_count(&p->cnt.tcp_opened);
	return NAT_DROP_NONE;
}

enum nat_drop nat_tcp_input(struct nat_pair *p, const struct nat_pkt *pkt)
{
	struct nat_flow *f = nat_flow_find(p, &pkt->key);
	uint8_t fl = pkt->tcp_flags;

	if (!f) {
		if ((fl & (TH_SYN | TH_ACK | TH_RST | TH_FIN)) == TH_SYN)
			return tcp_open(p, pkt);
		rst_reply(p, pkt);
		return NAT_DROP_NO_FLOW;
	}
	f->tcp.flags |= TF_ACTIVE;
	switch (f->tcp.state) {
	case TS_CONNECTING:
		return in_connecting(p, f, pkt);
	case TS_SYN_RCVD:
		return in_syn_rcvd(p, f, pkt);
	case TS_SYN_SENT:
		return in_syn_sent(p, f, pkt);
	default:
		return in_established(p, f, pkt);
	}
}

/* ---- --hostfwd ------------------------------------------------------- */

/* Our SYN to the guest (first or again). */
static void send_syn(struct nat_pair *p, struct nat_flow *f)
{
	struct nat_tcp_conn *c = &f->tcp;
	struct tcp_seg s = {.seq = c->isn, .flags = TH_SYN};

	s.win = (uint16_t)min_u32(c->space, 65535);
	c->our_mss = our_mss(p, &f->key);
	syn_opts(&s, c->our_mss, TCP_OUR_WS);
	seg_queue(p, &f->key, &s);
}

enum nat_drop nat_tcp_open_to_guest(struct nat_pair *p, int fd, const struct nat_key *k)
{
	struct nat_tcp_conn *c;
	struct nat_flow *f;

	sock_setup(fd);
	f = nat_flow_add(p, k, NAT_FLOW_TCP, fd, EPOLLET);
	if (!f) {
		close(fd);
		return NAT_DROP_FLOWS;
	}
	c = &f->tcp;
	c->state = TS_SYN_SENT;
	c->flags = TF_ACTIVE | TF_FWD;
	c->our_wscale = TCP_OUR_WS; /* 0 again if the guest's SYN-ACK has none */
	c->g_mss = k->v6 ? TCP_MSS6_DEFAULT : TCP_MSS4_DEFAULT;
	c->isn = new_isn(k);
	c->seq_acked = c->isn;
	c->seq_to_guest = c->seq_max = c->isn + 1;
	c->idle_at_ns = clock_mono_ns() + NAT_TCP_IDLE_NS;
	space_refresh(fd, c);
	send_syn(p, f);
	rto_arm(c);
	nat_timer_want(p, f, true);
	nat_count(&p->cnt.tcp_opened);
	return NAT_DROP_NONE;
}

/* ---- timers ------------------------------------------------------------ */

/* The guest's window is zero and nothing is in flight: a probe it must
 * answer with its window (RFC 9293 §3.8.6.1): an ACK one byte behind. */
static void window_probe(struct nat_pair *p, struct nat_flow *f)
{
	struct tcp_seg s = ack_seg(&f->tcp, 0);

	s.seq = f->tcp.seq_acked - 1;
	seg_queue(p, &f->key, &s);
}

static void on_rto(struct nat_pair *p, struct nat_flow *f)
{
	struct nat_tcp_conn *c = &f->tcp;
	bool probe = c->state == TS_ESTABLISHED && c->seq_acked == c->seq_to_guest &&
		     c->seq_to_guest == c->seq_max;

	if (!probe && c->retries >= TCP_MAX_RETRIES) {
		conn_reset(p, f, NULL);
		return;
	}
	if (c->retries < 255)
		c->retries++;
	c->rto_at_ns = 0;
	switch (c->state) {
	case TS_SYN_RCVD:
		send_synack(p, f, NULL);
		return;
	case TS_SYN_SENT:
		send_syn(p, f);
		break;
	case TS_ESTABLISHED:
		if (probe) {
			if (!c->g_win)
				window_probe(p, f);
			else
				return; /* nothing outstanding: no timer */
		} else {
			rewind_to_acked(p, f);
		}
		break;
	default:
		return;
	}
	rto_arm(c);
}

void nat_tcp_tick(struct nat_pair *p, struct nat_flow *f, uint64_t now_ns)
{
	struct nat_tcp_conn *c = &f->tcp;

	if (c->flags & TF_ACTIVE) {
		c->flags &= (uint16_t)~TF_ACTIVE;
		c->idle_at_ns = now_ns + NAT_TCP_IDLE_NS;
	} else if (now_ns >= c->idle_at_ns) {
		conn_reset(p, f, NULL);
		return;
	}
	if (c->rto_at_ns && now_ns >= c->rto_at_ns)
		on_rto(p, f);
	/* EPOLLOUT may be edge-triggered: an edge that came while the space
	 * was still short of wnd_offer()'s step is not seen again; the tick
	 * offers what drained since, before the guest's persist timer (200
	 * ms at least) would ask. */
	if (c->state == TS_ESTABLISHED && (c->flags & TF_WUPD))
		window_update(p, f, NULL);
}

void nat_tcp_drop(struct nat_pair *p, struct nat_flow *f)
{
	(void)p;
	/* The backend goes away: the host peer must not take the end of
	 * the connection for a complete stream. */
	if (f->fd >= 0)
		sock_linger0(f->fd);
}
