#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: vqnet-tap (tools/vqnet-tap/) puts a namespace's network stack in
# front of a vhost-user-net backend: kernel in namespace A <-> TAP <->
# vqnet-tap <-> backend. Namespaces are vqtap-a-PID / vqtap-b-PID, TAPs
# vta PID / vtb PID, addresses 10.97..10.99.0.0/24; IPv6 is off in them so
# nothing but the test's traffic crosses.
#
#   vqnet-tap.sh VQNET_TAP VQNETD UDP_SEQ MODE
#
# MODE:
#  tap        vqnetd --backend tap:vtbPID, its TAP moved into namespace B
#             (10.97.0.2); vqnet-tap --split in A (10.97.0.1). Checked: the
#             TAP got the device's MAC; ping; a 256 MiB file over HTTP each
#             way (python3 http.server, curl), md5sum equal; 64 downloads of
#             1 MiB at once, each md5sum equal; 5000 UDP datagrams A -> B
#             (udp-seq): none repeated, none lost on the way (udp_check). Offloads: vqnet-tap moved
#             GSO frames both ways and its longest frame each way was over
#             60000 bytes (a 64 KB segment went to the device, and came
#             from it, as one chain); vqnetd's txq0 carried more bytes per
#             packet than an MTU-sized frame holds; vqnet-tap's packets and
#             bytes each way equal vqnetd's rxq0 / txq0; vqnetd counted no
#             error.
#  nooffload  the same with --no-offloads --packed and 64 MiB files: no GSO
#             frame either way, no frame over 1514 bytes, all transfers
#             byte-exact.
#  mq         vqnetd and vqnet-tap with 2 queue pairs: 16 downloads of 1 MiB
#             at once each way, byte-exact; each of vqnetd's four data
#             queues carried frames (the kernels hash the flows over both).
#  link       tap backend; `vqnetctl link down`: the TAP shows NO-CARRIER
#             and a ping fails; `link up`: carrier back, ping answered.
#             Then vqnetd stops while vqnet-tap (no --client) runs: it
#             says "lost the backend" once and exits 1.
#  user       vqnetd's default backend (user, socket translation): udhcpc
#             in A gets 10.0.2.15 with router 10.0.2.2; a 32 MiB download
#             from a server on the host's 127.0.0.1 through 10.0.2.2 is
#             byte-exact.
#  restart    the default backend (user), vqnet-tap --client: a download,
#             vqnetd SIGKILLed (NO-CARRIER, "reconnecting"), started again:
#             the carrier comes back and a second download is byte-exact;
#             connections=2.
#  loop       vqnetd --backend loop --mtu 9000: the TAP's MTU is 9000 (the
#             device's, VIRTIO_NET_F_MTU); 400 frames of 60..9014 bytes sent
#             through a packet socket in A all come back byte-exact. Then
#             the TAP is deleted: vqnet-tap says so and exits 1.
#  dgram      two vqnetd joined by their dgram backends over 127.0.0.1, a
#             vqnet-tap on each (A 10.98.0.1, B 10.98.0.2): ping, 64 MiB each
#             way byte-exact, each TAP has its device's MAC.
#  dpdk       dpdk-testpmd (a peer not written here) with net_vhost0 on a
#             socket and net_tap0 (vtbPID, moved into B, 10.99.0.2), io
#             forwarding; vqnet-tap in A: ping, 64 MiB each way byte-exact;
#             testpmd forwarded frames both ways and is stopped.
#  cli        (no root needed) --help names every option; bad arguments
#             are one line and exit 2; -V; with root, an absent backend is
#             one line and exit 1, and the TAP goes with vqnet-tap.
# Every mode: vqnet-tap exits 0 on SIGTERM (but where said), counts no
# drops, and every process and namespace goes on any exit.
# Exit 0 pass, 1 fail, 77 skip (no root, ip, python3, curl, busybox; dpdk:
# no dpdk-testpmd or huge pages).
set -u

