#!/usr/bin/env bash
# Install what vqnet needs on Debian 12, only what is missing (idempotent).
# Usage: scripts/deps.sh [build|test|bench]   (default: build)
set -euo pipefail
want=(meson ninja-build gcc pkg-config libslirp-dev libglib2.0-dev libseccomp-dev libsystemd-dev libpcap-dev libjson-c-dev liburing-dev)
case "${1:-build}" in
test) want+=(libcmocka-dev clang clang-format clang-tools-14 libclang-rt-14-dev libtsan2 llvm dpdk-dev qemu-system-x86 linux-image-amd64 busybox-static cpio kmod iperf3 iproute2 groff-base systemd binutils tcpdump python3-prometheus-client curl) ;;
bench) want+=(libcmocka-dev iperf3 sockperf iproute2 iputils-ping dpdk-dev make) ;; # make: passt from source (bench/backends PASST_SRC)
build) ;;
*) echo "deps.sh: unknown set '$1' (build|test|bench)" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "deps.sh: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
