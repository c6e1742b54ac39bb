#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: vqnetd with its TAP backend under a QEMU guest (the guest's own
# virtio_net driver, QEMU 7.2 TCG as the vhost-user frontend), the TAP moved
# into a network namespace made for the test.
#
#   vqnetd-tap.sh VQNETD SOURCE_DIR split|packed|mq|reload
#
#   vqnetd --backend tap:vqtPID --mtu 9000 [--queues 2]
#   netns vqnet-tap-PID: vqtPID 10.77.0.1/24 mtu 9000, iperf3 -s
#   guest: eth0 10.77.0.2/24 mtu 9000 (QEMU host_mtu=9000)
#
# split, packed (the ring format; packed=on on the NIC): the guest pings the
# namespace (3 x 56 and 3 x 8000 bytes, all answered), runs iperf3 for 3 s
# each way (guest sends, then -R: guest receives) and waits until it has
# been pinged; meanwhile the namespace pings the guest (3 x 56 bytes, then
# 3 x 8000 bytes: one 8042-byte frame each way, as both ends have MTU 9000;
# busybox ping, as iputils is not a test dependency). Checked: every step passed, both iperf3 rates
# are above zero, CSUM GUEST_CSUM HOST_TSO4 GUEST_TSO4 were negotiated (in
# vqnetd's features line and in the guest driver's feature bits), the rings
# started in the format asked for.
#
# mq: vqnetd --queues 2, QEMU queues=2 mq=on, -smp 2. Linux enables
# min(queue pairs, CPUs) = 2 pairs and maps CPU k to transmitq k (XPS), so
# the guest pings from CPU 0 and CPU 1 at once (taskset) and runs iperf3
# with 4 streams. Checked: txq0 and txq1 both carried packets (vqnetd's
# per-queue counts), MQ was negotiated. rxq1 is reported, not required: the
# TAP picks the receive queue by flow hash.
#
# reload: with ping and iperf3 running, the guest unloads virtio_net (the
# device is reset: vqnetd's rings are stopped), loads it again, sets eth0 up
# again and pings the namespace (all answered). Checked: the rings started
# again (queue 0 started twice in vqnetd's log), the ping after the reload
# passed, vqnetd exits 0.
#
# In every mode vqnetd must exit 0 on SIGTERM and count no errors, and QEMU
# must power off by itself. Exit 0 pass, 1 fail, 77 skip (no root, QEMU,
# kernel, busybox-static, cpio, iperf3 or ip).
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
set -u

usage="usage: vqnetd-tap.sh VQNETD SOURCE_DIR split|packed|mq|reload"
VQNETD=${1:?$usage}
SRC=${2:?$usage}
MODE=${3:?$usage}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

FMT=split QUEUES=1 SMP=1 NIC='' IPERF_P=1
case $MODE in
split) STEPS=ping,bigping,iperf,iperfr,echo ;;
packed) STEPS=ping,bigping,iperf,iperfr,echo FMT=packed NIC=,packed=on ;;
mq) STEPS=cpuping,iperf,echo QUEUES=2 SMP=2 IPERF_P=4 ;;
reload) STEPS=ping,reload ;;
*)
	echo "$usage" >&2
	exit 2
	;;
esac
[ -x "$VQNETD" ] || { echo "no executable $VQNETD" >&2; exit 2; }
guest_prereqs
IPERF3=$(command -v iperf3) || skip "iperf3 not installed (Debian: iperf3)"
command -v ip >/dev/null || skip "ip not installed (Debian: iproute2)"

status=0
TMP=$(mktemp -d /tmp/vqnet-tap.XXXXXX) || exit 1
NS=vqnet-tap-$$
TAP=vqt$$
trap cleanup_all EXIT
trap 'exit 1' INT TERM HUP

build_initramfs "$SRC" "$IPERF3"
t0=$(date +%s)
start_vqnetd d 240 --backend "tap:$TAP" --mtu 9000 --queues $QUEUES
D_PID=$VQNETD_PID
n=0
while ! ip link show dev "$TAP" >/dev/null 2>&1 && [ $n -lt 100 ]; do
	sleep 0.1
	n=$((n + 1))
done
ip link show dev "$TAP" >/dev/null 2>&1 || { cat "$TMP/d.log"; echo "FAIL: vqnetd did not create TAP $TAP"; exit 1; }

GUEST_SMP=$SMP GUEST_QUEUES=$QUEUES GUEST_NIC="$NIC,host_mtu=9000" GUEST_TIMEOUT=180 \
	start_guest g "$TMP/d.sock" \
	"vqnet.steps=$STEPS vqnet.ip=10.77.0.2/24 vqnet.mtu=9000 vqnet.peer=10.77.0.1 vqnet.echoes=6 vqnet.iperfp=$IPERF_P"
