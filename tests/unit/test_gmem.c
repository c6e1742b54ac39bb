/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the guest memory table (include/vqnet/gmem.h).
 *
 * Regions are backed by one anonymous pool; gpa-adjacent regions are given
 * host addresses that are *not* adjacent (and run backwards) so that any
 * assumption of host contiguity shows. Ownership of mappings (mmap_base/fd)
 * is checked on real memfd mappings: a closed fd answers F_GETFD with EBADF
 * and an unmapped range answers mincore() with ENOMEM.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/gmem.h>

#define POOL_BYTES (1u << 20)
#define PAGE	   4096u

static uint8_t *pool; /* POOL_BYTES of anonymous memory, for hva */

static int group_setup(void **state)
{
	(void)state;
	pool = mmap(NULL, POOL_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return pool == MAP_FAILED ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	munmap(pool, POOL_BYTES);
	return 0;
}

static struct gmem_region_desc rd(uint64_t gpa, uint64_t size, void *hva, uint64_t uva)
{
	return (struct gmem_region_desc){
		.gpa = gpa, .size = size, .hva = hva, .uva = uva, .fd = -1};
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static bool fd_is_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* Is [p, p + len) mapped in this process? */
static bool is_mapped(void *p, size_t len)
{
	unsigned char vec[16];
	assert_true(len / PAGE <= sizeof(vec));
	if (mincore(p, len, vec) == 0)
		return true;
	assert_int_equal(errno, ENOMEM);
	return false;
}

/* A memfd of @len bytes mapped shared; the region description hands both
 * over to the table (mmap_base, fd). */
struct owned {
	int fd;
	uint8_t *base;
	size_t len;
};

static struct owned owned_new(size_t len)
{
	struct owned o = {.fd = memfd_create("gmem-unit", MFD_CLOEXEC), .len = len};
	assert_true(o.fd >= 0);
	assert_int_equal(ftruncate(o.fd, (off_t)len), 0);
	o.base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, o.fd, 0);
	assert_true(o.base != MAP_FAILED);
	return o;
}

static struct gmem_region_desc owned_desc(const struct owned *o, uint64_t gpa)
{
	return (struct gmem_region_desc){.gpa = gpa,
					 .size = o->len,
					 .hva = o->base,
					 .mmap_base = o->base,
					 .mmap_len = o->len,
					 .fd = o->fd};
}

/* Caller still owns @o: release it by hand. */
static void owned_release(struct owned *o)
{
	munmap(o->base, o->len);
	close(o->fd);
}

/* A table of two gpa-adjacent regions A = [0x10000, +0x1000) and
 * B = [0x11000, +0x1000), with host addresses B below A and a gap between,
 * plus C = [0x20000, +0x1000) after a gpa gap. Given out of order. */
#define A_GPA 0x10000ull
#define B_GPA 0x11000ull
#define C_GPA 0x20000ull
#define A_HVA (pool + 0x40000)
#define B_HVA (pool + 0x20000)
#define C_HVA (pool + 0x60000)

static struct gmem_table *abc_table(void)
{
	struct gmem_region_desc d[3] = {
		rd(C_GPA, PAGE, C_HVA, 0),
		rd(B_GPA, PAGE, B_HVA, 0),
		rd(A_GPA, PAGE, A_HVA, 0),
	};
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(d, 3, &t), 0);
	assert_non_null(t);
	return t;
}

/* ------------------------------------------------------------ table_new */

static void test_new_empty(void **state)
{
	(void)state;
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(NULL, 0, &t), 0);
	assert_non_null(t);
	assert_int_equal(gmem_table_nregions(t), 0);
	assert_null(gmem_table_region(t, 0));

	struct iovec iov[2];
	uint32_t hint = 0;
	uint64_t gpa = 0;
	uint8_t b = 0;
	assert_int_equal(gmem_translate(t, 0, 1, iov, 2, &hint), -EFAULT);
	assert_int_equal(gmem_translate(t, 0x1234, 0, iov, 2, &hint), 0);
	assert_null(gmem_ptr(t, 0, 1, &hint));
	assert_int_equal(gmem_uva_to_gpa(t, 0x1000, 1, &gpa), -EFAULT);
	assert_int_equal(gmem_read(t, 0, &b, 1, &hint), -EFAULT);
	assert_int_equal(gmem_write(t, 0, &b, 1, &hint), -EFAULT);
	gmem_table_put(t);
}

