/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: one device served to one frontend at a time.
 *
 * Theory of operation
 * -------------------
 * The backend owns a socket (listening, or connecting in client mode) and at
 * most one connection. vu_backend_dispatch() reads one message, validates it
 * against the codec's request table (vu_msg_check), checks the protocol
 * feature the request needs, and runs the request's handler, named in the
 * handler column of that same table (request_table.h; handlers[] below is
 * built from it, so every row has a handler). Any failure is logged once
 * by request name, answered with a failure ack where one is due, and drops
 * the connection: every ring is stopped (ops->queue_stop), the device is
 * reset (ops->reset), memory is unmapped and every fd closed; the backend
 * then waits for the next frontend (docs/interop/vhost-user.rst;
 * HOSTILE-INPUTS F and G).
 *
 * Rings (vhost-user.rst "Ring states"): a ring is *started* when its kick
 * fd arrived while memory, addresses and size are known; it is stopped by
 * GET_VRING_BASE (or a reset, status 0, a drop). The frontend's ring
 * addresses are user addresses, translated to guest-physical ones through
 * the memory table only at start (and again after each memory change), over
 * the full sizes of the ring parts. A started ring owns a struct vq, handed
 * to the device in queue_start and taken back after queue_stop.
 *
 * Memory (STYLE lesson 9): SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG build a
 * new gmem table (which takes ownership of the new mappings and fds), then
 * every started ring is stopped, the table is swapped, and the rings are
 * restarted against it (a ring no longer inside memory stays stopped,
 * HOSTILE F14). The old table goes away with its last reference.
 *
 * Ownership of message fds: a handler that keeps fds[i] sets it to -1;
 * the dispatcher closes whatever is left.
 *
 * Files: backend.c (connection, dispatch, feature/device requests, public
 * API), backend_vring.c (ring state machine and ring requests),
 * backend_mem.c (memory table, dirty log); shared state in
 * backend_internal.h, backend_inflight.c (GET/SET_INFLIGHT_FD). Not
 * implemented (never offered): INBAND_NOTIFICATIONS, HOST_NOTIFIER,
 * PAGEFAULT, CROSS_ENDIAN, IOTLB.
 *
 * Inflight I/O tracking (INFLIGHT_SHMFD): the buffer of GET/SET_INFLIGHT_FD
 * is mapped per connection, sized for the negotiated ring format; every
 * ring (split or packed, IN_ORDER or not) gets its region when it is
 * created (vq_set_inflight()), which hands the chains a crashed backend
 * left in flight to the device again before new ones (backend_inflight.c).
 * Without that buffer, a ring gets its region in the backend's own restart
 * state file when one is configured (vu_state_open(), backend_state.c).
 *
 * Dirty log (vhost-user.rst "Migration"): SET_LOG_BASE maps the bitmap;
 * the device marks its buffer writes with vu_backend_log_write(). Used-ring
 * writes are marked by the ring code itself: a ring whose SET_VRING_ADDR
 * flags carry VHOST_VRING_F_LOG, while LOG_ALL is negotiated and a log is
 * set, gets vq_set_dirty_log(log_guest_addr) when it is handed to the
 * device; any change of these (SET_FEATURES, SET_LOG_BASE, SET_VRING_ADDR)
 * pauses and restarts the running rings, so the vq changes only while the
 * device does not push.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vqnet/log.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/efd.h"
#include "backend_internal.h"
#include "request_table.h"

/* Protocol features implemented here (INBAND_NOTIFICATIONS is not: never
 * offered). INFLIGHT_SHMFD tracks split and packed rings. */
