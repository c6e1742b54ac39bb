#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: DPDK's virtio-user PMD (dpdk-testpmd, DPDK 22.11) against vqnetd
# with its loop backend (every frame the driver transmits comes back on the
# receive queue).
#
#   vqnetd-dpdk.sh VQNETD split|packed
#
# "Every packet sent comes back" needs two runs, each on a fresh vqnetd,
# because testpmd's txonly mode never polls its receive queue:
#
# 1. txonly, ~3 s: testpmd transmits as fast as it can and never takes a
#    frame back, so the receive ring holds at most its 256 buffers and the
#    loop backend soon has nowhere to put frames: it drops them, counted on
#    txq0 (tx_backend). This run shows that vqnetd takes every transmitted
#    frame and accounts for each:
#     - txq0 packets + txq0 drops = testpmd's TX-packets, less at most one
#       burst (every frame sent was taken off the ring: handed to the loop
#       or counted as dropped; testpmd's last burst may still be in the
#       ring when its disconnect stops the queue, which vhost-user's
#       GET_VRING_BASE leaves there, as it should);
#     - rxq0 packets + rxq0 drops <= txq0 packets (nothing invented; the
#       difference is still queued in the loop backend when it stops);
#     - 1 <= rxq0 packets <= 256 (the buffers testpmd posted at start,
#       never refilled), RX-packets = 0, and the total line's drops equal
#       txq0 drops + rxq0 drops.
# 2. io --tx-first, ~4 s: testpmd sends one burst of 32 and forwards back
#    out whatever it receives, so the burst circulates through vqnetd's
#    loop. This run shows that what is sent comes back, with buffers to
#    spare:
#     - RX-packets > 10000 and 0 <= TX-packets - RX-packets <= 32 (only the
#       burst circulates; at most 32 frames are inside when forwarding
#       stops);
#     - RX-packets <= vqnetd's txq0 and rxq0 packets <= TX-packets;
#     - vqnetd dropped nothing (256 receive buffers for at most 32 frames).
# In both runs: the rings started in the format asked for (packed_vq=1 and
# RING_PACKED negotiated, or split), vqnetd counted no errors and exited 0
# on SIGTERM, testpmd exited 0.
# Exit 0 pass, 1 fail, 77 skip (no root, no dpdk-testpmd, no huge pages).
set -u

usage="usage: vqnetd-dpdk.sh VQNETD split|packed"
VQNETD=${1:?$usage}
FMT=${2:?$usage}
BURST=32   # testpmd's default burst: the tx-first burst in flight
MIN_RX=10000

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

ring_format "$FMT"
need_exec "$VQNETD"
dpdk_prereqs

DPDK_PREFIX=vqnet-vqnetd-$$
setup_test dpdk

# run_pmd NAME SECONDS TESTPMD_ARGS...: vqnetd NAME (loop backend), then
# testpmd on its socket for SECONDS of forwarding, stopped with SIGINT (it
# prints its final statistics to $TMP/NAME.pmd), then vqnetd with SIGTERM.
run_pmd() {
	rp_name=$1 rp_secs=$2
	shift 2
	start_vqnetd "$rp_name" 90 --backend loop
	vpid=$VQNETD_PID
	# The hang guard (timeout) is generous: startup, forwarding, shutdown.
	start_pmd 40 "$TMP/$rp_name.sock" "$rp_name" "$@"
	track "$PMD_PID" INT
	run_pmd_for "$rp_secs" "$rp_name"
	dpdk_cleanup "$DPDK_PREFIX"
	[ $pmd_rc -eq 0 ] || fail "testpmd ($rp_name) exited with $pmd_rc (124: timed out)"
	stop_vqnetd "$vpid" "$rp_name"
	show_pmd "$rp_name"
	check_vqnetd "$rp_name" "$FMT" 0 1
}

