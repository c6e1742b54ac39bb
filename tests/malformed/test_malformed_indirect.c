/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table, indirect descriptors (HOSTILE-INPUTS.md B1-B10):
 * the feature not negotiated, bad table lengths, tables outside or across
 * memory regions, nesting, INDIRECT with NEXT, loops and bad links inside
 * a split table. Split and packed rows; the outcomes and the runner are
 * described in malformed.h.
 */
#include <stdlib.h>
#include <string.h>

#include "malformed.h"

/* --------------------------------------------------------------- writers */

/* B1-B4, B9: one indirect descriptor, address/len/flags from row->d
 * (AB_ABS with off 0 = a valid two-entry table written here). */
static void w_ind_ptr(struct ctx *c)
{
	struct bd e[2] = {{B(0), 64, 0}, {B(64), 64, 0}};
	uint64_t t = put_table(c, 2, e);
	uint64_t addr =
		c->row->d.base == AB_ABS && c->row->d.off == 0 ? t : dspec_addr(c, &c->row->d);
	struct bd b = {addr, c->row->d.len, (uint16_t)(IND | c->row->d.flags)};
	put_chain(c, gid(c), 1, &b);
	want(c, 2, 0, 128, 0);
}

/* B5: an indirect table of row->arg entries at row->d (guard-page layout),
 * each entry a 16-byte readable buffer in region 5. */
static void w_table_at(struct ctx *c)
{
	unsigned n = c->row->arg;
	struct bd *e = calloc(n, sizeof(*e));
	assert_non_null(e);
	for (unsigned k = 0; k < n; k++)
		e[k] = (struct bd){B(5u * 4096 + (k % 64) * 16), 16, 0};
	uint64_t t = dspec_addr(c, &c->row->d);
	write_table(c, t, n, e);
	free(e);
	struct bd b = {t, 16u * n, IND};
	put_chain(c, gid(c), 1, &b);
	want(c, (uint16_t)n, 0, 16u * n, 0);
}

/* B5: a 4-entry table whose last two entries lie past the end of memory. */
static void w_table_past_end(struct ctx *c)
{
	struct bd e[4] = {{B(0), 16, 0}, {B(16), 16, 0}, {B(32), 16, 0}, {B(48), 16, 0}};
	uint64_t t = c->buf_end - 32;
	write_table(c, t, 4, e);
	struct bd b = {t, 64, IND};
	put_chain(c, gid(c), 1, &b);
}

/* B5: a table starting below guest memory, ending inside it. */
static void w_table_before_mem(struct ctx *c)
{
	struct bd b = {TGM_GPA_BASE - 16, 32, IND};
	put_chain(c, gid(c), 1, &b);
}

/* B6 (split): INDIRECT inside an indirect table, as entry row->arg. */
static void w_nested(struct ctx *c)
{
	struct bd in = {B(0), 16, 0};
	uint64_t inner = put_table(c, 1, &in);
	struct bd e[2] = {{B(64), 16, 0}, {B(128), 16, 0}};
	e[c->row->arg] = (struct bd){inner, 16, IND};
	struct bd b = {put_table(c, 2, e), 32, IND};
	put_chain(c, gid(c), 1, &b);
	/* Packed ignores INDIRECT in a table (C4): the entry is a buffer. */
	want(c, 2, 0, 32, 0);
}

/* B7: INDIRECT + NEXT on the head, then a direct buffer. */
static void w_ind_next(struct ctx *c)
{
	struct bd e = {B(0), 16, 0};
	struct bd b[2] = {{put_table(c, 1, &e), 16, IND}, {B(64), 64, 0}};
	put_chain(c, gid(c), 2, b);
}

/* B7: two indirect descriptors chained by NEXT. */
static void w_two_ind(struct ctx *c)
{
	struct bd e = {B(0), 16, 0};
	struct bd b[2] = {{put_table(c, 1, &e), 16, IND}, {put_table(c, 1, &e), 16, IND}};
	put_chain(c, gid(c), 2, b);
}

