/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of vq_set_dirty_log() (include/vqnet/virtq.h): the device
 * side marks its writes to the used area in a vhost-user dirty log, at the
 * log address given plus the offset written (packed: used descriptors at
 * their own address in the descriptor ring), and nothing else.
 *
 * The log address is chosen independently of where the ring really lies
 * (the frontend gives it), a few bytes before a page boundary, so that the
 * exact bytes written decide which of two pages are marked. Each check
 * compares the whole bitmap with the expected set of pages.
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

/* Pages up to the harness ring memory (TGM_GPA_BASE, 4 GiB) and 128 MiB on. */
#define LOG_BYTES (TGM_GPA_BASE / PAGE / 8 + 4096u)
#define PAGE	  4096ull
#define QSIZE	  8u

struct fx {
	struct tgm g;
	struct tring r;
	struct vq *q;
	uint16_t avail_idx; /* split: next avail index */
	uint16_t pos;	    /* packed: next ring position */
	bool wrap;	    /* packed: driver wrap counter */
	struct iovec iov[4];
	struct vq_elem e;
	uint8_t log[LOG_BYTES];
};

#include "hand_fx.h"

static void fx_open(struct fx *f, enum vq_format fmt, uint64_t features)
{
	assert_int_equal(tring_alloc(&f->g, &f->r, fmt, QSIZE, 0), 0);
	assert_int_equal(
		tring_device(&f->g, &f->r, F(VIRTIO_F_VERSION_1) | features, VQ_DIR_BOTH, 0, &f->q),
		0);
}

/* The bitmap holds exactly the pages @pages[0..n). */
static void expect_pages(struct fx *f, const uint64_t *pages, unsigned n)
{
	static uint8_t want[LOG_BYTES];
	memset(want, 0, sizeof(want));
	for (unsigned i = 0; i < n; i++) {
		assert_true(pages[i] / 8 < LOG_BYTES);
		want[pages[i] / 8] |= (uint8_t)(1u << (pages[i] % 8));
	}
	for (unsigned i = 0; i < LOG_BYTES; i++)
		if (f->log[i] != want[i])
			fail_msg("log byte %u: 0x%02x, expected 0x%02x", i, f->log[i], want[i]);
	memset(f->log, 0, sizeof(f->log));
}

/* ------------------------------------------------------------------------ */

/*
 * Split used ring: idx at offset 2, ring[k] at 4 + 8k, avail_event at
 * 4 + 8 * size. The log address puts a page boundary at offset 12, between
 * ring[0] (and idx, flags) on page A and ring[1..] on page B.
 */
static void test_split(void **state)
{
	struct fx *f = *state;
	const uint64_t pb = 0x40, pa = pb - 1, log_gpa = pb * PAGE - 12;
	fx_open(f, VQ_FORMAT_SPLIT, 0);

	/* Off: nothing is marked. */
	split_add(f, 0, VIRTQ_DESC_F_WRITE);
	assert_int_equal(pop(f), 0);
	assert_int_equal(vq_push(f->q, 0, 64), 0);
	expect_pages(f, NULL, 0);

	/* used_idx is 1 now: slot 1 on page B, idx on page A. */
	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log_gpa);
	split_add(f, 1, VIRTQ_DESC_F_WRITE);
	assert_int_equal(pop(f), 1);
	assert_int_equal(vq_push(f->q, 1, 64), 0);
	expect_pages(f, (uint64_t[]){pa, pb}, 2);

	/* A burst of 7 that wraps: slots 2..7, then 0. With the page boundary
	 * right after ring[7] (offset 68), a log that did not wrap would mark
	 * the second page. */
	const uint64_t log2_gpa = 0x60 * PAGE - 68;
	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log2_gpa);
	for (uint16_t h = 2; h < 8; h++)
		split_add(f, h, VIRTQ_DESC_F_WRITE);
	split_add(f, 0, VIRTQ_DESC_F_WRITE);
	struct vq_used u[7];
	for (unsigned k = 0; k < 7; k++) {
		assert_int_equal(pop(f), (uint16_t)((k + 2) % QSIZE));
		u[k] = (struct vq_used){.id = f->e.id, .len = 1};
	}
	assert_int_equal(vq_push_burst(f->q, u, 7), 0);
	expect_pages(f, (uint64_t[]){0x5f}, 1);
	assert_int_equal(sused(f)->idx, 9);
	assert_int_equal(sused(f)->ring[0].id, 0);

	/* Slot 1 alone: page B, idx page A. */
	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log_gpa);
	split_add(f, 2, VIRTQ_DESC_F_WRITE);
	assert_int_equal(pop(f), 2);
	assert_int_equal(vq_push(f->q, 2, 64), 0);
	expect_pages(f, (uint64_t[]){pa, pb}, 2);

	/* Kick suppression writes used->flags (offset 0: page A). */
	vq_disable_kicks(f->q);
	expect_pages(f, (uint64_t[]){pa}, 1);
	assert_false(vq_enable_kicks(f->q));
	expect_pages(f, (uint64_t[]){pa}, 1);
	/* Notification decisions only read. */
	(void)vq_notify_prepare(f->q);
	expect_pages(f, NULL, 0);

	/* Off again. */
	vq_set_dirty_log(f->q, NULL, 0, 0);
	split_add(f, 3, VIRTQ_DESC_F_WRITE);
	assert_int_equal(pop(f), 3);
	assert_int_equal(vq_push(f->q, 3, 64), 0);
	vq_disable_kicks(f->q);
	expect_pages(f, NULL, 0);
}

