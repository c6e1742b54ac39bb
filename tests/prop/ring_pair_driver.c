/* SPDX-License-Identifier: MIT */
/*
 * The ring-pair property test's driver thread (see test_ring_pair.c): cuts
 * buffer slots into chains of random shape, fills their readable bytes with
 * a pattern, builds, publishes and kicks, then reaps and checks every
 * completion against its record and the device's written bytes.
 */
#include <inttypes.h>
#include <sched.h>
#include <string.h>

#include "ring_pair.h"

/* ------------------------------------------------------------ driver */

struct drv {
	struct run *r;
	uint64_t rng;
	uint32_t *free_slots;
	uint32_t nfree;
	uint64_t next_seq, reaped, next_reap_seq;
	uint8_t *done;	    /* bitmap over sequence numbers */
	uint32_t ring_used; /* ring descriptors held by chains in flight */
	struct stall stall;
};

/* Cut slot @slot into @k descriptors, the first @nr readable. */
static void layout_chain(struct drv *s, struct rec *c, uint32_t slot, uint16_t nr, uint16_t nw)
{
	struct run *r = s->r;
	uint64_t base = tgm_buf_gpa(&r->g) + (uint64_t)slot * r->slot_bytes;
	uint32_t room = r->slot_bytes, cur = 0;
	unsigned k = nr + nw;
	c->nr = nr;
	c->nw = nw;
	c->out_len = c->in_len = 0;
	for (unsigned i = 0; i < k; i++) {
		unsigned left = k - i;			/* this one included */
		uint32_t max = room - cur - (left - 1); /* keep a byte for each later one */
		uint32_t typical = max / left * 2;
		uint32_t len;
		switch (rnd(&s->rng, 8)) {
		case 0:
			len = 1;
			break;
		case 1:
			len = 1 + rnd(&s->rng, max);
			break;
		default:
			len = 1 + rnd(&s->rng, typical < max ? typical : max);
		}
		if (len > max)
			len = max;
		uint32_t spare = max - len;
		if (spare && rnd(&s->rng, 4) == 0)
			cur += rnd(&s->rng, spare / left + 1); /* a gap */
		c->seg[i] = (struct seg){.gpa = base + cur, .len = len};
		cur += len;
		if (i < nr)
			c->out_len += len;
		else
			c->in_len += len;
	}
}

static void fill_readable(struct run *r, const struct rec *c)
{
	uint32_t h = seq_hash(c->seq, 1), off = 0;
	for (unsigned i = 0; i < c->nr; i++) {
		pat_fill(tgm_drv_ptr(&r->g, c->seg[i].gpa), c->seg[i].len, h, off);
		off += c->seg[i].len;
	}
}

/* Start a chain, add a few descriptors, rewind it: nothing may show. */
static void try_rewind(struct drv *s, const struct rec *c, bool indirect)
{
	struct vq_drv *d = s->r->d;
	int rc = vq_drv_chain_start(d, indirect);
	if (rc == -VQ_ERR_NO_SPACE)
		return;
	CHECK(rc == 0, "chain_start: %s", vq_strerror(rc));
	unsigned n = 1 + rnd(&s->rng, c->nr + c->nw);
	for (unsigned i = 0; i < n; i++) {
		rc = vq_drv_chain_add(d, c->seg[i].gpa, c->seg[i].len, i >= c->nr);
		if (rc == -VQ_ERR_NO_SPACE)
			break;
		CHECK(rc == 0, "chain_add: %s", vq_strerror(rc));
	}
	vq_drv_chain_rewind(d);
	s->r->rewinds++;
}

