/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the device side of a virtqueue (include/vqnet/virtq.h),
 * both ring formats.
 *
 * The driver is played by hand: descriptors, avail ring entries and packed
 * flags are written through the driver's mapping of the fake guest memory
 * (tests/harness), and what the device writes (used ring, used descriptors,
 * event suppression) is read back the same way. Format-dependent tests run
 * once per format; their names end in _split / _packed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <spec/virtio_ring.h>
#include <vqnet/virtq.h>

#include "guestmem.h"
#include "ring_view.h"

#define F(bit)	   (1ull << (bit))
#define RING_BYTES (256u * 1024)
#define BUF_BYTES  (256u * 1024)
#define NIOV	   16

static const enum vq_format fmt_split = VQ_FORMAT_SPLIT;
static const enum vq_format fmt_packed = VQ_FORMAT_PACKED;

/* Device under test plus the hand-played driver's state. */
struct fx {
	enum vq_format fmt;
	struct tgm g;
	struct tring r;
	struct vq *q;
	uint16_t avail_idx; /* split: next avail index the hand driver publishes */
	uint16_t pos;	    /* packed: next ring position the hand driver fills */
	bool wrap;	    /* packed: the hand driver's wrap counter */
	struct iovec iov[NIOV];
	struct vq_elem e;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->fmt = *(const enum vq_format *)*state;
	if (tgm_init(&f->g, RING_BYTES, BUF_BYTES, 0)) {
		free(f);
		return -1;
	}
	f->wrap = true;
	f->e.iov = f->iov;
	f->e.iov_cap = NIOV;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_free(f->q);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

/* Lay out a ring in the ring area and start the device on it. */
static void fx_open(struct fx *f, uint32_t size, uint64_t features, enum vq_dir dir,
		    uint32_t max_chain)
{
	vq_free(f->q);
	f->q = NULL;
	f->avail_idx = 0;
	f->pos = 0;
	f->wrap = true;
	assert_int_equal(tring_alloc(&f->g, &f->r, f->fmt, size, 0), 0);
	assert_int_equal(tring_device(&f->g, &f->r, features, dir, max_chain, &f->q), 0);
	assert_non_null(f->q);
}

static uint8_t *bdev(struct fx *f, uint32_t off)
{
	return f->g.dev_view + f->g.ring_bytes + off;
}

struct hb {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

/* Split: write descriptor @i. */
static void split_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		       uint16_t next)
{
	struct virtq_desc *d = &sdesc(f)[i];
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Split: put @head in the next avail slot and publish it. */
static void split_avail(struct fx *f, uint16_t head)
{
	savail(f)->ring[f->avail_idx & (f->r.size - 1)] = head;
	f->avail_idx++;
	__atomic_store_n(&savail(f)->idx, f->avail_idx, __ATOMIC_RELEASE);
}

/* Split: a chain through descriptors @idx[0..n), published. */
static void split_chain_at(struct fx *f, const uint16_t *idx, const struct hb *b, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		split_desc(f, idx[k], b[k].gpa, b[k].len,
			   (uint16_t)((b[k].w ? VIRTQ_DESC_F_WRITE : 0) |
				      (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			   k + 1 < n ? idx[k + 1] : 0);
	split_avail(f, idx[0]);
}

/* Packed: flags that make a descriptor available on the hand driver's lap. */
static uint16_t pavail(bool wrap)
{
	return wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
}

static void pos_next(struct fx *f, uint16_t *pos, bool *wrap)
{
	if (++*pos == f->r.size) {
		*pos = 0;
		*wrap = !*wrap;
	}
}

/* Packed: a list at the hand driver's position; @extra is or-ed into every
 * descriptor's flags; the head's flags are stored last, with release. */
static void packed_chain(struct fx *f, uint16_t id, const struct hb *b, unsigned n, uint16_t extra)
{
	struct pvirtq_desc *ring = pdesc(f);
	uint16_t head = f->pos, head_flags = 0;
	for (unsigned k = 0; k < n; k++) {
		struct pvirtq_desc *d = &ring[f->pos];
		uint16_t flags =
			(uint16_t)(pavail(f->wrap) | extra | (b[k].w ? VIRTQ_DESC_F_WRITE : 0) |
				   (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		d->addr = b[k].gpa;
		d->len = b[k].len;
		d->id = id;
		if (k == 0)
			head_flags = flags;
		else
			d->flags = flags;
		pos_next(f, &f->pos, &f->wrap);
	}
	__atomic_store_n(&ring[head].flags, head_flags, __ATOMIC_RELEASE);
}

/* Make a chain available: split through descriptors id, id+1, ... (head
 * id); packed with buffer id @id at the hand driver's position. */
static void hand_add(struct fx *f, uint16_t id, const struct hb *b, unsigned n)
{
	if (f->fmt == VQ_FORMAT_SPLIT) {
		uint16_t idx[NIOV];
		for (unsigned k = 0; k < n; k++)
			idx[k] = (uint16_t)((id + k) % f->r.size);
		split_chain_at(f, idx, b, n);
	} else {
		packed_chain(f, id, b, n, 0);
	}
}

/* A one-descriptor writable chain of 64 bytes at buffer offset id*64. */
static void hand_add1(struct fx *f, uint16_t id)
{
	struct hb b = {bgpa(f, id * 64u), 64, true};
	hand_add(f, id, &b, 1);
}

/* Pop a chain that must be good and have id @id. */
static void pop_ok(struct fx *f, uint16_t id)
{
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.err, VQ_OK);
}

/* One 1-descriptor chain made available, popped and pushed. */
static void cycle(struct fx *f, uint16_t id, uint32_t len)
{
	hand_add1(f, id);
	pop_ok(f, id);
	assert_int_equal(vq_push(f->q, id, len), 0);
}

/* Bytes the device may write: split used ring, packed descriptor ring and
 * both event areas. */
static size_t device_mem(struct fx *f, uint8_t **p)
{
	if (f->fmt == VQ_FORMAT_SPLIT) {
		*p = (uint8_t *)sused(f);
		return virtq_split_used_bytes(f->r.size);
	}
	*p = (uint8_t *)pdesc(f);
	return 16u * f->r.size;
}

static uint8_t *snapshot(struct fx *f, size_t *len)
{
	uint8_t *src;
	*len = device_mem(f, &src);
	uint8_t *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, src, *len);
	return copy;
}

static void assert_unchanged(struct fx *f, uint8_t *copy, size_t len)
{
	uint8_t *src;
	assert_int_equal(device_mem(f, &src), len);
	assert_memory_equal(src, copy, len);
	free(copy);
}

/* Packed used descriptor at @pos: id, len and flags for wrap @wrap. */
static void assert_packed_used(struct fx *f, uint16_t pos, uint16_t id, uint32_t len, bool wrap)
{
	struct pvirtq_desc *d = &pdesc(f)[pos];
	uint16_t flags = (uint16_t)((wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0) |
				    (len ? VIRTQ_DESC_F_WRITE : 0));
	assert_int_equal(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE), flags);
	assert_int_equal(d->id, id);
	assert_int_equal(d->len, len);
}

static void assert_split_used(struct fx *f, uint16_t slot, uint32_t id, uint32_t len)
{
	struct virtq_used_elem *u = &sused(f)->ring[slot & (f->r.size - 1)];
	assert_int_equal(u->id, id);
	assert_int_equal(u->len, len);
}

static void assert_state(struct fx *f, uint16_t avail, uint16_t used, bool aw, bool uw)
{
	struct vq_state s;
	memset(&s, 0xcc, sizeof(s));
	vq_get_state(f->q, &s);
	assert_int_equal(s.avail_idx, avail);
	assert_int_equal(s.used_idx, used);
	if (f->fmt == VQ_FORMAT_PACKED) {
		assert_int_equal(s.avail_wrap, aw);
		assert_int_equal(s.used_wrap, uw);
	}
}

/* ---------------------------------------------------------------- layout */

static void test_layout(void **state)
{
	(void)state;
	struct vq_layout l;
	assert_int_equal(vq_layout(VQ_FORMAT_SPLIT, 256, &l), 0);
	assert_int_equal(l.desc_bytes, 4096);
	assert_int_equal(l.driver_bytes, 4 + 2 * 256 + 2);
	assert_int_equal(l.device_bytes, 4 + 8 * 256 + 2);
	assert_int_equal(l.desc_align, 16);
	assert_int_equal(l.driver_align, 2);
	assert_int_equal(l.device_align, 4);

	assert_int_equal(vq_layout(VQ_FORMAT_SPLIT, 1, &l), 0);
	assert_int_equal(l.desc_bytes, 16);
	assert_int_equal(l.driver_bytes, 8);
	assert_int_equal(l.device_bytes, 14);
	assert_int_equal(vq_layout(VQ_FORMAT_SPLIT, 32768, &l), 0);
	assert_int_equal(l.desc_bytes, 16ull * 32768);
	assert_int_equal(l.driver_bytes, 4 + 2ull * 32768 + 2);
	assert_int_equal(l.device_bytes, 4 + 8ull * 32768 + 2);

	assert_int_equal(vq_layout(VQ_FORMAT_PACKED, 256, &l), 0);
	assert_int_equal(l.desc_bytes, 4096);
	assert_int_equal(l.driver_bytes, 4);
	assert_int_equal(l.device_bytes, 4);
	assert_int_equal(l.desc_align, 16);
	assert_int_equal(l.driver_align, 4);
	assert_int_equal(l.device_align, 4);
	assert_int_equal(vq_layout(VQ_FORMAT_PACKED, 3, &l), 0);
	assert_int_equal(l.desc_bytes, 48);
	assert_int_equal(vq_layout(VQ_FORMAT_PACKED, 1, &l), 0);
	assert_int_equal(vq_layout(VQ_FORMAT_PACKED, 32768, &l), 0);
	assert_int_equal(l.desc_bytes, 16ull * 32768);

	memset(&l, 0x5a, sizeof(l));
	struct vq_layout before = l;
	assert_int_equal(vq_layout(VQ_FORMAT_SPLIT, 3, &l), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_layout(VQ_FORMAT_SPLIT, 384, &l), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_layout(VQ_FORMAT_SPLIT, 0, &l), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_layout(VQ_FORMAT_SPLIT, 65536, &l), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_layout(VQ_FORMAT_PACKED, 0, &l), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_layout(VQ_FORMAT_PACKED, 32769, &l), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_layout((enum vq_format)2, 256, &l), -VQ_ERR_INVALID_ARG);
	assert_memory_equal(&l, &before, sizeof(l));
}

static void test_state_init(void **state)
{
	(void)state;
	struct vq_state s;
	memset(&s, 0xff, sizeof(s));
	vq_state_init(VQ_FORMAT_SPLIT, &s);
	assert_int_equal(s.avail_idx, 0);
	assert_int_equal(s.used_idx, 0);
	assert_false(s.avail_wrap);
	assert_false(s.used_wrap);
	memset(&s, 0xff, sizeof(s));
	vq_state_init(VQ_FORMAT_PACKED, &s);
	assert_int_equal(s.avail_idx, 0);
	assert_int_equal(s.used_idx, 0);
	assert_true(s.avail_wrap);
	assert_true(s.used_wrap);
}

/* ---------------------------------------------------------------- vq_new */

static int new_with(struct fx *f, const struct vq_config *cfg, const struct vq_state *st)
{
	struct vq *q = (struct vq *)(uintptr_t)1;
	int rc = vq_new(cfg, f->g.mem, st, &q);
	if (rc == 0)
		vq_free(q);
	else
		assert_ptr_equal(q, (struct vq *)(uintptr_t)1); /* untouched */
	return rc;
}

static void test_new_errors(void **state)
{
	struct fx *f = *state;
	struct tring r;
	assert_int_equal(tring_alloc(&f->g, &r, f->fmt, 8, 0), 0);
	const struct vq_config good = {
		.format = f->fmt,
		.size = 8,
		.desc_gpa = r.desc_gpa,
		.driver_gpa = r.driver_gpa,
		.device_gpa = r.device_gpa,
	};
	struct vq_config c = good;
	assert_int_equal(new_with(f, &c, NULL), 0);

	/* misaligned parts */
	c = good;
	c.desc_gpa += 8;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_MISALIGNED);
	c = good;
	c.driver_gpa += 1;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_MISALIGNED);
	c = good;
	c.device_gpa += 2;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_MISALIGNED);
	if (f->fmt == VQ_FORMAT_PACKED) {
		c = good;
		c.driver_gpa += 2;
		assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_MISALIGNED);
	}

	/* outside memory, wholly or partly */
	uint64_t ring_end = TGM_GPA_BASE + f->g.ring_bytes; /* the buffer region starts here */
	uint64_t mem_end = TGM_GPA_BASE + f->g.total;
	c = good;
	c.desc_gpa = 0x1000;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OUT_OF_MEMORY);
	c = good;
	c.desc_gpa = ring_end - 64; /* 128 bytes: crosses into the next region */
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OUT_OF_MEMORY);
	c.desc_gpa = ring_end - 128; /* exactly fits */
	assert_int_equal(new_with(f, &c, NULL), 0);
	c = good;
	c.device_gpa = mem_end - 4; /* used ring / event area runs past memory */
	assert_int_equal(new_with(f, &c, NULL),
			 f->fmt == VQ_FORMAT_SPLIT ? -VQ_ERR_RING_OUT_OF_MEMORY : 0);
	c.device_gpa = mem_end;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OUT_OF_MEMORY);
	c = good;
	c.driver_gpa = mem_end;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OUT_OF_MEMORY);

	/* bad size, direction, format */
	c = good;
	c.size = f->fmt == VQ_FORMAT_SPLIT ? 6 : 0;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_INVALID_ARG);
	c.size = 0;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_INVALID_ARG);
	c.size = 32769;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_INVALID_ARG);
	c = good;
	c.dir = (enum vq_dir)3;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_INVALID_ARG);

	/* packed start positions must lie in the ring */
	struct vq_state st;
	vq_state_init(f->fmt, &st);
	st.avail_idx = 8;
	assert_int_equal(new_with(f, &good, &st),
			 f->fmt == VQ_FORMAT_PACKED ? -VQ_ERR_INVALID_ARG : 0);
	st.avail_idx = 0;
	st.used_idx = 8;
	assert_int_equal(new_with(f, &good, &st),
			 f->fmt == VQ_FORMAT_PACKED ? -VQ_ERR_INVALID_ARG : 0);
}

