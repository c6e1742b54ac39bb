/* SPDX-License-Identifier: MIT */
/*
 * A hostile driver against the device (net_dev_fixture.h has the
 * environment): a descriptor outside guest memory on transmit, a malformed
 * receive chain in the middle of a merged frame, a corrupt ring; each is
 * counted and everything else keeps working.
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

/* A descriptor outside guest memory: completed with length 0, counted;
 * the queue keeps working. */
static void test_malformed_chain(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	struct vq_drv_buf b = {SHM_GPA + SHM_SIZE + 4096, 100};
	struct vq_drv_used u;
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	(void)state;
	rx_post(e, 4, RX_SLOT);
	assert_true(vq_drv_add_chain(e->q[txq(e)].d, &b, 1, 0, false, (void *)7) >= 0);
	dq_kick(&e->q[txq(e)]);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_BAD_CHAIN] == 1);
	WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, &u, 1) == 1);
	assert_int_equal(u.len, 0);
	assert_ptr_equal(u.token, (void *)7);
	len = make_raw(f, 200, dev_mac, 4);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	env_free(e);
}

/* A malformed receive chain in the middle of a merged frame: it and the
 * chain taken before it are completed empty (in order), counted, and the
 * frame goes to the next chains. */
static void malformed_rx_chain(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT | F(VIRTIO_F_IN_ORDER), .mtu = 1500};
	struct env *e = env_new(&o);
	struct vq_drv_buf bad = {SHM_GPA + SHM_SIZE + 4096, 500};
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1200, dev_mac, 8);

	rx_post(e, 1, 500);
	assert_true(vq_drv_add_chain(e->q[rxq(e)].d, &bad, 0, 1, false, (void *)0x100) >= 0);
	rx_post(e, 3, 500);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	WAIT_FOR((rx_reap(e), e->rx_nused[e->cur] >= 2));
	assert_int_equal(e->rx_used[e->cur][0].len, 0);
	assert_int_equal(e->rx_used[e->cur][1].len, 0);
	assert_ptr_equal(e->rx_used[e->cur][1].token, (void *)0x100);
	memmove(e->rx_used[e->cur], e->rx_used[e->cur] + 2,
		(e->rx_nused[e->cur] - 2) * sizeof(e->rx_used[e->cur][0]));
	e->rx_nused[e->cur] -= 2;
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_memory_equal(got, f, len);
	assert_int_equal(qs(e, rxq(e)).drops[NET_DEV_DROP_BAD_CHAIN], 1);
	env_free(e);
}

static void test_malformed_rx_chain(void **state)
{
	(void)state;
	malformed_rx_chain(VQ_FORMAT_SPLIT);
	malformed_rx_chain(VQ_FORMAT_PACKED);
}

/* A corrupt ring (split avail idx jump) breaks only that queue; the
 * receive queue keeps working and the next connection is served. */
static void test_broken_ring(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint16_t *avail_idx;
	uint32_t len;

	(void)state;
	avail_idx = (uint16_t *)(e->shm.base + e->q[txq(e)].driver_off + 2);
	__atomic_store_n(avail_idx, htole16(QSIZE + 7), __ATOMIC_RELEASE);
	efd_signal(e->q[txq(e)].kick_fd);
	WAIT_FOR(qs(e, txq(e)).errors == 1);
	rx_post(e, 2, RX_SLOT);
	len = make_raw(f, 300, dev_mac, 6);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);

	fe_close(e);
	fe_open(e);
	rx_post(e, 2, RX_SLOT);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	env_free(e);
}
/* ------------------------------------------------------------------------
 * Transmit chains built by hand (the hostile-input rows of docs/security.md)
 * ------------------------------------------------------------------------ */

static uint64_t drops_total(struct env *e, unsigned index)
{
	struct net_dev_queue_stats s = qs(e, index);
	uint64_t n = 0;

	for (unsigned i = 0; i < NET_DEV_DROP__COUNT; i++)
		n += s.drops[i];
	return n;
}

/* Guest memory of the next transmit slot (offset into the shared area). */
static uint64_t tx_slot(struct env *e)
{
	return TX_BASE + (uint64_t)(e->tx_next++ % TX_SLOTS) * TX_SLOT;
}

/* Set the length of the not yet published descriptor that points at @gpa
 * to 0 (split and packed descriptors both keep addr at 0 and len at 8). */
