/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the driver side (split and packed) against a device
 * that may lie — theory of operation
 *
 * The driver posts chains the input describes (including invalid calls:
 * length 0, readable after writable, indirect without the feature, chains
 * that run out of room), publishes them and reaps. The "device" is the
 * input too: honest completions (written exactly as a correct device
 * would, IN_ORDER batches included), hostile used entries (any id, any
 * length, any used->idx / flags at any position) and raw writes anywhere
 * in the ring memory, including the parts a device must never write
 * (HOSTILE H1–H5). Ring parts are separate mallocs of their exact sizes,
 * so ASan catches any access outside them.
 *
 * Input: byte 0: bit 0 packed, bit 1 EVENT_IDX, bit 2 INDIRECT_DESC,
 * bit 3 IN_ORDER, bit 4 indirect tables present; byte 1: queue size
 * (split 1 << (x % 9), packed 1 + x); byte 2: indirect table entries
 * (1 + x % 16); then a script, one operation byte (low nibble: which;
 * high nibble: its own use) and its operands each.
 *
 * Chains are built with start/add/end, with vq_drv_add_chain() or in
 * bursts with vq_drv_add_burst().
 *
 * Invariants: every call's return code is the one the driver's model
 * predicts (INVALID_ARG / NO_SPACE / BROKEN); a reaped entry has an id in
 * flight with its token, a length <= the chain's writable bytes, and with
 * IN_ORDER comes in the order the chains were ended; in-flight and
 * free-descriptor counts match the model; a reap error is a USED_* code
 * (or BROKEN), breaks the queue for good, with that reason. While only
 * honest completions happened ("untainted"), reap must return exactly the
 * completed entries with their lengths, in order, and never fail.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include <vqnet/virtq.h>

#include "spec/virtio_ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DR_MAX_SIZE 256
#define DR_MAX_OPS  3000

/* Build with -DFZ_TRACE to see what an input does (README.md). */
#ifdef FZ_TRACE
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

struct chain {
	bool in_flight;
	uintptr_t token;
	uint32_t in_len;
	uint16_t ring_ndesc;
};

struct expect {
	uint16_t id;
	uint32_t len;
};

struct dr {
	enum vq_format format;
	uint32_t size;
	bool event_idx, indirect_ok, in_order;
	uint32_t indirect_max;
	uint8_t *desc, *drv_area, *dev_area, *indirect;
	size_t desc_bytes, drv_bytes, dev_bytes, ind_bytes;
	struct vq_drv *d;

	struct chain ids[DR_MAX_SIZE];
	unsigned nflight;
	uint32_t ring_used;
	uintptr_t next_token;
	uint32_t descs_ended; /* ring descriptors of all chains ended (free-running) */
	/* Ended ids in end order (the IN_ORDER FIFO): [head, tail). */
	uint16_t fifo[DR_MAX_SIZE];
	unsigned fifo_head, fifo_n;
	/* Ended since the last publish, and published but not completed by
	 * the honest device. */
	uint16_t unpublished[DR_MAX_SIZE], dev_pending[DR_MAX_SIZE];
	unsigned nunpublished, ndev_pending;
	/* Completions the honest device wrote, not reaped yet (untainted). */
	struct expect exp[DR_MAX_SIZE * 2];
	unsigned exp_head, exp_n;
	bool tainted;
	enum vq_err broken;

	/* Honest device cursor. */
	uint16_t dev_used_idx; /* split */
	uint16_t dev_pos;      /* packed */
	bool dev_wrap;

	struct fuzz_input in;
};

static void check_counts(struct dr *s)
{
	FUZZ_CHECK(vq_drv_in_flight(s->d) == s->nflight);
	FUZZ_CHECK(vq_drv_free_descs(s->d) == s->size - s->ring_used);
	FUZZ_CHECK(vq_drv_is_broken(s->d) == (s->broken != VQ_OK));
	FUZZ_CHECK(vq_drv_broken_reason(s->d) == s->broken);
}

static void remove_id(uint16_t *list, unsigned *n, uint16_t id)
{
	unsigned k = 0;
	for (unsigned i = 0; i < *n; i++)
		if (list[i] != id)
			list[k++] = list[i];
	*n = k;
}

