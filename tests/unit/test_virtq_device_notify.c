/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the device side of a virtqueue (include/vqnet/virtq.h):
 * notifications both ways (vq_notify_prepare, vq_enable_kicks /
 * vq_disable_kicks), with and without EVENT_IDX, and vq_avail_pending.
 *
 * The driver is played by hand (virtq_device_fx.h). Format-dependent
 * tests run once per format; their names end in _split / _packed.
 */
#include <stdlib.h>
#include <string.h>

#include "virtq_device_fx.h"

/* ------------------------------------------------------- notifications */

static void test_notify_prepare_flags(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_false(vq_notify_prepare(f->q)); /* nothing pushed */
	cycle(f, 0, 1);
	assert_true(vq_notify_prepare(f->q));
	assert_false(vq_notify_prepare(f->q)); /* nothing new */
	if (f->fmt == VQ_FORMAT_SPLIT)
		savail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	else
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
	cycle(f, 1, 1);
	assert_false(vq_notify_prepare(f->q));
	if (f->fmt == VQ_FORMAT_SPLIT) {
		savail(f)->flags = 0;
		cycle(f, 2, 1);
		assert_true(vq_notify_prepare(f->q));
		/* used_event is ignored without EVENT_IDX */
		*sused_event(f) = 100;
		cycle(f, 3, 1);
		assert_true(vq_notify_prepare(f->q));
	} else {
		/* DESC without EVENT_IDX counts as ENABLE, whatever off_wrap */
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdrv_evt(f)->off_wrap = 7;
		cycle(f, 2, 1);
		assert_true(vq_notify_prepare(f->q));
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_ENABLE;
		cycle(f, 3, 1);
		assert_true(vq_notify_prepare(f->q));
	}
	/* two pushes, one decision */
	cycle(f, 4, 1);
	cycle(f, 5, 1);
	assert_true(vq_notify_prepare(f->q));
	assert_int_equal(s->notify_sent, 4);
	assert_int_equal(s->notify_suppressed, 3);
}

static void test_notify_prepare_event_idx(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_EVENT_IDX), VQ_DIR_BOTH, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		*sused_event(f) = 0;
		cycle(f, 0, 1); /* used idx 0 -> 1 covers 0 */
		assert_true(vq_notify_prepare(f->q));
		*sused_event(f) = 3;
		cycle(f, 1, 1); /* 1 -> 2 */
		assert_false(vq_notify_prepare(f->q));
		cycle(f, 2, 1); /* 2 -> 3 */
		assert_false(vq_notify_prepare(f->q));
		cycle(f, 3, 1); /* 3 -> 4 covers 3 */
		assert_true(vq_notify_prepare(f->q));
		/* flags are ignored with EVENT_IDX */
		savail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
		*sused_event(f) = 5;
		cycle(f, 4, 1); /* 4 -> 5 */
		assert_false(vq_notify_prepare(f->q));
		cycle(f, 5, 1);
		cycle(f, 6, 1); /* 5 -> 7 covers 5 */
		assert_true(vq_notify_prepare(f->q));
		/* an event long passed is not hit again */
		*sused_event(f) = 1;
		cycle(f, 7, 1);
		assert_false(vq_notify_prepare(f->q));
		assert_int_equal(sused(f)->idx, 8);
	} else {
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdrv_evt(f)->off_wrap = 2 | 1u << RING_EVENT_WRAP_SHIFT;
		cycle(f, 0, 1); /* used position 0 */
		assert_false(vq_notify_prepare(f->q));
		cycle(f, 1, 1);
		assert_false(vq_notify_prepare(f->q));
		cycle(f, 2, 1); /* position 2 on lap 1 */
		assert_true(vq_notify_prepare(f->q));
		/* an event on the next lap (wrap 0) */
		pdrv_evt(f)->off_wrap = 1;
		for (uint16_t id = 3; id < 8; id++) {
			cycle(f, id, 1); /* positions 3..7 */
			assert_false(vq_notify_prepare(f->q));
		}
		cycle(f, 0, 1); /* position 0, lap 0 */
		assert_false(vq_notify_prepare(f->q));
		cycle(f, 1, 1); /* position 1, lap 0 */
		assert_true(vq_notify_prepare(f->q));
		/* ENABLE and DISABLE still rule */
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
		cycle(f, 2, 1);
		assert_false(vq_notify_prepare(f->q));
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_ENABLE;
		cycle(f, 3, 1);
		assert_true(vq_notify_prepare(f->q));
		/* several at once crossing the event */
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdrv_evt(f)->off_wrap = 5; /* lap 0 */
		cycle(f, 4, 1);
		cycle(f, 5, 1);
		cycle(f, 6, 1);
		assert_true(vq_notify_prepare(f->q));
		assert_state(f, 7, 7, false, false);
	}
	assert_int_equal(s->notify_sent + s->notify_suppressed, f->fmt == VQ_FORMAT_SPLIT ? 7 : 13);
	assert_int_equal(s->notify_sent, f->fmt == VQ_FORMAT_SPLIT ? 3 : 4);
}

