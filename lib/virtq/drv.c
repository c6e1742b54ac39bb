/* SPDX-License-Identifier: MIT */
/*
 * Virtqueue driver side, format-neutral front — theory of operation
 *
 * The driver owns its ring memory but not the device: everything the device
 * writes (used ids, lengths, indices) is checked against the driver's
 * private shadow state (struct vq_drv_id per id) before it is believed
 * (HOSTILE H1–H5). A fault breaks the queue; the caller resets the device.
 *
 * Chains are built in three steps (start, add…, end) so callers can build
 * straight from their own buffer lists with no intermediate array; an
 * unfinished chain can be rewound. Ended chains are invisible to the device
 * until publish(), which makes any number of them available with one
 * release store. vq_drv_add_burst() is the packet path's shortcut for
 * one-descriptor chains: the same ring bytes, a few stores per chain.
 *
 * Reaping starts with the empty poll inline here (one load of what the
 * device writes next); the engines then check every entry. An IN_ORDER
 * batch is sized in O(1) from the records' end counters and handed out
 * in one tight loop.
 */
#include <stdlib.h>
#include <string.h>

#include "vq_internal.h"

VQNET_EXPORT int vq_drv_new(const struct vq_drv_config *cfg, struct vq_drv **out)
{
	struct vq_layout l;
	if (!cfg || !out || vq_layout(cfg->format, cfg->size, &l) || !cfg->desc ||
	    !cfg->driver_area || !cfg->device_area)
		return -VQ_ERR_INVALID_ARG;
	bool indirect = vq_has_feature(cfg->features, VIRTIO_F_INDIRECT_DESC);
	if (indirect && cfg->indirect && (cfg->indirect_max == 0 || cfg->indirect_max > 0xffff))
		return -VQ_ERR_INVALID_ARG;
	struct vq_drv *d = calloc(1, sizeof(*d));
	if (!d)
		return -VQ_ERR_NO_MEMORY;
	d->format = cfg->format;
	d->size = cfg->size;
	d->event_idx = vq_has_feature(cfg->features, VIRTIO_F_EVENT_IDX);
	d->in_order = vq_has_feature(cfg->features, VIRTIO_F_IN_ORDER);
	d->indirect_ok = indirect && cfg->indirect;
	d->indirect = cfg->indirect;
	d->indirect_gpa = cfg->indirect_gpa;
	d->indirect_max = cfg->indirect_max;
	d->desc_free = cfg->size;
	d->ids = calloc(cfg->size, sizeof(*d->ids));
	d->next_free = calloc(cfg->size, sizeof(*d->next_free));
	d->order = calloc(cfg->size, sizeof(*d->order));
	int rc = -VQ_ERR_NO_MEMORY;
	if (!d->ids || !d->next_free || !d->order)
		goto err_free;
	rc = cfg->format == VQ_FORMAT_SPLIT ? vq_drv_split_init(d, cfg)
					    : vq_drv_packed_init(d, cfg);
	if (rc)
		goto err_free;
	*out = d;
	return 0;
err_free:
	vq_drv_free(d);
	return rc;
}

VQNET_EXPORT void vq_drv_free(struct vq_drv *d)
{
	if (!d)
		return;
	if (d->format == VQ_FORMAT_SPLIT)
		free(d->split.avail_shadow);
	free(d->ids);
	free(d->next_free);
	free(d->order);
	free(d);
}

VQNET_EXPORT int vq_drv_chain_start(struct vq_drv *d, bool indirect)
{
	if (d->broken)
		return -VQ_ERR_BROKEN;
	if (d->cur.open || (indirect && !d->indirect_ok))
		return -VQ_ERR_INVALID_ARG;
	if (d->desc_free == 0)
		return -VQ_ERR_NO_SPACE;
	memset(&d->cur, 0, sizeof(d->cur));
	d->cur.indirect = indirect;
	int rc = d->format == VQ_FORMAT_SPLIT ? vq_drv_split_chain_start(d)
					      : vq_drv_packed_chain_start(d);
	if (rc == 0)
		d->cur.open = true;
	return rc;
}

