/* SPDX-License-Identifier: MIT */
/*
 * The fixture of the focused backend tests (test_backend_*.c): a backend
 * of NQUEUES queues whose test device records what the backend asks of it,
 * driven with raw messages over a real Unix socket in a temporary
 * directory (raw_frontend.h). Everything runs on one thread: the test
 * sends one message (a socket buffer holds it), the backend dispatches it,
 * then the test reads the reply if one is due.
 *
 * Guest memory is one memfd the test maps itself; the backend maps its own
 * copy through SET_MEM_TABLE, so a chain written by hand through the
 * test's mapping is popped by the device through the backend's.
 *
 * After every dropped connection the number of open fds of the process
 * must be back to what it was before the connection (HOSTILE F5/F6/F12).
 */
#ifndef VQNET_TESTS_VHOST_USER_BACKEND_FIXTURE_H
#define VQNET_TESTS_VHOST_USER_BACKEND_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/vhost_user.h>

#include "spec/virtio_ring.h"
#include "vhost_user/msg.h"

#include "raw_frontend.h"

#define NQUEUES	     2u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DEV_FEATURES                                                                               \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_PACKED) |                           \
	 (1ull << VIRTIO_F_EVENT_IDX))

/* The test device: records what the backend asks of it. */
struct test_dev {
	unsigned starts, stops, resets, enables, call_fds, set_features;
	uint64_t features;
	struct vq *vq[NQUEUES];
	bool enabled[NQUEUES];
	int kick_fd[NQUEUES];
	uint8_t config[16];
};

/* Its operations (opaque: a struct test_dev). */
extern const struct vu_device_ops test_ops;

/* Per-test fixture. */
struct fx {
	struct rf rf;
	struct test_dev dev;
	int base_fds; /* open fds before the connection */
};

/* cmocka setup / teardown: a struct fx in *@state, not connected. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Connect a new frontend and let the backend accept it. */
void fe_connect(struct fx *f);

/* Read the reply to @request (no fds) into @r. */
void read_reply(struct fx *f, uint32_t request, struct vu_msg *r);

/* Read the u64 reply to @request. */
uint64_t reply_u64(struct fx *f, uint32_t request);

/* After a drop: the backend is disconnected and, once the test closed its
 * end, the process has exactly the fds it had before connecting. */
void expect_dropped(struct fx *f);

/* The frontend hangs up: the backend drops the connection
 * (-ECONNRESET) and expect_dropped(). */
void expect_hang_up(struct fx *f);

/* SET_VRING_ADDR of ring @index with these user addresses. */
void set_addr(struct fx *f, unsigned index, uint64_t desc, uint64_t avail, uint64_t used);

/* Negotiate VERSION_1 (+@extra) and set up ring 0 with its kick: the
 * device gets a started ring. */
void setup_ring0(struct fx *f, uint64_t extra, int kick);

#endif
