/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table, the packed ring's own rules (HOSTILE-INPUTS.md
 * C1-C6): AVAIL/USED bits that do not make a descriptor available, lists
 * that overrun the ring or stop short, bad and in-flight buffer ids, flags
 * inside indirect tables, poisoned driver event suppression. Packed rows
 * only; the outcomes and the runner are described in malformed.h.
 */
#include <stdlib.h>
#include <string.h>

#include "malformed.h"

/* --------------------------------------------------------------- writers */

/* C1: a full descriptor at the driver position with raw flags row->d.flags;
 * the position does not advance (nothing is available). */
static void w_c1(struct ctx *c)
{
	pdesc_body(c, c->pos, B(0), 64, 3);
	pdesc_flags(c, c->pos, c->row->d.flags);
}

/* C1: after one lap, a descriptor left with the previous lap's bits. */
static void w_c1_stale_lap(struct ctx *c)
{
	cycle(c, c->size);
	assert_int_equal(c->pos, 0);
	assert_false(c->wrap);
	pdesc_body(c, 0, B(0), 64, 3);
	pdesc_flags(c, 0, PAV); /* available on lap 1, not on lap 0 */
}

/* C2: every descriptor of the ring with NEXT. */
static void w_c2_full(struct ctx *c)
{
	uint16_t f = (uint16_t)(NEXT | pk_avail_bits(c->wrap));
	for (uint16_t k = 1; k < c->size; k++) {
		pdesc_body(c, k, B(64u * k), 64, 1);
		pdesc_flags(c, k, f);
	}
	pdesc_body(c, 0, B(0), 64, 1);
	pdesc_flags(c, 0, f);
}

/* C2: one chain in flight, then size-1 descriptors with NEXT. */
static void w_c2_after_inflight(struct ctx *c)
{
	struct bd b = good(c, 0);
	put_chain(c, 9, 1, &b);
	pre_pop(c, false);
	uint16_t f = (uint16_t)(NEXT | pk_avail_bits(c->wrap));
	uint16_t head = c->pos;
	for (uint16_t k = 1; k < c->size; k++) {
		pdesc_body(c, k, B(64u * k), 64, 1);
		if (k != head)
			pdesc_flags(c, k, f);
	}
	pdesc_flags(c, head, f);
}

/* C2: the whole ring in flight, then one more descriptor made available. */
static void w_c2_ring_full(struct ctx *c)
{
	for (uint16_t k = 0; k < c->size; k++) {
		struct bd b = good(c, 0);
		put_chain(c, k, 1, &b);
		pre_pop(c, false);
	}
	struct bd b = good(c, 0);
	put_chain(c, 0, 1, &b); /* id 0 is in flight too, but the ring is full first */
}

/* C3: buffer id row->arg. */
static void w_c3_id(struct ctx *c)
{
	struct bd b = good(c, 0);
	put_chain(c, (uint16_t)c->row->arg, 1, &b);
}

/* C3: the id is taken from the last descriptor only: head says 0xffff,
 * last says 3 (legal), or head says 3 and last says 0xffff (broken). */
static void w_c3_id_last(struct ctx *c)
{
	struct bd b[2] = {good(c, 0), good(c, 64)};
	uint16_t head_pos = c->pos;
	put_chain(c, 3, 2, b);
	uint16_t last_pos = (uint16_t)((head_pos + 1) % c->size);
	if (c->row->arg) {
		c->pdesc[head_pos].id = 3;
		c->pdesc[last_pos].id = 0xffff;
	} else {
		c->pdesc[head_pos].id = 0xffff;
		c->pdesc[last_pos].id = 3;
	}
	c->expect_id = 3;
	want(c, 2, 0, 128, 0);
}

/* C3: an id already in flight. */
static void w_c3_in_flight(struct ctx *c)
{
	struct bd b = good(c, 0);
	put_chain(c, 3, 1, &b);
	pre_pop(c, false);
	put_chain(c, 3, 1, &b);
}

/* C3: a content error (zero length) AND a bad id: the id wins (broken). */
static void w_c3_drop_and_bad_id(struct ctx *c)
{
	struct bd b = {B(0), 0, 0};
	put_chain(c, 0xffff, 1, &b);
}

