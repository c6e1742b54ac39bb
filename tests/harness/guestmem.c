/* SPDX-License-Identifier: MIT */
/* Test harness: fake guest memory mapped twice. See guestmem.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guestmem.h"

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* Device mapping for the fragmented case: each buffer region its own
 * mmap inside a reserved area, one guard page between neighbours. */
static int map_fragmented(struct tgm *g, size_t region, struct gmem_region_desc *d)
{
	size_t pg = page_size();
	size_t nbuf = g->buf_bytes / region;
	g->dev_reserve_len = g->ring_bytes + pg + nbuf * (region + pg);
	g->dev_reserve =
		mmap(NULL, g->dev_reserve_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->dev_reserve == MAP_FAILED)
		return -errno;
	uint8_t *at = g->dev_reserve;
	void *p = mmap(at, g->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, g->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	d[0] = (struct gmem_region_desc){.gpa = TGM_GPA_BASE, .size = g->ring_bytes, .hva = p};
	at += g->ring_bytes + pg;
	/* Map the buffer regions in reverse order so host addresses run the
	 * other way from guest addresses. */
	for (size_t i = 0; i < nbuf; i++) {
		size_t k = nbuf - 1 - i;
		uint8_t *slot = at + k * (region + pg);
		size_t off = g->ring_bytes + i * region;
		p = mmap(slot, region, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, g->fd,
			 (off_t)off);
		if (p == MAP_FAILED)
			return -errno;
		d[1 + i] = (struct gmem_region_desc){
			.gpa = TGM_GPA_BASE + off, .size = region, .hva = p};
	}
	g->nregions = (unsigned)(1 + nbuf);
	return 0;
}

static int map_contiguous(struct tgm *g, size_t region, struct gmem_region_desc *d)
{
	g->dev_view = mmap(NULL, g->total, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->dev_view == MAP_FAILED) {
		g->dev_view = NULL;
		return -errno;
	}
	d[0] = (struct gmem_region_desc){
		.gpa = TGM_GPA_BASE, .size = g->ring_bytes, .hva = g->dev_view};
	size_t n = region ? g->buf_bytes / region : 1;
	size_t sz = region ? region : g->buf_bytes;
	for (size_t i = 0; i < n; i++) {
		size_t off = g->ring_bytes + i * sz;
		d[1 + i] = (struct gmem_region_desc){
			.gpa = TGM_GPA_BASE + off, .size = sz, .hva = g->dev_view + off};
	}
	g->nregions = (unsigned)(1 + n);
	return 0;
}

int tgm_init(struct tgm *g, size_t ring_bytes, size_t buf_bytes, size_t buf_region_bytes)
{
	size_t pg = page_size();
	memset(g, 0, sizeof(*g));
	g->fd = -1;
	g->ring_bytes = round_up(ring_bytes, pg);
	g->buf_bytes = round_up(buf_bytes, buf_region_bytes ? buf_region_bytes : pg);
	g->total = g->ring_bytes + g->buf_bytes;
	size_t nbuf = buf_region_bytes ? g->buf_bytes / buf_region_bytes : 1;
	if (1 + nbuf > GMEM_MAX_REGIONS)
		return -E2BIG;
	struct gmem_region_desc *d = calloc(1 + nbuf, sizeof(*d));
	if (!d)
		return -ENOMEM;
	int rc = -errno;
	g->fd = memfd_create("vqnet-test-guest", MFD_CLOEXEC);
	if (g->fd < 0 || ftruncate(g->fd, (off_t)g->total) < 0)
		goto fail;
	g->drv_view = mmap(NULL, g->total, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->drv_view == MAP_FAILED) {
		g->drv_view = NULL;
		goto fail;
	}
	bool fragmented = buf_region_bytes && buf_region_bytes % pg == 0;
	rc = fragmented ? map_fragmented(g, buf_region_bytes, d)
			: map_contiguous(g, buf_region_bytes, d);
	if (rc == 0)
		rc = gmem_table_new(d, g->nregions, &g->mem);
	free(d);
	if (rc)
		tgm_fini(g);
	return rc;
fail:
	free(d);
	tgm_fini(g);
	return rc ? rc : -EIO;
}

void tgm_fini(struct tgm *g)
{
	gmem_table_put(g->mem);
	if (g->dev_reserve)
		munmap(g->dev_reserve, g->dev_reserve_len);
	if (g->dev_view)
		munmap(g->dev_view, g->total);
	if (g->drv_view)
		munmap(g->drv_view, g->total);
	if (g->fd >= 0)
		close(g->fd);
	memset(g, 0, sizeof(*g));
	g->fd = -1;
}

uint64_t tgm_ring_alloc(struct tgm *g, size_t bytes, size_t align)
{
	size_t off = round_up(g->ring_next, align ? align : 1);
	if (off + bytes > g->ring_bytes)
		return 0;
	g->ring_next = off + bytes;
	return TGM_GPA_BASE + off;
}

uint64_t tgm_buf_gpa(const struct tgm *g)
{
	return TGM_GPA_BASE + g->ring_bytes;
}

void *tgm_drv_ptr(const struct tgm *g, uint64_t gpa)
{
	if (gpa < TGM_GPA_BASE || gpa - TGM_GPA_BASE >= g->total)
		return NULL;
	return g->drv_view + (gpa - TGM_GPA_BASE);
}

int tring_alloc(struct tgm *g, struct tring *r, enum vq_format format, uint32_t size,
		uint32_t indirect_max)
{
	struct vq_layout l;
	int rc = vq_layout(format, size, &l);
	if (rc)
		return rc;
	memset(r, 0, sizeof(*r));
	r->format = format;
	r->size = size;
	r->desc_gpa = tgm_ring_alloc(g, l.desc_bytes, l.desc_align);
	r->driver_gpa = tgm_ring_alloc(g, l.driver_bytes, l.driver_align);
	r->device_gpa = tgm_ring_alloc(g, l.device_bytes, 64); /* own cache line */
	if (indirect_max) {
		r->indirect_max = indirect_max;
		r->indirect_gpa = tgm_ring_alloc(g, (size_t)size * indirect_max * 16, 16);
		if (!r->indirect_gpa)
			return -ENOSPC;
	}
	return r->desc_gpa && r->driver_gpa && r->device_gpa ? 0 : -ENOSPC;
}

int tring_device(struct tgm *g, const struct tring *r, uint64_t features, enum vq_dir dir,
		 uint32_t max_chain, struct vq **out)
{
	struct vq_config cfg = {
		.format = r->format,
		.size = r->size,
		.features = features,
		.desc_gpa = r->desc_gpa,
		.driver_gpa = r->driver_gpa,
		.device_gpa = r->device_gpa,
		.dir = dir,
		.max_chain = max_chain,
	};
	return vq_new(&cfg, g->mem, NULL, out);
}

int tring_driver(struct tgm *g, const struct tring *r, uint64_t features, struct vq_drv **out)
{
	struct vq_drv_config cfg = {
		.format = r->format,
		.size = r->size,
		.features = features,
		.desc = tgm_drv_ptr(g, r->desc_gpa),
		.driver_area = tgm_drv_ptr(g, r->driver_gpa),
		.device_area = tgm_drv_ptr(g, r->device_gpa),
		.indirect = r->indirect_max ? tgm_drv_ptr(g, r->indirect_gpa) : NULL,
		.indirect_gpa = r->indirect_gpa,
		.indirect_max = r->indirect_max,
	};
	return vq_drv_new(&cfg, out);
}
