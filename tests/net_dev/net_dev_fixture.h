/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net device (include/vqnet/net_dev.h) behind a real vhost-user
 * socket, driven in-process: the environment the test_net_dev_*.c files
 * share.
 *
 * Each test builds an environment: a test network backend ("tbe": frames
 * sent on a queue pair are queued and come back on its rx, with an
 * eventfd as rx_fd and configurable caps; the test can also inject
 * frames), a net_dev on it, a vu_backend serving the device on a socket in
 * a temp dir, and a control thread running poll(vu_backend_fd,
 * net_dev_ctrl_fd) + vu_backend_dispatch() / net_dev_ctrl_process(). The
 * test thread is the frontend: vu_frontend_* over the socket, guest memory
 * from vu_shm_alloc() shared with SET_MEM_TABLE, and vq_drv_* driver rings
 * for each receiveq and transmitq and the control queue.
 *
 * Every wait is bounded: a test fails instead of hanging.
 */
#ifndef VQNET_TESTS_NET_DEV_FIXTURE_H
#define VQNET_TESTS_NET_DEV_FIXTURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vqnet/net_dev.h>
#include <vqnet/netbe.h>
#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/virtio_net.h"
#include "../harness/test_util.h"

#define F(bit) (1ull << (bit))

#define QSIZE	   64u
#define SHM_SIZE   (8u << 20)
#define SHM_GPA	   0x40000000ull
#define RING_AREA  (64u << 10)
#define RX_BASE	   (512u << 10) /* per pair: QSIZE * RX_SLOT */
#define RX_SLOT	   2048u
#define CTRL_BASE  (1u << 20)
#define CTRL_SLOT  1024u
#define TX_BASE	   (2u << 20)
#define TX_SLOT	   (72u << 10)
#define TX_SLOTS   64u
#define WAIT_MS	   5000
#define CONNECT_MS 5000u
#define HDR	   VIRTIO_NET_HDR_LEN
#define MAXP	   2u /* queue pairs a test uses at most */
#define MAXQ	   (2u * MAXP + 1)
#define TBE_MAX	   1024u
#define FRAME_MAX  (70u << 10)

/* The features a driver takes unless a test says otherwise. */
#define WANT_DEFAULT                                                                               \
	(F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |                    \
	 F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |            \
	 F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_CTRL_RX) |               \
	 F(VIRTIO_NET_F_CTRL_VQ))

#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		uint64_t dl_ = now_ms() + WAIT_MS;                                                 \
		while (!(cond)) {                                                                  \
			if (now_ms() > dl_)                                                        \
				fail_msg("timed out waiting for %s", #cond);                       \
			sleep_ms(1);                                                               \
		}                                                                                  \
	} while (0)

extern const uint8_t dev_mac[6];
extern const uint8_t peer_mac[6];

/* ------------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------------ */

void put16(uint8_t *p, uint16_t v);
uint16_t get16(const uint8_t *p);
uint32_t get32(const uint8_t *p);
/* A non-IP frame (local experimental ethertype) of @len bytes to @dst. */
uint32_t make_raw(uint8_t *f, uint32_t len, const uint8_t dst[6], uint8_t seed);
/* TCP/IPv4 frame with @payload bytes; the TCP checksum is left partial
 * (pseudo-header sum, for NEEDS_CSUM) when @partial, else complete. */
uint32_t make_tcp4(uint8_t *f, uint32_t payload, bool partial);
bool tcp4_csum_ok(const uint8_t *f, uint32_t len);

/* ------------------------------------------------------------------------
 * The test network backend
 * ------------------------------------------------------------------------ */

struct tbe_frame {
	uint32_t len;
	struct netbe_meta meta;
	uint8_t data[];
};

struct tbe_fifo {
	struct tbe_frame *q[TBE_MAX];
	unsigned head, count;
	int efd; /* rx_fd: readable while the FIFO holds frames */
};

struct tbe {
	struct netbe be;
	pthread_mutex_t lock;
	struct tbe_fifo fifo[MAXP]; /* rx FIFO of each queue pair */
	uint32_t caps;
	bool loop;		 /* tx frames come back on rx */
	atomic_uint tx_frames;	 /* frames taken by tx() */
	atomic_uint rx_offloads; /* last set_rx_offloads() */
	atomic_uint pairs;	 /* last set_queue_pairs() */
	/* tbe_set_direct(): rx_direct() writes frames into the lent chains
	 * while they fit (the rest into the bounce buffers); the next
	 * direct_bad of them claim a chain more than they fill. */
	atomic_uint direct_bad;
	atomic_uint win_frames, buf_frames; /* frames given each way */
	/* direct_refuse: rx_direct() writes nothing into the window (a
	 * backend with nothing zero-copy to send). direct_lent: the chains
	 * the device lent, over all rx_direct() calls. */
	atomic_bool direct_refuse;
	atomic_uint direct_lent;
};

