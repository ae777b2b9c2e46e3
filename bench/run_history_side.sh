#!/usr/bin/env bash
# The history server answering while it reads a big log whole, two builds in
# turn on the same logs: a big application (the tiny example of JOBS jobs,
# default 20,000) and a small one (20 jobs), as EMBER_EVENT_LOG=DIR/ leaves
# them. Each round starts each build's server on the two logs, asks for the
# big application's jobs (which has its log read whole) and, 50 ms later, for
# the small one's; medians of RUNS (default 7) rounds, the builds interleaved:
#   - the small application's answer, from its request, while the big log is
#     read (before answers were made side by side: after that read);
#   - the big application's answer, from its request.
# Appends a table to bench/RESULTS.md.
#   bench/run_history_side.sh OLD_BUILD [NEW_BUILD] [OLD_NAME] [JOBS]
set -euo pipefail
njobs=${4:-20000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
ab_args "$@"
scratch history-side
echo "ember history side by side: $cores cores ($cpu), median of $runs rounds" >&2
app_logs "$new" 1 "$dir/big" "$njobs"
big_bytes=$bytes
app_logs "$new" 1 "$dir/small" 20
big=$(ls "$dir/big")
small=$(ls "$dir/small")
port=18125
api="http://127.0.0.1:$port/api/v1/applications"

# one BUILD: "small big", seconds
one() {
  local s b
  EMBER_HISTORY_UPDATE_INTERVAL=0 "$1/ember" history "$dir/big/$big" "$dir/small/$small" \
    --port $port >/dev/null 2>&1 &
  pid=$!
  until curl -sf "$api?limit=1" >/dev/null; do sleep 0.005; done
  curl -sf -o /dev/null -w '%{time_total}\n' "$api/${big%.zstd}/jobs" >"$dir/big.t" &
  b=$!
  sleep 0.05
  s=$(curl -sf -o /dev/null -w '%{time_total}' "$api/${small%.zstd}/jobs")
  wait "$b"
  stop_server
  echo "$s $(cat "$dir/big.t")"
}
declare -A v
for _ in $(seq "$runs"); do
  for b in old new; do
    dir_b=$old
    [ $b = new ] && dir_b=$new
    read -r a c < <(one "$dir_b")
    v[$b.small]+=" $a" v[$b.big]+=" $c"
  done
done
vmed() { printf '%s\n' ${v[$1]} | med; }
row() { echo "| $1 | $(vmed "old.$2") | $(vmed "new.$2") | $(ratio "$(vmed "new.$2")" "$(vmed "old.$2")")× |"; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) the history server answering while it reads a log whole — $cores cores ($cpu), median of $runs interleaved rounds, $old_name vs $(code_rev)

Two applications, as EMBER_EVENT_LOG=DIR/ leaves them: the tiny example of $njobs jobs
($big_bytes bytes of .zstd log) and of 20 jobs. The big one's jobs asked for first (its log
read whole), the small one's 50 ms later; no looks again.

| what | $old_name | $(code_rev) | new / old |
|---|---:|---:|---:|
$(row "the small application's jobs, from its request, s (lower is better)" small)
$(row "the big application's jobs, from its request, s (lower is better)" big)
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
