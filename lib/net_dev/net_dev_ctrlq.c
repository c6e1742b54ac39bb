/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net control queue, device side (VIRTIO 1.2 §5.1.6.5).
 *
 * Theory of operation: net_dev_ctrlq_process() pops each chain, gathers its
 * device-readable part into a flat buffer (class, command, data), hands it
 * to net_dev_ctrlq_exec() and writes the one-byte ack into the first
 * device-writable byte. net_dev_ctrlq_exec() is a pure codec over the flat
 * bytes plus the target's hooks, which is what the fuzz target drives.
 *
 * Commands come from one table (class, command, name, required feature,
 * handler). The dispatcher checks the header and the feature; each handler
 * checks its data length and values, and edits a *copy* of the filter: the
 * target's filter is replaced only when the command succeeds, so a command
 * answered VIRTIO_NET_ERR changes nothing (a MAC table is parsed to its
 * end before any of it is applied). Hooks with effects outside the filter
 * are called last, after every check passed.
 *
 * Everything the guest sends is untrusted: lengths are checked before
 * each read, with 64-bit arithmetic where a count multiplies a size. Every
 * ERR answer comes with exactly one log line naming the command and the
 * reason (the device's log callback rate-limits if it wishes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/compiler.h"
#include "net_dev_ctrlq.h"
#include "spec/virtio_net.h"

#define MAC_LEN	 6u
#define VLAN_MAX 4096u

/* Most iovecs one control chain may have; a longer chain is a drop
 * (VQ_ERR_CHAIN_TOO_MANY_SEGMENTS) completed with length 0. */
#define NET_DEV_CTRLQ_MAX_IOV 64u

/* One command being run: the target, the bytes after the header, and the
 * reason for an ERR answer (logged by the dispatcher). */
struct ctrl_cmd {
	struct net_dev_ctrlq_target *t;
	const uint8_t *data;
	uint32_t len;
	struct net_dev_rx_filter nf; /* the filter as the command leaves it */
	char why[160];
};

/* Record why the command fails; return VIRTIO_NET_ERR. */
static uint8_t __attribute__((format(printf, 2, 3))) fail(struct ctrl_cmd *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return VIRTIO_NET_ERR;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)get_le16(p) | (uint32_t)get_le16(p + 2) << 16;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static uint8_t want_len(struct ctrl_cmd *c, uint32_t len)
{
	if (c->len != len)
		return fail(c, "data is %u bytes, expected %u", c->len, len);
	return VIRTIO_NET_OK;
}

/* ---- RX modes, §5.1.6.5.1: one byte, 0 (off) or 1 (on) ---------------- */

static bool *rx_mode(struct net_dev_rx_filter *f, uint8_t cmd)
{
	switch (cmd) {
	case VIRTIO_NET_CTRL_RX_PROMISC:
		return &f->promisc;
	case VIRTIO_NET_CTRL_RX_ALLMULTI:
		return &f->allmulti;
	case VIRTIO_NET_CTRL_RX_ALLUNI:
		return &f->alluni;
	case VIRTIO_NET_CTRL_RX_NOMULTI:
		return &f->nomulti;
	case VIRTIO_NET_CTRL_RX_NOUNI:
		return &f->nouni;
	default: /* VIRTIO_NET_CTRL_RX_NOBCAST: the table has no other RX rows */
		return &f->nobcast;
	}
}

static uint8_t h_rx_mode(struct ctrl_cmd *c, uint8_t cmd)
{
	if (want_len(c, 1))
		return VIRTIO_NET_ERR;
	if (c->data[0] > 1)
		return fail(c, "value %u, expected 0 or 1", c->data[0]);
	*rx_mode(&c->nf, cmd) = c->data[0];
	return VIRTIO_NET_OK;
}

/* ---- MAC table, §5.1.6.5.2 --------------------------------------------- */

/*
 * Parse one {le32 entries; u8 macs[entries][6]} table at *off. Entries
 * beyond NET_DEV_MAC_TABLE_MAX are not stored: the table overflows and the
 * device accepts every address of that kind (as QEMU does). The size check
 * is done in 64 bits: entries * 6 cannot wrap.
 */
static uint8_t parse_mac_table(struct ctrl_cmd *c, uint32_t *off, const char *kind,
			       uint8_t (*table)[6], uint32_t *n, bool *overflow)
{
	uint32_t left = c->len - *off;
	if (left < 4)
		return fail(c, "%s table: %u bytes left, no room for the entry count", kind, left);
	uint32_t entries = get_le32(c->data + *off);
	uint64_t bytes = (uint64_t)entries * MAC_LEN;
	left -= 4;
	if (bytes > left)
		return fail(c, "%s table: %u entries need %llu bytes, %u left", kind, entries,
			    (unsigned long long)bytes, left);
	const uint8_t *macs = c->data + *off + 4;
	memset(table, 0, NET_DEV_MAC_TABLE_MAX * MAC_LEN);
	*overflow = entries > NET_DEV_MAC_TABLE_MAX;
	*n = *overflow ? 0 : entries;
	if (!*overflow)
		memcpy(table, macs, bytes);
	*off += 4 + (uint32_t)bytes;
	return VIRTIO_NET_OK;
}

static uint8_t h_mac_table_set(struct ctrl_cmd *c, uint8_t cmd)
{
	(void)cmd;
	struct net_dev_rx_filter *f = &c->nf;
	uint32_t off = 0;
	if (parse_mac_table(c, &off, "unicast", f->uni, &f->n_uni, &f->uni_overflow) ||
	    parse_mac_table(c, &off, "multicast", f->multi, &f->n_multi, &f->multi_overflow))
		return VIRTIO_NET_ERR;
	if (off != c->len)
		return fail(c, "%u trailing bytes after the multicast table", c->len - off);
	return VIRTIO_NET_OK;
}

/* §5.1.6.5.2: the driver sets the device's own (unicast) address. A
 * multicast or broadcast address could never be a station address. */
static uint8_t h_mac_addr_set(struct ctrl_cmd *c, uint8_t cmd)
{
	(void)cmd;
	if (want_len(c, MAC_LEN))
		return VIRTIO_NET_ERR;
	if (c->data[0] & 1u)
		return fail(c, "%02x:%02x:%02x:%02x:%02x:%02x is a multicast address", c->data[0],
			    c->data[1], c->data[2], c->data[3], c->data[4], c->data[5]);
	memcpy(c->nf.mac, c->data, MAC_LEN);
	return VIRTIO_NET_OK;
}

/* ---- VLAN table, §5.1.6.5.3: le16 id ----------------------------------- */

static uint8_t h_vlan(struct ctrl_cmd *c, uint8_t cmd)
{
	if (want_len(c, 2))
		return VIRTIO_NET_ERR;
	unsigned vid = get_le16(c->data);
	if (vid >= VLAN_MAX)
		return fail(c, "VLAN id %u, expected < %u", vid, VLAN_MAX);
	uint64_t bit = 1ull << (vid % 64);
	if (cmd == VIRTIO_NET_CTRL_VLAN_ADD)
		c->nf.vlans[vid / 64] |= bit;
	else
		c->nf.vlans[vid / 64] &= ~bit;
	return VIRTIO_NET_OK;
}

/* ---- Announce, §5.1.6.5.4: no data ------------------------------------- */

static uint8_t h_announce_ack(struct ctrl_cmd *c, uint8_t cmd)
{
	(void)cmd;
	if (want_len(c, 0))
		return VIRTIO_NET_ERR;
	if (c->t->announce_ack)
		c->t->announce_ack(c->t->opaque);
	return VIRTIO_NET_OK;
}

/* ---- Multiqueue, §5.1.6.5.5: le16 virtqueue_pairs ---------------------- */

static uint8_t h_mq_pairs(struct ctrl_cmd *c, uint8_t cmd)
{
	(void)cmd;
	if (want_len(c, 2))
		return VIRTIO_NET_ERR;
	unsigned pairs = get_le16(c->data);
	/* §5.1.6.5.5.1: between 1 and max_virtqueue_pairs (itself <= 0x8000). */
	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > c->t->max_queue_pairs ||
	    pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
		return fail(c, "%u queue pairs, expected 1..%u", pairs, c->t->max_queue_pairs);
	if (!c->t->set_queue_pairs)
		return fail(c, "the device cannot change its queue pairs");
	int rc = c->t->set_queue_pairs(c->t->opaque, pairs);
	if (rc < 0)
		return fail(c, "%u queue pairs: %s", pairs, strerror(-rc));
	return VIRTIO_NET_OK;
}

/* ---- Guest offloads, §5.1.6.5.6.1: le64 offloads ----------------------- */

static const unsigned guest_offload_bits[] = {
	VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
	VIRTIO_NET_F_GUEST_ECN,	 VIRTIO_NET_F_GUEST_UFO,
};

static uint8_t h_guest_offloads(struct ctrl_cmd *c, uint8_t cmd)
{
	(void)cmd;
	if (want_len(c, 8))
		return VIRTIO_NET_ERR;
	uint64_t want = get_le64(c->data), allowed = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(guest_offload_bits); i++)
		if (vq_has_feature(c->t->features, guest_offload_bits[i]))
			allowed |= 1ull << guest_offload_bits[i];
	/* §5.1.6.5.6.2: only offloads whose features were negotiated. */
	if (want & ~allowed)
		return fail(c, "offloads 0x%llx outside the negotiated 0x%llx",
			    (unsigned long long)want, (unsigned long long)allowed);
	/* Segmentation and ECN offloads hand the driver packets with partial
	 * checksums: they need GUEST_CSUM (Linux refuses them without it). */
	if (want && !vq_has_feature(want, VIRTIO_NET_F_GUEST_CSUM))
		return fail(c, "offloads 0x%llx without GUEST_CSUM", (unsigned long long)want);
	if (!c->t->set_guest_offloads)
		return fail(c, "the device cannot change its guest offloads");
	int rc = c->t->set_guest_offloads(c->t->opaque, want);
	if (rc < 0)
		return fail(c, "offloads 0x%llx: %s", (unsigned long long)want, strerror(-rc));
	return VIRTIO_NET_OK;
}

