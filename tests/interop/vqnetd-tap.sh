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
set -u

usage="usage: vqnetd-tap.sh VQNETD SOURCE_DIR split|packed|mq|reload"
VQNETD=${1:?$usage}
SRC=${2:?$usage}
MODE=${3:?$usage}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

QUEUES=1 SMP=1 IPERF_P=1
case $MODE in
split | packed) STEPS=ping,bigping,iperf,iperfr,echo FMT=$MODE ;;
mq) STEPS=cpuping,iperf,echo QUEUES=2 SMP=2 IPERF_P=4 FMT=split ;;
reload) STEPS=ping,reload FMT=split ;;
*) FMT=none ;;
esac
ring_format "$FMT"
need_exec "$VQNETD"
guest_prereqs
need_iperf3
need_ip

setup_test tap
NS=vqnet-tap-$$
TAP=vqt$$

build_initramfs "$SRC" "$IPERF3"
t0=$(date +%s)
start_vqnetd d 240 --backend "tap:$TAP" --mtu 9000 --queues $QUEUES
D_PID=$VQNETD_PID
wait_taps "$TAP"

GUEST_SMP=$SMP GUEST_QUEUES=$QUEUES GUEST_NIC="$NIC,host_mtu=9000" GUEST_TIMEOUT=180 \
	start_guest g "$TMP/d.sock" \
	"vqnet.steps=$STEPS vqnet.ip=10.77.0.2/24 vqnet.mtu=9000 vqnet.peer=10.77.0.1 vqnet.echoes=6 vqnet.iperfp=$IPERF_P"
G_PID=$GUEST_PID

# The guest waits (40 s) for its first ping to be answered: time enough to
# move the TAP into the namespace and configure it there.
make_netns "$NS"
move_to_netns "$NS" "$TAP"
ns_up "$NS" "$TAP" 10.77.0.1/24 mtu 9000
start_iperf3_server "$NS" 10.77.0.1

if echo "$STEPS" | grep -q echo; then
	if wait_console g 'VQNET-GUEST step echo waiting' 150 "$G_PID"; then
		# busybox ping (iputils is not a test dependency): no -M do, but
		# the namespace side has MTU 9000, so it never fragments.
		for sz in 56 8000; do
			ns_ping "$NS" 10.77.0.2 3 "ping-$sz" "namespace -> guest, $sz bytes" -s $sz ||
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
show_iperf3_server
echo "----"

# shellcheck disable=SC2046 # one argument per queue
check_vqnetd d "$FMT" $(seq 0 $((2 * QUEUES - 1)))
check_guest_ring g "$FMT"
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
	check_vq_moved d txq0 txq1
	rxq1=$(vq_stat d rxq1 packets)
	echo "mq: packets rxq0=$(vq_stat d rxq0 packets) rxq1=$rxq1"
	[ "${rxq1:-0}" -gt 0 ] || echo "note: the TAP put no frame on rxq1"
	;;
reload)
	s=$(grep -c '^\([0-9TZ:.-]* \)\?vqnetd: queue 0 started' "$TMP/d.log")
	echo "reload: queue 0 started $s times"
	[ "$s" -ge 2 ] || fail "the rings did not start again after the driver reload"
	;;
esac
echo "$MODE: QEMU ran $((t1 - t0)) s"
finish "$MODE"
