#!/bin/sh
# meson test --wrapper for the ThreadSanitizer pass (scripts/test.sh,
# suite 'tsan'): runs one test with TSan's reports written to files, so
# that a race in any process the test starts (vqnetd, drv_echo, ...) is
# seen, not only in the test program; any report fails the test and is
# printed. Suppressions: suppressions.txt, beside this script.
#   run.sh TEST [ARGS...]
here=$(cd "$(dirname "$0")" && pwd) || exit 2
logs=$(mktemp -d) || exit 2
# vqnetd may run as another user (--user nobody): it must be able to write
# its report too.
chmod 1777 "$logs"
# halt_on_error=0: every race of the run is reported, not just the first.
# atexit_sleep_ms=0: no 1 s wait at exit (timed tests see the daemon's own
# exit time).
TSAN_OPTIONS="log_path=$logs/tsan halt_on_error=0 atexit_sleep_ms=0 second_deadlock_stack=1 suppressions=$here/suppressions.txt ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS
"$@"
rc=$?
n=0
for f in "$logs"/tsan.*; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	cat "$f" >&2
done
rm -rf "$logs"
if [ $n -gt 0 ]; then
	echo "ThreadSanitizer: reports from $n process(es) (test status $rc)" >&2
	exit 1
fi
exit $rc
