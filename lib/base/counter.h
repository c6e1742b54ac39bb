/* SPDX-License-Identifier: MIT */
/*
 * Statistics counters with one writer: the thread that owns a counter adds
 * to it with a relaxed load and store (no locked instruction on the data
 * path), and any thread may read it with counter_get() at any time. The
 * counters are plain uint64_t (they sit in public stats structs), reached
 * only through the __atomic builtins, so a reader never sees a torn value.
 * A counter written by two threads needs atomic_fetch_add() instead.
 */
#ifndef VQNET_BASE_COUNTER_H
#define VQNET_BASE_COUNTER_H

#include <stdint.h>

/* Add @n to *@c; only the counter's one writer may call this. */
static inline void counter_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t counter_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
