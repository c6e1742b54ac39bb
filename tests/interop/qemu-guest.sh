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
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
set -u

usage="usage: qemu-guest.sh VU_LOOP_DEV SOURCE_DIR split|packed"
DEV=${1:?$usage}
SRC=${2:?$usage}
FMT=${3:?$usage}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-90} # hang guard; a TCG boot + run takes ~10 s
MIN_FRAMES=5

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

case $FMT in
split) DEV_ARGS='' NIC_ARGS='' ;;
packed) DEV_ARGS=--packed-ok NIC_ARGS=,packed=on ;;
*)
	echo "unknown ring format '$FMT' (split|packed)" >&2
	exit 2
	;;
esac
[ -x "$DEV" ] || { echo "no executable $DEV" >&2; exit 2; }
if [ ! -x "$SRC/mkinitramfs.sh" ] || [ ! -f "$SRC/guest-init" ]; then
	echo "no mkinitramfs.sh/guest-init in $SRC" >&2
	exit 2
fi
guest_prereqs

status=0
TMP=$(mktemp -d /tmp/vqnet-qemu.XXXXXX) || exit 1
SOCK=$TMP/vu.sock
DEV_PID=
QEMU_PID=

cleanup() {
	stop_pid "$QEMU_PID" TERM 5
	stop_pid "$DEV_PID" TERM 5
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

build_initramfs "$SRC"

start_dev 150

echo "kernel $KERNEL, ring format $FMT"
t0=$(date +%s)
timeout -k 5 "$QEMU_TIMEOUT" "$QEMU" -nodefaults -accel tcg -m 512M \
	-object memory-backend-memfd,id=m,size=512M,share=on -numa node,memdev=m \
	-kernel "$KERNEL" -initrd "$TMP/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" \
	-display none -monitor none -serial "file:$TMP/console.log" -no-reboot \
	-chardev "socket,id=c0,path=$SOCK" -netdev vhost-user,id=n0,chardev=c0 \
	-device "virtio-net-pci,netdev=n0,vectors=0$NIC_ARGS" \
	</dev/null >"$TMP/qemu.log" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID"
qemu_rc=$?
QEMU_PID=
t1=$(date +%s)

stop_dev

echo "---- vu-loop-dev"
cat "$TMP/dev.log"
echo "---- qemu"
cat "$TMP/qemu.log"
echo "---- guest console"
grep -v '^\[' "$TMP/console.log" 2>/dev/null
grep -E 'Kernel panic|BUG|Oops|WARNING' "$TMP/console.log" 2>/dev/null
echo "----"

[ $qemu_rc -eq 0 ] || fail "QEMU exited with $qemu_rc (124: did not power off within ${QEMU_TIMEOUT} s)"
[ $dev_rc -eq 0 ] || fail "vu-loop-dev exited with $dev_rc"

check_queues_started
check_packed_negotiated

marker=$(grep -a '^VQNET-GUEST tx=' "$TMP/console.log" 2>/dev/null | tr -d '\r' | tail -1)
if [ -z "$marker" ]; then
	fail "no VQNET-GUEST line on the guest console"
	tail -30 "$TMP/console.log" 2>/dev/null
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
# /sys/class/net/eth0/device/features: one character per bit, bit 0 first.
bit() { echo "$feat" | cut -c$(($1 + 1)); }
[ "$(bit 32)" = 1 ] || fail "guest driver did not negotiate VERSION_1"
want=0
[ "$FMT" = packed ] && want=1
[ "$(bit 34)" = $want ] || fail "guest driver RING_PACKED bit is $(bit 34) (want $want)"
[ $status -eq 0 ] && echo "PASS: $FMT"
exit $status
