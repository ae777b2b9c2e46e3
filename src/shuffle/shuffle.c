/* Shuffles: records moved to the partition their key hashes to.
 *
 * A shuffle node is prepared before the first action that needs it: its map side
 * runs as a job over the parent, each task writing its records into one buffer
 * per reducer (no table shared between threads). The buffers are kept in the
 * node, as Spark keeps shuffle files; the node's partition r then reads bucket r
 * of every map task, in map order. The partitioner is xxHash3 of the key bytes
 * with a fixed seed, the same on every thread, process and machine.
 *
 * The memory budget: a map task whose buffers pass its share (half the budget
 * over the threads) sorts them by key and spills them as a run to its spill
 * file (spill.c), and so does a task finishing when the buckets kept by the
 * finished tasks would pass half the budget. Once any task spilled, the kept
 * buckets are written as runs too, and the reduce side merges the runs of its
 * partition (k-way), holding one key's values at a time; a group too big for
 * its share is handed on as a stream.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shuffle/shuffle.h"

enum {
    MODE_MOVE,
    MODE_REDUCE,
    MODE_GROUP,
    MODE_DISTINCT,
    MODE_COGROUP,
    MODE_JOIN,
    MODE_SUBTRACT_BY_KEY, /* a's records whose key b lacks */
    MODE_SUBTRACT,        /* whole records: a's that b lacks (a's duplicates kept) */
    MODE_INTERSECTION,    /* whole records in both, once */
    MODE_SPREAD,          /* repartition: round-robin, keys not needed */
    MODE_SORT             /* sort_by_key: range partitioned, sorted within */
};

/* joins: which unmatched sides still give records (outer joins) */
enum { KEEP_LEFT = 1, KEEP_RIGHT = 2 };

typedef struct shuffle_src {
    const char *op;
    int mode;
    /* MODE_REDUCE (Spark's combineByKey): a key's first value in a map task
     * becomes a combiner (create, or fn(zero, v), or itself), later ones merge
     * into it with fn; the reduce side merges combiners with merge */
    ember_reduce_fn *fn, *merge;
    ember_create_fn *create;
    ember_buf zero;
    bool has_zero;
    void *arg;
    int keep; /* MODE_JOIN: KEEP_LEFT | KEEP_RIGHT */
    /* MODE_SORT: the order, and the range boundaries found by sampling */
    ember_cmp_fn *cmp;
    void *cmp_arg;
    bool ascending;
    ember_buf bounds;   /* the boundary keys, encoded as value records */
    ember_bytes *bound; /* nbounds pointers into bounds */
    int nbounds;
    bool hashed; /* repartition_and_sort_within_partitions: hash, not range */
    int nparts;
    /* per side (two for cogroup and the joins): nmaps * nparts arenas, kept for
     * later actions */
    int nmaps[2];
    ember_buf *buckets[2];
    /* spilling: each map task's spill file (fd -1: none), whether the runs
     * hold everything (merge on the reduce side), the bytes kept in memory by
     * finished map tasks, and the runs' order (NULL: no order needed) */
    ember__spill_file *files[2];
    bool spilled;
    _Atomic int64_t kept;
    ember__order ord;
    const ember__order *order;
} shuffle_src;

/* Map task m's bucket for reducer part, of side side. */
static inline const ember_buf *bucket(const shuffle_src *s, int side, int m, int part)
{
    return &s->buckets[side][(size_t)m * (size_t)s->nparts + (size_t)part];
}

static void drop_output(shuffle_src *s);

static void shuffle_free(void *p)
{
    shuffle_src *s = p;
    if (!s)
        return;
    ember_buf_destroy(&s->zero);
    ember_buf_destroy(&s->bounds);
    ember__free(s->bound);
    drop_output(s);
    ember__free(s);
}

int ember__partition_of(ember_bytes key, int nparts)
{
    return (int)(ember__hash(key) % (uint64_t)nparts);
}

/* ---------------------------------------------------------------- range partitioning */

/* The range partition of key: ascending, how many boundaries sort before it;
 * descending, how many sort after it. */
static int range_part(const shuffle_src *s, ember_bytes key)
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

typedef struct order {
    ember_cmp_fn *cmp;
    void *arg;
    int sign;
} order;

static int cmp_by_key(const void *x, const void *y, void *arg)
{
    const order *o = arg;
    return o->sign * o->cmp(((const ember_rec *)x)->key, ((const ember_rec *)y)->key, o->arg);
}

/* ---------------------------------------------------------------- map side */

typedef struct map_state {
    ember_buf *out; /* one arena per reducer */
    int nparts;
    ember__kv kv; /* MODE_REDUCE, MODE_DISTINCT: combined on the map side first */
    /* MODE_REDUCE: records waiting to be combined (keys and values copied to
     * pend_bytes), each key hashed and its slot prefetched as it came, so that
     * a batch's cache misses overlap instead of one stalling each record */
    struct pending {
        uint64_t h;
        size_t off;
        uint32_t klen, vlen;
    } pend[16];
    int npend;
    ember_buf pend_bytes;
    ember_buf enc; /* MODE_DISTINCT: the record encoded, as the table's key */
    int next;      /* MODE_SPREAD: the next reducer; -1 until the first record */
    int64_t nput;  /* records written to the buckets */
    /* spilling: the task's share of the budget, the bytes its buckets hold, the
     * spill file (fd -1: none) */
    size_t share, held;
    unsigned tick;
    ember__spill_file sp;
} map_state;

/* rec into reducer r's bucket, counted for the shuffle metrics and the budget */
static inline int put(map_state *m, int r, ember_rec rec)
{
    m->nput++;
    size_t cap = m->out[r].cap;
    int rc = ember__arena_put(&m->out[r], rec);
    m->held += m->out[r].cap - cap;
    return rc;
}

/* Buckets out[0..nparts) as one run of f: sorted by o (NULL: as they are).
 * 0, or a code with why set. */
static int write_run(ember__spill_file *f, const ember_buf *out, int nparts, const ember__order *o,
                     char *why, size_t whylen)
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
    while (ember__kv_next(&m->kv, &pos, &r))
        if (put(m, ember__partition_of(r.key, m->nparts), r))
            return EMBER_ENOMEM;
    ember__kv_destroy(&m->kv);
    return 0;
}

/* A reducer's failure, named; or out of memory. */
static int combine_failed(ember__task *t, const char *op, int rc)
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
    const shuffle_src *s = n->u.state;
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
    return rc ? combine_failed(t, n->op, rc) : 0;
}

/* The task's buckets (and table) over its share: a run to its spill file. */
static int spill(map_state *m, ember__task *t, const ember_rdd *n)
{
    const shuffle_src *s = n->u.state;
    char why[300];
    int drc = drain(m, t, n);
    if (drc)
        return drc;
    if (spread(m))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory in the shuffle", n->op);
    int rc = m->sp.fd < 0 ? ember__spill_open(&m->sp, n->ctx->spill_dir, why, sizeof why) : 0;
    uint64_t before = m->sp.size;
    if (!rc)
        rc = write_run(&m->sp, m->out, m->nparts, s->order, why, sizeof why);
    if (rc)
        return ember__task_fail(t, rc, "%s: spilling map task %d past the memory budget: %s", n->op,
                                t->partition, why);
    for (int r = 0; r < m->nparts; r++)
        ember_buf_destroy(&m->out[r]);
    m->held = 0;
    t->spill_count++;
    t->spill_bytes += (int64_t)(m->sp.size - before);
    return 0;
}

/* A task's share of the memory budget: half of it over the threads (the other
 * half is for the buckets kept by finished map tasks). At least 1. */
