#!/usr/bin/env bash
# Bare vqnet rings against DPDK's whole vhost-user path, measured alternately
# in one run (A B A B ...), medians and ratios at the end.
#
#   bench/ring-vs-dpdk.sh [ROUNDS] [SECONDS]      (default 3 rounds of 5 s)
#
# DPDK side: dpdk-testpmd with net_vhost (rxonly, CPU 0) fed by dpdk-testpmd
# with net_virtio_user (txonly, 64-byte frames, CPU 1), split then packed
# ring; its rate is the vhost side's Rx-pps, median of the per-second
# readings after a 2 s warm-up. vqnet side: vqnet-ring-bench, driver thread
# on CPU 1, device thread on CPU 0, same queue size (256), ring only.
# The work is not equal — DPDK moves packets (mbufs, headers, counters),
# vqnet's row is the ring alone — and that is the point: the ring is the
# floor under everything built on it, so it must sit well above DPDK's whole
# path. Needs root (hugepages). Stops every process it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-5}
bench=build-release/bench/vqnet-ring-bench
work=$(mktemp -d /tmp/vqnet-vs-dpdk.XXXXXX)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work" /dev/hugepages/vqbench* 2>/dev/null || true
}
trap cleanup EXIT INT TERM

scripts/deps.sh build
dpkg-query -W -f='${Status}' dpdk-dev 2>/dev/null | grep -q "install ok installed" || {
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpdk-dev >/dev/null
}
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release -Db_lto=true -Dtests=false >/dev/null
ninja -C build-release >/dev/null
if pgrep -x dpdk-testpmd >/dev/null; then
	echo "ring-vs-dpdk: a dpdk-testpmd is already running; stop it first (it would halve every number)" >&2
	exit 1
fi
[ "$(cat /proc/sys/vm/nr_hugepages)" -ge 1024 ] || echo 1024 >/proc/sys/vm/nr_hugepages
mountpoint -q /dev/hugepages || { mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages; }

# dpdk_run FORMAT -> prints the median Rx-pps in Mpps
dpdk_run() {
	local packed=0 sock=$work/vh.sock
	[ "$1" = packed ] && packed=1
	rm -f "$sock"
	taskset -c 0 dpdk-testpmd --lcores '0@0,1@0' --no-pci --single-file-segments \
		--file-prefix=vqbench-vh -m 512 --vdev "net_vhost0,iface=$sock,queues=1" -- \
		--forward-mode=rxonly --stats-period 1 --nb-cores=1 --rxd=256 --txd=256 \
		>"$work/vh.log" 2>&1 &
	local vh=$!
	pids+=("$vh")
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	timeout $((secs + 3)) taskset -c 1 dpdk-testpmd --lcores '0@1,1@1' --no-pci \
		--single-file-segments --file-prefix=vqbench-vu -m 512 \
		--vdev "net_virtio_user0,path=$sock,queues=1,packed_vq=$packed,queue_size=256" -- \
		--forward-mode=txonly --txpkts=64 --stats-period 1 --nb-cores=1 --rxd=256 --txd=256 \
		>"$work/vu.log" 2>&1 || true
	kill "$vh" 2>/dev/null || true
	wait "$vh" 2>/dev/null || true
	python3 - "$work/vh.log" <<'PY'
import re, statistics, sys
v = [int(m) for m in re.findall(r"Rx-pps:\s+(\d+)", open(sys.argv[1]).read())]
v = [x for x in v[2:] if x > 0]
print(f"{statistics.median(v) / 1e6:.2f}" if v else "nan")
PY
}

# vqnet_run FORMAT -> JSON lines of the four rows
vqnet_run() {
	"$bench" "--$1" --seconds 1 --runs "$secs" --json
	"$bench" "--$1" --seconds 1 --runs "$secs" --json --in-order | sed 's/"format":"\([a-z]*\)"/"format":"\1+in-order"/'
}

for r in $(seq "$rounds"); do
	for f in split packed; do
		echo "round $r: dpdk $f" >&2
		echo "dpdk $f $(dpdk_run $f)" >>"$work/results"
		echo "round $r: vqnet $f" >&2
		vqnet_run $f | sed 's/^/vqnet /' >>"$work/results"
	done
done

python3 - "$work/results" "$rounds" "$secs" <<'PY'
import json, statistics, sys
dpdk, vq = {}, {}
for line in open(sys.argv[1]):
    kind, rest = line.split(" ", 1)
    if kind == "dpdk":
        f, v = rest.split()
        if v != "nan":
            dpdk.setdefault(f, []).append(float(v))
    else:
        j = json.loads(rest)
        vq.setdefault((j["format"], j["descs_per_chain"], j["burst"]), []).append(j["mdesc_per_s"])
print(f"ring-vs-dpdk: {sys.argv[2]} alternating rounds, {sys.argv[3]} s each, queue 256")
print(f"{'vqnet ring':16} {'DPDK Mpps':>10} {'chain shape':>25} {'Mdesc/s':>8} {'ratio':>6}")
for f in ("split", "packed"):
    d = statistics.median(dpdk[f]) if f in dpdk else float("nan")
    for (ff, c, b), v in sorted(vq.items()):
        if ff.split("+")[0] != f:
            continue
        f_label = ff
        m = statistics.median(v)
        print(f"{f_label:16} {d:10.2f} {f'{c} desc, burst {b}':>25} {m:8.1f} {m / d:6.2f}")
PY
