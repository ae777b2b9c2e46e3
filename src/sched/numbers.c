/* The numeric actions: stats (count, mean, variance, min, max in one pass,
 * Spark's StatCounter), the sums and moments built on it, and the histograms.
 * Each task keeps a counter (or bucket counts), merged on the driver in
 * partition order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

/* ---------------------------------------------------------------- numbers */

typedef struct num_args {
    ember_num num;
    const char *op;
    size_t nbuckets;
    const double *edges; /* nbuckets + 1 */
    bool even;
} num_args;

typedef struct num_state {
    ember_stat_counter st;
    int64_t isum;
    int64_t *counts; /* histogram */
} num_state;

static int num_value(ember__task *t, const num_args *a, ember_bytes v, double *x, int64_t *i)
{
    if (v.len != 8)
        return ember__task_fail(t, EMBER_EINVAL, "%s: a value of %zu bytes is not an 8-byte %s",
                                a->op, v.len, a->num == EMBER_NUM_I64 ? "int64" : "double");
    if (a->num == EMBER_NUM_I64) {
        *i = ember_i64(v);
        *x = (double)*i;
    } else {
        *x = ember_f64(v);
    }
    return 0;
}

static void stat_add(ember_stat_counter *s, double x)
{
    double delta = x - s->mean;
    s->count++;
    s->mean += delta / (double)s->count;
    s->m2_ += delta * (x - s->mean);
    s->sum += x;
    /* NaN wins, as Scala's math.min and math.max */
    s->min = x != x || s->min != s->min ? NAN : fmin(s->min, x);
    s->max = x != x || s->max != s->max ? NAN : fmax(s->max, x);
}

/* Spark's StatCounter.merge, with its care for very different counts. */
void ember__stat_merge(ember_stat_counter *s, const ember_stat_counter *o)
{
    if (o->count == 0)
        return;
    if (s->count == 0) {
        *s = *o;
        return;
    }
    double n = (double)s->count, m = (double)o->count, delta = o->mean - s->mean;
    if (m * 10 < n)
        s->mean += delta * m / (n + m);
    else if (n * 10 < m)
        s->mean = o->mean - delta * n / (n + m);
    else
        s->mean = (s->mean * n + o->mean * m) / (n + m);
    s->m2_ += o->m2_ + delta * delta * n * m / (n + m);
    s->count += o->count;
    s->sum += o->sum;
    s->min = s->min != s->min || o->min != o->min ? NAN : fmin(s->min, o->min);
    s->max = s->max != s->max || o->max != o->max ? NAN : fmax(s->max, o->max);
}

static void stat_finish(ember_stat_counter *s)
{
    double n = (double)s->count;
    if (s->count == 0) {
        s->mean = s->variance = s->stdev = NAN;
    } else {
        s->variance = s->m2_ / n;
        s->stdev = sqrt(s->variance);
    }
    s->sample_variance = s->count < 2 ? NAN : s->m2_ / (n - 1);
    s->sample_stdev = sqrt(s->sample_variance);
}

static void stat_zero(ember_stat_counter *s)
{
    *s = (ember_stat_counter){.min = INFINITY, .max = -INFINITY};
}

static int stats_push(ember_out *self, const ember_rec *rec)
{
    num_state *s = self->state;
    ember__task *t = self->task;
    const num_args *a = t->job->arg;
    double x = 0;
    int64_t i = 0;
    t->records_out++;
    if (num_value(t, a, rec->val, &x, &i))
        return t->fail_code;
    stat_add(&s->st, x);
    if (a->num == EMBER_NUM_I64 && __builtin_add_overflow(s->isum, i, &s->isum))
        return ember__task_fail(t, EMBER_ERANGE, "%s: the int64 sum overflows", a->op);
    return 0;
}

static int stats_reset(void *state, const ember__job *job)
{
    (void)job;
    num_state *s = state;
    stat_zero(&s->st);
    s->isum = 0;
    return 0;
}

/* The counter and the int64 sum as their bytes: every rank runs the same build. */
static int stats_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    const num_state *s = state;
    ember__wr w = ember__wr_to(out);
    ember__wr_bytes(&w, &s->st, sizeof s->st);
    ember__wr_i(&w, s->isum);
    return w.err;
}

static int stats_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    num_state *s = state;
    ember__rd r = ember__rd_of(in);
    ember__rd_fixed(&r, &s->st, sizeof s->st);
    s->isum = ember__rd_i(&r);
    return r.err;
}

static const ember__sink_ops stats_sink = {.state_size = sizeof(num_state),
                                           .push = stats_push,
                                           .reset = stats_reset,
                                           .pack = stats_pack,
                                           .unpack = stats_unpack};

