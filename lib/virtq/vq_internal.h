/* SPDX-License-Identifier: MIT */
/*
 * Internal state of the virtqueue library, shared by the format-neutral
 * front (vq.c, drv.c), the chain walker (chain.c) and the four ring engines
 * (split.c, packed.c, drv_split.c, drv_packed.c). Not a public header.
 *
 * Per-format state lives in q->split / q->packed (d->split / d->packed);
 * the front dispatches with a switch on the format so calls stay direct.
 */
#ifndef VQNET_VIRTQ_INTERNAL_H
#define VQNET_VIRTQ_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <vqnet/virtq.h>

#include "base/compiler.h"
#include "../gmem/gmem_internal.h"
#include "../spec/virtio_ring.h"
#include "../spec/vq_inflight.h"

/* ------------------------------------------------------------------ device */

struct vq {
	/* Configuration: read-only after vq_new(). */
	enum vq_format format;
	uint32_t size;
	uint32_t max_chain; /* descriptors per chain, indirect entries included */
	enum vq_dir dir;
	bool event_idx;
	bool indirect;
	bool in_order;
	struct vq_config cfg;

	/* Guest memory held by the queue (one reference). */
	struct gmem_table *mem;
	uint32_t mem_hint; /* last-hit region cache for translations */

	/*
	 * In-flight record, indexed by id (split head / packed buffer id):
	 * the number of ring descriptors the chain occupies, 0 = not in
	 * flight. Catches a head made available twice (HOSTILE A4, C3) and a
	 * caller pushing an id it does not hold.
	 */
	uint32_t *inflight_ndesc; /* bit 31: marker used while validating a push batch */
	uint32_t in_flight;

	/* IN_ORDER only: ids in pop order, a ring of @size entries; the
	 * in_flight entries from position order_tail on are in flight
	 * (positions wrap at size: no division on the packet path). */
	uint16_t *order;
	uint32_t order_head, order_tail;

	enum vq_err broken; /* VQ_OK while healthy; sticky */
	struct vq_stats stats;

	/* Inflight tracking (vq_set_inflight()); NULL = off, then pop and
	 * push test this one pointer per call. */
	struct vq_infl *infl;
	/* Dirty log of the used area (vq_set_dirty_log()); log_bitmap NULL =
	 * off, then the push paths test one pointer per call. */
	uint8_t *log_bitmap;
	uint64_t log_bytes;
	uint64_t log_used_gpa;

	union {
		struct {
			const struct virtq_desc *desc;
			const struct virtq_avail *avail;
			struct virtq_used *used;
			const le16 *used_event;	 /* in the avail ring, after ring[size] */
			le16 *avail_event;	 /* in the used ring, after ring[size] */
			uint16_t mask;		 /* size - 1 */
			uint16_t last_avail;	 /* next avail entry to read */
			uint16_t avail_idx_seen; /* avail->idx as last read */
			uint16_t used_idx;	 /* next used entry to write */
			uint16_t signalled_used; /* used_idx at the last notify decision */
			uint32_t pushed_since_signal;
		} split;
		struct {
			struct pvirtq_desc *desc;
			const struct pvirtq_event_suppress *driver; /* driver area: read */
			struct pvirtq_event_suppress *device;	    /* device area: written */
			uint16_t avail_pos;			    /* next descriptor to read */
			bool avail_wrap; /* driver wrap counter expected at avail_pos */
			/* Where the last pop found no descriptor available
			 * (dry_set): vq_packed_enable_kicks_for_more()'s limit. */
			uint16_t dry_pos;
			bool dry_wrap, dry_set;
			uint16_t used_pos;	    /* next position to write a used descriptor */
			bool used_wrap;		    /* device ring wrap counter */
			uint32_t desc_in_flight;    /* ring descriptors popped, not pushed */
			uint32_t used_since_signal; /* descriptors used since the last notify
						       decision */
		} packed;
	};
};

/* A resubmitted packed chain's descriptor, copied from the region. */
struct vq_infl_rdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

