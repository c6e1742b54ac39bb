/* SPDX-License-Identifier: MIT */
/*
 * The in-process net_dev environment of the test_net_dev_*.c files: see
 * net_dev_fixture.h.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "spec/vhost_user_msg.h"

#include "net_dev_fixture.h"
#include "rxwin_place.h"

const uint8_t dev_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

/* ------------------------------------------------------------------------
 * Checksums
 * ------------------------------------------------------------------------ */

/* RFC 1071 sum for checking checksums independently of lib/net. */
static uint32_t sum16(uint32_t s, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* ------------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------------ */

void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A non-IP frame (local experimental ethertype) of @len bytes to @dst. */
uint32_t make_raw(uint8_t *f, uint32_t len, const uint8_t dst[6], uint8_t seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, 0x88b5);
	for (uint32_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7u);
	return len;
}

/* Pseudo-header sum of a TCP/IPv4 frame for @tcp_len bytes of TCP. */
static uint32_t tcp4_pseudo(const uint8_t *f, uint32_t tcp_len)
{
	uint32_t s = sum16(0, f + 14 + 12, 8);

	return s + 6 + tcp_len;
}

/* TCP/IPv4 frame with @payload bytes; the TCP checksum is left partial
 * (pseudo-header sum, for NEEDS_CSUM) when @partial, else complete. */
uint32_t make_tcp4(uint8_t *f, uint32_t payload, bool partial)
{
	uint32_t ip_len = 20 + 20 + payload, len = 14 + ip_len;
	uint8_t *ip = f + 14, *tcp = f + 34;

	memcpy(f, dev_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ip_len);
	put16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, (const uint8_t[]){10, 0, 0, 2, 10, 0, 0, 1}, 8);
	put16(ip + 10, (uint16_t)~fold(sum16(0, ip, 20)));
	memset(tcp, 0, 20);
	put16(tcp, 40000);
	put16(tcp + 2, 80);
	memcpy(tcp + 4, (const uint8_t[]){0, 0, 0x10, 0}, 4); /* seq 4096 */
	tcp[12] = 5 << 4;
	tcp[13] = 0x18; /* PSH ACK */
	put16(tcp + 14, 65535);
	for (uint32_t i = 0; i < payload; i++)
		tcp[20 + i] = (uint8_t)(i * 13u + 1);
	if (partial)
		put16(tcp + 16, fold(tcp4_pseudo(f, 20 + payload)));
	else
		put16(tcp + 16,
		      (uint16_t)~fold(sum16(tcp4_pseudo(f, 20 + payload), tcp, 20 + payload)));
	return len;
}

bool tcp4_csum_ok(const uint8_t *f, uint32_t len)
{
	uint32_t tcp_len = get16(f + 16) - 20u;

	return len >= 54 && fold(sum16(tcp4_pseudo(f, tcp_len), f + 34, tcp_len)) == 0xffff;
}

/* ------------------------------------------------------------------------
 * The test network backend
 * ------------------------------------------------------------------------ */

static uint32_t tbe_caps(struct netbe *be)
{
	return ((struct tbe *)be->priv)->caps;
}

static int tbe_set_queue_pairs(struct netbe *be, unsigned n)
{
	atomic_store(&((struct tbe *)be->priv)->pairs, n);
	return 0;
}

static int tbe_set_rx_offloads(struct netbe *be, uint32_t caps)
{
	atomic_store(&((struct tbe *)be->priv)->rx_offloads, caps);
	return 0;
}

static void tbe_push(struct tbe *t, unsigned pair, const struct iovec *iov, unsigned n,
		     uint32_t len, const struct netbe_meta *meta)
{
	struct tbe_fifo *q = &t->fifo[pair];
	struct tbe_frame *fr = malloc(sizeof(*fr) + len);
	uint32_t off = 0;

	assert_non_null(fr);
	fr->len = len;
	fr->meta = *meta;
	for (unsigned i = 0; i < n && off < len; i++) {
		size_t k = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;

		memcpy(fr->data + off, iov[i].iov_base, k);
		off += (uint32_t)k;
	}
	pthread_mutex_lock(&t->lock);
	if (q->count == TBE_MAX) {
		free(fr);
	} else {
		q->q[(q->head + q->count++) % TBE_MAX] = fr;
		efd_signal(q->efd);
	}
	pthread_mutex_unlock(&t->lock);
}