void tbe_init(struct tbe *t, uint32_t caps, unsigned pairs);
void tbe_fini(struct tbe *t);
/* The backend implements rx_direct (before the device starts). */
void tbe_set_direct(struct tbe *t);
/* Frames waiting in pair @pair's rx FIFO. */
unsigned tbe_pending(struct tbe *t, unsigned pair);
/* Queue a frame for the device to receive on @pair (@m: NULL for none). */
void tbe_inject(struct tbe *t, unsigned pair, const uint8_t *f, uint32_t len,
		const struct netbe_meta *m);

/* ------------------------------------------------------------------------
 * The environment: device, backend thread, frontend
 * ------------------------------------------------------------------------ */

struct opts {
	enum vq_format fmt;
	uint32_t caps; /* backend caps */
	uint64_t want; /* virtio features the driver takes, if offered */
	uint16_t mtu;  /* device config */
	struct net_dev_rate tx_rate;
	unsigned poll_us;
	unsigned pairs; /* 0 = 1 */
	bool direct;	/* the backend has rx_direct (tbe_set_direct) */
};

enum cmd { CMD_NONE, CMD_LINK_DOWN, CMD_LINK_UP, CMD_RARP, CMD_MTU, CMD_ANNOUNCE };

struct dq {
	struct vq_drv *d;
	int kick_fd, call_fd;
	uint64_t desc_off, driver_off, device_off;
};

struct env {
	struct opts o;
	char dir[64], path[96];
	struct tbe tbe;
	struct net_dev *dev;
	struct vu_backend *b;
	pthread_t thread;
	int ctl_fd;
	atomic_int cmd;
	int cmd_arg, cmd_rc; /* CMD_MTU: the MTU in, the result out */
	atomic_bool stop;
	atomic_uint disconnects;
	/* frontend */
	struct vu_frontend *f;
	struct vu_shm shm;
	unsigned pairs, nq;
	unsigned cur; /* the queue pair the traffic helpers use */
	struct dq q[MAXQ];
	uint64_t features;
	unsigned tx_next, rx_next[MAXP], ctrl_next;
	/* reaped rx entries not yet consumed, per pair */
	struct vq_drv_used rx_used[MAXP][QSIZE];
	unsigned rx_nused[MAXP];
	atomic_uint log_lines; /* the log sink runs on any thread that logs */
};

struct env *env_new(const struct opts *o);
void env_free(struct env *e);
/* Have the control thread run @c; wait until it did. */
void env_cmd(struct env *e, enum cmd c);
/* Connect a frontend, negotiate, share memory, start the rings. */
void fe_open(struct env *e);
void fe_close(struct env *e);
struct net_dev_queue_stats qs(struct env *e, unsigned index);

/* Queue indices and receive slots of the current pair (e->cur). */
static inline unsigned rxq(const struct env *e)
{
	return 2 * e->cur;
}

static inline unsigned txq(const struct env *e)
{
	return 2 * e->cur + 1;
}

static inline unsigned ctrlq(const struct env *e)
{
	return 2 * e->pairs;
}

static inline uint64_t rx_base(const struct env *e)
{
	return RX_BASE + (uint64_t)e->cur * QSIZE * RX_SLOT;
}

/* ------------------------------------------------------------------------
 * Driver-side traffic (on the current pair)
 * ------------------------------------------------------------------------ */

/* Publish on @q and kick if the ring asks. */
void dq_kick(struct dq *q);
/* Reap every transmit completion (each of length 0). */
void tx_reap_all(struct env *e);
/* Add header + frame as one chain (the header in its own descriptor when
 * @split_hdr, to exercise a header spanning iovecs); tx_send() also
 * publishes and kicks. */
void tx_add(struct env *e, const struct virtio_net_hdr_v1 *h, const uint8_t *frame, uint32_t len,
	    bool split_hdr);
void tx_send(struct env *e, const struct virtio_net_hdr_v1 *h, const uint8_t *frame, uint32_t len,
	     bool split_hdr);
void tx_send_plain(struct env *e, const uint8_t *frame, uint32_t len);
/* Post @n receive chains of one writable buffer of @len bytes each. */
void rx_post(struct env *e, unsigned n, uint32_t len);
/* Reap receive completions into e->rx_used[e->cur]. */
void rx_reap(struct env *e);
/* Receive one frame (several buffers with MRG_RXBUF). Return its length
 * (header excluded) and copy header and frame out; -1 on timeout. */
int rx_recv(struct env *e, struct virtio_net_hdr_v1 *h, uint8_t *frame, unsigned ms);
/* Control command: class, cmd, data; return the ack byte. */
uint8_t ctrl_cmd(struct env *e, uint8_t cls, uint8_t cmd, const void *data, uint32_t len);

#endif