usage="usage: vqnet-tap.sh VQNET_TAP VQNETD UDP_SEQ tap|nooffload|mq|link|user|restart|loop|dgram|dpdk|cli"
VQNET_TAP=${1:?$usage}
VQNETD=${2:?$usage}
UDP_SEQ=${3:?$usage}
MODE=${4:?$usage}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

need_exec "$VQNET_TAP"
need_exec "$VQNETD"
need_exec "$UDP_SEQ"
NA=vqtap-a-$$ NB=vqtap-b-$$ TA=vta$$ TB=vtb$$
VQNETD_MAC=52:54:00:12:34:56 # vqnetd's default --mac

# ---- helpers ----

# ns_setup NS...: make each namespace, IPv6 off.
ns_setup() {
	for n in "$@"; do
		make_netns "$n"
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
	done
}
# if_mac NS IF: the interface's MAC.
if_mac() {
	ip netns exec "$1" cat "/sys/class/net/$2/address"
}
# has_carrier NS IF / no_carrier NS IF.
has_carrier() {
	ip -n "$1" link show "$2" | grep -q 'LOWER_UP' && ! ip -n "$1" link show "$2" | grep -q 'NO-CARRIER'
}
no_carrier() {
	ip -n "$1" link show "$2" | grep -q 'NO-CARRIER'
}
# make_blob NAME SIZE: SIZE random bytes in $TMP/www/NAME; its md5sum in
# $TMP/NAME.md5.
make_blob() {
	mkdir -p "$TMP/www"
	head -c "$2" /dev/urandom >"$TMP/www/$1"
	md5sum <"$TMP/www/$1" | cut -d' ' -f1 >"$TMP/$1.md5"
}
# ping_and_64m_both_ways NET: A (NET.1) pings B (NET.2), then 64 MiB goes
# each way over HTTP, byte-exact.
ping_and_64m_both_ways() {
	ns_ping "$NA" "$1.2" 3 ping "A -> B" || fail "ping A -> B"
	make_blob big $((64 * 1048576))
	http_serve http-b "$1.2" "$NB"
	PORT_B=$PORT
	http_serve http-a "$1.1" "$NA"
	PORT_A=$PORT
	fetch_check "B -> A" "$NA" "http://$1.2:$PORT_B/big" big
	fetch_check "A -> B" "$NB" "http://$1.1:$PORT_A/big" big
}
# fetch_check WHAT NS URL BLOB: download URL in namespace NS (curl, 90 s at
# most); fails unless its md5sum is BLOB's. Prints the time taken.
fetch_check() {
	f0=$(date +%s.%N)
	got=$(ip netns exec "$2" curl -sS --max-time 90 "$3" | md5sum | cut -d' ' -f1)
	f1=$(date +%s.%N)
	want=$(cat "$TMP/$4.md5")
	secs=$(awk -v a="$f0" -v b="$f1" 'BEGIN {printf "%.2f", b - a}')
	echo "$1: $4 in $secs s, md5 $got (want $want)"
	[ "$got" = "$want" ] || fail "$1: md5sum differs"
}
# tap_tx_dropped NS IF: frames the kernel dropped on their way out of IF
# (a full TAP queue: vqnet-tap did not read them in time).
tap_tx_dropped() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/tx_dropped"
}
# udp_check WHAT SEND_NS RECV_NS ADDR COUNT: COUNT datagrams (udp-seq, 2000
# per second) to ADDR:5555; none repeated or corrupted, none lost on the
# way: the only losses allowed are datagrams the receiving kernel counted
# as dropped for udp-seq's full socket buffer (the receiver not scheduled
# in time on a loaded machine), none dropped at the TAP.
udp_check() {
	e0=$(udp_rcvbuf_errors "$3") d0=$(tap_tx_dropped "$2" "$TA")
	ip netns exec "$3" "$UDP_SEQ" recv 5555 "$5" 3 >"$TMP/udp-recv.out" 2>&1 &
	u_pid=$!
	track $u_pid TERM
	poll 5 $u_pid grep -qs listening "$TMP/udp-recv.out"
	ip netns exec "$2" "$UDP_SEQ" send "$4" 5555 "$5" 2000 >"$TMP/udp-send.out" 2>&1
	poll 10 '' gone $u_pid
	stop_tracked $u_pid TERM 1
	r=$(tail -1 "$TMP/udp-recv.out")
	e=$(($(udp_rcvbuf_errors "$3") - e0)) d=$(($(tap_tx_dropped "$2" "$TA") - d0))
	echo "$1: $(cat "$TMP/udp-send.out"); $r; receiver's RcvbufErrors +$e, $TA tx_dropped +$d"
	lost=$(echo "$r" | sed -n 's/.* lost=\([0-9]*\).*/\1/p')
	echo "$r" | grep -q "duplicated=0 out_of_order=0 corrupt=0" || fail "$1: UDP: $r"
	[ "${lost:-x}" = "$e" ] || fail "$1: UDP: $lost lost, $e of them by the receiving socket"
	[ "$d" -eq 0 ] || fail "$1: UDP: $d frames dropped at $TA (vqnet-tap did not read them)"
}
# tap_backend NS ADDR [ARGS...]: vqnetd d (tap backend, $TB, and ARGS)
# with its TAP moved into namespace NS at ADDR; sets D_PID.
tap_backend() {
	tb_ns=$1 tb_addr=$2
	shift 2
	start_vqnetd d 110 --backend "tap:$TB" "$@"
	D_PID=$VQNETD_PID
	wait_taps "$TB"
	move_to_netns "$tb_ns" "$TB"
	ns_up "$tb_ns" "$TB" "$tb_addr"
}

# ---- modes ----

mode_cli() {
	help=$("$VQNET_TAP" --help) || fail "--help exited $?"
	for o in socket client tap netns queues split packed mtu mac no-offloads help version; do
		echo "$help" | grep -q -- "--$o" || fail "--help does not name --$o"
	done
	"$VQNET_TAP" -V | grep -q '^vqnet-tap [0-9]' || fail "-V"
	for args in "" "--socket /x" "--tap t0" "--socket /x --tap t0 --queues 0" \
		"--socket /x --tap t0 --queues 65" "--socket /x --tap t0 --mtu 67" \
		"--socket /x --tap t0 --mac zz" "--socket /x --tap t0 --mac 01:00:00:00:00:01" \
		"--socket /x --tap a/b" "--socket /x --tap t0 --bogus" "--socket /x --tap t0 extra" \
		"--socket /x --tap t0 --netns"; do
		# shellcheck disable=SC2086 # one word per argument
		"$VQNET_TAP" $args >"$TMP/cli.out" 2>"$TMP/cli.err"
		rc=$?
		echo "vqnet-tap $args -> $rc: $(cat "$TMP/cli.err")"
		[ $rc -eq 2 ] || fail "'$args' exited $rc (want 2)"
		[ "$(wc -l <"$TMP/cli.err")" -eq 1 ] || fail "'$args': not one line on stderr"
	done
	[ "$(id -u)" -eq 0 ] || return 0
	ns_setup "$NA"
	"$VQNET_TAP" --socket "$TMP/absent.sock" --tap "$TA" --netns "$NA" >"$TMP/cli.out" 2>"$TMP/cli.err"
	rc=$?
	echo "absent backend -> $rc: $(cat "$TMP/cli.err")"
	[ $rc -eq 1 ] || fail "an absent backend: exit $rc (want 1)"
	grep -q "cannot open the device" "$TMP/cli.err" || fail "an absent backend: no reason given"
	ip -n "$NA" link show "$TA" >/dev/null 2>&1 && fail "$TA outlived vqnet-tap"
}

# tap, nooffload: transfers of SIZE each way, offloads checked.
mode_tap() {
	size=$1
	shift
	ns_setup "$NA" "$NB"
	tap_backend "$NB" 10.97.0.2/24
	start_vtap a "$NA" "$TMP/d.sock" "$@"
	A_PID=$VT_PID
	ip -n "$NA" addr add 10.97.0.1/24 dev "$TA"
	mac=$(if_mac "$NA" "$TA")
	echo "$TA has MAC $mac"
	[ "$mac" = $VQNETD_MAC ] || fail "$TA has MAC $mac, not the device's $VQNETD_MAC"
	ns_ping "$NA" 10.97.0.2 3 ping "A -> B" || fail "ping A -> B"
	make_blob big "$size"
	make_blob small 1048576
	http_serve http-b 10.97.0.2 "$NB"
	PORT_B=$PORT
	http_serve http-a 10.97.0.1 "$NA"
	PORT_A=$PORT
	fetch_check "B -> A" "$NA" "http://10.97.0.2:$PORT_B/big" big
	fetch_check "A -> B" "$NB" "http://10.97.0.1:$PORT_A/big" big
	parallel_check "B -> A" "$NA" "http://10.97.0.2:$PORT_B/small" small 64
	udp_check "A -> B" "$NA" "$NB" 10.97.0.2 5000
	stop_vtap "$A_PID" a
	stop_vqnetd "$D_PID" d
	check_vq_clean d
	check_no_drops a
	vp=$(vq_stat d txq0 packets) vb=$(vq_stat d txq0 bytes)
	echo "vqnetd txq0: packets=$vp bytes=$vb ($((vb / (vp + 1))) bytes a packet)"
	for d in rx tx; do
		g=$(vt_stat a $d gso) m=$(vt_stat a $d max_frame)
		echo "vqnet-tap $d: gso=$g max_frame=$m"
		if [ "$MODE" = tap ]; then
			[ "${g:-0}" -gt 0 ] || fail "$d: no GSO frame"
			[ "${m:-0}" -gt 60000 ] || fail "$d: longest frame $m bytes (want a 64 KB segment)"
		else
			[ "${g:-x}" = 0 ] || fail "$d: $g GSO frames with --no-offloads"
			[ "${m:-99999}" -le 1514 ] || fail "$d: a $m-byte frame with --no-offloads"
		fi
	done
	if [ "$MODE" = tap ]; then
		[ "$vb" -gt $((vp * 1514)) ] || fail "vqnetd's txq0 carried no more than MTU-sized frames"
	fi
	# Both ends counted the same frames (nothing moves once the
	# transfers are done): what vqnet-tap sent is what vqnetd took.
	for q in rx:rxq0 tx:txq0; do
		for f in packets bytes; do
			v=$(vt_stat a "${q%%:*}" $f) w=$(vq_stat d "${q#*:}" $f)
			[ "${v:-x}" = "${w:-y}" ] || fail "vqnet-tap ${q%%:*} $f=$v, vqnetd ${q#*:} $f=$w"
		done
	done
}

mode_mq() {
	ns_setup "$NA" "$NB"
	tap_backend "$NB" 10.97.0.2/24 --queues 2
	start_vtap a "$NA" "$TMP/d.sock" --queues 2
	A_PID=$VT_PID
	ip -n "$NA" addr add 10.97.0.1/24 dev "$TA"
	ns_ping "$NA" 10.97.0.2 3 ping "A -> B" || fail "ping A -> B"
	make_blob small 1048576
	http_serve http-b 10.97.0.2 "$NB"
	PORT_B=$PORT
	http_serve http-a 10.97.0.1 "$NA"
	PORT_A=$PORT
	parallel_check "B -> A" "$NA" "http://10.97.0.2:$PORT_B/small" small 16
	parallel_check "A -> B" "$NB" "http://10.97.0.1:$PORT_A/small" small 16
	stop_vtap "$A_PID" a
	stop_vqnetd "$D_PID" d
	check_vq_clean d
	check_no_drops a
	# 32 connections, each hashed to a queue by both kernels: every one
	# of vqnetd's four data queues carried frames.
	for q in rxq0 txq0 rxq1 txq1; do
		v=$(vq_stat d $q packets)
		echo "vqnetd $q: packets=${v:-none}"
		[ "${v:-0}" -gt 0 ] || fail "vqnetd's $q carried nothing with 2 queue pairs"
	done
}

mode_link() {
	ns_setup "$NA" "$NB"
	tap_backend "$NB" 10.97.0.2/24
	start_vtap a "$NA" "$TMP/d.sock"
	A_PID=$VT_PID
	ip -n "$NA" addr add 10.97.0.1/24 dev "$TA"
	poll 5 '' has_carrier "$NA" "$TA" || fail "no carrier with the link up"
	ns_ping "$NA" 10.97.0.2 3 ping "A -> B" || fail "ping A -> B"
	"$VQNETCTL" --socket "$TMP/d.sock" link down
	if poll 5 '' no_carrier "$NA" "$TA"; then
		ip -n "$NA" link show "$TA" | head -1
	else
		fail "link down: $TA still has carrier"
	fi
	ns_ping "$NA" 10.97.0.2 1 ping-down "A -> B, link down" && fail "a ping went through with the link down"
	"$VQNETCTL" --socket "$TMP/d.sock" link up
	poll 5 '' has_carrier "$NA" "$TA" || fail "link up: $TA has no carrier"
	ip -n "$NA" link show "$TA" | head -1
	ns_ping "$NA" 10.97.0.2 3 ping-up "A -> B, link up again" || fail "ping after link up"
	grep -q "link down" "$TMP/a.log" || fail "vqnet-tap did not log the link going down"
	# The backend goes; without --client vqnet-tap says so once and exits 1.
	stop_vqnetd "$D_PID" d
	poll 10 '' gone "$A_PID" || fail "vqnet-tap still runs 10 s after its backend went"
	stop_vtap "$A_PID" a 1
	n=$(grep -c "lost the backend" "$TMP/a.log")
	[ "$n" -eq 1 ] || fail "vqnet-tap said 'lost the backend' $n times (want 1)"
}

# udhcpc's event script: the lease onto the interface, one line about it.
write_udhcpc_script() {
	cat >"$TMP/udhcpc.sh" <<'EOF'
#!/bin/sh
case $1 in
bound | renew)
	ip addr add "$ip/${mask:-24}" dev "$interface"
	r=${router%% *}
	[ -n "$r" ] && ip route add default via "$r" dev "$interface"
	echo "lease ip=$ip router=$r"
	;;
esac
exit 0
EOF
	chmod 755 "$TMP/udhcpc.sh"
}

mode_user() {
	ns_setup "$NA"
	make_blob blob $((32 * 1048576))
	http_serve http-host 127.0.0.1
	start_vqnetd d 110
	D_PID=$VQNETD_PID
	start_vtap a "$NA" "$TMP/d.sock"
	A_PID=$VT_PID
	write_udhcpc_script
	ip netns exec "$NA" "$BUSYBOX" udhcpc -i "$TA" -s "$TMP/udhcpc.sh" -n -q -t 10 -T 1 -f \
		>"$TMP/udhcpc.log" 2>&1
	show_log udhcpc "$TMP/udhcpc.log"
	grep -q "^lease ip=10.0.2.15 router=10.0.2.2" "$TMP/udhcpc.log" || fail "no lease of 10.0.2.15 via 10.0.2.2"
	fetch_check "host -> A" "$NA" "http://10.0.2.2:$PORT/blob" blob
	stop_vtap "$A_PID" a
	stop_vqnetd "$D_PID" d
	check_vq_clean d
	check_no_drops a
}

