/* The fused pipeline: one loop per task over the partition's records.
 *
 * A task pushes each source record through a chain of emitters, one per narrow
 * transformation, ending in the action's sink: map(g) then map(f) runs as
 * f(g(x)) with no intermediate dataset and no allocation per record. Each stage
 * lives on the task's stack for the duration of ember__compute.
 *
 * Stages that need a whole partition (map_partitions, glom) read it from the
 * source's arena or the cache when there is one, and otherwise gather the
 * parent's records into one buffer first.
 *
 * A failure anywhere sets the task's fail_code once, and its halt flag; so does
 * the sink's request to stop (take), as EMBER__STOP. Stages pass return codes
 * up; the source loops also look at halt once a record, so an error returned
 * into a user function that ignores it is still not lost.
 *
 * Costs that matter here (docs/scheduler.md): records travel by pointer inside
 * the chain and are built with 16-byte stores; stages come in timed and untimed
 * builds; an emitter that only counts and forwards is skipped by ember_emit*.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/mkdirs.h"
#include "sched/sched.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

int ember__task_fail(ember__task *t, int code, const char *fmt, ...)
{
    if (!t->fail_code) {
        t->fail_code = code;
        atomic_store_explicit(t->halt, 1, memory_order_relaxed);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->fail_msg, sizeof t->fail_msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---------------------------------------------------------------- user calls and timing */

int ember__user_failed(ember__task *t, const char *op, int rc)
{
    if (rc != EMBER__STOP)
        ember__after_user_slow(t, op, rc);
    return rc;
}

/* After user code returned rc: the failure to propagate, if any. */
int ember__after_user_slow(ember__task *t, const char *op, int rc)
{
    if (rc < 0 && rc != EMBER__STOP) {
        const char *name = ember__code_name(rc);
        char code[64];
        if (name)
            snprintf(code, sizeof code, "%d (%s: %s)", rc, name, ember_strerror(rc));
        else
            snprintf(code, sizeof code, "%d", rc);
        return ember__task_fail(t, rc, "the %s function returned %s", op, code);
    }
    if (t->fail_code)
        return t->fail_code;
    if (rc == EMBER__STOP || t->stop)
        return EMBER__STOP;
    return 0;
}

/* ---------------------------------------------------------------- emitters (public) */

static inline int emit_fast(ember_out *out, const ember_rec *rec)
{
    ember_out *fwd = out->fwd;
    if (__builtin_expect(fwd != NULL, 1)) {
        out->emitted++;
        return fwd->push(fwd, rec);
    }
    return out->push(out, rec);
}

static int emit_checked(ember_out *out, ember_rec rec)
{
    if (!out || !out->push)
        return EMBER_EINVAL;
    if ((rec.val.len && !rec.val.ptr) || (rec.key.len && !rec.key.ptr))
        return ember__task_fail(out->task, EMBER_EINVAL, "%s: emitted bytes with a NULL pointer",
                                out->node ? out->node->op : "emit");
    ember_rec r;
    ember__rec_set(&r, rec.key.ptr, rec.key.len, rec.val.ptr, rec.val.len);
    return emit_fast(out, &r);
}

int ember_emit_rec(ember_out *out, ember_rec rec)
{
    return emit_checked(out, rec);
}

int ember_emit(ember_out *out, ember_bytes val)
{
    return emit_checked(out, (ember_rec){.val = val});
}

int ember_emit_pair(ember_out *out, ember_bytes key, ember_bytes val)
{
    if (!key.ptr && !key.len)
        key.ptr = ""; /* an empty key is still a key */
    return emit_checked(out, (ember_rec){key, val});
}

/* Typed emits say their kind (a kind probe reads it: sched/kinds.c). */
static inline int emit8(ember_out *out, const void *v, unsigned char kind)
{
    out->kind_seen = kind;
    ember_rec rec;
    ember__rec_set(&rec, NULL, 0, v, 8);
    return emit_fast(out, &rec);
}

int ember_emit_i64(ember_out *out, int64_t v)
{
    if (!out)
        return EMBER_EINVAL;
    return emit8(out, &v, EMBER_KIND_I64);
}

int ember_emit_f64(ember_out *out, double v)
{
    if (!out)
        return EMBER_EINVAL;
    return emit8(out, &v, EMBER_KIND_F64);
}

