#!/usr/bin/env bash
# What one way of seeing a job adds to the tiny job on several builds at once:
# each round runs every build's "off" and SETTING back to back, the builds in
# an order that turns round by round, so that a host whose speed moves from
# minute to minute moves every build's pair alike. Prints and appends to
# bench/RESULTS.md, for each build, the median over rounds of SETTING less the
# same round's "off", and the quartiles.
#   bench/run_ui_builds.sh SETTING NAME=BUILD...
#   SETTING: log, ui, bar or all; RUNS rounds (default 7), JOBS a run (20000)
set -euo pipefail
setting=$1
shift
jobs=${JOBS:-20000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
case $setting in
log | ui | bar | all) ;;
*) echo "bench/run_ui_builds.sh: no setting '$setting' (log, ui, bar, all)" >&2; exit 2 ;;
esac
names=() builds=()
for nb in "$@"; do
  names+=("${nb%%=*}")
  builds+=("${nb#*=}")
done
n=${#builds[@]}
[ "$n" -ge 1 ] || { echo "usage: bench/run_ui_builds.sh SETTING NAME=BUILD..." >&2; exit 2; }
logdir=$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")
log="$logdir/ember-ui-builds.log"
echo "ember UI costs by build: $setting, $cores cores ($cpu), $runs rounds" >&2
declare -A adds offs
for r in $(seq "$runs"); do
  for k in $(seq 0 $((n - 1))); do
    i=$(((k + r) % n))
    o=$(ui_tiny "${builds[$i]}" off "$log" "$jobs")
    s=$(ui_tiny "${builds[$i]}" "$setting" "$log" "$jobs")
    offs[$i]+="$o "
    adds[$i]+="$(awk -v a="$s" -v b="$o" 'BEGIN {print a - b}') "
  done
done
# q P: the P-th quartile (1, 2, 3) of the numbers on stdin
q() { sort -g | awk -v p="$1" '{v[NR]=$1} END {i=int(p*(NR+1)/4); if (i<1) i=1; if (i>NR) i=NR; print v[i]}'; }
rows=""
for i in $(seq 0 $((n - 1))); do
  # shellcheck disable=SC2086 # the figures are words
  rows+="| ${names[$i]} | $(printf '%s\n' ${offs[$i]} | med) | $(printf '%+.2f' "$(printf '%s\n' ${adds[$i]} | med)") | $(printf '%+.2f' "$(printf '%s\n' ${adds[$i]} | q 1)") | $(printf '%+.2f' "$(printf '%s\n' ${adds[$i]} | q 3)") |"$'\n'
done

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) seeing a job, by build: what $setting adds to the tiny job — $cores cores ($cpu), median of $runs rounds of $jobs jobs

µs a job (lower is better). Each round: every build's off and $setting back to back, the builds'
order turning; "adds" is the median over rounds of $setting less the same round's off.

| build | off | adds | lower quartile | upper quartile |
|---|---:|---:|---:|---:|
${rows%$'\n'}
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
