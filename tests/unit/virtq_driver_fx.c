/* SPDX-License-Identifier: MIT */
/* Fixture of the driver-side unit tests: see virtq_driver_fx.h. */
#include <stdlib.h>
#include <string.h>

#include "virtq_driver_fx.h"

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->fmt = *(const enum vq_format *)*state;
	if (tgm_init(&f->g, RING_BYTES, BUF_BYTES, 0)) {
		free(f);
		return -1;
	}
	f->e.iov = f->iov;
	f->e.iov_cap = NIOV;
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_drv_free(f->d);
	vq_free(f->q);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

/* A ring with the driver on it and, if @device, the device too. */
void fx_open(struct fx *f, uint32_t size, uint64_t features, uint32_t indirect_max, bool device)
{
	vq_drv_free(f->d);
	vq_free(f->q);
	f->d = NULL;
	f->q = NULL;
	f->used_idx = 0;
	f->upos = 0;
	f->uwrap = true;
	assert_int_equal(tring_alloc(&f->g, &f->r, f->fmt, size, indirect_max), 0);
	assert_int_equal(tring_driver(&f->g, &f->r, features, &f->d), 0);
	if (device)
		assert_int_equal(tring_device(&f->g, &f->r, features, VQ_DIR_BOTH, 0, &f->q), 0);
}

void *tok(struct fx *f, unsigned i)
{
	return &f->tokens[i];
}

/* Build and end a direct chain; returns its id. */
uint16_t build(struct fx *f, const struct hb *b, unsigned n, void *token)
{
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	for (unsigned k = 0; k < n; k++)
		assert_int_equal(vq_drv_chain_add(f->d, b[k].gpa, b[k].len, b[k].w), 0);
	int id = vq_drv_chain_end(f->d, token);
	assert_true(id >= 0 && (uint32_t)id < f->r.size);
	return (uint16_t)id;
}

/* A one-descriptor writable chain of @len bytes at offset @off. */
uint16_t build1(struct fx *f, uint32_t off, uint32_t len, void *token)
{
	struct hb b = {bgpa(f, off), len, true};
	return build(f, &b, 1, token);
}

/* The hand device completes @id: split writes the next used element and
 * publishes used->idx; packed writes a used descriptor at its position and
 * skips @ndesc. */
void dev_used(struct fx *f, uint32_t id, uint32_t len, uint16_t ndesc)
{
	if (f->fmt == VQ_FORMAT_SPLIT) {
		struct virtq_used_elem *u = &sused(f)->ring[f->used_idx & (f->r.size - 1)];
		u->id = id;
		u->len = len;
		f->used_idx++;
		__atomic_store_n(&sused(f)->idx, f->used_idx, __ATOMIC_RELEASE);
		return;
	}
	struct pvirtq_desc *d = &pdesc(f)[f->upos];
	d->id = (uint16_t)id;
	d->len = len;
	uint16_t flags = (uint16_t)((f->uwrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0) |
				    (len ? VIRTQ_DESC_F_WRITE : 0));
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	uint32_t p = f->upos + (uint32_t)ndesc;
	if (p >= f->r.size) {
		p -= f->r.size;
		f->uwrap = !f->uwrap;
	}
	f->upos = (uint16_t)p;
}

void assert_reaped(const struct vq_drv_used *u, void *token, uint16_t id, uint32_t len)
{
	assert_ptr_equal(u->token, token);
	assert_int_equal(u->id, id);
	assert_int_equal(u->len, len);
}
