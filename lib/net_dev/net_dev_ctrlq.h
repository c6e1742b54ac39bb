/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net control queue (§5.1.6.5), device side: commands read from
 * a chain, checked, applied, acknowledged. Runs on the control thread.
 *
 * Commands (each only with its feature negotiated, else VIRTIO_NET_ERR):
 *   RX (CTRL_RX): PROMISC, ALLMULTI; (CTRL_RX_EXTRA): ALLUNI, NOMULTI,
 *       NOUNI, NOBCAST — data: one byte, 0 or 1.
 *   MAC (CTRL_RX): TABLE_SET — two tables {le32 entries; u8 macs[entries][6]}
 *       (unicast then multicast), exactly filling the data;
 *       (CTRL_MAC_ADDR): ADDR_SET — 6 bytes, a unicast address.
 *   VLAN (CTRL_VLAN): ADD, DEL — le16 id < 4096.
 *   ANNOUNCE (GUEST_ANNOUNCE): ACK — no data; clears VIRTIO_NET_S_ANNOUNCE.
 *   MQ (MQ): VQ_PAIRS_SET — le16 1..max pairs.
 *   GUEST_OFFLOADS (CTRL_GUEST_OFFLOADS): SET — le64, a subset of the
 *       negotiated GUEST_CSUM/TSO4/TSO6/ECN/UFO bits.
 * A malformed command (short, long, bad value, unknown class or command)
 * gets VIRTIO_NET_ERR and one log line naming it and what was wrong.
 */
#ifndef VQNET_NET_DEV_CTRLQ_H
#define VQNET_NET_DEV_CTRLQ_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/log.h>
#include <vqnet/virtq.h>

#include "rx_filter.h"

/* Largest command accepted (class + command + data): two full MAC tables
 * of NET_DEV_MAC_TABLE_MAX entries fit many times over; more is refused. */
#define NET_DEV_CTRLQ_MAX_CMD 8192u
/* Commands one net_dev_ctrl_process() call serves at most. */
#define NET_DEV_CTRLQ_BUDGET 64u

/* What a command may change, owned by the device. The handler edits
 * *filter in place and calls the hooks for effects outside it. */
struct net_dev_ctrlq_target {
	uint64_t features; /* negotiated virtio features */
	unsigned max_queue_pairs;
	struct net_dev_rx_filter *filter; /* the control thread's copy */
	void *opaque;
	/* The filter changed: publish it to the workers. */
	void (*filter_changed)(void *opaque);
	/* MAC_ADDR_SET: the new address (the filter's mac is already set);
	 * the device updates its config space. */
	void (*mac_changed)(void *opaque, const uint8_t mac[6]);
	/* VQ_PAIRS_SET with a checked @pairs. Return 0 or -errno (ERR ack). */
	int (*set_queue_pairs)(void *opaque, unsigned pairs);
	/* GUEST_OFFLOADS_SET with checked offload feature bits. Return 0 or
	 * -errno. */
	int (*set_guest_offloads)(void *opaque, uint64_t offloads);
	/* ANNOUNCE_ACK: clear the status bit. */
	void (*announce_ack)(void *opaque);
	/* One log line (no newline); NULL: none. */
	void (*log)(void *opaque, enum vqnet_log_level level, const char *line);
};

/*
 * net_dev_ctrlq_exec() - run one command: @cmd is class, command, data (@len
 * bytes in all, already gathered from the chain). Return VIRTIO_NET_OK or
 * VIRTIO_NET_ERR (after a log line).
 */
uint8_t net_dev_ctrlq_exec(struct net_dev_ctrlq_target *t, const uint8_t *cmd, uint32_t len);

/*
 * net_dev_ctrlq_process() - serve the available chains of the control
 * queue @q, at most @max of them: gather the device-readable part (at most NET_DEV_CTRLQ_MAX_CMD
 * bytes, else ERR), execute it, write the ack byte as the first byte of the device-writable part,
 * complete the chain with length 1. A chain without a writable byte, or a malformed chain (vq drop
 * code), is completed with length 0 and logged. Stops when the queue breaks (return -VQ_ERR_*).
 * Return the number of chains completed (>= 0; @max means more may wait);
 * *notify tells whether the driver must be notified (vq_notify_prepare()).
 */
int net_dev_ctrlq_process(struct net_dev_ctrlq_target *t, struct vq *q, unsigned max, bool *notify);

#endif
