/* SPDX-License-Identifier: MIT */
/*
 * A virtio-net test driver over vhost-user: see net_dev_test_frontend.h.
 *
 * Theory of operation: ntf_open() allocates the shared memory and one
 * vq_drv per queue (their state lives in this process and in the shared
 * rings, so it survives the device going away), then ntf_connect_rings()
 * negotiates and starts the rings. A reconnect repeats only the second
 * part; for split rings the ring base is the used index (what the device
 * completed; with inflight tracking the device resubmits the rest).
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "spec/vhost_user_msg.h"

#include "net_dev_test_frontend.h"
#include "../harness/test_util.h"

#define CONNECT_MS 10000u

uint64_t ntf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ntf_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

bool ntf_efd_wait(int fd, unsigned ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t dl = ntf_now_ms() + ms, v;

	for (;;) {
		uint64_t now = ntf_now_ms();
		int rc;

		if (now > dl)
			return false;
		rc = poll(&p, 1, (int)(dl - now));
		if (rc > 0 && (p.revents & POLLIN))
			return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

unsigned ntf_ctrlq(const struct ntf *n)
{
	return 2 * n->pairs;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static bool queue_wanted(const struct ntf *n, unsigned i)
{
	return i < 2 * n->pairs || (n->o.ctrl && i == ntf_ctrlq(n));
}

/* The driver side of ring @i, laid out in the ring area @i. */
/* Fill eventfd @fd's counter to its maximum (0xfffffffffffffffe): one
 * more write() of 1 would block on a blocking fd. */
static void efd_fill(int fd)
{
	uint64_t max = UINT64_MAX - 1;

	if (fd >= 0)
		assert_int_equal(write(fd, &max, sizeof(max)), sizeof(max));
}

static void ring_new(struct ntf *n, unsigned i)
{
	struct ntf_queue *q = &n->q[i];
	struct vq_drv_config dc = {0};
	struct vq_layout l;
	uint64_t off = (uint64_t)i * NTF_RING_AREA;

	assert_int_equal(vq_layout(n->o.fmt, NTF_QSIZE, &l), 0);
	q->desc_off = off;
	off = align_up(off + l.desc_bytes, 4096);
	q->driver_off = off;
	off = align_up(off + l.driver_bytes, 4096);
	q->device_off = off;
	assert_true(off + l.device_bytes <= (uint64_t)(i + 1) * NTF_RING_AREA);
	dc.format = n->o.fmt;
	dc.size = NTF_QSIZE;
	dc.features = n->features & (NTF_F(VIRTIO_F_EVENT_IDX) | NTF_F(VIRTIO_F_INDIRECT_DESC) |
				     NTF_F(VIRTIO_F_IN_ORDER));
	dc.desc = n->shm.base + q->desc_off;
	dc.driver_area = n->shm.base + q->driver_off;
	dc.device_area = n->shm.base + q->device_off;
	assert_int_equal(vq_drv_new(&dc, &q->d), 0);
	int nb = n->o.full_blocking_efds ? 0 : EFD_NONBLOCK;

	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | nb);
	q->err_fd = n->o.err_fds ? eventfd(0, EFD_CLOEXEC | nb) : -1;
	assert_true(q->kick_fd >= 0 && q->call_fd >= 0);
	assert_true(!n->o.err_fds || q->err_fd >= 0);
	if (n->o.full_blocking_efds) {
		efd_fill(q->call_fd);
		efd_fill(q->err_fd);
	}
}

/* SET_VRING_BASE for ring @i: a fresh packed ring starts at 0 with both
 * wrap counters set; a split ring at its used index (0 when fresh). */
static uint32_t ring_base(const struct ntf *n, unsigned i)
{
	struct virtq_used *used = (struct virtq_used *)(n->shm.base + n->q[i].device_off);

	if (n->o.fmt == VQ_FORMAT_PACKED)
		return (1u << 15) | (1u << 31);
	return le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE));
}

static void ring_start(struct ntf *n, unsigned i)
{
	struct ntf_queue *q = &n->q[i];
	uintptr_t base = (uintptr_t)n->shm.base;
	struct vu_vring_setup s = {.num = NTF_QSIZE,
				   .desc_uva = base + q->desc_off,
				   .driver_uva = base + q->driver_off,
				   .device_uva = base + q->device_off,
				   .base = ring_base(n, i),
				   .kick_fd = q->kick_fd,
				   .call_fd = q->call_fd};

	if (q->err_fd >= 0)
		assert_int_equal(vu_frontend_set_vring_err(n->f, i, q->err_fd), 0);
	assert_int_equal(vu_frontend_setup_vring(n->f, i, &s), 0);
	assert_int_equal(vu_frontend_set_vring_enable(n->f, i, true), 0);
}

