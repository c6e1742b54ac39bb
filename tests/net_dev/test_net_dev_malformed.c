/* SPDX-License-Identifier: MIT */
/*
 * A hostile driver against the device (net_dev_fixture.h has the
 * environment): a descriptor outside guest memory on transmit, a malformed
 * receive chain in the middle of a merged frame, a corrupt ring; each is
 * counted and everything else keeps working.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_dev_fixture.h"

/* A descriptor outside guest memory: completed with length 0, counted;
 * the queue keeps working. */
static void test_malformed_chain(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	struct vq_drv_buf b = {SHM_GPA + SHM_SIZE + 4096, 100};
	struct vq_drv_used u;
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	(void)state;
	rx_post(e, 4, RX_SLOT);
	assert_true(vq_drv_add_chain(e->q[txq(e)].d, &b, 1, 0, false, (void *)7) >= 0);
	dq_kick(&e->q[txq(e)]);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_BAD_CHAIN] == 1);
	WAIT_FOR(vq_drv_reap(e->q[txq(e)].d, &u, 1) == 1);
	assert_int_equal(u.len, 0);
	assert_ptr_equal(u.token, (void *)7);
	len = make_raw(f, 200, dev_mac, 4);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	env_free(e);
}

/* A malformed receive chain in the middle of a merged frame: it and the
 * chain taken before it are completed empty (in order), counted, and the
 * frame goes to the next chains. */
static void malformed_rx_chain(enum vq_format fmt)
{
	struct opts o = {.fmt = fmt, .want = WANT_DEFAULT | F(VIRTIO_F_IN_ORDER), .mtu = 1500};
	struct env *e = env_new(&o);
	struct vq_drv_buf bad = {SHM_GPA + SHM_SIZE + 4096, 500};
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len = make_raw(f, 1200, dev_mac, 8);

	rx_post(e, 1, 500);
	assert_true(vq_drv_add_chain(e->q[rxq(e)].d, &bad, 0, 1, false, (void *)0x100) >= 0);
	rx_post(e, 3, 500);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	WAIT_FOR((rx_reap(e), e->rx_nused[e->cur] >= 2));
	assert_int_equal(e->rx_used[e->cur][0].len, 0);
	assert_int_equal(e->rx_used[e->cur][1].len, 0);
	assert_ptr_equal(e->rx_used[e->cur][1].token, (void *)0x100);
	memmove(e->rx_used[e->cur], e->rx_used[e->cur] + 2,
		(e->rx_nused[e->cur] - 2) * sizeof(e->rx_used[e->cur][0]));
	e->rx_nused[e->cur] -= 2;
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_memory_equal(got, f, len);
	assert_int_equal(qs(e, rxq(e)).drops[NET_DEV_DROP_BAD_CHAIN], 1);
	env_free(e);
}

static void test_malformed_rx_chain(void **state)
{
	(void)state;
	malformed_rx_chain(VQ_FORMAT_SPLIT);
	malformed_rx_chain(VQ_FORMAT_PACKED);
}

/* A corrupt ring (split avail idx jump) breaks only that queue; the
 * receive queue keeps working and the next connection is served. */
static void test_broken_ring(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint16_t *avail_idx;
	uint32_t len;

	(void)state;
	avail_idx = (uint16_t *)(e->shm.base + e->q[txq(e)].driver_off + 2);
	__atomic_store_n(avail_idx, htole16(QSIZE + 7), __ATOMIC_RELEASE);
	efd_signal(e->q[txq(e)].kick_fd);
	WAIT_FOR(qs(e, txq(e)).errors == 1);
	rx_post(e, 2, RX_SLOT);
	len = make_raw(f, 300, dev_mac, 6);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);

	fe_close(e);
	fe_open(e);
	rx_post(e, 2, RX_SLOT);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	env_free(e);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_chain),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_malformed_rx_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
