/* SPDX-License-Identifier: MIT */
/*
 * vqnet virtqueues: VIRTIO 1.2 split (§2.7) and packed (§2.8) rings behind
 * one interface, for both ends.
 *
 *  - Device side (struct vq): pop chains that an untrusted driver made
 *    available, push used entries, decide about notifications.
 *  - Driver side (struct vq_drv): build chains, publish them, decide about
 *    kicks, reap used entries.
 *
 * Ring code knows no file descriptors: it *reports* whether a notification
 * is needed and the layer above signals eventfds. Nothing on the pop/push
 * paths allocates or makes a system call.
 *
 * Threading: one queue (either side) is used by one thread at a time. The
 * two sides of one ring normally run on two threads (or processes) and
 * synchronise only through the ring memory, with C11 acquire/release and the
 * full fences the spec requires (commented at each use).
 *
 * Errors: functions return 0 (or a count) on success and -VQ_ERR_* on
 * failure. vq_strerror() names each code. Two classes matter on the device
 * side (see vq_err_is_drop()):
 *  - drop: the chain's head/buffer id is valid but its content is bad. The
 *    element still carries its id; complete it with length 0 (vq_push(q,
 *    id, 0)) and carry on. The queue keeps working.
 *  - broken: the ring structure itself is corrupt. The queue is marked
 *    broken (sticky until vq_free / a new vq_new) and every later call fails
 *    with -VQ_ERR_BROKEN; the layer above reports it (VRING_ERR).
 */
#ifndef VQNET_VIRTQ_H
#define VQNET_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vqnet/gmem.h>
#include <vqnet/virtio.h> /* VIRTIO_F_*, VQ_MAX_QUEUE_SIZE */

