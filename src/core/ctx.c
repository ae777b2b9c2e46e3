/* Context accessors, error messages and the clock.
 *
 * The message of the last error lives on the context (sqlite3_errmsg style);
 * calls that have no context (ember_open, NULL or stale handles) write a
 * thread-local message instead, read with ember_errmsg(NULL).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static _Thread_local char thread_msg[1024];
_Thread_local struct ember__task *ember__cur_task;

const char *ember_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
#define EMBER__ERR_CASE(name, value, text)                                                         \
    case EMBER_##name:                                                                             \
        return text;
        EMBER_ERRNO_MAP(EMBER__ERR_CASE)
#undef EMBER__ERR_CASE
    default:
        return "unknown error";
    }
}

const char *ember__code_name(int code)
{
    switch (code) {
#define EMBER__ERR_NAME(name, value, text)                                                         \
    case EMBER_##name:                                                                             \
        return "EMBER_" #name;
        EMBER_ERRNO_MAP(EMBER__ERR_NAME)
#undef EMBER__ERR_NAME
    default:
        return NULL;
    }
}

int ember__err(const ember_ctx *ctx, int code, const char *fmt, ...)
{
    /* The context's message is written by the driver only: on a task's thread
     * (an API misused from a user function) the thread's own buffer takes it. */
    if (ember__cur_task)
        ctx = NULL;
    char *dst = ctx ? ((ember_ctx *)(uintptr_t)ctx)->errmsg : thread_msg;
    size_t cap = ctx ? sizeof ctx->errmsg : sizeof thread_msg;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    return code;
}

const char *ember_errmsg(const ember_ctx *ctx)
{
    if (!ctx)
        return thread_msg;
    if (!ember__handle_ok(ctx, EMBER__H_CTX))
        return "ember_errmsg: the context is closed or not a context";
    return ctx->errmsg;
}

/* No handle check: the registry takes a mutex, which a signal handler must not. */
void ember_cancel(ember_ctx *ctx)
{
    if (!ctx)
        return;
    /* the flag first: a task that resets its word after this sees it */
    atomic_store(&ctx->cancel, 1);
    for (int i = 0; i < ctx->nhalts; i++)
        atomic_store(&ctx->halts[i].word, 1); /* running tasks stop at their next record */
}

int ember_cancelled(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) && atomic_load(&ctx->cancel);
}

int ember_parallelism(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) ? ctx->parallelism : 0;
}

int ember_max_failures(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) ? ctx->max_failures : 0;
}

int ember_rank(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) ? ctx->rank : 0;
}

int ember_ranks(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) ? ctx->ranks : 0;
}

int ember_is_driver(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) && ctx->rank == 0 ? 1 : 0;
}

const char *ember_master(const ember_ctx *ctx)
{
    return ember__handle_ok(ctx, EMBER__H_CTX) ? ctx->master : "";
}

void ember__mutex_init_short(pthread_mutex_t *mu)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(mu, &a);
    pthread_mutexattr_destroy(&a);
}

static _Atomic int cached_pid;

static void forget_pid(void)
{
    atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, forget_pid); /* a child reads its own id */
}

int ember__pid(void)
{
    int pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    if (!pid) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, watch_forks);
        pid = (int)getpid();
        atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
    }
    return pid;
}

void ember__deadline(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_REALTIME, ts);
    uint64_t at = (uint64_t)ts->tv_nsec + ns;
    ts->tv_sec += (time_t)(at / 1000000000u);
    ts->tv_nsec = (long)(at % 1000000000u);
}

uint64_t ember__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
