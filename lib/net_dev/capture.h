/* SPDX-License-Identifier: MIT */
/*
 * Capture taps of the device's queue-pair workers (capture.c; the API is
 * net_dev_capture_*() in include/vqnet/net_dev.h).
 */
#ifndef VQNET_NET_DEV_CAPTURE_H
#define VQNET_NET_DEV_CAPTURE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vqnet/netbe.h>

/* One queue pair's ring of captured frames: the pair's worker produces,
 * one reader consumes (single producer, single consumer). */
struct net_dev_cap_ring {
	_Atomic uint64_t head;	  /* next slot the worker fills */
	_Atomic uint64_t tail;	  /* next slot the reader takes */
	_Atomic uint64_t dropped; /* frames not copied: the ring was full */
	uint32_t nslots;	  /* a power of two */
	uint32_t snaplen;	  /* bytes kept of each frame */
	uint32_t stride;	  /* bytes per slot */
	uint16_t pair;
	uint8_t *slots;
};

/* Copy @n frames the worker hands to the backend (@rx false) or took from
 * it (@rx true) into @r: at most snaplen bytes each, or count them
 * dropped. Worker thread only; never blocks, never allocates. */
void net_dev_cap_tx(struct net_dev_cap_ring *r, const struct netbe_txpkt *pkts, unsigned n);
void net_dev_cap_rx(struct net_dev_cap_ring *r, const struct netbe_rxbuf *bufs, unsigned n);

#endif
