/* The application as its events tell it, for the web UI, its REST API and the
 * history server: one model is fed live by a listener, or by an event log's
 * lines read back, and the two give the same answers. So every time and
 * duration is kept in whole milliseconds, as the event log writes them.
 *
 * One mutex guards the model: the listener takes it for an event (a few
 * hundred nanoseconds), the server for a page. Live, a task's start and end
 * do not take it: the task thread keeps a copy in a slot of its own, and
 * whoever takes the lock next (the driver for its next event, the server for
 * a page) applies every thread's, merged by time, first. So the threads
 * running a stage's tasks share no line of the model's memory.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/tslot.h"
#include "ui/ui.h"

/* A task's start or end as the model needs it, waiting in its thread's slot. */
typedef struct ui_rec {
    uint64_t time_ns, duration_ns;
    int64_t stage_id, task_id;
    ember_task_metrics metrics;
    int type, task_index, partition, attempt, worker, worker_pid, worker_lost, failed;
    char *error; /* a failed attempt's message (owned), else NULL */
} ui_rec;

typedef struct ui_recs {
    ui_rec *r;
    int n, cap;
} ui_recs;

/* Past this many a thread's records, it applies them itself. */
#define RECS_MAX 4096

typedef struct rec_slot {
    ember__tslot head; /* its lock: its thread, or one applying (under the model's mu) */
    ui_recs cur;       /* under the lock */
    ui_recs taken;     /* under the model's mu */
    int at;            /* under the model's mu: its next record of taken in the merge */
} rec_slot;

struct ui_pending {
    ember__tslots slots;
    ember__tslot **all; /* under the model's mu: the slots taken from */
    int cap_all;
};

static int64_t ms(uint64_t ns)
{
    return (int64_t)(ns / 1000000);
}

static char *dup_or_null(const char *s, int *rc)
{
    if (!s)
        return NULL;
    char *d = ember__strdup(s);
    if (!d)
        *rc = EMBER_ENOMEM;
    return d;
}

/* Grow *v (n used, *cap allocated) to hold one more of size sz. */
static int grow(void **v, int n, int *cap, size_t sz)
{
    if (n < *cap)
        return 0;
    int c = *cap ? *cap * 2 : 16;
    void *g = ember__realloc(*v, (size_t)c * sz);
    if (!g)
        return EMBER_ENOMEM;
    *v = g;
    *cap = c;
    return 0;
}

int ember__ui_retained(const ember_ctx *ctx, const char *who, int keep[2])
{
    static const char *const names[2] = {"EMBER_UI_RETAINED_JOBS", "EMBER_UI_RETAINED_STAGES"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        char *end;
        long n = v && *v ? strtol(v, &end, 10) : 1000;
        if (v && *v && (*end || n < 1 || n > 10000000))
            return ember__err(ctx, EMBER_EINVAL, "%s: %s '%s' is not a count (1 to 10000000)", who,
                              names[i], v);
        keep[i] = (int)n;
    }
    return 0;
}

ui_model *ember__ui_model_new(const int keep[2])
{
    ui_model *m = ember__calloc(1, sizeof *m);
    if (!m)
        return NULL;
    ember__mutex_init_short(&m->mu);
    m->keep_jobs = keep[0];
    m->keep_stages = keep[1];
    return m;
}

static void free_recs(ui_recs *k)
{
    for (int i = 0; i < k->n; i++)
        ember__free(k->r[i].error);
    ember__free(k->r);
}

static void free_rec_slot(ember__tslot *t)
{
    rec_slot *s = (rec_slot *)t;
    free_recs(&s->cur);
    free_recs(&s->taken);
}

int ember__ui_model_live(ui_model *m)
{
    if (!(m->pending = ember__calloc(1, sizeof *m->pending)))
        return EMBER_ENOMEM;
    ember__tslots_init(&m->pending->slots, sizeof(rec_slot));
    return 0;
}

static void free_stage(ui_stage *s)
{
    for (int k = 0; s->failed_attempts && k < s->ntasks; k++) /* (only a failed one has one) */
        ember__free(s->tasks[k].error);
    ember__free(s->tasks);
    ember__free(s->name);
    ember__free(s->failure);
}

static void free_job(ui_job *j)
{
    ember__free(j->name);
    ember__free(j->stage_ids);
    ember__free(j->error);
}

