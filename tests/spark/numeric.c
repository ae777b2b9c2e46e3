/* Numeric actions against Spark's StatCounter and histogram rules. */
#include <math.h>

#include "support.h"

static ember_rdd *doubles(ember_ctx *ctx, const double *v, size_t n, int parts)
{
    ember_bytes *items = calloc(n + 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = ember_bytes_of(&v[i], sizeof v[i]);
    ember_rdd *r = ember_parallelize(ctx, items, n, parts);
    free(items);
    return r;
}

static void test_stats_match_a_direct_computation(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    enum { N = 1000 };
    static double v[N];
    double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) {
        v[i] = sin(i) * 100.0 + (i % 7);
        sum += v[i];
    }
    double mean = sum / N;
    for (int i = 0; i < N; i++)
        sq += (v[i] - mean) * (v[i] - mean);
    ember_stat_counter st;
    assert_int_equal(ember_stats(doubles(ctx, v, N, 7), EMBER_NUM_F64, &st), 0);
    assert_int_equal(st.count, N);
    assert_float_equal(st.sum, sum, 1e-9 * fabs(sum) + 1e-9);
    assert_float_equal(st.mean, mean, 1e-9);
    assert_float_equal(st.variance, sq / N, 1e-9);
    assert_float_equal(st.sample_variance, sq / (N - 1), 1e-9);
    assert_float_equal(st.stdev, sqrt(sq / N), 1e-9);
    double d;
    assert_int_equal(ember_sample_stdev(doubles(ctx, v, N, 3), EMBER_NUM_F64, &d), 0);
    assert_float_equal(d, sqrt(sq / (N - 1)), 1e-9);
    /* integers: sc.parallelize([1,2,3,4]).variance() == 1.25, sampleVariance 5/3 */
    ember_rdd *ints = ember_range(ctx, 1, 5, 1, 2);
    assert_int_equal(ember_variance(ints, EMBER_NUM_I64, &d), 0);
    assert_float_equal(d, 1.25, 1e-12);
    assert_int_equal(ember_sample_variance(ints, EMBER_NUM_I64, &d), 0);
    assert_float_equal(d, 5.0 / 3.0, 1e-12);
    assert_int_equal(ember_mean(ints, EMBER_NUM_I64, &d), 0);
    assert_float_equal(d, 2.5, 1e-12);
    assert_int_equal(ember_stdev(ints, EMBER_NUM_I64, &d), 0);
    assert_float_equal(d, sqrt(1.25), 1e-12);
    assert_int_equal(ember_sum(ints, EMBER_NUM_I64, &d), 0);
    assert_float_equal(d, 10, 0);
    int64_t isum;
    assert_int_equal(ember_sum_i64_values(ints, &isum), 0);
    assert_int_equal(isum, 10);
    ember_close(ctx);
}

static void test_empty_and_one(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_stat_counter st;
    assert_int_equal(ember_stats(ember_range(ctx, 0, 0, 1, 3), EMBER_NUM_I64, &st), 0);
    assert_int_equal(st.count, 0);
    assert_true(st.sum == 0);
    assert_true(isnan(st.mean));
    assert_true(isinf(st.min) && st.min > 0);
    assert_true(isinf(st.max) && st.max < 0);
    assert_int_equal(ember_stats(ember_range(ctx, 4, 5, 1, 3), EMBER_NUM_I64, &st), 0);
    assert_true(st.variance == 0);
    assert_true(isnan(st.sample_variance)); /* n - 1 == 0 */
    ember_close(ctx);
}

static void test_sum_overflow_and_wrong_sizes(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[] = {INT64_MAX, 1}, s;
    assert_int_equal(ember_sum_i64_values(ember_parallelize_i64(ctx, v, 2, 1), &s), EMBER_ERANGE);
    assert_msg(ctx, "overflows");
    assert_int_equal(ember_sum_i64_values(ember_parallelize_i64(ctx, v, 2, 2), &s), EMBER_ERANGE);
    ember_bytes w[] = {B("abc")};
    double d;
    assert_int_equal(ember_mean(ember_parallelize(ctx, w, 1, 1), EMBER_NUM_F64, &d), EMBER_EINVAL);
    assert_msg(ctx, "3 bytes");
    assert_msg(ctx, "partition 0");
    ember_close(ctx);
}

