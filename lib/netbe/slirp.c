/* SPDX-License-Identifier: MIT */
/*
 * The `slirp` backend: user-mode networking through libslirp (NAT to the
 * host's sockets, DHCP, DNS, hostfwd), so a user without root gets a
 * working VM network. QEMU's defaults: 10.0.2.0/24, gateway/host
 * 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15, IPv6 fec0::/64. vqnetd's
 * default, `user`, is the socket translator of nat/; libslirp stays
 * available as `slirp`.
 *
 * Theory of operation
 *
 * libslirp is not thread-safe, so every libslirp call after setup is made
 * on one thread of ours, the slirp thread ("vqnet-slirp", all signals
 * blocked). It loops:
 *
 *   drain the tx queues -> slirp_input() for each guest frame
 *   fire due timers -> write the rx eventfds of pairs that got frames
 *   slirp_pollfds_fill(&timeout) -> poll(wake eventfd + slirp's sockets)
 *   -> slirp_pollfds_poll()
 *
 * Guest -> slirp (tx): the device's worker for queue pair q copies each
 * frame into pair q's tx queue (single producer: that worker; single
 * consumer: the slirp thread). It writes the wake eventfd only when the
 * slirp thread is (about to be) asleep in poll(): a store/fence/load
 * handshake on `sleeping` (slirp_thread()) makes a lost wake-up impossible
 * and a busy slirp thread costs tx() no syscall. We chose queues over
 * "take a mutex around slirp_input() on the worker" because slirp_input()
 * calls back into send_packet, arms timers and opens sockets while the
 * slirp thread sits in poll() on a stale fd set; with one thread owning
 * libslirp none of that needs reasoning about, and a worker never blocks
 * behind slirp's socket I/O. The price is one copy (slirp copies into its
 * own mbuf anyway). A full queue drops the frame (tx_dropped); TCP in the
 * guest retransmits. An IPv4 fragment from the guest never reaches
 * libslirp: libslirp 4.7's reassembly (ip_reass()) follows a wild pointer
 * on fragments that come out of order or with one lost and an ID reused,
 * which any guest can send (vqnetd died of SIGBUS / SIGSEGV within a few
 * hundred such fragments). They are dropped, counted (tx_dropped) and
 * logged once; the user backend reassembles fragments itself. The slirp
 * thread takes at most one queue's worth from each queue per turn, so
 * flooding workers cannot starve slirp's sockets.
 *
 * Slirp -> guest (rx): send_packet (on the slirp thread) picks a queue pair
 * by a flow hash of the IP addresses and ports (pair 0 when one pair is
 * active or the frame is not unfragmented TCP/UDP), copies the frame into
 * that pair's rx queue (single producer: the slirp thread; single consumer:
 * worker q) and marks the pair; once per loop turn the slirp thread writes
 * the rx eventfd (rx_fd(q)) of each marked pair. A full queue drops the
 * frame (rx_dropped). rx(q) clears the eventfd only when it finds the queue
 * empty, then looks again, so "queue not empty" always implies "rx_fd(q)
 * readable (or about to be)". When set_queue_pairs() lowers the count,
 * frames already queued on the higher pairs wait there until those pairs
 * come back (or free()).
 *
 * libslirp gets the device's MTU up to SLIRP_IF_MTU_MAX (16384): larger
 * TCP segments make its TCP wait for its 5 s persist timer (see there).
 * Both queues are preallocated (tx slots of mtu + 18 bytes, rx slots of
 * slirp's MTU + 18, 128 tx and 256 rx slots, fewer for a large MTU); tx()
 * and rx() do not allocate. One slirp thread gains nothing from many
 * pairs, so an instance serves at most 16.
 * Timers (timer_new_opaque, SlirpConfig version 4) are a small list
 * touched only by the slirp thread.
 *
 * caps() is 0: slirp wants complete frames, so the device finishes
 * checksums and segmentation in software before tx(), and rx() produces
 * complete frames with zero metadata. The guest's MAC is not configured:
 * slirp learns it from the guest's frames (ARP, DHCP), as in QEMU.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <libslirp.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/efd.h"
#include "base/iov.h"
#include "vqnet/log.h"
#include "vqnet/netbe.h"

#include "netbe_internal.h"
#include "spec/ethernet.h"
#include "spec/virtio_net.h"

#define SLIRP_MTU_MIN	  68	     /* libslirp IF_MTU_MIN */
#define SLIRP_MTU_MAX	  65521	     /* libslirp IF_MTU_MAX */
#define SLIRP_FQ_BYTES	  (1u << 20) /* at most this many bytes per queue... */
#define SLIRP_FQ_MIN	  32	     /* ...unless a queue would get fewer slots */
#define SLIRP_RX_SLOTS	  256	     /* slirp bursts a TCP window at a time */
#define SLIRP_TX_SLOTS	  128	     /* the slirp thread drains every turn */
#define SLIRP_MAX_PAIRS	  16	     /* one slirp thread: more pairs buy nothing */
#define SLIRP_POLLFD_INIT 64
#define SLIRP_THREAD_NAME "vqnet-slirp"
/*
 * The largest MTU libslirp is configured with, so that its TCP segments
 * (it sends at most if_mtu - 40 bytes and offers that as its MSS) stay at
 * 16 KiB. libslirp has no window scaling, so a window is at most 64 KiB,
 * and it is a BSD sender: into a window smaller than one segment and than
 * half the largest window ever offered it sends only when its persist
 * timer fires, after 5 s. With 32 KiB segments (its cap, from an MTU of
 * 32808 up) a Linux guest keeps offering 32712 bytes, and a download stalls
 * for 5 or 10 s with nothing lost; as a receiver it announces a reopened
 * window only once it grew by two segments, more than 64 KiB. A Linux
 * guest's windows hold a 16 KiB segment. Larger frames from the guest are
 * still taken: slirp fragments IPv4 it sends beyond this and answers
 * larger IPv6 packets with Packet Too Big. docs/vqnetd.md "The slirp backend".
 */
