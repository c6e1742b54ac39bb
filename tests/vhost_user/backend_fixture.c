/* SPDX-License-Identifier: MIT */
/* The fixture of the focused backend tests (backend_fixture.h). */
#include "backend_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../harness/test_util.h"

static int dev_set_features(void *opaque, uint64_t features)
{
	struct test_dev *d = opaque;
	d->features = features;
	d->set_features++;
	return 0;
}

static int dev_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct test_dev *d = opaque;
	memcpy(buf, d->config + offset, len);
	return 0;
}

static int dev_set_config(void *opaque, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	struct test_dev *d = opaque;
	memcpy(d->config + offset, buf, len);
	return 0;
}

static int dev_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct test_dev *d = opaque;
	assert_true(vr->index < NQUEUES);
	assert_null(d->vq[vr->index]);
	d->vq[vr->index] = vr->vq;
	d->enabled[vr->index] = vr->enabled;
	d->kick_fd[vr->index] = vr->kick_fd;
	d->starts++;
	return 0;
}

static void dev_queue_stop(void *opaque, unsigned index)
{
	struct test_dev *d = opaque;
	assert_true(index < NQUEUES);
	assert_non_null(d->vq[index]);
	d->vq[index] = NULL;
	d->stops++;
}

static void dev_queue_enable(void *opaque, unsigned index, bool enabled)
{
	struct test_dev *d = opaque;
	d->enabled[index] = enabled;
	d->enables++;
}

static void dev_queue_call_fd(void *opaque, unsigned index, int call_fd)
{
	struct test_dev *d = opaque;
	(void)index;
	(void)call_fd;
	d->call_fds++;
}

static void dev_reset(void *opaque)
{
	struct test_dev *d = opaque;
	for (unsigned i = 0; i < NQUEUES; i++)
		assert_null(d->vq[i]); /* every ring stopped first */
	d->resets++;
}

const struct vu_device_ops test_ops = {
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.set_config = dev_set_config,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_enable = dev_queue_enable,
	.queue_call_fd = dev_queue_call_fd,
	.reset = dev_reset,
};

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	struct vu_backend_config cfg = {.num_queues = NQUEUES,
					.device_features = DEV_FEATURES,
					.config_size = sizeof(f->dev.config)};
	rf_open(&f->rf, "/tmp/vqnet-vu-be-XXXXXX", &cfg, &test_ops, &f->dev);
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;
	rf_close(&f->rf);
	free(f);
	return 0;
}

void fe_connect(struct fx *f)
{
	f->base_fds = count_fds();
	rf_connect(&f->rf);
	assert_int_not_equal(vu_backend_fd(f->rf.b), -1);
}

void read_reply(struct fx *f, uint32_t request, struct vu_msg *r)
{
	assert_int_equal(vu_msg_recv(f->rf.sock, r), 0);
	assert_int_equal(r->hdr.request, request);
	assert_int_equal(r->hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
	assert_int_equal(r->nfds, 0);
}

uint64_t reply_u64(struct fx *f, uint32_t request)
{
	struct vu_msg r;
	read_reply(f, request, &r);
	assert_int_equal(r.hdr.size, 8);
	return r.payload.u64;
}

void expect_dropped(struct fx *f)
{
	assert_false(vu_backend_connected(f->rf.b));
	close(f->rf.sock);
	f->rf.sock = -1;
	assert_int_equal(count_fds(), f->base_fds);
	for (unsigned i = 0; i < NQUEUES; i++)
		assert_null(f->dev.vq[i]);
}

void expect_hang_up(struct fx *f)
{
	rf_hang_up(&f->rf);
	expect_dropped(f);
}

void set_addr(struct fx *f, unsigned index, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vhost_vring_addr a = {.index = index,
				     .desc_user_addr = desc,
				     .avail_user_addr = avail,
				     .used_user_addr = used};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a)), 0);
}

void setup_ring0(struct fx *f, uint64_t extra, int kick)
{
	assert_int_equal(
		rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, (1ull << VIRTIO_F_VERSION_1) | extra),
		0);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_SET_OWNER, NULL, 0), 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
}
