/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking through the vhost-user backend (vhost-user.rst
 * "Inflight I/O tracking", VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): the
 * frontend gets the buffer with GET_INFLIGHT_FD, hands it back with
 * SET_INFLIGHT_FD; the device pops chains and completes some out of order;
 * the frontend drops the connection ("crash"); on the next connection with
 * the same buffer the chains still in flight are handed to the device
 * again, each exactly once, in the order they were first popped, before
 * any new chain, and no completed one comes back. Hostile buffers and
 * requests (HOSTILE F16) are refused or bounded.
 *
 * Driven with raw messages over a real socket on one thread, as in
 * test_backend.c; the test plays the frontend and the driver, and maps the
 * inflight buffer itself to look at (and corrupt) it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/vhost_user.h>

#include "spec/virtio_ring.h"
#include "spec/vq_inflight.h"
#include "vhost_user/msg.h"

#include "raw_frontend.h"

#define F(bit) (1ull << (bit))

struct fx {
	struct rf rf;
	struct rf_qdev dev;
	int infl_fd;   /* the frontend's copy of the inflight buffer fd */
	uint8_t *infl; /* the frontend's mapping of it */
	uint64_t infl_size;
	struct rf_drv drv;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	rf_qdev_open(&f->rf, &f->dev, &f->drv, "/tmp/vqnet-vu-infl-XXXXXX",
		     F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED) | F(VIRTIO_F_IN_ORDER), 256);
	f->infl_fd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rf_qdev_close(&f->rf, &f->drv);
	if (f->infl)
		munmap(f->infl, f->infl_size);
	if (f->infl_fd >= 0)
		close(f->infl_fd);
	free(f);
	return 0;
}

static void set_addr(struct fx *f)
{
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
}

static struct virtq_used *used_ring(struct fx *f)
{
	return (struct virtq_used *)(f->rf.mem + USED_OFF);
}

static void req_fail(struct fx *f, uint32_t request, const void *payload, uint32_t size,
		     const int *fds, unsigned nfds)
{
	assert_int_not_equal(rf_req_fds(&f->rf, request, 0, payload, size, fds, nfds), 0);
	assert_false(vu_backend_connected(f->rf.b));
	close(f->rf.sock);
	f->rf.sock = -1;
	assert_null(f->dev.vq);
}

/* GET_INFLIGHT_FD for one queue of QSIZE: keep the fd and map it. */
static void get_inflight(struct fx *f)
{
	struct vhost_user_inflight in = {.num_queues = 1, .queue_size = QSIZE};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in)), 0);
	struct vu_msg r;
	assert_int_equal(vu_msg_recv(f->rf.sock, &r), 0);
	assert_int_equal(r.hdr.request, VHOST_USER_GET_INFLIGHT_FD);
	assert_int_equal(r.hdr.size, sizeof(in));
	assert_int_equal(r.nfds, 1);
	assert_int_equal(r.payload.inflight.mmap_offset, 0);
	assert_int_equal(r.payload.inflight.num_queues, 1);
	assert_int_equal(r.payload.inflight.queue_size, QSIZE);
	assert_true(r.payload.inflight.mmap_size >= 16 + 16 * QSIZE);
	f->infl_fd = r.fds[0];
	f->infl_size = r.payload.inflight.mmap_size;
	f->infl = mmap(NULL, f->infl_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->infl_fd, 0);
	assert_true(f->infl != MAP_FAILED);
}

static void set_inflight(struct fx *f)
{
	struct vhost_user_inflight in = {
		.mmap_size = f->infl_size, .num_queues = 1, .queue_size = QSIZE};
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_INFLIGHT_FD, 0, &in, sizeof(in), &f->infl_fd, 1),
		0);
}

/* A connection up to the point before the kick: @features (VERSION_1
 * added), the inflight buffer (new with GET_INFLIGHT_FD the first time,
 * else the one kept), memory, ring 0. Its base: split, the used index, as
 * QEMU sends after a crash; packed, the ring's start — QEMU cannot restore
 * a packed ring's position, the region has it. */
static void setup_conn_features(struct fx *f, uint64_t features)
{
	rf_connect_negotiate(&f->rf, F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), features);
	if (f->infl_fd < 0)
		get_inflight(f);
	set_inflight(f);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	set_addr(f);
	if (features & F(VIRTIO_F_RING_PACKED))
		assert_int_equal(
			rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 1u << 15 | 1u << 31), 0);
	else
		assert_int_equal(
			rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, used_ring(f)->idx), 0);
}

