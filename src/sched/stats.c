/* Per-job and per-stage stats, like pysparkling's Context._stats timers: the
 * first listener of the scheduler's events (sched/events.c).
 *
 * It takes stage completions and job ends (no task events, so it adds nothing
 * per task): a job's stages gather in the open record, which the job's end
 * files into a ring of the last EMBER__JOBS_KEPT jobs and adds to the context's
 * totals. Events of one context come one at a time (its event lock): no lock
 * of its own.
 */
#include <stdio.h>
#include <string.h>

#include "sched/sched.h"

struct ember__job_rec {
    int64_t job_id;
    const char *action;
    int failed;
    uint64_t wall_ns;
    ember_stage_stats total;
    /* &total for a job of one stage (most: no malloc a job, and the ring stays
     * small enough for the cache), else allocated */
    ember_stage_stats *stages;
    int nstages;
};

typedef struct stats_state {
    ember_stage_stats *open; /* the running job's stages */
    int nopen, capopen;
} stats_state;

static void on_event(const ember_event *ev, void *arg)
{
    ember_ctx *ctx = arg;
    stats_state *st = ctx->stats;
    if (!st)
        return;
    if (ev->type == EMBER_EV_STAGE_COMPLETED) {
        if (st->nopen == st->capopen) {
            int cap = st->capopen ? st->capopen * 2 : 4;
            ember_stage_stats *g = ember__realloc(st->open, (size_t)cap * sizeof *g);
            if (!g)
                return; /* this stage's detail is lost for want of memory */
            st->open = g;
            st->capopen = cap;
        }
        ember_stage_stats *g = &st->open[st->nopen++];
        *g = (ember_stage_stats){.stage_id = (int)ev->stage_id,
                                 .tasks = ev->num_tasks,
                                 .attempts = ev->attempt,
                                 .failed_attempts = ev->tasks_failed,
                                 .sched_ns = ev->sched_ns,
                                 .gather_ns = ev->gather_ns};
        ember__stage_set_metrics(g, &ev->metrics);
        return;
    }
    if (ev->type != EMBER_EV_JOB_END)
        return;
    ember_stage_stats total = {0};
    for (int i = 0; i < st->nopen; i++)
        ember__stage_add(&total, &st->open[i]);
    ember__stage_add(&ctx->totals, &total);
    ctx->totals_wall_ns += ev->duration_ns;
    ctx->jobs_run++;
    if (!ctx->jobs && !(ctx->jobs = ember__calloc(EMBER__JOBS_KEPT, sizeof *ctx->jobs))) {
        st->nopen = 0;
        return; /* the totals still count; per-job detail is lost for want of memory */
    }
    ember__job_rec *r = &ctx->jobs[ev->job_id % EMBER__JOBS_KEPT];
    if (r->stages != &r->total)
        ember__free(r->stages); /* the job this slot held */
    r->job_id = ev->job_id;
    r->action = ev->job_name;
    r->failed = ev->failed;
    r->wall_ns = ev->duration_ns;
    r->total = total;
    r->nstages = 0;
    if (st->nopen == 1) {
        r->total.stage_id = st->open[0].stage_id;
        r->stages = &r->total;
        r->nstages = 1;
    } else if (st->nopen > 1 &&
               (r->stages = ember__malloc((size_t)st->nopen * sizeof *r->stages))) {
        memcpy(r->stages, st->open, (size_t)st->nopen * sizeof *r->stages);
        r->nstages = st->nopen;
    }
    st->nopen = 0;
}

int ember__stats_listen(ember_ctx *ctx)
{
    if (!(ctx->stats = ember__calloc(1, sizeof(stats_state))))
        return EMBER_ENOMEM;
    return ember__listen(ctx, on_event, ctx,
                         1u << EMBER_EV_STAGE_COMPLETED | 1u << EMBER_EV_JOB_END, false);
}

void ember__stats_free(ember_ctx *ctx)
{
    for (int i = 0; ctx->jobs && i < EMBER__JOBS_KEPT; i++)
        if (ctx->jobs[i].stages != &ctx->jobs[i].total)
            ember__free(ctx->jobs[i].stages);
    ember__free(ctx->jobs);
    ctx->jobs = NULL;
    stats_state *st = ctx->stats;
    if (st)
        ember__free(st->open);
    ember__free(st);
    ctx->stats = NULL;
}

