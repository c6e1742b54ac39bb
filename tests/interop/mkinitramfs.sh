#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the initramfs of the interop test guest (qemu-guest.sh):
#
#   mkinitramfs.sh OUT.cpio.gz KERNEL_VERSION GUEST_INIT [BINARY...]
#
# Contents: busybox (static, Debian busybox-static) as /bin/busybox,
# GUEST_INIT as /init, and the kernel's virtio-pci and virtio-net modules
# with their dependencies (modprobe --show-depends against
# /lib/modules/KERNEL_VERSION, decompressed when the kernel ships them
# compressed) listed in load order in /modules.order. Each BINARY (e.g.
# /usr/bin/iperf3) is copied to the same path with the shared libraries and
# the dynamic loader that ldd lists for it.
set -eu
OUT=${1:?usage: mkinitramfs.sh OUT.cpio.gz KERNEL_VERSION GUEST_INIT}
KVER=${2:?usage: mkinitramfs.sh OUT.cpio.gz KERNEL_VERSION GUEST_INIT}
INIT=${3:?usage: mkinitramfs.sh OUT.cpio.gz KERNEL_VERSION GUEST_INIT}
BUSYBOX=${BUSYBOX:-/bin/busybox}

file "$BUSYBOX" 2>/dev/null | grep -q 'dynamically linked' &&
	{ echo "mkinitramfs: $BUSYBOX is not static (Debian: busybox-static)" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/vqnet-initramfs.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/bin" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/lib/modules"
cp "$BUSYBOX" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
cp "$INIT" "$ROOT/init"
chmod 755 "$ROOT/init" "$ROOT/bin/busybox"
: >"$ROOT/modules.order"
for m in virtio_pci virtio_net; do
	modprobe -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | while read -r ko; do
	name=$(basename "$ko")
	name=${name%.xz}
	name=${name%.zst}
	name=${name%.gz}
	[ -e "$ROOT/lib/modules/$name" ] && continue
	case $ko in
	*.xz) xz -dc "$ko" >"$ROOT/lib/modules/$name" ;;
	*.zst) zstd -qdc "$ko" >"$ROOT/lib/modules/$name" ;;
	*.gz) gzip -dc "$ko" >"$ROOT/lib/modules/$name" ;;
	*) cp "$ko" "$ROOT/lib/modules/$name" ;;
	esac
	echo "$name" >>"$ROOT/modules.order"
done
shift 3
for bin in "$@"; do
	[ -x "$bin" ] || { echo "mkinitramfs: no executable $bin" >&2; exit 1; }
	# ldd lines: "libx.so => /path (addr)", "/lib64/ld-linux... (addr)",
	# "linux-vdso.so.1 (addr)" (no file).
	for f in "$bin" $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		mkdir -p "$ROOT$(dirname "$f")"
		cp -L "$f" "$ROOT$f"
	done
done
[ -s "$ROOT/modules.order" ] || { echo "mkinitramfs: no virtio modules for $KVER" >&2; exit 1; }
(cd "$ROOT" && find . | cpio -o -H newc --quiet) | gzip -1 >"$OUT"
