#!/usr/bin/env bash
# examples/grep.c and examples/csv_ingest.c on files made here.
set -euo pipefail
grep_bin=$1
ingest=$2
wordcount=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir "$tmp/logs"
printf 'ok one\nERROR disk full\nok two\n' >"$tmp/logs/a.log"
printf 'ERROR again\nfine\n' | gzip >"$tmp/logs/b.log.gz"
out=$("$grep_bin" ERROR "$tmp/logs")
[ "$out" = $'ERROR disk full\nERROR again' ] || fail "grep printed: $out"
if "$grep_bin" NOTHERE "$tmp/logs" >/dev/null; then fail "grep found what is not there"; fi

mkdir "$tmp/csv"
printf 'id,name\n1,Ada\n2,"Lovelace, A."\n' >"$tmp/csv/p1.csv"
printf 'id,name\n3,"say ""hi"""\n4\n' >"$tmp/csv/p2.csv"
msg=$("$ingest" "$tmp/csv" "$tmp/out")
[ "$msg" = "wrote 3 rows to $tmp/out; skipped 1 bad rows" ] || fail "csv_ingest said: $msg"
[ -f "$tmp/out/_SUCCESS" ] || fail "no _SUCCESS"
got=$(cat "$tmp"/out/part-*)
want=$'{"id":"1","name":"Ada"}\n{"id":"2","name":"Lovelace, A."}\n{"id":"3","name":"say \\"hi\\""}'
[ "$got" = "$want" ] || fail "csv_ingest wrote: $got"
mkdir "$tmp/text"
printf 'the cat and the dog\nthe end\n' >"$tmp/text/a.txt"
printf 'a dog\tthe  dog\n' | gzip >"$tmp/text/b.txt.gz"
got=$("$wordcount" "$tmp/text" | head -2)
[ "$got" = $'       4 the\n       3 dog' ] || fail "wordcount printed: $got"
echo "examples/files: all passed"
