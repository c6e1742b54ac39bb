/* SPDX-License-Identifier: MIT */
/*
 * vqnet vhost-user: both ends of the protocol (QEMU docs/interop/vhost-user.rst).
 *
 *  - Backend (struct vu_backend): serves one device, described by an ops
 *    table, to one frontend at a time (QEMU, cloud-hypervisor, DPDK
 *    virtio-user, vqnet's own driver) on a Unix socket, as server (listen;
 *    the next frontend is accepted after a disconnect) or client (connect,
 *    retrying while the peer is away).
 *  - Frontend (struct vu_frontend): the side a VMM or a userspace driver
 *    plays: connect, negotiate, share memory, set up rings, kick, config.
 *
 * The library does not own an event loop: each side exposes the fd to
 * watch and a dispatch function to call when it is readable.
 *
 * Errors are negative errno values. A malformed or out-of-order message
 * from the frontend gets an error reply where the protocol has one (with
 * REPLY_ACK), one log line naming the request and the problem, and the
 * connection is dropped; everything it owned (mappings, fds, rings) is
 * released, and the backend waits for the next frontend.
 *
 * Threading: all calls on one vu_backend / vu_frontend come from one thread
 * (the control thread). Rings handed to the device in queue_start may be
 * used from any thread until queue_stop returns.
 */
#ifndef VQNET_VHOST_USER_H
#define VQNET_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vqnet/gmem.h>
#include <vqnet/virtq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most virtqueues one device may have (vhost-user has 8 bits of index). */
#define VU_MAX_QUEUES 256u
/* Memory slots a backend advertises (GET_MAX_MEM_SLOTS). */
#define VU_MAX_MEM_SLOTS GMEM_MAX_REGIONS

/* ------------------------------------------------------------------------
 * Backend
 * ------------------------------------------------------------------------ */

struct vu_backend;

/* A started ring, handed to the device by queue_start. */
struct vu_vring {
	unsigned index;
	struct vq *vq; /* device side of the ring; owned by the backend, valid
			  until queue_stop for this index returns */
	int kick_fd;   /* eventfd the driver kicks (readable = buffers may be
			  available; the device reads it to clear it), or -1
			  after a NOFD kick: then the device polls the ring */
	int call_fd;   /* eventfd to notify the driver, or -1 (then poll) */
	bool enabled;  /* SET_VRING_ENABLE state at start */
};

/*
 * What the backend asks of the device. All callbacks run on the control
 * thread; any may be NULL (then the request is accepted and does nothing,
 * or, for get_config / set_config, refused).
 */
struct vu_device_ops {
	/* Negotiated virtio features (protocol bits stripped). Return 0, or
	 * -EINVAL to refuse (the connection drops). */
	int (*set_features)(void *opaque, uint64_t features);
	/* Config space access, bounds already checked against config_size. */
	int (*get_config)(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len);
	int (*set_config)(void *opaque, uint32_t offset, const uint8_t *buf, uint32_t len);
	/* A ring is ready (memory, addresses, kick fd present). Return 0 or
	 * -errno (the ring stays stopped; the connection drops). */
	int (*queue_start)(void *opaque, const struct vu_vring *vr);
	/* Stop using ring @index: return only when no thread touches its vq
	 * any more (GET_VRING_BASE reads its state right after). */
	void (*queue_stop)(void *opaque, unsigned index);
	/* SET_VRING_ENABLE while started (net: the active queue pairs). */
	void (*queue_enable)(void *opaque, unsigned index, bool enabled);
	/* The ring's call fd changed while started (-1: none). */
	void (*queue_call_fd)(void *opaque, unsigned index, int call_fd);
	/* SET_STATUS (device status byte). A memory-table change while rings
	 * run needs no callback: the backend stops every started ring (via
	 * queue_stop), swaps the table and starts them again. */
	void (*set_status)(void *opaque, uint8_t status);
	/* Net specifics: SEND_RARP (announce @mac after migration) and
	 * NET_SET_MTU. */
	void (*send_rarp)(void *opaque, const uint8_t mac[6]);
	int (*set_mtu)(void *opaque, uint16_t mtu);
	/* The frontend went away or reset the device: every ring is already
	 * stopped; forget negotiated state. */
	void (*reset)(void *opaque);
	/* Which descriptors ring @index takes (vq_config.dir); NULL or
	 * VQ_DIR_BOTH: any. */
	enum vq_dir (*queue_dir)(void *opaque, unsigned index);
};

