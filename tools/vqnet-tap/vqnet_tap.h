/* SPDX-License-Identifier: MIT */
/*
 * vqnet-tap: what the tool's files share (docs/vqnet-tap.md has the
 * design). options.c parses the command line; tap.c creates and
 * configures the TAP interface; offload.c maps offloads between the driver
 * library and the TAP's vnet header; forward.c is the forwarding thread of
 * one queue pair; main.c connects, watches link and connection, and
 * reconnects.
 *
 * Directions are named as the driver sees them: rx is device -> TAP
 * (frames the device received, written to the TAP), tx is TAP -> device
 * (frames the kernel sent through the TAP, transmitted to the device).
 */
#ifndef VQNET_TOOLS_VQNET_TAP_H
#define VQNET_TOOLS_VQNET_TAP_H

#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vqnet/vnet_drv.h>

#include "spec/virtio_net.h"

#define VT_PROG "vqnet-tap"

/* The largest frame the TAP hands over: a 64 KB GSO frame, the limit of
 * VIRTIO 1.2 §5.1.6.3.1 (65562 bytes with the 12-byte header). */
#define VT_FRAME_MAX 65550u

/* ---- options.c ---- */

struct vt_opts {
	const char *socket;
	const char *ifname;
	const char *netns; /* a name under /run/netns, or a path; NULL: ours */
	bool client;	   /* reconnect when the backend goes */
	unsigned queues;
	enum vnet_drv_ring_format ring;
	unsigned mtu;	   /* --mtu; 0: not given */
	unsigned buf_size; /* --buf-size: frame bytes per posted buffer */
	bool have_mac;
	uint8_t mac[6];
	bool offloads;
};

/* Parse argv into *o. --help and --version print and exit 0; a bad
 * argument prints one line and exits 2. */
void vt_parse_options(int argc, char **argv, struct vt_opts *o);

/* ---- tap.c ---- */

struct vt_tap {
	char ifname[IFNAMSIZ];
	int fds[VNET_DRV_MAX_QUEUE_PAIRS]; /* one queue per pair; -1: none */
	unsigned nfds;
	/* An AF_INET datagram socket made in the TAP's namespace, for the
	 * SIOCSIF* calls that name the interface there. */
	int ctl;
	unsigned tun_offloads; /* TUN_F_* the kernel accepted last */
};

/* Create IFNAME (or attach to it: a multi-queue vnet_hdr TAP) with one
 * queue per pair, inside namespace @netns when given; every fd gets the
 * 12-byte little-endian vnet header. Return 0, or -errno with a reason in
 * @err and nothing left open. The caller owns *t (vt_tap_close()). */
int vt_tap_open(struct vt_tap *t, const char *ifname, const char *netns, unsigned queues, char *err,
		size_t errlen);
void vt_tap_close(struct vt_tap *t);
/* TUNSETOFFLOAD @tun_flags, dropping what the kernel refuses (UFO, ECN);
 * the flags accepted end in t->tun_offloads. Return 0 or -errno. */
int vt_tap_set_offloads(struct vt_tap *t, unsigned tun_flags);
int vt_tap_set_mtu(struct vt_tap *t, unsigned mtu);
int vt_tap_set_mac(struct vt_tap *t, const uint8_t mac[6]);
int vt_tap_set_up(struct vt_tap *t);
/* TUNSETCARRIER: the interface's carrier follows the device's link. */
int vt_tap_set_carrier(struct vt_tap *t, bool on);

/* ---- offload.c ---- */

/* Features to ask the device for. */
uint64_t vt_wanted_features(const struct vt_opts *o);
/* TUN_F_* for TUNSETOFFLOAD: what the kernel may hand us (partial
 * checksums, GSO frames) is what we may transmit to the device, so these
 * follow the negotiated CSUM and HOST_* features. */
unsigned vt_tun_offloads(const struct vnet_drv *drv);
/* The same flags for what the device may hand us (GUEST_*), for the log. */
unsigned vt_guest_offloads(const struct vnet_drv *drv);
/* "csum tso4 ..." for TUN_F_* flags, in @buf; "none" for none. */
const char *vt_offload_names(unsigned tun_offloads, char *buf, size_t len);
/* The vnet header written to the TAP in front of a received frame. */
void vt_hdr_from_offload(struct virtio_net_hdr_v1 *h, const struct vnet_drv_offload *ol);
/* A DATA_VALID TCP/UDP frame from the device as a partial checksum for the
 * TAP (offload.c says why); @f, @len: its first segment. */
void vt_data_valid_to_partial(struct virtio_net_hdr_v1 *h, uint8_t *f, uint32_t len);
/* The offload of a frame of @len bytes read from the TAP behind @h, with
 * the kernel allowed @tun_offloads. Return 0, or -1 for a header that
 * must not go to the device (the frame is dropped). */
int vt_offload_from_hdr(struct vnet_drv_offload *ol, const struct virtio_net_hdr_v1 *h,
			uint32_t len, unsigned tun_offloads);

/* ---- forward.c ---- */

struct vt_dir_stats {
	uint64_t packets, bytes, drops;
	uint64_t gso;	    /* frames with a GSO type */
	uint64_t max_frame; /* the longest frame moved, in bytes */
};
/* One pair's counters: written by its worker only (base/counter.h), read
 * by the control thread; they add up across reconnections. */
struct vt_pair_stats {
	struct vt_dir_stats rx, tx;
} __attribute__((aligned(64)));

struct vt_worker {
	struct vnet_drv *drv;
	unsigned qp;
	int tap_fd;
	int stop_fd; /* eventfd: readable once the workers must stop */
	int gone_fd; /* eventfd the worker signals when its TAP queue is gone */
	const atomic_bool *stop;
	unsigned tun_offloads;
	struct vt_pair_stats *stats;
	struct vt_fwd *fwd; /* the worker's scratch (forward.c), set up at start */
	pthread_t thread;
	bool started;
};

/* Set up @w's scratch and start its thread. Return 0 or -errno. */
int vt_worker_start(struct vt_worker *w);
/* Join a worker the caller has told to stop (*stop, stop_fd), give back
 * every packet it holds and free its scratch. */
void vt_worker_join(struct vt_worker *w);

#endif
