# Shared by the benchmark scripts (sourced): RUNS, the machine's description,
# median, ratio, and timing a command from outside.
runs=${RUNS:-7}
cores=$(nproc)
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)

# median CMD...: run CMD $runs times, print the median of what it prints
median() {
  local vals=()
  for _ in $(seq "$runs"); do vals+=("$("$@" 2>/dev/null)"); done
  printf '%s\n' "${vals[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# med: the median of the numbers on stdin, one a line
med() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# zipf_data BUILD: $data (EMBER_BENCH_DATA, else $TMPDIR/ember-bench) holding the
# 200 MB Zipf corpus zipf.txt, made by BUILD's gen_data when missing, in the page cache
zipf_data() {
  data=${EMBER_BENCH_DATA:-${TMPDIR:-/tmp}/ember-bench}
  mkdir -p "$data"
  [ -s "$data/zipf.txt" ] || "$1/bench/gen_data" zipf "$data/zipf.txt" 200
  cat "$data/zipf.txt" >/dev/null
}

# secs CMD...: the wall-clock seconds CMD takes (its output dropped)
secs() {
  local s e
  s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
  awk -v ns=$((e - s)) 'BEGIN {printf "%.3f", ns / 1e9}'
}
# mbs MB CMD...: MB per second of CMD going through MB megabytes
mbs() { local mb=$1; shift; awk -v mb="$mb" -v s="$(secs "$@")" 'BEGIN {printf "%.1f", mb / s}'; }

# code_rev: the commit measured, +changes when the tracked sources differ from it
code_rev() {
  local rev dirty
  rev=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$here" status --porcelain --untracked-files=no 2>/dev/null | grep -qv RESULTS.md && echo "+changes" || true)
  echo "$rev$dirty"
}

# app_logs BUILD N DIR [JOBS]: DIR filled as a user's EMBER_EVENT_LOG=DIR/ fills it,
# with the logs of N applications, each BUILD's tiny example of JOBS jobs (default
# 20); $bytes their size
app_logs() {
  mkdir -p "$3"
  for _ in $(seq "$2"); do
    EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG="$3/" "$1/examples/tiny" "${4:-20}" >/dev/null
  done
  bytes=$(du -sb "$3" | cut -f1)
}

# ui_tiny BUILD SETTING LOG [JOBS]: BUILD's tiny job (JOBS jobs, default 20000)
# at local[*] with one way of seeing it (off, log: the event log at LOG, ui:
# the web UI, bar: the progress bar forced on, into /dev/null; all: the
# three), its µs a job; LOG removed after
ui_tiny() {
  local set
  case $2 in
  off) set="EMBER_PROGRESS=0 EMBER_UI_PORT=0" ;;
  log) set="EMBER_PROGRESS=0 EMBER_UI_PORT=0 EMBER_EVENT_LOG=$3" ;;
  ui) set="EMBER_PROGRESS=0 EMBER_UI_PORT=-1" ;;
  bar) set="EMBER_PROGRESS=1 EMBER_UI_PORT=0" ;;
  all) set="EMBER_PROGRESS=1 EMBER_UI_PORT=-1 EMBER_EVENT_LOG=$3" ;;
  *) echo "no setting '$2' (off, log, ui, bar, all)" >&2; return 2 ;;
  esac
  # shellcheck disable=SC2086 # the settings are words
  env $set EMBER_MASTER='local[*]' "$1/examples/tiny" "${4:-20000}" 2>/dev/null |
    sed -n 's/.*; \([0-9.]*\) us per job.*/\1/p'
  rm -f "$3"
}

# scratch NAME: $dir, a new directory removed at exit, when the server $pid
# (if one is up) is killed too
scratch() {
  dir=$(mktemp -d "${TMPDIR:-/tmp}/ember-$1.XXXXXX")
  pid=
  trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
}

# stop_server: the server $pid stopped and reaped
stop_server() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

# ab_args OLD_BUILD [NEW_BUILD] [OLD_NAME]: $old, $new (default build) and
# $old_name (default OLD_BUILD), for a script that sets two builds side by side
ab_args() {
  old=$1
  new=${2:-build}
  old_name=${3:-$1}
}
