/* SPDX-License-Identifier: MIT */
/*
 * The hostile-input table's shared part (see malformed.h): error names, the
 * hand-written ring helpers, the writers and post hooks more than one topic
 * uses, and the runner that checks one row's outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "malformed.h"

const char *const outcome_names[] = {"OK", "DROP", "BROKEN", "NONE"};

const char *const err_ids[VQ_ERR__COUNT] = {
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
	[VQ_ERR_CONSUMED] = "CONSUMED",
	[VQ_ERR_HEAD_OUT_OF_RANGE] = "HEAD_OUT_OF_RANGE",
	[VQ_ERR_HEAD_IN_FLIGHT] = "HEAD_IN_FLIGHT",
	[VQ_ERR_AVAIL_IDX_JUMP] = "AVAIL_IDX_JUMP",
	[VQ_ERR_PACKED_CHAIN_INCOMPLETE] = "PACKED_CHAIN_INCOMPLETE",
	[VQ_ERR_PACKED_RING_OVERRUN] = "PACKED_RING_OVERRUN",
	[VQ_ERR_RING_OUT_OF_MEMORY] = "RING_OUT_OF_MEMORY",
	[VQ_ERR_RING_MISALIGNED] = "RING_MISALIGNED",
	[VQ_ERR_RING_OVERLAP] = "RING_OVERLAP",
	[VQ_ERR_BROKEN] = "BROKEN",
	[VQ_ERR_USED_ID_OUT_OF_RANGE] = "USED_ID_OUT_OF_RANGE",
	[VQ_ERR_USED_ID_NOT_IN_FLIGHT] = "USED_ID_NOT_IN_FLIGHT",
	[VQ_ERR_USED_LEN_TOO_LARGE] = "USED_LEN_TOO_LARGE",
	[VQ_ERR_USED_IDX_JUMP] = "USED_IDX_JUMP",
	[VQ_ERR_INVALID_ARG] = "INVALID_ARG",
	[VQ_ERR_NO_SPACE] = "NO_SPACE",
	[VQ_ERR_NO_MEMORY] = "NO_MEMORY",
};

const char *code_name(int rc)
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

void assert_known_message(int rc)
{
	const char *unknown = vq_strerror(VQ_ERR__COUNT + 7);
	const char *msg = vq_strerror(rc);
	assert_non_null(msg);
	assert_string_not_equal(msg, unknown);
	assert_true(strlen(msg) > 0);
}

/* --------------------------------------------------- hand-written rings */

void sdesc(struct ctx *c, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc *d = &c->desc[i];
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void savail_idx(struct ctx *c, uint16_t idx)
{
	c->avail_idx = idx;
	__atomic_store_n(&c->avail->idx, idx, __ATOMIC_RELEASE);
}

void spublish(struct ctx *c, uint16_t head)
{
	c->avail->ring[c->avail_idx & (c->size - 1)] = head;
	savail_idx(c, (uint16_t)(c->avail_idx + 1));
}

uint16_t pk_avail_bits(bool wrap)
{
	return wrap ? PAV : PUS;
}

void pdesc_body(struct ctx *c, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id)
{
	struct pvirtq_desc *d = &c->pdesc[pos];
	d->addr = addr;
	d->len = len;
	d->id = id;
}

void pdesc_flags(struct ctx *c, uint16_t pos, uint16_t flags)
{
	__atomic_store_n(&c->pdesc[pos].flags, flags, __ATOMIC_RELEASE);
}

void padvance(struct ctx *c)
{
	if (++c->pos == c->size) {
		c->pos = 0;
		c->wrap = !c->wrap;
	}
}

/*
 * Make a chain of @n descriptors available, as a correct driver would lay
 * it out (but with whatever contents @b says). Split: table entries id,
 * id+1, ... (mod size) linked by NEXT, head @id published in the avail
 * ring. Packed: a list at the driver position, NEXT on all but the last,
 * buffer id @id in every descriptor, the head's flags written last.
 */
void put_chain(struct ctx *c, uint16_t id, unsigned n, const struct bd *b)
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

struct bd good(const struct ctx *c, uint64_t off)
{
	return (struct bd){c->buf + off, 64, c->row->dir == DW ? WR : 0};
}

/* Write an indirect table of @n entries at @gpa (split: linked by NEXT as a
 * driver does; packed: linear, id 0). Entries outside memory are skipped. */
void write_table(struct ctx *c, uint64_t gpa, unsigned n, const struct bd *b)
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

uint64_t put_table(struct ctx *c, unsigned n, const struct bd *b)
{
	uint64_t gpa = tgm_ring_alloc(&c->g, 16u * (n ? n : 1), 16);
	assert_true(gpa != 0);
	write_table(c, gpa, n, b);
	return gpa;
}

/* Pop (and optionally push) one chain during a writer's set-up. */
uint16_t pre_pop(struct ctx *c, bool push)
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
void cycle(struct ctx *c, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct bd b = good(c, 0);
		put_chain(c, 0, 1, &b);
		pre_pop(c, true);
	}
}

uint64_t dspec_addr(const struct ctx *c, const struct dspec *d)
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
void want_buffer(struct ctx *c, uint64_t addr, uint32_t len, bool writable)
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
void w_good(struct ctx *c)
{
	struct bd b = good(c, 0);
	put_chain(c, gid(c), 1, &b);
	want(c, b.flags ? 0 : 1, b.flags ? 1 : 0, b.flags ? 0 : 64, b.flags ? 64 : 0);
}

/* ------------------------------------------------------------ post hooks */

/* A14/B5: the element's iovecs really map the guest range: bytes written
 * through the driver view read back through the iovecs, in order, and
 * bytes written through the iovecs show up in the driver view. With the
 * guard-page layout, an iovec crossing a region would fault here. */
void touch_range(struct ctx *c, uint64_t gpa, const struct iovec *iov, unsigned n, uint64_t len)
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
void post_notify(struct ctx *c)
{
	bool n = vq_notify_prepare(c->q);
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
		(void)vq_notify_prepare(c->q);
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

int row_setup(void **state)
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
	return 0;
}

int row_teardown(void **state)
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
void assert_broken_inert(struct ctx *c, enum vq_err why, uint16_t some_id)
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
	assert_false(vq_notify_prepare(c->q));
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

/* ------------------------------------------------------------------ main */

static int run_format(const char *group, const struct row *rows, size_t nrows, enum vq_format fmt)
{
	const unsigned mask = fmt == VQ_FORMAT_SPLIT ? FS : FP;
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
	char name[64];
	snprintf(name, sizeof(name), "%s-%s", group, fmt == VQ_FORMAT_SPLIT ? "split" : "packed");
	int failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	free(tests);
	free(insts);
	return failed;
}

int malformed_main(const char *group, const struct row *rows, size_t nrows, int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "all";
	bool all = strcmp(only, "all") == 0;
	int failed = 0;
	if (all || strcmp(only, "split") == 0)
		failed += run_format(group, rows, nrows, VQ_FORMAT_SPLIT);
	if (all || strcmp(only, "packed") == 0)
		failed += run_format(group, rows, nrows, VQ_FORMAT_PACKED);
	return failed ? 1 : 0;
}
