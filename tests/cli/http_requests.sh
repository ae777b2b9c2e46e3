#!/usr/bin/env bash
# `ember http` against the scripted server (tests/cli/server.c, 127.0.0.1, stopped
# on exit), checking what the server received and what is on disk: headers and
# bodies as sent, --url templates, streaming, SIGINT/SIGTERM and kill -9 with the
# journal and a resume, outputs that are not plain files, bad usage and input.
set -euo pipefail
ember=$1
server=$2
tmp=$(mktemp -d)
spid=
cleanup() {
  if [ -n "$spid" ]; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
log="$tmp/server.log"
"$server" "$tmp/port" "$log" &
spid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || fail "the server did not start"
base="http://127.0.0.1:$(cat "$tmp/port")"
# the requests the server got for paths starting with $1
got() { grep -c " $1" "$log" || true; }
# wait (bounded) until the server has logged at least $2 requests for $1
wait_for() { for _ in $(seq 600); do [ "$(got "$1")" -ge "$2" ] && return 0; sleep 0.05; done; fail "waited for $2 requests to $1"; }

# ---- requests as written: headers, methods, bodies (checked at the server)
{
  echo "$base/record/plain"
  echo "{\"method\":\"POST\",\"url\":\"$base/record/json\",\"headers\":{\"X-Api-Key\":\"own\"},\"body\":{\"a\":1}}"
} >"$tmp/req"
"$ember" http --in "$tmp/req" --header 'X-Api-Key: k1' --header 'Accept: application/json' \
  --master 'local[2]' >"$tmp/out" 2>"$tmp/err" || fail "headers run: $(cat "$tmp/err")"
line=$(grep "^GET /record/plain " "$log") || fail "plain GET not received"
case "$line" in *"|X-Api-Key: k1|"*) ;; *) fail "--header not received: $line" ;; esac
case "$line" in *"|Accept: application/json|"*) ;; *) fail "second --header not received: $line" ;; esac
case "$line" in *Content-Length*|*Content-Type*) fail "a bare GET carried body headers: $line" ;; esac
line=$(grep "^POST /record/json " "$log") || fail "JSON POST not received"
case "$line" in *"|X-Api-Key: own|"*) ;; *) fail "the line's own header lost: $line" ;; esac
case "$line" in *"X-Api-Key: k1"*) fail "the --header won over the line's own: $line" ;; esac
case "$line" in *"|Content-Type: application/json|"*" body={\"a\":1}") ;; *) fail "JSON body: $line" ;; esac
grep -q "done: 2 of 2 answered" "$tmp/err" || fail "no summary on success: $(cat "$tmp/err")"
echo "$base/record/post" | "$ember" http --method POST --header 'X-Api-Key: k2' >/dev/null 2>&1
line=$(grep "^POST /record/post " "$log") || fail "bare POST not received"
case "$line" in *"|Content-Length: 0|"*) ;; *) fail "bare POST without an empty body: $line" ;; esac
case "$line" in *"|X-Api-Key: k2|"*) ;; *) fail "bare POST without its header: $line" ;; esac
case "$line" in *Content-Type*) fail "a bare POST carried a form Content-Type: $line" ;; esac

# ---- --url: the line URL-encoded into {}, or a JSON line's field into {field}
printf 'a b/c\n42\n' | "$ember" http --url "$base/record/t-{}" >"$tmp/out" 2>/dev/null \
  || fail "--url {} run"
grep -q "^GET /record/t-a%20b%2Fc " "$log" || fail "{} not URL-encoded: $(grep t- "$log")"
grep -q "^GET /record/t-42 " "$log" || fail "{} with 42"
printf '{"id":"x 1","n":7}\n{"n":8}\n' >"$tmp/jl"
set +e
"$ember" http --url "$base/record/f-{id}-{n}" --in "$tmp/jl" >"$tmp/out" 2>/dev/null
st=$?
set -e
[ "$st" = 1 ] || fail "a line without the field should fail its request (status $st)"
grep -q "^GET /record/f-x%201-7 " "$log" || fail "{field}: $(grep f- "$log")"
sed -n 2p "$tmp/out" | grep -q '"error":"[^"]*--url has {id} but the line has no such field' \
  || fail "missing field message: $(sed -n 2p "$tmp/out")"

# ---- --body-json: a JSON answer embedded as a value; other bodies stay strings
echo "$base/record/bj" | "$ember" http --body-json >"$tmp/out" 2>/dev/null
grep -q '"body":"recorded bj"' "$tmp/out" || fail "a text body is a string: $(cat "$tmp/out")"