/* A format that is neither split nor packed is a bad argument, whatever
 * the size (8 would be a valid size for either). */
static void test_new_unknown_format(void **state)
{
	struct fx *f = *state;
	struct tring r;
	assert_int_equal(tring_alloc(&f->g, &r, VQ_FORMAT_SPLIT, 8, 0), 0);
	struct vq_config c = {
		.format = (enum vq_format)7,
		.size = 8,
		.desc_gpa = r.desc_gpa,
		.driver_gpa = r.driver_gpa,
		.device_gpa = r.device_gpa,
	};
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_INVALID_ARG);
	c.format = (enum vq_format)2;
	c.size = 1;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_INVALID_ARG);
}

/* Split: the trailing used_event / avail_event need memory only with
 * EVENT_IDX. The avail ring (12 + 2... bytes) is put flush against the end
 * of the ring region, the next region is gpa-adjacent. */
static void test_new_event_idx_placement(void **state)
{
	struct fx *f = *state;
	uint64_t ring_end = TGM_GPA_BASE + f->g.ring_bytes;
	struct tring r;
	assert_int_equal(tring_alloc(&f->g, &r, VQ_FORMAT_SPLIT, 8, 0), 0);
	struct vq_config c = {
		.format = VQ_FORMAT_SPLIT,
		.size = 8,
		.desc_gpa = r.desc_gpa,
		.driver_gpa = ring_end - (4 + 2 * 8),
		.device_gpa = r.device_gpa,
	};
	assert_int_equal(new_with(f, &c, NULL), 0);
	c.features = F(VIRTIO_F_EVENT_IDX);
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OUT_OF_MEMORY);
	c.driver_gpa -= 2;
	assert_int_equal(new_with(f, &c, NULL), 0);
	c.driver_gpa = r.driver_gpa;
	c.device_gpa = ring_end - (4 + 8 * 8);
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OUT_OF_MEMORY);
	c.features = 0;
	assert_int_equal(new_with(f, &c, NULL), 0);
}

