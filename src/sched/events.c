/* Events: the scheduler's listener bus.
 *
 * Listeners are a small array on the context; an event is delivered to each
 * listener whose mask wants its type, in registration order, one call at a
 * time, from the thread where the event happened: task events under ev_mu
 * (workers emit them at once), the others from the driver without a lock (no
 * task runs then, and listeners change only from the driver between actions). ev_mask, the union of
 * the masks, is read without the lock before an event is even built: with no listener for a type,
 * emitting it costs one load and a branch, and task events (the only ones per task) are off by
 * default (the stats listener takes stage and job events only).
 *
 * The job scope: ember__action_begin opens the job of an action (depth 0 to 1;
 * an action that calls another stays in the same job) and ember__action_end
 * closes it; every scheduler run in between is a stage of that job.
 */
#include <string.h>
#include <time.h>

#include "sched/sched.h"

typedef struct ember__listener {
    ember_listener_fn *fn;
    void *arg;
    unsigned mask;
    bool public;     /* the program's (the stats listener reads no names) */
    bool concurrent; /* takes task events from several threads at once (the log) */
} ember__listener;

static const char *const names[EMBER_EV_COUNT] = {
    [EMBER_EV_APP_START] = "SparkListenerApplicationStart",
    [EMBER_EV_APP_END] = "SparkListenerApplicationEnd",
    [EMBER_EV_JOB_START] = "SparkListenerJobStart",
    [EMBER_EV_JOB_END] = "SparkListenerJobEnd",
    [EMBER_EV_STAGE_SUBMITTED] = "SparkListenerStageSubmitted",
    [EMBER_EV_STAGE_COMPLETED] = "SparkListenerStageCompleted",
    [EMBER_EV_TASK_START] = "SparkListenerTaskStart",
    [EMBER_EV_TASK_END] = "SparkListenerTaskEnd",
    [EMBER_EV_HTTP] = "ember.HttpStatus",
    [EMBER_EV_SPILL] = "ember.Spill",
    [EMBER_EV_BAD_RECORDS] = "ember.BadRecords",
};

