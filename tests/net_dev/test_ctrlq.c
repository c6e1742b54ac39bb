/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the control queue (lib/net_dev/net_dev_ctrlq.h, VIRTIO 1.2
 * §5.1.6.5).
 *
 * net_dev_ctrlq_exec(): every command's OK path and every ERR path (short,
 * long, bad values, feature not negotiated, unknown class or command, a
 * hook failing). Each ERR must leave the filter byte-for-byte unchanged,
 * call no hook and write exactly one log line naming the command; each OK
 * must call the hooks with the values sent.
 *
 * net_dev_ctrlq_process(): a real split and packed ring on the test guest memory
 * (tests/harness/guestmem.h), with vqnet's driver side posting chains whose
 * header and data are split over several descriptors; the ack lands in the
 * first writable byte with used length 1; a chain without a writable byte
 * and a malformed chain complete with length 0 and the queue keeps going;
 * a broken ring makes net_dev_ctrlq_process() return its code.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vqnet/virtq.h>

#include "guestmem.h"
#include "net_dev/net_dev_ctrlq.h"
#include "spec/virtio_net.h"
#include "spec/virtio_ring.h"

#define F(bit) (1ull << (bit))

#define ALL_FEATURES                                                                               \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |               \
	 F(VIRTIO_NET_F_CTRL_RX_EXTRA) | F(VIRTIO_NET_F_CTRL_VLAN) |                               \
	 F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_MAC_ADDR) |     \
	 F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | F(VIRTIO_NET_F_GUEST_CSUM) |                        \
	 F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN) |     \
	 F(VIRTIO_NET_F_GUEST_UFO))

#define MAX_PAIRS 4u

static const uint8_t OWN[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* The target and what its hooks saw. */
struct fx {
	struct net_dev_rx_filter f;
	struct net_dev_ctrlq_target t;
	unsigned filter_changed, mac_changed, pairs_calls, offload_calls, announce_calls;
	uint8_t mac[6];
	unsigned pairs;
	uint64_t offloads;
	int pairs_rc, offloads_rc;
	unsigned logs;
	int log_level;
	char log[256];
};

static void h_filter_changed(void *o)
{
	((struct fx *)o)->filter_changed++;
}

static void h_mac_changed(void *o, const uint8_t mac[6])
{
	struct fx *x = o;
	x->mac_changed++;
	memcpy(x->mac, mac, 6);
	/* The contract: the filter's mac is set before the hook runs. */
	assert_memory_equal(x->f.mac, mac, 6);
}

static int h_set_pairs(void *o, unsigned pairs)
{
	struct fx *x = o;
	x->pairs_calls++;
	x->pairs = pairs;
	return x->pairs_rc;
}

static int h_set_offloads(void *o, uint64_t offloads)
{
	struct fx *x = o;
	x->offload_calls++;
	x->offloads = offloads;
	return x->offloads_rc;
}

static void h_announce(void *o)
{
	((struct fx *)o)->announce_calls++;
}

static void h_log(void *o, enum vqnet_log_level level, const char *line)
{
	struct fx *x = o;
	x->logs++;
	x->log_level = level;
	snprintf(x->log, sizeof(x->log), "%s", line);
}

static void fx_init(struct fx *x, uint64_t features)
{
	memset(x, 0, sizeof(*x));
	net_dev_rx_filter_reset(&x->f, OWN, vq_has_feature(features, VIRTIO_NET_F_CTRL_VLAN));
	x->t = (struct net_dev_ctrlq_target){
		.features = features,
		.max_queue_pairs = MAX_PAIRS,
		.filter = &x->f,
		.opaque = x,
		.filter_changed = h_filter_changed,
		.mac_changed = h_mac_changed,
		.set_queue_pairs = h_set_pairs,
		.set_guest_offloads = h_set_offloads,
		.announce_ack = h_announce,
		.log = h_log,
	};
}

static int fx_setup(void **state)
{
	struct fx *x = malloc(sizeof(*x));
	if (!x)
		return -1;
	fx_init(x, ALL_FEATURES);
	*state = x;
	return 0;
}

static int fx_teardown(void **state)
{
	free(*state);
	return 0;
}

static unsigned hook_calls(const struct fx *x)
{
	return x->filter_changed + x->mac_changed + x->pairs_calls + x->offload_calls +
	       x->announce_calls;
}

/* Run a command held in a buffer of exactly its size (ASan sees overreads). */
static uint8_t exec(struct fx *x, const uint8_t *cmd, uint32_t len)
{
	uint8_t *copy = test_malloc(len ? len : 1);
	memcpy(copy, cmd, len);
	uint8_t ack = net_dev_ctrlq_exec(&x->t, copy, len);
	test_free(copy);
	return ack;
}

#define EXEC(x, ...)                                                                               \
	exec((x), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

/* OK, no log line. */
static void expect_ok(struct fx *x, const uint8_t *cmd, uint32_t len)
{
	unsigned logs = x->logs;
	assert_int_equal(exec(x, cmd, len), VIRTIO_NET_OK);
	assert_int_equal(x->logs, logs);
}

/* ERR: the filter unchanged, no hook called except @hooks_allowed ones
 * (a failing set_* hook), one log line at warn level containing @needle. */
static void expect_err_hooks(struct fx *x, const uint8_t *cmd, uint32_t len, const char *needle,
			     unsigned hooks_allowed)
{
	struct net_dev_rx_filter before = x->f;
	unsigned logs = x->logs, hooks = hook_calls(x);
	assert_int_equal(exec(x, cmd, len), VIRTIO_NET_ERR);
	assert_memory_equal(&before, &x->f, sizeof(before));
	assert_int_equal(hook_calls(x), hooks + hooks_allowed);
	assert_int_equal(x->logs, logs + 1);
	assert_int_equal(x->log_level, 1);
	if (!strstr(x->log, needle))
		fail_msg("log line '%s' does not contain '%s'", x->log, needle);
}

static void expect_err(struct fx *x, const uint8_t *cmd, uint32_t len, const char *needle)
{
	expect_err_hooks(x, cmd, len, needle, 0);
}

#define OK(x, ...)                                                                                 \
	expect_ok((x), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))
#define ERR(x, needle, ...)                                                                        \
	expect_err((x), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}),    \
		   (needle))

/* ---- RX modes ------------------------------------------------------------ */

static bool *mode_field(struct net_dev_rx_filter *f, unsigned cmd)
{
	bool *fields[] = {&f->promisc, &f->allmulti, &f->alluni,
			  &f->nomulti, &f->nouni,    &f->nobcast};
	return fields[cmd];
}

static void test_rx_modes_ok(void **state)
{
	struct fx *x = *state;
	for (uint8_t cmd = VIRTIO_NET_CTRL_RX_PROMISC; cmd <= VIRTIO_NET_CTRL_RX_NOBCAST; cmd++) {
		bool initial = cmd == VIRTIO_NET_CTRL_RX_PROMISC;
		assert_int_equal(*mode_field(&x->f, cmd), initial);
		/* Setting the current value changes nothing: no publication. */
		unsigned changed = x->filter_changed;
		OK(x, VIRTIO_NET_CTRL_RX, cmd, initial);
		assert_int_equal(x->filter_changed, changed);
		OK(x, VIRTIO_NET_CTRL_RX, cmd, !initial);
		assert_int_equal(*mode_field(&x->f, cmd), !initial);
		assert_int_equal(x->filter_changed, changed + 1);
		OK(x, VIRTIO_NET_CTRL_RX, cmd, initial);
		assert_int_equal(*mode_field(&x->f, cmd), initial);
		assert_int_equal(x->filter_changed, changed + 2);
	}
	assert_int_equal(x->mac_changed + x->pairs_calls + x->offload_calls + x->announce_calls, 0);
}

static void test_rx_modes_err(void **state)
{
	struct fx *x = *state;
	ERR(x, "RX.PROMISC: data is 0 bytes, expected 1", VIRTIO_NET_CTRL_RX,
	    VIRTIO_NET_CTRL_RX_PROMISC);
	ERR(x, "RX.ALLMULTI: data is 2 bytes", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1,
	    0);
	ERR(x, "RX.NOBCAST: value 2", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 2);
	ERR(x, "RX.PROMISC: value 255", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0xff);
	ERR(x, "ctrl RX cmd 6: unknown command", VIRTIO_NET_CTRL_RX, 6, 1);
	ERR(x, "ctrl RX cmd 255: unknown command", VIRTIO_NET_CTRL_RX, 255, 1);

	/* PROMISC/ALLMULTI need CTRL_RX; the others CTRL_RX_EXTRA. */
	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_CTRL_RX_EXTRA));
	OK(x, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0);
	OK(x, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1);
	for (uint8_t cmd = VIRTIO_NET_CTRL_RX_ALLUNI; cmd <= VIRTIO_NET_CTRL_RX_NOBCAST; cmd++) {
		const uint8_t c[] = {VIRTIO_NET_CTRL_RX, cmd, 1};
		expect_err(x, c, 3, "not negotiated");
	}
	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_CTRL_RX));
	ERR(x, "RX.PROMISC: feature bit 18 not negotiated", VIRTIO_NET_CTRL_RX,
	    VIRTIO_NET_CTRL_RX_PROMISC, 0);
	ERR(x, "RX.ALLMULTI: feature bit 18", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1);
}

/* ---- MAC table ----------------------------------------------------------- */

/* Build MAC_TABLE_SET with @nu unicast and @nm multicast entries (entry i
 * of each is xx:00:00:00:i/256:i%256) plus @extra trailing bytes; the
 * counts written are @cu / @cm (normally nu / nm). Return the length. */
static uint32_t mac_table_cmd(uint8_t *buf, uint32_t cu, uint32_t nu, uint32_t cm, uint32_t nm,
			      uint32_t extra)
{
	uint32_t off = 0;
	buf[off++] = VIRTIO_NET_CTRL_MAC;
	buf[off++] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
	for (int t = 0; t < 2; t++) {
		uint32_t count = t ? cm : cu, n = t ? nm : nu;
		for (int b = 0; b < 4; b++)
			buf[off++] = (uint8_t)(count >> (8 * b));
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t mac[6] = {t ? 0x01 : 0x02,   0,	      0, 0,
						(uint8_t)(i >> 8), (uint8_t)i};
			memcpy(buf + off, mac, 6);
			off += 6;
		}
	}
	memset(buf + off, 0xee, extra);
	return off + extra;
}

static void check_entry(const uint8_t mac[6], int multi, uint32_t i)
{
	const uint8_t want[6] = {multi ? 0x01 : 0x02, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
	assert_memory_equal(mac, want, 6);
}

static void test_mac_table_ok(void **state)
{
	struct fx *x = *state;
	static uint8_t buf[2 * (4 + 100 * 6) + 2];
	uint32_t len = mac_table_cmd(buf, 2, 2, 3, 3, 0);
	expect_ok(x, buf, len);
	assert_int_equal(x->f.n_uni, 2);
	assert_int_equal(x->f.n_multi, 3);
	assert_false(x->f.uni_overflow || x->f.multi_overflow);
	check_entry(x->f.uni[0], 0, 0);
	check_entry(x->f.uni[1], 0, 1);
	check_entry(x->f.multi[2], 1, 2);
	assert_int_equal(x->filter_changed, 1);

	/* Exactly NET_DEV_MAC_TABLE_MAX entries still fit; one more overflows:
	 * nothing stored, the whole table consumed. */
	len = mac_table_cmd(buf, NET_DEV_MAC_TABLE_MAX + 1, NET_DEV_MAC_TABLE_MAX + 1,
			    NET_DEV_MAC_TABLE_MAX, NET_DEV_MAC_TABLE_MAX, 0);
	expect_ok(x, buf, len);
	assert_true(x->f.uni_overflow);
	assert_int_equal(x->f.n_uni, 0);
	assert_false(x->f.multi_overflow);
	assert_int_equal(x->f.n_multi, NET_DEV_MAC_TABLE_MAX);
	check_entry(x->f.multi[NET_DEV_MAC_TABLE_MAX - 1], 1, NET_DEV_MAC_TABLE_MAX - 1);

	len = mac_table_cmd(buf, 0, 0, 100, 100, 0);
	expect_ok(x, buf, len);
	assert_false(x->f.uni_overflow);
	assert_true(x->f.multi_overflow);
	assert_int_equal(x->f.n_uni + x->f.n_multi, 0);

	/* Two empty tables: the overflow modes end, tables empty. */
	len = mac_table_cmd(buf, 0, 0, 0, 0, 0);
	assert_int_equal(len, 10);
	expect_ok(x, buf, len);
	assert_false(x->f.uni_overflow || x->f.multi_overflow);
	assert_int_equal(x->f.n_uni + x->f.n_multi, 0);
	assert_int_equal(x->filter_changed, 4);
	/* The same again changes nothing. */
	expect_ok(x, buf, len);
	assert_int_equal(x->filter_changed, 4);
}

static void test_mac_table_err(void **state)
{
	struct fx *x = *state;
	static uint8_t buf[2 * (4 + 100 * 6) + 16];
	/* A table in place, so "unchanged" means something. */
	expect_ok(x, buf, mac_table_cmd(buf, 1, 1, 1, 1, 0));

	ERR(x, "MAC.TABLE_SET: unicast table: 0 bytes left", VIRTIO_NET_CTRL_MAC,
	    VIRTIO_NET_CTRL_MAC_TABLE_SET);
	ERR(x, "unicast table: 3 bytes left", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0,
	    0, 0);
	ERR(x, "multicast table: 0 bytes left", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
	    0, 0, 0, 0);
	/* Counts larger than the data. */
	expect_err(x, buf, mac_table_cmd(buf, 2, 1, 0, 0, 0), "unicast table: 2 entries need 12");
	expect_err(x, buf, mac_table_cmd(buf, 1, 1, 3, 2, 0), "multicast table: 3 entries need 18");
	/* The unicast table swallows the multicast count. */
	expect_err(x, buf, mac_table_cmd(buf, 1, 1, 0, 0, 0) - 4, "multicast table: 0 bytes left");
	/* Trailing bytes after a correct pair of tables, even with overflow. */
	expect_err(x, buf, mac_table_cmd(buf, 1, 1, 1, 1, 1), "1 trailing bytes");
	expect_err(x, buf, mac_table_cmd(buf, 70, 70, 0, 0, 5), "5 trailing bytes");
	/* entries * 6 wraps 32 bits to 2 (0x2aaaaaab * 6 = 0x1_0000_0002): the
	 * count must not be believed. */
	ERR(x, "unicast table: 715827883 entries need 4294967298 bytes, 6 left",
	    VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0xab, 0xaa, 0xaa, 0x2a, 0x11, 0x22,
	    0, 0, 0, 0);
	expect_err(x, buf, mac_table_cmd(buf, 0, 0, 0xffffffffu, 0, 0), "multicast table");

	assert_int_equal(x->f.n_uni, 1);
	assert_int_equal(x->f.n_multi, 1);

	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_CTRL_RX));
	expect_err(x, buf, mac_table_cmd(buf, 0, 0, 0, 0, 0), "MAC.TABLE_SET: feature bit 18");
}

/* ---- MAC address --------------------------------------------------------- */

static void test_mac_addr(void **state)
{
	struct fx *x = *state;
	const uint8_t mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	OK(x, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0x02, 0x11, 0x22, 0x33, 0x44,
	   0x55);
	assert_memory_equal(x->f.mac, mac, 6);
	assert_int_equal(x->mac_changed, 1);
	assert_memory_equal(x->mac, mac, 6);
	assert_int_equal(x->filter_changed, 1);

	ERR(x, "MAC.ADDR_SET: data is 5 bytes, expected 6", VIRTIO_NET_CTRL_MAC,
	    VIRTIO_NET_CTRL_MAC_ADDR_SET, 1, 2, 3, 4, 5);
	ERR(x, "data is 7 bytes", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0, 1, 2, 3, 4,
	    5, 6);
	ERR(x, "data is 0 bytes", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET);
	ERR(x, "01:00:5e:00:00:01 is a multicast address", VIRTIO_NET_CTRL_MAC,
	    VIRTIO_NET_CTRL_MAC_ADDR_SET, 0x01, 0x00, 0x5e, 0, 0, 1);
	ERR(x, "ff:ff:ff:ff:ff:ff is a multicast", VIRTIO_NET_CTRL_MAC,
	    VIRTIO_NET_CTRL_MAC_ADDR_SET, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
	ERR(x, "ctrl MAC cmd 2: unknown command", VIRTIO_NET_CTRL_MAC, 2);

	/* The same address again: the hook is told, the filter is not
	 * republished. */
	OK(x, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0x02, 0x11, 0x22, 0x33, 0x44,
	   0x55);
	assert_int_equal(x->mac_changed, 2);
	assert_int_equal(x->filter_changed, 1);

	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_CTRL_MAC_ADDR));
	ERR(x, "MAC.ADDR_SET: feature bit 23 not negotiated", VIRTIO_NET_CTRL_MAC,
	    VIRTIO_NET_CTRL_MAC_ADDR_SET, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55);
}

/* ---- VLAN ---------------------------------------------------------------- */

static bool has_vid(const struct fx *x, unsigned vid)
{
	return (x->f.vlans[vid / 64] >> (vid % 64)) & 1u;
}

static void test_vlan(void **state)
{
	struct fx *x = *state;
	OK(x, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 0, 0);
	OK(x, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 100, 0);
	OK(x, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 0xff, 0x0f); /* 4095 */
	assert_true(has_vid(x, 0) && has_vid(x, 100) && has_vid(x, 4095));
	assert_false(has_vid(x, 1) || has_vid(x, 4094) || has_vid(x, 356));
	assert_int_equal(x->filter_changed, 3);
	OK(x, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 100, 0); /* again: no change */
	assert_int_equal(x->filter_changed, 3);
	OK(x, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 100, 0);
	assert_false(has_vid(x, 100));
	assert_true(has_vid(x, 0) && has_vid(x, 4095));
	OK(x, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 7, 0); /* absent: fine */
	assert_int_equal(x->filter_changed, 4);

	ERR(x, "VLAN.ADD: VLAN id 4096, expected < 4096", VIRTIO_NET_CTRL_VLAN,
	    VIRTIO_NET_CTRL_VLAN_ADD, 0x00, 0x10);
	ERR(x, "VLAN.DEL: VLAN id 65535", VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 0xff,
	    0xff);
	ERR(x, "VLAN.ADD: data is 1 bytes, expected 2", VIRTIO_NET_CTRL_VLAN,
	    VIRTIO_NET_CTRL_VLAN_ADD, 5);
	ERR(x, "VLAN.DEL: data is 3 bytes", VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 5, 0,
	    0);
	ERR(x, "ctrl VLAN cmd 2: unknown command", VIRTIO_NET_CTRL_VLAN, 2, 5, 0);

	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_CTRL_VLAN));
	ERR(x, "VLAN.ADD: feature bit 19 not negotiated", VIRTIO_NET_CTRL_VLAN,
	    VIRTIO_NET_CTRL_VLAN_ADD, 5, 0);
	ERR(x, "VLAN.DEL: feature bit 19", VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 5, 0);
}

/* ---- ANNOUNCE ------------------------------------------------------------ */

static void test_announce(void **state)
{
	struct fx *x = *state;
	OK(x, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK);
	assert_int_equal(x->announce_calls, 1);
	assert_int_equal(x->filter_changed, 0);
	ERR(x, "ANNOUNCE.ACK: data is 1 bytes, expected 0", VIRTIO_NET_CTRL_ANNOUNCE,
	    VIRTIO_NET_CTRL_ANNOUNCE_ACK, 0);
	ERR(x, "ctrl ANNOUNCE cmd 1: unknown command", VIRTIO_NET_CTRL_ANNOUNCE, 1);
	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_GUEST_ANNOUNCE));
	ERR(x, "ANNOUNCE.ACK: feature bit 21 not negotiated", VIRTIO_NET_CTRL_ANNOUNCE,
	    VIRTIO_NET_CTRL_ANNOUNCE_ACK);
}

/* ---- MQ ------------------------------------------------------------------ */

static void test_mq(void **state)
{
	struct fx *x = *state;
	OK(x, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAX_PAIRS, 0);
	assert_int_equal(x->pairs_calls, 1);
	assert_int_equal(x->pairs, MAX_PAIRS);
	OK(x, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1, 0);
	assert_int_equal(x->pairs, 1);
	assert_int_equal(x->filter_changed, 0);

	ERR(x, "MQ.VQ_PAIRS_SET: 0 queue pairs, expected 1..4", VIRTIO_NET_CTRL_MQ,
	    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0, 0);
	ERR(x, "5 queue pairs", VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAX_PAIRS + 1,
	    0);
	ERR(x, "260 queue pairs", VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 4, 1);
	ERR(x, "data is 1 bytes, expected 2", VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
	    1);
	ERR(x, "data is 3 bytes", VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1, 0, 0);
	/* RSS_CONFIG (1) and HASH_CONFIG (2) are not offered. */
	ERR(x, "ctrl MQ cmd 1: unknown command", VIRTIO_NET_CTRL_MQ, 1, 1, 0);
	ERR(x, "ctrl MQ cmd 2: unknown command", VIRTIO_NET_CTRL_MQ, 2);

	/* A hook refusing: ERR with the errno named. */
	x->pairs_rc = -EBUSY;
	const uint8_t c[] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0};
	expect_err_hooks(x, c, sizeof(c), strerror(EBUSY), 1);
	assert_int_equal(x->pairs, 2);
	x->pairs_rc = 0;
	/* No hook: the device cannot do it. */
	x->t.set_queue_pairs = NULL;
	expect_err(x, c, sizeof(c), "cannot change its queue pairs");

	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_MQ));
	ERR(x, "MQ.VQ_PAIRS_SET: feature bit 22 not negotiated", VIRTIO_NET_CTRL_MQ,
	    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1, 0);
}

/* ---- Guest offloads ------------------------------------------------------ */

static void offl_cmd(uint8_t c[10], uint64_t v)
{
	c[0] = VIRTIO_NET_CTRL_GUEST_OFFLOADS;
	c[1] = VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET;
	for (int i = 0; i < 8; i++)
		c[2 + i] = (uint8_t)(v >> (8 * i));
}

static void test_guest_offloads(void **state)
{
	struct fx *x = *state;
	uint8_t c[10];
	const uint64_t all = F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
			     F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN) |
			     F(VIRTIO_NET_F_GUEST_UFO);
	const uint64_t ok[] = {0, F(VIRTIO_NET_F_GUEST_CSUM),
			       F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO6), all};
	for (unsigned i = 0; i < 4; i++) {
		offl_cmd(c, ok[i]);
		expect_ok(x, c, sizeof(c));
		assert_int_equal(x->offload_calls, i + 1);
		assert_true(x->offloads == ok[i]);
	}
	assert_int_equal(x->filter_changed, 0);

	/* Segmentation/ECN offloads without GUEST_CSUM. */
	const unsigned need_csum[] = {VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
				      VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_UFO};
	for (unsigned i = 0; i < 4; i++) {
		offl_cmd(c, F(need_csum[i]));
		expect_err(x, c, sizeof(c), "without GUEST_CSUM");
	}
	offl_cmd(c, all & ~F(VIRTIO_NET_F_GUEST_CSUM));
	expect_err(x, c, sizeof(c), "without GUEST_CSUM");
	/* Bits that are not guest offloads at all. */
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_CSUM));
	expect_err(x, c, sizeof(c), "offloads 0x3 outside the negotiated 0x782");
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM) | F(63));
	expect_err(x, c, sizeof(c), "outside the negotiated");
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS));
	expect_err(x, c, sizeof(c), "outside the negotiated");
	/* Lengths. */
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM));
	expect_err(x, c, 9, "GUEST_OFFLOADS.SET: data is 7 bytes, expected 8");
	expect_err(x, c, 2, "data is 0 bytes");
	uint8_t longer[11];
	memcpy(longer, c, 10);
	longer[10] = 0;
	expect_err(x, longer, sizeof(longer), "data is 9 bytes");
	ERR(x, "ctrl GUEST_OFFLOADS cmd 1: unknown command", VIRTIO_NET_CTRL_GUEST_OFFLOADS, 1);

	/* A hook refusing. */
	x->offloads_rc = -EINVAL;
	expect_err_hooks(x, c, sizeof(c), strerror(EINVAL), 1);
	x->offloads_rc = 0;
	x->t.set_guest_offloads = NULL;
	expect_err(x, c, sizeof(c), "cannot change its guest offloads");

	/* Only negotiated offload features may be enabled. */
	fx_init(x, ALL_FEATURES & ~(F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_UFO)));
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4));
	expect_ok(x, c, sizeof(c));
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO6));
	expect_err(x, c, sizeof(c), "outside the negotiated 0x282");
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_UFO));
	expect_err(x, c, sizeof(c), "outside the negotiated");
	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_GUEST_CSUM));
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM));
	expect_err(x, c, sizeof(c), "outside the negotiated 0x780");
	offl_cmd(c, 0);
	expect_ok(x, c, sizeof(c));

	fx_init(x, ALL_FEATURES & ~F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS));
	offl_cmd(c, F(VIRTIO_NET_F_GUEST_CSUM));
	expect_err(x, c, sizeof(c), "GUEST_OFFLOADS.SET: feature bit 2 not negotiated");
}

