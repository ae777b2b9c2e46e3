#!/usr/bin/env bash
# The ember command against golden files: install the build into a scratch
# prefix, then --version, --help, submit (compile, cache, run, pass args and
# master) and a job that does not compile.
set -euo pipefail
build=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
ember="$tmp/prefix/bin/ember"
export EMBER_CACHE_DIR="$tmp/cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

# the man page and the documents are installed; the page is well-formed troff
man1=$(ls -d "$tmp"/prefix/share/man/man1)
[ -f "$man1/ember.1" ] || fail "no man page installed"
if command -v groff >/dev/null; then
  groff -man -Tutf8 -ww -z "$man1/ember.1" 2>"$tmp/err" && [ ! -s "$tmp/err" ] || fail "man page: $(cat "$tmp/err")"
fi
[ -f "$tmp/prefix/share/doc/ember/guide.md" ] || fail "the guide is not installed"

# --version and --help, as golden files
version=$(sed -n 's/^#define EMBER_VERSION_STRING "\(.*\)"/\1/p' "$src/include/ember/ember.h")
[ "$("$ember" --version)" = "ember $version" ] || fail "--version"
diff -u "$here/help.golden" <("$ember" --help) || fail "--help differs from help.golden"
if "$ember" frobnicate 2>"$tmp/err"; then fail "an unknown command succeeded"; fi
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown command message"

# submit: compiles, runs with the args and the master
out=$("$ember" submit --master 'local[2]' "$src/examples/tiny.c" 20)
case "$out" in *"kept 333 of 1000"*"on local[2]"*) ;; *) fail "submit tiny: $out" ;; esac
[ "$(ls "$tmp/cache" | grep -c '^job-')" = 1 ] || fail "one cached binary expected"
# linked with -z now: a process[N] worker binds nothing anew in each fork
readelf -d "$tmp/cache"/job-* | grep -q 'FLAGS.*BIND_NOW\|FLAGS_1.*NOW' ||
  fail "the job was not linked with -z now: $(readelf -d "$tmp/cache"/job-* | grep FLAGS)"
# the second run uses the cache: the cached binary is not rebuilt
stamp=$(stat -c %Y%N "$tmp/cache"/job-*)
sleep 1
"$ember" submit "$src/examples/tiny.c" 5 >/dev/null
[ "$(stat -c %Y%N "$tmp/cache"/job-*)" = "$stamp" ] || fail "the cached binary was rebuilt"

# a job that does not compile: the compiler's message and a non-zero status
printf 'int main(void) { return undeclared_thing; }\n' >"$tmp/broken.c"
if "$ember" submit "$tmp/broken.c" 2>"$tmp/err"; then fail "a broken job succeeded"; fi
grep -q "undeclared_thing" "$tmp/err" || fail "the compiler's message is missing"
grep -q "compiling .*broken.c failed" "$tmp/err" || fail "no summary line"
if "$ember" submit "$tmp/missing.c" 2>"$tmp/err"; then fail "a missing job succeeded"; fi
grep -q "cannot read" "$tmp/err" || fail "missing file message"

# the cache is the user's own: a cache others can write is refused; a cached
# binary that is not the user's own is never run (it is built again)
mkdir -m 777 "$tmp/shared_cache"
if EMBER_CACHE_DIR="$tmp/shared_cache" "$ember" submit "$src/examples/tiny.c" 2>"$tmp/err"; then
  fail "a world-writable cache was used"
fi
grep -q "refusing the cache $tmp/shared_cache" "$tmp/err" || fail "cache refusal: $(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/cache")" = 700 ] || fail "the cache was made with mode $(stat -c %a "$tmp/cache")"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  planted=$(ls "$tmp/cache"/job-* | head -1)
  printf '#!/bin/sh\necho PLANTED BINARY running as uid $(id -u)\n' >"$planted"
  chmod 755 "$planted"
  chown nobody "$planted"
  out=$("$ember" submit "$src/examples/tiny.c" 5 2>&1) || fail "submit after a planted binary: $out"
  case "$out" in *PLANTED*) fail "a planted binary ran: $out" ;; esac
  case "$out" in *"kept 333 of 1000"*) ;; *) fail "the job did not run: $out" ;; esac
  [ "$(stat -c %u "$planted")" = 0 ] || fail "the planted binary was kept"
  # with HOME unset the cache is the user's home from the password database,
  # never a shared directory: nobody's home does not exist, so no cache at all
  rm -rf /tmp/.cache/ember-submit-probe
  chmod 755 "$tmp"
  if runuser -u nobody -- env -u HOME -u EMBER_CACHE_DIR -u XDG_CACHE_HOME \
       "$ember" submit "$src/examples/tiny.c" 2>"$tmp/err"; then
    fail "submit without a home of its own ran"
  fi
  grep -q "cannot create the cache /nonexistent/.cache/ember\|no cache directory" "$tmp/err" \
    || fail "no-home message: $(cat "$tmp/err")"
  chmod 700 "$tmp"
