#!/bin/sh
# SPDX-License-Identifier: MIT
#
# What `meson install` puts in place works as a package (docs/vqnetd.md
# "Installing"): the build is installed into a scratch DESTDIR and checked
# from there, with the tools a packager or user would use.
#
#   check-install.sh BUILD_DIR SOURCE_DIR
#
#  - the files: vqnetd and vqnetctl (sbin), vqnet-perf, vqnet-tap, libvqnet.so.MAJOR (a soname
#    link to the versioned file) and libvqnet.a, every public header and
#    version.h, vqnet.pc, the man pages vqnetd(8), vqnetctl(8), vqnet-perf(1), vqnet-tap(1),
#    libvqnet(3), the systemd units;
#  - version.h, vqnet.pc, the man pages and `vqnetd -V` / `vqnetctl -V` /
#    `vqnet-perf -V` / `vqnet-tap -V`
#    all say the project's version;
#  - pkg-config: examples/hello.c builds against the installed headers and
#    library, shared and static, and runs against the installed vqnetd
#    (loop backend): the frame comes back; vqnetctl status answers;
#  - man pages: groff reports nothing (-ww) and every long option of each
#    program's --help is in its page;
#  - systemd: `systemd-analyze verify` accepts the units (with ExecStart
#    pointed at the staged vqnetd) without a word, and `systemd-analyze
#    security --offline` rates the service (printed, for docs/vqnetd.md).
# Exit 0 pass, 1 fail, 77 skip (no pkg-config, cc, groff or systemd-analyze).
set -u
B=$(cd "${1:?usage: check-install.sh BUILD_DIR SOURCE_DIR}" && pwd)
S=$(cd "${2:?usage: check-install.sh BUILD_DIR SOURCE_DIR}" && pwd)
for t in pkg-config cc groff systemd-analyze nm; do
	command -v $t >/dev/null || { echo "SKIP: no $t"; exit 77; }
done
D=$(mktemp -d /tmp/vqnet-install.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

version=$(meson introspect --projectinfo "$B" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
meson install -C "$B" --destdir "$D/root" --no-rebuild --quiet >"$D/install.log" 2>&1 ||
	{ cat "$D/install.log"; echo "FAIL: meson install"; exit 1; }
R=$D/root
find1() { find "$R" -path "*$1" | head -1; }

for f in sbin/vqnetd sbin/vqnetctl bin/vqnet-perf bin/vqnet-tap include/vqnet/vnet_drv.h include/vqnet/net_dev.h \
	include/vqnet/version.h pkgconfig/vqnet.pc libvqnet.a "libvqnet.so.${version%%.*}" \
	"libvqnet.so.$version" man8/vqnetd.8 man8/vqnetctl.8 man1/vqnet-perf.1 man1/vqnet-tap.1 man3/libvqnet.3 \
	systemd/system/vqnetd@.service systemd/system/vqnetd@.socket; do
	[ -n "$(find1 "/$f")" ] || fail "not installed: $f"
done
for h in "$S"/include/vqnet/*.h; do
	[ -n "$(find1 "/include/vqnet/$(basename "$h")")" ] || fail "header not installed: $(basename "$h")"
done
[ $fails -eq 0 ] || exit 1

vqnetd=$(find1 /sbin/vqnetd)
ctl=$(find1 /sbin/vqnetctl)
perf=$(find1 /bin/vqnet-perf)
vtap=$(find1 /bin/vqnet-tap)
pc=$(find1 /pkgconfig/vqnet.pc)
libdir=$(dirname "$(find1 "/libvqnet.so.$version")")
soname=$(objdump -p "$libdir/libvqnet.so.$version" 2>/dev/null | awk '/SONAME/ {print $2}')
[ "$soname" = "libvqnet.so.${version%%.*}" ] || fail "soname '$soname'"
grep -q "\"$version\"" "$(find1 /include/vqnet/version.h)" || fail "version.h is not $version"
"$vqnetd" -V | grep -qx "vqnetd $version" || fail "vqnetd -V: $("$vqnetd" -V)"
"$perf" -V | grep -qx "vqnet-perf $version" || fail "vqnet-perf -V"
"$vtap" -V | grep -qx "vqnet-tap $version" || fail "vqnet-tap -V"
"$ctl" -V | grep -qx "vqnetctl $version" || fail "vqnetctl -V: $("$ctl" -V)"

# pkg-config as a user would, pointed at the staged tree.
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$R
[ "$(pkg-config --modversion vqnet)" = "$version" ] || fail "vqnet.pc version"
cc -o "$D/hello" "$S/examples/hello.c" $(pkg-config --cflags --libs vqnet) ||
	fail "hello does not build against the shared library"
cc -o "$D/hello-static" "$S/examples/hello.c" $(pkg-config --static --cflags vqnet) \
	"$libdir/libvqnet.a" $(pkg-config --static --libs-only-l --libs-only-other vqnet | sed 's/-lvqnet//') ||
	fail "hello does not build against the static library"
nm -D "$D/hello-static" 2>/dev/null | grep -q "vnet_drv_open" && fail "hello-static imports vnet_drv_open"

sock=$D/vq.sock
"$vqnetd" --socket "$sock" --backend loop --sandbox off >"$D/vqnetd.out" 2>"$D/vqnetd.err" &
pid=$!
n=0
while [ ! -S "$sock" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
for h in hello hello-static; do
	[ -x "$D/$h" ] || continue
	out=$(LD_LIBRARY_PATH=$libdir "$D/$h" "$sock" 2>&1) || fail "$h: $out"
	echo "$out" | grep -q "received 60 bytes" || fail "$h: no frame back: $out"
	echo "$h (installed library) against the installed vqnetd: $(echo "$out" | head -1)"
done
"$ctl" --socket "$sock" status | grep -q "^backend: loop" ||
	fail "vqnetctl status against the installed vqnetd"
kill "$pid"
wait "$pid" || fail "vqnetd exited $?"
pid=

# Man pages: no groff warning, every long option of --help documented.
for page in man8/vqnetd.8:"$vqnetd" man8/vqnetctl.8:"$ctl" man1/vqnet-perf.1:"$perf" \
	man1/vqnet-tap.1:"$vtap"; do
	m=$(find1 "/${page%%:*}")
	w=$(LC_ALL=C.UTF-8 groff -man -ww -z "$m" 2>&1)
	[ -z "$w" ] || fail "groff on $(basename "$m"): $w"
	grep -q "vqnet $version" "$m" || fail "$(basename "$m") does not say version $version"
	for opt in $("${page#*:}" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$(echo "$opt" | sed 's/-/\\\\-/g')" "$m" || fail "$(basename "$m") lacks $opt"
	done
done
w=$(LC_ALL=C.UTF-8 groff -man -ww -z "$(find1 /man3/libvqnet.3)" 2>&1)
[ -z "$w" ] || fail "groff on libvqnet.3: $w"

# systemd: the units verify cleanly; the service's exposure rating.
u=$D/units
mkdir -p "$u"
sed "s|^ExecStart=[^ ]*|ExecStart=$vqnetd|" "$(find1 /systemd/system/vqnetd@.service)" >"$u/vqnetd@.service"
cp "$(find1 /systemd/system/vqnetd@.socket)" "$u/"
w=$(cd "$u" && systemd-analyze verify --man=no ./vqnetd@demo.service ./vqnetd@demo.socket 2>&1)
[ -z "$w" ] || fail "systemd-analyze verify: $w"
(cd "$u" && systemd-analyze security --offline=yes --no-pager ./vqnetd@.service 2>/dev/null | tail -1)

[ $fails -eq 0 ] && echo "PASS" && exit 0
exit 1
