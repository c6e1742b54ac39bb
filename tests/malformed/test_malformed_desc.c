/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table, descriptor contents on both ring formats
 * (HOSTILE-INPUTS.md A8-A22): chain length, zero lengths, addresses outside
 * or across guest memory, 64-bit length totals, aliasing, directions,
 * segment counts, buffers over the ring, rewrites after the pop. The
 * outcomes and the runner are described in malformed.h.
 */
#include <stdlib.h>
#include <string.h>

#include "malformed.h"

/* --------------------------------------------------------------- writers */

/* One descriptor as row->d says. */
static void w_single(struct ctx *c)
{
	struct bd b = {dspec_addr(c, &c->row->d), c->row->d.len, c->row->d.flags};
	put_chain(c, gid(c), 1, &b);
	if (c->row->outcome == O_OK)
		want_buffer(c, b.addr, b.len, b.flags & WR);
}

/* A good descriptor of the same direction, then row->d. */
static void w_second(struct ctx *c)
{
	struct bd b[2] = {
		{B(0x200), 64, (uint16_t)(c->row->d.flags & WR)},
		{dspec_addr(c, &c->row->d), c->row->d.len, c->row->d.flags},
	};
	put_chain(c, gid(c), 2, b);
}

/* row->d as the only entry of an indirect table. */
static void w_ind_single(struct ctx *c)
{
	struct bd e = {dspec_addr(c, &c->row->d), c->row->d.len, c->row->d.flags};
	struct bd b = {put_table(c, 1, &e), 16, IND};
	put_chain(c, gid(c), 1, &b);
}

/* A chain of row->arg readable 16-byte buffers (A8). */
static void w_chain_n(struct ctx *c)
{
	unsigned n = c->row->arg;
	struct bd *b = calloc(n, sizeof(*b));
	assert_non_null(b);
	for (unsigned k = 0; k < n; k++)
		b[k] = (struct bd){B((16u * k) % (c->buf_end - c->buf)), 16, 0};
	put_chain(c, gid(c), n, b);
	free(b);
	want(c, (uint16_t)n, 0, 16u * n, 0);
}

/* A9: three readable descriptors, the row->arg-th of length 0. */
static void w_zero_at(struct ctx *c)
{
	struct bd b[3] = {{B(0), 64, 0}, {B(64), 64, 0}, {B(128), 64, 0}};
	b[c->row->arg].len = 0;
	put_chain(c, gid(c), 3, b);
}

/* A15: row->arg descriptors aliasing the 4 GiB region, row->d's len/flags. */
static void w_big(struct ctx *c)
{
	struct bd b[8];
	assert_true(c->row->arg <= 8);
	for (unsigned k = 0; k < c->row->arg; k++)
		b[k] = (struct bd){BIG_GPA, c->row->d.len, c->row->d.flags};
	put_chain(c, gid(c), c->row->arg, b);
}

/* A15: the same, inside an indirect table. */
static void w_big_ind(struct ctx *c)
{
	struct bd e[8];
	assert_true(c->row->arg <= 8);
	for (unsigned k = 0; k < c->row->arg; k++)
		e[k] = (struct bd){BIG_GPA, c->row->d.len, c->row->d.flags};
	struct bd b = {put_table(c, c->row->arg, e), 16u * c->row->arg, IND};
	put_chain(c, gid(c), 1, &b);
}

/* A15 boundary: 4 GiB - 1 readable and 4 GiB - 1 writable (legal). */
static void w_big_rw(struct ctx *c)
{
	struct bd b[2] = {{BIG_GPA, 0xffffffffu, 0}, {BIG_GPA, 0xffffffffu, WR}};
	put_chain(c, gid(c), 2, b);
	want(c, 1, 1, 0xffffffffu, 0xffffffffu);
}

/* A16: row->arg descriptors aliasing one 16-byte buffer. */
static void w_alias(struct ctx *c)
{
	unsigned n = c->row->arg;
	struct bd *b = calloc(n, sizeof(*b));
	assert_non_null(b);
	for (unsigned k = 0; k < n; k++)
		b[k] = (struct bd){B(0), 16, 0};
	put_chain(c, gid(c), n, b);
	free(b);
	want(c, (uint16_t)n, 0, 16u * n, 0);
}

/* A16 through an indirect table. */
static void w_alias_ind(struct ctx *c)
{
	unsigned n = c->row->arg;
	struct bd *e = calloc(n, sizeof(*e));
	assert_non_null(e);
	for (unsigned k = 0; k < n; k++)
		e[k] = (struct bd){B(0), 16, 0};
	struct bd b = {put_table(c, n, e), 16u * n, IND};
	free(e);
	put_chain(c, gid(c), 1, &b);
	want(c, (uint16_t)n, 0, 16u * n, 0);
}

