/* Actions: each is a sink at the end of the fused pipeline plus a gather step
 * on the driver.
 *
 * A sink keeps per-task state (an arena of records, a running reduction, a
 * bounded heap, a count table) which is reset at every attempt, so a retried
 * task never adds twice. The driver then combines the tasks' states in partition
 * order, which makes results independent of thread timing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

/* ---------------------------------------------------------------- collect, take */

/* A distributed job ships each task's state to the ranks that did not run it
 * (sched/job.c): pack writes it in the wire format (core/wire.c), unpack reads
 * it into a reset state. */

typedef struct collect_state {
    ember_buf arena;
    ember_buf offs; /* where each record starts in arena (size_t each) */
    size_t n;
} collect_state;

static __attribute__((noinline)) int collect_slow(ember_out *self, const ember_rec *rec)
{
    collect_state *s = self->state;
    const size_t *limit = self->task->job->arg;
    if (limit && s->n >= *limit) /* a user function that ignored the stop */
        return EMBER__STOP;
    size_t off = s->arena.len;
    if (ember__arena_put(&s->arena, *rec) || ember_buf_append(&s->offs, &off, sizeof off))
        return ember__task_fail(self->task, EMBER_ENOMEM, "out of memory collecting results");
    s->n++;
    self->task->records_out++;
    if (limit && s->n >= *limit)
        ember__task_stop(self->task);
    return 0;
}

static int collect_push(ember_out *self, const ember_rec *rec)
{
    collect_state *s = self->state;
    size_t len = rec->val.len;
    /* the common case, no limit and a small value without key: two header bytes */
    if (__builtin_expect(!self->task->job->arg && !rec->key.ptr && len < 128 &&
                             s->arena.cap - s->arena.len >= len + 2 &&
                             s->offs.cap - s->offs.len >= sizeof(size_t),
                         1)) {
        size_t off = s->arena.len;
        unsigned char *p = s->arena.ptr + off;
        p[0] = 0;
        p[1] = (unsigned char)len;
        if (len == 8) /* the common int64 or double: a copy the compiler inlines */
            memcpy(p + 2, rec->val.ptr, 8);
        else if (len)
            memcpy(p + 2, rec->val.ptr, len);
        s->arena.len += len + 2;
        memcpy(s->offs.ptr + s->offs.len, &off, sizeof off);
        s->offs.len += sizeof off;
        s->n++;
        self->task->records_out++;
        return 0;
    }
    return collect_slow(self, rec);
}

static int collect_reset(void *state, const ember__job *job)
{
    (void)job;
    collect_state *s = state;
    s->arena.len = 0;
    s->offs.len = 0;
    s->n = 0;
    /* start with room for a small partition: one allocation where doubling from
     * 64 bytes would take five */
    int rc = ember__buf_reserve(&s->arena, 2048);
    return rc ? rc : ember__buf_reserve(&s->offs, 256 * sizeof(size_t));
}

static void collect_destroy(void *state)
{
    collect_state *s = state;
    ember_buf_destroy(&s->arena);
    ember_buf_destroy(&s->offs);
}

static int collect_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const collect_state *s = state;
    ember__wr w = ember__wr_to(out);
    ember__wr_u(&w, s->n);
    ember__wr_bytes(&w, s->arena.ptr, s->arena.len);
    ember__wr_bytes(&w, s->offs.ptr, s->offs.len);
    return w.err;
}

static int collect_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    collect_state *s = state;
    ember__rd r = ember__rd_of(in);
    uint64_t n = ember__rd_u(&r);
    ember_bytes a = ember__rd_bytes(&r), o = ember__rd_bytes(&r);
    if (r.err || o.len != n * sizeof(size_t))
        return EMBER_EIO;
    if (ember_buf_set(&s->arena, a.ptr, a.len) || ember_buf_set(&s->offs, o.ptr, o.len))
        return EMBER_ENOMEM;
    s->n = (size_t)n;
    return 0;
}