static uint32_t iov_bytes(const struct iovec *iov, unsigned n)
{
	size_t s = 0;

	for (unsigned i = 0; i < n; i++)
		s += iov[i].iov_len;
	return (uint32_t)s;
}

static int tbe_tx(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n)
{
	struct tbe *t = be->priv;

	assert_true(q < MAXP);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pkts[i].len, iov_bytes(pkts[i].iov, pkts[i].iovcnt));
		if (t->loop)
			tbe_push(t, q, pkts[i].iov, pkts[i].iovcnt, pkts[i].len, &pkts[i].meta);
		atomic_fetch_add(&t->tx_frames, 1);
	}
	return (int)n;
}

static int tbe_rx(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n)
{
	struct tbe *t = be->priv;
	struct tbe_fifo *f = &t->fifo[q];
	unsigned got = 0;

	assert_true(q < MAXP);
	pthread_mutex_lock(&t->lock);
	while (got < n && f->count) {
		struct tbe_frame *fr = f->q[f->head];

		f->head = (f->head + 1) % TBE_MAX;
		f->count--;
		if (fr->len <= bufs[got].cap) {
			memcpy(bufs[got].data, fr->data, fr->len);
			bufs[got].len = fr->len;
			bufs[got].meta = fr->meta;
			got++;
		}
		free(fr);
	}
	if (!f->count)
		efd_drain(f->efd);
	pthread_mutex_unlock(&t->lock);
	return (int)got;
}

static int tbe_rx_fd(struct netbe *be, unsigned q)
{
	return ((struct tbe *)be->priv)->fifo[q].efd;
}

unsigned tbe_pending(struct tbe *t, unsigned pair)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->fifo[pair].count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void tbe_inject(struct tbe *t, unsigned pair, const uint8_t *f, uint32_t len,
		const struct netbe_meta *m)
{
	static const struct netbe_meta none;
	struct iovec iov = {.iov_base = (void *)f, .iov_len = len};

	tbe_push(t, pair, &iov, 1, len, m ? m : &none);
}

static const struct netbe_ops tbe_ops = {
	.name = "test",
	.caps = tbe_caps,
	.set_queue_pairs = tbe_set_queue_pairs,
	.set_rx_offloads = tbe_set_rx_offloads,
	.tx = tbe_tx,
	.rx = tbe_rx,
	.rx_fd = tbe_rx_fd,
};

/* Frames from the FIFO into the window while the next fits, then the rest
 * as rx() gives them (frames keep their order). */
static int tbe_rx_direct(struct netbe *be, unsigned q, struct netbe_rxwin *w,
			 struct netbe_rxbuf *bufs, unsigned n)
{
	struct tbe *t = be->priv;
	struct tbe_fifo *f = &t->fifo[q];
	int got;

	atomic_fetch_add(&t->direct_lent, w->nchains);
	pthread_mutex_lock(&t->lock);
	while (f->count && !atomic_load(&t->direct_refuse)) {
		struct tbe_frame *fr = f->q[f->head];
		bool bad = atomic_load(&t->direct_bad) > 0;

		if (!rxwin_place(w, fr->data, fr->len, &fr->meta, bad))
			break;
		if (bad)
			atomic_fetch_sub(&t->direct_bad, 1);
		f->head = (f->head + 1) % TBE_MAX;
		f->count--;
		free(fr);
		atomic_fetch_add(&t->win_frames, 1);
	}
	pthread_mutex_unlock(&t->lock);
	got = tbe_rx(be, q, bufs, n);
	if (got > 0)
		atomic_fetch_add(&t->buf_frames, (unsigned)got);
	return got;
}

void tbe_set_direct(struct tbe *t)
{
	static struct netbe_ops direct;

	direct = tbe_ops;
	direct.name = "test-direct";
	direct.rx_direct = tbe_rx_direct;
	t->be.ops = &direct;
}

