/* SPDX-License-Identifier: MIT */
/*
 * Virtqueue device side, format-neutral front — theory of operation
 *
 * vq_new() validates the configuration and the ring placement, allocates
 * the per-id in-flight record (the only allocation; none happens later) and
 * hands the ring to the split or packed engine. Every later call checks the
 * broken flag, dispatches with a switch on the format, and keeps the
 * counters. The in-flight record lets the front refuse a push of an id the
 * caller does not hold, so a caller bug cannot corrupt the ring either.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vq_internal.h"

static const char *const err_names[VQ_ERR__COUNT] = {
	[VQ_OK] = "success",
	[VQ_ERR_DESC_OUT_OF_MEMORY] = "descriptor buffer outside guest memory",
	[VQ_ERR_DESC_ADDR_OVERFLOW] = "descriptor address + length overflows",
	[VQ_ERR_DESC_ZERO_LEN] = "descriptor of length 0",
	[VQ_ERR_DESC_READ_AFTER_WRITE] = "device-readable descriptor after a device-writable one",
	[VQ_ERR_DESC_WRITE_FORBIDDEN] = "device-writable descriptor on a device-read-only queue",
	[VQ_ERR_DESC_READ_FORBIDDEN] = "device-readable descriptor on a device-write-only queue",
	[VQ_ERR_DESC_NEXT_OUT_OF_RANGE] = "descriptor next index out of range",
	[VQ_ERR_CHAIN_LOOP] = "descriptor chain loops",
	[VQ_ERR_CHAIN_TOO_LONG] = "descriptor chain longer than allowed",
	[VQ_ERR_CHAIN_TOO_MANY_SEGMENTS] = "chain needs more iovecs than available",
	[VQ_ERR_CHAIN_LEN_OVERFLOW] = "chain total length exceeds 4 GiB",
	[VQ_ERR_INDIRECT_NOT_NEGOTIATED] = "indirect descriptor without VIRTIO_F_INDIRECT_DESC",
	[VQ_ERR_INDIRECT_EMPTY] = "indirect table of length 0",
	[VQ_ERR_INDIRECT_BAD_LEN] = "indirect table length not a multiple of 16",
	[VQ_ERR_INDIRECT_TOO_LARGE] = "indirect table has too many entries",
	[VQ_ERR_INDIRECT_OUT_OF_MEMORY] = "indirect table outside guest memory",
	[VQ_ERR_INDIRECT_NESTED] = "indirect descriptor inside an indirect table",
	[VQ_ERR_INDIRECT_WITH_NEXT] = "indirect descriptor combined with NEXT",
	[VQ_ERR_CONSUMED] = "chain consumed before a restart",
	[VQ_ERR_HEAD_OUT_OF_RANGE] = "chain head / buffer id out of range",
	[VQ_ERR_HEAD_IN_FLIGHT] = "chain head / buffer id already in flight",
	[VQ_ERR_AVAIL_IDX_JUMP] = "avail index moved more than the queue size",
	[VQ_ERR_PACKED_CHAIN_INCOMPLETE] = "packed descriptor list not wholly available",
	[VQ_ERR_PACKED_RING_OVERRUN] =
		"packed ring: more descriptors in flight than the ring holds",
	[VQ_ERR_RING_OUT_OF_MEMORY] = "ring not wholly inside one guest memory region",
	[VQ_ERR_RING_MISALIGNED] = "ring address misaligned",
	[VQ_ERR_RING_OVERLAP] = "ring parts overlap",
	[VQ_ERR_BROKEN] = "queue is broken",
	[VQ_ERR_USED_ID_OUT_OF_RANGE] = "used id out of range",
	[VQ_ERR_USED_ID_NOT_IN_FLIGHT] = "used id not in flight",
	[VQ_ERR_USED_LEN_TOO_LARGE] = "used length larger than the buffer",
	[VQ_ERR_USED_IDX_JUMP] = "used index moved more than the buffers in flight",
	[VQ_ERR_INVALID_ARG] = "invalid argument",
	[VQ_ERR_NO_SPACE] = "no free descriptors",
	[VQ_ERR_NO_MEMORY] = "out of memory",
};

/* |err| without the overflow of -INT_MIN. */
static unsigned err_abs(int err)
{
	return err < 0 ? 0u - (unsigned)err : (unsigned)err;
}

