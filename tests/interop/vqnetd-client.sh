#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: vqnetd in client mode (--client) with QEMU as the vhost-user
# server, and vqnetd killed and started again in the middle of a TCP
# download: the frontend (QEMU 7.2) keeps its socket, the new vqnetd
# connects, QEMU sets the device up on it again, and the guest's download
# finishes byte-exact.
#
#   vqnetd-client.sh VQNETD SOURCE_DIR
#
#   netns vqnet-cli-PID: persistent multiqueue TAP vqcPID (vnet_hdr)
#     10.78.0.1/24, python3 http.server serving a 24 MiB random file;
#     vqnetd runs in the namespace and attaches to that TAP, so the TAP and
#     its address outlive each vqnetd.
#   QEMU: -chardev socket,server=on,wait=off (it waits for a backend);
#     guest eth0 10.78.0.2/24, split ring.
#
# Sequence: vqnetd #1 --client connects; the guest pings 10.78.0.1 and
# starts wget of the file. Once the TAP has carried 2 MiB towards the guest
# (and less than the file), vqnetd #1 gets SIGKILL — no goodbye, rings left
# as they are. vqnetd #2 --client is started; QEMU (which saw the socket
# close, stopped the rings and took the last avail index from the used
# ring, §2.7.6) connects it and starts the rings where #1 left them; TCP
# retransmits what was lost and the download goes on. Checked:
#  - the kill came mid-download (TAP tx bytes between 2 MiB and the size);
#  - vqnetd #2 negotiated and started both queues, counted packets on both
#    and no errors, and exits 0 on SIGTERM;
#  - the guest's file has the size and md5sum of the host's; its ping step
#    passed; QEMU powered off by itself.
# Split rings only: QEMU 7.2 cannot give a new backend the position of a
# packed ring after a disconnect (virtio_queue_packed_restore_last_avail_idx
# does nothing: "We don't have a reference like avail idx in shared
# memory"), so a packed ring would restart at 0 over live descriptors.
# Exit 0 pass, 1 fail, 77 skip (no root, QEMU, kernel, busybox-static, cpio,
# python3 or ip).
set -u

usage="usage: vqnetd-client.sh VQNETD SOURCE_DIR"
VQNETD=${1:?$usage}
SRC=${2:?$usage}
SIZE=$((24 * 1024 * 1024))
KILL_AFTER=$((2 * 1024 * 1024)) # TAP bytes towards the guest before the kill

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

need_exec "$VQNETD"
guest_prereqs
need_python3
need_ip

setup_test cli
NS=vqnet-cli-$$
TAP=vqc$$
SOCK=$TMP/qemu.sock

build_initramfs "$SRC"
make_netns "$NS"
ip -n "$NS" tuntap add dev "$TAP" mode tap vnet_hdr multi_queue ||
	{ echo "FAIL: cannot create TAP $TAP in $NS"; exit 1; }
ns_up "$NS" "$TAP" 10.78.0.1/24
serve_blob $SIZE 10.78.0.1 "$NS"

# tap_tx: bytes the TAP has sent towards vqnetd (and so the guest).
tap_tx() {
	ip netns exec "$NS" cat "/sys/class/net/$TAP/statistics/tx_bytes"
}

# start_client NAME: vqnetd in the namespace, connecting to QEMU's socket.
start_client() {
	ip netns exec "$NS" "$VQNETD" --client --socket "$SOCK" --backend "tap:$TAP" \
		--log-level info --seconds 200 >"$TMP/$1.out" 2>"$TMP/$1.log" </dev/null &
	VQNETD_PID=$!
	track "$VQNETD_PID" TERM
}

t0=$(date +%s)
GUEST_CHARDEV=,server=on,wait=off GUEST_TIMEOUT=180 start_guest g "$SOCK" \
	"vqnet.steps=ping,wget vqnet.ip=10.78.0.2/24 vqnet.peer=10.78.0.1 vqnet.url=http://10.78.0.1:$PORT/blob"
G_PID=$GUEST_PID
wait_socket "$SOCK" "$G_PID" 20 || { show_guest g; echo "FAIL: QEMU did not create $SOCK"; exit 1; }
start_client d1
D1_PID=$VQNETD_PID

if ! wait_console g 'VQNET-GUEST step ping ' 150 "$G_PID"; then
	fail "the guest never finished its ping step"
fi
n=0
while [ "$(tap_tx)" -lt $KILL_AFTER ] && [ $n -lt 600 ]; do
	kill -0 "$G_PID" 2>/dev/null || break
	sleep 0.05
	n=$((n + 1))
done
killed_at=$(tap_tx)
stop_tracked "$D1_PID" KILL 5
echo "vqnetd #1 killed (SIGKILL) after $killed_at bytes towards the guest"
if [ "$killed_at" -lt $KILL_AFTER ] || [ "$killed_at" -ge $SIZE ]; then
	fail "the kill did not come mid-download ($killed_at bytes of $SIZE)"
fi
sleep 1
start_client d2
D2_PID=$VQNETD_PID

wait_guest "$G_PID" g
t1=$(date +%s)
stop_vqnetd "$D2_PID" d2
show_log "vqnetd d1 (log; killed)" "$TMP/d1.log"
show_guest g
show_log "HTTP server (namespace, 10.78.0.1:$PORT)" "$TMP/http.log"
echo "----"

check_vq_started d1 split 0 1
check_vqnetd d2 split 0 1
check_vq_moved d2 rxq0 txq0
check_steps g ping wget
check_blob g $SIZE
echo "client: QEMU ran $((t1 - t0)) s"
finish client
