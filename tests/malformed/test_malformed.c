/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table for the virtqueue library (HOSTILE-INPUTS.md sections
 * A, B, C, G7 and H).
 *
 * Device side: every row writes a malformed ring state BY HAND into the
 * driver's view of the fake guest memory (the library's own driver refuses
 * to build bad chains), then calls vq_pop() once and checks the exact code
 * and outcome:
 *
 *   OK     vq_pop() == 1: the input is legal; the element's shape is checked
 *          and every iovec must lie inside one memory region.
 *   DROP   vq_pop() == -drop code, e.id is the head / buffer id, the chain is
 *          in flight; vq_push(q, id, 0) writes a used entry of length 0, the
 *          counters move, and a well-formed chain written next pops fine.
 *   BROKEN vq_pop() == -broken code; vq_is_broken(), the reason is sticky,
 *          later calls return -VQ_ERR_BROKEN or do nothing (A23), and the
 *          device wrote nothing into ring memory.
 *   NONE   vq_pop() == 0: nothing is available (packed C1); nothing written;
 *          once the driver writes a proper descriptor the queue works.
 *
 * Driver side (H1-H3): hostile used entries written by hand against the
 * library's driver; vq_drv_reap() must report the exact -VQ_ERR_USED_* code
 * and break the queue without freeing anything.
 *
 * One executable, one group per argument: split, packed, driver, misc.
 * Every row prints one "ROW" line (format, HOSTILE id, name, expected code,
 * outcome) so the test log documents the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "guestmem.h"
#include "spec/virtio_ring.h"

/* ------------------------------------------------------------------ basics */

#define RING_BYTES	  (256u * 1024u)
#define BUF_BYTES_DEFAULT (64u * 1024u)
#define IOV_MAX_TEST	  2048u
#define IOV_CAP_DEFAULT	  256u
#define QSIZE_DEFAULT	  16u
#define BIG_GPA		  0x4000000000ull /* a 4 GiB PROT_NONE region (A15) */
#define BIG_BYTES	  (4ull << 30)
#define OUTSIDE		  0xdead00000000ull /* no region there */

#define F_BASE (1ull << VIRTIO_F_VERSION_1)
#define F_IND  (F_BASE | (1ull << VIRTIO_F_INDIRECT_DESC))
#define F_EVT  (F_BASE | (1ull << VIRTIO_F_EVENT_IDX))

#define NEXT VIRTQ_DESC_F_NEXT
#define WR   VIRTQ_DESC_F_WRITE
#define IND  VIRTQ_DESC_F_INDIRECT
#define PAV  VIRTQ_DESC_F_AVAIL
#define PUS  VIRTQ_DESC_F_USED

#define DB VQ_DIR_BOTH
#define DR VQ_DIR_DEVICE_READS
#define DW VQ_DIR_DEVICE_WRITES

#define E(x) (-(int)VQ_ERR_##x)

#define FS 1u /* split */
#define FP 2u /* packed */
#define FB 3u /* both */

#define MEM_BIG 1u

/* Default ids: split head index, packed buffer id (not 0, so e.id checks
 * mean something; the follow-up chain uses 0). */
#define GID_SPLIT  5u
#define GID_PACKED 7u

enum outcome { O_OK, O_DROP, O_BROKEN, O_NONE };
enum { NOTIFY_ANY = 0, NOTIFY_NO, NOTIFY_YES };
static const char *const outcome_names[] = {"OK", "DROP", "BROKEN", "NONE"};

static const char *const err_ids[VQ_ERR__COUNT] = {
	[VQ_OK] = "VQ_OK",
	[VQ_ERR_DESC_OUT_OF_MEMORY] = "DESC_OUT_OF_MEMORY",
	[VQ_ERR_DESC_ADDR_OVERFLOW] = "DESC_ADDR_OVERFLOW",
	[VQ_ERR_DESC_ZERO_LEN] = "DESC_ZERO_LEN",
	[VQ_ERR_DESC_READ_AFTER_WRITE] = "DESC_READ_AFTER_WRITE",
	[VQ_ERR_DESC_WRITE_FORBIDDEN] = "DESC_WRITE_FORBIDDEN",
	[VQ_ERR_DESC_READ_FORBIDDEN] = "DESC_READ_FORBIDDEN",
	[VQ_ERR_DESC_NEXT_OUT_OF_RANGE] = "DESC_NEXT_OUT_OF_RANGE",
	[VQ_ERR_CHAIN_LOOP] = "CHAIN_LOOP",
	[VQ_ERR_CHAIN_TOO_LONG] = "CHAIN_TOO_LONG",
	[VQ_ERR_CHAIN_TOO_MANY_SEGMENTS] = "CHAIN_TOO_MANY_SEGMENTS",
	[VQ_ERR_CHAIN_LEN_OVERFLOW] = "CHAIN_LEN_OVERFLOW",
	[VQ_ERR_INDIRECT_NOT_NEGOTIATED] = "INDIRECT_NOT_NEGOTIATED",
	[VQ_ERR_INDIRECT_EMPTY] = "INDIRECT_EMPTY",
	[VQ_ERR_INDIRECT_BAD_LEN] = "INDIRECT_BAD_LEN",
	[VQ_ERR_INDIRECT_TOO_LARGE] = "INDIRECT_TOO_LARGE",
	[VQ_ERR_INDIRECT_OUT_OF_MEMORY] = "INDIRECT_OUT_OF_MEMORY",
	[VQ_ERR_INDIRECT_NESTED] = "INDIRECT_NESTED",
	[VQ_ERR_INDIRECT_WITH_NEXT] = "INDIRECT_WITH_NEXT",
	[VQ_ERR_HEAD_OUT_OF_RANGE] = "HEAD_OUT_OF_RANGE",
	[VQ_ERR_HEAD_IN_FLIGHT] = "HEAD_IN_FLIGHT",
	[VQ_ERR_AVAIL_IDX_JUMP] = "AVAIL_IDX_JUMP",
	[VQ_ERR_PACKED_CHAIN_INCOMPLETE] = "PACKED_CHAIN_INCOMPLETE",
	[VQ_ERR_PACKED_RING_OVERRUN] = "PACKED_RING_OVERRUN",
	[VQ_ERR_RING_OUT_OF_MEMORY] = "RING_OUT_OF_MEMORY",
	[VQ_ERR_RING_MISALIGNED] = "RING_MISALIGNED",
	[VQ_ERR_BROKEN] = "BROKEN",
	[VQ_ERR_USED_ID_OUT_OF_RANGE] = "USED_ID_OUT_OF_RANGE",
	[VQ_ERR_USED_ID_NOT_IN_FLIGHT] = "USED_ID_NOT_IN_FLIGHT",
	[VQ_ERR_USED_LEN_TOO_LARGE] = "USED_LEN_TOO_LARGE",
	[VQ_ERR_USED_IDX_JUMP] = "USED_IDX_JUMP",
	[VQ_ERR_INVALID_ARG] = "INVALID_ARG",
	[VQ_ERR_NO_SPACE] = "NO_SPACE",
	[VQ_ERR_NO_MEMORY] = "NO_MEMORY",
};

