/* SPDX-License-Identifier: MIT */
/*
 * What a running device reports to its operator (include/vqnet/net_dev.h
 * "net_dev_status"): negotiated state, each ring's format, size and state,
 * the backend's counters. Called on the control thread, which owns every
 * field read here except a ring's broken flag (set by its worker, read
 * with one relaxed atomic load) and the backend's counters (atomics in
 * every backend): no worker is ever stopped to answer.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "base/compiler.h"
#include "net_dev/net_dev_internal.h"

VQNET_EXPORT void net_dev_status(const struct net_dev *d, struct net_dev_status *out)
{
	*out = (struct net_dev_status){
		.features_offered = d->offered,
		.features = d->features,
		.features_set = d->features_set,
		.link_up = atomic_load(&d->link_up),
		.config_status = le16toh(d->config.status),
		.mtu = d->mtu,
		.max_pairs = d->max_pairs,
		.pairs = d->mq_pairs,
		.rx_rate = d->cfg.rx_rate,
		.tx_rate = d->cfg.tx_rate,
		.poll_us = d->cfg.poll_us,
	};
	memcpy(out->mac, d->config.mac, 6);
}

static const struct net_dev_ring *ring_of(const struct net_dev *d, unsigned vq_index)
{
	const struct net_dev_worker *w;

	if (vq_index == 2 * d->max_pairs)
		return &d->ctrl;
	w = d->workers[vq_index / 2];
	if (!w)
		return NULL;
	return vq_index & 1 ? &w->tx : &w->rx;
}

VQNET_EXPORT int net_dev_queue_status(const struct net_dev *d, unsigned vq_index,
				      struct net_dev_queue_status *out)
{
	const struct net_dev_ring *r;

	if (!d || !out || vq_index > 2 * d->max_pairs)
		return -EINVAL;
	*out = (struct net_dev_queue_status){0};
	r = ring_of(d, vq_index);
	if (!r || !r->vq)
		return 0;
	out->started = true;
	out->enabled = r->enabled;
	/* Written once by the worker that found the ring error. */
	out->broken = __atomic_load_n(&r->broken, __ATOMIC_RELAXED);
	out->format = vq_get_format(r->vq);
	out->size = vq_get_size(r->vq);
	return 0;
}

VQNET_EXPORT int net_dev_backend_stats(const struct net_dev *d, unsigned pair,
				       struct netbe_stats *out)
{
	if (!d || !out || pair >= d->max_pairs)
		return -EINVAL;
	*out = (struct netbe_stats){0};
	if (d->be->ops->get_stats)
		d->be->ops->get_stats(d->be, pair, out);
	return 0;
}