/* A17: writable, then readable. */
static void w_w_then_r(struct ctx *c)
{
	struct bd b[2] = {{B(0), 64, WR}, {B(64), 64, 0}};
	put_chain(c, gid(c), 2, b);
}

static void w_r_w_r(struct ctx *c)
{
	struct bd b[3] = {{B(0), 64, 0}, {B(64), 64, WR}, {B(128), 64, 0}};
	put_chain(c, gid(c), 3, b);
}

/* A17 inside an indirect table. */
static void w_w_then_r_ind(struct ctx *c)
{
	struct bd e[2] = {{B(0), 64, WR}, {B(64), 64, 0}};
	struct bd b = {put_table(c, 2, e), 32, IND};
	put_chain(c, gid(c), 1, &b);
}

/* A20: row->arg one-byte buffers through an indirect table. */
static void w_ind_many(struct ctx *c)
{
	unsigned n = c->row->arg;
	struct bd *e = calloc(n, sizeof(*e));
	assert_non_null(e);
	for (unsigned k = 0; k < n; k++)
		e[k] = (struct bd){B(k % 4096), 1, 0};
	struct bd b = {put_table(c, n, e), 16u * n, IND};
	free(e);
	put_chain(c, gid(c), 1, &b);
	want(c, (uint16_t)n, 0, n, 0);
}

/* A20: five descriptors, each inside its own tiny region. */
static void w_five_regions(struct ctx *c)
{
	struct bd b[5];
	for (unsigned k = 0; k < 5; k++)
		b[k] = (struct bd){B(64u * k), 64, 0};
	put_chain(c, gid(c), 5, b);
}

/* A21: buffers aliasing the ring itself (legal). */
static void w_alias_ring(struct ctx *c)
{
	struct vq_layout l;
	assert_int_equal(vq_layout(c->r.format, c->size, &l), 0);
	struct bd b[2] = {
		{c->r.desc_gpa, (uint32_t)l.desc_bytes, 0},
		{c->r.device_gpa, (uint32_t)l.device_bytes, WR},
	};
	put_chain(c, gid(c), 2, b);
	want(c, 1, 1, (uint32_t)l.desc_bytes, (uint32_t)l.device_bytes);
}

/* A22: a readable and a writable buffer; post_a22 rewrites them. */
static void w_a22(struct ctx *c)
{
	struct bd b[2] = {{B(0), 64, 0}, {B(0x100), 32, WR}};
	put_chain(c, gid(c), 2, b);
	want(c, 1, 1, 64, 32);
}

static void w_a22_ind(struct ctx *c)
{
	struct bd e[2] = {{B(0), 64, 0}, {B(0x100), 32, WR}};
	c->a22_table = put_table(c, 2, e);
	struct bd b = {c->a22_table, 32, IND};
	put_chain(c, gid(c), 1, &b);
	want(c, 1, 1, 64, 32);
}

/* ------------------------------------------------------------ post hooks */

static void post_touch(struct ctx *c)
{
	uint64_t addr = dspec_addr(c, &c->row->d);
	touch_range(c, addr, c->e.iov, (unsigned)c->e.nout + c->e.nin, c->row->d.len);
}

/* A22: rewrite every descriptor the chain used after the pop; the element
 * must still describe what was read (copy semantics). */
static void post_a22(struct ctx *c)
{
	if (is_split(c)) {
		for (uint16_t i = 0; i < c->size; i++)
			sdesc(c, i, B(0x3000), 8, WR | NEXT, (uint16_t)(i + 1));
	} else {
		for (uint16_t i = 0; i < c->size; i++)
			pdesc_body(c, i, B(0x3000), 8, (uint16_t)i);
	}
	if (c->a22_table) {
		struct bd e[2] = {{B(0x3000), 8, WR}, {B(0x3000), 8, 0}};
		write_table(c, c->a22_table, 2, e);
		c->a22_table = 0;
	}
	struct iovec t;
	assert_int_equal(c->e.nout, 1);
	assert_int_equal(c->e.nin, 1);
	assert_int_equal(c->e.out_len, 64);
	assert_int_equal(c->e.in_len, 32);
	assert_int_equal(gmem_translate(c->g.mem, B(0), 64, &t, 1, NULL), 1);
	assert_ptr_equal(c->e.iov[0].iov_base, t.iov_base);
	assert_int_equal(c->e.iov[0].iov_len, 64);
	assert_int_equal(gmem_translate(c->g.mem, B(0x100), 32, &t, 1, NULL), 1);
	assert_ptr_equal(c->e.iov[1].iov_base, t.iov_base);
	assert_int_equal(c->e.iov[1].iov_len, 32);
	/* Nothing is in flight any more; the rewritten ring is not re-read
	 * until the driver publishes again. Restore sane descriptors for the
	 * follow-up (which rewrites its own). */
	if (!is_split(c))
		for (uint16_t i = 0; i < c->size; i++)
			pdesc_body(c, i, B(0), 64, 0);
}

