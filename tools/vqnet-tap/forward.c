/* SPDX-License-Identifier: MIT */
/*
 * vqnet-tap: the forwarding thread of one queue pair (docs/vqnet-tap.md
 * "Forwarding").
 *
 * Each pass moves what is there, both ways, in bursts:
 *  - device -> TAP: vnet_drv_rx_burst(), then one writev() per frame of
 *    the vnet header and the frame's segments where the device wrote them
 *    (no copy), then the packets back to the pool in one call;
 *  - TAP -> device: one readv() per frame straight into fresh packets of
 *    the pair's pool (the header into the stack, the frame over as many
 *    packets as a 64 KB frame needs, chained by what was read), then
 *    vnet_drv_tx_burst() of the burst. Frames the ring has no room for
 *    stay pending; the TAP is not read again until they are gone.
 * When a pass moved nothing the thread sleeps in ppoll() on the stop
 * eventfd, the receive eventfd (vnet_drv_rx_arm()) and the TAP fd (only
 * when a read could be taken); with frames pending for a full ring it
 * retries after TX_RETRY_NS instead, as the library lets us learn of
 * transmit completions only by looking.
 *
 * Everything the thread uses is set up before its loop; the loop
 * allocates nothing (packets come from the pair's pool).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/compiler.h"
#include "base/counter.h"
#include "vqnet_tap.h"

#define BURST	    32u
#define TX_RETRY_NS 100000L /* a full transmit ring or an empty pool: look again */

struct vt_fwd {
	struct vnet_drv_pkt *rx[BURST];	     /* frames from the device */
	struct vnet_drv_pkt *pending[BURST]; /* frames read from the TAP, not yet taken */
	bool pending_gso[BURST];
	uint32_t pending_len[BURST];
	unsigned npending;
	/* Fresh packets the next TAP read fills: nseg of them hold a
	 * VT_FRAME_MAX frame. */
	struct vnet_drv_pkt *slots[VNET_DRV_MAX_SEGS];
	unsigned nslots, nseg;
	uint32_t seg_room;
	struct iovec iov[VNET_DRV_MAX_SEGS + 2];    /* header, segments, overflow byte */
	struct vnet_drv_queue_stats lib_rx, lib_tx; /* the library's, last seen */
	bool tap_gone; /* the queue failed: the TAP is no longer read */
};

/* The TAP queue failed (the interface was deleted, e.g. with its
 * namespace: reads fail with EBADFD and poll reports POLLERR forever): stop
 * reading it and tell the main thread, once. */
static void tap_gone(struct vt_worker *w, struct vt_fwd *f)
{
	uint64_t one = 1;

	if (f->tap_gone)
		return;
	f->tap_gone = true;
	if (write(w->gone_fd, &one, sizeof(one)) < 0)
		return; /* the counter is full: the main thread knows already */
}

/* Raise a one-writer counter to @v (base/counter.h). */
static inline void counter_max(uint64_t *c, uint64_t v)
{
	if (v > counter_get(c))
		__atomic_store_n(c, v, __ATOMIC_RELAXED);
}

/* ---- device -> TAP ---- */

static void write_frame(struct vt_worker *w, const struct vnet_drv_pkt *pkt)
{
	struct vt_dir_stats *s = &w->stats->rx;
	struct iovec iov[VNET_DRV_MAX_SEGS + 1]; /* the header, then the segments */
	const struct vnet_drv_pkt *seg = pkt;
	struct virtio_net_hdr_v1 h;
	unsigned k = 1;
	ssize_t r;

	vt_hdr_from_offload(&h, &pkt->ol);
	vt_data_valid_to_partial(&h, pkt->data, pkt->len);
	iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	/* a frame has at most VNET_DRV_MAX_SEGS segments: iov holds them */
	do {
		if (seg->len)
			iov[k++] = (struct iovec){.iov_base = seg->data, .iov_len = seg->len};
		seg = seg->next;
	} while (seg && k < ARRAY_SIZE(iov));
	do
		r = writev(w->tap_fd, iov, (int)k);
	while (r < 0 && errno == EINTR);
	/* EIO while the interface is down, EINVAL for a header the kernel
	 * refuses: the frame is lost either way. */
	if (r < 0) {
		counter_add(&s->drops, 1);
		return;
	}
	counter_add(&s->packets, 1);
	counter_add(&s->bytes, pkt->pkt_len);
	if (pkt->ol.gso_type != VNET_DRV_GSO_NONE)
		counter_add(&s->gso, 1);
	counter_max(&s->max_frame, pkt->pkt_len);
}

