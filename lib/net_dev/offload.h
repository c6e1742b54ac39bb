/* SPDX-License-Identifier: MIT */
/*
 * Software offloads for the virtio-net device: finishing a partial
 * checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM, §5.1.6.2) and segmenting a GSO
 * frame (TCPv4/TCPv6 with or without ECN, UDP fragmentation for IPv4) into
 * frames of at most gso_size payload bytes, for a backend (or a guest)
 * that cannot take the offload. Also the header rules the device checks on
 * every transmitted frame. Frames are flat buffers (Ethernet header first,
 * optional 802.1Q tag); no allocation.
 */
#ifndef VQNET_NET_DEV_OFFLOAD_H
#define VQNET_NET_DEV_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/netbe.h>

#include "base/csum.h" /* the checksum itself (RFC 1071) */

/* A frame's protocol layout, found by net_dev_frame_parse(). Offsets from the
 * frame start; 0 = absent. */
struct net_dev_frame_info {
	uint16_t ethertype; /* after any VLAN tags */
	uint16_t l3_off;    /* IP header */
	uint16_t l4_off;    /* TCP/UDP header (IPv6: after extension headers) */
	uint16_t l4_len;    /* TCP header length (data offset) or 8 for UDP */
	uint8_t l4_proto;   /* IPPROTO_TCP / IPPROTO_UDP / other */
	bool ipv6;
	uint16_t vlan_tci; /* first 802.1Q tag, with has_vlan */
	bool has_vlan;
};

/* Parse Ethernet (+802.1Q), IPv4/IPv6 and TCP/UDP headers, every offset
 * bounds-checked against @len. Return 0, or -EINVAL when the frame is too
 * short for its headers (non-IP frames return 0 with l3_off = 0). */
int net_dev_frame_parse(const uint8_t *frame, uint32_t len, struct net_dev_frame_info *fi);

/*
 * Check a transmitted frame's metadata against §5.1.6.2 and the frame,
 * of which the caller passes the first @head_len bytes at @head (at least
 * min(frame_len, NET_DEV_TX_HEAD_MAX): the headers) and the total @frame_len:
 * NEEDS_CSUM with csum_start + csum_offset + 2 <= len; a GSO type only
 * with NEEDS_CSUM, a known type, gso_size > 0, an IP/TCP (or UDP) frame
 * of the matching family; other flag bits ignored (§5.1.6.2.2).
 * Return 0 or -EINVAL with a static reason in *why.
 */
#define NET_DEV_TX_HEAD_MAX 256u
int net_dev_tx_meta_check(const uint8_t *head, uint32_t head_len, uint32_t frame_len,
			  const struct netbe_meta *m, const char **why);

/* Finish a partial checksum: sum from csum_start to the end of the frame
 * (the field already holds the pseudo-header sum, as the driver left it),
 * store the folded result at csum_start + csum_offset. Return 0, or
 * -EINVAL when the offsets are outside the frame. */
int net_dev_csum_finish(uint8_t *frame, uint32_t len, uint16_t csum_start, uint16_t csum_offset);

/*
 * GSO segmentation, as an iterator so the caller writes each segment
 * straight where it goes. net_dev_gso_init() checks the frame (a GSO type the
 * code knows, headers parse, hdr_len consistent); each net_dev_gso_next()
 * writes the next segment (headers copied and fixed: IPv4 total length,
 * id + n and header checksum; IPv6 payload length; TCP sequence number,
 * FIN/PSH only on the last segment, CWR only on the first; UDP: IPv4
 * fragments with MF and offsets) with its L4 checksum finished, and
 * returns its length; 0 when done; -EINVAL / -ENOSPC (segment larger than
 * @cap). The source frame must stay unchanged while iterating.
 */
struct net_dev_gso_iter {
	const uint8_t *frame;
	uint32_t len;
	struct net_dev_frame_info fi;
	struct netbe_meta meta;
	uint32_t hdr_len;  /* bytes of headers copied in front of each segment */
	uint32_t pos;	   /* next payload byte */
	uint32_t seq0;	   /* TCP sequence number of the first segment */
	uint16_t ip_id0;   /* IPv4 id of the first segment */
	uint32_t index;	   /* segments written */
	uint32_t udp_csum; /* UFO: the whole datagram's folded checksum */
};
int net_dev_gso_init(struct net_dev_gso_iter *it, const uint8_t *frame, uint32_t len,
		     const struct netbe_meta *m);
int net_dev_gso_next(struct net_dev_gso_iter *it, uint8_t *out, uint32_t cap);

#endif
