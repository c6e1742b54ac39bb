/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net device (include/vqnet/net_dev.h) behind a real vhost-user
 * socket, driven in-process.
 *
 * Each test builds an environment: a test network backend ("tbe", below:
 * frames sent on queue pair 0 are queued and come back on its rx, with an
 * eventfd as rx_fd and configurable caps; the test can also inject frames),
 * a net_dev on it, a vu_backend serving the device on a socket in a temp
 * dir, and a control thread running poll(vu_backend_fd, net_dev_ctrl_fd) +
 * vu_backend_dispatch() / net_dev_ctrl_process(). The test thread is the
 * frontend: vu_frontend_* over the socket, guest memory from vu_shm_alloc()
 * shared with SET_MEM_TABLE, and vq_drv_* driver rings for receiveq 0,
 * transmitq 0 and the control queue.
 *
 * Every wait is bounded: a test fails instead of hanging.
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

#include <vqnet/net_dev.h>
#include <vqnet/netbe.h>
#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/vhost_user_msg.h"
#include "spec/virtio_net.h"
#include "../harness/test_util.h"

#define F(bit) (1ull << (bit))

#define QSIZE	   64u
#define SHM_SIZE   (8u << 20)
#define SHM_GPA	   0x40000000ull
#define RING_AREA  (64u << 10)
#define RX_BASE	   (512u << 10) /* per pair: QSIZE * RX_SLOT */
#define RX_SLOT	   2048u
#define CTRL_BASE  (1u << 20)
#define CTRL_SLOT  1024u
#define TX_BASE	   (2u << 20)
#define TX_SLOT	   (72u << 10)
#define TX_SLOTS   64u
#define WAIT_MS	   5000
#define CONNECT_MS 5000u
#define HDR	   VIRTIO_NET_HDR_LEN
#define MAXP	   2u /* queue pairs a test uses at most */
#define MAXQ	   (2u * MAXP + 1)
#define TBE_MAX	   1024u
#define FRAME_MAX  (70u << 10)

static const uint8_t dev_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

/* ------------------------------------------------------------------------
 * Small utilities
 * ------------------------------------------------------------------------ */

#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		uint64_t dl_ = now_ms() + WAIT_MS;                                                 \
		while (!(cond)) {                                                                  \
			if (now_ms() > dl_)                                                        \
				fail_msg("timed out waiting for %s", #cond);                       \
			sleep_ms(1);                                                               \
		}                                                                                  \
	} while (0)

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

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A non-IP frame (local experimental ethertype) of @len bytes to @dst. */
static uint32_t make_raw(uint8_t *f, uint32_t len, const uint8_t dst[6], uint8_t seed)
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
static uint32_t make_tcp4(uint8_t *f, uint32_t payload, bool partial)
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

static bool tcp4_csum_ok(const uint8_t *f, uint32_t len)
{
	uint32_t tcp_len = get16(f + 16) - 20u;

	return len >= 54 && fold(sum16(tcp4_pseudo(f, tcp_len), f + 34, tcp_len)) == 0xffff;
}

/* ------------------------------------------------------------------------
 * The test network backend
 * ------------------------------------------------------------------------ */

struct tbe_frame {
	uint32_t len;
	struct netbe_meta meta;
	uint8_t data[];
};

struct tbe_fifo {
	struct tbe_frame *q[TBE_MAX];
	unsigned head, count;
	int efd; /* rx_fd: readable while the FIFO holds frames */
};

struct tbe {
	struct netbe be;
	pthread_mutex_t lock;
	struct tbe_fifo fifo[MAXP]; /* rx FIFO of each queue pair */
	uint32_t caps;
	bool loop;		 /* tx frames come back on rx */
	atomic_uint tx_frames;	 /* frames taken by tx() */
	atomic_uint rx_offloads; /* last set_rx_offloads() */
	atomic_uint pairs;	 /* last set_queue_pairs() */
};

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