#define SLIRP_IF_MTU_MAX 16384
/* The largest frame is the MTU plus an Ethernet header and one VLAN tag. */
#define SLIRP_FRAME_EXTRA (ETH_HDR_LEN + ETH_VLAN_TAG_LEN)

/*
 * One single-producer single-consumer queue of frames. head is written only
 * by the consumer, tail only by the producer; both are free-running.
 */
struct frame_queue {
	uint8_t *slots;	   /* nslots * stride bytes */
	uint32_t nslots;   /* power of two */
	uint32_t stride;   /* bytes per slot: a uint32_t length, then the frame */
	uint32_t slot_cap; /* largest frame a slot holds */
	_Alignas(VQNET_CACHELINE) _Atomic uint32_t head; /* consumer */
	_Alignas(VQNET_CACHELINE) _Atomic uint32_t tail; /* producer */
};

struct slirp_pair {
	struct frame_queue tx; /* producer: worker q; consumer: slirp thread */
	struct frame_queue rx; /* producer: slirp thread; consumer: worker q */
	int rx_efd;	       /* rx_fd(q) */
	bool rx_signal;	       /* slirp thread only: frames pushed this turn */
	/* Counters, read by get_stats. tx_dropped: worker q. rx_dropped: the
	 * slirp thread (queue full) and worker q (buffer too small), hence
	 * atomic increments rather than counter_add()'s single writer. */
	_Atomic uint64_t tx_dropped;
	_Atomic uint64_t rx_dropped;
};

/* A libslirp timer (timer_new_opaque); slirp thread only. */
struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

struct slirp_be {
	struct netbe be;
	Slirp *slirp;
	struct slirp_pair *pairs;      /* be.max_queue_pairs of them */
	_Atomic unsigned active_pairs; /* set_queue_pairs; read by the slirp thread */
	int wake_efd;		       /* wakes the slirp thread */
	/* The slirp thread is in (or about to enter) poll(): tx() must write
	 * wake_efd. See slirp_thread() for the handshake. */
	_Atomic bool sleeping;
	_Atomic bool stop;
	pthread_t thread;
	bool thread_running;
	struct vqnet_thread_hook hook; /* netbe_options.thread_hook */
	sem_t started;		       /* start_thread(): the hook has run */
	/* Slirp thread only: */
	struct slirp_timer *timers;
	struct pollfd *pfds;
	unsigned npfds, pfds_cap;
	struct vqnet_log_limit guest_error_limit; /* cb_guest_error: one line a second */
};

static inline struct slirp_be *to_sb(struct netbe *be)
{
	return be->priv;
}

/* ---- frame queues ------------------------------------------------------- */

/**
 * fq_init() - allocate a queue of up to @nslots frames of up to @slot_cap
 * bytes (fewer slots when they would take more than SLIRP_FQ_BYTES).
 * Return: 0 or -ENOMEM.
 */
