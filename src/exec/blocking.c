/* The blocking pool: threads for calls that wait (map_concurrent's user
 * functions: a database query, a call through another client library), beside
 * the task pool of src/exec/pool.c.
 *
 * Threads are made when a job is queued and none is idle, and kept until
 * ember_close; never more than the calls that may wait at once: each window
 * that uses the pool reserves its size while it runs, and the pool grows only
 * up to the sum of the reservations (and BLOCKING_MAX). A thread that has just
 * finished a job but has not yet said it is idle no longer costs a thread more
 * (12 threads once served windows of 8 in all).
 *
 * One mutex guards the queue, the counts and the reservations; the jobs are
 * the caller's (an intrusive list), run by ember__bjob::run on a pool thread.
 */
#include "exec/exec.h"

#define BLOCKING_MAX 4096
#define BLOCKING_STACK (1u << 20)

struct ember__bpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ember__bjob *head, *tail; /* queued jobs */
    int queued, idle, nthreads, cap_threads;
    int reserved; /* the calls that may wait at once, all windows together */
    bool stopping;
    pthread_t *threads;
};

/* A pool thread's resources (a connection each), made by the callers'
 * setup on first use and torn down when the thread ends, at ember_close. */
typedef struct resource {
    int (*setup)(void **res, void *arg);
    void (*teardown)(void *res, void *arg);
    void *arg, *res;
    struct resource *next;
} resource;
static __thread resource *thread_resources;
static __thread void *current_resource;

int ember__bpool_resource(int (*setup)(void **, void *), void (*teardown)(void *, void *),
                          void *arg, void **out)
{
    for (resource *r = thread_resources; r; r = r->next)
        if (r->setup == setup && r->teardown == teardown && r->arg == arg) {
            *out = current_resource = r->res;
            return 0;
        }
    resource *r = ember__calloc(1, sizeof *r);
    if (!r)
        return EMBER_ENOMEM;
    int rc = setup(&r->res, arg);
    if (rc) {
        ember__free(r);
        return rc < 0 ? rc : EMBER_EIO;
    }
    *r = (resource){setup, teardown, arg, r->res, thread_resources};
    thread_resources = r;
    *out = current_resource = r->res;
    return 0;
}

void ember__bpool_resource_done(void)
{
    current_resource = NULL;
}

void *ember_concurrent_resource(void)
{
    return current_resource;
}

static void *bpool_main(void *arg)
{
    ember__bpool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (!p->head)
            break;
        ember__bjob *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        j->run(j); /* the job may be freed or reused once run returns */
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    while (thread_resources) { /* the pool ends: its threads' resources with it */
        resource *r = thread_resources;
        thread_resources = r->next;
        if (r->teardown)
            r->teardown(r->res, r->arg);
        ember__free(r);
    }
    return NULL;
}

void ember__bpool_free(ember__bpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    ember__free(p->threads);
    ember__free(p);
}

int ember__bpool_open(ember_ctx *ctx)
{
    if (ctx->bpool)
        return 0;
    ember__bpool *p = ember__calloc(1, sizeof *p);
    if (!p)
        return EMBER_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    ctx->bpool = p;
    return 0;
}

void ember__bpool_reserve(ember__bpool *p, int n)
{
    pthread_mutex_lock(&p->mu);
    p->reserved += n;
    pthread_mutex_unlock(&p->mu);
}

void ember__bpool_release(ember__bpool *p, int n)
{
    pthread_mutex_lock(&p->mu);
    p->reserved -= n;
    pthread_mutex_unlock(&p->mu);
}

int ember__bpool_push(ember__bpool *p, ember__bjob *j)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    int most = p->reserved < BLOCKING_MAX ? p->reserved : BLOCKING_MAX;
    if (p->idle <= p->queued && p->nthreads < most) {
        if (p->nthreads == p->cap_threads) {
            int cap = p->cap_threads ? p->cap_threads * 2 : 16;
            pthread_t *t = ember__realloc(p->threads, (size_t)cap * sizeof *t);
            if (t) {
                p->threads = t;
                p->cap_threads = cap;
            }
        }
        if (p->nthreads < p->cap_threads) {
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setstacksize(&attr, BLOCKING_STACK);
            int e = pthread_create(&p->threads[p->nthreads], &attr, bpool_main, p);
            pthread_attr_destroy(&attr);
            if (!e)
                p->nthreads++;
            else if (!p->nthreads)
                rc = -e;
        } else if (!p->nthreads) {
            rc = EMBER_ENOMEM;
        }
    }
    if (!rc) {
        j->next = NULL;
        if (p->tail)
            p->tail->next = j;
        else
            p->head = j;
        p->tail = j;
        p->queued++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int ember__bpool_threads(const ember__bpool *p)
{
    pthread_mutex_lock(&((ember__bpool *)p)->mu);
    int n = p->nthreads;
    pthread_mutex_unlock(&((ember__bpool *)p)->mu);
    return n;
}