static void check_hist(const ember_histogram *h, const double *edges, const int64_t *counts,
                       size_t n)
{
    assert_int_equal(h->nbuckets, n);
    for (size_t i = 0; i <= n; i++)
        assert_float_equal(h->edges[i], edges[i], 1e-12);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(h->counts[i], counts[i]);
}

static void test_histogram(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_histogram h;
    /* pyspark docs: sc.parallelize(range(51)).histogram(2) == ([0, 25, 50], [25, 26]) */
    ember_rdd *r = ember_range(ctx, 0, 51, 1, 4);
    assert_int_equal(ember_histogram_even(r, EMBER_NUM_I64, 2, &h), 0);
    check_hist(&h, (double[]){0, 25, 50}, (int64_t[]){25, 26}, 2);
    ember_histogram_destroy(&h);
    /* histogram([0, 5, 25, 50]) == [5, 20, 26] */
    assert_int_equal(ember_histogram_edges(r, EMBER_NUM_I64, (double[]){0, 5, 25, 50}, 4, &h), 0);
    check_hist(&h, (double[]){0, 5, 25, 50}, (int64_t[]){5, 20, 26}, 3);
    ember_histogram_destroy(&h);
    /* histogram([0, 15, 30, 45, 60]) == [15, 15, 15, 6] */
    assert_int_equal(ember_histogram_edges(r, EMBER_NUM_I64, (double[]){0, 15, 30, 45, 60}, 5, &h),
                     0);
    check_hist(&h, (double[]){0, 15, 30, 45, 60}, (int64_t[]){15, 15, 15, 6}, 4);
    ember_histogram_destroy(&h);
    /* values outside the edges are not counted; the last edge is inside */
    double v[] = {-1, 0, 1, 9.5, 10, 10.5};
    assert_int_equal(
        ember_histogram_edges(doubles(ctx, v, 6, 2), EMBER_NUM_F64, (double[]){0, 5, 10}, 3, &h),
        0);
    check_hist(&h, (double[]){0, 5, 10}, (int64_t[]){2, 2}, 2);
    ember_histogram_destroy(&h);
    /* all equal: one bucket [m, m] */
    double same[] = {3, 3, 3};
    assert_int_equal(ember_histogram_even(doubles(ctx, same, 3, 2), EMBER_NUM_F64, 4, &h), 0);
    check_hist(&h, (double[]){3, 3}, (int64_t[]){3}, 1);
    ember_histogram_destroy(&h);
    /* Spark's errors */
    assert_int_equal(ember_histogram_even(ember_range(ctx, 0, 0, 1, 2), EMBER_NUM_I64, 2, &h),
                     EMBER_EEMPTY);
    double bad[] = {1, NAN};
    assert_int_equal(ember_histogram_even(doubles(ctx, bad, 2, 1), EMBER_NUM_F64, 2, &h),
                     EMBER_ERANGE);
    double inf[] = {1, INFINITY};
    assert_int_equal(ember_histogram_even(doubles(ctx, inf, 2, 1), EMBER_NUM_F64, 2, &h),
                     EMBER_ERANGE);
    assert_int_equal(ember_histogram_edges(r, EMBER_NUM_I64, (double[]){0}, 1, &h), EMBER_EINVAL);
    assert_int_equal(ember_histogram_edges(r, EMBER_NUM_I64, (double[]){0, 5, 5}, 3, &h),
                     EMBER_EINVAL);
    assert_int_equal(ember_histogram_even(r, EMBER_NUM_I64, 0, &h), EMBER_EINVAL);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_match_a_direct_computation),
        cmocka_unit_test(test_empty_and_one),
        cmocka_unit_test(test_sum_overflow_and_wrong_sizes),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
