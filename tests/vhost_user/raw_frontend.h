/* SPDX-License-Identifier: MIT */
/*
 * A raw vhost-user frontend for the backend tests (test_backend.c,
 * test_dirty_log.c, test_inflight.c): the test holds one end of a real
 * Unix socket, sends hand-built messages and calls vu_backend_dispatch()
 * itself, all on one thread. Failures are cmocka assertions.
 */
#ifndef VQNET_TESTS_VHOST_USER_RAW_FRONTEND_H
#define VQNET_TESTS_VHOST_USER_RAW_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include <vqnet/vhost_user.h>

/* A device with one queue that only records the vq it was started with. */
struct rf_qdev {
	struct vq *vq;
	unsigned starts, stops;
};

/* queue_start / queue_stop of an rf_qdev (opaque), queue 0 only. */
extern const struct vu_device_ops rf_qdev_ops;

/* Open fds of the process (entries of /proc/self/fd), -1 on error. */
int rf_count_fds(void);

/* mkdtemp() of a copy of @tmpl in @dir (large enough for it), and the
 * socket path "<dir>/sock" in @path of @path_size bytes. */
void rf_sock_dir(char *dir, char *path, size_t path_size, const char *tmpl);

/* Remove the socket @path and its directory @dir. */
void rf_sock_dir_remove(const char *dir, const char *path);

/* A memfd of @bytes mapped shared read-write; its fd in *@fd. */
uint8_t *rf_memfd_map(const char *name, size_t bytes, int *fd);

/* A socket connected to @path (no dispatch). */
int rf_connect_to(const char *path);

/* rf_connect_to(@path), then @b accepts it: the backend is connected. */
int rf_connect(struct vu_backend *b, const char *path);

/* Send @request with header flags VHOST_USER_VERSION | @flags, @payload of
 * @size and @fds (the test keeps its own copies) on @sock; dispatch @b
 * once and return what it returned. */
int rf_req_fds(int sock, struct vu_backend *b, uint32_t request, uint32_t flags,
	       const void *payload, uint32_t size, const int *fds, unsigned nfds);

/* SET_MEM_TABLE with one region: @bytes of @memfd (offset 0) at @gpa,
 * mapped by the test at @mem. Returns what the dispatch returned. */
int rf_set_mem_table(int sock, struct vu_backend *b, uint64_t gpa, uint64_t bytes, const void *mem,
		     int memfd);

/* The frontend closes @sock; @b sees the hang-up (-ECONNRESET). */
void rf_hang_up(int sock, struct vu_backend *b);

#endif
