/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: inflight-region recovery (vq_set_inflight(): split in
 * lib/virtq/split.c, packed in lib/virtq/inflight_packed.c; the region
 * layout is lib/spec/vq_inflight.h, handed over by
 * lib/vhost_user/backend_inflight.c). The region is what the frontend kept
 * across a backend crash, so it is untrusted.
 *
 * Two phases per input, each on its own ring (fuzz_guest.h: exact-size
 * regions, chains posted by vqnet's honest driver):
 *  A. hostile region: chains are posted, then a queue starts on a region
 *     whose bytes come from the input (header optionally made plausible,
 *     size optionally short), and everything is popped and completed;
 *  B. honest crash: a queue starts on a fresh region, pops some chains,
 *     completes some, "crashes" (freed without completing the rest); a
 *     new queue on the same ring and region must hand out exactly the
 *     chains that were in flight, and after they are completed a third
 *     queue recovers nothing.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h):
 *   u8  bit 0 packed, 1 IN_ORDER, 2 EVENT_IDX, 3 region header made valid
 *       (version 1, desc_num = size), 4 region 1..8 bytes short (u8 more)
 *   u8  queue size (fg_pick_size(), at most 32)
 *   u8  chains posted in phase A (% 33), each u8: 1 + x % 3 descriptors
 *   u16 region image length N, N bytes over the region (phase A)
 *   phase B: u8 chains posted, u8 popped, u8 completed before the crash
 *
 * Invariants (FUZZ_CHECK):
 *  - vq_set_inflight() returns 0, -VQ_ERR_INVALID_ARG or -VQ_ERR_NO_MEMORY;
 *    a refused region is left byte for byte as it was;
 *  - chains to resubmit <= queue size; every pop hands out an id < size
 *    not already held; resubmissions come first (the count drops by one a
 *    pop) and the pops end (nothing available) within size + chains posted
 *    + 1 calls: bounded work;
 *  - after every held chain is completed nothing is in flight, in the
 *    queue or (split) in the region, and a restart on that region
 *    recovers none;
 *  - phase B: the restart resubmits exactly the ids popped and not
 *    completed, in pop order;
 *  - ASan/UBSan: the region and the ring are read only inside their bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_guest.h"
#include "fuzz_input.h"
#include "spec/vq_inflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_QMAX	  32
#define GPA_RING  0x100000ull
#define GPA_BUF	  0x200000ull
#define FZ_BUF_SZ 4096u

struct ring {
	struct fg_mem m;
	struct fg_ring r;
	enum vq_format fmt;
	uint32_t size;
	uint64_t features;
};

static void ring_new(struct ring *g, enum vq_format fmt, uint32_t size, uint64_t features)
{
	memset(g, 0, sizeof(*g));
	g->fmt = fmt;
	g->size = size;
	g->features = features;
	fg_ring_init(&g->r, &g->m, GPA_RING, fmt, size, features, 0);
	fg_region_add(&g->m, GPA_BUF, FZ_BUF_SZ);
	fg_mem_table(&g->m);
}

/* Post @n chains of 1 + x % 3 descriptors; return how many went in. */
static unsigned post(struct ring *g, struct fuzz_input *in, unsigned n)
{
	unsigned posted = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned nd = 1u + fin_u8(in) % 3u;
		struct vq_drv_buf b[3];
		for (unsigned k = 0; k < nd; k++)
			b[k] = (struct vq_drv_buf){.gpa = GPA_BUF + 64u * ((i * 3 + k) % 64u),
						   .len = 64};
		if (vq_drv_add_chain(g->r.drv, b, 1, nd - 1, false, NULL) < 0)
			break;
		posted++;
	}
	vq_drv_publish(g->r.drv);
	return posted;
}

static struct vq *start(struct ring *g)
{
	struct vq_config c = {.format = g->fmt,
			      .size = g->size,
			      .features = g->features,
			      .desc_gpa = g->m.reg[g->r.desc_reg].gpa,
			      .driver_gpa = g->m.reg[g->r.drv_reg].gpa,
			      .device_gpa = g->m.reg[g->r.dev_reg].gpa};
	struct vq *q = NULL;
	FUZZ_CHECK(vq_new(&c, g->m.t, NULL, &q) == 0);
	return q;
}

/* Split: no head marked in flight in the region. (Packed marks only
 * list heads; a restart recovering nothing is the check there.) */
static void check_region_clear(const struct ring *g, const void *region)
{
	const struct vq_inflight_split *r = region;
	if (g->fmt != VQ_FORMAT_SPLIT)
		return;
	for (uint32_t i = 0; i < g->size; i++)
		FUZZ_CHECK(!r->desc[i].inflight);
}

/* Pop until nothing is available (bounded); ids into @ids. Return the
 * number held. */
static unsigned pop_all(struct vq *q, uint32_t size, unsigned posted, uint16_t *ids, unsigned max)
{
	struct iovec iov[8];
	bool held[FZ_QMAX] = {0};
	unsigned n = 0, calls = 0;
	for (;;) {
		struct vq_elem e = {.iov = iov, .iov_cap = 8};
		unsigned pending = vq_inflight_resubmit_pending(q);
		FUZZ_CHECK(calls++ <= size + posted + 1);
		if (n == max)
			break;
		int rc = vq_pop(q, &e);
		if (rc == 0)
			break;
		if (rc < 0 && !vq_err_is_drop(rc))
			break; /* broken: the region or ring lied */
		FUZZ_CHECK(e.id < size && !held[e.id]);
		if (pending)
			FUZZ_CHECK(vq_inflight_resubmit_pending(q) == pending - 1);
		held[e.id] = true;
		ids[n++] = e.id;
	}
	FUZZ_CHECK(vq_is_broken(q) || vq_in_flight(q) == n);
	return n;
}

