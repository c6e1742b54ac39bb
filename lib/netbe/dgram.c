/* SPDX-License-Identifier: MIT */
/*
 * dgram: each frame is one UDP datagram to a peer.
 *
 * Theory of operation: one nonblocking UDP socket, bound to LADDR:LPORT and
 * connected to RADDR:RPORT (IPv4, or IPv6 written as [ADDR]; numeric
 * addresses only, a library does no name lookups). Connecting makes the
 * kernel drop datagrams from anyone else; what arrived between bind() and
 * connect() is flushed at open.
 *
 * All queue pairs share the socket. tx() works from any pair: each pair
 * has its own mmsghdr array, and sendmmsg() on one socket is thread safe.
 * rx() happens only on queue pair 0: the other pairs' rx() return 0 and
 * their rx_fd() is an eventfd that is never signalled, so the device's
 * other workers sleep. (Spreading one socket's datagrams over pairs would
 * need SO_REUSEPORT sockets per pair; one is enough for a test link.)
 *
 * caps() is 0: the device finishes checksums and segments GSO frames
 * before tx(), and a datagram carries no metadata, so every received
 * frame is complete. A datagram larger than its buffer is truncated by the
 * kernel (MSG_TRUNC) and dropped (rx_dropped); one shorter than an
 * Ethernet header counts in rx_errors.
 *
 * Counting on tx: every frame not sent is in tx_dropped; those that failed
 * for another reason than a full socket buffer (EAGAIN, ENOBUFS) are also
 * in tx_errors (e.g. ECONNREFUSED after the peer's port was closed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netbe_internal.h"
#include "spec/ethernet.h"

#define DGRAM_BATCH   64u /* frames per sendmmsg()/recvmmsg() */
#define DGRAM_SOCKBUF (4u << 20)

struct dgram_pair {
	struct netbe_stats stats;	  /* written by the pair's worker */
	struct mmsghdr msgs[DGRAM_BATCH]; /* the pair's worker */
	struct iovec rx_iov[DGRAM_BATCH]; /* pair 0's worker */
} __attribute__((aligned(64)));

struct dgram {
	struct netbe be;
	int sock;
	int quiet_fd; /* never signalled: rx_fd of pairs 1.. */
	struct dgram_pair *pairs;
};

static struct dgram *to_dgram(struct netbe *be)
{
	return be->priv;
}

/* Parse one "ADDR:PORT" or "[ADDR6]:PORT" endpoint of @len bytes at @s.
 * Return 0, or -EINVAL with a reason naming @which. */
static int dgram_parse_ep(const char *s, size_t len, const char *which, struct sockaddr_storage *ss,
			  socklen_t *sl, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8], *addr, *port, *end;
	unsigned long pnum;

	memset(ss, 0, sizeof(*ss)); /* never left unset, whatever the outcome */
	if (len == 0 || len >= sizeof(buf))
		return netbe_set_err(err, errlen, -EINVAL, "dgram: bad %s address '%.*s'", which,
				     (int)(len > 64 ? 64 : len), s);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '[') {
		end = strchr(buf, ']');
		if (!end || end[1] != ':')
			return netbe_set_err(err, errlen, -EINVAL,
					     "dgram: bad %s address '%s' (want [ADDR6]:PORT)",
					     which, buf);
		addr = buf + 1;
		*end = '\0';
		port = end + 2;
	} else {
		port = strrchr(buf, ':');
		if (!port)
			return netbe_set_err(err, errlen, -EINVAL,
					     "dgram: %s address '%s' has no port (want ADDR:PORT)",
					     which, buf);
		*port++ = '\0';
		addr = buf;
	}
	errno = 0;
	pnum = strtoul(port, &end, 10);
	if (!*port || *end || errno || pnum > 65535 || *port < '0' || *port > '9')
		return netbe_set_err(err, errlen, -EINVAL, "dgram: bad %s port '%s'", which, port);
	if (buf[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
			return netbe_set_err(err, errlen, -EINVAL,
					     "dgram: bad %s IPv4 address '%s' (IPv6: [ADDR])",
					     which, addr);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)pnum);
		*sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
			return netbe_set_err(err, errlen, -EINVAL,
					     "dgram: bad %s IPv6 address '%s'", which, addr);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)pnum);
		*sl = sizeof(*in6);
	}
	return 0;
}

static uint32_t dgram_caps(struct netbe *be)
{
	(void)be;
	return 0;
}

