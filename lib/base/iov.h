/* SPDX-License-Identifier: MIT */
/*
 * iovec helpers for moving bytes between guest buffers (iovec lists) and
 * flat buffers. Pure functions, no allocation; lengths are size_t and every
 * copy stops at the shorter side.
 */
#ifndef VQNET_BASE_IOV_H
#define VQNET_BASE_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Total bytes of @iov[0..n). */
size_t iov_size(const struct iovec *iov, unsigned n);
/* Copy up to @len bytes starting @offset bytes into @iov to @dst. Return
 * the bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *dst, size_t len);
/* Copy up to @len bytes from @src into @iov starting @offset bytes in.
 * Return the bytes copied. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *src,
		    size_t len);
/* Copy up to @len bytes from @src (from @src_off on) to @dst (from @dst_off
 * on). Return the bytes copied. */
size_t iov_copy(const struct iovec *dst, unsigned dst_n, size_t dst_off, const struct iovec *src,
		unsigned src_n, size_t src_off, size_t len);
/* Fill @out (capacity @cap) with the part of @iov that starts @offset bytes
 * in (the first entry shortened). Return the number of entries, or -1 when
 * @cap is too small. */
int iov_tail(const struct iovec *iov, unsigned n, size_t offset, struct iovec *out, unsigned cap);

#endif
