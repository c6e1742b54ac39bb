/* SPDX-License-Identifier: MIT */
/*
 * The library's vhost-user frontend on its own: its shared memory
 * (vu_shm_alloc), its connect timeout, and what it puts on the wire and
 * accepts back against a scripted peer (fe_be_fixture.h for the
 * constants): replies are queued on the socket before each call, so one
 * thread plays both sides deterministically.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/test_util.h"
#include "fe_be_fixture.h"
#include "vhost_user/msg.h"

static void test_shm_alloc(void **state)
{
	struct vu_shm m;
	int rc;

	(void)state;
	assert_int_equal(vu_shm_alloc(1000, 0x1000, false, &m), 0);
	assert_true(m.fd >= 0);
	assert_non_null(m.base);
	assert_true(m.size >= 1000 && m.size % 4096 == 0);
	assert_true(m.gpa == 0x1000);
	assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
	m.base[m.size - 1] = 1;
	vu_shm_free(&m);
	assert_int_equal(m.fd, -1);
	assert_null(m.base);
	vu_shm_free(&m); /* twice is harmless */
	assert_int_equal(vu_shm_alloc(0, 0, false, &m), -EINVAL);

	/* huge pages: works where some are reserved, else a clean error */
	rc = vu_shm_alloc(4096, 0, true, &m);
	if (rc == 0) {
		assert_true(m.size == (2u << 20));
		vu_shm_free(&m);
	} else {
		assert_true(rc < 0);
		assert_int_equal(m.fd, -1);
	}
}

static void test_connect_timeout(void **state)
{
	struct vu_frontend *f = NULL;
	uint64_t t0 = now_ms();
	int rc;

	(void)state;
	rc = vu_frontend_connect("/tmp/vqnet-vu-fe-does-not-exist/sock", 50, &f);
	assert_true(rc == -ENOENT);
	assert_null(f);
	assert_true(now_ms() - t0 >= 40 && now_ms() - t0 < 2000);
}

struct fake {
	char dir[64], path[96];
	int listen_fd, sock;
	struct vu_frontend *f;
};

static void fake_open(struct fake *k)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(k->dir, sizeof(k->dir), "/tmp/vqnet-vu-fe-XXXXXX");
	assert_non_null(mkdtemp(k->dir));
	snprintf(k->path, sizeof(k->path), "%s/fake.sock", k->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", k->path);
	k->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(k->listen_fd >= 0);
	assert_int_equal(bind(k->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(k->listen_fd, 1), 0);
	assert_int_equal(vu_frontend_connect(k->path, CONNECT_MS, &k->f), 0);
	k->sock = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(k->sock >= 0);
}

static void fake_close(struct fake *k)
{
	vu_frontend_close(k->f);
	close(k->sock);
	close(k->listen_fd);
	unlink(k->path);
	rmdir(k->dir);
}

/* Queue a reply to @request with @size payload bytes from @payload. */
static void fake_reply(struct fake *k, uint32_t request, const void *payload, uint32_t size)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = request;
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m.hdr.size = size;
	if (size)
		memcpy(m.payload.raw, payload, size);
	assert_int_equal(vu_msg_send(k->sock, &m), 0);
}

static void fake_ack(struct fake *k, uint32_t request, uint64_t val)
{
	fake_reply(k, request, &val, sizeof(val));
}

