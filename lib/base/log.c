/* SPDX-License-Identifier: MIT */
/*
 * The logging interface (include/vqnet/log.h). The level is an atomic so a
 * control request may change it while workers log; sink and prefix are set
 * once at start-up. A line is formatted into a stack buffer (no allocation:
 * workers log from the packet path) and truncated past 512 bytes.
 */
#include <vqnet/log.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/compiler.h"

#define LOG_LINE_MAX 512

static atomic_int log_level = VQNET_LOG_WARN;
static vqnet_log_sink_fn log_sink;
static void *log_sink_opaque;
static const char *log_prefix = "vqnet";
static bool log_timestamps;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

VQNET_EXPORT void vqnet_log_set_sink(vqnet_log_sink_fn fn, void *opaque)
{
	log_sink = fn;
	log_sink_opaque = opaque;
}

VQNET_EXPORT void vqnet_log_set_prefix(const char *prefix)
{
	log_prefix = prefix;
}

VQNET_EXPORT void vqnet_log_set_timestamps(bool on)
{
	log_timestamps = on;
}

VQNET_EXPORT void vqnet_log_set_level(enum vqnet_log_level max)
{
	atomic_store_explicit(&log_level, (int)max, memory_order_relaxed);
}

VQNET_EXPORT enum vqnet_log_level vqnet_log_get_level(void)
{
	return (enum vqnet_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

VQNET_EXPORT int vqnet_log_level_parse(const char *name)
{
	for (unsigned i = 0; i < ARRAY_SIZE(level_names); i++)
		if (name && !strcmp(name, level_names[i]))
			return (int)i;
	return -1;
}

VQNET_EXPORT const char *vqnet_log_level_name(enum vqnet_log_level level)
{
	return (unsigned)level < ARRAY_SIZE(level_names) ? level_names[level] : "?";
}

/* "2026-12-07T06:40:01.123Z " into @buf: UTC, so that no thread ever
 * reads a time zone file (gmtime_r opens nothing; the sandbox would refuse
 * it, docs/security.md). */
static void format_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

/* The default sink: the whole line in one call, so threads never
 * interleave inside a line. */
static void stderr_sink(enum vqnet_log_level level, const char *subject, const char *msg)
{
	char line[LOG_LINE_MAX + 96], stamp[80] = "";
	const char *p = log_prefix && *log_prefix ? log_prefix : NULL;

	(void)level;
	if (log_timestamps)
		format_timestamp(stamp, sizeof(stamp));
	snprintf(line, sizeof(line), "%s%s%s%s%s%s\n", stamp, p ? p : "", p ? ": " : "",
		 subject ? subject : "", subject ? ": " : "", msg);
	fputs(line, stderr);
}

static void emit(enum vqnet_log_level level, const char *subject, const char *msg)
{
	if (log_sink)
		log_sink(log_sink_opaque, level, subject, msg);
	else
		stderr_sink(level, subject, msg);
}

VQNET_EXPORT void vqnet_vlog(enum vqnet_log_level level, const char *subject, const char *fmt,
			     va_list ap)
{
	char msg[LOG_LINE_MAX];

	if (!vqnet_log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(level, subject, msg);
}

VQNET_EXPORT void vqnet_log(enum vqnet_log_level level, const char *subject, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vqnet_vlog(level, subject, fmt, ap);
	va_end(ap);
}

VQNET_EXPORT void vqnet_log_limited(struct vqnet_log_limit *lim, unsigned interval_ms,
				    enum vqnet_log_level level, const char *subject,
				    const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	uint64_t now;
	va_list ap;
	int n;

	if (!vqnet_log_enabled(level))
		return;
	now = clock_mono_ns();
	if (lim->next_ns && now < lim->next_ns) {
		lim->suppressed++;
		return;
	}
	lim->next_ns = now + interval_ms * 1000000ull;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lim->suppressed && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, " (%" PRIu64 " more suppressed)",
			 lim->suppressed);
	lim->suppressed = 0;
	emit(level, subject, msg);
}