VQNET_EXPORT int vq_drv_chain_add(struct vq_drv *d, uint64_t gpa, uint32_t len,
				  bool device_writable)
{
	if (!d->cur.open || len == 0 || (!device_writable && d->cur.has_writable))
		return -VQ_ERR_INVALID_ARG;
	if (device_writable && d->cur.in_len + len > UINT32_MAX)
		return -VQ_ERR_INVALID_ARG;
	int rc = d->format == VQ_FORMAT_SPLIT
			 ? vq_drv_split_chain_add(d, gpa, len, device_writable)
			 : vq_drv_packed_chain_add(d, gpa, len, device_writable);
	if (rc)
		return rc;
	d->cur.ndesc++;
	if (device_writable) {
		d->cur.has_writable = true;
		d->cur.in_len += len;
	}
	return 0;
}

VQNET_EXPORT int vq_drv_chain_end(struct vq_drv *d, void *token)
{
	if (!d->cur.open || d->cur.ndesc == 0)
		return -VQ_ERR_INVALID_ARG;
	int rc = d->format == VQ_FORMAT_SPLIT ? vq_drv_split_chain_end(d)
					      : vq_drv_packed_chain_end(d);
	if (rc < 0)
		return rc;
	uint16_t id = (uint16_t)rc;
	struct vq_drv_id *rec = &d->ids[id];
	rec->token = token;
	rec->in_len = (uint32_t)d->cur.in_len;
	rec->in_flight = true;
	rec->seq = d->end_seq++;
	/* rec->ndesc (and rec->tail) are set by the engine. */
	d->dend_seq += rec->ndesc;
	rec->dend = d->dend_seq;
	d->in_flight++;
	if (d->in_order) {
		d->order[d->order_head] = id;
		d->order_head = ring_pos_add(d->order_head, 1, d->size);
	}
	d->cur.open = false;
	return id;
}

VQNET_EXPORT int vq_drv_add_chain(struct vq_drv *d, const struct vq_drv_buf *bufs, unsigned nout,
				  unsigned nin, bool indirect, void *token)
{
	unsigned n = nout + nin;
	if (n == 0 || n > d->size + (d->indirect_max ? d->indirect_max : 0))
		return -VQ_ERR_INVALID_ARG;
	if (!indirect && n > d->desc_free)
		return d->broken ? -VQ_ERR_BROKEN : -VQ_ERR_NO_SPACE;
	int rc = vq_drv_chain_start(d, indirect);
	for (unsigned i = 0; rc == 0 && i < n; i++)
		rc = vq_drv_chain_add(d, bufs[i].gpa, bufs[i].len, i >= nout);
	if (rc == 0)
		return vq_drv_chain_end(d, token);
	vq_drv_chain_rewind(d);
	return rc;
}

/*
 * The burst path: the front checks what applies to the whole call (broken,
 * no open chain, the first length) and caps @n at the free descriptors;
 * the engine writes each chain's descriptor, record and avail slot in one
 * pass and the shared counters once. Byte for byte the same ring as the
 * same chains added one by one (tests/unit/test_virtq_drv_burst.c).
 */
VQNET_EXPORT int vq_drv_add_burst(struct vq_drv *d, const struct vq_drv_buf *bufs,
				  void *const *tokens, unsigned n, bool device_writable)
{
	if (unlikely(d->broken))
		return -VQ_ERR_BROKEN;
	if (unlikely(d->cur.open))
		return -VQ_ERR_INVALID_ARG;
	if (n > d->desc_free)
		n = d->desc_free;
	if (n == 0)
		return 0;
	if (unlikely(bufs[0].len == 0))
		return -VQ_ERR_INVALID_ARG;
	unsigned added = d->format == VQ_FORMAT_SPLIT
				 ? vq_drv_split_add_burst(d, bufs, tokens, n, device_writable)
				 : vq_drv_packed_add_burst(d, bufs, tokens, n, device_writable);
	return (int)added;
}

VQNET_EXPORT void vq_drv_chain_rewind(struct vq_drv *d)
{
	if (!d->cur.open)
		return;
	if (d->format == VQ_FORMAT_SPLIT)
		vq_drv_split_chain_rewind(d);
	else
		vq_drv_packed_chain_rewind(d);
	d->cur.open = false;
}

