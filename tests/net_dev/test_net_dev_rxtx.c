/* SPDX-License-Identifier: MIT */
/*
 * The device's transmit and receive paths (net_dev_fixture.h has the
 * environment): frames out and back on split and packed rings, with and
 * without MRG_RXBUF, IN_ORDER; mergeable receive buffers, a chain too
 * small, no receive buffers, too few buffers for a merged frame (the worker
 * must sleep, not spin), a buffer too small for any frame; the MTU and
 * header rules on transmit; bursts
 * that mix the fast paths with every other kind of frame.
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
#include <time.h>

#include <cmocka.h>

#include "net_dev_fixture.h"

/* A frame out and back: bytes and header checked, counters. */
static void roundtrip(enum vq_format fmt, bool mrg, uint64_t extra)
{
	struct opts o = {.fmt = fmt,
			 .want = (WANT_DEFAULT | extra) & ~(mrg ? 0 : F(VIRTIO_NET_F_MRG_RXBUF)),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	rx_post(e, 16, RX_SLOT);
	for (unsigned i = 0; i < 40; i++) {
		len = make_raw(f, 60 + i * 31, dev_mac, (uint8_t)i);
		if (i % 2)
			tx_send_plain(e, f, len);
		else
			tx_send(e, &(struct virtio_net_hdr_v1){0}, f, len, true);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
		assert_memory_equal(got, f, len);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.gso_type, 0);
		assert_int_equal(le16toh(h.num_buffers), 1);
		rx_post(e, 1, RX_SLOT);
	}
	WAIT_FOR(qs(e, txq(e)).packets == 40);
	tx_reap_all(e);
	assert_int_equal(qs(e, rxq(e)).packets, 40);
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_BAD_CHAIN], 0);
	assert_true(qs(e, txq(e)).notify_sent > 0);
	env_free(e);
}

static void test_roundtrip_split(void **state)
{
	(void)state;
	roundtrip(VQ_FORMAT_SPLIT, true, 0);
	roundtrip(VQ_FORMAT_SPLIT, false, 0);
}

static void test_roundtrip_packed(void **state)
{
	(void)state;
	roundtrip(VQ_FORMAT_PACKED, true, 0);
	roundtrip(VQ_FORMAT_PACKED, false, 0);
}

/* IN_ORDER and INDIRECT_DESC negotiated (the driver uses direct chains). */
static void test_roundtrip_in_order(void **state)
{
	uint64_t extra = F(VIRTIO_F_IN_ORDER) | F(VIRTIO_F_INDIRECT_DESC);

	(void)state;
	roundtrip(VQ_FORMAT_SPLIT, true, extra);
	roundtrip(VQ_FORMAT_PACKED, false, extra);
}

/* MRG_RXBUF: a frame spanning three small buffers, num_buffers = 3. */
static void mrg_on(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1200, dev_mac, 5);

	rx_post(e, 3, 500);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_memory_equal(got, f, len);
	assert_int_equal(qs(e, rxq(e)).rx_merged, 1);
	env_free(e);
}

static void test_mrg_on(void **state)
{
	(void)state;
	mrg_on(VQ_FORMAT_SPLIT);
	mrg_on(VQ_FORMAT_PACKED);
}

/* Without MRG_RXBUF a chain too small drops the frame (RX_TOO_BIG) and is
 * left to the driver; the next frame that fits uses it. */
static void test_mrg_off_too_big(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .want = WANT_DEFAULT & ~F(VIRTIO_NET_F_MRG_RXBUF),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	(void)state;
	rx_post(e, 1, 500);
	tbe_inject(&e->tbe, e->cur, f, make_raw(f, 1200, dev_mac, 1), NULL);
	WAIT_FOR(qs(e, rxq(e)).drops[NET_DEV_DROP_RX_TOO_BIG] == 1);
	rx_reap(e);
	assert_int_equal(e->rx_nused[e->cur], 0);
	assert_int_equal(vq_drv_in_flight(e->q[rxq(e)].d), 1);
	len = make_raw(f, 300, dev_mac, 2);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 1);
	assert_memory_equal(got, f, len);
	env_free(e);
}

