/* SPDX-License-Identifier: MIT */
/*
 * vhost-user codec and connection tests — theory of operation
 *
 * Every malformed message of HOSTILE-INPUTS.md section F1-F7 is written as
 * raw bytes (and fds, through sendmsg) into one end of a socketpair and
 * read with vu_msg_recv() + vu_msg_check() from the other. Each case
 * asserts the exact return value and that the number of entries in
 * /proc/self/fd is the same before and after: every fd the "front-end"
 * sent was either handed over or closed. The fds sent are memfds, each
 * with its own inode, so a round trip can prove that the fd received
 * refers to the file sent (fstat st_ino/st_dev).
 *
 * The request table is also compared row by row with an expected table
 * written out here from vhost-user.rst, so a typo in one of the two shows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vhost_user/msg.h"
#include "../harness/test_util.h"

#define V1   VHOST_USER_VERSION
#define NOFD VHOST_USER_VRING_NOFD_MASK
#define MAXP ((uint32_t)VHOST_USER_MAX_PAYLOAD)

/* ---- helpers ---------------------------------------------------------- */

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

static int new_memfd(void)
{
	int fd = memfd_create("vu-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

#define MAX_TEST_FDS SENDMSG_FDS_MAX /* 64 */

/* Send @len raw bytes with @nfds fresh memfds (our copies closed after). */
static void send_raw(int sock, const void *buf, size_t len, unsigned nfds)
{
	int fds[MAX_TEST_FDS];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	assert_true(nfds <= MAX_TEST_FDS);
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = new_memfd();
	assert_int_equal(sendmsg_fds(sock, &iov, 1, fds, nfds), (ssize_t)len);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

/* One wire message: header, then @paylen bytes of @payload (zeros if NULL). */
static void send_msg(int sock, uint32_t req, uint32_t flags, uint32_t size, const void *payload,
		     size_t paylen, unsigned nfds)
{
	uint8_t buf[12 + 1024] = {0};
	struct vhost_user_header h = {.request = req, .flags = flags, .size = size};

	assert_true(paylen <= 1024);
	memcpy(buf, &h, sizeof(h));
	if (payload)
		memcpy(buf + 12, payload, paylen);
	send_raw(sock, buf, 12 + paylen, nfds);
}

/*
 * Send one message then EOF, receive and check it. @want_recv is
 * vu_msg_recv()'s expected return; when it is 0, @want_check is
 * vu_msg_check()'s. The fd count must not move.
 */
static void expect(uint32_t req, uint32_t flags, uint32_t size, const void *payload, size_t paylen,
		   unsigned nfds, int want_recv, int want_check)
{
	int sv[2];
	struct vu_msg m;
	const char *why = NULL;

	make_pair(sv);
	int before = fd_count();
	send_msg(sv[0], req, flags, size, payload, paylen, nfds);
	shutdown(sv[0], SHUT_WR);
	int rc = vu_msg_recv(sv[1], &m);
	if (rc != want_recv)
		print_error("request %u size %u nfds %u: recv %d, want %d\n", req, size, nfds, rc,
			    want_recv);
	assert_int_equal(rc, want_recv);
	if (rc == 0) {
		rc = vu_msg_check(&m, &why);
		if (rc != want_check)
			print_error("request %s size %u nfds %u: check %d (%s), want %d\n",
				    vu_request_name(req), size, nfds, rc, why ? why : "-",
				    want_check);
		assert_int_equal(rc, want_check);
		if (rc)
			assert_non_null(why);
		vu_msg_close_fds(&m);
	} else {
		assert_int_equal(m.nfds, 0);
	}
	assert_int_equal(m.nfds, 0);
	assert_int_equal(fd_count(), before);
	close_pair(sv);
}

/* A payload valid for @req's checks: KICK/CALL/ERR get NOFD when fd-less. */
static void fill_payload(uint32_t req, uint8_t *p, size_t len, unsigned nfds)
{
	memset(p, 0, len);
	if ((req == VHOST_USER_SET_VRING_KICK || req == VHOST_USER_SET_VRING_CALL ||
	     req == VHOST_USER_SET_VRING_ERR) &&
	    nfds == 0) {
		uint64_t v = NOFD | 1;
		memcpy(p, &v, sizeof(v));
	}
}

/* ---- the table itself ------------------------------------------------- */

struct row {
	uint32_t req;
	uint8_t fmin, fmax;
	uint32_t smin, smax;
	bool replies;
	int8_t pf;
};

/* Written from vhost-user.rst "Front-end message types" (see msg.c for
 * where vqnet is deliberately liberal). */
static const struct row expected_rows[] = {
	{VHOST_USER_GET_FEATURES, 0, 0, 0, 8, true, -1},
	{VHOST_USER_SET_FEATURES, 0, 0, 8, 8, false, -1},
	{VHOST_USER_SET_OWNER, 0, 0, 0, 0, false, -1},
	{VHOST_USER_RESET_OWNER, 0, 0, 0, 0, false, -1},
	{VHOST_USER_SET_MEM_TABLE, 1, 8, 40, 264, false, -1},
	{VHOST_USER_SET_LOG_BASE, 1, 1, 16, 16, true, VHOST_USER_PROTOCOL_F_LOG_SHMFD},
	{VHOST_USER_SET_LOG_FD, 1, 1, 0, 8, false, -1},
	{VHOST_USER_SET_VRING_NUM, 0, 0, 8, 8, false, -1},
	{VHOST_USER_SET_VRING_ADDR, 0, 0, 40, 40, false, -1},
	{VHOST_USER_SET_VRING_BASE, 0, 0, 8, 8, false, -1},
	{VHOST_USER_GET_VRING_BASE, 0, 0, 8, 8, true, -1},
	{VHOST_USER_SET_VRING_KICK, 0, 1, 8, 8, false, -1},
	{VHOST_USER_SET_VRING_CALL, 0, 1, 8, 8, false, -1},
	{VHOST_USER_SET_VRING_ERR, 0, 1, 8, 8, false, -1},
	{VHOST_USER_GET_PROTOCOL_FEATURES, 0, 0, 0, 8, true, -1},
	{VHOST_USER_SET_PROTOCOL_FEATURES, 0, 0, 8, 8, false, -1},
	{VHOST_USER_GET_QUEUE_NUM, 0, 0, 0, 8, true, VHOST_USER_PROTOCOL_F_MQ},
	{VHOST_USER_SET_VRING_ENABLE, 0, 0, 8, 8, false, -1},
	{VHOST_USER_SEND_RARP, 0, 0, 8, 8, false, VHOST_USER_PROTOCOL_F_RARP},
	{VHOST_USER_NET_SET_MTU, 0, 0, 8, 8, false, VHOST_USER_PROTOCOL_F_NET_MTU},
	{VHOST_USER_SET_BACKEND_REQ_FD, 1, 1, 0, 8, false, VHOST_USER_PROTOCOL_F_BACKEND_REQ},
	{VHOST_USER_GET_CONFIG, 0, 0, 12, 268, true, VHOST_USER_PROTOCOL_F_CONFIG},
	{VHOST_USER_SET_CONFIG, 0, 0, 12, 268, false, VHOST_USER_PROTOCOL_F_CONFIG},
	{VHOST_USER_GET_INFLIGHT_FD, 0, 0, 24, 24, true, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD},
	{VHOST_USER_SET_INFLIGHT_FD, 1, 1, 24, 24, false, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD},
	{VHOST_USER_RESET_DEVICE, 0, 0, 0, 0, false, VHOST_USER_PROTOCOL_F_RESET_DEVICE},
	{VHOST_USER_GET_MAX_MEM_SLOTS, 0, 0, 0, 8, true, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS},
	{VHOST_USER_ADD_MEM_REG, 1, 1, 40, 40, false, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS},
	{VHOST_USER_REM_MEM_REG, 0, 1, 40, 40, false, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS},
	{VHOST_USER_SET_STATUS, 0, 0, 8, 8, false, VHOST_USER_PROTOCOL_F_STATUS},
	{VHOST_USER_GET_STATUS, 0, 0, 0, 8, true, VHOST_USER_PROTOCOL_F_STATUS},
};

static const uint32_t unsupported[] = {
	VHOST_USER_IOTLB_MSG,
	VHOST_USER_SET_VRING_ENDIAN,
	VHOST_USER_CREATE_CRYPTO_SESSION,
	VHOST_USER_CLOSE_CRYPTO_SESSION,
	VHOST_USER_POSTCOPY_ADVISE,
	VHOST_USER_POSTCOPY_LISTEN,
	VHOST_USER_POSTCOPY_END,
	VHOST_USER_GPU_SET_SOCKET,
	VHOST_USER_VRING_KICK,
};

static void test_table_matches_spec(void **state)
{
	(void)state;
	unsigned rows = 0;

	for (size_t i = 0; i < sizeof(expected_rows) / sizeof(expected_rows[0]); i++) {
		const struct row *w = &expected_rows[i];
		const struct vu_request_info *r = vu_request_info(w->req);
		assert_non_null(r);
		assert_int_equal(r->request, w->req);
		assert_int_equal(r->fds_min, w->fmin);
		assert_int_equal(r->fds_max, w->fmax);
		assert_int_equal(r->size_min, w->smin);
		assert_int_equal(r->size_max, w->smax);
		assert_int_equal(r->always_replies, w->replies);
		assert_int_equal(r->protocol_feature, w->pf);
	}
	for (uint32_t req = 0; req < 64; req++)
		rows += vu_request_info(req) != NULL;
	assert_int_equal(rows, sizeof(expected_rows) / sizeof(expected_rows[0]));
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		assert_null(vu_request_info(unsupported[i]));
	assert_null(vu_request_info(0));
	assert_null(vu_request_info(41));
	assert_null(vu_request_info(UINT32_MAX));
}

static void test_backend_table(void **state)
{
	(void)state;
	const struct vu_request_info *r;

	r = vu_backend_request_info(VHOST_USER_BACKEND_IOTLB_MSG);
	assert_non_null(r);
	assert_int_equal(r->size_min, 32);
	assert_int_equal(r->fds_max, 0);
	r = vu_backend_request_info(VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_non_null(r);
	assert_int_equal(r->size_min, 0);
	assert_int_equal(r->protocol_feature, VHOST_USER_PROTOCOL_F_CONFIG);
	r = vu_backend_request_info(VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG);
	assert_non_null(r);
	assert_int_equal(r->size_min, 24);
	assert_int_equal(r->size_max, 24);
	assert_int_equal(r->fds_max, 1);
	assert_int_equal(r->protocol_feature, VHOST_USER_PROTOCOL_F_HOST_NOTIFIER);
	assert_null(vu_backend_request_info(0));
	assert_null(vu_backend_request_info(4));
	assert_null(vu_backend_request_info(UINT32_MAX));
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(vu_request_name(VHOST_USER_GET_FEATURES), "GET_FEATURES");
	assert_string_equal(vu_request_name(VHOST_USER_SET_MEM_TABLE), "SET_MEM_TABLE");
	assert_string_equal(vu_request_name(VHOST_USER_GET_STATUS), "GET_STATUS");
	assert_string_equal(vu_request_name(VHOST_USER_IOTLB_MSG), "IOTLB_MSG");
	assert_string_equal(vu_request_name(VHOST_USER_VRING_KICK), "VRING_KICK");
	assert_string_equal(vu_request_name(0), "UNKNOWN(0)");
	assert_string_equal(vu_request_name(41), "UNKNOWN(41)");
	assert_string_equal(vu_request_name(UINT32_MAX), "UNKNOWN(4294967295)");
	assert_string_equal(vu_backend_request_info(2)->name, "BACKEND_CONFIG_CHANGE_MSG");
}

/* ---- F3: every row's size bounds; F5: every row's fd bounds ------------ */

static void test_row_sizes(void **state)
{
	(void)state;
	uint8_t p[1024];

	for (uint32_t req = 1; req <= 40; req++) {
		const struct vu_request_info *r = vu_request_info(req);
		if (!r)
			continue;
		unsigned n = r->fds_min;
		fill_payload(req, p, sizeof(p), n);
		expect(req, V1, r->size_min, p, r->size_min, n, 0, 0);
		expect(req, V1, r->size_max, p, r->size_max, n, 0, 0);
		expect(req, V1 | VHOST_USER_NEED_REPLY_MASK, r->size_max, p, r->size_max, n, 0, 0);
		if (r->size_min > 0)
			expect(req, V1, r->size_min - 1, p, r->size_min - 1, n, 0, -EPROTO);
		/* Past the largest payload conn.c refuses before reading. */
		expect(req, V1, r->size_max + 1, p, r->size_max + 1, n,
		       r->size_max + 1 > MAXP ? -EPROTO : 0, -EPROTO);
	}
}

static void test_row_fds(void **state)
{
	(void)state;
	uint8_t p[1024];

	for (uint32_t req = 1; req <= 40; req++) {
		const struct vu_request_info *r = vu_request_info(req);
		if (!r)
			continue;
		/* one too many: 9 fds overflow the control buffer (F7) */
		unsigned n = r->fds_max + 1u;
		fill_payload(req, p, sizeof(p), 0);
		expect(req, V1, r->size_min, p, r->size_min, n,
		       n > VHOST_USER_MAX_FDS ? -EPROTO : 0, -EPROTO);
		if (r->fds_min > 0) {
			fill_payload(req, p, sizeof(p), r->fds_min - 1u);
			expect(req, V1, r->size_min, p, r->size_min, r->fds_min - 1u, 0, -EPROTO);
		}
		/* F5: the full 8 fds on every request that takes fewer */
		if (r->fds_max < VHOST_USER_MAX_FDS)
			expect(req, V1, r->size_min, p, r->size_min, VHOST_USER_MAX_FDS, 0,
			       -EPROTO);
	}
}

static void test_fixed_size_wrong(void **state)
{
	(void)state;
	uint8_t p[64] = {0};

	/* F3: SET_VRING_NUM with 4 and 16 bytes */
	expect(VHOST_USER_SET_VRING_NUM, V1, 4, p, 4, 0, 0, -EPROTO);
	expect(VHOST_USER_SET_VRING_NUM, V1, 16, p, 16, 0, 0, -EPROTO);
	expect(VHOST_USER_SET_VRING_ADDR, V1, 32, p, 32, 0, 0, -EPROTO);
	expect(VHOST_USER_SET_OWNER, V1, 8, p, 8, 0, 0, -EPROTO);
	/* SET_MEM_TABLE: 8 + 32 * n only */
	expect(VHOST_USER_SET_MEM_TABLE, V1, 40 + 16, p, 56, 1, 0, -EPROTO);
	expect(VHOST_USER_SET_MEM_TABLE, V1, 8 + 2 * 32, NULL, 72, 2, 0, 0);
	expect(VHOST_USER_SET_CONFIG, V1, 12 + 6, NULL, 18, 0, 0, 0);
}

/* ---- F4: header flags and request numbers ------------------------------ */

static void test_bad_header(void **state)
{
	(void)state;
	uint32_t req = VHOST_USER_GET_FEATURES;

	expect(req, 0, 0, NULL, 0, 0, 0, -EPROTO);
	expect(req, 2, 0, NULL, 0, 0, 0, -EPROTO);
	expect(req, 3, 0, NULL, 0, 0, 0, -EPROTO);
	expect(req, V1 | VHOST_USER_REPLY_MASK, 0, NULL, 0, 0, 0, -EPROTO);
	expect(req, V1 | (1u << 4), 0, NULL, 0, 0, 0, -EPROTO);
	expect(req, V1 | (1u << 31), 0, NULL, 0, 0, 0, -EPROTO);
	expect(req, V1 | VHOST_USER_NEED_REPLY_MASK, 0, NULL, 0, 0, 0, 0);
	expect(0, V1, 0, NULL, 0, 0, 0, -EPROTO);
	expect(41, V1, 0, NULL, 0, 0, 0, -EPROTO);
	expect(UINT32_MAX, V1, 0, NULL, 0, 0, 0, -EPROTO);
	/* with fds: they must still be closed */
	expect(UINT32_MAX, V1, 8, NULL, 8, 3, 0, -EPROTO);
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		expect(unsupported[i], V1, 8, NULL, 8, 1, 0, -EPROTO);
}

static void test_check_why(void **state)
{
	(void)state;
	struct vu_msg m = {.hdr = {.request = 41, .flags = V1}};
	const char *why = NULL;

	assert_int_equal(vu_msg_check(&m, &why), -EPROTO);
	assert_string_equal(why, "unknown request");
	m.hdr.request = VHOST_USER_IOTLB_MSG;
	assert_int_equal(vu_msg_check(&m, &why), -EPROTO);
	assert_string_equal(why, "unsupported request");
	m.hdr.request = VHOST_USER_GET_FEATURES;
	m.nfds = 2;
	assert_int_equal(vu_msg_check(&m, &why), -EPROTO);
	assert_string_equal(why, "fds on a request that takes none");
	m.nfds = 1000; /* a corrupt struct must not be trusted either */
	assert_int_equal(vu_msg_check(&m, NULL), -EPROTO);
	m.nfds = 0;
	assert_int_equal(vu_msg_check(&m, NULL), 0);
}

/* ---- SET_VRING_KICK/CALL/ERR and the NOFD bit -------------------------- */

static void test_vring_fd_rule(void **state)
{
	(void)state;
	const uint32_t reqs[] = {VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
				 VHOST_USER_SET_VRING_ERR};

	for (size_t i = 0; i < 3; i++) {
		uint64_t nofd = NOFD | 5, fd = 5, high = (1ull << 9) | 5, high32 = (1ull << 40);
		expect(reqs[i], V1, 8, &nofd, 8, 0, 0, 0);
		expect(reqs[i], V1, 8, &fd, 8, 1, 0, 0);
		expect(reqs[i], V1, 8, &nofd, 8, 1, 0, -EPROTO);
		expect(reqs[i], V1, 8, &fd, 8, 0, 0, -EPROTO);
		expect(reqs[i], V1, 8, &fd, 8, 2, 0, -EPROTO);
		expect(reqs[i], V1, 8, &high, 8, 1, 0, -EPROTO);
		expect(reqs[i], V1, 8, &high32, 8, 1, 0, -EPROTO);
	}
}

/* ---- F1, F2, F7: what conn.c refuses ----------------------------------- */

static void test_oversized(void **state)
{
	(void)state;
	uint8_t p[512] = {0};

	expect(VHOST_USER_SET_CONFIG, V1, MAXP + 1, p, MAXP + 1, 2, -EPROTO, 0);
	expect(VHOST_USER_SET_MEM_TABLE, V1, UINT32_MAX, p, 512, 8, -EPROTO, 0);
	expect(VHOST_USER_GET_FEATURES, V1, 0x10000, NULL, 0, 1, -EPROTO, 0);
}

static void test_truncated(void **state)
{
	(void)state;
	int sv[2];
	struct vu_msg m;
	uint8_t hdr[12] = {1, 0, 0, 0, 1, 0, 0, 0};

	/* EOF before anything: a clean disconnect */
	make_pair(sv);
	int before = fd_count();
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(vu_msg_recv(sv[1], &m), -ECONNRESET);
	assert_int_equal(fd_count(), before);
	close_pair(sv);

	/* half a header, with fds, then EOF */
	make_pair(sv);
	before = fd_count();
	send_raw(sv[0], hdr, 6, 4);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(vu_msg_recv(sv[1], &m), -EPROTO);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(fd_count(), before);
	close_pair(sv);

	/* a 12-byte header announcing 8 bytes, then EOF */
	expect(VHOST_USER_SET_FEATURES, V1, 8, NULL, 0, 0, -EPROTO, 0);
	expect(VHOST_USER_SET_MEM_TABLE, V1, 40, NULL, 0, 1, -EPROTO, 0);
	/* 100 announced, 50 sent, then close */
	expect(VHOST_USER_SET_CONFIG, V1, 100, NULL, 50, 2, -EPROTO, 0);
	expect(VHOST_USER_SET_MEM_TABLE, V1, 264, NULL, 263, 8, -EPROTO, 0);
}

static void test_ctrunc(void **state)
{
	(void)state;
	/* F7: more fds than the 8-fd control buffer holds */
	expect(VHOST_USER_GET_FEATURES, V1, 0, NULL, 0, 9, -EPROTO, 0);
	expect(VHOST_USER_SET_MEM_TABLE, V1, 264, NULL, 264, 16, -EPROTO, 0);
	expect(VHOST_USER_SET_MEM_TABLE, V1, 264, NULL, 264, MAX_TEST_FDS, -EPROTO, 0);
}

/* On a pair the caller made (and set up): @req announcing @size bytes,
 * @paylen sent, with @nfds fds; vu_msg_recv() fails with @want holding no
 * fd, and no fd is left behind. Closes the pair. */
static void expect_refused(int sv[2], uint32_t req, uint32_t size, size_t paylen, unsigned nfds,
			   int want)
{
	struct vu_msg m;
	int before = fd_count();

	send_msg(sv[0], req, V1, size, NULL, paylen, nfds);
	assert_int_equal(vu_msg_recv(sv[1], &m), want);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(fd_count(), before);
	close_pair(sv);
}

static void test_not_scm_rights(void **state)
{
	(void)state;
	int sv[2], on = 1;

	make_pair(sv);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	expect_refused(sv, VHOST_USER_SET_OWNER, 0, 0, 2, -EPROTO);
}

/* F5 in a loop on one connection: the fd count stays flat. */
static void test_fd_flood(void **state)
{
	(void)state;
	int sv[2];
	struct vu_msg m;
	const char *why;

	make_pair(sv);
	int before = fd_count();
	for (int i = 0; i < 1000; i++) {
		uint32_t req = (i & 1) ? VHOST_USER_GET_FEATURES : VHOST_USER_SET_VRING_NUM;
		uint32_t size = (i & 1) ? 0 : 8;
		send_msg(sv[0], req, V1, size, NULL, size, 8);
		assert_int_equal(vu_msg_recv(sv[1], &m), 0);
		assert_int_equal(m.nfds, 8);
		assert_int_equal(vu_msg_check(&m, &why), -EPROTO);
		vu_msg_close_fds(&m);
		if (i % 100 == 0)
			assert_int_equal(fd_count(), before);
	}
	/* and a CTRUNC flood: the connection is dropped each time in real
	 * use, but the fds must not pile up even if it is not */
	for (int i = 0; i < 200; i++) {
		send_msg(sv[0], VHOST_USER_GET_FEATURES, V1, 0, NULL, 0, 12);
		assert_int_equal(vu_msg_recv(sv[1], &m), -EPROTO);
	}
	assert_int_equal(fd_count(), before);
	close_pair(sv);
}

/* ---- round trips -------------------------------------------------------- */

static void round_trip(int sv[2], const struct vu_msg *out)
{
	struct vu_msg in;
	const char *why = "-";

	memset(&in, 0xa5, sizeof(in));
	assert_int_equal(vu_msg_send(sv[0], out), 0);
	assert_int_equal(vu_msg_recv(sv[1], &in), 0);
	assert_memory_equal(&in.hdr, &out->hdr, sizeof(in.hdr));
	assert_memory_equal(in.payload.raw, out->payload.raw, out->hdr.size);
	assert_int_equal(in.nfds, out->nfds);
	for (unsigned i = 0; i < in.nfds; i++) {
		struct stat a, b;
		assert_int_equal(fstat(out->fds[i], &a), 0);
		assert_int_equal(fstat(in.fds[i], &b), 0);
		assert_int_not_equal(in.fds[i], out->fds[i]);
		assert_int_equal(a.st_ino, b.st_ino);
		assert_int_equal(a.st_dev, b.st_dev);
		assert_int_equal(fcntl(in.fds[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	}
	int rc = vu_msg_check(&in, &why);
	if (rc)
		print_error("%s: %s\n", vu_request_name(in.hdr.request), why);
	assert_int_equal(rc, 0);
	vu_msg_close_fds(&in);
}

static void test_round_trip_every_request(void **state)
{
	(void)state;
	int sv[2];

	make_pair(sv);
	int before = fd_count();
	for (uint32_t req = 1; req <= 40; req++) {
		const struct vu_request_info *r = vu_request_info(req);
		if (!r)
			continue;
		struct vu_msg out = {.hdr = {.request = req, .flags = V1, .size = r->size_max}};
		for (uint32_t i = 0; i < r->size_max; i++)
			out.payload.raw[i] = (uint8_t)(i * 7 + req);
		out.nfds = r->fds_max;
		if (req == VHOST_USER_SET_VRING_KICK || req == VHOST_USER_SET_VRING_CALL ||
		    req == VHOST_USER_SET_VRING_ERR)
			out.payload.u64 = req & 0xff;
		for (unsigned i = 0; i < out.nfds; i++)
			out.fds[i] = new_memfd();
		round_trip(sv, &out);
		/* and again with the smallest size and NEED_REPLY */
		out.hdr.size = r->size_min;
		out.hdr.flags |= VHOST_USER_NEED_REPLY_MASK;
		round_trip(sv, &out);
		vu_msg_close_fds(&out);
	}
	assert_int_equal(fd_count(), before);
	close_pair(sv);
}

static void test_reply(void **state)
{
	(void)state;
	int sv[2];
	struct vu_msg m = {.hdr = {.request = VHOST_USER_GET_FEATURES,
				   .flags = V1 | VHOST_USER_NEED_REPLY_MASK}};
	struct vu_msg in;

	vu_msg_make_reply(&m, 8);
	assert_int_equal(m.hdr.request, VHOST_USER_GET_FEATURES);
	assert_int_equal(m.hdr.flags, V1 | VHOST_USER_REPLY_MASK);
	assert_int_equal(m.hdr.size, 8);
	m.payload.u64 = 0x123456789abcdefull;
	make_pair(sv);
	assert_int_equal(vu_msg_send(sv[1], &m), 0);
	assert_int_equal(vu_msg_recv(sv[0], &in), 0);
	assert_int_equal(in.payload.u64, 0x123456789abcdefull);
	/* a reply is not a valid request */
	assert_int_equal(vu_msg_check(&in, NULL), -EPROTO);
	close_pair(sv);
}

/* ---- short reads, stalls and send errors -------------------------------- */

struct dribble {
	int sock;
	uint8_t buf[12 + 40];
};

/* Send a SET_VRING_ADDR message a few bytes at a time, fd with byte 0. */
static void *dribble_thread(void *arg)
{
	struct dribble *d = arg;
	const struct timespec ms = {.tv_nsec = 2 * 1000 * 1000};
	size_t off = 0, step = 5;

	send_raw(d->sock, d->buf, 1, 0);
	off = 1;
	while (off < sizeof(d->buf)) {
		size_t n = sizeof(d->buf) - off < step ? sizeof(d->buf) - off : step;
		nanosleep(&ms, NULL);
		assert_int_equal(write(d->sock, d->buf + off, n), (ssize_t)n);
		off += n;
	}
	return NULL;
}

static void dribble(bool nonblock)
{
	int sv[2];
	struct dribble d;
	struct vhost_user_header h = {
		.request = VHOST_USER_SET_VRING_ADDR, .flags = V1, .size = 40};
	struct vu_msg m;
	pthread_t t;

	make_pair(sv);
	if (nonblock)
		assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	d.sock = sv[0];
	memcpy(d.buf, &h, sizeof(h));
	for (size_t i = 12; i < sizeof(d.buf); i++)
		d.buf[i] = (uint8_t)i;
	/* a non-blocking socket with nothing queued: -EAGAIN, nothing lost */
	if (nonblock)
		assert_int_equal(vu_msg_recv(sv[1], &m), -EAGAIN);
	assert_int_equal(pthread_create(&t, NULL, dribble_thread, &d), 0);
	if (nonblock) {
		struct pollfd pfd = {.fd = sv[1], .events = POLLIN};
		assert_int_equal(poll(&pfd, 1, 5000), 1);
	}
	assert_int_equal(vu_msg_recv(sv[1], &m), 0);
	pthread_join(t, NULL);
	assert_int_equal(m.hdr.size, 40);
	assert_memory_equal(m.payload.raw, d.buf + 12, 40);
	assert_int_equal(vu_msg_check(&m, NULL), 0);
	close_pair(sv);
}

static void test_short_reads(void **state)
{
	(void)state;
	dribble(false);
	dribble(true);
}

/* F2: a peer that stalls half-way through a message on a non-blocking
 * socket is given up on (after VU_MSG_STALL_MS, 5 s), its fds closed. */
static void test_stall_nonblocking(void **state)
{
	(void)state;
	int sv[2];

	make_pair(sv);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	expect_refused(sv, VHOST_USER_SET_CONFIG, 100, 20, 2, -ETIMEDOUT);
}

static void test_send_errors(void **state)
{
	(void)state;
	int sv[2];
	struct vu_msg m = {.hdr = {.request = VHOST_USER_SET_CONFIG, .flags = V1}};

	make_pair(sv);
	m.hdr.size = MAXP + 1;
	assert_int_equal(vu_msg_send(sv[0], &m), -EINVAL);
	m.hdr.size = 12;
	m.nfds = VHOST_USER_MAX_FDS + 1;
	assert_int_equal(vu_msg_send(sv[0], &m), -EINVAL);
	m.nfds = 0;
	close(sv[1]);
	/* a closed peer is -EPIPE, not SIGPIPE */
	assert_int_equal(vu_msg_send(sv[0], &m), -EPIPE);
	close(sv[0]);
}

static void test_close_fds(void **state)
{
	(void)state;
	struct vu_msg m = {0};
	int before = fd_count();

	for (unsigned i = 0; i < VHOST_USER_MAX_FDS; i++)
		m.fds[m.nfds++] = new_memfd();
	vu_msg_close_fds(&m);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(fd_count(), before);
	vu_msg_close_fds(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_matches_spec),
		cmocka_unit_test(test_backend_table),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_row_sizes),
		cmocka_unit_test(test_row_fds),
		cmocka_unit_test(test_fixed_size_wrong),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_check_why),
		cmocka_unit_test(test_vring_fd_rule),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_ctrunc),
		cmocka_unit_test(test_not_scm_rights),
		cmocka_unit_test(test_fd_flood),
		cmocka_unit_test(test_round_trip_every_request),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_short_reads),
		cmocka_unit_test(test_stall_nonblocking),
		cmocka_unit_test(test_send_errors),
		cmocka_unit_test(test_close_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
