#!/usr/bin/env bash
# The progress bar, the event log and the history server, from outside:
#   - under a pseudo-terminal (script -qc) the bar is Spark's; with stderr a file,
#     there is none (and EMBER_PROGRESS=1 forces it)
#   - an event log cut by kill -9 in the middle of a job holds only whole JSON
#     lines, and `ember history` reads it as an incomplete application
#   - `ember history LOG` serves a finished log's jobs; `--list DIR` lists it
#   - a log named *.zstd is zstd frames that zstd(1) reads into the same events;
#     cut by kill -9 it still reads; frames made by zstd(1) are read too, and a
#     damaged one is passed over with the frames after it kept
#   - a directory of logs (Spark's spark.eventLog.dir): one log an application,
#     named by its id; an id whose log is there already is not reused (the
#     logs there stay as they were); a killed one stays *.inprogress
#   tests/ui/ui.sh UI_JOB EMBER
set -euo pipefail
job=$1
ember=$2
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v node >/dev/null || { echo "SKIP: node is not installed (scripts/deps.sh test)"; exit 77; }
# one JSON document a line, every line: node parses them all
json_lines() { node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
  if (lines[lines.length - 1] !== "") { console.error("the last line is not whole"); process.exit(1); }
  lines.pop();
  for (const [i, l] of lines.entries()) {
    try { JSON.parse(l); } catch (e) { console.error("line " + (i + 1) + ": " + e.message); process.exit(1); }
  }
  console.log(lines.length);' "$1"; }
get() { node -e 'fetch(process.argv[1]).then(r => r.text().then(t => { if (r.status !== 200) process.exit(1); console.log(t); })).catch(() => process.exit(2))' "$1"; }

# kill_mid_job LOG ENDED: the job writing its event log to LOG, killed -9 once
# some of its tasks have ended (ENDED LOG: their lines are in it)
kill_mid_job() {
  local log=$1 ended=$2 fifo kp f
  fifo=$(mktemp -u "$work/in.XXXXXX")
  mkfifo "$fifo"
  EMBER_UI_PORT=0 EMBER_EVENT_LOG="$log" "$job" killed <"$fifo" >"$work/k.out" 2>&1 &
  kp=$!
  pids+=("$kp")
  exec 3>"$fifo"
  echo "slow 4 300" >&3
  for _ in $(seq 100); do
    f=$log # a directory of logs: the application's, still in progress
    [ -d "$log" ] && f=$(find "$log" -name '*.inprogress' | head -1)
    [ -n "$f" ] && [ -s "$f" ] && "$ended" "$f" && break
    sleep 0.1
  done
  kill -9 "$kp"
  wait "$kp" 2>/dev/null || true
  exec 3>&-
}
ended_plain() { grep -q TaskEnd "$1" 2>/dev/null; }
ended_zstd() { zstd -qdc "$1" 2>/dev/null | grep -q TaskEnd; }

# --- the progress bar under a terminal: Spark's format
command -v script >/dev/null || fail "script (bsdutils) is not installed"
script -qec "printf 'slow 2 400\n' | EMBER_UI_PORT=0 '$job' bar" /dev/null >"$work/tty.out" 2>&1 ||
  fail "the job under script failed: $(cat "$work/tty.out")"
grep -aEq '\[Stage 0:[=> ]*\([0-9] \+ [0-9]\) / 2\]' "$work/tty.out" ||
  fail "no Spark progress bar on the terminal: $(tr '\r' '\n' <"$work/tty.out" | head -5)"
grep -aq 'done slow 2 400' "$work/tty.out" || fail "the job did not finish under script"
# the bar is cleared at the stage's end: the last bar is followed by a return to column 0
tr '\r' '\n' <"$work/tty.out" | grep -aq '^ *$' || fail "the bar was not cleared"

# --- stderr a file: no bar, unless EMBER_PROGRESS=1 asks for one
printf 'slow 2 400\n' | EMBER_UI_PORT=0 "$job" nobar >"$work/o1" 2>"$work/e1"
! grep -aq '\[Stage' "$work/e1" || fail "a progress bar written to a file: $(head -c 300 "$work/e1")"
printf 'slow 2 400\n' | EMBER_UI_PORT=0 EMBER_PROGRESS=1 "$job" forced >"$work/o2" 2>"$work/e2"
grep -aEq '\[Stage 0:[=> ]*\([0-9] \+ [0-9]\) / 2\]' "$work/e2" || fail "EMBER_PROGRESS=1 drew no bar"
# the counts drawn: 8 tasks of 400 ms on 2 threads, so every bar the file
# received has at most 2 running and at most 8 in all, its done never goes
# back, and it counts tasks done (the stage shows once it ran half a second,
# and runs 1.6 s: two tasks end at 0.4 s, two more at 0.8 s)
printf 'slow 8 100\n' | EMBER_MASTER='local[2]' EMBER_UI_PORT=0 EMBER_PROGRESS=1 "$job" counted \
  >"$work/o4" 2>"$work/e4"
tr '\r' '\n' <"$work/e4" | sed -n 's/.*\[Stage 0:[=> ]*(\([0-9]*\) + \([0-9]*\)) \/ \([0-9]*\)\].*/\1 \2 \3/p' \
  >"$work/bars"
[ -s "$work/bars" ] || fail "no bar drawn for 8 tasks: $(head -c 300 "$work/e4")"
awk 'BEGIN { last = -1 }
  $3 != 8 || $2 > 2 || $1 + $2 > 8 || $1 < last { bad = 1 }
  { last = $1 } END { exit bad || last < 2 }' "$work/bars" ||
  fail "the bar's counts are wrong (done, running, total): $(tr '\n' ';' <"$work/bars")"
printf 'slow 2 400\n' | script -qec "EMBER_UI_PORT=0 EMBER_PROGRESS=0 '$job' off" /dev/null >"$work/o3" 2>&1 || true
! grep -aq '\[Stage' "$work/o3" || fail "EMBER_PROGRESS=0 still drew a bar"

# --- the event log cut by kill -9 mid-job: whole lines only, read as incomplete
log="$work/logs/killed.log"
mkdir -p "$work/logs"
kill_mid_job "$log" ended_plain
n=$(json_lines "$log") || fail "the killed log holds a line that is not whole JSON"
[ "$n" -ge 5 ] || fail "the killed log holds $n lines"
grep -q 'SparkListenerApplicationEnd' "$log" && fail "a killed application logged its end"
"$ember" history --list "$work/logs" >"$work/list.out" || fail "history --list failed"
grep -q 'incomplete' "$work/list.out" || fail "the killed application is not listed as incomplete: $(cat "$work/list.out")"

# --- a finished log through ember history: its jobs over the REST API
log2="$work/logs/done.log"
printf 'slow 2 50\nfail\nhttp 20 10\n' | USER=ember-log-user EMBER_UI_PORT=0 EMBER_EVENT_LOG="$log2" "$job" finished >"$work/f.out" 2>&1
json_lines "$log2" >/dev/null || fail "the finished log is not JSON lines"
app=$(grep -o '"App ID":"[^"]*"' "$log2" | head -1 | cut -d'"' -f4)
# --port -1: the first free port from 4040, as the serving line says
"$ember" history "$log2" --port -1 >"$work/h.out" 2>&1 &
hp=$!
pids+=("$hp")
for _ in $(seq 300); do grep -q serving "$work/h.out" && break; sleep 0.1; done
port=$(sed -n 's|.*serving at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/h.out")
[ -n "$port" ] || fail "history: not serving: $(cat "$work/h.out")"
jobs=$(get "http://127.0.0.1:$port/api/v1/applications/$app/jobs") || fail "history: no jobs answer"
[ "$(echo "$jobs" | grep -c "\"jobId\"")" = 3 ] || fail "history: 3 jobs expected: $jobs"
echo "$jobs" | grep -q '"status": "FAILED"' || fail "history: the failed job is not FAILED"
get "http://127.0.0.1:$port/" | grep -q "$app" || fail "history: the app list lacks $app"
# the user is the one who ran the application, not the one who reads its log
get "http://127.0.0.1:$port/api/v1/applications" | grep -q '"sparkUser": "ember-log-user"' ||
  fail "history: sparkUser is not the log's User: $(get "http://127.0.0.1:$port/api/v1/applications")"
kill "$hp"
wait "$hp" 2>/dev/null || true
"$ember" history --list "$work/logs" | grep -q "$app" || fail "history --list lacks $app"
# a log through a pipe cannot be read twice: said so, and nothing is served
if "$ember" history <(cat "$log2") --port -1 >"$work/pipe.out" 2>&1; then
  fail "history of a pipe did not fail: $(cat "$work/pipe.out")"
fi
grep -q 'not a file but a pipe' "$work/pipe.out" || fail "history of a pipe: $(cat "$work/pipe.out")"

# --- a .zstd log: zstd frames that zstd(1) reads into the same events
command -v zstd >/dev/null || fail "zstd is not installed (scripts/deps.sh test)"
zlog="$work/logs/done.zstd"
printf 'slow 2 50\nfail\nhttp 20 10\n' | EMBER_UI_PORT=0 EMBER_EVENT_LOG="$zlog" "$job" zfinished >"$work/z.out" 2>&1
[ "$(head -c 4 "$zlog" | od -An -tx1 | tr -d ' \n')" = 28b52ffd ] || fail "the .zstd log is not zstd"
zstd -qdc "$zlog" >"$work/z.json" || fail "zstd(1) cannot read the .zstd log"
json_lines "$work/z.json" >/dev/null || fail "the .zstd log does not hold JSON lines"
# the same jobs and stages as the plain log's run (how many tasks of the failing
# job start before it fails is the scheduler's race: every one that started ended)
events() { grep -o '"Event":"[^"]*"' "$1" | grep -v Task | sort | uniq -c; }
[ "$(events "$work/z.json")" = "$(events "$log2")" ] ||
  fail "the .zstd log's events differ from the plain log's: $(diff <(events "$log2") <(events "$work/z.json"))"
[ "$(grep -c TaskStart "$work/z.json")" = "$(grep -c TaskEnd "$work/z.json")" ] ||
  fail "the .zstd log's tasks did not all end"
[ "$(stat -c %s "$zlog")" -lt "$(stat -c %s "$log2")" ] || fail "the .zstd log is no smaller"
"$ember" history --list "$work/logs" >"$work/list2.out" || fail "history --list failed"
[ "$(grep "$zlog" "$work/list2.out" | grep -vc incomplete)" = 1 ] ||
  fail "the .zstd log is not listed as a finished application: $(cat "$work/list2.out")"

# --- a .zstd log cut by kill -9 mid-job: its frames read, the application incomplete
klog="$work/klogs/killed.zstd"
mkdir -p "$work/klogs"
kill_mid_job "$klog" ended_zstd
zstd -qdc "$klog" >"$work/zk.json" || fail "zstd(1) cannot read the killed .zstd log"
n=$(json_lines "$work/zk.json") || fail "the killed .zstd log holds a line that is not whole JSON"
[ "$n" -ge 5 ] || fail "the killed .zstd log holds $n lines"
"$ember" history --list "$work/klogs" >"$work/list3.out" || fail "history --list failed"
grep -q 'incomplete' "$work/list3.out" || fail "the killed .zstd application is not incomplete: $(cat "$work/list3.out")"

# --- frames made by zstd(1) from three parts of the plain log: read whole; with
#     the middle one damaged, the first and last are still read (the
#     application's start is in the first, its end in the last)
mkdir -p "$work/flogs"
lines=$(wc -l <"$log2")
head -n 3 "$log2" | zstd -q -c >"$work/f1"
sed -n "4,$((lines - 3))p" "$log2" | zstd -q -c >"$work/f2"
tail -n 3 "$log2" | zstd -q -c >"$work/f3"
cat "$work/f1" "$work/f2" "$work/f3" >"$work/flogs/parts.zst"
"$ember" history --list "$work/flogs" >"$work/list4.out" 2>&1 || fail "history --list failed"
grep "parts.zst" "$work/list4.out" | grep -v incomplete | grep -q "$app" ||
  fail "three zstd(1) frames are not read as the finished application: $(cat "$work/list4.out")"
cp "$work/f2" "$work/bad"
size=$(stat -c %s "$work/f2")
printf '\xff\xff\xff\xff' | dd of="$work/bad" bs=1 seek=$((size / 2)) conv=notrunc status=none
cat "$work/f1" "$work/bad" "$work/f3" >"$work/flogs/parts.zst"
"$ember" history --list "$work/flogs" >"$work/list5.out" 2>"$work/list5.err" || fail "history --list failed"
grep -q "1 damaged zstd frame passed over, the first at byte $(stat -c %s "$work/f1") " "$work/list5.err" ||
  fail "the damaged frame is not named: $(cat "$work/list5.err")"
grep "parts.zst" "$work/list5.out" | grep -v incomplete | grep -q "$app" ||
  fail "the frame after the damaged one was not read: $(cat "$work/list5.out")"
# --- a directory of logs: the application's own, named by its id, compressed,
#     *.inprogress until it ends; the ids of logs already there (the next
#     20,000 milliseconds', as other applications' would be) are not taken
ldir="$work/dirlogs"
mkdir -p "$ldir"
now=$(date +%s%3N)
seq "$now" $((now + 19999)) | sed "s|.*|$ldir/local-&.zstd|" | xargs touch
printf 'slow 2 50\nfail\nhttp 20 10\n' | EMBER_UI_PORT=0 EMBER_EVENT_LOG="$ldir/" "$job" dfinished >"$work/d.out" 2>&1 ||
  fail "the job logging into a directory failed: $(cat "$work/d.out")"
[ "$(find "$ldir" -type f | wc -l)" = 20001 ] || fail "not one log more in the directory: $(find "$ldir" -type f | wc -l)"
[ "$(find "$ldir" -type f -size +0 | wc -l)" = 1 ] || fail "a log already there was written to"
dlog=$(find "$ldir" -type f -size +0)
did=$(basename "$dlog" .zstd)
case "$dlog" in *.inprogress) fail "the finished application's log is still in progress: $dlog" ;; esac
[ "${did#local-}" -ge $((now + 20000)) ] || fail "the application took the id of a log already there: $did"
zstd -qdc "$dlog" >"$work/d.json" || fail "zstd(1) cannot read the directory's log $dlog"
json_lines "$work/d.json" >/dev/null || fail "the directory's log does not hold JSON lines"
grep -q "\"App ID\":\"$did\"" "$work/d.json" || fail "the log $dlog is not the application $did's"
grep -q "\"ember.app.id\":\"$did\"" "$work/d.json" || fail "the environment does not name the application $did"
grep -q SparkListenerApplicationEnd "$work/d.json" || fail "the directory's log lacks the application's end"
[ "$(events "$work/d.json")" = "$(events "$log2")" ] || fail "the directory's log's events differ from the plain log's"
"$ember" history --list "$ldir" 2>/dev/null >"$work/list6.out" || fail "history --list of the directory failed"
grep "$did" "$work/list6.out" | grep -vq incomplete || fail "the directory's log is not listed as finished: $(grep -v '^$' "$work/list6.out" | head -3)"
# killed -9: the log stays .inprogress, read as an incomplete application
kdir="$work/kdir"
kill_mid_job "$kdir/" ended_zstd
kf=$(find "$kdir" -type f)
case "$kf" in *.zstd.inprogress) ;; *) fail "the killed application's log is not .inprogress: $kf" ;; esac
"$ember" history --list "$kdir" >"$work/list7.out" || fail "history --list failed"
grep "$(basename "$kf" .zstd.inprogress)" "$work/list7.out" | grep -q incomplete ||
  fail "the killed application in a directory is not incomplete: $(cat "$work/list7.out")"
echo "ok: progress bar, event log after kill -9, history, .zstd logs, a directory of logs"
