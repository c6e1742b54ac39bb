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
 * release store.
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

VQNET_EXPORT bool vq_drv_kick_needed(struct vq_drv *d)
{
	if (d->broken)
		return false;
	return d->format == VQ_FORMAT_SPLIT ? vq_drv_split_kick_needed(d)
					    : vq_drv_packed_kick_needed(d);
}

VQNET_EXPORT int vq_drv_reap(struct vq_drv *d, struct vq_drv_used *out, unsigned n)
{
	if (d->broken)
		return -VQ_ERR_BROKEN;
	if (n == 0)
		return 0;
	return d->format == VQ_FORMAT_SPLIT ? vq_drv_split_reap(d, out, n)
					    : vq_drv_packed_reap(d, out, n);
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

void vq_drv_open_in_order_batch(struct vq_drv *d, uint16_t id, uint32_t len, uint32_t *nchains,
				uint32_t *ndesc)
{
	/* The caller checked that @id is in flight, so it is in the FIFO. */
	uint32_t k = 0, descs = 0, pos = d->order_tail;
	for (;;) {
		uint16_t cur = d->order[pos];
		pos = ring_pos_add(pos, 1, d->size);
		descs += d->ids[cur].ndesc;
		k++;
		if (cur == id)
			break;
	}
	d->batch_left = k;
	d->batch_last_len = len;
	*nchains = k;
	*ndesc = descs;
}

unsigned vq_drv_drain_in_order_batch(struct vq_drv *d, struct vq_drv_used *out, unsigned n)
{
	unsigned got = 0;
	while (d->batch_left && got < n) {
		uint16_t id = d->order[d->order_tail];
		d->order_tail = ring_pos_add(d->order_tail, 1, d->size);
		/* §2.8.8: skipped buffers count as wholly used. */
		uint32_t len = d->batch_left == 1 ? d->batch_last_len : d->ids[id].in_len;
		vq_drv_complete_one(d, id, len, &out[got++]);
		d->batch_left--;
	}
	return got;
}