/*
 * Inflight tracking state (vq_set_inflight()). The region is the
 * frontend's and untrusted: it is read only while recovering, into the
 * private copies below; afterwards the ring code only writes it.
 */
struct vq_infl {
	union {
		struct vq_inflight_split *split;
		struct vq_inflight_packed *packed;
	} region;	    /* shared with the frontend */
	uint64_t counter;   /* next pop's counter */
	uint16_t *resubmit; /* split: heads; packed: buffer ids; to hand out
			       again, in counter order */
	uint32_t resubmit_n, resubmit_pos;
	/* Chains popped from the avail ring since recovery (vq_unpop()
	 * gives back an avail chain while this is > 0, else a resubmitted
	 * one: every resubmitted chain goes out before the first avail one). */
	uint64_t avail_pops;

	/* Packed only (inflight_packed.c). */
	uint16_t *next;		     /* [size] shadow of desc[].next: free list, chain links */
	uint16_t free_head;	     /* shadow of free_head (size = empty) */
	uint16_t *head_of;	     /* [size] by buffer id: head entry of its chain */
	uint16_t *last_of;	     /* [size] by buffer id: last entry of its chain */
	uint16_t *rnum;		     /* [size] per resubmitted chain: descriptors */
	struct vq_infl_rdesc *rdesc; /* [size] their descriptors, chain after chain */
	uint32_t rdesc_pos, rdesc_n; /* next to hand out; total */
};

/* @pos + @n within a ring of @size entries; @pos < size, @n <= size. */
static inline uint32_t ring_pos_add(uint32_t pos, uint32_t n, uint32_t size)
{
	pos += n;
	return pos >= size ? pos - size : pos;
}

/*
 * The decision both ends make after publishing: must the peer be told?
 * Device side: a used-buffer notification (§2.7.7, §2.8.10); driver side:
 * a kick (§2.7.13.4, §2.8.21.2). The full fence makes what was published
 * visible before the peer's suppression field is read, or both sides could
 * decide to wait. @count entries were published since the last decision
 * (> 0), ending at @now / (@pos, @wrap).
 */
static inline bool vq_split_peer_wants(const le16 *peer_flags, uint16_t no_flag,
				       const le16 *peer_event, bool event_idx, uint32_t count,
				       uint16_t now, uint16_t old)
{
	ring_full_fence();
	if (!event_idx)
		return !(ring_load(peer_flags) & no_flag);
	/* 2^16 - 1 or more since the last decision: the window is ambiguous. */
	if (count >= 0xffff)
		return true;
	return vring_need_event(ring_load(peer_event), now, old);
}

/* Packed: reserved flag values count as ENABLE; DESC counts only with
 * EVENT_IDX; a whole ring or more since the last decision always notifies. */
static inline bool vq_packed_peer_wants(const struct pvirtq_event_suppress *peer, bool event_idx,
					uint32_t count, uint32_t size, uint16_t pos, bool wrap)
{
	ring_full_fence();
	uint16_t flags = ring_load(&peer->flags) & 0x3u;
	if (flags == RING_EVENT_FLAGS_DISABLE)
		return false;
	if (flags != RING_EVENT_FLAGS_DESC || !event_idx || count >= size)
		return true;
	return vring_packed_need_event(ring_load(&peer->off_wrap), pos, wrap, count, size);
}

/* @fn(..., @dir) with @dir a constant: one inlined instance of a packet
 * path per queue direction, so the direction rules fold away. */
#define VQ_BY_DIR(dir, fn, ...)                                                                    \
	((dir) == VQ_DIR_DEVICE_READS	 ? fn(__VA_ARGS__, VQ_DIR_DEVICE_READS)                    \
	 : (dir) == VQ_DIR_DEVICE_WRITES ? fn(__VA_ARGS__, VQ_DIR_DEVICE_WRITES)                   \
					 : fn(__VA_ARGS__, VQ_DIR_BOTH))

/* Break the queue (sticky) and return the negative code. */
static inline int vq_break(struct vq *q, enum vq_err why)
{
	if (q->broken == VQ_OK)
		q->broken = why;
	return -(int)why;
}