# 1. txonly.
run_pmd txonly 3 --forward-mode=txonly
tx=$(pmd_stat "$TMP/txonly.pmd" TX-packets)
rx=$(pmd_stat "$TMP/txonly.pmd" RX-packets)
vtx=$(vq_stat txonly txq0 packets)
vtxd=$(vq_stat txonly txq0 drops)
vrx=$(vq_stat txonly rxq0 packets)
vrxd=$(vq_stat txonly rxq0 drops)
drops=$(vq_total txonly drops)
echo "$FMT txonly: testpmd TX-packets=${tx:-?} RX-packets=${rx:-?};" \
	"vqnetd txq0 packets=${vtx:-?} drops=${vtxd:-?}, rxq0 packets=${vrx:-?} drops=${vrxd:-?}, total drops=${drops:-?}"
if [ -z "$tx" ] || [ -z "$rx" ] || [ -z "$vtx" ] || [ -z "$vtxd" ] || [ -z "$vrx" ] || [ -z "$vrxd" ] || [ -z "$drops" ]; then
	fail "txonly: missing counts (testpmd final statistics or vqnetd queue/total lines)"
else
	[ "$tx" -gt $MIN_RX ] || fail "txonly: testpmd sent $tx frames (want > $MIN_RX)"
	left=$((tx - vtx - vtxd))
	echo "txonly: $left frames still in the transmit ring when testpmd stopped it"
	{ [ "$left" -ge 0 ] && [ "$left" -le $BURST ]; } ||
		fail "txonly: vqnetd txq0 packets + drops = $((vtx + vtxd)), testpmd sent $tx (want at most $BURST fewer)"
	[ $((vrx + vrxd)) -le "$vtx" ] ||
		fail "txonly: rxq0 packets + drops = $((vrx + vrxd)), more than the $vtx looped"
	echo "txonly: $((vtx - vrx - vrxd)) frames still in the loop backend at the end"
	{ [ "$vrx" -ge 1 ] && [ "$vrx" -le $PMD_RING ]; } || fail "txonly: rxq0 packets = $vrx (want 1..$PMD_RING)"
	[ "$rx" -eq 0 ] || fail "txonly: testpmd received $rx frames (txonly does not poll)"
	[ "$drops" -eq $((vtxd + vrxd)) ] || fail "txonly: total drops $drops != txq0 drops + rxq0 drops $((vtxd + vrxd))"
fi

# 2. io forwarding with --tx-first.
run_pmd io 4 --forward-mode=io --tx-first
tx=$(pmd_stat "$TMP/io.pmd" TX-packets)
rx=$(pmd_stat "$TMP/io.pmd" RX-packets)
vtx=$(vq_stat io txq0 packets)
vrx=$(vq_stat io rxq0 packets)
drops=$(vq_total io drops)
echo "$FMT io --tx-first: testpmd TX-packets=${tx:-?} RX-packets=${rx:-?};" \
	"vqnetd txq0 packets=${vtx:-?} rxq0 packets=${vrx:-?} drops=${drops:-?}"
if [ -z "$tx" ] || [ -z "$rx" ] || [ -z "$vtx" ] || [ -z "$vrx" ] || [ -z "$drops" ]; then
	fail "io: missing counts (testpmd final statistics or vqnetd queue/total lines)"
else
	[ "$rx" -gt $MIN_RX ] || fail "io: testpmd received $rx frames (want > $MIN_RX)"
	d=$((tx - rx))
	{ [ $d -ge 0 ] && [ $d -le $BURST ]; } || fail "io: TX-packets - RX-packets = $d (want 0..$BURST)"
	for v in "$vtx" "$vrx"; do
		{ [ "$v" -ge "$rx" ] && [ "$v" -le "$tx" ]; } ||
			fail "io: vqnetd moved $v frames on a queue (want $rx..$tx)"
	done
	[ "$drops" -eq 0 ] || fail "io: vqnetd dropped $drops frames"
fi
finish "$FMT"
