/* SPDX-License-Identifier: MIT */
/*
 * The queue-pair workers of the virtio-net device.
 *
 * Theory of operation. Each queue pair k (receiveq 2k, transmitq 2k+1,
 * VIRTIO 1.2 §5.1.2) has one thread, created on the pair's first
 * queue_start and joined when the device is reset or freed. A turn runs
 * the transmit path then the receive path (net_dev_tx_turn, net_dev_rx_turn), each
 * bounded by a burst. When a turn finds no work the worker busy-polls for
 * cfg.poll_us, then prepares to sleep: it re-enables kicks on the rings it
 * waits on (vq_enable_kicks() reports work that raced in: then it polls
 * again instead of sleeping, §2.7.10) and poll()s on
 *   - the transmitq kick fd,
 *   - the receiveq kick fd only while it waits for receive buffers,
 *   - the backend's rx_fd(k) only while receive buffers exist (a guest
 *     without buffers leaves the frames in the backend),
 *   - an eventfd the control thread signals for pause and quit,
 * with a timeout for rate-limiter waits and for fds that do not exist
 * (NOFD kicks, a backend that must be polled).
 *
 * Pause handshake: the control thread sets pause_req, signals the eventfd
 * and waits on a condition variable until the worker, at the top of its
 * loop (no chain in flight, nothing of the rings in use), reports paused.
 * The control thread then edits the worker's ring fields or published
 * state, and resume lets it go.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/efd.h"
#include "net_dev/net_dev_internal.h"

void net_dev_ring_broken(struct net_dev_worker *w, struct net_dev_ring *r, int err)
{
	struct net_dev *d = w->d;

	counter_add(&d->stats[r->index].errors, 1);
	r->broken = true;
	if (d->vb)
		vu_backend_vring_error(d->vb, r->index);
	vqnet_log(VQNET_LOG_ERROR, "virtio-net", "queue %u broken: %s; not served until restarted",
		  r->index, vq_strerror(err));
}

void net_dev_ring_notify(struct net_dev_worker *w, struct net_dev_ring *r)
{
	struct net_dev_queue_stats *s = &w->d->stats[r->index];

	if (vq_notify_prepare(r->vq)) {
		efd_signal(r->call_fd);
		counter_add(&s->notify_sent, 1);
	} else {
		counter_add(&s->notify_suppressed, 1);
	}
}

/* ------------------------------------------------------------------------
 * Pause handshake
 * ------------------------------------------------------------------------ */

void net_dev_worker_pause(struct net_dev_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->pause_req, true);
	efd_signal(w->wake_fd);
	while (!w->paused)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void net_dev_worker_resume(struct net_dev_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->pause_req, false);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void kicks_off(struct net_dev_ring *r);

/* Worker side: park until resumed (or told to quit). */
static void worker_park(struct net_dev_worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->paused = true;
	pthread_cond_broadcast(&w->cond);
	while (atomic_load(&w->pause_req) && !atomic_load(&w->quit))
		pthread_cond_wait(&w->cond, &w->lock);
	w->paused = false;
	pthread_mutex_unlock(&w->lock);
	/* Rings may have changed: start over with kicks off, written into
	 * the rings — a fresh ring asks for every kick (packed: flags 0 is
	 * ENABLE, §2.8.10), which would cost the driver a system call per
	 * burst while we poll. */
	w->tx.kicks_on = w->rx.kicks_on = true;
	kicks_off(&w->tx);
	kicks_off(&w->rx);
	w->rx_waiting = false;
	w->rx_be_quiet = false;
}

void net_dev_worker_sync(struct net_dev_worker *w)
{
	struct net_dev *d = w->d;

	w->features = d->features;
	w->guest_offloads = d->guest_offloads;
	w->mtu = d->mtu;
	memcpy(&w->filter, &d->filter, sizeof(w->filter));
	w->cap = d->cap_rings[w->pair];
}

/* ------------------------------------------------------------------------
 * The loop
 * ------------------------------------------------------------------------ */

static bool ring_served(const struct net_dev_worker *w, const struct net_dev_ring *r)
{
	return w->active && r->vq && !r->broken;
}

