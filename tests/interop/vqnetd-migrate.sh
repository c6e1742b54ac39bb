#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Interop: live migration of a QEMU guest between two vqnetd, with the guest
# receiving all the time, the proof that vqnetd's dirty log works with a
# real QEMU (7.2, TCG).
#
#   vqnetd-migrate.sh VQNETD SOURCE_DIR split|packed
#
#   vqnetd a --backend tap:vqmaPID, vqnetd b --backend tap:vqmbPID, same --mac
#   netns vqnet-mig-PID: bridge vqmbr (10.78.0.1/24) joining both TAPs;
#     iperf3 -s and a paced HTTP stream (60 MiB of random bytes, about 40 s)
#   QEMU src on vqnetd a; QEMU dst on vqnetd b with -incoming unix:SOCK
#     (same machine, 256 MiB memfd share=on, vectors=0, mac=, packed=on)
#   guest 10.78.0.2/24: steps ping,migr (migr: iperf3 -R for 40 s with
#     1 s intervals on the console, and the HTTP stream into md5sum)
#
# While the guest receives, the source monitor migrates it (migrate -d,
# polled with "info migrate"; max-bandwidth 64M, downtime-limit 1000 ms)
# while the namespace pings the guest every 50 ms. Everything vqnetd a writes into guest memory
# during the migration (receive buffers, used ring entries) reaches the
# destination only when vqnetd a logged it in QEMU's dirty bitmap.
# Checked:
#   - the migration completed, the source was paused and the destination
#     runs;
#   - iperf3 intervals with data appear on the destination's console (the
#     traffic went on after the switch), iperf3 exited 0 and its receiver
#     rate is above zero;
#   - the md5 of the stream the guest received equals the file's (receive
#     buffers written during the migration were migrated);
#   - after the migration, while the guest still receives, the namespace
#     pings it (5 answered); the destination guest powers off by itself;
#   - vqnetd a marked in QEMU's dirty log (snapshots of its mapping of the
#     log, read through /proc/PID/mem during the migration) the page of
#     each ring part the device writes: the used ring (split), the
#     descriptor ring (packed; QEMU's log_guest_addr is the device event
#     suppression area there, see README.md);
#   - no oops, warning, "bad checksum" or virtio ring error on either
#     console;
#   - both vqnetd exit 0 on SIGTERM with no errors, the rings started in the
#     format asked for (b: started from the migrated state);
#   - the guest announced itself from the destination: a RARP (vqnetd b got
#     VHOST_USER_SEND_RARP) or a gratuitous ARP (the guest's own announce,
#     VIRTIO_NET_F_GUEST_ANNOUNCE), seen on vqmbPID. Which one is reported.
# Exit 0 pass, 1 fail, 77 skip (no root, QEMU, kernel, busybox-static,
# cpio, iperf3, ip or python3).
set -u

usage="usage: vqnetd-migrate.sh VQNETD SOURCE_DIR split|packed"
VQNETD=${1:?$usage}
SRC=${2:?$usage}
FMT=${3:?$usage}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

ring_format "$FMT"
need_exec "$VQNETD"
guest_prereqs
need_iperf3
need_ip
need_python3 "the monitor, the stream"

MIGRT=40                 # seconds the guest receives (iperf3 -t)
STREAM_MB=60             # the HTTP stream, sent in about MIGRT s
MAC=52:54:00:78:00:02
setup_test mig
NS=vqnet-mig-$$
TAPA=vqma$$
TAPB=vqmb$$
BR=vqmbr

build_initramfs "$SRC" "$IPERF3"
head -c $((STREAM_MB << 20)) /dev/urandom >"$TMP/stream.bin"
want_md5=$(md5sum <"$TMP/stream.bin" | cut -d' ' -f1)

t0=$(date +%s)
start_vqnetd a 350 --backend "tap:$TAPA" --mac "$MAC" --log-level debug
A_PID=$VQNETD_PID
start_vqnetd b 350 --backend "tap:$TAPB" --mac "$MAC" --log-level debug
B_PID=$VQNETD_PID
wait_taps "$TAPA" "$TAPB"