void tbe_init(struct tbe *t, uint32_t caps, unsigned pairs)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	for (unsigned i = 0; i < MAXP; i++) {
		t->fifo[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(t->fifo[i].efd >= 0);
	}
	t->caps = caps;
	t->loop = true;
	t->be = (struct netbe){.ops = &tbe_ops, .priv = t, .max_queue_pairs = pairs};
}

void tbe_fini(struct tbe *t)
{
	for (unsigned i = 0; i < MAXP; i++) {
		struct tbe_fifo *f = &t->fifo[i];

		while (f->count) {
			free(f->q[f->head]);
			f->head = (f->head + 1) % TBE_MAX;
			f->count--;
		}
		close(f->efd);
	}
	pthread_mutex_destroy(&t->lock);
}

/* ------------------------------------------------------------------------
 * The environment: device, backend thread, frontend
 * ------------------------------------------------------------------------ */

static void env_log(void *opaque, enum vqnet_log_level level, const char *subject, const char *line)
{
	struct env *e = opaque;

	(void)level;
	if (atomic_fetch_add_explicit(&e->log_lines, 1, memory_order_relaxed) < 20)
		print_message("  [net_dev] %s%s%s\n", subject ? subject : "", subject ? ": " : "",
			      line);
}

static void *ctl_thread(void *p)
{
	struct env *e = p;

	while (!atomic_load(&e->stop)) {
		int bfd = vu_backend_fd(e->b), cfd = net_dev_ctrl_fd(e->dev), rc;
		struct pollfd pfd[3] = {{.fd = bfd, .events = POLLIN},
					{.fd = e->ctl_fd, .events = POLLIN},
					{.fd = cfd, .events = POLLIN}};
		int c;

		if (poll(pfd, 3, 20) < 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			efd_drain(e->ctl_fd);
			c = atomic_load(&e->cmd);
			if (c == CMD_LINK_DOWN || c == CMD_LINK_UP)
				net_dev_set_link(e->dev, c == CMD_LINK_UP);
			else if (c == CMD_RARP)
				net_dev_vu_ops()->send_rarp(e->dev, peer_mac);
			else if (c == CMD_MTU)
				e->cmd_rc = net_dev_vu_ops()->set_mtu(e->dev, (uint16_t)e->cmd_arg);
			else if (c == CMD_ANNOUNCE)
				e->cmd_rc = net_dev_announce(e->dev);
			atomic_store(&e->cmd, CMD_NONE);
		}
		if (bfd < 0 || pfd[0].revents) {
			rc = vu_backend_dispatch(e->b);
			if (rc < 0 && rc != -EAGAIN)
				atomic_fetch_add(&e->disconnects, 1);
		}
		if (cfd >= 0 && (pfd[2].revents & POLLIN))
			net_dev_ctrl_process(e->dev);
	}
	return NULL;
}

void env_cmd(struct env *e, enum cmd c)
{
	atomic_store(&e->cmd, c);
	efd_signal(e->ctl_fd);
	WAIT_FOR(atomic_load(&e->cmd) == CMD_NONE);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static void dq_setup(struct env *e, unsigned index)
{
	struct dq *q = &e->q[index];
	struct vq_layout l;
	struct vq_drv_config dc = {0};
	struct vu_vring_setup s;
	uint64_t off = (uint64_t)index * RING_AREA;
	uintptr_t base = (uintptr_t)e->shm.base;

	assert_int_equal(vq_layout(e->o.fmt, QSIZE, &l), 0);
	q->desc_off = off;
	off = align_up(off + l.desc_bytes, 4096);
	q->driver_off = off;
	off = align_up(off + l.driver_bytes, 4096);
	q->device_off = off;
	dc.format = e->o.fmt;
	dc.size = QSIZE;
	dc.features = e->features &
		      (F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_IN_ORDER));
	dc.desc = e->shm.base + q->desc_off;
	dc.driver_area = e->shm.base + q->driver_off;
	dc.device_area = e->shm.base + q->device_off;
	assert_int_equal(vq_drv_new(&dc, &q->d), 0);
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s = (struct vu_vring_setup){.num = QSIZE,
				    .desc_uva = base + q->desc_off,
				    .driver_uva = base + q->driver_off,
				    .device_uva = base + q->device_off,
				    .base = e->o.fmt == VQ_FORMAT_PACKED ? (1u << 15) | (1u << 31)
									 : 0,
				    .kick_fd = q->kick_fd,
				    .call_fd = q->call_fd};
	assert_int_equal(vu_frontend_setup_vring(e->f, index, &s), 0);
	assert_int_equal(vu_frontend_set_vring_enable(e->f, index, true), 0);
}

