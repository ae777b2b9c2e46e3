#!/usr/bin/env bash
# HTTP benchmarks against a local nginx (scripts/nginx_local.sh), medians of RUNS:
#   fast       1,000 GETs answered after 350 ms: wall, CPU, peak RSS of `ember http`
#              beside ThreadPoolExecutor(16)+requests, aiohttp (semaphore and
#              connector limit 1,000) and curl --parallel --parallel-max 300
#   throttled  1,000 calls to nginx limit_req 120/min, burst 120: time, requests
#              sent per success, records lost (THROTTLE_RUNS runs, default RUNS;
#              each ~7.5 minutes; nginx restarted for each so its bucket is full)
#   faults     1,000 calls, 5% 500s, 2% closed connections, 2% slow bodies
#   adaptive   240 calls to nginx limit_req 2/s burst 2 (429 with Retry-After: 1), with
#              --rate 120/min --burst 120 and with no --rate at --concurrency 64: time,
#              429s after the first 10 s, requests per success (ADAPT_RUNS, default RUNS)
#   kill9      2,000 calls (50 ms each, 64 in flight) killed with SIGKILL at a random
#              moment, then run again: answers kept, requests sent in all
#   ab         the fast case for two builds, runs interleaved (OLD_BUILD: the third
#              argument), the floor in the same run
#   bench/run_http.sh [BUILD_DIR] [fast|throttled|faults|adaptive|kill9|all|ab OLD_BUILD]
#   (all: fast, faults, adaptive and kill9; throttled takes 37 minutes and runs alone)
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
start_nginx() { # a fresh nginx, with empty request logs
  "$root/scripts/nginx_local.sh" stop "$ngx" >/dev/null 2>&1 || true
  rm -f "$ngx"/*.log
  port=$("$root/scripts/nginx_local.sh" start "$ngx")
}
urls() { for i in $(seq 1000); do echo "http://127.0.0.1:$port/$1/$i"; done >"$work/$1.txt"; }
med='{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
# column K's median of the lines in FILE
colmed() { awk -v k="$2" '{print $k}' "$1" | sort -g | awk "$med"; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$what" = fast ] || [ "$what" = all ]; then
  start_nginx
  urls delay
  for p in $(seq 1000); do echo "url = \"http://127.0.0.1:$port/delay/$p\""; echo "output = /dev/null"; done >"$work/curl.cfg"
  : >"$work/ember.m"; : >"$work/threads.m"; : >"$work/aio.m"; : >"$work/curl.m"; : >"$work/floor.m"
  for _ in $(seq "$runs"); do
    "$py" "$here/http_peers.py" measure "$build/bench/http_floor" "$port" delay 1000 >>"$work/floor.m"
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

The floor: bench/http_floor.c, raw sockets on one epoll loop, a connection a request. ember
writes its journal (out.journal, the default beside a file output) and the JSON lines.
ember ÷ floor: wall $(ratio "$(colmed "$work/ember.m" 1)" "$(colmed "$work/floor.m" 1)")×, CPU $(ratio "$(colmed "$work/ember.m" 2)" "$(colmed "$work/floor.m" 2)")×.

| runner | wall, s | CPU, s | peak RSS, MB | wall ÷ ember's |
|---|---:|---:|---:|---:|
$(row "the floor: raw sockets on epoll (bench/http_floor.c)" "$work/floor.m")
$(row "ember http --concurrency 1000, local[2] (JSON lines written)" "$work/ember.m")
$(row "aiohttp, semaphore 1,000, connector limit 1,000 (python3-aiohttp)" "$work/aio.m")
$(row "curl --parallel --parallel-max 300" "$work/curl.m")
$(row "ThreadPoolExecutor(16) + requests" "$work/threads.m")
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi

if [ "$what" = throttled ]; then
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

# adaptive: from nginx's log ($msec $status), the run's 429s after its first 10 s and
# its answers after them
adapt_stats() { # LOG -> "answers_after_10s 429s_after_10s requests"
  awk 'NR == 1 {t0 = $1} {n++; if ($1 - t0 > 10) {a++; if ($2 == 429) b++}} END {printf "%d %d %d\n", a, b, n}' "$1"
}
if [ "$what" = adaptive ] || [ "$what" = all ]; then
  : >"$work/ad_rate.m"; : >"$work/ad_none.m"
  for _ in $(seq "${ADAPT_RUNS:-$runs}"); do
    for mode in rate none; do
      start_nginx
      for i in $(seq 240); do echo "http://127.0.0.1:$port/limited2/$i"; done >"$work/l2.txt"
      if [ $mode = rate ]; then set -- --rate 120/min --burst 120 --concurrency 1000; else set -- --concurrency 64; fi
      read -r wall _ < <("$py" "$here/http_peers.py" measure "$ember" http --in "$work/l2.txt" --out "$work/l2.out" --no-journal "$@" --master 'local[2]')
      read -r d ok sent lost < <("$py" "$here/http_peers.py" tally "$work/l2.txt" "$work/l2.out")
      read -r after t429 reqs < <(adapt_stats "$ngx/limited2.log")
      echo "$wall $(awk -v a="$after" -v b="$t429" 'BEGIN {printf "%.2f", a ? 100 * b / a : 0}') $(awk -v s="$reqs" -v o="$ok" 'BEGIN {printf "%.3f", o ? s / o : 0}') $lost $ok $t429 $reqs" >>"$work/ad_$mode.m"
      echo "adaptive $mode: $(tail -1 "$work/ad_$mode.m")" >&2
    done
  done
  arow() { echo "| $1 | $(colmed "$2" 1) | $(ratio "$(colmed "$2" 1)" 120) | $(colmed "$2" 2) | $(colmed "$2" 6) | $(colmed "$2" 3) | $(colmed "$2" 4) |"; }
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) HTTP adaptive rate: 240 calls, nginx limit_req 2/s burst 2, 429 with Retry-After: 1 — $cores cores, median of ${ADAPT_RUNS:-$runs} runs, code at $(code_rev)

The server allows 2 requests a second (nginx limit_req rate=2r/s burst=2 nodelay; beyond it
429 with Retry-After: 1), so 240 calls take at least 119 s. ember http, local[2], no journal.
429s after 10 s: the share of the answers after the run's first 10 s that were 429.

| ember http | seconds | ÷ 120 s | 429s after 10 s, % | 429s after 10 s | requests per success | lost |
|---|---:|---:|---:|---:|---:|---:|
$(arow "--rate 120/min --burst 120 --concurrency 1000" "$work/ad_rate.m")
$(arow "no --rate, --concurrency 64" "$work/ad_none.m")
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi

if [ "$what" = kill9 ] || [ "$what" = all ]; then
  : >"$work/k9.m"
  for _ in $(seq "$runs"); do
    start_nginx
    for i in $(seq 2000); do echo "http://127.0.0.1:$port/counted/$i"; done >"$work/c.txt"
    rm -f "$work/c.out" "$work/c.out.journal"
    "$ember" http --in "$work/c.txt" --out "$work/c.out" --concurrency 64 --master 'local[2]' 2>/dev/null &
    pid=$!
    # a random moment of the ~1.7 s run: after 100 to 1,800 requests
    at=$((100 + RANDOM % 1700))
    for _ in $(seq 1000); do [ "$(wc -l <"$ngx/counted.log")" -ge "$at" ] && break; sleep 0.005; done
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    before=$(wc -l <"$ngx/counted.log")
    "$ember" http --in "$work/c.txt" --out "$work/c.out" --concurrency 64 --master 'local[2]' 2>"$work/k9.err"
    read -r d ok sent lost < <("$py" "$here/http_peers.py" tally "$work/c.txt" "$work/c.out")
    total=$(wc -l <"$ngx/counted.log")
    uniq=$(awk '{print $3}' "$ngx/counted.log" | sort -u | wc -l)
    resumed=$(sed -n 's/.* \([0-9]*\) from the journal.*/\1/p' "$work/k9.err")
    echo "$before $resumed $total $((total - 2000)) $d $lost $uniq" >>"$work/k9.m"
    echo "kill9: killed after $before requests; $resumed answers from the journal; $total sent in all; $d delivered, $lost lost" >&2
  done
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) HTTP kill -9 and resume: 2,000 calls, 64 in flight — $cores cores, $runs runs, code at $(code_rev)

