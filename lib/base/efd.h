/* SPDX-License-Identifier: MIT */
/*
 * Eventfd signalling as vqnet uses it: one side adds 1 to wake the other;
 * the woken side reads the count back to zero before it looks for work.
 *
 * Neither call blocks on a blocking fd: the kick, call and error fds of a
 * vhost-user ring are the frontend's file descriptions, and a hostile
 * frontend may hand over blocking ones with a full counter
 * (docs/security.md).
 */
#ifndef VQNET_BASE_EFD_H
#define VQNET_BASE_EFD_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

/* Add 1 to the eventfd @fd; nothing for fd < 0. The counter is polled
 * first: a counter the peer filled to its maximum would make a blocking
 * write() wait until the peer reads (a frontend could stall a worker at
 * will), so a full counter counts as done — the fd is readable anyway.
 * Retries on EINTR. Return: 0, or -errno of write(). */
static inline int efd_signal(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	uint64_t one = 1;
	ssize_t n;

	if (fd < 0 || poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return 0;
	do
		n = write(fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	return n < 0 && errno != EAGAIN ? -errno : 0;
}

/* Make @fd (a frontend's call or error eventfd) non-blocking, so that even
 * a counter filled between efd_signal()'s poll and its write cannot block
 * us. The file description is shared with the frontend; QEMU, DPDK and
 * cloud-hypervisor create these fds non-blocking already. Return 0 or
 * -errno. */
static inline int efd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
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
