/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue, device side (VIRTIO 1.2 §2.7) — theory of operation
 *
 * The driver owns the descriptor table and the avail ring; the device owns
 * the used ring. Popping: read avail->idx (acquire) only when the cached
 * copy is used up, refuse an index that ran more than the queue size ahead
 * (HOSTILE A1/A2), read the head from the avail ring once, refuse a head out
 * of range or already in flight (A3/A4): those break the queue. Then walk the
 * chain with a bound: at most max_chain descriptors, and with more than
 * `size` steps the chain must revisit an entry (a loop, A7). Content errors
 * make the chain a drop: it is still returned, in flight, for the caller to
 * complete with length 0.
 *
 * Pushing writes the used elements and then used->idx once, with release
 * (§2.7.8.2: the device MUST write the element before the index). With a
 * dirty log set (vq_set_dirty_log()) every write to the used ring is then
 * marked in it, out of line: one test of a pointer per call when off.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vq_internal.h"

int vq_split_start(struct vq *q, const struct vq_state *s)
{
	bool fresh = q->split.desc == NULL; /* first start, from vq_new() */
	uint32_t hint = 0;
	q->split.desc = gmem_ptr(q->mem, q->cfg.desc_gpa, virtq_split_desc_bytes(q->size), &hint);
	q->split.avail =
		gmem_ptr(q->mem, q->cfg.driver_gpa, virtq_split_avail_bytes(q->size) - 2, &hint);
	q->split.used =
		gmem_ptr(q->mem, q->cfg.device_gpa, virtq_split_used_bytes(q->size) - 2, &hint);
	if (!q->split.desc || !q->split.avail || !q->split.used)
		return -VQ_ERR_RING_OUT_OF_MEMORY;
	/* The EVENT_IDX fields trail the rings (§2.7.6, §2.7.8); placement of
	 * the two extra bytes was checked by the front when negotiated. */
	q->split.used_event = &q->split.avail->ring[q->size];
	q->split.avail_event = (le16 *)&q->split.used->ring[q->size];
	q->split.mask = (uint16_t)(q->size - 1);
	q->split.last_avail = s->avail_idx;
	q->split.avail_idx_seen = s->avail_idx;
	q->split.used_idx = s->used_idx;
	/* A restart from vq_set_mem() keeps the pending notification state: a
	 * memory change between push and notify_prepare must not lose it. */
	if (fresh) {
		q->split.signalled_used = s->used_idx;
		q->split.pushed_since_signal = 0;
	}
	return 0;
}

/* Walk an indirect table (§2.7.5.3). Returns VQ_OK or a drop code. */
static enum vq_err walk_indirect(struct vq *q, struct vq_elem *e, uint64_t addr, uint32_t len,
				 uint32_t *ndesc)
{
	if (!q->indirect)
		return VQ_ERR_INDIRECT_NOT_NEGOTIATED;
	if (len == 0)
		return VQ_ERR_INDIRECT_EMPTY;
	if (len % sizeof(struct virtq_desc))
		return VQ_ERR_INDIRECT_BAD_LEN;
	uint32_t n = len / sizeof(struct virtq_desc);
	/* Refuse a huge table before touching it (HOSTILE B4). */
	if (n > q->max_chain || *ndesc + n > q->max_chain)
		return VQ_ERR_INDIRECT_TOO_LARGE;
	const void *host = gmem_ptr(q->mem, addr, len, &q->mem_hint);
	if (!host) {
		struct iovec probe;
		int rc = gmem_translate(q->mem, addr, len, &probe, 1, &q->mem_hint);
		if (rc != -ENOBUFS) /* not merely split across regions: outside */
			return VQ_ERR_INDIRECT_OUT_OF_MEMORY;
	}
	uint32_t i = 0;
	for (uint32_t steps = 0;; steps++) {
		struct virtq_desc d;
		if (steps == n) /* n entries visited and still going: a loop (B10) */
			return VQ_ERR_CHAIN_LOOP;
		enum vq_err err = vq_read_indirect_entry(q, host, addr, i, &d);
		if (err)
			return err;
		(*ndesc)++;
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return VQ_ERR_INDIRECT_NESTED;
		err = vq_elem_add_buf(q, e, d.addr, d.len, d.flags & VIRTQ_DESC_F_WRITE);
		if (err)
			return err;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return VQ_OK;
		if (d.next >= n)
			return VQ_ERR_DESC_NEXT_OUT_OF_RANGE;
		i = d.next;
	}
}

