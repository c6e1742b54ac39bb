/* SPDX-License-Identifier: MIT */
/*
 * vhost-user frontend: the side a VMM or a userspace driver plays.
 *
 * Theory of operation
 * -------------------
 * The frontend owns one connected Unix stream socket. Every request is one
 * synchronous round trip made by fe_call():
 *
 *   1. build a struct vu_msg (flags = VERSION; NEED_REPLY when REPLY_ACK was
 *      negotiated and the request has no reply of its own),
 *   2. vu_msg_send() it with its fds (the fds stay ours; we never give away
 *      a caller's fd),
 *   3. wait (bounded by VU_FE_REPLY_TIMEOUT_MS) for the reply where one
 *      comes: a GET_* body, or the u64 acknowledgement (0 = success).
 *
 * A reply is validated before use: REPLY flag and version set, same request
 * number, the expected payload size, no fds. Anything else, a timeout, or a
 * failed send leaves the stream out of step, so the connection is marked
 * broken and every later request fails with -ENOTCONN; the caller closes it.
 * A backend that merely refuses a request (non-zero ack, empty GET_CONFIG
 * reply) yields -EIO and the connection stays usable.
 *
 * Shared memory (vu_shm) is one memfd mapping: its fd goes to the backend
 * in SET_MEM_TABLE / ADD_MEM_REG, its mapping address is the "user address"
 * vhost-user ring addresses are expressed in.
 *
 * A reply that carries an fd (GET_INFLIGHT_FD only) must carry exactly one;
 * it becomes the caller's. The inflight buffer (struct vu_inflight) is
 * checked against its fd's real size before it is mapped, and is owned by
 * the caller, not by the connection: it outlives a backend crash and is
 * handed to the next connection with SET_INFLIGHT_FD.
 *
 * The backend request channel is a socketpair: one end goes to the backend
 * with SET_BACKEND_REQ_FD (and is closed here), the other stays ours; the
 * caller polls it and calls vu_frontend_dispatch_backend_req().
 *
 * Threading: one vu_frontend is used from one thread (vhost_user.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/vhost_user.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "msg.h"

/* How long one request waits for its reply; GET_VRING_BASE waits for the
 * device to stop its ring, so be generous. */
#define VU_FE_REPLY_TIMEOUT_MS 10000
/* Connect retry period while the backend is not there yet. */
#define VU_FE_CONNECT_RETRY_MS 10
#define VU_FE_HUGE_PAGE_SIZE   (2u << 20)

struct vu_frontend {
	int sock;
	int backend_req_fd;	    /* our end of the backend request channel, or -1 */
	bool broken;		    /* the stream is out of step: refuse everything */
	bool protocol_features_set; /* SET_PROTOCOL_FEATURES succeeded */
	uint64_t protocol_features; /* negotiated (valid once set) */
	unsigned config_changes;    /* BACKEND_CONFIG_CHANGE_MSG received */
};

/* ------------------------------------------------------------------------
 * Shared memory
 * ------------------------------------------------------------------------ */

static size_t round_up(size_t v, size_t align)
{
	return (v + align - 1) / align * align;
}

VQNET_EXPORT int vu_shm_alloc(size_t size, uint64_t gpa, bool hugetlb, struct vu_shm *out)
{
	unsigned flags = MFD_CLOEXEC;
	size_t align;
	void *base;
	int fd, err;

	if (!out)
		return -EINVAL;
	out->fd = -1;
	out->base = NULL;
	out->size = 0;
	out->gpa = 0;
	if (size == 0)
		return -EINVAL;
	if (hugetlb) {
		flags |= MFD_HUGETLB;
#ifdef MFD_HUGE_2MB
		flags |= MFD_HUGE_2MB;
#endif
		align = VU_FE_HUGE_PAGE_SIZE;
	} else {
		long pg = sysconf(_SC_PAGESIZE);

		align = pg > 0 ? (size_t)pg : 4096u;
	}
	if (size > SIZE_MAX - align)
		return -EINVAL;
	size = round_up(size, align);

	fd = memfd_create(hugetlb ? "vqnet-shm-huge" : "vqnet-shm", flags);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		err = -errno;
		goto err_close;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto err_close;
	}
	out->fd = fd;
	out->base = base;
	out->size = size;
	out->gpa = gpa;
	return 0;