static void test_new_max_regions(void **state)
{
	(void)state;
	static struct gmem_region_desc d[GMEM_MAX_REGIONS + 1];
	/* Reverse gpa order, 16 bytes each, one page apart in gpa. */
	for (unsigned i = 0; i <= GMEM_MAX_REGIONS; i++)
		d[i] = rd((uint64_t)(GMEM_MAX_REGIONS - i) * PAGE, 16, pool + 16 * i, 0);
	struct gmem_table *t = (struct gmem_table *)(uintptr_t)1;
	assert_int_equal(gmem_table_new(d, GMEM_MAX_REGIONS + 1, &t), -EINVAL);
	assert_ptr_equal(t, (struct gmem_table *)(uintptr_t)1); /* untouched */

	t = NULL;
	assert_int_equal(gmem_table_new(d + 1, GMEM_MAX_REGIONS, &t), 0);
	assert_int_equal(gmem_table_nregions(t), GMEM_MAX_REGIONS);
	for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++) {
		const struct gmem_region *r = gmem_table_region(t, i);
		assert_non_null(r);
		assert_int_equal(r->gpa, (uint64_t)i * PAGE);
		assert_int_equal(r->size, 16);
		/* d[1 + k] has gpa (508 - k) pages: i = 508 - k */
		assert_ptr_equal(r->hva, pool + 16 * (1 + (GMEM_MAX_REGIONS - 1 - i)));
	}
	assert_null(gmem_table_region(t, GMEM_MAX_REGIONS));

	/* Full: adding one more is -ENOSPC, the table is not changed. */
	struct gmem_region_desc extra = rd(0x10000000, 16, pool + 0x80000, 0);
	struct gmem_table *t2 = (struct gmem_table *)(uintptr_t)1;
	assert_int_equal(gmem_table_add(t, &extra, &t2), -ENOSPC);
	assert_ptr_equal(t2, (struct gmem_table *)(uintptr_t)1);
	assert_int_equal(gmem_table_nregions(t), GMEM_MAX_REGIONS);

	/* Remove one, then the extra fits again. */
	struct gmem_table *t3 = NULL, *t4 = NULL;
	assert_int_equal(gmem_table_remove(t, 7 * PAGE, 16, &t3), 0);
	assert_int_equal(gmem_table_nregions(t3), GMEM_MAX_REGIONS - 1);
	assert_int_equal(gmem_table_add(t3, &extra, &t4), 0);
	assert_int_equal(gmem_table_nregions(t4), GMEM_MAX_REGIONS);
	const struct gmem_region *last = gmem_table_region(t4, GMEM_MAX_REGIONS - 1);
	assert_int_equal(last->gpa, 0x10000000);

	/* Lookups in a big table: each region's last byte, and the gaps. */
	uint32_t hint = 0;
	for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++) {
		uint8_t *p = gmem_ptr(t, (uint64_t)i * PAGE + 15, 1, &hint);
		assert_ptr_equal(p, pool + 16 * (1 + (GMEM_MAX_REGIONS - 1 - i)) + 15);
		assert_int_equal(hint, i);
		assert_null(gmem_ptr(t, (uint64_t)i * PAGE + 16, 1, &hint));
	}
	gmem_table_put(t);
	gmem_table_put(t3);
	gmem_table_put(t4);
}

static void test_new_bad_regions(void **state)
{
	(void)state;
	struct gmem_table *t = (struct gmem_table *)(uintptr_t)1;
	struct gmem_region_desc d[2];

	d[0] = rd(0x1000, 0, pool, 0); /* size 0 */
	assert_int_equal(gmem_table_new(d, 1, &t), -EINVAL);

	d[0] = rd(UINT64_MAX - 0xfff, 0x2000, pool, 0); /* gpa + size wraps */
	assert_int_equal(gmem_table_new(d, 1, &t), -EOVERFLOW);
	d[0] = rd(UINT64_MAX, 2, pool, 0);
	assert_int_equal(gmem_table_new(d, 1, &t), -EOVERFLOW);
	d[0] = rd(UINT64_MAX - 0xfff, 0x1000, pool, 0); /* gpa + size == 2^64 */
	assert_int_equal(gmem_table_new(d, 1, &t), -EOVERFLOW);

	d[0] = rd(0x1000, 0x2000, pool, UINT64_MAX - 0xfff); /* uva + size wraps */
	assert_int_equal(gmem_table_new(d, 1, &t), -EOVERFLOW);

	/* gpa overlap: partial, identical start, containment; either order */
	d[0] = rd(0x1000, 0x2000, pool, 0);
	d[1] = rd(0x2000, 0x1000, pool + 0x4000, 0);
	assert_int_equal(gmem_table_new(d, 2, &t), -EEXIST);
	d[1] = rd(0x1000, 0x10, pool + 0x4000, 0);
	assert_int_equal(gmem_table_new(d, 2, &t), -EEXIST);
	d[1] = rd(0x0, 0x1001, pool + 0x4000, 0);
	assert_int_equal(gmem_table_new(d, 2, &t), -EEXIST);
	d[1] = rd(0x2fff, 0x10, pool + 0x4000, 0);
	assert_int_equal(gmem_table_new(d, 2, &t), -EEXIST);

	/* uva overlap with disjoint gpa */
	d[0] = rd(0x1000, 0x1000, pool, 0x7f0000010000);
	d[1] = rd(0x8000, 0x1000, pool + 0x4000, 0x7f0000010800);
	assert_int_equal(gmem_table_new(d, 2, &t), -EEXIST);
	d[1].uva = 0x7f000000f001; /* ends one byte inside d[0] */
	assert_int_equal(gmem_table_new(d, 2, &t), -EEXIST);
	assert_ptr_equal(t, (struct gmem_table *)(uintptr_t)1); /* never written */

	/* uva overlap between regions that are not neighbours in gpa order */
	struct gmem_region_desc e[3] = {
		rd(0x1000, 0x1000, pool, 0x500000),
		rd(0x3000, 0x1000, pool + 0x4000, 0x900000),
		rd(0x5000, 0x1000, pool + 0x8000, 0x500fff),
	};
	assert_int_equal(gmem_table_new(e, 3, &t), -EEXIST);

	/* Fine: adjacent in gpa and uva, or uva 0 (unused) twice. */
	d[0] = rd(0x1000, 0x1000, pool, 0x10000);
	d[1] = rd(0x2000, 0x1000, pool + 0x4000, 0x11000);
	t = NULL;
	assert_int_equal(gmem_table_new(d, 2, &t), 0);
	gmem_table_put(t);
	d[0].uva = d[1].uva = 0;
	t = NULL;
	assert_int_equal(gmem_table_new(d, 2, &t), 0);
	gmem_table_put(t);
}

