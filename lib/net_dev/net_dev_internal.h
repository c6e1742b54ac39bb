/* SPDX-License-Identifier: MIT */
/*
 * Internals of the virtio-net device (include/vqnet/net_dev.h), shared by
 * net_dev.c (control thread: vhost-user callbacks, config space, control
 * queue), net_dev_worker.c (one thread per queue pair: loop, sleep, pause
 * handshake), net_dev_tx.c (transmitq), net_dev_rx.c (receiveq) and net_dev_stats.c.
 *
 * Ownership (docs/architecture.md "Threading"):
 *  - struct net_dev: the control thread. Workers read only cfg, be, vb,
 *    link_up (atomic) and their own struct net_dev_worker.
 *  - struct net_dev_worker: the ring fields, the published filter, features,
 *    guest offloads and mtu are written by the control thread only while
 *    the worker is parked (net_dev_worker_pause() .. net_dev_worker_resume());
 *    everything else (buffers, pending frames, rate limiters) belongs to
 *    the worker thread.
 *  - struct net_dev_queue_stats: one writer per queue (the pair's worker, or
 *    the control thread for the control queue), 64-bit relaxed atomic
 *    stores; readers use atomic loads.
 */
#ifndef VQNET_NET_DEV_INTERNAL_H
#define VQNET_NET_DEV_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vqnet/log.h>
#include <vqnet/net_dev.h>
#include <vqnet/netbe.h>
#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "base/counter.h"
#include "spec/virtio_net.h"
#include "net_dev/capture.h"
#include "net_dev/rate_limit.h"
#include "net_dev/rx_filter.h"
#include "net_dev/offload.h"

#define NET_DEV_F(bit) (1ull << (bit))

/* Frames moved per worker turn and direction (Linux VHOST_NET_WEIGHT-like
 * fairness between the two rings of a pair). */
#define NET_DEV_BURST 32u
/* Largest frame the device handles (a 64 KiB GSO frame + Ethernet + VLAN
 * headers, with room to spare): the size of every bounce/scratch buffer. */
#define NET_DEV_FRAME_MAX (65536u + 512u)
/* iovecs per transmit chain (indirect tables may hold many). */
#define NET_DEV_TX_IOV_CAP 256u
/* Segment buffers for software GSO on transmit (sent in batches). */
#define NET_DEV_TX_SEGS 8u
/* Receive: most chains one frame may take with MRG_RXBUF, and the iovec
 * pool they share (a frame needing more counts as RX_TOO_BIG). */
#define NET_DEV_RX_MAX_CHAINS 1024u
#define NET_DEV_RX_IOV_POOL   4096u
/* With MRG_RXBUF a turn pops up to NET_DEV_BURST chains at once, each with
 * this many iovecs (a chain with more segments is dropped as malformed,
 * BAD_CHAIN; drivers post one buffer per chain, §5.1.6.3.1). */
#define NET_DEV_RX_BATCH_IOV 64u
/* Zero-copy receive (netbe_ops.rx_direct, net_dev_rx.c): most chains lent
 * to the backend per turn (4 KB buffers: 1 MB, 15 GSO frames of 64 KB),
 * and the fewest; the count follows what the backend used last. */
#define NET_DEV_RX_DIRECT_CHAINS 256u
#define NET_DEV_RX_DIRECT_MIN	 32u
/* Distinct reasons of control-queue log lines rate-limited apart. */
#define NET_DEV_LOG_REASONS 32u
/* Sleep granularity when a ring or a backend has no fd to wait on. */
#define NET_DEV_POLL_FALLBACK_MS 1

/* Virtio features the guest may receive offloaded frames with. */
#define NET_DEV_GUEST_OFFLOAD_MASK                                                                 \
	(NET_DEV_F(VIRTIO_NET_F_GUEST_CSUM) | NET_DEV_F(VIRTIO_NET_F_GUEST_TSO4) |                 \
	 NET_DEV_F(VIRTIO_NET_F_GUEST_TSO6) | NET_DEV_F(VIRTIO_NET_F_GUEST_ECN) |                  \
	 NET_DEV_F(VIRTIO_NET_F_GUEST_UFO))

/* A ring as the worker (or the control thread, for the control queue)
 * uses it. */
struct net_dev_ring {
	unsigned index;
	struct vq *vq; /* NULL while stopped */
	int kick_fd;   /* -1: NOFD kicks, the ring is polled */
	int call_fd;   /* -1: no notification */
	bool enabled;
	bool broken;   /* a ring error was reported; not served until restarted */
	bool kicks_on; /* worker: kicks enabled before sleeping */
};

struct net_dev;

