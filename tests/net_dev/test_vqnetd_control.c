/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's control socket through vqnetctl (docs/control.md), against a
 * running vqnetd (vqnetd_fixture.h: loop backend, a frontend in this test
 * moving frames so the counters are not zero):
 *  - status, stats (equal to what SIGUSR1 prints), metrics parsed by the
 *    Prometheus Python client's parser both from `vqnetctl metrics` and
 *    from --metrics-listen (check_metrics.py), values equal to stats;
 *  - status of every queue (running, broken with why after a corrupt
 *    ring), announce accepted with GUEST_ANNOUNCE;
 *  - link down drops frames (counted as link_down), link up resumes;
 *  - rate limits changed live (rate_limited grows, then off: frames flow);
 *  - log-level; --control none and PATH; the socket's mode is 0600;
 *  - bad requests (not JSON, unknown command, wrong types, a 1 MB line, a
 *    client that never reads its replies, one that never sends) get an
 *    error or a closed connection, and vqnetd still answers and stops
 *    within 1 s of SIGTERM;
 *  - vqnetctl's exit status: 0, 1 (vqnetd said no), 2 (bad arguments);
 *    stats --watch draws rates until SIGINT.
 * argv: vqnetd vqnetctl check_metrics.py
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spec/virtio_net.h"
#include "spec/virtio_ring.h"

#include "vqnetd_fixture.h"

#define TERM_MS 1000u /* SIGTERM to exit, with hostile clients connected */
#define SILENT	20u   /* clients that never send: more than vqnetd serves (16) */

extern char **environ;

static const char *vqnetctl_path, *checker_path;

/* A whole file (free it). */
static char *slurp_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Run @argv (NULL-ended) with stdout to @out_path; return its exit status
 * (-1 if it did not exit normally). Bounded by WAIT_MS. */
static int run(const char *const *argv, const char *out_path)
{
	posix_spawn_file_actions_t fa;
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	pid_t pid;
	int st;

	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, out_path,
							  O_WRONLY | O_CREAT | O_TRUNC, 0600),
			 0);
	assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, WNOHANG) != pid) {
		if (ntf_now_ms() > dl) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("%s did not finish", argv[0]);
		}
		ntf_sleep_ms(2);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* vqnetctl --socket SOCK @args...: exit status; stdout in *@out if not
 * NULL (free it). */
static int ctl(struct fx *x, char **out, ...)
{
	const char *argv[16] = {vqnetctl_path, "--socket", x->sock};
	unsigned argc = 3;
	char path[128];
	va_list ap;
	int rc;

	va_start(ap, out);
	while ((argv[argc] = va_arg(ap, const char *)))
		assert_true(++argc < 15);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/ctl.out", x->dir);
	rc = run(argv, path);
	if (out)
		*out = slurp_file(path);
	return rc;
}

/* `vqnetctl --socket SOCK link @state` while this frontend serves its
 * backend request channel (vqnetd waits for the config-change ack):
 * exit status, stdout in *@out (free it). */
static int ctl_link_served(struct fx *x, const char *state, char **out)
{
	const char *argv[] = {vqnetctl_path, "--socket", x->sock, "link", state, NULL};
	posix_spawn_file_actions_t fa;
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	char path[128];
	pid_t pid;
	int st;

	snprintf(path, sizeof(path), "%s/ctl.out", x->dir);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(
		posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
		0);
	assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, WNOHANG) != pid) {
		struct pollfd p = {.fd = vu_frontend_backend_req_fd(x->n.f), .events = POLLIN};

		if (ntf_now_ms() > dl) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("vqnetctl link did not finish");
		}
		if (poll(&p, 1, 5) == 1)
			assert_int_equal(vu_frontend_dispatch_backend_req(x->n.f), 0);
	}
	*out = slurp_file(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The link bit of the config space, as the driver would read it. */
static bool config_link_up(struct fx *x)
{
	uint16_t status;

	assert_int_equal(vu_frontend_get_config(x->n.f, offsetof(struct virtio_net_config, status),
						&status, sizeof(status)),
			 0);
	return le16toh(status) & VIRTIO_NET_S_LINK_UP;
}

/* `vqnetctl --json @cmd`, which must succeed, parsed. */
static struct json_object *ctl_json(struct fx *x, const char *cmd)
{
	char *out;
	struct json_object *r;

	assert_int_equal(ctl(x, &out, "--json", cmd, NULL), 0);
	r = json_tokener_parse(out);
	assert_non_null(r);
	free(out);
	return r;
}

static struct json_object *stats(struct fx *x)
{
	return ctl_json(x, "stats");
}

static uint64_t qfield(struct json_object *st, unsigned q, const char *key)
{
	struct json_object *qs, *o, *v;

	assert_true(json_object_object_get_ex(st, "queues", &qs));
	o = json_object_array_get_idx(qs, q);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_uint64(v);
}

static uint64_t qdrop(struct json_object *st, unsigned q, const char *reason)
{
	struct json_object *qs, *o, *d, *v;

	assert_true(json_object_object_get_ex(st, "queues", &qs));
	o = json_object_array_get_idx(qs, q);
	assert_true(json_object_object_get_ex(o, "drops", &d));
	assert_true(json_object_object_get_ex(d, reason, &v));
	return json_object_get_uint64(v);
}

/* Wait until queue @q's counter @key (a drop reason if @drop) reaches @min. */
static void stats_wait(struct fx *x, unsigned q, const char *key, bool drop, uint64_t min)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;

	for (;;) {
		struct json_object *st = stats(x);
		uint64_t v = drop ? qdrop(st, q, key) : qfield(st, q, key);

		json_object_put(st);
		if (v >= min)
			return;
		if (ntf_now_ms() > dl)
			fail_msg("queue %u %s stays at %" PRIu64 " (want %" PRIu64 ")", q, key, v,
				 min);
		ntf_sleep_ms(20);
	}
}

static void traffic(struct fx *x, unsigned frames)
{
	for (uint32_t i = 0; i < frames; i++)
		echo(&x->n, 0, 60 + (i * 131) % 1400, i);
}

/* status, stats equal to SIGUSR1's, metrics from vqnetctl and HTTP parsed
 * by the Prometheus client's parser and equal to stats, mode 0600. */
static void test_report(void **state)
{
	struct fx *x = *state;
	const char *extra[] = {"--metrics-listen", "127.0.0.1:0", NULL};
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	char path[160], url[96], spath[160], mpath[160], *out, *log, *p;
	struct json_object *st;
	struct qcount c;
	struct stat sb;
	unsigned port = 0;

	vqd_start(x, extra);
	snprintf(path, sizeof(path), "%s.ctl", x->sock);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	log = vqd_stderr(&x->d);
	p = strstr(log, "metrics on http://127.0.0.1:");
	assert_non_null(p);
	sscanf(p + strlen("metrics on http://127.0.0.1:"), "%u", &port);
	free(log);
	assert_true(port > 0);

	assert_int_equal(ctl(x, &out, "status", NULL), 0);
	assert_non_null(strstr(out, "frontend: not connected"));
	free(out);
	fe_open(x, &o);
	traffic(x, 200);
	assert_int_equal(ctl(x, &out, "status", NULL), 0);
	assert_non_null(strstr(out, "frontend: connected"));
	assert_non_null(strstr(out, "rxq0    running   split   64"));
	assert_non_null(strstr(out, "txq0    running   split   64"));
	assert_non_null(strstr(out, "features negotiated: MAC STATUS"));
	assert_non_null(strstr(out, "backend: loop"));
	assert_non_null(strstr(out, "sandbox on"));
	free(out);

	/* The same counters as SIGUSR1's (no traffic in between). */
	st = stats(x);
	c = vqd_counters(&x->d, 1, 1);
	assert_int_equal(qfield(st, 1, "packets"), c.packets);
	assert_int_equal(qfield(st, 1, "bytes"), c.bytes);
	assert_int_equal(c.packets, 200);
	c = vqd_counters(&x->d, 0, 1);
	assert_int_equal(qfield(st, 0, "packets"), c.packets);
	assert_int_equal(qfield(st, 0, "bytes"), c.bytes);
	assert_true(qfield(st, 1, "kicks") > 0);
	assert_true(qfield(st, 0, "notify_sent") + qfield(st, 0, "notify_suppressed") > 0);
	json_object_put(st);
	assert_int_equal(ctl(x, &out, "stats", NULL), 0);
	assert_non_null(strstr(out, "txq0"));
	assert_non_null(strstr(out, "backend q0:"));
	free(out);

	/* Metrics: the text from vqnetctl and from HTTP, against stats. */
	snprintf(spath, sizeof(spath), "%s/stats.json", x->dir);
	snprintf(mpath, sizeof(mpath), "%s/metrics.txt", x->dir);
	{
		const char *a1[] = {vqnetctl_path, "--socket", x->sock, "--json", "stats", NULL};
		const char *a2[] = {vqnetctl_path, "--socket", x->sock, "metrics", NULL};

		assert_int_equal(run(a1, spath), 0);
		assert_int_equal(run(a2, mpath), 0);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
	{
		const char *a[] = {"/usr/bin/python3", checker_path, spath, mpath, url, NULL};
		char cpath[160];

		snprintf(cpath, sizeof(cpath), "%s/check.out", x->dir);
		if (run(a, cpath) != 0) {
			out = slurp_file(cpath);
			print_message("%s", out);
			free(out);
			fail_msg("check_metrics.py failed (its line is on stderr)");
		}
	}
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* A string field of queue @q in a status reply. */
static const char *qstate(struct json_object *st, unsigned q, const char *key)
{
	struct json_object *qs, *o, *v;

	assert_true(json_object_object_get_ex(st, "queues", &qs));
	o = json_object_array_get_idx(qs, q);
	assert_non_null(o);
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *status(struct fx *x)
{
	return ctl_json(x, "status");
}

/* Two queue pairs and the control queue: announce accepted (the ANNOUNCE
 * bit in the config status), then a corrupted transmit ring shows as
 * broken, with why, while the others run. */
static void test_status_queues(void **state)
{
	struct fx *x = *state;
	static const char *const q2[] = {"--queues", "2", NULL};
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT,
			     .want = WANT_BASE | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) |
				     F(VIRTIO_NET_F_GUEST_ANNOUNCE),
			     .pairs = 2,
			     .ctrl = true,
			     .err_fds = true};
	struct ntf *n = &x->n;
	struct json_object *st, *dev, *v;
	struct virtq_avail *avail;
	uint64_t one = 1;
	uint16_t idx;
	char *out;

	vqd_start(x, q2);
	fe_open(x, &o);
	echo(n, 0, 100, 1);
	echo(n, 1, 100, 2);
	assert_int_equal(ctl(x, &out, "announce", NULL), 0);
	assert_non_null(strstr(out, "announce requested"));
	free(out);
	st = status(x);
	assert_true(json_object_object_get_ex(st, "device", &dev));
	assert_true(json_object_object_get_ex(dev, "config_status", &v));
	assert_true(json_object_get_int(v) & VIRTIO_NET_S_ANNOUNCE);
	assert_true(json_object_object_get_ex(dev, "queue_pairs", &v));
	assert_int_equal(json_object_get_int(v), 2);
	for (unsigned q = 0; q < 5; q++)
		assert_string_equal(qstate(st, q, "state"), "running");
	assert_string_equal(qstate(st, 4, "name"), "ctrlq");
	json_object_put(st);

	/* avail->idx jumps by more than the queue size (HOSTILE A1). */
	avail = (struct virtq_avail *)(n->shm.base + n->q[ntf_txq(0)].driver_off);
	idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);
	__atomic_store_n(&avail->idx, (uint16_t)(idx + NTF_QSIZE + 7), __ATOMIC_RELEASE);
	assert_int_equal(write(n->q[ntf_txq(0)].kick_fd, &one, 8), 8);
	assert_true(ntf_efd_wait(n->q[ntf_txq(0)].err_fd, WAIT_MS));
	log_wait2(&x->d, "queue 1 broken", "not served");
	st = status(x);
	assert_string_equal(qstate(st, 1, "state"), "broken");
	assert_non_null(qstate(st, 1, "why"));
	assert_string_equal(qstate(st, 3, "state"), "running");
	assert_string_equal(qstate(st, 0, "state"), "running");
	json_object_put(st);
	st = stats(x);
	assert_int_equal(qfield(st, 1, "errors"), 1);
	json_object_put(st);
	assert_int_equal(ctl(x, &out, "status", NULL), 0);
	assert_non_null(strstr(out, "txq0    broken    split   64"));
	free(out);
	echo(n, 1, 300, 3); /* pair 1 still moves frames */
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* link down: frames dropped both ways, counted; link up: they flow. */
static void test_link(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_PACKED, .want = WANT_BASE};
	uint8_t f[256];
	char *out;

	vqd_start(x, NULL);
	fe_open(x, &o);
	assert_int_equal(vu_frontend_open_backend_req(x->n.f), 0);
	traffic(x, 10);
	assert_true(config_link_up(x));
	assert_int_equal(ctl_link_served(x, "down", &out), 0);
	assert_non_null(strstr(out, "link down; the driver negotiated STATUS and was sent a "
				    "config-change notice"));
	free(out);
	assert_int_equal(vu_frontend_config_changes(x->n.f), 1);
	assert_false(config_link_up(x));
	assert_int_equal(ctl(x, &out, "status", NULL), 0);
	assert_non_null(strstr(out, "link down"));
	free(out);
	ntf_rx_fill(&x->n, 0);
	for (uint32_t i = 0; i < 5; i++) {
		ntf_make_frame(f, 100, dev_mac, peer_mac, 1000 + i);
		assert_true(ntf_tx_send(&x->n, 0, f, 100, NULL) >= 0);
	}
	stats_wait(x, 1, "link_down", true, 5);
	assert_int_equal(ctl_link_served(x, "up", &out), 0);
	free(out);
	assert_int_equal(vu_frontend_config_changes(x->n.f), 2);
	assert_true(config_link_up(x));
	while (ntf_tx_reap(&x->n, 0, NULL, 64))
		;
	traffic(x, 10); /* flows again, in order */
	fe_close(x);

	/* A frontend without a backend request channel, so without
	 * config-change notices (as QEMU's virtio-net): the reply says the
	 * driver cannot see it; frames still stop. */
	fe_open(x, &o);
	traffic(x, 2);
	assert_int_equal(ctl(x, &out, "link", "down", NULL), 0);
	assert_non_null(strstr(out, "the frontend takes no config-change notice"));
	free(out);
	ntf_make_frame(f, 100, dev_mac, peer_mac, 3000);
	assert_true(ntf_tx_send(&x->n, 0, f, 100, NULL) >= 0);
	stats_wait(x, 1, "link_down", true, 6);
	assert_int_equal(ctl(x, NULL, "link", "up", NULL), 0);
	while (ntf_tx_reap(&x->n, 0, NULL, 64))
		;
	traffic(x, 2);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* rate tx: the transmit queue waits for tokens (rate_limited grows, the
 * status shows the limit); off: frames flow at once again. */
static void test_rate(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	struct json_object *st;
	uint8_t f[256];
	char *out;
	uint64_t limited;

	vqd_start(x, NULL);
	fe_open(x, &o);
	traffic(x, 5);
	st = stats(x);
	limited = qfield(st, 1, "rate_limited");
	json_object_put(st);
	assert_int_equal(limited, 0);
	assert_int_equal(ctl(x, &out, "rate", "tx", ":1", NULL), 0); /* a frame a second */
	assert_non_null(strstr(out, "tx rate: 0 bytes/s, 1 packets/s"));
	free(out);
	assert_int_equal(ctl(x, &out, "status", NULL), 0);
	assert_non_null(strstr(out, "tx: 0 bytes/s (burst 0), 1 packets/s (burst 1)"));
	free(out);
	ntf_rx_fill(&x->n, 0);
	for (uint32_t i = 0; i < 20; i++) {
		ntf_make_frame(f, 100, dev_mac, peer_mac, 2000 + i);
		assert_true(ntf_tx_send(&x->n, 0, f, 100, NULL) >= 0);
	}
	stats_wait(x, 1, "rate_limited", false, 1);
	/* Bounded: the burst (1) and one a second went through, far
	 * fewer than 20 by the time the waiting was seen. */
	st = stats(x);
	assert_true(qfield(st, 1, "packets") < 5 + 20);
	json_object_put(st);
	assert_int_equal(ctl(x, &out, "rate", "tx", "off", NULL), 0);
	assert_non_null(strstr(out, "tx rate: no limit"));
	free(out);
	stats_wait(x, 1, "packets", false, 25); /* the rest goes at once */
	assert_int_equal(ctl(x, &out, "--json", "rate", "rx", "5M:1k", NULL), 0);
	assert_non_null(strstr(out, "\"ok\":true"));
	free(out);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* log-level: lines below the level stop, and come back. */
static void test_log_level(void **state)
{
	struct fx *x = *state;
	char *out, *log;

	vqd_start(x, NULL);
	assert_int_equal(ctl(x, &out, "log-level", "error", NULL), 0);
	assert_non_null(strstr(out, "log level error"));
	free(out);
	assert_int_equal(ctl(x, NULL, "link", "down", NULL), 0); /* an info line, not shown */
	assert_int_equal(ctl(x, NULL, "log-level", "info", NULL), 0);
	assert_int_equal(ctl(x, NULL, "link", "up", NULL), 0);
	log_wait(&x->d, "control: link up");
	log = vqd_stderr(&x->d);
	assert_null(strstr(log, "control: link down"));
	free(log);
	assert_int_equal(ctl(x, &out, "log-level", "loud", NULL), 1);
	free(out);
	vqd_term_ok(&x->d);
}

/* --control PATH and --control none. */
static void test_control_option(void **state)
{
	struct fx *x = *state;
	char path[160], sockctl[160], *out;
	const char *extra[] = {"--control", path, NULL};
	const char *none[] = {"--control", "none", NULL};
	struct stat sb;

	snprintf(path, sizeof(path), "%s/other.ctl", x->dir);
	snprintf(sockctl, sizeof(sockctl), "%s.ctl", x->sock);
	vqd_start(x, extra);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	{
		const char *a[] = {vqnetctl_path, "--control", path, "status", NULL};
		char o[160];

		snprintf(o, sizeof(o), "%s/o", x->dir);
		assert_int_equal(run(a, o), 0);
	}
	vqd_term_ok(&x->d);
	vqd_start(x, none);
	assert_int_equal(stat(sockctl, &sb), -1);
	assert_int_equal(ctl(x, &out, "status", NULL), 1); /* nobody there */
	free(out);
	vqd_term_ok(&x->d);
}

static int raw_connect(struct fx *x)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(strlen(x->sock) + 5 <= sizeof(sa.sun_path));
	memcpy(sa.sun_path, x->sock, strlen(x->sock));
	memcpy(sa.sun_path + strlen(x->sock), ".ctl", 5);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* One request on a fresh connection; the reply line (free it), or NULL if
 * the connection closed without one. */
static char *raw_request(struct fx *x, const char *req, size_t len)
{
	int fd = raw_connect(x);
	char *buf = calloc(1, 65536);
	size_t n = 0;

	assert_non_null(buf);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, req + off, len - off);

		if (w < 0)
			break; /* closed early: the reply may still be there */
		off += (size_t)w;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, 65535 - n);

		if (r <= 0 || memchr(buf + n, '\n', (size_t)r) || n + (size_t)r >= 65535)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf[0]) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Bad requests: errors or a closed connection; vqnetd goes on. */
