/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the receive filter (lib/net_dev/rx_filter.h): every accept rule
 * of §5.1.6.5.1-3 as one table of (modes, destination, VLAN tag, length,
 * expected verdict), the order of the rules as in QEMU's receive_filter()
 * (promiscuous first, then VLAN, broadcast, multicast, unicast), and the
 * state after a reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net_dev/rx_filter.h"

/* Filter modes of a table row. */
enum {
	M_PROMISC = 1 << 0,
	M_ALLMULTI = 1 << 1,
	M_ALLUNI = 1 << 2,
	M_NOMULTI = 1 << 3,
	M_NOUNI = 1 << 4,
	M_NOBCAST = 1 << 5,
	M_UNI_OVF = 1 << 6,
	M_MULTI_OVF = 1 << 7,
	M_VLANF = 1 << 8,
};

static const uint8_t OWN[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t UNI_IN[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01};
static const uint8_t UNI_OUT[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02};
static const uint8_t UNI_STALE[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0x03}; /* past n_uni */
static const uint8_t MC_IN[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
static const uint8_t MC_OUT[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x02};
static const uint8_t MC_STALE[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01}; /* past n_multi */
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define UNTAGGED (-1)
/* VLAN ids in the table of every row's filter. */
#define VID_IN	100
#define VID_MAX 4095
#define VID_OUT 5

struct row {
	const char *name;
	unsigned modes;
	const uint8_t *dst;
	int tci; /* UNTAGGED, or the 16-bit TCI (priority bits included) */
	uint32_t len;
	bool want;
};

static const struct row rows[] = {
	/* length */
	{"empty frame", 0, OWN, UNTAGGED, 0, false},
	{"13 bytes", 0, OWN, UNTAGGED, 13, false},
	{"13 bytes promisc", M_PROMISC, OWN, UNTAGGED, 13, false},
	{"14 bytes own", 0, OWN, UNTAGGED, 14, true},
	/* promiscuous short-circuits everything */
	{"promisc other uni", M_PROMISC, UNI_OUT, UNTAGGED, 60, true},
	{"promisc nouni", M_PROMISC | M_NOUNI, OWN, UNTAGGED, 60, true},
	{"promisc nomulti", M_PROMISC | M_NOMULTI, MC_OUT, UNTAGGED, 60, true},
	{"promisc nobcast", M_PROMISC | M_NOBCAST, BCAST, UNTAGGED, 60, true},
	{"promisc vlan not in table", M_PROMISC | M_VLANF, UNI_OUT, VID_OUT, 64, true},
	{"promisc short tag", M_PROMISC | M_VLANF, OWN, VID_OUT, 14, true},
	/* VLAN */
	{"vlan in table", M_VLANF, OWN, VID_IN, 64, true},
	{"vlan 4095 in table", M_VLANF, OWN, VID_MAX, 64, true},
	{"vlan with priority bits", M_VLANF, OWN, 0xe000 | VID_IN, 64, true},
	{"vlan not in table", M_VLANF, OWN, VID_OUT, 64, false},
	{"vlan 0 not in table", M_VLANF, OWN, 0, 64, false},
	{"vlan not in table, priority", M_VLANF, OWN, 0xe000 | VID_OUT, 64, false},
	{"vlan not in table, bcast", M_VLANF, BCAST, VID_OUT, 64, false},
	{"vlan not in table, allmulti", M_VLANF | M_ALLMULTI, MC_IN, VID_OUT, 64, false},
	{"vlan in table, mac not", M_VLANF, UNI_OUT, VID_IN, 64, false},
	{"vlan tag cut short", M_VLANF, OWN, VID_IN, 15, false},
	{"vlan tag of 16 bytes", M_VLANF, OWN, VID_IN, 16, true},
	{"untagged with vlan filter", M_VLANF, OWN, UNTAGGED, 60, true},
	{"tag without vlan filter", 0, OWN, VID_OUT, 64, true},
	/* broadcast */
	{"bcast", 0, BCAST, UNTAGGED, 60, true},
	{"bcast nobcast", M_NOBCAST, BCAST, UNTAGGED, 60, false},
	{"bcast nobcast allmulti", M_NOBCAST | M_ALLMULTI, BCAST, UNTAGGED, 60, false},
	{"bcast nomulti", M_NOMULTI, BCAST, UNTAGGED, 60, true},
	{"bcast nouni", M_NOUNI, BCAST, UNTAGGED, 60, true},
	/* multicast */
	{"multi in table", 0, MC_IN, UNTAGGED, 60, true},
	{"multi not in table", 0, MC_OUT, UNTAGGED, 60, false},
	{"multi past n_multi", 0, MC_STALE, UNTAGGED, 60, false},
	{"multi allmulti", M_ALLMULTI, MC_OUT, UNTAGGED, 60, true},
	{"multi overflow", M_MULTI_OVF, MC_OUT, UNTAGGED, 60, true},
	{"multi nomulti", M_NOMULTI, MC_IN, UNTAGGED, 60, false},
	{"multi nomulti allmulti", M_NOMULTI | M_ALLMULTI, MC_OUT, UNTAGGED, 60, false},
	{"multi nomulti overflow", M_NOMULTI | M_MULTI_OVF, MC_OUT, UNTAGGED, 60, false},
	{"multi alluni", M_ALLUNI, MC_OUT, UNTAGGED, 60, false},
	{"multi uni overflow", M_UNI_OVF, MC_OUT, UNTAGGED, 60, false},
	{"multi nouni", M_NOUNI, MC_IN, UNTAGGED, 60, true},
	/* unicast */
	{"own", 0, OWN, UNTAGGED, 60, true},
	{"uni in table", 0, UNI_IN, UNTAGGED, 60, true},
	{"uni not in table", 0, UNI_OUT, UNTAGGED, 60, false},
	{"uni past n_uni", 0, UNI_STALE, UNTAGGED, 60, false},
	{"uni alluni", M_ALLUNI, UNI_OUT, UNTAGGED, 60, true},
	{"uni overflow", M_UNI_OVF, UNI_OUT, UNTAGGED, 60, true},
	{"own nouni", M_NOUNI, OWN, UNTAGGED, 60, false},
	{"uni nouni alluni", M_NOUNI | M_ALLUNI, UNI_IN, UNTAGGED, 60, false},
	{"uni nouni overflow", M_NOUNI | M_UNI_OVF, UNI_OUT, UNTAGGED, 60, false},
	{"uni allmulti", M_ALLMULTI, UNI_OUT, UNTAGGED, 60, false},
	{"uni multi overflow", M_MULTI_OVF, UNI_OUT, UNTAGGED, 60, false},
	{"uni nomulti nobcast", M_NOMULTI | M_NOBCAST, UNI_IN, UNTAGGED, 60, true},
};

static void set_vid(struct net_dev_rx_filter *f, unsigned vid)
{
	f->vlans[vid / 64] |= 1ull << (vid % 64);
}

static void build_filter(struct net_dev_rx_filter *f, unsigned modes)
{
	net_dev_rx_filter_reset(f, OWN, modes & M_VLANF);
	f->promisc = modes & M_PROMISC;
	f->allmulti = modes & M_ALLMULTI;
	f->alluni = modes & M_ALLUNI;
	f->nomulti = modes & M_NOMULTI;
	f->nouni = modes & M_NOUNI;
	f->nobcast = modes & M_NOBCAST;
	f->uni_overflow = modes & M_UNI_OVF;
	f->multi_overflow = modes & M_MULTI_OVF;
	f->n_uni = 1;
	memcpy(f->uni[0], UNI_IN, 6);
	memcpy(f->uni[1], UNI_STALE, 6);
	f->n_multi = 1;
	memcpy(f->multi[0], MC_IN, 6);
	memcpy(f->multi[1], MC_STALE, 6);
	set_vid(f, VID_IN);
	set_vid(f, VID_MAX);
}

/* A frame of @len bytes in a buffer of exactly that size (ASan sees any
 * read past it): dst, a source address, the tag or an IPv4 ethertype. */
static uint8_t *build_frame(const struct row *r)
{
	uint8_t full[64] = {0};
	memcpy(full, r->dst, 6);
	memcpy(full + 6, UNI_OUT, 6);
	if (r->tci == UNTAGGED) {
		full[12] = 0x08;
	} else {
		full[12] = 0x81;
		full[14] = (uint8_t)(r->tci >> 8);
		full[15] = (uint8_t)r->tci;
		full[16] = 0x08;
	}
	uint8_t *p = test_malloc(r->len ? r->len : 1);
	memcpy(p, full, r->len);
	return p;
}

static void test_accept_table(void **state)
{
	(void)state;
	unsigned bad = 0;
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct net_dev_rx_filter f;
		build_filter(&f, r->modes);
		uint8_t *frame = build_frame(r);
		bool got = net_dev_rx_filter_accept(&f, frame, r->len);
		test_free(frame);
		if (got != r->want) {
			print_error("row '%s': got %s, expected %s\n", r->name,
				    got ? "accept" : "reject", r->want ? "accept" : "reject");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* A fresh filter accepts everything at least 14 bytes long (§5.1.6.5.1:
 * promiscuous until the driver says otherwise), VLAN filtering or not. */
static void test_reset_state(void **state)
{
	(void)state;
	struct net_dev_rx_filter f;
	memset(&f, 0xa5, sizeof(f));
	net_dev_rx_filter_reset(&f, OWN, true);
	assert_true(f.promisc);
	assert_false(f.allmulti || f.alluni || f.nomulti || f.nouni || f.nobcast);
	assert_false(f.uni_overflow || f.multi_overflow);
	assert_int_equal(f.n_uni, 0);
	assert_int_equal(f.n_multi, 0);
	assert_memory_equal(f.mac, OWN, 6);
	assert_true(f.vlan_filtering);
	for (unsigned i = 0; i < 4096 / 64; i++)
		assert_true(f.vlans[i] == 0);

	const uint8_t *dsts[] = {OWN, UNI_OUT, MC_OUT, BCAST};
	for (unsigned i = 0; i < 4; i++) {
		struct row r = {"fresh", 0, dsts[i], VID_OUT, 64, true};
		uint8_t *frame = build_frame(&r);
		assert_true(net_dev_rx_filter_accept(&f, frame, 64));
		test_free(frame);
	}
	net_dev_rx_filter_reset(&f, UNI_IN, false);
	assert_false(f.vlan_filtering);
	assert_memory_equal(f.mac, UNI_IN, 6);
}

/* Once promiscuous mode is off, the own address is the only unicast one
 * that passes with empty tables, and tables of full size are searched to
 * their last entry. */
static void test_full_tables(void **state)
{
	(void)state;
	struct net_dev_rx_filter f;
	net_dev_rx_filter_reset(&f, OWN, false);
	f.promisc = false;
	f.n_uni = NET_DEV_MAC_TABLE_MAX;
	f.n_multi = NET_DEV_MAC_TABLE_MAX;
	for (unsigned i = 0; i < NET_DEV_MAC_TABLE_MAX; i++) {
		uint8_t u[6] = {0x02, 0, 0, 0, 1, (uint8_t)i};
		uint8_t m[6] = {0x01, 0, 0, 0, 1, (uint8_t)i};
		memcpy(f.uni[i], u, 6);
		memcpy(f.multi[i], m, 6);
	}
	uint8_t frame[60] = {0x02, 0, 0, 0, 1, NET_DEV_MAC_TABLE_MAX - 1};
	assert_true(net_dev_rx_filter_accept(&f, frame, sizeof(frame)));
	frame[0] = 0x01;
	assert_true(net_dev_rx_filter_accept(&f, frame, sizeof(frame)));
	frame[5] = NET_DEV_MAC_TABLE_MAX;
	assert_false(net_dev_rx_filter_accept(&f, frame, sizeof(frame)));
	frame[0] = 0x02;
	assert_false(net_dev_rx_filter_accept(&f, frame, sizeof(frame)));
	memcpy(frame, OWN, 6);
	assert_true(net_dev_rx_filter_accept(&f, frame, sizeof(frame)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_table),
		cmocka_unit_test(test_reset_state),
		cmocka_unit_test(test_full_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