int ember_emit_str(ember_out *out, const char *s)
{
    if (!s || !out)
        return EMBER_EINVAL;
    out->kind_seen = EMBER_KIND_STRING;
    return emit_checked(out, (ember_rec){.val = ember_str(s)});
}

int ember_emit_pair_i64(ember_out *out, ember_bytes key, int64_t v)
{
    if (!out)
        return EMBER_EINVAL;
    out->kind_seen = EMBER_KIND_I64;
    return ember_emit_pair(out, key, ember_bytes_of(&v, sizeof v));
}

int ember_emit_pair_f64(ember_out *out, ember_bytes key, double v)
{
    if (!out)
        return EMBER_EINVAL;
    out->kind_seen = EMBER_KIND_F64;
    return ember_emit_pair(out, key, ember_bytes_of(&v, sizeof v));
}

/* ---------------------------------------------------------------- sources */

/* Source loops stop on a non-zero push or on the task's halt flag (a failure or
 * the sink's stop, however deep, even one a user function swallowed): one check
 * a record. They count what they read in a local. */
int ember__halt_code(ember__task *t)
{
    if (!t->fail_code && atomic_load(t->cancel ? t->cancel : &t->ctx->cancel))
        ember__task_fail(t, EMBER_ECANCELED, "cancelled");
    return t->fail_code ? t->fail_code : ember__halted(t) ? EMBER__STOP : 0;
}

static inline int halted(ember__task *t, int rc)
{
    if (rc)
        return rc;
    if (!ember__halted(t))
        return 0;
    return ember__halt_code(t);
}

int ember__feed_arena(const ember_buf *a, ember_out *o, const char *what, int part)
{
    const unsigned char *p = a->ptr, *end = p ? p + a->len : p; /* (an empty arena: NULL) */
    ember__task *t = o->task;
    const _Atomic int *halt = t->halt; /* kept in a register: one load a record */
    ember_rec r;
    int rc, pr = 0;
    int64_t n = 0;
    while ((rc = ember__rec_next(&p, end, &r)) == 1) {
        n++;
        if ((pr = o->push(o, &r)) | atomic_load_explicit(halt, memory_order_relaxed))
            break;
    }
    t->records_in += n;
    if (rc < 0 && !t->fail_code)
        return ember__task_fail(t, rc, "%s: partition %d holds a malformed record", what, part);
    return halted(t, pr);
}

static uint64_t slice_start(uint64_t n, int parts, int i)
{
    return (uint64_t)(((unsigned __int128)n * (unsigned)i) / (unsigned)parts);
}

static int feed_i64(ember_rdd *n, int part, ember_out *o)
{
    uint64_t lo = slice_start(n->u.ints.count, n->nparts, part);
    uint64_t hi = slice_start(n->u.ints.count, n->nparts, part + 1), i;
    ember__task *t = o->task;
    const _Atomic int *halt = t->halt; /* kept in a register: one load a record */
    int64_t v;
    ember_rec r;
    ember__rec_set(&r, NULL, 0, &v, sizeof v);
    int rc = 0;
    for (i = lo; i < hi; i++) {
        v = n->u.ints.values[i];
        if ((rc = o->push(o, &r)) | atomic_load_explicit(halt, memory_order_relaxed)) {
            i++;
            break;
        }
    }
    t->records_in += (int64_t)(i - lo);
    return halted(t, rc);
}

static int feed_range(ember_rdd *n, int part, ember_out *o)
{
    uint64_t lo = slice_start(n->u.ints.count, n->nparts, part);
    uint64_t hi = slice_start(n->u.ints.count, n->nparts, part + 1), i;
    ember__task *t = o->task;
    const _Atomic int *halt = t->halt; /* kept in a register: one load a record */
    const int64_t step = n->u.ints.step;
    int64_t v = (int64_t)((uint64_t)n->u.ints.start + lo * (uint64_t)step);
    ember_rec r;
    ember__rec_set(&r, NULL, 0, &v, sizeof v);
    int rc = 0;
    for (i = lo; i < hi; i++) {
        if ((rc = o->push(o, &r)) | atomic_load_explicit(halt, memory_order_relaxed)) {
            i++;
            break;
        }
        v = (int64_t)((uint64_t)v + (uint64_t)step);
    }
    t->records_in += (int64_t)(i - lo);
    return halted(t, rc);
}

