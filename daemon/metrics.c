/* SPDX-License-Identifier: MIT */
/*
 * Every counter of vqnetd as Prometheus text (exposition format 0.0.4),
 * for `vqnetctl metrics` and for GET /metrics on --metrics-listen
 * (control.h; the names are listed in docs/control.md "Metrics").
 *
 * A queue counter of struct net_dev_queue_stats is a family per
 * direction, vqnet_rx_*_total and vqnet_tx_*_total labelled by queue pair
 * ("queue"), and vqnet_ctrl_*_total for the control queue; drops are one
 * family per direction labelled by reason too. The text is built in an
 * open_memstream buffer (no fd, no system call but memory).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqnet/version.h>

#include "base/clock.h"
#include "control.h"

/* The queue counters, as metric name and help text. */
static const struct qfield {
	const char *name;
	size_t off;
	const char *help;
} qfields[] = {
	{"packets", offsetof(struct net_dev_queue_stats, packets), "Frames moved"},
	{"bytes", offsetof(struct net_dev_queue_stats, bytes),
	 "Frame bytes moved (no virtio-net header)"},
	{"errors", offsetof(struct net_dev_queue_stats, errors), "Ring and backend errors"},
	{"kicks", offsetof(struct net_dev_queue_stats, kicks), "Driver kicks read"},
	{"notifications_sent", offsetof(struct net_dev_queue_stats, notify_sent),
	 "Used-buffer notifications sent to the driver"},
	{"notifications_suppressed", offsetof(struct net_dev_queue_stats, notify_suppressed),
	 "Used-buffer notifications the driver did not want (EVENT_IDX, flags)"},
	{"wakeups", offsetof(struct net_dev_queue_stats, wakeups),
	 "Times the queue's worker woke from sleep"},
	{"rate_limited", offsetof(struct net_dev_queue_stats, rate_limited),
	 "Times the queue waited for rate-limit tokens"},
	{"csum_finished", offsetof(struct net_dev_queue_stats, csum_finished),
	 "Checksums completed in software"},
	{"gso_segmented", offsetof(struct net_dev_queue_stats, gso_segmented),
	 "GSO frames segmented in software"},
	{"rx_merged", offsetof(struct net_dev_queue_stats, rx_merged),
	 "Received frames that took more than one buffer"},
	{"rx_zero_copy", offsetof(struct net_dev_queue_stats, rx_zero_copy),
	 "Received frames the backend wrote straight into guest buffers"},
	{"ring_starts", offsetof(struct net_dev_queue_stats, starts),
	 "Times the frontend started the ring"},
};

static const char *const dir_names[3] = {"rx", "tx", "ctrl"};

static uint64_t field(const struct net_dev_queue_stats *s, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)s + off, sizeof(v));
	return v;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value escaped as the format asks (backslash, quote, newline). */
static void label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

/* The families of direction @dir (0 rx, 1 tx, 2 ctrl), from @st (one
 * entry per virtqueue). */
static void queue_families(FILE *f, unsigned dir, const struct net_dev_queue_stats *st,
			   unsigned pairs)
{
	unsigned first = dir == 2 ? 2 * pairs : dir, step = dir == 2 ? 1 : 2;
	unsigned end = dir == 2 ? 2 * pairs + 1 : 2 * pairs;
	char name[96], help[160];

	for (size_t i = 0; i < sizeof(qfields) / sizeof(qfields[0]); i++) {
		snprintf(name, sizeof(name), "vqnet_%s_%s_total", dir_names[dir], qfields[i].name);
		snprintf(help, sizeof(help), "%s (%s queue)", qfields[i].help,
			 dir == 2 ? "control"
			 : dir	  ? "transmit"
				  : "receive");
		family(f, name, "counter", help);
		for (unsigned q = first; q < end; q += step)
			if (dir == 2)
				fprintf(f, "%s %" PRIu64 "\n", name, field(&st[q], qfields[i].off));
			else
				fprintf(f, "%s{queue=\"%u\"} %" PRIu64 "\n", name, q / 2,
					field(&st[q], qfields[i].off));
	}
	snprintf(name, sizeof(name), "vqnet_%s_drops_total", dir_names[dir]);
	family(f, name, "counter", "Frames (or buffers) dropped, by reason");
	for (unsigned q = first; q < end; q += step)
		for (unsigned r = 0; r < NET_DEV_DROP__COUNT; r++) {
			fputs(name, f);
			if (dir == 2)
				fprintf(f, "{reason=\"%s\"}",
					net_dev_drop_name((enum net_dev_drop)r));
			else
				fprintf(f, "{queue=\"%u\",reason=\"%s\"}", q / 2,
					net_dev_drop_name((enum net_dev_drop)r));
			fprintf(f, " %" PRIu64 "\n", st[q].drops[r]);
		}
}

