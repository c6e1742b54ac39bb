/* SPDX-License-Identifier: MIT */
/*
 * The capture writer (capture.h).
 *
 * The device's workers copy frames into rings of their own and never wait
 * (lib/net_dev/capture.c); this thread drains the rings every few
 * milliseconds, runs the filter (libpcap's BPF interpreter) and appends
 * what passes to the file with libpcap's writer, so the file is a
 * standard pcap that tcpdump and Wireshark read. A --capture file is
 * opened at set-up; once confined, vqnetd may create new files only in
 * --capture-dir (`vqnetctl capture start`), which Landlock and the control
 * thread's seccomp list allow and nothing else (docs/security.md).
 * Timestamps are the
 * workers' monotonic clock moved to wall-clock time once, at start.
 */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
	struct capture_opts opts; /* file and filter point at the copies below */
	char *file, *filter;
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
	/* The writer thread's counters (the control thread reads them live). */
	_Atomic uint64_t written, filtered, over_limit;
	uint64_t bytes;
};

static void count(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static uint64_t counter(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Compile the filter for Ethernet frames of snaplen bytes. */
static int compile_filter(struct capture *c, char *err, size_t err_len)
{
	if (!c->opts.filter)
		return 0;
	if (pcap_compile(c->pcap, &c->prog, c->opts.filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, err_len, "filter '%s': %s", c->opts.filter, pcap_geterr(c->pcap));
		return -EINVAL;
	}
	c->has_prog = true;
	return 0;
}

static void capture_free(struct capture *c)
{
	if (c->has_prog)
		pcap_freecode(&c->prog);
	if (c->pcap)
		pcap_close(c->pcap);
	free(c->file);
	free(c->filter);
	free(c);
}

/* A capture of @o (strings copied) but its file. */
static int capture_new(const struct capture_opts *o, struct capture **out, char *err,
		       size_t err_len)
{
	struct capture *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->opts = *o;
	c->file = strdup(o->file);
	c->filter = o->filter ? strdup(o->filter) : NULL;
	c->opts.file = c->file;
	c->opts.filter = c->filter;
	c->pcap = pcap_open_dead(DLT_EN10MB, (int)o->snaplen);
	if (!c->file || (o->filter && !c->filter) || !c->pcap) {
		snprintf(err, err_len, "%s", strerror(ENOMEM));
		rc = -ENOMEM;
	} else {
		rc = compile_filter(c, err, err_len);
	}
	if (rc) {
		capture_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Write the pcap file header to @fd (closed on failure) through
 * libpcap's writer. */
static int attach_file(struct capture *c, int fd, char *err, size_t err_len)
{
	FILE *f = fdopen(fd, "w");

	if (!f) {
		snprintf(err, err_len, "%s", strerror(errno));
		close(fd);
		return -ENOMEM;
	}
	c->dumper = pcap_dump_fopen(c->pcap, f);
	if (!c->dumper) {
		snprintf(err, err_len, "%s", pcap_geterr(c->pcap));
		fclose(f);
		return -EIO;
	}
	pcap_dump_flush(c->dumper); /* the file header, so it is a pcap from now on */
	return 0;
}

int capture_open(const struct capture_opts *o, struct capture **out)
{
	struct capture *c;
	char err[PCAP_ERRBUF_SIZE + 128] = "";
	int fd, rc = capture_new(o, &c, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "vqnetd: --capture %s: %s\n", o->file, err);
		return rc;
	}
	fd = open(o->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "%s", strerror(-rc));
	} else {
		rc = attach_file(c, fd, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "vqnetd: --capture %s: %s\n", o->file, err);
		capture_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* A name that stays in its directory. */
static bool plain_name(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") &&
	       strlen(name) <= NAME_MAX;
}

int capture_open_in(int dir_fd, const char *dir_name, const struct capture_opts *o,
		    struct capture **out, char *err, size_t err_len)
{
	struct capture_opts named = *o; /* the file as the operator sees it: DIR/NAME */
	char *path = NULL;
	struct capture *c;
	int fd, rc;

	if (!plain_name(o->file)) {
		snprintf(err, err_len, "'%.64s' is not a file name in --capture-dir %s", o->file,
			 dir_name);
		return -EINVAL;
	}
	if (asprintf(&path, "%s/%s", dir_name, o->file) < 0) {
		snprintf(err, err_len, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	named.file = path;
	rc = capture_new(&named, &c, err, err_len);
	free(path);
	if (rc)
		return rc;
	/* O_EXCL and O_NOFOLLOW: whoever else may write to the directory
	 * cannot make vqnetd overwrite a file or follow a link (the
	 * seccomp filter allows only these flags, docs/security.md). */
	fd = openat(dir_fd, o->file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", c->file,
			 rc == -EEXIST ? "exists (a capture never replaces a file)"
				       : strerror(-rc));
	} else {
		rc = attach_file(c, fd, err, err_len);
	}
	if (rc) {
		capture_free(c);
		return rc;
	}
	*out = c;
	return 0;
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
		count(&c->filtered);
		return;
	}
	if (c->opts.max_bytes && c->bytes + PCAP_RECORD_OVERHEAD + f->caplen > c->opts.max_bytes) {
		count(&c->over_limit);
		return;
	}
	pcap_dump((u_char *)c->dumper, &h, f->data);
	count(&c->written);
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

void capture_get_info(const struct capture *c, struct capture_info *out)
{
	*out = (struct capture_info){
		.file = c->opts.file,
		.filter = c->opts.filter,
		.snaplen = c->opts.snaplen,
		.max_bytes = c->opts.max_bytes,
		.written = counter(&c->written),
		.filtered = counter(&c->filtered),
		.over_limit = counter(&c->over_limit),
		.dropped = c->running ? net_dev_capture_dropped(c->dev) : 0,
	};
}

const char *capture_file(const struct capture *c)
{
	return c->opts.file;
}

void capture_close(struct capture *c, char *summary, size_t len)
{
	struct capture_info i;
	char line[512];

	if (!c)
		return;
	if (c->running) {
		atomic_store_explicit(&c->stop, true, memory_order_release);
		pthread_join(c->thread, NULL);
		capture_get_info(c, &i);
		net_dev_capture_stop(c->dev);
		snprintf(line, sizeof(line),
			 "%s: %" PRIu64 " frames written, %" PRIu64 " filtered out, %" PRIu64
			 " dropped (ring full), %" PRIu64 " past --capture-max-bytes",
			 c->opts.file, i.written, i.filtered, i.dropped, i.over_limit);
		vqnet_log(VQNET_LOG_INFO, "capture", "%s", line);
		if (summary)
			snprintf(summary, len, "%s", line);
	}
	pcap_dump_close(c->dumper);
	capture_free(c);
}
