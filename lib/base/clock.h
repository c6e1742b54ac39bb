/* SPDX-License-Identifier: MIT */
/*
 * The one clock vqnet measures intervals with: CLOCK_MONOTONIC in
 * nanoseconds (never steps back, unlike the wall clock; about 20 ns through
 * the vDSO, so hot loops still read it only every few turns).
 */
#ifndef VQNET_BASE_CLOCK_H
#define VQNET_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000ull;
}

#endif
