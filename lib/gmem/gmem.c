/* SPDX-License-Identifier: MIT */
/*
 * Guest memory table — theory of operation
 *
 * A table is an array of regions sorted by guest physical address, built
 * once and never changed. Lookups binary-search it, after trying the
 * caller's last-hit index (one compare in the common case where a queue's
 * buffers all live in one region). Every range is checked with overflow-safe
 * arithmetic: a range is inside a region when gpa >= start and
 * len <= size - (gpa - start), which cannot wrap.
 *
 * Host mappings are refcounted separately from tables (struct gmem_mapping),
 * so ADD_MEM_REG / REM_MEM_REG build a new table that shares the untouched
 * regions' mappings; a mapping is unmapped and its fd closed when the last
 * table referring to it is put.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/compiler.h"
#include "gmem_internal.h"

struct gmem_mapping {
	atomic_uint refs;
	void *base;
	size_t len;
	int fd;
};

static void mapping_put(struct gmem_mapping *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (m->base)
		munmap(m->base, m->len);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

static void mapping_get(struct gmem_mapping *m)
{
	if (m)
		atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

/* [a, a + alen) and [b, b + blen) overlap; both known not to wrap. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* [x, x + size) must end within 64 bits: the exclusive end is computed
 * (overlap tests, lookups), so a range ending exactly at 2^64 is refused
 * too. */
static bool range_wraps(uint64_t x, uint64_t size)
{
	return x > UINT64_MAX - size;
}

static int region_check(const struct gmem_region_desc *d)
{
	if (d->size == 0 || !d->hva)
		return -EINVAL;
	if (range_wraps(d->gpa, d->size) || (d->uva && range_wraps(d->uva, d->size)) ||
	    range_wraps((uintptr_t)d->hva, d->size))
		return -EOVERFLOW;
	return 0;
}