static int fq_init(struct frame_queue *r, uint32_t nslots, uint32_t slot_cap)
{
	uint32_t stride = (uint32_t)((sizeof(uint32_t) + slot_cap + 63) & ~63u);
	uint32_t n = nslots;

	while (n > SLIRP_FQ_MIN && (uint64_t)n * stride > SLIRP_FQ_BYTES)
		n /= 2;
	r->slots = calloc(n, stride);
	if (!r->slots)
		return -ENOMEM;
	r->nslots = n;
	r->stride = stride;
	r->slot_cap = slot_cap;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

static void fq_fini(struct frame_queue *r)
{
	free(r->slots);
	r->slots = NULL;
}

static inline uint8_t *fq_slot(const struct frame_queue *r, uint32_t idx)
{
	return r->slots + (size_t)(idx & (r->nslots - 1)) * r->stride;
}

/* Producer: the slot to fill next, or NULL when the queue is full. */
static inline uint8_t *fq_prod_slot(struct frame_queue *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (tail - head >= r->nslots)
		return NULL;
	return fq_slot(r, tail);
}

/* Producer: publish the slot returned by fq_prod_slot() with @len bytes. */
static inline void fq_prod_commit(struct frame_queue *r, uint8_t *slot, uint32_t len)
{
	memcpy(slot, &len, sizeof(len));
	atomic_store_explicit(&r->tail, atomic_load_explicit(&r->tail, memory_order_relaxed) + 1,
			      memory_order_release);
}

/* Consumer: the oldest frame (its length in *@len), or NULL when empty. */
static inline const uint8_t *fq_cons_slot(struct frame_queue *r, uint32_t *len)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	const uint8_t *slot;

	if (head == tail)
		return NULL;
	slot = fq_slot(r, head);
	memcpy(len, slot, sizeof(*len));
	return slot + sizeof(uint32_t);
}

/* Consumer: release the slot returned by fq_cons_slot(). */
static inline void fq_cons_release(struct frame_queue *r)
{
	atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + 1,
			      memory_order_release);
}

static inline bool fq_empty(struct frame_queue *r)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed) ==
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

static inline void shared_counter_inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---- flow hash (slirp -> guest) ----------------------------------------- */

static inline uint32_t hash_mix(uint32_t h, uint32_t v)
{
	h ^= v;
	h *= 0x9e3779b1u;
	return h ^ (h >> 15);
}

static inline uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/**
 * flow_hash() - hash the addresses and ports of an IPv4/IPv6 TCP or UDP
 * frame (Ethernet header first, any length).
 * Return: the hash, or 0 for anything else (ARP, ICMP, fragments, IPv6
 * extension headers).
 */
static uint32_t flow_hash(const uint8_t *f, size_t len)
{
	uint32_t h = 0x12345678u;
	const uint8_t *ip; /* the IP header */
	size_t l4, addr, alen;
	uint8_t proto;

	if (len < ETH_HDR_LEN)
		return 0;
	ip = f + ETH_HDR_LEN;
	if (eth_frame_type(f) == ETH_TYPE_IPV4) {
		if (len < ETH_HDR_LEN + 20 || (ip[0] >> 4) != 4)
			return 0;
		if ((ip[6] & 0x3f) || ip[7]) /* MF or an offset: a fragment */
			return 0;
		proto = ip[9];
		l4 = ETH_HDR_LEN + (size_t)(ip[0] & 0xf) * 4;
		addr = ETH_HDR_LEN + 12; /* source and destination address */
		alen = 8;
	} else if (eth_frame_type(f) == ETH_TYPE_IPV6) {
		if (len < ETH_HDR_LEN + 40)
			return 0;
		proto = ip[6]; /* next header */
		l4 = ETH_HDR_LEN + 40;
		addr = ETH_HDR_LEN + 8; /* source and destination address */
		alen = 32;
	} else {
		return 0;
	}
	if ((proto != 6 && proto != 17) || len < l4 + 4)
		return 0;
	for (size_t k = 0; k < alen; k += 4)
		h = hash_mix(h, be32_at(f + addr + k));
	h = hash_mix(h, be32_at(f + l4)); /* both ports */
	return hash_mix(h, proto);
}

/* ---- libslirp callbacks (on the slirp thread, or during setup) ---------- */

