/* SPDX-License-Identifier: MIT */
/* The echo device and the backend loop of the frontend-against-backend
 * tests (fe_be_fixture.h). */
#include <errno.h>
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
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/test_util.h"
#include "fe_be_fixture.h"
#include "base/iov.h"

/* Copy the chain's readable bytes into its writable part. */
static uint32_t echo_copy(const struct vq_elem *e)
{
	return (uint32_t)iov_copy(e->iov + e->nout, e->nin, 0, e->iov, e->nout, 0, e->out_len);
}

/* Pop everything available, echo it, notify once. */
static void echo_run(struct echo_dev *dev, struct echo_q *q)
{
	struct iovec iov[16];
	struct vq_elem e = {.iov = iov, .iov_cap = 16};
	unsigned pushed = 0;
	int rc;

	for (;;) {
		uint32_t len = 0;

		rc = vq_pop(q->vq, &e);
		if (rc == 0)
			break;
		if (rc < 0 && !vq_err_is_drop(rc)) {
			atomic_fetch_add(&dev->errors, 1);
			break;
		}
		if (rc < 0)
			atomic_fetch_add(&dev->errors, 1);
		else
			len = echo_copy(&e);
		if (vq_push(q->vq, e.id, len) < 0) {
			atomic_fetch_add(&dev->errors, 1);
			break;
		}
		pushed++;
		atomic_fetch_add(&dev->echoed, 1);
	}
	if (pushed && vq_notify_prepare(q->vq))
		efd_signal(atomic_load(&q->call_fd));
}

/* The worker needs both the device and its queue; keep the pairs here. */
struct echo_worker {
	struct echo_dev *dev;
	unsigned index;
};

static struct echo_worker workers[NUM_QUEUES];

static void *echo_thread(void *p)
{
	struct echo_worker *w = p;
	struct echo_dev *dev = w->dev;
	struct echo_q *q = &dev->q[w->index];

	for (;;) {
		struct pollfd pfd[2] = {{.fd = q->stop_fd, .events = POLLIN},
					{.fd = q->kick_fd, .events = POLLIN}};

		/* a short timeout doubles as polling, so a lost kick only
		 * slows a test down */
		poll(pfd, 2, 20);
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			efd_drain(q->kick_fd);
		pthread_mutex_lock(&q->lock);
		if (atomic_load(&q->enabled))
			echo_run(dev, q);
		pthread_mutex_unlock(&q->lock);
	}
	return NULL;
}

static int echo_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct echo_dev *dev = opaque;
	struct echo_q *q;

	if (vr->index >= NUM_QUEUES || dev->q[vr->index].started) {
		atomic_fetch_add(&dev->errors, 1);
		return -EINVAL;
	}
	q = &dev->q[vr->index];
	q->vq = vr->vq;
	q->kick_fd = vr->kick_fd;
	atomic_store(&q->call_fd, vr->call_fd);
	atomic_store(&q->enabled, vr->enabled);
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->stop_fd < 0)
		return -errno;
	workers[vr->index].dev = dev;
	workers[vr->index].index = vr->index;
	if (pthread_create(&q->thread, NULL, echo_thread, &workers[vr->index]) != 0) {
		close(q->stop_fd);
		return -EAGAIN;
	}
	q->started = true;
	atomic_fetch_add(&dev->starts, 1);
	return 0;
}

static void echo_queue_stop(void *opaque, unsigned index)
{
	struct echo_dev *dev = opaque;
	struct echo_q *q;

	if (index >= NUM_QUEUES || !dev->q[index].started)
		return;
	q = &dev->q[index];
	efd_signal(q->stop_fd);
	pthread_join(q->thread, NULL);
	close(q->stop_fd);
	q->stop_fd = -1;
	q->vq = NULL;
	q->started = false;
	atomic_fetch_add(&dev->stops, 1);
}

static void echo_queue_enable(void *opaque, unsigned index, bool enabled)
{
	struct echo_dev *dev = opaque;

	if (index >= NUM_QUEUES)
		return;
	pthread_mutex_lock(&dev->q[index].lock);
	atomic_store(&dev->q[index].enabled, enabled);
	pthread_mutex_unlock(&dev->q[index].lock);
}

static void echo_queue_call_fd(void *opaque, unsigned index, int call_fd)
{
	struct echo_dev *dev = opaque;

	if (index < NUM_QUEUES)
		atomic_store(&dev->q[index].call_fd, call_fd);
}

static int echo_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct echo_dev *dev = opaque;

	if (offset > CONFIG_SIZE || len > CONFIG_SIZE - offset)
		return -EINVAL;
	memcpy(buf, dev->config + offset, len);
	return 0;
}