/* Connect a frontend, negotiate, share memory, start the three rings. */
void fe_open(struct env *e)
{
	uint64_t feat, pf;

	assert_int_equal(vu_frontend_connect(e->path, CONNECT_MS, &e->f), 0);
	assert_int_equal(vu_frontend_set_owner(e->f), 0);
	assert_int_equal(vu_frontend_get_features(e->f, &feat), 0);
	assert_true(vq_has_feature(feat, VHOST_USER_F_PROTOCOL_FEATURES));
	assert_int_equal(vu_frontend_get_protocol_features(e->f, &pf), 0);
	assert_int_equal(vu_frontend_set_protocol_features(e->f, pf), 0);
	e->features = feat & (F(VIRTIO_F_VERSION_1) | F(VHOST_USER_F_PROTOCOL_FEATURES) |
			      F(VIRTIO_NET_F_CTRL_VQ) | e->o.want);
	if (e->o.fmt == VQ_FORMAT_PACKED) {
		assert_true(vq_has_feature(feat, VIRTIO_F_RING_PACKED));
		e->features |= F(VIRTIO_F_RING_PACKED);
	}
	assert_int_equal(vu_frontend_set_features(e->f, e->features), 0);
	assert_int_equal(vu_shm_alloc(SHM_SIZE, SHM_GPA, false, &e->shm), 0);
	assert_int_equal(vu_frontend_set_mem_table(e->f, &e->shm, 1), 0);
	for (unsigned i = 0; i < e->nq; i++)
		dq_setup(e, i);
	e->tx_next = e->ctrl_next = 0;
	memset(e->rx_next, 0, sizeof(e->rx_next));
	memset(e->rx_nused, 0, sizeof(e->rx_nused));
	e->cur = 0;
}

void fe_close(struct env *e)
{
	unsigned before = atomic_load(&e->disconnects);

	if (e->f)
		vu_frontend_close(e->f);
	if (e->f)
		WAIT_FOR(atomic_load(&e->disconnects) > before);
	e->f = NULL;
	for (unsigned i = 0; i < e->nq; i++) {
		if (e->q[i].d)
			vq_drv_free(e->q[i].d);
		e->q[i].d = NULL;
		if (e->q[i].kick_fd > 0)
			close(e->q[i].kick_fd);
		if (e->q[i].call_fd > 0)
			close(e->q[i].call_fd);
		e->q[i].kick_fd = e->q[i].call_fd = -1;
	}
	vu_shm_free(&e->shm);
}

struct env *env_new(const struct opts *o)
{
	struct env *e = calloc(1, sizeof(*e));
	struct net_dev_config cfg = {0};
	struct vu_backend_config bc = {0};

