/* SPDX-License-Identifier: MIT */
/*
 * Device-side virtqueue fuzzing engine — theory of operation
 *
 * One input is the whole guest-writable state plus a script. The guest
 * memory is a set of separately malloc'ed regions (ring parts allocated to
 * their exact negotiated sizes, buffer regions of a chosen size, gpa-adjacent
 * or not), so ASan reports any access one byte outside what the guest
 * described. Input layout (all little-endian):
 *
 *   0  u8  queue size: split 1 << (x % 9), packed 1 + x (1..256)
 *   1  u8  features: bit0 EVENT_IDX, bit1 INDIRECT_DESC, bit2 IN_ORDER
 *   2  u8  dir (x % 3: both, device reads, device writes)
 *   3  u8  max_chain (0 = queue size)
 *   4  u8  iovec capacity per element: 1 + x % FZ_MAX_IOV
 *   5  u8  bits 0-2: buffer regions - 1; bit 3: buffer regions gpa-adjacent
 *   6  u8  buffer region size: 16 << (x % 8)
 *   7  u8  reserved
 *   8  u16 image length N, then N bytes copied over the concatenation
 *          [descriptor table / ring | avail ring / driver area | buffers]
 *   then a script of operations (one byte each, then their operands):
 *          pop, pop burst (half the pops), push one / burst / in-order batch / a bogus id,
 *          notify_prepare, enable/disable kicks, avail_pending, raw guest
 *          writes anywhere in guest memory (the guest racing the device),
 *          structured guest writes (a descriptor, a published chain),
 *          restart from vq_get_state(), vq_set_mem() with fewer regions.
 *
 * Gpa layout: descriptors 0x10000, driver area 0x20000, device area
 * 0x30000, buffer region i at 0x40000 + i * (size or 0x10000).
 *
 * Invariants (abort on violation): vq_pop returns <= 1; a success has
 * err 0, an id < size not already held, nout + nin <= iov_cap, no empty
 * iovec, every iovec inside one region of the current table, out_len and
 * in_len equal to the iovec sums, no iovec of the direction the queue
 * forbids; a drop code comes with e.err equal to it and a valid id; any
 * other error is of the broken class and the queue reports itself broken
 * with that reason, and every later call fails with VQ_ERR_BROKEN; the
 * in-flight count equals the chains held (<= size; packed: their
 * descriptors <= size); a push of an id not held fails with INVALID_ARG
 * and changes nothing; the counters match. Every readable byte is read
 * and every writable byte the device claims is written, so ASan checks
 * them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqnet/gmem.h>
#include <vqnet/virtq.h>

#include "fuzz_device.h"
#include "fuzz_input.h"
#include "spec/virtio_ring.h"

#define FZ_MAX_SIZE 256
#define FZ_MAX_IOV  96
#define FZ_MAX_BUF  8
#define FZ_NREG_MAX (3 + FZ_MAX_BUF)
#define FZ_MAX_OPS  2000

struct fz_region {
	uint64_t gpa;
	size_t size;
	uint8_t *host;
	bool mapped; /* in the queue's current table */
};

struct fz {
	enum vq_format format;
	uint32_t size;
	uint64_t features;
	bool in_order;
	enum vq_dir dir;
	uint16_t iov_cap;
	struct fz_region reg[FZ_NREG_MAX];
	unsigned nreg;
	struct gmem_table *mem;
	struct vq *q;

	/* Chains popped and not pushed, in pop order. */
	struct vq_elem held[FZ_MAX_SIZE];
	unsigned nheld;
	struct iovec *iov_free[FZ_MAX_SIZE + 8];
	unsigned niov_free;

	enum vq_err broken; /* first broken code seen */
	uint64_t popped, dropped, pushed;

	/* Script cursor. */
	struct fuzz_input in;

	/* Guest model for the structured writes. */
	uint16_t g_avail; /* split: next avail index */
	uint16_t g_desc;  /* split: next descriptor */
	uint16_t g_pos;	  /* packed: next ring position */
	bool g_wrap;	  /* packed: driver wrap counter */
};