#define SUPPORTED_PROTOCOL_FEATURES                                                                \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |          \
	 (1ull << VHOST_USER_PROTOCOL_F_RARP) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |        \
	 (1ull << VHOST_USER_PROTOCOL_F_NET_MTU) | (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |   \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |   \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                                     \
	 (1ull << VHOST_USER_PROTOCOL_F_STATUS) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

typedef int (*vu_handler)(struct vu_backend *b, struct req_ctx *c);

static const struct vu_device_ops no_ops;

/* ------------------------------------------------------------------------
 * Connection
 * ------------------------------------------------------------------------ */

/* Forget everything the frontend set up: rings first (the device lets
 * go), then the device, then memory and fds (HOSTILE G1). */
static void drop_connection(struct vu_backend *b)
{
	vu_be_stop_all_rings(b);
	if (b->ops->reset)
		b->ops->reset(b->opaque);
	for (unsigned i = 0; i < b->cfg.num_queues; i++)
		vu_be_vring_reset_slot(&b->vrings[i]);
	gmem_table_put(b->mem);
	b->mem = NULL;
	b->n_mem_dups = 0;
	vu_be_unmap_log(b);
	vu_be_unmap_inflight(b);
	close_fd(&b->log_fd);
	close_fd(&b->backend_req_fd);
	b->backend_req_stale = false;
	close_fd(&b->conn_fd);
	vu_msg_rx_reset(&b->rx);
	vu_msg_tx_reset(&b->tx);
	b->stall_deadline_ns = 0;
	b->features = 0;
	b->features_set = false;
	b->protocol_features = 0;
	b->status = 0;
}

static int try_accept(struct vu_backend *b)
{
	int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return errno == EINTR || errno == EWOULDBLOCK || errno == ECONNABORTED ? -EAGAIN
										       : -errno;
	b->conn_fd = fd;
	return 0;
}

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

static int try_connect(struct vu_backend *b)
{
	struct sockaddr_un sa;
	int rc = make_addr(b->path, &sa);
	if (rc)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno;
		close(fd);
		if (rc == ENOENT || rc == ECONNREFUSED || rc == EINTR || rc == EAGAIN)
			return -EAGAIN;
		return -rc;
	}
	b->conn_fd = fd;
	return 0;
}

