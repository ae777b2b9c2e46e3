#!/usr/bin/env bash
# Before and after a change, in one run: every benchmark of bench/RESULTS.md
# that does not need a server (tiny job, π, line count, CSV, word count, sort,
# spilling group_by_key, MPI word count, tiny job and idle wait) on two builds, their runs interleaved
# (old, new, old, new, ...) so that the machine's drift touches both alike, the
# peers measured in the same run. Medians of RUNS runs (default 5). Prints a
# markdown table and appends it to bench/RESULTS.md.
#   bench/run_ab.sh OLD_BUILD NEW_BUILD [OLD_NAME]
set -euo pipefail
old=$1
new=$2
old_name=${3:-$old}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
RUNS=${RUNS:-5}
. "$here/lib.sh"

echo "ember A/B: $old vs $new, $cores cores ($cpu), median of $runs runs" >&2
data=${EMBER_BENCH_DATA:-${TMPDIR:-/tmp}/ember-bench}
mkdir -p "$data"
gen="$new/bench/gen_data"
[ -s "$data/lines.txt" ] || "$gen" lines "$data/lines.txt" 1024
[ -s "$data/data.csv" ] || "$gen" csv "$data/data.csv" 200
[ -s "$data/zipf.txt" ] || "$gen" zipf "$data/zipf.txt" 200
[ -s "$data/recs.txt" ] || "$gen" recs "$data/recs.txt" 10000000
[ -s "$data/group.txt" ] || "$new/bench/bench_shuffle" group_data 512 "$data/group.txt"
cat "$data/lines.txt" "$data/data.csv" "$data/zipf.txt" >/dev/null

