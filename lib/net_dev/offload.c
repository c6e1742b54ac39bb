/* SPDX-License-Identifier: MIT */
/*
 * Software offloads of the virtio-net device (lib/net_dev/offload.h).
 *
 * Theory of operation. A guest writes both the frame and its virtio-net
 * header, so every byte here is hostile: each offset is computed from the
 * frame once (net_dev_frame_parse), checked against the length it came with,
 * and every later access is checked against those bounds again. Nothing
 * allocates; every loop is bounded by a length or a fixed count.
 *
 *  - net_dev_tx_meta_check() applies VIRTIO 1.2 §5.1.6.2 to the header the
 *    driver wrote, no stricter than Linux's virtio_net_hdr_to_skb() (the
 *    reference the peers test against): hdr_len is only a hint (§5.1.6.2.2
 *    "The device MUST NOT rely on hdr_len to be correct"), so the real
 *    header length is computed from the frame.
 *  - net_dev_csum_finish() completes a partial checksum as §5.1.6.2 describes:
 *    the field holds the pseudo-header sum, the device sums from
 *    csum_start to the end and stores the result (RFC 1071).
 *  - GSO (§5.1.6.2, "TCP segmentation offload" / "UDP fragmentation
 *    offload") is an iterator: net_dev_gso_init() validates the frame and
 *    records its layout; every net_dev_gso_next() copies the headers, a
 *    payload slice, and fixes the copy (RFC 791 IPv4 length/id/checksum,
 *    RFC 8200 IPv6 payload length, RFC 9293 TCP sequence/flags, RFC 3168
 *    CWR, RFC 768 UDP). The layout recorded at init is never re-derived
 *    from the frame, so a frame changed during iteration gives wrong bytes
 *    but never an access out of bounds.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "net_dev/offload.h"
#include "spec/ethernet.h"
#include "spec/virtio_net.h"

#define VLAN_MAX_TAGS	2u
#define IPV4_HLEN_MIN	20u
#define IPV6_HLEN	40u
#define TCP_HLEN_MIN	20u
#define UDP_HLEN	8u
#define PROTO_HOPOPTS	0u
#define PROTO_TCP	6u
#define PROTO_UDP	17u
#define PROTO_ROUTING	43u
#define PROTO_FRAGMENT	44u
#define PROTO_DSTOPTS	60u
#define IPV6_EXT_MAX	8u /* extension headers followed before giving up */
#define TCP_OFF_CSUM	16u
#define UDP_OFF_CSUM	6u
#define TCP_FLAG_FIN	0x01u
#define TCP_FLAG_PSH	0x08u
#define TCP_FLAG_CWR	0x80u
#define IP_DF		0x4000u
#define IP_MF		0x2000u
#define IP_OFFMASK	0x1fffu
#define GSO_PAYLOAD_MAX 65535u /* bounds the segment count (gso_size >= 1) */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Walk IPv6 extension headers (RFC 8200 §4) from @off with next header
 * @nh; at most IPV6_EXT_MAX of them. Return 0 with *l4_off and *l4_proto set
 * (*l4_off = 0 when there is no TCP/UDP header to use: a fragment header,
 * too many extension headers, or another protocol), or -EINVAL when an
 * extension header runs past @len. */
static int ipv6_skip_ext(const uint8_t *frame, uint32_t len, uint32_t off, uint8_t nh,
			 uint32_t *l4_off, uint8_t *l4_proto)
{
	for (unsigned n = 0; nh == PROTO_HOPOPTS || nh == PROTO_ROUTING || nh == PROTO_DSTOPTS;
	     n++) {
		if (n == IPV6_EXT_MAX) {
			*l4_proto = nh;
			*l4_off = 0;
			return 0;
		}
		if (off + 2 > len)
			return -EINVAL;
		uint32_t hlen = ((uint32_t)frame[off + 1] + 1) * 8;
		nh = frame[off];
		off += hlen;
		if (off > len)
			return -EINVAL;
	}
	*l4_proto = nh;
	/* A fragment header (RFC 8200 §4.5): the transport header is not
	 * ours to touch (it may not even be in this fragment). */
	if (nh != PROTO_TCP && nh != PROTO_UDP)
		*l4_off = 0;
	else
		*l4_off = off;
	return 0;
}

