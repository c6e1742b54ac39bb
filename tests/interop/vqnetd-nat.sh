#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: vqnetd's user backend (the default: user-mode networking by
# socket translation, lib/netbe/nat/; the file and the test names keep the
# module's "nat") with a real guest: the kernel of network namespace A
# (vqnat-a-PID), its TAP vnaPID attached to vqnetd --backend user through
# vqnet-tap. The guest's peers are servers on the host's loopback, which
# the guest reaches as 10.0.2.2 / fec0::2; its resolver is 10.0.2.3 /
# fec0::3. The helpers in the host and in A are tests/interop/nat-peer.py
# (it enters A with setns(2) where it needs both ends in one process).
# IPv6 is off in A except in the ipv6 mode.
#
#   vqnetd-nat.sh VQNET_TAP VQNETD UDP_SEQ MODE
#
# MODE:
#  dhcp     busybox udhcpc in A: lease 10.0.2.15/24, router 10.0.2.2, DNS
#           10.0.2.3, MTU option 65520 (applied; the TAP's MTU is 65520);
#           ARP answered for 10.0.2.2 and 10.0.2.3; ping 10.0.2.2 (64 and
#           8000-byte payloads: the backend's ping sockets; the host's
#           net.ipv4.ping_group_range is widened to root's group for the
#           test and restored).
#  tcp      a 1 GiB download from an HTTP server on the host's 127.0.0.1
#           via 10.0.2.2 and a 1 GiB upload (curl -T, a PUT server),
#           md5sums equal, each within 60 s; a TCP echo over one
#           connection; 1000 connections from A to a host echo server open
#           at once, each echoing its own bytes, then closed both ways (A
#           shuts its write side, the host sees EOF and closes, A sees EOF).
#  tcpedge  half-close both ways, RST both ways (ECONNRESET, not EOF), a
#           closed host port refused at once, and a host reader that stops:
#           the guest's send blocks, vqnetd's VmRSS stays bounded, and once
#           it reads again every byte arrives in order (nat-peer.py edge).
#  udp      request/response to a host UDP echo server (1 to 65000 bytes);
#           5000 sequence-numbered datagrams A -> host at 2000/s (udp-seq):
#           none lost on the way, repeated or reordered; a datagram to a
#           closed port gets ECONNREFUSED (ICMP port unreachable); DNS: a
#           resolver on 127.0.0.1:PORT (vqnetd --dns) answers busybox
#           nslookup and a direct query via 10.0.2.3, NXDOMAIN passes.
#  ipv6     IPv6 in A: SLAAC gives an fec0::/64 address (DAD done),
#           default route via fe80::2; the RA (solicited) comes from
#           fe80::2 with hop limit 255, the prefix on-link and autonomous,
#           RDNSS fec0::3; DHCPv6 Information-request answered with DNS
#           fec0::3; a 256 MiB download from [::1] via [fec0::2]; UDP echo
#           over IPv6; ping fec0::2; DNS via fec0::3.
#  hostfwd  vqnetd --hostfwd tcp:127.0.0.1:HP:GP --hostfwd
#           udp:127.0.0.1:HP2:GP2: a 64 MiB download from an HTTP server in
#           A on GP through 127.0.0.1:HP, byte-exact, the server seeing
#           10.0.2.2 as its peer; UDP echo in A on GP2 reached from the
#           host; 5000 datagrams host -> A through HP2 (udp-seq).
#  mq       vqnetd --queues 2, vqnet-tap --queues 2: 16 downloads of 16 MiB
#           at once, byte-exact; both rx queues (and both tx queues)
#           carried frames.
#  subnet   vqnetd --net 10.9.0.0/24 --net6 fd09::/64, IPv6 on in A: the
#           lease is 10.9.0.15/24 with router 10.9.0.2 and DNS 10.9.0.3;
#           ARP answered for 10.9.0.2, not for 10.0.2.2; SLAAC gives an
#           fd09::/64 address, the RA names fd09::/64 and RDNSS fd09::3;
#           downloads from the host's loopback via 10.9.0.2 and [fd09::2],
#           byte-exact.
#  frag     vqnetd --mtu 1500, IPv6 on in A: the lease's MTU is 1500 and
#           so is the TAP's; UDP echo of 1 to 65000 bytes over IPv4 and
#           IPv6 (A's kernel fragments what exceeds 1500 bytes, vqnetd
#           reassembles it; the answers come back in vqnetd's fragments,
#           which A's kernel reassembles), ping -s 8000 both families,
#           byte-exact; vqnetd counted datagrams reassembled and
#           fragments sent, and none given up.
#  unreach  vqnetd in namespace B, which has nothing but its loopback (no
#           route anywhere), IPv6 on in A: UDP and TCP from A to 10.99.0.1
#           and 2001:db8::1 fail with ENETUNREACH or EHOSTUNREACH within
#           2 s (vqnetd's ICMP errors, the TCP one quoting the SYN so A's
#           kernel takes it), not with a time-out.
# Every mode: vqnet-tap and vqnetd exit 0 on SIGTERM, vqnetd counts no
# error, vqnet-tap drops nothing, the backend's counters show no receive
# drop, no error and no exhausted resource (check_nat_counters), and every
# process and namespace goes on any exit.
# VQNETD_NAT_ARGS in the environment: more vqnetd arguments (to narrow a
# failure down, e.g. "--sandbox off --log-level debug").
# Exit 0 pass, 1 fail, 77 skip (no root, ip, python3, curl, busybox, TUN).
set -u

