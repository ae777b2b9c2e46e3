/* Events as Spark's event log writes them, and back: one JSON object a line,
 * "Event" naming it (SparkListenerJobStart, ...), Spark's field names and
 * nesting ("Task Info", "Task Metrics", "Stage Info"), times in milliseconds
 * since the epoch; what Spark has no field for carries an "ember." name.
 * docs/ui.md lists every field. The reader takes back exactly what the writer
 * wrote, so a replayed log gives the model the live UI had.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ui/ui.h"

/* ---------------------------------------------------------------- writing */

/* A JSON writer into a buffer that keeps its first failure: the event log's
 * lines are written by hand (no tree, no allocation a field), a few hundred
 * nanoseconds an event. */
typedef struct jw {
    ember_buf *b;
    int err;
} jw;

static inline void raw(jw *w, const char *s, size_t n)
{
    ember_buf *b = w->b;
    if (__builtin_expect(b->cap - b->len >= n, 1)) { /* room: a copy, no call */
        memcpy(b->ptr + b->len, s, n);
        b->len += n;
    } else if (!w->err && ember_buf_append(b, s, n)) {
        w->err = EMBER_ENOMEM;
    }
}
#define LIT(w, s) raw(w, "" s, sizeof(s) - 1) /* ("" s: literals only) */

/* v in decimal: two digits a step from a table, and one store for the small
 * values most fields hold (counts, indexes, zeros). */
static void num(jw *w, int64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    ember_buf *b = w->b;
    if ((uint64_t)v < 10 && b->cap > b->len) {
        b->ptr[b->len++] = (char)('0' + v);
        return;
    }
    char t[24], *p = t + sizeof t;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    raw(w, p, (size_t)(t + sizeof t - p));
}

static void fnum(jw *w, double v)
{
    char t[40];
    int n = snprintf(t, sizeof t, "%.17g", v == v && v - v == 0 ? v : 0.0);
    raw(w, t, (size_t)n);
    if (!strpbrk(t, ".eE")) /* a double reads back as one */
        LIT(w, ".0");
}

/* s as a JSON string (NULL as ""): core's writer (invalid UTF-8 as U+FFFD,
 * so a line is always valid JSON). */
static void str(jw *w, const char *s)
{
    if (!w->err && ember__json_str(w->b, ember_bytes_of(s ? s : "", s ? strlen(s) : 0)))
        w->err = EMBER_ENOMEM;
}

static char user_name[256];

static void find_user(void)
{
    const char *u = getenv("USER");
    if (!u || !*u) {
        struct passwd pw, *got = NULL;
        char buf[4096];
        u = !getpwuid_r(geteuid(), &pw, buf, sizeof buf, &got) && got ? got->pw_name : "";
        snprintf(user_name, sizeof user_name, "%s", u);
        return;
    }
    snprintf(user_name, sizeof user_name, "%s", u);
}

const char *ember__ui_user(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_user);
    return user_name;
}

static int64_t msj(uint64_t ns)
{
    return (int64_t)(ns / 1000000);
}

/* Spark's task metrics, those ember measures (what it does not, CPU and GC
 * time, bytes read from files, remote fetches, is left out) */
static void metrics(jw *w, const ember_task_metrics *m)
{
    LIT(w, "{\"Executor Run Time\":");
    num(w, msj(m->run_ns));
    LIT(w, ",\"ember.User Time\":");
    num(w, msj(m->user_ns));
    LIT(w, ",\"Input Metrics\":{\"Records Read\":");
    num(w, m->records_in);
    LIT(w, "},\"Output Metrics\":{\"Records Written\":");
    num(w, m->records_out);
    LIT(w, "},\"Shuffle Read Metrics\":{\"Local Bytes Read\":");
    num(w, m->shuffle_read_bytes);
    LIT(w, ",\"Total Records Read\":");
    num(w, m->shuffle_read_records);
    LIT(w, "},\"Shuffle Write Metrics\":{\"Shuffle Bytes Written\":");
    num(w, m->shuffle_write_bytes);
    LIT(w, ",\"Shuffle Records Written\":");
    num(w, m->shuffle_write_records);
    LIT(w, "},\"Disk Bytes Spilled\":");
    num(w, m->spill_bytes);
    LIT(w, ",\"ember.Records Bad\":");
    num(w, m->records_bad);
    LIT(w, ",\"ember.Spill Count\":");
    num(w, m->spill_count);
    LIT(w, "}");
}

