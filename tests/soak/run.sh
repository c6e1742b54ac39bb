#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The soak (tests/soak/README.md): vqnetd, built with AddressSanitizer,
# under traffic for MINUTES while its frontend reconnects and changes its
# memory table every few hundred ms; fails if vqnetd's RSS, fds or
# mappings grow after warm-up, or if it does not exit cleanly.
#
#   tests/soak/run.sh MINUTES [BUILD_DIR]
#
# BUILD_DIR (default: build-asan in the source tree) must be configured
# with -Db_sanitize=address,undefined (docs: README.md). Samples go to
# BUILD_DIR/soak-DATE/samples.csv, the run's output to .../soak.log.
set -eu

minutes=${1:-}
case $minutes in
'' | *[!0-9]*)
	echo "usage: $0 MINUTES [BUILD_DIR]  (MINUTES >= 3)" >&2
	exit 2
	;;
esac
if [ "$minutes" -lt 3 ]; then
	echo "$0: at least 3 minutes (warm-up plus two 60 s windows)" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$src/build-asan}

san=$(meson introspect --buildoptions "$build" 2>/dev/null | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"))' || true)
case $san in
*address*) ;;
*)
	echo "$0: $build is not an AddressSanitizer build" \
		"(meson setup $build -Db_sanitize=address,undefined ...)" >&2
	exit 2
	;;
esac
ninja -C "$build" daemon/vqnetd tests/soak/vqnet-soak >/dev/null

out=$build/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "soak: $minutes min, samples in $out/samples.csv"
# LeakSanitizer checks vqnetd's exit; the first error aborts it.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	nice -n 10 "$build/tests/soak/vqnet-soak" "$build/daemon/vqnetd" \
	$((minutes * 60)) "$out/samples.csv" 2>&1 | tee "$out/soak.log"
# tee hides the exit status: the verdict is cmocka's line.
grep -q '^\[  PASSED  \] 1 test' "$out/soak.log"
