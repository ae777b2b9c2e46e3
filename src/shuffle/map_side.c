/* A shuffle's map side: each map task writes its records into one buffer per
 * reducer (no table shared between threads), combining them by key first for
 * reduce_by_key and distinct; sort_by_key samples its keys first to find the
 * range boundaries. The node's prepare runs the map side as a stage of each
 * side, then keeps the buckets in the node, as Spark keeps shuffle files.
 *
 * The memory budget: a map task whose buffers pass its share (half the budget
 * over the threads) sorts them by key and spills them as a run to its spill
 * file (spill.c), and so does a task finishing when the buckets kept by the
 * finished tasks would pass half the budget. Once any task spilled, the kept
 * buckets are written as runs too, and the reduce side merges the runs.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shuffle/node.h"

/* ---------------------------------------------------------------- range partitioning */

/* The range partition of key: ascending, how many boundaries sort before it;
 * descending, how many sort after it. */
int ember__range_part(const ember__shuffle *s, ember_bytes key)
{
    int lo = 0, hi = s->nbounds; /* the first boundary not before key */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s->cmp(s->bound[mid], key, s->cmp_arg) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->ascending)
        return lo;
    int le = lo; /* then those equal to key: they go right of it when descending */
    while (le < s->nbounds && s->cmp(s->bound[le], key, s->cmp_arg) == 0)
        le++;
    return s->nbounds - le;
}

/* ---------------------------------------------------------------- map side */

typedef struct map_state {
    ember_buf *out; /* one arena per reducer */
    int nparts;
    ember__kv kv; /* reduce_by_key, distinct: combined on the map side first */
    /* reduce_by_key: records waiting to be combined (keys and values copied to
     * pend_bytes), each key hashed and its slot prefetched as it came, so that
     * a batch's cache misses overlap instead of one stalling each record */
    struct pending {
        uint64_t h;
        size_t off;
        uint32_t klen, vlen;
    } pend[16];
    int npend;
    ember_buf pend_bytes;
    ember_buf enc; /* distinct, subtract, intersection: the record encoded, as its key */
    int next;      /* repartition: the next reducer; -1 until the first record */
    bool int_keys; /* int64 keys: k mod n */
    ember_partition_fn *part_fn; /* a caller's partitioner */
    void *part_arg;
    int64_t nput; /* records written to the buckets */
    /* spilling: the task's share of the budget, the bytes its buckets hold, the
     * spill file (fd -1: none) */
    size_t share, held;
    unsigned tick;
    ember__spill_file sp;
} map_state;

/* The reducer of key: the caller's partitioner, int64 keys' k mod n, or the
 * hash; -1 when the caller's gives a partition that is not there. */
static int part_of(const map_state *m, ember_bytes key)
{
    if (!m->part_fn)
        return ember__partition_for(m->int_keys, key, m->nparts);
    int r = m->part_fn(key, m->nparts, m->part_arg);
    return r >= 0 && r < m->nparts ? r : -1;
}

static __attribute__((noinline)) int bad_partition(ember__task *t, const ember_rdd *n)
{
    return ember__task_fail(t, EMBER_ERANGE,
                            "%s: the partition function gave a partition outside 0 to %d for a "
                            "key of partition %d",
                            n->op, n->nparts - 1, t->partition);
}

/* rec into reducer r's bucket, counted for the shuffle metrics and the budget */
static inline int put(map_state *m, int r, ember_rec rec)
{
    m->nput++;
    size_t cap = m->out[r].cap;
    int rc = ember__arena_put(&m->out[r], rec);
    m->held += m->out[r].cap - cap;
    return rc;
}