/* send_packet: a frame for the guest. Never fails: a frame that does not
 * fit is dropped like on a lossy wire (slirp's TCP retransmits). */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_be *sb = opaque;
	unsigned n = atomic_load_explicit(&sb->active_pairs, memory_order_relaxed);
	unsigned q = n > 1 ? flow_hash(buf, len) % n : 0;
	struct slirp_pair *p = &sb->pairs[q];
	uint8_t *slot;

	if (len > p->rx.slot_cap || !(slot = fq_prod_slot(&p->rx))) {
		shared_counter_inc(&p->rx_dropped);
		return (ssize_t)len;
	}
	memcpy(slot + sizeof(uint32_t), buf, len);
	fq_prod_commit(&p->rx, slot, (uint32_t)len);
	p->rx_signal = true;
	return (ssize_t)len;
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return (int64_t)clock_mono_ns();
}

/* guest_error: log, at most once a second (the guest controls the rate). */
static void cb_guest_error(const char *msg, void *opaque)
{
	struct slirp_be *sb = opaque;

	vqnet_log_limited(&sb->guest_error_limit, 1000, VQNET_LOG_WARN, "slirp", "guest error: %s",
			  msg);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_be *sb = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL; /* timer_mod/timer_free below accept NULL */
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = sb->timers;
	sb->timers = t;
	return t;
}

