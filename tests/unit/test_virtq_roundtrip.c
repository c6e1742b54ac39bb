/* SPDX-License-Identifier: MIT */
/*
 * Round trips through the library's own driver and device sides, in one
 * thread, over guest memory mapped twice (tests/harness).
 *
 * Each step the driver builds a few random chains (direct or indirect,
 * random readable/writable split and lengths, readable bytes filled with a
 * pattern) and publishes them; the device pops within a budget, checks every
 * iovec against what the driver built, writes a pattern into the writable
 * part and completes a random subset in random order (in pop order with
 * IN_ORDER, sometimes as one batch entry); the driver reaps and checks
 * tokens, ids, lengths and the bytes written.
 *
 * Notifications are checked exactly against a model of each side's
 * suppression state: ENABLE (always notify), DISABLE (never) or EVENT (an
 * event index that is "armed" until the first notification passes it).
 * Each side sleeps only after it has drained the ring and re-enabled
 * notifications (enable returned false): it is then armed and the other
 * side MUST notify at its next publish or push (no lost wake-up); once
 * notified, or after disabling, the other side MUST NOT notify it
 * (suppression works). With EVENT_IDX a split ring's disable writes
 * nothing (§2.7.10); a fresh packed ring's areas say ENABLE. The packed
 * engines notify whenever one decision covers a whole ring of descriptors
 * or more (count >= size), whatever the event; the model follows that. An
 * awake side sometimes skips a turn without polling, so the peer publishes
 * into a ring whose owner is awake but busy.
 *
 * Runs are long enough to wrap the split ring's 16-bit indices (> 65536
 * chains) and to go round a packed ring of a non-power-of-two size many
 * times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vqnet/virtq.h>

#include "guestmem.h"

#define F(bit) (1ull << (bit))
#define MAXD   4    /* descriptors per chain (direct: up to 3) */
#define SEG    256u /* bytes per buffer at most */
#define BURST  8

struct rt_param {
	enum vq_format fmt;
	uint32_t size;
	uint64_t features;
	uint32_t indirect_max; /* used when INDIRECT_DESC is in features */
	unsigned chains;       /* chains to complete */
	uint64_t seed;
};

enum nmode { N_ENABLE, N_DISABLE, N_EVENT };

/* What one side asked of the other for notifications. */
struct notif {
	enum nmode mode;
	bool armed; /* N_EVENT: the event index is still ahead */
};

struct chain {
	bool busy;
	bool indirect;
	uint16_t id;
	unsigned serial;
	unsigned n, nout;
	uint64_t gpa[MAXD];
	uint32_t len[MAXD];
	uint32_t out_len, in_len;
	uint32_t done_len; /* what the device completed it with */
	bool popped, pushed;
};

struct rt {
	const struct rt_param *p;
	struct tgm g;
	struct tring r;
	struct vq *q;
	struct vq_drv *d;
	uint64_t rng;
	bool in_order, indirect, event_idx;

	struct chain *ch;    /* [size]: slots, one per chain in flight */
	uint16_t *free_slot; /* stack of free slot numbers */
	unsigned nfree;
	int *slot_of_id; /* [size] */

	uint16_t *dev_ids; /* device: ids popped, not pushed, in pop order */
	unsigned dev_n;

	unsigned produced, popped, completed, reaped;
	unsigned drv_ndesc; /* ring descriptors of the driver's chains in flight */
	unsigned notify_calls;
	bool dev_waiting, drv_waiting; /* asleep until notified */
	struct notif dev_ntf, drv_ntf; /* suppression state set by each side */
	unsigned kicks, notifies;
};

static uint32_t rnd(struct rt *t, uint32_t n)
{
	return n ? (uint32_t)(trand(&t->rng) >> 33) % n : 0;
}

static uint8_t out_byte(unsigned serial, unsigned k, uint32_t i)
{
	return (uint8_t)(serial * 31u + k * 7u + i);
}

static uint8_t in_byte(unsigned serial, uint32_t i)
{
	return (uint8_t)(serial * 17u + i * 3u + 0x55u);
}

static uint64_t slot_gpa(struct rt *t, unsigned slot, unsigned k)
{
	return tgm_buf_gpa(&t->g) + ((uint64_t)slot * MAXD + k) * SEG;
}

static uint8_t *drv_ptr(struct rt *t, uint64_t gpa)
{
	return tgm_drv_ptr(&t->g, gpa);
}

static void *dev_ptr(struct rt *t, uint64_t gpa)
{
	return t->g.dev_view + (gpa - TGM_GPA_BASE);
}