int ember__shuffle_write_run(ember__spill_file *f, const ember_buf *out, int nparts,
                             const ember__order *o, char *why, size_t whylen)
{
    if (ember__run_begin(f, nparts)) {
        snprintf(why, whylen, "out of memory spilling");
        return EMBER_ENOMEM;
    }
    ember_rec *idx = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int r = 0; r < nparts && !rc; r++) {
        const ember_buf *b = &out[r];
        if (!o) {
            rc = b->len ? ember__run_bytes(f, b->ptr, b->len, why, whylen) : 0;
        } else {
            size_t n = 0;
            const unsigned char *p = b->ptr, *end = p ? p + b->len : p;
            ember_rec rec;
            while (!rc && p && ember__rec_next(&p, end, &rec) == 1) {
                if (n == cap) {
                    size_t c = cap ? cap * 2 : 1024;
                    ember_rec *grown = ember__realloc(idx, c * sizeof *grown);
                    if (!grown) {
                        snprintf(why, whylen, "out of memory sorting a spill");
                        rc = EMBER_ENOMEM;
                        break;
                    }
                    idx = grown;
                    cap = c;
                }
                idx[n++] = rec;
            }
            ember__sort_recs(idx, n, o);
            for (size_t i = 0; i < n && !rc; i++)
                rc = ember__run_rec(f, idx[i], why, whylen);
        }
        if (!rc)
            rc = ember__run_part_end(f, why, whylen);
    }
    ember__free(idx);
    return rc;
}

/* The map task's table spread into its buckets, by key (a combine's end). */
static int spread(map_state *m)
{
    size_t pos = 0;
    ember_rec r;
    while (ember__kv_next(&m->kv, &pos, &r)) {
        int p = part_of(m, r.key);
        if (p < 0)
            return EMBER_ERANGE;
        if (put(m, p, r))
            return EMBER_ENOMEM;
    }
    ember__kv_destroy(&m->kv);
    return 0;
}

int ember__combine_failed(ember__task *t, const char *op, int rc)
{
    if (rc == EMBER_ENOMEM)
        return ember__task_fail(t, rc, "%s: out of memory combining by key", op);
    if (rc == EMBER__KV_TOO_BIG)
        return ember__task_fail(
            t, EMBER_EINVAL, "%s: a key or combined value of 4 GB or more cannot be combined", op);
    return ember__user_failed(t, op, rc);
}

/* The waiting records into the table, in the order they came. */
static int drain(map_state *m, ember__task *t, const ember_rdd *n)
{
    const ember__shuffle *s = n->u.state;
    ember_bytes zero = ember_buf_bytes(&s->zero);
    int rc = 0;
    for (int i = 0; i < m->npend && !rc; i++) {
        const struct pending *p = &m->pend[i];
        const unsigned char *b = m->pend_bytes.ptr + p->off;
        rc = ember__kv_add_hashed(&m->kv, p->h, ember_bytes_of(b, p->klen),
                                  ember_bytes_of(b + p->klen, p->vlen), s->fn, s->create,
                                  s->has_zero ? &zero : NULL, s->arg);
    }
    m->npend = 0;
    m->pend_bytes.len = 0;
    return rc ? ember__combine_failed(t, n->op, rc) : 0;
}

/* The task's buckets (and table) over its share: a run to its spill file. */
static int spill(map_state *m, ember__task *t, const ember_rdd *n)
{
    const ember__shuffle *s = n->u.state;
    char why[300];
    int drc = drain(m, t, n);
    if (drc)
        return drc;
    if ((drc = spread(m)))
        return drc == EMBER_ERANGE
                   ? bad_partition(t, n)
                   : ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory in the shuffle", n->op);
    int rc = m->sp.fd < 0 ? ember__spill_open(&m->sp, n->ctx->spill_dir, why, sizeof why) : 0;
    uint64_t before = m->sp.size;
    if (!rc)
        rc = ember__shuffle_write_run(&m->sp, m->out, m->nparts, s->order, why, sizeof why);
    if (rc)
        return ember__task_fail(t, rc, "%s: spilling map task %d past the memory budget: %s", n->op,
                                t->partition, why);
    for (int r = 0; r < m->nparts; r++)
        ember_buf_destroy(&m->out[r]);
    m->held = 0;
    t->spill_count++;
    t->spill_bytes += (int64_t)(m->sp.size - before);
    if (ember__ev_wanted(n->ctx, EMBER_EV_SPILL)) {
        ember_event ev = {.type = EMBER_EV_SPILL,
                          .job_id = n->ctx->cur_job,
                          .stage_id = t->job->stage_id,
                          .partition = t->partition,
                          .bytes = (int64_t)(m->sp.size - before),
                          .memory_budget = (int64_t)n->ctx->memory_budget};
        ev.metrics.spill_bytes = ev.bytes;
        ember__emit(n->ctx, &ev);
    }
    return 0;
}