static unsigned tbe_pending(struct tbe *t, unsigned pair)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->fifo[pair].count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void tbe_inject(struct tbe *t, unsigned pair, const uint8_t *f, uint32_t len,
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

static void tbe_init(struct tbe *t, uint32_t caps, unsigned pairs)
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

static void tbe_fini(struct tbe *t)
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

struct opts {
	enum vq_format fmt;
	uint32_t caps; /* backend caps */
	uint64_t want; /* virtio features the driver takes, if offered */
	uint16_t mtu;  /* device config */
	struct net_dev_rate tx_rate;
	unsigned poll_us;
	unsigned pairs; /* 0 = 1 */
};

enum cmd { CMD_NONE, CMD_LINK_DOWN, CMD_LINK_UP, CMD_RARP, CMD_MTU, CMD_ANNOUNCE };

struct dq {
	struct vq_drv *d;
	int kick_fd, call_fd;
	uint64_t desc_off, driver_off, device_off;
};

struct env {
	struct opts o;
	char dir[64], path[96];
	struct tbe tbe;
	struct net_dev *dev;
	struct vu_backend *b;
	pthread_t thread;
	int ctl_fd;
	atomic_int cmd;
	int cmd_arg, cmd_rc; /* CMD_MTU: the MTU in, the result out */
	atomic_bool stop;
	atomic_uint disconnects;
	/* frontend */
	struct vu_frontend *f;
	struct vu_shm shm;
	unsigned pairs, nq;
	unsigned cur; /* the queue pair the traffic helpers use */
	struct dq q[MAXQ];
	uint64_t features;
	unsigned tx_next, rx_next[MAXP], ctrl_next;
	/* reaped rx entries not yet consumed, per pair */
	struct vq_drv_used rx_used[MAXP][QSIZE];
	unsigned rx_nused[MAXP];
	int log_lines;
};

static void env_log(void *opaque, enum vqnet_log_level level, const char *subject, const char *line)
{
	struct env *e = opaque;

	(void)level;
	if (e->log_lines++ < 20)
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

static void env_cmd(struct env *e, enum cmd c)
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
static void fe_open(struct env *e)
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

static void fe_close(struct env *e)
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

static unsigned rxq(const struct env *e)
{
	return 2 * e->cur;
}

static unsigned txq(const struct env *e)
{
	return 2 * e->cur + 1;
}

static unsigned ctrlq(const struct env *e)
{
	return 2 * e->pairs;
}

static uint64_t rx_base(const struct env *e)
{
	return RX_BASE + (uint64_t)e->cur * QSIZE * RX_SLOT;
}

static struct env *env_new(const struct opts *o)
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

static void env_free(struct env *e)
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

static struct net_dev_queue_stats qs(struct env *e, unsigned index)
{
	struct net_dev_queue_stats s;

	assert_int_equal(net_dev_queue_stats(e->dev, index, &s), 0);
	return s;
}

/* ------------------------------------------------------------------------
 * Driver-side traffic
 * ------------------------------------------------------------------------ */

static void dq_kick(struct dq *q)
{
	vq_drv_publish(q->d);
	if (vq_drv_kick_needed(q->d))
		efd_signal(q->kick_fd);
}

/* Reap one transmit completion (length must be 0). */
static void tx_reap_all(struct env *e)
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
static void tx_add(struct env *e, const struct virtio_net_hdr_v1 *h, const uint8_t *frame,
		   uint32_t len, bool split_hdr)
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

static void tx_send(struct env *e, const struct virtio_net_hdr_v1 *h, const uint8_t *frame,
		    uint32_t len, bool split_hdr)
{
	tx_add(e, h, frame, len, split_hdr);
	dq_kick(&e->q[txq(e)]);
}

static void tx_send_plain(struct env *e, const uint8_t *frame, uint32_t len)
{
	struct virtio_net_hdr_v1 h = {0};

	tx_send(e, &h, frame, len, false);
}

/* Post @n receive chains of one writable buffer of @len bytes each. */
static void rx_post(struct env *e, unsigned n, uint32_t len)
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

static void rx_reap(struct env *e)
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
static int rx_recv(struct env *e, struct virtio_net_hdr_v1 *h, uint8_t *frame, unsigned ms)
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
static uint8_t ctrl_cmd(struct env *e, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
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

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

#define WANT_DEFAULT                                                                               \
	(F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |                    \
	 F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |            \
	 F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_CTRL_RX) |               \
	 F(VIRTIO_NET_F_CTRL_VQ))

static void test_features_config(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .caps = 0, .want = WANT_DEFAULT, .mtu = 1500};
	struct net_dev_config bad = {0};
	struct net_dev *d = NULL;
	struct tbe t;
	struct env *e;
	struct virtio_net_config c;
	uint64_t f;

	(void)state;
	tbe_init(&t, NETBE_CAP_ALL, 1);
	assert_int_equal(net_dev_new(&bad, &d), -EINVAL); /* no backend */
	bad.be = &t.be;
	assert_int_equal(net_dev_new(&bad, &d), -EINVAL); /* 0 queue pairs */
	bad.queue_pairs = 1;
	bad.mtu = 67;
	assert_int_equal(net_dev_new(&bad, &d), -EINVAL);
	bad.mtu = 0;
	bad.features_off = F(VIRTIO_F_RING_PACKED);
	assert_int_equal(net_dev_new(&bad, &d), 0);
	f = net_dev_features(d);
	assert_false(vq_has_feature(f, VIRTIO_F_RING_PACKED));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_MTU));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_MQ));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_GUEST_TSO4));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_HOST_UFO));
	assert_int_equal(net_dev_num_queues(d), 3);
	net_dev_free(d);
	tbe_fini(&t);

	e = env_new(&o);
	f = net_dev_features(e->dev);
	assert_true(vq_has_feature(f, VIRTIO_NET_F_CSUM));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_HOST_TSO4));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_HOST_UFO));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_GUEST_CSUM));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_MTU));
	assert_int_equal(net_dev_config_size(e->dev), sizeof(c));
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_memory_equal(c.mac, dev_mac, 6);
	assert_int_equal(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(le16toh(c.max_virtqueue_pairs), 1);
	assert_int_equal(le16toh(c.mtu), 1500);
	assert_int_equal(le32toh(c.speed), 10000);
	assert_int_equal(c.duplex, VIRTIO_NET_DUPLEX_FULL);
	/* announce needs GUEST_ANNOUNCE */
	env_cmd(e, CMD_ANNOUNCE);
	assert_int_equal(e->cmd_rc, -EOPNOTSUPP);
	env_free(e);
}

