/* Events as Spark's event log writes them, and back: one JSON object a line,
 * "Event" naming it (SparkListenerJobStart, ...), Spark's field names and
 * nesting ("Task Info", "Task Metrics", "Stage Info"), times in milliseconds
 * since the epoch; what Spark has no field for carries an "ember." name.
 * docs/ui.md lists every field. The reader takes back exactly what the writer
 * wrote, so a replayed log gives the model the live UI had.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ui/ui.h"

static json_int_t msj(uint64_t ns)
{
    return (json_int_t)(ns / 1000000);
}

static json_t *metrics_json(const ember_task_metrics *m)
{
    return json_pack(
        "{s:I, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, "
        "s:I}, s:I, s:I, s:I, s:I}",
        "Executor Run Time", msj(m->run_ns), "ember.User Time", msj(m->user_ns), "Input Metrics",
        "Bytes Read", (json_int_t)0, "Records Read", (json_int_t)m->records_in, "Output Metrics",
        "Bytes Written", (json_int_t)0, "Records Written", (json_int_t)m->records_out,
        "Shuffle Read Metrics", "Remote Blocks Fetched", (json_int_t)0, "Local Blocks Fetched",
        (json_int_t)0, "Fetch Wait Time", (json_int_t)0, "Remote Bytes Read", (json_int_t)0,
        "Local Bytes Read", (json_int_t)m->shuffle_read_bytes, "Total Records Read",
        (json_int_t)m->shuffle_read_records, "Shuffle Write Metrics", "Shuffle Bytes Written",
        (json_int_t)m->shuffle_write_bytes, "Shuffle Write Time", (json_int_t)0,
        "Shuffle Records Written", (json_int_t)m->shuffle_write_records, "Memory Bytes Spilled",
        (json_int_t)0, "Disk Bytes Spilled", (json_int_t)m->spill_bytes, "ember.Records Bad",
        (json_int_t)m->records_bad, "ember.Spill Count", (json_int_t)m->spill_count);
}

static const char *stage_kind(int kind)
{
    return kind == EMBER_STAGE_SHUFFLE_MAP ? "ShuffleMapStage" : "ResultStage";
}

static json_t *task_info(const ember_event *ev)
{
    return json_pack("{s:I, s:i, s:i, s:i, s:I, s:s, s:s, s:s, s:b, s:i}", "Task ID",
                     (json_int_t)ev->task_id, "Index", ev->task_index, "Attempt", ev->attempt - 1,
                     "Partition ID", ev->partition, "Launch Time",
                     msj(ev->time_ns) - (ev->type == EMBER_EV_TASK_END ? msj(ev->duration_ns) : 0),
                     "Executor ID", "driver", "Host", "localhost", "Locality", "PROCESS_LOCAL",
                     "Speculative", 0, "ember.Thread", ev->worker);
}

static json_t *event_json(const ember_event *ev)
{
    json_int_t t = msj(ev->time_ns);
    const char *name = ember_event_name(ev->type);
    switch (ev->type) {
    case EMBER_EV_APP_START:
        return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:I}", "Event", name, "App Name",
                         ev->app_name ? ev->app_name : "", "App ID", ev->app_id ? ev->app_id : "",
                         "Timestamp", t, "User", getenv("USER") ? getenv("USER") : "",
                         "ember.Master", ev->master ? ev->master : "", "ember.Cores", ev->cores,
                         "ember.Memory Budget", (json_int_t)ev->memory_budget);
    case EMBER_EV_APP_END:
        return json_pack("{s:s, s:I}", "Event", name, "Timestamp", t);
    case EMBER_EV_JOB_START:
        return json_pack("{s:s, s:I, s:I, s:[], s:[], s:{s:s}}", "Event", name, "Job ID",
                         (json_int_t)ev->job_id, "Submission Time", t, "Stage Infos", "Stage IDs",
                         "Properties", "ember.action", ev->job_name ? ev->job_name : "");
    case EMBER_EV_JOB_END: {
        json_t *res = ev->failed ? json_pack("{s:s, s:{s:s}}", "Result", "JobFailed", "Exception",
                                             "Message", ev->error ? ev->error : "")
                                 : json_pack("{s:s}", "Result", "JobSucceeded");
        return json_pack("{s:s, s:I, s:I, s:o, s:i, s:i, s:I, s:o}", "Event", name, "Job ID",
                         (json_int_t)ev->job_id, "Completion Time", t, "Job Result", res,
                         "ember.Stages", ev->stages, "ember.Failed Tasks", ev->tasks_failed,
                         "ember.Duration", msj(ev->duration_ns), "ember.Task Metrics",
                         metrics_json(&ev->metrics));
    }
    case EMBER_EV_STAGE_SUBMITTED:
        return json_pack(
            "{s:s, s:{s:I, s:i, s:s, s:i, s:I, s:s, s:s, s:I, s:i}, s:{}}", "Event", name,
            "Stage Info", "Stage ID", (json_int_t)ev->stage_id, "Stage Attempt ID", 0, "Stage Name",
            ev->stage_name && *ev->stage_name ? ev->stage_name : "", "Number of Tasks",
            ev->num_tasks, "Submission Time", t, "Details", ev->job_name ? ev->job_name : "",
            "ember.Kind", stage_kind(ev->stage_kind), "ember.Job ID", (json_int_t)ev->job_id,
            "ember.Max Attempts", ev->max_attempts, "Properties");
    case EMBER_EV_STAGE_COMPLETED: {
        json_t *info =
            json_pack("{s:I, s:i, s:i, s:I, s:I, s:i, s:i, s:I, s:I, s:I}", "Stage ID",
                      (json_int_t)ev->stage_id, "Stage Attempt ID", 0, "Number of Tasks",
                      ev->num_tasks, "Completion Time", t, "ember.Job ID", (json_int_t)ev->job_id,
                      "ember.Failed Tasks", ev->tasks_failed, "ember.Attempts", ev->attempt,
                      "ember.Scheduler Delay", msj(ev->sched_ns), "ember.Gather Time",
                      msj(ev->gather_ns), "ember.Duration", msj(ev->duration_ns));
        if (info && ev->failed)
            json_object_set_new(info, "Failure Reason", json_string(ev->error ? ev->error : ""));
        return json_pack("{s:s, s:o, s:o}", "Event", name, "Stage Info", info, "ember.Task Metrics",
                         metrics_json(&ev->metrics));
    }
    case EMBER_EV_TASK_START:
        return json_pack("{s:s, s:I, s:i, s:o}", "Event", name, "Stage ID",
                         (json_int_t)ev->stage_id, "Stage Attempt ID", 0, "Task Info",
                         task_info(ev));
    case EMBER_EV_TASK_END: {
        json_t *info = task_info(ev), *accs = json_array();
        for (int i = 0; accs && i < ev->naccums; i++) {
            const ember_accumulable *a = &ev->accums[i];
            json_array_append_new(
                accs, a->is_f64
                          ? json_pack("{s:s, s:f}", "Name", a->name, "Update", a->f64)
                          : json_pack("{s:s, s:I}", "Name", a->name, "Update", (json_int_t)a->i64));
        }
        if (info) {
            json_object_set_new(info, "Finish Time", json_integer(t));
            json_object_set_new(info, "Failed", json_boolean(ev->failed));
            json_object_set_new(info, "ember.Duration", json_integer(msj(ev->duration_ns)));
            json_object_set_new(info, "Accumulables", accs ? accs : json_array());
        }
        json_t *reason =
            ev->failed ? json_pack("{s:s, s:s, s:i}", "Reason", "ExceptionFailure", "Description",
                                   ev->error ? ev->error : "", "ember.Code", ev->code)
                       : json_pack("{s:s}", "Reason", "Success");
        return json_pack("{s:s, s:I, s:i, s:s, s:o, s:o, s:o}", "Event", name, "Stage ID",
                         (json_int_t)ev->stage_id, "Stage Attempt ID", 0, "Task Type",
                         ev->stage_kind == EMBER_STAGE_SHUFFLE_MAP ? "ShuffleMapTask"
                                                                   : "ResultTask",
                         "Task End Reason", reason, "Task Info", info, "Task Metrics",
                         metrics_json(&ev->metrics));
    }
    case EMBER_EV_HTTP: {
        const ember_http_status *h = ev->http;
        if (!h)
            return NULL;
        json_t *lat = json_array();
        for (int i = 0; lat && i < EMBER_HTTP_LAT_BINS; i++)
            json_array_append_new(lat, json_integer(h->latency[i]));
        return json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:o}",
            "Event", name, "Timestamp", t, "Stage ID", (json_int_t)ev->stage_id, "RDD ID",
            (json_int_t)h->rdd_id, "Sent", (json_int_t)h->sent, "Succeeded",
            (json_int_t)h->succeeded, "Retried", (json_int_t)h->retried, "Throttled",
            (json_int_t)h->throttled, "Failed", (json_int_t)h->failed, "Resumed",
            (json_int_t)h->resumed, "Done", (json_int_t)h->done, "In Flight",
            (json_int_t)h->in_flight, "Rate", h->rate, "Tokens", h->tokens, "Paused", h->paused_s,
            "Latency", lat ? lat : json_array());
    }
    case EMBER_EV_SPILL:
        return json_pack("{s:s, s:I, s:I, s:i, s:I, s:I}", "Event", name, "Timestamp", t,
                         "Stage ID", (json_int_t)ev->stage_id, "Partition", ev->partition, "Bytes",
                         (json_int_t)ev->bytes, "Memory Budget", (json_int_t)ev->memory_budget);
    case EMBER_EV_BAD_RECORDS: {
        json_t *samples = json_array();
        for (int i = 0; samples && ev->bad_samples && ev->bad_samples[i]; i++)
            json_array_append_new(samples, json_string(ev->bad_samples[i]));
        return json_pack("{s:s, s:I, s:I, s:i, s:s, s:I, s:s?, s:o}", "Event", name, "Timestamp", t,
                         "Stage ID", (json_int_t)ev->stage_id, "Partition", ev->partition, "Reader",
                         ev->bad_op ? ev->bad_op : "", "Count", (json_int_t)ev->bad_count,
                         "Diverted To", ev->bad_dir, "Samples", samples ? samples : json_array());
    }
    default:
        return NULL;
    }
}

static int dump_line(json_t *j, ember_buf *out)
{
    if (!j)
        return EMBER_ENOMEM;
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(j);
    if (!s)
        return EMBER_ENOMEM;
    int rc = ember_buf_append(out, s, strlen(s)) || ember_buf_append(out, "\n", 1);
    free(s);
    return rc ? EMBER_ENOMEM : 0;
}

int ember__ui_event_json(const ember_event *ev, ember_buf *out)
{
    int rc = dump_line(event_json(ev), out);
    if (rc || ev->type != EMBER_EV_APP_START)
        return rc;
    /* then Spark's EnvironmentUpdate: the settings */
    json_t *props = json_object();
    for (int i = 0; props && ev->props && ev->props[i] && ev->props[i + 1]; i += 2)
        json_object_set_new(props, ev->props[i], json_string(ev->props[i + 1]));
    return dump_line(json_pack("{s:s, s:o, s:{}, s:{}}", "Event", "SparkListenerEnvironmentUpdate",
                               "Spark Properties", props ? props : json_object(),
                               "System Properties", "JVM Information"),
                     out);
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
