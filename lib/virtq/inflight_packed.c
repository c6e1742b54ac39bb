/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking of a packed ring (vhost-user.rst "Inflight I/O
 * tracking", QueueRegionPacked) — theory of operation
 *
 * The region holds one entry per descriptor the device took from the ring,
 * drawn from a free list (free_head, desc[].next). Popping a chain of n
 * descriptors copies them (addr, len, flags, id) into the first n free
 * entries; the first is the chain's head entry (inflight, num, last,
 * counter); then free_head and old_free_head move past them. Completing a
 * batch links each chain's entries back onto the free list and stores the
 * device position after the batch (used_idx, used_wrap_counter) before the
 * used descriptors are written; after they are, the heads are cleared and
 * the old_* fields take the new values: that last step commits. A
 * restarted backend finishes a batch whose used descriptor was already
 * published (the descriptor at old_used_idx no longer shows the driver's
 * available flags) and otherwise rolls it back, then clears every entry on
 * the free list; the heads still marked are the chains in flight, handed
 * out again by counter from the copies (the ring slots may have been
 * overwritten by used descriptors since). The device position is the
 * region's used position; the avail position is that plus the chains'
 * descriptors (the ring is consumed in order, §2.8).
 *
 * The region is untrusted (HOSTILE F16): recovery reads each field once,
 * bounds every walk by the queue size, refuses a region whose chains leave
 * the queue, overlap, repeat an id or lie about counts and positions, and
 * keeps private copies of the free list and of every chain's links, so the
 * live path only writes the region. Recovery rebuilds the free list from
 * every entry no chain holds (entries a crash leaked come back).
 *
 * Writes are ordered for a crash of this process only (the frontend reads
 * the region after we are gone): compiler fences, as in split.c.
 */
#include <stdlib.h>
#include <string.h>

#include "vq_internal.h"

#define infl_fence() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* §2.8.1: the flags the driver wrote to make a descriptor available with
 * wrap counter @wrap: AVAIL == wrap, USED != wrap. */
static bool flags_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VIRTQ_DESC_F_AVAIL) == wrap && !!(flags & VIRTQ_DESC_F_USED) != wrap;
}

void vq_infl_free(struct vq_infl *in)
{
	if (!in)
		return;
	free(in->resubmit);
	free(in->next);
	free(in->head_of);
	free(in->last_of);
	free(in->rnum);
	free(in->rdesc);
	free(in);
}

/**
 * vq_packed_infl_record() - mark the chain @e just popped from the ring at
 * @pos (its e->ndesc descriptors): copy them into the free entries, then
 * fill the head entry, then move free_head and old_free_head (the commit:
 * a crash before it leaves the head on the free list, cleared at restart).
 * The descriptors are read again from the ring slots the pop just read;
 * a driver that rewrote them meanwhile only changes what a restart
 * resubmits, which is validated again then. The id is the one handed out.
 */
void vq_packed_infl_record(struct vq *q, const struct vq_elem *e, uint16_t pos)
{
	struct vq_infl *in = q->infl;
	struct vq_inflight_packed *r = in->region.packed;
	uint16_t head = in->free_head, x = head, last = head;
	uint32_t n = e->ndesc ? e->ndesc : 1;
	for (uint32_t k = 0; k < n; k++) {
		/* Free entries = size - descriptors in flight >= n. */
		assert(x < q->size);
		const struct pvirtq_desc *d = &q->packed.desc[pos];
		struct vq_inflight_desc_packed *s = &r->desc[x];
		s->addr = ring_load(&d->addr);
		s->len = ring_load(&d->len);
		s->flags = ring_load(&d->flags);
		s->id = e->id;
		last = x;
		x = in->next[x];
		pos = (uint16_t)ring_pos_add(pos, 1, q->size);
	}
	struct vq_inflight_desc_packed *h = &r->desc[head];
	h->num = (uint16_t)n;
	h->last = last;
	h->counter = in->counter++;
	h->padding = 0; /* not consumed (vq_inflight_consume()) */
	infl_fence();
	h->inflight = 1;
	infl_fence();
	in->free_head = x;
	r->free_head = x;
	infl_fence();
	r->old_free_head = x;
	in->head_of[e->id] = head;
	in->last_of[e->id] = last;
}