/* "-EOVERFLOW gpa + size (or uva + size) wraps 64 bits": a region whose uva
 * range ends exactly at 2^64 wraps, as the gpa case above is refused. */
static void test_new_uva_ends_at_2_64(void **state)
{
	(void)state;
	struct gmem_table *t = NULL;
	struct gmem_region_desc d = rd(0x1000, 0x1000, pool, UINT64_MAX - 0xfff);
	int rc = gmem_table_new(&d, 1, &t);
	if (rc == 0)
		gmem_table_put(t);
	assert_int_equal(rc, -EOVERFLOW);
}

/* Two regions whose uva ranges overlap at the very top of the address
 * space must not both be accepted (the overlap test computes uva + size). */
static void test_new_uva_overlap_at_top(void **state)
{
	(void)state;
	struct gmem_table *t = NULL;
	struct gmem_region_desc d[2] = {
		rd(0x1000, 0x2000, pool, UINT64_MAX - 0x1fff),
		rd(0x8000, 0x1000, pool + 0x4000, UINT64_MAX - 0xfff),
	};
	int rc = gmem_table_new(d, 2, &t);
	if (rc == 0)
		gmem_table_put(t);
	assert_true(rc == -EEXIST || rc == -EOVERFLOW);
}

static void test_new_sorts(void **state)
{
	(void)state;
	struct gmem_table *t = abc_table();
	assert_int_equal(gmem_table_nregions(t), 3);
	const struct gmem_region *r0 = gmem_table_region(t, 0), *r1 = gmem_table_region(t, 1),
				 *r2 = gmem_table_region(t, 2);
	assert_int_equal(r0->gpa, A_GPA);
	assert_ptr_equal(r0->hva, A_HVA);
	assert_int_equal(r1->gpa, B_GPA);
	assert_ptr_equal(r1->hva, B_HVA);
	assert_int_equal(r2->gpa, C_GPA);
	assert_ptr_equal(r2->hva, C_HVA);
	assert_int_equal(r0->size, PAGE);
	assert_int_equal(r0->uva, 0);
	assert_null(r0->mapping);
	assert_null(gmem_table_region(t, 3));
	assert_null(gmem_table_region(t, UINT32_MAX));
	gmem_table_put(t);
}

/* A failed new() takes no ownership: the fd stays open, the mapping stays. */
static void test_new_failure_keeps_ownership(void **state)
{
	(void)state;
	struct owned o = owned_new(2 * PAGE);
	struct gmem_region_desc d[2] = {owned_desc(&o, 0x100000),
					rd(0x100000 + PAGE, PAGE, pool, 0) /* overlaps */};
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(d, 2, &t), -EEXIST);
	assert_null(t);
	assert_true(fd_is_open(o.fd));
	assert_true(is_mapped(o.base, o.len));
	o.base[0] = 1; /* still ours */
	owned_release(&o);
}

/* --------------------------------------------------- ownership, add/remove */

static void test_get_put_refcount(void **state)
{
	(void)state;
	struct owned o = owned_new(2 * PAGE);
	struct gmem_region_desc d = owned_desc(&o, 0x100000);
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(&d, 1, &t), 0);
	assert_non_null(gmem_table_region(t, 0)->mapping);
	assert_ptr_equal(gmem_table_get(t), t);
	assert_ptr_equal(gmem_table_get(t), t);
	gmem_table_put(t);
	gmem_table_put(t);
	/* one reference left: everything still there and usable */
	assert_true(fd_is_open(o.fd));
	assert_true(is_mapped(o.base, o.len));
	uint32_t hint = 0;
	assert_ptr_equal(gmem_ptr(t, 0x100000 + 5, 1, &hint), o.base + 5);
	gmem_table_put(t);
	assert_true(fd_is_closed(o.fd));
	assert_false(is_mapped(o.base, o.len));
	gmem_table_put(NULL);
	assert_null(gmem_table_get(NULL));
}

