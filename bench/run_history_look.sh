#!/usr/bin/env bash
# The history server answering while a look reads on a grown log, two builds
# in turn on the same logs: a big application (the tiny example of JOBS jobs,
# default 20,000, a plain log) served from its first half, read whole when
# asked for, then its second half appended (an application still running);
# and a small one (20 jobs). After the append, the small one's jobs are asked
# for every 50 ms for 3 s while the next look (every second) reads on; the
# longest of those answers is what a look holds answers back. Medians of RUNS
# (default 7) rounds, the builds interleaved. Appends a table to
# bench/RESULTS.md.
#   bench/run_history_look.sh OLD_BUILD [NEW_BUILD] [OLD_NAME] [JOBS]
set -euo pipefail
njobs=${4:-20000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
ab_args "$@"
scratch history-look
echo "ember history, answers while a look reads: $cores cores ($cpu), median of $runs rounds" >&2
EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG="$dir/whole.log" "$new/examples/tiny" "$njobs" >/dev/null
app_logs "$new" 1 "$dir/small" 20
small=$(ls "$dir/small")
lines=$(wc -l <"$dir/whole.log")
head -n $((lines / 2)) "$dir/whole.log" >"$dir/first"
tail -n +$((lines / 2 + 1)) "$dir/whole.log" >"$dir/second"
grown=$(stat -c %s "$dir/second")
big=$(grep -o '"App ID":"[^"]*"' "$dir/first" | head -1 | cut -d'"' -f4)
port=18126
api="http://127.0.0.1:$port/api/v1/applications"

# one BUILD: the longest answer about the small application, s
one() {
  local t longest=0
  cp "$dir/first" "$dir/big.log"
  EMBER_HISTORY_UPDATE_INTERVAL=1 "$1/ember" history "$dir/big.log" "$dir/small/$small" \
    --port $port >/dev/null 2>&1 &
  pid=$!
  until curl -sf "$api?limit=1" >/dev/null; do sleep 0.005; done
  curl -sf -o /dev/null "$api/$big/jobs" # read whole
  cat "$dir/second" >>"$dir/big.log"
  for _ in $(seq 60); do
    t=$(curl -sf -o /dev/null -w '%{time_total}' "$api/${small%.zstd}/jobs")
    longest=$(awk -v a="$longest" -v b="$t" 'BEGIN {print (b > a ? b : a)}')
    sleep 0.05
  done
  stop_server
  echo "$longest"
}
declare -A v
for _ in $(seq "$runs"); do
  v[old]+=" $(one "$old")"
  v[new]+=" $(one "$new")"
done
vmed() { printf '%s\n' ${v[$1]} | med; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) the history server answering while a look reads on — $cores cores ($cpu), median of $runs interleaved rounds, $old_name vs $(code_rev)

The tiny example's plain log of $njobs jobs, served from its first half and read whole,
then its second half ($grown bytes) appended; a small application (20 jobs) beside it.
After the append its jobs were asked for every 50 ms for 3 s, while the next look (every
second) read on.

| what | $old_name | $(code_rev) | new / old |
|---|---:|---:|---:|
| the longest answer about the small application, s (lower is better) | $(vmed old) | $(vmed new) | $(ratio "$(vmed new)" "$(vmed old)")× |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
