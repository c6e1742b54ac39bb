/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table, driver side (HOSTILE-INPUTS.md H1-H3): hostile used
 * entries written by hand against the library's driver; vq_drv_reap() must
 * report the exact -VQ_ERR_USED_* code and break the queue without freeing
 * anything. Every row prints one "ROW" line (format, HOSTILE id, name,
 * expected code, broken reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "malformed.h"

struct dctx;
struct drow {
	enum vq_format fmt;
	const char *hid;
	const char *name;
	void (*write)(struct dctx *x);
	int expect_rc;		/* first vq_drv_reap() */
	enum vq_err expect_why; /* broken reason, VQ_OK = must not break */
};

struct dctx {
	const struct drow *row;
	struct tgm g;
	struct tring r;
	struct vq_drv *d;
	uint64_t buf;
	struct virtq_used *used;
	struct pvirtq_desc *pdesc;
};

static unsigned token_seq;
static unsigned k_token_seq(void)
{
	return token_seq++;
}

/* A chain of @nr readable and @nw writable 64-byte buffers. */
static uint16_t dchain(struct dctx *x, unsigned nr, unsigned nw)
{
	assert_int_equal(vq_drv_chain_start(x->d, false), 0);
	for (unsigned k = 0; k < nr + nw; k++)
		assert_int_equal(vq_drv_chain_add(x->d, x->buf + 64u * k, 64, k >= nr), 0);
	int id = vq_drv_chain_end(x->d, (void *)(uintptr_t)(0x1000 + k_token_seq()));
	assert_true(id >= 0);
	return (uint16_t)id;
}

static void su(struct dctx *x, uint16_t slot, uint32_t id, uint32_t len)
{
	x->used->ring[slot & (x->r.size - 1)].id = id;
	x->used->ring[slot & (x->r.size - 1)].len = len;
}

static void su_idx(struct dctx *x, uint16_t idx)
{
	__atomic_store_n(&x->used->idx, idx, __ATOMIC_RELEASE);
}

/* Packed: a used descriptor at @pos (lap 1). */
static void pu(struct dctx *x, uint16_t pos, uint16_t id, uint32_t len, bool write_flag)
{
	x->pdesc[pos].id = id;
	x->pdesc[pos].len = len;
	__atomic_store_n(&x->pdesc[pos].flags, (uint16_t)(PAV | PUS | (write_flag ? WR : 0)),
			 __ATOMIC_RELEASE);
}

/* H1 split */
static void h_split_id_range(struct dctx *x)
{
	dchain(x, 1, 1);
	vq_drv_publish(x->d);
	su(x, 0, x->r.size, 0);
	su_idx(x, 1);
}
static void h_split_id_huge(struct dctx *x)
{
	dchain(x, 1, 1);
	vq_drv_publish(x->d);
	su(x, 0, 0xffffffffu, 0);
	su_idx(x, 1);
}
static void h_split_not_issued(struct dctx *x)
{
	dchain(x, 1, 1); /* head 0, descriptors 0-1 */
	vq_drv_publish(x->d);
	su(x, 0, 9, 0);
	su_idx(x, 1);
}
static void h_split_not_head(struct dctx *x)
{
	uint16_t head = dchain(x, 2, 1); /* three descriptors */
	vq_drv_publish(x->d);
	su(x, 0, (uint16_t)(head + 1), 0); /* a middle descriptor */
	su_idx(x, 1);
}
static void h_split_dup(struct dctx *x)
{
	uint16_t a = dchain(x, 1, 1);
	dchain(x, 1, 1);
	vq_drv_publish(x->d);
	su(x, 0, a, 10);
	su(x, 1, a, 10);
	su_idx(x, 2);
}
static void h_split_unpublished(struct dctx *x)
{
	uint16_t a = dchain(x, 1, 1); /* ended, never published */
	su(x, 0, a, 0);
	su_idx(x, 1);
}
static void h_split_unpublished_mixed(struct dctx *x)
{
	dchain(x, 1, 1);
	vq_drv_publish(x->d);	      /* chain A published */
	uint16_t b = dchain(x, 1, 1); /* chain B ended, never published */
	su(x, 0, b, 0);		      /* one used entry (idx within the published count) naming B */
	su_idx(x, 1);
}
static void h_split_len(struct dctx *x)
{
	uint16_t a = dchain(x, 1, 1);
	vq_drv_publish(x->d);
	su(x, 0, a, 65);
	su_idx(x, 1);
}
static void h_split_len_ro(struct dctx *x)
{
	uint16_t a = dchain(x, 2, 0); /* nothing writable */
	vq_drv_publish(x->d);
	su(x, 0, a, 1);
	su_idx(x, 1);
}
static void h_split_idx_jump(struct dctx *x)
{
	uint16_t a = dchain(x, 1, 1);
	vq_drv_publish(x->d);
	su(x, 0, a, 0);
	su_idx(x, 0x8000);
}
static void h_split_idx_two(struct dctx *x)
{
	uint16_t a = dchain(x, 1, 1);
	vq_drv_publish(x->d);
	su(x, 0, a, 0);
	su(x, 1, a, 0);
	su_idx(x, 2);
}
static void h_split_idx_back(struct dctx *x)
{
	dchain(x, 1, 1);
	vq_drv_publish(x->d);
	su_idx(x, 0xffff);
}

/* H1/H2 packed (chains of one descriptor unless noted) */
static uint16_t dchain1(struct dctx *x)
{
	return dchain(x, 0, 1);
}
static void h_packed_id_range(struct dctx *x)
{
	dchain1(x);
	vq_drv_publish(x->d);
	pu(x, 0, (uint16_t)x->r.size, 0, false);
}
static void h_packed_id_ffff(struct dctx *x)
{
	dchain1(x);
	vq_drv_publish(x->d);
	pu(x, 0, 0xffff, 0, false);
}
static void h_packed_not_issued(struct dctx *x)
{
	uint16_t a = dchain1(x);
	vq_drv_publish(x->d);
	pu(x, 0, (uint16_t)(a + 5), 0, false);
}
static void h_packed_dup(struct dctx *x)
{
	uint16_t a = dchain1(x);
	dchain1(x);
	vq_drv_publish(x->d);
	pu(x, 1, a, 8, true);
	pu(x, 0, a, 8, true);
}
static void h_packed_unpublished(struct dctx *x)
{
	uint16_t a = dchain1(x); /* ended, never published */
	pu(x, 0, a, 0, false);
}
static void h_packed_unpublished_mixed(struct dctx *x)
{
	dchain1(x);
	vq_drv_publish(x->d);	 /* chain A published at position 0 */
	uint16_t b = dchain1(x); /* chain B at position 1, never published */
	pu(x, 0, b, 0, false);
}
static void h_packed_len(struct dctx *x)
{
	uint16_t a = dchain(x, 1, 1);
	vq_drv_publish(x->d);
	pu(x, 0, a, 65, true);
}
static void h_packed_len_no_write(struct dctx *x)
{
	uint16_t a = dchain(x, 1, 1);
	vq_drv_publish(x->d);
	pu(x, 0, a, 0x10000, false); /* len only counts with WRITE (§2.8.4) */
}
static void h_packed_bits(struct dctx *x)
{
	uint16_t a = dchain1(x);
	vq_drv_publish(x->d);
	x->pdesc[0].id = a;
	__atomic_store_n(&x->pdesc[0].flags, (uint16_t)PUS, __ATOMIC_RELEASE); /* USED only */
}

#define DROW(f, h, n, w, rc, why)                                                                  \
	{                                                                                          \
		f, h, n, w, rc, why                                                                \
	}

static const struct drow drows[] = {
	DROW(VQ_FORMAT_SPLIT, "H1", "used id == size", h_split_id_range, E(USED_ID_OUT_OF_RANGE),
	     VQ_ERR_USED_ID_OUT_OF_RANGE),
	DROW(VQ_FORMAT_SPLIT, "H1", "used id 0xffffffff", h_split_id_huge, E(USED_ID_OUT_OF_RANGE),
	     VQ_ERR_USED_ID_OUT_OF_RANGE),
	DROW(VQ_FORMAT_SPLIT, "H1", "used id never issued", h_split_not_issued,
	     E(USED_ID_NOT_IN_FLIGHT), VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_SPLIT, "H1", "used id not a chain head", h_split_not_head,
	     E(USED_ID_NOT_IN_FLIGHT), VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_SPLIT, "H1", "duplicate completion", h_split_dup, 1,
	     VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_SPLIT, "H1", "completion of an ended, unpublished chain",
	     h_split_unpublished, E(USED_IDX_JUMP), VQ_ERR_USED_IDX_JUMP),
	DROW(VQ_FORMAT_SPLIT, "H1", "used entry names an unpublished chain, one published",
	     h_split_unpublished_mixed, E(USED_ID_NOT_IN_FLIGHT), VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_SPLIT, "H2", "used len > writable bytes", h_split_len, E(USED_LEN_TOO_LARGE),
	     VQ_ERR_USED_LEN_TOO_LARGE),
	DROW(VQ_FORMAT_SPLIT, "H2", "used len > 0 on a read-only chain", h_split_len_ro,
	     E(USED_LEN_TOO_LARGE), VQ_ERR_USED_LEN_TOO_LARGE),
	DROW(VQ_FORMAT_SPLIT, "H3", "used idx jumps 0x8000", h_split_idx_jump, E(USED_IDX_JUMP),
	     VQ_ERR_USED_IDX_JUMP),
	DROW(VQ_FORMAT_SPLIT, "H3", "used idx +2 with one chain in flight", h_split_idx_two,
	     E(USED_IDX_JUMP), VQ_ERR_USED_IDX_JUMP),
	DROW(VQ_FORMAT_SPLIT, "H3", "used idx decremented", h_split_idx_back, E(USED_IDX_JUMP),
	     VQ_ERR_USED_IDX_JUMP),
	DROW(VQ_FORMAT_PACKED, "H1", "used id == size", h_packed_id_range, E(USED_ID_OUT_OF_RANGE),
	     VQ_ERR_USED_ID_OUT_OF_RANGE),
	DROW(VQ_FORMAT_PACKED, "H1", "used id 0xffff", h_packed_id_ffff, E(USED_ID_OUT_OF_RANGE),
	     VQ_ERR_USED_ID_OUT_OF_RANGE),
	DROW(VQ_FORMAT_PACKED, "H1", "used id never issued", h_packed_not_issued,
	     E(USED_ID_NOT_IN_FLIGHT), VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_PACKED, "H1", "duplicate completion", h_packed_dup, 1,
	     VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_PACKED, "H1", "completion of an ended, unpublished chain",
	     h_packed_unpublished, E(USED_ID_NOT_IN_FLIGHT), VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_PACKED, "H1", "used entry names an unpublished chain, one published",
	     h_packed_unpublished_mixed, E(USED_ID_NOT_IN_FLIGHT), VQ_ERR_USED_ID_NOT_IN_FLIGHT),
	DROW(VQ_FORMAT_PACKED, "H2", "used len > writable bytes", h_packed_len,
	     E(USED_LEN_TOO_LARGE), VQ_ERR_USED_LEN_TOO_LARGE),
	DROW(VQ_FORMAT_PACKED, "H2", "len without WRITE flag is ignored (legal)",
	     h_packed_len_no_write, 1, VQ_OK),
	DROW(VQ_FORMAT_PACKED, "H-C1", "used bits of the other wrap: not used", h_packed_bits, 0,
	     VQ_OK),
};

static int drow_setup(void **state)
{
	const struct drow *row = *state;
	struct dctx *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	*state = x;
	x->row = row;
	x->g.fd = -1;
	if (tgm_init(&x->g, RING_BYTES, BUF_BYTES_DEFAULT, 0))
		return -1;
	if (tring_alloc(&x->g, &x->r, row->fmt, QSIZE_DEFAULT, 0))
		return -1;
	uint64_t f = F_BASE;
	if (row->fmt == VQ_FORMAT_PACKED)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	if (tring_driver(&x->g, &x->r, f, &x->d))
		return -1;
	x->buf = tgm_buf_gpa(&x->g);
	x->used = tgm_drv_ptr(&x->g, x->r.device_gpa);
	x->pdesc = tgm_drv_ptr(&x->g, x->r.desc_gpa);
	return 0;
}

static int drow_teardown(void **state)
{
	struct dctx *x = *state;
	if (!x)
		return 0;
	vq_drv_free(x->d);
	tgm_fini(&x->g);
	free(x);
	return 0;
}

static void run_drow(void **state)
{
	struct dctx *x = *state;
	const struct drow *row = x->row;
	row->write(x);
	unsigned inflight0 = vq_drv_in_flight(x->d);
	unsigned free0 = vq_drv_free_descs(x->d);
	struct vq_drv_used out[8];
	int rc = vq_drv_reap(x->d, out, 8);
	if (rc != row->expect_rc)
		printf("     got %s\n", code_name(rc));
	assert_int_equal(rc, row->expect_rc);
	if (rc < 0)
		assert_known_message(rc);
	if (row->expect_why == VQ_OK) {
		assert_false(vq_drv_is_broken(x->d));
		assert_int_equal(vq_drv_in_flight(x->d), inflight0 - (unsigned)rc);
		if (rc > 0)
			assert_int_equal(out[0].len, 0);
		return;
	}
	assert_true(vq_drv_is_broken(x->d));
	assert_int_equal(vq_drv_broken_reason(x->d), row->expect_why);
	unsigned taken = rc > 0 ? (unsigned)rc : 0;
	assert_int_equal(vq_drv_in_flight(x->d), inflight0 - taken);
	if (taken == 0)
		assert_int_equal(vq_drv_free_descs(x->d), free0);
	/* Broken: nothing more is taken, freed or reused. */
	unsigned free1 = vq_drv_free_descs(x->d);
	assert_int_equal(vq_drv_reap(x->d, out, 8), E(BROKEN));
	assert_int_equal(vq_drv_chain_start(x->d, false), E(BROKEN));
	assert_false(vq_drv_kick_prepare(x->d));
	assert_false(vq_drv_enable_used_notify(x->d));
	assert_int_equal(vq_drv_free_descs(x->d), free1);
	assert_int_equal(vq_drv_in_flight(x->d), inflight0 - taken);
	assert_int_equal(vq_drv_broken_reason(x->d), row->expect_why);
}

/* ------------------------------------------------------------------ main */

static int run_driver(void)
{
	const size_t nrows = sizeof(drows) / sizeof(drows[0]);
	struct CMUnitTest *tests = calloc(nrows, sizeof(*tests));
	char(*names)[160] = calloc(nrows, sizeof(*names));
	if (!tests || !names)
		return 1;
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", "format", "id", "name", "vq_drv_reap",
	       "broken reason");
	for (size_t i = 0; i < nrows; i++) {
		const struct drow *r = &drows[i];
		const char *fmt = r->fmt == VQ_FORMAT_SPLIT ? "split" : "packed";
		snprintf(names[i], sizeof(names[i]), "driver %s %s: %s", fmt, r->hid, r->name);
		char rc_name[32];
		snprintf(rc_name, sizeof(rc_name), "%s", code_name(r->expect_rc));
		printf("ROW  %-6s %-5s %-58s %-26s %s\n", fmt, r->hid, r->name, rc_name,
		       r->expect_why == VQ_OK ? "(not broken)" : err_ids[r->expect_why]);
		tests[i] = (struct CMUnitTest){names[i], run_drow, drow_setup, drow_teardown,
					       (void *)r};
	}
	fflush(stdout);
	int failed = _cmocka_run_group_tests("malformed-driver", tests, nrows, NULL, NULL);
	free(tests);
	free(names);
	return failed;
}

int main(void)
{
	return run_driver() ? 1 : 0;
}