/* A frame out and back: bytes and header checked, counters. */
static void roundtrip(enum vq_format fmt, bool mrg, uint64_t extra)
{
	struct opts o = {.fmt = fmt,
			 .want = (WANT_DEFAULT | extra) & ~(mrg ? 0 : F(VIRTIO_NET_F_MRG_RXBUF)),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	rx_post(e, 16, RX_SLOT);
	for (unsigned i = 0; i < 40; i++) {
		len = make_raw(f, 60 + i * 31, dev_mac, (uint8_t)i);
		if (i % 2)
			tx_send_plain(e, f, len);
		else
			tx_send(e, &(struct virtio_net_hdr_v1){0}, f, len, true);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
		assert_memory_equal(got, f, len);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.gso_type, 0);
		assert_int_equal(le16toh(h.num_buffers), 1);
		rx_post(e, 1, RX_SLOT);
	}
	WAIT_FOR(qs(e, txq(e)).packets == 40);
	tx_reap_all(e);
	assert_int_equal(qs(e, rxq(e)).packets, 40);
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_BAD_CHAIN], 0);
	assert_true(qs(e, txq(e)).notify_sent > 0);
	env_free(e);
}

static void test_roundtrip_split(void **state)
{
	(void)state;
	roundtrip(VQ_FORMAT_SPLIT, true, 0);
	roundtrip(VQ_FORMAT_SPLIT, false, 0);
}

static void test_roundtrip_packed(void **state)
{
	(void)state;
	roundtrip(VQ_FORMAT_PACKED, true, 0);
	roundtrip(VQ_FORMAT_PACKED, false, 0);
}

/* IN_ORDER and INDIRECT_DESC negotiated (the driver uses direct chains). */
static void test_roundtrip_in_order(void **state)
{
	uint64_t extra = F(VIRTIO_F_IN_ORDER) | F(VIRTIO_F_INDIRECT_DESC);

	(void)state;
	roundtrip(VQ_FORMAT_SPLIT, true, extra);
	roundtrip(VQ_FORMAT_PACKED, false, extra);
}

/* MRG_RXBUF: a frame spanning three small buffers, num_buffers = 3. */
static void mrg_on(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1200, dev_mac, 5);

	rx_post(e, 3, 500);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_memory_equal(got, f, len);
	assert_int_equal(qs(e, rxq(e)).rx_merged, 1);
	env_free(e);
}

static void test_mrg_on(void **state)
{
	(void)state;
	mrg_on(VQ_FORMAT_SPLIT);
	mrg_on(VQ_FORMAT_PACKED);
}

/* Without MRG_RXBUF a chain too small drops the frame (RX_TOO_BIG) and is
 * left to the driver; the next frame that fits uses it. */
static void test_mrg_off_too_big(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .want = WANT_DEFAULT & ~F(VIRTIO_NET_F_MRG_RXBUF),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	(void)state;
	rx_post(e, 1, 500);
	tbe_inject(&e->tbe, e->cur, f, make_raw(f, 1200, dev_mac, 1), NULL);
	WAIT_FOR(qs(e, rxq(e)).drops[NET_DEV_DROP_RX_TOO_BIG] == 1);
	rx_reap(e);
	assert_int_equal(e->rx_nused[e->cur], 0);
	assert_int_equal(vq_drv_in_flight(e->q[rxq(e)].d), 1);
	len = make_raw(f, 300, dev_mac, 2);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 1);
	assert_memory_equal(got, f, len);
	env_free(e);
}

/* No receive buffers: the frame waits (no drop) and is delivered once the
 * guest posts buffers; also when the ring runs dry mid-frame. */
