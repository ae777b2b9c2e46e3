/* More of Spark's RDD, as nodes: zip, random_split, sample_by_key, pipe.
 *
 * zip pairs partition i of a with partition i of b, record by record (b's
 * partition gathered, a's streamed). random_split and sample_by_key draw one
 * uniform number a record from a generator seeded by (seed, partition), so
 * the splits of one call see the same draws and never overlap. pipe runs a
 * shell command a partition: the records go to its standard input, a line at
 * a time, and its output lines come back as records, all on the task's
 * thread (the two pipes polled together, so neither side can stall the
 * other).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched/sched.h"

extern char **environ;

static uint64_t seed_of(uint64_t seed, int part)
{
    uint64_t s = seed ^ (0xd1b54a32d192ed03ULL * ((uint64_t)part + 1));
    ember__splitmix(&s);
    return s;
}

/* A side of a record as one value: the value, or a pair's encoding. */
static ember_bytes whole(const ember_rec *r, ember_buf *scratch, int *rc)
{
    if (!r->key.ptr)
        return r->val;
    scratch->len = 0;
    *rc = ember__arena_put(scratch, *r);
    return ember_buf_bytes(scratch);
}

/* ---------------------------------------------------------------- zip */

typedef struct zip_stage {
    ember_out in;
    ember_iter b;
    ember_buf ka, kb;
    int64_t n;
} zip_stage;

static int zip_in(ember_out *self, const ember_rec *rec)
{
    zip_stage *z = (zip_stage *)self;
    ember_rec other, out;
    int more = ember_iter_next(&z->b, &other), rc = 0;
    if (more != 1)
        return ember__task_fail(self->task, more < 0 ? EMBER_EIO : EMBER_EINVAL,
                                "zip: partition %d holds more records in the first rdd than the "
                                "%lld of the second (zip needs the same number in each partition)",
                                self->task->partition, (long long)z->n);
    z->n++;
    ember_bytes k = whole(rec, &z->ka, &rc), v = whole(&other, &z->kb, &rc);
    if (rc)
        return ember__task_fail(self->task, rc, "zip: out of memory");
    ember__rec_set(&out, k.ptr ? k.ptr : (const void *)"", k.len, v.ptr, v.len);
    return self->next->push(self->next, &out);
}

static int zip_compute(ember_rdd *n, int part, ember_out *sink)
{
    ember_buf own = {0};
    const ember_buf *bytes = NULL;
    zip_stage z = {.in = {.push = zip_in, .next = sink, .task = sink->task, .node = n}};
    int rc = ember__partition_bytes(n, n->parent2, part, sink->task, &own, &bytes);
    if (!rc) {
        ember_iter_init(&z.b, ember_buf_bytes(bytes));
        rc = ember__compute(n->parent, part, &z.in);
        ember_rec extra;
        if (!rc && !sink->task->stop && ember_iter_next(&z.b, &extra) == 1)
            rc = ember__task_fail(sink->task, EMBER_EINVAL,
                                  "zip: partition %d holds %lld records in the first rdd and more "
                                  "in the second (zip needs the same number in each partition)",
                                  part, (long long)z.n);
    }
    ember_buf_destroy(&own);
    ember_buf_destroy(&z.ka);
    ember_buf_destroy(&z.kb);
    return rc;
}

static const ember__node_type zip_type = {"zip", 0, zip_compute, NULL, NULL};

ember_rdd *ember_zip(ember_rdd *a, ember_rdd *b)
{
    ember_rdd *ret;
    if (!ember__parents_usable(a, b, "zip", &ret))
        return ret;
    if (a->nparts != b->nparts)
        return ember__rdd_error(a->ctx, EMBER_EINVAL,
                                "zip: the rdds have %d and %d partitions (zip needs the same)",
                                a->nparts, b->nparts);
    ember_rdd *r = ember__rdd_new(a->ctx, &zip_type, "zip", a->nparts, a, b);
    if (!ember__rdd_failed(r)) {
        r->key_kind = a->key_kind ? EMBER_KIND_BYTES : a->kind;
        r->kind = b->key_kind ? EMBER_KIND_BYTES : b->kind;
        r->key_rule = !a->key_kind && !a->key_rule && a->kind_rule ? EMBER__KS_P_VAL : 0;
        r->kind_rule = !b->key_kind && !b->key_rule && b->kind_rule ? EMBER__KS_P2_VAL : 0;
    }
    return r;
}