/* ------------------------------------------------------------ chains */

/* The expected result of adding descriptor @k of an open chain. */
static int expect_add(const struct dr *s, bool indirect, unsigned k, uint32_t len, bool w,
		      bool has_w)
{
	if (len == 0 || (!w && has_w))
		return -VQ_ERR_INVALID_ARG;
	if (indirect ? k >= s->indirect_max : vq_drv_free_descs(s->d) <= k)
		return -VQ_ERR_NO_SPACE;
	return 0;
}

static void op_chain(struct dr *s)
{
	uint8_t spec = fin_u8(&s->in);
	unsigned n = 1 + (spec & 7);
	bool indirect = spec & 0x80, rewind = (spec & 0x60) == 0x60;
	unsigned free_before = vq_drv_free_descs(s->d);
	int rc = vq_drv_chain_start(s->d, indirect);
	if (s->broken)
		FUZZ_CHECK(rc == -VQ_ERR_BROKEN);
	else if (indirect && !s->indirect_ok)
		FUZZ_CHECK(rc == -VQ_ERR_INVALID_ARG);
	else if (free_before == 0)
		FUZZ_CHECK(rc == -VQ_ERR_NO_SPACE);
	else
		FUZZ_CHECK(rc == 0);
	if (rc)
		return;
	unsigned k = 0;
	bool has_w = false;
	uint32_t in_len = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t b = fin_u8(&s->in);
		bool w = b & 1;
		uint32_t len = b & 2 ? 0 : 1 + (b >> 2) * 37u;
		uint64_t gpa = 0x100000ull * (i + 1) + fin_u8(&s->in);
		int want = expect_add(s, indirect, k, len, w, has_w);
		rc = vq_drv_chain_add(s->d, gpa, len, w);
		FUZZ_CHECK(rc == want);
		if (rc == 0) {
			k++;
			has_w |= w;
			in_len += w ? len : 0;
		}
	}
	if (k == 0 || rewind) {
		if (k == 0) /* ending an empty chain is refused */
			FUZZ_CHECK(vq_drv_chain_end(s->d, NULL) == -VQ_ERR_INVALID_ARG);
		vq_drv_chain_rewind(s->d);
		FUZZ_CHECK(vq_drv_free_descs(s->d) == free_before);
		return;
	}
	uintptr_t token = ++s->next_token;
	rc = vq_drv_chain_end(s->d, (void *)token);
	TRACE("chain %lu: id %d, %u descriptors%s, in_len %u\n", (unsigned long)token, rc, k,
	      indirect ? " (indirect)" : "", in_len);
	FUZZ_CHECK(rc >= 0 && (uint32_t)rc < s->size);
	uint16_t id = (uint16_t)rc;
	FUZZ_CHECK(!s->ids[id].in_flight);
	s->ids[id] = (struct chain){.in_flight = true,
				    .token = token,
				    .in_len = in_len,
				    .ring_ndesc = (uint16_t)(indirect ? 1 : k)};
	s->nflight++;
	s->ring_used += s->ids[id].ring_ndesc;
	s->descs_ended += s->ids[id].ring_ndesc;
	s->fifo[(s->fifo_head + s->fifo_n++) % DR_MAX_SIZE] = id;
	s->unpublished[s->nunpublished++] = id;
}

