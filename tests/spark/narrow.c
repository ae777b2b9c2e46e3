/* Narrow transformations against Spark's semantics. */
#include "support.h"

static int square(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    return ember_emit_i64(out, v * v);
}

/* x -> x copies of x (Spark: flatMap(lambda x: [x] * x)) */
static int repeat(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    for (int64_t i = 0; i < v; i++) {
        int rc = ember_emit_i64(out, v);
        if (rc)
            return rc;
    }
    return 0;
}

static int is_odd(ember_rec in, void *arg)
{
    return ember_i64(in.val) % 2 != 0;
}

static ember_rdd *nums(ember_ctx *ctx, int64_t n, int parts)
{
    return ember_range(ctx, 0, n, 1, parts);
}

static void test_map_flat_map_filter(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t got[64];
    assert_int_equal(collect_i64(ember_map(nums(ctx, 5, 2), square, NULL), got, 64), 5);
    assert_int_equal(got[4], 16);
    /* [0,1,2,3] -> [1,2,2,3,3,3] */
    assert_int_equal(collect_i64(ember_flat_map(nums(ctx, 4, 3), repeat, NULL), got, 64), 6);
    int64_t expect[] = {1, 2, 2, 3, 3, 3};
    assert_memory_equal(got, expect, sizeof expect);
    assert_int_equal(collect_i64(ember_filter(nums(ctx, 10, 4), is_odd, NULL), got, 64), 5);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[4], 9);
    /* on an empty rdd and more partitions than items */
    assert_int_equal(count_of(ember_map(nums(ctx, 0, 3), square, NULL)), 0);
    assert_int_equal(count_of(ember_map(nums(ctx, 2, 8), square, NULL)), 2);
    ember_close(ctx);
}

static int twice(ember_rec in, ember_out *out, void *arg)
{
    int rc = ember_emit_rec(out, in);
    return rc ? rc : ember_emit_rec(out, in);
}

static void test_map_emits_exactly_one(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t n;
    assert_int_equal(ember_count(ember_map(nums(ctx, 3, 1), twice, NULL), &n), EMBER_EINVAL);
    assert_msg(ctx, "use flat_map");
    ember_close(ctx);
}

static int index_and_size(ember_iter *in, ember_out *out, int index, void *arg)
{
    ember_rec r;
    int64_t n = 0;
    int rc;
    while ((rc = ember_iter_next(in, &r)) == 1)
        n++;
    if (rc < 0)
        return rc;
    return ember_emit_i64(out, index * 1000 + n);
}

static void test_map_partitions_with_index(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t got[8];
    /* range(10) in 3: sizes 3, 3, 4 */
    assert_int_equal(
        collect_i64(ember_map_partitions(nums(ctx, 10, 3), index_and_size, NULL), got, 8), 3);
    assert_int_equal(got[0], 3);
    assert_int_equal(got[1], 1003);
    assert_int_equal(got[2], 2004);
    /* over a pipeline (gathered) and over parallelize (read in place) */
    assert_int_equal(collect_i64(ember_map_partitions(ember_filter(nums(ctx, 10, 2), is_odd, NULL),
                                                      index_and_size, NULL),
                                 got, 8),
                     2);
    assert_int_equal(got[0] + got[1], 1000 + 5);
    int64_t v[] = {1, 2, 3};
    assert_int_equal(
        collect_i64(ember_map_partitions(ember_parallelize_i64(ctx, v, 3, 2), index_and_size, NULL),
                    got, 8),
        2);
    assert_int_equal(got[1], 1002);
    ember_close(ctx);
}

static int upper(ember_rec in, ember_out *out, void *arg)
{
    char buf[64];
    assert_null(in.key.ptr); /* map_values sees the value alone */
    for (size_t i = 0; i < in.val.len; i++)
        buf[i] = (char)(((const char *)in.val.ptr)[i] - 32);
    return ember_emit(out, ember_bytes_of(buf, in.val.len));
}

static int letters(ember_rec in, ember_out *out, void *arg)
{
    for (size_t i = 0; i < in.val.len; i++) {
        int rc = ember_emit(out, ember_bytes_of((const char *)in.val.ptr + i, 1));
        if (rc)
            return rc;
    }
    return 0;
}

static int first_letter(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, ember_bytes_of(in.val.ptr, 1));
}

