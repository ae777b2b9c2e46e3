/* More of Spark's actions: to_local_iterator (a partition's job at a time),
 * take_sample (an exact count, seeded), tree_aggregate, count_approx_distinct
 * (HyperLogLog), histogram over ordered values of any kind, and the count,
 * sum and mean that a timeout bounds (partial results with confidence
 * bounds, from the partitions done when the time is up).
 */
#include <math.h>
#include <string.h>

#include "sched/sched.h"

/* ---------------------------------------------------------------- to_local_iterator */

struct ember_local_iter {
    ember_rdd *rdd;
    int next_part;
    ember_result *res;
    size_t at;
};

int ember_to_local_iterator(ember_rdd *rdd, ember_local_iter **out)
{
    int rc = ember__rdd_check(rdd, "to_local_iterator");
    if (rc)
        return rc;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "to_local_iterator: out is NULL");
    if (!(*out = ember__calloc(1, sizeof **out)))
        return ember__err(rdd->ctx, EMBER_ENOMEM, "to_local_iterator: out of memory");
    (*out)->rdd = rdd;
    return 0;
}

int ember_local_iter_next(ember_local_iter *it, ember_rec *rec)
{
    if (!it || !rec)
        return EMBER_EINVAL;
    while (!it->res || it->at == ember_result_len(it->res)) {
        ember_result_free(it->res);
        it->res = NULL;
        it->at = 0;
        if (it->next_part >= it->rdd->nparts)
            return 0;
        int p = it->next_part++; /* one partition in memory at a time: its own job */
        int rc = ember__action_begin(it->rdd, "to_local_iterator");
        if (!rc)
            rc = ember__action_end(
                it->rdd->ctx, ember__collect_parts(it->rdd, "to_local_iterator", &p, 1, &it->res));
        if (rc)
            return rc;
    }
    *rec = ember_result_at(it->res, it->at++);
    return 1;
}

void ember_local_iter_free(ember_local_iter *it)
{
    if (it) {
        ember_result_free(it->res);
        ember__free(it);
    }
}

/* ---------------------------------------------------------------- take_sample */

/* The fraction that gives at least want of total with high probability
 * (Spark's bounds: Poisson with replacement, binomial without, delta 1e-4). */
static double fraction_for(size_t want, int64_t total, bool with_replacement)
{
    double s = (double)want, n = (double)total;
    if (with_replacement) {
        double k = s < 6 ? 12 : s < 16 ? 9 : 6;
        return fmax(s + k * sqrt(s), 1e-10) / n;
    }
    double f = s / n, gamma = -log(1e-4) / n;
    return fmin(1, f + gamma + sqrt(gamma * gamma + 2 * gamma * f));
}

int ember_take_sample(ember_rdd *rdd, bool with_replacement, size_t num, uint64_t seed,
                      ember_result **out)
{
    int rc = ember__rdd_check(rdd, "take_sample");
    if (rc)
        return rc;
    if (!out)
        return ember__err(rdd->ctx, EMBER_EINVAL, "take_sample: out is NULL");
    int64_t total = 0;
    if ((rc = ember_count(rdd, &total)))
        return rc;
    uint64_t rng = seed;
    ember_result *got = NULL;
    if (num == 0 || total == 0)
        return ember__result_copy(NULL, 0, out) ? ember__gather_nomem(rdd->ctx, "take_sample") : 0;
    if (!with_replacement && (int64_t)num >= total) {
        rc = ember_collect(rdd, &got);
    } else {
        double f = fraction_for(num, total, with_replacement);
        for (int tries = 0; !rc; tries++) { /* again with a new seed until there are enough */
            ember_result_free(got);
            got = NULL;
            ember_rdd *s = ember_sample(rdd, with_replacement, f, ember__splitmix(&rng));
            rc = ember_collect(s, &got);
            ember_free(s);
            if (!rc && ember_result_len(got) >= num)
                break;
            if (tries > 100)
                rc = ember__err(rdd->ctx, EMBER_EIO,
                                "take_sample: no sample of %zu after 100 tries", num);
        }
    }
    if (rc) {
        ember_result_free(got);
        return rc;
    }
    size_t n = ember_result_len(got), k = num < n ? num : n;
    ember_rec *recs = ember__malloc((n ? n : 1) * sizeof *recs);
    if (!recs) {
        ember_result_free(got);
        return ember__gather_nomem(rdd->ctx, "take_sample");
    }
    for (size_t i = 0; i < n; i++)
        recs[i] = ember_result_at(got, i);
    for (size_t i = 0; i < k; i++) { /* a seeded shuffle of the first k */
        size_t j = i + (size_t)(ember__splitmix(&rng) % (n - i));
        ember_rec t = recs[i];
        recs[i] = recs[j];
        recs[j] = t;
    }
    rc = ember__result_copy(recs, k, out);
    ember__free(recs);
    ember_result_free(got);
    return rc ? ember__gather_nomem(rdd->ctx, "take_sample") : 0;
}

