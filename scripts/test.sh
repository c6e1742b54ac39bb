#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs every test twice,
# in a normal build (with clang's static analyser, test lint-analyzer) and
# in an ASan+UBSan build (-fno-sanitize-recover), the threaded tests (suite
# tsan) a third time under ThreadSanitizer, plus a short libFuzzer
# smoke run of each fuzz target (clang). Ends with the line "N passed, N
# failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
jobs=$(nproc)
status=0
summary=()

# setup DIR [meson options...]: configure once, reconfigure never (idempotent).
setup() {
	local dir=$1
	shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null || return 1
	ninja -C "$dir" >/dev/null || { ninja -C "$dir" | tail -40; return 1; }
}

# run DIR LABEL [meson test args...]; LOG: meson's log name (a test setup
# adds its name to it)
run() {
	local dir=$1 label=$2
	shift 2
	echo "== $label"
	meson test -C "$dir" --num-processes "$jobs" --print-errorlogs "$@" |
		grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout|Expected Fail|Unexpected Pass):' || true
	summary+=("$dir/meson-logs/${LOG:-testlog}.json")
}

if setup build -Dbench=true; then
	run build "normal build" --no-suite fuzz-smoke
else
	echo "normal build failed"; status=$((status + 1))
fi
if setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dbench=false; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		run build-asan "ASan+UBSan build" --no-suite fuzz-smoke --no-suite analyzer \
		--timeout-multiplier 3
else
	echo "ASan build failed"; status=$((status + 1))
fi
# Test setup 'tsan' (tests/meson.build): each test wrapped by
# tests/tsan/run.sh, so that a race in any process it starts fails it. gcc:
# its runtime symbolizes in-process, which vqnetd's sandbox allows (clang's
# starts llvm-symbolizer). -Wno-tsan: TSan ignores atomic_thread_fence, and
# vqnet's one fence orders a store before a load, nothing TSan checks.
if setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false -Dc_args=-Wno-tsan; then
	LOG=testlog-tsan run build-tsan "ThreadSanitizer build, threaded tests" \
		--suite tsan --setup tsan
else
	echo "TSan build failed"; status=$((status + 1))
fi
if CC=clang setup build-fuzz -Dfuzz=true -Db_lundef=false -Dbench=false; then
	run build-fuzz "libFuzzer smoke (clang)" --suite fuzz-smoke
else
	echo "fuzz build failed"; status=$((status + 1))
fi

# A build that failed counts as one failed test. The output of every test
# that failed is printed (its last 80 lines) before the summary: the
# filtered progress lines above say only that it failed.
python3 - "$status" "${summary[@]}" <<'PY'
import json, sys
passed = skipped = 0
failed = int(sys.argv[1])
for log in sys.argv[2:]:
    try:
        lines = open(log).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
            out = ((t.get("stdout") or "") + (t.get("stderr") or "")).splitlines()[-80:]
            print(f"---- {t['name']} ({log}): {r}, exit {t.get('returncode')}")
            print("\n".join(out))
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
