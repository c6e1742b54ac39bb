/* SPDX-License-Identifier: MIT */
/*
 * vqnetctl: ask a running vqnetd (its control socket, docs/control.md)
 * for its state and counters, or change its link, rate limits and log
 * level.
 *
 * Theory of operation: one request a connection. The command line becomes
 * one JSON request line (json-c), the reply line is read whole (bounded),
 * then printed: as received with --json, else as text. `stats --watch`
 * asks for the counters every SECONDS and redraws a table of per-queue
 * rates until SIGINT.
 *
 * Exit status: 0 done, 1 vqnetd said no (its message printed) or could
 * not be reached, 2 bad arguments. Every error is one line on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/version.h>

#define EXIT_NO	    1
#define EXIT_USAGE  2
#define REPLY_MAX   (64u << 20) /* a reply longer than this is refused */
#define WATCH_QUEUE 129u	/* queues a table shows, 2 * 64 + 1 */

typedef struct json_object json;

static const char usage_text[] =
	"usage: vqnetctl [--control PATH | --socket VHOST_USER_PATH] [--json] COMMAND [ARGS]\n"
	"\n"
	"Ask a running vqnetd through its control socket (default: the vhost-user\n"
	"socket's path with .ctl appended).\n"
	"\n"
	"Commands:\n"
	"  status                   frontend, features, queues, backend, link, uptime\n"
	"  stats [--watch [SECONDS]] every counter per queue and the backend's; with\n"
	"                           --watch, a table of rates every SECONDS (default 1)\n"
	"                           until Ctrl-C\n"
	"  metrics                  every counter as Prometheus text\n"
	"  link up|down             the device's link (the driver told if it took STATUS)\n"
	"  announce                 ask the driver to announce itself (GUEST_ANNOUNCE)\n"
	"  rate rx|tx RATE|off      limit a direction live: BYTES[k|M|G][:PACKETS[k|M]]/s\n"
	"  log-level LEVEL          error|warn|info|debug\n"
	"  capture start NAME [--filter EXPR] [--snaplen N] [--max-bytes N]\n"
	"                           write the frames of both directions to a new pcap\n"
	"                           file NAME in vqnetd's --capture-dir; EXPR is a\n"
	"                           pcap-filter(7) expression (numbers, not names)\n"
	"  capture stop             stop it; prints what was written and dropped\n"
	"\n"
	"Options:\n"
	"  -c, --control PATH       the control socket\n"
	"  -s, --socket PATH        vqnetd's vhost-user socket (control socket PATH.ctl)\n"
	"  -j, --json               print vqnetd's JSON reply as received\n"
	"  -h, --help               this text\n"
	"  -V, --version            the version\n"
	"\n"
	"Exit status: 0 done, 1 vqnetd said no or cannot be reached, 2 bad arguments.\n";

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vqnetctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fputs("vqnetctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_NO);
}