/* The same through vq_drv_add_chain(): nothing is left behind on error. */
static void op_add_chain(struct dr *s)
{
	uint8_t spec = fin_u8(&s->in);
	unsigned nout = spec & 7, nin = (spec >> 3) & 7, n = nout + nin;
	bool indirect = spec & 0x80;
	struct vq_drv_buf bufs[14];
	uint32_t in_len = 0;
	bool zero = false;
	for (unsigned i = 0; i < n; i++) {
		uint8_t b = fin_u8(&s->in);
		bufs[i] = (struct vq_drv_buf){.gpa = 0x100000ull * (i + 1) + b,
					      .len = b & 2 ? 0 : 1 + (b >> 2) * 37u};
		zero |= bufs[i].len == 0;
		in_len += i >= nout ? bufs[i].len : 0;
	}
	unsigned free_before = vq_drv_free_descs(s->d);
	int want;
	if (n == 0 || n > s->size + s->indirect_max)
		want = -VQ_ERR_INVALID_ARG;
	else if (!indirect && n > free_before)
		want = s->broken ? -VQ_ERR_BROKEN : -VQ_ERR_NO_SPACE;
	else if (s->broken)
		want = -VQ_ERR_BROKEN;
	else if (indirect && !s->indirect_ok)
		want = -VQ_ERR_INVALID_ARG;
	else if (free_before == 0)
		want = -VQ_ERR_NO_SPACE;
	else if (zero)
		want = -VQ_ERR_INVALID_ARG; /* the first zero length, before any overflow */
	else if (indirect && n > s->indirect_max)
		want = -VQ_ERR_NO_SPACE;
	else
		want = 0;
	if (zero && indirect && !s->broken && s->indirect_ok && free_before &&
	    n <= s->size + s->indirect_max) {
		/* Which comes first, a zero length or a full table? */
		unsigned first_zero = 0;
		while (bufs[first_zero].len)
			first_zero++;
		want = first_zero > s->indirect_max ? -VQ_ERR_NO_SPACE : -VQ_ERR_INVALID_ARG;
	}
	uintptr_t token = s->next_token + 1;
	int rc = vq_drv_add_chain(s->d, bufs, nout, nin, indirect, (void *)token);
	TRACE("add_chain(%u+%u%s): %d, expected %d; free %u, lens", nout, nin,
	      indirect ? " indirect" : "", rc, want, free_before);
	for (unsigned i = 0; i < n; i++)
		TRACE(" %u", bufs[i].len);
	TRACE("\n");
	if (rc < 0) {
		FUZZ_CHECK(rc == want);
		FUZZ_CHECK(vq_drv_free_descs(s->d) == free_before);
		return;
	}
	FUZZ_CHECK(want == 0);
	FUZZ_CHECK((uint32_t)rc < s->size);
	uint16_t id = (uint16_t)rc;
	FUZZ_CHECK(!s->ids[id].in_flight);
	s->next_token = token;
	s->ids[id] = (struct chain){.in_flight = true,
				    .token = token,
				    .in_len = in_len,
				    .ring_ndesc = (uint16_t)(indirect ? 1 : n)};
	s->nflight++;
	s->ring_used += s->ids[id].ring_ndesc;
	s->descs_ended += s->ids[id].ring_ndesc;
	s->fifo[(s->fifo_head + s->fifo_n++) % DR_MAX_SIZE] = id;
	s->unpublished[s->nunpublished++] = id;
}

/*
 * vq_drv_add_burst(): up to 31 one-descriptor chains, sometimes with a
 * chain open (refused). The ids it handed out are read back where the
 * model can know them: packed, the descriptor's id just written at the
 * next position; split with IN_ORDER, the next descriptor in table order.
 * A split ring without IN_ORDER (private free list) adds through
 * vq_drv_add_chain() instead.
 */
