/* SPDX-License-Identifier: MIT */
/*
 * vqnetd (vqnetd_fixture.h has the daemon and the driver) through a
 * session's life: the frontend calls for error fds and the inflight
 * buffer, valid frames out and back on split and packed rings, then
 * disconnect and reconnect: the daemon's fd count returns to its value
 * before the connection; SIGTERM: exit status 0 and the final counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

#include "vqnetd_fixture.h"

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

/* --log-level debug: the set-up step by step — the features offered and
 * set, the memory table region by region, each ring's size, addresses,
 * base and fds — then frames go both ways as usual. */
static void test_debug_log(void **state)
{
	static const char *const debug[] = {"--log-level", "debug", NULL};
	static const char *const steps[][2] = {
		{"vhost-user: reply GET_FEATURES 0x", NULL},
		{"vhost-user: SET_FEATURES 0x", NULL},
		{"vhost-user: SET_MEM_TABLE 1 region(s): [gpa 0x", "(1 fd)"},
		{"vhost-user: SET_VRING_NUM queue 0 value ", NULL},
		{"vhost-user: SET_VRING_ADDR queue 0 flags 0x0 desc 0x", "used 0x"},
		{"vhost-user: SET_VRING_BASE queue 1 value ", NULL},
		{"vhost-user: SET_VRING_KICK queue 1 fd", "(1 fd)"},
	};
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	struct fx *x = *state;

	vqd_start(x, debug);
	fe_open(x, &o);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		log_wait2(&x->d, steps[i][0], steps[i][1]);
	echo(&x->n, 0, 200, 1);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* Every line of @log starts with a UTC timestamp (within a day of now)
 * and then "vqnetd: " (@stamped), or with "vqnetd: " (!@stamped). */
static void check_stamps(const char *log, bool stamped)
{
	time_t now = time(NULL);
	unsigned lines = 0;

	for (const char *l = log; *l; l = strchr(l, '\n') + 1, lines++) {
		struct tm tm = {0};
		const char *rest = l;
		int ms = -1, n = 0;

		assert_non_null(strchr(l, '\n'));
		if (stamped) {
			sscanf(l, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &tm.tm_year, &tm.tm_mon,
			       &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n);
			if (n != 25 || ms < 0)
				fail_msg("no timestamp: %.80s", l);
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
			if (labs((long)(timegm(&tm) - now)) > 86400)
				fail_msg("timestamp far from now: %.80s", l);
			rest = l + n;
		}
		if (strncmp(rest, "vqnetd: ", 8))
			fail_msg("line is not '%svqnetd: ...': %.80s", stamped ? "TIME " : "", l);
	}
	assert_true(lines >= 2);
}

/*
 * stderr lines carry a UTC timestamp to the millisecond, except when
 * stderr is the journal (JOURNAL_STREAM names its device and inode, as
 * systemd sets it): journald stamps lines itself.
 */
static void test_log_timestamps(void **state)
{
	struct fx *x = *state;
	char path[160], env[64], *log;
	struct stat st;
	int fd;

	vqd_start(x, NULL);
	vqd_term_ok(&x->d);
	log = vqd_stderr(&x->d);
	check_stamps(log, true);
	free(log);

	/* The next spawn's stderr file (vqnetd_fixture.c names it), made
	 * now so that its inode is known: the spawn truncates, keeps it. */
	snprintf(path, sizeof(path), "%s/err.%u", x->dir, x->spawned);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	vqd_start(x, NULL);
	unsetenv("JOURNAL_STREAM");
	vqd_term_ok(&x->d);
	log = vqd_stderr(&x->d);
	check_stamps(log, false);
	free(log);
}

/* Receive one datagram on @fd within WAIT_MS into @buf (NUL-ended). */
static bool syslog_recv(int fd, char *buf, size_t len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	n = recv(fd, buf, len - 1, 0);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* Wait for a syslog datagram containing @needle; fail after WAIT_MS. */
static void syslog_wait(int fd, const char *needle, char *buf, size_t len)
{
	while (syslog_recv(fd, buf, len)) {
		if (strstr(buf, needle))
			return;
		print_message("  syslog: %s\n", buf);
	}
	fail_msg("no syslog line with '%s'", needle);
}

/*
 * --log-target syslog:PATH: lines arrive as RFC 3164 datagrams (facility
 * daemon, severity of the level, vqnetd[PID]), from the control thread
 * and from a queue-pair worker (a broken ring) under its seccomp list,
 * through the socket connected at set-up; nothing goes to stderr.
 */
static void test_syslog(void **state)
{
	struct fx *x = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char target[160], want[64], buf[1200];
	const char *argv[] = {"--log-target", target, NULL};
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct virtq_avail *avail;
	char *err;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/log", x->dir);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(target, sizeof(target), "syslog:%s", sa.sun_path);
	vqd_spawn(x, argv);
	snprintf(want, sizeof(want), "vqnetd[%d]: listening on", (int)x->d.pid);
	syslog_wait(fd, want, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, "<30>", 4), 0); /* daemon.info */
	syslog_wait(fd, "]: ready", buf, sizeof(buf));
	fe_open(x, &o);
	echo(&x->n, 0, 100, 1);
	/* A worker's line: transmit ring 0's index jumps past the ring. */
	avail = (struct virtq_avail *)(x->n.shm.base + x->n.q[ntf_txq(0)].driver_off);
	__atomic_store_n(&avail->idx, (uint16_t)(avail->idx + NTF_QSIZE + 7), __ATOMIC_RELEASE);
	assert_int_equal(write(x->n.q[ntf_txq(0)].kick_fd, &(uint64_t){1}, 8), 8);
	syslog_wait(fd, "queue 1 broken", buf, sizeof(buf));
	assert_true(!strncmp(buf, "<27>", 4) || !strncmp(buf, "<28>", 4)); /* err or warning */
	fe_close(x);
	vqd_term_ok(&x->d);
	err = vqd_stderr(&x->d);
	assert_string_equal(err, "");
	free(err);
	close(fd);
}

/* vqnetd with @argv: five frames echoed, 200 and 100 bytes in turn, then
 * SIGTERM. */
static void capture_run(struct fx *x, const char *const *argv)
{
	struct ntf_opts o = {.fmt = VQ_FORMAT_PACKED, .want = WANT_BASE};

	vqd_start(x, argv);
	fe_open(x, &o);
	for (uint32_t i = 0; i < 5; i++)
		echo(&x->n, 0, i % 2 ? 100 : 200, i);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/*
 * --capture FILE: the frames of both directions in a pcap file that
 * tcpdump reads (each echoed frame twice: from the guest, then back to
 * it), only those --capture-filter lets through, and no more than
 * --capture-max-bytes allows; vqnetd confined all along (the writer runs
 * in its own seccomp list).
 */
static void test_capture(void **state)
{
	struct fx *x = *state;
	char file[128], filtered[128];
	const char *argv[] = {"--capture", file, NULL};
	const char *argv_filter[] = {
		"--capture", filtered, "--capture-filter", "greater 150", "--capture-max-bytes",
		"1000",	     NULL};
	char *log;

	if (system("tcpdump --version >/dev/null 2>&1") != 0) {
		print_message("  no tcpdump: skipped\n");
		return;
	}
	snprintf(file, sizeof(file), "%s/all.pcap", x->dir);
	snprintf(filtered, sizeof(filtered), "%s/big.pcap", x->dir);
	capture_run(x, argv);
	assert_int_equal(tcpdump_count(file, 0), 10);
	assert_int_equal(tcpdump_count(file, 200), 6);

	capture_run(x, argv_filter);
	log = vqd_stderr(&x->d);
	if (!strstr(log, "4 frames written, 4 filtered out, 0 dropped (ring full), "
			 "2 past --capture-max-bytes"))
		fail_msg("no capture summary line:\n%s", log);
	free(log);
	/* 24 + 4 * (16 + 200) <= 1000: four of the six 200-byte frames */
	assert_int_equal(tcpdump_count(filtered, 0), 4);
	assert_int_equal(tcpdump_count(filtered, 200), 4);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frontend_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syslog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_timestamps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture, setup, teardown),
	};
	int rc = vqnetd_fixture_init(argc, argv);

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
