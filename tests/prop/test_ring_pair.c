/* SPDX-License-Identifier: MIT */
/*
 * Property test: vqnet's driver ring against its device ring, two threads,
 * both formats — theory of operation
 *
 * Each configuration (format, queue size, EVENT_IDX / INDIRECT / IN_ORDER,
 * notification mode, buffer memory layout) sets up the harness guest memory
 * (mapped twice: the driver writes through one mapping, the device reads
 * through its gmem table of the other), a driver queue and a device queue on
 * the same ring, and runs a driver thread against a device thread until a
 * fixed number of chains went round.
 *
 * Driver: takes a buffer slot, cuts it into 1..N readable and 0..M writable
 * descriptors of random lengths (sometimes an indirect chain, sometimes a
 * long one, sometimes a chain it starts and rewinds), writes into the
 * readable bytes a pattern derived from (sequence number, byte offset),
 * builds the chain with start/add/end or with vq_drv_add_chain(), backs
 * off on NO_SPACE, publishes chains in bursts and kicks when told to. It records each
 * chain's shape in a per-id record (plain test memory, made visible to the
 * device by the library's own release/acquire pair: publish before pop).
 *
 * Device: pops (single or burst) and checks against the record: the
 * sequence number is the next one in ring order, lengths and counts agree,
 * the iovecs are exactly what gmem_translate() gives for each descriptor,
 * and every readable byte carries the pattern. It writes a pattern into a
 * random prefix of the writable bytes and completes chains one at a time,
 * in bursts, out of order (holding some back, then completing a shuffled
 * subset) or, with IN_ORDER, in order and with vq_push_in_order() batches.
 *
 * Driver again: reaps, checks token, id, order (IN_ORDER), length (the
 * device's record, or the full writable length for chains an in-order
 * batch skipped), every written byte, its free-descriptor and in-flight
 * counts, and that each chain completes exactly once.
 *
 * Notifications: polling (both sides disable and never sleep), suppressed
 * while busy (disable; re-enable with the re-check before sleeping) or
 * always on. Sleeping is on eventfds, as a real VMM/backend pair does. A
 * sleeper that times out while the peer also sleeps and neither eventfd is
 * readable has found a lost wakeup: the test fails with the ring state.
 *
 * Volume: VQNET_TEST_SCALE (a factor, default 1, 0.3 under ASan) scales the
 * chain count; --long multiplies it by 20 (tens of millions of descriptors).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/virtq.h>

#include "guestmem.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define DEFAULT_SCALE 0.3
#else
#define DEFAULT_SCALE 1.0
#endif

#define MAXD	    64	   /* most descriptors in one chain (also the indirect table size) */
#define BASE_CHAINS 300000 /* chains per configuration at scale 1 (~30 s here) */
#define WAIT_MS	    250	   /* eventfd wait slice before the deadlock check */
#define STALL_S	    20.0   /* no progress on either side for this long: a hang */

enum notify_mode { NM_POLL, NM_SUPPRESS, NM_ALWAYS };
enum mem_mode { MM_CONTIG, MM_PAGES, MM_TINY };

static const char *const notify_names[] = {"poll", "suppress", "always"};
static const char *const mem_names[] = {"contig", "pages4k", "tiny64"};

struct cfg {
	enum vq_format format;
	uint32_t size;
	bool event_idx, indirect, in_order;
	enum notify_mode notify;
	enum mem_mode mem;
	uint64_t chains;
	uint64_t seed;
};

struct seg {
	uint64_t gpa;
	uint32_t len;
};

/* Per-id record: written by the driver before publish, read by the device
 * after pop; dev_len written by the device before push, read after reap. */
struct rec {
	uint64_t seq;
	uint32_t slot;
	uint32_t out_len, in_len;
	uint32_t dev_len;
	uint16_t nr, nw;
	bool indirect;
	struct seg seg[MAXD];
};

struct side_wait {
	atomic_int waiting;
	atomic_uint epoch;
};

struct run {
	const struct cfg *cfg;
	struct tgm g;
	struct tring ring;
	struct vq *q;
	struct vq_drv *d;
	struct rec *rec;
	int kick_fd, call_fd;
	uint32_t slot_bytes, nslots, iov_cap, max_k;
	struct side_wait drv_w, dev_w;
	atomic_uint_fast64_t progress; /* bumped by either side when it moves */

	/* driver results */
	uint64_t descs, drv_bytes, kicks, drv_sleeps, rewinds, no_space;
	/* device results */
	uint64_t dev_bytes, notifies, notify_calls, dev_sleeps, bursts, in_order_batches,
		out_of_order;
};

static const struct cfg *g_fail_cfg;

static void cfg_describe(const struct cfg *c, char *buf, size_t n)
{
	snprintf(buf, n, "%s size=%u%s%s%s notify=%s mem=%s seed=%" PRIu64,
		 c->format == VQ_FORMAT_SPLIT ? "split" : "packed", c->size,
		 c->event_idx ? " EVENT_IDX" : "", c->indirect ? " INDIRECT" : "",
		 c->in_order ? " IN_ORDER" : "", notify_names[c->notify], mem_names[c->mem],
		 c->seed);
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		char cfg_buf_[200] = "";                                                           \
		if (g_fail_cfg)                                                                    \
			cfg_describe(g_fail_cfg, cfg_buf_, sizeof(cfg_buf_));                      \
		fprintf(stderr, "FAIL %s:%d [%s]: ", __FILE__, __LINE__, cfg_buf_);                \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

#define CHECK(cond, fmt, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			FAIL("check '%s' failed: " fmt, #cond, ##__VA_ARGS__);                     \
	} while (0)

