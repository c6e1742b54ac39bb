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
set -u
# shellcheck source-path=SCRIPTDIR source=../interop/common.sh
. "$(dirname "$0")/../interop/common.sh"
DRV_ECHO=$1
FMT=$2
MRG=$3
FRAMES=${4:-20000}
MAX_LEN=${5:-1514}

# testpmd -m 256 below; EAL's own error (a skip below) when pages are short.
dpdk_prereqs 0

# cleanup_all (EXIT trap) stops testpmd and removes its files.
DPDK_PREFIX=vqnet$$
setup_test drv-dpdk
SOCK=$TMP/vhost.sock

"$TESTPMD" --no-pci --single-file-segments --lcores '0@0,1@0' -m 256 --file-prefix "$DPDK_PREFIX" \
	--vdev "net_vhost0,iface=$SOCK,queues=1,client=0" -- \
	--forward-mode=io --stats-period 1 >"$TMP/pmd.log" 2>&1 &
PMD_PID=$!
track "$PMD_PID" INT
if ! wait_socket "$SOCK" "$PMD_PID" 15; then
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