static void setup_conn(struct fx *f)
{
	setup_conn_features(f, 0);
}

static void kick(struct fx *f)
{
	assert_int_equal(rf_kick(&f->rf, 0, f->drv.kick), 0);
	assert_non_null(f->dev.vq);
}

/* The frontend goes away with chains in flight. */
static void crash(struct fx *f)
{
	rf_hang_up(&f->rf);
	assert_null(f->dev.vq);
}

/* The driver makes head @id (one writable descriptor) available. */
static void add_chain(struct fx *f, uint16_t id)
{
	rf_drv_add_split(&f->rf, &f->drv, id, MEM_GPA + BUF_OFF + id * 64u);
}

static uint16_t pop_id(struct fx *f)
{
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 1);
	assert_int_equal(f->drv.e.nin, 1);
	assert_int_equal(f->drv.e.in_len, 64);
	return f->drv.e.id;
}

static void push(struct fx *f, uint16_t id)
{
	assert_int_equal(vq_push(f->dev.vq, id, 1), 0);
}

/* The region of ring 0, as the frontend sees it. */
static struct vq_inflight_split *region(struct fx *f)
{
	return (struct vq_inflight_split *)f->infl;
}

/* Exactly the heads @ids[0..n) are marked in flight. */
static void expect_marked(struct fx *f, const uint16_t *ids, unsigned n)
{
	uint8_t want[QSIZE] = {0};
	for (unsigned i = 0; i < n; i++)
		want[ids[i]] = 1;
	for (unsigned i = 0; i < QSIZE; i++)
		if (region(f)->desc[i].inflight != want[i])
			fail_msg("head %u: inflight %u, expected %u", i,
				 region(f)->desc[i].inflight, want[i]);
}

/* ------------------------------------------------------------------------ */

static void test_resubmit_after_crash(void **state)
{
	struct fx *f = *state;
	setup_conn(f);
	kick(f);
	assert_int_equal(region(f)->version, 1);
	assert_int_equal(region(f)->desc_num, QSIZE);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 0);

	/* Popped in the order 4 2 0 1 3; 2 and 1 completed. */
	const uint16_t order[] = {4, 2, 0, 1, 3};
	for (unsigned i = 0; i < 5; i++)
		add_chain(f, order[i]);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(pop_id(f), order[i]);
	struct vq_used done[2] = {{.id = 2, .len = 1}, {.id = 1, .len = 1}};
	assert_int_equal(vq_push_burst(f->dev.vq, done, 2), 0);
	expect_marked(f, (uint16_t[]){4, 0, 3}, 3);
	assert_int_equal(region(f)->used_idx, 2);
	assert_int_equal(used_ring(f)->idx, 2);

	crash(f);
	add_chain(f, 5); /* made available while the backend is away */

	setup_conn(f);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 3);
	/* In pop order, each once; then the new chain; nothing completed. */
	assert_int_equal(pop_id(f), 4);
	assert_int_equal(pop_id(f), 0);
	assert_int_equal(pop_id(f), 3);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 0);
	assert_int_equal(pop_id(f), 5);
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 0);
	expect_marked(f, (uint16_t[]){4, 0, 3, 5}, 4);
	push(f, 3);
	push(f, 5);
	push(f, 4);
	push(f, 0);
	expect_marked(f, NULL, 0);
	assert_int_equal(used_ring(f)->idx, 6);
	assert_int_equal(region(f)->used_idx, 6);

	/* Nothing in flight: a crash leaves nothing to resubmit. */
	crash(f);
	setup_conn(f);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 0);
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 0);
	add_chain(f, 6);
	assert_int_equal(pop_id(f), 6);
	push(f, 6);
	crash(f);
}

/*
 * A crash after used->idx was published but before the batch was cleared
 * in the region: the spec's last-batch list finishes it at restart, so
 * those chains are not handed out again.
 */
static void test_crash_mid_batch(void **state)
{
	struct fx *f = *state;
	setup_conn(f);
	kick(f);
	for (uint16_t id = 0; id < 4; id++) {
		add_chain(f, id);
		assert_int_equal(pop_id(f), id);
	}
	struct vq_used done[2] = {{.id = 3, .len = 1}, {.id = 1, .len = 1}};
	assert_int_equal(vq_push_burst(f->dev.vq, done, 2), 0);
	crash(f);
	/* Roll the region back to "batch published, not yet cleared". */
	region(f)->desc[3].inflight = 1;
	region(f)->desc[1].inflight = 1;
	region(f)->used_idx = 0;
	setup_conn(f);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 2);
	assert_int_equal(pop_id(f), 0);
	assert_int_equal(pop_id(f), 2);
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 0);
	expect_marked(f, (uint16_t[]){0, 2}, 2);
	assert_int_equal(region(f)->used_idx, 2);
	crash(f);
}