VQNET_EXPORT const char *vq_strerror(int err)
{
	unsigned e = err_abs(err);
	if (e >= VQ_ERR__COUNT || !err_names[e])
		return "unknown virtqueue error";
	return err_names[e];
}

VQNET_EXPORT bool vq_err_is_drop(int err)
{
	unsigned e = err_abs(err);
	return e >= VQ_ERR_FIRST_DROP && e <= VQ_ERR_LAST_DROP;
}

static bool size_ok(enum vq_format format, uint32_t size)
{
	if ((format != VQ_FORMAT_SPLIT && format != VQ_FORMAT_PACKED) || size == 0 ||
	    size > VQ_MAX_QUEUE_SIZE)
		return false;
	/* §2.7: split queue sizes are powers of two; §2.8: packed need not be. */
	return format == VQ_FORMAT_PACKED || (size & (size - 1)) == 0;
}

VQNET_EXPORT int vq_layout(enum vq_format format, uint32_t size, struct vq_layout *out)
{
	if (!out || !size_ok(format, size))
		return -VQ_ERR_INVALID_ARG;
	if (format == VQ_FORMAT_SPLIT) {
		*out = (struct vq_layout){
			.desc_bytes = virtq_split_desc_bytes(size),
			.driver_bytes = virtq_split_avail_bytes(size),
			.device_bytes = virtq_split_used_bytes(size),
			.desc_align = VIRTQ_DESC_ALIGN,
			.driver_align = VIRTQ_AVAIL_ALIGN,
			.device_align = VIRTQ_USED_ALIGN,
		};
	} else {
		*out = (struct vq_layout){
			.desc_bytes = 16ull * size,
			.driver_bytes = sizeof(struct pvirtq_event_suppress),
			.device_bytes = sizeof(struct pvirtq_event_suppress),
			.desc_align = PVIRTQ_DESC_ALIGN,
			.driver_align = PVIRTQ_EVENT_ALIGN,
			.device_align = PVIRTQ_EVENT_ALIGN,
		};
	}
	return 0;
}

VQNET_EXPORT void vq_state_init(enum vq_format format, struct vq_state *s)
{
	/* §2.8.1: both ring wrap counters start at 1. */
	*s = (struct vq_state){.avail_wrap = format == VQ_FORMAT_PACKED,
			       .used_wrap = format == VQ_FORMAT_PACKED};
}

/* Do [a, a + alen) and [b, b + blen) share a byte? (Neither wraps: both
 * were found inside guest memory.) */
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Every ring part aligned, wholly inside one region and apart from the
 * others (docs/security.md, A26): a device writing its used ring over the
 * descriptors or the avail ring would feed the driver's structures with
 * its own writes. The split parts' EVENT_IDX fields count only when
 * negotiated. */