/* timer_new: only used by a libslirp that ignores timer_new_opaque. */
static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	(void)cb, (void)cb_opaque, (void)opaque;
	return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_be *sb = opaque;

	for (struct slirp_timer **pp = &sb->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

/* timer_mod: @expire_ms on the clock_get_ns() clock, in milliseconds. */
static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	if (timer)
		((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

/* The poll set is rebuilt from slirp_pollfds_fill() every turn, so fd
 * registration needs nothing, and neither does notify (slirp can take more
 * data): the next turn starts as soon as the current callback returns. */
static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd, (void)opaque;
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd, (void)opaque;
}

static void cb_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the slirp thread --------------------------------------------------- */

static short to_poll_events(int ev)
{
	short e = 0;

	if (ev & SLIRP_POLL_IN)
		e |= POLLIN;
	if (ev & SLIRP_POLL_OUT)
		e |= POLLOUT;
	if (ev & SLIRP_POLL_PRI)
		e |= POLLPRI;
	if (ev & SLIRP_POLL_ERR)
		e |= POLLERR;
	if (ev & SLIRP_POLL_HUP)
		e |= POLLHUP;
	return e;
}

/* add_poll: append to the poll set (entry 0 is our wake eventfd). */
static int cb_add_poll(int fd, int events, void *opaque)
{
	struct slirp_be *sb = opaque;

	if (sb->npfds == sb->pfds_cap) {
		unsigned cap = sb->pfds_cap * 2;
		struct pollfd *n = realloc(sb->pfds, cap * sizeof(*n));

		if (!n)
			return -1; /* not polled this turn; slirp treats -1 as "none" */
		sb->pfds = n;
		sb->pfds_cap = cap;
	}
	sb->pfds[sb->npfds] = (struct pollfd){.fd = fd, .events = to_poll_events(events)};
	return (int)sb->npfds++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct slirp_be *sb = opaque;
	short re;
	int ev = 0;

	if (idx < 1 || (unsigned)idx >= sb->npfds)
		return 0;
	re = sb->pfds[idx].revents;
	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* Feed the frames waiting in the tx queues to slirp_input(), at most one
 * queue's worth per queue per turn so that busy workers cannot starve
 * slirp's sockets and timers. */
static void drain_tx(struct slirp_be *sb)
{
	for (unsigned q = 0; q < sb->be.max_queue_pairs; q++) {
		struct frame_queue *r = &sb->pairs[q].tx;
		uint32_t budget = r->nslots, len;
		const uint8_t *f;

		while (budget-- && (f = fq_cons_slot(r, &len))) {
			/* The slot stays ours until released: no extra copy. */
			slirp_input(sb->slirp, f, (int)len);
			fq_cons_release(r);
		}
	}
}

/* Fire due timers. Return: ms until the next one, or UINT32_MAX. */
static uint32_t run_timers(struct slirp_be *sb)
{
	int64_t now = (int64_t)clock_mono_ms(), next = -1;
	bool fired;

	do {
		fired = false;
		for (struct slirp_timer *t = sb->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				/* May free or re-arm timers: restart the walk. */
				slirp_handle_timer(sb->slirp, t->id, t->cb_opaque);
				fired = true;
				break;
			}
		}
	} while (fired);
	for (struct slirp_timer *t = sb->timers; t; t = t->next)
		if (t->expire_ms >= 0 && (next < 0 || t->expire_ms < next))
			next = t->expire_ms;
	if (next < 0)
		return UINT32_MAX;
	return next - now >= (int64_t)UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)(next - now);
}

/* Signal the rx eventfd of every pair that got frames this turn. */
static void flush_rx_signals(struct slirp_be *sb)
{
	for (unsigned q = 0; q < sb->be.max_queue_pairs; q++) {
		struct slirp_pair *p = &sb->pairs[q];

		if (p->rx_signal) {
			p->rx_signal = false;
			efd_signal(p->rx_efd);
		}
	}
}

static bool tx_queues_empty(struct slirp_be *sb)
{
	for (unsigned q = 0; q < sb->be.max_queue_pairs; q++)
		if (!fq_empty(&sb->pairs[q].tx))
			return false;
	return true;
}

/*
 * libslirp and what the slirp thread allocated, released by that thread as
 * it ends (or by sb_free() when it never ran): freeing the last of a
 * thread's malloc arena may make glibc open /proc/sys/vm/overcommit_memory
 * (shrinking the heap), which the slirp thread's system call list allows
 * and the control thread's does not (docs/security.md).
 */
static void release_slirp(struct slirp_be *sb)
{
	if (sb->slirp)
		slirp_cleanup(sb->slirp); /* frees its timers through timer_free */
	sb->slirp = NULL;
	while (sb->timers) {
		struct slirp_timer *t = sb->timers;

		sb->timers = t->next;
		free(t);
	}
	free(sb->pfds); /* cb_add_poll() grows it */
	sb->pfds = NULL;
}

/*
 * The slirp thread. Wake-up handshake with tx(): we store sleeping = true,
 * fence, then look at the tx queues; tx() publishes its frames, fences, then
 * looks at sleeping. With both fences, either we see the frames (and do not
 * block) or tx() sees sleeping (and writes wake_efd), so no frame waits for
 * slirp's next timeout; while we are busy tx() makes no syscall.
 */
static void *slirp_thread(void *arg)
{
	struct slirp_be *sb = arg;

	pthread_setname_np(pthread_self(), SLIRP_THREAD_NAME);
	if (sb->hook.start)
		sb->hook.start(sb->hook.opaque, VQNET_THREAD_BACKEND, SLIRP_THREAD_NAME);
	sem_post(&sb->started);
	while (!atomic_load_explicit(&sb->stop, memory_order_acquire)) {
		uint32_t timeout;
		int n;

		drain_tx(sb);
		timeout = run_timers(sb);
		flush_rx_signals(sb);

		sb->pfds[0] = (struct pollfd){.fd = sb->wake_efd, .events = POLLIN};
		sb->npfds = 1;
		slirp_pollfds_fill(sb->slirp, &timeout, cb_add_poll, sb);
		atomic_store_explicit(&sb->sleeping, true, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		if (!tx_queues_empty(sb))
			timeout = 0;
		n = poll(sb->pfds, sb->npfds,
			 timeout == UINT32_MAX ? -1
			 : timeout > INT_MAX   ? INT_MAX
					       : (int)timeout);
		atomic_store_explicit(&sb->sleeping, false, memory_order_relaxed);
		if (n < 0 && errno == EINTR)
			n = 0;
		if (sb->pfds[0].revents & POLLIN)
			efd_drain(sb->wake_efd);
		slirp_pollfds_poll(sb->slirp, n < 0, cb_get_revents, sb);
	}
	release_slirp(sb);
	return NULL;
}

/*
 * start_thread() - start the slirp thread with every signal blocked (and
 * return once it ran the program's thread hook: confined): the
 * daemon's signals go to its own threads, and a SIGPIPE raised by a
 * libslirp write to a socket the host peer closed stays pending on this
 * thread instead of killing the process (the write still fails with EPIPE,
 * which libslirp handles), whether or not libslirp passes MSG_NOSIGNAL.
 * Return: 0 or -errno.
 */
static int start_thread(struct slirp_be *sb)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	if (sem_init(&sb->started, 0, 0))
		return -errno;
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&sb->thread, NULL, slirp_thread, sb);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret) {
		/* Return once the thread runs as the hook made it (confined). */
		while (sem_wait(&sb->started) && errno == EINTR)
			;
		sb->thread_running = true;
	}
	sem_destroy(&sb->started);
	return -ret;
}

/* ---- ops ---------------------------------------------------------------- */

/* netbe_start(): the slirp thread, if netbe_options.defer_threads held it
 * back; frames the device queued meanwhile are served then. */
static int sb_start(struct netbe *be)
{
	struct slirp_be *sb = be->priv;

	return sb->thread_running ? 0 : start_thread(sb);
}

