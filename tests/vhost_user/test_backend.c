/* SPDX-License-Identifier: MIT */
/*
 * Focused tests of the vhost-user backend (lib/vhost_user/backend.c),
 * driven with raw messages over a real Unix socket in a temporary
 * directory. Everything runs on one thread: the test sends one message
 * (a socket buffer holds it), calls vu_backend_dispatch(), then reads the
 * reply if one is due.
 *
 * Guest memory is one memfd the test maps itself; the backend maps its own
 * copy through SET_MEM_TABLE, so a chain written by hand through the
 * test's mapping is popped by the device through the backend's.
 *
 * After every dropped connection the number of open fds of the process
 * must be back to what it was before the connection (HOSTILE F5/F6/F12).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/vhost_user.h>

#include "spec/virtio_ring.h"
#include "vhost_user/msg.h"

#include "../harness/test_util.h"
#include "raw_frontend.h"

#define NQUEUES	     2u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DEV_FEATURES                                                                               \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_PACKED) |                           \
	 (1ull << VIRTIO_F_EVENT_IDX))

/* The test device: records what the backend asks of it. */
struct test_dev {
	unsigned starts, stops, resets, enables, call_fds, set_features;
	uint64_t features;
	struct vq *vq[NQUEUES];
	bool enabled[NQUEUES];
	int kick_fd[NQUEUES];
	uint8_t config[16];
};

static int dev_set_features(void *opaque, uint64_t features)
{
	struct test_dev *d = opaque;
	d->features = features;
	d->set_features++;
	return 0;
}

static int dev_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct test_dev *d = opaque;
	memcpy(buf, d->config + offset, len);
	return 0;
}

static int dev_set_config(void *opaque, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	struct test_dev *d = opaque;
	memcpy(d->config + offset, buf, len);
	return 0;
}

static int dev_queue_start(void *opaque, const struct vu_vring *vr)
{
	struct test_dev *d = opaque;
	assert_true(vr->index < NQUEUES);
	assert_null(d->vq[vr->index]);
	d->vq[vr->index] = vr->vq;
	d->enabled[vr->index] = vr->enabled;
	d->kick_fd[vr->index] = vr->kick_fd;
	d->starts++;
	return 0;
}

static void dev_queue_stop(void *opaque, unsigned index)
{
	struct test_dev *d = opaque;
	assert_true(index < NQUEUES);
	assert_non_null(d->vq[index]);
	d->vq[index] = NULL;
	d->stops++;
}

static void dev_queue_enable(void *opaque, unsigned index, bool enabled)
{
	struct test_dev *d = opaque;
	d->enabled[index] = enabled;
	d->enables++;
}

static void dev_queue_call_fd(void *opaque, unsigned index, int call_fd)
{
	struct test_dev *d = opaque;
	(void)index;
	(void)call_fd;
	d->call_fds++;
}

static void dev_reset(void *opaque)
{
	struct test_dev *d = opaque;
	for (unsigned i = 0; i < NQUEUES; i++)
		assert_null(d->vq[i]); /* every ring stopped first */
	d->resets++;
}

static const struct vu_device_ops test_ops = {
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.set_config = dev_set_config,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_enable = dev_queue_enable,
	.queue_call_fd = dev_queue_call_fd,
	.reset = dev_reset,
};

/* Per-test fixture. */
struct fx {
	struct rf rf;
	struct test_dev dev;
	int base_fds; /* open fds before the connection */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	struct vu_backend_config cfg = {.num_queues = NQUEUES,
					.device_features = DEV_FEATURES,
					.config_size = sizeof(f->dev.config)};
	rf_open(&f->rf, "/tmp/vqnet-vu-be-XXXXXX", &cfg, &test_ops, &f->dev);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rf_close(&f->rf);
	free(f);
	return 0;
}

static void fe_connect(struct fx *f)
{
	f->base_fds = count_fds();
	rf_connect(&f->rf);
	assert_int_not_equal(vu_backend_fd(f->rf.b), -1);
}

