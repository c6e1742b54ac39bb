/* SPDX-License-Identifier: MIT */
/*
 * The `user` backend's TCP (lib/netbe/nat/tcp.c) through its ops table,
 * the test playing the guest with a small TCP of its own: hand-built
 * segments go in through tx(), the backend's come out of rx() and are
 * taken apart here (Ethernet, IP, TCP, every checksum recomputed with the
 * fixture's helpers, offload metadata checked). The host side is a real
 * socket on the loopback: the gateway 10.0.2.2 (fec0::2) is 127.0.0.1
 * (::1) for the guest. Nothing leaves the machine; no root needed.
 *
 *  - handshake, 100 KB echoed byte-exact, close from the guest, IPv4 and
 *    IPv6; frames no larger than the guest's MSS without TSO
 *  - a repeated SYN: the SYN-ACK (again) once our connect() is done
 *  - a refused port: RST; the guest's RST: the host peer sees ECONNRESET;
 *    the host peer's close: data then FIN to the guest, flow gone
 *  - a guest that does not acknowledge: never a byte past its window,
 *    retransmission after an RTO; a zero window: probes, no data
 *  - a host peer that stops reading: our window closes, nothing is held
 *    without bound; data sent into it is refused, and when the peer reads
 *    the window update comes with three duplicate ACKs (fast retransmit)
 *  - a 60 KB GSO segment from the guest: one write, one ACK
 *  - TSO allowed: GSO frames of the guest's MSS with partial checksums
 *  - a full flow table: RST and the drop counted
 *  - junk: acks of unsent data, gaps, stray RSTs and SYNs, segments for
 *    no flow; keepalives answered
 *  - --hostfwd: a host connection becomes our SYN to the guest; data both
 *    ways; the guest's RST resets the host peer, and refuses a second
 *  - eight downloads through two receive buffers per rx(): no flow is
 *    forgotten (every epoll edge must reach tcp.c)
 *  - echo, close, window, TSO and the eight downloads again as on a
 *    kernel without SO_PEEK_OFF for TCP (Linux < 6.10, Debian 12)
 *
 * TEST_FILTER=pattern runs some tests only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "vqnet/netbe.h"

#include "netbe/nat/nat.h" /* counters and the flow table */
#include "spec/virtio_net.h"

#include "netbe_fixture.h"

#define WAIT_MS	  10000
#define NBUF	  64
#define SMALL_CAP 2048u
#define BIG_CAP	  (65536u + 256u)

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static const uint8_t gw_mac[6] = {0x52, 0x55, 10, 0, 2, 2};
static const uint8_t guest_ip[4] = {10, 0, 2, 15};
static const uint8_t gw_ip[4] = {10, 0, 2, 2};
static const uint8_t guest6[16] = {0xfe, 0xc0, [15] = 0x15};
static const uint8_t gw6[16] = {0xfe, 0xc0, [15] = 2};

static bool seq_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) * 13 + 1);
}

/* ---- the backend ------------------------------------------------------ */

/* The direct tests (rx_direct): the guest's buffers lent as a window of
 * WIN_CHAINS chains of WIN_CHAIN bytes, some of them in two buffers, some
 * with a first buffer too short for a frame's headers (a frame cannot
 * start there: what follows goes to the receive buffers). */
#define WIN_CHAINS 40u
#define WIN_CHAIN  4096u
#define WIN_ROOM   12u /* the device's header room */
#define WIN_CANARY 0xa5

struct tg {
	struct netbe *be;
	struct nat *nat;
	uint32_t cap;
	uint8_t *mem;
	struct netbe_rxbuf b[NBUF];
	uint32_t offloads;
	unsigned nbuf; /* receive buffers per rx() (0: NBUF) */
	bool direct;   /* rx_direct() with a window, not rx() */
	uint8_t *wmem; /* [WIN_CHAINS * WIN_CHAIN] */
	struct iovec wiov[WIN_CHAINS][2];
	struct netbe_rxchain wch[WIN_CHAINS];
	struct netbe_rxwin_frame wfr[WIN_CHAINS];
	uint8_t lin[BIG_CAP]; /* a window frame, gathered */
	unsigned win_frames;  /* frames that came through the window */
};

static bool direct_mode; /* set around the DIRECT() runs */

static struct tg *tg_new_opts(uint32_t offloads, uint32_t cap, unsigned max_flows,
			      const char *const *fwd, unsigned nfwd)
{
	struct tg *g = calloc(1, sizeof(*g));
	struct netbe_options o = opts(1);

	assert_non_null(g);
	o.max_flows = max_flows;
	o.hostfwd = fwd;
	o.n_hostfwd = nfwd;
	o.resolv_conf = "/dev/null";
	g->be = open_be("user", &o);
	g->nat = g->be->priv;
	/* the window takes partial checksums only */
	if (direct_mode)
		offloads |= NETBE_CAP_CSUM;
	assert_int_equal(g->be->ops->set_queue_pairs(g->be, 1), 0);
	assert_int_equal(g->be->ops->set_rx_offloads(g->be, offloads), 0);
	g->offloads = offloads;
	g->cap = cap;
	g->mem = malloc((size_t)NBUF * cap);
	assert_non_null(g->mem);
	g->direct = direct_mode;
	g->wmem = malloc((size_t)WIN_CHAINS * WIN_CHAIN);
	assert_non_null(g->wmem);
	return g;
}

static struct tg *tg_new(uint32_t offloads, uint32_t cap)
{
	return tg_new_opts(offloads, cap, 0, NULL, 0);
}

static void tg_free(struct tg *g)
{
	/* every DIRECT() test moves data to the guest: some of it came
	 * through the window */
	if (g->direct)
		assert_true(g->win_frames > 0);
	netbe_free(g->be);
	free(g->mem);
	free(g->wmem);
	free(g);
}

static struct nat_counters *cnt(struct tg *g)
{
	return &g->nat->pairs[0].cnt;
}

/* ---- the guest's connection ------------------------------------------- */

struct conn {
	struct tg *g;
	bool v6;
	uint16_t gport, rport;
	/* what the guest announces */
	uint16_t my_mss, my_win;
	uint8_t my_ws; /* 0xff: no option */
	/* the guest's sending side */
	uint32_t iss, snd_nxt, snd_una;
	/* the backend's side */
	uint32_t irs, rcv_nxt, peer_win, max_end, last_ack;
	uint16_t peer_mss;
	int peer_ws; /* -1: no option */
	bool synced, fin_rcvd, rst_rcvd, auto_ack, got_syn;
	uint8_t rst_flags;
	uint32_t rst_seq, rst_ack;
	unsigned frames, data_frames, gso_frames, acks, zero_wins, probes, dups, syns;
	/* silly: ACKs that moved the right edge of the window on but left
	 * a window not 0 and smaller than the backend's MSS (RFC 9293
	 * §3.8.6.2.2: a Linux sender waits for its persist timer on one);
	 * right_edge: the furthest edge offered so far. */
	unsigned silly;
	uint32_t right_edge;
	uint16_t last_win;
	uint8_t *data;
	size_t len, cap;
};

