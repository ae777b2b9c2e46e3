#!/usr/bin/env bash
# The web UI in a real browser: Debian's chromium, driven by playwright-core
# from npm (installed here on first use into NODE_DIR). Exits 77 (skipped) with
# the reason when the browser or playwright-core cannot be had.
#   tests/ui/browser.sh UI_JOB ARTEFACTS_DIR NODE_DIR
set -euo pipefail
job=$1
art=$2
nodedir=$3
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "SKIP: node is not installed (scripts/deps.sh test)"; exit 77; }
exe=$(command -v chromium || command -v chromium-browser || true)
[ -n "$exe" ] || { echo "SKIP: chromium is not installed (scripts/deps.sh test)"; exit 77; }
if [ ! -d "$nodedir/node_modules/playwright-core" ]; then
  mkdir -p "$nodedir"
  (cd "$nodedir" && npm install --no-audit --no-fund --silent playwright-core@1 >npm.log 2>&1) || {
    echo "SKIP: npm could not install playwright-core: $(tail -3 "$nodedir/npm.log")"; exit 77; }
fi
mkdir -p "$art"
NODE_PATH="$nodedir/node_modules" exec node "$here/browser.js" "$job" "$art" "$exe"
