/* SPDX-License-Identifier: MIT */
/* Fixture of the device-side unit tests: see virtq_device_fx.h. */
#include <stdlib.h>
#include <string.h>

#include "virtq_device_fx.h"

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
	f->wrap = true;
	f->e.iov = f->iov;
	f->e.iov_cap = NIOV;
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_free(f->q);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

/* Lay out a ring in the ring area and start the device on it. */
void fx_open(struct fx *f, uint32_t size, uint64_t features, enum vq_dir dir, uint32_t max_chain)
{
	vq_free(f->q);
	f->q = NULL;
	f->avail_idx = 0;
	f->pos = 0;
	f->wrap = true;
	assert_int_equal(tring_alloc(&f->g, &f->r, f->fmt, size, 0), 0);
	assert_int_equal(tring_device(&f->g, &f->r, features, dir, max_chain, &f->q), 0);
	assert_non_null(f->q);
}

/* Split: write descriptor @i. */
void split_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next)
{
	struct virtq_desc *d = &sdesc(f)[i];
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Split: put @head in the next avail slot and publish it. */
void split_avail(struct fx *f, uint16_t head)
{
	savail(f)->ring[f->avail_idx & (f->r.size - 1)] = head;
	f->avail_idx++;
	__atomic_store_n(&savail(f)->idx, f->avail_idx, __ATOMIC_RELEASE);
}

/* Split: a chain through descriptors @idx[0..n), published. */
void split_chain_at(struct fx *f, const uint16_t *idx, const struct hb *b, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		split_desc(f, idx[k], b[k].gpa, b[k].len,
			   (uint16_t)((b[k].w ? VIRTQ_DESC_F_WRITE : 0) |
				      (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			   k + 1 < n ? idx[k + 1] : 0);
	split_avail(f, idx[0]);
}

/* Packed: flags that make a descriptor available on the hand driver's lap. */
static uint16_t pavail(bool wrap)
{
	return wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
}

static void pos_next(struct fx *f, uint16_t *pos, bool *wrap)
{
	if (++*pos == f->r.size) {
		*pos = 0;
		*wrap = !*wrap;
	}
}

/* Packed: a list at the hand driver's position; @extra is or-ed into every
 * descriptor's flags; the head's flags are stored last, with release. */
void packed_chain(struct fx *f, uint16_t id, const struct hb *b, unsigned n, uint16_t extra)
{
	struct pvirtq_desc *ring = pdesc(f);
	uint16_t head = f->pos, head_flags = 0;
	for (unsigned k = 0; k < n; k++) {
		struct pvirtq_desc *d = &ring[f->pos];
		uint16_t flags =
			(uint16_t)(pavail(f->wrap) | extra | (b[k].w ? VIRTQ_DESC_F_WRITE : 0) |
				   (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		d->addr = b[k].gpa;
		d->len = b[k].len;
		d->id = id;
		if (k == 0)
			head_flags = flags;
		else
			d->flags = flags;
		pos_next(f, &f->pos, &f->wrap);
	}
	__atomic_store_n(&ring[head].flags, head_flags, __ATOMIC_RELEASE);
}

/* Make a chain available: split through descriptors id, id+1, ... (head
 * id); packed with buffer id @id at the hand driver's position. */
void hand_add(struct fx *f, uint16_t id, const struct hb *b, unsigned n)
{
	if (f->fmt == VQ_FORMAT_SPLIT) {
		uint16_t idx[NIOV];
		for (unsigned k = 0; k < n; k++)
			idx[k] = (uint16_t)((id + k) % f->r.size);
		split_chain_at(f, idx, b, n);
	} else {
		packed_chain(f, id, b, n, 0);
	}
}

/* A one-descriptor writable chain of 64 bytes at buffer offset id*64. */
void hand_add1(struct fx *f, uint16_t id)
{
	struct hb b = {bgpa(f, id * 64u), 64, true};
	hand_add(f, id, &b, 1);
}

/* Pop a chain that must be good and have id @id. */
void pop_ok(struct fx *f, uint16_t id)
{
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.err, VQ_OK);
}

/* One 1-descriptor chain made available, popped and pushed. */
void cycle(struct fx *f, uint16_t id, uint32_t len)
{
	hand_add1(f, id);
	pop_ok(f, id);
	assert_int_equal(vq_push(f->q, id, len), 0);
}

/* Bytes the device may write: split used ring, packed descriptor ring and
 * both event areas. */
static size_t device_mem(struct fx *f, uint8_t **p)
{
	if (f->fmt == VQ_FORMAT_SPLIT) {
		*p = (uint8_t *)sused(f);
		return virtq_split_used_bytes(f->r.size);
	}
	*p = (uint8_t *)pdesc(f);
	return 16u * f->r.size;
}

uint8_t *snapshot(struct fx *f, size_t *len)
{
	uint8_t *src;
	*len = device_mem(f, &src);
	uint8_t *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, src, *len);
	return copy;
}

void assert_unchanged(struct fx *f, uint8_t *copy, size_t len)
{
	uint8_t *src;
	assert_int_equal(device_mem(f, &src), len);
	assert_memory_equal(src, copy, len);
	free(copy);
}

/* Packed used descriptor at @pos: id, len and flags for wrap @wrap. */
void assert_packed_used(struct fx *f, uint16_t pos, uint16_t id, uint32_t len, bool wrap)
{
	struct pvirtq_desc *d = &pdesc(f)[pos];
	uint16_t flags = (uint16_t)((wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0) |
				    (len ? VIRTQ_DESC_F_WRITE : 0));
	assert_int_equal(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE), flags);
	assert_int_equal(d->id, id);
	assert_int_equal(d->len, len);
}

void assert_split_used(struct fx *f, uint16_t slot, uint32_t id, uint32_t len)
{
	struct virtq_used_elem *u = &sused(f)->ring[slot & (f->r.size - 1)];
	assert_int_equal(u->id, id);
	assert_int_equal(u->len, len);
}

void assert_state(struct fx *f, uint16_t avail, uint16_t used, bool aw, bool uw)
{
	struct vq_state s;
	memset(&s, 0xcc, sizeof(s));
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, avail);
	assert_int_equal(s.used_idx, used);
	if (f->fmt == VQ_FORMAT_PACKED) {
		assert_int_equal(s.avail_wrap, aw);
		assert_int_equal(s.used_wrap, uw);
	}
}