	assert_non_null(e);
	e->o = *o;
	e->pairs = o->pairs ? o->pairs : 1;
	e->nq = 2 * e->pairs + 1;
	assert_true(e->pairs <= MAXP);
	for (unsigned i = 0; i < MAXQ; i++)
		e->q[i].kick_fd = e->q[i].call_fd = -1;
	e->shm.fd = -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/vqnet-netdev-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->path, sizeof(e->path), "%s/vu.sock", e->dir);
	tbe_init(&e->tbe, o->caps, e->pairs);
	if (o->direct)
		tbe_set_direct(&e->tbe);
	cfg.queue_pairs = e->pairs;
	memcpy(cfg.mac, dev_mac, 6);
	cfg.mtu = o->mtu;
	cfg.speed_mbps = 10000;
	cfg.full_duplex = true;
	cfg.tx_rate = o->tx_rate;
	cfg.poll_us = o->poll_us;
	cfg.be = &e->tbe.be;
	vqnet_log_set_sink(env_log, e);
	vqnet_log_set_level(VQNET_LOG_DEBUG);
	assert_int_equal(net_dev_new(&cfg, &e->dev), 0);
	bc.socket_path = e->path;
	bc.num_queues = net_dev_num_queues(e->dev);
	bc.device_features = net_dev_features(e->dev);
	bc.config_size = net_dev_config_size(e->dev);
	assert_int_equal(vu_backend_new(&bc, net_dev_vu_ops(), e->dev, &e->b), 0);
	net_dev_attach(e->dev, e->b);
	e->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(e->ctl_fd >= 0);
	assert_int_equal(pthread_create(&e->thread, NULL, ctl_thread, e), 0);
	fe_open(e);
	return e;
}

void env_free(struct env *e)
{
	fe_close(e);
	atomic_store(&e->stop, true);
	efd_signal(e->ctl_fd);
	pthread_join(e->thread, NULL);
	vu_backend_free(e->b);
	net_dev_free(e->dev);
	vqnet_log_set_sink(NULL, NULL); /* the sink's opaque is e */
	tbe_fini(&e->tbe);
	close(e->ctl_fd);
	unlink(e->path);
	rmdir(e->dir);
	free(e);
}

struct net_dev_queue_stats qs(struct env *e, unsigned index)
{
	struct net_dev_queue_stats s;

	assert_int_equal(net_dev_queue_stats(e->dev, index, &s), 0);
	return s;
}

/* ------------------------------------------------------------------------
 * Driver-side traffic
 * ------------------------------------------------------------------------ */

void dq_kick(struct dq *q)
{
	vq_drv_publish(q->d);
	if (vq_drv_kick_prepare(q->d))
		efd_signal(q->kick_fd);
}

/* Reap one transmit completion (length must be 0). */
void tx_reap_all(struct env *e)
{
	struct vq_drv_used u[QSIZE];
	int n;

	while ((n = vq_drv_reap(e->q[txq(e)].d, u, QSIZE)) > 0)
		for (int i = 0; i < n; i++)
			assert_int_equal(u[i].len, 0);
	assert_true(n == 0);
}

/* Add header + frame as one chain (the header in its own descriptor when
 * @split_hdr, to exercise a header spanning iovecs); tx_send() also
 * publishes and kicks. */
void tx_add(struct env *e, const struct virtio_net_hdr_v1 *h, const uint8_t *frame, uint32_t len,
	    bool split_hdr)
{
	uint64_t off = TX_BASE + (uint64_t)(e->tx_next++ % TX_SLOTS) * TX_SLOT;
	struct vq_drv_buf b[3];
	unsigned n;

	assert_true(HDR + len <= TX_SLOT);
	memcpy(e->shm.base + off, h, HDR);
	memcpy(e->shm.base + off + HDR, frame, len);
	if (split_hdr) {
		b[0] = (struct vq_drv_buf){e->shm.gpa + off, 5};
		b[1] = (struct vq_drv_buf){e->shm.gpa + off + 5, HDR + len - 5};
		n = 2;
	} else {
		b[0] = (struct vq_drv_buf){e->shm.gpa + off, HDR + len};
		n = 1;
	}
	assert_true(vq_drv_add_chain(e->q[txq(e)].d, b, n, 0, false, (void *)1) >= 0);
}

void tx_send(struct env *e, const struct virtio_net_hdr_v1 *h, const uint8_t *frame, uint32_t len,
	     bool split_hdr)
{
	tx_add(e, h, frame, len, split_hdr);
	dq_kick(&e->q[txq(e)]);
}

void tx_send_plain(struct env *e, const uint8_t *frame, uint32_t len)
{
	struct virtio_net_hdr_v1 h = {0};

	tx_send(e, &h, frame, len, false);
}

