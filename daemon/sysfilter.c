/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's system-call allow-lists (seccomp.h; docs/security.md "What each
 * thread may call").
 *
 * Theory of operation: one list per thread kind, compiled by libseccomp
 * at set-up into a BPF program (sysfilter_prepare()); each thread enters its
 * own (sysfilter_enter()) first thing, before it reads a ring, a frontend
 * message or a host socket. A filter cannot be removed and a thread
 * inherits its creator's: the slirp thread starts before the control
 * thread enters its filter and so carries only its own; the workers are
 * started by the control thread when a frontend starts its rings, so they
 * run under both the control list and their own (the control list holds
 * the few calls only workers make, readv/writev and the batched datagram
 * calls: a worker's own list is what narrows it).
 *
 * Anything not listed traps (SIGSYS): the handler writes one line naming
 * the thread and the call, then the process dies of SIGSYS (not dumpable,
 * so no core file with guest memory). clone3 fails with ENOSYS instead, so
 * glibc falls back to clone, whose flags a filter can see: only threads
 * may be created, never processes. Memory is never mapped executable after
 * set-up.
 */
#include "sysfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <vqnet/log.h>

#define SC_NAMES	   512 /* syscall numbers the SIGSYS line can name */
#define SC_SELFTEST_STATUS 70  /* the forbidden call was not stopped */

/* One allowed call, with at most one argument condition (several rules
 * for one call are alternatives). */
struct sc_rule {
	int nr;
	bool has_cmp;
	struct scmp_arg_cmp cmp;
	int err; /* 0: allow; else fail with this errno */
};

#define ALLOW(name)                                                                                \
	{                                                                                          \
		.nr = SCMP_SYS(name)                                                               \
	}
#define ALLOW_ARG(name, a, value)                                                                  \
	{                                                                                          \
		.nr = SCMP_SYS(name), .has_cmp = true,                                             \
		.cmp = {.arg = (a),                                                                \
			.op = SCMP_CMP_EQ,                                                         \
			.datum_a = (value) }                                                       \
	}
/* Allowed when (argument & mask) == value. */
#define ALLOW_MASKED(name, a, mask, value)                                                         \
	{                                                                                          \
		.nr = SCMP_SYS(name), .has_cmp = true,                                             \
		.cmp = {.arg = (a),                                                                \
			.op = SCMP_CMP_MASKED_EQ,                                                  \
			.datum_a = (mask),                                                         \
			.datum_b = (value) }                                                       \
	}
#define FAIL(name, e)                                                                              \
	{                                                                                          \
		.nr = SCMP_SYS(name), .err = (e)                                                   \
	}

/*
 * Every thread: live, wait, log and die. Memory may be mapped, never
 * executable (malloc, thread stacks, guest memory tables); a thread's own
 * name and a further filter may be set (prctl), nothing else of prctl.
 * tgkill, getpid and gettid are what abort() and the SIGSYS handler call.
 */
static const struct sc_rule rules_common[] = {
	ALLOW(futex),
	ALLOW(exit),
	ALLOW(exit_group),
	ALLOW(restart_syscall),
	ALLOW(rt_sigreturn),
	ALLOW(rt_sigprocmask),
	ALLOW(getpid),
	ALLOW(gettid),
	ALLOW(tgkill),
	ALLOW(clock_gettime),
	ALLOW(clock_nanosleep),
	ALLOW(nanosleep),
	ALLOW(sched_yield),
	ALLOW(read),
	ALLOW(write),
	ALLOW(poll),
	ALLOW(ppoll),
	ALLOW(brk),
	ALLOW(madvise),
	ALLOW(munmap),
	ALLOW(mremap), /* realloc() of a block malloc mapped: libslirp's socket buffers */
	ALLOW_MASKED(mmap, 2, PROT_EXEC, 0),
	ALLOW_MASKED(mprotect, 2, PROT_EXEC, 0),
	ALLOW_ARG(prctl, 0, PR_SET_NAME),
	ALLOW_ARG(prctl, 0, PR_SET_SECCOMP),
};

/*
 * The control thread: the vhost-user socket (accept, or connect again in
 * --client mode: AF_UNIX only), its messages and the fds they carry
 * (fcntl to make eventfds non-blocking, fstat/readlink to check what an fd
 * is, mmap of memory tables), the inflight buffer (memfd), the control
 * queue, signals, the TAP's offloads and queues (ioctl), stdout's tty
 * check, and starting workers: threads only (clone with CLONE_THREAD),
 * which then set their robust list and rseq area under this filter.
 */
static const struct sc_rule rules_control[] = {
	ALLOW(accept4),
	ALLOW_ARG(socket, 0, AF_UNIX),
	ALLOW(connect),
	ALLOW(recvmsg),
	ALLOW(sendmsg),
	ALLOW(close),
	ALLOW(eventfd2),
	ALLOW_ARG(fcntl, 1, F_GETFL),
	ALLOW_ARG(fcntl, 1, F_SETFL),
	ALLOW_ARG(fcntl, 1, F_GETFD),
	ALLOW_ARG(fcntl, 1, F_SETFD),
	ALLOW(fstat),
	ALLOW(newfstatat),
	ALLOW(readlink),
	ALLOW(memfd_create),
	ALLOW(ftruncate),
	ALLOW(unlink),
	ALLOW_ARG(ioctl, 1, TUNSETOFFLOAD),
	ALLOW_ARG(ioctl, 1, TUNSETQUEUE),
	ALLOW_ARG(ioctl, 1, TCGETS),
	ALLOW_MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD),
	FAIL(clone3, ENOSYS),
	ALLOW(set_robust_list),
	ALLOW(rseq),
	/* sd_notify() sizes its datagram socket's send buffer and fills in
	 * credentials */
	ALLOW_ARG(getsockopt, 1, SOL_SOCKET),
	ALLOW_ARG(setsockopt, 1, SOL_SOCKET),
	ALLOW(getuid),
	ALLOW(getgid),
	ALLOW(geteuid),
	ALLOW(getegid),
	/* glibc installs its thread signals' handlers at the first
	 * pthread_create() (SIGCANCEL 32, SIGSETXID 33) */
	ALLOW_ARG(rt_sigaction, 0, 32),
	ALLOW_ARG(rt_sigaction, 0, 33),
	/* the workers' own calls (see the top of this file) */
	ALLOW(readv),
	ALLOW(writev),
	ALLOW(io_uring_enter),
	ALLOW(sendmmsg),
	ALLOW(recvmmsg),
	ALLOW(sendto),
	ALLOW(recvfrom),
};