err_close:
	close(fd);
	return err;
}

VQNET_EXPORT void vu_shm_free(struct vu_shm *m)
{
	if (!m)
		return;
	if (m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->base = NULL;
	m->size = 0;
}

/* ------------------------------------------------------------------------
 * Connection
 * ------------------------------------------------------------------------ */

/* Non-blocking once connected: a backend that stops half-way through a
 * reply, or stops reading a request, costs at most VU_STALL_MS
 * (lib/vhost_user/conn.c waits that long for the rest), never a hang. */
static int fe_set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int fe_connect_once(const struct sockaddr_un *sa, int *out)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = fe_set_nonblocking(fd);
	if (err < 0) {
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

VQNET_EXPORT int vu_frontend_connect(const char *path, unsigned timeout_ms,
				     struct vu_frontend **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t deadline;
	struct vu_frontend *f;
	int fd = -1, err;

	if (!path || !out)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	deadline = clock_mono_ms() + timeout_ms;
	for (;;) {
		struct timespec pause = {0, VU_FE_CONNECT_RETRY_MS * 1000000L};

		err = fe_connect_once(&sa, &fd);
		if (err == 0)
			break;
		if (err != -ENOENT && err != -ECONNREFUSED)
			return err;
		if (clock_mono_ms() >= deadline)
			return err;
		nanosleep(&pause, NULL);
	}

	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->sock = fd;
	f->backend_req_fd = -1;
	*out = f;
	return 0;
}

VQNET_EXPORT int vu_frontend_fd(const struct vu_frontend *f)
{
	return f ? f->sock : -1;
}

VQNET_EXPORT void vu_frontend_close(struct vu_frontend *f)
{
	if (!f)
		return;
	if (f->backend_req_fd >= 0)
		close(f->backend_req_fd);
	if (f->sock >= 0)
		close(f->sock);
	free(f);
}

/* ------------------------------------------------------------------------
 * Request / reply
 * ------------------------------------------------------------------------ */

static bool fe_has_protocol_feature(const struct vu_frontend *f, unsigned bit)
{
	return f->protocol_features_set && vq_has_feature(f->protocol_features, bit);
}

static void fe_msg_init(struct vu_msg *m, uint32_t request, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	m->hdr.request = request;
	m->hdr.flags = VHOST_USER_VERSION;
	m->hdr.size = size;
}

/*
 * Wait for one reply to @request; size-check is the caller's. @reply_fd:
 * NULL when the reply must carry no fd; else it must carry exactly one,
 * which is stored there (the caller then owns it). Any other fd count is
 * -EPROTO (every fd that came is closed). @reply's header is zero until a
 * reply is read into it.
 */
static int fe_recv_reply(struct vu_frontend *f, uint32_t request, struct vu_msg *reply,
			 int *reply_fd)
{
	struct pollfd pfd = {.fd = f->sock, .events = POLLIN};
	int rc;

	reply->hdr = (struct vhost_user_header){0};

	do {
		rc = poll(&pfd, 1, VU_FE_REPLY_TIMEOUT_MS);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	rc = vu_msg_recv(f->sock, reply);
	if (rc < 0)
		return rc;
	if (reply->nfds != (reply_fd ? 1u : 0u) ||
	    (reply->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(reply->hdr.flags & VHOST_USER_REPLY_MASK) || reply->hdr.request != request) {
		vu_msg_close_fds(reply);
		return -EPROTO;
	}
	if (reply_fd) {
		*reply_fd = reply->fds[0];
		reply->nfds = 0;
	}
	return 0;
}

/*
 * fe_call_fd() - send @m and wait for what comes back.
 * @reply: NULL when the request has no reply body; then, with REPLY_ACK
 *         negotiated, NEED_REPLY is set and the u64 acknowledgement awaited.
 *         Otherwise receives the reply; its size is checked by the caller.
 * @reply_fd: NULL, or where the one fd the reply must carry goes (the
 *         caller owns it; only set when 0 is returned).
 * Return: 0; -EIO when the backend acknowledged with non-zero; -ENOTCONN
 * on a broken connection; or another -errno (the connection is then broken).
 */
static int fe_call_fd(struct vu_frontend *f, struct vu_msg *m, struct vu_msg *reply, int *reply_fd)
{
	struct vu_msg ack;
	bool want_ack = !reply && fe_has_protocol_feature(f, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	int rc;

	if (f->broken)
		return -ENOTCONN;
	if (want_ack)
		m->hdr.flags |= VHOST_USER_NEED_REPLY_MASK;
	rc = vu_msg_send(f->sock, m);
	if (rc < 0)
		goto err_broken;
	if (reply) {
		rc = fe_recv_reply(f, m->hdr.request, reply, reply_fd);
		if (rc < 0)
			goto err_broken;
		return 0;
	}
	if (!want_ack)
		return 0;
	rc = fe_recv_reply(f, m->hdr.request, &ack, NULL);
	if (rc < 0)
		goto err_broken;
	if (ack.hdr.size != sizeof(uint64_t)) {
		rc = -EPROTO;
		goto err_broken;
	}
	return ack.payload.u64 ? -EIO : 0;

err_broken:
	f->broken = true;
	return rc;
}

/* fe_call_fd() for replies that carry no fd. */
static int fe_call(struct vu_frontend *f, struct vu_msg *m, struct vu_msg *reply)
{
	return fe_call_fd(f, m, reply, NULL);
}

/* A request without payload or fds whose reply is one u64. */
static int fe_get_u64(struct vu_frontend *f, uint32_t request, uint64_t *val)
{
	struct vu_msg m, reply;
	int rc;

	if (!f || !val)
		return -EINVAL;
	fe_msg_init(&m, request, 0);
	rc = fe_call(f, &m, &reply);
	if (rc < 0)
		return rc;
	if (reply.hdr.size != sizeof(uint64_t)) {
		f->broken = true;
		return -EPROTO;
	}
	*val = reply.payload.u64;
	return 0;
}

/* A request with a u64 payload and no reply body. */
static int fe_set_u64(struct vu_frontend *f, uint32_t request, uint64_t val)
{
	struct vu_msg m;

	if (!f)
		return -EINVAL;
	fe_msg_init(&m, request, sizeof(uint64_t));
	m.payload.u64 = val;
	return fe_call(f, &m, NULL);
}

static int fe_set_state(struct vu_frontend *f, uint32_t request, unsigned index, uint32_t num)
{
	struct vu_msg m;

	fe_msg_init(&m, request, sizeof(struct vhost_vring_state));
	m.payload.state.index = index;
	m.payload.state.num = num;
	return fe_call(f, &m, NULL);
}

/* SET_VRING_KICK / SET_VRING_CALL: index in bits 0-7, NOFD when @fd < 0. */
static int fe_set_vring_fd(struct vu_frontend *f, uint32_t request, unsigned index, int fd)
{
	struct vu_msg m;

	fe_msg_init(&m, request, sizeof(uint64_t));
	m.payload.u64 = index & VHOST_USER_VRING_IDX_MASK;
	if (fd < 0) {
		m.payload.u64 |= VHOST_USER_VRING_NOFD_MASK;
	} else {
		m.fds[0] = fd;
		m.nfds = 1;
	}
	return fe_call(f, &m, NULL);
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

VQNET_EXPORT int vu_frontend_get_features(struct vu_frontend *f, uint64_t *features)
{
	return fe_get_u64(f, VHOST_USER_GET_FEATURES, features);
}

VQNET_EXPORT int vu_frontend_set_features(struct vu_frontend *f, uint64_t features)
{
	return fe_set_u64(f, VHOST_USER_SET_FEATURES, features);
}

VQNET_EXPORT int vu_frontend_get_protocol_features(struct vu_frontend *f, uint64_t *features)
{
	return fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, features);
}

/*
 * The REPLY_ACK we may be negotiating applies from the next request on, so
 * this one goes without NEED_REPLY (as QEMU does).
 */
VQNET_EXPORT int vu_frontend_set_protocol_features(struct vu_frontend *f, uint64_t features)
{
	struct vu_msg m;
	int rc;

	if (!f)
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_SET_PROTOCOL_FEATURES, sizeof(uint64_t));
	m.payload.u64 = features;
	f->protocol_features_set = false;
	rc = fe_call(f, &m, NULL);
	if (rc < 0)
		return rc;
	f->protocol_features = features;
	f->protocol_features_set = true;
	return 0;
}

VQNET_EXPORT int vu_frontend_set_owner(struct vu_frontend *f)
{
	struct vu_msg m;

	if (!f)
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_SET_OWNER, 0);
	return fe_call(f, &m, NULL);
}

/* RESET_DEVICE where negotiated, else the deprecated RESET_OWNER (QEMU does
 * the same). */
VQNET_EXPORT int vu_frontend_reset_device(struct vu_frontend *f)
{
	struct vu_msg m;

	if (!f)
		return -EINVAL;
	fe_msg_init(&m,
		    fe_has_protocol_feature(f, VHOST_USER_PROTOCOL_F_RESET_DEVICE)
			    ? VHOST_USER_RESET_DEVICE
			    : VHOST_USER_RESET_OWNER,
		    0);
	return fe_call(f, &m, NULL);
}

VQNET_EXPORT int vu_frontend_get_queue_num(struct vu_frontend *f, uint64_t *num)
{
	return fe_get_u64(f, VHOST_USER_GET_QUEUE_NUM, num);
}

VQNET_EXPORT int vu_frontend_get_max_mem_slots(struct vu_frontend *f, uint64_t *slots)
{
	return fe_get_u64(f, VHOST_USER_GET_MAX_MEM_SLOTS, slots);
}

static void fe_region_from_shm(struct vhost_user_mem_region *r, const struct vu_shm *shm)
{
	r->guest_phys_addr = shm->gpa;
	r->memory_size = shm->size;
	r->userspace_addr = (uint64_t)(uintptr_t)shm->base;
	r->mmap_offset = 0;
}

VQNET_EXPORT int vu_frontend_set_mem_table(struct vu_frontend *f, const struct vu_shm *regions,
					   unsigned n)
{
	struct vu_msg m;

	if (!f || n > VHOST_MEMORY_BASELINE_NREGIONS || (n && !regions))
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_SET_MEM_TABLE,
		    (uint32_t)(offsetof(struct vhost_user_memory, regions) +
			       n * sizeof(struct vhost_user_mem_region)));
	m.payload.memory.nregions = n;
	for (unsigned i = 0; i < n; i++) {
		if (regions[i].fd < 0 || !regions[i].base || !regions[i].size)
			return -EINVAL;
		fe_region_from_shm(&m.payload.memory.regions[i], &regions[i]);
		m.fds[i] = regions[i].fd;
	}
	m.nfds = n;
	return fe_call(f, &m, NULL);
}

VQNET_EXPORT int vu_frontend_add_mem_reg(struct vu_frontend *f, const struct vu_shm *region)
{
	struct vu_msg m;

	if (!f || !region || region->fd < 0 || !region->base || !region->size)
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_ADD_MEM_REG, sizeof(struct vhost_user_mem_reg));
	fe_region_from_shm(&m.payload.mem_reg.region, region);
	m.fds[0] = region->fd;
	m.nfds = 1;
	return fe_call(f, &m, NULL);
}

/* The region is identified by gpa, uva and size; no fd (vhost-user.rst). */
VQNET_EXPORT int vu_frontend_rem_mem_reg(struct vu_frontend *f, const struct vu_shm *region)
{
	struct vu_msg m;

	if (!f || !region || !region->base || !region->size)
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_REM_MEM_REG, sizeof(struct vhost_user_mem_reg));
	fe_region_from_shm(&m.payload.mem_reg.region, region);
	return fe_call(f, &m, NULL);
}