/* Build with -DFZ_TRACE to see what an input does (README.md). */
#ifdef FZ_TRACE
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

static struct iovec iov_pool[FZ_MAX_SIZE + 8][FZ_MAX_IOV];
static volatile uint8_t sink;

/* ------------------------------------------------------------ input */

/* ------------------------------------------------------------ memory */

static void add_region(struct fz *f, uint64_t gpa, size_t size)
{
	struct fz_region *r = &f->reg[f->nreg++];
	r->gpa = gpa;
	r->size = size;
	r->host = calloc(1, size);
	r->mapped = true;
	FUZZ_CHECK(r->host);
}

/* A table of the regions whose bit is set in @keep. */
static struct gmem_table *make_table(struct fz *f, uint32_t keep)
{
	struct gmem_region_desc d[FZ_NREG_MAX];
	unsigned n = 0;
	for (unsigned i = 0; i < f->nreg; i++) {
		f->reg[i].mapped = keep >> i & 1;
		if (!f->reg[i].mapped)
			continue;
		d[n++] = (struct gmem_region_desc){.gpa = f->reg[i].gpa,
						   .size = f->reg[i].size,
						   .hva = f->reg[i].host,
						   .fd = -1};
	}
	struct gmem_table *t = NULL;
	FUZZ_CHECK(gmem_table_new(d, n, &t) == 0);
	return t;
}

static void setup_memory(struct fz *f, uint8_t layout, uint8_t rsel)
{
	bool event_idx = vq_has_feature(f->features, VIRTIO_F_EVENT_IDX);
	if (f->format == VQ_FORMAT_SPLIT) {
		/* Exactly what the features need: ASan catches a touch of
		 * used_event / avail_event without EVENT_IDX. */
		size_t extra = event_idx ? 2 : 0;
		add_region(f, 0x10000, 16ull * f->size);
		add_region(f, 0x20000, 4 + 2ull * f->size + extra);
		add_region(f, 0x30000, 4 + 8ull * f->size + extra);
	} else {
		add_region(f, 0x10000, 16ull * f->size);
		add_region(f, 0x20000, 4);
		add_region(f, 0x30000, 4);
	}
	unsigned nbuf = 1 + (layout & 7);
	size_t rsize = (size_t)16 << (rsel % 8);
	bool adjacent = layout & 8;
	for (unsigned i = 0; i < nbuf; i++)
		add_region(f, 0x40000 + i * (adjacent ? rsize : 0x10000), rsize);
	f->mem = make_table(f, (1u << f->nreg) - 1);
}

/* Copy the image over [desc | driver area | buffers...]. */
static void load_image(struct fz *f, const uint8_t *img, size_t n)
{
	for (unsigned i = 0; i < f->nreg && n; i++) {
		if (i == 2)
			continue; /* the device area is the device's */
		size_t c = n < f->reg[i].size ? n : f->reg[i].size;
		memcpy(f->reg[i].host, img, c);
		img += c;
		n -= c;
	}
}

/* The mapped region holding [p, p + len), or NULL. */
static const struct fz_region *host_region(const struct fz *f, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (unsigned i = 0; i < f->nreg; i++) {
		const struct fz_region *r = &f->reg[i];
		if (r->mapped && b >= r->host && b < r->host + r->size &&
		    len <= (size_t)(r->host + r->size - b))
			return r;
	}
	return NULL;
}

/* ------------------------------------------------------------ elements */

static bool is_held(const struct fz *f, uint16_t id)
{
	for (unsigned i = 0; i < f->nheld; i++)
		if (f->held[i].id == id)
			return true;
	return false;
}

