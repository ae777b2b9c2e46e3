#!/usr/bin/env bash
# process[N]: the driver killed with SIGKILL mid-job leaves no worker alive
# (PR_SET_PDEATHSIG) within 2 s.
#   tests/exec/driver_kill.sh VICTIM
set -euo pipefail
victim=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# the workers: processes running the victim's program other than the driver
workers() {
  local n=0 p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$1" ] && continue
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$(readlink -f "$victim")" ] && n=$((n + 1))
  done
  echo "$n"
}
"$victim" >"$out" &
drv=$!
for _ in $(seq 100); do grep -q running "$out" && break; sleep 0.1; done
grep -q running "$out" || { echo "FAIL: the victim did not start"; exit 1; }
for _ in $(seq 50); do [ "$(workers "$drv")" -ge 2 ] && break; sleep 0.1; done
[ "$(workers "$drv")" -ge 2 ] || { echo "FAIL: no workers while the job runs"; exit 1; }
kill -9 "$drv"
wait "$drv" 2>/dev/null || true
for _ in $(seq 20); do [ "$(workers "$drv")" = 0 ] && break; sleep 0.1; done
left=$(workers "$drv")
[ "$left" = 0 ] || { echo "FAIL: $left workers alive 2 s after the driver was killed"; exit 1; }
echo "ok: the workers died with their driver"
