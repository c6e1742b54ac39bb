/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's control commands (docs/control.md): a JSON request line in, a
 * JSON reply line out (control.c); the same counters as Prometheus text
 * (metrics.c). Both run on the control thread and read the device the way
 * include/vqnet/net_dev.h "net_dev_status" allows: never stopping a
 * worker, but for `rate` (the workers are parked a moment, as for an MTU
 * change).
 */
#ifndef VQNETD_CONTROL_H
#define VQNETD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vqnet/net_dev.h>
#include <vqnet/vhost_user.h>

struct capture;
struct sandbox_opts;

/* What the commands look at and act on (the daemon owns all of it). */
struct control_ctx {
	struct net_dev *dev;
	struct vu_backend *const *vb; /* the daemon's, set once its socket is open */
	const char *backend;	      /* --backend SPEC */
	const char *const *hostfwd;
	unsigned n_hostfwd;
	const char *socket_path;
	bool client;  /* --client */
	bool sandbox; /* confined (not --sandbox off) */
	uint64_t start_ms;
	/* `capture start|stop`: the running capture (NULL: none), started
	 * in --capture-dir (NULL: not given) under these sandbox settings,
	 * whose capture_dir_fd is the directory's */
	struct capture **capture;
	const char *capture_dir;
	const struct sandbox_opts *sandbox_opts;
};

/* Once before the sandbox: json-c seeds its string hash on first use
 * from getrandom() or /dev/urandom, which the confined control thread may
 * not call or open; one request parsed here does it. */
void control_prepare(void);

/* One request line (NUL-terminated): the reply line, malloc'd, with its
 * newline, its length in *@len; NULL when out of memory. (ctlsrv_ops.line) */
char *control_line(void *ctx, const char *req, size_t *len);

/* The Prometheus text exposition (format 0.0.4) of every counter, malloc'd;
 * NULL when out of memory. */
char *metrics_text(const struct control_ctx *c, size_t *len);
/* An HTTP request head: GET /metrics answers metrics_text(), any other
 * path 404, any other method 405. (ctlsrv_ops.http) */
char *metrics_http(void *ctx, const char *head, size_t *len);

/* The name a queue has in every report: rxqK, txqK or ctrlq. */
void control_queue_name(const struct net_dev *dev, unsigned vq, char *buf, size_t len);

#endif