fi
# a job file whose name begins with '-' is a file, never a compiler option
cp "$src/examples/tiny.c" "$tmp/-ohijack.c"
out=$(cd "$tmp" && "$ember" submit -ohijack.c 5 2>&1) || fail "a job named -ohijack.c: $out"
case "$out" in *"kept 333 of 1000"*) ;; *) fail "-ohijack.c did not run: $out" ;; esac
[ ! -e "$tmp/hijack.c" ] || fail "the job name was taken as -o"

# --help; a master that does not parse is refused before compiling, in the
# library's words; a job that leaves conf.master NULL runs on --master
"$ember" submit --help | grep -q "// ember: -lsqlite3" || fail "submit --help"
if "$ember" submit --master 'locl[2]' "$src/examples/tiny.c" 2>"$tmp/err"; then fail "bad master ran"; fi
grep -q "ember submit: ember_open: master 'locl\[2\]' does not parse" "$tmp/err" || fail "bad master: $(cat "$tmp/err")"
cat >"$tmp/cores.c" <<'C'
#include <ember/ember.h>
#include <math.h>
#include <stdio.h>
#include <sqlite3.h>
#include "answer.h"
// ember: -lsqlite3
int main(void)
{
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){0})) /* the master from ember submit --master */
        return 1;
    printf("threads %d sqrt %.0f sqlite %d answer %d\n", ember_parallelism(ctx), sqrt(49.0),
           sqlite3_libversion_number() > 3000000, ANSWER);
    ember_close(ctx);
    return 0;
}
C
echo '#define ANSWER 41' >"$tmp/answer.h"
out=$("$ember" submit --master 'local[3]' "$tmp/cores.c" 2>&1) || fail "cores.c: $out"
[ "$out" = "threads 3 sqrt 7 sqlite 1 answer 41" ] || fail "cores.c said: $out"
# the cache key covers the headers the job includes: a changed header rebuilds
echo '#define ANSWER 42' >"$tmp/answer.h"
out=$("$ember" submit --master 'local[2]' "$tmp/cores.c" 2>&1) || fail "cores.c again: $out"
[ "$out" = "threads 2 sqrt 7 sqlite 1 answer 42" ] || fail "a changed header was not seen: $out"
# LDLIBS after the job
sed 's|// ember: -lsqlite3||' "$tmp/cores.c" >"$tmp/cores2.c"
LDLIBS=-lsqlite3 "$ember" submit "$tmp/cores2.c" >/dev/null 2>&1 || fail "LDLIBS not used"
# programs unused for 30 days are pruned when another is built
touch -d '40 days ago' "$tmp/cache/job-00000000000000000000000000000000"
touch -a -d '40 days ago' "$tmp/cache/job-00000000000000000000000000000000"
printf '#include <stdio.h>\nint main(void) { puts("fresh"); return 0; }\n' >"$tmp/fresh.c"
[ "$("$ember" submit "$tmp/fresh.c")" = fresh ] || fail "fresh.c"
[ ! -e "$tmp/cache/job-00000000000000000000000000000000" ] || fail "an old program was kept"

# the installed CMake package and pkg-config file work for a consumer
mkdir -p "$tmp/consumer"
cat >"$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(ember REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE ember::ember)
CM
cat >"$tmp/consumer/main.c" <<'C'
#include <ember/ember.h>
int main(void)
{
    ember_ctx *ctx;
    int64_t n = 0;
    if (ember_open(&ctx, &(ember_conf){.master = "local[2]"}))
        return 1;
    int rc = ember_count(ember_range(ctx, 0, 42, 1, 3), &n);
    ember_close(ctx);
    return rc || n != 42;
}
C
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/consumer/build/consumer" || fail "find_package consumer"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --exists ember || fail "pkg-config"
echo "cli: all passed"

# submit on MPI: every rank runs the job through mpirun
if command -v mpirun >/dev/null; then
  out=$("$ember" submit --master mpi -n 2 "$src/examples/tiny.c" 5 2>&1) || fail "submit mpi: $out"
  [ "$(printf '%s\n' "$out" | grep -c 'kept 333 of 1000.*on mpi')" = 2 ] || fail "submit mpi: $out"
  if "$ember" submit -n 2 "$src/examples/tiny.c" 2>"$tmp/err"; then fail "-n without mpi accepted"; fi
  grep -q -- "-n N (N >= 1) goes with --master mpi" "$tmp/err" || fail "-n message"
fi