/* Put the entries of the chain @id back at the head of the free list. */
static void free_chain(struct vq_infl *in, uint16_t id)
{
	struct vq_inflight_packed *r = in->region.packed;
	uint16_t head = in->head_of[id], last = in->last_of[id];
	in->next[last] = in->free_head;
	r->desc[last].next = in->free_head;
	in->free_head = head;
	r->free_head = head;
}

/* vq_unpop() of the newest chain popped from the ring: freed like a
 * completion, without a used descriptor; its counter is reused. */
void vq_packed_infl_unrecord(struct vq *q, uint16_t id)
{
	struct vq_infl *in = q->infl;
	struct vq_inflight_packed *r = in->region.packed;
	free_chain(in, id);
	infl_fence();
	r->desc[in->head_of[id]].inflight = 0;
	infl_fence();
	r->old_free_head = in->free_head;
	in->counter--;
}

/* The id of chain @i of a batch: @used, or the IN_ORDER FIFO. */
static uint16_t batch_id(const struct vq *q, const struct vq_used *used, uint32_t first, unsigned i)
{
	return used ? used[i].id : q->order[ring_pos_add(first, i, q->size)];
}

void vq_packed_infl_put_begin(struct vq *q, const struct vq_used *used, unsigned n, uint16_t pos,
			      bool wrap)
{
	struct vq_infl *in = q->infl;
	struct vq_inflight_packed *r = in->region.packed;
	uint32_t first = used ? 0 : vq_order_batch_first(q, n);
	for (unsigned i = 0; i < n; i++)
		free_chain(in, batch_id(q, used, first, i));
	r->used_idx = pos;
	r->used_wrap_counter = wrap;
	infl_fence(); /* the batch, then the used descriptors */
}

void vq_packed_infl_put_end(struct vq *q, const struct vq_used *used, unsigned n)
{
	struct vq_infl *in = q->infl;
	struct vq_inflight_packed *r = in->region.packed;
	uint32_t first = used ? 0 : vq_order_batch_first(q, n);
	infl_fence();
	for (unsigned i = 0; i < n; i++)
		r->desc[in->head_of[batch_id(q, used, first, i)]].inflight = 0;
	infl_fence();
	r->old_free_head = in->free_head;
	r->old_used_wrap_counter = q->packed.used_wrap;
	infl_fence(); /* old_used_idx last: the commit the restart tests */
	r->old_used_idx = q->packed.used_pos;
}

/* ---------------------------------------------------------------- restart */

/* Scratch of a recovery. */
struct recov {
	uint8_t *owner; /* [size] per entry: 0 unknown, FREE, CHAIN */
	struct head {
		uint64_t counter;
		uint16_t entry, id, num;
	} * heads; /* [size] */
	uint32_t nheads;
	uint32_t ndesc; /* descriptors of all chains */
};
enum { OWN_FREE = 1, OWN_CHAIN = 2 };

