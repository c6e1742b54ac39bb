/* SPDX-License-Identifier: MIT */
/*
 * The ring-pair property test's shared part (theory of operation in
 * test_ring_pair.c): a configuration, the per-id record, one run's state,
 * failing with the configuration named, the data patterns and the waiting
 * and watchdog helpers both threads use. ring_pair_driver.c and
 * ring_pair_device.c are the two threads.
 */
#ifndef VQNET_TEST_RING_PAIR_H
#define VQNET_TEST_RING_PAIR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <vqnet/virtq.h>

#include "guestmem.h"

#define MAXD	    64	   /* most descriptors in one chain (also the indirect table size) */
#define BASE_CHAINS 300000 /* chains per configuration at scale 1 (~30 s here) */
#define WAIT_MS	    250	   /* eventfd wait slice before the deadlock check */
#define STALL_S	    20.0   /* no progress on either side for this long: a hang */

enum notify_mode { NM_POLL, NM_SUPPRESS, NM_ALWAYS };
enum mem_mode { MM_CONTIG, MM_PAGES, MM_TINY };

extern const char *const notify_names[];
extern const char *const mem_names[];

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
	/* CPUs the driver and the device thread pin themselves to; -1: unpinned */
	int drv_cpu, dev_cpu;
	/* addresses only, for rp_handover_*() */
	char to_device, to_driver;
};

/*
 * The records (struct rec) travel with the chains: ordered by the ring's
 * own release/acquire pairs (avail->idx or a packed head's flags, then
 * used->idx or the used flags; §2.7.13.3, §2.7.8, §2.8.21). ThreadSanitizer
 * cannot see those: the threads reach the ring through two mappings of one
 * memfd (guestmem.h), and it tracks synchronisation per address. So each
 * hand-over is marked again on an address both threads share: release just
 * before the ring is published, acquire just after it was read. Nothing
 * without TSan. A missing barrier in the ring code is not what TSan can
 * find here; the pattern checks of every byte are.
 */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define rp_handover_release(p) __tsan_release(p)
#define rp_handover_acquire(p) __tsan_acquire(p)
#else
#define rp_handover_release(p) ((void)(p))
#define rp_handover_acquire(p) ((void)(p))
#endif

/* The configuration running, named by FAIL(); NULL between runs. */
extern const struct cfg *g_fail_cfg;

void cfg_describe(const struct cfg *c, char *buf, size_t n);

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

static inline void pat_fill(uint8_t *p, size_t n, uint32_t h, uint32_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(h, off + (uint32_t)i);
}

/* Index of the first mismatch, or n. */
static inline size_t pat_check(const uint8_t *p, size_t n, uint32_t h, uint32_t off)
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

double now_s(void);

/* Idle-loop watchdog: a side that sees no progress anywhere for STALL_S
 * (e.g. both polling, each waiting for the other) fails the test. */
struct stall {
	uint64_t seen;
	double since;
	unsigned iter;
};

void stall_check(struct run *r, struct stall *st, const char *who);
void signal_fd(int fd);
/* Both sides' ring state on stderr. */
void dump_state(struct run *r);
/* Sleep on @fd until signalled; fail on a lost notification. */
void wait_fd(struct run *r, int fd, int peer_fd, struct side_wait *me, struct side_wait *peer,
	     const char *who);
/* Pin the calling thread to @cpu (-1: leave it alone); quietly unpinned
 * when the system refuses. */
void pin_self(int cpu);

/* ------------------------------------------------------------ threads */

void *driver_main(void *arg);
void *device_main(void *arg);

#endif
