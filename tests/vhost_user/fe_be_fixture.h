/* SPDX-License-Identifier: MIT */
/*
 * The fixture of the frontend-against-backend tests
 * (test_frontend_*.c): the library's vhost-user frontend against the
 * library's backend over a real Unix socket.
 *
 * The backend (echo_backend.c) runs in a second thread of the process, or
 * in a child process: a loop of poll(vu_backend_fd) + vu_backend_dispatch()
 * that also watches a control eventfd through which the test asks it to do
 * things only its thread may do (config change notification). Its device
 * is an echo device: queue_start hands the vq to a worker thread that pops
 * chains, copies each chain's readable bytes into its writable part, pushes
 * (id, bytes copied) and signals call_fd when vq_notify_prepare() says so.
 *
 * The frontend side (fe_traffic.c, the test thread) allocates its guest
 * memory with vu_shm_alloc(), lays rings and buffers out in it, drives the
 * rings with vq_drv_*() and hands the backend user addresses (base +
 * offset) for the rings and guest physical addresses (gpa + offset) in
 * descriptors.
 *
 * Every wait is bounded: a test fails instead of hanging.
 */
#ifndef VQNET_TESTS_VHOST_USER_FE_BE_FIXTURE_H
#define VQNET_TESTS_VHOST_USER_FE_BE_FIXTURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/vhost_user_msg.h"

#define F(bit) (1ull << (bit))

#define NUM_QUEUES  4u
#define CONFIG_SIZE 16u
#define QSIZE	    64u
#define SHM_SIZE    (4u << 20)
#define SHM_GPA	    0x40000000ull
#define RING_AREA   (64u << 10) /* bytes of ring memory per queue */
#define BUF_BASE    (1u << 20)	/* buffers start here in the shm */
#define SLOT_BYTES  1024u	/* per chain: readable part, then writable */
#define WR_OFF	    512u
#define MAX_RD_LEN  256u
#define RD2_OFF	    256u /* indirect chains: second readable segment */
#define WR1_LEN	    200u /* indirect chains: first writable segment */
#define IND_BASE    (BUF_BASE + NUM_QUEUES * QSIZE * SLOT_BYTES)
#define IND_MAX	    4u
#define WAIT_MS	    10000
#define CONNECT_MS  5000u
#define DEV_FEATURES                                                                               \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED) | F(VIRTIO_F_EVENT_IDX) |                 \
	 F(VIRTIO_F_INDIRECT_DESC) | F(VHOST_USER_F_PROTOCOL_FEATURES))

/* ------------------------------------------------------------------------
 * The echo device and the backend loop (echo_backend.c)
 * ------------------------------------------------------------------------ */

struct echo_q {
	struct vq *vq;
	int kick_fd;
	_Atomic int call_fd;
	int stop_fd;
	atomic_bool enabled;
	pthread_mutex_t lock; /* held while the worker uses the ring: a
				 disable is complete when queue_enable returns */
	bool started;
	pthread_t thread;
};

struct echo_dev {
	struct echo_q q[NUM_QUEUES];
	uint8_t config[CONFIG_SIZE];
	atomic_uint errors;	   /* anything a worker found wrong */
	atomic_uint starts, stops; /* queue_start / queue_stop calls */
	atomic_ulong echoed;	   /* chains completed */
	atomic_uint resets;
};

enum be_cmd { BE_CMD_NONE, BE_CMD_CONFIG_CHANGED };

struct be_ctx {
	char dir[64];
	char path[96];
	struct vu_backend *b;
	struct echo_dev dev;
	int ctl_fd;
	atomic_int cmd;	   /* enum be_cmd to run on the next wake-up */
	atomic_int cmd_rc; /* its result, or 1 while pending */
	atomic_bool stop;
	atomic_uint disconnects; /* dispatch returned an error */
	atomic_int last_drop_rc; /* the error of the last drop */
	atomic_bool connected;
	pthread_t thread;
	bool thread_running;
};

/* A backend of the echo device listening on "<dir>/vu.sock" in @c (zeroed
 * here); 0 or the error. */
int be_create(struct be_ctx *c, const char *dir);

/* One turn of the loop; returns when something was done or after 20 ms. */
void be_turn(struct be_ctx *c);

/* cmocka setup / teardown: a be_ctx in *@state with its loop running in a
 * thread, in a new temporary directory. */
int be_setup(void **state);
int be_teardown(void **state);

/* Ask the backend thread to run @cmd; its result comes in c->cmd_rc. */
int be_command(struct be_ctx *c, enum be_cmd cmd);

/* Wait (bounded) until the backend saw @n connections drop. */
bool be_wait_disconnects(struct be_ctx *c, unsigned n);

/* ------------------------------------------------------------------------
 * The frontend side: memory, rings, traffic (fe_traffic.c)
 * ------------------------------------------------------------------------ */

struct drv_q {
	unsigned index;
	enum vq_format fmt;
	uint64_t features;
	struct vq_drv *d;
	int kick_fd, call_fd;
	uint64_t desc_off, driver_off, device_off; /* inside the shm */
	uint64_t buf_off;
	bool indirect; /* chains go in indirect tables, 2 + 2 segments */
	/* traffic state */
	uint32_t target, next_seq, done;
	uint32_t slot_seq[QSIZE], slot_len[QSIZE];
	uint32_t free_slots[QSIZE], nfree;
	uint8_t *seen; /* one byte per seq */
	unsigned kicks;
};

struct fe_ctx {
	struct vu_frontend *f;
	struct vu_shm shm;
	struct drv_q q[NUM_QUEUES];
	unsigned nq;
	uint64_t features; /* negotiated virtio features */
	uint64_t protocol_features;
	bool indirect; /* queues started from now on use indirect chains */
};

/* Free a queue's driver and eventfds. */
void drvq_fini(struct drv_q *q);

/* The vring set-up of @q in @fc's memory with SET_VRING_BASE @base. */
void drvq_vring_setup(const struct fe_ctx *fc, const struct drv_q *q, uint32_t base,
		      struct vu_vring_setup *s);

/* Start counting @target chains through @q afresh. */
void traffic_start(struct drv_q *q, uint32_t target);

/* Post as many chains as fit (up to the target, at most @max), publish,
 * kick if needed; how many were posted. */
unsigned traffic_post(struct fe_ctx *fc, struct drv_q *q, unsigned max);

/* Reap every used entry, checking tokens, lengths and echoed bytes. */
unsigned traffic_reap(struct fe_ctx *fc, struct drv_q *q);

/* Run the queues' traffic until each reached its target, or fail. */
void traffic_run(struct fe_ctx *fc, struct drv_q **qs, unsigned n);

/* Connect and negotiate @extra virtio features on top of VERSION_1,
 * offering every protocol feature the backend has but @pf_clear. */
void fe_connect_negotiate_pf(struct fe_ctx *fc, const struct be_ctx *c, uint64_t extra,
			     uint64_t pf_clear);

/* fe_connect_negotiate_pf() with every protocol feature. */
void fe_connect_negotiate(struct fe_ctx *fc, const struct be_ctx *c, uint64_t extra);

/* Allocate the guest memory and send it as the memory table. */
void fe_share_memory(struct fe_ctx *fc);

/* Set up queue @index as a fresh ring of @fmt and enable it. */
void fe_start_queue(struct fe_ctx *fc, unsigned index, enum vq_format fmt);

/* Close the connection, free the queues and the memory. */
void fe_teardown(struct fe_ctx *fc);

#endif