G_PID=$GUEST_PID

# The guest waits (40 s) for its first ping to be answered: time enough to
# move the TAP into the namespace and configure it there.
make_netns "$NS"
ip link set "$TAP" netns "$NS" || { fail "cannot move $TAP into $NS"; exit 1; }
ip -n "$NS" addr add 10.77.0.1/24 dev "$TAP"
ip -n "$NS" link set "$TAP" mtu 9000 up
ip netns exec "$NS" "$IPERF3" -s -B 10.77.0.1 >"$TMP/iperf3-server.log" 2>&1 </dev/null &
track $! TERM

if echo "$STEPS" | grep -q echo; then
	if wait_console g 'VQNET-GUEST step echo waiting' 150 "$G_PID"; then
		# busybox ping (iputils is not a test dependency): no -M do, but
		# the namespace side has MTU 9000, so it never fragments.
		for sz in 56 8000; do
			ip netns exec "$NS" "$BUSYBOX" ping -c 3 -i 0.2 -W 2 -s $sz 10.77.0.2 >"$TMP/ping-$sz.log" 2>&1
			echo "---- namespace -> guest, $sz bytes"
			cat "$TMP/ping-$sz.log"
			grep -q '3 packets transmitted, 3 packets received' "$TMP/ping-$sz.log" ||
				fail "namespace -> guest ping -s $sz failed"
		done
	else
		fail "the guest never waited for pings"
	fi
fi
wait_guest "$G_PID" g
t1=$(date +%s)
stop_vqnetd "$D_PID" d
show_guest g
echo "---- iperf3 server (namespace)"
cat "$TMP/iperf3-server.log"
echo "----"

check_vq_started d "$FMT" 0 1
[ "$QUEUES" -eq 2 ] && check_vq_started d "$FMT" 2 3
check_vq_packed d "$FMT"
check_guest_ring g "$FMT"
check_vq_clean d
# shellcheck disable=SC2046 # one argument per step
check_steps g $(echo "$STEPS" | tr ',' ' ')
feat=$(guest_features g)
[ -n "$feat" ] || fail "no features line from the guest"
vf=" $(vq_features d) "
echo "vqnetd features:$vf"
echo "guest driver features: $feat"
# Offloads, VIRTIO 1.2 §5.1.3: CSUM 0, GUEST_CSUM 1, GUEST_TSO4 7,
# HOST_TSO4 11; MQ 22.
want="CSUM:0 GUEST_CSUM:1 GUEST_TSO4:7 HOST_TSO4:11"
[ "$QUEUES" -gt 1 ] && want="$want MQ:22"
for f in $want; do
	echo "$vf" | grep -q " ${f%%:*} " || fail "vqnetd did not negotiate ${f%%:*}"
	[ -n "$feat" ] && [ "$(feature_bit "$feat" "${f#*:}")" != 1 ] && fail "guest driver did not negotiate ${f%%:*} (bit ${f#*:})"
done

case $MODE in
split | packed)
	up=$(guest_val g iperf mbps)
	down=$(guest_val g iperfr mbps)
	echo "$MODE: iperf3 guest->ns ${up:-?} Mbit/s, ns->guest ${down:-?} Mbit/s"
	for r in "$up" "$down"; do
		awk -v r="$r" 'BEGIN {exit !(r + 0 > 0)}' || fail "iperf3 rate '$r' is not above zero"
	done
	;;
mq)
	for q in txq0 txq1 rxq0 rxq1; do
		eval "$q=\$(vq_stat d $q packets)"
	done
	# shellcheck disable=SC2154 # set by the eval above
	echo "mq: packets txq0=$txq0 txq1=$txq1 rxq0=$rxq0 rxq1=$rxq1"
	[ "${txq0:-0}" -gt 0 ] || fail "txq0 carried no packets"
	[ "${txq1:-0}" -gt 0 ] || fail "txq1 carried no packets"
	[ "${rxq1:-0}" -gt 0 ] || echo "note: the TAP put no frame on rxq1"
	;;
reload)
	s=$(grep -c '^vqnetd: queue 0 started' "$TMP/d.log")
	echo "reload: queue 0 started $s times"
	[ "$s" -ge 2 ] || fail "the rings did not start again after the driver reload"
	;;
esac
echo "$MODE: QEMU ran $((t1 - t0)) s"
[ $status -eq 0 ] && echo "PASS: $MODE"
exit $status
