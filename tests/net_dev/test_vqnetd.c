/* SPDX-License-Identifier: MIT */
/*
 * vqnetd, the real daemon process, against a hostile frontend: the
 * out-of-process sibling of test_net_dev.c.
 *
 * Each test spawns `vqnetd --socket S --backend loop --log-level info` (the
 * path comes as argv[1] or $VQNETD) with stdout and stderr going to files in
 * a private temp dir, and plays the frontend and the driver with
 * net_dev_test_frontend.c (vu_frontend_* + vq_drv_* over memfd memory):
 *
 *  - valid frames out and back, split and packed;
 *  - malformed transmit chains (outside memory, a loop, an indirect table
 *    of a bad length, a device-writable descriptor): completed with length
 *    0, counted as bad_chain, the queue keeps working;
 *  - malformed control commands: VIRTIO_NET_ERR and a log line naming the
 *    command; valid ones: OK, and the MAC filter really filters;
 *  - a corrupt ring: that queue breaks (error eventfd signalled, a log line
 *    names it), the others keep working, the next connection is served;
 *  - disconnect and reconnect: the daemon's fd count returns to its value
 *    before the connection;
 *  - SIGTERM: exit status 0 and the final counters;
 *  - restart without loss: inflight tracking across SIGKILL of the daemon.
 *
 * Counters are read the way an operator does: SIGUSR1 and parse stdout.
 * No assertion depends on timing: every wait polls until a deadline
 * (generous, for a loaded 2-core machine), and every child is killed and
 * reaped on every path (teardown, and an atexit handler for aborts).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/vhost_user_msg.h"
#include "spec/virtio_net.h"
#include "spec/virtio_ring.h"
#include "spec/vq_inflight.h"

#include "net_dev_test_frontend.h"

#define F NTF_F

#define DEV_MAC_STR "02:00:00:00:00:01"
#define WAIT_MS	    20000u /* any single wait; far above what a loaded box needs */
#define MAX_CHILD   4

extern char **environ;

static const uint8_t dev_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const char *vqnetd_path;

/* ------------------------------------------------------------------------
 * Child processes: every vqnetd started is listed here until reaped, so
 * teardown and atexit can kill it whatever path the test took.
 * ------------------------------------------------------------------------ */

static pid_t children[MAX_CHILD];

static void child_add(pid_t pid)
{
	for (unsigned i = 0; i < MAX_CHILD; i++)
		if (!children[i]) {
			children[i] = pid;
			return;
		}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fail_msg("too many children");
}

static void child_forget(pid_t pid)
{
	for (unsigned i = 0; i < MAX_CHILD; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static void children_kill_all(void)
{
	for (unsigned i = 0; i < MAX_CHILD; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

/* ------------------------------------------------------------------------
 * One vqnetd
 * ------------------------------------------------------------------------ */

struct vqd {
	pid_t pid; /* 0 when not running */
	char out[128], err[128];
	size_t log_mark; /* stderr bytes already looked at by log_wait() */
	unsigned totals; /* "vqnetd: total" lines seen on stdout */
};

struct fx {
	char dir[64];
	char sock[108];
	unsigned spawned;
	struct vqd d;
	struct ntf n;
	bool n_open;
};

/* A whole file as a NUL-terminated string (free it), or NULL. */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!fp)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, fp);

		n += got;
		if (got == 0)
			break;
	}
	fclose(fp);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static unsigned count_str(const char *hay, const char *needle)
{
	unsigned c = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		c++;
	return c;
}

/* Has the daemon exited? Then fail, with its stderr. */
static void vqd_check_alive(struct vqd *d)
{
	int st;

	if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
		char *log = slurp(d->err, NULL);

		child_forget(d->pid);
		d->pid = 0;
		print_message("vqnetd stderr:\n%s\n", log ? log : "(none)");
		free(log);
		fail_msg("vqnetd exited unexpectedly (status 0x%x)", st);
	}
}

/*
 * Wait until the daemon's stderr, past the mark, contains @needle (and, if
 * @also, @also on the same line). Move the mark past that line. Fails on
 * timeout or if the daemon exits.
 */
static void log_wait2(struct vqd *d, const char *needle, const char *also)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;

	for (;;) {
		size_t len;
		char *log = slurp(d->err, &len);

		if (log && d->log_mark <= len) {
			for (char *p = log + d->log_mark; (p = strstr(p, needle)); p++) {
				char *bol = p, *eol = strchr(p, '\n');

				while (bol > log + d->log_mark && bol[-1] != '\n')
					bol--;
				if (!eol)
					break; /* the line is not complete yet */
				*eol = '\0';
				if (!also || strstr(bol, also)) {
					d->log_mark = (size_t)(eol - log) + 1;
					free(log);
					return;
				}
				*eol = '\n';
			}
		}
		free(log);
		if (ntf_now_ms() > dl)
			fail_msg("no log line with '%s'%s%s", needle, also ? " and " : "",
				 also ? also : "");
		vqd_check_alive(d);
		ntf_sleep_ms(5);
	}
}

static void log_wait(struct vqd *d, const char *needle)
{
	log_wait2(d, needle, NULL);
}

/* Spawn vqnetd on the fixture's socket with @extra arguments (NULL-ended)
 * and wait until it listens. */
static void vqd_start(struct fx *x, const char *const *extra)
{
	const char *argv[32] = {vqnetd_path,   "--socket", x->sock, "--backend", "loop",
				"--log-level", "info",	   "--mac", DEV_MAC_STR};
	unsigned argc = 9;
	posix_spawn_file_actions_t fa;
	struct vqd *d = &x->d;

	assert_int_equal(d->pid, 0);
	for (; extra && *extra; extra++) {
		assert_true(argc < 31);
		argv[argc++] = *extra;
	}
	argv[argc] = NULL;
	memset(d, 0, sizeof(*d));
	snprintf(d->out, sizeof(d->out), "%s/out.%u", x->dir, x->spawned);
	snprintf(d->err, sizeof(d->err), "%s/err.%u", x->dir, x->spawned);
	x->spawned++;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, d->out,
							  O_WRONLY | O_CREAT | O_TRUNC, 0600),
			 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 2, d->err,
							  O_WRONLY | O_CREAT | O_TRUNC, 0600),
			 0);
	assert_int_equal(posix_spawn(&d->pid, vqnetd_path, &fa, NULL, (char *const *)argv, environ),
			 0);
	posix_spawn_file_actions_destroy(&fa);
	child_add(d->pid);
	log_wait(d, "listening on");
}

/* Send @sig and reap; return the wait status. SIGKILL after WAIT_MS. */
static int vqd_signal_wait(struct vqd *d, int sig)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	int st = 0;

	assert_true(d->pid > 0);
	kill(d->pid, sig);
	while (waitpid(d->pid, &st, WNOHANG) != d->pid) {
		if (ntf_now_ms() > dl) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &st, 0);
			child_forget(d->pid);
			d->pid = 0;
			fail_msg("vqnetd did not exit on signal %d", sig);
		}
		ntf_sleep_ms(2);
	}
	child_forget(d->pid);
	d->pid = 0;
	return st;
}

/* SIGTERM: exit status 0 and the final counters on stdout. */
static void vqd_term_ok(struct vqd *d)
{
	int st = vqd_signal_wait(d, SIGTERM);
	char *out = slurp(d->out, NULL);

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *log = slurp(d->err, NULL);

		print_message("vqnetd stderr:\n%s\n", log ? log : "");
		free(log);
		fail_msg("vqnetd after SIGTERM: status 0x%x", st);
	}
	assert_non_null(out);
	/* The totals line always; a line per queue only for queues that
	 * ever started (checked by the tests that start them). */
	assert_int_equal(count_str(out, "vqnetd: total "), d->totals + 1);
	free(out);
}

struct qcount {
	uint64_t packets, bytes, drops, errors;
	uint64_t bad_chain, rx_filtered; /* from the device's detailed line */
};

/* Parse "<name>: ... <key>=N" in the line starting with @name in @block. */
static uint64_t detail_field(const char *block, const char *name, const char *key)
{
	char pat[32], *line, *eol, *k;
	uint64_t v = 0;

	snprintf(pat, sizeof(pat), "\n%s: ", name);
	line = strstr(block, pat);
	if (!line) {
		fail_msg("no detailed counter line for %s", name);
		return 0;
	}
	eol = strchr(line + 1, '\n');
	k = strstr(line, key);
	if (!k || (eol && k > eol))
		fail_msg("no %s in the counter line of %s", key, name);
	sscanf(k + strlen(key), "%" SCNu64, &v);
	return v;
}

/*
 * SIGUSR1, wait for the new block of counters on stdout, and parse queue
 * @q's line (`vqnetd: queue Q NAME: packets=N bytes=N drops=N errors=N`)
 * and its detailed line.
 */
static struct qcount vqd_counters(struct vqd *d, unsigned q, unsigned pairs)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	struct qcount c = {0};
	char name[16], pat[48], *out = NULL, *block, *p;
	unsigned n;

	if (q == 2 * pairs)
		snprintf(name, sizeof(name), "ctrlq");
	else
		snprintf(name, sizeof(name), "%sq%u", q & 1 ? "tx" : "rx", q / 2);
	kill(d->pid, SIGUSR1);
	for (;;) {
		free(out);
		out = slurp(d->out, NULL);
		if (out && count_str(out, "vqnetd: total ") > d->totals)
			break;
		if (ntf_now_ms() > dl)
			fail_msg("no counters after SIGUSR1");
		vqd_check_alive(d);
		ntf_sleep_ms(2);
	}
	d->totals++;
	/* The new block starts after the previous block's total line. */
	block = out;
	for (n = 1; n < d->totals; n++) {
		block = strstr(block, "vqnetd: total ");
		assert_non_null(block);
		block = strchr(block, '\n');
		assert_non_null(block);
	}
	snprintf(pat, sizeof(pat), "vqnetd: queue %u %s: ", q, name);
	p = strstr(block, pat);
	if (!p) {
		free(out);
		fail_msg("no counter line '%s'", pat);
		return c;
	}
	if (sscanf(p + strlen(pat),
		   "packets=%" SCNu64 " bytes=%" SCNu64 " drops=%" SCNu64 " errors=%" SCNu64,
		   &c.packets, &c.bytes, &c.drops, &c.errors) != 4)
		fail_msg("cannot parse '%s'", p);
	c.bad_chain = detail_field(block, name, "bad_chain=");
	c.rx_filtered = detail_field(block, name, "rx_filtered=");
	free(out);
	return c;
}

/* Open file descriptors of process @pid. */
static unsigned fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* Print the daemon's fds (for a failure message). */
static void fd_dump(pid_t pid)
{
	char path[64], target[256], link[384];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		ssize_t l;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		l = readlink(link, target, sizeof(target) - 1);
		target[l > 0 ? l : 0] = '\0';
		print_message("  fd %s -> %s\n", de->d_name, target);
	}
	closedir(dir);
}

/* Wait until the daemon holds exactly @want fds. */
static void fd_wait(struct vqd *d, unsigned want)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	unsigned have;

	while ((have = fd_count(d->pid)) != want) {
		if (ntf_now_ms() > dl) {
			fd_dump(d->pid);
			fail_msg("vqnetd holds %u fds, expected %u", have, want);
		}
		vqd_check_alive(d);
		ntf_sleep_ms(5);
	}
}

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	snprintf(x->dir, sizeof(x->dir), "/tmp/vqnetd-test-XXXXXX");
	if (!mkdtemp(x->dir)) {
		free(x);
		return -1;
	}
	snprintf(x->sock, sizeof(x->sock), "%s/vu.sock", x->dir);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	DIR *dir;
	struct dirent *de;
	char path[384];

	children_kill_all();
	x->d.pid = 0;
	if (x->n_open)
		ntf_close(&x->n);
	dir = opendir(x->dir);
	if (dir) {
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", x->dir, de->d_name);
				unlink(path);
			}
		closedir(dir);
	}
	rmdir(x->dir);
	free(x);
	return 0;
}

static void fe_open(struct fx *x, const struct ntf_opts *o)
{
	ntf_open(&x->n, x->sock, o);
	x->n_open = true;
}

static void fe_close(struct fx *x)
{
	ntf_close(&x->n);
	x->n_open = false;
}

/* ------------------------------------------------------------------------
 * Traffic helpers
 * ------------------------------------------------------------------------ */

/* Send one frame on @pair and get it back unchanged. */
static void echo(struct ntf *n, unsigned pair, uint32_t len, uint32_t seq)
{
	uint8_t f[NTF_RX_SLOT], got[4 * NTF_RX_SLOT];

	ntf_rx_fill(n, pair);
	ntf_make_frame(f, len, dev_mac, peer_mac, seq);
	assert_true(ntf_tx_send(n, pair, f, len, NULL) >= 0);
	assert_int_equal(ntf_rx_recv(n, pair, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	ntf_tx_reap(n, pair, NULL, 0);
}

/* Wait until the chain with @token is completed on @pair's transmitq with
 * length 0 (nothing else may complete meanwhile). */
static void tx_wait_token(struct ntf *n, unsigned pair, void *token)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	struct vq_drv_used u;
	int got;

	while ((got = vq_drv_reap(n->q[ntf_txq(pair)].d, &u, 1)) == 0) {
		if (ntf_now_ms() > dl)
			fail_msg("chain %p not completed", token);
		ntf_sleep_ms(1);
	}
	assert_int_equal(got, 1);
	assert_ptr_equal(u.token, token);
	assert_int_equal(u.len, 0);
}

/* Wait until queue @q's counters, read into the caller's `c`, satisfy
 * @cond. */
#define COUNTERS_WAIT(d, q, pairs, cond)                                                           \
	do {                                                                                       \
		uint64_t dl_ = ntf_now_ms() + WAIT_MS;                                             \
		for (;;) {                                                                         \
			c = vqd_counters(d, q, pairs);                                             \
			if (cond)                                                                  \
				break;                                                             \
			if (ntf_now_ms() > dl_)                                                    \
				fail_msg("counters of queue %u: %s never held", q, #cond);         \
			ntf_sleep_ms(10);                                                          \
		}                                                                                  \
	} while (0)

/* The descriptor (16 bytes, addr first) at driver address @gpa in ring @q:
 * split: the head of chain @id; packed: found by its address. */
static uint8_t *desc_of(struct ntf *n, unsigned q, int id, uint64_t gpa)
{
	uint8_t *table = n->shm.base + n->q[q].desc_off;

	if (n->o.fmt == VQ_FORMAT_SPLIT)
		return table + (size_t)id * 16;
	for (unsigned i = 0; i < NTF_QSIZE; i++) {
		uint64_t a;

		memcpy(&a, table + i * 16, 8);
		if (a == gpa)
			return table + i * 16;
	}
	fail_msg("descriptor for 0x%" PRIx64 " not found", gpa);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

#define WANT_BASE (F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))

/* The frontend calls added for this test: SET_VRING_ERR, GET/SET_INFLIGHT_FD. */
static void test_frontend_api(void **state)
{
	struct fx *x = *state;
	struct vu_frontend *f;
	struct vu_inflight in;
	uint64_t pf;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(efd >= 0);
	vqd_start(x, NULL);
	assert_int_equal(vu_frontend_connect(x->sock, WAIT_MS, &f), 0);
	assert_int_equal(vu_frontend_get_protocol_features(f, &pf), 0);
	assert_true(vq_has_feature(pf, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	/* Not negotiated yet: refused here, nothing sent. */
	assert_int_equal(vu_frontend_get_inflight_fd(f, 3, NTF_QSIZE, &in), -EOPNOTSUPP);
	assert_int_equal(in.fd, -1);
	assert_null(in.map);
	assert_int_equal(
		vu_frontend_set_protocol_features(f, F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
							     F(VHOST_USER_PROTOCOL_F_REPLY_ACK)),
		0);
	assert_int_equal(vu_frontend_set_owner(f), 0);
	assert_int_equal(vu_frontend_get_inflight_fd(f, 0, NTF_QSIZE, &in), -EINVAL);
	assert_int_equal(vu_frontend_get_inflight_fd(f, 3, NTF_QSIZE, &in), 0);
	assert_true(in.fd >= 0);
	assert_non_null(in.base);
	assert_int_equal(in.num_queues, 3);
	assert_int_equal(in.queue_size, NTF_QSIZE);
	assert_true(in.mmap_size >= 3 * vq_inflight_split_bytes(NTF_QSIZE));
	for (uint64_t i = 0; i < in.mmap_size; i++)
		assert_int_equal(in.base[i], 0);		  /* version 0: not initialised */
	assert_int_equal(vu_frontend_set_inflight_fd(f, &in), 0); /* acked (REPLY_ACK) */
	/* Error fds: one, none (NOFD), and an index out of range. */
	assert_int_equal(vu_frontend_set_vring_err(f, 1, efd), 0);
	assert_int_equal(vu_frontend_set_vring_err(f, 1, -1), 0);
	assert_int_equal(vu_frontend_set_vring_err(f, VU_MAX_QUEUES, efd), -EINVAL);
	{
		struct vu_inflight empty = {.fd = -1};

		assert_int_equal(vu_frontend_set_inflight_fd(f, &empty), -EINVAL);
	}
	/* A request the backend refuses (more rings than it has): it drops
	 * the connection; the out-parameter stays empty, later calls fail. */
	{
		struct vu_inflight bad;

		assert_true(vu_frontend_get_inflight_fd(f, 200, NTF_QSIZE, &bad) < 0);
		assert_int_equal(bad.fd, -1);
		assert_null(bad.map);
		assert_int_equal(vu_frontend_set_inflight_fd(f, &in), -ENOTCONN);
	}
	vu_frontend_close(f);
	/* The buffer outlives the connection: a new one takes it back. */
	assert_int_equal(vu_frontend_connect(x->sock, WAIT_MS, &f), 0);
	assert_int_equal(
		vu_frontend_set_protocol_features(f, F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)), 0);
	assert_int_equal(vu_frontend_set_inflight_fd(f, &in), 0);
	assert_int_equal(vu_frontend_get_features(f, &pf), 0); /* still in step */
	vu_frontend_close(f);
	vu_inflight_free(&in);
	assert_int_equal(in.fd, -1);
	vu_inflight_free(&in); /* idempotent */
	vu_inflight_free(NULL);
	close(efd);
	log_wait(&x->d, "GET_INFLIGHT_FD");
	vqd_term_ok(&x->d);
}

static void roundtrip(struct fx *x, enum vq_format fmt)
{
	struct ntf_opts o = {.fmt = fmt, .want = WANT_BASE};
	struct qcount c;
	uint64_t bytes = 0;

	vqd_start(x, NULL);
	fe_open(x, &o);
	for (uint32_t i = 0; i < 100; i++) {
		uint32_t len = 60 + (i * 97) % 1455;

		echo(&x->n, 0, len, i);
		bytes += len;
	}
	c = vqd_counters(&x->d, 1, 1);
	assert_int_equal(c.packets, 100);
	assert_int_equal(c.bytes, bytes); /* frame bytes, no virtio-net header */
	assert_int_equal(c.drops, 0);
	assert_int_equal(c.errors, 0);
	c = vqd_counters(&x->d, 0, 1);
	assert_int_equal(c.packets, 100);
	assert_int_equal(c.bytes, bytes);
	assert_int_equal(c.drops, 0);
	fe_close(x);
	vqd_term_ok(&x->d);
}

static void test_roundtrip_split(void **state)
{
	roundtrip(*state, VQ_FORMAT_SPLIT);
}

static void test_roundtrip_packed(void **state)
{
	roundtrip(*state, VQ_FORMAT_PACKED);
}

enum bad_chain { BAD_OUTSIDE, BAD_LOOP, BAD_INDIRECT_LEN, BAD_WRITABLE };

static const char *const bad_names[] = {"descriptor outside memory", "descriptor loop",
					"indirect table of 17 bytes", "device-writable descriptor"};

/* Post one malformed transmit chain of kind @k on pair 0 and kick. */
static void *post_bad_chain(struct ntf *n, enum bad_chain k)
{
	unsigned q = ntf_txq(0);
	uint64_t buf = n->shm.gpa + NTF_SCRATCH_BASE;
	struct vq_drv_buf b = {buf, 100};
	void *token = (void *)(uintptr_t)(0x1000 + k);
	uint8_t *desc;
	int id;

	memset(n->shm.base + NTF_SCRATCH_BASE, 0, 4096);
	if (k == BAD_OUTSIDE)
		b.gpa = NTF_SHM_GPA + NTF_SHM_SIZE + 4096;
	id = vq_drv_add_chain(n->q[q].d, &b, k == BAD_WRITABLE ? 0 : 1, k == BAD_WRITABLE, false,
			      token);
	assert_true(id >= 0);
	if (k == BAD_LOOP || k == BAD_INDIRECT_LEN) {
		/* Split only: rewrite the head in the shared table before the
		 * publish (the driver keeps its own shadow of the chain). */
		struct virtq_desc *d;

		assert_int_equal(n->o.fmt, VQ_FORMAT_SPLIT);
		desc = desc_of(n, q, id, b.gpa);
		d = (struct virtq_desc *)desc;
		if (k == BAD_LOOP) {
			d->flags = VIRTQ_DESC_F_NEXT;
			d->next = (uint16_t)id;
		} else {
			d->flags = VIRTQ_DESC_F_INDIRECT;
			d->len = 17;
		}
	}
	ntf_kick(n, q);
	return token;
}

static void malformed_tx(struct fx *x, enum vq_format fmt)
{
	struct ntf_opts o = {.fmt = fmt, .want = WANT_BASE | F(VIRTIO_F_INDIRECT_DESC)};
	unsigned nbad = 0;
	struct qcount c;

	vqd_start(x, NULL);
	fe_open(x, &o);
	assert_true(vq_has_feature(x->n.features, VIRTIO_F_INDIRECT_DESC));
	echo(&x->n, 0, 100, 0);
	for (unsigned k = BAD_OUTSIDE; k <= BAD_WRITABLE; k++) {
		if (fmt == VQ_FORMAT_PACKED && (k == BAD_LOOP || k == BAD_INDIRECT_LEN))
			continue;
		print_message("  %s\n", bad_names[k]);
		tx_wait_token(&x->n, 0, post_bad_chain(&x->n, k));
		nbad++;
		/* The queue keeps working. */
		echo(&x->n, 0, 200 + k, 100 + k);
	}
	c = vqd_counters(&x->d, 1, 1);
	/* Each is a bad chain: the transmitq's ring knows it is read-only
	 * for the device (§2.7.5.1), so a device-writable descriptor is a
	 * drop-class error like the structural ones. */
	assert_int_equal(c.bad_chain, nbad);
	assert_int_equal(c.drops, nbad);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.packets, 1 + nbad);
	fe_close(x);
	vqd_term_ok(&x->d);
}

static void test_malformed_tx_split(void **state)
{
	malformed_tx(*state, VQ_FORMAT_SPLIT);
}

static void test_malformed_tx_packed(void **state)
{
	malformed_tx(*state, VQ_FORMAT_PACKED);
}

/*
 * HOSTILE A18 / VIRTIO 1.2 §2.7.5.1 (net: §5.1.6.2): a transmit chain with
 * a device-writable descriptor after the frame must be dropped (completed
 * with length 0, counted as bad_chain) and nothing written into it. The
 * frame must not reach the backend: a valid frame sent next is the first
 * to come back (the loop backend is FIFO per pair, one worker).
 */
static void tx_writable(struct fx *x, enum vq_format fmt)
{
	struct ntf_opts o = {.fmt = fmt, .want = WANT_BASE};
	struct ntf *n = &x->n;
	uint8_t f[256], got[4 * NTF_RX_SLOT];
	uint8_t *mem;
	uint64_t off = NTF_SCRATCH_BASE;
	struct vq_drv_buf b[2];
	struct qcount c;
	bool delivered, written = false;

	vqd_start(x, NULL);
	fe_open(x, &o);
	mem = n->shm.base;
	ntf_rx_fill(n, 0);
	memset(mem + off, 0, NTF_HDR);
	ntf_make_frame(f, 100, dev_mac, peer_mac, 1);
	memcpy(mem + off + NTF_HDR, f, 100);
	memset(mem + off + 1024, 0x5a, 64);
	b[0] = (struct vq_drv_buf){n->shm.gpa + off, NTF_HDR + 100};
	b[1] = (struct vq_drv_buf){n->shm.gpa + off + 1024, 64};
	assert_true(vq_drv_add_chain(n->q[ntf_txq(0)].d, b, 1, 1, false, (void *)0x77) >= 0);
	ntf_kick(n, ntf_txq(0));
	tx_wait_token(n, 0, (void *)0x77);
	ntf_make_frame(f, 120, dev_mac, peer_mac, 2);
	assert_true(ntf_tx_send(n, 0, f, 120, NULL) >= 0);
	assert_true(ntf_rx_recv(n, 0, got, WAIT_MS) > 0);
	delivered = ntf_frame_seq(got) == 1;
	if (delivered)
		assert_int_equal(ntf_rx_recv(n, 0, got, WAIT_MS), 120);
	for (unsigned i = 0; i < 64; i++)
		written |= mem[off + 1024 + i] != 0x5a;
	assert_false(written); /* never written, whatever else */
	c = vqd_counters(&x->d, 1, 1);
	fe_close(x);
	vqd_term_ok(&x->d);
	/* Found a bug: rings started with VQ_DIR_BOTH sent such chains to
	 * the backend; now the ring drops them (vu_device_ops.queue_dir). */
	assert_false(delivered);
	assert_int_equal(c.bad_chain, 1);
	assert_int_equal(c.drops, 1);
}

static void test_tx_writable_descriptor_split(void **state)
{
	tx_writable(*state, VQ_FORMAT_SPLIT);
}

static void test_tx_writable_descriptor_packed(void **state)
{
	tx_writable(*state, VQ_FORMAT_PACKED);
}

#define WANT_CTRL                                                                                  \
	(WANT_BASE | F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_MAC_ADDR))

/* Malformed control commands: ERR and one log line naming the command;
 * valid ones: OK and the filter holds. */
static void test_ctrl(void **state)
{
	static const char *const q2[] = {"--queues", "2", NULL};
	static const uint8_t other[6] = {0x02, 9, 9, 9, 9, 9}, listed[6] = {0x02, 7, 7, 7, 7, 7};
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_CTRL, .pairs = 2, .ctrl = true};
	uint8_t tables[4 + 6 + 4], lie[4 + 6 + 4], off = 0, f[256], got[4 * NTF_RX_SLOT];
	uint16_t pairs0 = 0;
	const uint8_t one_byte = VIRTIO_NET_CTRL_RX;
	struct ntf *n = &x->n;
	struct qcount c;

	vqd_start(x, q2);
	fe_open(x, &o);
	assert_true(vq_has_feature(n->features, VIRTIO_NET_F_MQ));

	assert_int_equal(ntf_ctrl_raw(n, &one_byte, 1), VIRTIO_NET_ERR);
	log_wait2(&x->d, "ctrl: command of 1 bytes", "shorter");
	assert_int_equal(ntf_ctrl_cmd(n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, NULL, 0),
			 VIRTIO_NET_ERR);
	log_wait(&x->d, "ctrl RX.PROMISC");
	assert_int_equal(ntf_ctrl_cmd(n, 99, 0, NULL, 0), VIRTIO_NET_ERR);
	log_wait2(&x->d, "ctrl class 99", "unknown class");
	assert_int_equal(
		ntf_ctrl_cmd(n, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs0, 2),
		VIRTIO_NET_ERR);
	log_wait(&x->d, "ctrl MQ.VQ_PAIRS_SET");
	/* A unicast table claiming 100 entries with room for one. */
	memcpy(lie, (const uint8_t[]){100, 0, 0, 0}, 4);
	memcpy(lie + 4, listed, 6);
	memset(lie + 10, 0, 4);
	assert_int_equal(ntf_ctrl_cmd(n, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, lie,
				      sizeof(lie)),
			 VIRTIO_NET_ERR);
	log_wait(&x->d, "ctrl MAC.TABLE_SET");

	/* Valid: PROMISC off, then a table with one unicast address. */
	assert_int_equal(ntf_ctrl_cmd(n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1),
			 VIRTIO_NET_OK);
	memcpy(tables, (const uint8_t[]){1, 0, 0, 0}, 4);
	memcpy(tables + 4, listed, 6);
	memset(tables + 10, 0, 4);
	assert_int_equal(ntf_ctrl_cmd(n, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, tables,
				      sizeof(tables)),
			 VIRTIO_NET_OK);
	/* A frame to another MAC is filtered, frames to the device and to
	 * the listed address arrive, in order. */
	ntf_rx_fill(n, 0);
	ntf_make_frame(f, 100, other, peer_mac, 1);
	assert_true(ntf_tx_send(n, 0, f, 100, NULL) >= 0);
	COUNTERS_WAIT(&x->d, 0, 2, c.rx_filtered == 1);
	ntf_make_frame(f, 100, listed, peer_mac, 2);
	assert_true(ntf_tx_send(n, 0, f, 100, NULL) >= 0);
	assert_int_equal(ntf_rx_recv(n, 0, got, WAIT_MS), 100);
	assert_int_equal(ntf_frame_seq(got), 2);
	echo(n, 0, 100, 3);
	c = vqd_counters(&x->d, 0, 2);
	assert_int_equal(c.packets, 2);
	assert_int_equal(c.rx_filtered, 1);
	c = vqd_counters(&x->d, 4, 2);
	assert_int_equal(c.packets, 7); /* every command completed */
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* Corrupt transmitq 0 (queue 1); everything else keeps working. */
static void broken_ring(struct fx *x, enum vq_format fmt)
{
	static const char *const q2[] = {"--queues", "2", NULL};
	struct ntf_opts o = {
		.fmt = fmt, .want = WANT_CTRL, .pairs = 2, .ctrl = true, .err_fds = true};
	struct ntf *n = &x->n;
	struct qcount c;
	uint8_t off = 0;

	vqd_start(x, q2);
	fe_open(x, &o);
	echo(n, 0, 100, 1);
	echo(n, 1, 100, 2);
	if (fmt == VQ_FORMAT_SPLIT) {
		/* avail->idx jumps by more than the queue size (HOSTILE A1). */
		struct virtq_avail *avail =
			(struct virtq_avail *)(n->shm.base + n->q[ntf_txq(0)].driver_off);
		uint16_t idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);

		__atomic_store_n(&avail->idx, (uint16_t)(idx + NTF_QSIZE + 7), __ATOMIC_RELEASE);
		ntf_kick(n, ntf_txq(0));
		{
			uint64_t one = 1;

			assert_int_equal(write(n->q[ntf_txq(0)].kick_fd, &one, 8), 8);
		}
	} else {
		/* A buffer id out of range (HOSTILE C3). */
		uint8_t frame[100];
		uint64_t gpa = n->shm.gpa + NTF_SCRATCH_BASE;
		struct vq_drv_buf b = {gpa, 100};
		struct pvirtq_desc *d;

		ntf_make_frame(frame, 100, dev_mac, peer_mac, 9);
		memcpy(n->shm.base + NTF_SCRATCH_BASE, frame, 100);
		assert_true(vq_drv_add_chain(n->q[ntf_txq(0)].d, &b, 1, 0, false, (void *)9) >= 0);
		d = (struct pvirtq_desc *)desc_of(n, ntf_txq(0), -1, gpa);
		d->id = NTF_QSIZE + 5;
		ntf_kick(n, ntf_txq(0));
	}
	assert_true(ntf_efd_wait(n->q[ntf_txq(0)].err_fd, WAIT_MS));
	log_wait2(&x->d, "queue 1 broken", "not served");
	c = vqd_counters(&x->d, 1, 2);
	assert_int_equal(c.errors, 1);
	/* The other queues: receiveq 0 is idle but sound, pair 1 and the
	 * control queue keep working; their error fds stay quiet. */
	echo(n, 1, 300, 3);
	assert_int_equal(ntf_ctrl_cmd(n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1),
			 VIRTIO_NET_OK);
	echo(n, 1, 400, 4);
	for (unsigned i = 0; i < n->nq; i++)
		if (i != ntf_txq(0))
			assert_false(ntf_efd_wait(n->q[i].err_fd, 0));
	assert_int_equal(vqd_counters(&x->d, 3, 2).errors, 0);
	assert_int_equal(vqd_counters(&x->d, 0, 2).errors, 0);

	/* The next connection starts fresh: pair 0 works again. */
	fe_close(x);
	fe_open(x, &o);
	echo(n, 0, 500, 5);
	echo(n, 1, 600, 6);
	fe_close(x);
	vqd_term_ok(&x->d);
}

static void test_broken_ring_split(void **state)
{
	broken_ring(*state, VQ_FORMAT_SPLIT);
}

static void test_broken_ring_packed(void **state)
{
	broken_ring(*state, VQ_FORMAT_PACKED);
}

/* Disconnect, connect again: served; fds back to the idle count. */
static void test_reconnect(void **state)
{
	struct fx *x = *state;
	unsigned idle;

	vqd_start(x, NULL);
	idle = fd_count(x->d.pid);
	for (unsigned round = 0; round < 4; round++) {
		struct ntf_opts o = {.fmt = round % 2 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT,
				     .want = WANT_BASE | F(VIRTIO_NET_F_CTRL_RX),
				     .ctrl = true,
				     .err_fds = round >= 2,
				     .inflight = round == 3};

		fe_open(x, &o);
		assert_true(fd_count(x->d.pid) > idle);
		for (uint32_t i = 0; i < 10; i++)
			echo(&x->n, 0, 64 + i, round * 100 + i);
		if (round == 1) {
			/* Leave with chains posted and not completed. */
			ntf_rx_fill(&x->n, 0);
			ntf_disconnect(&x->n);
			fe_close(x);
		} else {
			fe_close(x);
		}
		log_wait(&x->d, "frontend disconnected");
		fd_wait(&x->d, idle);
	}
	vqd_term_ok(&x->d);
}

/* ------------------------------------------------------------------------
 * Restart without loss
 * ------------------------------------------------------------------------ */

#define RS_FRAMES 6000u
#define RS_KILLS  3u
#define RS_FREEZE 1000u /* frames the attempts to catch chains in flight may use */
#define RS_WINDOW 48u	/* frames in transit at most: below the loop backend's 256 slots */

struct rs {
	uint8_t rx_count[RS_FRAMES];	     /* times each frame arrived */
	bool tx_done[RS_FRAMES];	     /* its (last) transmit chain was completed */
	bool in_flight_at_kill[RS_FRAMES];   /* its chain was outstanding at a kill */
	uint32_t slot_seq[NTF_QSIZE];	     /* transmit slot -> frame */
	uint32_t next_seq;		     /* frames sent so far: 0..next_seq-1 */
	uint32_t received;		     /* distinct frames arrived */
	uint32_t resend[RS_FRAMES], nresend; /* held by a dead daemon, to send again */
	unsigned dups, held, marked, rx_marked, outstanding, caught;
};

static void rs_reap_tx(struct rs *r, struct ntf *n)
{
	void *tokens[NTF_QSIZE];
	unsigned got;

	while ((got = ntf_tx_reap(n, 0, tokens, NTF_QSIZE)) > 0) {
		assert_true(got <= NTF_QSIZE);
		for (unsigned i = 0; i < got; i++) {
			uint32_t seq = r->slot_seq[(uintptr_t)tokens[i] - 1];

			/* vq_drv refuses a used entry for a chain not in
			 * flight; this checks the frame behind it as well. */
			if (r->tx_done[seq])
				fail_msg("frame %u: transmit chain completed twice", seq);
			r->tx_done[seq] = true;
		}
	}
}

/* Take every frame that arrived, check it, count duplicates; repost. */
static void rs_reap_rx(struct rs *r, struct ntf *n)
{
	uint8_t got[4 * NTF_RX_SLOT], want[NTF_RX_SLOT];
	int len;

	while ((len = ntf_rx_recv(n, 0, got, 0)) >= 0) {
		uint32_t seq = ntf_frame_seq(got);

		assert_true(seq < r->next_seq);
		assert_int_equal(len, 60 + (seq * 37) % 900);
		ntf_make_frame(want, (uint32_t)len, dev_mac, peer_mac, seq);
		assert_memory_equal(got, want, (size_t)len);
		if (r->rx_count[seq]++) {
			if (!r->in_flight_at_kill[seq])
				fail_msg("frame %u arrived twice; its chain was not in flight "
					 "at a kill",
					 seq);
			r->dups++;
		} else {
			r->received++;
		}
	}
	ntf_rx_fill(n, 0);
}

/* Send while fewer than RS_WINDOW frames are in transit: frames to send
 * again first, then new ones up to @upto. */
static void rs_send(struct rs *r, struct ntf *n, uint32_t upto)
{
	uint8_t f[NTF_RX_SLOT];

	while (r->next_seq - r->received - r->nresend < RS_WINDOW) {
		bool again = r->nresend > 0;
		uint32_t seq = again ? r->resend[r->nresend - 1] : r->next_seq, len;
		unsigned slot;

		if (!again && seq >= upto)
			return;
		len = ntf_make_frame(f, 60 + (seq * 37) % 900, dev_mac, peer_mac, seq);
		if (ntf_tx_send(n, 0, f, len, &slot) < 0)
			return;
		r->slot_seq[slot] = seq;
		if (again) {
			r->nresend--;
			r->tx_done[seq] = false;
		} else {
			r->next_seq++;
		}
	}
}

/* One step of traffic: reap both ways, send. */
static void rs_step(struct rs *r, struct ntf *n, uint32_t upto)
{
	rs_reap_tx(r, n);
	rs_reap_rx(r, n);
	rs_send(r, n, upto);
}

/* Chains marked in flight in ring @q's inflight region (split: heads;
 * packed: the head entries of recorded chains). */
static unsigned inflight_marked(const struct ntf *n, unsigned q)
{
	unsigned c = 0;

	if (n->o.fmt == VQ_FORMAT_PACKED) {
		const struct vq_inflight_packed *reg =
			(const void *)(n->infl.base + q * vq_inflight_packed_bytes(NTF_QSIZE));

		for (unsigned i = 0; i < NTF_QSIZE; i++)
			c += __atomic_load_n(&reg->desc[i].inflight, __ATOMIC_RELAXED) != 0;
		return c;
	}
	const struct vq_inflight_split *reg =
		(const void *)(n->infl.base + q * vq_inflight_split_bytes(NTF_QSIZE));

	for (unsigned i = 0; i < NTF_QSIZE; i++)
		c += __atomic_load_n(&reg->desc[i].inflight, __ATOMIC_RELAXED) != 0;
	return c;
}

/* Spin for about @us microseconds (a delay that sweeps a race window;
 * nothing is asserted about it). */
static void spin_us(unsigned us)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < (long)us);
}

/*
 * Try to freeze the daemon (SIGSTOP) while it holds chains popped and not
 * completed (marked in its inflight region) on either ring of pair 0, so
 * the kill that follows exercises resubmission: let the traffic drain,
 * post a burst (frames up to @upto), wait a delay that sweeps 0..39 us,
 * stop, look. Return whether it was caught (the daemon is then stopped).
 * Either way the kill happens with a burst posted; whether chains were
 * popped only changes what is exercised, never what is asserted.
 */
static bool rs_freeze_busy(struct fx *x, struct rs *r, uint32_t upto)
{
	uint64_t dl = ntf_now_ms() + 4000;
	struct ntf *n = &x->n;
	unsigned attempt = 0;
	int st;

	while (ntf_now_ms() < dl) {
		uint64_t drain = ntf_now_ms() + WAIT_MS;

		while (r->next_seq - r->received - r->nresend > 0 && ntf_now_ms() < drain) {
			rs_reap_tx(r, n);
			rs_reap_rx(r, n);
			ntf_sleep_ms(1);
		}
		if (r->next_seq >= upto)
			break;
		rs_reap_tx(r, n);
		rs_send(r, n, upto);
		spin_us(attempt++ % 40);
		assert_int_equal(kill(x->d.pid, SIGSTOP), 0);
		assert_int_equal(waitpid(x->d.pid, &st, WUNTRACED), x->d.pid);
		assert_true(WIFSTOPPED(st));
		if (inflight_marked(n, ntf_txq(0)) + inflight_marked(n, ntf_rxq(0)))
			return true;
		assert_int_equal(kill(x->d.pid, SIGCONT), 0);
	}
	rs_reap_rx(r, n);
	rs_send(r, n, RS_FRAMES);
	return false;
}

