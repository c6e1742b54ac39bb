/* SPDX-License-Identifier: MIT */
#include "base/csum.h"

uint32_t inet_csum_add(uint32_t sum, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t s = sum;
	uint32_t i = 0;

	/* Eight bytes at a time into a 64-bit accumulator: carries wait in
	 * the upper half and are folded once at the end (RFC 1071 §2(B)). */
	for (; i + 8 <= len; i += 8)
		s += (uint64_t)(p[i] << 8 | p[i + 1]) + (uint64_t)(p[i + 2] << 8 | p[i + 3]) +
		     (uint64_t)(p[i + 4] << 8 | p[i + 5]) + (uint64_t)(p[i + 6] << 8 | p[i + 7]);
	for (; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}