static void test_pair_transformations(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rec pairs[] = {{B("a"), B("xy")}, {B("b"), B("z")}};
    ember_rdd *p = ember_parallelize_pairs(ctx, pairs, 2, 2);
    ember_result *res;
    /* mapValues keeps the key */
    assert_int_equal(ember_collect(ember_map_values(p, upper, NULL), &res), 0);
    assert_bytes(ember_result_at(res, 0).key, "a");
    assert_bytes(ember_result_at(res, 0).val, "XY");
    ember_result_free(res);
    /* flatMapValues: [("a","x"),("a","y"),("b","z")] */
    assert_int_equal(ember_collect(ember_flat_map_values(p, letters, NULL), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    assert_bytes(ember_result_at(res, 1).key, "a");
    assert_bytes(ember_result_at(res, 1).val, "y");
    ember_result_free(res);
    /* keys, values */
    assert_int_equal(ember_collect(ember_keys(p), &res), 0);
    assert_bytes(ember_result_at(res, 1).val, "b");
    assert_null(ember_result_at(res, 1).key.ptr);
    ember_result_free(res);
    assert_int_equal(ember_collect(ember_values(p), &res), 0);
    assert_bytes(ember_result_at(res, 0).val, "xy");
    ember_result_free(res);
    /* keyBy(f): (f(x), x) */
    ember_bytes words[] = {B("apple"), B("berry")};
    assert_int_equal(
        ember_collect(ember_key_by(ember_parallelize(ctx, words, 2, 1), first_letter, NULL), &res),
        0);
    assert_bytes(ember_result_at(res, 1).key, "b");
    assert_bytes(ember_result_at(res, 1).val, "berry");
    ember_result_free(res);
    /* keys of records without keys fail the task */
    int64_t n;
    assert_int_equal(ember_count(ember_keys(nums(ctx, 3, 1)), &n), EMBER_EINVAL);
    assert_msg(ctx, "no key");
    ember_close(ctx);
}

static void test_union_glom_coalesce(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t got[32], sizes[16];
    ember_rdd *u = ember_union(nums(ctx, 3, 2), ember_range(ctx, 10, 13, 1, 3));
    assert_int_equal(ember_num_partitions(u), 5);
    assert_int_equal(collect_i64(u, got, 32), 6);
    int64_t expect[] = {0, 1, 2, 10, 11, 12};
    assert_memory_equal(got, expect, sizeof expect);
    /* union with itself */
    ember_rdd *a = nums(ctx, 4, 2);
    assert_int_equal(count_of(ember_union(a, a)), 8);
    /* coalesce(3) of 10 partitions merges neighbours, keeps order */
    ember_rdd *c = ember_coalesce(nums(ctx, 20, 10), 3);
    assert_int_equal(ember_num_partitions(c), 3);
    assert_int_equal(partition_sizes(c, sizes, 16), 3);
    assert_int_equal(sizes[0], 6); /* parent partitions 0..2 */
    assert_int_equal(sizes[1], 6); /* 3..5 */
    assert_int_equal(sizes[2], 8); /* 6..9 */
    assert_int_equal(collect_i64(c, got, 32), 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(got[i], i);
    /* no shuffle: more partitions than the parent's keeps the parent's */
    assert_int_equal(ember_num_partitions(ember_coalesce(nums(ctx, 20, 4), 9)), 4);
    ember_close(ctx);
}

static void test_sample(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *base = nums(ctx, 100000, 4);
    int64_t n1 = count_of(ember_sample(base, false, 0.1, 42));
    int64_t n2 = count_of(ember_sample(base, false, 0.1, 42));
    assert_int_equal(n1, n2); /* the same seed, the same sample */
    assert_true(n1 > 9000 && n1 < 11000);
    assert_true(count_of(ember_sample(base, false, 0.1, 43)) != n1 ||
                count_of(ember_sample(base, false, 0.1, 44)) != n1);
    assert_int_equal(count_of(ember_sample(base, false, 0.0, 1)), 0);
    assert_int_equal(count_of(ember_sample(base, false, 1.0, 1)), 100000);
    /* with replacement: Poisson(fraction) copies, so fractions above 1 are fine */
    int64_t n3 = count_of(ember_sample(base, true, 2.0, 7));
    assert_true(n3 > 195000 && n3 < 205000);
    /* the same sample at any parallelism */
    ember_ctx *one = open_ctx("local[1]");
    assert_int_equal(count_of(ember_sample(nums(one, 100000, 4), false, 0.1, 42)), n1);
    ember_close(one);
    int64_t n;
    assert_int_equal(ember_count(ember_sample(base, false, 1.5, 1), &n), EMBER_EINVAL);
    assert_int_equal(ember_count(ember_sample(base, true, -1, 1), &n), EMBER_EINVAL);
    ember_close(ctx);
}

static void test_zip_with_index(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* across empty partitions and uneven ones: indices follow the order */
    ember_rdd *z = ember_zip_with_index(ember_filter(nums(ctx, 30, 7), is_odd, NULL));
    ember_result *res;
    assert_int_equal(ember_collect(z, &res), 0);
    assert_int_equal(ember_result_len(res), 15);
    for (size_t i = 0; i < 15; i++) {
        ember_rec r = ember_result_at(res, i);
        assert_int_equal(ember_i64(r.key), 2 * (int64_t)i + 1);
        assert_int_equal(ember_i64(r.val), (int64_t)i);
    }
    ember_result_free(res);
    /* the partition counts are a job of their own, run once */
    int64_t jobs = ember_job_count(ctx);
    assert_int_equal(count_of(z), 15);
    assert_int_equal(ember_job_count(ctx), jobs + 1);
    ember_close(ctx);
}

static int counting_square(ember_rec in, ember_out *out, void *arg)
{
    int rc = ember_accumulator_add_i64(arg, 1);
    return rc ? rc : square(in, out, NULL);
}

static void test_cache(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_accumulator *calls = ember_accumulator_i64(ctx, 0);
    ember_rdd *r = ember_cache(ember_map(nums(ctx, 100, 4), counting_square, calls));
    int64_t got[100], n;
    assert_int_equal(count_of(r), 100);
    assert_int_equal(collect_i64(r, got, 100), 100);
    assert_int_equal(got[99], 99 * 99);
    assert_int_equal(ember_accumulator_value_i64(calls, &n), 0);
    assert_int_equal(n, 100); /* computed once, read from memory after */
    /* a child of a cached rdd reads the cache too */
    assert_int_equal(count_of(ember_filter(r, is_odd, NULL)), 50);
    assert_int_equal(ember_accumulator_value_i64(calls, &n), 0);
    assert_int_equal(n, 100);
    assert_int_equal(ember_unpersist(r), 0);
    assert_int_equal(count_of(r), 100);
    assert_int_equal(ember_accumulator_value_i64(calls, &n), 0);
    assert_int_equal(n, 200); /* computed again */
    ember_close(ctx);
}

static void test_cartesian(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_bytes xs[] = {B("1"), B("2")}, ys[] = {B("x"), B("y"), B("z")};
    ember_rdd *c =
        ember_cartesian(ember_parallelize(ctx, xs, 2, 2), ember_parallelize(ctx, ys, 3, 2));
    assert_int_equal(ember_num_partitions(c), 4);
    ember_result *res;
    assert_int_equal(ember_collect(c, &res), 0);
    /* partition i * 2 + j: (1, x) (1, y) | (1, z) | (2, x) (2, y) | (2, z) */
    const char *expect[] = {"1x", "1y", "1z", "2x", "2y", "2z"};
    assert_int_equal(ember_result_len(res), 6);
    for (size_t i = 0; i < 6; i++) {
        ember_rec r = ember_result_at(res, i);
        char got[3] = {*(const char *)r.key.ptr, *(const char *)r.val.ptr, 0};
        assert_string_equal(got, expect[i]);
    }
    ember_result_free(res);
    assert_int_equal(
        count_of(ember_cartesian(ember_range(ctx, 0, 0, 1, 2), ember_range(ctx, 0, 5, 1, 2))), 0);
    ember_rec p[] = {{B("k"), B("v")}};
    int64_t n;
    assert_int_equal(ember_count(ember_cartesian(ember_parallelize_pairs(ctx, p, 1, 1),
                                                 ember_range(ctx, 0, 2, 1, 1)),
                                 &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "cartesian: a record has a key");
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_flat_map_filter),
        cmocka_unit_test(test_map_emits_exactly_one),
        cmocka_unit_test(test_map_partitions_with_index),
        cmocka_unit_test(test_pair_transformations),
        cmocka_unit_test(test_union_glom_coalesce),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_zip_with_index),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cartesian),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
