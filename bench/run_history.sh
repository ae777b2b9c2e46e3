#!/usr/bin/env bash
# The history server over a directory of logs, as a user's EMBER_EVENT_LOG=DIR/
# fills it: N applications (default 1,000), each the tiny example of 20 jobs,
# each log local-MS.zstd. Measures, medians of RUNS (default 7):
#   - ember history --list DIR: every log's start and end lines read;
#   - ember history DIR: from start to its first answer (every log read);
#   - a look at the directory when nothing changed (the server's CPU time over
#     a stretch of looks every 0.1 s, less the same stretch with no looks,
#     divided by the looks);
#   - from an application's end to its log listed as completed, with looks
#     every 1 s (about half a look's wait on average, and the read).
# Appends a table to bench/RESULTS.md.
#   bench/run_history.sh [BUILD] [N]
set -euo pipefail
build=${1:-build}
napps=${2:-1000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/ember-history-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
echo "ember history server: $cores cores ($cpu), $napps logs, median of $runs runs" >&2
app_logs "$build" "$napps" "$dir/logs"
port=18123
api="http://127.0.0.1:$port/api/v1/applications"

# serve EVERY: the history server on DIR/logs with looks every EVERY s, its pid
# once it answers; the seconds that took on fd 3
serve() {
  local s e
  s=$(date +%s%N)
  EMBER_HISTORY_UPDATE_INTERVAL=$1 "$build/ember" history "$dir/logs" --port $port >/dev/null 2>&1 &
  pids+=($!)
  until curl -sf "$api?limit=1" >/dev/null; do sleep 0.01; done
  e=$(date +%s%N)
  awk -v ns=$((e - s)) 'BEGIN {printf "%.3f\n", ns / 1e9}' >&3
  echo "${pids[-1]}"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
# cpu PID: its user + system time so far, in clock ticks
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

list=() start=() look=() seen=()
hz=$(getconf CLK_TCK)
for _ in $(seq "$runs"); do
  list+=("$(secs "$build/ember" history --list "$dir/logs")")
  # no looks: the idle server's own cost over 5 s
  p=$(serve 0 3>"$dir/t")
  start+=("$(cat "$dir/t")")
  a=$(cpu "$p"); sleep 5; b=$(cpu "$p")
  stop "$p"
  # looks every 0.1 s over 5 s
  p=$(serve 0.1 3>/dev/null)
  c=$(cpu "$p"); sleep 5; d=$(cpu "$p")
  stop "$p"
  look+=("$(awk -v idle=$((b - a)) -v busy=$((d - c)) -v hz="$hz" \
    'BEGIN {printf "%.3f", (busy - idle) / hz * 1000 / 50}')")
  # an application ends: how long until the server lists it completed
  p=$(serve 1 3>/dev/null)
  EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG="$dir/logs/" "$build/examples/tiny" 20 >/dev/null
  s=$(date +%s%N)
  n=$(curl -s "$api?status=completed" | grep -c '"id"' || true)
  until [ "$(curl -s "$api?status=completed" | grep -c '"id"' || true)" -gt "$n" ] ||
    [ $(($(date +%s%N) - s)) -gt 30000000000 ]; do sleep 0.01; done
  e=$(date +%s%N)
  seen+=("$(awk -v ns=$((e - s)) 'BEGIN {printf "%.3f", ns / 1e9}')")
  stop "$p"
done
m() { printf '%s\n' "$@" | med; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) the history server over a directory of logs — $cores cores ($cpu), median of $runs runs, $(code_rev)

$napps applications in one directory, as EMBER_EVENT_LOG=DIR/ leaves them (each the tiny
example of 20 jobs, a local-MS.zstd log; $bytes bytes in all).

| what | median |
|---|---:|
| \`ember history --list DIR\`: every log's start and end read, s | $(m "${list[@]}") |
| \`ember history DIR\`: from start to its first answer (every log read), s | $(m "${start[@]}") |
| a look when nothing changed (CPU, every file stat'ed), ms | $(m "${look[@]}") |
| an application's end to its log listed completed, looks every 1 s, s | $(m "${seen[@]}") |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
