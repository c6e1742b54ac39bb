/* SPDX-License-Identifier: MIT */
/*
 * vqnetd (vqnetd_fixture.h has the daemon and the driver) restarted
 * without loss: inflight tracking across SIGKILL of the daemon, split and
 * packed rings, with and without IN_ORDER, in the buffer the frontend
 * keeps (INFLIGHT_SHMFD) or, for a frontend without it that restarts
 * rings as QEMU does (split at the used index, packed at the base of the
 * previous start), in vqnetd's own state file (docs/vqnetd.md "Restart
 * without loss"); and the state files vqnetd refuses, each with its line.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
#include "spec/vu_state_file.h"

#include "vqnetd_fixture.h"

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
	const uint8_t *state; /* vqnetd's state file, mapped (NULL: the frontend's buffer) */
	size_t state_bytes;
};

/* DIR/SOCKET.state of the fixture's socket (daemon/state.h). */
static void state_path(const struct fx *x, char *buf, size_t len)
{
	char name[128];
	size_t k = 0;

	for (const char *p = x->sock + 1; *p && k + 1 < sizeof(name); p++)
		name[k++] = *p == '/' ? '-' : *p;
	name[k] = '\0';
	snprintf(buf, len, "%s/%s.state", x->dir, name);
}

/* Map the state file the running daemon made, read-only. */
static void state_map(const struct fx *x, struct rs *r)
{
	char path[256];
	struct stat st;
	int fd;

	state_path(x, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	r->state_bytes = (size_t)st.st_size;
	r->state = mmap(NULL, r->state_bytes, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(r->state != MAP_FAILED);
	close(fd);
}

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

/*
 * Frames whose transmit chain a restarted daemon completed without
 * sending (the dead one had handed them to its loop backend, whose frames
 * die with it: vq_inflight_consume()) never arrive; like frames completed
 * before the kill, the guest's transport sends them again. Once nothing is
 * in transit (transmit ring empty, the loop backend given @quiet_ms to
 * deliver), queue each frame completed and not arrived.
 */
static void rs_resend_lost(struct rs *r, struct ntf *n, unsigned quiet_ms)
{
	uint64_t until = ntf_now_ms() + quiet_ms;

	if (r->nresend || vq_drv_in_flight(n->q[ntf_txq(0)].d))
		return;
	while (ntf_now_ms() < until) {
		rs_reap_tx(r, n);
		rs_reap_rx(r, n);
		ntf_sleep_ms(1);
	}
	if (vq_drv_in_flight(n->q[ntf_txq(0)].d))
		return;
	for (uint32_t seq = 0; seq < r->next_seq; seq++)
		if (r->tx_done[seq] && !r->rx_count[seq]) {
			r->resend[r->nresend++] = seq;
			r->held++;
		}
}

/* Chains marked in flight in ring @q's inflight region (split: heads;
 * packed: the head entries of recorded chains). */
static unsigned inflight_marked(const struct rs *r, const struct ntf *n, unsigned q)
{
	uint64_t stride = vu_state_ring_stride(VQ_MAX_QUEUE_SIZE);
	const uint8_t *st =
		r->state ? r->state + VU_STATE_PAGE + q * stride + VU_STATE_RING_HDR : NULL;
	unsigned c = 0;

	if (n->o.fmt == VQ_FORMAT_PACKED) {
		const struct vq_inflight_packed *reg =
			st ? (const void *)st
			   : (const void *)(n->infl.base + q * vq_inflight_packed_bytes(NTF_QSIZE));

		for (unsigned i = 0; i < NTF_QSIZE; i++)
			c += __atomic_load_n(&reg->desc[i].inflight, __ATOMIC_RELAXED) != 0;
		return c;
	}
	const struct vq_inflight_split *reg =
		st ? (const void *)st
		   : (const void *)(n->infl.base + q * vq_inflight_split_bytes(NTF_QSIZE));

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
		if (inflight_marked(r, n, ntf_txq(0)) + inflight_marked(r, n, ntf_rxq(0)))
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
	r->marked += inflight_marked(r, n, ntf_txq(0));
	r->rx_marked += inflight_marked(r, n, ntf_rxq(0));
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
	/* The next daemon completes what the dead one had consumed. */
	uint64_t dl = ntf_now_ms() + WAIT_MS;
	while (vq_drv_in_flight(n->q[ntf_txq(0)].d) && ntf_now_ms() < dl) {
		rs_reap_tx(r, n);
		rs_reap_rx(r, n);
		ntf_sleep_ms(1);
	}
	rs_resend_lost(r, n, 50);
}

/*
 * Restart without loss: INFLIGHT_SHMFD negotiated (split ring, no
 * IN_ORDER), numbered frames streamed through --backend loop, vqnetd
 * SIGKILLed mid-traffic RS_KILLS times; each time a new vqnetd on the
 * same socket gets the inflight buffer back and the rings restart at their
 * used index.
 */
static void restart_inflight(struct fx *x, enum vq_format fmt, bool in_order, bool inflight)
{
	struct ntf_opts o = {.fmt = fmt,
			     .want = WANT_BASE | (in_order ? F(VIRTIO_F_IN_ORDER) : 0),
			     .inflight = inflight};
	struct rs *r = calloc(1, sizeof(*r));
	struct ntf *n = &x->n;
	uint64_t dl;

	assert_non_null(r);
	vqd_start(x, NULL);
	fe_open(x, &o);
	if (!inflight)
		state_map(x, r);
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
		if (r->next_seq == RS_FRAMES)
			rs_resend_lost(r, n, 200);
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
	/* A chain handed out again is one the dead daemon had not sent
	 * (vq_inflight_consume() marks the others): nothing twice. */
	assert_int_equal(r->dups, 0);
	fe_close(x);
	vqd_term_ok(&x->d);
	if (r->state)
		munmap((void *)r->state, r->state_bytes);
	free(r);
}

static void test_restart_inflight(void **state)
{
	restart_inflight(*state, VQ_FORMAT_SPLIT, false, true);
}

static void test_restart_inflight_packed(void **state)
{
	restart_inflight(*state, VQ_FORMAT_PACKED, false, true);
}

static void test_restart_inflight_in_order(void **state)
{
	restart_inflight(*state, VQ_FORMAT_SPLIT, true, true);
}

static void test_restart_inflight_packed_in_order(void **state)
{
	restart_inflight(*state, VQ_FORMAT_PACKED, true, true);
}

/*
 * The same without INFLIGHT_SHMFD: the frontend restarts the rings as QEMU
 * 7.2 does (split at the used index, packed at the base of the previous
 * start, which alone would restart it at 0 over live descriptors); vqnetd
 * resumes them from its state file (the default: the socket's directory).
 */
static void test_restart_state(void **state)
{
	restart_inflight(*state, VQ_FORMAT_SPLIT, false, false);
}

static void test_restart_state_packed(void **state)
{
	restart_inflight(*state, VQ_FORMAT_PACKED, false, false);
}

static void test_restart_state_in_order(void **state)
{
	restart_inflight(*state, VQ_FORMAT_SPLIT, true, false);
}

static void test_restart_state_packed_in_order(void **state)
{
	restart_inflight(*state, VQ_FORMAT_PACKED, true, false);
}

/* ------------------------------------------------------------------------
 * State files refused
 * ------------------------------------------------------------------------ */

static const struct ntf_opts split_opts = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_BASE};

/* A daemon (with @extra arguments) serves @o, echoes a frame, and is
 * SIGKILLed: its state file says the rings were running. */
static void session_killed(struct fx *x, const struct ntf_opts *o, const char *const *extra)
{
	vqd_start(x, extra);
	if (x->n_open)
		ntf_reconnect(&x->n);
	else
		fe_open(x, o);
	echo(&x->n, 0, 100, 1);
	int st = vqd_signal_wait(&x->d, SIGKILL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ntf_disconnect(&x->n);
}

/* The daemon's log, from its start, has a line with @needle and @also
 * (lines written before "listening on", which log_wait() has passed). */
static void log_has(const struct vqd *d, const char *needle, const char *also)
{
	FILE *f = fopen(d->err, "r");
	char line[512];
	bool found = false;

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) && (!also || strstr(line, also));
	fclose(f);
	if (!found)
		fail_msg("no log line with '%s' and '%s'", needle, also ? also : "");
}

/* Write @len bytes at @off of the state file. */
static void state_poke(const struct fx *x, off_t off, const void *p, size_t len)
{
	char path[256];
	int fd;

	state_path(x, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, len, off), (ssize_t)len);
	close(fd);
}

/* After a refusal: the rings start clean and carry traffic; nothing was
 * resumed. */
static void clean_start_works(struct fx *x)
{
	echo(&x->n, 0, 200, 2);
	echo(&x->n, 0, 300, 3);
	fe_close(x);
	vqd_term_ok(&x->d);
	FILE *f = fopen(x->d.err, "r");
	char line[512];
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "resumed from the state file"))
			fail_msg("resumed after a refusal: %s", line);
	fclose(f);
}

/* The first start of a device, then a restart that resumes: the control
 * case of the refusals below (a state file that matches is used). */
static void test_state_resumed(void **state)
{
	struct fx *x = *state;
	vqd_start(x, NULL);
	fe_open(x, &split_opts);
	log_has(&x->d, "created", NULL);
	echo(&x->n, 0, 100, 1);
	int st = vqd_signal_wait(&x->d, SIGKILL);
	assert_true(WIFSIGNALED(st));
	ntf_disconnect(&x->n);
	vqd_start(x, NULL);
	log_has(&x->d, "kept for the rings to resume", NULL);
	ntf_reconnect(&x->n);
	log_wait2(&x->d, "ring 0 resumed from the state file", "0 chains in flight");
	log_wait(&x->d, "ring 1 resumed from the state file");
	echo(&x->n, 0, 200, 2);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* A damaged header: refused as corrupt, started clean. */
static void test_state_corrupt(void **state)
{
	struct fx *x = *state;
	const uint64_t bogus = 12345;

	vqd_start(x, NULL);
	fe_open(x, &split_opts);
	echo(&x->n, 0, 100, 1);
	assert_true(WIFSIGNALED(vqd_signal_wait(&x->d, SIGKILL)));
	ntf_disconnect(&x->n);
	state_poke(x, offsetof(struct vu_state_hdr, file_bytes), &bogus, sizeof(bogus));
	vqd_start(x, NULL);
	log_has(&x->d, "refused: corrupt", "header checksum mismatch");
	ntf_reconnect(&x->n);
	clean_start_works(x);
}

/* A damaged ring record: that ring starts clean, the others resume. */
static void test_state_corrupt_ring(void **state)
{
	struct fx *x = *state;
	const uint8_t junk = 0xa5;
	uint64_t ring1 = VU_STATE_PAGE + vu_state_ring_stride(VQ_MAX_QUEUE_SIZE);

	session_killed(x, &split_opts, NULL);
	state_poke(x, (off_t)(ring1 + offsetof(struct vu_state_ring, features)), &junk, 1);
	vqd_start(x, NULL);
	ntf_reconnect(&x->n);
	log_wait(&x->d, "ring 0 resumed from the state file");
	log_wait2(&x->d, "ring 1: state file refused", "its record is corrupt");
	echo(&x->n, 0, 200, 2);
	fe_close(x);
	vqd_term_ok(&x->d);
}

/* Another device on the same socket (here: 2 queue pairs instead of 1). */
static void test_state_other_device(void **state)
{
	struct fx *x = *state;
	const char *const two[] = {"--queues", "2", NULL};

	session_killed(x, &split_opts, NULL);
	vqd_start(x, two);
	log_has(&x->d, "refused: from another device", "pairs 1\", now \"");
	ntf_reconnect(&x->n);
	clean_start_works(x);
}

/* Another negotiation (EVENT_IDX taken, then not) by a new frontend. */
static void test_state_other_features(void **state)
{
	struct fx *x = *state;
	const struct ntf_opts plain = {.fmt = VQ_FORMAT_SPLIT,
				       .want = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS)};

	session_killed(x, &split_opts, NULL);
	ntf_close(&x->n);
	x->n_open = false;
	vqd_start(x, NULL);
	fe_open(x, &plain);
	log_wait2(&x->d, "ring 0: state file refused", "a different negotiation");
	clean_start_works(x);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inflight_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inflight_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inflight_packed_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_state_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_state_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_state_packed_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_state_resumed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_corrupt_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_other_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_other_features, setup, teardown),
	};
	int rc = vqnetd_fixture_init(argc, argv);

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