# ab NAME CMD...: CMD run with B replaced by each build in turn, RUNS times
# each, interleaved; sets A_NAME and B_NAME to the two medians
ab() {
  local name=$1 a=() b=() v
  shift
  for _ in $(seq "$runs"); do
    a+=("$("${@//@B@/$old}" 2>/dev/null)")
    b+=("$("${@//@B@/$new}" 2>/dev/null)")
  done
  printf -v "A_$name" '%s' "$(printf '%s\n' "${a[@]}" | med)"
  printf -v "B_$name" '%s' "$(printf '%s\n' "${b[@]}" | med)"
  v="A_$name"
  echo "  $name: ${!v} -> $(v="B_$name"; echo "${!v}")" >&2
}

tiny() { EMBER_MASTER="$1" "$2/examples/tiny" 20000 | sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'; }
out="$data/ab-sorted"
sort_run() { "$1/bench/bench_shuffle" sort "$data/recs.txt" 'local[2]' "$out"; }
# group: seconds (last line) and peak RSS, as "secs"; RSS kept aside
group_secs() { "$1/bench/bench_shuffle" group 512 128 'local[2]' 2>&1 | sed -n '$p'; }
group_rss() { "$1/bench/bench_shuffle" group 512 128 'local[2]' 2>&1 |
  sed -n 's/.*peak_rss_mb \([0-9]*\).*/\1/p'; }
mpi=(mpirun -n 2)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)

ab tiny tiny 'local[*]' @B@
ab tiny1 tiny 'local[1]' @B@
ab pi @B@/bench/bench_pi 'local[2]' 10000000 16 records
ab lines @B@/bench/bench_io lines "$data/lines.txt" 'local[2]'
ab csv @B@/bench/bench_io csv "$data/data.csv" 'local[2]'
ab wc1 @B@/bench/bench_shuffle wordcount "$data/zipf.txt" 'local[1]'
ab wc2 @B@/bench/bench_shuffle wordcount "$data/zipf.txt" 'local[2]'
ab sort sort_run @B@
ab group group_secs @B@
ab grss group_rss @B@
ab mpiwc "${mpi[@]}" @B@/bench/bench_shuffle wordcount "$data/zipf.txt" 'mpi[1]'
mpi_tiny() { EMBER_MASTER='mpi[1]' "${mpi[@]}" "$1/examples/tiny" 2000 |
  sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p' | head -1; }
ab mpitiny mpi_tiny @B@
ab mpiidle "${mpi[@]}" @B@/bench/bench_idle
rm -rf "$out"

lines_mb=$(awk -v b="$(stat -c %s "$data/lines.txt")" 'BEGIN {print b / 1e6}')
p_tiny=$(median "$py" "$here/tiny_peers.py" plain 5000)
p_pi=$(median "$new/bench/pi_pthreads" 2 10000000 16)
p_lines=$(median mbs "$lines_mb" wc -l "$data/lines.txt")
p_csv=$(median "$py" "$here/csv_peer.py" "$data/data.csv")
p_wc=$(median "$new/bench/wc_serial" "$data/zipf.txt")
rss=$("$new/bench/bench_shuffle" sort "$data/recs.txt" 'local[2]' "$out" 2>&1 >/dev/null |
  sed -n 's/.*peak_rss_mb \([0-9]*\).*/\1/p')
rm -rf "$out"
gnu_sort() { LC_ALL=C sort --parallel=2 -S "${rss}M" -k1.1,1.10 -s -o "$data/ab-gnu.txt" "$data/recs.txt"; }
p_sort=$(median secs gnu_sort)
rm -f "$data/ab-gnu.txt"

row() { # label unit old new peer-label peer higher-is-better
  local d
  d=$(awk -v a="$3" -v b="$4" -v h="$7" 'BEGIN {r = h ? b / a : a / b; printf "%+.1f%%", (r - 1) * 100}')
  echo "| $1 | $2 | $3 | $4 | $d | $5 | $6 |"
}
table=$(cat <<TXT
## $(date -u +%Y-%m-%d) before and after — $cores cores ($cpu), median of $runs interleaved runs, $old_name vs $(code_rev)

Each build's runs alternate with the other's; the peers ran in the same run.
"change" is the new build's figure against the old one's, + is better.

| benchmark | unit | before | after | change | peer | peer's figure |
|---|---|---:|---:|---:|---|---:|
$(row "tiny job, local[*]" "µs a job" "$A_tiny" "$B_tiny" "plain Python 3" "$p_tiny" 0)
$(row "tiny job, local[1]" "µs a job" "$A_tiny1" "$B_tiny1" "" "" 0)
$(row "π, 10 M samples, records, local[2]" "samples/s" "$A_pi" "$B_pi" "pthreads, 2 threads" "$p_pi" 1)
$(row "line count of 1 GB, local[2]" "MB/s" "$A_lines" "$B_lines" "wc -l" "$p_lines" 1)
$(row "CSV parse of 200 MB, local[2]" "MB/s" "$A_csv" "$B_csv" "Python csv" "$p_csv" 1)
$(row "word count of 200 MB, local[1]" "MB/s" "$A_wc1" "$B_wc1" "serial C" "$p_wc" 1)
$(row "word count of 200 MB, local[2]" "MB/s" "$A_wc2" "$B_wc2" "serial C" "$p_wc" 1)
$(row "sort of 1 GB to files, local[2]" "s" "$A_sort" "$B_sort" "GNU sort, -S ${rss}M (ember's RSS)" "$p_sort" 0)
$(row "group_by_key 512 MB, budget 128 MB, local[2]" "s" "$A_group" "$B_group" "" "" 0)
$(row "  its peak RSS" "MB" "$A_grss" "$B_grss" "" "" 0)
$(row "word count, mpirun -n 2, mpi[1]" "MB/s" "$A_mpiwc" "$B_mpiwc" "serial C" "$p_wc" 1)
$(row "tiny job, mpirun -n 2, mpi[1]" "µs a job" "$A_mpitiny" "$B_mpitiny" "" "" 0)
$(row "CPU of a rank waiting 2 s for the other" "s" "$A_mpiidle" "$B_mpiidle" "" "" 0)
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
