/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the driver side of a virtqueue (include/vqnet/virtq.h):
 * vq_drv_new(), building chains (direct, indirect, rewound), publishing
 * them and running out of ring.
 *
 * The device is played by hand (virtq_driver_fx.h). Tests that depend on
 * the format run once per format (_split / _packed).
 */
#include <stdlib.h>
#include <string.h>

#include "virtq_driver_fx.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_drv_new),    T2(test_drv_new_inits_ring), T2(test_build_publish),
		T2(test_api_misuse), T2(test_add_order_and_len),  T2(test_rewind),
		T2(test_ring_full),  T2(test_indirect),
	};
	return cmocka_run_group_tests_name("virtq_driver_build", tests, NULL, NULL);
}