ember_rdd *ember_map_partitions_with_index(ember_rdd *rdd, ember_part_fn *fn, void *arg)
{
    return ember_map_partitions(rdd, fn, arg); /* fn has had the index all along */
}

/* ---------------------------------------------------------------- draws: random_split,
 * sample_by_key */

typedef struct draw {
    uint64_t seed;
    double lb, ub; /* random_split: keep draws in [lb, ub) */
    bool with_replacement;
    /* sample_by_key: each key's fraction */
    ember_buf keys; /* encoded as value records */
    double *fractions;
    size_t nkeys;
    /* sample_by_key_exact: the draws under fractions[i] of key i as (key,
     * draw) records (CANDIDATES), or the records whose draw is at most
     * fractions[i] (THRESHOLD); with replacement, each partition's count of
     * each key (COUNT), or the records picked, as often as picked (PICKS) */
    int mode;
    /* PICKS: the indices, among the records of key i in partition p, of those
     * picked, sorted, at picks[pick_off[p * nkeys + i]] up to the next offset */
    uint64_t *picks;
    size_t *pick_off;
} draw;

enum { DRAW_FRACTION, DRAW_CANDIDATES, DRAW_THRESHOLD, DRAW_COUNT, DRAW_PICKS };

typedef struct draw_stage {
    ember_out in;
    const draw *d;
    uint64_t rng;
    int part;
    uint64_t *seen; /* COUNT, PICKS: the records of each key so far */
    size_t *cur;    /* PICKS: each key's next pick */
} draw_stage;

static int split_in(ember_out *self, const ember_rec *rec)
{
    draw_stage *s = (draw_stage *)self;
    double u = ember__unit(&s->rng);
    return u >= s->d->lb && u < s->d->ub ? self->next->push(self->next, rec) : 0;
}

static int by_key_in(ember_out *self, const ember_rec *rec)
{
    draw_stage *s = (draw_stage *)self;
    const draw *d = s->d;
    ember_iter it;
    ember_rec k;
    ember_iter_init(&it, ember_buf_bytes(&d->keys));
    double f = -1;
    size_t i = 0;
    for (; rec->key.ptr && ember_iter_next(&it, &k) == 1; i++)
        if (k.val.len == rec->key.len && !memcmp(k.val.ptr, rec->key.ptr, k.val.len)) {
            f = d->fractions[i];
            break;
        }
    if (f < 0)
        return ember__task_fail(self->task, EMBER_EINVAL,
                                "sample_by_key: no fraction for a key of partition %d (every key "
                                "needs one)",
                                self->task->partition);
    if (d->mode == DRAW_COUNT) {
        s->seen[i]++;
        return 0;
    }
    if (d->mode == DRAW_PICKS) { /* as many copies as picks of this record */
        uint64_t j = s->seen[i]++;
        size_t end = d->pick_off[(size_t)s->part * d->nkeys + i + 1];
        int rc = 0;
        while (!rc && s->cur[i] < end && d->picks[s->cur[i]] == j) {
            s->cur[i]++;
            rc = self->next->push(self->next, rec);
        }
        return rc;
    }
    if (d->mode != DRAW_FRACTION) { /* the exact sample's passes: one draw a record */
        double u = ember__unit(&s->rng);
        if (d->mode == DRAW_THRESHOLD)
            return u <= f ? self->next->push(self->next, rec) : 0;
        if (u >= f)
            return 0;
        ember_rec c;
        ember__rec_set(&c, rec->key.ptr, rec->key.len, &u, sizeof u);
        return self->next->push(self->next, &c);
    }
    int64_t copies = d->with_replacement ? ember__poisson(&s->rng, f) : ember__unit(&s->rng) < f;
    int rc = 0;
    for (int64_t c = 0; c < copies && !rc; c++)
        rc = self->next->push(self->next, rec);
    return rc;
}