static void free_strv(char **v)
{
    for (int i = 0; v && v[i]; i++)
        ember__free(v[i]);
    ember__free(v);
}

void ember__ui_model_free(ui_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->njobs; i++)
        free_job(&m->jobs[i]);
    for (int i = 0; i < m->nstages; i++)
        free_stage(&m->stages[i]);
    for (int i = 0; i < m->nhttp; i++) {
        ember__free(m->http[i].pts);
    }
    for (int i = 0; i < m->nbad; i++) {
        ember__free(m->bad[i].op);
        ember__free(m->bad[i].dir);
        free_strv(m->bad[i].samples);
    }
    for (int i = 0; i < m->nprocs; i++)
        ember__free(m->procs[i].why);
    ember__free(m->procs);
    ember__free(m->jobs);
    ember__free(m->stages);
    ember__free(m->http);
    ember__free(m->spills);
    ember__free(m->bad);
    ember__free(m->w);
    ember__free(m->use);
    free_strv(m->props);
    ember__free(m->app_name);
    ember__free(m->app_id);
    ember__free(m->master);
    ember__free(m->user);
    if (m->pending) {
        ember__tslots_destroy(&m->pending->slots, free_rec_slot);
        ember__free(m->pending->all);
        ember__free(m->pending);
    }
    pthread_mutex_destroy(&m->mu);
    ember__free(m);
}

ui_model *ember__ui_model_summary(const ui_model *m)
{
    int keep[2] = {m->keep_jobs, m->keep_stages}, rc = 0;
    ui_model *s = ember__ui_model_new(keep);
    if (!s)
        return NULL;
    s->summary = true;
    s->app_name = dup_or_null(m->app_name, &rc);
    s->app_id = dup_or_null(m->app_id, &rc);
    s->master = dup_or_null(m->master, &rc);
    s->by_process = m->by_process;
    s->user = dup_or_null(m->user, &rc);
    s->cores = m->cores;
    s->start_ms = m->start_ms;
    s->end_ms = m->end_ms;
    s->last_ms = m->last_ms;
    s->memory_budget = m->memory_budget;
    s->summary_jobs = ember__ui_model_jobs(m);
    if (rc) {
        ember__ui_model_free(s);
        return NULL;
    }
    return s;
}

void ember__ui_model_swap(ui_model *a, ui_model *b)
{
    /* every field but the lock, the first */
    size_t from = offsetof(ui_model, app_name);
    unsigned char t[sizeof *a - offsetof(ui_model, app_name)];
    memcpy(t, (unsigned char *)a + from, sizeof t);
    memcpy((unsigned char *)a + from, (unsigned char *)b + from, sizeof t);
    memcpy((unsigned char *)b + from, t, sizeof t);
}

int64_t ember__ui_model_jobs(const ui_model *m)
{
    return m->summary ? m->summary_jobs : m->job_base + m->njobs;
}

const ui_stage *ember__ui_stage(const ui_model *m, int64_t id)
{
    int64_t i = id - m->stage_base;
    return id >= 0 && i >= 0 && i < m->nstages && m->stages[i].id == id ? &m->stages[i] : NULL;
}

const ui_job *ember__ui_job(const ui_model *m, int64_t id)
{
    int64_t i = id - m->job_base;
    return id >= 0 && i >= 0 && i < m->njobs && m->jobs[i].id == id ? &m->jobs[i] : NULL;
}

/* Stages and jobs are numbered from 0 in the order they start: the model keeps
 * them at their id less the first kept's (a gap, which a torn log could leave,
 * is an empty entry with id -1). An id older than the kept ones is NULL. */
static ui_stage *stage_at(ui_model *m, int64_t id, bool make)
{
    int64_t i = id - m->stage_base;
    if (id < 0 || i < 0 || i > 10000000)
        return NULL;
    while (make && m->nstages <= i) {
        if (grow((void **)&m->stages, m->nstages, &m->cap_stages, sizeof *m->stages))
            return NULL;
        m->stages[m->nstages++] = (ui_stage){.id = -1, .job_id = -1};
    }
    return i < m->nstages ? &m->stages[i] : NULL;
}

