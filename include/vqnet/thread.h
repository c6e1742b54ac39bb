/* SPDX-License-Identifier: MIT */
/*
 * A program's say over the threads vqnet's libraries start.
 *
 * The device (one worker per queue pair) and some network backends (the
 * slirp backend's libslirp thread) start threads of their own. A program
 * that confines each thread (vqnetd installs a seccomp filter per thread
 * kind, docs/security.md "Confinement") passes a struct vqnet_thread_hook;
 * the library names the thread (what top -H and /proc/TID/comm show) and
 * calls the hook first thing in it, before the thread touches any guest or
 * network input.
 */
#ifndef VQNET_THREAD_H
#define VQNET_THREAD_H

#ifdef __cplusplus
extern "C" {
#endif

enum vqnet_thread_kind {
	VQNET_THREAD_WORKER = 0,  /* a device queue pair's worker (net_dev) */
	VQNET_THREAD_BACKEND = 1, /* a network backend's own thread (netbe) */
};

struct vqnet_thread_hook {
	/* Called first in each thread with its kind and its name (at most
	 * 15 characters, e.g. "vq-pair0", "vqnet-slirp"). It cannot fail: a
	 * program that cannot confine the thread must stop the process.
	 * NULL: no hook. */
	void (*start)(void *opaque, enum vqnet_thread_kind kind, const char *name);
	void *opaque;
};

#ifdef __cplusplus
}
#endif
#endif
