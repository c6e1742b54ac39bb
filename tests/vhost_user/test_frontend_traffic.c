/* SPDX-License-Identifier: MIT */
/*
 * Traffic from the library's vhost-user frontend through the library's
 * backend and its echo device (fe_be_fixture.h): split and packed rings,
 * EVENT_IDX, indirect chains, several queues, rings stopped and resumed
 * mid-traffic, frontends hanging up mid-traffic, no REPLY_ACK, and the
 * backend in a child process.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/test_util.h"
#include "fe_be_fixture.h"

/* One ring of @fmt, @nchains chains through it. */
static void one_ring_traffic(struct be_ctx *c, enum vq_format fmt, uint64_t extra, uint32_t nchains)
{
	struct fe_ctx fc;
	struct drv_q *qs[1];

	fe_connect_negotiate(&fc, c, extra);
	fc.indirect = vq_has_feature(extra, VIRTIO_F_INDIRECT_DESC);
	fe_share_memory(&fc);
	fe_start_queue(&fc, 0, fmt);
	qs[0] = &fc.q[0];
	assert_true(qs[0]->indirect == fc.indirect); /* negotiated when asked for */
	traffic_start(qs[0], nchains);
	traffic_run(&fc, qs, 1);
	assert_int_equal(atomic_load(&c->dev.errors), 0);
	assert_true(atomic_load(&c->dev.echoed) >= nchains);
	fe_teardown(&fc);
	assert_true(be_wait_disconnects(c, 1));
	assert_int_equal(atomic_load(&c->dev.starts), atomic_load(&c->dev.stops));
}

static void test_split_traffic(void **state)
{
	one_ring_traffic(*state, VQ_FORMAT_SPLIT, 0, 1000);
}

static void test_split_event_idx_traffic(void **state)
{
	one_ring_traffic(*state, VQ_FORMAT_SPLIT, F(VIRTIO_F_EVENT_IDX), 1000);
}

static void test_packed_traffic(void **state)
{
	one_ring_traffic(*state, VQ_FORMAT_PACKED, F(VIRTIO_F_RING_PACKED), 1000);
}

static void test_packed_event_idx_traffic(void **state)
{
	one_ring_traffic(*state, VQ_FORMAT_PACKED, F(VIRTIO_F_RING_PACKED) | F(VIRTIO_F_EVENT_IDX),
			 1000);
}

static void test_split_indirect_traffic(void **state)
{
	one_ring_traffic(*state, VQ_FORMAT_SPLIT, F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX),
			 1000);
}

static void test_packed_indirect_traffic(void **state)
{
	one_ring_traffic(*state, VQ_FORMAT_PACKED,
			 F(VIRTIO_F_RING_PACKED) | F(VIRTIO_F_INDIRECT_DESC), 1000);
}

static void test_multiqueue(void **state)
{
	struct be_ctx *c = *state;
	struct fe_ctx fc;
	struct drv_q *qs[2];

	fe_connect_negotiate(&fc, c, F(VIRTIO_F_EVENT_IDX));
	fe_share_memory(&fc);
	fe_start_queue(&fc, 0, VQ_FORMAT_SPLIT);
	fe_start_queue(&fc, 1, VQ_FORMAT_SPLIT);
	qs[0] = &fc.q[0];
	qs[1] = &fc.q[1];
	traffic_start(qs[0], 700);
	traffic_start(qs[1], 900);
	traffic_run(&fc, qs, 2);
	assert_int_equal(atomic_load(&c->dev.errors), 0);
	assert_int_equal(atomic_load(&c->dev.starts), 2);
	fe_teardown(&fc);
	assert_true(be_wait_disconnects(c, 1));
	assert_int_equal(atomic_load(&c->dev.stops), 2);
}

/* What GET_VRING_BASE must say after @done chains of 2 descriptors each,
 * all completed, on a fresh ring of QSIZE. */