/* ---------------------------------------------------------------- per-record stages */

typedef struct stage {
    ember_out in;   /* what the parent pushes into */
    ember_out emit; /* what the user function emits into */
    int (*emit_inner)(ember_out *self, const ember_rec *rec);  /* behind emit_paused */
    int (*emit_probed)(ember_out *self, const ember_rec *rec); /* behind emit_probe */
    ember_map_fn *map;
    ember_pred_fn *pred;
    void *arg;
    const ember_rec *cur;   /* the input being processed */
    ember_buf *whole;       /* key_by: a pair input (or every input) encoded whole here */
    const ember_buf *other; /* cartesian: b's partition, encoded */
    uint64_t rng;           /* sample */
    int64_t index;          /* zip_with_index */
} stage;

static __attribute__((noinline)) int exactly_one(stage *st)
{
    ember__task *t = st->in.task;
    return ember__task_fail(t, EMBER_EINVAL,
                            "the %s function emitted %lld records for one input (%s emits "
                            "exactly one%s)",
                            st->in.node->op, (long long)st->emit.emitted, st->in.node->op,
                            st->in.node->type == &ember__map_type ? "; use flat_map for more" : "");
}

static int emit_forward(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, emit);
    st->emit.emitted++;
    return st->in.next->push(st->in.next, rec);
}

/* Stats on: the user's clock pauses while the record travels on downstream. */
static int emit_paused(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, emit);
    ember__task *t = self->task;
    t->user_ns += ember__now_ns() - t->user_t0;
    t->in_user = false;
    int rc = st->emit_inner(self, rec);
    t->in_user = true;
    t->user_t0 = ember__now_ns();
    return rc;
}

/* A kind probe's node: a record's way out tells the task which typed emit
 * (if any) made it. Plain emits leave kind_seen as it was: 0 for the first. */
static int emit_probe(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, emit);
    self->task->probe_kind = self->kind_seen;
    return st->emit_probed(self, rec);
}

/* Set the stage's emitter: push with the clock paused when timed; straight to
 * next (counting) when direct and untimed; through emit_probe in a kind probe
 * of this node. */
static void set_emit(stage *st, int (*push)(ember_out *, const ember_rec *), bool direct)
{
    if (st->in.task->timed) {
        st->emit_inner = push;
        st->emit.push = emit_paused;
    } else {
        st->emit.push = push;
        st->emit.fwd = direct ? st->in.next : NULL;
    }
    if (__builtin_expect(ember__job_is_probe(st->in.task->job), 0) &&
        st->in.task->job->rdd->parent == st->in.node) {
        st->emit_probed = st->emit.push;
        st->emit.push = emit_probe;
        st->emit.fwd = NULL;
    }
}

static int emit_with_key(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, emit);
    if (++st->emit.emitted > 1 && st->in.node->type == &ember__map_values_type)
        return exactly_one(st);
    ember_rec out;
    ember__rec_set(&out, st->cur->key.ptr, st->cur->key.len, rec->val.ptr, rec->val.len);
    return st->in.next->push(st->in.next, &out);
}

static int emit_as_key(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, emit);
    if (++st->emit.emitted > 1)
        return exactly_one(st);
    ember_rec out;
    if (st->cur->key.ptr || st->in.node->type == &ember__key_by_whole_type) {
        /* Spark's keyBy keeps the whole element: a pair goes in as its encoding
         * (ember_iter_init reads it back) */
        st->whole->len = 0;
        if (ember__arena_put(st->whole, *st->cur))
            return ember__task_fail(st->in.task, EMBER_ENOMEM, "%s: out of memory",
                                    st->in.node->op);
        ember__rec_set(&out, rec->val.ptr, rec->val.len, st->whole->ptr, st->whole->len);
    } else {
        ember__rec_set(&out, rec->val.ptr, rec->val.len, st->cur->val.ptr, st->cur->val.len);
    }
    return st->in.next->push(st->in.next, &out);
}

/* The per-record stages come in two builds each: timed (stats on: the user's
 * clock runs around the call) and untimed, chosen when the stage is set up. */
