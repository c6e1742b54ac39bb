#!/bin/sh
# Dependencies between layers point one way (docs/architecture.md):
# spec <- base <- gmem <- virtq <- vhost_user <- net <- daemon, and netbe
# (network backends) sees frames only: spec, base and its own header. A
# library file may include headers of its own layer and the layers below.
cd "$(dirname "$0")/../.." || exit 2
status=0
# check DIR FORBIDDEN-PATTERN...: no file under DIR includes a forbidden header
check() {
	dir=$1
	shift
	[ -d "$dir" ] || return 0
	for pat in "$@"; do
		hits=$(grep -rnE "#include [<\"].*$pat" "$dir" || true)
		if [ -n "$hits" ]; then
			echo "$dir must not include $pat:"
			echo "$hits"
			status=1
		fi
	done
}
up_gmem='gmem[/._]'
up_virtq='virtq[/._]'
up_vu='vhost_user[/._]'
up_net='(vqnet/net_dev|[/"]net/|vqnet/vnet_drv|vnet_drv/)'
up_netbe='(vqnet/netbe|netbe/)'
check lib/spec 'base/' "$up_gmem" "$up_virtq" "$up_vu" "$up_net" "$up_netbe"
check lib/base "$up_gmem" "$up_virtq" "$up_vu" "$up_net" "$up_netbe"
check lib/gmem "$up_virtq" "$up_vu" "$up_net" "$up_netbe"
check lib/virtq "$up_vu" "$up_net" "$up_netbe"
check lib/vhost_user "$up_net" "$up_netbe"
check lib/netbe "$up_gmem" "$up_virtq" "$up_vu" "$up_net"
check lib/vnet_drv '(vqnet/net_dev|[/"]net/)' "$up_netbe"
exit $status
