#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Guest side of `make demo` (runs inside the VM, module loaded): the
# compositor and three clients drawing into malloc'd memory (two of them
# churning their page tables live) and one into a file mapping, for a few
# seconds; a screenshot mid-run and when the clients are about to finish.
# Each client labels its window (path, churn, frame, INFO figures) and the
# compositor's status strip (--status) runs across the top.
#
#   show.sh OUTDIR BINDIR [SECONDS]
set -u
out=$1 bin=$2 secs=${3:-8}
export XDG_RUNTIME_DIR
XDG_RUNTIME_DIR=$(mktemp -d)
# Mesa must not pick a DRM driver that cannot import foreign dma-bufs.
export LIBGL_ALWAYS_SOFTWARE=1
mkdir -p "$out/screenshots"

"$bin/udb-compositor" --socket udb-demo --size 1280x720 --status \
	--screenshot-dir "$out/screenshots" --report "$out/compositor-report.txt" \
	--exit-when-idle >"$out/compositor.log" 2>&1 &
comp=$!
for _ in $(seq 600); do
	grep -q "ready" "$out/compositor.log" && break
	kill -0 $comp 2>/dev/null || break
	sleep 0.1
done
grep -q "ready" "$out/compositor.log" || { echo "compositor did not start"; cat "$out/compositor.log"; exit 1; }

run_client() { # name args...
	local name=$1
	shift
	"$bin/udb-client" --socket udb-demo --run-for "$secs" --stats "$@" \
		>"$out/client-$name.txt" 2>&1
	echo "exit=$?" >>"$out/client-$name.txt"
}
run_client a-userptr-mremap --mode userptr --size 384x288 --seed 1 --churn mremap --churn-every 30 &
run_client b-userptr-fork --mode userptr --size 384x288 --seed 2 --churn fork --churn-every 30 &
run_client c-file --mode file --size 384x288 --seed 3 &
run_client d-shm --mode shm --size 384x288 --seed 4 &

sleep $((secs / 2))
kill -USR1 $comp
sleep $((secs - secs / 2 - 1))
kill -USR1 $comp
wait %2 %3 %4 %5
# --exit-when-idle: the compositor leaves once the last client has gone
for _ in $(seq 300); do
	kill -0 $comp 2>/dev/null || break
	sleep 0.1
done
kill $comp 2>/dev/null
wait $comp
rc=$?
echo "compositor exit=$rc" >>"$out/compositor-report.txt"
fail=0
for f in "$out"/client-*.txt; do
	grep -q '^exit=0$' "$f" || { echo "FAIL: $(basename "$f")"; fail=1; }
done
[ $rc = 0 ] || fail=1
exit $fail