mode_restart() {
	ns_setup "$NA"
	make_blob blob $((8 * 1048576))
	http_serve http-host 127.0.0.1
	start_vqnetd d 110
	start_vtap a "$NA" "$TMP/d.sock" --client
	A_PID=$VT_PID
	ip -n "$NA" addr add 10.0.2.15/24 dev "$TA"
	ip -n "$NA" route add default via 10.0.2.2
	fetch_check "before the restart" "$NA" "http://10.0.2.2:$PORT/blob" blob
	kill -s KILL "$VQNETD_PID"
	stop_tracked "$VQNETD_PID" KILL 1
	poll 5 '' no_carrier "$NA" "$TA" || fail "no NO-CARRIER with vqnetd gone"
	poll 5 '' grep -q reconnecting "$TMP/a.log" || fail "vqnet-tap did not say it reconnects"
	mv "$TMP/d.log" "$TMP/d1.log"
	start_vqnetd d 110
	D_PID=$VQNETD_PID
	poll 10 '' has_carrier "$NA" "$TA" || fail "no carrier after vqnetd came back"
	fetch_check "after the restart" "$NA" "http://10.0.2.2:$PORT/blob" blob
	stop_vtap "$A_PID" a
	stop_vqnetd "$D_PID" d
	c=$(sed -n 's/^vqnet-tap: connections=//p' "$TMP/a.out")
	[ "${c:-0}" -eq 2 ] || fail "vqnet-tap made ${c:-no} connections (want 2)"
}

mode_loop() {
	ns_setup "$NA"
	start_vqnetd d 110 --backend loop --mtu 9000
	D_PID=$VQNETD_PID
	start_vtap a "$NA" "$TMP/d.sock"
	A_PID=$VT_PID
	mtu=$(ip netns exec "$NA" cat "/sys/class/net/$TA/mtu")
	echo "$TA mtu $mtu"
	[ "$mtu" = 9000 ] || fail "$TA has MTU $mtu, not the device's 9000"
	ip netns exec "$NA" "$PYTHON" "$(dirname "$0")/frame-echo.py" "$TA" 400 9014 ||
		fail "frames did not all come back"
	# The interface deleted under it: one line, exit 1.
	ip -n "$NA" link del "$TA"
	poll 5 '' gone "$A_PID" || fail "vqnet-tap still runs 5 s after its TAP was deleted"
	stop_vtap "$A_PID" a 1
	grep -q "the interface is gone" "$TMP/a.log" || fail "vqnet-tap did not say its TAP is gone"
	stop_vqnetd "$D_PID" d
	check_vq_clean d
	check_no_drops a
	for d in rx tx; do
		m=$(vt_stat a $d max_frame)
		[ "${m:-0}" -eq 9014 ] || fail "$d: longest frame ${m:-?} (want 9014)"
	done
}

