/* SPDX-License-Identifier: MIT */
/*
 * Inside lib/netbe: the backends' constructors, called by netbe_new()
 * (netbe.c) once it has parsed the spec, and the small helpers they share.
 *
 * Rules every backend follows (include/vqnet/netbe.h has the contract):
 *  - the constructor allocates the struct netbe (usually embedded in its
 *    private state), sets ops, priv and max_queue_pairs, and returns 0 with
 *    *out set; on error it releases what it took, writes a one-line reason
 *    into @err (netbe_set_err()) and returns -errno;
 *  - ops->free() releases everything, the struct netbe included;
 *  - tx/rx never allocate; per-queue-pair state is touched only by the
 *    worker of that pair, so it needs no lock. Counters are written by that
 *    worker alone and read by get_stats() with relaxed atomics
 *    (counter_add()/counter_get()), so a stats read that races a
 *    worker is still well defined.
 */
#ifndef VQNET_NETBE_INTERNAL_H
#define VQNET_NETBE_INTERNAL_H

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vqnet/netbe.h>

#include "base/counter.h"

/* slirp: user-mode networking through libslirp (slirp.c). */
int netbe_slirp_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen);
/* user: user-mode networking by socket translation (nat/nat.c; the
 * module keeps its nat_ prefix). */
int netbe_nat_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen);
/* tap:IFNAME (tap.c); @ifname is the part after "tap:". */
int netbe_tap_new(const char *ifname, const struct netbe_options *opt, struct netbe **out,
		  char *err, size_t errlen);
/* loop (loop.c). */
int netbe_loop_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen);
/* sink (sink.c). */
int netbe_sink_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen);
/* gen (gen.c). */
int netbe_gen_new(const struct netbe_options *opt, struct netbe **out, char *err, size_t errlen);
/* dgram:LADDR:LPORT,RADDR:RPORT (dgram.c); @addrs is the part after
 * "dgram:". */
int netbe_dgram_new(const char *addrs, const struct netbe_options *opt, struct netbe **out,
		    char *err, size_t errlen);

/* The user network's addresses (usernet.c): --net / --net6 or QEMU's
 * 10.0.2.0/24 and fec0::/64; the gateway is host 2, DNS host 3, the
 * guest host 15 (::15 in IPv6, as in QEMU). */
struct netbe_usernet {
	struct in_addr net4, mask4, gw4, dns4, guest4;
	struct in6_addr prefix6, gw6, dns6, guest6;
};
/* Return 0, or -EINVAL with the reason in @err. */
int netbe_usernet_get(const struct netbe_options *opt, struct netbe_usernet *u, char *err,
		      size_t errlen);

/* Write a one-line reason into @err (size @errlen; NULL/0 allowed) and
 * return @ret unchanged, so that a constructor can end with
 * `return netbe_set_err(err, errlen, -EINVAL, "...");`. */
int netbe_set_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Copy a pair's counters (get_stats()). */
static inline void netbe_stats_copy(struct netbe_stats *out, const struct netbe_stats *s)
{
	out->tx_dropped = counter_get(&s->tx_dropped);
	out->rx_dropped = counter_get(&s->rx_dropped);
	out->tx_errors = counter_get(&s->tx_errors);
	out->rx_errors = counter_get(&s->rx_errors);
}

/* Read every byte of @n frames and return their sum (sink and gen tx:
 * the work of touching guest memory, which the caller must keep). */
static inline uint64_t netbe_sum_frames(const struct netbe_txpkt *pkts, unsigned n)
{
	uint64_t s = 0, w;

	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < pkts[i].iovcnt; j++) {
			const uint8_t *p = pkts[i].iov[j].iov_base;
			size_t len = pkts[i].iov[j].iov_len, k = 0;

			/* Four words per step: independent adds. */
			for (; k + 32 <= len; k += 32) {
				uint64_t a, b, c;

				memcpy(&w, p + k, 8);
				memcpy(&a, p + k + 8, 8);
				memcpy(&b, p + k + 16, 8);
				memcpy(&c, p + k + 24, 8);
				s += (w + a) + (b + c);
			}
			for (; k + 8 <= len; k += 8) {
				memcpy(&w, p + k, 8);
				s += w;
			}
			for (; k < len; k++)
				s += p[k];
		}
	}
	return s;
}

/* Zeroed, cache-line aligned array of @n elements of @size bytes (per-pair
 * state, so two workers never share a line). Free with free(). */
static inline void *netbe_calloc_aligned(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	bytes = n * size;
	if (posix_memalign(&p, 64, bytes ? bytes : 64))
		return NULL;
	memset(p, 0, bytes);
	return p;
}

/* link_up for backends whose link never goes down (no carrier to
 * watch): every backend in vqnet today. */
bool netbe_link_always_up(struct netbe *be);

#endif
