#!/usr/bin/env bash
# The hardening figures (issue 13), medians of RUNS runs:
#   bad CSV rows   a 1,000,000-row headerless CSV, clean, with a run of 2,000 ragged
#                  rows across the split boundary, and with its second half ragged:
#                  MB/s in 1 split (the definition) and in 2 splits, and the rows kept
#   fuzzing        each harness for FUZZ_TIME seconds (default 60) on the sanitizer
#                  build (clang, ASan+UBSan) and on a UBSan-only build: runs, findings
#   torture        every allocation of every scenario failing in turn (sanitizer build)
#   bench/run_hardening.sh [BUILD_DIR] [csv|fuzz|torture|all]
set -euo pipefail
build=${1:-build}
what=${2:-all}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$what" = csv ] || [ "$what" = all ]; then
  /usr/bin/python3 - "$work" <<'PY'
import sys
d = sys.argv[1]
rows = ['%d,x%d,y\n' % (i, i) for i in range(1000000)]
open(d + '/clean.csv', 'w').write(''.join(rows))
half = sum(len(r) for r in rows) // 2
off = 0
for mid, r in enumerate(rows):
    if off >= half:
        break
    off += len(r)
run = list(rows)
for i in range(mid - 1000, mid + 1000):
    run[i] = '%d,x\n' % i
open(d + '/run.csv', 'w').write(''.join(run))
for i in range(500000, 1000000):
    rows[i] = '%d,x\n' % i
open(d + '/half.csv', 'w').write(''.join(rows))
PY
  row() {
    local f=$1 s1 s2 k1 k2
    s1=$(median "$build/bench/bench_io" csvbad1 "$work/$f" 'local[2]')
    s2=$(median "$build/bench/bench_io" csvbad "$work/$f" 'local[2]')
    k1=$("$build/bench/bench_io" csvbad1 "$work/$f" 'local[2]' 2>&1 >/dev/null | awk '{print $1}')
    k2=$("$build/bench/bench_io" csvbad "$work/$f" 'local[2]' 2>&1 >/dev/null | awk '{print $1}')
    echo "| $2 | $s1 | $s2 | $(ratio "$s2" "$s1") | $k1 | $k2 |"
  }
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) CSV with bad rows — $cores cores ($cpu), median of $runs runs, code at $(code_rev)

1,000,000 headerless rows of 3 fields (16.8 MB), bad rows skipped and counted, local[2]:
MB/s of input read in 1 split (the definition) and in 2 splits, and the rows kept by each.

| file | 1 split, MB/s | 2 splits, MB/s | 2 ÷ 1 | rows kept, 1 split | rows kept, 2 splits |
|---|---:|---:|---:|---:|---:|
$(row clean.csv "clean")
$(row run.csv "2,000 ragged rows across the split boundary")
$(row half.csv "the second half ragged (500,000 bad rows)")
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi

if [ "$what" = fuzz ] || [ "$what" = all ]; then
  secs=${FUZZ_TIME:-60}
  for b in clang fuzzfast; do
    san=$([ $b = clang ] && echo address,undefined || echo undefined)
    CC=clang cmake -S "$root" -B "$build-$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_WERROR=OFF \
      -DEMBER_SANITIZE=$san -DEMBER_FUZZ=ON >/dev/null
    cmake --build "$build-$b" -j "$(nproc)" >/dev/null
  done
  rows=""
  for h in csv json_lines codecs records http_request; do
    for b in clang fuzzfast; do
      line=$(cd "$build-$b" && EMBER_FUZZ_FINDINGS="$work/findings" \
             "$root/tests/fuzz/run.sh" "tests/fuzz_$h" "$root/tests/fuzz/corpus/$h" "$secs" | head -1)
      runs=$(echo "$line" | sed -n 's/.*: \([0-9]*\) runs.*/\1/p')
      st=$(echo "$line" | sed -n 's/.*exit \([0-9]*\).*/\1/p')
      rows+="| $h | $([ $b = clang ] && echo "ASan+UBSan" || echo "UBSan") | $secs | $runs | $([ "$st" = 0 ] && echo none || echo "exit $st, see fuzz-findings") |"$'\n'
    done
  done
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) fuzzing — $cores cores ($cpu), one worker a harness, code at $(code_rev)

libFuzzer (clang 14) over the seed corpus in tests/fuzz/corpus, $secs s a harness and build.

| harness | sanitizers | seconds | runs | findings |
|---|---|---:|---:|---|
$rows
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi

if [ "$what" = torture ] || [ "$what" = all ]; then
  cmake -S "$root" -B "$build-asan" -DCMAKE_BUILD_TYPE=Debug -DEMBER_SANITIZE=address,undefined >/dev/null
  cmake --build "$build-asan" -j "$(nproc)" --target test_torture >/dev/null
  out=$("$build-asan/tests/test_torture" all 1 2>&1 | grep -v "a clean error" || true)
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) allocation-failure torture — $cores cores, code at $(code_rev)

tests/torture/torture.c in the ASan+UBSan build (LeakSanitizer at each child's exit): each
scenario with each of its allocations failing in turn (libcurl's counted, not failed).

\`\`\`
$out
\`\`\`
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi
