/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the driver side of a virtqueue (include/vqnet/virtq.h),
 * both ring formats.
 *
 * What the driver writes is checked in ring memory by hand and, where it
 * matters, by popping it with the library's device side. The device's
 * answers (used ring entries, used descriptors, event suppression) are
 * written by hand, so a hostile device can be played exactly. Tests that
 * depend on the format run once per format (_split / _packed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <spec/virtio_ring.h>
#include <vqnet/virtq.h>

#include "guestmem.h"
#include "ring_view.h"

#define F(bit)	   (1ull << (bit))
#define RING_BYTES (256u * 1024)
#define BUF_BYTES  (256u * 1024)
#define NIOV	   16

static const enum vq_format fmt_split = VQ_FORMAT_SPLIT;
static const enum vq_format fmt_packed = VQ_FORMAT_PACKED;

struct fx {
	enum vq_format fmt;
	struct tgm g;
	struct tring r;
	struct vq_drv *d;
	struct vq *q;	   /* the library's device side, when a test uses it */
	uint16_t used_idx; /* split: the hand device's next used index */
	uint16_t upos;	   /* packed: the hand device's next used position */
	bool uwrap;	   /* packed: the hand device's wrap counter */
	struct iovec iov[NIOV];
	struct vq_elem e;
	int tokens[64]; /* &tokens[i] are the chains' tokens */
};

/* A buffer's bytes through the device's mapping (a different host address
 * from the driver's), to check what the device sees. */
static uint8_t *bdev(struct fx *f, uint32_t off)
{
	return f->g.dev_view + f->g.ring_bytes + off;
}

static int fx_setup(void **state)
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

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_drv_free(f->d);
	vq_free(f->q);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

/* A ring with the driver on it and, if @device, the device too. */
static void fx_open(struct fx *f, uint32_t size, uint64_t features, uint32_t indirect_max,
		    bool device)
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

struct hb {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

static void *tok(struct fx *f, unsigned i)
{
	return &f->tokens[i];
}

/* Build and end a direct chain; returns its id. */
static uint16_t build(struct fx *f, const struct hb *b, unsigned n, void *token)
{
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	for (unsigned k = 0; k < n; k++)
		assert_int_equal(vq_drv_chain_add(f->d, b[k].gpa, b[k].len, b[k].w), 0);
	int id = vq_drv_chain_end(f->d, token);
	assert_true(id >= 0 && (uint32_t)id < f->r.size);
	return (uint16_t)id;
}

/* A one-descriptor writable chain of @len bytes at offset @off. */
static uint16_t build1(struct fx *f, uint32_t off, uint32_t len, void *token)
{
	struct hb b = {bgpa(f, off), len, true};
	return build(f, &b, 1, token);
}

/* The hand device completes @id: split writes the next used element and
 * publishes used->idx; packed writes a used descriptor at its position and
 * skips @ndesc. */
static void dev_used(struct fx *f, uint32_t id, uint32_t len, uint16_t ndesc)
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

static void assert_reaped(const struct vq_drv_used *u, void *token, uint16_t id, uint32_t len)
{
	assert_ptr_equal(u->token, token);
	assert_int_equal(u->id, id);
	assert_int_equal(u->len, len);
}

/* ---------------------------------------------------------------- new */

static int drv_new_with(const struct vq_drv_config *c)
{
	struct vq_drv *d = (struct vq_drv *)(uintptr_t)1;
	int rc = vq_drv_new(c, &d);
	if (rc == 0)
		vq_drv_free(d);
	else
		assert_ptr_equal(d, (struct vq_drv *)(uintptr_t)1);
	return rc;
}

static void test_drv_new(void **state)
{
	struct fx *f = *state;
	struct tring r;
	assert_int_equal(tring_alloc(&f->g, &r, f->fmt, 8, 4), 0);
	const struct vq_drv_config good = {
		.format = f->fmt,
		.size = 8,
		.desc = tgm_drv_ptr(&f->g, r.desc_gpa),
		.driver_area = tgm_drv_ptr(&f->g, r.driver_gpa),
		.device_area = tgm_drv_ptr(&f->g, r.device_gpa),
		.indirect = tgm_drv_ptr(&f->g, r.indirect_gpa),
		.indirect_gpa = r.indirect_gpa,
		.indirect_max = 4,
		.features = F(VIRTIO_F_INDIRECT_DESC),
	};
	struct vq_drv_config c = good;
	assert_int_equal(drv_new_with(&c), 0);
	c.size = 3;
	assert_int_equal(drv_new_with(&c), f->fmt == VQ_FORMAT_PACKED ? 0 : -VQ_ERR_INVALID_ARG);
	c.size = 0;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	c.size = 32769;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	c = good;
	c.format = (enum vq_format)2;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	c = good;
	c.desc = NULL;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	c = good;
	c.driver_area = NULL;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	c = good;
	c.device_area = NULL;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	c = good;
	c.indirect_max = 0;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	c.indirect_max = 0x10000;
	assert_int_equal(drv_new_with(&c), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_drv_new(NULL, &f->d), -VQ_ERR_INVALID_ARG);
	vq_drv_free(NULL);
}

/* vq_drv_new() resets ring memory that held garbage. */
static void test_drv_new_inits_ring(void **state)
{
	struct fx *f = *state;
	struct tring r;
	assert_int_equal(tring_alloc(&f->g, &r, f->fmt, 8, 0), 0);
	struct vq_layout l;
	assert_int_equal(vq_layout(f->fmt, 8, &l), 0);
	uint8_t *desc = tgm_drv_ptr(&f->g, r.desc_gpa);
	uint8_t *drv = tgm_drv_ptr(&f->g, r.driver_gpa);
	uint8_t *dev = tgm_drv_ptr(&f->g, r.device_gpa);
	memset(desc, 0xff, l.desc_bytes);
	memset(drv, 0xff, l.driver_bytes);
	memset(dev, 0xff, l.device_bytes);
	f->r = r;
	assert_int_equal(tring_driver(&f->g, &r, 0, &f->d), 0);
	assert_int_equal(vq_drv_free_descs(f->d), 8);
	assert_int_equal(vq_drv_in_flight(f->d), 0);
	assert_false(vq_drv_is_broken(f->d));
	assert_int_equal(vq_drv_broken_reason(f->d), VQ_OK);
	for (uint64_t i = 0; i < l.desc_bytes; i++)
		assert_int_equal(desc[i], 0);
	for (uint64_t i = 0; i < l.driver_bytes; i++)
		assert_int_equal(drv[i], 0); /* packed: flags ENABLE (0), off_wrap 0 */
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 0);
		assert_int_equal(sused(f)->flags, 0);
	}
	/* nothing available to a device, nothing used for the driver */
	assert_int_equal(tring_device(&f->g, &r, 0, VQ_DIR_BOTH, 0, &f->q), 0);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	struct vq_drv_used u[2];
	assert_int_equal(vq_drv_reap(f->d, u, 2), 0);
	assert_false(vq_drv_enable_used_notify(f->d));
}

