#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: vqnetd in client mode (--client) with QEMU 7.2 as the vhost-user
# server, SIGKILLed KILLS times (4) during a TCP download and
# a sequence-numbered UDP stream, each time started again on the same
# socket; split or packed rings. vqnetd resumes each ring from its restart
# state file (docs/vqnetd.md "Restart without loss"): QEMU cannot give a
# packed ring's position back (virtio_queue_packed_restore_last_avail_idx
# does nothing) and keeps no chains in flight (no INFLIGHT_SHMFD for
# virtio-net).
#
#   vqnetd-client.sh VQNETD SOURCE_DIR split|packed UDP_SEQ [KILLS]
#
#   netns vqnet-cli-PID: persistent multiqueue TAP vqcPID (vnet_hdr)
#     10.78.0.1/24, python3 http.server serving a 24 MiB random file.
#     tap-keeper.py holds the TAP's queue and starts each vqnetd with it
#     (--tap-fd), as a management tool would: frames the kernel queues for
#     the guest while no vqnetd runs wait in the queue instead of being
#     dropped with it.
#   QEMU: -chardev socket,server=on,wait=off; guest eth0 10.78.0.2/24,
#     ,packed=on for packed.
#
# Sequence: vqnetd #1 --client connects; the guest pings 10.78.0.1, starts
# UDP_SEQ recv (udprecv) and wget of the file. The host sends UDP_COUNT
# numbered datagrams (UDP_SEQ send, 300 per second) to the guest through
# the TAP. Once the TAP has carried 8 MiB towards the guest, and then every
# 1.5 s, the running vqnetd gets SIGKILL (rings left as they are), and one
# second later the next one starts and connects; QEMU sets the device up on
# it again. Checked:
#  - the first kill came mid-download;
#  - each later vqnetd resumed the receive ring (ring 0) from the state
#    file; the transmit ring too, unless QEMU completed its chains itself
#    (it drops what is on a transmitq when the link goes down), then it is
#    refused with its reason and started at QEMU's position;
#  - the guest received every datagram once: lost=0 duplicated=0;
#  - the download is byte-exact (size, md5sum); the last vqnetd negotiated
#    the ring format, moved packets on both queues, counted no errors and
#    exits 0 on SIGTERM; the guest's virtio_net logged no error; QEMU
#    powered off by itself.
# Exit 0 pass, 1 fail, 77 skip (no root, QEMU, kernel, busybox-static, cpio,
# python3 or ip).
set -u

usage="usage: vqnetd-client.sh VQNETD SOURCE_DIR split|packed UDP_SEQ [KILLS]"
VQNETD=${1:?$usage}
SRC=${2:?$usage}
FMT=${3:?$usage}
UDP_SEQ=${4:?$usage}
KILLS=${5:-4}
SIZE=$((48 * 1024 * 1024))
KILL_AFTER=$((8 * 1024 * 1024)) # TAP bytes towards the guest before the first kill
UDP_COUNT=6000
UDP_PPS=300
UDP_PORT=5555

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

ring_format "$FMT"
need_exec "$VQNETD"
need_exec "$UDP_SEQ"
guest_prereqs
need_python3
need_ip

setup_test cli
NS=vqnet-cli-$$
TAP=vqc$$
SOCK=$TMP/qemu.sock

build_initramfs "$SRC" "$UDP_SEQ"
make_netns "$NS"
ip -n "$NS" tuntap add dev "$TAP" mode tap vnet_hdr multi_queue ||
	{ echo "FAIL: cannot create TAP $TAP in $NS"; exit 1; }
ns_up "$NS" "$TAP" 10.78.0.1/24
# The queue holds what comes for the guest while no vqnetd runs (about a
# second each time): the download's segments and the datagrams.
ip -n "$NS" link set "$TAP" txqueuelen 10000
serve_blob $SIZE 10.78.0.1 "$NS"

mkfifo "$TMP/keeper.fifo"
ip netns exec "$NS" "$PYTHON" "$SRC/tap-keeper.py" "$TAP" "$TMP/keeper.fifo" "$TMP" \
	>"$TMP/keeper.log" 2>&1 </dev/null &
KEEPER_PID=$!
track "$KEEPER_PID" TERM

# tap_tx: bytes the TAP has sent towards vqnetd (and so the guest).
tap_tx() {
	ip netns exec "$NS" cat "/sys/class/net/$TAP/statistics/tx_bytes"
}

# start_client NAME: vqnetd, a child of the keeper (in the namespace, with
# the TAP's queue), connecting to QEMU's socket; sets VQNETD_PID.
start_client() {
	echo "$1 $VQNETD --client --socket $SOCK --backend tap:$TAP --tap-fd {fd} --log-level info --seconds 300" \
		>"$TMP/keeper.fifo"
	poll 10 "$KEEPER_PID" test -s "$TMP/$1.pid" || { cat "$TMP/keeper.log"; echo "FAIL: the keeper did not start vqnetd $1"; exit 1; }
	VQNETD_PID=$(cat "$TMP/$1.pid")
	track "$VQNETD_PID" KILL
}