/* ------------------------------------------------------------------------
 * One request, one reply
 * ------------------------------------------------------------------------ */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		usage_error("control socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("cannot reach vqnetd at %s: %s", path, strerror(errno));
	return fd;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("sending the request: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* The reply line (without its newline; free it). */
static char *read_line(int fd)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		fail("out of memory");
	for (;;) {
		ssize_t n;
		char *nl;

		if (len + 1 == cap) {
			if (cap >= REPLY_MAX)
				fail("vqnetd's reply is longer than %u bytes", REPLY_MAX);
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				fail("out of memory");
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("reading the reply: %s", strerror(errno));
		if (n == 0)
			fail("vqnetd closed the connection without a reply");
		buf[len + (size_t)n] = '\0';
		nl = strchr(buf + len, '\n');
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
}

/* Send @req (freed), return the reply object; the raw line in *@raw. A
 * reply {"ok":false} prints its error and exits 1. */
static json *request(const char *path, json *req, char **raw)
{
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int fd = connect_to(path);
	char *line;
	json *reply, *ok, *err = NULL;

	write_all(fd, text, strlen(text));
	write_all(fd, "\n", 1);
	json_object_put(req);
	line = read_line(fd);
	close(fd);
	reply = json_tokener_parse(line);
	if (!reply || !json_object_object_get_ex(reply, "ok", &ok) ||
	    !json_object_get_boolean(ok)) {
		char msg[512];

		if (!reply || !json_object_object_get_ex(reply, "ok", &ok))
			snprintf(msg, sizeof(msg), "vqnetd's reply is not a reply: %.80s", line);
		else if (json_object_object_get_ex(reply, "error", &err))
			snprintf(msg, sizeof(msg), "vqnetd: %s", json_object_get_string(err));
		else
			snprintf(msg, sizeof(msg), "vqnetd: no (without a reason)");
		/* freed before exiting: a leak checker sees no leak */
		json_object_put(reply);
		free(line);
		fail("%s", msg);
	}
	*raw = line;
	return reply;
}

static json *new_request(const char *cmd)
{
	json *r = json_object_new_object();

	json_object_object_add(r, "cmd", json_object_new_string(cmd));
	return r;
}

static void add_arg(json *r, const char *key, const char *value)
{
	json_object_object_add(r, key, json_object_new_string(value));
}

/* ------------------------------------------------------------------------
 * Printing replies
 * ------------------------------------------------------------------------ */

static json *get(json *o, const char *key)
{
	json *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *str(json *o, const char *key)
{
	json *v = get(o, key);

	return v ? json_object_get_string(v) : "?";
}

static uint64_t u64(json *o, const char *key)
{
	json *v = get(o, key);

	return v ? json_object_get_uint64(v) : 0;
}

static void print_rate(const char *dir, json *r)
{
	if (!r)
		printf("  %s: no limit\n", dir);
	else
		printf("  %s: %" PRIu64 " bytes/s (burst %" PRIu64 "), %" PRIu64
		       " packets/s (burst %" PRIu64 ")\n",
		       dir, u64(r, "bytes_per_sec"), u64(r, "bytes_burst"), u64(r, "pkts_per_sec"),
		       u64(r, "pkts_burst"));
}

static void print_features(const char *what, json *a)
{
	printf("%s:", what);
	if (!a)
		printf(" (not negotiated yet)");
	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		printf(" %s", json_object_get_string(json_object_array_get_idx(a, i)));
	putchar('\n');
}

static void print_capture(json *c)
{
	if (!c) {
		printf("capture: off\n");
		return;
	}
	printf("capture: to %s, snaplen %s%s%s%s%s; %" PRIu64 " frames written, %" PRIu64
	       " filtered out, %" PRIu64 " dropped (ring full), %" PRIu64 " past max-bytes\n",
	       str(c, "file"), str(c, "snaplen"), get(c, "filter") ? ", filter '" : "",
	       get(c, "filter") ? str(c, "filter") : "", get(c, "filter") ? "'" : "",
	       u64(c, "max_bytes") ? ", max-bytes set" : "", u64(c, "written"), u64(c, "filtered"),
	       u64(c, "dropped"), u64(c, "over_limit"));
}

static void print_status(json *r)
{
	json *fe = get(r, "frontend"), *dev = get(r, "device"), *be = get(r, "backend");
	json *qs = get(r, "queues"), *fw = get(be, "hostfwd");

	printf("vqnetd %s, up %s s, sandbox %s\n", str(r, "version"), str(r, "uptime_s"),
	       str(r, "sandbox"));
	printf("frontend: %s (%s, %s)\n",
	       json_object_get_boolean(get(fe, "connected")) ? "connected" : "not connected",
	       str(fe, "mode"), str(fe, "socket"));
	printf("device: mac %s, mtu %s, link %s, queue pairs %s of %s, poll %s us\n",
	       str(dev, "mac"), str(dev, "mtu"), str(dev, "link"), str(dev, "queue_pairs"),
	       str(dev, "max_queue_pairs"), str(dev, "poll_us"));
	print_features("features negotiated", get(r, "features"));
	print_features("features offered", get(r, "features_offered"));
	printf("rate limits:\n");
	print_rate("rx", get(get(dev, "rate"), "rx"));
	print_rate("tx", get(get(dev, "rate"), "tx"));
	printf("backend: %s", str(be, "spec"));
	for (size_t i = 0; fw && i < json_object_array_length(fw); i++)
		printf("%s%s", i ? ", " : " hostfwd ",
		       json_object_get_string(json_object_array_get_idx(fw, i)));
	printf("\n%-7s %-9s %-7s %s\n", "queue", "state", "format", "size");
	for (size_t i = 0; qs && i < json_object_array_length(qs); i++) {
		json *q = json_object_array_get_idx(qs, i);

		printf("%-7s %-9s %-7s %s\n", str(q, "name"), str(q, "state"),
		       get(q, "format") ? str(q, "format") : "-",
		       get(q, "size") ? str(q, "size") : "-");
		if (get(q, "why"))
			printf("  %s: %s\n", str(q, "name"), str(q, "why"));
	}
	print_capture(get(r, "capture"));
}

static uint64_t drops_total(json *q)
{
	uint64_t t = 0;

	json_object_object_foreach(get(q, "drops"), k, v)
	{
		(void)k;
		t += json_object_get_uint64(v);
	}
	return t;
}

static void print_stats(json *r)
{
	json *qs = get(r, "queues"), *be = get(r, "backend");

	printf("%-6s %12s %14s %8s %7s %10s %10s %10s %10s %8s\n", "queue", "packets", "bytes",
	       "drops", "errors", "kicks", "notified", "suppressed", "wakeups", "limited");
	for (size_t i = 0; qs && i < json_object_array_length(qs); i++) {
		json *q = json_object_array_get_idx(qs, i);

		if (!u64(q, "starts"))
			continue; /* never started */
		printf("%-6s %12" PRIu64 " %14" PRIu64 " %8" PRIu64 " %7" PRIu64 " %10" PRIu64
		       " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n",
		       str(q, "name"), u64(q, "packets"), u64(q, "bytes"), drops_total(q),
		       u64(q, "errors"), u64(q, "kicks"), u64(q, "notify_sent"),
		       u64(q, "notify_suppressed"), u64(q, "wakeups"), u64(q, "rate_limited"));
		json_object_object_foreach(get(q, "drops"), k, v)
		{
			if (json_object_get_uint64(v))
				printf("  %s drops %s=%" PRIu64 "\n", str(q, "name"), k,
				       json_object_get_uint64(v));
		}
		if (u64(q, "csum_finished") || u64(q, "gso_segmented") || u64(q, "rx_merged") ||
		    u64(q, "rx_zero_copy"))
			printf("  %s csum_finished=%" PRIu64 " gso_segmented=%" PRIu64
			       " rx_merged=%" PRIu64 " rx_zero_copy=%" PRIu64 "\n",
			       str(q, "name"), u64(q, "csum_finished"), u64(q, "gso_segmented"),
			       u64(q, "rx_merged"), u64(q, "rx_zero_copy"));
	}
	for (size_t i = 0; be && i < json_object_array_length(be); i++) {
		json *b = json_object_array_get_idx(be, i);

		printf("backend q%s: tx_dropped=%" PRIu64 " rx_dropped=%" PRIu64
		       " tx_errors=%" PRIu64 " rx_errors=%" PRIu64 "\n",
		       str(b, "pair"), u64(b, "tx_dropped"), u64(b, "rx_dropped"),
		       u64(b, "tx_errors"), u64(b, "rx_errors"));
	}
}

/* ------------------------------------------------------------------------
 * stats --watch
 * ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_watch;

static void on_sigint(int sig)
{
	(void)sig;
	stop_watch = 1;
}

struct sample {
	uint64_t packets[WATCH_QUEUE], bytes[WATCH_QUEUE], drops[WATCH_QUEUE];
	double t;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void take(json *r, struct sample *s)
{
	json *qs = get(r, "queues");

	s->t = now_s();
	for (size_t i = 0; qs && i < json_object_array_length(qs) && i < WATCH_QUEUE; i++) {
		json *q = json_object_array_get_idx(qs, i);

		s->packets[i] = u64(q, "packets");
		s->bytes[i] = u64(q, "bytes");
		s->drops[i] = drops_total(q);
	}
}

static void draw(json *r, const struct sample *a, const struct sample *b, double every)
{
	json *qs = get(r, "queues");
	double dt = b->t - a->t;

	/* Home and clear, as top does, when writing to a terminal. */
	if (isatty(STDOUT_FILENO))
		fputs("\033[H\033[2J", stdout);
	printf("vqnetd rates every %.3g s (Ctrl-C to stop)\n%-6s %12s %14s %10s\n", every, "queue",
	       "pps", "bit/s", "drops/s");
	for (size_t i = 0; qs && i < json_object_array_length(qs) && i < WATCH_QUEUE; i++) {
		json *q = json_object_array_get_idx(qs, i);

		if (!u64(q, "starts"))
			continue;
		printf("%-6s %12.0f %14.0f %10.0f\n", str(q, "name"),
		       (double)(b->packets[i] - a->packets[i]) / dt,
		       8.0 * (double)(b->bytes[i] - a->bytes[i]) / dt,
		       (double)(b->drops[i] - a->drops[i]) / dt);
	}
	fflush(stdout);
}

static int watch(const char *path, double every, bool as_json)
{
	static struct sample s[2];
	struct sigaction sa = {.sa_handler = on_sigint};
	char *raw;
	json *r;
	unsigned cur = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = request(path, new_request("stats"), &raw);
	take(r, &s[0]);
	json_object_put(r);
	free(raw);
	while (!stop_watch) {
		struct timespec ts = {.tv_sec = (time_t)every,
				      .tv_nsec = (long)((every - floor(every)) * 1e9)};

		if (nanosleep(&ts, NULL) < 0 && stop_watch)
			break;
		r = request(path, new_request("stats"), &raw);
		take(r, &s[!cur]);
		if (as_json) {
			puts(raw);
			fflush(stdout);
		} else {
			draw(r, &s[cur], &s[!cur], every);
		}
		cur = !cur;
		json_object_put(r);
		free(raw);
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

struct args {
	const char *path;
	bool json;
	char **cmd; /* the command and its arguments */
	int ncmd;
};

static void parse_options(int argc, char **argv, struct args *a, char *path_buf, size_t plen)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (!strcmp(o, "-V") || !strcmp(o, "--version")) {
			printf("vqnetctl %s\n", VQNET_VERSION);
			exit(0);
		} else if (!strcmp(o, "-j") || !strcmp(o, "--json")) {
			a->json = true;
		} else if (!strcmp(o, "-c") || !strcmp(o, "--control") || !strcmp(o, "-s") ||
			   !strcmp(o, "--socket")) {
			if (i + 1 == argc)
				usage_error("%s needs a value", o);
			if (a->path)
				usage_error("one of --control and --socket, once");
			if (o[1] == 'c' || o[2] == 'c') {
				a->path = argv[++i];
			} else {
				snprintf(path_buf, plen, "%s.ctl", argv[++i]);
				a->path = path_buf;
			}
		} else {
			usage_error("unknown option '%s'", o);
		}
	}
	if (!a->path)
		usage_error("which vqnetd? give --control PATH or --socket PATH");
	if (i == argc)
		usage_error("no command");
	a->cmd = argv + i;
	a->ncmd = argc - i;
}

static void want_args(const struct args *a, int n, const char *form)
{
	if (a->ncmd != n + 1)
		usage_error("usage: %s", form);
}

/* The watch interval: a positive number of seconds, at most a day. */
static double parse_seconds(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*end || errno || !(v >= 0.01 && v <= 86400))
		usage_error("stats --watch: '%s' is not a number of seconds (0.01 to 86400)", s);
	return v;
}

/* A whole number @s in [@min, @max] for option @what. */
static uint64_t parse_count(const char *what, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v < min || v > max)
		usage_error("capture start %s: '%s' is not a number from %" PRIu64 " to %" PRIu64,
			    what, s, min, max);
	return v;
}

/* capture start NAME [--filter EXPR] [--snaplen N] [--max-bytes N] | stop */
static void build_capture(const struct args *a, json *r)
{
	static const char form[] =
		"capture start NAME [--filter EXPR] [--snaplen N] [--max-bytes N] | capture stop";

	if (a->ncmd < 2 || (strcmp(a->cmd[1], "start") && strcmp(a->cmd[1], "stop")))
		usage_error("usage: %s", form);
	add_arg(r, "action", a->cmd[1]);
	if (!strcmp(a->cmd[1], "stop")) {
		want_args(a, 1, form);
		return;
	}
	if (a->ncmd < 3 || a->cmd[2][0] == '-')
		usage_error("usage: %s", form);
	add_arg(r, "file", a->cmd[2]);
	for (int i = 3; i < a->ncmd; i += 2) {
		const char *o = a->cmd[i];

		if (i + 1 == a->ncmd)
			usage_error("capture start: %s needs a value", o);
		if (!strcmp(o, "--filter"))
			add_arg(r, "filter", a->cmd[i + 1]);
		else if (!strcmp(o, "--snaplen"))
			json_object_object_add(
				r, "snaplen",
				json_object_new_uint64(parse_count(o, a->cmd[i + 1], 1, 65535)));
		else if (!strcmp(o, "--max-bytes"))
			json_object_object_add(r, "max_bytes",
					       json_object_new_uint64(parse_count(o, a->cmd[i + 1],
										  1, INT64_MAX)));
		else
			usage_error("capture start: unknown option '%s'", o);
	}
}

/* The request for a command that is not stats --watch. */
static json *build(const struct args *a)
{
	const char *cmd = a->cmd[0];
	json *r;

	if (!strcmp(cmd, "status") || !strcmp(cmd, "stats") || !strcmp(cmd, "metrics") ||
	    !strcmp(cmd, "announce")) {
		want_args(a, 0, cmd);
		return new_request(cmd);
	}
	r = new_request(cmd);
	if (!strcmp(cmd, "link")) {
		want_args(a, 1, "link up|down");
		if (strcmp(a->cmd[1], "up") && strcmp(a->cmd[1], "down"))
			usage_error("link: '%s' is not up|down", a->cmd[1]);
		add_arg(r, "state", a->cmd[1]);
	} else if (!strcmp(cmd, "rate")) {
		want_args(a, 2, "rate rx|tx RATE|off");
		if (strcmp(a->cmd[1], "rx") && strcmp(a->cmd[1], "tx"))
			usage_error("rate: '%s' is not rx|tx", a->cmd[1]);
		add_arg(r, "dir", a->cmd[1]);
		add_arg(r, "rate", a->cmd[2]);
	} else if (!strcmp(cmd, "log-level")) {
		want_args(a, 1, "log-level error|warn|info|debug");
		add_arg(r, "level", a->cmd[1]);
	} else if (!strcmp(cmd, "capture")) {
		build_capture(a, r);
	} else {
		usage_error("unknown command '%s'", cmd);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	char path[256], *raw;
	json *r, *v;

	signal(SIGPIPE, SIG_IGN); /* vqnetd gone: a one-line error, not a silent death */
	parse_options(argc, argv, &a, path, sizeof(path));
	if (!strcmp(a.cmd[0], "stats") && a.ncmd > 1) {
		if (strcmp(a.cmd[1], "--watch") || a.ncmd > 3)
			usage_error("usage: stats [--watch [SECONDS]]");
		return watch(a.path, a.ncmd == 3 ? parse_seconds(a.cmd[2]) : 1.0, a.json);
	}
	r = request(a.path, build(&a), &raw);
	if (a.json)
		puts(raw);
	else if (!strcmp(a.cmd[0], "status"))
		print_status(r);
	else if (!strcmp(a.cmd[0], "stats"))
		print_stats(r);
	else if (!strcmp(a.cmd[0], "metrics"))
		fputs(str(r, "text"), stdout);
	else if ((v = get(r, "message")))
		puts(json_object_get_string(v));
	json_object_put(r);
	free(raw);
	return fflush(stdout) ? EXIT_NO : 0;
}