static const ember__sink_ops collect_sink = {.state_size = sizeof(collect_state),
                                             .push = collect_push,
                                             .reset = collect_reset,
                                             .destroy = collect_destroy,
                                             .pack = collect_pack,
                                             .unpack = collect_unpack};

/* Move tasks' arenas and offsets out of the job into arenas[at..], offs[at..];
 * returns how many records they hold. */
static size_t take_states(ember__job *job, ember_buf *arenas, ember_buf *offs, int at)
{
    size_t total = 0;
    for (int i = 0; i < job->ntasks; i++) {
        collect_state *s = ember__job_state(job, i);
        arenas[at + i] = s->arena;
        offs[at + i] = s->offs;
        total += s->n;
        s->arena = (ember_buf){0};
        s->offs = (ember_buf){0};
    }
    return total;
}

static void free_bufs(ember_buf *a, ember_buf *b, int n)
{
    for (int i = 0; a && b && i < n; i++) {
        ember_buf_destroy(&a[i]);
        ember_buf_destroy(&b[i]);
    }
    ember__free(a);
    ember__free(b);
}

static int collect_run(ember_rdd *rdd, ember_result **out)
{
    int rc = 0;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "collect: out is NULL");
    ember__job *job;
    if ((rc = ember__job_run(rdd, "collect", &collect_sink, NULL, NULL, 0, &job)))
        return rc;
    ember_buf *arenas = ember__calloc((size_t)job->ntasks + 1, sizeof *arenas);
    ember_buf *offs = ember__calloc((size_t)job->ntasks + 1, sizeof *offs);
    int n = job->ntasks;
    if (!arenas || !offs) {
        free_bufs(arenas, offs, 0);
        return ember__job_end(job, ember__gather_nomem(rdd->ctx, "collect"));
    }
    take_states(job, arenas, offs, 0);
    if ((rc = ember__result_take(arenas, offs, n, SIZE_MAX, out))) {
        free_bufs(arenas, offs, n);
        ember__gather_nomem(rdd->ctx, "collect");
    }
    return ember__job_end(job, rc);
}

int ember__collect_parts(ember_rdd *rdd, const char *op, const int *parts, int n,
                         ember_result **out)
{
    ember__job *job;
    int rc = ember__job_run(rdd, op, &collect_sink, NULL, parts, n, &job);
    if (rc)
        return rc;
    ember_buf *arenas = ember__calloc((size_t)job->ntasks + 1, sizeof *arenas);
    ember_buf *offs = ember__calloc((size_t)job->ntasks + 1, sizeof *offs);
    int k = job->ntasks;
    if (!arenas || !offs) {
        free_bufs(arenas, offs, 0);
        return ember__job_end(job, ember__gather_nomem(rdd->ctx, op));
    }
    take_states(job, arenas, offs, 0);
    if ((rc = ember__result_take(arenas, offs, k, SIZE_MAX, out))) {
        free_bufs(arenas, offs, k);
        ember__gather_nomem(rdd->ctx, op);
    }
    return ember__job_end(job, rc);
}

int ember_collect(ember_rdd *rdd, ember_result **out)
{
    int rc = ember__action_begin(rdd, "collect");
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, collect_run(rdd, out));
}

/* Spark's take: scan one partition, then grow the scan (x4 at most) by what the
 * rows found so far suggest, until n rows or no partitions left. */