static void conn_init(struct conn *c, struct tg *g, bool v6, uint16_t gport, uint16_t rport)
{
	memset(c, 0, sizeof(*c));
	c->g = g;
	c->v6 = v6;
	c->gport = gport;
	c->rport = rport;
	c->my_mss = v6 ? 1440 : 1460;
	c->my_win = 65535;
	c->my_ws = 7;
	c->iss = 0x10000000u + gport;
	c->snd_nxt = c->snd_una = c->iss;
	c->peer_ws = -1;
	c->auto_ack = true;
	c->cap = 1 << 20;
	c->data = malloc(c->cap);
	assert_non_null(c->data);
}

static void conn_fini(struct conn *c)
{
	free(c->data);
}

/* The pseudo-header sum of the segment at f + l4 (RFC 9293 §3.1, RFC
 * 8200 §8.1), independent of the backend's. */
static uint32_t pseudo(const uint8_t *f, bool v6, uint32_t l4_len)
{
	if (v6)
		return csum_add(0, f + 14 + 8, 32) + (l4_len >> 16) + (l4_len & 0xffff) + 6;
	return pseudo_sum(f, (uint16_t)l4_len);
}

/* A guest segment with every checksum filled in. Return its length. */
static size_t build_seg(uint8_t *f, const struct conn *c, uint32_t seq, uint32_t ack, uint8_t flags,
			uint16_t win, const uint8_t *opt, size_t optlen, const uint8_t *pay,
			size_t plen)
{
	size_t l4_len = 20 + optlen + plen, l4;
	uint8_t *t;

	if (c->v6) {
		memcpy(f, gw_mac, 6);
		memcpy(f + 6, guest_mac, 6);
		put16(f + 12, 0x86dd);
		memset(f + 14, 0, 40);
		f[14] = 0x60;
		put16(f + 18, (uint16_t)l4_len);
		f[20] = 6;
		f[21] = 64;
		memcpy(f + 22, guest6, 16);
		memcpy(f + 38, gw6, 16);
		l4 = 54;
	} else {
		l4 = build_ipv4(f, gw_mac, guest_mac, guest_ip, gw_ip, 6, (uint16_t)l4_len);
	}
	t = f + l4;
	put16(t, c->gport);
	put16(t + 2, c->rport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((20 + optlen) / 4 << 4);
	t[13] = flags;
	put16(t + 14, win);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (optlen)
		memcpy(t + 20, opt, optlen);
	if (plen)
		memcpy(t + 20 + optlen, pay, plen);
	put16(t + 16, csum_finish(csum_add(pseudo(f, c->v6, (uint32_t)l4_len), t, l4_len)));
	return l4 + l4_len;
}

static void tx_frame(struct conn *c, const uint8_t *f, size_t len, const struct netbe_meta *m)
{
	assert_int_equal(tx_one(c->g->be, 0, f, (uint32_t)len, m), 1);
}

/* A segment at @seq with the guest's current ack and window. */
static void send_at(struct conn *c, uint32_t seq, uint8_t flags, const uint8_t *pay, size_t plen)
{
	uint8_t *f = malloc(plen + 128);

	assert_non_null(f);
	tx_frame(c, f, build_seg(f, c, seq, c->rcv_nxt, flags, c->my_win, NULL, 0, pay, plen),
		 NULL);
	free(f);
}

/* The next segment of the guest's stream. */
static void send_seg(struct conn *c, uint8_t flags, const uint8_t *pay, size_t plen)
{
	send_at(c, c->snd_nxt, flags, pay, plen);
	c->snd_nxt += (uint32_t)plen + !!(flags & F_SYN) + !!(flags & F_FIN);
}

static void send_syn(struct conn *c)
{
	uint8_t opt[8] = {2, 4, (uint8_t)(c->my_mss >> 8), (uint8_t)c->my_mss, 1, 3, 3, c->my_ws};
	uint8_t f[128];

	tx_frame(c, f,
		 build_seg(f, c, c->iss, 0, F_SYN, c->my_win, opt, c->my_ws == 0xff ? 4 : 8, NULL,
			   0),
		 NULL);
	c->snd_nxt = c->iss + 1;
}

/* ---- the backend's segments, taken apart ------------------------------- */

struct rseg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win, sport, dport, mss;
	int ws;
	const uint8_t *pay;
	uint32_t plen;
	struct netbe_meta meta;
};

static void parse_opts(struct rseg *s, const uint8_t *o, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		assert_true(i + 1 < len && o[i + 1] >= 2 && i + o[i + 1] <= len);
		if (o[i] == 2 && o[i + 1] == 4)
			s->mss = get16(o + i + 2);
		if (o[i] == 3 && o[i + 1] == 3)
			s->ws = o[i + 2];
		i += o[i + 1];
	}
}

/* Check one frame from the backend to the guest, to the last field we
 * can: addresses, lengths, IP and TCP checksums (complete, or the
 * pseudo-header sum with NEEDS_CSUM), GSO metadata. */
