/* SPDX-License-Identifier: MIT */
/*
 * The capture writer (capture.h).
 *
 * The device's workers copy frames into rings of their own and never wait
 * (lib/net_dev/capture.c); this thread drains the rings every few
 * milliseconds, runs the filter (libpcap's BPF interpreter) and appends
 * what passes to the file with libpcap's writer, so the file is a
 * standard pcap that tcpdump and Wireshark read. The file is opened at
 * set-up: once confined vqnetd may create no file. Timestamps are the
 * workers' monotonic clock moved to wall-clock time once, at start.
 */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/log.h>

#include "sysfilter.h"

#define CAPTURE_SLOTS	     256  /* per queue pair */
#define CAPTURE_READ_BURST   1024 /* frames per drain */
#define CAPTURE_IDLE_MS	     5
#define CAPTURE_FLUSH_NS     (100 * 1000000ull)
#define PCAP_RECORD_OVERHEAD 16 /* a record's header in the file */

struct capture {
	struct capture_opts opts;
	pcap_t *pcap; /* a "dead" handle: the link type and snaplen */
	pcap_dumper_t *dumper;
	struct bpf_program prog;
	bool has_prog;
	struct net_dev *dev;
	const struct sandbox_opts *sandbox;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	int64_t mono_to_real_ns;
	uint64_t last_flush_ns;
	/* Writer thread's counters, read after it is joined. */
	uint64_t written, filtered, over_limit, bytes;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Compile @o->filter for Ethernet frames of @o->snaplen bytes. */
static int compile_filter(struct capture *c)
{
	if (!c->opts.filter)
		return 0;
	if (pcap_compile(c->pcap, &c->prog, c->opts.filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		fprintf(stderr, "vqnetd: --capture-filter '%s': %s\n", c->opts.filter,
			pcap_geterr(c->pcap));
		return -EINVAL;
	}
	c->has_prog = true;
	return 0;
}

int capture_open(const struct capture_opts *o, struct capture **out)
{
	struct capture *c = calloc(1, sizeof(*c));
	FILE *f = NULL;
	int fd, rc;

	if (!c)
		return -ENOMEM;
	c->opts = *o;
	c->pcap = pcap_open_dead(DLT_EN10MB, (int)o->snaplen);
	rc = c->pcap ? compile_filter(c) : -ENOMEM;
	if (rc)
		goto err;
	fd = open(o->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		rc = -errno;
		fprintf(stderr, "vqnetd: --capture %s: %s\n", o->file, strerror(-rc));
		if (fd >= 0)
			close(fd);
		goto err;
	}
	c->dumper = pcap_dump_fopen(c->pcap, f);
	if (!c->dumper) {
		fprintf(stderr, "vqnetd: --capture %s: %s\n", o->file, pcap_geterr(c->pcap));
		fclose(f);
		rc = -EIO;
		goto err;
	}
	pcap_dump_flush(c->dumper); /* the file header, so it is a pcap from now on */
	*out = c;
	return 0;
err:
	if (c->has_prog)
		pcap_freecode(&c->prog);
	if (c->pcap)
		pcap_close(c->pcap);
	free(c);
	return rc;
}

/* One frame from a worker's ring: filtered, bounded, appended. */
static void write_frame(void *opaque, const struct net_dev_capture_frame *f)
{
	struct capture *c = opaque;
	uint64_t ns = f->ts_ns + (uint64_t)c->mono_to_real_ns;
	struct pcap_pkthdr h = {
		.ts = {.tv_sec = (time_t)(ns / 1000000000ull),
		       .tv_usec = (suseconds_t)(ns % 1000000000ull / 1000)},
		.caplen = f->caplen,
		.len = f->len,
	};

	if (c->has_prog && !pcap_offline_filter(&c->prog, &h, f->data)) {
		c->filtered++;
		return;
	}
	if (c->opts.max_bytes && c->bytes + PCAP_RECORD_OVERHEAD + f->caplen > c->opts.max_bytes) {
		c->over_limit++;
		return;
	}
	pcap_dump((u_char *)c->dumper, &h, f->data);
	c->written++;
	c->bytes += PCAP_RECORD_OVERHEAD + f->caplen;
}

/* Drain until told to stop, then once more for what is left. */
static void *capture_thread(void *arg)
{
	struct capture *c = arg;

	sandbox_enter_thread(c->sandbox, SYSFILTER_CAPTURE, "vqnet-capture");
	for (;;) {
		bool stopping = atomic_load_explicit(&c->stop, memory_order_acquire);
		unsigned n = net_dev_capture_read(c->dev, write_frame, c, CAPTURE_READ_BURST);
		uint64_t now = clock_ns(CLOCK_MONOTONIC);

		if (now - c->last_flush_ns > CAPTURE_FLUSH_NS) {
			pcap_dump_flush(c->dumper);
			c->last_flush_ns = now;
		}
		if (stopping && !n)
			break;
		if (!n)
			poll(NULL, 0, CAPTURE_IDLE_MS);
	}
	pcap_dump_flush(c->dumper);
	return NULL;
}

int capture_start(struct capture *c, struct net_dev *d, const struct sandbox_opts *sandbox)
{
	int rc = net_dev_capture_start(d, c->opts.snaplen, CAPTURE_SLOTS);

	if (rc) {
		vqnet_log(VQNET_LOG_ERROR, "capture", "starting the taps: %s", strerror(-rc));
		return rc;
	}
	c->dev = d;
	c->sandbox = sandbox;
	c->mono_to_real_ns = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	c->last_flush_ns = clock_ns(CLOCK_MONOTONIC);
	rc = -pthread_create(&c->thread, NULL, capture_thread, c);
	if (rc) {
		net_dev_capture_stop(d);
		vqnet_log(VQNET_LOG_ERROR, "capture", "writer thread: %s", strerror(-rc));
		return rc;
	}
	c->running = true;
	vqnet_log(VQNET_LOG_INFO, "capture", "to %s, snaplen %u%s%s", c->opts.file, c->opts.snaplen,
		  c->opts.filter ? ", filter " : "", c->opts.filter ? c->opts.filter : "");
	return 0;
}

void capture_close(struct capture *c)
{
	uint64_t dropped = 0;

	if (!c)
		return;
	if (c->running) {
		atomic_store_explicit(&c->stop, true, memory_order_release);
		pthread_join(c->thread, NULL);
		dropped = net_dev_capture_dropped(c->dev);
		net_dev_capture_stop(c->dev);
		vqnet_log(VQNET_LOG_INFO, "capture",
			  "%s: %" PRIu64 " frames written, %" PRIu64 " filtered out, %" PRIu64
			  " dropped (ring full), %" PRIu64 " past --capture-max-bytes",
			  c->opts.file, c->written, c->filtered, dropped, c->over_limit);
	}
	pcap_dump_close(c->dumper);
	if (c->has_prog)
		pcap_freecode(&c->prog);
	pcap_close(c->pcap);
	free(c);
}
