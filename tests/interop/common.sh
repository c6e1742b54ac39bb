# SPDX-License-Identifier: MIT
#
# Shared by the interop scripts, sourced at their start. Three groups:
#  - vu-loop-dev (dpdk-virtio-user.sh, qemu-guest.sh): after DEV, FMT and
#    DEV_ARGS are set; the functions that touch the device also use TMP,
#    SOCK, DEV_PID and status, set by the caller;
#  - guests and vqnetd (qemu-guest.sh, vqnetd-*.sh): guest_prereqs,
#    build_initramfs, start_vqnetd/stop_vqnetd and the vq_* readers of its
#    output, start_guest/wait_guest and the readers of the guest console,
#    track + cleanup_all (every process started, every netns made);
#  - DPDK (dpdk-virtio-user.sh, vqnetd-dpdk.sh): dpdk_prereqs and testpmd.
# Functions share the caller's variables (POSIX sh has no locals): their
# scratch names are short (n, rc, name, ...); callers use longer ones.
# shellcheck shell=sh disable=SC2034 # dev_rc, frames, drops, errors: for the caller

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	status=1
}

# stop_pid PID SIGNAL SECONDS: signal a process we started and wait for it,
# killing it (and, for timeout(1), its child) when it does not go.
stop_pid() {
	pid=$1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -s "$2" "$pid" 2>/dev/null
	n=0
	while kill -0 "$pid" 2>/dev/null && [ "$n" -lt $(($3 * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		for c in $(pgrep -P "$pid"); do
			kill -9 "$c" 2>/dev/null
		done
		kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# start_dev SECONDS: start vu-loop-dev ($DEV $DEV_ARGS) on $SOCK for at most
# SECONDS, its output in $TMP/dev.log; sets DEV_PID. Exits 1 (FAIL) when the
# socket does not appear within 10 s.
start_dev() {
	# shellcheck disable=SC2086
	"$DEV" --socket "$SOCK" $DEV_ARGS --seconds "$1" >"$TMP/dev.log" 2>&1 &
	DEV_PID=$!
	n=0
	while [ ! -S "$SOCK" ] && [ $n -lt 100 ]; do
		kill -0 "$DEV_PID" 2>/dev/null || break
		sleep 0.1
		n=$((n + 1))
	done
	if [ ! -S "$SOCK" ]; then
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

# Processes to stop and namespaces to delete on exit, newest first.
TRACKED=
NETNS_LIST=
# track PID SIGNAL: stop_pid PID SIGNAL 5 in cleanup_all.
track() {
	TRACKED="$1:$2 $TRACKED"
}
untrack() {
	TRACKED=$(echo "$TRACKED" | tr ' ' '\n' | grep -v "^$1:" | tr '\n' ' ')
}
# cleanup_all: stop every tracked process (the newest first: guests and
# testpmd before vqnetd), delete the namespaces, remove $TMP. For the EXIT
# trap.
cleanup_all() {
	for e in $TRACKED; do
		stop_pid "${e%%:*}" "${e#*:}" 5
	done
	TRACKED=
	for ns in $NETNS_LIST; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns delete "$ns" 2>/dev/null
	done
	NETNS_LIST=
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
}

# serve_blob SIZE ADDR [NETNS]: SIZE random bytes in $TMP/www/blob (sets
# WANT_MD5) served over HTTP on ADDR by python3 ($PYTHON) http.server, in
# network namespace NETNS when given, on a port the kernel picks (sets
# PORT; the server prints it). Exits 1 (FAIL) when it does not start.
serve_blob() {
	addr=$2
	mkdir -p "$TMP/www"
	head -c "$1" /dev/urandom >"$TMP/www/blob"
	WANT_MD5=$(md5sum <"$TMP/www/blob" | cut -d' ' -f1)
	# The command prefix: into NETNS, or nothing.
	if [ -n "${3:-}" ]; then set -- ip netns exec "$3"; else set --; fi
	"$@" "$PYTHON" -u -m http.server --bind "$addr" --directory "$TMP/www" 0 \
		>"$TMP/http.log" 2>&1 </dev/null &
	track $! TERM
	n=0
	while ! grep -qs 'port [0-9]' "$TMP/http.log" && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$TMP/http.log" | head -1)
	[ -n "$PORT" ] || { cat "$TMP/http.log"; echo "FAIL: the HTTP server did not start"; exit 1; }
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

# wait_socket PATH PID SECONDS: true once PATH is a socket; false when PID
# exits first or SECONDS pass.
wait_socket() {
	n=0
	while [ ! -S "$1" ] && [ $n -lt $(($3 * 10)) ]; do
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
		n=$((n + 1))
	done
	[ -S "$1" ]
}

# start_vqnetd NAME SECONDS [ARGS...]: start $VQNETD listening on
# $TMP/NAME.sock with --log-level info --seconds SECONDS (a hang guard) and
# ARGS; stdout (the final counts) in $TMP/NAME.out, stderr (the log) in
# $TMP/NAME.log. Sets VQNETD_PID. Exits 1 (FAIL) when the socket does not
# appear within 10 s.
start_vqnetd() {
	name=$1 secs=$2
	shift 2
	"$VQNETD" --socket "$TMP/$name.sock" --log-level info --seconds "$secs" "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.log" </dev/null &
	VQNETD_PID=$!
	track "$VQNETD_PID" TERM
	if ! wait_socket "$TMP/$name.sock" "$VQNETD_PID" 10; then
		echo "---- vqnetd $name: $VQNETD --socket $TMP/$name.sock --log-level info --seconds $secs $*"
		cat "$TMP/$name.log" "$TMP/$name.out"
		echo "FAIL: vqnetd ($name) did not create its socket"
		exit 1
	fi
}

# stop_vqnetd PID NAME: SIGTERM (it prints its counts) and wait; fails the
# test unless it exits 0 within 10 s. Prints its log and counts.
stop_vqnetd() {
	kill -s TERM "$1" 2>/dev/null
	n=0
	while kill -0 "$1" 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		fail "vqnetd ($2) did not exit within 10 s of SIGTERM"
		kill -9 "$1" 2>/dev/null
	fi
	wait "$1"
	rc=$?
	untrack "$1"
	echo "---- vqnetd $2 (log)"
	cat "$TMP/$2.log"
	echo "---- vqnetd $2 (counts)"
	cat "$TMP/$2.out"
	[ $rc -eq 0 ] || fail "vqnetd ($2) exited with $rc"
}

# vq_stat NAME QUEUE FIELD: FIELD (packets, bytes, drops, errors) of the
# queue named QUEUE (rxq0, txq1, ...) in vqnetd NAME's final counts; empty
# when there is no such line.
vq_stat() {
	sed -n "s/^vqnetd: queue [0-9]* $2:.* $3=\([0-9]*\).*/\1/p" "$TMP/$1.out" | tail -1
}
# vq_total NAME FIELD: FIELD of vqnetd NAME's total line.
vq_total() {
	sed -n "s/^vqnetd: total.* $2=\([0-9]*\).*/\1/p" "$TMP/$1.out" | tail -1
}
# vq_features NAME: the feature names of vqnetd NAME's last features line.
vq_features() {
	grep '^vqnetd: features ' "$TMP/$1.log" | tail -1 | cut -d' ' -f4-
}
# check_vq_started NAME FMT QUEUE...: each QUEUE (a number) started at least
# once in ring format FMT.
check_vq_started() {
	name=$1 fmt=$2
	shift 2
	for q in "$@"; do
		grep -q "^vqnetd: queue $q started: $fmt ring" "$TMP/$name.log" ||
			fail "vqnetd ($name): queue $q never started as a $fmt ring"
	done
}
# check_vq_packed NAME FMT: RING_PACKED negotiated for packed, not for split.
check_vq_packed() {
	grep -q '^vqnetd: features ' "$TMP/$1.log" || { fail "vqnetd ($1) logged no features line"; return; }
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
	n=0
	while ! grep -aqE "$2" "$TMP/$1.console" 2>/dev/null && [ $n -lt $(($3 * 10)) ]; do
		kill -0 "$4" 2>/dev/null || break
		sleep 0.1
		n=$((n + 1))
	done
	grep -aqE "$2" "$TMP/$1.console" 2>/dev/null
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
# DPDK (dpdk-virtio-user.sh, vqnetd-dpdk.sh).

# dpdk_prereqs: skip (77) unless root, dpdk-testpmd and 256 free 2 MB huge
# pages on a hugetlbfs at /dev/hugepages (raises vm.nr_hugepages to 1024
# and mounts it when needed). Sets TESTPMD.
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
	free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	[ "${free:-0}" -ge 256 ] || skip "only ${free:-0} free huge pages (need 256 x 2 MB)"
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
	n=0
	while ! grep -qs 'Port statistics' "$1" && [ $n -lt 150 ]; do
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
		n=$((n + 1))
	done
	grep -qs 'Port statistics' "$1" && return 0
	tail -20 "$1"
	# EAL could not get its memory (huge pages taken by someone else)
	grep -Eqs 'Cannot get hugepage information|Cannot init memory|Not enough memory' "$1" &&
		skip "DPDK EAL could not set up its huge page memory"
	return 1
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
