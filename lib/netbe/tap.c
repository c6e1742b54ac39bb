/* SPDX-License-Identifier: MIT */
/*
 * tap: a Linux TAP device with IFF_VNET_HDR and IFF_MULTI_QUEUE.
 *
 * Theory of operation: one /dev/net/tun fd per queue pair, all attached to
 * the interface IFNAME (created when absent, joined when it exists; it must
 * then be a multi-queue TAP with vnet headers and no packet information),
 * or the caller's fds (opt->tap_fds, duplicated: the caller keeps its own;
 * O_NONBLOCK is set on the shared file). Every frame crosses the fd behind
 * a 12-byte struct virtio_net_hdr_v1 (TUNSETVNETHDRSZ 12, little-endian):
 * the kernel takes partial checksums and GSO frames on write and, once
 * TUNSETOFFLOAD allows it, hands them to us on read.
 *
 * caps() is what TUNSETOFFLOAD accepted when probed at open (the kernel
 * takes every offload on write regardless); afterwards offloads are off
 * until set_rx_offloads() enables exactly what the guest negotiated.
 * set_queue_pairs(n) attaches the fds of pairs 0..n-1 and detaches the
 * others (TUNSETQUEUE), so the kernel steers traffic only to active pairs.
 *
 * The backend does not configure the interface: bringing it up, adding
 * addresses or a bridge is the user's (or the test's) business; while the
 * interface is down the kernel refuses writes (EIO: tx_dropped and
 * tx_errors). A device created here vanishes when the last fd closes, in
 * free(). tun cuts a frame longer than the reader's buffer without saying
 * so; rx() reads one byte past the buffer to notice (rx_dropped). The
 * vnet header translation, both ways, is tap_vnet_hdr.c.
 *
 * tx() writes a burst with one system call through a restricted io_uring
 * per queue pair (tap_uring.c), and rx() reads the frames after the first
 * the same way, unless opt->tap_writev asks for one writev()/readv() per
 * frame, or the kernel refuses io_uring: then those, and print_stats()
 * says why.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/compiler.h"
#include "netbe_internal.h"
#include "tap_uring.h"
#include "tap_vnet_hdr.h"
#include "spec/virtio_net.h"

#define TAP_IOV_MAX  1024 /* UIO_MAXIOV: the header plus 1023 frame pieces */
#define TAP_FLAGS    (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)
#define TAP_RX_BATCH 32 /* reads one io_uring submission posts at most */

struct tap_pair {
	struct netbe_stats stats;      /* written by the pair's worker */
	struct iovec iov[TAP_IOV_MAX]; /* tx scratch; the pair's worker */
	struct tap_uring *uring;       /* batched tx and rx, or NULL: writev/readv */
	int uring_err;		       /* why uring is NULL (-errno; 0: not asked) */
	unsigned rx_want;	       /* reads the next batch posts (< 2: no batch, readv) */
	struct virtio_net_hdr_v1 rx_hdr[TAP_RX_BATCH];
	uint8_t rx_over[TAP_RX_BATCH];
	struct iovec rx_iov[TAP_RX_BATCH * 3];
	int rx_res[TAP_RX_BATCH];
	int fd;
	bool attached; /* control thread */
} __attribute__((aligned(64)));

struct tap {
	struct netbe be;
	char ifname[IFNAMSIZ];
	uint32_t caps;	      /* NETBE_CAP_* the kernel accepted */
	unsigned tun_ufo;     /* TUN_F_UFO when the kernel accepted it */
	uint32_t rx_offloads; /* NETBE_CAP_*; control thread writes */
	struct tap_pair *pairs;
};

static struct tap *to_tap(struct netbe *be)
{
	return be->priv;
}

static uint32_t tap_caps(struct netbe *be)
{
	return to_tap(be)->caps;
}

static unsigned tap_tun_flags(const struct tap *t, uint32_t caps)
{
	unsigned f = 0;

	if (caps & NETBE_CAP_CSUM)
		f |= TUN_F_CSUM;
	if (caps & NETBE_CAP_TSO4)
		f |= TUN_F_TSO4;
	if (caps & NETBE_CAP_TSO6)
		f |= TUN_F_TSO6;
	if (caps & NETBE_CAP_ECN)
		f |= TUN_F_TSO_ECN;
	if (caps & NETBE_CAP_UFO)
		f |= t->tun_ufo;
	return f;
}