/* Connect and negotiate; on the first connection the features are chosen,
 * later ones must get the same. */
static void negotiate(struct ntf *n, bool first)
{
	uint64_t feat, pf, want;

	assert_int_equal(vu_frontend_connect(n->path, CONNECT_MS, &n->f), 0);
	assert_int_equal(vu_frontend_get_features(n->f, &feat), 0);
	assert_true(vq_has_feature(feat, VHOST_USER_F_PROTOCOL_FEATURES));
	assert_int_equal(vu_frontend_get_protocol_features(n->f, &pf), 0);
	pf &= ~n->o.pf_mask;
	if (n->o.inflight)
		assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	else
		pf &= ~NTF_F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
	assert_int_equal(vu_frontend_set_protocol_features(n->f, pf), 0);
	assert_int_equal(vu_frontend_set_owner(n->f), 0);
	want = NTF_F(VIRTIO_F_VERSION_1) | NTF_F(VHOST_USER_F_PROTOCOL_FEATURES) | n->o.want;
	if (n->o.ctrl)
		want |= NTF_F(VIRTIO_NET_F_CTRL_VQ);
	if (n->o.fmt == VQ_FORMAT_PACKED)
		want |= NTF_F(VIRTIO_F_RING_PACKED);
	if (first) {
		n->features = feat & want;
		n->pf = pf;
		assert_true(vq_has_feature(n->features, VIRTIO_F_VERSION_1));
		assert_true(n->o.fmt != VQ_FORMAT_PACKED ||
			    vq_has_feature(n->features, VIRTIO_F_RING_PACKED));
		assert_true(!n->o.ctrl || vq_has_feature(n->features, VIRTIO_NET_F_CTRL_VQ));
	} else {
		assert_int_equal(feat & want, n->features);
		assert_int_equal(pf, n->pf);
	}
	assert_int_equal(vu_frontend_set_features(n->f, n->features), 0);
}

static void connect_rings(struct ntf *n, bool first)
{
	negotiate(n, first);
	if (n->o.inflight) {
		if (first)
			assert_int_equal(vu_frontend_get_inflight_fd(n->f, (uint16_t)n->nq,
								     NTF_QSIZE, &n->infl),
					 0);
		assert_int_equal(vu_frontend_set_inflight_fd(n->f, &n->infl), 0);
	}
	assert_int_equal(vu_frontend_set_mem_table(n->f, &n->shm, 1), 0);
	if (first)
		for (unsigned i = 0; i < n->nq; i++)
			if (queue_wanted(n, i))
				ring_new(n, i);
	for (unsigned i = 0; i < n->nq; i++)
		if (queue_wanted(n, i))
			ring_start(n, i);
}

void ntf_open(struct ntf *n, const char *path, const struct ntf_opts *o)
{
	memset(n, 0, sizeof(*n));
	n->o = *o;
	n->pairs = o->pairs ? o->pairs : 1;
	assert_true(n->pairs <= NTF_MAXP);
	n->nq = 2 * n->pairs + (o->ctrl ? 1 : 0);
	for (unsigned i = 0; i < NTF_MAXQ; i++)
		n->q[i].kick_fd = n->q[i].call_fd = n->q[i].err_fd = -1;
	n->infl.fd = -1;
	assert_true(strlen(path) < sizeof(n->path));
	strcpy(n->path, path);
	assert_int_equal(vu_shm_alloc(NTF_SHM_SIZE, NTF_SHM_GPA, false, &n->shm), 0);
	connect_rings(n, true);
}

void ntf_reconnect(struct ntf *n)
{
	assert_null(n->f);
	connect_rings(n, false);
	for (unsigned i = 0; i < n->nq; i++)
		if (n->q[i].d)
			efd_signal(n->q[i].kick_fd);
}