/* Build and end one chain. Return: 1, or 0 when out of slots or ring. */
static int drv_submit(struct drv *s)
{
	struct run *r = s->r;
	const struct cfg *cfg = r->cfg;
	if (s->nfree == 0)
		return 0;
	uint16_t nr, nw;
	if (rnd(&s->rng, 64) == 0) { /* a long chain */
		unsigned k = 2 + rnd(&s->rng, r->max_k - 1);
		if (k > r->max_k)
			k = r->max_k;
		nr = (uint16_t)(1 + rnd(&s->rng, k));
		nw = (uint16_t)(k - nr);
	} else {
		nr = (uint16_t)(1 + rnd(&s->rng, 4));
		nw = (uint16_t)rnd(&s->rng, 5);
		if (nr + nw > (int)r->max_k) {
			nr = 1;
			nw = (uint16_t)(r->max_k - 1 < nw ? r->max_k - 1 : nw);
		}
	}
	bool indirect = cfg->indirect && rnd(&s->rng, 3) == 0;
	uint32_t need = indirect ? 1 : nr + nw;
	/* Usually wait for room; sometimes run into NO_SPACE on purpose. */
	if (vq_drv_free_descs(r->d) < need && rnd(&s->rng, 8))
		return 0;

	uint32_t slot = s->free_slots[--s->nfree];
	struct rec tmp;
	tmp.seq = s->next_seq;
	layout_chain(s, &tmp, slot, nr, nw);
	if (rnd(&s->rng, 64) == 0)
		try_rewind(s, &tmp, indirect);
	fill_readable(r, &tmp);

	void *token = (void *)(uintptr_t)(s->next_seq + 1);
	int rc;
	if (rnd(&s->rng, 2)) { /* the one-call form */
		struct vq_drv_buf bufs[MAXD];
		for (unsigned i = 0; i < (unsigned)nr + nw; i++)
			bufs[i] = (struct vq_drv_buf){.gpa = tmp.seg[i].gpa, .len = tmp.seg[i].len};
		rc = vq_drv_add_chain(r->d, bufs, nr, nw, indirect, token);
	} else {
		rc = vq_drv_chain_start(r->d, indirect);
		for (unsigned i = 0; rc == 0 && i < (unsigned)nr + nw; i++)
			rc = vq_drv_chain_add(r->d, tmp.seg[i].gpa, tmp.seg[i].len, i >= nr);
		if (rc == -VQ_ERR_NO_SPACE)
			vq_drv_chain_rewind(r->d);
		else if (rc == 0)
			rc = vq_drv_chain_end(r->d, token);
	}
	if (rc == -VQ_ERR_NO_SPACE) {
		s->free_slots[s->nfree++] = slot;
		r->no_space++;
		return 0;
	}
	CHECK(rc >= 0 && (uint32_t)rc < cfg->size, "building chain %" PRIu64 ": %d (%s)",
	      s->next_seq, rc, vq_strerror(rc));
	struct rec *c = &r->rec[rc];
	c->seq = tmp.seq;
	c->nr = nr;
	c->nw = nw;
	c->out_len = tmp.out_len;
	c->in_len = tmp.in_len;
	memcpy(c->seg, tmp.seg, sizeof(struct seg) * (nr + nw));
	c->slot = slot;
	c->indirect = indirect;
	c->dev_len = UINT32_MAX;
	s->ring_used += need;
	s->next_seq++;
	r->descs += nr + nw;
	return 1;
}

static void drv_verify_used(struct drv *s, const struct vq_drv_used *u)
{
	struct run *r = s->r;
	CHECK(u->id < r->cfg->size, "reaped id %u", u->id);
	struct rec *c = &r->rec[u->id];
	CHECK(u->token == (void *)(uintptr_t)(c->seq + 1), "id %u: token %p for seq %" PRIu64,
	      u->id, u->token, c->seq);
	CHECK(c->seq < s->next_seq, "id %u: seq %" PRIu64 " never submitted", u->id, c->seq);
	CHECK(!(s->done[c->seq / 8] & (1u << (c->seq % 8))), "seq %" PRIu64 " completed twice",
	      c->seq);
	s->done[c->seq / 8] |= (uint8_t)(1u << (c->seq % 8));
	if (r->cfg->in_order)
		CHECK(c->seq == s->next_reap_seq,
		      "IN_ORDER: reaped seq %" PRIu64 ", expected %" PRIu64, c->seq,
		      s->next_reap_seq);
	s->next_reap_seq = c->seq + 1;
	CHECK(u->len == c->dev_len,
	      "seq %" PRIu64 " id %u: used len %u, device wrote %u (in_len %u)", c->seq, u->id,
	      u->len, c->dev_len, c->in_len);
	uint32_t h = seq_hash(c->seq, 2), off = 0, left = u->len;
	for (unsigned i = c->nr; left && i < (unsigned)c->nr + c->nw; i++) {
		uint32_t n = c->seg[i].len < left ? c->seg[i].len : left;
		const uint8_t *p = tgm_drv_ptr(&r->g, c->seg[i].gpa);
		size_t bad = pat_check(p, n, h, off);
		CHECK(bad == n, "seq %" PRIu64 ": written byte %zu of segment %u wrong", c->seq,
		      off + bad, i);
		off += n;
		left -= n;
	}
	r->drv_bytes += u->len;
	s->ring_used -= c->indirect ? 1 : (uint32_t)c->nr + c->nw;
	s->free_slots[s->nfree++] = c->slot;
	s->reaped++;
}

