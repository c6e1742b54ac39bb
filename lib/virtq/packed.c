/* SPDX-License-Identifier: MIT */
/*
 * Packed virtqueue, device side (VIRTIO 1.2 §2.8) — theory of operation
 *
 * One ring of 16-byte descriptors is shared by both ends. The driver makes
 * a descriptor available by writing its flags with AVAIL equal to the
 * driver ring wrap counter and USED different (§2.8.1); the device hands a
 * buffer back by writing one used descriptor at its own used position with
 * AVAIL == USED == the device ring wrap counter. Both counters start at 1
 * and flip each time their position passes the end of the ring.
 *
 * pop: the device polls a single location, the descriptor at avail_pos
 * (§2.8.2). Its flags are loaded with acquire: the driver writes a list's
 * first descriptor last (§2.8.6), so once the head is seen the rest of the
 * list and its buffers are visible. Every field of each descriptor is read
 * once into locals (HOSTILE A22). The walk follows NEXT with the position
 * and the expected wrap counter advancing together; each later descriptor
 * must itself be available at its own position (C1, C5) and the walk is
 * bounded by the ring: descriptors in flight plus the list never exceed the
 * queue size (C2). A content error (bad buffer, bad indirect table, list
 * longer than max_chain) turns the chain into a drop, but the walk goes on
 * to the list's end so that the buffer id (in the LAST descriptor, §2.8.6)
 * and the descriptor count are known: the drop is completed like any other
 * chain and the ring stays in step. A bad buffer id is a broken queue (C3).
 *
 * push: one used descriptor per buffer, written at used_pos, which then
 * skips the buffer's descriptor count (§2.8.6). In a burst the first used
 * descriptor's flags are stored last, with release, so the driver — which
 * also polls a single location — sees the whole burst at once. With
 * IN_ORDER one used descriptor carries the last buffer of a batch and
 * used_pos skips the batch's descriptors (§2.8.8).
 *
 * Notifications (§2.8.10, §2.8.14): the driver's event suppression area
 * says ENABLE, DISABLE or DESC (a position and wrap counter, honoured only
 * with EVENT_IDX); the device's area is written by us for kicks. Positions
 * are turned into the 16-bit arithmetic of vring_need_event() the way Linux
 * and DPDK do. Event values are only compared, never used as indices (C6).
 *
 * Dirty log (vq_set_dirty_log()): each used descriptor written is marked,
 * after its write, at the log address + its offset in the descriptor ring
 * (a packed ring's used writes; DPDK logs them the same way). The device
 * event suppression area is not logged.
 *
 * Inflight tracking (vq_set_inflight(), inflight_packed.c): when on, pop
 * hands out the recovered chains first (from the region's copies), records
 * each chain taken from the ring, and push brackets its used-descriptor
 * writes with the region's put steps; when off, pop and push test one
 * pointer each, the tracked paths being out of line.
 *
 * Every access to ring memory goes through ring_load/ring_store and their
 * ordered forms. Nothing here allocates or makes a system call.
 */
#include <errno.h>

#include "vq_internal.h"

/* §2.8.1: available when AVAIL matches the wrap counter and USED does not. */
static inline bool desc_is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VIRTQ_DESC_F_AVAIL) == wrap && !!(flags & VIRTQ_DESC_F_USED) != wrap;
}

/* Flags of a used descriptor (§2.8.1, §2.8.3): AVAIL == USED == the device
 * wrap counter; WRITE says the device wrote something (len > 0). */
static inline uint16_t used_flags(bool wrap, uint32_t len)
{
	uint16_t f = wrap ? (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED) : 0;
	if (len)
		f |= VIRTQ_DESC_F_WRITE;
	return f;
}

/* §2.8.14: an event suppression descriptor offset and wrap counter. */
static inline uint16_t event_off_wrap(uint16_t pos, bool wrap)
{
	return (uint16_t)(pos | (unsigned)wrap << RING_EVENT_WRAP_SHIFT);
}