static void event(jw *w, const char *name) /* name: ember's, plain ASCII */
{
    LIT(w, "{\"Event\":\"");
    raw(w, name, strlen(name));
    LIT(w, "\"");
}

static void task_info(jw *w, const ember_event *ev)
{
    LIT(w, ",\"Task Info\":{\"Task ID\":");
    num(w, ev->task_id);
    LIT(w, ",\"Index\":");
    num(w, ev->task_index);
    LIT(w, ",\"Attempt\":");
    num(w, ev->attempt - 1);
    LIT(w, ",\"Partition ID\":");
    num(w, ev->partition);
    LIT(w, ",\"Launch Time\":");
    num(w, msj(ev->time_ns) - (ev->type == EMBER_EV_TASK_END ? msj(ev->duration_ns) : 0));
    LIT(w, ",\"Executor ID\":\"driver\",\"Host\":\"localhost\",\"ember.Thread\":");
    num(w, ev->worker);
    LIT(w, ",\"ember.Worker PID\":");
    num(w, ev->worker_pid);
    if (ev->worker_lost)
        LIT(w, ",\"ember.Worker Lost\":true");
}

static void write_event(jw *w, const ember_event *ev)
{
    int64_t t = msj(ev->time_ns);
    event(w, ember_event_name(ev->type));
    switch (ev->type) {
    case EMBER_EV_APP_START:
        LIT(w, ",\"App Name\":");
        str(w, ev->app_name);
        LIT(w, ",\"App ID\":");
        str(w, ev->app_id);
        LIT(w, ",\"Timestamp\":");
        num(w, t);
        LIT(w, ",\"User\":");
        str(w, ember__ui_user());
        LIT(w, ",\"ember.Master\":");
        str(w, ev->master);
        LIT(w, ",\"ember.Cores\":");
        num(w, ev->cores);
        LIT(w, ",\"ember.Memory Budget\":");
        num(w, ev->memory_budget);
        LIT(w, "}\n");
        /* then Spark's EnvironmentUpdate: the settings */
        event(w, "SparkListenerEnvironmentUpdate");
        LIT(w, ",\"Spark Properties\":{");
        for (int i = 0; ev->props && ev->props[i] && ev->props[i + 1]; i += 2) {
            if (i)
                LIT(w, ",");
            str(w, ev->props[i]);
            LIT(w, ":");
            str(w, ev->props[i + 1]);
        }
        LIT(w, "},\"System Properties\":{},\"JVM Information\":{}");
        break;
    case EMBER_EV_APP_END:
        LIT(w, ",\"Timestamp\":");
        num(w, t);
        break;
    case EMBER_EV_JOB_START:
        LIT(w, ",\"Job ID\":");
        num(w, ev->job_id);
        LIT(w, ",\"Submission Time\":");
        num(w, t);
        LIT(w, ",\"Stage Infos\":[],\"Stage IDs\":[],\"Properties\":{\"ember.action\":");
        str(w, ev->job_name);
        LIT(w, "}");
        break;
    case EMBER_EV_JOB_END:
        LIT(w, ",\"Job ID\":");
        num(w, ev->job_id);
        LIT(w, ",\"Completion Time\":");
        num(w, t);
        if (ev->failed) {
            LIT(w, ",\"Job Result\":{\"Result\":\"JobFailed\",\"Exception\":{\"Message\":");
            str(w, ev->error);
            LIT(w, "}}");
        } else {
            LIT(w, ",\"Job Result\":{\"Result\":\"JobSucceeded\"}");
        }
        LIT(w, ",\"ember.Stages\":");
        num(w, ev->stages);
        LIT(w, ",\"ember.Failed Tasks\":");
        num(w, ev->tasks_failed);
        LIT(w, ",\"ember.Duration\":");
        num(w, msj(ev->duration_ns));
        LIT(w, ",\"ember.Task Metrics\":");
        metrics(w, &ev->metrics);
        break;
    case EMBER_EV_STAGE_SUBMITTED:
        LIT(w, ",\"Stage Info\":{\"Stage ID\":");
        num(w, ev->stage_id);
        LIT(w, ",\"Stage Attempt ID\":0,\"Stage Name\":");
        str(w, ev->stage_name);
        LIT(w, ",\"Number of Tasks\":");
        num(w, ev->num_tasks);
        LIT(w, ",\"Submission Time\":");
        num(w, t);
        LIT(w, ",\"Details\":");
        str(w, ev->job_name);
        LIT(w, ",\"ember.Kind\":");
        str(w, ev->stage_kind == EMBER_STAGE_SHUFFLE_MAP ? "ShuffleMapStage" : "ResultStage");
        LIT(w, ",\"ember.Job ID\":");
        num(w, ev->job_id);
        LIT(w, ",\"ember.Max Attempts\":");
        num(w, ev->max_attempts);
        LIT(w, "},\"Properties\":{}");
        break;
    case EMBER_EV_STAGE_COMPLETED:
        LIT(w, ",\"Stage Info\":{\"Stage ID\":");
        num(w, ev->stage_id);
        LIT(w, ",\"Stage Attempt ID\":0,\"Number of Tasks\":");
        num(w, ev->num_tasks);
        LIT(w, ",\"Completion Time\":");
        num(w, t);
        LIT(w, ",\"ember.Job ID\":");
        num(w, ev->job_id);
        LIT(w, ",\"ember.Failed Tasks\":");
        num(w, ev->tasks_failed);
        LIT(w, ",\"ember.Attempts\":");
        num(w, ev->attempt);
        LIT(w, ",\"ember.Scheduler Delay\":");
        num(w, msj(ev->sched_ns));
        LIT(w, ",\"ember.Gather Time\":");
        num(w, msj(ev->gather_ns));
        LIT(w, ",\"ember.Duration\":");
        num(w, msj(ev->duration_ns));
        if (ev->failed) {
            LIT(w, ",\"Failure Reason\":");
            str(w, ev->error);
        }
        LIT(w, "},\"ember.Task Metrics\":");
        metrics(w, &ev->metrics);
        break;
    case EMBER_EV_TASK_START:
        LIT(w, ",\"Stage ID\":");
        num(w, ev->stage_id);
        LIT(w, ",\"Stage Attempt ID\":0");
        task_info(w, ev);
        LIT(w, "}");
        break;
    case EMBER_EV_TASK_END:
        LIT(w, ",\"Stage ID\":");
        num(w, ev->stage_id);
        LIT(w, ",\"Stage Attempt ID\":0,\"Task Type\":");
        if (ev->stage_kind == EMBER_STAGE_SHUFFLE_MAP)
            LIT(w, "\"ShuffleMapTask\"");
        else
            LIT(w, "\"ResultTask\"");
        if (ev->failed) {
            LIT(w, ",\"Task End Reason\":{\"Reason\":\"ExceptionFailure\",\"Description\":");
            str(w, ev->error);
            LIT(w, ",\"ember.Code\":");
            num(w, ev->code);
            LIT(w, "}");
        } else {
            LIT(w, ",\"Task End Reason\":{\"Reason\":\"Success\"}");
        }
        task_info(w, ev);
        LIT(w, ",\"Finish Time\":");
        num(w, t);
        if (ev->failed)
            LIT(w, ",\"Failed\":true");
        else
            LIT(w, ",\"Failed\":false");
        LIT(w, ",\"ember.Duration\":");
        num(w, msj(ev->duration_ns));
        LIT(w, ",\"Accumulables\":[");
        for (int i = 0; i < ev->naccums; i++) {
            if (i)
                LIT(w, ",");
            LIT(w, "{\"Name\":");
            str(w, ev->accums[i].name);
            LIT(w, ",\"Update\":");
            if (ev->accums[i].is_f64)
                fnum(w, ev->accums[i].f64);
            else
                num(w, ev->accums[i].i64);
            LIT(w, "}");
        }
        LIT(w, "]},\"Task Metrics\":");
        metrics(w, &ev->metrics);
        break;
    case EMBER_EV_HTTP: {
        const ember_http_status *h = ev->http;
        static const ember_http_status none;
        if (!h)
            h = &none;
        LIT(w, ",\"Timestamp\":");
        num(w, t);
        LIT(w, ",\"Stage ID\":");
        num(w, ev->stage_id);
        const struct {
            const char *k;
            int64_t v;
        } f[] = {{",\"RDD ID\":", h->rdd_id},       {",\"Sent\":", h->sent},
                 {",\"Succeeded\":", h->succeeded}, {",\"Retried\":", h->retried},
                 {",\"Throttled\":", h->throttled}, {",\"Failed\":", h->failed},
                 {",\"Resumed\":", h->resumed},     {",\"Done\":", h->done},
                 {",\"In Flight\":", h->in_flight}};
        for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
            raw(w, f[i].k, strlen(f[i].k));
            num(w, f[i].v);
        }
        LIT(w, ",\"Rate\":");
        fnum(w, h->rate);
        LIT(w, ",\"Tokens\":");
        fnum(w, h->tokens);
        LIT(w, ",\"Paused\":");
        fnum(w, h->paused_s);
        LIT(w, ",\"Latency\":[");
        for (int i = 0; i < EMBER_HTTP_LAT_BINS; i++) {
            if (i)
                LIT(w, ",");
            num(w, h->latency[i]);
        }
        LIT(w, "]");
        break;
    }
    case EMBER_EV_SPILL:
        LIT(w, ",\"Timestamp\":");
        num(w, t);
        LIT(w, ",\"Stage ID\":");
        num(w, ev->stage_id);
        LIT(w, ",\"Partition\":");
        num(w, ev->partition);
        LIT(w, ",\"Bytes\":");
        num(w, ev->bytes);
        LIT(w, ",\"Memory Budget\":");
        num(w, ev->memory_budget);
        break;
    case EMBER_EV_BAD_RECORDS:
        LIT(w, ",\"Timestamp\":");
        num(w, t);
        LIT(w, ",\"Stage ID\":");
        num(w, ev->stage_id);
        LIT(w, ",\"Partition\":");
        num(w, ev->partition);
        LIT(w, ",\"Reader\":");
        str(w, ev->bad_op);
        LIT(w, ",\"Count\":");
        num(w, ev->bad_count);
        if (ev->bad_dir) {
            LIT(w, ",\"Diverted To\":");
            str(w, ev->bad_dir);
        }
        LIT(w, ",\"Samples\":[");
        for (int i = 0; ev->bad_samples && ev->bad_samples[i]; i++) {
            if (i)
                LIT(w, ",");
            str(w, ev->bad_samples[i]);
        }
        LIT(w, "]");
        break;
    default:
        break;
    }
    LIT(w, "}\n");
}

