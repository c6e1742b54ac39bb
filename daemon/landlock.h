/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's filesystem confinement through Landlock (docs/security.md
 * "Confinement").
 */
#ifndef VQNETD_LANDLOCK_H
#define VQNETD_LANDLOCK_H

#include <stddef.h>

/*
 * landlock_restrict() - from now on the calling thread, and every thread
 * it starts later, may open no file but read the @n files in @read_files
 * (missing ones are skipped), create, remove or rename nothing but new
 * files (written, never read) beneath the directory @write_dir_fd (-1:
 * none; vqnetd --capture-dir), and with
 * Landlock ABI 6 or later neither signal other processes nor connect to
 * abstract UNIX sockets outside it. Call after no_new_privs is set.
 * *@abi_out gets the kernel's Landlock ABI version (0: none).
 * Return 0, -EOPNOTSUPP when the kernel has no Landlock (nothing done),
 * or another -errno.
 */
int landlock_restrict(const char *const *read_files, size_t n, int write_dir_fd, int *abi_out);

#endif