static void read_reply(struct fx *f, uint32_t request, struct vu_msg *r)
{
	assert_int_equal(vu_msg_recv(f->rf.sock, r), 0);
	assert_int_equal(r->hdr.request, request);
	assert_int_equal(r->hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
	assert_int_equal(r->nfds, 0);
}

static uint64_t reply_u64(struct fx *f, uint32_t request)
{
	struct vu_msg r;
	read_reply(f, request, &r);
	assert_int_equal(r.hdr.size, 8);
	return r.payload.u64;
}

static void expect_dropped(struct fx *f)
{
	assert_false(vu_backend_connected(f->rf.b));
	close(f->rf.sock);
	f->rf.sock = -1;
	assert_int_equal(count_fds(), f->base_fds);
	for (unsigned i = 0; i < NQUEUES; i++)
		assert_null(f->dev.vq[i]);
}

static void set_addr(struct fx *f, unsigned index, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vhost_vring_addr a = {.index = index,
				     .desc_user_addr = desc,
				     .avail_user_addr = avail,
				     .used_user_addr = used};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a)), 0);
}

static void setup_ring0(struct fx *f, uint64_t extra, int kick)
{
	assert_int_equal(
		rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, (1ull << VIRTIO_F_VERSION_1) | extra),
		0);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_SET_OWNER, NULL, 0), 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
}
/* ------------------------------------------------------------------------ */

static void test_get_features(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_GET_FEATURES),
			 DEV_FEATURES | 1ull << VHOST_USER_F_PROTOCOL_FEATURES |
				 1ull << VHOST_F_LOG_ALL);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0), 0);
	uint64_t pf = reply_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
	assert_int_equal(pf, vu_backend_supported_protocol_features());
	assert_false(pf & (1ull << VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS));
	assert_true(pf & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)); /* test_inflight.c */
	/* EOF: dropped with -ECONNRESET, nothing left open. */
	rf_hang_up(&f->rf);
	assert_false(vu_backend_connected(f->rf.b));
	assert_int_equal(count_fds(), f->base_fds);
	assert_int_equal(f->dev.resets, 1);
}

static void test_ring_start_pop_stop(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	setup_ring0(f, 0, kick);
	assert_int_equal(f->dev.starts, 1);
	struct vq *q = f->dev.vq[0];
	assert_non_null(q);
	assert_true(f->dev.enabled[0]); /* no PROTOCOL_FEATURES: enabled at start */
	assert_true(f->dev.kick_fd[0] >= 0 && f->dev.kick_fd[0] != kick);
	assert_int_equal(vu_backend_features(f->rf.b), 1ull << VIRTIO_F_VERSION_1);

	/* One chain of one readable buffer, written through our mapping. */
	struct virtq_desc *desc = (struct virtq_desc *)(f->rf.mem + DESC_OFF);
	struct virtq_avail *avail = (struct virtq_avail *)(f->rf.mem + AVAIL_OFF);
	struct virtq_used *used = (struct virtq_used *)(f->rf.mem + USED_OFF);
	memcpy(f->rf.mem + BUF_OFF, "hello", 6);
	desc[3].addr = MEM_GPA + BUF_OFF;
	desc[3].len = 6;
	desc[3].flags = 0;
	avail->ring[0] = 3;
	__atomic_store_n(&avail->idx, 1, __ATOMIC_RELEASE);

	struct iovec iov[4];
	struct vq_elem e = {.iov = iov, .iov_cap = 4};
	assert_int_equal(vq_pop(q, &e), 1);
	assert_int_equal(e.id, 3);
	assert_int_equal(e.nout, 1);
	assert_int_equal(e.out_len, 6);
	assert_ptr_not_equal(iov[0].iov_base, f->rf.mem + BUF_OFF); /* the backend's mapping */
	assert_string_equal(iov[0].iov_base, "hello");
	assert_int_equal(vq_push(q, e.id, 0), 0);
	assert_int_equal(used->idx, 1);
	assert_int_equal(used->ring[0].id, 3);

	/* The memory table the backend holds. */
	struct gmem_table *t = vu_backend_mem(f->rf.b);
	assert_non_null(t);
	assert_int_equal(gmem_table_nregions(t), 1);
	gmem_table_put(t);

	/* GET_VRING_BASE stops the ring and returns the next avail index. */
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	struct vu_msg r;
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.hdr.size, sizeof(struct vhost_vring_state));
	assert_int_equal(r.payload.state.index, 0);
	assert_int_equal(r.payload.state.num, 1);
	assert_int_equal(f->dev.stops, 1);
	assert_null(f->dev.vq[0]);
	/* Asked again on the stopped ring: the same base. */
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.num, 1);
	assert_int_equal(f->dev.stops, 1);

	/* A new kick restarts it where it stopped. */
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	assert_int_equal(f->dev.starts, 2);
	assert_int_equal(vq_pop(f->dev.vq[0], &e), 0);

	/* Repeated allocating messages do not leak (F12). */
	int n = count_fds();
	for (int i = 0; i < 50; i++) {
		uint64_t v = 0;
		assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_CALL, 0, &v, 8, &kick, 1),
				 0);
		assert_int_equal(rf_set_mem_table(&f->rf), 0);
	}
	assert_int_equal(count_fds(), n + 1); /* one call fd held */
	assert_int_equal(f->dev.call_fds, 50);
	assert_non_null(f->dev.vq[0]); /* restarted after each memory change */
	assert_int_equal(f->dev.starts, 52);
	/* ... and works on the new mapping: a second chain. */
	avail->ring[1] = 5;
	desc[5] = desc[3];
	__atomic_store_n(&avail->idx, 2, __ATOMIC_RELEASE);
	assert_int_equal(vq_pop(f->dev.vq[0], &e), 1);
	assert_int_equal(e.id, 5);
	assert_string_equal(iov[0].iov_base, "hello");
	assert_int_equal(vq_push(f->dev.vq[0], e.id, 0), 0);
	assert_int_equal(used->idx, 2);

	rf_hang_up(&f->rf);
	expect_dropped(f);
	close(kick);
	assert_int_equal(f->dev.stops, f->dev.starts);
}

