#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make deb`: the Debian package userptr-dmabuf-dkms, built with dpkg-deb
# (no debhelper needed) from packaging/deb/ into OUTDIR (default build/deb):
#   /usr/src/userptr-dmabuf-VERSION/       the DKMS source (make dkms-src)
#   /lib/udev/rules.d/70-userptr-dmabuf.rules
#   /lib/systemd/system/userptr-dmabuf.service    loads it at boot (6.12+,
#   /lib/systemd/system/sysinit.target.wants/...  when it is there)
#   /usr/share/doc/userptr-dmabuf-dkms/copyright
# and the maintainer scripts (DKMS build/install on configure and a
# message when the running kernel is too old for the module, DKMS remove
# on remove, systemd and udev reload). Writes nothing outside OUTDIR.
#   scripts/mkdeb.sh [OUTDIR]
# DEB_REVISION (default 1) and DEB_MAINTAINER override those fields.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$here/build/deb}")
pkg=userptr-dmabuf-dkms
command -v dpkg-deb >/dev/null || { echo "mkdeb: needs dpkg-deb (Debian's dpkg)" >&2; exit 1; }
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$here/kmod/dkms.conf")
[ -n "$ver" ] || { echo "mkdeb: no PACKAGE_VERSION in kmod/dkms.conf" >&2; exit 1; }
debver=$ver-${DEB_REVISION:-1}
maint=${DEB_MAINTAINER:-userptr-dmabuf authors <userptr-dmabuf@invalid>}

root=$out/root
rm -rf "$root"
mkdir -p "$root/DEBIAN"
make -s -C "$here" dkms-src DKMS_SRCTREE="$root/usr/src" >/dev/null
install -D -m 0644 "$here/packaging/70-userptr-dmabuf.rules" "$root/lib/udev/rules.d/70-userptr-dmabuf.rules"
install -D -m 0644 "$here/packaging/userptr-dmabuf.service" "$root/lib/systemd/system/userptr-dmabuf.service"
mkdir -p "$root/lib/systemd/system/sysinit.target.wants"
ln -s ../userptr-dmabuf.service "$root/lib/systemd/system/sysinit.target.wants/userptr-dmabuf.service"
install -D -m 0644 "$here/packaging/deb/copyright" "$root/usr/share/doc/$pkg/copyright"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +

for s in postinst prerm postrm; do
	sed "s/@DKMS_VERSION@/$ver/g" "$here/packaging/deb/$s" >"$root/DEBIAN/$s"
	chmod 0755 "$root/DEBIAN/$s"
done
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$debver/" -e "s/@INSTALLED_SIZE@/$size/" \
	-e "s|@MAINTAINER@|$maint|" "$here/packaging/deb/control" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
	LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

# Reproducible: file dates clamped to the last commit's (dpkg-deb reads
# SOURCE_DATE_EPOCH).
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && t=$(git -C "$here" log -1 --format=%ct 2>/dev/null); then
	export SOURCE_DATE_EPOCH=$t
fi
deb=$out/${pkg}_${debver}_all.deb
rm -f "$out/${pkg}"_*.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
rm -rf "$root"
echo "$deb"
