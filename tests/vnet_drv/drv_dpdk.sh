#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The driver library against DPDK's vhost-user PMD: dpdk-testpmd with a
# net_vhost port (server socket) in io forwarding returns every frame it
# receives; drv_echo sends N frames with sequence numbers and checks each
# comes back intact and in order.
#
#   drv_dpdk.sh DRV_ECHO split|packed on|off [FRAMES] [MAX_LEN]
#
# testpmd runs in the background with --stats-period (otherwise it reads
# EOF on stdin and exits) and is ALWAYS stopped (EXIT trap): a leftover
# poller skews every later measurement. Exit 0 pass, 1 fail, 77 skip (no
# root, no dpdk-testpmd, no huge pages).
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
set -u
DRV_ECHO=$1
FMT=$2
MRG=$3
FRAMES=${4:-20000}
MAX_LEN=${5:-1514}

skip() {
	echo "SKIP: $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root (hugepages, DPDK)"
TESTPMD=$(command -v dpdk-testpmd) || skip "dpdk-testpmd not installed (Debian: dpdk-dev)"
if [ "$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)" -lt 1024 ]; then
	echo 1024 >/proc/sys/vm/nr_hugepages 2>/dev/null || skip "cannot set vm.nr_hugepages"
fi
if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
	{ mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; } ||
		skip "cannot mount hugetlbfs at /dev/hugepages"
fi

TMP=$(mktemp -d /tmp/vqnet-drv-dpdk.XXXXXX)
SOCK=$TMP/vhost.sock
PREFIX=vqnet$$
PMD_PID=

cleanup() {
	if [ -n "$PMD_PID" ] && kill -0 "$PMD_PID" 2>/dev/null; then
		kill -INT "$PMD_PID" 2>/dev/null
		n=0
		while kill -0 "$PMD_PID" 2>/dev/null && [ $n -lt 50 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		kill -9 "$PMD_PID" 2>/dev/null
		wait "$PMD_PID" 2>/dev/null
	fi
	rm -f /dev/hugepages/"$PREFIX"*
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"$TESTPMD" --no-pci --single-file-segments --lcores '0@0,1@0' -m 256 --file-prefix "$PREFIX" \
	--vdev "net_vhost0,iface=$SOCK,queues=1,client=0" -- \
	--forward-mode=io --stats-period 1 >"$TMP/pmd.log" 2>&1 &
PMD_PID=$!
n=0
while [ ! -S "$SOCK" ] && [ $n -lt 150 ]; do
	kill -0 "$PMD_PID" 2>/dev/null || break
	sleep 0.1
	n=$((n + 1))
done
if [ ! -S "$SOCK" ]; then
	tail -20 "$TMP/pmd.log"
	grep -qi "cannot get hugepage\|no available hugepages\|Cannot init memory" "$TMP/pmd.log" &&
		skip "DPDK EAL could not set up its huge page memory"
	echo "FAIL: testpmd did not create $SOCK"
	exit 1
fi

# DPDK's vhost library serves no control queue for a vhost-user frontend
# (QEMU keeps it): --no-ctrl.
"$DRV_ECHO" --socket "$SOCK" --ring "$FMT" --mrg "$MRG" --frames "$FRAMES" \
	--max-len "$MAX_LEN" --no-ctrl --timeout 30
rc=$?
if [ $rc -ne 0 ]; then
	echo "---- testpmd log (tail)"
	tail -30 "$TMP/pmd.log"
fi
exit $rc
