/* Spark's REST API (/api/v1), from the model: the same paths and the same JSON
 * field names, so a script written against Spark's reads ember's.
 *
 *   /applications[?status=&minDate=&maxDate=&minEndDate=&maxEndDate=&limit=]
 *                                              the application (history: all),
 *                                              newest first
 *   /applications/ID                           one
 *   /applications/ID/jobs[?status=]            newest first
 *   /applications/ID/jobs/JOB
 *   /applications/ID/stages[?status=]          newest first
 *   /applications/ID/stages/STAGE              its attempts (ember: one)
 *   /applications/ID/stages/STAGE/0            with its tasks
 *   /applications/ID/stages/STAGE/0/taskList[?offset=&length=] (20 by default)
 *   /applications/ID/executors, /allexecutors
 *   /applications/ID/environment
 *   /version
 *
 * Fields Spark has and ember does not measure (GC time, CPU time, bytes read
 * from files) are 0. Times are Spark's dates (2026-12-01T12:34:56.789GMT) and
 * milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ui/ui.h"

static json_t *date(int64_t ms)
{
    char d[64];
    ember__ui_date(ms, d, sizeof d);
    return json_string(d);
}

static json_t *app_json(const ui_model *m)
{
    bool done = m->end_ms != 0;
    int64_t last = done ? m->end_ms : m->last_ms;
    json_t *att = json_object();
    json_object_set_new(att, "startTime", date(m->start_ms));
    json_object_set_new(att, "endTime",
                        done ? date(m->end_ms) : json_string("1969-12-31T23:59:59.999GMT"));
    json_object_set_new(att, "lastUpdated", date(last));
    json_object_set_new(att, "duration", json_integer(done ? m->end_ms - m->start_ms : 0));
    json_object_set_new(att, "sparkUser", json_string(m->user ? m->user : ember__ui_user()));
    json_object_set_new(att, "completed", json_boolean(done));
    json_object_set_new(att, "appSparkVersion", json_string("ember"));
    json_object_set_new(att, "startTimeEpoch", json_integer(m->start_ms));
    json_object_set_new(att, "endTimeEpoch", json_integer(done ? m->end_ms : -1));
    json_object_set_new(att, "lastUpdatedEpoch", json_integer(last));
    json_t *a = json_object();
    json_object_set_new(a, "id", json_string(m->app_id ? m->app_id : ""));
    json_object_set_new(a, "name", json_string(m->app_name ? m->app_name : ""));
    json_object_set_new(a, "attempts", json_pack("[o]", att));
    return a;
}

static const char *job_status(int s)
{
    return s == UI_RUNNING     ? "RUNNING"
           : s == UI_SUCCEEDED ? "SUCCEEDED"
           : s == UI_FAILED    ? "FAILED"
                               : "UNKNOWN";
}

static const char *stage_status(int s)
{
    return s == UI_RUNNING     ? "ACTIVE"
           : s == UI_SUCCEEDED ? "COMPLETE"
           : s == UI_FAILED    ? "FAILED"
                               : "PENDING";
}

static json_t *job_json(const ui_model *m, const ui_job *j)
{
    int tasks = 0, active = 0, done = 0, failed = 0, sa = 0, sd = 0, sf = 0;
    json_t *ids = json_array();
    for (int k = 0; k < j->nstages; k++) {
        const ui_stage *s = ember__ui_stage(m, j->stage_ids[k]);
        json_array_append_new(ids, json_integer(j->stage_ids[k]));
        if (!s)
            continue;
        tasks += s->num_tasks;
        active += s->active;
        done += s->complete;
        failed += s->failed_attempts;
        sa += s->status == UI_RUNNING;
        sd += s->status == UI_SUCCEEDED;
        sf += s->status == UI_FAILED;
    }
    json_t *o = json_object();
    json_object_set_new(o, "jobId", json_integer(j->id));
    json_object_set_new(o, "name", json_string(j->name ? j->name : ""));
    json_object_set_new(o, "submissionTime", date(j->submit_ms));
    if (j->complete_ms)
        json_object_set_new(o, "completionTime", date(j->complete_ms));
    json_object_set_new(o, "stageIds", ids);
    json_object_set_new(o, "status", json_string(job_status(j->status)));
    json_object_set_new(o, "numTasks", json_integer(tasks));
    json_object_set_new(o, "numActiveTasks", json_integer(active));
    json_object_set_new(o, "numCompletedTasks", json_integer(done));
    json_object_set_new(o, "numSkippedTasks", json_integer(0));
    json_object_set_new(o, "numFailedTasks", json_integer(failed));
    json_object_set_new(o, "numKilledTasks", json_integer(0));
    json_object_set_new(o, "numCompletedIndices", json_integer(done));
    json_object_set_new(o, "numActiveStages", json_integer(sa));
    json_object_set_new(o, "numCompletedStages", json_integer(sd));
    json_object_set_new(o, "numSkippedStages", json_integer(0));
    json_object_set_new(o, "numFailedStages", json_integer(sf));
    json_object_set_new(o, "killedTasksSummary", json_object());
    if (j->error)
        json_object_set_new(o, "ember.failure", json_string(j->error));
    return o;
}

/* A stage's members but its tasks (stage_text writes them). */
static json_t *stage_json(const ui_stage *s)
{
    const ember_task_metrics *mt = &s->m;
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(stage_status(s->status)));
    json_object_set_new(o, "stageId", json_integer(s->id));
    json_object_set_new(o, "attemptId", json_integer(0));
    json_object_set_new(o, "numTasks", json_integer(s->num_tasks));
    json_object_set_new(o, "numActiveTasks", json_integer(s->active));
    json_object_set_new(o, "numCompleteTasks", json_integer(s->complete));
    json_object_set_new(o, "numFailedTasks", json_integer(s->failed_attempts));
    json_object_set_new(o, "numKilledTasks", json_integer(0));
    json_object_set_new(o, "numCompletedIndices", json_integer(s->complete));
    json_object_set_new(o, "submissionTime", date(s->submit_ms));
    if (s->ntasks)
        json_object_set_new(o, "firstTaskLaunchedTime", date(s->tasks[0].launch_ms));
    if (s->complete_ms)
        json_object_set_new(o, "completionTime", date(s->complete_ms));
    if (s->failure)
        json_object_set_new(o, "failureReason", json_string(s->failure));
    json_object_set_new(o, "executorDeserializeTime", json_integer(0));
    json_object_set_new(o, "executorRunTime", json_integer((json_int_t)(mt->run_ns / 1000000)));
    json_object_set_new(o, "executorCpuTime", json_integer(0));
    json_object_set_new(o, "resultSize", json_integer(0));
    json_object_set_new(o, "jvmGcTime", json_integer(0));
    json_object_set_new(o, "memoryBytesSpilled", json_integer(0));
    json_object_set_new(o, "diskBytesSpilled", json_integer(mt->spill_bytes));
    json_object_set_new(o, "peakExecutionMemory", json_integer(0));
    json_object_set_new(o, "inputBytes", json_integer(0));
    json_object_set_new(o, "inputRecords", json_integer(mt->records_in));
    json_object_set_new(o, "outputBytes", json_integer(0));
    json_object_set_new(o, "outputRecords", json_integer(mt->records_out));
    json_object_set_new(o, "shuffleRemoteBlocksFetched", json_integer(0));
    json_object_set_new(o, "shuffleLocalBlocksFetched", json_integer(0));
    json_object_set_new(o, "shuffleFetchWaitTime", json_integer(0));
    json_object_set_new(o, "shuffleRemoteBytesRead", json_integer(0));
    json_object_set_new(o, "shuffleLocalBytesRead", json_integer(mt->shuffle_read_bytes));
    json_object_set_new(o, "shuffleReadBytes", json_integer(mt->shuffle_read_bytes));
    json_object_set_new(o, "shuffleReadRecords", json_integer(mt->shuffle_read_records));
    json_object_set_new(o, "shuffleWriteBytes", json_integer(mt->shuffle_write_bytes));
    json_object_set_new(o, "shuffleWriteTime", json_integer(0));
    json_object_set_new(o, "shuffleWriteRecords", json_integer(mt->shuffle_write_records));
    json_object_set_new(o, "name", json_string(s->name ? s->name : ""));
    json_object_set_new(o, "details", json_string(""));
    json_object_set_new(o, "schedulingPool", json_string("default"));
    json_object_set_new(o, "rddIds", json_array());
    json_object_set_new(o, "accumulatorUpdates", json_array());
    json_object_set_new(o, "killedTasksSummary", json_object());
    json_object_set_new(o, "resourceProfileId", json_integer(0));
    json_object_set_new(o, "ember.jobId", json_integer(s->job_id));
    json_object_set_new(
        o, "ember.kind",
        json_string(s->kind == EMBER_STAGE_SHUFFLE_MAP ? "ShuffleMapStage" : "ResultStage"));
    return o;
}

