/* SPDX-License-Identifier: MIT */
/*
 * Log lines as syslog datagrams (syslog_sink.h).
 *
 * Not glibc's syslog(3): it reconnects (socket, connect) from whichever
 * thread logs when the receiver restarted, and a queue-pair worker's
 * seccomp list has neither call (docs/security.md). Here the socket is
 * connected once at set-up and each line is one non-blocking send; the
 * time zone is loaded then too (localtime_r() would otherwise read
 * /etc/localtime, which Landlock closes).
 */
#include "syslog_sink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/log.h>

#define SYSLOG_DEFAULT_PATH "/dev/log"
#define SYSLOG_FACILITY	    (3 << 3) /* LOG_DAEMON */
#define SYSLOG_LINE_MAX	    1024

static int syslog_fd = -1;
static pid_t syslog_pid;

/* syslog severities of enum vqnet_log_level: err, warning, info, debug. */
static const int severity[] = {3, 4, 6, 7};

static void syslog_line(void *opaque, enum vqnet_log_level level, const char *subject,
			const char *msg)
{
	char line[SYSLOG_LINE_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	(void)opaque;
	if (!localtime_r(&now, &tm) || !strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm))
		stamp[0] = '\0';
	n = snprintf(line, sizeof(line), "<%d>%s vqnetd[%d]: %s%s%s",
		     SYSLOG_FACILITY | severity[(unsigned)level < 4 ? level : 3], stamp,
		     (int)syslog_pid, subject ? subject : "", subject ? ": " : "", msg);
	if (n > 0)
		(void)send(syslog_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
			   MSG_DONTWAIT | MSG_NOSIGNAL);
}

int syslog_sink_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc;

	if (!path)
		path = SYSLOG_DEFAULT_PATH;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vqnetd: --log-target syslog:%s: path too long\n", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		fprintf(stderr, "vqnetd: --log-target syslog: %s: %s\n", path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	tzset();
	syslog_fd = fd;
	syslog_pid = getpid();
	vqnet_log_set_sink(syslog_line, NULL);
	return 0;
}