static ui_job *job_at(ui_model *m, int64_t id, bool make)
{
    int64_t i = id - m->job_base;
    if (id < 0 || i < 0 || i > 10000000)
        return NULL;
    while (make && m->njobs <= i) {
        if (grow((void **)&m->jobs, m->njobs, &m->cap_jobs, sizeof *m->jobs))
            return NULL;
        m->jobs[m->njobs++] = (ui_job){.id = -1};
    }
    return i < m->njobs ? &m->jobs[i] : NULL;
}

/* Past the number kept and a tenth more, the oldest finished jobs go until
 * the number kept is left (as Spark, a tenth at a time, so dropping is rare);
 * a job still running stops the dropping there. Stages the same. */
static void trim_jobs(ui_model *m)
{
    if (m->njobs <= m->keep_jobs + m->keep_jobs / 10)
        return;
    int k = 0;
    while (m->njobs - k > m->keep_jobs && m->jobs[k].status != UI_RUNNING) {
        if (m->jobs[k].id >= 0 && m->jobs[k].status)
            m->jobs_gone[m->jobs[k].status]++;
        free_job(&m->jobs[k++]);
    }
    memmove(m->jobs, m->jobs + k, (size_t)(m->njobs - k) * sizeof *m->jobs);
    m->njobs -= k;
    m->job_base += k;
}

static void trim_stages(ui_model *m)
{
    if (m->nstages <= m->keep_stages + m->keep_stages / 10)
        return;
    int k = 0;
    while (m->nstages - k > m->keep_stages && m->stages[k].status != UI_RUNNING) {
        ui_stage *s = &m->stages[k++];
        m->stages_gone += s->id >= 0;
        m->gone_read += s->m.shuffle_read_bytes;
        m->gone_written += s->m.shuffle_write_bytes;
        free_stage(s);
    }
    memmove(m->stages, m->stages + k, (size_t)(m->nstages - k) * sizeof *m->stages);
    m->nstages -= k;
    m->stage_base += k;
}

static void metrics_ms(ember_task_metrics *d, const ember_task_metrics *s)
{
    *d = *s;
    d->run_ns = s->run_ns / 1000000 * 1000000;
    d->user_ns = s->user_ns / 1000000 * 1000000;
}

static int workers_for(ui_model *m, int w)
{
    if (w < m->nworkers)
        return 0;
    struct ui_worker *g = ember__realloc(m->w, (size_t)(w + 1) * sizeof *g);
    if (!g)
        return EMBER_ENOMEM;
    for (int i = m->nworkers; i <= w; i++)
        g[i] = (struct ui_worker){0};
    m->w = g;
    m->nworkers = w + 1;
    return 0;
}

/* The worker process pid (NULL when the model has none and can make none). */
static ui_proc *proc_for(ui_model *m, int pid, int slot, int64_t t)
{
    if (pid <= 0)
        return NULL;
    for (int i = m->nprocs - 1; i >= 0; i--)
        if (m->procs[i].pid == pid)
            return &m->procs[i];
    if (m->nprocs == UI_PROCS_KEPT) { /* the oldest goes */
        ember__free(m->procs[0].why);
        memmove(m->procs, m->procs + 1, (size_t)(m->nprocs - 1) * sizeof *m->procs);
        m->nprocs--;
    }
    if (grow((void **)&m->procs, m->nprocs, &m->cap_procs, sizeof *m->procs))
        return NULL;
    m->procs_seen++;
    m->procs[m->nprocs] = (ui_proc){.pid = pid, .slot = slot, .first_ms = t, .last_ms = t};
    return &m->procs[m->nprocs++];
}

/* cores in use: a point a change; changes within 10 ms of the last point
 * replace it (a stage's tasks starting or ending together). At UI_USE_KEPT
 * points, those before the last are merged in pairs (the earlier time, the
 * higher count): a chart of any application's whole life in at most that many
 * points, exact lately, its peaks kept further back. */
static void use_point(ui_model *m, int64_t t)
{
    if (m->nuse && t - m->use[m->nuse - 1].t_ms < 10) {
        m->use[m->nuse - 1].n = m->active;
        return;
    }
    if (m->nuse == UI_USE_KEPT) {
        int k = 0, last = m->nuse - 1;
        for (int i = 0; i < last; i += 2) {
            struct ui_use a = m->use[i];
            if (i + 1 < last && m->use[i + 1].n > a.n)
                a.n = m->use[i + 1].n;
            m->use[k++] = a;
        }
        m->use[k++] = m->use[last];
        m->nuse = k;
    }
    if (!grow((void **)&m->use, m->nuse, &m->cap_use, sizeof *m->use))
        m->use[m->nuse++] = (struct ui_use){t, m->active};
}