static void test_bad_requests(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	static const char *const bad[][2] = {
		{"not json\n", "bad request: not JSON"},
		{"{\"cmd\":\"nope\"}\n", "unknown command 'nope'"},
		{"{\"cmd\":5}\n", "no \\\"cmd\\\" string"},
		{"[1,2]\n", "not a JSON object"},
		{"null\n", "not a JSON object"},
		{"\n", "bad request: not JSON (unexpected end of data)"},
		{"{\"cmd\":\"stat\n", "bad request: not JSON (unexpected end of data)"},
		{"{\"cmd\":\"stats\"} x\n", "bad request: not JSON"},
		{"{\"cmd\":\"link\",\"state\":true}\n", "\\\"state\\\" must be"},
		{"{\"cmd\":\"rate\",\"dir\":\"up\",\"rate\":\"1M\"}\n", "\\\"dir\\\" must be"},
		{"{\"cmd\":\"log-level\"}\n", "\\\"level\\\" must be"},
		{"{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]}\n", "bad request"},
	};
	char *r, *big, *out, byte;
	int silent[SILENT], unread;
	struct pollfd pfd;
	uint64_t t0;
	int st;

	vqd_start(x, NULL);
	fe_open(x, &o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = raw_request(x, bad[i][0], strlen(bad[i][0]));
		assert_non_null(r);
		if (!strstr(r, "{\"ok\":false,\"error\":") || !strstr(r, bad[i][1]))
			fail_msg("request %zu: reply %s", i, r);
		free(r);
	}
	/* A 1 MB line: an error reply, then the connection closes. */
	big = malloc(1u << 20);
	assert_non_null(big);
	memset(big, 'x', 1u << 20);
	r = raw_request(x, big, 1u << 20);
	free(big);
	assert_non_null(r);
	assert_non_null(strstr(r, "request longer than 65536 bytes"));
	free(r);
	/* Clients that never send (more than vqnetd serves at once), one that
	 * never reads its replies. */
	for (unsigned i = 0; i < SILENT; i++)
		silent[i] = raw_connect(x);
	unread = raw_connect(x);
	fcntl(unread, F_SETFL, O_NONBLOCK);
	for (unsigned i = 0; i < 100000; i++)
		if (write(unread, "{\"cmd\":\"metrics\"}\n", 18) < 0)
			break;
	/* Traffic and the control socket still go: the silent client idle
	 * longest made room. */
	traffic(x, 20);
	assert_int_equal(ctl(x, &out, "status", NULL), 0);
	free(out);
	pfd = (struct pollfd){.fd = silent[0], .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(read(silent[0], &byte, 1), 0);
	log_wait(&x->d, "control client dropped (its reply was not read)");
	close(unread);
	/* SIGTERM with the silent client still connected: out within 1 s. */
	t0 = ntf_now_ms();
	st = vqd_signal_wait(&x->d, SIGTERM);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(ntf_now_ms() - t0 < TERM_MS);
	for (unsigned i = 0; i < SILENT; i++)
		close(silent[i]);
	fe_close(x);
}

/* vqnetctl's exit status and one-line errors; stats --watch. */
static void test_vqnetctl(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	char path[160], *out;
	posix_spawn_file_actions_t fa;
	const char *argv[] = {vqnetctl_path, "--socket", x->sock, "stats", "--watch", "0.1", NULL};
	uint64_t dl;
	pid_t pid;
	int st;

	vqd_start(x, NULL);
	assert_int_equal(ctl(x, NULL, "frobnicate", NULL), 2);
	assert_int_equal(ctl(x, NULL, "link", NULL), 2);
	assert_int_equal(ctl(x, NULL, "rate", "sideways", "1M", NULL), 2);
	assert_int_equal(ctl(x, NULL, "stats", "--watch", "-1", NULL), 2);
	assert_int_equal(ctl(x, NULL, "--bogus", "status", NULL), 2);
	assert_int_equal(ctl(x, NULL, "rate", "tx", "fast", NULL), 1); /* vqnetd says no */
	assert_int_equal(ctl(x, NULL, "announce", NULL), 1);	       /* not negotiated */
	assert_int_equal(ctl(x, &out, "--version", NULL), 0);
	assert_non_null(strstr(out, "vqnetctl "));
	free(out);
	assert_int_equal(ctl(x, &out, "--help", NULL), 0);
	assert_non_null(strstr(out, "stats [--watch [SECONDS]]"));
	free(out);

	fe_open(x, &o);
	snprintf(path, sizeof(path), "%s/watch.out", x->dir);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(
		posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
		0);
	assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	dl = ntf_now_ms() + WAIT_MS;
	for (;;) {
		traffic(x, 5);
		out = slurp_file(path);
		if (strstr(out, "txq0") && strstr(strstr(out, "txq0") + 4, "txq0"))
			break; /* two tables drawn */
		free(out);
		if (ntf_now_ms() > dl) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("stats --watch drew no table");
		}
	}
	assert_non_null(strstr(out, "pps"));
	assert_non_null(strstr(out, "drops/s"));
	free(out);
	kill(pid, SIGINT);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* status's "capture" object (NULL: null, off); the reply in *@st (put it). */
static struct json_object *capture_status(struct fx *x, struct json_object **st)
{
	struct json_object *c = NULL;

	*st = ctl_json(x, "status");
	assert_true(json_object_object_get_ex(*st, "capture", &c));
	return c;
}

/*
 * `vqnetctl capture start NAME [--filter] / stop` with --capture-dir: a
 * capture started and stopped while frames flow, in a new file that
 * tcpdump reads, holding exactly the frames echoed while it ran and
 * passed the filter; status shows it; a second start, an existing name
 * (or a symbolic link planted there), a path out of the directory, a
 * filter libpcap refuses and a stop with none running are refused with
 * exit status 1; without --capture-dir nothing may be created. All of it
 * confined (Landlock and the control thread's seccomp list allow exactly
 * this file creation, docs/security.md).
 */
static void test_capture_runtime(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	char dir[96], file[128], link_path[128], *out;
	const char *argv[] = {"--capture-dir", dir, NULL};
	struct json_object *st, *c;

	if (system("tcpdump --version >/dev/null 2>&1") != 0)
		fail_msg("no tcpdump (scripts/deps.sh test installs it)");
	snprintf(dir, sizeof(dir), "%s/caps", x->dir);
	snprintf(file, sizeof(file), "%s/live.pcap", dir);
	snprintf(link_path, sizeof(link_path), "%s/planted.pcap", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(symlink("/etc/passwd", link_path), 0);
	vqd_start(x, argv);
	fe_open(x, &o);
	traffic(x, 4); /* before: not captured */
	assert_null(capture_status(x, &st));
	json_object_put(st);

	assert_int_equal(ctl(x, &out, "capture", "start", "live.pcap", "--filter", "greater 150",
			     "--snaplen", "96", NULL),
			 0);
	assert_non_null(strstr(out, "capturing to "));
	free(out);
	for (uint32_t i = 0; i < 6; i++)
		echo(&x->n, 0, i % 2 ? 100 : 200, i); /* three of 200 bytes, both ways */
	c = capture_status(x, &st);
	assert_non_null(c);
	assert_string_equal(json_object_get_string(json_object_object_get(c, "file")), file);
	assert_string_equal(json_object_get_string(json_object_object_get(c, "filter")),
			    "greater 150");
	json_object_put(st);
	assert_int_equal(ctl(x, NULL, "capture", "start", "other.pcap", NULL), 1);
	assert_int_equal(ctl(x, &out, "capture", "stop", NULL), 0);
	if (!strstr(out, "6 frames written, 6 filtered out, 0 dropped"))
		fail_msg("capture stop said: %s", out);
	free(out);
	traffic(x, 4); /* after: not captured */
	assert_int_equal(tcpdump_count(file, 0), 6);
	assert_int_equal(tcpdump_count(file, 200), 6);

	assert_int_equal(ctl(x, NULL, "capture", "stop", NULL), 1);
	assert_int_equal(ctl(x, NULL, "capture", "start", "live.pcap", NULL), 1);
	assert_int_equal(ctl(x, NULL, "capture", "start", "planted.pcap", NULL), 1);
	assert_int_equal(ctl(x, NULL, "capture", "start", "../escape.pcap", NULL), 1);
	assert_int_equal(ctl(x, NULL, "capture", "start", "f.pcap", "--filter", "tcp[", NULL), 1);
	assert_int_equal(ctl(x, NULL, "capture", "start", "f.pcap", "--snaplen", "0", NULL), 2);
	assert_int_equal(ctl(x, NULL, "capture", NULL), 2);
	assert_int_equal(access("/etc/passwd", R_OK), 0);
	/* The same name again once stopped is refused, a new one works. */
	assert_int_equal(ctl(x, NULL, "capture", "start", "second.pcap", NULL), 0);
	traffic(x, 2);
	fe_close(x);
	vqd_term_ok(&x->d); /* a running capture is closed at exit */
	snprintf(file, sizeof(file), "%s/second.pcap", dir);
	assert_int_equal(tcpdump_count(file, 0), 4);

	vqd_start(x, NULL);
	assert_int_equal(ctl(x, &out, "capture", "start", "none.pcap", NULL), 1);
	free(out);
	vqd_term_ok(&x->d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vqnetctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_runtime, setup, teardown),
	};
	int rc = vqnetd_fixture_init(argc, argv);

	if (rc)
		return rc;
	if (argc < 4) {
		fprintf(stderr, "usage: %s VQNETD VQNETCTL CHECK_METRICS_PY\n", argv[0]);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN); /* vqnetd closes on a 1 MB line: EPIPE, not death */
	vqnetctl_path = argv[2];
	checker_path = argv[3];
	if (access("/usr/bin/python3", X_OK) ||
	    system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null")) {
		fprintf(stderr, "python3-prometheus-client is missing (scripts/deps.sh test)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