/* ---------------------------------------------------------------- tasks as text */

/* A stage's tasks are written straight into the answer, in the text jansson
 * prints (JSON_INDENT(2), keys in order): a stage of 10,000 tasks as jansson
 * values is ~350,000 of them, and building, printing and freeing that tree
 * took ~300 ms, most of it in malloc. A string that is not valid UTF-8 is
 * written with U+FFFD for its bad bytes (jansson refuses such a string). */
typedef struct tw {
    ember_buf *b;
    int ind;   /* the indentation of the object's members */
    bool more; /* a member was written: the next one needs its comma */
} tw;

static void tw_raw(tw *w, const char *p, size_t n)
{
    ember_buf_append(w->b, p, n);
}

/* A line break, and the indentation of the object's members. */
static void tw_nl(tw *w)
{
    static const char line[] = "\n                                                              ";
    tw_raw(w, line, 1 + (size_t)(w->ind < (int)sizeof line - 2 ? w->ind : (int)sizeof line - 2));
}

static void tw_key(tw *w, const char *k)
{
    if (w->more)
        tw_raw(w, ",", 1);
    tw_nl(w);
    w->more = true;
    ember__bprintf(w->b, "\"%s\": ", k);
}

static void tw_int(tw *w, const char *k, int64_t v)
{
    tw_key(w, k);
    ember__bprintf(w->b, "%lld", (long long)v);
}