/* A task's stage, NULL when it is one of those dropped */
static int task_stage(ui_model *m, const ember_event *ev, ui_stage **s)
{
    *s = stage_at(m, ev->stage_id, true);
    return !*s && ev->stage_id >= m->stage_base ? EMBER_ENOMEM : 0;
}

static int task_start(ui_model *m, const ember_event *ev, int64_t t)
{
    ui_stage *s;
    if (task_stage(m, ev, &s))
        return EMBER_ENOMEM;
    if (s)
        s->active++;
    if (workers_for(m, ev->worker) == 0)
        m->w[ev->worker].active++;
    m->active++;
    use_point(m, t);
    ui_proc *p = m->by_process ? proc_for(m, ev->worker_pid, ev->worker, t) : NULL;
    if (p) {
        p->active++;
        p->last_ms = t;
    }
    if (!s)
        return 0;
    if (s->ntasks >= UI_TASKS_KEPT) {
        s->tasks_dropped++;
        return 0;
    }
    if (grow((void **)&s->tasks, s->ntasks, &s->cap_tasks, sizeof *s->tasks))
        return EMBER_ENOMEM;
    /* in task id order (a stage's first attempts by index, the order they
     * launch in, then its retries), whatever order their events came in */
    int k = s->ntasks++;
    for (; k > 0 && s->tasks[k - 1].task_id > ev->task_id; k--)
        s->tasks[k] = s->tasks[k - 1];
    s->tasks[k] = (ui_task){.task_id = ev->task_id,
                            .index = ev->task_index,
                            .partition = ev->partition,
                            .attempt = ev->attempt,
                            .worker = ev->worker,
                            .launch_ms = t,
                            .duration_ms = -1,
                            .status = UI_RUNNING};
    return 0;
}

static int task_end(ui_model *m, const ember_event *ev, int64_t t)
{
    ui_stage *s;
    if (task_stage(m, ev, &s))
        return EMBER_ENOMEM;
    ember_task_metrics tm;
    metrics_ms(&tm, &ev->metrics);
    if (s) {
        s->active -= s->active > 0;
        s->failed_attempts += ev->failed != 0;
        s->complete += !ev->failed;
        if (!ev->failed)
            ember__metrics_add(&s->m, &tm);
    }
    if (workers_for(m, ev->worker) == 0) {
        struct ui_worker *w = &m->w[ev->worker];
        w->active -= w->active > 0;
        w->done += !ev->failed;
        w->failed += ev->failed != 0;
        w->ms += ms(ev->duration_ns);
    }
    if (m->active > 0)
        m->active--;
    use_point(m, t);
    int rc = 0;
    ui_proc *p = m->by_process ? proc_for(m, ev->worker_pid, ev->worker, t) : NULL;
    if (p) {
        if (p->active > 0)
            p->active--;
        p->done += !ev->failed;
        p->failed += ev->failed != 0;
        p->ms += ms(ev->duration_ns);
        p->last_ms = t;
        if (ev->worker_lost && !p->lost) {
            p->lost = true;
            m->procs_lost++;
            if (ev->error && *ev->error)
                p->why = dup_or_null(ev->error, &rc);
        }
    }
    /* the attempt, from the newest back (it started lately) */
    for (int k = s ? s->ntasks - 1 : -1; k >= 0; k--) {
        ui_task *tk = &s->tasks[k];
        if (tk->task_id != ev->task_id || tk->status != UI_RUNNING)
            continue;
        tk->status = ev->failed ? UI_FAILED : UI_SUCCEEDED;
        tk->duration_ms = ms(ev->duration_ns);
        tk->m = tm;
        if (ev->failed && ev->error && *ev->error)
            tk->error = dup_or_null(ev->error, &rc);
        break;
    }
    return rc;
}

/* An HTTP stage's counts over time: a point an event (about a second); at
 * UI_USE_KEPT points every other one before the last goes (the counts are
 * running totals: rates over the longer steps stay right). */
