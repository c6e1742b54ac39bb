/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's operator sockets (ctlsrv.h): accept, read requests, write
 * replies, all non-blocking on the control thread.
 *
 * Theory of operation: each listener (the control socket, the metrics
 * listener) has up to CTLSRV_MAX_CLIENTS clients; a connection beyond
 * that takes the place of the client idle longest, or is accepted and
 * closed at once when every client is in the middle of a request. A client has a fixed request
 * buffer and one reply at a time: while a reply is being written its
 * input is not polled, so a client that pipelines requests without
 * reading replies fills its socket, then its deadline passes and it is
 * dropped. A request longer than the buffer gets an error reply and the
 * connection closes after it. Deadlines: a reply must make progress
 * within CTLSRV_WRITE_MS; a control client may stay idle CTLSRV_IDLE_MS;
 * an HTTP client must send its request head within CTLSRV_HTTP_MS.
 * Everything here uses only calls the control thread's seccomp list
 * allows after set-up (accept4, read, write, close, poll).
 */
#include "ctlsrv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vqnet/log.h>

#include "base/clock.h"

#define CTLSRV_WRITE_MS 5000u	/* a reply not read for this long: dropped */
#define CTLSRV_IDLE_MS	300000u /* a control client silent for this long: dropped */
#define CTLSRV_HTTP_MS	10000u	/* an HTTP client must send its request in this time */

enum srv_kind { SRV_CONTROL = 0, SRV_METRICS, SRV_KINDS };

struct client {
	int fd; /* -1: free slot */
	char *in;
	size_t in_len;
	char *out; /* the reply being written, or NULL */
	size_t out_len, out_off;
	bool close_after; /* once the reply is written */
	uint64_t deadline_ms;
};

struct listener {
	int fd; /* -1: not open */
	enum srv_kind kind;
	size_t in_max;
	struct client c[CTLSRV_MAX_CLIENTS];
};

struct ctlsrv {
	struct ctlsrv_config cfg;
	char *path;
	struct listener l[SRV_KINDS];
};

/* ------------------------------------------------------------------------
 * Opening
 * ------------------------------------------------------------------------ */

int ctlsrv_parse_listen(const char *spec, struct sockaddr_storage *sa, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	char *end;
	unsigned long port;
	size_t hl;

	if (!colon || colon == spec)
		return -EINVAL;
	hl = (size_t)(colon - spec);
	if (spec[0] == '[') {
		if (hl < 3 || spec[hl - 1] != ']')
			return -EINVAL;
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)sa)->sin_addr) == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)sa)->sin6_addr) == 1) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

