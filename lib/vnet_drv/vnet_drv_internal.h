/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: state shared by the library's files.
 *
 * Shared memory layout (one vu_shm, gpa VNET_DRV_GPA), offsets page aligned
 * per part:
 *   for each queue (2k rx, 2k+1 tx, then the control queue):
 *       descriptor area, driver area, device area
 *   for each tx queue with INDIRECT_DESC: ring_size tables of
 *       VNET_DRV_MAX_SEGS descriptors
 *   control buffer (one page): command header + data, then the ack byte
 *   for each pair: pool_size buffers of `stride` bytes
 *
 * Ownership: struct vnet_drv owns everything below it. A pair's fields are
 * touched only by that pair's thread after open; the control queue and the
 * frontend by the control thread.
 */
#ifndef VQNET_VNET_DRV_INTERNAL_H
#define VQNET_VNET_DRV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vqnet/vnet_drv.h>
#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "base/compiler.h"

#define VNET_DRV_GPA	      0x40000000ull
#define VNET_DRV_CTRL_SIZE    64u /* control queue ring size */
#define VNET_DRV_CTRL_BUF     4096u
#define VNET_DRV_CTRL_ACK_OFF 2048u

/* A pair's buffer pool: descriptors in the heap, bytes in shared memory. */
struct vnet_drv_pool {
	struct vnet_drv_pkt *pkts;  /* all descriptors, [size] */
	struct vnet_drv_pkt **free; /* stack of free ones, [size] */
	uint32_t nfree, size;
	uint32_t stride; /* bytes per buffer, headroom included */
};

/* One virtqueue (rx, tx or control). */
struct vnet_drv_queue {
	struct vq_drv *d;
	unsigned index;
	int kick_fd, call_fd;
	uint64_t desc_off, driver_off, device_off, ind_off; /* in the shm; ind_off 0: none */
	struct vnet_drv_queue_stats stats;
};

/* One queue pair; aligned so two pairs' threads share no cache line. */
struct vnet_drv_qpair {
	struct vnet_drv_queue rx;
	struct vnet_drv_pool pool;
	/* a mergeable frame whose buffers are still arriving */
	struct vnet_drv_pkt *rx_head, *rx_tail;
	uint16_t rx_missing;	/* buffers still to come for rx_head */
	unsigned rx_chain_bufs; /* buffers per posted rx chain (1 with MRG_RXBUF) */
	struct vnet_drv_queue tx __attribute__((aligned(64)));
	unsigned tx_reap_below; /* reap when fewer descriptors are free */
	bool tx_indirect;
} __attribute__((aligned(64)));

struct vnet_drv {
	struct vnet_drv_config cfg; /* with defaults applied; socket_path not kept */
	struct vu_frontend *fe;
	struct vu_shm shm;
	uint64_t features;	    /* negotiated virtio features */
	uint64_t protocol_features; /* negotiated vhost-user protocol features */
	enum vq_format format;
	unsigned nqp;	   /* pairs opened */
	unsigned max_qp;   /* pairs the device has (control queue index / 2) */
	bool has_protocol; /* VHOST_USER_F_PROTOCOL_FEATURES negotiated */
	bool has_config;   /* the backend serves GET_CONFIG */
	uint8_t mac[6];
	unsigned mtu;		    /* config space mtu with F_MTU, else 0 */
	struct vnet_drv_queue ctrl; /* index 0 / d NULL without CTRL_VQ */
	uint64_t ctrl_buf_off;
	unsigned config_changes;
	struct vnet_drv_qpair *qp; /* [nqp] */
};

static inline uint64_t vnet_drv_gpa(const struct vnet_drv *drv, const void *p)
{
	return drv->shm.gpa + (uint64_t)((const uint8_t *)p - drv->shm.base);
}

/* vnet_drv_queue.c */
void vnet_drv_queue_init(struct vnet_drv_queue *q, unsigned index);
int vnet_drv_queue_create(struct vnet_drv *drv, struct vnet_drv_queue *q, uint32_t size,
			  uint64_t indirect_off);
int vnet_drv_queue_start(struct vnet_drv *drv, struct vnet_drv_queue *q, uint32_t size);
void vnet_drv_queue_fini(struct vnet_drv_queue *q);
void vnet_drv_queue_kick(struct vnet_drv_queue *q);

/* vnet_drv_pool.c */
int vnet_drv_pool_init(struct vnet_drv_pool *p, uint8_t *base, uint64_t gpa, uint32_t nbufs,
		       uint32_t stride);
void vnet_drv_pool_fini(struct vnet_drv_pool *p);
/* A fresh packet's caller fields (data at @headroom, len 0, one segment,
 * no offload): everything before buf comes from a template in one block
 * copy (a few wide stores, padding included), then data is set. */
static inline void vnet_drv_pkt_reset_at(struct vnet_drv_pkt *pkt, uint32_t headroom)
{
	static const struct vnet_drv_pkt fresh = {.nb_segs = 1};

	memcpy(pkt, &fresh, offsetof(struct vnet_drv_pkt, buf));
	pkt->data = pkt->buf + headroom;
}
/* A fresh packet to send: data at VNET_DRV_HEADROOM. */
static inline void vnet_drv_pkt_reset(struct vnet_drv_pkt *pkt)
{
	vnet_drv_pkt_reset_at(pkt, VNET_DRV_HEADROOM);
}
/* A fresh packet off @p's stack with data at @headroom (VNET_DRV_HEADROOM
 * to send, VNET_DRV_RX_HEADROOM to post for receive), or NULL. */
static inline struct vnet_drv_pkt *vnet_drv_pool_get(struct vnet_drv_pool *p, uint32_t headroom)
{
	struct vnet_drv_pkt *pkt;

	if (unlikely(p->nfree == 0))
		return NULL;
	pkt = p->free[--p->nfree];
	vnet_drv_pkt_reset_at(pkt, headroom);
	return pkt;
}
static inline void vnet_drv_pool_put(struct vnet_drv_pkt *pkt)
{
	struct vnet_drv_pool *p = pkt->pool;

	p->free[p->nfree++] = pkt;
}

/* vnet_drv_rx.c */
void vnet_drv_rx_refill(struct vnet_drv *drv, struct vnet_drv_qpair *qp);
void vnet_drv_rx_fini(struct vnet_drv_qpair *qp);

/* vnet_drv_ctrl.c */
int vnet_drv_ctrl_mq_pairs(struct vnet_drv *drv, unsigned pairs);

#endif