/* (the other half is for the buckets kept by finished map tasks; at least 1) */
size_t ember__shuffle_share(const ember_ctx *ctx)
{
    size_t share = ctx->memory_budget / 2 / (size_t)(ctx->parallelism > 0 ? ctx->parallelism : 1);
    return share ? share : 1;
}

/* After a put: spill when the task's buckets are over its share. */
static inline int after_put(map_state *m, ember__task *t, const ember_rdd *n)
{
    return __builtin_expect(m->held > m->share, 0) ? spill(m, t, n) : 0;
}

int ember__keep_first(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    (void)b;
    (void)arg;
    return ember_buf_set(res, a.ptr ? a.ptr : "", a.len);
}

/* rec into reducer r, then a spill if the task is over its share */
static inline int place(map_state *m, ember__task *t, const ember_rdd *n, int r, ember_rec rec)
{
    t->records_out++;
    if (put(m, r, rec))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory in the shuffle", n->op);
    return after_put(m, t, n);
}

static __attribute__((noinline)) int no_key(ember__task *t, const ember_rdd *n)
{
    return ember__task_fail(t, EMBER_EINVAL, "%s: a record has no key (an rdd of pairs is needed)",
                            n->op);
}

/* partition_by, group_by_key, cogroup, the joins, subtract_by_key: by key */
static int by_key_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    if (!rec->key.ptr)
        return no_key(t, n);
    int p = part_of(m, rec->key);
    return p >= 0 ? place(m, t, n, p, *rec) : bad_partition(t, n);
}

/* subtract, intersection: the whole record is the key, moved as it is (no
 * combine: duplicates count) */
static int by_record_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    m->enc.len = 0;
    if (ember__arena_put(&m->enc, *rec))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", n->op);
    ember_rec k;
    ember__rec_set(&k, m->enc.ptr, m->enc.len, "", 0);
    return place(m, t, n, ember__partition_of(ember_buf_bytes(&m->enc), m->nparts), k);
}

/* repartition: round-robin from a place set by the map task */
static int spread_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    if (m->next < 0)
        m->next = (int)(ember__hash(ember_bytes_of(&t->partition, sizeof t->partition)) %
                        (uint64_t)m->nparts);
    int r = m->next;
    m->next = (m->next + 1) % m->nparts;
    return place(m, t, t->job->arg, r, *rec);
}

/* sort_by_key: by range; repartition_and_sort_within_partitions: by key */
static int sorting_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    const ember__shuffle *s = n->u.state;
    if (!rec->key.ptr)
        return no_key(t, n);
    int r = s->ranged ? ember__range_part(s, rec->key) : part_of(m, rec->key);
    if (r < 0)
        return bad_partition(t, n);
    return place(m, t, n, r, *rec);
}

/* distinct: the whole record is the key of the task's table */
static int distinct_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    t->records_out++;
    m->enc.len = 0;
    int rc = ember__arena_put(&m->enc, *rec);
    if (!rc)
        rc = ember__kv_combine(&m->kv, ember_buf_bytes(&m->enc), ember_bytes_of("", 0),
                               ember__keep_first, NULL);
    if (rc)
        return ember__combine_failed(t, n->op, rc);
    return !(++m->tick & 15) && ember__kv_bytes(&m->kv) > m->share ? spill(m, t, n) : 0;
}

