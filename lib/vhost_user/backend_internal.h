/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend internals shared by backend.c (connection, dispatch,
 * feature and device requests, public API), backend_vring.c (ring state
 * machine and ring requests) and backend_mem.c (memory table and dirty
 * log requests). Not installed; backend.c has the theory of operation.
 */
#ifndef VQNET_VHOST_USER_BACKEND_INTERNAL_H
#define VQNET_VHOST_USER_BACKEND_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <vqnet/vhost_user.h>

#include "msg.h"

/* What the frontend told us about one ring, plus the ring while started. */
struct vring_slot {
	uint32_t num;	     /* SET_VRING_NUM; 0 = not yet */
	bool addr_set;	     /* SET_VRING_ADDR received */
	uint32_t addr_flags; /* VHOST_VRING_F_LOG */
	uint64_t desc_uva, avail_uva, used_uva, log_gpa;
	uint32_t base;		  /* SET_VRING_BASE, packed per vq_state (see pack_state) */
	bool enable_set, enabled; /* SET_VRING_ENABLE received, and its value */
	bool kick_armed;	  /* a kick fd arrived since the last stop */
	int kick_fd, call_fd, err_fd;
	struct vq *vq;		 /* non-NULL while started */
	struct vq_config vq_cfg; /* what vq was created with (guest-physical addresses) */
	bool paused;		 /* stopped for a memory change, to be restarted */
};

/* Guards every ring's err_fd: vu_backend_vring_error() may come from a
 * device worker while the control thread replaces or closes the fd (a
 * write to a closed, reused fd number would hit an unrelated file). One
 * lock for all backends: both sides are rare. */
extern pthread_mutex_t vu_be_err_fd_lock;

struct vu_backend {
	struct vu_backend_config cfg; /* socket_path points at path */
	char *path;
	const struct vu_device_ops *ops;
	void *opaque;
	int listen_fd; /* server mode */
	int conn_fd;   /* -1 when not connected; non-blocking */
	/* The frontend's message being read and the reply being written: the
	 * control thread never waits for either (conn.c). While a reply is
	 * pending nothing more is read. */
	struct vu_msg_rx rx;
	struct vu_msg_tx tx;
	uint64_t stall_deadline_ns; /* a message or reply stopped half-way: when its
				     * frontend is dropped (CLOCK_MONOTONIC); 0 = none */

	/* Per connection, cleared by drop_connection(). */
	uint64_t offered_protocol;
	uint64_t features; /* as SET_FEATURES gave them (vhost bits included) */
	bool features_set;
	uint64_t protocol_features;
	uint8_t status;
	struct gmem_table *mem;
	/* ADD_MEM_REG of a region already present, byte for byte (QEMU 7.2
	 * sends the table once per vhost device, i.e. per queue pair, on one
	 * connection): counted, so only the last matching REM_MEM_REG
	 * removes it. Cleared with the table. */
	struct mem_dup {
		uint64_t gpa, size, uva;
		uint32_t extra;
	} mem_dups[VU_MAX_MEM_SLOTS];
	unsigned n_mem_dups;
	struct vring_slot *vrings; /* cfg.num_queues */
	int backend_req_fd;
	bool backend_req_stale; /* an ack timed out: drop late ones before the next request */
	int log_fd;		/* SET_LOG_FD */
	void *log_map;		/* SET_LOG_BASE mapping */
	size_t log_map_len;
	uint8_t *log_bitmap; /* log_map + mmap_offset */
	uint64_t log_bytes;
	void *infl_map; /* GET/SET_INFLIGHT_FD buffer mapping */
	size_t infl_map_len;
	uint8_t *infl_base; /* infl_map + mmap_offset: region of ring 0 */
	uint16_t infl_num_queues, infl_queue_size;
};

/* The state of one dispatch: the message (turned into the reply in place)
 * and what the handler reports. */
struct req_ctx {
	struct vu_msg *m;
	bool reply;	 /* the handler turned m into a reply to send */
	int reply_fd;	 /* >= 0: sent with the reply, then closed */
	const char *why; /* on failure: what was wrong */
};

static inline int fail(struct req_ctx *c, int err, const char *why)
{
	c->why = why;
	return err;
}

static inline bool has_protocol(const struct vu_backend *b, unsigned bit)
{
	return vq_has_feature(b->protocol_features, bit);
}

static inline void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Take ownership of the message's first fd. */
static inline int take_fd(struct vu_msg *m)
{
	if (m->nfds < 1)
		return -1;
	int fd = m->fds[0];
	m->fds[0] = -1;
	return fd;
}

static inline enum vq_format ring_format(const struct vu_backend *b)
{
	return vq_has_feature(b->features, VIRTIO_F_RING_PACKED) ? VQ_FORMAT_PACKED
								 : VQ_FORMAT_SPLIT;
}

/* The largest ring the backend accepts: the configured size, or (0) the
 * largest the spec allows. */
static inline uint32_t max_queue_size(const struct vu_backend *b)
{
	return b->cfg.max_queue_size ? b->cfg.max_queue_size : VQ_MAX_QUEUE_SIZE;
}

/* The virtio features the device sees: vhost-user's own bits stripped. */
static inline uint64_t virtio_features(const struct vu_backend *b)
{
	return b->features &
	       ~((1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << VHOST_F_LOG_ALL));
}

/* backend.c */
int vu_be_reply_u64(struct req_ctx *c, uint64_t v);

/* backend_vring.c: ring state machine */
void vu_be_vring_reset_slot(struct vring_slot *s);
void vu_be_stop_all_rings(struct vu_backend *b);
bool vu_be_any_ring_started(const struct vu_backend *b);
void vu_be_pause_rings(struct vu_backend *b);
int vu_be_resume_rings(struct vu_backend *b, const char **why);
int vu_be_relog_rings(struct vu_backend *b, const char **why);

/* backend_vring.c: ring requests */
int vu_be_set_vring_num(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_vring_addr(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_vring_base(struct vu_backend *b, struct req_ctx *c);
int vu_be_get_vring_base(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_vring_kick(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_vring_call(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_vring_err(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_vring_enable(struct vu_backend *b, struct req_ctx *c);

/* backend_mem.c: memory table and dirty log */
void vu_be_unmap_log(struct vu_backend *b);
int vu_be_swap_mem(struct vu_backend *b, struct gmem_table *mem, const char **why);
int vu_be_set_mem_table(struct vu_backend *b, struct req_ctx *c);
int vu_be_add_mem_reg(struct vu_backend *b, struct req_ctx *c);
int vu_be_rem_mem_reg(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_log_base(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_log_fd(struct vu_backend *b, struct req_ctx *c);

/* backend_inflight.c: inflight I/O tracking */
void vu_be_unmap_inflight(struct vu_backend *b);
int vu_be_get_inflight_fd(struct vu_backend *b, struct req_ctx *c);
int vu_be_set_inflight_fd(struct vu_backend *b, struct req_ctx *c);
int vu_be_vring_set_inflight(struct vu_backend *b, unsigned i, const char **why);

/* backend_state.c: the restart state file (vu_state_open()) */
bool vu_be_state_fits(const struct vu_state *st, unsigned num_queues, uint32_t max_queue_size);
int vu_be_state_attach(struct vu_backend *b, unsigned i, const char **why);
void vu_be_state_ring_stopped(struct vu_backend *b, unsigned i);
void vu_be_state_ring_forget(struct vu_backend *b, unsigned i);

#endif
