#!/usr/bin/env bash
# `ember db load` and `ember db query` against a private PostgreSQL and an
# SQLite file; `ember http --out postgresql://...?table=T` and
# examples/cat_api_db against a local nginx; the rows checked with psql and
# sqlite3 themselves.
#   db.sh EMBER_BINARY CAT_API_DB_BINARY SOURCE_DIR
set -euo pipefail
ember=$1
cat_api_db=$2
src=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-cli-db-XXXXXX")
pg=$(mktemp -d "${TMPDIR:-/tmp}/ember-cli-pg-XXXXXX") # its own: the server runs as nobody
trap '"$src/scripts/nginx_local.sh" stop "$tmp/nginx" >/dev/null 2>&1 || true
      "$here/../db/pg_server.sh" stop "$pg"; rm -rf "$tmp"' EXIT
url=$("$here/../db/pg_server.sh" start "$pg" $$) || exit $?
fail() { echo "FAIL: $*" >&2; exit 1; }
psql() { command psql "$url" -qAtX "$@"; }
psql -c "CREATE TABLE t (id int PRIMARY KEY, name text, n float8)"
printf 'name,id\n"a, quoted ""x""",1\nb,2\n' >"$tmp/rows.csv"
printf '{"id": 3, "name": "ü", "n": 1.5}\n{"id": 4, "name": null, "n": 2}\n' >"$tmp/rows.jsonl"

"$ember" db load "$url" t "$tmp/rows.csv" "$tmp/rows.jsonl" --mode insert 2>"$tmp/err" ||
  fail "load: $(cat "$tmp/err")"
grep -q "4 rows into t" "$tmp/err" || fail "load summary: $(cat "$tmp/err")"
q="SELECT string_agg(id || ':' || coalesce(name, '-') || ':' || coalesce(n::text, '-'), ' ' ORDER BY id) FROM t"
[ "$(psql -c "$q")" = '1:a, quoted "x":- 2:b:- 3:ü:1.5 4:-:2' ] || fail "rows: $(psql -c 'TABLE t')"

# upsert by key; copy of the same rows again is refused by the key, named
printf '{"id": 2, "name": "B"}\n' >"$tmp/up.jsonl"
"$ember" db load "$url" t "$tmp/up.jsonl" --mode upsert --conflict id 2>/dev/null || fail upsert
[ "$(psql -c 'SELECT name FROM t WHERE id = 2')" = B ] || fail "upsert did not update"
if "$ember" db load "$url" t "$tmp/rows.jsonl" 2>"$tmp/err"; then fail "duplicate accepted"; fi
grep -q "record 1: duplicate key" "$tmp/err" || fail "duplicate: $(cat "$tmp/err")"
[ "$(psql -c 'SELECT count(*) FROM t')" = 4 ] || fail "a failed load left rows"

# query: JSON lines, in ranges of a column
"$ember" db query "$url" "SELECT id, name FROM t" --column id --parts 3 | sort >"$tmp/q"
[ "$(wc -l <"$tmp/q")" = 4 ] || fail "query: $(cat "$tmp/q")"
grep -qx '{"id":3,"name":"ü"}' "$tmp/q" || fail "query row: $(cat "$tmp/q")"
[ "$("$ember" db query "$url" "SELECT name FROM t WHERE id = 1" --csv)" = '"a, quoted ""x"""' ] ||
  fail "query --csv"

# a refused connection: named, nothing run
if "$ember" db query "postgresql://ember@127.0.0.1:1/x" t 2>"$tmp/err"; then fail "refused ok"; fi
grep -q "cannot connect to PostgreSQL" "$tmp/err" || fail "refused: $(cat "$tmp/err")"

# ember http into a table: the answers' fields that are columns, one row a request
port=$("$src/scripts/nginx_local.sh" start "$tmp/nginx")
base="http://127.0.0.1:$port"
psql -c "CREATE TABLE answers (line int PRIMARY KEY, url text, status int, ok boolean, body text)"
for i in $(seq 300); do echo "$base/ok/$i"; done >"$tmp/urls"
"$ember" http --in "$tmp/urls" --out "$url?table=answers" --concurrency 64 --master 'local[2]' \
  2>"$tmp/err" || fail "http --out db: $(cat "$tmp/err")"
[ "$(psql -c 'SELECT count(*), count(DISTINCT url), sum(line), bool_and(ok) FROM answers')" = \
  "300|300|45150|t" ] || fail "answers: $(psql -c 'SELECT * FROM answers LIMIT 3')"
[ "$(psql -c "SELECT status || ' ' || url FROM answers WHERE line = 7")" = "200 $base/ok/7" ] ||
  fail "answer 7"
if "$ember" http --in "$tmp/urls" --out "$url" 2>"$tmp/err"; then fail "no table accepted"; fi
grep -q "names no table" "$tmp/err" || fail "no table: $(cat "$tmp/err")"

# the example: calls, pluck, rows by id (the API key reaches the server)
psql -c "CREATE TABLE cats (id text PRIMARY KEY, url text, width int, height int, breeds jsonb)"
(cd "$tmp" && CAT_API_KEY=db-key-7 "$cat_api_db" "$base/cats/search" "$url" 50) >"$tmp/msg" 2>&1 ||
  fail "cat_api_db: $(cat "$tmp/msg")"
grep -q "wrote 50 cats" "$tmp/msg" || fail "cat_api_db said: $(cat "$tmp/msg")"
[ "$(psql -c "SELECT count(*), min(width), max(breeds->>1) FROM cats")" = "50|1204|Bengal" ] ||
  fail "cats: $(psql -c 'SELECT * FROM cats LIMIT 2')"
[ "$(grep -c ' key=db-key-7$' "$tmp/nginx/cats.log")" = 50 ] || fail "the key did not arrive"

# SQLite
sqlite3 "$tmp/s.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n REAL)"
"$ember" db load "sqlite:$tmp/s.db" t "$tmp/rows.csv" "$tmp/rows.jsonl" 2>/dev/null || fail "sqlite load"
[ "$(sqlite3 "$tmp/s.db" 'SELECT count(*) || group_concat(name, "|") FROM t')" = '4a, quoted "x"|b|ü' ] ||
  fail "sqlite rows: $(sqlite3 "$tmp/s.db" 'SELECT * FROM t')"
[ "$("$ember" db query "sqlite:$tmp/s.db" t | wc -l)" = 4 ] || fail "sqlite query"
echo "cli/db: ok"