/* Post @n receive chains of one writable buffer of @len bytes each. */
void rx_post(struct env *e, unsigned n, uint32_t len)
{
	assert_true(len <= RX_SLOT);
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = e->rx_next[e->cur]++ % QSIZE;
		uint64_t off = rx_base(e) + (uint64_t)slot * RX_SLOT;
		struct vq_drv_buf b = {e->shm.gpa + off, len};

		memset(e->shm.base + off, 0xee, len);
		assert_true(vq_drv_add_chain(e->q[rxq(e)].d, &b, 0, 1, false,
					     (void *)(uintptr_t)(slot + 1)) >= 0);
	}
	dq_kick(&e->q[rxq(e)]);
}

void rx_reap(struct env *e)
{
	int n = vq_drv_reap(e->q[rxq(e)].d, e->rx_used[e->cur] + e->rx_nused[e->cur],
			    QSIZE - e->rx_nused[e->cur]);

	assert_true(n >= 0);
	e->rx_nused[e->cur] += (unsigned)n;
}

static const uint8_t *rx_slot(const struct env *e, const struct vq_drv_used *u)
{
	uintptr_t slot = (uintptr_t)u->token - 1;

	return e->shm.base + rx_base(e) + (uint64_t)slot * RX_SLOT;
}

/* Receive one frame (several buffers with MRG_RXBUF). Return its length
 * (header excluded) and copy header and frame out; -1 on timeout. */
int rx_recv(struct env *e, struct virtio_net_hdr_v1 *h, uint8_t *frame, unsigned ms)
{
	uint64_t dl = now_ms() + ms;
	unsigned nb;
	uint32_t len = 0;

	for (;;) {
		rx_reap(e);
		if (e->rx_nused[e->cur]) {
			assert_true(e->rx_used[e->cur][0].len >= HDR);
			memcpy(h, rx_slot(e, &e->rx_used[e->cur][0]), HDR);
			nb = le16toh(h->num_buffers);
			assert_true(nb >= 1 && nb <= QSIZE);
			if (e->rx_nused[e->cur] >= nb)
				break;
		}
		if (now_ms() > dl)
			return -1;
		sleep_ms(1);
	}
	for (unsigned i = 0; i < nb; i++) {
		uint32_t skip = i ? 0 : HDR, l = e->rx_used[e->cur][i].len - skip;

		memcpy(frame + len, rx_slot(e, &e->rx_used[e->cur][i]) + skip, l);
		len += l;
	}
	memmove(e->rx_used[e->cur], e->rx_used[e->cur] + nb,
		(e->rx_nused[e->cur] - nb) * sizeof(e->rx_used[e->cur][0]));
	e->rx_nused[e->cur] -= nb;
	return (int)len;
}

/* Control command: class, cmd, data; return the ack byte. */
uint8_t ctrl_cmd(struct env *e, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	uint64_t off = CTRL_BASE + (uint64_t)(e->ctrl_next++ % QSIZE) * CTRL_SLOT;
	uint8_t *p = e->shm.base + off;
	struct vq_drv_buf b[2] = {{e->shm.gpa + off, 2 + len},
				  {e->shm.gpa + off + CTRL_SLOT - 1, 1}};
	struct vq_drv_used u;
	uint64_t dl = now_ms() + WAIT_MS;
	int n;

	p[0] = cls;
	p[1] = cmd;
	if (len)
		memcpy(p + 2, data, len);
	p[CTRL_SLOT - 1] = 0xaa;
	assert_true(vq_drv_add_chain(e->q[ctrlq(e)].d, b, 1, 1, false, (void *)1) >= 0);
	dq_kick(&e->q[ctrlq(e)]);
	while ((n = vq_drv_reap(e->q[ctrlq(e)].d, &u, 1)) == 0) {
		if (now_ms() > dl)
			fail_msg("control command %u/%u not completed", cls, cmd);
		sleep_ms(1);
	}
	assert_int_equal(n, 1);
	assert_int_equal(u.len, 1);
	return p[CTRL_SLOT - 1];
}