/* reduce_by_key and the by-key combines: into the task's table, short records
 * in batches (hashed and prefetched as they come) */
static int combining_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    const ember__shuffle *s = n->u.state;
    if (!rec->key.ptr)
        return no_key(t, n);
    t->records_out++;
    int rc;
    if (rec->key.len + rec->val.len > 256) { /* long records go straight in */
        ember_bytes zero = ember_buf_bytes(&s->zero);
        if ((rc = drain(m, t, n)))
            return rc;
        if ((rc = ember__kv_add(&m->kv, rec->key, rec->val, s->fn, s->create,
                                s->has_zero ? &zero : NULL, s->arg)))
            return ember__combine_failed(t, n->op, rc);
    } else {
        if (ember__buf_reserve(&m->pend_bytes, rec->key.len + rec->val.len + 1))
            return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", n->op);
        struct pending *p = &m->pend[m->npend++];
        p->h = ember__hash(rec->key);
        p->off = m->pend_bytes.len;
        p->klen = (uint32_t)rec->key.len;
        p->vlen = (uint32_t)rec->val.len;
        unsigned char *b = m->pend_bytes.ptr + p->off;
        if (rec->key.len)
            memcpy(b, rec->key.ptr, rec->key.len);
        if (rec->val.len)
            memcpy(b + rec->key.len, rec->val.ptr, rec->val.len);
        m->pend_bytes.len += rec->key.len + rec->val.len;
        ember__kv_prefetch(&m->kv, p->h);
        if (m->npend == (int)(sizeof m->pend / sizeof *m->pend) && (rc = drain(m, t, n)))
            return rc;
    }
    return !(++m->tick & 15) && ember__kv_bytes(&m->kv) > m->share ? spill(m, t, n) : 0;
}

/* The map task is done: a map-side combine's table spread into the reducers'
 * buckets; the buckets spilled as the last run when the task spilled before, or
 * when keeping them would put the finished tasks over half the budget; the
 * shuffle write counted. */
static int map_finish(void *state, ember__task *t)
{
    map_state *m = state;
    const ember_rdd *n = t->job->arg;
    ember__shuffle *s = n->u.state;
    int rc = drain(m, t, n);
    if (rc)
        return rc;
    if ((rc = spread(m)))
        return rc == EMBER_ERANGE
                   ? bad_partition(t, n)
                   : ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory in the shuffle", n->op);
    bool to_disk = m->sp.fd >= 0;
    if (!to_disk && m->held) {
        int64_t kept = atomic_fetch_add(&s->kept, (int64_t)m->held) + (int64_t)m->held;
        if ((size_t)kept > n->ctx->memory_budget / 2) {
            atomic_fetch_sub(&s->kept, (int64_t)m->held);
            to_disk = true;
        }
    }
    t->shuffle_write_records = m->nput;
    if (to_disk) {
        rc = spill(m, t, n);
        if (rc)
            return rc;
        ember__run_done(&m->sp);
        t->shuffle_write_bytes = (int64_t)m->sp.size;
        return 0;
    }
    for (int b = 0; b < m->nparts; b++)
        t->shuffle_write_bytes += (int64_t)m->out[b].len;
    return 0;
}

