/* SPDX-License-Identifier: MIT */
/* Command-line helpers (cli.h). */
#include "base/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputs(" (try --help)\n", stderr);
	va_end(ap);
	exit(CLI_EXIT_USAGE);
}

unsigned long cli_number(const char *prog, const char *opt, const char *s, unsigned long min,
			 unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		cli_usage_error(prog, "%s: '%s' is not a number", opt, s);
	v = strtoul(s, &end, 10);
	if (errno || *end)
		cli_usage_error(prog, "%s: '%s' is not a number", opt, s);
	if (v < min || v > max)
		cli_usage_error(prog, "%s: %lu is outside %lu..%lu", opt, v, min, max);
	return v;
}
