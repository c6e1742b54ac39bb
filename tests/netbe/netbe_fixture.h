/* SPDX-License-Identifier: MIT */
/*
 * What the test_netbe_*.c files share: a backend opened from its spec with
 * the tests' options, one frame sent through its ops table, frames and
 * IPv4 packets built by hand, RFC 1071 checksums computed independently of
 * lib/netbe. Each backend is driven through its ops table only.
 */
#ifndef VQNET_TESTS_NETBE_FIXTURE_H
#define VQNET_TESTS_NETBE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vqnet/netbe.h>

#include "inet_frame.h"

#define BUF_CAP 2048u

extern const uint8_t guest_mac[6];
extern const uint8_t bcast_mac[6]; /* ff:ff:ff:ff:ff:ff */

/* The slirp backend's guest (guest_mac, 10.0.2.15) sending to the host
 * (10.0.2.2, libslirp's MAC 52:55:0a:00:02:02), for inet_frame.h. */
struct inet_ends slirp_guest_to_host(void);

/* Options for @nq queue pairs, MTU 1500, guest_mac. */
struct netbe_options opts(unsigned nq);
/* netbe_new(@spec), which must succeed (its reason printed when not). */
struct netbe *open_be(const char *spec, const struct netbe_options *o);
bool fd_readable(int fd, int timeout_ms);
struct netbe_stats stats_of(struct netbe *be, unsigned q);
/* One frame of @len bytes through tx() on pair @q, with @meta if not NULL.
 * Return: what tx() returned. */
int tx_one(struct netbe *be, unsigned q, const uint8_t *f, uint32_t len,
	   const struct netbe_meta *meta);

/* An Ethernet frame of @len bytes: dst guest, src 02:..:01, type 0x88b5,
 * then @tag in every payload byte. */
void make_frame(uint8_t *f, uint32_t len, uint8_t tag);

/* @sum plus the big-endian 16-bit words of @p (an odd last byte padded). */
uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len);
/* @sum folded to 16 bits, not complemented: a partial (pseudo-header)
 * checksum as a driver leaves it for offload. */
uint16_t csum_fold(uint32_t sum);
/* The checksum field for @sum: folded and complemented (RFC 1071). Over
 * data that carries its checksum, 0 when it is right. */
uint16_t csum_finish(uint32_t sum);
/* Big-endian loads and stores. */
void put16(uint8_t *p, uint16_t v);
uint16_t get16(const uint8_t *p);
void put32(uint8_t *p, uint32_t v);
uint32_t get32(const uint8_t *p);
/* Ethernet + IPv4 header (20 bytes, no options) for @l4_len bytes of
 * protocol @proto, the addresses 4 bytes each as on the wire; returns the
 * L4 offset (34). */
uint32_t build_ipv4(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac, const void *src_ip,
		    const void *dst_ip, uint8_t proto, uint16_t l4_len);
/* The IPv4 pseudo-header sum of a frame built by build_ipv4(). */
uint32_t pseudo_sum(const uint8_t *f, uint16_t l4_len);
/* An ARP frame (Ethernet, IPv4; 60 bytes with padding) to @dst from
 * @sha: operation @op (1 request, 2 reply), sender @sha/@spa, target
 * @tha/@tpa (@tha NULL: zero). Returns 60. */
uint32_t build_arp(uint8_t *f, const uint8_t *dst, uint16_t op, const uint8_t *sha, const void *spa,
		   const uint8_t *tha, const void *tpa);

#endif