/* The queue holds its own reference to the memory table. */
static void test_new_takes_mem_ref(void **state)
{
	struct fx *f = *state;
	const size_t len = 64 * 1024;
	int fd = memfd_create("vq-unit", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(base != MAP_FAILED);
	struct gmem_region_desc d = {.gpa = 0x100000,
				     .size = len,
				     .hva = base,
				     .mmap_base = base,
				     .mmap_len = len,
				     .fd = fd};
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(&d, 1, &t), 0);
	struct vq_config c = {.format = f->fmt,
			      .size = 8,
			      .desc_gpa = 0x100000,
			      .driver_gpa = 0x101000,
			      .device_gpa = 0x102000};
	struct vq *q = NULL;
	assert_int_equal(vq_new(&c, t, NULL, &q), 0);
	gmem_table_put(t);
	assert_true(fcntl(fd, F_GETFD) != -1); /* the queue keeps it alive */
	assert_int_equal(vq_pop(q, &f->e), 0);
	vq_free(q);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	vq_free(NULL);
}

static void test_format_size(void **state)
{
	struct fx *f = *state;
	uint32_t size = f->fmt == VQ_FORMAT_SPLIT ? 64 : 7;
	fx_open(f, size, 0, VQ_DIR_BOTH, 0);
	assert_int_equal(vq_get_format(f->q), f->fmt);
	assert_int_equal(vq_get_size(f->q), size);
	assert_false(vq_is_broken(f->q));
	assert_int_equal(vq_broken_reason(f->q), VQ_OK);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_non_null(s);
	assert_int_equal(s->popped, 0);
	assert_int_equal(s->pushed, 0);
	assert_int_equal(s->dropped, 0);
	assert_int_equal(s->notify_sent, 0);
	assert_int_equal(s->notify_suppressed, 0);
}

/* ------------------------------------------------------------ pop / push */

static void test_pop_empty(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 0);
	assert_int_equal(vq_get_stats(f->q)->popped, 0);
	assert_false(vq_is_broken(f->q));
	/* a used-but-not-available descriptor (packed) / a stale ring entry
	 * behind avail->idx (split) is not available either */
	if (f->fmt == VQ_FORMAT_PACKED)
		pdesc(f)[0].flags = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
	else
		savail(f)->ring[0] = 3;
	assert_int_equal(vq_pop(f->q, &f->e), 0);
	assert_false(vq_avail_pending(f->q));
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13);
}

static void test_pop_push_chain(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	fill(bptr(f, 0), 100, 1);
	fill(bptr(f, 4096), 50, 2);
	memset(bptr(f, 8192), 0, 200);
	struct hb b[3] = {
		{bgpa(f, 0), 100, false}, {bgpa(f, 4096), 50, false}, {bgpa(f, 8192), 200, true}};
	uint16_t id;
	if (f->fmt == VQ_FORMAT_SPLIT) {
		const uint16_t idx[3] = {5, 2, 7}; /* not consecutive */
		split_chain_at(f, idx, b, 3);
		id = 5;
	} else {
		packed_chain(f, 6, b, 3, 0);
		id = 6;
	}
	assert_true(vq_avail_pending(f->q));
	assert_int_equal(vq_pop(f->q, &f->e), 1);
	assert_int_equal(f->e.id, id);
	assert_int_equal(f->e.err, VQ_OK);
	assert_int_equal(f->e.ndesc, f->fmt == VQ_FORMAT_SPLIT ? 1 : 3);
	assert_int_equal(f->e.nout, 2);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(f->e.out_len, 150);
	assert_int_equal(f->e.in_len, 200);
	assert_int_equal(f->e.iov_cap, NIOV);
	assert_ptr_equal(f->iov[0].iov_base, bdev(f, 0));
	assert_int_equal(f->iov[0].iov_len, 100);
	assert_ptr_equal(f->iov[1].iov_base, bdev(f, 4096));
	assert_int_equal(f->iov[1].iov_len, 50);
	assert_ptr_equal(f->iov[2].iov_base, bdev(f, 8192));
	assert_int_equal(f->iov[2].iov_len, 200);
	/* through the device's own mapping: same bytes the driver wrote */
	assert_memory_equal(f->iov[0].iov_base, bptr(f, 0), 100);
	assert_memory_equal(f->iov[1].iov_base, bptr(f, 4096), 50);
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_pop(f->q, &f->e), 0);

	fill(f->iov[2].iov_base, 123, 9);
	assert_int_equal(vq_push(f->q, id, 123), 0);
	uint8_t expect[123];
	fill(expect, 123, 9);
	assert_memory_equal(bptr(f, 8192), expect, 123);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 1);
		assert_split_used(f, 0, 5, 123);
		assert_int_equal(sused(f)->flags, 0);
		assert_state(f, 1, 1, false, false);
	} else {
		assert_packed_used(f, 0, 6, 123, true);
		assert_state(f, 3, 3, true, true);
	}
	assert_int_equal(vq_in_flight(f->q), 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 1);
	assert_int_equal(s->pushed, 1);
	assert_int_equal(s->dropped, 0);

	/* a second chain, completed with length 0 */
	struct hb b2 = {bgpa(f, 0), 10, false};
	hand_add(f, 0, &b2, 1);
	pop_ok(f, 0);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 0);
	assert_int_equal(f->e.ndesc, 1);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 2);
		assert_split_used(f, 1, 0, 0);
	} else {
		assert_packed_used(f, 3, 0, 0, true);
		assert_state(f, 4, 4, true, true);
	}
}

/* Chains A (id 0, 2 descriptors), B (id 2, 1) and C (id 3, 3): the same
 * ids and, for packed, ring positions 0-1, 2 and 3-5. */
static void add_abc(struct fx *f)
{
	struct hb a[2] = {{bgpa(f, 0), 16, false}, {bgpa(f, 64), 100, true}};
	struct hb b[1] = {{bgpa(f, 256), 50, true}};
	struct hb c[3] = {
		{bgpa(f, 512), 8, false}, {bgpa(f, 1024), 60, true}, {bgpa(f, 2048), 40, true}};
	hand_add(f, 0, a, 2);
	hand_add(f, 2, b, 1);
	hand_add(f, 3, c, 3);
}

static void pop_abc(struct fx *f)
{
	pop_ok(f, 0);
	assert_int_equal(f->e.in_len, 100);
	pop_ok(f, 2);
	pop_ok(f, 3);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.in_len, 100);
	assert_int_equal(vq_in_flight(f->q), 3);
}

static void test_push_burst(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_abc(f);
	const struct vq_used u[3] = {{3, 30}, {0, 10}, {2, 0}};
	assert_int_equal(vq_push_burst(f->q, u, 3), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
	assert_int_equal(vq_get_stats(f->q)->pushed, 3);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 3);
		assert_split_used(f, 0, 3, 30);
		assert_split_used(f, 1, 0, 10);
		assert_split_used(f, 2, 2, 0);
		assert_state(f, 3, 3, false, false);
	} else {
		/* each used descriptor skips its buffer's descriptor count */
		assert_packed_used(f, 0, 3, 30, true);
		assert_packed_used(f, 3, 0, 10, true);
		assert_packed_used(f, 5, 2, 0, true);
		assert_state(f, 6, 6, true, true);
	}
	/* an empty burst is a no-op */
	assert_int_equal(vq_push_burst(f->q, u, 0), 0);
	assert_int_equal(vq_get_stats(f->q)->pushed, 3);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->idx, 3);
	else
		assert_state(f, 6, 6, true, true);
}

