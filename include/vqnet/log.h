/* SPDX-License-Identifier: MIT */
/*
 * vqnet's one logging interface, used by every layer (vhost-user backend,
 * device, network backends) and by the programs built on them.
 *
 * A line has a level, an optional subject (what it is about: "vhost-user",
 * "queue 3", "slirp") and a message. Lines above the process-wide level are
 * dropped before they are formatted. Where they go is the sink's business:
 * by default stderr as "PREFIX: SUBJECT: MESSAGE" (one fputs per line, so
 * lines of different threads never interleave), optionally after a UTC
 * timestamp "2026-12-07T06:40:01.123Z "; a program installs its own
 * sink (syslog, a test's capture) with vqnet_log_set_sink().
 *
 * Repeats a peer can cause at will (a guest's bad frames, a frontend's bad
 * requests) go through a struct vqnet_log_limit: at most one line per
 * interval, and the next line says how many were suppressed.
 *
 * Thread safety: vqnet_log() and the limiter (each limiter used by one
 * thread) are safe from any thread; set the sink and prefix before starting
 * threads that log. The level may change at any time.
 */
#ifndef VQNET_LOG_H
#define VQNET_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vqnet_log_level {
	VQNET_LOG_ERROR = 0, /* something stopped working (a queue, a backend) */
	VQNET_LOG_WARN = 1,  /* bad input refused, a peer misbehaving */
	VQNET_LOG_INFO = 2,  /* lifecycle: connections, negotiation, queues started */
	VQNET_LOG_DEBUG = 3, /* step by step */
};

/* A sink gets each line that passes the level: @subject may be NULL,
 * @msg has no trailing newline. Called from any thread that logs. */
typedef void (*vqnet_log_sink_fn)(void *opaque, enum vqnet_log_level level, const char *subject,
				  const char *msg);

/* Install @fn (NULL: back to the stderr sink). */
void vqnet_log_set_sink(vqnet_log_sink_fn fn, void *opaque);
/* The stderr sink's "PREFIX: " (default "vqnet"; NULL or "" for none).
 * The string is not copied: it must outlive the logging. */
void vqnet_log_set_prefix(const char *prefix);
/* The stderr sink starts each line with the UTC time to the millisecond
 * (default off: a program turns it on where no one else stamps its
 * lines, e.g. not under journald). */
void vqnet_log_set_timestamps(bool on);
/* Lines above @max are dropped (default VQNET_LOG_WARN). */
void vqnet_log_set_level(enum vqnet_log_level max);
enum vqnet_log_level vqnet_log_get_level(void);
static inline bool vqnet_log_enabled(enum vqnet_log_level level)
{
	return level <= vqnet_log_get_level();
}
/* "error", "warn", "info", "debug" -> the level; -1 for anything else. */
int vqnet_log_level_parse(const char *name);
const char *vqnet_log_level_name(enum vqnet_log_level level);

void vqnet_log(enum vqnet_log_level level, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vqnet_vlog(enum vqnet_log_level level, const char *subject, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Rate limit for one kind of repeated line: zero-initialise it. */
struct vqnet_log_limit {
	uint64_t next_ns;    /* CLOCK_MONOTONIC; 0 = the next line passes */
	uint64_t suppressed; /* lines dropped since the last one logged */
};
/* Log at most one line per @interval_ms through @lim; a line that passes
 * after some were dropped ends with " (N more suppressed)". */
void vqnet_log_limited(struct vqnet_log_limit *lim, unsigned interval_ms,
		       enum vqnet_log_level level, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#ifdef __cplusplus
}
#endif

#endif
