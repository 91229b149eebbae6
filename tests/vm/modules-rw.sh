#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM: make /lib/modules/$(uname -r) writable, as it is on an
# installed system, so that DKMS and depmod can add modules and modprobe
# finds them.
#   modules-rw.sh on    overlay (upper layer on tmpfs) over the tree
#   modules-rw.sh off   back to virtme-ng's read-only link, changes dropped
# virtme-ng mounts a tmpfs on /lib/modules and links /lib/modules/VER to
# the kernel's module tree in the project cache, which the runner shares
# in read-only. "on" replaces the link with an overlay of that tree and
# makes its relative symbolic links (`build`; on our kernels every module,
# linked into the kernel's build tree) absolute: they are relative to
# where the tree really lives, not to /lib/modules/VER.
set -euo pipefail
kver=$(uname -r)
m=/lib/modules/$kver
state=/run/udb-modules-rw
case ${1:-} in
on)
	if [ -e "$state/lower" ]; then
		echo "modules-rw: $m is already writable"
		exit 0
	fi
	[ -L "$m" ] || { echo "modules-rw: $m is not virtme-ng's link" >&2; exit 1; }
	lower=$(readlink -f "$m")
	mkdir -p "$state/upper" "$state/work"
	rm "$m"
	mkdir "$m"
	if ! mount -t overlay -o "lowerdir=$lower,upperdir=$state/upper,workdir=$state/work" udb-modules "$m"; then
		rmdir "$m"
		ln -s "$lower" "$m"
		echo "modules-rw: cannot mount an overlay on $m" >&2
		exit 1
	fi
	echo "$lower" >"$state/lower"
	links=0
	while IFS= read -r -d '' l; do
		t=$(readlink "$lower/$l")
		case $t in /*) continue ;; esac
		ln -sfn "$(readlink -f "$lower/$l")" "$m/$l"
		links=$((links + 1))
	done < <(cd "$lower" && find . -type l -printf '%P\0')
	echo "modules-rw: $m is an overlay of $lower ($links relative links made absolute; build -> $(readlink "$m/build" || echo none))"
	;;
off)
	[ -e "$state/lower" ] || exit 0
	lower=$(cat "$state/lower")
	# udevd's kmod builtin keeps the tree's index files open: detach the
	# overlay lazily if it is still busy
	umount "$m" 2>/dev/null || umount -l "$m"
	rmdir "$m"
	ln -s "$lower" "$m"
	rm -rf "$state"
	echo "modules-rw: $m links to $lower again"
	;;
*)
	echo "usage: modules-rw.sh on|off" >&2
	exit 2
	;;
esac