/* ---------------------------------------------------------------- tree_aggregate */

typedef struct agg_args {
    ember_bytes zero;
    ember_reduce_fn *seq;
    void *arg;
} agg_args;

static int fold_partition(ember_iter *in, ember_out *out, int index, void *arg)
{
    (void)index;
    const agg_args *a = arg;
    ember_buf acc = {0}, next = {0};
    int rc = ember_buf_set(&acc, a->zero.ptr, a->zero.len);
    ember_rec r;
    int more;
    while (!rc && (more = ember_iter_next(in, &r)) == 1) {
        next.len = 0;
        if (!(rc = a->seq(ember_buf_bytes(&acc), r.val, &next, a->arg))) {
            ember_buf t = acc;
            acc = next;
            next = t;
        }
    }
    if (!rc && more < 0)
        rc = more;
    if (!rc)
        rc = ember_emit(out, ember_buf_bytes(&acc));
    ember_buf_destroy(&acc);
    ember_buf_destroy(&next);
    return rc;
}

int ember_tree_aggregate(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *seq,
                         ember_reduce_fn *comb, void *arg, int depth, ember_buf *out)
{
    int rc = ember__rdd_check(rdd, "tree_aggregate");
    if (rc)
        return rc;
    if (!seq || !comb || !out || depth < 1)
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "tree_aggregate: seq, comb and out are needed, and depth >= 1");
    agg_args a = {zero, seq, arg};
    ember_rdd *folded = ember_map_partitions(rdd, fold_partition, &a);
    folded->op = "tree_aggregate";
    rc = ember_tree_reduce(folded, comb, arg, depth, out);
    ember_free(folded);
    if (rc == EMBER_EEMPTY) /* no partitions: the zero, as Spark */
        rc = ember_buf_set(out, zero.ptr, zero.len);
    return rc;
}

/* ---------------------------------------------------------------- count_approx_distinct */

typedef struct hll {
    unsigned char *reg;
    int p;
} hll;

static int hll_push(ember_out *self, const ember_rec *rec)
{
    hll *h = self->state;
    uint64_t x = ember__hash(rec->val);
    if (rec->key.ptr) /* a pair: key and value together */
        x ^= ember__hash(rec->key) * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    uint64_t idx = x >> (64 - h->p), w = x << h->p;
    unsigned char rank = (unsigned char)(w ? __builtin_clzll(w) + 1 : 64 - h->p + 1);
    if (rank > h->reg[idx])
        h->reg[idx] = rank;
    self->task->records_out++;
    return 0;
}

static int hll_reset(void *state, const ember__job *job)
{
    hll *h = state;
    h->p = *(const int *)job->arg;
    size_t m = (size_t)1 << h->p;
    if (!h->reg && !(h->reg = ember__malloc(m)))
        return EMBER_ENOMEM;
    memset(h->reg, 0, m);
    return 0;
}

