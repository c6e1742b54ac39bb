/* SPDX-License-Identifier: MIT */
/*
 * sink: a backend that swallows every frame.
 *
 * Theory of operation: tx() reads every byte of every frame (it adds them
 * up into a per-queue-pair word the compiler cannot drop), so a benchmark
 * through the sink pays for touching guest memory like a real backend
 * would, then forgets the frame. rx() never has anything; rx_fd() is one
 * eventfd, shared by all queue pairs, that is never signalled (a device
 * waiting on it sleeps instead of polling). Any offload is "honoured":
 * the bytes are dropped anyway, so caps() is NETBE_CAP_ALL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netbe_internal.h"

struct sink_pair {
	struct netbe_stats stats; /* written by the pair's worker */
	uint64_t sum;		  /* the bytes seen; written by the pair's worker */
} __attribute__((aligned(64)));

struct sink {
	struct netbe be;
	int quiet_fd; /* eventfd never signalled */
	struct sink_pair *pairs;
};

static struct sink *to_sink(struct netbe *be)
{
	return be->priv;
}

static uint32_t sink_caps(struct netbe *be)
{
	(void)be;
	return NETBE_CAP_ALL;
}

static int sink_set_queue_pairs(struct netbe *be, unsigned n)
{
	return n >= 1 && n <= be->max_queue_pairs ? 0 : -EINVAL;
}

static int sink_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	(void)be;
	return caps & ~NETBE_CAP_ALL ? -EINVAL : 0;
}

static int sink_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct sink *s = to_sink(be);
	uint64_t sum;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	sum = netbe_sum_frames(pkts, n);
	counter_add(&s->pairs[q].sum, sum);
	return (int)n;
}

static int sink_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	(void)bufs;
	(void)n;
	return q < be->max_queue_pairs ? 0 : -EINVAL;
}

static int sink_rx_fd(struct netbe *be, unsigned q)
{
	return q < be->max_queue_pairs ? to_sink(be)->quiet_fd : -EINVAL;
}

static void sink_get_stats(struct netbe *be, unsigned q, struct netbe_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (q < be->max_queue_pairs)
		netbe_stats_copy(out, &to_sink(be)->pairs[q].stats);
}

static void sink_free(struct netbe *be)
{
	struct sink *s = to_sink(be);

	close(s->quiet_fd);
	free(s->pairs);
	free(s);
}

static const struct netbe_ops sink_ops = {
	.name = "sink",
	.caps = sink_caps,
	.set_queue_pairs = sink_set_queue_pairs,
	.set_rx_offloads = sink_set_rx_offloads,
	.tx = sink_tx,
	.rx = sink_rx,
	.rx_fd = sink_rx_fd,
	.link_up = netbe_link_always_up,
	.get_stats = sink_get_stats,
	.free = sink_free,
};

/**
 * netbe_sink_new() - the sink backend.
 * Return: 0 and *out, or -ENOMEM / -errno of eventfd() (reason in @err).
 */
int netbe_sink_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen)
{
	struct sink *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return netbe_set_err(err, errlen, -ENOMEM, "sink: out of memory");
	s->pairs = netbe_calloc_aligned(opt->max_queue_pairs, sizeof(*s->pairs));
	if (!s->pairs) {
		ret = netbe_set_err(err, errlen, -ENOMEM, "sink: out of memory");
		goto err_pairs;
	}
	s->quiet_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->quiet_fd < 0) {
		ret = netbe_set_err(err, errlen, -errno, "sink: eventfd: %s", strerror(errno));
		goto err_fd;
	}
	s->be.ops = &sink_ops;
	s->be.priv = s;
	s->be.max_queue_pairs = opt->max_queue_pairs;
	*out = &s->be;
	return 0;

err_fd:
	free(s->pairs);
err_pairs:
	free(s);
	return ret;
}