static bool parse_frame(const struct conn *c, const struct netbe_rxbuf *b, struct rseg *s)
{
	const uint8_t *f = b->data;
	uint32_t l4, l4_len, doff, ps;
	const uint8_t *t;

	memset(s, 0, sizeof(*s));
	s->ws = -1;
	s->meta = b->meta;
	assert_true(b->len >= 54);
	assert_memory_equal(f, guest_mac, 6);
	assert_memory_equal(f + 6, gw_mac, 6);
	if (get16(f + 12) != (c->v6 ? 0x86dd : 0x0800))
		return false; /* ARP, router advertisements */
	if (c->v6) {
		if (f[20] != 6)
			return false;
		l4 = 54;
		l4_len = get16(f + 18);
		assert_int_equal(f[14] >> 4, 6);
		assert_memory_equal(f + 22, gw6, 16);
		assert_memory_equal(f + 38, guest6, 16);
	} else {
		if (f[23] != 6)
			return false;
		assert_int_equal(f[14], 0x45);
		assert_int_equal(csum_finish(csum_add(0, f + 14, 20)), 0);
		l4 = 34;
		l4_len = get16(f + 16) - 20u;
		assert_memory_equal(f + 26, gw_ip, 4);
		assert_memory_equal(f + 30, guest_ip, 4);
	}
	assert_int_equal(b->len, l4 + l4_len);
	t = f + l4;
	doff = (uint32_t)(t[12] >> 4) * 4;
	assert_true(doff >= 20 && doff <= l4_len);
	s->sport = get16(t);
	s->dport = get16(t + 2);
	s->seq = get32(t + 4);
	s->ack = get32(t + 8);
	s->flags = t[13];
	s->win = get16(t + 14);
	s->pay = t + doff;
	s->plen = l4_len - doff;
	parse_opts(s, t + 20, doff - 20);
	ps = pseudo(f, c->v6, l4_len);
	if (b->meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		assert_true(c->g->offloads & NETBE_CAP_CSUM);
		assert_int_equal(b->meta.csum_start, l4);
		assert_int_equal(b->meta.csum_offset, 16);
		assert_int_equal(get16(t + 16), csum_fold(ps));
	} else {
		assert_int_equal(csum_finish(csum_add(ps, t, l4_len)), 0);
	}
	if (b->meta.gso_type) {
		assert_int_equal(b->meta.gso_type,
				 c->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
		assert_true(b->meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_true(c->g->offloads & (c->v6 ? NETBE_CAP_TSO6 : NETBE_CAP_TSO4));
		assert_int_equal(b->meta.hdr_len, l4 + doff);
		assert_int_equal(b->meta.gso_size, c->my_mss);
		assert_true(s->plen > c->my_mss);
	} else {
		assert_true(s->plen <= c->my_mss);
	}
	return true;
}

/* The guest's TCP receiving one segment of @c. Return: an ACK is due. */
static bool take_seg(struct conn *c, const struct rseg *s)
{
	uint32_t end = s->seq + s->plen;
	bool due = false;

	c->frames++;
	if (s->flags & F_RST) {
		c->rst_rcvd = true;
		c->rst_flags = s->flags;
		c->rst_seq = s->seq;
		c->rst_ack = s->ack;
		return false;
	}
	if (s->flags & F_SYN) {
		c->syns++;
		c->got_syn = true;
		c->irs = s->seq;
		c->rcv_nxt = c->max_end = s->seq + 1;
		c->peer_mss = s->mss;
		c->peer_ws = s->ws;
		c->peer_win = s->win;
		if (s->flags & F_ACK) {
			assert_int_equal(s->ack, c->iss + 1);
			c->snd_una = s->ack;
			c->synced = true;
		}
		return false;
	}
	assert_true(s->flags & F_ACK);
	c->acks++;
	if (!s->plen && !(s->flags & F_FIN) && s->ack == c->last_ack && s->win == c->last_win)
		c->dups++;
	c->last_ack = s->ack;
	c->last_win = s->win;
	if (seq_before(c->snd_una, s->ack))
		c->snd_una = s->ack;
	c->peer_win = (uint32_t)s->win << (c->peer_ws >= 0 && c->my_ws != 0xff ? c->peer_ws : 0);
	if (!s->win)
		c->zero_wins++;
	if (seq_before(c->right_edge, s->ack + c->peer_win)) {
		if (c->right_edge && c->peer_win && c->peer_win < c->peer_mss)
			c->silly++;
		c->right_edge = s->ack + c->peer_win;
	}
	if (!s->plen && !(s->flags & F_FIN) && s->seq == c->rcv_nxt - 1)
		c->probes++; /* a zero-window probe (RFC 9293 §3.8.6.1) */
	if (s->plen) {
		c->data_frames++;
		if (s->meta.gso_type)
			c->gso_frames++;
		if (seq_before(c->max_end, end))
			c->max_end = end;
		if (seq_before(s->seq, c->rcv_nxt + 1) && seq_before(c->rcv_nxt, end)) {
			uint32_t skip = c->rcv_nxt - s->seq, n = s->plen - skip;

			assert_true(c->len + n <= c->cap);
			memcpy(c->data + c->len, s->pay + skip, n);
			c->len += n;
			c->rcv_nxt += n;
		}
		due = true;
	}
	if ((s->flags & F_FIN) && end == c->rcv_nxt) {
		c->fin_rcvd = true;
		c->rcv_nxt++;
		due = true;
	}
	return due;
}

/* Lend the window: chain i in two buffers when i % 5 == 3, with a first
 * buffer of 30 bytes (no room for headers) when i % 11 == 10. */
static void win_lend(struct tg *g, struct netbe_rxwin *w)
{
	memset(g->wmem, WIN_CANARY, (size_t)WIN_CHAINS * WIN_CHAIN);
	for (unsigned i = 0; i < WIN_CHAINS; i++) {
		uint8_t *base = g->wmem + (size_t)i * WIN_CHAIN;
		size_t cut = i % 11 == 10 ? 30 : i % 5 == 3 ? 100 : 0;
		unsigned n = cut ? 2 : 1;

		g->wiov[i][0] = (struct iovec){base, cut ? cut : WIN_CHAIN};
		g->wiov[i][1] = (struct iovec){base + cut, WIN_CHAIN - cut};
		g->wch[i] =
			(struct netbe_rxchain){.iov = g->wiov[i], .iovcnt = n, .len = WIN_CHAIN};
	}
	*w = (struct netbe_rxwin){.chains = g->wch,
				  .nchains = WIN_CHAINS,
				  .hdr_room = WIN_ROOM,
				  .frames = g->wfr,
				  .max_frames = WIN_CHAINS};
}

/* Window frame @i, which starts at chain *@c, gathered into g->lin as
 * the device's contract wants it: header room untouched, the frame
 * reaching into its last chain, within the window. */
static struct netbe_rxbuf win_frame(struct tg *g, const struct netbe_rxwin *w, unsigned i,
				    unsigned *c)
{
	const struct netbe_rxwin_frame *f = &w->frames[i];
	const uint8_t *start = g->wmem + (size_t)*c * WIN_CHAIN;
	uint32_t total = WIN_ROOM + f->len;

	assert_true(f->nchains >= 1);
	assert_true(*c + f->nchains <= w->nchains);
	assert_true(total > (f->nchains - 1) * WIN_CHAIN && total <= f->nchains * WIN_CHAIN);
	for (unsigned k = 0; k < WIN_ROOM; k++)
		assert_int_equal(start[k], WIN_CANARY);
	assert_true(f->len <= sizeof(g->lin));
	/* the chains of one window are adjacent in wmem */
	memcpy(g->lin, start + WIN_ROOM, f->len);
	*c += f->nchains;
	return (struct netbe_rxbuf){.data = g->lin, .len = f->len, .meta = f->meta};
}

/* One frame for the connections @cs (told apart by the guest's port). */
static void take_frame(struct conn **cs, unsigned k, const struct netbe_rxbuf *b, bool *due)
{
	struct rseg s;

	for (unsigned j = 0; j < k; j++) {
		struct conn *c = cs[j];

		if (!parse_frame(c, b, &s))
			break;
		if (s.dport != c->gport || (c->rport && s.sport != c->rport))
			continue;
		if (!c->rport)
			c->rport = s.sport; /* --hostfwd: the peer's port */
		due[j] |= take_seg(c, &s);
		break;
	}
}

/* Take every frame one rx() gives (up to g->nbuf) for the connections
 * @cs, the window's first with rx_direct(); each acks if auto_ack. */
static unsigned pump_many(struct conn **cs, unsigned k)
{
	struct tg *g = cs[0]->g;
	bool due[16] = {false};
	unsigned nb = g->nbuf ? g->nbuf : NBUF, c = 0;
	struct netbe_rxwin w = {0};
	int n;

	assert_true(k <= 16);
	for (unsigned i = 0; i < nb; i++)
		g->b[i] = (struct netbe_rxbuf){.data = g->mem + (size_t)i * g->cap, .cap = g->cap};
	if (g->direct) {
		win_lend(g, &w);
		n = g->be->ops->rx_direct(g->be, 0, &w, g->b, nb);
	} else {
		n = g->be->ops->rx(g->be, 0, g->b, nb);
	}
	assert_true(n >= 0);
	for (unsigned i = 0; i < w.nframes; i++) {
		struct netbe_rxbuf b = win_frame(g, &w, i, &c);

		take_frame(cs, k, &b, due);
	}
	assert_int_equal(c, w.chains_used);
	g->win_frames += w.nframes;
	for (int i = 0; i < n; i++)
		take_frame(cs, k, &g->b[i], due);
	for (unsigned j = 0; j < k; j++)
		if (due[j] && cs[j]->auto_ack && cs[j]->synced)
			send_seg(cs[j], F_ACK, NULL, 0);
	return (unsigned)n + w.nframes;
}

static unsigned pump(struct conn *c)
{
	return pump_many(&c, 1);
}

static void wait_rx(struct conn *c, int ms)
{
	struct pollfd p = {.fd = c->g->be->ops->rx_fd(c->g->be, 0), .events = POLLIN};

	poll(&p, 1, ms);
}

typedef bool (*conn_pred)(const struct conn *c, const void *arg);

/* Pump until @pred holds; false after @ms. */
static bool pump_until(struct conn *c, conn_pred pred, const void *arg, int ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pump(c);
		if (pred(c, arg))
			return true;
		if (ms_since(&t0) >= ms)
			return false;
		wait_rx(c, 10);
	}
}

/* Pump for @ms whatever comes. */
static void pump_for(struct conn *c, int ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < ms) {
		pump(c);
		wait_rx(c, 10);
	}
}