static void hll_destroy(void *state)
{
    ember__free(((hll *)state)->reg);
}

static int hll_pack(const void *state, const ember__job *job, ember_buf *out)
{
    const hll *h = state;
    (void)job;
    return ember_buf_set(out, h->reg, (size_t)1 << h->p);
}

static int hll_unpack(void *state, const ember__job *job, ember_bytes in)
{
    hll *h = state;
    (void)job;
    if (in.len != (size_t)1 << h->p)
        return EMBER_EIO;
    memcpy(h->reg, in.ptr, in.len);
    return 0;
}

static const ember__sink_ops hll_sink = {.state_size = sizeof(hll),
                                         .push = hll_push,
                                         .reset = hll_reset,
                                         .destroy = hll_destroy,
                                         .pack = hll_pack,
                                         .unpack = hll_unpack};

static int distinct_run(ember_rdd *rdd, double relative_sd, int64_t *out)
{
    if (!out || !(relative_sd >= 0.000017) || relative_sd > 0.37)
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "count_approx_distinct: relative_sd must be 0.000017 to 0.37 (got %g)",
                          relative_sd);
    int p = (int)ceil(2.0 * log(1.054 / relative_sd) / log(2.0)); /* Spark's precision */
    if (p < 4)
        p = 4;
    ember__job *job;
    int rc = ember__job_run(rdd, "count_approx_distinct", &hll_sink, &p, NULL, 0, &job);
    if (rc)
        return rc;
    size_t m = (size_t)1 << p;
    unsigned char *all = ember__calloc(m, 1);
    if (!all)
        return ember__job_end(job, ember__gather_nomem(rdd->ctx, "count_approx_distinct"));
    for (int i = 0; i < job->ntasks; i++) {
        const hll *h = ember__job_state(job, i);
        for (size_t r = 0; h->reg && r < m; r++)
            if (h->reg[r] > all[r])
                all[r] = h->reg[r];
    }
    double sum = 0, zeros = 0, md = (double)m;
    for (size_t r = 0; r < m; r++) {
        sum += ldexp(1.0, -all[r]);
        zeros += all[r] == 0;
    }
    double e = 0.7213 / (1 + 1.079 / md) * md * md / sum;
    if (e <= 2.5 * md && zeros > 0) /* small range: linear counting */
        e = md * log(md / zeros);
    *out = (int64_t)llround(e);
    ember__free(all);
    return ember__job_end(job, 0);
}

int ember_count_approx_distinct(ember_rdd *rdd, double relative_sd, int64_t *out)
{
    int rc = ember__action_begin(rdd, "count_approx_distinct");
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, distinct_run(rdd, relative_sd, out));
}

/* ---------------------------------------------------------------- histogram_by */

typedef struct hist_args {
    const ember_bytes *edges;
    size_t nedges;
    ember_cmp_fn *cmp;
    void *arg;
} hist_args;

typedef struct hist_state {
    int64_t *counts;
    size_t n;
} hist_state;

static int hist_push(ember_out *self, const ember_rec *rec)
{
    hist_state *s = self->state;
    const hist_args *a = self->task->job->arg;
    self->task->records_out++;
    if (a->cmp(rec->val, a->edges[0], a->arg) < 0 ||
        a->cmp(rec->val, a->edges[a->nedges - 1], a->arg) > 0)
        return 0;                      /* outside the edges: not counted, as Spark */
    size_t lo = 0, hi = a->nedges - 1; /* the last edge closes the last bucket */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->cmp(rec->val, a->edges[mid], a->arg) < 0)
            hi = mid;
        else
            lo = mid;
    }
    s->counts[lo]++;
    return 0;
}

