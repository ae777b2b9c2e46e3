#!/usr/bin/env bash
# Saves killed at random moments (tests/io/save_victim.c saves 200,000 lines in
# 64 partitions, over and over, alternately plain and gzip): after kill -9 at
# any moment, inside the job commit too, the output directory holds the whole
# output with _SUCCESS or does not exist, nothing else is visible beside it but
# the hidden staging directory, and the next save succeeds and clears it. After
# SIGINT (ember_cancel) nothing is left at all. A directory that an unfinished
# commit left (part files and _temporary, no _SUCCESS) is refused by readers,
# naming it, unless asked.
set -euo pipefail
victim=$1
read_lines=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
out="$tmp/out"
n=200000
complete() { # the output is whole: _SUCCESS and n lines
  [ -f "$out/_SUCCESS" ] || return 1
  local lines
  lines=$("$read_lines" "$out") || return 1
  [ "$lines" = "$n" ]
}
for round in $(seq 25); do
  "$victim" "$out" $n 64 1000 2>/dev/null &
  pid=$!
  # a random moment: 0 to 0.6 s in (a save takes ~0.05-0.2 s here)
  sleep "0.$(printf '%03d' $((RANDOM % 600)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -e "$out" ]; then
    complete || fail "round $round: a visible output that is not whole: $(ls -A "$out" | head)"
  fi
  others=$(ls -A "$tmp" | grep -v '^out$' | grep -v '^\.out\.ember-staging-' || true)
  [ -z "$others" ] || fail "round $round: left beside the output: $others"
done
# the next save succeeds and clears the stagings of killed saves
"$victim" "$out" $n 64 1 || fail "a save after the kills failed"
complete || fail "the save after the kills is not whole"
[ -z "$(ls -A "$tmp" | grep '^\.out\.ember-staging-' || true)" ] || fail "staging left: $(ls -A "$tmp")"

# SIGINT: the save is cancelled and leaves nothing
rm -rf "$out"
"$victim" "$out" $n 64 100000 2>"$tmp/err" &
pid=$!
sleep 0.3
kill -INT "$pid"
set +e
wait "$pid"
st=$?
set -e
[ "$st" = 130 ] || fail "SIGINT: exit $st: $(cat "$tmp/err")"
grep -q "save_as_text_file cancelled" "$tmp/err" || fail "cancel message: $(cat "$tmp/err")"
# the cancelled save left nothing; the output of the saves before it is whole
if [ -e "$out" ]; then complete || fail "the output after a cancelled save is not whole"; fi
[ -z "$(ls -A "$tmp" | grep ember-staging || true)" ] || fail "a cancelled save left its staging"

# an unfinished commit (another tool's, or an older ember's): refused, unless asked
mkdir -p "$tmp/half/_temporary"
echo "a line" >"$tmp/half/part-00000"
if "$read_lines" "$tmp/half" 2>"$tmp/err"; then fail "an unfinished commit was read"; fi
grep -q "half holds part files and _temporary but no _SUCCESS" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(EMBER_READ_UNFINISHED=1 "$read_lines" "$tmp/half")" = 1 ] || fail "EMBER_READ_UNFINISHED=1 did not read it"
echo ok