/* Mark [off, off + len) of the used area in the dirty log (logging on). */
static inline void vq_log_used(const struct vq *q, uint64_t off, uint64_t len)
{
	gmem_log_dirty(q->log_bitmap, q->log_bytes, q->log_used_gpa + off, len);
}

/* Mark @id in flight with @ndesc descriptors. The caller checked
 * id < size and inflight_ndesc[id] == 0. */
static inline void vq_inflight_claim(struct vq *q, uint16_t id, uint16_t ndesc)
{
	q->inflight_ndesc[id] = ndesc ? ndesc : 1;
	q->in_flight++;
	if (q->in_order) {
		q->order[q->order_head] = id;
		q->order_head = ring_pos_add(q->order_head, 1, q->size);
	}
}

/* IN_ORDER: the order[] position of the first chain of the batch of
 * @count (<= size) just released by vq_push_in_order(). */
static inline uint32_t vq_order_batch_first(const struct vq *q, unsigned count)
{
	return q->order_tail >= count ? q->order_tail - count : q->order_tail + q->size - count;
}

/* Count a chain handed out with drop code @err (> 0): the pop paths and
 * the burst pops account drops the same way; `popped` is the callers'. */
static inline void vq_stats_drop(struct vq *q, unsigned err)
{
	q->stats.dropped++;
	q->stats.drop_reason[err]++;
}

/* Release @id; returns the ndesc it held. */
static inline uint16_t vq_inflight_release(struct vq *q, uint16_t id)
{
	uint16_t n = (uint16_t)q->inflight_ndesc[id];
	q->inflight_ndesc[id] = 0;
	q->in_flight--;
	return n;
}

/*
 * Chain walking shared by both formats, inline because it runs for every
 * descriptor. vq_elem_reset() clears the element's output fields;
 * vq_elem_add_buf() applies every per-buffer rule: length not zero
 * (HOSTILE A9/A10), no address wrap (A13), direction allowed on this queue
 * and readable-before-writable order (§2.7.4.2, §2.7.5.1; A17–A19),
 * translation of the whole range into guest memory with the split into
 * iovecs done against the element's remaining capacity (A11, A12, A14,
 * A20), and 64-bit running totals that refuse more than 4 GiB (A15).
 * Return VQ_OK or a drop-class code; the element is then unusable except
 * for its id.
 */
static inline void vq_elem_reset(struct vq_elem *e)
{
	e->nout = 0;
	e->nin = 0;
	e->ndesc = 0;
	e->err = VQ_OK;
	e->out_len = 0;
	e->in_len = 0;
}

static inline enum vq_err vq_elem_add_buf(struct vq *q, struct vq_elem *e, uint64_t addr,
					  uint32_t len, bool writable)
{
	if (len == 0)
		return VQ_ERR_DESC_ZERO_LEN;
	if (addr + len - 1 < addr)
		return VQ_ERR_DESC_ADDR_OVERFLOW;
	if (writable) {
		if (q->dir == VQ_DIR_DEVICE_READS)
			return VQ_ERR_DESC_WRITE_FORBIDDEN;
		if ((uint64_t)e->in_len + len > UINT32_MAX)
			return VQ_ERR_CHAIN_LEN_OVERFLOW;
	} else {
		if (q->dir == VQ_DIR_DEVICE_WRITES)
			return VQ_ERR_DESC_READ_FORBIDDEN;
		if (e->nin)
			return VQ_ERR_DESC_READ_AFTER_WRITE;
		if ((uint64_t)e->out_len + len > UINT32_MAX)
			return VQ_ERR_CHAIN_LEN_OVERFLOW;
	}
	unsigned used = (unsigned)e->nout + e->nin;
	int n = 1;
	void *host = gmem_translate_hinted(q->mem, addr, len, q->mem_hint);
	if (likely(host && used < e->iov_cap)) {
		e->iov[used].iov_base = host;
		e->iov[used].iov_len = len;
	} else {
		n = gmem_translate(q->mem, addr, len, e->iov + used, e->iov_cap - used,
				   &q->mem_hint);
		if (unlikely(n < 0))
			return n == -ENOBUFS ? VQ_ERR_CHAIN_TOO_MANY_SEGMENTS
					     : VQ_ERR_DESC_OUT_OF_MEMORY;
	}
	if (writable) {
		e->nin += n;
		e->in_len += len;
	} else {
		e->nout += n;
		e->out_len += len;
	}
	return VQ_OK;
}