static void check_good_elem(struct fz *f, const struct vq_elem *e)
{
	FUZZ_CHECK(e->err == VQ_OK);
	FUZZ_CHECK((unsigned)e->nout + e->nin <= e->iov_cap);
	if (f->dir == VQ_DIR_DEVICE_READS)
		FUZZ_CHECK(e->nin == 0);
	if (f->dir == VQ_DIR_DEVICE_WRITES)
		FUZZ_CHECK(e->nout == 0);
	uint64_t out = 0, in = 0;
	uint8_t acc = 0;
	for (unsigned i = 0; i < (unsigned)e->nout + e->nin; i++) {
		const struct iovec *v = &e->iov[i];
		FUZZ_CHECK(v->iov_len > 0);
		FUZZ_CHECK(host_region(f, v->iov_base, v->iov_len) != NULL);
		const uint8_t *p = v->iov_base;
		if (i < e->nout) {
			out += v->iov_len;
			for (size_t j = 0; j < v->iov_len; j++) /* read every byte */
				acc ^= p[j];
		} else {
			in += v->iov_len;
		}
	}
	sink = acc;
	FUZZ_CHECK(out == e->out_len);
	FUZZ_CHECK(in == e->in_len);
	if (f->format == VQ_FORMAT_PACKED)
		FUZZ_CHECK(e->ndesc >= 1 && e->ndesc <= f->size);
}

/* Judge what vq_pop (or one element of a burst) gave; keep held ones. */
static void judge_pop(struct fz *f, int rc, struct vq_elem *e)
{
	TRACE("pop: %d (%s) id %u nout %u nin %u out %u in %u ndesc %u\n", rc,
	      rc < 0 ? vq_strerror(rc) : "", e->id, e->nout, e->nin, e->out_len, e->in_len,
	      e->ndesc);
	FUZZ_CHECK(rc <= 1);
	if (rc == 0) {
		f->iov_free[f->niov_free++] = e->iov;
		return;
	}
	if (rc < 0 && !vq_err_is_drop(rc)) {
		FUZZ_CHECK(vq_is_broken(f->q));
		FUZZ_CHECK(-rc >= VQ_ERR_HEAD_OUT_OF_RANGE && -rc <= VQ_ERR_BROKEN);
		if (f->broken == VQ_OK) {
			FUZZ_CHECK(-rc != VQ_ERR_BROKEN);
			f->broken = (enum vq_err)(-rc);
		} else {
			FUZZ_CHECK(rc == -VQ_ERR_BROKEN);
		}
		FUZZ_CHECK(vq_broken_reason(f->q) == f->broken);
		f->iov_free[f->niov_free++] = e->iov;
		return;
	}
	FUZZ_CHECK(f->broken == VQ_OK);
	FUZZ_CHECK(e->id < f->size);
	FUZZ_CHECK(!is_held(f, e->id));
	FUZZ_CHECK(f->nheld < f->size);
	if (rc == 1) {
		check_good_elem(f, e);
	} else {
		FUZZ_CHECK(e->err == -rc);
		f->dropped++;
	}
	f->popped++;
	f->held[f->nheld++] = *e;
}

static struct iovec *take_iov(struct fz *f)
{
	FUZZ_CHECK(f->niov_free > 0);
	return f->iov_free[--f->niov_free];
}

static void op_pop(struct fz *f)
{
	struct vq_elem e = {.iov = take_iov(f), .iov_cap = f->iov_cap};
	judge_pop(f, vq_pop(f->q, &e), &e);
}

static void op_pop_burst(struct fz *f)
{
	struct vq_elem e[8];
	unsigned n = 1 + fin_u8(&f->in) % 8, i;
	for (i = 0; i < n; i++)
		e[i] = (struct vq_elem){.iov = take_iov(f), .iov_cap = f->iov_cap};
	int err = 1;
	unsigned got = vq_pop_burst(f->q, e, n, &err);
	FUZZ_CHECK(got <= n);
	FUZZ_CHECK(err <= 0);
	for (i = 0; i < got; i++)
		judge_pop(f, e[i].err ? -(int)e[i].err : 1, &e[i]);
	if (err) {
		FUZZ_CHECK(got < n);
		judge_pop(f, err, &e[got++]); /* records the break; gives the iovecs back */
	}
	for (i = got; i < n; i++)
		f->iov_free[f->niov_free++] = e[i].iov;
}