static void op_add_burst(struct dr *s)
{
	uint8_t spec = fin_u8(&s->in);
	unsigned n = spec & 31;
	bool w = spec & 0x80, open = spec & 0x40;
	struct vq_drv_buf bufs[31];
	void *toks[31];
	if (s->format == VQ_FORMAT_SPLIT && !s->in_order) {
		op_add_chain(s);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t b = fin_u8(&s->in);
		bufs[i] = (struct vq_drv_buf){.gpa = 0x100000ull * (i + 1) + b,
					      .len = b & 2 ? 0 : 1 + (b >> 2) * 37u};
		toks[i] = (void *)(s->next_token + 1 + i);
	}
	unsigned free_before = vq_drv_free_descs(s->d);
	if (open && !s->broken && free_before) {
		FUZZ_CHECK(vq_drv_chain_start(s->d, false) == 0);
		FUZZ_CHECK(vq_drv_add_burst(s->d, bufs, toks, n, w) == -VQ_ERR_INVALID_ARG);
		vq_drv_chain_rewind(s->d);
		FUZZ_CHECK(vq_drv_free_descs(s->d) == free_before);
		return;
	}
	unsigned cap = n < free_before ? n : free_before, want = 0;
	while (want < cap && bufs[want].len)
		want++;
	int rc = vq_drv_add_burst(s->d, bufs, toks, n, w);
	TRACE("add_burst(%u%s): %d; free %u\n", n, w ? " writable" : "", rc, free_before);
	if (s->broken) {
		FUZZ_CHECK(rc == -VQ_ERR_BROKEN);
		return;
	}
	if (cap && bufs[0].len == 0) {
		FUZZ_CHECK(rc == -VQ_ERR_INVALID_ARG);
		FUZZ_CHECK(vq_drv_free_descs(s->d) == free_before);
		return;
	}
	FUZZ_CHECK(rc == (int)want);
	for (unsigned i = 0; i < want; i++) {
		uint32_t pos = s->descs_ended % s->size;
		uint16_t id;
		if (s->format == VQ_FORMAT_PACKED)
			memcpy(&id, s->desc + 16u * pos + 12, 2);
		else
			id = (uint16_t)pos;
		FUZZ_CHECK(id < s->size && !s->ids[id].in_flight);
		s->ids[id] = (struct chain){.in_flight = true,
					    .token = s->next_token + 1 + i,
					    .in_len = w ? bufs[i].len : 0,
					    .ring_ndesc = 1};
		s->nflight++;
		s->ring_used++;
		s->descs_ended++;
		s->fifo[(s->fifo_head + s->fifo_n++) % DR_MAX_SIZE] = id;
		s->unpublished[s->nunpublished++] = id;
	}
	s->next_token += n;
}

static void op_publish(struct dr *s)
{
	TRACE("publish (%u chains)\n", s->nunpublished);
	vq_drv_publish(s->d);
	if (s->broken)
		return; /* publish does nothing on a broken queue */
	for (unsigned i = 0; i < s->nunpublished; i++)
		s->dev_pending[s->ndev_pending++] = s->unpublished[i];
	s->nunpublished = 0;
}

/* ------------------------------------------------------------ reaping */

static void judge_used(struct dr *s, const struct vq_drv_used *u)
{
	FUZZ_CHECK(u->id < s->size);
	struct chain *c = &s->ids[u->id];
	FUZZ_CHECK(c->in_flight);
	FUZZ_CHECK((uintptr_t)u->token == c->token);
	FUZZ_CHECK(u->len <= c->in_len);
	if (s->in_order) {
		FUZZ_CHECK(s->fifo_n && s->fifo[s->fifo_head] == u->id);
		s->fifo_head = (s->fifo_head + 1) % DR_MAX_SIZE;
		s->fifo_n--;
	} else {
		/* Keep the FIFO to the ids in flight (used by nothing else). */
		unsigned k = 0;
		uint16_t tmp[DR_MAX_SIZE];
		for (unsigned i = 0; i < s->fifo_n; i++) {
			uint16_t x = s->fifo[(s->fifo_head + i) % DR_MAX_SIZE];
			if (x != u->id)
				tmp[k++] = x;
		}
		s->fifo_head = 0;
		s->fifo_n = k;
		memcpy(s->fifo, tmp, k * sizeof(tmp[0]));
	}
	if (!s->tainted) {
		FUZZ_CHECK(s->exp_n > 0);
		const struct expect *e = &s->exp[s->exp_head];
		FUZZ_CHECK(e->id == u->id && e->len == u->len);
		s->exp_head = (s->exp_head + 1) % (DR_MAX_SIZE * 2);
		s->exp_n--;
	}
	c->in_flight = false;
	s->nflight--;
	s->ring_used -= c->ring_ndesc;
	remove_id(s->dev_pending, &s->ndev_pending, u->id);
	remove_id(s->unpublished, &s->nunpublished, u->id);
}