static int draw_compute(ember_rdd *n, int part, ember_out *sink)
{
    const draw *d = n->u.state;
    draw_stage s = {.in = {.push = d->fractions ? by_key_in : split_in,
                           .next = sink,
                           .task = sink->task,
                           .node = n,
                           .reads = EMBER__READS_PASS},
                    .d = d,
                    .rng = seed_of(d->seed, part),
                    .part = part};
    if (d->mode != DRAW_COUNT && d->mode != DRAW_PICKS)
        return ember__compute(n->parent, part, &s.in);
    s.seen = ember__calloc(d->nkeys + 1, sizeof *s.seen);
    s.cur = ember__calloc(d->nkeys + 1, sizeof *s.cur);
    if (!s.seen || !s.cur) {
        ember__free(s.seen);
        ember__free(s.cur);
        return ember__task_fail(sink->task, EMBER_ENOMEM, "%s: out of memory", n->op);
    }
    for (size_t i = 0; d->mode == DRAW_PICKS && i < d->nkeys; i++)
        s.cur[i] = d->pick_off[(size_t)part * d->nkeys + i];
    int rc = ember__compute(n->parent, part, &s.in);
    for (size_t i = 0; !rc && d->mode == DRAW_COUNT && i < d->nkeys; i++) {
        int64_t c[3] = {part, (int64_t)i, (int64_t)s.seen[i]}; /* partition, key, count */
        ember_rec r;
        ember__rec_set(&r, NULL, 0, c, sizeof c);
        rc = sink->push(sink, &r);
    }
    ember__free(s.seen);
    ember__free(s.cur);
    return rc;
}

static void draw_free(ember_rdd *n)
{
    draw *d = n->u.state;
    if (d) {
        ember_buf_destroy(&d->keys);
        ember__free(d->fractions);
        ember__free(d->picks);
        ember__free(d->pick_off);
        ember__free(d);
    }
}

static const ember__node_type draw_type = {"random_split", EMBER__NT_KEEPS_PARTITIONER,
                                           draw_compute, NULL, draw_free};

static ember_rdd *draw_node(ember_rdd *rdd, const char *op, draw *d)
{
    ember_rdd *r = ember__rdd_new(rdd->ctx, &draw_type, op, rdd->nparts, rdd, NULL);
    if (ember__rdd_failed(r)) {
        ember_buf_destroy(&d->keys);
        ember__free(d->fractions);
        ember__free(d);
        return r;
    }
    r->u.state = d;
    r->op = op;
    r->hash_parts = rdd->hash_parts;
    r->int_hash = rdd->int_hash;
    ember__kinds_pass(r, rdd);
    return r;
}

int ember_random_split(ember_rdd *rdd, const double *weights, int n, uint64_t seed, ember_rdd **out)
{
    ember_rdd *ret;
    if (!out)
        return ember__err(rdd ? rdd->ctx : NULL, EMBER_EINVAL, "random_split: out is NULL");
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    if (!ember__parent_usable(rdd, "random_split", &ret))
        return ret ? ember__rdd_check(ret, "random_split") : EMBER_EINVAL;
    double total = 0;
    for (int i = 0; weights && i < n; i++) {
        if (!(weights[i] >= 0) || isinf(weights[i]))
            return ember__err(rdd->ctx, EMBER_EINVAL,
                              "random_split: weight %d is %g (weights must be >= 0)", i,
                              weights[i]);
        total += weights[i];
    }
    if (!weights || n <= 0 || !(total > 0))
        return ember__err(rdd->ctx, EMBER_EINVAL, "random_split: the weights must sum to > 0");
    double lb = 0;
    for (int i = 0; i < n; i++) {
        draw *d = ember__calloc(1, sizeof *d);
        double ub = i == n - 1 ? 1.0 : lb + weights[i] / total;
        if (d)
            *d = (draw){.seed = seed, .lb = lb, .ub = ub};
        out[i] = d ? draw_node(rdd, "random_split", d)
                   : ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "random_split: out of memory");
        lb = ub;
        if (ember__rdd_failed(out[i])) {
            int rc = ember__rdd_check(out[i], "random_split");
            for (int k = 0; k <= i; k++) {
                ember_free(out[k]);
                out[k] = NULL;
            }
            return rc;
        }
    }
    return 0;
}