static void test_no_rx_buffers(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1400, dev_mac, 9);

	(void)state;
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	sleep_ms(50);
	assert_int_equal(tbe_pending(&e->tbe, e->cur), 1); /* the backend keeps it */
	rx_post(e, 1, 512);				   /* not enough: frame needs 3 */
	sleep_ms(50);
	rx_reap(e);
	assert_int_equal(e->rx_nused[e->cur], 0);
	rx_post(e, 2, 512);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_memory_equal(got, f, len);
	for (unsigned i = 0; i < NET_DEV_DROP__COUNT; i++)
		assert_int_equal(qs(e, rxq(e)).drops[i], 0);
	env_free(e);
}

/* MTU and header rules on transmit. */
static void test_tx_drops(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[4096], got[4096];
	struct virtio_net_hdr_v1 h = {0};
	uint32_t len;

	(void)state;
	rx_post(e, 8, RX_SLOT);
	tx_send_plain(e, f, make_raw(f, 1515, dev_mac, 1)); /* 1501 bytes of payload */
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_MTU] == 1);
	/* a VLAN tag allows 4 more bytes */
	len = make_raw(f, 1518, dev_mac, 1);
	put16(f + 12, 0x8100);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	/* GSO without NEEDS_CSUM (§5.1.6.2) */
	len = make_tcp4(f, 3000, true);
	h = (struct virtio_net_hdr_v1){.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				       .hdr_len = htole16(54),
				       .gso_size = htole16(1000)};
	tx_send(e, &h, f, len, false);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_BAD_HDR] == 1);
	/* short */
	tx_send_plain(e, f, 10);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_SHORT] == 1);
	/* still working */
	len = make_raw(f, 100, dev_mac, 3);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, (struct vq_drv_used[QSIZE]){0}, QSIZE) >= 0 &&
		 vq_drv_in_flight(e->q[txq(e)].d) == 0);
	env_free(e);
}

/*
 * Bursts that mix the fast paths' frames with every other kind, published
 * at once so one worker turn sees them together: transmit switches from
 * its fast loop to tx_classify() and back (software checksum, a header in
 * its own descriptor, an 802.1Q frame over the MTU, drops), and receive
 * from its fast loop to the general path (a frame larger than a 200-byte
 * buffer merges the next chains of the turn's burst pop). Every frame
 * that passes comes back in order, byte-exact; drops are counted.
 */
static void mixed_bursts(enum vq_format fmt, uint64_t extra)
{
	struct opts o = {.fmt = fmt, .caps = 0, .want = WANT_DEFAULT | extra, .mtu = 1500};
	struct env *e = env_new(&o);
	static uint8_t sent[40][2048];
	uint8_t got[4096];
	uint32_t sent_len[40];
	unsigned nsent = 0, ndrop_mtu = 0, ndrop_short = 0, ncsum = 0;
	struct virtio_net_hdr_v1 h;

	for (unsigned i = 0; i < QSIZE; i++)
		rx_post(e, 1, i % 3 == 1 ? 200 : RX_SLOT);
	for (unsigned round = 0; round < 2; round++) {
		nsent = 0;
		for (unsigned i = 0; i < 20; i++) {
			uint8_t *f = sent[nsent];
			uint32_t len;

			switch ((i + round) % 7) {
			case 0: /* fast */
			case 3:
				len = make_raw(f, 60 + i * 7, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				break;
			case 1: /* fast on transmit, merged on receive */
				len = make_raw(f, 700 + i, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				break;
			case 2: /* software checksum (the backend has no caps) */
				len = make_tcp4(f, 100 + i, true);
				h = (struct virtio_net_hdr_v1){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
							       .csum_start = htole16(34),
							       .csum_offset = htole16(16)};
				tx_add(e, &h, f, len, false);
				ncsum++;
				break;
			case 4: /* header in its own descriptor */
				len = make_raw(f, 90, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, true);
				break;
			case 5: /* 802.1Q, 4 bytes over MTU + 14: passes */
				len = make_raw(f, 1518, dev_mac, (uint8_t)i);
				put16(f + 12, 0x8100);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				break;
			default: /* over the MTU, then a short one: dropped */
				len = make_raw(f, 1515, dev_mac, (uint8_t)i);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, len, false);
				tx_add(e, &(struct virtio_net_hdr_v1){0}, f, 10, false);
				ndrop_mtu++;
				ndrop_short++;
				continue;
			}
			sent_len[nsent++] = len;
		}
		dq_kick(&e->q[txq(e)]);
		for (unsigned i = 0; i < nsent; i++) {
			int n = rx_recv(e, &h, got, WAIT_MS);

			assert_int_equal(n, (int)sent_len[i]);
			if (get16(sent[i] + 12) == 0x0800 && sent[i][23] == 6) {
				assert_true(tcp4_csum_ok(got, (uint32_t)n));
				assert_memory_equal(got, sent[i], 50);
			} else {
				assert_memory_equal(got, sent[i], sent_len[i]);
			}
			assert_int_equal(h.flags, 0);
		}
		for (unsigned i = 0; i < QSIZE && vq_drv_free_descs(e->q[rxq(e)].d); i++)
			rx_post(e, 1, i % 3 == 1 ? 200 : RX_SLOT);
		WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, (struct vq_drv_used[QSIZE]){0}, QSIZE) >= 0 &&
			 vq_drv_in_flight(e->q[txq(e)].d) == 0);
	}
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_TX_MTU], ndrop_mtu);
	assert_int_equal(qs(e, txq(e)).drops[NET_DEV_DROP_TX_SHORT], ndrop_short);
	assert_int_equal(qs(e, txq(e)).csum_finished, ncsum);
	assert_true(qs(e, rxq(e)).rx_merged > 0);
	assert_int_equal(qs(e, rxq(e)).packets, qs(e, txq(e)).packets);
	env_free(e);
}