/* Parse the TCP or UDP header at @off. */
static int parse_l4(const uint8_t *frame, uint32_t len, uint32_t off, struct net_dev_frame_info *fi)
{
	if (fi->l4_proto == PROTO_TCP) {
		if (off + TCP_HLEN_MIN > len)
			return -EINVAL;
		uint32_t doff = (uint32_t)(frame[off + 12] >> 4) * 4; /* RFC 9293 §3.1 */
		if (doff < TCP_HLEN_MIN || off + doff > len)
			return -EINVAL;
		fi->l4_len = (uint16_t)doff;
	} else {
		if (off + UDP_HLEN > len)
			return -EINVAL;
		fi->l4_len = UDP_HLEN;
	}
	fi->l4_off = (uint16_t)off;
	return 0;
}

static int parse_ipv4(const uint8_t *frame, uint32_t len, uint32_t off,
		      struct net_dev_frame_info *fi)
{
	const uint8_t *ip = frame + off;

	if (off + IPV4_HLEN_MIN > len || ip[0] >> 4 != 4)
		return -EINVAL;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4; /* RFC 791 §3.1: IHL >= 5 */
	if (ihl < IPV4_HLEN_MIN || off + ihl > len)
		return -EINVAL;
	/* Total length covers at least the header; it may exceed @len (only
	 * the head of a frame may be passed, and GSO frames carry the whole
	 * length or less, so it is not trusted for any offset). */
	if (rd16(ip + 2) < ihl)
		return -EINVAL;
	fi->l4_proto = ip[9];
	/* Any fragment: the L4 header is absent or not the whole datagram's. */
	if (rd16(ip + 6) & (IP_MF | IP_OFFMASK))
		return 0;
	if (fi->l4_proto != PROTO_TCP && fi->l4_proto != PROTO_UDP)
		return 0;
	return parse_l4(frame, len, off + ihl, fi);
}

static int parse_ipv6(const uint8_t *frame, uint32_t len, uint32_t off,
		      struct net_dev_frame_info *fi)
{
	uint32_t l4_off;
	uint8_t proto;

	if (off + IPV6_HLEN > len || frame[off] >> 4 != 6)
		return -EINVAL;
	fi->ipv6 = true;
	if (ipv6_skip_ext(frame, len, off + IPV6_HLEN, frame[off + 6], &l4_off, &proto) < 0)
		return -EINVAL;
	fi->l4_proto = proto;
	if (!l4_off)
		return 0;
	return parse_l4(frame, len, l4_off, fi);
}

/**
 * net_dev_frame_parse() - find the L2/L3/L4 layout of a frame.
 * Ethernet, up to two VLAN tags (802.1Q 0x8100 / 802.1ad 0x88a8, in any
 * order), IPv4 (IHL >= 5, total length >= header) or IPv6 (hop-by-hop,
 * routing and destination-options headers skipped, at most IPV6_EXT_MAX),
 * then TCP (data offset >= 5) or UDP. IP fragments have no L4 here.
 * Return: 0 (non-IP frames: l3_off = 0; other L4 protocols: l4_off = 0),
 * or -EINVAL when a header present runs past @len or is malformed.
 */
int net_dev_frame_parse(const uint8_t *frame, uint32_t len, struct net_dev_frame_info *fi)
{
	uint32_t off = ETH_HDR_LEN;
	uint16_t type;

	memset(fi, 0, sizeof(*fi));
	if (len < ETH_HDR_LEN)
		return -EINVAL;
	type = rd16(frame + ETH_TYPE_OFF);
	for (unsigned tags = 0; tags < VLAN_MAX_TAGS; tags++) {
		if (type != ETH_TYPE_8021Q && type != ETH_TYPE_8021AD)
			break;
		if (off + ETH_VLAN_TAG_LEN > len)
			return -EINVAL;
		if (!fi->has_vlan) {
			fi->has_vlan = true;
			fi->vlan_tci = rd16(frame + off);
		}
		type = rd16(frame + off + 2);
		off += ETH_VLAN_TAG_LEN;
	}
	fi->ethertype = type;
	if (type == ETH_TYPE_IPV4) {
		fi->l3_off = (uint16_t)off;
		return parse_ipv4(frame, len, off, fi);
	}
	if (type == ETH_TYPE_IPV6) {
		fi->l3_off = (uint16_t)off;
		return parse_ipv6(frame, len, off, fi);
	}
	return 0;
}

