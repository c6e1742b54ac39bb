/* SPDX-License-Identifier: MIT */
/* The TAP backend's vnet header translation (tap_vnet_hdr.c), internal to
 * lib/netbe (tap.c) and its tests. */
#ifndef VQNET_NETBE_TAP_VNET_HDR_H
#define VQNET_NETBE_TAP_VNET_HDR_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/netbe.h>

#include "spec/virtio_net.h"

/* The vnet header in front of a transmitted frame (VIRTIO 1.2 §5.1.6),
 * num_buffers 0. */
void tap_vnet_hdr_from_meta(struct virtio_net_hdr_v1 *h, const struct netbe_meta *m);

/* May a received frame with offload metadata @m go to a device that
 * allowed the offloads @allowed (NETBE_CAP_*, set_rx_offloads())? */
bool tap_vnet_meta_allowed(const struct netbe_meta *m, uint32_t allowed);

/* Turn a received vnet header of a frame of @len bytes into metadata the
 * device may see (*m, also written on failure). Return 0, or -1 for a
 * header that must not be passed on (counted as rx_errors). */
int tap_vnet_meta_from_hdr(struct netbe_meta *m, const struct virtio_net_hdr_v1 *h, uint32_t len,
			   uint32_t allowed);

#endif