/* ------------------------------------------------------------ patterns */

static inline uint32_t seq_hash(uint64_t seq, uint32_t salt)
{
	uint64_t x = (seq + salt) * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	return (uint32_t)(x >> 32);
}

/* Byte @off of a chain's readable (salt 1) or writable (salt 2) data. */
static inline uint8_t pat(uint32_t h, uint32_t off)
{
	return (uint8_t)(h + off * 7u + (off >> 8) * ((h >> 24) | 1u));
}

static void pat_fill(uint8_t *p, size_t n, uint32_t h, uint32_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(h, off + (uint32_t)i);
}

/* Index of the first mismatch, or n. */
static size_t pat_check(const uint8_t *p, size_t n, uint32_t h, uint32_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(h, off + (uint32_t)i))
			return i;
	return n;
}

static inline uint32_t rnd(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(trand(s) % n) : 0;
}

/* ------------------------------------------------------------ waiting */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void dump_state(struct run *r);

/* Idle-loop watchdog: a side that sees no progress anywhere for STALL_S
 * (e.g. both polling, each waiting for the other) fails the test. */
struct stall {
	uint64_t seen;
	double since;
	unsigned iter;
};

static void stall_check(struct run *r, struct stall *st, const char *who)
{
	if (++st->iter % 256)
		return;
	uint64_t p = atomic_load(&r->progress);
	double t = now_s();
	if (p != st->seen || st->since == 0) {
		st->seen = p;
		st->since = t;
	} else if (t - st->since > STALL_S) {
		dump_state(r);
		FAIL("%s: no progress on either side for %.0f s", who, STALL_S);
	}
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		FAIL("eventfd write: %s", strerror(errno));
}

static bool fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

static void dump_state(struct run *r)
{
	struct vq_state s;
	vq_get_state(r->q, &s);
	fprintf(stderr,
		"state: device in_flight=%u avail_pending=%d avail_idx=%u used_idx=%u "
		"(wraps %d/%d) broken=%d; driver in_flight=%u free_descs=%u broken=%d\n",
		vq_in_flight(r->q), vq_avail_pending(r->q), s.avail_idx, s.used_idx, s.avail_wrap,
		s.used_wrap, vq_broken_reason(r->q), vq_drv_in_flight(r->d),
		vq_drv_free_descs(r->d), vq_drv_broken_reason(r->d));
}

/*
 * Sleep on @fd until signalled. Every WAIT_MS, if the peer sleeps too (the
 * same sleep as at the previous check) and neither eventfd is readable,
 * nobody can ever wake either side: a lost notification.
 */
static void wait_fd(struct run *r, int fd, int peer_fd, struct side_wait *me,
		    struct side_wait *peer, const char *who)
{
	unsigned seen_epoch = 0;
	int strikes = 0;
	atomic_fetch_add(&me->epoch, 1);
	atomic_store(&me->waiting, 1);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, WAIT_MS);
		if (n > 0) {
			uint64_t v;
			if (read(fd, &v, sizeof(v)) != sizeof(v))
				FAIL("eventfd read: %s", strerror(errno));
			break;
		}
		if (n < 0 && errno != EINTR)
			FAIL("poll: %s", strerror(errno));
		unsigned ep = atomic_load(&peer->epoch);
		if (atomic_load(&peer->waiting) && !fd_readable(peer_fd) && !fd_readable(fd) &&
		    (strikes == 0 || ep == seen_epoch)) {
			seen_epoch = ep;
			if (++strikes >= 3) {
				dump_state(r);
				FAIL("deadlock: %s and its peer both sleep, no notification "
				     "pending",
				     who);
			}
		} else {
			strikes = 0;
		}
	}
	atomic_store(&me->waiting, 0);
}

/* ------------------------------------------------------------ driver */

struct drv {
	struct run *r;
	uint64_t rng;
	uint32_t *free_slots;
	uint32_t nfree;
	uint64_t next_seq, reaped, next_reap_seq;
	uint8_t *done;	    /* bitmap over sequence numbers */
	uint32_t ring_used; /* ring descriptors held by chains in flight */
	struct stall stall;
};

/* Cut slot @slot into @k descriptors, the first @nr readable. */
static void layout_chain(struct drv *s, struct rec *c, uint32_t slot, uint16_t nr, uint16_t nw)
{
	struct run *r = s->r;
	uint64_t base = tgm_buf_gpa(&r->g) + (uint64_t)slot * r->slot_bytes;
	uint32_t room = r->slot_bytes, cur = 0;
	unsigned k = nr + nw;
	c->nr = nr;
	c->nw = nw;
	c->out_len = c->in_len = 0;
	for (unsigned i = 0; i < k; i++) {
		unsigned left = k - i;			/* this one included */
		uint32_t max = room - cur - (left - 1); /* keep a byte for each later one */
		uint32_t typical = max / left * 2;
		uint32_t len;
		switch (rnd(&s->rng, 8)) {
		case 0:
			len = 1;
			break;
		case 1:
			len = 1 + rnd(&s->rng, max);
			break;
		default:
			len = 1 + rnd(&s->rng, typical < max ? typical : max);
		}
		if (len > max)
			len = max;
		uint32_t spare = max - len;
		if (spare && rnd(&s->rng, 4) == 0)
			cur += rnd(&s->rng, spare / left + 1); /* a gap */
		c->seg[i] = (struct seg){.gpa = base + cur, .len = len};
		cur += len;
		if (i < nr)
			c->out_len += len;
		else
			c->in_len += len;
	}
}

