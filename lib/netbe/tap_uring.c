/* SPDX-License-Identifier: MIT */
/*
 * tap_uring: the TAP backend's transmit and receive, a burst per system
 * call.
 *
 * Theory of operation: tun takes one frame per write(), and at 64 bytes
 * the system call's own entry and exit cost about a third of the writer's
 * time (docs/performance.md "The TAP backend's transmit"). One ring per
 * queue pair queues a writev per frame and submits up to TU_DEPTH of them
 * with one io_uring_enter(), which also waits for them. Each write is
 * RWF_NOWAIT: io_uring ignores O_NONBLOCK on a file that can say "not
 * now" (tun and pipes can) and would otherwise wait for room, stalling
 * the worker; so a write that cannot go now fails with -EAGAIN, as
 * writev() does, and is dropped and counted. The kernel runs the writes
 * in order in the caller's context, and every iovec and header is free
 * again when tap_uring_tx() returns. Nothing is allocated after
 * tap_uring_new().
 *
 * Receive (tap_uring_readv()) posts reads the same way; tap.c decides how
 * many (a read that finds no frame fails with -EAGAIN, and costs little).
 *
 * Confinement: an io_uring operation is not a system call, so seccomp
 * cannot filter it. The ring is created disabled and restrictions are
 * registered before it is enabled (Linux 5.10, io_uring_register(2)
 * IORING_REGISTER_RESTRICTIONS): writev and readv only, which a worker's
 * seccomp filter allows it on any fd anyway, no SQE flags (no linked,
 * forced-async or fixed-file operations) and no further
 * io_uring_register(). A worker's filter then allows io_uring_enter and
 * nothing else of io_uring. The TAP fd is deliberately not registered: a
 * ring lets go of its registered files only when its teardown, which the
 * kernel defers, has run, and until then the queue stays attached and the
 * kernel steers frames to it that nobody reads.
 */
#include "tap_uring.h"

#include <errno.h>
#include <stdbool.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/counter.h"
#include "spec/virtio_net.h"
#include "tap_vnet_hdr.h"

#define TU_DEPTH 64   /* frames per submission: a worker's burst */
#define TU_IOV	 1024 /* iovec entries per submission (UIO_MAXIOV per frame) */

struct tap_uring {
	struct io_uring ring;
	struct tap_uring_stats stats;
	bool broken;	   /* a submission failed: writes may be left queued */
	int fd;		   /* the TAP queue (the caller's) */
	int res[TU_DEPTH]; /* the last write submission's results */
	struct virtio_net_hdr_v1 hdr[TU_DEPTH];
	struct iovec iov[TU_IOV];
};

/* io_uring_register(2) itself: Debian 12's liburing 2.3 does not export
 * its wrappers for restrictions and enabling a ring. */
static int tu_register(struct io_uring *ring, unsigned op, void *arg, unsigned n)
{
	long r = syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n);

	return r < 0 ? -errno : 0;
}

static int tu_restrict(struct io_uring *ring)
{
	struct io_uring_restriction r[3];

	memset(r, 0, sizeof(r));
	r[0].opcode = IORING_RESTRICTION_SQE_OP;
	r[0].sqe_op = IORING_OP_WRITEV;
	r[1].opcode = IORING_RESTRICTION_SQE_OP;
	r[1].sqe_op = IORING_OP_READV;
	r[2].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	r[2].sqe_flags = 0;
	return tu_register(ring, IORING_REGISTER_RESTRICTIONS, r, 3);
}

int tap_uring_new(int fd, struct tap_uring **out)
{
	struct io_uring_params p;
	struct tap_uring *u;
	int ret;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(TU_DEPTH, &u->ring, &p);
	if (ret)
		goto err_free;
	u->fd = fd;
	ret = tu_restrict(&u->ring);
	if (!ret)
		ret = tu_register(&u->ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret)
		goto err_exit;
	*out = u;
	return 0;

err_exit:
	io_uring_queue_exit(&u->ring);
err_free:
	free(u);
	return ret < 0 ? ret : -EIO;
}

void tap_uring_free(struct tap_uring *u)
{
	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	free(u);
}

/* Submit the @k queued operations (user_data 0..@k-1), wait for them and
 * put operation i's result in res[i]. A kernel that takes fewer than @k
 * (it could not allocate) leaves the rest queued in the ring, where they
 * must never run late: the ring is then given up (tap_uring_usable()) and
 * those results are @not_taken. */