static const char *code_name(int rc)
{
	static char buf[32];
	if (rc > 0) {
		snprintf(buf, sizeof(buf), "%d (chain)", rc);
		return buf;
	}
	if (rc == 0)
		return "0 (nothing)";
	if (-rc < VQ_ERR__COUNT && err_ids[-rc])
		return err_ids[-rc];
	snprintf(buf, sizeof(buf), "?%d", rc);
	return buf;
}

/* vq_strerror() of an unknown code, to prove known codes get a real text. */
static void assert_known_message(int rc)
{
	const char *unknown = vq_strerror(VQ_ERR__COUNT + 7);
	const char *msg = vq_strerror(rc);
	assert_non_null(msg);
	assert_string_not_equal(msg, unknown);
	assert_true(strlen(msg) > 0);
}

/* ------------------------------------------------------------- the table */

struct ctx;

/* Address of a hand-written descriptor, relative to a base known only at
 * run time. */
enum { AB_ABS, AB_BUF, AB_END, AB_MEM, AB_BIG, AB_DESC };
struct dspec {
	uint8_t base;
	int64_t off;
	uint32_t len;
	uint16_t flags;
};

struct row {
	unsigned fmts;
	const char *hid;
	const char *name;
	void (*write)(struct ctx *c);
	uint64_t features;
	enum vq_dir dir;
	int expect; /* vq_pop's return: 1, 0 or -VQ_ERR_* */
	enum outcome outcome;
	uint32_t qsize;		     /* 0: QSIZE_DEFAULT */
	uint32_t max_chain;	     /* 0: queue size */
	uint16_t iov_cap;	     /* 0: IOV_CAP_DEFAULT */
	size_t buf_region;	     /* 0: one buffer region; 4096: guard pages; 64: tiny */
	size_t buf_bytes;	     /* 0: BUF_BYTES_DEFAULT */
	unsigned mem;		     /* MEM_BIG */
	uint32_t arg;		     /* writer parameter */
	struct dspec d;		     /* writer parameter */
	int notify;		     /* post_notify: NOTIFY_ANY, NOTIFY_NO or NOTIFY_YES */
	void (*post)(struct ctx *c); /* after the push (OK/DROP) or the checks (NONE) */
};

struct inst {
	const struct row *row;
	enum vq_format fmt;
	char name[160];
};

struct ctx {
	const struct row *row;
	struct tgm g;
	struct tring r;
	struct vq *q;
	uint32_t size;
	uint64_t buf, buf_end;
	/* split, driver view */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx;
	/* packed, driver view */
	struct pvirtq_desc *pdesc;
	struct pvirtq_event_suppress *pdrv, *pdev;
	uint16_t pos;
	bool wrap;
	/* set by the writer */
	uint16_t held[4]; /* chains the writer popped and keeps in flight */
	unsigned nheld;
	uint16_t expect_id;
	bool check_shape;
	uint16_t want_nout, want_nin;
	uint32_t want_out_len, want_in_len;
	/* the element under test */
	struct vq_elem e;
	struct iovec iov[IOV_MAX_TEST];
};

static bool is_split(const struct ctx *c)
{
	return c->r.format == VQ_FORMAT_SPLIT;
}

#define B(off) (c->buf + (uint64_t)(off))

static uint16_t gid(const struct ctx *c)
{
	return is_split(c) ? GID_SPLIT : GID_PACKED;
}

static void want(struct ctx *c, uint16_t nout, uint16_t nin, uint32_t out_len, uint32_t in_len)
{
	c->check_shape = true;
	c->want_nout = nout;
	c->want_nin = nin;
	c->want_out_len = out_len;
	c->want_in_len = in_len;
}

