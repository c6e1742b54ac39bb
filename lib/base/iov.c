/* SPDX-License-Identifier: MIT */
/*
 * iovec helpers (lib/base/iov.h).
 *
 * Theory of operation: every function walks the list with a cursor
 * (entry index + byte offset inside it), skipping @offset bytes first, and
 * copies at most the bytes both sides have. Zero-length entries are passed
 * over without touching their base (which may be NULL: memcpy() with a NULL
 * pointer is undefined even for 0 bytes). No allocation, no failure modes
 * other than "fewer bytes copied"; a caller that needs all @len bytes
 * compares the return value.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "base/iov.h"

/* A position inside an iovec list. */
struct iov_cursor {
	const struct iovec *iov;
	unsigned n;
	unsigned i; /* current entry */
	size_t off; /* bytes of iov[i] already passed */
};

/* Start @c at byte @offset of the list (at the end when the list has
 * fewer bytes); it never rests on an exhausted entry. */
static void cursor_init(struct iov_cursor *c, const struct iovec *iov, unsigned n, size_t offset)
{
	c->iov = iov;
	c->n = n;
	c->i = 0;
	c->off = 0;
	while (c->i < n && offset >= iov[c->i].iov_len) {
		offset -= iov[c->i].iov_len;
		c->i++;
	}
	if (c->i < n)
		c->off = offset;
}

/* Contiguous bytes available at the cursor (0 at the end), after moving
 * past exhausted and zero-length entries. */
static size_t cursor_avail(struct iov_cursor *c)
{
	while (c->i < c->n && c->off >= c->iov[c->i].iov_len) {
		c->i++;
		c->off = 0;
	}
	return c->i < c->n ? c->iov[c->i].iov_len - c->off : 0;
}

static uint8_t *cursor_ptr(const struct iov_cursor *c)
{
	return (uint8_t *)c->iov[c->i].iov_base + c->off;
}

/**
 * iov_size() - total bytes of @iov[0..n).
 * Return: the sum of the lengths (the caller's lists are bounded well below
 * SIZE_MAX; a sum that would wrap saturates at SIZE_MAX).
 */
size_t iov_size(const struct iovec *iov, unsigned n)
{
	size_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		if (__builtin_add_overflow(total, iov[i].iov_len, &total))
			return SIZE_MAX;
	}
	return total;
}

/**
 * iov_to_buf() - copy out of an iovec list.
 * Return: bytes copied into @dst (< @len when the list ends first).
 */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *dst, size_t len)
{
	struct iov_cursor c;
	size_t done = 0, avail;

	cursor_init(&c, iov, n, offset);
	while (done < len && (avail = cursor_avail(&c)) > 0) {
		size_t k = avail < len - done ? avail : len - done;
		memcpy((uint8_t *)dst + done, cursor_ptr(&c), k);
		c.off += k;
		done += k;
	}
	return done;
}

/**
 * iov_from_buf() - copy into an iovec list.
 * Return: bytes copied from @src (< @len when the list ends first).
 */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *src, size_t len)
{
	struct iov_cursor c;
	size_t done = 0, avail;

	cursor_init(&c, iov, n, offset);
	while (done < len && (avail = cursor_avail(&c)) > 0) {
		size_t k = avail < len - done ? avail : len - done;
		memcpy(cursor_ptr(&c), (const uint8_t *)src + done, k);
		c.off += k;
		done += k;
	}
	return done;
}

/**
 * iov_copy() - copy between two iovec lists. The lists must not overlap
 * (memcpy); guest buffers that alias each other give unspecified bytes but
 * never an access outside either list.
 * Return: bytes copied (stops at the shorter side or @len).
 */
size_t iov_copy(const struct iovec *dst, unsigned dst_n, size_t dst_off, const struct iovec *src,
		unsigned src_n, size_t src_off, size_t len)
{
	struct iov_cursor d, s;
	size_t done = 0;

	cursor_init(&d, dst, dst_n, dst_off);
	cursor_init(&s, src, src_n, src_off);
	while (done < len) {
		size_t da = cursor_avail(&d), sa = cursor_avail(&s);
		size_t k = da < sa ? da : sa;
		if (k == 0)
			break;
		if (k > len - done)
			k = len - done;
		memmove(cursor_ptr(&d), cursor_ptr(&s), k);
		d.off += k;
		s.off += k;
		done += k;
	}
	return done;
}

/**
 * iov_tail() - the part of a list from @offset on.
 * Entries after the first one are copied as they are (zero-length ones
 * included); an @offset at or past the end gives an empty list.
 * Return: the number of entries written to @out, or -1 when @cap is too
 * small (then @out holds the first @cap of them).
 */
int iov_tail(const struct iovec *iov, unsigned n, size_t offset, struct iovec *out, unsigned cap)
{
	struct iov_cursor c;
	unsigned k = 0;

	cursor_init(&c, iov, n, offset);
	for (unsigned i = c.i; i < n; i++) {
		if (k >= cap || k >= INT_MAX)
			return -1;
		out[k] = iov[i];
		if (i == c.i) {
			out[k].iov_base = (uint8_t *)iov[i].iov_base + c.off;
			out[k].iov_len -= c.off;
		}
		k++;
	}
	return (int)k;
}
