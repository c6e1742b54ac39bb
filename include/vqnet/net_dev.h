/* SPDX-License-Identifier: MIT */
/*
 * vqnet virtio-net device (VIRTIO 1.2 §5.1) served over vhost-user.
 *
 * The device model between a vhost-user backend (rings from the frontend)
 * and a network backend (struct netbe: frames). Like OpenVMM's virtio_net:
 * a coordinator (the control thread, which calls vu_backend_dispatch() and
 * every net_dev_* function here) and one worker thread per queue pair that
 * owns the pair's two rings and moves frames:
 *   transmitq: pop chains, strip the virtio-net header, check the frame
 *              (MTU, header rules), finish offloads the backend cannot
 *              take, rate-limit, hand bursts to netbe tx, complete;
 *   receiveq:  take frames from netbe rx, filter them (control-queue RX
 *              mode, MAC table, VLAN), finish offloads the guest did not
 *              negotiate, copy into one chain or several (MRG_RXBUF,
 *              num_buffers), complete, notify once per burst.
 * A frame is dropped only when counted (struct net_dev_queue_stats). Frames
 * for a guest that posted no receive buffer (or too few for the frame, or
 * while the receive rate limit holds) are not dropped: they wait in the
 * backend, which stops reading (TAP: the kernel queue) or counts what its
 * own queue cannot hold (struct netbe_stats rx_dropped).
 *
 * The control queue (CTRL_VQ) is served on the control thread: its kick fd
 * is net_dev_ctrl_fd(); call net_dev_ctrl_process() when it is readable.
 * Frontends that keep the control queue themselves (QEMU,
 * cloud-hypervisor) use SET_VRING_ENABLE, SET_FEATURES, SEND_RARP and
 * NET_SET_MTU instead; the device honours those too.
 *
 * Queue numbering (§5.1.2): receiveq_k = 2k, transmitq_k = 2k+1,
 * controlq = 2 * max_queue_pairs.
 *
 * The device logs through include/vqnet/log.h (subject "virtio-net" for
 * its own faults; negotiation and queue start-up at info level).
 */
#ifndef VQNET_NET_DEV_H
#define VQNET_NET_DEV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vqnet/log.h>
#include <vqnet/netbe.h>
#include <vqnet/thread.h>
#include <vqnet/vhost_user.h>
#include <vqnet/virtio_net.h> /* VIRTIO_NET_F_* for features_off, VQNET_MTU_DEFAULT */