static bool is_synced(const struct conn *c, const void *arg)
{
	(void)arg;
	return c->synced;
}

static bool is_rst(const struct conn *c, const void *arg)
{
	(void)arg;
	return c->rst_rcvd;
}

static bool is_fin(const struct conn *c, const void *arg)
{
	(void)arg;
	return c->fin_rcvd;
}

static bool has_len(const struct conn *c, const void *arg)
{
	return c->len >= *(const size_t *)arg;
}

static bool all_acked(const struct conn *c, const void *arg)
{
	(void)arg;
	return c->snd_una == c->snd_nxt;
}

static bool got_syn(const struct conn *c, const void *arg)
{
	(void)arg;
	return c->got_syn;
}

/* ---- the host side ------------------------------------------------------ */

/* A listening socket on the loopback, port in *@port; -1 when the
 * family is missing. @rcvbuf > 0 sets the accepted sockets' buffer. */
static int host_listener(bool v6, uint16_t *port, int rcvbuf)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (v6) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	} else {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* A loopback port nobody listens on (bound, then closed). */
static uint16_t closed_port(void)
{
	uint16_t port = 0;
	int fd = host_listener(false, &port, 0);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

static int host_accept(int lfd)
{
	int fd;

	assert_true(fd_readable(lfd, WAIT_MS));
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		assert_true(w > 0);
		p += w;
		len -= (size_t)w;
	}
}

/* The echo server: everything back, then close at the end of stream. */
static void *echo_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread uint8_t buf[65536];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		size_t off = 0;

		if (r <= 0)
			break;
		while (off < (size_t)r) {
			ssize_t w = write(fd, buf + off, (size_t)r - off);

			if (w <= 0)
				goto out;
			off += (size_t)w;
		}
	}
out:
	close(fd);
	return NULL;
}

/* The guest's SYN, the backend's SYN-ACK, the guest's ACK. */
static void handshake(struct conn *c)
{
	send_syn(c);
	assert_true(pump_until(c, is_synced, NULL, WAIT_MS));
	send_seg(c, F_ACK, NULL, 0);
}

/*
 * Send @len more bytes of the guest's stream (byte X of the stream is
 * pattern(X)) as segments of up to @seg bytes (GSO frames above the MSS
 * when @gso), within the backend's window, going back to the last
 * acknowledged byte when it stops acknowledging. Return: true when all
 * acknowledged within WAIT_MS; false early when @stop_at_zero and the
 * backend closed its window.
 */
static bool send_stream(struct conn *c, size_t len, size_t seg, bool gso, bool stop_at_zero)
{
	uint32_t base = c->snd_una, last_una = c->snd_una;
	uint8_t *buf = malloc(seg), *f = malloc(seg + 128);
	struct timespec t0, progress;

	assert_non_null(buf);
	assert_non_null(f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	progress = t0;
	while (c->snd_una - base < len && ms_since(&t0) < WAIT_MS) {
		uint32_t off = c->snd_nxt - base, inflight = c->snd_nxt - c->snd_una;
		uint32_t n = (uint32_t)(len - off < seg ? len - off : seg);

		if (stop_at_zero && c->zero_wins)
			break;
		if (inflight < c->peer_win && n)
			n = n < c->peer_win - inflight ? n : c->peer_win - inflight;
		else
			n = 0;
		if (n) {
			struct netbe_meta m = {0};
			uint32_t abs = c->snd_nxt - c->iss - 1;
			size_t fl;

			for (uint32_t i = 0; i < n; i++)
				buf[i] = pattern(abs + i);
			fl = build_seg(f, c, c->snd_nxt, c->rcv_nxt, F_ACK, c->my_win, NULL, 0, buf,
				       n);
			if (gso && n > c->peer_mss) {
				m.gso_type =
					c->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
				m.gso_size = c->peer_mss;
				m.hdr_len = c->v6 ? 74 : 54;
			}
			tx_frame(c, f, fl, gso ? &m : NULL);
			c->snd_nxt += n;
		}
		pump(c);
		if (c->snd_una != last_una) {
			last_una = c->snd_una;
			clock_gettime(CLOCK_MONOTONIC, &progress);
		} else if (!n) {
			if (ms_since(&progress) > 300) {
				c->snd_nxt = c->snd_una; /* our retransmission */
				clock_gettime(CLOCK_MONOTONIC, &progress);
			}
			wait_rx(c, 5);
		}
	}
	free(buf);
	free(f);
	return c->snd_una - base >= len;
}

static bool pattern_ok(const uint8_t *p, size_t len, size_t from)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(from + i))
			return false;
	return true;
}

