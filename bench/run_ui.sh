#!/usr/bin/env bash
# What seeing a job costs: the tiny job and word count on the build before the
# UI (OLD_BUILD), on this build with the web UI, event log and progress bar off,
# and with all three on (the bar forced on, into /dev/null; the log on /dev/shm
# when there is one); runs interleaved, medians of RUNS (default 7). Then the
# pages of a job of 10,000 tasks, fetched from 127.0.0.1 (medians of 7).
# Appends a table to bench/RESULTS.md.
#   bench/run_ui.sh OLD_BUILD [NEW_BUILD] [OLD_NAME]
set -euo pipefail
old=$1
new=${2:-build}
old_name=${3:-$old}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
zipf_data "$new"
logdir=$([ -d /dev/shm ] && echo /dev/shm || echo "$data")
log="$logdir/ember-ui-bench.log"
echo "ember UI costs: $cores cores ($cpu), median of $runs runs" >&2

tiny() { "$1/examples/tiny" 20000 | sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'; }
wc2() { "$1/bench/bench_shuffle" wordcount "$data/zipf.txt" 'local[2]'; }
# run CMD under the three settings: plain old, new off, new with all on
three() {
  local f=$1 a=() b=() c=()
  for _ in $(seq "$runs"); do
    a+=("$(EMBER_PROGRESS=0 EMBER_UI_PORT=0 "$f" "$old" 2>/dev/null)")
    b+=("$(EMBER_PROGRESS=0 EMBER_UI_PORT=0 "$f" "$new" 2>/dev/null)")
    c+=("$(EMBER_PROGRESS=1 EMBER_UI_PORT=-1 EMBER_EVENT_LOG="$log" "$f" "$new" 2>/dev/null)")
    rm -f "$log"
  done
  echo "$(printf '%s\n' "${a[@]}" | med) $(printf '%s\n' "${b[@]}" | med) $(printf '%s\n' "${c[@]}" | med)"
}
read -r t_old t_off t_on < <(EMBER_MASTER='local[*]' three tiny)
read -r w_old w_off w_on < <(three wc2)
pages=$("$new/bench/bench_ui" 10000 7 2>/dev/null)
d() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f%%", (b / a - 1) * 100}'; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) seeing a job: what the UI costs — $cores cores ($cpu), median of $runs interleaved runs, $old_name vs $(code_rev)

"off": no web UI, no event log, no progress bar (EMBER_UI_PORT=0 EMBER_PROGRESS=0).
"on": all three (EMBER_UI_PORT=-1, EMBER_EVENT_LOG on $logdir, EMBER_PROGRESS=1 into /dev/null).

| job | before the UI ($old_name) | off | off vs before | on | on vs off |
|---|---:|---:|---:|---:|---:|
| tiny job, µs a job (lower is better) | $t_old | $t_off | $(d "$t_old" "$t_off") | $t_on | $(awk -v a="$t_off" -v b="$t_on" 'BEGIN {printf "%+.2f µs", b - a}') |
| word count of 200 MB, local[2], MB/s (higher is better) | $w_old | $w_off | $(d "$w_old" "$w_off") | $w_on | $(d "$w_off" "$w_on") |

Pages of a job of 10,000 tasks (a count over 10,000 partitions), fetched from 127.0.0.1
with libcurl, median of 7:

| page | ms | bytes |
|---|---:|---:|
$(echo "$pages" | awk -F'\t' '{printf "| %s | %s | %s |\n", $1, $2, $3}')
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
