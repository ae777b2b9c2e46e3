#!/usr/bin/env bash
# Run a libFuzzer harness for SECONDS over a scratch copy of its seed corpus
# (the tree is never written): prints the runs made; a crash, a leak or a
# harness's own check is a failure, and the input that caused it is kept in
# $EMBER_FUZZ_FINDINGS (default the build's fuzz-findings/) to become a seed.
#   tests/fuzz/run.sh HARNESS CORPUS_DIR SECONDS [JOBS]
set -euo pipefail
harness=$1
corpus=$2
secs=$3
jobs=${4:-1}
name=$(basename "$harness")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
findings=${EMBER_FUZZ_FINDINGS:-$(pwd)/fuzz-findings}
mkdir -p "$work/corpus" "$findings"
cp -r "$corpus"/. "$work/corpus/" 2>/dev/null || true
set +e
if [ "$jobs" -gt 1 ]; then
  "$harness" -max_total_time="$secs" -jobs="$jobs" -workers="$jobs" -max_len=4096 \
    -artifact_prefix="$findings/$name-" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1
else
  "$harness" -max_total_time="$secs" -max_len=4096 -artifact_prefix="$findings/$name-" \
    -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1
fi
rc=$?
set -e
cat fuzz-*.log >>"$work/log" 2>/dev/null || true
rm -f fuzz-*.log
runs=$(grep -h "stat::number_of_executed_units" "$work/log" | awk '{s += $2} END {print s + 0}')
echo "$name: $runs runs in $secs s, exit $rc"
if [ "$rc" != 0 ]; then
  grep -h -B2 -A30 "ERROR\|disagree\|==ERROR" "$work/log" | head -80
  exit 1
fi