/* s as jansson prints a string: \" \\ \b \f \n \r \t, other control
 * characters as \u00XX, the rest as it is */
static void tw_str(tw *w, const char *k, const char *s)
{
    tw_key(w, k);
    tw_raw(w, "\"", 1);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned char c = *p;
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                len = 0;
        if (!len) { /* not UTF-8 */
            tw_raw(w, "\xef\xbf\xbd", 3);
            p++;
            continue;
        }
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc)
            tw_raw(w, esc, 2);
        else if (c < 0x20)
            ember__bprintf(w->b, "\\u%04X", c);
        else
            tw_raw(w, (const char *)p, (size_t)len);
        p += len;
    }
    tw_raw(w, "\"", 1);
}

/* Open an object as member k (NULL: a value where one is due). */
static void tw_open(tw *w, const char *k)
{
    if (k)
        tw_key(w, k);
    tw_raw(w, "{", 1);
    w->ind += 2;
    w->more = false;
}

static void tw_close(tw *w)
{
    w->ind -= 2;
    tw_nl(w);
    tw_raw(w, "}", 1);
    w->more = true;
}

/* n integers named k[i]: as members of the object open, or (obj) of an
 * object that is member obj */
static void tw_ints(tw *w, const char *obj, const char *const *k, const int64_t *v, int n)
{
    if (obj)
        tw_open(w, obj);
    for (int i = 0; i < n; i++)
        tw_int(w, k[i], v[i]);
    if (obj)
        tw_close(w);
}

