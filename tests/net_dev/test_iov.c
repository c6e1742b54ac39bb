/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the iovec helpers (lib/base/iov.h): every offset and
 * length over lists of many small entries, zero-length entries (with NULL
 * bases) at the head, middle and end, and exact ends. Each entry is its
 * own heap block so ASan sees any byte outside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/iov.h"

#define MAXN 16

/* A list built from @lens (0 = a NULL-based empty entry), bytes numbered
 * from @seed in list order. */
struct list {
	struct iovec iov[MAXN];
	unsigned n;
	size_t total;
};

static void list_new(struct list *l, const size_t *lens, unsigned n, uint8_t seed)
{
	uint8_t b = seed;

	l->n = n;
	l->total = 0;
	for (unsigned i = 0; i < n; i++) {
		l->iov[i].iov_len = lens[i];
		l->iov[i].iov_base = lens[i] ? malloc(lens[i]) : NULL;
		for (size_t k = 0; k < lens[i]; k++)
			((uint8_t *)l->iov[i].iov_base)[k] = b++;
		l->total += lens[i];
	}
}

static void list_free(struct list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->iov[i].iov_base);
}

/* Byte @k of the list. */
static uint8_t list_byte(const struct list *l, size_t k)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (k < l->iov[i].iov_len)
			return ((uint8_t *)l->iov[i].iov_base)[k];
		k -= l->iov[i].iov_len;
	}
	fail_msg("byte %zu outside the list", k);
	return 0;
}

static const size_t shapes[][MAXN] = {
	{0, 1, 0, 2, 3, 0, 0, 1, 5, 0},
	{7},
	{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	{0, 0, 0},
	{3, 0, 4, 0},
};
static const unsigned shape_n[] = {10, 1, 16, 3, 4};

static void test_size(void **state)
{
	(void)state;
	for (unsigned s = 0; s < 5; s++) {
		struct list l;
		list_new(&l, shapes[s], shape_n[s], 0);
		assert_int_equal(iov_size(l.iov, l.n), l.total);
		list_free(&l);
	}
	assert_int_equal(iov_size(NULL, 0), 0);
	struct iovec big[2] = {{NULL, SIZE_MAX}, {NULL, 2}};
	assert_int_equal(iov_size(big, 2), SIZE_MAX);
}

/* to_buf / from_buf at every offset and length, including past the end. */
static void test_to_from_buf(void **state)
{
	(void)state;
	for (unsigned s = 0; s < 5; s++) {
		struct list l;
		list_new(&l, shapes[s], shape_n[s], 10);
		for (size_t off = 0; off <= l.total + 2; off++) {
			for (size_t len = 0; len <= l.total + 2; len++) {
				uint8_t *buf = malloc(len ? len : 1);
				size_t want = off >= l.total ? 0 : l.total - off;
				if (want > len)
					want = len;
				assert_int_equal(iov_to_buf(l.iov, l.n, off, buf, len), want);
				for (size_t k = 0; k < want; k++)
					assert_int_equal(buf[k], list_byte(&l, off + k));
				/* Write back inverted, read again. */
				for (size_t k = 0; k < want; k++)
					buf[k] = (uint8_t)~buf[k];
				assert_int_equal(iov_from_buf(l.iov, l.n, off, buf, len), want);
				for (size_t k = 0; k < want; k++)
					assert_int_equal(list_byte(&l, off + k), buf[k]);
				for (size_t k = 0; k < want; k++)
					buf[k] = (uint8_t)~buf[k];
				assert_int_equal(iov_from_buf(l.iov, l.n, off, buf, want), want);
				free(buf);
			}
		}
		list_free(&l);
	}
}

static void test_copy(void **state)
{
	(void)state;
	for (unsigned ds = 0; ds < 5; ds++) {
		for (unsigned ss = 0; ss < 5; ss++) {
			struct list src, dst;
			list_new(&src, shapes[ss], shape_n[ss], 100);
			list_new(&dst, shapes[ds], shape_n[ds], 0);
			for (size_t so = 0; so <= src.total + 1; so++) {
				for (size_t dof = 0; dof <= dst.total + 1; dof++) {
					for (size_t len = 0; len <= 18; len += 3) {
						size_t sa = so < src.total ? src.total - so : 0;
						size_t da = dof < dst.total ? dst.total - dof : 0;
						size_t want = sa < da ? sa : da;
						if (want > len)
							want = len;
						assert_int_equal(iov_copy(dst.iov, dst.n, dof,
									  src.iov, src.n, so, len),
								 want);
						for (size_t k = 0; k < want; k++)
							assert_int_equal(list_byte(&dst, dof + k),
									 list_byte(&src, so + k));
					}
				}
			}
			list_free(&src);
			list_free(&dst);
		}
	}
}

static void test_tail(void **state)
{
	struct iovec out[MAXN];
	(void)state;
	for (unsigned s = 0; s < 5; s++) {
		struct list l;
		list_new(&l, shapes[s], shape_n[s], 50);
		for (size_t off = 0; off <= l.total + 1; off++) {
			int n = iov_tail(l.iov, l.n, off, out, MAXN);
			assert_true(n >= 0);
			size_t want = off < l.total ? l.total - off : 0;
			assert_int_equal(iov_size(out, (unsigned)n), want);
			if (want)
				assert_int_not_equal(out[0].iov_len, 0);
			uint8_t buf[64];
			assert_int_equal(iov_to_buf(out, (unsigned)n, 0, buf, want), want);
			for (size_t k = 0; k < want; k++)
				assert_int_equal(buf[k], list_byte(&l, off + k));
			/* Too small a capacity. */
			if (n > 0) {
				assert_int_equal(iov_tail(l.iov, l.n, off, out, (unsigned)n - 1),
						 -1);
				assert_int_equal(iov_tail(l.iov, l.n, off, out, (unsigned)n), n);
			}
		}
		list_free(&l);
	}
	/* Offset at an exact entry end: the next entry starts the tail. */
	uint8_t a[4], b[4];
	struct iovec two[2] = {{a, 4}, {b, 4}};
	assert_int_equal(iov_tail(two, 2, 4, out, 1), 1);
	assert_ptr_equal(out[0].iov_base, b);
	assert_int_equal(out[0].iov_len, 4);
	assert_int_equal(iov_tail(two, 2, 3, out, 1), -1);
	assert_int_equal(iov_tail(two, 2, 8, out, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_to_from_buf),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