void ntf_disconnect(struct ntf *n)
{
	vu_frontend_close(n->f);
	n->f = NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void ntf_close(struct ntf *n)
{
	ntf_disconnect(n);
	for (unsigned i = 0; i < NTF_MAXQ; i++) {
		struct ntf_queue *q = &n->q[i];

		if (q->d)
			vq_drv_free(q->d);
		q->d = NULL;
		close_fd(&q->kick_fd);
		close_fd(&q->call_fd);
		close_fd(&q->err_fd);
	}
	vu_inflight_free(&n->infl);
	vu_shm_free(&n->shm);
}

void ntf_kick(struct ntf *n, unsigned q)
{
	vq_drv_publish(n->q[q].d);
	if (vq_drv_kick_prepare(n->q[q].d))
		efd_signal(n->q[q].kick_fd);
}

/* ------------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------------ */

uint32_t ntf_make_frame(uint8_t *frame, uint32_t len, const uint8_t dst[6], const uint8_t src[6],
			uint32_t seq)
{
	assert_true(len >= 18);
	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	frame[14] = (uint8_t)(seq >> 24);
	frame[15] = (uint8_t)(seq >> 16);
	frame[16] = (uint8_t)(seq >> 8);
	frame[17] = (uint8_t)seq;
	for (uint32_t i = 18; i < len; i++)
		frame[i] = (uint8_t)(seq + i * 7u);
	return len;
}

uint32_t ntf_frame_seq(const uint8_t *frame)
{
	return (uint32_t)frame[14] << 24 | (uint32_t)frame[15] << 16 | (uint32_t)frame[16] << 8 |
	       frame[17];
}

/* A free slot of @busy (NTF_QSIZE bits), marked busy; or -1. */
static int slot_take(uint64_t *busy)
{
	for (unsigned i = 0; i < NTF_QSIZE; i++)
		if (!(*busy >> i & 1)) {
			*busy |= 1ull << i;
			return (int)i;
		}
	return -1;
}

static uint64_t tx_slot_off(unsigned pair, unsigned slot)
{
	return NTF_TX_BASE + ((uint64_t)pair * NTF_QSIZE + slot) * NTF_TX_SLOT;
}

static uint64_t rx_slot_off(unsigned pair, unsigned slot)
{
	return NTF_RX_BASE + ((uint64_t)pair * NTF_QSIZE + slot) * NTF_RX_SLOT;
}

int ntf_tx_send(struct ntf *n, unsigned pair, const uint8_t *frame, uint32_t len,
		unsigned *slot_out)
{
	int slot = slot_take(&n->tx_slot_busy[pair]), id;
	uint64_t off;
	struct vq_drv_buf b;

	assert_true(NTF_HDR + len <= NTF_TX_SLOT);
	if (slot < 0)
		return -1;
	off = tx_slot_off(pair, (unsigned)slot);
	memset(n->shm.base + off, 0, NTF_HDR);
	memcpy(n->shm.base + off + NTF_HDR, frame, len);
	b = (struct vq_drv_buf){n->shm.gpa + off, NTF_HDR + len};
	id = vq_drv_add_chain(n->q[ntf_txq(pair)].d, &b, 1, 0, false,
			      (void *)(uintptr_t)(slot + 1));
	if (id < 0) {
		n->tx_slot_busy[pair] &= ~(1ull << slot);
		return -1;
	}
	if (slot_out)
		*slot_out = (unsigned)slot;
	ntf_kick(n, ntf_txq(pair));
	return id;
}

unsigned ntf_tx_reap(struct ntf *n, unsigned pair, void **tokens, unsigned max)
{
	struct vq_drv_used u[NTF_QSIZE];
	unsigned total = 0;
	int got;

	while ((got = vq_drv_reap(n->q[ntf_txq(pair)].d, u, NTF_QSIZE)) > 0) {
		for (int i = 0; i < got; i++) {
			uintptr_t slot = (uintptr_t)u[i].token - 1;

			assert_int_equal(u[i].len, 0);
			assert_true(slot < NTF_QSIZE);
			n->tx_slot_busy[pair] &= ~(1ull << slot);
			if (tokens && total < max)
				tokens[total] = u[i].token;
			total++;
		}
	}
	if (got < 0)
		fail_msg("transmitq %u: the device broke the ring: %s", ntf_txq(pair),
			 vq_strerror(got));
	return total;
}

unsigned ntf_rx_fill(struct ntf *n, unsigned pair)
{
	struct ntf_rx *r = &n->rx[pair];
	unsigned posted = 0;
	int slot;

	while ((slot = slot_take(&r->slot_busy)) >= 0) {
		uint64_t off = rx_slot_off(pair, (unsigned)slot);
		struct vq_drv_buf b = {n->shm.gpa + off, NTF_RX_SLOT};

		memset(n->shm.base + off, 0xee, NTF_HDR);
		if (vq_drv_add_chain(n->q[ntf_rxq(pair)].d, &b, 0, 1, false,
				     (void *)(uintptr_t)(slot + 1)) < 0) {
			r->slot_busy &= ~(1ull << slot);
			break;
		}
		posted++;
	}
	if (posted)
		ntf_kick(n, ntf_rxq(pair));
	return posted;
}

void ntf_rx_reap(struct ntf *n, unsigned pair)
{
	struct ntf_rx *r = &n->rx[pair];
	int got = vq_drv_reap(n->q[ntf_rxq(pair)].d, r->used + r->nused, NTF_QSIZE - r->nused);

	if (got < 0)
		fail_msg("receiveq %u: the device broke the ring: %s", ntf_rxq(pair),
			 vq_strerror(got));
	r->nused += (unsigned)got;
}

static const uint8_t *rx_buf(const struct ntf *n, unsigned pair, const struct vq_drv_used *u)
{
	uintptr_t slot = (uintptr_t)u->token - 1;

	assert_true(slot < NTF_QSIZE);
	return n->shm.base + rx_slot_off(pair, (unsigned)slot);
}

int ntf_rx_recv(struct ntf *n, unsigned pair, uint8_t *frame, unsigned ms)
{
	struct ntf_rx *r = &n->rx[pair];
	uint64_t dl = ntf_now_ms() + ms;
	struct virtio_net_hdr_v1 h;
	unsigned nb = 0;
	uint32_t len = 0;

	for (;;) {
		ntf_rx_reap(n, pair);
		if (r->nused) {
			assert_true(r->used[0].len >= NTF_HDR);
			memcpy(&h, rx_buf(n, pair, &r->used[0]), NTF_HDR);
			nb = vq_has_feature(n->features, VIRTIO_NET_F_MRG_RXBUF)
				     ? le16toh(h.num_buffers)
				     : 1;
			assert_true(nb >= 1 && nb <= NTF_QSIZE);
			if (r->nused >= nb)
				break;
		}
		if (ntf_now_ms() > dl)
			return -1;
		ntf_sleep_ms(1);
	}
	for (unsigned i = 0; i < nb; i++) {
		uint32_t skip = i ? 0 : NTF_HDR, l = r->used[i].len - skip;

		assert_true(len + l <= NTF_RX_SLOT * 4);
		memcpy(frame + len, rx_buf(n, pair, &r->used[i]) + skip, l);
		len += l;
		r->slot_busy &= ~(1ull << ((uintptr_t)r->used[i].token - 1));
	}
	memmove(r->used, r->used + nb, (r->nused - nb) * sizeof(r->used[0]));
	r->nused -= nb;
	return (int)len;
}

/* ------------------------------------------------------------------------
 * Control queue
 * ------------------------------------------------------------------------ */

uint8_t ntf_ctrl_raw(struct ntf *n, const void *bytes, uint32_t len)
{
	unsigned q = ntf_ctrlq(n);
	uint64_t off = NTF_CTRL_BASE + (uint64_t)(n->ctrl_next++ % NTF_QSIZE) * NTF_CTRL_SLOT;
	uint8_t *p = n->shm.base + off;
	struct vq_drv_buf b[2] = {{n->shm.gpa + off, len},
				  {n->shm.gpa + off + NTF_CTRL_SLOT - 1, 1}};
	struct vq_drv_used u;
	uint64_t dl = ntf_now_ms() + NTF_WAIT_MS;
	int got;

	assert_true(len >= 1 && len < NTF_CTRL_SLOT);
	memcpy(p, bytes, len);
	p[NTF_CTRL_SLOT - 1] = 0xaa;
	assert_true(vq_drv_add_chain(n->q[q].d, b, 1, 1, false, (void *)1) >= 0);
	ntf_kick(n, q);
	while ((got = vq_drv_reap(n->q[q].d, &u, 1)) == 0) {
		if (ntf_now_ms() > dl)
			fail_msg("control command of %u bytes not completed", len);
		ntf_sleep_ms(1);
	}
	assert_int_equal(got, 1);
	assert_int_equal(u.len, 1);
	return p[NTF_CTRL_SLOT - 1];
}

uint8_t ntf_ctrl_cmd(struct ntf *n, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t buf[NTF_CTRL_SLOT];

	assert_true(2 + len < NTF_CTRL_SLOT);
	buf[0] = cls;
	buf[1] = cmd;
	if (len)
		memcpy(buf + 2, data, len);
	return ntf_ctrl_raw(n, buf, 2 + len);
}
