/* SPDX-License-Identifier: MIT */
/*
 * The control plane of the library's vhost-user frontend against the
 * library's backend (fe_be_fixture.h): feature negotiation, the config
 * space and its change notification over the backend request channel,
 * RESET_DEVICE, memory table updates and memory slots under a running
 * ring, connecting before the backend listens, and a backend's new/free
 * closing nothing of others'.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/test_util.h"
#include "fe_be_fixture.h"

/* Creating and freeing a backend leaves every other fd alone (fd 0 too). */
static void test_backend_new_closes_nothing(void **state)
{
	char dir[] = "/tmp/vqnet-vu-fe-XXXXXX";
	struct be_ctx *c = calloc(1, sizeof(*c));
	int before, fd0 = -1;

	(void)state;
	assert_non_null(c);
	if (fcntl(0, F_GETFD) < 0)
		fd0 = open("/dev/null", O_RDONLY); /* make sure there is an fd 0 */
	before = count_fds();
	assert_non_null(mkdtemp(dir));
	assert_int_equal(be_create(c, dir), 0);
	vu_backend_free(c->b);
	close(c->ctl_fd);
	rmdir(dir);
	free(c);
	if (fcntl(0, F_GETFD) < 0)
		fail_msg("vu_backend_new/free closed fd 0");
	assert_int_equal(count_fds(), before);
	if (fd0 >= 0)
		close(fd0);
}

static void test_negotiation(void **state)
{
	struct be_ctx *c = *state;
	struct vu_frontend *f;
	uint64_t feat, pf, n, slots;
	uint8_t status = 0xff;

	assert_int_equal(vu_frontend_connect(c->path, CONNECT_MS, &f), 0);
	assert_int_equal(vu_frontend_set_owner(f), 0);
	assert_int_equal(vu_frontend_get_features(f, &feat), 0);
	assert_true((feat & DEV_FEATURES) == DEV_FEATURES);
	assert_int_equal(vu_frontend_get_protocol_features(f, &pf), 0);
	assert_true(pf == vu_backend_supported_protocol_features());
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_REPLY_ACK));
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_MQ));
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_CONFIG));
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_BACKEND_REQ));
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	assert_int_equal(vu_frontend_set_protocol_features(f, pf), 0);
	assert_int_equal(vu_frontend_get_queue_num(f, &n), 0);
	assert_int_equal(n, NUM_QUEUES);
	assert_int_equal(vu_frontend_get_max_mem_slots(f, &slots), 0);
	assert_int_equal(slots, 509);
	assert_int_equal(vu_frontend_set_features(f, F(VIRTIO_F_VERSION_1) |
							     F(VHOST_USER_F_PROTOCOL_FEATURES)),
			 0);
	if (vq_has_feature(pf, VHOST_USER_PROTOCOL_F_STATUS)) {
		assert_int_equal(vu_frontend_set_status(f, 0x0f), 0);
		assert_int_equal(vu_frontend_get_status(f, &status), 0);
		assert_int_equal(status, 0x0f);
	}
	/* still in step after all that */
	assert_int_equal(vu_frontend_get_queue_num(f, &n), 0);
	vu_frontend_close(f);
	assert_true(be_wait_disconnects(c, 1));
	assert_int_equal(atomic_load(&c->dev.errors), 0);
}

