/* SPDX-License-Identifier: MIT */
/*
 * The driver library (include/vqnet/vnet_drv.h) against a loopback
 * virtio-net device behind vqnet's own vhost-user backend
 * (tests/harness/loop_dev.c), over a real Unix socket: both ring formats, mergeable buffers on and
 * off, frames of 60..9000 bytes compared byte for byte and in sequence,
 * offload metadata both ways, control queue commands, link status and
 * config change events, several queue pairs, counters, and that close
 * gives back every fd and mapping.
 *
 * Every wait is bounded: a test fails instead of hanging.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <vqnet/vnet_drv.h>

#include "../harness/loop_dev.h"
#include "../harness/test_util.h"

#define FB(bit) VNET_DRV_FEATURE(bit)
#define WAIT_MS 10000u

/* What the loop device offers unless a test narrows it. */
#define DEV_FEATURES                                                                               \
	(FB(VNET_DRV_F_MAC) | FB(VNET_DRV_F_STATUS) | FB(VNET_DRV_F_MRG_RXBUF) |                   \
	 FB(VNET_DRV_F_CTRL_VQ) | FB(VNET_DRV_F_CTRL_RX) | FB(VNET_DRV_F_MQ) |                     \
	 FB(VNET_DRV_F_CTRL_MAC_ADDR) | FB(VNET_DRV_F_EVENT_IDX) | FB(VNET_DRV_F_INDIRECT_DESC) |  \
	 FB(VNET_DRV_F_IN_ORDER) | FB(VNET_DRV_F_CSUM) | FB(VNET_DRV_F_GUEST_CSUM) |               \
	 FB(VNET_DRV_F_HOST_TSO4) | FB(VNET_DRV_F_GUEST_TSO4) | FB(VNET_DRV_F_RING_PACKED))

/* Lines of /proc/self/maps naming a vqnet shared memory block. */
static int count_shm_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "vqnet-shm"))
			n++;
	fclose(f);
	return n;
}

/* The backend in this process closes its copies of our fds when it has
 * seen the disconnect: wait (bounded) for the count to come back. */
static int wait_fds(int want)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	int n;

	while ((n = count_fds()) != want && now_ms() < deadline) {
		struct timespec ts = {0, 2000000};

		nanosleep(&ts, NULL);
	}
	return n;
}

static uint8_t pattern(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (seq >> 8));
}

/* A frame: broadcast dst, fixed src, EtherType 0x88b5, seq, pattern. */
static void make_frame(uint8_t *f, uint32_t len, uint32_t seq)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, &seq, 4);
	for (uint32_t i = 18; i < len; i++)
		f[i] = pattern(seq, i);
}

static uint32_t frame_len(uint32_t seq)
{
	static const uint32_t fixed[] = {60,   61,   64,   127,	 1500, 1514, 2035,
					 2036, 2048, 2049, 4000, 4096, 8999, 9000};

	if (seq < sizeof(fixed) / sizeof(fixed[0]))
		return fixed[seq];
	return 60 + (seq * 2654435761u) % (9000 - 60 + 1);
}

struct rig {
	struct loop_dev *ld;
	const char *path;
	struct vnet_drv *drv;
};

static void rig_start(struct rig *r, unsigned pairs, uint64_t dev_features)
{
	struct loop_dev_config lc = {.pairs = pairs, .features = dev_features};

	memset(r, 0, sizeof(*r));
	assert_int_equal(loop_dev_start(&lc, &r->ld, &r->path), 0);
}

static void rig_open(struct rig *r, struct vnet_drv_config *cfg)
{
	cfg->socket_path = r->path;
	assert_int_equal(vnet_drv_open(cfg, &r->drv), 0);
}

static void rig_stop(struct rig *r)
{
	vnet_drv_close(r->drv);
	r->drv = NULL;
	loop_dev_stop(r->ld);
}

/*
 * Send @n frames on pair @qp (lengths frame_len(seq)), receive them back,
 * check every byte and the order. Up to @window frames in flight.
 */
