/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue, driver side (VIRTIO 1.2 §2.7) — theory of operation
 *
 * Free descriptors form a list threaded through d->next_free, a private
 * shadow of desc.next (the device could rewrite the table, HOSTILE H5); a
 * chain's descriptors stay linked there while in flight so freeing a chain
 * is two stores. With IN_ORDER the list is not used: descriptors are handed
 * out in table order (§2.7.9: "the driver uses descriptors in ring order")
 * and come back in the same order.
 *
 * Ended chains go into avail slots at once but become visible only when
 * publish() stores avail->idx with release (§2.7.13.2). An avail slot is
 * written only when its value changes (PERFORMANCE: never write a shared
 * line you don't change; with IN_ORDER and fixed chain shapes the avail ring
 * is written once and then only read).
 */
#include <stdlib.h>
#include <string.h>

#include "vq_internal.h"

int vq_drv_split_init(struct vq_drv *d, const struct vq_drv_config *cfg)
{
	d->split.desc = cfg->desc;
	d->split.avail = cfg->driver_area;
	d->split.used = cfg->device_area;
	memset(cfg->desc, 0, virtq_split_desc_bytes(d->size));
	memset(cfg->driver_area, 0, virtq_split_avail_bytes(d->size));
	memset(cfg->device_area, 0, virtq_split_used_bytes(d->size));
	d->split.used_event = &d->split.avail->ring[d->size];
	d->split.avail_event = (const le16 *)&d->split.used->ring[d->size];
	d->split.avail_shadow = calloc(d->size, sizeof(uint16_t));
	if (!d->split.avail_shadow)
		return -VQ_ERR_NO_MEMORY;
	d->split.mask = (uint16_t)(d->size - 1);
	d->split.avail_nonident = d->size - 1; /* every slot holds 0 */
	for (uint32_t i = 0; i < d->size; i++)
		d->next_free[i] = (uint16_t)(i + 1);
	d->free_head = 0;
	d->num_free = d->size;
	return 0;
}

/* Avail slot @slot := @head, stored only when it changes. */
static inline void avail_set(struct vq_drv *d, uint16_t slot, uint16_t head)
{
	uint16_t old = d->split.avail_shadow[slot];
	if (old == head)
		return;
	ring_store(&d->split.avail->ring[slot], head);
	d->split.avail_shadow[slot] = head;
	d->split.avail_nonident += (uint32_t)(old == slot) - (uint32_t)(head == slot);
}

/* Take the descriptor a chain's @k-th entry goes into. */
static uint16_t take_desc(struct vq_drv *d, uint16_t k)
{
	if (d->in_order)
		return (uint16_t)((d->split.next_desc + k) & d->split.mask);
	uint16_t i = d->free_head;
	d->free_head = d->next_free[i];
	d->num_free--;
	return i;
}

/* Give back the chain @head..@tail (linked in next_free). */
static void give_back(struct vq_drv *d, uint16_t head, uint16_t tail, uint16_t ndesc)
{
	if (d->in_order)
		return;
	d->next_free[tail] = d->free_head;
	d->free_head = head;
	d->num_free += ndesc;
}

int vq_drv_split_chain_start(struct vq_drv *d)
{
	if (d->cur.indirect) /* the one ring descriptor that points at the table */
		d->cur.id = take_desc(d, 0);
	return 0;
}

static struct virtq_desc *indirect_table(struct vq_drv *d, uint16_t id)
{
	return (struct virtq_desc *)(d->indirect + (size_t)id * d->indirect_max * 16);
}

int vq_drv_split_chain_add(struct vq_drv *d, uint64_t gpa, uint32_t len, bool writable)
{
	uint16_t k = d->cur.ndesc;
	struct virtq_desc *table;
	uint16_t i;
	if (d->cur.indirect) {
		if (k >= d->indirect_max)
			return -VQ_ERR_NO_SPACE;
		table = indirect_table(d, d->cur.id);
		i = k;
	} else {
		if (d->desc_free <= k)
			return -VQ_ERR_NO_SPACE;
		table = d->split.desc;
		i = take_desc(d, k);
		if (k == 0)
			d->cur.id = i;
		else
			d->next_free[d->cur.last] = i;
	}
	if (k > 0) { /* link the previous entry now that its successor exists */
		ring_store_changed(&table[d->cur.last].flags,
				   (uint16_t)(d->cur.last_flags | VIRTQ_DESC_F_NEXT));
		ring_store_changed(&table[d->cur.last].next, i);
	}
	/* Descriptors are only read by the device: with stable buffers (and
	 * IN_ORDER) most fields already hold the right value. */
	d->cur.last_flags = writable ? VIRTQ_DESC_F_WRITE : 0;
	ring_store_changed(&table[i].addr, gpa);
	ring_store_changed(&table[i].len, len);
	ring_store_changed(&table[i].flags, d->cur.last_flags);
	d->cur.last = i;
	return 0;
}