/* C4: NEXT / INDIRECT / ids inside a packed indirect table are ignored. */
static void w_c4(struct ctx *c)
{
	uint64_t t = tgm_ring_alloc(&c->g, 48, 16);
	assert_true(t != 0);
	struct pvirtq_desc e[3] = {
		{B(0), 64, 0xffff, NEXT},
		{B(64), 64, 5, IND},
		{B(128), 64, 0x7777, NEXT | IND | WR},
	};
	memcpy(tgm_drv_ptr(&c->g, t), e, sizeof(e));
	struct bd b = {t, 48, IND};
	put_chain(c, gid(c), 1, &b);
	want(c, 2, 1, 128, 64);
}

/* C5: a two-descriptor list whose second descriptor has raw flags
 * row->d.flags (head available). */
static void w_c5(struct ctx *c)
{
	uint16_t head = c->pos;
	pdesc_body(c, head, B(0), 64, 4);
	padvance(c);
	pdesc_body(c, c->pos, B(64), 64, 4);
	pdesc_flags(c, c->pos, c->row->d.flags);
	padvance(c);
	pdesc_flags(c, head, (uint16_t)(NEXT | PAV));
}

/* C5: a list crossing the end of the ring; row->arg = 0: the descriptor
 * after the end carries the old lap's bits (broken), 1: correct (legal). */
static void w_c5_wrap(struct ctx *c)
{
	cycle(c, c->size - 1);
	assert_int_equal(c->pos, c->size - 1);
	if (c->row->arg) {
		struct bd b[2] = {good(c, 0), good(c, 64)};
		put_chain(c, 4, 2, b);
		want(c, 2, 0, 128, 0);
		return;
	}
	pdesc_body(c, c->size - 1, B(0), 64, 4);
	pdesc_body(c, 0, B(64), 64, 4);
	pdesc_flags(c, 0, PAV); /* lap 1 bits where lap 0 is expected */
	pdesc_flags(c, c->size - 1, (uint16_t)(NEXT | PAV));
}

/* C6: poison the driver event suppression area (flags row->d.flags,
 * off_wrap row->arg). */
static void w_c6(struct ctx *c)
{
	c->pdrv->flags = c->row->d.flags;
	c->pdrv->off_wrap = (uint16_t)c->row->arg;
	w_good(c);
}

/* ------------------------------------------------------------------- rows */

