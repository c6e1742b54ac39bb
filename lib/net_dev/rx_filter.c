/* SPDX-License-Identifier: MIT */
/*
 * Receive filtering (VIRTIO 1.2 §5.1.6.5.1 RX modes, §5.1.6.5.2 MAC table,
 * §5.1.6.5.3 VLAN table).
 *
 * Theory of operation: the control queue (net_dev_ctrlq.c) edits a struct
 * net_dev_rx_filter; the rx path asks net_dev_rx_filter_accept() about each frame
 * the backend delivers. The order of the checks follows QEMU's
 * receive_filter() (hw/net/virtio-net.c), which guests have been tested
 * against for years:
 *
 *   1. shorter than an Ethernet header: never passes (nothing to match);
 *   2. promiscuous: passes, before any other check (VLAN included);
 *   3. 802.1Q tagged, VLAN filtering on, id not in the table: dropped;
 *   4. broadcast: passes unless NOBCAST;
 *   5. multicast (I/G bit, bit 0 of the first octet): NOMULTI drops,
 *      ALLMULTI or an overflowed multicast table passes, else the
 *      multicast table decides;
 *   6. unicast: NOUNI drops, ALLUNI or an overflowed unicast table passes,
 *      the device's own address passes, else the unicast table decides.
 *
 * Pure functions on caller memory: no allocation, no locking (the device
 * publishes copies, see rx_filter.h).
 */
#include <string.h>

#include "rx_filter.h"
#include "spec/ethernet.h"

/* A tagged frame's TCI: the two bytes after the TPID, which sits where
 * the EtherType would. */
#define VLAN_TCI_OFF (ETH_TYPE_OFF + 2u)
#define VLAN_TCI_END (VLAN_TCI_OFF + 2u)

static const uint8_t eth_bcast[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void net_dev_rx_filter_reset(struct net_dev_rx_filter *f, const uint8_t mac[6], bool vlan_filtering)
{
	memset(f, 0, sizeof(*f));
	/* §5.1.6.5.1: the device starts promiscuous; the driver narrows it. */
	f->promisc = true;
	memcpy(f->mac, mac, ETH_ADDR_LEN);
	f->vlan_filtering = vlan_filtering;
}

static bool table_has(const uint8_t (*table)[6], uint32_t n, const uint8_t *addr)
{
	for (uint32_t i = 0; i < n && i < NET_DEV_MAC_TABLE_MAX; i++)
		if (!memcmp(table[i], addr, ETH_ADDR_LEN))
			return true;
	return false;
}

/* §5.1.6.5.3: with VLAN filtering a tagged frame passes only with its VLAN
 * id in the table. A tagged frame too short to hold its TCI has no id and
 * does not pass. Untagged frames are not affected. */
static bool vlan_pass(const struct net_dev_rx_filter *f, const uint8_t *frame, uint32_t len)
{
	if (!f->vlan_filtering)
		return true;
	if (eth_frame_type(frame) != ETH_TYPE_8021Q)
		return true;
	if (len < VLAN_TCI_END)
		return false;
	unsigned vid =
		((unsigned)frame[VLAN_TCI_OFF] << 8 | frame[VLAN_TCI_OFF + 1]) & ETH_VLAN_VID_MASK;
	return (f->vlans[vid / 64] >> (vid % 64)) & 1u;
}

bool net_dev_rx_filter_accept(const struct net_dev_rx_filter *f, const uint8_t *frame, uint32_t len)
{
	if (len < ETH_HDR_LEN)
		return false;
	if (f->promisc)
		return true;
	if (!vlan_pass(f, frame, len))
		return false;
	const uint8_t *dst = frame;
	if (dst[0] & 1u) {
		if (!memcmp(dst, eth_bcast, ETH_ADDR_LEN))
			return !f->nobcast;
		if (f->nomulti)
			return false;
		if (f->allmulti || f->multi_overflow)
			return true;
		return table_has(f->multi, f->n_multi, dst);
	}
	if (f->nouni)
		return false;
	if (f->alluni || f->uni_overflow)
		return true;
	if (!memcmp(dst, f->mac, ETH_ADDR_LEN))
		return true;
	return table_has(f->uni, f->n_uni, dst);
}
