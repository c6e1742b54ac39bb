/* SPDX-License-Identifier: MIT */
/*
 * The vqnetd process fixture of the test_vqnetd_*.c files: see
 * vqnetd_fixture.h.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vqnetd_fixture.h"

#define MAX_CHILD 4

extern char **environ;

const uint8_t dev_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
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
void log_wait2(struct vqd *d, const char *needle, const char *also)
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
		if (ntf_now_ms() > dl) {
			print_message("vqnetd stderr:\n%s\n", log ? log : "(none)");
			free(log);
			fail_msg("no log line with '%s'%s%s", needle, also ? " and " : "",
				 also ? also : "");
		}
		free(log);
		vqd_check_alive(d);
		ntf_sleep_ms(5);
	}
}

void log_wait(struct vqd *d, const char *needle)
{
	log_wait2(d, needle, NULL);
}

/* Spawn vqnetd on the fixture's socket with @extra arguments (NULL-ended)
 * and wait until it listens. */
void vqd_spawn(struct fx *x, const char *const *extra)
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
}

void vqd_start(struct fx *x, const char *const *extra)
{
	bool selftest = false;

	for (const char *const *a = extra; a && *a; a++)
		selftest |= !strcmp(*a, "--sandbox-selftest");
	vqd_spawn(x, extra);
	log_wait(&x->d, "listening on");
	/* Set up and confined (its set-up's transient fds closed), unless it
	 * is to die on purpose once confined; the mark stays after
	 * "listening on", so the lines in between can still be waited for. */
	if (!selftest) {
		size_t mark = x->d.log_mark;

		log_wait(&x->d, "vqnetd: ready");
		x->d.log_mark = mark;
	}
}

/* Send @sig and reap; return the wait status. SIGKILL after WAIT_MS. */
int vqd_signal_wait(struct vqd *d, int sig)
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

char *vqd_stderr(const struct vqd *d)
{
	return slurp(d->err, NULL);
}

/* SIGTERM: exit status 0 and the final counters on stdout. */
void vqd_term_ok(struct vqd *d)
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
struct qcount vqd_counters(struct vqd *d, unsigned q, unsigned pairs)
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
unsigned fd_count(pid_t pid)
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
void fd_wait(struct vqd *d, unsigned want)
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

/* Lines of /proc/@pid/maps containing @name. */
unsigned maps_count(pid_t pid, const char *name)
{
	char path[64], line[512];
	unsigned n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fp = fopen(path, "re");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, name) != NULL;
	fclose(fp);
	return n;
}

/* VmRSS of @pid in KiB. */
uint64_t rss_kib(pid_t pid)
{
	char path[64], line[256];
	uint64_t kib = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "re");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
			break;
	fclose(fp);
	assert_true(kib > 0);
	return kib;
}

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

int setup(void **state)
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

int teardown(void **state)
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

void fe_open(struct fx *x, const struct ntf_opts *o)
{
	ntf_open(&x->n, x->sock, o);
	x->n_open = true;
}

void fe_close(struct fx *x)
{
	ntf_close(&x->n);
	x->n_open = false;
}

/* ------------------------------------------------------------------------
 * Traffic helpers
 * ------------------------------------------------------------------------ */

/* Send one frame on @pair and get it back unchanged. */
void echo(struct ntf *n, unsigned pair, uint32_t len, uint32_t seq)
{
	uint8_t f[NTF_RX_SLOT], got[4 * NTF_RX_SLOT];

	ntf_rx_fill(n, pair);
	ntf_make_frame(f, len, dev_mac, peer_mac, seq);
	assert_true(ntf_tx_send(n, pair, f, len, NULL) >= 0);
	assert_int_equal(ntf_rx_recv(n, pair, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	ntf_tx_reap(n, pair, NULL, 0);
}

/* Take every completed receive chain of @pair without looking at it.
 * Return: how many. */
unsigned rx_discard(struct ntf *n, unsigned pair)
{
	struct ntf_rx *r = &n->rx[pair];
	unsigned got;

	ntf_rx_reap(n, pair);
	got = r->nused;
	for (unsigned i = 0; i < r->nused; i++)
		r->slot_busy &= ~(1ull << ((uintptr_t)r->used[i].token - 1));
	r->nused = 0;
	return got;
}

/* Post frames @*seq, @*seq + 1, ... on @pair until the ring or the slots
 * are full. Return: how many. */
unsigned tx_fill(struct ntf *n, unsigned pair, uint32_t *seq)
{
	uint8_t f[60];
	unsigned sent = 0;

	for (;;) {
		ntf_make_frame(f, sizeof(f), dev_mac, peer_mac, *seq);
		if (ntf_tx_send(n, pair, f, sizeof(f), NULL) < 0)
			return sent;
		(*seq)++;
		sent++;
	}
}

/* Traffic on @pair for @ms: the transmit ring kept full, receive buffers
 * kept posted, both reaped. Return: frames received. */
unsigned pump(struct ntf *n, unsigned pair, unsigned ms, uint32_t *seq)
{
	uint64_t dl = ntf_now_ms() + ms;
	unsigned got = 0;

	while (ntf_now_ms() < dl) {
		ntf_rx_fill(n, pair);
		tx_fill(n, pair, seq);
		ntf_tx_reap(n, pair, NULL, 0);
		got += rx_discard(n, pair);
	}
	return got;
}

/* Post frame @f (@len bytes) on @pair, reaping until a chain is free. */
static void send_when_free(struct ntf *n, unsigned pair, const uint8_t *f, uint32_t len,
			   uint64_t dl)
{
	while (ntf_tx_send(n, pair, f, len, NULL) < 0) {
		if (ntf_now_ms() > dl)
			fail_msg("no transmit chain came back");
		ntf_tx_reap(n, pair, NULL, 0);
		ntf_sleep_ms(1);
	}
}

/*
 * echo() after traffic was cut short or while it flows: the loop backend
 * may still hold frames of an old connection (skipped), the transmit ring
 * may be full (wait for a chain), and a full loop backend drops what comes
 * (sent again after ECHO_RETRY_MS without its echo; copies are skipped).
 */
#define ECHO_RETRY_MS 200u
void echo_skip(struct ntf *n, unsigned pair, uint32_t len, uint32_t seq)
{
	uint8_t f[NTF_RX_SLOT], got[4 * NTF_RX_SLOT];
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	int l;

	ntf_make_frame(f, len, dev_mac, peer_mac, seq);
	for (;;) {
		if (ntf_now_ms() > dl)
			fail_msg("frame %u never came back", seq);
		ntf_rx_fill(n, pair);
		send_when_free(n, pair, f, len, dl);
		do {
			ntf_rx_fill(n, pair);
			l = ntf_rx_recv(n, pair, got, ECHO_RETRY_MS);
		} while (l >= 0 && ntf_frame_seq(got) != seq);
		if (l >= 0)
			break;
	}
	assert_int_equal(l, (int)len);
	assert_memory_equal(got, f, len);
	ntf_tx_reap(n, pair, NULL, 0);
}

static void at_exit_kill(void)
{
	children_kill_all();
}

int vqnetd_fixture_init(int argc, char **argv)
{
	vqnetd_path = argc > 1 ? argv[1] : getenv("VQNETD");
	if (!vqnetd_path || access(vqnetd_path, X_OK) != 0) {
		fprintf(stderr, "usage: %s PATH-TO-VQNETD (or set VQNETD)\n", argv[0]);
		return 77; /* skipped */
	}
	atexit(at_exit_kill);
	return 0;
}

/* tcpdump's reading of the pcap file @path: the number of frames it shows
 * of @len bytes (all frames: 0), or -1 if tcpdump could not read it. */
int tcpdump_count(const char *path, unsigned len)
{
	char cmd[512], line[512], want[32];
	int n = 0, st;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "tcpdump -r '%s' -nn -e 2>/dev/null", path);
	snprintf(want, sizeof(want), "length %u:", len);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "ethertype") && (!len || strstr(line, want)))
			n++;
	st = pclose(p);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? n : -1;
}