int ember__stats_run(ember_rdd *rdd, const char *op, ember_num num, const int *parts, int nparts,
                     ember_stat_counter *out, int64_t *isum)
{
    int rc = 0;
    if (num != EMBER_NUM_I64 && num != EMBER_NUM_F64)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: num must be EMBER_NUM_I64 or _F64", op);
    num_args a = {.num = num, .op = op};
    ember__job *job;
    if ((rc = ember__job_run(rdd, op, &stats_sink, &a, parts, nparts, &job)))
        return rc;
    ember_stat_counter st;
    stat_zero(&st);
    int64_t sum = 0;
    for (int i = 0; i < job->ntasks; i++) {
        num_state *s = ember__job_state(job, i);
        ember__stat_merge(&st, &s->st);
        if (__builtin_add_overflow(sum, s->isum, &sum) && !rc)
            rc = ember__err(rdd->ctx, EMBER_ERANGE, "%s: the int64 sum overflows", op);
    }
    stat_finish(&st);
    if (!rc) {
        *out = st;
        if (isum)
            *isum = sum;
    }
    return ember__job_end(job, rc);
}

static int run_stats(ember_rdd *rdd, const char *op, ember_num num, ember_stat_counter *out,
                     int64_t *isum)
{
    int rc = ember__action_begin(rdd, op);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, ember__stats_run(rdd, op, num, NULL, 0, out, isum));
}

int ember_stats(ember_rdd *rdd, ember_num num, ember_stat_counter *out)
{
    ember_stat_counter st;
    int rc = run_stats(rdd, "stats", num, &st, NULL);
    if (!rc && out)
        *out = st;
    return rc;
}

int ember_sum_i64_values(ember_rdd *rdd, int64_t *out)
{
    ember_stat_counter st;
    int64_t sum = 0;
    int rc = run_stats(rdd, "sum", EMBER_NUM_I64, &st, &sum);
    if (!rc && out)
        *out = sum;
    return rc;
}

enum { S_SUM, S_MEAN, S_VAR, S_STDEV, S_SVAR, S_SSTDEV };

static int one_stat(ember_rdd *rdd, const char *op, ember_num num, int which, double *out)
{
    ember_stat_counter st;
    int rc = run_stats(rdd, op, num, &st, NULL);
    if (rc)
        return rc;
    double v[] = {st.sum, st.mean, st.variance, st.stdev, st.sample_variance, st.sample_stdev};
    if (out)
        *out = v[which];
    return 0;
}

int ember_sum(ember_rdd *rdd, ember_num num, double *out)
{
    return one_stat(rdd, "sum", num, S_SUM, out);
}

int ember_mean(ember_rdd *rdd, ember_num num, double *out)
{
    return one_stat(rdd, "mean", num, S_MEAN, out);
}

int ember_variance(ember_rdd *rdd, ember_num num, double *out)
{
    return one_stat(rdd, "variance", num, S_VAR, out);
}

int ember_stdev(ember_rdd *rdd, ember_num num, double *out)
{
    return one_stat(rdd, "stdev", num, S_STDEV, out);
}

int ember_sample_variance(ember_rdd *rdd, ember_num num, double *out)
{
    return one_stat(rdd, "sample_variance", num, S_SVAR, out);
}

int ember_sample_stdev(ember_rdd *rdd, ember_num num, double *out)
{
    return one_stat(rdd, "sample_stdev", num, S_SSTDEV, out);
}

/* ---------------------------------------------------------------- histogram */

