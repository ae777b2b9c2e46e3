#!/usr/bin/env bash
# The shuffle benchmarks (run by bench/run.sh, or alone): each figure the median
# of RUNS runs (default 7), the peers measured in the same run, ratios beside the
# absolute figures; prints a markdown table and appends it to bench/RESULTS.md.
#   bench/run_shuffle.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)

. "$here/lib.sh"

echo "ember shuffle benchmarks: $cores cores ($cpu), median of $runs runs" >&2
data=${EMBER_BENCH_DATA:-${TMPDIR:-/tmp}/ember-bench}
mkdir -p "$data"
[ -s "$data/zipf.txt" ] || "$build/bench/gen_data" zipf "$data/zipf.txt" 200
[ -s "$data/recs.txt" ] || "$build/bench/gen_data" recs "$data/recs.txt" 10000000
cat "$data/zipf.txt" "$data/recs.txt" >/dev/null
zipf_mb=$(awk -v b="$(stat -c %s "$data/zipf.txt")" 'BEGIN {print b / 1e6}')

# word count (MB/s of input)
wc1=$(median "$build/bench/bench_shuffle" wordcount "$data/zipf.txt" 'local[1]')
wc2=$(median "$build/bench/bench_shuffle" wordcount "$data/zipf.txt" 'local[2]')
wcs=$(median "$build/bench/wc_serial" "$data/zipf.txt")
uniq_run() { tr -s ' ' '\n' <"$data/zipf.txt" | LC_ALL=C sort --parallel=2 -S 1G | uniq -c >/dev/null; }
wcu=$(median mbs "$zipf_mb" uniq_run)

# sort of 10 M 100-byte records on their first 10 bytes, output written to files;
# GNU sort gets the peak RSS ember's sort reached as its buffer (-S)
out="$data/sorted"
rss=$("$build/bench/bench_shuffle" sort "$data/recs.txt" 'local[2]' "$out" 2>&1 >/dev/null |
      sed -n 's/.*peak_rss_mb \([0-9]*\).*/\1/p')
so1=$(median "$build/bench/bench_shuffle" sort "$data/recs.txt" 'local[1]' "$out")
so2=$(median "$build/bench/bench_shuffle" sort "$data/recs.txt" 'local[2]' "$out")
gnu_run() { LC_ALL=C sort --parallel=2 -S "${rss}M" -k1.1,1.10 -s -o "$data/gnu-sorted.txt" "$data/recs.txt"; }
sog=$(median secs gnu_run)
rm -rf "$out" "$data/gnu-sorted.txt"

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) shuffles — $cores cores ($cpu), median of $runs runs, code at $(code_rev)

### Word count of a 200 MB Zipf corpus (50,000-word vocabulary), MB/s

| runner | MB/s | vs serial C |
|---|---:|---:|
| ember text_file → flat_map words → reduce_by_key → count, local[1] | $wc1 | $(ratio "$wc1" "$wcs") |
| ember, local[2] | $wc2 | $(ratio "$wc2" "$wcs") |
| hand-written serial C (bench/wc_serial.c: blocks, whitespace, one XXH3 table) | $wcs | 1.00 |
| tr \| LC_ALL=C sort --parallel=2 -S 1G \| uniq -c | $wcu | $(ratio "$wcu" "$wcs") |

### Sort of 10 M random 100-byte records (1 GB) on a 10-byte key, written to files, seconds

GNU sort gets ember's peak RSS at local[2] ($rss MB) as its buffer.

| runner | seconds | GNU sort ÷ this |
|---|---:|---:|
| ember text_file → sort_by → save_as_text_file, local[1] | $so1 | $(ratio "$sog" "$so1") |
| ember, local[2] | $so2 | $(ratio "$sog" "$so2") |
| LC_ALL=C sort --parallel=2 -S ${rss}M -k1.1,1.10 -s | $sog | 1.00 |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