# ---- streaming: the first line reaches a pipe while requests are still to come
for i in $(seq 20); do echo "$base/record/s$i?delay_ms=200"; done >"$tmp/stream"
"$ember" http --in "$tmp/stream" --concurrency 2 --master 'local[1]' 2>/dev/null \
  | { read -r first; got /record/s >"$tmp/at_first"; cat >/dev/null; echo "$first" >"$tmp/first"; }
grep -q '"line":1,' "$tmp/first" || fail "first streamed line: $(cat "$tmp/first")"
[ "$(cat "$tmp/at_first")" -lt 20 ] || fail "stdout was not streamed: all 20 requests were sent before the first line"

# ---- SIGINT: exit 130, no output file, no scratch, the journal kept; a rerun
# sends only the rest, and the server sees each request once
mkdir "$tmp/run"
for i in $(seq 60); do echo "$base/record/i$i?delay_ms=100"; done >"$tmp/run/urls"
"$ember" http --in "$tmp/run/urls" --out "$tmp/run/out.jsonl" --concurrency 4 \
  --master 'local[2]' 2>"$tmp/err" &
pid=$!
wait_for /record/i 10
kill -INT "$pid"
set +e
wait "$pid"
st=$?
set -e
[ "$st" = 130 ] || fail "SIGINT: exit $st, expected 130: $(cat "$tmp/err")"
[ ! -e "$tmp/run/out.jsonl" ] || fail "an interrupted run left an output file"
[ "$(ls -A "$tmp/run" | sort | tr '\n' ' ')" = "out.jsonl.journal urls " ] \
  || fail "left behind: $(ls -A "$tmp/run")"
grep -q "interrupted by SIGINT: [0-9]* of 60 answered" "$tmp/err" || fail "summary: $(cat "$tmp/err")"
grep -q "run the same command again" "$tmp/err" || fail "resume hint: $(cat "$tmp/err")"
sent1=$(got /record/i)
[ "$sent1" -lt 60 ] || fail "SIGINT did not stop the requests ($sent1 sent)"
"$ember" http --in "$tmp/run/urls" --out "$tmp/run/out.jsonl" --concurrency 4 \
  --master 'local[3]' 2>"$tmp/err" || fail "resume: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/run/out.jsonl")" = 60 ] || fail "resumed output has $(wc -l <"$tmp/run/out.jsonl") lines"
for i in $(seq 60); do
  sed -n "${i}p" "$tmp/run/out.jsonl" | grep -q "^{\"line\":$i,.*\"body\":\"recorded i$i\"" \
    || fail "resumed line $i: $(sed -n "${i}p" "$tmp/run/out.jsonl")"
  [ "$(grep -c "^GET /record/i$i?" "$log")" = 1 ] || fail "request i$i sent $(grep -c "^GET /record/i$i?" "$log") times"
done
grep -q "[1-9][0-9]* from the journal" "$tmp/err" || fail "resume summary: $(cat "$tmp/err")"
[ ! -e "$tmp/run/out.jsonl.journal" ] || fail "the journal outlived the committed output"

# SIGTERM: 143
"$ember" http --in "$tmp/run/urls" --out "$tmp/run/out2.jsonl" --concurrency 2 --no-journal \
  --master 'local[1]' 2>"$tmp/err" &
pid=$!
wait_for /record/i 64
kill -TERM "$pid"
set +e
wait "$pid"
st=$?
set -e
[ "$st" = 143 ] || fail "SIGTERM: exit $st, expected 143"
[ "$(ls -A "$tmp/run" | sort | tr '\n' ' ')" = "out.jsonl urls " ] || fail "SIGTERM left: $(ls -A "$tmp/run")"

# ---- kill -9 at a random moment, then a resume: every input answered once, and
# requests sent in all at most the inputs, the window in flight at the kill and
# one journal flush interval's answers
mkdir "$tmp/k9"
for i in $(seq 200); do echo "$base/record/k$i?delay_ms=20"; done >"$tmp/k9/urls"
"$ember" http --in "$tmp/k9/urls" --out "$tmp/k9/out.jsonl" --concurrency 8 \
  --master 'local[2]' 2>/dev/null &
pid=$!
wait_for /record/k $((20 + RANDOM % 100))
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ ! -e "$tmp/k9/out.jsonl" ] || fail "kill -9 left an output file"
[ "$(ls -A "$tmp/k9" | sort | tr '\n' ' ')" = "out.jsonl.journal urls " ] \
  || fail "kill -9 left: $(ls -A "$tmp/k9")"
"$ember" http --in "$tmp/k9/urls" --out "$tmp/k9/out.jsonl" --concurrency 8 2>"$tmp/err" \
  || fail "resume after kill -9: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/k9/out.jsonl")" = 200 ] || fail "after kill -9: $(wc -l <"$tmp/k9/out.jsonl") lines"
for i in $(seq 200); do
  sed -n "${i}p" "$tmp/k9/out.jsonl" | grep -q "^{\"line\":$i,.*\"body\":\"recorded k$i\"" \
    || fail "after kill -9, line $i: $(sed -n "${i}p" "$tmp/k9/out.jsonl")"
done
# the journal is written at least every 100 ms: at most the 8 in flight and the
# answers of one such interval (8 every 20 ms: 40, with a margin) are sent again
total=$(got /record/k)
[ "$total" -le 260 ] || fail "$total requests sent for 200 inputs with 8 in flight at the kill"

# ---- a journal of another input is refused, and says why
for i in $(seq 3); do echo "$base/record/j$i"; done >"$tmp/j1"
echo "$base/record/j9" >"$tmp/j2"
"$ember" http --in "$tmp/j1" --journal "$tmp/jj" --keep-journal >/dev/null 2>&1 || fail "journal run"
[ -f "$tmp/jj" ] || fail "--keep-journal did not keep it"
if "$ember" http --in "$tmp/j2" --journal "$tmp/jj" >/dev/null 2>"$tmp/err"; then fail "another input's journal accepted"; fi
grep -q "was written by another job" "$tmp/err" || fail "refusal message: $(cat "$tmp/err")"
[ "$(got /record/j9)" = 0 ] || fail "a refused run sent a request"
if "$ember" http --in "$tmp/j1" --journal "$tmp/jj" --header 'X-New: 1' >/dev/null 2>"$tmp/err"; then
  fail "a journal of other options accepted"
fi
grep -q "other request options" "$tmp/err" || fail "options refusal: $(cat "$tmp/err")"
# --retry-failed sends again what failed, and only that
printf '%s\n' "$base/status/500" "$base/record/rf" >"$tmp/rf"
"$ember" http --in "$tmp/rf" --retries 0 --journal "$tmp/rfj" --keep-journal >/dev/null 2>&1 || true
"$ember" http --in "$tmp/rf" --retries 0 --journal "$tmp/rfj" --keep-journal --retry-failed >/dev/null 2>&1 || true
[ "$(got /status/500)" = 2 ] || fail "--retry-failed: /status/500 sent $(got /status/500) times"
[ "$(got /record/rf)" = 1 ] || fail "--retry-failed resent a success"

# ---- outputs that are not plain files are written through, never replaced
echo "$base/record/dn" | "$ember" http --out /dev/null 2>/dev/null || fail "--out /dev/null"
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
mkfifo "$tmp/fifo"
cat "$tmp/fifo" >"$tmp/from_fifo" &
cpid=$!
echo "$base/record/ff" | "$ember" http --out "$tmp/fifo" 2>/dev/null || fail "--out FIFO"
wait "$cpid"
[ -p "$tmp/fifo" ] || fail "the FIFO was replaced"
grep -q '"body":"recorded ff"' "$tmp/from_fifo" || fail "nothing came through the FIFO"
ln -s /dev/null "$tmp/null_link"
echo "$base/record/nl" | "$ember" http --out "$tmp/null_link" 2>/dev/null || fail "--out link to /dev/null"
[ -L "$tmp/null_link" ] && [ -c /dev/null ] || fail "the link or /dev/null was replaced"
echo "$base/record/so" | "$ember" http --out /dev/stdout 2>/dev/null >"$tmp/so" || fail "--out /dev/stdout"
grep -q '"body":"recorded so"' "$tmp/so" || fail "--out /dev/stdout wrote nothing"
# an empty input leaves an existing output as it was
echo keep >"$tmp/kept.jsonl"
printf '\n\n' | "$ember" http --out "$tmp/kept.jsonl" 2>"$tmp/err" || fail "empty input: exit $?"
[ "$(cat "$tmp/kept.jsonl")" = keep ] || fail "an empty input replaced the output"
grep -q "no requests in the standard input" "$tmp/err" || fail "empty input message"

# ---- bad usage: exit 2 and a message, before any request
before=$(wc -l <"$log")
bad() { # expected message, then the arguments
  local want=$1
  shift
  if echo "$base/record/never" | "$ember" http "$@" >/dev/null 2>"$tmp/err"; then fail "accepted: $*"; fi
  grep -q -- "$want" "$tmp/err" || fail "for $*: expected '$want', got: $(cat "$tmp/err")"
}
bad "bad value for --concurrency: '0'" --concurrency 0
bad "bad value for --concurrency: '-5'" --concurrency -5
bad "bad value for --concurrency: '99999999999'" --concurrency 99999999999
bad "bad value for --rate: '0' (expected more than 0" --rate 0
bad "bad value for --rate: '5/day' (expected N/s, N/min or N/h" --rate 5/day
bad "bad value for --timeout: '0' (expected more than 0" --timeout 0
bad "bad value for --header: 'X-Api-Key k1'" --header 'X-Api-Key k1'
bad "unknown option --frobnicate" --frobnicate
bad "unknown option -x" -x
bad "local\[N,F\]" --master bogus
bad "a value is needed after --rate" --rate
bad "bad value for --timeout: 'inf'" --timeout inf
bad "bad value for --timeout: '1e300'" --timeout 1e300
bad "bad value for --rate: '1e-300'" --rate 1e-300
bad "bad value for --concurrency: '1048576'" --concurrency 1048576
bad "bad value for --out: ''" --out ""
bad "bad value for --max-time: '0'" --max-time 0
bad "bad value for --memory: 'lots'" --memory lots
bad "bad value for --max-retry-after: '-1'" --max-retry-after -1
[ "$(wc -l <"$log")" = "$before" ] || fail "bad usage sent a request"
"$ember" help | grep -q "ember http" || fail "ember help"
"$ember" help http | grep -q -- "--journal FILE" || fail "ember help http"

# ---- a hostile server: a Retry-After of ten years is cut to --max-retry-after;
# a server that never stops throttling ends in an error line by --max-time; gzip
# bombs under a response budget smaller than one of them all arrive (each waits
# its turn; the head never waits)
printf '%s\n' "$base/hostile/cli1?ra=315360000" "$base/hostile/cli2?ra=-5" >"$tmp/hostile"
"$ember" http --in "$tmp/hostile" --max-retry-after 1s --no-adapt >"$tmp/out" 2>"$tmp/err" \
  || fail "hostile Retry-After: $(cat "$tmp/err")"
[ "$(grep -c '"status":200' "$tmp/out")" = 2 ] || fail "hostile Retry-After answers: $(cat "$tmp/out")"
set +e
echo "$base/hostile/cli3?ra=100000&n=1000" | "$ember" http --max-time 1s >"$tmp/out" 2>/dev/null
st=$?
set -e
[ "$st" = 1 ] || fail "endless throttling: exit $st"
grep -q '"error":"total timeout' "$tmp/out" || fail "endless throttling: $(cat "$tmp/out")"
for i in $(seq 8); do echo "$base/bomb?bytes=8388608"; done >"$tmp/bombs"
"$ember" http --in "$tmp/bombs" --out "$tmp/bombs.out" --memory 1m --concurrency 8 \
  --master 'local[1]' 2>/dev/null || fail "bombs under --memory 1m"
[ "$(grep -c '"status":200' "$tmp/bombs.out")" = 8 ] || fail "bombs answered"

# ---- bad input: one error line each, the others answered, never a crash
{
  printf '%s\n' "$base/record/ok1"
  printf 'http://127.0.0.1:1/a b c\n'
  printf 'ftp://example.com/x\n'
  printf '\x00\x01\x02binary\xff\n'
  printf 'http://127.0.0.1/%s\n' "$(head -c 100000000 /dev/zero | tr '\0' a)"
  printf '%s\n' "$base/record/ok2"
} >"$tmp/badin"
set +e
"$ember" http --in "$tmp/badin" >"$tmp/out" 2>"$tmp/err"
st=$?
set -e
[ "$st" = 1 ] || fail "bad input lines: exit $st: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/out")" = 6 ] || fail "bad input: $(wc -l <"$tmp/out") lines"
sed -n 2p "$tmp/out" | grep -q '"error":"record [0-9]* of partition [0-9]*: not a URL' || fail "spaces: $(sed -n 2p "$tmp/out")"
sed -n 3p "$tmp/out" | grep -q '"error":"[^"]*not a URL' || fail "scheme: $(sed -n 3p "$tmp/out")"
sed -n 4p "$tmp/out" | grep -q '"error":"' || fail "binary line: $(sed -n 4p "$tmp/out")"
sed -n 5p "$tmp/out" | grep -q '"error":"[^"]*a URL of 100000017 bytes' || fail "long line: $(sed -n 5p "$tmp/out" | head -c 300)"
sed -n 6p "$tmp/out" | grep -q '"status":200' || fail "the line after them"
echo "ok"
