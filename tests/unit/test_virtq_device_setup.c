/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the device side of a virtqueue (include/vqnet/virtq.h):
 * ring layout, vq_new() and its checks, resuming at a saved state and
 * changing the memory table under a running queue.
 *
 * The driver is played by hand (virtq_device_fx.h). Format-dependent
 * tests run once per format; their names end in _split / _packed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtq_device_fx.h"

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

	/* overlapping parts (docs/security.md, A26); 8 descriptors of 16 bytes */
	c = good;
	c.driver_gpa = c.desc_gpa;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OVERLAP);
	c = good;
	c.device_gpa = c.desc_gpa + 8 * 16 - 4; /* the table's last 4 bytes */
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OVERLAP);
	c = good;
	c.device_gpa = c.driver_gpa;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OVERLAP);
	c = good;
	c.desc_gpa = c.device_gpa & ~15ull;
	assert_int_equal(new_with(f, &c, NULL), -VQ_ERR_RING_OVERLAP);

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
		T2(test_state_resume),
		T2(test_set_mem),
	};
	return cmocka_run_group_tests_name("virtq_device_setup", tests, NULL, NULL);
}
