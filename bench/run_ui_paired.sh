#!/usr/bin/env bash
# What one way of seeing a job adds to the tiny job, on two builds, paired:
# each round runs "off" and the setting on both builds back to back (the
# builds' order alternating), so a host whose speed moves from minute to
# minute moves both halves of a round alike. Prints and appends to
# bench/RESULTS.md the median of what the setting adds on each build, and the
# median of the rounds' differences (new's addition less old's).
#   bench/run_ui_paired.sh SETTING OLD_BUILD [NEW_BUILD] [OLD_NAME]
#   SETTING: log, ui, bar or all; RUNS rounds (default 7), JOBS a run (20000)
set -euo pipefail
setting=$1
shift
jobs=${JOBS:-20000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
ab_args "$@"
logdir=$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")
log="$logdir/ember-ui-paired.log"
case $setting in
log | ui | bar | all) ;;
*) echo "bench/run_ui_paired.sh: no setting '$setting' (log, ui, bar, all)" >&2; exit 2 ;;
esac
tiny() { ui_tiny "$1" "$2" "$log" "$jobs"; }
echo "ember UI costs, paired: $setting, $cores cores ($cpu), $runs rounds" >&2
rounds=""
for r in $(seq "$runs"); do
  first=$old second=$new
  [ $((r % 2)) = 0 ] && first=$new second=$old
  a0=$(tiny "$first" off) a1=$(tiny "$first" "$setting")
  b0=$(tiny "$second" off) b1=$(tiny "$second" "$setting")
  if [ "$first" = "$old" ]; then
    rounds+="$a0 $a1 $b0 $b1"$'\n'
  else
    rounds+="$b0 $b1 $a0 $a1"$'\n'
  fi
done
col() { printf '%s' "$rounds" | awk "NF {print $1}" | med; }
row=$(printf '| %s | %s | %+.2f | %s | %+.2f | %+.2f |' "$setting" "$(col '$1')" "$(col '$2-$1')" \
  "$(col '$3')" "$(col '$4-$3')" "$(col '($4-$3)-($2-$1)')")

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) seeing a job, paired: what $setting adds to the tiny job — $cores cores ($cpu), median of $runs paired rounds of $jobs jobs, $old_name vs $(code_rev)

µs a job (lower is better). Each round: off and $setting on both builds back to back; "adds" is
the median over rounds of $setting less off on one build, "new − old" the median of the rounds'
differences of those.

| setting | $old_name off | adds | $(code_rev) off | adds | new − old |
|---|---:|---:|---:|---:|---:|
$row
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