/* No receive buffers: the frame waits (no drop) and is delivered once the
 * guest posts buffers; also when the ring runs dry mid-frame. */
static void test_no_rx_buffers(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1400, dev_mac, 9);

	(void)state;
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	sleep_ms(50);
	assert_int_equal(tbe_pending(&e->tbe, e->cur), 1); /* the backend keeps it */
	rx_post(e, 1, 512);				   /* not enough: frame needs 3 */
	sleep_ms(50);
	rx_reap(e);
	assert_int_equal(e->rx_nused[e->cur], 0);
	rx_post(e, 2, 512);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_memory_equal(got, f, len);
	for (unsigned i = 0; i < NET_DEV_DROP__COUNT; i++)
		assert_int_equal(qs(e, rxq(e)).drops[i], 0);
	env_free(e);
}

/* CPU time of the whole process (every thread), in milliseconds. */
static uint64_t process_cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/*
 * MRG_RXBUF, four 100-byte buffers and a 1000-byte frame (legal: the
 * frame waits for more). The pair's worker gives the four back and must
 * then sleep until the guest posts more: before vq_enable_kicks_for_more()
 * the given-back chains looked like new work and it spun at 100 % CPU.
 */
static void starved_mrg(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1000, dev_mac, 5);
	uint64_t cpu;

	rx_post(e, 4, 100);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	WAIT_FOR(tbe_pending(&e->tbe, e->cur) == 0); /* the worker holds it */
	sleep_ms(100);
	cpu = process_cpu_ms();
	sleep_ms(500);
	cpu = process_cpu_ms() - cpu;
	print_message("  %s: %llu ms of CPU in 500 ms while starved\n",
		      fmt == VQ_FORMAT_SPLIT ? "split" : "packed", (unsigned long long)cpu);
	/* A spinning worker takes one core: ~500 ms (~250 ms on a loaded
	 * machine). A sleeping one takes next to nothing. */
	assert_true(cpu < 100);
	rx_reap(e);
	assert_int_equal(e->rx_nused[e->cur], 0);
	rx_post(e, 8, 100);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), (HDR + len + 99) / 100);
	assert_memory_equal(got, f, len);
	for (unsigned i = 0; i < NET_DEV_DROP__COUNT; i++)
		assert_int_equal(qs(e, rxq(e)).drops[i], 0);
	env_free(e);
}

static void test_starved_mrg_sleeps(void **state)
{
	(void)state;
	starved_mrg(VQ_FORMAT_SPLIT);
	starved_mrg(VQ_FORMAT_PACKED);
}

/* Without MRG_RXBUF, a buffer too small for any frame (20 bytes: less than
 * the header and an Ethernet header) is completed empty and counted, and
 * the frame goes to the buffer behind it; it used to block the queue. */
static void small_buffer(enum vq_format fmt)
{
	struct opts o = {
		.fmt = fmt, .want = WANT_DEFAULT & ~F(VIRTIO_NET_F_MRG_RXBUF), .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 300, dev_mac, 6);

	rx_post(e, 1, 20);
	rx_post(e, 1, RX_SLOT);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	WAIT_FOR(qs(e, rxq(e)).drops[NET_DEV_DROP_RX_SMALL_BUF] == 1);
	WAIT_FOR((rx_reap(e), e->rx_nused[e->cur] >= 1));
	assert_int_equal(e->rx_used[e->cur][0].len, 0);
	memmove(e->rx_used[e->cur], e->rx_used[e->cur] + 1,
		--e->rx_nused[e->cur] * sizeof(e->rx_used[e->cur][0]));
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 1);
	assert_memory_equal(got, f, len);
	assert_int_equal(qs(e, rxq(e)).drops[NET_DEV_DROP_RX_TOO_BIG], 0);
	env_free(e);
}

static void test_small_buffer_no_mrg(void **state)
{
	(void)state;
	small_buffer(VQ_FORMAT_SPLIT);
	small_buffer(VQ_FORMAT_PACKED);
}