/* Advance a ring position by @n (< size), flipping @wrap past the end. */
static inline void pos_advance(const struct vq *q, uint16_t *pos, bool *wrap, uint32_t n)
{
	uint32_t p = (uint32_t)*pos + n;
	if (p >= q->size) {
		p -= q->size;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

/**
 * vq_packed_start() - look the ring parts up in the current memory table
 * and resume at @s. Called by vq_new() on a zeroed queue and again by
 * vq_set_mem() with the current state: positions come from @s, and the
 * in-flight descriptor count is recomputed from the per-id record so that
 * chains popped before a memory change stay accounted for. The front has
 * checked alignment, placement and that positions are < size.
 * Return: 0 or -VQ_ERR_RING_OUT_OF_MEMORY.
 */
int vq_packed_start(struct vq *q, const struct vq_state *s)
{
	const uint64_t es = sizeof(struct pvirtq_event_suppress);
	struct pvirtq_desc *desc =
		gmem_ptr(q->mem, q->cfg.desc_gpa, sizeof(struct pvirtq_desc) * (uint64_t)q->size,
			 &q->mem_hint);
	void *driver = gmem_ptr(q->mem, q->cfg.driver_gpa, es, &q->mem_hint);
	void *device = gmem_ptr(q->mem, q->cfg.device_gpa, es, &q->mem_hint);
	if (!desc || !driver || !device)
		return -VQ_ERR_RING_OUT_OF_MEMORY;
	if (s->avail_idx >= q->size || s->used_idx >= q->size)
		return -VQ_ERR_INVALID_ARG;

	q->packed.desc = desc;
	q->packed.driver = driver;
	q->packed.device = device;
	q->packed.avail_pos = s->avail_idx;
	q->packed.avail_wrap = s->avail_wrap;
	q->packed.dry_set = false;
	q->packed.used_pos = s->used_idx;
	q->packed.used_wrap = s->used_wrap;

	/* Recovered chains not handed out yet hold ring descriptors too. */
	uint32_t in_flight = q->infl ? q->infl->rdesc_n - q->infl->rdesc_pos : 0;
	for (uint32_t id = 0; id < q->size; id++)
		in_flight += q->inflight_ndesc[id];
	q->packed.desc_in_flight = in_flight;
	return 0;
}

/*
 * The buffers of an indirect table (§2.8.7): @len / 16 struct pvirtq_desc
 * read linearly. Only WRITE counts in an entry; NEXT, INDIRECT and the id
 * are reserved and ignored (HOSTILE C4). The size is checked before any
 * entry is read (B2–B4); a table that spans regions is read piecewise
 * (B5), one that leaves guest memory fails at the first entry outside.
 */
static enum vq_err add_indirect(struct vq *q, struct vq_elem *e, uint64_t gpa, uint32_t len,
				bool alone)
{
	if (!q->indirect)
		return VQ_ERR_INDIRECT_NOT_NEGOTIATED; /* B1, §2.8.19 */
	if (!alone)
		return VQ_ERR_INDIRECT_WITH_NEXT; /* B7, §2.8.19 */
	if (len == 0)
		return VQ_ERR_INDIRECT_EMPTY;
	if (len % sizeof(struct pvirtq_desc))
		return VQ_ERR_INDIRECT_BAD_LEN;
	uint32_t n = len / sizeof(struct pvirtq_desc);
	if (n > q->max_chain)
		return VQ_ERR_INDIRECT_TOO_LARGE;

	const void *table = gmem_ptr(q->mem, gpa, len, &q->mem_hint);
	if (!table) {
		/* Not in one region: only a table split across regions is
		 * read (piecewise, by vq_read_indirect_entry()). */
		struct iovec probe;
		if (gmem_translate(q->mem, gpa, len, &probe, 1, &q->mem_hint) != -ENOBUFS)
			return VQ_ERR_INDIRECT_OUT_OF_MEMORY;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct pvirtq_desc ent;
		enum vq_err err = vq_read_indirect_entry(q, table, gpa, i, &ent);
		if (err == VQ_OK)
			err = vq_elem_add_buf(q, e, ent.addr, ent.len,
					      ent.flags & VIRTQ_DESC_F_WRITE);
		if (err != VQ_OK)
			return err;
	}
	return VQ_OK;
}

/*
 * Translate the @ndesc-th descriptor (1-based) of a list. INDIRECT is only
 * allowed on a list of one descriptor (§2.8.19: never in a list linked by
 * NEXT); its WRITE flag is ignored (§2.8.7, B9). Forced inline, like
 * walk_list() and pop_ring(): the inflight paths call them too, and the
 * packet path must not pay a call for that.
 */
static inline __attribute__((always_inline)) enum vq_err add_desc(struct vq *q, struct vq_elem *e,
								  uint64_t addr, uint32_t len,
								  uint16_t flags, uint32_t ndesc)
{
	if (flags & VIRTQ_DESC_F_INDIRECT)
		return add_indirect(q, e, addr, len, ndesc == 1 && !(flags & VIRTQ_DESC_F_NEXT));
	if (ndesc > q->max_chain)
		return VQ_ERR_CHAIN_TOO_LONG; /* §2.8.18: the device MAY limit */
	return vq_elem_add_buf(q, e, addr, len, flags & VIRTQ_DESC_F_WRITE);
}

/* Where a list walk ended. */
struct packed_walk {
	uint16_t pos;	 /* position after the list */
	bool wrap;	 /* driver wrap counter expected there */
	uint16_t id;	 /* buffer id, from the last descriptor */
	uint32_t ndesc;	 /* ring descriptors of the list */
	enum vq_err err; /* first content error, or VQ_OK */
};

/*
 * Walk the list whose head (flags @head_flags, already seen available) is
 * at avail_pos. Content errors are remembered in w->err and stop the
 * translation, not the walk. Return: 0, or a negative broken code.
 */
static inline __attribute__((always_inline)) int
walk_list(struct vq *q, struct vq_elem *e, uint16_t head_flags, struct packed_walk *w)
{
	const struct pvirtq_desc *ring = q->packed.desc;
	uint16_t pos = q->packed.avail_pos;
	bool wrap = q->packed.avail_wrap;
	uint16_t flags = head_flags;
	uint32_t ndesc = 0;
	enum vq_err err = VQ_OK;

	for (;;) {
		/* §2.8.17: no list longer than the ring; the slots from
		 * used_pos on hold chains in flight (HOSTILE C2). */
		if (q->packed.desc_in_flight + ndesc >= q->size)
			return vq_break(q, VQ_ERR_PACKED_RING_OVERRUN);
		const struct pvirtq_desc *d = &ring[pos];
		if (ndesc) {
			/* Visible since the head's acquire (§2.8.6); still
			 * checked, the driver is not trusted (C1, C5). */
			flags = ring_load(&d->flags);
			if (!desc_is_avail(flags, wrap))
				return vq_break(q, VQ_ERR_PACKED_CHAIN_INCOMPLETE);
		}
		ndesc++;
		if (err == VQ_OK) {
			uint64_t addr = ring_load(&d->addr);
			uint32_t len = ring_load(&d->len);
			err = add_desc(q, e, addr, len, flags, ndesc);
		}
		pos_advance(q, &pos, &wrap, 1);
		if (!(flags & VIRTQ_DESC_F_NEXT)) {
			w->id = ring_load(&d->id); /* §2.8.6: in the last descriptor */
			break;
		}
	}
	w->pos = pos;
	w->wrap = wrap;
	w->ndesc = ndesc;
	w->err = err;
	return 0;
}

/*
 * The common buffer: one direct descriptor that passes every rule at once.
 * Returns false to take the full walk, which then names the exact error or
 * breaks the queue; the checks here are the same rules, fewer apply.
 */
static inline bool pop_single(struct vq *q, struct vq_elem *e, uint16_t flags)
{
	const struct pvirtq_desc *d = &q->packed.desc[q->packed.avail_pos];
	if (flags & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT) ||
	    q->packed.desc_in_flight >= q->size)
		return false;
	uint64_t addr = ring_load(&d->addr);
	uint32_t len = ring_load(&d->len);
	uint16_t id = ring_load(&d->id);
	if (id >= q->size || q->inflight_ndesc[id] ||
	    !vq_elem_set_single(q, e, id, addr, len, flags))
		return false;
	e->id = id;
	e->ndesc = 1;
	vq_inflight_claim(q, id, 1);
	q->packed.desc_in_flight++;
	pos_advance(q, &q->packed.avail_pos, &q->packed.avail_wrap, 1);
	return true;
}

/* Any list pop_single() did not take, its head (flags @head_flags) seen
 * available at avail_pos: the full walk. */
static inline __attribute__((always_inline)) int pop_list(struct vq *q, struct vq_elem *e,
							  uint16_t head_flags)
{
	/* Zeroed: the walk fills it only when it returns 0 (the stores are
	 * dead then and compiled away; scan-build cannot always see that
	 * vq_break() returns non-zero). */
	struct packed_walk w = {0};
	vq_elem_reset(e);
	int rc = walk_list(q, e, head_flags, &w);
	if (rc)
		return rc;
	/* HOSTILE C3: the id indexes our record only once checked. */
	if (w.id >= q->size)
		return vq_break(q, VQ_ERR_HEAD_OUT_OF_RANGE);
	if (q->inflight_ndesc[w.id] != 0)
		return vq_break(q, VQ_ERR_HEAD_IN_FLIGHT);

	vq_inflight_claim(q, w.id, (uint16_t)w.ndesc);
	q->packed.desc_in_flight += w.ndesc;
	q->packed.avail_pos = w.pos;
	q->packed.avail_wrap = w.wrap;
	e->id = w.id;
	e->ndesc = (uint16_t)w.ndesc;
	e->err = (uint16_t)w.err;
	return w.err == VQ_OK ? 1 : -(int)w.err;
}

/* The pops ran dry at avail_pos: every descriptor before it was looked at. */
static inline void mark_dry(struct vq *q)
{
	q->packed.dry_pos = q->packed.avail_pos;
	q->packed.dry_wrap = q->packed.avail_wrap;
	q->packed.dry_set = true;
}

/* The pop itself, from the ring (vq_packed_pop()). */
static inline __attribute__((always_inline)) int pop_ring(struct vq *q, struct vq_elem *e)
{
	uint16_t head_flags = ring_load_acquire(&q->packed.desc[q->packed.avail_pos].flags);
	if (!desc_is_avail(head_flags, q->packed.avail_wrap)) {
		mark_dry(q);
		return 0;
	}
	if (likely(pop_single(q, e, head_flags)))
		return 1;
	return pop_list(q, e, head_flags);
}

/* pop_list() out of line, for the burst's rare chains. */
static __attribute__((noinline)) int pop_list_slow(struct vq *q, struct vq_elem *e,
						   uint16_t head_flags)
{
	return pop_list(q, e, head_flags);
}

/* pop_ring() out of line, for the burst's rare chains. */
static __attribute__((noinline)) int pop_ring_slow(struct vq *q, struct vq_elem *e)
{
	return pop_ring(q, e);
}

/*
 * The fast path of vq_packed_pop_burst(): take one-descriptor lists from
 * avail_pos on into @e .. @end (not past the end of the ring, and with room
 * for them in it), as pop_single() would, until one is not available or
 * not that simple. Each head's flags are loaded with acquire: every list is
 * published by its own head's flags store (§2.8.6, §2.8.21), so one acquire
 * cannot cover the next. The ring state is updated once for the run.
 * Return: where the run stopped (@end, or the element for the list at
 * avail_pos, whose flags are left in *@flags).
 */
static inline __attribute__((always_inline)) struct vq_elem *
pop_run(struct vq *q, const struct vq_burst_fast *f, struct vq_elem *e, struct vq_elem *end,
	uint16_t *flags, const enum vq_dir dir)
{
	const uint32_t size = q->size;
	uint32_t *held = q->inflight_ndesc;
	const struct pvirtq_desc *d = &q->packed.desc[q->packed.avail_pos];
	/* desc_is_avail() with the run's wrap counter folded in. */
	const uint16_t au = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
	const uint16_t want = q->packed.avail_wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
	struct vq_elem *start = e;
	for (; e < end; e++, d++) {
		uint16_t fl = ring_load_acquire(&d->flags);
		*flags = fl;
		if ((fl & au) != want)
			break;
		uint64_t addr = ring_load(&d->addr);
		uint32_t len = ring_load(&d->len);
		uint16_t id = ring_load(&d->id); /* C3: checked before use */
		if (unlikely(id >= size || held[id] ||
			     !vq_burst_fast_single(f, e, id, addr, len, fl, dir)))
			break;
		held[id] = 1;
	}
	uint32_t taken = (uint32_t)(e - start);
	pos_advance(q, &q->packed.avail_pos, &q->packed.avail_wrap, taken);
	q->packed.desc_in_flight += taken;
	vq_burst_claimed(q, start, taken);
	return e;
}

/*
 * vq_packed_pop_burst(), for a queue of direction @dir (a constant: one
 * instance per direction). Up to @n lists, as @n pop_ring() calls would
 * take them (inflight tracking is off: the front checked). The ring goes
 * in runs (pop_run()) that stop at the end of @elems, at the end of the
 * ring (the wrap counter flips there, §2.8.1) and where the descriptors in
 * flight would fill the ring (HOSTILE C2), so a run walks a plain pointer
 * with a fixed expected wrap counter. The list that ends a run takes the
 * full walk; with no room at all (the ring is full of chains in flight)
 * the next list takes all of pop_ring(). Drops are counted here; the front
 * counts `popped`.
 */
static inline __attribute__((always_inline)) unsigned
pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err, const enum vq_dir dir)
{
	const uint32_t size = q->size;
	struct vq_elem *e = elems, *const stop = elems + n;
	struct vq_burst_fast f;
	int rc = 0;

	vq_burst_fast_load(q, &f);
	while (e < stop) {
		uint32_t in_ring = q->packed.desc_in_flight;
		size_t run = in_ring < size ? size - in_ring : 0;
		if (run > (size_t)(stop - e))
			run = (size_t)(stop - e);
		if (run > size - q->packed.avail_pos)
			run = size - q->packed.avail_pos;
		int r;
		if (likely(run)) {
			struct vq_elem *end = e + run;
			uint16_t flags = 0;
			e = pop_run(q, &f, e, end, &flags, dir);
			if (likely(e == end))
				continue;
			if (!desc_is_avail(flags, q->packed.avail_wrap)) {
				mark_dry(q);
				break; /* nothing more available: the burst ends */
			}
			r = pop_list_slow(q, e, flags);
		} else {
			r = pop_ring_slow(q, e);
			if (r == 0)
				break;
		}
		if (r < 0) {
			if (!vq_err_is_drop(r)) {
				rc = r;
				break;
			}
			vq_stats_drop(q, (unsigned)-r);
		}
		e++;
		vq_burst_fast_load(q, &f); /* the walk may have moved the hint */
	}
	*err = rc;
	return (unsigned)(e - elems);
}

