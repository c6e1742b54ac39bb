#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check vqnetd's Prometheus text with a real parser (the Python client's,
prometheus_client.parser) against a `vqnetctl --json stats` reply.

usage: check_metrics.py STATS_JSON SOURCE...
  SOURCE: a file holding the text (`vqnetctl metrics`), or an http:// URL
  (vqnetd --metrics-listen) fetched here.
Every queue counter, drop reason and backend counter in the stats reply
must be a sample of the same value; exit 0, else 1 with one line.
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

FIELDS = {"packets": "packets", "bytes": "bytes", "errors": "errors", "kicks": "kicks",
          "notify_sent": "notifications_sent", "notify_suppressed": "notifications_suppressed",
          "wakeups": "wakeups", "rate_limited": "rate_limited", "csum_finished": "csum_finished",
          "gso_segmented": "gso_segmented", "rx_merged": "rx_merged", "rx_zero_copy": "rx_zero_copy",
          "starts": "ring_starts"}


def samples(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        if not fam.documentation:
            sys.exit("check_metrics: family %s has no HELP" % fam.name)
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def expect(got, name, labels, value, where):
    key = (name, tuple(sorted(labels.items())))
    if key not in got:
        sys.exit("check_metrics: %s: no sample %s%s" % (where, name, labels))
    if got[key] != value:
        sys.exit("check_metrics: %s: %s%s is %s, stats say %s" % (where, name, labels, got[key], value))


def check(stats, text, where):
    got = samples(text)
    n = 0
    nq = len(stats["queues"])
    for q in stats["queues"]:
        i = q["index"]
        if i == nq - 1:
            d, labels = "ctrl", {}
        else:
            d, labels = ("tx" if i % 2 else "rx"), {"queue": str(i // 2)}
        for key, metric in FIELDS.items():
            expect(got, "vqnet_%s_%s_total" % (d, metric), labels, q[key], where)
            n += 1
        for reason, v in q["drops"].items():
            expect(got, "vqnet_%s_drops_total" % d, dict(labels, reason=reason), v, where)
            n += 1
    for b in stats["backend"]:
        for key in ("tx_dropped", "rx_dropped", "tx_errors", "rx_errors"):
            expect(got, "vqnet_backend_%s_total" % key, {"queue": str(b["pair"])}, b[key], where)
            n += 1
    expect(got, "vqnet_capture_dropped_total", {}, stats["capture_dropped"], where)
    n += 1
    print("check_metrics: %s: %d samples equal to stats" % (where, n))


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: check_metrics.py STATS_JSON SOURCE...")
    with open(sys.argv[1]) as f:
        stats = json.load(f)
    for src in sys.argv[2:]:
        if src.startswith("http://"):
            with urllib.request.urlopen(src, timeout=20) as r:
                ctype = r.headers.get("Content-Type", "")
                if not ctype.startswith("text/plain; version=0.0.4"):
                    sys.exit("check_metrics: %s: Content-Type %r" % (src, ctype))
                text = r.read().decode()
        else:
            with open(src) as f:
                text = f.read()
        check(stats, text, src)


main()