usage="usage: vqnetd-nat.sh VQNET_TAP VQNETD UDP_SEQ dhcp|tcp|tcpedge|udp|ipv6|hostfwd|mq|subnet|frag|unreach"
VQNET_TAP=${1:?$usage}
VQNETD=${2:?$usage}
UDP_SEQ=${3:?$usage}
MODE=${4:?$usage}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

case $MODE in
dhcp | tcp | tcpedge | udp | ipv6 | hostfwd | mq | subnet | frag | unreach) ;;
*)
	echo "$usage" >&2
	exit 2
	;;
esac
need_exec "$VQNET_TAP"
need_exec "$VQNETD"
need_exec "$UDP_SEQ"
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, TAP)"
need_ip
need_python3 "the test's peers"
command -v curl >/dev/null || skip "curl not installed (Debian: curl)"
[ -e /dev/net/tun ] || skip "no /dev/net/tun"
BUSYBOX=$(command -v busybox) || skip "busybox not installed (Debian: busybox-static)"
PEER="$(dirname "$0")/nat-peer.py"
NA=vqnat-a-$$ TA=vna$$
DNS_NAME=vqnet-nat-test.example DNS_A=192.0.2.77 DNS_AAAA=2001:db8::77

# ---- helpers ----

# ns_setup v4|v6: namespace $NA; IPv6 off unless v6.
ns_setup() {
	make_netns "$NA"
	if [ "$1" = v6 ]; then
		ip netns exec "$NA" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
			net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.default.accept_ra=1
	else
		ip netns exec "$NA" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
	fi
}

# nat_up [--queues N] [VQNETD_ARGS...]: vqnetd d --backend user (its PID in
# D_PID) and vqnet-tap a (A_PID) with the same queue pairs.
nat_up() {
	q=1
	if [ "${1:-}" = --queues ]; then
		q=$2
		shift 2
	fi
	# shellcheck disable=SC2086 # VQNETD_NAT_ARGS: one word per argument
	start_vqnetd d 170 --backend user --queues "$q" "$@" ${VQNETD_NAT_ARGS:-}
	D_PID=$VQNETD_PID
	start_vtap a "$NA" "$TMP/d.sock" --queues "$q"
	A_PID=$VT_PID
	head -1 "$TMP/a.log"
}

# nat_down: stop vqnet-tap and vqnetd (each must exit 0 on SIGTERM), then
# vqnetd counted no error and vqnet-tap dropped nothing.
nat_down() {
	stop_vtap "$A_PID" a
	stop_vqnetd "$D_PID" d
	check_vq_clean d
	check_no_drops a
	check_nat_counters
}

