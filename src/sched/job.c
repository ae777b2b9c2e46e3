/* Jobs: one task per partition, run on the executor, with retries.
 *
 * A job belongs to one action. Each task runs up to max_failures attempts; an
 * attempt starts from a reset sink state, so a failed attempt leaves nothing in
 * the result, and its accumulator updates are dropped. When a task has used all
 * its attempts, the job is marked to abort: tasks not yet started are skipped,
 * and the action fails with the message of the lowest failing partition (so the
 * message does not depend on thread timing).
 *
 * Locks: job->mu guards the job's error; stats are per task and summed by the
 * driver after the executor returns.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/lazy.h"
#include "exec/exec.h"
#include "sched/sched.h"

/* A task's figures: its successful attempt's counters, the time of all its
 * attempts, and how many it took. */
typedef struct task_stats {
    ember_task_metrics m;
    int attempts, failed;
} task_stats;

typedef struct batch {
    ember__job *job;
    task_stats *ts;
    const int *map;    /* distributed: the job's tasks this rank runs (NULL: all) */
    ember_buf *accs;   /* distributed: each task's accumulator updates, packed */
    int64_t *task_ids; /* isolated: each task's current attempt's id and worker */
    int *pids;
} batch;

static void attempt_init(ember__task *t, ember__job *job, int i, int attempt, int worker)
{
    ember__acc_update *accs = t->accs;
    int cap = t->cap_accs;
    ember_ctx *ctx = job->ctx;
    *t = (ember__task){.ctx = ctx,
                       .job = job,
                       .index = i,
                       .partition = job->parts[i],
                       .attempt = attempt,
                       .timed = ctx->stats_on,
                       .accs = accs,
                       .cap_accs = cap};
    /* the worker's word, which ember_cancel sets: cleared, then the cancel
     * flag is read (ember_cancel sets the flag before the words) */
    t->halt = worker >= 0 && worker < ctx->nhalts ? &ctx->halts[worker].word : &t->halt_own;
    atomic_store(t->halt, 0);
    t->worker = worker >= 0 ? worker : 0;
}

static void job_fail(ember__job *job, int i, int attempts, const ember__task *t)
{
    pthread_mutex_lock(&job->mu);
    if (t->fail_code == EMBER_ECANCELED) {
        /* a cancel is the job's, not a task's: it wins over task failures */
        if (job->err != EMBER_ECANCELED) {
            job->err = EMBER_ECANCELED;
            job->err_task = -1;
            snprintf(job->errmsg, sizeof job->errmsg, "%s cancelled", job->action);
        }
    } else if (job->err != EMBER_ECANCELED && (!job->err || i < job->err_task)) {
        job->err = t->fail_code;
        job->err_task = i;
        snprintf(job->errmsg, sizeof job->errmsg,
                 "%s failed: task for partition %d of rdd %lld failed %d of %d attempt%s; "
                 "last attempt: %s",
                 job->action, t->partition, (long long)job->rdd->id, attempts,
                 job->ctx->max_failures, job->ctx->max_failures == 1 ? "" : "s", t->fail_msg);
    }
    pthread_mutex_unlock(&job->mu);
    atomic_store(&job->abort, true);
}

/* Spark's taskId of task i's attempt: the stage's first attempts take the ids
 * it set aside, in index order (no word shared between task threads); a
 * retry takes the next free one. */
static int64_t task_id(ember__job *job, int i, int attempt)
{
    return attempt == 1
               ? job->task_id_base + i
               : atomic_fetch_add_explicit(&job->ctx->next_task_id, 1, memory_order_relaxed);
}

/* What attempt t did, as Spark's task metrics. */
static ember_task_metrics task_metrics(const ember__task *s, uint64_t run_ns)
{
    ember_task_metrics m = {.run_ns = run_ns, .user_ns = s->user_ns}, *d = &m;
    EMBER__COUNTERS(EMBER__COUNTER_COPY)
    return m;
}

/* A task's events: its start, and its end with what the attempt did; at: when
 * (CLOCK_MONOTONIC, as ember__now_ns), 0 for now. */
static void task_event(ember__job *job, const ember__task *t, int type, int rc, uint64_t run_ns,
                       uint64_t at)
{
    ember_ctx *ctx = job->ctx;
    ember_accumulable acc[16];
    ember_event ev = {.type = type,
                      .time_ns = at,
                      .job_id = job->job_id,
                      .job_name = ctx->cur_job_name,
                      .stage_id = job->stage_id,
                      .stage_name = job->stage_name,
                      .stage_kind = job->stage_kind,
                      .num_tasks = job->ntasks,
                      .task_index = t->index,
                      .partition = t->partition,
                      .attempt = t->attempt,
                      .max_attempts = ctx->max_failures,
                      .task_id = t->task_id,
                      .worker = t->worker + ctx->rank * ctx->nhalts,
                      .worker_pid = t->pid ? t->pid : ember__pid(),
                      .worker_lost = t->lost};
    if (type == EMBER_EV_TASK_END) {
        ev.failed = rc != 0;
        ev.code = rc;
        ev.error = rc ? t->fail_msg : "";
        ev.duration_ns = run_ns;
        ev.metrics = task_metrics(t, run_ns);
        ev.naccums = rc ? 0 : ember__acc_updates(t, acc, 16);
        ev.accums = acc;
    }
    ember__emit(ctx, &ev);
}

