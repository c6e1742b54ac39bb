#!/bin/sh
# Smoke-run a libFuzzer binary for a few seconds on a copy of its corpus,
# so the checked-in corpus is never modified. Usage: smoke.sh FUZZER CORPUS [SECONDS]
set -eu
abs() { (cd "$(dirname "$1")" && printf '%s/%s' "$(pwd)" "$(basename "$1")"); }
fuzzer=$(abs "$1")
corpus=$(abs "$2")
secs=${3:-20}
# Crash reproducers land where the test runs (the build directory).
out=$(pwd)
name=$(basename "$fuzzer")
work=$(mktemp -d "${TMPDIR:-/tmp}/vqnet-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$corpus"/* "$work/corpus/"
cd "$work"
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out/$name-" corpus