struct net_dev_worker {
	struct net_dev *d;
	unsigned pair;
	pthread_t thread;
	int wake_fd; /* eventfd: pause / quit wake-ups */

	/* Pause handshake (control thread <-> worker). */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool pause_req;
	bool paused; /* under lock */
	atomic_bool quit;

	/* Written by the control thread while the worker is parked. */
	struct net_dev_ring rx, tx;
	bool active;		 /* pair enabled and < the active pair count */
	uint64_t features;	 /* negotiated */
	uint64_t guest_offloads; /* GUEST_* bits the guest takes now */
	uint32_t mtu;
	struct net_dev_rx_filter filter; /* published copy */
	bool logging;			 /* dirty logging at queue_start */
	struct gmem_table *mem;		 /* reference, for gpa lookups while logging */
	struct net_dev_cap_ring *cap;	 /* capture ring, NULL while off */

	/* Worker-owned state. */
	struct net_dev_limiter rl_tx, rl_rx;
	bool rx_limited; /* !net_dev_limiter_unlimited(&rl_rx), fixed at start */
	uint64_t tx_wait_until, rx_wait_until; /* ns, CLOCK_MONOTONIC; 0 = none */
	bool rx_waiting;		       /* no receive buffers: wait for a kick */
	/* Per-packet log lines, one a second per reason (the guest or the
	 * network chooses their rate). */
	struct vqnet_log_limit log_tx_hdr, log_rx_too_big, log_rx_backend;

	/* Transmit buffers (allocated at worker start). */
	struct vq_elem *tx_elems;	     /* [NET_DEV_BURST] */
	struct iovec *tx_iov;		     /* [NET_DEV_BURST * NET_DEV_TX_IOV_CAP] */
	struct iovec *tx_tail;		     /* [NET_DEV_BURST * NET_DEV_TX_IOV_CAP] */
	struct netbe_txpkt *tx_pkts;	     /* [NET_DEV_BURST] staged frames */
	struct iovec tx_one[NET_DEV_BURST];  /* one-buffer frames' iovecs (tx_turn_fast) */
	uint16_t tx_stage_id[NET_DEV_BURST]; /* the chain of each staged frame */
	struct vq_used *tx_used;	     /* [NET_DEV_BURST] */
	uint8_t *tx_lin;		     /* [NET_DEV_FRAME_MAX] linearised frame */
	uint8_t *tx_seg[NET_DEV_TX_SEGS];    /* [NET_DEV_FRAME_MAX] each */

	/* Receive buffers. */
	uint8_t *rx_bounce[NET_DEV_BURST]; /* [NET_DEV_FRAME_MAX] each */
	struct netbe_rxbuf *rx_bufs;	   /* [NET_DEV_BURST] */
	/* Pending frames: rx_bufs[head, head + count) as the backend filled
	 * them (bytes in the bounce buffers); rx_prepared[i]: frame i was
	 * filtered, charged and its offloads fixed up. */
	bool rx_prepared[NET_DEV_BURST];
	unsigned rx_head, rx_count;
	struct vq_elem *rx_elems; /* [NET_DEV_BURST + NET_DEV_RX_MAX_CHAINS] */
	unsigned rx_pos, rx_npop; /* rx_elems[0, rx_npop) popped, [0, rx_pos) used */
	struct iovec *rx_iov;	  /* [NET_DEV_BURST * NET_DEV_RX_BATCH_IOV + NET_DEV_RX_IOV_POOL] */
	struct vq_used *rx_used;  /* [NET_DEV_RX_MAX_CHAINS]: completions of the turn */
	unsigned rx_nused;	  /* rx_used[0 .. rx_nused): filled, not yet pushed */
	unsigned rx_npartial;	  /* of those, chains not wholly written (IN_ORDER) */
	bool rx_last_partial;	  /* rx_used[rx_nused - 1] is one of them */
	bool rx_be_quiet;	  /* the backend's rx fd was found not readable */
	uint64_t rx_acc_packets;  /* frames and bytes in rx_used, counted at push */
	uint64_t rx_acc_bytes;
	uint64_t rx_acc_merged;
	uint64_t rx_acc_zero_copy;
	uint8_t *rx_seg;    /* [NET_DEV_FRAME_MAX]: current GSO segment */
	bool rx_gso_active; /* segmenting rx_bufs[rx_head] */
	bool rx_seg_ready;  /* rx_seg holds a segment not yet delivered */
	uint32_t rx_seg_len;
	struct net_dev_gso_iter rx_gso;
	unsigned rx_pushed; /* completions since the last notification */
	/* Zero-copy receive (only for a backend with rx_direct): chains lent
	 * in one turn, their iovecs, the window's view of them, its frames. */
	struct vq_elem *rxd_elems;	      /* [NET_DEV_RX_DIRECT_CHAINS] */
	struct iovec *rxd_iov;		      /* [.. * NET_DEV_RX_BATCH_IOV] */
	struct netbe_rxchain *rxd_chains;     /* [NET_DEV_RX_DIRECT_CHAINS] */
	struct netbe_rxwin_frame *rxd_frames; /* [NET_DEV_RX_DIRECT_CHAINS] */
	unsigned rxd_want;		      /* chains to lend next turn */
	unsigned rxd_idle;		      /* turns in a row the backend used no lent chain */
	unsigned rxd_skip; /* turns left on the copying path before lending again */
};

struct net_dev {
	struct net_dev_config cfg;
	/* Control queue turns: at most NET_DEV_CTRLQ_BUDGET commands, then
	 * the control thread serves its other fds first (ctrl_resched: the
	 * kick fd was signalled by us, not by the driver). */
	bool ctrl_resched;
	/* Its log lines, one a second per reason (the guest chooses how many
	 * bad commands it sends): a reason is the line up to its first ':'
	 * without digits ("ctrl MAC.TABLE_SET", "ctrl class  cmd "). */
	struct net_dev_log_reason {
		char key[32];
		struct vqnet_log_limit limit;
	} ctrl_reasons[NET_DEV_LOG_REASONS];
	unsigned ctrl_reason_next; /* the slot a new reason takes when all are used */
	struct netbe *be;
	struct vu_backend *vb;
	uint32_t be_caps;
	uint64_t offered;
	unsigned max_pairs;

	/* Control thread state. */
	uint64_t features; /* negotiated (0 before SET_FEATURES) */
	bool features_set;
	uint64_t guest_offloads; /* GUEST_* bits, CTRL_GUEST_OFFLOADS */
	uint32_t mtu;		 /* current (NET_SET_MTU) */
	unsigned mq_pairs;	 /* VQ_PAIRS_SET (max_pairs until set) */
	unsigned be_pairs;	 /* last count given to netbe set_queue_pairs */
	struct virtio_net_config config;
	struct net_dev_rx_filter filter;
	struct net_dev_ring ctrl;
	bool ever_started[2 * NET_DEV_MAX_QUEUE_PAIRS + 1];
	struct net_dev_worker *workers[NET_DEV_MAX_QUEUE_PAIRS];

	atomic_bool link_up;
	struct net_dev_queue_stats stats[2 * NET_DEV_MAX_QUEUE_PAIRS + 1];
	/* Capture rings per queue pair (capture.c), NULL while off: set by
	 * the control thread with the workers parked; read by the capture
	 * reader, which runs only between start and stop. */
	struct net_dev_cap_ring *cap_rings[NET_DEV_MAX_QUEUE_PAIRS];
};

/* Park every worker, publish the device's settings to them, let them go
 * (control thread; net_dev.c). */
void net_dev_pause_all(struct net_dev *d);
void net_dev_sync_all(struct net_dev *d);
void net_dev_resume_all(struct net_dev *d);

static inline struct net_dev_queue_stats *net_dev_stats_of(struct net_dev *d, unsigned vq_index)
{
	return &d->stats[vq_index];
}

static inline void net_dev_drop(struct net_dev *d, unsigned vq_index, enum net_dev_drop why)
{
	counter_add(&d->stats[vq_index].drops[why], 1);
}

/* Worker lifecycle and handshake (net_dev_worker.c). */
int net_dev_worker_new(struct net_dev *d, unsigned pair, struct net_dev_worker **out);
void net_dev_worker_free(struct net_dev_worker *w); /* stops and joins the thread */
void net_dev_worker_pause(struct net_dev_worker *w);
void net_dev_worker_resume(struct net_dev_worker *w);
/* Copy the control thread's shared state (features, offloads, mtu,
 * filter) into a parked worker. */
void net_dev_worker_sync(struct net_dev_worker *w);
/* A ring error: count it, signal VRING_ERR, log once, stop serving. */
void net_dev_ring_broken(struct net_dev_worker *w, struct net_dev_ring *r, int err);
/* After completions: notify the driver if the ring asks for it. */
void net_dev_ring_notify(struct net_dev_worker *w, struct net_dev_ring *r);

/* Data paths (net_dev_tx.c, net_dev_rx.c): one turn each; return the number of
 * frames (or chains) handled, 0 when idle. */
unsigned net_dev_tx_turn(struct net_dev_worker *w);
unsigned net_dev_rx_turn(struct net_dev_worker *w);
/* Forget pending receive frames (reset). */
void net_dev_rx_discard(struct net_dev_worker *w);

#endif