/*
 * The single-descriptor fast path of the burst pops (and, through
 * vq_elem_set_single(), of vq_pop()): when one direct descriptor passes
 * every per-buffer rule of vq_elem_add_buf() at once, the element is
 * filled; otherwise nothing is touched and the full walk runs and names
 * the exact error. Its loop invariants are read once per burst: the
 * region q->mem_hint names (size 0: no region, or max_chain 0, so nothing
 * passes). A full walk may move the hint: load again after one. The burst
 * loops are instantiated per direction (@dir a constant), so the direction
 * rule (§2.7.5.1) folds into the flags test and the element's counts
 * become constants on the tx and rx queues.
 */
struct vq_burst_fast {
	uint64_t gpa, size, end; /* end = gpa + size, modulo 2^64 */
	uint8_t *hva;
};

static inline void vq_burst_fast_load(const struct vq *q, struct vq_burst_fast *f)
{
	const struct gmem_table *t = q->mem;
	f->gpa = 0;
	f->size = 0;
	f->end = 0;
	f->hva = NULL;
	if (q->mem_hint < t->n && q->max_chain) {
		const struct gmem_region *r = &t->r[q->mem_hint];
		f->gpa = r->gpa;
		f->size = r->size;
		f->end = r->gpa + r->size;
		f->hva = r->hva;
	}
}

/* Fill @e with the one direct descriptor (@addr, @len, @flags) and id @id
 * when it passes every rule; else return false with @e untouched. NEXT,
 * INDIRECT and WRITE have the same values in both formats (§2.7.5, §2.8). */
static inline __attribute__((always_inline)) bool
vq_burst_fast_single(const struct vq_burst_fast *f, struct vq_elem *e, uint16_t id, uint64_t addr,
		     uint32_t len, uint16_t flags, const enum vq_dir dir)
{
	const uint16_t chain = VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT;
	bool writable;
	if (dir == VQ_DIR_DEVICE_READS) {
		if (flags & (chain | VIRTQ_DESC_F_WRITE))
			return false;
		writable = false;
	} else if (dir == VQ_DIR_DEVICE_WRITES) {
		if ((flags & (chain | VIRTQ_DESC_F_WRITE)) != VIRTQ_DESC_F_WRITE)
			return false;
		writable = true;
	} else {
		if (flags & chain)
			return false;
		writable = flags & VIRTQ_DESC_F_WRITE;
	}
	/* gmem_translate_hinted(): off < size, then len <= size - off,
	 * which is end - addr (mod 2^64) and needs one register less. */
	uint64_t off = addr - f->gpa;
	if (len == 0 || e->iov_cap == 0 || off >= f->size || len > f->end - addr)
		return false;
	/* ndesc, nout, nin and err in one store (GCC does not merge them in
	 * the burst loops by itself). */
	const struct {
		uint16_t ndesc, nout, nin, err;
	} counts = {1, !writable, writable, VQ_OK};
	_Static_assert(offsetof(struct vq_elem, err) == offsetof(struct vq_elem, ndesc) + 6,
		       "vq_elem counts are contiguous");
	struct iovec *iov = e->iov;
	e->id = id;
	__builtin_memcpy((char *)e + offsetof(struct vq_elem, ndesc), &counts, sizeof(counts));
	e->out_len = writable ? 0 : len;
	e->in_len = writable ? len : 0;
	iov[0].iov_base = f->hva + off;
	iov[0].iov_len = len;
	return true;
}

/*
 * The single-descriptor fast path of vq_pop() (both formats): the burst's
 * rules for one descriptor (@addr, @len, @flags; NEXT and INDIRECT
 * excluded by the caller), with the region the queue's hint names. Return
 * true with @e filled, or false with @e untouched, so the full walk runs
 * and names the exact error.
 */
