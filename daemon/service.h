/* SPDX-License-Identifier: MIT */
/*
 * vqnetd under a service manager (systemd): socket activation and
 * readiness (docs/vqnetd.md "Running under systemd").
 */
#ifndef VQNETD_SERVICE_H
#define VQNETD_SERVICE_H

#include <stdbool.h>

/*
 * service_listen_fd() - the listening socket a service manager passed
 * (LISTEN_FDS/LISTEN_PID, for this process): *@fd gets it, or -1 when
 * none was passed. Return 0, or -E2BIG (more than one: vqnetd serves one
 * socket) or another -errno, with one log line.
 */
int service_listen_fd(int *fd);

/* Tell the service manager (NOTIFY_SOCKET; nothing without one) that
 * vqnetd serves now, with a one-line @status; that it is stopping. */
void service_ready(const char *status);
void service_stopping(void);

/* Is stderr the journal's stream (JOURNAL_STREAM names its device and
 * inode)? journald stamps each line itself. */
bool service_stderr_is_journal(void);

#endif