static void test_push_not_in_flight(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_ok(f, 0);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_push(f->q, 2, 5), -VQ_ERR_INVALID_ARG); /* available, not popped */
	assert_int_equal(vq_push(f->q, 7, 5), -VQ_ERR_INVALID_ARG); /* never seen */
	assert_int_equal(vq_push(f->q, 8, 5), -VQ_ERR_INVALID_ARG); /* >= size */
	assert_int_equal(vq_push(f->q, 0xffff, 5), -VQ_ERR_INVALID_ARG);
	const struct vq_used u[2] = {{0, 1}, {7, 1}};
	assert_int_equal(vq_push_burst(f->q, u, 2), -VQ_ERR_INVALID_ARG); /* good then bad */
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_get_stats(f->q)->pushed, 0);
	assert_false(vq_is_broken(f->q)); /* a caller bug does not break the queue */

	assert_int_equal(vq_push(f->q, 0, 1), 0);
	snap = snapshot(f, &len);
	assert_int_equal(vq_push(f->q, 0, 1), -VQ_ERR_INVALID_ARG); /* twice */
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_get_stats(f->q)->pushed, 1);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->idx, 1);
	else
		assert_state(f, 2, 2, true, true);
}

static void test_push_duplicate_in_burst(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_ok(f, 0);
	pop_ok(f, 2);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	const struct vq_used dup[3] = {{0, 1}, {2, 2}, {0, 3}};
	assert_int_equal(vq_push_burst(f->q, dup, 3), -VQ_ERR_INVALID_ARG);
	const struct vq_used dup2[2] = {{2, 1}, {2, 1}};
	assert_int_equal(vq_push_burst(f->q, dup2, 2), -VQ_ERR_INVALID_ARG);
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_in_flight(f->q), 2);
	/* the refused batch left no trace: the same ids complete now */
	const struct vq_used ok[2] = {{2, 7}, {0, 9}};
	assert_int_equal(vq_push_burst(f->q, ok, 2), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 2);
		assert_split_used(f, 0, 2, 7);
		assert_split_used(f, 1, 0, 9);
	} else {
		assert_packed_used(f, 0, 2, 7, true);
		assert_packed_used(f, 1, 0, 9, true);
		assert_state(f, 3, 3, true, true);
	}
}

static void test_push_in_order(void **state)
{
	struct fx *f = *state;
	fx_open(f, 16, F(VIRTIO_F_IN_ORDER), VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_abc(f);
	/* out of pop order is refused */
	const struct vq_used bad[1] = {{2, 1}};
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_push_burst(f->q, bad, 1), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_push_in_order(f->q, 0, 1), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_push_in_order(f->q, 4, 1), -VQ_ERR_INVALID_ARG);
	assert_unchanged(f, snap, len);

	assert_int_equal(vq_push_in_order(f->q, 3, 77), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
	assert_int_equal(vq_get_stats(f->q)->pushed, 3);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		/* one element with the last id; the index moves by 3 */
		assert_int_equal(sused(f)->idx, 3);
		assert_split_used(f, 0, 3, 77);
		assert_split_used(f, 1, 0, 0);
		assert_split_used(f, 2, 0, 0);
		assert_state(f, 3, 3, false, false);
	} else {
		/* one used descriptor; the position skips all 6 descriptors */
		assert_packed_used(f, 0, 3, 77, true);
		assert_int_equal(pdesc(f)[2].flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_WRITE);
		assert_int_equal(pdesc(f)[3].flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT);
		assert_state(f, 6, 6, true, true);
	}

	/* again: a batch of 2 of 3, then the third alone by push_burst */
	uint16_t base = f->fmt == VQ_FORMAT_SPLIT ? 6 : 0;
	struct hb one = {bgpa(f, 0), 32, true};
	hand_add(f, (uint16_t)(base + 0), &one, 1);
	hand_add(f, (uint16_t)(base + 1), &one, 1);
	hand_add(f, (uint16_t)(base + 2), &one, 1);
	pop_ok(f, (uint16_t)(base + 0));
	pop_ok(f, (uint16_t)(base + 1));
	pop_ok(f, (uint16_t)(base + 2));
	assert_int_equal(vq_push_in_order(f->q, 2, 5), 0);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_push(f->q, (uint16_t)(base + 2), 6), 0);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 6);
		assert_split_used(f, 3, 7, 5);
		assert_split_used(f, 5, 8, 6);
	} else {
		assert_packed_used(f, 6, 1, 5, true);
		assert_packed_used(f, 8, 2, 6, true);
		assert_state(f, 9, 9, true, true);
	}
}

static void test_push_in_order_not_negotiated(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	add_abc(f);
	pop_abc(f);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_push_in_order(f->q, 1, 1), -VQ_ERR_INVALID_ARG);
	assert_int_equal(vq_push_in_order(f->q, 3, 1), -VQ_ERR_INVALID_ARG);
	assert_unchanged(f, snap, len);
	assert_int_equal(vq_in_flight(f->q), 3);
}

/* ------------------------------------------------------- notifications */

static void test_should_notify_flags(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_false(vq_should_notify(f->q)); /* nothing pushed */
	cycle(f, 0, 1);
	assert_true(vq_should_notify(f->q));
	assert_false(vq_should_notify(f->q)); /* nothing new */
	if (f->fmt == VQ_FORMAT_SPLIT)
		savail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	else
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
	cycle(f, 1, 1);
	assert_false(vq_should_notify(f->q));
	if (f->fmt == VQ_FORMAT_SPLIT) {
		savail(f)->flags = 0;
		cycle(f, 2, 1);
		assert_true(vq_should_notify(f->q));
		/* used_event is ignored without EVENT_IDX */
		*sused_event(f) = 100;
		cycle(f, 3, 1);
		assert_true(vq_should_notify(f->q));
	} else {
		/* DESC without EVENT_IDX counts as ENABLE, whatever off_wrap */
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdrv_evt(f)->off_wrap = 7;
		cycle(f, 2, 1);
		assert_true(vq_should_notify(f->q));
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_ENABLE;
		cycle(f, 3, 1);
		assert_true(vq_should_notify(f->q));
	}
	/* two pushes, one decision */
	cycle(f, 4, 1);
	cycle(f, 5, 1);
	assert_true(vq_should_notify(f->q));
	assert_int_equal(s->notify_sent, 4);
	assert_int_equal(s->notify_suppressed, 3);
}

