#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Check that plain `make` can build, and say which package to install when
# it cannot. Changes nothing.
#   scripts/need.sh module KDIR KVER
#   scripts/need.sh programs
set -u
what=${1:?usage: need.sh module KDIR KVER | programs}
missing=()
case $what in
module)
	kdir=$2 kver=$3
	# the version first: a Debian 12 machine without headers must not be
	# sent to install its 6.1 headers before it learns 6.1 is too old
	rel=$(cat "$kdir/include/config/kernel.release" 2>/dev/null || echo "$kver")
	IFS=. read -r major minor _ <<<"$rel"
	if [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] &&
		{ [ "$major" -lt 6 ] || { [ "$major" = 6 ] && [ "$minor" -lt 12 ]; }; }; then
		echo "make: kernel $rel is older than 6.12, which the module needs." >&2
		echo "  Debian 12: apt-get install -t bookworm-backports linux-image-amd64 linux-headers-amd64" >&2
		echo "  (with bookworm-backports in your apt sources), reboot into it, run make again;" >&2
		echo "  or build against another tree: make KDIR=/path/to/6.12+/build" >&2
		exit 1
	fi
	if [ ! -e "$kdir/Makefile" ]; then
		echo "make: no kernel headers at $kdir (kernel $kver)." >&2
		echo "  Debian/Ubuntu: apt-get install linux-headers-$kver" >&2
		echo "  Fedora: dnf install kernel-devel-$kver; Arch: pacman -S linux-headers" >&2
		echo "  or build against another tree: make KDIR=/path/to/kernel/build" >&2
		exit 1
	fi
	exit 0
	;;
programs)
	command -v cc >/dev/null || missing+=("a C compiler (build-essential)")
	command -v pkg-config >/dev/null || missing+=(pkg-config)
	if command -v pkg-config >/dev/null; then
		# pkg-config module : Debian package
		for m in wayland-server:libwayland-dev wayland-client:libwayland-dev \
			wayland-scanner:libwayland-bin wayland-protocols:wayland-protocols \
			egl:libegl-dev glesv2:libgles-dev libdrm:libdrm-dev libpng:libpng-dev; do
			pkg-config --exists "${m%%:*}" || missing+=("${m##*:} (pkg-config ${m%%:*})")
		done
	fi
	;;
*) echo "need.sh: unknown check '$what'" >&2; exit 2 ;;
esac
if [ ${#missing[@]} -gt 0 ]; then
	echo "make: the demo programs need, and this machine lacks:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	echo "  (Debian: apt-get install the packages named; 'make demo' / 'make check' install everything)" >&2
	exit 1
fi
