/* The thread backend: a pool of N-1 workers plus the calling thread.
 *
 * run() publishes a batch (a task function, its argument and a count) in the
 * pool, bumps the generation, and takes tasks itself. Tasks are claimed with a
 * compare-and-swap on one word holding (generation, task count, next index): a
 * worker whose view of the batch is stale fails the swap, so it never runs a
 * task with the wrong function or an index past the batch, the hot path needs
 * no lock, and a tiny job is run by whoever is awake first. A batch holds at
 * most 65,535 tasks; run() cuts a larger job into several. A worker that finishes spins for at most
 * EMBER__SPIN_NS before sleeping, so back-to-back jobs find it awake without a system call; it
 * never spins longer than that.
 *
 * Locks: mu and the two condition variables only put threads to sleep and wake
 * them. Sleepers and the waiting caller are announced through seq_cst atomics,
 * read after the state they wait on is published, so no wake-up is lost.
 * Lifetime: the batch's argument lives on run()'s stack; run() returns when
 * remaining reaches 0, and every task was claimed before that.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "exec/exec.h"

#define EMBER__SPIN_NS 50000u

typedef struct pool {
    int nthreads; /* including the caller */
    pthread_t *threads;

    /* the current batch, written by run() before gen moves */
    _Atomic(ember__task_fn *) fn;
    _Atomic(void *) arg;
    atomic_uint gen;
    _Atomic uint64_t claim; /* gen << 32 | ntasks << 16 | next task index */
    atomic_int remaining;   /* tasks not finished */

    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    atomic_int sleepers; /* workers asleep or about to be */
    atomic_bool waiting; /* run() asleep or about to be */
    atomic_int started;  /* workers that have begun running */
    bool quit;           /* under mu */
} pool;

typedef struct worker_arg {
    pool *p;
    int index;
    unsigned gen;   /* the generation at creation: a worker that starts late still sees
                       the batches posted before it ran */
    cpu_set_t mask; /* the process's CPUs, restored once the worker runs */
    bool restore;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void task_done(pool *p)
{
    if (atomic_fetch_sub(&p->remaining, 1) == 1 && atomic_load(&p->waiting)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

#define BATCH_MAX 0xffff

/* Claim and run tasks of batch gen until none is left or a newer batch came. */
static void work(pool *p, unsigned gen, ember__task_fn *fn, void *arg, int worker)
{
    uint64_t c = atomic_load(&p->claim);
    for (;;) {
        unsigned n = (unsigned)(c >> 16) & BATCH_MAX, i = (unsigned)c & BATCH_MAX;
        if ((unsigned)(c >> 32) != gen || i >= n)
            return;
        if (!atomic_compare_exchange_weak(&p->claim, &c, c + 1))
            continue; /* c now holds the current word */
        fn(arg, (int)i, worker);
        task_done(p);
        c = atomic_load(&p->claim);
    }
}

static void *worker_main(void *varg)
{
    worker_arg *wa = varg;
    pool *p = wa->p;
    int index = wa->index;
    unsigned seen = wa->gen;
    /* started away from the caller's CPU (see ember__pool_create); from now on the
     * kernel places this thread as it likes: nothing stays pinned */
    if (wa->restore)
        pthread_setaffinity_np(pthread_self(), sizeof wa->mask, &wa->mask);
    ember__free(wa);
    atomic_fetch_add(&p->started, 1);
    for (;;) {
        /* spin a little: the next job of a busy program is usually right behind */
        uint64_t until = ember__now_ns() + EMBER__SPIN_NS;
        bool posted = atomic_load_explicit(&p->gen, memory_order_acquire) != seen;
        while (!posted && ember__now_ns() < until) {
            for (int k = 0; k < 16 && !posted; k++) {
                cpu_relax();
                posted = atomic_load_explicit(&p->gen, memory_order_acquire) != seen;
            }
        }
        if (!posted) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !p->quit)
                pthread_cond_wait(&p->work_cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            bool quit = p->quit;
            pthread_mutex_unlock(&p->mu);
            if (quit)
                return NULL;
        }
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        /* these may already belong to a newer batch: then every claim with seen fails */
        ember__task_fn *fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
        work(p, seen, fn, arg, index);
    }
}

/* A slice of a job larger than one batch: tasks base .. base + BATCH_MAX. */
typedef struct slice {
    ember__task_fn *fn;
    void *arg;
    int base;
} slice;

static void run_slice(void *arg, int i, int worker)
{
    slice *sl = arg;
    sl->fn(sl->arg, sl->base + i, worker);
}

static void run_batch(pool *p, int ntasks, ember__task_fn *fn, void *arg)
{
    unsigned gen = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->remaining, ntasks, memory_order_relaxed);
    atomic_store_explicit(&p->claim, (uint64_t)gen << 32 | (uint64_t)ntasks << 16,
                          memory_order_relaxed);
    atomic_store(&p->gen, gen); /* seq_cst: publishes the batch, then sleepers is read */
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->work_cv);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, gen, fn, arg, 0);
    /* wait for the workers' last tasks: spin briefly, then sleep */
    uint64_t until = ember__now_ns() + EMBER__SPIN_NS;
    while (atomic_load_explicit(&p->remaining, memory_order_acquire) && ember__now_ns() < until)
        cpu_relax();
    if (atomic_load(&p->remaining)) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->waiting, true);
        while (atomic_load(&p->remaining))
            pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->waiting, false);
        pthread_mutex_unlock(&p->mu);
    }
}

