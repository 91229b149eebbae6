#!/bin/sh
# Mount a small ext4 file system on a loop device at /tmp/udb-ext4 (once
# per boot) and print its path, for the tests of writable buffers over a
# disk file's shared mapping (UDB_DISK). Prints nothing when the kernel has
# no ext4 (a stock kernel without the module); fails if it has ext4 and the
# mount still does not work.
dir=/tmp/udb-ext4
img=/tmp/udb-ext4.img
if mountpoint -q "$dir" 2>/dev/null; then
	echo "$dir"
	exit 0
fi
modprobe -q loop 2>/dev/null
modprobe -q ext4 2>/dev/null
if ! grep -qw ext4 /proc/filesystems; then
	echo "ext4.sh: no ext4 in this kernel; disk-file tests skip" >&2
	exit 0
fi
mkdir -p "$dir" &&
	truncate -s 64M "$img" &&
	mkfs.ext4 -q -F -b 4096 "$img" &&
	mount -o loop "$img" "$dir" &&
	chmod 1777 "$dir" || { echo "ext4.sh: cannot mount ext4 at $dir" >&2; exit 1; }
echo "$dir"
