# SPDX-License-Identifier: MIT
#
# Shared by the interop scripts (dpdk-virtio-user.sh, qemu-guest.sh), sourced
# after they set DEV, FMT and DEV_ARGS; the functions that touch the device
# also use TMP, SOCK, DEV_PID and status, set by the caller.
# shellcheck shell=sh disable=SC2034 # dev_rc, frames, drops, errors: for the caller

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	status=1
}

# stop_pid PID SIGNAL SECONDS: signal a process we started and wait for it,
# killing it (and, for timeout(1), its child) when it does not go.
stop_pid() {
	pid=$1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -s "$2" "$pid" 2>/dev/null
	n=0
	while kill -0 "$pid" 2>/dev/null && [ "$n" -lt $(($3 * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		for c in $(pgrep -P "$pid"); do
			kill -9 "$c" 2>/dev/null
		done
		kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# start_dev SECONDS: start vu-loop-dev ($DEV $DEV_ARGS) on $SOCK for at most
# SECONDS, its output in $TMP/dev.log; sets DEV_PID. Exits 1 (FAIL) when the
# socket does not appear within 10 s.
start_dev() {
	# shellcheck disable=SC2086
	"$DEV" --socket "$SOCK" $DEV_ARGS --seconds "$1" >"$TMP/dev.log" 2>&1 &
	DEV_PID=$!
	n=0
	while [ ! -S "$SOCK" ] && [ $n -lt 100 ]; do
		kill -0 "$DEV_PID" 2>/dev/null || break
		sleep 0.1
		n=$((n + 1))
	done
	if [ ! -S "$SOCK" ]; then
		cat "$TMP/dev.log"
		echo "FAIL: vu-loop-dev did not create $SOCK"
		exit 1
	fi
}

# stop_dev: SIGTERM to vu-loop-dev (it prints its counts and frees the
# backend) and wait for it; its exit status in dev_rc.
stop_dev() {
	kill -s TERM "$DEV_PID" 2>/dev/null
	wait "$DEV_PID"
	dev_rc=$?
	DEV_PID=
}

# check_queues_started: both queues started in the ring format $FMT.
check_queues_started() {
	for q in 0 1; do
		grep -q "queue $q started: $FMT ring" "$TMP/dev.log" || fail "queue $q did not start as a $FMT ring"
	done
}

# check_packed_negotiated: RING_PACKED negotiated on the backend side for
# packed, not for split.
check_packed_negotiated() {
	if [ "$FMT" = packed ]; then
		grep -q '^vu-loop-dev: features .* RING_PACKED' "$TMP/dev.log" || fail "RING_PACKED not negotiated"
	else
		grep -q '^vu-loop-dev: features .* RING_PACKED' "$TMP/dev.log" && fail "RING_PACKED negotiated"
	fi
}

# read_dev_counts: frames, drops and errors from vu-loop-dev's last counts
# line (empty when there is none).
read_dev_counts() {
	counts=$(grep '^vu-loop-dev: frames=' "$TMP/dev.log" | tail -1)
	frames=$(echo "$counts" | sed -n 's/.*frames=\([0-9]*\).*/\1/p')
	drops=$(echo "$counts" | sed -n 's/.*drops=\([0-9]*\).*/\1/p')
	errors=$(echo "$counts" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
}
