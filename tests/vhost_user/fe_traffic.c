/* SPDX-License-Identifier: MIT */
/* The frontend side of the frontend-against-backend tests: guest memory,
 * rings and traffic (fe_be_fixture.h). */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/test_util.h"
#include "fe_be_fixture.h"

static uint8_t pattern(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (seq >> 8));
}

/* Initial SET_VRING_BASE: split avail idx 0; packed (QEMU/DPDK encoding):
 * avail idx | avail wrap << 15 | (used idx | used wrap << 15) << 16, both
 * wrap counters 1 on a fresh ring (VIRTIO 1.2 §2.8.1). */
static uint32_t fresh_base(enum vq_format fmt)
{
	return fmt == VQ_FORMAT_PACKED ? (1u << 15) | (1u << 31) : 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static void drvq_init(struct fe_ctx *fc, struct drv_q *q, unsigned index, enum vq_format fmt)
{
	struct vq_layout l;
	struct vq_drv_config dc = {0};
	uint64_t off = (uint64_t)index * RING_AREA;

	memset(q, 0, sizeof(*q));
	q->index = index;
	q->fmt = fmt;
	q->features = fc->features & (F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC));
	assert_int_equal(vq_layout(fmt, QSIZE, &l), 0);
	q->desc_off = off;
	off = align_up(off + l.desc_bytes, 4096);
	q->driver_off = off;
	off = align_up(off + l.driver_bytes, 4096);
	q->device_off = off;
	assert_true(off + l.device_bytes <= (uint64_t)(index + 1) * RING_AREA);
	q->buf_off = BUF_BASE + (uint64_t)index * QSIZE * SLOT_BYTES;
	assert_true(q->buf_off + QSIZE * SLOT_BYTES <= fc->shm.size);

	dc.format = fmt;
	dc.size = QSIZE;
	dc.features = q->features;
	dc.desc = fc->shm.base + q->desc_off;
	dc.driver_area = fc->shm.base + q->driver_off;
	dc.device_area = fc->shm.base + q->device_off;
	if (fc->indirect && vq_has_feature(q->features, VIRTIO_F_INDIRECT_DESC)) {
		uint64_t ind = IND_BASE + (uint64_t)index * QSIZE * IND_MAX * 16;

		assert_true(ind + QSIZE * IND_MAX * 16 <= fc->shm.size);
		q->indirect = true;
		dc.indirect = fc->shm.base + ind;
		dc.indirect_gpa = fc->shm.gpa + ind;
		dc.indirect_max = IND_MAX;
	}
	assert_int_equal(vq_drv_new(&dc, &q->d), 0);
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(q->kick_fd >= 0 && q->call_fd >= 0);
	q->nfree = QSIZE;
	for (unsigned i = 0; i < QSIZE; i++)
		q->free_slots[i] = QSIZE - 1 - i;
}

void drvq_fini(struct drv_q *q)
{
	if (q->d)
		vq_drv_free(q->d);
	q->d = NULL;
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	q->kick_fd = q->call_fd = -1;
	free(q->seen);
	q->seen = NULL;
}

void drvq_vring_setup(const struct fe_ctx *fc, const struct drv_q *q, uint32_t base,
		      struct vu_vring_setup *s)
{
	uintptr_t b = (uintptr_t)fc->shm.base;

	s->num = QSIZE;
	s->desc_uva = b + q->desc_off;
	s->driver_uva = b + q->driver_off;
	s->device_uva = b + q->device_off;
	s->base = base;
	s->kick_fd = q->kick_fd;
	s->call_fd = q->call_fd;
}

void traffic_start(struct drv_q *q, uint32_t target)
{
	q->target = target;
	q->next_seq = 0;
	q->done = 0;
	free(q->seen);
	q->seen = calloc(target ? target : 1, 1);
	assert_non_null(q->seen);
}

