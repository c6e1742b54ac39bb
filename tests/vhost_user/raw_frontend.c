/* SPDX-License-Identifier: MIT */
/* A raw vhost-user frontend for the backend tests (raw_frontend.h). */
#include "raw_frontend.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "spec/virtio_ring.h"
#include "vhost_user/msg.h"

static int qdev_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct rf_qdev *d = opaque;
	assert_int_equal(vr->index, 0);
	assert_null(d->vq);
	d->vq = vr->vq;
	d->starts++;
	return 0;
}

static void qdev_queue_stop(void *opaque, unsigned index)
{
	struct rf_qdev *d = opaque;
	assert_int_equal(index, 0);
	assert_non_null(d->vq);
	d->vq = NULL;
	d->stops++;
}

const struct vu_device_ops rf_qdev_ops = {
	.queue_start = qdev_queue_start,
	.queue_stop = qdev_queue_stop,
};

void rf_open(struct rf *r, const char *tmpl, const struct vu_backend_config *cfg,
	     const struct vu_device_ops *ops, void *dev)
{
	struct vu_backend_config c = *cfg;
	assert_true(strlen(tmpl) < sizeof(r->dir));
	strcpy(r->dir, tmpl);
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/sock", r->dir);
	c.socket_path = r->path;
	assert_int_equal(vu_backend_new(&c, ops, dev, &r->b), 0);
	r->mem = rf_memfd_map("guest", MEM_BYTES, &r->memfd);
	r->sock = -1;
}

void rf_close(struct rf *r)
{
	if (r->sock >= 0)
		close(r->sock);
	r->sock = -1;
	vu_backend_free(r->b);
	munmap(r->mem, MEM_BYTES);
	close(r->memfd);
	unlink(r->path);
	rmdir(r->dir);
}

uint8_t *rf_memfd_map(const char *name, size_t bytes, int *fd)
{
	*fd = memfd_create(name, MFD_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)bytes), 0);
	uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

int rf_connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return s;
}

void rf_connect(struct rf *r)
{
	r->sock = rf_connect_to(r->path);
	assert_int_equal(vu_backend_dispatch(r->b), 0);
	assert_true(vu_backend_connected(r->b));
}

void rf_connect_negotiate(struct rf *r, uint64_t protocol_features, uint64_t features)
{
	rf_connect(r);
	assert_int_equal(rf_req_u64(r, VHOST_USER_SET_PROTOCOL_FEATURES, protocol_features), 0);
	assert_int_equal(
		rf_req_u64(r, VHOST_USER_SET_FEATURES, (1ull << VIRTIO_F_VERSION_1) | features), 0);
	assert_int_equal(rf_req(r, VHOST_USER_SET_OWNER, NULL, 0), 0);
}

int rf_req_fds(struct rf *r, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	       const int *fds, unsigned nfds)
{
	struct vu_msg m = {
		.hdr = {.request = request, .flags = VHOST_USER_VERSION | flags, .size = size}};
	if (size)
		memcpy(m.payload.raw, payload, size);
	for (unsigned i = 0; i < nfds; i++)
		m.fds[i] = fds[i];
	m.nfds = nfds;
	assert_int_equal(vu_msg_send(r->sock, &m), 0);
	return vu_backend_dispatch(r->b);
}

int rf_req(struct rf *r, uint32_t request, const void *payload, uint32_t size)
{
	return rf_req_fds(r, request, 0, payload, size, NULL, 0);
}

int rf_req_u64(struct rf *r, uint32_t request, uint64_t v)
{
	return rf_req(r, request, &v, sizeof(v));
}

int rf_req_state(struct rf *r, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = {.index = index, .num = num};
	return rf_req(r, request, &s, sizeof(s));
}

int rf_set_mem_table(struct rf *r)
{
	struct vhost_user_memory m = {.nregions = 1};
	m.regions[0] = (struct vhost_user_mem_region){.guest_phys_addr = MEM_GPA,
						      .memory_size = MEM_BYTES,
						      .userspace_addr = (uintptr_t)r->mem,
						      .mmap_offset = 0};
	return rf_req_fds(r, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &r->memfd, 1);
}

int rf_set_ring_addr(struct rf *r, uint32_t flags, uint64_t log_gpa)
{
	uint64_t base = (uintptr_t)r->mem;
	struct vhost_vring_addr a = {.index = 0,
				     .flags = flags,
				     .desc_user_addr = base + DESC_OFF,
				     .avail_user_addr = base + AVAIL_OFF,
				     .used_user_addr = base + USED_OFF,
				     .log_guest_addr = log_gpa};
	return rf_req(r, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a));
}

int rf_kick(struct rf *r, unsigned index, int efd)
{
	uint64_t v = index;
	return rf_req_fds(r, VHOST_USER_SET_VRING_KICK, 0, &v, sizeof(v), &efd, 1);
}

void rf_hang_up(struct rf *r)
{
	close(r->sock);
	r->sock = -1;
	assert_int_equal(vu_backend_dispatch(r->b), -ECONNRESET);
}

void rf_drv_init(struct rf_drv *d)
{
	*d = (struct rf_drv){.kick = eventfd(0, EFD_CLOEXEC), .wrap = true};
	d->e.iov = d->iov;
	d->e.iov_cap = 4;
}

void rf_drv_fini(struct rf_drv *d)
{
	close(d->kick);
}

void rf_qdev_open(struct rf *r, struct rf_qdev *dev, struct rf_drv *drv, const char *tmpl,
		  uint64_t device_features, uint32_t max_queue_size)
{
	struct vu_backend_config cfg = {
		.num_queues = 1,
		.device_features = device_features,
		.max_queue_size = max_queue_size,
	};
	rf_open(r, tmpl, &cfg, &rf_qdev_ops, dev);
	rf_drv_init(drv);
}

void rf_qdev_close(struct rf *r, struct rf_drv *drv)
{
	rf_close(r);
	rf_drv_fini(drv);
}

void rf_drv_add_split(struct rf *r, struct rf_drv *d, uint16_t id, uint64_t gpa)
{
	struct virtq_desc *desc = (struct virtq_desc *)(r->mem + DESC_OFF) + id;
	struct virtq_avail *avail = (struct virtq_avail *)(r->mem + AVAIL_OFF);
	*desc = (struct virtq_desc){.addr = gpa, .len = 64, .flags = VIRTQ_DESC_F_WRITE};
	avail->ring[d->avail_idx % QSIZE] = id;
	__atomic_store_n(&avail->idx, ++d->avail_idx, __ATOMIC_RELEASE);
}

void rf_drv_add_packed(struct rf *r, struct rf_drv *d, uint16_t id, uint64_t gpa, unsigned ndesc)
{
	struct pvirtq_desc *ring = (struct pvirtq_desc *)(r->mem + DESC_OFF);
	uint16_t head_pos = d->pos, head_flags = 0;
	for (unsigned k = 0; k < ndesc; k++) {
		uint16_t flags = VIRTQ_DESC_F_WRITE | (k + 1 < ndesc ? VIRTQ_DESC_F_NEXT : 0) |
				 (d->wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED);
		ring[d->pos] = (struct pvirtq_desc){.addr = gpa + k * 64u, .len = 64, .id = id};
		if (k == 0)
			head_flags = flags;
		else
			ring[d->pos].flags = flags;
		if (++d->pos == QSIZE) {
			d->pos = 0;
			d->wrap = !d->wrap;
		}
	}
	__atomic_store_n(&ring[head_pos].flags, head_flags, __ATOMIC_RELEASE);
}
