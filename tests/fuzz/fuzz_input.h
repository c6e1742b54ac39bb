/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: the input consumed front to back (reads past
 * the end yield zeros) and the invariant check. */
#ifndef VQNET_FUZZ_INPUT_H
#define VQNET_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* An invariant of the code under test: report it and abort, so libFuzzer
 * keeps the input. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant '%s' violated\n", __FILE__, __LINE__,    \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fin_u8(struct fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t fin_u16(struct fuzz_input *in)
{
	uint16_t v = fin_u8(in);
	return (uint16_t)(v | fin_u8(in) << 8);
}

static inline uint32_t fin_u32(struct fuzz_input *in)
{
	uint32_t v = fin_u16(in);
	return v | (uint32_t)fin_u16(in) << 16;
}

static inline uint64_t fin_u64(struct fuzz_input *in)
{
	uint64_t v = fin_u32(in);
	return v | (uint64_t)fin_u32(in) << 32;
}

#endif