/* Post as many chains as fit (up to the target), publish, kick if needed. */
unsigned traffic_post(struct fe_ctx *fc, struct drv_q *q, unsigned max)
{
	unsigned posted = 0;

	while (q->next_seq < q->target && q->nfree && posted < max) {
		uint32_t seq = q->next_seq, slot = q->free_slots[q->nfree - 1];
		uint32_t len = 1 + (seq * 37u) % MAX_RD_LEN;
		uint64_t off = q->buf_off + (uint64_t)slot * SLOT_BYTES;
		uint64_t gpa = fc->shm.gpa + off;
		struct vq_drv_buf bufs[4] = {{gpa, len}, {gpa + WR_OFF, SLOT_BYTES - WR_OFF}};
		uint8_t *p = fc->shm.base + off;
		unsigned nout = 1, nin = 1;
		int id;

		if (q->indirect) {
			/* readable bytes in two separate pieces, the writable
			 * part in two descriptors the copy must cross */
			uint32_t len1 = (len + 1) / 2;

			nin = 2;
			bufs[0].len = len1;
			if (len > len1) {
				bufs[1] = (struct vq_drv_buf){gpa + RD2_OFF, len - len1};
				nout = 2;
			}
			bufs[nout] = (struct vq_drv_buf){gpa + WR_OFF, WR1_LEN};
			bufs[nout + 1] = (struct vq_drv_buf){gpa + WR_OFF + WR1_LEN,
							     SLOT_BYTES - WR_OFF - WR1_LEN};
			for (uint32_t i = 0; i < len; i++)
				p[i < len1 ? i : RD2_OFF + i - len1] = pattern(seq, i);
		} else {
			for (uint32_t i = 0; i < len; i++)
				p[i] = pattern(seq, i);
		}
		memset(p + WR_OFF, 0xee, SLOT_BYTES - WR_OFF);
		id = vq_drv_add_chain(q->d, bufs, nout, nin, q->indirect,
				      (void *)(uintptr_t)(slot + 1));
		if (id == -VQ_ERR_NO_SPACE)
			break;
		assert_true(id >= 0);
		q->nfree--;
		q->slot_seq[slot] = seq;
		q->slot_len[slot] = len;
		q->next_seq++;
		posted++;
	}
	if (posted) {
		vq_drv_publish(q->d);
		if (vq_drv_kick_prepare(q->d)) {
			efd_signal(q->kick_fd);
			q->kicks++;
		}
	}
	return posted;
}

/* Reap every used entry, checking tokens, lengths and echoed bytes. */
unsigned traffic_reap(struct fe_ctx *fc, struct drv_q *q)
{
	struct vq_drv_used used[16];
	unsigned total = 0;
	int n;

	while ((n = vq_drv_reap(q->d, used, 16)) > 0) {
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)((uintptr_t)used[i].token - 1);
			uint32_t seq, len;
			const uint8_t *w;

			assert_true(slot < QSIZE);
			seq = q->slot_seq[slot];
			len = q->slot_len[slot];
			assert_true(seq < q->target);
			assert_int_equal(q->seen[seq], 0); /* no duplicate */
			q->seen[seq] = 1;
			assert_int_equal(used[i].len, len);
			w = fc->shm.base + q->buf_off + (uint64_t)slot * SLOT_BYTES + WR_OFF;
			for (uint32_t j = 0; j < len; j++)
				if (w[j] != pattern(seq, j))
					fail_msg("queue %u seq %u byte %u: %#x != %#x", q->index,
						 seq, j, w[j], pattern(seq, j));
			q->free_slots[q->nfree++] = slot;
			q->done++;
		}
		total += (unsigned)n;
	}
	assert_true(n == 0);
	return total;
}