/* A mapping shared by tables goes with the last table that uses it. */
static void test_add_remove_sharing(void **state)
{
	(void)state;
	struct owned a = owned_new(PAGE), b = owned_new(2 * PAGE);
	struct gmem_region_desc da = owned_desc(&a, 0x200000), db = owned_desc(&b, 0x100000);

	struct gmem_table *t1 = NULL, *t2 = NULL, *t3 = NULL;
	assert_int_equal(gmem_table_add(NULL, &da, &t1), 0); /* NULL = empty */
	assert_int_equal(gmem_table_nregions(t1), 1);
	assert_int_equal(gmem_table_add(t1, &db, &t2), 0);
	assert_int_equal(gmem_table_nregions(t1), 1); /* old untouched */
	assert_int_equal(gmem_table_nregions(t2), 2);
	assert_int_equal(gmem_table_region(t2, 0)->gpa, 0x100000); /* sorted */
	assert_int_equal(gmem_table_region(t2, 1)->gpa, 0x200000);
	/* the surviving region keeps its mapping and host address */
	assert_ptr_equal(gmem_table_region(t2, 1)->mapping, gmem_table_region(t1, 0)->mapping);
	assert_ptr_equal(gmem_table_region(t2, 1)->hva, a.base);

	gmem_table_put(t1); /* t2 still uses a */
	assert_true(fd_is_open(a.fd));
	assert_true(is_mapped(a.base, a.len));

	/* remove: no match on gpa alone, or on a wrong size */
	struct gmem_table *bad = (struct gmem_table *)(uintptr_t)1;
	assert_int_equal(gmem_table_remove(t2, 0x200000, 2 * PAGE, &bad), -ENOENT);
	assert_int_equal(gmem_table_remove(t2, 0x300000, PAGE, &bad), -ENOENT);
	assert_int_equal(gmem_table_remove(NULL, 0x200000, PAGE, &bad), -ENOENT);
	assert_ptr_equal(bad, (struct gmem_table *)(uintptr_t)1);

	assert_int_equal(gmem_table_remove(t2, 0x200000, PAGE, &t3), 0);
	assert_int_equal(gmem_table_nregions(t3), 1);
	assert_int_equal(gmem_table_region(t3, 0)->gpa, 0x100000);
	assert_int_equal(gmem_table_nregions(t2), 2);
	assert_true(fd_is_open(a.fd)); /* t2 still holds it */

	gmem_table_put(t2); /* a was only in t2 now */
	assert_true(fd_is_closed(a.fd));
	assert_false(is_mapped(a.base, a.len));
	assert_true(fd_is_open(b.fd));
	assert_true(is_mapped(b.base, b.len));
	uint32_t hint = 0;
	assert_ptr_equal(gmem_ptr(t3, 0x100000 + PAGE, 8, &hint), b.base + PAGE);

	gmem_table_put(t3);
	assert_true(fd_is_closed(b.fd));
	assert_false(is_mapped(b.base, b.len));
}

/* add() refusing a region takes no ownership and leaves old alone. */
static void test_add_refused_keeps_ownership(void **state)
{
	(void)state;
	struct owned a = owned_new(PAGE), b = owned_new(PAGE);
	struct gmem_region_desc da = owned_desc(&a, 0x100000), db = owned_desc(&b, 0x100800);
	struct gmem_table *t1 = NULL, *t2 = (struct gmem_table *)(uintptr_t)1;
	assert_int_equal(gmem_table_new(&da, 1, &t1), 0);
	assert_int_equal(gmem_table_add(t1, &db, &t2), -EEXIST);
	assert_ptr_equal(t2, (struct gmem_table *)(uintptr_t)1);
	db.gpa = 0x200000;
	db.size = 0;
	assert_int_equal(gmem_table_add(t1, &db, &t2), -EINVAL);
	db.size = PAGE;
	db.gpa = UINT64_MAX - 0x7ff;
	assert_int_equal(gmem_table_add(t1, &db, &t2), -EOVERFLOW);
	assert_ptr_equal(t2, (struct gmem_table *)(uintptr_t)1);
	assert_int_equal(gmem_table_nregions(t1), 1);
	gmem_table_put(t1);
	assert_true(fd_is_closed(a.fd));
	assert_true(fd_is_open(b.fd));
	assert_true(is_mapped(b.base, b.len));
	owned_release(&b);
}

/* A region added without mmap_base is never unmapped by the table. */
static void test_unowned_not_unmapped(void **state)
{
	(void)state;
	struct owned o = owned_new(PAGE);
	struct gmem_region_desc d = rd(0x100000, PAGE, o.base, 0);
	d.fd = o.fd; /* ignored without mmap_base */
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(&d, 1, &t), 0);
	assert_null(gmem_table_region(t, 0)->mapping);
	gmem_table_put(t);
	assert_true(fd_is_open(o.fd));
	assert_true(is_mapped(o.base, o.len));
	owned_release(&o);
}

