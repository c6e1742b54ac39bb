/* SPDX-License-Identifier: MIT */
/*
 * The TAP backend's vnet header (tap_vnet_hdr.h): struct netbe_meta to the
 * 12-byte little-endian struct virtio_net_hdr_v1 the kernel reads on
 * write, and back on read, where the header comes from the kernel (and,
 * through it, from whatever sent the frame) and is checked before the
 * device sees it. Its own file so the fuzz target
 * tests/netbe/fuzz_tap_vnet_hdr.c drives the same code.
 */
#include <endian.h>

#include "tap_vnet_hdr.h"

/* The vnet header in front of a transmitted frame (VIRTIO 1.2 §5.1.6). */
void tap_vnet_hdr_from_meta(struct virtio_net_hdr_v1 *h, const struct netbe_meta *m)
{
	h->flags = m->flags;
	h->gso_type = m->gso_type;
	h->hdr_len = htole16(m->hdr_len);
	h->gso_size = htole16(m->gso_size);
	h->csum_start = htole16(m->csum_start);
	h->csum_offset = htole16(m->csum_offset);
	h->num_buffers = 0;
}

/* May a received frame with offload metadata @m go to a device that
 * allowed the offloads @allowed (set_rx_offloads())? Flags other than
 * NEEDS_CSUM/DATA_VALID and unknown GSO types never may; a partial
 * checksum needs NETBE_CAP_CSUM, a GSO type its NETBE_CAP_*. */
bool tap_vnet_meta_allowed(const struct netbe_meta *m, uint32_t allowed)
{
	uint32_t need = 0;

	if (m->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return false;
	if (m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		need |= NETBE_CAP_CSUM;
	switch (m->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (m->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return false;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		need |= NETBE_CAP_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		need |= NETBE_CAP_TSO6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		need |= NETBE_CAP_UFO;
		break;
	default:
		return false;
	}
	if (m->gso_type & VIRTIO_NET_HDR_GSO_ECN)
		need |= NETBE_CAP_ECN;
	return (allowed & need) == need;
}

/* Turn a received vnet header into metadata the device may see. Return 0,
 * or -1 for a header we must not pass on (rx_errors). */
int tap_vnet_meta_from_hdr(struct netbe_meta *m, const struct virtio_net_hdr_v1 *h, uint32_t len,
			   uint32_t allowed)
{
	m->flags = h->flags;
	m->gso_type = h->gso_type;
	m->hdr_len = le16toh(h->hdr_len);
	m->gso_size = le16toh(h->gso_size);
	m->csum_start = le16toh(h->csum_start);
	m->csum_offset = le16toh(h->csum_offset);
	/* §5.1.6.4.1: without GUEST_CSUM, flags are zero; DATA_VALID is
	 * only a hint, so dropping it is safe. */
	if (!(allowed & NETBE_CAP_CSUM))
		m->flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID;
	if (!tap_vnet_meta_allowed(m, allowed))
		return -1;
	if ((m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (uint32_t)m->csum_start + m->csum_offset + 2 > len)
		return -1;
	if (m->gso_type != VIRTIO_NET_HDR_GSO_NONE && !m->gso_size)
		return -1;
	return 0;
}