#define STAGE_PAIR(name)                                                                           \
    static int name(ember_out *self, const ember_rec *rec)                                         \
    {                                                                                              \
        return name##_t(self, rec, false);                                                         \
    }                                                                                              \
    static int name##_timed(ember_out *self, const ember_rec *rec)                                 \
    {                                                                                              \
        return name##_t(self, rec, true);                                                          \
    }

/* map, key_by: exactly one output (key_by's emitter reads the input back) */
static inline __attribute__((always_inline)) int map_in_t(ember_out *self, const ember_rec *rec,
                                                          bool timed)
{
    stage *st = container_of(self, stage, in);
    ember__task *t = self->task;
    st->emit.emitted = 0;
    st->cur = rec;
    if (timed)
        ember__user_begin(t);
    int rc = st->map(*rec, &st->emit, st->arg);
    if (timed)
        ember__user_end(t);
    if (__builtin_expect(rc < 0, 0))
        return ember__user_failed(t, self->node->op, rc);
    return __builtin_expect(st->emit.emitted == 1, 1) ? 0 : exactly_one(st);
}
STAGE_PAIR(map_in)

/* flat_map: any number of outputs */
static inline __attribute__((always_inline)) int flat_map_in_t(ember_out *self,
                                                               const ember_rec *rec, bool timed)
{
    stage *st = container_of(self, stage, in);
    ember__task *t = self->task;
    if (timed)
        ember__user_begin(t);
    int rc = st->map(*rec, &st->emit, st->arg);
    if (timed)
        ember__user_end(t);
    return ember__user_rc(t, self->node->op, rc);
}
STAGE_PAIR(flat_map_in)

/* map_values, flat_map_values: the function sees the value alone */
static inline __attribute__((always_inline)) int values_in_t(ember_out *self, const ember_rec *rec,
                                                             bool timed)
{
    stage *st = container_of(self, stage, in);
    ember__task *t = self->task;
    st->emit.emitted = 0;
    st->cur = rec;
    ember_rec in;
    ember__rec_set(&in, NULL, 0, rec->val.ptr, rec->val.len);
    if (timed)
        ember__user_begin(t);
    int rc = st->map(in, &st->emit, st->arg);
    if (timed)
        ember__user_end(t);
    if ((rc = ember__user_rc(t, self->node->op, rc)))
        return rc;
    if (self->node->type == &ember__map_values_type && st->emit.emitted != 1)
        return exactly_one(st);
    return 0;
}
STAGE_PAIR(values_in)

static inline __attribute__((always_inline)) int filter_in_t(ember_out *self, const ember_rec *rec,
                                                             bool timed)
{
    stage *st = container_of(self, stage, in);
    ember__task *t = self->task;
    if (timed)
        ember__user_begin(t);
    int keep = st->pred(*rec, st->arg);
    if (timed)
        ember__user_end(t);
    if (__builtin_expect(keep <= 0, 0))
        return keep ? ember__user_failed(t, self->node->op, keep) : 0;
    return self->next->push(self->next, rec);
}
STAGE_PAIR(filter_in)

static int keys_in(ember_out *self, const ember_rec *rec)
{
    if (!rec->key.ptr)
        return ember__task_fail(self->task, EMBER_EINVAL,
                                "%s: a record has no key (an rdd of pairs is needed)",
                                self->node->op);
    ember_bytes b = self->node->type == &ember__keys_type ? rec->key : rec->val;
    ember_rec out;
    ember__rec_set(&out, NULL, 0, b.ptr, b.len);
    return self->next->push(self->next, &out);
}

static int zip_in(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, in);
    if (rec->key.ptr)
        return ember__task_fail(self->task, EMBER_EINVAL,
                                "%s: a record has a key (zip the values instead)", self->node->op);
    int64_t idx = st->index;
    /* zip_with_index counts up; zip_with_unique_id steps by the partition count */
    st->index += self->node->type == &ember__zip_unique_type ? self->node->nparts : 1;
    ember_rec out;
    ember__rec_set(&out, rec->val.ptr, rec->val.len, &idx, sizeof idx);
    return self->next->push(self->next, &out);
}