VQNET_EXPORT void vq_drv_publish(struct vq_drv *d)
{
	if (d->broken)
		return;
	if (d->format == VQ_FORMAT_SPLIT)
		vq_drv_split_publish(d);
	else
		vq_drv_packed_publish(d);
	d->pub_seq = d->end_seq;
}

VQNET_EXPORT bool vq_drv_kick_prepare(struct vq_drv *d)
{
	if (d->broken)
		return false;
	return d->format == VQ_FORMAT_SPLIT ? vq_drv_split_kick_prepare(d)
					    : vq_drv_packed_kick_prepare(d);
}

VQNET_EXPORT int vq_drv_reap(struct vq_drv *d, struct vq_drv_used *out, unsigned n)
{
	if (unlikely(d->broken))
		return -VQ_ERR_BROKEN;
	/* The empty poll, the common case of a receive loop: one load of
	 * the location the device writes next. Racy by design — an entry
	 * that lands just after is seen at the next call. */
	if (d->format == VQ_FORMAT_SPLIT) {
		if (ring_load(&d->split.used->idx) == d->split.last_used && !d->batch_left)
			return 0;
		if (unlikely(n == 0))
			return 0;
		return vq_drv_split_reap(d, out, n);
	}
	uint16_t f = ring_load(&d->packed.desc[d->packed.last_used_pos].flags);
	if (!vq_drv_packed_desc_is_used(f, d->packed.used_wrap) && !d->batch_left)
		return 0;
	if (unlikely(n == 0))
		return 0;
	return vq_drv_packed_reap(d, out, n);
}

VQNET_EXPORT void vq_drv_disable_used_notify(struct vq_drv *d)
{
	if (d->format == VQ_FORMAT_SPLIT)
		vq_drv_split_disable_used_notify(d);
	else
		vq_drv_packed_disable_used_notify(d);
}

VQNET_EXPORT bool vq_drv_enable_used_notify(struct vq_drv *d)
{
	if (d->broken)
		return false;
	return d->format == VQ_FORMAT_SPLIT ? vq_drv_split_enable_used_notify(d)
					    : vq_drv_packed_enable_used_notify(d);
}

VQNET_EXPORT unsigned vq_drv_free_descs(const struct vq_drv *d)
{
	return d->desc_free;
}

VQNET_EXPORT unsigned vq_drv_in_flight(const struct vq_drv *d)
{
	return d->in_flight;
}

VQNET_EXPORT bool vq_drv_is_broken(const struct vq_drv *d)
{
	return d->broken != VQ_OK;
}

VQNET_EXPORT enum vq_err vq_drv_broken_reason(const struct vq_drv *d)
{
	return d->broken;
}

/* ---------------------------------------------- shared by the engines */

/*
 * Hand out up to @n chains of the open IN_ORDER batch, oldest first, in
 * one pass over the FIFO: skipped chains count as wholly used (§2.8.8,
 * §2.7.9), the batch's last chain gets the length the device wrote.
 */
unsigned vq_drv_drain_in_order_batch(struct vq_drv *d, struct vq_drv_used *out, unsigned n)
{
	unsigned k = d->batch_left < n ? d->batch_left : n;
	uint32_t tail = d->order_tail, size = d->size;
	const uint16_t *order = d->order;
	struct vq_drv_id *ids = d->ids;
	const struct vq_drv_id *first, *last = NULL;

	if (k == 0)
		return 0;
	first = &ids[order[tail]];
	for (unsigned i = 0; i < k; i++) {
		uint16_t id = order[tail];
		struct vq_drv_id *rec = &ids[id];
		tail = tail + 1 == size ? 0 : tail + 1;
		out[i].token = rec->token;
		out[i].id = id;
		out[i].len = rec->in_len;
		rec->in_flight = false; /* the stale token is never read again */
		last = rec;
	}
	if (k == d->batch_left)
		out[k - 1].len = d->batch_last_len;
	d->order_tail = tail;
	d->batch_left -= k;
	/* descriptors of chains first..last, from the free-running end counts */
	d->desc_free += last->dend - (first->dend - first->ndesc);
	d->in_flight -= k;
	return k;
}