/* Spark's bucket rule: [e_i, e_i+1), the last bucket closed; outside and NaN: none. */
static long bucket_of(const num_args *a, double x)
{
    const double *e = a->edges;
    size_t n = a->nbuckets;
    if (x != x || x < e[0] || x > e[n])
        return -1;
    if (a->even) {
        if (e[n] == e[0])
            return 0;
        size_t b = (size_t)((x - e[0]) / (e[n] - e[0]) * (double)n);
        return (long)(b < n ? b : n - 1);
    }
    size_t lo = 0, hi = n; /* the last edge <= x */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (e[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return (long)lo;
}

static int hist_push(ember_out *self, const ember_rec *rec)
{
    num_state *s = self->state;
    ember__task *t = self->task;
    const num_args *a = t->job->arg;
    double x = 0;
    int64_t i = 0;
    t->records_out++;
    if (num_value(t, a, rec->val, &x, &i))
        return t->fail_code;
    long b = bucket_of(a, x);
    if (b >= 0)
        s->counts[b]++;
    return 0;
}

static int hist_reset(void *state, const ember__job *job)
{
    num_state *s = state;
    const num_args *a = job->arg;
    if (!s->counts && !(s->counts = ember__calloc(a->nbuckets, sizeof *s->counts)))
        return EMBER_ENOMEM;
    memset(s->counts, 0, a->nbuckets * sizeof *s->counts);
    return 0;
}

static void hist_destroy(void *state)
{
    ember__free(((num_state *)state)->counts);
}

static int hist_pack(const void *state, const ember__job *job, ember_buf *out)
{
    const num_state *s = state;
    const num_args *a = job->arg;
    ember__wr w = ember__wr_to(out);
    ember__wr_bytes(&w, s->counts, a->nbuckets * sizeof *s->counts);
    return w.err;
}

static int hist_unpack(void *state, const ember__job *job, ember_bytes in)
{
    num_state *s = state;
    const num_args *a = job->arg;
    ember__rd r = ember__rd_of(in);
    ember__rd_fixed(&r, s->counts, a->nbuckets * sizeof *s->counts);
    return r.err;
}

static const ember__sink_ops hist_sink = {.state_size = sizeof(num_state),
                                          .push = hist_push,
                                          .reset = hist_reset,
                                          .destroy = hist_destroy,
                                          .pack = hist_pack,
                                          .unpack = hist_unpack};

static int run_histogram(ember_rdd *rdd, const char *op, num_args *a, ember_histogram *out)
{
    ember__job *job;
    int rc = ember__job_run(rdd, op, &hist_sink, a, NULL, 0, &job);
    if (rc)
        return rc;
    double *edges = ember__malloc((a->nbuckets + 1) * sizeof *edges);
    int64_t *counts = ember__calloc(a->nbuckets, sizeof *counts);
    if (!edges || !counts) {
        ember__free(edges);
        ember__free(counts);
        return ember__job_end(job, ember__gather_nomem(rdd->ctx, op));
    }
    memcpy(edges, a->edges, (a->nbuckets + 1) * sizeof *edges);
    for (int i = 0; i < job->ntasks; i++) {
        num_state *s = ember__job_state(job, i);
        for (size_t b = 0; b < a->nbuckets; b++)
            counts[b] += s->counts[b];
    }
    *out = (ember_histogram){a->nbuckets, edges, counts};
    return ember__job_end(job, 0);
}

static int histogram_edges_run(ember_rdd *rdd, ember_num num, const double *edges, size_t nedges,
                               ember_histogram *out)
{
    const char *op = "histogram";
    if (!out || !edges)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: edges or out is NULL", op);
    if (num != EMBER_NUM_I64 && num != EMBER_NUM_F64)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: num must be EMBER_NUM_I64 or _F64", op);
    if (nedges < 2)
        return ember__err(rdd->ctx, EMBER_EINVAL, "%s: buckets need at least 2 edges (got %zu)", op,
                          nedges);
    for (size_t i = 0; i < nedges; i++)
        if (edges[i] != edges[i] || (i && !(edges[i] > edges[i - 1])))
            return ember__err(rdd->ctx, EMBER_EINVAL,
                              "%s: edges must be increasing numbers (edge %zu is %g)", op, i,
                              edges[i]);
    num_args a = {.num = num, .op = op, .nbuckets = nedges - 1, .edges = edges};
    return run_histogram(rdd, op, &a, out);
}

int ember_histogram_edges(ember_rdd *rdd, ember_num num, const double *edges, size_t nedges,
                          ember_histogram *out)
{
    const char *op = "histogram";
    int rc = ember__action_begin(rdd, op);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, histogram_edges_run(rdd, num, edges, nedges, out));
}

static int ember_histogram_even_run(ember_rdd *rdd, ember_num num, size_t nbuckets,
                                    ember_histogram *out)
{
    const char *op = "histogram";
    int rc = 0;
    if (!out || nbuckets == 0 || nbuckets > (1u << 30))
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "%s: out is NULL or the bucket count %zu is not in 1..2^30", op,
                          nbuckets);
    ember_stat_counter st;
    if ((rc = run_stats(rdd, op, num, &st, NULL)))
        return rc;
    if (st.count == 0)
        return ember__err(rdd->ctx, EMBER_EEMPTY, "%s: the rdd is empty", op);
    if (st.min != st.min || st.max != st.max || isinf(st.min) || isinf(st.max))
        return ember__err(rdd->ctx, EMBER_ERANGE,
                          "%s: the rdd holds NaN or an infinity; buckets cannot be spaced", op);
    double *edges;
    size_t n = st.min == st.max ? 1 : nbuckets;
    if (!(edges = ember__malloc((n + 1) * sizeof *edges)))
        return ember__gather_nomem(rdd->ctx, op);
    for (size_t i = 0; i < n; i++) /* Spark's customRange: min + i * span / n, then max */
        edges[i] = st.min + (double)i * (st.max - st.min) / (double)n;
    edges[n] = st.max;
    num_args a = {.num = num, .op = op, .nbuckets = n, .edges = edges, .even = true};
    rc = run_histogram(rdd, op, &a, out);
    ember__free(edges);
    return rc;
}

int ember_histogram_even(ember_rdd *rdd, ember_num num, size_t nbuckets, ember_histogram *out)
{
    const char *op = "histogram";
    int rc = ember__action_begin(rdd, op);
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, ember_histogram_even_run(rdd, num, nbuckets, out));
}

void ember_histogram_destroy(ember_histogram *h)
{
    if (!h)
        return;
    ember__free(h->edges);
    ember__free(h->counts);
    *h = (ember_histogram){0};
}
