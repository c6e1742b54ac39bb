/* SPDX-License-Identifier: MIT */
/*
 * A tiny loopback virtio-net device behind vqnet's vhost-user backend, for
 * tests: every frame transmitted on pair k comes back on pair k's receive
 * queue with the same virtio-net header fields (offload metadata echoed),
 * num_buffers set (1 without MRG_RXBUF). A frame waits while the receive
 * buffers it needs are missing; without MRG_RXBUF one too small drops it.
 * It serves the control queue (records the last command, answers OK or,
 * when told to, ERR) and a config space (MAC, status, max_virtqueue_pairs).
 * Backend and device run in two threads of the calling process.
 *
 * Two users: the driver library's tests (tests/vnet_drv) run it in their
 * own process; tests/interop/vu_loop_dev.c wraps it as the vu-loop-dev
 * program for real frontends (DPDK, QEMU), with log_name set.
 */
#ifndef VQNET_TESTS_HARNESS_LOOP_DEV_H
#define VQNET_TESTS_HARNESS_LOOP_DEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LOOP_MAX_PAIRS 4u

struct loop_dev;

struct loop_dev_config {
	unsigned pairs;	   /* 1..LOOP_MAX_PAIRS */
	uint64_t features; /* virtio features offered (VERSION_1 added) */
	/* Where to listen; NULL: vu.sock in a fresh temporary directory
	 * (removed by loop_dev_stop()). */
	const char *socket_path;
	const uint8_t *mac; /* config space MAC; NULL: 52:54:00:12:34:56 */
	/* NULL: quiet. Else one line each on stdout, "NAME: ...", for the
	 * negotiated features, every ring started (format and state) or
	 * stopped and a frontend gone; a ring that breaks on stderr. */
	const char *log_name;
};

/* Create and start; *path receives the socket path (in the device). */
int loop_dev_start(const struct loop_dev_config *cfg, struct loop_dev **out, const char **path);
/* Stop serving: both threads end and the backend is freed (its rings
 * stopped). The counts stay readable until loop_dev_stop(). Idempotent. */
void loop_dev_halt(struct loop_dev *ld);
/* Halt, then free everything. */
void loop_dev_stop(struct loop_dev *ld);

/* Link status in config space, then a config change notification, sent
 * by the backend thread (it waits up to 1 s for the driver's ack, so the
 * driver polls its events meanwhile). Return: 0. */
int loop_dev_set_link(struct loop_dev *ld, bool up);
/* Answer control commands with ERR from now on. */
void loop_dev_refuse_ctrl(struct loop_dev *ld, bool refuse);

/* The next frame looped carries num_buffers = @value (0..65535) whatever
 * it used (once; a negative @value cancels): a device that lies, for the
 * driver library's tests. */
void loop_dev_lie_num_buffers(struct loop_dev *ld, int value);

struct loop_dev_ctrl_log {
	unsigned commands;  /* control commands answered */
	uint8_t class, cmd; /* the last one */
	uint8_t data[8];    /* its first data bytes */
	unsigned mq_pairs;  /* last MQ_VQ_PAIRS_SET */
};
void loop_dev_ctrl_log(struct loop_dev *ld, struct loop_dev_ctrl_log *out);
/* Frames looped, frames dropped (a receive buffer too small), errors. */
void loop_dev_counts(struct loop_dev *ld, uint64_t *frames, uint64_t *drops, uint64_t *errors);
/* Rings started and stopped by the frontends so far. */
void loop_dev_ring_events(struct loop_dev *ld, unsigned *starts, unsigned *stops);
/* Negotiated features (0 before SET_FEATURES). */
uint64_t loop_dev_features(struct loop_dev *ld);

#endif
