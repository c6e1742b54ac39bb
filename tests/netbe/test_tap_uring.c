/* SPDX-License-Identifier: MIT */
/*
 * The TAP backend's batched transmit and receive (lib/netbe/tap_uring.c)
 * on a SOCK_SEQPACKET socket pair, which needs no privilege and keeps
 * each write one message, as a TAP keeps a frame: what the peer reads
 * shows each frame's header and pieces in order, and reads through the
 * ring get one message each. The ring's restrictions are checked from
 * the inside (this file includes the unit to reach the ring): every
 * operation but a plain writev or readv, and every io_uring_register(),
 * is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "netbe/tap_uring.c" /* the unit itself: its ring is reached */

#define FRAMES 100
#define HDR    sizeof(struct virtio_net_hdr_v1)

static uint8_t frame_data[FRAMES][200];
static struct iovec frame_iov[FRAMES][3];
static struct netbe_txpkt pkts[FRAMES];

/* Frame i: 60 + i bytes in 1 + i % 3 pieces, bytes (i + k) & 0xff, and a
 * checksum request whose csum_start is i (seen in its vnet header). */
static void make_frames(void)
{
	for (unsigned i = 0; i < FRAMES; i++) {
		uint32_t len = 60 + i, pieces = 1 + i % 3, at = 0;

		for (uint32_t k = 0; k < len; k++)
			frame_data[i][k] = (uint8_t)(i + k);
		for (uint32_t p = 0; p < pieces; p++) {
			uint32_t n = p + 1 < pieces ? len / pieces : len - at;

			frame_iov[i][p] = (struct iovec){frame_data[i] + at, n};
			at += n;
		}
		pkts[i] = (struct netbe_txpkt){.iov = frame_iov[i], .iovcnt = pieces, .len = len};
		pkts[i].meta.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		pkts[i].meta.csum_start = (uint16_t)i;
		pkts[i].meta.csum_offset = 6;
	}
}

/* p[1] is the ring's (the TAP's) end, p[0] the peer's. */
static int open_pipe(int p[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p))
		return -errno;
	return 0;
}

/* Read back frame i (header, then its bytes) from the pipe. */
static void expect_frame(int rfd, unsigned i)
{
	uint8_t buf[HDR + 200];
	struct virtio_net_hdr_v1 h;
	size_t want = HDR + 60 + i;

	assert_int_equal(read(rfd, buf, want), (ssize_t)want);
	memcpy(&h, buf, HDR);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(le16toh(h.csum_start), i);
	assert_int_equal(le16toh(h.csum_offset), 6);
	assert_memory_equal(buf + HDR, frame_data[i], 60 + i);
}

/* 100 frames in one call: two submissions (64 + 36), every frame in
 * order, nothing counted. */
static void test_burst(void **state)
{
	struct netbe_stats st = {0};
	struct tap_uring_stats us;
	struct tap_uring *u;
	int p[2];

	(void)state;
	make_frames();
	assert_int_equal(open_pipe(p), 0);
	assert_int_equal(tap_uring_new(p[1], &u), 0);
	assert_int_equal(tap_uring_tx(u, pkts, FRAMES, &st), FRAMES);
	for (unsigned i = 0; i < FRAMES; i++)
		expect_frame(p[0], i);
	tap_uring_get_stats(u, &us);
	assert_int_equal(us.submits, 2);
	assert_int_equal(us.frames, FRAMES);
	assert_int_equal(st.tx_dropped + st.tx_errors, 0);
	assert_true(tap_uring_usable(u));
	tap_uring_free(u);
	close(p[0]);
	close(p[1]);
}

/* A frame of 1024 pieces (more than a writev takes with its header) is
 * dropped and counted as an error; its neighbours go out. A frame the fd
 * refuses (-EAGAIN: the pipe is full) is dropped, not an error. */
