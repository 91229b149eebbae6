#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In the VM, at the end of a coverage run (coverage.plan, scripts/coverage.sh,
# the cover kernel): copy the modules' gcov data out of debugfs into DEST.
#
#   gcov-collect.sh DEST
#
# The kernel shows each profiled object's counts as
# /sys/kernel/debug/gcov/<object's build directory>/<object>.gcda. By now
# the plans have unloaded the modules: with gcov_persist=1 (the default)
# the kernel keeps an unloaded module's counts and adds those of every
# later load of the same build to them (kernel/gcov/fs.c), so one read at
# the end has the whole boot. Only the modules are profiled (the cover
# flavour has no GCOV_PROFILE_ALL); any other .gcda fails the step.
# Fails when there is none.
set -euo pipefail
dest=${1:?usage: gcov-collect.sh DEST}
gcov=/sys/kernel/debug/gcov
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
if [ ! -d "$gcov" ]; then
	echo "gcov-collect: no $gcov: this kernel has no CONFIG_GCOV_KERNEL" >&2
	exit 1
fi
mkdir -p "$dest"
n=0 bad=0
while IFS= read -r -d '' f; do
	case $f in
	*/kmod/*.gcda) ;;
	*) echo "gcov-collect: not one of the modules' objects: $f" >&2; bad=1; continue ;;
	esac
	# debugfs files have no size; cat reads the generated .gcda
	cat "$f" >"$dest/$(basename "$f")"
	echo "$f $(stat -c %s "$dest/$(basename "$f")") bytes"
	n=$((n + 1))
done < <(find "$gcov" -name '*.gcda' -print0 | sort -z)
for m in userptr_dmabuf udb_importer; do
	[ ! -e "/sys/module/$m" ] || echo "gcov-collect: $m is still loaded (its counts are read all the same)"
done
echo "$n .gcda files copied to $dest"
[ "$n" -gt 0 ] && [ $bad = 0 ]