static int take_run(ember_rdd *rdd, size_t n, ember_result **out)
{
    int rc = 0;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "take: out is NULL");
    ember_ctx *ctx = rdd->ctx;
    ember_buf *arenas = ember__calloc((size_t)rdd->nparts + 1, sizeof *arenas);
    ember_buf *offs = ember__calloc((size_t)rdd->nparts + 1, sizeof *offs);
    int *parts = ember__malloc(((size_t)rdd->nparts + 1) * sizeof *parts);
    if (!arenas || !offs || !parts) {
        free_bufs(arenas, offs, 0);
        ember__free(parts);
        return ember__gather_nomem(ctx, "take");
    }
    size_t have = 0;
    int scanned = 0;
    while (have < n && scanned < rdd->nparts) {
        long try = 1;
        if (scanned > 0) {
            if (have == 0)
                try = (long)scanned * 4;
            else
                try = (long)ceil(1.5 * (double)(n - have) * scanned / (double)have);
            if (try > (long)scanned * 4)
                try = (long)scanned * 4;
            if (try < 1)
                try = 1;
        }
        int upto = scanned + try > rdd->nparts ? rdd->nparts : (int)(scanned + try);
        for (int p = scanned; p < upto; p++)
            parts[p - scanned] = p;
        size_t left = n - have;
        ember__job *job;
        if ((rc = ember__job_run(rdd, "take", &collect_sink, &left, parts, upto - scanned, &job)))
            goto out;
        have += take_states(job, arenas, offs, scanned);
        ember__job_end(job, 0);
        scanned = upto;
    }
    if ((rc = ember__result_take(arenas, offs, scanned, n, out)))
        ember__gather_nomem(ctx, "take");
out:
    if (rc)
        free_bufs(arenas, offs, scanned);
    ember__free(parts);
    return rc;
}

int ember_take(ember_rdd *rdd, size_t n, ember_result **out)
{
    int rc = ember__action_begin(rdd, "take");
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, take_run(rdd, n, out));
}

int ember_first(ember_rdd *rdd, ember_result **out)
{
    ember_result *res;
    int rc = ember_take(rdd, 1, &res);
    if (rc)
        return rc;
    if (ember_result_len(res) == 0) {
        ember_result_free(res);
        return ember__err(rdd->ctx, EMBER_EEMPTY, "first: the rdd is empty");
    }
    *out = res;
    return 0;
}

int ember_is_empty(ember_rdd *rdd, bool *out)
{
    ember_result *res;
    int rc = ember_take(rdd, 1, &res);
    if (rc)
        return rc;
    if (out)
        *out = ember_result_len(res) == 0;
    ember_result_free(res);
    return out ? 0 : ember__err(rdd->ctx, EMBER_EINVAL, "is_empty: out is NULL");
}

/* ---------------------------------------------------------------- count */

static int count_push(ember_out *self, const ember_rec *rec)
{
    (void)rec;
    ++*(int64_t *)self->state;
    self->task->records_out++;
    return 0;
}

static int count_reset(void *state, const ember__job *job)
{
    (void)job;
    *(int64_t *)state = 0;
    return 0;
}

static int count_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    ember__wr w = ember__wr_to(out);
    ember__wr_i(&w, *(const int64_t *)state);
    return w.err;
}

static int count_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    ember__rd r = ember__rd_of(in);
    *(int64_t *)state = ember__rd_i(&r);
    return r.err;
}

const ember__sink_ops ember__count_sink = {.state_size = sizeof(int64_t),
                                           .push = count_push,
                                           .reset = count_reset,
                                           .pack = count_pack,
                                           .unpack = count_unpack};

static int count_as_run(ember_rdd *rdd, const char *action, int64_t *out)
{
    int rc = 0;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: out is NULL", action);
    ember__job *job;
    if ((rc = ember__job_run(rdd, action, &ember__count_sink, NULL, NULL, 0, &job)))
        return rc;
    int64_t n = 0;
    for (int i = 0; i < job->ntasks; i++)
        n += *(int64_t *)ember__job_state(job, i);
    *out = n;
    return ember__job_end(job, 0);
}

int ember__count_as(ember_rdd *rdd, const char *action, int64_t *out)
{
    int rc = ember__action_begin(rdd, action);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, count_as_run(rdd, action, out));
}

int ember_count(ember_rdd *rdd, int64_t *out)
{
    return ember__count_as(rdd, "count", out);
}

