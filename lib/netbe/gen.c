/* SPDX-License-Identifier: MIT */
/*
 * gen: a frame generator for receive benchmarks.
 *
 * Theory of operation: rx(q) fills every buffer it is given with one frame
 * of opt->gen_frame_size bytes (default 64, at least 60, at most 65535;
 * cut to the buffer's cap when that is smaller, and a buffer of fewer
 * than 60 bytes gets nothing and counts in rx_dropped):
 *
 *   dst  opt->guest_mac
 *   src  02:00:00:00:00:02
 *   type 0x88b5 (IEEE 802 local experimental)
 *   le64 sequence number of the queue pair, from 0
 *   zeroes up to the frame size
 *
 * so the guest side can check order and loss per queue pair. Like DPDK
 * testpmd's txonly engine with its recycled mbufs, a buffer gen filled
 * before (same address, same frame length: the device lends the same
 * buffers each call and does not write into them, netbe.h) gets only its
 * 22 header and sequence bytes rewritten; any other buffer gets the whole
 * frame. rx_fd(q) is
 * an eventfd per pair that is signalled once and never read: always
 * readable (level-triggered waiters wake at once). tx() is the sink's:
 * every byte is read, then dropped. caps() is 0: the generator produces
 * complete frames and wants complete frames.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netbe_internal.h"
#include "spec/ethernet.h"

#define GEN_FRAME_MIN	  60u
#define GEN_FRAME_DEFAULT 64u
#define GEN_FRAME_MAX	  65535u
#define GEN_ETHERTYPE	  0x88b5 /* local experimental; a le64 sequence number follows */

/* Buffers remembered per pair (by position in the rx() array). */
#define GEN_KNOWN 64u

struct gen_pair {
	struct netbe_stats stats; /* written by the pair's worker */
	struct {
		const uint8_t *data; /* a buffer holding a whole frame of len bytes */
		uint32_t len;
	} known[GEN_KNOWN];
	uint64_t seq; /* next sequence number; the pair's worker */
	uint64_t sum; /* bytes seen on tx; the pair's worker */
	int fd;	      /* eventfd, always readable */
} __attribute__((aligned(64)));

struct gen {
	struct netbe be;
	uint32_t frame_size;
	uint8_t *frame; /* [frame_size]: every frame, sequence number 0 */
	struct gen_pair *pairs;
};

static struct gen *to_gen(struct netbe *be)
{
	return be->priv;
}

static uint32_t gen_caps(struct netbe *be)
{
	(void)be;
	return 0;
}

static int gen_set_queue_pairs(struct netbe *be, unsigned n)
{
	return n >= 1 && n <= be->max_queue_pairs ? 0 : -EINVAL;
}

static int gen_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	(void)be;
	return caps ? -EINVAL : 0;
}

static int gen_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct gen *g = to_gen(be);
	uint64_t sum;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	sum = netbe_sum_frames(pkts, n);
	counter_add(&g->pairs[q].sum, sum);
	return (int)n;
}

static int gen_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	struct gen *g = to_gen(be);
	struct gen_pair *p;
	unsigned i;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	p = &g->pairs[q];
	for (i = 0; i < n; i++) {
		struct netbe_rxbuf *b = &bufs[i];
		uint32_t len = g->frame_size < b->cap ? g->frame_size : b->cap;
		uint64_t seq = htole64(p->seq);

		if (len < GEN_FRAME_MIN) {
			/* The next frame does not fit: it is lost (its
			 * sequence number too, so the guest sees the gap). */
			counter_add(&p->stats.rx_dropped, 1);
			p->seq++;
			break;
		}
		if (p->known[i % GEN_KNOWN].data == b->data && p->known[i % GEN_KNOWN].len == len) {
			/* The frame is there from the last time: headers only. */
			memcpy(b->data, g->frame, ETH_HDR_LEN);
		} else {
			memcpy(b->data, g->frame, len);
			p->known[i % GEN_KNOWN].data = b->data;
			p->known[i % GEN_KNOWN].len = len;
		}
		memcpy(b->data + ETH_HDR_LEN, &seq, sizeof(seq));
		b->len = len;
		b->meta = (struct netbe_meta){0};
		p->seq++;
	}
	return (int)i;
}

