/* SPDX-License-Identifier: MIT */
/*
 * Packet capture taps (include/vqnet/net_dev.h "Capture"; docs/vqnetd.md
 * "Capturing frames").
 *
 * Theory of operation: while capture is on, each queue pair's worker
 * copies the frames it hands to the backend and the frames it takes from
 * it (the Ethernet frame, no virtio-net header; at most snaplen bytes)
 * into a ring of fixed slots of its own, and one reader drains every ring
 * (vqnetd's capture thread, which filters and writes them). The worker
 * never waits: a full ring means the frame is not copied and is counted.
 * The rings belong to the device, not to the workers, so a frontend that
 * goes away (its workers freed) never pulls a ring from under the reader;
 * they are published to the workers while they are parked, like every
 * other setting, so the packet path reads one plain pointer per burst:
 * off, capture costs one predictable branch.
 */
#include "net_dev/capture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "net_dev/net_dev_internal.h"

/* A slot: this header, then snaplen bytes. */
struct cap_slot {
	uint64_t ts_ns;
	uint32_t len;
	uint32_t caplen;
	uint8_t rx;
	uint8_t pad[7];
};

#define CAP_SLOTS_MAX	(1u << 16)
#define CAP_SNAPLEN_MAX NET_DEV_FRAME_MAX
#define CAP_BYTES_MAX	(64u << 20) /* per queue pair */

static struct cap_slot *slot_at(const struct net_dev_cap_ring *r, uint64_t i)
{
	return (struct cap_slot *)(r->slots + (size_t)(i & (r->nslots - 1)) * r->stride);
}

/* The next free slot, or NULL (counted) when the reader is a ring behind. */
static struct cap_slot *cap_claim(struct net_dev_cap_ring *r, uint64_t head)
{
	if (head - atomic_load_explicit(&r->tail, memory_order_acquire) >= r->nslots) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return NULL;
	}
	return slot_at(r, head);
}

void net_dev_cap_tx(struct net_dev_cap_ring *r, const struct netbe_txpkt *pkts, unsigned n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t now = clock_mono_ns();

	for (unsigned i = 0; i < n; i++) {
		struct cap_slot *s = cap_claim(r, head);
		uint8_t *data = (uint8_t *)(s + 1);
		uint32_t at = 0;

		if (!s)
			continue;
		for (unsigned k = 0; k < pkts[i].iovcnt && at < r->snaplen; k++) {
			size_t c = pkts[i].iov[k].iov_len;

			if (c > r->snaplen - at)
				c = r->snaplen - at;
			memcpy(data + at, pkts[i].iov[k].iov_base, c);
			at += (uint32_t)c;
		}
		*s = (struct cap_slot){.ts_ns = now, .len = pkts[i].len, .caplen = at, .rx = 0};
		head++;
	}
	atomic_store_explicit(&r->head, head, memory_order_release);
}

void net_dev_cap_rx(struct net_dev_cap_ring *r, const struct netbe_rxbuf *bufs, unsigned n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t now = clock_mono_ns();

	for (unsigned i = 0; i < n; i++) {
		struct cap_slot *s = cap_claim(r, head);
		uint32_t c = bufs[i].len < r->snaplen ? bufs[i].len : r->snaplen;

		if (!s)
			continue;
		memcpy(s + 1, bufs[i].data, c);
		*s = (struct cap_slot){.ts_ns = now, .len = bufs[i].len, .caplen = c, .rx = 1};
		head++;
	}
	atomic_store_explicit(&r->head, head, memory_order_release);
}

static void rings_free(struct net_dev_cap_ring **rings, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		if (rings[k])
			free(rings[k]->slots);
		free(rings[k]);
		rings[k] = NULL;
	}
}

static int rings_alloc(struct net_dev_cap_ring **rings, unsigned n, uint32_t snaplen,
		       uint32_t nslots)
{
	for (unsigned k = 0; k < n; k++) {
		struct net_dev_cap_ring *r = calloc(1, sizeof(*r));

		rings[k] = r;
		if (!r)
			goto err;
		r->nslots = nslots;
		r->snaplen = snaplen;
		r->stride = (uint32_t)((sizeof(struct cap_slot) + snaplen + 7) & ~7u);
		r->pair = (uint16_t)k;
		r->slots = malloc((size_t)r->stride * nslots);
		if (!r->slots)
			goto err;
	}
	return 0;
err:
	rings_free(rings, n);
	return -ENOMEM;
}

/* Publish @rings (or NULL) to every worker, parked meanwhile. */
static void cap_publish(struct net_dev *d, struct net_dev_cap_ring **rings)
{
	net_dev_pause_all(d);
	for (unsigned k = 0; k < d->max_pairs; k++)
		d->cap_rings[k] = rings ? rings[k] : NULL;
	net_dev_sync_all(d);
	net_dev_resume_all(d);
}

VQNET_EXPORT int net_dev_capture_start(struct net_dev *d, uint32_t snaplen, uint32_t slots)
{
	struct net_dev_cap_ring *rings[NET_DEV_MAX_QUEUE_PAIRS] = {0};
	int rc;

	if (d->cap_rings[0])
		return -EBUSY;
	if (!snaplen || snaplen > CAP_SNAPLEN_MAX || slots < 2 || slots > CAP_SLOTS_MAX ||
	    (slots & (slots - 1)) ||
	    (uint64_t)slots * (snaplen + sizeof(struct cap_slot)) > CAP_BYTES_MAX)
		return -EINVAL;
	rc = rings_alloc(rings, d->max_pairs, snaplen, slots);
	if (rc)
		return rc;
	cap_publish(d, rings);
	return 0;
}

VQNET_EXPORT void net_dev_capture_stop(struct net_dev *d)
{
	struct net_dev_cap_ring *rings[NET_DEV_MAX_QUEUE_PAIRS];

	if (!d->cap_rings[0])
		return;
	memcpy(rings, d->cap_rings, sizeof(rings));
	cap_publish(d, NULL);
	rings_free(rings, d->max_pairs);
}

VQNET_EXPORT unsigned net_dev_capture_read(struct net_dev *d, net_dev_capture_fn fn, void *opaque,
					   unsigned max)
{
	unsigned done = 0;

	for (unsigned k = 0; k < d->max_pairs && done < max; k++) {
		struct net_dev_cap_ring *r = d->cap_rings[k];
		uint64_t tail, head;

		if (!r)
			continue;
		tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		head = atomic_load_explicit(&r->head, memory_order_acquire);
		for (; tail != head && done < max; tail++, done++) {
			const struct cap_slot *s = slot_at(r, tail);
			struct net_dev_capture_frame f = {
				.ts_ns = s->ts_ns,
				.len = s->len,
				.caplen = s->caplen,
				.rx = s->rx,
				.pair = r->pair,
				.data = (const uint8_t *)(s + 1),
			};

			fn(opaque, &f);
		}
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	return done;
}

VQNET_EXPORT uint64_t net_dev_capture_dropped(const struct net_dev *d)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < d->max_pairs; k++)
		if (d->cap_rings[k])
			n += atomic_load_explicit(&d->cap_rings[k]->dropped, memory_order_relaxed);
	return n;
}