int64_t ember_job_count(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) ? ctx->jobs_run : 0;
}

int ember_job_stats_get(const ember_ctx *ctx, int64_t job_id, ember_job_stats *out)
{
    if (!ember__handle_ok(ctx, EMBER__H_CTX) || !out)
        return EMBER_EINVAL;
    if (job_id == -1)
        job_id = ctx->jobs_run - 1;
    if (job_id < 0 || job_id >= ctx->jobs_run || job_id < ctx->jobs_run - EMBER__JOBS_KEPT ||
        !ctx->jobs)
        return EMBER_ERANGE;
    const ember__job_rec *r = &ctx->jobs[job_id % EMBER__JOBS_KEPT];
    *out = (ember_job_stats){.job_id = r->job_id,
                             .action = r->action,
                             .failed = r->failed,
                             .wall_ns = r->wall_ns,
                             .nstages = r->nstages,
                             .total = r->total,
                             .stages = r->stages};
    return 0;
}

static double us(uint64_t ns)
{
    return (double)ns / 1e3;
}

/* One row: its times, then the counters (EMBER__COUNTERS: their columns and
 * widths); wall_us blank for a stage. */
static void print_row(FILE *fp, const char *first, const char *action, const ember_stage_stats *s,
                      const uint64_t *wall_ns, const char *tail)
{
    char wall[32] = "";
    if (wall_ns)
        snprintf(wall, sizeof wall, "%.1f", us(*wall_ns));
    fprintf(fp, "%6s %-18s %6d %8d %11s %11.1f %11.1f %11.1f %11.1f", first, action, s->tasks,
            s->failed_attempts, wall, us(s->sched_ns), us(s->run_ns), us(s->user_ns),
            us(s->gather_ns));
#define COLUMN(f, col, width) fprintf(fp, " %*lld", width, (long long)s->f);
    EMBER__COUNTERS(COLUMN)
#undef COLUMN
    fprintf(fp, "%s\n", tail);
}

void ember_stats_print(const ember_ctx *ctx, FILE *fp)
{
    if (!ember__handle_ok(ctx, EMBER__H_CTX) || !fp)
        return;
    fprintf(fp, "ember stats: %s on %s, %lld jobs%s\n", ctx->app_name, ctx->master,
            (long long)ctx->jobs_run,
            ctx->stats_on ? "" : " (user-function time not measured: EMBER_STATS=1 times it)");
    fprintf(fp, "%6s %-18s %6s %8s %11s %11s %11s %11s %11s", "job", "action", "tasks", "retries",
            "wall_us", "sched_us", "run_us", "user_us", "gather_us");
#define HEADER(f, col, width) fprintf(fp, " %*s", width, col);
    EMBER__COUNTERS(HEADER)
#undef HEADER
    fprintf(fp, "\n");
    int64_t first = ctx->jobs_run > EMBER__JOBS_KEPT ? ctx->jobs_run - EMBER__JOBS_KEPT : 0;
    int64_t shown = 0;
    for (int64_t id = first; ctx->jobs && id < ctx->jobs_run; id++) {
        /* a long run shows its first and last jobs; the totals cover all */
        if (ctx->jobs_run - first > 40 && id - first >= 20 && ctx->jobs_run - id > 20) {
            if (!shown++)
                fprintf(fp, "%6s (%lld jobs not shown)\n", "...",
                        (long long)(ctx->jobs_run - first - 40));
            continue;
        }
        const ember__job_rec *r = &ctx->jobs[id % EMBER__JOBS_KEPT];
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)r->job_id);
        print_row(fp, num, r->action, &r->total, &r->wall_ns, r->failed ? "  FAILED" : "");
        for (int k = 0; r->nstages > 1 && k < r->nstages; k++) /* its stages */
            print_row(fp, "", k == 0 ? "  stages:" : "", &r->stages[k], NULL, "");
    }
    print_row(fp, "all", "", &ctx->totals, &ctx->totals_wall_ns, "");
    ember__acc_print(ctx, fp);
}