/* ---------------------------------------------------------------- reduce, fold, aggregate */

enum { RED_REDUCE, RED_FOLD, RED_AGGREGATE, RED_MIN, RED_MAX };

typedef struct reduce_args {
    int mode;
    const char *op;
    ember_reduce_fn *fn; /* reduce, fold; seq for aggregate */
    ember_reduce_fn *comb;
    ember_cmp_fn *cmp; /* min, max */
    void *arg;
    ember_bytes zero;
} reduce_args;

typedef struct reduce_state {
    ember_buf acc, tmp;
    bool has;
} reduce_state;

/* acc = combine(acc, v) with fn, or the better of the two by cmp. */
static int combine(const reduce_args *a, ember_reduce_fn *fn, ember_buf *acc, ember_buf *tmp,
                   ember_bytes v, ember__task *t)
{
    int rc;
    if (t)
        ember__user_begin(t);
    if (a->cmp) {
        int c = a->cmp(ember_buf_bytes(acc), v, a->arg);
        rc = (a->mode == RED_MIN ? c > 0 : c < 0) ? ember_buf_set(acc, v.ptr, v.len) : 0;
    } else {
        tmp->len = 0;
        rc = fn(ember_buf_bytes(acc), v, tmp, a->arg);
        if (!rc) {
            ember_buf swap = *acc;
            *acc = *tmp;
            *tmp = swap;
        }
    }
    if (t)
        ember__user_end(t);
    return rc;
}

static int reduce_push(ember_out *self, const ember_rec *rec)
{
    reduce_state *s = self->state;
    ember__task *t = self->task;
    const reduce_args *a = t->job->arg;
    t->records_out++;
    if (!s->has) {
        s->has = true;
        if (ember_buf_set(&s->acc, rec->val.ptr, rec->val.len))
            return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", a->op);
        return 0;
    }
    int rc = combine(a, a->fn, &s->acc, &s->tmp, rec->val, t);
    return ember__user_rc(t, a->op, rc);
}

static int reduce_reset(void *state, const ember__job *job)
{
    reduce_state *s = state;
    const reduce_args *a = job->arg;
    s->has = a->mode == RED_FOLD || a->mode == RED_AGGREGATE;
    s->acc.len = 0;
    if (s->has)
        return ember_buf_set(&s->acc, a->zero.ptr, a->zero.len);
    return 0;
}

static void reduce_destroy(void *state)
{
    reduce_state *s = state;
    ember_buf_destroy(&s->acc);
    ember_buf_destroy(&s->tmp);
}

static int reduce_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const reduce_state *s = state;
    ember__wr w = ember__wr_to(out);
    ember__wr_u(&w, s->has);
    ember__wr_bytes(&w, s->acc.ptr, s->acc.len);
    return w.err;
}

static int reduce_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    reduce_state *s = state;
    ember__rd r = ember__rd_of(in);
    s->has = ember__rd_u(&r) != 0;
    ember_bytes a = ember__rd_bytes(&r);
    if (r.err)
        return r.err;
    return ember_buf_set(&s->acc, a.ptr, a.len) ? EMBER_ENOMEM : 0;
}

static const ember__sink_ops reduce_sink = {.state_size = sizeof(reduce_state),
                                            .push = reduce_push,
                                            .reset = reduce_reset,
                                            .destroy = reduce_destroy,
                                            .pack = reduce_pack,
                                            .unpack = reduce_unpack};

/* Combine the partitions' results on the driver: in order, or in a tree of depth
 * levels (Spark's treeReduce: groups of scale = ceil(n^(1/depth)) results). */