/**
 * vq_packed_pop_burst() - see vq_internal.h; one instance of pop_burst()
 * per queue direction.
 */
unsigned vq_packed_pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err)
{
	return VQ_BY_DIR(q->dir, pop_burst, q, elems, n, err);
}

/*
 * A chain recovered by vq_packed_set_inflight(), from the region's copy of
 * its descriptors (the ring slots may hold used descriptors by now), with
 * every per-buffer rule applied again. Its descriptors are already counted
 * in desc_in_flight (the avail position is past them).
 */
static int pop_resubmit(struct vq *q, struct vq_elem *e)
{
	struct vq_infl *in = q->infl;
	uint16_t id = in->resubmit[in->resubmit_pos];
	uint16_t num = in->rnum[in->resubmit_pos];
	const struct vq_infl_rdesc *d = &in->rdesc[in->rdesc_pos];
	in->resubmit_pos++;
	in->rdesc_pos += num;
	vq_elem_reset(e);
	enum vq_err err = VQ_OK;
	for (uint32_t i = 0; i < num && err == VQ_OK; i++) {
		uint16_t flags = d[i].flags & ~VIRTQ_DESC_F_NEXT;
		if (i + 1 < num)
			flags |= VIRTQ_DESC_F_NEXT;
		err = add_desc(q, e, d[i].addr, d[i].len, flags, i + 1);
	}
	vq_inflight_claim(q, id, num);
	if (in->head_of[id] < q->size && in->region.packed->desc[in->head_of[id]].padding)
		err = VQ_ERR_CONSUMED; /* vq_inflight_consume() */
	e->id = id;
	e->ndesc = num;
	e->err = (uint16_t)err;
	return err == VQ_OK ? 1 : -(int)err;
}

