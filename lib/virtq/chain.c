/* SPDX-License-Identifier: MIT */
/*
 * Indirect-table reads shared by the split and packed device engines (the
 * per-buffer rules, vq_elem_add_buf(), are inline in vq_internal.h because
 * they run for every descriptor).
 */
#include <errno.h>
#include <string.h>

#include "vq_internal.h"

enum vq_err vq_read_indirect_entry(struct vq *q, const void *table_host, uint64_t table_gpa,
				   uint32_t i, void *out)
{
	/* One 16-byte copy per entry, from the host pointer when the table
	 * is in one region, else piecewise across regions (HOSTILE B5). The
	 * entry is copied field by field with single-copy-atomic loads: the
	 * guest may be rewriting it (A22), and the copy is all we look at. */
	struct virtq_desc tmp;
	/* The guest places indirect tables where it likes: only an 8-byte
	 * aligned one may be read through typed (atomic) loads; any other is
	 * copied bytewise, once, like a table that spans regions. */
	if (table_host && ((uintptr_t)table_host & 7)) {
		memcpy(out, (const uint8_t *)table_host + 16ull * i, sizeof(tmp));
		return VQ_OK;
	}
	const struct virtq_desc *src =
		table_host ? (const struct virtq_desc *)table_host + i : NULL;
	if (!src) {
		if (gmem_read(q->mem, table_gpa + 16ull * i, &tmp, sizeof(tmp), &q->mem_hint))
			return VQ_ERR_INDIRECT_OUT_OF_MEMORY;
		memcpy(out, &tmp, sizeof(tmp));
		return VQ_OK;
	}
	struct virtq_desc *d = out;
	d->addr = ring_load(&src->addr);
	d->len = ring_load(&src->len);
	d->flags = ring_load(&src->flags);
	d->next = ring_load(&src->next);
	return VQ_OK;
}
