/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: a virtio-net device on a vhost-user
 * socket, driven from any C program (like DPDK's virtio-user PMD, as a
 * small library).
 *
 * vnet_drv_open() connects to a vhost-user backend (vqnetd, DPDK's vhost
 * PMD, vqnet's own backend), negotiates features, shares one block of
 * memory (memfd or hugetlbfs) that holds the rings and a pool of packet
 * buffers per queue pair, starts the rings and keeps the receive rings
 * full. The caller then moves Ethernet frames (no virtio-net header in
 * sight) with vnet_drv_tx_burst() / vnet_drv_rx_burst(), zero copy: a
 * packet's bytes live in the shared memory the device reads and writes.
 *
 * Packet buffers. Each queue pair has its own pool (no locks). A buffer is
 * VNET_DRV_HEADROOM bytes of headroom then the data room (a received frame
 * starts at VNET_DRV_RX_HEADROOM instead); the virtio-net header goes in
 * the 12 bytes just before the frame, so a one-segment frame is sent with
 * ONE descriptor (header + frame contiguous). A frame larger than one
 * buffer is a chain of packets (next, nb_segs): received frames over
 * several buffers (MRG_RXBUF, or the buffer chains posted without it) come
 * back as chains, never copied. Packets are described by struct
 * vnet_drv_pkt, kept in this process's heap (the device cannot touch it).
 * A fresh packet's first line is prefetched for writing at alloc: it is
 * one the device last read, and the caller is about to write the frame.
 *
 * Threading. Control functions (open, close, link, events, control queue
 * commands) from one thread. The data path of queue pair k
 * (vnet_drv_rx_burst/tx_burst/tx_reap/rx_wait, vnet_drv_pkt_* on packets
 * of pool k) from one thread per pair; different pairs may run on
 * different threads. Packets of pool k may be sent on pair k only.
 *
 * The library owns no event loop: vnet_drv_rx_fd() and vnet_drv_event_fd()
 * are the fds to watch; the data path never blocks, never allocates and
 * makes one system call at most per burst (the kick, when the device asks
 * for one).
 *
 * Errors are negative errno values:
 *   -EINVAL      bad argument or configuration
 *   -EOPNOTSUPP  the backend lacks what was asked for (VERSION_1, packed
 *                ring, several queue pairs, a control command class)
 *   -ENOMEM      allocation failed (set-up only)
 *   -EIO         the device refused a control command
 *   -ETIMEDOUT   the device did not answer a control command in time
 *   -ENOTCONN    the vhost-user connection broke
 *   others       from the socket, memfd, mmap or eventfd calls
 */
#ifndef VQNET_VNET_DRV_H
#define VQNET_VNET_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vqnet/virtio.h>
#include <vqnet/virtio_net.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Feature bit numbers (VIRTIO 1.2 §5.1.3, §6) a caller may ask for in
 * vnet_drv_config.features, as masks with VNET_DRV_FEATURE(): the ones the
 * library implements, named after <vqnet/virtio_net.h> and <vqnet/virtio.h>. */
#define VNET_DRV_F_CSUM		 VIRTIO_NET_F_CSUM	 /* tx checksum offload (NEEDS_CSUM) */
#define VNET_DRV_F_GUEST_CSUM	 VIRTIO_NET_F_GUEST_CSUM /* rx: partial / validated checksums */
#define VNET_DRV_F_MTU		 VIRTIO_NET_F_MTU /* the device's maximum MTU in config space */
#define VNET_DRV_F_MAC		 VIRTIO_NET_F_MAC /* the device's MAC in config space */
#define VNET_DRV_F_GUEST_TSO4	 VIRTIO_NET_F_GUEST_TSO4 /* rx: TCPv4 GSO frames */
#define VNET_DRV_F_GUEST_TSO6	 VIRTIO_NET_F_GUEST_TSO6 /* rx: TCPv6 GSO frames */
#define VNET_DRV_F_HOST_TSO4	 VIRTIO_NET_F_HOST_TSO4	 /* tx: TCPv4 GSO frames */
#define VNET_DRV_F_HOST_TSO6	 VIRTIO_NET_F_HOST_TSO6	 /* tx: TCPv6 GSO frames */
#define VNET_DRV_F_MRG_RXBUF	 VIRTIO_NET_F_MRG_RXBUF	 /* rx frames over several buffers */
#define VNET_DRV_F_STATUS	 VIRTIO_NET_F_STATUS	 /* link status in config space */
#define VNET_DRV_F_CTRL_VQ	 VIRTIO_NET_F_CTRL_VQ	 /* the control queue */
#define VNET_DRV_F_CTRL_RX	 VIRTIO_NET_F_CTRL_RX	 /* promiscuous, all-multicast commands */
#define VNET_DRV_F_MQ		 VIRTIO_NET_F_MQ	 /* several queue pairs */
#define VNET_DRV_F_CTRL_MAC_ADDR VIRTIO_NET_F_CTRL_MAC_ADDR /* MAC_ADDR_SET command */

#define VNET_DRV_F_INDIRECT_DESC VIRTIO_F_INDIRECT_DESC /* tx: a multi-segment chain, one slot */
#define VNET_DRV_F_EVENT_IDX	 VIRTIO_F_EVENT_IDX	/* kick / interrupt suppression by index */
#define VNET_DRV_F_VERSION_1	 VIRTIO_F_VERSION_1	/* always asked for, required */
#define VNET_DRV_F_RING_PACKED	 VIRTIO_F_RING_PACKED	/* set through ring_format, not features */
#define VNET_DRV_F_IN_ORDER	 VIRTIO_F_IN_ORDER	/* buffers used in the order offered */

#define VNET_DRV_FEATURE(bit) (1ull << (bit))

/* Every feature the library implements. */
#define VNET_DRV_FEATURES_SUPPORTED                                                                \
	(VNET_DRV_FEATURE(VNET_DRV_F_CSUM) | VNET_DRV_FEATURE(VNET_DRV_F_GUEST_CSUM) |             \
	 VNET_DRV_FEATURE(VNET_DRV_F_MAC) | VNET_DRV_FEATURE(VNET_DRV_F_GUEST_TSO4) |              \
	 VNET_DRV_FEATURE(VNET_DRV_F_GUEST_TSO6) | VNET_DRV_FEATURE(VNET_DRV_F_HOST_TSO4) |        \
	 VNET_DRV_FEATURE(VNET_DRV_F_HOST_TSO6) | VNET_DRV_FEATURE(VNET_DRV_F_MRG_RXBUF) |         \
	 VNET_DRV_FEATURE(VNET_DRV_F_STATUS) | VNET_DRV_FEATURE(VNET_DRV_F_CTRL_VQ) |              \
	 VNET_DRV_FEATURE(VNET_DRV_F_CTRL_RX) | VNET_DRV_FEATURE(VNET_DRV_F_MQ) |                  \
	 VNET_DRV_FEATURE(VNET_DRV_F_CTRL_MAC_ADDR) | VNET_DRV_FEATURE(VNET_DRV_F_INDIRECT_DESC) | \
	 VNET_DRV_FEATURE(VNET_DRV_F_EVENT_IDX) | VNET_DRV_FEATURE(VNET_DRV_F_VERSION_1) |         \
	 VNET_DRV_FEATURE(VNET_DRV_F_IN_ORDER) | VNET_DRV_FEATURE(VNET_DRV_F_MTU))

/* What features = 0 asks for: no offloads, no IN_ORDER. */
#define VNET_DRV_FEATURES_DEFAULT                                                                  \
	(VNET_DRV_FEATURE(VNET_DRV_F_MAC) | VNET_DRV_FEATURE(VNET_DRV_F_MRG_RXBUF) |               \
	 VNET_DRV_FEATURE(VNET_DRV_F_STATUS) | VNET_DRV_FEATURE(VNET_DRV_F_CTRL_VQ) |              \
	 VNET_DRV_FEATURE(VNET_DRV_F_CTRL_RX) | VNET_DRV_FEATURE(VNET_DRV_F_MQ) |                  \
	 VNET_DRV_FEATURE(VNET_DRV_F_CTRL_MAC_ADDR) | VNET_DRV_FEATURE(VNET_DRV_F_EVENT_IDX) |     \
	 VNET_DRV_FEATURE(VNET_DRV_F_VERSION_1))

#define VNET_DRV_MAX_QUEUE_PAIRS 64u
/* Bytes before a fresh packet's data; at least VNET_DRV_HDR_LEN of them
 * must stay in front of a frame that is sent. 78 = 64 + 14: the 12-byte
 * virtio-net header (bytes 66..77) and the frame's first 50 bytes
 * (Ethernet, IPv4, UDP) share one cache line, so sending a small frame
 * writes one line the device last read instead of two — a third more
 * 64-byte frames per second (docs/performance.md) — and the IP header
 * after a 14-byte Ethernet header is 4-byte aligned. */
#define VNET_DRV_HEADROOM 78u
/* Bytes before a received frame's data: receive buffers are posted so
 * that the device writes the header at the end of one cache line and the
 * frame from the start of the next. A device that reads the header before
 * writing it (DPDK's vhost compares fields before it stores them) would
 * otherwise stall on a line the driver last read, for every frame: with
 * the frame in the header's line DPDK's vhost delivered half the frames
 * per second (docs/performance.md). */
#define VNET_DRV_RX_HEADROOM 64u
#define VNET_DRV_HDR_LEN     12u /* struct virtio_net_hdr_v1 */
/* Most segments of one frame either way. */
#define VNET_DRV_MAX_SEGS 64u

enum vnet_drv_ring_format {
	VNET_DRV_RING_ANY = 0, /* packed when the backend offers it, else split */
	VNET_DRV_RING_SPLIT,
	VNET_DRV_RING_PACKED, /* -EOPNOTSUPP when the backend lacks it */
};

struct vnet_drv_config {
	const char *socket_path;     /* a vhost-user backend listens here */
	unsigned connect_timeout_ms; /* retry connecting this long; 0 = 5000 */
	unsigned queue_pairs;	     /* 1..VNET_DRV_MAX_QUEUE_PAIRS; 0 = 1 */
	enum vnet_drv_ring_format ring_format;
	uint32_t ring_size; /* power of two, 2..VQ_MAX_QUEUE_SIZE; 0 = 256 */
	/* Features wanted (VNET_DRV_FEATURE masks); 0 = VNET_DRV_FEATURES_DEFAULT.
	 * Negotiated: offered by the backend AND wanted AND supported, plus
	 * VERSION_1 (required). Dependencies are dropped with their base
	 * (CTRL_RX, MQ and CTRL_MAC_ADDR without CTRL_VQ); MQ is dropped
	 * for one queue pair. */
	uint64_t features;
	bool hugepages;		/* shared memory from hugetlbfs 2 MB pages (else memfd) */
	uint32_t pool_size;	/* packet buffers per queue pair; 0 = 4 * ring_size */
	uint32_t buf_data_room; /* frame bytes per buffer (64..65535); 0 = 2048 */
	/* Without MRG_RXBUF: each receive buffer chain holds a frame this
	 * long (the buffers it takes are chained); 0 = 1518. */
	uint32_t rx_frame_max;
	/* Control queue commands wait this long for the device; 0 = 2000. */
	unsigned ctrl_timeout_ms;
};

/* Offload metadata of a frame: the virtio-net header's fields in host
 * order (VIRTIO 1.2 §5.1.6). */
#define VNET_DRV_OL_NEEDS_CSUM 1 /* csum_start / csum_offset valid: fill the checksum in */
#define VNET_DRV_OL_DATA_VALID 2 /* rx: the checksum was checked */

#define VNET_DRV_GSO_NONE  0
#define VNET_DRV_GSO_TCPV4 1
#define VNET_DRV_GSO_UDP   3
#define VNET_DRV_GSO_TCPV6 4
#define VNET_DRV_GSO_ECN   0x80

struct vnet_drv_offload {
	uint8_t flags;	  /* VNET_DRV_OL_* */
	uint8_t gso_type; /* VNET_DRV_GSO_* */
	uint16_t hdr_len;
	uint16_t gso_size; /* segment payload bytes; > 0 with a GSO type */
	uint16_t csum_start;
	uint16_t csum_offset;
};

struct vnet_drv_pool;

/*
 * One packet buffer, or one segment of a frame. The fields above the line
 * are the caller's; the rest are the library's (read-only).
 */
struct vnet_drv_pkt {
	uint8_t *data;		    /* first frame byte of this segment */
	uint32_t len;		    /* frame bytes in this segment */
	uint32_t pkt_len;	    /* head only, rx: bytes of the whole frame */
	uint16_t nb_segs;	    /* head only, rx: segments of the frame */
	struct vnet_drv_pkt *next;  /* next segment, or NULL */
	struct vnet_drv_offload ol; /* head only */
	/* ---- library's ---- */
	uint8_t *buf;		    /* the buffer in shared memory */
	uint32_t buf_size;	    /* its bytes (headroom included) */
	uint64_t buf_gpa;	    /* the device's address of buf */
	struct vnet_drv_pool *pool; /* where it goes back */
};

/* Counters of one queue, written by the pair's thread only. */
struct vnet_drv_queue_stats {
	uint64_t packets, bytes;   /* frames moved (no virtio-net header counted) */
	uint64_t drops;		   /* tx: packets refused and freed (bad offload, too
				      many segments, foreign pool, no headroom);
				      rx: frames dropped (bad header or lengths) */
	uint64_t errors;	   /* ring faults: the queue broke */
	uint64_t kicks;		   /* kick eventfd writes */
	uint64_t kicks_suppressed; /* publishes the device asked not to hear of */
	uint64_t no_buffers;	   /* rx: refills cut short by an empty pool */
};

struct vnet_drv;

/**
 * vnet_drv_open() - connect to @cfg->socket_path and bring the device up:
 * negotiate, share memory, fill the receive rings, start and enable every
 * ring of the pairs asked for (and the control queue, with MQ_VQ_PAIRS_SET
 * when MQ was negotiated). The socket path is not kept.
 * Return: 0 and *out (the caller owns it: vnet_drv_close()), or -errno
 * with nothing left open.
 */
int vnet_drv_open(const struct vnet_drv_config *cfg, struct vnet_drv **out);

/**
 * vnet_drv_close() - disconnect and release everything: socket, eventfds,
 * rings, shared memory, pools. Every packet of every pool is gone with it:
 * the caller must not touch any afterwards. NULL is ignored.
 */
void vnet_drv_close(struct vnet_drv *drv);

/* Negotiated virtio feature bits (VNET_DRV_FEATURE masks). */
uint64_t vnet_drv_features(const struct vnet_drv *drv);
static inline bool vnet_drv_has_feature(const struct vnet_drv *drv, unsigned bit)
{
	return bit < 64 && (vnet_drv_features(drv) >> bit) & 1u;
}
/* The ring format in use: VNET_DRV_RING_SPLIT or VNET_DRV_RING_PACKED. */
enum vnet_drv_ring_format vnet_drv_ring_format(const struct vnet_drv *drv);
unsigned vnet_drv_queue_pairs(const struct vnet_drv *drv);
/* The MAC: the device's (F_MAC), the last one set, or a random locally
 * administered one. */
void vnet_drv_mac(const struct vnet_drv *drv, uint8_t mac[6]);
/* The device's maximum MTU (config space, VIRTIO 1.2 §5.1.4) when
 * VNET_DRV_F_MTU was negotiated and the backend serves its config space;
 * 0 otherwise, or when the device reports less than 68 (§5.1.4.1 allows
 * 68..65535). Negotiating it binds the caller (§5.1.4.2): frames without
 * GSO may then not exceed it plus the Ethernet header. */
unsigned vnet_drv_mtu(const struct vnet_drv *drv);

/**
 * vnet_drv_link_up() - read the link status from config space.
 * Return: 1 up, 0 down, or -errno. Without F_STATUS or a config space the
 * backend serves, the link is up (§5.1.4.2).
 */
int vnet_drv_link_up(struct vnet_drv *drv);

/* The fd that is readable when the backend sent an event (config change),
 * or -1 without the backend request channel. */
int vnet_drv_event_fd(const struct vnet_drv *drv);
/* Handle every pending event without blocking. Return: config change
 * events handled now (>= 0), or -errno. */
int vnet_drv_poll_events(struct vnet_drv *drv);
/* Config change events seen since open. */
unsigned vnet_drv_config_changes(const struct vnet_drv *drv);
/* The vhost-user connection's socket, to poll() for POLLIN|POLLHUP only
 * (control thread; never read or write it): the backend sends nothing on
 * it unasked, so either means the backend closed the connection and the
 * device is gone (vnet_drv_close() it). */
int vnet_drv_conn_fd(const struct vnet_drv *drv);

/* ---- packet buffers (pair @qp's thread) ---- */

/* One fresh packet of pool @qp (data at VNET_DRV_HEADROOM, len 0, one
 * segment, no offload), owned by the caller; NULL when the pool is empty. */
struct vnet_drv_pkt *vnet_drv_pkt_alloc(struct vnet_drv *drv, unsigned qp);
/* Up to @n packets into @pkts. Return: how many. */
unsigned vnet_drv_pkt_alloc_bulk(struct vnet_drv *drv, unsigned qp, struct vnet_drv_pkt **pkts,
				 unsigned n);
/* Give back a packet and every segment chained to it. NULL is ignored. */
void vnet_drv_pkt_free(struct vnet_drv_pkt *pkt);
void vnet_drv_pkt_free_bulk(struct vnet_drv_pkt **pkts, unsigned n);
/* Frame bytes a segment can still take after data + len. */
uint32_t vnet_drv_pkt_tailroom(const struct vnet_drv_pkt *pkt);

/**
 * vnet_drv_pkt_from_frame() - copy @len bytes of @frame into fresh packets
 * of pool @qp (a chain when it does not fit one). A convenience that
 * copies. Return: 0 and *out (caller owns it), -ENOBUFS (pool short; nothing
 * taken), -EINVAL (len 0 or over VNET_DRV_MAX_SEGS buffers).
 */
int vnet_drv_pkt_from_frame(struct vnet_drv *drv, unsigned qp, const void *frame, size_t len,
			    struct vnet_drv_pkt **out);
/* Copy a frame's bytes (all segments) into @buf (at most @cap bytes).
 * Return: the frame's length (more than @cap when cut short). */
size_t vnet_drv_pkt_to_frame(const struct vnet_drv_pkt *pkt, void *buf, size_t cap);

/* ---- data path (pair @qp's thread) ---- */

/**
 * vnet_drv_tx_burst() - send up to @n frames on pair @qp. Frames of
 * completed earlier transmissions are first reaped back to the pool when the
 * ring runs low. Each frame is a packet chain of pool @qp; its data, len,
 * next and ol are read (pkt_len and nb_segs are not). Frames the device
 * cannot take (offload not negotiated, too many segments, less than
 * VNET_DRV_HDR_LEN headroom) are freed and counted as drops.
 * Return: packets consumed from the front of @pkts (sent or dropped; the
 * library owns them now); the rest stay the caller's (the ring is full, or
 * the next packet's head belongs to another pair's pool).
 */
unsigned vnet_drv_tx_burst(struct vnet_drv *drv, unsigned qp, struct vnet_drv_pkt **pkts,
			   unsigned n);
/* Take back every transmitted frame the device is done with. Return: frames
 * freed to the pool, or -ENOTCONN when the device broke the ring. */
int vnet_drv_tx_reap(struct vnet_drv *drv, unsigned qp);

/**
 * vnet_drv_rx_burst() - take up to @n received frames of pair @qp, then
 * post fresh buffers in place of the used ones (one publish, one kick at
 * most). Each frame is a packet chain (nb_segs, pkt_len, ol set on the
 * head) the caller owns and frees (or sends on @qp).
 * Return: frames stored in @pkts.
 */
unsigned vnet_drv_rx_burst(struct vnet_drv *drv, unsigned qp, struct vnet_drv_pkt **pkts,
			   unsigned n);
/* The eventfd the device signals when frames arrive on pair @qp while
 * notifications are on (vnet_drv_rx_wait() turns them on around its sleep). */
int vnet_drv_rx_fd(const struct vnet_drv *drv, unsigned qp);
/**
 * vnet_drv_rx_wait() - sleep up to @timeout_ms (-1 forever) until frames
 * arrive on pair @qp. Return: 1 (frames may be there), 0 (timeout), -errno.
 */
int vnet_drv_rx_wait(struct vnet_drv *drv, unsigned qp, int timeout_ms);
/**
 * vnet_drv_rx_arm() - for a caller that sleeps in its own poll() on
 * vnet_drv_rx_fd() next to other fds: drain the eventfd and turn on the
 * device's notifications for pair @qp's receive queue.
 * Return: 1 when frames already arrived (notifications stay off: take them
 * with vnet_drv_rx_burst() instead of sleeping), 0 armed, -EINVAL.
 */
int vnet_drv_rx_arm(struct vnet_drv *drv, unsigned qp);
/* After the sleep (whatever woke it): notifications off again, the
 * eventfd drained, so a busy pair costs the device no signals. */
void vnet_drv_rx_disarm(struct vnet_drv *drv, unsigned qp);

/* Counters of pair @qp's queues (either pointer may be NULL). */
void vnet_drv_queue_stats(const struct vnet_drv *drv, unsigned qp, struct vnet_drv_queue_stats *rx,
			  struct vnet_drv_queue_stats *tx);

/* ---- control queue (control thread; need CTRL_VQ) ----
 * Return: 0 (VIRTIO_NET_OK), -EIO (the device said no), -ETIMEDOUT,
 * -EOPNOTSUPP (feature not negotiated), -ENOTCONN. */
int vnet_drv_set_promisc(struct vnet_drv *drv, bool on);	  /* CTRL_RX */
int vnet_drv_set_allmulti(struct vnet_drv *drv, bool on);	  /* CTRL_RX */
int vnet_drv_set_mac(struct vnet_drv *drv, const uint8_t mac[6]); /* CTRL_MAC_ADDR */

#ifdef __cplusplus
}
#endif
#endif