const char *ember_event_name(ember_event_type type)
{
    return type > 0 && type < EMBER_EV_COUNT ? names[type] : "unknown";
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void recompute_mask(ember_ctx *ctx)
{
    unsigned m = 0, p = 0;
    for (int i = 0; i < ctx->nlisteners; i++) {
        m |= ctx->listeners[i].mask;
        if (ctx->listeners[i].public)
            p |= ctx->listeners[i].mask;
    }
    atomic_store(&ctx->ev_mask, m);
    atomic_store(&ctx->ev_public, p);
}

static int listen(ember_ctx *ctx, ember_listener_fn *fn, void *arg, unsigned mask, bool public,
                  bool concurrent)
{
    pthread_mutex_lock(&ctx->ev_mu);
    int rc = 0;
    if (ctx->nlisteners == ctx->cap_listeners) {
        int cap = ctx->cap_listeners ? ctx->cap_listeners * 2 : 4;
        ember__listener *l = ember__realloc(ctx->listeners, (size_t)cap * sizeof *l);
        if (!l)
            rc = EMBER_ENOMEM;
        else {
            ctx->listeners = l;
            ctx->cap_listeners = cap;
        }
    }
    if (!rc) {
        ctx->listeners[ctx->nlisteners++] = (ember__listener){fn, arg, mask, public, concurrent};
        recompute_mask(ctx);
    }
    pthread_mutex_unlock(&ctx->ev_mu);
    return rc;
}

int ember__listen(ember_ctx *ctx, ember_listener_fn *fn, void *arg, unsigned mask, bool concurrent)
{
    return listen(ctx, fn, arg, mask, false, concurrent);
}

void ember__app_start_event(const ember_ctx *ctx, ember_event *ev)
{
    *ev = (ember_event){.type = EMBER_EV_APP_START,
                        .time_ns = ctx->app_start_ns,
                        .app_name = ctx->app_name,
                        .app_id = ctx->app_id,
                        .master = ctx->master,
                        .cores = ctx->parallelism,
                        .props = (const char *const *)ctx->props,
                        .memory_budget = (int64_t)ctx->memory_budget,
                        .error = ""};
}

int ember__listen_named(ember_ctx *ctx, ember_listener_fn *fn, void *arg, unsigned mask,
                        bool concurrent)
{
    int rc = listen(ctx, fn, arg, mask, true, concurrent);
    if (!rc && (mask & (1u << EMBER_EV_APP_START))) {
        ember_event ev;
        ember__app_start_event(ctx, &ev);
        fn(&ev, arg);
    }
    return rc;
}

int ember_add_listener(ember_ctx *ctx, ember_listener_fn *fn, void *arg)
{
    if (!ember__handle_ok(ctx, EMBER__H_CTX) || !fn)
        return ember__err(NULL, EMBER_EINVAL, "ember_add_listener: ctx or fn is NULL, or closed");
    int rc = listen(ctx, fn, arg, ~0u, true, false);
    if (rc)
        return ember__err(ctx, rc, "ember_add_listener: out of memory");
    /* the application started before this listener came: it hears so first */
    ember_event ev;
    ember__app_start_event(ctx, &ev);
    pthread_mutex_lock(&ctx->ev_mu);
    fn(&ev, arg);
    pthread_mutex_unlock(&ctx->ev_mu);
    return 0;
}

int ember_remove_listener(ember_ctx *ctx, ember_listener_fn *fn, void *arg)
{
    if (!ember__handle_ok(ctx, EMBER__H_CTX))
        return ember__err(NULL, EMBER_EINVAL, "ember_remove_listener: ctx is NULL or closed");
    int rc = EMBER_EINVAL;
    pthread_mutex_lock(&ctx->ev_mu);
    for (int i = 0; i < ctx->nlisteners; i++) {
        if (ctx->listeners[i].fn == fn && ctx->listeners[i].arg == arg) {
            memmove(&ctx->listeners[i], &ctx->listeners[i + 1],
                    (size_t)(ctx->nlisteners - i - 1) * sizeof *ctx->listeners);
            ctx->nlisteners--;
            recompute_mask(ctx);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->ev_mu);
    return rc;
}

void ember__emit(ember_ctx *ctx, ember_event *ev)
{
    bool task = ember__ev_of_tasks(ev->type);
    /* the stats read durations, not times: a clock read only for the program's,
     * and none where the emitter took one already (CLOCK_MONOTONIC, put on
     * the wall clock as it stood at the job's start) */
    if (!(atomic_load_explicit(&ctx->ev_public, memory_order_relaxed) & (1u << ev->type)))
        ev->time_ns = 0;
    else
        ev->time_ns = ev->time_ns ? ev->time_ns + (uint64_t)ctx->rt_off : wall_ns();
    ev->app_name = ctx->app_name;
    if (!ev->error)
        ev->error = "";
    /* Task events come from the workers at once: one at a time under the lock,
     * but for the listeners that take them concurrently (each with a lock of
     * its own, or a buffer a thread), called first and without it. The others
     * come from the driver, between a stage's tasks (and listeners are added
     * and removed from the driver between actions): no lock needed, none
     * taken, so a tiny job pays for none. */
    unsigned bit = 1u << ev->type;
    if (!task) {
        for (int i = 0; i < ctx->nlisteners; i++)
            if (ctx->listeners[i].mask & bit)
                ctx->listeners[i].fn(ev, ctx->listeners[i].arg);
        return;
    }
    bool serial = false;
    for (int i = 0; i < ctx->nlisteners; i++)
        if (ctx->listeners[i].mask & bit) {
            if (ctx->listeners[i].concurrent)
                ctx->listeners[i].fn(ev, ctx->listeners[i].arg);
            else
                serial = true;
        }
    if (!serial)
        return;
    pthread_mutex_lock(&ctx->ev_mu);
    for (int i = 0; i < ctx->nlisteners; i++)
        if ((ctx->listeners[i].mask & bit) && !ctx->listeners[i].concurrent)
            ctx->listeners[i].fn(ev, ctx->listeners[i].arg);
    pthread_mutex_unlock(&ctx->ev_mu);
}

void ember__events_init(ember_ctx *ctx)
{
    ember__mutex_init_short(&ctx->ev_mu);
    ctx->app_start_ns = wall_ns();
    ctx->rt_off = (int64_t)(ctx->app_start_ns - ember__now_ns());
    ctx->cur_job = -1;
}

void ember__events_close(ember_ctx *ctx)
{
    if (ember__ev_wanted(ctx, EMBER_EV_APP_END)) {
        ember_event ev = {.type = EMBER_EV_APP_END, .duration_ns = wall_ns() - ctx->app_start_ns};
        ember__emit(ctx, &ev);
    }
    ember__free(ctx->listeners);
    ctx->listeners = NULL;
    ctx->nlisteners = 0;
    pthread_mutex_destroy(&ctx->ev_mu);
}

/* ---------------------------------------------------------------- the job scope */

void ember__job_open(ember_ctx *ctx, const char *action)
{
    if (ctx->action_depth++ > 0)
        return; /* an action inside an action: the same job */
    ctx->cur_job = ctx->next_job_id++;
    ctx->cur_job_name = action;
    ctx->job_t0 = ember__now_ns();
    if (atomic_load_explicit(&ctx->ev_public, memory_order_relaxed)) /* the wall clock may move */
        ctx->rt_off = (int64_t)(wall_ns() - ctx->job_t0);
    ctx->job_stages = ctx->job_failed_tasks = ctx->job_failed = 0;
    ctx->job_metrics = (ember_task_metrics){0};
    if (ember__ev_wanted(ctx, EMBER_EV_JOB_START)) {
        ember_event ev = {.type = EMBER_EV_JOB_START,
                          .time_ns = ctx->job_t0,
                          .job_id = ctx->cur_job,
                          .job_name = action};
        ember__emit(ctx, &ev);
    }
}

int ember__action_end(ember_ctx *ctx, int rc)
{
    if (ctx->action_depth <= 0 || --ctx->action_depth > 0)
        return rc;
    if (ember__ev_wanted(ctx, EMBER_EV_JOB_END)) {
        uint64_t now = ember__now_ns();
        ember_event ev = {.type = EMBER_EV_JOB_END,
                          .time_ns = now,
                          .job_id = ctx->cur_job,
                          .job_name = ctx->cur_job_name,
                          .failed = rc != 0,
                          .code = rc,
                          .error = rc ? ctx->errmsg : "",
                          .stages = ctx->job_stages,
                          .tasks_failed = ctx->job_failed_tasks,
                          .metrics = ctx->job_metrics,
                          .duration_ns = now - ctx->job_t0};
        ember__emit(ctx, &ev);
    }
    ctx->cur_job = -1;
    return rc;
}

void ember__job_stage_done(ember_ctx *ctx, const ember_task_metrics *m, int failed_tasks)
{
    ctx->job_stages++;
    ctx->job_failed_tasks += failed_tasks;
    ember__metrics_add(&ctx->job_metrics, m);
}