# check_nat_counters: the backend's own counters in vqnetd's output
# ("backend user qN: ..." and the nat module's "nat qN: ... drops(...)")
# show no error, no frame lost on its way to the guest, and no exhausted
# resource (out queue, hand-off queue, flow table, host sockets). Drops of guest frames
# that are not ours to forward (unknown protocols, no flow) are allowed, and
# host-socket ones when NAT_SOCKET_DROPS_OK is set (the unreach mode: a
# socket with no route is what it tests).
check_nat_counters() {
	grep -q '^backend user q0: ' "$TMP/d.out" || { fail "vqnetd printed no user backend counters"; return; }
	grep -q '^nat q0: ' "$TMP/d.out" || { fail "vqnetd printed no nat qN counters of the user backend"; return; }
	for f in rx_dropped tx_errors rx_errors; do
		grep '^backend user q' "$TMP/d.out" | grep -v " $f=0\( \|\$\)" | grep -q . &&
			fail "the user backend counted $f: $(grep '^backend user q' "$TMP/d.out" | tr '\n' ' ')"
	done
	for f in out-queue-full handoff-full flow-table-full ${NAT_SOCKET_DROPS_OK:-host-socket}; do
		grep '^nat q' "$TMP/d.out" | grep -q "[(,]$f=[1-9]" &&
			fail "the user backend dropped frames for $f: $(grep '^nat q' "$TMP/d.out" | sed 's/.*drops(/drops(/' | tr '\n' ' ')"
	done
}

# The udhcpc event script: the lease onto the interface (address, route,
# MTU), one line about it.
write_udhcpc_script() {
	cat >"$TMP/udhcpc.sh" <<'EOF'
#!/bin/sh
case $1 in
bound | renew)
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "${mtu:-}" ] && ip link set dev "$interface" mtu "$mtu"
	r=${router%% *}
	[ -n "$r" ] && ip route add default via "$r" dev "$interface"
	echo "lease ip=$ip mask=${mask:-} subnet=${subnet:-} router=$r dns=${dns:-} mtu=${mtu:-} serverid=${serverid:-} lease=${lease:-}"
	;;
esac
exit 0
EOF
	chmod 755 "$TMP/udhcpc.sh"
}

# guest_dhcp: busybox udhcpc in A; fails unless the lease is 10.0.2.15/24
# via 10.0.2.2 with DNS 10.0.2.3 and MTU 65520 from server 10.0.2.2.
guest_dhcp() {
	write_udhcpc_script
	ip netns exec "$NA" "$BUSYBOX" udhcpc -i "$TA" -s "$TMP/udhcpc.sh" -n -q -t 10 -T 1 -f \
		>"$TMP/udhcpc.log" 2>&1
	show_log udhcpc "$TMP/udhcpc.log"
	lease=$(grep '^lease ' "$TMP/udhcpc.log" | tail -1)
	[ -n "$lease" ] || { fail "no DHCP lease"; return 1; }
	n=${NET4:-10.0.2}
	for want in ip=$n.15 mask=24 router=$n.2 dns=$n.3 mtu=${MTU4:-65520} serverid=$n.2; do
		echo " $lease " | grep -q " $want " || fail "DHCP lease without $want: $lease"
	done
}

# peer_bg NAME ARGS...: nat-peer.py ARGS in the background (tracked), its
# output in $TMP/NAME.log; sets PORT from its "port N" line. Exits 1
# (FAIL) when it prints none within 10 s.
peer_bg() {
	pname=$1
	shift
	"$PYTHON" -u "$PEER" "$@" >"$TMP/$pname.log" 2>&1 </dev/null &
	track $! TERM
	poll 10 '' grep -qs '^port [0-9]' "$TMP/$pname.log"
	PORT=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$TMP/$pname.log" | head -1)
	[ -n "$PORT" ] || { cat "$TMP/$pname.log"; echo "FAIL: nat-peer.py $1 did not start"; exit 1; }
}