static void check_base(enum vq_format fmt, uint32_t base, uint32_t done)
{
	if (fmt == VQ_FORMAT_SPLIT) {
		assert_int_equal(base, done & 0xffff);
	} else {
		uint32_t pos = (2 * done) % QSIZE;
		uint32_t wrap = 1 ^ (((2 * done) / QSIZE) & 1);

		assert_int_equal(base, pos | wrap << 15 | pos << 16 | wrap << 31);
	}
}

/*
 * GET_VRING_BASE in the middle of traffic: the ring stops (nothing more is
 * used), the state comes back; set up again from it and every chain is
 * completed exactly once. Even rounds disable the ring first (completed
 * when the ack comes), so chains are certainly waiting when it stops; odd
 * rounds stop it while the device may be working.
 */
static void stop_resume(struct be_ctx *c, enum vq_format fmt, uint64_t extra)
{
	const unsigned rounds = 6, per_round = 150, pending = 24;
	struct fe_ctx fc;
	struct drv_q *q;
	struct drv_q *qs[1];
	struct vu_vring_setup s;
	uint32_t base = 0;

	fe_connect_negotiate(&fc, c, extra);
	fe_share_memory(&fc);
	fe_start_queue(&fc, 0, fmt);
	q = &fc.q[0];
	qs[0] = q;
	traffic_start(q, rounds * (per_round + pending) + 100);

	for (unsigned round = 0; round < rounds; round++) {
		unsigned before;
		bool quiet = round % 2 == 0;

		q->target = q->next_seq + per_round;
		traffic_run(&fc, qs, 1);
		if (quiet)
			assert_int_equal(vu_frontend_set_vring_enable(fc.f, 0, false), 0);
		q->target = q->next_seq + pending;
		assert_int_equal(traffic_post(&fc, q, pending), pending);
		assert_int_equal(vu_frontend_get_vring_base(fc.f, 0, &base), 0);
		/* stopped: whatever was used is there now, nothing more comes */
		traffic_reap(&fc, q);
		before = q->done;
		if (quiet)
			assert_int_equal(q->done, q->next_seq - pending);
		sleep_ms(30);
		traffic_reap(&fc, q);
		assert_int_equal(q->done, before);
		check_base(fmt, base, q->done);

		/* resume where it stopped */
		drvq_vring_setup(&fc, q, base, &s);
		assert_int_equal(vu_frontend_setup_vring(fc.f, 0, &s), 0);
		assert_int_equal(vu_frontend_set_vring_enable(fc.f, 0, true), 0);
		efd_signal(q->kick_fd);
		traffic_run(&fc, qs, 1);
	}
	q->target = q->next_seq + 100;
	traffic_run(&fc, qs, 1);
	for (uint32_t i = 0; i < q->target; i++)
		assert_int_equal(q->seen[i], 1);
	assert_int_equal(atomic_load(&c->dev.errors), 0);
	fe_teardown(&fc);
	assert_true(be_wait_disconnects(c, 1));
	assert_int_equal(atomic_load(&c->dev.starts), atomic_load(&c->dev.stops));
}

static void test_stop_resume_split(void **state)
{
	stop_resume(*state, VQ_FORMAT_SPLIT, 0);
}

static void test_stop_resume_packed(void **state)
{
	stop_resume(*state, VQ_FORMAT_PACKED, F(VIRTIO_F_RING_PACKED));
}

/*
 * Close the frontend mid-traffic; the backend cleans up and takes the next
 * frontend, which works; fds are back to the count before the first one.
 */
