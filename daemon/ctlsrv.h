/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's operator sockets (docs/control.md): the control socket (JSON,
 * one request and one reply per line) and the metrics listener (HTTP
 * GET /metrics). Both are opened during set-up, before the sandbox, and
 * served from the control thread's poll() loop, never blocking: every fd
 * is non-blocking, a client has one bounded request buffer and at most
 * one reply in flight (it is not read from until its reply is written),
 * a client that does not read its reply or sends nothing is dropped after
 * a bound, and at most CTLSRV_MAX_CLIENTS clients per socket are served.
 */
#ifndef VQNETD_CTLSRV_H
#define VQNETD_CTLSRV_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define CTLSRV_MAX_CLIENTS 16u
#define CTLSRV_MAX_FDS	   (2u + 2u * CTLSRV_MAX_CLIENTS)
#define CTLSRV_LINE_MAX	   65536u /* longest request line (control socket) */
#define CTLSRV_HEAD_MAX	   8192u  /* longest HTTP request head */

/* What the requests mean (control.c, metrics.c). Each returns a reply it
 * allocated (malloc; the server frees it once written) and its length, or
 * NULL when out of memory (the client is then dropped). */
struct ctlsrv_ops {
	/* One request line, NUL-terminated, without its newline: the reply
	 * line with its newline. */
	char *(*line)(void *opaque, const char *req, size_t *len);
	/* An HTTP request head (NUL-terminated): the whole response. */
	char *(*http)(void *opaque, const char *head, size_t *len);
};

struct ctlsrv_config {
	const char *control_path;   /* NULL: no control socket */
	bool control_default;	    /* the path was derived, not chosen: if too
				       long for a socket, warn and go on without */
	const char *metrics_listen; /* "ADDR:PORT", NULL: no metrics listener */
	struct ctlsrv_ops ops;
	void *opaque;
};

struct ctlsrv;

/* Open the sockets (the control socket mode 0600, a stale socket file
 * replaced). Return 0 and *out, or -errno after one log line. */
int ctlsrv_open(const struct ctlsrv_config *cfg, struct ctlsrv **out);
/* Close every socket and client; the control socket file is removed
 * where the sandbox still allows it. NULL is allowed. */
void ctlsrv_free(struct ctlsrv *s);

/* The fds to poll, into @p (at most CTLSRV_MAX_FDS); return how many. */
unsigned ctlsrv_poll_fill(struct ctlsrv *s, struct pollfd *p);
/* After poll(): serve the @n entries ctlsrv_poll_fill() gave (revents
 * may all be 0: the clients' deadlines are checked every time). */
void ctlsrv_poll_handle(struct ctlsrv *s, const struct pollfd *p, unsigned n);
/* Milliseconds until the nearest client deadline, or -1 for none. */
int ctlsrv_timeout_ms(const struct ctlsrv *s);

/* "ADDR:PORT" (an IPv4 address, or [IPv6]:PORT; port 0: any free one)
 * into @sa and @len. Return 0 or -EINVAL. */
int ctlsrv_parse_listen(const char *spec, struct sockaddr_storage *sa, socklen_t *len);

#endif