static size_t task_share(const ember_ctx *ctx)
{
    size_t share = ctx->memory_budget / 2 / (size_t)(ctx->parallelism > 0 ? ctx->parallelism : 1);
    return share ? share : 1;
}

/* After a put: spill when the task's buckets are over its share. */
static inline int after_put(map_state *m, ember__task *t, const ember_rdd *n)
{
    return __builtin_expect(m->held > m->share, 0) ? spill(m, t, n) : 0;
}

/* distinct's reducer: a record seen again is the same record */
static int keep_first(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    (void)b;
    (void)arg;
    return ember_buf_set(res, a.ptr ? a.ptr : "", a.len);
}

static int map_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    const shuffle_src *s = n->u.state;
    int r;
    ember_rec k = *rec;
    if (s->mode == MODE_SPREAD) { /* round-robin from a place set by the map task */
        if (m->next < 0)
            m->next = (int)(ember__hash(ember_bytes_of(&t->partition, sizeof t->partition)) %
                            (uint64_t)m->nparts);
        r = m->next;
        m->next = (m->next + 1) % m->nparts;
    } else if (s->mode == MODE_SUBTRACT || s->mode == MODE_INTERSECTION) {
        /* the whole record is the key, moved as it is (no combine: duplicates count) */
        m->enc.len = 0;
        if (ember__arena_put(&m->enc, *rec))
            return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", n->op);
        ember__rec_set(&k, m->enc.ptr, m->enc.len, "", 0);
        r = ember__partition_of(ember_buf_bytes(&m->enc), m->nparts);
    } else if (s->mode == MODE_DISTINCT) { /* the whole record is the key */
        t->records_out++;
        m->enc.len = 0;
        int rc = ember__arena_put(&m->enc, *rec);
        if (!rc)
            rc = ember__kv_combine(&m->kv, ember_buf_bytes(&m->enc), ember_bytes_of("", 0),
                                   keep_first, NULL);
        if (rc)
            return combine_failed(t, n->op, rc);
        return !(++m->tick & 15) && ember__kv_bytes(&m->kv) > m->share ? spill(m, t, n) : 0;
    } else if (!rec->key.ptr) {
        return ember__task_fail(t, EMBER_EINVAL,
                                "%s: a record has no key (an rdd of pairs is needed)", n->op);
    } else if (s->mode == MODE_REDUCE) {
        t->records_out++;
        int rc;
        if (rec->key.len + rec->val.len > 256) { /* long records go straight in */
            ember_bytes zero = ember_buf_bytes(&s->zero);
            if ((rc = drain(m, t, n)))
                return rc;
            if ((rc = ember__kv_add(&m->kv, rec->key, rec->val, s->fn, s->create,
                                    s->has_zero ? &zero : NULL, s->arg)))
                return combine_failed(t, n->op, rc);
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
    } else if (s->mode == MODE_SORT) {
        r = s->hashed ? ember__partition_of(rec->key, m->nparts) : range_part(s, rec->key);
    } else {
        r = ember__partition_of(rec->key, m->nparts);
    }
    t->records_out++;
    if (put(m, r, k))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory in the shuffle", n->op);
    return after_put(m, t, n);
}

/* The map task is done: a map-side combine's table spread into the reducers'
 * buckets; the buckets spilled as the last run when the task spilled before, or
 * when keeping them would put the finished tasks over half the budget; the
 * shuffle write counted. */