mode_dgram() {
	ports=$(free_udp_ports) || skip "cannot find free UDP ports"
	pa=${ports% *} pb=${ports#* }
	ns_setup "$NA" "$NB"
	start_vqnetd da 110 --backend "dgram:127.0.0.1:$pa,127.0.0.1:$pb" --mac 52:54:00:77:05:01
	DA_PID=$VQNETD_PID
	start_vqnetd db 110 --backend "dgram:127.0.0.1:$pb,127.0.0.1:$pa" --mac 52:54:00:77:05:02
	DB_PID=$VQNETD_PID
	start_vtap a "$NA" "$TMP/da.sock"
	A_PID=$VT_PID
	VT_IF=$TB start_vtap b "$NB" "$TMP/db.sock"
	B_PID=$VT_PID
	ip -n "$NA" addr add 10.98.0.1/24 dev "$TA"
	ip -n "$NB" addr add 10.98.0.2/24 dev "$TB"
	[ "$(if_mac "$NA" "$TA")" = 52:54:00:77:05:01 ] || fail "$TA does not have its device's MAC"
	[ "$(if_mac "$NB" "$TB")" = 52:54:00:77:05:02 ] || fail "$TB does not have its device's MAC"
	ping_and_64m_both_ways 10.98.0
	stop_vtap "$A_PID" a
	stop_vtap "$B_PID" b
	stop_vqnetd "$DA_PID" da
	stop_vqnetd "$DB_PID" db
	check_vq_clean da
	check_vq_clean db
}

mode_dpdk() {
	dpdk_prereqs 0
	DPDK_PREFIX=vqnet-vt-$$
	ns_setup "$NA" "$NB"
	timeout 100 "$TESTPMD" --no-pci --single-file-segments --lcores '0@0,1@0' -m 512 \
		--file-prefix "$DPDK_PREFIX" \
		--vdev "net_vhost0,iface=$TMP/pmd.sock,queues=1,client=0" --vdev "net_tap0,iface=$TB" \
		-- --forward-mode=io --nb-cores=1 --stats-period 1 >"$TMP/pmd.raw" 2>&1 </dev/null &
	PMD_PID=$!
	track "$PMD_PID" INT 10
	if ! wait_socket "$TMP/pmd.sock" "$PMD_PID" 15; then
		tail -20 "$TMP/pmd.raw"
		grep -qi "cannot get hugepage\|no available hugepages\|Cannot init memory\|Not enough memory" \
			"$TMP/pmd.raw" && skip "DPDK EAL could not set up its huge page memory"
		echo "FAIL: testpmd did not create $TMP/pmd.sock"
		exit 1
	fi
	wait_taps "$TB"
	move_to_netns "$NB" "$TB"
	ns_up "$NB" "$TB" 10.99.0.2/24
	start_vtap a "$NA" "$TMP/pmd.sock"
	A_PID=$VT_PID
	ip -n "$NA" addr add 10.99.0.1/24 dev "$TA"
	ping_and_64m_both_ways 10.99.0
	stop_vtap "$A_PID" a
	kill -s INT "$PMD_PID"
	poll 10 '' gone "$PMD_PID" || fail "testpmd did not stop on SIGINT"
	stop_tracked "$PMD_PID" KILL 1
	sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$TMP/pmd.raw" >"$TMP/pmd.log"
	sed -n '/Forward statistics for port 0/,/Accumulated forward statistics/p' "$TMP/pmd.log"
	for p in 0 1; do
		rx=$(awk -v port="$p" '$0 ~ "Forward statistics for port " port {s = 1} s && /RX-packets:/ {print $2; exit}' "$TMP/pmd.log")
		[ "${rx:-0}" -gt 0 ] || fail "testpmd port $p received ${rx:-no} frames"
	done
	check_no_drops a
}

case $MODE in
cli)
	setup_test vqnet-tap-cli
	PYTHON=
	mode_cli
	finish cli
	;;
tap | nooffload | mq | link | user | restart | loop | dgram | dpdk) ;;
*)
	echo "$usage" >&2
	exit 2
	;;
esac
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, TAP)"
need_ip
need_python3 "HTTP servers, packet sockets"
command -v curl >/dev/null || skip "curl not installed (Debian: curl)"
[ -e /dev/net/tun ] || skip "no /dev/net/tun"
# ns_ping and udhcpc are busybox's (iputils is not a test dependency)
BUSYBOX=$(command -v busybox) || skip "busybox not installed (Debian: busybox-static)"
VQNETCTL=${VQNETCTL:-$(dirname "$VQNETD")/../tools/vqnetctl}
setup_test vqnet-tap-$MODE
t0=$(date +%s)
case $MODE in
tap) mode_tap $((256 * 1048576)) --split ;;
nooffload) mode_tap $((64 * 1048576)) --no-offloads --packed ;;
*) "mode_$MODE" ;;
esac
echo "$MODE: $(($(date +%s) - t0)) s"
finish "$MODE"