static void test_packed_ring_base(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES,
				    (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_PACKED)),
			 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 6),
			 0); /* packed: any size */
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	/* avail 5 wrap 0, used 4 wrap 1 */
	uint32_t packed = 5 | 0u << 15 | 4u << 16 | 1u << 31;
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, packed), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	assert_non_null(f->dev.vq[0]);
	struct vq_state st;
	vq_get_state(f->dev.vq[0], &st);
	assert_int_equal(st.avail_idx, 5);
	assert_false(st.avail_wrap);
	assert_int_equal(st.used_idx, 4);
	assert_true(st.used_wrap);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	struct vu_msg r;
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.num, packed);
	rf_hang_up(&f->rf);
	expect_dropped(f);
	close(kick);
}

/* DPDK's virtio-user sends only the avail half of a packed base (a fresh
 * ring: 0x8000); the used position and wrap then follow the avail ones, so
 * the ring starts with both wrap counters at 1 (§2.8.1). */
static void test_packed_ring_base_avail_only(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES,
				    (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_PACKED)),
			 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 6), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0x8000), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	assert_non_null(f->dev.vq[0]);
	struct vq_state st;
	vq_get_state(f->dev.vq[0], &st);
	assert_int_equal(st.avail_idx, 0);
	assert_true(st.avail_wrap);
	assert_int_equal(st.used_idx, 0);
	assert_true(st.used_wrap);
	/* GET_VRING_BASE answers in QEMU's full packing. */
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	struct vu_msg r;
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.num, 0x80008000u);
	rf_hang_up(&f->rf);
	expect_dropped(f);
	close(kick);
}

static void test_bad_ring_index(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	/* F8: 0x10000 would be 0 after narrowing to 16 bits. */
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0x10000, QSIZE), -EINVAL);
	expect_dropped(f);
	/* A new frontend works. */
	fe_connect(f);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, NQUEUES, QSIZE), -EINVAL);
	expect_dropped(f);
	fe_connect(f);
	uint64_t v = 0x100 | 0; /* NOFD with an fd */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_KICK, 0, &v, 8, &kick, 1),
			 -EPROTO);
	expect_dropped(f);
	fe_connect(f);
	v = 5; /* index beyond the queues, with an eventfd */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_KICK, 0, &v, 8, &kick, 1),
			 -EINVAL);
	expect_dropped(f);
	fe_connect(f);
	v = 0; /* not an eventfd (F15) */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_KICK, 0, &v, 8, &f->rf.memfd, 1),
			 -EINVAL);
	expect_dropped(f);
	close(kick);
	fe_connect(f);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	(void)reply_u64(f, VHOST_USER_GET_FEATURES);
}

static void test_bad_ring_size(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 0), -EINVAL);
	expect_dropped(f);
	fe_connect(f);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 65536), -EINVAL);
	expect_dropped(f);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 6), -EINVAL); /* split */
	expect_dropped(f);
}

static void test_features_refused(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, 0),
			 -EINVAL); /* no VERSION_1 */
	expect_dropped(f);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES,
				    (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_IN_ORDER)),
			 -EINVAL);
	expect_dropped(f);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    1ull << VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS),
			 -EINVAL);
	expect_dropped(f);
	fe_connect(f);
	/* A request whose protocol feature was not negotiated. */
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_QUEUE_NUM, NULL, 0), -EPROTO);
	expect_dropped(f);
}

