/* The thread backend: a pool of N-1 workers plus the calling thread.
 *
 * run() publishes a batch (a task function and a count), wakes sleeping workers
 * and takes tasks itself; tasks are claimed with one atomic counter, so a tiny
 * job is run by whoever is awake first and never waits for a wake-up it does not
 * need. A worker that finishes spins briefly (EMBER__SPIN_NS) before sleeping,
 * so back-to-back jobs find it awake; it never spins while a job could use its
 * core for longer than that.
 *
 * Locks: mu guards the batch pointer, the generation and the sleeper count.
 * Lifetime: the batch lives on run()'s stack; run() returns only when every task
 * is done and no worker holds the batch (active == 0), and workers take the
 * batch under mu, where run() clears it.
 */
#include <errno.h>
#include <stdlib.h>

#include "exec/exec.h"

#define EMBER__SPIN_NS 50000u

typedef struct pool_batch {
    ember__task_fn *fn;
    void *arg;
    int ntasks;
    atomic_int next;      /* the next task to claim */
    atomic_int remaining; /* tasks not finished */
    atomic_int active;    /* workers inside the batch */
} pool_batch;

typedef struct pool {
    int nthreads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    pool_batch *cur;
    atomic_uint gen;
    int sleepers;
    bool quit;
} pool;

typedef struct worker_arg {
    pool *p;
    int index;
    unsigned gen; /* the generation at creation: a worker that starts late still sees
                     the batches posted before it ran */
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void work(pool_batch *b, int worker)
{
    int i;
    while ((i = atomic_fetch_add(&b->next, 1)) < b->ntasks) {
        b->fn(b->arg, i, worker);
        atomic_fetch_sub(&b->remaining, 1);
    }
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    pool *p = wa->p;
    int index = wa->index;
    unsigned seen = wa->gen;
    ember__free(wa);
    for (;;) {
        /* spin a little: the next job of a busy program is usually right behind */
        uint64_t until = ember__now_ns() + EMBER__SPIN_NS;
        bool posted = false;
        while (!posted && ember__now_ns() < until) {
            /* look at the generation between every pause; the clock less often */
            for (int k = 0; k < 16 && !posted; k++) {
                cpu_relax();
                posted = atomic_load_explicit(&p->gen, memory_order_acquire) != seen;
            }
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->gen) == seen && !p->quit) {
            p->sleepers++;
            pthread_cond_wait(&p->work_cv, &p->mu);
            p->sleepers--;
        }
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = atomic_load(&p->gen);
        pool_batch *b = p->cur;
        if (b)
            atomic_fetch_add(&b->active, 1);
        pthread_mutex_unlock(&p->mu);
        if (!b)
            continue;
        work(b, index);
        /* after this decrement b may be gone: touch only the pool */
        if (atomic_fetch_sub(&b->active, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static int pool_run(void *impl, int ntasks, ember__task_fn *fn, void *arg)
{
    pool *p = impl;
    pool_batch b = {.fn = fn, .arg = arg, .ntasks = ntasks};
    atomic_init(&b.next, 0);
    atomic_init(&b.remaining, ntasks);
    atomic_init(&b.active, 0);
    if (p->nthreads > 1 && ntasks > 1) {
        pthread_mutex_lock(&p->mu);
        p->cur = &b;
        atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
        if (p->sleepers)
            pthread_cond_broadcast(&p->work_cv);
        pthread_mutex_unlock(&p->mu);
    }
    work(&b, 0);
    if (p->nthreads > 1 && ntasks > 1) {
        /* wait for the workers' last tasks: spin briefly, then sleep */
        uint64_t until = ember__now_ns() + EMBER__SPIN_NS;
        while ((atomic_load(&b.remaining) || atomic_load(&b.active)) && ember__now_ns() < until)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&b.remaining) || atomic_load(&b.active))
            pthread_cond_wait(&p->done_cv, &p->mu);
        p->cur = NULL;
        pthread_mutex_unlock(&p->mu);
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

static const ember__executor_ops pool_ops = {"threads", pool_run, pool_destroy};

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
    p->nthreads = 1;
    for (int i = 1; i < nthreads; i++) {
        worker_arg *wa = ember__malloc(sizeof *wa);
        int rc = ENOMEM;
        if (wa) {
            *wa = (worker_arg){p, i, atomic_load(&p->gen)};
            rc = pthread_create(&p->threads[i], NULL, worker_main, wa);
        }
        if (rc) {
            ember__free(wa);
            pool_destroy(p);
            return -rc;
        }
        p->nthreads++;
    }
    *ops = &pool_ops;
    *impl = p;
    return 0;
}