/* Walk the chain from @head (< size). Returns VQ_OK or a drop code. */
static enum vq_err walk_chain(struct vq *q, struct vq_elem *e, uint16_t head)
{
	uint32_t ndesc = 0;
	uint16_t i = head;
	for (uint32_t steps = 0;; steps++) {
		/* A chain of more than `size` table entries revisits one: a loop
		 * (A7, §2.7.5.2). A shorter one over max_chain is too long (A8). */
		if (steps == q->size)
			return VQ_ERR_CHAIN_LOOP;
		if (ndesc >= q->max_chain)
			return VQ_ERR_CHAIN_TOO_LONG;
		/* Read once into locals; the guest may rewrite it (A22). */
		const struct virtq_desc *src = &q->split.desc[i];
		uint64_t addr = ring_load(&src->addr);
		uint32_t len = ring_load(&src->len);
		uint16_t flags = ring_load(&src->flags);
		uint16_t next = ring_load(&src->next);
		ndesc++;
		if (flags & VIRTQ_DESC_F_INDIRECT) {
			/* §2.7.5.3.1: no NEXT with INDIRECT; the WRITE bit of
			 * this descriptor is ignored (B9). */
			if (flags & VIRTQ_DESC_F_NEXT)
				return VQ_ERR_INDIRECT_WITH_NEXT;
			ndesc--; /* the table's entries count, not its pointer */
			return walk_indirect(q, e, addr, len, &ndesc);
		}
		enum vq_err err = vq_elem_add_buf(q, e, addr, len, flags & VIRTQ_DESC_F_WRITE);
		if (err)
			return err;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return VQ_OK;
		if (next >= q->size)
			return VQ_ERR_DESC_NEXT_OUT_OF_RANGE;
		i = next;
	}
}

/*
 * The common chain: one direct descriptor that passes every rule at once.
 * Returns false to take the full walk, which then names the exact error;
 * the checks here are the same rules, only fewer of them apply.
 */
static inline bool pop_single(struct vq *q, struct vq_elem *e, uint16_t head)
{
	const struct virtq_desc *src = &q->split.desc[head];
	uint16_t flags = ring_load(&src->flags);
	if (flags & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT))
		return false;
	uint64_t addr = ring_load(&src->addr);
	uint32_t len = ring_load(&src->len);
	return vq_elem_set_single(q, e, head, addr, len, flags);
}

/* The full walk for any other chain; kept out of line so the fast path
 * stays small. */
static __attribute__((noinline)) int pop_walk(struct vq *q, struct vq_elem *e, uint16_t head)
{
	vq_elem_reset(e);
	e->id = head;
	enum vq_err err = walk_chain(q, e, head);
	e->ndesc = 1;
	e->err = err;
	vq_inflight_claim(q, head, 1);
	return err ? -(int)err : 1;
}

/* avail->idx moved: re-read it (acquire) and check the jump. */
static __attribute__((noinline)) int refresh_avail_idx(struct vq *q, uint16_t last)
{
	/* §2.7.13.3: read idx before the ring entries it covers. */
	uint16_t idx = ring_load_acquire(&q->split.avail->idx);
	if (unlikely((uint16_t)(idx - last) > q->size))
		return vq_break(q, VQ_ERR_AVAIL_IDX_JUMP);
	q->split.avail_idx_seen = idx;
	return idx != last;
}

static inline int pop_avail(struct vq *q, struct vq_elem *e)
{
	uint16_t last = q->split.last_avail;
	if (q->split.avail_idx_seen == last) {
		int rc = refresh_avail_idx(q, last);
		if (rc <= 0)
			return rc;
	}
	uint16_t head = ring_load(&q->split.avail->ring[last & q->split.mask]);
	if (unlikely(head >= q->size))
		return vq_break(q, VQ_ERR_HEAD_OUT_OF_RANGE);
	if (unlikely(q->inflight_ndesc[head]))
		return vq_break(q, VQ_ERR_HEAD_IN_FLIGHT);
	q->split.last_avail = last + 1;
	if (likely(pop_single(q, e, head))) {
		e->id = head;
		e->ndesc = 1;
		vq_inflight_claim(q, head, 1);
		return 1;
	}
	return pop_walk(q, e, head);
}

