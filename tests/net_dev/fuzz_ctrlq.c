/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: control-queue commands (net_dev_ctrlq_exec(), lib/net_dev/net_dev_ctrlq.h)
 * against one receive filter, then the filter itself.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h):
 *   u64 features             negotiated virtio features
 *   u8  max_queue_pairs
 *   u8  hooks                bit 0: set_queue_pairs fails (-EBUSY)
 *                            bit 1: set_guest_offloads fails (-EINVAL)
 *                            bit 2: every hook and the log NULL
 *   then commands until the input ends, each
 *   u16 len, len bytes       class, command, data (clipped to the input)
 *
 * Invariants (FUZZ_CHECK) after every command:
 *  - the ack is VIRTIO_NET_OK or VIRTIO_NET_ERR; ERR comes with exactly one
 *    log line, OK with none;
 *  - ERR leaves the filter byte-for-byte unchanged and calls no hook except
 *    a set_* hook that failed;
 *  - OK only for a known command whose feature is negotiated (an
 *    independent table here); filter_changed exactly when the filter
 *    changed;
 *  - the tables hold at most NET_DEV_MAC_TABLE_MAX entries, none while
 *    overflowed; the own address stays unicast; vlan_filtering is never
 *    touched;
 *  - hooks get checked values: pairs in 1..max_queue_pairs, offloads a
 *    negotiated subset with GUEST_CSUM whenever not 0;
 *  - net_dev_rx_filter_accept() on the command's bytes as a frame: never for
 *    fewer than 14 bytes, always when promiscuous otherwise.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_input.h"
#include "net_dev/net_dev_ctrlq.h"
#include "spec/virtio_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct net_dev_rx_filter f;
	struct net_dev_ctrlq_target t;
	unsigned filter_changed, mac_changed, announce, pairs_calls, offload_calls, logs;
	int pairs_rc, offloads_rc;
};

static void fz_filter_changed(void *o)
{
	((struct fz *)o)->filter_changed++;
}

static void fz_mac_changed(void *o, const uint8_t mac[6])
{
	struct fz *z = o;
	z->mac_changed++;
	FUZZ_CHECK(!(mac[0] & 1u));
	FUZZ_CHECK(!memcmp(mac, z->f.mac, 6));
}

static int fz_pairs(void *o, unsigned pairs)
{
	struct fz *z = o;
	z->pairs_calls++;
	FUZZ_CHECK(pairs >= 1 && pairs <= z->t.max_queue_pairs);
	return z->pairs_rc;
}

static const unsigned offload_bits[] = {VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4,
					VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN,
					VIRTIO_NET_F_GUEST_UFO};

static int fz_offloads(void *o, uint64_t offloads)
{
	struct fz *z = o;
	z->offload_calls++;
	uint64_t allowed = 0;
	for (unsigned i = 0; i < sizeof(offload_bits) / sizeof(offload_bits[0]); i++)
		if (vq_has_feature(z->t.features, offload_bits[i]))
			allowed |= 1ull << offload_bits[i];
	FUZZ_CHECK(!(offloads & ~allowed));
	FUZZ_CHECK(!offloads || vq_has_feature(offloads, VIRTIO_NET_F_GUEST_CSUM));
	return z->offloads_rc;
}

static void fz_announce(void *o)
{
	((struct fz *)o)->announce++;
}

static void fz_log(void *o, enum vqnet_log_level level, const char *line)
{
	struct fz *z = o;
	z->logs++;
	FUZZ_CHECK(level >= 0 && level <= 3);
	FUZZ_CHECK(line && strlen(line) > 0);
}

/* The feature each known command needs (§5.1.6.5), or -1 if unknown. */
static int needed_feature(uint8_t class, uint8_t cmd)
{
	switch (class) {
	case VIRTIO_NET_CTRL_RX:
		if (cmd <= VIRTIO_NET_CTRL_RX_ALLMULTI)
			return VIRTIO_NET_F_CTRL_RX;
		return cmd <= VIRTIO_NET_CTRL_RX_NOBCAST ? VIRTIO_NET_F_CTRL_RX_EXTRA : -1;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET)
			return VIRTIO_NET_F_CTRL_RX;
		return cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET ? VIRTIO_NET_F_CTRL_MAC_ADDR : -1;
	case VIRTIO_NET_CTRL_VLAN:
		return cmd <= VIRTIO_NET_CTRL_VLAN_DEL ? VIRTIO_NET_F_CTRL_VLAN : -1;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		return cmd == VIRTIO_NET_CTRL_ANNOUNCE_ACK ? VIRTIO_NET_F_GUEST_ANNOUNCE : -1;
	case VIRTIO_NET_CTRL_MQ:
		return cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET ? VIRTIO_NET_F_MQ : -1;
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
		return cmd == VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET ? VIRTIO_NET_F_CTRL_GUEST_OFFLOADS
								 : -1;
	default:
		return -1;
	}
}