/* ---- tests ------------------------------------------------------------- */

static void echo_test(bool v6, size_t len)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(v6, &port, 0);
	pthread_t th;

	if (lfd < 0) {
		tg_free(g);
		skip();
	}
	conn_init(&c, g, v6, 40001, port);
	handshake(&c);
	assert_int_equal(c.peer_mss, 1500 - (v6 ? 60 : 40));
	assert_true(c.peer_ws >= 0 && c.peer_ws <= 14);
	assert_true(c.peer_win > 0);
	assert_int_equal(cnt(g)->tcp_opened, 1);
	assert_int_equal(pthread_create(&th, NULL, echo_main, (void *)(intptr_t)host_accept(lfd)),
			 0);
	assert_true(send_stream(&c, len, 1400, false, false));
	assert_true(pump_until(&c, has_len, &len, WAIT_MS));
	assert_int_equal(c.len, len);
	assert_true(pattern_ok(c.data, len, 0));
	assert_int_equal(c.gso_frames, 0);
	/* The guest closes: the echo server sees the end, closes too. */
	send_seg(&c, F_FIN | F_ACK, NULL, 0);
	assert_true(pump_until(&c, is_fin, NULL, WAIT_MS));
	assert_true(pump_until(&c, all_acked, NULL, WAIT_MS));
	pthread_join(th, NULL);
	/* Our ACK of its FIN was the last word: the flow is gone, cleanly. */
	pump(&c);
	assert_int_equal(g->nat->pairs[0].nflows, 0);
	assert_int_equal(cnt(g)->tcp_closed, 1);
	assert_int_equal(cnt(g)->tcp_reset, 0);
	close(lfd);
	conn_fini(&c);
	tg_free(g);
}

static void test_echo_v4(void **state)
{
	(void)state;
	echo_test(false, 100 * 1000);
}

static void test_echo_v6(void **state)
{
	(void)state;
	echo_test(true, 64 * 1024);
}

static void test_refused(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;

	(void)state;
	conn_init(&c, g, false, 40002, closed_port());
	send_syn(&c);
	assert_true(pump_until(&c, is_rst, NULL, WAIT_MS));
	/* RFC 9293 §3.10.7.1: our SYN had no ACK: RST|ACK of SYN + 1 */
	assert_int_equal(c.rst_flags, F_RST | F_ACK);
	assert_int_equal(c.rst_ack, c.iss + 1);
	assert_int_equal(cnt(g)->tcp_refused, 1);
	assert_int_equal(g->nat->pairs[0].nflows, 0);
	conn_fini(&c);
	tg_free(g);
}

/* The guest repeats its SYN: before we looked at the finished connect()
 * (the SYN-ACK comes from the repeat), and after a SYN-ACK it lost (a
 * second one). */
static void test_dup_syn(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(false, &port, 0), hfd;
	size_t one = 1;

	(void)state;
	assert_true(lfd >= 0);
	conn_init(&c, g, false, 40011, port);
	send_syn(&c);
	assert_true(fd_readable(lfd, WAIT_MS)); /* the host's handshake is done */
	send_syn(&c);
	assert_int_equal(c.syns, 0);
	assert_true(pump_until(&c, is_synced, NULL, WAIT_MS));
	pump(&c);
	assert_int_equal(c.syns, 1);
	send_syn(&c);
	pump(&c);
	assert_int_equal(c.syns, 2);
	send_seg(&c, F_ACK, NULL, 0);
	hfd = host_accept(lfd);
	write_all(hfd, (const uint8_t *)"x", 1);
	assert_true(pump_until(&c, has_len, &one, WAIT_MS));
	assert_int_equal(c.data[0], 'x');
	assert_int_equal(cnt(g)->tcp_opened, 1);
	close(hfd);
	close(lfd);
	conn_fini(&c);
	tg_free(g);
}