/*
 * vq_split_pop_burst(), for a queue of direction @dir (a constant: one
 * instance per direction). Up to @n chains, as @n pop_avail() calls would
 * take them (inflight tracking is off: the front checked). avail->idx is
 * read (acquire, §2.7.13.3) only when the entries seen last are used up,
 * exactly when pop_avail() reads it, so the jump check (HOSTILE A1/A2) sees
 * the same values. The entries go in runs that stop at the end of what was
 * seen, of @elems, or of the avail ring (so the run walks a plain
 * pointer); in a run, a one-descriptor chain whose head passes the range
 * and in-flight checks (A3/A4) and whose descriptor passes every rule is
 * taken inline, the ring state updated once per run. The first chain that
 * is not ends the run and gets pop_avail()'s own treatment: the same
 * checks in the same order, then pop_walk(). Drops are counted here; the
 * front counts `popped`.
 */
static inline __attribute__((always_inline)) unsigned
pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err, const enum vq_dir dir)
{
	const le16 *ring = q->split.avail->ring;
	const struct virtq_desc *desc = q->split.desc;
	uint32_t *held = q->inflight_ndesc;
	const uint16_t mask = q->split.mask; /* size - 1: head > mask is out of range */
	struct vq_elem *e = elems, *const stop = elems + n;
	struct vq_burst_fast f;
	int rc = 0;

	vq_burst_fast_load(q, &f);
	while (e < stop) {
		uint16_t last = q->split.last_avail;
		if (q->split.avail_idx_seen == last) {
			rc = refresh_avail_idx(q, last);
			if (rc <= 0)
				break;
			rc = 0;
		}
		uint32_t slot = last & mask;
		size_t run = (uint16_t)(q->split.avail_idx_seen - last);
		if (run > (size_t)(stop - e))
			run = (size_t)(stop - e);
		if (run > mask + 1u - slot)
			run = mask + 1u - slot;
		const le16 *a = &ring[slot];
		struct vq_elem *start = e, *const end = e + run;
		uint16_t head = 0;
		for (; e < end; e++, a++) {
			head = ring_load(a);
			if (unlikely(head > mask || held[head]))
				break;
			const struct virtq_desc *d = &desc[head];
			if (unlikely(!vq_burst_fast_single(&f, e, head, ring_load(&d->addr),
							   ring_load(&d->len), ring_load(&d->flags),
							   dir)))
				break;
			held[head] = 1;
		}
		uint32_t taken = (uint32_t)(e - start);
		q->split.last_avail = (uint16_t)(last + taken);
		vq_burst_claimed(q, start, taken);
		if (likely(e == end))
			continue;
		if (head > mask) {
			rc = vq_break(q, VQ_ERR_HEAD_OUT_OF_RANGE);
			break;
		}
		if (held[head]) {
			rc = vq_break(q, VQ_ERR_HEAD_IN_FLIGHT);
			break;
		}
		q->split.last_avail++;
		int r = pop_walk(q, e, head);
		if (r < 0)
			vq_stats_drop(q, (unsigned)-r);
		e++;
		vq_burst_fast_load(q, &f); /* the walk may have moved the hint */
	}
	*err = rc < 0 ? rc : 0;
	return (unsigned)(e - elems);
}

/**
 * vq_split_pop_burst() - see vq_internal.h; one instance of pop_burst()
 * per queue direction.
 */
unsigned vq_split_pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err)
{
	return VQ_BY_DIR(q->dir, pop_burst, q, elems, n, err);
}

/* Chain @id, just popped from the avail ring, is in flight with the next
 * counter. */
static inline void infl_mark(struct vq_infl *in, uint16_t id)
{
	struct vq_inflight_desc_split *d = &in->region.split->desc[id];

	in->avail_pops++;
	d->counter = in->counter++;
	d->padding[0] = 0; /* not consumed (vq_inflight_consume()) */
	d->inflight = 1;
}

/*
 * Inflight tracking (vhost-user.rst "Inflight I/O tracking", split): heads
 * recovered by vq_split_set_inflight() go out first, then each chain
 * popped from the avail ring is marked in flight with the next counter.
 * Out of line: the ring pays one test of q->infl per pop when it is off.
 */
