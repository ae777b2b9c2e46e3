/* Opening and closing a context: the one place that sees every layer (src/app
 * stands above them all: it starts the executor, the events and the stats,
 * and the web UI, the event log and the progress bar of src/ui).
 *
 * ember_open parses the master string, chooses the executor backend from it (the
 * only place a backend is chosen) and registers the context handle;
 * ember_close tears down in the reverse order and prints the stats when asked.
 */
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "exec/exec.h"
#include "sched/sched.h"
#include "ui/ui.h"

static int stats_wanted(const ember_conf *conf)
{
    if (conf->stats)
        return conf->stats > 0;
    const char *env = getenv("EMBER_STATS");
    return env && !strcmp(env, "1");
}

static void free_props(ember_ctx *ctx)
{
    for (int i = 0; ctx->props && ctx->props[i]; i++)
        ember__free(ctx->props[i]);
    ember__free(ctx->props);
    ctx->props = NULL;
    ember__free(ctx->app_id);
    ctx->app_id = NULL;
}

/* The application's id (Spark's local mode: local-<ms since the epoch>) and its
 * settings as name, value pairs: the conf as resolved, then the EMBER_*
 * variables of the environment. 0 or EMBER_ENOMEM. */
static int app_props(ember_ctx *ctx, const ember_conf *conf)
{
    extern char **environ;
    char id[64];
    snprintf(id, sizeof id, "local-%llu", (unsigned long long)(ctx->app_start_ns / 1000000));
    int nenv = 0;
    for (char **e = environ; e && *e; e++)
        nenv += !strncmp(*e, "EMBER_", 6);
    size_t cap = 2 * (12 + (size_t)nenv) + 1;
    if (!(ctx->app_id = ember__strdup(id)) ||
        !(ctx->props = ember__calloc(cap, sizeof *ctx->props)))
        return EMBER_ENOMEM;
    char v[64][2][256];
    int n = 0;
#define PROP(name, ...)                                                                            \
    snprintf(v[n][0], sizeof v[n][0], "%s", name);                                                 \
    snprintf(v[n][1], sizeof v[n][1], __VA_ARGS__);                                                \
    n++;
    PROP("ember.app.name", "%s", ctx->app_name)
    PROP("ember.app.id", "%s", ctx->app_id)
    PROP("ember.master", "%s", ctx->master)
    PROP("ember.cores", "%d", ctx->parallelism)
    PROP("ember.ranks", "%d", ctx->ranks)
    PROP("ember.task.maxFailures", "%d", ctx->max_failures)
    PROP("ember.memory.budget", "%zu", ctx->memory_budget)
    PROP("ember.spill.dir", "%s", ctx->spill_dir)
    PROP("ember.stats", "%s", ctx->stats_on ? "on" : "off")
    PROP("ember.overwrite", "%s", ctx->overwrite ? "true" : "false")
    PROP("ember.read.unfinished", "%s", ctx->read_unfinished ? "true" : "false")
    PROP("ember.conf.appName", "%s", conf->app_name ? conf->app_name : "(not set)")
#undef PROP
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!(ctx->props[k++] = ember__strdup(v[i][0])) ||
            !(ctx->props[k++] = ember__strdup(v[i][1])))
            return EMBER_ENOMEM;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "EMBER_", 6) || !eq)
            continue;
        char name[256];
        snprintf(name, sizeof name, "env.%.*s", (int)(eq - *e), *e);
        if (!(ctx->props[k++] = ember__strdup(name)) || !(ctx->props[k++] = ember__strdup(eq + 1)))
            return EMBER_ENOMEM;
    }
    return 0;
}

/* master as ember_open reads it: 0, or the code with ember_errmsg(NULL) set. */
static int check_master(const char *master, ember__master *m)
{
    if (ember__parse_master(master, m))
        return ember__err(NULL, EMBER_EMASTER,
                          "ember_open: master '%s' does not parse (expected local, local[N], "
                          "local[*], local[N,F], local[*,F], process[N], process[*], process[N,F]"
#ifdef EMBER_WITH_MPI
                          ", mpi, mpi[N], mpi[*], mpi[N,F]"
#endif
                          ", with N, F > 0)",
                          master);
#ifdef EMBER_WITH_MPI
    bool mpi = m->backend == EMBER__BACKEND_MPI;
#else
    bool mpi = false;
#endif
    if (m->backend != EMBER__BACKEND_THREADS && m->backend != EMBER__BACKEND_PROCESSES && !mpi)
        return ember__err(NULL, EMBER_ENOTSUP,
                          "ember_open: master '%s': this build has the thread and process%s "
                          "backends only (local, local[N], local[N,F], process[N]%s)",
                          master,
#ifdef EMBER_WITH_MPI
                          " and MPI", ", mpi, mpi[N], mpi[N,F]"
#else
                          "", ""
#endif
        );
    return 0;
}

