#!/usr/bin/env bash
# Runs the benchmarks: each figure is the median of RUNS runs (default 7), the
# peers measured in the same run, ratios beside the absolute figures. Prints a
# markdown table and appends it to bench/RESULTS.md with the machine's core count.
#   bench/run.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3

. "$here/lib.sh"

echo "ember benchmarks: $cores cores ($cpu), median of $runs runs" >&2

# tiny job (microseconds per job; lower is better), timed by the example itself
tiny() { EMBER_MASTER="$1" "$build/examples/tiny" 20000 | sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'; }
tiny_star=$(median tiny 'local[*]')
tiny_one=$(median tiny 'local[1]')
tiny_py=$(median "$py" "$here/tiny_peers.py" plain 5000)
if "$py" -c 'import dask.bag' 2>/dev/null; then
  tiny_dask=$(median "$py" "$here/tiny_peers.py" dask 200)
else
  tiny_dask=""
fi

# pi (samples per second; higher is better)
pi1=$(median "$build/bench/bench_pi" 'local[1]' 10000000 16 records)
pi2=$(median "$build/bench/bench_pi" 'local[2]' 10000000 16 records)
pc1=$(median "$build/bench/bench_pi" 'local[1]' 10000000 16 chunks)
pc2=$(median "$build/bench/bench_pi" 'local[2]' 10000000 16 chunks)
pt1=$(median "$build/bench/pi_pthreads" 1 10000000 16)
pt2=$(median "$build/bench/pi_pthreads" 2 10000000 16)

# files: line count of a 1 GB file beside wc -l; CSV parse of a 200 MB file beside
# Python's csv module. Generated once (deterministic), page cache warmed first.
data=${EMBER_BENCH_DATA:-${TMPDIR:-/tmp}/ember-bench}
mkdir -p "$data"
[ -s "$data/lines.txt" ] || "$build/bench/gen_data" lines "$data/lines.txt" 1024
[ -s "$data/data.csv" ] || "$build/bench/gen_data" csv "$data/data.csv" 200
cat "$data/lines.txt" "$data/data.csv" >/dev/null
lines_mb=$(awk -v b="$(stat -c %s "$data/lines.txt")" 'BEGIN {print b / 1e6}')
lc1=$(median "$build/bench/bench_io" lines "$data/lines.txt" 'local[1]')
lc2=$(median "$build/bench/bench_io" lines "$data/lines.txt" 'local[2]')
lwc=$(median mbs "$lines_mb" wc -l "$data/lines.txt")
cv1=$(median "$build/bench/bench_io" csv "$data/data.csv" 'local[1]')
cv2=$(median "$build/bench/bench_io" csv "$data/data.csv" 'local[2]')
cpy=$(median "$py" "$here/csv_peer.py" "$data/data.csv")

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) — $cores cores ($cpu), median of $runs runs, code at $(code_rev)

### Tiny job: parallelize_i64(1,000 values, 4 partitions) → map ×2 → filter %3==0 → collect

| runner | µs per job | vs ember local[*] |
|---|---:|---:|
| ember local[*] ($cores threads) | $tiny_star | 1.00 |
| ember local[1] | $tiny_one | $(ratio "$tiny_one" "$tiny_star") |
| plain Python 3 (built-in map/filter, same slices) | $tiny_py | $(ratio "$tiny_py" "$tiny_star") |
$( [ -n "$tiny_dask" ] && echo "| Dask bag, threaded scheduler | $tiny_dask | $(ratio "$tiny_dask" "$tiny_star") |" )

### π: 10 M samples in 16 partitions (samples/s)

records: one record per sample, counted by map_partitions through the iterator.
chunks: one record per partition's chunk of samples (as the pthreads loop splits them).

| runner | samples/s | ratio |
|---|---:|---:|
| ember local[1], records | $pi1 | 1.00 |
| ember local[2], records | $pi2 | $(ratio "$pi2" "$pi1") × local[1] |
| ember local[1], chunks | $pc1 | 1.00 |
| ember local[2], chunks | $pc2 | $(ratio "$pc2" "$pc1") × local[1] |
| pthreads, 1 thread, same sampler | $pt1 | ember local[1] = $(ratio "$pi1" "$pt1") (records), $(ratio "$pc1" "$pt1") (chunks) × this |
| pthreads, 2 threads, same sampler | $pt2 | ember local[2] = $(ratio "$pi2" "$pt2") (records), $(ratio "$pc2" "$pt2") (chunks) × this |

### Files: count the lines of a 1 GB file (page cache warm), MB/s

| runner | MB/s | vs wc -l |
|---|---:|---:|
| ember text_file → count, local[1] | $lc1 | $(ratio "$lc1" "$lwc") |
| ember text_file → count, local[2] | $lc2 | $(ratio "$lc2" "$lwc") |
| wc -l | $lwc | 1.00 |

### Files: read and parse a 200 MB CSV (header, quoted fields with doubled quotes), MB/s

| runner | MB/s | vs Python csv |
|---|---:|---:|
| ember read_csv → noop, local[1] | $cv1 | $(ratio "$cv1" "$cpy") |
| ember read_csv → noop, local[2] | $cv2 | $(ratio "$cv2" "$cpy") |
| Python 3 csv.reader | $cpy | 1.00 |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
bash "$here/run_shuffle.sh" "$build"
bash "$here/run_spill.sh" "$build"
# HTTP against a local nginx; the throttled part takes ~7.5 minutes a run
bash "$here/run_mpi.sh" "$build"
bash "$here/run_http.sh" "$build" all