static void test_config(void **state)
{
	struct be_ctx *c = *state;
	struct fe_ctx fc;
	uint8_t buf[CONFIG_SIZE];
	const uint8_t upd[4] = {1, 2, 3, 4};
	struct pollfd pfd;
	uint64_t deadline;

	fe_connect_negotiate(&fc, c, 0);
	assert_true(vq_has_feature(fc.protocol_features, VHOST_USER_PROTOCOL_F_CONFIG));
	assert_int_equal(vu_frontend_get_config(fc.f, 0, buf, CONFIG_SIZE), 0);
	for (unsigned i = 0; i < CONFIG_SIZE; i++)
		assert_int_equal(buf[i], 0xa0 + i);
	assert_int_equal(vu_frontend_set_config(fc.f, 4, upd, sizeof(upd)), 0);
	assert_int_equal(vu_frontend_get_config(fc.f, 2, buf, 8), 0);
	assert_int_equal(buf[0], 0xa2);
	assert_int_equal(buf[1], 0xa3);
	assert_memory_equal(buf + 2, upd, 4);
	assert_int_equal(buf[6], 0xa8);

	/* config change notification over the backend request channel */
	assert_int_equal(vu_frontend_backend_req_fd(fc.f), -1);
	assert_int_equal(vu_frontend_open_backend_req(fc.f), 0);
	assert_true(vu_frontend_backend_req_fd(fc.f) >= 0);
	assert_int_equal(vu_frontend_config_changes(fc.f), 0);
	for (unsigned round = 1; round <= 2; round++) {
		be_command(c, BE_CMD_CONFIG_CHANGED);
		pfd = (struct pollfd){.fd = vu_frontend_backend_req_fd(fc.f), .events = POLLIN};
		deadline = now_ms() + WAIT_MS;
		while (poll(&pfd, 1, 10) == 0) {
			int rc = atomic_load(&c->cmd_rc);

			if (rc != 1 && rc != 0)
				fail_msg("vu_backend_config_changed: %d (%s)", rc, strerror(-rc));
			if (now_ms() > deadline)
				fail_msg("no config change message (backend rc %d)", rc);
		}
		assert_int_equal(vu_frontend_dispatch_backend_req(fc.f), 0);
		assert_int_equal(vu_frontend_config_changes(fc.f), round);
		deadline = now_ms() + WAIT_MS;
		while (atomic_load(&c->cmd_rc) == 1 && now_ms() < deadline)
			sleep_ms(1);
		assert_int_equal(atomic_load(&c->cmd_rc), 0);
	}
	/* the main channel is still in step */
	assert_int_equal(vu_frontend_get_config(fc.f, 0, buf, 4), 0);
	assert_int_equal(buf[0], 0xa0);
	fe_teardown(&fc);
	assert_true(be_wait_disconnects(c, 1));
}

/* RESET_DEVICE stops the rings; the device is then set up afresh on the
 * same connection and works. */
static void test_reset_device(void **state)
{
	struct be_ctx *c = *state;
	struct fe_ctx fc;
	struct drv_q *qs[1];
	uint64_t feat;

	fe_connect_negotiate(&fc, c, 0);
	assert_true(vq_has_feature(fc.protocol_features, VHOST_USER_PROTOCOL_F_RESET_DEVICE));
	fe_share_memory(&fc);
	fe_start_queue(&fc, 0, VQ_FORMAT_SPLIT);
	qs[0] = &fc.q[0];
	traffic_start(qs[0], 300);
	traffic_run(&fc, qs, 1);
	/* leave chains waiting, then reset */
	qs[0]->target = 330;
	traffic_post(&fc, qs[0], 30);
	assert_int_equal(vu_frontend_reset_device(fc.f), 0);
	assert_int_equal(atomic_load(&c->dev.starts), 1);
	assert_int_equal(atomic_load(&c->dev.stops), 1);
	assert_true(atomic_load(&c->dev.resets) >= 1);
	assert_int_equal(atomic_load(&c->disconnects), 0);

	/* set up again: features, memory, a fresh ring (packed this time) */
	drvq_fini(qs[0]);
	assert_int_equal(vu_frontend_get_features(fc.f, &feat), 0);
	assert_int_equal(vu_frontend_set_protocol_features(fc.f, fc.protocol_features), 0);
	fc.features = feat & (F(VIRTIO_F_VERSION_1) | F(VHOST_USER_F_PROTOCOL_FEATURES) |
			      F(VIRTIO_F_RING_PACKED));
	assert_int_equal(vu_frontend_set_features(fc.f, fc.features), 0);
	assert_int_equal(vu_frontend_set_mem_table(fc.f, &fc.shm, 1), 0);
	fe_start_queue(&fc, 0, VQ_FORMAT_PACKED);
	traffic_start(qs[0], 300);
	traffic_run(&fc, qs, 1);
	assert_int_equal(atomic_load(&c->dev.errors), 0);
	fe_teardown(&fc);
	assert_true(be_wait_disconnects(c, 1));
	assert_int_equal(atomic_load(&c->dev.starts), atomic_load(&c->dev.stops));
}

struct late_backend {
	struct be_ctx *c;
	char dir[64];
	int rc;
};

static void *late_backend_thread(void *p)
{
	struct late_backend *l = p;

	sleep_ms(100);
	l->rc = be_create(l->c, l->dir);
	return NULL;
}