static int tap_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	struct tap *t = to_tap(be);

	if (caps & ~t->caps)
		return -EINVAL;
	if (ioctl(t->pairs[0].fd, TUNSETOFFLOAD, tap_tun_flags(t, caps)) < 0)
		return -errno;
	__atomic_store_n(&t->rx_offloads, caps, __ATOMIC_RELAXED);
	return 0;
}

static int tap_set_queue_pairs(struct netbe *be, unsigned n)
{
	struct tap *t = to_tap(be);

	if (n < 1 || n > be->max_queue_pairs)
		return -EINVAL;
	/* Attach first, detach after: the device never has no queue. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned q = 0; q < be->max_queue_pairs; q++) {
			struct tap_pair *p = &t->pairs[q];
			bool want = q < n;
			struct ifreq ifr;

			if (want == p->attached || want != (pass == 0))
				continue;
			memset(&ifr, 0, sizeof(ifr));
			ifr.ifr_flags = want ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
			if (ioctl(p->fd, TUNSETQUEUE, &ifr) < 0)
				return -errno;
			p->attached = want;
		}
	}
	return 0;
}

/* One writev() per frame: without io_uring, or once its ring failed. */
static unsigned tap_tx_writev(struct tap_pair *p, const struct netbe_txpkt *pkts, unsigned n)
{
	struct virtio_net_hdr_v1 h;
	unsigned sent = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct netbe_txpkt *pkt = &pkts[i];
		ssize_t r;

		if (pkt->iovcnt >= TAP_IOV_MAX) {
			counter_add(&p->stats.tx_dropped, 1);
			counter_add(&p->stats.tx_errors, 1);
			continue;
		}
		tap_vnet_hdr_from_meta(&h, &pkt->meta);
		p->iov[0].iov_base = &h;
		p->iov[0].iov_len = sizeof(h);
		memcpy(&p->iov[1], pkt->iov, pkt->iovcnt * sizeof(*pkt->iov));
		do {
			r = writev(p->fd, p->iov, (int)pkt->iovcnt + 1);
		} while (r < 0 && errno == EINTR);
		if (r >= 0) {
			sent++;
			continue;
		}
		counter_add(&p->stats.tx_dropped, 1);
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			counter_add(&p->stats.tx_errors, 1);
	}
	return sent;
}

static int tap_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct tap_pair *p;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	p = &to_tap(be)->pairs[q];
	/* One frame costs a system call either way; writev is the cheaper. */
	if (n > 1 && p->uring && tap_uring_usable(p->uring))
		return (int)tap_uring_tx(p->uring, pkts, n, &p->stats);
	return (int)tap_tx_writev(p, pkts, n);
}

/* Judge a read of @r bytes (-errno: it failed) into @b behind @h. Return
 * 1: a frame (b->len and b->meta set); 0: dropped and counted; -EAGAIN:
 * no frame was there; another -errno: the read failed (counted). */
static int tap_rx_result(struct tap_pair *p, struct netbe_rxbuf *b,
			 const struct virtio_net_hdr_v1 *h, ssize_t r, uint32_t allowed)
{
	if (r < 0) {
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return -EAGAIN;
		counter_add(&p->stats.rx_errors, 1);
		return (int)r;
	}
	if ((size_t)r < sizeof(*h)) {
		counter_add(&p->stats.rx_errors, 1);
		return 0;
	}
	if ((size_t)r - sizeof(*h) > b->cap) {
		counter_add(&p->stats.rx_dropped, 1);
		return 0;
	}
	b->len = (uint32_t)(r - sizeof(*h));
	if (tap_vnet_meta_from_hdr(&b->meta, h, b->len, allowed)) {
		counter_add(&p->stats.rx_errors, 1);
		return 0;
	}
	return 1;
}

/* One readv() into @b; returns as tap_rx_result(). One byte past the
 * buffer tells a frame that did not fit: tun cuts it silently and returns
 * what it copied. */
static int tap_rx_one(struct tap_pair *p, struct netbe_rxbuf *b, uint32_t allowed)
{
	struct virtio_net_hdr_v1 h;
	uint8_t over;
	struct iovec iov[3] = {{&h, sizeof(h)}, {b->data, b->cap}, {&over, 1}};
	ssize_t r;

	do {
		r = readv(p->fd, iov, 3);
	} while (r < 0 && errno == EINTR);
	return tap_rx_result(p, b, &h, r < 0 ? -errno : r, allowed);
}

