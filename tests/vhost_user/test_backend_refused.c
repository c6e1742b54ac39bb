/* SPDX-License-Identifier: MIT */
/*
 * Configuration a hostile frontend may send that the backend must refuse
 * (docs/security.md, "Hostile inputs and the tests that prove them"), one
 * test per row, with raw messages (backend_fixture.h):
 *
 *  A25  queue size 0, not a power of two (split), above 32768;
 *  A26  ring parts misaligned, overlapping each other, partly backed by
 *       memory, or split over two regions;
 *  F11  SET_LOG_BASE whose offset + size wraps, of size 0, beyond its fd,
 *       or whose mmap fails;
 *  F13  SET_VRING_ADDR with unknown flags, unaligned parts, or a ring the
 *       memory table does not cover;
 *  F17  SET_FEATURES with bits never offered or without VERSION_1;
 *       SET_PROTOCOL_FEATURES with bits never offered, alone or in an
 *       otherwise consistent combination.
 *
 * Each refusal is REJECT-MSG: with REPLY_ACK negotiated and NEED_REPLY set
 * the frontend gets a failure ack (a non-zero u64) — SET_LOG_BASE always
 * replies, so there the connection just closes — and the connection is
 * dropped with every fd closed, every ring stopped and no mapping left.
 * Nothing is kept: the next frontend finds a ring base of 0 where the
 * refused one had set 7, and a ring of its own starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend_fixture.h"

#define PF(bit) (1ull << VHOST_USER_PROTOCOL_F_##bit)
#define VF(bit) (1ull << VIRTIO_F_##bit)

/* Connect, negotiate REPLY_ACK | @pf and VERSION_1 | @features, and leave
 * state behind: ring 0's base set to 7 (no_state_kept() looks for it). */
static void connect_acked(struct fx *f, uint64_t pf, uint64_t features)
{
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES, PF(REPLY_ACK) | pf),
			 0);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, VF(VERSION_1) | features), 0);
	assert_int_equal(rf_req(&f->rf, VHOST_USER_SET_OWNER, NULL, 0), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 7), 0);
}

/* The frontend's end got nothing more than @want_reply (a failure ack of
 * @request, or nothing) before the backend closed the connection. */
static void expect_closed_after(struct fx *f, uint32_t request, bool want_reply)
{
	if (want_reply)
		assert_true(reply_u64(f, request) != 0); /* the failure ack */
	uint8_t b;
	assert_int_equal(recv(f->rf.sock, &b, 1, MSG_DONTWAIT), 0); /* then EOF */
}

/*
 * REJECT-MSG: @request (with NEED_REPLY) returned @rc from the dispatch,
 * a failure ack came unless the request always replies, and the
 * connection is gone with nothing left open (expect_dropped()).
 */
static void expect_rejected(struct fx *f, int got, int rc, uint32_t request)
{
	assert_int_equal(got, rc);
	expect_closed_after(f, request, request != VHOST_USER_SET_LOG_BASE);
	assert_false(vu_backend_logging(f->rf.b));
	expect_dropped(f);
}

static int req_nr(struct fx *f, uint32_t request, const void *p, uint32_t size)
{
	return rf_req_fds(&f->rf, request, VHOST_USER_NEED_REPLY_MASK, p, size, NULL, 0);
}

static int req_nr_u64(struct fx *f, uint32_t request, uint64_t v)
{
	return req_nr(f, request, &v, sizeof(v));
}

static int req_nr_state(struct fx *f, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = {.index = index, .num = num};
	return req_nr(f, request, &s, sizeof(s));
}

static int kick_nr(struct fx *f, int kick)
{
	uint64_t v = 0;
	return rf_req_fds(&f->rf, VHOST_USER_SET_VRING_KICK, VHOST_USER_NEED_REPLY_MASK, &v,
			  sizeof(v), &kick, 1);
}

/* The next frontend starts clean: ring 0's base is 0 (not the refused
 * frontend's 7), and a ring of its own starts and stops. */