static void kicks_off(struct net_dev_ring *r)
{
	if (r->kicks_on && r->vq && !r->broken)
		vq_disable_kicks(r->vq);
	r->kicks_on = false;
}

/* Enable kicks on @r before sleeping; true when work raced in. */
static bool kicks_on(struct net_dev_ring *r)
{
	r->kicks_on = true;
	return vq_enable_kicks(r->vq);
}

/*
 * The receive ring waits for buffers: none were posted, or a frame needs
 * more than every one posted (they were given back, so they still look
 * available). Kicks on for buffers beyond those; true when more came.
 * Asking vq_enable_kicks() instead would report the given-back chains as
 * new work, and a guest posting too few buffers would pin this thread.
 */
static bool kicks_on_for_more(struct net_dev_ring *r)
{
	r->kicks_on = true;
	return vq_enable_kicks_for_more(r->vq);
}

/* Milliseconds until the earlier of two deadlines (0 = none) from @now;
 * -1 when neither is set. */
static int wait_ms(uint64_t a, uint64_t b, uint64_t now)
{
	uint64_t t = a && (!b || a < b) ? a : b;

	if (!t)
		return -1;
	if (t <= now)
		return 0;
	return (int)((t - now + 999999u) / 1000000u);
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* Sleep until a kick, a backend frame, a wake-up or a deadline. */
static void worker_sleep(struct net_dev_worker *w)
{
	struct net_dev *d = w->d;
	struct pollfd pfd[4];
	unsigned n = 0, i_txk = ~0u, i_rxk = ~0u, i_be = ~0u;
	uint64_t now = clock_mono_ns();
	int timeout = wait_ms(w->tx_wait_until, w->rx_wait_until, now);
	bool tx = ring_served(w, &w->tx), rx = ring_served(w, &w->rx);

	pfd[n++] = (struct pollfd){.fd = w->wake_fd, .events = POLLIN};
	if (tx && !w->tx_wait_until) {
		if (w->tx.kick_fd >= 0) {
			i_txk = n;
			pfd[n++] = (struct pollfd){.fd = w->tx.kick_fd, .events = POLLIN};
		} else {
			timeout = min_timeout(timeout, NET_DEV_POLL_FALLBACK_MS);
		}
	}
	if (rx && w->rx_waiting) {
		if (w->rx.kick_fd >= 0) {
			i_rxk = n;
			pfd[n++] = (struct pollfd){.fd = w->rx.kick_fd, .events = POLLIN};
		} else {
			timeout = min_timeout(timeout, NET_DEV_POLL_FALLBACK_MS);
		}
	} else if (rx && !w->rx_wait_until) {
		int fd = d->be->ops->rx_fd ? d->be->ops->rx_fd(d->be, w->pair) : -1;

		if (fd >= 0) {
			i_be = n;
			pfd[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
		} else {
			timeout = min_timeout(timeout, NET_DEV_POLL_FALLBACK_MS);
		}
	}
	if (poll(pfd, n, timeout) < 0)
		return;
	counter_add(&d->stats[w->tx.index].wakeups, 1);
	counter_add(&d->stats[w->rx.index].wakeups, 1);
	if (pfd[0].revents & POLLIN)
		efd_drain(w->wake_fd);
	/* Woken by something else: the backend had nothing then, so the next
	 * receive turn need not ask it (a frame arriving since is read the
	 * turn after, or wakes the next poll()). */
	w->rx_be_quiet = i_be != ~0u && !(pfd[i_be].revents & POLLIN);
	if (i_txk != ~0u && (pfd[i_txk].revents & POLLIN) && efd_drain(w->tx.kick_fd) > 0)
		counter_add(&d->stats[w->tx.index].kicks, 1);
	if (i_rxk != ~0u && (pfd[i_rxk].revents & POLLIN) && efd_drain(w->rx.kick_fd) > 0)
		counter_add(&d->stats[w->rx.index].kicks, 1);
}

/* Nothing was done this turn: re-enable kicks; true when it is safe to
 * sleep (no work raced in). */
static bool worker_prepare_sleep(struct net_dev_worker *w)
{
	bool raced = false;

	if (ring_served(w, &w->tx) && !w->tx_wait_until)
		raced |= kicks_on(&w->tx);
	if (ring_served(w, &w->rx) && w->rx_waiting)
		raced |= kicks_on_for_more(&w->rx);
	if (raced) {
		kicks_off(&w->tx);
		kicks_off(&w->rx);
		w->rx_waiting = false;
	}
	return !raced;
}

/* Name the thread and let the program confine it (vqnet/thread.h) before
 * it reads a ring. */
static void worker_enter(const struct net_dev_worker *w)
{
	const struct vqnet_thread_hook *hook = &w->d->cfg.thread_hook;
	char name[16];

	snprintf(name, sizeof(name), "vqnet-pair%u", w->pair);
	pthread_setname_np(pthread_self(), name);
	if (hook->start)
		hook->start(hook->opaque, VQNET_THREAD_WORKER, name);
}

static void *worker_main(void *p)
{
	struct net_dev_worker *w = p;
	/* Clock at the first idle turn in a row (0 while busy); polling reads
	 * the clock every 32 idle turns only, and busy turns never: a vDSO
	 * clock_gettime() costs more than an idle turn. */
	uint64_t idle_since = 0;
	unsigned idle_turns = 0;

	worker_enter(w);

	while (!atomic_load_explicit(&w->quit, memory_order_relaxed)) {
		unsigned done = 0;

		if (atomic_load_explicit(&w->pause_req, memory_order_acquire)) {
			worker_park(w);
			continue;
		}
		if (ring_served(w, &w->tx))
			done += net_dev_tx_turn(w);
		if (ring_served(w, &w->rx))
			done += net_dev_rx_turn(w);
		if (done) {
			idle_since = 0;
			continue;
		}
		if (w->d->cfg.poll_us) {
			if (!idle_since) {
				idle_since = clock_mono_ns();
				idle_turns = 0;
			}
			if ((++idle_turns & 31) ||
			    clock_mono_ns() - idle_since < w->d->cfg.poll_us * 1000ull) {
				cpu_relax();
				continue;
			}
		}
		if (!worker_prepare_sleep(w))
			continue;
		worker_sleep(w);
		kicks_off(&w->tx);
		kicks_off(&w->rx);
		idle_since = 0;
	}
	/* Let a control thread waiting for the handshake go. */
	pthread_mutex_lock(&w->lock);
	w->paused = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

static void worker_free_buffers(struct net_dev_worker *w)
{
	free(w->tx_elems);
	free(w->tx_iov);
	free(w->tx_tail);
	free(w->tx_pkts);
	free(w->tx_used);
	free(w->tx_lin);
	for (unsigned i = 0; i < NET_DEV_TX_SEGS; i++)
		free(w->tx_seg[i]);
	for (unsigned i = 0; i < NET_DEV_BURST; i++)
		free(w->rx_bounce[i]);
	free(w->rx_bufs);
	free(w->rx_elems);
	free(w->rx_iov);
	free(w->rx_used);
	free(w->rx_seg);
	free(w->rxd_elems);
	free(w->rxd_iov);
	free(w->rxd_chains);
	free(w->rxd_frames);
}

/* Zero-copy receive's arrays, for a backend that has it (net_dev_rx.c). */
static int worker_alloc_direct(struct net_dev_worker *w)
{
	const unsigned n = NET_DEV_RX_DIRECT_CHAINS;

	if (!w->d->be->ops->rx_direct)
		return 0;
	w->rxd_elems = calloc(n, sizeof(*w->rxd_elems));
	w->rxd_iov = calloc((size_t)n * NET_DEV_RX_BATCH_IOV, sizeof(*w->rxd_iov));
	w->rxd_chains = calloc(n, sizeof(*w->rxd_chains));
	w->rxd_frames = calloc(n, sizeof(*w->rxd_frames));
	if (!w->rxd_elems || !w->rxd_iov || !w->rxd_chains || !w->rxd_frames)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		w->rxd_elems[i] =
			(struct vq_elem){.iov = w->rxd_iov + (size_t)i * NET_DEV_RX_BATCH_IOV,
					 .iov_cap = NET_DEV_RX_BATCH_IOV};
	w->rxd_want = NET_DEV_RX_DIRECT_MIN;
	return 0;
}

/* Everything the data paths use, allocated once: no allocation per frame. */
static int worker_alloc_buffers(struct net_dev_worker *w)
{
	bool ok = true;

	w->tx_elems = calloc(NET_DEV_BURST, sizeof(*w->tx_elems));
	w->tx_iov = calloc((size_t)NET_DEV_BURST * NET_DEV_TX_IOV_CAP, sizeof(*w->tx_iov));
	w->tx_tail = calloc((size_t)NET_DEV_BURST * NET_DEV_TX_IOV_CAP, sizeof(*w->tx_tail));
	w->tx_pkts = calloc(NET_DEV_BURST, sizeof(*w->tx_pkts));
	w->tx_used = calloc(NET_DEV_BURST, sizeof(*w->tx_used));
	w->tx_lin = malloc(NET_DEV_FRAME_MAX);
	ok = w->tx_elems && w->tx_iov && w->tx_tail && w->tx_pkts && w->tx_used && w->tx_lin;
	for (unsigned i = 0; i < NET_DEV_TX_SEGS; i++)
		ok &= (w->tx_seg[i] = malloc(NET_DEV_FRAME_MAX)) != NULL;
	for (unsigned i = 0; i < NET_DEV_BURST; i++)
		ok &= (w->rx_bounce[i] = malloc(NET_DEV_FRAME_MAX)) != NULL;
	w->rx_bufs = calloc(NET_DEV_BURST, sizeof(*w->rx_bufs));
	w->rx_elems = calloc(NET_DEV_BURST + NET_DEV_RX_MAX_CHAINS, sizeof(*w->rx_elems));
	w->rx_iov = calloc((size_t)NET_DEV_BURST * NET_DEV_RX_BATCH_IOV + NET_DEV_RX_IOV_POOL,
			   sizeof(*w->rx_iov));
	w->rx_used = calloc(NET_DEV_RX_MAX_CHAINS, sizeof(*w->rx_used));
	w->rx_seg = malloc(NET_DEV_FRAME_MAX);
	ok &= w->rx_bufs && w->rx_elems && w->rx_iov && w->rx_used && w->rx_seg;
	if (!ok)
		return -ENOMEM;
	for (unsigned i = 0; i < NET_DEV_BURST; i++)
		w->tx_elems[i] = (struct vq_elem){.iov = w->tx_iov + (size_t)i * NET_DEV_TX_IOV_CAP,
						  .iov_cap = NET_DEV_TX_IOV_CAP};
	/* The backend's receive descriptors never change (net_dev_rx.c). */
	for (unsigned i = 0; i < NET_DEV_BURST; i++)
		w->rx_bufs[i] =
			(struct netbe_rxbuf){.data = w->rx_bounce[i], .cap = NET_DEV_FRAME_MAX};
	return worker_alloc_direct(w);
}

int net_dev_worker_new(struct net_dev *d, unsigned pair, struct net_dev_worker **out)
{
	struct net_dev_worker *w = calloc(1, sizeof(*w));
	uint64_t now = clock_mono_ns();
	int rc;

	if (!w)
		return -ENOMEM;
	w->d = d;
	w->pair = pair;
	w->rx = (struct net_dev_ring){.index = 2 * pair, .kick_fd = -1, .call_fd = -1};
	w->tx = (struct net_dev_ring){.index = 2 * pair + 1, .kick_fd = -1, .call_fd = -1};
	net_dev_limiter_init(&w->rl_tx, &d->cfg.tx_rate, now);
	net_dev_limiter_init(&w->rl_rx, &d->cfg.rx_rate, now);
	w->rx_limited = !net_dev_limiter_unlimited(&w->rl_rx);
	net_dev_worker_sync(w);
	rc = worker_alloc_buffers(w);
	if (rc < 0)
		goto err_buffers;
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0) {
		rc = -errno;
		goto err_buffers;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc) {
		rc = -rc;
		goto err_thread;
	}
	*out = w;
	return 0;

err_thread:
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	close(w->wake_fd);
err_buffers:
	worker_free_buffers(w);
	free(w);
	return rc;
}

void net_dev_worker_free(struct net_dev_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->quit, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	efd_signal(w->wake_fd);
	pthread_join(w->thread, NULL);
	gmem_table_put(w->mem);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	close(w->wake_fd);
	worker_free_buffers(w);
	free(w);
}
