#!/bin/sh
# SPDX-License-Identifier: MIT
#
# examples/hello against vqnetd --backend loop: one frame out, the same
# frame back, printed. vqnetd is always stopped (EXIT trap).
#
#   hello_vqnetd.sh VQNETD HELLO
set -u
# shellcheck source-path=SCRIPTDIR source=../interop/common.sh
. "$(dirname "$0")/../interop/common.sh"
VQNETD=$1
setup_test drv-hello
SOCK=$TMP/vu.sock

# No check here: hello fails when the socket is not there.
run_vqnetd "$TMP/d.log" "$SOCK" --backend loop --seconds 50
"$2" "$SOCK" >"$TMP/out" || { cat "$TMP/out" "$TMP/d.log"; exit 1; }
cat "$TMP/out"
grep -q "received 60 bytes" "$TMP/out" && grep -q "68 65" "$TMP/out"