#ifdef __cplusplus
extern "C" {
#endif

/* The one way vqnet tests feature bits: bit numbers, never masks. */
static inline bool vq_has_feature(uint64_t features, unsigned bit)
{
	return bit < 64 && (features >> bit) & 1u;
}

enum vq_format {
	VQ_FORMAT_SPLIT = 0,
	VQ_FORMAT_PACKED = 1,
};

enum vq_err {
	VQ_OK = 0,
	/* --- drop class: the chain is returned to the caller to complete
	 *     with length 0 (first..last drop code are contiguous) --- */
	VQ_ERR_DESC_OUT_OF_MEMORY,	/* buffer not wholly inside guest memory */
	VQ_ERR_DESC_ADDR_OVERFLOW,	/* addr + len wraps 64 bits */
	VQ_ERR_DESC_ZERO_LEN,		/* a descriptor of length 0 */
	VQ_ERR_DESC_READ_AFTER_WRITE,	/* device-readable after device-writable, §2.7.4.2 */
	VQ_ERR_DESC_WRITE_FORBIDDEN,	/* device-writable on a queue the device only reads */
	VQ_ERR_DESC_READ_FORBIDDEN,	/* device-readable on a queue the device only writes */
	VQ_ERR_DESC_NEXT_OUT_OF_RANGE,	/* split: next >= queue size (or >= table length) */
	VQ_ERR_CHAIN_LOOP,		/* split: the chain revisits a descriptor */
	VQ_ERR_CHAIN_TOO_LONG,		/* more descriptors than the queue size / max_chain */
	VQ_ERR_CHAIN_TOO_MANY_SEGMENTS, /* more iovecs than the element's capacity */
	VQ_ERR_CHAIN_LEN_OVERFLOW,	/* readable or writable total > UINT32_MAX */
	VQ_ERR_INDIRECT_NOT_NEGOTIATED, /* INDIRECT without VIRTIO_F_INDIRECT_DESC */
	VQ_ERR_INDIRECT_EMPTY,		/* indirect table of length 0 */
	VQ_ERR_INDIRECT_BAD_LEN,	/* table length not a multiple of 16 */
	VQ_ERR_INDIRECT_TOO_LARGE,	/* more entries than the queue size / max_chain */
	VQ_ERR_INDIRECT_OUT_OF_MEMORY,	/* table not wholly inside guest memory */
	VQ_ERR_INDIRECT_NESTED,		/* split: INDIRECT inside an indirect table, §2.7.5.3.1
					   (packed ignores the flag there, §2.8.7) */
	VQ_ERR_INDIRECT_WITH_NEXT,	/* INDIRECT with NEXT (split), or in a list of several
					   descriptors (packed, §2.8.19) */
	VQ_ERR_CONSUMED, /* a chain handed out again after a restart whose content the
			    device had taken for good (vq_inflight_consume()): complete it,
			    never process it again */
	/* --- broken class: the queue stops --- */
	VQ_ERR_HEAD_OUT_OF_RANGE,	/* split: avail entry >= size; packed: buffer id >= size */
	VQ_ERR_HEAD_IN_FLIGHT,		/* the same head / buffer id popped twice */
	VQ_ERR_AVAIL_IDX_JUMP,		/* split: avail->idx more than size ahead */
	VQ_ERR_PACKED_CHAIN_INCOMPLETE, /* packed: a list's later descriptor is not available */
	VQ_ERR_PACKED_RING_OVERRUN,	/* packed: more descriptors in flight than the ring holds */
	VQ_ERR_RING_OUT_OF_MEMORY,	/* a ring part not wholly inside one memory region */
	VQ_ERR_RING_MISALIGNED,		/* a ring part misaligned for its format */
	VQ_ERR_RING_OVERLAP,		/* two ring parts overlap */
	VQ_ERR_BROKEN,			/* the queue was broken earlier */
	/* --- driver side: what a hostile device can do (the queue breaks) --- */
	VQ_ERR_USED_ID_OUT_OF_RANGE,  /* used id >= size */
	VQ_ERR_USED_ID_NOT_IN_FLIGHT, /* used id never issued or already reaped */
	VQ_ERR_USED_LEN_TOO_LARGE,    /* used length > the chain's writable bytes */
	VQ_ERR_USED_IDX_JUMP, /* split: used->idx ahead by more than the published chains in flight
			       */
	/* --- API use --- */
	VQ_ERR_INVALID_ARG, /* bad configuration or call */
	VQ_ERR_NO_SPACE,    /* driver: not enough free descriptors */
	VQ_ERR_NO_MEMORY,   /* allocation at set-up failed */
	VQ_ERR__COUNT
};

#define VQ_ERR_FIRST_DROP VQ_ERR_DESC_OUT_OF_MEMORY
#define VQ_ERR_LAST_DROP  VQ_ERR_CONSUMED

/* A message for a code, positive or negative; never NULL. */
const char *vq_strerror(int err);
/* True for codes of the drop class (accepts positive or negative). */
bool vq_err_is_drop(int err);

/* ------------------------------------------------------------------------
 * Ring layout helpers (both sides)
 * ------------------------------------------------------------------------ */

/* Byte sizes of the three ring parts of a queue (split: descriptor table,
 * avail ring and used ring with the EVENT_IDX fields included; packed:
 * descriptor ring and the two event suppression structures) and their
 * alignments. Return: 0 or -VQ_ERR_INVALID_ARG for a size the format
 * does not allow (split: a power of two up to VQ_MAX_QUEUE_SIZE; packed:
 * 1..VQ_MAX_QUEUE_SIZE). */
struct vq_layout {
	uint64_t desc_bytes, driver_bytes, device_bytes;
	uint32_t desc_align, driver_align, device_align;
};
int vq_layout(enum vq_format format, uint32_t size, struct vq_layout *out);

/* ------------------------------------------------------------------------
 * Device side
 * ------------------------------------------------------------------------ */

/* Which descriptors the device accepts on a queue: virtio-net's transmitq is
 * read-only for the device and its receiveq write-only (§2.7.5.1). */
enum vq_dir {
	VQ_DIR_BOTH = 0,
	VQ_DIR_DEVICE_READS = 1,  /* writable descriptors are dropped (tx) */
	VQ_DIR_DEVICE_WRITES = 2, /* readable descriptors are dropped (rx) */
};

struct vq_config {
	enum vq_format format;
	uint32_t size;	     /* queue size, see vq_layout() */
	uint64_t features;   /* negotiated; INDIRECT_DESC, EVENT_IDX and IN_ORDER are used */
	uint64_t desc_gpa;   /* split: descriptor table;  packed: descriptor ring */
	uint64_t driver_gpa; /* split: avail ring;        packed: driver event suppression */
	uint64_t device_gpa; /* split: used ring;         packed: device event suppression */
	enum vq_dir dir;
	uint32_t max_chain; /* most descriptors per chain, indirect table entries included;
			       0 = size (small queues with big indirect tables set it) */
};

/* Ring position, to stop a device and start it again where it stopped
 * (vhost-user GET/SET_VRING_BASE). Split: free-running 16-bit indices, the
 * wrap flags unused. Packed: positions 0..size-1 plus wrap counters. */
struct vq_state {
	uint16_t avail_idx; /* next avail entry / descriptor the device reads */
	uint16_t used_idx;  /* next used entry / descriptor the device writes */
	bool avail_wrap;    /* packed: driver ring wrap counter expected next */
	bool used_wrap;	    /* packed: device ring wrap counter */
};

/* The initial state of a fresh ring (§2.8.1: wrap counters start at 1). */
void vq_state_init(enum vq_format format, struct vq_state *s);

/* One popped chain. The caller sets iov and iov_cap once; vq_pop fills the
 * rest. Device-readable ("out") iovecs come first, then device-writable
 * ("in") ones. The iovecs point into guest memory of the table the queue
 * held at pop time: valid until the caller drops that table. */
struct vq_elem {
	struct iovec *iov; /* caller-provided array */
	uint16_t iov_cap;  /* caller-provided capacity */
	uint16_t id;	   /* what vq_push() takes: split head index, packed buffer id */
	uint16_t ndesc;	   /* packed: ring descriptors the chain occupies; split: 1 */
	uint16_t nout;	   /* iov[0 .. nout): device-readable */
	uint16_t nin;	   /* iov[nout .. nout + nin): device-writable */
	uint16_t err;	   /* VQ_OK, or the drop reason (enum vq_err) */
	uint32_t out_len;  /* total readable bytes */
	uint32_t in_len;   /* total writable bytes */
};

/* A completion for vq_push_burst(). */
struct vq_used {
	uint16_t id;
	uint32_t len; /* bytes written into the chain's writable part */
};

/* Per-queue counters, written only by the thread that owns the queue. */
struct vq_stats {
	uint64_t popped;	    /* chains handed to the caller (good and dropped) */
	uint64_t dropped;	    /* chains handed back with a drop error */
	uint64_t pushed;	    /* used entries completed */
	uint64_t notify_sent;	    /* vq_notify_prepare() said yes */
	uint64_t notify_suppressed; /* vq_notify_prepare() said no */
	uint64_t drop_reason[VQ_ERR_LAST_DROP + 1]; /* dropped, by code */
};

struct vq;

/**
 * vq_new() - start the device side of a queue.
 * @mem: guest memory; the queue takes its own reference.
 * @start: where to resume (vq_get_state() of a stopped queue), or NULL for a
 *         fresh ring.
 * Checks that every ring part lies wholly inside one region and is aligned.
 * Return: 0 and *out, or -VQ_ERR_INVALID_ARG / -VQ_ERR_RING_* / -VQ_ERR_NO_MEMORY.
 */
int vq_new(const struct vq_config *cfg, struct gmem_table *mem, const struct vq_state *start,
	   struct vq **out);
void vq_free(struct vq *q);

/**
 * vq_set_mem() - switch to a new memory table at a quiet point (no element
 * popped from the old table still in use by the caller). Rings are looked
 * up again; if they are no longer inside memory the queue breaks.
 * Return: 0 or -VQ_ERR_RING_OUT_OF_MEMORY.
 */
int vq_set_mem(struct vq *q, struct gmem_table *mem);

/**
 * vq_pop() - take the next available chain.
 * Return: 1 with @e filled (e->err == VQ_OK); 0 when nothing is available;
 * a negative drop code with e->id valid and e->err set (complete it with
 * length 0); or a negative broken code (the queue is now broken).
 */
int vq_pop(struct vq *q, struct vq_elem *e);

/**
 * vq_pop_burst() - pop up to @n chains into @elems in ring order. Dropped
 * chains are included with elems[i].err != VQ_OK, so in-order completion
 * stays possible. Stops early when nothing more is available or the queue
 * breaks (then *err, if given, receives the negative code; else 0).
 * Return: number of elements filled.
 */
unsigned vq_pop_burst(struct vq *q, struct vq_elem *elems, unsigned n, int *err);

/**
 * vq_unpop() - give back the chain popped last (and not pushed), so the
 * next vq_pop() returns it again: a receive path that cannot fill the
 * chains it took (not enough buffers for a frame yet) leaves them to the
 * driver instead of completing them empty. Several chains are given back
 * newest first, and only chains popped after every chain completed since:
 * giving one back after completing a chain popped later breaks the ring
 * (with or without inflight tracking). Return: 0, or -VQ_ERR_INVALID_ARG
 * (@e not in flight, or, with IN_ORDER, not the newest pop) /
 * -VQ_ERR_BROKEN. Without IN_ORDER the LIFO order is the caller's to keep.
 */
int vq_unpop(struct vq *q, const struct vq_elem *e);

/**
 * vq_push() / vq_push_burst() - complete chains and publish the used
 * entries with one release store. Ids must be in flight (popped, not yet
 * pushed); an id that is not is a caller bug: -VQ_ERR_INVALID_ARG, nothing
 * is written. Return: 0 or negative.
 */
int vq_push(struct vq *q, uint16_t id, uint32_t len);
int vq_push_burst(struct vq *q, const struct vq_used *used, unsigned n);

/**
 * vq_push_in_order() - with VIRTIO_F_IN_ORDER: complete the @count oldest
 * chains in flight with a single used entry (§2.7.9, §2.8.8). The skipped
 * chains count as wholly used; @last_len is the length of the last one.
 * Return: 0, or -VQ_ERR_INVALID_ARG (IN_ORDER not negotiated, count 0 or
 * more than in flight).
 */
int vq_push_in_order(struct vq *q, unsigned count, uint32_t last_len);

/**
 * vq_notify_prepare() - after pushing: must the driver get a used-buffer
 * notification now? Honours EVENT_IDX (used_event / off_wrap) or the flags.
 * Includes the full fence §2.7.7 requires between publishing and reading
 * the driver's suppression field. Not a query: it changes the queue's
 * state (the entries pushed since the previous call are taken as
 * notified, and the counters move), so call it once per batch, then
 * signal the call fd when it says yes. Named after Linux's
 * virtqueue_kick_prepare().
 */
bool vq_notify_prepare(struct vq *q);

/**
 * vq_disable_kicks() / vq_enable_kicks() - available-buffer notification
 * suppression (§2.7.7, §2.8.10). enable returns true when buffers became
 * available while kicks were off: the caller must poll again rather than
 * sleep (the re-check after a full fence closes the race).
 */
void vq_disable_kicks(struct vq *q);
bool vq_enable_kicks(struct vq *q);
/*
 * vq_enable_kicks_for_more() - kicks on for buffers beyond every one
 * available now, for a device that looked at them all and found too few
 * (a merged receive frame needing more than the guest posted: the chains
 * were given back with vq_unpop(), so vq_enable_kicks() would report them
 * again and the device would never sleep). Returns true only when more
 * buffers became available meanwhile.
 */
bool vq_enable_kicks_for_more(struct vq *q);

/**
 * vq_set_dirty_log() - log the device's writes to the used area for live
 * migration (vhost-user "Migration", VHOST_VRING_F_LOG). While @bitmap is
 * set, every later write of the device to its used area is marked in
 * @bitmap (GMEM_LOG_PAGE pages, see gmem_log_dirty()) after the write, at
 * @used_log_gpa + the offset of the bytes written in that area. Split: the
 * used ring (elements, idx, flags and avail_event). Packed: @used_log_gpa
 * is the device event suppression area's (vhost-user's log_guest_addr is
 * vring.used, that area, for a packed ring); the used descriptors written
 * in the descriptor ring are marked at their own guest address
 * (vq_config.desc_gpa + 16 * position).
 * @bitmap NULL turns logging off. Call only while no thread pushes on @q.
 * Writes into buffers are the caller's to log (by gpa).
 */
void vq_set_dirty_log(struct vq *q, uint8_t *bitmap, uint64_t bitmap_bytes, uint64_t used_log_gpa);

/**
 * vq_set_inflight() - vhost-user inflight I/O tracking (vhost-user.rst
 * "Inflight I/O tracking"), split or packed, with or without
 * VIRTIO_F_IN_ORDER: @region is this queue's QueueRegionSplit or
 * QueueRegionPacked (@bytes long, lib/spec/vq_inflight.h) in the buffer the
 * frontend keeps across a backend crash. Call once on a fresh queue
 * (nothing popped yet), before any thread pops. The region's previous
 * state is recovered first, per the spec's reconnect steps: a last batch
 * that was being completed is finished if it reached the used ring, else
 * (packed) rolled back; the chains still marked in flight are handed out
 * again by the next vq_pop() calls, in the order they were first popped,
 * before any new chain. The avail position is set past them: split,
 * used->idx + their number; packed, the region's used position and wrap
 * counter (which replace the queue's start state, as a frontend cannot
 * restore a packed ring's position) + their descriptors. A packed chain is
 * handed out again from the region's copy of its descriptors (the ring
 * slots may hold used descriptors by now), checked like any chain. From
 * then on each pop marks its chain in flight and each completion —
 * vq_push_in_order() batches included, every chain of the batch — clears
 * it, per the spec's algorithm; vq_unpop() unmarks a chain given back
 * (a resubmitted one stays marked and is handed out again first).
 * A region never initialised (version 0) is initialised at the queue's
 * position. The region is untrusted: walks are bounded by the queue size;
 * a packed region that lies (ids out of range or repeated, lists that loop
 * or overlap, counts or positions out of range) is refused and left as it
 * was. When off, pop and push test one pointer per call.
 * Return: 0, or -VQ_ERR_INVALID_ARG (a region too small for the format,
 * of another version or queue size, refused content, a used queue),
 * -VQ_ERR_NO_MEMORY.
 */
int vq_set_inflight(struct vq *q, void *region, size_t bytes);

/**
 * vq_inflight_consume() - with inflight tracking on: the device has taken
 * the content of chain @id (popped, not yet pushed) for good, e.g. a
 * transmitted frame handed to the host, so a restart before its push must
 * not process it again: handed out again, it comes with the drop code
 * VQ_ERR_CONSUMED (complete it with length 0, §2.7.8 / §2.8.9: the
 * driver gets its buffer back). One plain store into the region; call it
 * just before the content leaves (a kill in between loses it, a kill
 * after never repeats it). No-op when tracking is off or @id is not in
 * flight.
 */
void vq_inflight_consume(struct vq *q, uint16_t id);
/* Is inflight tracking on (vq_set_inflight())? */
bool vq_inflight_tracked(const struct vq *q);

/* Chains recovered by vq_set_inflight() not yet handed out again. */
unsigned vq_inflight_resubmit_pending(const struct vq *q);

/* Is at least one chain available? A cheap peek, no validation. */
bool vq_avail_pending(struct vq *q);

/* Number of chains popped and not yet pushed. */
unsigned vq_in_flight(const struct vq *q);

/* Current position (to resume later with vq_new(..., start)). */
void vq_get_state(const struct vq *q, struct vq_state *s);

bool vq_is_broken(const struct vq *q);
/* The code that broke the queue, or VQ_OK. */
enum vq_err vq_broken_reason(const struct vq *q);
const struct vq_stats *vq_get_stats(const struct vq *q);
enum vq_format vq_get_format(const struct vq *q);
uint32_t vq_get_size(const struct vq *q);

/* ------------------------------------------------------------------------
 * Driver side
 * ------------------------------------------------------------------------ */

struct vq_drv_config {
	enum vq_format format;
	uint32_t size;
	uint64_t features; /* negotiated: INDIRECT_DESC, EVENT_IDX, IN_ORDER */
	/* Ring memory (laid out per vq_layout()), owned by the caller, shared
	 * with the device; vq_drv_new() initialises it. */
	void *desc, *driver_area, *device_area;
	/* Optional indirect tables: @size tables of @indirect_max descriptors
	 * each, one per id, owned by the caller and shared with the device;
	 * indirect_gpa is the device's address of the first one. */
	void *indirect;
	uint64_t indirect_gpa;
	uint32_t indirect_max;
};

struct vq_drv;

/* A reaped completion. */
struct vq_drv_used {
	void *token; /* what vq_drv_chain_end() was given */
	uint16_t id;
	uint32_t len; /* bytes the device wrote, checked <= the writable bytes */
};

int vq_drv_new(const struct vq_drv_config *cfg, struct vq_drv **out);
void vq_drv_free(struct vq_drv *d);

/**
 * Building a chain: start, add descriptors (readable ones first), end.
 * vq_drv_chain_start() with @indirect puts the chain's descriptors in the
 * id's indirect table (needs VIRTIO_F_INDIRECT_DESC and cfg->indirect).
 * vq_drv_chain_add() returns -VQ_ERR_NO_SPACE when the ring (or the indirect
 * table) is full and -VQ_ERR_INVALID_ARG for a readable descriptor after a
 * writable one or length 0; the chain stays open, so the caller may
 * vq_drv_chain_rewind() it. vq_drv_chain_end() returns the chain's id (>= 0).
 * Ended chains become visible to the device only at vq_drv_publish().
 */
int vq_drv_chain_start(struct vq_drv *d, bool indirect);
int vq_drv_chain_add(struct vq_drv *d, uint64_t gpa, uint32_t len, bool device_writable);
int vq_drv_chain_end(struct vq_drv *d, void *token);
void vq_drv_chain_rewind(struct vq_drv *d);

/* One buffer of a chain for vq_drv_add_chain(). */
struct vq_drv_buf {
	uint64_t gpa;
	uint32_t len;
};

/**
 * vq_drv_add_chain() - start, add and end a chain in one call: @nout
 * device-readable buffers then @nin device-writable ones, from @bufs. The
 * fast path for callers that have the buffer list at hand. Return: the id
 * (>= 0), or -VQ_ERR_NO_SPACE (nothing is left behind) / -VQ_ERR_INVALID_ARG.
 */
int vq_drv_add_chain(struct vq_drv *d, const struct vq_drv_buf *bufs, unsigned nout, unsigned nin,
		     bool indirect, void *token);

/**
 * vq_drv_add_burst() - add @n one-descriptor chains in one call: chain i
 * is bufs[i], device-writable when @device_writable, with token tokens[i].
 * The packet-path fast path (a transmit burst of one-buffer frames, a
 * receive refill of mergeable buffers): no per-chain start/add/end, the
 * ring's bookkeeping done once per call. Chains are added in order until
 * the ring is full; like vq_drv_add_chain() they become visible at the
 * next vq_drv_publish(). Return: the number added (0..n), or
 * -VQ_ERR_INVALID_ARG when bufs[0] has length 0 or a chain is open
 * (nothing added; a later zero-length entry stops the burst there) /
 * -VQ_ERR_BROKEN.
 */
int vq_drv_add_burst(struct vq_drv *d, const struct vq_drv_buf *bufs, void *const *tokens,
		     unsigned n, bool device_writable);

/* Make every ended chain available with one release store (split: avail->idx;
 * packed: the first new head's flags, written last). */
void vq_drv_publish(struct vq_drv *d);

/* After publish: must the device be kicked? Full fence first (§2.7.10,
 * §2.8.10), then avail_event / off_wrap or flags. Not a query: it takes
 * the chains published since the previous call as announced, so call it
 * once per publish, then kick when it says yes (Linux's
 * virtqueue_kick_prepare()). */
bool vq_drv_kick_prepare(struct vq_drv *d);

/**
 * vq_drv_reap() - take up to @n used entries. Return: number taken (0 when
 * none), or a negative -VQ_ERR_USED_* when the device broke the queue. When
 * entries were taken before the fault, they are returned first and the
 * next call returns -VQ_ERR_BROKEN; vq_drv_broken_reason() names the fault.
 * A used entry for a chain ended but not yet published is a fault too.
 */
int vq_drv_reap(struct vq_drv *d, struct vq_drv_used *out, unsigned n);

/* Used-buffer notification suppression. enable returns true when used
 * entries are already pending (reap again instead of sleeping). */
void vq_drv_disable_used_notify(struct vq_drv *d);
bool vq_drv_enable_used_notify(struct vq_drv *d);

unsigned vq_drv_free_descs(const struct vq_drv *d); /* descriptors free in the ring */
unsigned vq_drv_in_flight(const struct vq_drv *d); /* chains ended (published or not), not reaped */
bool vq_drv_is_broken(const struct vq_drv *d);
enum vq_err vq_drv_broken_reason(const struct vq_drv *d);

#ifdef __cplusplus
}
#endif
#endif
