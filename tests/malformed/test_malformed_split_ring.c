/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table, the split ring's own structures (HOSTILE-INPUTS.md
 * A1-A7, A21, A24): avail->idx jumps and moves back, heads out of range or
 * in flight, next links out of range, loops, an indirect table that is the
 * descriptor table, poisoned avail flags and used_event. Split rows only;
 * the outcomes and the runner are described in malformed.h.
 */
#include <stdlib.h>
#include <string.h>

#include "malformed.h"

/* --------------------------------------------------------------- writers */

/* A1: avail->idx = last + row->arg (entry 0 valid). */
static void w_avail_jump(struct ctx *c)
{
	sdesc(c, 0, B(0), 64, 0, 0);
	for (uint32_t i = 0; i < c->size; i++)
		c->avail->ring[i] = 0;
	savail_idx(c, (uint16_t)c->row->arg);
}

/* A1 boundary: exactly `size` entries published (legal). */
static void w_avail_full(struct ctx *c)
{
	for (uint16_t k = 0; k < c->size; k++)
		sdesc(c, k, B(64u * k), 64, 0, 0);
	for (uint16_t k = 0; k < c->size; k++)
		spublish(c, k);
	c->expect_id = 0;
	want(c, 1, 0, 64, 0);
}

/* A2: one chain consumed, then avail->idx goes back by one. */
static void w_avail_back(struct ctx *c)
{
	struct bd b = good(c, 0);
	put_chain(c, 0, 1, &b);
	pre_pop(c, true);
	savail_idx(c, (uint16_t)(c->avail_idx - 1));
}

/* A3: head row->arg in the avail ring. */
static void w_head(struct ctx *c)
{
	sdesc(c, 0, B(0), 64, 0, 0);
	spublish(c, (uint16_t)c->row->arg);
}

/* A4: head 0 published twice; the first one popped and still in flight. */
static void w_head_twice(struct ctx *c)
{
	sdesc(c, 0, B(0), 64, 0, 0);
	spublish(c, 0);
	spublish(c, 0);
	pre_pop(c, false);
}

/* A4 variant: chain 0 -> 1 popped and held, then head 1 (a descriptor of
 * that chain) published. Without per-descriptor tracking this is a legal
 * pop; documented, not a HOSTILE requirement. */
static void w_head_inside_chain(struct ctx *c)
{
	struct bd b[2] = {{B(0), 64, 0}, {B(64), 64, 0}};
	put_chain(c, 0, 2, b);
	c->held[c->nheld++] = pre_pop(c, false);
	spublish(c, 1);
	c->expect_id = 1;
	want(c, 1, 0, 64, 0);
}

/* A21: the head (5) points at an indirect table that IS the descriptor
 * table. arg 0: the table's entry 0 is a plain buffer (legal); arg 1: the
 * head is entry 0 itself, so the table contains INDIRECT (nested). */
static void w_ind_is_ring(struct ctx *c)
{
	uint16_t head = c->row->arg ? 0 : 5;
	if (!c->row->arg)
		sdesc(c, 0, B(0), 64, 0, 0);
	sdesc(c, head, c->r.desc_gpa, 32, IND, 0);
	spublish(c, head);
	c->expect_id = head;
	want(c, 1, 0, 64, 0);
}

/* A5: every avail entry names descriptor 0. */
static void w_all_same(struct ctx *c)
{
	sdesc(c, 0, B(0), 64, 0, 0);
	for (uint32_t k = 0; k < c->size; k++)
		spublish(c, 0);
	pre_pop(c, false);
}

/* A6: NEXT with next = row->arg on the head. */
static void w_next_oob(struct ctx *c)
{
	sdesc(c, 3, B(0), 64, NEXT, (uint16_t)c->row->arg);
	spublish(c, 3);
	c->expect_id = 3;
}

/* A6: ... on the second descriptor. */
static void w_next_oob_mid(struct ctx *c)
{
	sdesc(c, 3, B(0), 64, NEXT, 4);
	sdesc(c, 4, B(64), 64, NEXT, (uint16_t)c->row->arg);
	spublish(c, 3);
	c->expect_id = 3;
}

/* A7: 3 -> 3. */
static void w_loop_self(struct ctx *c)
{
	uint16_t f = (uint16_t)(NEXT | (c->row->dir == DW ? WR : 0));
	sdesc(c, 3, B(0), 64, f, 3);
	spublish(c, 3);
	c->expect_id = 3;
}

/* A7: 3 -> 4 -> 5 -> 3 (back to the head), or -> 4 when row->arg. */
static void w_loop_back(struct ctx *c)
{
	sdesc(c, 3, B(0), 64, NEXT, 4);
	sdesc(c, 4, B(64), 64, NEXT, 5);
	sdesc(c, 5, B(128), 64, NEXT, c->row->arg ? 4 : 3);
	spublish(c, 3);
	c->expect_id = 3;
}

/* A24: poison avail->flags (row->d.flags) and used_event (row->arg). */
static void w_a24(struct ctx *c)
{
	c->avail->flags = c->row->d.flags;
	c->avail->ring[c->size] = (uint16_t)c->row->arg; /* used_event */
	w_good(c);
}

/* ------------------------------------------------------------------- rows */

