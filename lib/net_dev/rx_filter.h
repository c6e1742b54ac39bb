/* SPDX-License-Identifier: MIT */
/*
 * Receive filtering of the virtio-net device (§5.1.6.5.1, .2, .3): which
 * frames from the backend reach the guest, per the control queue's RX
 * modes, MAC table and VLAN table. Without CTRL_RX the device receives
 * every frame (the spec's default is promiscuous until the driver uses the
 * control queue; QEMU likewise), so a fresh filter accepts everything.
 *
 * The control thread edits a filter; workers read a published copy (the
 * device swaps copies while its workers are paused), so no locking here.
 */
#ifndef VQNET_NET_DEV_RX_FILTER_H
#define VQNET_NET_DEV_RX_FILTER_H

#include <stdbool.h>
#include <stdint.h>

/* Entries kept per MAC table (QEMU keeps 64 in all); a longer table turns
 * on the matching all-uni / all-multi overflow mode instead. */
#define NET_DEV_MAC_TABLE_MAX 64u

struct net_dev_rx_filter {
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	bool uni_overflow, multi_overflow; /* table too long: accept all of that kind */
	uint8_t mac[6];			   /* the device's own address (MAC_ADDR_SET) */
	uint32_t n_uni, n_multi;
	uint8_t uni[NET_DEV_MAC_TABLE_MAX][6];
	uint8_t multi[NET_DEV_MAC_TABLE_MAX][6];
	bool vlan_filtering; /* CTRL_VLAN negotiated: tagged frames need their id in vlans */
	uint64_t vlans[4096 / 64];
};

/* The state after a device reset: promiscuous (everything accepted),
 * tables empty, own address @mac, VLAN filtering per @vlan_filtering. */
void net_dev_rx_filter_reset(struct net_dev_rx_filter *f, const uint8_t mac[6],
			     bool vlan_filtering);
/* Does a frame of @len bytes (Ethernet header first) pass? Frames shorter
 * than an Ethernet header never pass. */
bool net_dev_rx_filter_accept(const struct net_dev_rx_filter *f, const uint8_t *frame,
			      uint32_t len);

#endif