static void backend_families(FILE *f, const struct control_ctx *c, unsigned pairs)
{
	static const char *const names[4] = {"tx_dropped", "rx_dropped", "tx_errors", "rx_errors"};
	static const char *const helps[4] = {
		"Frames the backend could not send", "Frames lost inside the backend",
		"Backend send errors other than a full queue", "Backend receive errors"};
	struct netbe_stats bs[NET_DEV_MAX_QUEUE_PAIRS];
	char name[64];

	for (unsigned k = 0; k < pairs; k++)
		net_dev_backend_stats(c->dev, k, &bs[k]);
	for (unsigned i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "vqnet_backend_%s_total", names[i]);
		family(f, name, "counter", helps[i]);
		for (unsigned k = 0; k < pairs; k++) {
			const uint64_t v[4] = {bs[k].tx_dropped, bs[k].rx_dropped, bs[k].tx_errors,
					       bs[k].rx_errors};

			fprintf(f, "%s{queue=\"%u\"} %" PRIu64 "\n", name, k, v[i]);
		}
	}
}

static void gauges(FILE *f, const struct control_ctx *c, const struct net_dev_status *s)
{
	family(f, "vqnet_info", "gauge", "vqnetd's version and backend (always 1)");
	fprintf(f, "vqnet_info{version=\"%s\",backend=\"", VQNET_VERSION);
	label_value(f, c->backend);
	fputs("\"} 1\n", f);
	family(f, "vqnet_uptime_seconds", "gauge", "Seconds since vqnetd started");
	fprintf(f, "vqnet_uptime_seconds %.3f\n", (double)(clock_mono_ms() - c->start_ms) / 1000.0);
	family(f, "vqnet_frontend_connected", "gauge",
	       "1 while a vhost-user frontend is connected");
	fprintf(f, "vqnet_frontend_connected %d\n",
		(*c->vb && vu_backend_connected(*c->vb)) ? 1 : 0);
	family(f, "vqnet_link_up", "gauge", "1 while the device's link is up");
	fprintf(f, "vqnet_link_up %d\n", s->link_up ? 1 : 0);
	family(f, "vqnet_mtu_bytes", "gauge", "The device's MTU");
	fprintf(f, "vqnet_mtu_bytes %u\n", s->mtu);
	family(f, "vqnet_queue_pairs", "gauge", "Queue pairs the driver asked for");
	fprintf(f, "vqnet_queue_pairs %u\n", s->pairs);
	family(f, "vqnet_rate_limit_bytes_per_second", "gauge",
	       "Rate limit of a direction in bytes per second (0: none)");
	fprintf(f, "vqnet_rate_limit_bytes_per_second{direction=\"rx\"} %" PRIu64 "\n",
		s->rx_rate.bytes_per_sec);
	fprintf(f, "vqnet_rate_limit_bytes_per_second{direction=\"tx\"} %" PRIu64 "\n",
		s->tx_rate.bytes_per_sec);
	family(f, "vqnet_rate_limit_packets_per_second", "gauge",
	       "Rate limit of a direction in packets per second (0: none)");
	fprintf(f, "vqnet_rate_limit_packets_per_second{direction=\"rx\"} %" PRIu64 "\n",
		s->rx_rate.pkts_per_sec);
	fprintf(f, "vqnet_rate_limit_packets_per_second{direction=\"tx\"} %" PRIu64 "\n",
		s->tx_rate.pkts_per_sec);
}

char *metrics_text(const struct control_ctx *c, size_t *len)
{
	static struct net_dev_queue_stats st[2 * NET_DEV_MAX_QUEUE_PAIRS + 1];
	struct net_dev_status s;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	net_dev_status(c->dev, &s);
	/* One copy of every queue first: the families then agree. */
	for (unsigned i = 0; i < 2 * s.max_pairs + 1; i++)
		net_dev_queue_stats(c->dev, i, &st[i]);
	gauges(f, c, &s);
	for (unsigned dir = 0; dir < 3; dir++)
		queue_families(f, dir, st, s.max_pairs);
	backend_families(f, c, s.max_pairs);
	family(f, "vqnet_capture_dropped_total", "counter",
	       "Frames --capture could not copy (a queue pair's ring was full)");
	fprintf(f, "vqnet_capture_dropped_total %" PRIu64 "\n", net_dev_capture_dropped(c->dev));
	if (fclose(f) || !buf) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* An HTTP response with @body (NULL: none) of @blen bytes. */
static char *response(const char *status, const char *body, size_t blen, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	fprintf(f,
		"HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n",
		status, blen);
	if (blen)
		fwrite(body, 1, blen, f);
	if (fclose(f) || !buf) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *metrics_http(void *ctx, const char *head, size_t *len)
{
	const struct control_ctx *c = ctx;
	const char *path;
	char *body, *r;
	size_t blen;

	if (strncmp(head, "GET ", 4))
		return response("405 Method Not Allowed", "GET only\n", 9, len);
	path = head + 4;
	if (strcspn(path, " ?\r\n") != 8 || strncmp(path, "/metrics", 8))
		return response("404 Not Found", "not found: try /metrics\n", 24, len);
	body = metrics_text(c, &blen);
	if (!body)
		return response("500 Internal Server Error", "out of memory\n", 14, len);
	r = response("200 OK", body, blen, len);
	free(body);
	return r;
}