/* HOSTILE F16: a last-batch list that loops or leaves the queue, a batch
 * larger than the queue, counters in any order: bounded, no OOB. */
static void test_hostile_region(void **state)
{
	struct fx *f = *state;
	setup_conn(f);
	kick(f);
	for (uint16_t id = 0; id < 3; id++) {
		add_chain(f, id);
		assert_int_equal(pop_id(f), id);
	}
	crash(f);
	struct vq_inflight_split *r = region(f);
	/* A loop 2 -> 2 and a batch of 1000 (more than the queue). */
	r->last_batch_head = 2;
	r->desc[2].next = 2;
	r->used_idx = (uint16_t)(used_ring(f)->idx - 1000);
	r->desc[0].counter = UINT64_MAX; /* sorts last */
	r->desc[1].counter = 7;
	setup_conn(f);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 2); /* 2 cleared by the walk */
	assert_int_equal(pop_id(f), 1);
	assert_int_equal(pop_id(f), 0);
	/* The region said 2 was completed, used->idx did not: the avail
	 * position is used->idx + 2, so its entry comes as a new chain. */
	assert_int_equal(pop_id(f), 2);
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 0);
	crash(f);

	/* A list leaving the queue: stops at the first head out of range. */
	r->last_batch_head = 1;
	r->desc[1].next = 0xffff;
	r->used_idx = (uint16_t)(used_ring(f)->idx - 3);
	setup_conn(f);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 2); /* 0 and 2 */
	uint16_t a = pop_id(f), b = pop_id(f);
	assert_true((a == 0 && b == 2) || (a == 2 && b == 0));
	/* The avail position is used->idx + 2 and its entry is head 2, now
	 * in flight again: the ring breaks (BREAK-Q), nothing is read twice. */
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), -VQ_ERR_HEAD_IN_FLIGHT);
	assert_true(vq_is_broken(f->dev.vq));
	crash(f);

	/* Another version or queue size: the ring is refused at its start. */
	r->version = 2;
	setup_conn(f);
	uint64_t v = 0;
	req_fail(f, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &f->drv.kick, 1);
	r->version = 1;
	r->desc_num = QSIZE * 2;
	setup_conn(f);
	req_fail(f, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &f->drv.kick, 1);
}

/* HOSTILE F16: bad SET_INFLIGHT_FD / GET_INFLIGHT_FD requests drop the
 * connection; a buffer for another queue size refuses the ring. */
static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	rf_connect(&f->rf);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)),
			 0);
	get_inflight(f);
	const struct vhost_user_inflight bad[] = {
		{.mmap_size = f->infl_size,
		 .num_queues = 2,
		 .queue_size = QSIZE}, /* > num_queues */
		{.mmap_size = f->infl_size, .num_queues = 0, .queue_size = QSIZE},
		{.mmap_size = f->infl_size, .num_queues = 1, .queue_size = 0},
		{.mmap_size = f->infl_size, .num_queues = 1, .queue_size = 512}, /* > max */
		{.mmap_size = 16, .num_queues = 1, .queue_size = QSIZE},	 /* too small */
		{.mmap_size = f->infl_size,
		 .mmap_offset = 4096,
		 .num_queues = 1,
		 .queue_size = QSIZE}, /* beyond the fd */
		{.mmap_size = UINT64_MAX,
		 .mmap_offset = 4096,
		 .num_queues = 1,
		 .queue_size = QSIZE}, /* wraps */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req_fail(f, VHOST_USER_SET_INFLIGHT_FD, &bad[i], sizeof(bad[i]), &f->infl_fd, 1);
		rf_connect(&f->rf);
		assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
					    F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)),
				 0);
	}
	struct vhost_user_inflight g = {.num_queues = 2, .queue_size = QSIZE};
	req_fail(f, VHOST_USER_GET_INFLIGHT_FD, &g, sizeof(g), NULL, 0);
	/* Without the protocol feature: refused. */
	rf_connect(&f->rf);
	req_fail(f, VHOST_USER_SET_INFLIGHT_FD, &bad[0], sizeof(bad[0]), &f->infl_fd, 1);

	/* A buffer for 16 entries on a ring of 8: the ring does not start. */
	rf_connect(&f->rf);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)),
			 0);
	g = (struct vhost_user_inflight){.num_queues = 1, .queue_size = 16};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_INFLIGHT_FD, &g, sizeof(g)), 0);
	struct vu_msg r;
	assert_int_equal(vu_msg_recv(f->rf.sock, &r), 0);
	assert_int_equal(r.nfds, 1);
	close(r.fds[0]);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, F(VIRTIO_F_VERSION_1)), 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	set_addr(f);
	uint64_t v = 0;
	req_fail(f, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &f->drv.kick, 1);
}