/* Up to @m frames into @bufs with one io_uring submission of reads (as
 * many as the last batch found, doubled while every read finds one; a
 * batch that finds fewer than 2 turns batching off until readv() finds
 * frames queued again: a trickle costs no read that finds nothing).
 * Return the frames filled; *more: every read gave a frame. A frame
 * that arrived while the reads ran can land after a read that found
 * none: it moves down to the first free buffer, so @bufs stays dense. */
static unsigned tap_rx_batch(struct tap_pair *p, struct netbe_rxbuf *bufs, unsigned m,
			     uint32_t allowed, bool *more)
{
	unsigned k = m < p->rx_want ? m : p->rx_want, got = 0;
	int rc;

	for (unsigned i = 0; i < k; i++) {
		p->rx_iov[3 * i] = (struct iovec){&p->rx_hdr[i], sizeof(p->rx_hdr[i])};
		p->rx_iov[3 * i + 1] = (struct iovec){bufs[i].data, bufs[i].cap};
		p->rx_iov[3 * i + 2] = (struct iovec){&p->rx_over[i], 1};
	}
	rc = tap_uring_readv(p->uring, p->rx_iov, 3, k, p->rx_res);
	for (unsigned i = 0; i < k; i++) {
		struct netbe_rxbuf *b = &bufs[i], *to = &bufs[got];
		int v = tap_rx_result(p, b, &p->rx_hdr[i], p->rx_res[i], allowed);

		if (v != 1)
			continue;
		if (i != got) {
			if (b->len > to->cap) {
				counter_add(&p->stats.rx_dropped, 1);
				continue;
			}
			memcpy(to->data, b->data, b->len);
			to->len = b->len;
			to->meta = b->meta;
		}
		got++;
	}
	tap_uring_count_rx(p->uring, got);
	*more = rc >= 0 && got == k;
	p->rx_want = *more ? (k * 2 < TAP_RX_BATCH ? k * 2 : TAP_RX_BATCH) : got;
	return got;
}

/* The first frame by readv() (cheap when there is none); the rest in
 * batches through the ring, where there is one and frames come faster
 * than one a turn. */
static int tap_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	struct tap *t = to_tap(be);
	uint32_t allowed = __atomic_load_n(&t->rx_offloads, __ATOMIC_RELAXED);
	struct tap_pair *p;
	unsigned filled = 0;

	if (q >= be->max_queue_pairs)
		return -EINVAL;
	p = &t->pairs[q];
	while (filled < n) {
		bool more;
		int v;

		if (filled && n - filled > 1 && p->rx_want >= 2 && p->uring &&
		    tap_uring_usable(p->uring)) {
			filled += tap_rx_batch(p, bufs + filled, n - filled, allowed, &more);
			if (!more)
				break;
			continue;
		}
		v = tap_rx_one(p, &bufs[filled], allowed);
		if (v == -EAGAIN)
			break;
		if (v < 0)
			return filled ? (int)filled : v;
		filled += (unsigned)v;
		if (v && filled == 3 && p->rx_want < 2)
			p->rx_want = 4; /* frames are queued: batch again */
	}
	return (int)filled;
}

static int tap_rx_fd(struct netbe *be, unsigned q)
{
	return q < be->max_queue_pairs ? to_tap(be)->pairs[q].fd : -EINVAL;
}

static void tap_get_stats(struct netbe *be, unsigned q, struct netbe_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (q < be->max_queue_pairs)
		netbe_stats_copy(out, &to_tap(be)->pairs[q].stats);
}

/* How the pair moves frames: "tap qN: io=io_uring tx_submits=S
 * tx_frames=F rx_submits=R rx_frames=G" (G: frames the ring read, beyond
 * the first of each rx() call, which is a readv), or io=writev and why. */