static __attribute__((noinline)) int pop_inflight(struct vq *q, struct vq_elem *e)
{
	struct vq_infl *in = q->infl;
	if (in->resubmit_pos < in->resubmit_n) {
		/* Already marked in the region, with its old counter. */
		uint16_t head = in->resubmit[in->resubmit_pos++];
		int rc = pop_walk(q, e, head);
		if ((rc > 0 || (rc < 0 && vq_err_is_drop(rc))) &&
		    in->region.split->desc[head].padding[0]) {
			e->err = VQ_ERR_CONSUMED; /* vq_inflight_consume() */
			rc = -VQ_ERR_CONSUMED;
		}
		return rc;
	}
	int rc = pop_avail(q, e);
	if (rc > 0 || (rc < 0 && vq_err_is_drop(rc)))
		infl_mark(in, e->id);
	return rc;
}

/**
 * vq_split_pop_burst_tracked() - vq_split_pop_burst() with inflight
 * tracking on and no recovered head left to hand out: the burst engine
 * pops, then each chain is marked, in pop order. A kill between the two
 * finds them unmarked, and a restart pops them again from the used index
 * plus the chains marked, as after one between two per-chain pops.
 */
unsigned vq_split_pop_burst_tracked(struct vq *q, struct vq_elem *elems, unsigned n, int *err)
{
	unsigned got = vq_split_pop_burst(q, elems, n, err);

	for (unsigned i = 0; i < got; i++)
		infl_mark(q->infl, elems[i].id);
	return got;
}

int vq_split_pop(struct vq *q, struct vq_elem *e)
{
	if (unlikely(q->infl))
		return pop_inflight(q, e);
	return pop_avail(q, e);
}

/* vq_unpop(): the front released the id; put the ring position back. */
void vq_split_unpop(struct vq *q, const struct vq_elem *e)
{
	struct vq_infl *in = q->infl;
	if (in && in->avail_pops == 0) {
		in->resubmit_pos--; /* stays marked in the region */
		return;
	}
	if (in) {
		in->avail_pops--;
		in->region.split->desc[e->id].inflight = 0;
		in->counter--;
	}
	q->split.last_avail--;
}

/* The head of chain @i of a batch: @used, or (NULL) the IN_ORDER batch
 * vq_push_in_order() just released, from its pop-order FIFO. */
static uint16_t batch_head(const struct vq *q, const struct vq_used *used, uint32_t first,
			   unsigned i)
{
	return used ? used[i].id : q->order[ring_pos_add(first, i, q->size)];
}

/* Before the used elements are written: the batch becomes the region's
 * last-batch list, so a crash in between can be finished at restart. An
 * IN_ORDER batch entry covers @n chains: all of them are listed. */
static __attribute__((noinline)) void infl_batch_begin(struct vq *q, const struct vq_used *used,
						       unsigned n)
{
	struct vq_inflight_split *r = q->infl->region.split;
	uint32_t first = used ? 0 : vq_order_batch_first(q, n);
	uint16_t head = r->last_batch_head;
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = batch_head(q, used, first, i);
		r->desc[id].next = head;
		head = id;
	}
	r->last_batch_head = head;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* list, then the used ring */
}

/* After used->idx: the batch is no longer in flight. */
static __attribute__((noinline)) void infl_batch_end(struct vq *q, const struct vq_used *used,
						     unsigned n, uint16_t idx)
{
	struct vq_inflight_split *r = q->infl->region.split;
	uint32_t first = used ? 0 : vq_order_batch_first(q, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++)
		r->desc[batch_head(q, used, first, i)].inflight = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	r->used_idx = idx;
}

struct infl_entry {
	uint64_t counter;
	uint16_t head;
};

static int infl_cmp(const void *a, const void *b)
{
	const struct infl_entry *x = a, *y = b;
	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->head < y->head ? -1 : x->head > y->head;
}

/**
 * vq_split_set_inflight() - take up the region @r (size checked by the
 * front) on a fresh queue: the spec's "When reconnecting" steps. The
 * region is the frontend's and untrusted (HOSTILE F16): the last-batch
 * walk is bounded by the batch size and the queue size and stops at a
 * head out of range; only entries below the queue size are read.
 * Return: 0, -VQ_ERR_INVALID_ARG (version or size differ) or
 * -VQ_ERR_NO_MEMORY.
 */