static uint32_t sb_caps(struct netbe *be)
{
	(void)be;
	return 0;
}

static int sb_set_queue_pairs(struct netbe *be, unsigned n)
{
	if (n < 1 || n > be->max_queue_pairs)
		return -EINVAL;
	atomic_store_explicit(&to_sb(be)->active_pairs, n, memory_order_relaxed);
	return 0;
}

static int sb_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	(void)be;
	return caps ? -EINVAL : 0;
}

/* Whether frame @f (@len bytes) is an IPv4 fragment (RFC 791 §3.1: MF set
 * or a fragment offset), which libslirp must not see (top of this file). */
static bool is_ipv4_fragment(const uint8_t *f, size_t len)
{
	return len >= 14 + 20 && f[12] == 0x08 && f[13] == 0x00 &&
	       ((f[14 + 6] << 8 | f[14 + 7]) & 0x3fff) != 0;
}

static void fragment_refused(void)
{
	static int said;

	if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return;
	vqnet_log(VQNET_LOG_WARN, "slirp",
		  "the guest sent IPv4 fragments: dropped and counted (tx_dropped), as "
		  "libslirp 4.7's reassembly is unsafe; --backend user reassembles them");
}

/**
 * sb_tx() - queue guest frames for the slirp thread (worker q only).
 * Return: the number queued; the rest (queue full, larger than mtu + 18,
 * an IPv4 fragment) are counted in tx_dropped.
 */
static int sb_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct slirp_be *sb = to_sb(be);
	struct slirp_pair *p = &sb->pairs[q];
	unsigned sent = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct netbe_txpkt *pkt = &pkts[i];
		uint8_t *slot;
		size_t len;

		if (pkt->len > p->tx.slot_cap || !(slot = fq_prod_slot(&p->tx))) {
			shared_counter_inc(&p->tx_dropped);
			continue;
		}
		len = iov_to_buf(pkt->iov, pkt->iovcnt, 0, slot + sizeof(uint32_t), pkt->len);
		if (is_ipv4_fragment(slot + sizeof(uint32_t), len)) {
			shared_counter_inc(&p->tx_dropped);
			fragment_refused();
			continue; /* the slot was not committed: it is free again */
		}
		fq_prod_commit(&p->tx, slot, (uint32_t)len);
		sent++;
	}
	if (sent) {
		/* Pairs with the fence in slirp_thread(). */
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load_explicit(&sb->sleeping, memory_order_relaxed))
			efd_signal(sb->wake_efd);
	}
	return (int)sent;
}

/**
 * sb_rx() - pop frames slirp sent to the guest (worker q only). A frame
 * larger than its buffer is dropped and counted in rx_dropped.
 * Return: the number of buffers filled.
 */
static int sb_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	struct slirp_pair *p = &to_sb(be)->pairs[q];
	unsigned got = 0;
	const uint8_t *f;
	uint32_t len;

	while (got < n && (f = fq_cons_slot(&p->rx, &len))) {
		struct netbe_rxbuf *b = &bufs[got];

		if (len > b->cap) {
			shared_counter_inc(&p->rx_dropped);
		} else {
			memcpy(b->data, f, len);
			b->len = len;
			memset(&b->meta, 0, sizeof(b->meta));
			got++;
		}
		fq_cons_release(&p->rx);
	}
	if (fq_empty(&p->rx)) {
		/* Clear, then look again: the signal of a frame pushed just
		 * before may have been the one our read consumed. */
		efd_drain(p->rx_efd);
		if (!fq_empty(&p->rx))
			efd_signal(p->rx_efd);
	}
	return (int)got;
}

static int sb_rx_fd(struct netbe *be, unsigned q)
{
	return to_sb(be)->pairs[q].rx_efd;
}

static void sb_get_stats(struct netbe *be, unsigned q, struct netbe_stats *out)
{
	struct slirp_pair *p = &to_sb(be)->pairs[q];

	*out = (struct netbe_stats){
		.tx_dropped = atomic_load_explicit(&p->tx_dropped, memory_order_relaxed),
		.rx_dropped = atomic_load_explicit(&p->rx_dropped, memory_order_relaxed),
	};
}

/* Stop the thread, then release in reverse order of setup. Also used on a
 * partly constructed backend (unset fds are -1, pointers NULL). */