# end_client NAME SIGNAL: signal vqnetd NAME and wait for the keeper to
# see it end; its status in RC.
end_client() {
	kill -s "$2" "$(cat "$TMP/$1.pid")" 2>/dev/null
	poll 10 '' test -s "$TMP/$1.rc" || fail "vqnetd ($1) did not end within 10 s of SIG$2"
	untrack "$(cat "$TMP/$1.pid")"
	RC=$(cat "$TMP/$1.rc" 2>/dev/null)
}

t0=$(date +%s)
GUEST_CHARDEV=,server=on,wait=off GUEST_TIMEOUT=200 GUEST_NIC=$NIC start_guest g "$SOCK" \
	"vqnet.steps=ping,udprecv,wget,udpwait vqnet.ip=10.78.0.2/24 vqnet.peer=10.78.0.1 vqnet.url=http://10.78.0.1:$PORT/blob vqnet.udpseq=$UDP_SEQ vqnet.udpport=$UDP_PORT vqnet.udpcount=$UDP_COUNT"
G_PID=$GUEST_PID
wait_socket "$SOCK" "$G_PID" 20 || { show_guest g; echo "FAIL: QEMU did not create $SOCK"; exit 1; }
start_client d0

if ! wait_console g 'VQNET-GUEST step udprecv ' 150 "$G_PID"; then
	fail "the guest never started its UDP receiver"
fi
ip netns exec "$NS" "$UDP_SEQ" send 10.78.0.2 $UDP_PORT $UDP_COUNT $UDP_PPS >"$TMP/udp-send.out" 2>&1 &
SENDER_PID=$!
track "$SENDER_PID" TERM

k=1
mid=0
while [ $k -le "$KILLS" ]; do
	if [ $k -eq 1 ]; then
		# The first kill once the download is under way (8 MiB).
		n=0
		while [ "$(tap_tx)" -lt $KILL_AFTER ] && [ $n -lt 600 ]; do
			kill -0 "$G_PID" 2>/dev/null || break
			sleep 0.05
			n=$((n + 1))
		done
	else
		sleep 1.5
	fi
	at=$(tap_tx)
	[ "$at" -lt $SIZE ] && mid=$((mid + 1))
	end_client d$((k - 1)) KILL
	echo "vqnetd d$((k - 1)) killed (SIGKILL, exit $RC) after $at bytes towards the guest"
	sleep 1
	start_client d$k
	k=$((k + 1))
done
LAST=d$KILLS

wait "$SENDER_PID"
untrack "$SENDER_PID"
wait_guest "$G_PID" g
t1=$(date +%s)
end_client "$LAST" TERM
[ "$RC" = 0 ] || fail "vqnetd ($LAST) exited with $RC on SIGTERM"
echo exit >"$TMP/keeper.fifo"
stop_tracked "$KEEPER_PID" TERM 10
k=0
while [ $k -le "$KILLS" ]; do
	show_log "vqnetd d$k (log)" "$TMP/d$k.log"
	k=$((k + 1))
done
show_log "vqnetd $LAST (counts)" "$TMP/$LAST.out"
show_guest g
show_log "UDP sender (host)" "$TMP/udp-send.out"
echo "----"

[ $mid -gt 0 ] || fail "the first kill did not come in the middle of the download"
tap_drops=$(ip netns exec "$NS" cat "/sys/class/net/$TAP/statistics/tx_dropped")
echo "$mid of $KILLS kills mid-download; the TAP dropped $tap_drops frames"
check_vq_started d0 "$FMT" 0 1
check_vqnetd "$LAST" "$FMT" 0 1
check_vq_moved "$LAST" rxq0 txq0
k=1
while [ $k -le "$KILLS" ]; do
	grep -q 'ring 0 resumed from the state file' "$TMP/d$k.log" ||
		fail "vqnetd d$k did not resume the receive ring from its state file"
	grep -q 'ring 1 resumed from the state file' "$TMP/d$k.log" ||
		echo "vqnetd d$k: transmit ring: $(grep 'ring 1: state file refused' "$TMP/d$k.log" | cut -d: -f3-)"
	k=$((k + 1))
done
tr -d '\r' <"$TMP/g.console" | grep -aE 'virtio_net.*(error|not a head|unexpected|bad)|NETDEV WATCHDOG' &&
	fail "the guest's virtio_net driver complained"
check_steps g ping udprecv wget udpwait
check_blob g $SIZE
udp=$(grep -a '^VQNET-GUEST step udpwait ok' "$TMP/g.console" | tr -d '\r' | tail -1)
sent=$(sed -n 's/^sent=//p' "$TMP/udp-send.out")
echo "UDP: sent=${sent:-?} ${udp#*ok } ($KILLS kills, $FMT rings)"
[ "${sent:-0}" -eq $UDP_COUNT ] || fail "the host sent ${sent:-no} datagrams of $UDP_COUNT"
[ "$(guest_val g udpwait lost)" = 0 ] || fail "the guest lost $(guest_val g udpwait lost) datagrams"
[ "$(guest_val g udpwait duplicated)" = 0 ] || fail "the guest got $(guest_val g udpwait duplicated) datagrams twice"
echo "client: QEMU ran $((t1 - t0)) s"
finish "client-restart-$FMT"