/*
 * Inflight tracking (vhost-user.rst "Inflight I/O tracking", packed;
 * inflight_packed.c): recovered chains go out first, then each chain
 * popped from the ring is recorded in the region. Out of line: the ring
 * pays one test of q->infl per pop when it is off.
 */
static __attribute__((noinline)) int pop_tracked(struct vq *q, struct vq_elem *e)
{
	struct vq_infl *in = q->infl;
	if (in->resubmit_pos < in->resubmit_n)
		return pop_resubmit(q, e);
	uint16_t pos = q->packed.avail_pos;
	int rc = pop_ring(q, e);
	if (rc > 0 || (rc < 0 && vq_err_is_drop(rc))) {
		in->avail_pops++;
		vq_packed_infl_record(q, e, pos);
	}
	return rc;
}

/**
 * vq_packed_pop_burst_tracked() - vq_packed_pop_burst() with inflight
 * tracking on and no recovered chain left to hand out: the burst engine
 * pops, then each chain is recorded at its head's position, in pop order.
 * A kill between the two finds the chains unrecorded and the region's
 * position before them, so a restart pops them again, as one between two
 * per-chain pops would; nothing uses a chain before this returns.
 */
unsigned vq_packed_pop_burst_tracked(struct vq *q, struct vq_elem *elems, unsigned n, int *err)
{
	struct vq_infl *in = q->infl;
	uint16_t pos = q->packed.avail_pos;
	unsigned got = vq_packed_pop_burst(q, elems, n, err);

	for (unsigned i = 0; i < got; i++) {
		vq_packed_infl_record(q, &elems[i], pos);
		pos = (uint16_t)ring_pos_add(pos, elems[i].ndesc ? elems[i].ndesc : 1u, q->size);
	}
	in->avail_pops += got;
	return got;
}