static void test_mem_table_bad(void **state)
{
	struct fx *f = *state;
	struct vhost_user_memory m = {.nregions = 2};
	for (unsigned i = 0; i < 2; i++)
		m.regions[i] = (struct vhost_user_mem_region){
			.guest_phys_addr = MEM_GPA + i * MEM_BYTES / 2,
			.memory_size = MEM_BYTES / 2,
			.userspace_addr = (uintptr_t)f->rf.mem + i * MEM_BYTES / 2,
			.mmap_offset = i * MEM_BYTES / 2};
	/* F6: two regions, one fd. */
	fe_connect(f);
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 64, &f->rf.memfd, 1),
		-EINVAL);
	expect_dropped(f);
	/* nregions 0 (with an fd). */
	fe_connect(f);
	m.nregions = 0;
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 64, &f->rf.memfd, 1),
		-EINVAL);
	expect_dropped(f);
	/* F9: a region beyond the end of the memfd. */
	fe_connect(f);
	m.nregions = 1;
	m.regions[0].memory_size = 2 * MEM_BYTES;
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &f->rf.memfd, 1),
		-EINVAL);
	expect_dropped(f);
	/* F9: an fd offset not aligned like the guest address (rings aligned
	 * in guest memory would be misaligned in ours; found by the fuzzer). */
	fe_connect(f);
	m.regions[0].memory_size = 4096;
	uint64_t saved_offset = m.regions[0].mmap_offset;
	m.regions[0].mmap_offset = saved_offset + 1;
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &f->rf.memfd, 1),
		-EINVAL);
	expect_dropped(f);
	m.regions[0].mmap_offset = saved_offset;
	/* F9: gpa + size wraps. */
	fe_connect(f);
	m.regions[0].memory_size = 4096;
	m.regions[0].guest_phys_addr = UINT64_MAX - 100;
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &f->rf.memfd, 1),
		-EINVAL);
	expect_dropped(f);
	/* F10: overlapping regions (two fds). */
	fe_connect(f);
	int fds[2] = {f->rf.memfd, f->rf.memfd};
	m.nregions = 2;
	m.regions[0] = m.regions[1];
	m.regions[1].userspace_addr += 4096;
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 64, fds, 2),
			 -EEXIST);
	expect_dropped(f);
	/* Size 0 region. */
	fe_connect(f);
	m.nregions = 1;
	m.regions[0].memory_size = 0;
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &f->rf.memfd, 1),
		-EINVAL);
	expect_dropped(f);
}

static void test_ring_outside_memory(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	uint64_t base = (uintptr_t)f->rf.mem;
	/* The used ring straddles the end of the region. */
	set_addr(f, 0, base, base + AVAIL_OFF, base + MEM_BYTES - 16);
	assert_int_equal(rf_kick(&f->rf, 0, kick), -EFAULT);
	assert_int_equal(f->dev.starts, 0);
	expect_dropped(f);
	/* Misaligned descriptor table. */
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	set_addr(f, 0, base + 8, base + AVAIL_OFF, base + USED_OFF);
	assert_int_equal(rf_kick(&f->rf, 0, kick), -EINVAL);
	expect_dropped(f);
	/* F18: kick before memory is deferred, the ring starts with the table. */
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	assert_int_equal(f->dev.starts, 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(f->dev.starts, 1);
	assert_non_null(f->dev.vq[0]);
	rf_hang_up(&f->rf);
	expect_dropped(f);
	close(kick);
}

static void test_unknown_request(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	assert_int_equal(rf_req(&f->rf, 99, NULL, 0), -EPROTO);
	expect_dropped(f);
	/* fds on a request that takes none (F5) */
	fe_connect(f);
	int fds[3] = {f->rf.memfd, f->rf.memfd, f->rf.memfd};
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_GET_FEATURES, 0, NULL, 0, fds, 3), -EPROTO);
	expect_dropped(f);
	fe_connect(f);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	(void)reply_u64(f, VHOST_USER_GET_FEATURES);
}

