/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the driver library's bring-up and config reads against a
 * lying backend. vnet_drv_open() negotiates with a fake vhost-user
 * backend (a thread on the other end of a Unix socket) whose every reply
 * the input chooses: features, protocol features, queue count, the
 * config space (MAC, status, max_virtqueue_pairs, MTU), acks; and which
 * replies lie (wrong request code, wrong size, missing REPLY flag) or
 * never come (the backend hangs up). Once open, the link is read from
 * config space (vnet_drv_link_up()) and the backend's requests on its
 * channel (config changes, unknown requests, malformed ones) are handled
 * (vnet_drv_poll_events()); then vnet_drv_close() talks to the backend
 * once more.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h):
 *   u8  config: queue pairs 1 + (x & 1); bit 1 packed wanted, bit 2 split
 *       only; ring size 8 << (x >> 3 & 3)
 *   then, for every request the driver sends that wants an answer (the
 *   GET_* requests, and any with NEED_REPLY), one u8 mode, x % 8:
 *     0..4  an honest reply: the right code, flags and size, the value
 *           from the input (a u64, or the config bytes asked for); GET_
 *           FEATURES gets VERSION_1 set when bit 7 of the mode is clear
 *     5     the wrong request code
 *     6     the wrong size: u16 % 269 payload bytes from the input (at most
 *           the largest payload)
 *     7     no reply: the backend hangs up
 *   When the driver hands over the backend request channel, u8 % 4
 *   messages are queued on it at once: u8 request (bit 7 set:
 *   CONFIG_CHANGE_MSG), u8 flags bits (NEED_REPLY, REPLY, a bad version),
 *   u8 % 16 payload bytes.
 *   The input running out is the backend hanging up.
 *
 * Every message the fake backend writes is whole (a message cut short
 * costs the driver its 5 s stall limit: tests/vhost_user/
 * test_frontend_wire.c proves that bound, a fuzzer cannot wait for it).
 *
 * Invariants (FUZZ_CHECK): open returns 0 with a device or a negative
 * errno with none; an open device has 1..2 queue pairs as asked and
 * VERSION_1 negotiated, link_up() returns 0, 1 or -errno; no fd is left
 * open after close (ASan/LSan: no leak, nothing out of bounds).
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vqnet/vnet_drv.h>

#include "../fuzz/fuzz_input.h"
#include "spec/vhost_user_msg.h"
#include "vhost_user/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake_backend {
	struct fuzz_input in;
	int listen_fd;
	int done_fd;	 /* eventfd: the driver's side returned */
	int sock;	 /* the accepted connection, -1 once hung up */
	int backend_req; /* the channel the driver handed over, or -1 */
};

static char sock_path[108];
static int listen_fd = -1;

/* One listening socket for the whole run, in a private directory. */
static int listen_once(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/vqnet-fuzz-drv-XXXXXX";

	if (listen_fd >= 0)
		return listen_fd;
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 4) < 0)
		abort();
	return listen_fd;
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Queue u8 % 4 backend requests, whole, on the channel just handed over. */
static void queue_backend_requests(struct fake_backend *b)
{
	unsigned n = fin_u8(&b->in) % 4;

	for (unsigned i = 0; i < n; i++) {
		struct vu_msg m = {0};
		uint8_t req = fin_u8(&b->in), fl = fin_u8(&b->in);

		m.hdr.request = req & 0x80 ? VHOST_USER_BACKEND_CONFIG_CHANGE_MSG : req;
		m.hdr.flags = (fl & 4 ? 0 : VHOST_USER_VERSION) |
			      (fl & 1 ? VHOST_USER_NEED_REPLY_MASK : 0) |
			      (fl & 2 ? VHOST_USER_REPLY_MASK : 0);
		m.hdr.size = fin_u8(&b->in) % 16;
		for (uint32_t k = 0; k < m.hdr.size; k++)
			m.payload.raw[k] = fin_u8(&b->in);
		if (vu_msg_send(b->backend_req, &m) < 0)
			return;
	}
}

/* The value part of an honest reply to @req. */
static uint32_t honest_payload(struct fake_backend *b, const struct vu_msg *req, uint8_t mode,
			       struct vu_msg *r)
{
	switch (req->hdr.request) {
	case VHOST_USER_GET_CONFIG: {
		uint32_t len = req->payload.config.size;

		if (len > VHOST_USER_MAX_PAYLOAD - VHOST_USER_CONFIG_HDR_SIZE)
			len = 0;
		r->payload.config.offset = req->payload.config.offset;
		r->payload.config.size = len;
		r->payload.config.flags = 0;
		for (uint32_t k = 0; k < len; k++)
			r->payload.config.region[k] = fin_u8(&b->in);
		return VHOST_USER_CONFIG_HDR_SIZE + len;
	}
	case VHOST_USER_GET_VRING_BASE:
		r->payload.state.index = req->payload.state.index;
		r->payload.state.num = fin_u32(&b->in);
		return sizeof(r->payload.state);
	case VHOST_USER_GET_FEATURES:
		r->payload.u64 = fin_u64(&b->in);
		if (!(mode & 0x80))
			r->payload.u64 |= 1ull << 32; /* VIRTIO_F_VERSION_1 */
		return sizeof(uint64_t);
	default: /* GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, acks */
		r->payload.u64 = fin_u64(&b->in);
		return sizeof(uint64_t);
	}
}