static int dgram_set_queue_pairs(struct netbe *be, unsigned n)
{
	return n >= 1 && n <= be->max_queue_pairs ? 0 : -EINVAL;
}

static int dgram_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	(void)be;
	return caps ? -EINVAL : 0;
}

static bool dgram_full(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS;
}

static int dgram_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct dgram *d = to_dgram(be);
	struct dgram_pair *p;
	unsigned done = 0, sent = 0;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	p = &d->pairs[q];
	while (done < n) {
		unsigned batch = n - done < DGRAM_BATCH ? n - done : DGRAM_BATCH;
		int r;

		for (unsigned i = 0; i < batch; i++) {
			struct msghdr *m = &p->msgs[i].msg_hdr;

			memset(m, 0, sizeof(*m));
			/* sendmmsg() does not write the iovecs. */
			m->msg_iov = (struct iovec *)pkts[done + i].iov;
			m->msg_iovlen = pkts[done + i].iovcnt;
		}
		r = sendmmsg(d->sock, p->msgs, batch, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			done += (unsigned)r;
			sent += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 || dgram_full(errno)) {
			/* The socket buffer is full: the rest would fail too. */
			counter_add(&p->stats.tx_dropped, n - done);
			break;
		}
		/* This frame failed on its own (ECONNREFUSED, EMSGSIZE...). */
		counter_add(&p->stats.tx_dropped, 1);
		counter_add(&p->stats.tx_errors, 1);
		done++;
	}
	return (int)sent;
}

/* Receive up to @n datagrams into @bufs (pair 0). A truncated or runt
 * datagram gives its buffer to the next one: later datagrams of the same
 * recvmmsg() are moved down (buffers of one rx() call have the same cap
 * in practice; one that does not fit the earlier buffer is dropped). */
static int dgram_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	struct dgram *d = to_dgram(be);
	struct dgram_pair *p;
	unsigned filled = 0;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	if (q != 0)
		return 0;
	p = &d->pairs[0];
	while (filled < n) {
		unsigned batch = n - filled < DGRAM_BATCH ? n - filled : DGRAM_BATCH;
		unsigned out = filled;
		int r;

		for (unsigned i = 0; i < batch; i++) {
			struct msghdr *m = &p->msgs[i].msg_hdr;

			p->rx_iov[i].iov_base = bufs[filled + i].data;
			p->rx_iov[i].iov_len = bufs[filled + i].cap;
			memset(m, 0, sizeof(*m));
			m->msg_iov = &p->rx_iov[i];
			m->msg_iovlen = 1;
		}
		r = recvmmsg(d->sock, p->msgs, batch, MSG_DONTWAIT, NULL);
		if (r < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue; /* ICMP from the peer: nothing to read */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			counter_add(&p->stats.rx_errors, 1);
			break;
		}
		for (unsigned i = 0; i < (unsigned)r; i++) {
			const struct mmsghdr *mm = &p->msgs[i];
			struct netbe_rxbuf *src = &bufs[filled + i], *dst = &bufs[out];

			if (mm->msg_hdr.msg_flags & MSG_TRUNC) {
				counter_add(&p->stats.rx_dropped, 1);
				continue;
			}
			if (mm->msg_len < ETH_HDR_LEN) {
				counter_add(&p->stats.rx_errors, 1);
				continue;
			}
			if (dst != src) {
				if (mm->msg_len > dst->cap) {
					counter_add(&p->stats.rx_dropped, 1);
					continue;
				}
				memcpy(dst->data, src->data, mm->msg_len);
			}
			dst->len = mm->msg_len;
			memset(&dst->meta, 0, sizeof(dst->meta));
			out++;
		}
		filled = out;
		if ((unsigned)r < batch)
			break;
	}
	return (int)filled;
}

static int dgram_rx_fd(struct netbe *be, unsigned q)
{
	struct dgram *d = to_dgram(be);

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	return q == 0 ? d->sock : d->quiet_fd;
}

static void dgram_get_stats(struct netbe *be, unsigned q, struct netbe_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (q < be->max_queue_pairs)
		netbe_stats_copy(out, &to_dgram(be)->pairs[q].stats);
}

static void dgram_free(struct netbe *be)
{
	struct dgram *d = to_dgram(be);

	if (d->sock >= 0)
		close(d->sock);
	if (d->quiet_fd >= 0)
		close(d->quiet_fd);
	free(d->pairs);
	free(d);
}

