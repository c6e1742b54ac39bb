#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libvqnet.so exports exactly the public API.

Every function declared in include/vqnet/*.h must be exported by the shared
library (else a program built against the installed headers fails to link),
and nothing else may be (the layers build with -fvisibility=hidden; a
function is public by VQNET_EXPORT at its definition and a declaration in
a public header). Static inline functions are not symbols.

    check-exports.py INCLUDE_DIR LIBVQNET_SO
"""
import glob
import re
import subprocess
import sys

DECL = re.compile(
    r'^(?!typedef|#|static|\s)[^;{}()]*?\b([a-z_][a-z0-9_]*)\s*\(([^;{}]*)\)\s*'
    r'(__attribute__\(\(.*?\)\))?\s*;', re.M)


def declared(include_dir):
    names = set()
    for path in sorted(glob.glob(include_dir + '/*.h')):
        src = open(path).read()
        src = re.sub(r'/\*.*?\*/', '', src, flags=re.S)
        src = re.sub(r'//[^\n]*', '', src)
        src = re.sub(r'static inline[^{;]*\{.*?\n\}', '', src, flags=re.S)
        names.update(m.group(1) for m in DECL.finditer(src))
    return names


def exported(lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], capture_output=True, text=True,
                         check=True).stdout
    return {f[2] for f in (l.split() for l in out.splitlines()) if len(f) == 3 and f[1] in 'TDBR'}


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    decl, exp = declared(sys.argv[1]), exported(sys.argv[2])
    missing, extra = sorted(decl - exp), sorted(exp - decl)
    for name in missing:
        print(f'declared in a public header, not exported: {name}')
    for name in extra:
        print(f'exported, not declared in a public header: {name}')
    print(f'{len(decl)} public functions, {len(exp)} exported symbols')
    return 1 if missing or extra or not decl else 0


if __name__ == '__main__':
    sys.exit(main())