static inline bool vq_elem_set_single(struct vq *q, struct vq_elem *e, uint16_t id, uint64_t addr,
				      uint32_t len, uint16_t flags)
{
	struct vq_burst_fast f;
	vq_burst_fast_load(q, &f);
	return vq_burst_fast_single(&f, e, id, addr, len, flags, q->dir);
}

/* vq_inflight_claim()'s bookkeeping for the @n chains at @e taken by a
 * burst fast path, whose inflight_ndesc entries are set already: the
 * in-flight count, and with IN_ORDER their ids in pop order. */
static inline void vq_burst_claimed(struct vq *q, const struct vq_elem *e, uint32_t n)
{
	q->in_flight += n;
	if (q->in_order) {
		uint16_t *order = q->order;
		uint32_t head = q->order_head;
		for (uint32_t i = 0; i < n; i++) {
			order[head] = e[i].id;
			head = head + 1 == q->size ? 0 : head + 1;
		}
		q->order_head = head;
	}
}

/* Read entry @i of an indirect table at @table_gpa into @out: the 16 raw
 * bytes, at their offsets, so @out may be a struct virtq_desc or a struct
 * pvirtq_desc. @table_host is the table's host address when it lies in one
 * region, else NULL (then it is read from guest memory piecewise). */
enum vq_err vq_read_indirect_entry(struct vq *q, const void *table_host, uint64_t table_gpa,
				   uint32_t i, void *out);

/* Per-format engines, device side. */
int vq_split_start(struct vq *q, const struct vq_state *s);
int vq_split_pop(struct vq *q, struct vq_elem *e);
/*
 * vq_split_pop_burst() / vq_packed_pop_burst() - the engines of
 * vq_pop_burst() for a queue that is not broken, with @n > 0 and inflight
 * tracking off (the _tracked variants below when it is on). Exactly what
 * popping one chain at a time with vq_split_pop() / vq_packed_pop() does,
 * drop accounting included; the front adds the returned count to
 * stats.popped. Return: elements filled (drops included); *err 0, or the
 * negative broken code that stopped the burst.
 */
unsigned vq_split_pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err);
/* The same with inflight tracking on, once every recovered chain is out:
 * each chain popped is recorded before the burst returns. */
unsigned vq_split_pop_burst_tracked(struct vq *q, struct vq_elem *elems, unsigned n, int *err);
void vq_split_unpop(struct vq *q, const struct vq_elem *e);
int vq_split_set_inflight(struct vq *q, struct vq_inflight_split *r);
void vq_split_push(struct vq *q, const struct vq_used *used, unsigned n);
void vq_split_push_batch_entry(struct vq *q, uint16_t last_id, uint32_t last_len, unsigned count,
			       uint32_t total_ndesc);
bool vq_split_notify_prepare(struct vq *q);
void vq_split_disable_kicks(struct vq *q);
bool vq_split_enable_kicks(struct vq *q);
bool vq_split_enable_kicks_for_more(struct vq *q);
bool vq_split_avail_pending(struct vq *q);
void vq_split_get_state(const struct vq *q, struct vq_state *s);

int vq_packed_start(struct vq *q, const struct vq_state *s);
/* inflight_packed.c: the packed region (vhost-user.rst "Inflight I/O
 * tracking", packed). set_inflight recovers; record marks a chain just
 * popped from the ring at @pos; unrecord undoes the newest record
 * (vq_unpop()); put_begin / put_end bracket the used-ring writes of a batch
 * of chains (@used, or with @used NULL the IN_ORDER batch of @n chains just
 * released), put_begin taking the device position after the batch. */
int vq_packed_set_inflight(struct vq *q, struct vq_inflight_packed *r);
void vq_packed_infl_record(struct vq *q, const struct vq_elem *e, uint16_t pos);
void vq_packed_infl_unrecord(struct vq *q, uint16_t id);
void vq_packed_infl_put_begin(struct vq *q, const struct vq_used *used, unsigned n, uint16_t pos,
			      bool wrap);