static void op_reap(struct dr *s, unsigned n)
{
	struct vq_drv_used out[17];
	memset(out, 0, sizeof(out));
	int rc = vq_drv_reap(s->d, out, n);
	TRACE("reap(%u): %d %s\n", n, rc, rc < 0 ? vq_strerror(rc) : "");
	for (int i = 0; i < rc; i++)
		TRACE("  id %u len %u token %p\n", out[i].id, out[i].len, out[i].token);
	if (vq_drv_is_broken(s->d))
		TRACE("  queue broken: %s\n", vq_strerror(vq_drv_broken_reason(s->d)));
	if (rc >= 0) {
		FUZZ_CHECK((unsigned)rc <= n);
		for (int i = 0; i < rc; i++)
			judge_used(s, &out[i]);
		if (!s->broken && vq_drv_is_broken(s->d)) {
			/* A fault after good entries: they come first, the
			 * error with the next call. */
			FUZZ_CHECK(s->tainted && rc > 0);
			s->broken = vq_drv_broken_reason(s->d);
			FUZZ_CHECK(s->broken >= VQ_ERR_USED_ID_OUT_OF_RANGE &&
				   s->broken <= VQ_ERR_USED_IDX_JUMP);
			return;
		}
		/* "0 when none": an honest device's entries are never left
		 * behind by a reap that returns nothing. (A short count with
		 * entries still pending is allowed: split returns after
		 * draining the rest of an IN_ORDER batch.) */
		if (!s->tainted && rc == 0)
			FUZZ_CHECK(s->exp_n == 0);
		return;
	}
	FUZZ_CHECK(s->tainted); /* an honest device never breaks the queue */
	if (s->broken) {
		FUZZ_CHECK(rc == -VQ_ERR_BROKEN);
		return;
	}
	FUZZ_CHECK(-rc >= VQ_ERR_USED_ID_OUT_OF_RANGE && -rc <= VQ_ERR_USED_IDX_JUMP);
	s->broken = (enum vq_err)(-rc);
	FUZZ_CHECK(vq_drv_is_broken(s->d) && vq_drv_broken_reason(s->d) == s->broken);
	FUZZ_CHECK(vq_drv_reap(s->d, out, 1) == -VQ_ERR_BROKEN);
	FUZZ_CHECK(vq_drv_chain_start(s->d, false) == -VQ_ERR_BROKEN);
}

/* ------------------------------------------------------------ device */

static void split_used_write(struct dr *s, uint16_t slot, uint32_t id, uint32_t len)
{
	uint8_t *u = s->dev_area + 4 + 8u * (slot % s->size);
	memcpy(u, &id, 4);
	memcpy(u + 4, &len, 4);
}

static void split_used_idx(struct dr *s, uint16_t idx)
{
	__atomic_store_n((uint16_t *)(s->dev_area + 2), idx, __ATOMIC_RELEASE);
}

static void packed_used_write(struct dr *s, uint16_t pos, uint16_t id, uint32_t len, uint16_t flags)
{
	uint8_t *d = s->desc + 16u * (pos % s->size);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &id, 2);
	__atomic_store_n((uint16_t *)(d + 14), flags, __ATOMIC_RELEASE);
}

static void packed_dev_advance(struct dr *s, unsigned n)
{
	unsigned p = s->dev_pos + n;
	if (p >= s->size) {
		p -= s->size;
		s->dev_wrap = !s->dev_wrap;
	}
	s->dev_pos = (uint16_t)p;
}

/* exp[] is the untainted model only: once tainted, judge_used() no longer
 * pops it, so an honest completion recorded then would stay for good (and
 * an honest device that kept completing overflowed it). Untainted, its
 * entries are distinct ids in flight, so fewer than the ring's size. */
static void push_expect(struct dr *s, uint16_t id, uint32_t len)
{
	if (s->tainted)
		return;
	FUZZ_CHECK(s->exp_n < s->size);
	s->exp[(s->exp_head + s->exp_n++) % (DR_MAX_SIZE * 2)] = (struct expect){id, len};
}

/* A correct device completes @count published chains: the oldest with
 * IN_ORDER (optionally as one batch entry), else any. */