/* ---------------------------------------------------------- packed rings */

/* The packed driver makes chain @id of @ndesc writable descriptors
 * available (buffers at (id * 4 + k) * 64), head flags last (§2.8.6). */
static void padd(struct fx *f, uint16_t id, unsigned ndesc)
{
	rf_drv_add_packed(&f->rf, &f->drv, id, MEM_GPA + BUF_OFF + id * 4u * 64u, ndesc);
}

static void ppop(struct fx *f, uint16_t id, unsigned ndesc)
{
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 1);
	assert_int_equal(f->drv.e.id, id);
	assert_int_equal(f->drv.e.ndesc, ndesc);
	assert_int_equal(f->drv.e.nin, ndesc);
	assert_int_equal(f->drv.e.in_len, 64 * ndesc);
}

static struct vq_inflight_packed *pregion(struct fx *f)
{
	return (struct vq_inflight_packed *)f->infl;
}

/* Chains marked in flight in the packed region. */
static unsigned pmarked(struct fx *f)
{
	unsigned n = 0;
	for (unsigned i = 0; i < QSIZE; i++)
		n += pregion(f)->desc[i].inflight;
	return n;
}

static void expect_pos(struct fx *f, uint16_t avail, bool avail_wrap, uint16_t used, bool used_wrap)
{
	struct vq_state s;
	vq_get_state(f->dev.vq, &s);
	assert_int_equal(s.avail_idx, avail);
	assert_int_equal(s.avail_wrap, avail_wrap);
	assert_int_equal(s.used_idx, used);
	assert_int_equal(s.used_wrap, used_wrap);
}

/*
 * A packed ring through a crash: the buffer is sized for packed regions
 * (SET_FEATURES came first), the chains in flight come back in pop order
 * from the region's copies (their ring slots were reused meanwhile), at
 * the region's position although the frontend sends the ring's start as
 * base, then new chains.
 */
static void test_packed_resubmit_after_crash(void **state)
{
	struct fx *f = *state;
	const uint64_t packed = F(VIRTIO_F_RING_PACKED);
	setup_conn_features(f, packed);
	assert_true(f->infl_size >= vq_inflight_packed_bytes(QSIZE));
	kick(f);
	assert_int_equal(pregion(f)->version, 1);
	assert_int_equal(pregion(f)->desc_num, QSIZE);
	const uint16_t ids[] = {6, 1, 4, 0};
	const unsigned nd[] = {2, 1, 2, 3};
	for (unsigned i = 0; i < 4; i++)
		padd(f, ids[i], nd[i]);
	for (unsigned i = 0; i < 4; i++)
		ppop(f, ids[i], nd[i]);
	struct vq_used done[2] = {{.id = 4, .len = 1}, {.id = 1, .len = 1}};
	assert_int_equal(vq_push_burst(f->dev.vq, done, 2), 0);
	expect_pos(f, 0, false, 3, true);
	assert_int_equal(pmarked(f), 2);
	crash(f);
	padd(f, 7, 1); /* slot 0: the driver reused it while the backend was away */

	setup_conn_features(f, packed);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 2);
	expect_pos(f, 0, false, 3, true);
	ppop(f, 6, 2);
	ppop(f, 0, 3);
	ppop(f, 7, 1);
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 0);
	assert_int_equal(pmarked(f), 3);
	struct vq_used rest[3] = {{.id = 0}, {.id = 7}, {.id = 6}};
	assert_int_equal(vq_push_burst(f->dev.vq, rest, 3), 0);
	assert_int_equal(pmarked(f), 0);
	expect_pos(f, 1, false, 1, false);
	crash(f);

	/* Nothing in flight: nothing comes back; the position is kept. */
	setup_conn_features(f, packed);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 0);
	expect_pos(f, 1, false, 1, false);
	padd(f, 2, 2);
	ppop(f, 2, 2);
	crash(f);
}