static int map_finish(void *state, ember__task *t)
{
    map_state *m = state;
    const ember_rdd *n = t->job->arg;
    shuffle_src *s = n->u.state;
    int rc = drain(m, t, n);
    if (rc)
        return rc;
    if (spread(m))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory in the shuffle", n->op);
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
        m->sp.fd = -1;
        m->share = task_share(n->ctx);
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

static const ember__sink_ops map_sink = {.state_size = sizeof(map_state),
                                         .push = map_push,
                                         .reset = map_reset,
                                         .destroy = map_destroy,
                                         .finish = map_finish};
static const ember__sink_ops combine_sink = {.state_size = sizeof(map_state),
                                             .push = map_push,
                                             .reset = map_reset,
                                             .destroy = map_destroy,
                                             .finish = map_finish};

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
    shuffle_src *s = n->u.state;
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
    order o = {s->cmp, s->cmp_arg, 1};
    qsort_r(keys, k, sizeof *keys, cmp_by_key, &o);
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

/* The shuffle's map output dropped (a later action runs the map side again). */
static void drop_output(shuffle_src *s)
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

/* Some map task spilled: the kept buckets become runs too, so that the reduce
 * side merges runs only. */
static int buckets_to_runs(ember_rdd *n)
{
    shuffle_src *s = n->u.state;
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
                rc = write_run(f, b, s->nparts, s->order, why, sizeof why);
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

/* ---------------------------------------------------------------- distributed shuffles */

/* Map task m's records for reducer r as encoded records appended to out: its
 * spilled runs' segments in run order, then what it kept in memory. The order
 * is the one the reduce side would have merged them in. */
static int map_output(const shuffle_src *s, int side, int m, int r, ember_buf *out)
{
    const ember__spill_file *f = &s->files[side][m];
    int rc = 0;
    for (int k = 0; f->fd >= 0 && k < f->nruns && !rc; k++) {
        const uint64_t *row = f->offs + (size_t)k * (size_t)(s->nparts + 1);
        ember__run_reader rd;
        ember__reader_open(&rd, f->fd, row[r], row[r + 1]);
        ember_rec rec;
        while ((rc = ember__reader_next(&rd, &rec)) == 1)
            if (ember__arena_put(out, rec))
                rc = EMBER_ENOMEM;
        ember__reader_close(&rd);
        if (rc == 1)
            rc = EMBER_ENOMEM;
    }
    const ember_buf *b = bucket(s, side, m, r);
    if (!rc && b->len && ember_buf_append(out, b->ptr, b->len))
        rc = EMBER_ENOMEM;
    return rc;
}

static int buckets_to_runs(ember_rdd *n);

/* Distributed (ranks > 1): after the map side of one side ran, each rank holds
 * the outputs of its own map tasks. Every reducer's share of them goes to the
 * rank that runs the reducer (its partition's owner) through all-to-all
 * exchanges, so that a rank ends up with every map task's bucket for the
 * reducers it runs, as if it had run every map task; the reduce side reads
 * them as usual.
 *
 * Rounds: each round sends at most about a chunk (a share of the memory
 * budget) to each rank, so the exchange's buffers stay within the budget
 * whatever the shuffle's size. Each message starts with a byte saying whether
 * its sender has more to send; the rounds go on while any rank has. What a
 * rank spilled travels as records; what a rank receives past half its budget
 * is spilled there as runs (merged on the reduce side as local spills are). */
static int exchange(ember_rdd *n, int side)
{
    shuffle_src *s = n->u.state;
    ember_ctx *ctx = n->ctx;
    int ranks = ctx->ranks, me = ctx->rank, rc = 0;
    size_t chunk = ctx->memory_budget / (4 * (size_t)ranks);
    if (chunk < ((size_t)64 << 10))
        chunk = (size_t)64 << 10;
    if (chunk > ((size_t)64 << 20))
        chunk = (size_t)64 << 20;
    ember_buf *send = ember__calloc((size_t)ranks * 2, sizeof *send), *recv = send + ranks;
    int *cur = ember__calloc((size_t)ranks + 1, sizeof *cur); /* per destination: pairs sent */
    ember_buf one = {0};
    size_t received = 0;
    bool told = false;
    if (!send || !cur)
        rc = EMBER_ENOMEM;
    int mine = s->nmaps[side] > me ? (s->nmaps[side] - me + ranks - 1) / ranks : 0;
    for (bool more_anywhere = true; more_anywhere;) {
        bool more = false;
        for (int dst = 0; send && dst < ranks; dst++) {
            send[dst].len = 0;
            if (ember_buf_append(&send[dst], "", 1) && !rc)
                rc = EMBER_ENOMEM;
            int owned = s->nparts > dst ? (s->nparts - dst + ranks - 1) / ranks : 0;
            int pairs = dst == me ? 0 : mine * owned;
            while (!rc && cur[dst] < pairs && send[dst].len < chunk) {
                int m = me + (cur[dst] / owned) * ranks, r = dst + (cur[dst] % owned) * ranks;
                cur[dst]++;
                one.len = 0;
                rc = map_output(s, side, m, r, &one);
                if (!rc && one.len)
                    rc = ember__buf_varint(&send[dst], (uint64_t)m) ||
                                 ember__buf_varint(&send[dst], (uint64_t)r) ||
                                 ember__buf_varint(&send[dst], one.len) ||
                                 ember_buf_append(&send[dst], one.ptr, one.len)
                             ? EMBER_ENOMEM
                             : 0;
                ember_buf_destroy(&s->buckets[side][(size_t)m * (size_t)s->nparts + (size_t)r]);
            }
            more |= !rc && cur[dst] < pairs;
        }
        for (int dst = 0; send && dst < ranks; dst++)
            if (send[dst].len)
                send[dst].ptr[0] = more;
        /* every rank takes part in every round, whatever happened here: a
         * missing rank would hang the others (a failed rank says it has no
         * more, and fails after the others are done with it) */
        int xrc = send ? ctx->exec->alltoall(ctx->exec_impl, send, recv) : EMBER_ENOMEM;
        if (!rc)
            rc = xrc;
        more_anywhere = false;
        for (int src = 0; send && src < ranks; src++) {
            const unsigned char *p = recv[src].ptr, *end = p ? p + recv[src].len : p;
            if (p < end)
                more_anywhere |= *p++ != 0;
            while (!rc && p < end) {
                uint64_t m, r, len;
                if (!(p = ember__varint_get(p, end, &m)) || !(p = ember__varint_get(p, end, &r)) ||
                    !(p = ember__varint_get(p, end, &len)) || len > (uint64_t)(end - p) ||
                    m >= (uint64_t)s->nmaps[side] || r >= (uint64_t)s->nparts) {
                    rc = EMBER_EIO;
                    break;
                }
                ember_buf *b = &s->buckets[side][m * (uint64_t)s->nparts + r];
                if (ember_buf_append(b, p, (size_t)len))
                    rc = EMBER_ENOMEM;
                received += (size_t)len;
                p += len;
            }
        }
        if (!rc && received + (size_t)atomic_load(&s->kept) > ctx->memory_budget / 2) {
            s->spilled = true; /* the reduce side merges runs from now on */
            if ((rc = buckets_to_runs(n)))
                told = true; /* its message is on the context; this rank keeps taking
                                part in the rounds until every rank is done */
            received = 0;
        }
        if (!send)
            break;
    }
    for (int i = 0; send && i < 2 * ranks; i++)
        ember_buf_destroy(&send[i]);
    ember__free(send);
    ember__free(cur);
    ember_buf_destroy(&one);
    if (rc && told)
        return rc;
    if (rc)
        return ember__err(ctx, rc, "%s: exchanging the shuffle between ranks: %s", n->op,
                          rc == EMBER_EIO ? "a message does not decode" : ember_strerror(rc));
    return 0;
}

static int shuffle_stage(ember_rdd *n, const char *action)
{
    (void)action;
    shuffle_src *s = n->u.state;
    if (s->mode == MODE_SORT && !s->hashed && !s->bound) {
        int rc = find_bounds(n);
        if (rc)
            return rc;
    }
    /* the runs' order: the sort's, or key bytes where keys are grouped */
    s->ord = s->mode == MODE_SORT ? (ember__order){s->cmp, s->cmp_arg, s->ascending ? 1 : -1}
                                  : (ember__order){NULL, NULL, 1};
    s->order = s->mode == MODE_MOVE || s->mode == MODE_SPREAD ? NULL : &s->ord;
    const ember__sink_ops *sink =
        s->mode == MODE_REDUCE || s->mode == MODE_DISTINCT ? &combine_sink : &map_sink;
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
        if (n->ctx->ranks > 1 && (rc = exchange(n, side))) {
            drop_output(s);
            return rc;
        }
    }
    if (s->spilled) {
        int rc = buckets_to_runs(n);
        if (rc) {
            drop_output(s);
            return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- reduce side */

/* group_by_key's reduce side: each key's values, encoded as records, in one
 * buffer per key (read them with ember_iter_init), the keys found by a table. */
static int feed_groups(ember_rdd *n, int part, ember_out *sink)
{
    const shuffle_src *s = n->u.state;
    ember__task *t = sink->task;
    ember__htab index; /* key -> group number */
    ember__htab_init(&index);
    ember_buf *groups = NULL;
    size_t ngroups = 0, cap = 0;
    int rc = 0;
    for (int m = 0; m < s->nmaps[0] && !rc; m++) {
        const ember_buf *b = bucket(s, 0, m, part);
        t->shuffle_read_bytes += (int64_t)b->len;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
        ember_rec r;
        while (!rc && ember__rec_next(&p, end, &r) == 1) {
            t->records_in++;
            t->shuffle_read_records++;
            int64_t *g = ember__htab_upsert(&index, r.key);
            if (g && *g == 0) { /* a new key: its group number, plus one */
                if (ngroups == cap) {
                    cap = cap ? cap * 2 : 64;
                    ember_buf *grown = ember__realloc(groups, cap * sizeof *grown);
                    if (!grown) {
                        g = NULL;
                    } else {
                        groups = grown;
                    }
                }
                if (g) {
                    groups[ngroups] = (ember_buf){0};
                    *g = (int64_t)++ngroups;
                }
            }
            ember_rec v;
            ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
            if (!g || ember__arena_put(&groups[*g - 1], v))
                rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory grouping", n->op);
        }
    }
    size_t pos = 0;
    ember_bytes key;
    int64_t g;
    while (!rc && ember__htab_next(&index, &pos, &key, &g)) {
        ember_rec out;
        const ember_buf *b = &groups[g - 1];
        ember__rec_set(&out, key.ptr, key.len, b->ptr ? b->ptr : (const unsigned char *)"", b->len);
        if ((rc = sink->push(sink, &out)) || ember__halted(t))
            rc = rc ? rc : ember__halt_code(t);
    }
    for (size_t i = 0; i < ngroups; i++)
        ember_buf_destroy(&groups[i]);
    ember__free(groups);
    ember__htab_destroy(&index);
    return rc;
}

/* sort_by_key's reduce side: the partition's records, sorted by key. */
static int feed_sorted(ember_rdd *n, int part, ember_out *sink)
{
    const shuffle_src *s = n->u.state;
    ember__task *t = sink->task;
    size_t count = 0, cap = 0;
    ember_rec *recs = NULL;
    int rc = 0;
    for (int m = 0; m < s->nmaps[0] && !rc; m++) {
        const ember_buf *b = bucket(s, 0, m, part);
        t->shuffle_read_bytes += (int64_t)b->len;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
        ember_rec r;
        while (!rc && ember__rec_next(&p, end, &r) == 1) {
            t->records_in++;
            t->shuffle_read_records++;
            if (count == cap) {
                cap = cap ? cap * 2 : 256;
                ember_rec *grown = ember__realloc(recs, cap * sizeof *grown);
                if (!grown) {
                    rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory sorting", n->op);
                    break;
                }
                recs = grown;
            }
            recs[count++] = r; /* the buckets stay: pointers into them hold */
        }
    }
    if (!rc && count) {
        order o = {s->cmp, s->cmp_arg, s->ascending ? 1 : -1};
        qsort_r(recs, count, sizeof *recs, cmp_by_key, &o);
    }
    for (size_t i = 0; i < count && !rc; i++)
        if ((rc = sink->push(sink, &recs[i])) || ember__halted(t))
            rc = rc ? rc : ember__halt_code(t);
    ember__free(recs);
    return rc;
}

typedef struct sides {
    ember_buf v[2]; /* each side's values, encoded as records */
} sides;

static int put_side(ember_buf *out, bool present, ember_bytes v)
{
    unsigned char hdr[11];
    hdr[0] = present;
    size_t hn = (size_t)(ember__varint_put(hdr + 1, present ? v.len : 0) - hdr);
    int rc = ember_buf_append(out, hdr, hn);
    return rc || !present || !v.len ? rc : ember_buf_append(out, v.ptr, v.len);
}

/* One join record per combination of the key's values (Spark's join keeps every
 * pair of duplicate keys); an unmatched side gives records for outer joins. */
static int emit_joined(const shuffle_src *s, ember_bytes key, const sides *g, ember_buf *tmp,
                       ember_out *sink)
{
    bool has[2] = {g->v[0].len > 0, g->v[1].len > 0};
    if ((!has[0] && !(s->keep & KEEP_RIGHT)) || (!has[1] && !(s->keep & KEEP_LEFT)))
        return 0;
    ember__task *t = sink->task;
    ember_iter a, b;
    ember_rec ra, rb;
    ember_iter_init(&a, ember_buf_bytes(&g->v[0]));
    bool more_a = has[0] ? ember_iter_next(&a, &ra) == 1 : true;
    for (; more_a; more_a = has[0] && ember_iter_next(&a, &ra) == 1) {
        ember_iter_init(&b, ember_buf_bytes(&g->v[1]));
        bool more_b = has[1] ? ember_iter_next(&b, &rb) == 1 : true;
        for (; more_b; more_b = has[1] && ember_iter_next(&b, &rb) == 1) {
            tmp->len = 0;
            if (put_side(tmp, has[0], has[0] ? ra.val : ember_bytes_of(NULL, 0)) ||
                put_side(tmp, has[1], has[1] ? rb.val : ember_bytes_of(NULL, 0)))
                return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", s->op);
            ember_rec out;
            ember__rec_set(&out, key.ptr, key.len, tmp->ptr, tmp->len);
            int rc = sink->push(sink, &out);
            if (rc || ember__halted(t))
                return rc ? rc : ember__halt_code(t);
        }
    }
    return 0;
}

/* subtract_by_key, subtract, intersection: what a key's two groups give. */
static int emit_set_op(const shuffle_src *s, ember_bytes key, const sides *g, ember_out *sink)
{
    ember__task *t = sink->task;
    bool left = g->v[0].len > 0, right = g->v[1].len > 0;
    bool give = s->mode == MODE_INTERSECTION ? left && right : left && !right;
    if (!give)
        return 0;
    ember_iter it;
    ember_rec v, out;
    ember_iter_init(&it, ember_buf_bytes(&g->v[0]));
    while (ember_iter_next(&it, &v) == 1) {
        if (s->mode == MODE_SUBTRACT_BY_KEY) {
            ember__rec_set(&out, key.ptr, key.len, v.val.ptr, v.val.len);
        } else { /* the key is the whole record, encoded */
            const unsigned char *p = key.ptr;
            if (ember__rec_next(&p, p + key.len, &out) != 1)
                return ember__task_fail(t, EMBER_EIO, "%s: a damaged record", s->op);
        }
        int rc = sink->push(sink, &out);
        if (rc || ember__halted(t))
            return rc ? rc : ember__halt_code(t);
        if (s->mode == MODE_INTERSECTION)
            break; /* once */
    }
    return 0;
}

/* What one key's two groups give: cogroup's record, the joins', the set ops'. */
static int emit_two_sided(const shuffle_src *s, ember_bytes key, const sides *grp, ember_buf *tmp,
                          ember_out *sink)
{
    if (s->mode == MODE_JOIN)
        return emit_joined(s, key, grp, tmp, sink);
    if (s->mode != MODE_COGROUP)
        return emit_set_op(s, key, grp, sink);
    /* cogroup: varint(left length), the left values, the right values */
    ember__task *t = sink->task;
    unsigned char hdr[10];
    size_t hn = (size_t)(ember__varint_put(hdr, grp->v[0].len) - hdr);
    tmp->len = 0;
    if (ember_buf_append(tmp, hdr, hn) ||
        ember_buf_append(tmp, grp->v[0].ptr ? grp->v[0].ptr : (const unsigned char *)"",
                         grp->v[0].len) ||
        ember_buf_append(tmp, grp->v[1].ptr ? grp->v[1].ptr : (const unsigned char *)"",
                         grp->v[1].len))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", s->op);
    ember_rec out;
    ember__rec_set(&out, key.ptr, key.len, tmp->ptr, tmp->len);
    int rc = sink->push(sink, &out);
    return rc ? rc : ember__halted(t) ? ember__halt_code(t) : 0;
}

/* cogroup and the joins: each key's values from both sides, then the records. */
static int feed_two_sided(ember_rdd *n, int part, ember_out *sink)
{
    const shuffle_src *s = n->u.state;
    ember__task *t = sink->task;
    ember__htab index; /* key -> group number + 1 */
    ember__htab_init(&index);
    sides *groups = NULL;
    size_t ngroups = 0, cap = 0;
    ember_buf tmp = {0};
    int rc = 0;
    for (int side = 0; side < 2 && !rc; side++) {
        for (int m = 0; m < s->nmaps[side] && !rc; m++) {
            const ember_buf *b = bucket(s, side, m, part);
            t->shuffle_read_bytes += (int64_t)b->len;
            const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
            ember_rec r;
            while (!rc && ember__rec_next(&p, end, &r) == 1) {
                t->records_in++;
                t->shuffle_read_records++;
                int64_t *g = ember__htab_upsert(&index, r.key);
                if (g && *g == 0) {
                    if (ngroups == cap) {
                        cap = cap ? cap * 2 : 64;
                        sides *grown = ember__realloc(groups, cap * sizeof *grown);
                        g = grown ? g : NULL;
                        groups = grown ? grown : groups;
                    }
                    if (g) {
                        groups[ngroups] = (sides){0};
                        *g = (int64_t)++ngroups;
                    }
                }
                ember_rec v;
                ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
                if (!g || ember__arena_put(&groups[*g - 1].v[side], v))
                    rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory grouping", n->op);
            }
        }
    }
    size_t pos = 0;
    ember_bytes key;
    int64_t g;
    while (!rc && ember__htab_next(&index, &pos, &key, &g))
        rc = emit_two_sided(s, key, &groups[g - 1], &tmp, sink);
    for (size_t i = 0; i < ngroups; i++) {
        ember_buf_destroy(&groups[i].v[0]);
        ember_buf_destroy(&groups[i].v[1]);
    }
    ember__free(groups);
    ember_buf_destroy(&tmp);
    ember__htab_destroy(&index);
    return rc;
}

/* ---------------------------------------------------------------- reduce side, from runs */

static inline bool same_key(ember_bytes a, const ember_buf *b)
{
    return a.len == b->len && (!a.len || !memcmp(a.ptr, b->ptr, a.len));
}

/* Hand rec on; the task's stop or failure as a code. */
static inline int push_on(ember_out *sink, const ember_rec *rec)
{
    ember__task *t = sink->task;
    int rc = sink->push(sink, rec);
    return rc ? rc : ember__halted(t) ? ember__halt_code(t) : 0;
}

/* A group handed on as a stream: the values already gathered, then the merge's
 * while the key holds. */
typedef struct group_stream {
    ember__stream base;
    ember__merge *mg;
    const ember_buf *key;
    ember_iter gathered;
    bool in_gathered;
    int err;
    ember__task *t;
} group_stream;

static int group_stream_next(ember__stream *b, ember_rec *rec)
{
    group_stream *g = (group_stream *)b;
    if (g->in_gathered) {
        int rc = ember_iter_next(&g->gathered, rec);
        if (rc)
            return rc;
        g->in_gathered = false;
    }
    const ember_rec *p;
    int rc = ember__merge_peek(g->mg, &p, NULL);
    if (rc <= 0 || !same_key(p->key, g->key))
        return rc < 0 ? (g->err = rc) : 0;
    ember_rec r;
    ember__merge_next(g->mg, &r, NULL);
    g->t->records_in++;
    g->t->shuffle_read_records++;
    ember__rec_set(rec, NULL, 0, r.val.ptr, r.val.len);
    return 1;
}

/* The reduce side once the map side spilled: partition part's segment of every
 * run, merged in key order (or read one after the other where no order is
 * needed), so that a key's records come together and only one key's values
 * are held. */
static int feed_merged(ember_rdd *n, int part, ember_out *sink)
{
    const shuffle_src *s = n->u.state;
    ember__task *t = sink->task;
    int nsides = n->parent2 ? 2 : 1, k = 0, total = 0;
    for (int side = 0; side < nsides; side++)
        for (int m = 0; m < s->nmaps[side]; m++)
            total += s->files[side][m].nruns;
    ember__run_reader *rd = ember__calloc((size_t)total + 1, sizeof *rd);
    unsigned char *side_of = ember__calloc((size_t)total + 1, 1);
    ember_buf key = {0}, acc = {0}, res = {0}, tmp = {0};
    sides grp = {0};
    ember__merge mg = {0};
    int rc = rd && side_of ? 0 : ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", n->op);
    for (int side = 0; side < nsides && !rc; side++) {
        for (int m = 0; m < s->nmaps[side]; m++) {
            const ember__spill_file *f = &s->files[side][m];
            for (int j = 0; j < f->nruns; j++) {
                const uint64_t *row = f->offs + (size_t)j * (size_t)(s->nparts + 1);
                if (row[part + 1] == row[part])
                    continue;
                side_of[k] = (unsigned char)side;
                ember__reader_open(&rd[k++], f->fd, row[part], row[part + 1]);
            }
        }
    }
    if (!rc && (rc = ember__merge_start(&mg, rd, k, s->order)))
        goto damaged;
    /* a group bigger than this goes on as a stream, where the next step reads it at once */
    size_t stream_at = task_share(n->ctx);
    bool streamable = s->mode == MODE_GROUP && ember__reads_now(sink);
    ember_rec r;
    int run = 0, got = 0;
    while (!rc && (got = ember__merge_next(&mg, &r, &run)) == 1) {
        t->records_in++;
        t->shuffle_read_records++;
        if (s->mode == MODE_MOVE || s->mode == MODE_SPREAD || s->mode == MODE_SORT) {
            rc = push_on(sink, &r);
            continue;
        }
        /* the records of one key, together */
        if (ember_buf_set(&key, r.key.ptr ? r.key.ptr : "", r.key.len)) {
            rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", n->op);
            break;
        }
        bool streaming = false;
        acc.len = grp.v[0].len = grp.v[1].len = 0;
        ember_rec v;
        ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
        if (s->mode == MODE_REDUCE || s->mode == MODE_DISTINCT)
            rc = ember_buf_set(&acc, r.val.ptr ? r.val.ptr : "", r.val.len);
        else
            rc = ember__arena_put(&grp.v[side_of[run]], v);
        const ember_rec *p;
        while (!rc && (got = ember__merge_peek(&mg, &p, &run)) == 1 && same_key(p->key, &key)) {
            if (streamable && grp.v[0].len >= stream_at) {
                streaming = true;
                break;
            }
            ember__merge_next(&mg, &r, &run);
            t->records_in++;
            t->shuffle_read_records++;
            if (s->mode == MODE_DISTINCT)
                continue;
            if (s->mode == MODE_REDUCE) {
                res.len = 0;
                if ((rc = s->merge(ember_buf_bytes(&acc), r.val, &res, s->arg))) {
                    rc = combine_failed(t, n->op, rc);
                    break;
                }
                ember_buf sw = acc;
                acc = res;
                res = sw;
                continue;
            }
            ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
            rc = ember__arena_put(&grp.v[side_of[run]], v);
        }
        if (rc == EMBER_ENOMEM)
            rc = ember__task_fail(t, rc, "%s: out of memory grouping", n->op);
        if (rc)
            break;
        if (got < 0) {
            rc = got;
            goto damaged;
        }
        ember_rec out;
        if (s->mode == MODE_REDUCE) {
            ember__rec_set(&out, key.ptr, key.len, acc.ptr, acc.len);
            rc = push_on(sink, &out);
        } else if (s->mode == MODE_DISTINCT) { /* back from the encoded record */
            const unsigned char *q = key.ptr;
            rc = ember__rec_next(&q, q + key.len, &out) == 1
                     ? push_on(sink, &out)
                     : ember__task_fail(t, EMBER_EIO, "%s: a damaged record", n->op);
        } else if (s->mode == MODE_GROUP && !streaming) {
            ember__rec_set(&out, key.ptr, key.len,
                           grp.v[0].ptr ? grp.v[0].ptr : (const unsigned char *)"", grp.v[0].len);
            rc = push_on(sink, &out);
        } else if (s->mode == MODE_GROUP) { /* too big to hold: read through the merge */
            group_stream gs = {.base.next = group_stream_next,
                               .mg = &mg,
                               .key = &key,
                               .in_gathered = true,
                               .t = t};
            memset(gs.base.mark, 0xff, sizeof gs.base.mark); /* not a valid encoding */
            ember_iter_init(&gs.gathered, ember_buf_bytes(&grp.v[0]));
            ember__rec_set(&out, key.ptr, key.len, gs.base.mark, sizeof gs.base.mark);
            ember__stream *was = ember__cur_stream;
            ember__cur_stream = &gs.base;
            rc = push_on(sink, &out);
            ember__cur_stream = was;
            /* what the step did not read is passed over */
            while (!rc && !gs.err && (got = ember__merge_peek(&mg, &p, NULL)) == 1 &&
                   same_key(p->key, &key)) {
                ember__merge_next(&mg, &r, NULL);
                t->records_in++;
                t->shuffle_read_records++;
            }
            if (!rc && (gs.err || got < 0)) {
                rc = gs.err ? gs.err : got;
                goto damaged;
            }
        } else {
            rc = emit_two_sided(s, ember_buf_bytes(&key), &grp, &tmp, sink);
        }
    }
    if (!rc && got < 0) {
        rc = got;
        goto damaged;
    }
    goto out;
damaged:
    rc = rc == EMBER_ENOMEM
             ? ember__task_fail(t, rc, "%s: out of memory merging the spilled shuffle", n->op)
             : ember__task_fail(t, EMBER_EIO,
                                "%s: reading partition %d of the spilled shuffle: a run is "
                                "damaged or unreadable",
                                n->op, part);
out:
    for (int i = 0; i < k; i++) {
        t->shuffle_read_bytes += rd[i].bytes;
        ember__reader_close(&rd[i]);
    }
    ember__merge_end(&mg);
    ember__free(rd);
    ember__free(side_of);
    ember_buf_destroy(&key);
    ember_buf_destroy(&acc);
    ember_buf_destroy(&res);
    ember_buf_destroy(&tmp);
    ember_buf_destroy(&grp.v[0]);
    ember_buf_destroy(&grp.v[1]);
    return rc;
}

static int shuffle_feed(ember_rdd *n, int part, ember_out *sink)
{
    const shuffle_src *s = n->u.state;
    if (s->spilled)
        return feed_merged(n, part, sink);
    if (s->mode == MODE_GROUP)
        return feed_groups(n, part, sink);
    if (s->mode == MODE_SORT)
        return feed_sorted(n, part, sink);
    if (s->mode == MODE_COGROUP || s->mode == MODE_JOIN || s->mode == MODE_SUBTRACT_BY_KEY ||
        s->mode == MODE_SUBTRACT || s->mode == MODE_INTERSECTION)
        return feed_two_sided(n, part, sink);
    ember__task *t = sink->task;
    ember__kv kv;
    ember__kv_init(&kv);
    int rc = 0;
    for (int m = 0; m < s->nmaps[0] && !rc; m++) {
        const ember_buf *b = bucket(s, 0, m, part);
        t->shuffle_read_bytes += (int64_t)b->len;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
        ember_rec r;
        while (!rc && ember__rec_next(&p, end, &r) == 1) {
            t->records_in++;
            t->shuffle_read_records++;
            if (s->mode == MODE_REDUCE || s->mode == MODE_DISTINCT) {
                if ((rc = ember__kv_combine(&kv, r.key, r.val,
                                            s->mode == MODE_DISTINCT ? keep_first : s->merge,
                                            s->arg)))
                    rc = combine_failed(t, n->op, rc);
            } else if ((rc = sink->push(sink, &r)) || ember__halted(t)) {
                rc = rc ? rc : ember__halt_code(t);
            }
        }
    }
    if (!rc && (s->mode == MODE_REDUCE || s->mode == MODE_DISTINCT)) { /* combine done */
        size_t pos = 0;
        ember_rec r;
        while (!rc && ember__kv_next(&kv, &pos, &r)) {
            if (s->mode == MODE_DISTINCT) { /* back from the encoded record */
                const unsigned char *p = r.key.ptr;
                if (ember__rec_next(&p, p + r.key.len, &r) != 1) {
                    rc = ember__task_fail(t, EMBER_EIO, "%s: a damaged record", n->op);
                    break;
                }
            }
            if ((rc = sink->push(sink, &r)) || ember__halted(t))
                rc = rc ? rc : ember__halt_code(t);
        }
    }
    ember__kv_destroy(&kv);
    return rc;
}

/* ---------------------------------------------------------------- building */

static void shuffle_node_free(ember_rdd *n)
{
    shuffle_free(n->u.state);
}

static const ember__node_type shuffle_type = {.name = "shuffle",
                                              .flags = EMBER__NT_WIDE,
                                              .compute = shuffle_feed,
                                              .prepare = shuffle_stage,
                                              .free = shuffle_node_free};

/* A shuffle node over a (and b, two-sided) in mode, hash partitioned into parts;
 * *src its state, zeroed but for op, mode and nparts. */
static ember_rdd *shuffle_node(ember_rdd *a, ember_rdd *b, const char *op, int parts, int mode,
                               shuffle_src **src)
{
    ember_rdd *r = ember__rdd_new(a->ctx, &shuffle_type, op, parts, a, b);
    if (ember__rdd_failed(r))
        return r;
    shuffle_src *s = ember__calloc(1, sizeof *s);
    if (!s) {
        ember_free(r);
        return ember__rdd_error(a->ctx, EMBER_ENOMEM, "%s: out of memory", op);
    }
    *s = (shuffle_src){.op = op, .mode = mode, .nparts = parts};
    r->u.state = s;
    r->hash_parts = parts;
    *src = s;
    return r;
}

ember_rdd *ember__shuffle_new(ember_rdd *parent, const char *op, int parts, ember_reduce_fn *fn,
                              void *arg)
{
    shuffle_src *s = NULL;
    int mode = fn                            ? MODE_REDUCE
               : !strcmp(op, "repartition")  ? MODE_SPREAD
               : !strcmp(op, "group_by_key") ? MODE_GROUP
               : !strcmp(op, "distinct")     ? MODE_DISTINCT
                                             : MODE_MOVE;
    ember_rdd *r = shuffle_node(parent, NULL, op, parts, mode, &s);
    if (ember__rdd_failed(r))
        return r;
    s->fn = fn;
    s->merge = fn; /* reduce_by_key: the same function on both sides */
    s->arg = arg;
    return r;
}

/* ---------------------------------------------------------------- public */

/* The common start of a one-parent shuffle: a usable parent and parts >= 0 (0:
 * the parent's count, set in *parts); otherwise false and *ret to return. */
static bool shuffle_args(ember_rdd *rdd, const char *op, int *parts, ember_rdd **ret)
{
    if (!ember__parent_usable(rdd, op, ret))
        return false;
    if (*parts < 0) {
        *ret = ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: partitions must be > 0 (got %d)", op,
                                *parts);
        return false;
    }
    if (!*parts)
        *parts = rdd->nparts;
    return true;
}

ember_rdd *ember_partition_by(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "partition_by", &parts, &ret))
        return ret;
    if (rdd->hash_parts == parts) /* already partitioned so: no shuffle, as Spark */
        return rdd;
    return ember__shuffle_new(rdd, "partition_by", parts, NULL, NULL);
}

ember_rdd *ember_reduce_by_key(ember_rdd *rdd, ember_reduce_fn *fn, void *arg, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "reduce_by_key", &parts, &ret))
        return ret;
    if (!fn)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "reduce_by_key: the function is NULL");
    return ember__shuffle_new(rdd, "reduce_by_key", parts, fn, arg);
}