static void no_state_kept(struct fx *f, int kick)
{
	unsigned starts = f->dev.starts;
	struct vu_msg r;
	fe_connect(f);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	read_reply(f, VHOST_USER_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.num, 0);
	memset(f->rf.mem, 0, BUF_OFF);
	setup_ring0(f, 0, kick);
	assert_int_equal(f->dev.starts, starts + 1);
	assert_non_null(f->dev.vq[0]);
	expect_hang_up(f);
	assert_int_equal(f->dev.starts, f->dev.stops);
}

/* ------------------------------------------------------------------------
 * A25: queue sizes
 * ------------------------------------------------------------------------ */

static void test_a25_queue_size(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	/* Split: 0, not a power of two, above 32768 (a power of two too),
	 * and u32 values far beyond. */
	static const uint32_t bad_split[] = {0, 6, 32767, 65536, 0x80000000u, UINT32_MAX};
	for (unsigned i = 0; i < ARRAY_LEN(bad_split); i++) {
		connect_acked(f, 0, 0);
		expect_rejected(f, req_nr_state(f, VHOST_USER_SET_VRING_NUM, 0, bad_split[i]),
				-EINVAL, VHOST_USER_SET_VRING_NUM);
	}
	/* Packed: any size from 1 to 32768 (§2.8), but not 0 or above. */
	static const uint32_t bad_packed[] = {0, 32769, 65535, 65536, UINT32_MAX};
	for (unsigned i = 0; i < ARRAY_LEN(bad_packed); i++) {
		connect_acked(f, 0, VF(RING_PACKED));
		expect_rejected(f, req_nr_state(f, VHOST_USER_SET_VRING_NUM, 1, bad_packed[i]),
				-EINVAL, VHOST_USER_SET_VRING_NUM);
	}
	/* The largest sizes are taken (acked with 0). */
	connect_acked(f, 0, VF(RING_PACKED));
	assert_int_equal(req_nr_state(f, VHOST_USER_SET_VRING_NUM, 0, 32768), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_VRING_NUM), 0);
	assert_int_equal(req_nr_state(f, VHOST_USER_SET_VRING_NUM, 1, 32767), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_VRING_NUM), 0);
	expect_hang_up(f);
	/* A packed ring of 6 is legal and runs. */
	connect_acked(f, 0, VF(RING_PACKED));
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 6), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0), 0);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	assert_non_null(f->dev.vq[0]);
	expect_hang_up(f);
	/* Size 6 sent before the features (the format is not known yet):
	 * once they say split, the ring's start is refused. */
	fe_connect(f);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES, PF(REPLY_ACK)), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, 6), 0);
	assert_int_equal(rf_req_u64(&f->rf, VHOST_USER_SET_FEATURES, VF(VERSION_1)), 0);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_set_ring_addr(&f->rf, 0, 0), 0);
	expect_rejected(f, kick_nr(f, kick), -EINVAL, VHOST_USER_SET_VRING_KICK);
	assert_int_equal(f->dev.starts, f->dev.stops);
	no_state_kept(f, kick);
	close(kick);
}

/* ------------------------------------------------------------------------
 * A26 and F13: ring addresses
 * ------------------------------------------------------------------------ */

struct ring_at {
	const char *what;
	uint64_t features;
	uint32_t desc, avail, used; /* offsets in the guest memory */
};

/* Ring 0 of QSIZE at these offsets: refused at its start (the kick). */
static void ring_refused(struct fx *f, const struct ring_at *r, int rc, int kick)
{
	uint64_t base = (uintptr_t)f->rf.mem;
	print_message("  %s\n", r->what);
	connect_acked(f, 0, r->features);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0), 0);
	set_addr(f, 0, base + r->desc, base + r->avail, base + r->used);
	expect_rejected(f, kick_nr(f, kick), rc, VHOST_USER_SET_VRING_KICK);
	assert_int_equal(f->dev.starts, f->dev.stops);
}