# peer WHAT ARGS...: run nat-peer.py ARGS, show its output under WHAT;
# fails the test unless it exits 0 (it printed why).
peer() {
	pwhat=$1
	shift
	"$PYTHON" -u "$PEER" "$@" >"$TMP/peer.out" 2>&1
	prc=$?
	show_log "$pwhat" "$TMP/peer.out"
	[ $prc -eq 0 ] || fail "$pwhat: $(grep -E '^FAIL|Error' "$TMP/peer.out" | head -3 | tr '\n' ' ')(exit $prc)"
}

# make_blob NAME SIZE: SIZE random bytes in $TMP/www/NAME; its md5sum in
# $TMP/NAME.md5.
make_blob() {
	mkdir -p "$TMP/www"
	head -c "$2" /dev/urandom >"$TMP/www/$1"
	md5sum <"$TMP/www/$1" | cut -d' ' -f1 >"$TMP/$1.md5"
}
# fetch_check WHAT NS URL BLOB [SECONDS]: download URL (curl, in namespace
# NS; "-": the host), at most SECONDS (90); fails unless its md5sum is
# BLOB's. Prints the time taken and the rate.
fetch_check() {
	if [ "$2" = - ]; then set -- "$1" "" "$3" "$4" "${5:-90}"; fi
	f0=$(date +%s.%N)
	got=$(${2:+ip netns exec "$2"} curl -gsS --max-time "${5:-90}" "$3" | md5sum | cut -d' ' -f1)
	f1=$(date +%s.%N)
	want=$(cat "$TMP/$4.md5")
	size=$(stat -c %s "$TMP/www/$4")
	rate=$(awk -v a="$f0" -v b="$f1" -v s="$size" 'BEGIN {printf "%.2f s, %.0f MB/s", b - a, s / (b - a) / 1e6}')
	echo "$1: $4 in $rate, md5 $got (want $want)"
	[ "$got" = "$want" ] || fail "$1: md5sum differs"
}
tap_tx_dropped() {
	ip netns exec "$NA" cat "/sys/class/net/$TA/statistics/tx_dropped"
}
# seq_check WHAT SEND_NS RECV_NS DST DST_PORT RECV_PORT: 5000 datagrams
# (udp-seq, 2000/s) from SEND_NS to DST:DST_PORT, received in RECV_NS on
# RECV_PORT ("" NS: the host's). None repeated, reordered or corrupted;
# none lost but those the receiving kernel counted as dropped for
# udp-seq's full socket buffer (a receiver not scheduled in time), none
# dropped at the TAP.
seq_check() {
	e0=$(udp_rcvbuf_errors "$3") d0=$(tap_tx_dropped)
	${3:+ip netns exec "$3"} "$UDP_SEQ" recv "$6" 5000 3 >"$TMP/udp-recv.out" 2>&1 &
	u_pid=$!
	track $u_pid TERM
	poll 5 $u_pid grep -qs listening "$TMP/udp-recv.out"
	${2:+ip netns exec "$2"} "$UDP_SEQ" send "$4" "$5" 5000 2000 >"$TMP/udp-send.out" 2>&1
	poll 10 '' gone $u_pid
	stop_tracked $u_pid TERM 1
	r=$(tail -1 "$TMP/udp-recv.out")
	e=$(($(udp_rcvbuf_errors "$3") - e0)) d=$(($(tap_tx_dropped) - d0))
	echo "$1: $(cat "$TMP/udp-send.out"); $r; receiver's RcvbufErrors +$e, $TA tx_dropped +$d"
	lost=$(echo "$r" | sed -n 's/.* lost=\([0-9]*\).*/\1/p')
	echo "$r" | grep -q "duplicated=0 out_of_order=0 corrupt=0" || fail "$1: UDP: $r"
	[ "${lost:-x}" -le "$e" ] 2>/dev/null || fail "$1: UDP: ${lost:-?} lost, $e of them by the receiving socket"
	[ "$d" -eq 0 ] || fail "$1: UDP: $d frames dropped at $TA"
}

