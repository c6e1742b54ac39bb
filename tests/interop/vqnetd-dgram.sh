#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: two vqnetd joined by their datagram backends (Ethernet frames in
# UDP datagrams over 127.0.0.1), each under its own QEMU guest (TCG, the
# guest's own virtio_net driver).
#
#   vqnetd-dgram.sh VQNETD SOURCE_DIR split|packed
#
#   vqnetd a --backend dgram:127.0.0.1:PA,127.0.0.1:PB --mac 52:54:00:77:03:01
#   vqnetd b --backend dgram:127.0.0.1:PB,127.0.0.1:PA --mac 52:54:00:77:03:02
#   guest a: 10.0.3.1/24 (QEMU mac= the same), guest b: 10.0.3.2/24
#
# PA and PB are two UDP ports that were free on 127.0.0.1 a moment before.
# Both guests boot at once. Each pings the other (it waits up to 40 s for a
# first answer: the other guest may still be booting, then 3 echo requests,
# all answered) and then waits until it has been pinged 3 times, so neither
# powers off before the other is done. Checked: both pings passed both
# ways, both guests saw their --mac address, each vqnetd carried frames
# both ways (txq0 and rxq0 packets > 0) and counted no errors, both exited 0
# on SIGTERM, both QEMU powered off by themselves.
# Exit 0 pass, 1 fail, 77 skip (no root for the guest kernel and modules,
# no QEMU, kernel, busybox-static or cpio, no free UDP ports).
set -u

usage="usage: vqnetd-dgram.sh VQNETD SOURCE_DIR split|packed"
VQNETD=${1:?$usage}
SRC=${2:?$usage}
FMT=${3:?$usage}
MAC_A=52:54:00:77:03:01
MAC_B=52:54:00:77:03:02

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

ring_format "$FMT"
need_exec "$VQNETD"
guest_prereqs
need_python3 "picks free UDP ports"
setup_test dgram

ports=$(free_udp_ports) || skip "cannot find free UDP ports"
PA=${ports% *}
PB=${ports#* }
echo "UDP ports a=$PA b=$PB"

build_initramfs "$SRC"
t0=$(date +%s)
start_vqnetd a 200 --backend "dgram:127.0.0.1:$PA,127.0.0.1:$PB" --mac $MAC_A
A_PID=$VQNETD_PID
start_vqnetd b 200 --backend "dgram:127.0.0.1:$PB,127.0.0.1:$PA" --mac $MAC_B
B_PID=$VQNETD_PID
GUEST_NIC="$NIC,mac=$MAC_A" start_guest ga "$TMP/a.sock" \
	"vqnet.steps=ping,echo vqnet.ip=10.0.3.1/24 vqnet.peer=10.0.3.2 vqnet.echoes=3"
GA_PID=$GUEST_PID
GUEST_NIC="$NIC,mac=$MAC_B" start_guest gb "$TMP/b.sock" \
	"vqnet.steps=ping,echo vqnet.ip=10.0.3.2/24 vqnet.peer=10.0.3.1 vqnet.echoes=3"
GB_PID=$GUEST_PID
wait_guest "$GA_PID" ga
wait_guest "$GB_PID" gb
t1=$(date +%s)
stop_vqnetd "$A_PID" a
stop_vqnetd "$B_PID" b
show_guest ga
show_guest gb
echo "----"

for x in a b; do
	check_vqnetd $x "$FMT" 0 1
	check_guest_ring g$x "$FMT"
	check_steps g$x ping echo
	check_vq_moved $x txq0 rxq0
done
grep -aq "mac $MAC_A" "$TMP/ga.console" || fail "guest a does not have MAC $MAC_A"
grep -aq "mac $MAC_B" "$TMP/gb.console" || fail "guest b does not have MAC $MAC_B"
echo "$FMT: QEMU ran $((t1 - t0)) s"
finish "$FMT"