static void desc_zero_len(struct env *e, uint64_t gpa)
{
	uint8_t *t = e->shm.base + e->q[txq(e)].desc_off;

	for (unsigned i = 0; i < QSIZE; i++) {
		uint64_t a;

		memcpy(&a, t + 16 * i, 8);
		if (le64toh(a) == gpa) {
			memset(t + 16 * i + 8, 0, 4);
			return;
		}
	}
	fail_msg("descriptor for %#llx not found", (unsigned long long)gpa);
}

/* Wait for the completion of the transmit chain @token: length 0. */
static void tx_wait_done(struct env *e, void *token)
{
	struct vq_drv_used u;

	WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, &u, 1) == 1);
	assert_ptr_equal(u.token, token);
	assert_int_equal(u.len, 0);
}

/* A good frame out and back on the current pair. */
static void tx_still_works(struct env *e, uint8_t seed)
{
	uint8_t f[256], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 200, dev_mac, seed);

	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	tx_reap_all(e);
}

/* D1: transmit chains of 0, 1 and 12 bytes (12: the header alone, no
 * frame) are completed with length 0 and counted once each: 0 bytes is a
 * zero-length descriptor (BAD_CHAIN), 1 and 12 are TX_SHORT; nothing
 * reaches the backend and the queue keeps working. */
static void tx_tiny_chains(enum vq_format fmt)
{
	static const uint32_t lens[] = {0, 1, HDR};
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);

	rx_post(e, 4, RX_SLOT);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t off = tx_slot(e), before = drops_total(e, txq(e));
		struct vq_drv_buf b = {e->shm.gpa + off, lens[i] ? lens[i] : 1};
		enum net_dev_drop why = lens[i] ? NET_DEV_DROP_TX_SHORT : NET_DEV_DROP_BAD_CHAIN;
		uint64_t why_before = qs(e, txq(e)).drops[why];
		void *token = (void *)(uintptr_t)(0x10 + i);

		memset(e->shm.base + off, 0, HDR);
		assert_true(vq_drv_add_chain(e->q[txq(e)].d, &b, 1, 0, false, token) >= 0);
		if (!lens[i])
			desc_zero_len(e, b.gpa);
		dq_kick(&e->q[txq(e)]);
		tx_wait_done(e, token);
		/* counted before completion: the counts are final now */
		assert_int_equal(drops_total(e, txq(e)), before + 1);
		assert_int_equal(qs(e, txq(e)).drops[why], why_before + 1);
	}
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_BAD_CHAIN], 1);
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_TX_SHORT], 2);
	assert_int_equal(atomic_load(&e->tbe.tx_frames), 0);
	assert_int_equal(qs(e, txq(e)).packets, 0);
	tx_still_works(e, 1);
	assert_int_equal(qs(e, txq(e)).packets, 1);
	assert_int_equal(drops_total(e, txq(e)), 3);
	env_free(e);
}

static void test_tx_tiny_chains(void **state)
{
	(void)state;
	tx_tiny_chains(VQ_FORMAT_SPLIT);
	tx_tiny_chains(VQ_FORMAT_PACKED);
}

/* Add a chain whose header is 12 one-byte descriptors followed by the
 * frame in one more. The header bytes are two apart, 0xff between them,
 * so that reading the first buffer past its length gives a wrong header. */
static void tx_add_bytewise_hdr(struct env *e, const struct virtio_net_hdr_v1 *h,
				const uint8_t *frame, uint32_t len, void *token)
{
	uint64_t off = tx_slot(e);
	const uint8_t *hb = (const uint8_t *)h;
	struct vq_drv_buf b[HDR + 1];

	memset(e->shm.base + off, 0xff, 2 * HDR);
	for (unsigned i = 0; i < HDR; i++) {
		e->shm.base[off + 2 * i] = hb[i];
		b[i] = (struct vq_drv_buf){e->shm.gpa + off + 2 * i, 1};
	}
	memcpy(e->shm.base + off + 2 * HDR, frame, len);
	b[HDR] = (struct vq_drv_buf){e->shm.gpa + off + 2 * HDR, len};
	assert_true(vq_drv_add_chain(e->q[txq(e)].d, b, HDR + 1, 0, false, token) >= 0);
	dq_kick(&e->q[txq(e)]);
}

/* D2: a header spread over 12 one-byte descriptors is gathered whole: a
 * plain frame goes through intact, and a NEEDS_CSUM frame (backend
 * without CSUM) has its checksum finished at the csum_start/csum_offset
 * read from those bytes. */
