/* SPDX-License-Identifier: MIT */
/*
 * The library's vhost-user frontend against the library's backend, over a
 * real Unix socket.
 *
 * The backend runs in a second thread of this process (or, in the *_fork
 * test, in a child process): a loop of poll(vu_backend_fd) +
 * vu_backend_dispatch() that also watches a control eventfd through which
 * the test asks it to do things only its thread may do (config change
 * notification). Its device is an echo device: queue_start hands the vq to
 * a worker thread that pops chains, copies each chain's readable bytes into
 * its writable part, pushes (id, bytes copied) and signals call_fd when
 * vq_should_notify() says so.
 *
 * The frontend side (the test thread) allocates its guest memory with
 * vu_shm_alloc(), lays rings and buffers out in it, drives the rings with
 * vq_drv_*() and hands the backend user addresses (base + offset) for the
 * rings and guest physical addresses (gpa + offset) in descriptors.
 *
 * Every wait is bounded: a test fails instead of hanging.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/vhost_user_msg.h"
#include "vhost_user/msg.h"
#include "../harness/test_util.h"
#include "base/iov.h"

#define F(bit) (1ull << (bit))

#define NUM_QUEUES  4u
#define CONFIG_SIZE 16u
#define QSIZE	    64u
#define SHM_SIZE    (4u << 20)
#define SHM_GPA	    0x40000000ull
#define RING_AREA   (64u << 10) /* bytes of ring memory per queue */
#define BUF_BASE    (1u << 20)	/* buffers start here in the shm */
#define SLOT_BYTES  1024u	/* per chain: readable part, then writable */
#define WR_OFF	    512u
#define MAX_RD_LEN  256u
#define RD2_OFF	    256u /* indirect chains: second readable segment */
#define WR1_LEN	    200u /* indirect chains: first writable segment */
#define IND_BASE    (BUF_BASE + NUM_QUEUES * QSIZE * SLOT_BYTES)
#define IND_MAX	    4u
#define WAIT_MS	    10000
#define CONNECT_MS  5000u
#define DEV_FEATURES                                                                               \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED) | F(VIRTIO_F_EVENT_IDX) |                 \
	 F(VIRTIO_F_INDIRECT_DESC) | F(VHOST_USER_F_PROTOCOL_FEATURES))

/* ------------------------------------------------------------------------
 * Small utilities
 * ------------------------------------------------------------------------ */

static uint8_t pattern(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (seq >> 8));
}

/* Initial SET_VRING_BASE: split avail idx 0; packed (QEMU/DPDK encoding):
 * avail idx | avail wrap << 15 | (used idx | used wrap << 15) << 16, both
 * wrap counters 1 on a fresh ring (VIRTIO 1.2 §2.8.1). */
static uint32_t fresh_base(enum vq_format fmt)
{
	return fmt == VQ_FORMAT_PACKED ? (1u << 15) | (1u << 31) : 0;
}

/* ------------------------------------------------------------------------
 * The echo device (backend side)
 * ------------------------------------------------------------------------ */

struct echo_q {
	struct vq *vq;
	int kick_fd;
	_Atomic int call_fd;
	int stop_fd;
	atomic_bool enabled;
	pthread_mutex_t lock; /* held while the worker uses the ring: a
				 disable is complete when queue_enable returns */
	bool started;
	pthread_t thread;
};

struct echo_dev {
	struct echo_q q[NUM_QUEUES];
	uint8_t config[CONFIG_SIZE];
	atomic_uint errors;	   /* anything a worker found wrong */
	atomic_uint starts, stops; /* queue_start / queue_stop calls */
	atomic_ulong echoed;	   /* chains completed */
	atomic_uint resets;
};

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
	if (pushed && vq_should_notify(q->vq))
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

/* ------------------------------------------------------------------------
 * The backend loop
 * ------------------------------------------------------------------------ */

enum be_cmd { BE_CMD_NONE, BE_CMD_CONFIG_CHANGED };

struct be_ctx {
	char dir[64];
	char path[96];
	struct vu_backend *b;
	struct echo_dev dev;
	int ctl_fd;
	atomic_int cmd;	   /* enum be_cmd to run on the next wake-up */
	atomic_int cmd_rc; /* its result, or 1 while pending */
	atomic_bool stop;
	atomic_uint disconnects; /* dispatch returned an error */
	atomic_int last_drop_rc; /* the error of the last drop */
	atomic_bool connected;
	pthread_t thread;
	bool thread_running;
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
static void be_turn(struct be_ctx *c)
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

static int be_create(struct be_ctx *c, const char *dir)
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

static int be_setup(void **state)
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

static int be_teardown(void **state)
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
static int be_command(struct be_ctx *c, enum be_cmd cmd)
{
	atomic_store(&c->cmd_rc, 1);
	atomic_store(&c->cmd, cmd);
	efd_signal(c->ctl_fd);
	return 0;
}

static bool be_wait_disconnects(struct be_ctx *c, unsigned n)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	while (atomic_load(&c->disconnects) < n) {
		if (now_ms() > deadline)
			return false;
		sleep_ms(2);
	}
	return true;
}