static void echo_frames(struct vnet_drv *drv, unsigned qp, uint32_t n, unsigned window)
{
	uint8_t *tx = malloc(9000), *rx = malloc(9100);
	uint32_t sent = 0, got = 0;
	uint64_t deadline = now_ms() + WAIT_MS;

	assert_non_null(tx);
	assert_non_null(rx);
	while (got < n) {
		struct vnet_drv_pkt *pkts[32];
		unsigned r;

		while (sent < n && sent - got < window) {
			struct vnet_drv_pkt *p;
			uint32_t len = frame_len(sent);

			make_frame(tx, len, sent);
			if (vnet_drv_pkt_from_frame(drv, qp, tx, len, &p) < 0)
				break;
			if (vnet_drv_tx_burst(drv, qp, &p, 1) != 1) {
				vnet_drv_pkt_free(p);
				break;
			}
			sent++;
		}
		r = vnet_drv_rx_burst(drv, qp, pkts, 32);
		for (unsigned i = 0; i < r; i++) {
			uint32_t len = frame_len(got), seq;
			size_t l = vnet_drv_pkt_to_frame(pkts[i], rx, 9100);

			if (l != len)
				fail_msg("frame %u: %zu bytes back, %u sent", got, l, len);
			assert_int_equal(pkts[i]->pkt_len, len);
			memcpy(&seq, rx + 14, 4);
			if (seq != got)
				fail_msg("frame %u came back as frame %u", got, seq);
			make_frame(tx, len, got);
			if (memcmp(tx, rx, len) != 0)
				fail_msg("frame %u (%u bytes) differs", got, len);
			vnet_drv_pkt_free(pkts[i]);
			got++;
		}
		if (r == 0) {
			if (now_ms() > deadline)
				fail_msg("timed out: %u sent, %u received", sent, got);
			vnet_drv_rx_wait(drv, qp, 5);
		}
	}
	free(tx);
	free(rx);
}

/* Every buffer back in the pool once the device is idle. */
static void check_pool_full(struct vnet_drv *drv, unsigned qp, unsigned pool_size)
{
	struct vnet_drv_pkt **all = calloc(pool_size + 1, sizeof(*all));
	unsigned n;

	assert_non_null(all);
	assert_true(vnet_drv_tx_reap(drv, qp) >= 0);
	n = vnet_drv_pkt_alloc_bulk(drv, qp, all, pool_size + 1);
	/* the rx ring holds its posted buffers; the rest are free */
	assert_true(n > 0 && n < pool_size);
	vnet_drv_pkt_free_bulk(all, n);
	free(all);
}

static void run_echo(enum vnet_drv_ring_format fmt, bool mrg, uint64_t extra)
{
	struct rig r;
	struct vnet_drv_config cfg = {
		.ring_format = fmt,
		.features = VNET_DRV_FEATURES_DEFAULT | extra,
		.rx_frame_max = 9018,
	};
	struct vnet_drv_queue_stats rxs, txs;
	uint64_t frames, drops, errors;

	if (!mrg)
		cfg.features &= ~FB(VNET_DRV_F_MRG_RXBUF);
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	assert_int_equal(vnet_drv_ring_format(r.drv), fmt);
	assert_int_equal(vnet_drv_has_feature(r.drv, VNET_DRV_F_MRG_RXBUF), mrg);
	assert_true((vnet_drv_features(r.drv) & extra) == extra);
	echo_frames(r.drv, 0, 600, 48);
	vnet_drv_queue_stats(r.drv, 0, &rxs, &txs);
	assert_int_equal(rxs.packets, 600);
	assert_int_equal(txs.packets, 600);
	assert_int_equal(rxs.bytes, txs.bytes);
	assert_int_equal(rxs.drops + rxs.errors + txs.drops + txs.errors, 0);
	assert_true(txs.kicks > 0);
	loop_dev_counts(r.ld, &frames, &drops, &errors);
	assert_int_equal(frames, 600);
	assert_int_equal(drops + errors, 0);
	check_pool_full(r.drv, 0, 4 * 256);
	rig_stop(&r);
}