/* ------------------------------------------------------ build, publish */

static void test_build_publish(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, true);
	memset(bdev(f, 0), 0x3c, 100);
	struct hb b[2] = {{bgpa(f, 0), 100, false}, {bgpa(f, 4096), 200, true}};
	uint16_t id = build(f, b, 2, tok(f, 0));
	assert_int_equal(vq_drv_free_descs(f->d), 6);
	assert_int_equal(vq_drv_in_flight(f->d), 1);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		struct virtq_desc *d = sdesc(f);
		assert_int_equal(d[id].addr, bgpa(f, 0));
		assert_int_equal(d[id].len, 100);
		assert_int_equal(d[id].flags, VIRTQ_DESC_F_NEXT);
		uint16_t n = d[id].next;
		assert_true(n < 8 && n != id);
		assert_int_equal(d[n].addr, bgpa(f, 4096));
		assert_int_equal(d[n].len, 200);
		assert_int_equal(d[n].flags, VIRTQ_DESC_F_WRITE);
		assert_int_equal(savail(f)->idx, 0); /* not yet visible */
	} else {
		struct pvirtq_desc *d = pdesc(f);
		assert_int_equal(d[0].addr, bgpa(f, 0));
		assert_int_equal(d[0].len, 100);
		assert_int_equal(d[0].id, id);
		assert_int_equal(d[0].flags, 0); /* the head's flags wait for publish */
		assert_int_equal(d[1].addr, bgpa(f, 4096));
		assert_int_equal(d[1].len, 200);
		assert_int_equal(d[1].id, id);
		assert_int_equal(d[1].flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_WRITE);
	}
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_pop(f->q, &f->e), 0);

	vq_drv_publish(f->d);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(savail(f)->idx, 1);
		assert_int_equal(savail(f)->ring[0], id);
	} else {
		assert_int_equal(pdesc(f)[0].flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT);
	}
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(f->e.out_len, 100);
	assert_int_equal(f->e.in_len, 200);
	assert_ptr_equal(f->iov[0].iov_base, bdev(f, 0));
	assert_ptr_equal(f->iov[1].iov_base, bdev(f, 4096));
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	/* publishing again with nothing new changes nothing */
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e), 0);

	/* three chains in one publish: none visible before, all after */
	uint16_t ids[3];
	for (unsigned i = 0; i < 3; i++)
		ids[i] = build1(f, 8192 + i * 64, 64, tok(f, 1 + i));
	assert_int_equal(vq_drv_in_flight(f->d), 4);
	assert_int_equal(vq_drv_free_descs(f->d), 3);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(savail(f)->idx, 1);
	else
		assert_int_equal(pdesc(f)[2].flags, 0);
	vq_drv_publish(f->d);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(savail(f)->idx, 4);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(f->q, &f->e), 1);
		assert_int_equal(f->e.id, ids[i]);
		assert_ptr_equal(f->iov[0].iov_base, bdev(f, 8192 + i * 64));
	}
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	/* the ids are distinct */
	assert_true(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
	assert_true(ids[0] != id && ids[1] != id && ids[2] != id);
}

static void test_api_misuse(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, false);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 0), 8, false), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_drv_chain_end(f->d, NULL), -VQ_ERR_INVALID_ARG);
	vq_drv_chain_rewind(f->d); /* not open: nothing */
	assert_int_equal(vq_drv_free_descs(f->d), 8);
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	assert_int_equal(vq_drv_chain_start(f->d, false), -VQ_ERR_INVALID_ARG); /* open */
	assert_int_equal(vq_drv_chain_end(f->d, NULL), -VQ_ERR_INVALID_ARG);	/* empty */
	/* indirect without the feature */
	vq_drv_chain_rewind(f->d);
	assert_int_equal(vq_drv_chain_start(f->d, true), -VQ_ERR_INVALID_ARG);
	/* the feature but no tables */
	fx_open(f, 8, F(VIRTIO_F_INDIRECT_DESC), 0, false);
	assert_int_equal(vq_drv_chain_start(f->d, true), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 0), 8, false), 0);
	assert_true(vq_drv_chain_end(f->d, NULL) >= 0);
	assert_int_equal(vq_drv_in_flight(f->d), 1);
}

static void test_add_order_and_len(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, true);
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 0), 0, false), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 0), 16, false), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 64), 32, true), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 128), 8, false), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 128), 0, true), -VQ_ERR_INVALID_ARG);
	/* the chain stays open and usable */
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 256), 48, true), 0);
	int id = vq_drv_chain_end(f->d, tok(f, 0));
	assert_true(id >= 0);
	assert_int_equal(vq_drv_free_descs(f->d), 5);
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.out_len, 16);
	assert_int_equal(f->e.in_len, 80);

	/* writable bytes must fit 32 bits */
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 0), UINT32_MAX, true), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 0), 1, true), -VQ_ERR_INVALID_ARG);
	vq_drv_chain_rewind(f->d);
	assert_int_equal(vq_drv_free_descs(f->d), 5);
	assert_int_equal(vq_drv_in_flight(f->d), 1);
}

static void test_rewind(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, true);
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, k * 64), 64, k >= 2), 0);
	vq_drv_chain_rewind(f->d);
	assert_int_equal(vq_drv_free_descs(f->d), 8);
	assert_int_equal(vq_drv_in_flight(f->d), 0);
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e), 0); /* nothing was made visible */
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(savail(f)->idx, 0);

	/* a shorter chain where the long one was: the device sees exactly it,
	 * and nothing of the rewound chain behind it */
	uint16_t id = build1(f, 1024, 10, tok(f, 0));
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.nout, 0);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(f->e.in_len, 10);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_drv_free_descs(f->d), 7);

	/* rewinding an open chain with nothing added */
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	vq_drv_chain_rewind(f->d);
	assert_int_equal(vq_drv_free_descs(f->d), 7);

	/* all descriptors can still be used after rewinds */
	assert_int_equal(vq_push(f->q, id, 10), 0);
	struct vq_drv_used u[8];
	assert_int_equal(vq_drv_reap(f->d, u, 8), 1);
	assert_reaped(&u[0], tok(f, 0), id, 10);
	assert_int_equal(vq_drv_free_descs(f->d), 8);
	struct hb b8[8];
	for (unsigned k = 0; k < 8; k++)
		b8[k] = (struct hb){bgpa(f, k * 64), 64, k >= 4};
	id = build(f, b8, 8, tok(f, 1));
	assert_int_equal(vq_drv_free_descs(f->d), 0);
	vq_drv_publish(f->d);
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.nout, 4);
	assert_int_equal(f->e.nin, 4);
}

