/* SPDX-License-Identifier: MIT */
/*
 * The loop backend through its ops table (netbe_fixture.h has the
 * helpers): frames and metadata come back on their own queue pair, a full
 * ring drops (tx_dropped), rx_fd is readable exactly while frames wait,
 * offload metadata passes through whatever set_rx_offloads() said.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vqnet/netbe.h>

#include "spec/virtio_net.h"

#include "netbe_fixture.h"

static void test_loop_roundtrip(void **state)
{
	struct netbe_options o = opts(2);
	struct netbe *be = open_be("loop", &o);
	static uint8_t f[3][1000], out[4][BUF_CAP];
	struct netbe_rxbuf bufs[4];
	struct netbe_meta m = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			       .gso_type = 1,
			       .hdr_len = 54,
			       .gso_size = 1448,
			       .csum_start = 34,
			       .csum_offset = 16};
	struct iovec iov[3];
	struct netbe_txpkt pk[2];

	(void)state;
	assert_int_equal(be->ops->caps(be), NETBE_CAP_ALL);
	assert_true(be->ops->link_up(be));
	assert_int_equal(be->ops->set_queue_pairs(be, 2), 0);
	assert_int_equal(be->ops->set_rx_offloads(be, NETBE_CAP_ALL), 0);
	assert_false(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_false(fd_readable(be->ops->rx_fd(be, 1), 0));
	assert_true(be->ops->rx_fd(be, 0) != be->ops->rx_fd(be, 1));

	make_frame(f[0], 100, 0xa0);
	make_frame(f[1], 1000, 0xa1);
	make_frame(f[2], 60, 0xa2);
	/* Pair 0: a frame in three pieces with GSO metadata, then a plain one. */
	iov[0] = (struct iovec){f[0], 14};
	iov[1] = (struct iovec){f[0] + 14, 50};
	iov[2] = (struct iovec){f[0] + 64, 36};
	pk[0] = (struct netbe_txpkt){.iov = iov, .iovcnt = 3, .len = 100, .meta = m};
	pk[1] = (struct netbe_txpkt){.iov = &iov[0], .iovcnt = 0, .len = 0};
	iov[0].iov_len = 14;
	pk[1].iov = (struct iovec[]){{f[1], 1000}};
	pk[1].iovcnt = 1;
	pk[1].len = 1000;
	assert_int_equal(be->ops->tx(be, 0, pk, 2), 2);
	assert_int_equal(tx_one(be, 1, f[2], 60, NULL), 1);
	assert_true(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_true(fd_readable(be->ops->rx_fd(be, 1), 0));

	for (int i = 0; i < 4; i++)
		bufs[i] = (struct netbe_rxbuf){.data = out[i], .cap = BUF_CAP};
	/* Pair 1 sees only its own frame. */
	assert_int_equal(be->ops->rx(be, 1, bufs, 4), 1);
	assert_int_equal(bufs[0].len, 60);
	assert_memory_equal(out[0], f[2], 60);
	assert_false(fd_readable(be->ops->rx_fd(be, 1), 0));
	/* Pair 0, one at a time: the fd stays readable until the last. */
	assert_int_equal(be->ops->rx(be, 0, bufs, 1), 1);
	assert_int_equal(bufs[0].len, 100);
	assert_memory_equal(out[0], f[0], 100);
	assert_memory_equal(&bufs[0].meta, &m, sizeof(m));
	assert_true(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_int_equal(be->ops->rx(be, 0, bufs, 4), 1);
	assert_int_equal(bufs[0].len, 1000);
	assert_memory_equal(out[0], f[1], 1000);
	assert_int_equal(bufs[0].meta.flags, 0);
	assert_int_equal(bufs[0].meta.gso_type, 0);
	assert_false(fd_readable(be->ops->rx_fd(be, 0), 0));
	assert_int_equal(be->ops->rx(be, 0, bufs, 4), 0);

	/* A frame bigger than the buffer is dropped and counted. */
	assert_int_equal(tx_one(be, 0, f[1], 1000, NULL), 1);
	assert_int_equal(tx_one(be, 0, f[2], 60, NULL), 1);
	bufs[0].cap = 999;
	assert_int_equal(be->ops->rx(be, 0, bufs, 4), 1);
	assert_int_equal(bufs[0].len, 60);
	assert_int_equal(stats_of(be, 0).rx_dropped, 1);
	assert_int_equal(stats_of(be, 1).rx_dropped, 0);
	/* Out of range queue pairs are refused. */
	assert_int_equal(be->ops->tx(be, 2, pk, 1), -EINVAL);
	assert_int_equal(be->ops->rx(be, 2, bufs, 1), -EINVAL);
	assert_int_equal(be->ops->set_queue_pairs(be, 3), -EINVAL);
	assert_int_equal(be->ops->set_rx_offloads(be, 1u << 20), -EINVAL);
	netbe_free(be);
}

static void test_loop_full(void **state)
{
	struct netbe_options o = opts(2);
	struct netbe *be = open_be("loop", &o);
	static uint8_t f[64], out[BUF_CAP];
	struct netbe_rxbuf b = {.data = out, .cap = BUF_CAP};
	struct iovec iov = {f, sizeof(f)};
	struct netbe_txpkt pk[300];
	unsigned got = 0;
	int ret;

	(void)state;
	/* Before set_queue_pairs() a pair has no ring: frames are dropped. */
	assert_int_equal(tx_one(be, 0, f, 64, NULL), 0);
	assert_int_equal(stats_of(be, 0).tx_dropped, 1);
	assert_int_equal(be->ops->set_queue_pairs(be, 1), 0);
	make_frame(f, 64, 0);
	for (unsigned i = 0; i < 300; i++)
		pk[i] = (struct netbe_txpkt){.iov = &iov, .iovcnt = 1, .len = 64};
	ret = be->ops->tx(be, 0, pk, 300);
	assert_true(ret > 0 && ret < 300);
	assert_int_equal(stats_of(be, 0).tx_dropped, 1 + 300 - (unsigned)ret);
	assert_int_equal(tx_one(be, 0, f, 64, NULL), 0);
	while (be->ops->rx(be, 0, &b, 1) == 1)
		got++;
	assert_int_equal(got, (unsigned)ret);
	assert_false(fd_readable(be->ops->rx_fd(be, 0), 0));
	/* The ring works again after draining. */
	assert_int_equal(tx_one(be, 0, f, 64, NULL), 1);
	/* Pair 1 was never activated: still dropping. */
	assert_int_equal(tx_one(be, 1, f, 64, NULL), 0);
	assert_int_equal(stats_of(be, 1).tx_dropped, 1);
	netbe_free(be); /* with a frame still queued */
}

/* A UDP/IPv4 frame with a partial checksum, as a driver hands it over. */
static uint32_t udp_partial(uint8_t *f, uint16_t payload, struct netbe_meta *m)
{
	static const uint8_t src_mac[6] = {2, 0, 0, 0, 0, 1};
	static const uint8_t src_ip[4] = {10, 0, 0, 1}, dst_ip[4] = {10, 0, 0, 2};
	uint16_t l4 = (uint16_t)(8 + payload);
	uint32_t off = build_ipv4(f, guest_mac, src_mac, src_ip, dst_ip, 17, l4);

	put16(f + off, 1234);
	put16(f + off + 2, 5678);
	put16(f + off + 4, l4);
	for (uint16_t i = 0; i < payload; i++)
		f[off + 8 + i] = (uint8_t)(i * 7 + 1);
	put16(f + off + 6, csum_fold(pseudo_sum(f, l4)));
	*m = (struct netbe_meta){.flags = 1, .csum_start = (uint16_t)off, .csum_offset = 6};
	return off + l4;
}

static void test_loop_offloads(void **state)
{
	struct netbe_options o = opts(1);
	struct netbe *be = open_be("loop", &o);
	static uint8_t f[200], out[2][BUF_CAP];
	struct netbe_rxbuf b[2] = {{.data = out[0], .cap = BUF_CAP},
				   {.data = out[1], .cap = BUF_CAP}};
	struct netbe_meta m, gso = {.flags = 1,
				    .gso_type = 1,
				    .hdr_len = 54,
				    .gso_size = 100,
				    .csum_start = 34,
				    .csum_offset = 16};
	uint32_t len = udp_partial(f, 101, &m);

	(void)state;
	assert_int_equal(be->ops->set_queue_pairs(be, 1), 0);
	/* CSUM allowed: the partial checksum travels as it is. */
	assert_int_equal(be->ops->set_rx_offloads(be, NETBE_CAP_CSUM), 0);
	assert_int_equal(tx_one(be, 0, f, len, &m), 1);
	assert_int_equal(be->ops->rx(be, 0, b, 2), 1);
	assert_memory_equal(&b[0].meta, &m, sizeof(m));
	assert_memory_equal(out[0], f, len);
	/* Nothing allowed: metadata still travels (the device finishes
	 * partial checksums and segments GSO frames on its receive path);
	 * DATA_VALID from a driver is not passed on. */
	assert_int_equal(be->ops->set_rx_offloads(be, 0), 0);
	assert_int_equal(tx_one(be, 0, f, len, &gso), 1);
	m.flags |= VIRTIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(tx_one(be, 0, f, len, &m), 1);
	assert_int_equal(be->ops->rx(be, 0, b, 2), 2);
	assert_memory_equal(&b[0].meta, &gso, sizeof(gso));
	assert_int_equal(b[1].meta.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(b[1].meta.csum_start, 34);
	assert_int_equal(stats_of(be, 0).rx_dropped, 0);
	/* The driver's pseudo-header sum is left for the device to finish. */
	assert_int_equal(get16(out[1] + 40), get16(f + 40));
	assert_int_equal(csum_fold(pseudo_sum(out[1], (uint16_t)(len - 34))), get16(f + 40));
	netbe_free(be);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_roundtrip),
		cmocka_unit_test(test_loop_full),
		cmocka_unit_test(test_loop_offloads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
