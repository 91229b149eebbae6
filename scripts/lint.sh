#!/usr/bin/env bash
# checkpatch.pl --strict (from Debian's 6.12 source) over every kernel-side
# file. TAP: one line per file, then "N passed, N failed". A file passes
# only when checkpatch ran to its summary ("total: 0 errors, 0 warnings,
# 0 checks, N lines checked", N > 0): a missing source tree, a missing
# file or a perl error is a failure, never a silent pass.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
n=0 fail=0
if ! src=$("$here/scripts/ksrc.sh" 6.12 2>&1) || [ ! -r "$src/scripts/checkpatch.pl" ]; then
	echo "not ok 1 - checkpatch --strict: no checkpatch.pl from the 6.12 source"
	echo "$src" | tail -n 5 | sed 's/^/# /'
	echo "1..1"
	echo "0 passed, 1 failed"
	exit 1
fi
src=$(echo "$src" | tail -n 1)
cp=$src/scripts/checkpatch.pl
cd "$here"
files=$(git ls-files kmod/*.[ch] protocol/*.h tests/harness/*.c 2>/dev/null ||
	ls kmod/*.[ch] protocol/*.h tests/harness/*.c | grep -v "\.mod\.c$")
[ -n "$files" ] || { echo "not ok 1 - checkpatch --strict: no files to check"; echo "1..1"; echo "0 passed, 1 failed"; exit 1; }
for f in $files; do
	n=$((n + 1))
	out=$(perl "$cp" --no-tree --strict --show-types -f "$f" 2>&1)
	rc=$?
	if [ $rc = 0 ] && echo "$out" | grep -qE '^total: 0 errors, 0 warnings, 0 checks, [1-9][0-9]* lines checked'; then
		echo "ok $n - checkpatch --strict: $f"
	else
		echo "not ok $n - checkpatch --strict: $f (exit $rc)"
		echo "$out" | grep -vE '^(total:|$)|no obvious style problems|^NOTE:' | head -n 40 | sed 's/^/# /'
		fail=$((fail + 1))
	fi
done
echo "1..$n"
echo "$((n - fail)) passed, $fail failed"
[ $fail = 0 ]