/* Task t as Spark's TaskData (tw_open'ed where a value is due). */
static void task_text(tw *w, const ui_task *t)
{
    char d[64];
    ember__ui_date(t->launch_ms, d, sizeof d);
    const ember_task_metrics *mt = &t->m;
    tw_open(w, NULL);
    tw_int(w, "taskId", t->task_id);
    tw_int(w, "index", t->index);
    tw_int(w, "attempt", t->attempt - 1);
    tw_int(w, "partitionId", t->partition);
    tw_str(w, "launchTime", d);
    if (t->duration_ms >= 0)
        tw_int(w, "duration", t->duration_ms);
    tw_str(w, "executorId", "driver");
    tw_str(w, "host", "localhost");
    tw_str(w, "status",
           t->status == UI_RUNNING     ? "RUNNING"
           : t->status == UI_SUCCEEDED ? "SUCCESS"
                                       : "FAILED");
    tw_str(w, "taskLocality", "PROCESS_LOCAL");
    tw_key(w, "speculative");
    tw_raw(w, "false", 5);
    tw_key(w, "accumulatorUpdates");
    tw_raw(w, "[]", 2);
    if (t->error)
        tw_str(w, "errorMessage", t->error);
    /* Spark's TaskMetrics (api/v1): what ember does not measure is 0 */
    if (t->status != UI_RUNNING) {
        static const char *const top[] = {"executorDeserializeTime",
                                          "executorDeserializeCpuTime",
                                          "executorRunTime",
                                          "executorCpuTime",
                                          "resultSize",
                                          "jvmGcTime",
                                          "resultSerializationTime",
                                          "memoryBytesSpilled",
                                          "diskBytesSpilled",
                                          "peakExecutionMemory"};
        static const char *const in[] = {"bytesRead", "recordsRead"};
        static const char *const out[] = {"bytesWritten", "recordsWritten"};
        static const char *const rd[] = {
            "remoteBlocksFetched",   "localBlocksFetched", "fetchWaitTime", "remoteBytesRead",
            "remoteBytesReadToDisk", "localBytesRead",     "recordsRead"};
        static const char *const wr[] = {"bytesWritten", "writeTime", "recordsWritten"};
        const int64_t topv[] = {0, 0, (int64_t)(mt->run_ns / 1000000), 0, 0, 0,
                                0, 0, (int64_t)mt->spill_bytes,        0};
        const int64_t inv[] = {0, (int64_t)mt->records_in}, outv[] = {0, (int64_t)mt->records_out};
        const int64_t rdv[] = {
            0, 0, 0, 0, 0, (int64_t)mt->shuffle_read_bytes, (int64_t)mt->shuffle_read_records};
        const int64_t wrv[] = {(int64_t)mt->shuffle_write_bytes, 0,
                               (int64_t)mt->shuffle_write_records};
        tw_open(w, "taskMetrics");
        tw_ints(w, NULL, top, topv, 10);
        tw_ints(w, "inputMetrics", in, inv, 2);
        tw_ints(w, "outputMetrics", out, outv, 2);
        tw_ints(w, "shuffleReadMetrics", rd, rdv, 7);
        tw_ints(w, "shuffleWriteMetrics", wr, wrv, 3);
        tw_close(w);
    }
    tw_key(w, "executorLogs");
    tw_raw(w, "{}", 2);
    tw_int(w, "schedulerDelay", 0);
    tw_int(w, "gettingResultTime", 0);
    tw_int(w, "ember.thread", t->worker);
    tw_close(w);
}

/* The taskList answer: tasks [o, o + n) of s as a JSON array. */
static void task_list_text(ember_buf *b, const ui_stage *s, long o, long n)
{
    tw w = {b, 2, false};
    bool any = false;
    for (long k = o < 0 ? 0 : o; k < s->ntasks && k < o + n; k++) {
        ember_buf_append(b, any ? ",\n  " : "[\n  ", 4);
        w.more = false;
        task_text(&w, &s->tasks[k]);
        w.ind = 2;
        any = true;
    }
    ember_buf_append(b, any ? "\n]" : "[]", 2);
}

/* Stage s with its tasks, as an object whose members are indented ind + 2:
 * its other members printed by jansson, the tasks written here. 0, or -1
 * out of memory. */
