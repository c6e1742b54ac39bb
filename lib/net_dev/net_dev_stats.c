/* SPDX-License-Identifier: MIT */
/*
 * Counters of the virtio-net device: names of drop reasons, a consistent
 * enough copy of a queue's counters (each 64-bit counter read with one
 * atomic load; its single writer stores with relaxed atomics) and the
 * one-line-per-queue print the daemon shows.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "base/compiler.h"
#include "net_dev/net_dev_internal.h"

static const char *const drop_names[NET_DEV_DROP__COUNT] = {
	[NET_DEV_DROP_RX_TOO_BIG] = "rx_too_big", [NET_DEV_DROP_RX_FILTERED] = "rx_filtered",
	[NET_DEV_DROP_TX_MTU] = "tx_mtu",	  [NET_DEV_DROP_TX_BAD_HDR] = "tx_bad_hdr",
	[NET_DEV_DROP_TX_SHORT] = "tx_short",	  [NET_DEV_DROP_TX_OFFLOAD] = "tx_offload",
	[NET_DEV_DROP_TX_BACKEND] = "tx_backend", [NET_DEV_DROP_BAD_CHAIN] = "bad_chain",
	[NET_DEV_DROP_LINK_DOWN] = "link_down",	  [NET_DEV_DROP_RX_SMALL_BUF] = "rx_small_buf",
};

VQNET_EXPORT const char *net_dev_drop_name(enum net_dev_drop d)
{
	if ((unsigned)d >= NET_DEV_DROP__COUNT)
		return "unknown";
	return drop_names[d];
}

#define LOAD(f) (out->f = counter_get(&s->f))

VQNET_EXPORT int net_dev_queue_stats(const struct net_dev *d, unsigned vq_index,
				     struct net_dev_queue_stats *out)
{
	const struct net_dev_queue_stats *s;

	if (!d || !out || vq_index >= 2 * d->max_pairs + 1)
		return -EINVAL;
	s = &d->stats[vq_index];
	LOAD(starts);
	LOAD(packets);
	LOAD(bytes);
	for (unsigned i = 0; i < NET_DEV_DROP__COUNT; i++)
		LOAD(drops[i]);
	LOAD(errors);
	LOAD(kicks);
	LOAD(notify_sent);
	LOAD(notify_suppressed);
	LOAD(wakeups);
	LOAD(rate_limited);
	LOAD(csum_finished);
	LOAD(gso_segmented);
	LOAD(rx_merged);
	LOAD(rx_zero_copy);
	return 0;
}

static void queue_name(const struct net_dev *d, unsigned i, char *buf, size_t len)
{
	if (i == 2 * d->max_pairs)
		snprintf(buf, len, "ctrlq");
	else
		snprintf(buf, len, "%sq%u", i & 1 ? "tx" : "rx", i / 2);
}

VQNET_EXPORT void net_dev_print_stats(const struct net_dev *d, FILE *f)
{
	for (unsigned i = 0; i < 2 * d->max_pairs + 1; i++) {
		struct net_dev_queue_stats s;
		char name[16];

		if (!d->ever_started[i] || net_dev_queue_stats(d, i, &s) < 0)
			continue;
		queue_name(d, i, name, sizeof(name));
		fprintf(f, "%s: packets=%" PRIu64 " bytes=%" PRIu64 " drops(", name, s.packets,
			s.bytes);
		for (unsigned r = 0; r < NET_DEV_DROP__COUNT; r++)
			fprintf(f, "%s%s=%" PRIu64, r ? "," : "", drop_names[r], s.drops[r]);
		fprintf(f,
			") errors=%" PRIu64 " kicks=%" PRIu64 " notify=%" PRIu64
			"/suppressed=%" PRIu64 " wakeups=%" PRIu64 " rate_limited=%" PRIu64
			" csum_finished=%" PRIu64 " gso_segmented=%" PRIu64 " rx_merged=%" PRIu64
			" rx_zero_copy=%" PRIu64 "\n",
			s.errors, s.kicks, s.notify_sent, s.notify_suppressed, s.wakeups,
			s.rate_limited, s.csum_finished, s.gso_segmented, s.rx_merged,
			s.rx_zero_copy);
	}
	if (!d->be->ops->get_stats)
		return;
	for (unsigned k = 0; k < d->max_pairs; k++) {
		struct netbe_stats bs = {0};

		if (!d->ever_started[2 * k] && !d->ever_started[2 * k + 1])
			continue;
		net_dev_backend_stats(d, k, &bs); /* atomics: the worker runs on */
		fprintf(f,
			"backend %s q%u: tx_dropped=%" PRIu64 " rx_dropped=%" PRIu64
			" tx_errors=%" PRIu64 " rx_errors=%" PRIu64 "\n",
			d->be->ops->name ? d->be->ops->name : "?", k, bs.tx_dropped, bs.rx_dropped,
			bs.tx_errors, bs.rx_errors);
		if (d->be->ops->print_stats)
			d->be->ops->print_stats(d->be, k, f);
	}
}
