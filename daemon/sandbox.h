/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's confinement after set-up (docs/security.md "Confinement").
 */
#ifndef VQNETD_SANDBOX_H
#define VQNETD_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include <vqnet/thread.h>

/* --sandbox-selftest KIND (for the test suite): once confined, the first
 * thread of a kind calls execve (the process must die of SIGSYS), or the
 * slirp thread checks that Landlock refuses /etc/passwd and allows
 * /etc/resolv.conf (exit status 0 if so, 70 if not). */
enum sandbox_selftest {
	SANDBOX_SELFTEST_NONE = -1,
	SANDBOX_SELFTEST_CONTROL = 0, /* = enum sysfilter_kind */
	SANDBOX_SELFTEST_WORKER,
	SANDBOX_SELFTEST_SLIRP,
	SANDBOX_SELFTEST_LANDLOCK,
};

/* "control", "worker", "slirp", "landlock" → the self-test; -1 for
 * anything else. */
int sandbox_selftest_parse(const char *name);

struct sandbox_opts {
	bool off;	   /* --sandbox off: keep everything (debugging) */
	bool switch_ids;   /* --user / --group given */
	uid_t uid;	   /* --user (or unchanged) */
	gid_t gid;	   /* --group, else the user's primary group */
	bool resolv_conf;  /* slirp: its thread reads /etc/resolv.conf (DNS) */
	bool host_sockets; /* user: workers and control open host sockets */
	int selftest;	   /* --sandbox-selftest: enum sandbox_selftest */
	/* --capture-dir: the directory's O_PATH fd, where the control thread
	 * may create capture files once confined; -1 without one */
	int capture_dir_fd;
};

/* Close every fd above stderr the parent left open but the @n in @keep
 * (--tap-fd): call before opening anything. */
void sandbox_close_inherited_fds(const int *keep, unsigned n);

/* "--user NAME|UID" / "--group NAME|GID" into @o. Return 0 or -ENOENT
 * (no such user or group). */
int sandbox_parse_user(const char *name, struct sandbox_opts *o);
int sandbox_parse_group(const char *name, struct sandbox_opts *o);

/*
 * sandbox_confine() - give up what serving a frontend does not need, once
 * every socket, TAP and backend is open: switch to --user/--group (all
 * supplementary groups dropped), no new privileges (PR_SET_NO_NEW_PRIVS),
 * not dumpable (a core file would hold guest memory), every capability
 * dropped (effective, permitted, inheritable, ambient and the bounding
 * set), no filesystem (Landlock, where the kernel has it), and the
 * seccomp filters compiled. Applies to the whole process; threads started
 * later inherit it. Return 0, or -errno with one log line naming the step
 * that failed (the daemon then exits: it never runs half-confined).
 */
int sandbox_confine(const struct sandbox_opts *o);

/*
 * sandbox_enter_control() - the calling (main) thread enters the control
 * thread's seccomp filter. After sandbox_confine() and after the backend's
 * threads started (they must not inherit it); nothing with --sandbox off.
 */
void sandbox_enter_control(const struct sandbox_opts *o);

/* Put the calling thread, one vqnetd starts itself, into the seccomp
 * list @kind (an enum sysfilter_kind); @name (at most 15 characters) names
 * it. Nothing with --sandbox off. */
void sandbox_enter_thread(const struct sandbox_opts *o, int kind, const char *name);

/* The hook that puts each thread the device and the backend start into
 * its own filter (net_dev_config and netbe_options .thread_hook); @o must
 * outlive those threads. */
struct vqnet_thread_hook sandbox_thread_hook(const struct sandbox_opts *o);

#endif