static void fill_readable(struct run *r, const struct rec *c)
{
	uint32_t h = seq_hash(c->seq, 1), off = 0;
	for (unsigned i = 0; i < c->nr; i++) {
		pat_fill(tgm_drv_ptr(&r->g, c->seg[i].gpa), c->seg[i].len, h, off);
		off += c->seg[i].len;
	}
}

/* Start a chain, add a few descriptors, rewind it: nothing may show. */
static void try_rewind(struct drv *s, const struct rec *c, bool indirect)
{
	struct vq_drv *d = s->r->d;
	int rc = vq_drv_chain_start(d, indirect);
	if (rc == -VQ_ERR_NO_SPACE)
		return;
	CHECK(rc == 0, "chain_start: %s", vq_strerror(rc));
	unsigned n = 1 + rnd(&s->rng, c->nr + c->nw);
	for (unsigned i = 0; i < n; i++) {
		rc = vq_drv_chain_add(d, c->seg[i].gpa, c->seg[i].len, i >= c->nr);
		if (rc == -VQ_ERR_NO_SPACE)
			break;
		CHECK(rc == 0, "chain_add: %s", vq_strerror(rc));
	}
	vq_drv_chain_rewind(d);
	s->r->rewinds++;
}

/* Build and end one chain. Return: 1, or 0 when out of slots or ring. */
static int drv_submit(struct drv *s)
{
	struct run *r = s->r;
	const struct cfg *cfg = r->cfg;
	if (s->nfree == 0)
		return 0;
	uint16_t nr, nw;
	if (rnd(&s->rng, 64) == 0) { /* a long chain */
		unsigned k = 2 + rnd(&s->rng, r->max_k - 1);
		if (k > r->max_k)
			k = r->max_k;
		nr = (uint16_t)(1 + rnd(&s->rng, k));
		nw = (uint16_t)(k - nr);
	} else {
		nr = (uint16_t)(1 + rnd(&s->rng, 4));
		nw = (uint16_t)rnd(&s->rng, 5);
		if (nr + nw > (int)r->max_k) {
			nr = 1;
			nw = (uint16_t)(r->max_k - 1 < nw ? r->max_k - 1 : nw);
		}
	}
	bool indirect = cfg->indirect && rnd(&s->rng, 3) == 0;
	uint32_t need = indirect ? 1 : nr + nw;
	/* Usually wait for room; sometimes run into NO_SPACE on purpose. */
	if (vq_drv_free_descs(r->d) < need && rnd(&s->rng, 8))
		return 0;

	uint32_t slot = s->free_slots[--s->nfree];
	struct rec tmp;
	tmp.seq = s->next_seq;
	layout_chain(s, &tmp, slot, nr, nw);
	if (rnd(&s->rng, 64) == 0)
		try_rewind(s, &tmp, indirect);
	fill_readable(r, &tmp);

	void *token = (void *)(uintptr_t)(s->next_seq + 1);
	int rc;
	if (rnd(&s->rng, 2)) { /* the one-call form */
		struct vq_drv_buf bufs[MAXD];
		for (unsigned i = 0; i < (unsigned)nr + nw; i++)
			bufs[i] = (struct vq_drv_buf){.gpa = tmp.seg[i].gpa, .len = tmp.seg[i].len};
		rc = vq_drv_add_chain(r->d, bufs, nr, nw, indirect, token);
	} else {
		rc = vq_drv_chain_start(r->d, indirect);
		for (unsigned i = 0; rc == 0 && i < (unsigned)nr + nw; i++)
			rc = vq_drv_chain_add(r->d, tmp.seg[i].gpa, tmp.seg[i].len, i >= nr);
		if (rc == -VQ_ERR_NO_SPACE)
			vq_drv_chain_rewind(r->d);
		else if (rc == 0)
			rc = vq_drv_chain_end(r->d, token);
	}
	if (rc == -VQ_ERR_NO_SPACE) {
		s->free_slots[s->nfree++] = slot;
		r->no_space++;
		return 0;
	}
	CHECK(rc >= 0 && (uint32_t)rc < cfg->size, "building chain %" PRIu64 ": %d (%s)",
	      s->next_seq, rc, vq_strerror(rc));
	struct rec *c = &r->rec[rc];
	c->seq = tmp.seq;
	c->nr = nr;
	c->nw = nw;
	c->out_len = tmp.out_len;
	c->in_len = tmp.in_len;
	memcpy(c->seg, tmp.seg, sizeof(struct seg) * (nr + nw));
	c->slot = slot;
	c->indirect = indirect;
	c->dev_len = UINT32_MAX;
	s->ring_used += need;
	s->next_seq++;
	r->descs += nr + nw;
	return 1;
}