static void tx_bytewise_hdr(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .caps = 0, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	struct virtio_net_hdr_v1 h = {0}, rh;
	uint8_t f[2048], got[4096];
	uint32_t len = make_raw(f, 777, dev_mac, 9);

	rx_post(e, 4, RX_SLOT);
	tx_add_bytewise_hdr(e, &h, f, len, (void *)0x21);
	assert_int_equal(rx_recv(e, &rh, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	tx_wait_done(e, (void *)0x21);

	h = (struct virtio_net_hdr_v1){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .csum_start = htole16(34),
				       .csum_offset = htole16(16)};
	len = make_tcp4(f, 333, true);
	assert_false(tcp4_csum_ok(f, len));
	tx_add_bytewise_hdr(e, &h, f, len, (void *)0x22);
	assert_int_equal(rx_recv(e, &rh, got, WAIT_MS), (int)len);
	assert_true(tcp4_csum_ok(got, len));
	assert_memory_equal(got, f, 50);
	assert_memory_equal(got + 52, f + 52, len - 52);
	tx_wait_done(e, (void *)0x22);
	assert_int_equal(qs(e, txq(e)).csum_finished, 1);
	assert_int_equal(drops_total(e, txq(e)), 0);
	env_free(e);
}

static void test_tx_bytewise_hdr(void **state)
{
	(void)state;
	tx_bytewise_hdr(VQ_FORMAT_SPLIT);
	tx_bytewise_hdr(VQ_FORMAT_PACKED);
}

/* Send a GSO frame of type @gso (a TCP/IPv4 frame, UDP/IPv4 for
 * GSO_UDP) that is right in every way but the feature: it must be dropped
 * as TX_BAD_HDR, completed with length 0 and never reach the backend. */
static void tx_gso_refused(struct env *e, uint8_t gso)
{
	static uint8_t f[8192];
	bool udp = (gso & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_UDP;
	uint32_t len = make_tcp4(f, 3000, true);
	uint64_t bad = qs(e, txq(e)).drops[NET_DEV_DROP_TX_BAD_HDR];
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .gso_type = gso,
				      .hdr_len = htole16(udp ? 42 : 54),
				      .gso_size = htole16(1000),
				      .csum_start = htole16(34),
				      .csum_offset = htole16(udp ? 6 : 16)};

	if (udp)
		f[23] = 17; /* IPv4 protocol: UDP; its 8-byte header at 34 */
	tx_send(e, &h, f, len, false);
	WAIT_FOR((tx_reap_all(e), vq_drv_in_flight(e->q[txq(e)].d) == 0));
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_TX_BAD_HDR], bad + 1);
	assert_int_equal(atomic_load(&e->tbe.tx_frames), 0);
	assert_int_equal(qs(e, txq(e)).packets, 0);
}

/* D6: a GSO type whose HOST_* feature was not negotiated is dropped
 * (TX_BAD_HDR, §5.1.6.2.1), completed with length 0 and not sent, though
 * the backend could take it (caps ALL): TCPV4 without HOST_TSO4, UDP
 * without HOST_UFO, TCPV4 with the ECN bit without HOST_ECN. */
static void test_tx_gso_not_negotiated(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .caps = NETBE_CAP_ALL,
			 .want = WANT_DEFAULT & ~F(VIRTIO_NET_F_HOST_TSO4),
			 .mtu = 1500};
	struct env *e = env_new(&o);

	(void)state;
	assert_false(e->features & F(VIRTIO_NET_F_HOST_TSO4));
	rx_post(e, 4, RX_SLOT);
	tx_gso_refused(e, VIRTIO_NET_HDR_GSO_TCPV4);
	tx_still_works(e, 2);
	env_free(e);

	o.want = WANT_DEFAULT;
	e = env_new(&o);
	assert_true(e->features & F(VIRTIO_NET_F_HOST_TSO4));
	assert_false(e->features & F(VIRTIO_NET_F_HOST_UFO));
	assert_false(e->features & F(VIRTIO_NET_F_HOST_ECN));
	rx_post(e, 4, RX_SLOT);
	tx_gso_refused(e, VIRTIO_NET_HDR_GSO_UDP);
	tx_gso_refused(e, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
	assert_int_equal(drops_total(e, txq(e)), 2);
	tx_still_works(e, 3);
	env_free(e);
}