static void test_mixed_bursts(void **state)
{
	(void)state;
	mixed_bursts(VQ_FORMAT_SPLIT, 0);
	mixed_bursts(VQ_FORMAT_PACKED, 0);
	mixed_bursts(VQ_FORMAT_SPLIT, F(VIRTIO_F_IN_ORDER));
	mixed_bursts(VQ_FORMAT_PACKED, F(VIRTIO_F_IN_ORDER));
}

/* A descriptor outside guest memory: completed with length 0, counted;
 * the queue keeps working. */
static void test_malformed_chain(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	struct vq_drv_buf b = {SHM_GPA + SHM_SIZE + 4096, 100};
	struct vq_drv_used u;
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	(void)state;
	rx_post(e, 4, RX_SLOT);
	assert_true(vq_drv_add_chain(e->q[txq(e)].d, &b, 1, 0, false, (void *)7) >= 0);
	dq_kick(&e->q[txq(e)]);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_BAD_CHAIN] == 1);
	WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, &u, 1) == 1);
	assert_int_equal(u.len, 0);
	assert_ptr_equal(u.token, (void *)7);
	len = make_raw(f, 200, dev_mac, 4);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	env_free(e);
}

/* A malformed receive chain in the middle of a merged frame: it and the
 * chain taken before it are completed empty (in order), counted, and the
 * frame goes to the next chains. */
static void malformed_rx_chain(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT | F(VIRTIO_F_IN_ORDER), .mtu = 1500};
	struct env *e = env_new(&o);
	struct vq_drv_buf bad = {SHM_GPA + SHM_SIZE + 4096, 500};
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1200, dev_mac, 8);

	rx_post(e, 1, 500);
	assert_true(vq_drv_add_chain(e->q[rxq(e)].d, &bad, 0, 1, false, (void *)0x100) >= 0);
	rx_post(e, 3, 500);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	WAIT_FOR((rx_reap(e), e->rx_nused[e->cur] >= 2));
	assert_int_equal(e->rx_used[e->cur][0].len, 0);
	assert_int_equal(e->rx_used[e->cur][1].len, 0);
	assert_ptr_equal(e->rx_used[e->cur][1].token, (void *)0x100);
	memmove(e->rx_used[e->cur], e->rx_used[e->cur] + 2,
		(e->rx_nused[e->cur] - 2) * sizeof(e->rx_used[e->cur][0]));
	e->rx_nused[e->cur] -= 2;
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_memory_equal(got, f, len);
	assert_int_equal(qs(e, rxq(e)).drops[NET_DEV_DROP_BAD_CHAIN], 1);
	env_free(e);
}

static void test_malformed_rx_chain(void **state)
{
	(void)state;
	malformed_rx_chain(VQ_FORMAT_SPLIT);
	malformed_rx_chain(VQ_FORMAT_PACKED);
}

/* A corrupt ring (split avail idx jump) breaks only that queue; the
 * receive queue keeps working and the next connection is served. */
static void test_broken_ring(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint16_t *avail_idx;
	uint32_t len;

	(void)state;
	avail_idx = (uint16_t *)(e->shm.base + e->q[txq(e)].driver_off + 2);
	__atomic_store_n(avail_idx, htole16(QSIZE + 7), __ATOMIC_RELEASE);
	efd_signal(e->q[txq(e)].kick_fd);
	WAIT_FOR(qs(e, txq(e)).errors == 1);
	rx_post(e, 2, RX_SLOT);
	len = make_raw(f, 300, dev_mac, 6);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);

	fe_close(e);
	fe_open(e);
	rx_post(e, 2, RX_SLOT);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	env_free(e);
}