static void tap_print_stats(struct netbe *be, unsigned q, FILE *f)
{
	const struct tap_pair *p;
	struct tap_uring_stats us;

	if (q >= be->max_queue_pairs)
		return;
	p = &to_tap(be)->pairs[q];
	if (p->uring && tap_uring_usable(p->uring)) {
		tap_uring_get_stats(p->uring, &us);
		fprintf(f,
			"tap q%u: io=io_uring tx_submits=%" PRIu64 " tx_frames=%" PRIu64
			" rx_submits=%" PRIu64 " rx_frames=%" PRIu64 "\n",
			q, us.submits, us.frames, us.rx_submits, us.rx_frames);
	} else if (p->uring) {
		fprintf(f, "tap q%u: io=writev (io_uring failed a submission)\n", q);
	} else if (p->uring_err) {
		fprintf(f, "tap q%u: io=writev (io_uring: %s)\n", q, strerror(-p->uring_err));
	} else {
		fprintf(f, "tap q%u: io=writev\n", q);
	}
}

static void tap_free(struct netbe *be)
{
	struct tap *t = to_tap(be);

	for (unsigned q = 0; q < be->max_queue_pairs; q++) {
		tap_uring_free(t->pairs[q].uring);
		if (t->pairs[q].fd >= 0)
			close(t->pairs[q].fd);
	}
	free(t->pairs);
	free(t);
}

static const struct netbe_ops tap_ops = {
	.name = "tap",
	.caps = tap_caps,
	.set_queue_pairs = tap_set_queue_pairs,
	.set_rx_offloads = tap_set_rx_offloads,
	.tx = tap_tx,
	.rx = tap_rx,
	.rx_fd = tap_rx_fd,
	.link_up = netbe_link_always_up,
	.get_stats = tap_get_stats,
	.print_stats = tap_print_stats,
	.free = tap_free,
};

/* Open one queue of t->ifname (creating the device with the first); the
 * kernel's name for it lands in t->ifname (a "%d" pattern is resolved). */
static int tap_open_queue(struct tap *t, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, e;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		return netbe_set_err(err, errlen, -e, "tap %s: /dev/net/tun: %s", t->ifname,
				     strerror(e));
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(t->ifname));
	ifr.ifr_flags = TAP_FLAGS;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = errno;
		close(fd);
		return netbe_set_err(
			err, errlen, -e, "tap %s: TUNSETIFF: %s%s", t->ifname, strerror(e),
			e == EINVAL || e == EBUSY ? " (an existing device must be a multi_queue "
						    "vnet_hdr tap)"
						  : "");
	}
	memcpy(t->ifname, ifr.ifr_name, sizeof(t->ifname));
	t->ifname[IFNAMSIZ - 1] = '\0';
	return fd;
}

/* Take a caller's fd for queue pair @q: duplicate it, check it is a TAP
 * of t->ifname with vnet headers and no packet information. */
static int tap_take_fd(struct tap *t, int cfd, unsigned q, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, fl, e;

	fd = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		return netbe_set_err(err, errlen, -e, "tap %s: fd %d: %s", t->ifname, cfd,
				     strerror(e));
	}
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		e = errno;
		close(fd);
		return netbe_set_err(err, errlen, e == EBADFD ? -EINVAL : -e,
				     "tap %s: fd %d (queue pair %u) is not an attached TUN/TAP fd",
				     t->ifname, cfd, q);
	}
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)) !=
		    (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) ||
	    strncmp(ifr.ifr_name, t->ifname, IFNAMSIZ)) {
		close(fd);
		return netbe_set_err(err, errlen, -EINVAL,
				     "tap %s: fd %d is %.*s, flags 0x%x: want a tap of %s with "
				     "vnet_hdr and no_pi",
				     t->ifname, cfd, IFNAMSIZ, ifr.ifr_name,
				     (unsigned)(uint16_t)ifr.ifr_flags, t->ifname);
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		e = errno;
		close(fd);
		return netbe_set_err(err, errlen, -e, "tap %s: O_NONBLOCK: %s", t->ifname,
				     strerror(e));
	}
	return fd;
}

/* The 12-byte little-endian header on every fd; the offloads the kernel
 * accepts, probed on the first. */
