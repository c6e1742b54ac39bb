/* SPDX-License-Identifier: MIT */
/*
 * loop: frames sent on queue pair q come back on queue pair q.
 *
 * Theory of operation: each queue pair has a ring of LOOP_SLOTS frame
 * slots of LOOP_SLOT_BYTES each (64 KiB plus room for the largest headers
 * in front of a 64 KiB GSO payload). tx(q) copies each frame and its
 * offload metadata into the next free slot; rx(q) copies the oldest slot
 * into the device's buffer. Both run on the worker of pair q (netbe.h:
 * one thread per pair calls tx, rx and rx_fd), so the ring needs no lock:
 * head and tail are plain counters of that thread. A full ring drops the
 * frame (tx_dropped).
 *
 * Memory: the slots of a pair are one anonymous mapping of
 * LOOP_SLOTS * LOOP_SLOT_BYTES = 17 MiB of address space, made when
 * set_queue_pairs() first activates the pair and kept until free(); pages
 * only cost memory once a frame touched them (small frames touch one page
 * per slot). Nothing is allocated in tx/rx.
 *
 * rx_fd(q) is an eventfd per pair: written when tx makes the ring
 * non-empty, read (reset) when rx empties it, so it is readable exactly
 * while frames wait.
 *
 * Offloads: caps() is NETBE_CAP_ALL, so the device hands partial-checksum
 * and GSO frames over untouched and their metadata travels with the frame
 * to rx(), whatever set_rx_offloads() said: the device's receive path
 * finishes in software what the guest did not negotiate (lib/net_dev/net_dev_rx.c,
 * rx_prepare(): GSO segmentation, checksum finishing), which a backend
 * cannot do without depending on lib/net. Only flags other than
 * NEEDS_CSUM are cleared (a driver never sends DATA_VALID, §5.1.6.2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/efd.h"
#include "netbe_internal.h"
#include "spec/virtio_net.h"

#define LOOP_SLOTS	256u /* a power of two */
#define LOOP_SLOT_BYTES (65536u + 4096u)

struct loop_slot {
	uint32_t len;
	struct netbe_meta meta;
};

/* Ring state of one queue pair; all of it belongs to the pair's worker
 * except map/slots/efd, set up on the control thread. */
struct loop_pair {
	struct netbe_stats stats;
	uint32_t head;		 /* next slot to fill (free-running) */
	uint32_t tail;		 /* next slot to drain (free-running) */
	uint8_t *data;		 /* LOOP_SLOTS * LOOP_SLOT_BYTES, or NULL */
	struct loop_slot *slots; /* LOOP_SLOTS, or NULL */
	int efd;		 /* eventfd: frames wait */
} __attribute__((aligned(64)));

struct loop {
	struct netbe be;
	struct loop_pair *pairs;
};

static struct loop *to_loop(struct netbe *be)
{
	return be->priv;
}

static uint32_t loop_caps(struct netbe *be)
{
	(void)be;
	return NETBE_CAP_ALL;
}

static int loop_pair_alloc(struct loop_pair *p)
{
	void *m;

	if (p->data)
		return 0;
	p->slots = calloc(LOOP_SLOTS, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	m = mmap(NULL, (size_t)LOOP_SLOTS * LOOP_SLOT_BYTES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		free(p->slots);
		p->slots = NULL;
		return -ENOMEM;
	}
	p->data = m;
	return 0;
}

static int loop_set_queue_pairs(struct netbe *be, unsigned n)
{
	struct loop *l = to_loop(be);

	if (n < 1 || n > be->max_queue_pairs)
		return -EINVAL;
	for (unsigned q = 0; q < n; q++) {
		int ret = loop_pair_alloc(&l->pairs[q]);

		if (ret)
			return ret;
	}
	return 0;
}

/* Nothing to configure: metadata passes through (see the top). */
static int loop_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	(void)be;
	return caps & ~NETBE_CAP_ALL ? -EINVAL : 0;
}

/* Copy one frame into @dst (capacity LOOP_SLOT_BYTES). Return its length,
 * or -1 when it does not fit. */
static int64_t loop_copy_in(uint8_t *dst, const struct netbe_txpkt *pkt)
{
	size_t len = 0;

	for (unsigned j = 0; j < pkt->iovcnt; j++) {
		size_t l = pkt->iov[j].iov_len;

		if (l > LOOP_SLOT_BYTES - len)
			return -1;
		memcpy(dst + len, pkt->iov[j].iov_base, l);
		len += l;
	}
	return (int64_t)len;
}

