/* SPDX-License-Identifier: MIT */
/*
 * udp-seq: a sequence-numbered UDP stream, to count what a path loses or
 * repeats (tests/interop/vqnetd-client.sh: host -> guest through a TAP
 * while vqnetd is killed and restarted).
 *
 *   udp-seq send ADDR PORT COUNT PPS   COUNT datagrams 0..COUNT-1 at PPS per
 *                                      second; a full socket buffer is
 *                                      waited out, never skipped.
 *                                      Prints "sent=N".
 *   udp-seq recv PORT COUNT IDLE_S     receive until each of 0..COUNT-1 came
 *                                      or IDLE_S seconds pass without any.
 *                                      Prints "received=N lost=N
 *                                      duplicated=N out_of_order=N".
 *
 * A datagram is 64 bytes: the 32-bit sequence number, big-endian, then a
 * fixed pattern (a corrupted one counts as lost and is reported).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DGRAM 64

static void fill(uint8_t *b, uint32_t seq)
{
	uint32_t be = htonl(seq);

	memcpy(b, &be, 4);
	for (unsigned i = 4; i < DGRAM; i++)
		b[i] = (uint8_t)(seq + i);
}

static int usage(void)
{
	fprintf(stderr, "usage: udp-seq send ADDR PORT COUNT PPS | recv PORT COUNT IDLE_S\n");
	return 2;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int do_send(const char *addr, int port, uint32_t count, uint32_t pps)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	uint64_t t0 = now_ns(), gap = 1000000000u / (pps ? pps : 1);
	uint8_t b[DGRAM];
	uint32_t seq = 0;

	if (s < 0 || inet_pton(AF_INET, addr, &to.sin_addr) != 1)
		return usage();
	while (seq < count) {
		uint64_t due = t0 + seq * gap, t = now_ns();

		if (t < due) {
			struct timespec d = {.tv_sec = 0, .tv_nsec = (long)(due - t)};
			nanosleep(&d, NULL);
		}
		fill(b, seq);
		if (sendto(s, b, DGRAM, 0, (struct sockaddr *)&to, sizeof(to)) == DGRAM) {
			seq++;
		} else if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
			usleep(1000); /* the same number again */
		} else {
			perror("udp-seq: sendto");
			break;
		}
	}
	printf("sent=%u\n", seq);
	return seq == count ? 0 : 1;
}

static int do_recv(int port, uint32_t count, int idle_s)
{
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_DGRAM, 0), rcvbuf = 16 << 20;
	uint8_t *seen = calloc(count ? count : 1, 1), b[DGRAM + 1], want[DGRAM];
	uint32_t got = 0, dups = 0, late = 0, bad = 0, max = 0;
	bool any = false;

	if (s < 0 || !seen) {
		free(seen);
		return 1;
	}
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(s, (struct sockaddr *)&me, sizeof(me)) < 0) {
		perror("udp-seq: bind");
		free(seen);
		close(s);
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (got < count) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		uint32_t be, seq;
		ssize_t n;

		/* Before the first datagram: wait as long as it takes (the
		 * caller's time limit ends it). */
		if (poll(&p, 1, any ? idle_s * 1000 : -1) <= 0)
			break;
		n = recv(s, b, sizeof(b), 0);
		if (n != DGRAM) {
			bad++;
			continue;
		}
		memcpy(&be, b, 4);
		seq = ntohl(be);
		fill(want, seq);
		if (seq >= count || memcmp(b, want, DGRAM)) {
			bad++;
			continue;
		}
		any = true;
		if (seen[seq]) {
			dups++;
			continue;
		}
		if (seq < max)
			late++;
		if (seq > max)
			max = seq;
		seen[seq] = 1;
		got++;
	}
	printf("received=%u lost=%u duplicated=%u out_of_order=%u corrupt=%u\n", got, count - got,
	       dups, late, bad);
	free(seen);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "send"))
		return do_send(argv[2], atoi(argv[3]), (uint32_t)strtoul(argv[4], NULL, 0),
			       (uint32_t)strtoul(argv[5], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "recv"))
		return do_recv(atoi(argv[2]), (uint32_t)strtoul(argv[3], NULL, 0), atoi(argv[4]));
	return usage();
}
