/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user backend's rings, driven with raw messages
 * (backend_fixture.h): a ring started by its kick, a chain popped through
 * the backend's mapping of guest memory, stopped by GET_VRING_BASE and
 * restarted where it stopped; packed ring bases in QEMU's and DPDK's
 * packing; enabling with PROTOCOL_FEATURES; memory regions added and
 * removed under a running ring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/test_util.h"
#include "backend_fixture.h"

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

	expect_hang_up(f);
	close(kick);
	assert_int_equal(f->dev.stops, f->dev.starts);
}

/* A packed ring 0 of size 6 (packed: any size) set up with
 * SET_VRING_BASE @base and started: the vq starts at avail @avail_idx /
 * @avail_wrap, used @used_idx / @used_wrap, and GET_VRING_BASE answers
 * @get. */
static void packed_base(struct fx *f, uint32_t base, uint16_t avail_idx, bool avail_wrap,
			uint16_t used_idx, bool used_wrap, uint32_t get)
{
	int kick = eventfd(0, EFD_CLOEXEC);
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES,
				    (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_PACKED)),
			 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 6), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, base), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	assert_non_null(f->dev.vq[0]);
	struct vq_state st;
	vq_get_state(f->dev.vq[0], &st);
	assert_int_equal(st.avail_idx, avail_idx);
	assert_int_equal(st.avail_wrap, avail_wrap);
	assert_int_equal(st.used_idx, used_idx);
	assert_int_equal(st.used_wrap, used_wrap);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	struct vu_msg r;
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.num, get);
	expect_hang_up(f);
	close(kick);
}

static void test_packed_ring_base(void **state)
{
	/* avail 5 wrap 0, used 4 wrap 1; given back as it came */
	uint32_t packed = 5 | 0u << 15 | 4u << 16 | 1u << 31;
	packed_base(*state, packed, 5, false, 4, true, packed);
}

/* DPDK's virtio-user sends only the avail half of a packed base (a fresh
 * ring: 0x8000); the used position and wrap then follow the avail ones, so
 * the ring starts with both wrap counters at 1 (§2.8.1). GET_VRING_BASE
 * answers in QEMU's full packing. */
static void test_packed_ring_base_avail_only(void **state)
{
	packed_base(*state, 0x8000, 0, true, 0, true, 0x80008000u);
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
	expect_hang_up(f);
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
	expect_hang_up(f);
	close(kick);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ring_start_pop_stop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed_ring_base, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_packed_ring_base_avail_only, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_enable_with_protocol_features, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_mem_regions_add_remove, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
