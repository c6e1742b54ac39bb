/* SPDX-License-Identifier: MIT */
/*
 * vu-loop-dev: a TEST-ONLY loopback virtio-net device behind vqnet's
 * vhost-user backend, for interop tests against real frontends (DPDK's
 * virtio-user PMD, QEMU). Not a network device: every frame the driver
 * transmits is handed straight back to it on its receive queue.
 *
 *   vu-loop-dev --socket PATH [--packed-ok] [--seconds N]
 *
 * The device is tests/harness/loop_dev.c (the one the driver library's
 * tests run in-process), here with one queue pair: 0 = receiveq (the
 * device writes), 1 = transmitq (the device reads), 2 = the control queue
 * (not offered: no CTRL_VQ). Offered: EVENT_IDX, IN_ORDER, MAC, STATUS and,
 * with --packed-ok, RING_PACKED. A frame waits for its receive buffer.
 *
 * Output (stdout, one line each): the negotiated features, the format of
 * each started ring, and at exit (SIGINT/SIGTERM or --seconds) the counts:
 *   vu-loop-dev: frames=N drops=N errors=N starts=N stops=N
 * Exit status 0 when no error was counted.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vqnet/virtq.h>

#include "spec/virtio_net.h"
#include "../harness/loop_dev.h"
#include "../harness/test_util.h"

#define F(bit) (1ull << (bit))

static void usage(void)
{
	fprintf(stderr, "usage: vu-loop-dev --socket PATH [--packed-ok] [--seconds N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 1}; /* locally administered */
	struct loop_dev_config cfg = {.pairs = 1, .mac = mac, .log_name = "vu-loop-dev"};
	const struct timespec tick = {0, 100 * 1000000L};
	const char *path = NULL, *sock;
	bool packed_ok = false;
	long seconds = 0;
	struct loop_dev *ld;
	uint64_t frames, drops, errors, start;
	unsigned starts, stops;
	sigset_t sigs;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--packed-ok"))
			packed_ok = true;
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtol(argv[++i], NULL, 10);
		else
			usage();
	}
	if (!path)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* SIGINT and SIGTERM end the run: blocked in every thread (the
	 * device's threads inherit the mask) and taken here. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	cfg.socket_path = path;
	cfg.features = F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_IN_ORDER) | F(VIRTIO_NET_F_MAC) |
		       F(VIRTIO_NET_F_STATUS) | (packed_ok ? F(VIRTIO_F_RING_PACKED) : 0);
	rc = loop_dev_start(&cfg, &ld, &sock);
	if (rc < 0) {
		fprintf(stderr, "vu-loop-dev: vu_backend_new(%s): %s\n", path, strerror(-rc));
		return 1;
	}
	printf("vu-loop-dev: listening on %s%s\n", sock, packed_ok ? " (packed offered)" : "");

	start = now_ms();
	while (sigtimedwait(&sigs, NULL, &tick) < 0)
		if (seconds > 0 && now_ms() - start >= (uint64_t)seconds * 1000u)
			break;

	loop_dev_halt(ld); /* stops the rings, then the device's threads */
	loop_dev_counts(ld, &frames, &drops, &errors);
	loop_dev_ring_events(ld, &starts, &stops);
	loop_dev_stop(ld);
	printf("vu-loop-dev: frames=%" PRIu64 " drops=%" PRIu64 " errors=%" PRIu64
	       " starts=%u stops=%u\n",
	       frames, drops, errors, starts, stops);
	return errors ? 1 : 0;
}
