/* SPDX-License-Identifier: MIT */
/*
 * Command-line helpers shared by vqnet's programs (vqnetd, vqnet-perf):
 * one line on stderr and exit status 2 for every bad argument.
 */
#ifndef VQNET_BASE_CLI_H
#define VQNET_BASE_CLI_H

#define CLI_EXIT_USAGE 2

/* Print "PROG: MESSAGE (try --help)" on stderr and exit with status 2. */
void __attribute__((noreturn, format(printf, 2, 3)))
cli_usage_error(const char *prog, const char *fmt, ...);

/* A whole decimal number in [min, max] given to option @opt, or
 * cli_usage_error(). Signs, spaces and trailing characters are refused. */
unsigned long cli_number(const char *prog, const char *opt, const char *s, unsigned long min,
			 unsigned long max);

#endif
