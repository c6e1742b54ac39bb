/* SPDX-License-Identifier: MIT */
/*
 * What the link-level services (arp.c, ndp.c, dhcp.c, dhcp6.c) share: a
 * bounded copy of a message out of the guest's frame, and the end of every
 * answer (the Ethernet destination, the out queue). Each service answers the frame it was handed
 * with one frame written into the pair's out queue, so nothing here allocates.
 */
#ifndef VQNET_NETBE_NAT_SVC_H
#define VQNET_NETBE_NAT_SVC_H

#include <stdint.h>
#include <string.h>

#include "base/iov.h"

#include "nat.h"

/*
 * Copy @len bytes at offset @off of the guest's frame to @dst: from the
 * copied headers when they hold them, else from guest memory (the frame
 * is valid for the whole tx() call). Return: false when the frame is
 * shorter, so a caller never reads what the guest did not send.
 */
static inline bool svc_copy(const struct nat_pkt *pkt, uint32_t off, void *dst, uint32_t len)
{
	if (off > pkt->len || len > pkt->len - off)
		return false;
	if (off <= pkt->hdr_len && len <= pkt->hdr_len - off) {
		memcpy(dst, pkt->hdr + off, len);
		return true;
	}
	return iov_to_buf(pkt->iov, pkt->iovcnt, off, dst, len) == len;
}

/* The transport message of @pkt (header and payload, as the parser
 * measured it against the IP length) in bytes. */
static inline uint32_t svc_l4_len(const struct nat_pkt *pkt)
{
	return pkt->pay_off - pkt->l4_off + pkt->pay_len;
}

/* The Ethernet destination for an IPv6 destination @dst: its multicast
 * MAC (RFC 2464 §7) or the unicast @mac of whoever asked. */
static inline void svc_eth_dst6(uint8_t *frame, const struct in6_addr *dst, const uint8_t *mac)
{
	if (dst->s6_addr[0] == 0xff) {
		frame[0] = frame[1] = 0x33;
		memcpy(frame + 2, &dst->s6_addr[12], 4);
	} else {
		memcpy(frame, mac, 6);
	}
}

/* Queue the answer of @len bytes built in the slot nat_out_reserve()
 * gave (complete: no offload metadata). */
static inline enum nat_drop svc_send(struct nat_pair *p, uint32_t len)
{
	static const struct netbe_meta none;

	nat_out_commit(p, len, &none);
	return NAT_DROP_NONE;
}

#endif
