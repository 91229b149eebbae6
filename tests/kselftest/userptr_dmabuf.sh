#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# kselftest wrapper for the userptr-dmabuf exporter tests: load what they
# need, run each test program, print TAP (one line per program, the
# program's own TAP indented as comments).
#
#   ./userptr_dmabuf.sh                        every program
#   USERPTR_DMABUF_TESTS="uapi mirror" ./userptr_dmabuf.sh
#
# /dev/userptr_dmabuf is required: when it is missing the wrapper loads
# userptr_dmabuf with modprobe (as root); if that fails it exits KSFT_SKIP
# (4). The reference importer udb_importer (a test module built with the
# exporter) is loaded the same way, or else with insmod from this
# directory, where `make kselftest-install` puts the udb_importer.ko it
# finds built (KSFT_KMOD=DIR, default the project's kmod/: build it for
# the kernel under test first); every program but uapi drives it and
# SKIPs without it. vgem, vkms and vivid (for v4l2) are loaded for
# their programs, which skip when those drivers are absent. Modules the wrapper loaded are
# unloaded at the end (a failed unload fails the run: something kept a
# reference). Optional: UDB_DISK and UDB_SCRATCH name directories for
# the cases over a disk file's and a scratch file's shared mapping (they
# skip without them). contract runs without its memory-offline case,
# which needs a second NUMA node with hotpluggable memory and, next to
# KSM's scan in the same boot, makes lockdep report a cycle of kernel
# locks that are not the exporter's; USERPTR_DMABUF_HOTPLUG=1 runs it too
# (best in a boot of its own).
#
# Exit: 0 when nothing failed (some programs may have skipped), 1 when a
# program failed, 4 when the device is not there.

ksft_skip=4
here=$(dirname "$(readlink -f "$0")")
all="uapi mirror safety jobs contract torture fuzz faultinject vgem vkms v4l2"
tests=${USERPTR_DMABUF_TESTS:-$all}
loaded=()

load() { # module: loaded (by us or before), or not
	local err ko=$here/$1.ko
	[ -d "/sys/module/$1" ] && return 0
	[ "$(id -u)" = 0 ] || { echo "# not root: cannot load $1"; return 1; }
	if ! err=$(modprobe "$1" 2>&1); then
		echo "# modprobe $1: ${err:-failed}"
		[ "$1" = udb_importer ] && [ -e "$ko" ] || return 1
		err=$(insmod "$ko" 2>&1) || { echo "# insmod $ko: ${err:-failed}"; return 1; }
		echo "# loaded $1 from $ko"
	fi
	loaded=("$1" "${loaded[@]}")
	command -v udevadm >/dev/null && udevadm settle --timeout=10 2>/dev/null
	return 0
}

unload() { # module: modprobe's, or one insmod loaded from here
	modprobe -r "$1" 2>/dev/null || rmmod "$1" 2>/dev/null
}

echo "TAP version 13"
if [ ! -e /dev/userptr_dmabuf ]; then
	load userptr_dmabuf
	if [ ! -e /dev/userptr_dmabuf ]; then
		echo "1..0 # SKIP no /dev/userptr_dmabuf (modprobe userptr_dmabuf: module not installed, or not root)"
		exit $ksft_skip
	fi
fi
if [ ! -r /dev/userptr_dmabuf ] || [ ! -w /dev/userptr_dmabuf ]; then
	echo "1..0 # SKIP no access to /dev/userptr_dmabuf (root, or the group its udev rule names)"
	exit $ksft_skip
fi
[ -e /dev/udb_importer ] || load udb_importer

# shellcheck disable=SC2086 # a list of names
set -- $tests
n=0 fail=0
echo "1..$(($# + 1))"
for t in "$@"; do
	n=$((n + 1))
	if [ ! -x "$here/$t" ]; then
		echo "ok $n $t # SKIP not built (vkms needs libdrm)"
		continue
	fi
	if [ "$t" != uapi ] && [ ! -e /dev/udb_importer ]; then
		echo "ok $n $t # SKIP no /dev/udb_importer (the reference importer: make install WITH_IMPORTER=1, or build it for this kernel before make kselftest-install, which copies it here)"
		continue
	fi
	case $t in
	vgem | vkms) load "$t" ;;
	v4l2) load vivid ;;
	esac
	args=()
	[ "$t" = contract ] && [ "${USERPTR_DMABUF_HOTPLUG:-0}" != 1 ] &&
		args=(-T memory_offline_with_a_mapped_buffer)
	"$here/$t" "${args[@]}" 2>&1 | sed 's/^/# /'
	rc=${PIPESTATUS[0]}
	case $rc in
	0) echo "ok $n $t" ;;
	"$ksft_skip") echo "ok $n $t # SKIP every case skipped" ;;
	*) echo "not ok $n $t (exit $rc)"; fail=1 ;;
	esac
done

# Unload what we loaded, the last loaded first; the exporter may need a
# moment for deferred work to let go of the module.
n=$((n + 1))
bad=
for m in "${loaded[@]}"; do
	unload "$m" || { sleep 2; unload "$m"; } || bad="$bad $m"
done
if [ -z "$bad" ]; then
	echo "ok $n unload modules the wrapper loaded (${loaded[*]:-none})"
else
	echo "not ok $n unload modules the wrapper loaded: still loaded:$bad"
	fail=1
fi
exit $fail