static int reduce_gather(ember__job *job, const reduce_args *a, int depth, ember_buf *out)
{
    ember_ctx *ctx = job->ctx;
    ember_reduce_fn *fn = a->mode == RED_AGGREGATE ? a->comb : a->fn;
    ember_buf tmp = {0};
    int n = 0, rc = 0;
    /* compact the partitions that have a value to the front */
    for (int i = 0; i < job->ntasks; i++) {
        reduce_state *s = ember__job_state(job, i);
        if (!s->has)
            continue;
        reduce_state *d = ember__job_state(job, n++);
        if (d != s) {
            ember_buf t1 = d->acc;
            d->acc = s->acc;
            s->acc = t1;
            d->has = true;
            s->has = false;
        }
    }
    if (a->mode == RED_REDUCE || a->mode == RED_MIN || a->mode == RED_MAX) {
        if (n == 0)
            return ember__err(ctx, EMBER_EEMPTY, "%s: the rdd is empty", a->op);
        int scale = 2;
        if (depth > 1)
            while (pow(scale, depth) < n)
                scale++;
        /* tree levels: fold groups of scale neighbours until one level is left */
        while (depth > 1 && n > scale) {
            int m = 0;
            for (int g = 0; g < n && !rc; g += scale, m++) {
                reduce_state *d = ember__job_state(job, g);
                for (int k = g + 1; k < g + scale && k < n && !rc; k++)
                    rc = combine(a, fn, &d->acc, &tmp,
                                 ember_buf_bytes(&((reduce_state *)ember__job_state(job, k))->acc),
                                 NULL);
                if (m != g) {
                    reduce_state *dst = ember__job_state(job, m);
                    ember_buf t1 = dst->acc;
                    dst->acc = d->acc;
                    d->acc = t1;
                }
            }
            n = m;
        }
        reduce_state *first = ember__job_state(job, 0);
        for (int k = 1; k < n && !rc; k++)
            rc = combine(a, fn, &first->acc, &tmp,
                         ember_buf_bytes(&((reduce_state *)ember__job_state(job, k))->acc), NULL);
        if (!rc)
            rc = ember_buf_set(out, first->acc.ptr, first->acc.len);
    } else {
        /* fold, aggregate: zero starts the driver's combination too */
        ember_buf acc = {0};
        rc = ember_buf_set(&acc, a->zero.ptr, a->zero.len);
        for (int k = 0; k < n && !rc; k++)
            rc = combine(a, fn, &acc, &tmp,
                         ember_buf_bytes(&((reduce_state *)ember__job_state(job, k))->acc), NULL);
        if (!rc)
            rc = ember_buf_set(out, acc.ptr, acc.len);
        ember_buf_destroy(&acc);
    }
    ember_buf_destroy(&tmp);
    if (rc)
        return ember__err(ctx, rc, "%s: combining the partitions' results failed: %d (%s)", a->op,
                          rc, ember_strerror(rc));
    return 0;
}

static int reduce_run(ember_rdd *rdd, const reduce_args *given, int depth, ember_buf *out)
{
    int rc = 0, kind;
    reduce_args by_kind = *given, *a = &by_kind;
    if ((a->mode == RED_MIN || a->mode == RED_MAX) && !a->cmp) {
        if ((rc = ember__kind_for(rdd, false, a->op, &kind)))
            return rc;
        a->cmp = ember__cmp_of(kind);
    }
    if (!out || (!a->fn && !a->cmp) || (a->mode == RED_AGGREGATE && !a->comb))
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: a function or out is NULL", a->op);
    if (depth < 1)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: depth must be >= 1 (got %d)", a->op, depth);
    if (a->zero.len && !a->zero.ptr)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: zero has a NULL pointer", a->op);
    ember__job *job;
    if ((rc = ember__job_run(rdd, a->op, &reduce_sink, a, NULL, 0, &job)))
        return rc;
    return ember__job_end(job, reduce_gather(job, a, depth, out));
}

static int run_reduce(ember_rdd *rdd, const reduce_args *a, int depth, ember_buf *out)
{
    int rc = ember__action_begin(rdd, a->op);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, reduce_run(rdd, a, depth, out));
}

