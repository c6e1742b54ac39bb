/* SPDX-License-Identifier: MIT */
/*
 * The guest memory table's layout, for the layers built directly on it
 * (virtq) that need the one-compare fast path of a translation inlined into
 * their packet loops. Not a public header: users go through gmem.h.
 */
#ifndef VQNET_GMEM_INTERNAL_H
#define VQNET_GMEM_INTERNAL_H

#include <stdatomic.h>

#include <vqnet/gmem.h>

struct gmem_table {
	atomic_uint refs;
	unsigned n;
	struct gmem_region r[];
};

/*
 * The common case of gmem_translate(): [gpa, gpa + len) lies inside the
 * region the hint names. Returns the host address, or NULL to take the full
 * path (which also produces the error). len must be > 0.
 */
static inline void *gmem_translate_hinted(const struct gmem_table *t, uint64_t gpa, uint64_t len,
					  uint32_t hint)
{
	if (hint >= t->n)
		return NULL;
	const struct gmem_region *r = &t->r[hint];
	uint64_t off = gpa - r->gpa;
	if (off >= r->size || len > r->size - off)
		return NULL;
	return r->hva + off;
}

#endif
