#!/usr/bin/env bash
# vqnet's main job: serve a virtio-net device to a VM with user-mode
# networking (vqnetd's user backend: NAT by socket translation, each flow
# of the guest a socket of the host; DHCP, DNS, IPv6; no root needed for
# vqnetd itself). `--backend slirp` runs libslirp instead.
# Installs what it needs (apt), builds optimised, prints the QEMU command
# line that attaches a VM, and runs vqnetd in the foreground until Ctrl-C
# (it then prints its counters).
#
#   scripts/run.sh [VQNETD OPTIONS...]     e.g. --hostfwd tcp:2222:22 --queues 2
#
# The socket is $VQNET_SOCKET (default: $XDG_RUNTIME_DIR/vqnet.sock, else
# /tmp/vqnet-$UID.sock). Options given here are passed to vqnetd as they
# are (see `vqnetd --help`, docs/vqnetd.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -f build-release/build.ninja ] ||
	meson setup build-release --buildtype=release -Db_lto=true -Dtests=false >/dev/null
ninja -C build-release >/dev/null
if [ -n "${XDG_RUNTIME_DIR:-}" ]; then
	sock=${VQNET_SOCKET:-$XDG_RUNTIME_DIR/vqnet.sock}
else
	sock=${VQNET_SOCKET:-/tmp/vqnet-$(id -u).sock}
fi
queues=1
prev=
for a in "$@"; do
	case $prev in -q | --queues) queues=$a ;; esac
	case $a in --queues=*) queues=${a#--queues=} ;; esac
	prev=$a
done
mq=
[ "$queues" -gt 1 ] 2>/dev/null && mq=",queues=$queues"
cat <<EOF
vqnetd (user-mode networking by socket translation) on $sock. Attach a VM with:

  qemu-system-x86_64 -m 1G \\
    -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \\
    -chardev socket,id=vq0,path=$sock -netdev vhost-user,id=net0,chardev=vq0$mq \\
    -device virtio-net-pci,netdev=net0,host_mtu=65520${mq:+,mq=on} ...

(vhost-user needs the guest memory shared: the memfd backend with share=on.
Under TCG with QEMU 7.2 add vectors=0 to -device. host_mtu=65520 lets the
guest see vqnetd's MTU, 65520 with user-mode networking: far faster than
1500; QEMU 7.2 hides it without.) The guest gets 10.0.2.15
by DHCP (and fec0::/64 by SLAAC); the host's loopback is 10.0.2.2 (fec0::2),
DNS 10.0.2.3. Ctrl-C stops vqnetd.
Watch it from another shell with:

  build-release/tools/vqnetctl --socket $sock stats --watch

EOF
exec build-release/daemon/vqnetd --socket "$sock" --backend user --log-level info "$@"