static int gen_rx_fd(struct netbe *be, unsigned q)
{
	return q < be->max_queue_pairs ? to_gen(be)->pairs[q].fd : -EINVAL;
}

static void gen_get_stats(struct netbe *be, unsigned q, struct netbe_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (q < be->max_queue_pairs)
		netbe_stats_copy(out, &to_gen(be)->pairs[q].stats);
}

static void gen_free(struct netbe *be)
{
	struct gen *g = to_gen(be);

	for (unsigned q = 0; q < be->max_queue_pairs; q++) {
		if (g->pairs[q].fd >= 0)
			close(g->pairs[q].fd);
	}
	free(g->pairs);
	free(g->frame);
	free(g);
}

static const struct netbe_ops gen_ops = {
	.name = "gen",
	.caps = gen_caps,
	.set_queue_pairs = gen_set_queue_pairs,
	.set_rx_offloads = gen_set_rx_offloads,
	.tx = gen_tx,
	.rx = gen_rx,
	.rx_fd = gen_rx_fd,
	.link_up = netbe_link_always_up,
	.get_stats = gen_get_stats,
	.free = gen_free,
};

/**
 * netbe_gen_new() - the generator backend (frame size opt->gen_frame_size,
 * 0 for the default 64).
 * Return: 0 and *out; -EINVAL for a frame size outside 60..65535; -ENOMEM
 * or -errno of eventfd(); a reason in @err.
 */
int netbe_gen_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen)
{
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x02};
	uint32_t size = opt->gen_frame_size ? opt->gen_frame_size : GEN_FRAME_DEFAULT;
	struct gen *g;
	int ret;

	if (size < GEN_FRAME_MIN || size > GEN_FRAME_MAX)
		return netbe_set_err(err, errlen, -EINVAL, "gen: frame size %u out of range %u..%u",
				     size, GEN_FRAME_MIN, GEN_FRAME_MAX);
	g = calloc(1, sizeof(*g));
	if (!g)
		return netbe_set_err(err, errlen, -ENOMEM, "gen: out of memory");
	g->frame_size = size;
	g->frame = calloc(1, size);
	if (!g->frame) {
		free(g);
		return netbe_set_err(err, errlen, -ENOMEM, "gen: out of memory");
	}
	memcpy(g->frame, opt->guest_mac, ETH_ADDR_LEN);
	memcpy(g->frame + ETH_ADDR_LEN, src, ETH_ADDR_LEN);
	g->frame[ETH_TYPE_OFF] = GEN_ETHERTYPE >> 8;
	g->frame[ETH_TYPE_OFF + 1] = GEN_ETHERTYPE & 0xff;
	g->be.ops = &gen_ops;
	g->be.priv = g;
	g->be.max_queue_pairs = opt->max_queue_pairs;
	g->pairs = netbe_calloc_aligned(opt->max_queue_pairs, sizeof(*g->pairs));
	if (!g->pairs) {
		free(g->frame);
		free(g);
		return netbe_set_err(err, errlen, -ENOMEM, "gen: out of memory");
	}
	for (unsigned q = 0; q < opt->max_queue_pairs; q++)
		g->pairs[q].fd = -1;
	for (unsigned q = 0; q < opt->max_queue_pairs; q++) {
		g->pairs[q].fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g->pairs[q].fd < 0) {
			ret = netbe_set_err(err, errlen, -errno, "gen: eventfd: %s",
					    strerror(errno));
			gen_free(&g->be);
			return ret;
		}
	}
	*out = &g->be;
	return 0;
}