/* Ring descriptors a chain occupies. */
static unsigned ring_descs(const struct chain *c)
{
	return c->indirect ? 1 : c->n;
}

static int rt_setup(void **state)
{
	const struct rt_param *p = *state;
	struct rt *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->p = p;
	t->rng = p->seed;
	t->in_order = vq_has_feature(p->features, VIRTIO_F_IN_ORDER);
	t->indirect = vq_has_feature(p->features, VIRTIO_F_INDIRECT_DESC);
	t->event_idx = vq_has_feature(p->features, VIRTIO_F_EVENT_IDX);
	size_t ring = (size_t)p->size * (16 + 16 + 8 + 16 * p->indirect_max) + 64 * 1024;
	if (tgm_init(&t->g, ring, (size_t)p->size * MAXD * SEG, 0))
		goto fail;
	if (tring_alloc(&t->g, &t->r, p->fmt, p->size, t->indirect ? p->indirect_max : 0))
		goto fail;
	if (tring_driver(&t->g, &t->r, p->features, &t->d))
		goto fail;
	if (tring_device(&t->g, &t->r, p->features, VQ_DIR_BOTH, 64, &t->q))
		goto fail;
	t->ch = calloc(p->size, sizeof(*t->ch));
	t->free_slot = calloc(p->size, sizeof(*t->free_slot));
	t->slot_of_id = calloc(p->size, sizeof(*t->slot_of_id));
	t->dev_ids = calloc(p->size, sizeof(*t->dev_ids));
	if (!t->ch || !t->free_slot || !t->slot_of_id || !t->dev_ids)
		goto fail;
	for (unsigned i = 0; i < p->size; i++) {
		t->free_slot[i] = (uint16_t)(p->size - 1 - i);
		t->slot_of_id[i] = -1;
	}
	t->nfree = p->size;
	/* Fresh rings have notifications enabled both ways: each side is
	 * as good as asleep until the other wakes it. */
	t->dev_waiting = t->drv_waiting = true;
	t->dev_ntf.armed = t->drv_ntf.armed = true; /* split: event index 0 */
	t->dev_ntf.mode = t->drv_ntf.mode =
		p->fmt == VQ_FORMAT_SPLIT && t->event_idx ? N_EVENT : N_ENABLE;
	*state = t;
	return 0;
fail:
	*state = t;
	return -1;
}

static int rt_teardown(void **state)
{
	struct rt *t = *state;
	vq_free(t->q);
	vq_drv_free(t->d);
	tgm_fini(&t->g);
	free(t->ch);
	free(t->free_slot);
	free(t->slot_of_id);
	free(t->dev_ids);
	free(t);
	return 0;
}

/* ------------------------------------------------------ notifications */

/* Must a publish/push covering @count ring descriptors notify? */
static bool notif_expected(const struct rt *t, const struct notif *n, unsigned count)
{
	switch (n->mode) {
	case N_ENABLE:
		return true;
	case N_DISABLE:
		return false;
	case N_EVENT:
		break;
	}
	return n->armed || (t->p->fmt == VQ_FORMAT_PACKED && count >= t->p->size);
}

static void notif_fired(struct notif *n)
{
	if (n->mode == N_EVENT)
		n->armed = false;
}

static void notif_enabled(const struct rt *t, struct notif *n)
{
	n->mode = t->event_idx ? N_EVENT : N_ENABLE;
	n->armed = true;
}

static void notif_disabled(const struct rt *t, struct notif *n)
{
	if (!(t->p->fmt == VQ_FORMAT_SPLIT && t->event_idx))
		n->mode = N_DISABLE;
}

/* ------------------------------------------------------------- driver */

