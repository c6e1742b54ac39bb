#!/bin/sh
# SPDX-License-Identifier: MIT
#
# vqnetctl against vqnetd under load from vqnet-perf (docs/control.md):
#  1. during a transmit run, `vqnetctl stats` is asked again and again;
#     afterwards txq0's packet count equals what vqnet-perf sent, exactly;
#  2. `rate tx 1M` given during a run bounds every whole second after the
#     reply to the bucket's refill and burst (2 MB); rate_limited grew;
#  3. `rate tx off`: rate_limited stops growing, the count still equals
#     what vqnet-perf sent.
# Per-second rates are printed (not asserted: the machine is shared).
#
#   vqnetctl-perf.sh VQNETD VQNETCTL VQNET_PERF
# Exit 0 pass, 1 fail.
set -u
vqnetd=${1:?usage: vqnetctl-perf.sh VQNETD VQNETCTL VQNET_PERF}
ctl=${2:?}
perf=${3:?}
PY=/usr/bin/python3
D=$(mktemp -d /tmp/vqnetctl-perf.XXXXXX)
pid=
ppid_=
cleanup() {
	[ -n "$ppid_" ] && kill "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	[ -f "$D/err" ] && sed 's/^/  vqnetd: /' "$D/err" | tail -20
	exit 1
}
now_ms() { $PY -c 'import time; print(int(time.monotonic() * 1000))'; }
# A field of txq0 in a stats reply.
txq() { $PY -c 'import json,sys; print(json.load(sys.stdin)["queues"][1][sys.argv[1]])' "$1"; }
summary() { tail -1 "$1" | $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }

sock=$D/vq.sock
"$vqnetd" --socket "$sock" --backend sink >"$D/out" 2>"$D/err" &
pid=$!
n=0
while [ ! -S "$sock.ctl" ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
[ -S "$sock.ctl" ] || fail "no control socket"

# 1. Counters asked for during the run; exact agreement after it.
"$perf" --socket "$sock" --mode tx --seconds 2 --json >"$D/p1" 2>"$D/p1.err" &
ppid_=$!
asked=0
while kill -0 "$ppid_" 2>/dev/null; do
	"$ctl" --socket "$sock" --json stats >/dev/null || fail "stats during the run"
	asked=$((asked + 1))
done
wait "$ppid_" || fail "vqnet-perf: $(cat "$D/p1.err")"
ppid_=
sent=$(summary "$D/p1" tx_packets)
got=$("$ctl" --socket "$sock" --json stats | txq packets)
echo "run 1: vqnet-perf sent $sent frames, vqnetd's txq0 counted $got ($asked stats requests during the run)"
[ "$sent" -gt 0 ] && [ "$sent" = "$got" ] || fail "txq0 packets $got, vqnet-perf sent $sent"

# 2. rate tx 1M during a run.
"$perf" --socket "$sock" --mode tx --seconds 5 --json >"$D/p2" 2>"$D/p2.err" &
ppid_=$!
t0=$(now_ms)
sleep 1
"$ctl" --socket "$sock" rate tx 1M | grep -q "tx rate: 1000000 bytes/s" || fail "rate tx 1M"
t_rate=$(( $(now_ms) - t0 ))
wait "$ppid_" || fail "vqnet-perf: $(cat "$D/p2.err")"
ppid_=
limited=$("$ctl" --socket "$sock" --json stats | txq rate_limited)
[ "$limited" -gt 0 ] || fail "rate_limited did not grow under rate tx 1M"
# Second k of vqnet-perf starts at least k-1 s after its launch: those
# with k-1 >= t_rate ran wholly under the limit.
$PY - "$D/p2" "$t_rate" <<'EOF' || fail "a second under rate tx 1M moved more than 2 MB"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"second"')]
t_rate = int(sys.argv[2]) / 1000.0
print("run 2 (rate tx 1M sent at %.2f s): bytes per second %s" % (t_rate, [l["bytes"] for l in lines]))
checked = 0
for l in lines:
    if l["second"] - 1 >= t_rate:
        checked += 1
        if l["bytes"] > 2000000:
            sys.exit(1)
if not checked:
    print("run 2: no whole second after the limit (a very slow machine); nothing to bound")
EOF

# 3. rate tx off: no more waiting for tokens; the count still agrees.
"$ctl" --socket "$sock" rate tx off | grep -q "tx rate: no limit" || fail "rate tx off"
before=$("$ctl" --socket "$sock" --json stats)
l0=$(echo "$before" | txq rate_limited)
p0=$(echo "$before" | txq packets)
"$perf" --socket "$sock" --mode tx --seconds 1 --json >"$D/p3" 2>"$D/p3.err" ||
	fail "vqnet-perf: $(cat "$D/p3.err")"
after=$("$ctl" --socket "$sock" --json stats)
l1=$(echo "$after" | txq rate_limited)
p1=$(echo "$after" | txq packets)
sent=$(summary "$D/p3" tx_packets)
echo "run 3 (rate tx off): $(summary "$D/p3" bytes) bytes in $(summary "$D/p3" seconds) s; rate_limited $l0 -> $l1"
[ "$l0" = "$l1" ] || fail "rate_limited grew after rate tx off ($l0 -> $l1)"
[ $((p1 - p0)) = "$sent" ] || fail "txq0 counted $((p1 - p0)), vqnet-perf sent $sent"

kill "$pid"
wait "$pid" || fail "vqnetd exited $?"
pid=
echo PASS