/* A draw node over keys[0..n) with values v (fractions, bounds or thresholds). */
static ember_rdd *by_key_node(ember_rdd *rdd, const char *op, const ember_bytes *keys,
                              const double *v, size_t n, uint64_t seed, int mode)
{
    draw *d = ember__calloc(1, sizeof *d);
    double *f = ember__malloc((n ? n : 1) * sizeof *f);
    int rc = !d || !f ? EMBER_ENOMEM : 0;
    if (d)
        *d = (draw){.seed = seed, .fractions = f, .nkeys = n, .mode = mode};
    for (size_t i = 0; !rc && i < n; i++) {
        f[i] = v[i];
        rc = ember__arena_put(&d->keys, (ember_rec){.val = keys[i]});
    }
    if (rc) {
        if (d)
            ember_buf_destroy(&d->keys);
        ember__free(d);
        ember__free(f);
        return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "%s: out of memory", op);
    }
    return draw_node(rdd, op, d);
}

ember_rdd *ember_sample_by_key(ember_rdd *rdd, bool with_replacement, const ember_bytes *keys,
                               const double *fractions, size_t n, uint64_t seed)
{
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, "sample_by_key", &ret))
        return ret;
    if (n && (!keys || !fractions))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "sample_by_key: keys or fractions is NULL");
    for (size_t i = 0; i < n; i++)
        if (!(fractions[i] >= 0) || isinf(fractions[i]) || (!with_replacement && fractions[i] > 1))
            return ember__rdd_error(rdd->ctx, EMBER_EINVAL,
                                    "sample_by_key: fraction %zu is %g (must be %s)", i,
                                    fractions[i], with_replacement ? ">= 0" : "in [0, 1]");
    ember_rdd *r = by_key_node(rdd, "sample_by_key", keys, fractions, n, seed, DRAW_FRACTION);
    if (!ember__rdd_failed(r))
        ((draw *)r->u.state)->with_replacement = with_replacement;
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* sample_by_key_exact with replacement: each partition's count of each key (a
 * job), then for key i ceil(fractions[i] * its count) picks, uniform over its
 * records and seeded, made on the driver; the result hands each record on as
 * often as it was picked. The picks are held on the driver and shared with the
 * tasks: memory of the order of the sample. */
