#!/usr/bin/env bash
# `ember http` and examples/cat_api against a local nginx (scripts/nginx_local.sh,
# 127.0.0.1 only, stopped on exit): answers in input order, one per line; exit
# status 1 with a summary when a request failed; DIR/ output; bad usage.
set -euo pipefail
ember=$1
cat_api=$2
src=$3
tmp=$(mktemp -d)
trap '"$src/scripts/nginx_local.sh" stop "$tmp/nginx" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
port=$("$src/scripts/nginx_local.sh" start "$tmp/nginx")
base="http://127.0.0.1:$port"

# 200 requests that all succeed, over 3 threads, in input order; blank lines skipped
for i in $(seq 200); do echo "$base/delay/$i"; [ $((i % 50)) = 0 ] && echo; done >"$tmp/urls"
"$ember" http --in "$tmp/urls" --out "$tmp/out.jsonl" --concurrency 100 --master 'local[3]' \
  || fail "all-ok run exited $?"
[ "$(wc -l <"$tmp/out.jsonl")" = 200 ] || fail "expected 200 lines"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  case "$line" in
  *"\"url\":\"$base/delay/$n\",\"status\":200,\"ok\":true,\"attempts\":1,"*"\"body\":\"ok /delay/$n\\n\",\"error\":null}") ;;
  *) fail "line $n: $line" ;;
  esac
done <"$tmp/out.jsonl"
# the answers went through a scratch directory beside the output: none is left
[ -z "$(ls -A "$tmp" | grep '^\.ember-http-')" ] || fail "scratch left: $(ls -A "$tmp")"
# the input's line numbers are kept (line 51 is blank)
head -1 "$tmp/out.jsonl" | grep -q '^{"line":1,' || fail "first line number"
sed -n 51p "$tmp/out.jsonl" | grep -q '^{"line":52,"url":"[^"]*/delay/51"' || fail "line numbers skip blanks"

# from standard input, to standard output; a JSON request; failures named
{
  echo "$base/ok/1"
  echo "{\"method\":\"POST\",\"url\":\"$base/ok/2\",\"body\":{\"a\":1}}"
  echo "not a url"
  echo "http://127.0.0.1:1/refused"
} >"$tmp/mixed"
mkdir "$tmp/scratch"
set +e
TMPDIR="$tmp/scratch" "$ember" http --retries 1 --timeout 2s <"$tmp/mixed" >"$tmp/mixed.out" 2>"$tmp/err"
status=$?
set -e
[ -z "$(ls -A "$tmp/scratch")" ] || fail "scratch left in TMPDIR: $(ls -A "$tmp/scratch")"
[ "$status" = 1 ] || fail "a failed request should exit 1, got $status"
grep -q "ember http: 2 of 4 requests failed" "$tmp/err" || fail "summary: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/mixed.out")" = 4 ] || fail "expected 4 answers"
sed -n 2p "$tmp/mixed.out" | grep -q '"status":200' || fail "POST answer"
sed -n 3p "$tmp/mixed.out" | grep -q '"attempts":0,.*"error":"record [0-9]* of partition [0-9]*: not a URL' || fail "bad line: $(sed -n 3p "$tmp/mixed.out")"
sed -n 4p "$tmp/mixed.out" | grep -q '"status":0,"ok":false,"attempts":2,.*"error":"Couldn' || fail "refused: $(sed -n 4p "$tmp/mixed.out")"

# a directory output: part files and _SUCCESS
"$ember" http --in "$tmp/urls" --out "$tmp/dir/" --master 'local[2]' || fail "dir run"
[ -f "$tmp/dir/_SUCCESS" ] || fail "no _SUCCESS"
[ "$(cat "$tmp"/dir/part-* | wc -l)" = 200 ] || fail "part files hold 200 lines"

# bad usage: status 2 and a message
if "$ember" http --rate fast </dev/null 2>"$tmp/err"; then fail "bad --rate accepted"; fi
grep -q "bad value for --rate: 'fast'" "$tmp/err" || fail "bad --rate message"
if "$ember" http --in "$tmp/urls" --out "$tmp/no/such/dir/out.jsonl" 2>"$tmp/err"; then
  fail "an output in a missing directory was accepted"
fi
grep -q "cannot write $tmp/no/such/dir/out.jsonl: No such file or directory" "$tmp/err" \
  || fail "missing output directory message: $(cat "$tmp/err")"
if "$ember" http --frobnicate 1 </dev/null 2>"$tmp/err"; then fail "unknown option accepted"; fi
grep -q "unknown option --frobnicate" "$tmp/err" || fail "unknown option message"
"$ember" http --help | grep -q -- "--concurrency N" || fail "--help"

# TLS: HTTP/2 multiplexing when the server offers it (few connections for many
# requests), verification on by default, a CA file to trust
tport=$(cat "$tmp/nginx/tls_port")
for i in $(seq 60); do echo "https://127.0.0.1:$tport/proto/$i"; done >"$tmp/tls"
"$ember" http --in "$tmp/tls" --out "$tmp/tls.out" --cacert "$src/tests/data/tls/cert.pem" \
  --master 'local[2]' || fail "TLS with --cacert"