static void test_should_notify_event_idx(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_EVENT_IDX), VQ_DIR_BOTH, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		*sused_event(f) = 0;
		cycle(f, 0, 1); /* used idx 0 -> 1 covers 0 */
		assert_true(vq_should_notify(f->q));
		*sused_event(f) = 3;
		cycle(f, 1, 1); /* 1 -> 2 */
		assert_false(vq_should_notify(f->q));
		cycle(f, 2, 1); /* 2 -> 3 */
		assert_false(vq_should_notify(f->q));
		cycle(f, 3, 1); /* 3 -> 4 covers 3 */
		assert_true(vq_should_notify(f->q));
		/* flags are ignored with EVENT_IDX */
		savail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
		*sused_event(f) = 5;
		cycle(f, 4, 1); /* 4 -> 5 */
		assert_false(vq_should_notify(f->q));
		cycle(f, 5, 1);
		cycle(f, 6, 1); /* 5 -> 7 covers 5 */
		assert_true(vq_should_notify(f->q));
		/* an event long passed is not hit again */
		*sused_event(f) = 1;
		cycle(f, 7, 1);
		assert_false(vq_should_notify(f->q));
		assert_int_equal(sused(f)->idx, 8);
	} else {
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdrv_evt(f)->off_wrap = 2 | 1u << RING_EVENT_WRAP_SHIFT;
		cycle(f, 0, 1); /* used position 0 */
		assert_false(vq_should_notify(f->q));
		cycle(f, 1, 1);
		assert_false(vq_should_notify(f->q));
		cycle(f, 2, 1); /* position 2 on lap 1 */
		assert_true(vq_should_notify(f->q));
		/* an event on the next lap (wrap 0) */
		pdrv_evt(f)->off_wrap = 1;
		for (uint16_t id = 3; id < 8; id++) {
			cycle(f, id, 1); /* positions 3..7 */
			assert_false(vq_should_notify(f->q));
		}
		cycle(f, 0, 1); /* position 0, lap 0 */
		assert_false(vq_should_notify(f->q));
		cycle(f, 1, 1); /* position 1, lap 0 */
		assert_true(vq_should_notify(f->q));
		/* ENABLE and DISABLE still rule */
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DISABLE;
		cycle(f, 2, 1);
		assert_false(vq_should_notify(f->q));
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_ENABLE;
		cycle(f, 3, 1);
		assert_true(vq_should_notify(f->q));
		/* several at once crossing the event */
		pdrv_evt(f)->flags = RING_EVENT_FLAGS_DESC;
		pdrv_evt(f)->off_wrap = 5; /* lap 0 */
		cycle(f, 4, 1);
		cycle(f, 5, 1);
		cycle(f, 6, 1);
		assert_true(vq_should_notify(f->q));
		assert_state(f, 7, 7, false, false);
	}
	assert_int_equal(s->notify_sent + s->notify_suppressed, f->fmt == VQ_FORMAT_SPLIT ? 7 : 13);
	assert_int_equal(s->notify_sent, f->fmt == VQ_FORMAT_SPLIT ? 3 : 4);
}

static void test_kicks_flags(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	vq_disable_kicks(f->q);
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->flags, VIRTQ_USED_F_NO_NOTIFY);
	else
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DISABLE);
	assert_false(vq_enable_kicks(f->q));
	if (f->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(sused(f)->flags, 0);
	else
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_ENABLE);
	vq_disable_kicks(f->q);
	hand_add1(f, 0); /* made available while kicks are off */
	assert_true(vq_enable_kicks(f->q));
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->flags, 0);
		assert_int_equal(*savail_event(f), 0); /* untouched without EVENT_IDX */
	} else {
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_ENABLE);
		assert_int_equal(pdev_evt(f)->off_wrap, 0);
	}
	pop_ok(f, 0);
	assert_false(vq_enable_kicks(f->q));
}

static void test_kicks_event_idx(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4, F(VIRTIO_F_EVENT_IDX), VQ_DIR_BOTH, 0);
	struct hb two[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}};
	hand_add(f, 0, two, 2);
	pop_ok(f, 0);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	vq_disable_kicks(f->q);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->flags, 0); /* EVENT_IDX: flags unused */
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(*savail_event(f), 1);
		assert_int_equal(sused(f)->flags, 0);
		hand_add(f, 2, two, 2);
		assert_true(vq_enable_kicks(f->q));
		assert_int_equal(*savail_event(f), 1);
		pop_ok(f, 2);
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(*savail_event(f), 2);
	} else {
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DISABLE);
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DESC);
		assert_int_equal(pdev_evt(f)->off_wrap, 2 | 0x8000);
		/* a chain crossing the end of the ring: position 2, 3, 0 */
		struct hb three[3] = {
			{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}, {bgpa(f, 128), 8, true}};
		hand_add(f, 1, three, 3);
		vq_disable_kicks(f->q);
		assert_true(vq_enable_kicks(f->q));
		assert_int_equal(pdev_evt(f)->off_wrap, 2 | 0x8000);
		pop_ok(f, 1);
		assert_int_equal(f->e.ndesc, 3);
		assert_false(vq_enable_kicks(f->q));
		assert_int_equal(pdev_evt(f)->flags, RING_EVENT_FLAGS_DESC);
		assert_int_equal(pdev_evt(f)->off_wrap, 1); /* position 1, lap 0 */
	}
}

static void test_avail_pending_in_flight(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	assert_false(vq_avail_pending(f->q));
	hand_add1(f, 0);
	assert_true(vq_avail_pending(f->q));
	assert_true(vq_avail_pending(f->q)); /* a peek consumes nothing */
	assert_int_equal(vq_in_flight(f->q), 0);
	hand_add1(f, 1);
	pop_ok(f, 0);
	assert_true(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 1);
	pop_ok(f, 1);
	assert_false(vq_avail_pending(f->q));
	assert_int_equal(vq_in_flight(f->q), 2);
	assert_int_equal(vq_push(f->q, 1, 0), 0);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	assert_int_equal(vq_in_flight(f->q), 0);
}

/* ------------------------------------------------------- state / resume */

static void reopen_at(struct fx *f, const struct vq_state *s, uint64_t features)
{
	struct vq_config c = {.format = f->fmt,
			      .size = f->r.size,
			      .features = features,
			      .desc_gpa = f->r.desc_gpa,
			      .driver_gpa = f->r.driver_gpa,
			      .device_gpa = f->r.device_gpa};
	vq_free(f->q);
	f->q = NULL;
	assert_int_equal(vq_new(&c, f->g.mem, s, &f->q), 0);
}

static void test_state_resume(void **state)
{
	struct fx *f = *state;
	struct vq_state s;
	if (f->fmt == VQ_FORMAT_SPLIT) {
		fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
		cycle(f, 0, 1);
		cycle(f, 1, 2);
		hand_add1(f, 2); /* available, not popped when the device stops */
		vq_get_state(f->q, &s);
		assert_int_equal(s.avail_idx, 2);
		assert_int_equal(s.used_idx, 2);
		reopen_at(f, &s, 0);
		assert_int_equal(vq_in_flight(f->q), 0);
		pop_ok(f, 2);
		assert_int_equal(vq_pop(f->q, &f->e), 0);
		assert_int_equal(vq_push(f->q, 2, 3), 0);
		assert_int_equal(sused(f)->idx, 3);
		assert_split_used(f, 2, 2, 3);

		/* resume just before the 16-bit indices wrap */
		s = (struct vq_state){.avail_idx = 65534, .used_idx = 65534};
		f->avail_idx = 65534;
		savail(f)->idx = 65534;
		sused(f)->idx = 65534;
		reopen_at(f, &s, 0);
		assert_int_equal(vq_pop(f->q, &f->e), 0);
		hand_add1(f, 4);
		hand_add1(f, 5);
		hand_add1(f, 6);
		pop_ok(f, 4);
		pop_ok(f, 5);
		pop_ok(f, 6);
		const struct vq_used u[3] = {{4, 40}, {5, 50}, {6, 60}};
		assert_int_equal(vq_push_burst(f->q, u, 3), 0);
		assert_int_equal(sused(f)->idx, 1);
		assert_split_used(f, 65534, 4, 40);
		assert_split_used(f, 65535, 5, 50);
		assert_split_used(f, 0, 6, 60);
		assert_state(f, 1, 1, false, false);
	} else {
		fx_open(f, 4, 0, VQ_DIR_BOTH, 0);
		struct hb two[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}};
		hand_add(f, 0, two, 2); /* positions 0-1 */
		hand_add1(f, 1);	/* 2 */
		pop_ok(f, 0);
		pop_ok(f, 1);
		const struct vq_used u[2] = {{0, 1}, {1, 2}};
		assert_int_equal(vq_push_burst(f->q, u, 2), 0);
		assert_packed_used(f, 0, 0, 1, true);
		assert_packed_used(f, 2, 1, 2, true);
		hand_add(f, 2, two, 2); /* 3, 0 (lap 0) */
		pop_ok(f, 2);
		assert_int_equal(vq_push(f->q, 2, 3), 0);
		assert_packed_used(f, 3, 2, 3, true);
		hand_add1(f, 3); /* position 1, lap 0: not popped before stopping */
		vq_get_state(f->q, &s);
		assert_int_equal(s.avail_idx, 1);
		assert_int_equal(s.used_idx, 1);
		assert_false(s.avail_wrap);
		assert_false(s.used_wrap);
		reopen_at(f, &s, 0);
		pop_ok(f, 3);
		assert_int_equal(vq_pop(f->q, &f->e), 0);
		assert_int_equal(vq_push(f->q, 3, 4), 0);
		assert_packed_used(f, 1, 3, 4, false);
		assert_state(f, 2, 2, false, false);
		/* a fresh state on this ring sees nothing available: the
		 * descriptors at 0..1 belong to another lap */
		vq_state_init(VQ_FORMAT_PACKED, &s);
		reopen_at(f, &s, 0);
		assert_int_equal(vq_pop(f->q, &f->e), 0);
	}
}

