/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the vhost-user backend's message handling
 * (lib/vhost_user/backend*.c; HOSTILE-INPUTS.md F and G).
 *
 * Per input: a fresh vu_backend (server mode, socket in a temporary
 * directory made once per process, 2 queues, VERSION_1 | RING_PACKED |
 * EVENT_IDX | INDIRECT_DESC | IN_ORDER, 8 bytes of config) serving a tiny
 * recording device (fuzz_backend_dev.c), and a client socket playing a
 * hostile frontend. The input is a sequence of at most MAX_STEPS steps
 * (see step()):
 *
 *   op byte: < 0xc0 a request 1..40 with a structured payload built from
 *            the bytes that follow (usually consistent with the guest
 *            memory the target created, so rings really start);
 *            0xc0..0xcf a raw request number, flags, size and payload;
 *            0xd0..0xdf write input bytes into guest memory;
 *            0xe0..0xef post a descriptor chain on a ring (split or packed
 *            layout at the standard place, see ring_base());
 *            0xf0..0xf7 device work: pop 1 + op % 4 chains on every
 *            started ring and complete them (bit 2: the last one stays in
 *            flight, for inflight recovery), log a write, signal a vring
 *            error;
 *            0xf8..0xfb a truncated message, then EOF (the backend drops);
 *            0xfc..0xff reconnect.
 *
 * Every message is sent whole (or cut short and followed by EOF), so the
 * single vu_backend_dispatch() after it never blocks. Replies are read and
 * discarded (their fds closed; an inflight fd is kept for a later
 * SET_INFLIGHT_FD). A dropped connection is reconnected.
 *
 * Invariants (abort() so libFuzzer keeps the input): the device's view is
 * consistent (no ring started twice, stopped while not started, enabled
 * or given a call fd while stopped, reset with a ring running, config
 * access beyond config_size); after vu_backend_free() every queue_start
 * was matched by a queue_stop and the process has exactly the fds it had
 * before the input. Memory errors are the sanitizers' to catch.
 *
 * Byte 0 of the input configures the device (pops in queue_start, refusing
 * every 4th start, max_queue_size 256). FUZZ_BACKEND_TRACE=1 prints one
 * line per message.
 * Seeds: gen_backend_corpus.py.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <vqnet/vhost_user.h>

#include "spec/virtio_ring.h"
#include "vhost_user/msg.h"
#include "../harness/test_util.h"
#include "fuzz_backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS    64
#define MAX_MEM	     (1u << 20)
#define GPA_BASE     0x100000ull
#define UVA_BASE     0x7f1200000000ull
#define RING_STRIDE  0x4000u /* queue q's ring parts at q * RING_STRIDE */
#define BUF_OFF	     0x8000u /* buffers from here */
#define MAX_SEND_FDS 12
#define MAX_POPS     4
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ALL_FEATURES                                                                               \
	(DEV_FEATURES | 1ull << VHOST_USER_F_PROTOCOL_FEATURES | 1ull << VHOST_F_LOG_ALL)

/* ------------------------------------------------------------------------
 * Input reader: zeros once the input is used up.
 * ------------------------------------------------------------------------ */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t u16(struct in *in)
{
	return (uint16_t)(u8(in) | u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	return (uint32_t)u16(in) | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct in *in)
{
	return (uint64_t)u32(in) | (uint64_t)u32(in) << 32;
}

static void bytes(struct in *in, void *dst, size_t len)
{
	size_t n = len < in->n ? len : in->n;
	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->n -= n;
}

/* ------------------------------------------------------------------------
 * The frontend side
 * ------------------------------------------------------------------------ */

/* A driver's view of one ring, to post chains. */
struct drv_ring {
	uint32_t num;	 /* last SET_VRING_NUM sent */
	uint16_t pos;	 /* packed: next descriptor slot */
	bool wrap;	 /* packed: driver wrap counter */
	uint16_t nextid; /* packed: buffer id */
};

struct fz {
	struct in in;
	struct vu_backend *b;
	struct dev dev;
	int sock;
	int memfd; /* guest memory, created on first use */
	uint8_t *mem;
	size_t mem_size;
	int infl_fd; /* the last inflight fd a reply carried */
	struct drv_ring ring[NQUEUES];
};

static char sock_path[108];

static void fz_connect(struct fz *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, sock_path);
	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->sock < 0 || connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	if (vu_backend_dispatch(f->b) != 0 || !vu_backend_connected(f->b))
		abort();
}