struct vu_backend_config {
	const char *socket_path;
	bool client;		    /* connect to a listening frontend instead of listening */
	unsigned num_queues;	    /* virtqueues (1..VU_MAX_QUEUES) */
	uint64_t device_features;   /* virtio features offered (ring features included) */
	uint64_t protocol_features; /* protocol features offered; 0 = every one vqnet implements */
	uint32_t config_size;	    /* bytes of device config space (<= 256) */
	uint32_t max_queue_size;    /* largest ring accepted; 0 = VQ_MAX_QUEUE_SIZE */
	/* Socket activation (systemd): listen_fd is a listening AF_UNIX
	 * stream socket already bound to socket_path; the backend takes it
	 * (it closes it, never unlinks the path: that is the activator's). */
	bool activated;
	int listen_fd;
	/* Optional restart state (vu_state_open(), for num_queues rings of up
	 * to max_queue_size entries): borrowed, must outlive the backend. */
	struct vu_state *state;
};

/*
 * Restart state (docs/vqnetd.md "Restart without loss"): a small file the
 * backend keeps per device, mapped once, holding each ring's identity and
 * inflight region (positions, wrap counters, chains in flight), updated by
 * the ring code with plain stores. A backend started again on the same
 * device resumes its rings exactly from it where the frontend cannot say
 * where they stood (a frontend without INFLIGHT_SHMFD; a packed ring
 * under QEMU 7.2). Rings whose frontend hands over an inflight buffer
 * (SET_INFLIGHT_FD) use that instead.
 */
struct vu_state;

/**
 * vu_state_open() - open (or create) the state file @path for the device
 * named @device (an identity string, < 200 bytes: what makes it the same
 * device, e.g. its socket, MAC and queue count) with @num_queues rings of
 * up to @max_queue_size entries (0 = VQ_MAX_QUEUE_SIZE), lock it against a
 * second user, and map it. A file that is corrupt, of another layout or of
 * another device is refused with one log line saying why and started
 * afresh; one that matches is kept for the rings to resume. Every system
 * call is made here: afterwards the file is only read and written through
 * the mapping. Return: 0 and *out (owned by the caller, vu_state_close()),
 * or -errno (-EWOULDBLOCK: another process holds it).
 */
int vu_state_open(const char *path, const char *device, unsigned num_queues,
		  uint32_t max_queue_size, struct vu_state **out);
void vu_state_close(struct vu_state *st);

/* Protocol features the backend implements (offered unless narrowed). */
uint64_t vu_backend_supported_protocol_features(void);

/**
 * vu_backend_new() - create a backend; with !client it listens on
 * socket_path at once (an existing socket file is replaced) or on the
 * activated listen_fd, with client it tries to connect on each
 * vu_backend_dispatch() until it succeeds.
 * Return: 0 and *out, or -errno (-ENOTSOCK: listen_fd is not a listening
 * stream socket).
 */
int vu_backend_new(const struct vu_backend_config *cfg, const struct vu_device_ops *ops,
		   void *opaque, struct vu_backend **out);
/* Stops every ring, closes the connection and the socket, and unlinks the
 * socket file it created (not one passed in: cfg.activated). */
void vu_backend_free(struct vu_backend *b);

/* The fd to watch now: the connection, or the listening socket, or -1
 * (client mode, not connected: call dispatch to retry). It changes after
 * dispatch: ask again each time. */
