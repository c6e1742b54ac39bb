/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user backend's session with a frontend, with raw messages
 * (backend_fixture.h): feature negotiation, REPLY_ACK and the config
 * space, status, the dirty log base and the backend request channel (G3);
 * a second frontend waiting in the backlog; vu_backend_new()/free()
 * closing nothing of others'; client mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/test_util.h"
#include "backend_fixture.h"

static void test_get_features(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_GET_FEATURES),
			 DEV_FEATURES | 1ull << VHOST_USER_F_PROTOCOL_FEATURES |
				 1ull << VHOST_F_LOG_ALL);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0), 0);
	uint64_t pf = reply_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
	assert_int_equal(pf, vu_backend_supported_protocol_features());
	assert_false(pf & (1ull << VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS));
	assert_true(pf & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)); /* test_inflight.c */
	/* EOF: dropped with -ECONNRESET, nothing left open. */
	rf_hang_up(&f->rf);
	assert_false(vu_backend_connected(f->rf.b));
	assert_int_equal(count_fds(), f->base_fds);
	assert_int_equal(f->dev.resets, 1);
}

static void test_reply_ack(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
					    (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
					    (1ull << VHOST_USER_PROTOCOL_F_MQ)),
			 0);
	uint64_t v = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_FEATURES, VHOST_USER_NEED_REPLY_MASK, &v,
				    8, NULL, 0),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_FEATURES), 0);
	assert_int_equal(f->dev.features, 1ull << VIRTIO_F_VERSION_1);
	/* A GET_* reply is the answer itself, not an ack. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_NEED_REPLY_MASK,
				    NULL, 0, NULL, 0),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_GET_QUEUE_NUM), NQUEUES);
	/* Config space round trip and bounds. */
	struct vhost_user_config c = {.offset = 4, .size = 4};
	memcpy(c.region, "abcd", 4);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_SET_CONFIG, &c, 12 + 4), 0);
	c = (struct vhost_user_config){.offset = 2, .size = 6};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_CONFIG, &c, 12 + 6), 0);
	struct vu_msg r;
	read_reply(f, VHOST_USER_GET_CONFIG, &r);
	assert_int_equal(r.hdr.size, 12 + 6);
	assert_int_equal(r.payload.config.offset, 2);
	assert_memory_equal(r.payload.config.region, "\0\0abcd", 6);
	/* A failure is acked with 1, then the connection drops. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_NUM, VHOST_USER_NEED_REPLY_MASK,
				    &(struct vhost_vring_state){.index = 0x10000, .num = 8}, 8,
				    NULL, 0),
			 -EINVAL);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_VRING_NUM), 1);
	expect_dropped(f);
	/* Config beyond the config space. */
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    1ull << VHOST_USER_PROTOCOL_F_CONFIG),
			 0);
	c = (struct vhost_user_config){.offset = 12, .size = 8};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_CONFIG, &c, 12 + 8), -EINVAL);
	expect_dropped(f);
}

static void test_status_log_backend_channel(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int logfd;
	uint8_t *logmap = rf_memfd_map("log", 8192, &logfd);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fe_connect(f);
	assert_int_equal(vu_backend_config_changed(f->rf.b), -EOPNOTSUPP);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    (1ull << VHOST_USER_PROTOCOL_F_STATUS) |
					    (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |
					    (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
					    (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
					    (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)),
			 0);
	setup_ring0(f, 1ull << VHOST_F_LOG_ALL, kick);
	assert_non_null(f->dev.vq[0]);

	/* VRING_ERR: the device reports a broken ring. */
	uint64_t v = 0;
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_ERR, 0, &v, 8, &err, 1), 0);
	vu_backend_vring_error(f->rf.b, 0);
	eventfd_t ev = 0;
	assert_int_equal(eventfd_read(err, &ev), 0);
	assert_int_equal(ev, 1);
	vu_backend_vring_error(f->rf.b, 7); /* out of range: ignored */

	/* Dirty log: 4 KiB of bitmap at offset 4096 of the fd. */
	struct vhost_user_log lg = {.mmap_size = 4096, .mmap_offset = 4096};
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg), &logfd, 1),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_LOG_BASE), 0);
	assert_non_null(f->dev.vq[0]); /* paused and resumed around the swap */
	vu_backend_log_write(f->rf.b, 5 * 4096 + 10, 1);
	assert_int_equal(logmap[4096], 1u << 5);
	/* Again (F12: the old mapping goes), then a log beyond its fd. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg), &logfd, 1),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_LOG_BASE), 0);

	/* Backend request channel: the ack is queued before it is awaited. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_BACKEND_REQ_FD, 0, NULL, 0, &sp[1], 1),
			 0);
	close(sp[1]);
	f->base_fds--; /* the backend holds its copy until the drop */
	struct vu_msg ack = {.hdr = {.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
				     .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
				     .size = 8}};
	assert_int_equal(vu_msg_send(sp[0], &ack), 0);
	assert_int_equal(vu_backend_config_changed(f->rf.b), 0);
	struct vu_msg r;
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);
	assert_int_equal(r.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(r.hdr.flags, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK);
	ack.payload.u64 = 1; /* a failure ack */
	assert_int_equal(vu_msg_send(sp[0], &ack), 0);
	assert_int_equal(vu_backend_config_changed(f->rf.b), -EIO);
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);
	/* A frontend that never answers: bounded wait, not a hang. */
	assert_int_equal(vu_backend_config_changed(f->rf.b), -ETIMEDOUT);
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);
	/* Its late ack is not taken for the answer to the next request. */
	ack.payload.u64 = 0;
	assert_int_equal(vu_msg_send(sp[0], &ack), 0);
	assert_int_equal(vu_backend_config_changed(f->rf.b), -ETIMEDOUT);
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);

	/* Status: kept, and 0 quiesces the rings (G3), positions kept. */
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_STATUS, 0xf), 0);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_STATUS, NULL, 0), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_GET_STATUS), 0xf);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_STATUS, 0), 0);
	assert_null(f->dev.vq[0]);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.num, 0);

	lg.mmap_offset = 8192;
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg), &logfd, 1),
			 -EINVAL);
	expect_dropped(f);
	/* The channel went with the connection. */
	assert_int_equal(vu_backend_config_changed(f->rf.b), -ENOTCONN);
	assert_int_equal(read(sp[0], &r, 1), 0);
	close(sp[0]);
	munmap(logmap, 8192);
	close(logfd);
	close(err);
	close(kick);
}