ember_rdd *ember_group_by_key(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "group_by_key", &parts, &ret))
        return ret;
    return ember__shuffle_new(rdd, "group_by_key", parts, NULL, NULL);
}

ember_rdd *ember_distinct(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "distinct", &parts, &ret))
        return ret;
    ember_rdd *r = ember__shuffle_new(rdd, "distinct", parts, NULL, NULL);
    if (!ember__rdd_failed(r))
        r->hash_parts = 0; /* partitioned by whole records, not by key */
    return r;
}

/* ---------------------------------------------------------------- two sides */

static ember_rdd *two_sided(ember_rdd *a, ember_rdd *b, const char *op, int parts, int mode,
                            int keep)
{
    ember_rdd *ret;
    if (!ember__parents_usable(a, b, op, &ret))
        return ret;
    if (parts < 0)
        return ember__rdd_error(a->ctx, EMBER_EINVAL, "%s: partitions must be > 0 (got %d)", op,
                                parts);
    if (parts == 0) /* Spark's default: the larger parent's count; a's for the subtracts */
        parts = mode == MODE_SUBTRACT || mode == MODE_SUBTRACT_BY_KEY || a->nparts > b->nparts
                    ? a->nparts
                    : b->nparts;
    shuffle_src *s = NULL;
    ember_rdd *r = shuffle_node(a, b, op, parts, mode, &s);
    if (!ember__rdd_failed(r))
        s->keep = keep;
    return r;
}