static void tu_run(struct tap_uring *u, unsigned k, int *res, int not_taken)
{
	unsigned reaped = 0, taken;
	int ret;

	for (unsigned i = 0; i < k; i++)
		res[i] = not_taken;
	do {
		ret = io_uring_submit_and_wait(&u->ring, k);
	} while (ret == -EINTR);
	taken = ret < 0 ? 0 : (unsigned)ret;
	if (taken < k)
		u->broken = true;
	while (reaped < taken) {
		struct io_uring_cqe *cqe;
		int e = io_uring_wait_cqe(&u->ring, &cqe);

		if (e == -EINTR)
			continue;
		if (e < 0) {
			u->broken = true;
			break;
		}
		if (cqe->user_data < k)
			res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		reaped++;
	}
}

/* Submit the @k queued writes; count what the kernel refused, or did not
 * take (lost: an error). */
static unsigned tu_flush(struct tap_uring *u, unsigned k, struct netbe_stats *st)
{
	unsigned sent = 0;

	tu_run(u, k, u->res, -ECANCELED);
	for (unsigned i = 0; i < k; i++) {
		int r = u->res[i];

		if (r >= 0) {
			sent++;
			continue;
		}
		counter_add(&st->tx_dropped, 1);
		if (r != -EAGAIN && r != -ENOBUFS)
			counter_add(&st->tx_errors, 1);
	}
	counter_add(&u->stats.submits, 1);
	counter_add(&u->stats.frames, sent);
	return sent;
}

bool tap_uring_usable(const struct tap_uring *u)
{
	return !u->broken;
}

unsigned tap_uring_tx(struct tap_uring *u, const struct netbe_txpkt *pkts, unsigned n,
		      struct netbe_stats *st)
{
	unsigned sent = 0, k = 0, used = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct netbe_txpkt *pkt = &pkts[i];
		struct io_uring_sqe *sqe;

		if (pkt->iovcnt >= TU_IOV) {
			counter_add(&st->tx_dropped, 1);
			counter_add(&st->tx_errors, 1);
			continue;
		}
		if (k == TU_DEPTH || used + 1 + pkt->iovcnt > TU_IOV) {
			sent += tu_flush(u, k, st);
			k = used = 0;
			if (u->broken) { /* the rest of the burst is lost too */
				counter_add(&st->tx_dropped, n - i);
				counter_add(&st->tx_errors, n - i);
				return sent;
			}
		}
		tap_vnet_hdr_from_meta(&u->hdr[k], &pkt->meta);
		u->iov[used].iov_base = &u->hdr[k];
		u->iov[used].iov_len = sizeof(u->hdr[k]);
		memcpy(&u->iov[used + 1], pkt->iov, pkt->iovcnt * sizeof(*pkt->iov));
		sqe = io_uring_get_sqe(&u->ring); /* never NULL: k < TU_DEPTH */
		io_uring_prep_writev(sqe, u->fd, &u->iov[used], pkt->iovcnt + 1, 0);
		sqe->rw_flags = RWF_NOWAIT; /* see the top of this file */
		sqe->user_data = k;
		used += 1 + pkt->iovcnt;
		k++;
	}
	if (k)
		sent += tu_flush(u, k, st);
	return sent;
}

int tap_uring_readv(struct tap_uring *u, const struct iovec *iov, unsigned iovcnt, unsigned k,
		    int *res)
{
	if (k > TU_DEPTH)
		k = TU_DEPTH;
	for (unsigned i = 0; i < k; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

		io_uring_prep_readv(sqe, u->fd, iov + (size_t)i * iovcnt, iovcnt, 0);
		sqe->rw_flags = RWF_NOWAIT;
		sqe->user_data = i;
	}
	tu_run(u, k, res, -EAGAIN); /* a read not taken read nothing */
	counter_add(&u->stats.rx_submits, 1);
	return u->broken ? -EIO : (int)k;
}

void tap_uring_count_rx(struct tap_uring *u, unsigned n)
{
	counter_add(&u->stats.rx_frames, n);
}

void tap_uring_get_stats(const struct tap_uring *u, struct tap_uring_stats *out)
{
	out->submits = counter_get(&u->stats.submits);
	out->frames = counter_get(&u->stats.frames);
	out->rx_submits = counter_get(&u->stats.rx_submits);
	out->rx_frames = counter_get(&u->stats.rx_frames);
}
