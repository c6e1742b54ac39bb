/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: inflight I/O tracking (vhost-user.rst "Inflight I/O
 * tracking", VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): GET_INFLIGHT_FD and
 * SET_INFLIGHT_FD. Theory of operation: backend.c.
 *
 * The buffer is num_queues regions, one per ring in index order, each of
 * vq_inflight_split_bytes(queue_size) (QueueRegionSplit) or, with
 * VIRTIO_F_RING_PACKED negotiated, vq_inflight_packed_bytes(queue_size)
 * (QueueRegionPacked). The request does not say the ring format; the
 * negotiated features do (QEMU sends SET_FEATURES before GET_INFLIGHT_FD
 * for that reason, as DPDK sizes it too). GET_INFLIGHT_FD allocates it (a
 * memfd, zeroed: version 0 = not initialised) and hands the fd to the
 * frontend, which keeps it and gives it back with SET_INFLIGHT_FD to the
 * backend of the next connection, after a crash. The mapping is held per
 * connection; every ring, split or packed, with or without IN_ORDER, gets
 * its region at start (vq_set_inflight(), which recovers the chains still
 * in flight); the regions' stride follows the ring's format then, and a
 * buffer too small for it (features changed since) refuses the ring.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../spec/vq_inflight.h"
#include "backend_internal.h"

void vu_be_unmap_inflight(struct vu_backend *b)
{
	if (b->infl_map)
		munmap(b->infl_map, b->infl_map_len);
	b->infl_map = NULL;
	b->infl_map_len = 0;
	b->infl_base = NULL;
	b->infl_num_queues = 0;
	b->infl_queue_size = 0;
}

/* One ring's region for @queue_size entries in the format @packed. */
static uint64_t region_bytes(bool packed, uint32_t queue_size)
{
	return packed ? vq_inflight_packed_bytes(queue_size) : vq_inflight_split_bytes(queue_size);
}

/* Queue count and size of a request (HOSTILE F16): 1..num_queues rings of
 * 1..max entries. Return: the bytes the buffer needs for the ring format
 * negotiated so far, or 0. */
static uint64_t inflight_bytes(const struct vu_backend *b, const struct vhost_user_inflight *in)
{
	uint32_t max = max_queue_size(b);
	if (in->num_queues == 0 || in->num_queues > b->cfg.num_queues || in->queue_size == 0 ||
	    in->queue_size > max)
		return 0;
	bool packed = vq_has_feature(b->features, VIRTIO_F_RING_PACKED);
	return in->num_queues * region_bytes(packed, in->queue_size);
}

static void inflight_install(struct vu_backend *b, void *map, size_t len, uint64_t offset,
			     const struct vhost_user_inflight *in)
{
	vu_be_unmap_inflight(b);
	b->infl_map = map;
	b->infl_map_len = len;
	b->infl_base = (uint8_t *)map + offset;
	b->infl_num_queues = in->num_queues;
	b->infl_queue_size = in->queue_size;
}

/* GET_INFLIGHT_FD: a new zeroed buffer for the rings the frontend names;
 * the reply carries its size and the fd. */
int vu_be_get_inflight_fd(struct vu_backend *b, struct req_ctx *c)
{
	struct vhost_user_inflight *in = &c->m->payload.inflight;
	uint64_t bytes = inflight_bytes(b, in);
	if (!bytes)
		return fail(c, -EINVAL, "inflight queue count or size out of range");
	if (vu_be_any_ring_started(b))
		return fail(c, -EBUSY, "inflight buffer changed while rings run");
	int fd = memfd_create("vqnet-inflight", MFD_CLOEXEC);
	if (fd < 0)
		return fail(c, -errno, "memfd_create for the inflight buffer failed");
	if (ftruncate(fd, (off_t)bytes) < 0) {
		int rc = -errno;
		close(fd);
		return fail(c, rc, "sizing the inflight buffer failed");
	}
	void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int rc = -errno;
		close(fd);
		return fail(c, rc, "mmap of the inflight buffer failed");
	}
	inflight_install(b, map, bytes, 0, in);
	in->mmap_size = bytes;
	in->mmap_offset = 0;
	vu_msg_make_reply(c->m, sizeof(*in));
	c->reply = true;
	c->reply_fd = fd; /* sent with the reply, then closed */
	return 0;
}

/* SET_INFLIGHT_FD: map the buffer the frontend kept (HOSTILE F16: counts,
 * sizes and the fd's length checked; the content is checked per ring at
 * start by vq_set_inflight()). */
int vu_be_set_inflight_fd(struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_user_inflight *in = &c->m->payload.inflight;
	uint64_t bytes = inflight_bytes(b, in), end;
	if (!bytes)
		return fail(c, -EINVAL, "inflight queue count or size out of range");
	if (in->mmap_size < bytes)
		return fail(c, -EINVAL, "inflight buffer too small for its queues");
	if (__builtin_add_overflow(in->mmap_offset, in->mmap_size, &end) || end > SIZE_MAX)
		return fail(c, -EINVAL, "inflight buffer size or offset out of range");
	/* Queue regions hold 8-byte fields at 64-byte aligned offsets. */
	if (in->mmap_offset & 63)
		return fail(c, -EINVAL, "inflight buffer offset not 64-byte aligned");
	if (vu_be_any_ring_started(b))
		return fail(c, -EBUSY, "inflight buffer changed while rings run");
	int fd = c->m->nfds ? c->m->fds[0] : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 0 || end > (uint64_t)st.st_size)
		return fail(c, -EINVAL, "inflight buffer beyond the end of its fd");
	void *map = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return fail(c, -errno, "mmap of the inflight buffer failed");
	inflight_install(b, map, (size_t)end, in->mmap_offset, in);
	return 0; /* the fd is closed by the dispatcher; the mapping stays */
}

/*
 * vu_be_vring_set_inflight() - give the new vq of ring @i its region, if
 * an inflight buffer is set, covers the ring and has its size; any ring
 * format, with or without IN_ORDER. Return: 0 or -EINVAL with *why set
 * (the buffer is too small for the ring's format, or the region's content
 * was refused).
 */
int vu_be_vring_set_inflight(struct vu_backend *b, unsigned i, const char **why)
{
	struct vring_slot *s = &b->vrings[i];
	if (!s->vq)
		return 0;
	/* The frontend's buffer if it keeps one for this ring, else ours. */
	if (!b->infl_base || i >= b->infl_num_queues)
		return b->cfg.state ? vu_be_state_attach(b, i, why) : 0;
	if (s->num != b->infl_queue_size) {
		*why = "inflight queue size differs from the ring size";
		return -EINVAL;
	}
	uint64_t region =
		region_bytes(vq_get_format(s->vq) == VQ_FORMAT_PACKED, b->infl_queue_size);
	uint64_t mapped = b->infl_map_len - (uint64_t)(b->infl_base - (uint8_t *)b->infl_map);
	if ((uint64_t)(i + 1) * region > mapped) {
		*why = "inflight buffer too small for the ring format";
		return -EINVAL;
	}
	int rc = vq_set_inflight(s->vq, b->infl_base + i * region, region);
	if (rc) {
		*why = "inflight region refused";
		return -EINVAL;
	}
	return 0;
}