/* ------------------------------------------------------------------------
 * The frontend side: memory, rings, traffic
 * ------------------------------------------------------------------------ */

struct drv_q {
	unsigned index;
	enum vq_format fmt;
	uint64_t features;
	struct vq_drv *d;
	int kick_fd, call_fd;
	uint64_t desc_off, driver_off, device_off; /* inside the shm */
	uint64_t buf_off;
	bool indirect; /* chains go in indirect tables, 2 + 2 segments */
	/* traffic state */
	uint32_t target, next_seq, done;
	uint32_t slot_seq[QSIZE], slot_len[QSIZE];
	uint32_t free_slots[QSIZE], nfree;
	uint8_t *seen; /* one byte per seq */
	unsigned kicks;
};

struct fe_ctx {
	struct vu_frontend *f;
	struct vu_shm shm;
	struct drv_q q[NUM_QUEUES];
	unsigned nq;
	uint64_t features; /* negotiated virtio features */
	uint64_t protocol_features;
	bool indirect; /* queues started from now on use indirect chains */
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static void drvq_init(struct fe_ctx *fc, struct drv_q *q, unsigned index, enum vq_format fmt)
{
	struct vq_layout l;
	struct vq_drv_config dc = {0};
	uint64_t off = (uint64_t)index * RING_AREA;

	memset(q, 0, sizeof(*q));
	q->index = index;
	q->fmt = fmt;
	q->features = fc->features & (F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC));
	assert_int_equal(vq_layout(fmt, QSIZE, &l), 0);
	q->desc_off = off;
	off = align_up(off + l.desc_bytes, 4096);
	q->driver_off = off;
	off = align_up(off + l.driver_bytes, 4096);
	q->device_off = off;
	assert_true(off + l.device_bytes <= (uint64_t)(index + 1) * RING_AREA);
	q->buf_off = BUF_BASE + (uint64_t)index * QSIZE * SLOT_BYTES;
	assert_true(q->buf_off + QSIZE * SLOT_BYTES <= fc->shm.size);

	dc.format = fmt;
	dc.size = QSIZE;
	dc.features = q->features;
	dc.desc = fc->shm.base + q->desc_off;
	dc.driver_area = fc->shm.base + q->driver_off;
	dc.device_area = fc->shm.base + q->device_off;
	if (fc->indirect && vq_has_feature(q->features, VIRTIO_F_INDIRECT_DESC)) {
		uint64_t ind = IND_BASE + (uint64_t)index * QSIZE * IND_MAX * 16;

		assert_true(ind + QSIZE * IND_MAX * 16 <= fc->shm.size);
		q->indirect = true;
		dc.indirect = fc->shm.base + ind;
		dc.indirect_gpa = fc->shm.gpa + ind;
		dc.indirect_max = IND_MAX;
	}
	assert_int_equal(vq_drv_new(&dc, &q->d), 0);
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(q->kick_fd >= 0 && q->call_fd >= 0);
	q->nfree = QSIZE;
	for (unsigned i = 0; i < QSIZE; i++)
		q->free_slots[i] = QSIZE - 1 - i;
}

static void drvq_fini(struct drv_q *q)
{
	if (q->d)
		vq_drv_free(q->d);
	q->d = NULL;
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	q->kick_fd = q->call_fd = -1;
	free(q->seen);
	q->seen = NULL;
}

static void drvq_vring_setup(const struct fe_ctx *fc, const struct drv_q *q, uint32_t base,
			     struct vu_vring_setup *s)
{
	uintptr_t b = (uintptr_t)fc->shm.base;

	s->num = QSIZE;
	s->desc_uva = b + q->desc_off;
	s->driver_uva = b + q->driver_off;
	s->device_uva = b + q->device_off;
	s->base = base;
	s->kick_fd = q->kick_fd;
	s->call_fd = q->call_fd;
}

static void traffic_start(struct drv_q *q, uint32_t target)
{
	q->target = target;
	q->next_seq = 0;
	q->done = 0;
	free(q->seen);
	q->seen = calloc(target ? target : 1, 1);
	assert_non_null(q->seen);
}

