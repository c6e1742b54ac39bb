/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's control commands (control.h; the protocol in docs/control.md).
 *
 * A request is one JSON object, {"cmd":NAME, ...arguments}, parsed
 * strictly by json-c (nothing may follow the object, nesting at most
 * CONTROL_DEPTH); the reply is one JSON object, {"ok":true, ...} or
 * {"ok":false,"error":MESSAGE}. Every reply is built as a json-c object
 * and written on one line.
 */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqnet/log.h>
#include <vqnet/version.h>

#include "base/clock.h"
#include "capture.h"

#define CONTROL_DEPTH 8 /* requests are flat objects */

typedef struct json_object json;

void control_queue_name(const struct net_dev *dev, unsigned vq, char *buf, size_t len)
{
	if (vq == net_dev_num_queues(dev) - 1)
		snprintf(buf, len, "ctrlq");
	else
		snprintf(buf, len, "%sq%u", vq & 1 ? "tx" : "rx", vq / 2);
}

static json *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json *reply_error(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	json *r = json_object_new_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(msg));
	return r;
}

static json *reply_ok(const char *message)
{
	json *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(1));
	if (message)
		json_object_object_add(r, "message", json_object_new_string(message));
	return r;
}

static void add_u64(json *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static double uptime_s(const struct control_ctx *c)
{
	return (double)(clock_mono_ms() - c->start_ms) / 1000.0;
}

/* Seconds since start, written with millisecond precision. */
static json *uptime_json(const struct control_ctx *c)
{
	char text[32];
	double v = uptime_s(c);

	snprintf(text, sizeof(text), "%.3f", v);
	return json_object_new_double_s(v, text);
}

/* A string argument @key of request @req, or NULL. */
static const char *arg_string(json *req, const char *key)
{
	json *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A number argument @key of @req in [@min, @max] into *@out; absent:
 * *@out untouched. Return false if present but not such a number. */
static bool arg_u64(json *req, const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
	json *v;
	uint64_t n;

	if (!json_object_object_get_ex(req, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_int))
		return false;
	n = json_object_get_uint64(v);
	if (json_object_get_int64(v) < 0 || n < min || n > max)
		return false;
	*out = n;
	return true;
}

/* ------------------------------------------------------------------------
 * status
 * ------------------------------------------------------------------------ */

static json *feature_list(uint64_t features)
{
	json *a = json_object_new_array();

	for (unsigned bit = 0; bit < 64; bit++) {
		const char *name = net_dev_feature_name(bit);
		char other[16];

		if (!(features >> bit & 1))
			continue;
		if (!name) {
			snprintf(other, sizeof(other), "bit%u", bit);
			name = other;
		}
		json_object_array_add(a, json_object_new_string(name));
	}
	return a;
}

static json *rate_json(const struct net_dev_rate *r)
{
	json *o;

	if (!r->bytes_per_sec && !r->pkts_per_sec)
		return NULL; /* JSON null: no limit */
	o = json_object_new_object();
	add_u64(o, "bytes_per_sec", r->bytes_per_sec);
	add_u64(o, "bytes_burst", r->bytes_burst ? r->bytes_burst : r->bytes_per_sec);
	add_u64(o, "pkts_per_sec", r->pkts_per_sec);
	add_u64(o, "pkts_burst", r->pkts_burst ? r->pkts_burst : r->pkts_per_sec);
	return o;
}

static const char *queue_state(const struct net_dev_queue_status *q)
{
	if (!q->started)
		return "stopped";
	if (q->broken)
		return "broken";
	return q->enabled ? "running" : "disabled";
}

static json *queues_status(const struct control_ctx *c)
{
	json *a = json_object_new_array();

	for (unsigned i = 0; i < net_dev_num_queues(c->dev); i++) {
		struct net_dev_queue_status qs;
		json *q = json_object_new_object();
		char name[16];

		net_dev_queue_status(c->dev, i, &qs);
		control_queue_name(c->dev, i, name, sizeof(name));
		json_object_object_add(q, "index", json_object_new_int((int)i));
		json_object_object_add(q, "name", json_object_new_string(name));
		json_object_object_add(q, "state", json_object_new_string(queue_state(&qs)));
		if (qs.started) {
			json_object_object_add(q, "format",
					       json_object_new_string(qs.format == VQ_FORMAT_PACKED
									      ? "packed"
									      : "split"));
			json_object_object_add(q, "size", json_object_new_int((int)qs.size));
		}
		if (qs.broken)
			json_object_object_add(
				q, "why",
				json_object_new_string("a ring error (see errors in stats and the "
						       "log); served again once the frontend "
						       "restarts the ring"));
		json_object_array_add(a, q);
	}
	return a;
}

static json *backend_status(const struct control_ctx *c)
{
	json *o = json_object_new_object(), *fw = json_object_new_array();

	json_object_object_add(o, "spec", json_object_new_string(c->backend));
	for (unsigned i = 0; i < c->n_hostfwd; i++)
		json_object_array_add(fw, json_object_new_string(c->hostfwd[i]));
	json_object_object_add(o, "hostfwd", fw);
	return o;
}

/* The running capture, or null. */
static json *capture_status(const struct control_ctx *c)
{
	struct capture_info i;
	json *o;

	if (!c->capture || !*c->capture)
		return NULL;
	capture_get_info(*c->capture, &i);
	o = json_object_new_object();
	json_object_object_add(o, "file", json_object_new_string(i.file));
	json_object_object_add(o, "filter", i.filter ? json_object_new_string(i.filter) : NULL);
	add_u64(o, "snaplen", i.snaplen);
	add_u64(o, "max_bytes", i.max_bytes);
	add_u64(o, "written", i.written);
	add_u64(o, "filtered", i.filtered);
	add_u64(o, "over_limit", i.over_limit);
	add_u64(o, "dropped", i.dropped);
	return o;
}

static json *cmd_status(const struct control_ctx *c)
{
	struct net_dev_status s;
	json *r = reply_ok(NULL), *fe = json_object_new_object(), *dev = json_object_new_object();
	json *rate = json_object_new_object();
	char mac[18];

	net_dev_status(c->dev, &s);
	json_object_object_add(r, "version", json_object_new_string(VQNET_VERSION));
	json_object_object_add(r, "uptime_s", uptime_json(c));
	json_object_object_add(r, "sandbox", json_object_new_string(c->sandbox ? "on" : "off"));
	json_object_object_add(fe, "socket", json_object_new_string(c->socket_path));
	json_object_object_add(fe, "mode", json_object_new_string(c->client ? "client" : "server"));
	json_object_object_add(fe, "connected",
			       json_object_new_boolean((*c->vb && vu_backend_connected(*c->vb))));
	json_object_object_add(r, "frontend", fe);
	json_object_object_add(r, "features_offered", feature_list(s.features_offered));
	json_object_object_add(r, "features", s.features_set ? feature_list(s.features) : NULL);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", s.mac[0], s.mac[1], s.mac[2],
		 s.mac[3], s.mac[4], s.mac[5]);
	json_object_object_add(dev, "mac", json_object_new_string(mac));
	json_object_object_add(dev, "mtu", json_object_new_int((int)s.mtu));
	json_object_object_add(dev, "link", json_object_new_string(s.link_up ? "up" : "down"));
	json_object_object_add(dev, "config_status", json_object_new_int(s.config_status));
	json_object_object_add(dev, "max_queue_pairs", json_object_new_int((int)s.max_pairs));
	json_object_object_add(dev, "queue_pairs", json_object_new_int((int)s.pairs));
	json_object_object_add(dev, "poll_us", json_object_new_int((int)s.poll_us));
	json_object_object_add(rate, "rx", rate_json(&s.rx_rate));
	json_object_object_add(rate, "tx", rate_json(&s.tx_rate));
	json_object_object_add(dev, "rate", rate);
	json_object_object_add(r, "device", dev);
	json_object_object_add(r, "backend", backend_status(c));
	json_object_object_add(r, "queues", queues_status(c));
	json_object_object_add(r, "capture", capture_status(c));
	return r;
}

/* ------------------------------------------------------------------------
 * stats
 * ------------------------------------------------------------------------ */

static json *queue_stats(const struct control_ctx *c, unsigned i)
{
	struct net_dev_queue_stats s;
	json *q = json_object_new_object(), *drops = json_object_new_object();
	char name[16];

	net_dev_queue_stats(c->dev, i, &s);
	control_queue_name(c->dev, i, name, sizeof(name));
	json_object_object_add(q, "index", json_object_new_int((int)i));
	json_object_object_add(q, "name", json_object_new_string(name));
	add_u64(q, "starts", s.starts);
	add_u64(q, "packets", s.packets);
	add_u64(q, "bytes", s.bytes);
	for (unsigned r = 0; r < NET_DEV_DROP__COUNT; r++)
		add_u64(drops, net_dev_drop_name((enum net_dev_drop)r), s.drops[r]);
	json_object_object_add(q, "drops", drops);
	add_u64(q, "errors", s.errors);
	add_u64(q, "kicks", s.kicks);
	add_u64(q, "notify_sent", s.notify_sent);
	add_u64(q, "notify_suppressed", s.notify_suppressed);
	add_u64(q, "wakeups", s.wakeups);
	add_u64(q, "rate_limited", s.rate_limited);
	add_u64(q, "csum_finished", s.csum_finished);
	add_u64(q, "gso_segmented", s.gso_segmented);
	add_u64(q, "rx_merged", s.rx_merged);
	add_u64(q, "rx_zero_copy", s.rx_zero_copy);
	return q;
}

static json *cmd_stats(const struct control_ctx *c)
{
	struct net_dev_status st;
	json *r = reply_ok(NULL), *qs = json_object_new_array(), *be = json_object_new_array();

	net_dev_status(c->dev, &st);
	json_object_object_add(r, "uptime_s", uptime_json(c));
	for (unsigned i = 0; i < net_dev_num_queues(c->dev); i++)
		json_object_array_add(qs, queue_stats(c, i));
	json_object_object_add(r, "queues", qs);
	for (unsigned k = 0; k < st.max_pairs; k++) {
		struct netbe_stats bs;
		json *b = json_object_new_object();

		net_dev_backend_stats(c->dev, k, &bs);
		json_object_object_add(b, "pair", json_object_new_int((int)k));
		add_u64(b, "tx_dropped", bs.tx_dropped);
		add_u64(b, "rx_dropped", bs.rx_dropped);
		add_u64(b, "tx_errors", bs.tx_errors);
		add_u64(b, "rx_errors", bs.rx_errors);
		json_object_array_add(be, b);
	}
	json_object_object_add(r, "backend", be);
	add_u64(r, "capture_dropped", net_dev_capture_dropped(c->dev));
	return r;
}

/* ------------------------------------------------------------------------
 * Commands that change something
 * ------------------------------------------------------------------------ */

static json *cmd_metrics(const struct control_ctx *c)
{
	size_t len;
	char *text = metrics_text(c, &len);
	json *r;

	if (!text)
		return reply_error("out of memory");
	r = reply_ok(NULL);
	json_object_object_add(r, "text", json_object_new_string_len(text, (int)len));
	free(text);
	return r;
}

static json *cmd_link(const struct control_ctx *c, json *req)
{
	const char *state = arg_string(req, "state");
	struct net_dev_status s;
	char msg[256];
	bool up;

	if (!state || (strcmp(state, "up") && strcmp(state, "down")))
		return reply_error("link: \"state\" must be \"up\" or \"down\"");
	up = !strcmp(state, "up");
	net_dev_set_link(c->dev, up);
	net_dev_status(c->dev, &s);
	/* §5.1.4: the driver reads the link state only with STATUS, and
	 * hears of a change only through a config-change notice. */
	if (!s.features_set)
		snprintf(msg, sizeof(msg),
			 "link %s; no driver has negotiated yet, so none sees the change (frames "
			 "%s)",
			 state, up ? "flow again" : "are dropped and counted as link_down");
	else if (!(s.features >> VIRTIO_NET_F_STATUS & 1))
		snprintf(
			msg, sizeof(msg),
			"link %s; STATUS was not negotiated with vqnetd (QEMU's virtio-net keeps "
			"the link state itself), so the driver does not see the change (frames %s)",
			state, up ? "flow again" : "are dropped and counted as link_down");
	else if (!vu_backend_config_notices(*c->vb))
		snprintf(msg, sizeof(msg),
			 "link %s; the driver negotiated STATUS but the frontend takes no "
			 "config-change notice, so the driver does not see the change (frames %s)",
			 state, up ? "flow again" : "are dropped and counted as link_down");
	else
		snprintf(msg, sizeof(msg),
			 "link %s; the driver negotiated STATUS and was sent a config-change "
			 "notice",
			 state);
	vqnet_log(VQNET_LOG_INFO, NULL, "control: %s", msg);
	return reply_ok(msg);
}

static json *cmd_announce(const struct control_ctx *c)
{
	int rc = net_dev_announce(c->dev);

	if (rc == -EOPNOTSUPP)
		return reply_error("announce: the driver did not negotiate GUEST_ANNOUNCE and "
				   "CTRL_VQ");
	if (rc)
		return reply_error("announce: %s", strerror(-rc));
	return reply_ok("announce requested from the driver");
}

static json *cmd_rate(const struct control_ctx *c, json *req)
{
	const char *dir = arg_string(req, "dir"), *spec = arg_string(req, "rate");
	struct net_dev_rate r = {0};
	char msg[160];

	if (!dir || (strcmp(dir, "rx") && strcmp(dir, "tx")))
		return reply_error("rate: \"dir\" must be \"rx\" or \"tx\"");
	if (!spec)
		return reply_error("rate: \"rate\" must be a string, BYTES[k|M|G][:PACKETS[k|M]] "
				   "or \"off\"");
	if (strcmp(spec, "off") && net_dev_rate_parse(spec, &r))
		return reply_error("rate: '%.64s' is not BYTES[k|M|G][:PACKETS[k|M]] or off", spec);
	net_dev_set_rate(c->dev, !strcmp(dir, "rx"), &r);
	if (!r.bytes_per_sec && !r.pkts_per_sec)
		snprintf(msg, sizeof(msg), "%s rate: no limit", dir);
	else
		snprintf(msg, sizeof(msg), "%s rate: %" PRIu64 " bytes/s, %" PRIu64 " packets/s",
			 dir, r.bytes_per_sec, r.pkts_per_sec);
	vqnet_log(VQNET_LOG_INFO, NULL, "control: %s", msg);
	return reply_ok(msg);
}

/* capture start: a new file in --capture-dir, the taps on. */
static json *capture_start_cmd(const struct control_ctx *c, json *req)
{
	struct capture_opts o = {.file = arg_string(req, "file"),
				 .filter = arg_string(req, "filter")};
	uint64_t snaplen = 65535;
	char err[512];
	struct capture *cap;
	int rc;

	if (!c->capture_dir)
		return reply_error("capture start: vqnetd was started without --capture-dir, so it "
				   "may create no file");
	if (*c->capture)
		return reply_error("capture start: a capture to %s is running; stop it first",
				   capture_file(*c->capture));
	if (!o.file)
		return reply_error("capture start: \"file\" must be a string, a file name");
	if (!arg_u64(req, "snaplen", 1, 65535, &snaplen) ||
	    !arg_u64(req, "max_bytes", 1, INT64_MAX, &o.max_bytes))
		return reply_error("capture start: \"snaplen\" must be 1..65535 and \"max_bytes\" "
				   "a positive number");
	if (json_object_object_get_ex(req, "filter", NULL) && !o.filter)
		return reply_error("capture start: \"filter\" must be a string");
	o.snaplen = (uint32_t)snaplen;
	rc = capture_open_in(c->sandbox_opts->capture_dir_fd, c->capture_dir, &o, &cap, err,
			     sizeof(err));
	if (rc)
		return reply_error("capture start: %s", err);
	rc = capture_start(cap, c->dev, c->sandbox_opts);
	if (rc) {
		capture_close(cap, NULL, 0);
		return reply_error("capture start: %s", strerror(-rc));
	}
	*c->capture = cap;
	snprintf(err, sizeof(err), "capturing to %s", capture_file(cap));
	return reply_ok(err);
}

static json *cmd_capture(const struct control_ctx *c, json *req)
{
	const char *action = arg_string(req, "action");
	char summary[512];

	if (!action || (strcmp(action, "start") && strcmp(action, "stop")))
		return reply_error("capture: \"action\" must be \"start\" or \"stop\"");
	if (!strcmp(action, "start"))
		return capture_start_cmd(c, req);
	if (!*c->capture)
		return reply_error("capture stop: no capture is running");
	capture_close(*c->capture, summary, sizeof(summary));
	*c->capture = NULL;
	return reply_ok(summary);
}

static json *cmd_log_level(json *req)
{
	const char *s = arg_string(req, "level");
	int level = s ? vqnet_log_level_parse(s) : -1;
	char msg[64];

	if (level < 0)
		return reply_error("log-level: \"level\" must be error|warn|info|debug");
	vqnet_log_set_level((enum vqnet_log_level)level);
	snprintf(msg, sizeof(msg), "log level %s", s);
	return reply_ok(msg);
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

/* Parse @line strictly: one object, nothing after it but white space. */
static json *parse_request(const char *line, const char **err)
{
	struct json_tokener *tok = json_tokener_new_ex(CONTROL_DEPTH);
	size_t len = strlen(line);
	json *req;

	*err = "out of memory";
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* The NUL too: the text ends there (a bare "5" or "null" is whole). */
	req = json_tokener_parse_ex(tok, line, (int)len + 1);
	if (req && strspn(line + json_tokener_get_parse_end(tok), " \t\r") !=
			   len - json_tokener_get_parse_end(tok)) {
		*err = "something after the request's object";
		json_object_put(req);
		req = NULL;
	} else if (!req && json_tokener_get_error(tok) != json_tokener_success) {
		*err = json_tokener_error_desc(json_tokener_get_error(tok));
	} else if (!req) {
		*err = "the request is not a JSON object"; /* null */
	} else if (req && !json_object_is_type(req, json_type_object)) {
		*err = "the request is not a JSON object";
		json_object_put(req);
		req = NULL;
	}
	json_tokener_free(tok);
	return req;
}

static json *dispatch(const struct control_ctx *c, json *req)
{
	const char *cmd = arg_string(req, "cmd");

	if (!cmd)
		return reply_error("no \"cmd\" string in the request");
	if (!strcmp(cmd, "status"))
		return cmd_status(c);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(c);
	if (!strcmp(cmd, "metrics"))
		return cmd_metrics(c);
	if (!strcmp(cmd, "link"))
		return cmd_link(c, req);
	if (!strcmp(cmd, "announce"))
		return cmd_announce(c);
	if (!strcmp(cmd, "rate"))
		return cmd_rate(c, req);
	if (!strcmp(cmd, "log-level"))
		return cmd_log_level(req);
	if (!strcmp(cmd, "capture"))
		return cmd_capture(c, req);
	return reply_error("unknown command '%.64s' (status|stats|metrics|link|announce|rate|"
			   "log-level|capture)",
			   cmd);
}

void control_prepare(void)
{
	const char *err;
	/* A request parsed and its reply built: json-c seeds its hash (the
	 * one getrandom() it makes) now, before the sandbox. */
	json *req = parse_request("{\"warm\":1}", &err);
	json *reply = reply_error("warm-up");

	json_object_put(req);
	json_object_put(reply);
}

char *control_line(void *ctx, const char *line, size_t *len)
{
	const struct control_ctx *c = ctx;
	const char *err;
	json *req = parse_request(line, &err), *reply;
	const char *text;
	char *out;
	size_t n;

	reply = req ? dispatch(c, req) : reply_error("bad request: not JSON (%s)", err);
	json_object_put(req);
	if (!reply)
		return NULL;
	text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE);
	n = text ? strlen(text) : 0;
	out = text ? malloc(n + 2) : NULL;
	if (out) {
		memcpy(out, text, n);
		out[n] = '\n';
		out[n + 1] = '\0';
		*len = n + 1;
	}
	json_object_put(reply);
	return out;
}