static void drv_verify_used(struct drv *s, const struct vq_drv_used *u)
{
	struct run *r = s->r;
	CHECK(u->id < r->cfg->size, "reaped id %u", u->id);
	struct rec *c = &r->rec[u->id];
	CHECK(u->token == (void *)(uintptr_t)(c->seq + 1), "id %u: token %p for seq %" PRIu64,
	      u->id, u->token, c->seq);
	CHECK(c->seq < s->next_seq, "id %u: seq %" PRIu64 " never submitted", u->id, c->seq);
	CHECK(!(s->done[c->seq / 8] & (1u << (c->seq % 8))), "seq %" PRIu64 " completed twice",
	      c->seq);
	s->done[c->seq / 8] |= (uint8_t)(1u << (c->seq % 8));
	if (r->cfg->in_order)
		CHECK(c->seq == s->next_reap_seq,
		      "IN_ORDER: reaped seq %" PRIu64 ", expected %" PRIu64, c->seq,
		      s->next_reap_seq);
	s->next_reap_seq = c->seq + 1;
	CHECK(u->len == c->dev_len,
	      "seq %" PRIu64 " id %u: used len %u, device wrote %u (in_len %u)", c->seq, u->id,
	      u->len, c->dev_len, c->in_len);
	uint32_t h = seq_hash(c->seq, 2), off = 0, left = u->len;
	for (unsigned i = c->nr; left && i < (unsigned)c->nr + c->nw; i++) {
		uint32_t n = c->seg[i].len < left ? c->seg[i].len : left;
		const uint8_t *p = tgm_drv_ptr(&r->g, c->seg[i].gpa);
		size_t bad = pat_check(p, n, h, off);
		CHECK(bad == n, "seq %" PRIu64 ": written byte %zu of segment %u wrong", c->seq,
		      off + bad, i);
		off += n;
		left -= n;
	}
	r->drv_bytes += u->len;
	s->ring_used -= c->indirect ? 1 : (uint32_t)c->nr + c->nw;
	s->free_slots[s->nfree++] = c->slot;
	s->reaped++;
}

static unsigned drv_reap(struct drv *s)
{
	struct run *r = s->r;
	struct vq_drv_used used[32];
	unsigned total = 0;
	for (;;) {
		int n = vq_drv_reap(r->d, used, 1 + rnd(&s->rng, 32));
		CHECK(n >= 0, "reap: %s", vq_strerror(n));
		for (int i = 0; i < n; i++)
			drv_verify_used(s, &used[i]);
		total += (unsigned)n;
		if (n == 0)
			break;
	}
	if (total) {
		CHECK(vq_drv_in_flight(r->d) == s->next_seq - s->reaped,
		      "driver in_flight %u, expected %" PRIu64, vq_drv_in_flight(r->d),
		      s->next_seq - s->reaped);
		CHECK(vq_drv_free_descs(r->d) == r->cfg->size - s->ring_used,
		      "driver free descs %u, expected %u", vq_drv_free_descs(r->d),
		      r->cfg->size - s->ring_used);
	}
	return total;
}

static void drv_sleep(struct drv *s)
{
	struct run *r = s->r;
	stall_check(r, &s->stall, "driver");
	if (r->cfg->notify == NM_POLL) {
		sched_yield();
		return;
	}
	if (vq_drv_enable_used_notify(r->d)) {
		if (r->cfg->notify == NM_SUPPRESS)
			vq_drv_disable_used_notify(r->d);
		return;
	}
	r->drv_sleeps++;
	wait_fd(r, r->call_fd, r->kick_fd, &r->drv_w, &r->dev_w, "driver");
	if (r->cfg->notify == NM_SUPPRESS)
		vq_drv_disable_used_notify(r->d);
}

static void *driver_main(void *arg)
{
	struct run *r = arg;
	const struct cfg *cfg = r->cfg;
	struct drv s = {.r = r, .rng = cfg->seed * 2 + 1};
	s.free_slots = calloc(r->nslots, sizeof(*s.free_slots));
	s.done = calloc(cfg->chains / 8 + 1, 1);
	CHECK(s.free_slots && s.done, "out of memory");
	for (uint32_t i = 0; i < r->nslots; i++)
		s.free_slots[s.nfree++] = r->nslots - 1 - i;
	while (s.reaped < cfg->chains) {
		unsigned burst = 1 + rnd(&s.rng, rnd(&s.rng, 4) ? 8 : 64), sub = 0;
		while (s.next_seq < cfg->chains && sub < burst && drv_submit(&s))
			sub++;
		if (sub) {
			vq_drv_publish(r->d);
			if (vq_drv_kick_needed(r->d)) {
				r->kicks++;
				if (cfg->notify != NM_POLL)
					signal_fd(r->kick_fd);
			}
		}
		unsigned got = drv_reap(&s);
		if (got && cfg->notify == NM_ALWAYS && vq_drv_enable_used_notify(r->d))
			continue;
		if (!sub && !got)
			drv_sleep(&s);
		else
			atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
	}
	CHECK(vq_drv_in_flight(r->d) == 0 && vq_drv_free_descs(r->d) == cfg->size,
	      "driver: %u in flight, %u free at the end", vq_drv_in_flight(r->d),
	      vq_drv_free_descs(r->d));
	CHECK(!vq_drv_is_broken(r->d), "driver broken: %s",
	      vq_strerror(vq_drv_broken_reason(r->d)));
	CHECK(vq_drv_reap(r->d, (struct vq_drv_used[1]){0}, 1) == 0, "spurious used entry");
	for (uint64_t i = 0; i < cfg->chains; i++)
		CHECK(s.done[i / 8] & (1u << (i % 8)), "seq %" PRIu64 " never completed", i);
	free(s.free_slots);
	free(s.done);
	atomic_store(&r->drv_w.waiting, 1); /* gone: sleeps for good */
	return NULL;
}

