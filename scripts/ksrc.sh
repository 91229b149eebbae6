#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Print the extracted source tree of Debian's linux-source-VERSION,
# extracting it into the cache first if needed.
#   scripts/ksrc.sh 6.12|7.3
set -euo pipefail
ver=${1:?usage: ksrc.sh 6.12|7.3}
cache=${UDMABUF_CACHE:-/var/cache/userptr-dmabuf}
# Debian's linux-source-VERSION: installed by apt (6.12) or unpacked into
# the cache by scripts/deps.sh (7.3).
tarball=$(ls /usr/src/linux-source-"$ver".tar.* "$cache"/pkgs/usr/src/linux-source-"$ver".tar.* 2>/dev/null | head -n1 || true)
[ -n "$tarball" ] || { echo "ksrc: no /usr/src/linux-source-$ver.tar.*; run 'make deps'" >&2; exit 1; }
src=$cache/src/linux-$ver-$(stat -c '%s-%Y' "$tarball")
if [ ! -e "$src/.extracted" ]; then
	echo "ksrc: extracting $(basename "$tarball")" >&2
	mkdir -p "$cache/src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$tarball" -C "$src.tmp" --strip-components=1
	mv "$src.tmp" "$src"
	touch "$src/.extracted"
fi
echo "$src"
