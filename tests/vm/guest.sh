#!/usr/bin/env bash
# Runs inside the VM (as root, cwd = repository). Executes a plan of steps
# and leaves one NAME.log + NAME.rc per step and the kernel log in OUTDIR.
#
#   guest.sh OUTDIR PLAN
# PLAN lines: NAME TIMEOUT_SECONDS COMMAND...   ('#' starts a comment)
# COMMAND runs under bash with UDB_BUILD set (this kernel's build dir).
set -u
out=$1
plan=$2
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
read -r up _ </proc/uptime
echo "$up" >"$out/boot-seconds"
# Keep dmesg's ring intact for scanning; print splats on the console too.
dmesg >"$out/dmesg-boot.txt"
echo madvise >/sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null

while read -r name tmo cmd; do
	case $name in '' | '#'*) continue ;; esac
	echo "$name" >>"$out/steps"
	start=$(date +%s.%N)
	timeout --kill-after=10 "$tmo" bash -c "$cmd" >"$out/$name.log" 2>&1 </dev/null
	echo $? >"$out/$name.rc"
	echo "$start $(date +%s.%N)" >"$out/$name.time"
done <"$plan"

dmesg >"$out/dmesg.txt"
read -r up _ </proc/uptime
echo "$up" >"$out/end-seconds"