/* B8: a direct descriptor followed by one indirect (legal on split). */
static void w_direct_then_ind(struct ctx *c)
{
	struct bd e[2] = {{B(64), 64, 0}, {B(128), 64, WR}};
	struct bd b[2] = {{B(0), 64, 0}, {put_table(c, 2, e), 32, IND}};
	put_chain(c, gid(c), 2, b);
	want(c, 2, 1, 128, 64);
}

/* B10: raw split table entries. */
static void raw_split_table(struct ctx *c, unsigned n, const struct virtq_desc *ents)
{
	uint64_t t = tgm_ring_alloc(&c->g, 16u * n, 16);
	assert_true(t != 0);
	memcpy(tgm_drv_ptr(&c->g, t), ents, 16u * n);
	sdesc(c, 2, t, 16u * n, IND, 0);
	spublish(c, 2);
	c->expect_id = 2;
}

static void w_tbl_loop(struct ctx *c)
{
	struct virtq_desc e[2] = {{B(0), 64, NEXT, 1}, {B(64), 64, NEXT, 0}};
	raw_split_table(c, 2, e);
}

static void w_tbl_self(struct ctx *c)
{
	struct virtq_desc e[2] = {{B(0), 64, NEXT, 0}, {B(64), 64, 0, 0}};
	raw_split_table(c, 2, e);
}

static void w_tbl_next_oob(struct ctx *c)
{
	struct virtq_desc e[2] = {{B(0), 64, NEXT, (uint16_t)c->row->arg}, {B(64), 64, 0, 0}};
	raw_split_table(c, 2, e);
}

/* B10: the table starts at entry 1's successor... a legal non-linear
 * order (0 -> 2 -> 1) is walked fine. */
static void w_tbl_order(struct ctx *c)
{
	struct virtq_desc e[3] = {
		{B(0), 64, NEXT, 2},
		{B(128), 64, WR, 0},
		{B(64), 64, NEXT, 1},
	};
	raw_split_table(c, 3, e);
	want(c, 2, 1, 128, 64);
}

/* ------------------------------------------------------------ post hooks */

/* B5: each entry of the straddling table pointed at 16 bytes. */
static void post_touch_each(struct ctx *c)
{
	for (unsigned k = 0; k < c->e.nout; k++) {
		assert_int_equal(c->e.iov[k].iov_len, 16);
		touch_range(c, B(5u * 4096 + (k % 64) * 16), &c->e.iov[k], 1, 16);
	}
}

/* ------------------------------------------------------------------- rows */