static unsigned device_to_tap(struct vt_worker *w, struct vt_fwd *f)
{
	unsigned n = vnet_drv_rx_burst(w->drv, w->qp, f->rx, BURST);

	for (unsigned i = 0; i < n; i++)
		write_frame(w, f->rx[i]);
	vnet_drv_pkt_free_bulk(f->rx, n);
	return n;
}

/* ---- TAP -> device ---- */

/* Top the slots up to nseg fresh packets; when the pool is short, take
 * back what the device has transmitted first. Return: true when full. */
static bool fill_slots(struct vt_worker *w, struct vt_fwd *f)
{
	for (int pass = 0; pass < 2 && f->nslots < f->nseg; pass++) {
		if (pass)
			vnet_drv_tx_reap(w->drv, w->qp);
		f->nslots += vnet_drv_pkt_alloc_bulk(w->drv, w->qp, f->slots + f->nslots,
						     f->nseg - f->nslots);
	}
	return f->nslots == f->nseg;
}

/* Spread @len frame bytes over the first slots and chain them. Return:
 * the slots used. */
static unsigned chain_slots(struct vt_fwd *f, uint32_t len)
{
	unsigned used = 0;

	while (len) {
		struct vnet_drv_pkt *seg = f->slots[used++];

		seg->len = len < f->seg_room ? len : f->seg_room;
		len -= seg->len;
		seg->next = len ? f->slots[used] : NULL;
	}
	return used;
}

/* Put @used chained slots back as fresh packets (len 0, no next, no offload). */
static void unchain_slots(struct vt_fwd *f, unsigned used)
{
	for (unsigned i = 0; i < used; i++) {
		f->slots[i]->len = 0;
		f->slots[i]->next = NULL;
	}
	f->slots[0]->ol = (struct vnet_drv_offload){0};
}

enum { READ_NONE, READ_FRAME, READ_DROPPED };

/* One frame from the TAP into the slots, then onto the pending list. */
static int read_frame(struct vt_worker *w, struct vt_fwd *f)
{
	struct virtio_net_hdr_v1 h;
	struct vnet_drv_pkt *head;
	unsigned k, used;
	uint32_t len;
	uint8_t over;
	ssize_t r;

	if (f->tap_gone || !fill_slots(w, f))
		return READ_NONE;
	f->iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	for (k = 0; k < f->nseg; k++)
		f->iov[k + 1] =
			(struct iovec){.iov_base = f->slots[k]->data, .iov_len = f->seg_room};
	/* tun cuts a frame longer than the buffers without saying so: a
	 * byte past them tells. */
	f->iov[k + 1] = (struct iovec){.iov_base = &over, .iov_len = 1};
	do
		r = readv(w->tap_fd, f->iov, (int)k + 2);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			tap_gone(w, f);
		return READ_NONE;
	}
	if ((size_t)r <= sizeof(h) || (size_t)r - sizeof(h) > (size_t)f->nseg * f->seg_room) {
		counter_add(&w->stats->tx.drops, 1);
		return READ_DROPPED;
	}
	len = (uint32_t)((size_t)r - sizeof(h));
	used = chain_slots(f, len);
	head = f->slots[0];
	if (vt_offload_from_hdr(&head->ol, &h, len, w->tun_offloads) < 0) {
		unchain_slots(f, used);
		counter_add(&w->stats->tx.drops, 1);
		return READ_DROPPED;
	}
	f->pending_gso[f->npending] = head->ol.gso_type != VNET_DRV_GSO_NONE;
	f->pending_len[f->npending] = len;
	f->pending[f->npending++] = head;
	f->nslots -= used;
	memmove(f->slots, f->slots + used, f->nslots * sizeof(f->slots[0]));
	return READ_FRAME;
}