/* A partial checksum finished in software for a backend without CSUM. */
static void test_csum_sw(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .caps = 0, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .csum_start = htole16(34),
				      .csum_offset = htole16(16)};
	uint32_t len = make_tcp4(f, 333, true);

	(void)state;
	assert_false(tcp4_csum_ok(f, len));
	rx_post(e, 2, RX_SLOT);
	tx_send(e, &h, f, len, true);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(h.flags, 0);
	assert_true(tcp4_csum_ok(got, len));
	assert_memory_equal(got, f, 50); /* headers up to the checksum */
	assert_memory_equal(got + 52, f + 52, len - 52);
	assert_int_equal(qs(e, txq(e)).csum_finished, 1);
	env_free(e);
}

/* A TSO frame segmented in software for a backend without TSO. */
static void test_tso_sw(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .caps = 0, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	static uint8_t f[8192], got[4096];
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				      .hdr_len = htole16(54),
				      .gso_size = htole16(1000),
				      .csum_start = htole16(34),
				      .csum_offset = htole16(16)};
	uint32_t len = make_tcp4(f, 4000, true);

	(void)state;
	rx_post(e, 8, RX_SLOT);
	tx_send(e, &h, f, len, false);
	for (unsigned i = 0; i < 4; i++) {
		struct virtio_net_hdr_v1 rh;
		int n = rx_recv(e, &rh, got, WAIT_MS);

		assert_int_equal(n, 54 + 1000);
		assert_int_equal(rh.gso_type, 0);
		assert_true(tcp4_csum_ok(got, (uint32_t)n));
		assert_int_equal(get32(got + 38), 4096 + i * 1000);
		assert_memory_equal(got + 54, f + 54 + i * 1000, 1000);
	}
	assert_int_equal(qs(e, txq(e)).gso_segmented, 1);
	assert_int_equal(atomic_load(&e->tbe.tx_frames), 4);
	env_free(e);
}

/* Receive offloads: a GSO frame reaches a guest that takes it as is; after
 * CTRL_GUEST_OFFLOADS turned them off, the device segments it and
 * finishes the checksums. */
static void test_rx_offloads(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .caps = NETBE_CAP_ALL,
			 .want = WANT_DEFAULT | F(VIRTIO_NET_F_GUEST_CSUM) |
				 F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	static uint8_t f[8192], got[8192];
	struct netbe_meta m = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			       .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
			       .hdr_len = 54,
			       .gso_size = 1000,
			       .csum_start = 34,
			       .csum_offset = 16};
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_tcp4(f, 3000, true);
	uint64_t none = 0;

	(void)state;
	assert_int_equal(atomic_load(&e->tbe.rx_offloads), NETBE_CAP_CSUM | NETBE_CAP_TSO4);
	rx_post(e, 16, RX_SLOT);
	tbe_inject(&e->tbe, e->cur, f, len, &m);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(le16toh(h.gso_size), 1000);
	assert_int_equal(le16toh(h.csum_start), 34);
	assert_true(le16toh(h.num_buffers) >= 2);
	assert_memory_equal(got, f, len);

	assert_int_equal(ctrl_cmd(e, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
				  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &none, sizeof(none)),
			 VIRTIO_NET_OK);
	assert_int_equal(atomic_load(&e->tbe.rx_offloads), 0);
	tbe_inject(&e->tbe, e->cur, f, len, &m); /* a backend that ignores set_rx_offloads */
	for (unsigned i = 0; i < 3; i++) {
		int n = rx_recv(e, &h, got, WAIT_MS);

		assert_int_equal(n, 54 + 1000);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.gso_type, 0);
		assert_true(tcp4_csum_ok(got, (uint32_t)n));
		assert_memory_equal(got + 54, f + 54 + i * 1000, 1000);
	}
	assert_int_equal(qs(e, rxq(e)).gso_segmented, 1);
	env_free(e);
}

/* Two queue pairs: each pair's worker moves its own frames; VQ_PAIRS_SET
 * and SET_VRING_ENABLE decide which pairs are served and the backend
 * learns their count. */