static int http_point(ui_http *h, int64_t t)
{
    if (h->npts == UI_USE_KEPT) {
        int k = 0, last = h->npts - 1;
        for (int i = 0; i < last; i += 2)
            h->pts[k++] = h->pts[i];
        h->pts[k++] = h->pts[last];
        h->npts = k;
    }
    if (grow((void **)&h->pts, h->npts, &h->cap_pts, sizeof *h->pts))
        return EMBER_ENOMEM;
    h->pts[h->npts++] = (struct ui_pt){t, h->st.done, h->st.throttled};
    return 0;
}

static int http_status(ui_model *m, const ember_event *ev, int64_t t)
{
    const ember_http_status *st = ev->http;
    if (!st)
        return 0;
    ui_http *h = NULL;
    for (int i = 0; i < m->nhttp && !h; i++)
        if (m->http[i].rdd_id == st->rdd_id)
            h = &m->http[i];
    if (!h && m->nhttp == UI_HTTP_KEPT) { /* the oldest goes */
        ember__free(m->http[0].pts);
        memmove(m->http, m->http + 1, (size_t)(m->nhttp - 1) * sizeof *m->http);
        m->nhttp--;
    }
    if (!h) {
        ui_http *g = ember__realloc(m->http, (size_t)(m->nhttp + 1) * sizeof *g);
        if (!g)
            return EMBER_ENOMEM;
        m->http = g;
        h = &m->http[m->nhttp++];
        *h = (ui_http){.rdd_id = st->rdd_id};
    }
    h->stage_id = ev->stage_id;
    h->t_ms = t;
    h->st = *st;
    return http_point(h, t);
}

static int spill(ui_model *m, const ember_event *ev, int64_t t)
{
    m->spill_count++;
    m->spill_bytes += ev->bytes;
    if (ev->memory_budget)
        m->memory_budget = ev->memory_budget;
    if (!m->spills && !(m->spills = ember__calloc(UI_SPILLS_KEPT, sizeof *m->spills)))
        return EMBER_ENOMEM;
    if (m->nspills == UI_SPILLS_KEPT) {
        memmove(m->spills, m->spills + 1, (UI_SPILLS_KEPT - 1) * sizeof *m->spills);
        m->nspills--;
    }
    m->spills[m->nspills++] = (ui_spill){
        .t_ms = t, .stage_id = ev->stage_id, .partition = ev->partition, .bytes = ev->bytes};
    return 0;
}

static int bad_records(ui_model *m, const ember_event *ev, int64_t t)
{
    m->bad_total += ev->bad_count;
    if (!m->bad && !(m->bad = ember__calloc(UI_BAD_KEPT, sizeof *m->bad)))
        return EMBER_ENOMEM;
    if (m->nbad == UI_BAD_KEPT) {
        ember__free(m->bad[0].op);
        ember__free(m->bad[0].dir);
        free_strv(m->bad[0].samples);
        memmove(m->bad, m->bad + 1, (UI_BAD_KEPT - 1) * sizeof *m->bad);
        m->nbad--;
    }
    int rc = 0, n = 0;
    ui_bad b = {.t_ms = t,
                .stage_id = ev->stage_id,
                .partition = ev->partition,
                .count = ev->bad_count,
                .op = dup_or_null(ev->bad_op, &rc),
                .dir = dup_or_null(ev->bad_dir, &rc)};
    while (ev->bad_samples && ev->bad_samples[n] && n < 8)
        n++;
    if ((b.samples = ember__calloc((size_t)n + 1, sizeof *b.samples)))
        for (int i = 0; i < n; i++)
            b.samples[i] = dup_or_null(ev->bad_samples[i], &rc);
    m->bad[m->nbad++] = b;
    return rc;
}

