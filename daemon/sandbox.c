/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's confinement (sandbox.h; docs/security.md "Confinement").
 *
 * Theory of operation: vqnetd opens everything that needs a privilege
 * first (the vhost-user socket, a TAP, the backend's sockets), then gives
 * the privileges up before it reads a frontend's first message, in the
 * order that keeps each step possible: the ids first (setgroups/setgid
 * need CAP_SETGID, setuid CAP_SETUID), then the bounding set (dropping
 * from it needs CAP_SETPCAP), then the thread's own sets. Capabilities and
 * no_new_privs are per thread, so this runs while the main thread is the
 * only one: the device's workers start when a frontend starts its rings,
 * and the slirp backend's thread is held back (netbe defer_threads) until
 * after this; threads inherit all of it. Dumpable is per process.
 */
#include "sandbox.h"

#include "landlock.h"
#include "sysfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vqnet/log.h>

/* A decimal id, or -1. */
static long parse_id(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return *s && !*end && !errno && v >= 0 ? v : -1;
}

int sandbox_parse_user(const char *name, struct sandbox_opts *o)
{
	struct passwd *pw = getpwnam(name);
	long id = parse_id(name);

	if (!pw && id >= 0)
		pw = getpwuid((uid_t)id);
	if (!pw)
		return -ENOENT;
	o->uid = pw->pw_uid;
	if (!o->switch_ids || o->gid == (gid_t)-1)
		o->gid = pw->pw_gid;
	o->switch_ids = true;
	return 0;
}

int sandbox_parse_group(const char *name, struct sandbox_opts *o)
{
	struct group *gr = getgrnam(name);
	long id = parse_id(name);

	if (!gr && id >= 0)
		gr = getgrgid((gid_t)id);
	if (!gr)
		return -ENOENT;
	if (!o->switch_ids)
		o->uid = getuid();
	o->gid = gr->gr_gid;
	o->switch_ids = true;
	return 0;
}

/* Fail with one log line naming the step. */
static int step_failed(const char *step)
{
	int rc = -errno;

	vqnet_log(VQNET_LOG_ERROR, "sandbox", "%s: %s", step, strerror(errno));
	return rc;
}

static int switch_ids(const struct sandbox_opts *o)
{
	if (setgroups(0, NULL) < 0)
		return step_failed("setgroups");
	if (setresgid(o->gid, o->gid, o->gid) < 0)
		return step_failed("setresgid");
	if (setresuid(o->uid, o->uid, o->uid) < 0)
		return step_failed("setresuid");
	return 0;
}

/* Every capability out of the bounding set (EINVAL past the kernel's last
 * one ends the loop), the ambient set cleared, then the thread's
 * effective, permitted and inheritable sets emptied. Without CAP_SETPCAP
 * (an unprivileged user) the bounding set cannot shrink, but it does not
 * matter: such a process holds no capability to begin with, and
 * no_new_privs keeps it from gaining any. */
static int drop_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM)
			return step_failed("dropping the capability bounding set");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return step_failed("clearing ambient capabilities");
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return step_failed("capset");
	return 0;
}

/* Whether @fd is one of the @n in @keep. */
static bool kept(int fd, const int *keep, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (keep[i] == fd)
			return true;
	return false;
}

void sandbox_close_inherited_fds(const int *keep, unsigned n)
{
	unsigned from = 3;

	/* close_range() (Linux 5.9) over each gap between kept fds; an older
	 * kernel keeps what it was given. */
	for (unsigned fd = 3; fd <= 1u << 20; fd++) {
		if (!kept((int)fd, keep, n))
			continue;
		if (fd > from)
			(void)syscall(SYS_close_range, from, fd - 1, 0u);
		from = fd + 1;
	}
	(void)syscall(SYS_close_range, from, ~0u, 0u);
}

/* Landlock: read /etc/resolv.conf if the slirp backend needs it, nothing
 * else. A kernel without Landlock is logged, not fatal: the seccomp
 * filters still forbid opening files in every thread but the slirp one. */