/* Split with EVENT_IDX: enable_kicks writes avail_event (page B here);
 * with IN_ORDER one element for a batch. Pages beyond the bitmap are not
 * marked (and not written). */
static void test_split_event_idx_in_order(void **state)
{
	struct fx *f = *state;
	const uint64_t pb = 0x40, pa = pb - 1, log_gpa = pb * PAGE - 12;
	fx_open(f, VQ_FORMAT_SPLIT, F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_IN_ORDER));
	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log_gpa);
	assert_false(vq_enable_kicks(f->q));
	expect_pages(f, (uint64_t[]){pb}, 1);
	vq_disable_kicks(f->q); /* EVENT_IDX: nothing written */
	expect_pages(f, NULL, 0);

	for (uint16_t h = 0; h < 3; h++) {
		split_add(f, h, VIRTQ_DESC_F_WRITE);
		assert_int_equal(pop(f), h);
	}
	/* One element (slot 0, page A) for three chains, and idx (A). */
	assert_int_equal(vq_push_in_order(f->q, 3, 10), 0);
	expect_pages(f, (uint64_t[]){pa}, 1);
	assert_int_equal(sused(f)->idx, 3);
	split_add(f, 3, VIRTQ_DESC_F_WRITE);
	assert_int_equal(pop(f), 3);
	assert_int_equal(vq_push_in_order(f->q, 1, 10), 0); /* slot 3: B */
	expect_pages(f, (uint64_t[]){pa, pb}, 2);

	/* A log too small for the pages: ignored, nothing outside touched. */
	vq_set_dirty_log(f->q, f->log, 1, log_gpa);
	split_add(f, 4, VIRTQ_DESC_F_WRITE);
	assert_int_equal(pop(f), 4);
	assert_int_equal(vq_push(f->q, 4, 1), 0);
	expect_pages(f, NULL, 0);
}

/*
 * Split, a burst that wraps the used ring: 1024 entries started at index
 * 1020, slots 1020..1023 then 0..1. The page boundaries fall at offset 4
 * (flags and idx on page A; ring[0..510] on B) and 4096 + 4 (ring[511..]
 * on C): each part of the burst marks its own page.
 */
static void test_split_wrap(void **state)
{
	struct fx *f = *state;
	const uint32_t size = 1024;
	const uint64_t pa = 0x7f, log_gpa = (pa + 1) * PAGE - 4;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_SPLIT, size, 0), 0);
	struct vq_config cfg = {.format = VQ_FORMAT_SPLIT,
				.size = size,
				.features = F(VIRTIO_F_VERSION_1),
				.desc_gpa = f->r.desc_gpa,
				.driver_gpa = f->r.driver_gpa,
				.device_gpa = f->r.device_gpa};
	struct vq_state st = {.avail_idx = 1020, .used_idx = 1020};
	assert_int_equal(vq_new(&cfg, f->g.mem, &st, &f->q), 0);
	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log_gpa);
	struct vq_used u[6];
	for (uint16_t k = 0; k < 6; k++) {
		struct virtq_desc *d = &sdesc(f)[k];
		*d = (struct virtq_desc){.addr = bgpa(f, k * 64u), .len = 64};
		savail(f)->ring[(1020u + k) % size] = k;
	}
	__atomic_store_n(&savail(f)->idx, (uint16_t)1026, __ATOMIC_RELEASE);
	for (uint16_t k = 0; k < 6; k++) {
		assert_int_equal(pop(f), k);
		u[k] = (struct vq_used){.id = k, .len = 0};
	}
	assert_int_equal(vq_push_burst(f->q, u, 4), 0); /* 1020..1023 */
	expect_pages(f, (uint64_t[]){pa, pa + 2}, 2);
	assert_int_equal(vq_push_burst(f->q, u + 4, 2), 0); /* 0..1 */
	expect_pages(f, (uint64_t[]){pa, pa + 1}, 2);

	/* Again from 1018, in one burst. */
	savail(f)->ring[1018] = 6;
	savail(f)->ring[1019] = 7;
	for (uint16_t k = 0; k < 6; k++)
		savail(f)->ring[(1020u + k) % size] = k;
	sdesc(f)[6] = sdesc(f)[0];
	sdesc(f)[7] = sdesc(f)[0];
	struct vq_state st2 = {.avail_idx = 1018, .used_idx = 1018};
	vq_free(f->q);
	assert_int_equal(vq_new(&cfg, f->g.mem, &st2, &f->q), 0);
	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log_gpa);
	struct vq_used w[8];
	for (uint16_t k = 0; k < 8; k++) {
		assert_int_equal(vq_pop(f->q, &f->e), 1);
		w[k] = (struct vq_used){.id = f->e.id, .len = 0};
	}
	/* One burst over the wrap: 1018..1023 (C), 0..1 (B), idx (A). */
	assert_int_equal(vq_push_burst(f->q, w, 8), 0);
	expect_pages(f, (uint64_t[]){pa, pa + 1, pa + 2}, 3);
}