/*
 * A queue pair's worker: its kick, call and wake eventfds (read, write,
 * poll), and the backend's data path: a TAP (read/readv/write/writev, and
 * io_uring_enter on the pair's ring, which set-up restricted to writev and
 * readv: lib/netbe/tap_uring.c), the
 * datagram socket (sendmmsg/recvmmsg and their single forms), the slirp
 * backend's hand-off (eventfds). Nothing that opens or closes anything.
 */
static const struct sc_rule rules_worker[] = {
	ALLOW(readv),	ALLOW(writev), ALLOW(sendmmsg), ALLOW(recvmmsg),       ALLOW(sendmsg),
	ALLOW(recvmsg), ALLOW(sendto), ALLOW(recvfrom), ALLOW(io_uring_enter),
};

/*
 * The slirp backend's libslirp thread: host sockets on the guest's behalf
 * (TCP and UDP connections out, port forwards in, ICMP through datagram
 * sockets), their options and addresses, and reading /etc/resolv.conf
 * (libslirp re-reads it for the DNS forwarder; Landlock allows that file
 * only).
 */
static const struct sc_rule rules_slirp[] = {
	ALLOW(socket),
	ALLOW(connect),
	ALLOW(bind),
	ALLOW(listen),
	ALLOW(accept),
	ALLOW(accept4),
	ALLOW(shutdown),
	ALLOW(setsockopt),
	ALLOW(getsockopt),
	ALLOW(getsockname),
	ALLOW(getpeername),
	ALLOW(sendto),
	ALLOW(recvfrom),
	ALLOW(sendmsg),
	ALLOW(recvmsg),
	ALLOW(readv),
	ALLOW(writev),
	ALLOW(close),
	ALLOW(fcntl),
	ALLOW_ARG(ioctl, 1, FIONREAD),
	ALLOW_ARG(ioctl, 1, FIONBIO),
	ALLOW(openat),
	ALLOW(fstat),
	ALLOW(newfstatat),
	ALLOW(lseek),
	ALLOW(uname),
	ALLOW(getrandom),
	ALLOW_ARG(ioctl, 1, TCGETS), /* glib's log writer asks isatty() */
};

