/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the driver side of a virtqueue (include/vqnet/virtq.h):
 * a hostile device (bad used ids, lengths and indices, completions of
 * chains it was never shown): each breaks the driver, which then refuses
 * every call and leaves the ring alone.
 *
 * The device is played by hand (virtq_driver_fx.h). Tests that depend on
 * the format run once per format (_split / _packed).
 */
#include <stdlib.h>
#include <string.h>

#include "virtq_driver_fx.h"

/* ----------------------------------------------------- hostile device */

/* After a fault every call fails and the ring is left alone. */
static void assert_drv_broken(struct fx *f, enum vq_err why)
{
	assert_true(vq_drv_is_broken(f->d));
	assert_int_equal(vq_drv_broken_reason(f->d), why);
	struct vq_drv_used u[4];
	assert_int_equal(vq_drv_reap(f->d, u, 4), -VQ_ERR_BROKEN);
	assert_int_equal(vq_drv_chain_start(f->d, false), -VQ_ERR_BROKEN);
	assert_false(vq_drv_kick_prepare(f->d));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_hostile_id_out_of_range),   T2(test_hostile_id_not_in_flight),
		T2(test_hostile_double_completion), T2(test_hostile_len_too_large),
		T2(test_hostile_good_then_bad),	    T2(test_hostile_unpublished),
		TS(test_hostile_used_idx_jump),	    T2(test_in_order_hostile),
	};
	return cmocka_run_group_tests_name("virtq_driver_hostile", tests, NULL, NULL);
}
