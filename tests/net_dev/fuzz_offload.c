/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the transmit offloads (lib/net_dev/offload.h) against a hostile
 * guest, which writes both the virtio-net header and the frame.
 *
 * Input: flags u8, gso_type u8, gso_size u16, csum_start u16, csum_offset
 * u16, hdr_len u16 (little-endian: the header's fields), cap u8 (segment
 * buffer size: 64 + 256 * cap bytes), then the frame (the rest, up to
 * FRAME_MAX bytes). Every buffer handed to the library is a heap block of
 * its exact size, so ASan reports any access past it.
 *
 * Invariants (FUZZ_CHECK):
 *  - net_dev_frame_parse(): offsets it reports lie inside the frame;
 *  - net_dev_tx_meta_check(): 0 or -EINVAL, a reason exactly when refused,
 *    never an accepted checksum field outside the frame, never an accepted
 *    GSO frame without NEEDS_CSUM or with gso_size 0;
 *  - net_dev_csum_finish() on a copy: succeeds exactly when the field fits,
 *    writes nothing but the field;
 *  - GSO (when the header check passed): every segment fits the buffer,
 *    starts with the frame's L2 header, carries at most gso_size payload
 *    bytes after the same hdr_len bytes of headers, IPv4 segments have a
 *    valid header checksum, IPv4 TCP segments a valid TCP checksum; the
 *    payloads add up to the frame's; the iteration ends; the frame is not
 *    written.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_input.h"
#include "net_dev/offload.h"
#include "spec/virtio_net.h"

#define FRAME_MAX (65535u + 256u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint64_t sum16(uint64_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	return s;
}

static void check_parse(const uint8_t *f, uint32_t len)
{
	struct net_dev_frame_info fi;
	int rc = net_dev_frame_parse(f, len, &fi);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc)
		return;
	FUZZ_CHECK(fi.l3_off <= len);
	FUZZ_CHECK(!fi.l4_off || (uint32_t)fi.l4_off + fi.l4_len <= len);
	FUZZ_CHECK(!fi.l4_off || fi.l4_off > fi.l3_off);
}

static void check_csum_finish(const uint8_t *f, uint32_t len, const struct netbe_meta *m)
{
	uint8_t *c = malloc(len ? len : 1);
	uint32_t field = (uint32_t)m->csum_start + m->csum_offset;

	FUZZ_CHECK(c);
	memcpy(c, f, len);
	int rc = net_dev_csum_finish(c, len, m->csum_start, m->csum_offset);
	FUZZ_CHECK(rc == (field + 2 <= len ? 0 : -EINVAL));
	if (rc == 0) {
		FUZZ_CHECK(memcmp(c, f, field) == 0);
		FUZZ_CHECK(memcmp(c + field + 2, f + field + 2, len - field - 2) == 0);
	} else {
		FUZZ_CHECK(memcmp(c, f, len) == 0);
	}
	free(c);
}

/* One segment's invariants. */
static void check_segment(const struct net_dev_gso_iter *it, const uint8_t *seg, uint32_t sl)
{
	const struct net_dev_frame_info *fi = &it->fi;

	FUZZ_CHECK(sl >= it->hdr_len);
	FUZZ_CHECK(sl - it->hdr_len <= it->meta.gso_size);
	FUZZ_CHECK(memcmp(seg, it->frame, fi->l3_off) == 0);
	if (fi->ipv6)
		return;
	const uint8_t *ip = seg + fi->l3_off;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
	FUZZ_CHECK(fi->l3_off + ihl <= sl);
	FUZZ_CHECK(fold(sum16(0, ip, ihl)) == 0xffff);
	FUZZ_CHECK((uint32_t)(ip[2] << 8 | ip[3]) == sl - fi->l3_off);
	if (fi->l4_proto == 6) {
		uint32_t l4 = sl - fi->l4_off;
		uint8_t ph[4] = {0, 6, (uint8_t)(l4 >> 8), (uint8_t)l4};
		uint64_t s = sum16(sum16(0, ip + 12, 8), ph, 4);
		FUZZ_CHECK(fold(sum16(s, seg + fi->l4_off, l4)) == 0xffff);
	}
}

static void check_gso(const uint8_t *f, uint32_t len, const struct netbe_meta *m, uint32_t cap)
{
	uint8_t *c = malloc(len ? len : 1), *seg = malloc(cap);
	struct net_dev_gso_iter it;
	uint64_t payload = 0;
	uint32_t nseg = 0;
	int sl;

	FUZZ_CHECK(c && seg);
	memcpy(c, f, len);
	if (net_dev_gso_init(&it, c, len, m) == 0) {
		FUZZ_CHECK(it.hdr_len <= len);
		while ((sl = net_dev_gso_next(&it, seg, cap)) > 0) {
			FUZZ_CHECK((uint32_t)sl <= cap);
			check_segment(&it, seg, (uint32_t)sl);
			payload += (uint32_t)sl - it.hdr_len;
			FUZZ_CHECK(++nseg <= 65536);
		}
		FUZZ_CHECK(sl == 0 || sl == -ENOSPC);
		if (sl == 0)
			FUZZ_CHECK(payload == len - it.hdr_len);
		else
			FUZZ_CHECK(it.hdr_len + (uint32_t)m->gso_size > cap);
		FUZZ_CHECK(memcmp(c, f, len) == 0);
	}
	free(seg);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct netbe_meta m;
	const char *why = NULL;

	m.flags = fin_u8(&in);
	m.gso_type = fin_u8(&in);
	m.gso_size = fin_u16(&in);
	m.csum_start = fin_u16(&in);
	m.csum_offset = fin_u16(&in);
	m.hdr_len = fin_u16(&in);
	uint32_t cap = 64 + 256u * fin_u8(&in);
	uint32_t len = in.left > FRAME_MAX ? FRAME_MAX : (uint32_t)in.left;
	uint8_t *f = malloc(len ? len : 1);
	FUZZ_CHECK(f);
	memcpy(f, in.p, len);

	check_parse(f, len);
	uint32_t head_len = len < NET_DEV_TX_HEAD_MAX ? len : NET_DEV_TX_HEAD_MAX;
	int rc = net_dev_tx_meta_check(f, head_len, len, &m, &why);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK((rc == 0) == (why == NULL));
	if (rc == 0 && (m.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		FUZZ_CHECK((uint32_t)m.csum_start + m.csum_offset + 2 <= len);
	if (rc == 0 && m.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		FUZZ_CHECK((m.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && m.gso_size > 0);
	if (m.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		check_csum_finish(f, len, &m);
	/* The device segments only what passed the check; the iterator
	 * checks again on its own, so try every input. */
	check_gso(f, len, &m, cap);
	free(f);
	return 0;
}
