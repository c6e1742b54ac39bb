# SPDX-License-Identifier: MIT
#
# Shared by the interop scripts (and tests/vnet_drv/*.sh), sourced at their
# start. Four groups:
#  - every test: setup_test (status, TMP, the traps), the argument checks
#    (ring_format, need_exec, need_*), poll, track + cleanup_all (every
#    process started, every netns made, testpmd's huge page files), finish;
#  - vu-loop-dev (dpdk-virtio-user.sh, qemu-guest.sh): after DEV, FMT and
#    DEV_ARGS are set; the functions that touch the device also use TMP,
#    SOCK, DEV_PID and status, set by the caller;
#  - guests and vqnetd (qemu-guest.sh, vqnetd-*.sh): guest_prereqs,
#    build_initramfs, start_vqnetd/stop_vqnetd and the vq_* readers of its
#    output, start_guest/wait_guest and the readers of the guest console,
#    namespaces, TAPs and the servers in them;
#  - DPDK (dpdk-virtio-user.sh, vqnetd-dpdk.sh, drv_dpdk.sh): dpdk_prereqs
#    and testpmd.
# Functions share the caller's variables (POSIX sh has no locals): their
# scratch names are short (n, rc, name, ...); callers use longer ones.
# shellcheck shell=sh disable=SC2034 # dev_rc, frames, drops, errors, pmd_rc, NIC, P: for the caller

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	status=1
}

# finish LABEL: print "PASS: LABEL" when nothing failed; exit with status.
finish() {
	[ "$status" -eq 0 ] && echo "PASS: $1"
	exit "$status"
}

# setup_test NAME: status 0, a temporary directory TMP (/tmp/vqnet-NAME.*),
# cleanup_all from the EXIT trap, and exit 1 on SIGINT, SIGTERM, SIGHUP.
setup_test() {
	status=0
	TMP=$(mktemp -d "/tmp/vqnet-$1.XXXXXX") || exit 1
	trap cleanup_all EXIT
	trap 'exit 1' INT TERM HUP
}

# ring_format FMT: for ring format FMT, NIC (QEMU virtio-net-pci
# properties: '' or ,packed=on), P (testpmd's packed_vq: 0 or 1) and
# DEV_ARGS (vu-loop-dev's options: '' or --packed-ok); exits 2 with $usage
# for anything but split or packed.
ring_format() {
	case $1 in
	split) NIC='' P=0 DEV_ARGS='' ;;
	packed) NIC=,packed=on P=1 DEV_ARGS=--packed-ok ;;
	*)
		echo "${usage:-unknown ring format $1 (split|packed)}" >&2
		exit 2
		;;
	esac
}

# need_exec FILE: exit 2 unless FILE is executable.
need_exec() {
	[ -x "$1" ] || { echo "no executable $1" >&2; exit 2; }
}
# need_ip, need_iperf3 (sets IPERF3), need_python3 [WHY] (sets PYTHON):
# skip (77) unless the program is there.
need_ip() {
	command -v ip >/dev/null || skip "ip not installed (Debian: iproute2)"
}
need_iperf3() {
	IPERF3=$(command -v iperf3) || skip "iperf3 not installed (Debian: iperf3)"
}
# shellcheck disable=SC2120 # WHY is optional
need_python3() {
	PYTHON=$(command -v python3) || skip "python3 not installed${1:+ ($1)}"
}

# poll SECONDS PID COMMAND...: run COMMAND every 0.1 s until it succeeds
# (true), SECONDS pass or process PID (when not empty) has exited; then
# the status of COMMAND run once more.
poll() {
	p_max=$(($1 * 10)) p_pid=$2
	shift 2
	p_n=0
	while ! "$@" && [ $p_n -lt $p_max ]; do
		[ -z "$p_pid" ] || kill -0 "$p_pid" 2>/dev/null || break
		sleep 0.1
		p_n=$((p_n + 1))
	done
	"$@"
}
# gone PID: true when process PID has exited.
gone() {
	! kill -0 "$1" 2>/dev/null
}