static int map_reset(void *state, const ember__job *job)
{
    map_state *m = state;
    const ember_rdd *n = job->arg;
    if (!m->out) {
        if (!(m->out = ember__calloc((size_t)n->nparts, sizeof *m->out)))
            return EMBER_ENOMEM;
        m->nparts = n->nparts;
        m->int_keys = ((const ember__shuffle *)n->u.state)->int_keys;
        m->part_fn = ((const ember__shuffle *)n->u.state)->part_fn;
        m->part_arg = ((const ember__shuffle *)n->u.state)->part_arg;
        m->sp.fd = -1;
        m->share = ember__shuffle_share(n->ctx);
    }
    for (int r = 0; r < m->nparts; r++)
        ember_buf_destroy(&m->out[r]); /* a failed attempt's buckets go */
    ember__spill_close(&m->sp);        /* and its runs */
    m->held = 0;
    m->next = -1;
    m->nput = 0;
    ember__kv_destroy(&m->kv); /* and its combine */
    m->npend = 0;
    m->pend_bytes.len = 0;
    return 0;
}

static void map_destroy(void *state)
{
    map_state *m = state;
    if (!m->out)
        return; /* never reset: nothing held */
    for (int r = 0; r < m->nparts; r++)
        ember_buf_destroy(&m->out[r]);
    ember__free(m->out);
    ember__kv_destroy(&m->kv);
    ember_buf_destroy(&m->enc);
    ember_buf_destroy(&m->pend_bytes);
    ember__spill_close(&m->sp);
}

/* process[N]: a map task's output handed back to the driver, which keeps it in
 * the node as it would have in memory: the buckets as the arenas they are,
 * and the spill file's runs (the file itself passed as a descriptor). */
static int map_ship(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const map_state *m = state;
    ember__wr w = ember__wr_to(out);
    ember__wr_u(&w, (uint64_t)m->nparts);
    for (int r = 0; r < m->nparts; r++)
        ember__wr_bytes(&w, m->out[r].ptr, m->out[r].len);
    const ember__spill_file *f = &m->sp;
    ember__wr_u(&w, f->fd >= 0);
    if (f->fd >= 0) {
        ember__wr_u(&w, f->size);
        ember__wr_u(&w, (uint64_t)f->nruns);
        ember__wr_u(&w, (uint64_t)f->nparts);
        ember__wr_bytes(&w, f->offs, (size_t)f->nruns * ((size_t)f->nparts + 1) * sizeof *f->offs);
    }
    return w.err;
}

static int map_take(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    map_state *m = state;
    ember__rd r = ember__rd_of(in);
    if ((int)ember__rd_u(&r) != m->nparts)
        return EMBER_EIO;
    for (int p = 0; p < m->nparts && !r.err; p++) {
        ember_bytes b = ember__rd_bytes(&r);
        if (b.len && ember_buf_set(&m->out[p], b.ptr, b.len))
            return EMBER_ENOMEM;
    }
    if (ember__rd_u(&r)) {
        ember__spill_file *f = &m->sp;
        f->size = ember__rd_u(&r);
        f->nruns = (int)ember__rd_u(&r);
        f->nparts = (int)ember__rd_u(&r);
        ember_bytes offs = ember__rd_bytes(&r);
        if (r.err || offs.len != (size_t)f->nruns * ((size_t)f->nparts + 1) * sizeof *f->offs)
            return EMBER_EIO;
        if (!(f->offs = ember__malloc(offs.len + 1)))
            return EMBER_ENOMEM;
        memcpy(f->offs, offs.ptr, offs.len);
        f->fd = -2; /* the descriptor comes next (take_fds) */
    }
    return r.err;
}

static int map_ship_fds(void *state, int *fds, int max)
{
    const map_state *m = state;
    if (m->sp.fd < 0 || max < 1)
        return 0;
    fds[0] = dup(m->sp.fd); /* (the worker closes what it passed) */
    return fds[0] >= 0;
}

static void map_take_fds(void *state, const int *fds, int n)
{
    map_state *m = state;
    if (m->sp.fd == -2)
        m->sp.fd = n > 0 ? fds[0] : -1;
    for (int i = 1; i < n; i++)
        close(fds[i]);
}