/* MTU and header rules on transmit. */
static void test_tx_drops(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[4096], got[4096];
	struct virtio_net_hdr_v1 h = {0};
	uint32_t len;

	(void)state;
	rx_post(e, 8, RX_SLOT);
	tx_send_plain(e, f, make_raw(f, 1515, dev_mac, 1)); /* 1501 bytes of payload */
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_MTU] == 1);
	/* a VLAN tag allows 4 more bytes */
	len = make_raw(f, 1518, dev_mac, 1);
	put16(f + 12, 0x8100);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	/* GSO without NEEDS_CSUM (§5.1.6.2) */
	len = make_tcp4(f, 3000, true);
	h = (struct virtio_net_hdr_v1){.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				       .hdr_len = htole16(54),
				       .gso_size = htole16(1000)};
	tx_send(e, &h, f, len, false);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_BAD_HDR] == 1);
	/* short */
	tx_send_plain(e, f, 10);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_SHORT] == 1);
	/* still working */
	len = make_raw(f, 100, dev_mac, 3);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, (struct vq_drv_used[QSIZE]){0}, QSIZE) >= 0 &&
		 vq_drv_in_flight(e->q[txq(e)].d) == 0);
	env_free(e);
}

/*
 * Bursts that mix the fast paths' frames with every other kind, published
 * at once so one worker turn sees them together: transmit switches from
 * its fast loop to tx_classify() and back (software checksum, a header in
 * its own descriptor, an 802.1Q frame over the MTU, drops), and receive
 * from its fast loop to the general path (a frame larger than a 200-byte
 * buffer merges the next chains of the turn's burst pop). Every frame
 * that passes comes back in order, byte-exact; drops are counted.
 */
static void mixed_bursts(enum vq_format fmt, uint64_t extra)
{
	struct opts o = {.fmt = fmt, .caps = 0, .want = WANT_DEFAULT | extra, .mtu = 1500};
	struct env *e = env_new(&o);
	static uint8_t sent[40][2048];
	uint8_t got[4096];
	uint32_t sent_len[40];
	unsigned nsent = 0, ndrop_mtu = 0, ndrop_short = 0, ncsum = 0;
	struct virtio_net_hdr_v1 h;

	for (unsigned i = 0; i < QSIZE; i++)
		rx_post(e, 1, i % 3 == 1 ? 200 : RX_SLOT);
	for (unsigned round = 0; round < 2; round++) {
		nsent = 0;
		for (unsigned i = 0; i < 20; i++) {
			uint8_t *f = sent[nsent];
			uint32_t len;

			switch ((i + round) % 7) {
			case 0: /* fast */
			case 3:
				len = make_raw(f, 60 + i * 7, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				break;
			case 1: /* fast on transmit, merged on receive */
				len = make_raw(f, 700 + i, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				break;
			case 2: /* software checksum (the backend has no caps) */
				len = make_tcp4(f, 100 + i, true);
				h = (struct virtio_net_hdr_v1){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
							       .csum_start = htole16(34),
							       .csum_offset = htole16(16)};
				tx_add(e, &h, f, len, false);
				ncsum++;
				break;
			case 4: /* header in its own descriptor */
				len = make_raw(f, 90, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, true);
				break;
			case 5: /* 802.1Q, 4 bytes over MTU + 14: passes */
				len = make_raw(f, 1518, dev_mac, (uint8_t)i);
				put16(f + 12, 0x8100);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				break;
			default: /* over the MTU, then a short one: dropped */
				len = make_raw(f, 1515, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, 10, false);
				ndrop_mtu++;
				ndrop_short++;
				continue;
			}
			sent_len[nsent++] = len;
		}
		dq_kick(&e->q[txq(e)]);
		for (unsigned i = 0; i < nsent; i++) {
			int n = rx_recv(e, &h, got, WAIT_MS);

			assert_int_equal(n, (int)sent_len[i]);
			if (get16(sent[i] + 12) == 0x0800 && sent[i][23] == 6) {
				assert_true(tcp4_csum_ok(got, (uint32_t)n));
				assert_memory_equal(got, sent[i], 50);
			} else {
				assert_memory_equal(got, sent[i], sent_len[i]);
			}
			assert_int_equal(h.flags, 0);
		}
		for (unsigned i = 0; i < QSIZE && vq_drv_free_descs(e->q[rxq(e)].d); i++)
			rx_post(e, 1, i % 3 == 1 ? 200 : RX_SLOT);
		WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, (struct vq_drv_used[QSIZE]){0}, QSIZE) >= 0 &&
			 vq_drv_in_flight(e->q[txq(e)].d) == 0);
	}
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_TX_MTU], ndrop_mtu);
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_TX_SHORT], ndrop_short);
	assert_int_equal(qs(e, txq(e)).csum_finished, ncsum);
	assert_true(qs(e, rxq(e)).rx_merged > 0);
	assert_int_equal(qs(e, rxq(e)).packets, qs(e, txq(e)).packets);
	env_free(e);
}