/* ------------------------------------------------------------ set_mem */

static struct gmem_table *table_subset(struct fx *f, bool ring, bool buf)
{
	struct gmem_region_desc d[2];
	unsigned n = 0;
	for (unsigned i = 0; i < gmem_table_nregions(f->g.mem); i++) {
		const struct gmem_region *r = gmem_table_region(f->g.mem, i);
		bool is_ring = r->gpa == TGM_GPA_BASE;
		if (is_ring ? ring : buf)
			d[n++] = (struct gmem_region_desc){
				.gpa = r->gpa, .size = r->size, .hva = r->hva, .fd = -1};
	}
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(d, n, &t), 0);
	return t;
}

static void test_set_mem(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4, 0, VQ_DIR_BOTH, 0);
	struct hb two[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}};
	hand_add(f, 0, two, 2);
	pop_ok(f, 0); /* in flight across the change */

	struct gmem_table *t = table_subset(f, true, true);
	assert_int_equal(vq_set_mem(f->q, t), 0);
	gmem_table_put(t); /* the queue holds its own reference */
	assert_false(vq_is_broken(f->q));
	assert_int_equal(vq_in_flight(f->q), 1);
	hand_add(f, 2, two, 2); /* fills the ring with the one in flight */
	pop_ok(f, 2);
	assert_ptr_equal(f->iov[0].iov_base, bdev(f, 0));
	assert_int_equal(vq_push(f->q, 0, 5), 0);
	assert_int_equal(vq_push(f->q, 2, 6), 0);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 2);
		assert_split_used(f, 0, 0, 5);
		assert_split_used(f, 1, 2, 6);
	} else {
		assert_packed_used(f, 0, 0, 5, true);
		assert_packed_used(f, 2, 2, 6, true);
		assert_state(f, 0, 0, false, false);
	}

	/* rings still inside, buffers gone: chains are dropped */
	t = table_subset(f, true, false);
	assert_int_equal(vq_set_mem(f->q, t), 0);
	gmem_table_put(t);
	hand_add1(f, 1);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_DESC_OUT_OF_MEMORY);
	assert_int_equal(f->e.id, 1);
	assert_int_equal(vq_push(f->q, 1, 0), 0);
	assert_false(vq_is_broken(f->q));

	/* rings gone: the queue breaks */
	t = table_subset(f, false, true);
	assert_int_equal(vq_set_mem(f->q, t), -VQ_ERR_RING_OUT_OF_MEMORY);
	gmem_table_put(t);
	assert_true(vq_is_broken(f->q));
	assert_int_equal(vq_broken_reason(f->q), VQ_ERR_RING_OUT_OF_MEMORY);
	hand_add1(f, 3);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_BROKEN);
	assert_false(vq_avail_pending(f->q));
}

/* -------------------------------------------------------- drops, breaks */

static void test_drop_stats(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct hb zero = {bgpa(f, 0), 0, false};
	struct hb outside = {0x1000, 16, false};
	struct hb wrap = {UINT64_MAX - 10, 100, true};
	struct hb raw[2] = {{bgpa(f, 0), 8, true}, {bgpa(f, 64), 8, false}};
	hand_add(f, 0, &zero, 1);
	hand_add(f, 1, &outside, 1);
	hand_add(f, 2, &wrap, 1);
	hand_add(f, 3, raw, 2);
	static const int expect[4] = {VQ_ERR_DESC_ZERO_LEN, VQ_ERR_DESC_OUT_OF_MEMORY,
				      VQ_ERR_DESC_ADDR_OVERFLOW, VQ_ERR_DESC_READ_AFTER_WRITE};
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(f->q, &f->e), -expect[i]);
		assert_int_equal(f->e.id, i);
		assert_int_equal(f->e.err, expect[i]);
		assert_true(vq_err_is_drop(-expect[i]));
	}
	assert_int_equal(f->e.ndesc, f->fmt == VQ_FORMAT_SPLIT ? 1 : 2);
	assert_false(vq_is_broken(f->q));
	assert_int_equal(vq_in_flight(f->q), 4);
	const struct vq_used u[4] = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
	assert_int_equal(vq_push_burst(f->q, u, 4), 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 4);
	assert_int_equal(s->dropped, 4);
	assert_int_equal(s->pushed, 4);
	for (int code = 0; code <= VQ_ERR_LAST_DROP; code++) {
		bool hit = code == expect[0] || code == expect[1] || code == expect[2] ||
			   code == expect[3];
		assert_int_equal(s->drop_reason[code], hit ? 1 : 0);
	}
	if (f->fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(sused(f)->idx, 4);
	} else {
		/* the dropped 2-descriptor list kept the ring in step */
		assert_packed_used(f, 3, 3, 0, true);
		assert_state(f, 5, 5, true, true);
	}
	/* the queue keeps working */
	cycle(f, 5, 9);
	assert_int_equal(s->popped, 5);
	assert_int_equal(s->dropped, 4);
}

/* A bad first descriptor in a packed list still consumes the whole list. */
static void test_drop_long_list(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 2);
	struct hb three[3] = {
		{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}, {bgpa(f, 128), 8, true}};
	hand_add(f, 0, three, 3);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_CHAIN_TOO_LONG);
	assert_int_equal(f->e.id, 0);
	assert_int_equal(f->e.ndesc, f->fmt == VQ_FORMAT_SPLIT ? 1 : 3);
	hand_add(f, 3, three, 2);
	pop_ok(f, 3);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(vq_push(f->q, 0, 0), 0);
	assert_int_equal(vq_push(f->q, 3, 8), 0);
	if (f->fmt == VQ_FORMAT_PACKED) {
		assert_packed_used(f, 0, 0, 0, true);
		assert_packed_used(f, 3, 3, 8, true);
		assert_state(f, 5, 5, true, true);
	}
}

static void test_dir(void **state)
{
	struct fx *f = *state;
	struct hb rw[2] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}};
	struct hb r = {bgpa(f, 0), 8, false}, w = {bgpa(f, 64), 8, true};

	fx_open(f, 8, 0, VQ_DIR_DEVICE_READS, 0);
	hand_add(f, 0, rw, 2);
	hand_add(f, 2, &r, 1);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_DESC_WRITE_FORBIDDEN);
	assert_int_equal(f->e.id, 0);
	pop_ok(f, 2);
	assert_int_equal(f->e.nout, 1);

	fx_open(f, 8, 0, VQ_DIR_DEVICE_WRITES, 0);
	hand_add(f, 0, rw, 2);
	hand_add(f, 2, &w, 1);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_DESC_READ_FORBIDDEN);
	assert_int_equal(f->e.id, 0);
	pop_ok(f, 2);
	assert_int_equal(f->e.nin, 1);
	assert_int_equal(f->e.nout, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->drop_reason[VQ_ERR_DESC_READ_FORBIDDEN], 1);
}

