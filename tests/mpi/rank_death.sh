#!/usr/bin/env bash
# A rank that dies in the middle of a job (it exits without a word): the launcher
# must end the whole job with a non-zero status and say which rank died, not hang.
#   tests/mpi/rank_death.sh MPIEXEC PROGRAM
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 60 "$here/run.sh" "$1" 2 "$2" die >"$out" 2>&1
status=$?
cat "$out"
[ "$status" -ne 124 ] || { echo "FAIL: the job hung after a rank died" >&2; exit 1; }
[ "$status" -ne 0 ] || { echo "FAIL: the job succeeded after a rank died" >&2; exit 1; }
grep -qi "exited\|exit code\|non-zero status" "$out" || { echo "FAIL: no word of the dead rank" >&2; exit 1; }
grep -q "the job ended without the dead rank" "$out" && { echo "FAIL: a rank went on" >&2; exit 1; }
echo "ok: status $status"