ember http --out FILE --concurrency 64, local[2], against nginx answering each call after
50 ms; killed with SIGKILL after a random 100 to 1,800 requests had reached the server, then
the same command run again (the journal, FILE.journal, is the default beside a file output).
Bound: 2,000 + the 64 in flight at the kill + the answers of one journal flush interval
(the journal is written at least every 100 ms: at 64 in flight and 50 ms an answer, about 128).

| run | requests before the kill | answers taken from the journal | requests sent in all | beyond 2,000 | delivered | lost | distinct URLs requested |
|---|---:|---:|---:|---:|---:|---:|---:|
$(awk '{printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", NR, $1, $2, $3, $4, $5, $6, $7}' "$work/k9.m")
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi

if [ "$what" = ab ]; then
  old=${3:?run_http.sh BUILD ab OLD_BUILD}
  start_nginx
  urls delay
  : >"$work/floor.m"; : >"$work/old.m"; : >"$work/new.m"
  for _ in $(seq "$runs"); do
    "$py" "$here/http_peers.py" measure "$build/bench/http_floor" "$port" delay 1000 >>"$work/floor.m"
    for b in old new; do
      e=$([ $b = old ] && echo "$old/ember" || echo "$ember")
      rm -f "$work/e.out"
      "$py" "$here/http_peers.py" measure "$e" http --in "$work/delay.txt" --out "$work/e.out" --concurrency 1000 --master 'local[2]' >>"$work/$b.m"
      read -r d ok _ lost < <("$py" "$here/http_peers.py" tally "$work/delay.txt" "$work/e.out")
      [ "$ok" = 1000 ] || echo "warning: $b answered $ok of 1000 ok ($lost lost)" >&2
    done
  done
  row() { echo "| $1 | $(colmed "$2" 1) | $(colmed "$2" 2) | $(colmed "$2" 3) | $(ratio "$(colmed "$2" 1)" "$(colmed "$work/floor.m" 1)") | $(ratio "$(colmed "$2" 2)" "$(colmed "$work/floor.m" 2)") |"; }
  table=$(cat <<TXT
## $(date -u +%Y-%m-%d) HTTP before and after: 1,000 GETs answered after 350 ms — $cores cores ($cpu), median of $runs interleaved runs, $old vs $(code_rev)

| runner | wall, s | CPU, s | peak RSS, MB | wall ÷ floor | CPU ÷ floor |
|---|---:|---:|---:|---:|---:|
$(row "the floor: raw sockets on epoll (bench/http_floor.c)" "$work/floor.m")
$(row "ember http before, local[2]" "$work/old.m")
$(row "ember http after, local[2]" "$work/new.m")
TXT
)
  echo "$table"
  printf '\n%s\n' "$table" >>"$here/RESULTS.md"
fi