static void test_echo_split_mrg(void **state)
{
	(void)state;
	run_echo(VNET_DRV_RING_SPLIT, true, 0);
}

static void test_echo_split_nomrg(void **state)
{
	(void)state;
	run_echo(VNET_DRV_RING_SPLIT, false, 0);
}

static void test_echo_packed_mrg(void **state)
{
	(void)state;
	run_echo(VNET_DRV_RING_PACKED, true, 0);
}

static void test_echo_packed_nomrg(void **state)
{
	(void)state;
	run_echo(VNET_DRV_RING_PACKED, false, 0);
}

/* INDIRECT_DESC (multi-segment tx frames in one slot) and IN_ORDER. */
static void test_echo_indirect_in_order(void **state)
{
	uint64_t extra = FB(VNET_DRV_F_INDIRECT_DESC) | FB(VNET_DRV_F_IN_ORDER);

	(void)state;
	run_echo(VNET_DRV_RING_SPLIT, true, extra);
	run_echo(VNET_DRV_RING_PACKED, true, extra);
	run_echo(VNET_DRV_RING_SPLIT, false, extra);
	run_echo(VNET_DRV_RING_PACKED, false, extra);
}

/* ANY takes packed when offered, split when not; PACKED without it fails. */
static void test_ring_format_choice(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {0};
	struct vnet_drv *drv;

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	assert_int_equal(vnet_drv_ring_format(r.drv), VNET_DRV_RING_PACKED);
	rig_stop(&r);

	rig_start(&r, 1, DEV_FEATURES & ~FB(VNET_DRV_F_RING_PACKED));
	cfg = (struct vnet_drv_config){.socket_path = r.path};
	rig_open(&r, &cfg);
	assert_int_equal(vnet_drv_ring_format(r.drv), VNET_DRV_RING_SPLIT);
	vnet_drv_close(r.drv);
	r.drv = NULL;
	cfg.ring_format = VNET_DRV_RING_PACKED;
	assert_int_equal(vnet_drv_open(&cfg, &drv), -EOPNOTSUPP);
	rig_stop(&r);
}

/* Offload metadata goes out in the header and comes back (the loop device
 * echoes it); frames asking for offloads not negotiated are dropped. */
static void test_offload_metadata(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {
		.features = VNET_DRV_FEATURES_DEFAULT | FB(VNET_DRV_F_CSUM) |
			    FB(VNET_DRV_F_GUEST_CSUM) | FB(VNET_DRV_F_HOST_TSO4) |
			    FB(VNET_DRV_F_GUEST_TSO4),
	};
	struct vnet_drv_offload ol = {.flags = VNET_DRV_OL_NEEDS_CSUM,
				      .gso_type = VNET_DRV_GSO_TCPV4,
				      .hdr_len = 54,
				      .gso_size = 1448,
				      .csum_start = 34,
				      .csum_offset = 16};
	struct vnet_drv_queue_stats txs;
	struct vnet_drv_pkt *p, *back = NULL;
	uint8_t frame[3000];
	uint64_t deadline = now_ms() + WAIT_MS;

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	make_frame(frame, sizeof(frame), 7);
	assert_int_equal(vnet_drv_pkt_from_frame(r.drv, 0, frame, sizeof(frame), &p), 0);
	assert_int_equal(p->nb_segs, 2);
	p->ol = ol;
	assert_int_equal(vnet_drv_tx_burst(r.drv, 0, &p, 1), 1);
	while (vnet_drv_rx_burst(r.drv, 0, &back, 1) == 0) {
		assert_true(now_ms() < deadline);
		vnet_drv_rx_wait(r.drv, 0, 5);
	}
	assert_memory_equal(&back->ol, &ol, sizeof(ol));
	assert_int_equal(back->pkt_len, sizeof(frame));
	vnet_drv_pkt_free(back);

	/* UDP GSO was not negotiated: dropped, counted, freed */
	p = vnet_drv_pkt_alloc(r.drv, 0);
	assert_non_null(p);
	p->len = 60;
	p->ol = (struct vnet_drv_offload){
		.flags = VNET_DRV_OL_NEEDS_CSUM, .gso_type = VNET_DRV_GSO_UDP, .gso_size = 1000};
	assert_int_equal(vnet_drv_tx_burst(r.drv, 0, &p, 1), 1);
	/* no headroom for the header: dropped too */
	p = vnet_drv_pkt_alloc(r.drv, 0);
	p->data = p->buf + 4;
	p->len = 60;
	assert_int_equal(vnet_drv_tx_burst(r.drv, 0, &p, 1), 1);
	vnet_drv_queue_stats(r.drv, 0, NULL, &txs);
	assert_int_equal(txs.drops, 2);
	assert_int_equal(txs.packets, 1);
	rig_stop(&r);
}