static int check_ring_placement(const struct vq *q)
{
	struct vq_layout l;
	int rc = vq_layout(q->format, q->size, &l);
	if (rc)
		return rc;
	if (q->format == VQ_FORMAT_SPLIT && !q->event_idx) {
		l.driver_bytes -= 2;
		l.device_bytes -= 2;
	}
	if (q->cfg.desc_gpa % l.desc_align || q->cfg.driver_gpa % l.driver_align ||
	    q->cfg.device_gpa % l.device_align)
		return -VQ_ERR_RING_MISALIGNED;
	uint32_t hint = 0;
	if (!gmem_ptr(q->mem, q->cfg.desc_gpa, l.desc_bytes, &hint) ||
	    !gmem_ptr(q->mem, q->cfg.driver_gpa, l.driver_bytes, &hint) ||
	    !gmem_ptr(q->mem, q->cfg.device_gpa, l.device_bytes, &hint))
		return -VQ_ERR_RING_OUT_OF_MEMORY;
	if (overlap(q->cfg.desc_gpa, l.desc_bytes, q->cfg.driver_gpa, l.driver_bytes) ||
	    overlap(q->cfg.desc_gpa, l.desc_bytes, q->cfg.device_gpa, l.device_bytes) ||
	    overlap(q->cfg.driver_gpa, l.driver_bytes, q->cfg.device_gpa, l.device_bytes))
		return -VQ_ERR_RING_OVERLAP;
	return 0;
}

static int engine_start(struct vq *q, const struct vq_state *s)
{
	int rc = check_ring_placement(q);
	if (rc)
		return rc;
	switch (q->format) {
	case VQ_FORMAT_SPLIT:
		return vq_split_start(q, s);
	case VQ_FORMAT_PACKED:
		return vq_packed_start(q, s);
	}
	return -VQ_ERR_INVALID_ARG;
}

static bool state_ok(const struct vq_config *cfg, const struct vq_state *s)
{
	/* Packed positions index the ring; split indices are free-running. */
	return cfg->format == VQ_FORMAT_SPLIT ||
	       (s->avail_idx < cfg->size && s->used_idx < cfg->size);
}

VQNET_EXPORT int vq_new(const struct vq_config *cfg, struct gmem_table *mem,
			const struct vq_state *start, struct vq **out)
{
	if (!cfg || !out || !size_ok(cfg->format, cfg->size) || cfg->dir > VQ_DIR_DEVICE_WRITES ||
	    (start && !state_ok(cfg, start)))
		return -VQ_ERR_INVALID_ARG;
	struct vq *q = calloc(1, sizeof(*q));
	if (!q)
		return -VQ_ERR_NO_MEMORY;
	q->format = cfg->format;
	q->size = cfg->size;
	q->max_chain = cfg->max_chain ? cfg->max_chain : cfg->size;
	q->dir = cfg->dir;
	q->event_idx = vq_has_feature(cfg->features, VIRTIO_F_EVENT_IDX);
	q->indirect = vq_has_feature(cfg->features, VIRTIO_F_INDIRECT_DESC);
	q->in_order = vq_has_feature(cfg->features, VIRTIO_F_IN_ORDER);
	q->cfg = *cfg;
	q->mem = gmem_table_get(mem);
	q->inflight_ndesc = calloc(cfg->size, sizeof(*q->inflight_ndesc));
	q->order = q->in_order ? calloc(cfg->size, sizeof(*q->order)) : NULL;
	int rc = -VQ_ERR_NO_MEMORY;
	if (!q->inflight_ndesc || (q->in_order && !q->order))
		goto err_free;
	struct vq_state fresh;
	vq_state_init(cfg->format, &fresh);
	rc = engine_start(q, start ? start : &fresh);
	if (rc)
		goto err_free;
	*out = q;
	return 0;
err_free:
	vq_free(q);
	return rc;
}

VQNET_EXPORT void vq_free(struct vq *q)
{
	if (!q)
		return;
	gmem_table_put(q->mem);
	vq_infl_free(q->infl);
	free(q->inflight_ndesc);
	free(q->order);
	free(q);
}

VQNET_EXPORT int vq_set_mem(struct vq *q, struct gmem_table *mem)
{
	struct vq_state s;
	vq_get_state(q, &s);
	gmem_table_get(mem);
	gmem_table_put(q->mem);
	q->mem = mem;
	q->mem_hint = 0;
	int rc = engine_start(q, &s);
	if (rc)
		vq_break(q, (enum vq_err) - rc);
	return rc;
}