ember_rdd *ember_cogroup(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "cogroup", parts, MODE_COGROUP, 0);
}

ember_rdd *ember_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "join", parts, MODE_JOIN, 0);
}

ember_rdd *ember_left_outer_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "left_outer_join", parts, MODE_JOIN, KEEP_LEFT);
}

ember_rdd *ember_right_outer_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "right_outer_join", parts, MODE_JOIN, KEEP_RIGHT);
}

ember_rdd *ember_full_outer_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "full_outer_join", parts, MODE_JOIN, KEEP_LEFT | KEEP_RIGHT);
}

static const unsigned char *get_side(const unsigned char *p, const unsigned char *end,
                                     ember_bytes *v, bool *has)
{
    uint64_t len;
    if (p >= end || *p > 1)
        return NULL;
    *has = *p == 1;
    if (!(p = ember__varint_get(p + 1, end, &len)) || (uint64_t)(end - p) < len)
        return NULL;
    *v = ember_bytes_of(p, (size_t)len);
    return p + len;
}

int ember_join_sides(ember_bytes value, ember_bytes *left, ember_bytes *right)
{
    const unsigned char *p = value.ptr, *end = p ? p + value.len : NULL;
    ember_bytes l = {0}, r = {0};
    bool hl = false, hr = false;
    if (!p || !left || !right)
        return EMBER_EINVAL;
    const unsigned char *q = get_side(p, end, &l, &hl);
    if (!q || !get_side(q, end, &r, &hr))
        return EMBER_EIO;
    *left = hl ? l : ember_bytes_of(NULL, 0);
    *right = hr ? r : ember_bytes_of(NULL, 0);
    return (hl ? 1 : 0) | (hr ? 2 : 0);
}

int ember_cogroup_sides(ember_bytes value, ember_bytes *left, ember_bytes *right)
{
    const unsigned char *p = value.ptr, *end = p ? p + value.len : NULL;
    uint64_t len;
    if (!p || !left || !right)
        return EMBER_EINVAL;
    if (!(p = ember__varint_get(p, end, &len)) || (uint64_t)(end - p) < len)
        return EMBER_EIO;
    *left = ember_bytes_of(p, (size_t)len);
    *right = ember_bytes_of(p + len, (size_t)(end - p - (ptrdiff_t)len));
    return 0;
}

/* The by-key combines: Spark's combineByKey and the two built on it. */
static ember_rdd *combine_by(ember_rdd *rdd, const char *op, ember_create_fn *create,
                             const ember_bytes *zero, ember_reduce_fn *merge_value,
                             ember_reduce_fn *merge_combiners, void *arg, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, op, &parts, &ret))
        return ret;
    if (!merge_value || !merge_combiners || (zero && zero->len && !zero->ptr))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: a function or the zero is NULL", op);
    ember_rdd *r = ember__shuffle_new(rdd, op, parts, merge_value, arg);
    if (ember__rdd_failed(r))
        return r;
    shuffle_src *s = r->u.state;
    s->merge = merge_combiners;
    s->create = create;
    if (zero) {
        s->has_zero = true;
        if (ember_buf_set(&s->zero, zero->ptr ? zero->ptr : "", zero->len)) {
            ember_free(r);
            return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "%s: out of memory", op);
        }
    }
    return r;
}