static void check_filter(const struct fz *z, bool vlan_filtering)
{
	const struct net_dev_rx_filter *f = &z->f;
	FUZZ_CHECK(f->n_uni <= NET_DEV_MAC_TABLE_MAX);
	FUZZ_CHECK(f->n_multi <= NET_DEV_MAC_TABLE_MAX);
	FUZZ_CHECK(!f->uni_overflow || f->n_uni == 0);
	FUZZ_CHECK(!f->multi_overflow || f->n_multi == 0);
	FUZZ_CHECK(!(f->mac[0] & 1u));
	FUZZ_CHECK(f->vlan_filtering == vlan_filtering);
}

static void run_one(struct fz *z, const uint8_t *cmd, uint32_t len, bool vlan_filtering)
{
	struct net_dev_rx_filter before = z->f;
	unsigned logs = z->logs, changed = z->filter_changed, mac = z->mac_changed,
		 ann = z->announce, pairs = z->pairs_calls, offl = z->offload_calls;
	bool log_on = z->t.log != NULL;

	uint8_t ack = net_dev_ctrlq_exec(&z->t, cmd, len);

	FUZZ_CHECK(ack == VIRTIO_NET_OK || ack == VIRTIO_NET_ERR);
	check_filter(z, vlan_filtering);
	bool filter_same = !memcmp(&before, &z->f, sizeof(before));
	if (ack == VIRTIO_NET_ERR) {
		FUZZ_CHECK(!log_on || z->logs == logs + 1);
		FUZZ_CHECK(filter_same);
		FUZZ_CHECK(z->filter_changed == changed && z->mac_changed == mac &&
			   z->announce == ann);
		/* A failing set_* hook is called once; a working one never. */
		FUZZ_CHECK(z->pairs_calls - pairs <= (z->pairs_rc ? 1u : 0u));
		FUZZ_CHECK(z->offload_calls - offl <= (z->offloads_rc ? 1u : 0u));
	} else {
		FUZZ_CHECK(z->logs == logs);
		FUZZ_CHECK(len >= 2);
		int feat = needed_feature(cmd[0], cmd[1]);
		FUZZ_CHECK(feat >= 0 && vq_has_feature(z->t.features, (unsigned)feat));
		if (log_on)
			FUZZ_CHECK(z->filter_changed == changed + !filter_same);
	}

	/* The command bytes as a frame (the buffer is exactly @len long). */
	bool pass = net_dev_rx_filter_accept(&z->f, cmd, len);
	if (len < 14)
		FUZZ_CHECK(!pass);
	else if (z->f.promisc)
		FUZZ_CHECK(pass);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	static struct fz z; /* ~1 KiB filter; static keeps the stack small */
	memset(&z, 0, sizeof(z));
	uint64_t features = fin_u64(&in);
	unsigned max_pairs = fin_u8(&in);
	uint8_t hooks = fin_u8(&in);
	bool vlan_filtering = vq_has_feature(features, VIRTIO_NET_F_CTRL_VLAN);
	const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	net_dev_rx_filter_reset(&z.f, mac, vlan_filtering);
	z.pairs_rc = hooks & 1 ? -EBUSY : 0;
	z.offloads_rc = hooks & 2 ? -EINVAL : 0;
	z.t = (struct net_dev_ctrlq_target){
		.features = features, .max_queue_pairs = max_pairs, .filter = &z.f, .opaque = &z};
	if (!(hooks & 4)) {
		z.t.filter_changed = fz_filter_changed;
		z.t.mac_changed = fz_mac_changed;
		z.t.set_queue_pairs = fz_pairs;
		z.t.set_guest_offloads = fz_offloads;
		z.t.announce_ack = fz_announce;
		z.t.log = fz_log;
	}
	while (in.left) {
		uint32_t len = fin_u16(&in);
		if (len > in.left)
			len = (uint32_t)in.left;
		/* An exact-size copy: a sanitizer sees any read past the end. */
		uint8_t *cmd = malloc(len ? len : 1);
		if (!cmd)
			break;
		memcpy(cmd, in.p, len);
		run_one(&z, cmd, len, vlan_filtering);
		free(cmd);
		in.p += len;
		in.left -= len;
	}
	return 0;
}
