#!/bin/sh
# SPDX-License-Identifier: MIT
#
# vqnet-perf against vqnetd, each mode for 1 s: tx into the sink backend,
# rx from the gen backend, pingpong and bidir through the loop backend, on
# a split and a packed ring. Checks the JSON summary has its keys and
# moved packets, and that loop pingpong saw no sequence error. Asserts no
# speed. vqnetd is always stopped (EXIT trap).
#
#   perf_smoke.sh VQNETD VQNET_PERF
#
# Exit 0 pass, 1 fail.
set -u
# shellcheck source-path=SCRIPTDIR source=../interop/common.sh
. "$(dirname "$0")/../interop/common.sh"
VQNETD=$1
PERF=$2
setup_test perf-smoke
SOCK=$TMP/vu.sock

fail() {
	echo "FAIL: $*"
	[ -f "$TMP/out" ] && cat "$TMP/out"
	[ -f "$TMP/d.log" ] && tail -20 "$TMP/d.log"
	exit 1
}

# The value of numeric key $2 in JSON line $1 (empty when absent).
key() {
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p"
}

# bad arguments: one line, exit 2
"$PERF" --mode nope >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] || fail "bad --mode did not exit 2"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "bad --mode printed more than one line"

run() { # BACKEND MODE RING
	rm -f "$SOCK"
	run_vqnetd "$TMP/d.log" "$SOCK" --backend "$1" --seconds 60 ||
		fail "vqnetd --backend $1 did not create $SOCK"
	"$PERF" --socket "$SOCK" --mode "$2" "--$3" --seconds 1 --json >"$TMP/out" 2>&1 ||
		fail "vqnet-perf --mode $2 --$3 against $1 exited $?"
	stop_tracked "$VQNETD_PID" TERM 5
	last=$(tail -n 1 "$TMP/out")
	case $last in *'"summary":true'*) ;; *) fail "$2/$3: no summary line" ;; esac
	for k in packets bytes mpps gbps seq_errors lost; do
		[ -n "$(key "$last" $k)" ] || fail "$2/$3: summary lacks $k"
	done
	if [ "$2" = pingpong ]; then
		for k in p50_us p99_us p999_us; do
			[ -n "$(key "$last" $k)" ] || fail "$2/$3: summary lacks $k"
		done
		[ "$(key "$last" seq_errors)" = 0 ] || fail "$2/$3: sequence errors through loop"
	fi
	[ "$(key "$last" packets)" -gt 0 ] 2>/dev/null || fail "$2/$3: no packets"
	echo "ok $1 $2 $3: $last"
}

for ring in split packed; do
	run sink tx $ring
	run gen rx $ring
	run loop pingpong $ring
	run loop bidir $ring
done
exit 0
