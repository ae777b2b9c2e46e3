#!/usr/bin/env bash
# process[N] beside local[N], interleaved, medians of RUNS (default 7): π and
# word count (the speed of the work), the tiny job (what a fork per stage
# costs; also as `ember submit` links a job, -z now, here LD_BIND_NOW=1) with
# multiprocessing.Pool(2).map of the same job beside it and the
# floor of any forked stage here (bench_proc floor: a fork whose child answers
# one byte) and what a page fault costs here (bench_proc faults), and a job
# of 1,000 tasks of about 5 ms each, with and without 1% of them segfaulting on
# their first attempt. Appends a table to bench/RESULTS.md.
#   bench/run_process.sh [BUILD]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
py=${PYTHON:-/usr/bin/python3}
zipf_data "$build"
echo "ember process[N]: $cores cores ($cpu), median of $runs runs" >&2

pi() { "$build/bench/bench_pi" "$1" 200000000 16 chunks; }
wc() { "$build/bench/bench_shuffle" wordcount "$data/zipf.txt" "$1"; }
tiny() { EMBER_MASTER=$1 "$build/examples/tiny" "$2" | sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'; }
declare -A v
add() { v[$1]="${v[$1]:-} $2"; }
for _ in $(seq "$runs"); do
  add pi_l "$(pi 'local[2]')"; add pi_p "$(pi 'process[2]')"
  add wc_l "$(wc 'local[2]')"; add wc_p "$(wc 'process[2]')"
  add t_l "$(tiny 'local[2]' 20000)"; add t_p "$(tiny 'process[2]' 2000)"
  add t_now "$(LD_BIND_NOW=1 tiny 'process[2]' 2000)"
  add t_pool "$("$py" "$here/tiny_peers.py" pool 2000)"
  add t_floor "$("$build/bench/bench_proc" floor 2000)"
  read -r f_fresh f_cow < <("$build/bench/bench_proc" faults 20000)
  add f_fresh "$f_fresh"; add f_cow "$f_cow"
  add c_clean "$("$build/bench/bench_proc" 'process[2]' 1000 5 clean)"
  add c_crash "$("$build/bench/bench_proc" 'process[2]' 1000 5 crash)"
  add c_local "$("$build/bench/bench_proc" 'local[2]' 1000 5 clean)"
done
m() { printf '%s\n' ${v[$1]} | med; }
for k in pi_l pi_p wc_l wc_p t_l t_p t_now t_pool t_floor f_fresh f_cow c_clean c_crash c_local; do eval "$k=$(m $k)"; done

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) process[2] beside local[2] — $cores cores ($cpu), median of $runs interleaved runs, $(code_rev)

| job | local[2] | process[2] | process vs local | target |
|---|---:|---:|---:|---|
| π, 200 M samples in 16 chunks, samples/s (higher is better) | $pi_l | $pi_p | $(ratio "$pi_p" "$pi_l")× | ≥ 0.95× |
| word count of 200 MB, MB/s (higher is better) | $wc_l | $wc_p | $(ratio "$wc_p" "$wc_l")× | ≥ 0.9× |
| tiny job, µs a job (lower is better) | $t_l | $t_p | $(ratio "$t_p" "$t_l")× | ≤ 50 µs |
| tiny job, the program bound at start (-z now, as \`ember submit\` links; here LD_BIND_NOW=1), µs a job | | $t_now | $(ratio "$t_now" "$t_l")× | ≤ 50 µs |
| 1,000 tasks of ~5 ms, s (lower is better) | $c_local | $c_clean | $(ratio "$c_clean" "$c_local")× | |

multiprocessing.Pool(2).map of the tiny job (Python $("$py" -c 'import sys; print(sys.version.split()[0])'), the pool started once): $t_pool µs a job; process[2] is $(ratio "$t_pool" "$t_p")× as fast ($(ratio "$t_pool" "$t_now")× bound at start).

The floor of a stage in a forked process on this machine (bench_proc floor: from a fork, by a
program with libember loaded, to its child's first byte on a pipe; the child reaped outside the
time): $t_floor µs; the tiny job at process[2] takes $(ratio "$t_p" "$t_floor")× that. A page
fault here (bench_proc faults: 20,000 pages) costs $f_fresh µs on fresh memory and $f_cow µs
copied on write after a fork.

A job of 1,000 tasks of ~5 ms at process[2], 1% of them (10) segfaulting on their first attempt:
$c_crash s against $c_clean s without crashes: $(ratio "$c_crash" "$c_clean")× (target ≤ 1.2×); every crash was retried (bench_proc checks the sum and that exactly 10 attempts failed).
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