/* --------------------------------------------------- hand-written rings */

static void sdesc(struct ctx *c, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next)
{
	struct virtq_desc *d = &c->desc[i];
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void savail_idx(struct ctx *c, uint16_t idx)
{
	c->avail_idx = idx;
	__atomic_store_n(&c->avail->idx, idx, __ATOMIC_RELEASE);
}

static void spublish(struct ctx *c, uint16_t head)
{
	c->avail->ring[c->avail_idx & (c->size - 1)] = head;
	savail_idx(c, (uint16_t)(c->avail_idx + 1));
}

static uint16_t pk_avail_bits(bool wrap)
{
	return wrap ? PAV : PUS;
}

static void pdesc_body(struct ctx *c, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id)
{
	struct pvirtq_desc *d = &c->pdesc[pos];
	d->addr = addr;
	d->len = len;
	d->id = id;
}

static void pdesc_flags(struct ctx *c, uint16_t pos, uint16_t flags)
{
	__atomic_store_n(&c->pdesc[pos].flags, flags, __ATOMIC_RELEASE);
}

static void padvance(struct ctx *c)
{
	if (++c->pos == c->size) {
		c->pos = 0;
		c->wrap = !c->wrap;
	}
}

struct bd {
	uint64_t addr;
	uint32_t len;
	uint16_t flags; /* WRITE / INDIRECT; NEXT is added by put_chain */
};

/*
 * Make a chain of @n descriptors available, as a correct driver would lay
 * it out (but with whatever contents @b says). Split: table entries id,
 * id+1, ... (mod size) linked by NEXT, head @id published in the avail
 * ring. Packed: a list at the driver position, NEXT on all but the last,
 * buffer id @id in every descriptor, the head's flags written last.
 */
static void put_chain(struct ctx *c, uint16_t id, unsigned n, const struct bd *b)
{
	c->expect_id = id;
	if (is_split(c)) {
		uint16_t mask = (uint16_t)(c->size - 1);
		for (unsigned k = 0; k < n; k++) {
			bool more = k + 1 < n;
			sdesc(c, (uint16_t)((id + k) & mask), b[k].addr, b[k].len,
			      (uint16_t)(b[k].flags | (more ? NEXT : 0)),
			      more ? (uint16_t)((id + k + 1) & mask) : 0);
		}
		spublish(c, id);
		return;
	}
	uint16_t head_pos = c->pos, head_flags = 0;
	for (unsigned k = 0; k < n; k++) {
		uint16_t f =
			(uint16_t)(b[k].flags | (k + 1 < n ? NEXT : 0) | pk_avail_bits(c->wrap));
		pdesc_body(c, c->pos, b[k].addr, b[k].len, id);
		if (k == 0)
			head_flags = f;
		else
			pdesc_flags(c, c->pos, f);
		padvance(c);
	}
	pdesc_flags(c, head_pos, head_flags);
}

static struct bd good(const struct ctx *c, uint64_t off)
{
	return (struct bd){c->buf + off, 64, c->row->dir == DW ? WR : 0};
}

/* Write an indirect table of @n entries at @gpa (split: linked by NEXT as a
 * driver does; packed: linear, id 0). Entries outside memory are skipped. */
static void write_table(struct ctx *c, uint64_t gpa, unsigned n, const struct bd *b)
{
	for (unsigned k = 0; k < n; k++) {
		uint64_t at = gpa + 16ull * k;
		uint8_t *p = tgm_drv_ptr(&c->g, at);
		if (!p || !tgm_drv_ptr(&c->g, at + 15))
			continue;
		if (is_split(c)) {
			bool more = k + 1 < n;
			struct virtq_desc d = {b[k].addr, b[k].len,
					       (uint16_t)(b[k].flags | (more ? NEXT : 0)),
					       more ? (uint16_t)(k + 1) : 0};
			memcpy(p, &d, sizeof(d));
		} else {
			struct pvirtq_desc d = {b[k].addr, b[k].len, 0, b[k].flags};
			memcpy(p, &d, sizeof(d));
		}
	}
}

static uint64_t put_table(struct ctx *c, unsigned n, const struct bd *b)
{
	uint64_t gpa = tgm_ring_alloc(&c->g, 16u * (n ? n : 1), 16);
	assert_true(gpa != 0);
	write_table(c, gpa, n, b);
	return gpa;
}

/* Pop (and optionally push) one chain during a writer's set-up. */
static uint16_t pre_pop(struct ctx *c, bool push)
{
	struct iovec iov[64];
	struct vq_elem e = {.iov = iov, .iov_cap = 64};
	int rc = vq_pop(c->q, &e);
	assert_int_equal(rc, 1);
	if (push)
		assert_int_equal(vq_push(c->q, e.id, 0), 0);
	return e.id;
}

/* Packed: move both sides @n single-descriptor chains forward. */
static void cycle(struct ctx *c, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct bd b = good(c, 0);
		put_chain(c, 0, 1, &b);
		pre_pop(c, true);
	}
}

