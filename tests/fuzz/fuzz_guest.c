/* SPDX-License-Identifier: MIT */
/* The fuzz targets' guest: exact-size regions and vq_drv rings (fuzz_guest.h). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_guest.h"
#include "fuzz_input.h"

unsigned fg_region_add(struct fg_mem *m, uint64_t gpa, size_t size)
{
	FUZZ_CHECK(m->nreg < FG_NREG && size > 0);
	struct fg_region *r = &m->reg[m->nreg];
	r->gpa = gpa;
	r->size = size;
	r->host = calloc(1, size);
	FUZZ_CHECK(r->host);
	return m->nreg++;
}

void fg_mem_table(struct fg_mem *m)
{
	struct gmem_region_desc d[FG_NREG];
	for (unsigned i = 0; i < m->nreg; i++)
		d[i] = (struct gmem_region_desc){.gpa = m->reg[i].gpa,
						 .size = m->reg[i].size,
						 .hva = m->reg[i].host,
						 .fd = -1};
	FUZZ_CHECK(gmem_table_new(d, m->nreg, &m->t) == 0);
}

uint8_t *fg_host(const struct fg_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nreg; i++) {
		const struct fg_region *r = &m->reg[i];
		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

void fg_mem_free(struct fg_mem *m)
{
	gmem_table_put(m->t);
	for (unsigned i = 0; i < m->nreg; i++)
		free(m->reg[i].host);
	memset(m, 0, sizeof(*m));
}

void fg_ring_init(struct fg_ring *r, struct fg_mem *m, uint64_t gpa, enum vq_format format,
		  uint32_t size, uint64_t features, uint32_t ind_max)
{
	struct vq_layout l;
	FUZZ_CHECK(vq_layout(format, size, &l) == 0);
	*r = (struct fg_ring){.format = format, .size = size, .features = features};
	/* Parts 64 KiB apart: every layout of a queue of <= 256 fits. */
	r->desc_reg = fg_region_add(m, gpa, l.desc_bytes);
	r->drv_reg = fg_region_add(m, gpa + 0x10000, l.driver_bytes);
	r->dev_reg = fg_region_add(m, gpa + 0x20000, l.device_bytes);
	struct vq_drv_config c = {.format = format,
				  .size = size,
				  .features = features,
				  .desc = m->reg[r->desc_reg].host,
				  .driver_area = m->reg[r->drv_reg].host,
				  .device_area = m->reg[r->dev_reg].host};
	if (ind_max && vq_has_feature(features, VIRTIO_F_INDIRECT_DESC)) {
		r->ind_max = ind_max;
		r->ind_reg = fg_region_add(m, gpa + 0x30000, (size_t)size * ind_max * 16);
		c.indirect = m->reg[r->ind_reg].host;
		c.indirect_gpa = gpa + 0x30000;
		c.indirect_max = ind_max;
	}
	FUZZ_CHECK(vq_drv_new(&c, &r->drv) == 0);
}

void fg_ring_start(struct fg_ring *r, struct fg_mem *m, enum vq_dir dir)
{
	struct vq_config c = {.format = r->format,
			      .size = r->size,
			      .features = r->features,
			      .desc_gpa = m->reg[r->desc_reg].gpa,
			      .driver_gpa = m->reg[r->drv_reg].gpa,
			      .device_gpa = m->reg[r->dev_reg].gpa,
			      .dir = dir};
	FUZZ_CHECK(vq_new(&c, m->t, NULL, &r->vq) == 0);
}

void fg_ring_free(struct fg_ring *r)
{
	vq_free(r->vq);
	vq_drv_free(r->drv);
	memset(r, 0, sizeof(*r));
}

enum vq_format fg_ring_format(uint8_t ring)
{
	return ring & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT;
}

uint64_t fg_ring_features(uint8_t ring)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;

	if (ring & 1)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	if (ring & 2)
		f |= 1ull << VIRTIO_F_EVENT_IDX;
	if (ring & 4)
		f |= 1ull << VIRTIO_F_INDIRECT_DESC;
	if (ring & 8)
		f |= 1ull << VIRTIO_F_IN_ORDER;
	return f;
}

uint32_t fg_pick_size(enum vq_format format, uint8_t x, unsigned max)
{
	if (format == VQ_FORMAT_PACKED)
		return 1u + x % max;
	uint32_t s = 2u << (x % 8);
	while (s > max)
		s >>= 1;
	return s;
}