/* Every call on a broken queue fails and writes nothing. */
static void assert_broken(struct fx *f, enum vq_err why)
{
	assert_true(vq_is_broken(f->q));
	assert_int_equal(vq_broken_reason(f->q), why);
	size_t len;
	uint8_t *snap = snapshot(f, &len);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_BROKEN);
	assert_int_equal(vq_push(f->q, 0, 0), -VQ_ERR_BROKEN);
	const struct vq_used u = {0, 0};
	assert_int_equal(vq_push_burst(f->q, &u, 1), -VQ_ERR_BROKEN);
	assert_int_equal(vq_push_in_order(f->q, 1, 0), -VQ_ERR_BROKEN);
	assert_false(vq_should_notify(f->q));
	assert_false(vq_avail_pending(f->q));
	vq_disable_kicks(f->q);
	assert_false(vq_enable_kicks(f->q));
	int err = 1;
	assert_int_equal(vq_pop_burst(f->q, &f->e, 1, &err), 0);
	assert_int_equal(err, -VQ_ERR_BROKEN);
	assert_unchanged(f, snap, len);
	assert_true(vq_is_broken(f->q));
	assert_int_equal(vq_broken_reason(f->q), why);
}

static void test_break_head_out_of_range(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	cycle(f, 0, 1);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_avail(f, 8);
	} else {
		struct hb b = {bgpa(f, 0), 8, true};
		packed_chain(f, 8, &b, 1, 0);
	}
	assert_true(vq_avail_pending(f->q));
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_HEAD_OUT_OF_RANGE);
	assert_false(vq_err_is_drop(-VQ_ERR_HEAD_OUT_OF_RANGE));
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 1);
	assert_int_equal(s->dropped, 0);
	assert_broken(f, VQ_ERR_HEAD_OUT_OF_RANGE);
}

static void test_break_head_in_flight(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	hand_add1(f, 3);
	pop_ok(f, 3);
	if (f->fmt == VQ_FORMAT_SPLIT)
		split_avail(f, 3);
	else
		hand_add1(f, 3);
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_HEAD_IN_FLIGHT);
	assert_int_equal(vq_in_flight(f->q), 1);
	assert_broken(f, VQ_ERR_HEAD_IN_FLIGHT);
}

/* Split: avail->idx more than the queue size ahead, or moved backwards. */
static void test_break_avail_idx_jump(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	savail(f)->idx = 8; /* exactly the queue size: legal */
	for (uint16_t i = 0; i < 8; i++) {
		savail(f)->ring[i] = i;
		split_desc(f, i, bgpa(f, i * 64u), 64, VIRTQ_DESC_F_WRITE, 0);
	}
	for (uint16_t i = 0; i < 8; i++)
		pop_ok(f, i);
	const struct vq_used u[8] = {{0, 0}, {1, 0}, {2, 0}, {3, 0},
				     {4, 0}, {5, 0}, {6, 0}, {7, 0}};
	assert_int_equal(vq_push_burst(f->q, u, 8), 0);
	savail(f)->idx = 8 + 9;
	assert_false(vq_is_broken(f->q));
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_AVAIL_IDX_JUMP);
	assert_int_equal(vq_get_stats(f->q)->popped, 8);
	assert_broken(f, VQ_ERR_AVAIL_IDX_JUMP);

	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	cycle(f, 0, 0);
	savail(f)->idx = 0; /* backwards by one: 65535 "new" entries */
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_AVAIL_IDX_JUMP);
	assert_broken(f, VQ_ERR_AVAIL_IDX_JUMP);
}

/* Packed: a list whose next descriptor is not available. */
static void test_break_packed_incomplete(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct pvirtq_desc *d = pdesc(f);
	d[1] = (struct pvirtq_desc){.addr = bgpa(f, 64), .len = 8, .id = 0, .flags = 0};
	d[0] = (struct pvirtq_desc){.addr = bgpa(f, 0),
				    .len = 8,
				    .id = 0,
				    .flags = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT};
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_PACKED_CHAIN_INCOMPLETE);
	assert_broken(f, VQ_ERR_PACKED_CHAIN_INCOMPLETE);
}

/* Packed: NEXT on every descriptor around the whole ring. */
static void test_break_packed_overrun(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4, 0, VQ_DIR_BOTH, 0);
	struct pvirtq_desc *d = pdesc(f);
	for (int i = 3; i >= 0; i--)
		d[i] = (struct pvirtq_desc){.addr = bgpa(f, 0),
					    .len = 8,
					    .id = 1,
					    .flags = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT};
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_PACKED_RING_OVERRUN);
	assert_broken(f, VQ_ERR_PACKED_RING_OVERRUN);

	/* a list of exactly the ring size is fine */
	fx_open(f, 4, 0, VQ_DIR_BOTH, 0);
	struct hb b[4] = {{bgpa(f, 0), 8, false},
			  {bgpa(f, 64), 8, false},
			  {bgpa(f, 128), 8, true},
			  {bgpa(f, 192), 8, true}};
	hand_add(f, 2, b, 4);
	pop_ok(f, 2);
	assert_int_equal(f->e.ndesc, 4);
	assert_int_equal(vq_push(f->q, 2, 16), 0);
	assert_packed_used(f, 0, 2, 16, true);
	assert_state(f, 0, 0, false, false);
}

static void test_pop_burst(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct iovec iov[4][4];
	struct vq_elem el[4];
	for (int i = 0; i < 4; i++)
		el[i] = (struct vq_elem){.iov = iov[i], .iov_cap = 4};
	struct hb zero = {bgpa(f, 0), 0, true};
	hand_add1(f, 0);
	hand_add(f, 1, &zero, 1);
	hand_add1(f, 2);
	int err = 1;
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 3);
	assert_int_equal(err, 0);
	assert_int_equal(el[0].id, 0);
	assert_int_equal(el[0].err, VQ_OK);
	assert_int_equal(el[1].id, 1);
	assert_int_equal(el[1].err, VQ_ERR_DESC_ZERO_LEN);
	assert_int_equal(el[2].id, 2);
	assert_int_equal(el[2].err, VQ_OK);
	assert_int_equal(el[2].nin, 1);
	assert_ptr_equal(iov[2][0].iov_base, bdev(f, 128));
	err = 1;
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 0);
	assert_int_equal(err, 0);
	const struct vq_stats *s = vq_get_stats(f->q);
	assert_int_equal(s->popped, 3);
	assert_int_equal(s->dropped, 1);

	/* n limits the burst; err may be NULL */
	hand_add1(f, 3);
	hand_add1(f, 4);
	assert_int_equal(vq_pop_burst(f->q, el, 1, NULL), 1);
	assert_int_equal(el[0].id, 3);
	assert_int_equal(vq_in_flight(f->q), 4);

	/* a break stops the burst after the good ones */
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_avail(f, 9);
	} else {
		struct hb b = {bgpa(f, 0), 8, true};
		packed_chain(f, 200, &b, 1, 0);
	}
	err = 0;
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 1);
	assert_int_equal(el[0].id, 4);
	assert_int_equal(err, -VQ_ERR_HEAD_OUT_OF_RANGE);
	assert_true(vq_is_broken(f->q));
	assert_int_equal(vq_pop_burst(f->q, el, 4, &err), 0);
	assert_int_equal(err, -VQ_ERR_BROKEN);
}

/* Too few iovecs for a chain: a drop, not a break. */
static void test_pop_iov_cap(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	struct hb b[3] = {{bgpa(f, 0), 8, false}, {bgpa(f, 64), 8, true}, {bgpa(f, 128), 8, true}};
	hand_add(f, 0, b, 3);
	hand_add(f, 3, b, 2);
	f->e.iov_cap = 2;
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_CHAIN_TOO_MANY_SEGMENTS);
	assert_int_equal(f->e.id, 0);
	pop_ok(f, 3);
	assert_int_equal(f->e.nout + f->e.nin, 2);
	assert_false(vq_is_broken(f->q));
}