static void test_refusals(void **state)
{
	static struct iovec many[1024];
	struct netbe_txpkt three[3];
	struct netbe_stats st = {0};
	struct tap_uring *u;
	uint8_t junk[4096];
	int p[2];

	(void)state;
	make_frames();
	for (unsigned k = 0; k < 1024; k++)
		many[k] = (struct iovec){frame_data[0], 1};
	three[0] = pkts[0];
	three[1] = (struct netbe_txpkt){.iov = many, .iovcnt = 1024, .len = 1024};
	three[2] = pkts[2];
	assert_int_equal(open_pipe(p), 0);
	assert_int_equal(tap_uring_new(p[1], &u), 0);
	assert_int_equal(tap_uring_tx(u, three, 3, &st), 2);
	assert_int_equal(st.tx_dropped, 1);
	assert_int_equal(st.tx_errors, 1);
	expect_frame(p[0], 0);
	expect_frame(p[0], 2);

	memset(junk, 0, sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(tap_uring_tx(u, pkts, 4, &st), 0);
	assert_int_equal(st.tx_dropped, 5);
	assert_int_equal(st.tx_errors, 1);
	assert_true(tap_uring_usable(u));
	tap_uring_free(u);
	close(p[0]);
	close(p[1]);
}

/* Submit the one prepared SQE and return its completion's result. */
static int submit_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		return ret;
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* The ring does a plain writev or readv and nothing else: no openat, no
 * connect, no SQE flags (a fixed file, a forced async or linked
 * operation), and it takes no registration (of a file, or new
 * restrictions). */
static void test_restricted(void **state)
{
	struct tap_uring *u;
	struct io_uring_sqe *sqe;
	uint8_t buf[64];
	struct iovec iov = {buf, sizeof(buf)};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int p[2];

	(void)state;
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(open_pipe(p), 0);
	assert_int_equal(tap_uring_new(p[1], &u), 0);

	sqe = io_uring_get_sqe(&u->ring);
	io_uring_prep_writev(sqe, p[1], &iov, 1, 0);
	assert_int_equal(submit_one(&u->ring), (int)sizeof(buf));

	sqe = io_uring_get_sqe(&u->ring);
	io_uring_prep_writev(sqe, 0, &iov, 1, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(submit_one(&u->ring), -EACCES);

	sqe = io_uring_get_sqe(&u->ring);
	io_uring_prep_readv(sqe, p[1], &iov, 1, 0);
	sqe->flags |= IOSQE_ASYNC;
	assert_int_equal(submit_one(&u->ring), -EACCES);

	sqe = io_uring_get_sqe(&u->ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	assert_int_equal(submit_one(&u->ring), -EACCES);

	sqe = io_uring_get_sqe(&u->ring);
	io_uring_prep_connect(sqe, p[1], (struct sockaddr *)&sa, sizeof(sa));
	assert_int_equal(submit_one(&u->ring), -EACCES);

	assert_int_equal(io_uring_register_files(&u->ring, &p[0], 1), -EACCES);
	assert_int_equal(tu_restrict(&u->ring), -EACCES);
	/* only the first writev reached the peer */
	assert_int_equal(read(p[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(read(p[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);

	tap_uring_free(u);
	close(p[0]);
	close(p[1]);
}

/* Reads: 5 posted, 3 messages there: three lengths in order, then
 * -EAGAIN twice (RWF_NOWAIT: the ring does not wait for more). */
static void test_readv(void **state)
{
	uint8_t msg[3][80], got[5][100];
	struct iovec iov[5];
	int res[5], p[2];
	struct tap_uring_stats us;
	struct tap_uring *u;

	(void)state;
	assert_int_equal(open_pipe(p), 0);
	assert_int_equal(tap_uring_new(p[1], &u), 0);
	for (unsigned i = 0; i < 3; i++) {
		memset(msg[i], 'a' + (int)i, sizeof(msg[i]));
		assert_int_equal(write(p[0], msg[i], 60 + 10 * i), (ssize_t)(60 + 10 * i));
	}
	for (unsigned i = 0; i < 5; i++)
		iov[i] = (struct iovec){got[i], sizeof(got[i])};
	assert_int_equal(tap_uring_readv(u, iov, 1, 5, res), 5);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(res[i], 60 + 10 * i);
		assert_memory_equal(got[i], msg[i], (size_t)res[i]);
	}
	assert_int_equal(res[3], -EAGAIN);
	assert_int_equal(res[4], -EAGAIN);
	tap_uring_count_rx(u, 3);
	tap_uring_get_stats(u, &us);
	assert_int_equal(us.rx_submits, 1);
	assert_int_equal(us.rx_frames, 3);
	assert_int_equal(us.submits, 0);
	tap_uring_free(u);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_restricted),
		cmocka_unit_test(test_readv),
	};
	struct tap_uring *u;
	int p[2];

	/* A kernel (or a container) without io_uring: the backend falls
	 * back to writev (test_netbe_tap covers that path); skip. */
	if (open_pipe(p) == 0) {
		int ret = tap_uring_new(p[1], &u);

		close(p[0]);
		close(p[1]);
		if (ret) {
			printf("tap_uring: io_uring unavailable (%s); skipped\n", strerror(-ret));
			return 77;
		}
		tap_uring_free(u);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