static int pool_run(void *impl, int ntasks, ember__task_fn *fn, void *arg)
{
    pool *p = impl;
    if (p->nthreads == 1 || ntasks <= 1) {
        for (int i = 0; i < ntasks; i++)
            fn(arg, i, 0);
        return 0;
    }
    if (ntasks <= BATCH_MAX) {
        run_batch(p, ntasks, fn, arg);
        return 0;
    }
    for (int base = 0; base < ntasks; base += BATCH_MAX) {
        slice sl = {fn, arg, base};
        run_batch(p, ntasks - base < BATCH_MAX ? ntasks - base : BATCH_MAX, run_slice, &sl);
    }
    return 0;
}

static void pool_destroy(void *impl)
{
    pool *p = impl;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    ember__free(p->threads);
    ember__free(p);
}

static const ember__executor_ops pool_ops = {
    .name = "threads", .run = pool_run, .destroy = pool_destroy};

int ember__pool_create(int nthreads, const ember__executor_ops **ops, void **impl)
{
    pool *p = ember__calloc(1, sizeof *p);
    if (!p)
        return EMBER_ENOMEM;
    p->threads = ember__calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) {
        ember__free(p);
        return EMBER_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->claim, 0);
    atomic_init(&p->remaining, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->waiting, false);
    p->nthreads = 1;
    /* A new thread sometimes lands on its creator's CPU and shares it for the
     * first milliseconds (measured: a third of short jobs after ember_open ran
     * 30% slower). Start workers on the other CPUs; each restores the full mask
     * as soon as it runs. */
    cpu_set_t all, others;
    int me = sched_getcpu();
    bool steer = sched_getaffinity(0, sizeof all, &all) == 0 && me >= 0 && CPU_ISSET(me, &all) &&
                 CPU_COUNT(&all) > 1;
    pthread_attr_t attr;
    bool use_attr = steer && pthread_attr_init(&attr) == 0;
    if (use_attr) {
        others = all;
        CPU_CLR(me, &others);
        if (pthread_attr_setaffinity_np(&attr, sizeof others, &others)) {
            pthread_attr_destroy(&attr);
            use_attr = false;
        }
    }
    for (int i = 1; i < nthreads; i++) {
        worker_arg *wa = ember__malloc(sizeof *wa);
        int rc = ENOMEM;
        if (wa) {
            *wa = (worker_arg){p, i, atomic_load(&p->gen), .restore = use_attr};
            if (use_attr)
                wa->mask = all;
            rc = pthread_create(&p->threads[i], use_attr ? &attr : NULL, worker_main, wa);
        }
        if (rc) {
            ember__free(wa);
            if (use_attr)
                pthread_attr_destroy(&attr);
            pool_destroy(p);
            return -rc;
        }
        p->nthreads++;
    }
    if (use_attr)
        pthread_attr_destroy(&attr);
    /* Wait (briefly) until the workers run: the first job then finds them placed
     * on their own cores and spinning, rather than still being scheduled. */
    uint64_t until = ember__now_ns() + 20u * 1000 * 1000;
    while (atomic_load(&p->started) < nthreads - 1 && ember__now_ns() < until)
        sched_yield();
    *ops = &pool_ops;
    *impl = p;
    return 0;
}
