/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the driver side of a virtqueue (include/vqnet/virtq.h):
 * reaping completed chains (vq_drv_reap), packed laps, and IN_ORDER
 * batches.
 *
 * The device is played by hand (virtq_driver_fx.h). Tests that depend on
 * the format run once per format (_split / _packed).
 */
#include <stdlib.h>
#include <string.h>

#include "virtq_driver_fx.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_reap),
		TP(test_reap_packed_no_write_flag),
		TP(test_reap_packed_laps),
		T2(test_in_order_batch),
	};
	return cmocka_run_group_tests_name("virtq_driver_reap", tests, NULL, NULL);
}