static uint64_t dspec_addr(const struct ctx *c, const struct dspec *d)
{
	uint64_t base = 0;
	switch (d->base) {
	case AB_BUF:
		base = c->buf;
		break;
	case AB_END:
		base = c->buf_end;
		break;
	case AB_MEM:
		base = TGM_GPA_BASE;
		break;
	case AB_BIG:
		base = BIG_GPA;
		break;
	case AB_DESC:
		base = c->r.desc_gpa;
		break;
	default:
		break;
	}
	return base + (uint64_t)d->off;
}

/* For a legal single buffer: the shape from an independent translation. */
static void want_buffer(struct ctx *c, uint64_t addr, uint32_t len, bool writable)
{
	struct iovec tmp[IOV_MAX_TEST];
	int n = gmem_translate(c->g.mem, addr, len, tmp, IOV_MAX_TEST, NULL);
	assert_true(n > 0);
	if (writable)
		want(c, 0, (uint16_t)n, 0, len);
	else
		want(c, (uint16_t)n, 0, len, 0);
}

/* --------------------------------------------------------------- writers */

/* A well-formed chain: one readable (or writable on an rx queue) buffer. */
static void w_good(struct ctx *c)
{
	struct bd b = good(c, 0);
	put_chain(c, gid(c), 1, &b);
	want(c, b.flags ? 0 : 1, b.flags ? 1 : 0, b.flags ? 0 : 64, b.flags ? 64 : 0);
}

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

static uint64_t a22_table;
static void w_a22_ind(struct ctx *c)
{
	struct bd e[2] = {{B(0), 64, 0}, {B(0x100), 32, WR}};
	a22_table = put_table(c, 2, e);
	struct bd b = {a22_table, 32, IND};
	put_chain(c, gid(c), 1, &b);
	want(c, 1, 1, 64, 32);
}

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

/* ---- split only */

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

/* A24: poison avail->flags (row->d.flags) and used_event (row->arg). */
static void w_a24(struct ctx *c)
{
	c->avail->flags = c->row->d.flags;
	c->avail->ring[c->size] = (uint16_t)c->row->arg; /* used_event */
	w_good(c);
}

/* ---- packed only */

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

/* ------------------------------------------------------------ post hooks */

/* A14/B5: the element's iovecs really map the guest range: bytes written
 * through the driver view read back through the iovecs, in order, and
 * bytes written through the iovecs show up in the driver view. With the
 * guard-page layout, an iovec crossing a region would fault here. */
static void touch_range(struct ctx *c, uint64_t gpa, const struct iovec *iov, unsigned n,
			uint64_t len)
{
	uint8_t *drv = tgm_drv_ptr(&c->g, gpa);
	assert_non_null(drv);
	for (uint64_t i = 0; i < len; i++)
		drv[i] = (uint8_t)(i * 7 + 3);
	uint64_t off = 0;
	for (unsigned k = 0; k < n; k++) {
		const uint8_t *p = iov[k].iov_base;
		for (size_t i = 0; i < iov[k].iov_len; i++, off++)
			assert_int_equal(p[i], (uint8_t)(off * 7 + 3));
	}
	assert_true(off == len);
	off = 0;
	for (unsigned k = 0; k < n; k++) {
		uint8_t *p = iov[k].iov_base;
		for (size_t i = 0; i < iov[k].iov_len; i++, off++)
			p[i] = (uint8_t)(off ^ 0x5a);
	}
	for (uint64_t i = 0; i < len; i++)
		assert_int_equal(drv[i], (uint8_t)(i ^ 0x5a));
}

static void post_touch(struct ctx *c)
{
	uint64_t addr = dspec_addr(c, &c->row->d);
	touch_range(c, addr, c->e.iov, (unsigned)c->e.nout + c->e.nin, c->row->d.len);
}