/* Post as many chains as fit (up to the target), publish, kick if needed. */
static unsigned traffic_post(struct fe_ctx *fc, struct drv_q *q, unsigned max)
{
	unsigned posted = 0;

	while (q->next_seq < q->target && q->nfree && posted < max) {
		uint32_t seq = q->next_seq, slot = q->free_slots[q->nfree - 1];
		uint32_t len = 1 + (seq * 37u) % MAX_RD_LEN;
		uint64_t off = q->buf_off + (uint64_t)slot * SLOT_BYTES;
		uint64_t gpa = fc->shm.gpa + off;
		struct vq_drv_buf bufs[4] = {{gpa, len}, {gpa + WR_OFF, SLOT_BYTES - WR_OFF}};
		uint8_t *p = fc->shm.base + off;
		unsigned nout = 1, nin = 1;
		int id;

		if (q->indirect) {
			/* readable bytes in two separate pieces, the writable
			 * part in two descriptors the copy must cross */
			uint32_t len1 = (len + 1) / 2;

			nin = 2;
			bufs[0].len = len1;
			if (len > len1) {
				bufs[1] = (struct vq_drv_buf){gpa + RD2_OFF, len - len1};
				nout = 2;
			}
			bufs[nout] = (struct vq_drv_buf){gpa + WR_OFF, WR1_LEN};
			bufs[nout + 1] = (struct vq_drv_buf){gpa + WR_OFF + WR1_LEN,
							     SLOT_BYTES - WR_OFF - WR1_LEN};
			for (uint32_t i = 0; i < len; i++)
				p[i < len1 ? i : RD2_OFF + i - len1] = pattern(seq, i);
		} else {
			for (uint32_t i = 0; i < len; i++)
				p[i] = pattern(seq, i);
		}
		memset(p + WR_OFF, 0xee, SLOT_BYTES - WR_OFF);
		id = vq_drv_add_chain(q->d, bufs, nout, nin, q->indirect,
				      (void *)(uintptr_t)(slot + 1));
		if (id == -VQ_ERR_NO_SPACE)
			break;
		assert_true(id >= 0);
		q->nfree--;
		q->slot_seq[slot] = seq;
		q->slot_len[slot] = len;
		q->next_seq++;
		posted++;
	}
	if (posted) {
		vq_drv_publish(q->d);
		if (vq_drv_kick_needed(q->d)) {
			efd_signal(q->kick_fd);
			q->kicks++;
		}
	}
	return posted;
}

/* Reap every used entry, checking tokens, lengths and echoed bytes. */
static unsigned traffic_reap(struct fe_ctx *fc, struct drv_q *q)
{
	struct vq_drv_used used[16];
	unsigned total = 0;
	int n;

	while ((n = vq_drv_reap(q->d, used, 16)) > 0) {
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)((uintptr_t)used[i].token - 1);
			uint32_t seq, len;
			const uint8_t *w;

			assert_true(slot < QSIZE);
			seq = q->slot_seq[slot];
			len = q->slot_len[slot];
			assert_true(seq < q->target);
			assert_int_equal(q->seen[seq], 0); /* no duplicate */
			q->seen[seq] = 1;
			assert_int_equal(used[i].len, len);
			w = fc->shm.base + q->buf_off + (uint64_t)slot * SLOT_BYTES + WR_OFF;
			for (uint32_t j = 0; j < len; j++)
				if (w[j] != pattern(seq, j))
					fail_msg("queue %u seq %u byte %u: %#x != %#x", q->index,
						 seq, j, w[j], pattern(seq, j));
			q->free_slots[q->nfree++] = slot;
			q->done++;
		}
		total += (unsigned)n;
	}
	assert_true(n == 0);
	return total;
}

/* Wait for a used-buffer notification on any of @qs (bounded, short). */
static void traffic_wait(struct drv_q **qs, unsigned n, int timeout_ms)
{
	struct pollfd pfd[NUM_QUEUES];

	for (unsigned i = 0; i < n; i++)
		pfd[i] = (struct pollfd){.fd = qs[i]->call_fd, .events = POLLIN};
	if (poll(pfd, n, timeout_ms) > 0)
		for (unsigned i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				efd_drain(qs[i]->call_fd);
}

/* Run the queues' traffic until each reached its target, or fail. */
static void traffic_run(struct fe_ctx *fc, struct drv_q **qs, unsigned n)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	for (;;) {
		bool all_done = true;

		for (unsigned i = 0; i < n; i++) {
			traffic_reap(fc, qs[i]);
			traffic_post(fc, qs[i], QSIZE);
			if (qs[i]->done < qs[i]->target)
				all_done = false;
		}
		if (all_done)
			break;
		if (now_ms() > deadline) {
			for (unsigned i = 0; i < n; i++)
				print_error("queue %u: %u of %u done, %u posted, %u kicks\n",
					    qs[i]->index, qs[i]->done, qs[i]->target,
					    qs[i]->next_seq, qs[i]->kicks);
			fail_msg("traffic timed out");
		}
		traffic_wait(qs, n, 10);
	}
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(vq_drv_in_flight(qs[i]->d), 0);
		assert_false(vq_drv_is_broken(qs[i]->d));
	}
}