static void test_a26_ring_placement(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	const uint64_t P = VF(RING_PACKED), E = VF(EVENT_IDX);
	/* QSIZE 8. Split: desc 128 bytes (align 16), avail 4 + 16 (+2 with
	 * EVENT_IDX, align 2), used 4 + 64 (+2, align 4). Packed: desc 128
	 * (align 16), the event areas 4 bytes each (align 4). */
	const struct ring_at misaligned[] = {
		{"split desc + 8", 0, DESC_OFF + 8, AVAIL_OFF, USED_OFF},
		{"split avail + 1", 0, DESC_OFF, AVAIL_OFF + 1, USED_OFF},
		{"split used + 2", 0, DESC_OFF, AVAIL_OFF, USED_OFF + 2},
		{"packed desc + 4", P, DESC_OFF + 4, AVAIL_OFF, USED_OFF},
		{"packed driver area + 2", P, DESC_OFF, AVAIL_OFF + 2, USED_OFF},
		{"packed device area + 1", P, DESC_OFF, AVAIL_OFF, USED_OFF + 1},
	};
	for (unsigned i = 0; i < ARRAY_LEN(misaligned); i++)
		ring_refused(f, &misaligned[i], -EINVAL, kick);
	const struct ring_at overlapping[] = {
		{"split avail inside desc", 0, DESC_OFF, DESC_OFF + 64, USED_OFF},
		{"split used inside desc", 0, DESC_OFF, AVAIL_OFF, DESC_OFF + 120},
		{"split used on avail", 0, DESC_OFF, AVAIL_OFF, AVAIL_OFF},
		{"split used on avail's event field", E, DESC_OFF, AVAIL_OFF, AVAIL_OFF + 20},
		{"split desc on used", 0, USED_OFF, AVAIL_OFF, USED_OFF},
		{"packed driver area inside desc", P, DESC_OFF, DESC_OFF + 124, USED_OFF},
		{"packed device area on driver area", P, DESC_OFF, AVAIL_OFF, AVAIL_OFF},
		{"packed device area inside desc", P, DESC_OFF, AVAIL_OFF, DESC_OFF},
	};
	for (unsigned i = 0; i < ARRAY_LEN(overlapping); i++)
		ring_refused(f, &overlapping[i], -EINVAL, kick);
	/* Adjacent is not overlapping: these run. */
	const struct ring_at adjacent[] = {
		{"split, parts back to back", 0, 0, 128, 148},
		{"split + EVENT_IDX, parts back to back", E, 0, 128, 152},
		{"packed, parts back to back", P, 0, 128, 132},
	};
	for (unsigned i = 0; i < ARRAY_LEN(adjacent); i++) {
		uint64_t base = (uintptr_t)f->rf.mem;
		print_message("  %s (runs)\n", adjacent[i].what);
		memset(f->rf.mem, 0, BUF_OFF);
		connect_acked(f, 0, adjacent[i].features);
		assert_int_equal(rf_set_mem_table(&f->rf), 0);
		assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
		assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0), 0);
		set_addr(f, 0, base + adjacent[i].desc, base + adjacent[i].avail,
			 base + adjacent[i].used);
		assert_int_equal(kick_nr(f, kick), 0);
		assert_int_equal(reply_u64(f, VHOST_USER_SET_VRING_KICK), 0);
		assert_non_null(f->dev.vq[0]);
		expect_hang_up(f);
	}
	/* Partly backed: each part starting inside memory and running past
	 * its end (the whole length is translated, not the start). */
	const struct ring_at partly[] = {
		{"split desc past the end", 0, MEM_BYTES - 64, AVAIL_OFF, USED_OFF},
		{"split avail past the end", 0, DESC_OFF, MEM_BYTES - 16, USED_OFF},
		{"split used past the end", 0, DESC_OFF, AVAIL_OFF, MEM_BYTES - 64},
		{"split used's event field past the end", E, DESC_OFF, AVAIL_OFF, MEM_BYTES - 68},
		{"packed desc past the end", P, MEM_BYTES - 112, AVAIL_OFF, USED_OFF},
	};
	for (unsigned i = 0; i < ARRAY_LEN(partly); i++)
		ring_refused(f, &partly[i], -EFAULT, kick);
	no_state_kept(f, kick);
	close(kick);
}

