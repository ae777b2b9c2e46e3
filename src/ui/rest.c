/* Spark's REST API (/api/v1), from the model: the same paths and the same JSON
 * field names, so a script written against Spark's reads ember's.
 *
 *   /applications                              the application (history: all)
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
    json_object_set_new(att, "sparkUser", json_string(getenv("USER") ? getenv("USER") : ""));
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

static json_t *task_metrics(const ember_task_metrics *mt)
{
    return json_pack(
        "{s:i, s:i, s:I, s:i, s:i, s:i, s:i, s:i, s:I, s:i, s:{s:i, s:I}, s:{s:i, "
        "s:I}, s:{s:i, s:i, s:i, s:i, s:i, s:I, s:I}, s:{s:I, s:i, s:I}}",
        "executorDeserializeTime", 0, "executorDeserializeCpuTime", 0, "executorRunTime",
        (json_int_t)(mt->run_ns / 1000000), "executorCpuTime", 0, "resultSize", 0, "jvmGcTime", 0,
        "resultSerializationTime", 0, "memoryBytesSpilled", 0, "diskBytesSpilled",
        (json_int_t)mt->spill_bytes, "peakExecutionMemory", 0, "inputMetrics", "bytesRead", 0,
        "recordsRead", (json_int_t)mt->records_in, "outputMetrics", "bytesWritten", 0,
        "recordsWritten", (json_int_t)mt->records_out, "shuffleReadMetrics", "remoteBlocksFetched",
        0, "localBlocksFetched", 0, "fetchWaitTime", 0, "remoteBytesRead", 0,
        "remoteBytesReadToDisk", 0, "localBytesRead", (json_int_t)mt->shuffle_read_bytes,
        "recordsRead", (json_int_t)mt->shuffle_read_records, "shuffleWriteMetrics", "bytesWritten",
        (json_int_t)mt->shuffle_write_bytes, "writeTime", 0, "recordsWritten",
        (json_int_t)mt->shuffle_write_records);
}

static json_t *task_json(const ui_task *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "taskId", json_integer(t->task_id));
    json_object_set_new(o, "index", json_integer(t->index));
    json_object_set_new(o, "attempt", json_integer(t->attempt - 1));
    json_object_set_new(o, "partitionId", json_integer(t->partition));
    json_object_set_new(o, "launchTime", date(t->launch_ms));
    if (t->duration_ms >= 0)
        json_object_set_new(o, "duration", json_integer(t->duration_ms));
    json_object_set_new(o, "executorId", json_string("driver"));
    json_object_set_new(o, "host", json_string("localhost"));
    json_object_set_new(o, "status",
                        json_string(t->status == UI_RUNNING     ? "RUNNING"
                                    : t->status == UI_SUCCEEDED ? "SUCCESS"
                                                                : "FAILED"));
    json_object_set_new(o, "taskLocality", json_string("PROCESS_LOCAL"));
    json_object_set_new(o, "speculative", json_false());
    json_object_set_new(o, "accumulatorUpdates", json_array());
    if (t->error)
        json_object_set_new(o, "errorMessage", json_string(t->error));
    if (t->status != UI_RUNNING)
        json_object_set_new(o, "taskMetrics", task_metrics(&t->m));
    json_object_set_new(o, "executorLogs", json_object());
    json_object_set_new(o, "schedulerDelay", json_integer(0));
    json_object_set_new(o, "gettingResultTime", json_integer(0));
    json_object_set_new(o, "ember.thread", json_integer(t->worker));
    return o;
}

static json_t *stage_json(const ui_stage *s, bool with_tasks)
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
    if (with_tasks) {
        json_t *tasks = json_object();
        for (int k = 0; k < s->ntasks; k++) {
            char id[32];
            snprintf(id, sizeof id, "%lld", (long long)s->tasks[k].task_id);
            json_object_set_new(tasks, id, task_json(&s->tasks[k]));
        }
        json_object_set_new(o, "tasks", tasks);
    }
    return o;
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
        done += m->w_done[i];
        failed += m->w_failed[i];
        ms += m->w_ms[i];
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
    for (int i = 0; a && m->master && !strncmp(m->master, "process", 7) && i < m->nprocs; i++)
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

static bool status_matches(const char *want, const char *status)
{
    return !*want || !strcasecmp(want, status);
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

static json_t *app_route(const ui_model *m, const char *p, const char *query)
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
                json_array_append_new(a, stage_json(&m->stages[i], false));
        return a;
    }
    if (!strncmp(p, "/stages/", 8)) {
        const char *q = p + 7;
        int64_t id, att;
        const ui_stage *s;
        if (!seg_int(&q, &id) || !(s = ember__ui_stage(m, id)))
            return NULL;
        if (!*q || !strcmp(q, "/"))
            return json_pack("[o]", stage_json(s, true));
        if (!seg_int(&q, &att) || att != 0)
            return NULL;
        if (!*q || !strcmp(q, "/"))
            return stage_json(s, true);
        if (!is(q, "/taskList"))
            return NULL;
        char off[24], len[24];
        arg(query, "offset", off, sizeof off);
        arg(query, "length", len, sizeof len);
        long o = *off ? atol(off) : 0, n = *len ? atol(len) : 20;
        json_t *a = json_array();
        for (long k = o < 0 ? 0 : o; k < s->ntasks && k < o + n; k++)
            json_array_append_new(a, task_json(&s->tasks[k]));
        return a;
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
    if (is(path, "/version")) {
        out = json_pack("{s:s}", "spark", "ember");
    } else if (is(path, "/applications") || !*path || !strcmp(path, "/")) {
        out = json_array();
        for (int i = n - 1; i >= 0; i--)
            json_array_append_new(out, app_json(models[i]));
    } else if (!strncmp(path, "/applications/", 14)) {
        const char *id = path + 14, *slash = strchr(id, '/');
        size_t len = slash ? (size_t)(slash - id) : strlen(id);
        for (int i = 0; i < n && !out; i++)
            if (models[i]->app_id && strlen(models[i]->app_id) == len &&
                !strncmp(models[i]->app_id, id, len))
                out = app_route(models[i], slash ? slash : "", query);
    }
    r->type = "application/json";
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
