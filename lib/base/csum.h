/* SPDX-License-Identifier: MIT */
/*
 * The Internet checksum (RFC 1071): a ones'-complement sum of big-endian
 * 16-bit words, for the IPv4 header and the TCP/UDP/ICMP checksums with
 * their pseudo-headers (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1).
 */
#ifndef VQNET_BASE_CSUM_H
#define VQNET_BASE_CSUM_H

#include <stdint.h>

/**
 * inet_inet_csum_add() - add @len bytes to a partial sum (an odd last byte padded
 * with zero). Chained calls must pass even lengths except the last one.
 * Return: the new partial sum (carries folded, never overflows).
 */
uint32_t inet_csum_add(uint32_t sum, const void *data, uint32_t len);

/* Fold a partial sum to 16 bits, not complemented: what a driver leaves
 * in the field for a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
static inline uint16_t inet_csum_fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The value to store (host order): the complement of the folded sum. */
static inline uint16_t inet_csum_fold(uint32_t sum)
{
	return (uint16_t)~inet_csum_fold16(sum);
}

#endif