void vq_packed_infl_put_end(struct vq *q, const struct vq_used *used, unsigned n);
void vq_infl_free(struct vq_infl *in);
int vq_packed_pop(struct vq *q, struct vq_elem *e);
unsigned vq_packed_pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err);
unsigned vq_packed_pop_burst_tracked(struct vq *q, struct vq_elem *elems, unsigned n, int *err);
void vq_packed_unpop(struct vq *q, const struct vq_elem *e);
void vq_packed_push(struct vq *q, const struct vq_used *used, unsigned n);
void vq_packed_push_batch_entry(struct vq *q, uint16_t last_id, uint32_t last_len, unsigned count,
				uint32_t total_ndesc);
bool vq_packed_notify_prepare(struct vq *q);
void vq_packed_disable_kicks(struct vq *q);
bool vq_packed_enable_kicks(struct vq *q);
bool vq_packed_enable_kicks_for_more(struct vq *q);
bool vq_packed_avail_pending(struct vq *q);
void vq_packed_get_state(const struct vq *q, struct vq_state *s);

/* ------------------------------------------------------------------ driver */

/* Private, never shared with the device (HOSTILE H5: the driver trusts only
 * its shadow copies). */
struct vq_drv_id {
	void *token;
	/* in_len .. spare: one 8-byte word (vq_drv_id_start()) */
	uint32_t in_len; /* writable bytes of the chain */
	uint16_t ndesc;	 /* ring descriptors the chain occupies */
	bool in_flight;
	uint8_t spare;
	/* seq, dend: one 8-byte word */
	uint32_t seq;  /* end order; visible to the device once < pub_seq */
	uint32_t dend; /* ring descriptors ended up to and including this
			  chain (free-running): IN_ORDER batch sizes in O(1) */
	uint16_t tail; /* split: last descriptor of the chain (to free it) */
};
_Static_assert(__builtin_offsetof(struct vq_drv_id, ndesc) ==
			       __builtin_offsetof(struct vq_drv_id, in_len) + 4 &&
		       __builtin_offsetof(struct vq_drv_id, in_flight) ==
			       __builtin_offsetof(struct vq_drv_id, in_len) + 6 &&
		       __builtin_offsetof(struct vq_drv_id, spare) ==
			       __builtin_offsetof(struct vq_drv_id, in_len) + 7 &&
		       __builtin_offsetof(struct vq_drv_id, dend) ==
			       __builtin_offsetof(struct vq_drv_id, seq) + 4,
	       "vq_drv_id word layout");

/* The burst path's record of a one-descriptor chain: what chain_end
 * writes field by field, in three stores (token, in_len | ndesc 1 |
 * in_flight, seq | dend); with !writable the middle word is a constant. */
static inline void vq_drv_id_start(struct vq_drv_id *rec, void *token, uint32_t in_len,
				   uint32_t seq, uint32_t dend)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w1 = (uint64_t)in_len | 1ull << 32 | 1ull << 48, w2 = seq | (uint64_t)dend << 32;

	rec->token = token;
	__builtin_memcpy((char *)rec + __builtin_offsetof(struct vq_drv_id, in_len), &w1,
			 sizeof(w1));
	__builtin_memcpy((char *)rec + __builtin_offsetof(struct vq_drv_id, seq), &w2, sizeof(w2));
#else
	rec->token = token;
	rec->in_len = in_len;
	rec->ndesc = 1;
	rec->in_flight = true;
	rec->spare = 0;
	rec->seq = seq;
	rec->dend = dend;
#endif
}

struct vq_drv {
	enum vq_format format;
	uint32_t size;
	bool event_idx;
	bool indirect_ok;
	bool in_order;
	uint8_t *indirect; /* size * indirect_max descriptors, or NULL */
	uint64_t indirect_gpa;
	uint32_t indirect_max;

	struct vq_drv_id *ids; /* [size] */
	uint16_t *next_free;   /* split: shadow of desc.next, free list; packed: free id list */
	uint16_t free_head;
	uint32_t num_free;  /* split: free descriptors; packed: free ids */
	uint32_t desc_free; /* free ring descriptors (both formats) */
	uint32_t in_flight; /* chains ended and not reaped */
	uint32_t end_seq;   /* chains ended so far (free-running) */
	uint32_t dend_seq;  /* ring descriptors ended so far (free-running) */
	uint32_t pub_seq;   /* end_seq at the last publish: chains below it are visible */

