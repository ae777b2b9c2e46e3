#!/usr/bin/env bash
# Databases beside their own tools, interleaved, medians of RUNS (default 5), on
# a private PostgreSQL (tests/db/pg_server.sh: loopback, fsync off for every
# writer alike) and SQLite files:
#   1,000,000 rows of 5 columns: EMBER_DB_COPY at local[2] vs psql's \copy
#   the same rows: EMBER_DB_INSERT (pipelined) vs psycopg2's execute_batch, in one
#     transaction; and vs one INSERT a round trip (psycopg2), on the first 100,000
#     rows (a million round trips take minutes a run): compared in rows a second
#   1,000 statements of pg_sleep(0.05) through a window of 64 (map_concurrent,
#     a connection a thread) vs the floor 1,000 x 0.05 / 64 s
#   SQLite: the 1,000,000 rows vs the sqlite3 shell's .import
# Appends a table to bench/RESULTS.md.
#   bench/run_db.sh [BUILD]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
py=${PYTHON:-/usr/bin/python3}
runs=${RUNS:-5}
data=${EMBER_BENCH_DATA:-${TMPDIR:-/tmp}/ember-bench}
mkdir -p "$data"
big="$data/rows-1m.csv" small="$data/rows-100k.csv"
[ -s "$big" ] || awk 'BEGIN { for (i = 1; i <= 1000000; i++)
  printf "%d,name %d,user%d@example.com,%.3f,%s\n", i, i, i, i / 7, (i % 2 ? "true" : "false") }' >"$big"
head -100000 "$big" >"$small"
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/ember-bench-pg-XXXXXX")
trap '"$here/../tests/db/pg_server.sh" stop "$pgdir"' EXIT
url=$("$here/../tests/db/pg_server.sh" start "$pgdir" $$)
psql() { command psql "$url" -qAtX "$@"; }
psql -c "CREATE TABLE b (id bigint, name text, email text, score float8, flag boolean)"
sq="$data/bench.sqlite"
echo "ember databases: $cores cores ($cpu), median of $runs runs" >&2

declare -A v
add() { v[$1]="${v[$1]:-} $2"; }
fresh() { psql -c "TRUNCATE b"; }
rows() { psql -c "SELECT count(*) FROM b"; }
check() { [ "$(rows)" = "$1" ] || { echo "run_db: $(rows) rows, not $1" >&2; exit 1; }; }
fresh_sqlite() {
  rm -f "$sq" "$sq-wal" "$sq-shm"
  sqlite3 "$sq" "CREATE TABLE b (id INTEGER, name TEXT, email TEXT, score REAL, flag TEXT)"
}
for _ in $(seq "$runs"); do
  fresh; add copy_e "$("$build/bench/bench_db" save "$url" b "$big" copy 'local[2]')"; check 1000000
  fresh; add copy_p "$(secs psql -c "\\copy b FROM '$big' CSV")"; check 1000000
  fresh; add ins_e "$("$build/bench/bench_db" save "$url" b "$big" insert 'local[2]')"; check 1000000
  fresh; add ins_b "$("$py" "$here/db_peers.py" batch "$url" b "$big")"; check 1000000
  fresh; add ins_1 "$("$py" "$here/db_peers.py" each "$url" b "$small")"; check 100000
  add win "$("$build/bench/bench_db" window "$url" 1000 64 'local[2]')"
  fresh_sqlite; add sl_e "$("$build/bench/bench_db" save "sqlite:$sq" b "$big" copy 'local[2]')"
  [ "$(sqlite3 "$sq" 'SELECT count(*) FROM b')" = 1000000 ] || exit 1
  fresh_sqlite; add sl_p "$(secs sqlite3 "$sq" ".import --csv $big b")"
  [ "$(sqlite3 "$sq" 'SELECT count(*) FROM b')" = 1000000 ] || exit 1
done
rm -f "$sq" "$sq-wal" "$sq-shm"
m() { printf '%s\n' ${v[$1]} | med; }
for k in copy_e copy_p ins_e ins_b ins_1 win sl_e sl_p; do eval "$k=$(m $k)"; done
floor=$(awk 'BEGIN {printf "%.3f", 1000 * 0.05 / 64}')
rps() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}'; }

table=$(cat <<TXT
## $(date -u +%Y-%m-%d) databases — $cores cores ($cpu), median of $runs interleaved runs, $(code_rev)

PostgreSQL $(psql -c 'SHOW server_version' | cut -d' ' -f1) on 127.0.0.1 (fsync off for every writer alike); rows of 5 columns (bigint, two texts, float8, boolean) from a CSV file; ember at local[2].

| job | ember | peer | ember's speed vs the peer | target |
|---|---:|---:|---:|---|
| 1,000,000 rows, EMBER_DB_COPY vs psql's \\copy, s | $copy_e ($(rps 1000000 "$copy_e") rows/s) | $copy_p | $(ratio "$copy_p" "$copy_e")× | ≥ 0.8× |
| 1,000,000 rows, EMBER_DB_INSERT (pipelined, 64 rows a statement) vs psycopg2 execute_batch, s | $ins_e ($(rps 1000000 "$ins_e") rows/s) | $ins_b ($(rps 1000000 "$ins_b") rows/s) | $(ratio "$ins_b" "$ins_e")× | ≥ 5× |
| EMBER_DB_INSERT vs one INSERT a round trip (psycopg2, 100,000 rows), rows/s | $(rps 1000000 "$ins_e") | $(rps 100000 "$ins_1") ($ins_1 s) | $(awk -v a="$ins_e" -v b="$ins_1" 'BEGIN {printf "%.2f", (1000000 / a) / (100000 / b)}')× | ≥ 20× |
| 1,000 × pg_sleep(0.05) through a window of 64, s | $win | floor $floor | $(ratio "$win" "$floor")× the floor | ≤ 1.3× |
| SQLite, 1,000,000 rows vs the sqlite3 shell's .import, s | $sl_e | $sl_p | $(ratio "$sl_p" "$sl_e")× | ≥ 0.8× |
TXT
)
echo "$table"
printf '\n%s\n' "$table" >>"$here/RESULTS.md"
