/* The actions that gather by key on the driver: count_by_key and
 * count_by_value (a count table per task), lookup, collect_as_map and
 * reduce_by_key_locally (a combining table per task). The tables are merged
 * in partition order, so the results do not depend on thread timing.
 */
#include <stdlib.h>
#include <string.h>

#include "shuffle/node.h"

/* ---------------------------------------------------------------- count_by_value, count_by_key */

typedef struct cbv_state {
    ember__htab tab;
} cbv_state;

/* count_by_value counts values; count_by_key (job arg non-NULL) counts keys. */
static int cbv_push(ember_out *self, const ember_rec *rec)
{
    cbv_state *s = self->state;
    bool by_key = self->task->job->arg != NULL;
    if (by_key && !rec->key.ptr)
        return ember__task_fail(self->task, EMBER_EINVAL,
                                "count_by_key: a record has no key (an rdd of pairs is needed)");
    self->task->records_out++;
    int64_t *v = ember__htab_upsert(&s->tab, by_key ? rec->key : rec->val);
    if (!v)
        return ember__task_fail(self->task, EMBER_ENOMEM, "%s: out of memory",
                                by_key ? "count_by_key" : "count_by_value");
    (*v)++;
    return 0;
}

static int cbv_reset(void *state, const ember__job *job)
{
    (void)job;
    cbv_state *s = state;
    ember__htab_destroy(&s->tab);
    ember__htab_init(&s->tab);
    return 0;
}

static void cbv_destroy(void *state)
{
    ember__htab_destroy(&((cbv_state *)state)->tab);
}

static int cbv_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const cbv_state *s = state;
    size_t pos = 0;
    ember_bytes k;
    int64_t v;
    ember__wr w = ember__wr_to(out);
    ember__wr_u(&w, s->tab.len);
    while (ember__htab_next(&s->tab, &pos, &k, &v)) {
        ember__wr_bytes(&w, k.ptr, k.len);
        ember__wr_i(&w, v);
    }
    return w.err;
}

static int cbv_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    cbv_state *s = state;
    ember__rd r = ember__rd_of(in);
    uint64_t n = ember__rd_u(&r);
    for (uint64_t j = 0; !r.err && j < n; j++) {
        ember_bytes k = ember__rd_bytes(&r);
        int64_t v = ember__rd_i(&r);
        if (r.err)
            break;
        int64_t *slot = ember__htab_upsert(&s->tab, k);
        if (!slot)
            return EMBER_ENOMEM;
        *slot += v;
    }
    return r.err;
}

static const ember__sink_ops cbv_sink = {.state_size = sizeof(cbv_state),
                                         .push = cbv_push,
                                         .reset = cbv_reset,
                                         .destroy = cbv_destroy,
                                         .pack = cbv_pack,
                                         .unpack = cbv_unpack};

typedef struct order_by {
    ember_cmp_fn *cmp;
} order_by;

/* By key, in the order of the counted side's kind (numbers as numbers). */
static int rec_key_cmp(const void *x, const void *y, void *arg)
{
    const ember_rec *a = x, *b = y;
    return ((const order_by *)arg)->cmp(a->key, b->key, NULL);
}