static int head_cmp(const void *a, const void *b)
{
	const struct head *x = a, *y = b;
	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* A region never used: the spec's initial state, at the queue's position. */
static void region_init(const struct vq *q, struct vq_inflight_packed *r)
{
	memset(r->desc, 0, (size_t)q->size * sizeof(r->desc[0]));
	for (uint32_t i = 0; i < q->size; i++)
		r->desc[i].next = (uint16_t)(i + 1);
	r->features = 0;
	r->desc_num = (uint16_t)q->size;
	r->free_head = r->old_free_head = 0;
	r->used_idx = r->old_used_idx = q->packed.used_pos;
	r->used_wrap_counter = r->old_used_wrap_counter = q->packed.used_wrap;
	memset(r->padding, 0, sizeof(r->padding));
	infl_fence();
	r->version = VQ_INFLIGHT_VERSION;
}

/*
 * The spec's first two reconnect steps on the header: a batch whose first
 * used descriptor is already out is committed, any other step in progress
 * rolled back. Return: the entry the free list starts at, and the device
 * position in *pos / *wrap; -1 when a field is out of range.
 */
static int settle_header(const struct vq *q, const struct vq_inflight_packed *r, uint16_t *pos,
			 bool *wrap)
{
	uint16_t used = r->used_idx, old_used = r->old_used_idx;
	uint8_t uw = r->used_wrap_counter, old_uw = r->old_used_wrap_counter;
	uint16_t free_head = r->free_head, old_free = r->old_free_head;
	if (used >= q->size || old_used >= q->size || uw > 1 || old_uw > 1)
		return -1;
	if (used != old_used || uw != old_uw) {
		uint16_t flags = ring_load_acquire(&q->packed.desc[old_used].flags);
		if (!flags_avail(flags, old_uw)) {
			old_free = free_head;
			old_used = used;
			old_uw = uw;
		}
	}
	*pos = old_used;
	*wrap = old_uw;
	return old_free;
}

/* Mark the free list from @x (bounded; a loop or an entry out of range
 * ends it): its entries are not in flight, whatever their flags say. */
static void mark_free_list(const struct vq *q, const struct vq_inflight_packed *r, struct recov *rc,
			   uint32_t x)
{
	for (uint32_t steps = 0; steps < q->size && x < q->size && !rc->owner[x]; steps++) {
		rc->owner[x] = OWN_FREE;
		x = r->desc[x].next;
	}
}

/*
 * Take up the chain whose head entry is @h: num entries linked by next,
 * each in range, unmarked and held by no other chain or the free list, the last
 * naming a buffer id in range and not seen before. The links go to the
 * private copy. Return: 0 or -1 (the region lies).
 */
static int claim_chain(const struct vq *q, const struct vq_inflight_packed *r, struct vq_infl *in,
		       struct recov *rc, uint16_t h)
{
	const struct vq_inflight_desc_packed *hd = &r->desc[h];
	uint16_t num = hd->num;
	uint64_t counter = hd->counter;
	if (num == 0 || num > q->size - rc->ndesc)
		return -1;
	uint32_t y = h;
	for (uint32_t k = 0;; k++) {
		/* Only a head entry is marked: a mark inside the list is
		 * another chain's head (overlap). */
		if (y >= q->size || rc->owner[y] || (k && r->desc[y].inflight))
			return -1;
		rc->owner[y] = OWN_CHAIN;
		if (k + 1 == num)
			break;
		uint16_t nx = r->desc[y].next;
		in->next[y] = nx;
		y = nx;
	}
	uint16_t id = r->desc[y].id;
	if (id >= q->size || in->head_of[id] != UINT16_MAX)
		return -1;
	in->head_of[id] = h;
	in->last_of[id] = (uint16_t)y;
	rc->heads[rc->nheads++] =
		(struct head){.counter = counter, .entry = h, .id = id, .num = num};
	rc->ndesc += num;
	return 0;
}

/* Copy the chains, in counter order, to the resubmit list. */
static void copy_chains(const struct vq_inflight_packed *r, struct vq_infl *in, struct recov *rc)
{
	qsort(rc->heads, rc->nheads, sizeof(rc->heads[0]), head_cmp);
	uint32_t at = 0;
	for (uint32_t i = 0; i < rc->nheads; i++) {
		const struct head *hd = &rc->heads[i];
		uint32_t y = hd->entry;
		for (uint32_t k = 0; k < hd->num; k++) {
			const struct vq_inflight_desc_packed *s = &r->desc[y];
			in->rdesc[at++] = (struct vq_infl_rdesc){
				.addr = s->addr, .len = s->len, .flags = s->flags};
			y = in->next[y];
		}
		in->resubmit[i] = hd->id;
		in->rnum[i] = hd->num;
		if (hd->counter >= in->counter)
			in->counter = hd->counter + 1;
	}
	in->resubmit_n = rc->nheads;
	in->rdesc_n = at;
}

/* Every entry no chain holds, in index order, is the new free list. */
static void rebuild_free_list(const struct vq *q, struct vq_inflight_packed *r, struct vq_infl *in,
			      const struct recov *rc)
{
	uint16_t head = (uint16_t)q->size, *link = &head;
	for (uint32_t i = 0; i < q->size; i++) {
		if (rc->owner[i] == OWN_CHAIN)
			continue;
		*link = (uint16_t)i;
		link = &in->next[i];
		r->desc[i].inflight = 0;
	}
	*link = (uint16_t)q->size;
	for (uint32_t i = 0; i < q->size; i++)
		if (rc->owner[i] != OWN_CHAIN)
			r->desc[i].next = in->next[i];
	in->free_head = head;
}

/* Recover @r into @in and, unless the region was @fresh (then the queue
 * keeps the position it was started at), the queue positions.
 * Return: 0 or -1. */
static int recover(struct vq *q, struct vq_inflight_packed *r, struct vq_infl *in, struct recov *rc,
		   bool fresh)
{
	uint16_t pos;
	bool wrap;
	int free_head = settle_header(q, r, &pos, &wrap);
	if (free_head < 0)
		return -1;
	mark_free_list(q, r, rc, (uint32_t)free_head);
	for (uint32_t i = 0; i < q->size; i++)
		if (!rc->owner[i] && r->desc[i].inflight && claim_chain(q, r, in, rc, (uint16_t)i))
			return -1;
	copy_chains(r, in, rc);
	rebuild_free_list(q, r, in, rc);
	infl_fence();
	r->free_head = r->old_free_head = in->free_head;
	r->used_wrap_counter = r->old_used_wrap_counter = wrap;
	r->used_idx = r->old_used_idx = pos;
	if (fresh)
		return 0;
	/* The device resumes at the region's position; the chains in flight
	 * occupy the ring descriptors after it (rc->ndesc <= size). */
	q->packed.used_pos = pos;
	q->packed.used_wrap = wrap;
	q->packed.avail_wrap = wrap;
	uint32_t p = pos + rc->ndesc;
	if (p >= q->size) {
		p -= q->size;
		q->packed.avail_wrap = !wrap;
	}
	q->packed.avail_pos = (uint16_t)p;
	q->packed.desc_in_flight = rc->ndesc;
	return 0;
}

/**
 * vq_packed_set_inflight() - take up the packed region @r (size checked
 * by the front) on a fresh queue: initialise it if never used (version
 * 0), else run the spec's reconnect steps and set the queue's positions
 * from it. Return: 0, -VQ_ERR_INVALID_ARG (version, size or content
 * refused: the region is then left as it was, and nothing beyond the
 * queue size was read) or -VQ_ERR_NO_MEMORY.
 */
int vq_packed_set_inflight(struct vq *q, struct vq_inflight_packed *r)
{
	uint32_t n = q->size;
	struct vq_infl *in = calloc(1, sizeof(*in));
	struct recov rc = {.owner = calloc(n, 1), .heads = calloc(n, sizeof(*rc.heads))};
	int ret = -VQ_ERR_NO_MEMORY;
	if (!in || !rc.owner || !rc.heads)
		goto out;
	in->region.packed = r;
	in->resubmit = calloc(n, sizeof(*in->resubmit));
	in->next = calloc(n, sizeof(*in->next));
	in->head_of = malloc(n * sizeof(*in->head_of));
	in->last_of = calloc(n, sizeof(*in->last_of));
	in->rnum = calloc(n, sizeof(*in->rnum));
	in->rdesc = calloc(n, sizeof(*in->rdesc));
	if (!in->resubmit || !in->next || !in->head_of || !in->last_of || !in->rnum || !in->rdesc)
		goto out;
	memset(in->head_of, 0xff, n * sizeof(*in->head_of));
	ret = -VQ_ERR_INVALID_ARG;
	bool fresh = r->version == 0;
	if (fresh)
		region_init(q, r);
	else if (r->version != VQ_INFLIGHT_VERSION || r->desc_num != n)
		goto out;
	if (recover(q, r, in, &rc, fresh))
		goto out;
	q->infl = in;
	in = NULL;
	ret = 0;
out:
	vq_infl_free(in);
	free(rc.owner);
	free(rc.heads);
	return ret;
}
