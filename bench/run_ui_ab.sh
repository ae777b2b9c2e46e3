#!/usr/bin/env bash
# What each way of seeing a job adds to the tiny job, on two builds: off, the
# event log alone (on /dev/shm when there is one), the web UI alone, the
# progress bar alone (forced on, into /dev/null) and all three; every setting
# of both builds in each round, medians of RUNS rounds (default 7). Appends a
# table to bench/RESULTS.md.
#   bench/run_ui_ab.sh OLD_BUILD [NEW_BUILD] [OLD_NAME]
set -euo pipefail
old=$1
new=${2:-build}
old_name=${3:-$old}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
logdir=$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")
log="$logdir/ember-ui-ab.log"
echo "ember UI costs, A/B: $cores cores ($cpu), median of $runs rounds" >&2

modes=(off log ui bar all)
tiny() { ui_tiny "$1" "$2" "$log"; }
declare -A v
for _ in $(seq "$runs"); do
  for b in old new; do
    dir=$old
    [ $b = new ] && dir=$new
    for m in "${modes[@]}"; do v[$b.$m]="${v[$b.$m]:-} $(tiny "$dir" "$m")"; done
  done
done
vmed() { printf '%s\n' ${v[$1]} | med; }
plus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.2f", b - a}'; }
rows=""
for m in "${modes[@]}"; do
  o=$(vmed "old.$m") n=$(vmed "new.$m") o0=$(vmed old.off) n0=$(vmed new.off)
  rows+="| $m | $o | $(plus "$o0" "$o") | $n | $(plus "$n0" "$n") |"$'\n'
done

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) seeing a job, A/B: the tiny job under each setting — $cores cores ($cpu), median of $runs interleaved rounds, $old_name vs $(code_rev)

µs a job (lower is better); "+" is what the setting adds to the same build's "off".
log: EMBER_EVENT_LOG on $logdir; ui: EMBER_UI_PORT=-1; bar: EMBER_PROGRESS=1 into /dev/null; all: the three.

| setting | $old_name | adds | $(code_rev) | adds |
|---|---:|---:|---:|---:|
${rows%$'\n'}
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