/* ------------------------------------------------------------ device */

struct dev {
	struct run *r;
	uint64_t rng;
	struct vq_elem *pend; /* popped, not completed, in pop order */
	unsigned npend;
	struct iovec **iov_free; /* stack of iovec arrays */
	unsigned niov_free;
	uint64_t popped, next_seq, pushed;
	unsigned pushed_since_check;
	unsigned hold_max;
	struct iovec *expect; /* scratch for translated descriptors */
	uint32_t *pick;	      /* scratch: indices into pend */
	struct vq_used *used; /* scratch: a push burst */
	struct stall stall;
};

/* Compare the element's iovecs with gmem_translate() of each descriptor. */
static void dev_check_iovecs(struct dev *v, const struct vq_elem *e, const struct rec *c)
{
	struct run *r = v->r;
	unsigned at = 0, nout = 0;
	uint32_t hint = 0;
	for (unsigned i = 0; i < (unsigned)c->nr + c->nw; i++) {
		int n = gmem_translate(r->g.mem, c->seg[i].gpa, c->seg[i].len, v->expect,
				       r->iov_cap, &hint);
		CHECK(n > 0, "translate of seq %" PRIu64 " segment %u: %d", c->seq, i, n);
		CHECK(at + (unsigned)n <= (unsigned)e->nout + e->nin,
		      "seq %" PRIu64 ": %u+%u iovecs, more expected", c->seq, e->nout, e->nin);
		for (int j = 0; j < n; j++, at++)
			CHECK(e->iov[at].iov_base == v->expect[j].iov_base &&
				      e->iov[at].iov_len == v->expect[j].iov_len,
			      "seq %" PRIu64 " segment %u: iovec %u is %p+%zu, expected %p+%zu",
			      c->seq, i, at, e->iov[at].iov_base, e->iov[at].iov_len,
			      v->expect[j].iov_base, v->expect[j].iov_len);
		if (i + 1 == c->nr)
			nout = at;
	}
	CHECK(at == (unsigned)e->nout + e->nin && nout == e->nout,
	      "seq %" PRIu64 ": nout %u nin %u, expected %u and %u", c->seq, e->nout, e->nin, nout,
	      at - nout);
}

static void dev_check_pop(struct dev *v, struct vq_elem *e)
{
	struct run *r = v->r;
	const struct cfg *cfg = r->cfg;
	CHECK(e->err == VQ_OK && e->id < cfg->size, "element id %u err %u", e->id, e->err);
	const struct rec *c = &r->rec[e->id];
	CHECK(c->seq == v->next_seq, "popped id %u carries seq %" PRIu64 ", expected %" PRIu64,
	      e->id, c->seq, v->next_seq);
	v->next_seq++;
	CHECK(e->out_len == c->out_len && e->in_len == c->in_len,
	      "seq %" PRIu64 ": out_len %u in_len %u, expected %u and %u", c->seq, e->out_len,
	      e->in_len, c->out_len, c->in_len);
	CHECK((unsigned)e->nout + e->nin <= e->iov_cap, "iovec count over capacity");
	if (cfg->format == VQ_FORMAT_PACKED)
		CHECK(e->ndesc == (c->indirect ? 1 : c->nr + c->nw), "seq %" PRIu64 ": ndesc %u",
		      c->seq, e->ndesc);
	dev_check_iovecs(v, e, c);
	uint32_t h = seq_hash(c->seq, 1), off = 0;
	for (unsigned i = 0; i < e->nout; i++) {
		size_t n = e->iov[i].iov_len;
		size_t bad = pat_check(e->iov[i].iov_base, n, h, off);
		CHECK(bad == n, "seq %" PRIu64 ": readable byte %zu wrong", c->seq, off + bad);
		off += (uint32_t)n;
	}
	r->dev_bytes += off;
}

/* Pop up to a random burst into pend[]. Return: chains popped. */
static unsigned dev_pop(struct dev *v)
{
	struct run *r = v->r;
	unsigned room = r->cfg->size - v->npend, want = 1 + rnd(&v->rng, 32), got = 0;
	if (want > room)
		want = room;
	while (got < want) {
		struct vq_elem *e = &v->pend[v->npend];
		CHECK(v->niov_free > 0, "no iovec arrays left");
		if (rnd(&v->rng, 2)) {
			e->iov = v->iov_free[--v->niov_free];
			e->iov_cap = (uint16_t)r->iov_cap;
			int rc = vq_pop(r->q, e);
			if (rc == 0) {
				v->iov_free[v->niov_free++] = e->iov;
				break;
			}
			CHECK(rc == 1, "vq_pop: %d (%s)", rc, vq_strerror(rc));
			dev_check_pop(v, e);
			v->npend++;
			got++;
		} else {
			unsigned n = want - got, i;
			for (i = 0; i < n; i++) {
				CHECK(v->niov_free > i, "no iovec arrays left");
				v->pend[v->npend + i].iov = v->iov_free[v->niov_free - 1 - i];
				v->pend[v->npend + i].iov_cap = (uint16_t)r->iov_cap;
			}
			int err = 0;
			unsigned k = vq_pop_burst(r->q, &v->pend[v->npend], n, &err);
			CHECK(err == 0 && k <= n, "vq_pop_burst: %u, %s", k, vq_strerror(err));
			v->niov_free -= k;
			for (i = 0; i < k; i++)
				dev_check_pop(v, &v->pend[v->npend + i]);
			v->npend += k;
			got += k;
			r->bursts++;
			if (k < n)
				break;
		}
	}
	v->popped += got;
	CHECK(vq_in_flight(r->q) == v->npend, "device in_flight %u, holding %u", vq_in_flight(r->q),
	      v->npend);
	return got;
}

