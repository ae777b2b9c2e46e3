/* The web UI's pages: plain HTML drawn on the server from the model, every
 * string from the application escaped. A page of a running application
 * carries data-live="1"; its script fetches the page again every second and
 * swaps in its content. Charts are inline SVG, drawn here.
 *
 *   jobs/              running, done and failed jobs, the last failure on top
 *   jobs/job/?id=N     a job's stages, with the operations each fuses
 *   stages/            every stage
 *   stages/stage/?id=N a stage's tasks, their quantiles, skew flagged
 *   executors/         the threads, and the cores in use over time
 *   http/              each ember_http stage: in flight, pace, 429 pauses,
 *                      retries, latency
 *   spills/            runs written past the memory budget
 *   bad/               records skipped or diverted, with file:line
 *   environment/       the settings
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ui/ui.h"

int ember__bprintf(ember_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EMBER_EINVAL;
    if ((size_t)n < sizeof small)
        return ember_buf_append(b, small, (size_t)n);
    if (ember__buf_reserve(b, (size_t)n + 1))
        return EMBER_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ember__html(ember_buf *b, const char *s)
{
    if (!s)
        return 0;
    int rc = 0;
    for (const char *p = s; *p && !rc; p++) {
        const char *e = NULL;
        switch (*p) {
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '&':
            e = "&amp;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        default:
            break;
        }
        rc = e ? ember_buf_append(b, e, strlen(e)) : ember_buf_append(b, p, 1);
    }
    return rc;
}

void ember__ui_date(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dGMT", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static const char *when(int64_t ms, char *buf, size_t cap)
{
    if (!ms)
        return "";
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, cap, "%04d/%02d/%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

static const char *dur(int64_t ms, char *buf, size_t cap)
{
    if (ms < 0)
        buf[0] = 0;
    else if (ms < 1000)
        snprintf(buf, cap, "%lld ms", (long long)ms);
    else if (ms < 60000)
        snprintf(buf, cap, "%.1f s", (double)ms / 1e3);
    else if (ms < 3600000)
        snprintf(buf, cap, "%.1f min", (double)ms / 6e4);
    else
        snprintf(buf, cap, "%.1f h", (double)ms / 3.6e6);
    return buf;
}

static const char *bytes(int64_t n, char *buf, size_t cap)
{
    if (n < 1024)
        snprintf(buf, cap, "%lld B", (long long)n);
    else if (n < 1024 * 1024)
        snprintf(buf, cap, "%.1f KiB", (double)n / 1024);
    else if (n < 1024ll * 1024 * 1024)
        snprintf(buf, cap, "%.1f MiB", (double)n / 1048576);
    else
        snprintf(buf, cap, "%.2f GiB", (double)n / 1073741824);
    return buf;
}

/* the model's "now": its end, or its newest event's time */
static int64_t now_ms(const ui_model *m)
{
    if (m->end_ms)
        return m->end_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void head(ember_buf *b, const ui_model *m, const char *base, const char *title, bool live)
{
    ember__bprintf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    ember__html(b, m->app_name);
    ember__bprintf(b, " - %s</title><link rel=\"stylesheet\" href=\"/static/ui.css\"></head>\n",
                   title);
    ember__bprintf(b, "<body data-live=\"%d\"><nav>", live);
    static const char *const tabs[][2] = {{"jobs", "Jobs"},
                                          {"stages", "Stages"},
                                          {"executors", "Executors"},
                                          {"http", "HTTP"},
                                          {"spills", "Spills"},
                                          {"bad", "Bad records"},
                                          {"environment", "Environment"}};
    for (size_t i = 0; i < sizeof tabs / sizeof *tabs; i++) {
        ember__bprintf(b, "<a href=\"");
        ember__html(b, base);
        ember__bprintf(b, "/%s/\">%s</a>", tabs[i][0], tabs[i][1]);
    }
    ember__bprintf(b, "<span class=\"app\">");
    ember__html(b, m->app_name);
    ember__bprintf(b, " &middot; ember UI</span></nav>\n<div id=\"main\">\n");
}

static void tail(ember_buf *b)
{
    ember__bprintf(b, "</div>\n<script src=\"/static/ui.js\"></script>\n</body></html>\n");
}

/* done of total as a bar: SVG attributes (the page's policy allows no inline style) */
static void progress_bar(ember_buf *b, int done, int total)
{
    int w = total > 0 ? (int)(160LL * done / total) : 0;
    ember__bprintf(b,
                   "<svg class=\"bar\" width=\"160\" height=\"12\"><rect width=\"160\" "
                   "height=\"12\" fill=\"#eee\" stroke=\"#aaa\"/><rect width=\"%d\" "
                   "height=\"12\" fill=\"#5a5\"/></svg> %d/%d",
                   w, done, total);
}

static void link(ember_buf *b, const char *base, const char *what, int64_t id, const char *text)
{
    ember__bprintf(b, "<a href=\"");
    ember__html(b, base);
    ember__bprintf(b, "/%s/?id=%lld\">", what, (long long)id);
    ember__html(b, text);
    ember__bprintf(b, "</a>");
}

/* ---------------------------------------------------------------- jobs */

static void job_tasks(const ui_model *m, const ui_job *j, int *done, int *total, int *stages_done)
{
    *done = *total = *stages_done = 0;
    for (int k = 0; k < j->nstages; k++) {
        const ui_stage *s = ember__ui_stage(m, j->stage_ids[k]);
        if (!s)
            continue;
        *done += s->complete;
        *total += s->num_tasks;
        *stages_done += s->status == UI_SUCCEEDED;
    }
}

/* "(n)", or as Spark once some were dropped: "(5000, only showing 1000)" */
static void count_shown(ember_buf *b, int64_t gone, int n)
{
    if (gone)
        ember__bprintf(b, "(%lld, only showing %d)", (long long)(gone + n), n);
    else
        ember__bprintf(b, "(%d)", n);
}

static void jobs_table(ember_buf *b, const ui_model *m, const char *base, int status,
                       const char *title)
{
    int n = 0;
    for (int i = 0; i < m->njobs; i++)
        n += m->jobs[i].id >= 0 && m->jobs[i].status == status;
    int64_t gone = status == UI_RUNNING ? 0 : m->jobs_gone[status];
    ember__bprintf(b, "<h3 id=\"%s\">%s ",
                   status == UI_RUNNING     ? "active"
                   : status == UI_SUCCEEDED ? "completed"
                                            : "failed",
                   title);
    count_shown(b, gone, n);
    ember__bprintf(b, "</h3>\n");
    if (!n)
        return;
    ember__bprintf(b,
                   "<table><tr><th>Job Id</th><th>Description</th><th>Submitted</th>"
                   "<th>Duration</th><th>Stages: Succeeded/Total</th><th>Tasks (for all "
                   "stages): Succeeded/Total</th>%s</tr>\n",
                   status == UI_FAILED ? "<th>Failure</th>" : "");
    char t1[64], t2[64], id[32];
    for (int i = m->njobs - 1; i >= 0; i--) {
        const ui_job *j = &m->jobs[i];
        if (j->id < 0 || j->status != status)
            continue;
        int done, total, sd;
        job_tasks(m, j, &done, &total, &sd);
        snprintf(id, sizeof id, "%lld", (long long)j->id);
        ember__bprintf(b, "<tr><td>");
        link(b, base, "jobs/job", j->id, id);
        ember__bprintf(b, "</td><td>");
        link(b, base, "jobs/job", j->id, j->name ? j->name : "");
        ember__bprintf(
            b, "</td><td>%s</td><td>%s</td><td>%d/%d</td><td>", when(j->submit_ms, t1, sizeof t1),
            dur((j->complete_ms ? j->complete_ms : now_ms(m)) - j->submit_ms, t2, sizeof t2), sd,
            j->nstages);
        progress_bar(b, done, total);
        ember__bprintf(b, "</td>");
        if (status == UI_FAILED) {
            ember__bprintf(b, "<td class=\"fail\">");
            ember__html(b, j->error);
            ember__bprintf(b, "</td>");
        }
        ember__bprintf(b, "</tr>\n");
    }
    ember__bprintf(b, "</table>\n");
}

static void jobs_page(ember_buf *b, const ui_model *m, const char *base)
{
    char t1[64], t2[64];
    ember__bprintf(b, "<h2>Jobs</h2>\n<p>Application: <b>");
    ember__html(b, m->app_name);
    ember__bprintf(b, "</b> (");
    ember__html(b, m->app_id);
    ember__bprintf(b, "), master ");
    ember__html(b, m->master);
    ember__bprintf(b, ", %d cores. Started %s, %s %s.</p>\n", m->cores,
                   when(m->start_ms, t1, sizeof t1), m->end_ms ? "ran" : "up",
                   dur(now_ms(m) - m->start_ms, t2, sizeof t2));
    /* the newest failure, front and centre */
    for (int i = m->njobs - 1; i >= 0; i--) {
        if (m->jobs[i].id < 0 || m->jobs[i].status != UI_FAILED)
            continue;
        ember__bprintf(b, "<div class=\"error\"><b>Job %lld (", (long long)m->jobs[i].id);
        ember__html(b, m->jobs[i].name);
        ember__bprintf(b, ") failed:</b> ");
        ember__html(b, m->jobs[i].error);
        ember__bprintf(b, "</div>\n");
        break;
    }
    jobs_table(b, m, base, UI_RUNNING, "Active Jobs");
    jobs_table(b, m, base, UI_SUCCEEDED, "Completed Jobs");
    jobs_table(b, m, base, UI_FAILED, "Failed Jobs");
}

/* ---------------------------------------------------------------- stages */

static const char *status_name(int s)
{
    return s == UI_RUNNING     ? "running"
           : s == UI_SUCCEEDED ? "succeeded"
           : s == UI_FAILED    ? "failed"
                               : "";
}

static void stages_table(ember_buf *b, const ui_model *m, const char *base, const int64_t *ids,
                         int n)
{
    if (!n)
        return;
    ember__bprintf(b,
                   "<table><tr><th>Stage Id</th><th>Description</th><th>Kind</th><th>Status</th>"
                   "<th>Submitted</th><th>Duration</th><th>Tasks: Succeeded/Total</th>"
                   "<th>Running</th><th>Input records</th><th>Output records</th><th>Shuffle "
                   "read</th><th>Shuffle write</th><th>Spill (disk)</th><th>Failure</th></tr>\n");
    char t1[64], t2[64], b1[32], b2[32], b3[32], id[32];
    for (int k = n - 1; k >= 0; k--) {
        const ui_stage *s = ember__ui_stage(m, ids[k]);
        if (!s)
            continue;
        snprintf(id, sizeof id, "%lld", (long long)s->id);
        ember__bprintf(b, "<tr><td>");
        link(b, base, "stages/stage", s->id, id);
        ember__bprintf(b, "</td><td>");
        link(b, base, "stages/stage", s->id, s->name ? s->name : "");
        ember__bprintf(
            b, "</td><td>%s</td><td class=\"%s\">%s</td><td>%s</td><td>%s</td><td>",
            s->kind == EMBER_STAGE_SHUFFLE_MAP ? "shuffle map" : "result",
            s->status == UI_FAILED ? "fail" : "", status_name(s->status),
            when(s->submit_ms, t1, sizeof t1),
            dur((s->complete_ms ? s->complete_ms : now_ms(m)) - s->submit_ms, t2, sizeof t2));
        progress_bar(b, s->complete, s->num_tasks);
        ember__bprintf(
            b,
            "</td><td class=\"n\">%d</td><td class=\"n\">%lld</td><td "
            "class=\"n\">%lld</td><td class=\"n\">%s / %lld</td><td "
            "class=\"n\">%s / %lld</td><td class=\"n\">%s</td><td class=\"fail\">",
            s->active, (long long)s->m.records_in, (long long)s->m.records_out,
            bytes(s->m.shuffle_read_bytes, b1, sizeof b1), (long long)s->m.shuffle_read_records,
            bytes(s->m.shuffle_write_bytes, b2, sizeof b2), (long long)s->m.shuffle_write_records,
            bytes(s->m.spill_bytes, b3, sizeof b3));
        ember__html(b, s->failure);
        ember__bprintf(b, "</td></tr>\n");
    }
    ember__bprintf(b, "</table>\n");
}

static void job_page(ember_buf *b, const ui_model *m, const char *base, int64_t id, ui_reply *r)
{
    const ui_job *j = ember__ui_job(m, id);
    if (!j) {
        r->status = 404;
        ember__bprintf(b, "<h2>No job %lld</h2>\n", (long long)id);
        return;
    }
    char t1[64], t2[64];
    ember__bprintf(b, "<h2>Details for Job %lld</h2>\n<p>Action: <b>", (long long)j->id);
    ember__html(b, j->name);
    ember__bprintf(
        b, "</b>. Status: <b class=\"%s\">%s</b>. Submitted %s; duration %s.</p>\n",
        j->status == UI_FAILED ? "fail" : "", status_name(j->status),
        when(j->submit_ms, t1, sizeof t1),
        dur((j->complete_ms ? j->complete_ms : now_ms(m)) - j->submit_ms, t2, sizeof t2));
    if (j->status == UI_FAILED) {
        ember__bprintf(b, "<div class=\"error\">");
        ember__html(b, j->error);
        ember__bprintf(b, "</div>\n");
    }
    ember__bprintf(b, "<h3>Stages (%d)</h3>\n", j->nstages);
    stages_table(b, m, base, j->stage_ids, j->nstages);
}

static void stages_page(ember_buf *b, const ui_model *m, const char *base)
{
    int64_t *ids = ember__calloc((size_t)m->nstages + 1, sizeof *ids);
    int n = 0;
    for (int i = 0; ids && i < m->nstages; i++)
        if (m->stages[i].id >= 0)
            ids[n++] = m->stages[i].id;
    ember__bprintf(b, "<h2>Stages for All Jobs ");
    count_shown(b, m->stages_gone, n);
    ember__bprintf(b, "</h2>\n");
    stages_table(b, m, base, ids, n);
    ember__free(ids);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Min, 25th, median, 75th, max of the finished tasks' field. */
static void quantiles(const ui_stage *s, int64_t (*get)(const ui_task *), int64_t *q, int64_t *tmp)
{
    int n = 0;
    for (int k = 0; k < s->ntasks; k++)
        if (s->tasks[k].status == UI_SUCCEEDED)
            tmp[n++] = get(&s->tasks[k]);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_i64);
    for (int i = 0; i < 5; i++)
        q[i] = n ? tmp[(size_t)(n - 1) * (size_t)i / 4] : 0;
}

static int64_t t_dur(const ui_task *t)
{
    return t->duration_ms;
}
static int64_t t_in(const ui_task *t)
{
    return t->m.records_in;
}
static int64_t t_out(const ui_task *t)
{
    return t->m.records_out;
}
static int64_t t_sr(const ui_task *t)
{
    return t->m.shuffle_read_bytes;
}
static int64_t t_sw(const ui_task *t)
{
    return t->m.shuffle_write_bytes;
}
static int64_t t_sp(const ui_task *t)
{
    return t->m.spill_bytes;
}

static void stage_page(ember_buf *b, const ui_model *m, const char *base, int64_t id, ui_reply *r)
{
    const ui_stage *s = ember__ui_stage(m, id);
    if (!s) {
        r->status = 404;
        ember__bprintf(b, "<h2>No stage %lld</h2>\n", (long long)id);
        return;
    }
    char t1[64], t2[64], jid[32];
    ember__bprintf(b, "<h2>Details for Stage %lld</h2>\n<p>", (long long)s->id);
    ember__html(b, s->name);
    snprintf(jid, sizeof jid, "job %lld", (long long)s->job_id);
    ember__bprintf(b, "<br>Part of ");
    link(b, base, "jobs/job", s->job_id, jid);
    ember__bprintf(b,
                   "; %s stage; status <b class=\"%s\">%s</b>; submitted %s; duration %s.<br>"
                   "Tasks: %d, %d succeeded, %d running, %d attempt%s failed (%d attempt%s "
                   "allowed a task).</p>\n",
                   s->kind == EMBER_STAGE_SHUFFLE_MAP ? "shuffle map" : "result",
                   s->status == UI_FAILED ? "fail" : "", status_name(s->status),
                   when(s->submit_ms, t1, sizeof t1),
                   dur((s->complete_ms ? s->complete_ms : now_ms(m)) - s->submit_ms, t2, sizeof t2),
                   s->num_tasks, s->complete, s->active, s->failed_attempts,
                   s->failed_attempts == 1 ? "" : "s", s->max_attempts,
                   s->max_attempts == 1 ? "" : "s");
    if (s->failure) {
        ember__bprintf(b, "<div class=\"error\">");
        ember__html(b, s->failure);
        ember__bprintf(b, "</div>\n");
    }
    int64_t *tmp = ember__malloc(((size_t)s->ntasks + 1) * sizeof *tmp);
    if (tmp && s->complete > 0) {
        static const char *const names[] = {"Duration, ms",         "Input records",
                                            "Output records",       "Shuffle read, bytes",
                                            "Shuffle write, bytes", "Spill (disk), bytes"};
        int64_t (*const get[])(const ui_task *) = {t_dur, t_in, t_out, t_sr, t_sw, t_sp};
        int64_t dq[5];
        ember__bprintf(b,
                       "<h3>Summary Metrics for %d Completed Tasks</h3>\n<table><tr><th>Metric"
                       "</th><th>Min</th><th>25th percentile</th><th>Median</th><th>75th "
                       "percentile</th><th>Max</th></tr>\n",
                       s->complete);
        for (int i = 0; i < 6; i++) {
            int64_t q[5];
            quantiles(s, get[i], q, tmp);
            if (i == 0)
                memcpy(dq, q, sizeof dq);
            ember__bprintf(b, "<tr><td>%s</td>", names[i]);
            for (int k = 0; k < 5; k++)
                ember__bprintf(b, "<td class=\"n\">%lld</td>", (long long)q[k]);
            ember__bprintf(b, "</tr>\n");
        }
        ember__bprintf(b, "</table>\n");
        /* skew: the slowest task at twice the median or more, and 100 ms or more */
        if (dq[4] >= 100 && dq[4] >= 2 * (dq[2] > 0 ? dq[2] : 1)) {
            const ui_task *slow = NULL;
            for (int k = 0; k < s->ntasks; k++)
                if (s->tasks[k].status == UI_SUCCEEDED && s->tasks[k].duration_ms == dq[4])
                    slow = &s->tasks[k];
            ember__bprintf(b,
                           "<p class=\"warn\" id=\"skew\">Skew: the slowest task (index %d, "
                           "partition %d) took %lld ms, %.1f&times; the median (%lld ms).</p>\n",
                           slow ? slow->index : -1, slow ? slow->partition : -1, (long long)dq[4],
                           (double)dq[4] / (double)(dq[2] > 0 ? dq[2] : 1), (long long)dq[2]);
        }
    }
    ember__free(tmp);
    ember__bprintf(b, "<h3>Tasks (%d%s)</h3>\n", s->ntasks,
                   s->tasks_dropped ? ", the first kept" : "");
    ember__bprintf(b, "<table id=\"tasks\"><tr><th>Index</th><th>Task ID</th><th>Attempt</th>"
                      "<th>Status</th><th>Thread</th><th>Launch Time</th><th>Duration</th>"
                      "<th>Records in</th><th>Records out</th><th>Shuffle read</th><th>Shuffle "
                      "write</th><th>Spill</th><th>Errors</th></tr>\n");
    for (int k = 0; k < s->ntasks; k++) {
        const ui_task *t = &s->tasks[k];
        ember__bprintf(b,
                       "<tr><td>%d</td><td>%lld</td><td>%d</td><td class=\"%s\">%s</td><td>%d</td>"
                       "<td>%s</td><td class=\"n\">%s</td><td class=\"n\">%lld</td><td "
                       "class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td "
                       "class=\"n\">%lld</td><td class=\"fail\">",
                       t->index, (long long)t->task_id, t->attempt,
                       t->status == UI_FAILED ? "fail" : "", status_name(t->status), t->worker,
                       when(t->launch_ms, t1, sizeof t1), dur(t->duration_ms, t2, sizeof t2),
                       (long long)t->m.records_in, (long long)t->m.records_out,
                       (long long)t->m.shuffle_read_bytes, (long long)t->m.shuffle_write_bytes,
                       (long long)t->m.spill_bytes);
        ember__html(b, t->error);
        ember__bprintf(b, "</td></tr>\n");
    }
    ember__bprintf(b, "</table>\n");
}

/* ---------------------------------------------------------------- executors */

/* A step chart of (t, y) points in an SVG of w x h, y from 0 to ymax. */
static void step_chart(ember_buf *b, const int64_t *t, const double *y, int n, double ymax,
                       const char *label, const char *id)
{
    const int w = 600, h = 120;
    ember__bprintf(b, "<svg id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">", id, w,
                   h + 20, w, h + 20);
    if (n > 0 && ymax > 0) {
        int64_t t0 = t[0], t1 = t[n - 1] > t0 ? t[n - 1] : t0 + 1;
        ember__bprintf(b, "<polyline fill=\"none\" stroke=\"#37a\" stroke-width=\"1.5\" points=\"");
        double prev = h;
        for (int i = 0; i < n; i++) {
            double x = (double)(t[i] - t0) * (w - 10) / (double)(t1 - t0) + 5;
            double yy = h - y[i] * (h - 10) / ymax;
            if (i)
                ember__bprintf(b, "%.1f,%.1f ", x, prev);
            ember__bprintf(b, "%.1f,%.1f ", x, yy);
            prev = yy;
        }
        ember__bprintf(b, "\"/>");
    }
    ember__bprintf(b, "<text x=\"5\" y=\"%d\" font-size=\"11\">%s (max %.1f)</text></svg>\n",
                   h + 15, label, ymax);
}

/* process[N]: the worker processes, the newest first, and those that died */
static void procs_table(ember_buf *b, const ui_model *m)
{
    char t1[64];
    ember__bprintf(b,
                   "<h3>Worker processes</h3>\n<p id=\"procs\">%lld started, %lld died or "
                   "killed and replaced",
                   (long long)m->procs_seen, (long long)m->procs_lost);
    if (m->procs_seen > m->nprocs)
        ember__bprintf(b, " (the last %d shown)", m->nprocs);
    ember__bprintf(b, ".</p>\n<table id=\"proc-table\"><tr><th>PID</th><th>Thread</th>"
                      "<th>Status</th><th>Active Tasks</th><th>Complete Tasks</th><th>Failed "
                      "Tasks</th><th>Task Time</th><th>Ended By</th></tr>\n");
    for (int i = m->nprocs - 1; i >= 0; i--) {
        const ui_proc *p = &m->procs[i];
        ember__bprintf(b,
                       "<tr><td>%d</td><td class=\"n\">%d</td><td>%s</td><td class=\"n\">%d"
                       "</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td "
                       "class=\"n\">%s</td><td>",
                       p->pid, p->slot,
                       p->lost     ? "Lost"
                       : p->active ? "Active"
                                   : "Done",
                       p->active, p->done, p->failed, dur(p->ms, t1, sizeof t1));
        if (p->why)
            ember__html(b, p->why);
        ember__bprintf(b, "</td></tr>\n");
    }
    ember__bprintf(b, "</table>\n");
}

static void executors_page(ember_buf *b, const ui_model *m)
{
    int done = 0, failed = 0;
    int64_t ms = 0;
    for (int i = 0; i < m->nworkers; i++) {
        done += m->w[i].done;
        failed += m->w[i].failed;
        ms += m->w[i].ms;
    }
    char t1[64];
    ember__bprintf(b,
                   "<h2>Executors</h2>\n<table><tr><th>Executor ID</th><th>Address</th>"
                   "<th>Status</th><th>Cores</th><th>Active Tasks</th><th>Failed Tasks</th>"
                   "<th>Complete Tasks</th><th>Total Tasks</th><th>Task Time</th></tr>\n"
                   "<tr><td>driver</td><td>localhost</td><td>%s</td><td class=\"n\">%d</td>"
                   "<td class=\"n\" id=\"active-tasks\">%d</td><td class=\"n\">%d</td><td "
                   "class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%s</td></tr>"
                   "</table>\n",
                   m->end_ms ? "Dead" : "Active", m->cores, m->active, failed, done,
                   done + failed + m->active, dur(ms, t1, sizeof t1));
    ember__bprintf(b, "<h3>Cores in use over time</h3>\n");
    int64_t *t = ember__malloc(((size_t)m->nuse + 2) * sizeof *t);
    double *y = ember__malloc(((size_t)m->nuse + 2) * sizeof *y);
    int n = 0;
    for (int i = 0; t && y && i < m->nuse; i++, n++) {
        t[n] = m->use[i].t_ms;
        y[n] = m->use[i].n;
    }
    if (t && y && n && !m->end_ms) { /* until now */
        t[n] = now_ms(m);
        y[n] = y[n - 1];
        n++;
    }
    step_chart(b, t, y, n, m->cores > 0 ? m->cores : 1, "tasks running", "cores-chart");
    ember__free(t);
    ember__free(y);
    ember__bprintf(b, "<h3>Threads</h3>\n<table><tr><th>Thread</th><th>Active Tasks</th><th>"
                      "Complete Tasks</th><th>Failed Tasks</th><th>Task Time</th></tr>\n");
    for (int i = 0; i < m->nworkers; i++)
        ember__bprintf(b,
                       "<tr><td>%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td "
                       "class=\"n\">%d</td><td class=\"n\">%s</td></tr>\n",
                       i, m->w[i].active, m->w[i].done, m->w[i].failed,
                       dur(m->w[i].ms, t1, sizeof t1));
    ember__bprintf(b, "</table>\n");
    if (m->by_process)
        procs_table(b, m);
}

/* ---------------------------------------------------------------- HTTP */

static void http_page(ember_buf *b, const ui_model *m)
{
    ember__bprintf(b, "<h2>HTTP</h2>\n");
    if (!m->nhttp)
        ember__bprintf(b, "<p>No ember_http stage has run.</p>\n");
    for (int i = 0; i < m->nhttp; i++) {
        const ui_http *h = &m->http[i];
        const ember_http_status *st = &h->st;
        char pace[32] = "no limit";
        if (st->rate > 0)
            snprintf(pace, sizeof pace, "%.2f", st->rate);
        ember__bprintf(b, "<h3>http rdd %lld (stage %lld)</h3>\n", (long long)h->rdd_id,
                       (long long)h->stage_id);
        ember__bprintf(
            b,
            "<table><tr><th>In flight</th><th>Done</th><th>Sent</th><th>Succeeded</th><th>"
            "Retried</th><th>Throttled (429, 503)</th><th>Failed</th><th>From the journal</th>"
            "<th>Pace, requests/s</th><th>Bucket level</th><th>Pause left</th></tr>\n<tr><td "
            "class=\"n\" id=\"in-flight-%lld\">%lld</td><td class=\"n\">%lld</td><td "
            "class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td "
            "class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td "
            "class=\"n\">%s</td><td class=\"n\">%.1f</td><td class=\"n\">%.1f "
            "s</td></tr></table>\n",
            (long long)h->rdd_id, (long long)st->in_flight, (long long)st->done,
            (long long)st->sent, (long long)st->succeeded, (long long)st->retried,
            (long long)st->throttled, (long long)st->failed, (long long)st->resumed, pace,
            st->tokens, st->paused_s);
        /* answers a second over time, from the points */
        int n = h->npts;
        int64_t *t = ember__malloc(((size_t)n + 1) * sizeof *t);
        double *y = ember__malloc(((size_t)n + 1) * sizeof *y);
        double ymax = 0;
        int k = 0;
        for (int p = 1; t && y && p < n; p++) {
            int64_t dt = h->pts[p].t_ms - h->pts[p - 1].t_ms;
            if (dt <= 0)
                continue;
            t[k] = h->pts[p].t_ms;
            y[k] = (double)(h->pts[p].done - h->pts[p - 1].done) * 1000.0 / (double)dt;
            if (y[k] > ymax)
                ymax = y[k];
            k++;
        }
        step_chart(b, t, y, k, ymax > 0 ? ymax : 1, "answers a second", "answers-chart");
        ember__free(t);
        ember__free(y);
        /* the latency histogram */
        int64_t most = 1;
        for (int l = 0; l < EMBER_HTTP_LAT_BINS; l++)
            if (st->latency[l] > most)
                most = st->latency[l];
        ember__bprintf(b, "<h3>Latency of final answers</h3>\n<svg id=\"latency\" width=\"620\" "
                          "height=\"150\" viewBox=\"0 0 620 150\">");
        for (int l = 0; l < EMBER_HTTP_LAT_BINS; l++) {
            double hh = (double)st->latency[l] * 110.0 / (double)most;
            ember__bprintf(b,
                           "<rect x=\"%d\" y=\"%.1f\" width=\"26\" height=\"%.1f\" "
                           "fill=\"#5a5\"><title>%lld</title></rect>",
                           5 + l * 30, 115 - hh, hh, (long long)st->latency[l]);
            if (l % 2 == 0)
                ember__bprintf(b, "<text x=\"%d\" y=\"135\" font-size=\"10\">%s%lld</text>",
                               5 + l * 30, l == 0 ? "<" : "", l == 0 ? 1LL : 1LL << (l - 1));
        }
        ember__bprintf(b,
                       "<text x=\"5\" y=\"148\" font-size=\"10\">ms (bins double)</text></svg>\n");
    }
}

/* ---------------------------------------------------------------- spills, bad records, settings */

static void spills_page(ember_buf *b, const ui_model *m)
{
    char b1[32], b2[32], t1[64];
    ember__bprintf(b,
                   "<h2>Spills</h2>\n<p>Memory budget: %s. Runs written past it: %lld, %s on "
                   "disk (compressed).</p>\n",
                   m->memory_budget ? bytes(m->memory_budget, b1, sizeof b1) : "(not known)",
                   (long long)m->spill_count, bytes(m->spill_bytes, b2, sizeof b2));
    if (!m->nspills)
        return;
    ember__bprintf(b, "<table><tr><th>Time</th><th>Stage</th><th>Partition</th><th>Bytes</th>"
                      "</tr>\n");
    for (int i = m->nspills - 1; i >= 0; i--)
        ember__bprintf(b, "<tr><td>%s</td><td>%lld</td><td>%d</td><td class=\"n\">%lld</td></tr>\n",
                       when(m->spills[i].t_ms, t1, sizeof t1), (long long)m->spills[i].stage_id,
                       m->spills[i].partition, (long long)m->spills[i].bytes);
    ember__bprintf(b, "</table>\n");
}

static void bad_page(ember_buf *b, const ui_model *m)
{
    char t1[64];
    ember__bprintf(b, "<h2>Bad records</h2>\n<p>Skipped or diverted by readers: %lld.</p>\n",
                   (long long)m->bad_total);
    if (!m->nbad)
        return;
    ember__bprintf(b, "<table><tr><th>Time</th><th>Stage</th><th>Partition</th><th>Reader</th>"
                      "<th>Count</th><th>Diverted to</th><th>Some of them (file:line: why)</th>"
                      "</tr>\n");
    for (int i = m->nbad - 1; i >= 0; i--) {
        const ui_bad *x = &m->bad[i];
        ember__bprintf(b, "<tr><td>%s</td><td>%lld</td><td>%d</td><td>",
                       when(x->t_ms, t1, sizeof t1), (long long)x->stage_id, x->partition);
        ember__html(b, x->op);
        ember__bprintf(b, "</td><td class=\"n\">%lld</td><td>", (long long)x->count);
        ember__html(b, x->dir ? x->dir : "(skipped)");
        ember__bprintf(b, "</td><td>");
        for (int k = 0; x->samples && x->samples[k]; k++) {
            ember__html(b, x->samples[k]);
            ember__bprintf(b, "<br>");
        }
        ember__bprintf(b, "</td></tr>\n");
    }
    ember__bprintf(b, "</table>\n");
}

static void environment_page(ember_buf *b, const ui_model *m)
{
    ember__bprintf(b, "<h2>Environment</h2>\n<table><tr><th>Name</th><th>Value</th></tr>\n");
    for (int i = 0; m->props && m->props[i] && m->props[i + 1]; i += 2) {
        ember__bprintf(b, "<tr><td>");
        ember__html(b, m->props[i]);
        ember__bprintf(b, "</td><td>");
        ember__html(b, m->props[i + 1]);
        ember__bprintf(b, "</td></tr>\n");
    }
    ember__bprintf(b, "</table>\n");
}

void ember__ui_page(const ui_model *m, const char *base, const char *path, const char *query,
                    bool history, ui_reply *r)
{
    ember_buf *b = &r->body;
    r->status = 200;
    int64_t id = query ? strtoll(query, NULL, 10) : -1;
    static const struct {
        const char *path, *title;
    } pages[] = {{"/", "Jobs"},
                 {"/jobs/", "Jobs"},
                 {"/jobs/job/", "Job"},
                 {"/stages/", "Stages"},
                 {"/stages/stage/", "Stage"},
                 {"/executors/", "Executors"},
                 {"/http/", "HTTP"},
                 {"/spills/", "Spills"},
                 {"/bad/", "Bad records"},
                 {"/environment/", "Environment"}};
    int which = -1;
    for (size_t i = 0; i < sizeof pages / sizeof *pages && which < 0; i++) {
        size_t n = strlen(pages[i].path);
        if (!strncmp(path, pages[i].path, n - 1) && (!path[n - 1] || !strcmp(path + n - 1, "/")))
            which = (int)i;
    }
    if (which < 0) {
        r->status = 404;
        r->type = "text/plain; charset=utf-8";
        ember_buf_append(b, "not found\n", 10);
        return;
    }
    head(b, m, base, pages[which].title, !history && !m->end_ms);
    switch (which) {
    case 0:
    case 1:
        jobs_page(b, m, base);
        break;
    case 2:
        job_page(b, m, base, id, r);
        break;
    case 3:
        stages_page(b, m, base);
        break;
    case 4:
        stage_page(b, m, base, id, r);
        break;
    case 5:
        executors_page(b, m);
        break;
    case 6:
        http_page(b, m);
        break;
    case 7:
        spills_page(b, m);
        break;
    case 8:
        bad_page(b, m);
        break;
    default:
        environment_page(b, m);
        break;
    }
    tail(b);
}

void ember__ui_app_list(ui_model *const *models, int n, ui_reply *r)
{
    ember_buf *b = &r->body;
    r->status = 200;
    ember__bprintf(b,
                   "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ember "
                   "History Server</title><link rel=\"stylesheet\" href=\"/static/ui.css\">"
                   "</head>\n<body data-live=\"0\"><nav><a href=\"/\">ember History "
                   "Server</a></nav>\n<div id=\"main\">\n<h2>Applications (%d)</h2>\n"
                   "<table><tr><th>App ID</th><th>App Name</th><th>Started</th><th>Completed"
                   "</th><th>Duration</th><th>Jobs</th></tr>\n",
                   n);
    char t1[64], t2[64], t3[64];
    int *order = ember__ui_newest_first(models, n);
    for (int i = 0; order && i < n; i++) {
        const ui_model *m = models[order[i]];
        ember__bprintf(b, "<tr><td><a href=\"/history/");
        ember__html(b, m->app_id);
        ember__bprintf(b, "/jobs/\">");
        ember__html(b, m->app_id);
        ember__bprintf(b, "</a></td><td>");
        ember__html(b, m->app_name);
        ember__bprintf(b, "</td><td>%s</td><td>%s</td><td>%s</td><td class=\"n\">%d</td></tr>\n",
                       when(m->start_ms, t1, sizeof t1),
                       m->end_ms ? when(m->end_ms, t2, sizeof t2) : "(incomplete)",
                       dur((m->end_ms ? m->end_ms : m->last_ms) - m->start_ms, t3, sizeof t3),
                       (int)ember__ui_model_jobs(m));
    }
    ember__free(order);
    ember__bprintf(b, "</table>\n</div>\n</body></html>\n");
}
