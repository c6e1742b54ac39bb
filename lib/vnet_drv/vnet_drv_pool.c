/* SPDX-License-Identifier: MIT */
/*
 * vqnet userspace virtio-net driver: packet buffers — theory of operation
 *
 * Each queue pair has a pool: pool_size buffers of `stride` bytes in the
 * shared memory (VNET_DRV_HEADROOM, then the data room) and, in this
 * process's heap, one struct vnet_drv_pkt per buffer plus a stack of free
 * ones. Only the pair's thread touches its pool, so get and put are a
 * load and a store: no lock, no atomic, no allocation after open. The
 * descriptors are out of the device's reach; it sees only buffer bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/prefetch.h"
#include "vnet_drv_internal.h"

/* Buffers start on a cache line (pool at 4 KiB, stride a multiple of the
 * line), so this puts a small frame's header and its Ethernet + IPv4 +
 * UDP headers (42 bytes) in one line: see VNET_DRV_HEADROOM. */
_Static_assert((VNET_DRV_HEADROOM - VNET_DRV_HDR_LEN) % VQNET_CACHELINE + VNET_DRV_HDR_LEN + 42 <=
		       VQNET_CACHELINE,
	       "virtio-net header and a small frame's headers share a cache line");
/* A received frame starts a line, right after its header's (and the rx
 * room, buf_size - VNET_DRV_RX_HEADROOM, is at least the data room). */
_Static_assert(VNET_DRV_RX_HEADROOM % VQNET_CACHELINE == 0 &&
		       VNET_DRV_RX_HEADROOM >= VNET_DRV_HDR_LEN &&
		       VNET_DRV_RX_HEADROOM <= VNET_DRV_HEADROOM,
	       "received frames start a cache line");

/**
 * vnet_drv_pool_init() - @nbufs buffers of @stride bytes from @base (device
 * address @gpa). Return: 0 or -ENOMEM.
 */
int vnet_drv_pool_init(struct vnet_drv_pool *p, uint8_t *base, uint64_t gpa, uint32_t nbufs,
		       uint32_t stride)
{
	p->pkts = calloc(nbufs, sizeof(*p->pkts));
	p->free = calloc(nbufs, sizeof(*p->free));
	if (!p->pkts || !p->free) {
		vnet_drv_pool_fini(p);
		return -ENOMEM;
	}
	p->size = nbufs;
	p->stride = stride;
	for (uint32_t i = 0; i < nbufs; i++) {
		struct vnet_drv_pkt *pkt = &p->pkts[i];

		pkt->buf = base + (uint64_t)i * stride;
		pkt->buf_gpa = gpa + (uint64_t)i * stride;
		pkt->buf_size = stride;
		pkt->pool = p;
		/* lowest addresses on top of the stack: handed out first */
		p->free[nbufs - 1 - i] = pkt;
	}
	p->nfree = nbufs;
	return 0;
}

void vnet_drv_pool_fini(struct vnet_drv_pool *p)
{
	free(p->pkts);
	free(p->free);
	p->pkts = NULL;
	p->free = NULL;
	p->nfree = p->size = 0;
}

/* A fresh packet is about to be written (its frame by the caller, its
 * virtio-net header at transmit), and its first line is one the device
 * last read: ask for it writable now (lib/base/prefetch.h). */
static inline void pkt_prefetch_write(const struct vnet_drv_pkt *pkt)
{
	prefetch_write(pkt->data - VNET_DRV_HDR_LEN);
}

VQNET_EXPORT struct vnet_drv_pkt *vnet_drv_pkt_alloc(struct vnet_drv *drv, unsigned qp)
{
	struct vnet_drv_pkt *pkt;

	if (!drv || qp >= drv->nqp)
		return NULL;
	pkt = vnet_drv_pool_get(&drv->qp[qp].pool, VNET_DRV_HEADROOM);
	if (pkt)
		pkt_prefetch_write(pkt);
	return pkt;
}

VQNET_EXPORT unsigned vnet_drv_pkt_alloc_bulk(struct vnet_drv *drv, unsigned qp,
					      struct vnet_drv_pkt **pkts, unsigned n)
{
	struct vnet_drv_pool *p;
	unsigned i;

	if (!drv || qp >= drv->nqp || !pkts)
		return 0;
	p = &drv->qp[qp].pool;
	if (n > p->nfree)
		n = p->nfree;
	/* One bound check per call, then per packet: pop, reset the caller's
	 * fields from a template (a few wide stores), set data. */
	struct vnet_drv_pkt *const *top = p->free + p->nfree;
	for (i = 0; i < n; i++) {
		struct vnet_drv_pkt *pkt = *--top;

		vnet_drv_pkt_reset(pkt);
		pkt_prefetch_write(pkt);
		pkts[i] = pkt;
	}
	p->nfree -= n;
	return n;
}

VQNET_EXPORT void vnet_drv_pkt_free(struct vnet_drv_pkt *pkt)
{
	while (pkt) {
		struct vnet_drv_pkt *next = pkt->next;

		vnet_drv_pool_put(pkt);
		pkt = next;
	}
}

VQNET_EXPORT void vnet_drv_pkt_free_bulk(struct vnet_drv_pkt **pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vnet_drv_pkt_free(pkts[i]);
}

VQNET_EXPORT uint32_t vnet_drv_pkt_tailroom(const struct vnet_drv_pkt *pkt)
{
	const uint8_t *end = pkt->buf + pkt->buf_size;

	return (uint32_t)(end - (pkt->data + pkt->len));
}

VQNET_EXPORT int vnet_drv_pkt_from_frame(struct vnet_drv *drv, unsigned qp, const void *frame,
					 size_t len, struct vnet_drv_pkt **out)
{
	const uint8_t *src = frame;
	struct vnet_drv_pkt *head = NULL, *tail = NULL;
	struct vnet_drv_pool *p;
	uint32_t room;
	size_t nsegs;

	if (!drv || qp >= drv->nqp || !out || (len && !frame) || len == 0 || len > UINT32_MAX)
		return -EINVAL;
	p = &drv->qp[qp].pool;
	room = p->stride - VNET_DRV_HEADROOM;
	nsegs = (len + room - 1) / room;
	if (nsegs > VNET_DRV_MAX_SEGS)
		return -EINVAL;
	if (nsegs > p->nfree)
		return -ENOBUFS;
	for (size_t off = 0; off < len;) {
		struct vnet_drv_pkt *seg = vnet_drv_pool_get(p, VNET_DRV_HEADROOM);
		uint32_t n = len - off < room ? (uint32_t)(len - off) : room;

		memcpy(seg->data, src + off, n);
		seg->len = n;
		if (tail)
			tail->next = seg;
		else
			head = seg;
		tail = seg;
		off += n;
	}
	head->pkt_len = (uint32_t)len;
	head->nb_segs = (uint16_t)nsegs;
	*out = head;
	return 0;
}

VQNET_EXPORT size_t vnet_drv_pkt_to_frame(const struct vnet_drv_pkt *pkt, void *buf, size_t cap)
{
	uint8_t *dst = buf;
	size_t total = 0;

	for (; pkt; pkt = pkt->next) {
		if (total < cap) {
			size_t n = pkt->len < cap - total ? pkt->len : cap - total;

			memcpy(dst + total, pkt->data, n);
		}
		total += pkt->len;
	}
	return total;
}
