/* SPDX-License-Identifier: MIT */
/*
 * virtio-net numbers that programs using the vqnet libraries need: the
 * feature bits (VIRTIO 1.2 §5.1.3), e.g. to leave one out of an offer, and
 * the MTU used when none is configured. The device library's wire formats
 * (lib/spec/virtio_net.h) include this header, so each number is defined
 * once.
 */
#ifndef VQNET_VIRTIO_NET_H
#define VQNET_VIRTIO_NET_H

/* Feature bits, §5.1.3. */
#define VIRTIO_NET_F_CSUM		 0
#define VIRTIO_NET_F_GUEST_CSUM		 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU		 3
#define VIRTIO_NET_F_MAC		 5
#define VIRTIO_NET_F_GUEST_TSO4		 7
#define VIRTIO_NET_F_GUEST_TSO6		 8
#define VIRTIO_NET_F_GUEST_ECN		 9
#define VIRTIO_NET_F_GUEST_UFO		 10
#define VIRTIO_NET_F_HOST_TSO4		 11
#define VIRTIO_NET_F_HOST_TSO6		 12
#define VIRTIO_NET_F_HOST_ECN		 13
#define VIRTIO_NET_F_HOST_UFO		 14
#define VIRTIO_NET_F_MRG_RXBUF		 15
#define VIRTIO_NET_F_STATUS		 16
#define VIRTIO_NET_F_CTRL_VQ		 17
#define VIRTIO_NET_F_CTRL_RX		 18
#define VIRTIO_NET_F_CTRL_VLAN		 19
#define VIRTIO_NET_F_CTRL_RX_EXTRA	 20
#define VIRTIO_NET_F_GUEST_ANNOUNCE	 21
#define VIRTIO_NET_F_MQ			 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR	 23
#define VIRTIO_NET_F_SPEED_DUPLEX	 63

/* The MTU of the device and the backends when none is configured:
 * Ethernet's 1500, what a driver assumes without VIRTIO_NET_F_MTU. */
#define VQNET_MTU_DEFAULT 1500u

#endif