int ember__ui_event_json(const ember_event *ev, ember_buf *out)
{
    if (ev->type <= 0 || ev->type >= EMBER_EV_COUNT)
        return 0;
    size_t before = out->len;
    jw w = {out, 0};
    if (ember__buf_reserve(out, 4096)) /* a line's usual size at most: the fast path */
        return EMBER_ENOMEM;
    write_event(&w, ev);
    if (w.err)
        out->len = before; /* whole lines or nothing */
    return w.err;
}

/* ---------------------------------------------------------------- reading back */

static int64_t geti(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v)
           : json_is_real(v)  ? (int64_t)json_real_value(v)
                              : 0;
}

static double getf(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *gets(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static uint64_t ns(int64_t ms)
{
    return ms > 0 ? (uint64_t)ms * 1000000u : 0;
}

static void metrics_read(json_t *j, ember_task_metrics *m)
{
    if (!json_is_object(j))
        return;
    json_t *in = json_object_get(j, "Input Metrics"), *out = json_object_get(j, "Output Metrics"),
           *sr = json_object_get(j, "Shuffle Read Metrics"),
           *sw = json_object_get(j, "Shuffle Write Metrics");
    *m = (ember_task_metrics){.run_ns = ns(geti(j, "Executor Run Time")),
                              .user_ns = ns(geti(j, "ember.User Time")),
                              .records_in = geti(in, "Records Read"),
                              .records_out = geti(out, "Records Written"),
                              .records_bad = geti(j, "ember.Records Bad"),
                              .shuffle_write_records = geti(sw, "Shuffle Records Written"),
                              .shuffle_write_bytes = geti(sw, "Shuffle Bytes Written"),
                              .shuffle_read_records = geti(sr, "Total Records Read"),
                              .shuffle_read_bytes = geti(sr, "Local Bytes Read"),
                              .spill_count = geti(j, "ember.Spill Count"),
                              .spill_bytes = geti(j, "Disk Bytes Spilled")};
}

/* A NULL-terminated array of the strings of a JSON array (or, with pairs, of
 * an object's names and values), kept in the holder. */
static const char **strings(ui_parsed *p, json_t *v, bool pairs)
{
    size_t n = pairs ? 2 * json_object_size(v) : json_array_size(v), k = 0;
    const char **s = ember__calloc(n + 1, sizeof *s);
    if (!s)
        return NULL;
    if (pairs) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val)
        {
            if (!json_is_string(val))
                continue;
            s[k++] = key;
            s[k++] = json_string_value(val);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            if (json_is_string(json_array_get(v, i)))
                s[k++] = json_string_value(json_array_get(v, i));
    }
    p->strs = s;
    return s;
}

int ember__ui_event_parse(const char *line, size_t n, ui_parsed *p)
{
    *p = (ui_parsed){0};
    json_t *j = json_loadb(line, n, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return EMBER_EIO;
    }
    p->json = j;
    ember_event *ev = &p->ev;
    const char *name = gets(j, "Event");
    *ev = (ember_event){.error = ""};
    for (int t = 1; name && t < EMBER_EV_COUNT; t++)
        if (!strcmp(name, ember_event_name(t)))
            ev->type = t;
    if (name && !strcmp(name, "SparkListenerEnvironmentUpdate")) {
        p->env_update = 1;
        ev->type = EMBER_EV_APP_START;
        ev->props = strings(p, json_object_get(j, "Spark Properties"), true);
        return 1;
    }
    json_t *info = json_object_get(j, "Stage Info"), *ti = json_object_get(j, "Task Info");
    switch (ev->type) {
    case EMBER_EV_APP_START:
        ev->time_ns = ns(geti(j, "Timestamp"));
        ev->app_name = gets(j, "App Name");
        ev->app_id = gets(j, "App ID");
        p->user = gets(j, "User");
        ev->master = gets(j, "ember.Master");
        ev->cores = (int)geti(j, "ember.Cores");
        ev->memory_budget = geti(j, "ember.Memory Budget");
        break;
    case EMBER_EV_APP_END:
        ev->time_ns = ns(geti(j, "Timestamp"));
        break;
    case EMBER_EV_JOB_START:
        ev->job_id = geti(j, "Job ID");
        ev->time_ns = ns(geti(j, "Submission Time"));
        ev->job_name = gets(json_object_get(j, "Properties"), "ember.action");
        break;
    case EMBER_EV_JOB_END: {
        json_t *res = json_object_get(j, "Job Result");
        ev->job_id = geti(j, "Job ID");
        ev->time_ns = ns(geti(j, "Completion Time"));
        ev->failed = gets(res, "Result") && !strcmp(gets(res, "Result"), "JobFailed");
        const char *msg = gets(json_object_get(res, "Exception"), "Message");
        ev->error = msg ? msg : "";
        ev->stages = (int)geti(j, "ember.Stages");
        ev->tasks_failed = (int)geti(j, "ember.Failed Tasks");
        ev->duration_ns = ns(geti(j, "ember.Duration"));
        metrics_read(json_object_get(j, "ember.Task Metrics"), &ev->metrics);
        break;
    }
    case EMBER_EV_STAGE_SUBMITTED: {
        const char *kind = gets(info, "ember.Kind");
        ev->stage_id = geti(info, "Stage ID");
        ev->stage_name = gets(info, "Stage Name");
        ev->num_tasks = (int)geti(info, "Number of Tasks");
        ev->time_ns = ns(geti(info, "Submission Time"));
        ev->job_name = gets(info, "Details");
        ev->stage_kind = kind && !strcmp(kind, "ShuffleMapStage");
        ev->job_id = geti(info, "ember.Job ID");
        ev->max_attempts = (int)geti(info, "ember.Max Attempts");
        break;
    }
    case EMBER_EV_STAGE_COMPLETED: {
        const char *why = gets(info, "Failure Reason");
        ev->stage_id = geti(info, "Stage ID");
        ev->num_tasks = (int)geti(info, "Number of Tasks");
        ev->time_ns = ns(geti(info, "Completion Time"));
        ev->job_id = geti(info, "ember.Job ID");
        ev->tasks_failed = (int)geti(info, "ember.Failed Tasks");
        ev->attempt = (int)geti(info, "ember.Attempts");
        ev->sched_ns = ns(geti(info, "ember.Scheduler Delay"));
        ev->gather_ns = ns(geti(info, "ember.Gather Time"));
        ev->duration_ns = ns(geti(info, "ember.Duration"));
        ev->failed = why != NULL;
        ev->error = why ? why : "";
        metrics_read(json_object_get(j, "ember.Task Metrics"), &ev->metrics);
        break;
    }
    case EMBER_EV_TASK_START:
    case EMBER_EV_TASK_END: {
        ev->stage_id = geti(j, "Stage ID");
        ev->task_id = geti(ti, "Task ID");
        ev->task_index = (int)geti(ti, "Index");
        ev->attempt = (int)geti(ti, "Attempt") + 1;
        ev->partition = (int)geti(ti, "Partition ID");
        ev->worker = (int)geti(ti, "ember.Thread");
        ev->worker_pid = (int)geti(ti, "ember.Worker PID");
        ev->worker_lost = json_is_true(json_object_get(ti, "ember.Worker Lost"));
        ev->time_ns = ns(geti(ti, "Launch Time"));
        if (ev->type == EMBER_EV_TASK_START)
            break;
        json_t *reason = json_object_get(j, "Task End Reason");
        const char *desc = gets(reason, "Description");
        ev->time_ns = ns(geti(ti, "Finish Time"));
        ev->duration_ns = ns(geti(ti, "ember.Duration"));
        ev->failed = json_is_true(json_object_get(ti, "Failed"));
        ev->error = desc ? desc : "";
        ev->code = (int)geti(reason, "ember.Code");
        const char *type = gets(j, "Task Type");
        ev->stage_kind = type && !strcmp(type, "ShuffleMapTask");
        metrics_read(json_object_get(j, "Task Metrics"), &ev->metrics);
        json_t *accs = json_object_get(ti, "Accumulables");
        for (size_t i = 0; i < json_array_size(accs) && ev->naccums < 16; i++) {
            json_t *a = json_array_get(accs, i), *u = json_object_get(a, "Update");
            p->accs[ev->naccums++] = (ember_accumulable){.name = gets(a, "Name"),
                                                         .is_f64 = json_is_real(u),
                                                         .i64 = geti(a, "Update"),
                                                         .f64 = getf(a, "Update")};
        }
        ev->accums = p->accs;
        break;
    }
    case EMBER_EV_HTTP: {
        ember_http_status *h = &p->http;
        ev->time_ns = ns(geti(j, "Timestamp"));
        ev->stage_id = geti(j, "Stage ID");
        *h = (ember_http_status){.rdd_id = geti(j, "RDD ID"),
                                 .sent = geti(j, "Sent"),
                                 .succeeded = geti(j, "Succeeded"),
                                 .retried = geti(j, "Retried"),
                                 .throttled = geti(j, "Throttled"),
                                 .failed = geti(j, "Failed"),
                                 .resumed = geti(j, "Resumed"),
                                 .done = geti(j, "Done"),
                                 .in_flight = geti(j, "In Flight"),
                                 .rate = getf(j, "Rate"),
                                 .tokens = getf(j, "Tokens"),
                                 .paused_s = getf(j, "Paused")};
        json_t *lat = json_object_get(j, "Latency");
        for (int i = 0; i < EMBER_HTTP_LAT_BINS && i < (int)json_array_size(lat); i++)
            h->latency[i] = (int64_t)json_integer_value(json_array_get(lat, (size_t)i));
        ev->http = h;
        break;
    }
    case EMBER_EV_SPILL:
        ev->time_ns = ns(geti(j, "Timestamp"));
        ev->stage_id = geti(j, "Stage ID");
        ev->partition = (int)geti(j, "Partition");
        ev->bytes = geti(j, "Bytes");
        ev->memory_budget = geti(j, "Memory Budget");
        break;
    case EMBER_EV_BAD_RECORDS:
        ev->time_ns = ns(geti(j, "Timestamp"));
        ev->stage_id = geti(j, "Stage ID");
        ev->partition = (int)geti(j, "Partition");
        ev->bad_op = gets(j, "Reader");
        ev->bad_count = geti(j, "Count");
        ev->bad_dir = gets(j, "Diverted To");
        ev->bad_samples = strings(p, json_object_get(j, "Samples"), false);
        break;
    default:
        return 0; /* an event this version does not know */
    }
    return 1;
}

void ember__ui_parsed_free(ui_parsed *p)
{
    ember__free(p->strs);
    json_decref(p->json);
    *p = (ui_parsed){0};
}