static ember_rdd *exact_with_replacement(ember_rdd *rdd, const ember_bytes *keys,
                                         const double *fractions, size_t n, uint64_t seed)
{
    const char *op = "sample_by_key_exact";
    ember_ctx *ctx = rdd->ctx;
    size_t parts = (size_t)rdd->nparts, cells = parts * n;
    uint64_t *cnt = ember__calloc(cells + 1, sizeof *cnt), **drawn = NULL;
    size_t *want = ember__calloc(n + 1, sizeof *want), *off = NULL;
    uint64_t *picks = NULL;
    int rc = !cnt || !want ? EMBER_ENOMEM : 0;
    ember_rdd *counter = rc ? NULL : by_key_node(rdd, op, keys, fractions, n, seed, DRAW_COUNT);
    ember_result *res = NULL;
    bool counted = !rc && (rc = ember_collect(counter, &res)) == 0;
    ember_free(counter);
    for (size_t r = 0; !rc && r < ember_result_len(res); r++) {
        int64_t c[3]; /* partition, key, count */
        memcpy(c, ember_result_at(res, r).val.ptr, sizeof c);
        cnt[(size_t)c[0] * n + (size_t)c[1]] = (uint64_t)c[2];
    }
    ember_result_free(res);
    /* each key's picks as indices among all its records, sorted */
    size_t total = 0;
    if (!rc && !(drawn = ember__calloc(n + 1, sizeof *drawn)))
        rc = EMBER_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        uint64_t all = 0;
        for (size_t p = 0; p < parts; p++)
            all += cnt[p * n + i];
        double w = ceil(fractions[i] * (double)all);
        if (w > (double)(SIZE_MAX / 16) || total + (size_t)w > SIZE_MAX / 16) {
            rc = EMBER_ENOMEM;
            break;
        }
        want[i] = all ? (size_t)w : 0;
        total += want[i];
        if (!(drawn[i] = ember__malloc((want[i] ? want[i] : 1) * sizeof **drawn))) {
            rc = EMBER_ENOMEM;
            break;
        }
        uint64_t rng = seed_of(seed ^ 0x9e3779b97f4a7c15ULL, (int)i);
        for (size_t k = 0; k < want[i]; k++) {
            uint64_t g = (uint64_t)(ember__unit(&rng) * (double)all);
            drawn[i][k] = g < all ? g : all - 1;
        }
        qsort(drawn[i], want[i], sizeof **drawn, cmp_u64);
    }
    /* laid out by partition, then key, as indices within the partition */
    if (!rc && (!(off = ember__calloc(cells + 2, sizeof *off)) ||
                !(picks = ember__malloc((total ? total : 1) * sizeof *picks))))
        rc = EMBER_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) { /* each cell's size, */
        size_t k = 0;
        uint64_t first = 0; /* the key's first record in partition p */
        for (size_t p = 0; p < parts; p++) {
            uint64_t end = first + cnt[p * n + i];
            for (; k < want[i] && drawn[i][k] < end; k++)
                off[p * n + i + 1]++;
            first = end;
        }
    }
    for (size_t c = 0; !rc && c < cells; c++) /* where it starts, */
        off[c + 1] += off[c];
    for (size_t i = 0; !rc && i < n; i++) { /* and what it holds */
        size_t k = 0;
        uint64_t first = 0;
        for (size_t p = 0; p < parts; p++) {
            uint64_t end = first + cnt[p * n + i];
            for (size_t at = off[p * n + i]; k < want[i] && drawn[i][k] < end; k++)
                picks[at++] = drawn[i][k] - first;
            first = end;
        }
    }
    ember_rdd *out = NULL;
    if (rc) {
        out = counted ? ember__rdd_error(ctx, rc, "%s: out of memory for the picks", op)
                      : ember__rdd_error(ctx, rc == EMBER_ENOMEM ? rc : EMBER_EIO,
                                         "%s: counting the keys: %s", op, ember_errmsg(ctx));
    } else if (!ember__rdd_failed(out =
                                      by_key_node(rdd, op, keys, fractions, n, seed, DRAW_PICKS))) {
        draw *d = out->u.state;
        d->picks = picks;
        d->pick_off = off;
        picks = NULL;
        off = NULL;
    }
    ember__free(picks);
    ember__free(off);
    for (size_t i = 0; drawn && i < n; i++)
        ember__free(drawn[i]);
    ember__free(drawn);
    ember__free(cnt);
    ember__free(want);
    return out;
}