static void test_multiqueue(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .want = WANT_DEFAULT | F(VIRTIO_NET_F_MQ),
			 .mtu = 1500,
			 .pairs = 2};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	struct virtio_net_config c;
	uint16_t pairs;
	uint32_t len;

	(void)state;
	assert_true(vq_has_feature(net_dev_features(e->dev), VIRTIO_NET_F_MQ));
	assert_int_equal(net_dev_num_queues(e->dev), 5);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.max_virtqueue_pairs), 2);
	WAIT_FOR(atomic_load(&e->tbe.pairs) == 2);
	for (e->cur = 0; e->cur < 2; e->cur++) {
		rx_post(e, 4, RX_SLOT);
		len = make_raw(f, 100 + e->cur, dev_mac, (uint8_t)e->cur);
		tx_send_plain(e, f, len);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
		assert_memory_equal(got, f, len);
		assert_int_equal(qs(e, txq(e)).packets, 1);
	}

	pairs = htole16(1);
	assert_int_equal(
		ctrl_cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
		VIRTIO_NET_OK);
	assert_int_equal(atomic_load(&e->tbe.pairs), 1);
	e->cur = 1;
	len = make_raw(f, 200, dev_mac, 7);
	tx_send_plain(e, f, len);
	sleep_ms(50);
	assert_int_equal(qs(e, txq(e)).packets, 1); /* pair 1 not served */
	pairs = htole16(2);
	assert_int_equal(
		ctrl_cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
		VIRTIO_NET_OK);
	assert_int_equal(atomic_load(&e->tbe.pairs), 2);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);

	assert_int_equal(vu_frontend_set_vring_enable(e->f, 3, false), 0);
	WAIT_FOR(atomic_load(&e->tbe.pairs) == 1);
	env_free(e);
}

/* Control queue: PROMISC off + a MAC table filter frames. */
static void test_ctrl_filter(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	static const uint8_t other[6] = {0x02, 9, 9, 9, 9, 9}, listed[6] = {0x02, 7, 7, 7, 7, 7};
	uint8_t tables[4 + 6 + 4], off = 0, f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	(void)state;
	assert_true(net_dev_ctrl_fd(e->dev) >= 0);
	assert_int_equal(ctrl_cmd(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1),
			 VIRTIO_NET_OK);
	memcpy(tables, (const uint8_t[]){1, 0, 0, 0}, 4);
	memcpy(tables + 4, listed, 6);
	memset(tables + 10, 0, 4);
	assert_int_equal(ctrl_cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, tables,
				  sizeof(tables)),
			 VIRTIO_NET_OK);
	/* unknown class: ERR */
	assert_int_equal(ctrl_cmd(e, 99, 0, NULL, 0), VIRTIO_NET_ERR);
	rx_post(e, 4, RX_SLOT);
	tbe_inject(&e->tbe, e->cur, f, make_raw(f, 100, other, 1), NULL);
	WAIT_FOR(qs(e, rxq(e)).drops[NET_DEV_DROP_RX_FILTERED] == 1);
	len = make_raw(f, 100, listed, 2);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	len = make_raw(f, 100, dev_mac, 3);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(qs(e, ctrlq(e)).packets, 3);
	env_free(e);
}

/* Link down: frames both ways dropped and counted; status follows. */
static void test_link_down(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	struct virtio_net_config c;
	uint32_t len = make_raw(f, 100, dev_mac, 1);

	(void)state;
	rx_post(e, 4, RX_SLOT);
	env_cmd(e, CMD_LINK_DOWN);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.status) & VIRTIO_NET_S_LINK_UP, 0);
	tx_send_plain(e, f, len);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_LINK_DOWN] == 1);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	WAIT_FOR(qs(e, rxq(e)).drops[NET_DEV_DROP_LINK_DOWN] == 1);
	env_cmd(e, CMD_LINK_UP);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	env_free(e);
}

/* Rate limit: frames are delayed, not lost. */
static void rate_limit(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt,
			 .want = WANT_DEFAULT,
			 .mtu = 1500,
			 .tx_rate = {.pkts_per_sec = 50, .pkts_burst = 2}};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;

	rx_post(e, 20, RX_SLOT);
	for (unsigned i = 0; i < 12; i++)
		tx_send_plain(e, f, make_raw(f, 100, dev_mac, (uint8_t)i));
	for (unsigned i = 0; i < 12; i++) {
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 100);
		assert_int_equal(got[14], (uint8_t)(i + 14 * 7));
	}
	assert_true(qs(e, txq(e)).rate_limited > 0);
	assert_int_equal(qs(e, txq(e)).packets, 12);
	env_free(e);
}

static void test_rate_limit(void **state)
{
	(void)state;
	rate_limit(VQ_FORMAT_SPLIT);
	rate_limit(VQ_FORMAT_PACKED);
}

/* SEND_RARP, NET_SET_MTU and the announce status bit (§5.1.6.5.4). */
static void test_rarp_mtu_announce(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .want = WANT_DEFAULT | F(VIRTIO_NET_F_GUEST_ANNOUNCE),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	struct virtio_net_config c;
	uint32_t len;

	(void)state;
	rx_post(e, 4, RX_SLOT);
	env_cmd(e, CMD_RARP); /* the loop backend sends it back to the guest */
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 60);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(got[i], 0xff);
	assert_memory_equal(got + 6, peer_mac, 6);
	assert_int_equal(get16(got + 12), 0x8035);
	assert_int_equal(get16(got + 20), 3);

	e->cmd_arg = 60;
	env_cmd(e, CMD_MTU);
	assert_int_equal(e->cmd_rc, -EINVAL);
	e->cmd_arg = 1000;
	env_cmd(e, CMD_MTU);
	assert_int_equal(e->cmd_rc, 0);
	tx_send_plain(e, f, make_raw(f, 1100, dev_mac, 1));
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_MTU] == 1);
	len = make_raw(f, 1014, dev_mac, 2);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);

	env_cmd(e, CMD_ANNOUNCE);
	assert_int_equal(e->cmd_rc, 0);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.status), VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	assert_int_equal(
		ctrl_cmd(e, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
		VIRTIO_NET_OK);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	env_free(e);
}