static void test_ring_full(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4, 0, 0, false);
	struct hb b3[3] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}, {bgpa(f, 128), 8, true}};
	uint16_t a = build(f, b3, 3, tok(f, 0));
	assert_int_equal(vq_drv_free_descs(f->d), 1);
	assert_int_equal(vq_drv_chain_start(f->d, false), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 256), 8, true), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 320), 8, true), -VQ_ERR_NO_SPACE);
	int b = vq_drv_chain_end(f->d, tok(f, 1)); /* still open: end the 1-descriptor chain */
	assert_true(b >= 0);
	assert_int_equal(vq_drv_free_descs(f->d), 0);
	assert_int_equal(vq_drv_chain_start(f->d, false), -VQ_ERR_NO_SPACE);
	assert_int_equal(vq_drv_in_flight(f->d), 2);
	vq_drv_publish(f->d);
	/* the device completes the 3-descriptor chain: room again */
	dev_used(f, a, 16, 3);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	assert_reaped(&u[0], tok(f, 0), a, 16);
	assert_int_equal(vq_drv_free_descs(f->d), 3);
	assert_int_equal(vq_drv_in_flight(f->d), 1);
	(void)build(f, b3, 3, tok(f, 2));
	assert_int_equal(vq_drv_free_descs(f->d), 0);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_INDIRECT_DESC), 4, true);
	assert_int_equal(vq_drv_chain_start(f->d, true), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 0), 10, false), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 64), 20, true), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 128), 30, true), 0);
	int rc = vq_drv_chain_end(f->d, tok(f, 0));
	assert_true(rc >= 0 && rc < 8);
	uint16_t id = (uint16_t)rc;
	assert_int_equal(vq_drv_free_descs(f->d), 7);
	uint64_t table_gpa = f->r.indirect_gpa + (uint64_t)id * 4 * 16;
	if (f->fmt == VQ_FORMAT_SPLIT) {
		struct virtq_desc *d = &sdesc(f)[id];
		assert_int_equal(d->addr, table_gpa);
		assert_int_equal(d->len, 48);
		assert_int_equal(d->flags, VIRTQ_DESC_F_INDIRECT);
		struct virtq_desc *t = tgm_drv_ptr(&f->g, table_gpa);
		assert_int_equal(t[0].addr, bgpa(f, 0));
		assert_int_equal(t[0].len, 10);
		assert_int_equal(t[0].flags, VIRTQ_DESC_F_NEXT);
		assert_int_equal(t[0].next, 1);
		assert_int_equal(t[1].addr, bgpa(f, 64));
		assert_int_equal(t[1].len, 20);
		assert_int_equal(t[1].flags, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
		assert_int_equal(t[1].next, 2);
		assert_int_equal(t[2].addr, bgpa(f, 128));
		assert_int_equal(t[2].len, 30);
		assert_int_equal(t[2].flags, VIRTQ_DESC_F_WRITE);
	} else {
		struct pvirtq_desc *d = &pdesc(f)[0];
		assert_int_equal(d->addr, table_gpa);
		assert_int_equal(d->len, 48);
		assert_int_equal(d->id, id);
		struct pvirtq_desc *t = tgm_drv_ptr(&f->g, table_gpa);
		assert_int_equal(t[0].addr, bgpa(f, 0));
		assert_int_equal(t[0].len, 10);
		assert_int_equal(t[0].flags, 0);
		assert_int_equal(t[1].addr, bgpa(f, 64));
		assert_int_equal(t[1].len, 20);
		assert_int_equal(t[1].flags, VIRTQ_DESC_F_WRITE);
		assert_int_equal(t[2].addr, bgpa(f, 128));
		assert_int_equal(t[2].len, 30);
		assert_int_equal(t[2].flags, VIRTQ_DESC_F_WRITE);
	}
	vq_drv_publish(f->d);
	if (f->fmt == VQ_FORMAT_PACKED)
		assert_int_equal(pdesc(f)[0].flags, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_AVAIL);
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.ndesc, 1);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.in_len, 50);
	assert_ptr_equal(f->iov[2].iov_base, bdev(f, 128));
	assert_int_equal(vq_push(f->q, id, 50), 0);
	struct vq_drv_used u[2];
	assert_int_equal(vq_drv_reap(f->d, u, 2), 1);
	assert_reaped(&u[0], tok(f, 0), id, 50);
	assert_int_equal(vq_drv_free_descs(f->d), 8);

	/* the table holds indirect_max entries */
	assert_int_equal(vq_drv_chain_start(f->d, true), 0);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, k * 64), 8, false), 0);
	assert_int_equal(vq_drv_chain_add(f->d, bgpa(f, 512), 8, false), -VQ_ERR_NO_SPACE);
	vq_drv_chain_rewind(f->d);
	assert_int_equal(vq_drv_free_descs(f->d), 8);
	assert_int_equal(vq_drv_in_flight(f->d), 0);
}

/* -------------------------------------------------------------- kicks */

static void build_publish(struct fx *f, unsigned i)
{
	(void)build1(f, i * 64, 64, tok(f, i));
	vq_drv_publish(f->d);
}

static void test_kick_flags(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, false);
	assert_false(vq_drv_kick_needed(f->d)); /* nothing published */
	build_publish(f, 0);
	assert_true(vq_drv_kick_needed(f->d));
	assert_false(vq_drv_kick_needed(f->d)); /* nothing new */
	if (f->fmt == VQ_FORMAT_SPLIT)
		sused(f)->flags = VIRTQ_USED_F_NO_NOTIFY;
	else
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
	build_publish(f, 1);
	assert_false(vq_drv_kick_needed(f->d));
	if (f->fmt == VQ_FORMAT_SPLIT) {
		sused(f)->flags = 0;
		*savail_event(f) = 100; /* ignored without EVENT_IDX */
	} else {
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DESC; /* = ENABLE without EVENT_IDX */
		pdev_evt(f)->off_wrap = 6;
	}
	build_publish(f, 2);
	assert_true(vq_drv_kick_needed(f->d));
	build_publish(f, 3);
	build_publish(f, 4);
	assert_true(vq_drv_kick_needed(f->d));
}

static void test_kick_event_idx(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_EVENT_IDX), 0, false);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		*savail_event(f) = 2;
		sused(f)->flags = VIRTQ_USED_F_NO_NOTIFY; /* ignored with EVENT_IDX */
	} else {
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdev_evt(f)->off_wrap = 2 | 0x8000;
	}
	build_publish(f, 0); /* index / position 0 */
	assert_false(vq_drv_kick_needed(f->d));
	build_publish(f, 1);
	assert_false(vq_drv_kick_needed(f->d));
	build_publish(f, 2); /* the event */
	assert_true(vq_drv_kick_needed(f->d));
	build_publish(f, 3);
	assert_false(vq_drv_kick_needed(f->d));
	/* two at once across the event */
	if (f->fmt == VQ_FORMAT_SPLIT)
		*savail_event(f) = 5;
	else
		pdev_evt(f)->off_wrap = 5 | 0x8000;
	build_publish(f, 4);
	build_publish(f, 5);
	assert_true(vq_drv_kick_needed(f->d));
	/* DISABLE rules over DESC (packed); an old event is not hit again */
	if (f->fmt == VQ_FORMAT_PACKED) {
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
		pdev_evt(f)->off_wrap = 6 | 0x8000;
	}
	build_publish(f, 6);
	assert_false(vq_drv_kick_needed(f->d));
}