static int app_start(ui_model *m, const ember_event *ev, int64_t t)
{
    int rc = 0;
    if (ev->app_name) {
        ember__free(m->app_name);
        m->app_name = dup_or_null(ev->app_name, &rc);
    }
    if (ev->app_id) {
        ember__free(m->app_id);
        m->app_id = dup_or_null(ev->app_id, &rc);
    }
    if (ev->master) {
        ember__free(m->master);
        m->master = dup_or_null(ev->master, &rc);
        m->by_process = m->master && !strncmp(m->master, "process", 7);
    }
    if (ev->cores)
        m->cores = ev->cores;
    if (ev->memory_budget)
        m->memory_budget = ev->memory_budget;
    if (t)
        m->start_ms = t;
    if (ev->props) {
        int n = 0;
        while (ev->props[n] && ev->props[n + 1])
            n += 2;
        char **p = ember__calloc((size_t)n + 1, sizeof *p);
        for (int i = 0; p && i < n; i++)
            p[i] = dup_or_null(ev->props[i], &rc);
        for (int i = 2; p && i < n; i += 2) /* by name: the live order and a log's agree */
            for (int k = i; k > 0 && p[k] && p[k - 2] && strcmp(p[k - 2], p[k]) > 0; k -= 2) {
                char *a0 = p[k - 2], *a1 = p[k - 1];
                p[k - 2] = p[k];
                p[k - 1] = p[k + 1];
                p[k] = a0;
                p[k + 1] = a1;
            }
        if (p) {
            free_strv(m->props);
            m->props = p;
        }
    }
    return rc;
}

int ember__ui_model_apply(ui_model *m, const ember_event *ev)
{
    int64_t t = ms(ev->time_ns);
    if (t > m->last_ms)
        m->last_ms = t;
    int rc = 0;
    switch (ev->type) {
    case EMBER_EV_APP_START:
        return app_start(m, ev, t);
    case EMBER_EV_APP_END:
        m->end_ms = t ? t : m->last_ms;
        return 0;
    case EMBER_EV_JOB_START: {
        ui_job *j = job_at(m, ev->job_id, true);
        if (!j)
            return EMBER_ENOMEM;
        ember__free(j->name);
        *j = (ui_job){.id = ev->job_id,
                      .name = dup_or_null(ev->job_name, &rc),
                      .submit_ms = t,
                      .status = UI_RUNNING};
        return rc;
    }
    case EMBER_EV_JOB_END: {
        ui_job *j = job_at(m, ev->job_id, true);
        if (!j)
            return EMBER_ENOMEM;
        j->id = ev->job_id;
        j->complete_ms = t;
        j->status = ev->failed ? UI_FAILED : UI_SUCCEEDED;
        j->tasks_failed = ev->tasks_failed;
        metrics_ms(&j->m, &ev->metrics);
        if (ev->failed && ev->error && *ev->error && !j->error)
            j->error = dup_or_null(ev->error, &rc);
        trim_jobs(m);
        return rc;
    }
    case EMBER_EV_STAGE_SUBMITTED: {
        ui_stage *s = stage_at(m, ev->stage_id, true);
        ui_job *j = job_at(m, ev->job_id, true);
        if (!s || !j)
            return EMBER_ENOMEM;
        s->id = ev->stage_id;
        s->job_id = ev->job_id;
        ember__free(s->name);
        s->name =
            dup_or_null(ev->stage_name && *ev->stage_name ? ev->stage_name : ev->job_name, &rc);
        s->kind = ev->stage_kind;
        s->num_tasks = ev->num_tasks;
        s->max_attempts = ev->max_attempts;
        s->submit_ms = t;
        s->status = UI_RUNNING;
        /* room for its first attempts (grown for retries) */
        if (!s->cap_tasks && ev->num_tasks > 0) {
            int cap = ev->num_tasks < 1024 ? ev->num_tasks : 1024;
            if (!(s->tasks = ember__malloc((size_t)cap * sizeof *s->tasks)))
                return EMBER_ENOMEM;
            s->cap_tasks = cap;
        }
        if (grow((void **)&j->stage_ids, j->nstages, &j->cap_stages, sizeof *j->stage_ids))
            return EMBER_ENOMEM;
        j->stage_ids[j->nstages++] = ev->stage_id;
        return rc;
    }
    case EMBER_EV_STAGE_COMPLETED: {
        ui_stage *s = stage_at(m, ev->stage_id, true);
        if (!s)
            return EMBER_ENOMEM;
        s->id = ev->stage_id;
        s->complete_ms = t;
        s->status = ev->failed ? UI_FAILED : UI_SUCCEEDED;
        s->sched_ms = ms(ev->sched_ns);
        s->gather_ms = ms(ev->gather_ns);
        metrics_ms(&s->m, &ev->metrics);
        if (ev->failed && ev->error && *ev->error && !s->failure)
            s->failure = dup_or_null(ev->error, &rc);
        trim_stages(m);
        return rc;
    }
    case EMBER_EV_TASK_START:
        return task_start(m, ev, t);
    case EMBER_EV_TASK_END:
        return task_end(m, ev, t);
    case EMBER_EV_HTTP:
        return http_status(m, ev, t);
    case EMBER_EV_SPILL:
        return spill(m, ev, t);
    case EMBER_EV_BAD_RECORDS:
        return bad_records(m, ev, t);
    default:
        return 0;
    }
}