/* An attempt's outcome once its compute returned rc: a stop asked by the
 * sink is success, a failure the task recorded wins, and the sink finishes
 * the output of an attempt that went well. 0 or the failure. */
static int attempt_outcome(ember__job *job, ember__task *t, void *state, int rc)
{
    if (rc == EMBER__STOP)
        rc = 0;
    if (!rc && t->fail_code)
        rc = t->fail_code;
    if (!rc && job->sink->finish && (rc = job->sink->finish(state, t)) && !t->fail_code)
        ember__task_fail(t, rc, "%s: finishing the task's output failed", job->action);
    return rc;
}

static void run_task(void *arg, int k, int worker)
{
    batch *b = arg;
    int i = b->map ? b->map[k] : k;
    ember__job *job = b->job;
    task_stats *ts = &b->ts[i];
    void *state = ember__job_state(job, i);
    ember__task t = {0};
    int max = job->ctx->max_failures;

    for (int attempt = 1; attempt <= max; attempt++) {
        if (atomic_load_explicit(&job->abort, memory_order_relaxed))
            break;
        attempt_init(&t, job, i, attempt, worker);
        if (atomic_load(&job->ctx->cancel)) { /* not started: not retried either */
            ember__task_fail(&t, EMBER_ECANCELED, "cancelled");
            ts->failed++;
            job_fail(job, i, attempt, &t);
            break;
        }
        int rc = job->sink->reset(state, job);
        if (rc) {
            ember__task_fail(&t, rc, "%s: out of memory starting the task", job->action);
            goto failed;
        }
        ember_out term = {
            .push = job->sink->push, .task = &t, .state = state, .reads = job->sink->reads};
        ember__task *outer = ember__cur_task;
        ember__cur_task = &t;
        bool events = ember__ev_wanted(job->ctx, EMBER_EV_TASK_END);
        if (events)
            t.task_id = task_id(job, i, attempt);
        if (ember__ev_wanted(job->ctx, EMBER_EV_TASK_START))
            task_event(job, &t, EMBER_EV_TASK_START, 0, 0, 0);
        uint64_t t0 = ember__now_ns();
        rc = ember__compute(job->rdd, t.partition, &term);
        uint64_t run = ember__now_ns() - t0;
        ts->m.run_ns += run;
        ember__cur_task = outer;
        ts->m.user_ns += t.user_ns;
        ts->attempts++;
        rc = attempt_outcome(job, &t, state, rc);
        if (events) /* (before the commit: it takes the updates) */
            task_event(job, &t, EMBER_EV_TASK_END, rc ? (t.fail_code ? t.fail_code : rc) : 0, run,
                       t0 + run);
        if (!rc) /* distributed: merged on every rank after the exchange, in task order */
            rc = b->accs ? ember__acc_pack(&t, &b->accs[i]) : ember__acc_commit(&t);
        if (!rc) {
            ember_task_metrics *d = &ts->m;
            const ember__task *s = &t;
            EMBER__COUNTERS(EMBER__COUNTER_COPY)
            break;
        }
        if (!t.fail_code)
            ember__task_fail(&t, rc, "error %d (%s)", rc, ember_strerror(rc));
    failed:
        ember__acc_discard(&t);
        ts->failed++;
        if (attempt == max || t.fail_code == EMBER_ECANCELED) {
            job_fail(job, i, attempt, &t);
            break;
        }
    }
    for (int a = 0; a < t.cap_accs; a++)
        ember_buf_destroy(&t.accs[a].bytes);
    ember__free(t.accs);
}

/* ---------------------------------------------------------------- isolated backends */

/* process[N]: an attempt runs in a worker, which packs what it left (its
 * outcome, counters, accumulator updates, the sink's state); the driver takes
 * it in, emits the task's events, and says whether the task runs again. */

static void iso_child(void *arg)
{
    ember_ctx *ctx = ((batch *)arg)->job->ctx;
    /* the driver's listeners, threads and their locks are not the worker's */
    atomic_store(&ctx->ev_mask, 0);
    atomic_store(&ctx->ev_public, 0);
    ctx->nlisteners = 0;
    ctx->bpool = NULL; /* a blocking pool of its own: the driver's threads are not here */
    ember__bpool_open(ctx);
    ctx->ui = NULL;
    ctx->in_worker = true;
}

static void iso_run(void *arg, int i, int attempt, int worker, int64_t skip, const char *why,
                    const ember__worker_env *env, ember_buf *out, int *fds, int *nfds)
{
    batch *b = arg;
    ember__job *job = b->job;
    void *state = ember__job_state(job, i);
    ember__task t = {0};
    attempt_init(&t, job, i, attempt, worker);
    t.cursor = env->cursor;
    t.skip = skip;
    t.skip_why = why;
    t.halt = env->halt; /* the driver sets these on a cancel (and clears the halt
                           before it hands the attempt over) */
    t.cancel = env->cancel;
    int rc = job->sink->reset(state, job);
    uint64_t t0 = ember__now_ns(), run = 0;
    if (rc) {
        ember__task_fail(&t, rc, "%s: out of memory starting the task", job->action);
    } else {
        ember_out term = {
            .push = job->sink->push, .task = &t, .state = state, .reads = job->sink->reads};
        ember__cur_task = &t;
        rc = ember__compute(job->rdd, t.partition, &term);
        run = ember__now_ns() - t0;
        ember__cur_task = NULL;
        rc = attempt_outcome(job, &t, state, rc);
        if (rc && !t.fail_code)
            ember__task_fail(&t, rc, "error %d (%s)", rc, ember_strerror(rc));
    }
    ember_buf accs = {0}, st = {0};
    ember__wr w = ember__wr_to(out);
    ember__wr_u(&w, rc == 0);
    ember__wr_i(&w, t.fail_code);
    ember__wr_bytes(&w, t.fail_msg, rc ? strlen(t.fail_msg) : 0);
    ember__wr_u(&w, run);
    ember__wr_u(&w, t.user_ns);
#define PUT(f, col, width) ember__wr_i(&w, t.f);
    EMBER__COUNTERS(PUT)
#undef PUT
    int prc = 0;
    if (!rc) {
        prc = ember__acc_pack(&t, &accs);
        const ember__sink_ops *k = job->sink;
        int (*ship)(const void *, const ember__job *, ember_buf *) = k->ship ? k->ship : k->pack;
        if (!prc && ship)
            prc = ship(state, job, &st);
        if (!prc && k->ship_fds)
            *nfds = k->ship_fds(state, fds, 8);
    }
    ember__wr_bytes(&w, accs.ptr, accs.len);
    ember__wr_bytes(&w, st.ptr, st.len);
    /* the partitions it cached: the driver keeps them for later stages */
    ember__wr_u(&w, rc ? 0 : (uint64_t)t.nfills);
    for (int k = 0; !rc && k < t.nfills; k++) {
        ember_rdd *n = t.fills[k].node;
        pthread_mutex_lock(&n->cache_mu);
        const ember_buf *c =
            n->have && n->have[t.fills[k].part] ? &n->cached[t.fills[k].part] : NULL;
        ember__wr_u(&w, (uint64_t)(uintptr_t)n);
        ember__wr_u(&w, (uint64_t)t.fills[k].part);
        ember__wr_bytes(&w, c ? c->ptr : NULL, c ? c->len : 0);
        pthread_mutex_unlock(&n->cache_mu);
    }
    if (prc || w.err) { /* no room for the result: an out-of-memory failure, said small */
        out->len = 0;
        *nfds = 0;
        ember__wr_u(&w, 0);
        ember__wr_i(&w, EMBER_ENOMEM);
        ember__wr_bytes(&w, "out of memory handing the task's result back", 44);
    }
    ember_buf_destroy(&accs);
    ember_buf_destroy(&st);
    for (int a = 0; a < t.cap_accs; a++)
        ember_buf_destroy(&t.accs[a].bytes);
    ember__free(t.accs);
}

static void iso_started(void *arg, int i, int attempt, int worker, int pid)
{
    batch *b = arg;
    ember__job *job = b->job;
    if (!ember__ev_wanted(job->ctx, EMBER_EV_TASK_START))
        return;
    ember__task t = {0};
    attempt_init(&t, job, i, attempt, worker);
    t.task_id = task_id(job, i, attempt);
    t.pid = pid;
    b->task_ids[i] = t.task_id;
    b->pids[i] = pid;
    task_event(job, &t, EMBER_EV_TASK_START, 0, 0, 0);
}

/* A failed attempt of task i: counted, and the job's failure after its last. */
static int iso_failed(batch *b, int i, int attempt, int code, const char *msg, uint64_t run,
                      bool lost)
{
    ember__job *job = b->job;
    ember__task t = {0};
    attempt_init(&t, job, i, attempt, 0);
    t.task_id = b->task_ids[i];
    t.pid = b->pids[i];
    t.lost = lost;
    ember__task_fail(&t, code ? code : EMBER_EIO, "%s", msg);
    b->ts[i].failed++;
    b->ts[i].attempts++;
    b->ts[i].m.run_ns += run;
    if (ember__ev_wanted(job->ctx, EMBER_EV_TASK_END))
        task_event(job, &t, EMBER_EV_TASK_END, t.fail_code, run, 0);
    if (attempt >= job->ctx->max_failures || code == EMBER_ECANCELED ||
        atomic_load_explicit(&job->abort, memory_order_relaxed)) {
        job_fail(job, i, attempt, &t);
        return 1;
    }
    return 0;
}