int vq_split_set_inflight(struct vq *q, struct vq_inflight_split *r)
{
	struct vq_infl *in = calloc(1, sizeof(*in));
	struct infl_entry *ent = calloc(q->size, sizeof(*ent));
	uint16_t *resubmit = calloc(q->size, sizeof(*resubmit));
	int rc = -VQ_ERR_NO_MEMORY;
	if (!in || !ent || !resubmit)
		goto err;
	uint16_t used_idx = ring_load_acquire(&q->split.used->idx);
	rc = -VQ_ERR_INVALID_ARG;
	if (r->version == 0) {
		/* Never used: start it (libvhost-user does the same). */
		memset(r->desc, 0, (size_t)q->size * sizeof(r->desc[0]));
		r->features = 0;
		r->desc_num = (uint16_t)q->size;
		r->last_batch_head = 0;
		r->used_idx = used_idx;
		r->version = VQ_INFLIGHT_VERSION;
	} else if (r->version != VQ_INFLIGHT_VERSION || r->desc_num != q->size) {
		goto err;
	}
	if (r->used_idx != used_idx) {
		/* A batch was published (used->idx moved) but not yet cleared
		 * in the region: clear it now. */
		uint32_t batch = (uint16_t)(used_idx - r->used_idx);
		uint16_t head = r->last_batch_head;
		for (uint32_t i = 0; i < batch && i < q->size && head < q->size; i++) {
			r->desc[head].inflight = 0;
			head = r->desc[head].next;
		}
		r->used_idx = used_idx;
	}
	uint32_t n = 0;
	uint64_t max_counter = 0;
	for (uint32_t i = 0; i < q->size; i++) {
		if (!r->desc[i].inflight)
			continue;
		ent[n++] = (struct infl_entry){.counter = r->desc[i].counter, .head = (uint16_t)i};
		if (r->desc[i].counter >= max_counter)
			max_counter = r->desc[i].counter + 1;
	}
	qsort(ent, n, sizeof(*ent), infl_cmp);
	for (uint32_t i = 0; i < n; i++)
		resubmit[i] = ent[i].head;
	free(ent);
	in->region.split = r;
	in->counter = max_counter;
	in->resubmit = resubmit;
	in->resubmit_n = n;
	/* The chains in flight were taken from the avail ring after the
	 * completed ones: the next new chain is at used->idx + n. */
	q->split.last_avail = (uint16_t)(used_idx + n);
	q->split.avail_idx_seen = q->split.last_avail;
	q->split.used_idx = used_idx;
	q->infl = in;
	return 0;
err:
	free(in);
	free(ent);
	free(resubmit);
	return rc;
}

static void write_used(struct vq *q, uint16_t slot, uint16_t id, uint32_t len)
{
	struct virtq_used_elem *u = &q->split.used->ring[slot & q->split.mask];
	ring_store(&u->id, id);
	ring_store(&u->len, len);
}

/*
 * Dirty log (vq_set_dirty_log()) of @n used elements written from slot
 * @first on, and of used->idx; called after the writes (the frontend may
 * clear the bits and copy the pages any time: marking first could lose
 * the last write). The slots wrap at most once (n <= size).
 */
static __attribute__((noinline)) void log_used_elems(struct vq *q, uint16_t first, unsigned n)
{
	const uint64_t elem = sizeof(struct virtq_used_elem);
	const uint64_t ring_off = offsetof(struct virtq_used, ring);
	uint32_t slot = first & q->split.mask;
	uint32_t head = n < q->size - slot ? n : q->size - slot;
	if (head)
		vq_log_used(q, ring_off + slot * elem, head * elem);
	if (n > head)
		vq_log_used(q, ring_off, (n - head) * elem);
	vq_log_used(q, offsetof(struct virtq_used, idx), sizeof(q->split.used->idx));
}

void vq_split_push(struct vq *q, const struct vq_used *used, unsigned n)
{
	uint16_t first = q->split.used_idx;
	uint16_t idx = first;
	/* Locals: the ring stores could alias *q as far as the compiler
	 * knows. The front checked every id (in flight, no repeats). */
	struct virtq_used_elem *ring = q->split.used->ring;
	uint32_t *ndesc = q->inflight_ndesc;
	const uint16_t mask = q->split.mask;
	if (unlikely(q->infl))
		infl_batch_begin(q, used, n);
	for (unsigned i = 0; i < n; i++) {
		struct virtq_used_elem *u = &ring[idx++ & mask];
		ndesc[used[i].id] = 0;
		ring_store(&u->id, used[i].id);
		ring_store(&u->len, used[i].len);
	}
	q->in_flight -= n;
	/* §2.7.8.2: elements before the index. */
	ring_store_release(&q->split.used->idx, idx);
	q->split.used_idx = idx;
	q->split.pushed_since_signal += n;
	if (unlikely(q->infl))
		infl_batch_end(q, used, n, idx);
	if (unlikely(q->log_bitmap))
		log_used_elems(q, first, n);
}