static int tap_setup(struct tap *t, char *err, size_t errlen)
{
	static const struct {
		unsigned tun;
		uint32_t caps;
	} probes[] = {
		{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO, NETBE_CAP_ALL},
		{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		 NETBE_CAP_CSUM | NETBE_CAP_TSO4 | NETBE_CAP_TSO6 | NETBE_CAP_ECN},
		{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		 NETBE_CAP_CSUM | NETBE_CAP_TSO4 | NETBE_CAP_TSO6},
		{TUN_F_CSUM, NETBE_CAP_CSUM},
	};
	int hdr_len = (int)sizeof(struct virtio_net_hdr_v1), le = 1, e;

	for (unsigned q = 0; q < t->be.max_queue_pairs; q++) {
		if (ioctl(t->pairs[q].fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
			e = errno;
			return netbe_set_err(err, errlen, -e, "tap %s: TUNSETVNETHDRSZ: %s",
					     t->ifname, strerror(e));
		}
		/* Little-endian already on little-endian hosts; older
		 * kernels without TUNSETVNETLE are little-endian only. */
		(void)ioctl(t->pairs[q].fd, TUNSETVNETLE, &le);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(probes); i++) {
		if (ioctl(t->pairs[0].fd, TUNSETOFFLOAD, probes[i].tun) == 0) {
			t->caps = probes[i].caps;
			t->tun_ufo = probes[i].tun & TUN_F_UFO;
			break;
		}
	}
	if (ioctl(t->pairs[0].fd, TUNSETOFFLOAD, 0) < 0) {
		e = errno;
		return netbe_set_err(err, errlen, -e, "tap %s: TUNSETOFFLOAD: %s", t->ifname,
				     strerror(e));
	}
	return 0;
}

static int tap_check_name(const char *ifname, char *err, size_t errlen)
{
	size_t len = strlen(ifname);

	if (len == 0 || len >= IFNAMSIZ || !strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return netbe_set_err(err, errlen, -EINVAL,
				     "tap: bad interface name '%.32s' (1 to %d characters)", ifname,
				     IFNAMSIZ - 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)ifname[i];

		if (c <= ' ' || c == '/' || c == ':' || c >= 0x7f)
			return netbe_set_err(err, errlen, -EINVAL,
					     "tap: bad character in interface name '%s'", ifname);
	}
	return 0;
}

/**
 * netbe_tap_new() - the TAP backend for "tap:@ifname": one queue per queue
 * pair (opt->max_queue_pairs, or as many as opt->tap_fds when fewer).
 * Return: 0 and *out; -EINVAL for a bad name or unsuitable fds; -errno of
 * open()/ioctl() (e.g. -EPERM without CAP_NET_ADMIN); a reason in @err.
 */
int netbe_tap_new(const char *ifname, const struct netbe_options *opt, struct netbe **out,
		  char *err, size_t errlen)
{
	unsigned nq = opt->max_queue_pairs;
	struct tap *t;
	int ret;

	ret = tap_check_name(ifname, err, errlen);
	if (ret)
		return ret;
	if (opt->tap_fds) {
		if (!opt->n_tap_fds)
			return netbe_set_err(err, errlen, -EINVAL, "tap %s: no fds given", ifname);
		if (opt->n_tap_fds < nq)
			nq = opt->n_tap_fds;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return netbe_set_err(err, errlen, -ENOMEM, "tap: out of memory");
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	t->be.ops = &tap_ops;
	t->be.priv = t;
	t->be.max_queue_pairs = nq;
	t->pairs = netbe_calloc_aligned(nq, sizeof(*t->pairs));
	if (!t->pairs) {
		free(t);
		return netbe_set_err(err, errlen, -ENOMEM, "tap: out of memory");
	}
	for (unsigned q = 0; q < nq; q++)
		t->pairs[q].fd = -1;
	for (unsigned q = 0; q < nq; q++) {
		int fd = opt->tap_fds ? tap_take_fd(t, opt->tap_fds[q], q, err, errlen)
				      : tap_open_queue(t, err, errlen);

		if (fd < 0) {
			ret = fd;
			goto err;
		}
		t->pairs[q].fd = fd;
		t->pairs[q].attached = true;
	}
	ret = tap_setup(t, err, errlen);
	if (ret)
		goto err;
	for (unsigned q = 0; q < nq; q++) {
		t->pairs[q].rx_want = 4;
		if (!opt->tap_writev)
			t->pairs[q].uring_err = tap_uring_new(t->pairs[q].fd, &t->pairs[q].uring);
	}
	*out = &t->be;
	return 0;

err:
	tap_free(&t->be);
	return ret;
}
