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

# virtme-init starts udevd with --resolve-names=never: udev then drops
# every GROUP="name" / OWNER="name" of every rule (systemd's udev-rules.c:
# "Resolving group name is disabled, ignoring GROUP=..."), so a rule like
# packaging/70-userptr-dmabuf.rules could only ever set the mode. The
# guest's /etc/group is the host's: restart udevd resolving names, as an
# installed system runs it. tests/vm/udev-rule.sh fails if udev does not
# apply the rule.
udevd=$(command -v systemd-udevd || ls /lib/systemd/systemd-udevd /usr/lib/systemd/systemd-udevd 2>/dev/null | head -n 1)
if pgrep -f -- 'udevd.*--resolve-names=never' >/dev/null && [ -x "$udevd" ]; then
	{
		udevadm control --exit &&
			"$udevd" --daemon --resolve-names=early &&
			udevadm control --ping &&
			echo "udevd restarted with --resolve-names=early"
	} >"$out/udevd.log" 2>&1 || echo "udevd restart failed" >>"$out/udevd.log"
fi

# virtme-init points /dev/stdout and /dev/stderr at its own virtio ports,
# so whatever a step writes there by name (kselftest's runner writes every
# test's output to /dev/stdout) goes to the console, not to the step's
# log. The usual links: a process's own stdout and stderr.
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr

zero_bad=
while read -r name tmo cmd; do
	case $name in '' | '#'*) continue ;; esac
	echo "$name" >>"$out/steps"
	start=$(date +%s.%N)
	timeout --kill-after=10 "$tmo" bash -c "$cmd" >"$out/$name.log" 2>&1 </dev/null
	rc=$?
	# A write that reached the shared zero page corrupts every process and
	# leaves dmesg clean: check after every step, and name the step.
	if [ -x "${UDB_BUILD:-}/bin/zerocheck" ] && [ -z "$zero_bad" ] &&
		! "$UDB_BUILD/bin/zerocheck" >>"$out/$name.log" 2>&1; then
		zero_bad=$name
		echo "# zero page corrupted during this step" >>"$out/$name.log"
		[ "$rc" = 0 ] && rc=98
	elif [ -n "$zero_bad" ] && [ "$rc" != 0 ]; then
		echo "# (the zero page was corrupted during step $zero_bad)" >>"$out/$name.log"
	fi
	echo $rc >"$out/$name.rc"
	# which step tainted the kernel, if one did (tests/vm/run reports it)
	echo "$name $(cat /proc/sys/kernel/tainted)" >>"$out/taint-steps"
	echo "$start $(date +%s.%N)" >"$out/$name.time"
done <"$plan"

# Kernels with kmemleak (the kasan flavour): scan now; leaks show up in
# dmesg as "N new suspected memory leaks", which scan-dmesg fails on.
if [ -e /sys/kernel/debug/kmemleak ] ||
	{ mount -t debugfs none /sys/kernel/debug 2>/dev/null && [ -e /sys/kernel/debug/kmemleak ]; }; then
	# objects freed just now are still in RCU / per-cpu caches: settle first
	sleep 5
	echo scan >/sys/kernel/debug/kmemleak
	sleep 2
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$out/kmemleak.txt" 2>&1
fi

# End-of-run checks, one TAP line each in tests/vm/run: lockdep still on
# (its first report turns it off, so later ones would go unseen), no
# DMA-API debug error and DMA-API debug still on, the kernel's taint flags.
[ -d /sys/kernel/debug/dma-api ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
{
	if [ -r /proc/lockdep_stats ]; then
		echo "debug_locks $(awk '$1 == "debug_locks:" { print $2 }' /proc/lockdep_stats)"
	else
		echo "debug_locks absent"
	fi
	if [ -r /sys/kernel/debug/dma-api/error_count ]; then
		echo "dma_api_errors $(cat /sys/kernel/debug/dma-api/error_count)"
		echo "dma_api_disabled $(cat /sys/kernel/debug/dma-api/disabled)"
	else
		echo "dma_api_errors absent"
	fi
	echo "tainted $(cat /proc/sys/kernel/tainted)"
} >"$out/end-checks" 2>&1

dmesg >"$out/dmesg.txt"
read -r up _ </proc/uptime
echo "$up" >"$out/end-seconds"
