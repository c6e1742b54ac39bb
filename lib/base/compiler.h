/* SPDX-License-Identifier: MIT */
/*
 * Compiler helpers and the memory-ordering primitives vqnet uses on shared
 * rings. Ring fields are plain little-endian integers in memory another
 * party writes concurrently, so every access to them goes through these
 * helpers: a single-copy-atomic load or store (never torn, never re-read by
 * the compiler), with the ordering the VIRTIO spec asks for at that point.
 */
#ifndef VQNET_BASE_COMPILER_H
#define VQNET_BASE_COMPILER_H

#include <stdatomic.h>
#include <stdint.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define VQNET_EXPORT	__attribute__((visibility("default")))
#define VQNET_CACHELINE 64
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Relaxed: single-copy atomic, no ordering. */
#define ring_load(p)	 __atomic_load_n((p), __ATOMIC_RELAXED)
#define ring_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Acquire: later reads cannot move before this load (e.g. avail->idx
 * before avail->ring[], §2.7.13.3 on the driver's side of the pair). */
#define ring_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
/* Release: earlier writes are visible before this store (e.g. used ring
 * entries before used->idx, §2.7.8; packed descriptor body before flags). */
#define ring_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* Store only when the value differs: a store to a shared line the peer
 * has cached costs a cross-core invalidation even when it changes nothing
 * (PERFORMANCE.md: writing unchanged values cost DPDK up to 20 %). Only for
 * fields no one else writes (the load sees our own last store). */
#define ring_store_changed(p, v)                                                                   \
	do {                                                                                       \
		if (ring_load(p) != (v))                                                           \
			ring_store((p), (v));                                                      \
	} while (0)
/* Full fence: a store must be visible before a later load of another
 * location (publish index, then read the peer's event index; §2.7.10,
 * §2.7.13.4). The only place vqnet needs more than acquire/release. */
static inline void ring_full_fence(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif
