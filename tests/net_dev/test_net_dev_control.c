/* SPDX-License-Identifier: MIT */
/*
 * Configuration and control of the device (net_dev_fixture.h has the
 * environment): features and config space, two queue pairs switched by
 * VQ_PAIRS_SET and SET_VRING_ENABLE, the control queue's receive filter,
 * link down, SEND_RARP, NET_SET_MTU and the announce status bit.
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

static void test_features_config(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .caps = 0, .want = WANT_DEFAULT, .mtu = 1500};
	struct net_dev_config bad = {0};
	struct net_dev *d = NULL;
	struct tbe t;
	struct env *e;
	struct virtio_net_config c;
	uint64_t f;

	(void)state;
	tbe_init(&t, NETBE_CAP_ALL, 1);
	assert_int_equal(net_dev_new(&bad, &d), -EINVAL); /* no backend */
	bad.be = &t.be;
	assert_int_equal(net_dev_new(&bad, &d), -EINVAL); /* 0 queue pairs */
	bad.queue_pairs = 1;
	bad.mtu = 67;
	assert_int_equal(net_dev_new(&bad, &d), -EINVAL);
	bad.mtu = 0;
	bad.features_off = F(VIRTIO_F_RING_PACKED);
	assert_int_equal(net_dev_new(&bad, &d), 0);
	f = net_dev_features(d);
	assert_false(vq_has_feature(f, VIRTIO_F_RING_PACKED));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_MTU));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_MQ));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_GUEST_TSO4));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_HOST_UFO));
	assert_int_equal(net_dev_num_queues(d), 3);
	net_dev_free(d);
	tbe_fini(&t);

	e = env_new(&o);
	f = net_dev_features(e->dev);
	assert_true(vq_has_feature(f, VIRTIO_NET_F_CSUM));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_HOST_TSO4));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_HOST_UFO));
	assert_false(vq_has_feature(f, VIRTIO_NET_F_GUEST_CSUM));
	assert_true(vq_has_feature(f, VIRTIO_NET_F_MTU));
	assert_int_equal(net_dev_config_size(e->dev), sizeof(c));
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_memory_equal(c.mac, dev_mac, 6);
	assert_int_equal(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(le16toh(c.max_virtqueue_pairs), 1);
	assert_int_equal(le16toh(c.mtu), 1500);
	assert_int_equal(le32toh(c.speed), 10000);
	assert_int_equal(c.duplex, VIRTIO_NET_DUPLEX_FULL);
	/* announce needs GUEST_ANNOUNCE */
	env_cmd(e, CMD_ANNOUNCE);
	assert_int_equal(e->cmd_rc, -EOPNOTSUPP);
	env_free(e);
}

/* Two queue pairs: each pair's worker moves its own frames; VQ_PAIRS_SET
 * and SET_VRING_ENABLE decide which pairs are served and the backend
 * learns their count. */
static void test_multiqueue(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .want = WANT_DEFAULT | F(VIRTIO_NET_F_MQ),
			 .mtu = 1500,
			 .pairs = 2};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	struct virtio_net_config c;
	uint16_t pairs;
	uint32_t len;

	(void)state;
	assert_true(vq_has_feature(net_dev_features(e->dev), VIRTIO_NET_F_MQ));
	assert_int_equal(net_dev_num_queues(e->dev), 5);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.max_virtqueue_pairs), 2);
	WAIT_FOR(atomic_load(&e->tbe.pairs) == 2);
	for (e->cur = 0; e->cur < 2; e->cur++) {
		rx_post(e, 4, RX_SLOT);
		len = make_raw(f, 100 + e->cur, dev_mac, (uint8_t)e->cur);
		tx_send_plain(e, f, len);
		assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
		assert_memory_equal(got, f, len);
		assert_int_equal(qs(e, txq(e)).packets, 1);
	}

	pairs = htole16(1);
	assert_int_equal(
		ctrl_cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
		VIRTIO_NET_OK);
	assert_int_equal(atomic_load(&e->tbe.pairs), 1);
	e->cur = 1;
	len = make_raw(f, 200, dev_mac, 7);
	tx_send_plain(e, f, len);
	sleep_ms(50);
	assert_int_equal(qs(e, txq(e)).packets, 1); /* pair 1 not served */
	pairs = htole16(2);
	assert_int_equal(
		ctrl_cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
		VIRTIO_NET_OK);
	assert_int_equal(atomic_load(&e->tbe.pairs), 2);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);

	assert_int_equal(vu_frontend_set_vring_enable(e->f, 3, false), 0);
	WAIT_FOR(atomic_load(&e->tbe.pairs) == 1);
	env_free(e);
}