/* Zero copy: a frame built in a packet goes out as-is, one descriptor. */
static void test_zero_copy_tx(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {.ring_format = VNET_DRV_RING_SPLIT};
	struct vnet_drv_pkt *p, *back = NULL;
	uint64_t deadline = now_ms() + WAIT_MS;

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	p = vnet_drv_pkt_alloc(r.drv, 0);
	assert_non_null(p);
	assert_ptr_equal(p->data, p->buf + VNET_DRV_HEADROOM);
	/* at least the data room asked for (the buffer is rounded up to an odd
	 * number of lines) */
	assert_in_range(vnet_drv_pkt_tailroom(p), 2048, 2048 + 127);
	make_frame(p->data, 1514, 3);
	p->len = 1514;
	assert_int_equal(vnet_drv_tx_burst(r.drv, 0, &p, 1), 1);
	while (vnet_drv_rx_burst(r.drv, 0, &back, 1) == 0) {
		assert_true(now_ms() < deadline);
		vnet_drv_rx_wait(r.drv, 0, 5);
	}
	assert_int_equal(back->nb_segs, 1);
	assert_int_equal(back->len, 1514);
	assert_ptr_equal(back->data, back->buf + VNET_DRV_RX_HEADROOM);
	vnet_drv_pkt_free(back);
	rig_stop(&r);
}

static void test_ctrl_commands(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {0};
	struct loop_dev_ctrl_log log;
	const uint8_t mac[6] = {0x02, 1, 2, 3, 4, 5};
	uint8_t got[6];

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	vnet_drv_mac(r.drv, got);
	assert_memory_equal(got, "\x52\x54\x00\x12\x34\x56", 6);
	assert_int_equal(vnet_drv_set_promisc(r.drv, true), 0);
	loop_dev_ctrl_log(r.ld, &log);
	assert_int_equal(log.class, 0);
	assert_int_equal(log.cmd, 0);
	assert_int_equal(log.data[0], 1);
	assert_int_equal(vnet_drv_set_allmulti(r.drv, false), 0);
	loop_dev_ctrl_log(r.ld, &log);
	assert_int_equal(log.cmd, 1);
	assert_int_equal(log.data[0], 0);
	assert_int_equal(vnet_drv_set_mac(r.drv, mac), 0);
	loop_dev_ctrl_log(r.ld, &log);
	assert_int_equal(log.class, 1);
	assert_memory_equal(log.data, mac, 6);
	vnet_drv_mac(r.drv, got);
	assert_memory_equal(got, mac, 6);
	loop_dev_refuse_ctrl(r.ld, true);
	assert_int_equal(vnet_drv_set_promisc(r.drv, false), -EIO);
	loop_dev_refuse_ctrl(r.ld, false);
	assert_int_equal(vnet_drv_set_promisc(r.drv, false), 0);
	echo_frames(r.drv, 0, 50, 16); /* data path unaffected */
	rig_stop(&r);

	/* no control queue: the commands are not supported */
	rig_start(&r, 1, DEV_FEATURES & ~FB(VNET_DRV_F_CTRL_VQ));
	cfg = (struct vnet_drv_config){0};
	rig_open(&r, &cfg);
	assert_false(vnet_drv_has_feature(r.drv, VNET_DRV_F_CTRL_RX));
	assert_int_equal(vnet_drv_set_promisc(r.drv, true), -EOPNOTSUPP);
	assert_int_equal(vnet_drv_set_mac(r.drv, mac), -EOPNOTSUPP);
	echo_frames(r.drv, 0, 50, 16);
	rig_stop(&r);
}

static void test_link_and_events(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {0};
	uint64_t deadline;
	int got = 0;

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	assert_true(vnet_drv_event_fd(r.drv) >= 0);
	assert_int_equal(vnet_drv_link_up(r.drv), 1);
	assert_int_equal(vnet_drv_poll_events(r.drv), 0);
	assert_int_equal(loop_dev_set_link(r.ld, false), 0);
	deadline = now_ms() + WAIT_MS;
	while (got == 0) {
		int rc = vnet_drv_poll_events(r.drv);

		assert_true(rc >= 0);
		got += rc;
		assert_true(now_ms() < deadline);
	}
	assert_int_equal(got, 1);
	assert_int_equal(vnet_drv_config_changes(r.drv), 1);
	assert_int_equal(vnet_drv_link_up(r.drv), 0);
	rig_stop(&r);
}

/* vnet_drv_mtu(): the loop device's config space says 9000 (loop_dev.c);
 * the MTU is reported only when F_MTU was offered and asked for. */
static void test_mtu(void **state)
{
	static const struct {
		uint64_t offered, wanted;
		unsigned mtu;
	} cases[] = {
		{FB(VNET_DRV_F_MTU), FB(VNET_DRV_F_MTU), 9000},
		{FB(VNET_DRV_F_MTU), 0, 0},
		{0, FB(VNET_DRV_F_MTU), 0},
	};

	(void)state;
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct vnet_drv_config cfg = {.features =
						      VNET_DRV_FEATURES_DEFAULT | cases[c].wanted};
		struct rig r;

		rig_start(&r, 1, DEV_FEATURES | cases[c].offered);
		rig_open(&r, &cfg);
		assert_int_equal(vnet_drv_has_feature(r.drv, VNET_DRV_F_MTU),
				 cases[c].offered && cases[c].wanted);
		assert_int_equal(vnet_drv_mtu(r.drv), cases[c].mtu);
		rig_stop(&r);
	}
	assert_int_equal(vnet_drv_mtu(NULL), 0);
}

/* Is @fd readable within @ms? */
static bool fd_ready(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/* vnet_drv_rx_arm()/_disarm() around the caller's own poll(): armed, a
 * looped frame makes vnet_drv_rx_fd() readable; disarmed, the eventfd is
 * drained and stays quiet; armed with a frame already waiting, arm says 1. */
static void test_rx_arm(void **state)
{
	uint8_t frame[60] = {0};
	struct vnet_drv_config cfg = {0};
	struct vnet_drv_pkt *p, *got[4];
	struct rig r;
	unsigned n = 0;

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	assert_int_equal(vnet_drv_rx_arm(r.drv, 1), -EINVAL);
	assert_int_equal(vnet_drv_rx_arm(r.drv, 0), 0);
	assert_false(fd_ready(vnet_drv_rx_fd(r.drv, 0), 0));
	make_frame(frame, sizeof(frame), 1);
	assert_int_equal(vnet_drv_pkt_from_frame(r.drv, 0, frame, sizeof(frame), &p), 0);
	assert_int_equal(vnet_drv_tx_burst(r.drv, 0, &p, 1), 1);
	assert_true(fd_ready(vnet_drv_rx_fd(r.drv, 0), (int)WAIT_MS));
	vnet_drv_rx_disarm(r.drv, 0);
	assert_false(fd_ready(vnet_drv_rx_fd(r.drv, 0), 0));
	/* the frame is still in the ring: arming reports it */
	assert_int_equal(vnet_drv_rx_arm(r.drv, 0), 1);
	n = vnet_drv_rx_burst(r.drv, 0, got, 4);
	assert_int_equal(n, 1);
	assert_int_equal(got[0]->pkt_len, sizeof(frame));
	vnet_drv_pkt_free(got[0]);
	assert_int_equal(vnet_drv_rx_arm(r.drv, 0), 0);
	vnet_drv_rx_disarm(r.drv, 0);
	rig_stop(&r);
}

/* vnet_drv_conn_fd(): quiet while the backend serves, readable or hung
 * up once it has gone. */
static void test_conn_fd(void **state)
{
	struct vnet_drv_config cfg = {0};
	struct pollfd p;
	struct rig r;

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	assert_int_equal(vnet_drv_conn_fd(NULL), -1);
	p = (struct pollfd){.fd = vnet_drv_conn_fd(r.drv), .events = POLLIN};
	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 0), 0);
	loop_dev_halt(r.ld);
	assert_int_equal(poll(&p, 1, (int)WAIT_MS), 1);
	assert_true(p.revents & (POLLIN | POLLHUP));
	rig_stop(&r);
}

/* Two pairs: MQ_VQ_PAIRS_SET 2, traffic on each pair separately. */
static void test_two_pairs(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {.queue_pairs = 2};
	struct loop_dev_ctrl_log log;
	struct vnet_drv_queue_stats rxs;

	(void)state;
	rig_start(&r, 2, DEV_FEATURES);
	rig_open(&r, &cfg);
	assert_int_equal(vnet_drv_queue_pairs(r.drv), 2);
	assert_true(vnet_drv_has_feature(r.drv, VNET_DRV_F_MQ));
	loop_dev_ctrl_log(r.ld, &log);
	assert_int_equal(log.mq_pairs, 2);
	echo_frames(r.drv, 0, 100, 32);
	echo_frames(r.drv, 1, 100, 32);
	vnet_drv_queue_stats(r.drv, 1, &rxs, NULL);
	assert_int_equal(rxs.packets, 100);
	assert_null(vnet_drv_pkt_alloc(r.drv, 2));
	rig_stop(&r);

	/* one pair offered: two cannot be opened */
	rig_start(&r, 1, DEV_FEATURES & ~FB(VNET_DRV_F_MQ));
	cfg.socket_path = r.path;
	assert_int_equal(vnet_drv_open(&cfg, &r.drv), -EOPNOTSUPP);
	r.drv = NULL;
	rig_stop(&r);
}

/* Open and close give back every fd and mapping, across formats. */
static void test_close_releases_everything(void **state)
{
	struct rig r;
	int fds, maps;

	(void)state;
	rig_start(&r, 2, DEV_FEATURES);
	fds = count_fds();
	maps = count_shm_maps();
	for (int i = 0; i < 4; i++) {
		struct vnet_drv_config cfg = {
			.socket_path = r.path,
			.queue_pairs = 1 + (i & 1),
			.ring_format = i < 2 ? VNET_DRV_RING_SPLIT : VNET_DRV_RING_PACKED,
		};

		assert_int_equal(vnet_drv_open(&cfg, &r.drv), 0);
		assert_true(count_fds() > fds);
		assert_true(count_shm_maps() > maps);
		echo_frames(r.drv, 0, 20, 8);
		vnet_drv_close(r.drv);
		r.drv = NULL;
		assert_int_equal(wait_fds(fds), fds);
		assert_int_equal(count_shm_maps(), maps);
	}
	rig_stop(&r);
}

