/* SPDX-License-Identifier: MIT */
/*
 * Token buckets (cloud-hypervisor's rate limiter: one bucket for bytes,
 * one for packets, each refilled continuously at its rate up to its size).
 * Used by one worker thread; the clock is passed in (nanoseconds,
 * CLOCK_MONOTONIC) so tests control time.
 */
#ifndef VQNET_NET_DEV_RATE_LIMIT_H
#define VQNET_NET_DEV_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/net_dev.h>

struct net_dev_bucket {
	uint64_t rate;	 /* tokens per second; 0 = unlimited */
	uint64_t size;	 /* most tokens held */
	uint64_t tokens; /* now */
	uint64_t last_ns;
};

struct net_dev_limiter {
	struct net_dev_bucket bytes, pkts;
};

/* Set up from @r at time @now_ns, buckets full. */
void net_dev_limiter_init(struct net_dev_limiter *rl, const struct net_dev_rate *r,
			  uint64_t now_ns);
/* True when neither bucket limits anything. */
bool net_dev_limiter_unlimited(const struct net_dev_limiter *rl);
/* Take tokens for one frame of @bytes if both buckets have them (then
 * return true); else take nothing and return false. A frame larger than
 * the bytes bucket's size passes once the bucket is full (never stuck). */
bool net_dev_limiter_consume(struct net_dev_limiter *rl, uint64_t bytes, uint64_t now_ns);
/* Nanoseconds until a frame of @bytes could pass (0 = now). */
uint64_t net_dev_limiter_wait_ns(const struct net_dev_limiter *rl, uint64_t bytes, uint64_t now_ns);

#endif