/* Write @len bytes into the element's writable iovecs. */
static void fill_writable(const struct vq_elem *e, uint32_t len)
{
	for (unsigned i = e->nout; len && i < (unsigned)e->nout + e->nin; i++) {
		size_t c = e->iov[i].iov_len < len ? e->iov[i].iov_len : len;
		memset(e->iov[i].iov_base, 0xa5, c);
		len -= (uint32_t)c;
	}
}

/* The length the device reports for held element @i, and write it. */
static uint32_t complete_len(struct fz *f, unsigned i, bool whole)
{
	const struct vq_elem *e = &f->held[i];
	if (e->err)
		return 0; /* drops complete with 0 and write nothing */
	uint32_t len = whole ? e->in_len : (e->in_len ? fin_u32(&f->in) % (e->in_len + 1) : 0);
	fill_writable(e, len);
	return len;
}

/* Forget held elements whose ids are in @ids (they were pushed). */
static void release(struct fz *f, const struct vq_used *u, unsigned n)
{
	unsigned k = 0;
	TRACE("pushed %u, first id %u len %u\n", n, u[0].id, u[0].len);
	for (unsigned i = 0; i < f->nheld; i++) {
		bool gone = false;
		for (unsigned j = 0; j < n && !gone; j++)
			gone = f->held[i].id == u[j].id;
		if (gone)
			f->iov_free[f->niov_free++] = f->held[i].iov;
		else
			f->held[k++] = f->held[i];
	}
	FUZZ_CHECK(k + n == f->nheld);
	f->nheld = k;
	f->pushed += n;
}

static void expect_push(struct fz *f, int rc)
{
	if (f->broken)
		FUZZ_CHECK(rc == -VQ_ERR_BROKEN);
	else
		FUZZ_CHECK(rc == 0);
}

/* Push @n held chains: the oldest with IN_ORDER, else picked by input. */
static void op_push(struct fz *f, unsigned n, bool burst)
{
	struct vq_used u[16];
	if (n > f->nheld)
		n = f->nheld;
	if (n == 0)
		return;
	/* Pick distinct indices. */
	bool taken[FZ_MAX_SIZE] = {false};
	for (unsigned i = 0; i < n; i++) {
		unsigned j = f->in_order ? i : fin_u8(&f->in) % f->nheld;
		while (taken[j])
			j = (j + 1) % f->nheld;
		taken[j] = true;
		u[i] = (struct vq_used){.id = f->held[j].id, .len = complete_len(f, j, false)};
	}
	if (burst) {
		expect_push(f, vq_push_burst(f->q, u, n));
	} else {
		for (unsigned i = 0; i < n; i++)
			expect_push(f, vq_push(f->q, u[i].id, u[i].len));
	}
	if (!f->broken)
		release(f, u, n);
}

static void op_push_in_order(struct fz *f)
{
	unsigned n = fin_u8(&f->in) % (f->nheld + 2);
	uint32_t last = 0;
	for (unsigned i = 0; i < n && i < f->nheld; i++)
		last = complete_len(f, i, i + 1 < n);
	int rc = vq_push_in_order(f->q, n, last);
	if (f->broken) {
		FUZZ_CHECK(rc == -VQ_ERR_BROKEN);
		return;
	}
	if (!f->in_order || n == 0 || n > f->nheld) {
		FUZZ_CHECK(rc == -VQ_ERR_INVALID_ARG);
		return;
	}
	FUZZ_CHECK(rc == 0);
	struct vq_used u[FZ_MAX_SIZE];
	for (unsigned i = 0; i < n; i++)
		u[i].id = f->held[i].id;
	release(f, u, n);
}

/* A push of an id that is not in flight (or twice in one burst) must
 * fail with INVALID_ARG and change nothing. */
