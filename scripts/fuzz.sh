#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A syzkaller campaign against the module (make fuzz FUZZ_MINUTES=N).
#
#   scripts/fuzz.sh [MINUTES]        (default $FUZZ_MINUTES, else 30)
#   scripts/fuzz.sh syzkaller        only build syzkaller with the description
#                                    (syz-sysgen compiles it), print its dir
#
# Builds or reuses, each cached under $UDMABUF_CACHE (/var/cache/userptr-dmabuf):
#   syzkaller   the pinned commit below, with tests/syzkaller/ copied into
#               sys/linux/ and its *.patch applied, built offline: that commit still vendors its Go
#               dependencies (vendor/, -mod=vendor, GOPROXY=off); Go >= 1.22.1
#               from Debian (golang-1.23-go, bookworm-backports)
#   kernel      7.3, flavour fuzz (tests/kconfig/fuzz.config: KCOV with
#               comparisons, KASAN, DWARF 5), scripts/kernel.sh
#   image       Debian bookworm minbase (debootstrap from Debian's archive)
#               with sshd and tini; the module and the reference importer,
#               built against the fuzz kernel, are insmod'ed at boot
# then runs syz-manager with QEMU under TCG (no KVM needed) for MINUTES and
# prints executions, the coverage of kmod/ and the crashes, which stay in
# build/fuzz/workdir/crashes/ (report*, log*, repro.* when syzkaller
# reproduced one). The corpus in build/fuzz/workdir carries over to the
# next run. Not part of make check.
#
# Environment:
#   FUZZ_VMS (1), FUZZ_VM_CPUS (2), FUZZ_VM_MEM (3072 MiB), FUZZ_PROCS (2)
#   SYZKALLER_GIT  where to get the pinned commit: a URL or a local git dir
#                  (default https://github.com/google/syzkaller)
#   FUZZ_HTTP      manager's web UI (127.0.0.1:56741)
#   FUZZ_REPRODUCE true to let the manager reproduce crashes (default false:
#                  with one TCG VM a reproduction takes it over for most of
#                  a campaign; the crash logs carry the programs)
#   FUZZ_UNTIL     be done by then, figures included (anything date -d
#                  reads, e.g. 12:30), however late the VM lock came: the
#                  fuzzing stops 10 min before it and the coverage figures
#                  get what is left
#   FUZZ_FLAVOUR   fuzz (default); debug runs on the 7.3 debug kernel of
#                  make check instead, without KCOV: no coverage feedback and
#                  no coverage figures, no KASAN (KFENCE only), but no hour-
#                  long kernel build either (a check of the whole set-up)
set -euo pipefail
# The whole script is one block, read before it runs: editing the file
# during a campaign does not change the run.
{

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${UDMABUF_CACHE:-/var/cache/userptr-dmabuf}
minutes=${1:-${FUZZ_MINUTES:-30}}
only_syzkaller=0
[ "$minutes" != syzkaller ] || { only_syzkaller=1; minutes=1; }
vms=${FUZZ_VMS:-1}
vm_cpus=${FUZZ_VM_CPUS:-2}
vm_mem=${FUZZ_VM_MEM:-3072}
procs=${FUZZ_PROCS:-2}
http=${FUZZ_HTTP:-127.0.0.1:56741}
# One TCG VM: a reproduction would take it over for most of a campaign.
reproduce=${FUZZ_REPRODUCE:-false}
out=$here/build/fuzz
mkdir -p "$out"
kver=7.3
flavour=${FUZZ_FLAVOUR:-fuzz}
case $flavour in fuzz) cover=true ;; debug) cover=false ;; *) echo "fuzz: FUZZ_FLAVOUR is fuzz or debug" >&2; exit 2 ;; esac

