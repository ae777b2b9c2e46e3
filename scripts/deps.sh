#!/usr/bin/env bash
# Installs the Debian packages ember needs to build and test, when missing.
# Usage: scripts/deps.sh [build|test|bench]
set -euo pipefail
what=${1:-build}
pkgs=(gcc make cmake pkg-config libxxhash-dev zlib1g-dev libzstd-dev libjansson-dev libcsv-dev
      libcurl4-openssl-dev libmicrohttpd-dev libopenmpi-dev openmpi-bin libpq-dev libsqlite3-dev libbz2-dev)
case "$what" in
  test) pkgs+=(libcmocka-dev nginx-light libnginx-mod-http-echo clang libclang-rt-14-dev
              chromium nodejs bsdutils postgresql sqlite3 bzip2 zstd)
        command -v npm >/dev/null || pkgs+=(npm) ;; # (a Node.js from elsewhere brings its own)
  bench) pkgs+=(python3 python3-dask python3-aiohttp python3-requests curl nginx-light
                libnginx-mod-http-echo postgresql sqlite3 python3-psycopg2) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ember: installing missing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# refresh the package lists once when they are missing or stale
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  $sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