static int open_listener(struct vu_backend *b)
{
	struct sockaddr_un sa;
	int rc = make_addr(b->path, &sa);
	if (rc)
		return rc;
	struct stat st;
	/* Replace a stale socket file; never remove anything else. */
	if (lstat(b->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(b->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	b->listen_fd = fd;
	return 0;
}

/* A listening socket handed over (socket activation): it must be a
 * listening stream socket; made non-blocking like our own. */
static int adopt_listener(struct vu_backend *b, int fd)
{
	int listening = 0, type = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
		return -ENOTSOCK;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return -ENOTSOCK;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	b->listen_fd = fd;
	return 0;
}

/* ------------------------------------------------------------------------
 * Handlers: features and device
 * ------------------------------------------------------------------------ */

static uint64_t offered_features(const struct vu_backend *b)
{
	return b->cfg.device_features | 1ull << VHOST_USER_F_PROTOCOL_FEATURES |
	       1ull << VHOST_F_LOG_ALL;
}

int vu_be_reply_u64(struct req_ctx *c, uint64_t v)
{
	c->m->payload.u64 = v;
	vu_msg_make_reply(c->m, sizeof(uint64_t));
	c->reply = true;
	return 0;
}

static int h_get_features(struct vu_backend *b, struct req_ctx *c)
{
	return vu_be_reply_u64(c, offered_features(b));
}

static int h_set_features(struct vu_backend *b, struct req_ctx *c)
{
	uint64_t f = c->m->payload.u64;
	if (f & ~offered_features(b))
		return fail(c, -EINVAL, "feature bits never offered");
	if (!vq_has_feature(f, VIRTIO_F_VERSION_1))
		return fail(c, -EINVAL, "VIRTIO_F_VERSION_1 not negotiated");
	/* Rings run with the features they started with: only LOG_ALL may
	 * change under them (QEMU toggles it for migration). */
	if (vu_be_any_ring_started(b) && ((f ^ b->features) & ~(1ull << VHOST_F_LOG_ALL)))
		return fail(c, -EBUSY, "features changed while rings run");
	uint64_t old = b->features;
	b->features = f;
	if (b->ops->set_features) {
		int rc = b->ops->set_features(b->opaque, virtio_features(b));
		if (rc) {
			b->features = old;
			return fail(c, rc < 0 ? rc : -EINVAL, "the device refused the features");
		}
	}
	b->features_set = true;
	/* LOG_ALL toggled under running rings: their used-ring logs follow. */
	if ((f ^ old) & (1ull << VHOST_F_LOG_ALL))
		return vu_be_relog_rings(b, &c->why);
	return 0;
}

static int h_get_protocol_features(struct vu_backend *b, struct req_ctx *c)
{
	return vu_be_reply_u64(c, b->offered_protocol);
}

static int h_set_protocol_features(struct vu_backend *b, struct req_ctx *c)
{
	uint64_t f = c->m->payload.u64;
	if (f & ~b->offered_protocol)
		return fail(c, -EINVAL, "protocol feature bits never offered");
	b->protocol_features = f;
	return 0;
}

static int h_set_owner(struct vu_backend *b, struct req_ctx *c)
{
	(void)b;
	(void)c;
	return 0;
}

/* RESET_OWNER / RESET_DEVICE: back to the state of a fresh connection,
 * except the protocol features and the memory table. */
static int h_reset_device(struct vu_backend *b, struct req_ctx *c)
{
	(void)c;
	vu_be_stop_all_rings(b);
	for (unsigned i = 0; i < b->cfg.num_queues; i++)
		vu_be_vring_reset_slot(&b->vrings[i]);
	b->features = 0;
	b->features_set = false;
	b->status = 0;
	if (b->ops->reset)
		b->ops->reset(b->opaque);
	return 0;
}

static int h_get_queue_num(struct vu_backend *b, struct req_ctx *c)
{
	return vu_be_reply_u64(c, b->cfg.num_queues);
}

static int h_get_max_mem_slots(struct vu_backend *b, struct req_ctx *c)
{
	(void)b;
	return vu_be_reply_u64(c, VU_MAX_MEM_SLOTS);
}

static int check_config_req(const struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_user_config *cf = &c->m->payload.config;
	if (cf->size > VHOST_USER_MAX_CONFIG_SIZE ||
	    c->m->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + cf->size)
		return fail(c, -EINVAL, "config size does not match the message size");
	if ((uint64_t)cf->offset + cf->size > b->cfg.config_size)
		return fail(c, -EINVAL, "config access beyond the config space");
	return 0;
}

static int h_get_config(struct vu_backend *b, struct req_ctx *c)
{
	int rc = check_config_req(b, c);
	if (rc)
		return rc;
	struct vhost_user_config *cf = &c->m->payload.config;
	if (!b->ops->get_config)
		return fail(c, -EOPNOTSUPP, "the device has no config space");
	rc = b->ops->get_config(b->opaque, cf->offset, cf->region, cf->size);
	if (rc)
		return fail(c, rc < 0 ? rc : -EINVAL, "the device refused the config read");
	vu_msg_make_reply(c->m, VHOST_USER_CONFIG_HDR_SIZE + cf->size);
	c->reply = true;
	return 0;
}

static int h_set_config(struct vu_backend *b, struct req_ctx *c)
{
	int rc = check_config_req(b, c);
	if (rc)
		return rc;
	const struct vhost_user_config *cf = &c->m->payload.config;
	if (!b->ops->set_config)
		return fail(c, -EOPNOTSUPP, "the device has no writable config space");
	rc = b->ops->set_config(b->opaque, cf->offset, cf->region, cf->size);
	if (rc)
		return fail(c, rc < 0 ? rc : -EINVAL, "the device refused the config write");
	return 0;
}

static int h_set_status(struct vu_backend *b, struct req_ctx *c)
{
	uint64_t v = c->m->payload.u64;
	if (v > 0xff)
		return fail(c, -EINVAL, "status beyond 8 bits");
	/* Status 0 is a device reset (VIRTIO 1.2 §2.1): quiesce the rings
	 * (HOSTILE G3); their positions stay for GET_VRING_BASE. */
	if (v == 0)
		vu_be_stop_all_rings(b);
	b->status = (uint8_t)v;
	if (b->ops->set_status)
		b->ops->set_status(b->opaque, b->status);
	return 0;
}

static int h_get_status(struct vu_backend *b, struct req_ctx *c)
{
	return vu_be_reply_u64(c, b->status);
}

static int h_send_rarp(struct vu_backend *b, struct req_ctx *c)
{
	uint8_t mac[6];
	memcpy(mac, c->m->payload.raw, sizeof(mac));
	if (b->ops->send_rarp)
		b->ops->send_rarp(b->opaque, mac);
	return 0;
}

static int h_net_set_mtu(struct vu_backend *b, struct req_ctx *c)
{
	uint64_t mtu = c->m->payload.u64;
	if (mtu > UINT16_MAX)
		return fail(c, -EINVAL, "MTU beyond 65535");
	if (b->ops->set_mtu) {
		int rc = b->ops->set_mtu(b->opaque, (uint16_t)mtu);
		if (rc)
			return fail(c, rc < 0 ? rc : -EINVAL, "the device refused the MTU");
	}
	return 0;
}

static int h_set_backend_req_fd(struct vu_backend *b, struct req_ctx *c)
{
	int fd = take_fd(c->m);
	if (fd < 0)
		return fail(c, -EINVAL, "no fd");
	close_fd(&b->backend_req_fd);
	b->backend_req_fd = fd;
	b->backend_req_stale = false;
	return 0;
}

/* ------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------ */

/* One handler per row of the request table (request_table.h): a row
 * naming no handler does not compile, and a static handler (h_*) no row
 * names is an unused function, an error under -Werror. */
#define HANDLER(req, handler, fmin, fmax, smin, smax, reply, pf) [VHOST_USER_##req] = handler,
static const vu_handler handlers[] = {VU_REQUESTS(HANDLER)};
static_assert(ARRAY_SIZE(handlers) == VU_REQUEST_TABLE_LEN, "handlers[] length");

static void log_error(uint32_t request, const char *why, int rc)
{
	vqnet_log(VQNET_LOG_WARN, "vhost-user", "%s: %s", vu_request_name(request),
		  why ? why : strerror(-rc));
}

/* --log-level debug: each message and reply, step by step. */
static void log_debug_msg(const char *prefix, const struct vu_msg *m)
{
	char line[512];

	if (vqnet_log_get_level() < VQNET_LOG_DEBUG)
		return;
	vu_msg_describe(m, line, sizeof(line));
	vqnet_log(VQNET_LOG_DEBUG, "vhost-user", "%s%s", prefix, line);
}

/*
 * Send @m, already made a reply, with *@fd (if >= 0: the reply takes it
 * over and *@fd becomes -1). What the socket does not take now stays in
 * b->tx for the next dispatch. Return 0 or -errno.
 */
static int send_reply(struct vu_backend *b, const struct vu_msg *m, int *fd)
{
	struct vu_msg_tx *tx = &b->tx;

	tx->m.hdr = m->hdr;
	memcpy(tx->m.payload.raw, m->payload.raw, m->hdr.size);
	tx->m.nfds = 0;
	if (fd && *fd >= 0) {
		tx->m.fds[0] = *fd;
		tx->m.nfds = 1;
		*fd = -1;
	}
	tx->sent = 0;
	tx->pending = true;
	log_debug_msg("reply ", &tx->m);
	int rc = vu_msg_send_nb(b->conn_fd, tx);
	return rc < 0 ? rc : 0;
}

/* The failure ack a REPLY_ACK frontend waits for (best effort: the
 * connection is dropped right after). */
static void send_failure_ack(struct vu_backend *b, struct vu_msg *m,
			     const struct vu_request_info *info)
{
	if (!(m->hdr.flags & VHOST_USER_NEED_REPLY_MASK) ||
	    !has_protocol(b, VHOST_USER_PROTOCOL_F_REPLY_ACK) || (info && info->always_replies))
		return;
	vu_msg_close_fds(m);
	m->payload.u64 = 1;
	vu_msg_make_reply(m, sizeof(uint64_t));
	send_reply(b, m, NULL);
}

static int handle(struct vu_backend *b, struct vu_msg *m, const struct vu_request_info **info,
		  struct req_ctx *c)
{
	*info = vu_request_info(m->hdr.request);
	int rc = vu_msg_check(m, &c->why);
	if (rc)
		return rc;
	log_debug_msg("", m);
	/* Past vu_msg_check() the request has a row, so a handler: the
	 * codec's table and handlers[] come from the same rows. */
	vu_handler h = handlers[m->hdr.request];
	int8_t pf = (*info)->protocol_feature;
	if (pf >= 0 && !has_protocol(b, (unsigned)pf))
		return fail(c, -EPROTO, "needs a protocol feature that was not negotiated");
	return h(b, c);
}

/* The connection failed (@what: "receive", "send"): log it, drop it. */
static int drop_io(struct vu_backend *b, int rc, const char *what)
{
	if (rc == -ECONNRESET)
		vqnet_log(VQNET_LOG_INFO, "vhost-user", "disconnected");
	else
		vqnet_log(VQNET_LOG_WARN, "vhost-user", "%s: %s", what, strerror(-rc));
	drop_connection(b);
	return rc;
}

/*
 * A message or a reply stopped half-way. A frontend gets VU_STALL_MS to go
 * on; past that it is dropped (docs/security.md): it cannot hold the
 * control thread, only its own connection. Return -EAGAIN or -ETIMEDOUT.
 */
static int stalled(struct vu_backend *b, const char *what)
{
	uint64_t now = clock_mono_ns();

	if (!b->stall_deadline_ns) {
		b->stall_deadline_ns = now + VU_STALL_MS * 1000000ull;
		return -EAGAIN;
	}
	if (now < b->stall_deadline_ns)
		return -EAGAIN;
	vqnet_log(VQNET_LOG_WARN, "vhost-user", "frontend %s for %u ms: connection dropped", what,
		  VU_STALL_MS);
	drop_connection(b);
	return -ETIMEDOUT;
}

/* Handle one whole message (its fds are closed here). Return 0 or -errno
 * (the connection is dropped). */
static int handle_message(struct vu_backend *b, struct vu_msg *m)
{
	const struct vu_request_info *info = NULL;
	struct req_ctx c = {.m = m, .reply_fd = -1};
	uint32_t request = m->hdr.request;
	bool ack = (m->hdr.flags & VHOST_USER_NEED_REPLY_MASK) != 0;
	int rc = handle(b, m, &info, &c);

	if (rc) {
		log_error(request, c.why, rc);
		close_fd(&c.reply_fd);
		send_failure_ack(b, m, info);
		vu_msg_close_fds(m);
		drop_connection(b);
		return rc;
	}
	vu_msg_close_fds(m);
	/* REPLY_ACK is looked at after the handler: SET_PROTOCOL_FEATURES
	 * may just have negotiated it. */
	if (!c.reply && ack && has_protocol(b, VHOST_USER_PROTOCOL_F_REPLY_ACK)) {
		m->payload.u64 = 0;
		vu_msg_make_reply(m, sizeof(uint64_t));
		c.reply = true;
	}
	if (c.reply) {
		rc = send_reply(b, m, &c.reply_fd);
		if (rc) {
			log_error(request, "sending the reply failed", rc);
			drop_connection(b);
			return rc;
		}
	}
	return 0;
}

/*
 * The connection's turn: finish a pending reply, else read on; a whole
 * message is handled. Return 0 (a message handled), -EAGAIN (nothing whole
 * yet), or the -errno of a dropped connection.
 */
static int dispatch_message(struct vu_backend *b)
{
	int rc;

	if (b->tx.pending) {
		rc = vu_msg_send_nb(b->conn_fd, &b->tx);
		if (rc < 0)
			return drop_io(b, rc, "send");
		if (rc == 0)
			return stalled(b, "stopped reading its replies");
		b->stall_deadline_ns = 0;
	}
	rc = vu_msg_recv_nb(b->conn_fd, &b->rx);
	if (rc < 0)
		return drop_io(b, rc, "receive");
	if (rc == 0) {
		if (b->rx.got)
			return stalled(b, "stopped half-way through a message");
		b->stall_deadline_ns = 0;
		return -EAGAIN;
	}
	b->stall_deadline_ns = 0;
	rc = handle_message(b, &b->rx.m);
	if (b->conn_fd >= 0)
		vu_msg_rx_reset(&b->rx);
	if (b->tx.pending) /* the reply did not all go: its stall starts now */
		b->stall_deadline_ns = clock_mono_ns() + VU_STALL_MS * 1000000ull;
	return rc;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

VQNET_EXPORT uint64_t vu_backend_supported_protocol_features(void)
{
	return SUPPORTED_PROTOCOL_FEATURES;
}

VQNET_EXPORT int vu_backend_new(const struct vu_backend_config *cfg,
				const struct vu_device_ops *ops, void *opaque,
				struct vu_backend **out)
{
	if (!cfg || !out || !cfg->socket_path || cfg->num_queues == 0 ||
	    cfg->num_queues > VU_MAX_QUEUES || cfg->config_size > VHOST_USER_MAX_CONFIG_SIZE ||
	    cfg->max_queue_size > VQ_MAX_QUEUE_SIZE ||
	    (cfg->state && !vu_be_state_fits(cfg->state, cfg->num_queues, cfg->max_queue_size)))
		return -EINVAL;
	struct sockaddr_un sa;
	int rc = make_addr(cfg->socket_path, &sa);
	if (rc)
		return rc;
	struct vu_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->ops = ops ? ops : &no_ops;
	b->opaque = opaque;
	b->listen_fd = b->conn_fd = b->backend_req_fd = b->log_fd = -1;
	rc = -ENOMEM;
	b->path = strdup(cfg->socket_path);
	if (!b->path)
		goto err_free;
	b->cfg.socket_path = b->path;
	b->vrings = calloc(cfg->num_queues, sizeof(*b->vrings));
	if (!b->vrings)
		goto err_path;
	for (unsigned i = 0; i < cfg->num_queues; i++)
		b->vrings[i] = (struct vring_slot){.kick_fd = -1, .call_fd = -1, .err_fd = -1};
	uint64_t pf = cfg->protocol_features ? cfg->protocol_features : SUPPORTED_PROTOCOL_FEATURES;
	b->offered_protocol = pf & SUPPORTED_PROTOCOL_FEATURES; /* never INBAND_NOTIFICATIONS */
	if (!cfg->client) {
		rc = cfg->activated ? adopt_listener(b, cfg->listen_fd) : open_listener(b);
		if (rc)
			goto err_vrings;
	}
	*out = b;
	return 0;

err_vrings:
	free(b->vrings);
err_path:
	free(b->path);
err_free:
	free(b);
	return rc;
}

VQNET_EXPORT void vu_backend_free(struct vu_backend *b)
{
	if (!b)
		return;
	if (b->conn_fd >= 0)
		drop_connection(b);
	if (b->listen_fd >= 0) {
		close_fd(&b->listen_fd);
		if (!b->cfg.activated)
			unlink(b->path);
	}
	free(b->vrings);
	free(b->path);
	free(b);
}

VQNET_EXPORT int vu_backend_fd(const struct vu_backend *b)
{
	return b->conn_fd >= 0 ? b->conn_fd : b->listen_fd;
}

VQNET_EXPORT short vu_backend_events(const struct vu_backend *b)
{
	return b->conn_fd >= 0 && b->tx.pending ? POLLOUT : POLLIN;
}

VQNET_EXPORT int vu_backend_timeout_ms(const struct vu_backend *b)
{
	uint64_t now;

	if (b->conn_fd < 0 || !b->stall_deadline_ns)
		return -1;
	now = clock_mono_ns();
	return now >= b->stall_deadline_ns ? 0
					   : (int)((b->stall_deadline_ns - now + 999999) / 1000000);
}

VQNET_EXPORT int vu_backend_dispatch(struct vu_backend *b)
{
	if (b->conn_fd < 0)
		return b->cfg.client ? try_connect(b) : try_accept(b);
	return dispatch_message(b);
}

VQNET_EXPORT bool vu_backend_connected(const struct vu_backend *b)
{
	return b->conn_fd >= 0;
}

VQNET_EXPORT uint64_t vu_backend_features(const struct vu_backend *b)
{
	return virtio_features(b);
}

VQNET_EXPORT struct gmem_table *vu_backend_mem(const struct vu_backend *b)
{
	return b->mem ? gmem_table_get(b->mem) : NULL;
}

VQNET_EXPORT bool vu_backend_config_notices(const struct vu_backend *b)
{
	return b->conn_fd >= 0 && b->backend_req_fd >= 0 &&
	       has_protocol(b, VHOST_USER_PROTOCOL_F_BACKEND_REQ) &&
	       has_protocol(b, VHOST_USER_PROTOCOL_F_CONFIG);
}

/* How long vu_backend_config_changed() waits for the frontend's ack. */
#define CONFIG_ACK_TIMEOUT_MS 1000

VQNET_EXPORT int vu_backend_config_changed(struct vu_backend *b)
{
	if (b->conn_fd < 0)
		return -ENOTCONN;
	if (b->backend_req_fd < 0 || !has_protocol(b, VHOST_USER_PROTOCOL_F_BACKEND_REQ) ||
	    !has_protocol(b, VHOST_USER_PROTOCOL_F_CONFIG))
		return -EOPNOTSUPP;
	bool ack = has_protocol(b, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct vu_msg m = {
		.hdr = {.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
			.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_MASK : 0),
			.size = 0}};
	/* After a timeout the channel is out of step: an ack that came late
	 * must not answer this request, so drop whatever is waiting. */
	struct pollfd stale = {.fd = b->backend_req_fd, .events = POLLIN};
	for (int n = 0;
	     b->backend_req_stale && n < 16 && poll(&stale, 1, 0) == 1 && (stale.revents & POLLIN);
	     n++) {
		struct vu_msg old_ack;
		old_ack.nfds = 0;
		if (vu_msg_recv(b->backend_req_fd, &old_ack))
			break;
		vu_msg_close_fds(&old_ack);
	}
	b->backend_req_stale = false;
	int rc = vu_msg_send(b->backend_req_fd, &m);
	if (rc || !ack)
		return rc;
	/* The control thread must not hang on a frontend that never answers
	 * (QEMU answers at once): bounded wait for the ack. */
	struct pollfd pfd = {.fd = b->backend_req_fd, .events = POLLIN};
	int ready;
	do
		ready = poll(&pfd, 1, CONFIG_ACK_TIMEOUT_MS);
	while (ready < 0 && errno == EINTR);
	if (ready <= 0) {
		b->backend_req_stale = true;
		return ready == 0 ? -ETIMEDOUT : -errno;
	}
	struct vu_msg r;
	r.nfds = 0;
	rc = vu_msg_recv(b->backend_req_fd, &r);
	if (rc)
		return rc;
	vu_msg_close_fds(&r);
	if (r.hdr.request != VHOST_USER_BACKEND_CONFIG_CHANGE_MSG ||
	    !(r.hdr.flags & VHOST_USER_REPLY_MASK) || r.hdr.size != sizeof(uint64_t))
		return -EPROTO;
	return r.payload.u64 ? -EIO : 0;
}

pthread_mutex_t vu_be_err_fd_lock = PTHREAD_MUTEX_INITIALIZER;

VQNET_EXPORT void vu_backend_vring_error(struct vu_backend *b, unsigned index)
{
	if (index >= b->cfg.num_queues)
		return;
	pthread_mutex_lock(&vu_be_err_fd_lock);
	efd_signal(b->vrings[index].err_fd);
	pthread_mutex_unlock(&vu_be_err_fd_lock);
}

VQNET_EXPORT void vu_backend_log_write(struct vu_backend *b, uint64_t gpa, uint64_t len)
{
	if (b->log_bitmap && vq_has_feature(b->features, VHOST_F_LOG_ALL))
		gmem_log_dirty(b->log_bitmap, b->log_bytes, gpa, len);
}

VQNET_EXPORT bool vu_backend_logging(const struct vu_backend *b)
{
	return b->log_bitmap && vq_has_feature(b->features, VHOST_F_LOG_ALL);
}