static void test_reply_ack(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
					    (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
					    (1ull << VHOST_USER_PROTOCOL_F_MQ)),
			 0);
	uint64_t v = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_FEATURES, VHOST_USER_NEED_REPLY_MASK, &v,
				    8, NULL, 0),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_FEATURES), 0);
	assert_int_equal(f->dev.features, 1ull << VIRTIO_F_VERSION_1);
	/* A GET_* reply is the answer itself, not an ack. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_NEED_REPLY_MASK,
				    NULL, 0, NULL, 0),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_GET_QUEUE_NUM), NQUEUES);
	/* Config space round trip and bounds. */
	struct vhost_user_config c = {.offset = 4, .size = 4};
	memcpy(c.region, "abcd", 4);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_SET_CONFIG, &c, 12 + 4), 0);
	c = (struct vhost_user_config){.offset = 2, .size = 6};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_CONFIG, &c, 12 + 6), 0);
	struct vu_msg r;
	read_reply(f, VHOST_USER_GET_CONFIG, &r);
	assert_int_equal(r.hdr.size, 12 + 6);
	assert_int_equal(r.payload.config.offset, 2);
	assert_memory_equal(r.payload.config.region, "\0\0abcd", 6);
	/* A failure is acked with 1, then the connection drops. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_NUM, VHOST_USER_NEED_REPLY_MASK,
				    &(struct vhost_vring_state){.index = 0x10000, .num = 8}, 8,
				    NULL, 0),
			 -EINVAL);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_VRING_NUM), 1);
	expect_dropped(f);
	/* Config beyond the config space. */
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    1ull << VHOST_USER_PROTOCOL_F_CONFIG),
			 0);
	c = (struct vhost_user_config){.offset = 12, .size = 8};
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_CONFIG, &c, 12 + 8), -EINVAL);
	expect_dropped(f);
}

static void test_enable_with_protocol_features(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	setup_ring0(f, 1ull << VHOST_USER_F_PROTOCOL_FEATURES, kick);
	assert_non_null(f->dev.vq[0]);
	assert_false(f->dev.enabled[0]); /* disabled until SET_VRING_ENABLE 1 */
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_ENABLE, 0, 1), 0);
	assert_true(f->dev.enabled[0]);
	assert_int_equal(f->dev.enables, 1);
	/* RESET_OWNER stops the ring and resets the device. */
	assert_int_equal(rf_req(&f->rf, VHOST_USER_RESET_OWNER, NULL, 0), 0);
	assert_null(f->dev.vq[0]);
	assert_int_equal(f->dev.resets, 1);
	assert_int_equal(vu_backend_features(f->rf.b), 0);
	rf_hang_up(&f->rf);
	expect_dropped(f);
	close(kick);
}

static void test_mem_regions_add_remove(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS),
			 0);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_MAX_MEM_SLOTS, NULL, 0), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_GET_MAX_MEM_SLOTS), VU_MAX_MEM_SLOTS);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1),
			 0);
	/* Two halves of the memfd as two regions. */
	struct vhost_user_mem_reg r[2];
	for (unsigned i = 0; i < 2; i++) {
		r[i] = (struct vhost_user_mem_reg){
			.region = {.guest_phys_addr = MEM_GPA + i * MEM_BYTES / 2,
				   .memory_size = MEM_BYTES / 2,
				   .userspace_addr = (uintptr_t)f->rf.mem + i * MEM_BYTES / 2,
				   .mmap_offset = i * MEM_BYTES / 2}};
		assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_ADD_MEM_REG, 0, &r[i], sizeof(r[i]),
					    &f->rf.memfd, 1),
				 0);
	}
	struct gmem_table *t = vu_backend_mem(f->rf.b);
	assert_int_equal(gmem_table_nregions(t), 2);
	gmem_table_put(t);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	assert_non_null(f->dev.vq[0]);
	/* Removing the upper half: the ring is stopped and restarted. */
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_REM_MEM_REG, 0, &r[1], sizeof(r[1]), &f->rf.memfd, 1),
		0);
	assert_non_null(f->dev.vq[0]);
	assert_int_equal(f->dev.starts, 2);
	/* F14: removing the region under the ring stops it for good. */
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_REM_MEM_REG, 0, &r[0], sizeof(r[0]), NULL, 0), 0);
	assert_null(f->dev.vq[0]);
	assert_int_equal(f->dev.stops, 2);
	t = vu_backend_mem(f->rf.b);
	assert_int_equal(gmem_table_nregions(t), 0);
	gmem_table_put(t);
	rf_hang_up(&f->rf);
	expect_dropped(f);
	close(kick);
}

static void test_status_log_backend_channel(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int logfd;
	uint8_t *logmap = rf_memfd_map("log", 8192, &logfd);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fe_connect(f);
	assert_int_equal(vu_backend_config_changed(f->rf.b), -EOPNOTSUPP);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
				    (1ull << VHOST_USER_PROTOCOL_F_STATUS) |
					    (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |
					    (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
					    (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
					    (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)),
			 0);
	setup_ring0(f, 1ull << VHOST_F_LOG_ALL, kick);
	assert_non_null(f->dev.vq[0]);

	/* VRING_ERR: the device reports a broken ring. */
	uint64_t v = 0;
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_VRING_ERR, 0, &v, 8, &err, 1), 0);
	vu_backend_vring_error(f->rf.b, 0);
	eventfd_t ev = 0;
	assert_int_equal(eventfd_read(err, &ev), 0);
	assert_int_equal(ev, 1);
	vu_backend_vring_error(f->rf.b, 7); /* out of range: ignored */

	/* Dirty log: 4 KiB of bitmap at offset 4096 of the fd. */
	struct vhost_user_log lg = {.mmap_size = 4096, .mmap_offset = 4096};
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg), &logfd, 1),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_LOG_BASE), 0);
	assert_non_null(f->dev.vq[0]); /* paused and resumed around the swap */
	vu_backend_log_write(f->rf.b, 5 * 4096 + 10, 1);
	assert_int_equal(logmap[4096], 1u << 5);
	/* Again (F12: the old mapping goes), then a log beyond its fd. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg), &logfd, 1),
			 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_LOG_BASE), 0);

	/* Backend request channel: the ack is queued before it is awaited. */
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_BACKEND_REQ_FD, 0, NULL, 0, &sp[1], 1),
			 0);
	close(sp[1]);
	f->base_fds--; /* the backend holds its copy until the drop */
	struct vu_msg ack = {.hdr = {.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
				     .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
				     .size = 8}};
	assert_int_equal(vu_msg_send(sp[0], &ack), 0);
	assert_int_equal(vu_backend_config_changed(f->rf.b), 0);
	struct vu_msg r;
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);
	assert_int_equal(r.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(r.hdr.flags, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK);
	ack.payload.u64 = 1; /* a failure ack */
	assert_int_equal(vu_msg_send(sp[0], &ack), 0);
	assert_int_equal(vu_backend_config_changed(f->rf.b), -EIO);
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);
	/* A frontend that never answers: bounded wait, not a hang. */
	assert_int_equal(vu_backend_config_changed(f->rf.b), -ETIMEDOUT);
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);
	/* Its late ack is not taken for the answer to the next request. */
	ack.payload.u64 = 0;
	assert_int_equal(vu_msg_send(sp[0], &ack), 0);
	assert_int_equal(vu_backend_config_changed(f->rf.b), -ETIMEDOUT);
	assert_int_equal(vu_msg_recv(sp[0], &r), 0);

	/* Status: kept, and 0 quiesces the rings (G3), positions kept. */
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_STATUS, 0xf), 0);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_STATUS, NULL, 0), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_GET_STATUS), 0xf);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_STATUS, 0), 0);
	assert_null(f->dev.vq[0]);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.num, 0);

	lg.mmap_offset = 8192;
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg), &logfd, 1),
			 -EINVAL);
	expect_dropped(f);
	/* The channel went with the connection. */
	assert_int_equal(vu_backend_config_changed(f->rf.b), -ENOTCONN);
	assert_int_equal(read(sp[0], &r, 1), 0);
	close(sp[0]);
	munmap(logmap, 8192);
	close(logfd);
	close(err);
	close(kick);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A plausible-looking value: small numbers, ring-ish user addresses, or
 * anything. */
static uint64_t rnd_field(const struct fx *f)
{
	switch (rnd() % 4) {
	case 0:
		return rnd() % 4;
	case 1:
		return (uintptr_t)f->rf.mem + (rnd() % 8) * 0x1000;
	case 2:
		return MEM_GPA + (rnd() % 8) * 0x1000;
	default:
		return rnd();
	}
}

/*
 * Random well-framed requests (every request number, sizes within the
 * row, fds where the row takes them, fields biased towards values that get
 * past the first checks): no crash, no leak, replies only where due, and
 * after every drop the fd count is back to where it was.
 */