static void op_push_bogus(struct fz *f)
{
	uint16_t id = fin_u16(&f->in);
	uint8_t how = fin_u8(&f->in);
	unsigned before = vq_in_flight(f->q);
	int rc;
	if ((how & 1) && f->nheld) {
		struct vq_used u[2] = {{.id = f->held[0].id}, {.id = f->held[0].id}};
		rc = vq_push_burst(f->q, u, 2);
	} else {
		if (id < f->size && is_held(f, id))
			return;
		rc = vq_push(f->q, id, 0);
	}
	FUZZ_CHECK(rc == (f->broken ? -VQ_ERR_BROKEN : -VQ_ERR_INVALID_ARG));
	FUZZ_CHECK(vq_in_flight(f->q) == before);
}

/* ------------------------------------------------------------ guest */

/* A raw write of up to 64 input bytes anywhere in a region. */
static void op_raw_write(struct fz *f)
{
	struct fz_region *r = &f->reg[fin_u8(&f->in) % f->nreg];
	size_t off = fin_u16(&f->in) % r->size;
	size_t n = 1 + fin_u8(&f->in) % 64;
	for (size_t i = 0; i < n && off + i < r->size; i++)
		r->host[off + i] = fin_u8(&f->in);
}

/* A buffer address and length from the input: a region and an offset,
 * or (flag 0x80) any 64-bit address; (flag 0x40) any 32-bit length. */
static void in_buffer(struct fz *f, uint64_t *addr, uint32_t *len)
{
	uint8_t sel = fin_u8(&f->in);
	const struct fz_region *r = &f->reg[(sel & 0x3f) % f->nreg];
	*addr = sel & 0x80 ? fin_u64(&f->in) : r->gpa + fin_u16(&f->in);
	*len = sel & 0x40 ? fin_u32(&f->in) : fin_u16(&f->in);
}

static void split_write_desc(struct fz *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
			     uint16_t next)
{
	uint8_t *d = f->reg[0].host + 16u * (i % f->size);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void packed_write_desc(struct fz *f, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id,
			      uint16_t flags)
{
	uint8_t *d = f->reg[0].host + 16u * (pos % f->size);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &id, 2);
	memcpy(d + 14, &flags, 2);
}

/* One descriptor with every field from the input. */
static void op_guest_desc(struct fz *f)
{
	uint16_t i = fin_u16(&f->in);
	uint64_t addr;
	uint32_t len;
	in_buffer(f, &addr, &len);
	uint16_t a = fin_u16(&f->in), b = fin_u16(&f->in);
	if (f->format == VQ_FORMAT_SPLIT)
		split_write_desc(f, i, addr, len, a, b);
	else
		packed_write_desc(f, i, addr, len, a, b);
}

/* Split: a chain of 1..8 descriptors from g_desc on, linked in table
 * order, its head appended to the avail ring, avail->idx published. */
static void split_publish(struct fz *f, unsigned n, uint8_t mode)
{
	uint16_t head = f->g_desc % f->size;
	for (unsigned k = 0; k < n; k++) {
		uint64_t addr;
		uint32_t len;
		in_buffer(f, &addr, &len);
		uint16_t flags = fin_u8(&f->in) & (VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_INDIRECT);
		uint16_t i = f->g_desc++ % f->size;
		if (k + 1 < n)
			flags |= VIRTQ_DESC_F_NEXT;
		split_write_desc(f, i, addr, len, flags, (uint16_t)(f->g_desc % f->size));
	}
	uint8_t *avail = f->reg[1].host;
	memcpy(avail + 4 + 2 * (f->g_avail % f->size), &head, 2);
	f->g_avail++;
	if (!(mode & 0x10)) /* sometimes leave idx for later */
		memcpy(avail + 2, &f->g_avail, 2);
}

/* Packed: a list of 1..8 descriptors at g_pos made available for the
 * current lap, the head's flags written last; the id in every one. */