static int loop_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct loop_pair *p;
	bool was_empty;
	unsigned sent = 0;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	p = &to_loop(be)->pairs[q];
	if (!p->data) {
		counter_add(&p->stats.tx_dropped, n);
		return 0;
	}
	was_empty = p->head == p->tail;
	for (unsigned i = 0; i < n; i++) {
		uint32_t idx = p->head % LOOP_SLOTS;
		int64_t len;

		if (p->head - p->tail == LOOP_SLOTS) {
			counter_add(&p->stats.tx_dropped, n - i);
			break;
		}
		len = loop_copy_in(p->data + (size_t)idx * LOOP_SLOT_BYTES, &pkts[i]);
		if (len < 0) {
			counter_add(&p->stats.tx_dropped, 1);
			continue;
		}
		p->slots[idx].len = (uint32_t)len;
		p->slots[idx].meta = pkts[i].meta;
		p->head++;
		sent++;
	}
	if (was_empty && sent && efd_signal(p->efd) < 0)
		counter_add(&p->stats.tx_errors, 1); /* cannot happen */
	return (int)sent;
}

static int loop_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	struct loop_pair *p;
	unsigned filled = 0;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	p = &to_loop(be)->pairs[q];
	while (filled < n && p->tail != p->head) {
		uint32_t idx = p->tail % LOOP_SLOTS;
		const struct loop_slot *s = &p->slots[idx];
		struct netbe_rxbuf *b = &bufs[filled];

		p->tail++;
		if (s->len > b->cap) {
			counter_add(&p->stats.rx_dropped, 1);
			continue;
		}
		memcpy(b->data, p->data + (size_t)idx * LOOP_SLOT_BYTES, s->len);
		b->len = s->len;
		b->meta = s->meta;
		b->meta.flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
		filled++;
	}
	if (p->data && p->tail == p->head && efd_drain(p->efd) < 0)
		counter_add(&p->stats.rx_errors, 1);
	return (int)filled;
}

static int loop_rx_fd(struct netbe *be, unsigned q)
{
	return q < be->max_queue_pairs ? to_loop(be)->pairs[q].efd : -EINVAL;
}

static void loop_get_stats(struct netbe *be, unsigned q, struct netbe_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (q < be->max_queue_pairs)
		netbe_stats_copy(out, &to_loop(be)->pairs[q].stats);
}

static void loop_free(struct netbe *be)
{
	struct loop *l = to_loop(be);

	for (unsigned q = 0; q < be->max_queue_pairs; q++) {
		struct loop_pair *p = &l->pairs[q];

		if (p->data)
			munmap(p->data, (size_t)LOOP_SLOTS * LOOP_SLOT_BYTES);
		free(p->slots);
		if (p->efd >= 0)
			close(p->efd);
	}
	free(l->pairs);
	free(l);
}

static const struct netbe_ops loop_ops = {
	.name = "loop",
	.caps = loop_caps,
	.set_queue_pairs = loop_set_queue_pairs,
	.set_rx_offloads = loop_set_rx_offloads,
	.tx = loop_tx,
	.rx = loop_rx,
	.rx_fd = loop_rx_fd,
	.link_up = netbe_link_always_up,
	.get_stats = loop_get_stats,
	.free = loop_free,
};

/**
 * netbe_loop_new() - the loopback backend. The rings of a pair are made
 * by set_queue_pairs(); until then its frames are dropped.
 * Return: 0 and *out, or -ENOMEM / -errno of eventfd() (reason in @err).
 */
int netbe_loop_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen)
{
	struct loop *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return netbe_set_err(err, errlen, -ENOMEM, "loop: out of memory");
	l->be.ops = &loop_ops;
	l->be.priv = l;
	l->be.max_queue_pairs = opt->max_queue_pairs;
	l->pairs = netbe_calloc_aligned(opt->max_queue_pairs, sizeof(*l->pairs));
	if (!l->pairs) {
		free(l);
		return netbe_set_err(err, errlen, -ENOMEM, "loop: out of memory");
	}
	for (unsigned q = 0; q < opt->max_queue_pairs; q++)
		l->pairs[q].efd = -1;
	for (unsigned q = 0; q < opt->max_queue_pairs; q++) {
		l->pairs[q].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->pairs[q].efd < 0) {
			ret = netbe_set_err(err, errlen, -errno, "loop: eventfd: %s",
					    strerror(errno));
			loop_free(&l->be);
			return ret;
		}
	}
	*out = &l->be;
	return 0;
}
