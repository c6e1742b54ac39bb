/* SPDX-License-Identifier: MIT */
/*
 * vqnetd under a service manager (service.h), through libsystemd's
 * sd_listen_fds() and sd_notify(): the protocols are systemd's
 * (sd_listen_fds(3), sd_notify(3)), and any manager speaking them works.
 *
 * Readiness is sent once vqnetd is confined and about to serve, so a unit
 * ordered after it never reaches a half-set-up daemon; the control
 * thread's seccomp list has what sd_notify() calls (a datagram socket,
 * its send buffer size, one sendmsg). Under Landlock ABI 6 a notify socket
 * in the abstract namespace is out of reach; systemd's own is a path.
 */
#include "service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <vqnet/log.h>

int service_listen_fd(int *fd)
{
	int n = sd_listen_fds(0);

	*fd = -1;
	if (n < 0) {
		vqnet_log(VQNET_LOG_ERROR, NULL, "socket activation: %s", strerror(-n));
		return n;
	}
	if (n > 1) {
		vqnet_log(VQNET_LOG_ERROR, NULL,
			  "socket activation: %d sockets passed; vqnetd serves one", n);
		return -E2BIG;
	}
	if (n == 1)
		*fd = SD_LISTEN_FDS_START;
	return 0;
}

void service_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void service_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

bool service_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
