/* SPDX-License-Identifier: MIT */
/*
 * vqnetd (vqnetd_fixture.h has the daemon and the driver) against
 * frontends that try to hold its control thread or a worker
 * (docs/security.md "The control thread never waits for a frontend"):
 *
 *  - a frontend that stops half-way through a message header, or through
 *    its payload;
 *  - a frontend that sends a flood of requests and never reads a reply;
 *  - call and error eventfds that are blocking with their counters full,
 *    on a connection whose ring then breaks;
 *  - a guest that keeps queue pair 0's transmit ring full: pair 1 still
 *    echoes, GET_CONFIG is still answered promptly;
 *  - a guest that keeps its control queue full of bad commands: vhost-user
 *    requests are still answered promptly, the log stays bounded (one line
 *    a second per reason), SIGTERM still ends vqnetd within 1 s.
 *
 * In each: the stalled frontend is dropped at its stall limit (5 s) with
 * one log line, the next frontend is served, and SIGTERM sent while a
 * hostile frontend stalls ends vqnetd within 1 s. Before the control
 * socket was non-blocking, a half header held SIGTERM for as long as the
 * frontend stayed connected.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spec/vhost_user_msg.h"
#include "spec/virtio_ring.h"

#include "vqnetd_fixture.h"

/* SIGTERM must end vqnetd within this, whatever a frontend does. */
#define TERM_MS 1000u