/* ------------------------------------------------------------ translate */

static void test_translate(void **state)
{
	(void)state;
	struct gmem_table *t = abc_table();
	struct iovec iov[4];
	uint32_t hint = 0;

	/* inside one region */
	assert_int_equal(gmem_translate(t, A_GPA + 0x10, 0x20, iov, 4, &hint), 1);
	assert_ptr_equal(iov[0].iov_base, A_HVA + 0x10);
	assert_int_equal(iov[0].iov_len, 0x20);
	/* ending exactly at the end of the last region */
	assert_int_equal(gmem_translate(t, C_GPA + PAGE - 8, 8, iov, 4, &hint), 1);
	assert_ptr_equal(iov[0].iov_base, C_HVA + PAGE - 8);
	assert_int_equal(iov[0].iov_len, 8);
	assert_int_equal(gmem_translate(t, C_GPA, PAGE, iov, 4, &hint), 1);
	assert_int_equal(iov[0].iov_len, PAGE);
	/* one byte past */
	assert_int_equal(gmem_translate(t, C_GPA + PAGE - 8, 9, iov, 4, &hint), -EFAULT);
	assert_int_equal(gmem_translate(t, C_GPA + PAGE, 1, iov, 4, &hint), -EFAULT);
	/* before the first region */
	assert_int_equal(gmem_translate(t, A_GPA - 1, 1, iov, 4, &hint), -EFAULT);
	assert_int_equal(gmem_translate(t, A_GPA - 1, 2, iov, 4, &hint), -EFAULT);
	assert_int_equal(gmem_translate(t, 0, 1, iov, 4, &hint), -EFAULT);
	/* crossing A into the gpa-adjacent B: two iovecs */
	assert_int_equal(gmem_translate(t, A_GPA + PAGE - 3, 10, iov, 4, &hint), 2);
	assert_ptr_equal(iov[0].iov_base, A_HVA + PAGE - 3);
	assert_int_equal(iov[0].iov_len, 3);
	assert_ptr_equal(iov[1].iov_base, B_HVA);
	assert_int_equal(iov[1].iov_len, 7);
	/* all of A and B */
	assert_int_equal(gmem_translate(t, A_GPA, 2 * PAGE, iov, 4, &hint), 2);
	assert_int_equal(iov[0].iov_len, PAGE);
	assert_int_equal(iov[1].iov_len, PAGE);
	/* B into the gap before C */
	assert_int_equal(gmem_translate(t, B_GPA + PAGE - 1, 2, iov, 4, &hint), -EFAULT);
	assert_int_equal(gmem_translate(t, A_GPA, C_GPA - A_GPA + 1, iov, 4, &hint), -EFAULT);
	/* in the gap */
	assert_int_equal(gmem_translate(t, B_GPA + PAGE + 100, 1, iov, 4, &hint), -EFAULT);
	/* not enough iovecs */
	assert_int_equal(gmem_translate(t, A_GPA + PAGE - 3, 10, iov, 1, &hint), -ENOBUFS);
	assert_int_equal(gmem_translate(t, A_GPA, 1, iov, 0, &hint), -ENOBUFS);
	/* wrap */
	assert_int_equal(gmem_translate(t, UINT64_MAX, 2, iov, 4, &hint), -EOVERFLOW);
	assert_int_equal(gmem_translate(t, A_GPA, UINT64_MAX, iov, 4, &hint), -EOVERFLOW);
	/* hint NULL works */
	assert_int_equal(gmem_translate(t, B_GPA + 1, 1, iov, 4, NULL), 1);
	assert_ptr_equal(iov[0].iov_base, B_HVA + 1);
	gmem_table_put(t);
}

/* len 0 yields 0 iovecs and touches nothing, even for a bad address. */
static void test_translate_len0(void **state)
{
	(void)state;
	struct gmem_table *t = abc_table();
	struct iovec iov[2];
	memset(iov, 0xa5, sizeof(iov));
	struct iovec before[2];
	memcpy(before, iov, sizeof(iov));
	uint32_t hint = 2;
	assert_int_equal(gmem_translate(t, A_GPA, 0, iov, 2, &hint), 0);
	assert_int_equal(gmem_translate(t, 0x5, 0, iov, 2, &hint), 0);
	assert_int_equal(gmem_translate(t, UINT64_MAX, 0, iov, 0, &hint), 0);
	assert_memory_equal(iov, before, sizeof(iov));
	assert_int_equal(hint, 2);
	gmem_table_put(t);
}