static int cmp_region(const void *a, const void *b)
{
	const struct gmem_region *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Sort and check a filled table; no ownership moves here. */
static int table_finish(struct gmem_table *t)
{
	qsort(t->r, t->n, sizeof(t->r[0]), cmp_region);
	for (unsigned i = 0; i < t->n; i++) {
		if (i > 0 &&
		    ranges_overlap(t->r[i - 1].gpa, t->r[i - 1].size, t->r[i].gpa, t->r[i].size))
			return -EEXIST;
		if (!t->r[i].uva)
			continue;
		/* Frontend addresses must not overlap either: ring addresses
		 * given in them would be ambiguous. n <= 509, set-up only. */
		for (unsigned j = 0; j < i; j++)
			if (t->r[j].uva &&
			    ranges_overlap(t->r[j].uva, t->r[j].size, t->r[i].uva, t->r[i].size))
				return -EEXIST;
	}
	return 0;
}

static struct gmem_table *table_alloc(unsigned n)
{
	struct gmem_table *t = calloc(1, sizeof(*t) + (size_t)n * sizeof(t->r[0]));
	if (t)
		atomic_init(&t->refs, 1);
	return t;
}

/*
 * Fill @r from @d. When @d hands over a mapping (mmap_base set), a mapping
 * object is allocated now but only *owns* it once the table is accepted:
 * discard_new_mapping() undoes this without unmapping.
 */
static int region_from_desc(struct gmem_region *r, const struct gmem_region_desc *d)
{
	r->gpa = d->gpa;
	r->size = d->size;
	r->uva = d->uva;
	r->hva = d->hva;
	r->mapping = NULL;
	if (!d->mmap_base)
		return 0;
	struct gmem_mapping *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	atomic_init(&m->refs, 1);
	m->base = d->mmap_base;
	m->len = d->mmap_len;
	m->fd = d->fd;
	r->mapping = m;
	return 0;
}

static void discard_new_mapping(struct gmem_region *r)
{
	free(r->mapping); /* never unmaps: the caller still owns the memory */
	r->mapping = NULL;
}

VQNET_EXPORT int gmem_table_new(const struct gmem_region_desc *regions, unsigned n,
				struct gmem_table **out)
{
	if (n > GMEM_MAX_REGIONS || (n && !regions) || !out)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		int rc = region_check(&regions[i]);
		if (rc)
			return rc;
	}
	struct gmem_table *t = table_alloc(n);
	if (!t)
		return -ENOMEM;
	int rc = 0;
	for (t->n = 0; t->n < n && rc == 0; t->n++)
		rc = region_from_desc(&t->r[t->n], &regions[t->n]);
	if (rc == 0)
		rc = table_finish(t);
	if (rc) {
		for (unsigned i = 0; i < t->n; i++)
			discard_new_mapping(&t->r[i]);
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

VQNET_EXPORT int gmem_table_add(const struct gmem_table *old, const struct gmem_region_desc *region,
				struct gmem_table **out)
{
	unsigned n_old = old ? old->n : 0;
	if (!region || !out)
		return -EINVAL;
	if (n_old >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	int rc = region_check(region);
	if (rc)
		return rc;
	struct gmem_table *t = table_alloc(n_old + 1);
	if (!t)
		return -ENOMEM;
	t->n = n_old + 1;
	for (unsigned i = 0; i < n_old; i++)
		t->r[i] = old->r[i];
	rc = region_from_desc(&t->r[n_old], region);
	struct gmem_mapping *fresh = t->r[n_old].mapping;
	if (rc == 0)
		rc = table_finish(t); /* sorts: the new region may move */
	if (rc) {
		free(fresh);
		free(t);
		return rc;
	}
	for (unsigned i = 0; i < t->n; i++)
		if (t->r[i].mapping != fresh)
			mapping_get(t->r[i].mapping);
	*out = t;
	return 0;
}

VQNET_EXPORT int gmem_table_remove(const struct gmem_table *old, uint64_t gpa, uint64_t size,
				   struct gmem_table **out)
{
	if (!old || !out)
		return old ? -EINVAL : -ENOENT;
	unsigned hit = old->n;
	for (unsigned i = 0; i < old->n; i++)
		if (old->r[i].gpa == gpa && old->r[i].size == size)
			hit = i;
	if (hit == old->n)
		return -ENOENT;
	struct gmem_table *t = table_alloc(old->n - 1);
	if (!t)
		return -ENOMEM;
	for (unsigned i = 0; i < old->n; i++) {
		if (i == hit)
			continue;
		t->r[t->n] = old->r[i];
		mapping_get(t->r[t->n].mapping);
		t->n++;
	}
	*out = t;
	return 0;
}

VQNET_EXPORT struct gmem_table *gmem_table_get(struct gmem_table *t)
{
	if (t)
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

VQNET_EXPORT void gmem_table_put(struct gmem_table *t)
{
	if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (unsigned i = 0; i < t->n; i++)
		mapping_put(t->r[i].mapping);
	free(t);
}

VQNET_EXPORT unsigned gmem_table_nregions(const struct gmem_table *t)
{
	return t ? t->n : 0;
}

VQNET_EXPORT const struct gmem_region *gmem_table_region(const struct gmem_table *t, unsigned i)
{
	return t && i < t->n ? &t->r[i] : NULL;
}

/* The region containing @gpa, or NULL. Last-hit first, then bisection. */
static const struct gmem_region *find(const struct gmem_table *t, uint64_t gpa, uint32_t *hint)
{
	uint32_t h = hint ? *hint : 0;
	if (h < t->n && gpa - t->r[h].gpa < t->r[h].size)
		return &t->r[h];
	unsigned lo = 0, hi = t->n;
	while (lo < hi) { /* first region with start > gpa */
		unsigned mid = lo + (hi - lo) / 2;
		if (t->r[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct gmem_region *r = &t->r[lo - 1];
	if (gpa - r->gpa >= r->size)
		return NULL;
	if (hint)
		*hint = lo - 1;
	return r;
}

VQNET_EXPORT int gmem_translate(const struct gmem_table *t, uint64_t gpa, uint64_t len,
				struct iovec *iov, unsigned iov_cap, uint32_t *hint)
{
	if (len == 0)
		return 0;
	if (gpa + len - 1 < gpa)
		return -EOVERFLOW;
	unsigned n = 0;
	while (len) {
		const struct gmem_region *r = t ? find(t, gpa, hint) : NULL;
		if (!r)
			return -EFAULT;
		if (n == iov_cap)
			return -ENOBUFS;
		uint64_t off = gpa - r->gpa;
		uint64_t chunk = r->size - off < len ? r->size - off : len;
		iov[n].iov_base = r->hva + off;
		iov[n].iov_len = chunk;
		n++;
		gpa += chunk;
		len -= chunk;
	}
	return (int)n;
}

VQNET_EXPORT void *gmem_ptr(const struct gmem_table *t, uint64_t gpa, uint64_t len, uint32_t *hint)
{
	if (!t || len == 0 || gpa + len - 1 < gpa)
		return NULL;
	const struct gmem_region *r = find(t, gpa, hint);
	if (!r || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->hva + (gpa - r->gpa);
}

VQNET_EXPORT int gmem_uva_to_gpa(const struct gmem_table *t, uint64_t uva, uint64_t len,
				 uint64_t *gpa)
{
	if (len == 0 || uva + len - 1 < uva)
		return -EOVERFLOW;
	for (unsigned i = 0; t && i < t->n; i++) {
		const struct gmem_region *r = &t->r[i];
		if (!r->uva || uva < r->uva || uva - r->uva >= r->size)
			continue;
		if (len > r->size - (uva - r->uva))
			return -EFAULT;
		*gpa = r->gpa + (uva - r->uva);
		return 0;
	}
	return -EFAULT;
}

/* Copy over a range already known to be mapped, region by region. */
static int copy_range(const struct gmem_table *t, uint64_t gpa, uint8_t *host, size_t len,
		      bool to_guest, uint32_t *hint)
{
	struct iovec iov[8];
	while (len) {
		int n = gmem_translate(t, gpa, len, iov, 8, hint);
		size_t done = 0;
		if (n == -ENOBUFS) /* more than 8 regions: take them 8 at a time */
			n = 8;
		else if (n < 0)
			return n;
		for (int i = 0; i < n && done < len; i++) {
			size_t c = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
			if (to_guest)
				memcpy(iov[i].iov_base, host + done, c);
			else
				memcpy(host + done, iov[i].iov_base, c);
			done += c;
		}
		gpa += done;
		host += done;
		len -= done;
	}
	return 0;
}

/* Whole range mapped? Checked before the first byte moves. */
static int range_check(const struct gmem_table *t, uint64_t gpa, size_t len, uint32_t *hint)
{
	if (len == 0)
		return 0;
	if (gpa + len - 1 < gpa)
		return -EOVERFLOW;
	while (len) {
		const struct gmem_region *r = t ? find(t, gpa, hint) : NULL;
		if (!r)
			return -EFAULT;
		uint64_t avail = r->size - (gpa - r->gpa);
		if (avail >= len)
			return 0;
		gpa += avail;
		len -= avail;
	}
	return 0;
}

VQNET_EXPORT int gmem_read(const struct gmem_table *t, uint64_t gpa, void *dst, size_t len,
			   uint32_t *hint)
{
	int rc = range_check(t, gpa, len, hint);
	return rc ? rc : copy_range(t, gpa, dst, len, false, hint);
}

VQNET_EXPORT int gmem_write(const struct gmem_table *t, uint64_t gpa, const void *src, size_t len,
			    uint32_t *hint)
{
	int rc = range_check(t, gpa, len, hint);
	return rc ? rc : copy_range(t, gpa, (uint8_t *)src, len, true, hint);
}