/* Write @w bytes of the writable pattern and note the length. */
static void dev_write(struct dev *v, const struct vq_elem *e, uint32_t w)
{
	struct run *r = v->r;
	struct rec *c = &r->rec[e->id];
	uint32_t h = seq_hash(c->seq, 2), off = 0;
	for (unsigned i = e->nout; off < w && i < (unsigned)e->nout + e->nin; i++) {
		uint32_t n = (uint32_t)e->iov[i].iov_len;
		if (n > w - off)
			n = w - off;
		pat_fill(e->iov[i].iov_base, n, h, off);
		off += n;
	}
	CHECK(off == w, "seq %" PRIu64 ": wrote %u of %u", c->seq, off, w);
	c->dev_len = w;
}

static uint32_t pick_len(struct dev *v, uint32_t in_len)
{
	switch (rnd(&v->rng, 4)) {
	case 0:
		return 0;
	case 1:
		return in_len;
	default:
		return rnd(&v->rng, in_len + 1);
	}
}

/* Complete pend[idx[0..n)] (in that order), then drop them from pend. */
static void dev_complete(struct dev *v, const uint32_t *idx, unsigned n, bool in_order_batch)
{
	struct run *r = v->r;
	for (unsigned i = 0; i < n; i++) {
		struct vq_elem *e = &v->pend[idx[i]];
		uint32_t w = in_order_batch && i + 1 < n ? e->in_len : pick_len(v, e->in_len);
		dev_write(v, e, w);
		v->used[i] = (struct vq_used){.id = e->id, .len = w};
	}
	int rc = 0;
	if (in_order_batch) {
		rc = vq_push_in_order(r->q, n, v->used[n - 1].len);
		r->in_order_batches++;
	} else if (n > 1 && rnd(&v->rng, 2)) {
		rc = vq_push_burst(r->q, v->used, n);
	} else {
		for (unsigned i = 0; i < n && rc == 0; i++)
			rc = vq_push(r->q, v->used[i].id, v->used[i].len);
	}
	CHECK(rc == 0, "push of %u: %s", n, vq_strerror(rc));
	/* Remove the completed ones, keeping pop order. */
	for (unsigned i = 0; i < n; i++) {
		v->iov_free[v->niov_free++] = v->pend[idx[i]].iov;
		v->pend[idx[i]].iov = NULL;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < v->npend; i++)
		if (v->pend[i].iov)
			v->pend[k++] = v->pend[i];
	v->npend = k;
	v->pushed += n;
	v->pushed_since_check += n;
}

/* Complete pending chains until at most @keep are held. */
static void dev_settle(struct dev *v, unsigned keep)
{
	const struct cfg *cfg = v->r->cfg;
	while (v->npend > keep) {
		unsigned n = 1 + rnd(&v->rng, v->npend - keep < 16 ? v->npend - keep : 16);
		if (cfg->in_order) {
			for (unsigned i = 0; i < n; i++)
				v->pick[i] = i;
			dev_complete(v, v->pick, n, rnd(&v->rng, 2));
			continue;
		}
		/* A random subset in random order. */
		for (unsigned i = 0; i < v->npend; i++)
			v->pick[i] = i;
		for (unsigned i = 0; i < n; i++) {
			unsigned j = i + rnd(&v->rng, v->npend - i);
			uint32_t t = v->pick[i];
			v->pick[i] = v->pick[j];
			v->pick[j] = t;
		}
		if (n > 1 || v->pick[0] != 0)
			v->r->out_of_order++;
		dev_complete(v, v->pick, n, false);
	}
}

static void dev_notify(struct dev *v)
{
	struct run *r = v->r;
	if (!v->pushed_since_check)
		return;
	v->pushed_since_check = 0;
	r->notify_calls++;
	if (!vq_should_notify(r->q))
		return;
	r->notifies++;
	if (r->cfg->notify != NM_POLL)
		signal_fd(r->call_fd);
}

static void dev_sleep(struct dev *v)
{
	struct run *r = v->r;
	stall_check(r, &v->stall, "device");
	if (r->cfg->notify == NM_POLL) {
		sched_yield();
		return;
	}
	if (vq_enable_kicks(r->q)) {
		if (r->cfg->notify == NM_SUPPRESS)
			vq_disable_kicks(r->q);
		return;
	}
	r->dev_sleeps++;
	wait_fd(r, r->kick_fd, r->call_fd, &r->dev_w, &r->drv_w, "device");
	if (r->cfg->notify == NM_SUPPRESS)
		vq_disable_kicks(r->q);
}