/* Shared memory from hugetlbfs (skipped where no huge pages are free). */
static void test_hugepages(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {.hugepages = true, .ring_format = VNET_DRV_RING_PACKED};
	int rc, fds;

	(void)state;
	rig_start(&r, 1, DEV_FEATURES);
	fds = count_fds();
	cfg.socket_path = r.path;
	rc = vnet_drv_open(&cfg, &r.drv);
	if (rc < 0) {
		r.drv = NULL;
		rig_stop(&r);
		print_message("no huge pages (%s): skipped\n", strerror(-rc));
		skip();
	}
	echo_frames(r.drv, 0, 200, 32);
	vnet_drv_close(r.drv);
	r.drv = NULL;
	assert_int_equal(wait_fds(fds), fds);
	rig_stop(&r);
}

/* A packet of another pair's pool is not taken (nor freed). */
static void test_foreign_pool(void **state)
{
	struct rig r;
	struct vnet_drv_config cfg = {.queue_pairs = 2};
	struct vnet_drv_pkt *p;

	(void)state;
	rig_start(&r, 2, DEV_FEATURES);
	rig_open(&r, &cfg);
	p = vnet_drv_pkt_alloc(r.drv, 1);
	assert_non_null(p);
	p->len = 60;
	assert_int_equal(vnet_drv_tx_burst(r.drv, 0, &p, 1), 0);
	assert_int_equal(vnet_drv_tx_burst(r.drv, 1, &p, 1), 1);
	rig_stop(&r);
}

/* Bad configurations and an absent socket leave nothing behind. */
static void test_open_errors(void **state)
{
	struct vnet_drv_config cfg = {.socket_path = "/tmp/vqnet-drv-none/sock",
				      .connect_timeout_ms = 50};
	struct vnet_drv *drv = NULL;
	int fds = count_fds();

	(void)state;
	assert_int_equal(vnet_drv_open(&cfg, &drv), -ENOENT);
	assert_null(drv);
	cfg.ring_size = 100;
	assert_int_equal(vnet_drv_open(&cfg, &drv), -EINVAL);
	cfg.ring_size = 0;
	cfg.queue_pairs = VNET_DRV_MAX_QUEUE_PAIRS + 1;
	assert_int_equal(vnet_drv_open(&cfg, &drv), -EINVAL);
	assert_int_equal(vnet_drv_open(NULL, &drv), -EINVAL);
	assert_int_equal(count_fds(), fds);
	vnet_drv_close(NULL);
}

/* Receive frames on pair 0 until @n came back or WAIT_MS passed; return
 * how many, their lengths and sequence numbers in @lens / @seqs, and the
 * bytes in the first buffer of the last one in *@first. */
static unsigned rx_frames(struct vnet_drv *drv, unsigned n, uint32_t *lens, uint32_t *seqs,
			  uint32_t *first)
{
	static uint8_t rx[9100];
	uint64_t deadline = now_ms() + WAIT_MS;
	unsigned got = 0;

	while (got < n && now_ms() < deadline) {
		struct vnet_drv_pkt *p;

		if (vnet_drv_rx_burst(drv, 0, &p, 1) != 1) {
			vnet_drv_rx_wait(drv, 0, 5);
			continue;
		}
		lens[got] = (uint32_t)vnet_drv_pkt_to_frame(p, rx, sizeof(rx));
		memcpy(&seqs[got], rx + 14, 4);
		*first = p->len;
		make_frame(rx + 4096, lens[got], seqs[got]); /* lens <= 4096 here */
		if (memcmp(rx, rx + 4096, lens[got]) != 0)
			fail_msg("frame %u (%u bytes) differs", seqs[got], lens[got]);
		vnet_drv_pkt_free(p);
		got++;
	}
	return got;
}

static void tx_frame(struct vnet_drv *drv, uint32_t len, uint32_t seq)
{
	static uint8_t tx[9000];
	struct vnet_drv_pkt *p;

	make_frame(tx, len, seq);
	assert_int_equal(vnet_drv_pkt_from_frame(drv, 0, tx, len, &p), 0);
	assert_int_equal(vnet_drv_tx_burst(drv, 0, &p, 1), 1);
}

