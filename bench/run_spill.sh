#!/usr/bin/env bash
# The spilling group_by_key benchmark (run by bench/run.sh, or alone): 512 MB of
# 100-byte records grouped under a 128 MB memory budget (4x), seconds and peak
# RSS, each the median of RUNS runs (default 7); beside it the same group with
# memory to spare, and GNU sort with the same 128 MB (-S) followed by awk.
# Prints a markdown table and appends it to bench/RESULTS.md.
#   bench/run_spill.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)

. "$here/lib.sh"

mb=512
budget=128
echo "ember spill benchmark: $cores cores ($cpu), median of $runs runs" >&2
data=${EMBER_BENCH_DATA:-${TMPDIR:-/tmp}/ember-bench}
mkdir -p "$data"
[ -s "$data/group.txt" ] || "$build/bench/bench_shuffle" group_data "$mb" "$data/group.txt"

# group B MASTER: median seconds and median peak RSS (MB) of RUNS runs, "secs rss"
group() {
  local t=() r=() out
  for _ in $(seq "$runs"); do
    out=$("$build/bench/bench_shuffle" group "$mb" "$1" "$2" 2>&1)
    t+=("$(echo "$out" | sed -n '$p')")
    r+=("$(echo "$out" | sed -n 's/.*peak_rss_mb \([0-9]*\).*/\1/p')")
  done
  local med='{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
  echo "$(printf '%s\n' "${t[@]}" | sort -g | awk "$med") $(printf '%s\n' "${r[@]}" | sort -g | awk "$med")"
}
read -r s1 r1 < <(group "$budget" 'local[1]')
read -r s2 r2 < <(group "$budget" 'local[2]')
read -r sm rm < <(group 100000 'local[2]')
gnu_run() {
  LC_ALL=C sort --parallel=2 -S "${budget}M" -k1,1 "$data/group.txt" |
    awk '$1 != k {n++; k = $1} END {print n}'
}
sg=$(median secs gnu_run)
limit=$(awk -v b="$budget" 'BEGIN {print b * 1.25 + 64}')

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) spilling group_by_key — $cores cores ($cpu), median of $runs runs, code at $(code_rev)

$mb MB of 100-byte records (8-byte keys, 200,000 of them, skewed) made in 64 tasks,
grouped with group_by_key and each group's values read through its iterator. The
budget is $budget MB; the target is a peak RSS of at most 1.25 × budget + 64 MB = $limit MB.

| runner | seconds | peak RSS, MB | GNU sort's time ÷ this |
|---|---:|---:|---:|
| ember, budget $budget MB, local[1] | $s1 | $r1 | $(ratio "$sg" "$s1") |
| ember, budget $budget MB, local[2] | $s2 | $r2 | $(ratio "$sg" "$s2") |
| ember, memory to spare (no spill), local[2] | $sm | $rm | $(ratio "$sg" "$sm") |
| LC_ALL=C sort --parallel=2 -S ${budget}M -k1,1 \| awk (groups counted) | $sg | (buffer -S ${budget}M) | 1.00 |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