static const struct row rows[] = {
	/* --- A1/A2: avail index (split) */
	ROW(FS, "A1", "avail idx jumps size+1", w_avail_jump, F_BASE, DB, E(AVAIL_IDX_JUMP),
	    O_BROKEN, .arg = QSIZE_DEFAULT + 1),
	ROW(FS, "A1", "avail idx jumps 0x8000", w_avail_jump, F_BASE, DB, E(AVAIL_IDX_JUMP),
	    O_BROKEN, .arg = 0x8000),
	ROW(FS, "A1", "avail idx jumps 0xffff", w_avail_jump, F_BASE, DB, E(AVAIL_IDX_JUMP),
	    O_BROKEN, .arg = 0xffff),
	ROW(FS, "A1", "avail idx exactly size ahead (legal)", w_avail_full, F_BASE, DB, 1, O_OK),
	ROW(FS, "A2", "avail idx decremented by one", w_avail_back, F_BASE, DB, E(AVAIL_IDX_JUMP),
	    O_BROKEN),

	/* --- A3-A5: heads (split) */
	ROW(FS, "A3", "head 0xffff", w_head, F_BASE, DB, E(HEAD_OUT_OF_RANGE), O_BROKEN,
	    .arg = 0xffff),
	ROW(FS, "A3", "head == size", w_head, F_BASE, DB, E(HEAD_OUT_OF_RANGE), O_BROKEN,
	    .arg = QSIZE_DEFAULT),
	ROW(FS, "A4", "same head twice while in flight", w_head_twice, F_BASE, DB,
	    E(HEAD_IN_FLIGHT), O_BROKEN),
	ROW(FS, "A4", "head inside another in-flight chain (accepted)", w_head_inside_chain, F_BASE,
	    DB, 1, O_OK),
	ROW(FS, "A5", "every avail entry names one descriptor", w_all_same, F_BASE, DB,
	    E(HEAD_IN_FLIGHT), O_BROKEN),

	/* --- A6/A7: next (split) */
	ROW(FS, "A6", "head next == size", w_next_oob, F_BASE, DB, E(DESC_NEXT_OUT_OF_RANGE),
	    O_DROP, .arg = QSIZE_DEFAULT),
	ROW(FS, "A6", "head next 0xffff", w_next_oob, F_BASE, DB, E(DESC_NEXT_OUT_OF_RANGE), O_DROP,
	    .arg = 0xffff),
	ROW(FS, "A6", "second descriptor next 0xffff", w_next_oob_mid, F_BASE, DB,
	    E(DESC_NEXT_OUT_OF_RANGE), O_DROP, .arg = 0xffff),
	ROW(FS, "A7", "descriptor loops to itself", w_loop_self, F_BASE, DB, E(CHAIN_LOOP), O_DROP),
	ROW(FS, "A7", "self loop, writable, rx queue", w_loop_self, F_BASE, DW, E(CHAIN_LOOP),
	    O_DROP),
	ROW(FS, "A7", "chain loops back to the head", w_loop_back, F_BASE, DB, E(CHAIN_LOOP),
	    O_DROP),
	ROW(FS, "A7", "chain loops back to the middle", w_loop_back, F_BASE, DB, E(CHAIN_LOOP),
	    O_DROP, .arg = 1),
	ROW(FS, "A7", "loop with max_chain < size", w_loop_back, F_BASE, DB, E(CHAIN_TOO_LONG),
	    O_DROP, .max_chain = 8),
	ROW(FS, "A7", "loop on a 1024 ring", w_loop_back, F_BASE, DB, E(CHAIN_LOOP), O_DROP,
	    .qsize = 1024, .iov_cap = 2048),

	/* --- A21/A24 */
	ROW(FS, "A21", "indirect table aliasing the descriptor table", w_ind_is_ring, F_IND, DB, 1,
	    O_OK, .arg = 0),
	ROW(FS, "A21", "indirect table is the descriptor table, entry 0 = itself", w_ind_is_ring,
	    F_IND, DB, E(INDIRECT_NESTED), O_DROP, .arg = 1),
	ROW(FS, "A24", "avail flags 0xffff (no EVENT_IDX): suppressed", w_a24, F_BASE, DB, 1, O_OK,
	    D(0, 0, 0, 0xffff), .arg = 0x1234, .notify = NOTIFY_NO, .post = post_notify),
	ROW(FS, "A24", "avail flags 0xfffe reserved bits only: notify", w_a24, F_BASE, DB, 1, O_OK,
	    D(0, 0, 0, 0xfffe), .arg = 0x1234, .notify = NOTIFY_YES, .post = post_notify),
	ROW(FS, "A24", "used_event 0xffff", w_a24, F_EVT, DB, 1, O_OK, D(0, 0, 0, 0), .arg = 0xffff,
	    .notify = NOTIFY_NO, .post = post_notify),
	ROW(FS, "A24", "used_event 0x8000", w_a24, F_EVT, DB, 1, O_OK, D(0, 0, 0, 0), .arg = 0x8000,
	    .notify = NOTIFY_NO, .post = post_notify),
	ROW(FS, "A24", "used_event == new used idx - 1", w_a24, F_EVT, DB, 1, O_OK, D(0, 0, 0, 0),
	    .arg = 0, .notify = NOTIFY_YES, .post = post_notify),
	ROW(FS, "A24", "EVENT_IDX: poisoned avail flags ignored", w_a24, F_EVT, DB, 1, O_OK,
	    D(0, 0, 0, 0xffff), .arg = 0, .notify = NOTIFY_YES, .post = post_notify),
};

int main(int argc, char **argv)
{
	return malformed_main("malformed-split-ring", rows, sizeof(rows) / sizeof(rows[0]), argc,
			      argv);
}
