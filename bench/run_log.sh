#!/usr/bin/env bash
# What the event log costs, by where it goes and whether it is compressed: the
# tiny job (20,000 jobs) and word count with no log, a plain log and a .zstd
# log, each on /dev/shm (tmpfs) and on the disk under $data (the bench data
# directory), and a directory of logs on the disk (a log an application, as
# spark.eventLog.dir: .zstd); runs interleaved, medians of RUNS (default 7). Then the bytes a
# tiny job writes, and the seconds `ember history --list` takes to read each
# log back. Appends a table to bench/RESULTS.md.
#   bench/run_log.sh [BUILD]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
zipf_data "$build"
shm=/dev/shm
[ -d "$shm" ] || shm=$data
disk=$data
fs() { df -T "$1" | awk 'NR == 2 {print $2}'; }
echo "ember event log costs: $cores cores ($cpu), median of $runs runs" >&2

tiny() { "$build/examples/tiny" 20000 | sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'; }
wc2() { "$build/bench/bench_shuffle" wordcount "$data/zipf.txt" 'local[2]'; }
logs=(none "$shm/ember-log-bench.json" "$shm/ember-log-bench.zstd" "$disk/ember-log-bench.json"
      "$disk/ember-log-bench.zstd" "$disk/ember-log-bench.d/")
# run CMD with each log, interleaved: the medians in logs' order
five() {
  local f=$1 vals=() out=()
  for _ in $(seq "$runs"); do
    for i in "${!logs[@]}"; do
      l=${logs[$i]}
      [ "$l" = none ] && l=
      vals[$i]+="$(EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG=$l "$f" 2>/dev/null) "
      [ -n "$l" ] && rm -rf "$l"
    done
  done
  for i in "${!logs[@]}"; do out+=("$(printf '%s\n' ${vals[$i]} | med)"); done
  echo "${out[@]}"
}
read -r t0 t1 t2 t3 t4 t5 < <(EMBER_MASTER='local[*]' five tiny)
read -r w0 w1 w2 w3 w4 w5 < <(five wc2)

# the logs of 22,000 tiny jobs (the run's warm-up with them), their sizes and reading them back
plain=$disk/ember-log-bench.json zst=$disk/ember-log-bench.zstd
EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG=$plain "$build/examples/tiny" 20000 >/dev/null
EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG=$zst "$build/examples/tiny" 20000 >/dev/null
bp=$(stat -c %s "$plain") bz=$(stat -c %s "$zst")
mkdir -p "$data/logs-plain" "$data/logs-zstd"
mv "$plain" "$data/logs-plain/"
mv "$zst" "$data/logs-zstd/"
rp=$(median secs "$build/ember" history --list "$data/logs-plain")
rz=$(median secs "$build/ember" history --list "$data/logs-zstd")
rm -rf "$data/logs-plain" "$data/logs-zstd"
add() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.2f µs", b - a}'; }
d() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f%%", (b / a - 1) * 100}'; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) the event log, plain, .zstd and a directory — $cores cores ($cpu), median of $runs interleaved runs, code at $(code_rev)

The same build, web UI and progress bar off; the event log (EMBER_EVENT_LOG) none, or
plain JSON lines, or named *.zstd (zstd frames, level 1), on $shm ($(fs "$shm")) and on
$disk ($(fs "$disk")); or a directory there (EMBER_EVENT_LOG=DIR/: the application's
log, ID.zstd.inprogress renamed ID.zstd at its end).

| job | no log | plain, $(fs "$shm") | .zstd, $(fs "$shm") | plain, $(fs "$disk") | .zstd, $(fs "$disk") | directory, $(fs "$disk") |
|---|---:|---:|---:|---:|---:|---:|
| tiny job, µs a job (lower is better) | $t0 | $t1 ($(add "$t0" "$t1")) | $t2 ($(add "$t0" "$t2")) | $t3 ($(add "$t0" "$t3")) | $t4 ($(add "$t0" "$t4")) | $t5 ($(add "$t0" "$t5")) |
| word count of 200 MB, local[2], MB/s (higher is better) | $w0 | $w1 ($(d "$w0" "$w1")) | $w2 ($(d "$w0" "$w2")) | $w3 ($(d "$w0" "$w3")) | $w4 ($(d "$w0" "$w4")) | $w5 ($(d "$w0" "$w5")) |

The log of 22,000 tiny jobs: $bp bytes plain, $bz bytes as .zstd ($(ratio "$bp" "$bz")× smaller;
$(awk -v b="$bp" 'BEGIN {printf "%.0f", b / 22000}') and $(awk -v b="$bz" 'BEGIN {printf "%.0f", b / 22000}') bytes a job).
\`ember history --list\` reads it back in $rp s plain and $rz s as .zstd (median of $runs).
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