static int count_by_body(ember_rdd *rdd, const char *op, bool by_key, ember_result **out)
{
    int rc = 0;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: out is NULL", op);
    int kind;
    if ((rc = ember__kind_for(rdd, by_key, op, &kind)))
        return rc;
    ember__job *job;
    if ((rc = ember__job_run(rdd, op, &cbv_sink, by_key ? "" : NULL, NULL, 0, &job)))
        return rc;
    ember__htab all;
    ember__htab_init(&all);
    ember_rec *recs = NULL;
    int64_t *counts = NULL;
    for (int i = 0; i < job->ntasks && !rc; i++) {
        cbv_state *s = ember__job_state(job, i);
        size_t pos = 0;
        ember_bytes k;
        int64_t c;
        while (!rc && ember__htab_next(&s->tab, &pos, &k, &c)) {
            int64_t *v = ember__htab_upsert(&all, k);
            if (!v)
                rc = EMBER_ENOMEM;
            else
                *v += c;
        }
    }
    if (!rc) {
        recs = ember__malloc((all.len ? all.len : 1) * sizeof *recs);
        counts = ember__malloc((all.len ? all.len : 1) * sizeof *counts);
        if (!recs || !counts)
            rc = EMBER_ENOMEM;
    }
    if (!rc) {
        size_t pos = 0, k = 0;
        ember_bytes key;
        while (ember__htab_next(&all, &pos, &key, &counts[k])) {
            recs[k] = (ember_rec){.key = key, .val = {&counts[k], sizeof *counts}};
            k++;
        }
        order_by o = {ember__cmp_of(kind)};
        qsort_r(recs, k, sizeof *recs, rec_key_cmp, &o);
        rc = ember__result_copy(recs, k, out);
    }
    if (rc)
        ember__gather_nomem(rdd->ctx, op);
    ember__free(recs);
    ember__free(counts);
    ember__htab_destroy(&all);
    return ember__job_end(job, rc);
}

static int count_by(ember_rdd *rdd, const char *op, bool by_key, ember_result **out)
{
    int rc = ember__action_begin(rdd, op);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, count_by_body(rdd, op, by_key, out));
}

int ember_count_by_value(ember_rdd *rdd, ember_result **out)
{
    return count_by(rdd, "count_by_value", false, out);
}

int ember_count_by_key(ember_rdd *rdd, ember_result **out)
{
    return count_by(rdd, "count_by_key", true, out);
}

/* ---------------------------------------------------------------- lookup, collect_as_map,
 * reduce_by_key_locally */

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
    return rc ? ember__combine_failed(t, a->op, rc) : 0;
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
    ember__wr w = ember__wr_to(out);
    ember__wr_bytes(&w, recs.ptr, recs.len);
    ember__wr_bytes(&w, st->found.ptr, st->found.len);
    ember_buf_destroy(&recs);
    return rc ? rc : w.err;
}

static int local_unpack(void *state, const ember__job *job, ember_bytes in)
{
    local_state *st = state;
    const local_args *a = job->arg;
    ember__rd rd = ember__rd_of(in);
    ember_bytes recs = ember__rd_bytes(&rd), found = ember__rd_bytes(&rd);
    if (rd.err)
        return rd.err;
    const unsigned char *p = recs.ptr, *end = p ? p + recs.len : p;
    ember_rec r;
    int rc = 0, more;
    while (!rc && (more = ember__rec_next(&p, end, &r)) == 1)
        rc = ember__kv_combine(&st->kv, r.key, r.val, a->fn ? a->fn : last_wins, a->arg);
    if (!rc)
        rc = ember_buf_set(&st->found, found.ptr, found.len);
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
    int one = -1;
    /* sort_by_key's ranges, read through what keeps keys in their partitions
     * (filter, map_values, flat_map_values, samples) */
    ember_rdd *top = rdd;
    while (top && !ember__shuffle_of(top) && (top->type->flags & EMBER__NT_KEEPS_PARTITIONER))
        top = top->parent;
    const ember__shuffle *sorted = top ? ember__shuffle_of(top) : NULL;
    if (a->lookup_key && sorted && sorted->ranged && top->prepared && top->nparts == rdd->nparts)
        one = ember__range_part(sorted, *a->lookup_key);
    else if (a->lookup_key && rdd->hash_parts == rdd->nparts && rdd->nparts > 0 && rdd->part_fn)
        one = rdd->part_fn(*a->lookup_key, rdd->nparts, rdd->part_arg);
    else if (a->lookup_key && rdd->hash_parts == rdd->nparts && rdd->nparts > 0)
        one = ember__partition_for(rdd->int_hash, *a->lookup_key, rdd->nparts);
    if (one >= rdd->nparts)
        one = -1; /* a partitioner out of range: every partition is read */
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