static const struct netbe_ops dgram_ops = {
	.name = "dgram",
	.caps = dgram_caps,
	.set_queue_pairs = dgram_set_queue_pairs,
	.set_rx_offloads = dgram_set_rx_offloads,
	.tx = dgram_tx,
	.rx = dgram_rx,
	.rx_fd = dgram_rx_fd,
	.link_up = netbe_link_always_up,
	.get_stats = dgram_get_stats,
	.free = dgram_free,
};

/* Parse "LADDR:LPORT,RADDR:RPORT" into @local and @remote. */
static int dgram_parse(const char *addrs, struct sockaddr_storage *local, socklen_t *local_len,
		       struct sockaddr_storage *remote, socklen_t *remote_len, char *err,
		       size_t errlen)
{
	const char *comma = strchr(addrs, ',');
	int ret;

	if (!comma)
		return netbe_set_err(err, errlen, -EINVAL,
				     "dgram: want dgram:LADDR:LPORT,RADDR:RPORT, got 'dgram:%.64s'",
				     addrs);
	ret = dgram_parse_ep(addrs, (size_t)(comma - addrs), "local", local, local_len, err,
			     errlen);
	if (ret)
		return ret;
	ret = dgram_parse_ep(comma + 1, strlen(comma + 1), "remote", remote, remote_len, err,
			     errlen);
	if (ret)
		return ret;
	if (local->ss_family != remote->ss_family)
		return netbe_set_err(err, errlen, -EINVAL,
				     "dgram: local and remote addresses of different families");
	if (((struct sockaddr_in *)remote)->sin_port == 0) /* same offset in sockaddr_in6 */
		return netbe_set_err(err, errlen, -EINVAL, "dgram: remote port 0");
	return 0;
}

/* Open, bind and connect the socket; flush what came before connect(). */
static int dgram_open(const struct sockaddr_storage *local, socklen_t local_len,
		      const struct sockaddr_storage *remote, socklen_t remote_len, char *err,
		      size_t errlen)
{
	int sz = DGRAM_SOCKBUF, fd, e;
	char junk[1];

	fd = socket(local->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return netbe_set_err(err, errlen, -errno, "dgram: socket: %s", strerror(errno));
	/* Best effort: deeper buffers absorb bursts. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (const struct sockaddr *)local, local_len)) {
		e = errno;
		close(fd);
		return netbe_set_err(err, errlen, -e, "dgram: bind: %s", strerror(e));
	}
	if (connect(fd, (const struct sockaddr *)remote, remote_len)) {
		e = errno;
		close(fd);
		return netbe_set_err(err, errlen, -e, "dgram: connect: %s", strerror(e));
	}
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	return fd;
}

/**
 * netbe_dgram_new() - the UDP backend for "dgram:@addrs".
 * Return: 0 and *out; -EINVAL for a bad address (reason in @err); -errno
 * of socket()/bind()/connect()/eventfd() or -ENOMEM.
 */
int netbe_dgram_new(const char *addrs, const struct netbe_options *opt, struct netbe **out,
		    char *err, size_t errlen)
{
	struct sockaddr_storage local, remote;
	socklen_t local_len, remote_len;
	struct dgram *d;
	int ret;

	ret = dgram_parse(addrs, &local, &local_len, &remote, &remote_len, err, errlen);
	if (ret)
		return ret;
	d = calloc(1, sizeof(*d));
	if (!d)
		return netbe_set_err(err, errlen, -ENOMEM, "dgram: out of memory");
	d->be.ops = &dgram_ops;
	d->be.priv = d;
	d->be.max_queue_pairs = opt->max_queue_pairs;
	d->sock = -1;
	d->quiet_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->quiet_fd < 0) {
		ret = netbe_set_err(err, errlen, -errno, "dgram: eventfd: %s", strerror(errno));
		goto err;
	}
	d->pairs = netbe_calloc_aligned(opt->max_queue_pairs, sizeof(*d->pairs));
	if (!d->pairs) {
		ret = netbe_set_err(err, errlen, -ENOMEM, "dgram: out of memory");
		goto err;
	}
	d->sock = dgram_open(&local, local_len, &remote, remote_len, err, errlen);
	if (d->sock < 0) {
		ret = d->sock;
		goto err;
	}
	*out = &d->be;
	return 0;

err:
	dgram_free(&d->be);
	return ret;
}
