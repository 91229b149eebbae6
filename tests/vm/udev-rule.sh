#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM, after the modules are loaded: install
# packaging/70-userptr-dmabuf.rules as an installed system has it and let
# udev apply it, so the steps run as nobody (in the rule's group) use the
# devices the way a user would. The guest's root is the host's, read-only,
# where the rule is not installed: it goes to /run/udev/rules.d, udev
# reloads its rules and the devices are re-triggered. tests/vm/guest.sh
# restarted udevd with group names resolved (virtme-init starts it with
# --resolve-names=never, which drops every GROUP="name" of every rule).
# Fails unless udev gave each device present (/dev/userptr_dmabuf, and
# /dev/udb_importer when its module is loaded) the rule's group and mode.
#   udev-rule.sh       install the rule, check the devices
#   udev-rule.sh off   remove it again (before a step that checks the
#                      module's own 0600)
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
rule=$here/packaging/70-userptr-dmabuf.rules
if [ "${1:-}" = off ]; then
	rm -f /run/udev/rules.d/70-userptr-dmabuf.rules
	udevadm control --reload
	exit
fi
[ -e /dev/userptr_dmabuf ] || { echo "udev-rule: no /dev/userptr_dmabuf (is the module loaded?)"; exit 1; }
command -v udevadm >/dev/null && udevadm control --ping 2>/dev/null ||
	{ echo "udev-rule: udevd is not running"; exit 1; }
mkdir -p /run/udev/rules.d
cp "$rule" /run/udev/rules.d/
udevadm control --reload
rc=0
for name in userptr_dmabuf udb_importer; do
	dev=/dev/$name
	[ -e "$dev" ] || continue
	group=$(sed -n "s/^KERNEL==\"$name\".*GROUP=\"\([^\"]*\)\".*/\1/p" "$rule")
	mode=$(sed -n "s/^KERNEL==\"$name\".*MODE=\"0*\([0-7]*\)\".*/\1/p" "$rule")
	[ -n "$group" ] && [ -n "$mode" ] || { echo "udev-rule: no line for $name in $rule"; rc=1; continue; }
	udevadm trigger --action=add --subsystem-match=misc --sysname-match="$name"
	udevadm settle --timeout=10
	got=$(stat -c '%U %G %a' "$dev")
	echo "udev-rule: $dev is '$got' after udev applied the rule (want 'root $group $mode')"
	[ "$got" = "root $group $mode" ] || rc=1
	# uaccess must be set before 71-seat.rules, which tags such devices
	# "seat" (and 73-seat-late.rules hands them to logind)
	if grep -q "^KERNEL==\"$name\".*TAG+=\"uaccess\"" "$rule" &&
		[ -e /lib/udev/rules.d/71-seat.rules ]; then
		tags=$(udevadm info --query=property --name="$dev" | sed -n 's/^TAGS=//p')
		echo "udev-rule: $dev tags '$tags' (want uaccess and seat)"
		case $tags in *:uaccess:*) ;; *) rc=1 ;; esac
		case $tags in *:seat:*) ;; *) rc=1 ;; esac
	fi
done
exit $rc