static void test_reconnect(void **state)
{
	struct be_ctx *c = *state;
	int fds_before = count_fds();

	for (unsigned conn = 0; conn < 3; conn++) {
		struct fe_ctx fc;
		struct drv_q *qs[1];

		fe_connect_negotiate(&fc, c, conn == 1 ? F(VIRTIO_F_RING_PACKED) : 0);
		fe_share_memory(&fc);
		fe_start_queue(&fc, 0, conn == 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT);
		qs[0] = &fc.q[0];
		traffic_start(qs[0], 300);
		traffic_run(&fc, qs, 1);
		/* more chains in flight, then hang up without waiting */
		qs[0]->target = 400;
		traffic_post(&fc, qs[0], QSIZE);
		fe_teardown(&fc);
		assert_true(be_wait_disconnects(c, conn + 1));
		assert_int_equal(atomic_load(&c->dev.starts), atomic_load(&c->dev.stops));
		assert_int_equal(count_fds(), fds_before);
	}
	assert_int_equal(atomic_load(&c->dev.errors), 0);
}

/* Without REPLY_ACK the set-up requests are not acknowledged: the stream
 * order alone carries them, and traffic works the same. */
static void test_no_reply_ack(void **state)
{
	struct be_ctx *c = *state;
	struct fe_ctx fc;
	struct drv_q *qs[2];
	uint64_t n;

	fe_connect_negotiate_pf(&fc, c, F(VIRTIO_F_RING_PACKED),
				F(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	fe_share_memory(&fc);
	fe_start_queue(&fc, 0, VQ_FORMAT_PACKED);
	fe_start_queue(&fc, 1, VQ_FORMAT_PACKED);
	assert_int_equal(vu_frontend_get_queue_num(fc.f, &n), 0); /* in step */
	qs[0] = &fc.q[0];
	qs[1] = &fc.q[1];
	traffic_start(qs[0], 500);
	traffic_start(qs[1], 500);
	traffic_run(&fc, qs, 2);
	assert_int_equal(atomic_load(&c->dev.errors), 0);
	fe_teardown(&fc);
	assert_true(be_wait_disconnects(c, 1));
	assert_int_equal(atomic_load(&c->dev.starts), atomic_load(&c->dev.stops));
}

/* The backend in a child process; the parent is the frontend. */
static void test_split_traffic_fork(void **state)
{
	char dir[] = "/tmp/vqnet-vu-fe-XXXXXX";
	struct be_ctx *c;
	struct fe_ctx fc;
	struct drv_q *qs[1];
	uint64_t deadline;
	pid_t pid;
	int status = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* child: no cmocka here, only an exit code */
		struct be_ctx *cc = calloc(1, sizeof(*cc));
		uint64_t end = now_ms() + 60000;
		int code;

		if (!cc || be_create(cc, dir) != 0)
			_exit(2);
		while (atomic_load(&cc->disconnects) == 0 && now_ms() < end)
			be_turn(cc);
		code = atomic_load(&cc->disconnects) == 0   ? 3
		       : atomic_load(&cc->dev.errors) != 0  ? 4
		       : atomic_load(&cc->dev.echoed) < 500 ? 5
							    : 0;
		vu_backend_free(cc->b);
		_exit(code);
	}

	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	snprintf(c->path, sizeof(c->path), "%s/vu.sock", dir);
	fe_connect_negotiate(&fc, c, 0);
	fe_share_memory(&fc);
	fe_start_queue(&fc, 0, VQ_FORMAT_SPLIT);
	qs[0] = &fc.q[0];
	traffic_start(qs[0], 500);
	traffic_run(&fc, qs, 1);
	fe_teardown(&fc);
	free(c);

	deadline = now_ms() + WAIT_MS;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("backend child did not exit");
		}
		sleep_ms(5);
	}
	rmdir(dir);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_traffic, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_split_event_idx_traffic, be_setup,
						be_teardown),
		cmocka_unit_test_setup_teardown(test_packed_traffic, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_packed_event_idx_traffic, be_setup,
						be_teardown),
		cmocka_unit_test_setup_teardown(test_split_indirect_traffic, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_packed_indirect_traffic, be_setup,
						be_teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_stop_resume_split, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_stop_resume_packed, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_no_reply_ack, be_setup, be_teardown),
		cmocka_unit_test(test_split_traffic_fork),
	};

	/* no SIGPIPE handling: the library must not raise it (MSG_NOSIGNAL) */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
