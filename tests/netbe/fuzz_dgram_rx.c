/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the dgram backend's receive (dgram_rx(), lib/netbe/dgram.c)
 * from its real UDP socket: a peer socket the fuzzer owns sends datagrams
 * of any size and content over loopback, and rx() is called with receive
 * buffers of any number and capacity (each a malloc() of exactly its
 * capacity, so ASan sees a byte written past one). The backend
 * ("dgram:127.0.0.1:0,127.0.0.1:PEER") and the peer are made once; the
 * backend's socket is found through rx_fd(0), and the peer connects to it.
 *
 * Input, little-endian, reads past the end yield zeros (fuzz_input.h):
 *   u8  datagrams to send, n % 17
 *   n x {u16 length (% 9100, or 9100 + x for x >= 65000: up to 65500 bytes),
 *        u8 fill seed}: the bytes are the seed counting up
 *   (datagrams past 100000 bytes in all are not sent: the socket buffer
 *   holds that much for sure)
 *   then rx() calls until every datagram is accounted for (at most 72),
 *   each u8 buffers, 1 + x % 40, and u8 queue pair (x % 3), then per
 *   buffer u16 capacity (% 10000; 0 allowed); then calls on queue pair 0
 *   with 4 buffers of 65500 bytes take the rest
 *
 * Invariants (FUZZ_CHECK):
 *  - rx() returns 0..n; only queue pair 0 receives (others return 0);
 *  - every frame returned fits its buffer, is at least an Ethernet header
 *    long, has no metadata, and equals the next datagram sent that was not
 *    dropped: frames come out in order, intact;
 *  - counting: after the last call, datagrams sent = frames returned +
 *    rx_dropped + rx_errors of the backend; rx_errors counts only
 *    datagrams shorter than 14 bytes; the socket is then empty.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vqnet/netbe.h>

#include "../fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_DGRAMS 16
#define FZ_MAX_BUFS   40
#define FZ_MAX_LEN    65500u
#define FZ_MAX_TOTAL  100000u

static struct netbe *be;
static int peer = -1;

static void once(void)
{
	if (be)
		return;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int sz = 8 << 20;
	peer = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(peer >= 0);
	setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	FUZZ_CHECK(bind(peer, (struct sockaddr *)&a, sizeof(a)) == 0);
	FUZZ_CHECK(getsockname(peer, (struct sockaddr *)&a, &al) == 0);
	char spec[64], err[256];
	snprintf(spec, sizeof(spec), "dgram:127.0.0.1:0,127.0.0.1:%u", ntohs(a.sin_port));
	struct netbe_options opt = {.max_queue_pairs = 3, .mtu = 1500};
	if (netbe_new(spec, &opt, &be, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	int fd = be->ops->rx_fd(be, 0);
	FUZZ_CHECK(fd >= 0);
	al = sizeof(a);
	FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	FUZZ_CHECK(connect(peer, (struct sockaddr *)&a, sizeof(a)) == 0);
}

static uint64_t counted(void)
{
	struct netbe_stats s;
	be->ops->get_stats(be, 0, &s);
	return s.rx_dropped + s.rx_errors;
}

static uint64_t errors(void)
{
	struct netbe_stats s;
	be->ops->get_stats(be, 0, &s);
	return s.rx_errors;
}

struct dgram {
	uint32_t len;
	uint8_t seed;
};

static bool matches(const struct dgram *d, const uint8_t *p, uint32_t len)
{
	if (d->len != len)
		return false;
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(d->seed + i))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[FZ_MAX_LEN];
	struct fuzz_input in = {data, size};
	struct dgram sent[FZ_MAX_DGRAMS];
	unsigned n = fin_u8(&in) % (FZ_MAX_DGRAMS + 1), runts = 0;
	uint32_t total = 0;

	once();
	uint64_t counted0 = counted(), errors0 = errors();
	for (unsigned i = 0; i < n; i++) {
		uint16_t x = fin_u16(&in);
		sent[i].len = x < 65000 ? x % 9100u : 9100u + (x - 65000u) * 100u;
		if (sent[i].len > FZ_MAX_LEN)
			sent[i].len = FZ_MAX_LEN;
		sent[i].seed = fin_u8(&in);
		/* Well within the socket buffer even at the default size
		 * (skb overhead included): the kernel loses nothing. */
		if (total + sent[i].len > FZ_MAX_TOTAL) {
			n = i;
			break;
		}
		total += sent[i].len;
		for (uint32_t k = 0; k < sent[i].len; k++)
			payload[k] = (uint8_t)(sent[i].seed + k);
		FUZZ_CHECK(send(peer, payload, sent[i].len, 0) == (ssize_t)sent[i].len);
		runts += sent[i].len < 14;
	}

	/* Receive until every datagram is a frame or counted; bounded: each
	 * call with a buffer and datagrams waiting makes progress. */
	unsigned next = 0, frames = 0;
	for (unsigned calls = 0; calls < 4 * FZ_MAX_DGRAMS + 8; calls++) {
		if (frames + (counted() - counted0) == n)
			break;
		unsigned nb = 1u + fin_u8(&in) % FZ_MAX_BUFS, q = fin_u8(&in) % 3;
		struct netbe_rxbuf bufs[FZ_MAX_BUFS];
		for (unsigned i = 0; i < nb; i++) {
			uint32_t cap = fin_u16(&in) % 10000u;
			bufs[i] = (struct netbe_rxbuf){.data = malloc(cap ? cap : 1), .cap = cap};
			FUZZ_CHECK(bufs[i].data);
			memset(&bufs[i].meta, 0x5a, sizeof(bufs[i].meta));
		}
		int got = be->ops->rx(be, q, bufs, nb);
		FUZZ_CHECK(got >= 0 && (unsigned)got <= nb);
		FUZZ_CHECK(q == 0 || got == 0);
		for (int i = 0; i < got; i++) {
			const struct netbe_rxbuf *b = &bufs[i];
			const struct netbe_meta zero = {0};
			FUZZ_CHECK(b->len >= 14 && b->len <= b->cap);
			FUZZ_CHECK(!memcmp(&b->meta, &zero, sizeof(zero)));
			/* The next datagram not dropped: skip the ones counted. */
			while (next < n && !matches(&sent[next], b->data, b->len))
				next++;
			FUZZ_CHECK(next < n);
			next++;
			frames++;
		}
		for (unsigned i = 0; i < nb; i++)
			free(bufs[i].data);
	}
	/* Then queue pair 0 with big buffers takes what is left. */
	static uint8_t big[4][FZ_MAX_LEN];
	for (unsigned calls = 0; calls <= n && frames + (counted() - counted0) < n; calls++) {
		struct netbe_rxbuf bufs[4];
		for (unsigned i = 0; i < 4; i++)
			bufs[i] = (struct netbe_rxbuf){.data = big[i], .cap = FZ_MAX_LEN};
		int got = be->ops->rx(be, 0, bufs, 4);
		FUZZ_CHECK(got >= 0 && got <= 4);
		for (int i = 0; i < got; i++) {
			while (next < n && !matches(&sent[next], bufs[i].data, bufs[i].len))
				next++;
			FUZZ_CHECK(next < n);
			next++;
			frames++;
		}
	}
	FUZZ_CHECK(frames + (counted() - counted0) == n);
	/* A runt in a smaller buffer is truncated: dropped, not an error. */
	FUZZ_CHECK(errors() - errors0 <= runts);
	char c;
	FUZZ_CHECK(recv(be->ops->rx_fd(be, 0), &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	return 0;
}
