/* SPDX-License-Identifier: MIT */
/*
 * Small helpers the tests and test devices share: a monotonic clock in
 * milliseconds, sleeping, eventfd signal/drain, counting this process's
 * open fds (leak checks). Header-only (static inline) so test programs
 * built without the harness library can use them too.
 */
#ifndef VQNET_TEST_UTIL_H
#define VQNET_TEST_UTIL_H

#include <dirent.h>
#include <stdint.h>
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

#endif