/* "Covers chains published since the previous call": a chain ended but
 * not yet published is not part of the decision, and is covered by the
 * next one once it is published. With EVENT_IDX, counting it early loses
 * the kick the device asks for at its position. */
static void test_kick_covers_published_only(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_EVENT_IDX), 0, false);
	/* the device waits for the chain at index / position 1 */
	if (f->fmt == VQ_FORMAT_SPLIT) {
		*savail_event(f) = 1;
	} else {
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdev_evt(f)->off_wrap = 1 | 0x8000;
	}
	build_publish(f, 0);
	(void)build1(f, 64, 64, tok(f, 1)); /* ended, not published */
	assert_false(vq_drv_kick_needed(f->d));
	vq_drv_publish(f->d);
	assert_true(vq_drv_kick_needed(f->d));
}

/* ---------------------------------------------------------------- reap */

static void test_reap(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, false);
	struct hb ba[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 100, true}};
	struct hb bb[1] = {{bgpa(f, 256), 50, true}};
	struct hb bc[1] = {{bgpa(f, 512), 8, false}};
	uint16_t a = build(f, ba, 2, tok(f, 0));
	uint16_t b = build(f, bb, 1, tok(f, 1));
	uint16_t c = build(f, bc, 1, tok(f, 2));
	vq_drv_publish(f->d);
	assert_int_equal(vq_drv_free_descs(f->d), 4);
	struct vq_drv_used u[8];
	memset(u, 0, sizeof(u));
	assert_int_equal(vq_drv_reap(f->d, u, 8), 0);
	assert_int_equal(vq_drv_reap(f->d, u, 0), 0);

	dev_used(f, b, 50, 1);
	dev_used(f, a, 7, 2);
	assert_int_equal(vq_drv_reap(f->d, u, 8), 2);
	assert_reaped(&u[0], tok(f, 1), b, 50);
	assert_reaped(&u[1], tok(f, 0), a, 7);
	assert_int_equal(vq_drv_free_descs(f->d), 7);
	assert_int_equal(vq_drv_in_flight(f->d), 1);
	assert_int_equal(vq_drv_reap(f->d, u, 8), 0);

	/* n smaller than what is there */
	uint16_t d2 = build1(f, 1024, 30, tok(f, 3));
	vq_drv_publish(f->d);
	dev_used(f, c, 0, 1);
	dev_used(f, d2, 30, 1);
	assert_int_equal(vq_drv_reap(f->d, u, 1), 1);
	assert_reaped(&u[0], tok(f, 2), c, 0);
	assert_int_equal(vq_drv_reap(f->d, u, 1), 1);
	assert_reaped(&u[0], tok(f, 3), d2, 30);
	assert_int_equal(vq_drv_reap(f->d, u, 1), 0);
	assert_int_equal(vq_drv_free_descs(f->d), 8);
	assert_int_equal(vq_drv_in_flight(f->d), 0);
	assert_false(vq_drv_is_broken(f->d));
}

/* Packed: a used descriptor without WRITE carries no length (§2.8.4). */
static void test_reap_packed_no_write_flag(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, false);
	uint16_t a = build1(f, 0, 64, tok(f, 0));
	vq_drv_publish(f->d);
	struct pvirtq_desc *d = &pdesc(f)[0];
	d->id = a;
	d->len = 1000000; /* would be too large, but does not count */
	__atomic_store_n(&d->flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED, __ATOMIC_RELEASE);
	struct vq_drv_used u[2];
	assert_int_equal(vq_drv_reap(f->d, u, 2), 1);
	assert_reaped(&u[0], tok(f, 0), a, 0);
	assert_false(vq_drv_is_broken(f->d));
}

/* Packed: used descriptors on the second lap (wrap counter 0). */
static void test_reap_packed_laps(void **state)
{
	struct fx *f = *state;
	fx_open(f, 3, 0, 0, false);
	struct vq_drv_used u[4];
	for (unsigned i = 0; i < 10; i++) {
		uint16_t id = build1(f, i * 64, 64, tok(f, i));
		vq_drv_publish(f->d);
		/* a used descriptor of the wrong lap is not used */
		assert_int_equal(vq_drv_reap(f->d, u, 4), 0);
		dev_used(f, id, i + 1, 1);
		assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
		assert_reaped(&u[0], tok(f, i), id, i + 1);
	}
	assert_int_equal(vq_drv_free_descs(f->d), 3);
}

/* ------------------------------------------------------- used notify */

