/* SPDX-License-Identifier: MIT */
/*
 * IP fragments to the guest (RFC 791 §3.2, RFC 8200 §4.5): a datagram
 * from a host socket larger than the guest's MTU (a DNS answer of 3 KB to
 * a guest at MTU 1500, a UDP application's 8 KB writes, ping -s 4000) is
 * sent as fragments, which the guest's stack reassembles. Without this it
 * could only be dropped, and a guest whose path MTU is ours would never
 * get it. As the source of these packets toward the guest, fragmenting
 * IPv6 here is the source fragmenting, as RFC 8200 §5 allows.
 *
 * Fragments go through the out queue (build.c), in order, each at most
 * one slot (NAT_OUT_SLOT_BYTES) and the MTU: rare traffic, so a copy is
 * fine, and rx() hands the queue out before any later socket data.
 */
#include <string.h>

#include "base/csum.h"
#include "spec/ethernet.h"

#include "nat.h"

#define FRAG6_HDR 8u

/* The largest frame the out queue and the MTU allow. */
static uint32_t frame_max(const struct nat_pair *p)
{
	uint32_t by_mtu = ETH_HDR_LEN + p->nat->net.mtu;

	return by_mtu < NAT_OUT_SLOT_BYTES ? by_mtu : NAT_OUT_SLOT_BYTES;
}

static void queue_whole(struct nat_pair *p, const uint8_t *frame, uint32_t len)
{
	memcpy(nat_out_reserve(p), frame, len);
	nat_out_commit(p, len, NULL);
}

/* One fragment: bytes [@off, @off + @n) of the datagram's transport part
 * @l4, from the headers @hdr (@hl bytes: Ethernet and IP) of the whole. */
static void queue_fragment(struct nat_pair *p, const uint8_t *hdr, uint32_t hl, const uint8_t *l4,
			   uint32_t off, uint32_t n, bool more, uint32_t id)
{
	uint8_t *f = nat_out_reserve(p), *ip = f + ETH_HDR_LEN;
	bool v6 = hl == ETH_HDR_LEN + 40;
	uint32_t at = hl;

	memcpy(f, hdr, hl);
	if (v6) {
		uint8_t *fh = f + hl;

		nat_wr16(ip + 4, (uint16_t)(FRAG6_HDR + n));
		fh[0] = ip[6];
		fh[1] = 0;
		nat_wr16(fh + 2, (uint16_t)(off | (more ? 1u : 0u)));
		nat_wr32(fh + 4, id);
		ip[6] = 44; /* Fragment header */
		at += FRAG6_HDR;
	} else {
		nat_wr16(ip + 2, (uint16_t)(hl - ETH_HDR_LEN + n));
		nat_wr16(ip + 4, (uint16_t)id);
		nat_wr16(ip + 6, (uint16_t)((more ? 0x2000u : 0u) | off / 8));
		nat_wr16(ip + 10, 0);
		nat_wr16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, hl - ETH_HDR_LEN)));
	}
	memcpy(f + at, l4 + off, n);
	nat_out_commit(p, at + n, NULL);
	nat_count(&p->cnt.frags_out);
}

static uint32_t out_free(const struct nat_pair *p)
{
	return NAT_OUT_SLOTS - (p->out.tail - p->out.head);
}

unsigned nat_bounce_iov(struct nat_pair *p, uint8_t *data, uint32_t hl, uint32_t room,
			struct iovec *iov)
{
	iov[0] = (struct iovec){.iov_base = data + hl, .iov_len = room};
	iov[1] = (struct iovec){.iov_base = p->bounce + hl + room,
				.iov_len = NAT_BOUNCE_BYTES - hl - room};
	return 2;
}

uint8_t *nat_bounce_whole(struct nat_pair *p, uint8_t *data, uint32_t hl, uint32_t head,
			  uint32_t len)
{
	if (len <= head)
		return data;
	memmove(p->bounce + hl, data + hl, head);
	return p->bounce;
}

bool nat_frag_out(struct nat_pair *p, uint8_t *frame, uint32_t len)
{
	bool v6 = (frame[ETH_HDR_LEN] >> 4) == 6;
	uint32_t hl = ETH_HDR_LEN + (v6 ? 40u : 20u), l4_len = len - hl, unit, n, id;

	/* What an IP length field holds: 65535 bytes with IPv4's header, of
	 * IPv6's payload (a host resolver over IPv6 can answer an IPv4
	 * query with more than IPv4 carries). */
	if (l4_len > NAT_IP_MAX - (v6 ? 0u : 20u))
		return false;
	nat_build_l4_csum_full(frame, hl, l4_len);
	if (len <= frame_max(p)) {
		if (!out_free(p))
			return false;
		queue_whole(p, frame, len);
		return true;
	}
	/* Every fragment but the last carries a multiple of 8 bytes. */
	unit = (frame_max(p) - hl - (v6 ? FRAG6_HDR : 0u)) & ~7u;
	n = (l4_len + unit - 1) / unit;
	if (unit < 8 || n > out_free(p))
		return false;
	id = v6 ? ++p->ip6_id : ++p->ip4_id;
	for (uint32_t off = 0; off < l4_len; off += unit) {
		uint32_t take = l4_len - off < unit ? l4_len - off : unit;

		queue_fragment(p, frame, hl, frame + hl, off, take, off + take < l4_len, id);
	}
	return true;
}
