#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM, after the module is loaded: give /dev/userptr_dmabuf the
# group and mode packaging/99-userptr-dmabuf.rules gives it on an
# installed system, so the steps run as nobody (in that group) use the
# device the way a user would. The guest's root is the host's, read-only,
# where the rule is not installed; virtme-ng's guest runs systemd-udevd,
# so the rule goes to /run/udev/rules.d and the device is re-triggered. If
# udev did not apply it, the rule's effect is applied by hand
# (chgrp/chmod), and the log says which.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
rule=$here/packaging/99-userptr-dmabuf.rules
dev=/dev/userptr_dmabuf
[ -e "$dev" ] || { echo "udev-rule: no $dev (is the module loaded?)"; exit 1; }
group=$(sed -n 's/^KERNEL=="userptr_dmabuf".*GROUP="\([^"]*\)".*/\1/p' "$rule")
mode=$(sed -n 's/^KERNEL=="userptr_dmabuf".*MODE="0*\([0-7]*\)".*/\1/p' "$rule")
[ -n "$group" ] && [ -n "$mode" ] || { echo "udev-rule: cannot read $rule"; exit 1; }
want="root $group $mode"
how="not at all"
if command -v udevadm >/dev/null && udevadm control --ping 2>/dev/null; then
	mkdir -p /run/udev/rules.d
	cp "$rule" /run/udev/rules.d/
	udevadm control --reload
	udevadm trigger --action=add --subsystem-match=misc --sysname-match=userptr_dmabuf
	udevadm settle --timeout=10
	how="by udev" udev=yes
fi
if [ "$(stat -c '%U %G %a' "$dev")" != "$want" ]; then
	chown "root:$group" "$dev" && chmod "$mode" "$dev"
	how="by hand (chown/chmod as the rule says; udev ran: ${udev:-no})"
fi
got=$(stat -c '%U %G %a' "$dev")
echo "udev-rule: $dev is '$got', applied $how"
[ "$got" = "$want" ]
