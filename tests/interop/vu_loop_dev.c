/* SPDX-License-Identifier: MIT */
/*
 * vu-loop-dev: a TEST-ONLY loopback virtio-net device behind vqnet's
 * vhost-user backend, for interop tests against real frontends (DPDK's
 * virtio-user PMD). Not a network device: every frame the driver transmits
 * is handed straight back to it on its receive queue.
 *
 *   vu-loop-dev --socket PATH [--packed-ok] [--seconds N]
 *
 * Queues (virtio-net, one pair): 0 = receiveq (the device writes),
 * 1 = transmitq (the device reads). One worker thread polls both rings:
 * for each transmit chain (12-byte virtio_net_hdr_v1 + frame) it pops one
 * receive chain, copies the bytes over, rewrites the header (no offloads,
 * num_buffers = 1) and completes both. No receive buffer: the frame is
 * dropped and counted.
 *
 * The control thread (main) runs poll(vu_backend_fd) + vu_backend_dispatch.
 * Every callback that changes what the worker may touch (queue start/stop,
 * enable, call fd) first parks the worker with a handshake (pause_worker)
 * and lets it go afterwards, so queue_stop returns only when the worker no
 * longer uses the ring.
 *
 * Output (stdout, one line each): the negotiated features, the format of
 * each started ring, and at exit (SIGINT/SIGTERM or --seconds) the counts:
 *   vu-loop-dev: frames=N drops=N errors=N
 * Exit status 0 when no error was counted.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "base/iov.h"

#define F(bit) (1ull << (bit))

#define VIRTIO_NET_F_MAC    5
#define VIRTIO_NET_F_STATUS 16

#define RXQ	      0u
#define TXQ	      1u
#define NUM_QUEUES    2u
#define CONFIG_SIZE   8u /* mac[6], status (le16) */
#define NET_HDR_LEN   12u
#define BURST	      32u
#define IOV_CAP	      64u
#define IDLE_SPINS    64u /* empty polls before the worker starts sleeping */
#define IDLE_SLEEP_US 20u

struct loop_q {
	struct vq *vq; /* NULL while stopped */
	int kick_fd;
	int call_fd;
	bool enabled;
};

struct loop_dev {
	struct loop_q q[NUM_QUEUES];
	uint8_t config[CONFIG_SIZE];
	/* worker handshake */
	atomic_bool pause_req, paused, quit;
	pthread_t worker;
	/* written by the worker only; read after it was joined */
	uint64_t frames, drops, errors;
	unsigned starts, stops; /* control thread */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = {0, (long)us * 1000L};

	nanosleep(&ts, NULL);
}

static void efd_signal(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the driver wakes anyway */
	}
}

/* Clear a kick eventfd without blocking (the fd may be in blocking mode:
 * it is the frontend's file description, so its flags are left alone). */
static void efd_drain(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v;

	if (fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: someone else drained it */
	}
}

/* ------------------------------------------------------------------------
 * Worker handshake: the control thread parks the worker before it changes
 * queue state, so nothing it frees is in use.
 * ------------------------------------------------------------------------ */

static void pause_worker(struct loop_dev *d)
{
	atomic_store(&d->pause_req, true);
	while (!atomic_load(&d->paused))
		sleep_us(10);
}

static void resume_worker(struct loop_dev *d)
{
	atomic_store(&d->pause_req, false);
	while (atomic_load(&d->paused))
		sleep_us(10);
}

/* ------------------------------------------------------------------------
 * The data path
 * ------------------------------------------------------------------------ */

/* Copy the readable bytes of @tx into the writable part of @rx. Return the
 * bytes copied, or -1 when they do not fit. */
static int64_t copy_chain(const struct vq_elem *tx, const struct vq_elem *rx)
{
	if (tx->out_len > rx->in_len)
		return -1;
	return (int64_t)iov_copy(rx->iov + rx->nout, rx->nin, 0, tx->iov, tx->nout, 0, tx->out_len);
}

/* Write @len bytes at offset 0 of the writable iovecs of @e. */
static void write_at_start(const struct vq_elem *e, const uint8_t *src, size_t len)
{
	iov_from_buf(e->iov + e->nout, e->nin, 0, src, len);
}

