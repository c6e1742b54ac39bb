/* SPDX-License-Identifier: MIT */
/*
 * Dirty logging through the vhost-user backend (vhost-user.rst
 * "Migration"): with VHOST_F_LOG_ALL negotiated, a log set by SET_LOG_BASE
 * and VHOST_VRING_F_LOG in a ring's SET_VRING_ADDR flags, the used-ring
 * writes of the device are marked at log_guest_addr + their offset, and
 * the buffer writes the device reports with vu_backend_log_write() at
 * their gpa. Each check compares the whole bitmap with the pages expected.
 *
 * The backend is driven with raw messages over a real socket on one
 * thread, as in test_backend.c; the test device only records the vq it
 * gets. log_guest_addr is chosen away from the ring (any gpa the frontend
 * gives) and a few bytes before a page boundary, so that the exact bytes
 * written decide the pages; the ring's own page must stay clear.
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
#include "vhost_user/msg.h"

#include "raw_frontend.h"

#define LOG_BYTES 4096u /* 32768 pages: gpa 0 .. 128 MiB */
#define PAGE	  4096ull
#define F(bit)	  (1ull << (bit))

struct fx {
	struct rf rf;
	struct rf_qdev dev;
	int logfd[2];
	uint8_t *log[2];
	struct rf_drv drv;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	rf_qdev_open(&f->rf, &f->dev, &f->drv, "/tmp/vqnet-vu-log-XXXXXX",
		     F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED), 0);
	for (unsigned i = 0; i < 2; i++)
		f->log[i] = rf_memfd_map("log", LOG_BYTES, &f->logfd[i]);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rf_qdev_close(&f->rf, &f->drv);
	for (unsigned i = 0; i < 2; i++) {
		munmap(f->log[i], LOG_BYTES);
		close(f->logfd[i]);
	}
	free(f);
	return 0;
}

static void set_log_base(struct fx *f, unsigned which)
{
	struct vhost_user_log lg = {.mmap_size = LOG_BYTES, .mmap_offset = 0};
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg),
				    &f->logfd[which], 1),
			 0);
	struct vu_msg r;
	assert_int_equal(vu_msg_recv(f->rf.sock, &r), 0);
	assert_int_equal(r.hdr.request, VHOST_USER_SET_LOG_BASE);
	assert_int_equal(r.payload.u64, 0);
}

static void set_addr(struct fx *f, uint32_t flags, uint64_t log_gpa)
{
	assert_int_equal(rf_set_ring_addr(&f->rf, flags, log_gpa), 0);
}

/* Features, memory, log and ring 0 (with @flags and @log_gpa), started. */
static void setup_ring(struct fx *f, uint64_t features, uint32_t flags, uint64_t log_gpa)
{
	rf_connect_negotiate(&f->rf, F(VHOST_USER_PROTOCOL_F_LOG_SHMFD), features);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	set_addr(f, flags, log_gpa);
	bool packed = features & F(VIRTIO_F_RING_PACKED);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0,
				      packed ? (1u << 15 | 1u << 31) : 0),
			 0);
	set_log_base(f, 0);
	assert_int_equal(rf_kick(&f->rf, 0, f->drv.kick), 0);
	assert_non_null(f->dev.vq);
}

/* The driver: buffer @id (one writable descriptor of 64 bytes at
 * BUF_OFF + id * 0x1000, i.e. its own page) made available. */
static void add_buf(struct fx *f, bool packed, uint16_t id)
{
	uint64_t gpa = MEM_GPA + BUF_OFF + id * 0x1000u;
	if (packed)
		rf_drv_add_packed(&f->rf, &f->drv, id, gpa, 1);
	else
		rf_drv_add_split(&f->rf, &f->drv, id, gpa);
}

/* The device: pop buffer @id, write 16 bytes into it and log them by gpa,
 * then complete it. */
static void device_serve(struct fx *f, uint16_t id)
{
	struct vq *q = f->dev.vq;
	assert_non_null(q);
	assert_int_equal(vq_pop(q, &f->drv.e), 1);
	assert_int_equal(f->drv.e.id, id);
	assert_int_equal(f->drv.e.nin, 1);
	memset(f->drv.iov[0].iov_base, 0xab, 16);
	vu_backend_log_write(f->rf.b, MEM_GPA + BUF_OFF + id * 0x1000u, 16);
	assert_int_equal(vq_push(q, id, 16), 0);
}

static uint64_t buf_page(uint16_t id)
{
	return (MEM_GPA + BUF_OFF + id * 0x1000u) / PAGE;
}

/* Log @which holds exactly the pages @pages[0..n); then cleared. */
static void expect_pages(struct fx *f, unsigned which, const uint64_t *pages, unsigned n)
{
	static uint8_t want[LOG_BYTES];
	memset(want, 0, sizeof(want));
	for (unsigned i = 0; i < n; i++)
		want[pages[i] / 8] |= (uint8_t)(1u << (pages[i] % 8));
	for (unsigned i = 0; i < LOG_BYTES; i++)
		if (f->log[which][i] != want[i])
			fail_msg("log %u byte %u (pages %u..%u): 0x%02x, expected 0x%02x", which, i,
				 i * 8, i * 8 + 7, f->log[which][i], want[i]);
	memset(f->log[which], 0, LOG_BYTES);
}

static void hang_up(struct fx *f)
{
	rf_hang_up(&f->rf);
	assert_null(f->dev.vq);
}