VQNET_EXPORT void vq_set_dirty_log(struct vq *q, uint8_t *bitmap, uint64_t bitmap_bytes,
				   uint64_t used_log_gpa)
{
	q->log_bitmap = bitmap;
	q->log_bytes = bitmap ? bitmap_bytes : 0;
	q->log_used_gpa = bitmap ? used_log_gpa : 0;
}

VQNET_EXPORT int vq_set_inflight(struct vq *q, void *region, size_t bytes)
{
	bool split = q->format == VQ_FORMAT_SPLIT;
	uint64_t need = split ? sizeof(struct vq_inflight_split) +
					(uint64_t)q->size * sizeof(struct vq_inflight_desc_split)
			      : offsetof(struct vq_inflight_packed, desc) +
					(uint64_t)q->size * sizeof(struct vq_inflight_desc_packed);
	if (!region || ((uintptr_t)region & 7) || q->infl || q->in_flight || q->broken ||
	    bytes < need)
		return -VQ_ERR_INVALID_ARG;
	return split ? vq_split_set_inflight(q, region) : vq_packed_set_inflight(q, region);
}

VQNET_EXPORT void vq_inflight_consume(struct vq *q, uint16_t id)
{
	struct vq_infl *in = q->infl;
	if (!in || id >= q->size || !q->inflight_ndesc[id])
		return;
	/* The descriptor states' padding is vqnet's mark (the frontend
	 * never reads it; lib/spec/vq_inflight.h). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (q->format == VQ_FORMAT_SPLIT)
		in->region.split->desc[id].padding[0] = 1;
	else if (in->head_of[id] < q->size)
		in->region.packed->desc[in->head_of[id]].padding = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

VQNET_EXPORT bool vq_inflight_tracked(const struct vq *q)
{
	return q->infl != NULL;
}

VQNET_EXPORT unsigned vq_inflight_resubmit_pending(const struct vq *q)
{
	return q->infl ? q->infl->resubmit_n - q->infl->resubmit_pos : 0;
}

static int pop_one(struct vq *q, struct vq_elem *e)
{
	int rc;
	switch (q->format) {
	case VQ_FORMAT_SPLIT:
		rc = vq_split_pop(q, e);
		break;
	case VQ_FORMAT_PACKED:
		rc = vq_packed_pop(q, e);
		break;
	default:
		rc = vq_break(q, VQ_ERR_INVALID_ARG);
	}
	if (rc > 0) {
		q->stats.popped++;
	} else if (rc < 0 && vq_err_is_drop(rc)) {
		q->stats.popped++;
		vq_stats_drop(q, (unsigned)-rc);
	}
	return rc;
}

VQNET_EXPORT int vq_pop(struct vq *q, struct vq_elem *e)
{
	if (unlikely(q->broken))
		return -VQ_ERR_BROKEN;
	return pop_one(q, e);
}

VQNET_EXPORT int vq_unpop(struct vq *q, const struct vq_elem *e)
{
	if (unlikely(q->broken))
		return -VQ_ERR_BROKEN;
	if (!e || e->id >= q->size || !q->inflight_ndesc[e->id] ||
	    q->inflight_ndesc[e->id] != (e->ndesc ? e->ndesc : 1u))
		return -VQ_ERR_INVALID_ARG;
	if (q->in_order) {
		uint32_t prev = q->order_head ? q->order_head - 1 : q->size - 1;
		if (q->order[prev] != e->id)
			return -VQ_ERR_INVALID_ARG; /* not the most recent pop */
		q->order_head = prev;
	}
	vq_inflight_release(q, e->id);
	if (q->format == VQ_FORMAT_SPLIT)
		vq_split_unpop(q, e);
	else
		vq_packed_unpop(q, e);
	q->stats.popped--;
	if (e->err) {
		q->stats.dropped--;
		q->stats.drop_reason[e->err]--;
	}
	return 0;
}

/* vq_pop_burst() while recovered chains are being handed out: chain by
 * chain (they come from the region, then the ring). */
