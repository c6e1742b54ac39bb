/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's system-call allow-lists, one per thread kind (docs/security.md
 * "What each thread may call").
 */
#ifndef VQNETD_SYSFILTER_H
#define VQNETD_SYSFILTER_H

#include <stdbool.h>

enum sysfilter_kind {
	SYSFILTER_CONTROL = 0, /* the main thread: vhost-user, control queue, signals */
	SYSFILTER_WORKER,      /* a queue pair's worker: rings and the backend's fds */
	SYSFILTER_SLIRP,       /* the slirp backend's libslirp thread: host sockets */
	SYSFILTER_CAPTURE,     /* the capture writer: appends to the open pcap file */
	SYSFILTER_KINDS
};

/*
 * sysfilter_prepare() - compile the filters (libseccomp) into BPF
 * programs kept for the life of the process, and install the SIGSYS
 * handler that names a forbidden call before the process dies. With
 * @capture_dir_fd >= 0 (vqnetd --capture-dir) the control thread may
 * create new files in that directory: openat(capture_dir_fd, name,
 * O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW...) and nothing else of openat.
 * Call once, before any thread that will enter a filter starts. Return 0,
 * or -errno with one log line.
 */
int sysfilter_prepare(int capture_dir_fd, bool host_sockets);

/*
 * sysfilter_enter() - confine the calling thread to @kind's list; @name
 * (at most 15 characters) is what the SIGSYS line calls the thread. The
 * thread's no_new_privs must be set. A thread that cannot be confined
 * stops the process: vqnetd never runs half-confined.
 */
void sysfilter_enter(enum sysfilter_kind kind, const char *name);

/*
 * sysfilter_selftest() - make the first thread of @kind that enters its
 * filter call execve() right after it (vqnetd --sandbox-selftest): the
 * process must die of SIGSYS; if the call is not stopped, it exits with
 * status 70 and a log line. For the test suite only.
 */
void sysfilter_selftest(enum sysfilter_kind kind);

/* "control", "worker", "slirp", "capture" → the kind; -1 for anything
 * else. */
int sysfilter_kind_parse(const char *name);

#endif
