/* SPDX-License-Identifier: MIT */
/*
 * vqnet guest memory: a table of regions and bounds-checked translation.
 *
 * A table is immutable once built and reference counted. Changes (a new
 * SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG) build a new table and swap it in
 * at a point the owner chooses; workers keep using the table they hold until
 * they drop it, so no lock and no atomic operation sits on the packet path.
 * A region's host mapping is itself reference counted, so a region that
 * survives from one table to the next is never unmapped or remapped, and the
 * mapping goes away with the last table that uses it.
 *
 * Threading: building, get and put may run on any thread. Translation reads
 * only immutable data and may run concurrently on any number of threads.
 *
 * Errors are negative errno values:
 *   -EINVAL    bad argument (size 0, region count out of range)
 *   -EOVERFLOW gpa + size (or uva + size) wraps 64 bits
 *   -EEXIST    region overlaps another (guest-physical or user address)
 *   -EFAULT    address range not wholly inside the map
 *   -ENOBUFS   a range needs more iovecs than the caller gave
 *   -ENOENT    no such region to remove
 *   -ENOMEM    allocation failed (set-up only)
 */
#ifndef VQNET_GMEM_H
#define VQNET_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most regions one table holds: what vhost-user backends advertise with
 * VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS at the most (QEMU's limit). */
#define GMEM_MAX_REGIONS 509u

/* Page size of the dirty log (vhost-user VHOST_LOG_PAGE). */
#define GMEM_LOG_PAGE 4096u

/* What a caller gives to describe one region. */
struct gmem_region_desc {
	uint64_t gpa;  /* guest physical address of the first byte */
	uint64_t size; /* bytes, > 0 */
	void *hva;     /* host address of gpa in this process */
	uint64_t uva;  /* the frontend's user address of gpa (vhost-user ring
			  addresses are given in it); 0 = same as gpa unused */
	/*
	 * Optional ownership of the host mapping. When mmap_base is not NULL,
	 * the table takes ownership on success: munmap(mmap_base, mmap_len)
	 * and close(fd) (if fd >= 0) run when the last table using the region
	 * is put. On failure nothing is taken and the caller still owns it.
	 * fd is looked at only when mmap_base is set.
	 */
	void *mmap_base;
	size_t mmap_len;
	int fd;
};

/* One region as stored; read-only for users. */
struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint8_t *hva;
	struct gmem_mapping *mapping; /* internal: refcounted host mapping, may be NULL */
};

struct gmem_table;

/**
 * gmem_table_new() - build a table from @n region descriptions.
 * @regions: array of @n descriptions, n <= GMEM_MAX_REGIONS (0 is allowed:
 *           an empty map that refuses every address).
 * @out: receives the table with one reference owned by the caller.
 *
 * Refuses empty, wrapping and overlapping regions (in gpa and in uva).
 * Return: 0 or a negative errno; on error *out is untouched and no
 * ownership was taken.
 */
int gmem_table_new(const struct gmem_region_desc *regions, unsigned n, struct gmem_table **out);

/**
 * gmem_table_add() - a new table: @old's regions plus @region.
 * @old: may be NULL (the empty table). It is not modified and keeps its
 *       reference; regions shared with the new table are not remapped.
 * Return: 0 or -errno (-ENOSPC when @old is full, plus those of _new()).
 */
int gmem_table_add(const struct gmem_table *old, const struct gmem_region_desc *region,
		   struct gmem_table **out);

/**
 * gmem_table_remove() - a new table: @old without the region that starts
 * at @gpa with @size bytes (vhost-user REM_MEM_REG matches on both).
 * Return: 0, -ENOENT if no region matches, or -ENOMEM.
 */
int gmem_table_remove(const struct gmem_table *old, uint64_t gpa, uint64_t size,
		      struct gmem_table **out);

/* Reference counting. put() on the last reference frees the table and
 * releases the mappings no other table uses. NULL is accepted by put(). */
struct gmem_table *gmem_table_get(struct gmem_table *t);
void gmem_table_put(struct gmem_table *t);

unsigned gmem_table_nregions(const struct gmem_table *t);
/* Regions sorted by gpa; @i < gmem_table_nregions(). */
const struct gmem_region *gmem_table_region(const struct gmem_table *t, unsigned i);

/**
 * gmem_translate() - map [gpa, gpa + len) to host iovecs.
 * @hint: optional last-hit cache (a region index owned by the caller,
 *        start it at 0); makes the common case one compare.
 *
 * A range crossing from one region into a gpa-adjacent one is split into one
 * iovec per region. len == 0 yields 0 iovecs and touches nothing.
 * Return: number of iovecs written (<= @iov_cap), or -EFAULT, -EOVERFLOW,
 * -ENOBUFS; on error the contents of @iov are unspecified.
 */
int gmem_translate(const struct gmem_table *t, uint64_t gpa, uint64_t len, struct iovec *iov,
		   unsigned iov_cap, uint32_t *hint);

/**
 * gmem_ptr() - host pointer for [gpa, gpa + len) when it lies wholly inside
 * one region; NULL otherwise (also on overflow). len must be > 0.
 */
void *gmem_ptr(const struct gmem_table *t, uint64_t gpa, uint64_t len, uint32_t *hint);

/**
 * gmem_uva_to_gpa() - convert a frontend user address to a guest physical
 * one, requiring [uva, uva + len) inside one region.
 * Return: 0 or -EFAULT / -EOVERFLOW.
 */
int gmem_uva_to_gpa(const struct gmem_table *t, uint64_t uva, uint64_t len, uint64_t *gpa);

/**
 * gmem_read() / gmem_write() - copy between guest memory and a host buffer,
 * crossing region boundaries as needed. The whole range is checked before
 * any byte is copied. Return: 0 or -EFAULT / -EOVERFLOW.
 */
int gmem_read(const struct gmem_table *t, uint64_t gpa, void *dst, size_t len, uint32_t *hint);
int gmem_write(const struct gmem_table *t, uint64_t gpa, const void *src, size_t len,
	       uint32_t *hint);

/**
 * gmem_log_dirty() - mark the pages of [gpa, gpa + len) in a vhost-user
 * dirty log: bit (gpa / GMEM_LOG_PAGE) of @bitmap, set atomically because
 * the frontend reads and clears it concurrently. Pages beyond @bitmap_bytes
 * are ignored (the frontend sized the log).
 */
void gmem_log_dirty(uint8_t *bitmap, uint64_t bitmap_bytes, uint64_t gpa, uint64_t len);

#ifdef __cplusplus
}
#endif
#endif