static void test_kicks_flags(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	vq_disable_kicks(f->q);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->flags, VIRTQ_USED_F_NO_NOTIFY);
	else
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DISABLE);
	assert_false(vq_enable_kicks(f->q));
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->flags, 0);
	else
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_ENABLE);
	vq_disable_kicks(f->q);
	hand_add1(f, 0); /* made available while kicks are off */
	assert_true(vq_enable_kicks(f->q));
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->flags, 0);
		assert_int_equal(*savail_event(f), 0); /* untouched without EVENT_IDX */
	} else {
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_ENABLE);
		assert_int_equal(pdev_evt(f)->off_wrap, 0);
	}
	pop_ok(f, 0);
	assert_false(vq_enable_kicks(f->q));
}

static void test_kicks_event_idx(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4, F(VIRTIO_F_EVENT_IDX), VQ_DIR_BOTH, 0);
	struct hb two[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}};
	hand_add(f, 0, two, 2);
	pop_ok(f, 0);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	vq_disable_kicks(f->q);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->flags, 0); /* EVENT_IDX: flags unused */
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(*savail_event(f), 1);
		assert_int_equal(sused(f)->flags, 0);
		hand_add(f, 2, two, 2);
		assert_true(vq_enable_kicks(f->q));
		assert_int_equal(*savail_event(f), 1);
		pop_ok(f, 2);
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(*savail_event(f), 2);
	} else {
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DISABLE);
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DESC);
		assert_int_equal(pdev_evt(f)->off_wrap, 2 | 0x8000);
		/* a chain crossing the end of the ring: position 2, 3, 0 */
		struct hb three[3] = {
			{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}, {bgpa(f, 128), 8, true}};
		hand_add(f, 1, three, 3);
		vq_disable_kicks(f->q);
		assert_true(vq_enable_kicks(f->q));
		assert_int_equal(pdev_evt(f)->off_wrap, 2 | 0x8000);
		pop_ok(f, 1);
		assert_int_equal(f->e.ndesc, 3);
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DESC);
		assert_int_equal(pdev_evt(f)->off_wrap, 1); /* position 1, lap 0 */
	}
}

static void test_avail_pending_in_flight(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	assert_false(vq_avail_pending(f->q));
	hand_add1(f, 0);
	assert_true(vq_avail_pending(f->q));
	assert_true(vq_avail_pending(f->q)); /* a peek consumes nothing */
	assert_int_equal(vq_in_flight(f->q), 0);
	hand_add1(f, 1);
	pop_ok(f, 0);
	assert_true(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 1);
	pop_ok(f, 1);
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 2);
	assert_int_equal(vq_push(f->q, 1, 0), 0);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
}

/*
 * vq_enable_kicks_for_more() after the device looked at every buffer and
 * gave them back (too few for its frame): a buffer the driver added after
 * that look, with kicks off, must be reported (poll again), not taken as
 * one already seen; without one, the given-back buffers are not reported
 * (no spin). Before the fix the index or descriptors were read afresh, so
 * the new buffer counted as seen and the device slept on a buffer it
 * needed: a lost wakeup (docs/security.md "Open").
 */
static void kicks_for_more(struct fx *f, uint64_t features)
{
	struct vq_elem e[3];
	struct iovec iov[3][4];

	fx_open(f, 8, features, VQ_DIR_BOTH, 0);
	for (unsigned i = 0; i < 3; i++)
		e[i] = (struct vq_elem){.iov = iov[i], .iov_cap = 4};
	hand_add1(f, 0);
	hand_add1(f, 1);
	assert_int_equal(vq_pop(f->q, &e[0]), 1);
	assert_int_equal(vq_pop(f->q, &e[1]), 1);
	assert_int_equal(vq_pop(f->q, &e[2]), 0); /* every buffer looked at */
	vq_unpop(f->q, &e[1]);
	vq_unpop(f->q, &e[0]);
	vq_disable_kicks(f->q);
	assert_false(vq_enable_kicks_for_more(f->q)); /* the given-back ones: no */
	vq_disable_kicks(f->q);
	hand_add1(f, 2); /* after the look, kicks off: no kick came */
	assert_true(vq_enable_kicks_for_more(f->q));
	/* The device takes all three; dry again, then nothing new. */
	assert_int_equal(vq_pop(f->q, &e[0]), 1);
	assert_int_equal(vq_pop(f->q, &e[1]), 1);
	assert_int_equal(vq_pop(f->q, &e[2]), 1);
	assert_int_equal(e[2].id, 2);
	assert_false(vq_enable_kicks_for_more(f->q));
}

static void test_kicks_for_more_race(void **state)
{
	struct fx *f = *state;

	kicks_for_more(f, 0);
	kicks_for_more(f, F(VIRTIO_F_EVENT_IDX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_notify_prepare_flags),
		T2(test_notify_prepare_event_idx),
		T2(test_kicks_flags),
		T2(test_kicks_event_idx),
		T2(test_avail_pending_in_flight),
		T2(test_kicks_for_more_race),
	};
	return cmocka_run_group_tests_name("virtq_device_notify", tests, NULL, NULL);
}