/* ev, a task's start or end, into its thread's slot; false when it cannot
 * wait there (out of memory, or the slot is full: then it is applied now). */
static bool rec_add(ui_model *m, const ember_event *ev)
{
    rec_slot *s = (rec_slot *)ember__tslot_of(&m->pending->slots);
    if (!s)
        return false;
    pthread_mutex_lock(&s->head.mu);
    bool kept = s->cur.n < RECS_MAX;
    if (kept && s->cur.n == s->cur.cap) {
        int cap = s->cur.cap ? 2 * s->cur.cap : 64;
        ui_rec *g = ember__realloc(s->cur.r, (size_t)cap * sizeof *g);
        if (g) {
            s->cur.r = g;
            s->cur.cap = cap;
        } else {
            kept = false;
        }
    }
    if (kept) {
        char *error = NULL;
        if (ev->type == EMBER_EV_TASK_END && ev->failed && ev->error && *ev->error &&
            !(error = ember__strdup(ev->error)))
            kept = false;
        else
            s->cur.r[s->cur.n++] = (ui_rec){.time_ns = ev->time_ns,
                                            .duration_ns = ev->duration_ns,
                                            .stage_id = ev->stage_id,
                                            .task_id = ev->task_id,
                                            .metrics = ev->metrics,
                                            .type = ev->type,
                                            .task_index = ev->task_index,
                                            .partition = ev->partition,
                                            .attempt = ev->attempt,
                                            .worker = ev->worker,
                                            .worker_pid = ev->worker_pid,
                                            .worker_lost = ev->worker_lost,
                                            .failed = ev->failed,
                                            .error = error};
    }
    pthread_mutex_unlock(&s->head.mu);
    return kept;
}

/* A slot's records swapped for an empty set, to be applied. */
static void swap_recs(ember__tslot *t, void *arg)
{
    (void)arg;
    rec_slot *s = (rec_slot *)t;
    ui_recs taken = s->cur;
    s->cur = s->taken;
    s->cur.n = 0;
    s->taken = taken;
    s->at = 0;
}

void ember__ui_model_sync(ui_model *m)
{
    if (!m->pending)
        return;
    /* every slot's records taken at one instant, then applied by time */
    int n = ember__tslots_take(&m->pending->slots, &m->pending->all, &m->pending->cap_all,
                               swap_recs, NULL);
    for (;;) { /* the earliest record of any slot, its ties in slot order */
        rec_slot *e = NULL;
        for (int i = 0; i < n; i++) {
            rec_slot *s = (rec_slot *)m->pending->all[i];
            if (s->at < s->taken.n && (!e || s->taken.r[s->at].time_ns < e->taken.r[e->at].time_ns))
                e = s;
        }
        if (!e)
            break;
        ui_rec *r = &e->taken.r[e->at++];
        ember_event ev = {.type = r->type,
                          .time_ns = r->time_ns,
                          .stage_id = r->stage_id,
                          .task_index = r->task_index,
                          .partition = r->partition,
                          .attempt = r->attempt,
                          .failed = r->failed,
                          .error = r->error ? r->error : "",
                          .duration_ns = r->duration_ns,
                          .metrics = r->metrics,
                          .task_id = r->task_id,
                          .worker = r->worker,
                          .worker_pid = r->worker_pid,
                          .worker_lost = r->worker_lost};
        ember__ui_model_apply(m, &ev);
        ember__free(r->error);
        r->error = NULL;
    }
    for (int i = 0; i < n; i++)
        ((rec_slot *)m->pending->all[i])->taken.n = 0;
}

void ember__ui_model_listener(const ember_event *ev, void *arg)
{
    ui_model *m = arg;
    if (m->pending && (ev->type == EMBER_EV_TASK_START || ev->type == EMBER_EV_TASK_END) &&
        rec_add(m, ev))
        return;
    pthread_mutex_lock(&m->mu);
    ember__ui_model_sync(m);
    ember__ui_model_apply(m, ev);
    pthread_mutex_unlock(&m->mu);
}