/* A raw frontend: a connected socket and nothing else. */
static int raw_connect(const struct fx *x)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", x->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_send(int fd, const void *p, size_t len)
{
	assert_int_equal(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

static struct vhost_user_header get_features_hdr(void)
{
	return (struct vhost_user_header){.request = VHOST_USER_GET_FEATURES, .flags = 1};
}

/*
 * The next frontend is served: a new connection's GET_FEATURES gets its
 * reply (once vqnetd has dropped the stalled one, within its stall limit).
 */
static void next_frontend_served(const struct fx *x)
{
	struct vhost_user_header h = get_features_hdr();
	struct {
		struct vhost_user_header h;
		uint64_t features;
	} __attribute__((packed)) r;
	struct pollfd p;
	size_t got = 0;
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	int fd = raw_connect(x);

	raw_send(fd, &h, sizeof(h));
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	while (got < sizeof(r)) {
		if (ntf_now_ms() > dl)
			fail_msg("the next frontend got no reply");
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, (char *)&r + got, sizeof(r) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(r.h.request, VHOST_USER_GET_FEATURES);
	assert_true(r.h.flags & VHOST_USER_REPLY_MASK);
	assert_int_equal(r.h.size, 8);
	assert_true(r.features & (1ull << VIRTIO_F_VERSION_1));
	close(fd);
}

/* SIGTERM ends vqnetd, status 0, within TERM_MS. */
static void term_within_limit(struct vqd *d)
{
	uint64_t t0 = ntf_now_ms();
	int st = vqd_signal_wait(d, SIGTERM);
	uint64_t took = ntf_now_ms() - t0;

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (took > TERM_MS)
		fail_msg("SIGTERM took %llu ms (limit %u)", (unsigned long long)took, TERM_MS);
}

/* A frontend that stops after @len bytes of @msg. */
static void stall_after(struct fx *x, const void *msg, size_t len)
{
	int fd;

	vqd_start(x, NULL);
	fd = raw_connect(x);
	raw_send(fd, msg, len);
	next_frontend_served(x);
	log_wait(&x->d, "stopped half-way through a message");
	close(fd);

	/* Again, and SIGTERM while it stalls. */
	fd = raw_connect(x);
	raw_send(fd, msg, len);
	ntf_sleep_ms(100);
	term_within_limit(&x->d);
	close(fd);
}

static void test_half_header(void **state)
{
	struct vhost_user_header h = get_features_hdr();

	stall_after(*state, &h, 6);
}

static void test_half_payload(void **state)
{
	struct {
		struct vhost_user_header h;
		uint64_t features;
	} __attribute__((packed)) m = {
		.h = {.request = VHOST_USER_SET_FEATURES, .flags = 1, .size = 8},
		.features = 1ull << VIRTIO_F_VERSION_1,
	};

	stall_after(*state, &m, sizeof(m.h) + 3);
}

/* Up to @count GET_FEATURES without reading a reply; stops early when the
 * socket takes no more for 300 ms (vqnetd stopped reading: its replies
 * are not being read). Returns the number sent. */
static unsigned flood_unread(int fd, unsigned count)
{
	struct vhost_user_header h = get_features_hdr();
	unsigned sent = 0;
	uint64_t idle_since = ntf_now_ms();

	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while (sent < count) {
		ssize_t n = send(fd, &h, sizeof(h), MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(h)) {
			sent++;
			idle_since = ntf_now_ms();
			continue;
		}
		/* A partial header would leave the stream misaligned: the
		 * socket buffers are a multiple of 12 bytes away from that
		 * only by luck, so stop at the first short write. */
		if (n > 0)
			break;
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		if (ntf_now_ms() - idle_since > 300)
			break;
		ntf_sleep_ms(5);
	}
	return sent;
}

static void test_unread_replies(void **state)
{
	struct fx *x = *state;
	unsigned sent;
	int fd;

	vqd_start(x, NULL);
	fd = raw_connect(x);
	sent = flood_unread(fd, 100000);
	print_message("  %u requests sent, no reply read\n", sent);
	assert_true(sent >= 100); /* enough that the replies fill the socket */
	next_frontend_served(x);
	log_wait(&x->d, "stopped reading its replies");
	close(fd);

	fd = raw_connect(x);
	flood_unread(fd, 100000);
	term_within_limit(&x->d);
	close(fd);
}

/* Break transmitq 0 (queue 1) of a split ring: avail->idx jumps by more
 * than the queue size. */
static void break_txq0(struct ntf *n)
{
	struct virtq_avail *avail =
		(struct virtq_avail *)(n->shm.base + n->q[ntf_txq(0)].driver_off);
	uint16_t idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);

	uint64_t one = 1;

	__atomic_store_n(&avail->idx, (uint16_t)(idx + NTF_QSIZE + 7), __ATOMIC_RELEASE);
	/* A kick whether or not EVENT_IDX asks for one. */
	assert_int_equal(write(n->q[ntf_txq(0)].kick_fd, &one, sizeof(one)), sizeof(one));
}

static void test_full_blocking_eventfds(void **state)
{
	struct fx *x = *state;
	struct ntf_opts hostile = {.fmt = VQ_FORMAT_SPLIT,
				   .want = WANT_BASE,
				   .err_fds = true,
				   .full_blocking_efds = true};
	struct ntf_opts good = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};

	vqd_start(x, NULL);
	fe_open(x, &hostile);
	/* A frame out and back through loop (echo() reaps the used rings and
	 * never reads the call fds): its transmit and receive completions
	 * each made vqnetd signal a full, blocking call fd. */
	echo(&x->n, 0, 100, 1);
	break_txq0(&x->n);
	log_wait2(&x->d, "queue 1 broken", "not served");
	/* The control thread answers (SIGUSR1 counters); the error was
	 * counted although its eventfd could not be written. */
	assert_int_equal(vqd_counters(&x->d, 1, 1).errors, 1);
	/* Disconnecting stops (joins) the workers: none is stuck in write(). */
	fe_close(x);
	fe_open(x, &good);
	echo(&x->n, 0, 200, 2);
	fe_close(x);

	fe_open(x, &hostile);
	echo(&x->n, 0, 100, 3);
	break_txq0(&x->n);
	log_wait2(&x->d, "queue 1 broken", "not served");
	term_within_limit(&x->d);
	fe_close(x);
}

/*
 * A flood: a thread keeps ring @queue full, adding chains with @add (which
 * returns < 0 once the ring is full), kicking whatever EVENT_IDX says and
 * reposting each chain as it completes, until @stop.
 */
struct flood {
	struct ntf *n;
	unsigned queue;
	int (*add)(struct ntf *n, struct vq_drv *d, unsigned slot);
	atomic_bool stop;
	unsigned long completed;
};

static void *flood_main(void *p)
{
	struct flood *fl = p;
	struct ntf_queue *q = &fl->n->q[fl->queue];
	struct vq_drv_used u[NTF_QSIZE];
	uint64_t one = 1;

	for (unsigned slot = 0; !atomic_load(&fl->stop);) {
		int got;

		while (fl->add(fl->n, q->d, slot % NTF_QSIZE) >= 0)
			slot++;
		vq_drv_publish(q->d);
		if (write(q->kick_fd, &one, sizeof(one)) != sizeof(one))
			abort();
		got = vq_drv_reap(q->d, u, NTF_QSIZE);
		if (got < 0)
			abort();
		fl->completed += (unsigned)got;
		if (!got)
			sched_yield();
	}
	return NULL;
}

/* A control command of an unknown class, in control slot @slot. */
static int add_bad_command(struct ntf *n, struct vq_drv *d, unsigned slot)
{
	uint64_t off = NTF_CTRL_BASE + (uint64_t)slot * NTF_CTRL_SLOT;
	uint8_t *cmd = n->shm.base + off;
	struct vq_drv_buf b[2] = {{n->shm.gpa + off, 2}, {n->shm.gpa + off + NTF_CTRL_SLOT - 1, 1}};

	cmd[0] = 99; /* no such class */
	cmd[1] = 0;
	return vq_drv_add_chain(d, b, 1, 1, false, (void *)1);
}

/* The 60-byte frame prepared in pair 0's transmit slot @slot. */
static int add_tx_frame(struct ntf *n, struct vq_drv *d, unsigned slot)
{
	struct vq_drv_buf b = {n->shm.gpa + NTF_TX_BASE + (uint64_t)slot * NTF_TX_SLOT,
			       NTF_HDR + 60};

	return vq_drv_add_chain(d, &b, 1, 0, false, (void *)1);
}

/* Lines of vqnetd's stderr containing @needle. */
static unsigned log_count(const struct vqd *d, const char *needle)
{
	char line[512];
	unsigned count = 0;
	FILE *f = fopen(d->err, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		count += strstr(line, needle) != NULL;
	fclose(f);
	return count;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define FLOOD_PROBES 40u

static void test_ctrl_flood(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {
		.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE | F(VIRTIO_NET_F_CTRL_RX), .ctrl = true};
	struct flood fl = {.n = &x->n, .add = add_bad_command};
	uint64_t lat[FLOOD_PROBES], t0 = ntf_now_ms(), secs;
	struct virtio_net_config c;
	pthread_t th;
	unsigned lines;

	vqd_start(x, NULL);
	fe_open(x, &o);
	fl.queue = ntf_ctrlq(&x->n);
	assert_int_equal(pthread_create(&th, NULL, flood_main, &fl), 0);
	/* vhost-user requests while the flood runs: GET_CONFIG round trips. */
	for (unsigned i = 0; i < FLOOD_PROBES; i++) {
		uint64_t t = ntf_now_ms();

		assert_int_equal(vu_frontend_get_config(x->n.f, 0, &c, sizeof(c)), 0);
		lat[i] = ntf_now_ms() - t;
		ntf_sleep_ms(50);
	}
	qsort(lat, FLOOD_PROBES, sizeof(lat[0]), cmp_u64);
	print_message("  GET_CONFIG during the flood: median %llu ms, max %llu ms\n",
		      (unsigned long long)lat[FLOOD_PROBES / 2],
		      (unsigned long long)lat[FLOOD_PROBES - 1]);
	assert_true(lat[FLOOD_PROBES / 2] < 100);
	assert_true(lat[FLOOD_PROBES - 1] < 1000);
	/* The commands were served meanwhile, far more than one turn's
	 * budget, and refused. */
	assert_true(fl.completed > 1000);
	/* The log: one line a second for the reason, not one per command. */
	secs = (ntf_now_ms() - t0) / 1000 + 1;
	lines = log_count(&x->d, "unknown class");
	print_message("  %lu commands refused, %u log lines in %llu s\n", fl.completed, lines,
		      (unsigned long long)secs);
	assert_true(lines >= 1 && lines <= secs + 1);
	/* SIGTERM while the guest still floods. */
	term_within_limit(&x->d);
	atomic_store(&fl.stop, true);
	pthread_join(th, NULL);
	fe_close(x);
}

/* Pair 0's transmit slots, each holding a 60-byte frame (pair 0's
 * receive ring has no buffers: loop keeps or drops what comes back,
 * counted). */
static void prepare_tx_frames(struct ntf *n)
{
	for (unsigned i = 0; i < NTF_QSIZE; i++) {
		uint8_t *slot = n->shm.base + NTF_TX_BASE + (uint64_t)i * NTF_TX_SLOT;

		memset(slot, 0, NTF_HDR);
		ntf_make_frame(slot + NTF_HDR, 60, dev_mac, peer_mac, i);
	}
}

static void test_tx_flood_pair0(void **state)
{
	static const char *const q2[] = {"--queues", "2", NULL};
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT,
			     .want = WANT_BASE | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ),
			     .pairs = 2,
			     .ctrl = true};
	struct flood fl = {.n = &x->n, .queue = ntf_txq(0), .add = add_tx_frame};
	uint64_t lat[FLOOD_PROBES];
	struct virtio_net_config c;
	pthread_t th;

	vqd_start(x, q2);
	fe_open(x, &o);
	prepare_tx_frames(&x->n);
	assert_int_equal(pthread_create(&th, NULL, flood_main, &fl), 0);
	for (unsigned i = 0; i < FLOOD_PROBES; i++) {
		uint64_t t = ntf_now_ms();

		echo(&x->n, 1, 200, i);
		assert_int_equal(vu_frontend_get_config(x->n.f, 0, &c, sizeof(c)), 0);
		lat[i] = ntf_now_ms() - t;
		ntf_sleep_ms(20);
	}
	atomic_store(&fl.stop, true);
	pthread_join(th, NULL);
	qsort(lat, FLOOD_PROBES, sizeof(lat[0]), cmp_u64);
	print_message("  pair 1 echo + GET_CONFIG while pair 0 floods (%lu frames): median %llu "
		      "ms, max %llu ms\n",
		      fl.completed, (unsigned long long)lat[FLOOD_PROBES / 2],
		      (unsigned long long)lat[FLOOD_PROBES - 1]);
	assert_true(fl.completed > 10000);
	assert_true(lat[FLOOD_PROBES / 2] < 100);
	assert_true(lat[FLOOD_PROBES - 1] < 1000);
	fe_close(x);
	vqd_term_ok(&x->d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_half_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unread_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_blocking_eventfds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_flood_pair0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_flood, setup, teardown),
	};
	int rc = vqnetd_fixture_init(argc, argv);

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
