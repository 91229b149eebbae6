#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM (as root): the userptr-dmabuf-dkms package (make deb) on
# the running kernel, the way a user installs it. TAP, one line a check;
# exits 1 if any fails.
#   deb-test.sh PACKAGE.deb [SMOKE_PROGRAM]
# dpkg installs it into the guest's root (virtme-ng's tmpfs overlays over
# the host's read-only root; /lib/modules/VER made writable by
# tests/vm/modules-rw.sh), its postinst has DKMS build and install the
# module against /lib/modules/VER/build; the packaged systemd unit loads
# it as at boot (its conditions, ExecCondition and ExecStart run in
# systemd's order: systemd is not PID 1 in the guest), the postinst said
# nothing about an unsupported kernel, udev applies the packaged rule
# (render, 0660) and the smoke
# test passes as nobody in render; then the module unloads and
# dpkg -r / --purge leave nothing behind: no module, source, rule, DKMS
# state or package file, and no other file the package or DKMS wrote,
# compared over every writable overlay of the guest before and after.
set -u
deb=${1:?usage: deb-test.sh PACKAGE.deb [SMOKE_PROGRAM]}
smoke=${2:-}
here=$(cd "$(dirname "$0")/../.." && pwd)
pkg=userptr-dmabuf-dkms
kver=$(uname -r)
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
check() { # description command...: ok when the command succeeds
	local d=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$d"
		[ -z "$out" ] || echo "$out" | sed 's/^/# /'
	else
		notok "$d"
		echo "$out" | tail -n 30 | sed 's/^/# /'
	fi
}
finish() {
	umount "$rootview" 2>/dev/null && rmdir "$rootview"
	"$here/tests/vm/modules-rw.sh" off >/dev/null 2>&1
	echo "1..$n"
	[ $fail = 0 ]
	exit
}

# Every file, link and whiteout in the upper layers of the guest's
# writable overlays (/etc, /usr, /var, /lib/modules/VER, ...), and every
# empty directory there that the layer below does not have: what was
# written since boot. /tmp is scratch space (the results are shared
# through it). virtme-ng's overlays sit on the directories they cover; a
# bind mount of / without its submounts shows what is below them.
rootview=/run/udb-deb-rootview
written() {
	awk '$3 == "overlay" { print $2, $4 }' /proc/mounts | while read -r mnt opts; do
		[ "$mnt" = /tmp ] && continue
		upper=$(tr , '\n' <<<"$opts" | sed -n 's/^upperdir=//p')
		lower=$(tr , '\n' <<<"$opts" | sed -n 's/^lowerdir=//p')
		[ -d "$upper" ] || continue
		# /lib is a link to usr/lib: compare resolved paths
		[ "$(realpath -m "$lower")" = "$(realpath -m "$mnt")" ] && lower=$rootview$(realpath -m "$mnt")
		(cd "$upper" && find . -mindepth 1 ! -type d -printf "%y $mnt/%P\n")
		(cd "$upper" && find . -mindepth 1 -type d -empty -printf '%P\n') | while IFS= read -r d; do
			[ -d "$lower/$d" ] || echo "d $mnt/$d"
		done
	done | sed 's|//*|/|g' | LC_ALL=C sort
}
# What installing and purging may leave changed, and why: dpkg's own
# database and log, depmod's indexes (rewritten, their content is checked
# by modprobe failing), DKMS's machine signing key (made on its first
# build, used for every DKMS module, kept by DKMS on purpose).
allowed='^. (/usr)?/var/lib/dpkg/(status|status-old|available|diversions|statoverride|lock[a-z-]*|triggers/[^/]+|updates/[^/]+|info/format)$|^. (/usr)?/lib/modules/[^/]+/modules\.[a-z.]+$|^. /var/lib/dkms/mok\.(key|pub)$|^. /var/log/'

[ -r "$deb" ] || { notok "package $deb exists (make deb)"; finish; }
echo "# $(dpkg-deb -f "$deb" Package Version | tr '\n' ' ')on $kver"
if ! out=$("$here/tests/vm/modules-rw.sh" on 2>&1); then
	notok "/lib/modules/$kver made writable: $out"
	finish
fi
echo "# $out"
check "kernel headers for $kver at /lib/modules/$kver/build" test -e "/lib/modules/$kver/build/Makefile"
mkdir -p "$rootview"
mount --bind / "$rootview" || { notok "bind mount of / to see below the overlays"; finish; }
# An earlier plan of this boot may have put the rule into /run/udev,
# which would shadow the packaged one.
rm -f /run/udev/rules.d/70-userptr-dmabuf.rules
udevadm control --reload 2>/dev/null
before=$(written)

# Install: dpkg -> postinst -> DKMS add, build, install.
t0=$(date +%s)
if out=$(dpkg -i "$deb" 2>&1); then
	ok "dpkg -i installs $pkg (postinst: DKMS builds and installs the module)"
	echo "$out" | sed 's/^/# /'