static const struct row rows[] = {
	/* --- C: packed ring */
	ROW(FP, "C1", "AVAIL and USED both set", w_c1, F_BASE, DB, 0, O_NONE,
	    D(0, 0, 0, PAV | PUS)),
	ROW(FP, "C1", "AVAIL and USED both clear", w_c1, F_BASE, DB, 0, O_NONE,
	    D(0, 0, 0, NEXT | WR)),
	ROW(FP, "C1", "bits of the other wrap counter", w_c1, F_BASE, DB, 0, O_NONE,
	    D(0, 0, 0, PUS)),
	ROW(FP, "C1", "previous lap's bits after a wrap", w_c1_stale_lap, F_BASE, DB, 0, O_NONE),
	ROW(FP, "C2", "NEXT on every descriptor of the ring", w_c2_full, F_BASE, DB,
	    E(PACKED_RING_OVERRUN), O_BROKEN),
	ROW(FP, "C2", "one chain in flight, NEXT on all others", w_c2_after_inflight, F_BASE, DB,
	    E(PACKED_RING_OVERRUN), O_BROKEN),
	ROW(FP, "C2", "whole ring in flight, one more made available", w_c2_ring_full, F_BASE, DB,
	    E(PACKED_RING_OVERRUN), O_BROKEN),
	ROW(FP, "C3", "buffer id == size", w_c3_id, F_BASE, DB, E(HEAD_OUT_OF_RANGE), O_BROKEN,
	    .arg = QSIZE_DEFAULT),
	ROW(FP, "C3", "buffer id 0xffff", w_c3_id, F_BASE, DB, E(HEAD_OUT_OF_RANGE), O_BROKEN,
	    .arg = 0xffff),
	ROW(FP, "C3", "bad id in the last descriptor only", w_c3_id_last, F_BASE, DB,
	    E(HEAD_OUT_OF_RANGE), O_BROKEN, .arg = 1),
	ROW(FP, "C3", "bad id in the head only (id is the last's, legal)", w_c3_id_last, F_BASE, DB,
	    1, O_OK, .arg = 0),
	ROW(FP, "C3", "buffer id already in flight", w_c3_in_flight, F_BASE, DB, E(HEAD_IN_FLIGHT),
	    O_BROKEN),
	ROW(FP, "C3", "content error and bad id: broken wins", w_c3_drop_and_bad_id, F_BASE, DB,
	    E(HEAD_OUT_OF_RANGE), O_BROKEN),
	ROW(FP, "C4", "NEXT/INDIRECT/id inside an indirect table ignored", w_c4, F_IND, DB, 1,
	    O_OK),
	ROW(FP, "C5", "second descriptor not available (flags 0)", w_c5, F_BASE, DB,
	    E(PACKED_CHAIN_INCOMPLETE), O_BROKEN, D(0, 0, 0, 0)),
	ROW(FP, "C5", "second descriptor AVAIL|USED", w_c5, F_BASE, DB, E(PACKED_CHAIN_INCOMPLETE),
	    O_BROKEN, D(0, 0, 0, PAV | PUS)),
	ROW(FP, "C5", "second descriptor other wrap's bits", w_c5, F_BASE, DB,
	    E(PACKED_CHAIN_INCOMPLETE), O_BROKEN, D(0, 0, 0, PUS)),
	ROW(FP, "C5", "list across the ring end, old lap's bits after it", w_c5_wrap, F_BASE, DB,
	    E(PACKED_CHAIN_INCOMPLETE), O_BROKEN, .arg = 0),
	ROW(FP, "C5", "list across the ring end (legal)", w_c5_wrap, F_BASE, DB, 1, O_OK, .arg = 1),
	ROW(FP, "C6", "driver event flags reserved (3): enable", w_c6, F_BASE, DB, 1, O_OK,
	    D(0, 0, 0, 3), .arg = 0, .notify = NOTIFY_YES, .post = post_notify),
	ROW(FP, "C6", "driver event flags 0xffff: enable", w_c6, F_EVT, DB, 1, O_OK,
	    D(0, 0, 0, 0xffff), .arg = 0xffff, .notify = NOTIFY_YES, .post = post_notify),
	ROW(FP, "C6", "driver event flags 0xfffd: disable", w_c6, F_EVT, DB, 1, O_OK,
	    D(0, 0, 0, 0xfffd), .arg = 0, .notify = NOTIFY_NO, .post = post_notify),
	ROW(FP, "C6", "DESC, off_wrap 0xffff (offset never reached)", w_c6, F_EVT, DB, 1, O_OK,
	    D(0, 0, 0, RING_EVENT_FLAGS_DESC), .arg = 0xffff, .notify = NOTIFY_NO,
	    .post = post_notify),
	ROW(FP, "C6", "DESC, offset == size", w_c6, F_EVT, DB, 1, O_OK,
	    D(0, 0, 0, RING_EVENT_FLAGS_DESC), .arg = 0x8000u | QSIZE_DEFAULT, .notify = NOTIFY_NO,
	    .post = post_notify),
	ROW(FP, "C6", "DESC at the position just used: notify", w_c6, F_EVT, DB, 1, O_OK,
	    D(0, 0, 0, RING_EVENT_FLAGS_DESC), .arg = 0x8000u, .notify = NOTIFY_YES,
	    .post = post_notify),
	ROW(FP, "C6", "DESC without EVENT_IDX counts as enable", w_c6, F_BASE, DB, 1, O_OK,
	    D(0, 0, 0, RING_EVENT_FLAGS_DESC), .arg = 0x7fff, .notify = NOTIFY_YES,
	    .post = post_notify),
};

int main(int argc, char **argv)
{
	return malformed_main("malformed-packed-ring", rows, sizeof(rows) / sizeof(rows[0]), argc,
			      argv);
}
