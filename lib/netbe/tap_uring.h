/* SPDX-License-Identifier: MIT */
/* The TAP backend's batched transmit and receive through io_uring
 * (tap_uring.c), internal to lib/netbe (tap.c) and its tests. */
#ifndef VQNET_NETBE_TAP_URING_H
#define VQNET_NETBE_TAP_URING_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/netbe.h>

struct tap_uring;

/* Counters of one ring, written by its queue pair's worker. */
struct tap_uring_stats {
	uint64_t submits;    /* io_uring_enter() calls that sent frames */
	uint64_t frames;     /* frames those calls carried */
	uint64_t rx_submits; /* io_uring_enter() calls that read */
	uint64_t rx_frames;  /* frames those reads got (tap_uring_count_rx()) */
};

/* A ring for the TAP queue fd @fd, restricted to writev and readv (seccomp
 * cannot see an io_uring operation, so the ring itself refuses every
 * other). Return 0 and *out (the caller frees
 * it with tap_uring_free(); @fd stays the caller's), or -errno when the
 * kernel has no io_uring, refuses it (kernel.io_uring_disabled, a
 * container's seccomp) or lacks ring restrictions (before Linux 5.10). */
int tap_uring_new(int fd, struct tap_uring **out);
void tap_uring_free(struct tap_uring *u);

/* Write @n frames, each behind its vnet header, with one io_uring_enter()
 * per 64 frames (or per 1024 iovec entries). A frame the kernel refused
 * is counted in @st as tx() counts it. Return the number written. */
unsigned tap_uring_tx(struct tap_uring *u, const struct netbe_txpkt *pkts, unsigned n,
		      struct netbe_stats *st);

/* Post @k reads (at most 64), read i into the @iovcnt entries at
 * @iov + i * @iovcnt, with one io_uring_enter(). res[i] gets read i's
 * result: its length, or -errno (-EAGAIN: no frame was there). The reads
 * run in order, but a frame that arrives while they run may land after a
 * read that found none. Return @k, or -EIO when the ring failed (then
 * res[] holds what completed, -EAGAIN for the rest, and
 * tap_uring_usable() is false). */
int tap_uring_readv(struct tap_uring *u, const struct iovec *iov, unsigned iovcnt, unsigned k,
		    int *res);

/* Count @n frames received through tap_uring_readv() (the caller knows
 * which results were frames). */
void tap_uring_count_rx(struct tap_uring *u, unsigned n);

/* False once a submission failed (the kernel could not allocate): the
 * ring may hold writes it never took, so it must not be used again; the
 * caller sends with writev() from then on. */
bool tap_uring_usable(const struct tap_uring *u);

/* Copy the ring's counters (read with relaxed atomics). */
void tap_uring_get_stats(const struct tap_uring *u, struct tap_uring_stats *out);

#endif