/* Busy polling and stats printing. */
/* Publish on @q and kick only when the ring asks; count the kicks. */
static void dq_kick_count(struct dq *q, unsigned *kicks)
{
	vq_drv_publish(q->d);
	if (vq_drv_kick_needed(q->d)) {
		(*kicks)++;
		efd_signal(q->kick_fd);
	}
}

/*
 * While the device polls (poll_us), both rings say "no kicks" from the
 * start: a fresh ring asks for every kick (packed: flags 0 is ENABLE), so
 * a device that left it so cost the driver a system call per burst.
 */
static void poll_no_kicks(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT, .mtu = 1500, .poll_us = 3000000};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	unsigned tx_kicks = 0, rx_kicks = 0;

	rx_post(e, 8, RX_SLOT);
	tx_send_plain(e, f, make_raw(f, 80, dev_mac, 0));
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 80);
	for (unsigned i = 1; i <= 200; i++) {
		unsigned slot = e->rx_next[e->cur]++ % QSIZE;
		uint64_t off = rx_base(e) + (uint64_t)slot * RX_SLOT;
		struct vq_drv_buf b = {e->shm.gpa + off, RX_SLOT};

		tx_add(e, &(struct virtio_net_hdr_v1){0}, f, make_raw(f, 80, dev_mac, (uint8_t)i),
		       false);
		dq_kick_count(&e->q[txq(e)], &tx_kicks);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 80);
		assert_true(vq_drv_add_chain(e->q[rxq(e)].d, &b, 0, 1, false,
					     (void *)(uintptr_t)(slot + 1)) >= 0);
		dq_kick_count(&e->q[rxq(e)], &rx_kicks);
		tx_reap_all(e);
	}
	assert_int_equal(qs(e, rxq(e)).packets, 201);
	assert_int_equal(tx_kicks, 0);
	assert_int_equal(rx_kicks, 0);
	env_free(e);
}

static void test_poll_no_kicks(void **state)
{
	(void)state;
	poll_no_kicks(VQ_FORMAT_SPLIT);
	poll_no_kicks(VQ_FORMAT_PACKED);
}

static void test_poll_and_print(void **state)
{
	struct opts o = {
		.fmt = VQ_FORMAT_PACKED, .want = WANT_DEFAULT, .mtu = 1500, .poll_us = 200};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	char *buf = NULL;
	size_t blen = 0;
	FILE *m;

	(void)state;
	rx_post(e, 8, RX_SLOT);
	for (unsigned i = 0; i < 5; i++) {
		tx_send_plain(e, f, make_raw(f, 80, dev_mac, (uint8_t)i));
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 80);
	}
	m = open_memstream(&buf, &blen);
	assert_non_null(m);
	net_dev_print_stats(e->dev, m);
	fclose(m);
	assert_non_null(strstr(buf, "rxq0: packets=5 bytes=400 drops(rx_too_big=0,"));
	assert_non_null(strstr(buf, "txq0: packets=5"));
	assert_non_null(strstr(buf, "ctrlq:"));
	free(buf);
	assert_string_equal(net_dev_drop_name(NET_DEV_DROP_TX_MTU), "tx_mtu");
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_config),
		cmocka_unit_test(test_roundtrip_split),
		cmocka_unit_test(test_roundtrip_packed),
		cmocka_unit_test(test_mrg_on),
		cmocka_unit_test(test_mrg_off_too_big),
		cmocka_unit_test(test_no_rx_buffers),
		cmocka_unit_test(test_tx_drops),
		cmocka_unit_test(test_mixed_bursts),
		cmocka_unit_test(test_poll_no_kicks),
		cmocka_unit_test(test_malformed_chain),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_csum_sw),
		cmocka_unit_test(test_tso_sw),
		cmocka_unit_test(test_ctrl_filter),
		cmocka_unit_test(test_link_down),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_poll_and_print),
		cmocka_unit_test(test_roundtrip_in_order),
		cmocka_unit_test(test_rarp_mtu_announce),
		cmocka_unit_test(test_rx_offloads),
		cmocka_unit_test(test_multiqueue),
		cmocka_unit_test(test_malformed_rx_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