int vq_drv_split_chain_end(struct vq_drv *d)
{
	uint16_t head = d->cur.id;
	struct vq_drv_id *rec = &d->ids[head];
	if (d->cur.indirect) {
		struct virtq_desc *ring_desc = &d->split.desc[head];
		uint64_t off = (uint64_t)head * d->indirect_max * 16;
		ring_store_changed(&ring_desc->addr, d->indirect_gpa + off);
		ring_store_changed(&ring_desc->len, (uint32_t)d->cur.ndesc * 16);
		ring_store_changed(&ring_desc->flags, (uint16_t)VIRTQ_DESC_F_INDIRECT);
		rec->ndesc = 1;
		rec->tail = head;
	} else {
		rec->ndesc = d->cur.ndesc;
		rec->tail = d->cur.last;
	}
	if (d->in_order)
		d->split.next_desc = (uint16_t)((d->split.next_desc + rec->ndesc) & d->split.mask);
	d->desc_free -= rec->ndesc;
	avail_set(d, d->split.avail_idx & d->split.mask, head);
	d->split.avail_idx++;
	return head;
}

/* The body, specialised on @writable, @in_order and @ident (the avail
 * slots already hold the burst's ids) by the compiler (every caller passes
 * constants). */
static inline __attribute__((always_inline)) unsigned
split_add_burst_body(struct vq_drv *d, const struct vq_drv_buf *bufs, void *const *tokens,
		     unsigned n, bool writable, const bool in_order, const bool ident)
{
	/* Everything in locals: the stores below could alias d's fields. */
	struct virtq_desc *desc = d->split.desc;
	uint16_t *order = d->order;
	const uint16_t *next_free = d->next_free;
	struct vq_drv_id *ids = d->ids;
	uint16_t mask = d->split.mask, avail_idx = d->split.avail_idx;
	uint16_t flags = writable ? VIRTQ_DESC_F_WRITE : 0;
	uint16_t next = in_order ? d->split.next_desc : d->free_head;
	uint32_t seq = d->end_seq, dend = d->dend_seq;
	uint32_t order_head = d->order_head; /* < size, a power of two */
	unsigned i;

	if (in_order) {
		/* Chain i: descriptor, id and FIFO position next + i,
		 * order_head + i, seq + i (one counter, few live registers). */
		uint32_t dnext = next;
		for (i = 0; i < n; i++) {
			uint32_t len = bufs[i].len;
			uint64_t gpa = bufs[i].gpa;
			if (unlikely(len == 0))
				break;
			uint16_t id = (uint16_t)((dnext + i) & mask);
			struct virtq_desc *dp = &desc[id];
			ring_store_changed(&dp->addr, gpa);
			ring_store_changed(&dp->len, len);
			ring_store_changed(&dp->flags, flags);
			vq_drv_id_start(&ids[id], tokens[i], writable ? len : 0, seq + i,
					dend + i + 1);
			if (!ident) /* else slot == id and the slot holds it already */
				avail_set(d, (uint16_t)(avail_idx + i) & mask, id);
			order[(order_head + i) & mask] = id;
		}
		d->split.next_desc = (uint16_t)((dnext + i) & mask);
		d->order_head = (order_head + i) & mask;
		d->split.avail_idx = (uint16_t)(avail_idx + i);
		d->end_seq = seq + i;
		d->dend_seq = dend + i;
		d->desc_free -= i;
		d->in_flight += i;
		return i;
	}
	for (i = 0; i < n; i++) {
		uint32_t len = bufs[i].len;
		uint64_t gpa = bufs[i].gpa; /* once: the macro reads its value twice */
		if (unlikely(len == 0))
			break;
		uint16_t id = next;
		next = next_free[id];
		ring_store_changed(&desc[id].addr, gpa);
		ring_store_changed(&desc[id].len, len);
		ring_store_changed(&desc[id].flags, flags);
		struct vq_drv_id *rec = &ids[id];
		vq_drv_id_start(rec, tokens[i], writable ? len : 0, seq++, ++dend);
		if (!in_order) /* IN_ORDER frees no list: tail is never read */
			rec->tail = id;
		avail_set(d, avail_idx & mask, id);
		avail_idx++;
	}
	d->free_head = next;
	d->num_free -= i;
	d->split.avail_idx = avail_idx;
	vq_drv_burst_done(d, i, seq, dend);
	return i;
}

