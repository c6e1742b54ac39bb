/* SPDX-License-Identifier: MIT */
/*
 * vqnet-tap: offloads between the driver library's struct vnet_drv_offload
 * and the TAP's vnet header (both are the fields of struct virtio_net_hdr,
 * VIRTIO 1.2 §5.1.6; docs/vqnet-tap.md "Offloads").
 *
 * We are the driver, the TAP interface stands in for the guest's stack:
 *  - device -> TAP: the device may hand us partial checksums and GSO
 *    frames once GUEST_CSUM / GUEST_TSO4 / GUEST_TSO6 are negotiated; the
 *    kernel takes them on any TAP write, so the header goes through as is,
 *    but for DATA_VALID, which a TAP write cannot say (see
 *    vt_data_valid_to_partial()).
 *  - TAP -> device: the kernel hands us partial checksums and GSO frames
 *    only as far as TUNSETOFFLOAD allows, and we may transmit them only as
 *    far as CSUM / HOST_TSO4 / HOST_TSO6 (/ HOST_ECN, HOST_UFO) were
 *    negotiated, so TUNSETOFFLOAD follows those.
 * A header that asks for more than was allowed is dropped here, not sent.
 */
#include <endian.h>
#include <linux/if_tun.h>
#include <stdio.h>

#include "base/csum.h"
#include "vqnet_tap.h"

#define F(bit) VNET_DRV_FEATURE(bit)

uint64_t vt_wanted_features(const struct vt_opts *o)
{
	uint64_t f = VNET_DRV_FEATURES_DEFAULT | F(VNET_DRV_F_MTU) | F(VNET_DRV_F_INDIRECT_DESC);

	/* The control queue only when a command needs it: DPDK's vhost
	 * library offers CTRL_VQ but leaves it to its frontend (QEMU) to
	 * serve, so a command there would time out. */
	if (o->queues == 1 && !o->have_mac)
		f &= ~(F(VNET_DRV_F_CTRL_VQ) | F(VNET_DRV_F_CTRL_RX) | F(VNET_DRV_F_MQ) |
		       F(VNET_DRV_F_CTRL_MAC_ADDR));
	if (o->offloads)
		f |= F(VNET_DRV_F_CSUM) | F(VNET_DRV_F_GUEST_CSUM) | F(VNET_DRV_F_HOST_TSO4) |
		     F(VNET_DRV_F_HOST_TSO6) | F(VNET_DRV_F_GUEST_TSO4) | F(VNET_DRV_F_GUEST_TSO6);
	return f;
}

