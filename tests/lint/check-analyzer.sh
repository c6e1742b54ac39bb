#!/bin/sh
# Static analysis: clang's analyser (scan-build's analyze-build, package
# clang-tools-14) over the project's own programs and libraries — lib/,
# daemon/, tools/, examples/, not the tests — with the compile commands of
# the build directory BUILD (meson's compile_commands.json, any compiler).
# Every finding fails the test and is printed as FILE:LINE: [CHECKER] TEXT
# with the path that leads to it. A finding that is wrong is answered in
# the code (restructured, or the fact the analyser misses made explicit),
# never by a list of exceptions here (docs/architecture.md "Checking").
# Usage: check-analyzer.sh BUILD
build=${1:?usage: check-analyzer.sh BUILD}
src=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
tool=$(command -v analyze-build-14 || command -v analyze-build) || {
	echo "check-analyzer: analyze-build not found (clang-tools-14: scripts/deps.sh test)" >&2
	exit 1
}
out=$(mktemp -d) || exit 2
trap 'rm -rf "$out"' EXIT INT TERM

# The project's own sources only.
python3 - "$build/compile_commands.json" "$src" "$out/cdb.json" <<'PY' || exit 2
import json, os, sys
cdb, src, dst = sys.argv[1:]
keep = []
for e in json.load(open(cdb)):
    path = os.path.normpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(path, src)
    if rel.split(os.sep)[0] in ("lib", "daemon", "tools", "examples"):
        keep.append(e)
if not keep:
    sys.exit(f"check-analyzer: no project sources in {cdb}")
json.dump(keep, open(dst, "w"))
# meson compiles every file from the build directory
open(os.path.join(os.path.dirname(dst), "dir"), "w").write(keep[0]["directory"])
print(f"check-analyzer: {len(keep)} files")
PY

"$tool" --cdb "$out/cdb.json" --output "$out/report" --plist --keep-empty >"$out/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	cat "$out/log"
	echo "check-analyzer: analyze-build failed ($rc)"
	exit 1
fi

# Findings from the plists; an analyser crash on a file counts too.
python3 - "$out/report" "$src" "$(cat "$out/dir")" <<'PY'
import glob, os, plistlib, sys
report, src, build = sys.argv[1:]
found = 0
for f in sorted(glob.glob(os.path.join(report, "*", "*.plist"))):
    p = plistlib.load(open(f, "rb"))
    for d in p.get("diagnostics", []):
        found += 1
        # paths as compiled: relative to the directory compiled in
        name = lambda loc: os.path.relpath(os.path.join(build, p["files"][loc["file"]]), src)
        loc = d["location"]
        print(f"{name(loc)}:{loc['line']}: [{d['check_name']}] {d['description']}")
        for ev in d.get("path", []):
            if ev.get("kind") == "event":
                print(f"    {name(ev['location'])}:{ev['location']['line']}: {ev['message']}")
crashes = glob.glob(os.path.join(report, "*", "failures", "*.info.txt"))
for c in crashes:
    print("analyser failure:", open(c).read().strip())
print(f"check-analyzer: {found} findings, {len(crashes)} analyser failures")
sys.exit(1 if found or crashes else 0)
PY
