#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one libFuzzer target for a while and merge what it found back into
# its checked-in corpus, minimised. Builds nothing: build the fuzzers first,
#   CC=clang meson setup build-fuzz -Dfuzz=true -Dbench=false -Db_lundef=false
#   ninja -C build-fuzz
# Usage: tests/fuzz/run-long.sh TARGET SECONDS
#   TARGET: the name in fuzz-TARGET (split_device, net_dev_datapath, ...)
#   SECONDS 0: no fuzzing, only the merge of an earlier run's scratch
#   corpus (.fuzz-work/TARGET) into the checked-in one
# Environment: BUILD (default build-fuzz), NICE (default 19).
# Runs one fuzzing job on one core (nice), on a scratch copy of the corpus
# under .fuzz-work/TARGET (git-ignored); then a `-merge=1` of both into a
# fresh directory, whose inputs (libFuzzer names them by their sha1) join
# the named seeds in the checked-in corpus. Prints the executions, the
# corpus sizes, the CPU seconds and any crash; exits 1 after a crash (the
# input is kept as .fuzz-work/TARGET-crash-*; the corpus is then not
# touched).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 TARGET SECONDS" >&2; exit 2; }
target=$1
secs=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$top/build-fuzz}
nice=${NICE:-19}

fuzzer=$(find "$build/tests" -type f -name "fuzz-$target" | head -n 1)
[ -n "$fuzzer" ] && [ -x "$fuzzer" ] || {
	echo "$0: no fuzz-$target under $build/tests (build with -Dfuzz=true)" >&2
	exit 2
}
# The corpus lives next to the target's sources: corpus/TARGET of the
# directory the fuzzer was built from (its meson.build's directory).
rel=${fuzzer#"$build"/}
corpus=$top/$(dirname "$rel")/corpus/$target
# The vhost-user targets are fuzz-vu-msg and fuzz-vu-backend over corpus/msg
# and corpus/backend.
[ -d "$corpus" ] || corpus=$top/$(dirname "$rel")/corpus/${target#vu-}
[ -d "$corpus" ] || { echo "$0: no corpus directory $corpus" >&2; exit 2; }

work=$top/.fuzz-work/$target
before=$(ls "$corpus" | wc -l)
if [ "$secs" -ne 0 ]; then
	rm -rf "$work" "$work"-crash-* "$work"-leak-* "$work"-timeout-* "$work"-oom-*
	mkdir -p "$work"
	cp "$corpus"/* "$work/"

	log=$work.log
	rc=0
	# -print_final_stats: executions; the run is one process (no -jobs), so
	# its CPU time is what `time` reports as user + sys.
	/usr/bin/time -f '%U %S' -o "$work.time" nice -n "$nice" "$fuzzer" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work-" "$work" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cpu=$(tail -n 1 "$work.time" | awk '{printf "%.0f", $1 + $2}')
	crashes=$(ls "$work"-crash-* "$work"-leak-* "$work"-timeout-* "$work"-oom-* 2>/dev/null | wc -l)
	echo "target $target: ${execs:-?} executions, $cpu CPU-seconds, exit $rc"
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -n 20
		echo "crash: $crashes input(s) kept as $work-*; corpus not merged (log $log)"
		exit 1
	fi
fi
[ -d "$work" ] || { echo "$0: no scratch corpus $work to merge" >&2; exit 2; }
found=$(ls "$work" | wc -l)
# A fresh minimised corpus: -merge=1 of the checked-in corpus and the
# scratch one into an empty directory keeps a small set of inputs with the
# same coverage; -use_counters=0 counts edges, not hit counts, so the set
# stays at a few hundred files. Named files (seeds of the generators,
# regress-*) stay in the corpus whatever the merge chose; files named by
# their sha1 (what earlier merges added) are replaced by the merge's
# choice.
rm -rf "$work.merged"
mkdir "$work.merged"
nice -n "$nice" "$fuzzer" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 \
	"$work.merged" "$corpus" "$work" >"$work.merge.log" 2>&1
find "$corpus" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
named=$(sha1sum "$corpus"/* | cut -d' ' -f1)
for f in "$work.merged"/*; do
	h=$(basename "$f")
	case " $(echo $named) " in
	*" $h "*) ;;
	*) cp "$f" "$corpus/$h" ;;
	esac
done
rm -rf "$work.merged"
after=$(ls "$corpus" | wc -l)
echo "corpus $target: $before files before, $found after fuzzing, $after after merge" \
	"(new: $((after - before)))"
[ "$secs" -eq 0 ] || echo "fuzz-log $log"