/* cartesian: (x, y) for x of a's partition and every y of b's: key x, value y */
static int cart_in(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, in);
    ember__task *t = self->task;
    const unsigned char *p = st->other->ptr, *end = p ? p + st->other->len : p;
    ember_rec y, out;
    int rc;
    if (rec->key.ptr)
        return ember__task_fail(t, EMBER_EINVAL,
                                "cartesian: a record has a key (map the pairs to values first)");
    while ((rc = ember__rec_next(&p, end, &y)) == 1) {
        if (y.key.ptr)
            return ember__task_fail(
                t, EMBER_EINVAL, "cartesian: a record has a key (map the pairs to values first)");
        ember__rec_set(&out, rec->val.ptr ? rec->val.ptr : (const void *)"", rec->val.len,
                       y.val.ptr, y.val.len);
        if ((rc = self->next->push(self->next, &out)) || ember__halted(t))
            return rc;
    }
    return rc < 0 ? rc : 0;
}

/* Poisson(lambda) by inversion, in steps of at most 500 (exp underflows past ~700). */
int64_t ember__poisson(uint64_t *s, double lambda)
{
    int64_t k = 0;
    while (lambda > 0) {
        double step = lambda > 500 ? 500 : lambda;
        lambda -= step;
        double p = exp(-step), f = p, u = ember__unit(s);
        int64_t i = 0;
        while (u > f && i < 100000) {
            i++;
            p *= step / (double)i;
            f += p;
        }
        k += i;
    }
    return k;
}

static int sample_in(ember_out *self, const ember_rec *rec)
{
    stage *st = container_of(self, stage, in);
    ember_rdd *n = self->node;
    int64_t copies;
    if (n->u.sample.with_replacement)
        copies = ember__poisson(&st->rng, n->u.sample.fraction);
    else
        copies = ember__unit(&st->rng) < n->u.sample.fraction;
    for (int64_t i = 0; i < copies; i++) {
        int rc = self->next->push(self->next, rec);
        if (rc | ember__halted(self->task))
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- whole-partition stages */

static int gather_push(ember_out *self, const ember_rec *rec)
{
    if (ember__arena_put(self->state, *rec))
        return ember__task_fail(self->task, EMBER_ENOMEM,
                                "out of memory gathering partition for %s", self->node->op);
    return 0;
}

/* The records of parent partition part as one arena: borrowed from the source or
 * the cache when they hold it, else gathered into own. */
int ember__partition_bytes(ember_rdd *n, ember_rdd *parent, int part, ember__task *t,
                           ember_buf *own, const ember_buf **bytes)
{
    if (parent->type == &ember__arena_type) {
        *bytes = &parent->u.arenas[part];
        return 0;
    }
    if (parent->cache_on) {
        pthread_mutex_lock(&parent->cache_mu);
        bool have = parent->have && parent->have[part];
        pthread_mutex_unlock(&parent->cache_mu);
        if (have) {
            *bytes = &parent->cached[part];
            return 0;
        }
    }
    ember_out g = {.push = gather_push, .task = t, .node = n, .state = own};
    int rc = ember__compute(parent, part, &g);
    *bytes = own;
    return rc;
}

static int run_whole(ember_rdd *n, int part, ember_out *sink)
{
    ember__task *t = sink->task;
    ember_rdd *parent = n->parent;
    ember_buf own = {0};
    const ember_buf *bytes = NULL;
    ember_iter it;
    int rc = 0;
    bool made = n->type == &ember__map_partitions_type && !parent->cache_on &&
                (parent->type == &ember__range_type || parent->type == &ember__i64_type);
    if (made) {
        /* int64 sources stream into the iterator: nothing is gathered */
        uint64_t lo = slice_start(parent->u.ints.count, parent->nparts, part);
        uint64_t hi = slice_start(parent->u.ints.count, parent->nparts, part + 1);
        if (parent->type == &ember__range_type)
            ember__iter_values(
                &it, NULL,
                (int64_t)((uint64_t)parent->u.ints.start + lo * (uint64_t)parent->u.ints.step),
                parent->u.ints.step, hi - lo);
        else
            ember__iter_values(&it, parent->u.ints.values + lo, 0, 0, hi - lo);
    } else {
        if ((rc = ember__partition_bytes(n, parent, part, t, &own, &bytes)))
            goto out;
        ember_iter_init(&it, ember_bytes_of(bytes->ptr, bytes->len));
    }
    if (n->type == &ember__glom_type) {
        /* the whole partition becomes one record */
        ember_rec whole = {.val = {bytes->ptr, bytes->len}};
        rc = sink->push(sink, &whole);
    } else {
        stage st = {.emit = {.task = t, .node = n}, .in = {.next = sink, .task = t, .node = n}};
        set_emit(&st, emit_forward, true);
        ember__user_begin(t);
        rc = n->fn.part(&it, &st.emit, part, n->arg);
        ember__user_end(t);
        if (made)
            t->records_in += (int64_t)(it.count_ - it.left_);
        rc = ember__after_user(t, n->op, rc);
    }
out:
    ember_buf_destroy(&own);
    return rc;
}

/* ---------------------------------------------------------------- compute */

/* The kinds' computes: each sets up its stage on the task's stack and computes
 * its parent into it (the sources loop over their records). */

#define STAGE_OF(n, sink)                                                                          \
    (stage)                                                                                        \
    {                                                                                              \
        .in = {.next = (sink), .task = (sink)->task, .node = (n)},                                 \
        .emit = {.task = (sink)->task, .node = (n)}, .map = (n)->fn.map, .pred = (n)->fn.pred,     \
        .arg = (n)->arg                                                                            \
    }

static int arena_compute(ember_rdd *n, int part, ember_out *sink)
{
    return ember__feed_arena(&n->u.arenas[part], sink, n->op, part);
}

static int map_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    st.in.push = sink->task->timed ? map_in_timed : map_in;
    st.in.reads = EMBER__READS_NOW;
    set_emit(&st, emit_forward, true); /* map_in checks for exactly one after */
    return ember__compute(n->parent, part, &st.in);
}

static int key_by_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    ember_buf whole = {0};
    st.whole = &whole;
    st.in.push = sink->task->timed ? map_in_timed : map_in;
    set_emit(&st, emit_as_key, false);
    int rc = ember__compute(n->parent, part, &st.in);
    ember_buf_destroy(&whole);
    return rc;
}

