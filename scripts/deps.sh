#!/usr/bin/env bash
# Install everything userptr-dmabuf needs from Debian's archive.
#
# bookworm: toolchain, build deps of the kernel, libwayland/libdrm basics
# bookworm-backports: qemu 10, Mesa 25, weston 14, wayland 1.23,
#                     wayland-protocols 1.43, linux-source-6.12, stock 6.12 image
# trixie: virtme-ng only (pure python, installs on bookworm)
# trixie-backports: linux-source-7.3 (we only extract its tarball)
#
# Idempotent: a stamp keyed by this file's hash makes a second run a no-op.
set -euo pipefail

STAMP_DIR=${UDMABUF_CACHE:-/var/cache/userptr-dmabuf}
mkdir -p "$STAMP_DIR"
self_hash=$(sha256sum "$0" | cut -c1-16)
stamp="$STAMP_DIR/deps-$self_hash.stamp"
if [ -e "$stamp" ] && [ "${FORCE_DEPS:-0}" != 1 ]; then
	exit 0
fi

log() { printf 'deps: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

export DEBIAN_FRONTEND=noninteractive

src=/etc/apt/sources.list.d/userptr-dmabuf.sources
want_src='Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports trixie trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
'
# Keep trixie userspace out unless a package is named with -t / pinned here.
pref=/etc/apt/preferences.d/userptr-dmabuf
want_pref='Package: *
Pin: release n=trixie
Pin-Priority: 50

Package: *
Pin: release n=trixie-backports
Pin-Priority: 50

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
if [ $changed = 1 ] || [ ! -e "$STAMP_DIR/apt-updated" ]; then
	log "apt-get update"
	$SUDO apt-get update -qq
	touch "$STAMP_DIR/apt-updated"
fi

apt_install() {
	$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

log "base toolchain and kernel build dependencies (bookworm)"
apt_install build-essential bc bison flex libelf-dev libssl-dev dwarves \
	cpio kmod rsync xz-utils zstd python3 sparse pkg-config git \
	busybox-static procps util-linux e2fsprogs spin coccinelle dkms

# The guest's virtme-init needs udev for /dev/virtio-ports; match the
# installed libudev1 so a partly upgraded system does not break apt.
apt_install "udev=$(dpkg-query -W -f='${Version}' libudev1)"

log "qemu, Mesa, wayland, weston (bookworm-backports)"
apt_install -t bookworm-backports \
	qemu-system-x86 qemu-utils \
	libegl-dev libgles-dev libgbm-dev libdrm-dev libegl-mesa0 \
	libgl1-mesa-dri libgbm1 mesa-utils-bin \
	libwayland-dev wayland-protocols libwayland-bin \
	weston libpng-dev libpixman-1-dev \
	linux-source-6.12

log "virtme-ng (trixie; only that package, its dependencies from bookworm)"
# Never '-t trixie': that makes trixie the target release for every
# dependency and upgrades libc6, python3 and util-linux to trixie.
if ! dpkg-query -W -f='${Status}' virtme-ng 2>/dev/null | grep -q 'ok installed'; then
	apt_install python3-argcomplete python3-pkg-resources python3-requests file
	apt_install virtme-ng/trixie
fi

log "linux-source-7.3 (trixie-backports, tarball only)"
if ! ls /usr/src/linux-source-7.3*.tar.* >/dev/null 2>&1; then
	# Download and unpack the .deb without configuring trixie userspace.
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq -t trixie-backports linux-source-7.3 >/dev/null)
	$SUDO dpkg-deb -x "$tmp"/linux-source-7.3_*.deb /
	rm -rf "$tmp"
fi

log "stock Debian 6.12 kernel + headers (bookworm-backports): the pinned path"
# Installed the ordinary way so /lib/modules/<ver> exists for the VM and the
# module can be built against the matching headers. Nothing boots it here.
stock=$(apt-cache depends -t bookworm-backports linux-image-amd64 |
	awk '/Depends: linux-image-6/ {print $2; exit}')
stock_ver=${stock#linux-image-}
apt_install -t bookworm-backports "$stock" "linux-headers-$stock_ver"
echo "$stock_ver" >"$STAMP_DIR/stock-kernel-version"

touch "$stamp"
log "done"