static unsigned drv_reap(struct drv *s)
{
	struct run *r = s->r;
	struct vq_drv_used used[32];
	unsigned total = 0;
	for (;;) {
		int n = vq_drv_reap(r->d, used, 1 + rnd(&s->rng, 32));
		CHECK(n >= 0, "reap: %s", vq_strerror(n));
		rp_handover_acquire(&r->to_driver);
		for (int i = 0; i < n; i++)
			drv_verify_used(s, &used[i]);
		total += (unsigned)n;
		if (n == 0)
			break;
	}
	if (total) {
		CHECK(vq_drv_in_flight(r->d) == s->next_seq - s->reaped,
		      "driver in_flight %u, expected %" PRIu64, vq_drv_in_flight(r->d),
		      s->next_seq - s->reaped);
		CHECK(vq_drv_free_descs(r->d) == r->cfg->size - s->ring_used,
		      "driver free descs %u, expected %u", vq_drv_free_descs(r->d),
		      r->cfg->size - s->ring_used);
	}
	return total;
}

static void drv_sleep(struct drv *s)
{
	struct run *r = s->r;
	stall_check(r, &s->stall, "driver");
	if (r->cfg->notify == NM_POLL) {
		sched_yield();
		return;
	}
	if (vq_drv_enable_used_notify(r->d)) {
		if (r->cfg->notify == NM_SUPPRESS)
			vq_drv_disable_used_notify(r->d);
		return;
	}
	r->drv_sleeps++;
	wait_fd(r, r->call_fd, r->kick_fd, &r->drv_w, &r->dev_w, "driver");
	if (r->cfg->notify == NM_SUPPRESS)
		vq_drv_disable_used_notify(r->d);
}

void *driver_main(void *arg)
{
	struct run *r = arg;
	pin_self(r->drv_cpu);
	const struct cfg *cfg = r->cfg;
	struct drv s = {.r = r, .rng = cfg->seed * 2 + 1};
	s.free_slots = calloc(r->nslots, sizeof(*s.free_slots));
	s.done = calloc(cfg->chains / 8 + 1, 1);
	CHECK(s.free_slots && s.done, "out of memory");
	for (uint32_t i = 0; i < r->nslots; i++)
		s.free_slots[s.nfree++] = r->nslots - 1 - i;
	while (s.reaped < cfg->chains) {
		unsigned burst = 1 + rnd(&s.rng, rnd(&s.rng, 4) ? 8 : 64), sub = 0;
		while (s.next_seq < cfg->chains && sub < burst && drv_submit(&s))
			sub++;
		if (sub) {
			rp_handover_release(&r->to_device);
			vq_drv_publish(r->d);
			if (vq_drv_kick_prepare(r->d)) {
				r->kicks++;
				if (cfg->notify != NM_POLL)
					signal_fd(r->kick_fd);
			}
		}
		unsigned got = drv_reap(&s);
		if (got && cfg->notify == NM_ALWAYS && vq_drv_enable_used_notify(r->d))
			continue;
		if (!sub && !got)
			drv_sleep(&s);
		else
			atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
	}
	CHECK(vq_drv_in_flight(r->d) == 0 && vq_drv_free_descs(r->d) == cfg->size,
	      "driver: %u in flight, %u free at the end", vq_drv_in_flight(r->d),
	      vq_drv_free_descs(r->d));
	CHECK(!vq_drv_is_broken(r->d), "driver broken: %s",
	      vq_strerror(vq_drv_broken_reason(r->d)));
	CHECK(vq_drv_reap(r->d, (struct vq_drv_used[1]){0}, 1) == 0, "spurious used entry");
	for (uint64_t i = 0; i < cfg->chains; i++)
		CHECK(s.done[i / 8] & (1u << (i % 8)), "seq %" PRIu64 " never completed", i);
	free(s.free_slots);
	free(s.done);
	atomic_store(&r->drv_w.waiting, 1); /* gone: sleeps for good */
	return NULL;
}
