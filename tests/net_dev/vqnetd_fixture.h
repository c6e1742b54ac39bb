/* SPDX-License-Identifier: MIT */
/*
 * vqnetd, the real daemon process, under test: the fixture the
 * test_vqnetd_*.c files share (the out-of-process sibling of
 * net_dev_fixture.h).
 *
 * Each test spawns `vqnetd --socket S --backend loop --log-level info` (the
 * path comes as argv[1] or $VQNETD) with stdout and stderr going to files in
 * a private temp dir, and plays the frontend and the driver with
 * net_dev_test_frontend.c (vu_frontend_* + vq_drv_* over memfd memory).
 *
 * Counters are read the way an operator does: SIGUSR1 and parse stdout.
 * No assertion depends on timing: every wait polls until a deadline
 * (generous, for a loaded 2-core machine), and every child is killed and
 * reaped on every path (teardown, and an atexit handler for aborts).
 */
#ifndef VQNET_TESTS_NET_DEV_VQNETD_FIXTURE_H
#define VQNET_TESTS_NET_DEV_VQNETD_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net_dev_test_frontend.h"

#define F NTF_F

#define DEV_MAC_STR "02:00:00:00:00:01"
#define WAIT_MS	    20000u /* any single wait; far above what a loaded box needs */

#define WANT_BASE (F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))

extern const uint8_t dev_mac[6];
extern const uint8_t peer_mac[6];

/* One vqnetd. */
struct vqd {
	pid_t pid; /* 0 when not running */
	char out[128], err[128];
	size_t log_mark; /* stderr bytes already looked at by log_wait() */
	unsigned totals; /* "vqnetd: total" lines seen on stdout */
};

/* A test's state (setup() and teardown()). */
struct fx {
	char dir[64];
	char sock[108];
	unsigned spawned;
	struct vqd d;
	struct ntf n;
	bool n_open;
};

/* Take the vqnetd path from argv[1] or $VQNETD and kill every child at
 * exit. Return: 0, or 77 (skip the program) when there is no vqnetd. */
int vqnetd_fixture_init(int argc, char **argv);
/* A private temp dir and socket path; teardown kills every child and
 * removes it. */
int setup(void **state);
int teardown(void **state);
void fe_open(struct fx *x, const struct ntf_opts *o);
void fe_close(struct fx *x);

/*
 * Wait until the daemon's stderr, past the mark, contains @needle (and, if
 * @also, @also on the same line). Move the mark past that line. Fails on
 * timeout or if the daemon exits.
 */
void log_wait2(struct vqd *d, const char *needle, const char *also);
void log_wait(struct vqd *d, const char *needle);
/* Spawn vqnetd on the fixture's socket with @extra arguments (NULL-ended)
 * and wait until it listens and is ready (set up and confined; only
 * listening with --sandbox-selftest). */
void vqd_start(struct fx *x, const char *const *extra);
/* The same without waiting (its log may go elsewhere: --log-target). */
void vqd_spawn(struct fx *x, const char *const *extra);
/* Send @sig and reap; return the wait status. SIGKILL after WAIT_MS. */
int vqd_signal_wait(struct vqd *d, int sig);
/* SIGTERM: exit status 0 and the final counters on stdout. */
void vqd_term_ok(struct vqd *d);
/* Everything the daemon wrote to stderr so far (free() it). */
char *vqd_stderr(const struct vqd *d);

struct qcount {
	uint64_t packets, bytes, drops, errors;
	uint64_t bad_chain, rx_filtered; /* from the device's detailed line */
};

/*
 * SIGUSR1, wait for the new block of counters on stdout, and parse queue
 * @q's line (`vqnetd: queue Q NAME: packets=N bytes=N drops=N errors=N`)
 * and its detailed line.
 */
struct qcount vqd_counters(struct vqd *d, unsigned q, unsigned pairs);

/* Open file descriptors of process @pid. */
unsigned fd_count(pid_t pid);
/* Wait until the daemon holds exactly @want fds. */
void fd_wait(struct vqd *d, unsigned want);

/* Send one frame on @pair and get it back unchanged. */
void echo(struct ntf *n, unsigned pair, uint32_t len, uint32_t seq);
/* echo() after traffic was cut short or while it flows (the loop backend
 * may still hold frames of an old connection or drop ours when full, the
 * transmit ring may be full): waits for a free chain, skips other frames,
 * sends again what a full backend dropped. */
void echo_skip(struct ntf *n, unsigned pair, uint32_t len, uint32_t seq);

/* Post 60-byte frames @*seq, @*seq + 1, ... on @pair until its ring or
 * its slots are full. Return: how many. */
unsigned tx_fill(struct ntf *n, unsigned pair, uint32_t *seq);
/* Take every completed receive chain of @pair unread. Return: how many. */
unsigned rx_discard(struct ntf *n, unsigned pair);
/* Traffic on @pair for @ms: transmit ring kept full (tx_fill()), receive
 * buffers kept posted, both reaped. Return: frames received. */
unsigned pump(struct ntf *n, unsigned pair, unsigned ms, uint32_t *seq);

/* tcpdump's reading of the pcap file @path: the number of frames it shows
 * of @len bytes (all frames: 0), or -1 if tcpdump could not read it. */
int tcpdump_count(const char *path, unsigned len);

/* Lines of /proc/@pid/maps containing @name ("-": every mapping). */
unsigned maps_count(pid_t pid, const char *name);
/* VmRSS of @pid in KiB. */
uint64_t rss_kib(pid_t pid);

#endif