/* One pass over the transmit queue. Return the number of chains handled. */
static unsigned loop_once(struct loop_dev *d)
{
	struct loop_q *rxq = &d->q[RXQ], *txq = &d->q[TXQ];
	/* virtio_net_hdr_v1: no flags, no GSO, num_buffers = 1 (le16) */
	static const uint8_t rx_hdr[NET_HDR_LEN] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	struct iovec tiov[IOV_CAP], riov[IOV_CAP];
	struct vq_elem te = {.iov = tiov, .iov_cap = IOV_CAP};
	struct vq_elem re = {.iov = riov, .iov_cap = IOV_CAP};
	unsigned n, rx_pushed = 0;

	if (!rxq->vq || !txq->vq || !rxq->enabled || !txq->enabled)
		return 0;
	/* A broken ring stays broken (it was counted once, when it broke). */
	if (vq_is_broken(rxq->vq) || vq_is_broken(txq->vq))
		return 0;
	for (n = 0; n < BURST; n++) {
		int rc = vq_pop(txq->vq, &te), rrc;
		int64_t len;

		if (rc == 0)
			break;
		if (rc < 0 && !vq_err_is_drop(rc)) {
			fprintf(stderr, "vu-loop-dev: transmitq broken: %s\n", vq_strerror(rc));
			d->errors++;
			break;
		}
		if (rc < 0 || te.out_len < NET_HDR_LEN) {
			d->errors++;
			goto complete_tx;
		}
		rrc = vq_pop(rxq->vq, &re);
		if (rrc == 0) {
			d->drops++; /* no receive buffer */
			goto complete_tx;
		}
		if (rrc < 0 && !vq_err_is_drop(rrc)) {
			fprintf(stderr, "vu-loop-dev: receiveq broken: %s\n", vq_strerror(rrc));
			d->errors++;
			goto complete_tx;
		}
		len = rrc < 0 ? -1 : copy_chain(&te, &re);
		if (len < 0) {
			d->errors++;
			len = 0;
		} else {
			write_at_start(&re, rx_hdr, NET_HDR_LEN);
			d->frames++;
		}
		if (vq_push(rxq->vq, re.id, (uint32_t)len) < 0)
			d->errors++;
		rx_pushed++;
	complete_tx:
		if (vq_push(txq->vq, te.id, 0) < 0)
			d->errors++;
	}
	if (rx_pushed && vq_should_notify(rxq->vq))
		efd_signal(rxq->call_fd);
	if (n && vq_should_notify(txq->vq))
		efd_signal(txq->call_fd);
	return n;
}

static void *worker_main(void *p)
{
	struct loop_dev *d = p;
	unsigned idle = 0;

	while (!atomic_load(&d->quit)) {
		if (atomic_load(&d->pause_req)) {
			atomic_store(&d->paused, true);
			while (atomic_load(&d->pause_req) && !atomic_load(&d->quit))
				sleep_us(10);
			atomic_store(&d->paused, false);
			continue;
		}
		if (loop_once(d)) {
			idle = 0;
			continue;
		}
		/* Nothing to do: clear pending kicks (the rings are polled, so
		 * a kick carries no information), then back off a little. */
		for (unsigned i = 0; i < NUM_QUEUES; i++)
			if (d->q[i].vq)
				efd_drain(d->q[i].kick_fd);
		if (!d->q[RXQ].vq || !d->q[TXQ].vq)
			sleep_us(1000); /* no frontend (yet) */
		else if (++idle > IDLE_SPINS)
			sleep_us(IDLE_SLEEP_US);
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Device callbacks (control thread)
 * ------------------------------------------------------------------------ */

static int dev_set_features(void *opaque, uint64_t features)
{
	(void)opaque;
	printf("vu-loop-dev: features 0x%016" PRIx64 "%s%s%s%s\n", features,
	       vq_has_feature(features, VIRTIO_F_RING_PACKED) ? " RING_PACKED" : "",
	       vq_has_feature(features, VIRTIO_F_EVENT_IDX) ? " EVENT_IDX" : "",
	       vq_has_feature(features, VIRTIO_F_IN_ORDER) ? " IN_ORDER" : "",
	       vq_has_feature(features, VIRTIO_NET_F_MAC) ? " MAC" : "");
	return 0;
}

static int dev_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct loop_dev *d = opaque;

	if (offset > CONFIG_SIZE || len > CONFIG_SIZE - offset)
		return -EINVAL;
	memcpy(buf, d->config + offset, len);
	return 0;
}

static int dev_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct loop_dev *d = opaque;
	struct vq_state st;

	if (vr->index >= NUM_QUEUES)
		return -EINVAL;
	pause_worker(d);
	d->q[vr->index] = (struct loop_q){.vq = vr->vq,
					  .kick_fd = vr->kick_fd,
					  .call_fd = vr->call_fd,
					  .enabled = vr->enabled};
	/* The rings are polled: ask the driver not to kick. */
	vq_disable_kicks(vr->vq);
	resume_worker(d);
	d->starts++;
	vq_get_state(vr->vq, &st);
	printf("vu-loop-dev: queue %u started: %s ring, size %u, avail %u wrap %d, used %u wrap "
	       "%d%s\n",
	       vr->index, vq_get_format(vr->vq) == VQ_FORMAT_PACKED ? "packed" : "split",
	       vq_get_size(vr->vq), st.avail_idx, st.avail_wrap, st.used_idx, st.used_wrap,
	       vr->enabled ? ", enabled" : "");
	return 0;
}

static void dev_queue_stop(void *opaque, unsigned index)
{
	struct loop_dev *d = opaque;

	if (index >= NUM_QUEUES || !d->q[index].vq)
		return;
	pause_worker(d);
	d->q[index] = (struct loop_q){.vq = NULL, .kick_fd = -1, .call_fd = -1};
	resume_worker(d);
	d->stops++;
	printf("vu-loop-dev: queue %u stopped\n", index);
}

static void dev_queue_enable(void *opaque, unsigned index, bool enabled)
{
	struct loop_dev *d = opaque;

	if (index >= NUM_QUEUES)
		return;
	pause_worker(d);
	d->q[index].enabled = enabled;
	resume_worker(d);
}

static void dev_queue_call_fd(void *opaque, unsigned index, int call_fd)
{
	struct loop_dev *d = opaque;

	if (index >= NUM_QUEUES)
		return;
	pause_worker(d);
	d->q[index].call_fd = call_fd;
	resume_worker(d);
}

static const struct vu_device_ops loop_ops = {
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_enable = dev_queue_enable,
	.queue_call_fd = dev_queue_call_fd,
};

/* ------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: vu-loop-dev --socket PATH [--packed-ok] [--seconds N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct loop_dev dev;
	const char *path = NULL;
	bool packed_ok = false;
	long seconds = 0;
	struct vu_backend *b;
	struct sigaction sa;
	struct timespec start;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--packed-ok"))
			packed_ok = true;
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtol(argv[++i], NULL, 10);
		else
			usage();
	}
	if (!path)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* MAC 02:00:00:00:00:01 (locally administered), status = link up */
	memcpy(dev.config, (const uint8_t[CONFIG_SIZE]){2, 0, 0, 0, 0, 1, 1, 0}, CONFIG_SIZE);
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		dev.q[i] = (struct loop_q){.vq = NULL, .kick_fd = -1, .call_fd = -1};

	struct vu_backend_config cfg = {
		.socket_path = path,
		.num_queues = NUM_QUEUES,
		.device_features = F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |
				   F(VIRTIO_F_IN_ORDER) | F(VIRTIO_NET_F_MAC) |
				   F(VIRTIO_NET_F_STATUS) |
				   (packed_ok ? F(VIRTIO_F_RING_PACKED) : 0),
		.config_size = CONFIG_SIZE,
	};
	rc = pthread_create(&dev.worker, NULL, worker_main, &dev);
	if (rc) {
		fprintf(stderr, "vu-loop-dev: pthread_create: %s\n", strerror(rc));
		return 1;
	}
	rc = vu_backend_new(&cfg, &loop_ops, &dev, &b);
	if (rc < 0) {
		fprintf(stderr, "vu-loop-dev: vu_backend_new(%s): %s\n", path, strerror(-rc));
		atomic_store(&dev.quit, true);
		pthread_join(dev.worker, NULL);
		return 1;
	}
	printf("vu-loop-dev: listening on %s%s\n", path, packed_ok ? " (packed offered)" : "");

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!got_signal) {
		struct pollfd p = {.fd = vu_backend_fd(b), .events = POLLIN};
		struct timespec now;

		if (seconds > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec >= seconds)
				break;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		rc = vu_backend_dispatch(b);
		if (rc < 0 && rc != -EAGAIN)
			printf("vu-loop-dev: frontend gone (%s)\n", strerror(-rc));
	}

	vu_backend_free(b); /* stops the rings: the worker is parked for it */
	atomic_store(&dev.quit, true);
	pthread_join(dev.worker, NULL);
	printf("vu-loop-dev: frames=%" PRIu64 " drops=%" PRIu64 " errors=%" PRIu64
	       " starts=%u stops=%u\n",
	       dev.frames, dev.drops, dev.errors, dev.starts, dev.stops);
	return dev.errors ? 1 : 0;
}