static int stage_text(ember_buf *b, const ui_stage *s, int ind)
{
    json_t *o = stage_json(s);
    char *d = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    size_t n = d ? strlen(d) : 0;
    if (n < 2) {
        free(d);
        return -1;
    }
    for (size_t i = 0; i < n - 2; i++) { /* all but its closing "\n}", indented */
        ember_buf_append(b, d + i, 1);
        if (d[i] == '\n')
            ember__bprintf(b, "%*s", ind, "");
    }
    free(d);
    tw w = {b, ind + 2, true};
    tw_key(&w, "tasks");
    if (!s->ntasks) {
        ember_buf_append(b, "{}", 2);
    } else {
        tw_open(&w, NULL);
        for (int k = 0; k < s->ntasks; k++) {
            char id[32];
            snprintf(id, sizeof id, "%lld", (long long)s->tasks[k].task_id);
            tw_key(&w, id);
            task_text(&w, &s->tasks[k]);
        }
        tw_close(&w);
    }
    ember__bprintf(b, "\n%*s}", ind, "");
    return 0;
}

/* process[N]: a worker process as an executor (its id the pid) */
static json_t *proc_json(const ui_model *m, const ui_proc *p)
{
    char id[32];
    snprintf(id, sizeof id, "%d", p->pid);
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(id));
    json_object_set_new(e, "hostPort", json_string("localhost"));
    json_object_set_new(e, "isActive", json_boolean(p->active > 0 && !p->lost && !m->end_ms));
    json_object_set_new(e, "totalCores", json_integer(1));
    json_object_set_new(e, "maxTasks", json_integer(1));
    json_object_set_new(e, "activeTasks", json_integer(p->active));
    json_object_set_new(e, "failedTasks", json_integer(p->failed));
    json_object_set_new(e, "completedTasks", json_integer(p->done));
    json_object_set_new(e, "totalTasks", json_integer(p->active + p->failed + p->done));
    json_object_set_new(e, "totalDuration", json_integer(p->ms));
    json_object_set_new(e, "addTime", date(p->first_ms));
    if (p->lost) {
        json_object_set_new(e, "removeTime", date(p->last_ms));
        json_object_set_new(e, "removeReason", json_string(p->why ? p->why : "lost"));
    }
    json_object_set_new(e, "executorLogs", json_object());
    json_object_set_new(e, "attributes", json_pack("{s:i}", "ember.slot", p->slot));
    return e;
}

static json_t *executors_json(const ui_model *m, bool all)
{
    int done = 0, failed = 0;
    /* shuffle bytes: the dropped stages' and the kept ones' */
    int64_t ms = 0, sr = m->gone_read, sw = m->gone_written;
    for (int i = 0; i < m->nworkers; i++) {
        done += m->w[i].done;
        failed += m->w[i].failed;
        ms += m->w[i].ms;
    }
    for (int i = 0; i < m->nstages; i++) {
        sr += m->stages[i].m.shuffle_read_bytes;
        sw += m->stages[i].m.shuffle_write_bytes;
    }
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string("driver"));
    json_object_set_new(e, "hostPort", json_string("localhost"));
    json_object_set_new(e, "isActive", json_boolean(!m->end_ms));
    json_object_set_new(e, "rddBlocks", json_integer(0));
    json_object_set_new(e, "memoryUsed", json_integer(0));
    json_object_set_new(e, "diskUsed", json_integer(0));
    json_object_set_new(e, "totalCores", json_integer(m->cores));
    json_object_set_new(e, "maxTasks", json_integer(m->cores));
    json_object_set_new(e, "activeTasks", json_integer(m->active));
    json_object_set_new(e, "failedTasks", json_integer(failed));
    json_object_set_new(e, "completedTasks", json_integer(done));
    json_object_set_new(e, "totalTasks", json_integer(done + failed + m->active));
    json_object_set_new(e, "totalDuration", json_integer(ms));
    json_object_set_new(e, "totalGCTime", json_integer(0));
    json_object_set_new(e, "totalInputBytes", json_integer(0));
    json_object_set_new(e, "totalShuffleRead", json_integer(sr));
    json_object_set_new(e, "totalShuffleWrite", json_integer(sw));
    json_object_set_new(e, "isBlacklisted", json_false());
    json_object_set_new(e, "maxMemory", json_integer(m->memory_budget));
    json_object_set_new(e, "addTime", date(m->start_ms));
    json_object_set_new(e, "executorLogs", json_object());
    json_object_set_new(e, "blacklistedInStages", json_array());
    json_object_set_new(e, "attributes", json_object());
    json_object_set_new(e, "resources", json_object());
    json_object_set_new(e, "resourceProfileId", json_integer(0));
    json_object_set_new(e, "isExcluded", json_false());
    json_object_set_new(e, "excludedInStages", json_array());
    json_t *a = json_pack("[o]", e);
    for (int i = 0; a && m->by_process && i < m->nprocs; i++)
        if (all || (m->procs[i].active > 0 && !m->procs[i].lost))
            json_array_append_new(a, proc_json(m, &m->procs[i]));
    return a;
}