VQNET_EXPORT int vu_frontend_setup_vring(struct vu_frontend *f, unsigned index,
					 const struct vu_vring_setup *s)
{
	struct vu_msg m;
	int rc;

	if (!f || !s || index >= VU_MAX_QUEUES)
		return -EINVAL;
	rc = fe_set_state(f, VHOST_USER_SET_VRING_NUM, index, s->num);
	if (rc < 0)
		return rc;

	fe_msg_init(&m, VHOST_USER_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.payload.addr.index = index;
	m.payload.addr.flags = 0;
	m.payload.addr.desc_user_addr = s->desc_uva;
	m.payload.addr.avail_user_addr = s->driver_uva;
	m.payload.addr.used_user_addr = s->device_uva;
	rc = fe_call(f, &m, NULL);
	if (rc < 0)
		return rc;

	rc = fe_set_state(f, VHOST_USER_SET_VRING_BASE, index, s->base);
	if (rc < 0)
		return rc;
	rc = fe_set_vring_fd(f, VHOST_USER_SET_VRING_CALL, index, s->call_fd);
	if (rc < 0)
		return rc;
	return fe_set_vring_fd(f, VHOST_USER_SET_VRING_KICK, index, s->kick_fd);
}

VQNET_EXPORT int vu_frontend_set_vring_enable(struct vu_frontend *f, unsigned index, bool enable)
{
	if (!f || index >= VU_MAX_QUEUES)
		return -EINVAL;
	return fe_set_state(f, VHOST_USER_SET_VRING_ENABLE, index, enable ? 1 : 0);
}

VQNET_EXPORT int vu_frontend_get_vring_base(struct vu_frontend *f, unsigned index, uint32_t *num)
{
	struct vu_msg m, reply;
	int rc;

	if (!f || !num || index >= VU_MAX_QUEUES)
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_GET_VRING_BASE, sizeof(struct vhost_vring_state));
	m.payload.state.index = index;
	rc = fe_call(f, &m, &reply);
	if (rc < 0)
		return rc;
	if (reply.hdr.size != sizeof(struct vhost_vring_state) ||
	    reply.payload.state.index != index) {
		f->broken = true;
		return -EPROTO;
	}
	*num = reply.payload.state.num;
	return 0;
}

