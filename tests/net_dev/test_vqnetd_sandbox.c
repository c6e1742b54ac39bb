/* SPDX-License-Identifier: MIT */
/*
 * vqnetd (vqnetd_fixture.h has the daemon and the driver) confines itself
 * once set up (daemon/sandbox.c, docs/security.md "Confinement"): with
 * every backend, every thread of a running vqnetd serving a frontend (the
 * main thread, the queue-pair workers, the slirp backend's libslirp thread)
 * shows NoNewPrivs: 1, Seccomp: 2 (a filter) and no effective, permitted
 * or bounding capability in /proc, and the process is not dumpable (its
 * /proc files belong to root). --sandbox off keeps the privileges; --user
 * switches to another account. The privilege checks need root (as the
 * suite runs); without it they are skipped.
 *
 * The filters are allow-lists per thread kind (daemon/sysfilter.c): the
 * self-tests (--sandbox-selftest) make the control thread and the slirp
 * thread call execve once confined, and a queue pair's worker call
 * memfd_create (which the control list allows), and vqnetd
 * must die of SIGSYS with a line naming the thread and the call; the
 * Landlock self-test has the slirp thread (which may open files as far as
 * seccomp goes) find /etc/passwd refused and /etc/resolv.conf readable.
 * Every other test of the suite runs vqnetd confined, so a call missing
 * from a list fails the test that makes it; the paths tests make the calls
 * of a guest's UDP, TCP, ping and a port forward under the user backend
 * (the workers' host-socket list) and the slirp backend (the slirp
 * thread's list).
 */
#include <dirent.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <vqnet/vnet_drv.h>

#include "inet_frame.h"
#include "vqnetd_fixture.h"

/* The value of @key in the /proc status file at @path. */
static bool status_value(const char *path, const char *key, char *val, size_t len)
{
	char line[256];
	size_t klen = strlen(key);
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		snprintf(val, len, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
		val[strcspn(val, "\n")] = '\0';
		found = true;
	}
	fclose(f);
	return found;
}

/* The value of @key in /proc/@pid/task/@tid/status (@tid NULL: the
 * process's own status). */
static bool task_status(pid_t pid, const char *tid, const char *key, char *val, size_t len)
{
	char path[320];

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return status_value(path, key, val, len);
}

/* Every thread of @pid: @key is @want. Returns the number of threads. */
static unsigned all_tasks(pid_t pid, const char *key, const char *want)
{
	char path[64], val[128];
	unsigned n = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		if (!task_status(pid, e->d_name, key, val, sizeof(val)))
			continue; /* the thread just ended */
		if (strcmp(val, want))
			fail_msg("thread %s: %s: %s, want %s", e->d_name, key, val, want);
		n++;
	}
	closedir(dir);
	return n;
}

/* vqnetd with @extra arguments, a frontend attached (so the workers run),
 * every thread confined. */
static void confined(struct fx *x, const char *const *extra, unsigned min_threads)
{
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	static const char *const keys[][2] = {
		{"NoNewPrivs", "1"},
		{"Seccomp", "2"},
		{"CapEff", "0000000000000000"},
		{"CapPrm", "0000000000000000"},
		{"CapInh", "0000000000000000"},
		{"CapBnd", "0000000000000000"},
		{"CapAmb", "0000000000000000"},
	};
	struct stat st;
	char path[64];
	unsigned n = 0;

	vqd_start(x, extra);
	fe_open(x, &o);
	/* vqd_start() waited for "ready": every thread is in its filter */
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		n = all_tasks(x->d.pid, keys[i][0], keys[i][1]);
	print_message("  %s: %u threads confined\n", extra ? extra[1] : "loop", n);
	assert_true(n >= min_threads);
	/* Not dumpable: the kernel gives its /proc files to root. */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)x->d.pid);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	fe_close(x);
	vqd_term_ok(&x->d);
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("  not root: nothing to drop, skipped\n");
	return false;
}

static void test_backends(void **state)
{
	static const char *const user[] = {"--backend", "user", NULL};
	static const char *const slirp[] = {"--backend", "slirp", NULL};
	static const char *const sink[] = {"--backend", "sink", NULL};
	static const char *const gen[] = {"--backend", "gen", NULL};
	static const char *const dgram[] = {"--backend", "dgram:127.0.0.1:47611,127.0.0.1:47612",
					    NULL};
	struct fx *x = *state;

	if (!need_root())
		return;
	confined(x, NULL, 2);  /* loop: main + the pair's worker */
	confined(x, user, 2);  /* host sockets from the workers themselves */
	confined(x, slirp, 3); /* + the slirp thread, started after the sandbox */
	confined(x, sink, 2);
	confined(x, gen, 2);
	confined(x, dgram, 2);
}

static void test_tap(void **state)
{
	char spec[32];
	const char *const tap[] = {"--backend", spec, NULL};

	if (!need_root() || access("/dev/net/tun", R_OK | W_OK)) {
		print_message("  no root or no /dev/net/tun: skipped\n");
		return;
	}
	/* The TAP is created with the start's rights, then they are dropped. */
	snprintf(spec, sizeof(spec), "tap:vqsbx%d", (int)getpid() % 100000);
	confined(*state, tap, 2);
}

/* --sandbox off keeps root's capabilities; --user switches the account. */
static void test_off_and_user(void **state)
{
	static const char *const off[] = {"--sandbox", "off", NULL};
	static const char *const nobody[] = {"--user", "nobody", NULL};
	struct fx *x = *state;
	char val[128];

	if (!need_root())
		return;
	vqd_start(x, off);
	log_wait(&x->d, "sandbox: off");
	assert_true(task_status(x->d.pid, NULL, "NoNewPrivs", val, sizeof(val)));
	assert_string_equal(val, "0");
	assert_true(task_status(x->d.pid, NULL, "CapEff", val, sizeof(val)));
	assert_string_not_equal(val, "0000000000000000");
	vqd_term_ok(&x->d);

	vqd_start(x, nobody);
	log_wait(&x->d, "sandbox: uid 65534");
	assert_true(task_status(x->d.pid, NULL, "Uid", val, sizeof(val)));
	assert_int_equal(strncmp(val, "65534", 5), 0);
	vqd_term_ok(&x->d);
}

/* vqnetd with --sandbox-selftest @kind (and @backend): once the thread
 * @thread is confined it makes the forbidden @call, and vqnetd dies of
 * SIGSYS saying so. A worker starts with a driver's rings (vnet_drv_open, which fails
 * when vqnetd dies under it). */
static void selftest_dies(struct fx *x, const char *kind, const char *backend, const char *thread,
			  const char *call)
{
	const char *const argv[] = {"--backend", backend, "--sandbox-selftest", kind, NULL};
	struct vnet_drv_config dc = {.socket_path = x->sock, .connect_timeout_ms = 2000};
	struct vnet_drv *drv = NULL;
	char want[128], *log;
	int st;

	vqd_start(x, argv);
	if (!strcmp(kind, "worker") && vnet_drv_open(&dc, &drv) == 0)
		vnet_drv_close(drv);
	st = vqd_signal_wait(&x->d, 0);
	log = vqd_stderr(&x->d);
	snprintf(want, sizeof(want), "thread %s made a forbidden system call: %s", thread, call);
	print_message("  %s: %s\n", kind,
		      WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited, not killed");
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS || !strstr(log, want))
		fail_msg("--sandbox-selftest %s: status 0x%x, want SIGSYS and '%s'; stderr:\n%s",
			 kind, (unsigned)st, want, log);
	free(log);
}

static void test_forbidden_calls(void **state)
{
	struct fx *x = *state;

	if (!need_root())
		return;
	selftest_dies(x, "control", "loop", "vqnetd", "execve");
	/* allowed by the control list the worker inherits: its own stops it */
	selftest_dies(x, "worker", "loop", "vqnet-pair0", "memfd_create");
	selftest_dies(x, "slirp", "slirp", "vqnet-slirp", "execve");
}

static void test_landlock(void **state)
{
	static const char *const argv[] = {"--backend", "slirp", "--sandbox-selftest", "landlock",
					   NULL};
	struct fx *x = *state;
	char *log;
	int st;

	if (!need_root())
		return;
	vqd_start(x, argv);
	st = vqd_signal_wait(&x->d, 0);
	log = vqd_stderr(&x->d);
	if (strstr(log, "no Landlock in this kernel")) {
		print_message("  no Landlock in this kernel: skipped\n");
		free(log);
		return;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
	    !strstr(log, "self-test: landlock: /etc/passwd Permission denied"))
		fail_msg("landlock self-test: status 0x%x; stderr:\n%s", (unsigned)st, log);
	free(log);
}

/* ---- a guest's flows under the user workers' and the slirp thread's lists */

#define PATH_WAIT_MS 5000

/* A loopback socket of @type on a port the kernel picks: the fd, and the
 * port in *@port. */