static void test_mixed_bursts(void **state)
{
	(void)state;
	mixed_bursts(VQ_FORMAT_SPLIT, 0);
	mixed_bursts(VQ_FORMAT_PACKED, 0);
	mixed_bursts(VQ_FORMAT_SPLIT, F(VIRTIO_F_IN_ORDER));
	mixed_bursts(VQ_FORMAT_PACKED, F(VIRTIO_F_IN_ORDER));
}
/* Zero-copy receive (rx_direct): frames the backend wrote into the lent
 * chains arrive as copied ones do, header and num_buffers included; once
 * the window is used up the rest come through the bounce buffers, in
 * order. Frames wait in the backend until buffers are posted, so one turn
 * has more than the window holds. */
static void direct_roundtrip(enum vq_format fmt, uint64_t extra)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT | extra, .mtu = 1500, .direct = true};
	struct env *e = env_new(&o);
	static uint8_t f[40][2048];
	uint8_t got[4096];
	uint32_t len[40];
	struct virtio_net_hdr_v1 h;

	for (unsigned i = 0; i < 40; i++) {
		len[i] = make_raw(f[i], 60 + i * 37, dev_mac, (uint8_t)i);
		tbe_inject(&e->tbe, e->cur, f[i], len[i], NULL);
	}
	for (unsigned i = 0; i < QSIZE; i++)
		rx_post(e, 1, i % 3 == 1 ? 500 : RX_SLOT);
	for (unsigned i = 0; i < 40; i++) {
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len[i]);
		assert_memory_equal(got, f[i], len[i]);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.gso_type, 0);
		if (e->rx_nused[e->cur] == 0 && vq_drv_free_descs(e->q[rxq(e)].d))
			rx_post(e, 1, RX_SLOT);
	}
	assert_true(atomic_load(&e->tbe.win_frames) > 0);
	assert_true(atomic_load(&e->tbe.buf_frames) > 0);
	assert_int_equal(atomic_load(&e->tbe.win_frames) + atomic_load(&e->tbe.buf_frames), 40);
	/* Counted before published (rx_flush()): no wait. */
	assert_int_equal(qs(e, rxq(e)).packets, 40);
	assert_int_equal(qs(e, rxq(e)).rx_zero_copy, atomic_load(&e->tbe.win_frames));
	assert_true(qs(e, rxq(e)).rx_merged > 0);
	assert_int_equal(qs(e, rxq(e)).errors, 0);
	env_free(e);
}

static void test_direct_roundtrip(void **state)
{
	(void)state;
	direct_roundtrip(VQ_FORMAT_SPLIT, 0);
	direct_roundtrip(VQ_FORMAT_PACKED, 0);
	direct_roundtrip(VQ_FORMAT_SPLIT, F(VIRTIO_F_IN_ORDER));
	direct_roundtrip(VQ_FORMAT_PACKED, F(VIRTIO_F_IN_ORDER));
}

/* A window frame that claims a chain more than it fills is not passed
 * on: its chains are completed empty and counted in errors; the frames
 * after it arrive. Without MRG_RXBUF nothing is lent (the copying path). */
