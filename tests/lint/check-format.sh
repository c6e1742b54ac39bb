#!/bin/sh
# Every C file follows the repository's .clang-format.
cd "$(dirname "$0")/../.." || exit 2
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 77; }
status=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find include lib tests bench tools -name '*.[ch]'); do
	if ! clang-format --style=file --dry-run -Werror "$f" 2>/dev/null; then
		echo "not formatted: $f (run: clang-format -i $f)"
		status=1
	fi
done
exit $status
