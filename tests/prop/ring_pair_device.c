/* SPDX-License-Identifier: MIT */
/*
 * The ring-pair property test's device thread (see test_ring_pair.c): pops
 * (single or burst) and checks each chain against the driver's record and
 * gmem_translate(), writes a pattern into the writable bytes and completes
 * chains one at a time, in bursts, out of order or in IN_ORDER batches.
 */
#include <inttypes.h>
#include <sched.h>
#include <string.h>

#include "ring_pair.h"

/* ------------------------------------------------------------ device */

struct dev {
	struct run *r;
	uint64_t rng;
	struct vq_elem *pend; /* popped, not completed, in pop order */
	unsigned npend;
	struct iovec **iov_free; /* stack of iovec arrays */
	unsigned niov_free;
	uint64_t popped, next_seq, pushed;
	unsigned pushed_since_check;
	unsigned hold_max;
	struct iovec *expect; /* scratch for translated descriptors */
	uint32_t *pick;	      /* scratch: indices into pend */
	struct vq_used *used; /* scratch: a push burst */
	struct stall stall;
};

/* Compare the element's iovecs with gmem_translate() of each descriptor. */
static void dev_check_iovecs(struct dev *v, const struct vq_elem *e, const struct rec *c)
{
	struct run *r = v->r;
	unsigned at = 0, nout = 0;
	uint32_t hint = 0;
	for (unsigned i = 0; i < (unsigned)c->nr + c->nw; i++) {
		int n = gmem_translate(r->g.mem, c->seg[i].gpa, c->seg[i].len, v->expect,
				       r->iov_cap, &hint);
		CHECK(n > 0, "translate of seq %" PRIu64 " segment %u: %d", c->seq, i, n);
		CHECK(at + (unsigned)n <= (unsigned)e->nout + e->nin,
		      "seq %" PRIu64 ": %u+%u iovecs, more expected", c->seq, e->nout, e->nin);
		for (int j = 0; j < n; j++, at++)
			CHECK(e->iov[at].iov_base == v->expect[j].iov_base &&
				      e->iov[at].iov_len == v->expect[j].iov_len,
			      "seq %" PRIu64 " segment %u: iovec %u is %p+%zu, expected %p+%zu",
			      c->seq, i, at, e->iov[at].iov_base, e->iov[at].iov_len,
			      v->expect[j].iov_base, v->expect[j].iov_len);
		if (i + 1 == c->nr)
			nout = at;
	}
	CHECK(at == (unsigned)e->nout + e->nin && nout == e->nout,
	      "seq %" PRIu64 ": nout %u nin %u, expected %u and %u", c->seq, e->nout, e->nin, nout,
	      at - nout);
}

static void dev_check_pop(struct dev *v, struct vq_elem *e)
{
	struct run *r = v->r;
	const struct cfg *cfg = r->cfg;
	CHECK(e->err == VQ_OK && e->id < cfg->size, "element id %u err %u", e->id, e->err);
	const struct rec *c = &r->rec[e->id];
	CHECK(c->seq == v->next_seq, "popped id %u carries seq %" PRIu64 ", expected %" PRIu64,
	      e->id, c->seq, v->next_seq);
	v->next_seq++;
	CHECK(e->out_len == c->out_len && e->in_len == c->in_len,
	      "seq %" PRIu64 ": out_len %u in_len %u, expected %u and %u", c->seq, e->out_len,
	      e->in_len, c->out_len, c->in_len);
	CHECK((unsigned)e->nout + e->nin <= e->iov_cap, "iovec count over capacity");
	if (cfg->format == VQ_FORMAT_PACKED)
		CHECK(e->ndesc == (c->indirect ? 1 : c->nr + c->nw), "seq %" PRIu64 ": ndesc %u",
		      c->seq, e->ndesc);
	dev_check_iovecs(v, e, c);
	uint32_t h = seq_hash(c->seq, 1), off = 0;
	for (unsigned i = 0; i < e->nout; i++) {
		size_t n = e->iov[i].iov_len;
		size_t bad = pat_check(e->iov[i].iov_base, n, h, off);
		CHECK(bad == n, "seq %" PRIu64 ": readable byte %zu wrong", c->seq, off + bad);
		off += (uint32_t)n;
	}
	r->dev_bytes += off;
}