static void test_random_messages(void **state)
{
	struct fx *f = *state;
	int efd = eventfd(0, EFD_CLOEXEC);
	unsigned drops = 0, replies = 0;
	for (unsigned iter = 0; iter < 20000; iter++) {
		if (f->rf.sock < 0) {
			/* A valid prologue most times, so that the random part
			 * reaches rings and memory changes. */
			fe_connect(f);
			if (rnd() % 4) {
				uint64_t fe =
					(1ull << VIRTIO_F_VERSION_1) |
					(rnd() % 2 ? 1ull << VHOST_USER_F_PROTOCOL_FEATURES : 0) |
					(rnd() % 2 ? 1ull << VIRTIO_F_RING_PACKED : 0) |
					(rnd() % 2 ? 1ull << VIRTIO_F_EVENT_IDX : 0);
				assert_int_equal(
					rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES,
						   vu_backend_supported_protocol_features()),
					0);
				assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, fe),
						 0);
				assert_int_equal(rf_set_mem_table(&f->rf), 0);
				if (rnd() % 2) {
					/* ring 0 started (size 8: both formats) */
					int efd0 = efd;
					assert_int_equal(rf_req_state(&f->rf,
								      VHOST_USER_SET_VRING_NUM, 0,
								      QSIZE),
							 0);
					assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
					memset(f->rf.mem, 0, BUF_OFF);
					assert_int_equal(rf_kick(&f->rf, 0, efd0), 0);
					assert_non_null(f->dev.vq[0]);
				}
			}
		}
		/* Scribble on the rings now and then; pop what the started
		 * rings offer and complete it. */
		if (rnd() % 8 == 0)
			for (unsigned i = 0; i < 16; i++)
				f->rf.mem[rnd() % BUF_OFF] = (uint8_t)rnd();
		for (unsigned i = 0; i < NQUEUES; i++) {
			struct iovec iov[8];
			struct vq_elem e = {.iov = iov, .iov_cap = 8};
			int n = f->dev.vq[i] ? vq_pop(f->dev.vq[i], &e) : 0;
			if (n == 1 || (n < 0 && vq_err_is_drop(n)))
				vq_push(f->dev.vq[i], e.id, 0);
		}
		uint32_t request;
		const struct vu_request_info *info;
		do { /* mostly requests the backend implements */
			request = 1 + (uint32_t)(rnd() % VHOST_USER_GET_STATUS);
			info = vu_request_info(request);
		} while ((!info || request == VHOST_USER_GET_INFLIGHT_FD ||
			  request == VHOST_USER_SET_INFLIGHT_FD) &&
			 rnd() % 8);
		uint32_t size = 0;
		unsigned nfds = 0;
		int fds[VHOST_USER_MAX_FDS];
		if (info) {
			size = info->size_min +
			       (uint32_t)(rnd() % (info->size_max - info->size_min + 1));
			nfds = info->fds_min +
			       (unsigned)(rnd() % (info->fds_max - info->fds_min + 1u));
		}
		uint64_t payload[VHOST_USER_MAX_PAYLOAD / 8 + 1];
		for (unsigned i = 0; i < ARRAY_LEN(payload); i++)
			payload[i] = rnd_field(f);
		if (request == VHOST_USER_SET_MEM_TABLE || request == VHOST_USER_ADD_MEM_REG ||
		    request == VHOST_USER_REM_MEM_REG) {
			/* sizes that fit the memfd now and then */
			payload[rnd() % 6] = MEM_BYTES >> (rnd() % 3);
			uint32_t nregions = (uint32_t)(rnd() % 3);
			memcpy(payload, &nregions, sizeof(nregions));
		}
		if ((request >= VHOST_USER_SET_VRING_NUM && request <= VHOST_USER_GET_VRING_BASE) ||
		    request == VHOST_USER_SET_VRING_ENABLE) {
			/* index (low 32 bits) mostly valid, num often a power of 2 */
			uint64_t num = rnd() % 2 ? 1u << (rnd() % 6) : rnd() % 70000;
			payload[0] = (rnd() % 3) |
				     (request == VHOST_USER_SET_VRING_ADDR ? (rnd() % 2) << 32
									   : num << 32);
		}
		if (request >= VHOST_USER_SET_VRING_KICK && request <= VHOST_USER_SET_VRING_ERR) {
			payload[0] = rnd() % 8 ? rnd() % 2 : 2;
			nfds = rnd() % 8 ? 1 : 0;
			if (!nfds)
				payload[0] |= VHOST_USER_VRING_NOFD_MASK;
		}
		for (unsigned i = 0; i < nfds; i++)
			fds[i] = request >= VHOST_USER_SET_VRING_KICK &&
						 request <= VHOST_USER_SET_VRING_ERR
					 ? efd
					 : f->rf.memfd;
		uint32_t flags = rnd() % 2 ? VHOST_USER_NEED_REPLY_MASK : 0;
		int rc = rf_req_fds(&f->rf, request, flags, payload, size, fds, nfds);
		/* Drain whatever reply came (none carries fds). */
		uint8_t buf[512];
		while (recv(f->rf.sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			replies++;
		if (rc) {
			assert_true(rc < 0);
			expect_dropped(f);
			drops++;
		}
	}
	if (f->rf.sock >= 0) {
		rf_hang_up(&f->rf);
		expect_dropped(f);
	}
	close(efd);
	assert_true(drops > 100);
	assert_true(replies > 100);
	assert_true(f->dev.starts > 100);
	assert_int_equal(f->dev.starts, f->dev.stops);
}