ember_rdd *ember_combine_by_key(ember_rdd *rdd, ember_create_fn *create,
                                ember_reduce_fn *merge_value, ember_reduce_fn *merge_combiners,
                                void *arg, int parts)
{
    if (!create && rdd && ember__handle_ok(rdd, EMBER__H_RDD))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "combine_by_key: create is NULL");
    return combine_by(rdd, "combine_by_key", create, NULL, merge_value, merge_combiners, arg,
                      parts);
}

ember_rdd *ember_aggregate_by_key(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *seq,
                                  ember_reduce_fn *comb, void *arg, int parts)
{
    return combine_by(rdd, "aggregate_by_key", NULL, &zero, seq, comb, arg, parts);
}

ember_rdd *ember_fold_by_key(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *fn, void *arg,
                             int parts)
{
    return combine_by(rdd, "fold_by_key", NULL, &zero, fn, fn, arg, parts);
}

ember_rdd *ember_subtract_by_key(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "subtract_by_key", parts, MODE_SUBTRACT_BY_KEY, 0);
}

ember_rdd *ember_subtract(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "subtract", parts, MODE_SUBTRACT, 0);
}

ember_rdd *ember_intersection(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "intersection", parts, MODE_INTERSECTION, 0);
}

ember_rdd *ember_repartition(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    int asked = parts;
    if (!shuffle_args(rdd, "repartition", &parts, &ret))
        return ret;
    if (!asked) /* no default count here, as Spark */
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL,
                                "repartition: partitions must be > 0 (got 0)");
    ember_rdd *r = ember__shuffle_new(rdd, "repartition", parts, NULL, NULL);
    if (!ember__rdd_failed(r))
        r->hash_parts = 0; /* spread, not partitioned by key */
    return r;
}

ember_rdd *ember_group_by(ember_rdd *rdd, ember_map_fn *fn, void *arg, int parts)
{
    /* Spark's groupBy: key_by then group_by_key; the key_by node lives while the
     * grouped one does */
    ember_rdd *keyed = ember_key_by(rdd, fn, arg);
    if (!keyed)
        return NULL;
    ember_rdd *g = ember_group_by_key(keyed, parts);
    ember_free(keyed);
    return g;
}

/* ---------------------------------------------------------------- by-key actions */

/* Each task folds its records into a table (combine with fn; NULL: the last value
 * wins, as a map built in order); the driver merges the tables in partition
 * order. lookup_key: keep only that key's values, as records of one arena. */
typedef struct local_args {
    const char *op;
    ember_reduce_fn *fn;
    void *arg;
    const ember_bytes *lookup_key;
} local_args;

typedef struct local_state {
    ember__kv kv;
    ember_buf found; /* lookup: the values, encoded */
} local_state;

static int last_wins(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    (void)a;
    (void)arg;
    return ember_buf_set(res, b.ptr ? b.ptr : "", b.len);
}

static int local_push(ember_out *self, const ember_rec *rec)
{
    local_state *st = self->state;
    ember__task *t = self->task;
    const local_args *a = t->job->arg;
    if (!rec->key.ptr)
        return ember__task_fail(t, EMBER_EINVAL,
                                "%s: a record has no key (an rdd of pairs is needed)", a->op);
    t->records_out++;
    if (a->lookup_key) {
        if (rec->key.len != a->lookup_key->len ||
            (rec->key.len && memcmp(rec->key.ptr, a->lookup_key->ptr, rec->key.len)))
            return 0;
        ember_rec v;
        ember__rec_set(&v, NULL, 0, rec->val.ptr, rec->val.len);
        return ember__arena_put(&st->found, v)
                   ? ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", a->op)
                   : 0;
    }
    int rc = ember__kv_combine(&st->kv, rec->key, rec->val, a->fn ? a->fn : last_wins, a->arg);
    return rc ? combine_failed(t, a->op, rc) : 0;
}

static int local_reset(void *state, const ember__job *job)
{
    (void)job;
    local_state *st = state;
    ember__kv_destroy(&st->kv);
    st->found.len = 0;
    return 0;
}

static void local_destroy(void *state)
{
    local_state *st = state;
    ember__kv_destroy(&st->kv);
    ember_buf_destroy(&st->found);
}

/* Distributed: the table's entries as records, then the found values. */
static int local_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const local_state *st = state;
    ember_buf recs = {0};
    size_t pos = 0;
    ember_rec r;
    int rc = 0;
    while (!rc && ember__kv_next(&st->kv, &pos, &r))
        rc = ember__arena_put(&recs, r);
    ember_rec two[2] = {{.val = ember_buf_bytes(&recs)}, {.val = ember_buf_bytes(&st->found)}};
    for (int i = 0; i < 2 && !rc; i++)
        rc = ember__arena_put(out, two[i]);
    ember_buf_destroy(&recs);
    return rc ? EMBER_ENOMEM : 0;
}

