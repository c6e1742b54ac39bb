/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of vq_set_inflight() (include/vqnet/virtq.h): the vhost-user
 * inflight region of a split ring, driven by hand. A first queue pops and
 * completes some chains; a second queue on the same ring and region (the
 * restarted backend) hands the chains still in flight out again, in pop
 * order, before new ones. Refusals: packed, IN_ORDER, a region too small,
 * another version or size, a queue already used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <spec/virtio_ring.h>
#include <spec/vq_inflight.h>
#include <vqnet/virtq.h>

#include "guestmem.h"
#include "ring_view.h"

#define F(bit)	   (1ull << (bit))
#define RING_BYTES (64u * 1024)
#define BUF_BYTES  (64u * 1024)
#define QSIZE	   8u

struct fx {
	struct tgm g;
	struct tring r;
	struct vq *q;
	uint16_t avail_idx;
	struct iovec iov[2];
	struct vq_elem e;
	union {
		struct vq_inflight_split hdr;
		uint8_t bytes[512];
	} region;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || tgm_init(&f->g, RING_BYTES, BUF_BYTES, 0)) {
		free(f);
		return -1;
	}
	f->e.iov = f->iov;
	f->e.iov_cap = 2;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_free(f->q);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

static struct vq_inflight_split *reg(struct fx *f)
{
	return &f->region.hdr;
}

/* A new device queue on the ring, resuming at the used index (as the
 * vhost-user backend does), with the region. */
static void restart(struct fx *f, uint64_t features)
{
	vq_free(f->q);
	f->q = NULL;
	struct vq_config cfg = {.format = VQ_FORMAT_SPLIT,
				.size = QSIZE,
				.features = F(VIRTIO_F_VERSION_1) | features,
				.desc_gpa = f->r.desc_gpa,
				.driver_gpa = f->r.driver_gpa,
				.device_gpa = f->r.device_gpa};
	uint16_t used = sused(f)->idx;
	struct vq_state st = {.avail_idx = used, .used_idx = used};
	assert_int_equal(vq_new(&cfg, f->g.mem, &st, &f->q), 0);
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), 0);
}

static void add(struct fx *f, uint16_t head)
{
	struct virtq_desc *d = &sdesc(f)[head];
	*d = (struct virtq_desc){.addr = bgpa(f, head * 64u), .len = 64};
	savail(f)->ring[f->avail_idx % QSIZE] = head;
	__atomic_store_n(&savail(f)->idx, ++f->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t pop(struct fx *f)
{
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	return f->e.id;
}

static void test_resubmit_in_pop_order(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_SPLIT, QSIZE, 0), 0);
	restart(f, 0);
	assert_int_equal(reg(f)->version, VQ_INFLIGHT_VERSION);
	assert_int_equal(reg(f)->desc_num, QSIZE);
	const uint16_t order[] = {6, 1, 7, 3, 0};
	for (unsigned i = 0; i < 5; i++)
		add(f, order[i]);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(pop(f), order[i]);
	assert_int_equal(vq_push(f->q, 7, 0), 0);
	assert_int_equal(vq_push(f->q, 6, 0), 0);
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(reg(f)->desc[i].inflight, i == 1 || i == 3 || i == 0);
	assert_int_equal(reg(f)->used_idx, 2);
	add(f, 5); /* not popped before the restart */

	restart(f, 0);
	assert_int_equal(vq_inflight_resubmit_pending(f->q), 3);
	assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 3);
	assert_int_equal(pop(f), 0);
	assert_int_equal(pop(f), 5);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(vq_in_flight(f->q), 4);
	/* The restarted counters keep the order for a second restart. */
	restart(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 3);
	assert_int_equal(pop(f), 0);
	assert_int_equal(pop(f), 5);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
}

static void test_refused(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tring_alloc(&f->g, &f->r, VQ_FORMAT_SPLIT, QSIZE, 0), 0);
	assert_int_equal(tring_device(&f->g, &f->r, F(VIRTIO_F_IN_ORDER), VQ_DIR_BOTH, 0, &f->q),
			 0);
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	vq_free(f->q);
	assert_int_equal(tring_device(&f->g, &f->r, 0, VQ_DIR_BOTH, 0, &f->q), 0);
	assert_int_equal(vq_set_inflight(f->q, &f->region, 16 + 16 * QSIZE - 1),
			 -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_set_inflight(f->q, NULL, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	reg(f)->version = 2;
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	reg(f)->version = 1;
	reg(f)->desc_num = QSIZE / 2;
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	reg(f)->version = 0;
	add(f, 2);
	assert_int_equal(pop(f), 2);
	/* Not on a queue already in use. */
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
	vq_free(f->q);
	f->q = NULL;
	struct tring pr;
	assert_int_equal(tring_alloc(&f->g, &pr, VQ_FORMAT_PACKED, QSIZE, 0), 0);
	assert_int_equal(tring_device(&f->g, &pr, 0, VQ_DIR_BOTH, 0, &f->q), 0);
	assert_int_equal(vq_set_inflight(f->q, &f->region, sizeof(f->region)), -VQ_ERR_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resubmit_in_pop_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refused, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
