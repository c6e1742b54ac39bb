/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's log lines to syslog (--log-target syslog[:PATH]; docs/vqnetd.md
 * "Logging").
 */
#ifndef VQNETD_SYSLOG_SINK_H
#define VQNETD_SYSLOG_SINK_H

/*
 * syslog_sink_open() - connect a datagram socket to @path (NULL:
 * /dev/log, where journald and rsyslog listen) and send every log line
 * there from now on, as "<PRI>TIMESTAMP vqnetd[PID]: [SUBJECT: ]MESSAGE"
 * (RFC 3164, facility daemon). Set up before the sandbox: the socket stays
 * connected for the process's life, so no thread ever opens or connects
 * anything to log; a line the receiver does not take (it is gone or full)
 * is dropped, never waited for. Return 0 or -errno (one line on stderr).
 */
int syslog_sink_open(const char *path);

#endif