# ping_allow: the backend answers the guest's echo requests through the
# host's ping sockets, which net.ipv4.ping_group_range must allow for
# vqnetd's group (root's); widen it to include group 0 for the test (the
# old value comes back on exit). False (with a message) when it cannot.
PING_RANGE_OLD=
ping_allow() {
	f=/proc/sys/net/ipv4/ping_group_range
	r=$(cat $f 2>/dev/null) || { echo "no $f: the ping checks are skipped"; return 1; }
	lo=${r%%[[:space:]]*} hi=${r##*[[:space:]]}
	[ "$lo" -le 0 ] && [ "$hi" -ge 0 ] && return 0
	PING_RANGE_OLD=$r
	if ! echo "0 0" >$f 2>/dev/null; then
		PING_RANGE_OLD=
		echo "net.ipv4.ping_group_range is '$r' and cannot be changed: the ping checks are skipped"
		return 1
	fi
	echo "net.ipv4.ping_group_range '$r' -> '0 0' for the test"
}
ping_restore() {
	[ -n "$PING_RANGE_OLD" ] && echo "$PING_RANGE_OLD" >/proc/sys/net/ipv4/ping_group_range
	PING_RANGE_OLD=
}

# ---- modes ----

mode_dhcp() {
	ns_setup v4
	nat_up
	guest_dhcp
	mtu=$(ip netns exec "$NA" cat "/sys/class/net/$TA/mtu")
	echo "$TA mtu $mtu"
	[ "$mtu" = 65520 ] || fail "$TA has MTU $mtu (want 65520)"
	for a in 10.0.2.2 10.0.2.3; do
		ip netns exec "$NA" "$BUSYBOX" arping -c 2 -w 3 -I "$TA" "$a" >"$TMP/arping.log" 2>&1
		show_log "arping $a" "$TMP/arping.log"
		grep -q 'Received [1-9]' "$TMP/arping.log" || fail "no ARP reply for $a"
	done
	if ping_allow; then
		ns_ping "$NA" 10.0.2.2 5 ping "ping 10.0.2.2" || fail "ping 10.0.2.2"
		ns_ping "$NA" 10.0.2.2 3 ping-big "ping -s 8000 10.0.2.2" -s 8000 || fail "ping -s 8000 10.0.2.2"
		ping_restore
	fi
	ip -n "$NA" neigh show dev "$TA"
	nat_down
}

mode_tcp() {
	ns_setup v4
	make_blob big $((1024 * 1048576))
	http_serve http 127.0.0.1
	HPORT=$PORT
	peer_bg put put-server 127.0.0.1
	PPORT=$PORT
	peer_bg echo tcp-echo-server - 127.0.0.1 0
	EPORT=$PORT
	nat_up
	guest_dhcp
	fetch_check "download 127.0.0.1 -> A" "$NA" "http://10.0.2.2:$HPORT/big" big 60
	f0=$(date +%s.%N)
	up=$(ip netns exec "$NA" curl -sS --max-time 60 -H 'Expect:' -T "$TMP/www/big" \
		"http://10.0.2.2:$PPORT/up")
	f1=$(date +%s.%N)
	echo "upload A -> 127.0.0.1: $up in $(awk -v a="$f0" -v b="$f1" 'BEGIN {printf "%.2f s, %.0f MB/s", b - a, 1073741824 / (b - a) / 1e6}')"
	[ "$up" = "put size=1073741824 md5=$(cat "$TMP/big.md5")" ] || fail "upload: the server got '$up' (want 1 GiB, md5 $(cat "$TMP/big.md5"))"
	peer "TCP echo A -> host" tcp-echo "$NA" 10.0.2.2 "$EPORT" 200
	peer "1000 connections A -> host" tcp-many "$NA" 10.0.2.2 127.0.0.1 1000
	nat_down
	# The download's data went straight into the guest's buffers (rx_direct).
	zc=$(dev_stat d rxq0 rx_zero_copy)
	echo "vqnetd rxq0: $(vq_stat d rxq0 packets) frames, ${zc:-none} of them written by the backend into the guest's buffers"
	[ "${zc:-0}" -gt 1000 ] || fail "the download did not go straight into the guest's buffers (rx_zero_copy=${zc:-none})"
}

mode_tcpedge() {
	ns_setup v4
	nat_up
	guest_dhcp
	peer "TCP edge cases" edge "$NA" 10.0.2.2 127.0.0.1 "$D_PID"
	grep -q '^ok stalled-reader' "$TMP/peer.out" || fail "the stalled-reader case did not pass"
	nat_down
}

# dns_checks WHAT SERVER: busybox nslookup and a direct query of $DNS_NAME
# through SERVER (10.0.2.3 or fec0::3) answered by the test's resolver;
# an unknown name is NXDOMAIN.
dns_checks() {
	ip netns exec "$NA" "$BUSYBOX" nslookup "$DNS_NAME" "$2" >"$TMP/nslookup.log" 2>&1
	show_log "busybox nslookup $DNS_NAME $2" "$TMP/nslookup.log"
	grep -q "Address:[[:space:]]*$DNS_A\$" "$TMP/nslookup.log" || fail "$1: nslookup via $2 did not resolve $DNS_NAME to $DNS_A"
	peer "$1: query via $2" resolve "$NA" "$2" "$DNS_NAME"
	r=$(grep '^resolve ' "$TMP/peer.out")
	case $2 in *:*) src="\[\?$2\]\?" ;; *) src=$2 ;; esac
	echo "$r" | grep -q "^resolve from=$src:53 rcode=0 addr=$DNS_A\$" || fail "$1: answer via $2: ${r:-none}"
	peer "$1: unknown name via $2" resolve "$NA" "$2" "no-such.$DNS_NAME"
	grep -q '^resolve .* rcode=3' "$TMP/peer.out" || fail "$1: an unknown name was not NXDOMAIN via $2"
}