	/* IN_ORDER: ids in the order they were ended; in_flight entries from
	 * position order_tail on (positions wrap at size). A used entry closes a batch
	 * of batch_left chains ending with batch_last_id; they are handed out
	 * over one or more reap calls. */
	uint16_t *order;
	uint32_t order_head, order_tail;
	uint32_t batch_left;
	uint32_t batch_last_len;

	/* The chain being built. */
	struct {
		bool open;
		bool indirect;
		bool has_writable;
		uint16_t id;	/* split: head descriptor; packed: buffer id */
		uint16_t ndesc; /* descriptors added so far */
		uint16_t last;	/* split: last descriptor index; packed: its ring position */
		uint16_t last_flags;
		uint16_t head_flags;
		uint16_t start_pos; /* packed: ring position of the head */
		bool start_wrap;
		uint64_t in_len;
	} cur;

	enum vq_err broken;

	union {
		struct {
			struct virtq_desc *desc;
			struct virtq_avail *avail;
			const struct virtq_used *used;
			le16 *used_event;
			const le16 *avail_event;
			uint16_t *avail_shadow;	 /* [size]: last value written per avail slot */
			uint32_t avail_nonident; /* slots s whose shadow is not s (0: the
						    IN_ORDER one-descriptor steady state) */
			uint16_t mask;
			uint16_t avail_idx;	/* next avail slot (not yet published) */
			uint16_t published_idx; /* avail->idx as last published */
			uint16_t kicked_idx;	/* published_idx at the last kick decision */
			uint32_t added_since_kick;
			uint16_t last_used; /* next used entry to read */
			uint16_t avail_flags_shadow;
			uint16_t next_desc; /* IN_ORDER: next descriptor to hand out */
		} split;
		struct {
			struct pvirtq_desc *desc;
			struct pvirtq_event_suppress *driver;	    /* written by us */
			const struct pvirtq_event_suppress *device; /* read */
			uint16_t next_pos;			    /* next ring position to fill */
			bool wrap;				    /* driver ring wrap counter */
			bool have_pending; /* a published-to-be head whose flags wait */
			uint16_t pending_pos;
			uint16_t pending_flags;
			uint32_t added_since_kick; /* descriptors made available since the last kick
						      decision */
			uint16_t last_used_pos;
			bool used_wrap;
		} packed;
	};
};

/* Packed §2.8.1: a used descriptor has AVAIL == USED == the device wrap
 * counter @wrap (one compare). */
static inline bool vq_drv_packed_desc_is_used(uint16_t flags, bool wrap)
{
	uint16_t both = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
	return (flags & both) == (wrap ? both : 0);
}

static inline int vq_drv_break(struct vq_drv *d, enum vq_err why)
{
	if (d->broken == VQ_OK)
		d->broken = why;
	return -(int)why;
}

/* The shared counters after an add burst of @added chains (records and
 * ring already written): once per burst. */
static inline void vq_drv_burst_done(struct vq_drv *d, unsigned added, uint32_t end_seq,
				     uint32_t dend_seq)
{
	d->end_seq = end_seq;
	d->dend_seq = dend_seq;
	d->desc_free -= added;
	d->in_flight += added;
}

int vq_drv_split_init(struct vq_drv *d, const struct vq_drv_config *cfg);
int vq_drv_split_chain_start(struct vq_drv *d);
int vq_drv_split_chain_add(struct vq_drv *d, uint64_t gpa, uint32_t len, bool writable);
int vq_drv_split_chain_end(struct vq_drv *d);
void vq_drv_split_chain_rewind(struct vq_drv *d);
unsigned vq_drv_split_add_burst(struct vq_drv *d, const struct vq_drv_buf *bufs,
				void *const *tokens, unsigned n, bool writable);
