#!/bin/sh
# Layering rules (docs/architecture.md "Layers and headers"), checked on
# every #include of the tree:
#  1. Libraries depend one way: spec <- base <- gmem <- virtq <- vhost_user
#     <- net_dev, vnet_drv; netbe (the network backends) sees spec, base,
#     the log and its own interface only. A library file includes headers
#     of its own layer and the layers below.
#  2. A library's private headers (lib/LAYER/*.h, included as "LAYER/x.h")
#     are reached only from that library and from its own tests; spec/ and
#     base/ are shared by everything in the repository.
#  3. Programs (daemon/, tools/, bench/) use the public headers
#     (<vqnet/*.h>) plus spec/ and base/; examples/ use public headers
#     only, as a program built against an installed vqnet would.
#  4. Nothing outside lib/ reaches into it by a relative path.
cd "$(dirname "$0")/../.." || exit 2
status=0

# includes DIR: every '#include' line under DIR as FILE:LINE:TEXT
includes() {
	[ -d "$1" ] || return 0
	grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$1" --include='*.c' --include='*.h'
}

# forbid DIR WHY PATTERN...: no include under DIR matches a PATTERN
forbid() {
	dir=$1 why=$2
	shift 2
	for pat in "$@"; do
		hits=$(includes "$dir" | grep -E "#[[:space:]]*include[[:space:]]*[<\"]($pat)" || true)
		if [ -n "$hits" ]; then
			echo "$dir must not include $pat ($why):"
			echo "$hits"
			status=1
		fi
	done
}

# Headers of each layer, public and private.
base='base/|vqnet/log\.h'
gmem='gmem/|vqnet/gmem\.h'
virtq='virtq/|vqnet/virtq\.h'
vu='vhost_user/|vqnet/vhost_user\.h'
netbe='netbe/|vqnet/netbe\.h'
netbe_private='netbe/'
net_dev='net_dev/|vqnet/net_dev\.h'
vnet_drv='vnet_drv/|vqnet/vnet_drv\.h'
lower='a lower layer includes nothing above it'

# 1. One way.
forbid lib/spec "$lower" "$base" "$gmem" "$virtq" "$vu" "$netbe" "$net_dev" "$vnet_drv"
forbid lib/base "$lower" "$gmem" "$virtq" "$vu" "$netbe" "$net_dev" "$vnet_drv"
forbid lib/gmem "$lower" "$virtq" "$vu" "$netbe" "$net_dev" "$vnet_drv"
forbid lib/virtq "$lower" "$vu" "$netbe" "$net_dev" "$vnet_drv"
forbid lib/vhost_user "$lower" "$netbe" "$net_dev" "$vnet_drv"
forbid lib/netbe 'backends see frames only' "$gmem" "$virtq" "$vu" "$net_dev" "$vnet_drv"
forbid lib/net_dev 'the device uses the backend interface, not the backends' \
	"$netbe_private" "$vnet_drv"
forbid lib/vnet_drv 'the driver is independent of the device' "$net_dev" "$netbe"

# 2. Private headers: "LAYER/x.h" only from lib/LAYER and LAYER's tests.
private() {
	layer=$1
	shift
	hits=$(includes . | grep -E "#[[:space:]]*include[[:space:]]*\"$layer/" |
		grep -vE "^\./(lib/$layer|build[^/]*)/" || true)
	for own in "$@"; do
		hits=$(printf '%s\n' "$hits" | grep -v "^\./$own/" || true)
	done
	if [ -n "$hits" ]; then
		echo "private headers of lib/$layer included from outside it and its tests:"
		echo "$hits"
		status=1
	fi
}
private gmem tests/unit tests/prop tests/malformed tests/fuzz
private virtq tests/unit tests/prop tests/malformed tests/fuzz
# tests/vnet_drv: the driver_open fuzz target plays a lying backend with
# the message codec (vhost_user/msg.h), as the driver library sits on it.
private vhost_user tests/vhost_user tests/vnet_drv
private netbe tests/netbe
private net_dev tests/net_dev
private vnet_drv tests/vnet_drv

# 3. Programs.
for dir in daemon tools bench; do
	forbid "$dir" 'programs use the public API' 'gmem/|virtq/|vhost_user/|netbe/|net_dev/|vnet_drv/'
done
forbid examples 'examples build against the installed headers' 'base/|spec/|gmem/|virtq/|vhost_user/|netbe/|net_dev/|vnet_drv/'

# 4. No relative paths into lib/.
hits=$(for d in include daemon tools examples bench tests; do includes "$d"; done |
	grep -E '#[[:space:]]*include[[:space:]]*"(\.\./)+lib/' || true)
if [ -n "$hits" ]; then
	echo "relative includes into lib/:"
	echo "$hits"
	status=1
fi
exit $status
