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
 * a message that stalls half-way is waited for up to VU_STALL_MS.
 *
 * Sending: one sendmsg() with the header and payload in two iovecs and the
 * fds attached; short writes continue without the fds (they went with the
 * first byte). MSG_NOSIGNAL keeps a closed peer from raising SIGPIPE.
 *
 * Two ways to use a socket. vu_msg_recv()/vu_msg_send() move a whole
 * message, waiting (at most VU_STALL_MS per stall) for a slow peer: for
 * a side that waits for its answer anyway (the frontend; the backend's
 * request channel). vu_msg_recv_nb()/vu_msg_send_nb() never wait: they move
 * what the socket takes now and keep the position in a struct vu_msg_rx /
 * vu_msg_tx, so the backend's control thread, which a hostile frontend
 * could otherwise hold by stopping half-way through a message or by never
 * reading its replies, only ever waits in its own poll() (docs/security.md
 * "The control thread never waits for a frontend").
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/compiler.h"
#include "msg.h"

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

/* Wait up to VU_STALL_MS for @events on a non-blocking socket. */
static int wait_sock(int sock, short events)
{
	struct pollfd pfd = {.fd = sock, .events = events};
	int rc;

	do
		rc = poll(&pfd, 1, VU_STALL_MS);
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
 * One recvmsg() of at most @len bytes into @buf, its fds collected into @m
 * (every fd that arrives is taken, so none can leak). EINTR is retried.
 * Return: bytes read (> 0), 0 at EOF, or -errno (-EAGAIN: nothing now).
 */
static ssize_t recv_chunk(int sock, void *buf, size_t len, struct vu_msg *m)
{
	for (;;) {
		union vu_cmsg_buf ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = len};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		int rc = take_fds(&mh, m);
		return rc < 0 ? rc : n;
	}
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
		ssize_t n = recv_chunk(sock, (char *)buf + got, len - got, m);

		if (n == -EAGAIN && (started || got)) {
			int rc = wait_sock(sock, POLLIN);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return (int)n;
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

/**
 * vu_msg_recv_nb() - read what the socket holds of the next message, without
 * waiting.
 * @sock: connected non-blocking Unix stream socket
 * @rx:   the message so far (zeroed, or as the last call left it)
 *
 * Reads never cross the message's end (header first, then exactly its
 * payload), so the next message stays in the socket.
 * Return: 1 when rx->m is whole (its fds are the caller's; call
 * vu_msg_rx_reset() before the next message); 0 when the socket had no
 * more now (rx->got says whether the message has started); -ECONNRESET on
 * EOF before a message, -EPROTO on EOF inside one or a malformed one, or
 * another -errno. On error rx is reset (no fd left open).
 */
int vu_msg_recv_nb(int sock, struct vu_msg_rx *rx)
{
	const size_t hlen = sizeof(rx->m.hdr);

	for (;;) {
		size_t want = rx->got < hlen ? hlen : hlen + rx->m.hdr.size;
		if (rx->got == hlen && rx->m.hdr.size > VHOST_USER_MAX_PAYLOAD) {
			vu_msg_rx_reset(rx);
			return -EPROTO;
		}
		if (rx->got == want)
			return 1;
		uint8_t *dst = rx->got < hlen ? (uint8_t *)&rx->m.hdr + rx->got
					      : rx->m.payload.raw + (rx->got - hlen);
		ssize_t n = recv_chunk(sock, dst, want - rx->got, &rx->m);
		if (n == -EAGAIN)
			return 0;
		if (n <= 0) {
			int rc = n < 0 ? (int)n : rx->got ? -EPROTO : -ECONNRESET;
			vu_msg_rx_reset(rx);
			return rc;
		}
		rx->got += (size_t)n;
	}
}

/* Forget the message being read, closing its fds. */
void vu_msg_rx_reset(struct vu_msg_rx *rx)
{
	vu_msg_close_fds(&rx->m);
	rx->got = 0;
	memset(&rx->m.hdr, 0, sizeof(rx->m.hdr));
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

/* Attach @nfds fds to @mh through @ctl (nothing for none). */
static void attach_fds(struct msghdr *mh, union vu_cmsg_buf *ctl, const int *fds, unsigned nfds)
{
	if (!nfds)
		return;
	memset(ctl, 0, sizeof(*ctl));
	mh->msg_control = ctl->buf;
	mh->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
}

/* The not yet sent part of @m's header and payload, @sent bytes in. */
static size_t unsent_iov(const struct vu_msg *m, size_t sent, struct iovec iovs[2])
{
	struct iovec *iov = iovs;
	size_t cnt = m->hdr.size ? 2 : 1;

	iovs[0] = (struct iovec){.iov_base = (void *)&m->hdr, .iov_len = sizeof(m->hdr)};
	iovs[1] = (struct iovec){.iov_base = (void *)m->payload.raw, .iov_len = m->hdr.size};
	iov = iov_advance(iov, &cnt, sent);
	if (iov != iovs && cnt)
		iovs[0] = *iov;
	return cnt;
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
	struct iovec iovs[2];
	size_t sent = 0, total = sizeof(m->hdr) + m->hdr.size;
	struct msghdr mh = {0};

	if (m->hdr.size > VHOST_USER_MAX_PAYLOAD || m->nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	attach_fds(&mh, &ctl, m->fds, m->nfds);
	while (sent < total) {
		mh.msg_iov = iovs;
		mh.msg_iovlen = unsent_iov(m, sent, iovs);
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
		sent += (size_t)n;
	}
	return 0;
}

/**
 * vu_msg_send_nb() - write what the socket takes now of tx->m, without
 * waiting; its fds go with the first byte and are closed right after.
 * @sock: connected non-blocking Unix stream socket
 * @tx:   the message and how much of it went (tx->sent)
 *
 * Return: 1 when the whole message went (tx is reset: pending false); 0
 * when the socket is full (call again when it is writable); -EINVAL for an
 * oversized message or -errno of sendmsg() (tx is reset).
 */
int vu_msg_send_nb(int sock, struct vu_msg_tx *tx)
{
	struct vu_msg *m = &tx->m;
	size_t total = sizeof(m->hdr) + m->hdr.size;
	int rc = 0;

	if (m->hdr.size > VHOST_USER_MAX_PAYLOAD || m->nfds > VHOST_USER_MAX_FDS)
		rc = -EINVAL;
	while (!rc && tx->sent < total) {
		union vu_cmsg_buf ctl;
		struct iovec iovs[2];
		struct msghdr mh = {.msg_iov = iovs, .msg_iovlen = unsent_iov(m, tx->sent, iovs)};

		if (tx->sent == 0)
			attach_fds(&mh, &ctl, m->fds, m->nfds);
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (tx->sent == 0)
			vu_msg_close_fds(m); /* the kernel holds its own copies now */
		tx->sent += (size_t)n;
	}
	vu_msg_tx_reset(tx);
	return rc < 0 ? rc : 1;
}

/* Forget the message being sent, closing its fds if they did not go. */
void vu_msg_tx_reset(struct vu_msg_tx *tx)
{
	vu_msg_close_fds(&tx->m);
	tx->sent = 0;
	tx->pending = false;
}
