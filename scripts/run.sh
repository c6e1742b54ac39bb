#!/usr/bin/env bash
# vqnet's main job. Until the daemon lands (issue "vqnetd"), that is: build
# everything optimised, run the ring self-check (driver against device over
# shared memory, both ring formats, every completion verified), then the
# bare-ring benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release -Db_lto=true -Dtests=false >/dev/null
ninja -C build-release >/dev/null
echo "== ring self-check (both formats, every completion verified)"
build-release/bench/vqnet-ring-bench --verify --seconds 0.3 --runs 1 >/dev/null
build-release/bench/vqnet-ring-bench --verify --in-order --seconds 0.3 --runs 1 >/dev/null
echo "ok"
echo "== bare-ring benchmark"
exec build-release/bench/vqnet-ring-bench "$@"