/*
 * The user backend (host_sockets): each queue pair's worker opens, serves
 * and closes the host sockets of its own flows (TCP, UDP, ping sockets,
 * IPv4 and IPv6 only), waits on its epoll set and ticks a timerfd; the
 * control thread opens and closes the --hostfwd listeners when the guest
 * changes its queue pairs. Added to both lists, as a worker runs under
 * the control thread's too. ioctl: SIOCOUTQ (a TCP socket's unsent bytes:
 * the window the guest sees) and FIONREAD.
 */
static const struct sc_rule rules_host_sockets[] = {
	ALLOW_ARG(socket, 0, AF_INET),
	ALLOW_ARG(socket, 0, AF_INET6),
	ALLOW(connect),
	ALLOW(bind),
	ALLOW(listen),
	ALLOW(accept4),
	ALLOW(shutdown),
	ALLOW(setsockopt),
	ALLOW(getsockopt),
	ALLOW(getsockname),
	ALLOW(getpeername),
	ALLOW(sendmsg),
	ALLOW(recvmsg),
	ALLOW(sendto),
	ALLOW(recvfrom),
	ALLOW(sendmmsg),
	ALLOW(recvmmsg),
	ALLOW(close),
	ALLOW(epoll_wait),
	ALLOW(epoll_pwait),
	ALLOW(epoll_ctl),
	ALLOW(timerfd_settime),
	ALLOW_ARG(ioctl, 1, SIOCOUTQ),
	ALLOW_ARG(ioctl, 1, FIONREAD),
};

/*
 * The capture writer: drains the workers' capture rings (memory), filters
 * in user space, appends to the pcap file opened at set-up (stdio: write,
 * and fstat when it sizes its buffer). Nothing that opens anything.
 */
static const struct sc_rule rules_capture[] = {
	ALLOW(writev),
	ALLOW(fstat),
	ALLOW(newfstatat),
};

/*
 * Threads that open no file get EACCES from open/openat instead of a kill:
 * glibc probes files of its own at odd times (malloc reads
 * /proc/sys/vm/overcommit_memory the first time it trims a thread's heap,
 * which can happen on whichever thread frees) and copes with a refusal,
 * as it would with Landlock's. Sanitizer builds allow both (their
 * runtimes read /proc), so the rule is left out there.
 */
static const struct sc_rule rules_no_open[] = {
	FAIL(openat, EACCES),
	FAIL(open, EACCES),
};

struct sc_list {
	const char *name;
	const struct sc_rule *rules;
	size_t n;
};

static const struct sc_list lists[SYSFILTER_KINDS] = {
	[SYSFILTER_CONTROL] = {"control", rules_control,
			       sizeof(rules_control) / sizeof(rules_control[0])},
	[SYSFILTER_WORKER] = {"worker", rules_worker,
			      sizeof(rules_worker) / sizeof(rules_worker[0])},
	[SYSFILTER_SLIRP] = {"slirp", rules_slirp, sizeof(rules_slirp) / sizeof(rules_slirp[0])},
	[SYSFILTER_CAPTURE] = {"capture", rules_capture,
			       sizeof(rules_capture) / sizeof(rules_capture[0])},
};

static struct sock_fprog programs[SYSFILTER_KINDS];
static const char *syscall_names[SC_NAMES];
static _Atomic int selftest_kind = -1;
static __thread char thread_name[16] = "vqnetd";