make_netns "$NS"
ip -n "$NS" link add "$BR" type bridge forward_delay 0 stp_state 0 || { echo "FAIL: cannot create a bridge"; exit 1; }
for t in "$TAPA" "$TAPB"; do
	move_to_netns "$NS" "$t"
	ip -n "$NS" link set "$t" master "$BR" up
done
ns_up "$NS" "$BR" 10.78.0.1/24
start_iperf3_server "$NS" 10.78.0.1

# The stream: one HTTP/1.0 GET of stream.bin, paced to about MIGRT s.
rate=$(((STREAM_MB << 20) / MIGRT))
ip netns exec "$NS" "$PYTHON" -c '
import socket, sys, time
path, port_file, rate = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.78.0.1", 0))
s.listen(1)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os; os.rename(port_file + ".tmp", port_file)
data = open(path, "rb").read()
c, _ = s.accept()
c.recv(4096)
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(data))
t0 = time.time()
for i in range(0, len(data), 65536):
    c.sendall(data[i:i + 65536])
    d = t0 + (i + 65536) / rate - time.time()
    if d > 0:
        time.sleep(d)
c.close()
print("stream: sent %d bytes in %.1f s" % (len(data), time.time() - t0))
' "$TMP/stream.bin" "$TMP/stream.port" "$rate" >"$TMP/stream.log" 2>&1 </dev/null &
track $! TERM
poll 10 '' test -s "$TMP/stream.port" || { cat "$TMP/stream.log"; echo "FAIL: the stream server did not start"; exit 1; }
URL="http://10.78.0.1:$(cat "$TMP/stream.port")/stream.bin"

# Announcements from the destination: RARP (0x8035) and ARP (0x0806) frames
# the guest's MAC sent into vqmbPID (not those the namespace sent out).
ip netns exec "$NS" "$PYTHON" -c '
import ctypes, select, socket, struct, sys, time
ifname, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
# ETH_P_ALL: the bridge takes frames from its ports before protocol
# handlers see them. A classic BPF filter keeps only RARP and ARP.
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
prog = [(0x28, 0, 0, 12), (0x15, 2, 0, 0x8035), (0x15, 1, 0, 0x0806),
        (0x06, 0, 0, 0), (0x06, 0, 0, 0xffff)]
buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
s.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", len(prog), ctypes.addressof(buf)))
s.bind((ifname, 3))
print("listening", flush=True)
t0 = time.time()
while True:
    f, a = s.recvfrom(2048)
    if a[2] == socket.PACKET_OUTGOING or f[6:12] != mac:
        continue
    et = int.from_bytes(f[12:14], "big")
    if et == 0x8035:
        print("%.1f RARP op=%d" % (time.time() - t0, int.from_bytes(f[20:22], "big")), flush=True)
    elif et == 0x0806:
        spa, tpa = f[28:32], f[38:42]
        kind = "gratuitous" if spa == tpa else "request/reply"
        print("%.1f ARP op=%d %s sender=%s target=%s" % (time.time() - t0,
              int.from_bytes(f[20:22], "big"), kind, socket.inet_ntoa(spa), socket.inet_ntoa(tpa)), flush=True)
' "$TAPB" "$MAC" >"$TMP/announce.log" 2>&1 </dev/null &
SNIFF_PID=$!
track "$SNIFF_PID" TERM

APPEND="vqnet.steps=ping,migr vqnet.ip=10.78.0.2/24 vqnet.peer=10.78.0.1 vqnet.migrt=$MIGRT vqnet.url=$URL"
GUEST_NIC="$NIC,mac=$MAC" GUEST_TIMEOUT=300 start_mig_guest src "$TMP/a.sock" "$APPEND"
SRC_PID=$GUEST_PID
GUEST_NIC="$NIC,mac=$MAC" GUEST_TIMEOUT=300 start_mig_guest dst "$TMP/b.sock" "$APPEND" "unix:$TMP/mig.sock"
DST_PID=$GUEST_PID

result() {
	# show everything, then the verdict
	echo "---- migration (source: info migrate)"
	cat "$TMP/src.migrate" 2>/dev/null
	for g in src dst; do
		show_guest $g
	done
	show_iperf3_server
	show_log "stream server" "$TMP/stream.log"
	show_log "announcements seen on $TAPB" "$TMP/announce.log"
	echo "----"
}

