/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the TAP backend's vnet header translation
 * (lib/netbe/tap_vnet_hdr.c), the check between the kernel's (or a
 * peer's) header and the device: tap_vnet_meta_from_hdr() on any header,
 * frame length and allowed offloads, and tap_vnet_hdr_from_meta() back.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h),
 * records until the input ends, each:
 *   u8  allowed offloads (NETBE_CAP_* bits, set_rx_offloads())
 *   u32 frame length (what readv() returned past the header)
 *   12 bytes: the struct virtio_net_hdr_v1 read
 *
 * Invariants (FUZZ_CHECK), against an independent reading of §5.1.6.4 and
 * the backend's rules (tap.c's header comment):
 *  - accepted exactly when: flags hold only NEEDS_CSUM / DATA_VALID
 *    (DATA_VALID is cleared first when CSUM is not allowed); NEEDS_CSUM
 *    only with CAP_CSUM and csum_start + csum_offset + 2 <= len; gso_type
 *    NONE (without the ECN bit), or TCPV4 / TCPV6 / UDP with its cap, the
 *    ECN bit with CAP_ECN, and gso_size != 0;
 *  - accepted metadata carries the header's fields in host order (flags
 *    minus a cleared DATA_VALID), and tap_vnet_meta_allowed() agrees;
 *  - tap_vnet_hdr_from_meta() of accepted metadata gives back the same
 *    header bytes (num_buffers 0), which is accepted again unchanged.
 */
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../fuzz/fuzz_input.h"
#include "netbe/tap_vnet_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool oracle(const struct virtio_net_hdr_v1 *h, uint32_t len, uint32_t allowed)
{
	uint8_t flags = h->flags;
	if (!(allowed & NETBE_CAP_CSUM))
		flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID;
	if (flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return false;
	if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(allowed & NETBE_CAP_CSUM))
			return false;
		if ((uint64_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2 > len)
			return false;
	}
	bool ecn = h->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	uint32_t need;
	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return !ecn;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		need = NETBE_CAP_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		need = NETBE_CAP_TSO6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		need = NETBE_CAP_UFO;
		break;
	default:
		return false;
	}
	if (ecn)
		need |= NETBE_CAP_ECN;
	return (allowed & need) == need && h->gso_size != 0;
}

static void one(uint32_t allowed, uint32_t len, const struct virtio_net_hdr_v1 *h)
{
	struct netbe_meta m;
	int rc = tap_vnet_meta_from_hdr(&m, h, len, allowed);
	bool ok = oracle(h, len, allowed);

	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ok);
	if (rc)
		return;
	uint8_t flags = h->flags;
	if (!(allowed & NETBE_CAP_CSUM))
		flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID;
	FUZZ_CHECK(m.flags == flags && m.gso_type == h->gso_type);
	FUZZ_CHECK(m.hdr_len == le16toh(h->hdr_len) && m.gso_size == le16toh(h->gso_size));
	FUZZ_CHECK(m.csum_start == le16toh(h->csum_start) &&
		   m.csum_offset == le16toh(h->csum_offset));
	FUZZ_CHECK(tap_vnet_meta_allowed(&m, allowed));

	/* Back to a header (as tx() writes it) and in again. */
	struct virtio_net_hdr_v1 h2, want = *h;
	struct netbe_meta m2;
	want.flags = flags;
	want.num_buffers = 0;
	tap_vnet_hdr_from_meta(&h2, &m);
	FUZZ_CHECK(!memcmp(&h2, &want, sizeof(h2)));
	FUZZ_CHECK(tap_vnet_meta_from_hdr(&m2, &h2, len, allowed) == 0);
	FUZZ_CHECK(!memcmp(&m, &m2, sizeof(m)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	while (in.left) {
		uint32_t allowed = fin_u8(&in);
		uint32_t len = fin_u32(&in);
		struct virtio_net_hdr_v1 h;
		uint8_t raw[sizeof(h)];
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = fin_u8(&in);
		memcpy(&h, raw, sizeof(h));
		one(allowed, len, &h);
	}
	return 0;
}