static json_t *environment_json(const ui_model *m)
{
    json_t *props = json_array();
    for (int i = 0; m->props && m->props[i] && m->props[i + 1]; i += 2)
        json_array_append_new(props, json_pack("[s, s]", m->props[i], m->props[i + 1]));
    return json_pack("{s:{s:s, s:s, s:s}, s:o, s:[], s:[], s:[], s:[], s:[]}", "runtime",
                     "javaVersion", "", "javaHome", "", "scalaVersion", "", "sparkProperties",
                     props, "hadoopProperties", "systemProperties", "metricsProperties",
                     "classpathEntries", "resourceProfiles");
}

/* The value of name in a query "a=1&b=2" (empty when absent). */
static void arg(const char *query, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        if (!strncmp(p, name, n) && p[n] == '=') {
            const char *v = p + n + 1, *e = strchr(v, '&');
            size_t len = e ? (size_t)(e - v) : strlen(v);
            snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), v);
            return;
        }
        const char *amp = strchr(p, '&');
        p = amp ? amp + 1 : NULL;
    }
}

/* A date of Spark's REST queries, "2026-12-01" (its midnight) or
 * "2026-12-01T12:34:56.789GMT" (milliseconds and GMT optional), in GMT, as
 * milliseconds since the epoch; false when it is neither. */