/* Build one random chain. Returns false when there is no room. */
static bool produce_one(struct rt *t)
{
	unsigned free_descs = vq_drv_free_descs(t->d);
	if (t->nfree == 0 || free_descs == 0)
		return false;
	bool ind = t->indirect && rnd(t, 2);
	unsigned n = ind ? 1 + rnd(t, t->p->indirect_max) : 1 + rnd(t, 3);
	if (!ind && n > free_descs)
		n = free_descs;
	unsigned slot = t->free_slot[--t->nfree];
	struct chain *c = &t->ch[slot];
	assert_false(c->busy);
	*c = (struct chain){.busy = true,
			    .indirect = ind,
			    .serial = t->produced,
			    .n = n,
			    .nout = rnd(t, n + 1)};
	assert_int_equal(vq_drv_chain_start(t->d, ind), 0);
	for (unsigned k = 0; k < n; k++) {
		bool w = k >= c->nout;
		c->gpa[k] = slot_gpa(t, slot, k);
		c->len[k] = 1 + rnd(t, SEG);
		uint8_t *p = drv_ptr(t, c->gpa[k]);
		if (w) {
			memset(p, 0xee, c->len[k]);
			c->in_len += c->len[k];
		} else {
			for (uint32_t i = 0; i < c->len[k]; i++)
				p[i] = out_byte(c->serial, k, i);
			c->out_len += c->len[k];
		}
		assert_int_equal(vq_drv_chain_add(t->d, c->gpa[k], c->len[k], w), 0);
	}
	int id = vq_drv_chain_end(t->d, c);
	assert_true(id >= 0 && (uint32_t)id < t->p->size);
	assert_int_equal(t->slot_of_id[id], -1);
	c->id = (uint16_t)id;
	t->slot_of_id[id] = (int)slot;
	t->drv_ndesc += ring_descs(c);
	t->produced++;
	return true;
}

static void driver_produce(struct rt *t)
{
	unsigned want = rnd(t, 4), made = 0, ndesc0 = t->drv_ndesc;
	while (made < want && t->produced < t->p->chains && produce_one(t))
		made++;
	vq_drv_publish(t->d);
	bool kick = vq_drv_kick_prepare(t->d);
	if (made == 0) {
		assert_false(kick);
		return;
	}
	assert_int_equal(kick, notif_expected(t, &t->dev_ntf, t->drv_ndesc - ndesc0));
	if (kick) {
		t->kicks++;
		t->dev_waiting = false;
		notif_fired(&t->dev_ntf);
	}
}

static void check_in_bytes(struct rt *t, const struct chain *c, uint32_t len)
{
	uint32_t pos = 0;
	for (unsigned k = c->nout; k < c->n && pos < len; k++) {
		const uint8_t *p = drv_ptr(t, c->gpa[k]);
		for (uint32_t i = 0; i < c->len[k] && pos < len; i++, pos++)
			if (p[i] != in_byte(c->serial, pos))
				fail_msg("chain %u: in byte %u is %#x", c->serial, pos, p[i]);
	}
}

static void driver_reap(struct rt *t)
{
	if (t->drv_waiting || rnd(t, 4) == 0)
		return;
	vq_drv_disable_used_notify(t->d);
	notif_disabled(t, &t->drv_ntf);
	struct vq_drv_used u[BURST];
	unsigned n = 1 + rnd(t, BURST);
	int got = vq_drv_reap(t->d, u, n);
	assert_true(got >= 0 && (unsigned)got <= n);
	for (int i = 0; i < got; i++) {
		struct chain *c = u[i].token;
		assert_true(c >= t->ch && c < t->ch + t->p->size);
		assert_true(c->busy && c->pushed);
		assert_int_equal(u[i].id, c->id);
		assert_int_equal(u[i].len, c->done_len);
		if (t->in_order)
			assert_int_equal(c->serial, t->reaped); /* completion order */
		check_in_bytes(t, c, c->done_len);
		t->slot_of_id[c->id] = -1;
		t->drv_ndesc -= ring_descs(c);
		c->busy = false;
		t->free_slot[t->nfree++] = (uint16_t)(c - t->ch);
		t->reaped++;
	}
	if (got == 0) {
		if (!vq_drv_enable_used_notify(t->d)) {
			notif_enabled(t, &t->drv_ntf);
			t->drv_waiting = true;
		} else {
			vq_drv_disable_used_notify(t->d);
			notif_disabled(t, &t->drv_ntf);
		}
	}
}

/* ------------------------------------------------------------- device */

static struct chain *chain_of(struct rt *t, uint16_t id)
{
	assert_true(id < t->p->size);
	int slot = t->slot_of_id[id];
	assert_true(slot >= 0);
	return &t->ch[slot];
}

static void check_popped(struct rt *t, const struct vq_elem *e)
{
	assert_int_equal(e->err, VQ_OK);
	struct chain *c = chain_of(t, e->id);
	assert_false(c->popped);
	assert_int_equal(c->serial, t->popped); /* ring order */
	assert_int_equal(e->nout, c->nout);
	assert_int_equal(e->nin, c->n - c->nout);
	assert_int_equal(e->out_len, c->out_len);
	assert_int_equal(e->in_len, c->in_len);
	if (t->p->fmt == VQ_FORMAT_PACKED)
		assert_int_equal(e->ndesc, c->indirect ? 1 : c->n);
	for (unsigned k = 0; k < c->n; k++) {
		assert_ptr_equal(e->iov[k].iov_base, dev_ptr(t, c->gpa[k]));
		assert_int_equal(e->iov[k].iov_len, c->len[k]);
		if (k < c->nout) {
			const uint8_t *p = e->iov[k].iov_base;
			for (uint32_t i = 0; i < c->len[k]; i++)
				if (p[i] != out_byte(c->serial, k, i))
					fail_msg("chain %u: out byte %u of %u", c->serial, i, k);
		}
	}
	c->popped = true;
	t->dev_ids[t->dev_n++] = e->id;
	t->popped++;
}

