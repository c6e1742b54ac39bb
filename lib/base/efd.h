/* SPDX-License-Identifier: MIT */
/*
 * Eventfd signalling as vqnet uses it: one side adds 1 to wake the other;
 * the woken side reads the count back to zero before it looks for work.
 *
 * Neither call ever blocks, whatever the fd's mode: the kick and call fds
 * of a vhost-user ring are the frontend's file descriptions, which may be
 * blocking and whose flags are not ours to change.
 */
#ifndef VQNET_BASE_EFD_H
#define VQNET_BASE_EFD_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

/* Add 1 to the eventfd @fd; nothing for fd < 0. Retries on EINTR. A
 * saturated counter (EAGAIN) counts as done: the fd is readable anyway.
 * Return: 0, or -errno of write(). */
static inline int efd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	if (fd < 0)
		return 0;
	do
		n = write(fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	return n < 0 && errno != EAGAIN ? -errno : 0;
}

/* Reset the eventfd @fd's count to zero if it is readable (polled first,
 * so a blocking fd never blocks); nothing for fd < 0. Retries the read on
 * EINTR. Return: 1 when a count was read, 0 when none was pending, or
 * -errno of read(). */
static inline int efd_drain(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v;
	ssize_t n;

	if (fd < 0 || poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
		return 0;
	do
		n = read(fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n == (ssize_t)sizeof(v);
}

#endif