static int local_unpack(void *state, const ember__job *job, ember_bytes in)
{
    local_state *st = state;
    const local_args *a = job->arg;
    const unsigned char *p = in.ptr, *end = p ? p + in.len : p;
    ember_rec recs, found, r;
    if (ember__rec_next(&p, end, &recs) != 1 || ember__rec_next(&p, end, &found) != 1)
        return EMBER_EIO;
    p = recs.val.ptr;
    end = p + recs.val.len;
    int rc = 0, more;
    while (!rc && (more = ember__rec_next(&p, end, &r)) == 1)
        rc = ember__kv_combine(&st->kv, r.key, r.val, a->fn ? a->fn : last_wins, a->arg);
    if (!rc)
        rc = ember_buf_set(&st->found, found.val.ptr, found.val.len);
    return rc == EMBER_ENOMEM ? rc : rc ? EMBER_EIO : 0;
}

static const ember__sink_ops local_sink = {.state_size = sizeof(local_state),
                                           .push = local_push,
                                           .reset = local_reset,
                                           .destroy = local_destroy,
                                           .pack = local_pack,
                                           .unpack = local_unpack};

static int cmp_rec_keys(const void *x, const void *y)
{
    return ember_cmp_bytes(((const ember_rec *)x)->key, ((const ember_rec *)y)->key, NULL);
}

static int by_key_locally_run(ember_rdd *rdd, const local_args *a, ember_result **out)
{
    int rc = 0;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: out is NULL", a->op);
    /* lookup on an rdd partitioned by key reads the key's partition only */
    int one = a->lookup_key && rdd->hash_parts == rdd->nparts && rdd->nparts > 0
                  ? ember__partition_of(*a->lookup_key, rdd->nparts)
                  : -1;
    ember__job *job;
    if ((rc = ember__job_run(rdd, a->op, &local_sink, a, one >= 0 ? &one : NULL, one >= 0 ? 1 : 0,
                             &job)))
        return rc;
    ember__kv all;
    ember__kv_init(&all);
    ember_buf found = {0};
    ember_rec *recs = NULL;
    for (int i = 0; i < job->ntasks && !rc; i++) {
        local_state *st = ember__job_state(job, i);
        if (a->lookup_key) {
            rc = ember_buf_append(&found, st->found.ptr ? st->found.ptr : (const unsigned char *)"",
                                  st->found.len);
            continue;
        }
        size_t pos = 0;
        ember_rec r;
        while (!rc && ember__kv_next(&st->kv, &pos, &r))
            rc = ember__kv_combine(&all, r.key, r.val, a->fn ? a->fn : last_wins, a->arg);
    }
    if (rc) {
        rc = rc == EMBER_ENOMEM ? ember__err(rdd->ctx, rc, "%s: out of memory", a->op)
             : rc == EMBER__KV_TOO_BIG
                 ? ember__err(rdd->ctx, EMBER_EINVAL,
                              "%s: a key or combined value of 4 GB or more cannot be combined",
                              a->op)
                 : ember__err(rdd->ctx, rc, "%s: the function returned %d", a->op, rc);
    } else if (a->lookup_key) { /* the values, as one-value records */
        size_t n = 0, cap = 16;
        recs = ember__malloc(cap * sizeof *recs);
        ember_iter it;
        ember_rec v;
        ember_iter_init(&it, ember_buf_bytes(&found));
        while (recs && ember_iter_next(&it, &v) == 1) {
            if (n == cap) {
                ember_rec *grown = ember__realloc(recs, (cap *= 2) * sizeof *recs);
                if (!grown) {
                    ember__free(recs);
                    recs = NULL;
                    break;
                }
                recs = grown;
            }
            recs[n++] = v;
        }
        rc = recs ? ember__result_copy(recs, n, out) : EMBER_ENOMEM;
    } else { /* (key, value) ordered by key */
        recs = ember__malloc((all.len ? all.len : 1) * sizeof *recs);
        size_t pos = 0, n = 0;
        ember_rec r;
        while (recs && ember__kv_next(&all, &pos, &r))
            recs[n++] = r;
        if (recs)
            qsort(recs, n, sizeof *recs, cmp_rec_keys);
        rc = recs ? ember__result_copy(recs, n, out) : EMBER_ENOMEM;
    }
    if (rc == EMBER_ENOMEM)
        ember__err(rdd->ctx, rc, "%s: out of memory", a->op);
    ember__free(recs);
    ember_buf_destroy(&found);
    ember__kv_destroy(&all);
    return ember__job_end(job, rc);
}

static int by_key_locally(ember_rdd *rdd, const local_args *a, ember_result **out)
{
    int rc = ember__action_begin(rdd, a->op);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, by_key_locally_run(rdd, a, out));
}

int ember_lookup(ember_rdd *rdd, ember_bytes key, ember_result **out)
{
    if (!key.ptr && key.len)
        return ember__err(NULL, EMBER_EINVAL, "lookup: key is NULL");
    if (!key.ptr)
        key.ptr = "";
    local_args a = {.op = "lookup", .lookup_key = &key};
    return by_key_locally(rdd, &a, out);
}

int ember_collect_as_map(ember_rdd *rdd, ember_result **out)
{
    local_args a = {.op = "collect_as_map"};
    return by_key_locally(rdd, &a, out);
}

int ember_reduce_by_key_locally(ember_rdd *rdd, ember_reduce_fn *fn, void *arg, ember_result **out)
{
    if (!fn)
        return ember__err(rdd && ember__handle_ok(rdd, EMBER__H_RDD) ? rdd->ctx : NULL,
                          EMBER_EINVAL, "reduce_by_key_locally: the function is NULL");
    local_args a = {.op = "reduce_by_key_locally", .fn = fn, .arg = arg};
    return by_key_locally(rdd, &a, out);
}

/* sort_by_key (range partitioned) and repartition_and_sort_within_partitions
 * (hash partitioned): each output partition sorts its records by key. */
static ember_rdd *sorted_shuffle(ember_rdd *rdd, const char *op, int parts, bool hashed,
                                 bool ascending, ember_cmp_fn *cmp, void *arg)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, op, &parts, &ret))
        return ret;
    ember_rdd *r = ember__shuffle_new(rdd, op, parts, NULL, NULL);
    if (ember__rdd_failed(r))
        return r;
    shuffle_src *s = r->u.state;
    s->mode = MODE_SORT;
    s->hashed = hashed;
    s->cmp = cmp ? cmp : ember_cmp_bytes;
    s->cmp_arg = arg;
    s->ascending = ascending;
    /* hashed: partitioned by key as partition_by does; else by range */
    r->hash_parts = hashed ? parts : 0;
    return r;
}

ember_rdd *ember_sort_by_key(ember_rdd *rdd, bool ascending, ember_cmp_fn *cmp, void *arg,
                             int parts)
{
    return sorted_shuffle(rdd, "sort_by_key", parts, false, ascending, cmp, arg);
}

ember_rdd *ember_repartition_and_sort_within_partitions(ember_rdd *rdd, int parts, bool ascending,
                                                        ember_cmp_fn *cmp, void *arg)
{
    return sorted_shuffle(rdd, "repartition_and_sort_within_partitions", parts, true, ascending,
                          cmp, arg);
}

ember_rdd *ember_sort_by(ember_rdd *rdd, ember_map_fn *key_fn, void *key_arg, bool ascending,
                         ember_cmp_fn *cmp, void *cmp_arg, int parts)
{
    /* Spark's sortBy: key_by, sort_by_key, values; the inner nodes live while the
     * result does */
    ember_rdd *keyed = ember_key_by(rdd, key_fn, key_arg);
    if (!keyed)
        return NULL;
    ember_rdd *sorted = ember_sort_by_key(keyed, ascending, cmp, cmp_arg, parts);
    ember_free(keyed);
    if (!sorted)
        return NULL;
    ember_rdd *vals = ember_values(sorted);
    ember_free(sorted);
    return vals;
}
