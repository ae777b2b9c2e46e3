#!/usr/bin/env bash
# process[N] before and after a change: the tiny job at process[2] and
# process[1] (and at local[2], to show the rest of the engine unmoved), π and
# word count at process[2], and the job of 1,000 tasks of ~5 ms with and
# without 1% of them segfaulting once, 1,000 tasks of ~10 us; the fork floor (bench_proc floor) and
# what a program that runs one tiny job takes from exec to exit; each build's run beside the other's in
# every round (each going first in turn), medians of RUNS rounds (default 5). Appends a table to
# bench/RESULTS.md.
#   bench/run_process_ab.sh OLD_BUILD [NEW_BUILD] [OLD_NAME]
set -euo pipefail
old=$1
new=${2:-build}
old_name=${3:-$old}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
zipf_data "$new"
echo "ember process[N] A/B: $cores cores ($cpu), median of $runs rounds" >&2

tiny() { EMBER_MASTER=$2 "$1/examples/tiny" "$3" | sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'; }
# ms from exec to exit of `tiny 1` at local[2], the mean of 20 runs
start() {
  local t0 t1
  t0=$(date +%s%N)
  for _ in $(seq 20); do EMBER_MASTER='local[2]' "$1/examples/tiny" 1 >/dev/null; done
  t1=$(date +%s%N)
  awk -v n=$((t1 - t0)) 'BEGIN {printf "%.3f", n / 20 / 1e6}'
}
declare -A v
add() { v[$1]="${v[$1]:-} $2"; }
for r in $(seq "$runs"); do
  order="old new" # the two builds take turns going first, so neither always follows the other
  [ $((r % 2)) = 0 ] && order="new old"
  for b in $order; do
    d=$old
    [ $b = new ] && d=$new
    add "$b.tp2" "$(tiny "$d" 'process[2]' 2000)"
    add "$b.tp1" "$(tiny "$d" 'process[1]' 2000)"
    add "$b.tl2" "$(tiny "$d" 'local[2]' 20000)"
    add "$b.floor" "$("$d/bench/bench_proc" floor 2000)"
    add "$b.start" "$(start "$d")"
    add "$b.pi" "$("$d/bench/bench_pi" 'process[2]' 200000000 16 chunks)"
    add "$b.wc" "$("$d/bench/bench_shuffle" wordcount "$data/zipf.txt" 'process[2]')"
    add "$b.short" "$("$d/bench/bench_proc" 'process[2]' 1000 0.01 clean)"
    add "$b.clean" "$("$d/bench/bench_proc" 'process[2]' 1000 5 clean)"
    add "$b.crash" "$("$d/bench/bench_proc" 'process[2]' 1000 5 crash)"
  done
done
vmed() { printf '%s\n' ${v[$1]} | med; }
row() { echo "| $2 | $(vmed "old.$1") | $(vmed "new.$1") | $(ratio "$(vmed "new.$1")" "$(vmed "old.$1")")× |"; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) process[N] before and after — $cores cores ($cpu), median of $runs interleaved rounds, $old_name (before) vs $(code_rev) (after)

| job | before | after | after / before |
|---|---:|---:|---:|
$(row tp2 "tiny job at process[2], µs a job (lower is better)")
$(row tp1 "tiny job at process[1], µs a job (lower is better)")
$(row tl2 "tiny job at local[2], µs a job (lower is better)")
$(row floor "fork floor: a fork whose child answers one byte, µs (lower is better)")
$(row start "a program running one tiny job, exec to exit, ms (lower is better)")
$(row pi "π at process[2], 200 M samples in 16 chunks, samples/s (higher is better)")
$(row wc "word count of 200 MB at process[2], MB/s (higher is better)")
$(row short "1,000 tasks of ~10 µs at process[2], s (lower is better)")
$(row clean "1,000 tasks of ~5 ms at process[2], s (lower is better)")
$(row crash "the same, 1% segfaulting once, s (lower is better)")
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