# stop_pid PID SIGNAL SECONDS: signal a process we started and wait for it,
# killing it (and, for timeout(1), its child) when it does not go.
stop_pid() {
	pid=$1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -s "$2" "$pid" 2>/dev/null
	if ! poll "$3" '' gone "$pid"; then
		for c in $(pgrep -P "$pid"); do
			kill -9 "$c" 2>/dev/null
		done
		kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# Processes to stop and namespaces to delete on exit, newest first.
TRACKED=
NETNS_LIST=
# track PID SIGNAL [SECONDS]: stop_pid PID SIGNAL SECONDS (5) in
# cleanup_all.
track() {
	TRACKED="$1:$2:${3:-5} $TRACKED"
}
untrack() {
	TRACKED=$(echo "$TRACKED" | tr ' ' '\n' | grep -v "^$1:" | tr '\n' ' ')
}
# stop_tracked PID SIGNAL SECONDS: stop_pid and untrack.
stop_tracked() {
	stop_pid "$1" "$2" "$3"
	untrack "$1"
}
# cleanup_all: stop every tracked process (the newest first: guests and
# testpmd before vqnetd), delete the namespaces, remove $TMP and, when
# DPDK_PREFIX is set, testpmd's files (dpdk_cleanup). For the EXIT trap.
cleanup_all() {
	for e in $TRACKED; do
		ce=${e#*:}
		stop_pid "${e%%:*}" "${ce%%:*}" "${ce#*:}"
	done
	TRACKED=
	for ns in $NETNS_LIST; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns delete "$ns" 2>/dev/null
	done
	NETNS_LIST=
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
	if [ -n "${DPDK_PREFIX:-}" ]; then
		dpdk_cleanup "$DPDK_PREFIX"
	fi
}

# show_log TITLE FILE: a "---- TITLE" line, then FILE.
show_log() {
	echo "---- $1"
	cat "$2"
}

# start_dev SECONDS: start vu-loop-dev ($DEV $DEV_ARGS) on $SOCK for at most
# SECONDS, its output in $TMP/dev.log; sets DEV_PID (tracked). Exits 1
# (FAIL) when the socket does not appear within 10 s.
start_dev() {
	# shellcheck disable=SC2086
	"$DEV" --socket "$SOCK" $DEV_ARGS --seconds "$1" >"$TMP/dev.log" 2>&1 &
	DEV_PID=$!
	track "$DEV_PID" TERM
	if ! wait_socket "$SOCK" "$DEV_PID" 10; then
		cat "$TMP/dev.log"
		echo "FAIL: vu-loop-dev did not create $SOCK"
		exit 1
	fi
}

# stop_dev: SIGTERM to vu-loop-dev (it prints its counts and frees the
# backend) and wait for it; its exit status in dev_rc.
stop_dev() {
	kill -s TERM "$DEV_PID" 2>/dev/null
	wait "$DEV_PID"
	dev_rc=$?
	untrack "$DEV_PID"
	DEV_PID=
}

# check_queues_started: both queues started in the ring format $FMT.
check_queues_started() {
	for q in 0 1; do
		grep -q "queue $q started: $FMT ring" "$TMP/dev.log" || fail "queue $q did not start as a $FMT ring"
	done
}

# check_packed_negotiated: RING_PACKED negotiated on the backend side for
# packed, not for split.
check_packed_negotiated() {
	if [ "$FMT" = packed ]; then
		grep -q '^vu-loop-dev: features .* RING_PACKED' "$TMP/dev.log" || fail "RING_PACKED not negotiated"
	else
		grep -q '^vu-loop-dev: features .* RING_PACKED' "$TMP/dev.log" && fail "RING_PACKED negotiated"
	fi
}

# read_dev_counts: frames, drops and errors from vu-loop-dev's last counts
# line (empty when there is none).
read_dev_counts() {
	counts=$(grep '^vu-loop-dev: frames=' "$TMP/dev.log" | tail -1)
	frames=$(echo "$counts" | sed -n 's/.*frames=\([0-9]*\).*/\1/p')
	drops=$(echo "$counts" | sed -n 's/.*drops=\([0-9]*\).*/\1/p')
	errors=$(echo "$counts" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
}

# ---------------------------------------------------------------------------
# Guests and vqnetd (qemu-guest.sh and the vqnetd-*.sh tests). These use
# TMP (the test's temporary directory, removed by cleanup_all) and status.

# guest_prereqs: skip (77) unless root, QEMU, cpio, modprobe, busybox and a
# kernel with its modules are there; sets QEMU, BUSYBOX, KERNEL and KVER.
guest_prereqs() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (reads /boot, modprobe -S)"
	QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed (Debian: qemu-system-x86)"
	command -v cpio >/dev/null || skip "cpio not installed"
	command -v modprobe >/dev/null || skip "modprobe not installed (Debian: kmod)"
	BUSYBOX=
	for b in /bin/busybox /usr/bin/busybox; do
		[ -x "$b" ] && BUSYBOX=$b && break
	done
	[ -n "$BUSYBOX" ] || skip "busybox not installed (Debian: busybox-static)"
	# The newest kernel image that has its modules installed.
	KERNEL='' KVER=''
	for k in $(printf '%s\n' /boot/vmlinuz-* | sort -V); do
		v=${k#/boot/vmlinuz-}
		[ -r "$k" ] && [ -f "/lib/modules/$v/modules.dep" ] && KERNEL=$k KVER=$v
	done
	[ -n "$KERNEL" ] || skip "no /boot/vmlinuz-* with modules (Debian: linux-image-amd64)"
}

# build_initramfs SRC_DIR [BINARY...]: $TMP/initrd.gz from SRC_DIR's
# mkinitramfs.sh and guest-init, with the BINARYs and their libraries.
build_initramfs() {
	src=$1
	shift
	if ! BUSYBOX=$BUSYBOX "$src/mkinitramfs.sh" "$TMP/initrd.gz" "$KVER" "$src/guest-init" "$@" 2>"$TMP/mkinitramfs.log"; then
		cat "$TMP/mkinitramfs.log"
		grep -q 'not static' "$TMP/mkinitramfs.log" && skip "busybox is not static (Debian: busybox-static)"
		echo "FAIL: could not build the initramfs"
		exit 1
	fi
}

# http_serve NAME ADDR [NETNS]: $TMP/www served over HTTP on ADDR by
# python3 ($PYTHON) http.server, in network namespace NETNS when given, on a
# port the kernel picks (sets PORT; the server prints it), its log in
# $TMP/NAME.log; tracked. Exits 1 (FAIL) when it does not start.
http_serve() {
	s_name=$1 s_addr=$2
	mkdir -p "$TMP/www"
	# The command prefix: into NETNS, or nothing.
	if [ -n "${3:-}" ]; then set -- ip netns exec "$3"; else set --; fi
	"$@" "$PYTHON" -u -m http.server --bind "$s_addr" --directory "$TMP/www" 0 \
		>"$TMP/$s_name.log" 2>&1 </dev/null &
	track $! TERM
	poll 10 '' grep -qs 'port [0-9]' "$TMP/$s_name.log"
	PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$TMP/$s_name.log" | head -1)
	[ -n "$PORT" ] || { cat "$TMP/$s_name.log"; echo "FAIL: HTTP server $s_name did not start"; exit 1; }
}

# serve_blob SIZE ADDR [NETNS]: SIZE random bytes in $TMP/www/blob (sets
# WANT_MD5) served by http_serve (log $TMP/http.log; sets PORT).
serve_blob() {
	mkdir -p "$TMP/www"
	head -c "$1" /dev/urandom >"$TMP/www/blob"
	WANT_MD5=$(md5sum <"$TMP/www/blob" | cut -d' ' -f1)
	http_serve http "$2" "${3:-}"
}

# check_blob NAME SIZE: guest NAME's wget step got the served blob: its
# size= is SIZE and its md5= is $WANT_MD5 (serve_blob).
check_blob() {
	size=$(guest_val "$1" wget size)
	md5=$(guest_val "$1" wget md5)
	echo "guest $1 got size=${size:-?} md5=${md5:-?}; host size=$2 md5=$WANT_MD5"
	[ "$size" = "$2" ] || fail "guest $1 got ${size:-no} bytes (want $2)"
	[ "$md5" = "$WANT_MD5" ] || fail "md5sum differs: guest $1 ${md5:-none}, host $WANT_MD5"
}

# make_netns NAME: create a network namespace with lo up, deleted on exit.
make_netns() {
	ip netns add "$1" || { echo "FAIL: cannot create netns $1"; exit 1; }
	NETNS_LIST="$NETNS_LIST $1"
	ip -n "$1" link set lo up
}
# move_to_netns NS IF...: move each interface IF into namespace NS; exits 1
# (FAIL) when one cannot be moved.
move_to_netns() {
	ns=$1
	shift
	for l in "$@"; do
		ip link set "$l" netns "$ns" || { echo "FAIL: cannot move $l into $ns"; exit 1; }
	done
}
# ns_up NS IF ADDR [ARGS...]: give IF in namespace NS the address ADDR, then
# set it up (ARGS: more "ip link set" arguments, e.g. mtu 9000).
ns_up() {
	ns=$1 l=$2 addr=$3
	shift 3
	ip -n "$ns" addr add "$addr" dev "$l"
	ip -n "$ns" link set "$l" "$@" up
}
# links_exist IF...: true when every interface IF exists (here).
links_exist() {
	for l in "$@"; do
		ip link show dev "$l" >/dev/null 2>&1 || return 1
	done
}
# wait_taps TAP...: wait up to 10 s for the vqnetd started so far to create
# the TAPs; exits 1 (FAIL, after their logs) when one is missing.
wait_taps() {
	poll 10 '' links_exist "$@" && return 0
	for name in ${VQNETD_NAMES:-}; do
		cat "$TMP/$name.log"
	done
	for l in "$@"; do
		links_exist "$l" || { echo "FAIL: vqnetd did not create TAP $l"; exit 1; }
	done
}
# start_iperf3_server NS ADDR: $IPERF3 -s bound to ADDR in namespace NS,
# tracked, its output in $TMP/iperf3-server.log (show_iperf3_server).
start_iperf3_server() {
	ip netns exec "$1" "$IPERF3" -s -B "$2" >"$TMP/iperf3-server.log" 2>&1 </dev/null &
	track $! TERM
}
show_iperf3_server() {
	show_log "iperf3 server (namespace)" "$TMP/iperf3-server.log"
}
# ns_ping NS ADDR COUNT NAME TITLE [ARGS...]: busybox ping -c COUNT -i 0.2
# -W 2 [ARGS] ADDR from namespace NS, its output in $TMP/NAME.log and
# printed under TITLE; true when all COUNT requests were answered.
ns_ping() {
	ns=$1 addr=$2 count=$3 name=$4 title=$5
	shift 5
	ip netns exec "$ns" "$BUSYBOX" ping -c "$count" -i 0.2 -W 2 "$@" "$addr" >"$TMP/$name.log" 2>&1
	show_log "$title" "$TMP/$name.log"
	grep -q "$count packets transmitted, $count packets received" "$TMP/$name.log"
}

# wait_socket PATH PID SECONDS: true once PATH is a socket; false when PID
# exits first or SECONDS pass.
wait_socket() {
	poll "$3" "$2" test -S "$1"
}

# start_vqnetd NAME SECONDS [ARGS...]: start $VQNETD listening on
# $TMP/NAME.sock with --log-level info --seconds SECONDS (a hang guard) and
# ARGS; stdout (the final counts) in $TMP/NAME.out, stderr (the log) in
# $TMP/NAME.log. Sets VQNETD_PID. Exits 1 (FAIL) when the socket does not
# appear within 10 s. VQNETD_NETNS set: vqnetd runs in that namespace (its
# unix sockets are still reached through the file system).
start_vqnetd() {
	name=$1 secs=$2
	shift 2
	${VQNETD_NETNS:+ip netns exec "$VQNETD_NETNS"} "$VQNETD" --socket "$TMP/$name.sock" --log-level info --seconds "$secs" "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.log" </dev/null &
	VQNETD_PID=$!
	VQNETD_NAMES="${VQNETD_NAMES:-} $name"
	track "$VQNETD_PID" TERM
	if ! wait_socket "$TMP/$name.sock" "$VQNETD_PID" 10; then
		echo "---- vqnetd $name: $VQNETD --socket $TMP/$name.sock --log-level info --seconds $secs $*"
		cat "$TMP/$name.log" "$TMP/$name.out"
		echo "FAIL: vqnetd ($name) did not create its socket"
		exit 1
	fi
}

# term_and_show PROG PID NAME WANT_RC COUNTS: SIGTERM process PID (program
# PROG, called NAME) and wait; fails the test unless it exits WANT_RC within
# 10 s. Prints its log ($TMP/NAME.log) and, headed COUNTS, $TMP/NAME.out.
term_and_show() {
	kill -s TERM "$2" 2>/dev/null
	if ! poll 10 '' gone "$2"; then
		fail "$1 ($3) did not exit within 10 s of SIGTERM"
		kill -9 "$2" 2>/dev/null
	fi
	wait "$2"
	rc=$?
	untrack "$2"
	show_log "$1 $3 (log)" "$TMP/$3.log"
	show_log "$1 $3 ($5)" "$TMP/$3.out"
	[ $rc -eq "$4" ] || fail "$1 ($3) exited with $rc (want $4)"
}

# stop_vqnetd PID NAME: SIGTERM (it prints its counts) and wait; fails the
# test unless it exits 0 within 10 s. Prints its log and counts.
stop_vqnetd() {
	term_and_show vqnetd "$1" "$2" 0 counts
}

# free_udp_ports: two UDP ports free on 127.0.0.1, "A B" (bound, read,
# released: another test may take one in between, which then fails loudly
# rather than mixing traffic). Fails when python3 cannot find them.
free_udp_ports() {
	"$PYTHON" -c '
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
'
}

# vq_stat NAME QUEUE FIELD: FIELD (packets, bytes, drops, errors) of the
# queue named QUEUE (rxq0, txq1, ...) in vqnetd NAME's final counts; empty
# when there is no such line.
vq_stat() {
	sed -n "s/^vqnetd: queue [0-9]* $2:.* $3=\([0-9]*\).*/\1/p" "$TMP/$1.out" | tail -1
}
# dev_stat NAME QUEUE FIELD: FIELD of the device's own line for QUEUE
# (rxq0, txq1...) that vqnetd NAME printed at exit (every counter).
dev_stat() {
	sed -n "s/^$2: .* $3=\([0-9]*\).*/\1/p" "$TMP/$1.out" | tail -1
}
# vq_total NAME FIELD: FIELD of vqnetd NAME's total line.
vq_total() {
	sed -n "s/^vqnetd: total.* $2=\([0-9]*\).*/\1/p" "$TMP/$1.out" | tail -1
}
# vq_features NAME: the feature names of vqnetd NAME's last features line.
vq_features() {
	sed -n 's/^\([0-9TZ:.-]* \)\?vqnetd: features //p' "$TMP/$1.log" | tail -1 | cut -d' ' -f2-
}
# check_vq_started NAME FMT QUEUE...: each QUEUE (a number) started at least
# once in ring format FMT.
check_vq_started() {
	name=$1 fmt=$2
	shift 2
	for q in "$@"; do
		grep -q "^\([0-9TZ:.-]* \)\?vqnetd: queue $q started: $fmt ring" "$TMP/$name.log" ||
			fail "vqnetd ($name): queue $q never started as a $fmt ring"
	done
}
# check_vq_packed NAME FMT: RING_PACKED negotiated for packed, not for split.
check_vq_packed() {
	grep -q '^\([0-9TZ:.-]* \)\?vqnetd: features ' "$TMP/$1.log" || { fail "vqnetd ($1) logged no features line"; return; }
	if echo " $(vq_features "$1") " | grep -q ' RING_PACKED '; then
		[ "$2" = packed ] || fail "vqnetd ($1): RING_PACKED negotiated for a split test"
	else
		[ "$2" = split ] || fail "vqnetd ($1): RING_PACKED not negotiated"
	fi
}
# check_vq_clean NAME: no errors counted by vqnetd NAME (total line present).
check_vq_clean() {
	e=$(vq_total "$1" errors)
	if [ -z "$e" ]; then
		fail "vqnetd ($1): no total line in its output"
	elif [ "$e" -ne 0 ]; then
		fail "vqnetd ($1) counted $e errors"
	fi
}
# check_vqnetd NAME FMT QUEUE...: check_vq_started, check_vq_packed and
# check_vq_clean for vqnetd NAME.
check_vqnetd() {
	check_vq_started "$@"
	check_vq_packed "$1" "$2"
	check_vq_clean "$1"
}
# check_vq_moved NAME QUEUE...: print the packets of each QUEUE (rxq0,
# txq1, ...) of vqnetd NAME; fails unless each carried some.
check_vq_moved() {
	name=$1
	shift
	for q in "$@"; do
		p=$(vq_stat "$name" "$q" packets)
		echo "vqnetd $name $q packets=${p:-?}"
		[ "${p:-0}" -gt 0 ] || fail "vqnetd ($name): $q carried no packets"
	done
}

# run_vqnetd LOG SOCK [ARGS...]: start $VQNETD --socket SOCK ARGS, its
# output (stdout and stderr) in LOG, tracked; sets VQNETD_PID. True once
# SOCK is a socket, false when vqnetd exits first or 10 s pass. For the
# tests/vnet_drv scripts, which read no counts.
run_vqnetd() {
	log=$1 r_sock=$2
	shift 2
	"$VQNETD" --socket "$r_sock" "$@" >"$log" 2>&1 &
	VQNETD_PID=$!
	track "$VQNETD_PID" TERM
	wait_socket "$r_sock" "$VQNETD_PID" 10
}

# start_guest NAME SOCK APPEND: boot the test guest under TCG with its NIC
# on vhost-user socket SOCK, guest-init's parameters APPEND on the kernel
# command line, at most GUEST_TIMEOUT s (default 120). Console in
# $TMP/NAME.console, QEMU's own output in $TMP/NAME.qemu. Optional:
# GUEST_SMP (CPUs, 1), GUEST_QUEUES (queue pairs, 1: more sets mq=on),
# GUEST_NIC (more virtio-net-pci properties, e.g. ",packed=on,mac=..."),
# GUEST_CHARDEV (more socket chardev properties: ",server=on,wait=off"
# makes QEMU the socket's server, for vqnetd --client).
# Sets GUEST_PID.
start_guest() {
	netdev="vhost-user,id=n0,chardev=c0" chardev="socket,id=c0,path=$2${GUEST_CHARDEV:-}"
	if [ -n "${VQNET_INTEROP_SELFTEST:-}" ]; then
		# Checking the test itself without vqnetd: a stand-in wrote the
		# QEMU netdev that does its job (tap, user, dgram) next to SOCK.
		netdev=$(cat "$2.netdev") chardev="null,id=c0"
	fi
	nic="virtio-net-pci,netdev=n0,vectors=0${GUEST_NIC:-}"
	if [ "${GUEST_QUEUES:-1}" -gt 1 ]; then
		netdev="$netdev,queues=$GUEST_QUEUES"
		nic="$nic,mq=on"
	fi
	timeout -k 5 "${GUEST_TIMEOUT:-120}" "$QEMU" -nodefaults -accel tcg -m 512M \
		-smp "${GUEST_SMP:-1}" \
		-object memory-backend-memfd,id=m,size=512M,share=on -numa node,memdev=m \
		-kernel "$KERNEL" -initrd "$TMP/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet $3" \
		-display none -monitor none -serial "file:$TMP/$1.console" -no-reboot \
		-chardev "$chardev" -netdev "$netdev" -device "$nic" \
		</dev/null >"$TMP/$1.qemu" 2>&1 &
	GUEST_PID=$!
	track "$GUEST_PID" TERM
	# The stand-in's TAP must be opened by QEMU before it moves.
	[ -n "${VQNET_INTEROP_SELFTEST:-}" ] && sleep 2
	return 0
}

# wait_guest PID NAME: wait for the guest to power off; fails the test
# unless QEMU exited 0 (124: the time limit killed it).
wait_guest() {
	wait "$1"
	rc=$?
	untrack "$1"
	[ $rc -eq 0 ] || fail "QEMU ($2) exited with $rc (124: the guest did not power off in time)"
}

# show_guest NAME: QEMU's output and the guest console (no kernel lines but
# oopses and warnings).
show_guest() {
	echo "---- qemu $1"
	cat "$TMP/$1.qemu"
	echo "---- guest $1 console"
	tr -d '\r' <"$TMP/$1.console" 2>/dev/null | grep -avE '^\[ *[0-9]+\.[0-9]+\]'
	tr -d '\r' <"$TMP/$1.console" 2>/dev/null | grep -aE 'Kernel panic|BUG|Oops|WARNING|virtio_net'
}

# wait_console NAME PATTERN SECONDS PID: true once guest NAME's console has
# a line matching PATTERN (grep -E); false when PID exits or time is up.
wait_console() {
	poll "$3" "$4" grep -aqsE "$2" "$TMP/$1.console"
}

# check_steps NAME STEP...: guest NAME printed "VQNET-GUEST step STEP ok"
# for each STEP.
check_steps() {
	name=$1
	shift
	for s in "$@"; do
		grep -aq "^VQNET-GUEST step $s ok" "$TMP/$name.console" ||
			fail "guest $name: step $s did not succeed: $(grep -a "^VQNET-GUEST step $s " "$TMP/$name.console" | tr -d '\r' | tail -1)"
	done
}
# guest_val NAME STEP KEY: KEY=VALUE from guest NAME's "step STEP ok" line.
guest_val() {
	grep -a "^VQNET-GUEST step $2 ok" "$TMP/$1.console" | tr -d '\r' | tail -1 |
		sed -n "s/.* $3=\([^ ]*\).*/\1/p"
}
# guest_features NAME: the driver feature bits (/sys/.../device/features,
# bit 0 first) from guest NAME's last line.
guest_features() {
	grep -a '^VQNET-GUEST tx=' "$TMP/$1.console" | tr -d '\r' | tail -1 |
		sed -n 's/.* features=\([01]*\).*/\1/p'
}
# feature_bit BITS N: bit N (0 or 1) of a features string.
feature_bit() {
	echo "$1" | cut -c$(($2 + 1))
}

# ---------------------------------------------------------------------------
# DPDK (dpdk-virtio-user.sh, vqnetd-dpdk.sh, ../vnet_drv/drv_dpdk.sh). The
# testpmd helpers use TMP and DPDK_PREFIX (testpmd's --file-prefix; set, it
# also makes cleanup_all remove testpmd's files).

# dpdk_prereqs [PAGES]: skip (77) unless root, dpdk-testpmd and PAGES (256;
# 0: not checked) free 2 MB huge pages on a hugetlbfs at /dev/hugepages
# (raises vm.nr_hugepages to 1024 and mounts it when needed). Sets TESTPMD.
# shellcheck disable=SC2120 # PAGES is optional
dpdk_prereqs() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (hugepages, DPDK)"
	TESTPMD=$(command -v dpdk-testpmd) || skip "dpdk-testpmd not installed (Debian: dpdk-dev)"
	# Hugepages: 512 MB for testpmd (-m 512) in 2 MB pages.
	if [ "$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)" -lt 1024 ]; then
		echo 1024 >/proc/sys/vm/nr_hugepages 2>/dev/null || skip "cannot set vm.nr_hugepages"
	fi
	if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
		if ! { mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; }; then
			skip "cannot mount hugetlbfs at /dev/hugepages"
		fi
	fi
	need=${1:-256}
	[ "$need" -gt 0 ] || return 0
	free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	[ "${free:-0}" -ge "$need" ] || skip "only ${free:-0} free huge pages (need $need x 2 MB)"
}

# dpdk_cleanup PREFIX: remove testpmd's huge page files and runtime
# directory of --file-prefix PREFIX.
dpdk_cleanup() {
	rm -f /dev/hugepages/"$1"*
	rm -rf /var/run/dpdk/"$1"
}

# wait_pmd_forwarding LOG PID: true once testpmd (PID, output in LOG)
# printed its first periodic statistics (forwarding has started). Skips
# (77) when EAL could not get its huge page memory.
wait_pmd_forwarding() {
	poll 15 "$2" grep -qs 'Port statistics' "$1" && return 0
	tail -20 "$1"
	# EAL could not get its memory (huge pages taken by someone else)
	grep -Eqs 'Cannot get hugepage information|Cannot init memory|Not enough memory' "$1" &&
		skip "DPDK EAL could not set up its huge page memory"
	return 1
}

# start_pmd SECONDS SOCK NAME TESTPMD_ARGS...: dpdk-testpmd (-m 512, both
# lcores on CPU 0) with one virtio-user port on vhost-user socket SOCK
# (queues=1, packed_vq=$P, queue_size=$PMD_RING), statistics every second
# and one forwarding core, stopped by timeout(1) after SECONDS (a hang
# guard); its output in $TMP/NAME.raw. Sets PMD_PID (the caller tracks it).
PMD_RING=256
start_pmd() {
	secs=$1 p_sock=$2 name=$3
	shift 3
	timeout "$secs" "$TESTPMD" --no-pci --single-file-segments --file-prefix="$DPDK_PREFIX" -m 512 \
		--lcores '0@0,1@0' \
		--vdev "net_virtio_user0,path=$p_sock,queues=1,packed_vq=$P,queue_size=$PMD_RING" \
		-- --stats-period 1 --nb-cores=1 "$@" \
		</dev/null >"$TMP/$name.raw" 2>&1 &
	PMD_PID=$!
}
# run_pmd_for SECONDS NAME: once testpmd PMD_PID (output in $TMP/NAME.raw)
# forwards, let it run SECONDS (fails the test when it never starts
# forwarding); then SIGINT (through timeout(1): testpmd prints its final
# statistics) and wait. Sets pmd_rc; $TMP/NAME.pmd is the output without
# colour codes.
run_pmd_for() {
	if wait_pmd_forwarding "$TMP/$2.raw" "$PMD_PID"; then
		sleep "$1"
	else
		fail "testpmd ($2) did not start forwarding"
	fi
	kill -s INT "$PMD_PID" 2>/dev/null
	wait "$PMD_PID"
	pmd_rc=$?
	untrack "$PMD_PID"
	PMD_PID=
	sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$TMP/$2.raw" >"$TMP/$2.pmd"
}
# show_pmd NAME: testpmd's final forward statistics from $TMP/NAME.pmd.
show_pmd() {
	echo "---- testpmd $1 (final statistics)"
	sed -n '/Forward statistics for port 0/,/^ *-\{20,\}$/p' "$TMP/$1.pmd"
	echo "----"
}

# pmd_stat LOG FIELD: FIELD (RX-packets, TX-packets, ...) of port 0 in
# testpmd's final forward statistics (LOG without colour codes).
pmd_stat() {
	awk -v f="$2:" '/Forward statistics for port 0/ {s = 1} s {for (i = 1; i < NF; i++) if ($i == f) {print $(i + 1); exit}}' "$1"
}

# check_guest_ring NAME FMT: guest NAME's driver negotiated VERSION_1 (bit
# 32) and RING_PACKED (bit 34) for packed, not for split. QEMU offers the
# guest only what the vhost-user backend offered, so this is the format the
# backend's rings have.
check_guest_ring() {
	gf=$(guest_features "$1")
	if [ -z "$gf" ]; then
		fail "guest $1: no features line"
		return
	fi
	[ "$(feature_bit "$gf" 32)" = 1 ] || fail "guest $1: driver did not negotiate VERSION_1"
	want=0
	[ "$2" = packed ] && want=1
	[ "$(feature_bit "$gf" 34)" = $want ] || fail "guest $1: driver RING_PACKED bit is $(feature_bit "$gf" 34) (want $want)"
}

# ---------------------------------------------------------------------------
# Live migration (vqnetd-migrate.sh). These use TMP and QEMU like the guest
# helpers above; the monitor needs python3.

# start_mig_guest NAME SOCK APPEND [INCOMING]: like start_guest (same kernel,
# initramfs, memfd share=on memory, vectors=0 NIC with GUEST_NIC), with
# GUEST_MEM (256M) of memory and QEMU's human monitor on the unix socket
# $TMP/NAME.mon; with INCOMING (e.g. unix:PATH) QEMU waits for a migration
# there (-incoming). Sets GUEST_PID.
start_mig_guest() {
	netdev="vhost-user,id=n0,chardev=c0" chardev="socket,id=c0,path=$2"
	if [ -n "${VQNET_INTEROP_SELFTEST:-}" ]; then
		netdev=$(cat "$2.netdev") chardev="null,id=c0"
	fi
	mem=${GUEST_MEM:-256M} gname=$1 gappend=$3
	if [ -n "${4:-}" ]; then set -- -incoming "$4"; else set --; fi
	timeout -k 5 "${GUEST_TIMEOUT:-120}" "$QEMU" -nodefaults -accel tcg -m "$mem" \
		-smp "${GUEST_SMP:-1}" \
		-object "memory-backend-memfd,id=m,size=$mem,share=on" -numa node,memdev=m \
		-kernel "$KERNEL" -initrd "$TMP/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet $gappend" \
		-display none -monitor "unix:$TMP/$gname.mon,server=on,wait=off" \
		-serial "file:$TMP/$gname.console" -no-reboot \
		-chardev "$chardev" -netdev "$netdev" \
		-device "virtio-net-pci,netdev=n0,vectors=0${GUEST_NIC:-}" \
		"$@" </dev/null >"$TMP/$gname.qemu" 2>&1 &
	GUEST_PID=$!
	track "$GUEST_PID" TERM
	return 0
}

# hmp NAME COMMAND: run one command on guest NAME's human monitor
# ($TMP/NAME.mon) and print its answer (without the banner and prompts).
# False when the monitor cannot be reached within 10 s.
hmp() {
	python3 - "$TMP/$1.mon" "$2" <<'PYEOF'
import socket, sys, time
path, cmd = sys.argv[1], sys.argv[2]
deadline = time.time() + 10
while True:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        break
    except OSError:
        s.close()
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.2)
s.settimeout(10)
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf.decode(errors="replace")
until_prompt()
s.sendall(cmd.encode() + b"\n")
out = until_prompt()
s.close()
# The monitor echoes the command (with terminal escapes) first.
lines = out.replace("\r", "").split("\n")
print("\n".join(l for l in lines[1:] if l != "(qemu) " and l.strip()))
PYEOF
}

# wait_migration NAME SECONDS: poll "info migrate" on the source guest NAME
# until the migration completed (true) or failed, was cancelled or SECONDS
# passed (false). The last answer is in $TMP/NAME.migrate.
wait_migration() {
	n=0
	while [ $n -lt "$2" ]; do
		hmp "$1" "info migrate" >"$TMP/$1.migrate" 2>&1
		grep -q '^Migration status: completed' "$TMP/$1.migrate" && return 0
		grep -Eq '^Migration status: (failed|cancelled)' "$TMP/$1.migrate" && return 1
		sleep 1
		n=$((n + 1))
	done
	return 1
}

# console_problems NAME: the guest console's lines that show a broken
# kernel or driver (oops, warning, virtio ring or checksum errors).
console_problems() {
	tr -d '\r' <"$TMP/$1.console" 2>/dev/null |
		grep -aiE 'Kernel panic|BUG:|Oops|WARNING:|Call Trace|bad checksum|hw csum failure|is not a head|unexpected used|id [0-9]+ out of range|virtio_net.*(error|fail)|virtio.*broken'
}

# snap_dirty_log PID OUT STOPFILE: every 20 ms, read the dirty log that the
# vhost-user backend PID mapped from QEMU (the "memfd:vhost-log" mapping in
# /proc/PID/maps, read through /proc/PID/mem) and add the guest page
# addresses whose bits are set (hex, one a line) to OUT, until STOPFILE
# exists or 120 s pass. QEMU clears the bits it has synced, so only the
# union of snapshots shows what the backend marks. Needs root and python3.
snap_dirty_log() {
	python3 - "$1" "$2" "$3" <<'PYEOF'
import os, sys, time
pid, out, stop = sys.argv[1:4]
pages, snaps, t_end = set(), 0, time.time() + 120
while not os.path.exists(stop) and time.time() < t_end:
    try:
        for l in open("/proc/%s/maps" % pid):
            if "vhost-log" in l:
                a, b = (int(x, 16) for x in l.split()[0].split("-"))
                with open("/proc/%s/mem" % pid, "rb") as m:
                    m.seek(a)
                    d = m.read(b - a)
                snaps += 1
                for i, byte in enumerate(d):
                    if byte:
                        for bit in range(8):
                            if byte >> bit & 1:
                                pages.add((i * 8 + bit) * 4096)
    except OSError:
        pass
    time.sleep(0.02)
with open(out, "w") as f:
    f.write("".join("%x\n" % p for p in sorted(pages)))
print("dirty log: %d snapshots, %d pages marked" % (snaps, len(pages)))
PYEOF
}

# ring_addrs NAME: "QUEUE desc|avail|used GPA" lines for each virtqueue of
# guest NAME's first virtio device (HMP info virtio-queue-status). Only for
# a stopped guest: on a running vhost device QEMU 7.2 answers this with
# GET_VRING_BASE, which stops the backend's ring.
ring_addrs() {
	rp=$(hmp "$1" "info virtio" | awk 'NR == 1 {print $1}')
	for q in 0 1; do
		hmp "$1" "info virtio-queue-status $rp $q" |
			awk -v q=$q '$1 == "desc:" || $1 == "avail:" || $1 == "used:" {sub(":", "", $1); print q, $1, $2}'
	done
}

# parallel_check WHAT NS URL BLOB N: N downloads in namespace NS at once
# (curl), each byte-exact against $TMP/BLOB.md5 (make_blob).
parallel_check() {
	pids=''
	i=0
	while [ $i -lt "$5" ]; do
		(ip netns exec "$2" curl -sS --max-time 60 "$3" | md5sum | cut -d' ' -f1 >"$TMP/par.$i") &
		pids="$pids $!"
		i=$((i + 1))
	done
	for p in $pids; do wait "$p"; done
	want=$(cat "$TMP/$4.md5")
	ok=$(cat "$TMP"/par.* | grep -c "^$want\$")
	echo "$1: $ok of $5 parallel downloads byte-exact"
	[ "$ok" -eq "$5" ] || fail "$1: only $ok of $5 parallel downloads byte-exact"
}
# udp_rcvbuf_errors [NS]: datagrams the kernel (of NS, or the host's)
# dropped for a full socket receive buffer (/proc/net/snmp RcvbufErrors).
# shellcheck disable=SC2016 # awk's $c
udp_rcvbuf_errors() {
	${1:+ip netns exec "$1"} awk '/^Udp:/ {if (!h) {for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1} else print $c}' /proc/net/snmp
}

# vqnet-tap (tools/vqnet-tap/) as the guest's NIC, for the scripts that
# set VQNET_TAP (its binary) and TA (the TAP's name).
# start_vtap NAME NS SOCK [ARGS...]: vqnet-tap on SOCK with its TAP $TA (or
# $VT_IF) in namespace NS, stdout (counters) in $TMP/NAME.out, stderr in
# $TMP/NAME.log, tracked; sets VT_PID. Exits 1 (FAIL) unless it connected
# within 10 s.
start_vtap() {
	vname=$1 vns=$2 vsock=$3
	shift 3
	"$VQNET_TAP" --socket "$vsock" --tap "${VT_IF:-$TA}" --netns "$vns" "$@" \
		>"$TMP/$vname.out" 2>"$TMP/$vname.log" </dev/null &
	VT_PID=$!
	track "$VT_PID" TERM
	if ! poll 10 "$VT_PID" grep -qs ' <-> ' "$TMP/$vname.log"; then
		cat "$TMP/$vname.log"
		echo "FAIL: vqnet-tap ($vname) did not connect"
		exit 1
	fi
}
# stop_vtap PID NAME [WANT_RC]: SIGTERM, wait; fails unless it exits
# WANT_RC (0) within 10 s. Prints its log and counters.
stop_vtap() {
	term_and_show vqnet-tap "$1" "$2" "${3:-0}" counters
}
# vt_stat NAME DIR FIELD: FIELD of vqnet-tap NAME's total DIR (rx|tx) line.
vt_stat() {
	sed -n "s/^vqnet-tap: total $2:.* $3=\([0-9]*\).*/\1/p" "$TMP/$1.out" | tail -1
}
# check_no_drops NAME: vqnet-tap NAME dropped nothing either way.
check_no_drops() {
	for d in rx tx; do
		v=$(vt_stat "$1" $d drops)
		[ "${v:-x}" = 0 ] || fail "vqnet-tap ($1) $d drops=${v:-none}"
	done
}