static void test_second_frontend_waits(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	int listen_fd_count = f->base_fds;
	int second = rf_connect_to(f->rf.path); /* waits in the backlog */
	int conn = vu_backend_fd(f->rf.b);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	(void)reply_u64(f, VHOST_USER_GET_FEATURES);
	assert_int_equal(vu_backend_fd(f->rf.b), conn);
	close(f->rf.sock);
	f->rf.sock = second;
	assert_int_equal(vu_backend_dispatch(f->rf.b), -ECONNRESET);
	assert_int_equal(vu_backend_dispatch(f->rf.b), 0); /* accepts the second */
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	(void)reply_u64(f, VHOST_USER_GET_FEATURES);
	rf_hang_up(&f->rf);
	assert_int_equal(count_fds(), listen_fd_count);
	/* Nothing pending: the listener says so. */
	assert_int_equal(vu_backend_dispatch(f->rf.b), -EAGAIN);
}

/* new/free with every queue close nothing they did not open (fd 0 kept). */
static void test_new_free_closes_nothing(void **state)
{
	struct fx *f = *state;
	int null = -1;
	if (fcntl(0, F_GETFD) < 0)
		null = open("/dev/null", O_RDONLY); /* becomes fd 0 */
	int n = count_fds();
	char path[128];
	snprintf(path, sizeof(path), "%s/many", f->rf.dir);
	struct vu_backend_config cfg = {.socket_path = path,
					.num_queues = VU_MAX_QUEUES,
					.device_features = 1ull << VIRTIO_F_VERSION_1};
	struct vu_backend *b;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), 0);
	vu_backend_free(b);
	assert_int_equal(count_fds(), n);
	assert_int_not_equal(fcntl(0, F_GETFD), -1);
	assert_int_equal(access(path, F_OK), -1); /* the socket file is gone */
	cfg.num_queues = 0;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), -EINVAL);
	cfg.num_queues = VU_MAX_QUEUES + 1;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), -EINVAL);
	if (null >= 0)
		close(null);
}

static void test_client_mode(void **state)
{
	struct fx *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/front", f->rf.dir);
	struct vu_backend_config cfg = {.socket_path = path,
					.client = true,
					.num_queues = 1,
					.device_features = 1ull << VIRTIO_F_VERSION_1};
	struct vu_backend *b;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), 0);
	assert_int_equal(vu_backend_fd(b), -1);
	assert_int_equal(vu_backend_dispatch(b), -EAGAIN);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(vu_backend_dispatch(b), 0);
	assert_true(vu_backend_connected(b));
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	struct vu_msg m = {.hdr = {.request = VHOST_USER_GET_FEATURES, .flags = 1}};
	assert_int_equal(vu_msg_send(s, &m), 0);
	assert_int_equal(vu_backend_dispatch(b), 0);
	assert_int_equal(vu_msg_recv(s, &m), 0);
	assert_int_equal(m.payload.u64, (1ull << VIRTIO_F_VERSION_1) |
						(1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
						(1ull << VHOST_F_LOG_ALL));
	close(s);
	assert_int_equal(vu_backend_dispatch(b), -ECONNRESET);
	assert_int_equal(vu_backend_fd(b), -1);
	vu_backend_free(b);
	close(l);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_features, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reply_ack, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_status_log_backend_channel, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_second_frontend_waits, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_new_free_closes_nothing, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_client_mode, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