unsigned vt_tun_offloads(const struct vnet_drv *drv)
{
	unsigned f = 0;

	/* §5.1.3.1: every HOST_* GSO feature requires CSUM; so does
	 * the kernel for TUN_F_TSO*. */
	if (!vnet_drv_has_feature(drv, VIRTIO_NET_F_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (vnet_drv_has_feature(drv, VIRTIO_NET_F_HOST_TSO4))
		f |= TUN_F_TSO4;
	if (vnet_drv_has_feature(drv, VIRTIO_NET_F_HOST_TSO6))
		f |= TUN_F_TSO6;
	if ((f & (TUN_F_TSO4 | TUN_F_TSO6)) && vnet_drv_has_feature(drv, VIRTIO_NET_F_HOST_ECN))
		f |= TUN_F_TSO_ECN;
	if (vnet_drv_has_feature(drv, VIRTIO_NET_F_HOST_UFO))
		f |= TUN_F_UFO;
	return f;
}

unsigned vt_guest_offloads(const struct vnet_drv *drv)
{
	unsigned f = 0;

	if (!vnet_drv_has_feature(drv, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (vnet_drv_has_feature(drv, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (vnet_drv_has_feature(drv, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (vnet_drv_has_feature(drv, VIRTIO_NET_F_GUEST_ECN))
		f |= TUN_F_TSO_ECN;
	if (vnet_drv_has_feature(drv, VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	return f;
}

void vt_hdr_from_offload(struct virtio_net_hdr_v1 *h, const struct vnet_drv_offload *ol)
{
	h->flags = ol->flags;
	h->gso_type = ol->gso_type;
	h->hdr_len = htole16(ol->hdr_len);
	h->gso_size = htole16(ol->gso_size);
	h->csum_start = htole16(ol->csum_start);
	h->csum_offset = htole16(ol->csum_offset);
	h->num_buffers = 0; /* the kernel ignores it on write */
}

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Where the transport header of an unfragmented IPv4 / IPv6 TCP or UDP
 * frame @f starts, its length and the pseudo-header sum (RFC 9293 §3.1,
 * RFC 8200 §8.1); 0 for anything else or headers beyond @len. */
static uint32_t l4_of(const uint8_t *f, uint32_t len, uint32_t *l4_len, uint32_t *sum,
		      uint8_t *proto)
{
	const uint8_t *ip = f + 14;
	uint32_t l4;

	if (len < 14 + 40)
		return 0;
	if (be16_at(f + 12) == 0x0800 && (ip[0] >> 4) == 4) {
		l4 = 14 + (uint32_t)(ip[0] & 0xf) * 4;
		if ((ip[6] & 0x3f) || ip[7] || be16_at(ip + 2) < l4 - 14)
			return 0;
		*proto = ip[9];
		*l4_len = be16_at(ip + 2) - (l4 - 14);
	} else if (be16_at(f + 12) == 0x86dd) {
		l4 = 14 + 40;
		*proto = ip[6];
		*l4_len = be16_at(ip + 4);
	} else {
		return 0;
	}
	if ((*proto != 6 && *proto != 17) || l4 + (*proto == 6 ? 18u : 8u) > len)
		return 0;
	*sum = be16_at(f + 12) == 0x86dd ? inet_pseudo_sum(ip + 8, ip + 24, 16, *proto, *l4_len)
					 : inet_pseudo_sum(ip + 12, ip + 16, 4, *proto, *l4_len);
	return l4;
}

/*
 * DATA_VALID from the device: the transport checksum was checked, or was
 * never made (passt leaves TCP's at 0), and a driver may trust the frame
 * (VIRTIO 1.2 §5.1.6.4.1). A TAP write has no such flag: the kernel checks
 * what it is given and would drop the frame. So a TCP or UDP frame goes to
 * the TAP as a partial checksum instead: NEEDS_CSUM, the pseudo-header sum
 * in the field, which the kernel trusts for local delivery and completes
 * if it forwards the frame. @f: the frame's first segment (@len bytes),
 * ours to write.
 */
void vt_data_valid_to_partial(struct virtio_net_hdr_v1 *h, uint8_t *f, uint32_t len)
{
	uint32_t l4_len, sum, l4;
	uint8_t proto;
	uint16_t off, v;

	if (!(h->flags & VIRTIO_NET_HDR_F_DATA_VALID) || (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
	    h->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return;
	l4 = l4_of(f, len, &l4_len, &sum, &proto);
	if (!l4)
		return;
	off = proto == 6 ? 16 : 6;
	v = inet_csum_fold16(sum);
	f[l4 + off] = (uint8_t)(v >> 8);
	f[l4 + off + 1] = (uint8_t)v;
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = htole16((uint16_t)l4);
	h->csum_offset = htole16(off);
}

/* The TUN_F_* flag a GSO type needs, or 0 for one never allowed. */
static unsigned gso_needs(uint8_t gso_type)
{
	switch (gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return TUN_F_TSO4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return TUN_F_TSO6;
	case VIRTIO_NET_HDR_GSO_UDP:
		return TUN_F_UFO;
	default:
		return 0;
	}
}

int vt_offload_from_hdr(struct vnet_drv_offload *ol, const struct virtio_net_hdr_v1 *h,
			uint32_t len, unsigned tun_offloads)
{
	/* §5.1.6.2.1: DATA_VALID (which the kernel sets on frames whose
	 * checksum it checked) and RSC_INFO are for received frames only. */
	*ol = (struct vnet_drv_offload){
		.flags = h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = h->gso_type,
		.hdr_len = le16toh(h->hdr_len),
		.gso_size = le16toh(h->gso_size),
		.csum_start = le16toh(h->csum_start),
		.csum_offset = le16toh(h->csum_offset),
	};
	if (ol->flags) {
		if (!(tun_offloads & TUN_F_CSUM) ||
		    (uint32_t)ol->csum_start + ol->csum_offset + 2 > len)
			return -1;
	}
	if (ol->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (!(tun_offloads & gso_needs(ol->gso_type)) || !ol->gso_size || !ol->flags)
		return -1;
	if ((ol->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(tun_offloads & TUN_F_TSO_ECN))
		return -1;
	return 0;
}

const char *vt_offload_names(unsigned tun_offloads, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", tun_offloads & TUN_F_CSUM ? " csum" : "",
		 tun_offloads & TUN_F_TSO4 ? " tso4" : "", tun_offloads & TUN_F_TSO6 ? " tso6" : "",
		 tun_offloads & TUN_F_TSO_ECN ? " ecn" : "",
		 tun_offloads & TUN_F_UFO ? " ufo" : "");
	return buf[0] ? buf + 1 : "none";
}