/* B5: each entry of the straddling table pointed at 16 bytes. */
static void post_touch_each(struct ctx *c)
{
	for (unsigned k = 0; k < c->e.nout; k++) {
		assert_int_equal(c->e.iov[k].iov_len, 16);
		touch_range(c, B(5u * 4096 + (k % 64) * 16), &c->e.iov[k], 1, 16);
	}
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
	if (a22_table) {
		struct bd e[2] = {{B(0x3000), 8, WR}, {B(0x3000), 8, 0}};
		write_table(c, a22_table, 2, e);
		a22_table = 0;
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

/* Device-written suppression fields stay in range (A24, C6). */
static void check_device_suppression(struct ctx *c)
{
	struct vq_state s;
	vq_get_state(c->q, &s);
	if (is_split(c)) {
		uint16_t avail_event;
		memcpy(&avail_event, &c->used->ring[c->size], sizeof(avail_event));
		if (c->row->features & (1ull << VIRTIO_F_EVENT_IDX))
			assert_int_equal(avail_event, s.avail_idx);
		assert_true(c->used->flags <= VIRTQ_USED_F_NO_NOTIFY);
	} else {
		assert_true(c->pdev->flags <= RING_EVENT_FLAGS_DESC);
		assert_true((c->pdev->off_wrap & 0x7fffu) < c->size);
	}
}

/* A24 / C6: the notification decision for the push the runner just did,
 * then a few laps with random poison in the driver's suppression fields:
 * only the decision may change, never the ring. */
static void post_notify(struct ctx *c)
{
	bool n = vq_should_notify(c->q);
	if (c->row->notify != NOTIFY_ANY)
		assert_int_equal(n, c->row->notify == NOTIFY_YES);
	assert_false(vq_enable_kicks(c->q));
	check_device_suppression(c);
	vq_disable_kicks(c->q);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ c->row->arg;
	for (unsigned i = 0; i < 4 * c->size + 3; i++) {
		uint64_t r = trand(&seed);
		if (is_split(c)) {
			c->avail->flags = (uint16_t)r;
			c->avail->ring[c->size] = (uint16_t)(r >> 16);
		} else {
			c->pdrv->flags = (uint16_t)r;
			c->pdrv->off_wrap = (uint16_t)(r >> 16);
		}
		struct bd b = good(c, 0);
		put_chain(c, 0, 1, &b);
		struct iovec iov[4];
		struct vq_elem e = {.iov = iov, .iov_cap = 4};
		if (r & (1ull << 40))
			(void)vq_enable_kicks(c->q);
		assert_int_equal(vq_pop(c->q, &e), 1);
		assert_int_equal(vq_push(c->q, e.id, (uint32_t)(r >> 48) & 63), 0);
		(void)vq_should_notify(c->q);
		(void)vq_enable_kicks(c->q);
		check_device_suppression(c);
		if (r & (1ull << 41))
			vq_disable_kicks(c->q);
		assert_false(vq_is_broken(c->q));
	}
	if (is_split(c)) {
		c->avail->flags = 0;
		c->avail->ring[c->size] = 0;
	} else {
		c->pdrv->flags = 0;
		c->pdrv->off_wrap = 0;
	}
}

/* ------------------------------------------------------------------- rows */

#define ROW(fm, h, n, w, feat, dr, ex, oc, ...)                                                    \
	{                                                                                          \
		.fmts = fm, .hid = h, .name = n, .write = w, .features = feat, .dir = dr,          \
		.expect = ex, .outcome = oc, __VA_ARGS__                                           \
	}
#define D(b, o, l, f) .d = {b, (int64_t)(o), l, f}

static const struct row rows[] = {
	/* --- baseline */
	ROW(FB, "-", "well-formed chain", w_good, F_BASE, DB, 1, O_OK),
	ROW(FB, "-", "well-formed chain, rx queue", w_good, F_BASE, DW, 1, O_OK),

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

	/* --- A21/A22/A24 */
	ROW(FB, "A21", "buffers aliasing the ring itself", w_alias_ring, F_BASE, DB, 1, O_OK),
	ROW(FS, "A21", "indirect table aliasing the descriptor table", w_ind_is_ring, F_IND, DB, 1,
	    O_OK, .arg = 0),
	ROW(FS, "A21", "indirect table is the descriptor table, entry 0 = itself", w_ind_is_ring,
	    F_IND, DB, E(INDIRECT_NESTED), O_DROP, .arg = 1),
	ROW(FB, "A22", "descriptors rewritten after the pop", w_a22, F_BASE, DB, 1, O_OK,
	    .post = post_a22),
	ROW(FB, "A22", "indirect table rewritten after the pop", w_a22_ind, F_IND, DB, 1, O_OK,
	    .post = post_a22),
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

/* ---------------------------------------------------------------- runner */

static int add_big_region(struct tgm *g)
{
	void *p = mmap(NULL, BIG_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		       0);
	if (p == MAP_FAILED)
		return -1;
	struct gmem_region_desc d = {.gpa = BIG_GPA,
				     .size = BIG_BYTES,
				     .hva = p,
				     .mmap_base = p,
				     .mmap_len = BIG_BYTES,
				     .fd = -1};
	struct gmem_table *nt = NULL;
	if (gmem_table_add(g->mem, &d, &nt)) {
		munmap(p, BIG_BYTES);
		return -1;
	}
	gmem_table_put(g->mem);
	g->mem = nt;
	return 0;
}

static int row_setup(void **state)
{
	const struct inst *in = *state;
	const struct row *row = in->row;
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	*state = c;
	c->row = row;
	c->g.fd = -1;
	size_t buf_bytes = row->buf_bytes ? row->buf_bytes : BUF_BYTES_DEFAULT;
	if (tgm_init(&c->g, RING_BYTES, buf_bytes, row->buf_region))
		return -1;
	if ((row->mem & MEM_BIG) && add_big_region(&c->g))
		return -1;
	c->size = row->qsize ? row->qsize : QSIZE_DEFAULT;
	if (tring_alloc(&c->g, &c->r, in->fmt, c->size, 0))
		return -1;
	uint64_t features = row->features;
	if (in->fmt == VQ_FORMAT_PACKED)
		features |= 1ull << VIRTIO_F_RING_PACKED;
	if (tring_device(&c->g, &c->r, features, row->dir, row->max_chain, &c->q))
		return -1;
	c->buf = tgm_buf_gpa(&c->g);
	c->buf_end = c->buf + c->g.buf_bytes;
	if (in->fmt == VQ_FORMAT_SPLIT) {
		c->desc = tgm_drv_ptr(&c->g, c->r.desc_gpa);
		c->avail = tgm_drv_ptr(&c->g, c->r.driver_gpa);
		c->used = tgm_drv_ptr(&c->g, c->r.device_gpa);
	} else {
		c->pdesc = tgm_drv_ptr(&c->g, c->r.desc_gpa);
		c->pdrv = tgm_drv_ptr(&c->g, c->r.driver_gpa);
		c->pdev = tgm_drv_ptr(&c->g, c->r.device_gpa);
	}
	c->pos = 0;
	c->wrap = true;
	c->e.iov = c->iov;
	c->e.iov_cap = row->iov_cap ? row->iov_cap : IOV_CAP_DEFAULT;
	a22_table = 0;
	return 0;
}

static int row_teardown(void **state)
{
	struct ctx *c = *state;
	if (!c)
		return 0;
	vq_free(c->q);
	tgm_fini(&c->g);
	free(c);
	return 0;
}

/* Every iovec lies wholly inside one region of the device's table. */
static void assert_iovs_in_regions(struct ctx *c, const struct vq_elem *e)
{
	for (unsigned k = 0; k < (unsigned)e->nout + e->nin; k++) {
		const uint8_t *base = e->iov[k].iov_base;
		size_t len = e->iov[k].iov_len;
		bool inside = false;
		assert_true(len > 0);
		for (unsigned i = 0; i < gmem_table_nregions(c->g.mem) && !inside; i++) {
			const struct gmem_region *r = gmem_table_region(c->g.mem, i);
			inside = base >= r->hva && len <= r->size &&
				 (uint64_t)(base - r->hva) <= r->size - len;
		}
		assert_true(inside);
	}
}

/* The used entry the device just wrote for (id, len) at state @s. */
static void assert_used_entry(struct ctx *c, const struct vq_state *s, uint16_t id, uint32_t len)
{
	if (is_split(c)) {
		assert_int_equal(c->used->idx, (uint16_t)(s->used_idx + 1));
		const struct virtq_used_elem *u = &c->used->ring[s->used_idx & (c->size - 1)];
		assert_int_equal(u->id, id);
		assert_int_equal(u->len, len);
	} else {
		const struct pvirtq_desc *d = &c->pdesc[s->used_idx];
		uint16_t f = s->used_wrap ? (PAV | PUS) : 0;
		if (len)
			f |= WR;
		assert_int_equal(d->id, id);
		assert_int_equal(d->len, len);
		assert_int_equal(d->flags, f);
	}
}

/* After an OK, DROP or NONE row: a well-formed chain written next pops. */
static void follow_up(struct ctx *c)
{
	for (unsigned i = 0; i < c->nheld; i++)
		assert_int_equal(vq_push(c->q, c->held[i], 0), 0);
	c->nheld = 0;
	const struct vq_stats st0 = *vq_get_stats(c->q);
	assert_int_equal(vq_in_flight(c->q), 0);
	struct bd b = {B(0x100), 64, c->row->dir == DW ? WR : 0};
	put_chain(c, 0, 1, &b);
	struct iovec iov[8];
	unsigned pops = 0;
	for (;;) {
		struct vq_elem e = {.iov = iov, .iov_cap = 8};
		struct vq_state s;
		vq_get_state(c->q, &s);
		assert_true(pops++ <= c->size);
		assert_int_equal(vq_pop(c->q, &e), 1);
		assert_int_equal(e.err, VQ_OK);
		assert_int_equal(vq_push(c->q, e.id, 0), 0);
		assert_used_entry(c, &s, e.id, 0);
		if (e.id == 0 && e.nout + e.nin == 1 && e.out_len + e.in_len == 64)
			break;
	}
	struct iovec spare;
	struct vq_elem e = {.iov = &spare, .iov_cap = 1};
	assert_int_equal(vq_pop(c->q, &e), 0);
	assert_false(vq_is_broken(c->q));
	assert_int_equal(vq_get_stats(c->q)->dropped, st0.dropped);
}

/* A23: every entry point on a broken queue is harmless. */
static void assert_broken_inert(struct ctx *c, enum vq_err why, uint16_t some_id)
{
	assert_true(vq_is_broken(c->q));
	assert_int_equal(vq_broken_reason(c->q), why);
	struct iovec iov[4];
	struct vq_elem e = {.iov = iov, .iov_cap = 4};
	assert_int_equal(vq_pop(c->q, &e), E(BROKEN));
	struct vq_elem elems[2] = {{.iov = iov, .iov_cap = 2}, {.iov = iov + 2, .iov_cap = 2}};
	int err = 0;
	assert_int_equal(vq_pop_burst(c->q, elems, 2, &err), 0);
	assert_int_equal(err, E(BROKEN));
	assert_int_equal(vq_push(c->q, some_id, 0), E(BROKEN));
	struct vq_used u = {some_id, 1};
	assert_int_equal(vq_push_burst(c->q, &u, 1), E(BROKEN));
	assert_false(vq_should_notify(c->q));
	assert_false(vq_enable_kicks(c->q));
	vq_disable_kicks(c->q);
	assert_false(vq_avail_pending(c->q));
	assert_int_equal(vq_broken_reason(c->q), why);
	assert_known_message(E(BROKEN));
}

static void run_row(void **state)
{
	struct ctx *c = *state;
	const struct row *row = c->row;

	/* The table is self-consistent. */
	if (row->outcome == O_DROP)
		assert_true(row->expect < 0 && vq_err_is_drop(row->expect));
	else if (row->outcome == O_BROKEN)
		assert_true(row->expect < 0 && !vq_err_is_drop(row->expect));
	else
		assert_int_equal(row->expect, row->outcome == O_OK ? 1 : 0);

	row->write(c);

	uint8_t *snap = malloc(c->g.ring_bytes);
	assert_non_null(snap);
	memcpy(snap, c->g.drv_view, c->g.ring_bytes);
	const struct vq_stats st0 = *vq_get_stats(c->q);
	struct vq_state s0;
	vq_get_state(c->q, &s0);
	unsigned inflight0 = vq_in_flight(c->q);

	int rc = vq_pop(c->q, &c->e);
	if (rc != row->expect)
		printf("     got %s (%s)\n", code_name(rc), vq_strerror(rc));
	assert_int_equal(rc, row->expect);
	if (rc < 0)
		assert_known_message(rc);
	const struct vq_stats *st = vq_get_stats(c->q);

	switch (row->outcome) {
	case O_OK:
	case O_DROP: {
		assert_false(vq_is_broken(c->q));
		assert_int_equal(c->e.id, c->expect_id);
		assert_int_equal(st->popped, st0.popped + 1);
		assert_int_equal(vq_in_flight(c->q), inflight0 + 1);
		if (row->outcome == O_OK) {
			assert_int_equal(c->e.err, VQ_OK);
			assert_int_equal(st->dropped, st0.dropped);
			if (c->check_shape) {
				assert_int_equal(c->e.nout, c->want_nout);
				assert_int_equal(c->e.nin, c->want_nin);
				assert_int_equal(c->e.out_len, c->want_out_len);
				assert_int_equal(c->e.in_len, c->want_in_len);
			}
			assert_iovs_in_regions(c, &c->e);
			uint64_t sum = 0;
			for (unsigned k = 0; k < (unsigned)c->e.nout + c->e.nin; k++)
				sum += c->e.iov[k].iov_len;
			assert_true(sum == (uint64_t)c->e.out_len + c->e.in_len);
		} else {
			assert_int_equal(c->e.err, -rc);
			assert_int_equal(st->dropped, st0.dropped + 1);
			assert_int_equal(st->drop_reason[-rc], st0.drop_reason[-rc] + 1);
		}
		struct vq_state sb;
		vq_get_state(c->q, &sb);
		assert_int_equal(vq_push(c->q, c->e.id, 0), 0);
		assert_used_entry(c, &sb, c->e.id, 0);
		/* Never double-complete. */
		assert_int_equal(vq_push(c->q, c->e.id, 0), E(INVALID_ARG));
		assert_int_equal(vq_in_flight(c->q), inflight0);
		assert_int_equal(vq_get_stats(c->q)->pushed, st0.pushed + 1);
		if (row->post)
			row->post(c);
		follow_up(c);
		break;
	}
	case O_NONE: {
		struct vq_state s1;
		vq_get_state(c->q, &s1);
		assert_false(vq_is_broken(c->q));
		assert_false(vq_avail_pending(c->q));
		assert_memory_equal(&s0, &s1, sizeof(s0));
		assert_memory_equal(snap, c->g.drv_view, c->g.ring_bytes);
		assert_int_equal(st->popped, st0.popped);
		/* No spin, no partial consumption: asking again changes nothing. */
		for (int i = 0; i < 1000; i++)
			assert_int_equal(vq_pop(c->q, &c->e), 0);
		vq_get_state(c->q, &s1);
		assert_memory_equal(&s0, &s1, sizeof(s0));
		if (row->post)
			row->post(c);
		follow_up(c);
		break;
	}
	case O_BROKEN:
		assert_int_equal(st->popped, st0.popped);
		assert_int_equal(st->dropped, st0.dropped);
		assert_int_equal(vq_in_flight(c->q), inflight0);
		assert_broken_inert(c, (enum vq_err) - rc, c->expect_id);
		/* The device wrote nothing: no used entry, no flags. */
		assert_memory_equal(snap, c->g.drv_view, c->g.ring_bytes);
		break;
	}
	free(snap);
}

/* ------------------------------------------------------------ driver side */

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
	assert_false(vq_drv_kick_needed(x->d));
	assert_false(vq_drv_enable_used_notify(x->d));
	assert_int_equal(vq_drv_free_descs(x->d), free1);
	assert_int_equal(vq_drv_in_flight(x->d), inflight0 - taken);
	assert_int_equal(vq_drv_broken_reason(x->d), row->expect_why);
}

/* ------------------------------------------------------------------ misc */

static const struct row misc_row = {
	.fmts = FB, .hid = "G7", .name = "misc", .features = F_BASE, .dir = DB};

static struct ctx *misc_ctx(struct inst *in, enum vq_format fmt)
{
	in->row = &misc_row;
	in->fmt = fmt;
	void *st = in;
	assert_int_equal(row_setup(&st), 0);
	return st;
}

static void misc_free(struct ctx *c)
{
	void *st = c;
	row_teardown(&st);
}

/* G7: a kick flood on an empty ring, then on a broken ring: 10^6 calls,
 * each O(1) (no timing assertion; the suite timeout bounds it). */
static void g7_flood(enum vq_format fmt)
{
	struct inst in;
	struct ctx *c = misc_ctx(&in, fmt);
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", fmt == VQ_FORMAT_SPLIT ? "split" : "packed", "G7",
	       "1e6 vq_pop on an empty ring", "0 (nothing)", "NONE");
	for (unsigned i = 0; i < 1000000; i++)
		if (vq_pop(c->q, &c->e) != 0)
			fail();
	assert_int_equal(vq_get_stats(c->q)->popped, 0);
	/* Break it (split: head out of range; packed: id out of range). */
	if (fmt == VQ_FORMAT_SPLIT) {
		sdesc(c, 0, B(0), 64, 0, 0);
		spublish(c, 0xffff);
	} else {
		struct bd b = good(c, 0);
		put_chain(c, 0xffff, 1, &b);
	}
	assert_int_equal(vq_pop(c->q, &c->e), E(HEAD_OUT_OF_RANGE));
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", fmt == VQ_FORMAT_SPLIT ? "split" : "packed", "G7",
	       "1e6 vq_pop on a broken ring", "BROKEN", "BROKEN");
	for (unsigned i = 0; i < 1000000; i++)
		if (vq_pop(c->q, &c->e) != E(BROKEN))
			fail();
	misc_free(c);
}