/*
 * H4: a device that lies about num_buffers (MRG_RXBUF, a ring of 32):
 * 0; 3 for a frame that used one buffer, not full (§5.1.6.4.1: every
 * buffer but a frame's last is used completely); 40 for a frame that
 * filled its one buffer exactly (more buffers than were ever posted). Each
 * time that frame is dropped and counted once, and the two good frames
 * sent behind it come back intact and in order: the driver starts a frame
 * again at the right buffer.
 */
static void lying_num_buffers(enum vnet_drv_ring_format fmt)
{
	static const int lies[] = {0, 3, 40};
	struct vnet_drv_config cfg = {.ring_format = fmt, .ring_size = 32};
	struct vnet_drv_queue_stats rxs;
	uint32_t seq = 0, lens[3], seqs[3], full;
	struct rig r;

	rig_start(&r, 1, DEV_FEATURES);
	rig_open(&r, &cfg);
	assert_true(vnet_drv_has_feature(r.drv, VNET_DRV_F_MRG_RXBUF));
	/* the frame bytes a full first buffer holds: from an honest frame */
	tx_frame(r.drv, 3000, seq++);
	assert_int_equal(rx_frames(r.drv, 1, lens, seqs, &full), 1);
	assert_true(full > 60 && full < 3000);
	for (unsigned c = 0; c < sizeof(lies) / sizeof(lies[0]); c++) {
		uint64_t frames, drops, errors;
		uint32_t first;

		loop_dev_lie_num_buffers(r.ld, lies[c]);
		tx_frame(r.drv, lies[c] == 40 ? full : 60, seq++);
		tx_frame(r.drv, 100, seq++);
		tx_frame(r.drv, 3000, seq++); /* two buffers, honestly */
		assert_int_equal(rx_frames(r.drv, 2, lens, seqs, &first), 2);
		assert_int_equal(seqs[0], seq - 2);
		assert_int_equal(lens[0], 100);
		assert_int_equal(seqs[1], seq - 1);
		assert_int_equal(lens[1], 3000);
		vnet_drv_queue_stats(r.drv, 0, &rxs, NULL);
		assert_int_equal(rxs.drops, c + 1);
		assert_int_equal(rxs.errors, 0);
		assert_int_equal(rxs.packets, 2 * (c + 1) + 1);
		loop_dev_counts(r.ld, &frames, &drops, &errors);
		assert_int_equal(frames, seq);
		/* nothing more comes */
		assert_int_equal(vnet_drv_rx_burst(r.drv, 0, (struct vnet_drv_pkt *[1]){0}, 1), 0);
	}
	echo_frames(r.drv, 0, 50, 16);
	rig_stop(&r);
}

static void test_lying_num_buffers(void **state)
{
	(void)state;
	lying_num_buffers(VNET_DRV_RING_SPLIT);
	lying_num_buffers(VNET_DRV_RING_PACKED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_echo_split_mrg),
		cmocka_unit_test(test_echo_split_nomrg),
		cmocka_unit_test(test_echo_packed_mrg),
		cmocka_unit_test(test_echo_packed_nomrg),
		cmocka_unit_test(test_echo_indirect_in_order),
		cmocka_unit_test(test_ring_format_choice),
		cmocka_unit_test(test_offload_metadata),
		cmocka_unit_test(test_zero_copy_tx),
		cmocka_unit_test(test_ctrl_commands),
		cmocka_unit_test(test_link_and_events),
		cmocka_unit_test(test_mtu),
		cmocka_unit_test(test_rx_arm),
		cmocka_unit_test(test_conn_fd),
		cmocka_unit_test(test_two_pairs),
		cmocka_unit_test(test_close_releases_everything),
		cmocka_unit_test(test_hugepages),
		cmocka_unit_test(test_foreign_pool),
		cmocka_unit_test(test_lying_num_buffers),
	};

	return cmocka_run_group_tests_name("vnet_drv", tests, NULL, NULL);
}