int ember_master_check(const char *master)
{
    ember__master m;
    return check_master(master ? master : "", &m);
}

int ember_open(ember_ctx **out, const ember_conf *conf)
{
    if (!out)
        return ember__err(NULL, EMBER_EINVAL, "ember_open: ctx is NULL");
    *out = NULL;
    ember_conf defaults = {0};
    if (!conf)
        conf = &defaults;
    const char *master = conf->master;
    if (!master)
        master = getenv("EMBER_MASTER");
    if (!master || !*master)
        master = "local[*]";
    ember__master m;
    int mrc = check_master(master, &m);
    if (mrc)
        return mrc;
#ifdef EMBER_WITH_MPI
    bool mpi = m.backend == EMBER__BACKEND_MPI;
#else
    bool mpi = false;
#endif
    if (conf->max_failures < 0)
        return ember__err(NULL, EMBER_EINVAL, "ember_open: max_failures must be >= 0 (got %d)",
                          conf->max_failures);

    size_t budget = conf->memory_budget;
    const char *env = getenv("EMBER_MEMORY_BUDGET");
    if (!budget && env && *env && ember__parse_size(env, &budget))
        return ember__err(NULL, EMBER_EINVAL,
                          "ember_open: EMBER_MEMORY_BUDGET '%s' is not a size (bytes, or a "
                          "number with k, m or g)",
                          env);
    if (!budget)
        budget = ember__default_budget();
    /* process[N]: the attempt's time and the worker's memory, bounded */
    double timeout = conf->task_timeout;
    const char *te = getenv("EMBER_TASK_TIMEOUT");
    if (!(timeout >= 0))
        return ember__err(NULL, EMBER_EINVAL, "ember_open: task_timeout must be >= 0");
    if (timeout == 0 && te && *te) {
        char *end;
        timeout = strtod(te, &end);
        if (*end || !(timeout >= 0))
            return ember__err(NULL, EMBER_EINVAL,
                              "ember_open: EMBER_TASK_TIMEOUT '%s' is not a number of seconds", te);
    }
    size_t wmem = conf->worker_memory;
    const char *we = getenv("EMBER_WORKER_MEMORY");
    if (!wmem && we && *we && ember__parse_size(we, &wmem))
        return ember__err(NULL, EMBER_EINVAL,
                          "ember_open: EMBER_WORKER_MEMORY '%s' is not a size (bytes, or a "
                          "number with k, m or g)",
                          we);
    const char *spill = conf->spill_dir;
    if (!spill || !*spill)
        spill = getenv("TMPDIR");
    if (!spill || !*spill)
        spill = "/tmp";

    ember__json_alloc_init(); /* before the library's first JSON value */
    ember_ctx *ctx = ember__calloc(1, sizeof *ctx);
    if (!ctx)
        return ember__err(NULL, EMBER_ENOMEM, "ember_open: out of memory");
    ctx->app_name = ember__strdup(conf->app_name ? conf->app_name : "ember");
    ctx->spill_dir = ember__strdup(spill);
    if (!ctx->app_name || !ctx->spill_dir)
        goto out_nomem;
    ctx->memory_budget = budget;
    snprintf(ctx->master, sizeof ctx->master, "%s", master);
    ctx->parallelism = m.threads;
    ctx->max_failures = conf->max_failures ? conf->max_failures : m.attempts;
    ctx->stats_on = stats_wanted(conf);
    ctx->overwrite = conf->overwrite != 0;
    const char *ru = getenv("EMBER_READ_UNFINISHED");
    ctx->read_unfinished = conf->read_unfinished > 0 || (ru && !strcmp(ru, "1"));
    ctx->rank = 0;
    ctx->ranks = 1;
    pthread_mutex_init(&ctx->acc_mu, NULL);
    int rc = 0;
    char why[512] = "";
    ctx->bad_records = conf->bad_records;
    if (conf->bad_dir && *conf->bad_dir && !(ctx->bad_dir = ember__strdup(conf->bad_dir)))
        rc = EMBER_ENOMEM;
#ifdef EMBER_WITH_MPI
    if (!rc && mpi)
        rc = ember__mpi_create(m.threads, ember__cores(), &ctx->exec, &ctx->exec_impl, &ctx->rank,
                               &ctx->ranks, &ctx->parallelism, why, sizeof why);
    else
#endif
        if (!rc && m.backend == EMBER__BACKEND_PROCESSES) {
        ctx->isolated = true;
        ctx->poison = conf->bad_records == EMBER_BAD_DIVERT && ctx->bad_dir;
        rc = ember__process_create(m.threads, timeout, wmem, &ctx->cancel, &ctx->exec,
                                   &ctx->exec_impl);
    } else if (!rc) {
        rc = ember__pool_create(m.threads, &ctx->exec, &ctx->exec_impl);
    }
    if (rc) {
        pthread_mutex_destroy(&ctx->acc_mu);
        ember__free(ctx->bad_dir);
        ember__free(ctx->app_name);
        ember__free(ctx->spill_dir);
        ember__free(ctx);
        if (mpi && rc == EMBER_EIO)
            return ember__err(NULL, rc, "ember_open: master '%s': MPI_Init_thread failed", master);
        if (mpi && rc == EMBER_ENOTSUP)
            return ember__err(NULL, rc, "ember_open: master '%s': cannot load the MPI backend: %s",
                              master, why);
        return ember__err(NULL, rc, "ember_open: starting %d threads failed: %s", m.threads,
                          ember_strerror(rc));
    }
    ember__events_init(ctx);
    /* a cache line each, aligned: one more line to align within */
    ctx->halts_mem = ember__calloc((size_t)ctx->parallelism + 2, sizeof *ctx->halts);
    ctx->halts =
        ctx->halts_mem
            ? (struct ember__halt_word *)(((uintptr_t)ctx->halts_mem + 63) & ~(uintptr_t)63)
            : NULL;
    ctx->nhalts = ctx->halts ? ctx->parallelism + 1 : 0;
    if (!ctx->halts || ember__handle_add(ctx, EMBER__H_CTX) || ember__rdd_oom_init(ctx) ||
        ember__stats_listen(ctx) || app_props(ctx, conf)) {
        ember__free(ctx->halts_mem);
        ember__handle_del(ctx);
        ember__rdd_oom_destroy(ctx);
        ember__stats_free(ctx);
        ember__events_close(ctx);
        ctx->exec->destroy(ctx->exec_impl);
        pthread_mutex_destroy(&ctx->acc_mu);
        free_props(ctx);
        goto out_nomem;
    }
    /* the web UI, the event log, the progress bar, as the conf and the
     * environment say (rank 0 only) */
    if ((rc = ember__ui_open(ctx, conf))) {
        char msg[sizeof ctx->errmsg];
        snprintf(msg, sizeof msg, "%s", ctx->errmsg);
        ember_close(ctx);
        return ember__err(NULL, rc, "%s", msg);
    }
    *out = ctx;
    return 0;

out_nomem:
    ember__free(ctx->app_name);
    ember__free(ctx->spill_dir);
    ember__free(ctx);
    return ember__err(NULL, EMBER_ENOMEM, "ember_open: out of memory");
}

void ember_close(ember_ctx *ctx)
{
    if (!ember__handle_ok(ctx, EMBER__H_CTX))
        return;
    if (ember__cur_task) /* closing from inside a task would free the running job */
        return;
    if (ctx->stats_on)
        ember_stats_print(ctx, stderr);
    ember__events_close(ctx); /* the application's end, to whoever listens */
    ember__ui_close(ctx);
    ember__handle_del(ctx);
    ctx->exec->destroy(ctx->exec_impl);
    ember__bpool_free(ctx->bpool);
    ember__rdd_free_all(ctx);
    ember__rdd_oom_destroy(ctx);
    ember__shared_free_all(ctx);
    ember__stats_free(ctx);
    ember__free(ctx->halts_mem);
    pthread_mutex_destroy(&ctx->acc_mu);
    free_props(ctx);
    ember__free(ctx->app_name);
    ember__free(ctx->spill_dir);
    ember__checkpoint_cleanup(ctx);
    ember__free(ctx->bad_dir);
    ember__free(ctx);
}
