/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the driver side of a virtqueue (include/vqnet/virtq.h):
 * notifications both ways (vq_drv_kick_prepare, vq_drv_enable_used_notify /
 * vq_drv_disable_used_notify), with and without EVENT_IDX.
 *
 * The device is played by hand (virtq_driver_fx.h). Tests that depend on
 * the format run once per format (_split / _packed).
 */
#include <stdlib.h>
#include <string.h>

#include "virtq_driver_fx.h"

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
	assert_false(vq_drv_kick_prepare(f->d)); /* nothing published */
	build_publish(f, 0);
	assert_true(vq_drv_kick_prepare(f->d));
	assert_false(vq_drv_kick_prepare(f->d)); /* nothing new */
	if (f->fmt == VQ_FORMAT_SPLIT)
		sused(f)->flags = VIRTQ_USED_F_NO_NOTIFY;
	else
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
	build_publish(f, 1);
	assert_false(vq_drv_kick_prepare(f->d));
	if (f->fmt == VQ_FORMAT_SPLIT) {
		sused(f)->flags = 0;
		*savail_event(f) = 100; /* ignored without EVENT_IDX */
	} else {
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DESC; /* = ENABLE without EVENT_IDX */
		pdev_evt(f)->off_wrap = 6;
	}
	build_publish(f, 2);
	assert_true(vq_drv_kick_prepare(f->d));
	build_publish(f, 3);
	build_publish(f, 4);
	assert_true(vq_drv_kick_prepare(f->d));
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
	assert_false(vq_drv_kick_prepare(f->d));
	build_publish(f, 1);
	assert_false(vq_drv_kick_prepare(f->d));
	build_publish(f, 2); /* the event */
	assert_true(vq_drv_kick_prepare(f->d));
	build_publish(f, 3);
	assert_false(vq_drv_kick_prepare(f->d));
	/* two at once across the event */
	if (f->fmt == VQ_FORMAT_SPLIT)
		*savail_event(f) = 5;
	else
		pdev_evt(f)->off_wrap = 5 | 0x8000;
	build_publish(f, 4);
	build_publish(f, 5);
	assert_true(vq_drv_kick_prepare(f->d));
	/* DISABLE rules over DESC (packed); an old event is not hit again */
	if (f->fmt == VQ_FORMAT_PACKED) {
		pdev_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
		pdev_evt(f)->off_wrap = 6 | 0x8000;
	}
	build_publish(f, 6);
	assert_false(vq_drv_kick_prepare(f->d));
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
	assert_false(vq_drv_kick_prepare(f->d));
	vq_drv_publish(f->d);
	assert_true(vq_drv_kick_prepare(f->d));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_kick_flags),
		T2(test_kick_event_idx),
		T2(test_kick_covers_published_only),
		T2(test_used_notify_flags),
		T2(test_used_notify_event_idx),
	};
	return cmocka_run_group_tests_name("virtq_driver_notify", tests, NULL, NULL);
}
