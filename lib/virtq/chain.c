/* SPDX-License-Identifier: MIT */
/*
 * Chain walking shared by the split and packed device engines — theory of
 * operation
 *
 * An engine reads each descriptor once into locals and hands its buffer to
 * vq_elem_add_buf(), which applies every per-buffer rule: length not zero
 * (HOSTILE A9/A10), no address wrap (A13), direction allowed on this queue
 * and readable-before-writable order (§2.7.4.2, §2.7.5.1; A17–A19),
 * translation of the whole range into guest memory with the split into
 * iovecs done against the element's remaining capacity (A11, A12, A14,
 * A20), and 64-bit running totals that refuse more than 4 GiB (A15). Any
 * failure leaves the element in an unspecified state but for its id.
 */
#include <errno.h>
#include <string.h>

#include "../gmem/gmem_internal.h"
#include "vq_internal.h"

void vq_elem_reset(struct vq_elem *e)
{
	e->nout = 0;
	e->nin = 0;
	e->ndesc = 0;
	e->err = VQ_OK;
	e->out_len = 0;
	e->in_len = 0;
}

enum vq_err vq_elem_add_buf(struct vq *q, struct vq_elem *e, uint64_t addr, uint32_t len,
			    bool writable)
{
	if (len == 0)
		return VQ_ERR_DESC_ZERO_LEN;
	if (addr + len - 1 < addr)
		return VQ_ERR_DESC_ADDR_OVERFLOW;
	if (writable) {
		if (q->dir == VQ_DIR_DEVICE_READS)
			return VQ_ERR_DESC_WRITE_FORBIDDEN;
		if ((uint64_t)e->in_len + len > UINT32_MAX)
			return VQ_ERR_CHAIN_LEN_OVERFLOW;
	} else {
		if (q->dir == VQ_DIR_DEVICE_WRITES)
			return VQ_ERR_DESC_READ_FORBIDDEN;
		if (e->nin)
			return VQ_ERR_DESC_READ_AFTER_WRITE;
		if ((uint64_t)e->out_len + len > UINT32_MAX)
			return VQ_ERR_CHAIN_LEN_OVERFLOW;
	}
	unsigned used = (unsigned)e->nout + e->nin;
	int n = 1;
	void *host = gmem_translate_hinted(q->mem, addr, len, q->mem_hint);
	if (likely(host && used < e->iov_cap)) {
		e->iov[used].iov_base = host;
		e->iov[used].iov_len = len;
	} else {
		n = gmem_translate(q->mem, addr, len, e->iov + used, e->iov_cap - used,
				   &q->mem_hint);
		if (unlikely(n < 0))
			return n == -ENOBUFS ? VQ_ERR_CHAIN_TOO_MANY_SEGMENTS
					     : VQ_ERR_DESC_OUT_OF_MEMORY;
	}
	if (writable) {
		e->nin += n;
		e->in_len += len;
	} else {
		e->nout += n;
		e->out_len += len;
	}
	return VQ_OK;
}

enum vq_err vq_read_indirect_entry(struct vq *q, const void *table_host, uint64_t table_gpa,
				   uint32_t i, void *out)
{
	/* One 16-byte copy per entry, from the host pointer when the table
	 * is in one region, else piecewise across regions (HOSTILE B5). The
	 * entry is copied field by field with single-copy-atomic loads: the
	 * guest may be rewriting it (A22), and the copy is all we look at. */
	struct virtq_desc tmp;
	const struct virtq_desc *src = table_host ? (const struct virtq_desc *)table_host + i : NULL;
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