static void op_honest(struct dr *s)
{
	uint8_t b = fin_u8(&s->in);
	unsigned count = 1 + (b & 3);
	bool batch = s->in_order && (b & 4);
	if (count > s->ndev_pending)
		count = s->ndev_pending;
	if (count == 0)
		return;
	uint16_t ids[4];
	uint32_t lens[4];
	unsigned ndesc = 0;
	for (unsigned i = 0; i < count; i++) {
		unsigned j = s->in_order ? 0 : fin_u8(&s->in) % s->ndev_pending;
		ids[i] = s->dev_pending[j];
		remove_id(s->dev_pending, &s->ndev_pending, ids[i]);
		const struct chain *c = &s->ids[ids[i]];
		lens[i] = batch && i + 1 < count ? c->in_len : fin_u32(&s->in) % (c->in_len + 1);
		ndesc += c->ring_ndesc;
		push_expect(s, ids[i], lens[i]);
	}
	TRACE("honest: %u chains%s, first id %u, last id %u len %u\n", count,
	      batch ? " (batch)" : "", ids[0], ids[count - 1], lens[count - 1]);
	if (s->format == VQ_FORMAT_SPLIT) {
		if (batch) {
			split_used_write(s, s->dev_used_idx, ids[count - 1], lens[count - 1]);
			s->dev_used_idx = (uint16_t)(s->dev_used_idx + count);
		} else {
			for (unsigned i = 0; i < count; i++)
				split_used_write(s, s->dev_used_idx++, ids[i], lens[i]);
		}
		split_used_idx(s, s->dev_used_idx);
		return;
	}
	uint16_t used = s->dev_wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0;
	if (batch) {
		uint32_t len = lens[count - 1];
		packed_used_write(s, s->dev_pos, ids[count - 1], len,
				  (uint16_t)(used | (len ? VIRTQ_DESC_F_WRITE : 0)));
		packed_dev_advance(s, ndesc);
		return;
	}
	for (unsigned i = 0; i < count; i++) {
		packed_used_write(s, s->dev_pos, ids[i], lens[i],
				  (uint16_t)(used | (lens[i] ? VIRTQ_DESC_F_WRITE : 0)));
		packed_dev_advance(s, s->ids[ids[i]].ring_ndesc);
		used = s->dev_wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0;
	}
}

/* A lying device: a used entry with any id and length, at its cursor or
 * anywhere, with any index movement or flags. */
static void op_hostile(struct dr *s)
{
	uint8_t b = fin_u8(&s->in);
	uint32_t id = b & 1 ? fin_u32(&s->in) : fin_u8(&s->in);
	uint32_t len = b & 2 ? fin_u32(&s->in) : fin_u8(&s->in);
	TRACE("hostile: id %u len %u mode %#x\n", id, len, b);
	s->tainted = true;
	if (s->format == VQ_FORMAT_SPLIT) {
		uint16_t slot = b & 4 ? fin_u16(&s->in) : s->dev_used_idx;
		split_used_write(s, slot, id, len);
		int8_t delta = (int8_t)fin_u8(&s->in);
		s->dev_used_idx = (uint16_t)(s->dev_used_idx + (b & 8 ? delta : 1));
		split_used_idx(s, b & 16 ? fin_u16(&s->in) : s->dev_used_idx);
		return;
	}
	uint16_t pos = b & 4 ? fin_u16(&s->in) % s->size : s->dev_pos;
	uint16_t flags =
		b & 8 ? fin_u16(&s->in)
		      : (uint16_t)((s->dev_wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0) |
				   VIRTQ_DESC_F_WRITE);
	packed_used_write(s, pos, (uint16_t)id, len, flags);
	if (b & 16)
		packed_dev_advance(s, 1 + fin_u8(&s->in) % s->size);
}

/* Raw bytes anywhere in the ring memory (a device must not write the
 * descriptor table or avail ring; the driver must not care, H5). */
static void op_raw(struct dr *s)
{
	uint8_t b = fin_u8(&s->in);
	uint8_t *base[4] = {s->desc, s->drv_area, s->dev_area, s->indirect};
	size_t len[4] = {s->desc_bytes, s->drv_bytes, s->dev_bytes, s->ind_bytes};
	unsigned r = b % 4;
	if (!base[r])
		r = 2;
	size_t off = fin_u16(&s->in) % len[r];
	size_t n = 1 + fin_u8(&s->in) % 32;
	TRACE("raw write: area %u offset %zu, %zu bytes\n", r, off, n);
	for (size_t i = 0; i < n && off + i < len[r]; i++)
		base[r][off + i] = fin_u8(&s->in);
	/* Writes into the used ring / device area look like device output. */
	if (r == 2 || (s->format == VQ_FORMAT_PACKED && r == 0) || !(b & 0x80))
		s->tainted = true;
}

