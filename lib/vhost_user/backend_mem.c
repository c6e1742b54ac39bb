/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: the memory table (SET_MEM_TABLE, ADD_MEM_REG,
 * REM_MEM_REG) and the dirty log (SET_LOG_BASE, SET_LOG_FD).
 * Theory of operation: backend.c.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "backend_internal.h"

void vu_be_unmap_log(struct vu_backend *b)
{
	if (b->log_map)
		munmap(b->log_map, b->log_map_len);
	b->log_map = NULL;
	b->log_map_len = 0;
	b->log_bitmap = NULL;
	b->log_bytes = 0;
}

/* Swap in a new memory table (the reference is handed over). */
int vu_be_swap_mem(struct vu_backend *b, struct gmem_table *mem, const char **why)
{
	vu_be_pause_rings(b);
	struct gmem_table *old = b->mem;
	b->mem = mem;
	int rc = vu_be_resume_rings(b, why);
	gmem_table_put(old);
	return rc;
}

/* ------------------------------------------------------------------------
 * Handlers: memory and dirty log
 * ------------------------------------------------------------------------ */

/*
 * map_region() - validate one region description and map its fd
 * (HOSTILE F9): size > 0, no wrap of gpa + size, uva + size and
 * mmap_offset + size, and mmap_offset + size within the file. On success
 * @d owns the mapping and @fd. On failure @fd is still the caller's and @d
 * holds nothing (no mapping, fd -1).
 */
static int map_region(const struct vhost_user_mem_region *r, int fd, struct gmem_region_desc *d,
		      const char **why)
{
	uint64_t end;
	*d = (struct gmem_region_desc){.fd = -1};
	if (r->memory_size == 0) {
		*why = "memory region of size 0";
		return -EINVAL;
	}
	if (__builtin_add_overflow(r->guest_phys_addr, r->memory_size, &end) ||
	    __builtin_add_overflow(r->userspace_addr, r->memory_size, &end) ||
	    __builtin_add_overflow(r->mmap_offset, r->memory_size, &end) || end > SIZE_MAX) {
		*why = "memory region wraps";
		return -EINVAL;
	}
	/* The host address of a guest address keeps its low bits only when
	 * the fd offset and the guest address agree modulo a cache line;
	 * otherwise a ring that is aligned in guest memory would be misaligned
	 * in ours (found by the backend fuzzer; HOSTILE F9). */
	if ((r->mmap_offset ^ r->guest_phys_addr) & 63) {
		*why = "memory region offset not aligned like its guest address";
		return -EINVAL;
	}
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*why = "memory region fd unusable";
		return -EINVAL;
	}
	if (st.st_size < 0 || end > (uint64_t)st.st_size) {
		*why = "memory region beyond the end of its fd";
		return -EINVAL;
	}
	void *base = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*why = "mmap of a memory region failed";
		return -errno;
	}
	*d = (struct gmem_region_desc){.gpa = r->guest_phys_addr,
				       .size = r->memory_size,
				       .hva = (uint8_t *)base + r->mmap_offset,
				       .uva = r->userspace_addr,
				       .mmap_base = base,
				       .mmap_len = (size_t)end,
				       .fd = fd};
	return 0;
}

static void unmap_region(struct gmem_region_desc *d)
{
	munmap(d->mmap_base, d->mmap_len);
	close_fd(&d->fd);
}

static const char *gmem_why(int rc)
{
	switch (rc) {
	case -EEXIST:
		return "memory regions overlap";
	case -EOVERFLOW:
		return "memory region wraps";
	case -ENOSPC:
		return "too many memory regions";
	case -ENOENT:
		return "no such memory region";
	case -ENOMEM:
		return "out of memory";
	default:
		return "memory table refused";
	}
}

int vu_be_set_mem_table(struct vu_backend *b, struct req_ctx *c)
{
	struct vu_msg *m = c->m;
	const struct vhost_user_memory *mem = &m->payload.memory;
	uint32_t n = mem->nregions;
	if (n == 0 || n > VHOST_MEMORY_BASELINE_NREGIONS)
		return fail(c, -EINVAL, "region count out of range");
	if (n != m->nfds)
		return fail(c, -EINVAL, "region count differs from the fd count");
	if (m->hdr.size <
	    offsetof(struct vhost_user_memory, regions) + (uint64_t)n * sizeof(mem->regions[0]))
		return fail(c, -EINVAL, "message too short for its regions");

	struct gmem_region_desc d[VHOST_MEMORY_BASELINE_NREGIONS];
	unsigned mapped = 0;
	int rc = 0;
	for (; mapped < n; mapped++) {
		rc = map_region(&mem->regions[mapped], m->fds[mapped], &d[mapped], &c->why);
		if (rc)
			goto err_unmap;
	}
	struct gmem_table *t;
	rc = gmem_table_new(d, n, &t);
	if (rc) {
		c->why = gmem_why(rc);
		goto err_unmap;
	}
	for (unsigned i = 0; i < n; i++)
		m->fds[i] = -1; /* owned by the table now */
	b->n_mem_dups = 0;	/* a new table: nothing repeated in it */
	return vu_be_swap_mem(b, t, &c->why);

err_unmap:
	/* The fds stay in the message (the dispatcher closes them). */
	while (mapped--)
		munmap(d[mapped].mmap_base, d[mapped].mmap_len);
	return rc;
}