static const struct row rows[] = {
	/* --- B: indirect */
	ROW(FB, "B1", "indirect without VIRTIO_F_INDIRECT_DESC", w_ind_ptr, F_BASE, DB,
	    E(INDIRECT_NOT_NEGOTIATED), O_DROP, D(AB_ABS, 0, 32, 0)),
	ROW(FB, "B2", "indirect len 0", w_ind_ptr, F_IND, DB, E(INDIRECT_EMPTY), O_DROP,
	    D(AB_ABS, 0, 0, 0)),
	ROW(FB, "B3", "indirect len 24 (not %16)", w_ind_ptr, F_IND, DB, E(INDIRECT_BAD_LEN),
	    O_DROP, D(AB_ABS, 0, 24, 0)),
	ROW(FB, "B3", "indirect len 17", w_ind_ptr, F_IND, DB, E(INDIRECT_BAD_LEN), O_DROP,
	    D(AB_ABS, 0, 17, 0)),
	ROW(FB, "B4", "indirect 65537 entries, table outside memory", w_ind_ptr, F_IND, DB,
	    E(INDIRECT_TOO_LARGE), O_DROP, D(AB_ABS, OUTSIDE, 0x100010u, 0)),
	ROW(FB, "B4", "indirect len 0xfffffff0, table outside memory", w_ind_ptr, F_IND, DB,
	    E(INDIRECT_TOO_LARGE), O_DROP, D(AB_ABS, OUTSIDE, 0xfffffff0u, 0)),
	ROW(FB, "B4", "indirect max_chain+1 entries, table outside memory", w_ind_ptr, F_IND, DB,
	    E(INDIRECT_TOO_LARGE), O_DROP, D(AB_ABS, OUTSIDE, 16 * 17, 0)),
	ROW(FB, "B4", "indirect max_chain entries, table outside memory", w_ind_ptr, F_IND, DB,
	    E(INDIRECT_OUT_OF_MEMORY), O_DROP, D(AB_ABS, OUTSIDE, 16 * 16, 0)),
	ROW(FB, "B5", "indirect table over two regions, guard pages", w_table_at, F_IND, DB, 1,
	    O_OK, .buf_region = 4096, .arg = 4, D(AB_BUF, 4096 - 32, 0, 0),
	    .post = post_touch_each),
	ROW(FB, "B5", "indirect table over three regions, guard pages", w_table_at, F_IND, DB, 1,
	    O_OK, .buf_region = 4096, .arg = 260, D(AB_BUF, 4096 - 32, 0, 0), .max_chain = 512,
	    .iov_cap = 512, .post = post_touch_each),
	ROW(FB, "B5", "unaligned table: one entry split over two regions", w_table_at, F_IND, DB, 1,
	    O_OK, .buf_region = 4096, .arg = 4, D(AB_BUF, 4096 - 8, 0, 0), .post = post_touch_each),
	ROW(FB, "B5", "table over two regions, then past the end of memory", w_table_at, F_IND, DB,
	    E(INDIRECT_OUT_OF_MEMORY), O_DROP, .buf_region = 4096, .arg = 260,
	    D(AB_END, -4096 - 32, 0, 0), .max_chain = 512, .iov_cap = 512),
	ROW(FB, "B5", "indirect table partly past the end of memory", w_table_past_end, F_IND, DB,
	    E(INDIRECT_OUT_OF_MEMORY), O_DROP, .buf_region = 4096),
	ROW(FB, "B5", "indirect table partly below memory", w_table_before_mem, F_IND, DB,
	    E(INDIRECT_OUT_OF_MEMORY), O_DROP),
	ROW(FS, "B6", "nested indirect (first entry)", w_nested, F_IND, DB, E(INDIRECT_NESTED),
	    O_DROP, .arg = 0),
	ROW(FS, "B6", "nested indirect (second entry)", w_nested, F_IND, DB, E(INDIRECT_NESTED),
	    O_DROP, .arg = 1),
	ROW(FP, "B6/C4", "nested indirect flag ignored, entry is a buffer", w_nested, F_IND, DB, 1,
	    O_OK, .arg = 1),
	ROW(FB, "B7", "INDIRECT + NEXT on one descriptor", w_ind_next, F_IND, DB,
	    E(INDIRECT_WITH_NEXT), O_DROP),
	ROW(FB, "B7", "two indirect descriptors chained by NEXT", w_two_ind, F_IND, DB,
	    E(INDIRECT_WITH_NEXT), O_DROP),
	ROW(FS, "B8", "direct descriptor then one indirect (legal)", w_direct_then_ind, F_IND, DB,
	    1, O_OK),
	ROW(FP, "B8", "direct descriptor then one indirect (packed: §2.8.19 forbids)",
	    w_direct_then_ind, F_IND, DB, E(INDIRECT_WITH_NEXT), O_DROP),
	ROW(FB, "B9", "WRITE on the table pointer ignored (tx queue)", w_ind_ptr, F_IND, DR, 1,
	    O_OK, D(AB_ABS, 0, 32, WR)),
	ROW(FS, "B10", "loop inside the indirect table", w_tbl_loop, F_IND, DB, E(CHAIN_LOOP),
	    O_DROP),
	ROW(FS, "B10", "self loop inside the indirect table", w_tbl_self, F_IND, DB, E(CHAIN_LOOP),
	    O_DROP),
	ROW(FS, "B10", "next == table entries", w_tbl_next_oob, F_IND, DB,
	    E(DESC_NEXT_OUT_OF_RANGE), O_DROP, .arg = 2),
	ROW(FS, "B10", "next 0xffff inside the table", w_tbl_next_oob, F_IND, DB,
	    E(DESC_NEXT_OUT_OF_RANGE), O_DROP, .arg = 0xffff),
	ROW(FS, "B10", "non-linear order inside the table (legal)", w_tbl_order, F_IND, DB, 1,
	    O_OK),
};

int main(int argc, char **argv)
{
	return malformed_main("malformed-indirect", rows, sizeof(rows) / sizeof(rows[0]), argc,
			      argv);
}
