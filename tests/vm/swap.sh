#!/bin/sh
# Give the guest 64 MiB of swap on a loop device (once per boot), so that
# MADV_PAGEOUT really writes anonymous pages out and the exporter's refresh
# has to fault them back in from swap. Prints nothing and succeeds when the
# kernel cannot swap to a loop device; fails if it should and does not.
img=/tmp/udb-swap.img
if grep -q '^/dev/loop' /proc/swaps 2>/dev/null; then
	exit 0
fi
[ -e /proc/swaps ] || { echo "swap.sh: no swap in this kernel" >&2; exit 0; }
modprobe -q loop 2>/dev/null
truncate -s 64M "$img" &&
	dev=$(losetup -f --show "$img") &&
	mkswap -q "$dev" >/dev/null &&
	swapon "$dev" || { echo "swap.sh: cannot swap to a loop device" >&2; exit 1; }