int ember_reduce(ember_rdd *rdd, ember_reduce_fn *fn, void *arg, ember_buf *out)
{
    reduce_args a = {.mode = RED_REDUCE, .op = "reduce", .fn = fn, .arg = arg};
    return run_reduce(rdd, &a, 1, out);
}

int ember_tree_reduce(ember_rdd *rdd, ember_reduce_fn *fn, void *arg, int depth, ember_buf *out)
{
    reduce_args a = {.mode = RED_REDUCE, .op = "tree_reduce", .fn = fn, .arg = arg};
    return run_reduce(rdd, &a, depth, out);
}

int ember_fold(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *fn, void *arg, ember_buf *out)
{
    reduce_args a = {.mode = RED_FOLD, .op = "fold", .fn = fn, .arg = arg, .zero = zero};
    return run_reduce(rdd, &a, 1, out);
}

int ember_aggregate(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *seq, ember_reduce_fn *comb,
                    void *arg, ember_buf *out)
{
    reduce_args a = {.mode = RED_AGGREGATE,
                     .op = "aggregate",
                     .fn = seq,
                     .comb = comb,
                     .arg = arg,
                     .zero = zero};
    return run_reduce(rdd, &a, 1, out);
}

int ember_min(ember_rdd *rdd, ember_cmp_fn *cmp, void *arg, ember_buf *out)
{
    reduce_args a = {.mode = RED_MIN,
                     .op = "min",
                     .cmp = cmp, /* NULL: by the values' kind */
                     .arg = arg};
    return run_reduce(rdd, &a, 1, out);
}

int ember_max(ember_rdd *rdd, ember_cmp_fn *cmp, void *arg, ember_buf *out)
{
    reduce_args a = {.mode = RED_MAX,
                     .op = "max",
                     .cmp = cmp, /* NULL: by the values' kind */
                     .arg = arg};
    return run_reduce(rdd, &a, 1, out);
}

/* ---------------------------------------------------------------- foreach */

typedef struct each_args {
    ember_each_fn *fn;
    void *arg;
} each_args;

static int each_push(ember_out *self, const ember_rec *rec)
{
    ember__task *t = self->task;
    const each_args *a = t->job->arg;
    t->records_out++;
    ember__user_begin(t);
    int rc = a->fn(*rec, a->arg);
    ember__user_end(t);
    return ember__user_rc(t, "foreach", rc);
}

static int discard_push(ember_out *self, const ember_rec *rec)
{
    (void)rec;
    self->task->records_out++;
    return 0;
}

static int nothing_reset(void *state, const ember__job *job)
{
    (void)state;
    (void)job;
    return 0;
}

static const ember__sink_ops each_sink = {
    .state_size = 0, .push = each_push, .reset = nothing_reset, .reads = EMBER__READS_NOW};
static const ember__sink_ops discard_sink = {
    .state_size = 0, .push = discard_push, .reset = nothing_reset};

static int foreach_run(ember_rdd *rdd, ember_each_fn *fn, void *arg)
{
    int rc = 0;
    if (!fn)
        return ember__err(rdd->ctx, EMBER_EINVAL, "foreach: the function is NULL");
    each_args a = {fn, arg};
    ember__job *job;
    if ((rc = ember__job_run(rdd, "foreach", &each_sink, &a, NULL, 0, &job)))
        return rc;
    return ember__job_end(job, 0);
}

int ember_foreach(ember_rdd *rdd, ember_each_fn *fn, void *arg)
{
    int rc = ember__action_begin(rdd, "foreach");
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, foreach_run(rdd, fn, arg));
}

