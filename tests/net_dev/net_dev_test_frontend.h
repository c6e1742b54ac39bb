/* SPDX-License-Identifier: MIT */
/*
 * A virtio-net driver for tests: the frontend side of a vqnet device over a
 * real vhost-user socket (vu_frontend_*), guest memory from vu_shm_alloc()
 * and vqnet's driver rings (vq_drv_*) for every queue of the device.
 *
 * It knows nothing about where the device runs: the test_vqnetd_*.c files
 * drive the vqnetd process with it; net_dev_fixture.c (the in-process
 * sibling) has the same helpers of its own and can move to this one later.
 *
 * Memory layout of the one shared region (NTF_SHM_SIZE at NTF_SHM_GPA):
 * the rings (NTF_RING_AREA per queue), then receive slots, control slots,
 * transmit slots and a scratch area for hand-made hostile structures.
 * Receive and transmit slots are handed out from free bitmaps and come
 * back when their chain is reaped, so completions in any order (and
 * resubmitted chains after a backend restart) never reuse a busy slot.
 *
 * Every wait is bounded (NTF_WAIT_MS by default); assertions use cmocka.
 */
#ifndef VQNET_TESTS_NET_TEST_FRONTEND_H
#define VQNET_TESTS_NET_TEST_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/virtio_net.h"

#define NTF_F(bit)	 (1ull << (bit))
#define NTF_QSIZE	 64u
#define NTF_MAXP	 2u
#define NTF_MAXQ	 (2u * NTF_MAXP + 1)
#define NTF_SHM_SIZE	 (4u << 20)
#define NTF_SHM_GPA	 0x40000000ull
#define NTF_RING_AREA	 (64u << 10)
#define NTF_RX_BASE	 (512u << 10) /* NTF_MAXP * NTF_QSIZE * NTF_RX_SLOT */
#define NTF_RX_SLOT	 2048u
#define NTF_CTRL_BASE	 (1u << 20)
#define NTF_CTRL_SLOT	 1024u
#define NTF_TX_BASE	 (2u << 20) /* NTF_MAXP * NTF_QSIZE * NTF_TX_SLOT */
#define NTF_TX_SLOT	 2048u
#define NTF_SCRATCH_BASE (3u << 20)
#define NTF_WAIT_MS	 10000u
#define NTF_HDR		 VIRTIO_NET_HDR_LEN

struct ntf_opts {
	enum vq_format fmt;
	uint64_t want;	/* virtio features to take when offered (VERSION_1 always) */
	unsigned pairs; /* queue pairs to set up (1..NTF_MAXP; 0 = 1) */
	bool ctrl;	/* set up the control queue (CTRL_VQ taken) */
	bool inflight;	/* INFLIGHT_SHMFD: get the buffer, hand it back on reconnect */
	bool err_fds;	/* an error eventfd (SET_VRING_ERR) per ring */
	/* Hostile: call and error eventfds blocking, their counters filled to
	 * the maximum, so a write() of the device's would block. */
	bool full_blocking_efds;
	uint64_t pf_mask; /* protocol features never taken */
};

struct ntf_queue {
	struct vq_drv *d;
	int kick_fd, call_fd, err_fd;
	uint64_t desc_off, driver_off, device_off; /* in the shm */
};

struct ntf_rx {
	uint64_t slot_busy;		    /* bit per receive slot */
	struct vq_drv_used used[NTF_QSIZE]; /* reaped, not yet consumed */
	unsigned nused;
};

struct ntf {
	struct ntf_opts o;
	char path[108];
	struct vu_frontend *f; /* NULL while disconnected */
	struct vu_shm shm;
	unsigned pairs, nq;
	uint64_t features; /* negotiated virtio features */
	uint64_t pf;	   /* negotiated protocol features */
	struct ntf_queue q[NTF_MAXQ];
	struct vu_inflight infl; /* kept across connections */
	struct ntf_rx rx[NTF_MAXP];
	uint64_t tx_slot_busy[NTF_MAXP];
	unsigned ctrl_next;
};

/* Queue indices (§5.1.2). */
static inline unsigned ntf_rxq(unsigned pair)
{
	return 2 * pair;
}
static inline unsigned ntf_txq(unsigned pair)
{
	return 2 * pair + 1;
}
unsigned ntf_ctrlq(const struct ntf *n);

/* Set up memory and driver rings, connect to @path and start every ring. */
void ntf_open(struct ntf *n, const char *path, const struct ntf_opts *o);
/* Connect again with the same memory and rings (after ntf_disconnect() or a
 * backend crash): negotiate as before, hand the inflight buffer back, and
 * restart each split ring at its used index (vhost-user.rst, inflight
 * reconnect). Kicks every ring once. */
void ntf_reconnect(struct ntf *n);
/* Close the connection only; rings and memory stay. */
void ntf_disconnect(struct ntf *n);
/* Everything: connection, rings, fds, memory, inflight buffer. */
void ntf_close(struct ntf *n);

/* Publish and kick if the device wants it. */
void ntf_kick(struct ntf *n, unsigned q);

/* A non-IP frame (ethertype 0x88b5) of @len bytes to @dst from @src whose
 * payload starts with the 32-bit big-endian @seq, then a pattern. */
uint32_t ntf_make_frame(uint8_t *frame, uint32_t len, const uint8_t dst[6], const uint8_t src[6],
			uint32_t seq);
uint32_t ntf_frame_seq(const uint8_t *frame);

/* Post a frame (zero header + @frame) as one chain on pair @pair's
 * transmitq and kick. Token: (void *)(slot + 1); the slot also goes to
 * *@slot if not NULL. Return: the chain id, or -1 when no slot or
 * descriptor is free. */
int ntf_tx_send(struct ntf *n, unsigned pair, const uint8_t *frame, uint32_t len, unsigned *slot);
/* Reap transmit completions (each with length 0, its slot freed); tokens
 * into @tokens if not NULL (up to @max). Return: number reaped. */
unsigned ntf_tx_reap(struct ntf *n, unsigned pair, void **tokens, unsigned max);
/* Fill every free receive slot of @pair with a one-buffer chain of
 * NTF_RX_SLOT bytes and kick. Return: chains posted. */
unsigned ntf_rx_fill(struct ntf *n, unsigned pair);
/* Receive one frame on @pair (num_buffers honoured), within @ms. Return:
 * its length without the header (copied to @frame), or -1 on timeout. */
int ntf_rx_recv(struct ntf *n, unsigned pair, uint8_t *frame, unsigned ms);
/* Reap what the device completed on @pair's receiveq into the backlog. */
void ntf_rx_reap(struct ntf *n, unsigned pair);

/* A control command (class, cmd, @len bytes of data) as one readable
 * descriptor of 2 + @len bytes plus one writable ack byte. Return: the ack
 * byte (waits up to NTF_WAIT_MS). */
uint8_t ntf_ctrl_cmd(struct ntf *n, uint8_t cls, uint8_t cmd, const void *data, uint32_t len);
/* The same with the raw readable bytes given whole (@len may be < 2). */
uint8_t ntf_ctrl_raw(struct ntf *n, const void *bytes, uint32_t len);

/* Is eventfd @fd readable within @ms? Reads (clears) it when it is. */
bool ntf_efd_wait(int fd, unsigned ms);

uint64_t ntf_now_ms(void);
void ntf_sleep_ms(unsigned ms);

#endif