static void push_all(struct vq *q, const uint16_t *ids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		FUZZ_CHECK(vq_push(q, ids[i], 0) == 0);
}

static void phase_a(struct fuzz_input *in, enum vq_format fmt, uint32_t size, uint64_t features,
		    uint8_t f)
{
	struct ring g;
	ring_new(&g, fmt, size, features);
	unsigned posted = post(&g, in, fin_u8(in) % (FZ_QMAX + 1));
	size_t bytes = fmt == VQ_FORMAT_SPLIT ? vq_inflight_split_bytes(size)
					      : vq_inflight_packed_bytes(size);
	if (f & 16)
		bytes -= 1u + fin_u8(in) % 8u;
	uint8_t *region = calloc(1, bytes), *copy = malloc(bytes);
	FUZZ_CHECK(region && copy);
	uint16_t n = fin_u16(in);
	for (size_t i = 0; i < n && i < bytes; i++)
		region[i] = fin_u8(in);
	if (f & 8) {
		/* version and desc_num sit at the same offsets in both formats */
		struct vq_inflight_split *h = (void *)region;
		h->version = VQ_INFLIGHT_VERSION;
		h->desc_num = (uint16_t)size;
	}
	memcpy(copy, region, bytes);

	struct vq *q = start(&g);
	int rc = vq_set_inflight(q, region, bytes);
	FUZZ_CHECK(rc == 0 || rc == -VQ_ERR_INVALID_ARG || rc == -VQ_ERR_NO_MEMORY);
	if (rc < 0) {
		FUZZ_CHECK(!memcmp(region, copy, bytes));
		goto out;
	}
	FUZZ_CHECK(vq_inflight_resubmit_pending(q) <= size);
	uint16_t ids[FZ_QMAX];
	unsigned held = pop_all(q, size, posted, ids, FZ_QMAX);
	if (vq_is_broken(q))
		goto out;
	push_all(q, ids, held);
	FUZZ_CHECK(vq_in_flight(q) == 0);
	check_region_clear(&g, region);
	/* Restart on the region: nothing to recover. */
	vq_free(q);
	q = start(&g);
	FUZZ_CHECK(vq_set_inflight(q, region, bytes) == 0);
	FUZZ_CHECK(vq_inflight_resubmit_pending(q) == 0);
out:
	vq_free(q);
	free(region);
	free(copy);
	fg_ring_free(&g.r);
	fg_mem_free(&g.m);
}

static void phase_b(struct fuzz_input *in, enum vq_format fmt, uint32_t size, uint64_t features)
{
	struct ring g;
	ring_new(&g, fmt, size, features);
	unsigned posted = post(&g, in, fin_u8(in) % (FZ_QMAX + 1));
	unsigned npop = fin_u8(in) % (posted + 1), ndone = fin_u8(in) % (npop + 1);
	size_t bytes = fmt == VQ_FORMAT_SPLIT ? vq_inflight_split_bytes(size)
					      : vq_inflight_packed_bytes(size);
	uint8_t *region = calloc(1, bytes);
	FUZZ_CHECK(region);

	struct vq *q = start(&g);
	FUZZ_CHECK(vq_set_inflight(q, region, bytes) == 0);
	FUZZ_CHECK(vq_inflight_resubmit_pending(q) == 0);
	uint16_t ids[FZ_QMAX], again[FZ_QMAX];
	unsigned held = pop_all(q, size, posted, ids, npop);
	FUZZ_CHECK(held == npop && !vq_is_broken(q));
	/* Complete the first ndone (in order, so IN_ORDER holds), then crash. */
	push_all(q, ids, ndone);
	vq_free(q);

	q = start(&g);
	FUZZ_CHECK(vq_set_inflight(q, region, bytes) == 0);
	FUZZ_CHECK(vq_inflight_resubmit_pending(q) == held - ndone);
	unsigned n = pop_all(q, size, posted, again, held - ndone);
	FUZZ_CHECK(n == held - ndone);
	FUZZ_CHECK(!memcmp(again, ids + ndone, n * sizeof(ids[0])));
	push_all(q, again, n);
	check_region_clear(&g, region);
	vq_free(q);

	q = start(&g);
	FUZZ_CHECK(vq_set_inflight(q, region, bytes) == 0);
	FUZZ_CHECK(vq_inflight_resubmit_pending(q) == 0);
	vq_free(q);
	free(region);
	fg_ring_free(&g.r);
	fg_mem_free(&g.m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t f = fin_u8(&in);
	enum vq_format fmt = f & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT;
	uint32_t qsize = fg_pick_size(fmt, fin_u8(&in), FZ_QMAX);
	uint64_t features = 1ull << VIRTIO_F_VERSION_1;
	if (f & 2)
		features |= 1ull << VIRTIO_F_IN_ORDER;
	if (f & 4)
		features |= 1ull << VIRTIO_F_EVENT_IDX;
	if (fmt == VQ_FORMAT_PACKED)
		features |= 1ull << VIRTIO_F_RING_PACKED;
	phase_a(&in, fmt, qsize, features, f);
	phase_b(&in, fmt, qsize, features);
	return 0;
}