/* The frame's L4 header matches the GSO type (§5.1.6.2: TCPV4 is TCP over
 * IPv4, TCPV6 TCP over IPv6, UDP is UDP over either). */
static bool gso_family_ok(uint8_t gso, const struct net_dev_frame_info *fi)
{
	if (!fi->l3_off || !fi->l4_off)
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return !fi->ipv6 && fi->l4_proto == PROTO_TCP;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return fi->ipv6 && fi->l4_proto == PROTO_TCP;
	case VIRTIO_NET_HDR_GSO_UDP:
		return fi->l4_proto == PROTO_UDP;
	default:
		return false;
	}
}

/**
 * net_dev_tx_meta_check() - the header rules of VIRTIO 1.2 §5.1.6.2.
 * Flags other than NEEDS_CSUM are ignored (§5.1.6.2.2: "The device MUST
 * ignore flag bits that it does not recognize"; DATA_VALID and RSC_INFO are
 * receive flags the driver must not set). Refused: NEEDS_CSUM whose 2-byte field does not
 * fit in the frame (Linux skb_partial_csum_set()); a GSO type other than
 * NONE/TCPV4/UDP/TCPV6; the ECN bit without a TCP GSO type; GSO without
 * NEEDS_CSUM (§5.1.6.2.1 "the driver MUST set NEEDS_CSUM"), with gso_size 0,
 * with headers that do not parse within @head_len or of another family, or
 * TCP GSO whose csum_offset is not the TCP checksum field (Linux refuses
 * those too: virtio_net_hdr_to_skb(), commit 89add40066f9, 6.11; it does
 * not check UFO's, and neither do we: UFO's checksum is computed at the
 * UDP header anyway). hdr_len is never checked.
 * Return: 0, or -EINVAL with a static reason in *@why (when @why is set).
 */