/* Wait for a used-buffer notification on any of @qs (bounded, short). */
static void traffic_wait(struct drv_q **qs, unsigned n, int timeout_ms)
{
	struct pollfd pfd[NUM_QUEUES];

	for (unsigned i = 0; i < n; i++)
		pfd[i] = (struct pollfd){.fd = qs[i]->call_fd, .events = POLLIN};
	if (poll(pfd, n, timeout_ms) > 0)
		for (unsigned i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				efd_drain(qs[i]->call_fd);
}

/* Run the queues' traffic until each reached its target, or fail. */
void traffic_run(struct fe_ctx *fc, struct drv_q **qs, unsigned n)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	for (;;) {
		bool all_done = true;

		for (unsigned i = 0; i < n; i++) {
			traffic_reap(fc, qs[i]);
			traffic_post(fc, qs[i], QSIZE);
			if (qs[i]->done < qs[i]->target)
				all_done = false;
		}
		if (all_done)
			break;
		if (now_ms() > deadline) {
			for (unsigned i = 0; i < n; i++)
				print_error("queue %u: %u of %u done, %u posted, %u kicks\n",
					    qs[i]->index, qs[i]->done, qs[i]->target,
					    qs[i]->next_seq, qs[i]->kicks);
			fail_msg("traffic timed out");
		}
		traffic_wait(qs, n, 10);
	}
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(vq_drv_in_flight(qs[i]->d), 0);
		assert_false(vq_drv_is_broken(qs[i]->d));
	}
}

/* Connect and negotiate @extra virtio features on top of VERSION_1. */
/* ... offering every protocol feature the backend has but @pf_clear. */
void fe_connect_negotiate_pf(struct fe_ctx *fc, const struct be_ctx *c, uint64_t extra,
			     uint64_t pf_clear)
{
	uint64_t feat, pf;

	memset(fc, 0, sizeof(*fc));
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		fc->q[i].kick_fd = fc->q[i].call_fd = -1;
	fc->shm.fd = -1;
	assert_int_equal(vu_frontend_connect(c->path, CONNECT_MS, &fc->f), 0);
	assert_int_equal(vu_frontend_set_owner(fc->f), 0);
	assert_int_equal(vu_frontend_get_features(fc->f, &feat), 0);
	assert_true(vq_has_feature(feat, VHOST_USER_F_PROTOCOL_FEATURES));
	assert_int_equal(vu_frontend_get_protocol_features(fc->f, &pf), 0);
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_REPLY_ACK));
	pf &= ~pf_clear;
	assert_int_equal(vu_frontend_set_protocol_features(fc->f, pf), 0);
	fc->protocol_features = pf;
	fc->features = feat & (F(VIRTIO_F_VERSION_1) | F(VHOST_USER_F_PROTOCOL_FEATURES) | extra);
	assert_int_equal(vu_frontend_set_features(fc->f, fc->features), 0);
}

void fe_connect_negotiate(struct fe_ctx *fc, const struct be_ctx *c, uint64_t extra)
{
	fe_connect_negotiate_pf(fc, c, extra, 0);
}

void fe_share_memory(struct fe_ctx *fc)
{
	assert_int_equal(vu_shm_alloc(SHM_SIZE, SHM_GPA, false, &fc->shm), 0);
	assert_int_equal(vu_frontend_set_mem_table(fc->f, &fc->shm, 1), 0);
}

void fe_start_queue(struct fe_ctx *fc, unsigned index, enum vq_format fmt)
{
	struct vu_vring_setup s;
	struct drv_q *q = &fc->q[index];

	drvq_init(fc, q, index, fmt);
	drvq_vring_setup(fc, q, fresh_base(fmt), &s);
	assert_int_equal(vu_frontend_setup_vring(fc->f, index, &s), 0);
	assert_int_equal(vu_frontend_set_vring_enable(fc->f, index, true), 0);
	if (index + 1 > fc->nq)
		fc->nq = index + 1;
}

void fe_teardown(struct fe_ctx *fc)
{
	if (fc->f)
		vu_frontend_close(fc->f);
	fc->f = NULL;
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		drvq_fini(&fc->q[i]);
	vu_shm_free(&fc->shm);
}
