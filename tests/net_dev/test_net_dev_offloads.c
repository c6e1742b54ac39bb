/* SPDX-License-Identifier: MIT */
/*
 * Offloads through the device (net_dev_fixture.h has the environment):
 * checksums finished and TSO frames segmented in software for a backend
 * without those offloads; receive offloads passed to a guest that takes
 * them, and done by the device after CTRL_GUEST_OFFLOADS turned them off.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_dev_fixture.h"

/* A partial checksum finished in software for a backend without CSUM. */
static void test_csum_sw(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .caps = 0, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .csum_start = htole16(34),
				      .csum_offset = htole16(16)};
	uint32_t len = make_tcp4(f, 333, true);

	(void)state;
	assert_false(tcp4_csum_ok(f, len));
	rx_post(e, 2, RX_SLOT);
	tx_send(e, &h, f, len, true);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(h.flags, 0);
	assert_true(tcp4_csum_ok(got, len));
	assert_memory_equal(got, f, 50); /* headers up to the checksum */
	assert_memory_equal(got + 52, f + 52, len - 52);
	assert_int_equal(qs(e, txq(e)).csum_finished, 1);
	env_free(e);
}

/* A TSO frame segmented in software for a backend without TSO. */
static void test_tso_sw(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .caps = 0, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	static uint8_t f[8192], got[4096];
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				      .hdr_len = htole16(54),
				      .gso_size = htole16(1000),
				      .csum_start = htole16(34),
				      .csum_offset = htole16(16)};
	uint32_t len = make_tcp4(f, 4000, true);

	(void)state;
	rx_post(e, 8, RX_SLOT);
	tx_send(e, &h, f, len, false);
	for (unsigned i = 0; i < 4; i++) {
		struct virtio_net_hdr_v1 rh;
		int n = rx_recv(e, &rh, got, WAIT_MS);

		assert_int_equal(n, 54 + 1000);
		assert_int_equal(rh.gso_type, 0);
		assert_true(tcp4_csum_ok(got, (uint32_t)n));
		assert_int_equal(get32(got + 38), 4096 + i * 1000);
		assert_memory_equal(got + 54, f + 54 + i * 1000, 1000);
	}
	assert_int_equal(qs(e, txq(e)).gso_segmented, 1);
	assert_int_equal(atomic_load(&e->tbe.tx_frames), 4);
	env_free(e);
}

/* Receive offloads: a GSO frame reaches a guest that takes it as is; after
 * CTRL_GUEST_OFFLOADS turned them off, the device segments it and
 * finishes the checksums. */
static void test_rx_offloads(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .caps = NETBE_CAP_ALL,
			 .want = WANT_DEFAULT | F(VIRTIO_NET_F_GUEST_CSUM) |
				 F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	static uint8_t f[8192], got[8192];
	struct netbe_meta m = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			       .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
			       .hdr_len = 54,
			       .gso_size = 1000,
			       .csum_start = 34,
			       .csum_offset = 16};
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_tcp4(f, 3000, true);
	uint64_t none = 0;

	(void)state;
	assert_int_equal(atomic_load(&e->tbe.rx_offloads), NETBE_CAP_CSUM | NETBE_CAP_TSO4);
	rx_post(e, 16, RX_SLOT);
	tbe_inject(&e->tbe, e->cur, f, len, &m);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(le16toh(h.gso_size), 1000);
	assert_int_equal(le16toh(h.csum_start), 34);
	assert_true(le16toh(h.num_buffers) >= 2);
	assert_memory_equal(got, f, len);

	assert_int_equal(ctrl_cmd(e, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
				  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &none, sizeof(none)),
			 VIRTIO_NET_OK);
	assert_int_equal(atomic_load(&e->tbe.rx_offloads), 0);
	tbe_inject(&e->tbe, e->cur, f, len, &m); /* a backend that ignores set_rx_offloads */
	for (unsigned i = 0; i < 3; i++) {
		int n = rx_recv(e, &h, got, WAIT_MS);

		assert_int_equal(n, 54 + 1000);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.gso_type, 0);
		assert_true(tcp4_csum_ok(got, (uint32_t)n));
		assert_memory_equal(got + 54, f + 54 + i * 1000, 1000);
	}
	assert_int_equal(qs(e, rxq(e)).gso_segmented, 1);
	env_free(e);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_sw),
		cmocka_unit_test(test_tso_sw),
		cmocka_unit_test(test_rx_offloads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