/* Close the frontend's end; the backend sees EOF (if it still holds the
 * connection) and drops it; a new frontend connects. */
static void fz_reconnect(struct fz *f)
{
	close(f->sock);
	f->sock = -1;
	if (vu_backend_connected(f->b)) {
		(void)vu_backend_dispatch(f->b);
		if (vu_backend_connected(f->b))
			abort();
	}
	fz_connect(f);
}

static void guest_mem(struct fz *f)
{
	if (f->memfd >= 0)
		return;
	f->mem_size = (size_t)(1 + u8(&f->in) % 16) * 0x10000u;
	f->memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (f->memfd < 0 || ftruncate(f->memfd, (off_t)f->mem_size) < 0)
		abort();
	f->mem = mmap(NULL, f->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	if (f->mem == MAP_FAILED)
		abort();
}

/* A memfd of @size bytes (for logs and inflight buffers). */
static int sized_memfd(size_t size)
{
	int fd = memfd_create("fuzz-aux", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	return fd;
}

/* The fds a message carries: recipe from the input. They are the
 * caller's to close after sending. */
static unsigned make_fds(struct fz *f, uint8_t recipe, int *fds, unsigned want)
{
	unsigned n = 0;
	switch (recipe % 8) {
	case 0: /* what the request wants */
	case 1:
		for (unsigned i = 0; i < want && i < MAX_SEND_FDS; i++)
			fds[n++] = eventfd(0, EFD_CLOEXEC);
		break;
	case 2: /* none */
		break;
	case 3: { /* a pipe's read end (and the write end) */
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		fds[n++] = p[0];
		fds[n++] = p[1];
		break;
	}
	case 4: /* many */
		for (unsigned i = 0; i < 9u + recipe / 8u % 4u; i++)
			fds[n++] = eventfd(0, EFD_CLOEXEC);
		break;
	case 5: /* guest memory */
		guest_mem(f);
		fds[n++] = dup(f->memfd);
		break;
	case 6: /* a small memfd: 0..124 KiB */
		fds[n++] = sized_memfd((size_t)(recipe / 8) * 4096);
		break;
	case 7: /* the inflight fd a reply gave us, else /dev/null */
		fds[n++] =
			f->infl_fd >= 0 ? dup(f->infl_fd) : open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	}
	for (unsigned i = 0; i < n; i++)
		if (fds[i] < 0)
			abort();
	return n;
}

/* Write @hdr, @send bytes of payload and @nfds fds in one sendmsg. */
static void send_raw(struct fz *f, const struct vhost_user_header *hdr, const void *payload,
		     size_t send, const int *fds, unsigned nfds)
{
	struct iovec iov[2] = {{.iov_base = (void *)hdr, .iov_len = sizeof(*hdr)},
			       {.iov_base = (void *)payload, .iov_len = send}};
	ssize_t n = sendmsg_fds(f->sock, iov, send ? 2 : 1, fds, nfds);
	if (n != (ssize_t)(sizeof(*hdr) + send))
		abort(); /* the socket buffer holds one message */
}

/* Read and discard whatever the backend sent (non-blocking). */
static void drain(struct fz *f)
{
	for (;;) {
		uint8_t buf[4096];
		union {
			char buf[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(f->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				if (f->infl_fd >= 0)
					close(f->infl_fd);
				f->infl_fd = fd; /* GET_INFLIGHT_FD's buffer */
			}
		}
	}
}

/* Send one whole message, dispatch it once, read the reply. */
static void transact(struct fz *f, const struct vhost_user_header *hdr, uint8_t *payload,
		     const int *fds, unsigned nfds)
{
	size_t send = hdr->size <= VHOST_USER_MAX_PAYLOAD ? hdr->size : 0;
	send_raw(f, hdr, payload, send, fds, nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (fz_trace && hdr->request == VHOST_USER_SET_MEM_TABLE && send >= 8) {
		const struct vhost_user_memory *m = (const void *)payload;
		for (unsigned i = 0; i < m->nregions && 8 + 32 * (i + 1) <= send; i++)
			fprintf(stderr, "fuzz: region gpa %#llx size %#llx uva %#llx off %#llx\n",
				(unsigned long long)m->regions[i].guest_phys_addr,
				(unsigned long long)m->regions[i].memory_size,
				(unsigned long long)m->regions[i].userspace_addr,
				(unsigned long long)m->regions[i].mmap_offset);
	}
	if (fz_trace && hdr->request == VHOST_USER_SET_VRING_ADDR && send == 40) {
		const struct vhost_vring_addr *a = (const void *)payload;
		fprintf(stderr, "fuzz: vring %u desc %#llx avail %#llx used %#llx\n", a->index,
			(unsigned long long)a->desc_user_addr,
			(unsigned long long)a->avail_user_addr,
			(unsigned long long)a->used_user_addr);
	}
	int rc = vu_backend_dispatch(f->b);
	if (fz_trace)
		fprintf(stderr, "fuzz: %s size %u fds %u -> %d (starts %u stops %u)\n",
			vu_request_name(hdr->request), hdr->size, nfds, rc, f->dev.starts,
			f->dev.stops);
	if (!vu_backend_connected(f->b)) {
		fz_reconnect(f);
		return;
	}
	drain(f);
}

/* ------------------------------------------------------------------------
 * Structured payloads
 * ------------------------------------------------------------------------ */

static uint32_t pick_index(struct in *in)
{
	uint8_t c = u8(in);
	if (c < 0xf0)
		return c % NQUEUES;
	return c < 0xf8 ? c % 8u : u32(in);
}

static uint32_t pick_num(struct in *in)
{
	static const uint32_t nums[] = {8, 8, 4, 16, 1, 2, 256, 3, 0, 32768, 32769, 5};
	uint8_t c = u8(in);
	if (c < 0xf0)
		return nums[c % ARRAY_LEN(nums)];
	return c < 0xf8 ? u16(in) : u32(in);
}

static uint32_t pick_base(struct in *in)
{
	uint8_t c = u8(in);
	switch (c % 8) {
	case 0:
	case 1:
		return 0;
	case 2:
		return 0x80008000u;
	case 3:
		return 0x8000u;
	case 4:
		return u16(in);
	default:
		return u32(in);
	}
}

/* A guest memory region description: consistent (part @i of @n of the
 * memfd) or perturbed by the input. */
static void pick_region(struct fz *f, struct vhost_user_mem_region *r, unsigned i, unsigned n)
{
	uint8_t c = u8(&f->in);
	guest_mem(f);
	uint64_t chunk = (f->mem_size / n) & ~0xfffull;
	if (!chunk)
		chunk = 0x1000;
	*r = (struct vhost_user_mem_region){.guest_phys_addr = GPA_BASE + i * chunk,
					    .memory_size = chunk,
					    .userspace_addr = UVA_BASE + i * chunk,
					    .mmap_offset = i * chunk};
	switch (c % 16) {
	case 10:
		r->guest_phys_addr = u64(&f->in);
		break;
	case 11:
		r->memory_size = u64(&f->in);
		break;
	case 12:
		r->userspace_addr = u64(&f->in);
		break;
	case 13:
		r->mmap_offset = u64(&f->in);
		break;
	case 14:
		r->memory_size += (int16_t)u16(&f->in);
		r->mmap_offset += (int16_t)u16(&f->in);
		break;
	case 15:
		bytes(&f->in, r, sizeof(*r));
		break;
	default:
		break;
	}
}

/* Ring part offsets in guest memory for queue @q (see RING_STRIDE). */
static uint64_t ring_base(unsigned q)
{
	return (uint64_t)(q % NQUEUES) * RING_STRIDE;
}

/*
 * Payload builders, one per kind of request: each reads what it needs from
 * the input, writes the payload at b->p and returns its size; b->nfds
 * comes in as the request's fds_min and is changed where the payload says
 * otherwise.
 */
struct pl {
	struct fz *f;
	struct in *in; /* &f->in */
	uint32_t req;
	uint8_t *p;
	unsigned nfds; /* fds to send with it */
};

typedef size_t payload_fn(struct pl *b);

/* VERSION_1 | PROTOCOL_FEATURES, device features by bits of the input,
 * or any u64. */
static size_t pl_features(struct pl *b)
{
	static const uint64_t bits[] = {
		1ull << VIRTIO_F_RING_PACKED,	1ull << VIRTIO_F_EVENT_IDX,
		1ull << VIRTIO_F_INDIRECT_DESC, 1ull << VIRTIO_F_IN_ORDER,
		1ull << VHOST_F_LOG_ALL,
	};
	uint8_t c = u8(b->in);
	uint64_t v = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	for (unsigned i = 0; i < ARRAY_LEN(bits); i++)
		if (c & 1u << i)
			v |= bits[i];
	if (c & 32)
		v &= ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	if ((c & 0xc0) == 0xc0)
		v = u64(b->in);
	memcpy(b->p, &v, 8);
	return 8;
}

/* Everything the backend supports, masked by the input, or any u64. */
static size_t pl_protocol_features(struct pl *b)
{
	uint8_t c = u8(b->in);
	uint64_t v = vu_backend_supported_protocol_features();
	if (c & 1)
		v &= u32(b->in);
	if ((c & 6) == 6)
		v = u64(b->in);
	memcpy(b->p, &v, 8);
	return 8;
}

/* 1..8 regions (one fd each) over the memfd, nregions perhaps lying. */
static size_t pl_mem_table(struct pl *b)
{
	struct vhost_user_memory m = {0};
	uint8_t c = u8(b->in);
	unsigned n = c % 4 ? 1 : 1 + u8(b->in) % VHOST_MEMORY_BASELINE_NREGIONS;
	m.nregions = (c & 0xf0) == 0xf0 ? u32(b->in) : n;
	for (unsigned i = 0; i < n; i++)
		pick_region(b->f, &m.regions[i], i, n);
	b->nfds = n;
	memcpy(b->p, &m, sizeof(m));
	return 8 + 32 * n;
}

/* ADD_MEM_REG / REM_MEM_REG: one part of the memfd cut in 1..4. */
static size_t pl_mem_reg(struct pl *b)
{
	struct vhost_user_mem_reg r = {0};
	uint8_t c = u8(b->in);
	unsigned n = 1 + c / 64u;
	pick_region(b->f, &r.region, c % 4u % n, n);
	memcpy(b->p, &r, sizeof(r));
	return sizeof(r);
}

static size_t pl_log_base(struct pl *b)
{
	struct in *in = b->in;
	struct vhost_user_log l = {.mmap_size = 1 + u8(in) * 8u, .mmap_offset = u8(in)};
	if (u8(in) == 0xff)
		bytes(in, &l, sizeof(l));
	memcpy(b->p, &l, sizeof(l));
	return sizeof(l);
}

/* A vhost_vring_state {@index, @num} at @p. */
static size_t put_state(uint8_t *p, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = {.index = index, .num = num};
	memcpy(p, &s, sizeof(s));
	return sizeof(s);
}

/* SET_VRING_NUM: the size is remembered for post_chain(). */
static size_t pl_vring_num(struct pl *b)
{
	uint32_t index = pick_index(b->in);
	uint32_t num = pick_num(b->in);
	if (index < NQUEUES)
		b->f->ring[index].num = num;
	return put_state(b->p, index, num);
}

static size_t pl_vring_base(struct pl *b)
{
	uint32_t index = pick_index(b->in);
	return put_state(b->p, index, pick_base(b->in));
}

/* GET_VRING_BASE: the index alone. */
static size_t pl_vring_index(struct pl *b)
{
	return put_state(b->p, pick_index(b->in), 0);
}

static size_t pl_vring_enable(struct pl *b)
{
	uint32_t index = pick_index(b->in);
	uint8_t c = u8(b->in);
	return put_state(b->p, index, c < 0xf0 ? c & 1 : u32(b->in));
}

/* The ring's parts at ring_base(), log flag by the input, or perturbed. */
static size_t pl_vring_addr(struct pl *b)
{
	struct in *in = b->in;
	struct vhost_vring_addr a = {.index = pick_index(in)};
	uint8_t c = u8(in);
	uint64_t base = UVA_BASE + ring_base(a.index);
	a.desc_user_addr = base;
	a.avail_user_addr = base + 0x1000;
	a.used_user_addr = base + 0x2000;
	a.log_guest_addr = GPA_BASE + ring_base(a.index) + 0x2000;
	a.flags = c & 1 ? 1u << VHOST_VRING_F_LOG : 0;
	switch (c / 2 % 8) {
	case 5:
		a.desc_user_addr += u16(in);
		a.avail_user_addr += u16(in);
		a.used_user_addr += u16(in);
		break;
	case 6:
		a.log_guest_addr = u64(in);
		a.flags = u32(in);
		break;
	case 7:
		bytes(in, &a.flags, sizeof(a) - 4);
		break;
	default:
		break;
	}
	memcpy(b->p, &a, sizeof(a));
	return sizeof(a);
}

/* SET_VRING_KICK / CALL / ERR: an index with an fd, or NOFD, or any u64. */
static size_t pl_vring_fd(struct pl *b)
{
	uint8_t c = u8(b->in);
	uint64_t v = pick_index(b->in) & 0xff;
	if (c & 1)
		v |= VHOST_USER_VRING_NOFD_MASK;
	b->nfds = c & 1 ? 0 : 1;
	if ((c & 0xe0) == 0xe0)
		v = u64(b->in);
	memcpy(b->p, &v, 8);
	return 8;
}

/* SET_LOG_FD / SET_BACKEND_REQ_FD: an fd, no payload. */
static size_t pl_fd_only(struct pl *b)
{
	b->nfds = 1;
	return 0;
}

/* SEND_RARP / NET_SET_MTU / SET_STATUS: a small number (an MTU from 1500),
 * or any u64. */
static size_t pl_u64(struct pl *b)
{
	uint8_t c = u8(b->in);
	uint64_t v = c < 0xf0 ? (b->req == VHOST_USER_NET_SET_MTU ? 1500u + c : c) : u64(b->in);
	memcpy(b->p, &v, 8);
	return 8;
}

/* GET_CONFIG / SET_CONFIG: a window of the 8 bytes of config (SET: its
 * bytes follow), or any header. */
static size_t pl_config(struct pl *b)
{
	struct in *in = b->in;
	struct vhost_user_config *cf = (struct vhost_user_config *)b->p;
	uint8_t c = u8(in);
	cf->offset = c % 8;
	cf->size = u8(in) % 9;
	cf->flags = 0;
	if ((c & 0xf0) == 0xf0) {
		cf->offset = u32(in);
		cf->size = u32(in);
		cf->flags = u32(in);
	}
	uint32_t sz = cf->size <= VHOST_USER_MAX_CONFIG_SIZE ? cf->size : u8(in);
	if (b->req == VHOST_USER_SET_CONFIG)
		bytes(in, cf->region, sz);
	return VHOST_USER_CONFIG_HDR_SIZE + sz;
}

/* GET_INFLIGHT_FD / SET_INFLIGHT_FD (with the buffer kept from GET and
 * its size): 1..2 queues of ring 0's size, or any bytes. */
static size_t pl_inflight(struct pl *b)
{
	struct vhost_user_inflight v = {0};
	uint8_t c = u8(b->in);
	v.num_queues = 1 + c % NQUEUES;
	v.queue_size = b->f->ring[0].num ? (uint16_t)b->f->ring[0].num : 8;
	if (b->req == VHOST_USER_SET_INFLIGHT_FD) {
		struct stat st;
		v.mmap_size = 0x10000;
		if (b->f->infl_fd >= 0 && fstat(b->f->infl_fd, &st) == 0)
			v.mmap_size = (uint64_t)st.st_size;
		b->nfds = 1;
	}
	if ((c & 0xf0) == 0xf0)
		bytes(b->in, &v, sizeof(v));
	memcpy(b->p, &v, sizeof(v));
	return sizeof(v);
}

/* Requests not here get a zeroed payload of their minimum size. */
static payload_fn *const payload_builders[] = {
	[VHOST_USER_SET_FEATURES] = pl_features,
	[VHOST_USER_SET_PROTOCOL_FEATURES] = pl_protocol_features,
	[VHOST_USER_SET_MEM_TABLE] = pl_mem_table,
	[VHOST_USER_ADD_MEM_REG] = pl_mem_reg,
	[VHOST_USER_REM_MEM_REG] = pl_mem_reg,
	[VHOST_USER_SET_LOG_BASE] = pl_log_base,
	[VHOST_USER_SET_VRING_NUM] = pl_vring_num,
	[VHOST_USER_SET_VRING_BASE] = pl_vring_base,
	[VHOST_USER_GET_VRING_BASE] = pl_vring_index,
	[VHOST_USER_SET_VRING_ENABLE] = pl_vring_enable,
	[VHOST_USER_SET_VRING_ADDR] = pl_vring_addr,
	[VHOST_USER_SET_VRING_KICK] = pl_vring_fd,
	[VHOST_USER_SET_VRING_CALL] = pl_vring_fd,
	[VHOST_USER_SET_VRING_ERR] = pl_vring_fd,
	[VHOST_USER_SET_LOG_FD] = pl_fd_only,
	[VHOST_USER_SET_BACKEND_REQ_FD] = pl_fd_only,
	[VHOST_USER_SEND_RARP] = pl_u64,
	[VHOST_USER_NET_SET_MTU] = pl_u64,
	[VHOST_USER_SET_STATUS] = pl_u64,
	[VHOST_USER_GET_CONFIG] = pl_config,
	[VHOST_USER_SET_CONFIG] = pl_config,
	[VHOST_USER_GET_INFLIGHT_FD] = pl_inflight,
	[VHOST_USER_SET_INFLIGHT_FD] = pl_inflight,
};

/* The payload of request @req at @p, its size, and in *@nfds_want the
 * number of fds to send with it. */
static size_t build_payload(struct fz *f, uint32_t req, uint8_t *p, unsigned *nfds_want)
{
	const struct vu_request_info *info = vu_request_info(req);
	struct pl b = {.f = f, .in = &f->in, .req = req, .p = p, .nfds = info ? info->fds_min : 0};
	size_t size = info ? info->size_min : 0;
	if (req < ARRAY_LEN(payload_builders) && payload_builders[req])
		size = payload_builders[req](&b);
	*nfds_want = b.nfds;
	return size;
}

/* ------------------------------------------------------------------------
 * Steps
 * ------------------------------------------------------------------------ */

/* Post a chain of 1..3 descriptors on ring @q, split or packed layout. */
static void post_chain(struct fz *f, uint8_t op)
{
	struct in *in = &f->in;
	guest_mem(f);
	unsigned q = op % NQUEUES;
	bool packed = op & 2;
	uint8_t c = u8(in);
	unsigned nd = 1 + c % 3;
	struct drv_ring *r = &f->ring[q];
	uint32_t num = r->num && r->num <= 256 ? r->num : 8;
	uint8_t *ring = f->mem + ring_base(q);
	uint64_t buf = GPA_BASE + BUF_OFF + (uint64_t)u8(in) * 64;
	if (ring_base(q) + RING_STRIDE > f->mem_size)
		return;
	if (!packed) {
		struct virtq_desc *desc = (struct virtq_desc *)ring;
		uint16_t *avail = (uint16_t *)(ring + 0x1000);
		uint16_t head = (uint16_t)(u8(in) % num);
		for (unsigned i = 0; i < nd; i++) {
			unsigned d = (head + i) % num;
			desc[d].addr = buf + i * 64;
			desc[d].len = (c & 0x80) ? u32(in) : 64;
			desc[d].flags =
				(uint16_t)((i + 1 < nd ? VIRTQ_DESC_F_NEXT : 0) |
					   (i >= nd / 2 && (c & 8) ? VIRTQ_DESC_F_WRITE : 0));
			desc[d].next = (uint16_t)((d + 1) % num);
		}
		uint16_t idx = avail[1];
		avail[2 + idx % num] = head;
		__atomic_store_n(&avail[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
		return;
	}
	struct pvirtq_desc *desc = (struct pvirtq_desc *)ring;
	uint16_t id = r->nextid++;
	uint16_t first_flags = 0;
	unsigned first = r->pos;
	for (unsigned i = 0; i < nd; i++) {
		uint16_t fl = (uint16_t)((i + 1 < nd ? VIRTQ_DESC_F_NEXT : 0) |
					 (i >= nd / 2 && (c & 8) ? VIRTQ_DESC_F_WRITE : 0) |
					 (r->wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED));
		desc[r->pos].addr = buf + i * 64;
		desc[r->pos].len = (c & 0x80) ? u32(in) : 64;
		desc[r->pos].id = id;
		if (i == 0)
			first_flags = fl;
		else
			desc[r->pos].flags = fl;
		if (++r->pos >= num) {
			r->pos = 0;
			r->wrap = !r->wrap;
		}
	}
	__atomic_store_n(&desc[first].flags, first_flags, __ATOMIC_RELEASE);
}

static void step(struct fz *f)
{
	struct in *in = &f->in;
	uint8_t op = u8(in);
	uint8_t p[VHOST_USER_MAX_PAYLOAD + 64];
	int fds[MAX_SEND_FDS];
	memset(p, 0, sizeof(p));

	if (op < 0xc0) {
		uint32_t req = 1 + op % 40;
		uint8_t fl = u8(in);
		unsigned want;
		size_t size = build_payload(f, req, p, &want);
		struct vhost_user_header hdr = {.request = req,
						.flags = VHOST_USER_VERSION |
							 (fl & 1 ? VHOST_USER_NEED_REPLY_MASK : 0),
						.size = (uint32_t)size};
		if ((fl & 0x0e) == 0x0e)
			hdr.flags = u32(in);
		if ((fl & 0x30) == 0x30)
			hdr.size = u8(in) % (VHOST_USER_MAX_PAYLOAD + 1);
		/* Memory-like requests get guest memory by default. */
		uint8_t recipe = fl >> 6 ? u8(in) : 0;
		if (!recipe && (req == VHOST_USER_SET_MEM_TABLE || req == VHOST_USER_ADD_MEM_REG))
			recipe = 5;
		if (!recipe &&
		    (req == VHOST_USER_SET_LOG_BASE || req == VHOST_USER_SET_INFLIGHT_FD))
			recipe = req == VHOST_USER_SET_INFLIGHT_FD && f->infl_fd >= 0
					 ? 7
					 : (uint8_t)(6 + 8 * 31);
		unsigned n = 0;
		if (recipe == 5) {
			guest_mem(f);
			for (unsigned i = 0; i < want && i < MAX_SEND_FDS; i++)
				fds[n++] = dup(f->memfd);
		} else {
			n = make_fds(f, recipe, fds, want);
		}
		transact(f, &hdr, p, fds, n);
	} else if (op < 0xd0) {
		struct vhost_user_header hdr = {.request = u32(in), .flags = u32(in)};
		uint16_t sz = u16(in);
		hdr.size = sz & 0x8000 ? sz : sz % (VHOST_USER_MAX_PAYLOAD + 1);
		bytes(in, p, hdr.size <= VHOST_USER_MAX_PAYLOAD ? hdr.size : 0);
		unsigned n = make_fds(f, u8(in), fds, op & 3);
		transact(f, &hdr, p, fds, n);
	} else if (op < 0xe0) {
		guest_mem(f);
		size_t off = (size_t)u16(in) * 16 % f->mem_size;
		size_t len = u8(in);
		if (len > f->mem_size - off)
			len = f->mem_size - off;
		bytes(in, f->mem + off, len);
	} else if (op < 0xf0) {
		post_chain(f, op);
	} else if (op < 0xf8) {
		for (unsigned q = 0; q < NQUEUES; q++)
			if (f->dev.vq[q])
				dev_work(f->dev.vq[q], 1 + op % 4u, op & 4);
		vu_backend_log_write(f->b, GPA_BASE + u16(in) * 16u, u16(in));
		vu_backend_vring_error(f->b, pick_index(in));
		(void)vu_backend_features(f->b);
		struct gmem_table *m = vu_backend_mem(f->b);
		if (m)
			gmem_table_put(m);
	} else if (op < 0xfc) {
		/* A message cut short, then EOF: the backend drops. */
		struct vhost_user_header hdr = {.request = 1 + u8(in) % 40,
						.flags = VHOST_USER_VERSION,
						.size = 8 + u8(in) % 64};
		send_raw(f, &hdr, p, op % 4 * 2, NULL, 0);
		shutdown(f->sock, SHUT_WR);
		(void)vu_backend_dispatch(f->b);
		if (vu_backend_connected(f->b))
			abort();
		fz_reconnect(f);
	} else {
		fz_reconnect(f);
	}
}

static void setup_once(void)
{
	static bool done;
	if (done)
		return;
	char dir[] = "/tmp/vqnet-fuzz-be-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	fz_trace = getenv("FUZZ_BACKEND_TRACE") != NULL;
	done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	int before = count_fds();
	struct fz f = {.in = {data, size}, .sock = -1, .memfd = -1, .infl_fd = -1};
	for (unsigned q = 0; q < NQUEUES; q++)
		f.ring[q].wrap = true; /* §2.8.1 */
	uint8_t c = u8(&f.in);
	f.dev.refuse = (c & 0x80) != 0;
	f.dev.pops = c % (MAX_POPS + 1);
	struct vu_backend_config cfg = {.socket_path = sock_path,
					.num_queues = NQUEUES,
					.device_features = DEV_FEATURES,
					.config_size = CONFIG_SIZE,
					.max_queue_size = (c & 0x40) ? 256 : 0};
	if (vu_backend_new(&cfg, &dev_ops, &f.dev, &f.b) != 0)
		abort();
	fz_connect(&f);
	for (unsigned i = 0; i < MAX_STEPS && f.in.n; i++)
		step(&f);
	close(f.sock);
	vu_backend_free(f.b);
	if (f.dev.starts != f.dev.stops)
		abort();
	for (unsigned q = 0; q < NQUEUES; q++)
		if (f.dev.vq[q])
			abort();
	if (f.mem)
		munmap(f.mem, f.mem_size);
	if (f.memfd >= 0)
		close(f.memfd);
	if (f.infl_fd >= 0)
		close(f.infl_fd);
	if (count_fds() != before) {
		fprintf(stderr, "fd leak: %d open before the input, %d after\n", before,
			count_fds());
		abort();
	}
	return 0;
}
