#!/usr/bin/env bash
# libember.so loads Open MPI only for master "mpi" (libember-mpi.so, beside
# it): a program on threads has none of MPI's libraries mapped, one on "mpi"
# has them, and without the module "mpi" is refused with a message that names
# it while the other masters still run.
#   tests/exec/mpi_module.sh TINY LIBEMBER
set -euo pipefail
tiny=$1
lib=$(readlink -f "$2")
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# what a running tiny job under MASTER has mapped once its context is open:
# its pool's second thread runs (local[2]), a worker was forked (process[2]),
# the module is in (mpi)
maps_of() {
  EMBER_MASTER=$1 "$tiny" 100000000 >/dev/null 2>&1 &
  pid=$!
  local open=
  for _ in $(seq 200); do
    case $1 in
    local*) [ "$(ls "/proc/$pid/task" 2>/dev/null | wc -l)" -ge 2 ] && open=1 ;;
    process*) pgrep -P "$pid" >/dev/null && open=1 ;;
    mpi) grep -q libember-mpi "/proc/$pid/maps" 2>/dev/null && open=1 ;;
    esac
    [ -n "$open" ] && break
    sleep 0.05
  done
  [ -n "$open" ] || fail "no context opened on $1"
  cat "/proc/$pid/maps"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

maps_of 'local[2]' >"$tmp/local"
grep -q libember "$tmp/local" || fail "libember is not mapped on local[2]"
if grep -E "libmpi|libopen-pal|libember-mpi" "$tmp/local"; then fail "MPI is loaded on local[2]"; fi
maps_of 'process[2]' >"$tmp/process"
if grep -E "libmpi|libopen-pal|libember-mpi" "$tmp/process"; then fail "MPI is loaded on process[2]"; fi
maps_of mpi >"$tmp/mpi"
grep -q libember-mpi "$tmp/mpi" || fail "the module is not loaded on mpi"
grep -q libmpi "$tmp/mpi" || fail "MPI is not loaded on mpi"

# libember.so alone, without its module: mpi is refused, by name, and the
# program goes on with the other masters
mkdir "$tmp/lib"
cp "$lib" "$tmp/lib/libember.so.0"
if LD_LIBRARY_PATH=$tmp/lib EMBER_MASTER=mpi "$tiny" 3 >"$tmp/out" 2>"$tmp/err"; then
  fail "mpi ran without its module: $(cat "$tmp/out")"
fi
grep -q "ember_open: master 'mpi': cannot load the MPI backend: .*$tmp/lib/libember-mpi.so" "$tmp/err" ||
  fail "the message does not name the module: $(cat "$tmp/err")"
LD_LIBRARY_PATH=$tmp/lib EMBER_MASTER='local[2]' "$tiny" 3 >"$tmp/out" || fail "local[2] failed"
grep -q "kept 333 of 1000" "$tmp/out" || fail "local[2]: $(cat "$tmp/out")"
echo "ok: MPI is loaded for mpi only, and its absence is named"