/*
 * Packed: the used descriptor of each buffer is written at its list's
 * first position, marked at its own guest address in the descriptor ring
 * (the ring of 8 descriptors lies in one page); the device event
 * suppression area is marked at the log address, which puts a page
 * boundary between off_wrap (offset 0) and flags (offset 2).
 */
static void test_packed(void **state)
{
	struct fx *f = *state;
	const uint64_t pb = 0x80, pa = pb - 1, log_gpa = pb * PAGE - 2;
	fx_open(f, VQ_FORMAT_PACKED, 0);
	const uint64_t pd = f->r.desc_gpa / PAGE;
	assert_int_equal((f->r.desc_gpa + QSIZE * 16 - 1) / PAGE, pd);
	assert_true(pd != pa && pd != pb);

	packed_add(f, 5, 1); /* position 0 */
	assert_int_equal(pop(f), 5);
	assert_int_equal(vq_push(f->q, 5, 64), 0);
	expect_pages(f, NULL, 0);

	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log_gpa);
	packed_add(f, 6, 4); /* positions 1..4: used descriptor at 1 only */
	assert_int_equal(pop(f), 6);
	assert_int_equal(vq_push(f->q, 6, 64), 0);
	expect_pages(f, (uint64_t[]){pd}, 1);

	packed_add(f, 1, 1); /* position 5 */
	packed_add(f, 2, 1); /* position 6 */
	assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 2);
	struct vq_used u[2] = {{.id = 1, .len = 0}, {.id = 2, .len = 8}};
	assert_int_equal(vq_push_burst(f->q, u, 2), 0);
	expect_pages(f, (uint64_t[]){pd}, 1);

	/* Wrapping: positions 7 and 0. */
	packed_add(f, 3, 2);
	assert_int_equal(pop(f), 3);
	assert_int_equal(vq_push(f->q, 3, 64), 0);
	expect_pages(f, (uint64_t[]){pd}, 1);

	/* Kick suppression writes the device area's flags (page pb); no
	 * EVENT_IDX here, so off_wrap (page pa) is never written. */
	vq_disable_kicks(f->q);
	expect_pages(f, (uint64_t[]){pb}, 1);
	(void)vq_enable_kicks(f->q);
	expect_pages(f, (uint64_t[]){pb}, 1);

	vq_set_dirty_log(f->q, NULL, 0, 0);
	packed_add(f, 7, 1);
	assert_int_equal(pop(f), 7);
	assert_int_equal(vq_push(f->q, 7, 64), 0);
	vq_disable_kicks(f->q);
	expect_pages(f, NULL, 0);
}

static void test_packed_in_order(void **state)
{
	struct fx *f = *state;
	const uint64_t log_gpa = 0x80 * PAGE - 2;
	fx_open(f, VQ_FORMAT_PACKED, F(VIRTIO_F_IN_ORDER));
	const uint64_t pd = f->r.desc_gpa / PAGE;
	vq_set_dirty_log(f->q, f->log, sizeof(f->log), log_gpa);
	packed_add(f, 0, 1); /* position 0 */
	packed_add(f, 1, 3); /* positions 1..3 */
	packed_add(f, 2, 1); /* position 4 */
	assert_int_equal(pop(f), 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 2);
	assert_int_equal(vq_push_in_order(f->q, 3, 5), 0); /* one entry, at position 0 */
	expect_pages(f, (uint64_t[]){pd}, 1);
	packed_add(f, 3, 1); /* position 5 */
	assert_int_equal(pop(f), 3);
	assert_int_equal(vq_push_in_order(f->q, 1, 5), 0);
	expect_pages(f, (uint64_t[]){pd}, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_split_event_idx_in_order, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_split_wrap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed_in_order, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