/* ---- The command table ------------------------------------------------- */

struct ctrl_row {
	uint8_t class, cmd;
	unsigned feature; /* VIRTIO_NET_F_* required */
	const char *name;
	uint8_t (*handler)(struct ctrl_cmd *c, uint8_t cmd);
};

#define ROW(cl, cm, feat, fn)                                                                      \
	{                                                                                          \
		.class = VIRTIO_NET_CTRL_##cl, .cmd = VIRTIO_NET_CTRL_##cl##_##cm,                 \
		.feature = VIRTIO_NET_F_##feat, .name = #cl "." #cm, .handler = fn                 \
	}

static const struct ctrl_row ctrl_rows[] = {
	ROW(RX, PROMISC, CTRL_RX, h_rx_mode),
	ROW(RX, ALLMULTI, CTRL_RX, h_rx_mode),
	ROW(RX, ALLUNI, CTRL_RX_EXTRA, h_rx_mode),
	ROW(RX, NOMULTI, CTRL_RX_EXTRA, h_rx_mode),
	ROW(RX, NOUNI, CTRL_RX_EXTRA, h_rx_mode),
	ROW(RX, NOBCAST, CTRL_RX_EXTRA, h_rx_mode),
	ROW(MAC, TABLE_SET, CTRL_RX, h_mac_table_set),
	ROW(MAC, ADDR_SET, CTRL_MAC_ADDR, h_mac_addr_set),
	ROW(VLAN, ADD, CTRL_VLAN, h_vlan),
	ROW(VLAN, DEL, CTRL_VLAN, h_vlan),
	ROW(ANNOUNCE, ACK, GUEST_ANNOUNCE, h_announce_ack),
	ROW(MQ, VQ_PAIRS_SET, MQ, h_mq_pairs),
	ROW(GUEST_OFFLOADS, SET, CTRL_GUEST_OFFLOADS, h_guest_offloads),
};