static void test_translate_hint(void **state)
{
	(void)state;
	struct gmem_table *t = abc_table();
	struct iovec iov[2];
	/* a stale hint far beyond n */
	uint32_t hint = 1000;
	assert_int_equal(gmem_translate(t, C_GPA + 4, 4, iov, 2, &hint), 1);
	assert_ptr_equal(iov[0].iov_base, C_HVA + 4);
	assert_int_equal(hint, 2);
	/* a hint naming a region that does not hold the address */
	hint = 0;
	assert_int_equal(gmem_translate(t, B_GPA + 4, 4, iov, 2, &hint), 1);
	assert_ptr_equal(iov[0].iov_base, B_HVA + 4);
	assert_int_equal(hint, 1);
	/* a hit through the hint */
	assert_int_equal(gmem_translate(t, B_GPA + 8, 4, iov, 2, &hint), 1);
	assert_ptr_equal(iov[0].iov_base, B_HVA + 8);
	assert_int_equal(hint, 1);
	/* a miss leaves a valid answer: -EFAULT, whatever the hint */
	hint = UINT32_MAX;
	assert_int_equal(gmem_translate(t, C_GPA + PAGE, 1, iov, 2, &hint), -EFAULT);
	hint = 2;
	assert_int_equal(gmem_translate(t, C_GPA - 1, 1, iov, 2, &hint), -EFAULT);
	/* a hint exactly n (one past the last region), and n - 1 */
	hint = 3;
	assert_int_equal(gmem_translate(t, A_GPA + 1, 1, iov, 2, &hint), 1);
	assert_ptr_equal(iov[0].iov_base, A_HVA + 1);
	assert_int_equal(hint, 0);
	hint = 3;
	assert_int_equal(gmem_translate(t, C_GPA + PAGE, 1, iov, 2, &hint), -EFAULT);
	hint = 2;
	assert_int_equal(gmem_translate(t, C_GPA + PAGE - 1, 1, iov, 2, &hint), 1);
	assert_ptr_equal(iov[0].iov_base, C_HVA + PAGE - 1);
	/* the stale-hint lookup also works for gmem_ptr and read */
	hint = 77;
	assert_ptr_equal(gmem_ptr(t, A_GPA, 1, &hint), A_HVA);
	assert_int_equal(hint, 0);
	gmem_table_put(t);
}

static void test_ptr(void **state)
{
	(void)state;
	struct gmem_table *t = abc_table();
	uint32_t hint = 0;
	assert_ptr_equal(gmem_ptr(t, A_GPA, PAGE, &hint), A_HVA);
	assert_ptr_equal(gmem_ptr(t, B_GPA + PAGE - 1, 1, &hint), B_HVA + PAGE - 1);
	assert_null(gmem_ptr(t, B_GPA + PAGE - 1, 2, &hint)); /* into the gap */
	assert_null(gmem_ptr(t, A_GPA + PAGE - 1, 2, &hint)); /* A into B: not contiguous */
	assert_null(gmem_ptr(t, A_GPA, 0, &hint));	      /* len 0 */
	assert_null(gmem_ptr(t, UINT64_MAX, 2, &hint));	      /* wrap */
	assert_null(gmem_ptr(t, A_GPA, UINT64_MAX, &hint));
	assert_null(gmem_ptr(t, C_GPA + PAGE, 1, &hint));
	assert_null(gmem_ptr(t, A_GPA - 1, 1, &hint));
	assert_ptr_equal(gmem_ptr(t, C_GPA + 7, 1, NULL), C_HVA + 7);
	gmem_table_put(t);
}

static void test_uva_to_gpa(void **state)
{
	(void)state;
	struct gmem_region_desc d[3] = {
		rd(0x100000, 0x2000, pool, 0x7f0000200000),
		rd(0x102000, 0x1000, pool + 0x8000, 0x7f0000100000),
		rd(0x200000, 0x1000, pool + 0x10000, 0), /* no uva */
	};
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(d, 3, &t), 0);
	uint64_t gpa = 0xdead;
	assert_int_equal(gmem_uva_to_gpa(t, 0x7f0000200010, 0x10, &gpa), 0);
	assert_int_equal(gpa, 0x100010);
	assert_int_equal(gmem_uva_to_gpa(t, 0x7f0000100fff, 1, &gpa), 0);
	assert_int_equal(gpa, 0x102fff);
	assert_int_equal(gmem_uva_to_gpa(t, 0x7f0000200000, 0x2000, &gpa), 0);
	assert_int_equal(gpa, 0x100000);
	gpa = 0xdead;
	/* one byte past the end of a region (the next region is gpa- but not
	 * uva-adjacent) */
	assert_int_equal(gmem_uva_to_gpa(t, 0x7f0000201fff, 2, &gpa), -EFAULT);
	assert_int_equal(gmem_uva_to_gpa(t, 0x7f0000202000, 1, &gpa), -EFAULT);
	assert_int_equal(gmem_uva_to_gpa(t, 0x7f00001fffff, 1, &gpa), -EFAULT);
	/* uva 0 means "no uva": never matched, not even at 0 */
	assert_int_equal(gmem_uva_to_gpa(t, 0, 1, &gpa), -EFAULT);
	assert_int_equal(gmem_uva_to_gpa(t, 0x10, 1, &gpa), -EFAULT);
	/* wrap */
	assert_int_equal(gmem_uva_to_gpa(t, UINT64_MAX, 2, &gpa), -EOVERFLOW);
	assert_int_equal(gpa, 0xdead);
	gmem_table_put(t);
}

