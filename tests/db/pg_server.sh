#!/usr/bin/env bash
# A private PostgreSQL for the tests: initdb in DIR, the server on 127.0.0.1
# at a free port with its socket in DIR, run as an unprivileged user when the
# tests run as root (runuser). Prints the connection URL.
#   pg_server.sh start DIR [OWNER]  (exit 77: no PostgreSQL here; with OWNER, a
#                              pid, the server is stopped and DIR removed
#                              once that process is gone, even killed)
#   pg_server.sh stop DIR      (stops it and removes DIR)
#   pg_server.sh restart DIR   (an immediate stop, then a start on the same port)
set -euo pipefail
cmd=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || { echo "no PostgreSQL server installed" >&2; exit 77; }
as=()
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then user=nobody; as=(runuser -u nobody --); fi
pg() { "${as[@]}" "$@"; }
case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown nobody "$dir"
  pg "$bin/initdb" -D "$dir/data" -U ember -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
  for try in 1 2 3 4 5 6 7 8; do # a free port: tried until the server binds one
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    echo "$port" >"$dir/port"
    if pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
      start >/dev/null 2>&1; then break; fi
    [ "$try" = 8 ] && { cat "$dir/server.log" >&2; exit 1; }
  done
  pg "$bin/psql" -h "$dir" -p "$port" -U ember -d postgres -qc 'CREATE DATABASE ember' >/dev/null
  if [ -n "${3:-}" ]; then # a watcher, on none of the caller's pipes: stop once OWNER is gone
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2/data" ]; do sleep 1; done
      exec "$0" stop "$2"' "$0" "$3" "$dir" </dev/null >/dev/null 2>&1 &
  fi
  echo "postgresql://ember@127.0.0.1:$port/ember"
  ;;
restart)
  port=$(cat "$dir/port")
  pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  ;;
stop)
  [ -d "$dir/data" ] && pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
esac