static void *device_main(void *arg)
{
	struct run *r = arg;
	const struct cfg *cfg = r->cfg;
	struct dev v = {.r = r, .rng = cfg->seed * 2 + 2};
	v.pend = calloc(cfg->size, sizeof(*v.pend));
	v.iov_free = calloc(cfg->size, sizeof(*v.iov_free));
	v.expect = calloc(r->iov_cap, sizeof(*v.expect));
	v.pick = calloc(cfg->size, sizeof(*v.pick));
	v.used = calloc(cfg->size, sizeof(*v.used));
	struct iovec *iov_mem = calloc((size_t)cfg->size * r->iov_cap, sizeof(*iov_mem));
	CHECK(v.pend && v.iov_free && v.expect && v.pick && v.used && iov_mem, "out of memory");
	for (uint32_t i = 0; i < cfg->size; i++)
		v.iov_free[v.niov_free++] = iov_mem + (size_t)i * r->iov_cap;
	v.hold_max = rnd(&v.rng, 4) ? 0 : 1 + rnd(&v.rng, cfg->size < 32 ? cfg->size : 32);

	while (v.popped < cfg->chains || v.npend) {
		unsigned got = dev_pop(&v);
		dev_settle(&v, got ? rnd(&v.rng, v.hold_max + 1) : 0);
		dev_notify(&v);
		if (got) {
			atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
			if (cfg->notify == NM_ALWAYS)
				vq_enable_kicks(r->q);
			continue;
		}
		if (v.popped < cfg->chains)
			dev_sleep(&v);
	}
	const struct vq_stats *st = vq_get_stats(r->q);
	CHECK(!vq_is_broken(r->q), "device broken: %s", vq_strerror(vq_broken_reason(r->q)));
	CHECK(st->popped == cfg->chains && st->pushed == cfg->chains && st->dropped == 0,
	      "stats: popped %" PRIu64 " pushed %" PRIu64 " dropped %" PRIu64, st->popped,
	      st->pushed, st->dropped);
	CHECK(st->notify_sent == r->notifies &&
		      st->notify_sent + st->notify_suppressed == r->notify_calls,
	      "notify stats %" PRIu64 "+%" PRIu64 " vs %" PRIu64 " of %" PRIu64, st->notify_sent,
	      st->notify_suppressed, r->notifies, r->notify_calls);
	CHECK(vq_in_flight(r->q) == 0, "device in flight at the end");
	struct vq_elem e = {.iov = v.expect, .iov_cap = 1};
	CHECK(vq_pop(r->q, &e) == 0, "spurious chain at the end");
	free(iov_mem);
	free(v.pend);
	free(v.iov_free);
	free(v.expect);
	free(v.pick);
	free(v.used);
	atomic_store(&r->dev_w.waiting, 1); /* gone: sleeps for good */
	return NULL;
}

/* ------------------------------------------------------------ set-up */

static void run_setup(struct run *r, const struct cfg *cfg)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	size_t region = 0, buf_bytes;
	switch (cfg->mem) {
	case MM_CONTIG:
		r->slot_bytes = 1000;
		r->nslots = cfg->size;
		buf_bytes = (size_t)r->nslots * r->slot_bytes;
		r->iov_cap = MAXD;
		break;
	case MM_PAGES:
		region = 4096;
		r->slot_bytes = 1800;
		buf_bytes = (GMEM_MAX_REGIONS - 1) * region;
		r->nslots = (uint32_t)(buf_bytes / r->slot_bytes);
		r->iov_cap = 2 * MAXD + r->slot_bytes / region + 2;
		break;
	case MM_TINY:
	default:
		region = 64;
		r->slot_bytes = 240;
		buf_bytes = (GMEM_MAX_REGIONS - 1) * region;
		r->nslots = (uint32_t)(buf_bytes / r->slot_bytes);
		r->iov_cap = 2 * MAXD + r->slot_bytes / region + 2;
		break;
	}
	if (r->nslots > cfg->size)
		r->nslots = cfg->size;
	/* §2.7.5.2 / §2.8.18: no chain longer than the queue size, indirect
	 * tables included. */
	r->max_k = MAXD < r->slot_bytes ? MAXD : r->slot_bytes;
	if (r->max_k > cfg->size)
		r->max_k = cfg->size;
	size_t ring_bytes = (size_t)cfg->size * 16 * (MAXD + 2) + 65536;
	int rc = tgm_init(&r->g, ring_bytes, buf_bytes, region);
	CHECK(rc == 0, "tgm_init: %s", strerror(-rc));
	rc = tring_alloc(&r->g, &r->ring, cfg->format, cfg->size, cfg->indirect ? MAXD : 0);
	CHECK(rc == 0, "tring_alloc: %d", rc);
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	if (cfg->event_idx)
		f |= 1ull << VIRTIO_F_EVENT_IDX;
	if (cfg->indirect)
		f |= 1ull << VIRTIO_F_INDIRECT_DESC;
	if (cfg->in_order)
		f |= 1ull << VIRTIO_F_IN_ORDER;
	if (cfg->format == VQ_FORMAT_PACKED)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	/* The driver initialises the ring memory: it goes first. */
	rc = tring_driver(&r->g, &r->ring, f, &r->d);
	CHECK(rc == 0, "tring_driver: %s", vq_strerror(rc));
	rc = tring_device(&r->g, &r->ring, f, VQ_DIR_BOTH, 0, &r->q);
	CHECK(rc == 0, "tring_device: %s", vq_strerror(rc));
	r->rec = calloc(cfg->size, sizeof(*r->rec));
	r->kick_fd = eventfd(0, EFD_CLOEXEC);
	r->call_fd = eventfd(0, EFD_CLOEXEC);
	CHECK(r->rec && r->kick_fd >= 0 && r->call_fd >= 0, "set-up failed");
	/* Initial notification state, before the threads start (each queue
	 * belongs to one thread at a time). */
	if (cfg->notify == NM_ALWAYS) {
		vq_enable_kicks(r->q);
		vq_drv_enable_used_notify(r->d);
	} else {
		vq_disable_kicks(r->q);
		vq_drv_disable_used_notify(r->d);
	}
}