/* ------------------------------------------------------------ set-up */

static void *exact(size_t n)
{
	void *p = calloc(1, n);
	FUZZ_CHECK(p);
	return p;
}

static void setup(struct dr *s, const uint8_t *data)
{
	s->format = data[0] & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT;
	s->size = s->format == VQ_FORMAT_SPLIT ? 1u << (data[1] % 9) : 1u + data[1];
	s->event_idx = data[0] & 2;
	bool ind_feat = data[0] & 4;
	s->in_order = data[0] & 8;
	bool tables = data[0] & 16;
	s->indirect_max = 1 + data[2] % 16;
	s->indirect_ok = ind_feat && tables;
	struct vq_layout l;
	FUZZ_CHECK(vq_layout(s->format, s->size, &l) == 0);
	s->desc_bytes = l.desc_bytes;
	s->drv_bytes = l.driver_bytes;
	s->dev_bytes = l.device_bytes;
	s->desc = exact(s->desc_bytes);
	s->drv_area = exact(s->drv_bytes);
	s->dev_area = exact(s->dev_bytes);
	if (tables) {
		s->ind_bytes = (size_t)s->size * s->indirect_max * 16;
		s->indirect = exact(s->ind_bytes);
	}
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	if (s->event_idx)
		f |= 1ull << VIRTIO_F_EVENT_IDX;
	if (ind_feat)
		f |= 1ull << VIRTIO_F_INDIRECT_DESC;
	if (s->in_order)
		f |= 1ull << VIRTIO_F_IN_ORDER;
	struct vq_drv_config cfg = {
		.format = s->format,
		.size = s->size,
		.features = f,
		.desc = s->desc,
		.driver_area = s->drv_area,
		.device_area = s->dev_area,
		.indirect = s->indirect,
		.indirect_gpa = 0x7000000,
		.indirect_max = s->indirect_max,
	};
	FUZZ_CHECK(vq_drv_new(&cfg, &s->d) == 0);
	s->dev_wrap = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dr s;
	if (size < 3)
		return 0;
	memset(&s, 0, sizeof(s));
	setup(&s, data);
	s.in.p = data + 3;
	s.in.left = size - 3;
	for (unsigned ops = 0; s.in.left && ops < DR_MAX_OPS; ops++) {
		uint8_t op = fin_u8(&s.in);
		switch (op & 15) { /* the high nibble is the operation's own */
		case 0:
		case 1:
			op_chain(&s);
			break;
		case 12:
			if (op & 0x10)
				op_add_burst(&s);
			else
				op_add_chain(&s);
			break;
		case 2:
		case 15:
			op_publish(&s);
			break;
		case 3:
			vq_drv_kick_prepare(s.d);
			break;
		case 4:
		case 5:
		case 14:
			op_reap(&s, 1 + (op >> 4));
			break;
		case 6:
		case 7:
		case 13:
			op_honest(&s);
			break;
		case 8:
			op_hostile(&s);
			break;
		case 9:
			op_raw(&s);
			break;
		case 10:
			if (op & 0x80) {
				vq_drv_disable_used_notify(s.d);
			} else {
				bool pending = vq_drv_enable_used_notify(s.d);
				/* Honest device: "pending" means exactly that. */
				if (!s.tainted && !s.broken)
					FUZZ_CHECK(pending == (s.exp_n > 0));
			}
			break;
		case 11: { /* device event suppression: only affects kicks */
			uint16_t v = fin_u16(&s.in);
			if (s.format == VQ_FORMAT_SPLIT)
				memcpy(s.dev_area + (op & 0x80 ? 0 : 4 + 8u * s.size), &v, 2);
			else
				memcpy(s.dev_area + (op & 0x80 ? 0 : 2), &v, 2);
			break;
		}
		}
		check_counts(&s);
	}
	/* Untainted: everything the device completed comes back. */
	while (!s.tainted && s.exp_n)
		op_reap(&s, 16);
	check_counts(&s);
	vq_drv_free(s.d);
	free(s.desc);
	free(s.drv_area);
	free(s.dev_area);
	free(s.indirect);
	return 0;
}
