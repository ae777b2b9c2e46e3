#!/usr/bin/env bash
# The history server over a directory of logs, two builds in turn on the same
# logs: N applications (default 1,000), each the tiny example of JOBS jobs
# (default 20), as EMBER_EVENT_LOG=DIR/ leaves them. Medians of RUNS (default 7) rounds, the
# builds interleaved in each:
#   - from start to its first answer (the list of applications);
#   - then the first page of one application (its jobs, from REST);
#   - the server's resident memory then, and after the jobs of 100
#     applications were asked for.
# Appends a table to bench/RESULTS.md.
#   bench/run_history_ab.sh OLD_BUILD [NEW_BUILD] [OLD_NAME] [N] [JOBS]
set -euo pipefail
napps=${4:-1000}
njobs=${5:-20}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
ab_args "$@"
scratch history-ab
echo "ember history A/B: $cores cores ($cpu), $napps logs, median of $runs rounds" >&2
app_logs "$new" "$napps" "$dir/logs" "$njobs"
port=18124
api="http://127.0.0.1:$port/api/v1/applications"
ids=$(ls "$dir/logs" | sed -n 's/\.zstd$//p')

now() { date +%s%N; }
since() { awk -v ns=$(($(now) - $1)) 'BEGIN {printf "%.3f\n", ns / 1e9}'; }
rss() { awk '/^VmRSS/ {printf "%.1f\n", $2 / 1024}' "/proc/$1/status"; }

# one BUILD: "start page rss rss100"
one() {
  local s first page r0 r1
  s=$(now)
  EMBER_HISTORY_UPDATE_INTERVAL=0 "$1/ember" history "$dir/logs" --port $port >/dev/null 2>&1 &
  pid=$!
  until curl -sf "$api?limit=1" >/dev/null; do sleep 0.005; done
  first=$(since "$s")
  s=$(now)
  curl -sf "$api/$(echo "$ids" | head -1)/jobs" >/dev/null
  page=$(since "$s")
  r0=$(rss "$pid")
  for id in $(echo "$ids" | head -100); do curl -sf "$api/$id/jobs" >/dev/null; done
  r1=$(rss "$pid")
  stop_server
  echo "$first $page $r0 $r1"
}
declare -A v
for _ in $(seq "$runs"); do
  for b in old new; do
    dir_b=$old
    [ $b = new ] && dir_b=$new
    read -r a c d e < <(one "$dir_b")
    v[$b.start]+=" $a" v[$b.page]+=" $c" v[$b.rss]+=" $d" v[$b.rss100]+=" $e"
  done
done
vmed() { printf '%s\n' ${v[$1]} | med; }
row() { echo "| $1 | $(vmed "old.$2") | $(vmed "new.$2") | $(ratio "$(vmed "new.$2")" "$(vmed "old.$2")")× |"; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) the history server, on demand — $cores cores ($cpu), median of $runs interleaved rounds, $old_name vs $(code_rev)

$napps applications in one directory, as EMBER_EVENT_LOG=DIR/ leaves them (each the tiny
example of $njobs jobs, a local-MS.zstd log; $bytes bytes in all); no looks again.

| what | $old_name | $(code_rev) | new / old |
|---|---:|---:|---:|
$(row "from start to the first answer (the list), s (lower is better)" start)
$(row "then the first page of one application (its jobs), s (lower is better)" page)
$(row "resident memory then, MB (lower is better)" rss)
$(row "resident memory after the jobs of 100 applications, MB (lower is better)" rss100)
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