/* Connect and negotiate @extra virtio features on top of VERSION_1. */
/* ... offering every protocol feature the backend has but @pf_clear. */
static void fe_connect_negotiate_pf(struct fe_ctx *fc, const struct be_ctx *c, uint64_t extra,
				    uint64_t pf_clear)
{
	uint64_t feat, pf;

	memset(fc, 0, sizeof(*fc));
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		fc->q[i].kick_fd = fc->q[i].call_fd = -1;
	fc->shm.fd = -1;
	assert_int_equal(vu_frontend_connect(c->path, CONNECT_MS, &fc->f), 0);
	assert_int_equal(vu_frontend_set_owner(fc->f), 0);
	assert_int_equal(vu_frontend_get_features(fc->f, &feat), 0);
	assert_true(vq_has_feature(feat, VHOST_USER_F_PROTOCOL_FEATURES));
	assert_int_equal(vu_frontend_get_protocol_features(fc->f, &pf), 0);
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_REPLY_ACK));
	pf &= ~pf_clear;
	assert_int_equal(vu_frontend_set_protocol_features(fc->f, pf), 0);
	fc->protocol_features = pf;
	fc->features = feat & (F(VIRTIO_F_VERSION_1) | F(VHOST_USER_F_PROTOCOL_FEATURES) | extra);
	assert_int_equal(vu_frontend_set_features(fc->f, fc->features), 0);
}

static void fe_connect_negotiate(struct fe_ctx *fc, const struct be_ctx *c, uint64_t extra)
{
	fe_connect_negotiate_pf(fc, c, extra, 0);
}

static void fe_share_memory(struct fe_ctx *fc)
{
	assert_int_equal(vu_shm_alloc(SHM_SIZE, SHM_GPA, false, &fc->shm), 0);
	assert_int_equal(vu_frontend_set_mem_table(fc->f, &fc->shm, 1), 0);
}

static void fe_start_queue(struct fe_ctx *fc, unsigned index, enum vq_format fmt)
{
	struct vu_vring_setup s;
	struct drv_q *q = &fc->q[index];

	drvq_init(fc, q, index, fmt);
	drvq_vring_setup(fc, q, fresh_base(fmt), &s);
	assert_int_equal(vu_frontend_setup_vring(fc->f, index, &s), 0);
	assert_int_equal(vu_frontend_set_vring_enable(fc->f, index, true), 0);
	if (index + 1 > fc->nq)
		fc->nq = index + 1;
}

static void fe_teardown(struct fe_ctx *fc)
{
	if (fc->f)
		vu_frontend_close(fc->f);
	fc->f = NULL;
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		drvq_fini(&fc->q[i]);
	vu_shm_free(&fc->shm);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------
 * The frontend against a scripted peer: replies are queued on the socket
 * before each call, so one thread plays both sides deterministically.
 * ------------------------------------------------------------------------ */

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
}

static void test_frontend_backend_channel(void **state)
{
	struct fake k;
	struct vu_msg m;
	int be;

	(void)state;
	fake_open(&k);
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -ENOTCONN);
	assert_int_equal(vu_frontend_set_protocol_features(
				 k.f, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
					      F(VHOST_USER_PROTOCOL_F_BACKEND_REQ)),
			 0);
	fake_expect(&k, &m, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, 8);
	fake_ack(&k, VHOST_USER_SET_BACKEND_REQ_FD, 0);
	assert_int_equal(vu_frontend_open_backend_req(k.f), 0);
	fake_expect(&k, &m, VHOST_USER_SET_BACKEND_REQ_FD,
		    VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, 0);
	assert_int_equal(m.nfds, 1);
	be = m.fds[0];

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

	/* the backend closes its end */
	close(be);
	assert_int_equal(vu_frontend_dispatch_backend_req(k.f), -ECONNRESET);
	assert_int_equal(vu_frontend_backend_req_fd(k.f), -1);
	fake_close(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_alloc),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_backend_new_closes_nothing),
		cmocka_unit_test(test_frontend_wire),
		cmocka_unit_test(test_frontend_bad_replies),
		cmocka_unit_test(test_frontend_backend_channel),
		cmocka_unit_test_setup_teardown(test_negotiation, be_setup, be_teardown),
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
		cmocka_unit_test_setup_teardown(test_config, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_mem_slots, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_update, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_no_reply_ack, be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_reset_device, be_setup, be_teardown),
		cmocka_unit_test(test_connect_retry),
		cmocka_unit_test(test_split_traffic_fork),
	};

	/* no SIGPIPE handling: the library must not raise it (MSG_NOSIGNAL) */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