static int hist_reset(void *state, const ember__job *job)
{
    hist_state *s = state;
    s->n = ((const hist_args *)job->arg)->nedges - 1;
    if (!s->counts && !(s->counts = ember__calloc(s->n, sizeof *s->counts)))
        return EMBER_ENOMEM;
    memset(s->counts, 0, s->n * sizeof *s->counts);
    return 0;
}

static void hist_destroy(void *state)
{
    ember__free(((hist_state *)state)->counts);
}

static int hist_pack(const void *state, const ember__job *job, ember_buf *out)
{
    const hist_state *s = state;
    (void)job;
    return ember_buf_set(out, s->counts, s->n * sizeof *s->counts);
}

static int hist_unpack(void *state, const ember__job *job, ember_bytes in)
{
    hist_state *s = state;
    (void)job;
    if (in.len != s->n * sizeof *s->counts)
        return EMBER_EIO;
    memcpy(s->counts, in.ptr, in.len);
    return 0;
}

static const ember__sink_ops hist_sink = {.state_size = sizeof(hist_state),
                                          .push = hist_push,
                                          .reset = hist_reset,
                                          .destroy = hist_destroy,
                                          .pack = hist_pack,
                                          .unpack = hist_unpack};

static int hist_run(ember_rdd *rdd, const ember_bytes *edges, size_t nedges, ember_cmp_fn *cmp,
                    void *arg, int64_t *counts)
{
    if (!edges || nedges < 2 || !counts)
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "histogram_by: two edges at least, and counts for nedges - 1 buckets");
    int kind = EMBER_KIND_BYTES, rc;
    if (!cmp && (rc = ember__kind_for(rdd, false, "histogram_by", &kind)))
        return rc;
    hist_args a = {edges, nedges, cmp ? cmp : ember__cmp_of(kind), arg};
    for (size_t i = 1; i < nedges; i++)
        if (a.cmp(edges[i - 1], edges[i], arg) >= 0)
            return ember__err(rdd->ctx, EMBER_EINVAL,
                              "histogram_by: the edges must increase (edge %zu does not)", i);
    ember__job *job;
    rc = ember__job_run(rdd, "histogram_by", &hist_sink, &a, NULL, 0, &job);
    if (rc)
        return rc;
    memset(counts, 0, (nedges - 1) * sizeof *counts);
    for (int i = 0; i < job->ntasks; i++) {
        const hist_state *s = ember__job_state(job, i);
        for (size_t b = 0; s->counts && b < nedges - 1; b++)
            counts[b] += s->counts[b];
    }
    return ember__job_end(job, 0);
}

int ember_histogram_by(ember_rdd *rdd, const ember_bytes *edges, size_t nedges, ember_cmp_fn *cmp,
                       void *arg, int64_t *counts)
{
    int rc = ember__action_begin(rdd, "histogram_by");
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, hist_run(rdd, edges, nedges, cmp, arg, counts));
}

/* ---------------------------------------------------------------- approximate actions */

/* The standard normal's quantile (Acklam's rational approximation, about
 * 1e-9 relative error). */
static double normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425)
        return -normal_quantile(1 - p);
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

enum { APPROX_COUNT, APPROX_SUM, APPROX_MEAN };

/* Waves of a partition a thread until every partition is done, or the
 * timeout is past after a wave: the count (count_approx), or the StatCounter
 * (sum_approx, mean_approx), of the partitions done. */