static int foreach_partition_run(ember_rdd *rdd, ember_part_fn *fn, void *arg)
{
    int rc = 0;
    if (!fn)
        return ember__err(rdd->ctx, EMBER_EINVAL, "foreach_partition: the function is NULL");
    /* a map_partitions whose output is thrown away */
    ember_rdd *each = ember_map_partitions(rdd, fn, arg);
    if (!each || ember__rdd_failed(each)) {
        ember_free(each);
        return ember__err(rdd->ctx, EMBER_ENOMEM, "foreach_partition: out of memory");
    }
    each->op = "foreach_partition";
    ember__job *job;
    if (!(rc = ember__job_run(each, "foreach_partition", &discard_sink, NULL, NULL, 0, &job)))
        rc = ember__job_end(job, 0);
    ember_free(each);
    return rc;
}

int ember_foreach_partition(ember_rdd *rdd, ember_part_fn *fn, void *arg)
{
    int rc = ember__action_begin(rdd, "foreach_partition");
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, foreach_partition_run(rdd, fn, arg));
}

/* ---------------------------------------------------------------- top, take_ordered */

typedef struct order_args {
    size_t n;
    ember_cmp_fn *cmp;
    void *arg;
    int sign; /* 1: keep the smallest (take_ordered), -1: the largest (top) */
} order_args;

typedef struct order_state {
    ember_buf *slots;
    size_t *heap; /* slot indices; the root is the worst kept value */
    size_t len, cap;
} order_state;

static int order_cmp(const order_args *a, ember_bytes x, ember_bytes y)
{
    return a->sign * a->cmp(x, y, a->arg);
}

static void sift_down(order_state *s, const order_args *a, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < s->len && order_cmp(a, ember_buf_bytes(&s->slots[s->heap[l]]),
                                    ember_buf_bytes(&s->slots[s->heap[w]])) > 0)
            w = l;
        if (r < s->len && order_cmp(a, ember_buf_bytes(&s->slots[s->heap[r]]),
                                    ember_buf_bytes(&s->slots[s->heap[w]])) > 0)
            w = r;
        if (w == i)
            return;
        size_t t = s->heap[i];
        s->heap[i] = s->heap[w];
        s->heap[w] = t;
        i = w;
    }
}

static int order_push(ember_out *self, const ember_rec *rec)
{
    order_state *s = self->state;
    ember__task *t = self->task;
    const order_args *a = t->job->arg;
    t->records_out++;
    if (s->len < a->n) {
        size_t i = s->len++;
        if (ember_buf_set(&s->slots[i], rec->val.ptr, rec->val.len))
            return ember__task_fail(t, EMBER_ENOMEM, "out of memory keeping the top values");
        s->heap[i] = i;
        while (i > 0) { /* sift up */
            size_t p = (i - 1) / 2;
            if (order_cmp(a, ember_buf_bytes(&s->slots[s->heap[i]]),
                          ember_buf_bytes(&s->slots[s->heap[p]])) <= 0)
                break;
            size_t tmp = s->heap[i];
            s->heap[i] = s->heap[p];
            s->heap[p] = tmp;
            i = p;
        }
        return 0;
    }
    if (order_cmp(a, rec->val, ember_buf_bytes(&s->slots[s->heap[0]])) >= 0)
        return 0;
    if (ember_buf_set(&s->slots[s->heap[0]], rec->val.ptr, rec->val.len))
        return ember__task_fail(t, EMBER_ENOMEM, "out of memory keeping the top values");
    sift_down(s, a, 0);
    return 0;
}

static int order_reset(void *state, const ember__job *job)
{
    order_state *s = state;
    const order_args *a = job->arg;
    s->len = 0;
    if (!s->slots) {
        s->slots = ember__calloc(a->n, sizeof *s->slots);
        s->heap = ember__calloc(a->n, sizeof *s->heap);
        if (!s->slots || !s->heap)
            return EMBER_ENOMEM;
        s->cap = a->n;
    }
    return 0;
}

static void order_destroy(void *state)
{
    order_state *s = state;
    /* every slot may hold memory from an earlier attempt */
    for (size_t i = 0; s->slots && i < s->cap; i++)
        ember_buf_destroy(&s->slots[i]);
    ember__free(s->slots);
    ember__free(s->heap);
}