/* the values, read back as the records key_by_whole encoded */
static int unwrap_in(ember_out *self, const ember_rec *rec)
{
    const unsigned char *p = rec->val.ptr;
    ember_rec r;
    if (ember__rec_next(&p, p + rec->val.len, &r) != 1)
        return ember__task_fail(self->task, EMBER_EIO, "%s: a record does not decode",
                                self->node->op);
    return self->next->push(self->next, &r);
}

static int unwrap_compute(ember_rdd *n, int part, ember_out *sink)
{
    ember_out in = {.push = unwrap_in, .next = sink, .task = sink->task, .node = n};
    return ember__compute(n->parent, part, &in);
}

static int flat_map_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    st.in.push = sink->task->timed ? flat_map_in_timed : flat_map_in;
    st.in.reads = EMBER__READS_NOW;
    set_emit(&st, emit_forward, true);
    return ember__compute(n->parent, part, &st.in);
}

static int values_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    st.in.push = sink->task->timed ? values_in_timed : values_in;
    st.in.reads = EMBER__READS_NOW;
    set_emit(&st, emit_with_key, false);
    return ember__compute(n->parent, part, &st.in);
}

static int filter_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    st.in.push = sink->task->timed ? filter_in_timed : filter_in;
    st.in.reads = EMBER__READS_PASS;
    return ember__compute(n->parent, part, &st.in);
}

static int keys_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    st.in.push = keys_in;
    return ember__compute(n->parent, part, &st.in);
}

static int sample_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    st.rng = n->u.sample.seed ^ (0x9e3779b97f4a7c15ULL * ((uint64_t)part + 1));
    ember__splitmix(&st.rng);
    st.in.push = sample_in;
    return ember__compute(n->parent, part, &st.in);
}

/* b's partition j gathered (or read in place), then a's partition i pushed
 * through it */
static int cartesian_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    int nb = n->parent2->nparts;
    ember_buf own = {0};
    const ember_buf *bytes;
    int rc = ember__partition_bytes(n, n->parent2, part % nb, sink->task, &own, &bytes);
    if (!rc) {
        st.other = bytes;
        st.in.push = cart_in;
        rc = ember__compute(n->parent, part / nb, &st.in);
    }
    ember_buf_destroy(&own);
    return rc;
}