/**
 * vq_drv_split_add_burst() - @n (<= desc_free, > 0) one-descriptor chains,
 * each what chain_start/add/end would have written: the descriptor (only
 * fields that change), the id's record, the avail slot (only when it
 * changes), the IN_ORDER FIFO; the counters once. Stops at a zero-length
 * entry (the front checked bufs[0]). Return: chains added.
 */
unsigned vq_drv_split_add_burst(struct vq_drv *d, const struct vq_drv_buf *bufs,
				void *const *tokens, unsigned n, bool writable)
{
	/* IN_ORDER steady state: every avail slot s holds s and the next slot
	 * is the next descriptor, so no slot changes (§2.7.9 fixed shapes). */
	bool ident = d->in_order && d->split.avail_nonident == 0 &&
		     (d->split.avail_idx & d->split.mask) == d->split.next_desc;
	if (ident)
		return writable ? split_add_burst_body(d, bufs, tokens, n, true, true, true)
				: split_add_burst_body(d, bufs, tokens, n, false, true, true);
	if (d->in_order)
		return writable ? split_add_burst_body(d, bufs, tokens, n, true, true, false)
				: split_add_burst_body(d, bufs, tokens, n, false, true, false);
	return writable ? split_add_burst_body(d, bufs, tokens, n, true, false, false)
			: split_add_burst_body(d, bufs, tokens, n, false, false, false);
}

void vq_drv_split_chain_rewind(struct vq_drv *d)
{
	/* Nothing is visible: the avail slot was not written. Return the
	 * descriptors taken so far. */
	uint16_t n = d->cur.indirect ? 1 : d->cur.ndesc;
	if (n)
		give_back(d, d->cur.id, d->cur.indirect ? d->cur.id : d->cur.last, n);
}

void vq_drv_split_publish(struct vq_drv *d)
{
	uint16_t idx = d->split.avail_idx;
	if (idx == d->split.published_idx)
		return;
	/* §2.7.13.2: descriptors and ring entries before the index. */
	ring_store_release(&d->split.avail->idx, idx);
	d->split.added_since_kick += (uint16_t)(idx - d->split.published_idx);
	d->split.published_idx = idx;
}

bool vq_drv_split_kick_prepare(struct vq_drv *d)
{
	uint32_t added = d->split.added_since_kick;
	uint16_t old = d->split.kicked_idx, now = d->split.published_idx;
	if (added == 0)
		return false;
	d->split.added_since_kick = 0;
	d->split.kicked_idx = now;
	return vq_split_peer_wants(&d->split.used->flags, VIRTQ_USED_F_NO_NOTIFY,
				   d->split.avail_event, d->event_idx, added, now, old);
}

/* Read used entries [last_used, used_idx) without IN_ORDER. */
static int reap_each(struct vq_drv *d, uint16_t used_idx, struct vq_drv_used *out, unsigned n)
{
	unsigned got = 0;
	while (got < n && d->split.last_used != used_idx) {
		const struct virtq_used_elem *u =
			&d->split.used->ring[d->split.last_used & d->split.mask];
		uint32_t id = ring_load(&u->id), len = ring_load(&u->len);
		enum vq_err err = vq_drv_check_used(d, id, len);
		if (err) {
			vq_drv_break(d, err);
			return got ? (int)got : -(int)err;
		}
		struct vq_drv_id *rec = &d->ids[id];
		give_back(d, (uint16_t)id, rec->tail, rec->ndesc);
		vq_drv_complete_one(d, (uint16_t)id, len, &out[got++]);
		d->split.last_used++;
	}
	return (int)got;
}

/*
 * IN_ORDER, the common case: each used entry names the oldest chain in
 * flight (a batch of one). Same checks as vq_drv_check_used(), state in
 * locals (the stores to @out and the records could alias it), counters
 * written back once. Stops at the first entry that is anything else.
 * Return: entries taken.
 */