ember_rdd *ember_sample_by_key_exact(ember_rdd *rdd, bool with_replacement, const ember_bytes *keys,
                                     const double *fractions, size_t n, uint64_t seed)
{
    const char *op = "sample_by_key_exact";
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, op, &ret))
        return ret;
    if (n && (!keys || !fractions))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: keys or fractions is NULL", op);
    for (size_t i = 0; i < n; i++)
        if (!(fractions[i] >= 0) || isinf(fractions[i]) || (!with_replacement && fractions[i] > 1))
            return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: fraction %zu is %g (must be %s)",
                                    op, i, fractions[i], with_replacement ? ">= 0" : "in [0, 1]");
    if (with_replacement)
        return exact_with_replacement(rdd, keys, fractions, n, seed);
    /* 1: each key's count; its exact share is ceil(fraction * count) */
    ember_result *counts = NULL;
    if (ember_count_by_key(rdd, &counts))
        return ember__rdd_error(rdd->ctx, EMBER_EIO, "%s: counting the keys: %s", op,
                                ember_errmsg(rdd->ctx));
    size_t *want = ember__calloc(n + 1, sizeof *want);
    double *bound = ember__calloc(n + 1, sizeof *bound),
           *theta = ember__calloc(n + 1, sizeof *theta);
    double **got = ember__calloc(n + 1, sizeof *got);
    size_t *ngot = ember__calloc(n + 1, sizeof *ngot);
    int rc = !want || !bound || !theta || !got || !ngot ? EMBER_ENOMEM : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        double cnt = 0;
        for (size_t r = 0; r < ember_result_len(counts); r++) {
            ember_rec kc = ember_result_at(counts, r);
            if (kc.key.len == keys[i].len && !memcmp(kc.key.ptr, keys[i].ptr, keys[i].len))
                cnt = (double)ember_i64(kc.val);
        }
        want[i] = (size_t)ceil(fractions[i] * cnt);
        /* a draw bound most keys' samples fall under (else every draw, below) */
        bound[i] = cnt > 0 ? fmin(1.0, fractions[i] + 5 * sqrt(fractions[i] / cnt) + 10 / cnt) : 0;
        if (!(got[i] = ember__malloc((cnt > 0 ? (size_t)cnt : 1) * sizeof **got)))
            rc = EMBER_ENOMEM;
    }
    ember_result_free(counts);
    /* 2: the draws under the bounds, gathered; a key short of its share is drawn
     * again with no bound (the same draws: seeded by partition) */
    for (int pass = 0; !rc && pass < 2; pass++) {
        ember_rdd *cand = by_key_node(rdd, op, keys, bound, n, seed, DRAW_CANDIDATES);
        ember_result *res = NULL;
        rc = ember_collect(cand, &res);
        ember_free(cand);
        for (size_t i = 0; !rc && i < n; i++)
            ngot[i] = 0;
        for (size_t r = 0; !rc && r < ember_result_len(res); r++) {
            ember_rec c = ember_result_at(res, r);
            for (size_t i = 0; i < n; i++)
                if (c.key.len == keys[i].len && !memcmp(c.key.ptr, keys[i].ptr, keys[i].len)) {
                    got[i][ngot[i]++] = ember_f64(c.val);
                    break;
                }
        }
        ember_result_free(res);
        bool again = false;
        for (size_t i = 0; !rc && i < n; i++)
            if (ngot[i] < want[i]) {
                bound[i] = 1.0;
                again = true;
            }
        if (!again)
            break;
    }
    for (size_t i = 0; !rc && i < n; i++) { /* 3: the want[i]-th smallest draw */
        qsort(got[i], ngot[i], sizeof **got, cmp_double);
        theta[i] = want[i] ? got[i][want[i] - 1] : -1.0;
    }
    ember_rdd *out =
        rc ? ember__rdd_error(rdd->ctx, rc == EMBER_ENOMEM ? rc : EMBER_EIO, "%s: %s", op,
                              rc == EMBER_ENOMEM ? "out of memory" : ember_errmsg(rdd->ctx))
           : by_key_node(rdd, op, keys, theta, n, seed, DRAW_THRESHOLD);
    for (size_t i = 0; got && i < n; i++)
        ember__free(got[i]);
    ember__free(got);
    ember__free(ngot);
    ember__free(want);
    ember__free(bound);
    ember__free(theta);
    return out;
}

/* ---------------------------------------------------------------- pipe */