static void test_g7_split(void **state)
{
	(void)state;
	g7_flood(VQ_FORMAT_SPLIT);
}

static void test_g7_packed(void **state)
{
	(void)state;
	g7_flood(VQ_FORMAT_PACKED);
}

/* A23-like: a queue broken while a chain is in flight; completing that
 * chain, notifying or re-enabling kicks afterwards writes nothing. */
static void a23_inflight(enum vq_format fmt)
{
	struct inst in;
	struct ctx *c = misc_ctx(&in, fmt);
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", fmt == VQ_FORMAT_SPLIT ? "split" : "packed",
	       "A23", "push/notify/kicks on a queue broken with a chain in flight", "BROKEN",
	       "BROKEN");
	struct bd b = good(c, 0);
	put_chain(c, 2, 1, &b);
	uint16_t id = pre_pop(c, false);
	assert_int_equal(id, 2);
	if (fmt == VQ_FORMAT_SPLIT) {
		spublish(c, 0x8000);
	} else {
		put_chain(c, 2, 1, &b); /* id 2 is in flight */
	}
	int rc = vq_pop(c->q, &c->e);
	assert_int_equal(rc, fmt == VQ_FORMAT_SPLIT ? E(HEAD_OUT_OF_RANGE) : E(HEAD_IN_FLIGHT));
	uint8_t *snap = malloc(c->g.ring_bytes);
	assert_non_null(snap);
	memcpy(snap, c->g.drv_view, c->g.ring_bytes);
	assert_int_equal(vq_in_flight(c->q), 1);
	assert_broken_inert(c, (enum vq_err) - rc, id);
	assert_int_equal(vq_push_in_order(c->q, 1, 0), E(BROKEN));
	assert_memory_equal(snap, c->g.drv_view, c->g.ring_bytes);
	assert_int_equal(vq_get_stats(c->q)->pushed, 0);
	free(snap);
	misc_free(c);
}

