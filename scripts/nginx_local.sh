#!/usr/bin/env bash
# A local nginx for ember's HTTP tests and benchmarks, on 127.0.0.1 only.
#   scripts/nginx_local.sh start DIR   writes DIR/nginx.conf, starts nginx on a free
#                                      port, prints the port (DIR/port)
#   scripts/nginx_local.sh stop DIR    stops it
# Locations:
#   /delay/ID    answers after 350 ms (echo_sleep: no worker is blocked)
#   /cats/ID     the same, a TheCatAPI-shaped JSON answer
#   /limited/ID  limit_req: 120 a minute, burst 120, 429 beyond
#   /limited2/ID limit_req: 2 a second, burst 2, 429 with Retry-After: 1 beyond (DIR/limited2.log)
#   /counted/ID  answers after 50 ms; every request logged in DIR/counted.log
#   (/cats/ logs each request's x-api-key header in DIR/cats.log)
#   /faulty/ID   5% 500, 2% connection closed without an answer, 2% slow body
#                (300 ms between its halves), else 200 - drawn per request
#   /ok/ID       200 at once
# and on the next port, TLS with HTTP/2 (tests/data/tls, a self-signed certificate):
#   /proto/ID    "PROTOCOL CONNECTION-NUMBER" (which requests shared a connection)
set -euo pipefail
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
case "$cmd" in
stop)
  [ -s "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  for _ in $(seq 50); do [ -e "$dir/nginx.pid" ] || break; sleep 0.1; done
  exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
tls=$(cd "$(dirname "$0")/../tests/data/tls" && pwd)
nginx=$(command -v nginx || echo /usr/sbin/nginx)
echo_mod=/usr/lib/nginx/modules/ngx_http_echo_module.so
[ -x "$nginx" ] && [ -f "$echo_mod" ] || { echo "nginx-light and libnginx-mod-http-echo are needed" >&2; exit 1; }
mkdir -p "$dir/tmp"
user=""
[ "$(id -u)" -eq 0 ] && user="user root;"
for attempt in $(seq 20); do
  port=$((20000 + RANDOM % 40000))
  cat >"$dir/nginx.conf" <<CONF
load_module $echo_mod;
$user
worker_processes 1;
worker_rlimit_nofile 16384;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 1000000;
  limit_req_zone \$binary_remote_addr zone=api:1m rate=120r/m;
  limit_req_zone \$binary_remote_addr zone=api2:1m rate=2r/s;
  log_format keys '\$request_method \$request_uri key=\$http_x_api_key';
  log_format timed '\$msec \$status \$request_uri';
  split_clients "\${request_id}" \$fault { 5% "500"; 2% "close"; 2% "slow"; * "ok"; }
  server {
    listen 127.0.0.1:$port backlog=4096;
    default_type text/plain;
    location /delay/ { echo_sleep 0.35; echo "ok \$uri"; }
    location /cats/ {
      access_log $dir/cats.log keys;
      default_type application/json;
      echo_sleep 0.35;
      echo '[{"breeds":[{"id":"abys","name":"Abyssinian"},{"id":"beng","name":"Bengal"}],"id":"\$request_id","url":"https://cdn.example/\$request_id.jpg","width":1204,"height":1445}]';
    }
    location /limited/ { limit_req zone=api burst=120 nodelay; limit_req_status 429; echo "ok"; }
    location /limited2/ {
      access_log $dir/limited2.log timed;
      limit_req zone=api2 burst=2 nodelay; limit_req_status 429;
      add_header Retry-After 1 always;
      echo "ok";
    }
    location /counted/ { access_log $dir/counted.log timed; echo_sleep 0.05; echo "ok \$uri"; }
    location /faulty/ {
      if (\$fault = "500") { return 500; }
      if (\$fault = "close") { return 444; }
      if (\$fault = "slow") { rewrite ^ /slowbody last; }
      echo "ok";
    }
    location = /slowbody { internal; echo "part 1"; echo_flush; echo_sleep 0.3; echo "part 2"; }
    location /ok/ { echo "ok"; }
  }
  server {
    listen 127.0.0.1:$((port + 1)) ssl http2;
    ssl_certificate $tls/cert.pem;
    ssl_certificate_key $tls/key.pem;
    default_type text/plain;
    location /proto/ { echo "\$server_protocol \$connection"; }
  }
}
CONF
  rm -f "$dir/nginx.pid"
  if "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" </dev/null >/dev/null 2>"$dir/start.err"; then
    for _ in $(seq 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
    echo "$port" >"$dir/port"
    echo $((port + 1)) >"$dir/tls_port"
    echo "$port"
    exit 0
  fi
  grep -q "Address already in use" "$dir/start.err" || { cat "$dir/start.err" >&2; exit 1; }
done
echo "no free port found for nginx" >&2
exit 1