/**
 * vq_packed_pop() - take the list at avail_pos (§2.8.21 from the device's
 * side). Return: 1 with @e filled; 0 when the next descriptor is not
 * available; a negative drop code with e->id, e->ndesc and e->err set (the
 * chain is in flight and must be completed); or a negative broken code.
 */
int vq_packed_pop(struct vq *q, struct vq_elem *e)
{
	if (unlikely(q->infl))
		return pop_tracked(q, e);
	return pop_ring(q, e);
}

/* vq_unpop(): the front released the id; step the avail position back
 * over the chain's descriptors, flipping the wrap counter when it crosses
 * the ring's start. With tracking, a resubmitted chain (none popped from
 * the ring since recovery) only goes back on the resubmit list, still
 * marked and counted; a ring chain is unrecorded first. */
void vq_packed_unpop(struct vq *q, const struct vq_elem *e)
{
	uint16_t n = e->ndesc ? e->ndesc : 1;
	struct vq_infl *in = q->infl;
	if (unlikely(in)) {
		if (in->avail_pops == 0) {
			in->resubmit_pos--;
			in->rdesc_pos -= in->rnum[in->resubmit_pos];
			return;
		}
		in->avail_pops--;
		vq_packed_infl_unrecord(q, e->id);
	}
	q->packed.desc_in_flight -= n;
	if (q->packed.avail_pos >= n) {
		q->packed.avail_pos -= n;
	} else {
		q->packed.avail_pos = (uint16_t)(q->packed.avail_pos + q->size - n);
		q->packed.avail_wrap = !q->packed.avail_wrap;
	}
}

