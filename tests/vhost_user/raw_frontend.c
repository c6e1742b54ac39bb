/* SPDX-License-Identifier: MIT */
/* A raw vhost-user frontend for the backend tests (raw_frontend.h). */
#include "raw_frontend.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

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

int rf_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

void rf_sock_dir(char *dir, char *path, size_t path_size, const char *tmpl)
{
	strcpy(dir, tmpl);
	assert_non_null(mkdtemp(dir));
	snprintf(path, path_size, "%s/sock", dir);
}

void rf_sock_dir_remove(const char *dir, const char *path)
{
	unlink(path);
	rmdir(dir);
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

int rf_connect(struct vu_backend *b, const char *path)
{
	int s = rf_connect_to(path);
	assert_int_equal(vu_backend_dispatch(b), 0);
	assert_true(vu_backend_connected(b));
	return s;
}

int rf_req_fds(int sock, struct vu_backend *b, uint32_t request, uint32_t flags,
	       const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	struct vu_msg m = {
		.hdr = {.request = request, .flags = VHOST_USER_VERSION | flags, .size = size}};
	if (size)
		memcpy(m.payload.raw, payload, size);
	for (unsigned i = 0; i < nfds; i++)
		m.fds[i] = fds[i];
	m.nfds = nfds;
	assert_int_equal(vu_msg_send(sock, &m), 0);
	return vu_backend_dispatch(b);
}

int rf_set_mem_table(int sock, struct vu_backend *b, uint64_t gpa, uint64_t bytes, const void *mem,
		     int memfd)
{
	struct vhost_user_memory m = {.nregions = 1};
	m.regions[0] = (struct vhost_user_mem_region){.guest_phys_addr = gpa,
						      .memory_size = bytes,
						      .userspace_addr = (uintptr_t)mem,
						      .mmap_offset = 0};
	return rf_req_fds(sock, b, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &memfd, 1);
}

void rf_hang_up(int sock, struct vu_backend *b)
{
	close(sock);
	assert_int_equal(vu_backend_dispatch(b), -ECONNRESET);
}