static unsigned pop_burst_each(struct vq *q, struct vq_elem *elems, unsigned n, int *err)
{
	unsigned got = 0;
	int rc = 0;
	while (got < n) {
		rc = pop_one(q, &elems[got]);
		if (rc == 0)
			break;
		if (rc < 0 && !vq_err_is_drop(rc))
			break;
		got++;
		rc = 0;
	}
	*err = rc;
	return got;
}

/*
 * One broken check and one format switch per burst; the engines take runs
 * of one-descriptor chains inline and hand anything else to their
 * per-chain code, so the result is that of n vq_pop() calls (elements,
 * errors, counters, ring state) at a fraction of the cost per chain
 * (tests/unit/test_virtq_pop_burst.c compares the two). With inflight
 * tracking the _tracked engines record each chain before the burst
 * returns (popping chain by chain serialised the descriptor loads the
 * engines overlap: docs/performance.md), once recovered chains are out.
 */
VQNET_EXPORT unsigned vq_pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err)
{
	unsigned got = 0;
	int rc = 0;
	if (unlikely(q->broken)) {
		rc = -VQ_ERR_BROKEN;
	} else if (likely(n)) {
		if (unlikely(q->infl) && q->infl->resubmit_pos < q->infl->resubmit_n)
			return pop_burst_each(q, elems, n, err ? err : &rc);
		switch (q->format) {
		case VQ_FORMAT_SPLIT:
			got = unlikely(q->infl) ? vq_split_pop_burst_tracked(q, elems, n, &rc)
						: vq_split_pop_burst(q, elems, n, &rc);
			break;
		case VQ_FORMAT_PACKED:
			got = unlikely(q->infl) ? vq_packed_pop_burst_tracked(q, elems, n, &rc)
						: vq_packed_pop_burst(q, elems, n, &rc);
			break;
		default:
			rc = vq_break(q, VQ_ERR_INVALID_ARG);
		}
		q->stats.popped += got;
	}
	if (err)
		*err = rc;
	return got;
}

#define MARK 0x80000000u

VQNET_EXPORT int vq_push_burst(struct vq *q, const struct vq_used *used, unsigned n)
{
	if (unlikely(q->broken))
		return -VQ_ERR_BROKEN;
	/* Validate the whole batch first so a caller bug writes nothing. With
	 * IN_ORDER each id must be the next in pop order: the in-flight part
	 * of order[] holds distinct ids, each in flight, so that one compare
	 * per id is the whole check. Otherwise each id in flight and none
	 * twice (bit 31 marks ids seen in this batch). */
	unsigned i;
	uint32_t pos = q->order_tail;
	if (q->in_order) {
		if (n > q->in_flight)
			return -VQ_ERR_INVALID_ARG;
		for (i = 0; i < n; i++) {
			if (q->order[pos] != used[i].id)
				return -VQ_ERR_INVALID_ARG;
			pos = ring_pos_add(pos, 1, q->size);
		}
	} else {
		for (i = 0; i < n; i++) {
			uint16_t id = used[i].id;
			if (id >= q->size || q->inflight_ndesc[id] == 0 ||
			    q->inflight_ndesc[id] & MARK)
				break;
			q->inflight_ndesc[id] |= MARK;
		}
		for (unsigned j = 0; j < i; j++)
			q->inflight_ndesc[used[j].id] &= ~MARK;
		if (i < n)
			return -VQ_ERR_INVALID_ARG;
	}
	if (q->in_order) /* completions are in order: keep the pop-order FIFO in step */
		q->order_tail = pos;
	switch (q->format) {
	case VQ_FORMAT_SPLIT:
		vq_split_push(q, used, n);
		break;
	case VQ_FORMAT_PACKED:
		vq_packed_push(q, used, n);
		break;
	}
	q->stats.pushed += n;
	return 0;
}

