/* SPDX-License-Identifier: MIT */
/*
 * Small helpers the tests and test devices share: a monotonic clock in
 * milliseconds, sleeping, eventfd signal/drain, counting this process's
 * open fds (leak checks), one sendmsg() with fds attached. Header-only (static inline) so test
 * programs built without the harness library can use them too.
 */
#ifndef VQNET_TEST_UTIL_H
#define VQNET_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Add one to an eventfd (-1: nothing). A saturated counter (EAGAIN) still
 * wakes the reader. */
static inline void efd_signal(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the reader wakes anyway */
	}
}

/* Clear a non-blocking eventfd (EAGAIN: nothing pending). */
static inline void efd_drain(int fd)
{
	uint64_t v;

	if (fd >= 0 && read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending */
	}
}

/* Open fds of this process, or -1. */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* opendir's own fd */
}

/* The most fds sendmsg_fds() attaches: more than any protocol limit, so
 * tests and fuzz targets can send too many. */
#define SENDMSG_FDS_MAX 64

/* One sendmsg() (MSG_NOSIGNAL) of @iov[0..@niov) with @fds[0..@nfds)
 * attached as SCM_RIGHTS (none when @nfds is 0). The fds stay owned by the
 * caller. No partial-write retry: raw bytes exactly as the test wants them.
 * Return: sendmsg()'s result; -1 with errno EINVAL when @nfds is above
 * SENDMSG_FDS_MAX. */
static inline ssize_t sendmsg_fds(int sock, const struct iovec *iov, size_t niov, const int *fds,
				  unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SENDMSG_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = niov};

	if (nfds > SENDMSG_FDS_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

#endif
