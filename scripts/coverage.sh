#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make coverage: the line coverage of kmod/ that the VM test plans reach,
# measured with gcov. Not part of make check.
#
#   scripts/coverage.sh [OUTDIR]        (default build/coverage)
#
# Builds (or reuses) the cover flavour of the 7.3 test kernel
# (tests/kconfig/cover.config: CONFIG_GCOV_KERNEL, KCOV for the module
# only), runs make check's module plans on it with both modules built
# UDB_COVER=y (gcov-profiled, kmod/Kbuild), each boot ending with
# coverage.plan, which copies the modules' .gcda out of debugfs; adds the
# boots' counts up (gcov-tool merge) and runs gcov over them with the
# .gcno of the modules' build. Writes to OUTDIR:
#   summary.txt    line coverage per file and in total, per module and of
#                  kmod/ (also printed)
#   coverage.info  the per-line counts of kmod/'s files, an lcov tracefile
#   html/          genhtml's report of it, when lcov is installed
#                  (apt-get install lcov)
#   vm-N/, vm-N.tap  boot N's tests/vm/run logs and TAP
#   gcda/, gcno/, src/kmod/  the merged counts, the notes and the sources
#                  they belong to (gcov -o OUTDIR/gcda OUTDIR/gcda/X.gcno)
# Exit status 0 only when every VM run passed and every boot brought
# .gcda back; when a run failed the figures are printed all the same.
#
# COVERAGE_KERNEL (7.3) and COVERAGE_BOOTS, the plans of each boot with
# boots separated by ';' (default "smoke exporter jobs torture
# kselftest;hotplug": hotplug in a boot of its own, as make check runs
# it), change what runs. Each VM run holds /tmp/udb-vm.lock, the lock
# make fuzz holds for its campaign.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$here/build/coverage}")
kernel=${COVERAGE_KERNEL:-7.3}
boots=${COVERAGE_BOOTS:-smoke exporter jobs torture kselftest;hotplug}
gcov=${GCOV:-gcov}
gcov_tool=${GCOV_TOOL:-gcov-tool}
tag=$kernel-cover
bdir=$here/build/k/$tag
log() { printf 'coverage: %s\n' "$*" >&2; }

for t in "$gcov" "$gcov_tool" python3 flock; do
	command -v "$t" >/dev/null || { log "no $t (gcc's gcov, gcov-tool; python3; flock)"; exit 1; }
done
# Checked before anything runs: every plan exists.
IFS=';' read -r -a boot_list <<<"$boots"
for b in "${boot_list[@]}"; do
	for p in $b; do
		[ -e "$here/tests/vm/plans/$p.plan" ] || { log "no tests/vm/plans/$p.plan"; exit 2; }
	done
done

start=$(date +%s)
kdir=$("$here/scripts/kernel.sh" "$kernel" cover)
kbuild_s=$(($(date +%s) - start))
# gcov reads what the kernel's compiler wrote: the same GCC major.
kcc=$(sed -n 's/^CONFIG_GCC_VERSION=\([0-9]*\)/\1/p' "$kdir/.config")
gv=$("$gcov" --version | sed -n '1s/.* \([0-9][0-9]*\)\.[0-9][0-9]*\.[0-9][0-9]*.*/\1/p')
if [ -z "$kcc" ] || [ "$((kcc / 10000))" != "$gv" ]; then
	log "$gcov is GCC $gv's, the kernel was built by GCC ${kcc:-?} (GCOV=gcov-N for another)"
	exit 1
fi

rm -rf "$out"
mkdir -p "$out"
vm_failed=0 i=0 srcsum=
for b in "${boot_list[@]}"; do
	i=$((i + 1))
	plans=()
	for p in $b coverage; do plans+=("$here/tests/vm/plans/$p.plan"); done
	log "boot $i: $b (waiting for /tmp/udb-vm.lock if another VM run holds it)"
	bstart=$(date +%s)
	rc=0
	flock /tmp/udb-vm.lock "$here/tests/vm/run" -k "$kernel" -f cover -o "$out/vm-$i" "${plans[@]}" \
		>"$out/vm-$i.tap" 2>&1 || rc=$?
	grep -E '^(not ok|# .*wall)' "$out/vm-$i.tap" >&2 || true
	log "boot $i: $(tail -n 1 "$out/vm-$i.tap") in $(($(date +%s) - bstart))s (exit $rc; $out/vm-$i.tap)"
	[ $rc = 0 ] || vm_failed=$((vm_failed + 1))
	# The notes of this boot's build: every boot's build must be of the
	# same source, or their counts cannot be added up.
	sum=$(cd "$bdir/src" && cat kmod/*.[ch] kmod/Kbuild protocol/*.h | sha256sum | cut -c1-16)
	if [ -n "$srcsum" ] && [ "$sum" != "$srcsum" ]; then
		log "kmod/ changed between boots (the module was rebuilt from other source); run again"
		exit 1
	fi
	srcsum=$sum
	rm -rf "$out/gcno"
	mkdir -p "$out/gcno" "$out/src"
	cp "$bdir"/src/kmod/*.gcno "$bdir"/src/kmod/*.mod "$out/gcno/"
	rm -rf "$out/src/kmod"
	cp -r "$bdir/src/kmod" "$out/src/kmod"
	n=$(find "$out/vm-$i/gcov" -name '*.gcda' 2>/dev/null | wc -l)
	if [ "$n" = 0 ]; then
		log "boot $i: no .gcda came back (see $out/vm-$i/gcov-collect.log)"
		exit 1
	fi
	# Add this boot's counts to those of the boots before.
	if [ $i = 1 ]; then
		cp -r "$out/vm-$i/gcov" "$out/gcda"
	else
		"$gcov_tool" merge -o "$out/gcda.new" "$out/gcda" "$out/vm-$i/gcov"
		rm -rf "$out/gcda"
		mv "$out/gcda.new" "$out/gcda"
	fi
done
run_s=$(($(date +%s) - start - kbuild_s))

# gcov per object, its JSON summed up per line of each kmod/ file.
cp "$out"/gcno/*.gcno "$out/gcda/"
mkdir -p "$out/json"
for g in "$out"/gcda/*.gcno; do
	o=$(basename "$g" .gcno)
	(cd "$out/json" && "$gcov" --json-format --stdout -o "$out/gcda" "$g" >"$o.json" 2>"$o.err") ||
		{ cat "$out/json/$o.err" >&2; log "gcov failed on $o"; exit 1; }
	# (an object without a .gcda, of a module no plan loaded, is all
	# unexecuted lines: the summary says so)
	if grep -qi 'stamp mismatch\|mismatch\|corrupt\|overflow' "$out/json/$o.err"; then
		cat "$out/json/$o.err" >&2
		log "gcov could not use the counts of $o"
		exit 1
	fi
done

python3 - "$out" "$tag" "$boots" "$(date -u '+%Y-%m-%d %H:%M UTC')" <<'PY'
import json, os, sys

out, tag, boots, when = sys.argv[1:5]
gcno = os.path.join(out, 'gcno')
srcdir = os.path.join(out, 'src', 'kmod')

def kmod_name(path, cwd):
    """kmod/FILE for a file of the modules' source, else None."""
    p = os.path.normpath(os.path.join(cwd, path))
    d, name = os.path.split(p)
    if os.path.basename(d) == 'kmod' and os.path.exists(os.path.join(srcdir, name)):
        return 'kmod/' + name
    return None

# per object: {kmod file: {line: count}}
objs = {}
for j in sorted(os.listdir(os.path.join(out, 'json'))):
    if not j.endswith('.json'):
        continue
    with open(os.path.join(out, 'json', j)) as f:
        d = json.load(f)
    lines = {}
    for fi in d['files']:
        name = kmod_name(fi['file'], d.get('current_working_directory', ''))
        if name is None:
            continue
        acc = lines.setdefault(name, {})
        for ln in fi['lines']:
            acc[ln['line_number']] = acc.get(ln['line_number'], 0) + ln['count']
    objs[j[:-5]] = lines

def merge(names):
    acc = {}
    for o in names:
        for f, ls in objs.get(o, {}).items():
            a = acc.setdefault(f, {})
            for n, c in ls.items():
                a[n] = a.get(n, 0) + c
    return acc

modules = []
for m in ('userptr_dmabuf', 'udb_importer'):
    with open(os.path.join(gcno, m + '.mod')) as f:
        members = [os.path.basename(x)[:-2] for x in f.read().split()]
    missing = [o for o in members if o not in objs]
    if missing:
        sys.exit('coverage: gcov gave nothing for %s of %s.ko' % (', '.join(missing), m))
    title = m + '.ko'
    if not all(os.path.exists(os.path.join(out, 'gcda', o + '.gcda')) for o in members):
        title += ' (no counts: no plan loaded it)'
    modules.append((title, merge(members)))
everything = merge(list(objs))

def pct(hit, n):
    return '%5.1f%%' % (100.0 * hit / n) if n else '    -'

def table(title, files):
    rows = ['%s' % title]
    th = tn = 0
    for f in sorted(files):
        ls = files[f]
        n, hit = len(ls), sum(1 for c in ls.values() if c > 0)
        th += hit
        tn += n
        rows.append('  %-26s %5d of %5d lines  %s' % (f, hit, n, pct(hit, n)))
    rows.append('  %-26s %5d of %5d lines  %s' % ('total', th, tn, pct(th, tn)))
    return rows, th, tn

text = ['Line coverage of kmod/ (gcov), kernel %s, %s' % (tag, when),
        'boots (plans): %s' % ' | '.join(b.strip() for b in boots.split(';')), '']
for m, files in modules:
    rows, _, _ = table(m, files)
    text += rows + ['']
rows, th, tn = table('kmod/ (both modules; a header line counts once)', everything)
text += rows
with open(os.path.join(out, 'summary.txt'), 'w') as f:
    f.write('\n'.join(text) + '\n')
print('\n'.join(text))

# lcov tracefile: the line counts of kmod/'s files
with open(os.path.join(out, 'coverage.info'), 'w') as f:
    f.write('TN:\n')
    for name in sorted(everything):
        ls = everything[name]
        f.write('SF:%s\n' % os.path.join(out, 'src', name))
        for n in sorted(ls):
            f.write('DA:%d,%d\n' % (n, ls[n]))
        f.write('LF:%d\nLH:%d\nend_of_record\n' % (len(ls), sum(1 for c in ls.values() if c > 0)))
if tn == 0:
    sys.exit('coverage: gcov found no line of kmod/')
PY

if command -v genhtml >/dev/null; then
	if genhtml -q --prefix "$out/src" --title "userptr-dmabuf: kmod/ line coverage ($tag)" \
		-o "$out/html" "$out/coverage.info" >"$out/genhtml.log" 2>&1; then
		log "HTML report: $out/html/index.html"
	else
		log "genhtml failed, see $out/genhtml.log"
	fi
else
	log "no genhtml: apt-get install lcov for an HTML report of $out/coverage.info"
fi
log "kernel ${kbuild_s}s, VM runs and merge ${run_s}s; $out/summary.txt"
if [ $vm_failed != 0 ]; then
	log "$vm_failed of $i VM runs FAILED: the figures are from failing runs (see $out/vm-*.tap)"
	exit 1
fi