#define MAP_SINK(name, push_fn)                                                                    \
    const ember__sink_ops name = {.state_size = sizeof(map_state),                                 \
                                  .push = push_fn,                                                 \
                                  .reset = map_reset,                                              \
                                  .destroy = map_destroy,                                          \
                                  .finish = map_finish,                                            \
                                  .ship = map_ship,                                                \
                                  .take = map_take,                                                \
                                  .ship_fds = map_ship_fds,                                        \
                                  .take_fds = map_take_fds};
MAP_SINK(ember__shuffle_by_key, by_key_push)
MAP_SINK(ember__shuffle_by_record, by_record_push)
MAP_SINK(ember__shuffle_spread, spread_push)
MAP_SINK(ember__shuffle_sorting, sorting_push)
MAP_SINK(ember__shuffle_combining, combining_push)
MAP_SINK(ember__shuffle_distinct, distinct_push)

/* The sampler of sort_by_key's keys: every k-th key of a task, k doubling (and
 * every other kept key dropped) whenever twice the wanted sample is kept, so a
 * task keeps between limit and 2 * limit keys spread over its partition. */
typedef struct sample_state {
    ember_buf keys; /* value records */
    uint64_t seen, stride;
    size_t kept;
} sample_state;

static int sample_push(ember_out *self, const ember_rec *rec)
{
    sample_state *st = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    if (!rec->key.ptr)
        return ember__task_fail(t, EMBER_EINVAL,
                                "%s: a record has no key (an rdd of pairs is needed)", n->op);
    if (st->seen++ % st->stride)
        return 0;
    ember_rec k;
    ember__rec_set(&k, NULL, 0, rec->key.ptr, rec->key.len);
    if (ember__arena_put(&st->keys, k))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory sampling", n->op);
    size_t limit = 20 * (size_t)n->nparts + 1;
    if (++st->kept < 2 * limit)
        return 0;
    ember_buf half = {0}; /* keep every other key, and take every 2k-th from now */
    const unsigned char *p = st->keys.ptr, *end = p ? p + st->keys.len : p;
    ember_rec r;
    for (size_t i = 0; ember__rec_next(&p, end, &r) == 1; i++)
        if (!(i & 1) && ember__arena_put(&half, r)) {
            ember_buf_destroy(&half);
            return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory sampling", n->op);
        }
    ember_buf_destroy(&st->keys);
    st->keys = half;
    st->kept = (st->kept + 1) / 2;
    st->stride *= 2;
    return 0;
}

static int sample_reset(void *state, const ember__job *job)
{
    (void)job;
    sample_state *st = state;
    st->keys.len = 0;
    st->seen = st->kept = 0;
    st->stride = 1;
    return 0;
}

static void sample_destroy(void *state)
{
    ember_buf_destroy(&((sample_state *)state)->keys);
}

/* Distributed: the sampled keys travel as they are (encoded records). */
static int sample_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const sample_state *st = state;
    return ember_buf_append(out, st->keys.ptr, st->keys.len) ? EMBER_ENOMEM : 0;
}

static int sample_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    sample_state *st = state;
    if (ember_buf_set(&st->keys, in.ptr, in.len))
        return EMBER_ENOMEM;
    const unsigned char *p = st->keys.ptr, *end = p ? p + st->keys.len : p;
    ember_rec r;
    int rc;
    while ((rc = ember__rec_next(&p, end, &r)) == 1)
        st->kept++;
    return rc < 0 ? EMBER_EIO : 0;
}

static const ember__sink_ops sample_sink = {.state_size = sizeof(sample_state),
                                            .push = sample_push,
                                            .reset = sample_reset,
                                            .destroy = sample_destroy,
                                            .pack = sample_pack,
                                            .unpack = sample_unpack};

