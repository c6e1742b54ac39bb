/* SPDX-License-Identifier: MIT */
/*
 * Packed virtqueue, driver side (VIRTIO 1.2 §2.8) — theory of operation
 *
 * The ring memory is ours, the device is not trusted (HOSTILE H1–H5).
 *
 * Building: a chain takes consecutive ring positions from next_pos, the
 * wrap counter flipping where it passes the end (§2.8.1, §2.8.21.1). Each
 * descriptor's addr, len and buffer id are written when it is added; its
 * flags only once its successor is known (then with NEXT) or at chain end.
 * The head's flags are never written before chain end (§2.8.6: the first
 * descriptor is made available last). An indirect chain fills the id's own
 * table and takes one ring descriptor (§2.8.7).
 *
 * Publishing: the first head ended since the last publish keeps its flags
 * back (have_pending) and gates everything behind it, because the device
 * polls only its next position (§2.8.2). Later heads are stored at once;
 * publish() stores the pending head with release and so makes every ended
 * chain available at once — one release store per burst.
 *
 * Buffer ids: without IN_ORDER a free list threaded through next_free;
 * with IN_ORDER the head's ring position, unique because a position holds
 * at most one outstanding chain (no free list at all).
 *
 * Reaping: one location is polled, last_used_pos; a descriptor there is
 * used when AVAIL == USED == used_wrap (§2.8.1). The id and length are
 * read once and checked against the private record before anything is
 * believed; the position then skips the descriptor count *we* recorded for
 * the id (§2.8.6), or with IN_ORDER the whole batch up to that id (§2.8.8).
 * A bad entry breaks the queue; entries taken before it are returned first.
 */
#include <string.h>

#include "vq_internal.h"

/* §2.8.1: flags that make a descriptor available on lap @wrap. */
static inline uint16_t avail_bits(bool wrap)
{
	return wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
}

/* §2.8.14: an event suppression descriptor offset and wrap counter. */
static inline uint16_t event_off_wrap(uint16_t pos, bool wrap)
{
	return (uint16_t)(pos | (unsigned)wrap << RING_EVENT_WRAP_SHIFT);
}