[ "$(grep -c '"body":"HTTP/2.0 [0-9]*\\n"' "$tmp/tls.out")" = 60 ] || fail "not HTTP/2: $(head -1 "$tmp/tls.out")"
conns=$(grep -o '"body":"HTTP/2.0 [0-9]*' "$tmp/tls.out" | sort -u | wc -l)
[ "$conns" -le 2 ] || fail "60 requests used $conns connections (multiplexing expected)"
if "$ember" http --in "$tmp/tls" --out "$tmp/tls.out" 2>"$tmp/err"; then fail "self-signed accepted"; fi
grep -q '"error":"SSL peer certificate' "$tmp/tls.out" || grep -q '"error":"[^"]*certificate' "$tmp/tls.out" \
  || fail "no certificate error: $(head -1 "$tmp/tls.out")"
"$ember" http --in "$tmp/tls" --out "$tmp/tls.out" --insecure || fail "--insecure"

# under MPI every rank runs the command and sends its share; rank 0 writes the one
# output, in input order, and the summary once (in the release build, as every
# MPI suite: LeakSanitizer reports Open MPI's own allocations as leaks)
if command -v mpirun >/dev/null && [ -z "${EMBER_SANITIZED:-}" ]; then
  mpi=(mpirun --oversubscribe -n 2)
  [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
  { head -100 "$tmp/urls"; echo "http://127.0.0.1:1/refused"; } >"$tmp/mpi_urls"
  set +e
  "${mpi[@]}" "$ember" http --in "$tmp/mpi_urls" --out "$tmp/mpi.jsonl" --master 'mpi[1]' \
    --retries 0 2>"$tmp/mpi_err"
  status=$?
  set -e
  [ "$status" = 1 ] || fail "MPI run with one refused request exited $status: $(cat "$tmp/mpi_err")"
  [ "$(grep -c 'requests failed' "$tmp/mpi_err")" = 1 ] || fail "MPI summary: $(cat "$tmp/mpi_err")"
  [ "$(wc -l <"$tmp/mpi.jsonl")" = "$(grep -c . "$tmp/mpi_urls")" ] || fail "MPI run wrote $(wc -l <"$tmp/mpi.jsonl") lines"
  diff <(grep -o '"url":"[^"]*"' "$tmp/mpi.jsonl" | sed 's/"url":"//; s/"$//') \
    <(grep -v '^$' "$tmp/mpi_urls") >/dev/null || fail "MPI answers out of input order"
  # a failure on one rank alone before the job (rank 1 cannot create its
  # journal; rank 0 can): every rank stops with rank 1's message, no rank is
  # left waiting in a collective the other never calls
  ln -s "$tmp/no/such/dir/j" "$tmp/mpi.jsonl.journal.rank-1"
  rm -f "$tmp/mpi.jsonl" "$tmp/mpi.jsonl.journal"
  set +e
  timeout 120 "${mpi[@]}" "$ember" http --in "$tmp/mpi_urls" --out "$tmp/mpi.jsonl" --master 'mpi[1]' \
    --retries 0 2>"$tmp/mpi_err"
  status=$?
  set -e
  [ "$status" = 2 ] || fail "MPI run with rank 1's journal missing exited $status: $(cat "$tmp/mpi_err")"
  grep -q "cannot open the journal $tmp/mpi.jsonl.journal.rank-1: No such file or directory (on rank 1)" \
    "$tmp/mpi_err" || fail "rank 1's failure not named: $(cat "$tmp/mpi_err")"
  [ ! -e "$tmp/mpi.jsonl" ] || fail "a failed MPI run wrote its output"
fi

# the cat example: 100 answers plucked to JSON lines
msg=$(CAT_API_KEY=live-key-42 "$cat_api" "$base/cats/search" 100 "$tmp/cats")
[ "$msg" = "saved 100 cats to $tmp/cats: 100 answered, 0 failed (100 sent, 0 retried, 0 throttled)" ] \
  || fail "cat_api said: $msg"
[ "$(cat "$tmp"/cats/part-* | wc -l)" = 100 ] || fail "cat_api lines"
cat "$tmp"/cats/part-* | grep -vq '^{"id":"[0-9a-f]*","url":"https://cdn.example/[0-9a-f]*.jpg","width":1204,"height":1445,"breeds":\["Abyssinian","Bengal"\]}$' \
  && fail "a cat line is malformed: $(head -1 "$tmp"/cats/part-*)"
# the API key reached the server with every request (nginx logged each one's header)
[ "$(grep -c ' key=live-key-42$' "$tmp/nginx/cats.log")" = 100 ] \
  || fail "CAT_API_KEY did not arrive: $(head -3 "$tmp/nginx/cats.log")"
echo "ok"