static bool query_date(const char *t, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, milli = 0, n = 0;
    if (sscanf(t, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return false;
    const char *r = t + n;
    if (*r == 'T') {
        int m = 0;
        if (sscanf(r, "T%2d:%2d:%2d%n", &h, &mi, &sec, &m) != 3 || m != 9)
            return false;
        r += m;
        if (*r == '.') {
            if (sscanf(r, ".%3d%n", &milli, &m) != 1 || m != 4)
                return false;
            r += m;
        }
        if (*r && strcmp(r, "GMT") && strcmp(r, "Z"))
            return false;
    } else if (*r) {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || milli < 0)
        return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *ms = (int64_t)timegm(&tm) * 1000 + milli;
    return true;
}

/* Which applications /applications lists (Spark's query): by state, start and
 * end, at most limit of them, newest first. */
typedef struct app_filter {
    int status; /* 0 both, 1 running only, 2 completed only */
    int64_t min_start, max_start, min_end, max_end, limit;
    bool end_bounded; /* maxEndDate given: a running application ends after now */
} app_filter;

/* 0, or the HTTP status Spark's REST API answers with, why naming what in
 * the query is not Spark's: 404 for a status or a limit that is none (as its
 * framework answers a parameter it cannot convert), 400 for a date that is
 * none (as Spark's own date parameter does) */
static int app_filter_parse(const char *query, app_filter *f, char *why, size_t cap)
{
    *f = (app_filter){0, INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MAX, false};
    char v[80];
    arg(query, "status", v, sizeof v);
    if (*v && strcasecmp(v, "running") && strcasecmp(v, "completed")) {
        snprintf(why, cap, "status is running or completed");
        return 404;
    }
    f->status = !*v ? 0 : !strcasecmp(v, "running") ? 1 : 2;
    static const char *const names[] = {"minDate", "maxDate", "minEndDate", "maxEndDate"};
    int64_t *at[] = {&f->min_start, &f->max_start, &f->min_end, &f->max_end};
    for (int i = 0; i < 4; i++) {
        arg(query, names[i], v, sizeof v);
        if (*v && !query_date(v, at[i])) {
            snprintf(why, cap, "%s is a date: 2026-12-01 or 2026-12-01T12:34:56.789GMT", names[i]);
            return 400;
        }
        if (*v && i == 3)
            f->end_bounded = true;
    }
    arg(query, "limit", v, sizeof v);
    if (*v) {
        char *end;
        long long l = strtoll(v, &end, 10);
        if (*end || end == v || l < 0) {
            snprintf(why, cap, "limit is a count of applications");
            return 404;
        }
        f->limit = l;
    }
    return 0;
}

static bool app_wanted(const ui_model *m, const app_filter *f)
{
    bool done = m->end_ms != 0;
    if ((f->status == 1 && done) || (f->status == 2 && !done))
        return false;
    if (m->start_ms < f->min_start || m->start_ms > f->max_start)
        return false;
    if (!done) { /* it ends after now: out only when maxEndDate is past */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return !f->end_bounded || f->max_end > (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    return m->end_ms >= f->min_end && m->end_ms <= f->max_end;
}

static bool status_matches(const char *want, const char *status)
{
    return !*want || !strcasecmp(want, status);
}

static int newer(const void *a, const void *b, void *arg)
{
    ui_model *const *models = arg;
    int i = *(const int *)a, j = *(const int *)b;
    int64_t si = models[i]->start_ms, sj = models[j]->start_ms;
    return si != sj ? (si < sj) - (si > sj) : (i < j) - (i > j); /* at once: the later given */
}

int *ember__ui_newest_first(ui_model *const *models, int n)
{
    int *order = ember__malloc((size_t)(n ? n : 1) * sizeof *order);
    for (int i = 0; order && i < n; i++)
        order[i] = i;
    if (order)
        qsort_r(order, (size_t)n, sizeof *order, newer, (void *)models);
    return order;
}

/* Does p (a path's next segment) start with an integer? Its value, the rest after. */
static bool seg_int(const char **p, int64_t *v)
{
    const char *s = *p;
    if (*s == '/')
        s++;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (end == s || (*end && *end != '/') || x < 0)
        return false;
    *v = x;
    *p = end;
    return true;
}

static bool is(const char *p, const char *seg)
{
    size_t n = strlen(seg);
    return !strncmp(p, seg, n) && (!p[n] || (p[n] == '/' && !p[n + 1]));
}

/* p under an application, /jobs or /stages, asked for a status that is none
 * of Spark's: the ones there are (Spark answers 404), else NULL. */
static const char *bad_status(const char *p, const char *query)
{
    static const char *const job_states[] = {"running", "succeeded", "failed", "unknown", NULL},
                             *const stage_states[] = {"active", "complete", "pending",
                                                      "failed", "skipped",  NULL};
    char status[48];
    arg(query, "status", status, sizeof status);
    bool jobs = is(p, "/jobs");
    if (!*status || (!jobs && !is(p, "/stages")))
        return NULL;
    for (const char *const *ok = jobs ? job_states : stage_states; *ok; ok++)
        if (!strcasecmp(*ok, status))
            return NULL;
    return jobs ? "running, succeeded, failed or unknown"
                : "active, complete, pending, failed or skipped";
}

/* The answer to p under an application: a JSON value, or (a stage's tasks)
 * written into text with *written set; NULL and not written: 404. */
static json_t *app_route(const ui_model *m, const char *p, const char *query, ember_buf *text,
                         bool *written)
{
    char status[48];
    arg(query, "status", status, sizeof status);
    if (!*p || !strcmp(p, "/"))
        return app_json(m);
    if (is(p, "/jobs")) {
        json_t *a = json_array();
        for (int i = m->njobs - 1; i >= 0; i--)
            if (m->jobs[i].id >= 0 && status_matches(status, job_status(m->jobs[i].status)))
                json_array_append_new(a, job_json(m, &m->jobs[i]));
        return a;
    }
    if (!strncmp(p, "/jobs/", 6)) {
        const char *q = p + 5;
        int64_t id;
        const ui_job *j;
        if (seg_int(&q, &id) && (!*q || !strcmp(q, "/")) && (j = ember__ui_job(m, id)))
            return job_json(m, j);
        return NULL;
    }
    if (is(p, "/stages")) {
        json_t *a = json_array();
        for (int i = m->nstages - 1; i >= 0; i--)
            if (m->stages[i].id >= 0 && status_matches(status, stage_status(m->stages[i].status)))
                json_array_append_new(a, stage_json(&m->stages[i]));
        return a;
    }
    if (!strncmp(p, "/stages/", 8)) {
        const char *q = p + 7;
        int64_t id, att;
        const ui_stage *s;
        if (!seg_int(&q, &id) || !(s = ember__ui_stage(m, id)))
            return NULL;
        if (!*q || !strcmp(q, "/")) { /* its attempts: the one */
            ember_buf_append(text, "[\n  ", 4);
            *written = !stage_text(text, s, 2) && !ember_buf_append(text, "\n]", 2);
            return NULL;
        }
        if (!seg_int(&q, &att) || att != 0)
            return NULL;
        if (!*q || !strcmp(q, "/")) {
            *written = !stage_text(text, s, 0);
            return NULL;
        }
        if (!is(q, "/taskList"))
            return NULL;
        char off[24], len[24];
        arg(query, "offset", off, sizeof off);
        arg(query, "length", len, sizeof len);
        long o = *off ? atol(off) : 0, n = *len ? atol(len) : 20;
        task_list_text(text, s, o, n);
        *written = true;
        return NULL;
    }
    if (is(p, "/executors") || is(p, "/allexecutors"))
        return executors_json(m, is(p, "/allexecutors"));
    if (is(p, "/environment"))
        return environment_json(m);
    return NULL;
}

void ember__ui_rest(ui_model *const *models, int n, const char *path, const char *query,
                    ui_reply *r)
{
    json_t *out = NULL;
    bool written = false; /* the answer is in r->body already */
    if (is(path, "/version")) {
        out = json_pack("{s:s}", "spark", "ember");
    } else if (is(path, "/applications") || !*path || !strcmp(path, "/")) {
        app_filter f;
        char why[120];
        int bad = app_filter_parse(query, &f, why, sizeof why);
        if (bad) {
            r->type = "application/json";
            r->status = bad;
            ember__bprintf(&r->body, "{\"error\": \"%s\"}\n", why);
            return;
        }
        int *order = ember__ui_newest_first(models, n);
        if (!order) {
            r->status = 500;
            return;
        }
        out = json_array();
        for (int k = 0, listed = 0; k < n && listed < f.limit; k++)
            if (app_wanted(models[order[k]], &f)) {
                json_array_append_new(out, app_json(models[order[k]]));
                listed++;
            }
        ember__free(order);
    } else if (!strncmp(path, "/applications/", 14)) {
        const char *id = path + 14, *slash = strchr(id, '/');
        size_t len = slash ? (size_t)(slash - id) : strlen(id);
        const char *states = bad_status(slash ? slash : "", query);
        if (states) {
            r->type = "application/json";
            r->status = 404;
            ember__bprintf(&r->body, "{\"error\": \"status is %s\"}\n", states);
            return;
        }
        for (int i = 0; i < n && !out && !written && !r->body.len; i++)
            if (models[i]->app_id && strlen(models[i]->app_id) == len &&
                !strncmp(models[i]->app_id, id, len))
                out = app_route(models[i], slash ? slash : "", query, &r->body, &written);
    }
    r->type = "application/json";
    if (written) {
        r->status = 200;
        ember_buf_append(&r->body, "\n", 1);
        return;
    }
    if (!out && r->body.len) { /* a written answer cut short: out of memory */
        r->body.len = 0;
        r->status = 500;
        return;
    }
    if (!out) {
        r->status = 404;
        ember__bprintf(&r->body, "{\"error\": \"no such path: ");
        for (const char *p = path; *p && p - path < 200; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
                ember_buf_append(&r->body, p, 1);
        ember__bprintf(&r->body, "\"}\n");
        return;
    }
    char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(out);
    if (!s) {
        r->status = 500;
        return;
    }
    r->status = 200;
    ember_buf_append(&r->body, s, strlen(s));
    ember_buf_append(&r->body, "\n", 1);
    free(s);
}
