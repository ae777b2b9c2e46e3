#!/usr/bin/env bash
# Where the cost of seeing the tiny job goes, and the part of it this host
# charges whatever the code does. Each round runs the tiny job (JOBS jobs,
# default 20000, local[*]) with nothing on, with the event log into /dev/null
# (its lines made and handed to the writer, which the kernel then drops), with
# the event log on /dev/shm, and with all three (log on /dev/shm, web UI, bar
# into /dev/null), back to back; then bench_host's two floors: the kernel's
# append of one tiny job's log bytes (as many as the last round's log held a
# job) to /dev/shm, and one line of memory handed between the two CPUs.
# Prints and appends to bench/RESULTS.md the medians of RUNS rounds
# (default 7): each setting's µs a job and what it adds to the same round's
# "off".
#   bench/run_ui_floor.sh [BUILD]
set -euo pipefail
build=${1:-build}
jobs=${JOBS:-20000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
scratch ui-floor
logdir=$([ -d /dev/shm ] && echo /dev/shm || echo "$dir")
log=$(mktemp "$logdir/ember-ui-floor.XXXXXX")
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir" "$log"' EXIT
echo "ember UI floor: $cores cores ($cpu), $runs rounds" >&2

# tiny SETTINGS...: the tiny job's µs a job under those variables
tiny() {
  env "$@" EMBER_MASTER='local[*]' "$build/examples/tiny" "$jobs" 2>/dev/null |
    sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'
}
off=(EMBER_PROGRESS=0 EMBER_UI_PORT=0)
rounds=""
for _ in $(seq "$runs"); do
  t0=$(tiny "${off[@]}")
  t1=$(tiny "${off[@]}" EMBER_EVENT_LOG=/dev/null)
  t2=$(tiny "${off[@]}" EMBER_EVENT_LOG="$log")
  # bytes a job: the log's size over its jobs (the warm-up's included)
  per=$(awk -v b="$(stat -c %s "$log")" '/"Event":"SparkListenerJobStart"/ {n++} END {printf "%d", b / n}' "$log")
  t3=$(tiny EMBER_PROGRESS=1 EMBER_UI_PORT=-1 EMBER_EVENT_LOG="$log")
  w=$("$build/bench/bench_host" write "$log.w" "$per" "$jobs")
  h=$("$build/bench/bench_host" handover 200000)
  rounds+="$t0 $t1 $t2 $t3 $w $h $per"$'\n'
done
rm -f "$log"
col() { printf '%s' "$rounds" | awk "NF {print $1}" | med; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) seeing a job: where the tiny job's cost goes, and this host's floor — $cores cores ($cpu), median of $runs rounds of $jobs jobs, $(code_rev)

µs a job (lower is better); "adds" is the median over rounds of the setting less the same round's "off".

| setting | µs a job | adds |
|---|---:|---:|
| off | $(col '$1') | |
| event log into /dev/null (lines made and handed over, none written) | $(col '$2') | $(printf '%+.2f' "$(col '$2-$1')") |
| event log on /dev/shm | $(col '$3') | $(printf '%+.2f' "$(col '$3-$1')") |
| all three (log on /dev/shm, web UI, bar) | $(col '$4') | $(printf '%+.2f' "$(col '$4-$1')") |

| this host's floor | median |
|---|---:|
| a tiny job's event log, bytes | $(col '$7') |
| the kernel's append of those bytes to /dev/shm alone (bench_host write), µs a job | $(col '$5') |
| one line of memory handed between the two CPUs (bench_host handover), ns | $(col '$6') |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
