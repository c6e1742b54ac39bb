/* SPDX-License-Identifier: MIT */
/*
 * Ethernet II framing (IEEE 802.3) and IEEE 802.1Q / 802.1ad VLAN tags:
 * byte offsets and lengths in a frame, as the device, the backends and the
 * tools read and write them. Multi-byte fields are big-endian on the wire.
 * Wire formats only: constants and one field accessor. The names avoid
 * <linux/if_ether.h>'s (ETH_HLEN, ETH_P_*), which some files include too.
 */
#ifndef VQNET_SPEC_ETHERNET_H
#define VQNET_SPEC_ETHERNET_H

#include <stdint.h>

#define ETH_ADDR_LEN 6u	 /* a MAC address */
#define ETH_TYPE_OFF 12u /* the EtherType, after destination and source */
#define ETH_HDR_LEN  14u /* destination, source, EtherType */

#define ETH_TYPE_IPV4	0x0800u
#define ETH_TYPE_IPV6	0x86ddu
#define ETH_TYPE_8021Q	0x8100u /* TPID of an 802.1Q (customer) VLAN tag */
#define ETH_TYPE_8021AD 0x88a8u /* TPID of an 802.1ad (service) VLAN tag */

/* A VLAN tag sits where the EtherType was: TPID, then the TCI (PCP, DEI,
 * 12-bit VLAN id), then the EtherType it displaced. */
#define ETH_VLAN_TAG_LEN  4u
#define ETH_VLAN_VID_MASK 0x0fffu

/* The EtherType (or TPID) of @frame, which holds at least ETH_HDR_LEN
 * bytes, in host order. */
static inline uint16_t eth_frame_type(const uint8_t *frame)
{
	return (uint16_t)(frame[ETH_TYPE_OFF] << 8 | frame[ETH_TYPE_OFF + 1]);
}

#endif