/* A26: a descriptor table split over two regions adjacent in guest and
 * frontend addresses (separate mappings here, so not contiguous in ours):
 * refused, a ring part must lie in one region. */
static void test_a26_ring_across_regions(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	uint64_t base = (uintptr_t)f->rf.mem, half = MEM_BYTES / 2;
	struct vhost_user_memory m = {.nregions = 2};
	int fds[2] = {f->rf.memfd, f->rf.memfd};
	for (unsigned i = 0; i < 2; i++)
		m.regions[i] = (struct vhost_user_mem_region){.guest_phys_addr = MEM_GPA + i * half,
							      .memory_size = half,
							      .userspace_addr = base + i * half,
							      .mmap_offset = i * half};
	connect_acked(f, 0, 0);
	assert_int_equal(rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 64, fds, 2), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	set_addr(f, 0, base + half - 64, base + AVAIL_OFF, base + USED_OFF);
	expect_rejected(f, kick_nr(f, kick), -EFAULT, VHOST_USER_SET_VRING_KICK);
	no_state_kept(f, kick);
	close(kick);
}

static void test_f13_vring_addr(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	uint64_t base = (uintptr_t)f->rf.mem;
	/* Unknown flags: refused by SET_VRING_ADDR itself. */
	static const uint32_t bad_flags[] = {1u << 1, 1u << 31, UINT32_MAX};
	for (unsigned i = 0; i < ARRAY_LEN(bad_flags); i++) {
		struct vhost_vring_addr a = {.index = 0,
					     .flags = bad_flags[i],
					     .desc_user_addr = base + DESC_OFF,
					     .avail_user_addr = base + AVAIL_OFF,
					     .used_user_addr = base + USED_OFF};
		connect_acked(f, 0, 0);
		expect_rejected(f, req_nr(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a)), -EINVAL,
				VHOST_USER_SET_VRING_ADDR);
	}
	/* Unaligned (A26 has every part), and parts the memory table does
	 * not cover at all: below it, in a hole, at its very end. */
	const struct ring_at r[] = {
		{"desc unaligned", 0, DESC_OFF + 2, AVAIL_OFF, USED_OFF},
		{"avail unaligned", 0, DESC_OFF, AVAIL_OFF + 1, USED_OFF},
		{"used unaligned", 0, DESC_OFF, AVAIL_OFF, USED_OFF + 1},
	};
	for (unsigned i = 0; i < ARRAY_LEN(r); i++)
		ring_refused(f, &r[i], -EINVAL, kick);
	static const uint64_t outside[] = {0x1000, 0xdead0000, 0};
	for (unsigned part = 0; part < 3; part++)
		for (unsigned i = 0; i < ARRAY_LEN(outside); i++) {
			uint64_t a[3] = {base + DESC_OFF, base + AVAIL_OFF, base + USED_OFF};
			a[part] = outside[i] ? outside[i] : base + MEM_BYTES;
			print_message("  ring part %u at 0x%llx\n", part,
				      (unsigned long long)a[part]);
			connect_acked(f, 0, 0);
			assert_int_equal(rf_set_mem_table(&f->rf), 0);
			assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE),
					 0);
			set_addr(f, 0, a[0], a[1], a[2]);
			expect_rejected(f, kick_nr(f, kick), -EFAULT, VHOST_USER_SET_VRING_KICK);
		}
	/* A kick that came before the memory table waits for it; a table
	 * that does not cover the ring leaves it stopped, and the next table
	 * that does starts it. */
	connect_acked(f, 0, 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0), 0);
	set_addr(f, 0, base + DESC_OFF, base + AVAIL_OFF, base + MEM_BYTES / 2 + USED_OFF);
	assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
	struct vhost_user_memory m = {.nregions = 1};
	m.regions[0] = (struct vhost_user_mem_region){
		.guest_phys_addr = MEM_GPA, .memory_size = MEM_BYTES / 2, .userspace_addr = base};
	assert_int_equal(
		rf_req_fds(&f->rf, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &f->rf.memfd, 1), 0);
	assert_null(f->dev.vq[0]);
	memset(f->rf.mem, 0, BUF_OFF);
	assert_int_equal(rf_set_mem_table(&f->rf), 0);
	assert_non_null(f->dev.vq[0]);
	expect_hang_up(f);
	no_state_kept(f, kick);
	close(kick);
}