/* Dirty log (vq_set_dirty_log()) of the used descriptor at @pos, after it
 * was written: at its own guest address in the descriptor ring. A packed
 * ring's used entries live in the descriptor ring, while vhost-user's
 * log_guest_addr names the device event suppression area (QEMU sends
 * vring.used, which for packed is that area, hw/virtio/vhost.c), so the
 * log address given only covers that area (found by a live-migration test
 * against QEMU 7.2: logging at log_guest_addr + offset marked the wrong
 * pages). */
static __attribute__((noinline)) void log_used_desc(const struct vq *q, uint16_t pos)
{
	gmem_log_dirty(q->log_bitmap, q->log_bytes,
		       q->cfg.desc_gpa + (uint64_t)pos * sizeof(struct pvirtq_desc),
		       sizeof(struct pvirtq_desc));
}

/* Dirty log of the device event suppression area after writing its
 * flags, and its off_wrap when @off_wrap_too. */
static __attribute__((noinline)) void log_device_area(const struct vq *q, bool off_wrap_too)
{
	if (off_wrap_too)
		vq_log_used(q, offsetof(struct pvirtq_event_suppress, off_wrap), 2);
	vq_log_used(q, offsetof(struct pvirtq_event_suppress, flags), 2);
}

/* The used-ring writes of vq_packed_push(). */
static inline __attribute__((always_inline)) void push_ring(struct vq *q,
							    const struct vq_used *used, unsigned n)
{
	struct pvirtq_desc *ring = q->packed.desc;
	uint16_t pos = q->packed.used_pos;
	bool wrap = q->packed.used_wrap;
	uint16_t first_pos = pos;
	uint16_t first_flags = 0;
	uint32_t total = 0;
	const bool log = q->log_bitmap != NULL; /* loop-invariant */

	if (n == 0)
		return;
	/* Locals: the ring stores could alias *q as far as the compiler
	 * knows. The front checked every id (in flight, no repeats). */
	uint32_t *inflight_ndesc = q->inflight_ndesc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t ndesc = (uint16_t)inflight_ndesc[used[i].id];
		inflight_ndesc[used[i].id] = 0;
		struct pvirtq_desc *d = &ring[pos];
		uint16_t flags = used_flags(wrap, used[i].len);
		ring_store(&d->id, used[i].id);
		ring_store(&d->len, used[i].len);
		if (i == 0) {
			first_flags = flags;
		} else {
			ring_store(&d->flags, flags);
			if (unlikely(log))
				log_used_desc(q, (uint16_t)(d - ring));
		}
		pos_advance(q, &pos, &wrap, ndesc);
		total += ndesc;
	}
	ring_store_release(&ring[first_pos].flags, first_flags);
	if (unlikely(log))
		log_used_desc(q, first_pos);
	q->in_flight -= n;
	q->packed.used_pos = pos;
	q->packed.used_wrap = wrap;
	q->packed.desc_in_flight -= total;
	q->packed.used_since_signal += total;
}