static void packed_publish(struct fz *f, unsigned n, uint8_t mode)
{
	uint16_t id = fin_u16(&f->in);
	uint16_t head_pos = f->g_pos, head_flags = 0;
	for (unsigned k = 0; k < n; k++) {
		uint64_t addr;
		uint32_t len;
		in_buffer(f, &addr, &len);
		uint16_t flags = fin_u8(&f->in) & (VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_INDIRECT);
		flags |= f->g_wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
		if (k + 1 < n)
			flags |= VIRTQ_DESC_F_NEXT;
		if (k == 0) {
			/* Flags 0: not available on either lap, until the end. */
			head_flags = flags;
			packed_write_desc(f, f->g_pos, addr, len, id, 0);
		} else {
			packed_write_desc(f, f->g_pos, addr, len, id, flags);
		}
		if (++f->g_pos == f->size) {
			f->g_pos = 0;
			f->g_wrap = !f->g_wrap;
		}
	}
	if (!(mode & 0x10)) /* sometimes leave the head for later (incomplete) */
		memcpy(f->reg[0].host + 16u * head_pos + 14, &head_flags, 2);
}

static void op_guest_publish(struct fz *f)
{
	uint8_t mode = fin_u8(&f->in);
	unsigned n = 1 + (mode & 7);
	if (f->format == VQ_FORMAT_SPLIT)
		split_publish(f, n, mode);
	else
		packed_publish(f, n, mode);
}

/* ------------------------------------------------------------ lifecycle */

static void new_queue(struct fz *f, uint32_t max_chain, const struct vq_state *start)
{
	struct vq_config cfg = {
		.format = f->format,
		.size = f->size,
		.features = f->features,
		.desc_gpa = 0x10000,
		.driver_gpa = 0x20000,
		.device_gpa = 0x30000,
		.dir = f->dir,
		.max_chain = max_chain,
	};
	FUZZ_CHECK(vq_new(&cfg, f->mem, start, &f->q) == 0);
}

/* Stop and start again from the saved position (no chain held). */
static void op_restart(struct fz *f, uint32_t max_chain)
{
	if (f->nheld || f->broken)
		return;
	struct vq_state s, s2;
	vq_get_state(f->q, &s);
	vq_free(f->q);
	f->q = NULL;
	new_queue(f, max_chain, &s);
	vq_get_state(f->q, &s2);
	FUZZ_CHECK(s.avail_idx == s2.avail_idx && s.used_idx == s2.used_idx);
	if (f->format == VQ_FORMAT_PACKED)
		FUZZ_CHECK(s.avail_wrap == s2.avail_wrap && s.used_wrap == s2.used_wrap);
	f->popped = f->dropped = f->pushed = 0;
}

/* A new memory table: usually every region, sometimes without some. */
static void op_set_mem(struct fz *f)
{
	uint32_t keep = fin_u16(&f->in);
	if (!(keep & 0x8000))
		keep = (1u << f->nreg) - 1;
	keep &= (1u << f->nreg) - 1;
	struct gmem_table *t = make_table(f, keep);
	int rc = vq_set_mem(f->q, t);
	gmem_table_put(f->mem);
	f->mem = t;
	if (f->broken) {
		FUZZ_CHECK(vq_is_broken(f->q));
		return;
	}
	if ((keep & 7) == 7) {
		FUZZ_CHECK(rc == 0);
	} else {
		FUZZ_CHECK(rc == -VQ_ERR_RING_OUT_OF_MEMORY);
		FUZZ_CHECK(vq_is_broken(f->q));
		f->broken = vq_broken_reason(f->q);
		FUZZ_CHECK(f->broken == VQ_ERR_RING_OUT_OF_MEMORY);
	}
}