# The last syzkaller commit with vendor/ (the next one, "vendor: delete",
# made every build download its modules). go.mod: go 1.22.1.
SYZ_COMMIT=475a4c203afb8b7d3af51c4fd32bb170ff32a45e
SYZ_DATE=20250123-104056
SYZ_GIT=${SYZKALLER_GIT:-https://github.com/google/syzkaller}
# Bump when a change here changes what gets built.
RECIPE=1

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
if ! [[ $minutes =~ ^[0-9]+$ ]] || [ "$minutes" -eq 0 ]; then
	die "FUZZ_MINUTES must be a number of minutes"
fi
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, apt-get)"

# --- tools -----------------------------------------------------------------
find_go() {
	local g
	for g in /usr/lib/go-1.2[2-9]/bin/go /usr/lib/go-1.[3-9]*/bin/go $(command -v go || true); do
		[ -x "$g" ] || continue
		# go1.22.1 or later
		"$g" version | grep -qE 'go1\.(2[3-9]|[3-9][0-9])|go1\.22\.[1-9]' && { echo "$g"; return 0; }
	done
	return 1
}
go=$(find_go || true)
need=()
[ -n "$go" ] || need+=(golang-1.23-go)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	[ -e "$cache/apt-updated" ] || { apt-get update -qq && touch "$cache/apt-updated"; }
	# golang-1.23 is in bookworm-backports, which docs/testing.md's deps enable
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports "${need[@]}" >/dev/null
	go=$(find_go) || die "no Go >= 1.22.1 after installing golang-1.23-go"
fi
PATH=$(dirname "$go"):$PATH
export PATH

# --- syzkaller ---------------------------------------------------------------
syzcache=$cache/syzkaller
pristine=$syzcache/src-$SYZ_COMMIT
if [ ! -e "$pristine/.done" ]; then
	log "syzkaller $SYZ_COMMIT from $SYZ_GIT"
	rm -rf "$pristine" "$pristine.git"
	mkdir -p "$pristine"
	if [ -d "$SYZ_GIT/objects" ] || [ -d "$SYZ_GIT/.git" ]; then
		# A local clone or mirror. Export the tree blob by blob: a partial
		# mirror may lack a few large test-data blobs, which the build does
		# not need; any other missing file is fatal.
		gd=$SYZ_GIT; [ -d "$gd/.git" ] && gd=$gd/.git
		git --git-dir="$gd" ls-tree -r -z "$SYZ_COMMIT" | python3 -c '
import os, subprocess, sys
gd, out = sys.argv[1], sys.argv[2]
ents = [e.split(b"\t", 1) for e in sys.stdin.buffer.read().split(b"\0") if e]
p = subprocess.Popen(["git", "--git-dir", gd, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
bad = []
for meta, path in ents:
    mode, typ, oid = meta.split()
    if typ != b"blob":
        continue
    path = path.decode()
    p.stdin.write(oid + b"\n"); p.stdin.flush()
    hdr = p.stdout.readline().split()
    if hdr[1] == b"missing":
        if "/test_data/" not in path and not path.endswith(".json"):
            bad.append(path)
        print("fuzz: not in the mirror (not needed):", path, file=sys.stderr)
        continue
    data = p.stdout.read(int(hdr[2])); p.stdout.read(1)
    dst = os.path.join(out, path)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if mode == b"120000":
        os.symlink(data.decode(), dst)
    else:
        with open(dst, "wb") as f:
            f.write(data)
        os.chmod(dst, 0o755 if mode == b"100755" else 0o644)
if bad:
    sys.exit("missing from the mirror: " + ", ".join(bad))
' "$gd" "$pristine"
	else
		git init -q "$pristine.git"
		git -C "$pristine.git" fetch -q --depth 1 "$SYZ_GIT" "$SYZ_COMMIT"
		git -C "$pristine.git" --work-tree="$pristine" checkout -q FETCH_HEAD -- .
		rm -rf "$pristine.git"
	fi
	[ -d "$pristine/vendor" ] || die "syzkaller $SYZ_COMMIT has no vendor/"
	touch "$pristine/.done"
fi

# The description's constants are generated from protocol/ (not hand-typed).
"$here/tests/syzkaller/gen-const" dev_userptr_dmabuf.txt >/dev/null
desc=$here/tests/syzkaller/dev_userptr_dmabuf.txt
# Fixes to the pinned commit, each explained at its top (git apply).
patches=$(find "$here/tests/syzkaller" -maxdepth 1 -name '*.patch' | LC_ALL=C sort)
# shellcheck disable=SC2086
syzkey=$( { echo "recipe $RECIPE $SYZ_COMMIT"; "$go" version; cat "$desc" "$desc.const" $patches; } | sha256sum | cut -c1-12)
syz=$syzcache/build-$syzkey
if [ ! -e "$syz/.done" ]; then
	for old in "$syzcache"/build-*; do [ "$old" = "$syz" ] || rm -rf "$old"; done
	log "building syzkaller (syz-sysgen with our description, syz-manager, executor)"
	rm -rf "$syz"
	cp -a "$pristine" "$syz"
	# The copy carries the source's own .done: a build stopped half-way
	# must not count as built.
	rm -f "$syz/.done"
	cp "$desc" "$desc.const" "$syz/sys/linux/"
	for p in $patches; do
		(cd "$syz" && git apply "$p") || die "syzkaller: $p does not apply"
	done
	mkdir -p "$syzcache/gocache"
	# No network: vendor/ has every dependency (with vendor/modules.txt Go
	# builds -mod=vendor by default; GOFLAGS is the Makefile's own, do not
	# set it); GOPROXY=off proves it, GOTOOLCHAIN=local keeps Go
	# from fetching the toolchain go.mod asks for.
	(cd "$syz" && GOTOOLCHAIN=local GOPROXY=off \
		GOCACHE=$syzcache/gocache GOPATH=$syzcache/gopath \
		nice -n 19 make -j"$(nproc)" REV=$SYZ_COMMIT GITREVDATE=$SYZ_DATE \
		manager execprog executor >"$syzcache/build.log" 2>&1) ||
		{ tail -n 40 "$syzcache/build.log" >&2; die "syzkaller build failed ($syzcache/build.log)"; }
	for b in syz-manager linux_amd64/syz-execprog linux_amd64/syz-executor; do
		[ -x "$syz/bin/$b" ] || die "syzkaller build made no bin/$b"
	done
	touch "$syz/.done"
fi
if [ $only_syzkaller = 1 ]; then
	echo "$syz"
	exit 0
fi

# --- kernel and module ------------------------------------------------------
log "kernel $kver-$flavour (scripts/kernel.sh; a first fuzz build takes about an hour on 2 cores)"
kdir=$(nice -n 19 "$here/scripts/kernel.sh" "$kver" "$flavour")
# The module is built inside the kernel's build directory: syzkaller maps
# a PC to a source file relative to kernel_obj or kernel_src only, and
# drops files elsewhere from its coverage (and its coverage filters).
# Its objects go to a directory of their own (MO=): kbuild >= 6.13 compiles
# an external module in its output directory, and with the objects beside
# the sources it hands gcc bare names ("udb_main.c"), which DWARF keeps as
# the compile units' names. syzkaller names a unit by DW_AT_name alone and
# looks a relative one up under kernel_src: the units became "udb_main.c"
# (no such file there, so /filecover dropped them) while the symbolized PCs
# said "udb-fuzz/kmod/udb_main.c" (each such file listed with one PC), and
# a filter on udb-fuzz/kmod/ matched no unit. Built from elsewhere, gcc gets
# the absolute source path (VPATH; KBUILD_ABS_SRCTREE keeps it absolute),
# and the units are udb-fuzz/kmod/*.c. Build products of an in-tree build
# of kmod/ are not copied (kbuild refuses a source dir with a
# modules.order), and those of earlier runs here are deleted.
msrc=$kdir/udb-fuzz
mobj=$msrc/build
mkdir -p "$msrc"
rsync -a --delete --delete-excluded \
	--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
	--exclude='*.cmd' --exclude='.*.d' --exclude='*.a' --exclude=modules.order \
	--exclude=Module.symvers --exclude=.tmp_versions/ \
	"$here/kmod/" "$msrc/kmod/"
rsync -a --delete "$here/protocol/" "$msrc/protocol/"
log "module against $kdir"
make -s -C "$kdir" M="$msrc/kmod" MO="$mobj" KBUILD_ABS_SRCTREE=1 modules >"$out/kmod.log" 2>&1 ||
	{ cat "$out/kmod.log" >&2; die "module build failed"; }
mkdir -p "$out/modules"
cp "$mobj/userptr_dmabuf.ko" "$mobj/udb_importer.ko" "$out/modules/"
# vgem, for PRIME: an in-tree importer of our dma-bufs and an exporter of
# foreign ones (a module in base.config; the guest has no modprobe)
for m in drivers/gpu/drm/drm_shmem_helper.ko drivers/gpu/drm/vgem/vgem.ko; do
	[ -e "$kdir/$m" ] || die "no $m in $kdir (CONFIG_DRM_VGEM=m)"
	cp "$kdir/$m" "$out/modules/"
done
# The check of the above: the compile units of our sources are named by
# their absolute path under the kernel's build directory (the fuzz
# flavour's; the debug one has no debug info and no coverage).
units=$(readelf --debug-dump=info "$mobj/userptr_dmabuf.ko" "$mobj/udb_importer.ko" 2>/dev/null |
	sed -n 's/.*DW_AT_name .*: \(.*udb_[a-z_]*\.c\)$/\1/p')
if [ "$cover" = true ] && { [ -z "$units" ] || printf '%s\n' "$units" | grep -qv "^$msrc/kmod/udb_"; }; then
	die "module: compile units not named $msrc/kmod/*.c (syzkaller would not attribute their coverage): $(printf '%s' "$units" | tr '\n' ' ')"
fi

# --- disk image --------------------------------------------------------------
rootfs=$cache/fuzz/rootfs-bookworm
if [ ! -e "$rootfs/.done" ]; then
	log "debootstrap bookworm (minbase, sshd, tini)"
	mkdir -p "$cache/fuzz"
	rm -rf "$rootfs"
	debootstrap --variant=minbase \
		--include=openssh-server,openssh-sftp-server,iproute2,kmod,tini,procps \
		bookworm "$rootfs" http://deb.debian.org/debian >"$cache/fuzz/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache/fuzz/debootstrap.log" >&2; die "debootstrap failed"; }
	rm -rf "$rootfs/var/cache/apt/archives/"*.deb
	touch "$rootfs/.done"
fi
key=$cache/fuzz/id_ed25519
[ -e "$key" ] || ssh-keygen -q -t ed25519 -N '' -f "$key"

# PID 1: mount what the executor uses, a static address for QEMU's user
# network (syz-manager forwards a port to the guest's sshd), load the
# modules, then tini reaps the orphans the fuzzer's processes leave.
cat >"$out/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -o remount,rw /
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t configfs configfs /sys/kernel/config 2>/dev/null
hostname syzkaller
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
# No module requests: everything the fuzzer reaches is built in, and the
# executor's network device set-up calls request_module() per device
# name; under TCG those usermode helpers stalled the executor for minutes
# (two executors in D in call_usermodehelper_exec, no execution at all).
# An empty modprobe path makes request_module() fail at once (-ENOENT).
echo >/proc/sys/kernel/modprobe
# What the buffers mirror should change as it does on a desktop: KSM
# merges (mmu-notifier invalidations of mirrored pages), hugetlb pages for
# MAP_HUGETLB / MFD_HUGETLB, two NUMA nodes (the manager's qemu_args) for
# mbind / migrate_pages / move_pages.
# The executor allows 128 MiB core dumps (to reach the dump code), and
# under TCG with KASAN a dump of its mappings to tmpfs takes minutes: a
# dozen crashed programs dumping at once stalled the executors (runnable
# for minutes in elf_core_dump). A core file that cannot be created ends
# each dump before it writes anything.
echo /nonexistent/core >/proc/sys/kernel/core_pattern
echo 1 >/sys/kernel/mm/ksm/run
echo 20 >/sys/kernel/mm/ksm/sleep_millisecs
echo 32 >/proc/sys/vm/nr_hugepages
for m in drm_shmem_helper vgem userptr_dmabuf udb_importer; do
	insmod /udb/$m.ko || echo "udb-fuzz-init: insmod $m failed" >/dev/console
done
mkdir -p /run/sshd
exec /usr/bin/tini -s -- /usr/sbin/sshd -D -e
EOF
printf '/dev/root / ext4 defaults 0 0\n' >"$out/fstab"
printf 'PermitRootLogin prohibit-password\nUseDNS no\nPasswordAuthentication no\n' >"$out/sshd.conf"

log "disk image"
rm -f "$out/image.img"
truncate -s 2G "$out/image.img"
mkfs.ext4 -q -F -L root -d "$rootfs" "$out/image.img"
{
	echo "mkdir /udb"
	echo "write $out/modules/userptr_dmabuf.ko /udb/userptr_dmabuf.ko"
	echo "write $out/modules/udb_importer.ko /udb/udb_importer.ko"
	echo "write $out/modules/drm_shmem_helper.ko /udb/drm_shmem_helper.ko"
	echo "write $out/modules/vgem.ko /udb/vgem.ko"
	echo "write $out/init /udb/init"
	echo "sif /udb/init mode 0100755"
	echo "mkdir /root/.ssh"
	echo "write $key.pub /root/.ssh/authorized_keys"
	echo "rm /etc/fstab"
	echo "write $out/fstab /etc/fstab"
	echo "write $out/sshd.conf /etc/ssh/sshd_config.d/udb-fuzz.conf"
} | debugfs -w -f - "$out/image.img" >"$out/debugfs.log" 2>&1
debugfs -R "stat /udb/init" "$out/image.img" 2>/dev/null | grep -q 'Mode:.*0755' ||
	die "image: /udb/init missing ($out/debugfs.log)"

# Two NUMA nodes of half the memory each, one CPU each.
numa="-object memory-backend-ram,id=m0,size=$((vm_mem / 2))M -object memory-backend-ram,id=m1,size=$((vm_mem - vm_mem / 2))M -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1-$((vm_cpus - 1)),memdev=m1"
[ "$vm_cpus" -ge 2 ] || numa=

# --- manager config ------------------------------------------------------------
# shellcheck disable=SC2016
syscalls='
"openat$userptr_dmabuf", "openat$udb_importer",
"ioctl$USERPTR_DMABUF*", "ioctl$UDB_IMPORTER*",
"ioctl$DMA_BUF*", "openat$udambuf", "ioctl$UDMABUF_CREATE_udb",
"ioctl$UDMABUF_CREATE_LIST_udb", "fcntl$addseals",
"openat$dma_heap", "ioctl$DMA_HEAP_IOCTL_ALLOC_udb",
"openat$sw_sync", "ioctl$SW_SYNC*", "ioctl$SYNC_IOC*",
"mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "munlock",
"msync", "memfd_create", "ftruncate", "fallocate",
"migrate_pages", "move_pages", "mbind", "set_mempolicy",
"memfd_secret", "shmget$private", "shmat", "shmdt",
"userfaultfd", "ioctl$UFFDIO*",
"openat$drirender128", "syz_open_dev$dri",
"ioctl$DRM_IOCTL_MODE_CREATE_DUMB_udb", "ioctl$DRM_IOCTL_PRIME_HANDLE_TO_FD_udb",
"ioctl$DRM_IOCTL_PRIME_FD_TO_HANDLE_udb", "ioctl$DRM_IOCTL_GEM_CLOSE",
"close", "dup", "poll", "ppoll", "clock_gettime", "syz_clone"'
# FUZZ_FOCUS=1 adds a focus area giving the module's files ten times the
# weight of the rest of the kernel (an experimental option of the pinned
# manager). Off by default: with it on, the pinned manager's executors
# reported no coverage at all (empty /rawcover and coverage 0 after ten
# minutes, every candidate dropped in triage), although its filter lists
# every file of the module.
focus=
[ "${FUZZ_FOCUS:-0}" = 0 ] || focus='
	"experimental": { "focus_areas": [
		{ "name": "udb", "filter": { "files": ["^udb-fuzz/kmod/"] }, "weight": 10.0 },
		{ "weight": 1.0 } ] },'
# A corpus is only good for the kernel it was collected on.
mkdir -p "$out/workdir-$flavour"
ln -sfn "workdir-$flavour" "$out/workdir"
cat >"$out/manager.cfg" <<EOF
{
	"target": "linux/amd64",
	"http": "$http",
	"workdir": "$out/workdir-$flavour",
	"kernel_obj": "$kdir",
	"kernel_src": "$(readlink -f "$kdir/source")",
	"module_obj": ["$mobj"],
	"image": "$out/image.img",
	"sshkey": "$key",
	"syzkaller": "$syz",
	"procs": $procs,
	"sandbox": "none",
	"reproduce": $reproduce,
	"ignores": ["WARNING in dma_buf_vmap"],
	"type": "qemu",
	"cover": $cover,
	"enable_syscalls": [$syscalls],$focus
	"vm": {
		"count": $vms,
		"cpu": $vm_cpus,
		"mem": $vm_mem,
		"kernel": "$kdir/arch/x86/boot/bzImage",
		"cmdline": "root=/dev/vda rw init=/udb/init net.ifnames=0 watchdog_thresh=60 kasan.fault=report rcupdate.rcu_cpu_stall_timeout=100",
		"qemu_args": "-machine q35 -cpu max -accel tcg,thread=multi $numa",
		"image_device": "drive index=0,media=disk,if=virtio,format=raw,file=",
		"network_device": "virtio-net-pci"
	}
}
EOF

# syz-manager symbolizes with llvm-addr2line when there is one, and LLVM
# 14's (bookworm's) gets most PCs of a relocatable .ko wrong (line 0, or a
# line of another compile unit: 4 lines of udb_buffer.c where GNU addr2line
# finds 381), though not those of vmlinux, where GNU addr2line is eight
# times slower. So the manager's PATH starts with a llvm-addr2line that
# hands a .ko to GNU addr2line.
mkdir -p "$out/bin"
rm -f "$out/bin/llvm-addr2line"
if llvm_a2l=$(command -v llvm-addr2line); then
	printf '%s\n' '#!/bin/sh' \
		'# scripts/fuzz.sh: syz-manager runs llvm-addr2line -afi -e BIN' \
		'case "$*" in *.ko) exec addr2line "$@" ;; esac' \
		"exec $llvm_a2l \"\$@\"" >"$out/bin/llvm-addr2line"
	chmod +x "$out/bin/llvm-addr2line"
fi

# --- campaign ------------------------------------------------------------------
log "fuzzing for $minutes min (web UI http://$http; log $out/manager.log)"
# One VM user at a time on this machine (the lock tests/vm/run's callers take).
exec 8>/tmp/udb-vm.lock
if ! flock -n 8; then
	log "waiting for /tmp/udb-vm.lock (another VM run)"
	if [ -n "${FUZZ_UNTIL:-}" ]; then
		# at least 5 minutes of fuzzing, or none
		wait_s=$(( $(date -d "$FUZZ_UNTIL" +%s) - 600 - 300 - $(date +%s) ))
		if [ "$wait_s" -le 0 ] || ! flock -w "$wait_s" 8; then
			die "no VM time before FUZZ_UNTIL ($FUZZ_UNTIL) less the 10 min of figures"
		fi
	else
		flock 8
	fi
fi
start=$(date +%s)
PATH=$out/bin:$PATH "$syz/bin/syz-manager" -config "$out/manager.cfg" >"$out/manager.log" 2>&1 &
mgr=$!
# On any exit: the manager stops its VMs on SIGINT; one that does not
# within a minute is killed with them (they hold the VM lock's fd too).
stop_manager() {
	kill -INT $mgr 2>/dev/null || return 0
	for _ in $(seq 60); do kill -0 $mgr 2>/dev/null || break; sleep 1; done
	kill -KILL $mgr 2>/dev/null || true
	pkill -KILL -f "qemu-system.*$out/image.img" 2>/dev/null || true
	wait $mgr 2>/dev/null || true
}
trap stop_manager EXIT
end=$((start + minutes * 60))
# FUZZ_UNTIL bounds the whole campaign: the figures (a first /filecover
# symbolizes all of vmlinux) get the last 10 minutes
until=
if [ -n "${FUZZ_UNTIL:-}" ]; then
	until=$(date -d "$FUZZ_UNTIL" +%s) || die "FUZZ_UNTIL: not a time"
	[ $((until - 600)) -ge "$end" ] || end=$((until - 600))
	[ "$end" -gt "$start" ] || die "FUZZ_UNTIL ($FUZZ_UNTIL) leaves no fuzzing time after the 10 min of figures"
fi
checked=0
while kill -0 $mgr 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
	sleep 60
	# the manager's heartbeat: "corpus=N coverage=N exec total=N ..."
	line=$(grep -E 'exec total=' "$out/manager.log" | tail -n 1 || true)
	[ -z "$line" ] || log "$(( ($(date +%s) - start) / 60 )) min: ${line#* [0-9]*:[0-9]*:[0-9]* }"
	# The machine check disables what the VM lacks: without our devices
	# (an insmod failed) the campaign would not fuzz the module at all.
	if [ $checked = 0 ] && grep -q '^syscalls  *:' "$out/manager.log"; then
		checked=1
		! grep -E "^openat[$](userptr_dmabuf|udb_importer) +:" "$out/manager.log" >&2 ||
			die "the VM has no /dev/userptr_dmabuf or /dev/udb_importer (see the console in $out/workdir/crashes or the manager log): nothing of the module would be fuzzed"
		# every call of our description must be enabled (vgem, udmabuf
		# and the system heap are in the guest for the foreign ones)
		! grep -E '^[a-z0-9_]+[$][A-Za-z0-9_]*(udb|USERPTR_DMABUF|UDB_IMPORTER)[A-Za-z0-9_]* +:' "$out/manager.log" >&2 ||
			die "the machine check disabled calls of our description (above; the reason after the colon)"
	fi
done
kill -0 $mgr 2>/dev/null || { tail -n 30 "$out/manager.log" >&2; die "syz-manager exited early"; }
# The figures below are of the fuzzing window: the last heartbeat before
# the symbolization (which slows the guest) starts.
hb=$(grep -E 'exec total=' "$out/manager.log" | tail -n 1 || true)

# Figures, while the manager still serves them.
curl -s --max-time 60 "http://$http/stats" >"$out/stats.html" || true
# The first request symbolizes the whole vmlinux: minutes on 2 cores.
figtime=900
[ -z "$until" ] || figtime=$((until - $(date +%s) - 120))
[ "$figtime" -ge 60 ] || figtime=60
[ "$figtime" -le 900 ] || figtime=900
curl -s --max-time "$figtime" "http://$http/filecover" >"$out/filecover.csv" ||
	log "no coverage figures within $figtime s"
# The same from the raw PCs and the .ko's call sites, without syzkaller's
# attribution (a check of it).
rm -f "$out/kmod-rawcover.txt"
[ "$cover" != true ] ||
	"$here/tests/syzkaller/kmod-rawcover" --http "$http" --save "$out" \
		"$out/modules/userptr_dmabuf.ko" "$out/modules/udb_importer.ko" >"$out/kmod-rawcover.txt" 2>&1 || true
stop_manager
trap - EXIT
flock -u 8

elapsed=$(( $(date +%s) - start ))
echo "== fuzz: $((elapsed / 60)) min, syzkaller $SYZ_COMMIT, kernel $kver-$flavour"
echo "$hb"
# the rate over the fuzzing window: from the first heartbeat that counts
# an execution (boot and the machine check come before it) to the last
# one before the figures were fetched
execs=$(printf '%s\n' "$hb" | grep -oE 'exec total=[0-9]+' | cut -d= -f2 || true)
execs=${execs:-0}
firstline=$(grep -E 'exec total=[1-9]' "$out/manager.log" | head -n 1 || true)
exec0=$(printf '%s\n' "$firstline" | grep -oE 'exec total=[0-9]+' | cut -d= -f2 || true)
first=$(printf '%s' "$firstline" | cut -c1-19)
last=$(printf '%s' "$hb" | cut -c1-19)
window=0
[ -z "$first" ] || window=$(( $(date -d "$last" +%s) - $(date -d "$first" +%s) ))
execs=$((execs - ${exec0:-0}))
echo "executions: $execs in a fuzzing window of $((window / 60)) min ($(awk -v e="$execs" -v s="$window" 'BEGIN { printf "%.2f", s ? e / s : 0 }')/s)"
# Only the .c files: syzkaller lists a header with a covered line as one
# PC of one, its PCs are in the .c file's.
# syzkaller's "lines" total is the file's line count (comments and blank
# lines too): only its covered count means something.
echo "coverage of kmod/ (PCs, covered lines):"
awk -F, 'NR > 1 && $2 ~ /^udb-fuzz\/kmod\/.*\.c$/ {
	cl += $3; tl += $4; cp += $5; tp += $6
	printf "  %-28s %5d/%-5d PCs  %5d lines covered\n", $2, $5, $6, $3
} END {
	if (tl) printf "  %-28s %5d/%-5d PCs (%.1f%%)  %5d lines covered\n", "total", cp, tp, 100 * cp / (tp ? tp : 1), cl
	else print "  (none: see " FILENAME ")"
}' "$out/filecover.csv"
[ ! -s "$out/kmod-rawcover.txt" ] ||
	{ grep -E 'reached|at no call|kmod-rawcover' "$out/kmod-rawcover.txt" | sed 's/^ */  raw PCs: /' || true; }
echo "crashes:"
n=0
for d in "$out"/workdir/crashes/*/; do
	[ -e "$d/description" ] || continue
	n=$((n + 1))
	repro=none
	[ -e "$d/repro.prog" ] && repro=$d/repro.prog
	[ -e "$d/repro.cprog" ] && repro=$d/repro.cprog
	new=earlier
	[ -z "$(find "$d" -name 'log*' -newermt "@$start" -print -quit)" ] || new="this run"
	printf '  %s (%s)\n    logs: %s  reproducer: %s\n' "$(cat "$d/description")" "$new" "$d" "$repro"
done
[ $n -gt 0 ] || echo "  none"
# A campaign that kept no program, or never reached the module, fuzzed
# nothing worth the name: say so in the exit status too.
corpus=$(printf '%s\n' "$hb" | grep -oE 'corpus=[0-9]+' | cut -d= -f2 || true)
if [ "${corpus:-0}" = 0 ]; then
	log "the corpus stayed empty: no program was kept"
	exit 1
fi
# the module's coverage from the raw PCs (no symbolization to wait for)
if [ "$cover" = true ]; then
	reached=$(sed -n 's/^\([0-9]*\) of [0-9]* coverage points of kmod\/ reached.*/\1/p' "$out/kmod-rawcover.txt" 2>/dev/null | head -n 1)
	if [ -z "$reached" ]; then
		log "warning: no raw coverage figures ($out/kmod-rawcover.txt)"
	elif [ "$reached" = 0 ]; then
		log "no coverage point of the module was reached"
		exit 1
	fi
fi
exit 0
}