static void test_used_notify_flags(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, false);
	vq_drv_disable_used_notify(f->d);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(savail(f)->flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
	else
		assert_int_equal(pdrv_evt(f)->flags, RING_EVENT_FLAGS_DISABLE);
	assert_false(vq_drv_enable_used_notify(f->d));
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(savail(f)->flags, 0);
		assert_int_equal(*sused_event(f), 0); /* untouched without EVENT_IDX */
	} else {
		assert_int_equal(pdrv_evt(f)->flags, RING_EVENT_FLAGS_ENABLE);
	}
	uint16_t a = build1(f, 0, 64, tok(f, 0));
	vq_drv_publish(f->d);
	vq_drv_disable_used_notify(f->d);
	dev_used(f, a, 1, 1); /* used while notifications were off */
	assert_true(vq_drv_enable_used_notify(f->d));
	struct vq_drv_used u[2];
	assert_int_equal(vq_drv_reap(f->d, u, 2), 1);
	assert_false(vq_drv_enable_used_notify(f->d));
}

static void test_used_notify_event_idx(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4, F(VIRTIO_F_EVENT_IDX), 0, false);
	struct vq_drv_used u[4];
	struct hb b2[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}};
	for (unsigned i = 0; i < 3; i++) {
		uint16_t id = build(f, b2, 2, tok(f, i));
		vq_drv_publish(f->d);
		dev_used(f, id, 8, 2);
		assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	}
	vq_drv_disable_used_notify(f->d);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(savail(f)->flags, 0); /* flags unused with EVENT_IDX */
		assert_false(vq_drv_enable_used_notify(f->d));
		assert_int_equal(*sused_event(f), 3);
		assert_int_equal(savail(f)->flags, 0);
	} else {
		assert_int_equal(pdrv_evt(f)->flags, RING_EVENT_FLAGS_DISABLE);
		assert_false(vq_drv_enable_used_notify(f->d));
		assert_int_equal(pdrv_evt(f)->flags, RING_EVENT_FLAGS_DESC);
		/* 3 chains of 2 descriptors on a ring of 4: position 2, lap 0 */
		assert_int_equal(pdrv_evt(f)->off_wrap, 2);
	}
	uint16_t id = build(f, b2, 2, tok(f, 3));
	vq_drv_publish(f->d);
	dev_used(f, id, 8, 2);
	assert_true(vq_drv_enable_used_notify(f->d));
}

/* ----------------------------------------------------- hostile device */

/* After a fault every call fails and the ring is left alone. */
static void assert_drv_broken(struct fx *f, enum vq_err why)
{
	assert_true(vq_drv_is_broken(f->d));
	assert_int_equal(vq_drv_broken_reason(f->d), why);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_BROKEN);
	assert_int_equal(vq_drv_chain_start(f->d, false), -VQ_ERR_BROKEN);
	assert_false(vq_drv_kick_needed(f->d));
	assert_false(vq_drv_enable_used_notify(f->d));
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_BROKEN);
	assert_int_equal(vq_drv_broken_reason(f->d), why);
}

/* Two chains A (writable 64) and B (writable 32) published. */
static void hostile_setup(struct fx *f, uint16_t *a, uint16_t *b)
{
	fx_open(f, 8, 0, 0, false);
	*a = build1(f, 0, 64, tok(f, 0));
	*b = build1(f, 64, 32, tok(f, 1));
	vq_drv_publish(f->d);
}

static void test_hostile_id_out_of_range(void **state)
{
	struct fx *f = *state;
	uint16_t a, b;
	hostile_setup(f, &a, &b);
	dev_used(f, 8, 1, 1);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_ID_OUT_OF_RANGE);
	assert_int_equal(vq_drv_in_flight(f->d), 2);
	assert_drv_broken(f, VQ_ERR_USED_ID_OUT_OF_RANGE);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		/* a 32-bit id that would alias a good one when truncated */
		hostile_setup(f, &a, &b);
		dev_used(f, 0x10000u + a, 1, 1);
		assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_ID_OUT_OF_RANGE);
		assert_drv_broken(f, VQ_ERR_USED_ID_OUT_OF_RANGE);
	}
}

static void test_hostile_id_not_in_flight(void **state)
{
	struct fx *f = *state;
	uint16_t a, b;
	hostile_setup(f, &a, &b);
	uint16_t never = 7;
	assert_true(never != a && never != b);
	dev_used(f, never, 1, 1);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_ID_NOT_IN_FLIGHT);
	assert_drv_broken(f, VQ_ERR_USED_ID_NOT_IN_FLIGHT);
}

static void test_hostile_double_completion(void **state)
{
	struct fx *f = *state;
	uint16_t a, b;
	hostile_setup(f, &a, &b);
	dev_used(f, a, 1, 1);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	assert_reaped(&u[0], tok(f, 0), a, 1);
	dev_used(f, a, 1, 1);
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_ID_NOT_IN_FLIGHT);
	assert_int_equal(vq_drv_in_flight(f->d), 1);
	assert_drv_broken(f, VQ_ERR_USED_ID_NOT_IN_FLIGHT);
}