static void test_a23_split(void **state)
{
	(void)state;
	a23_inflight(VQ_FORMAT_SPLIT);
}

static void test_a23_packed(void **state)
{
	(void)state;
	a23_inflight(VQ_FORMAT_PACKED);
}

/* ------------------------------------------------------------------ main */

static int run_device(enum vq_format fmt)
{
	const unsigned mask = fmt == VQ_FORMAT_SPLIT ? FS : FP;
	const size_t nrows = sizeof(rows) / sizeof(rows[0]);
	struct inst *insts = calloc(nrows, sizeof(*insts));
	struct CMUnitTest *tests = calloc(nrows, sizeof(*tests));
	size_t n = 0;
	if (!insts || !tests)
		return 1;
	printf("ROW  %-6s %-5s %-58s %-26s %s\n", "format", "id", "name", "vq_pop", "outcome");
	for (size_t i = 0; i < nrows; i++) {
		if (!(rows[i].fmts & mask))
			continue;
		struct inst *in = &insts[n];
		in->row = &rows[i];
		in->fmt = fmt;
		snprintf(in->name, sizeof(in->name), "%s %s: %s",
			 fmt == VQ_FORMAT_SPLIT ? "split" : "packed", rows[i].hid, rows[i].name);
		printf("ROW  %-6s %-5s %-58s %-26s %s\n",
		       fmt == VQ_FORMAT_SPLIT ? "split" : "packed", rows[i].hid, rows[i].name,
		       code_name(rows[i].expect), outcome_names[rows[i].outcome]);
		tests[n] = (struct CMUnitTest){in->name, run_row, row_setup, row_teardown, in};
		n++;
	}
	fflush(stdout);
	int failed = _cmocka_run_group_tests(fmt == VQ_FORMAT_SPLIT ? "malformed-split"
								    : "malformed-packed",
					     tests, n, NULL, NULL);
	free(tests);
	free(insts);
	return failed;
}

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

static int run_misc(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_g7_split),
		cmocka_unit_test(test_g7_packed),
		cmocka_unit_test(test_a23_split),
		cmocka_unit_test(test_a23_packed),
	};
	return cmocka_run_group_tests_name("malformed-misc", tests, NULL, NULL);
}

int main(int argc, char **argv)
{
	const char *group = argc > 1 ? argv[1] : "all";
	int failed = 0;
	bool all = strcmp(group, "all") == 0;
	if (all || strcmp(group, "split") == 0)
		failed += run_device(VQ_FORMAT_SPLIT);
	if (all || strcmp(group, "packed") == 0)
		failed += run_device(VQ_FORMAT_PACKED);
	if (all || strcmp(group, "driver") == 0)
		failed += run_driver();
	if (all || strcmp(group, "misc") == 0)
		failed += run_misc();
	return failed ? 1 : 0;
}