/*
 * Sanitizer builds only (the test suite's ASan+UBSan and TSan builds):
 * what their runtimes call after set-up. LeakSanitizer's check at exit
 * stops the other threads by tracing them from a helper task (clone without
 * CLONE_THREAD, ptrace, wait4, getppid, /proc/self/task, prctl(PR_SET_
 * DUMPABLE) while it works), and reports read /proc/self/maps; the
 * runtime's own wrappers use the old x86-64 calls (open, stat, getdents).
 * ThreadSanitizer reads the time with gettimeofday as threads start and
 * end, and opens its report files (tests/tsan/run.sh). A release build
 * has none of these.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
static const struct sc_rule rules_sanitizer[] = {
	ALLOW(clone),	     ALLOW(ptrace),   ALLOW(wait4),	 ALLOW(prctl),
	ALLOW(openat),	     ALLOW(close),    ALLOW(getdents64), ALLOW(readlink),
	ALLOW(sigaltstack),  ALLOW(fstat),    ALLOW(newfstatat), ALLOW(rt_sigaction),
	ALLOW(mmap),	     ALLOW(mprotect), ALLOW(getrlimit),	 ALLOW(sched_getaffinity),
	ALLOW(lseek),	     ALLOW(kill),     ALLOW(getppid),	 ALLOW(pread64),
	ALLOW(open),	     ALLOW(stat),     ALLOW(lstat),	 ALLOW(getdents),
	ALLOW(gettimeofday),
};
#define RULES_SANITIZER_N (sizeof(rules_sanitizer) / sizeof(rules_sanitizer[0]))
#else
static const struct sc_rule rules_sanitizer[1];
#define RULES_SANITIZER_N 0
#endif

/* Add @n rules to @ctx. 0 or a negative errno from libseccomp. */
static int add_rules(scmp_filter_ctx ctx, const struct sc_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t action = r[i].err ? SCMP_ACT_ERRNO((uint32_t)r[i].err) : SCMP_ACT_ALLOW;
		int rc = r[i].has_cmp ? seccomp_rule_add(ctx, action, r[i].nr, 1, r[i].cmp)
				      : seccomp_rule_add(ctx, action, r[i].nr, 0);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The BPF program libseccomp makes of @ctx, read back from a memfd into
 * *prog (its filter array is malloc'd and kept for the process's life). */
static int export_program(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("vqnetd-seccomp", MFD_CLOEXEC), rc;
	struct stat st;
	void *buf = NULL;

	if (fd < 0)
		return -errno;
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		goto out;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		rc = -EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		rc = buf ? -EIO : -ENOMEM;
		free(buf);
		goto out;
	}
	prog->filter = buf;
	prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The flags a capture file is created with (capture.c): written only, a
 * new file, never through a symbolic link. */
#define CAPTURE_OPEN_MASK  (O_ACCMODE | O_CREAT | O_EXCL | O_NOFOLLOW)
#define CAPTURE_OPEN_FLAGS (O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW)

/* The control thread with --capture-dir: openat() in that directory with
 * the capture flags; any other openat gets EACCES, as without it (an
 * openat of that directory with other flags kills: only capture.c passes
 * that fd). Sanitizer builds allow every openat anyway. */
static int add_capture_dir(scmp_filter_ctx ctx, int dir_fd)
{
	int rc = seccomp_rule_add(
		ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 2,
		SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)dir_fd),
		SCMP_A2(SCMP_CMP_MASKED_EQ, CAPTURE_OPEN_MASK, CAPTURE_OPEN_FLAGS));

	if (rc || RULES_SANITIZER_N)
		return rc;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
			      SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)dir_fd));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	return rc;
}

/* Compile one kind's list: the common rules, its own, and in sanitizer
 * builds what the sanitizer's runtime calls. */
static int build_program(enum sysfilter_kind kind, int capture_dir_fd, bool host_sockets)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int rc;

	if (!ctx)
		return -ENOMEM;
	rc = add_rules(ctx, rules_common, sizeof(rules_common) / sizeof(rules_common[0]));
	if (!rc)
		rc = add_rules(ctx, lists[kind].rules, lists[kind].n);
	if (!rc)
		rc = add_rules(ctx, rules_sanitizer, RULES_SANITIZER_N);
	if (!rc && host_sockets && (kind == SYSFILTER_CONTROL || kind == SYSFILTER_WORKER))
		rc = add_rules(ctx, rules_host_sockets,
			       sizeof(rules_host_sockets) / sizeof(rules_host_sockets[0]));
	if (!rc && kind == SYSFILTER_CONTROL && capture_dir_fd >= 0)
		rc = add_capture_dir(ctx, capture_dir_fd);
	else if (!rc && kind != SYSFILTER_SLIRP && !RULES_SANITIZER_N)
		rc = add_rules(ctx, rules_no_open,
			       sizeof(rules_no_open) / sizeof(rules_no_open[0]));
	if (!rc)
		rc = export_program(ctx, &programs[kind]);
	seccomp_release(ctx);
	return rc;
}