static void test_hostile_len_too_large(void **state)
{
	struct fx *f = *state;
	uint16_t a, b;
	hostile_setup(f, &a, &b);
	dev_used(f, b, 32, 1); /* exactly the writable bytes: fine */
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	assert_reaped(&u[0], tok(f, 1), b, 32);
	dev_used(f, a, 65, 1);
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_LEN_TOO_LARGE);
	assert_drv_broken(f, VQ_ERR_USED_LEN_TOO_LARGE);

	/* a chain with no writable part takes no length at all */
	fx_open(f, 8, 0, 0, false);
	struct hb r = {bgpa(f, 0), 64, false};
	uint16_t c = build(f, &r, 1, tok(f, 2));
	vq_drv_publish(f->d);
	dev_used(f, c, 1, 1);
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_LEN_TOO_LARGE);
	assert_drv_broken(f, VQ_ERR_USED_LEN_TOO_LARGE);
}

/* Entries taken before the fault come first, the error on the next call. */
static void test_hostile_good_then_bad(void **state)
{
	struct fx *f = *state;
	uint16_t a, b;
	hostile_setup(f, &a, &b);
	dev_used(f, b, 3, 1);
	dev_used(f, 9, 3, 1);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	assert_reaped(&u[0], tok(f, 1), b, 3);
	assert_true(vq_drv_is_broken(f->d));
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_BROKEN);
	assert_int_equal(vq_drv_broken_reason(f->d), VQ_ERR_USED_ID_OUT_OF_RANGE);
}

/* A chain ended but not yet published was never shown to the device: a
 * completion of it is a fault, although the chain is in flight. */
static void test_hostile_unpublished(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, 0, false);
	uint16_t a = build1(f, 0, 64, tok(f, 0));
	vq_drv_publish(f->d);
	uint16_t b = build1(f, 64, 64, tok(f, 1)); /* not published */
	assert_int_equal(vq_drv_in_flight(f->d), 2);
	dev_used(f, b, 1, 1);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_ID_NOT_IN_FLIGHT);
	assert_drv_broken(f, VQ_ERR_USED_ID_NOT_IN_FLIGHT);
	(void)a;

	/* published later, it completes normally */
	fx_open(f, 8, 0, 0, false);
	a = build1(f, 0, 64, tok(f, 0));
	vq_drv_publish(f->d);
	b = build1(f, 64, 64, tok(f, 1));
	dev_used(f, a, 2, 1);
	assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	assert_reaped(&u[0], tok(f, 0), a, 2);
	vq_drv_publish(f->d);
	dev_used(f, b, 3, 1);
	assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	assert_reaped(&u[0], tok(f, 1), b, 3);
	assert_false(vq_drv_is_broken(f->d));

	if (f->fmt == VQ_FORMAT_SPLIT) {
		/* used->idx covering the unpublished chain moved too far */
		fx_open(f, 8, 0, 0, false);
		a = build1(f, 0, 64, tok(f, 0));
		vq_drv_publish(f->d);
		b = build1(f, 64, 64, tok(f, 1));
		sused(f)->ring[0] = (struct virtq_used_elem){a, 1};
		sused(f)->ring[1] = (struct virtq_used_elem){b, 1};
		sused(f)->idx = 2;
		assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_IDX_JUMP);
		assert_drv_broken(f, VQ_ERR_USED_IDX_JUMP);
	}
}

/* Split: used->idx moving more than the chains in flight. */
static void test_hostile_used_idx_jump(void **state)
{
	struct fx *f = *state;
	uint16_t a, b;
	hostile_setup(f, &a, &b);
	sused(f)->ring[0] = (struct virtq_used_elem){a, 1};
	sused(f)->ring[1] = (struct virtq_used_elem){b, 1};
	sused(f)->ring[2] = (struct virtq_used_elem){a, 1};
	sused(f)->idx = 3;
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_IDX_JUMP);
	assert_int_equal(vq_drv_in_flight(f->d), 2); /* nothing taken */
	assert_drv_broken(f, VQ_ERR_USED_IDX_JUMP);

	/* moved backwards */
	hostile_setup(f, &a, &b);
	sused(f)->ring[0] = (struct virtq_used_elem){a, 1};
	sused(f)->idx = 1;
	assert_int_equal(vq_drv_reap(f->d, u, 4), 1);
	sused(f)->idx = 0;
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_USED_IDX_JUMP);
	assert_drv_broken(f, VQ_ERR_USED_IDX_JUMP);
}

/* ------------------------------------------------------------ in order */