/* SIGKILL the daemon mid-traffic, look at what it left, start another. */
static void rs_kill_restart(struct fx *x, struct rs *r)
{
	struct ntf *n = &x->n;
	int st = vqd_signal_wait(&x->d, SIGKILL);

	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	r->marked += inflight_marked(n, ntf_txq(0));
	r->rx_marked += inflight_marked(n, ntf_rxq(0));
	/* What the dead daemon published is final. */
	rs_reap_tx(r, n);
	rs_reap_rx(r, n);
	for (uint32_t seq = 0; seq < r->next_seq; seq++) {
		bool queued = false;

		for (unsigned i = 0; i < r->nresend; i++)
			queued |= r->resend[i] == seq;
		if (!r->tx_done[seq] && !queued) {
			/* Its chain is still out: the next daemon gets it again
			 * (resubmitted if the dead one had popped it). */
			r->in_flight_at_kill[seq] = true;
			r->outstanding++;
		} else if (!r->rx_count[seq] && !queued) {
			/* Completed on transmit, never delivered: it was in
			 * the dead daemon's backend (or in a receive chain it
			 * had not completed). No ring state can bring it back;
			 * the guest's transport sends it again. */
			r->resend[r->nresend++] = seq;
			r->held++;
		}
	}
	ntf_disconnect(n);
	vqd_start(x, NULL);
	ntf_reconnect(n);
}