static int iso_land(void *arg, int i, int attempt, ember_bytes packed, const int *fds, int nfds)
{
    batch *b = arg;
    ember__job *job = b->job;
    ember__rd r = ember__rd_of(packed);
    bool ok = ember__rd_u(&r) != 0;
    int code = (int)ember__rd_i(&r);
    ember_bytes msg = ember__rd_bytes(&r);
    uint64_t run = ember__rd_u(&r);
    ember__task t = {0};
    t.user_ns = ember__rd_u(&r);
#define GET(f, col, width) t.f = ember__rd_i(&r);
    EMBER__COUNTERS(GET)
#undef GET
    ember_bytes accs = ember__rd_bytes(&r), st = ember__rd_bytes(&r);
    /* a worker that spilled loaded libzstd for its runs: the driver loads it
     * too, so the workers forked from now on (the rest of this stage's, the
     * reduce side's) have it mapped instead of each loading it again */
    if (!r.err && t.spill_count > 0)
        (void)ember__lib_load(&ember__libzstd);
    char why[512];
    if (r.err) {
        ok = false;
        code = EMBER_EIO;
        snprintf(why, sizeof why, "the worker's result does not decode");
    } else if (!ok) {
        snprintf(why, sizeof why, "%.*s", (int)msg.len, (const char *)msg.ptr);
    }
    int rc = 0;
    if (ok) {
        /* the state, as the worker left it */
        void *state = ember__job_state(job, i);
        const ember__sink_ops *k = job->sink;
        int (*take)(void *, const ember__job *, ember_bytes) = k->take ? k->take : k->unpack;
        if (take && !(rc = k->reset(state, job)))
            rc = take(state, job, st);
        if (!rc && k->take_fds)
            k->take_fds(state, fds, nfds);
        else
            for (int f = 0; f < nfds; f++)
                close(fds[f]);
        if (!rc && accs.len)
            rc = ember__acc_apply(job->ctx, accs);
        /* the partitions it cached, into the driver's nodes (made before the fork) */
        uint64_t nf = ember__rd_u(&r);
        for (uint64_t f = 0; !rc && !r.err && f < nf; f++) {
            ember_rdd *n = (ember_rdd *)(uintptr_t)ember__rd_u(&r);
            int part = (int)ember__rd_u(&r);
            ember_bytes c = ember__rd_bytes(&r);
            if (!r.err && part >= 0 && part < n->nparts && n->cache_on)
                rc = ember__cache_put(n, part, c);
        }
        if (rc) {
            ok = false;
            code = rc;
            snprintf(why, sizeof why, "%s: taking in the task's result: %s", job->action,
                     ember_strerror(rc));
        }
    } else {
        for (int f = 0; f < nfds; f++)
            close(fds[f]);
    }
    if (!ok)
        return iso_failed(b, i, attempt, code, why, run, false);
    task_stats *ts = &b->ts[i];
    ts->attempts++;
    ts->m.run_ns += run;
    ts->m.user_ns += t.user_ns;
    {
        ember_task_metrics *d = &ts->m;
        const ember__task *s = &t;
        EMBER__COUNTERS(EMBER__COUNTER_COPY)
    }
    if (ember__ev_wanted(job->ctx, EMBER_EV_TASK_END)) {
        ember__task e = t;
        attempt_init(&e, job, i, attempt, 0);
        e.task_id = b->task_ids[i];
        e.pid = b->pids[i];
#define COPY(f, col, width) e.f = t.f;
        EMBER__COUNTERS(COPY)
#undef COPY
        e.user_ns = t.user_ns;
        task_event(job, &e, EMBER_EV_TASK_END, 0, run, 0);
    }
    return 1;
}

static int iso_died(void *arg, int i, int attempt, const char *why)
{
    batch *b = arg;
    char msg[600];
    snprintf(msg, sizeof msg, "%s", why);
    return iso_failed(b, i, attempt, EMBER_EIO, msg, 0, true);
}

/* Run the stage's tasks in worker processes. 0 or EMBER_ENOMEM. */
static int run_isolated(ember__job *job, batch *b)
{
    ember_ctx *ctx = job->ctx;
    int n = job->ntasks;
    b->task_ids = ember__calloc((size_t)n + 1, sizeof *b->task_ids);
    b->pids = ember__calloc((size_t)n + 1, sizeof *b->pids);
    int rc = EMBER_ENOMEM;
    if (b->task_ids && b->pids) {
        ember__task_io io = {.run = iso_run,
                             .started = iso_started,
                             .land = iso_land,
                             .died = iso_died,
                             .child = iso_child,
                             .max_attempts = ctx->max_failures,
                             .partitions = job->parts,
                             .poison = ctx->poison};
        rc = ctx->exec->run_isolated(ctx->exec_impl, n, &io, b);
    }
    if (atomic_load(&ctx->cancel) && !job->err) { /* the workers were stopped */
        job->err = EMBER_ECANCELED;
        job->err_task = -1;
        snprintf(job->errmsg, sizeof job->errmsg, "%s cancelled", job->action);
    }
    if (rc && !job->err) {
        job->err = rc;
        snprintf(job->errmsg, sizeof job->errmsg, "%s failed: the worker processes: %s",
                 job->action, ember_strerror(rc));
    }
    ember__free(b->task_ids);
    ember__free(b->pids);
    b->task_ids = NULL;
    b->pids = NULL;
    return 0;
}