/* ------------------------------------------------------------------------
 * F11: the dirty log
 * ------------------------------------------------------------------------ */

/* Mappings of this process whose name contains @name. */
static unsigned count_maps(const char *name)
{
	FILE *fp = fopen("/proc/self/maps", "re");
	char line[512];
	unsigned n = 0;
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, name) != NULL;
	fclose(fp);
	return n;
}

static int log_base(struct fx *f, uint64_t size, uint64_t offset, int fd)
{
	struct vhost_user_log lg = {.mmap_size = size, .mmap_offset = offset};
	return rf_req_fds(&f->rf, VHOST_USER_SET_LOG_BASE, VHOST_USER_NEED_REPLY_MASK, &lg,
			  sizeof(lg), &fd, 1);
}

static void test_f11_log_base(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	int logfd;
	uint8_t *logmap = rf_memfd_map("vqnet-f11-log", 8192, &logfd);
	unsigned maps = count_maps("vqnet-f11-log"); /* the test's own */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", logfd);
	int rofd = open(path, O_RDONLY | O_CLOEXEC); /* mmap(MAP_SHARED, PROT_WRITE) fails */
	assert_true(rofd >= 0);
	const struct {
		const char *what;
		uint64_t size, offset;
		int fd, rc;
	} bad[] = {
		{"offset + size wraps", 8192, UINT64_MAX - 4095, logfd, -EINVAL},
		{"size wraps alone", UINT64_MAX, 1, logfd, -EINVAL},
		{"size 0", 0, 0, logfd, -EINVAL},
		{"beyond the fd", 4096, 4097, logfd, -EINVAL},
		{"mmap fails (read-only fd)", 4096, 0, rofd, -EACCES},
	};
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		print_message("  %s\n", bad[i].what);
		connect_acked(f, PF(LOG_SHMFD), 1ull << VHOST_F_LOG_ALL);
		/* With a ring running (its log is swapped under it) and, from
		 * the second case on, a good log in place first. */
		assert_int_equal(rf_set_mem_table(&f->rf), 0);
		assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
		assert_int_equal(
			rf_set_ring_addr(&f->rf, 1u << VHOST_VRING_F_LOG, MEM_GPA + USED_OFF), 0);
		assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 0), 0);
		assert_int_equal(rf_kick(&f->rf, 0, kick), 0);
		if (i) {
			assert_int_equal(log_base(f, 4096, 4096, logfd), 0);
			assert_int_equal(reply_u64(f, VHOST_USER_SET_LOG_BASE), 0);
			assert_true(vu_backend_logging(f->rf.b));
			assert_int_equal(count_maps("vqnet-f11-log"), maps + 1);
		}
		expect_rejected(f, log_base(f, bad[i].size, bad[i].offset, bad[i].fd), bad[i].rc,
				VHOST_USER_SET_LOG_BASE);
		/* No mapping of the log is left, good or bad. */
		assert_int_equal(count_maps("vqnet-f11-log"), maps);
	}
	/* Writes beyond the log are bounds-checked: a 1-byte log at the very
	 * end of its fd tracks 8 pages and ignores the rest. */
	connect_acked(f, PF(LOG_SHMFD), 1ull << VHOST_F_LOG_ALL);
	assert_int_equal(log_base(f, 1, 8191, logfd), 0);
	assert_int_equal(reply_u64(f, VHOST_USER_SET_LOG_BASE), 0);
	logmap[8191] = 0;
	vu_backend_log_write(f->rf.b, 3 * 4096, 1);
	vu_backend_log_write(f->rf.b, 8 * 4096, 1 << 20);
	vu_backend_log_write(f->rf.b, UINT64_MAX - 10, 100);
	assert_int_equal(logmap[8191], 1u << 3);
	expect_hang_up(f);
	assert_int_equal(count_maps("vqnet-f11-log"), maps);
	no_state_kept(f, kick);
	close(rofd);
	munmap(logmap, 8192);
	close(logfd);
	close(kick);
}

