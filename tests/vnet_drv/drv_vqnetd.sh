#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The driver library against vqnetd (the project's daemon) with its loop
# backend, which returns every frame: drv_echo sends N frames with
# sequence numbers (control queue on: vqnetd serves it) and checks each
# comes back intact and in order.
#
#   drv_vqnetd.sh VQNETD DRV_ECHO split|packed on|off [FRAMES] [MAX_LEN]
#
# vqnetd is always stopped (EXIT trap). Exit 0 pass, 1 fail.
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
set -u
# shellcheck source-path=SCRIPTDIR source=../interop/common.sh
. "$(dirname "$0")/../interop/common.sh"
VQNETD=$1
DRV_ECHO=$2
FMT=$3
MRG=$4
FRAMES=${5:-20000}
MAX_LEN=${6:-9000}

TMP=$(mktemp -d /tmp/vqnet-drv-vqnetd.XXXXXX)
SOCK=$TMP/vu.sock
D_PID=

cleanup() {
	stop_pid "$D_PID" TERM 5
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

MRG_OPT=
[ "$MRG" = off ] && MRG_OPT=--no-mrg-rxbuf
"$VQNETD" --socket "$SOCK" --backend loop --mtu 9000 $MRG_OPT --seconds 120 >"$TMP/d.log" 2>&1 &
D_PID=$!
if ! wait_socket "$SOCK" "$D_PID" 10; then
	cat "$TMP/d.log"
	echo "FAIL: vqnetd did not create $SOCK"
	exit 1
fi
"$DRV_ECHO" --socket "$SOCK" --ring "$FMT" --mrg "$MRG" --frames "$FRAMES" \
	--max-len "$MAX_LEN" --timeout 30
rc=$?
if [ $rc -ne 0 ]; then
	echo "---- vqnetd log"
	tail -30 "$TMP/d.log"
fi
exit $rc