else
	notok "dpkg -i installs $pkg (postinst: DKMS builds and installs the module)"
	echo "$out" | tail -n 30 | sed 's/^/# /'
fi
echo "# install took $(($(date +%s) - t0)) s"
if grep -q "not built for kernel" <<<"$out"; then
	notok "postinst: no 'not built for kernel' message on $kver (6.12+)"
	grep "userptr-dmabuf-dkms:" <<<"$out" | sed 's/^/# /'
else
	ok "postinst: no 'not built for kernel' message on $kver (6.12+)"
fi
check "dkms status: installed for $kver" bash -c "dkms status -m userptr-dmabuf -k '$kver' | tee /dev/stderr | grep -q ': installed'"
ko=$(ls /lib/modules/"$kver"/updates/dkms/userptr_dmabuf.ko* 2>/dev/null | head -n 1)
check "DKMS installed userptr_dmabuf.ko for $kver (vermagic), not the test importer" \
	bash -c "[ -n '$ko' ] && modinfo -F vermagic '$ko' | grep -q '^$kver ' &&
		! ls /lib/modules/'$kver'/updates/dkms/udb_importer.ko* 2>/dev/null"
unit=userptr-dmabuf.service
check "packaged files: source, udev rule, systemd unit linked from sysinit.target.wants/" bash -c \
	"ls -d /usr/src/userptr-dmabuf-*/dkms.conf /lib/udev/rules.d/70-userptr-dmabuf.rules /lib/systemd/system/$unit &&
	 test \"\$(readlink /lib/systemd/system/sysinit.target.wants/$unit)\" = ../$unit"

# Load as at boot, with the packaged unit that sysinit.target pulls in,
# step by step as systemd runs it: its Condition*= (systemd-analyze
# evaluates them from the installed unit), its ExecCondition (a module
# for this kernel), its ExecStart.
check "the unit's conditions hold on $kver (systemd-analyze condition --unit)" \
	systemd-analyze condition --unit=$unit
check "the unit loads the DKMS module (ExecCondition, then ExecStart)" bash -c "
	c=\$(sed -n 's/^ExecCondition=//p' /lib/systemd/system/$unit) &&
	s=\$(sed -n 's/^ExecStart=//p' /lib/systemd/system/$unit) && [ -n \"\$c\" ] && [ -n \"\$s\" ] &&
	! test -e /sys/module/userptr_dmabuf && \$c && \$s && test -e /sys/module/userptr_dmabuf &&
	test \"\$(modinfo -n userptr_dmabuf)\" = '$ko'"
udevadm settle --timeout=10
check "udev applied the packaged rule: /dev/userptr_dmabuf is root render 660" bash -c \
	'stat -c "%U %G %a" /dev/userptr_dmabuf | tee /dev/stderr | grep -qx "root render 660"'
if [ -n "$smoke" ]; then
	check "smoke test as nobody in render, through the rule" \
		setpriv --reuid=65534 --regid=65534 --groups render "$smoke"
fi
check "modprobe -r unloads it" bash -c 'modprobe -r userptr_dmabuf && ! test -e /dev/userptr_dmabuf'

# Uninstall.
t0=$(date +%s)
check "dpkg -r removes $pkg (prerm: DKMS removes the module)" dpkg -r "$pkg"
echo "# removal took $(($(date +%s) - t0)) s"
check "after dpkg -r: no module, no DKMS state, no source, no rule, no unit" bash -c "
	! modinfo userptr_dmabuf 2>/dev/null && ! modprobe -n userptr_dmabuf 2>/dev/null &&
	[ -z \"\$(dkms status -m userptr-dmabuf)\" ] && ! test -e /var/lib/dkms/userptr-dmabuf &&
	! ls -d /usr/src/userptr-dmabuf-* /lib/udev/rules.d/70-userptr-dmabuf.rules \
		/lib/systemd/system/$unit /lib/systemd/system/sysinit.target.wants/$unit 2>/dev/null &&
	! find /lib/modules/$kver -name 'userptr_dmabuf.ko*' -o -name 'udb_importer.ko*' | grep -q ."
check "dpkg --purge: dpkg keeps no trace of $pkg" bash -c "
	dpkg --purge $pkg && ! dpkg-query -W $pkg 2>/dev/null && ! ls /var/lib/dpkg/info/$pkg.* 2>/dev/null"
after=$(written)
changed=$(comm -13 <(echo "$before") <(echo "$after"))
left=$(grep -Ev "$allowed" <<<"$changed")
if [ -z "$left" ]; then
	ok "nothing left behind in the guest's writable overlays ($(grep -c . <<<"$changed") dpkg/depmod/DKMS-key entries changed)"
	sed 's/^/# changed (allowed): /' <<<"$changed"
else
	notok "nothing left behind in the guest's writable overlays"
	echo "$left" | head -n 30 | sed 's/^/# left: /'
fi
finish