static void test_second_frontend_waits(void **state)
{
	struct fx *f = *state;
	fe_connect(f);
	int listen_fd_count = f->base_fds;
	int second = rf_connect_to(f->rf.path); /* waits in the backlog */
	int conn = vu_backend_fd(f->rf.b);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	(void)reply_u64(f, VHOST_USER_GET_FEATURES);
	assert_int_equal(vu_backend_fd(f->rf.b), conn);
	close(f->rf.sock);
	f->rf.sock = second;
	assert_int_equal(vu_backend_dispatch(f->rf.b), -ECONNRESET);
	assert_int_equal(vu_backend_dispatch(f->rf.b), 0); /* accepts the second */
	assert_int_equal(rf_req(&f->rf, VHOST_USER_GET_FEATURES, NULL, 0), 0);
	(void)reply_u64(f, VHOST_USER_GET_FEATURES);
	rf_hang_up(&f->rf);
	assert_int_equal(count_fds(), listen_fd_count);
	/* Nothing pending: the listener says so. */
	assert_int_equal(vu_backend_dispatch(f->rf.b), -EAGAIN);
}

/* new/free with every queue close nothing they did not open (fd 0 kept). */
static void test_new_free_closes_nothing(void **state)
{
	struct fx *f = *state;
	int null = -1;
	if (fcntl(0, F_GETFD) < 0)
		null = open("/dev/null", O_RDONLY); /* becomes fd 0 */
	int n = count_fds();
	char path[128];
	snprintf(path, sizeof(path), "%s/many", f->rf.dir);
	struct vu_backend_config cfg = {.socket_path = path,
					.num_queues = VU_MAX_QUEUES,
					.device_features = 1ull << VIRTIO_F_VERSION_1};
	struct vu_backend *b;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), 0);
	vu_backend_free(b);
	assert_int_equal(count_fds(), n);
	assert_int_not_equal(fcntl(0, F_GETFD), -1);
	assert_int_equal(access(path, F_OK), -1); /* the socket file is gone */
	cfg.num_queues = 0;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), -EINVAL);
	cfg.num_queues = VU_MAX_QUEUES + 1;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), -EINVAL);
	if (null >= 0)
		close(null);
}

static void test_client_mode(void **state)
{
	struct fx *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/front", f->rf.dir);
	struct vu_backend_config cfg = {.socket_path = path,
					.client = true,
					.num_queues = 1,
					.device_features = 1ull << VIRTIO_F_VERSION_1};
	struct vu_backend *b;
	assert_int_equal(vu_backend_new(&cfg, &test_ops, &f->dev, &b), 0);
	assert_int_equal(vu_backend_fd(b), -1);
	assert_int_equal(vu_backend_dispatch(b), -EAGAIN);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(vu_backend_dispatch(b), 0);
	assert_true(vu_backend_connected(b));
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	struct vu_msg m = {.hdr = {.request = VHOST_USER_GET_FEATURES, .flags = 1}};
	assert_int_equal(vu_msg_send(s, &m), 0);
	assert_int_equal(vu_backend_dispatch(b), 0);
	assert_int_equal(vu_msg_recv(s, &m), 0);
	assert_int_equal(m.payload.u64, (1ull << VIRTIO_F_VERSION_1) |
						(1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
						(1ull << VHOST_F_LOG_ALL));
	close(s);
	assert_int_equal(vu_backend_dispatch(b), -ECONNRESET);
	assert_int_equal(vu_backend_fd(b), -1);
	vu_backend_free(b);
	close(l);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_start_pop_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_ring_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_ring_base_avail_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ring_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ring_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_outside_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_with_protocol_features, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mem_regions_add_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_log_backend_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_frontend_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_free_closes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_mode, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