typedef struct pipe_stage {
    ember_out in;
    pid_t pid;
    int to, from, err;  /* the child's stdin (ours to write), stdout, stderr (a file) */
    ember_buf line;     /* output not yet a whole line */
    ember_buf text;     /* an input record as text */
    bool broken;        /* the child closed its stdin */
    int kind, key_kind; /* the input's, learned in the prepare */
} pipe_stage;

/* Hand on the whole lines read so far. */
static int take_lines(pipe_stage *p, bool last)
{
    size_t from = 0;
    int rc = 0;
    for (size_t i = 0; i < p->line.len && !rc; i++)
        if (p->line.ptr[i] == '\n') {
            ember_rec r;
            ember__rec_set(&r, NULL, 0, p->line.ptr + from, i - from);
            rc = p->in.next->push(p->in.next, &r);
            from = i + 1;
        }
    if (!rc && last && from < p->line.len) { /* the last line, without its newline */
        ember_rec r;
        ember__rec_set(&r, NULL, 0, p->line.ptr + from, p->line.len - from);
        rc = p->in.next->push(p->in.next, &r);
        from = p->line.len;
    }
    if (from) { /* (nothing read yet: no buffer) */
        memmove(p->line.ptr, p->line.ptr + from, p->line.len - from);
        p->line.len -= from;
    }
    return rc;
}

/* Read what the child wrote (until EOF when drain). 1 at EOF. */
static int read_out(pipe_stage *p, bool drain, int *rc)
{
    char buf[65536];
    for (;;) {
        ssize_t k = read(p->from, buf, sizeof buf);
        if (k > 0) {
            if (ember_buf_append(&p->line, buf, (size_t)k)) {
                *rc = EMBER_ENOMEM;
                return 0;
            }
            if ((*rc = take_lines(p, false)))
                return 0;
            continue;
        }
        if (k == 0)
            return 1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && drain) {
            struct pollfd pf = {.fd = p->from, .events = POLLIN};
            poll(&pf, 1, 1000);
            if (ember__halted(p->in.task))
                return 0;
            continue;
        }
        return 0;
    }
}