migrated=0
if ! wait_console src 'VQNET-GUEST step migr running' 180 "$SRC_PID"; then
	fail "the source guest never started receiving"
elif ! wait_console src 'Mbits/sec' 30 "$SRC_PID"; then
	fail "no iperf3 interval on the source console"
else
	# Let the receive traffic run a while, then migrate.
	sleep 4
	ip netns exec "$NS" "$BUSYBOX" ping -q -i 0.05 10.78.0.2 >"$TMP/ping-during.log" 2>&1 </dev/null &
	PING_PID=$!
	track "$PING_PID" INT
	a_lines=$(wc -l <"$TMP/a.log")
	hmp src "migrate_set_parameter max-bandwidth 64M" >/dev/null
	hmp src "migrate_set_parameter downtime-limit 1000" >/dev/null
	snap_dirty_log "$A_PID" "$TMP/logged.pages" "$TMP/snap.stop" >"$TMP/snap.log" 2>&1 &
	SNAP_PID=$!
	track "$SNAP_PID" TERM
	tm0=$(date +%s)
	hmp src "migrate -d unix:$TMP/mig.sock" >"$TMP/migrate-cmd.log" 2>&1
	cat "$TMP/migrate-cmd.log"
	if wait_migration src 150; then
		migrated=1
		tm1=$(date +%s)
		echo "migration completed after $((tm1 - tm0)) s"
		echo "source: $(hmp src 'info status')"
		echo "destination: $(hmp dst 'info status')"
		hmp dst 'info status' | grep -q 'running' || fail "the destination is not running after the migration"
		hmp src 'info status' | grep -q 'postmigrate' || fail "the source is not paused (postmigrate) after the migration"
		echo "---- vqnetd a during the migration (log lines after migrate)"
		tail -n +$((a_lines + 1)) "$TMP/a.log"
		: >"$TMP/snap.stop"
		wait "$SNAP_PID"
		untrack "$SNAP_PID"
		cat "$TMP/snap.log"
		# The source is paused and its rings stopped: it can tell where
		# they are without stopping them (see ring_addrs).
		ring_addrs src >"$TMP/rings.txt"
		# The source has nothing left to do.
		hmp src quit >/dev/null 2>&1
		wait "$SRC_PID"
		rc=$?
		untrack "$SRC_PID"
		[ $rc -eq 0 ] || fail "the source QEMU exited with $rc after quit"
	else
		fail "the migration did not complete"
		hmp src 'migrate_cancel' >/dev/null 2>&1
	fi
	sleep 2
	stop_tracked "$PING_PID" INT 5
	show_log "namespace -> guest, ping -i 0.05 during the migration" "$TMP/ping-during.log"
fi

if [ $migrated -eq 1 ]; then
	# The guest still receives (step migr): the destination answers pings.
	ns_ping "$NS" 10.78.0.2 5 ping-after "namespace -> guest, after the migration" ||
		fail "namespace -> guest ping after the migration failed"
	grep -aq 'VQNET-GUEST step migr' "$TMP/dst.console" &&
		fail "the guest had stopped receiving before the ping after the migration (raise MIGRT)"
	wait_guest "$DST_PID" dst
else
	stop_tracked "$DST_PID" TERM 5
fi
t1=$(date +%s)
stop_tracked "$SNIFF_PID" TERM 5
stop_vqnetd "$A_PID" a
stop_vqnetd "$B_PID" b
result