int vu_backend_fd(const struct vu_backend *b);
/* The poll() events to wait for on vu_backend_fd(): POLLIN, or POLLOUT
 * while a reply waits for a frontend that does not read it. */
short vu_backend_events(const struct vu_backend *b);
/* Milliseconds until vu_backend_dispatch() must be called even though the
 * fd is not ready (a frontend stopped half-way through a message, or
 * stopped reading its replies, and its stall limit of 5 s runs out then);
 * -1 when there is no such deadline. */
int vu_backend_timeout_ms(const struct vu_backend *b);

/**
 * vu_backend_dispatch() - do the pending work: accept a frontend, connect
 * (client), or move the frontend's bytes: read what it sent and handle the
 * message once it is whole, write what is left of a reply. It never waits
 * for the frontend: a message that arrives in pieces is kept until it is
 * whole, a reply the socket cannot take yet is kept until it is writable,
 * and a frontend that stalls half-way for 5 s is dropped.
 * Return: 0 (a message handled, or a frontend accepted/connected); -EAGAIN
 * (nothing whole to do yet: no frontend waiting to be accepted, in client
 * mode the frontend is not there yet, or part of a message); or the
 * negative errno of a connection that was just dropped (EOF: -ECONNRESET;
 * a bad message: -EPROTO / -EINVAL ...; a stall: -ETIMEDOUT). After a drop
 * the backend is ready for the next frontend.
 */
int vu_backend_dispatch(struct vu_backend *b);

bool vu_backend_connected(const struct vu_backend *b);
/* Negotiated virtio features, VHOST_USER_F_PROTOCOL_FEATURES and
 * VHOST_F_LOG_ALL stripped (0 before SET_FEATURES). */
uint64_t vu_backend_features(const struct vu_backend *b);
/* The current memory table (a reference the caller must put), or NULL. */
struct gmem_table *vu_backend_mem(const struct vu_backend *b);

/* BACKEND_CONFIG_CHANGE_MSG on the backend request channel; with REPLY_ACK
 * it waits up to 1 s for the frontend's ack. Return 0; -EIO (a failure
 * ack); -ETIMEDOUT (no ack in time); -ENOTCONN / -EOPNOTSUPP when no
 * channel was set up. */
int vu_backend_config_changed(struct vu_backend *b);
/* Does the connected frontend take config-change notices (BACKEND_REQ and
 * CONFIG negotiated, a request channel set)? QEMU's virtio-net does not:
 * its driver then never hears of a change in the device's config space. */
bool vu_backend_config_notices(const struct vu_backend *b);
/* Signal a broken queue on its error eventfd (if the frontend set one).
 * The one backend call a device may make from any thread (a worker whose
 * ring broke). */
void vu_backend_vring_error(struct vu_backend *b, unsigned index);
/* Dirty logging: mark [gpa, gpa+len) after writing guest memory; does
 * nothing unless the frontend enabled VHOST_F_LOG_ALL with a log. */
void vu_backend_log_write(struct vu_backend *b, uint64_t gpa, uint64_t len);
/* Is dirty logging on (LOG_ALL negotiated and a log set)? It changes only
 * while every ring is stopped (the backend stops and restarts them), so a
 * device reads it in queue_start. */
bool vu_backend_logging(const struct vu_backend *b);

/* ------------------------------------------------------------------------
 * Frontend
 * ------------------------------------------------------------------------ */

struct vu_frontend;

/* Guest memory the frontend shares: one fd-backed mapping. */
struct vu_shm {
	int fd;
	uint8_t *base; /* this process's mapping */
	size_t size;
	uint64_t gpa; /* guest physical address of base */
};
/* Allocate @size bytes (rounded up to the page or huge page) of shareable
 * memory: memfd, or hugetlbfs pages when @hugetlb. Return 0 or -errno. */