/* Write all of b to the child, reading its output whenever the pipe is full. */
static int write_all(pipe_stage *p, const unsigned char *b, size_t n)
{
    int rc = 0;
    while (n && !p->broken && !rc) {
        ssize_t k = write(p->to, b, n);
        if (k > 0) {
            b += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EPIPE) {
            p->broken = true; /* it stopped reading: its output still counts */
            break;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return ember__task_fail(p->in.task, EMBER_EIO, "pipe: writing to the command: %s",
                                    strerror(errno));
        struct pollfd pf[2] = {{.fd = p->to, .events = POLLOUT}, {.fd = p->from, .events = POLLIN}};
        if (poll(pf, 2, 1000) > 0 && (pf[1].revents & (POLLIN | POLLHUP)))
            read_out(p, false, &rc);
        if (ember__halted(p->in.task))
            return ember__halt_code(p->in.task);
    }
    return rc;
}

/* A side of a record as the command reads it: numbers by their kind, the
 * rest as they are. */
static int put_side(ember_buf *b, ember_bytes x, int kind)
{
    char num[48];
    if (x.len == 8 && kind == EMBER_KIND_I64)
        return ember_buf_append(b, num,
                                (size_t)snprintf(num, sizeof num, "%lld", (long long)ember_i64(x)));
    if (x.len == 8 && kind == EMBER_KIND_F64)
        return ember_buf_append(b, num, (size_t)snprintf(num, sizeof num, "%.17g", ember_f64(x)));
    return ember_buf_append(b, x.ptr, x.len);
}

static int pipe_in(ember_out *self, const ember_rec *rec)
{
    pipe_stage *p = (pipe_stage *)self;
    p->text.len = 0;
    int rc = 0; /* a pair as key, tab, value */
    if (rec->key.ptr)
        rc = put_side(&p->text, rec->key, p->key_kind) || ember_buf_append(&p->text, "\t", 1);
    if (rc || put_side(&p->text, rec->val, p->kind) || ember_buf_append(&p->text, "\n", 1))
        return ember__task_fail(self->task, EMBER_ENOMEM, "pipe: out of memory");
    return write_all(p, p->text.ptr, p->text.len);
}

static int pipe_compute(ember_rdd *n, int part, ember_out *sink)
{
    ember__task *t = sink->task;
    const char *cmd = n->u.state;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    char errpath[] = "/tmp/ember-pipe-err-XXXXXX";
    int errfd = mkstemp(errpath);
    if (errfd >= 0)
        unlink(errpath);
    if (errfd < 0 || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (out[i] >= 0)
                close(out[i]);
        }
        if (errfd >= 0)
            close(errfd);
        return ember__task_fail(t, EMBER_EIO, "pipe: cannot make pipes: %s", strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    pipe_stage p = {
        .in = {.push = pipe_in, .next = sink, .task = t, .node = n, .reads = EMBER__READS_NOW},
        .to = in[1],
        .from = out[0],
        .err = errfd,
        .kind = ember__kind_known(n->parent, false),
        .key_kind = ember__kind_known(n->parent, true)};
    int e = posix_spawn(&p.pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    int rc = 0;
    if (e) {
        rc = ember__task_fail(t, EMBER_EIO, "pipe: cannot run /bin/sh: %s", strerror(e));
        p.pid = 0;
    }
    fcntl(p.to, F_SETFL, O_NONBLOCK);
    fcntl(p.from, F_SETFL, O_NONBLOCK);
    /* a child that stops reading gives EPIPE, not a SIGPIPE for the process:
     * the signal is blocked on this thread and taken back below */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    if (!rc)
        rc = ember__compute(n->parent, part, &p.in);
    close(p.to);
    if (!rc && !read_out(&p, true, &rc) && !rc && ember__halted(t))
        rc = ember__halt_code(t);
    if (!rc)
        rc = take_lines(&p, true);
    close(p.from);
    if (p.pid > 0) {
        int status = 0;
        if (rc)
            kill(p.pid, SIGKILL); /* the task failed or stopped: the command goes */
        while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            char msg[300] = "";
            ssize_t k = pread(errfd, msg, sizeof msg - 1, 0);
            msg[k > 0 ? k : 0] = 0;
            msg[strcspn(msg, "\n")] = 0;
            if (WIFEXITED(status))
                rc = ember__task_fail(t, EMBER_EIO,
                                      "pipe: `%s` exited with status %d in partition %d%s%s", cmd,
                                      WEXITSTATUS(status), part, *msg ? ": " : "", msg);
            else
                rc = ember__task_fail(t, EMBER_EIO,
                                      "pipe: `%s` was killed by signal %d in partition %d", cmd,
                                      WTERMSIG(status), part);
        }
    }
    struct timespec none = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &none) == SIGPIPE)
        ;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    close(errfd);
    ember_buf_destroy(&p.line);
    ember_buf_destroy(&p.text);
    return rc;
}

static void pipe_free(ember_rdd *n)
{
    ember__free(n->u.state);
}

/* The input's kinds, which its text follows, learned before the tasks. */
static int pipe_prepare(ember_rdd *n, const char *action)
{
    int kind, rc = ember__kind_for(n->parent, false, action, &kind);
    return rc ? rc : ember__kind_for(n->parent, true, action, &kind);
}

static const ember__node_type pipe_type = {"pipe", EMBER__NT_CALLS_OUT, pipe_compute, pipe_prepare,
                                           pipe_free};

ember_rdd *ember_pipe(ember_rdd *rdd, const char *command)
{
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, "pipe", &ret))
        return ret;
    if (!command || !*command)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "pipe: the command is empty");
    char *c = ember__strdup(command);
    if (!c)
        return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "pipe: out of memory");
    ember_rdd *r = ember__rdd_new(rdd->ctx, &pipe_type, "pipe", rdd->nparts, rdd, NULL);
    if (ember__rdd_failed(r)) {
        ember__free(c);
        return r;
    }
    r->u.state = c;
    r->kind = EMBER_KIND_STRING;
    return r;
}