void vq_split_push_batch_entry(struct vq *q, uint16_t last_id, uint32_t last_len, unsigned count,
			       uint32_t total_ndesc)
{
	(void)total_ndesc;
	/* §2.7.9: one element for the batch, with the last chain's id; the
	 * index moves by the number of chains. */
	uint16_t slot = q->split.used_idx;
	const bool infl = q->infl != NULL; /* one load; kept across the release */
	if (unlikely(infl))
		infl_batch_begin(q, NULL, count);
	write_used(q, slot, last_id, last_len);
	q->split.used_idx += (uint16_t)count;
	ring_store_release(&q->split.used->idx, q->split.used_idx);
	q->split.pushed_since_signal += count;
	if (unlikely(infl))
		infl_batch_end(q, NULL, count, q->split.used_idx);
	if (unlikely(q->log_bitmap))
		log_used_elems(q, slot, 1);
}

bool vq_split_notify_prepare(struct vq *q)
{
	uint16_t old = q->split.signalled_used, now = q->split.used_idx;
	uint32_t pushed = q->split.pushed_since_signal;
	if (pushed == 0)
		return false;
	q->split.signalled_used = now;
	q->split.pushed_since_signal = 0;
	return vq_split_peer_wants(&q->split.avail->flags, VIRTQ_AVAIL_F_NO_INTERRUPT,
				   q->split.used_event, q->event_idx, pushed, now, old);
}

void vq_split_disable_kicks(struct vq *q)
{
	/* With EVENT_IDX, leaving avail_event behind suppresses further kicks
	 * after at most one (§2.7.10). */
	if (!q->event_idx) {
		ring_store(&q->split.used->flags, VIRTQ_USED_F_NO_NOTIFY);
		if (unlikely(q->log_bitmap))
			vq_log_used(q, offsetof(struct virtq_used, flags),
				    sizeof(q->split.used->flags));
	}
}

/* Dirty-log the used-area field that asks for kicks: avail_event with
 * EVENT_IDX, else the flags. */
static void log_kick_area(struct vq *q)
{
	if (q->event_idx)
		vq_log_used(q,
			    offsetof(struct virtq_used, ring) +
				    q->size * sizeof(struct virtq_used_elem),
			    sizeof(le16));
	else
		vq_log_used(q, offsetof(struct virtq_used, flags), sizeof(q->split.used->flags));
}

bool vq_split_enable_kicks(struct vq *q)
{
	if (q->event_idx)
		ring_store(q->split.avail_event, q->split.last_avail);
	else
		ring_store(&q->split.used->flags, 0);
	if (unlikely(q->log_bitmap))
		log_kick_area(q);
	/* §2.7.10: publish the request before re-checking, else a buffer made
	 * available in between would get neither a kick nor a poll. */
	ring_full_fence();
	return vq_split_avail_pending(q);
}

/*
 * vq_split_enable_kicks_for_more() - kicks on for buffers beyond every one
 * the device looked at (avail->idx as its last pop read it: the pops ran
 * dry there) and found too few. With EVENT_IDX avail_event is that index,
 * so the driver's next addition kicks (§2.7.10); else kicks are simply on.
 * True when the index is past it after the fence (poll again rather than
 * sleep). Not a fresh read of avail->idx: buffers added since the look,
 * with kicks off, would count as seen and never wake the device.
 */
bool vq_split_enable_kicks_for_more(struct vq *q)
{
	uint16_t seen = q->split.avail_idx_seen;

	if (q->event_idx)
		ring_store(q->split.avail_event, seen);
	else
		ring_store(&q->split.used->flags, 0);
	if (unlikely(q->log_bitmap))
		log_kick_area(q);
	ring_full_fence();
	return ring_load_acquire(&q->split.avail->idx) != seen;
}

bool vq_split_avail_pending(struct vq *q)
{
	if (q->split.avail_idx_seen != q->split.last_avail)
		return true;
	return ring_load_acquire(&q->split.avail->idx) != q->split.last_avail;
}

void vq_split_get_state(const struct vq *q, struct vq_state *s)
{
	*s = (struct vq_state){.avail_idx = q->split.last_avail, .used_idx = q->split.used_idx};
}