static int echo_set_config(void *opaque, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	struct echo_dev *dev = opaque;

	if (offset > CONFIG_SIZE || len > CONFIG_SIZE - offset)
		return -EINVAL;
	memcpy(dev->config + offset, buf, len);
	return 0;
}

static void echo_reset(void *opaque)
{
	struct echo_dev *dev = opaque;

	atomic_fetch_add(&dev->resets, 1);
}

static const struct vu_device_ops echo_ops = {
	.get_config = echo_get_config,
	.set_config = echo_set_config,
	.queue_start = echo_queue_start,
	.queue_stop = echo_queue_stop,
	.queue_enable = echo_queue_enable,
	.queue_call_fd = echo_queue_call_fd,
	.reset = echo_reset,
};

static void be_handle_cmd(struct be_ctx *c)
{
	int cmd;

	efd_drain(c->ctl_fd); /* first: a signal after this finds cmd set */
	cmd = atomic_exchange(&c->cmd, BE_CMD_NONE);
	if (cmd == BE_CMD_CONFIG_CHANGED)
		atomic_store(&c->cmd_rc, vu_backend_config_changed(c->b));
}

/* One turn of the loop; returns when something was done or after 20 ms. */
void be_turn(struct be_ctx *c)
{
	int fd = vu_backend_fd(c->b);
	struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = c->ctl_fd, .events = POLLIN}};
	int rc;

	rc = poll(pfd, 2, 20);
	if (rc < 0)
		return;
	if (pfd[1].revents & POLLIN)
		be_handle_cmd(c);
	if (fd < 0 || pfd[0].revents) {
		rc = vu_backend_dispatch(c->b);
		if (rc < 0 && rc != -EAGAIN) {
			atomic_store(&c->last_drop_rc, rc);
			atomic_fetch_add(&c->disconnects, 1);
		}
	}
	atomic_store(&c->connected, vu_backend_connected(c->b));
}

static void *be_thread(void *p)
{
	struct be_ctx *c = p;

	while (!atomic_load(&c->stop))
		be_turn(c);
	return NULL;
}

int be_create(struct be_ctx *c, const char *dir)
{
	struct vu_backend_config cfg = {
		.num_queues = NUM_QUEUES,
		.device_features = DEV_FEATURES,
		.protocol_features = 0,
		.config_size = CONFIG_SIZE,
	};
	int rc;

	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < NUM_QUEUES; i++) {
		c->dev.q[i].stop_fd = -1;
		pthread_mutex_init(&c->dev.q[i].lock, NULL);
	}
	for (unsigned i = 0; i < CONFIG_SIZE; i++)
		c->dev.config[i] = (uint8_t)(0xa0 + i);
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	snprintf(c->path, sizeof(c->path), "%s/vu.sock", dir);
	cfg.socket_path = c->path;
	c->ctl_fd = -1;
	rc = vu_backend_new(&cfg, &echo_ops, &c->dev, &c->b);
	if (rc < 0)
		return rc;
	c->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->ctl_fd < 0)
		return -errno;
	return 0;
}

int be_setup(void **state)
{
	struct be_ctx *c = calloc(1, sizeof(*c));
	char dir[] = "/tmp/vqnet-vu-fe-XXXXXX";

	assert_non_null(c);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(be_create(c, dir), 0);
	assert_int_equal(pthread_create(&c->thread, NULL, be_thread, c), 0);
	c->thread_running = true;
	*state = c;
	return 0;
}

int be_teardown(void **state)
{
	struct be_ctx *c = *state;

	if (!c)
		return 0;
	if (c->thread_running) {
		atomic_store(&c->stop, true);
		efd_signal(c->ctl_fd);
		pthread_join(c->thread, NULL);
	}
	if (c->b)
		vu_backend_free(c->b);
	if (c->ctl_fd >= 0)
		close(c->ctl_fd);
	unlink(c->path);
	rmdir(c->dir);
	free(c);
	return 0;
}

/* Ask the backend thread to run @cmd; wait for its result. */
int be_command(struct be_ctx *c, enum be_cmd cmd)
{
	atomic_store(&c->cmd_rc, 1);
	atomic_store(&c->cmd, cmd);
	efd_signal(c->ctl_fd);
	return 0;
}

bool be_wait_disconnects(struct be_ctx *c, unsigned n)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	while (atomic_load(&c->disconnects) < n) {
		if (now_ms() > deadline)
			return false;
		sleep_ms(2);
	}
	return true;
}