/* ---------------------------------------------------------- read / write */

static void test_read_write_across(void **state)
{
	(void)state;
	struct gmem_table *t = abc_table();
	uint8_t src[300], dst[300];
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	memset(A_HVA, 0, PAGE);
	memset(B_HVA, 0, PAGE);
	uint32_t hint = 0;
	/* 100 bytes in A, 200 in B */
	assert_int_equal(gmem_write(t, A_GPA + PAGE - 100, src, 300, &hint), 0);
	assert_memory_equal(A_HVA + PAGE - 100, src, 100);
	assert_memory_equal(B_HVA, src + 100, 200);
	assert_int_equal(A_HVA[PAGE - 101], 0);
	assert_int_equal(B_HVA[200], 0);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(gmem_read(t, A_GPA + PAGE - 100, dst, 300, &hint), 0);
	assert_memory_equal(dst, src, 300);
	/* len 0: nothing, even outside */
	assert_int_equal(gmem_read(t, 0x5, dst, 0, &hint), 0);
	assert_int_equal(gmem_write(t, 0x5, src, 0, &hint), 0);
	gmem_table_put(t);
}

/* A range that is partly outside is refused before any byte moves. */
static void test_read_write_partial_refused(void **state)
{
	(void)state;
	struct gmem_table *t = abc_table();
	uint8_t src[64], dst[64];
	memset(src, 0x5a, sizeof(src));
	memset(A_HVA, 0, PAGE);
	memset(B_HVA, 0, PAGE);
	memset(C_HVA, 0, PAGE);
	uint32_t hint = 0;
	/* A -> B -> gap */
	assert_int_equal(gmem_write(t, B_GPA + PAGE - 16, src, 32, &hint), -EFAULT);
	assert_int_equal(gmem_write(t, A_GPA + PAGE - 8, src, PAGE + 16, &hint), -EFAULT);
	/* past the last region */
	assert_int_equal(gmem_write(t, C_GPA + PAGE - 16, src, 17, &hint), -EFAULT);
	/* starts before the first */
	assert_int_equal(gmem_write(t, A_GPA - 1, src, 2, &hint), -EFAULT);
	assert_int_equal(gmem_write(t, UINT64_MAX - 3, src, 8, &hint), -EOVERFLOW);
	static const uint8_t zero[PAGE];
	assert_memory_equal(A_HVA, zero, PAGE);
	assert_memory_equal(B_HVA, zero, PAGE);
	assert_memory_equal(C_HVA, zero, PAGE);

	memset(A_HVA, 0x11, PAGE);
	memset(B_HVA, 0x22, PAGE);
	memset(C_HVA, 0x33, PAGE);
	memset(dst, 0xee, sizeof(dst));
	assert_int_equal(gmem_read(t, B_GPA + PAGE - 16, dst, 32, &hint), -EFAULT);
	assert_int_equal(gmem_read(t, C_GPA + PAGE - 16, dst, 17, &hint), -EFAULT);
	assert_int_equal(gmem_read(t, UINT64_MAX - 3, dst, 8, &hint), -EOVERFLOW);
	for (unsigned i = 0; i < sizeof(dst); i++)
		assert_int_equal(dst[i], 0xee);
	gmem_table_put(t);
}

/* More regions than any fixed iovec batch: 40 regions of 8 bytes each,
 * gpa-adjacent, host addresses scattered backwards. */
static void test_read_write_many_regions(void **state)
{
	(void)state;
	enum { N = 40, SZ = 8 };
	struct gmem_region_desc d[N];
	for (unsigned i = 0; i < N; i++)
		d[i] = rd(0x1000 + i * SZ, SZ, pool + 0x1000 * (N - i), 0);
	struct gmem_table *t = NULL;
	assert_int_equal(gmem_table_new(d, N, &t), 0);
	uint8_t src[N * SZ], dst[N * SZ];
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i ^ 0x5c);
	uint32_t hint = 0;
	/* skip the first 3 bytes and the last 5 */
	assert_int_equal(gmem_write(t, 0x1003, src, N * SZ - 8, &hint), 0);
	for (unsigned i = 3; i < N * SZ - 5; i++)
		assert_int_equal(pool[0x1000 * (N - i / SZ) + i % SZ], src[i - 3]);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(gmem_read(t, 0x1003, dst, N * SZ - 8, &hint), 0);
	assert_memory_equal(dst, src, N * SZ - 8);
	/* one byte too many is refused, nothing copied */
	memset(dst, 0, sizeof(dst));
	assert_int_equal(gmem_read(t, 0x1003, dst, N * SZ - 2, &hint), -EFAULT);
	for (unsigned i = 0; i < sizeof(dst); i++)
		assert_int_equal(dst[i], 0);
	/* ... also when the hole comes after more regions than one batch
	 * of iovecs: a write must not land in the first ones */
	memset(src, 0x77, sizeof(src));
	for (unsigned i = 0; i < N; i++)
		memset(pool + 0x1000 * (N - i), 0, SZ);
	assert_int_equal(gmem_write(t, 0x1000, src, N * SZ + 1, &hint), -EFAULT);
	assert_int_equal(gmem_write(t, 0x1004, src, N * SZ - 3, &hint), -EFAULT);
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = 0; j < SZ; j++)
			assert_int_equal(pool[0x1000 * (N - i) + j], 0);
	memset(dst, 0x99, sizeof(dst));
	assert_int_equal(gmem_read(t, 0x1000, dst, N * SZ + 1, &hint), -EFAULT);
	for (unsigned i = 0; i < sizeof(dst); i++)
		assert_int_equal(dst[i], 0x99);
	struct iovec iov[N];
	assert_int_equal(gmem_translate(t, 0x1000, N * SZ, iov, N, &hint), N);
	assert_int_equal(gmem_translate(t, 0x1000, N * SZ, iov, N - 1, &hint), -ENOBUFS);
	for (unsigned i = 0; i < N; i++) {
		assert_ptr_equal(iov[i].iov_base, pool + 0x1000 * (N - i));
		assert_int_equal(iov[i].iov_len, SZ);
	}
	gmem_table_put(t);
}

