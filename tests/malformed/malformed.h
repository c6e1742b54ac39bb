/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table for the virtqueue library (HOSTILE-INPUTS.md sections
 * A, B, C, G7 and H): what the topic files share.
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
 * One executable per topic: test_malformed_desc.c (descriptor contents,
 * both formats), _indirect.c (B), _split_ring.c (split avail ring, heads,
 * next links, A24), _packed_ring.c (C), _driver.c (H), _misc.c (G7, A23).
 * The device-side ones hand their rows to malformed_main() (malformed.c),
 * which runs them per format; an argument "split" or "packed" runs one
 * format only. Every row prints one "ROW" line (format, HOSTILE id, name,
 * expected code, outcome) so the test log documents the table.
 */
#ifndef VQNET_TEST_MALFORMED_H
#define VQNET_TEST_MALFORMED_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

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
extern const char *const outcome_names[];
extern const char *const err_ids[VQ_ERR__COUNT];

/* A readable name of vq_pop()'s or vq_drv_reap()'s return. */
const char *code_name(int rc);
/* vq_strerror() of an unknown code, to prove known codes get a real text. */
void assert_known_message(int rc);

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
	uint64_t a22_table; /* A22: the indirect table post_a22 rewrites, or 0 */
	uint16_t expect_id;
	bool check_shape;
	uint16_t want_nout, want_nin;
	uint32_t want_out_len, want_in_len;
	/* the element under test */
	struct vq_elem e;
	struct iovec iov[IOV_MAX_TEST];
};

static inline bool is_split(const struct ctx *c)
{
	return c->r.format == VQ_FORMAT_SPLIT;
}

#define B(off) (c->buf + (uint64_t)(off))

static inline uint16_t gid(const struct ctx *c)
{
	return is_split(c) ? GID_SPLIT : GID_PACKED;
}

static inline void want(struct ctx *c, uint16_t nout, uint16_t nin, uint32_t out_len,
			uint32_t in_len)
{
	c->check_shape = true;
	c->want_nout = nout;
	c->want_nin = nin;
	c->want_out_len = out_len;
	c->want_in_len = in_len;
}

/* --------------------------------------------------- hand-written rings */

struct bd {
	uint64_t addr;
	uint32_t len;
	uint16_t flags; /* WRITE / INDIRECT; NEXT is added by put_chain */
};

void sdesc(struct ctx *c, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
void savail_idx(struct ctx *c, uint16_t idx);
void spublish(struct ctx *c, uint16_t head);
uint16_t pk_avail_bits(bool wrap);
void pdesc_body(struct ctx *c, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id);
void pdesc_flags(struct ctx *c, uint16_t pos, uint16_t flags);
void padvance(struct ctx *c);
/* A chain of @n descriptors made available as a correct driver lays it out. */
void put_chain(struct ctx *c, uint16_t id, unsigned n, const struct bd *b);
/* A 64-byte buffer at @off in the row's direction. */
struct bd good(const struct ctx *c, uint64_t off);
/* An indirect table of @n entries at @gpa. */
void write_table(struct ctx *c, uint64_t gpa, unsigned n, const struct bd *b);
/* ... in newly allocated ring memory; returns its address. */
uint64_t put_table(struct ctx *c, unsigned n, const struct bd *b);
/* Pop (and optionally push) one chain during a writer's set-up. */
uint16_t pre_pop(struct ctx *c, bool push);
/* Packed: move both sides @n single-descriptor chains forward. */
void cycle(struct ctx *c, unsigned n);
/* The address row->d names. */
uint64_t dspec_addr(const struct ctx *c, const struct dspec *d);
/* For a legal single buffer: the shape from an independent translation. */
void want_buffer(struct ctx *c, uint64_t addr, uint32_t len, bool writable);

/* ------------------------------------------- writers and post hooks */

/* A well-formed chain: one readable (or writable on an rx queue) buffer. */
void w_good(struct ctx *c);
/* The element's iovecs map [gpa, gpa + len) both ways (A14, B5). */
void touch_range(struct ctx *c, uint64_t gpa, const struct iovec *iov, unsigned n, uint64_t len);
/* A24 / C6: the notification decision, then laps with poisoned suppression. */
void post_notify(struct ctx *c);

/* ---------------------------------------------------------------- runner */

#define ROW(fm, h, n, w, feat, dr, ex, oc, ...)                                                    \
	{                                                                                          \
		.fmts = fm, .hid = h, .name = n, .write = w, .features = feat, .dir = dr,          \
		.expect = ex, .outcome = oc, __VA_ARGS__                                           \
	}
#define D(b, o, l, f) .d = {b, (int64_t)(o), l, f}

/* cmocka set-up / tear-down of one row (*state: a struct inst). */
int row_setup(void **state);
int row_teardown(void **state);
/* A23: every entry point on a broken queue is harmless. */
void assert_broken_inert(struct ctx *c, enum vq_err why, uint16_t some_id);

/* Run @rows as the cmocka groups "<group>-split" and "<group>-packed" (the
 * rows of that format); argv[1] "split" or "packed" runs one of them. */
int malformed_main(const char *group, const struct row *rows, size_t nrows, int argc, char **argv);

#endif
