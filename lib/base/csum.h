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
 * inet_csum_add() - add @len bytes to a partial sum (an odd last byte padded
 * with zero). Chained calls must pass even lengths except the last one.
 * Return: the new partial sum (carries folded, never overflows).
 */
uint32_t inet_csum_add(uint32_t sum, const void *data, uint32_t len);

/*
 * The pseudo-header sum (RFC 9293 §3.1, RFC 768; IPv6: RFC 8200 §8.1) for
 * @l4_len bytes of protocol @proto from @src to @dst, @addr_len bytes
 * each (4 or 16; for IPv6 the final destination). One function for both
 * families: IPv4's 16-bit length and IPv6's 32-bit one add up the same
 * once split into 16-bit words. Return: a partial sum, not folded.
 */
static inline uint32_t inet_pseudo_sum(const void *src, const void *dst, uint32_t addr_len,
				       uint8_t proto, uint32_t l4_len)
{
	const uint8_t tail[8] = {(uint8_t)(l4_len >> 24),
				 (uint8_t)(l4_len >> 16),
				 (uint8_t)(l4_len >> 8),
				 (uint8_t)l4_len,
				 0,
				 0,
				 0,
				 proto};

	return inet_csum_add(inet_csum_add(inet_csum_add(0, src, addr_len), dst, addr_len), tail,
			     sizeof(tail));
}

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