static void sb_free(struct netbe *be)
{
	struct slirp_be *sb;

	if (!be)
		return;
	sb = to_sb(be);
	if (sb->thread_running) {
		atomic_store_explicit(&sb->stop, true, memory_order_release);
		efd_signal(sb->wake_efd);
		pthread_join(sb->thread, NULL);
	}
	release_slirp(sb); /* when the thread did not */
	for (unsigned q = 0; sb->pairs && q < be->max_queue_pairs; q++) {
		fq_fini(&sb->pairs[q].tx);
		fq_fini(&sb->pairs[q].rx);
		if (sb->pairs[q].rx_efd >= 0)
			close(sb->pairs[q].rx_efd);
	}
	free(sb->pairs);
	if (sb->wake_efd >= 0)
		close(sb->wake_efd);
	free(sb);
}

static const struct netbe_ops slirp_ops = {
	.name = "slirp",
	.caps = sb_caps,
	.set_queue_pairs = sb_set_queue_pairs,
	.set_rx_offloads = sb_set_rx_offloads,
	.tx = sb_tx,
	.rx = sb_rx,
	.rx_fd = sb_rx_fd,
	.link_up = netbe_link_always_up,
	.get_stats = sb_get_stats,
	.free = sb_free,
	.start = sb_start,
};

/* ---- setup -------------------------------------------------------------- */

/* A decimal port 1..65535, digits only. Return: 0, or -1 when invalid. */
static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/**
 * add_hostfwd() - parse "tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT" (host
 * address 127.0.0.1 unless given, guest address @guest: host 15 of the
 * network) and add it.
 * Return: 0, -EINVAL (bad spec) or -errno (slirp could not listen), with a
 * reason in @err.
 */
static int add_hostfwd(Slirp *slirp, const char *spec, struct in_addr guest, char *err,
		       size_t errlen)
{
	char buf[128], *field[4], *save = NULL, *tok;
	char hname[INET_ADDRSTRLEN];
	struct in_addr haddr = {htonl(INADDR_LOOPBACK)}, gaddr;
	int nf = 0, is_udp, hport, gport;

	if (strlen(spec) >= sizeof(buf) || spec[0] == ':')
		goto bad;
	/* strtok_r skips empty fields: reject "tcp::1:2" and "tcp:1:2:" here. */
	for (const char *c = spec; *c; c++)
		if (*c == ':' && (c[1] == ':' || c[1] == '\0'))
			goto bad;
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		if (nf == 4)
			goto bad;
		field[nf++] = tok;
	}
	if (nf < 3)
		goto bad;
	if (!strcmp(field[0], "tcp"))
		is_udp = 0;
	else if (!strcmp(field[0], "udp"))
		is_udp = 1;
	else
		goto bad;
	if (nf == 4 && inet_pton(AF_INET, field[1], &haddr) != 1)
		goto bad;
	if (parse_port(field[nf - 2], &hport) || parse_port(field[nf - 1], &gport))
		goto bad;
	gaddr = guest;
	errno = 0;
	if (slirp_add_hostfwd(slirp, is_udp, haddr, hport, gaddr, gport) < 0) {
		int e = errno ? errno : EADDRINUSE;

		inet_ntop(AF_INET, &haddr, hname, sizeof(hname));
		return netbe_set_err(err, errlen, -e,
				     "slirp: hostfwd '%s': cannot listen on %s:%d: %s", spec, hname,
				     hport, strerror(e));
	}
	return 0;
bad:
	return netbe_set_err(err, errlen, -EINVAL,
			     "slirp: bad hostfwd '%s' (want tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT, "
			     "ports 1-65535)",
			     spec);
}

/* slirp_new() on network @u (QEMU's by default); @mtu at most
 * SLIRP_IF_MTU_MAX. */
static Slirp *slirp_create(struct slirp_be *sb, size_t mtu, const struct netbe_usernet *u)
{
	SlirpConfig cfg = {
		.version = 4,
		.restricted = 0,
		.in_enabled = true,
		.in6_enabled = true,
		.vprefix_len = 64,
		.vhostname = "vqnet",
		.if_mtu = mtu,
		.if_mru = mtu,
	};

	cfg.vnetwork = u->net4;
	cfg.vnetmask = u->mask4;
	cfg.vhost = u->gw4;
	cfg.vdhcp_start = u->guest4;
	cfg.vnameserver = u->dns4;
	cfg.vprefix_addr6 = u->prefix6;
	cfg.vhost6 = u->gw6;
	cfg.vnameserver6 = u->dns6;
	return slirp_new(&cfg, &slirp_callbacks, sb);
}

/* Allocate the queue pairs: queues (slots of @tx_cap bytes for the guest's
 * frames, @rx_cap for slirp's) and rx eventfds. Return: 0 or -errno. */