static void test_guest_rst(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(false, &port, 0), hfd;
	char b;

	(void)state;
	assert_true(lfd >= 0);
	conn_init(&c, g, false, 40003, port);
	handshake(&c);
	hfd = host_accept(lfd);
	send_seg(&c, F_RST | F_ACK, NULL, 0);
	assert_true(fd_readable(hfd, WAIT_MS));
	assert_int_equal(recv(hfd, &b, 1, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(cnt(g)->tcp_reset, 1);
	assert_int_equal(g->nat->pairs[0].nflows, 0);
	close(hfd);
	close(lfd);
	conn_fini(&c);
	tg_free(g);
}

static void test_host_close(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(false, &port, 0), hfd;

	(void)state;
	assert_true(lfd >= 0);
	conn_init(&c, g, false, 40004, port);
	handshake(&c);
	hfd = host_accept(lfd);
	write_all(hfd, (const uint8_t *)"hello", 5);
	close(hfd);
	assert_true(pump_until(&c, is_fin, NULL, WAIT_MS));
	assert_int_equal(c.len, 5);
	assert_memory_equal(c.data, "hello", 5);
	/* Half-closed: the guest may still send; then its own FIN. */
	send_seg(&c, F_ACK | F_PSH, (const uint8_t *)"bye", 3);
	send_seg(&c, F_FIN | F_ACK, NULL, 0);
	assert_true(pump_until(&c, all_acked, NULL, WAIT_MS));
	assert_int_equal(g->nat->pairs[0].nflows, 0);
	assert_int_equal(cnt(g)->tcp_closed, 1);
	close(lfd);
	conn_fini(&c);
	tg_free(g);
}

static bool data_frames_at_least(const struct conn *c, const void *arg)
{
	return c->data_frames >= *(const unsigned *)arg;
}

static bool has_probe(const struct conn *c, const void *arg)
{
	(void)arg;
	return c->probes > 0;
}

/* A guest with a 4000-byte window (no scaling) that does not ack: four
 * MSS-1000 segments, then nothing new, retransmissions included; a zero
 * window gets probes and no data. */
static void test_guest_window(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(false, &port, 0), hfd;
	size_t want = 4000;
	unsigned eight = 8;
	uint8_t *big = malloc(100000);

	(void)state;
	assert_true(lfd >= 0);
	assert_non_null(big);
	for (size_t i = 0; i < 100000; i++)
		big[i] = pattern(i);
	conn_init(&c, g, false, 40005, port);
	c.my_ws = 0xff;
	c.my_win = 4000;
	c.my_mss = 1000;
	handshake(&c);
	assert_int_equal(c.peer_ws, -1); /* RFC 7323 §1.3: both or neither */
	hfd = host_accept(lfd);
	write_all(hfd, big, 100000);
	c.auto_ack = false;
	assert_true(pump_until(&c, has_len, &want, WAIT_MS));
	/* An RTO later the same segments again, nothing past the window. */
	assert_true(pump_until(&c, data_frames_at_least, &eight, WAIT_MS));
	assert_int_equal(c.len, 4000);
	assert_int_equal(c.max_end, c.irs + 1 + 4000);
	/* It acks all: the next window's worth, no more. */
	send_seg(&c, F_ACK, NULL, 0);
	want = 8000;
	assert_true(pump_until(&c, has_len, &want, WAIT_MS));
	pump_for(&c, 100);
	assert_int_equal(c.len, 8000);
	assert_int_equal(c.max_end, c.irs + 1 + 8000);
	assert_true(pattern_ok(c.data, c.len, 0));
	/* A zero window: probes, no data. */
	c.my_win = 0;
	send_seg(&c, F_ACK, NULL, 0);
	assert_true(pump_until(&c, has_probe, NULL, WAIT_MS));
	assert_int_equal(c.len, 8000);
	assert_int_equal(c.max_end, c.irs + 1 + 8000);
	/* Then it reads on: everything arrives, exactly. */
	c.my_win = 4000;
	c.auto_ack = true;
	send_seg(&c, F_ACK, NULL, 0);
	want = 100000;
	assert_true(pump_until(&c, has_len, &want, WAIT_MS));
	assert_int_equal(c.len, 100000);
	assert_true(pattern_ok(c.data, c.len, 0));
	close(hfd);
	close(lfd);
	free(big);
	conn_fini(&c);
	tg_free(g);
}

static bool win_open(const struct conn *c, const void *arg)
{
	(void)arg;
	return c->peer_win > 0;
}

/* A host peer that stops reading: the guest is told to stop (window 0)
 * before the backend holds more than the socket buffers; it opens again
 * when the peer reads, and every byte arrives in order. */
static void test_host_backpressure(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(false, &port, 32768), hfd;
	size_t got = 0, acked, chunk = 32768;
	uint8_t *rb = malloc(1 << 16);
	struct timespec t0;

	(void)state;
	assert_true(lfd >= 0);
	assert_non_null(rb);
	conn_init(&c, g, false, 40006, port);
	handshake(&c);
	hfd = host_accept(lfd);
	/* Fill until the window closes; 64 MB is far past any sndbuf. */
	while (!c.zero_wins && c.snd_una - c.iss - 1 < (64u << 20))
		send_stream(&c, chunk, chunk, true, true);
	assert_true(c.zero_wins > 0);
	assert_true(c.snd_una - c.iss - 1 < (32u << 20));
	/* A guest that sends into the closed window until the full socket
	 * refuses some: it is told to resend when the window opens. */
	c.snd_nxt = c.snd_una;
	for (int i = 0; i < 1000 && c.snd_una == c.snd_nxt; i++) {
		uint8_t seg[16384];

		for (size_t k = 0; k < sizeof(seg); k++)
			seg[k] = pattern(c.snd_nxt - c.iss - 1 + k);
		send_seg(&c, F_ACK, seg, sizeof(seg));
		pump(&c);
	}
	assert_true(c.snd_una != c.snd_nxt);
	c.snd_nxt = c.snd_una;
	acked = c.snd_una - c.iss - 1;
	c.dups = 0;
	/* The peer reads: a window update comes, the rest goes through. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < acked && ms_since(&t0) < WAIT_MS) {
		ssize_t r = recv(hfd, rb, 1 << 16, MSG_DONTWAIT);

		if (r > 0) {
			assert_true(pattern_ok(rb, (size_t)r, got));
			got += (size_t)r;
		} else {
			pump(&c);
			wait_rx(&c, 5);
		}
	}
	assert_int_equal(got, acked);
	assert_true(pump_until(&c, win_open, NULL, WAIT_MS));
	pump(&c);
	assert_true(c.dups >= 3); /* RFC 5681 §3.2: the guest resends now */
	/* No window that a sender would wait on its persist timer for. */
	printf("%u ACKs, %u zero windows, %u opened a window smaller than %u\n", c.acks,
	       c.zero_wins, c.silly, c.peer_mss);
	assert_int_equal(c.silly, 0);
	assert_true(send_stream(&c, chunk, chunk, true, false));
	got = 0;
	while (got < chunk) {
		ssize_t r;

		assert_true(fd_readable(hfd, WAIT_MS));
		r = recv(hfd, rb, chunk - got, 0);
		assert_true(r > 0);
		assert_true(pattern_ok(rb, (size_t)r, acked + got));
		got += (size_t)r;
	}
	close(hfd);
	close(lfd);
	free(rb);
	conn_fini(&c);
	tg_free(g);
}

/* One 60000-byte GSO segment from the guest: one write, one ACK. */
static void test_gso_from_guest(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(false, &port, 0), hfd;
	size_t n = 60000, got = 0;
	uint8_t *pay = malloc(n), *f = malloc(n + 128), *rb = malloc(n);
	struct netbe_meta m = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			       .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
			       .hdr_len = 54,
			       .gso_size = 1460,
			       .csum_start = 34,
			       .csum_offset = 16};
	unsigned acks;

	(void)state;
	assert_true(lfd >= 0);
	assert_non_null(pay);
	assert_non_null(f);
	assert_non_null(rb);
	for (size_t i = 0; i < n; i++)
		pay[i] = pattern(i);
	conn_init(&c, g, false, 40007, port);
	handshake(&c);
	hfd = host_accept(lfd);
	assert_true(c.peer_win >= n);
	acks = c.acks;
	tx_frame(&c, f,
		 build_seg(f, &c, c.snd_nxt, c.rcv_nxt, F_ACK | F_PSH, c.my_win, NULL, 0, pay, n),
		 &m);
	c.snd_nxt += (uint32_t)n;
	assert_true(pump_until(&c, all_acked, NULL, WAIT_MS));
	assert_int_equal(c.acks, acks + 1);
	assert_int_equal(c.last_ack, c.snd_nxt);
	while (got < n) {
		ssize_t r;

		assert_true(fd_readable(hfd, WAIT_MS));
		r = recv(hfd, rb + got, n - got, 0);
		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_memory_equal(rb, pay, n);
	close(hfd);
	close(lfd);
	free(pay);
	free(f);
	free(rb);
	conn_fini(&c);
	tg_free(g);
}

/* TSO allowed: the download arrives in GSO frames (the guest's MSS as
 * gso_size, partial checksums), byte-exact. */
static void tso_test(bool v6)
{
	struct tg *g = tg_new(NETBE_CAP_CSUM | NETBE_CAP_TSO4 | NETBE_CAP_TSO6, BIG_CAP);
	struct conn c;
	uint16_t port;
	int lfd = host_listener(v6, &port, 0), hfd;
	size_t n = 512 * 1024;
	uint8_t *big = malloc(n);

	if (lfd < 0) {
		free(big);
		tg_free(g);
		skip();
	}
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = pattern(i);
	conn_init(&c, g, v6, 40008, port);
	handshake(&c);
	hfd = host_accept(lfd);
	write_all(hfd, big, n);
	close(hfd);
	assert_true(pump_until(&c, is_fin, NULL, WAIT_MS));
	assert_int_equal(c.len, n);
	assert_memory_equal(c.data, big, n);
	assert_true(c.gso_frames > 0);
	close(lfd);
	free(big);
	conn_fini(&c);
	tg_free(g);
}

static void test_tso_v4(void **state)
{
	(void)state;
	tso_test(false);
}

static void test_tso_v6(void **state)
{
	(void)state;
	tso_test(true);
}

static void test_flows_full(void **state)
{
	struct tg *g = tg_new_opts(0, SMALL_CAP, 16, NULL, 0);
	struct conn c[17];
	uint16_t port;
	int lfd = host_listener(false, &port, 0);
	uint32_t cap = g->nat->pairs[0].cap;

	(void)state;
	assert_true(lfd >= 0);
	assert_true(cap <= 16);
	for (uint32_t i = 0; i <= cap; i++) {
		conn_init(&c[i], g, false, (uint16_t)(41000 + i), port);
		send_syn(&c[i]);
	}
	assert_int_equal(cnt(g)->drops[NAT_DROP_FLOWS], 1);
	assert_true(pump_until(&c[cap], is_rst, NULL, WAIT_MS));
	assert_int_equal(c[cap].rst_ack, c[cap].iss + 1);
	assert_int_equal(g->nat->pairs[0].nflows, cap);
	for (uint32_t i = 0; i <= cap; i++)
		conn_fini(&c[i]);
	/* The backend goes with 16 flows open (nat_tcp_drop()). */
	tg_free(g);
	close(lfd);
}

static void test_junk(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c, other;
	uint16_t port;
	int lfd = host_listener(false, &port, 0), hfd;
	uint64_t bad = 0, noflow;
	uint8_t f[256], b[8];
	unsigned acks;

	(void)state;
	assert_true(lfd >= 0);
	conn_init(&c, g, false, 40009, port);
	handshake(&c);
	hfd = host_accept(lfd);
	bad = cnt(g)->drops[NAT_DROP_BAD_HDR];
	/* An ack of bytes we never sent: dropped, answered by an ACK. */
	acks = c.acks;
	tx_frame(&c, f,
		 build_seg(f, &c, c.snd_nxt, c.irs + 100000, F_ACK, c.my_win, NULL, 0, NULL, 0),
		 NULL);
	pump(&c);
	assert_int_equal(cnt(g)->drops[NAT_DROP_BAD_HDR], bad + 1);
	assert_int_equal(c.acks, acks + 1);
	assert_int_equal(c.last_ack, c.snd_nxt);
	/* Data after a gap: not written, the ACK says what we have. */
	send_at(&c, c.snd_nxt + 1000, F_ACK, (const uint8_t *)"late", 4);
	pump(&c);
	assert_int_equal(c.last_ack, c.snd_nxt);
	assert_false(fd_readable(hfd, 0));
	/* A RST far outside the window: ignored. */
	send_at(&c, c.snd_nxt + 0x40000000u, F_RST, NULL, 0);
	assert_int_equal(cnt(g)->drops[NAT_DROP_BAD_HDR], bad + 2);
	/* A segment without ACK: dropped. */
	tx_frame(&c, f,
		 build_seg(f, &c, c.snd_nxt, 0, F_PSH, c.my_win, NULL, 0, (const uint8_t *)"x", 1),
		 NULL);
	assert_int_equal(cnt(g)->drops[NAT_DROP_BAD_HDR], bad + 3);
	/* A SYN on the connection: a challenge ACK (RFC 5961 §4). */
	acks = c.acks;
	send_at(&c, c.iss, F_SYN, NULL, 0);
	pump(&c);
	assert_int_equal(c.acks, acks + 1);
	/* A keepalive (one byte behind, RFC 9293 §3.8.4): answered. */
	acks = c.acks;
	send_at(&c, c.snd_nxt - 1, F_ACK, NULL, 0);
	pump(&c);
	assert_int_equal(c.acks, acks + 1);
	assert_int_equal(c.last_ack, c.snd_nxt);
	/* A plain ACK in order: nothing to answer. */
	send_at(&c, c.snd_nxt, F_ACK, NULL, 0);
	pump(&c);
	assert_int_equal(c.acks, acks + 1);
	/* The connection still works. */
	send_seg(&c, F_ACK | F_PSH, (const uint8_t *)"ok", 2);
	assert_true(fd_readable(hfd, WAIT_MS));
	assert_int_equal(recv(hfd, b, sizeof(b), 0), 2);
	assert_memory_equal(b, "ok", 2);
	/* A segment for no flow: RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.1). */
	noflow = cnt(g)->drops[NAT_DROP_NO_FLOW];
	conn_init(&other, g, false, 40010, port);
	other.synced = true;
	tx_frame(&other, f, build_seg(f, &other, 5, 777, F_ACK, 1000, NULL, 0, NULL, 0), NULL);
	assert_true(pump_until(&other, is_rst, NULL, WAIT_MS));
	assert_int_equal(other.rst_flags, F_RST);
	assert_int_equal(other.rst_seq, 777);
	assert_int_equal(cnt(g)->drops[NAT_DROP_NO_FLOW], noflow + 1);
	assert_int_equal(g->nat->pairs[0].nflows, 1);
	close(hfd);
	close(lfd);
	conn_fini(&c);
	conn_fini(&other);
	tg_free(g);
}

/* --hostfwd tcp:127.0.0.1:HP:8080: our SYN to the guest, its SYN-ACK,
 * data both ways, its RST resets the host peer; a second connection the
 * guest refuses is reset at once. */
static void test_hostfwd(void **state)
{
	uint16_t hp = closed_port();
	char rule[64];
	const char *fwd[1] = {rule};
	struct tg *g;
	struct conn c;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int cfd;
	uint8_t opt[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7}, f[128];
	size_t want = 4;
	char b[8];

	(void)state;
	snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%u:8080", hp);
	g = tg_new_opts(0, SMALL_CAP, 0, fwd, 1);
	conn_init(&c, g, false, 8080, 0);
	sa.sin_port = htons(hp);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(pump_until(&c, got_syn, NULL, WAIT_MS));
	assert_int_equal(c.peer_mss, 1460);
	assert_true(c.peer_ws >= 0);
	assert_int_equal(cnt(g)->tcp_opened, 1);
	/* The guest's SYN-ACK. */
	tx_frame(&c, f, build_seg(f, &c, c.iss, c.rcv_nxt, F_SYN | F_ACK, 65535, opt, 8, NULL, 0),
		 NULL);
	c.snd_nxt = c.snd_una = c.iss + 1;
	c.synced = true;
	pump(&c);
	write_all(cfd, (const uint8_t *)"ping", 4);
	assert_true(pump_until(&c, has_len, &want, WAIT_MS));
	assert_memory_equal(c.data, "ping", 4);
	send_seg(&c, F_ACK | F_PSH, (const uint8_t *)"pong", 4);
	assert_true(fd_readable(cfd, WAIT_MS));
	assert_int_equal(recv(cfd, b, sizeof(b), 0), 4);
	assert_memory_equal(b, "pong", 4);
	assert_true(pump_until(&c, all_acked, NULL, WAIT_MS));
	send_seg(&c, F_RST | F_ACK, NULL, 0);
	assert_true(fd_readable(cfd, WAIT_MS));
	assert_int_equal(recv(cfd, b, 1, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	close(cfd);
	assert_int_equal(g->nat->pairs[0].nflows, 0);
	/* A second connection the guest refuses (RST|ACK to the SYN). */
	conn_fini(&c);
	conn_init(&c, g, false, 8080, 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(pump_until(&c, got_syn, NULL, WAIT_MS));
	tx_frame(&c, f, build_seg(f, &c, 0, c.rcv_nxt, F_RST | F_ACK, 0, NULL, 0, NULL, 0), NULL);
	assert_true(fd_readable(cfd, WAIT_MS));
	assert_int_equal(recv(cfd, b, 1, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(cnt(g)->tcp_refused, 1);
	close(cfd);
	conn_fini(&c);
	tg_free(g);
}

/* Eight downloads at once through an rx() of two buffers at a time:
 * a flow that runs out of buffers must be served again, and one that had
 * nothing must hear of its new data (no edge may be lost). */
static void test_many_flows(void **state)
{
	struct tg *g = tg_new(0, SMALL_CAP);
	struct conn c[8], *cs[8];
	uint16_t port;
	int lfd = host_listener(false, &port, 0), hfd[8];
	size_t n = 256 * 1024;
	uint8_t *big = malloc(n);
	struct timespec t0;
	bool done = false;

	(void)state;
	assert_true(lfd >= 0);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = pattern(i);
	for (unsigned i = 0; i < 8; i++) {
		conn_init(&c[i], g, false, (uint16_t)(42000 + i), port);
		cs[i] = &c[i];
		handshake(&c[i]);
		hfd[i] = host_accept(lfd);
	}
	g->nbuf = 2;
	/* A little data first, then a pause, then the rest: the flows
	 * stall (all sent) and must be woken by the new data. */
	for (unsigned i = 0; i < 8; i++)
		write_all(hfd[i], big, 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < 300) {
		pump_many(cs, 8);
		wait_rx(&c[0], 5);
	}
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(c[i].len, 1000);
		write_all(hfd[i], big + 1000, n - 1000);
		close(hfd[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!done && ms_since(&t0) < WAIT_MS) {
		pump_many(cs, 8);
		done = true;
		for (unsigned i = 0; i < 8; i++)
			done &= c[i].fin_rcvd;
		if (!done)
			wait_rx(&c[0], 5);
	}
	for (unsigned i = 0; i < 8; i++) {
		assert_true(c[i].fin_rcvd);
		assert_int_equal(c[i].len, n);
		assert_memory_equal(c[i].data, big, n);
		conn_fini(&c[i]);
	}
	close(lfd);
	free(big);
	tg_free(g);
}

/* The same on a kernel without SO_PEEK_OFF for TCP (Debian 12's 6.1):
 * every peek starts at the front and skips what the guest has. */
static int fallbacks_on(void **state)
{
	(void)state;
	nat_tcp_test_fallbacks(true);
	return 0;
}

static int fallbacks_off(void **state)
{
	(void)state;
	nat_tcp_test_fallbacks(false);
	return 0;
}

/* The same with the guest's buffers lent (rx_direct): TCP data straight
 * into them, the rest in the receive buffers after. */
static int direct_on(void **state)
{
	(void)state;
	direct_mode = true;
	return 0;
}

static int direct_off(void **state)
{
	(void)state;
	direct_mode = false;
	return 0;
}

static int direct_fallbacks_on(void **state)
{
	direct_on(state);
	return fallbacks_on(state);
}

static int direct_fallbacks_off(void **state)
{
	direct_off(state);
	return fallbacks_off(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_v4),
		cmocka_unit_test(test_echo_v6),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_dup_syn),
		cmocka_unit_test(test_guest_rst),
		cmocka_unit_test(test_host_close),
		cmocka_unit_test(test_guest_window),
		cmocka_unit_test(test_host_backpressure),
		cmocka_unit_test(test_gso_from_guest),
		cmocka_unit_test(test_tso_v4),
		cmocka_unit_test(test_tso_v6),
		cmocka_unit_test(test_flows_full),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_hostfwd),
		cmocka_unit_test(test_many_flows),
#define FALLBACK(t) {"fallback_" #t, t, fallbacks_on, fallbacks_off, NULL}
		FALLBACK(test_echo_v4),
		FALLBACK(test_host_close),
		FALLBACK(test_guest_window),
		FALLBACK(test_tso_v4),
		FALLBACK(test_many_flows),
#define DIRECT(t) {"direct_" #t, t, direct_on, direct_off, NULL}
		DIRECT(test_echo_v4),
		DIRECT(test_echo_v6),
		DIRECT(test_host_close),
		DIRECT(test_guest_window),
		DIRECT(test_tso_v4),
		DIRECT(test_tso_v6),
		DIRECT(test_hostfwd),
		DIRECT(test_many_flows),
		{"direct_fallback_test_tso_v4", test_tso_v4, direct_fallbacks_on,
		 direct_fallbacks_off, NULL},
	};

	if (getenv("TEST_FILTER")) /* e.g. TEST_FILTER=test_tso* */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