VQNET_EXPORT int vq_push(struct vq *q, uint16_t id, uint32_t len)
{
	struct vq_used u = {.id = id, .len = len};
	return vq_push_burst(q, &u, 1);
}

VQNET_EXPORT int vq_push_in_order(struct vq *q, unsigned count, uint32_t last_len)
{
	if (unlikely(q->broken))
		return -VQ_ERR_BROKEN;
	if (!q->in_order || count == 0 || count > q->in_flight)
		return -VQ_ERR_INVALID_ARG;
	/* Release the batch's ids in pop order; locals, one store each. */
	uint32_t total_ndesc = 0, tail = q->order_tail;
	const uint32_t size = q->size;
	const uint16_t *order = q->order;
	uint32_t *ndesc = q->inflight_ndesc;
	uint16_t last_id = 0;
	for (unsigned i = 0; i < count; i++) {
		last_id = order[tail];
		tail = tail + 1 == size ? 0 : tail + 1;
		total_ndesc += ndesc[last_id];
		ndesc[last_id] = 0;
	}
	q->order_tail = tail;
	q->in_flight -= count;
	switch (q->format) {
	case VQ_FORMAT_SPLIT:
		vq_split_push_batch_entry(q, last_id, last_len, count, total_ndesc);
		break;
	case VQ_FORMAT_PACKED:
		vq_packed_push_batch_entry(q, last_id, last_len, count, total_ndesc);
		break;
	}
	q->stats.pushed += count;
	return 0;
}

VQNET_EXPORT bool vq_notify_prepare(struct vq *q)
{
	if (unlikely(q->broken))
		return false;
	bool yes = q->format == VQ_FORMAT_SPLIT ? vq_split_notify_prepare(q)
						: vq_packed_notify_prepare(q);
	if (yes)
		q->stats.notify_sent++;
	else
		q->stats.notify_suppressed++;
	return yes;
}

VQNET_EXPORT void vq_disable_kicks(struct vq *q)
{
	if (unlikely(q->broken))
		return;
	if (q->format == VQ_FORMAT_SPLIT)
		vq_split_disable_kicks(q);
	else
		vq_packed_disable_kicks(q);
}

VQNET_EXPORT bool vq_enable_kicks(struct vq *q)
{
	if (unlikely(q->broken))
		return false;
	return q->format == VQ_FORMAT_SPLIT ? vq_split_enable_kicks(q) : vq_packed_enable_kicks(q);
}

VQNET_EXPORT bool vq_enable_kicks_for_more(struct vq *q)
{
	if (unlikely(q->broken))
		return false;
	return q->format == VQ_FORMAT_SPLIT ? vq_split_enable_kicks_for_more(q)
					    : vq_packed_enable_kicks_for_more(q);
}

VQNET_EXPORT bool vq_avail_pending(struct vq *q)
{
	if (unlikely(q->broken))
		return false;
	return q->format == VQ_FORMAT_SPLIT ? vq_split_avail_pending(q)
					    : vq_packed_avail_pending(q);
}

VQNET_EXPORT unsigned vq_in_flight(const struct vq *q)
{
	return q->in_flight;
}

VQNET_EXPORT void vq_get_state(const struct vq *q, struct vq_state *s)
{
	if (q->format == VQ_FORMAT_SPLIT)
		vq_split_get_state(q, s);
	else
		vq_packed_get_state(q, s);
}

VQNET_EXPORT bool vq_is_broken(const struct vq *q)
{
	return q->broken != VQ_OK;
}

VQNET_EXPORT enum vq_err vq_broken_reason(const struct vq *q)
{
	return q->broken;
}

VQNET_EXPORT const struct vq_stats *vq_get_stats(const struct vq *q)
{
	return &q->stats;
}

VQNET_EXPORT enum vq_format vq_get_format(const struct vq *q)
{
	return q->format;
}

VQNET_EXPORT uint32_t vq_get_size(const struct vq *q)
{
	return q->size;
}