static bool fe_config_args_ok(uint32_t offset, uint32_t len)
{
	return len <= VHOST_USER_MAX_CONFIG_SIZE && offset <= VHOST_USER_MAX_CONFIG_SIZE - len;
}

/* A zero-length (or header-only) reply is the backend's refusal
 * (vhost-user.rst, GET_CONFIG): -EIO, the connection stays usable. */
VQNET_EXPORT int vu_frontend_get_config(struct vu_frontend *f, uint32_t offset, void *buf,
					uint32_t len)
{
	struct vu_msg m, reply;
	int rc;

	if (!f || (len && !buf) || !fe_config_args_ok(offset, len))
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + len);
	m.payload.config.offset = offset;
	m.payload.config.size = len;
	m.payload.config.flags = 0;
	rc = fe_call(f, &m, &reply);
	if (rc < 0)
		return rc;
	if (len && (reply.hdr.size == 0 || reply.hdr.size == VHOST_USER_CONFIG_HDR_SIZE))
		return -EIO;
	if (reply.hdr.size != VHOST_USER_CONFIG_HDR_SIZE + len ||
	    reply.payload.config.size != len) {
		f->broken = true;
		return -EPROTO;
	}
	memcpy(buf, reply.payload.config.region, len);
	return 0;
}

VQNET_EXPORT int vu_frontend_set_config(struct vu_frontend *f, uint32_t offset, const void *buf,
					uint32_t len)
{
	struct vu_msg m;

	if (!f || (len && !buf) || !fe_config_args_ok(offset, len))
		return -EINVAL;
	fe_msg_init(&m, VHOST_USER_SET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + len);
	m.payload.config.offset = offset;
	m.payload.config.size = len;
	m.payload.config.flags = 0; /* VHOST_SET_CONFIG_TYPE_FRONTEND */
	if (len)
		memcpy(m.payload.config.region, buf, len);
	return fe_call(f, &m, NULL);
}