static int pairs_init(struct slirp_be *sb, uint32_t tx_cap, uint32_t rx_cap, char *err,
		      size_t errlen)
{
	unsigned nq = sb->be.max_queue_pairs;

	/* Cache-line aligned: the queue indices are _Alignas(64). */
	sb->pairs = netbe_calloc_aligned(nq, sizeof(*sb->pairs));
	if (!sb->pairs)
		goto nomem;
	for (unsigned q = 0; q < nq; q++)
		sb->pairs[q].rx_efd = -1;
	for (unsigned q = 0; q < nq; q++) {
		struct slirp_pair *p = &sb->pairs[q];

		if (fq_init(&p->tx, SLIRP_TX_SLOTS, tx_cap) ||
		    fq_init(&p->rx, SLIRP_RX_SLOTS, rx_cap))
			goto nomem;
		p->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->rx_efd < 0)
			return netbe_set_err(err, errlen, -errno, "slirp: eventfd: %m");
	}
	return 0;
nomem:
	return netbe_set_err(err, errlen, -ENOMEM, "slirp: out of memory");
}

/**
 * netbe_slirp_new() - create the `slirp` backend (see the top of the file).
 * Reads opt->mtu (0: VQNET_MTU_DEFAULT), opt->max_queue_pairs (at most 16
 * served) and opt->hostfwd.
 * Return: 0 and *@out; -EINVAL with a reason in @err for a bad MTU or
 * hostfwd spec; -errno (also with a reason) when a resource could not be
 * had, e.g. a hostfwd port already in use.
 */
int netbe_slirp_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen)
{
	unsigned mtu = opt->mtu ? opt->mtu : VQNET_MTU_DEFAULT;
	unsigned slirp_mtu = mtu < SLIRP_IF_MTU_MAX ? mtu : SLIRP_IF_MTU_MAX;
	unsigned nq = opt->max_queue_pairs ? opt->max_queue_pairs : 1;
	struct slirp_be *sb;
	struct netbe_usernet u;
	int ret;

	*out = NULL;
	ret = netbe_usernet_get(opt, &u, err, errlen);
	if (ret)
		return ret;
	if (mtu < SLIRP_MTU_MIN || mtu > SLIRP_MTU_MAX)
		return netbe_set_err(err, errlen, -EINVAL, "slirp: mtu %u out of range %u-%u", mtu,
				     SLIRP_MTU_MIN, SLIRP_MTU_MAX);
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return netbe_set_err(err, errlen, -ENOMEM, "slirp: out of memory");
	sb->be.ops = &slirp_ops;
	sb->be.priv = sb;
	sb->be.max_queue_pairs = nq < SLIRP_MAX_PAIRS ? nq : SLIRP_MAX_PAIRS;
	sb->wake_efd = -1;
	sb->hook = opt->thread_hook;
	atomic_init(&sb->active_pairs, 1);
	atomic_init(&sb->sleeping, false);
	atomic_init(&sb->stop, false);

	ret = pairs_init(sb, mtu + SLIRP_FRAME_EXTRA, slirp_mtu + SLIRP_FRAME_EXTRA, err, errlen);
	if (ret)
		goto err_free;
	sb->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sb->wake_efd < 0) {
		ret = netbe_set_err(err, errlen, -errno, "slirp: eventfd: %m");
		goto err_free;
	}
	sb->pfds_cap = SLIRP_POLLFD_INIT;
	sb->pfds = calloc(sb->pfds_cap, sizeof(*sb->pfds));
	if (!sb->pfds) {
		ret = netbe_set_err(err, errlen, -ENOMEM, "slirp: out of memory");
		goto err_free;
	}
	sb->slirp = slirp_create(sb, slirp_mtu, &u);
	if (!sb->slirp) {
		ret = netbe_set_err(err, errlen, -ENOMEM, "slirp: slirp_new failed");
		goto err_free;
	}
	for (unsigned i = 0; i < opt->n_hostfwd; i++) {
		ret = add_hostfwd(sb->slirp, opt->hostfwd[i], u.guest4, err, errlen);
		if (ret)
			goto err_free;
	}
	ret = opt->defer_threads ? 0 : start_thread(sb);
	if (ret) {
		netbe_set_err(err, errlen, ret, "slirp: pthread_create: %s", strerror(-ret));
		goto err_free;
	}
	*out = &sb->be;
	return 0;
err_free:
	sb_free(&sb->be);
	return ret;
}