/* Pop up to a random burst into pend[]. Return: chains popped. */
static unsigned dev_pop(struct dev *v)
{
	struct run *r = v->r;
	unsigned room = r->cfg->size - v->npend, want = 1 + rnd(&v->rng, 32), got = 0;
	if (want > room)
		want = room;
	while (got < want) {
		struct vq_elem *e = &v->pend[v->npend];
		CHECK(v->niov_free > 0, "no iovec arrays left");
		if (rnd(&v->rng, 2)) {
			e->iov = v->iov_free[--v->niov_free];
			e->iov_cap = (uint16_t)r->iov_cap;
			int rc = vq_pop(r->q, e);
			if (rc == 0) {
				v->iov_free[v->niov_free++] = e->iov;
				break;
			}
			CHECK(rc == 1, "vq_pop: %d (%s)", rc, vq_strerror(rc));
			rp_handover_acquire(&r->to_device);
			dev_check_pop(v, e);
			v->npend++;
			got++;
		} else {
			unsigned n = want - got, i;
			for (i = 0; i < n; i++) {
				CHECK(v->niov_free > i, "no iovec arrays left");
				v->pend[v->npend + i].iov = v->iov_free[v->niov_free - 1 - i];
				v->pend[v->npend + i].iov_cap = (uint16_t)r->iov_cap;
			}
			int err = 0;
			unsigned k = vq_pop_burst(r->q, &v->pend[v->npend], n, &err);
			CHECK(err == 0 && k <= n, "vq_pop_burst: %u, %s", k, vq_strerror(err));
			rp_handover_acquire(&r->to_device);
			v->niov_free -= k;
			for (i = 0; i < k; i++)
				dev_check_pop(v, &v->pend[v->npend + i]);
			v->npend += k;
			got += k;
			r->bursts++;
			if (k < n)
				break;
		}
	}
	v->popped += got;
	CHECK(vq_in_flight(r->q) == v->npend, "device in_flight %u, holding %u", vq_in_flight(r->q),
	      v->npend);
	return got;
}

/* Write @w bytes of the writable pattern and note the length. */
static void dev_write(struct dev *v, const struct vq_elem *e, uint32_t w)
{
	struct run *r = v->r;
	struct rec *c = &r->rec[e->id];
	uint32_t h = seq_hash(c->seq, 2), off = 0;
	for (unsigned i = e->nout; off < w && i < (unsigned)e->nout + e->nin; i++) {
		uint32_t n = (uint32_t)e->iov[i].iov_len;
		if (n > w - off)
			n = w - off;
		pat_fill(e->iov[i].iov_base, n, h, off);
		off += n;
	}
	CHECK(off == w, "seq %" PRIu64 ": wrote %u of %u", c->seq, off, w);
	c->dev_len = w;
}

static uint32_t pick_len(struct dev *v, uint32_t in_len)
{
	switch (rnd(&v->rng, 4)) {
	case 0:
		return 0;
	case 1:
		return in_len;
	default:
		return rnd(&v->rng, in_len + 1);
	}
}

/* Complete pend[idx[0..n)] (in that order), then drop them from pend. */
static void dev_complete(struct dev *v, const uint32_t *idx, unsigned n, bool in_order_batch)
{
	struct run *r = v->r;
	for (unsigned i = 0; i < n; i++) {
		struct vq_elem *e = &v->pend[idx[i]];
		uint32_t w = in_order_batch && i + 1 < n ? e->in_len : pick_len(v, e->in_len);
		dev_write(v, e, w);
		v->used[i] = (struct vq_used){.id = e->id, .len = w};
	}
	int rc = 0;
	rp_handover_release(&r->to_driver);
	if (in_order_batch) {
		rc = vq_push_in_order(r->q, n, v->used[n - 1].len);
		r->in_order_batches++;
	} else if (n > 1 && rnd(&v->rng, 2)) {
		rc = vq_push_burst(r->q, v->used, n);
	} else {
		for (unsigned i = 0; i < n && rc == 0; i++)
			rc = vq_push(r->q, v->used[i].id, v->used[i].len);
	}
	CHECK(rc == 0, "push of %u: %s", n, vq_strerror(rc));
	/* Remove the completed ones, keeping pop order. */
	for (unsigned i = 0; i < n; i++) {
		v->iov_free[v->niov_free++] = v->pend[idx[i]].iov;
		v->pend[idx[i]].iov = NULL;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < v->npend; i++)
		if (v->pend[i].iov)
			v->pend[k++] = v->pend[i];
	v->npend = k;
	v->pushed += n;
	v->pushed_since_check += n;
}