/* With inflight tracking: the region's put steps around the ring writes,
 * given the device position after the batch. Out of line. */
static __attribute__((noinline)) void push_tracked(struct vq *q, const struct vq_used *used,
						   unsigned n)
{
	uint16_t pos = q->packed.used_pos;
	bool wrap = q->packed.used_wrap;
	for (unsigned i = 0; i < n; i++)
		pos_advance(q, &pos, &wrap, q->inflight_ndesc[used[i].id]);
	vq_packed_infl_put_begin(q, used, n, pos, wrap);
	push_ring(q, used, n);
	vq_packed_infl_put_end(q, used, n);
}

/**
 * vq_packed_push() - write one used descriptor per completion (§2.8.6,
 * §2.8.22). The ids were validated by the front. The first descriptor's
 * flags are stored last with release: the driver polls that location, so
 * it sees every entry of the burst (ids, lengths, flags) at once.
 */
void vq_packed_push(struct vq *q, const struct vq_used *used, unsigned n)
{
	if (unlikely(q->infl)) {
		push_tracked(q, used, n);
		return;
	}
	push_ring(q, used, n);
}

/**
 * vq_packed_push_batch_entry() - IN_ORDER (§2.8.8): one used descriptor
 * with the id and length of the batch's last buffer; the @count buffers
 * (already released by the front) occupy @total_ndesc descriptors, which
 * the device and the driver both skip.
 */
void vq_packed_push_batch_entry(struct vq *q, uint16_t last_id, uint32_t last_len, unsigned count,
				uint32_t total_ndesc)
{
	struct pvirtq_desc *d = &q->packed.desc[q->packed.used_pos];
	struct vq_infl *in = q->infl;

	if (unlikely(in)) {
		uint16_t pos = q->packed.used_pos;
		bool wrap = q->packed.used_wrap;
		pos_advance(q, &pos, &wrap, total_ndesc);
		vq_packed_infl_put_begin(q, NULL, count, pos, wrap);
	}
	ring_store(&d->id, last_id);
	ring_store(&d->len, last_len);
	ring_store_release(&d->flags, used_flags(q->packed.used_wrap, last_len));
	if (unlikely(q->log_bitmap))
		log_used_desc(q, q->packed.used_pos);
	pos_advance(q, &q->packed.used_pos, &q->packed.used_wrap, total_ndesc);
	q->packed.desc_in_flight -= total_ndesc;
	q->packed.used_since_signal += total_ndesc;
	if (unlikely(in))
		vq_packed_infl_put_end(q, NULL, count);
}

/**
 * vq_packed_notify_prepare() - after pushing: must the driver get a used
 * buffer notification? Reads the driver event suppression area after a
 * full fence (the used flags must be visible before it is read, §2.8.22
 * mirrored). Reserved flag values count as ENABLE; DESC counts only with
 * EVENT_IDX. Covers the descriptors used since the previous call.
 */