/* sort_by_key's boundaries: sample the keys, sort them, take nparts - 1 evenly. */
static int find_bounds(ember_rdd *n)
{
    ember__shuffle *s = n->u.state;
    ember__job *job;
    char what[96];
    snprintf(what, sizeof what, "%s (sampling)", n->op);
    int rc = ember__stage_run(n->parent, n->op, &sample_sink, n, NULL, 0, EMBER_STAGE_RESULT, what,
                              &job);
    if (rc)
        return rc;
    size_t total = 0;
    for (int i = 0; i < job->ntasks; i++)
        total += ((sample_state *)ember__job_state(job, i))->kept;
    ember_rec *keys = ember__malloc((total ? total : 1) * sizeof *keys);
    if (!keys)
        return ember__job_end(job, ember__err(n->ctx, EMBER_ENOMEM, "%s: out of memory", n->op));
    size_t k = 0;
    for (int i = 0; i < job->ntasks; i++) {
        const ember_buf *b = &((sample_state *)ember__job_state(job, i))->keys;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p;
        ember_rec r;
        while (k < total && ember__rec_next(&p, end, &r) == 1) {
            keys[k] = r;
            keys[k].key = r.val; /* sort the sampled keys by the comparator */
            k++;
        }
    }
    ember__sort_by_key(keys, k, &(ember__order){s->cmp, s->cmp_arg, 1});
    int nb = k && n->nparts > 1 ? n->nparts - 1 : 0;
    s->bound = ember__calloc((size_t)nb + 1, sizeof *s->bound);
    rc = s->bound ? 0 : EMBER_ENOMEM;
    size_t *offs = ember__calloc((size_t)nb + 1, sizeof *offs);
    rc = rc || !offs ? EMBER_ENOMEM : 0;
    for (int j = 0; j < nb && !rc; j++) { /* copy: the samples go with the job */
        ember_rec b = {.val = keys[(size_t)(j + 1) * k / (size_t)n->nparts].key};
        offs[j] = s->bounds.len;
        rc = ember__arena_put(&s->bounds, b);
    }
    for (int j = 0; j < nb && !rc; j++) {
        const unsigned char *p = s->bounds.ptr + offs[j];
        ember_rec r;
        ember__rec_next(&p, s->bounds.ptr + s->bounds.len, &r);
        s->bound[j] = r.val;
    }
    s->nbounds = rc ? 0 : nb;
    ember__free(offs);
    ember__free(keys);
    if (rc)
        ember__err(n->ctx, rc, "%s: out of memory", n->op);
    return ember__job_end(job, rc);
}

void ember__shuffle_drop(ember__shuffle *s)
{
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; s->buckets[side] && i < (size_t)s->nmaps[side] * (size_t)s->nparts; i++)
            ember_buf_destroy(&s->buckets[side][i]);
        ember__free(s->buckets[side]);
        for (int m = 0; s->files[side] && m < s->nmaps[side]; m++)
            ember__spill_close(&s->files[side][m]);
        ember__free(s->files[side]);
        s->buckets[side] = NULL;
        s->files[side] = NULL;
        s->nmaps[side] = 0;
    }
    s->spilled = false;
    atomic_store(&s->kept, 0);
}

int ember__shuffle_to_runs(ember_rdd *n)
{
    ember__shuffle *s = n->u.state;
    char why[300];
    for (int side = 0; side < (n->parent2 ? 2 : 1); side++) {
        for (int m = 0; m < s->nmaps[side]; m++) {
            ember__spill_file *f = &s->files[side][m];
            ember_buf *b = &s->buckets[side][(size_t)m * (size_t)s->nparts];
            bool any = false;
            for (int r = 0; r < s->nparts && !any; r++)
                any = b[r].len > 0;
            if (!any)
                continue; /* all in runs already, or nothing (another rank's map) */
            int rc = f->fd >= 0 ? 0 : ember__spill_open(f, n->ctx->spill_dir, why, sizeof why);
            if (!rc)
                rc = ember__shuffle_write_run(f, b, s->nparts, s->order, why, sizeof why);
            ember__run_done(f);
            if (rc)
                return ember__err(n->ctx, rc, "%s: spilling the shuffle past the memory budget: %s",
                                  n->op, why);
            for (int r = 0; r < s->nparts; r++)
                ember_buf_destroy(&b[r]);
        }
    }
    atomic_store(&s->kept, 0);
    return 0;
}