/* Indirect tables, laid out by hand in the buffer area. */
static void test_indirect(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8, F(VIRTIO_F_INDIRECT_DESC), VQ_DIR_BOTH, 0);
	const uint32_t toff = 0x8000;
	fill(bptr(f, 0), 32, 3);
	if (f->fmt == VQ_FORMAT_SPLIT) {
		struct virtq_desc *t = (struct virtq_desc *)bptr(f, toff);
		/* entries out of order: 0 -> 2 -> 1 */
		t[0] = (struct virtq_desc){bgpa(f, 0), 32, VIRTQ_DESC_F_NEXT, 2};
		t[2] = (struct virtq_desc){bgpa(f, 64), 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
					   1};
		t[1] = (struct virtq_desc){bgpa(f, 128), 48, VIRTQ_DESC_F_WRITE, 0};
		/* WRITE on the pointing descriptor is ignored (§2.7.5.3.2) */
		split_desc(f, 4, bgpa(f, toff), 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
		split_avail(f, 4);
	} else {
		struct pvirtq_desc *t = (struct pvirtq_desc *)bptr(f, toff);
		/* NEXT and id in a table are ignored (§2.8.7) */
		t[0] = (struct pvirtq_desc){bgpa(f, 0), 32, 55, VIRTQ_DESC_F_NEXT};
		t[1] = (struct pvirtq_desc){bgpa(f, 64), 16, 0, VIRTQ_DESC_F_WRITE};
		t[2] = (struct pvirtq_desc){bgpa(f, 128), 48, 0, VIRTQ_DESC_F_WRITE};
		struct hb b = {bgpa(f, toff), 48, false};
		packed_chain(f, 4, &b, 1, VIRTQ_DESC_F_INDIRECT);
	}
	pop_ok(f, 4);
	assert_int_equal(f->e.ndesc, 1);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.out_len, 32);
	assert_int_equal(f->e.in_len, 64);
	assert_ptr_equal(f->iov[0].iov_base, bdev(f, 0));
	assert_memory_equal(f->iov[0].iov_base, bptr(f, 0), 32);
	assert_ptr_equal(f->iov[1].iov_base, bdev(f, 64));
	assert_int_equal(f->iov[1].iov_len, 16);
	assert_ptr_equal(f->iov[2].iov_base, bdev(f, 128));
	assert_int_equal(f->iov[2].iov_len, 48);
	assert_int_equal(vq_push(f->q, 4, 64), 0);
	if (f->fmt == VQ_FORMAT_PACKED)
		assert_state(f, 1, 1, true, true);

	/* a bad table is a drop */
	struct hb bad = {bgpa(f, toff), 40, false};
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_desc(f, 1, bgpa(f, toff), 40, VIRTQ_DESC_F_INDIRECT, 0);
		split_avail(f, 1);
	} else {
		packed_chain(f, 1, &bad, 1, VIRTQ_DESC_F_INDIRECT);
	}
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_INDIRECT_BAD_LEN);
	assert_int_equal(f->e.id, 1);
	assert_int_equal(vq_push(f->q, 1, 0), 0);

	/* not negotiated */
	fx_open(f, 8, 0, VQ_DIR_BOTH, 0);
	bad.len = 48;
	if (f->fmt == VQ_FORMAT_SPLIT) {
		split_desc(f, 2, bgpa(f, toff), 48, VIRTQ_DESC_F_INDIRECT, 0);
		split_avail(f, 2);
	} else {
		packed_chain(f, 2, &bad, 1, VIRTQ_DESC_F_INDIRECT);
	}
	assert_int_equal(vq_pop(f->q, &f->e), -VQ_ERR_INDIRECT_NOT_NEGOTIATED);
	assert_int_equal(f->e.id, 2);
	assert_false(vq_is_broken(f->q));
}

/* ------------------------------------------------------ error strings */

static void test_strerror(void **state)
{
	(void)state;
	const char *unknown = vq_strerror(VQ_ERR__COUNT);
	assert_non_null(unknown);
	for (int i = 0; i < VQ_ERR__COUNT; i++) {
		const char *m = vq_strerror(i);
		assert_non_null(m);
		assert_true(strlen(m) > 0);
		assert_string_not_equal(m, unknown);
		assert_ptr_equal(vq_strerror(-i), m);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(m, vq_strerror(j));
	}
	assert_string_equal(vq_strerror(VQ_ERR__COUNT + 1), unknown);
	assert_string_equal(vq_strerror(-VQ_ERR__COUNT), unknown);
	assert_string_equal(vq_strerror(1000000), unknown);
	assert_string_equal(vq_strerror(INT_MAX), unknown);
	assert_string_equal(vq_strerror(-INT_MAX), unknown);
}

static void test_err_is_drop(void **state)
{
	(void)state;
	for (int i = 0; i < VQ_ERR__COUNT + 3; i++) {
		bool drop = i >= VQ_ERR_FIRST_DROP && i <= VQ_ERR_LAST_DROP;
		assert_int_equal(vq_err_is_drop(i), drop);
		assert_int_equal(vq_err_is_drop(-i), drop);
	}
	assert_true(vq_err_is_drop(-VQ_ERR_DESC_OUT_OF_MEMORY));
	assert_true(vq_err_is_drop(VQ_ERR_INDIRECT_WITH_NEXT));
	assert_false(vq_err_is_drop(VQ_OK));
	assert_false(vq_err_is_drop(-VQ_ERR_HEAD_OUT_OF_RANGE));
	assert_false(vq_err_is_drop(-VQ_ERR_BROKEN));
	assert_false(vq_err_is_drop(-VQ_ERR_USED_LEN_TOO_LARGE));
	assert_false(vq_err_is_drop(-VQ_ERR_INVALID_ARG));
	assert_false(vq_err_is_drop(-VQ_ERR_NO_MEMORY));
	assert_false(vq_err_is_drop(INT_MAX));
	assert_false(vq_err_is_drop(-INT_MAX));
	/* the drop codes are exactly the documented contiguous range */
	assert_int_equal(VQ_ERR_FIRST_DROP, 1);
	assert_int_equal(VQ_ERR_LAST_DROP + 1, VQ_ERR_HEAD_OUT_OF_RANGE);
}

/* "A message for a code, positive or negative; never NULL": INT_MIN is a
 * negative int too. Kept last: negating it is undefined behaviour and the
 * index that results reads far outside the message table. */
static void test_strerror_int_min(void **state)
{
	(void)state;
	assert_false(vq_err_is_drop(INT_MIN));
	const char *m = vq_strerror(INT_MIN);
	assert_non_null(m);
	assert_string_equal(m, vq_strerror(VQ_ERR__COUNT));
}

#define T(f)                                                                                       \
	{                                                                                          \
#f, f, NULL, NULL, NULL                                                            \
	}
#define TS(f)                                                                                      \
	{                                                                                          \
#f "_split", f, fx_setup, fx_teardown, (void *)&fmt_split                          \
	}
#define TP(f)                                                                                      \
	{                                                                                          \
#f "_packed", f, fx_setup, fx_teardown, (void *)&fmt_packed                        \
	}
#define T2(f) TS(f), TP(f)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_layout),
		T(test_state_init),
		T2(test_new_errors),
		TS(test_new_unknown_format),
		TS(test_new_event_idx_placement),
		T2(test_new_takes_mem_ref),
		T2(test_format_size),
		T2(test_pop_empty),
		T2(test_pop_push_chain),
		T2(test_push_burst),
		T2(test_push_not_in_flight),
		T2(test_push_duplicate_in_burst),
		T2(test_push_in_order),
		T2(test_push_in_order_not_negotiated),
		T2(test_should_notify_flags),
		T2(test_should_notify_event_idx),
		T2(test_kicks_flags),
		T2(test_kicks_event_idx),
		T2(test_avail_pending_in_flight),
		T2(test_state_resume),
		T2(test_set_mem),
		T2(test_drop_stats),
		T2(test_drop_long_list),
		T2(test_dir),
		T2(test_break_head_out_of_range),
		T2(test_break_head_in_flight),
		TS(test_break_avail_idx_jump),
		TP(test_break_packed_incomplete),
		TP(test_break_packed_overrun),
		T2(test_pop_burst),
		T2(test_pop_iov_cap),
		T2(test_indirect),
		T(test_strerror),
		T(test_err_is_drop),
		T(test_strerror_int_min),
	};
	return cmocka_run_group_tests_name("virtq_device", tests, NULL, NULL);
}
