/* SPDX-License-Identifier: MIT */
/*
 * virtio-net wire formats (VIRTIO 1.2 §5.1): feature bits, the device
 * configuration layout, the per-packet header and the control queue.
 * Wire formats only: little-endian fields, no logic.
 */
#ifndef VQNET_SPEC_VIRTIO_NET_H
#define VQNET_SPEC_VIRTIO_NET_H

#include <stdint.h>

#include <vqnet/virtio_net.h>

#include "virtio_ring.h"

/* Feature bits, §5.1.3: <vqnet/virtio_net.h>, public. */

/* Configuration space, §5.1.4 (the fields vqnet offers; 12 bytes of
 * rss fields follow in the spec and are not offered). */
struct virtio_net_config {
	uint8_t mac[6];
	le16 status;
	le16 max_virtqueue_pairs;
	le16 mtu;
	le32 speed;	/* Mbit/s; 0xffffffff unknown */
	uint8_t duplex; /* 0x00 half, 0x01 full, 0xff unknown */
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_config) == 17, "virtio_net_config layout");

#define VIRTIO_NET_S_LINK_UP  1
#define VIRTIO_NET_S_ANNOUNCE 2

#define VIRTIO_NET_SPEED_UNKNOWN  0xffffffffu
#define VIRTIO_NET_DUPLEX_HALF	  0x00
#define VIRTIO_NET_DUPLEX_FULL	  0x01
#define VIRTIO_NET_DUPLEX_UNKNOWN 0xff

/* §5.1.4.1: "max_virtqueue_pairs ... MUST be between 1 and 0x8000". */
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000

/* The per-packet header, §5.1.6. With VIRTIO_F_VERSION_1 (the only mode
 * vqnet offers) it always has num_buffers: 12 bytes. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	le16 hdr_len;
	le16 gso_size;
	le16 csum_start;
	le16 csum_offset;
	le16 num_buffers;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio_net_hdr_v1 layout");

#define VIRTIO_NET_HDR_LEN 12u

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_F_RSC_INFO   4

#define VIRTIO_NET_HDR_GSO_NONE	 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP	 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN	 0x80

/* Control queue, §5.1.6.5: a command is { u8 class; u8 command; data[] }
 * in device-readable buffers, then one device-writable ack byte. */
struct virtio_net_ctrl_hdr {
	uint8_t class;
	uint8_t cmd;
} __attribute__((packed));

#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

#define VIRTIO_NET_CTRL_RX	    0
#define VIRTIO_NET_CTRL_RX_PROMISC  0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_RX_ALLUNI   2
#define VIRTIO_NET_CTRL_RX_NOMULTI  3
#define VIRTIO_NET_CTRL_RX_NOUNI    4
#define VIRTIO_NET_CTRL_RX_NOBCAST  5

#define VIRTIO_NET_CTRL_MAC	      1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET  1

#define VIRTIO_NET_CTRL_VLAN	 2
#define VIRTIO_NET_CTRL_VLAN_ADD 0
#define VIRTIO_NET_CTRL_VLAN_DEL 1

#define VIRTIO_NET_CTRL_ANNOUNCE     3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0

#define VIRTIO_NET_CTRL_MQ		4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0

#define VIRTIO_NET_CTRL_GUEST_OFFLOADS	   5
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET 0

#endif