static int loopback_socket(int type, uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/* Send @len bytes of @frame as the guest on pair 0. */
static void guest_send(struct vnet_drv *drv, const uint8_t *frame, size_t len)
{
	struct vnet_drv_pkt *pkt;

	assert_int_equal(vnet_drv_pkt_from_frame(drv, 0, frame, len, &pkt), 0);
	assert_int_equal(vnet_drv_tx_burst(drv, 0, &pkt, 1), 1);
}

/* Wait for a frame to the guest of IPv4 protocol @proto, or an ARP
 * request: true if one came within PATH_WAIT_MS. */
static bool guest_got(struct vnet_drv *drv, int proto)
{
	uint64_t deadline = ntf_now_ms() + PATH_WAIT_MS;
	uint8_t buf[2048];

	while (ntf_now_ms() < deadline) {
		struct vnet_drv_pkt *pkts[8];
		unsigned n;
		bool hit = false;

		vnet_drv_tx_reap(drv, 0);
		vnet_drv_rx_wait(drv, 0, 100);
		n = vnet_drv_rx_burst(drv, 0, pkts, 8);
		for (unsigned i = 0; i < n; i++) {
			size_t len = vnet_drv_pkt_to_frame(pkts[i], buf, sizeof(buf));

			int p = inet_frame_proto(buf, len < sizeof(buf) ? len : sizeof(buf));

			hit |= p == proto || p == -2;
		}
		vnet_drv_pkt_free_bulk(pkts, n);
		if (hit)
			return true;
	}
	return false;
}

/*
 * A backend's list against what it calls for a guest (@backend: "slirp",
 * the slirp thread's list and libslirp; "user", the workers' host-socket
 * list): a UDP datagram and a TCP connection to the host's loopback
 * (socket, sendto, connect), an echo request (a ping socket, or what
 * libslirp falls back to), a port forward a host program connects to
 * (accept, then a SYN to the guest). Each reaches the other side, and
 * vqnetd, confined, stops cleanly at the end: a call missing from the
 * list would have killed it.
 */
static void backend_paths(struct fx *x, const char *backend)
{
	/* the gateway's MAC, the same in both */
	static const uint8_t gw_mac[6] = {0x52, 0x55, 10, 0, 2, 2};
	struct inet_ends e = {.src_ip = {10, 0, 2, 15}, .dst_ip = {10, 0, 2, 2}};
	struct vnet_drv_config dc = {.socket_path = x->sock};
	struct vnet_drv *drv;
	uint16_t udp_port, tcp_port, fwd_port;
	int us = loopback_socket(SOCK_DGRAM, &udp_port);
	int ts = loopback_socket(SOCK_STREAM, &tcp_port);
	int fs = loopback_socket(SOCK_STREAM, &fwd_port), c;
	char fwd[64], got[16];
	const char *argv[] = {"--backend", backend, "--hostfwd", fwd, NULL};
	uint8_t f[256];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	close(fs); /* the port was free a moment ago: vqnetd forwards it */
	snprintf(fwd, sizeof(fwd), "tcp:127.0.0.1:%u:22", fwd_port);
	memcpy(e.src_mac, dev_mac, 6);
	memcpy(e.dst_mac, gw_mac, 6);
	vqd_start(x, argv);
	assert_int_equal(vnet_drv_open(&dc, &drv), 0);

	guest_send(drv, f, inet_frame_udp(f, &e, 40000, udp_port, "sandbox", 7));
	assert_true(readable(us, PATH_WAIT_MS));
	assert_int_equal(recv(us, got, sizeof(got), 0), 7);

	guest_send(drv, f, inet_frame_tcp(f, &e, 40001, tcp_port, 1000, 0, INET_TCP_SYN));
	assert_true(readable(ts, PATH_WAIT_MS));
	c = accept(ts, NULL, NULL);
	assert_true(c >= 0);
	close(c);

	guest_send(drv, f, inet_frame_icmp_echo(f, &e, 7, 1));

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	to.sin_port = htons(fwd_port);
	connect(c, (struct sockaddr *)&to, sizeof(to)); /* EINPROGRESS */
	/* The backend accepts and opens the connection to the guest: a SYN,
	 * or (libslirp) an ARP request first if it does not know the guest's
	 * MAC yet. */
	assert_true(guest_got(drv, 6));
	close(c);

	vnet_drv_close(drv);
	close(us);
	close(ts);
	vqd_term_ok(&x->d);
	print_message("  %s: udp, tcp, ping and a port forward served confined\n", backend);
}

static void test_user_paths(void **state)
{
	backend_paths(*state, "user");
}

static void test_slirp_paths(void **state)
{
	backend_paths(*state, "slirp");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_off_and_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forbidden_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_landlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_paths, setup, teardown),
	};
	int rc = vqnetd_fixture_init(argc, argv);

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