/* The control socket at @path, mode 0600 from its creation (umask). */
static int open_control(struct ctlsrv *s, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		if (s->cfg.control_default) {
			vqnet_log(VQNET_LOG_WARN, NULL,
				  "no control socket: %s is too long for a socket path "
				  "(choose one with --control)",
				  path);
			return 0;
		}
		vqnet_log(VQNET_LOG_ERROR, NULL, "control socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	/* Replace a stale socket file; never remove anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 8) < 0)
		goto fail;
	s->path = strdup(path);
	if (!s->path) {
		errno = ENOMEM;
		goto fail;
	}
	s->l[SRV_CONTROL].fd = fd;
	vqnet_log(VQNET_LOG_INFO, NULL, "control socket %s", path);
	return 0;
fail:
	rc = -errno;
	vqnet_log(VQNET_LOG_ERROR, NULL, "control socket %s: %s", path, strerror(-rc));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The metrics listener on @spec; its address is logged (port 0: the one
 * the kernel chose). */
static int open_metrics(struct ctlsrv *s, const char *spec)
{
	struct sockaddr_storage sa;
	socklen_t len;
	char host[INET6_ADDRSTRLEN] = "?";
	int fd = -1, one = 1, rc;
	unsigned port;

	if (ctlsrv_parse_listen(spec, &sa, &len))
		return -EINVAL;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		rc = -errno;
		vqnet_log(VQNET_LOG_ERROR, NULL, "--metrics-listen %s: %s", spec, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (sa.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
	}
	s->l[SRV_METRICS].fd = fd;
	vqnet_log(VQNET_LOG_INFO, NULL, "metrics on http://%s%s%s:%u/metrics",
		  sa.ss_family == AF_INET6 ? "[" : "", host, sa.ss_family == AF_INET6 ? "]" : "",
		  port);
	return 0;
}

int ctlsrv_open(const struct ctlsrv_config *cfg, struct ctlsrv **out)
{
	struct ctlsrv *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	for (unsigned k = 0; k < SRV_KINDS; k++) {
		s->l[k].fd = -1;
		s->l[k].kind = (enum srv_kind)k;
		s->l[k].in_max = k == SRV_CONTROL ? CTLSRV_LINE_MAX : CTLSRV_HEAD_MAX;
		for (unsigned i = 0; i < CTLSRV_MAX_CLIENTS; i++)
			s->l[k].c[i].fd = -1;
	}
	if (cfg->control_path)
		rc = open_control(s, cfg->control_path);
	if (!rc && cfg->metrics_listen)
		rc = open_metrics(s, cfg->metrics_listen);
	if (rc) {
		ctlsrv_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static void client_close(struct client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct client){.fd = -1};
}

void ctlsrv_free(struct ctlsrv *s)
{
	if (!s)
		return;
	for (unsigned k = 0; k < SRV_KINDS; k++) {
		for (unsigned i = 0; i < CTLSRV_MAX_CLIENTS; i++)
			if (s->l[k].c[i].fd >= 0)
				client_close(&s->l[k].c[i]);
		if (s->l[k].fd >= 0)
			close(s->l[k].fd);
	}
	/* Landlock refuses this once confined: the next start replaces it. */
	if (s->path && s->l[SRV_CONTROL].fd >= 0)
		unlink(s->path);
	free(s->path);
	free(s);
}

/* ------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------ */

unsigned ctlsrv_poll_fill(struct ctlsrv *s, struct pollfd *p)
{
	unsigned n = 0;

	for (unsigned k = 0; k < SRV_KINDS; k++) {
		struct listener *l = &s->l[k];

		if (l->fd < 0)
			continue;
		p[n++] = (struct pollfd){.fd = l->fd, .events = POLLIN};
		for (unsigned i = 0; i < CTLSRV_MAX_CLIENTS; i++)
			if (l->c[i].fd >= 0)
				p[n++] = (struct pollfd){.fd = l->c[i].fd,
							 .events = l->c[i].out ? POLLOUT : POLLIN};
	}
	return n;
}

static uint64_t idle_ms(const struct listener *l)
{
	return l->kind == SRV_CONTROL ? CTLSRV_IDLE_MS : CTLSRV_HTTP_MS;
}

/* A free client slot; when all are taken, the one idle longest (no request
 * begun, no reply pending) is closed for the newcomer: clients that
 * connect and say nothing cannot lock the operator out. NULL when every
 * client is busy. */
static struct client *free_slot(struct listener *l)
{
	struct client *idle = NULL;

	for (unsigned i = 0; i < CTLSRV_MAX_CLIENTS; i++) {
		struct client *c = &l->c[i];

		if (c->fd < 0)
			return c;
		if (!c->out && !c->in_len && (!idle || c->deadline_ms < idle->deadline_ms))
			idle = c;
	}
	if (idle) {
		vqnet_log(VQNET_LOG_INFO, NULL, "%s client dropped (idle, a new client came)",
			  l->kind == SRV_CONTROL ? "control" : "metrics");
		client_close(idle);
	}
	return idle;
}

static void accept_clients(struct listener *l)
{
	for (;;) {
		struct client *c = NULL;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				vqnet_log(VQNET_LOG_WARN, NULL, "%s socket: accept: %s",
					  l->kind == SRV_CONTROL ? "control" : "metrics",
					  strerror(errno));
			return;
		}
		c = free_slot(l);
		if (!c || !(c->in = malloc(l->in_max + 1))) {
			vqnet_log(VQNET_LOG_INFO, NULL, "%s socket: client refused (%s)",
				  l->kind == SRV_CONTROL ? "control" : "metrics",
				  c ? "out of memory" : "too many clients");
			close(fd);
			continue;
		}
		c->fd = fd;
		c->in_len = 0;
		c->deadline_ms = clock_mono_ms() + idle_ms(l);
	}
}

/* Queue @reply (NULL: out of memory, drop) on @c. False if dropped. */
static bool client_reply(struct client *c, char *reply, size_t len)
{
	if (!reply) {
		client_close(c);
		return false;
	}
	c->out = reply;
	c->out_len = len;
	c->out_off = 0;
	c->deadline_ms = clock_mono_ms() + CTLSRV_WRITE_MS;
	return true;
}

/* A request too long for the buffer: one error reply, then close. */
static char *too_long(const struct listener *l, size_t *len)
{
	char *r = malloc(160);

	if (!r)
		return NULL;
	if (l->kind == SRV_CONTROL)
		*len = (size_t)snprintf(
			r, 160, "{\"ok\":false,\"error\":\"request longer than %zu bytes\"}\n",
			l->in_max);
	else
		*len = (size_t)snprintf(r, 160,
					"HTTP/1.0 431 Request Header Fields Too Large\r\n"
					"Content-Length: 0\r\nConnection: close\r\n\r\n");
	return r;
}

/* Serve the next complete request in @c's buffer, if any and if no reply
 * is in flight. */
static void client_process(struct ctlsrv *s, struct listener *l, struct client *c)
{
	char *end, *reply;
	size_t len = 0, used;

	if (c->out || c->close_after)
		return;
	c->in[c->in_len] = '\0';
	if (l->kind == SRV_CONTROL) {
		end = memchr(c->in, '\n', c->in_len);
		if (!end)
			goto incomplete;
		*end = '\0';
		if (end > c->in && end[-1] == '\r')
			end[-1] = '\0';
		used = (size_t)(end - c->in) + 1;
		reply = s->cfg.ops.line(s->cfg.opaque, c->in, &len);
	} else {
		end = strstr(c->in, "\r\n\r\n");
		if (!end)
			end = strstr(c->in, "\n\n");
		if (!end)
			goto incomplete;
		used = c->in_len;
		reply = s->cfg.ops.http(s->cfg.opaque, c->in, &len);
		c->close_after = true; /* HTTP/1.0: one request per connection */
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	client_reply(c, reply, len);
	return;
incomplete:
	if (c->in_len < l->in_max)
		return;
	c->close_after = true;
	c->in_len = 0;
	reply = too_long(l, &len);
	client_reply(c, reply, len);
}

static void client_read(struct ctlsrv *s, struct listener *l, struct client *c)
{
	ssize_t n = read(c->fd, c->in + c->in_len, l->in_max - c->in_len);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	c->deadline_ms = clock_mono_ms() + idle_ms(l);
	client_process(s, l, c);
}

static void client_write(struct ctlsrv *s, struct listener *l, struct client *c)
{
	ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->out_off += (size_t)n;
	c->deadline_ms = clock_mono_ms() + CTLSRV_WRITE_MS;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	if (c->close_after) {
		client_close(c);
		return;
	}
	c->deadline_ms = clock_mono_ms() + idle_ms(l);
	client_process(s, l, c); /* a request that came with the previous one */
}

void ctlsrv_poll_handle(struct ctlsrv *s, const struct pollfd *p, unsigned n)
{
	uint64_t now = clock_mono_ms();

	for (unsigned j = 0; j < n; j++) {
		for (unsigned k = 0; k < SRV_KINDS; k++) {
			struct listener *l = &s->l[k];

			if (p[j].fd == l->fd && (p[j].revents & POLLIN))
				accept_clients(l);
			for (unsigned i = 0; i < CTLSRV_MAX_CLIENTS; i++) {
				struct client *c = &l->c[i];

				if (c->fd != p[j].fd || !p[j].revents)
					continue;
				if (c->out)
					client_write(s, l, c);
				else if (p[j].revents & (POLLIN | POLLERR | POLLHUP))
					client_read(s, l, c);
			}
		}
	}
	for (unsigned k = 0; k < SRV_KINDS; k++)
		for (unsigned i = 0; i < CTLSRV_MAX_CLIENTS; i++) {
			struct client *c = &s->l[k].c[i];

			if (c->fd >= 0 && now >= c->deadline_ms) {
				vqnet_log(VQNET_LOG_INFO, NULL, "%s client dropped (%s)",
					  k == SRV_CONTROL ? "control" : "metrics",
					  c->out ? "its reply was not read" : "idle");
				client_close(c);
			}
		}
}

int ctlsrv_timeout_ms(const struct ctlsrv *s)
{
	uint64_t now = clock_mono_ms(), next = UINT64_MAX;

	for (unsigned k = 0; k < SRV_KINDS; k++)
		for (unsigned i = 0; i < CTLSRV_MAX_CLIENTS; i++)
			if (s->l[k].c[i].fd >= 0 && s->l[k].c[i].deadline_ms < next)
				next = s->l[k].c[i].deadline_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}