static void run_teardown(struct run *r)
{
	vq_free(r->q);
	vq_drv_free(r->d);
	tgm_fini(&r->g);
	free(r->rec);
	close(r->kick_fd);
	close(r->call_fd);
}

struct totals {
	uint64_t chains, descs, bytes;
};

static void run_one(const struct cfg *cfg, struct totals *t)
{
	struct run r;
	g_fail_cfg = cfg;
	run_setup(&r, cfg);
	double t0 = now_s();
	pthread_t drv_th, dev_th;
	CHECK(pthread_create(&dev_th, NULL, device_main, &r) == 0, "pthread_create");
	CHECK(pthread_create(&drv_th, NULL, driver_main, &r) == 0, "pthread_create");
	pthread_join(drv_th, NULL);
	pthread_join(dev_th, NULL);
	double dt = now_s() - t0;
	/* Polling: notifications are off (packed, split without EVENT_IDX);
	 * a stale split event index lets one through per 2^16 entries. */
	if (cfg->notify == NM_POLL) {
		uint64_t allowed = cfg->format == VQ_FORMAT_SPLIT && cfg->event_idx
					   ? cfg->chains / 65536 + 1
					   : 0;
		CHECK(r.kicks <= allowed && r.notifies <= allowed,
		      "polling, yet %" PRIu64 " kicks and %" PRIu64 " notifications", r.kicks,
		      r.notifies);
	}
	char buf[200];
	cfg_describe(cfg, buf, sizeof(buf));
	printf("%-72s chains=%" PRIu64 " descs=%" PRIu64 " bytes=%" PRIu64 " kicks=%" PRIu64
	       " notifies=%" PRIu64 " sleeps=%" PRIu64 "/%" PRIu64 " ooo=%" PRIu64
	       " io-batches=%" PRIu64 " rewinds=%" PRIu64 " %.2fs\n",
	       buf, cfg->chains, r.descs, r.dev_bytes + r.drv_bytes, r.kicks, r.notifies,
	       r.drv_sleeps, r.dev_sleeps, r.out_of_order, r.in_order_batches, r.rewinds, dt);
	fflush(stdout);
	t->chains += cfg->chains;
	t->descs += r.descs;
	t->bytes += r.dev_bytes + r.drv_bytes;
	run_teardown(&r);
	g_fail_cfg = NULL;
}

static const uint32_t split_sizes[] = {64, 256, 1024, 8, 256, 64};
static const uint32_t packed_sizes[] = {64, 100, 255, 1024, 7, 256};

/* Every format x feature combination x notification mode; sizes and
 * memory layouts rotate so each combination meets several. */
static unsigned make_cfgs(struct cfg *out, uint64_t chains, uint64_t seed)
{
	unsigned n = 0;
	for (unsigned fmt = 0; fmt < 2; fmt++)
		for (unsigned feat = 0; feat < 8; feat++)
			for (unsigned nm = 0; nm < 3; nm++) {
				unsigned i = feat * 3 + nm;
				const uint32_t *sizes = fmt ? packed_sizes : split_sizes;
				out[n] = (struct cfg){
					.format = fmt ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT,
					.size = sizes[(i + fmt) % 6],
					.event_idx = feat & 1,
					.indirect = feat & 2,
					.in_order = feat & 4,
					.notify = (enum notify_mode)nm,
					.mem = (enum mem_mode)((i / 3 + nm + fmt) % 3),
					.chains = chains,
					.seed = seed + n,
				};
				n++;
			}
	return n;
}

int main(int argc, char **argv)
{
	double scale = DEFAULT_SCALE;
	const char *env = getenv("VQNET_TEST_SCALE");
	uint64_t seed = 1;
	long only = -1;
	if (env && *env)
		scale = strtod(env, NULL);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--long"))
			scale *= 20;
		else if (!strncmp(argv[i], "--seed=", 7))
			seed = strtoull(argv[i] + 7, NULL, 0);
		else if (!strncmp(argv[i], "--only=", 7))
			only = strtol(argv[i] + 7, NULL, 0);
		else {
			fprintf(stderr,
				"usage: %s [--long] [--seed=N] [--only=I]\n"
				"  VQNET_TEST_SCALE=f scales the chain count\n",
				argv[0]);
			return 2;
		}
	}
	uint64_t chains = (uint64_t)(BASE_CHAINS * scale);
	if (chains < 100)
		chains = 100;
	struct cfg cfgs[48];
	unsigned n = make_cfgs(cfgs, chains, seed);
	struct totals t = {0};
	double t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		if (only >= 0 && (unsigned long)only != i)
			continue;
		printf("[%2u] ", i);
		run_one(&cfgs[i], &t);
	}
	printf("prop-ring-pair: %" PRIu64 " chains, %" PRIu64 " descriptors, %" PRIu64
	       " bytes verified, %.1fs, all OK\n",
	       t.chains, t.descs, t.bytes, now_s() - t0);
	return 0;
}