int net_dev_tx_meta_check(const uint8_t *head, uint32_t head_len, uint32_t frame_len,
			  const struct netbe_meta *m, const char **why)
{
	const char *reason = NULL;
	uint8_t gso = m->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	bool ecn = m->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	struct net_dev_frame_info fi;

	if (head_len > frame_len)
		head_len = frame_len;
	if ((m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (uint32_t)m->csum_start + m->csum_offset + 2 > frame_len)
		reason = "checksum field outside the frame";
	else if (gso != VIRTIO_NET_HDR_GSO_NONE && gso != VIRTIO_NET_HDR_GSO_TCPV4 &&
		 gso != VIRTIO_NET_HDR_GSO_UDP && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		reason = "unknown gso type";
	else if (ecn && gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		reason = "ECN without TCP GSO";
	else if (gso == VIRTIO_NET_HDR_GSO_NONE)
		reason = NULL;
	else if (!(m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		reason = "GSO without NEEDS_CSUM";
	else if (m->gso_size == 0)
		reason = "GSO with gso_size 0";
	else if (net_dev_frame_parse(head, head_len, &fi) < 0)
		reason = "GSO headers truncated or malformed";
	else if (!gso_family_ok(gso, &fi))
		reason = "GSO type does not match the frame";
	else if (gso != VIRTIO_NET_HDR_GSO_UDP && m->csum_offset != TCP_OFF_CSUM)
		reason = "TSO csum_offset is not the TCP checksum field";
	if (why)
		*why = reason;
	return reason ? -EINVAL : 0;
}

/* The value written into a checksum field: a result of 0 is sent as
 * 0xffff, its ones'-complement twin (RFC 768: 0 means "no checksum" for
 * UDP; for TCP both verify; Linux skb_checksum_help() does the same). */
static uint16_t csum_field(uint32_t sum)
{
	uint16_t c = inet_csum_fold(sum);
	return c ? c : 0xffff;
}

/**
 * net_dev_csum_finish() - complete a NEEDS_CSUM frame (§5.1.6.2: "the device
 * ... computes the checksum from csum_start to the end and stores it at
 * csum_start + csum_offset"). The field is summed with the data: it holds
 * the pseudo-header sum the driver left there.
 * Return: 0, or -EINVAL when the field is not inside the frame.
 */
int net_dev_csum_finish(uint8_t *frame, uint32_t len, uint16_t csum_start, uint16_t csum_offset)
{
	uint32_t field = (uint32_t)csum_start + csum_offset;

	if (field + 2 > len)
		return -EINVAL;
	uint32_t sum = inet_csum_add(0, frame + csum_start, len - csum_start);
	wr16(frame + field, csum_field(sum));
	return 0;
}

/* The destination address for the IPv6 pseudo-header (RFC 8200 §8.1):
 * with a routing header whose segments are not exhausted, the final one
 * (type 0 and 2: the last address; type 4, SRH RFC 8754: segment 0).
 * Bounded by @l4_off, fixed when the iterator was set up. */
static const uint8_t *ipv6_final_dst(const uint8_t *frame, uint32_t l3_off, uint32_t l4_off)
{
	const uint8_t *dst = frame + l3_off + 24;
	uint32_t off = l3_off + IPV6_HLEN;
	uint8_t nh = frame[l3_off + 6];

	for (unsigned n = 0; n < IPV6_EXT_MAX && off + 8 <= l4_off; n++) {
		const uint8_t *h = frame + off;
		uint32_t hlen = ((uint32_t)h[1] + 1) * 8;
		if (off + hlen > l4_off)
			break;
		if (nh == PROTO_ROUTING && h[3] > 0 && hlen >= 8 + 16) {
			if (h[2] == 0 || h[2] == 2)
				dst = h + hlen - 16;
			else if (h[2] == 4)
				dst = h + 8;
		} else if (nh != PROTO_HOPOPTS && nh != PROTO_DSTOPTS && nh != PROTO_ROUTING) {
			break;
		}
		nh = h[0];
		off += hlen;
	}
	return dst;
}

/* Pseudo-header sum of the L4 header at fi->l4_off (RFC 9293 §3.1,
 * RFC 768, RFC 8200 §8.1) for @l4_bytes of TCP/UDP. */
static uint32_t pseudo_sum(const uint8_t *frame, const struct net_dev_frame_info *fi, uint8_t proto,
			   uint32_t l4_bytes)
{
	const uint8_t *ip = frame + fi->l3_off;

	if (fi->ipv6)
		return inet_pseudo_sum(ip + 8, ipv6_final_dst(frame, fi->l3_off, fi->l4_off), 16,
				       proto, l4_bytes);
	return inet_pseudo_sum(ip + 12, ip + 16, 4, proto, l4_bytes);
}

static uint32_t ipv4_hlen(const uint8_t *frame, const struct net_dev_frame_info *fi)
{
	return (uint32_t)(frame[fi->l3_off] & 0xf) * 4;
}

/* Recompute an IPv4 header checksum (RFC 791 §3.1) in place. */
static void ipv4_fix_csum(uint8_t *ip, uint32_t ihl)
{
	wr16(ip + 10, 0);
	wr16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, ihl)));
}

/* UFO, fragments after the first: options without the copy bit are
 * replaced by NOPs (RFC 791 §3.1 "copied flag"; Linux
 * ip_options_fragment()). */
static void ipv4_options_fragment(uint8_t *ip, uint32_t ihl)
{
	uint32_t i = IPV4_HLEN_MIN;

	while (i < ihl) {
		uint8_t type = ip[i];
		if (type == 0) /* end of options */
			break;
		if (type == 1) { /* NOP */
			i++;
			continue;
		}
		if (i + 1 >= ihl || ip[i + 1] < 2 || ip[i + 1] > ihl - i)
			break; /* malformed: leave the rest alone */
		uint32_t olen = ip[i + 1];
		if (!(type & 0x80))
			memset(ip + i, 1, olen);
		i += olen;
	}
}

/**
 * net_dev_gso_init() - set up segmentation of @frame by @m.
 * The frame must pass net_dev_tx_meta_check() whole, carry a GSO type, at most
 * GSO_PAYLOAD_MAX payload bytes, and segments whose IP length fits 16 bits.
 * UDP (UFO) is done as IPv4 fragmentation only, with gso_size >= 8.
 * Return: 0, or -EINVAL.
 */
int net_dev_gso_init(struct net_dev_gso_iter *it, const uint8_t *frame, uint32_t len,
		     const struct netbe_meta *m)
{
	uint8_t gso = m->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	uint32_t payload, seg_max, l3_hdr;

	memset(it, 0, sizeof(*it));
	if (gso == VIRTIO_NET_HDR_GSO_NONE || net_dev_tx_meta_check(frame, len, len, m, NULL) < 0 ||
	    net_dev_frame_parse(frame, len, &it->fi) < 0)
		return -EINVAL;
	if (gso == VIRTIO_NET_HDR_GSO_UDP) {
		/* IPv6 has no in-network fragmentation to offload (RFC 8200
		 * §4.5: only the source fragments, with a fragment header). */
		if (it->fi.ipv6 || m->gso_size < 8)
			return -EINVAL;
		it->hdr_len = it->fi.l3_off + ipv4_hlen(frame, &it->fi);
	} else {
		it->hdr_len = (uint32_t)it->fi.l4_off + it->fi.l4_len;
	}
	payload = len - it->hdr_len;
	if (payload > GSO_PAYLOAD_MAX)
		return -EINVAL;
	seg_max = payload < m->gso_size ? payload : m->gso_size;
	/* IPv4 total length includes the header, IPv6 payload length the
	 * extension headers (RFC 791, RFC 8200 §3): both are 16 bits. */
	l3_hdr = it->hdr_len - it->fi.l3_off - (it->fi.ipv6 ? IPV6_HLEN : 0);
	if (l3_hdr + seg_max > 0xffff)
		return -EINVAL;
	if (!it->fi.ipv6)
		it->ip_id0 = rd16(frame + it->fi.l3_off + 4);
	if (gso == VIRTIO_NET_HDR_GSO_UDP) {
		/* The checksum of the whole datagram, with the UDP length set
		 * to the real one (written into the first fragment). */
		uint32_t udp_len = len - it->fi.l4_off;
		uint8_t uh[UDP_HLEN];
		/* The reassembled datagram must be a valid one (RFC 791). */
		if (it->hdr_len - it->fi.l3_off + payload > 0xffff)
			return -EINVAL;
		memcpy(uh, frame + it->fi.l4_off, UDP_HLEN);
		wr16(uh + 4, (uint16_t)udp_len);
		wr16(uh + UDP_OFF_CSUM, 0);
		uint32_t sum = pseudo_sum(frame, &it->fi, PROTO_UDP, udp_len);
		sum = inet_csum_add(sum, uh, UDP_HLEN);
		sum = inet_csum_add(sum, frame + it->fi.l4_off + UDP_HLEN, udp_len - UDP_HLEN);
		it->udp_csum = csum_field(sum);
	} else {
		it->seq0 = rd32(frame + it->fi.l4_off + 4);
	}
	it->frame = frame;
	it->len = len;
	it->meta = *m;
	it->pos = it->hdr_len;
	return 0;
}

/* Write TCP segment @it->index with @n payload bytes into @out. */
static uint32_t gso_next_tcp(struct net_dev_gso_iter *it, uint8_t *out, uint32_t n)
{
	const struct net_dev_frame_info *fi = &it->fi;
	uint32_t seg_len = it->hdr_len + n;
	uint8_t *ip = out + fi->l3_off, *th = out + fi->l4_off;
	bool first = it->index == 0, last = it->pos + n >= it->len;

	memcpy(out, it->frame, it->hdr_len);
	memcpy(out + it->hdr_len, it->frame + it->pos, n);
	if (fi->ipv6) {
		wr16(ip + 4, (uint16_t)(seg_len - fi->l3_off - IPV6_HLEN));
	} else {
		/* IPv4 has no extension headers: the header ends at L4 (as
		 * parsed at init, not re-read from the copy). */
		uint32_t ihl = (uint32_t)fi->l4_off - fi->l3_off;
		wr16(ip + 2, (uint16_t)(seg_len - fi->l3_off));
		wr16(ip + 4, (uint16_t)(it->ip_id0 + it->index));
		ipv4_fix_csum(ip, ihl);
	}
	wr32(th + 4, it->seq0 + (it->pos - it->hdr_len));
	if (!last)
		th[13] &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
	/* RFC 3168 §6.1.2 / Linux tcp_gso_segment(): CWR on the first only. */
	if (!first)
		th[13] &= (uint8_t)~TCP_FLAG_CWR;
	uint32_t l4_bytes = seg_len - fi->l4_off;
	wr16(th + TCP_OFF_CSUM, 0);
	uint32_t sum = pseudo_sum(out, fi, PROTO_TCP, l4_bytes);
	wr16(th + TCP_OFF_CSUM, csum_field(inet_csum_add(sum, th, l4_bytes)));
	return seg_len;
}

/* Write UFO fragment @it->index with @n bytes of IP payload into @out
 * (RFC 791 §3.2 fragmentation; the same id in every fragment). */
static uint32_t gso_next_udp(struct net_dev_gso_iter *it, uint8_t *out, uint32_t n)
{
	const struct net_dev_frame_info *fi = &it->fi;
	uint32_t seg_len = it->hdr_len + n;
	uint32_t frag = it->pos - it->hdr_len; /* bytes into the IP payload */
	uint32_t ihl = it->hdr_len - fi->l3_off;
	uint8_t *ip = out + fi->l3_off;
	bool last = it->pos + n >= it->len;
	bool whole = it->index == 0 && last;

	memcpy(out, it->frame, it->hdr_len);
	memcpy(out + it->hdr_len, it->frame + it->pos, n);
	if (frag == 0) {
		uint8_t *uh = out + fi->l4_off;
		wr16(uh + 4, (uint16_t)(it->len - fi->l4_off));
		wr16(uh + UDP_OFF_CSUM, (uint16_t)it->udp_csum);
	} else {
		ipv4_options_fragment(ip, ihl);
	}
	wr16(ip + 2, (uint16_t)(seg_len - fi->l3_off));
	/* One datagram that fits keeps its flags (DF included); fragments
	 * carry their offset and MF, DF cleared (Linux inet_gso_segment()). */
	if (!whole)
		wr16(ip + 6, (uint16_t)(frag >> 3 | (last ? 0 : IP_MF)));
	ipv4_fix_csum(ip, ihl);
	return seg_len;
}

/**
 * net_dev_gso_next() - write the next segment into @out (capacity @cap).
 * Return: the segment's length; 0 when every payload byte was written
 * (a frame without payload gives one segment of headers); -ENOSPC when
 * the segment does not fit in @cap (nothing consumed: call again with a
 * larger buffer); -EINVAL for an iterator net_dev_gso_init() refused.
 */
int net_dev_gso_next(struct net_dev_gso_iter *it, uint8_t *out, uint32_t cap)
{
	uint32_t n, left, step;

	if (!it->frame)
		return -EINVAL;
	if (it->pos >= it->len && it->index > 0)
		return 0;
	left = it->len - it->pos;
	step = it->meta.gso_size;
	if ((it->meta.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_UDP)
		step &= ~7u; /* fragment offsets count 8-byte units */
	n = left < step ? left : step;
	if (it->hdr_len + n > cap)
		return -ENOSPC;
	if ((it->meta.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_UDP)
		n = gso_next_udp(it, out, n);
	else
		n = gso_next_tcp(it, out, n);
	it->pos += n - it->hdr_len;
	it->index++;
	return (int)n;
}