static void test_direct_bad_frame(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500, .direct = true};
	struct env *e = env_new(&o);
	uint8_t f[3][256], got[4096];
	uint32_t len[3];
	struct virtio_net_hdr_v1 h;

	(void)state;
	atomic_store(&e->tbe.direct_bad, 1);
	for (unsigned i = 0; i < 3; i++) {
		len[i] = make_raw(f[i], 100 + i, dev_mac, (uint8_t)i);
		tbe_inject(&e->tbe, e->cur, f[i], len[i], NULL);
	}
	rx_post(e, 8, RX_SLOT);
	WAIT_FOR((rx_reap(e), e->rx_nused[e->cur] >= 4));
	assert_int_equal(e->rx_used[e->cur][0].len, 0);
	assert_int_equal(e->rx_used[e->cur][1].len, 0);
	assert_int_equal(qs(e, rxq(e)).errors, 1);
	/* drop the two empty completions, then the frames as usual */
	memmove(e->rx_used[e->cur], e->rx_used[e->cur] + 2,
		(e->rx_nused[e->cur] - 2) * sizeof(e->rx_used[e->cur][0]));
	e->rx_nused[e->cur] -= 2;
	for (unsigned i = 1; i < 3; i++) {
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len[i]);
		assert_memory_equal(got, f[i], len[i]);
	}
	env_free(e);

	o.want &= ~F(VIRTIO_NET_F_MRG_RXBUF);
	e = env_new(&o);
	len[0] = make_raw(f[0], 300, dev_mac, 9);
	tbe_inject(&e->tbe, e->cur, f[0], len[0], NULL);
	rx_post(e, 1, RX_SLOT);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len[0]);
	assert_memory_equal(got, f[0], len[0]);
	assert_int_equal(atomic_load(&e->tbe.win_frames), 0);
	env_free(e);
}

/* A backend that uses none of the lent chains is lent fewer and fewer
 * (rxd_backoff()): over 200 turns of one frame each, far fewer chains
 * than the 32 a turn it would otherwise pop and give back; once it uses
 * them again, frames go zero-copy again within two of the longest
 * back-offs. Two: the back-off counts worker turns, and each frame here
 * takes two (its own and an empty one after it, before the worker
 * sleeps); a try that lands on the empty turn finds nothing to place,
 * counts as unused and skips another 64 turns (seen: 97 frames). */
static void test_direct_backoff(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500, .direct = true};
	struct env *e = env_new(&o);
	uint8_t f[256], got[4096];
	uint32_t len;
	struct virtio_net_hdr_v1 h;
	unsigned lent, i;

	(void)state;
	atomic_store(&e->tbe.direct_refuse, true);
	rx_post(e, 64, RX_SLOT);
	for (i = 0; i < 200; i++) {
		len = make_raw(f, 100, dev_mac, (uint8_t)i);
		tbe_inject(&e->tbe, e->cur, f, len, NULL);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
		assert_memory_equal(got, f, len);
		rx_post(e, 1, RX_SLOT);
	}
	lent = atomic_load(&e->tbe.direct_lent);
	printf("lent %u chains over 200 turns that used none\n", lent);
	assert_true(lent > 0);
	assert_true(lent <= 32 * 20);
	assert_int_equal(atomic_load(&e->tbe.win_frames), 0);
	atomic_store(&e->tbe.direct_refuse, false);
	for (i = 0; i < 200 && !atomic_load(&e->tbe.win_frames); i++) {
		len = make_raw(f, 100, dev_mac, (uint8_t)i);
		tbe_inject(&e->tbe, e->cur, f, len, NULL);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
		rx_post(e, 1, RX_SLOT);
	}
	printf("zero-copy again after %u turns\n", i);
	assert_true(atomic_load(&e->tbe.win_frames) > 0);
	assert_true(i <= 140);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_split),
		cmocka_unit_test(test_roundtrip_packed),
		cmocka_unit_test(test_mrg_on),
		cmocka_unit_test(test_mrg_off_too_big),
		cmocka_unit_test(test_no_rx_buffers),
		cmocka_unit_test(test_tx_drops),
		cmocka_unit_test(test_mixed_bursts),
		cmocka_unit_test(test_roundtrip_in_order),
		cmocka_unit_test(test_starved_mrg_sleeps),
		cmocka_unit_test(test_small_buffer_no_mrg),
		cmocka_unit_test(test_direct_roundtrip),
		cmocka_unit_test(test_direct_bad_frame),
		cmocka_unit_test(test_direct_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
