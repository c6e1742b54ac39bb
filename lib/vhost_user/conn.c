/* SPDX-License-Identifier: MIT */
/*
 * vhost-user connection I/O — theory of operation
 *
 * A message on the Unix stream socket is a 12-byte header, hdr.size payload
 * bytes, and up to VHOST_USER_MAX_FDS file descriptors as SCM_RIGHTS
 * ancillary data (QEMU docs/interop/vhost-user.rst, "Message
 * Specification"; the fds travel with the first bytes of the message).
 * This file moves whole messages and does nothing else: the shape of a
 * request is checked by msg.c, its meaning by the backend.
 *
 * Receiving: every recvmsg() (header and payload alike) offers a control
 * buffer for exactly VHOST_USER_MAX_FDS fds and collects whatever fds
 * arrive into the message, so that every fd the peer sent is either handed
 * to the caller or closed here; none can leak on an error path. A header
 * announcing more than VHOST_USER_MAX_PAYLOAD bytes is refused before any
 * payload is read (the caller drops the connection, so the stream need not
 * be resynchronised). Truncated control data (MSG_CTRUNC), a control
 * message other than SCM_RIGHTS, or EOF inside a message is -EPROTO.
 * Short reads are looped over; EINTR is retried; on a non-blocking socket
 * a message that stalls half-way is waited for up to VU_MSG_STALL_MS.
 *
 * Sending: one sendmsg() with the header and payload in two iovecs and the
 * fds attached; short writes continue without the fds (they went with the
 * first byte). MSG_NOSIGNAL keeps a closed peer from raising SIGPIPE.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/compiler.h"
#include "msg.h"

/* How long a half-received or half-sent message may stall (non-blocking
 * sockets only; a blocking socket waits in the kernel). */
#define VU_MSG_STALL_MS 5000

/* Control buffer for exactly VHOST_USER_MAX_FDS fds, aligned for cmsghdr. */
union vu_cmsg_buf {
	char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct cmsghdr align;
};

/**
 * vu_msg_close_fds() - close every fd the message holds.
 * @m: message; nfds is 0 afterwards
 */
void vu_msg_close_fds(struct vu_msg *m)
{
	unsigned n = m->nfds < VHOST_USER_MAX_FDS ? m->nfds : VHOST_USER_MAX_FDS;

	for (unsigned i = 0; i < n; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

/* Wait up to VU_MSG_STALL_MS for @events on a non-blocking socket. */
static int wait_sock(int sock, short events)
{
	struct pollfd pfd = {.fd = sock, .events = events};
	int rc;

	do
		rc = poll(&pfd, 1, VU_MSG_STALL_MS);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

/*
 * Move the fds of every control message into @m. Anything but SCM_RIGHTS,
 * or more fds than the message holds, is an error; the fds are still taken
 * (the surplus closed at once) so the caller's cleanup closes them all.
 */
static int take_fds(struct msghdr *mh, struct vu_msg *m)
{
	int rc = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			rc = -EPROTO;
			continue;
		}
		size_t n =
			c->cmsg_len > CMSG_LEN(0) ? (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;
		const unsigned char *data = CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, data + i * sizeof(int), sizeof(fd));
			if (m->nfds < VHOST_USER_MAX_FDS) {
				m->fds[m->nfds++] = fd;
			} else {
				close(fd);
				rc = -EPROTO;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		rc = -EPROTO;
	return rc;
}

/*
 * Read exactly @len bytes into @buf, collecting fds into @m. @started says
 * whether bytes of this message were read before (then EOF is -EPROTO, not
 * -ECONNRESET). Return 0 or -errno.
 */
static int recv_full(int sock, void *buf, size_t len, bool started, struct vu_msg *m)
{
	size_t got = 0;

	while (got < len) {
		union vu_cmsg_buf ctl;
		struct iovec iov = {.iov_base = (char *)buf + got, .iov_len = len - got};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && (started || got)) {
			int rc = wait_sock(sock, POLLIN);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		int rc = take_fds(&mh, m);
		if (rc < 0)
			return rc;
		if (n == 0)
			return (started || got) ? -EPROTO : -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

/**
 * vu_msg_recv() - read one whole message with its fds.
 * @sock: connected Unix stream socket
 * @m:    filled in; m->fds/nfds own the received fds on success
 *
 * Return: 0; -ECONNRESET on EOF before the first header byte; -EPROTO on a
 * malformed message; another -errno (-EAGAIN when a non-blocking socket
 * has nothing to read). On error no fd is left open and m->nfds is 0.
 */
int vu_msg_recv(int sock, struct vu_msg *m)
{
	int rc;

	m->nfds = 0;
	memset(&m->hdr, 0, sizeof(m->hdr));
	rc = recv_full(sock, &m->hdr, sizeof(m->hdr), false, m);
	if (rc == 0 && m->hdr.size > VHOST_USER_MAX_PAYLOAD)
		rc = -EPROTO;
	if (rc == 0 && m->hdr.size)
		rc = recv_full(sock, m->payload.raw, m->hdr.size, true, m);
	if (rc < 0)
		vu_msg_close_fds(m);
	return rc;
}

/* Skip @n sent bytes in the iovec array; return the new first iovec. */
static struct iovec *iov_advance(struct iovec *iov, size_t *cnt, size_t n)
{
	while (*cnt && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt) {
		iov->iov_base = (char *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	return iov;
}

/**
 * vu_msg_send() - write a whole message, its fds with the first byte.
 * @sock: connected Unix stream socket
 * @m:    message; header size and nfds must be within the protocol limits
 *
 * The fds stay owned by the caller (the kernel duplicates them).
 * Return: 0, -EINVAL for an oversized message, or -errno from sendmsg().
 */
int vu_msg_send(int sock, const struct vu_msg *m)
{
	union vu_cmsg_buf ctl;
	struct iovec iovs[2] = {
		{.iov_base = (void *)&m->hdr, .iov_len = sizeof(m->hdr)},
		{.iov_base = (void *)m->payload.raw, .iov_len = m->hdr.size},
	};
	struct iovec *iov = iovs;
	size_t cnt = m->hdr.size ? 2 : 1;
	struct msghdr mh = {0};

	if (m->hdr.size > VHOST_USER_MAX_PAYLOAD || m->nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	if (m->nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
	}
	while (cnt) {
		mh.msg_iov = iov;
		mh.msg_iovlen = cnt;
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_sock(sock, POLLOUT);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		/* The fds went with the first byte; never send them twice. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		iov = iov_advance(iov, &cnt, (size_t)n);
	}
	return 0;
}