/*
 * IN_ORDER through a crash, split and packed: batches completed with one
 * used entry each (vq_push_in_order()); the chains after the last batch
 * come back in order and complete in order on the new connection.
 */
static void test_in_order_after_crash(void **state)
{
	struct fx *f = *state;
	const uint64_t io = F(VIRTIO_F_IN_ORDER);
	/* Split. */
	setup_conn_features(f, io);
	kick(f);
	for (uint16_t id = 0; id < 5; id++)
		add_chain(f, id);
	for (uint16_t id = 0; id < 5; id++)
		assert_int_equal(pop_id(f), id);
	assert_int_equal(vq_push_in_order(f->dev.vq, 3, 1), 0);
	expect_marked(f, (uint16_t[]){3, 4}, 2);
	assert_int_equal(region(f)->used_idx, 3);
	crash(f);
	add_chain(f, 5);
	setup_conn_features(f, io);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 2);
	assert_int_equal(pop_id(f), 3);
	assert_int_equal(pop_id(f), 4);
	assert_int_equal(pop_id(f), 5);
	assert_int_equal(vq_push_in_order(f->dev.vq, 3, 1), 0);
	assert_int_equal(used_ring(f)->idx, 6);
	expect_marked(f, NULL, 0);
	crash(f);
}

static void test_in_order_packed_after_crash(void **state)
{
	struct fx *f = *state;
	const uint64_t feat = F(VIRTIO_F_IN_ORDER) | F(VIRTIO_F_RING_PACKED);
	setup_conn_features(f, feat);
	kick(f);
	for (uint16_t id = 0; id < 4; id++)
		padd(f, id, 1 + id % 2); /* 6 descriptors */
	for (uint16_t id = 0; id < 4; id++)
		ppop(f, id, 1 + id % 2);
	assert_int_equal(vq_push_in_order(f->dev.vq, 2, 1), 0);
	expect_pos(f, 6, true, 3, true);
	assert_int_equal(pmarked(f), 2);
	crash(f);
	padd(f, 4, 2); /* 6, 7 */
	setup_conn_features(f, feat);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 2);
	expect_pos(f, 6, true, 3, true);
	ppop(f, 2, 1);
	ppop(f, 3, 2);
	ppop(f, 4, 2);
	assert_int_equal(vq_pop(f->dev.vq, &f->drv.e), 0);
	assert_int_equal(vq_push_in_order(f->dev.vq, 3, 1), 0);
	expect_pos(f, 0, false, 0, false);
	assert_int_equal(pmarked(f), 0);
	crash(f);
}

/* A buffer sized for split rings (features negotiated split at
 * GET_INFLIGHT_FD) does not hold packed regions: a packed ring is refused
 * at its start rather than tracked past the buffer's end. */
static void test_packed_buffer_too_small(void **state)
{
	struct fx *f = *state;
	rf_connect(&f->rf);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)),
			 0);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, F(VIRTIO_F_VERSION_1)), 0);
	get_inflight(f);
	assert_true(f->infl_size < vq_inflight_packed_bytes(QSIZE));
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES,
				    F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED)),
			 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	set_addr(f);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 1u << 15 | 1u << 31),
			 0);
	uint64_t v = 0;
	req_fail(f, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &f->drv.kick, 1);
}

/* HOSTILE F16 through the backend: a packed region whose chain claims an
 * id out of range refuses the ring at its start. */
static void test_packed_hostile_region(void **state)
{
	struct fx *f = *state;
	const uint64_t packed = F(VIRTIO_F_RING_PACKED);
	setup_conn_features(f, packed);
	kick(f);
	padd(f, 3, 2);
	ppop(f, 3, 2);
	crash(f);
	uint16_t last = pregion(f)->desc[0].last;
	assert_true(last < QSIZE);
	pregion(f)->desc[last].id = 0x7fff;
	setup_conn_features(f, packed);
	uint64_t v = 0;
	req_fail(f, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &f->drv.kick, 1);
	pregion(f)->desc[last].id = 3;
	setup_conn_features(f, packed);
	kick(f);
	assert_int_equal(vq_inflight_resubmit_pending(f->dev.vq), 1);
	ppop(f, 3, 2);
	crash(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resubmit_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_mid_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_resubmit_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_order_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_order_packed_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_buffer_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_hostile_region, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