int ember__job_end(ember__job *job, int rc)
{
    ember_ctx *ctx = job->ctx;
    uint64_t now = ember__now_ns();
    const ember_stage_stats *st = &job->stage;
    job->stage.gather_ns = now > job->t_run_end ? now - job->t_run_end : 0;
    ember_task_metrics m;
    ember__stage_metrics(&m, st);
    ember__job_stage_done(ctx, &m, st->failed_attempts);
    if (ember__ev_wanted(ctx, EMBER_EV_STAGE_COMPLETED)) {
        ember_event ev = {.type = EMBER_EV_STAGE_COMPLETED,
                          .time_ns = now,
                          .job_id = job->job_id,
                          .job_name = ctx->cur_job_name,
                          .stage_id = job->stage_id,
                          .stage_name = job->stage_name,
                          .stage_kind = job->stage_kind,
                          .num_tasks = job->ntasks,
                          .failed = rc != 0,
                          .code = rc,
                          .error = rc ? (job->err ? job->errmsg : ctx->errmsg) : "",
                          .tasks_failed = st->failed_attempts,
                          .metrics = m,
                          .attempt = st->attempts,
                          .duration_ns = now - job->t_start,
                          .sched_ns = st->sched_ns,
                          .gather_ns = st->gather_ns};
        ember__emit(ctx, &ev);
    }
    if (job->sink->destroy)
        for (int i = 0; i < job->ntasks; i++)
            job->sink->destroy(ember__job_state(job, i));
    pthread_mutex_destroy(&job->mu);
    ember__free(job->states_mem);
    ember__free(job->parts);
    ember__free(job);
    return rc;
}

/* ---------------------------------------------------------------- distributed jobs */

/* Partition p's tasks run on rank p % ranks, in every job, so a cached partition
 * is found where it was computed. */
int ember__task_owner(const ember_ctx *ctx, int partition)
{
    return ctx->ranks > 1 ? partition % ctx->ranks : 0;
}

/* Run this rank's share of the job, then exchange with the other ranks what
 * every task left: its stats, its accumulator updates, its sink state, and the
 * rank's first failure. Afterwards every rank holds the whole job, as if it had
 * run every task: the action's gathering is the same code on every rank, so it
 * returns the same result (or the same message) everywhere. 0 or EMBER_ENOMEM. */
static int run_distributed(ember__job *job, batch *b)
{
    ember_ctx *ctx = job->ctx;
    int n = job->ntasks, nmine = 0, rc = 0;
    int *mine = ember__calloc((size_t)n + 1, sizeof *mine);
    ember_buf *accs = ember__calloc((size_t)n + 1, sizeof *accs);
    size_t *offs = ember__calloc((size_t)ctx->ranks + 1, sizeof *offs);
    ember_buf out = {0}, all = {0}, state = {0};
    if (!mine || !accs || !offs) {
        rc = EMBER_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (ember__task_owner(ctx, job->parts[i]) == ctx->rank)
            mine[nmine++] = i;
    b->map = mine;
    b->accs = accs;
    if (nmine > 0)
        ctx->exec->run(ctx->exec_impl, nmine, run_task, b);

    /* this rank's part: its first failure, then each of its tasks */
    ember__wr w = ember__wr_to(&out);
    ember__wr_i(&w, job->err);
    ember__wr_i(&w, job->err_task);
    ember__wr_bytes(&w, job->errmsg, job->err ? strlen(job->errmsg) : 0);
    ember__wr_u(&w, (uint64_t)nmine);
    for (int k = 0; !w.err && k < nmine; k++) {
        int i = mine[k];
        const ember_task_metrics *s = &b->ts[i].m;
#define PUT(f, col, width) ember__wr_i(&w, s->f);
        ember__wr_u(&w, (uint64_t)i);
        ember__wr_u(&w, s->run_ns);
        ember__wr_u(&w, s->user_ns);
        EMBER__COUNTERS(PUT)
#undef PUT
        ember__wr_u(&w, (uint64_t)b->ts[i].attempts);
        ember__wr_u(&w, (uint64_t)b->ts[i].failed);
        ember__wr_bytes(&w, accs[i].ptr, accs[i].len);
        state.len = 0;
        if (job->sink->pack && !job->err &&
            (rc = job->sink->pack(ember__job_state(job, i), job, &state)))
            w.err = rc;
        ember__wr_bytes(&w, state.ptr, state.len);
    }
    rc = w.err;
    /* every rank takes part in the exchange, even one that ran out of memory:
     * it sends what it has and fails after */
    int xrc = ctx->exec->allgather(ctx->exec_impl, &out, &all, offs);
    if (!rc)
        rc = xrc;
    for (int r = 0; !rc && r < ctx->ranks; r++) {
        ember__rd in = ember__rd_of(ember_bytes_of(all.ptr + offs[r], offs[r + 1] - offs[r]));
        int err = (int)ember__rd_i(&in), err_task = (int)ember__rd_i(&in);
        ember_bytes msg = ember__rd_bytes(&in);
        if (!in.err && err && (!job->err || err_task < job->err_task)) {
            job->err = err;
            job->err_task = err_task;
            snprintf(job->errmsg, sizeof job->errmsg, "%.*s", (int)msg.len, (const char *)msg.ptr);
        }
        uint64_t cnt = ember__rd_u(&in);
        for (uint64_t k = 0; !in.err && !rc && k < cnt; k++) {
            uint64_t i = ember__rd_u(&in);
            task_stats got = {0};
            ember_task_metrics *s = &got.m;
#define GET(f, col, width) s->f = ember__rd_i(&in);
            s->run_ns = ember__rd_u(&in);
            s->user_ns = ember__rd_u(&in);
            EMBER__COUNTERS(GET)
#undef GET
            got.attempts = (int)ember__rd_u(&in);
            got.failed = (int)ember__rd_u(&in);
            ember_bytes acc = ember__rd_bytes(&in), st = ember__rd_bytes(&in);
            if (in.err || i >= (uint64_t)n)
                in.err = EMBER_EIO;
            if (in.err || r == ctx->rank)
                continue;
            b->ts[i] = got;
            if (ember_buf_set(&accs[i], acc.ptr, acc.len))
                rc = EMBER_ENOMEM;
            if (!rc && job->sink->unpack && st.len) {
                void *state_i = ember__job_state(job, (int)i);
                if (!(rc = job->sink->reset(state_i, job)))
                    rc = job->sink->unpack(state_i, job, st);
            }
        }
        if (!rc && in.err)
            rc = in.err;
    }
    /* accumulators: every successful task's updates, in task order, on every rank */
    for (int i = 0; !rc && i < n; i++)
        if (accs[i].len)
            rc = ember__acc_apply(ctx, ember_buf_bytes(&accs[i]));
    if (rc && !job->err) {
        job->err = rc;
        snprintf(job->errmsg, sizeof job->errmsg,
                 "%s failed: gathering the tasks of the other ranks: %s", job->action,
                 ember_strerror(rc));
    }
    rc = 0;
out:
    for (int i = 0; accs && i < n; i++)
        ember_buf_destroy(&accs[i]);
    ember__free(accs);
    ember__free(mine);
    ember__free(offs);
    ember_buf_destroy(&out);
    ember_buf_destroy(&all);
    ember_buf_destroy(&state);
    b->map = NULL;
    b->accs = NULL;
    return rc;
}

int ember__agree(ember_ctx *ctx, int rc)
{
    if (ctx->ranks <= 1)
        return rc;
    ember_buf b = {0};
    if (ctx->rank == 0) {
        ember__wr w = ember__wr_to(&b);
        ember__wr_i(&w, rc);
        ember__wr_bytes(&w, ctx->errmsg, rc ? strlen(ctx->errmsg) : 0);
        if (w.err)
            b.len = 0; /* out of memory: the others get rank 0's rc as EMBER_ENOMEM below */
    }
    int xrc = ctx->exec->bcast(ctx->exec_impl, &b, 0);
    ember__rd in = ember__rd_of(ember_buf_bytes(&b));
    int agreed = (int)ember__rd_i(&in);
    ember_bytes msg = ember__rd_bytes(&in);
    if (xrc || !b.len || in.err) {
        ember_buf_destroy(&b);
        return ember__err(ctx, xrc ? xrc : EMBER_ENOMEM, "the ranks could not agree: %s",
                          ember_strerror(xrc ? xrc : EMBER_ENOMEM));
    }
    if (ctx->rank != 0 && agreed)
        ember__err(ctx, agreed, "%.*s", (int)msg.len, (const char *)msg.ptr);
    ember_buf_destroy(&b);
    return agreed;
}

int ember__agree_any(ember_ctx *ctx, int rc)
{
    if (ctx->ranks <= 1)
        return rc;
    ember_buf mine = {0}, all = {0};
    ember__wr w = ember__wr_to(&mine);
    ember__wr_i(&w, rc);
    ember__wr_bytes(&w, ctx->errmsg, rc ? strlen(ctx->errmsg) : 0);
    size_t *offs = ember__calloc((size_t)ctx->ranks + 1, sizeof *offs);
    /* every rank takes part, even one out of memory (it sends what it has) */
    int xrc = offs ? ctx->exec->allgather(ctx->exec_impl, &mine, &all, offs) : EMBER_ENOMEM;
    int agreed = 0;
    if (xrc || w.err)
        agreed = ember__err(ctx, xrc ? xrc : w.err, "the ranks could not agree: %s",
                            ember_strerror(xrc ? xrc : w.err));
    for (int r = 0; !agreed && r < ctx->ranks; r++) { /* the lowest rank that failed */
        ember__rd in = ember__rd_of(ember_bytes_of(all.ptr + offs[r], offs[r + 1] - offs[r]));
        int theirs = (int)ember__rd_i(&in);
        ember_bytes msg = ember__rd_bytes(&in);
        if (in.err)
            agreed = ember__err(ctx, EMBER_EIO, "the ranks could not agree: %s",
                                ember_strerror(EMBER_EIO));
        else if ((agreed = theirs) && r != ctx->rank)
            ember__err(ctx, theirs, "%.*s (on rank %d)", (int)msg.len, (const char *)msg.ptr, r);
    }
    ember__free(offs);
    ember_buf_destroy(&mine);
    ember_buf_destroy(&all);
    return agreed;
}

/* s at out[at], cut to fit out[cap] (at < cap) and ended with a 0: the new end. */
static size_t put(char *out, size_t cap, size_t at, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (n > cap - 1 - at)
        n = cap - 1 - at;
    memcpy(out + at, s, n);
    out[at + n] = 0;
    return at + n;
}

/* The stage's name: the operations it fuses, source (or the shuffle it reads)
 * to its last node, then what it ends in. Every stage gets one while a
 * listener reads names, so it is copied together, not printed. */
static void name_stage(char *out, size_t cap, const ember_rdd *rdd, const char *tail)
{
    const char *ops[24];
    int n = 0;
    bool more = false;
    for (const ember_rdd *x = rdd; x; x = x->parent) {
        if (n == 24) {
            more = true;
            break;
        }
        if (x->type != &ember__probe_type) /* named by its parent's ops and its tail */
            ops[n++] = x->op;
        if (x->type->flags & EMBER__NT_WIDE)
            break; /* the stage starts at the shuffle's output */
    }
    size_t at = 0;
    if (more)
        at = put(out, cap, at, "... -> ");
    for (int i = n - 1; i >= 0; i--) {
        at = put(out, cap, at, ops[i]);
        at = put(out, cap, at, " -> ");
    }
    put(out, cap, at, tail);
}

int ember__job_run(ember_rdd *rdd, const char *action, const ember__sink_ops *sink, const void *arg,
                   const int *parts, int nparts, ember__job **out)
{
    return ember__stage_run(rdd, action, sink, arg, parts, nparts, EMBER_STAGE_RESULT, action, out);
}

int ember__stage_run(ember_rdd *rdd, const char *action, const ember__sink_ops *sink,
                     const void *arg, const int *parts, int nparts, int kind, const char *what,
                     ember__job **out)
{
    ember_ctx *ctx = rdd->ctx;
    uint64_t t_start = ember__now_ns();
    int n = parts ? nparts : rdd->nparts;
    ember__job *job = ember__calloc(1, sizeof *job);
    task_stats *ts = ember__calloc((size_t)n, sizeof *ts);
    if (!job || !ts)
        goto out_nomem;
    job->parts = ember__malloc((size_t)n * sizeof *job->parts);
    /* one cache line at least per task: tasks on other threads write their own */
    job->stride = (sink->state_size + 63) & ~(size_t)63;
    job->states_mem = ember__calloc((size_t)n * job->stride + 64, 1);
    if (!job->parts || !job->states_mem)
        goto out_nomem;
    job->states = job->states_mem + ((64 - ((uintptr_t)job->states_mem & 63)) & 63);
    pthread_mutex_init(&job->mu, NULL);
    job->ctx = ctx;
    job->rdd = rdd;
    job->action = action;
    job->sink = sink;
    job->arg = arg;
    job->ntasks = n;
    job->t_start = t_start;
    job->job_id = ctx->cur_job;
    job->stage_id = ctx->next_stage_id++;
    job->stage_kind = kind;
    /* named only for the program's listeners: the stats read no names, and a
     * tiny job should not pay for a string */
    if (atomic_load_explicit(&ctx->ev_public, memory_order_relaxed))
        name_stage(job->stage_name, sizeof job->stage_name, rdd, what);
    atomic_init(&job->abort, false);
    for (int i = 0; i < n; i++)
        job->parts[i] = parts ? parts[i] : i;

    batch b = {job, ts, NULL, NULL, NULL, NULL};
    if (ember__ev_wanted(ctx, EMBER_EV_TASK_END) || ember__ev_wanted(ctx, EMBER_EV_TASK_START))
        job->task_id_base = atomic_fetch_add(&ctx->next_task_id, n);
    if (ember__ev_wanted(ctx, EMBER_EV_STAGE_SUBMITTED)) {
        ember_event ev = {.type = EMBER_EV_STAGE_SUBMITTED,
                          .job_id = job->job_id,
                          .job_name = ctx->cur_job_name,
                          .stage_id = job->stage_id,
                          .stage_name = job->stage_name,
                          .stage_kind = kind,
                          .num_tasks = n,
                          .max_attempts = ctx->max_failures};
        ember__emit(ctx, &ev);
    }
    job->t_run_start = ember__now_ns();
    if (ctx->ranks > 1) {
        if (run_distributed(job, &b))
            goto out_nomem;
    } else if (n > 0 && ctx->exec->run_isolated) {
        run_isolated(job, &b);
    } else if (n > 0) {
        ctx->exec->run(ctx->exec_impl, n, run_task, &b);
    }
    job->t_run_end = ember__now_ns();

    ember_stage_stats *s = &job->stage;
    s->tasks = n;
    s->sched_ns = job->t_run_start - t_start;
    ember_task_metrics sum = {0};
    for (int i = 0; i < n; i++) {
        ember__metrics_add(&sum, &ts[i].m);
        s->attempts += ts[i].attempts;
        s->failed_attempts += ts[i].failed;
    }
    ember__stage_set_metrics(s, &sum);
    ember__free(ts);
    if (job->err) {
        if (job->err == EMBER_ECANCELED) /* reported: the context is usable again */
            atomic_store(&ctx->cancel, 0);
        ember__err(ctx, job->err, "%s", job->errmsg);
        return ember__job_end(job, job->err);
    }
    *out = job;
    return 0;

out_nomem:
    if (job) {
        ember__free(job->parts);
        ember__free(job->states_mem);
    }
    ember__free(job);
    ember__free(ts);
    return ember__err(ctx, EMBER_ENOMEM, "%s: out of memory scheduling %d tasks", action, n);
}

/* ---------------------------------------------------------------- lineage preparation */

/* zip_with_index needs the size of every partition before it: a stage of the
 * first action that needs it (Spark runs a job when the rdd is built; we keep
 * building lazy). */
int ember__zip_prepare(ember_rdd *n, const char *action)
{
    int64_t *off = ember__calloc((size_t)n->nparts + 1, sizeof *off);
    if (!off)
        return ember__err(n->ctx, EMBER_ENOMEM, "%s: out of memory", action);
    if (n->nparts > 1) {
        ember__job *job;
        int rc = ember__stage_run(n->parent, "zip_with_index", &ember__count_sink, NULL, NULL, 0,
                                  EMBER_STAGE_RESULT, "zip_with_index (counting)", &job);
        if (rc) {
            ember__free(off);
            return rc;
        }
        for (int i = 0; i < n->nparts; i++)
            off[i + 1] = off[i] + *(int64_t *)ember__job_state(job, i);
        ember__job_end(job, 0);
    }
    n->u.offsets = off;
    return 0;
}

/* Run the prepare of every node of the lineage that has one and has not run
 * it, parents first (a shuffle's map side reads what is before it). A
 * prepared node's ancestors are all prepared. Distributed, every rank learns
 * whether any failed after each hook (a hook may fail on one rank alone, e.g.
 * a file it opens): ranks that went on would call collectives the failed one
 * never calls. */
static int prepare(ember_rdd *n, const char *action)
{
    for (; n && !n->prepared; n = n->parent) {
        int rc;
        if (n->ck) { /* checkpoint: materialized now (after what it reads), its lineage cut */
            if ((n->parent2 && (rc = prepare(n->parent2, action))) ||
                (rc = prepare(n->parent, action)))
                return rc;
            if (n->type->prepare && (rc = ember__agree_any(n->ctx, n->type->prepare(n, action))))
                return rc;
            return ember__checkpoint_run(n, action);
        }
        if (n->parent2 && (rc = prepare(n->parent2, action)))
            return rc;
        if (!n->type->prepare)
            continue;
        if ((rc = prepare(n->parent, action)) ||
            (rc = ember__agree_any(n->ctx, n->type->prepare(n, action))))
            return rc;
        n->prepared = true;
        return 0;
    }
    return 0;
}

int ember__action_begin(ember_rdd *rdd, const char *action)
{
    int rc = ember__rdd_check(rdd, action);
    if (rc && (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD)))
        return rc;
    if (!ember__handle_ok(rdd->ctx, EMBER__H_CTX))
        return ember__err(NULL, EMBER_ECLOSED, "%s: the context is closed", action);
    if (ember__cur_task)
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "%s: called from inside a task (actions run on the driver)", action);
    /* distributed, an rdd that failed to build on one rank alone (a file only
     * it opens) fails the action on every rank, before any collective */
    if ((rc = ember__agree_any(rdd->ctx, rc)))
        return rc;
    ember__job_open(rdd->ctx, action);
    rc = prepare(rdd, action);
    if (rc) /* the caller returns at once: the job ends here */
        return ember__action_end(rdd->ctx, rc);
    return 0;
}