/* Answer @req as the input says. Return false when the backend hangs up. */
static bool answer(struct fake_backend *b, const struct vu_msg *req)
{
	uint8_t mode = fin_u8(&b->in);
	struct vu_msg r = {0};

	if (!b->in.left || mode % 8 == 7)
		return false;
	r.hdr.request = req->hdr.request;
	r.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	if (mode % 8 == 5)
		r.hdr.request = fin_u8(&b->in);
	if (mode % 8 == 6) {
		r.hdr.size = fin_u16(&b->in) % (VHOST_USER_MAX_PAYLOAD + 1);
		for (uint32_t k = 0; k < r.hdr.size; k++)
			r.payload.raw[k] = fin_u8(&b->in);
	} else {
		r.hdr.size = honest_payload(b, req, mode, &r);
	}
	return vu_msg_send(b->sock, &r) == 0;
}

static bool wants_answer(const struct vu_msg *m)
{
	const struct vu_request_info *info = vu_request_info(m->hdr.request);

	return (m->hdr.flags & VHOST_USER_NEED_REPLY_MASK) || (info && info->always_replies);
}

/* The driver's connection: it is pending before vnet_drv_open() returns,
 * so once the driver's side is done with none pending, none will come
 * (its configuration was refused before it connected). */
static int accept_driver(struct fake_backend *b)
{
	struct pollfd p[2] = {{.fd = b->listen_fd, .events = POLLIN},
			      {.fd = b->done_fd, .events = POLLIN}};

	while (poll(p, 2, -1) < 0)
		;
	if (!(p[0].revents & POLLIN))
		return -1;
	return accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
}

/* The fake backend: serve requests until the driver or the input ends. */
static void *backend_thread(void *arg)
{
	struct fake_backend *b = arg;
	struct vu_msg m;

	b->sock = accept_driver(b);
	while (b->sock >= 0 && vu_msg_recv(b->sock, &m) == 0) {
		if (m.hdr.request == VHOST_USER_SET_BACKEND_REQ_FD && m.nfds == 1 &&
		    b->backend_req < 0) {
			b->backend_req = m.fds[0];
			m.nfds = 0;
			queue_backend_requests(b);
		}
		vu_msg_close_fds(&m);
		if (wants_answer(&m) && !answer(b, &m))
			break;
	}
	if (b->sock >= 0)
		close(b->sock);
	if (b->backend_req >= 0)
		close(b->backend_req);
	return NULL;
}

/* The driver's side: open, read the config, handle events, close. */
static void drive(uint8_t c)
{
	struct vnet_drv_config cfg = {
		.socket_path = sock_path,
		.connect_timeout_ms = 1000,
		.queue_pairs = 1 + (c & 1),
		.ring_format = c & 2 ? VNET_DRV_RING_PACKED
				     : (c & 4 ? VNET_DRV_RING_SPLIT : VNET_DRV_RING_ANY),
		.ring_size = 8u << (c >> 3 & 3),
		.pool_size = 64,
		.ctrl_timeout_ms = 50,
	};
	struct vnet_drv *drv = NULL;
	uint8_t mac[6];
	int rc = vnet_drv_open(&cfg, &drv);

	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK((rc == 0) == (drv != NULL));
	if (rc)
		return;
	FUZZ_CHECK(vnet_drv_queue_pairs(drv) == cfg.queue_pairs);
	FUZZ_CHECK(vnet_drv_has_feature(drv, 32));
	vnet_drv_mac(drv, mac);
	rc = vnet_drv_link_up(drv);
	FUZZ_CHECK(rc == 0 || rc == 1 || rc < 0);
	(void)vnet_drv_poll_events(drv);
	vnet_drv_close(drv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_backend b = {.in = {data, size}, .sock = -1, .backend_req = -1};
	unsigned fds_before;
	pthread_t t;
	uint8_t c;

	b.listen_fd = listen_once();
	fds_before = open_fds();
	b.done_fd = eventfd(0, EFD_CLOEXEC);
	if (b.done_fd < 0)
		abort();
	c = fin_u8(&b.in);
	if (pthread_create(&t, NULL, backend_thread, &b))
		abort();
	drive(c);
	/* The driver's socket is closed: the backend's next read ends. */
	if (write(b.done_fd, &(uint64_t){1}, 8) != 8)
		abort();
	pthread_join(t, NULL);
	close(b.done_fd);
	FUZZ_CHECK(open_fds() == fds_before);
	return 0;
}