static void device_pop(struct rt *t)
{
	if (t->dev_waiting || rnd(t, 4) == 0)
		return;
	vq_disable_kicks(t->q);
	notif_disabled(t, &t->dev_ntf);
	unsigned budget = 1 + rnd(t, BURST), got = 0;
	struct iovec iov[BURST][MAXD];
	struct vq_elem el[BURST];
	for (unsigned i = 0; i < BURST; i++)
		el[i] = (struct vq_elem){.iov = iov[i], .iov_cap = MAXD};
	while (got < budget) {
		unsigned n;
		if (rnd(t, 2)) {
			int rc = vq_pop(t->q, &el[0]);
			assert_true(rc == 0 || rc == 1);
			n = (unsigned)rc;
		} else {
			int err = 1;
			n = vq_pop_burst(t->q, el, budget - got, &err);
			assert_int_equal(err, 0);
		}
		for (unsigned i = 0; i < n; i++)
			check_popped(t, &el[i]);
		got += n;
		if (n == 0) {
			if (!vq_enable_kicks(t->q)) {
				notif_enabled(t, &t->dev_ntf);
				t->dev_waiting = true;
				return;
			}
			vq_disable_kicks(t->q);
			notif_disabled(t, &t->dev_ntf);
		}
	}
}

/* Write the device's bytes into @c's writable part and note the length. */
static void device_fill(struct rt *t, struct chain *c, uint32_t len)
{
	uint32_t pos = 0;
	for (unsigned k = c->nout; k < c->n && pos < len; k++) {
		uint8_t *p = dev_ptr(t, c->gpa[k]);
		for (uint32_t i = 0; i < c->len[k] && pos < len; i++, pos++)
			p[i] = in_byte(c->serial, pos);
	}
	c->done_len = len;
	c->pushed = true;
}

static void remove_dev_id(struct rt *t, unsigned at)
{
	memmove(&t->dev_ids[at], &t->dev_ids[at + 1], (t->dev_n - at - 1) * sizeof(t->dev_ids[0]));
	t->dev_n--;
}

static void device_complete(struct rt *t)
{
	unsigned k = rnd(t, t->dev_n + 1);
	struct vq_used used[BURST];
	unsigned pushed = 0, ndesc = 0;
	if (t->in_order && k > 0 && rnd(t, 2)) {
		/* one batch entry: the skipped chains count as wholly used */
		for (unsigned i = 0; i + 1 < k; i++) {
			struct chain *c = chain_of(t, t->dev_ids[i]);
			device_fill(t, c, c->in_len);
		}
		struct chain *last = chain_of(t, t->dev_ids[k - 1]);
		uint32_t len = rnd(t, last->in_len + 1);
		device_fill(t, last, len);
		assert_int_equal(vq_push_in_order(t->q, k, len), 0);
		for (unsigned i = 0; i < k; i++) {
			ndesc += ring_descs(chain_of(t, t->dev_ids[0]));
			remove_dev_id(t, 0);
		}
		pushed = k;
	} else {
		while (pushed < k) {
			unsigned n = 0;
			unsigned want = 1 + rnd(t, BURST);
			while (n < want && pushed + n < k) {
				unsigned at = t->in_order ? 0 : rnd(t, t->dev_n);
				struct chain *c = chain_of(t, t->dev_ids[at]);
				uint32_t len = rnd(t, c->in_len + 1);
				device_fill(t, c, len);
				used[n++] = (struct vq_used){c->id, len};
				ndesc += ring_descs(c);
				remove_dev_id(t, at);
			}
			if (n == 1 && rnd(t, 2))
				assert_int_equal(vq_push(t->q, used[0].id, used[0].len), 0);
			else
				assert_int_equal(vq_push_burst(t->q, used, n), 0);
			pushed += n;
		}
	}
	t->completed += pushed;
	bool notify = vq_notify_prepare(t->q);
	t->notify_calls++;
	if (pushed == 0) {
		assert_false(notify);
		return;
	}
	assert_int_equal(notify, notif_expected(t, &t->drv_ntf, ndesc));
	if (notify) {
		t->notifies++;
		t->drv_waiting = false;
		notif_fired(&t->drv_ntf);
	}
}