static const char *const class_names[] = {"RX", "MAC", "VLAN", "ANNOUNCE", "MQ", "GUEST_OFFLOADS"};

static void ctrl_log(struct net_dev_ctrlq_target *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ctrl_log(struct net_dev_ctrlq_target *t, const char *fmt, ...)
{
	if (!t->log)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	t->log(t->opaque, VQNET_LOG_WARN, line);
}

static const struct ctrl_row *find_row(uint8_t class, uint8_t cmd, bool *class_known)
{
	*class_known = false;
	for (unsigned i = 0; i < ARRAY_SIZE(ctrl_rows); i++) {
		if (ctrl_rows[i].class != class)
			continue;
		*class_known = true;
		if (ctrl_rows[i].cmd == cmd)
			return &ctrl_rows[i];
	}
	return NULL;
}

uint8_t net_dev_ctrlq_exec(struct net_dev_ctrlq_target *t, const uint8_t *cmd, uint32_t len)
{
	if (len < sizeof(struct virtio_net_ctrl_hdr)) {
		ctrl_log(t, "ctrl: command of %u bytes, shorter than its 2-byte header", len);
		return VIRTIO_NET_ERR;
	}
	bool class_known;
	const struct ctrl_row *row = find_row(cmd[0], cmd[1], &class_known);
	if (!row) {
		if (class_known)
			ctrl_log(t, "ctrl %s cmd %u: unknown command", class_names[cmd[0]], cmd[1]);
		else
			ctrl_log(t, "ctrl class %u cmd %u: unknown class", cmd[0], cmd[1]);
		return VIRTIO_NET_ERR;
	}
	if (!vq_has_feature(t->features, row->feature)) {
		ctrl_log(t, "ctrl %s: feature bit %u not negotiated", row->name, row->feature);
		return VIRTIO_NET_ERR;
	}
	/* The copy costs ~900 bytes on the control path only; it makes "ERR
	 * leaves the filter unchanged" hold by construction. */
	struct ctrl_cmd c = {.t = t, .data = cmd + 2, .len = len - 2, .nf = *t->filter};
	if (row->handler(&c, row->cmd) != VIRTIO_NET_OK) {
		ctrl_log(t, "ctrl %s: %s", row->name, c.why);
		return VIRTIO_NET_ERR;
	}
	/* Commit, then tell: mac_changed finds the filter's mac already set;
	 * the filter is republished only when it really changed. */
	bool changed = memcmp(&c.nf, t->filter, sizeof(c.nf)) != 0;
	if (changed)
		*t->filter = c.nf;
	if (row->class == VIRTIO_NET_CTRL_MAC && row->cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET &&
	    t->mac_changed)
		t->mac_changed(t->opaque, t->filter->mac);
	if (changed && t->filter_changed)
		t->filter_changed(t->opaque);
	return VIRTIO_NET_OK;
}

/* ---- The queue ---------------------------------------------------------- */

/* Gather the device-readable part of @e (out_len <= @cap bytes).
 * Return: the bytes gathered (out_len). */
static uint32_t gather(const struct vq_elem *e, uint8_t *buf)
{
	uint32_t off = 0;
	for (unsigned i = 0; i < e->nout; i++) {
		memcpy(buf + off, e->iov[i].iov_base, e->iov[i].iov_len);
		off += (uint32_t)e->iov[i].iov_len;
	}
	return off;
}

/* Serve one good chain; return the used length (1 with an ack, else 0). */
static uint32_t serve(struct net_dev_ctrlq_target *t, const struct vq_elem *e, uint8_t *buf)
{
	if (!e->in_len) {
		ctrl_log(t, "ctrl: chain %u has no writable byte for the ack", e->id);
		return 0;
	}
	uint8_t ack;
	if (e->out_len > NET_DEV_CTRLQ_MAX_CMD) {
		ctrl_log(t, "ctrl: command of %u bytes, more than %u", e->out_len,
			 NET_DEV_CTRLQ_MAX_CMD);
		ack = VIRTIO_NET_ERR;
	} else {
		ack = net_dev_ctrlq_exec(t, buf, gather(e, buf));
	}
	/* Writable iovecs are never empty (zero-length descriptors are
	 * dropped by vq_pop), so the first one holds the ack byte. */
	*(uint8_t *)e->iov[e->nout].iov_base = ack;
	return 1;
}

int net_dev_ctrlq_process(struct net_dev_ctrlq_target *t, struct vq *q, unsigned max, bool *notify)
{
	struct iovec iov[NET_DEV_CTRLQ_MAX_IOV];
	struct vq_elem e = {.iov = iov, .iov_cap = NET_DEV_CTRLQ_MAX_IOV};
	uint8_t buf[NET_DEV_CTRLQ_MAX_CMD];
	int done = 0, rc = 0;
	while ((unsigned)done < max) {
		rc = vq_pop(q, &e);
		if (rc == 0)
			break;
		uint32_t used_len = 0;
		if (rc > 0) {
			used_len = serve(t, &e, buf);
		} else if (vq_err_is_drop(rc)) {
			ctrl_log(t, "ctrl: chain %u dropped: %s", e.id, vq_strerror(rc));
		} else {
			ctrl_log(t, "ctrl: queue broken: %s", vq_strerror(rc));
			break;
		}
		rc = vq_push(q, e.id, used_len);
		if (rc < 0)
			break;
		done++;
	}
	*notify = done && vq_notify_prepare(q);
	return rc < 0 ? rc : done;
}