static void test_in_order_batch(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_IN_ORDER), 0, false);
	struct hb bb[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 200, true}};
	uint16_t a = build1(f, 512, 100, tok(f, 0));
	uint16_t b = build(f, bb, 2, tok(f, 1));
	uint16_t c = build1(f, 1024, 300, tok(f, 2));
	/* ids follow ring order: split the head descriptor, packed the head position */
	assert_int_equal(a, 0);
	assert_int_equal(b, 1);
	assert_int_equal(c, 3);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sdesc(f)[1].next, 2);
	vq_drv_publish(f->d);
	assert_int_equal(vq_drv_free_descs(f->d), 4);

	dev_used(f, c, 42, 4); /* one entry for the batch */
	if (f->fmt == VQ_FORMAT_SPLIT)
		sused(f)->idx = f->used_idx = 3;
	struct vq_drv_used u[8];
	assert_int_equal(vq_drv_reap(f->d, u, 8), 3);
	assert_reaped(&u[0], tok(f, 0), a, 100);
	assert_reaped(&u[1], tok(f, 1), b, 200);
	assert_reaped(&u[2], tok(f, 2), c, 42);
	assert_int_equal(vq_drv_free_descs(f->d), 8);
	assert_int_equal(vq_drv_in_flight(f->d), 0);
	assert_int_equal(vq_drv_reap(f->d, u, 8), 0);

	/* a batch handed out over several calls */
	uint16_t ids[3];
	for (unsigned i = 0; i < 3; i++)
		ids[i] = build1(f, i * 64, 10 + i, tok(f, 3 + i));
	assert_int_equal(ids[0], 4);
	assert_int_equal(ids[2], 6);
	vq_drv_publish(f->d);
	dev_used(f, ids[2], 5, 3);
	if (f->fmt == VQ_FORMAT_SPLIT)
		sused(f)->idx = f->used_idx = 6;
	assert_true(vq_drv_enable_used_notify(f->d)); /* pending */
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(vq_drv_reap(f->d, u, 1), 1);
		assert_reaped(&u[0], tok(f, 3 + i), ids[i], i < 2 ? 10 + i : 5);
		if (i < 2)
			assert_true(vq_drv_enable_used_notify(f->d)); /* rest of the batch */
	}
	assert_int_equal(vq_drv_reap(f->d, u, 1), 0);
	assert_false(vq_drv_enable_used_notify(f->d));

	/* a chain across the end of the ring: split links descriptor 7 to 0 */
	uint16_t d = build(f, bb, 2, tok(f, 6));
	assert_int_equal(d, 7);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sdesc(f)[7].flags, VIRTQ_DESC_F_NEXT);
		assert_int_equal(sdesc(f)[7].next, 0);
	} else {
		assert_int_equal(pdesc(f)[0].flags, VIRTQ_DESC_F_USED | VIRTQ_DESC_F_WRITE);
	}
	vq_drv_publish(f->d);
	dev_used(f, d, 1, 2);
	assert_int_equal(vq_drv_reap(f->d, u, 8), 1);
	assert_reaped(&u[0], tok(f, 6), d, 1);
	uint16_t e = build1(f, 0, 8, tok(f, 7));
	assert_int_equal(e, 1);
}

/* Split IN_ORDER: a batch entry claiming more chains than used->idx moved. */
static void test_in_order_hostile(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_IN_ORDER), 0, false);
	(void)build1(f, 0, 10, tok(f, 0));
	(void)build1(f, 64, 10, tok(f, 1));
	uint16_t c = build1(f, 128, 10, tok(f, 2));
	vq_drv_publish(f->d);
	struct vq_drv_used u[8];
	if (f->fmt == VQ_FORMAT_SPLIT) {
		sused(f)->ring[0] = (struct virtq_used_elem){c, 1};
		sused(f)->idx = 2; /* the entry closes 3 chains */
		assert_int_equal(vq_drv_reap(f->d, u, 8), -VQ_ERR_USED_IDX_JUMP);
		assert_drv_broken(f, VQ_ERR_USED_IDX_JUMP);
	} else {
		dev_used(f, 8, 1, 1);
		assert_int_equal(vq_drv_reap(f->d, u, 8), -VQ_ERR_USED_ID_OUT_OF_RANGE);
		assert_drv_broken(f, VQ_ERR_USED_ID_OUT_OF_RANGE);
	}
	assert_int_equal(vq_drv_in_flight(f->d), 3);
}

#define TS(f)                                                                                      \
	{                                                                                          \
#f "_split", f, fx_setup, fx_teardown, (void *)&fmt_split                          \
	}
#define TP(f)                                                                                      \
	{                                                                                          \
#f "_packed", f, fx_setup, fx_teardown, (void *)&fmt_packed                        \
	}
#define T2(f) TS(f), TP(f)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_drv_new),
		T2(test_drv_new_inits_ring),
		T2(test_build_publish),
		T2(test_api_misuse),
		T2(test_add_order_and_len),
		T2(test_rewind),
		T2(test_ring_full),
		T2(test_indirect),
		T2(test_kick_flags),
		T2(test_kick_event_idx),
		T2(test_kick_covers_published_only),
		T2(test_reap),
		TP(test_reap_packed_no_write_flag),
		TP(test_reap_packed_laps),
		T2(test_used_notify_flags),
		T2(test_used_notify_event_idx),
		T2(test_hostile_id_out_of_range),
		T2(test_hostile_id_not_in_flight),
		T2(test_hostile_double_completion),
		T2(test_hostile_len_too_large),
		T2(test_hostile_good_then_bad),
		T2(test_hostile_unpublished),
		TS(test_hostile_used_idx_jump),
		T2(test_in_order_batch),
		T2(test_in_order_hostile),
	};
	return cmocka_run_group_tests_name("virtq_driver", tests, NULL, NULL);
}