/* vu_frontend_connect() retries until the backend listens. */
static void test_connect_retry(void **state)
{
	char dir[] = "/tmp/vqnet-vu-fe-XXXXXX";
	struct late_backend l = {.c = calloc(1, sizeof(struct be_ctx))};
	struct vu_frontend *f = NULL;
	char path[96];
	pthread_t t;
	uint64_t t0 = now_ms();

	(void)state;
	assert_non_null(l.c);
	assert_non_null(mkdtemp(dir));
	snprintf(l.dir, sizeof(l.dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/vu.sock", dir);
	assert_int_equal(pthread_create(&t, NULL, late_backend_thread, &l), 0);
	assert_int_equal(vu_frontend_connect(path, CONNECT_MS, &f), 0);
	assert_true(now_ms() - t0 >= 90);
	pthread_join(t, NULL);
	assert_int_equal(l.rc, 0);
	vu_frontend_close(f);
	vu_backend_free(l.c->b);
	close(l.c->ctl_fd);
	rmdir(dir);
	free(l.c);
}

/* A new memory table while the ring runs with chains waiting: the backend
 * stops and restarts the ring around it; nothing is lost or repeated. */
static void test_mem_table_update(void **state)
{
	struct be_ctx *c = *state;
	struct fe_ctx fc;
	struct drv_q *qs[1];
	struct vu_shm both[2];
	unsigned starts;

	fe_connect_negotiate(&fc, c, 0);
	fe_share_memory(&fc);
	fe_start_queue(&fc, 0, VQ_FORMAT_SPLIT);
	qs[0] = &fc.q[0];
	traffic_start(qs[0], 1000);
	qs[0]->target = 300;
	traffic_run(&fc, qs, 1);
	starts = atomic_load(&c->dev.starts);

	both[0] = fc.shm;
	assert_int_equal(vu_shm_alloc(1u << 20, SHM_GPA + 0x10000000ull, false, &both[1]), 0);
	for (unsigned round = 0; round < 4; round++) {
		qs[0]->target = qs[0]->next_seq + 40;
		traffic_post(&fc, qs[0], 40);
		assert_int_equal(vu_frontend_set_mem_table(fc.f, both, round % 2 ? 1 : 2), 0);
		qs[0]->target = qs[0]->next_seq + 100;
		traffic_run(&fc, qs, 1);
	}
	qs[0]->target = 1000;
	traffic_run(&fc, qs, 1);
	assert_true(atomic_load(&c->dev.starts) > starts);
	assert_int_equal(atomic_load(&c->dev.errors), 0);
	fe_teardown(&fc);
	vu_shm_free(&both[1]);
	assert_true(be_wait_disconnects(c, 1));
	assert_int_equal(atomic_load(&c->dev.starts), atomic_load(&c->dev.stops));
}

/* ADD_MEM_REG / REM_MEM_REG instead of SET_MEM_TABLE. */
static void test_mem_slots(void **state)
{
	struct be_ctx *c = *state;
	struct fe_ctx fc;
	struct drv_q *qs[1];
	struct vu_shm extra;

	fe_connect_negotiate(&fc, c, 0);
	assert_true(
		vq_has_feature(fc.protocol_features, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	assert_int_equal(vu_shm_alloc(SHM_SIZE, SHM_GPA, false, &fc.shm), 0);
	assert_int_equal(vu_shm_alloc(1u << 20, SHM_GPA + 0x10000000ull, false, &extra), 0);
	assert_int_equal(vu_frontend_add_mem_reg(fc.f, &extra), 0);
	assert_int_equal(vu_frontend_add_mem_reg(fc.f, &fc.shm), 0);
	/* The same region again, as QEMU 7.2 sends it once per queue pair
	 * (one vhost device each) on one connection: accepted and counted. */
	assert_int_equal(vu_frontend_add_mem_reg(fc.f, &fc.shm), 0);
	assert_int_equal(vu_frontend_rem_mem_reg(fc.f, &extra), 0);
	vu_shm_free(&extra);
	fe_start_queue(&fc, 0, VQ_FORMAT_SPLIT);
	qs[0] = &fc.q[0];
	traffic_start(qs[0], 300);
	traffic_run(&fc, qs, 1);
	/* One of the two adds removed: the region stays and traffic goes on. */
	assert_int_equal(vu_frontend_rem_mem_reg(fc.f, &fc.shm), 0);
	traffic_start(qs[0], 600);
	traffic_run(&fc, qs, 1);
	assert_int_equal(atomic_load(&c->dev.errors), 0);
	fe_teardown(&fc);
	assert_true(be_wait_disconnects(c, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend_new_closes_nothing),
		cmocka_unit_test_setup_teardown(test_negotiation, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_config, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_mem_slots, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_update, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_reset_device, be_setup, be_teardown),
		cmocka_unit_test(test_connect_retry),
	};

	/* no SIGPIPE handling: the library must not raise it (MSG_NOSIGNAL) */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
