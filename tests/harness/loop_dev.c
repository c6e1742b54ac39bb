/* SPDX-License-Identifier: MIT */
/*
 * Loopback virtio-net device for tests (loop_dev.h) — theory of operation
 *
 * Two threads. The backend thread runs poll(vu_backend_fd, ctl_fd) +
 * vu_backend_dispatch() and runs commands only it may (config change
 * notification). The worker thread, under `lock`, moves frames of every
 * pair whose two rings are started: pop a transmit chain (header +
 * frame), gather its bytes, pop as many receive chains as the frame needs
 * (one without MRG_RXBUF), scatter header + frame into them, complete all
 * of them, notify once per turn. When receive chains are missing the
 * chains already popped are given back (vq_unpop, newest first) and the
 * frame waits. queue_stop takes the lock, so it returns only when the
 * worker no longer touches the ring. A ring that breaks is counted once
 * and its pair (or the control queue) is left alone from then on. Not
 * fast, just exact.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "loop_dev.h"
#include "spec/vhost_user_msg.h"
#include "spec/virtio_net.h"
#include "test_util.h"

#define F(bit)	    (1ull << (bit))
#define IOV_CAP	    80u
#define MAX_FRAME   (65550u + VIRTIO_NET_HDR_LEN)
#define MAX_RX_BUFS 64u

struct loop_dev {
	struct loop_dev_config cfg;
	char dir[64], path[108]; /* dir: "" when the caller chose the path */
	struct vu_backend *b;
	int ctl_fd;
	atomic_bool stop;
	bool halted;
	atomic_int cmd; /* 1: send config change */
	atomic_int cmd_rc;
	pthread_t be_thread, worker;

	pthread_mutex_t lock; /* worker vs. queue callbacks */
	struct vq *vq[2 * LOOP_MAX_PAIRS + 1];
	int call_fd[2 * LOOP_MAX_PAIRS + 1];
	bool enabled[2 * LOOP_MAX_PAIRS + 1];
	uint64_t features;
	struct virtio_net_config config;
	bool refuse_ctrl;
	int lie_num_buffers; /* < 0: tell the truth */
	struct loop_dev_ctrl_log log;
	uint64_t frames, drops, errors;
	unsigned starts, stops;
	uint8_t *frame; /* gather buffer, MAX_FRAME bytes */
	struct iovec txiov[IOV_CAP], rxiov[MAX_RX_BUFS][IOV_CAP];
};

/* A ring's pop failed with @rc: count it; a ring that broke is logged. */
static void pop_error(struct loop_dev *ld, const char *ring, int rc)
{
	ld->errors++;
	if (!vq_err_is_drop(rc) && ld->cfg.log_name)
		fprintf(stderr, "%s: %s broken: %s\n", ld->cfg.log_name, ring, vq_strerror(rc));
}

static size_t gather(const struct vq_elem *e, uint8_t *dst, size_t cap)
{
	size_t n = 0;

	for (unsigned i = 0; i < e->nout; i++) {
		size_t l = e->iov[i].iov_len;

		if (l > cap - n)
			return SIZE_MAX;
		memcpy(dst + n, e->iov[i].iov_base, l);
		n += l;
	}
	return n;
}

/* Scatter @len bytes of @src into @e's writable part. Return bytes written. */
static uint32_t scatter(const struct vq_elem *e, const uint8_t *src, size_t len)
{
	size_t n = 0;

	for (unsigned i = e->nout; i < (unsigned)e->nout + e->nin && n < len; i++) {
		size_t l = e->iov[i].iov_len < len - n ? e->iov[i].iov_len : len - n;

		memcpy(e->iov[i].iov_base, src + n, l);
		n += l;
	}
	return (uint32_t)n;
}

/* Loop one frame of pair @p. Return: 1 moved (or dropped), 0 nothing to do. */
static int loop_one(struct loop_dev *ld, unsigned p)
{
	struct vq *rx = ld->vq[2 * p], *tx = ld->vq[2 * p + 1];
	struct vq_elem te = {.iov = ld->txiov, .iov_cap = IOV_CAP};
	struct vq_elem re[MAX_RX_BUFS];
	bool mrg = vq_has_feature(ld->features, VIRTIO_NET_F_MRG_RXBUF);
	struct virtio_net_hdr_v1 h;
	size_t len, have = 0, off = 0;
	unsigned nrx = 0;
	int rc;

	rc = vq_pop(tx, &te);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		pop_error(ld, "transmitq", rc);
		if (!vq_err_is_drop(rc))
			return 0;
		vq_push(tx, te.id, 0);
		return 1;
	}
	len = gather(&te, ld->frame, MAX_FRAME);
	if (len == SIZE_MAX || len <= VIRTIO_NET_HDR_LEN) {
		ld->errors++;
		vq_push(tx, te.id, 0);
		return 1;
	}
	while (have < len && nrx < (mrg ? MAX_RX_BUFS : 1)) {
		re[nrx] = (struct vq_elem){.iov = ld->rxiov[nrx], .iov_cap = IOV_CAP};
		rc = vq_pop(rx, &re[nrx]);
		if (rc <= 0) {
			if (rc < 0)
				pop_error(ld, "receiveq", rc);
			break;
		}
		have += re[nrx++].in_len;
	}
	if (have < len) {
		if (!mrg && nrx == 1) { /* the one buffer is too small: drop */
			vq_unpop(rx, &re[0]);
			vq_push(tx, te.id, 0);
			ld->drops++;
			return 1;
		}
		while (nrx)
			vq_unpop(rx, &re[--nrx]);
		vq_unpop(tx, &te);
		return 0;
	}
	memcpy(&h, ld->frame, sizeof(h));
	h.num_buffers = (le16)nrx;	/* 1 without MRG_RXBUF (§5.1.6.4) */
	if (ld->lie_num_buffers >= 0) { /* loop_dev_lie_num_buffers() */
		h.num_buffers = (le16)ld->lie_num_buffers;
		ld->lie_num_buffers = -1;
	}
	memcpy(ld->frame, &h, sizeof(h));
	for (unsigned i = 0; i < nrx; i++) {
		uint32_t w = scatter(&re[i], ld->frame + off, len - off);

		off += w;
		vq_push(rx, re[i].id, w);
	}
	vq_push(tx, te.id, 0);
	ld->frames++;
	return 1;
}

static void ctrl_one(struct loop_dev *ld, struct vq *cq)
{
	struct iovec iov[8];
	struct vq_elem e = {.iov = iov, .iov_cap = 8};
	uint8_t buf[64] = {0}, ack;
	size_t n;
	int rc;

	while ((rc = vq_pop(cq, &e)) != 0) {
		if (rc < 0 || e.nin < 1) {
			if (rc < 0)
				pop_error(ld, "controlq", rc);
			else
				ld->errors++;
			if (rc >= 0 || vq_err_is_drop(rc))
				vq_push(cq, e.id, 0);
			if (rc < 0 && !vq_err_is_drop(rc))
				return;
			continue;
		}
		n = gather(&e, buf, sizeof(buf));
		ack = ld->refuse_ctrl || n < 2 || n == SIZE_MAX ? VIRTIO_NET_ERR : VIRTIO_NET_OK;
		if (n >= 2 && n != SIZE_MAX) {
			ld->log.class = buf[0];
			ld->log.cmd = buf[1];
			memcpy(ld->log.data, buf + 2, sizeof(ld->log.data));
			if (buf[0] == VIRTIO_NET_CTRL_MQ && n >= 4)
				ld->log.mq_pairs = buf[2] | (unsigned)buf[3] << 8;
		}
		ld->log.commands++;
		*(uint8_t *)e.iov[e.nout].iov_base = ack;
		vq_push(cq, e.id, 1);
		if (vq_notify_prepare(cq))
			efd_signal(ld->call_fd[2 * ld->cfg.pairs]);
	}
}

static void *worker_main(void *opaque)
{
	struct loop_dev *ld = opaque;

	while (!atomic_load(&ld->stop)) {
		unsigned work = 0;

		pthread_mutex_lock(&ld->lock);
		for (unsigned p = 0; p < ld->cfg.pairs; p++) {
			unsigned moved = 0;

			if (!ld->vq[2 * p] || !ld->vq[2 * p + 1] || !ld->enabled[2 * p] ||
			    !ld->enabled[2 * p + 1] || vq_is_broken(ld->vq[2 * p]) ||
			    vq_is_broken(ld->vq[2 * p + 1]))
				continue;
			while (moved < 64 && loop_one(ld, p))
				moved++;
			if (moved) {
				if (vq_notify_prepare(ld->vq[2 * p]))
					efd_signal(ld->call_fd[2 * p]);
				if (vq_notify_prepare(ld->vq[2 * p + 1]))
					efd_signal(ld->call_fd[2 * p + 1]);
			}
			work += moved;
		}
		if (ld->vq[2 * ld->cfg.pairs] && !vq_is_broken(ld->vq[2 * ld->cfg.pairs]))
			ctrl_one(ld, ld->vq[2 * ld->cfg.pairs]);
		pthread_mutex_unlock(&ld->lock);
		if (!work) {
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* ---- device ops (backend thread) ---- */

static int dev_set_features(void *opaque, uint64_t features)
{
	struct loop_dev *ld = opaque;

	if (ld->cfg.log_name)
		printf("%s: features 0x%016" PRIx64 "%s%s%s%s\n", ld->cfg.log_name, features,
		       vq_has_feature(features, VIRTIO_F_RING_PACKED) ? " RING_PACKED" : "",
		       vq_has_feature(features, VIRTIO_F_EVENT_IDX) ? " EVENT_IDX" : "",
		       vq_has_feature(features, VIRTIO_F_IN_ORDER) ? " IN_ORDER" : "",
		       vq_has_feature(features, VIRTIO_NET_F_MAC) ? " MAC" : "");
	pthread_mutex_lock(&ld->lock);
	ld->features = features;
	pthread_mutex_unlock(&ld->lock);
	return 0;
}

static int dev_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct loop_dev *ld = opaque;

	if (offset > sizeof(ld->config) || len > sizeof(ld->config) - offset)
		return -EINVAL;
	pthread_mutex_lock(&ld->lock);
	memcpy(buf, (uint8_t *)&ld->config + offset, len);
	pthread_mutex_unlock(&ld->lock);
	return 0;
}

static int dev_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct loop_dev *ld = opaque;
	struct vq_state st;

	if (vr->index > 2 * ld->cfg.pairs)
		return -EINVAL;
	vq_get_state(vr->vq, &st);
	if (ld->cfg.log_name)
		printf("%s: queue %u started: %s ring, size %u, avail %u wrap %d, used %u wrap "
		       "%d%s\n",
		       ld->cfg.log_name, vr->index,
		       vq_get_format(vr->vq) == VQ_FORMAT_PACKED ? "packed" : "split",
		       vq_get_size(vr->vq), st.avail_idx, st.avail_wrap, st.used_idx, st.used_wrap,
		       vr->enabled ? ", enabled" : "");
	pthread_mutex_lock(&ld->lock);
	ld->vq[vr->index] = vr->vq;
	ld->call_fd[vr->index] = vr->call_fd;
	ld->enabled[vr->index] = vr->enabled;
	ld->starts++;
	pthread_mutex_unlock(&ld->lock);
	return 0;
}

static void dev_queue_stop(void *opaque, unsigned index)
{
	struct loop_dev *ld = opaque;

	bool was_started;

	if (index > 2 * ld->cfg.pairs)
		return;
	pthread_mutex_lock(&ld->lock);
	was_started = ld->vq[index] != NULL;
	ld->vq[index] = NULL;
	ld->stops += was_started;
	pthread_mutex_unlock(&ld->lock);
	if (was_started && ld->cfg.log_name)
		printf("%s: queue %u stopped\n", ld->cfg.log_name, index);
}

static void dev_queue_enable(void *opaque, unsigned index, bool enabled)
{
	struct loop_dev *ld = opaque;

	if (index > 2 * ld->cfg.pairs)
		return;
	pthread_mutex_lock(&ld->lock);
	ld->enabled[index] = enabled;
	pthread_mutex_unlock(&ld->lock);
}

static void dev_queue_call_fd(void *opaque, unsigned index, int call_fd)
{
	struct loop_dev *ld = opaque;

	if (index > 2 * ld->cfg.pairs)
		return;
	pthread_mutex_lock(&ld->lock);
	ld->call_fd[index] = call_fd;
	pthread_mutex_unlock(&ld->lock);
}

static const struct vu_device_ops loop_ops = {
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_enable = dev_queue_enable,
	.queue_call_fd = dev_queue_call_fd,
};

static void *be_main(void *opaque)
{
	struct loop_dev *ld = opaque;

	while (!atomic_load(&ld->stop)) {
		int fd = vu_backend_fd(ld->b);
		struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
					{.fd = ld->ctl_fd, .events = POLLIN}};

		if (poll(pfd, 2, 20) < 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			efd_drain(ld->ctl_fd);
			if (atomic_exchange(&ld->cmd, 0) == 1)
				atomic_store(&ld->cmd_rc, vu_backend_config_changed(ld->b));
		}
		if (fd < 0 || pfd[0].revents) {
			int rc = vu_backend_dispatch(ld->b);

			if (rc < 0 && rc != -EAGAIN && ld->cfg.log_name)
				printf("%s: frontend gone (%s)\n", ld->cfg.log_name, strerror(-rc));
		}
	}
	return NULL;
}

int loop_dev_start(const struct loop_dev_config *cfg, struct loop_dev **out, const char **path)
{
	struct loop_dev *ld = calloc(1, sizeof(*ld));
	struct vu_backend_config bc = {0};
	int rc;

	if (!ld)
		return -ENOMEM;
	ld->cfg = *cfg;
	ld->lie_num_buffers = -1;
	ld->frame = malloc(MAX_FRAME);
	if (cfg->socket_path)
		snprintf(ld->path, sizeof(ld->path), "%s", cfg->socket_path);
	else
		snprintf(ld->dir, sizeof(ld->dir), "/tmp/vqnet-drv-XXXXXX");
	if (!ld->frame || (!cfg->socket_path && !mkdtemp(ld->dir))) {
		free(ld->frame);
		free(ld);
		return -ENOMEM;
	}
	if (!cfg->socket_path)
		snprintf(ld->path, sizeof(ld->path), "%s/vu.sock", ld->dir);
	pthread_mutex_init(&ld->lock, NULL);
	for (unsigned i = 0; i < 2 * LOOP_MAX_PAIRS + 1; i++)
		ld->call_fd[i] = -1;
	memcpy(ld->config.mac, cfg->mac ? cfg->mac : (const uint8_t *)"\x52\x54\x00\x12\x34\x56",
	       6);
	ld->config.status = VIRTIO_NET_S_LINK_UP;
	ld->config.max_virtqueue_pairs = (le16)cfg->pairs;
	ld->config.mtu = 9000;
	bc.socket_path = ld->path;
	bc.num_queues = 2 * cfg->pairs + 1;
	bc.device_features =
		cfg->features | F(VIRTIO_F_VERSION_1) | F(VHOST_USER_F_PROTOCOL_FEATURES);
	bc.config_size = sizeof(ld->config);
	rc = vu_backend_new(&bc, &loop_ops, ld, &ld->b);
	if (rc < 0)
		goto err;
	ld->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ld->ctl_fd < 0) {
		rc = -errno;
		vu_backend_free(ld->b);
		goto err;
	}
	pthread_create(&ld->be_thread, NULL, be_main, ld);
	pthread_create(&ld->worker, NULL, worker_main, ld);
	*out = ld;
	*path = ld->path;
	return 0;
err:
	if (ld->dir[0])
		rmdir(ld->dir);
	free(ld->frame);
	free(ld);
	return rc;
}

void loop_dev_halt(struct loop_dev *ld)
{
	if (ld->halted)
		return;
	ld->halted = true;
	atomic_store(&ld->stop, true);
	efd_signal(ld->ctl_fd);
	pthread_join(ld->be_thread, NULL);
	pthread_join(ld->worker, NULL);
	vu_backend_free(ld->b);
}

void loop_dev_stop(struct loop_dev *ld)
{
	if (!ld)
		return;
	loop_dev_halt(ld);
	close(ld->ctl_fd);
	if (ld->dir[0]) {
		unlink(ld->path);
		rmdir(ld->dir);
	}
	pthread_mutex_destroy(&ld->lock);
	free(ld->frame);
	free(ld);
}

int loop_dev_set_link(struct loop_dev *ld, bool up)
{
	pthread_mutex_lock(&ld->lock);
	ld->config.status = up ? VIRTIO_NET_S_LINK_UP : 0;
	pthread_mutex_unlock(&ld->lock);
	atomic_store(&ld->cmd_rc, 1);
	atomic_store(&ld->cmd, 1);
	efd_signal(ld->ctl_fd);
	return 0;
}

void loop_dev_refuse_ctrl(struct loop_dev *ld, bool refuse)
{
	pthread_mutex_lock(&ld->lock);
	ld->refuse_ctrl = refuse;
	pthread_mutex_unlock(&ld->lock);
}

void loop_dev_lie_num_buffers(struct loop_dev *ld, int value)
{
	pthread_mutex_lock(&ld->lock);
	ld->lie_num_buffers = value;
	pthread_mutex_unlock(&ld->lock);
}

void loop_dev_ctrl_log(struct loop_dev *ld, struct loop_dev_ctrl_log *out)
{
	pthread_mutex_lock(&ld->lock);
	*out = ld->log;
	pthread_mutex_unlock(&ld->lock);
}

void loop_dev_counts(struct loop_dev *ld, uint64_t *frames, uint64_t *drops, uint64_t *errors)
{
	pthread_mutex_lock(&ld->lock);
	*frames = ld->frames;
	*drops = ld->drops;
	*errors = ld->errors;
	pthread_mutex_unlock(&ld->lock);
}

void loop_dev_ring_events(struct loop_dev *ld, unsigned *starts, unsigned *stops)
{
	pthread_mutex_lock(&ld->lock);
	*starts = ld->starts;
	*stops = ld->stops;
	pthread_mutex_unlock(&ld->lock);
}

uint64_t loop_dev_features(struct loop_dev *ld)
{
	uint64_t f;

	pthread_mutex_lock(&ld->lock);
	f = ld->features;
	pthread_mutex_unlock(&ld->lock);
	return f;
}
