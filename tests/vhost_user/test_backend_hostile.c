/* SPDX-License-Identifier: MIT */
/*
 * A hostile frontend against the vhost-user backend, with raw messages
 * (backend_fixture.h): bad ring indexes and sizes, refused features, bad
 * memory tables, rings outside guest memory, unknown requests and fds
 * where none belong each drop the connection with nothing left open
 * (HOSTILE-INPUTS.md F5-F18); then random well-framed requests.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend_fixture.h"

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
	expect_hang_up(f);
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
		expect_hang_up(f);
	}
	close(efd);
	assert_true(drops > 100);
	assert_true(replies > 100);
	assert_true(f->dev.starts > 100);
	assert_int_equal(f->dev.starts, f->dev.stops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_ring_index, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_ring_size, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_features_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_bad, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ring_outside_memory, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_request, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_messages, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