/* zip_with_unique_id, Spark's: partition k gives k, n + k, 2n + k, ...;
 * zip_with_index counts up from the partition's offset (prepare) */
static int zip_compute(ember_rdd *n, int part, ember_out *sink)
{
    stage st = STAGE_OF(n, sink);
    if (n->type == &ember__zip_unique_type)
        st.index = part;
    else
        st.index = n->u.offsets ? n->u.offsets[part] : 0;
    st.in.push = zip_in;
    return ember__compute(n->parent, part, &st.in);
}

static int union_compute(ember_rdd *n, int part, ember_out *sink)
{
    if (part < n->parent->nparts)
        return ember__compute(n->parent, part, sink);
    return ember__compute(n->parent2, part - n->parent->nparts, sink);
}

static int coalesce_compute(ember_rdd *n, int part, ember_out *sink)
{
    for (int p = n->u.group[part]; p < n->u.group[part + 1]; p++) {
        int rc = ember__compute(n->parent, p, sink);
        if (rc)
            return rc;
    }
    return 0;
}

static void arena_free(ember_rdd *n)
{
    for (int i = 0; n->u.arenas && i < n->nparts; i++)
        ember_buf_destroy(&n->u.arenas[i]);
    ember__free(n->u.arenas);
}

static void i64_free(ember_rdd *n)
{
    ember__free(n->u.ints.values);
}

static void zip_free(ember_rdd *n)
{
    ember__free(n->u.offsets);
}

static void coalesce_free(ember_rdd *n)
{
    ember__free(n->u.group);
}

/* the kinds of sched: sources that hold their data, and the narrow ones */
const ember__node_type ember__arena_type = {"parallelize", 0, arena_compute, NULL, arena_free};
const ember__node_type ember__i64_type = {"parallelize_i64", 0, feed_i64, NULL, i64_free};
const ember__node_type ember__range_type = {"range", 0, feed_range, NULL, NULL};
const ember__node_type ember__map_type = {"map", 0, map_compute, NULL, NULL};
const ember__node_type ember__flat_map_type = {"flat_map", 0, flat_map_compute, NULL, NULL};
const ember__node_type ember__filter_type = {"filter", EMBER__NT_KEEPS_PARTITIONER, filter_compute,
                                             NULL, NULL};
const ember__node_type ember__map_values_type = {"map_values", EMBER__NT_KEEPS_PARTITIONER,
                                                 values_compute, NULL, NULL};
const ember__node_type ember__flat_map_values_type = {
    "flat_map_values", EMBER__NT_KEEPS_PARTITIONER, values_compute, NULL, NULL};
const ember__node_type ember__key_by_type = {"key_by", 0, key_by_compute, NULL, NULL};
const ember__node_type ember__key_by_whole_type = {"key_by", 0, key_by_compute, NULL, NULL};
const ember__node_type ember__unwrap_type = {"values", 0, unwrap_compute, NULL, NULL};
const ember__node_type ember__keys_type = {"keys", 0, keys_compute, NULL, NULL};
const ember__node_type ember__values_type = {"values", 0, keys_compute, NULL, NULL};
const ember__node_type ember__sample_type = {"sample", 0, sample_compute, NULL, NULL};
const ember__node_type ember__zip_index_type = {"zip_with_index", 0, zip_compute,
                                                ember__zip_prepare, zip_free};
const ember__node_type ember__zip_unique_type = {"zip_with_unique_id", 0, zip_compute, NULL, NULL};
const ember__node_type ember__cartesian_type = {"cartesian", 0, cartesian_compute, NULL, NULL};
const ember__node_type ember__map_partitions_type = {"map_partitions", 0, run_whole, NULL, NULL};
const ember__node_type ember__glom_type = {"glom", 0, run_whole, NULL, NULL};
const ember__node_type ember__union_type = {"union", 0, union_compute, NULL, NULL};
const ember__node_type ember__coalesce_type = {"coalesce", 0, coalesce_compute, NULL,
                                               coalesce_free};

/* ---------------------------------------------------------------- the record cursor */

/* process[N]: a poison record (one that crashed two attempts) passed over: put
 * in the bad-records directory with why, counted as bad. */
static __attribute__((noinline)) int pass_over(ember_out *self, const ember_rec *rec, int64_t k)
{
    ember__task *t = self->task;
    ember_ctx *ctx = t->ctx;
    t->records_bad++;
    char path[4200], dir[4096];
    snprintf(dir, sizeof dir, "%s", ctx->bad_dir ? ctx->bad_dir : ".");
    ember__mkdirs(dir);
    snprintf(path, sizeof path, "%s/poison-part-%05d", dir, t->partition);
    FILE *f = fopen(path, "ae");
    if (!f)
        return ember__task_fail(t, EMBER_EIO, "cannot write the poison record to %s", path);
    fprintf(f, "partition %d record %lld: %s\t", t->partition, (long long)k,
            t->skip_why ? t->skip_why : "crashed its worker twice");
    if (rec->key.ptr) {
        fwrite(rec->key.ptr, 1, rec->key.len, f);
        fputc('\t', f);
    }
    fwrite(rec->val.ptr ? rec->val.ptr : "", 1, rec->val.len, f);
    fputc('\n', f);
    return fclose(f) ? ember__task_fail(t, EMBER_EIO, "cannot write %s", path) : 0;
}

/* Between a source and the rest of the pipeline in a worker: the number of the
 * record being processed, where the driver finds it if the worker dies. */
static int watch_push(ember_out *self, const ember_rec *rec)
{
    ember__task *t = self->task;
    int64_t k = atomic_load_explicit(t->cursor, memory_order_relaxed) + 1;
    atomic_store_explicit(t->cursor, k, memory_order_relaxed);
    if (__builtin_expect(k == t->skip, 0))
        return pass_over(self, rec, k);
    return self->next->push(self->next, rec);
}

int ember__compute_uncached(ember_rdd *n, int part, ember_out *sink)
{
    if (__builtin_expect(sink->task->cursor != NULL, 0) &&
        (!n->parent || (n->type->flags & EMBER__NT_WIDE)) && sink->push != watch_push) {
        ember_out w = {.push = watch_push,
                       .next = sink,
                       .task = sink->task,
                       .node = n,
                       .reads = EMBER__READS_PASS};
        return ember__compute_uncached(n, part, &w);
    }
    if (__builtin_expect(n->type->compute != NULL, 1))
        return n->type->compute(n, part, sink);
    return ember__task_fail(sink->task, EMBER_EINVAL, "rdd %lld (%s) cannot be computed",
                            (long long)n->id, n->op);
}

static int tee_push(ember_out *self, const ember_rec *rec)
{
    if (ember__arena_put(self->state, *rec))
        return ember__task_fail(self->task, EMBER_ENOMEM, "out of memory caching %s",
                                self->node->op);
    return self->next->push(self->next, rec);
}

int ember__compute(ember_rdd *n, int part, ember_out *sink)
{
    if (!n->cache_on)
        return ember__compute_uncached(n, part, sink);

    pthread_mutex_lock(&n->cache_mu);
    bool have = n->have && n->have[part];
    pthread_mutex_unlock(&n->cache_mu);
    if (have)
        return ember__feed_arena(&n->cached[part], sink, n->op, part);

    ember_buf kept = {0};
    ember_out tee = {.push = tee_push, .next = sink, .task = sink->task, .node = n, .state = &kept};
    int rc = ember__compute_uncached(n, part, &tee);
    if (rc == 0 && !sink->task->stop && !sink->task->fail_code) {
        /* a whole partition: keep it, unless another task got there first */
        pthread_mutex_lock(&n->cache_mu);
        if (!n->cached) {
            n->cached = ember__calloc((size_t)n->nparts, sizeof *n->cached);
            n->have = ember__calloc((size_t)n->nparts, sizeof *n->have);
            if (!n->cached || !n->have)
                ember__cache_drop(n); /* not cached this time; nothing lost */
        }
        if (n->have && !n->have[part]) {
            n->cached[part] = kept;
            n->have[part] = true;
            kept = (ember_buf){0};
            ember__task *t = sink->task;
            if (t->cursor && t->nfills < 8) /* in a worker: for the driver too */
                t->fills[t->nfills].node = n, t->fills[t->nfills++].part = part;
        }
        pthread_mutex_unlock(&n->cache_mu);
    }
    ember_buf_destroy(&kept);
    return rc;
}