/* ------------------------------------------------------------------------
 * F17: feature negotiation
 * ------------------------------------------------------------------------ */

static void test_f17_features(void **state)
{
	struct fx *f = *state;
	int kick = eventfd(0, EFD_CLOEXEC);
	/* DEV_FEATURES offers VERSION_1, RING_PACKED and EVENT_IDX (and the
	 * backend PROTOCOL_FEATURES and LOG_ALL). */
	const uint64_t bad_features[] = {
		0,				   /* no VERSION_1 */
		VF(RING_PACKED) | VF(EVENT_IDX),   /* everything else, no VERSION_1 */
		VF(VERSION_1) | VF(IN_ORDER),	   /* not offered */
		VF(VERSION_1) | VF(INDIRECT_DESC), /* not offered */
		VF(VERSION_1) | 1ull << 63,	   /* not offered, nor defined */
		~0ull,				   /* everything */
	};
	for (unsigned i = 0; i < ARRAY_LEN(bad_features); i++) {
		fe_connect(f);
		assert_int_equal(
			rf_req_u64(&f->rf, VHOST_USER_SET_PROTOCOL_FEATURES, PF(REPLY_ACK)), 0);
		assert_int_equal(rf_req_state(&f->rf, VHOST_USER_SET_VRING_BASE, 0, 7), 0);
		expect_rejected(f, req_nr_u64(f, VHOST_USER_SET_FEATURES, bad_features[i]), -EINVAL,
				VHOST_USER_SET_FEATURES);
		assert_int_equal(f->dev.set_features, 0); /* the device never saw them */
	}
	/* Protocol features never offered: in-band notifications alone, or
	 * with the BACKEND_REQ and REPLY_ACK they need (vhost-user.rst: a
	 * back-end that gets them without must close); PAGEFAULT,
	 * HOST_NOTIFIER, an undefined bit. The first SET_PROTOCOL_FEATURES
	 * took REPLY_ACK, so the refusal is acked. */
	const uint64_t offered = vu_backend_supported_protocol_features();
	const uint64_t bad_pf[] = {
		PF(INBAND_NOTIFICATIONS),
		PF(INBAND_NOTIFICATIONS) | PF(BACKEND_REQ) | PF(REPLY_ACK),
		PF(PAGEFAULT) | PF(REPLY_ACK),
		PF(HOST_NOTIFIER) | PF(BACKEND_REQ) | PF(BACKEND_SEND_FD) | PF(REPLY_ACK),
		PF(REPLY_ACK) | 1ull << 62,
		~0ull,
	};
	for (unsigned i = 0; i < ARRAY_LEN(bad_pf); i++) {
		assert_true(bad_pf[i] & ~offered);
		connect_acked(f, 0, 0);
		expect_rejected(f, req_nr_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, bad_pf[i]),
				-EINVAL, VHOST_USER_SET_PROTOCOL_FEATURES);
	}
	/* Everything offered is taken. */
	connect_acked(f, offered, VF(RING_PACKED) | VF(EVENT_IDX));
	expect_hang_up(f);
	no_state_kept(f, kick);
	close(kick);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a25_queue_size, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_a26_ring_placement, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_a26_ring_across_regions, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_f13_vring_addr, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_f11_log_base, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_f17_features, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
