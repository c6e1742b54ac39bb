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
set -u
# shellcheck source-path=SCRIPTDIR source=../interop/common.sh
. "$(dirname "$0")/../interop/common.sh"
VQNETD=$1
DRV_ECHO=$2
FMT=$3
MRG=$4
FRAMES=${5:-20000}
MAX_LEN=${6:-9000}

setup_test drv-vqnetd
SOCK=$TMP/vu.sock

MRG_OPT=
[ "$MRG" = off ] && MRG_OPT=--no-mrg-rxbuf
# shellcheck disable=SC2086 # MRG_OPT: empty or one word
if ! run_vqnetd "$TMP/d.log" "$SOCK" --backend loop --mtu 9000 $MRG_OPT --seconds 120; then
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
