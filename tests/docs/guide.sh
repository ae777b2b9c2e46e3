#!/usr/bin/env bash
# Every C program in docs/guide.md compiles against the installed library
# (a scratch prefix), with the flags its "// ember:" lines name, warnings on;
# the CPU-heavy one also links with libember.a (pkg-config --static) and
# through the installed CMake package.
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib64/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig"
awk -v dir="$tmp" '/^```c$/ {n++; out = dir "/job" n ".c"; inside = 1; next}
                   /^```$/ {inside = 0; next}
                   inside {print > out}' "$src/docs/guide.md"
count=$(ls "$tmp"/job*.c | wc -l)
[ "$count" = 4 ] || { echo "FAIL: $count programs in the guide, 4 expected" >&2; exit 1; }
for f in "$tmp"/job*.c; do
  flags=$(sed -n 's|^// ember:||p' "$f")
  # shellcheck disable=SC2086
  cc -Wall -Wextra -Werror -Wno-unused-parameter -o "${f%.c}" "$f" \
    $(pkg-config --cflags --libs ember) $flags -lm -I/usr/include/postgresql ||
    { echo "FAIL: $f does not compile" >&2; exit 1; }
done
# the CPU-heavy one runs as it is, on threads and on worker processes
for m in 'local[2]' 'process[2]'; do
  out=$(cd "$tmp" && EMBER_MASTER=$m LD_LIBRARY_PATH="$tmp/prefix/lib" ./job3)
  case "$out" in "largest: "*) ;; *) echo "FAIL: job3 on $m said: $out" >&2; exit 1 ;; esac
done
# the same linked with libember.a (pkg-config --static; the MPI backend built
# in), on threads and on MPI
# shellcheck disable=SC2046
cc -o "$tmp/job3_static" "$tmp/job3.c" $(pkg-config --cflags ember) \
  $(pkg-config --static --libs ember | sed 's/-lember /-l:libember.a /') -lm ||
  { echo "FAIL: job3 does not link with libember.a" >&2; exit 1; }
for m in 'local[2]' mpi; do
  [ $m = mpi ] && ! command -v mpirun >/dev/null && continue
  out=$(cd "$tmp" && EMBER_MASTER=$m ./job3_static)
  case "$out" in "largest: "*) ;; *) echo "FAIL: static job3 on $m said: $out" >&2; exit 1 ;; esac
done
# the same through the installed CMake package, with either library
mkdir "$tmp/cm"
cp "$tmp/job3.c" "$tmp/cm/"
cat >"$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(ember REQUIRED)
add_executable(job3_cm_shared job3.c)
target_link_libraries(job3_cm_shared ember::ember m)
add_executable(job3_cm_static job3.c)
target_link_libraries(job3_cm_static ember::ember_static m)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cm.log" 2>&1 &&
  cmake --build "$tmp/cm/b" >>"$tmp/cm.log" 2>&1 ||
  { echo "FAIL: the CMake package does not build job3: $(tail -20 "$tmp/cm.log")" >&2; exit 1; }
for t in shared static; do
  out=$(cd "$tmp" && EMBER_MASTER='local[2]' LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/cm/b/job3_cm_$t")
  case "$out" in "largest: "*) ;; *) echo "FAIL: CMake-built job3 ($t) said: $out" >&2; exit 1 ;; esac
done
# the files one, on logs made here
mkdir "$tmp/logs"
printf '{"status": 200}\n{"status": 404}\nnot json\n{"status": 200}\n' | gzip >"$tmp/logs/a.json.gz"
out=$(cd "$tmp" && LD_LIBRARY_PATH="$tmp/prefix/lib" ./job2 "$tmp/logs/*.json.gz" "$tmp/counts")
[ "$out" = "1 bad lines skipped" ] || { echo "FAIL: job2 said: $out" >&2; exit 1; }
[ "$(cat "$tmp"/counts/part-* | sort | tr '\t\n' ':,')" = "200:2,404:1," ] ||
  { echo "FAIL: job2 counts: $(cat "$tmp"/counts/part-*)" >&2; exit 1; }
echo "docs/guide: ok"
