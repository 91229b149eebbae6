#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) a test kernel for the VM.
#
#   scripts/kernel.sh VERSION [FLAVOUR]
#     VERSION  6.12 | 7.3       (Debian's linux-source-VERSION tarball)
#     FLAVOUR  debug | kasan | perf | fuzz | cover
#              kasan adds tests/kconfig/kasan.config; perf adds perf.config,
#              which turns the debugging options off again (benchmarks only);
#              fuzz adds fuzz.config (KCOV, KASAN, debug info: syzkaller,
#              scripts/fuzz.sh); cover adds cover.config (gcov and KCOV
#              for the module alone: scripts/coverage.sh)
#
# Prints the build directory on stdout (usable as KDIR for the module and
# as `vng --run DIR`); progress goes to stderr. Builds are cached under
# $UDMABUF_CACHE/kbuild keyed by the source tarball, the fragments and this
# script, so a rebuild only happens when one of those changes.
set -euo pipefail

ver=${1:?usage: kernel.sh 6.12|7.3 [debug|kasan|perf|fuzz|cover]}
flavour=${2:-debug}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${UDMABUF_CACHE:-/var/cache/userptr-dmabuf}
jobs=${JOBS:-$(nproc)}

# Debian's linux-source-VERSION: installed by apt (6.12) or unpacked into
# the cache by scripts/deps.sh (7.3).
tarball=$(ls /usr/src/linux-source-"$ver".tar.* "$cache"/pkgs/usr/src/linux-source-"$ver".tar.* 2>/dev/null | head -n1 || true)
[ -n "$tarball" ] || { echo "kernel: no /usr/src/linux-source-$ver.tar.*; run 'make deps'" >&2; exit 1; }
case $flavour in
debug) frags="base.config $ver.config" ;;
kasan) frags="base.config $ver.config kasan.config" ;;
perf) frags="base.config $ver.config perf.config" ;;
fuzz) frags="base.config $ver.config fuzz.config" ;;
cover) frags="base.config $ver.config cover.config" ;;
*) echo "kernel: unknown flavour '$flavour'" >&2; exit 2 ;;
esac

# Bump RECIPE when a change to this script changes what gets built.
RECIPE=1
src=$("$here/scripts/ksrc.sh" "$ver")
key=$( { echo "recipe $RECIPE"; stat -c '%n %s %Y' "$tarball";
	for f in $frags; do cat "$here/tests/kconfig/$f"; done; } | sha256sum | cut -c1-12)
out=$cache/kbuild/$ver-$flavour-$key

if [ -e "$out/.done" ]; then
	echo "$out"
	exit 0
fi

log() { printf 'kernel %s-%s: %s\n' "$ver" "$flavour" "$*" >&2; }
mkdir -p "$cache/kbuild"

# An old build of the same version+flavour becomes the starting point:
# kbuild's per-symbol config dependencies rebuild only what the changed
# fragment touches (minutes instead of a full build). Other old builds are
# dead weight (~1-2 GiB each).
for old in "$cache/kbuild/$ver-$flavour-"*; do
	[ "$old" = "$out" ] || [ ! -d "$old" ] || {
		if [ ! -e "$out" ] && [ -e "$old/.done" ] && [ "${UDB_KERNEL_CLEAN:-0}" = 0 ]; then
			log "starting from $(basename "$old")"
			rm -f "$old/.done"
			rm -rf "$old/.virtme_mods"
			mv "$old" "$out"
		else
			rm -rf "$old"
		fi
	}
done
mkdir -p "$out"

log "configuring"
frag=$out/fragment.config
: >"$frag"
for f in $frags; do cat "$here/tests/kconfig/$f" >>"$frag"; done
make -s -C "$src" O="$out" defconfig >/dev/null
(cd "$out" && virtme-configkernel --defconfig >/dev/null 2>&1)
# virtme applies its mandatory items last; ours must win, so merge after it.
(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "$frag" >/dev/null 2>&1)
make -s -C "$src" O="$out" olddefconfig >/dev/null 2>&1

# Every fragment line must have survived dependency resolution; a later
# fragment may override an earlier one (the last line for a symbol wins).
bad=0
declare -A want=()
order=()
while IFS= read -r line; do
	case $line in CONFIG_*=*) ;; *) continue ;; esac
	sym=${line%%=*}
	[ -n "${want[$sym]+x}" ] || order+=("$sym")
	want[$sym]=${line#*=}
done <"$frag"
for sym in "${order[@]}"; do
	val=${want[$sym]}
	line=$sym=$val
	if [ "$val" = n ]; then
		if grep -q "^$sym=[ym]" "$out/.config"; then
			log "config: $sym is set but the fragment says n"
			bad=1
		fi
	elif ! grep -qx "$line" "$out/.config"; then
		log "config: wanted $line, got '$(grep "^$sym=" "$out/.config" || echo unset)'"
		bad=1
	fi
done
[ $bad = 0 ] || { log "config does not match the fragment"; exit 1; }

log "building with $jobs jobs (log: $out/build.log)"
start=$(date +%s)
make -C "$src" O="$out" -j"$jobs" bzImage modules >"$out/build.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
	sleep 30
	n=$(grep -c '^  CC' "$out/build.log" || true)
	log "$n objects compiled, $(( $(date +%s) - start ))s"
done
if ! wait $pid; then
	tail -n 40 "$out/build.log" >&2
	log "build FAILED"
	exit 1
fi
make -s -C "$src" O="$out" -j"$jobs" modules_prepare >/dev/null
log "built in $(( $(date +%s) - start ))s"
touch "$out/.done"
echo "$out"
