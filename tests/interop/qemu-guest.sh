#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: QEMU (a real vhost-user frontend, not built by vqnet) running a
# Linux guest whose own virtio_net driver drives vqnet's vhost-user backend,
# serving the test-only loopback virtio-net device vu-loop-dev.
#
#   qemu-guest.sh VU_LOOP_DEV SOURCE_DIR split|packed
#
# The guest is the host's Debian kernel (/boot/vmlinuz-*, package
# linux-image-amd64) with an initramfs built here at test time
# (mkinitramfs.sh: busybox-static, the virtio-pci/virtio-net modules of
# that kernel and guest-init as /init). QEMU runs under TCG (no KVM needed)
# with the guest memory in a shared memfd (vhost-user maps it) and the NIC
# on INTx (vectors=0: QEMU 7.2 + TCG + vhost-user crashes in MSI-X setup).
# For packed, the NIC is given packed=on and vu-loop-dev --packed-ok.
#
# The guest brings eth0 up, pings an address nobody owns (static neighbour:
# the echo requests go straight out), reads eth0's counters, prints
#   VQNET-GUEST tx=N rx=M features=BITS uptime=S
# and powers off; QEMU exits by itself (-no-reboot). vu-loop-dev hands every
# frame back on the receive queue, so the script checks:
#  - QEMU exited 0 by itself within the time limit, the marker line is there;
#  - tx >= 5, 5 <= rx <= tx (every frame that came back was sent first);
#  - vu-loop-dev forwarded at least rx frames, dropped none, counted no error
#    and exited 0;
#  - both queues started in the ring format asked for, RING_PACKED negotiated
#    (packed) or not (split) on the backend side, and the guest driver's
#    feature bit 34 (RING_PACKED) agrees; VERSION_1 (bit 32) is set.
# Exit 0 pass, 1 fail, 77 skip (no root, no QEMU, no kernel, no busybox-static
# or cpio). Debian: qemu-system-x86 linux-image-amd64 busybox-static cpio.
set -u

usage="usage: qemu-guest.sh VU_LOOP_DEV SOURCE_DIR split|packed"
DEV=${1:?$usage}
SRC=${2:?$usage}
FMT=${3:?$usage}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-90} # hang guard; a TCG boot + run takes ~10 s
MIN_FRAMES=5

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

ring_format "$FMT"
need_exec "$DEV"
if [ ! -x "$SRC/mkinitramfs.sh" ] || [ ! -f "$SRC/guest-init" ]; then
	echo "no mkinitramfs.sh/guest-init in $SRC" >&2
	exit 2
fi
guest_prereqs
unset VQNET_INTEROP_SELFTEST # for the vqnetd-*.sh tests: no stand-in here

setup_test qemu
SOCK=$TMP/vu.sock

build_initramfs "$SRC"

start_dev 150

echo "kernel $KERNEL, ring format $FMT"
t0=$(date +%s)
GUEST_NIC=$NIC GUEST_TIMEOUT=$QEMU_TIMEOUT start_guest g "$SOCK" ""
wait_guest "$GUEST_PID" g
t1=$(date +%s)

stop_dev

show_log vu-loop-dev "$TMP/dev.log"
show_guest g
echo "----"

[ $dev_rc -eq 0 ] || fail "vu-loop-dev exited with $dev_rc"

check_queues_started
check_packed_negotiated

marker=$(grep -a '^VQNET-GUEST tx=' "$TMP/g.console" 2>/dev/null | tr -d '\r' | tail -1)
if [ -z "$marker" ]; then
	fail "no VQNET-GUEST line on the guest console"
	tail -30 "$TMP/g.console" 2>/dev/null
	exit 1
fi
tx=$(echo "$marker" | sed -n 's/.* tx=\([0-9]*\).*/\1/p')
rx=$(echo "$marker" | sed -n 's/.* rx=\([0-9]*\).*/\1/p')
feat=$(echo "$marker" | sed -n 's/.* features=\([01]*\).*/\1/p')
uptime=$(echo "$marker" | sed -n 's/.* uptime=\([0-9.]*\).*/\1/p')
read_dev_counts
if [ -z "$tx" ] || [ -z "$rx" ] || [ -z "$feat" ]; then
	fail "cannot parse the guest line: $marker"
	exit 1
fi
if [ -z "$frames" ] || [ -z "$drops" ] || [ -z "$errors" ]; then
	fail "no final counts from vu-loop-dev"
	exit 1
fi

echo "$FMT: guest tx=$tx rx=$rx features=$feat (guest uptime ${uptime:-?} s, QEMU $((t1 - t0)) s);" \
	"vu-loop-dev frames=$frames drops=$drops errors=$errors"
[ "$tx" -ge $MIN_FRAMES ] || fail "guest sent $tx frames (want >= $MIN_FRAMES)"
[ "$rx" -ge $MIN_FRAMES ] || fail "guest received $rx frames (want >= $MIN_FRAMES)"
[ "$rx" -le "$tx" ] || fail "guest received $rx frames, more than the $tx it sent"
[ "$frames" -ge "$rx" ] || fail "vu-loop-dev forwarded $frames frames, fewer than the guest received ($rx)"
[ "$drops" -eq 0 ] || fail "vu-loop-dev dropped $drops frames (no receive buffer)"
[ "$errors" -eq 0 ] || fail "vu-loop-dev counted $errors errors"
# /sys/class/net/eth0/device/features: VERSION_1 (bit 32), RING_PACKED
# (bit 34) for packed only.
check_guest_ring g "$FMT"
finish "$FMT"