void vq_drv_split_publish(struct vq_drv *d);
bool vq_drv_split_kick_prepare(struct vq_drv *d);
int vq_drv_split_reap(struct vq_drv *d, struct vq_drv_used *out, unsigned n);
void vq_drv_split_disable_used_notify(struct vq_drv *d);
bool vq_drv_split_enable_used_notify(struct vq_drv *d);

int vq_drv_packed_init(struct vq_drv *d, const struct vq_drv_config *cfg);
int vq_drv_packed_chain_start(struct vq_drv *d);
int vq_drv_packed_chain_add(struct vq_drv *d, uint64_t gpa, uint32_t len, bool writable);
int vq_drv_packed_chain_end(struct vq_drv *d);
void vq_drv_packed_chain_rewind(struct vq_drv *d);
unsigned vq_drv_packed_add_burst(struct vq_drv *d, const struct vq_drv_buf *bufs,
				 void *const *tokens, unsigned n, bool writable);
void vq_drv_packed_publish(struct vq_drv *d);
bool vq_drv_packed_kick_prepare(struct vq_drv *d);
int vq_drv_packed_reap(struct vq_drv *d, struct vq_drv_used *out, unsigned n);
void vq_drv_packed_disable_used_notify(struct vq_drv *d);
bool vq_drv_packed_enable_used_notify(struct vq_drv *d);

/*
 * Shared by the driver engines.
 *
 * vq_drv_check_used() validates a used (id, len) against the shadow state:
 * VQ_OK or a VQ_ERR_USED_* code (the caller breaks the queue).
 *
 * Without IN_ORDER, vq_drv_complete_one() releases @id and fills @out.
 *
 * With IN_ORDER, a used entry for @id closes the batch of every chain ended
 * before it (§2.7.9, §2.8.8). vq_drv_open_in_order_batch() counts that
 * batch (chains and ring descriptors, so the engine can advance its used
 * position at once) and arms d->batch_*; vq_drv_drain_in_order_batch() then
 * hands out up to @n of its chains (skipped ones with their full writable
 * length) and returns how many. The engine drains before reading the ring.
 */
static inline enum vq_err vq_drv_check_used(const struct vq_drv *d, uint32_t id, uint32_t len)
{
	if (id >= d->size)
		return VQ_ERR_USED_ID_OUT_OF_RANGE;
	/* Ended but not yet published is not in flight for the device: it
	 * cannot have used a chain it was never shown (HOSTILE H1). */
	if (!d->ids[id].in_flight || (int32_t)(d->ids[id].seq - d->pub_seq) >= 0)
		return VQ_ERR_USED_ID_NOT_IN_FLIGHT;
	if (len > d->ids[id].in_len)
		return VQ_ERR_USED_LEN_TOO_LARGE;
	return VQ_OK;
}

static inline void vq_drv_complete_one(struct vq_drv *d, uint16_t id, uint32_t len,
				       struct vq_drv_used *out)
{
	struct vq_drv_id *rec = &d->ids[id];
	out->token = rec->token;
	out->id = id;
	out->len = len;
	rec->in_flight = false;
	rec->token = NULL;
	d->desc_free += rec->ndesc;
	d->in_flight--;
}

/* O(1): the batch runs from the oldest chain in flight (order_tail) to
 * @id; end order is FIFO order, so the free-running seq and dend of the
 * two records give the chain and descriptor counts. The caller checked
 * that @id is in flight, so it is in the FIFO and the counts are at most
 * in_flight / the descriptors in flight. */
static inline void vq_drv_open_in_order_batch(struct vq_drv *d, uint16_t id, uint32_t len,
					      uint32_t *nchains, uint32_t *ndesc)
{
	const struct vq_drv_id *first = &d->ids[d->order[d->order_tail]], *last = &d->ids[id];
	*nchains = last->seq - first->seq + 1;
	*ndesc = last->dend - (first->dend - first->ndesc);
	d->batch_left = *nchains;
	d->batch_last_len = len;
}
unsigned vq_drv_drain_in_order_batch(struct vq_drv *d, struct vq_drv_used *out, unsigned n);

#endif