/*
 * Restart without loss: INFLIGHT_SHMFD negotiated (split ring, no
 * IN_ORDER), numbered frames streamed through --backend loop, vqnetd
 * SIGKILLed mid-traffic RS_KILLS times; each time a new vqnetd on the
 * same socket gets the inflight buffer back and the rings restart at their
 * used index.
 */
static void restart_inflight(struct fx *x, enum vq_format fmt, bool in_order)
{
	struct ntf_opts o = {.fmt = fmt,
			     .want = WANT_BASE | (in_order ? F(VIRTIO_F_IN_ORDER) : 0),
			     .inflight = true};
	struct rs *r = calloc(1, sizeof(*r));
	struct ntf *n = &x->n;
	uint64_t dl;

	assert_non_null(r);
	vqd_start(x, NULL);
	fe_open(x, &o);
	assert_int_equal(vq_has_feature(n->features, VIRTIO_F_IN_ORDER), in_order);
	ntf_rx_fill(n, 0);
	for (unsigned k = 1; k <= RS_KILLS; k++) {
		uint32_t at = RS_FRAMES * k / (RS_KILLS + 1);

		dl = ntf_now_ms() + 6 * WAIT_MS;
		while (r->next_seq < at) {
			rs_step(r, n, at);
			if (ntf_now_ms() > dl)
				fail_msg("stream stalled at %u of %u", r->next_seq, at);
			ntf_sleep_ms(1);
		}
		/* Kill with chains in flight if the daemon can be caught so. */
		r->caught += rs_freeze_busy(x, r, at + RS_FREEZE);
		rs_kill_restart(x, r);
	}
	dl = ntf_now_ms() + 6 * WAIT_MS;
	while (r->received < RS_FRAMES || vq_drv_in_flight(n->q[ntf_txq(0)].d)) {
		rs_step(r, n, RS_FRAMES);
		if (ntf_now_ms() > dl)
			fail_msg("%u of %u frames arrived", r->received, RS_FRAMES);
		ntf_sleep_ms(1);
	}
	for (uint32_t seq = 0; seq < RS_FRAMES; seq++)
		assert_true(r->rx_count[seq] >= 1);
	print_message("  %u frames, %u kills (%u with chains popped): %u transmit chains "
		      "outstanding at the kills (%u popped, marked in flight), %u receive chains "
		      "marked in flight, %u duplicates, %u frames held by a killed daemon's "
		      "backend sent again\n",
		      RS_FRAMES, RS_KILLS, r->caught, r->outstanding, r->marked, r->rx_marked,
		      r->dups, r->held);
	assert_true(r->dups <= r->outstanding);
	fe_close(x);
	vqd_term_ok(&x->d);
	free(r);
}

static void test_restart_inflight(void **state)
{
	restart_inflight(*state, VQ_FORMAT_SPLIT, false);
}

static void test_restart_inflight_packed(void **state)
{
	restart_inflight(*state, VQ_FORMAT_PACKED, false);
}

static void test_restart_inflight_in_order(void **state)
{
	restart_inflight(*state, VQ_FORMAT_SPLIT, true);
}

static void test_restart_inflight_packed_in_order(void **state)
{
	restart_inflight(*state, VQ_FORMAT_PACKED, true);
}

static void at_exit_kill(void)
{
	children_kill_all();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frontend_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_tx_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_tx_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_writable_descriptor_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_writable_descriptor_packed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ctrl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inflight_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inflight_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inflight_packed_in_order, setup,
						teardown),
	};

	vqnetd_path = argc > 1 ? argv[1] : getenv("VQNETD");
	if (!vqnetd_path || access(vqnetd_path, X_OK) != 0) {
		fprintf(stderr, "usage: %s PATH-TO-VQNETD (or set VQNETD)\n", argv[0]);
		return 77; /* skipped */
	}
	atexit(at_exit_kill);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
