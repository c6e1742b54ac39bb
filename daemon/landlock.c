/* SPDX-License-Identifier: MIT */
/*
 * No filesystem after set-up, through Landlock (landlock.h;
 * docs/security.md "Confinement").
 *
 * The ruleset handles every filesystem right the running kernel knows
 * (its ABI version says which) and allows only reading the files the
 * caller names; with ABI 6 and later it also scopes signals and abstract
 * UNIX sockets to the process, so vqnetd can neither signal nor reach
 * another program that way. The system headers may predate the kernel,
 * so the newer constants and the longer ruleset attribute are defined
 * here. Network rights are not handled: the user and slirp backends
 * connect to any host port on the guest's behalf, which Landlock cannot
 * express.
 */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vqnet/log.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL		    (1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a prefix. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;	     /* ABI 6 */
};

/* Filesystem rights a kernel of Landlock ABI @abi handles. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0-12 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

/* Allow @access beneath the file or directory @fd (an O_PATH fd). */
static int allow_beneath(int ruleset, int fd, uint64_t access)
{
	struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};

	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
		return -errno;
	return 0;
}

/* Allow @access beneath @path, opened with @flags; a missing @path is
 * skipped when @may_miss. */
static int allow_path(int ruleset, const char *path, int flags, bool may_miss, uint64_t access)
{
	int fd = open(path, O_PATH | O_CLOEXEC | flags), rc;

	if (fd < 0)
		return may_miss && errno == ENOENT ? 0 : -errno;
	rc = allow_beneath(ruleset, fd, access);
	close(fd);
	return rc;
}

/* Allow reading @path (a file; skipped if it does not exist). */
static int allow_read(int ruleset, const char *path)
{
	return allow_path(ruleset, path, 0, true, LANDLOCK_ACCESS_FS_READ_FILE);
}

/* Allow @access beneath @dir (sanitizer builds only: /proc, report files). */
static int allow_tree(int ruleset, const char *dir, uint64_t access)
{
	return allow_path(ruleset, dir, O_DIRECTORY, false, access);
}

static int add_rules(int ruleset, const char *const *read_files, size_t n, int write_dir_fd)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++)
		rc = allow_read(ruleset, read_files[i]);
	/* New files beneath --capture-dir: made, then written. */
	if (!rc && write_dir_fd >= 0)
		rc = allow_beneath(ruleset, write_dir_fd,
				   LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_WRITE_FILE);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* LeakSanitizer reads /proc/self/maps and /proc/self/task at exit;
	 * sanitizer reports read it too. */
	if (!rc)
		rc = allow_tree(ruleset, "/proc",
				LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
#else
	(void)allow_tree;
#endif
#if defined(__SANITIZE_THREAD__)
	/* The suite's TSan wrapper (tests/tsan/run.sh) has reports written to
	 * files in a directory under $TMPDIR or /tmp; a report's symbols come
	 * from the executable. */
	if (!rc)
		rc = allow_read(ruleset, "/proc/self/exe");
	if (!rc) {
		const char *tmp = getenv("TMPDIR");

		rc = allow_tree(ruleset, tmp && *tmp ? tmp : "/tmp",
				LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG |
					LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
	}
#endif
	return rc;
}

int landlock_restrict(const char *const *read_files, size_t n, int write_dir_fd, int *abi_out)
{
	int abi =
		(int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	struct ll_ruleset_attr attr = {0};
	size_t attr_size = sizeof(attr.handled_access_fs);
	int ruleset, rc;

	*abi_out = abi < 0 ? 0 : abi;
	if (abi < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
	attr.handled_access_fs = fs_rights(abi);
	if (abi >= 6) {
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0)
		return -errno;
	rc = add_rules(ruleset, read_files, n, write_dir_fd);
	if (!rc && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		rc = -errno;
	close(ruleset);
	return rc;
}