/* ---------------------------------------------------------------- the stage */

int ember__shuffle_prepare(ember_rdd *n, const char *action)
{
    ember__shuffle *s = n->u.state;
    if ((s->mode->flags & EMBER__SM_SORTS) && !s->cmp) {
        /* no comparator given: the keys' order by their kind */
        int kind, rc = ember__kind_for(n->parent, true, action, &kind);
        if (rc)
            return rc;
        s->cmp = ember__cmp_of(kind);
    }
    if (s->ranged && !s->bound) {
        int rc = find_bounds(n);
        if (rc)
            return rc;
    }
    /* the runs' order: the sort's, or key bytes where keys are grouped */
    unsigned flags = s->mode->flags;
    s->ord = flags & EMBER__SM_SORTS ? (ember__order){s->cmp, s->cmp_arg, s->ascending ? 1 : -1}
                                     : (ember__order){NULL, NULL, 1};
    s->order = flags & EMBER__SM_ORDERED ? &s->ord : NULL;
    const ember__sink_ops *sink = s->mode->map;
    /* the kept bytes: those of a side done in an earlier, failed, try (not those
     * of the failed job's tasks) */
    int64_t kept = 0;
    for (int side = 0; side < 2; side++)
        for (size_t i = 0; s->buckets[side] && i < (size_t)s->nmaps[side] * (size_t)s->nparts; i++)
            kept += (int64_t)s->buckets[side][i].cap;
    atomic_store(&s->kept, kept);
    for (int side = 0; side < (n->parent2 ? 2 : 1); side++) {
        if (s->buckets[side])
            continue; /* this side ran in an earlier, failed, try */
        ember__job *job;
        char what[96];
        snprintf(what, sizeof what, "%s (map side%s)", n->op,
                 n->parent2 ? (side ? ", second input" : ", first input") : "");
        int rc = ember__stage_run(side ? n->parent2 : n->parent, n->op, sink, n, NULL, 0,
                                  EMBER_STAGE_SHUFFLE_MAP, what, &job);
        if (rc)
            return rc;
        size_t nb = (size_t)job->ntasks * (size_t)n->nparts;
        ember_buf *b = ember__calloc(nb + 1, sizeof *b);
        ember__spill_file *f = ember__calloc((size_t)job->ntasks + 1, sizeof *f);
        if (!b || !f) {
            ember__free(b);
            ember__free(f);
            return ember__job_end(job, ember__err(n->ctx, EMBER_ENOMEM,
                                                  "%s: out of memory keeping the shuffle", n->op));
        }
        for (int m = 0; m < job->ntasks; m++) {
            map_state *st = ember__job_state(job, m);
            f[m] = (ember__spill_file){.fd = -1};
            if (ember__task_owner(n->ctx, m) != n->ctx->rank)
                continue; /* another rank's map task: its outputs come by exchange */
            for (int r = 0; r < n->nparts; r++) {
                b[(size_t)m * (size_t)n->nparts + (size_t)r] = st->out[r];
                st->out[r] = (ember_buf){0};
            }
            f[m] = st->sp;
            st->sp = (ember__spill_file){.fd = -1};
            if (f[m].fd >= 0)
                s->spilled = true;
        }
        s->nmaps[side] = job->ntasks;
        s->buckets[side] = b;
        s->files[side] = f;
        ember__job_end(job, 0);
        if (n->ctx->ranks > 1 && (rc = ember__shuffle_exchange(n, side))) {
            ember__shuffle_drop(s);
            return rc;
        }
    }
    if (s->spilled) {
        int rc = ember__shuffle_to_runs(n);
        if (rc) {
            ember__shuffle_drop(s);
            return rc;
        }
    }
    return 0;
}