/* Complete pending chains until at most @keep are held. */
static void dev_settle(struct dev *v, unsigned keep)
{
	const struct cfg *cfg = v->r->cfg;
	while (v->npend > keep) {
		unsigned n = 1 + rnd(&v->rng, v->npend - keep < 16 ? v->npend - keep : 16);
		if (cfg->in_order) {
			for (unsigned i = 0; i < n; i++)
				v->pick[i] = i;
			dev_complete(v, v->pick, n, rnd(&v->rng, 2));
			continue;
		}
		/* A random subset in random order. */
		for (unsigned i = 0; i < v->npend; i++)
			v->pick[i] = i;
		for (unsigned i = 0; i < n; i++) {
			unsigned j = i + rnd(&v->rng, v->npend - i);
			uint32_t t = v->pick[i];
			v->pick[i] = v->pick[j];
			v->pick[j] = t;
		}
		if (n > 1 || v->pick[0] != 0)
			v->r->out_of_order++;
		dev_complete(v, v->pick, n, false);
	}
}

static void dev_notify(struct dev *v)
{
	struct run *r = v->r;
	if (!v->pushed_since_check)
		return;
	v->pushed_since_check = 0;
	r->notify_calls++;
	if (!vq_notify_prepare(r->q))
		return;
	r->notifies++;
	if (r->cfg->notify != NM_POLL)
		signal_fd(r->call_fd);
}

static void dev_sleep(struct dev *v)
{
	struct run *r = v->r;
	stall_check(r, &v->stall, "device");
	if (r->cfg->notify == NM_POLL) {
		sched_yield();
		return;
	}
	if (vq_enable_kicks(r->q)) {
		if (r->cfg->notify == NM_SUPPRESS)
			vq_disable_kicks(r->q);
		return;
	}
	r->dev_sleeps++;
	wait_fd(r, r->kick_fd, r->call_fd, &r->dev_w, &r->drv_w, "device");
	if (r->cfg->notify == NM_SUPPRESS)
		vq_disable_kicks(r->q);
}

void *device_main(void *arg)
{
	struct run *r = arg;
	pin_self(r->dev_cpu);
	const struct cfg *cfg = r->cfg;
	struct dev v = {.r = r, .rng = cfg->seed * 2 + 2};
	v.pend = calloc(cfg->size, sizeof(*v.pend));
	v.iov_free = calloc(cfg->size, sizeof(*v.iov_free));
	v.expect = calloc(r->iov_cap, sizeof(*v.expect));
	v.pick = calloc(cfg->size, sizeof(*v.pick));
	v.used = calloc(cfg->size, sizeof(*v.used));
	struct iovec *iov_mem = calloc((size_t)cfg->size * r->iov_cap, sizeof(*iov_mem));
	CHECK(v.pend && v.iov_free && v.expect && v.pick && v.used && iov_mem, "out of memory");
	for (uint32_t i = 0; i < cfg->size; i++)
		v.iov_free[v.niov_free++] = iov_mem + (size_t)i * r->iov_cap;
	v.hold_max = rnd(&v.rng, 4) ? 0 : 1 + rnd(&v.rng, cfg->size < 32 ? cfg->size : 32);

	while (v.popped < cfg->chains || v.npend) {
		unsigned got = dev_pop(&v);
		dev_settle(&v, got ? rnd(&v.rng, v.hold_max + 1) : 0);
		dev_notify(&v);
		if (got) {
			atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
			if (cfg->notify == NM_ALWAYS)
				vq_enable_kicks(r->q);
			continue;
		}
		if (v.popped < cfg->chains)
			dev_sleep(&v);
	}
	const struct vq_stats *st = vq_get_stats(r->q);
	CHECK(!vq_is_broken(r->q), "device broken: %s", vq_strerror(vq_broken_reason(r->q)));
	CHECK(st->popped == cfg->chains && st->pushed == cfg->chains && st->dropped == 0,
	      "stats: popped %" PRIu64 " pushed %" PRIu64 " dropped %" PRIu64, st->popped,
	      st->pushed, st->dropped);
	CHECK(st->notify_sent == r->notifies &&
		      st->notify_sent + st->notify_suppressed == r->notify_calls,
	      "notify stats %" PRIu64 "+%" PRIu64 " vs %" PRIu64 " of %" PRIu64, st->notify_sent,
	      st->notify_suppressed, r->notifies, r->notify_calls);
	CHECK(vq_in_flight(r->q) == 0, "device in flight at the end");
	struct vq_elem e = {.iov = v.expect, .iov_cap = 1};
	CHECK(vq_pop(r->q, &e) == 0, "spurious chain at the end");
	free(iov_mem);
	free(v.pend);
	free(v.iov_free);
	free(v.expect);
	free(v.pick);
	free(v.used);
	atomic_store(&r->dev_w.waiting, 1); /* gone: sleeps for good */
	return NULL;
}