static unsigned tap_to_device(struct vt_worker *w, struct vt_fwd *f)
{
	unsigned moved = 0, took, gso = 0;
	uint32_t max = 0;

	while (f->npending == 0 || (f->npending < BURST && moved)) {
		int r = read_frame(w, f);

		if (r == READ_NONE)
			break;
		moved++;
	}
	if (f->npending == 0)
		return moved;
	took = vnet_drv_tx_burst(w->drv, w->qp, f->pending, f->npending);
	for (unsigned i = 0; i < took; i++) {
		gso += f->pending_gso[i];
		max = f->pending_len[i] > max ? f->pending_len[i] : max;
	}
	counter_add(&w->stats->tx.gso, gso);
	counter_max(&w->stats->tx.max_frame, max);
	f->npending -= took;
	memmove(f->pending, f->pending + took, f->npending * sizeof(f->pending[0]));
	memmove(f->pending_gso, f->pending_gso + took, f->npending * sizeof(f->pending_gso[0]));
	memmove(f->pending_len, f->pending_len + took, f->npending * sizeof(f->pending_len[0]));
	return moved + took;
}

/* The library counts what it transmitted and what it refused (tx) and the
 * bad frames a device handed it (rx); add what is new to ours. */
static void sync_lib_stats(struct vt_worker *w, struct vt_fwd *f)
{
	struct vnet_drv_queue_stats rx, tx;
	struct vt_pair_stats *s = w->stats;

	vnet_drv_queue_stats(w->drv, w->qp, &rx, &tx);
	counter_add(&s->tx.packets, tx.packets - f->lib_tx.packets);
	counter_add(&s->tx.bytes, tx.bytes - f->lib_tx.bytes);
	counter_add(&s->tx.drops, tx.drops - f->lib_tx.drops);
	counter_add(&s->rx.drops, rx.drops - f->lib_rx.drops);
	f->lib_rx = rx;
	f->lib_tx = tx;
}

/* Nothing moved: sleep until the device, the TAP or a stop wakes us. */
static void sleep_until_work(struct vt_worker *w, struct vt_fwd *f)
{
	struct timespec retry = {0, TX_RETRY_NS};
	bool can_read = !f->tap_gone && f->npending == 0 && fill_slots(w, f);
	struct pollfd p[3] = {
		{.fd = w->stop_fd, .events = POLLIN},
		{.fd = vnet_drv_rx_fd(w->drv, w->qp), .events = POLLIN},
		{.fd = w->tap_fd, .events = POLLIN},
	};

	if (vnet_drv_rx_arm(w->drv, w->qp) != 0)
		return; /* frames arrived meanwhile */
	(void)ppoll(p, can_read ? 3 : 2, can_read ? NULL : &retry, NULL);
	vnet_drv_rx_disarm(w->drv, w->qp);
	if (can_read && (p[2].revents & (POLLERR | POLLHUP | POLLNVAL)))
		tap_gone(w, f);
}

static void *worker_main(void *arg)
{
	struct vt_worker *w = arg;
	struct vt_fwd *f = w->fwd;

	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		unsigned moved = device_to_tap(w, f);

		moved += tap_to_device(w, f);
		if (moved)
			sync_lib_stats(w, f);
		else
			sleep_until_work(w, f);
	}
	sync_lib_stats(w, f);
	vnet_drv_pkt_free_bulk(f->pending, f->npending);
	vnet_drv_pkt_free_bulk(f->slots, f->nslots);
	f->npending = f->nslots = 0;
	return NULL;
}

/* How many fresh packets hold VT_FRAME_MAX bytes: measured on one. */
static int size_slots(struct vt_worker *w, struct vt_fwd *f)
{
	struct vnet_drv_pkt *p = vnet_drv_pkt_alloc(w->drv, w->qp);

	if (!p)
		return -ENOBUFS;
	f->seg_room = vnet_drv_pkt_tailroom(p);
	vnet_drv_pkt_free(p);
	f->nseg = (VT_FRAME_MAX + f->seg_room - 1) / f->seg_room;
	return f->nseg <= VNET_DRV_MAX_SEGS ? 0 : -EINVAL;
}

int vt_worker_start(struct vt_worker *w)
{
	int rc;

	w->fwd = calloc(1, sizeof(*w->fwd));
	if (!w->fwd)
		return -ENOMEM;
	/* Before the thread exists: the pool is this thread's until then. */
	rc = size_slots(w, w->fwd);
	if (rc == 0)
		rc = -pthread_create(&w->thread, NULL, worker_main, w);
	if (rc < 0) {
		free(w->fwd);
		w->fwd = NULL;
		return rc;
	}
	w->started = true;
	return 0;
}

void vt_worker_join(struct vt_worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
	free(w->fwd);
	w->fwd = NULL;
}