# The guest's work: on the destination console, after the switch.
if [ $migrated -eq 1 ]; then
	check_steps dst migr
	grep -aq '^VQNET-GUEST step ping ok' "$TMP/src.console" || fail "guest: step ping did not succeed"
	after=$(tr -d '\r' <"$TMP/dst.console" | grep -aE '^\[ *[0-9]+\] +[0-9.]+-[0-9.]+ +sec .* Mbits/sec *$' | grep -c .)
	after_data=$(tr -d '\r' <"$TMP/dst.console" | grep -aE '^\[ *[0-9]+\] +[0-9.]+-[0-9.]+ +sec .* Mbits/sec *$' |
		awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec" && $i + 0 > 0) n++} END {print n + 0}')
	before=$(tr -d '\r' <"$TMP/src.console" | grep -aE '^\[ *[0-9]+\] +[0-9.]+-[0-9.]+ +sec .* Mbits/sec *$' | grep -c .)
	echo "iperf3 intervals: $before on the source, $after on the destination ($after_data with data)"
	[ "$after_data" -ge 3 ] || fail "fewer than 3 iperf3 intervals with data after the switch"
	mbps=$(guest_val dst migr mbps)
	md5=$(guest_val dst migr md5)
	echo "iperf3 -R over the migration: ${mbps:-?} Mbit/s; stream md5 ${md5:-?} (want $want_md5)"
	awk -v r="$mbps" 'BEGIN {exit !(r + 0 > 0)}' || fail "iperf3 rate '$mbps' is not above zero"
	[ "$md5" = "$want_md5" ] || fail "the stream the guest received has md5 '$md5', not $want_md5"
	check_guest_ring dst "$FMT"
	# QEMU's dirty log is a bitmap of guest physical pages; QEMU syncs it
	# page by page into its own dirty bitmap. The device's ring writes
	# are in the used ring (split) and in the descriptor ring (packed:
	# used descriptors overwrite available ones there). Those pages must
	# be among the ones vqnetd a marked.
	echo "---- rings (source, after the migration): pages vqnetd a marked in the dirty log"
	want_part=used
	[ "$FMT" = packed ] && want_part=desc
	if grep -q 'dirty log: 0 snapshots' "$TMP/snap.log" || [ ! -s "$TMP/snap.log" ]; then
		echo "note: could not read vqnetd a's dirty log (/proc/PID/mem): ring pages not checked"
		: >"$TMP/rings.txt"
	else
		[ -s "$TMP/logged.pages" ] || fail "vqnetd a marked no page in the dirty log"
		[ -s "$TMP/rings.txt" ] || fail "could not read the ring addresses (info virtio-queue-status)"
	fi
	while read -r q part gpa; do
		pg=$(printf '%x' $((gpa & ~4095)))
		m=no
		grep -qx "$pg" "$TMP/logged.pages" && m=yes
		echo "queue $q $part $gpa: page 0x$pg marked=$m"
		[ "$part" = "$want_part" ] && [ $m = no ] &&
			fail "vqnetd a never marked queue $q's $part page 0x$pg in the dirty log (the device writes the $FMT ring there)"
	done <"$TMP/rings.txt"
	# Announce: RARP from vqnetd b (SEND_RARP) or the guest's gratuitous ARP.
	if grep -q ' RARP ' "$TMP/announce.log"; then
		echo "announce: RARP from vqnetd b (QEMU sent VHOST_USER_SEND_RARP)"
	elif grep -q 'gratuitous' "$TMP/announce.log"; then
		echo "announce: gratuitous ARP from the guest (GUEST_ANNOUNCE; QEMU sent no SEND_RARP)"
	elif grep -q '^listening' "$TMP/announce.log"; then
		fail "no announcement (RARP or gratuitous ARP) from the destination"
	else
		echo "note: the announcement sniffer did not run"
	fi
fi
for g in src dst; do
	p=$(console_problems $g)
	[ -z "$p" ] || fail "guest console ($g) shows: $(echo "$p" | head -3)"
done
check_vqnetd a "$FMT" 0 1
check_vqnetd b "$FMT" 0 1
echo "vqnetd a: rxq0 packets=$(vq_stat a rxq0 packets) txq0 packets=$(vq_stat a txq0 packets)"
echo "vqnetd b: txq0 packets=$(vq_stat b txq0 packets)"
# b delivered to the guest after the switch.
check_vq_moved b rxq0
grep -iE 'log|rarp|announce' "$TMP/a.log" "$TMP/b.log" | grep -v '^.*features' ||
	echo "note: vqnetd logs nothing about dirty logging (SET_LOG_BASE, LOG_ALL) or SEND_RARP"
echo "$FMT: ran $((t1 - t0)) s"
finish "$FMT"