/* Receive the next request; check number, flags and size. */
static void fake_expect(struct fake *k, struct vu_msg *m, uint32_t request, uint32_t flags,
			uint32_t size)
{
	struct pollfd pfd = {.fd = k->sock, .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(vu_msg_recv(k->sock, m), 0);
	assert_int_equal(m->hdr.request, request);
	assert_int_equal(m->hdr.flags, flags);
	assert_int_equal(m->hdr.size, size);
}

static void test_frontend_wire(void **state)
{
	const uint32_t v = VHOST_USER_VERSION,
		       ack = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK;
	struct fake k;
	struct vu_msg m;
	struct vu_shm shm[2];
	struct vu_vring_setup s = {.num = 256,
				   .desc_uva = 0x1000,
				   .driver_uva = 0x2000,
				   .device_uva = 0x3000,
				   .base = 9,
				   .call_fd = -1};
	uint64_t val;
	uint32_t num;
	int kick = eventfd(0, EFD_CLOEXEC);

	(void)state;
	fake_open(&k);

	/* before REPLY_ACK: no NEED_REPLY, no waiting */
	val = 0x1234;
	fake_reply(&k, VHOST_USER_GET_FEATURES, &val, 8);
	assert_int_equal(vu_frontend_get_features(k.f, &val), 0);
	assert_int_equal(val, 0x1234);
	fake_expect(&k, &m, VHOST_USER_GET_FEATURES, v, 0);
	assert_int_equal(vu_frontend_set_owner(k.f), 0);
	fake_expect(&k, &m, VHOST_USER_SET_OWNER, v, 0);
	assert_int_equal(vu_frontend_set_protocol_features(
				 k.f, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
					      F(VHOST_USER_PROTOCOL_F_RESET_DEVICE)),
			 0);
	fake_expect(&k, &m, VHOST_USER_SET_PROTOCOL_FEATURES, v, 8);
	assert_int_equal(m.payload.u64, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
						F(VHOST_USER_PROTOCOL_F_RESET_DEVICE));

	/* with REPLY_ACK: NEED_REPLY and the ack is awaited; non-zero is -EIO */
	fake_ack(&k, VHOST_USER_SET_FEATURES, 0);
	assert_int_equal(vu_frontend_set_features(k.f, 0x55), 0);
	fake_expect(&k, &m, VHOST_USER_SET_FEATURES, ack, 8);
	assert_int_equal(m.payload.u64, 0x55);
	fake_ack(&k, VHOST_USER_RESET_DEVICE, 1);
	assert_int_equal(vu_frontend_reset_device(k.f), -EIO);
	fake_expect(&k, &m, VHOST_USER_RESET_DEVICE, ack, 0);

	/* GET_* never asks for an ack */
	val = 4;
	fake_reply(&k, VHOST_USER_GET_QUEUE_NUM, &val, 8);
	assert_int_equal(vu_frontend_get_queue_num(k.f, &val), 0);
	assert_int_equal(val, 4);
	fake_expect(&k, &m, VHOST_USER_GET_QUEUE_NUM, v, 0);

	/* SET_MEM_TABLE: one region and one fd per shm */
	assert_int_equal(vu_shm_alloc(8192, 0x100000, false, &shm[0]), 0);
	assert_int_equal(vu_shm_alloc(4096, 0x900000, false, &shm[1]), 0);
	fake_ack(&k, VHOST_USER_SET_MEM_TABLE, 0);
	assert_int_equal(vu_frontend_set_mem_table(k.f, shm, 2), 0);
	fake_expect(&k, &m, VHOST_USER_SET_MEM_TABLE, ack, 8 + 2 * 32);
	assert_int_equal(m.payload.memory.nregions, 2);
	assert_int_equal(m.nfds, 2);
	for (unsigned i = 0; i < 2; i++) {
		const struct vhost_user_mem_region *r = &m.payload.memory.regions[i];

		assert_int_equal(r->guest_phys_addr, shm[i].gpa);
		assert_int_equal(r->memory_size, shm[i].size);
		assert_int_equal(r->userspace_addr, (uintptr_t)shm[i].base);
		assert_int_equal(r->mmap_offset, 0);
	}
	vu_msg_close_fds(&m);
	fake_ack(&k, VHOST_USER_ADD_MEM_REG, 0);
	assert_int_equal(vu_frontend_add_mem_reg(k.f, &shm[1]), 0);
	fake_expect(&k, &m, VHOST_USER_ADD_MEM_REG, ack, 40);
	assert_int_equal(m.nfds, 1);
	assert_int_equal(m.payload.mem_reg.region.guest_phys_addr, shm[1].gpa);
	vu_msg_close_fds(&m);
	fake_ack(&k, VHOST_USER_REM_MEM_REG, 0);
	assert_int_equal(vu_frontend_rem_mem_reg(k.f, &shm[1]), 0);
	fake_expect(&k, &m, VHOST_USER_REM_MEM_REG, ack, 40);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(m.payload.mem_reg.region.userspace_addr, (uintptr_t)shm[1].base);
	vu_shm_free(&shm[0]);
	vu_shm_free(&shm[1]);

	/* setup_vring: NUM, ADDR, BASE, CALL (NOFD), KICK (fd) */
	s.kick_fd = kick;
	fake_ack(&k, VHOST_USER_SET_VRING_NUM, 0);
	fake_ack(&k, VHOST_USER_SET_VRING_ADDR, 0);
	fake_ack(&k, VHOST_USER_SET_VRING_BASE, 0);
	fake_ack(&k, VHOST_USER_SET_VRING_CALL, 0);
	fake_ack(&k, VHOST_USER_SET_VRING_KICK, 0);
	assert_int_equal(vu_frontend_setup_vring(k.f, 3, &s), 0);
	fake_expect(&k, &m, VHOST_USER_SET_VRING_NUM, ack, 8);
	assert_int_equal(m.payload.state.index, 3);
	assert_int_equal(m.payload.state.num, 256);
	fake_expect(&k, &m, VHOST_USER_SET_VRING_ADDR, ack, 40);
	assert_int_equal(m.payload.addr.index, 3);
	assert_int_equal(m.payload.addr.flags, 0);
	assert_int_equal(m.payload.addr.desc_user_addr, 0x1000);
	assert_int_equal(m.payload.addr.avail_user_addr, 0x2000);
	assert_int_equal(m.payload.addr.used_user_addr, 0x3000);
	fake_expect(&k, &m, VHOST_USER_SET_VRING_BASE, ack, 8);
	assert_int_equal(m.payload.state.num, 9);
	fake_expect(&k, &m, VHOST_USER_SET_VRING_CALL, ack, 8);
	assert_int_equal(m.payload.u64, 3 | VHOST_USER_VRING_NOFD_MASK);
	assert_int_equal(m.nfds, 0);
	fake_expect(&k, &m, VHOST_USER_SET_VRING_KICK, ack, 8);
	assert_int_equal(m.payload.u64, 3);
	assert_int_equal(m.nfds, 1);
	vu_msg_close_fds(&m);
	assert_true(fcntl(kick, F_GETFD) >= 0); /* the caller's fd stays open */
	close(kick);

	/* GET_VRING_BASE returns num */
	{
		struct vhost_vring_state st = {.index = 3, .num = 77};

		fake_reply(&k, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
		assert_int_equal(vu_frontend_get_vring_base(k.f, 3, &num), 0);
		assert_int_equal(num, 77);
		fake_expect(&k, &m, VHOST_USER_GET_VRING_BASE, v, 8);
		assert_int_equal(m.payload.state.index, 3);
	}

	/* GET_CONFIG: data in the reply; an empty reply is a refusal */
	{
		struct vhost_user_config cfg = {.offset = 4, .size = 3, .region = {7, 8, 9}};
		uint8_t buf[3];

		fake_reply(&k, VHOST_USER_GET_CONFIG, &cfg, 12 + 3);
		assert_int_equal(vu_frontend_get_config(k.f, 4, buf, 3), 0);
		assert_int_equal(buf[0], 7);
		assert_int_equal(buf[2], 9);
		fake_expect(&k, &m, VHOST_USER_GET_CONFIG, v, 12 + 3);
		assert_int_equal(m.payload.config.offset, 4);
		assert_int_equal(m.payload.config.size, 3);
		fake_reply(&k, VHOST_USER_GET_CONFIG, NULL, 0);
		assert_int_equal(vu_frontend_get_config(k.f, 4, buf, 3), -EIO);
		fake_expect(&k, &m, VHOST_USER_GET_CONFIG, v, 12 + 3);
		assert_int_equal(vu_frontend_get_config(k.f, 250, buf, 8), -EINVAL);
	}

	/* a reply to another request: -EPROTO, then the connection is dead */
	val = 1;
	fake_reply(&k, VHOST_USER_GET_FEATURES, &val, 8);
	assert_int_equal(vu_frontend_get_queue_num(k.f, &val), -EPROTO);
	fake_expect(&k, &m, VHOST_USER_GET_QUEUE_NUM, v, 0);
	assert_int_equal(vu_frontend_get_queue_num(k.f, &val), -ENOTCONN);
	fake_close(&k);
}

/* A reply of the wrong size or without the REPLY flag is refused too. */
static void test_frontend_bad_replies(void **state)
{
	struct fake k;
	struct vu_msg m;
	uint64_t val = 0;
	uint32_t small = 5;

	(void)state;
	fake_open(&k);
	fake_reply(&k, VHOST_USER_GET_FEATURES, &small, 4);
	assert_int_equal(vu_frontend_get_features(k.f, &val), -EPROTO);
	fake_close(&k);

	fake_open(&k);
	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_GET_FEATURES;
	m.hdr.flags = VHOST_USER_VERSION; /* no REPLY */
	m.hdr.size = 8;
	assert_int_equal(vu_msg_send(k.sock, &m), 0);
	assert_int_equal(vu_frontend_get_features(k.f, &val), -EPROTO);
	fake_close(&k);

	/* the peer hangs up: an error, not a hang */
	fake_open(&k);
	close(k.sock);
	assert_true(vu_frontend_get_features(k.f, &val) < 0);
	k.sock = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fake_close(&k);

	/* a reply cut short (its header promises 8 bytes, 4 come) while the
	 * peer keeps the socket open: given up after the stall limit
	 * (5 s), not waited for forever; the connection is broken after */
	fake_open(&k);
	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_GET_FEATURES;
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m.hdr.size = 8;
	assert_int_equal(write(k.sock, &m, sizeof(m.hdr) + 4), (ssize_t)sizeof(m.hdr) + 4);
	{
		uint64_t t0 = now_ms();

		assert_int_equal(vu_frontend_get_features(k.f, &val), -ETIMEDOUT);
		assert_true(now_ms() - t0 < 3 * WAIT_MS);
	}
	assert_int_equal(vu_frontend_get_features(k.f, &val), -ENOTCONN);
	fake_close(&k);
}

/* REPLY_ACK and BACKEND_REQ negotiated, the backend request channel set
 * up: the backend's end of it (the caller closes it). */
static int open_channel(struct fake *k)
{
	struct vu_msg m;

	assert_int_equal(vu_frontend_set_protocol_features(
				 k->f, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
					       F(VHOST_USER_PROTOCOL_F_BACKEND_REQ)),
			 0);
	fake_expect(k, &m, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, 8);
	fake_ack(k, VHOST_USER_SET_BACKEND_REQ_FD, 0);
	assert_int_equal(vu_frontend_open_backend_req(k->f), 0);
	fake_expect(k, &m, VHOST_USER_SET_BACKEND_REQ_FD,
		    VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, 0);
	assert_int_equal(m.nfds, 1);
	return m.fds[0];
}

static void test_frontend_backend_channel(void **state)
{
	struct fake k;
	struct vu_msg m;
	int be;

	(void)state;
	fake_open(&k);
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -ENOTCONN);
	be = open_channel(&k);

	/* config change with NEED_REPLY: counted and acked with 0 */
	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK;
	assert_int_equal(vu_msg_send(be, &m), 0);
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), 0);
	assert_int_equal(vu_frontend_config_changes(k.f), 1);
	assert_int_equal(vu_msg_recv(be, &m), 0);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_true(m.hdr.flags & VHOST_USER_REPLY_MASK);
	assert_int_equal(m.hdr.size, 8);
	assert_int_equal(m.payload.u64, 0);

	/* without NEED_REPLY: counted, nothing sent back */
	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	m.hdr.flags = VHOST_USER_VERSION;
	assert_int_equal(vu_msg_send(be, &m), 0);
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), 0);
	assert_int_equal(vu_frontend_config_changes(k.f), 2);

	/* anything else is refused: a non-zero ack */
	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_BACKEND_IOTLB_MSG;
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK;
	assert_int_equal(vu_msg_send(be, &m), 0);
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -EOPNOTSUPP);
	assert_int_equal(vu_msg_recv(be, &m), 0);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_IOTLB_MSG);
	assert_true(m.payload.u64 != 0);
	assert_int_equal(vu_frontend_config_changes(k.f), 2);
	{
		struct pollfd pfd = {.fd = be, .events = POLLIN};

		assert_int_equal(poll(&pfd, 1, 0), 0); /* nothing else came */
	}

	/* nothing there: -EAGAIN at once; a request cut short: given up
	 * after the stall limit, not a hang */
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -EAGAIN);
	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = 8;
	assert_int_equal(write(be, &m, sizeof(m.hdr)), (ssize_t)sizeof(m.hdr));
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -ETIMEDOUT);
	assert_int_equal(vu_frontend_backend_req_fd(k.f), -1); /* out of step: closed */
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -ENOTCONN);
	close(be);
	fake_close(&k);

	/* the backend closes its end */
	fake_open(&k);
	close(open_channel(&k));
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -ECONNRESET);
	assert_int_equal(vu_frontend_backend_req_fd(k.f), -1);
	fake_close(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_alloc),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_frontend_wire),
		cmocka_unit_test(test_frontend_bad_replies),
		cmocka_unit_test(test_frontend_backend_channel),
	};

	/* no SIGPIPE handling: the library must not raise it (MSG_NOSIGNAL) */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