static int approx_run(ember_rdd *rdd, const char *op, int what, int64_t timeout_ms,
                      double confidence, ember_bounded *out)
{
    if (!out || !(confidence >= 0 && confidence < 1) || timeout_ms < 0)
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "%s: confidence must be in [0, 1), timeout_ms >= 0, out set", op);
    int total = rdd->nparts, wave = ember_parallelism(rdd->ctx) * ember_ranks(rdd->ctx), done = 0;
    int kind = EMBER_KIND_BYTES, rc = 0;
    if (what != APPROX_COUNT && (rc = ember__kind_for(rdd, false, op, &kind)))
        return rc;
    if (wave < 1)
        wave = 1;
    int *parts = ember__malloc(((size_t)total + 1) * sizeof *parts);
    if (!parts)
        return ember__gather_nomem(rdd->ctx, op);
    uint64_t t0 = ember__now_ns();
    ember_num num = kind == EMBER_KIND_F64 ? EMBER_NUM_F64 : EMBER_NUM_I64;
    ember_stat_counter all = {.min = INFINITY, .max = -INFINITY};
    while (!rc && done < total &&
           (done == 0 || ember__now_ns() - t0 < (uint64_t)timeout_ms * 1000000ull)) {
        int n = total - done < wave ? total - done : wave;
        for (int i = 0; i < n; i++)
            parts[i] = done + i;
        if (what == APPROX_COUNT) { /* any records */
            ember__job *job;
            if ((rc = ember__job_run(rdd, op, &ember__count_sink, NULL, parts, n, &job)))
                break;
            for (int i = 0; i < job->ntasks; i++)
                all.count += *(int64_t *)ember__job_state(job, i);
            ember__job_end(job, 0);
        } else {
            ember_stat_counter w;
            if ((rc = ember__stats_run(rdd, op, num, parts, n, &w, NULL)))
                break;
            ember__stat_merge(&all, &w);
        }
        done += n;
    }
    ember__free(parts);
    if (rc)
        return rc;
    double p = (double)done / total;
    double z = normal_quantile(1 - (1 - confidence) / 2);
    double cnt = (double)all.count;
    double var = cnt > 1 ? all.m2_ / (cnt - 1) : NAN; /* the sample variance */
    if (what == APPROX_COUNT) {
        if (done == total)
            *out = (ember_bounded){cnt, 1.0, cnt, cnt};
        else { /* Spark's: the count of the done partitions scaled up */
            double mean = (cnt + 1 - p) / p, sd = sqrt((cnt + 1 - p) * (1 - p) / (p * p));
            *out = (ember_bounded){mean, confidence, fmax(mean - z * sd, cnt), mean + z * sd};
        }
    } else if (what == APPROX_SUM) {
        double sum = all.sum;
        if (done == total) {
            *out = (ember_bounded){sum, 1.0, sum, sum};
        } else if (cnt < 2 || isnan(var)) {
            *out = (ember_bounded){sum / p, 0.0, -INFINITY, INFINITY};
        } else { /* Spark's SumEvaluator */
            double count = (cnt + 1 - p) / p, est = all.mean * count;
            double mean_var = var / cnt, count_var = (cnt + 1) * (1 - p) / (p * p);
            double sd = sqrt(all.mean * all.mean * count_var + count * count * mean_var +
                             mean_var * count_var);
            *out = (ember_bounded){est, confidence, est - z * sd, est + z * sd};
        }
    } else {
        if (done == total) {
            *out = (ember_bounded){all.mean, 1.0, all.mean, all.mean};
        } else if (cnt < 2 || isnan(var)) {
            *out = (ember_bounded){all.mean, 0.0, -INFINITY, INFINITY};
        } else {
            double sd = sqrt(var / cnt);
            *out = (ember_bounded){all.mean, confidence, all.mean - z * sd, all.mean + z * sd};
        }
    }
    return 0;
}

#define APPROX_ACTION(name, what)                                                                  \
    int ember_##name(ember_rdd *rdd, int64_t timeout_ms, double confidence, ember_bounded *out)    \
    {                                                                                              \
        int rc = ember__action_begin(rdd, #name);                                                  \
        if (rc)                                                                                    \
            return rc;                                                                             \
        return ember__action_end(rdd->ctx,                                                         \
                                 approx_run(rdd, #name, what, timeout_ms, confidence, out));       \
    }
APPROX_ACTION(count_approx, APPROX_COUNT)
APPROX_ACTION(sum_approx, APPROX_SUM)
APPROX_ACTION(mean_approx, APPROX_MEAN)
