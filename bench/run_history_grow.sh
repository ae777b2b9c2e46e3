#!/usr/bin/env bash
# A running application's log that grows while `ember history` serves it: the
# plain log of the tiny example's 20,000 jobs (about 124 MB), served from its
# first 90%, then its next 1% appended; the seconds from the append until the
# server answers for the first job it added, with looks every 0.1 s; and the server's CPU
# time for that look. Two builds, interleaved, medians of RUNS (default 7).
# Appends a table to bench/RESULTS.md.
#   bench/run_history_grow.sh OLD_BUILD [NEW_BUILD] [OLD_NAME]
set -euo pipefail
old=$1
new=${2:-build}
old_name=${3:-$old}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/ember-history-grow.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
echo "ember history, a growing log: $cores cores ($cpu), median of $runs rounds" >&2
EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG="$work/whole.log" "$new/examples/tiny" 20000 >/dev/null
lines=$(wc -l <"$work/whole.log")
bytes=$(stat -c %s "$work/whole.log")
first=$((lines * 9 / 10)) more=$((lines / 100))
id=$(head -1 "$work/whole.log" | sed 's/.*"App ID":"\([^"]*\)".*/\1/')
port=18124
# the first job the appended lines start: there once the server has read them
next_job=$(head -n "$first" "$work/whole.log" | grep -c SparkListenerJobStart)
seen() { curl -sf -o /dev/null "http://127.0.0.1:$port/api/v1/applications/$id/jobs/$next_job"; }
hz=$(getconf CLK_TCK)

# grow BUILD: "seconds cpu_ms" for one append seen
grow() {
  mkdir -p "$work/logs"
  head -n "$first" "$work/whole.log" >"$work/logs/app.log"
  EMBER_HISTORY_UPDATE_INTERVAL=0.1 "$1/ember" history "$work/logs" --port $port >/dev/null 2>&1 &
  local p=$! s e c0 c1
  pids+=("$p")
  for _ in $(seq 1200); do # up to 60 s
    curl -sf "http://127.0.0.1:$port/api/v1/applications" | grep -q "$id" && break
    sleep 0.05
  done
  seen && exit 1 # (the job must not be there yet)
  sleep 0.5 # settled: looks find nothing new
  c0=$(awk '{print $14 + $15}' "/proc/$p/stat")
  s=$(date +%s%N)
  sed -n "$((first + 1)),$((first + more))p" "$work/whole.log" >>"$work/logs/app.log"
  for _ in $(seq 6000); do # up to 60 s
    seen && break
    sleep 0.01
  done
  e=$(date +%s%N)
  c1=$(awk '{print $14 + $15}' "/proc/$p/stat")
  kill "$p"
  wait "$p" 2>/dev/null || true
  rm -rf "$work/logs"
  awk -v ns=$((e - s)) -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN {printf "%.3f %.0f\n", ns / 1e9, c * 1000 / hz}'
}
to=() tn=() co=() cn=()
for _ in $(seq "$runs"); do
  read -r a b < <(grow "$old"); to+=("$a"); co+=("$b")
  read -r a b < <(grow "$new"); tn+=("$a"); cn+=("$b")
done
m() { printf '%s\n' "$@" | med; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) the history server, a log that grows — $cores cores ($cpu), median of $runs interleaved rounds, $old_name vs $(code_rev)

The plain log of the tiny example's 20,000 jobs ($lines lines, $bytes bytes) served from its
first 90% with looks every 0.1 s, then its next 1% ($more lines) appended, as a running
application's log grows.

| | $old_name | $(code_rev) | ratio |
|---|---:|---:|---:|
| from the append to its first job answered, s (lower is better) | $(m "${to[@]}") | $(m "${tn[@]}") | $(ratio "$(m "${tn[@]}")" "$(m "${to[@]}")")× |
| the server's CPU meanwhile, ms (lower is better) | $(m "${co[@]}") | $(m "${cn[@]}") | |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