/* ------------------------------------------------------------------------ */

/*
 * Split: used ring idx at offset 2, ring[k] at 4 + 8k. log_guest_addr puts
 * a page boundary at offset 12: idx and ring[0] on page A, ring[1..] on B.
 */
static void test_split_used_ring_log(void **state)
{
	struct fx *f = *state;
	const uint64_t pb = 0x400, pa = pb - 1, log_gpa = pb * PAGE - 12;
	setup_ring(f, F(VHOST_F_LOG_ALL), 1u << VHOST_VRING_F_LOG, log_gpa);
	expect_pages(f, 0, NULL, 0);

	add_buf(f, false, 3);
	device_serve(f, 3); /* slot 0, idx: A; the buffer's page */
	expect_pages(f, 0, (uint64_t[]){pa, buf_page(3)}, 2);
	add_buf(f, false, 5);
	device_serve(f, 5); /* slot 1: B; idx: A */
	expect_pages(f, 0, (uint64_t[]){pa, pb, buf_page(5)}, 3);
	/* Not the ring's own address. */
	assert_int_equal(((struct virtq_used *)(f->rf.mem + USED_OFF))->idx, 2);

	/* The ring's log flag off while it runs: restarted without log. */
	unsigned starts = f->dev.starts;
	set_addr(f, 0, log_gpa);
	assert_int_equal(f->dev.starts, starts + 1);
	add_buf(f, false, 1);
	device_serve(f, 1);
	expect_pages(f, 0, (uint64_t[]){buf_page(1)}, 1); /* buffers still logged */

	/* On again, at another address: slot 3 at offset 28 from it. */
	set_addr(f, 1u << VHOST_VRING_F_LOG, 0x2000000);
	add_buf(f, false, 2);
	device_serve(f, 2);
	expect_pages(f, 0, (uint64_t[]){0x2000, buf_page(2)}, 2);

	/* LOG_ALL cleared: nothing at all; set again: back. */
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, F(VIRTIO_F_VERSION_1)), 0);
	add_buf(f, false, 4);
	device_serve(f, 4);
	expect_pages(f, 0, NULL, 0);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES,
				    F(VIRTIO_F_VERSION_1) | F(VHOST_F_LOG_ALL)),
			 0);
	add_buf(f, false, 6);
	device_serve(f, 6);
	expect_pages(f, 0, (uint64_t[]){0x2000, buf_page(6)}, 2);

	/* A new log base under the running ring: the new log only. */
	set_log_base(f, 1);
	add_buf(f, false, 7);
	device_serve(f, 7);
	expect_pages(f, 0, NULL, 0);
	expect_pages(f, 1, (uint64_t[]){0x2000, buf_page(7)}, 2);

	/* Stopped and started again (GET_VRING_BASE, kick): still logged. */
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	struct vu_msg r;
	assert_int_equal(vu_msg_recv(f->rf.sock, &r), 0);
	assert_int_equal(r.payload.state.num, 7);
	assert_int_equal(rf_kick(&f->rf, 0, f->drv.kick), 0);
	add_buf(f, false, 0);
	device_serve(f, 0); /* slot 7 at offset 60; idx */
	expect_pages(f, 1, (uint64_t[]){0x2000, buf_page(0)}, 2);
	hang_up(f);
}

/* Without LOG_ALL, or without the ring's flag, nothing is logged, not
 * even the buffers the device reports. */
static void test_split_not_logged(void **state)
{
	struct fx *f = *state;
	setup_ring(f, 0, 1u << VHOST_VRING_F_LOG, 0x400000);
	add_buf(f, false, 3);
	device_serve(f, 3);
	expect_pages(f, 0, NULL, 0);
	hang_up(f);

	f->drv.avail_idx = 0;
	memset(f->rf.mem, 0, BUF_OFF);
	setup_ring(f, F(VHOST_F_LOG_ALL), 0, 0x400000);
	add_buf(f, false, 3);
	device_serve(f, 3);
	expect_pages(f, 0, (uint64_t[]){buf_page(3)}, 1);
	hang_up(f);
}

/* Packed: log_guest_addr is the device event suppression area's (QEMU
 * sends vring.used); the used descriptor at position p is logged at its own
 * guest address, DESC_OFF + 16 p in guest memory (found by a live
 * migration with QEMU 7.2). */
static void test_packed_used_log(void **state)
{
	struct fx *f = *state;
	const uint64_t log_gpa = 0x800 * PAGE - 16, pd = (MEM_GPA + DESC_OFF) / PAGE;
	setup_ring(f, F(VIRTIO_F_RING_PACKED) | F(VHOST_F_LOG_ALL), 1u << VHOST_VRING_F_LOG,
		   log_gpa);
	add_buf(f, true, 2);
	device_serve(f, 2); /* position 0 */
	expect_pages(f, 0, (uint64_t[]){pd, buf_page(2)}, 2);
	add_buf(f, true, 4);
	device_serve(f, 4); /* position 1 */
	expect_pages(f, 0, (uint64_t[]){pd, buf_page(4)}, 2);
	set_addr(f, 0, log_gpa);
	add_buf(f, true, 5);
	device_serve(f, 5);
	expect_pages(f, 0, (uint64_t[]){buf_page(5)}, 1);
	hang_up(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_used_ring_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_not_logged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_used_log, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
