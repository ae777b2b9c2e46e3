#!/usr/bin/env bash
# What learning a value kind from typed emits costs (examples/tiny with max): the
# tiny job's chain built afresh every job and ended by max, whose default order
# needs the kind, learned by a probe stage each job or declared (no stage);
# local[2] and process[2] (where a stage is a fork), interleaved, medians of
# RUNS (default 7). Appends a table to bench/RESULTS.md.
#   bench/run_kinds.sh [BUILD]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
echo "ember kinds: $cores cores ($cpu), median of $runs runs" >&2

job() { EMBER_MASTER=$2 "$build/examples/tiny" "$3" "$1" | sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'; }
declare -A v
add() { v[$1]="${v[$1]:-} $2"; }
for _ in $(seq "$runs"); do
  add l_learned "$(job max 'local[2]' 20000)"; add l_declared "$(job max-declared 'local[2]' 20000)"
  add p_learned "$(job max 'process[2]' 1000)"; add p_declared "$(job max-declared 'process[2]' 1000)"
done
m() { printf '%s\n' ${v[$1]} | med; }
for k in l_learned l_declared p_learned p_declared; do eval "$k=$(m $k)"; done

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) value kinds learned from typed emits — $cores cores ($cpu), median of $runs interleaved runs, $(code_rev)

The tiny job's chain ending in max (no comparator: the int64 order), a fresh rdd every job.

| master | kind learned (a probe stage each job), µs a job | kind declared (ember_as_i64), µs a job | learned vs declared |
|---|---:|---:|---:|
| local[2] | $l_learned | $l_declared | $(ratio "$l_learned" "$l_declared")× |
| process[2] | $p_learned | $p_declared | $(ratio "$p_learned" "$p_declared")× |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