static int restrict_filesystem(const struct sandbox_opts *o, int *abi)
{
	static const char *const resolv[] = {"/etc/resolv.conf"};
	int rc = landlock_restrict(resolv, o->resolv_conf ? 1 : 0, o->capture_dir_fd, abi);

	if (rc == -EOPNOTSUPP) {
		vqnet_log(VQNET_LOG_WARN, "sandbox",
			  "no Landlock in this kernel: the filesystem is not restricted");
		return 0;
	}
	if (rc < 0) {
		errno = -rc;
		return step_failed("Landlock");
	}
	return 0;
}

int sandbox_confine(const struct sandbox_opts *o)
{
	int rc, abi = 0;

	if (o->off) {
		vqnet_log(VQNET_LOG_WARN, "sandbox", "off (--sandbox off): every privilege kept");
		return 0;
	}
	if (o->switch_ids && (rc = switch_ids(o)) < 0)
		return rc;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return step_failed("no_new_privs");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return step_failed("not dumpable");
	rc = drop_caps();
	if (rc < 0)
		return rc;
	rc = restrict_filesystem(o, &abi);
	if (rc < 0)
		return rc;
	rc = sysfilter_prepare(o->capture_dir_fd, o->host_sockets);
	if (rc < 0)
		return rc;
	if (o->selftest >= 0 && o->selftest < SANDBOX_SELFTEST_LANDLOCK)
		sysfilter_selftest((enum sysfilter_kind)o->selftest);
	vqnet_log(VQNET_LOG_INFO, "sandbox",
		  "uid %u gid %u, no new privileges, not dumpable, no capabilities, "
		  "filesystem %s%s, a seccomp filter per thread",
		  (unsigned)getuid(), (unsigned)getgid(),
		  abi ? (o->resolv_conf ? "closed but /etc/resolv.conf (Landlock)"
					: "closed (Landlock)")
		      : "open (no Landlock)",
		  o->capture_dir_fd >= 0 ? ", new capture files in --capture-dir" : "");
	return 0;
}

void sandbox_enter_thread(const struct sandbox_opts *o, int kind, const char *name)
{
	pthread_setname_np(pthread_self(), name);
	if (!o->off)
		sysfilter_enter((enum sysfilter_kind)kind, name);
}

void sandbox_enter_control(const struct sandbox_opts *o)
{
	if (!o->off)
		sysfilter_enter(SYSFILTER_CONTROL, "vqnetd");
}

#define SELFTEST_FAILED 70

/* --sandbox-selftest landlock, in the slirp thread (it may open files as
 * far as seccomp goes): Landlock must refuse a file it was not given and
 * allow the one it was. Ends the process. */
static void landlock_selftest(void)
{
	int other = open("/etc/passwd", O_RDONLY | O_CLOEXEC), err = errno;
	int resolv = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
	bool ok = other < 0 && err == EACCES && (resolv >= 0 || errno == ENOENT);

	vqnet_log(ok ? VQNET_LOG_INFO : VQNET_LOG_ERROR, "sandbox",
		  "self-test: landlock: /etc/passwd %s, /etc/resolv.conf %s",
		  other < 0 ? strerror(err) : "opened", resolv >= 0 ? "opened" : strerror(errno));
	_exit(ok ? 0 : SELFTEST_FAILED);
}

static void thread_start(void *opaque, enum vqnet_thread_kind kind, const char *name)
{
	const struct sandbox_opts *o = opaque;

	if (o->off)
		return;
	sysfilter_enter(kind == VQNET_THREAD_WORKER ? SYSFILTER_WORKER : SYSFILTER_SLIRP, name);
	if (kind == VQNET_THREAD_BACKEND && o->selftest == SANDBOX_SELFTEST_LANDLOCK)
		landlock_selftest();
}

int sandbox_selftest_parse(const char *name)
{
	return !strcmp(name, "landlock") ? SANDBOX_SELFTEST_LANDLOCK : sysfilter_kind_parse(name);
}

struct vqnet_thread_hook sandbox_thread_hook(const struct sandbox_opts *o)
{
	return (struct vqnet_thread_hook){.start = thread_start, .opaque = (void *)o};
}