/* ------------------------------------------------------------- dirty log */

static void test_log_dirty(void **state)
{
	(void)state;
	uint8_t bm[8];

	memset(bm, 0, sizeof(bm));
	gmem_log_dirty(bm, 4, 0, 1);
	assert_int_equal(bm[0], 0x01);

	memset(bm, 0, sizeof(bm)); /* end is exclusive: a whole page is one bit */
	gmem_log_dirty(bm, 4, 0, PAGE);
	assert_int_equal(bm[0], 0x01);
	gmem_log_dirty(bm, 4, 2 * PAGE, 2 * PAGE);
	assert_int_equal(bm[0], 0x0d);

	memset(bm, 0, sizeof(bm)); /* two bytes straddling pages 2 and 3 */
	gmem_log_dirty(bm, 4, 3 * PAGE - 1, 2);
	assert_int_equal(bm[0], 0x0c);

	memset(bm, 0, sizeof(bm)); /* across a bitmap byte: pages 6..9 */
	gmem_log_dirty(bm, 4, 6 * PAGE + 5, 3 * PAGE);
	assert_int_equal(bm[0], 0xc0);
	assert_int_equal(bm[1], 0x03);
	assert_int_equal(bm[2], 0);

	memset(bm, 0, sizeof(bm)); /* len 0: nothing */
	gmem_log_dirty(bm, 4, 5 * PAGE, 0);
	uint8_t zero[8] = {0};
	assert_memory_equal(bm, zero, 8);

	/* pages beyond the bitmap are ignored; the bytes after it untouched */
	memset(bm, 0, sizeof(bm));
	gmem_log_dirty(bm, 4, 30 * PAGE, 10 * PAGE);
	assert_int_equal(bm[3], 0xc0);
	assert_int_equal(bm[4], 0);
	assert_int_equal(bm[5], 0);
	gmem_log_dirty(bm, 4, 32 * PAGE, PAGE);
	gmem_log_dirty(bm, 4, UINT64_MAX - 10, 100); /* wraps: no crash */
	assert_int_equal(bm[0], 0);
	assert_int_equal(bm[4], 0);
	assert_int_equal(bm[7], 0);

	/* existing bits are kept (OR) */
	memset(bm, 0, sizeof(bm));
	bm[1] = 0x80;
	gmem_log_dirty(bm, 4, 8 * PAGE, 1);
	assert_int_equal(bm[1], 0x81);
	gmem_log_dirty(NULL, 0, 0, PAGE); /* no log: no crash */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_empty),
		cmocka_unit_test(test_new_max_regions),
		cmocka_unit_test(test_new_bad_regions),
		cmocka_unit_test(test_new_uva_ends_at_2_64),
		cmocka_unit_test(test_new_uva_overlap_at_top),
		cmocka_unit_test(test_new_sorts),
		cmocka_unit_test(test_new_failure_keeps_ownership),
		cmocka_unit_test(test_get_put_refcount),
		cmocka_unit_test(test_add_remove_sharing),
		cmocka_unit_test(test_add_refused_keeps_ownership),
		cmocka_unit_test(test_unowned_not_unmapped),
		cmocka_unit_test(test_translate),
		cmocka_unit_test(test_translate_len0),
		cmocka_unit_test(test_translate_hint),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_uva_to_gpa),
		cmocka_unit_test(test_read_write_across),
		cmocka_unit_test(test_read_write_partial_refused),
		cmocka_unit_test(test_read_write_many_regions),
		cmocka_unit_test(test_log_dirty),
	};
	return cmocka_run_group_tests_name("gmem", tests, group_setup, group_teardown);
}
