#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: DPDK's virtio-user PMD (dpdk-testpmd, a real vhost-user frontend
# not built by vqnet) against vqnet's vhost-user backend serving the
# test-only loopback virtio-net device vu-loop-dev.
#
#   dpdk-virtio-user.sh VU_LOOP_DEV split|packed
#
# testpmd runs io forwarding on its one port with --tx-first: it sends one
# burst of 32 frames, and from then on forwards whatever it receives back
# to the same port. vu-loop-dev hands every transmitted frame back on the
# receive queue, so the initial burst circulates through both rings until
# testpmd is stopped. After ~5 s of forwarding the script stops testpmd
# (SIGINT: it prints its final forward statistics), stops vu-loop-dev
# (SIGTERM: it prints its counts) and checks:
#  - the ring format vu-loop-dev saw is the one asked for;
#  - testpmd received more than 10000 frames;
#  - 0 <= TX-packets - RX-packets <= 32: every frame testpmd sent came back
#    except at most the tx-first burst, which is all that ever circulates
#    (frames still in one of the rings when forwarding stopped);
#  - vu-loop-dev forwarded RX <= frames <= TX (each frame testpmd received
#    was forwarded by the device; the device cannot forward more than was
#    sent), dropped none (the receive ring has 256 buffers for at most 32
#    frames) and counted no error;
#  - both processes exited cleanly (testpmd 0, vu-loop-dev 0).
# Exit 0 pass, 1 fail, 77 skip (no root, no dpdk-testpmd, no hugepages).
set -u

usage="usage: dpdk-virtio-user.sh VU_LOOP_DEV split|packed"
DEV=${1:?$usage}
FMT=${2:?$usage}
BURST=32        # testpmd's default burst: the tx-first burst in flight
MIN_RX=10000
RUN_S=5

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

ring_format "$FMT"
need_exec "$DEV"
dpdk_prereqs

DPDK_PREFIX=vqnet-interop-$$
setup_test interop
SOCK=$TMP/vu.sock

start_dev 90

# The hang guard (timeout) is generous: startup, 5 s of forwarding, shutdown.
start_pmd 30 "$SOCK" io --forward-mode=io --tx-first
track "$PMD_PID" INT 10
# Forwarding has started once the first periodic statistics are printed.
run_pmd_for $RUN_S io

# Then the device: SIGTERM, it prints its counts and frees the backend.
stop_dev

show_log vu-loop-dev "$TMP/dev.log"
show_pmd io

[ $pmd_rc -eq 0 ] || fail "testpmd exited with $pmd_rc (124: timed out)"
[ $dev_rc -eq 0 ] || fail "vu-loop-dev exited with $dev_rc"

# Ring format: both queues started in the format asked for.
check_queues_started
# A fresh packed ring starts with both wrap counters set (VIRTIO 1.2
# §2.8.1). virtio-user sends SET_VRING_BASE 0x8000 for it: avail position 0,
# avail wrap 1 and bits 16-31 zero (DPDK's vhost library takes the used
# position and wrap from the avail ones); a backend that reads used wrap 0
# from bit 31 writes used descriptors the driver never sees.
if [ "$FMT" = packed ]; then
	for q in 0 1; do
		grep -q "queue $q started: packed ring, size [0-9]*, avail 0 wrap 1, used 0 wrap 1" \
			"$TMP/dev.log" || fail "queue $q: packed ring not started fresh (want avail 0 wrap 1, used 0 wrap 1)"
	done
fi
check_packed_negotiated

rx=$(pmd_stat "$TMP/io.pmd" RX-packets)
tx=$(pmd_stat "$TMP/io.pmd" TX-packets)
read_dev_counts
if [ -z "$rx" ] || [ -z "$tx" ]; then
	fail "no final forward statistics from testpmd"
	tail -20 "$TMP/io.pmd"
	exit 1
fi
if [ -z "$frames" ] || [ -z "$drops" ] || [ -z "$errors" ]; then
	fail "no final counts from vu-loop-dev"
	exit 1
fi

echo "$FMT: testpmd RX-packets=$rx TX-packets=$tx; vu-loop-dev frames=$frames drops=$drops errors=$errors"
[ "$rx" -gt $MIN_RX ] || fail "testpmd received $rx frames (want > $MIN_RX)"
d=$((tx - rx))
{ [ $d -ge 0 ] && [ $d -le $BURST ]; } || fail "TX-packets - RX-packets = $d (want 0..$BURST)"
{ [ "$frames" -ge "$rx" ] && [ "$frames" -le "$tx" ]; } ||
	fail "vu-loop-dev forwarded $frames frames (want $rx..$tx)"
[ "$drops" -eq 0 ] || fail "vu-loop-dev dropped $drops frames (no receive buffer)"
[ "$errors" -eq 0 ] || fail "vu-loop-dev counted $errors errors"
finish "$FMT"