/* Control queue: PROMISC off + a MAC table filter frames. */
static void test_ctrl_filter(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	static const uint8_t other[6] = {0x02, 9, 9, 9, 9, 9}, listed[6] = {0x02, 7, 7, 7, 7, 7};
	uint8_t tables[4 + 6 + 4], off = 0, f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	uint32_t len;

	(void)state;
	assert_true(net_dev_ctrl_fd(e->dev) >= 0);
	assert_int_equal(ctrl_cmd(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1),
			 VIRTIO_NET_OK);
	memcpy(tables, (const uint8_t[]){1, 0, 0, 0}, 4);
	memcpy(tables + 4, listed, 6);
	memset(tables + 10, 0, 4);
	assert_int_equal(ctrl_cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, tables,
				  sizeof(tables)),
			 VIRTIO_NET_OK);
	/* unknown class: ERR */
	assert_int_equal(ctrl_cmd(e, 99, 0, NULL, 0), VIRTIO_NET_ERR);
	rx_post(e, 4, RX_SLOT);
	tbe_inject(&e->tbe, e->cur, f, make_raw(f, 100, other, 1), NULL);
	WAIT_FOR(qs(e, rxq(e)).drops[NET_DEV_DROP_RX_FILTERED] == 1);
	len = make_raw(f, 100, listed, 2);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_memory_equal(got, f, len);
	len = make_raw(f, 100, dev_mac, 3);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	assert_int_equal(qs(e, ctrlq(e)).packets, 3);
	env_free(e);
}

/* Link down: frames both ways dropped and counted; status follows. */
static void test_link_down(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT, .want = WANT_DEFAULT, .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	struct virtio_net_config c;
	uint32_t len = make_raw(f, 100, dev_mac, 1);

	(void)state;
	rx_post(e, 4, RX_SLOT);
	env_cmd(e, CMD_LINK_DOWN);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.status) & VIRTIO_NET_S_LINK_UP, 0);
	tx_send_plain(e, f, len);
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_LINK_DOWN] == 1);
	tbe_inject(&e->tbe, e->cur, f, len, NULL);
	WAIT_FOR(qs(e, rxq(e)).drops[NET_DEV_DROP_LINK_DOWN] == 1);
	env_cmd(e, CMD_LINK_UP);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);
	env_free(e);
}

/* SEND_RARP, NET_SET_MTU and the announce status bit (§5.1.6.5.4). */
static void test_rarp_mtu_announce(void **state)
{
	struct opts o = {.fmt = VQ_FORMAT_SPLIT,
			 .want = WANT_DEFAULT | F(VIRTIO_NET_F_GUEST_ANNOUNCE),
			 .mtu = 1500};
	struct env *e = env_new(&o);
	uint8_t f[2048], got[4096];
	struct virtio_net_hdr_v1 h;
	struct virtio_net_config c;
	uint32_t len;

	(void)state;
	rx_post(e, 4, RX_SLOT);
	env_cmd(e, CMD_RARP); /* the loop backend sends it back to the guest */
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), 60);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(got[i], 0xff);
	assert_memory_equal(got + 6, peer_mac, 6);
	assert_int_equal(get16(got + 12), 0x8035);
	assert_int_equal(get16(got + 20), 3);

	e->cmd_arg = 60;
	env_cmd(e, CMD_MTU);
	assert_int_equal(e->cmd_rc, -EINVAL);
	e->cmd_arg = 1000;
	env_cmd(e, CMD_MTU);
	assert_int_equal(e->cmd_rc, 0);
	tx_send_plain(e, f, make_raw(f, 1100, dev_mac, 1));
	WAIT_FOR(qs(e, txq(e)).drops[NET_DEV_DROP_TX_MTU] == 1);
	len = make_raw(f, 1014, dev_mac, 2);
	tx_send_plain(e, f, len);
	assert_int_equal(rx_recv(e, &h, got, WAIT_MS), (int)len);

	env_cmd(e, CMD_ANNOUNCE);
	assert_int_equal(e->cmd_rc, 0);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.status), VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	assert_int_equal(
		ctrl_cmd(e, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
		VIRTIO_NET_OK);
	assert_int_equal(vu_frontend_get_config(e->f, 0, &c, sizeof(c)), 0);
	assert_int_equal(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	env_free(e);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_config), cmocka_unit_test(test_ctrl_filter),
		cmocka_unit_test(test_link_down),	cmocka_unit_test(test_rarp_mtu_announce),
		cmocka_unit_test(test_multiqueue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
