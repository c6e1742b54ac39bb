/* SPDX-License-Identifier: MIT */
/*
 * Dirty-page log for live migration (vhost-user SET_LOG_BASE with
 * VHOST_F_LOG_ALL): one bit per GMEM_LOG_PAGE of guest physical memory, set
 * by the backend after it writes guest memory, read and cleared by the
 * frontend concurrently — hence the atomic OR.
 */
#include <stdatomic.h>

#include <vqnet/gmem.h>

#include "base/compiler.h"

VQNET_EXPORT void gmem_log_dirty(uint8_t *bitmap, uint64_t bitmap_bytes, uint64_t gpa, uint64_t len)
{
	if (!bitmap || len == 0)
		return;
	uint64_t first = gpa / GMEM_LOG_PAGE;
	uint64_t last = (gpa + len - 1 < gpa ? UINT64_MAX : gpa + len - 1) / GMEM_LOG_PAGE;
	for (uint64_t page = first; page <= last; page++) {
		uint64_t byte = page / 8;
		if (byte >= bitmap_bytes)
			return; /* beyond the log the frontend gave: not tracked */
		__atomic_fetch_or(&bitmap[byte], (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
	}
}