/* ------------------------------------------------------------------- rows */

static const struct row rows[] = {
	/* --- baseline */
	ROW(FB, "-", "well-formed chain", w_good, F_BASE, DB, 1, O_OK),
	ROW(FB, "-", "well-formed chain, rx queue", w_good, F_BASE, DW, 1, O_OK),

	/* --- A8: chain length */
	ROW(FB, "A8", "chain exactly size (16) long", w_chain_n, F_BASE, DB, 1, O_OK, .arg = 16),
	ROW(FB, "A8", "chain exactly size (1024) long", w_chain_n, F_BASE, DB, 1, O_OK,
	    .qsize = 1024, .iov_cap = 1024, .arg = 1024),
	ROW(FB, "A8", "chain exactly max_chain (8) long", w_chain_n, F_BASE, DB, 1, O_OK,
	    .max_chain = 8, .arg = 8),
	ROW(FB, "A8", "chain max_chain+1 (9) long", w_chain_n, F_BASE, DB, E(CHAIN_TOO_LONG),
	    O_DROP, .max_chain = 8, .arg = 9),
	ROW(FB, "A8", "chain 515 > max_chain 514", w_chain_n, F_BASE, DB, E(CHAIN_TOO_LONG), O_DROP,
	    .qsize = 1024, .max_chain = 514, .iov_cap = 1024, .arg = 515),

	/* --- A9/A10: zero length */
	ROW(FB, "A9", "zero len at head", w_zero_at, F_BASE, DB, E(DESC_ZERO_LEN), O_DROP,
	    .arg = 0),
	ROW(FB, "A9", "zero len in the middle", w_zero_at, F_BASE, DB, E(DESC_ZERO_LEN), O_DROP,
	    .arg = 1),
	ROW(FB, "A9", "zero len at the end", w_zero_at, F_BASE, DB, E(DESC_ZERO_LEN), O_DROP,
	    .arg = 2),
	ROW(FB, "A9", "zero len inside an indirect table", w_ind_single, F_IND, DB,
	    E(DESC_ZERO_LEN), O_DROP, D(AB_BUF, 0, 0, 0)),
	ROW(FB, "A10", "addr 0 len 0", w_single, F_BASE, DB, E(DESC_ZERO_LEN), O_DROP,
	    D(AB_ABS, 0, 0, 0)),
	ROW(FB, "A10", "untranslatable addr len 0", w_single, F_BASE, DB, E(DESC_ZERO_LEN), O_DROP,
	    D(AB_ABS, OUTSIDE, 0, 0)),
	ROW(FB, "A10", "addr 0 len 16", w_single, F_BASE, DB, E(DESC_OUT_OF_MEMORY), O_DROP,
	    D(AB_ABS, 0, 16, 0)),

	/* --- A11-A13: addresses */
	ROW(FB, "A11", "addr below guest memory", w_single, F_BASE, DB, E(DESC_OUT_OF_MEMORY),
	    O_DROP, D(AB_ABS, 0x1000, 64, 0)),
	ROW(FB, "A11", "addr above guest memory", w_single, F_BASE, DB, E(DESC_OUT_OF_MEMORY),
	    O_DROP, D(AB_END, 0x10000, 64, 0)),
	ROW(FB, "A11", "second descriptor outside memory", w_second, F_BASE, DB,
	    E(DESC_OUT_OF_MEMORY), O_DROP, D(AB_ABS, OUTSIDE, 64, 0)),
	ROW(FB, "A11", "writable outside memory", w_second, F_BASE, DB, E(DESC_OUT_OF_MEMORY),
	    O_DROP, D(AB_ABS, OUTSIDE, 64, WR)),
	ROW(FB, "A11", "indirect entry outside memory", w_ind_single, F_IND, DB,
	    E(DESC_OUT_OF_MEMORY), O_DROP, D(AB_ABS, OUTSIDE, 64, 0)),
	ROW(FB, "A12", "crosses the end of memory by 1 byte", w_single, F_BASE, DB,
	    E(DESC_OUT_OF_MEMORY), O_DROP, D(AB_END, -63, 64, 0)),
	ROW(FB, "A12", "crosses the end of memory by 1 byte, guard pages", w_single, F_BASE, DB,
	    E(DESC_OUT_OF_MEMORY), O_DROP, D(AB_END, -63, 64, 0), .buf_region = 4096),
	ROW(FB, "A12", "starts 1 byte below memory", w_single, F_BASE, DB, E(DESC_OUT_OF_MEMORY),
	    O_DROP, D(AB_MEM, -1, 2, 0)),
	ROW(FB, "A12", "ends exactly at the end of memory (legal)", w_single, F_BASE, DB, 1, O_OK,
	    D(AB_END, -64, 64, 0), .buf_region = 4096, .post = post_touch),
	ROW(FB, "A13", "addr + len wraps u64", w_single, F_BASE, DB, E(DESC_ADDR_OVERFLOW), O_DROP,
	    D(AB_ABS, -0x1000, 0x2000, 0)),
	ROW(FB, "A13", "addr 2^64-1 len 2 wraps", w_single, F_BASE, DB, E(DESC_ADDR_OVERFLOW),
	    O_DROP, D(AB_ABS, -1, 2, 0)),
	ROW(FB, "A13", "addr 2^64-1 len 1 (no wrap, outside)", w_single, F_BASE, DB,
	    E(DESC_OUT_OF_MEMORY), O_DROP, D(AB_ABS, -1, 1, 0)),
	ROW(FB, "A13", "wrapping writable in an indirect table", w_ind_single, F_IND, DB,
	    E(DESC_ADDR_OVERFLOW), O_DROP, D(AB_ABS, -0x1000, 0x2000, WR)),

	/* --- A14: regions */
	ROW(FB, "A14", "readable buffer over two regions, guard pages", w_single, F_BASE, DB, 1,
	    O_OK, D(AB_BUF, 4096 - 100, 200, 0), .buf_region = 4096, .post = post_touch),
	ROW(FB, "A14", "writable buffer over two regions, guard pages", w_single, F_BASE, DW, 1,
	    O_OK, D(AB_BUF, 4096 - 100, 200, WR), .buf_region = 4096, .post = post_touch),
	ROW(FB, "A14", "buffer over three regions, guard pages", w_single, F_BASE, DB, 1, O_OK,
	    D(AB_BUF, 4096 - 10, 4096 + 20, 0), .buf_region = 4096, .post = post_touch),
	ROW(FB, "A14", "buffer over ring and buffer regions, guard pages", w_single, F_BASE, DB, 1,
	    O_OK, D(AB_BUF, -32, 64, 0), .buf_region = 4096, .post = post_touch),

	/* --- A15: 64-bit totals */
	ROW(FB, "A15", "3 x 0xffffffff readable (aliased)", w_big, F_BASE, DB,
	    E(CHAIN_LEN_OVERFLOW), O_DROP, .mem = MEM_BIG, .arg = 3, D(0, 0, 0xffffffffu, 0)),
	ROW(FB, "A15", "4 x 1 GiB readable (u32 sum would be 0)", w_big, F_BASE, DB,
	    E(CHAIN_LEN_OVERFLOW), O_DROP, .mem = MEM_BIG, .arg = 4, D(0, 0, 0x40000000u, 0)),
	ROW(FB, "A15", "3 x 0xffffffff writable", w_big, F_BASE, DB, E(CHAIN_LEN_OVERFLOW), O_DROP,
	    .mem = MEM_BIG, .arg = 3, D(0, 0, 0xffffffffu, WR)),
	ROW(FB, "A15", "3 x 0xffffffff in an indirect table", w_big_ind, F_IND, DB,
	    E(CHAIN_LEN_OVERFLOW), O_DROP, .mem = MEM_BIG, .arg = 3, D(0, 0, 0xffffffffu, 0)),
	ROW(FB, "A15", "4 GiB-1 readable + 4 GiB-1 writable (legal)", w_big_rw, F_BASE, DB, 1, O_OK,
	    .mem = MEM_BIG),

	/* --- A16 */
	ROW(FB, "A16", "64 descriptors aliasing one buffer", w_alias, F_BASE, DB, 1, O_OK,
	    .qsize = 64, .arg = 64),
	ROW(FB, "A16", "64 indirect entries aliasing one buffer", w_alias_ind, F_IND, DB, 1, O_OK,
	    .max_chain = 64, .arg = 64),
	ROW(FB, "A16", "64 indirect entries > max_chain (size)", w_alias_ind, F_IND, DB,
	    E(INDIRECT_TOO_LARGE), O_DROP, .arg = 64),

	/* --- A17-A19: direction */
	ROW(FB, "A17", "readable after writable", w_w_then_r, F_BASE, DB, E(DESC_READ_AFTER_WRITE),
	    O_DROP),
	ROW(FB, "A17", "readable, writable, readable", w_r_w_r, F_BASE, DB,
	    E(DESC_READ_AFTER_WRITE), O_DROP),
	ROW(FB, "A17", "readable after writable in an indirect table", w_w_then_r_ind, F_IND, DB,
	    E(DESC_READ_AFTER_WRITE), O_DROP),
	ROW(FB, "A18", "writable on a tx queue", w_single, F_BASE, DR, E(DESC_WRITE_FORBIDDEN),
	    O_DROP, D(AB_BUF, 0, 64, WR)),
	ROW(FB, "A18", "writable after readable on a tx queue", w_second, F_BASE, DR,
	    E(DESC_WRITE_FORBIDDEN), O_DROP, D(AB_BUF, 0, 64, WR)),
	ROW(FB, "A18", "writable indirect entry on a tx queue", w_ind_single, F_IND, DR,
	    E(DESC_WRITE_FORBIDDEN), O_DROP, D(AB_BUF, 0, 64, WR)),
	ROW(FB, "A19", "readable on an rx queue", w_single, F_BASE, DW, E(DESC_READ_FORBIDDEN),
	    O_DROP, D(AB_BUF, 0, 64, 0)),
	ROW(FB, "A19", "writable then readable on an rx queue", w_w_then_r, F_BASE, DW,
	    E(DESC_READ_FORBIDDEN), O_DROP),
	ROW(FB, "A19", "readable indirect entry on an rx queue", w_ind_single, F_IND, DW,
	    E(DESC_READ_FORBIDDEN), O_DROP, D(AB_BUF, 0, 64, 0)),

	/* --- A20: segments */
	ROW(FB, "A20", "one buffer over 8 tiny regions, iov_cap 4", w_single, F_BASE, DB,
	    E(CHAIN_TOO_MANY_SEGMENTS), O_DROP, D(AB_BUF, 0, 512, 0), .iov_cap = 4,
	    .buf_region = 64, .buf_bytes = 16384),
	ROW(FB, "A20", "one buffer over 5 tiny regions, iov_cap 4", w_single, F_BASE, DB,
	    E(CHAIN_TOO_MANY_SEGMENTS), O_DROP, D(AB_BUF, 32, 256, 0), .iov_cap = 4,
	    .buf_region = 64, .buf_bytes = 16384),
	ROW(FB, "A20", "one buffer over exactly 4 tiny regions, iov_cap 4 (legal)", w_single,
	    F_BASE, DB, 1, O_OK, D(AB_BUF, 0, 256, 0), .iov_cap = 4, .buf_region = 64,
	    .buf_bytes = 16384, .post = post_touch),
	ROW(FB, "A20", "5 descriptors in 5 regions, iov_cap 4", w_five_regions, F_BASE, DB,
	    E(CHAIN_TOO_MANY_SEGMENTS), O_DROP, .iov_cap = 4, .buf_region = 64, .buf_bytes = 16384),
	ROW(FB, "A20", "2000 one-byte indirect entries, iov_cap 64", w_ind_many, F_IND, DB,
	    E(CHAIN_TOO_MANY_SEGMENTS), O_DROP, .max_chain = 2048, .iov_cap = 64, .arg = 2000),
	ROW(FB, "A20", "2000 one-byte indirect entries, iov_cap 2000 (legal)", w_ind_many, F_IND,
	    DB, 1, O_OK, .max_chain = 2048, .iov_cap = 2000, .arg = 2000),

	/* --- A21/A22 */
	ROW(FB, "A21", "buffers aliasing the ring itself", w_alias_ring, F_BASE, DB, 1, O_OK),
	ROW(FB, "A22", "descriptors rewritten after the pop", w_a22, F_BASE, DB, 1, O_OK,
	    .post = post_a22),
	ROW(FB, "A22", "indirect table rewritten after the pop", w_a22_ind, F_IND, DB, 1, O_OK,
	    .post = post_a22),
};

int main(int argc, char **argv)
{
	return malformed_main("malformed-desc", rows, sizeof(rows) / sizeof(rows[0]), argc, argv);
}