static void check_counts(struct rt *t)
{
	assert_int_equal(vq_drv_in_flight(t->d), t->produced - t->reaped);
	assert_int_equal(vq_drv_free_descs(t->d), t->p->size - t->drv_ndesc);
	assert_int_equal(vq_in_flight(t->q), t->dev_n);
	assert_int_equal(t->popped - t->completed, t->dev_n);
	assert_false(vq_is_broken(t->q));
	assert_false(vq_drv_is_broken(t->d));
}

static void test_roundtrip(void **state)
{
	struct rt *t = *state;
	const struct rt_param *p = t->p;
	unsigned steps = 0, limit = 20 * p->chains + 1000;
	while (t->reaped < p->chains) {
		assert_true(++steps < limit); /* no stall (a lost notification) */
		driver_produce(t);
		device_pop(t);
		device_complete(t);
		driver_reap(t);
		check_counts(t);
	}
	assert_int_equal(t->produced, p->chains);
	assert_int_equal(t->completed, p->chains);
	const struct vq_stats *s = vq_get_stats(t->q);
	assert_int_equal(s->popped, p->chains);
	assert_int_equal(s->pushed, p->chains);
	assert_int_equal(s->dropped, 0);
	assert_int_equal(s->notify_sent, t->notifies);
	assert_int_equal(s->notify_sent + s->notify_suppressed, t->notify_calls);
	/* both sides slept and were woken many times */
	assert_true(t->kicks > 10);
	assert_true(t->notifies > 10);
	/* the rings went round: split indices past 65535, packed many laps */
	struct vq_state st;
	vq_get_state(t->q, &st);
	if (p->fmt == VQ_FORMAT_SPLIT)
		assert_int_equal(st.avail_idx, (uint16_t)p->chains);
	assert_int_equal(vq_drv_free_descs(t->d), p->size);
	assert_int_equal(vq_in_flight(t->q), 0);
}

#define FI F(VIRTIO_F_INDIRECT_DESC)
#define FE F(VIRTIO_F_EVENT_IDX)
#define FO F(VIRTIO_F_IN_ORDER)

#define RT(name, fmt, size, feat, n, seed)                                                         \
	static const struct rt_param name = {fmt, size, feat, 4, n, seed}
#define S VQ_FORMAT_SPLIT
#define P VQ_FORMAT_PACKED

/* Split: > 65536 chains so the 16-bit indices wrap. */
RT(split8_plain, S, 8, 0, 70000, 1);
RT(split8_event, S, 8, FE, 70000, 2);
RT(split8_indirect, S, 8, FI, 70000, 3);
RT(split8_in_order, S, 8, FO, 70000, 4);
RT(split8_all, S, 8, FE | FI | FO, 70000, 5);
RT(split256_all, S, 256, FE | FI, 70000, 6);
RT(split1_indirect, S, 1, FI | FE, 3000, 7);
/* Packed: a non-power-of-two ring, many laps. */
RT(packed7_plain, P, 7, 0, 20000, 11);
RT(packed7_event, P, 7, FE, 20000, 12);
RT(packed7_indirect, P, 7, FI, 20000, 13);
RT(packed7_in_order, P, 7, FO, 20000, 14);
RT(packed7_all, P, 7, FE | FI | FO, 20000, 15);
RT(packed256_all, P, 256, FE | FI, 20000, 16);
RT(packed1_indirect, P, 1, FI | FE, 3000, 17);
RT(packed3_event_in_order, P, 3, FE | FO, 20000, 18);

#define RUN(p)                                                                                     \
	{                                                                                          \
		"roundtrip_" #p, test_roundtrip, rt_setup, rt_teardown, (void *)&p                 \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RUN(split8_plain),     RUN(split8_event),     RUN(split8_indirect),
		RUN(split8_in_order),  RUN(split8_all),	      RUN(split256_all),
		RUN(split1_indirect),  RUN(packed7_plain),    RUN(packed7_event),
		RUN(packed7_indirect), RUN(packed7_in_order), RUN(packed7_all),
		RUN(packed256_all),    RUN(packed1_indirect), RUN(packed3_event_in_order),
	};
	return cmocka_run_group_tests_name("virtq_roundtrip", tests, NULL, NULL);
}