/* ---- Header and dispatch -------------------------------------------------- */

static void test_header_and_unknown(void **state)
{
	struct fx *x = *state;
	expect_err(x, (const uint8_t[]){0}, 0,
		   "command of 0 bytes, shorter than its 2-byte header");
	ERR(x, "command of 1 bytes", VIRTIO_NET_CTRL_RX);
	ERR(x, "ctrl class 6 cmd 0: unknown class", 6, 0, 1);
	ERR(x, "ctrl class 255 cmd 255: unknown class", 255, 255);
	/* Nothing negotiated: every known command is refused. */
	fx_init(x, 0);
	ERR(x, "not negotiated", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0);
	ERR(x, "not negotiated", VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK);
}

/* Optional hooks and the log may be NULL. */
static void test_null_hooks(void **state)
{
	struct fx *x = *state;
	x->t.filter_changed = NULL;
	x->t.mac_changed = NULL;
	x->t.announce_ack = NULL;
	x->t.log = NULL;
	assert_int_equal(EXEC(x, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	assert_false(x->f.promisc);
	assert_int_equal(
		EXEC(x, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 9),
		VIRTIO_NET_OK);
	assert_int_equal(x->f.mac[5], 9);
	assert_int_equal(EXEC(x, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK),
			 VIRTIO_NET_OK);
	assert_int_equal(EXEC(x, 9, 9), VIRTIO_NET_ERR);
	assert_int_equal(x->logs, 0);
}

/* ======================= net_dev_ctrlq_process on real rings =================== */

#define QSIZE	   16u
#define RING_BYTES (64u * 1024)
#define BUF_BYTES  (64u * 1024)
#define ACK_POISON 0xa5

struct qfx {
	struct fx x;
	enum vq_format fmt;
	struct tgm g;
	struct tring r;
	struct vq *q;
	struct vq_drv *d;
	uint32_t buf_next; /* bump allocator in the buffer area (offset) */
};

static int q_setup(void **state, enum vq_format fmt)
{
	struct qfx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	fx_init(&f->x, ALL_FEATURES);
	f->fmt = fmt;
	if (tgm_init(&f->g, RING_BYTES, BUF_BYTES, 0) || tring_alloc(&f->g, &f->r, fmt, QSIZE, 0) ||
	    tring_driver(&f->g, &f->r, F(VIRTIO_F_VERSION_1), &f->d) ||
	    tring_device(&f->g, &f->r, F(VIRTIO_F_VERSION_1), VQ_DIR_BOTH, 0, &f->q)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int q_setup_split(void **state)
{
	return q_setup(state, VQ_FORMAT_SPLIT);
}

static int q_setup_packed(void **state)
{
	return q_setup(state, VQ_FORMAT_PACKED);
}

static int q_teardown(void **state)
{
	struct qfx *f = *state;
	vq_free(f->q);
	vq_drv_free(f->d);
	tgm_fini(&f->g);
	free(f);
	return 0;
}

/* A buffer of @len bytes in the buffer area holding @bytes (NULL: poison). */
static struct vq_drv_buf qbuf(struct qfx *f, const void *bytes, uint32_t len)
{
	struct vq_drv_buf b = {.gpa = tgm_buf_gpa(&f->g) + f->buf_next, .len = len};
	assert_true(f->buf_next + len <= BUF_BYTES);
	uint8_t *p = tgm_drv_ptr(&f->g, b.gpa);
	if (bytes)
		memcpy(p, bytes, len);
	else
		memset(p, ACK_POISON, len);
	f->buf_next += (len + 15u) & ~15u;
	return b;
}

static uint8_t *qptr(struct qfx *f, const struct vq_drv_buf *b)
{
	return tgm_drv_ptr(&f->g, b->gpa);
}

/* Post @cmd (@len bytes) cut at the offsets in @cuts (ascending, ending
 * with 0), plus @nin writable buffers of @in_len bytes each. Returns the
 * chain id; the writable buffers in @in. */
static int post(struct qfx *f, const uint8_t *cmd, uint32_t len, const uint32_t *cuts, unsigned nin,
		uint32_t in_len, struct vq_drv_buf *in)
{
	struct vq_drv_buf bufs[16];
	unsigned n = 0;
	uint32_t at = 0;
	for (unsigned i = 0; cuts && cuts[i]; i++) {
		bufs[n++] = qbuf(f, cmd + at, cuts[i] - at);
		at = cuts[i];
	}
	if (at < len)
		bufs[n++] = qbuf(f, cmd + at, len - at);
	for (unsigned i = 0; i < nin; i++)
		in[i] = bufs[n + i] = qbuf(f, NULL, in_len);
	int id = vq_drv_add_chain(f->d, bufs, n, nin, false, (void *)(uintptr_t)(f->buf_next));
	assert_true(id >= 0);
	return id;
}

static void reap(struct qfx *f, unsigned want, struct vq_drv_used *u)
{
	assert_int_equal(vq_drv_reap(f->d, u, want + 1), want);
}

/* Three commands, header and data cut across descriptors; acks in the
 * first writable byte, used length 1, the rest of the writable part
 * untouched. */
static void test_process_chains(void **state)
{
	struct qfx *f = *state;
	struct fx *x = &f->x;
	uint8_t table[2 + 4 + 6 + 4 + 12];
	uint32_t tlen = mac_table_cmd(table, 1, 1, 2, 2, 0);
	assert_int_equal(tlen, sizeof(table));
	struct vq_drv_buf in[3][2];
	/* class | command | half the count | the rest of it and half a mac | the rest */
	const uint32_t cuts0[] = {1, 2, 4, 9, 0};
	int id0 = post(f, table, tlen, cuts0, 1, 1, in[0]);
	const uint8_t promisc_off[] = {VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0};
	const uint32_t cuts1[] = {2, 0};
	int id1 = post(f, promisc_off, 3, cuts1, 2, 4, in[1]);
	const uint8_t vlan_bad[] = {VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 0x00, 0x10};
	int id2 = post(f, vlan_bad, 4, NULL, 1, 8, in[2]);
	vq_drv_publish(f->d);

	bool notify = false;
	assert_int_equal(net_dev_ctrlq_process(&x->t, f->q, UINT_MAX, &notify), 3);
	assert_true(notify);
	struct vq_drv_used u[4];
	reap(f, 3, u);
	const int ids[] = {id0, id1, id2};
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(u[i].id, ids[i]);
		assert_int_equal(u[i].len, 1);
	}
	assert_int_equal(qptr(f, &in[0][0])[0], VIRTIO_NET_OK);
	assert_int_equal(qptr(f, &in[1][0])[0], VIRTIO_NET_OK);
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(qptr(f, &in[1][0])[i], ACK_POISON);
	assert_int_equal(qptr(f, &in[1][1])[0], ACK_POISON);
	assert_int_equal(qptr(f, &in[2][0])[0], VIRTIO_NET_ERR);
	assert_int_equal(qptr(f, &in[2][0])[1], ACK_POISON);

	assert_false(x->f.promisc);
	assert_int_equal(x->f.n_uni, 1);
	assert_int_equal(x->f.n_multi, 2);
	check_entry(x->f.uni[0], 0, 0);
	check_entry(x->f.multi[1], 1, 1);
	assert_int_equal(x->filter_changed, 2);
	assert_int_equal(x->logs, 1);
	assert_non_null(strstr(x->log, "VLAN.ADD: VLAN id 4096"));

	/* Nothing more: 0 chains, no notification. */
	notify = true;
	assert_int_equal(net_dev_ctrlq_process(&x->t, f->q, UINT_MAX, &notify), 0);
	assert_false(notify);
	assert_int_equal(vq_in_flight(f->q), 0);
}

/* Chains without a writable byte, malformed chains and oversized commands
 * complete (length 0, or ERR), each logged, and later chains are served. */
static void test_process_bad_chains(void **state)
{
	struct qfx *f = *state;
	struct fx *x = &f->x;
	const uint8_t promisc_off[] = {VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0};
	struct vq_drv_buf in[2];

	/* 1. No writable part: not executed, length 0. */
	int id0 = post(f, promisc_off, 3, NULL, 0, 0, in);
	/* 2. A readable buffer outside guest memory: a drop, length 0. */
	struct vq_drv_buf bad[2] = {{.gpa = 0x1000, .len = 3}, qbuf(f, NULL, 1)};
	int id1 = vq_drv_add_chain(f->d, bad, 1, 1, false, (void *)1);
	assert_true(id1 >= 0);
	/* 3. A command longer than NET_DEV_CTRLQ_MAX_CMD: ERR ack. */
	static uint8_t big[NET_DEV_CTRLQ_MAX_CMD + 1];
	memcpy(big, promisc_off, 3);
	const uint32_t cuts[] = {4096, 8192, 0};
	int id2 = post(f, big, sizeof(big), cuts, 1, 1, in);
	struct vq_drv_buf in2 = in[0];
	/* 4. A good one after all that. */
	int id3 = post(f, promisc_off, 3, NULL, 1, 1, in);
	vq_drv_publish(f->d);

	bool notify = false;
	assert_int_equal(net_dev_ctrlq_process(&x->t, f->q, UINT_MAX, &notify), 4);
	assert_true(notify);
	struct vq_drv_used u[5];
	reap(f, 4, u);
	const int ids[] = {id0, id1, id2, id3};
	const uint32_t lens[] = {0, 0, 1, 1};
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(u[i].id, ids[i]);
		assert_int_equal(u[i].len, lens[i]);
	}
	assert_int_equal(qptr(f, &bad[1])[0], ACK_POISON);
	assert_int_equal(qptr(f, &in2)[0], VIRTIO_NET_ERR);
	assert_int_equal(qptr(f, &in[0])[0], VIRTIO_NET_OK);
	assert_false(x->f.promisc);		/* only by the 4th chain */
	assert_int_equal(x->filter_changed, 1); /* ... which is the only change */
	assert_int_equal(x->logs, 3);
	assert_non_null(strstr(x->log, "more than 8192"));
	const struct vq_stats *st = vq_get_stats(f->q);
	assert_int_equal(st->dropped, 1);
	assert_int_equal(st->drop_reason[VQ_ERR_DESC_OUT_OF_MEMORY], 1);
	assert_false(vq_is_broken(f->q));

	/* The ring keeps going round: more chains than its size, one by one. */
	for (unsigned i = 0; i < 2 * QSIZE; i++) {
		f->buf_next = 0;
		const uint8_t cmd[] = {VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI,
				       (uint8_t)(i & 1)};
		post(f, cmd, 3, NULL, 1, 1, in);
		vq_drv_publish(f->d);
		assert_int_equal(net_dev_ctrlq_process(&x->t, f->q, UINT_MAX, &notify), 1);
		reap(f, 1, u);
		assert_int_equal(u[0].len, 1);
		assert_int_equal(qptr(f, &in[0])[0], VIRTIO_NET_OK);
		assert_int_equal(x->f.allmulti, i & 1);
	}
}

/* At most @max chains a call: five commands served 2 + 2 + 1, in order,
 * each call's completions published (the control thread's turn budget). */
static void test_process_budget(void **state)
{
	struct qfx *f = *state;
	struct fx *x = &f->x;
	const uint8_t promisc_on[] = {VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1};
	struct vq_drv_buf in[5][2];
	struct vq_drv_used u[6];
	const int want[] = {2, 2, 1, 0};
	int ids[5];
	bool notify;

	for (unsigned i = 0; i < 5; i++)
		ids[i] = post(f, promisc_on, 3, NULL, 1, 1, in[i]);
	vq_drv_publish(f->d);
	for (unsigned call = 0, next = 0; call < 4; call++) {
		assert_int_equal(net_dev_ctrlq_process(&x->t, f->q, 2, &notify), want[call]);
		if (!want[call])
			continue;
		reap(f, (unsigned)want[call], u);
		for (int i = 0; i < want[call]; i++, next++) {
			assert_int_equal(u[i].id, ids[next]);
			assert_int_equal(qptr(f, &in[next][0])[0], VIRTIO_NET_OK);
		}
	}
	assert_int_equal(vq_in_flight(f->q), 0);
}

/* A corrupt ring: net_dev_ctrlq_process() returns the queue's code. */
static void test_process_broken(void **state)
{
	struct qfx *f = *state;
	struct fx *x = &f->x;
	if (f->fmt == VQ_FORMAT_SPLIT) {
		/* avail->idx more than the queue size ahead, §2.7.13. */
		struct virtq_avail *avail = tgm_drv_ptr(&f->g, f->r.driver_gpa);
		__atomic_store_n(&avail->idx, (uint16_t)(QSIZE + 1), __ATOMIC_RELEASE);
	} else {
		/* An available descriptor with buffer id >= size, §2.8.21. */
		struct pvirtq_desc *desc = tgm_drv_ptr(&f->g, f->r.desc_gpa);
		desc[0] =
			(struct pvirtq_desc){.addr = tgm_buf_gpa(&f->g), .len = 3, .id = QSIZE + 5};
		__atomic_store_n(&desc[0].flags, (uint16_t)VIRTQ_DESC_F_AVAIL, __ATOMIC_RELEASE);
	}
	bool notify = true;
	int rc = net_dev_ctrlq_process(&x->t, f->q, UINT_MAX, &notify);
	assert_true(rc < 0);
	assert_false(vq_err_is_drop(rc));
	assert_true(vq_is_broken(f->q));
	assert_int_equal(-rc, vq_broken_reason(f->q));
	assert_false(notify);
	assert_int_equal(x->logs, 1);
	assert_non_null(strstr(x->log, "queue broken"));
	assert_int_equal(net_dev_ctrlq_process(&x->t, f->q, UINT_MAX, &notify), -VQ_ERR_BROKEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rx_modes_ok, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rx_modes_err, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mac_table_ok, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mac_table_err, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mac_addr, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_vlan, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_announce, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mq, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_guest_offloads, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_header_and_unknown, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_null_hooks, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_process_chains, q_setup_split, q_teardown),
		cmocka_unit_test_setup_teardown(test_process_chains, q_setup_packed, q_teardown),
		cmocka_unit_test_setup_teardown(test_process_bad_chains, q_setup_split, q_teardown),
		cmocka_unit_test_setup_teardown(test_process_bad_chains, q_setup_packed,
						q_teardown),
		cmocka_unit_test_setup_teardown(test_process_budget, q_setup_split, q_teardown),
		cmocka_unit_test_setup_teardown(test_process_budget, q_setup_packed, q_teardown),
		cmocka_unit_test_setup_teardown(test_process_broken, q_setup_split, q_teardown),
		cmocka_unit_test_setup_teardown(test_process_broken, q_setup_packed, q_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
