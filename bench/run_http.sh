#!/usr/bin/env bash
# HTTP benchmarks against a local nginx (scripts/nginx_local.sh), medians of RUNS:
#   fast       1,000 GETs answered after 350 ms: wall, CPU, peak RSS of `ember http`
#              beside ThreadPoolExecutor(16)+requests, aiohttp (semaphore and
#              connector limit 1,000) and curl --parallel --parallel-max 300
#   throttled  1,000 calls to nginx limit_req 120/min, burst 120: time, requests
#              sent per success, records lost (THROTTLE_RUNS runs, default RUNS;
#              each ~7.5 minutes; nginx restarted for each so its bucket is full)
#   faults     1,000 calls, 5% 500s, 2% closed connections, 2% slow bodies
#   bench/run_http.sh [BUILD_DIR] [fast|throttled|faults|all]
set -euo pipefail
build=${1:-build}
what=${2:-all}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
. "$here/lib.sh"
ember="$build/ember"
work=$(mktemp -d)
ngx="$work/nginx"
trap '"$root/scripts/nginx_local.sh" stop "$ngx" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
start_nginx() { "$root/scripts/nginx_local.sh" stop "$ngx" >/dev/null 2>&1 || true; port=$("$root/scripts/nginx_local.sh" start "$ngx"); }
urls() { for i in $(seq 1000); do echo "http://127.0.0.1:$port/$1/$i"; done >"$work/$1.txt"; }
med='{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
# column K's median of the lines in FILE
colmed() { awk -v k="$2" '{print $k}' "$1" | sort -g | awk "$med"; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$what" = fast ] || [ "$what" = all ]; then
  start_nginx
  urls delay
  for p in $(seq 1000); do echo "url = \"http://127.0.0.1:$port/delay/$p\""; echo "output = /dev/null"; done >"$work/curl.cfg"
  : >"$work/ember.m"; : >"$work/threads.m"; : >"$work/aio.m"; : >"$work/curl.m"
  for _ in $(seq "$runs"); do
    "$py" "$here/http_peers.py" measure "$ember" http --in "$work/delay.txt" --out "$work/e.out" --concurrency 1000 --master 'local[2]' >>"$work/ember.m"
    read -r d ok _ lost < <("$py" "$here/http_peers.py" tally "$work/delay.txt" "$work/e.out")
    [ "$ok" = 1000 ] || echo "warning: ember answered $ok of 1000 ok ($lost lost)" >&2
    "$py" "$here/http_peers.py" measure "$py" "$here/http_peers.py" aiohttp "$work/delay.txt" 1000 "$work/a.out" >>"$work/aio.m"
    "$py" "$here/http_peers.py" measure curl -s --no-progress-meter --parallel --parallel-max 300 -K "$work/curl.cfg" >>"$work/curl.m"
  done
  # the 16-thread pool takes ~22 s a run: THREAD_RUNS of them (default 5)
  for _ in $(seq "${THREAD_RUNS:-5}"); do
    "$py" "$here/http_peers.py" measure "$py" "$here/http_peers.py" threads "$work/delay.txt" 16 "$work/t.out" >>"$work/threads.m"
  done
  read -r ta tok < <("$py" "$here/http_peers.py" tally_codes "$work/a.out")
  row() { echo "| $1 | $(colmed "$2" 1) | $(colmed "$2" 2) | $(colmed "$2" 3) | $(ratio "$(colmed "$2" 1)" "$(colmed "$work/ember.m" 1)") |"; }
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) HTTP: 1,000 GETs answered after 350 ms — $cores cores ($cpu), median of $runs runs (thread pool: ${THREAD_RUNS:-5}), code at $(code_rev)

nginx on 127.0.0.1 (one worker, echo_sleep 0.35). Wall time, CPU time (user + system)
and peak RSS of the whole process, start to exit. The floor is one 350 ms round trip.

