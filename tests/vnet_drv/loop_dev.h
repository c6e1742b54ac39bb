/* SPDX-License-Identifier: MIT */
/*
 * A tiny loopback virtio-net device behind vqnet's vhost-user backend, for
 * the driver library's tests: every frame transmitted on pair k comes
 * back on pair k's receive queue with the same virtio-net header fields
 * (offload metadata echoed), num_buffers set for MRG_RXBUF. It serves the
 * control queue (records the last command, answers OK or, when told to,
 * ERR) and a config space (MAC, status, max_virtqueue_pairs). Backend and
 * device run in two threads of the test process.
 */
#ifndef VQNET_TESTS_NET_DRV_LOOP_DEV_H
#define VQNET_TESTS_NET_DRV_LOOP_DEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LOOP_MAX_PAIRS 4u

struct loop_dev;

struct loop_dev_config {
	unsigned pairs;	   /* 1..LOOP_MAX_PAIRS */
	uint64_t features; /* virtio features offered (VERSION_1 added) */
};

/* Create and start; *path receives the socket path (in the device). */
int loop_dev_start(const struct loop_dev_config *cfg, struct loop_dev **out, const char **path);
void loop_dev_stop(struct loop_dev *ld);

/* Link status in config space, then a config change notification, sent
 * by the backend thread (it waits up to 1 s for the driver's ack, so the
 * driver polls its events meanwhile). Return: 0. */
int loop_dev_set_link(struct loop_dev *ld, bool up);
/* Answer control commands with ERR from now on. */
void loop_dev_refuse_ctrl(struct loop_dev *ld, bool refuse);

struct loop_dev_ctrl_log {
	unsigned commands;  /* control commands answered */
	uint8_t class, cmd; /* the last one */
	uint8_t data[8];    /* its first data bytes */
	unsigned mq_pairs;  /* last MQ_VQ_PAIRS_SET */
};
void loop_dev_ctrl_log(struct loop_dev *ld, struct loop_dev_ctrl_log *out);
/* Frames looped, frames dropped (no / too small rx buffers), errors. */
void loop_dev_counts(struct loop_dev *ld, uint64_t *frames, uint64_t *drops, uint64_t *errors);
/* Negotiated features (0 before SET_FEATURES). */
uint64_t loop_dev_features(struct loop_dev *ld);

#endif