static void check_state(struct fz *f)
{
	FUZZ_CHECK(vq_in_flight(f->q) == f->nheld);
	FUZZ_CHECK(f->nheld <= f->size);
	FUZZ_CHECK(vq_is_broken(f->q) == (f->broken != VQ_OK));
	uint32_t ndesc = 0;
	for (unsigned i = 0; i < f->nheld; i++)
		ndesc += f->held[i].ndesc;
	if (f->format == VQ_FORMAT_PACKED)
		FUZZ_CHECK(ndesc <= f->size);
	const struct vq_stats *st = vq_get_stats(f->q);
	FUZZ_CHECK(st->popped == f->popped && st->dropped == f->dropped && st->pushed == f->pushed);
}

static void run_script(struct fz *f, uint32_t max_chain)
{
	for (unsigned ops = 0; f->in.left && ops < FZ_MAX_OPS; ops++) {
		uint8_t op = fin_u8(&f->in);
		switch (op % 16) {
		case 0:
			op_pop(f);
			break;
		case 1: /* half the pops go through the burst fast paths */
		case 2:
			op_pop_burst(f);
			break;
		case 3:
			op_push(f, 1, false);
			break;
		case 4:
			op_push(f, 1 + fin_u8(&f->in) % 16, true);
			break;
		case 5:
			op_push_in_order(f);
			break;
		case 6:
			op_push_bogus(f);
			break;
		case 7:
			vq_notify_prepare(f->q);
			break;
		case 8:
			vq_enable_kicks(f->q);
			break;
		case 9:
			vq_disable_kicks(f->q);
			break;
		case 10:
			vq_avail_pending(f->q);
			break;
		case 11:
			op_raw_write(f);
			break;
		case 12:
			op_guest_desc(f);
			break;
		case 13:
			op_guest_publish(f);
			break;
		case 14:
			op_restart(f, max_chain);
			break;
		case 15:
			if (op & 0x80)
				op_set_mem(f);
			else /* drain: pop until nothing (bounded) */
				for (unsigned k = 0;
				     k <= f->size && !f->broken && f->nheld < f->size; k++) {
					unsigned before = f->nheld;
					if (op & 0x40)
						op_pop_burst(f);
					else
						op_pop(f);
					if (f->nheld == before)
						break;
				}
			break;
		}
		check_state(f);
	}
	/* Complete everything still held (the usual end of a queue). */
	if (!f->broken)
		while (f->nheld)
			op_push(f, f->nheld < 16 ? f->nheld : 16, true);
	check_state(f);
}

int fuzz_device_one(enum vq_format format, const uint8_t *data, size_t size)
{
	static struct fz f;
	if (size < 10)
		return 0;
	memset(&f, 0, sizeof(f));
	f.format = format;
	f.size = format == VQ_FORMAT_SPLIT ? 1u << (data[0] % 9) : 1u + data[0];
	if (f.size > FZ_MAX_SIZE)
		f.size = FZ_MAX_SIZE;
	if (data[1] & 1)
		f.features |= 1ull << VIRTIO_F_EVENT_IDX;
	if (data[1] & 2)
		f.features |= 1ull << VIRTIO_F_INDIRECT_DESC;
	if (data[1] & 4)
		f.features |= 1ull << VIRTIO_F_IN_ORDER;
	f.in_order = data[1] & 4;
	f.dir = (enum vq_dir)(data[2] % 3);
	uint32_t max_chain = data[3];
	f.iov_cap = (uint16_t)(1 + data[4] % FZ_MAX_IOV);
	setup_memory(&f, data[5], data[6]);
	size_t img = (size_t)data[8] | (size_t)data[9] << 8;
	f.in.p = data + 10;
	f.in.left = size - 10;
	if (img > f.in.left)
		img = f.in.left;
	load_image(&f, f.in.p, img);
	f.in.p += img;
	f.in.left -= img;
	f.g_wrap = true;
	for (unsigned i = 0; i < FZ_MAX_SIZE + 8; i++)
		f.iov_free[f.niov_free++] = iov_pool[i];

	new_queue(&f, max_chain, NULL);
	run_script(&f, max_chain);

	vq_free(f.q);
	gmem_table_put(f.mem);
	for (unsigned i = 0; i < f.nreg; i++)
		free(f.reg[i].host);
	return 0;
}
