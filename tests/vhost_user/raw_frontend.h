/* SPDX-License-Identifier: MIT */
/*
 * A raw vhost-user frontend for the backend tests (test_backend_*.c,
 * test_dirty_log.c, test_inflight.c): the test holds one end of a real
 * Unix socket, sends hand-built messages and calls vu_backend_dispatch()
 * itself, all on one thread. Failures are cmocka assertions.
 */
#ifndef VQNET_TESTS_VHOST_USER_RAW_FRONTEND_H
#define VQNET_TESTS_VHOST_USER_RAW_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vqnet/vhost_user.h>

/* Guest memory of these tests: one memfd of MEM_BYTES at gpa MEM_GPA.
 * Ring 0 (QSIZE entries) has its parts at these offsets in it, and the
 * buffers the tests post start at BUF_OFF. */
#define MEM_BYTES (1u << 20)
#define MEM_GPA	  0x100000ull
#define QSIZE	  8u
#define DESC_OFF  0x0000u
#define AVAIL_OFF 0x1000u
#define USED_OFF  0x2000u
#define BUF_OFF	  0x3000u

/* A device with one queue that only records the vq it was started with. */
struct rf_qdev {
	struct vq *vq;
	unsigned starts, stops;
};

/* queue_start / queue_stop of an rf_qdev (opaque), queue 0 only. */
extern const struct vu_device_ops rf_qdev_ops;

/* A backend listening in a temporary directory, the test's own mapping of
 * the guest memory it will be given, and the test's end of the connection
 * to it. */
struct rf {
	char dir[64];
	char path[96];
	struct vu_backend *b;
	int memfd;
	uint8_t *mem; /* the test's own mapping of guest memory */
	int sock;     /* the test's end of the connection, -1: none */
};

/* mkdtemp() of @tmpl for the socket "<dir>/sock", the backend of @cfg (its
 * socket_path set here), @ops and @dev listening on it, guest memory
 * mapped; not connected. */
void rf_open(struct rf *r, const char *tmpl, const struct vu_backend_config *cfg,
	     const struct vu_device_ops *ops, void *dev);

/* Close the connection if any, free what rf_open() made. */
void rf_close(struct rf *r);

/* A memfd of @bytes mapped shared read-write; its fd in *@fd. */
uint8_t *rf_memfd_map(const char *name, size_t bytes, int *fd);

/* A socket connected to @path (no dispatch). */
int rf_connect_to(const char *path);

/* A new frontend connects (r->sock) and the backend accepts it. */
void rf_connect(struct rf *r);

/* rf_connect(), then SET_PROTOCOL_FEATURES @protocol_features,
 * SET_FEATURES VERSION_1 | @features and SET_OWNER, each accepted. */
void rf_connect_negotiate(struct rf *r, uint64_t protocol_features, uint64_t features);

/* Send @request with header flags VHOST_USER_VERSION | @flags, @payload of
 * @size and @fds (the test keeps its own copies) on r->sock; dispatch the
 * backend once and return what it returned. */
int rf_req_fds(struct rf *r, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	       const int *fds, unsigned nfds);

/* rf_req_fds() without flags or fds. */
int rf_req(struct rf *r, uint32_t request, const void *payload, uint32_t size);

/* A request whose payload is one u64 @v. */
int rf_req_u64(struct rf *r, uint32_t request, uint64_t v);

/* A request whose payload is a vhost_vring_state {@index, @num}. */
int rf_req_state(struct rf *r, uint32_t request, uint32_t index, uint32_t num);

/* SET_MEM_TABLE with one region: all of the guest memory at MEM_GPA. */
int rf_set_mem_table(struct rf *r);

/* SET_VRING_ADDR of ring 0 at DESC_OFF / AVAIL_OFF / USED_OFF of the
 * guest memory, with @flags and @log_gpa. */
int rf_set_ring_addr(struct rf *r, uint32_t flags, uint64_t log_gpa);

/* SET_VRING_KICK of ring @index with the eventfd @efd. */
int rf_kick(struct rf *r, unsigned index, int efd);

/* The frontend closes its end; the backend sees the hang-up
 * (-ECONNRESET). */
void rf_hang_up(struct rf *r);

/* The test as the driver of ring 0 (through its own mapping of guest
 * memory), and an element for the device side to pop into. */
struct rf_drv {
	int kick;	    /* the ring's kick eventfd */
	uint16_t avail_idx; /* split: next avail index */
	uint16_t pos;	    /* packed: next ring position */
	bool wrap;	    /* packed: the driver's wrap counter */
	struct iovec iov[4];
	struct vq_elem e; /* over iov */
};

/* A fresh driver: kick eventfd, wrap counter 1, e over iov. */
void rf_drv_init(struct rf_drv *d);

/* Close its kick eventfd. */
void rf_drv_fini(struct rf_drv *d);

/* The one-queue backend of test_dirty_log.c and test_inflight.c:
 * rf_open() in @tmpl of a backend offering @device_features, queues up to
 * @max_queue_size (0: the default), for @dev through rf_qdev_ops; and a
 * fresh driver @drv for its ring 0. */
void rf_qdev_open(struct rf *r, struct rf_qdev *dev, struct rf_drv *drv, const char *tmpl,
		  uint64_t device_features, uint32_t max_queue_size);

/* rf_close() and rf_drv_fini(). */
void rf_qdev_close(struct rf *r, struct rf_drv *drv);

/* Split: head @id, one writable descriptor of 64 bytes at @gpa, made
 * available. */
void rf_drv_add_split(struct rf *r, struct rf_drv *d, uint16_t id, uint64_t gpa);

/* Packed: chain @id of @ndesc writable descriptors of 64 bytes at
 * @gpa + 64 k, made available with the head's flags last (§2.8.6). */
void rf_drv_add_packed(struct rf *r, struct rf_drv *d, uint16_t id, uint64_t gpa, unsigned ndesc);

#endif
