/* SPDX-License-Identifier: MIT */
/*
 * vqnetd (vqnetd_fixture.h has the daemon and the driver) through the
 * lifecycle events a guest or a frontend can cause, one test per row of
 * docs/security.md ("Hostile inputs and the tests that prove them"):
 *
 *  G1  the frontend disconnects in the middle of traffic: the daemon lets
 *      go of guest memory (no mapping of it left, nothing written into it
 *      afterwards), holds the fds it held before, and serves the next
 *      frontend;
 *  G2  a frontend reconnects with SET_VRING_BASE = used->idx behind what
 *      the daemon had processed: those chains are processed again (their
 *      frames sent again), nothing of the old ring state is reused, the
 *      driver never sees a completion it did not expect, traffic goes on;
 *  G4  SIGTERM while both queue pairs carry traffic: exit status 0 within
 *      1 s, final counters printed (the socket file stays: vqnetd may
 *      not touch the filesystem by then, docs/security.md);
 *  G6  the guest's receive ring is full while the backend's backlog grows,
 *      then the guest returns its buffers: the backlog arrives in order,
 *      and again, split and packed (no freeze);
 *  G8  the guest keeps every transmit chain in flight and never takes a
 *      used buffer, re-posting chains as they complete: the ring never
 *      breaks, receive completions stop at what was posted, and the
 *      daemon's memory, fds and mappings stay flat.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/virtio_net.h"
#include "spec/virtio_ring.h"

#include "vqnetd_fixture.h"

#define TERM_MS	   1000u /* SIGTERM must end vqnetd within this */
#define FRAME_LEN  60u	 /* what tx_fill() sends */
#define LOOP_SLOTS 256u	 /* frames the loop backend keeps per pair (lib/netbe/loop.c) */

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static uint16_t used_idx(const struct ntf *n, unsigned q)
{
	const struct virtq_used *u = (const void *)(n->shm.base + n->q[q].device_off);

	return le16toh(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE));
}

static void used_idx_set(struct ntf *n, unsigned q, uint16_t idx)
{
	struct virtq_used *u = (void *)(n->shm.base + n->q[q].device_off);

	__atomic_store_n(&u->idx, htole16(idx), __ATOMIC_RELEASE);
}

/* Wait until split ring @q's used->idx is @want. */
static void used_idx_wait(const struct ntf *n, unsigned q, uint16_t want)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;

	while (used_idx(n, q) != want) {
		if (ntf_now_ms() > dl)
			fail_msg("queue %u: used->idx %u, expected %u", q, used_idx(n, q), want);
		ntf_sleep_ms(1);
	}
}

/* Signal eventfd @fd (a kick the device may or may not have asked for). */
static void kick_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* Traffic on pair 0 until at least @frames came back (no time bound: a
 * loaded machine only makes it slower). */
static void traffic(struct ntf *n, unsigned frames, uint32_t *seq)
{
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	unsigned got = 0;

	while (got < frames) {
		if (ntf_now_ms() > dl)
			fail_msg("%u frames came back of %u", got, frames);
		got += pump(n, 0, 5, seq);
	}
}

/* Receive one frame on @pair: it is frame @seq of FRAME_LEN bytes. */
static void expect_frame(struct ntf *n, unsigned pair, uint32_t seq)
{
	uint8_t want[FRAME_LEN], got[4 * NTF_RX_SLOT];
	int len = ntf_rx_recv(n, pair, got, WAIT_MS);

	if (len < 0)
		fail_msg("frame %u never arrived", seq);
	ntf_make_frame(want, FRAME_LEN, dev_mac, peer_mac, seq);
	assert_int_equal(len, FRAME_LEN);
	if (ntf_frame_seq(got) != seq)
		fail_msg("frame %u arrived where %u was expected", ntf_frame_seq(got), seq);
	assert_memory_equal(got, want, FRAME_LEN);
}

/* ------------------------------------------------------------------------
 * G1: disconnect in the middle of traffic
 * ------------------------------------------------------------------------ */

#define G1_ROUNDS 16u

static void test_g1_disconnect_mid_traffic(void **state)
{
	struct fx *x = *state;
	static uint8_t snap[NTF_SHM_SIZE];
	uint32_t seq = 0;
	unsigned idle;

	vqd_start(x, NULL);
	idle = fd_count(x->d.pid);
	for (unsigned round = 0; round < G1_ROUNDS; round++) {
		struct ntf_opts o = {.fmt = round & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT,
				     .want = WANT_BASE |
					     (round & 2 ? F(VIRTIO_NET_F_MRG_RXBUF) : 0)};

		fe_open(x, &o);
		assert_true(maps_count(x->d.pid, "vqnet-shm") > 0);
		traffic(&x->n, 64 + 64 * (round % 4), &seq);
		/* Leave with the transmit ring full and receive buffers
		 * posted: the worker is busy with them. */
		ntf_rx_fill(&x->n, 0);
		tx_fill(&x->n, 0, &seq);
		ntf_disconnect(&x->n);
		log_wait(&x->d, "frontend disconnected");
		/* Guest memory let go, fds back to the idle count. */
		assert_int_equal(maps_count(x->d.pid, "vqnet-shm"), 0);
		fd_wait(&x->d, idle);
		/* Nothing writes guest memory any more, kicks or not. */
		memcpy(snap, x->n.shm.base, NTF_SHM_SIZE);
		for (unsigned q = 0; q < x->n.nq; q++)
			kick_fd(x->n.q[q].kick_fd);
		ntf_sleep_ms(50);
		assert_memory_equal(snap, x->n.shm.base, NTF_SHM_SIZE);
		fe_close(x);
	}
	print_message("  %u disconnects in the middle of %u frames\n", G1_ROUNDS, seq);
	/* The next frontend is served. */
	fe_open(x, &(struct ntf_opts){.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE});
	for (uint32_t i = 0; i < 10; i++)
		echo_skip(&x->n, 0, 100 + i, 0x80000000u + i);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* ------------------------------------------------------------------------
 * G2: reconnect with a ring base behind what was processed
 * ------------------------------------------------------------------------ */

#define G2_SENT	  40u
#define G2_BEHIND 5u

static void test_g2_reconnect_base_behind(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	unsigned tx = ntf_txq(0);
	uint32_t seq = 0;
	struct qcount c;

	vqd_start(x, NULL);
	fe_open(x, &o);
	/* G2_SENT frames, each its own chain and slot (none reaped before
	 * all came back), so the chains taken back below are distinct. */
	ntf_rx_fill(&x->n, 0);
	for (; seq < G2_SENT; seq++) {
		uint8_t f[FRAME_LEN];

		ntf_make_frame(f, FRAME_LEN, dev_mac, peer_mac, seq);
		assert_true(ntf_tx_send(&x->n, 0, f, FRAME_LEN, NULL) >= 0);
	}
	for (uint32_t i = 0; i < G2_SENT; i++)
		expect_frame(&x->n, 0, i);
	used_idx_wait(&x->n, tx, G2_SENT);
	assert_int_equal(ntf_tx_reap(&x->n, 0, NULL, 0), G2_SENT);
	/* The frontend goes, and comes back believing the last G2_BEHIND
	 * completions never happened (a crash between processing and
	 * publishing looks the same): it restarts transmitq 0 at used->idx
	 * (ntf_reconnect(), vhost-user.rst), G2_BEHIND behind. */
	ntf_disconnect(&x->n);
	log_wait(&x->d, "frontend disconnected");
	assert_int_equal(used_idx(&x->n, tx), G2_SENT);
	used_idx_set(&x->n, tx, G2_SENT - G2_BEHIND);
	ntf_rx_fill(&x->n, 0);
	ntf_reconnect(&x->n);
	/* Those chains are processed again: their frames come back once
	 * more, in order, and used->idx is where it was. */
	for (uint32_t k = 0; k < G2_BEHIND; k++)
		expect_frame(&x->n, 0, G2_SENT - G2_BEHIND + k);
	used_idx_wait(&x->n, tx, G2_SENT);
	/* The driver had reaped them all: nothing new for it (a stale or
	 * doubled completion would break its ring here). */
	assert_int_equal(ntf_tx_reap(&x->n, 0, NULL, 0), 0);
	/* Traffic goes on. */
	for (uint32_t i = 0; i < 20; i++)
		echo(&x->n, 0, 100 + i, 1000 + i);
	c = vqd_counters(&x->d, tx, 1);
	print_message("  txq0: packets=%" PRIu64 " errors=%" PRIu64 "\n", c.packets, c.errors);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.bad_chain, 0);
	assert_int_equal(c.packets, G2_SENT + G2_BEHIND + 20);

	/* And in the middle of traffic: the chains the daemon held when the
	 * frontend went are processed in the new session, each completed
	 * exactly once. */
	for (unsigned round = 0; round < 8; round++) {
		uint64_t dl;

		traffic(&x->n, 64 + 32 * round, &seq);
		ntf_rx_fill(&x->n, 0);
		tx_fill(&x->n, 0, &seq);
		ntf_disconnect(&x->n);
		log_wait(&x->d, "frontend disconnected");
		ntf_reconnect(&x->n);
		dl = ntf_now_ms() + WAIT_MS;
		while (x->n.tx_slot_busy[0]) {
			if (ntf_now_ms() > dl)
				fail_msg("transmit chains never completed after reconnecting");
			ntf_tx_reap(&x->n, 0, NULL, 0);
			rx_discard(&x->n, 0);
			ntf_rx_fill(&x->n, 0);
			ntf_sleep_ms(1);
		}
		echo_skip(&x->n, 0, 200, 0x80000000u + round);
	}
	c = vqd_counters(&x->d, tx, 1);
	assert_int_equal(c.errors, 0);
	assert_int_equal(vqd_counters(&x->d, ntf_rxq(0), 1).errors, 0);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* ------------------------------------------------------------------------
 * G4: SIGTERM under traffic
 * ------------------------------------------------------------------------ */

/* A thread keeping transmitq @pair full of 60-byte frames (prepared in
 * the pair's transmit slots), reposting each chain as it completes, until
 * @stop. Receive buffers are never posted: loop keeps or drops the frames. */
struct flood {
	struct ntf *n;
	unsigned pair;
	atomic_bool stop;
	_Atomic unsigned long completed; /* read by the main thread meanwhile */
};

static void *flood_main(void *p)
{
	struct flood *fl = p;
	struct ntf_queue *q = &fl->n->q[ntf_txq(fl->pair)];
	struct vq_drv_used u[NTF_QSIZE];
	uint64_t one = 1;

	for (unsigned slot = 0; !atomic_load(&fl->stop);) {
		for (;;) {
			uint64_t off =
				NTF_TX_BASE +
				((uint64_t)fl->pair * NTF_QSIZE + slot % NTF_QSIZE) * NTF_TX_SLOT;
			struct vq_drv_buf b = {fl->n->shm.gpa + off, NTF_HDR + FRAME_LEN};

			if (vq_drv_add_chain(q->d, &b, 1, 0, false, (void *)1) < 0)
				break;
			slot++;
		}
		vq_drv_publish(q->d);
		if (write(q->kick_fd, &one, sizeof(one)) != sizeof(one))
			abort();
		int got = vq_drv_reap(q->d, u, NTF_QSIZE);

		if (got < 0)
			abort();
		atomic_fetch_add_explicit(&fl->completed, (unsigned)got, memory_order_relaxed);
		if (!got)
			sched_yield();
	}
	return NULL;
}

static void prepare_tx_frames(struct ntf *n, unsigned pair)
{
	for (unsigned i = 0; i < NTF_QSIZE; i++) {
		uint8_t *slot =
			n->shm.base + NTF_TX_BASE + ((uint64_t)pair * NTF_QSIZE + i) * NTF_TX_SLOT;

		memset(slot, 0, NTF_HDR);
		ntf_make_frame(slot + NTF_HDR, FRAME_LEN, dev_mac, peer_mac, i);
	}
}

static void test_g4_sigterm_under_traffic(void **state)
{
	static const char *const q2[] = {"--queues", "2", NULL};
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT,
			     .want = WANT_BASE | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ),
			     .pairs = 2,
			     .ctrl = true};
	struct flood fl[2] = {{.n = &x->n, .pair = 0}, {.n = &x->n, .pair = 1}};
	pthread_t th[2];
	uint64_t t0, took;
	char *out;
	int status;
	FILE *fp;

	vqd_start(x, q2);
	fe_open(x, &o);
	for (unsigned p = 0; p < 2; p++) {
		prepare_tx_frames(&x->n, p);
		assert_int_equal(pthread_create(&th[p], NULL, flood_main, &fl[p]), 0);
	}
	/* Both workers busy. */
	for (uint64_t dl = ntf_now_ms() + WAIT_MS;
	     atomic_load(&fl[0].completed) < 10000 || atomic_load(&fl[1].completed) < 10000;
	     ntf_sleep_ms(5))
		if (ntf_now_ms() > dl)
			fail_msg("no traffic: %lu + %lu frames", atomic_load(&fl[0].completed),
				 atomic_load(&fl[1].completed));
	t0 = ntf_now_ms();
	status = vqd_signal_wait(&x->d, SIGTERM);
	took = ntf_now_ms() - t0;
	for (unsigned p = 0; p < 2; p++) {
		atomic_store(&fl[p].stop, true);
		pthread_join(th[p], NULL);
	}
	print_message("  SIGTERM after %lu + %lu frames: exit in %llu ms\n",
		      atomic_load(&fl[0].completed), atomic_load(&fl[1].completed),
		      (unsigned long long)took);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("vqnetd after SIGTERM: status 0x%x", status);
	if (took > TERM_MS)
		fail_msg("SIGTERM took %llu ms (limit %u)", (unsigned long long)took, TERM_MS);
	/* The final counters: both transmit queues, then the totals. */
	fp = fopen(x->d.out, "re");
	assert_non_null(fp);
	out = calloc(1, 1 << 16);
	assert_non_null(out);
	(void)!fread(out, 1, (1 << 16) - 1, fp);
	fclose(fp);
	assert_non_null(strstr(out, "vqnetd: queue 1 txq0: packets="));
	assert_non_null(strstr(out, "vqnetd: queue 3 txq1: packets="));
	assert_non_null(strstr(out, "vqnetd: total "));
	free(out);
	fe_close(x);
}

/* ------------------------------------------------------------------------
 * G6: receive ring full while the backlog grows, then buffers returned
 * ------------------------------------------------------------------------ */

#define G6_EXTRA 80u /* frames beyond what the ring and the backlog hold */

/*
 * One cycle: the ring's NTF_QSIZE buffers filled and not taken, the
 * backend's LOOP_SLOTS full (the device may hold a frame or a burst
 * more), the rest dropped and counted; then the guest takes its buffers
 * and posts them again, a few at a time: everything not dropped arrives,
 * in order, and nothing else.
 */
static void g6_cycle(struct fx *x, uint32_t *seq, uint64_t *drops)
{
	const unsigned total = NTF_QSIZE + LOOP_SLOTS + G6_EXTRA;
	struct ntf *n = &x->n;
	uint32_t first = *seq, sent = 0, held;
	uint64_t dl = ntf_now_ms() + WAIT_MS, dropped;
	uint8_t f[FRAME_LEN], buf[4 * NTF_RX_SLOT];

	ntf_rx_fill(n, 0);
	assert_int_equal(n->rx[0].slot_busy, UINT64_MAX); /* all NTF_QSIZE posted */
	while (sent < total) {
		ntf_make_frame(f, FRAME_LEN, dev_mac, peer_mac, *seq);
		if (ntf_tx_send(n, 0, f, FRAME_LEN, NULL) >= 0) {
			(*seq)++;
			sent++;
			continue;
		}
		if (ntf_now_ms() > dl)
			fail_msg("transmit chains not completed");
		ntf_tx_reap(n, 0, NULL, 0);
	}
	while (n->tx_slot_busy[0]) {
		if (ntf_now_ms() > dl)
			fail_msg("transmit chains not completed");
		ntf_tx_reap(n, 0, NULL, 0);
		ntf_sleep_ms(1);
	}
	/* The ring is full: exactly its buffers were used. */
	while (n->rx[0].nused < NTF_QSIZE) {
		if (ntf_now_ms() > dl)
			fail_msg("receive ring not filled");
		ntf_rx_reap(n, 0);
		ntf_sleep_ms(1);
	}
	dropped = vqd_counters(&x->d, ntf_txq(0), 1).drops - *drops;
	*drops += dropped;
	held = total - (uint32_t)dropped;
	print_message("  ring full: %u frames held, %" PRIu64 " dropped\n", held, dropped);
	assert_true(held >= NTF_QSIZE + LOOP_SLOTS);
	for (uint32_t i = 0; i < held; i++) {
		expect_frame(n, 0, first + i);
		if (i % 16 == 15)
			ntf_rx_fill(n, 0);
	}
	ntf_rx_fill(n, 0);
	/* What was dropped never comes. */
	assert_int_equal(ntf_rx_recv(n, 0, buf, 100), -1);
}

static void g6(struct fx *x, enum vq_format fmt, uint64_t extra)
{
	struct ntf_opts o = {.fmt = fmt, .want = WANT_BASE | extra};
	uint64_t drops = 0;
	uint32_t seq = 0;
	struct qcount c;

	vqd_start(x, NULL);
	fe_open(x, &o);
	for (unsigned cycle = 0; cycle < 3; cycle++) {
		g6_cycle(x, &seq, &drops);
		echo(&x->n, 0, 300, 9000 + cycle); /* and traffic goes on */
	}
	c = vqd_counters(&x->d, ntf_txq(0), 1);
	assert_int_equal(c.drops, drops);
	assert_int_equal(c.errors, 0);
	fe_close(x);
	vqd_term_ok(&x->d);
}

static void test_g6_rx_full_split(void **state)
{
	g6(*state, VQ_FORMAT_SPLIT, 0);
}

static void test_g6_rx_full_packed_mrg(void **state)
{
	g6(*state, VQ_FORMAT_PACKED, F(VIRTIO_NET_F_MRG_RXBUF));
}

/* ------------------------------------------------------------------------
 * G8: every chain kept in flight, used buffers never taken
 * ------------------------------------------------------------------------ */

#define G8_WARMUP  20000u
#define G8_FRAMES  200000u
#define G8_RSS_KIB 1024u /* growth allowed after warm-up */

/*
 * The hostile guest: transmitq 0's NTF_QSIZE chains were posted once by
 * the driver; from then on it re-publishes each avail slot as soon as
 * used->idx says its chain completed (never reading a used entry), so the
 * ring always holds NTF_QSIZE chains in flight. Return: chains completed.
 */
static unsigned g8_run(struct ntf *n, uint16_t *pub, unsigned frames)
{
	struct ntf_queue *q = &n->q[ntf_txq(0)];
	struct virtq_avail *avail = (void *)(n->shm.base + q->driver_off);
	unsigned done = 0;
	uint16_t seen = used_idx(n, ntf_txq(0));
	uint64_t dl = ntf_now_ms() + 10 * WAIT_MS;

	while (done < frames) {
		uint16_t u = used_idx(n, ntf_txq(0));

		assert_true((uint16_t)(*pub - u) <= NTF_QSIZE);
		done += (uint16_t)(u - seen);
		seen = u;
		if ((uint16_t)(*pub - u) < NTF_QSIZE) {
			*pub = (uint16_t)(u + NTF_QSIZE);
			__atomic_store_n(&avail->idx, htole16(*pub), __ATOMIC_RELEASE);
			kick_fd(q->kick_fd);
		} else {
			if (ntf_now_ms() > dl)
				fail_msg("transmitq 0 stopped after %u chains", done);
			sched_yield();
		}
	}
	return done;
}

static void test_g8_in_flight_bounded(void **state)
{
	struct fx *x = *state;
	struct ntf_opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};
	struct ntf_queue *q;
	uint64_t rss0, rss1;
	unsigned fds0, maps0;
	uint16_t pub;
	struct qcount c;

	vqd_start(x, NULL);
	fe_open(x, &o);
	q = &x->n.q[ntf_txq(0)];
	prepare_tx_frames(&x->n, 0);
	for (unsigned slot = 0; slot < NTF_QSIZE; slot++) {
		struct vq_drv_buf b = {x->n.shm.gpa + NTF_TX_BASE + (uint64_t)slot * NTF_TX_SLOT,
				       NTF_HDR + FRAME_LEN};

		assert_true(vq_drv_add_chain(q->d, &b, 1, 0, false, (void *)1) >= 0);
	}
	vq_drv_publish(q->d);
	kick_fd(q->kick_fd);
	pub = NTF_QSIZE;
	/* Receive buffers posted once, never taken. */
	assert_int_equal(ntf_rx_fill(&x->n, 0), NTF_QSIZE);
	g8_run(&x->n, &pub, G8_WARMUP);
	rss0 = rss_kib(x->d.pid);
	fds0 = fd_count(x->d.pid);
	maps0 = maps_count(x->d.pid, "-");
	g8_run(&x->n, &pub, G8_FRAMES);
	rss1 = rss_kib(x->d.pid);
	print_message("  %u chains kept in flight for %u frames: RSS %" PRIu64 " -> %" PRIu64
		      " KiB\n",
		      NTF_QSIZE, G8_WARMUP + G8_FRAMES, rss0, rss1);
	assert_true(rss1 <= rss0 + G8_RSS_KIB);
	assert_int_equal(fd_count(x->d.pid), fds0);
	assert_int_equal(maps_count(x->d.pid, "-"), maps0);
	/* Receive completions stop at the buffers posted. */
	assert_int_equal(used_idx(&x->n, ntf_rxq(0)), NTF_QSIZE);
	/* Every chain completed: sent, or dropped by the full backend. */
	c = vqd_counters(&x->d, ntf_txq(0), 1);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.bad_chain, 0);
	assert_true(c.packets + c.drops >= G8_WARMUP + G8_FRAMES);
	c = vqd_counters(&x->d, ntf_rxq(0), 1);
	assert_int_equal(c.packets, NTF_QSIZE);
	assert_int_equal(c.errors, 0);
	fe_close(x);
	vqd_term_ok(&x->d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_g1_disconnect_mid_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_g2_reconnect_base_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_g4_sigterm_under_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_g6_rx_full_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_g6_rx_full_packed_mrg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_g8_in_flight_bounded, setup, teardown),
	};
	int rc = vqnetd_fixture_init(argc, argv);

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