| runner | wall, s | CPU, s | peak RSS, MB | wall ÷ ember's |
|---|---:|---:|---:|---:|
$(row "ember http --concurrency 1000, local[2] (JSON lines written)" "$work/ember.m")
$(row "aiohttp, semaphore 1,000, connector limit 1,000 (python3-aiohttp)" "$work/aio.m")
$(row "curl --parallel --parallel-max 300" "$work/curl.m")
$(row "ThreadPoolExecutor(16) + requests" "$work/threads.m")
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi

if [ "$what" = throttled ] || [ "$what" = all ]; then
  : >"$work/thr.m"
  for _ in $(seq "${THROTTLE_RUNS:-$runs}"); do
    start_nginx # a fresh limit_req bucket
    urls limited
    read -r wall _ < <("$py" "$here/http_peers.py" measure "$ember" http --in "$work/limited.txt" --out "$work/l.out" --rate 120/min --burst 120 --concurrency 1000 --master 'local[2]')
    read -r d ok sent lost < <("$py" "$here/http_peers.py" tally "$work/limited.txt" "$work/l.out")
    echo "$wall $(awk -v s="$sent" -v o="$ok" 'BEGIN {printf "%.4f", o ? s / o : 0}') $lost $ok" >>"$work/thr.m"
    echo "throttled run: $(tail -1 "$work/thr.m")" >&2
  done
  # a naive pool for comparison: 16 threads, no rate limit, no retry
  start_nginx
  urls limited
  "$py" "$here/http_peers.py" threads "$work/limited.txt" 16 "$work/tl.out"
  read -r nd nok < <("$py" "$here/http_peers.py" tally_codes "$work/tl.out")
  floor=440
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) HTTP throttled: 1,000 calls, nginx limit_req 120/min burst 120 — $cores cores, median of ${THROTTLE_RUNS:-$runs} runs, code at $(code_rev)

ember http --rate 120/min --burst 120 --concurrency 1000, local[2]; a 429 is retried.
The floor the server allows is 440 s (120 at once, then 2 a second).

| runner | seconds | ÷ 440 s floor | requests sent per success | lost | answered 2xx |
|---|---:|---:|---:|---:|---:|
| ember | $(colmed "$work/thr.m" 1) | $(ratio "$(colmed "$work/thr.m" 1)" $floor) | $(colmed "$work/thr.m" 2) | $(colmed "$work/thr.m" 3) | $(colmed "$work/thr.m" 4) |
| ThreadPoolExecutor(16) + requests, no limit (one run) | — | — | — | $((1000 - nok)) calls got no 2xx | $nok |
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi

if [ "$what" = faults ] || [ "$what" = all ]; then
  start_nginx
  urls faulty
  : >"$work/f.m"
  for _ in $(seq "$runs"); do
    read -r wall _ < <("$py" "$here/http_peers.py" measure "$ember" http --in "$work/faulty.txt" --out "$work/f.out" --concurrency 1000 --timeout 5s --master 'local[2]')
    read -r d ok sent lost < <("$py" "$here/http_peers.py" tally "$work/faulty.txt" "$work/f.out")
    echo "$wall $d $ok $sent $lost" >>"$work/f.m"
  done
  "$py" "$here/http_peers.py" aiohttp "$work/faulty.txt" 1000 "$work/fa.out"
  read -r ad aok < <("$py" "$here/http_peers.py" tally_codes "$work/fa.out")
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) HTTP faults: 1,000 calls, 5% 500, 2% closed, 2% slow bodies — $cores cores, median of $runs runs, code at $(code_rev)

Faults drawn by nginx per request (split_clients on \$request_id), so a retry may succeed.
ember http --concurrency 1000 --timeout 5s (3 retries, backoff 0.1 s base), local[2].

| runner | seconds | delivered | answered 2xx | requests sent | lost |
|---|---:|---:|---:|---:|---:|
| ember | $(colmed "$work/f.m" 1) | $(colmed "$work/f.m" 2) | $(colmed "$work/f.m" 3) | $(colmed "$work/f.m" 4) | $(colmed "$work/f.m" 5) |
| aiohttp, no retries (one run) | — | $ad | $aok | 1000 | 0 (failures returned as status 0) |
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi
