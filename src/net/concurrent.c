/* map_concurrent: a blocking user function on a window of records inside each
 * task.
 *
 * The task's thread reads its parent's records and hands each, copied into a
 * slot of the window, to the context's blocking pool; when the window is full
 * it waits for the head (ordered) or for any call (as completed), hands that
 * call's outputs on, and reuses the slot. So a task holds at most
 * max_in_flight inputs and their outputs, whatever the partition's size.
 *
 * The pool is the context's blocking pool (src/exec/blocking.c): threads made
 * when a call is queued and none is idle, never more than the windows running
 * may have in flight, kept until ember_close. Each window has its own mutex and
 * condition, which the pool's threads signal when a call is done. A call runs
 * with a stand-in task (the slot's shadow) as the thread's current task, so
 * that what it adds to accumulators is gathered per slot and merged into the
 * real task on the task's own thread, in the order the outputs are handed on.
 *
 * Failure: a call's negative return is the task's failure once the task's
 * thread reaches that call; then no call starts, the ones in flight are waited
 * for (a blocking call cannot be taken back), and the task fails with its
 * message. The window never returns while a pool thread may touch it.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"
#include "sched/sched.h"
#include "net/net.h"

/* ---------------------------------------------------------------- calls */

typedef struct window window;

typedef struct call {
    ember__bjob job; /* first: the blocking pool runs it */
    window *w;
    ember_buf in;   /* the input, one encoded record */
    ember_buf out;  /* what fn emitted, encoded records */
    ember_out emit; /* collects into out */
    ember__task shadow;
    int rc;
    bool done;
    bool emit_failed; /* out of memory keeping an output */
    int next_done;    /* as completed: the list of finished slots */
} call;

struct window {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    call *slots;
    int cap, head, count;   /* ordered: a ring of count slots from head */
    int *free_slots, nfree; /* as completed: unused slots */
    int done_head;          /* as completed: finished slots, -1 none */
    int in_flight;          /* queued or running in the pool */
    bool ordered;
    ember_map_fn *fn;
    void *arg;
    int (*setup)(void **, void *);
    void (*teardown)(void *, void *);
    ember__task *task;
    ember_rdd *node;
    ember_out in;    /* what the parent pushes into */
    ember_out *next; /* where outputs go */
    ember__bpool *pool;
};

/* A call, on a thread of the blocking pool. */
static void call_run(ember__bjob *job)
{
    call *c = (call *)job;
    window *w = c->w;
    ember_iter it;
    ember_rec rec = {0};
    ember_iter_init(&it, ember_buf_bytes(&c->in));
    int rc = ember_iter_next(&it, &rec) == 1 ? 0 : EMBER_EIO;
    void *res;
    if (!rc && w->setup && (rc = ember__bpool_resource(w->setup, w->teardown, w->arg, &res)))
        ember__task_fail(&c->shadow, rc, "%s: setup of a thread's resource failed: %s", w->node->op,
                         ember_strerror(rc));
    if (!rc) {
        ember__task *outer = ember__cur_task;
        ember__cur_task = &c->shadow;
        rc = w->fn(rec, &c->emit, w->arg);
        ember__cur_task = outer;
    }
    ember__bpool_resource_done();
    pthread_mutex_lock(&w->mu);
    c->rc = rc;
    c->done = true;
    w->in_flight--;
    if (!w->ordered) {
        c->next_done = w->done_head;
        w->done_head = (int)(c - w->slots);
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ---------------------------------------------------------------- the window */

static int collect_push(ember_out *self, const ember_rec *rec)
{
    call *c = self->state;
    if (ember__arena_put(&c->out, *rec)) {
        c->emit_failed = true;
        return EMBER_ENOMEM;
    }
    return 0;
}

/* Hand on slot c's outputs and accumulator updates, then make it reusable. */
static int deliver(window *w, call *c)
{
    ember__task *t = w->task;
    int rc = c->rc;
    if (c->emit_failed && rc >= 0)
        rc = EMBER_ENOMEM;
    if (rc < 0) {
        if (c->emit_failed)
            return ember__task_fail(t, EMBER_ENOMEM,
                                    "%s: out of memory keeping a call's outputs (partition %d)",
                                    w->node->op, t->partition);
        return ember__user_failed(t, w->node->op, rc);
    }
    if ((rc = ember__acc_absorb(t, &c->shadow)))
        return ember__task_fail(t, rc, "%s: out of memory merging a call's accumulator updates",
                                w->node->op);
    ember_iter it;
    ember_rec rec;
    ember_iter_init(&it, ember_buf_bytes(&c->out));
    while ((rc = ember_iter_next(&it, &rec)) == 1) {
        int prc = w->next->push(w->next, &rec);
        if (prc)
            return prc;
    }
    return rc < 0
               ? ember__task_fail(t, EMBER_EIO, "%s: a call's outputs do not decode", w->node->op)
               : 0;
}

/* Wait for the next slot to hand on (the head, or any finished one) and hand it
 * on. With block false, return 1 when none is ready yet. */
static int settle_one(window *w, bool block)
{
    call *c = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->ordered) {
        c = &w->slots[w->head];
        while (!c->done && block)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!c->done)
            c = NULL;
    } else {
        while (w->done_head < 0 && block)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->done_head >= 0) {
            c = &w->slots[w->done_head];
            w->done_head = c->next_done;
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (!c)
        return 1;
    int rc = deliver(w, c);
    c->done = false;
    c->in.len = c->out.len = 0;
    c->emit_failed = false;
    ember__acc_discard(&c->shadow);
    if (w->ordered)
        w->head = (w->head + 1) % w->cap;
    else
        w->free_slots[w->nfree++] = (int)(c - w->slots);
    w->count--;
    return rc;
}

/* Wait until no call of the window is queued or running (after a failure or a
 * stop: their outputs are dropped). */
static void drain(window *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->in_flight > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static int window_push(ember_out *self, const ember_rec *rec)
{
    window *w = container_of(self, window, in);
    ember__task *t = w->task;
    int rc;
    while (w->count == w->cap)
        if ((rc = settle_one(w, true)))
            return rc;
    if (ember__halted(t)) /* a cancel came while the window was full: start nothing */
        return ember__halt_code(t);
    int i = w->ordered ? (w->head + w->count) % w->cap : w->free_slots[--w->nfree];
    call *c = &w->slots[i];
    c->in.len = 0;
    if (ember__arena_put(&c->in, *rec)) {
        if (!w->ordered)
            w->nfree++;
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory copying an input", w->node->op);
    }
    c->rc = 0;
    c->done = false;
    pthread_mutex_lock(&w->mu);
    w->in_flight++;
    pthread_mutex_unlock(&w->mu);
    c->job.run = call_run;
    if ((rc = ember__bpool_push(w->pool, &c->job))) {
        pthread_mutex_lock(&w->mu);
        w->in_flight--;
        pthread_mutex_unlock(&w->mu);
        if (!w->ordered)
            w->nfree++;
        return ember__task_fail(t, rc, "%s: cannot start a thread for blocking calls: %s",
                                w->node->op, strerror(-rc));
    }
    w->count++;
    /* hand on what is already done, without waiting */
    while (w->count > 0 && (rc = settle_one(w, false)) != 1)
        if (rc)
            return rc;
    return 0;
}

typedef struct concurrent_src {
    ember_map_fn *fn;
    void *arg;
    int max_in_flight;
    int mode;
    int (*setup)(void **, void *);
    void (*teardown)(void *, void *);
} concurrent_src;

static int concurrent_feed(ember_rdd *n, int part, ember_out *sink)
{
    concurrent_src *s = n->u.state;
    ember__task *t = sink->task;
    window w = {.cap = s->max_in_flight,
                .ordered = s->mode == EMBER_ORDERED,
                .done_head = -1,
                .fn = s->fn,
                .arg = s->arg,
                .setup = s->setup,
                .teardown = s->teardown,
                .task = t,
                .node = n,
                .next = sink,
                .pool = n->ctx->bpool,
                .in = {.push = window_push, .next = sink, .task = t, .node = n}};
    int rc;
    w.slots = ember__calloc((size_t)w.cap, sizeof *w.slots);
    if (!w.ordered)
        w.free_slots = ember__calloc((size_t)w.cap, sizeof *w.free_slots);
    if (!w.slots || (!w.ordered && !w.free_slots)) {
        rc =
            ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory for a window of %d", n->op, w.cap);
        goto out_free;
    }
    for (int i = 0; i < w.cap; i++) {
        call *c = &w.slots[i];
        c->w = &w;
        c->emit = (ember_out){.push = collect_push, .node = n, .state = c};
        c->emit.task = &c->shadow;
        c->shadow = (ember__task){.ctx = t->ctx,
                                  .job = t->job,
                                  .index = t->index,
                                  .partition = t->partition,
                                  .attempt = t->attempt};
        c->shadow.halt = &c->shadow.halt_own;
        if (!w.ordered)
            w.free_slots[w.nfree++] = w.cap - 1 - i;
    }
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);

    ember__bpool_reserve(w.pool, w.cap); /* the pool grows to the windows running */
    rc = ember__compute(n->parent, part, &w.in);
    while (!rc && w.count > 0)
        rc = settle_one(&w, true);
    drain(&w); /* after a failure or a stop: calls still running */
    ember__bpool_release(w.pool, w.cap);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
out_free:
    for (int i = 0; w.slots && i < w.cap; i++) {
        call *c = &w.slots[i];
        ember_buf_destroy(&c->in);
        ember_buf_destroy(&c->out);
        for (int k = 0; k < c->shadow.cap_accs; k++)
            ember_buf_destroy(&c->shadow.accs[k].bytes);
        ember__free(c->shadow.accs);
    }
    ember__free(w.slots);
    ember__free(w.free_slots);
    return rc;
}

static void concurrent_free(void *src)
{
    ember__free(src);
}

static void concurrent_node_free(ember_rdd *n)
{
    concurrent_free(n->u.state);
}

static const ember__node_type concurrent_type = {.name = "map_concurrent",
                                                 .flags = EMBER__NT_CALLS_OUT,
                                                 .compute = concurrent_feed,
                                                 .free = concurrent_node_free};

ember_rdd *ember_map_concurrent(ember_rdd *rdd, ember_map_fn *fn, void *arg, int max_in_flight,
                                int mode)
{
    return ember_map_concurrent_with(
        rdd, fn, arg, &(ember_concurrent_conf){.max_in_flight = max_in_flight, .mode = mode});
}

ember_rdd *ember_map_concurrent_with(ember_rdd *rdd, ember_map_fn *fn, void *arg,
                                     const ember_concurrent_conf *conf)
{
    const char *op = "map_concurrent";
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, op, &ret))
        return ret;
    if (!conf)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: conf is NULL", op);
    int max_in_flight = conf->max_in_flight, mode = conf->mode;
    if (!fn)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: fn is NULL", op);
    if (max_in_flight < 1 || max_in_flight > 65536)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL,
                                "%s: max_in_flight must be 1 to 65536 (got %d)", op, max_in_flight);
    if (mode != EMBER_ORDERED && mode != EMBER_AS_COMPLETED)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL,
                                "%s: mode must be EMBER_ORDERED or EMBER_AS_COMPLETED (got %d)", op,
                                mode);
    if (ember__bpool_open(rdd->ctx))
        return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "%s: out of memory", op);
    concurrent_src *s = ember__calloc(1, sizeof *s);
    if (!s)
        return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "%s: out of memory", op);
    *s = (concurrent_src){.fn = fn,
                          .arg = arg,
                          .max_in_flight = max_in_flight,
                          .mode = mode,
                          .setup = conf->setup,
                          .teardown = conf->teardown};
    ember_rdd *r = ember__rdd_new(rdd->ctx, &concurrent_type, op, rdd->nparts, rdd, NULL);
    if (ember__rdd_failed(r)) {
        ember__free(s);
        return r;
    }
    r->u.state = s;
    return r;
}
