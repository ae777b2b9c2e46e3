#!/usr/bin/env bash
# Run a test program under mpirun with its local masters turned into MPI ones
# (EMBER_TEST_MPI=1, tests/support.h): tests/mpi/run.sh MPIEXEC RANKS [tcp] PROGRAM
# --oversubscribe: more ranks than cores; --allow-run-as-root where tests run as root.
set -euo pipefail
mpiexec=$1
ranks=$2
shift 2
args=(--oversubscribe -n "$ranks")
[ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
if [ "${1:-}" = tcp ]; then
  args+=(--mca btl tcp,self) # the network path, not shared memory
  shift
fi
export EMBER_TEST_MPI=1
# one scratch directory for every rank (tests/support.h), removed after
EMBER_TEST_DIR=$(mktemp -d /tmp/ember-test-mpi-XXXXXX)
export EMBER_TEST_DIR
trap 'rm -rf "$EMBER_TEST_DIR"' EXIT
"$mpiexec" "${args[@]}" "$@"