static int order_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const order_state *s = state;
    ember__wr w = ember__wr_to(out);
    ember__wr_u(&w, s->len);
    for (size_t j = 0; j < s->len; j++)
        ember__wr_bytes(&w, s->slots[j].ptr, s->slots[j].len);
    return w.err;
}

/* The kept values, in slot order (what run_order gathers; the heap is not
 * needed once the task is done). */
static int order_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    order_state *s = state;
    ember__rd r = ember__rd_of(in);
    uint64_t n = ember__rd_u(&r);
    if (r.err || n > s->cap)
        return EMBER_EIO;
    for (size_t j = 0; j < n; j++) {
        ember_bytes v = ember__rd_bytes(&r);
        if (r.err)
            return r.err;
        if (ember_buf_set(&s->slots[j], v.ptr, v.len))
            return EMBER_ENOMEM;
        s->heap[j] = j;
    }
    s->len = (size_t)n;
    return 0;
}

static const ember__sink_ops order_sink = {.state_size = sizeof(order_state),
                                           .push = order_push,
                                           .reset = order_reset,
                                           .destroy = order_destroy,
                                           .pack = order_pack,
                                           .unpack = order_unpack};

static int order_qsort_cmp(const void *x, const void *y, void *arg)
{
    const ember_rec *a = x, *b = y;
    const order_args *oa = arg;
    return oa->sign * oa->cmp(a->val, b->val, oa->arg);
}

static int order_run(ember_rdd *rdd, const char *op, size_t n, ember_cmp_fn *cmp, void *arg,
                     int sign, ember_result **out)
{
    int rc = 0;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: out is NULL", op);
    if (n == 0)
        return ember__result_copy(NULL, 0, out) ? ember__gather_nomem(rdd->ctx, op) : 0;
    if (n > (SIZE_MAX >> 8))
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: n is too large (%zu)", op, n);
    int kind = EMBER_KIND_BYTES;
    if (!cmp && (rc = ember__kind_for(rdd, false, op, &kind)))
        return rc;
    order_args a = {n, cmp ? cmp : ember__cmp_of(kind), arg, sign};
    ember__job *job;
    if ((rc = ember__job_run(rdd, op, &order_sink, &a, NULL, 0, &job)))
        return rc;
    size_t total = 0;
    for (int i = 0; i < job->ntasks; i++)
        total += ((order_state *)ember__job_state(job, i))->len;
    ember_rec *all = ember__malloc((total ? total : 1) * sizeof *all);
    if (!all) {
        rc = ember__gather_nomem(rdd->ctx, op);
    } else {
        size_t k = 0;
        for (int i = 0; i < job->ntasks; i++) {
            order_state *s = ember__job_state(job, i);
            for (size_t j = 0; j < s->len; j++)
                all[k++] = (ember_rec){.val = ember_buf_bytes(&s->slots[j])};
        }
        qsort_r(all, total, sizeof *all, order_qsort_cmp, &a);
        if (ember__result_copy(all, total < n ? total : n, out))
            rc = ember__gather_nomem(rdd->ctx, op);
        ember__free(all);
    }
    return ember__job_end(job, rc);
}

static int run_order(ember_rdd *rdd, const char *op, size_t n, ember_cmp_fn *cmp, void *arg,
                     int sign, ember_result **out)
{
    int rc = ember__action_begin(rdd, op);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, order_run(rdd, op, n, cmp, arg, sign, out));
}

int ember_top(ember_rdd *rdd, size_t n, ember_cmp_fn *cmp, void *arg, ember_result **out)
{
    return run_order(rdd, "top", n, cmp, arg, -1, out);
}

int ember_take_ordered(ember_rdd *rdd, size_t n, ember_cmp_fn *cmp, void *arg, ember_result **out)
{
    return run_order(rdd, "take_ordered", n, cmp, arg, 1, out);
}
