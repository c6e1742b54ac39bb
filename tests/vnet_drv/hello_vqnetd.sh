#!/bin/sh
# SPDX-License-Identifier: MIT
#
# examples/hello against vqnetd --backend loop: one frame out, the same
# frame back, printed. vqnetd is always stopped (EXIT trap).
#
#   hello_vqnetd.sh VQNETD HELLO
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
set -u
TMP=$(mktemp -d /tmp/vqnet-drv-hello.XXXXXX)
SOCK=$TMP/vu.sock
D_PID=
cleanup() {
	if [ -n "$D_PID" ]; then
		kill -TERM "$D_PID" 2>/dev/null
		wait "$D_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"$1" --socket "$SOCK" --backend loop --seconds 50 >"$TMP/d.log" 2>&1 &
D_PID=$!
n=0
while [ ! -S "$SOCK" ] && [ $n -lt 100 ]; do
	sleep 0.1
	n=$((n + 1))
done
"$2" "$SOCK" >"$TMP/out" || { cat "$TMP/out" "$TMP/d.log"; exit 1; }
cat "$TMP/out"
grep -q "received 60 bytes" "$TMP/out" && grep -q "68 65" "$TMP/out"