bool vq_packed_notify_prepare(struct vq *q)
{
	uint32_t count = q->packed.used_since_signal;
	q->packed.used_since_signal = 0;
	if (count == 0)
		return false;

	return vq_packed_peer_wants(q->packed.driver, q->event_idx, count, q->size,
				    q->packed.used_pos, q->packed.used_wrap);
}

/* Available buffer notifications off (§2.8.10). The area is ours alone,
 * so it is read first to avoid dirtying a line the driver reads. */
void vq_packed_disable_kicks(struct vq *q)
{
	struct pvirtq_event_suppress *dev = q->packed.device;
	if (ring_load(&dev->flags) != RING_EVENT_FLAGS_DISABLE) {
		ring_store(&dev->flags, RING_EVENT_FLAGS_DISABLE);
		if (unlikely(q->log_bitmap))
			log_device_area(q, false);
	}
}

/* Kicks on: with EVENT_IDX for the descriptor at (@pos, @wrap), else for
 * every descriptor. The full fence orders that store before the caller's
 * re-check of the ring. */
static void kicks_on_at(struct vq *q, uint16_t pos, bool wrap)
{
	struct pvirtq_event_suppress *dev = q->packed.device;
	if (q->event_idx) {
		ring_store(&dev->off_wrap, event_off_wrap(pos, wrap));
		ring_store(&dev->flags, RING_EVENT_FLAGS_DESC);
	} else {
		ring_store(&dev->flags, RING_EVENT_FLAGS_ENABLE);
	}
	if (unlikely(q->log_bitmap))
		log_device_area(q, q->event_idx);
	ring_full_fence();
}

/**
 * vq_packed_enable_kicks() - available buffer notifications on: with
 * EVENT_IDX for the descriptor at avail_pos, else for every descriptor.
 * Return: true when a descriptor is already available (poll again).
 */
bool vq_packed_enable_kicks(struct vq *q)
{
	kicks_on_at(q, q->packed.avail_pos, q->packed.avail_wrap);
	return vq_packed_avail_pending(q);
}

/* Positions from (@pos, @wrap) forward to (@to, @to_wrap); the ring's size
 * when @to is not ahead (a mark from before the device moved past it). */
static unsigned dist_ahead(const struct vq *q, uint16_t pos, bool wrap, uint16_t to, bool to_wrap)
{
	if (to_wrap == wrap && to >= pos)
		return to - pos;
	if (to_wrap != wrap && to < pos)
		return q->size - pos + to;
	return q->size;
}

/**
 * vq_packed_enable_kicks_for_more() - kicks on for descriptors beyond every
 * one the device looked at and found too few: up to where its pops last
 * ran dry (dry_pos), else (no such mark ahead) the first position not
 * available now. There the driver adds next; with EVENT_IDX the event
 * asks for exactly that one. Return: true when it is available after the
 * fence. Not the first position unavailable now: descriptors added since
 * the look, with kicks off, would count as seen and never wake the device.
 */
bool vq_packed_enable_kicks_for_more(struct vq *q)
{
	uint16_t pos = q->packed.avail_pos;
	bool wrap = q->packed.avail_wrap;
	unsigned limit = q->packed.dry_set
				 ? dist_ahead(q, pos, wrap, q->packed.dry_pos, q->packed.dry_wrap)
				 : q->size;

	for (unsigned n = 0; n < limit; n++) {
		if (!desc_is_avail(ring_load_acquire(&q->packed.desc[pos].flags), wrap))
			break;
		if (++pos == q->size) {
			pos = 0;
			wrap = !wrap;
		}
	}
	kicks_on_at(q, pos, wrap);
	return desc_is_avail(ring_load_acquire(&q->packed.desc[pos].flags), wrap);
}

/* Is the descriptor at avail_pos available? No validation beyond that.
 * When not, the device has looked at every one: the dry mark. */
bool vq_packed_avail_pending(struct vq *q)
{
	uint16_t flags = ring_load_acquire(&q->packed.desc[q->packed.avail_pos].flags);
	if (desc_is_avail(flags, q->packed.avail_wrap))
		return true;
	mark_dry(q);
	return false;
}

/* Positions and wrap counters (vhost-user GET_VRING_BASE). */
void vq_packed_get_state(const struct vq *q, struct vq_state *s)
{
	s->avail_idx = q->packed.avail_pos;
	s->avail_wrap = q->packed.avail_wrap;
	s->used_idx = q->packed.used_pos;
	s->used_wrap = q->packed.used_wrap;
}
