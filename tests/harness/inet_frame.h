/* SPDX-License-Identifier: MIT */
/*
 * IPv4 frames for tests that play a guest (no cmocka here): Ethernet +
 * IPv4 + UDP, TCP or ICMP echo, with every checksum filled in, so a real
 * stack (libslirp, the kernel behind a TAP) takes them.
 */
#ifndef VQNET_TEST_INET_FRAME_H
#define VQNET_TEST_INET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define INET_TCP_FIN 0x01
#define INET_TCP_SYN 0x02
#define INET_TCP_RST 0x04
#define INET_TCP_PSH 0x08
#define INET_TCP_ACK 0x10

/* Who sends to whom: MACs and IPv4 addresses (network order bytes). */
struct inet_ends {
	uint8_t src_mac[6], dst_mac[6];
	uint8_t src_ip[4], dst_ip[4];
};

/* Each builder writes the whole frame at @f (room for 64 + @len bytes)
 * and returns its length. */
size_t inet_frame_udp(uint8_t *f, const struct inet_ends *e, uint16_t sport, uint16_t dport,
		      const void *data, size_t len);
/* A segment without payload, window 65535; a SYN carries an MSS option
 * of 1460. */
size_t inet_frame_tcp(uint8_t *f, const struct inet_ends *e, uint16_t sport, uint16_t dport,
		      uint32_t seq, uint32_t ack, uint8_t flags);
/* The same with window @win and, on a SYN, MSS @mss. */
size_t inet_frame_tcp_win(uint8_t *f, const struct inet_ends *e, uint16_t sport, uint16_t dport,
			  uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win, uint16_t mss);
size_t inet_frame_icmp_echo(uint8_t *f, const struct inet_ends *e, uint16_t id, uint16_t seq);

/* The IPv4 protocol of @f (6, 17, 1), or -1 if it is not IPv4 or is cut
 * short; for ARP (0x0806) frames -2. */
int inet_frame_proto(const uint8_t *f, size_t len);

#endif
