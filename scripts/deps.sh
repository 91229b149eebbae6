#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install what `make demo` and `make check` need, on Debian 12 (bookworm).
# Plain `make` never runs this.
#
# What goes where (the table in docs/testing.md says why each is needed):
#   apt, bookworm:            toolchain, kernel build dependencies, dkms,
#                             udev, busybox, spin, coccinelle, sparse,
#                             wayland-utils
#   apt, bookworm-backports:  qemu 10, Mesa 25, weston 14, wayland 1.23,
#                             wayland-protocols 1.43, linux-source-6.12
#                             (Debian's own backports suite)
#   apt, trixie:              virtme-ng only; every other trixie package is
#                             pinned to -1 (never installed or upgraded)
#   project cache only ($UDMABUF_CACHE, default /var/cache/userptr-dmabuf),
#   fetched with `apt-get download` and unpacked with `dpkg-deb -x`, never
#   installed: linux-source-7.3 (trixie-backports), and Debian's stock 6.12
#   kernel image, modules and headers (no /boot entry, no bootloader change).
#
# Idempotent: a stamp keyed by this file's hash makes a second run a no-op.
# Never removes anything.
set -euo pipefail

CACHE=${UDMABUF_CACHE:-/var/cache/userptr-dmabuf}
log() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: %s\n' "$@" >&2; exit 1; }

wanted="qemu-system-x86 (>= 10), virtme-ng (>= 1.35), Mesa (>= 25, EGL/GLES,
  llvmpipe), libwayland (>= 1.23), wayland-protocols (>= 1.43), weston 14,
  wayland-utils (wayland-info), gcc, make, bc, bison, flex, libelf,
  openssl headers, pahole, sparse,
  spin, coccinelle, dkms, udev, busybox (static), libdrm, libpng, pixman,
  the Linux 6.12 and 7.3 sources, and a Linux 6.12 kernel image + modules +
  headers built without CONFIG_DMABUF_MOVE_NOTIFY (the 'stock' test kernel)"
if [ ! -e /etc/debian_version ] || ! command -v apt-get >/dev/null ||
	! command -v dpkg-deb >/dev/null; then
	die "this is not a Debian system (no /etc/debian_version, apt-get or dpkg-deb);" \
		"make demo / make check install their dependencies from Debian 12's archive." \
		"On another system install these yourself, then run" \
		"'touch $CACHE/deps-manual.stamp' (see docs/testing.md):" "  $wanted"
fi
[ ! -e "$CACHE/deps-manual.stamp" ] || exit 0
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ "$codename" != bookworm ]; then
	die "this is Debian '${codename:-unknown}', not 12 (bookworm); the apt sources" \
		"and pins here are bookworm's. Install these yourself, then run" \
		"'touch $CACHE/deps-manual.stamp':" "  $wanted"
fi
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || die "needs root (or sudo) to install packages"
	SUDO=sudo
else
	SUDO=
fi

$SUDO mkdir -p "$CACHE"
[ -w "$CACHE" ] || $SUDO chown "$(id -u):$(id -g)" "$CACHE"
self_hash=$(sha256sum "$0" | cut -c1-16)
stamp="$CACHE/deps-$self_hash.stamp"
if [ -e "$stamp" ] && [ "${FORCE_DEPS:-0}" != 1 ]; then
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive

# Extra suites: bookworm-backports (Debian's backports of newer qemu, Mesa,
# weston, wayland and the 6.12 kernel for bookworm), trixie (virtme-ng has
# no bookworm build) and trixie-backports (linux-source-7.3, downloaded
# into the cache only).
src=/etc/apt/sources.list.d/userptr-dmabuf.sources
want_src='Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports trixie trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
'
# From trixie only virtme-ng may ever be installed; from trixie-backports
# nothing (linux-source-7.3 is only downloaded). bookworm-backports keeps
# Debian's default: only packages installed from it follow it.
pref=/etc/apt/preferences.d/userptr-dmabuf
want_pref='Package: virtme-ng
Pin: release n=trixie
Pin-Priority: 500

Package: *
Pin: release n=trixie
Pin-Priority: -1

Package: linux-source-7.3
Pin: release n=trixie-backports
Pin-Priority: 1

Package: *
Pin: release n=trixie-backports
Pin-Priority: -1

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
'
changed=0
if [ "$(cat "$src" 2>/dev/null)" != "$(printf '%s' "$want_src")" ]; then
	printf '%s' "$want_src" | $SUDO tee "$src" >/dev/null
	changed=1
fi
if [ "$(cat "$pref" 2>/dev/null)" != "$(printf '%s' "$want_pref")" ]; then
	printf '%s' "$want_pref" | $SUDO tee "$pref" >/dev/null
	changed=1
fi
if [ $changed = 1 ] || [ ! -e "$CACHE/apt-updated" ]; then
	log "apt-get update"
	$SUDO apt-get update -qq
	touch "$CACHE/apt-updated"
fi

