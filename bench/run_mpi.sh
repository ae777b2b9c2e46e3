#!/usr/bin/env bash
# The MPI backend on this machine, medians of RUNS: word count of the 200 MB Zipf
# corpus at mpirun -n 2 (one thread a rank) beside local[2]; reduce_by_key of
# 20 M generated keys (shuffle MB/s); the CPU a rank uses while it waits 2 s
# for another; the serial C word count beside them. Appends a table to bench/RESULTS.md.
#   bench/run_mpi.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v mpirun >/dev/null || { echo "run_mpi.sh: mpirun not found (openmpi-bin)" >&2; exit 0; }
mpi=(mpirun -n 2)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
zipf_data "$build"

ws=$(median "$build/bench/wc_serial" "$data/zipf.txt")
wl=$(median "$build/bench/bench_shuffle" wordcount "$data/zipf.txt" 'local[2]')
wm=$(median "${mpi[@]}" "$build/bench/bench_shuffle" wordcount "$data/zipf.txt" 'mpi[1]')
rl=$(median "$build/bench/bench_shuffle" rbk 20000000 'local[2]')
rm_=$(median "${mpi[@]}" "$build/bench/bench_shuffle" rbk 20000000 'mpi[1]')
idle=$(median "${mpi[@]}" "$build/bench/bench_idle")

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) MPI backend — $cores cores ($cpu), Open MPI $(mpirun --version | sed -n 's/.*(Open MPI) //p'), median of $runs runs, code at $(code_rev)

| job | local[2] | mpirun -n 2, mpi[1] (one thread a rank) | MPI ÷ local |
|---|---:|---:|---:|
| word count of the 200 MB Zipf corpus, MB/s of input | $wl | $wm | $(ratio "$wm" "$wl") |
| reduce_by_key of 20 M generated keys (12.6 M distinct), shuffle MB/s | $rl | $rm_ | $(ratio "$rm_" "$rl") |

The hand-written serial C word count (bench/wc_serial.c) ran at **$ws MB/s** in the same
run: \`mpirun -n 2\` is $(ratio "$wm" "$ws")× it, \`local[2]\` $(ratio "$wl" "$ws")×.

A rank that waits 2 s for the other (partition 1 works, partition 0 has nothing) used
**$idle s** of CPU over the job: collectives are waited for with MPI_Test and sleeps,
so the waiting rank leaves its core to the workers.
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