int vu_shm_alloc(size_t size, uint64_t gpa, bool hugetlb, struct vu_shm *out);
void vu_shm_free(struct vu_shm *m);

/* Ring addresses in the frontend's own address space (vhost-user ring
 * addresses are user addresses). */
struct vu_vring_setup {
	uint32_t num; /* queue size */
	uint64_t desc_uva, driver_uva, device_uva;
	uint32_t base; /* SET_VRING_BASE: split avail idx; packed per vq_state */
	int kick_fd;   /* eventfd the frontend writes to kick; the backend gets a dup */
	int call_fd;   /* eventfd the backend writes; -1 = none */
};

/**
 * vu_frontend_connect() - connect to a backend listening at @path,
 * retrying for up to @timeout_ms. Return 0 and *out, or -errno.
 * Every call below is bounded: a backend that does not answer costs 10 s
 * (-ETIMEDOUT), one that stops half-way through a message or stops
 * reading ours 5 s; the connection is then broken (-ENOTCONN after).
 */
int vu_frontend_connect(const char *path, unsigned timeout_ms, struct vu_frontend **out);
void vu_frontend_close(struct vu_frontend *f);
/* The connection's socket, to poll() between requests (never to read or
 * write): the backend sends nothing on it unasked, so POLLIN or POLLHUP
 * there means the backend closed the connection. -1 for NULL. */
int vu_frontend_fd(const struct vu_frontend *f);

/* Each request waits (up to 10 s) for its reply (GET_*), or, when REPLY_ACK
 * was negotiated, for the acknowledgement. A non-zero ack (or an empty
 * GET_CONFIG reply) is -EIO and the connection stays usable; a malformed
 * reply, a timeout or a failed send is -EPROTO / -ETIMEDOUT / -errno and
 * marks the connection broken: later calls return -ENOTCONN. */
int vu_frontend_get_features(struct vu_frontend *f, uint64_t *features);
int vu_frontend_set_features(struct vu_frontend *f, uint64_t features);
int vu_frontend_get_protocol_features(struct vu_frontend *f, uint64_t *features);
int vu_frontend_set_protocol_features(struct vu_frontend *f, uint64_t features);
int vu_frontend_set_owner(struct vu_frontend *f);
int vu_frontend_reset_device(struct vu_frontend *f);
int vu_frontend_get_queue_num(struct vu_frontend *f, uint64_t *num);
int vu_frontend_get_max_mem_slots(struct vu_frontend *f, uint64_t *slots);
/* SET_MEM_TABLE with up to 8 regions (one per shm). */
int vu_frontend_set_mem_table(struct vu_frontend *f, const struct vu_shm *regions, unsigned n);
int vu_frontend_add_mem_reg(struct vu_frontend *f, const struct vu_shm *region);
int vu_frontend_rem_mem_reg(struct vu_frontend *f, const struct vu_shm *region);
/* SET_VRING_NUM, _ADDR, _BASE, _CALL, then _KICK (which starts the ring). */
int vu_frontend_setup_vring(struct vu_frontend *f, unsigned index, const struct vu_vring_setup *s);
int vu_frontend_set_vring_enable(struct vu_frontend *f, unsigned index, bool enable);
/* GET_VRING_BASE: stops the ring; @num receives its state. */
int vu_frontend_get_vring_base(struct vu_frontend *f, unsigned index, uint32_t *num);
int vu_frontend_get_config(struct vu_frontend *f, uint32_t offset, void *buf, uint32_t len);
int vu_frontend_set_config(struct vu_frontend *f, uint32_t offset, const void *buf, uint32_t len);
int vu_frontend_set_status(struct vu_frontend *f, uint8_t status);
int vu_frontend_get_status(struct vu_frontend *f, uint8_t *status);
/* Set up the backend request channel (SET_BACKEND_REQ_FD); its fd is then
 * vu_frontend_backend_req_fd(), readable when the backend sends a request;
 * vu_frontend_dispatch_backend_req() handles one: CONFIG_CHANGE_MSG
 * increments the count vu_frontend_config_changes() returns and is acked
 * with 0 (return 0); any other request is refused with a non-zero ack
 * (-EOPNOTSUPP); -ECONNRESET when the backend closed the channel (it is
 * then closed here too); -ENOTCONN when there is no channel; -EAGAIN when
 * nothing is there; -ETIMEDOUT or -EPROTO when a request stops half-way
 * (5 s) or is malformed (the channel is closed then too). */
int vu_frontend_open_backend_req(struct vu_frontend *f);
int vu_frontend_backend_req_fd(const struct vu_frontend *f);
int vu_frontend_dispatch_backend_req(struct vu_frontend *f);
unsigned vu_frontend_config_changes(const struct vu_frontend *f);

/* SET_VRING_ERR: the backend signals eventfd @fd when ring @index breaks
 * (a corrupt ring; vhost-user.rst). @fd < 0 sends NOFD (no error fd). The
 * fd stays the caller's (the backend gets its own copy): keep it open and
 * poll it; close it after the ring is gone. Return 0 or -errno. */
int vu_frontend_set_vring_err(struct vu_frontend *f, unsigned index, int fd);

/*
 * Inflight I/O tracking (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD, vhost-user.rst
 * "Inflight I/O tracking"): the frontend gets a shared buffer from the
 * backend (GET_INFLIGHT_FD), keeps it for the life of the device, and
 * hands it to the backend of every later connection (SET_INFLIGHT_FD), so a
 * backend that crashed can resubmit the chains it had in flight.
 *
 * A struct vu_inflight owns what it holds: the fd and the mapping belong to
 * its holder (not to the vu_frontend, which may be closed and reconnected
 * meanwhile) until vu_inflight_free().
 */
struct vu_inflight {
	int fd;		      /* the buffer's fd, or -1 */
	uint8_t *base;	      /* the buffer in this process: map + mmap_offset */
	void *map;	      /* MAP_SHARED mapping of [0, mmap_offset + mmap_size) */
	size_t map_len;	      /* bytes of @map */
	uint64_t mmap_size;   /* buffer bytes, as the backend said */
	uint64_t mmap_offset; /* where the buffer starts in the fd */
	uint16_t num_queues;  /* rings covered, from index 0 */
	uint16_t queue_size;  /* entries per ring */
};

/**
 * vu_frontend_get_inflight_fd() - GET_INFLIGHT_FD for @num_queues rings of
 * @queue_size entries. The reply is checked (exactly one fd, the sizes
 * asked for, a non-zero mmap_size that the fd really holds, no overflow);
 * then the buffer is mapped shared. Needs INFLIGHT_SHMFD negotiated
 * (-EOPNOTSUPP, nothing sent, otherwise). Call it after
 * vu_frontend_set_features(): the backend sizes the buffer for the
 * negotiated ring format (split or packed), as QEMU and DPDK expect.
 * Return: 0 and *@out filled (the caller owns it: vu_inflight_free()), or
 * -errno with *@out empty (fd -1, no mapping). A reply that is malformed
 * is -EPROTO and breaks the connection, as for every request.
 */
int vu_frontend_get_inflight_fd(struct vu_frontend *f, uint16_t num_queues, uint16_t queue_size,
				struct vu_inflight *out);
/* SET_INFLIGHT_FD with @in (from vu_frontend_get_inflight_fd(), maybe of an
 * earlier connection). The fd stays @in's. Return 0 or -errno (-EOPNOTSUPP
 * without INFLIGHT_SHMFD; -EINVAL when @in holds no buffer). */
int vu_frontend_set_inflight_fd(struct vu_frontend *f, const struct vu_inflight *in);
/* Unmap and close what @in holds; leaves it empty (fd -1). NULL is fine. */
void vu_inflight_free(struct vu_inflight *in);

#ifdef __cplusplus
}
#endif
#endif