apt_install() {
	$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

log "base toolchain and kernel build dependencies (bookworm)"
apt_install build-essential bc bison flex libelf-dev libssl-dev dwarves \
	cpio kmod rsync xz-utils zstd python3 sparse pkg-config git \
	busybox-static procps util-linux e2fsprogs spin coccinelle dkms file
# wayland-info, a client the demo's third-party test runs (1.1.0 is
# enough: it lists wl_output and the linux-dmabuf v3 formats)
apt_install wayland-utils

# The guest's virtme-init needs udev for /dev/virtio-ports; match the
# installed libudev1 so a partly upgraded system does not break apt.
apt_install "udev=$(dpkg-query -W -f='${Version}' libudev1)"

log "qemu, Mesa, wayland, weston, linux-source-6.12 (bookworm-backports)"
apt_install -t bookworm-backports \
	qemu-system-x86 qemu-utils \
	libegl-dev libgles-dev libgbm-dev libdrm-dev libegl-mesa0 \
	libgl1-mesa-dri libgbm1 mesa-utils-bin \
	libwayland-dev wayland-protocols libwayland-bin \
	weston libpng-dev libpixman-1-dev \
	linux-source-6.12

log "virtme-ng (trixie; only that package, its dependencies from bookworm)"
if ! dpkg-query -W -f='${Status}' virtme-ng 2>/dev/null | grep -q 'ok installed'; then
	apt_install python3-argcomplete python3-pkg-resources python3-requests
	apt_install virtme-ng
fi

# The first existing file of those named (globs expanded), or nothing;
# succeeds either way (f=$(first ...) must not end the script: set -e).
first() { local f; for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; return 0; }

# Fetch .debs into DIR (the apt cache's copy when it has one).
fetch_debs() { # DIR PACKAGE...
	local dir=$1 p f
	shift
	mkdir -p "$dir"
	# run as root, apt-get download writes as the _apt user when that
	# user can write the directory (else as root, with a warning): make
	# it _apt's, 0755, not world-writable. Run as another user, it writes
	# as that user, who owns the cache (see above).
	if [ "$(id -u)" = 0 ] && id -u _apt >/dev/null 2>&1; then
		chown _apt "$dir"
		chmod 0755 "$dir"
	fi
	for p in "$@"; do
		f=$(first /var/cache/apt/archives/"${p}"_*.deb)
		if [ -n "$f" ]; then
			cp "$f" "$dir/"
		else
			(cd "$dir" && apt-get download -qq "$p" >/dev/null 2>&1) ||
				die "cannot download $p"
		fi
	done
}

log "linux-source-7.3 (trixie-backports; unpacked into $CACHE/pkgs only)"
if [ -z "$(first /usr/src/linux-source-7.3.tar.* "$CACHE"/pkgs/usr/src/linux-source-7.3.tar.*)" ]; then
	tmp=$(mktemp -d)
	fetch_debs "$tmp" linux-source-7.3
	mkdir -p "$CACHE/pkgs"
	dpkg-deb -x "$tmp"/linux-source-7.3_*.deb "$CACHE/pkgs"
	rm -rf "$tmp"
fi

log "stock Debian 6.12 kernel (bookworm-backports; unpacked into $CACHE/stock only)"
# Image, modules and headers go into $CACHE/stock/VER: the VM boots that
# image (tests/vm/run) and the module is built against those headers
# (tests/vm/build-for, tests/harness/dkms-test). Nothing is installed and
# no bootloader entry is made.
stock=$(apt-cache depends -t bookworm-backports linux-image-amd64 |
	awk '/Depends: linux-image-6/ {print $2; exit}')
[ -n "$stock" ] || die "no linux-image-6.* in bookworm-backports' linux-image-amd64"
stock_ver=${stock#linux-image-}        # 6.12.95+deb12-amd64
base=${stock_ver%-amd64}               # 6.12.95+deb12
root=$CACHE/stock/$stock_ver
if [ ! -e "$root/.done" ]; then
	rm -rf "$root"
	tmp=$(mktemp -d)
	fetch_debs "$tmp" "$stock" "linux-headers-$stock_ver" \
		"linux-headers-$base-common" "linux-kbuild-$base"
	mkdir -p "$root"
	for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$root"; done
	rm -rf "$tmp"
	# The headers point at /usr/src and /usr/lib by absolute paths.
	hdr=$root/usr/src/linux-headers-$stock_ver
	sed -i "s|^include /usr/src/|include $root/usr/src/|" "$hdr/Makefile"
	ln -sfn "../../../usr/src/linux-headers-$stock_ver" "$root/lib/modules/$stock_ver/build"
	depmod -b "$root" "$stock_ver"
	[ -e "$root/boot/vmlinuz-$stock_ver" ] && [ -e "$hdr/Module.symvers" ] ||
		die "stock kernel: unexpected package layout in $root"
	touch "$root/.done"
fi
# Older stock versions are dead weight.
for old in "$CACHE"/stock/*; do
	[ "$old" = "$root" ] || rm -rf "$old"
done
echo "$stock_ver" >"$CACHE/stock-kernel-version"

touch "$stamp"
log "done"
