/* SPDX-License-Identifier: MIT */
/*
 * vqnetd (vqnetd_fixture.h has the daemon and the driver) against a
 * hostile frontend:
 *
 *  - malformed transmit chains (outside memory, a loop, an indirect table
 *    of a bad length, a device-writable descriptor): completed with length
 *    0, counted as bad_chain, the queue keeps working;
 *  - malformed control commands: VIRTIO_NET_ERR and a log line naming the
 *    command; valid ones: OK, and the MAC filter really filters;
 *  - a corrupt ring: that queue breaks (error eventfd signalled, a log line
 *    names it), the others keep working, the next connection is served.
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
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/vhost_user.h>
#include <vqnet/virtq.h>

#include "spec/vhost_user_msg.h"
#include "spec/virtio_net.h"
#include "spec/virtio_ring.h"
#include "spec/vq_inflight.h"

#include "vqnetd_fixture.h"

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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malformed_tx_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_tx_packed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_writable_descriptor_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_writable_descriptor_packed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ctrl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring_packed, setup, teardown),
	};
	int rc = vqnetd_fixture_init(argc, argv);

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