/* Append @s to @buf at *@len (at most @cap bytes). Signal-safe. */
static void put_str(char *buf, size_t cap, size_t *len, const char *s)
{
	while (*s && *len < cap)
		buf[(*len)++] = *s++;
}

static void put_uint(char *buf, size_t cap, size_t *len, unsigned long v)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(digits));
	while (n > 0 && *len < cap)
		buf[(*len)++] = digits[--n];
}

/*
 * SIGSYS (SA_RESETHAND | SA_NODEFER): one line on stderr, then the same
 * signal again, now with its default action: the process dies of SIGSYS.
 * Only async-signal-safe calls, all of them on every list.
 */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[256];
	size_t len = 0;
	unsigned long nr = (unsigned long)si->si_syscall;

	(void)uctx;
	put_str(line, sizeof(line), &len, "vqnetd: sandbox: thread ");
	put_str(line, sizeof(line), &len, thread_name);
	put_str(line, sizeof(line), &len, " made a forbidden system call: ");
	put_str(line, sizeof(line), &len,
		nr < SC_NAMES && syscall_names[nr] ? syscall_names[nr] : "?");
	put_str(line, sizeof(line), &len, " (");
	put_uint(line, sizeof(line), &len, nr);
	put_str(line, sizeof(line), &len, "); stopping (docs/security.md)\n");
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nothing more can be said */
	}
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

/* Names for the SIGSYS line, resolved now: libseccomp's resolver
 * allocates, which a signal handler must not. */
static void resolve_names(void)
{
	for (int nr = 0; nr < SC_NAMES; nr++)
		syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

int sysfilter_prepare(int capture_dir_fd, bool host_sockets)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys,
			       .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER};

	for (int k = 0; k < SYSFILTER_KINDS; k++) {
		int rc = build_program((enum sysfilter_kind)k, capture_dir_fd, host_sockets);

		if (rc < 0) {
			vqnet_log(VQNET_LOG_ERROR, "sandbox",
				  "seccomp filter for the %s thread: %s", lists[k].name,
				  strerror(-rc));
			return rc;
		}
	}
	resolve_names();
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		vqnet_log(VQNET_LOG_ERROR, "sandbox", "SIGSYS handler: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* --sandbox-selftest: right after the filter, a call the thread's list
 * does not allow: execve (no list has it), or for a worker memfd_create,
 * which the control list it inherits allows: only its own list stops it. */
static void run_selftest(enum sysfilter_kind kind)
{
	int want = (int)kind;
	char *const argv[] = {"/nonexistent/vqnetd-selftest", NULL};
	const char *call = kind == SYSFILTER_WORKER ? "memfd_create" : "execve";

	if (!atomic_compare_exchange_strong(&selftest_kind, &want, -1))
		return;
	if (kind == SYSFILTER_WORKER)
		syscall(SYS_memfd_create, "vqnetd-selftest", 0u);
	else
		syscall(SYS_execve, argv[0], argv, argv + 1);
	vqnet_log(VQNET_LOG_ERROR, "sandbox", "self-test: %s in the %s thread was not stopped",
		  call, lists[kind].name);
	_exit(SC_SELFTEST_STATUS);
}

void sysfilter_enter(enum sysfilter_kind kind, const char *name)
{
	sigset_t sys;

	/* A blocked SIGSYS would kill the thread without the handler's line
	 * (the kernel forces it with the default action): threads that block
	 * every signal, such as the slirp thread, unblock this one. */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	snprintf(thread_name, sizeof(thread_name), "%s", name);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &programs[kind], 0, 0) < 0) {
		vqnet_log(VQNET_LOG_ERROR, "sandbox", "entering the %s filter in thread %s: %s",
			  lists[kind].name, name, strerror(errno));
		_exit(EXIT_FAILURE);
	}
	run_selftest(kind);
}

void sysfilter_selftest(enum sysfilter_kind kind)
{
	atomic_store(&selftest_kind, (int)kind);
}

int sysfilter_kind_parse(const char *name)
{
	for (int k = 0; k < SYSFILTER_KINDS; k++)
		if (!strcmp(name, lists[k].name))
			return k;
	return -1;
}