/* The index of the region of the table exactly equal to @r, or -1. */
static int find_same_region(const struct vu_backend *b, const struct vhost_user_mem_region *r)
{
	for (unsigned i = 0; b->mem && i < gmem_table_nregions(b->mem); i++) {
		const struct gmem_region *g = gmem_table_region(b->mem, i);
		if (g->gpa == r->guest_phys_addr && g->size == r->memory_size &&
		    g->uva == r->userspace_addr)
			return (int)i;
	}
	return -1;
}

static struct mem_dup *find_dup(struct vu_backend *b, const struct vhost_user_mem_region *r)
{
	for (unsigned i = 0; i < b->n_mem_dups; i++)
		if (b->mem_dups[i].gpa == r->guest_phys_addr &&
		    b->mem_dups[i].size == r->memory_size &&
		    b->mem_dups[i].uva == r->userspace_addr)
			return &b->mem_dups[i];
	return NULL;
}

int vu_be_add_mem_reg(struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_user_mem_region *r = &c->m->payload.mem_reg.region;
	struct gmem_region_desc d;
	int fd = take_fd(c->m);
	if (find_same_region(b, r) >= 0) {
		/* The same region again (QEMU 7.2, one vhost device per queue
		 * pair): already mapped; count it. */
		struct mem_dup *dup = find_dup(b, r);
		close_fd(&fd);
		if (!dup) {
			if (b->n_mem_dups == VU_MAX_MEM_SLOTS)
				return fail(c, -ENOSPC, "too many repeated regions");
			dup = &b->mem_dups[b->n_mem_dups++];
			*dup = (struct mem_dup){r->guest_phys_addr, r->memory_size,
						r->userspace_addr, 0};
		}
		dup->extra++;
		return 0;
	}
	int rc = map_region(r, fd, &d, &c->why);
	if (rc) {
		close_fd(&fd);
		return rc;
	}
	struct gmem_table *t;
	rc = gmem_table_add(b->mem, &d, &t);
	if (rc) {
		unmap_region(&d);
		return fail(c, rc, gmem_why(rc));
	}
	return vu_be_swap_mem(b, t, &c->why);
}

int vu_be_rem_mem_reg(struct vu_backend *b, struct req_ctx *c)
{
	/* The fd REM_MEM_REG may carry is closed by the dispatcher. */
	const struct vhost_user_mem_region *r = &c->m->payload.mem_reg.region;
	if (!b->mem)
		return fail(c, -EINVAL, "no memory table");
	struct mem_dup *dup = find_dup(b, r);
	if (dup && dup->extra) {
		dup->extra--; /* added more than once: still in use */
		if (!dup->extra)
			*dup = b->mem_dups[--b->n_mem_dups];
		return 0;
	}
	struct gmem_table *t;
	int rc = gmem_table_remove(b->mem, r->guest_phys_addr, r->memory_size, &t);
	if (rc)
		return fail(c, rc == -ENOENT ? -EINVAL : rc, gmem_why(rc));
	/* HOSTILE F14: rings are stopped before the old table (and with it
	 * the region) is dropped, and only restart if still inside memory. */
	return vu_be_swap_mem(b, t, &c->why);
}

/* SET_LOG_BASE (LOG_SHMFD): map the dirty bitmap; reply u64 0 when done. */
int vu_be_set_log_base(struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_user_log *lg = &c->m->payload.log;
	if (!has_protocol(b, VHOST_USER_PROTOCOL_F_LOG_SHMFD))
		return fail(c, -EPROTO, "LOG_SHMFD not negotiated");
	uint64_t end;
	if (lg->mmap_size == 0 || __builtin_add_overflow(lg->mmap_offset, lg->mmap_size, &end) ||
	    end > SIZE_MAX)
		return fail(c, -EINVAL, "log size or offset out of range");
	int fd = c->m->nfds ? c->m->fds[0] : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 0 || end > (uint64_t)st.st_size)
		return fail(c, -EINVAL, "log beyond the end of its fd");
	void *map = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return fail(c, -errno, "mmap of the log failed");
	/* Writers of the old log are the rings' devices: quiesce them. */
	vu_be_pause_rings(b);
	vu_be_unmap_log(b);
	b->log_map = map;
	b->log_map_len = (size_t)end;
	b->log_bitmap = (uint8_t *)map + lg->mmap_offset;
	b->log_bytes = lg->mmap_size;
	int rc = vu_be_resume_rings(b, &c->why);
	if (rc)
		return rc;
	return vu_be_reply_u64(c, 0);
}

int vu_be_set_log_fd(struct vu_backend *b, struct req_ctx *c)
{
	int fd = take_fd(c->m);
	if (fd < 0)
		return fail(c, -EINVAL, "no fd");
	close_fd(&b->log_fd);
	b->log_fd = fd;
	return 0;
}
