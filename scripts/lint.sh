#!/usr/bin/env bash
# checkpatch.pl --strict (from Debian's 6.12 source) over every kernel-side
# file. TAP: one line per file, then "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
src=$("$here/scripts/ksrc.sh" 6.12) || exit 1
cp=$src/scripts/checkpatch.pl
n=0 fail=0
cd "$here"
for f in $(git ls-files kmod/*.[ch] protocol/*.h tests/harness/*.c 2>/dev/null ||
	ls kmod/*.[ch] protocol/*.h tests/harness/*.c | grep -v "\.mod\.c$"); do
	n=$((n + 1))
	out=$(perl "$cp" --no-tree --strict --terse --show-types -f "$f" 2>&1 | grep -E ': (ERROR|WARNING|CHECK):')
	if [ -z "$out" ]; then
		echo "ok $n - checkpatch --strict: $f"
	else
		echo "not ok $n - checkpatch --strict: $f"
		echo "$out" | sed 's/^/# /'
		fail=$((fail + 1))
	fi
done
echo "1..$n"
echo "$((n - fail)) passed, $fail failed"
[ $fail = 0 ]
