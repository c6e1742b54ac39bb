/* SPDX-License-Identifier: MIT */
/*
 * Prefetch for writing: ask for a cache line in a state this core may
 * write, ahead of the stores.
 *
 * Why: on the packet path most lines a side writes are lines the other
 * side (the other core) last read or wrote — a buffer the device just
 * finished with, a descriptor slot. A plain store to such a line waits in
 * the store buffer until the line arrives, and stores leave the buffer in
 * order, so the lines of a burst arrive one after another. PREFETCHW asks
 * for all of them at once. Measured (docs/performance.md): vqnet-perf
 * transmit to vqnetd, 64-byte frames, packed ring, 20 -> 40-45 Mpps with
 * the frame lines of each burst prefetched this way. A read prefetch
 * (prefetcht0, which __builtin_prefetch(p, 1) becomes without -mprfchw) is
 * worse than none: the line comes shared and the store must ask again
 * (13.3 against 15.3 Mpps).
 *
 * PREFETCHW is x86's PRFCHW feature (CPUID 0x80000001 ECX bit 8: AMD,
 * Intel since Broadwell); it is only executed where the CPU says it has
 * it (checked once per translation unit).
 */
#ifndef VQNET_BASE_PREFETCH_H
#define VQNET_BASE_PREFETCH_H

#include <stdbool.h>

#include "base/compiler.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static inline bool prefetchw_supported(void)
{
	static int known = -1; /* -1: not asked yet; racing first calls agree */
	int ok = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (unlikely(ok < 0)) {
		unsigned a, b, c = 0, d;

		ok = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & bit_PRFCHW) ? 1 : 0;
		__atomic_store_n(&known, ok, __ATOMIC_RELAXED);
	}
	return ok;
}

/* The line holding @p, wanted for writing (a hint: never faults). */
static inline void prefetch_write(const void *p)
{
	if (likely(prefetchw_supported()))
		__asm__ volatile("prefetchw %0" ::"m"(*(const char *)p));
}
#else
static inline void prefetch_write(const void *p)
{
	__builtin_prefetch(p, 1, 3);
}
#endif

#endif