/* Advance a ring position by @n (<= size), flipping @wrap past the end. */
static inline void pos_advance(const struct vq_drv *d, uint16_t *pos, bool *wrap, uint32_t n)
{
	uint32_t p = (uint32_t)*pos + n;
	if (p >= d->size) {
		p -= d->size;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

/**
 * vq_drv_packed_init() - take the ring memory and reset it: all descriptor
 * flags 0 (never available, never used: §2.8.13 "zero-initialized"), both
 * event suppression areas ENABLE, wrap counters 1 (§2.8.1), every buffer id
 * free. The front has set desc_free and allocated ids/next_free/order.
 * Return: 0.
 */
int vq_drv_packed_init(struct vq_drv *d, const struct vq_drv_config *cfg)
{
	d->packed.desc = cfg->desc;
	d->packed.driver = cfg->driver_area;
	d->packed.device = cfg->device_area;
	memset(cfg->desc, 0, sizeof(struct pvirtq_desc) * (size_t)d->size);
	memset(cfg->driver_area, 0, sizeof(struct pvirtq_event_suppress));
	memset(cfg->device_area, 0, sizeof(struct pvirtq_event_suppress));
	ring_store(&d->packed.driver->flags, RING_EVENT_FLAGS_ENABLE);
	d->packed.next_pos = 0;
	d->packed.wrap = true;
	d->packed.have_pending = false;
	d->packed.added_since_kick = 0;
	d->packed.last_used_pos = 0;
	d->packed.used_wrap = true;
	for (uint32_t i = 0; i < d->size; i++)
		d->next_free[i] = (uint16_t)(i + 1);
	d->free_head = 0;
	d->num_free = d->size;
	return 0;
}

/**
 * vq_drv_packed_chain_start() - pick the buffer id and note where the head
 * goes. Return: 0, or -VQ_ERR_NO_SPACE when no id is free.
 */
int vq_drv_packed_chain_start(struct vq_drv *d)
{
	uint16_t id;
	if (d->in_order) {
		id = d->packed.next_pos;
	} else {
		if (d->num_free == 0)
			return -VQ_ERR_NO_SPACE;
		id = d->free_head;
		d->free_head = d->next_free[id];
		d->num_free--;
	}
	d->cur.id = id;
	d->cur.start_pos = d->packed.next_pos;
	d->cur.start_wrap = d->packed.wrap;
	return 0;
}

/* The id's indirect table: indirect_max entries. */
static struct pvirtq_desc *indirect_table(struct vq_drv *d, uint16_t id)
{
	return (struct pvirtq_desc *)(d->indirect + (size_t)id * d->indirect_max * 16);
}

/* Entry cur.ndesc of the id's indirect table (§2.8.7: only WRITE). */
static int add_indirect(struct vq_drv *d, uint64_t gpa, uint32_t len, bool writable)
{
	if (d->cur.ndesc >= d->indirect_max)
		return -VQ_ERR_NO_SPACE;
	struct pvirtq_desc *t = indirect_table(d, d->cur.id) + d->cur.ndesc;
	ring_store(&t->addr, gpa);
	ring_store(&t->len, len);
	ring_store(&t->id, 0);
	ring_store(&t->flags, writable ? VIRTQ_DESC_F_WRITE : 0);
	return 0;
}

/**
 * vq_drv_packed_chain_add() - add descriptor cur.ndesc of the open chain
 * (the front checks order, length and totals and counts it on success).
 * Return: 0 or -VQ_ERR_NO_SPACE (ring or indirect table full).
 */
int vq_drv_packed_chain_add(struct vq_drv *d, uint64_t gpa, uint32_t len, bool writable)
{
	if (d->cur.indirect)
		return add_indirect(d, gpa, len, writable);

	uint16_t k = d->cur.ndesc;
	if (d->desc_free <= k)
		return -VQ_ERR_NO_SPACE;
	uint16_t pos = d->cur.start_pos;
	bool wrap = d->cur.start_wrap;
	pos_advance(d, &pos, &wrap, k);

	struct pvirtq_desc *ring = d->packed.desc;
	if (k == 1) /* the predecessor is the head: its flags wait */
		d->cur.head_flags = d->cur.last_flags | VIRTQ_DESC_F_NEXT;
	else if (k > 1)
		ring_store(&ring[d->cur.last].flags, d->cur.last_flags | VIRTQ_DESC_F_NEXT);
	ring_store(&ring[pos].addr, gpa);
	ring_store(&ring[pos].len, len);
	ring_store(&ring[pos].id, d->cur.id);
	/* §2.8.1: the AVAIL/USED bits of the lap at this position, which
	 * differs from the head's when the chain crosses the end. */
	d->cur.last_flags = (uint16_t)(avail_bits(wrap) | (writable ? VIRTQ_DESC_F_WRITE : 0));
	d->cur.last = pos;
	return 0;
}

/* Make the head at @pos available: stash its flags as the pending head
 * when there is none, else store them now (the pending head, earlier in
 * the ring, still hides this chain from the device). */
static void set_head_flags(struct vq_drv *d, uint16_t pos, uint16_t flags)
{
	if (!d->packed.have_pending) {
		d->packed.have_pending = true;
		d->packed.pending_pos = pos;
		d->packed.pending_flags = flags;
	} else {
		ring_store_release(&d->packed.desc[pos].flags, flags);
	}
}

/**
 * vq_drv_packed_chain_end() - finish the open chain: the last descriptor's
 * flags, then the head's (§2.8.21.1), the record of its descriptor count.
 * Return: the buffer id.
 */
int vq_drv_packed_chain_end(struct vq_drv *d)
{
	struct pvirtq_desc *ring = d->packed.desc;
	uint16_t id = d->cur.id, start = d->cur.start_pos;
	uint16_t ndesc, head_flags;

	if (d->cur.indirect) {
		struct pvirtq_desc *rd = &ring[start];
		ring_store(&rd->addr, d->indirect_gpa + (uint64_t)id * d->indirect_max * 16);
		ring_store(&rd->len, (uint32_t)d->cur.ndesc * 16);
		ring_store(&rd->id, id);
		head_flags = (uint16_t)(VIRTQ_DESC_F_INDIRECT | avail_bits(d->cur.start_wrap));
		ndesc = 1;
	} else {
		ndesc = d->cur.ndesc;
		if (ndesc == 1) {
			head_flags = d->cur.last_flags;
		} else {
			ring_store(&ring[d->cur.last].flags, d->cur.last_flags);
			head_flags = d->cur.head_flags;
		}
	}
	set_head_flags(d, start, head_flags);
	d->ids[id].ndesc = ndesc;
	pos_advance(d, &d->packed.next_pos, &d->packed.wrap, ndesc);
	d->desc_free -= ndesc;
	return id;
}

/* The body, specialised on @writable and @in_order by the compiler (every
 * caller passes constants). */
static inline __attribute__((always_inline)) unsigned
packed_add_burst_body(struct vq_drv *d, const struct vq_drv_buf *bufs, void *const *tokens,
		      unsigned n, bool writable, const bool in_order)
{
	/* Everything in locals: the stores below could alias d's fields. */
	struct pvirtq_desc *ring = d->packed.desc;
	struct vq_drv_id *ids = d->ids;
	uint16_t *order = d->order;
	const uint16_t *next_free = d->next_free;
	uint16_t pos = d->packed.next_pos, wflag = writable ? VIRTQ_DESC_F_WRITE : 0;
	uint16_t free_head = d->free_head;
	bool wrap = d->packed.wrap;
	uint32_t seq = d->end_seq, dend = d->dend_seq;
	uint32_t order_head = d->order_head, size = d->size;
	/* the burst's first head waits for publish unless one already does
	 * (set_head_flags()) */
	const bool hold_first = !d->packed.have_pending;
	unsigned i;

	for (unsigned k = 0; k < n; k++) {
		uint32_t len = bufs[k].len;
		if (unlikely(len == 0))
			break;
		uint16_t id;
		if (in_order) {
			id = pos;
			order[order_head] = id;
			order_head = order_head + 1 == size ? 0 : order_head + 1;
		} else {
			id = free_head;
			free_head = next_free[id];
		}
		ring_store(&ring[pos].addr, bufs[k].gpa);
		ring_store(&ring[pos].len, len);
		ring_store(&ring[pos].id, id);
		uint16_t flags = (uint16_t)(avail_bits(wrap) | wflag);
		if (k == 0 && hold_first) {
			d->packed.have_pending = true;
			d->packed.pending_pos = pos;
			d->packed.pending_flags = flags;
		} else {
			ring_store(&ring[pos].flags, flags);
		}
		vq_drv_id_start(&ids[id], tokens[k], writable ? len : 0, seq++, ++dend);
		if (++pos == size) {
			pos = 0;
			wrap = !wrap;
		}
	}
	i = seq - d->end_seq;
	if (in_order) {
		d->order_head = order_head;
	} else {
		d->free_head = free_head;
		d->num_free -= i;
	}
	d->packed.next_pos = pos;
	d->packed.wrap = wrap;
	vq_drv_burst_done(d, i, seq, dend);
	return i;
}

/**
 * vq_drv_packed_add_burst() - @n (<= desc_free, > 0) one-descriptor
 * chains at consecutive positions, each what chain_start/add/end would
 * have written: addr, len, id, then the head flags — the burst's first
 * held back as the pending head when none is pending (set_head_flags()),
 * the rest stored at once (relaxed: the pending head, earlier in the
 * ring and stored with release at publish, still hides them); the id's
 * record and the IN_ORDER FIFO; the counters once. Stops at a zero-length
 * entry (the front checked bufs[0]). Return: chains added.
 */
unsigned vq_drv_packed_add_burst(struct vq_drv *d, const struct vq_drv_buf *bufs,
				 void *const *tokens, unsigned n, bool writable)
{
	if (d->in_order)
		return writable ? packed_add_burst_body(d, bufs, tokens, n, true, true)
				: packed_add_burst_body(d, bufs, tokens, n, false, true);
	return writable ? packed_add_burst_body(d, bufs, tokens, n, true, false)
			: packed_add_burst_body(d, bufs, tokens, n, false, false);
}

/**
 * vq_drv_packed_chain_rewind() - drop the open chain. Its head flags were
 * never written, so the device saw nothing; the flags already written on
 * its middle descriptors are put back to a value that is neither available
 * nor used on this lap (a used descriptor of the previous lap), so no stale
 * descriptor remains behind a shorter chain built here later. The id goes
 * back to the free list.
 */
void vq_drv_packed_chain_rewind(struct vq_drv *d)
{
	if (!d->cur.indirect) {
		for (uint16_t k = 1; k + 1 < d->cur.ndesc; k++) {
			uint16_t pos = d->cur.start_pos;
			bool wrap = d->cur.start_wrap;
			pos_advance(d, &pos, &wrap, k);
			ring_store(&d->packed.desc[pos].flags,
				   wrap ? 0 : (uint16_t)(VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED));
		}
	}
	if (!d->in_order) {
		d->next_free[d->cur.id] = d->free_head;
		d->free_head = d->cur.id;
		d->num_free++;
	}
}

/* Make every ended chain available: the pending head's flags, with release
 * (§2.8.21.1: descriptors before the flags that expose them). The chains
 * from the pending head to next_pos (a whole ring when they meet) count
 * towards the next kick decision. */
void vq_drv_packed_publish(struct vq_drv *d)
{
	if (!d->packed.have_pending)
		return;
	ring_store_release(&d->packed.desc[d->packed.pending_pos].flags, d->packed.pending_flags);
	d->packed.have_pending = false;
	uint32_t from = d->packed.pending_pos, to = d->packed.next_pos;
	d->packed.added_since_kick += to > from ? to - from : to + d->size - from;
}

/* Where the published descriptors end: next_pos, or the pending head (on
 * the previous lap when the unpublished chains cross the end). */
static void published_end(const struct vq_drv *d, uint16_t *pos, bool *wrap)
{
	*pos = d->packed.next_pos;
	*wrap = d->packed.wrap;
	if (d->packed.have_pending) {
		if (d->packed.pending_pos >= *pos)
			*wrap = !*wrap;
		*pos = d->packed.pending_pos;
	}
}

/**
 * vq_drv_packed_kick_prepare() - after publish: read the device event
 * suppression area after a full fence (§2.8.21.2: the new flags must be
 * visible first). Reserved flag values count as ENABLE, DESC only with
 * EVENT_IDX. Covers the descriptors published since the last call (chains
 * ended but not yet published wait for the next decision).
 */
bool vq_drv_packed_kick_prepare(struct vq_drv *d)
{
	uint32_t added = d->packed.added_since_kick;
	if (added == 0)
		return false;
	d->packed.added_since_kick = 0;

	uint16_t end;
	bool wrap;
	published_end(d, &end, &wrap);
	return vq_packed_peer_wants(d->packed.device, d->event_idx, added, d->size, end, wrap);
}

/* Take the used entry (@id, @len) at last_used_pos, already checked (in
 * flight and published, so the skip stays inside the published chains).
 * With IN_ORDER it closes a batch. Return: entries written to @out. */
static unsigned take_used(struct vq_drv *d, uint16_t id, uint32_t len, struct vq_drv_used *out,
			  unsigned n)
{
	uint32_t chains, ndesc;
	if (!d->in_order) {
		pos_advance(d, &d->packed.last_used_pos, &d->packed.used_wrap, d->ids[id].ndesc);
		vq_drv_complete_one(d, id, len, out);
		d->next_free[id] = d->free_head;
		d->free_head = id;
		d->num_free++;
		return 1;
	}
	vq_drv_open_in_order_batch(d, id, len, &chains, &ndesc);
	pos_advance(d, &d->packed.last_used_pos, &d->packed.used_wrap, ndesc);
	return vq_drv_drain_in_order_batch(d, out, n);
}

/*
 * IN_ORDER, the common case: each used descriptor names the oldest chain
 * in flight (a batch of one). Same checks as vq_drv_check_used(), state
 * in locals (the stores to @out and the records could alias it), counters
 * written back once. Stops at the first descriptor that is not used or is
 * anything else (the general path then names the fault).
 * Return: entries taken.
 */
static unsigned reap_in_order_ones(struct vq_drv *d, struct vq_drv_used *out, unsigned n)
{
	const struct pvirtq_desc *ring = d->packed.desc;
	const uint16_t *order = d->order;
	struct vq_drv_id *ids = d->ids;
	uint32_t size = d->size, tail = d->order_tail, pub_seq = d->pub_seq, descs = 0;
	uint32_t pos = d->packed.last_used_pos;
	bool wrap = d->packed.used_wrap;
	unsigned got = 0;

	while (got < n) {
		const struct pvirtq_desc *u = &ring[pos];
		uint16_t flags = ring_load_acquire(&u->flags);
		if (!vq_drv_packed_desc_is_used(flags, wrap))
			break;
		uint16_t id = ring_load(&u->id);
		if (id != order[tail]) /* order[] holds ids < size only */
			break;
		uint32_t len = flags & VIRTQ_DESC_F_WRITE ? ring_load(&u->len) : 0;
		struct vq_drv_id *rec = &ids[id];
		if (unlikely(!rec->in_flight || (int32_t)(rec->seq - pub_seq) >= 0 ||
			     len > rec->in_len))
			break;
		out[got].token = rec->token;
		out[got].id = id;
		out[got].len = len;
		got++;
		rec->in_flight = false; /* the stale token is never read again */
		descs += rec->ndesc;
		pos += rec->ndesc; /* §2.8.6: skip what *we* recorded */
		if (pos >= size) {
			pos -= size;
			wrap = !wrap;
		}
		tail = tail + 1 == size ? 0 : tail + 1;
	}
	d->packed.last_used_pos = (uint16_t)pos;
	d->packed.used_wrap = wrap;
	d->order_tail = tail;
	d->desc_free += descs;
	d->in_flight -= got;
	return got;
}

/**
 * vq_drv_packed_reap() - take up to @n used buffers (§2.8.22). The flags
 * are loaded with acquire before the id and length they cover; the length
 * counts only with WRITE set (§2.8.4). A faulty entry breaks the queue.
 * Return: entries taken, or a negative code when none were taken before
 * the fault (the queue is then broken and later calls fail).
 */
int vq_drv_packed_reap(struct vq_drv *d, struct vq_drv_used *out, unsigned n)
{
	unsigned got = 0;
	if (d->batch_left)
		got = vq_drv_drain_in_order_batch(d, out, n);
	while (got < n) {
		if (d->in_order) {
			got += reap_in_order_ones(d, out + got, n - got);
			if (got == n)
				break;
		}
		const struct pvirtq_desc *u = &d->packed.desc[d->packed.last_used_pos];
		uint16_t flags = ring_load_acquire(&u->flags);
		if (!vq_drv_packed_desc_is_used(flags, d->packed.used_wrap))
			break;
		uint16_t id = ring_load(&u->id);
		uint32_t len = flags & VIRTQ_DESC_F_WRITE ? ring_load(&u->len) : 0;
		enum vq_err err = vq_drv_check_used(d, id, len);
		if (err) {
			vq_drv_break(d, err);
			return got ? (int)got : -(int)err;
		}
		got += take_used(d, id, len, out + got, n - got);
	}
	return (int)got;
}

/* Used buffer notifications off (§2.8.10). Written only when it changes:
 * the device reads this line. */
void vq_drv_packed_disable_used_notify(struct vq_drv *d)
{
	if (ring_load(&d->packed.driver->flags) != RING_EVENT_FLAGS_DISABLE)
		ring_store(&d->packed.driver->flags, RING_EVENT_FLAGS_DISABLE);
}

/**
 * vq_drv_packed_enable_used_notify() - used buffer notifications on: with
 * EVENT_IDX for the descriptor at last_used_pos, else for all. The full
 * fence orders that store before the re-check of the ring.
 * Return: true when used entries are already pending (reap again).
 */
bool vq_drv_packed_enable_used_notify(struct vq_drv *d)
{
	struct pvirtq_event_suppress *drv = d->packed.driver;
	uint16_t flags = RING_EVENT_FLAGS_ENABLE;
	if (d->event_idx) {
		ring_store(&drv->off_wrap,
			   event_off_wrap(d->packed.last_used_pos, d->packed.used_wrap));
		flags = RING_EVENT_FLAGS_DESC;
	}
	if (ring_load(&drv->flags) != flags)
		ring_store(&drv->flags, flags);
	ring_full_fence();
	if (d->batch_left)
		return true;
	uint16_t f = ring_load_acquire(&d->packed.desc[d->packed.last_used_pos].flags);
	return vq_drv_packed_desc_is_used(f, d->packed.used_wrap);
}