mode_udp() {
	ns_setup v4
	peer_bg dns dns-server 127.0.0.1 "$DNS_NAME" "$DNS_A" "$DNS_AAAA"
	DPORT=$PORT
	peer_bg uecho udp-echo-server - 127.0.0.1 0
	UPORT=$PORT
	ports=$(free_udp_ports) || skip "cannot find free UDP ports"
	SPORT=${ports% *} CLOSED=${ports#* }
	nat_up --dns "127.0.0.1:$DPORT"
	guest_dhcp
	peer "UDP echo A -> host" udp-echo "$NA" 10.0.2.2 "$UPORT" 110
	seq_check "udp-seq A -> host" "$NA" "" 10.0.2.2 "$SPORT" "$SPORT"
	peer "UDP to a closed port" udp-closed "$NA" 10.0.2.2 "$CLOSED"
	dns_checks DNS 10.0.2.3
	show_log "the test's resolver (127.0.0.1:$DPORT)" "$TMP/dns.log"
	grep -q "^query from 127.0.0.1:[0-9]* .* name=$DNS_NAME type=1 " "$TMP/dns.log" ||
		fail "the resolver on 127.0.0.1:$DPORT got no A query for $DNS_NAME"
	nat_down
}

# shellcheck disable=SC2317 # called through poll
# has_slaac: A's TAP has an fec0::/64 address (scope site: fec0::/10 is
# the old site-local prefix) that finished DAD.
has_slaac() {
	ip -n "$NA" -6 addr show dev "$TA" | grep -v -e tentative -e dadfailed | grep -q "inet6 ${NET6:-fec0}::[0-9a-f:]*/64 "
}

mode_ipv6() {
	ns_setup v6
	make_blob big $((256 * 1048576))
	http_serve http ::1
	HPORT=$PORT
	peer_bg dns dns-server 127.0.0.1 "$DNS_NAME" "$DNS_A" "$DNS_AAAA"
	DPORT=$PORT
	peer_bg uecho udp-echo-server - ::1 0
	UPORT=$PORT
	nat_up --dns "127.0.0.1:$DPORT"
	poll 20 '' has_slaac || fail "no fec0::/64 address from SLAAC within 20 s"
	ip -n "$NA" -6 addr show dev "$TA"
	ip -n "$NA" -6 route show dev "$TA"
	ip -n "$NA" -6 route show default | grep -q 'via fe80::2 ' || fail "no default route via fe80::2"
	peer "router advertisement" ra "$NA" "$TA"
	r=$(grep '^ra ' "$TMP/peer.out")
	for want in src=fe80::2 hoplimit=255 "prefix=fec0::/64 L=1 A=1" rdnss=fec0::3; do
		echo " $r " | grep -q " $want " || fail "RA without $want: ${r:-none}"
	done
	m=$(echo "$r" | sed -n 's/.* mtu=\([0-9]*\).*/\1/p')
	[ -z "$m" ] || [ "$m" = 65520 ] || fail "RA MTU option $m (want 65520)"
	peer "DHCPv6 Information-request" dhcp6 "$NA" "$TA"
	grep -q '^dhcp6 .* dns=fec0::3' "$TMP/peer.out" || fail "DHCPv6: no DNS server fec0::3"
	fetch_check "download [::1] -> A" "$NA" "http://[fec0::2]:$HPORT/big" big 90
	peer "UDP echo A -> [::1]" udp-echo "$NA" fec0::2 "$UPORT" 55
	if ping_allow; then
		ns_ping "$NA" fec0::2 5 ping6 "ping fec0::2" || fail "ping fec0::2"
		ping_restore
	fi
	dns_checks "DNS over IPv6" fec0::3
	nat_down
}

# free_tcp_port: a TCP port free on 127.0.0.1.
free_tcp_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mode_hostfwd() {
	ns_setup v4
	make_blob big $((64 * 1048576))
	# The servers in A, before its TAP exists (bound to any address).
	http_serve http-a 0.0.0.0 "$NA"
	GP=$PORT
	peer_bg uecho-a udp-echo-server "$NA" 0.0.0.0 0
	GP2=$PORT
	HP=$(free_tcp_port) || skip "cannot find a free TCP port"
	ports=$(free_udp_ports) || skip "cannot find free UDP ports"
	HP2=${ports% *} HP3=${ports#* }
	GP3=5555
	nat_up --hostfwd "tcp:127.0.0.1:$HP:$GP" --hostfwd "udp:127.0.0.1:$HP2:$GP2" \
		--hostfwd "udp:127.0.0.1:$HP3:$GP3"
	guest_dhcp
	fetch_check "host 127.0.0.1:$HP -> A:$GP" - "http://127.0.0.1:$HP/big" big 90
	grep -q '^10\.0\.2\.2 .*"GET /big' "$TMP/http-a.log" || fail "A's server did not see 10.0.2.2 as its peer: $(tail -1 "$TMP/http-a.log")"
	peer "UDP echo host 127.0.0.1:$HP2 -> A:$GP2" udp-echo - 127.0.0.1 "$HP2" 110
	seq_check "udp-seq host -> A" "" "$NA" 127.0.0.1 "$HP3" "$GP3"
	nat_down
}

mode_mq() {
	ns_setup v4
	make_blob small $((16 * 1048576))
	http_serve http 127.0.0.1
	nat_up --queues 2
	grep -q '2 queue pair' "$TMP/a.log" || grep -q 'queues=2\|pairs=2\|2 pairs' "$TMP/a.log" ||
		echo "(vqnet-tap's line does not name its queue pairs: $(head -1 "$TMP/a.log"))"
	guest_dhcp
	parallel_check "127.0.0.1 -> A" "$NA" "http://10.0.2.2:$PORT/small" small 16
	nat_down
	for q in rxq0 rxq1 txq0 txq1; do
		v=$(vq_stat d $q packets)
		echo "vqnetd $q: packets=${v:-none}"
		[ "${v:-0}" -gt 0 ] || fail "vqnetd's $q carried nothing with 2 queue pairs"
	done
}

mode_subnet() {
	ns_setup v6
	make_blob small $((16 * 1048576))
	http_serve http 127.0.0.1
	HPORT=$PORT
	http_serve http6 ::1
	H6PORT=$PORT
	NET4=10.9.0 NET6=fd09
	nat_up --net 10.9.0.0/24 --net6 fd09::/64
	guest_dhcp
	ip netns exec "$NA" "$BUSYBOX" arping -c 2 -w 3 -I "$TA" 10.9.0.2 >"$TMP/arping.log" 2>&1
	grep -q 'Received [1-9]' "$TMP/arping.log" || fail "no ARP reply for 10.9.0.2"
	ip netns exec "$NA" "$BUSYBOX" arping -c 2 -w 2 -I "$TA" 10.0.2.2 >"$TMP/arping2.log" 2>&1
	grep -q 'Received 0' "$TMP/arping2.log" || fail "10.0.2.2 answered ARP outside --net: $(cat "$TMP/arping2.log")"
	fetch_check "download 127.0.0.1 -> A via 10.9.0.2" "$NA" "http://10.9.0.2:$HPORT/small" small 30
	poll 20 '' has_slaac || fail "no fd09::/64 address from SLAAC within 20 s"
	peer "router advertisement" ra "$NA" "$TA"
	r=$(grep '^ra ' "$TMP/peer.out")
	for want in "prefix=fd09::/64 L=1 A=1" rdnss=fd09::3; do
		echo " $r " | grep -q " $want " || fail "RA without $want: ${r:-none}"
	done
	fetch_check "download [::1] -> A via [fd09::2]" "$NA" "http://[fd09::2]:$H6PORT/small" small 30
	nat_down
}

# nat_count FIELD: FIELD summed over vqnetd's "nat qN:" lines.
nat_count() {
	sed -n "s/^nat q[0-9]*: .* $1=\([0-9]*\).*/\1/p" "$TMP/d.out" | awk '{s += $1} END {print s + 0}'
}

mode_frag() {
	ns_setup v6
	peer_bg uecho udp-echo-server - 127.0.0.1 0
	UPORT=$PORT
	peer_bg uecho6 udp-echo-server - ::1 0
	U6PORT=$PORT
	nat_up --mtu 1500
	MTU4=1500 guest_dhcp
	mtu=$(ip netns exec "$NA" cat "/sys/class/net/$TA/mtu")
	echo "$TA mtu $mtu"
	[ "$mtu" = 1500 ] || fail "$TA has MTU $mtu (want 1500)"
	peer "UDP echo A -> host at MTU 1500" udp-echo "$NA" 10.0.2.2 "$UPORT" 55
	poll 20 '' has_slaac || fail "no fec0::/64 address from SLAAC within 20 s"
	peer "UDP echo A -> [::1] at MTU 1500" udp-echo "$NA" fec0::2 "$U6PORT" 55
	if ping_allow; then
		ns_ping "$NA" 10.0.2.2 3 ping-big "ping -s 8000 10.0.2.2" -s 8000 || fail "ping -s 8000 10.0.2.2"
		ns_ping "$NA" fec0::2 3 ping6-big "ping -s 8000 fec0::2" -s 8000 || fail "ping -s 8000 fec0::2"
		ping_restore
	fi
	nat_down
	r=$(nat_count reasm_done) o=$(nat_count frags_out) x=$(nat_count reasm_failed)
	echo "vqnetd: reasm_done=$r frags_out=$o reasm_failed=$x"
	[ "$r" -gt 0 ] || fail "vqnetd reassembled no datagram"
	[ "$o" -gt 0 ] || fail "vqnetd sent no fragment"
	[ "$x" -eq 0 ] || fail "vqnetd gave up $x datagrams"
}

mode_unreach() {
	ns_setup v6
	NB=vqnat-b-$$
	make_netns "$NB"
	VQNETD_NETNS=$NB nat_up
	guest_dhcp
	poll 20 '' has_slaac || fail "no fec0::/64 address from SLAAC within 20 s"
	peer "no route to 10.99.0.1" unreach "$NA" 10.99.0.1
	peer "no route to 2001:db8::1" unreach "$NA" 2001:db8::1
	NAT_SOCKET_DROPS_OK=" " nat_down
}

setup_test "nat-$MODE"
trap 'ping_restore; cleanup_all' EXIT
t0=$(date +%s)
case $MODE in
dhcp) mode_dhcp ;;
tcp) mode_tcp ;;
tcpedge) mode_tcpedge ;;
udp) mode_udp ;;
ipv6) mode_ipv6 ;;
hostfwd) mode_hostfwd ;;
mq) mode_mq ;;
subnet) mode_subnet ;;
frag) mode_frag ;;
unreach) mode_unreach ;;
esac
echo "$MODE: $(($(date +%s) - t0)) s"
finish "nat-$MODE"