static unsigned reap_in_order_ones(struct vq_drv *d, uint16_t used_idx, struct vq_drv_used *out,
				   unsigned n)
{
	const struct virtq_used_elem *ring = d->split.used->ring;
	const uint16_t *order = d->order;
	struct vq_drv_id *ids = d->ids;
	uint16_t mask = d->split.mask, last = d->split.last_used;
	uint32_t tail = d->order_tail, pub_seq = d->pub_seq, descs = 0;
	unsigned got = 0;

	while (got < n && last != used_idx) {
		const struct virtq_used_elem *u = &ring[last & mask];
		uint32_t id = ring_load(&u->id), len = ring_load(&u->len);
		if (id != order[tail]) /* order[] holds ids < size only */
			break;
		struct vq_drv_id *rec = &ids[id];
		if (unlikely(!rec->in_flight || (int32_t)(rec->seq - pub_seq) >= 0 ||
			     len > rec->in_len))
			break; /* the general path names the fault */
		out[got].token = rec->token;
		out[got].id = (uint16_t)id;
		out[got].len = len;
		got++;
		rec->in_flight = false; /* the stale token is never read again */
		descs += rec->ndesc;
		tail = (tail + 1) & mask; /* order[] has size entries, a power of two */
		last++;
	}
	d->split.last_used = last;
	d->order_tail = tail;
	d->desc_free += descs;
	d->in_flight -= got;
	return got;
}

/* With IN_ORDER each used entry closes a batch (§2.7.9). The caller
 * drained any batch left open. */
static int reap_in_order(struct vq_drv *d, uint16_t used_idx, struct vq_drv_used *out, unsigned n)
{
	unsigned got = 0;
	while (got < n && d->split.last_used != used_idx) {
		got += reap_in_order_ones(d, used_idx, out + got, n - got);
		if (got == n || d->split.last_used == used_idx)
			break;
		const struct virtq_used_elem *u =
			&d->split.used->ring[d->split.last_used & d->split.mask];
		uint32_t id = ring_load(&u->id), len = ring_load(&u->len);
		enum vq_err err = vq_drv_check_used(d, id, len);
		uint32_t chains = 0, descs = 0;
		if (!err) {
			vq_drv_open_in_order_batch(d, (uint16_t)id, len, &chains, &descs);
			if (chains > (uint16_t)(used_idx - d->split.last_used))
				err = VQ_ERR_USED_IDX_JUMP; /* batch larger than the index moved */
		}
		if (err) {
			d->batch_left = 0;
			vq_drv_break(d, err);
			return got ? (int)got : -(int)err;
		}
		d->split.last_used += (uint16_t)chains;
		got += vq_drv_drain_in_order_batch(d, out + got, n - got);
	}
	return (int)got;
}

int vq_drv_split_reap(struct vq_drv *d, struct vq_drv_used *out, unsigned n)
{
	/* First the rest of an in-order batch opened by an earlier call. */
	unsigned got = d->batch_left ? vq_drv_drain_in_order_batch(d, out, n) : 0;
	if (got == n)
		return (int)got;
	/* §2.7.14: read the index before the elements it covers. The device
	 * can have used only chains it was shown: in flight minus those
	 * ended but not yet published (HOSTILE H3). */
	uint16_t used_idx = ring_load_acquire(&d->split.used->idx);
	uint32_t unpublished = (uint16_t)(d->split.avail_idx - d->split.published_idx);
	int rc;
	if ((uint16_t)(used_idx - d->split.last_used) > d->in_flight - unpublished)
		rc = vq_drv_break(d, VQ_ERR_USED_IDX_JUMP);
	else if (d->in_order)
		rc = reap_in_order(d, used_idx, out + got, n - got);
	else
		rc = reap_each(d, used_idx, out + got, n - got);
	if (rc < 0)
		return got ? (int)got : rc;
	return (int)got + rc;
}

static void set_avail_flags(struct vq_drv *d, uint16_t flags)
{
	if (d->split.avail_flags_shadow != flags) {
		ring_store(&d->split.avail->flags, flags);
		d->split.avail_flags_shadow = flags;
	}
}

void vq_drv_split_disable_used_notify(struct vq_drv *d)
{
	/* With EVENT_IDX a stale used_event lets at most one more through. */
	if (!d->event_idx)
		set_avail_flags(d, VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool vq_drv_split_enable_used_notify(struct vq_drv *d)
{
	if (d->event_idx)
		ring_store(d->split.used_event, d->split.last_used);
	else
		set_avail_flags(d, 0);
	/* §2.7.7: publish the request before re-checking for used entries. */
	ring_full_fence();
	return d->batch_left || ring_load_acquire(&d->split.used->idx) != d->split.last_used;
}