#ifdef __cplusplus
extern "C" {
#endif

#define NET_DEV_MAX_QUEUE_PAIRS 64u

/* Token bucket limits of one direction (cloud-hypervisor's rate limiter):
 * 0 = unlimited. A bucket holds at most one second's worth (or burst). */
struct net_dev_rate {
	uint64_t bytes_per_sec;
	uint64_t bytes_burst; /* 0 = bytes_per_sec */
	uint64_t pkts_per_sec;
	uint64_t pkts_burst; /* 0 = pkts_per_sec */
};
/* Parse "BYTES[k|M|G][:PACKETS[k|M]]" per second (k = 1000), e.g. "10M"
 * or "100M:20k" or ":5000" (packets only). Return 0 or -EINVAL. */
int net_dev_rate_parse(const char *s, struct net_dev_rate *out);

struct net_dev_config {
	unsigned queue_pairs; /* 1..NET_DEV_MAX_QUEUE_PAIRS (MQ offered when > 1) */
	uint8_t mac[6];	      /* config space mac (VIRTIO_NET_F_MAC) */
	uint16_t mtu;	      /* 68..65535; 0 = VQNET_MTU_DEFAULT (F_MTU offered when set) */
	uint32_t speed_mbps;  /* 0 = unknown (SPEED_DUPLEX) */
	bool full_duplex;
	struct net_dev_rate rx_rate, tx_rate;
	/* Virtio feature bits never to offer (e.g. RING_PACKED for tests), as
	 * a mask of VIRTIO_F_* and VIRTIO_NET_F_* bits. */
	uint64_t features_off;
	/* Busy-poll this long after the last work before sleeping on kicks
	 * (microseconds; 0 = sleep at once). */
	unsigned poll_us;
	/* The network backend (not owned: free it after net_dev_free()). */
	struct netbe *be;
	/* Called first in each queue-pair worker ("vq-pairN"), e.g. to
	 * confine it; see vqnet/thread.h. */
	struct vqnet_thread_hook thread_hook;
};

/* Drop and error reasons counted per queue (net_dev_queue_stats.drops[]). */
enum net_dev_drop {
	NET_DEV_DROP_RX_TOO_BIG = 0, /* rx: frame larger than the buffers could ever hold */
	NET_DEV_DROP_RX_FILTERED,    /* rx: RX mode / MAC table / VLAN filter */
	NET_DEV_DROP_TX_MTU,	     /* tx: frame larger than the MTU (no GSO) */
	NET_DEV_DROP_TX_BAD_HDR,     /* tx: virtio-net header rules (§5.1.6.2) broken */
	NET_DEV_DROP_TX_SHORT,	     /* tx: shorter than the header + an Ethernet header */
	NET_DEV_DROP_TX_OFFLOAD,     /* tx: offload the device cannot finish */
	NET_DEV_DROP_TX_BACKEND,     /* tx: the backend could not send it */
	NET_DEV_DROP_BAD_CHAIN,	     /* a malformed chain (completed with length 0) */
	NET_DEV_DROP_LINK_DOWN,	     /* either way while the link is down */
	NET_DEV_DROP_RX_SMALL_BUF,   /* rx: a buffer too small for any frame (no MRG_RXBUF:
					header + Ethernet header; MRG_RXBUF, a frame's
					first buffer: the header), completed with
					length 0; counts buffers, not frames */
	NET_DEV_DROP__COUNT
};
const char *net_dev_drop_name(enum net_dev_drop d);

/* Counters of one virtqueue, written by its worker only. */
struct net_dev_queue_stats {
	uint64_t starts; /* times the ring was started (0: never used) */
	uint64_t packets, bytes;
	uint64_t drops[NET_DEV_DROP__COUNT];
	uint64_t errors;	    /* ring errors (broken queue) and backend errors */
	uint64_t kicks;		    /* kick eventfd reads that found a kick */
	uint64_t notify_sent;	    /* used-buffer notifications sent */
	uint64_t notify_suppressed; /* ... and suppressed (EVENT_IDX / flags) */
	uint64_t wakeups;	    /* the worker woke up from sleeping */
	uint64_t rate_limited;	    /* times the queue waited for tokens */
	uint64_t csum_finished;	    /* checksums completed in software */
	uint64_t gso_segmented;	    /* GSO frames segmented in software */
	uint64_t rx_merged;	    /* rx frames that took more than one buffer */
	uint64_t rx_zero_copy;	    /* rx frames the backend wrote into guest buffers */
};

struct net_dev;

/**
 * net_dev_new() - create the device. Offered features are computed from
 * the config and the backend's caps (net_dev_features()). No thread runs
 * until the frontend starts rings. Return: 0 and *out, or -EINVAL (bad
 * config) / -ENOMEM.
 */
int net_dev_new(const struct net_dev_config *cfg, struct net_dev **out);
/* Stops the workers (their rings must already be stopped: free the
 * vu_backend first) and frees the device. */
void net_dev_free(struct net_dev *d);

/* The vhost-user device ops and their opaque (the device); pass both to
 * vu_backend_new(), then net_dev_attach() the backend it returned. */
const struct vu_device_ops *net_dev_vu_ops(void);
void net_dev_attach(struct net_dev *d, struct vu_backend *b);

/* Virtio features offered, number of virtqueues (2 * pairs + 1), config
 * space size: what vu_backend_config needs. */
uint64_t net_dev_features(const struct net_dev *d);
unsigned net_dev_num_queues(const struct net_dev *d);
uint32_t net_dev_config_size(const struct net_dev *d);

/* Control queue: the kick fd to watch (-1 while the queue is stopped or
 * not negotiated; ask again after each vu_backend_dispatch()) and the
 * handler to call when it is readable. */
int net_dev_ctrl_fd(const struct net_dev *d);
void net_dev_ctrl_process(struct net_dev *d);

/* The functions below are for the control thread only. */

/* Link status (VIRTIO_NET_S_LINK_UP): set it and tell the driver (config
 * change). While down, frames both ways are dropped and counted. */
void net_dev_set_link(struct net_dev *d, bool up);
/* Ask the guest to announce itself (GUEST_ANNOUNCE, §5.1.6.5.4): sets
 * VIRTIO_NET_S_ANNOUNCE and signals a config change. Return 0, or
 * -EOPNOTSUPP when the driver did not negotiate GUEST_ANNOUNCE+CTRL_VQ. */
int net_dev_announce(struct net_dev *d);

/* Counters: copy queue @vq_index's counters (consistent enough: each
 * 64-bit counter is read atomically). Return 0 or -EINVAL. */
int net_dev_queue_stats(const struct net_dev *d, unsigned vq_index,
			struct net_dev_queue_stats *out);
/* Print every queue's counters and the backend's, one line per queue. */
void net_dev_print_stats(const struct net_dev *d, FILE *f);

/*
 * Capture (docs/vqnetd.md "Capturing frames"): while on, each queue pair's
 * worker copies the frames it hands to the backend (guest transmit) and
 * takes from it (guest receive), the Ethernet frame without the virtio-net
 * header and at most @snaplen bytes, into a ring of @slots slots of its
 * own; a reader drains the rings with net_dev_capture_read(). A worker
 * never waits for the reader: a frame that finds its ring full is not
 * copied and is counted (net_dev_capture_dropped()). Off, it costs one
 * predictable branch per burst.
 *
 * net_dev_capture_start(): @slots a power of two 2..65536, @snaplen
 * 1..65535, at most 64 MiB of slots per queue pair. Return 0, -EBUSY (on
 * already), -EINVAL or -ENOMEM. net_dev_capture_stop(): off, rings freed;
 * the reader must have stopped. Both for the control thread.
 */
struct net_dev_capture_frame {
	uint64_t ts_ns;	     /* CLOCK_MONOTONIC when the worker copied it */
	uint32_t len;	     /* the frame's length */
	uint32_t caplen;     /* bytes at data (<= snaplen) */
	bool rx;	     /* true: to the guest; false: from the guest */
	unsigned pair;	     /* queue pair */
	const uint8_t *data; /* valid during the callback only */
};
typedef void (*net_dev_capture_fn)(void *opaque, const struct net_dev_capture_frame *f);
int net_dev_capture_start(struct net_dev *d, uint32_t snaplen, uint32_t slots);
void net_dev_capture_stop(struct net_dev *d);
/* Reader (one thread, between start and stop): call @fn for up to @max
 * frames in each pair's order. Return the frames read. */
unsigned net_dev_capture_read(struct net_dev *d, net_dev_capture_fn fn, void *opaque, unsigned max);
/* Frames the workers could not copy because their ring was full. */
uint64_t net_dev_capture_dropped(const struct net_dev *d);

/* What an operator asks a running device (vqnetd's control socket): the
 * functions below read the control thread's state, so call them from it.
 * They never stop the workers: a queue's counters are atomics and a
 * ring's broken flag is one byte its worker sets. */
struct net_dev_status {
	uint64_t features_offered;
	uint64_t features; /* negotiated; 0 before the driver set them */
	bool features_set;
	bool link_up;
	uint16_t config_status; /* VIRTIO_NET_S_* as the driver reads it */
	uint8_t mac[6];		/* config space (the driver may set another by CTRL_MAC) */
	uint32_t mtu;		/* current (the frontend may have changed it) */
	unsigned max_pairs;	/* queue pairs offered */
	unsigned pairs;		/* queue pairs the driver asked for (MQ) */
	struct net_dev_rate rx_rate, tx_rate;
	unsigned poll_us;
};
void net_dev_status(const struct net_dev *d, struct net_dev_status *out);

/* A virtqueue now: started (the frontend started it and did not stop it),
 * enabled, broken (a ring error; counted in errors, not served until the
 * frontend restarts it), its format and size while started. */
struct net_dev_queue_status {
	bool started, enabled, broken;
	enum vq_format format;
	uint32_t size;
};
/* Return 0, or -EINVAL when @vq_index is not a queue of @d. */
int net_dev_queue_status(const struct net_dev *d, unsigned vq_index,
			 struct net_dev_queue_status *out);

/* The backend's counters of queue pair @pair (the backend reads them
 * atomically; the workers run on). Return 0, or -EINVAL. */
int net_dev_backend_stats(const struct net_dev *d, unsigned pair, struct netbe_stats *out);

/* The name of virtio feature bit @bit ("MRG_RXBUF", "RING_PACKED"), or
 * NULL for a bit without one. */
const char *net_dev_feature_name(unsigned bit);

/* Replace the receive (@rx) or transmit limits live (all zero: no limit).
 * Every worker is parked for the change (a few microseconds, as an MTU
 * change), its buckets start full. Return 0 or -EINVAL. */
int net_dev_set_rate(struct net_dev *d, bool rx, const struct net_dev_rate *r);

#ifdef __cplusplus
}
#endif
#endif