/* The frames in the receive completions reaped so far: a completion of
 * length 0 is an empty buffer (counted in *@empty); otherwise a frame
 * starts with its header, gathered from as many buffers as it spans, and
 * takes num_buffers buffers. Return the number of whole frames, copied
 * into @out[] (FRAME_MAX bytes each) with their lengths in @lens[]. */
static unsigned rx_parse_frames(struct env *e, uint8_t (*out)[FRAME_MAX], uint32_t *lens,
				unsigned max, unsigned *empty)
{
	const struct vq_drv_used *u = e->rx_used[e->cur];
	unsigned n = e->rx_nused[e->cur], i = 0, frames = 0;

	*empty = 0;
	while (i < n && frames < max) {
		uint8_t hb[HDR];
		uint32_t pos = 0, len = 0;
		unsigned nb;

		if (u[i].len == 0) {
			(*empty)++;
			i++;
			continue;
		}
		/* num_buffers is in the header, which may span buffers */
		for (unsigned j = i; pos < HDR; j++) {
			if (j == n)
				return frames;
			assert_true(u[j].len > 0);
			for (uint32_t k = 0; k < u[j].len && pos < HDR; k++)
				hb[pos++] = e->shm.base[rx_base(e) +
							(uint64_t)((uintptr_t)u[j].token - 1) *
								RX_SLOT +
							k];
		}
		nb = (unsigned)hb[10] | (unsigned)hb[11] << 8; /* le16 */
		assert_true(nb >= 1);
		if (i + nb > n)
			return frames;
		pos = 0;
		for (unsigned j = i; j < i + nb; j++) {
			const uint8_t *p = e->shm.base + rx_base(e) +
					   (uint64_t)((uintptr_t)u[j].token - 1) * RX_SLOT;

			for (uint32_t k = 0; k < u[j].len; k++, pos++)
				if (pos >= HDR) {
					assert_true(len < FRAME_MAX);
					out[frames][len++] = p[k];
				}
		}
		lens[frames++] = len;
		i += nb;
	}
	return frames;
}

/* D9: with MRG_RXBUF, receive buffers smaller than the 12-byte header
 * (4 bytes; §5.1.6.3.1 says a driver MUST NOT post them). A frame's first
 * buffer must hold the whole header (num_buffers is read from it; Linux
 * drops a shorter one), so each such buffer is completed empty and counted
 * (RX_SMALL_BUF) and the frames go to the big buffers behind, intact and
 * in order; nothing else is dropped. */
static void rx_tiny_mrg_buffers(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	static uint8_t got[2][FRAME_MAX];
	uint8_t a[128], b[256];
	uint32_t alen = make_raw(a, 60, dev_mac, 10), blen = make_raw(b, 200, dev_mac, 11);
	uint32_t lens[2];
	unsigned empty;

	rx_post(e, (HDR + 60) / 4, 4); /* exactly enough for a, spread */
	rx_post(e, 2, RX_SLOT);
	tbe_inject(&e->tbe, e->cur, a, alen, NULL);
	tbe_inject(&e->tbe, e->cur, b, blen, NULL);
	WAIT_FOR((rx_reap(e), rx_parse_frames(e, got, lens, 2, &empty) == 2));
	print_message("  %s: 4-byte buffers: %u completed empty, %u used by a frame\n",
		      fmt == VQ_FORMAT_SPLIT ? "split" : "packed", empty,
		      e->rx_nused[e->cur] - empty);
	assert_int_equal(lens[0], alen);
	assert_memory_equal(got[0], a, alen);
	assert_int_equal(lens[1], blen);
	assert_memory_equal(got[1], b, blen);
	assert_int_equal(empty, (HDR + 60) / 4);
	assert_int_equal(qs(e, rxq(e)).drops[NET_DEV_DROP_RX_SMALL_BUF], empty);
	assert_int_equal(drops_total(e, rxq(e)), empty);
	assert_int_equal(qs(e, rxq(e)).packets, 2);
	env_free(e);
}

static void test_rx_tiny_mrg_buffers(void **state)
{
	(void)state;
	rx_tiny_mrg_buffers(VQ_FORMAT_SPLIT);
	rx_tiny_mrg_buffers(VQ_FORMAT_PACKED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_chain),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_malformed_rx_chain),
		cmocka_unit_test(test_tx_tiny_chains),
		cmocka_unit_test(test_tx_bytewise_hdr),
		cmocka_unit_test(test_tx_gso_not_negotiated),
		cmocka_unit_test(test_rx_tiny_mrg_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
