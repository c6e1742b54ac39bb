#!/bin/sh
# SPDX-License-Identifier: MIT
#
# A stand-in for vqnetd, to check the vqnetd-*.sh guest tests themselves
# (guest-init, the initramfs, namespaces, iperf3, HTTP, UDP ports) without
# vqnetd:
#
#   VQNET_INTEROP_SELFTEST=1 sh vqnetd-tap.sh tests/interop/standin-vqnetd.sh tests/interop split
#
# It takes vqnetd's options, creates the socket path (a bound unix socket
# nobody serves) and writes the QEMU netdev that does the backend's job to
# SOCK.netdev; start_guest (common.sh) uses it in place of vhost-user when
# VQNET_INTEROP_SELFTEST is set:
#   tap:IF  ip tuntap add IF (vnet_hdr, multi_queue with --queues > 1) and
#           QEMU's tap netdev on it (deleted again on exit);
#   user, slirp  QEMU's user netdev (libslirp; --hostfwd rules passed on);
#   dgram:L,R  QEMU's dgram netdev with the same addresses.
# On SIGTERM, SIGINT or after --seconds it prints a total line of zeros and
# exits 0. It logs no features or queue lines and counts nothing, so the
# checks of vqnetd's own output fail; everything else should pass. The DPDK
# test needs a real vhost-user backend: loop, sink and gen are not served.
set -u
SOCK='' BE=user Q=1 SECS=100 HF=''
while [ $# -gt 0 ]; do
	case $1 in
	--socket) SOCK=$2 && shift ;;
	--backend) BE=$2 && shift ;;
	--queues) Q=$2 && shift ;;
	--seconds) SECS=$2 && shift ;;
	--hostfwd) HF="$HF,hostfwd=$2" && shift ;;
	--mac | --mtu | --log-level | --rx-rate | --tx-rate) shift ;;
	esac
	shift
done
[ -n "$SOCK" ] || { echo "standin-vqnetd: no --socket" >&2; exit 2; }
IF=''
case $BE in
tap:*)
	IF=${BE#tap:}
	mq=''
	[ "$Q" -gt 1 ] && mq=multi_queue
	# shellcheck disable=SC2086 # mq: empty or one word
	ip tuntap add dev "$IF" mode tap vnet_hdr $mq || exit 1
	ND="tap,id=n0,ifname=$IF,script=no,downscript=no,vhost=off"
	;;
user | slirp) ND="user,id=n0$HF" ;;
dgram:*)
	a=${BE#dgram:}
	l=${a%%,*}
	r=${a#*,}
	ND="dgram,id=n0,local.type=inet,local.host=${l%:*},local.port=${l##*:},remote.type=inet,remote.host=${r%:*},remote.port=${r##*:}"
	;;
*)
	echo "standin-vqnetd: backend $BE not served" >&2
	exit 2
	;;
esac
echo "$ND" >"$SOCK.netdev"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK" || exit 1
echo "vqnetd: standin, QEMU netdev $ND" >&2
stop=0
trap 'stop=1' TERM INT
n=0
while [ $stop -eq 0 ] && [ $n -lt $((SECS * 10)) ]; do
	sleep 0.1
	n=$((n + 1))
done
[ -n "$IF" ] && ip link del "$IF" 2>/dev/null
echo "vqnetd: total rx_packets=0 tx_packets=0 drops=0 errors=0"
exit 0