VQNET_EXPORT int vu_frontend_set_status(struct vu_frontend *f, uint8_t status)
{
	return fe_set_u64(f, VHOST_USER_SET_STATUS, status);
}

VQNET_EXPORT int vu_frontend_get_status(struct vu_frontend *f, uint8_t *status)
{
	uint64_t v;
	int rc;

	if (!status)
		return -EINVAL;
	rc = fe_get_u64(f, VHOST_USER_GET_STATUS, &v);
	if (rc < 0)
		return rc;
	if (v > UINT8_MAX) {
		f->broken = true;
		return -EPROTO;
	}
	*status = (uint8_t)v;
	return 0;
}

/* ------------------------------------------------------------------------
 * Backend request channel
 * ------------------------------------------------------------------------ */

VQNET_EXPORT int vu_frontend_open_backend_req(struct vu_frontend *f)
{
	struct vu_msg m;
	int sv[2], rc;

	if (!f)
		return -EINVAL;
	if (f->backend_req_fd >= 0)
		return -EALREADY;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	rc = fe_set_nonblocking(sv[0]); /* ours only: the backend sets its own */
	if (rc < 0) {
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	fe_msg_init(&m, VHOST_USER_SET_BACKEND_REQ_FD, 0);
	m.fds[0] = sv[1];
	m.nfds = 1;
	rc = fe_call(f, &m, NULL);
	close(sv[1]); /* the backend holds its own copy now */
	if (rc < 0) {
		close(sv[0]);
		return rc;
	}
	f->backend_req_fd = sv[0];
	return 0;
}

VQNET_EXPORT int vu_frontend_backend_req_fd(const struct vu_frontend *f)
{
	return f ? f->backend_req_fd : -1;
}

/*
 * Handle one backend request. CONFIG_CHANGE_MSG is counted; anything else
 * is refused (acknowledged non-zero when the backend asked for a reply).
 * Return: 0 for a handled message, -EOPNOTSUPP for a refused one,
 * -ECONNRESET when the backend closed the channel (which is then closed
 * here too), or another -errno.
 */
VQNET_EXPORT int vu_frontend_dispatch_backend_req(struct vu_frontend *f)
{
	struct vu_msg m;
	bool need_reply;
	int rc, result = 0;

	if (!f)
		return -EINVAL;
	if (f->backend_req_fd < 0)
		return -ENOTCONN;
	rc = vu_msg_recv(f->backend_req_fd, &m);
	if (rc < 0) {
		/* Closed, or cut short (the stream is out of step for good):
		 * the channel is gone. */
		if (rc != -EAGAIN) {
			close(f->backend_req_fd);
			f->backend_req_fd = -1;
		}
		return rc;
	}
	vu_msg_close_fds(&m); /* none of the requests we handle carries fds */
	if ((m.hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (m.hdr.flags & VHOST_USER_REPLY_MASK))
		return -EPROTO;
	need_reply = m.hdr.flags & VHOST_USER_NEED_REPLY_MASK;

	switch (m.hdr.request) {
	case VHOST_USER_BACKEND_CONFIG_CHANGE_MSG:
		f->config_changes++;
		break;
	default:
		result = -EOPNOTSUPP;
		break;
	}
	if (need_reply) {
		vu_msg_make_reply(&m, sizeof(uint64_t));
		m.payload.u64 = result ? 1 : 0;
		m.nfds = 0;
		rc = vu_msg_send(f->backend_req_fd, &m);
		if (rc < 0)
			return rc;
	}
	return result;
}

VQNET_EXPORT unsigned vu_frontend_config_changes(const struct vu_frontend *f)
{
	return f ? f->config_changes : 0;
}

/* ------------------------------------------------------------------------
 * Error fds and inflight I/O tracking
 * ------------------------------------------------------------------------ */

VQNET_EXPORT int vu_frontend_set_vring_err(struct vu_frontend *f, unsigned index, int fd)
{
	if (!f || index >= VU_MAX_QUEUES)
		return -EINVAL;
	return fe_set_vring_fd(f, VHOST_USER_SET_VRING_ERR, index, fd);
}

static void fe_inflight_clear(struct vu_inflight *in)
{
	memset(in, 0, sizeof(*in));
	in->fd = -1;
}

/*
 * Check a GET_INFLIGHT_FD reply against what was asked and against the
 * fd it came with (the backend is not trusted to size either), then map
 * it. Return 0 with @out filled, or -EPROTO / -errno.
 */
static int fe_inflight_map(const struct vhost_user_inflight *r, uint16_t num_queues,
			   uint16_t queue_size, int fd, struct vu_inflight *out)
{
	struct stat st;
	uint64_t end;
	void *map;

	if (r->num_queues != num_queues || r->queue_size != queue_size || r->mmap_size == 0 ||
	    __builtin_add_overflow(r->mmap_offset, r->mmap_size, &end) || end > SIZE_MAX)
		return -EPROTO;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0 || end > (uint64_t)st.st_size)
		return -EPROTO;
	map = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	out->fd = fd;
	out->map = map;
	out->map_len = (size_t)end;
	out->base = (uint8_t *)map + r->mmap_offset;
	out->mmap_size = r->mmap_size;
	out->mmap_offset = r->mmap_offset;
	out->num_queues = num_queues;
	out->queue_size = queue_size;
	return 0;
}

VQNET_EXPORT int vu_frontend_get_inflight_fd(struct vu_frontend *f, uint16_t num_queues,
					     uint16_t queue_size, struct vu_inflight *out)
{
	struct vu_msg m, reply;
	int fd = -1, rc;

	if (!out)
		return -EINVAL;
	fe_inflight_clear(out);
	if (!f || !num_queues || !queue_size)
		return -EINVAL;
	if (!fe_has_protocol_feature(f, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
		return -EOPNOTSUPP;
	fe_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, sizeof(struct vhost_user_inflight));
	m.payload.inflight.num_queues = num_queues;
	m.payload.inflight.queue_size = queue_size;
	rc = fe_call_fd(f, &m, &reply, &fd);
	if (rc < 0)
		return rc;
	if (reply.hdr.size != sizeof(struct vhost_user_inflight)) {
		rc = -EPROTO;
		goto err_close;
	}
	rc = fe_inflight_map(&reply.payload.inflight, num_queues, queue_size, fd, out);
	if (rc < 0)
		goto err_close;
	return 0;

err_close:
	close(fd);
	f->broken = f->broken || rc == -EPROTO;
	return rc;
}

VQNET_EXPORT int vu_frontend_set_inflight_fd(struct vu_frontend *f, const struct vu_inflight *in)
{
	struct vu_msg m;

	if (!f || !in || in->fd < 0 || !in->mmap_size)
		return -EINVAL;
	if (!fe_has_protocol_feature(f, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
		return -EOPNOTSUPP;
	fe_msg_init(&m, VHOST_USER_SET_INFLIGHT_FD, sizeof(struct vhost_user_inflight));
	m.payload.inflight.mmap_size = in->mmap_size;
	m.payload.inflight.mmap_offset = in->mmap_offset;
	m.payload.inflight.num_queues = in->num_queues;
	m.payload.inflight.queue_size = in->queue_size;
	m.fds[0] = in->fd;
	m.nfds = 1;
	return fe_call(f, &m, NULL);
}

VQNET_EXPORT void vu_inflight_free(struct vu_inflight *in)
{
	if (!in)
		return;
	if (in->map)
		munmap(in->map, in->map_len);
	if (in->fd >= 0)
		close(in->fd);
	fe_inflight_clear(in);
}
