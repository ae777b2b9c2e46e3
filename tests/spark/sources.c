/* Sources against Spark: parallelize's slicing, range, empty inputs. */
#include "support.h"

static void test_parallelize_slices_as_spark(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, sizes[8], got[10];
    /* sc.parallelize(range(10), 3).glom() == [[0,1,2],[3,4,5],[6,7,8,9]] */
    ember_rdd *r = ember_parallelize_i64(ctx, v, 10, 3);
    assert_int_equal(partition_sizes(r, sizes, 8), 3);
    assert_int_equal(sizes[0], 3);
    assert_int_equal(sizes[1], 3);
    assert_int_equal(sizes[2], 4);
    assert_int_equal(collect_i64(r, got, 10), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(got[i], i);
    /* fewer items than partitions: sc.parallelize([0,1,2], 5).glom() == [[],[0],[],[1],[2]] */
    r = ember_parallelize_i64(ctx, v, 3, 5);
    assert_int_equal(partition_sizes(r, sizes, 8), 5);
    int64_t expect[] = {0, 1, 0, 1, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(sizes[i], expect[i]);
    assert_int_equal(ember_num_partitions(r), 5);
    ember_close(ctx);
}

static void test_parallelize_bytes_and_pairs(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_bytes items[] = {B("a"), B(""), B("ccc")};
    ember_result *res;
    assert_int_equal(ember_collect(ember_parallelize(ctx, items, 3, 2), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    assert_bytes(ember_result_at(res, 0).val, "a");
    assert_bytes(ember_result_at(res, 1).val, "");
    assert_bytes(ember_result_at(res, 2).val, "ccc");
    assert_null(ember_result_at(res, 0).key.ptr);
    assert_null(ember_result_at(res, 9).val.ptr); /* out of range: empty */
    ember_result_free(res);

    ember_rec pairs[] = {{B("k1"), B("v1")}, {B("k2"), B("v2")}};
    assert_int_equal(ember_collect(ember_parallelize_pairs(ctx, pairs, 2, 4), &res), 0);
    assert_int_equal(ember_result_len(res), 2);
    assert_bytes(ember_result_at(res, 1).key, "k2");
    assert_bytes(ember_result_at(res, 1).val, "v2");
    ember_result_free(res);
    ember_close(ctx);
}

static void test_range(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t got[16], sizes[8];
    /* sc.range(0, 10, 3) == [0, 3, 6, 9] */
    assert_int_equal(collect_i64(ember_range(ctx, 0, 10, 3, 2), got, 16), 4);
    assert_int_equal(got[3], 9);
    /* a negative step counts down, end excluded */
    assert_int_equal(collect_i64(ember_range(ctx, 10, 0, -3, 3), got, 16), 4);
    assert_int_equal(got[0], 10);
    assert_int_equal(got[3], 1);
    /* empty ranges */
    assert_int_equal(count_of(ember_range(ctx, 5, 5, 1, 3)), 0);
    assert_int_equal(count_of(ember_range(ctx, 5, 0, 1, 3)), 0);
    /* the edges of int64 */
    assert_int_equal(collect_i64(ember_range(ctx, INT64_MAX - 2, INT64_MAX, 1, 2), got, 16), 2);
    assert_int_equal(got[1], INT64_MAX - 1);
    assert_int_equal(count_of(ember_range(ctx, INT64_MIN, INT64_MAX, INT64_MAX, 2)), 3);
    /* 3 items in 5 partitions slice as parallelize does */
    assert_int_equal(partition_sizes(ember_range(ctx, 0, 3, 1, 5), sizes, 8), 5);
    assert_int_equal(sizes[0], 0);
    assert_int_equal(sizes[4], 1);
    /* one partition, many items */
    assert_int_equal(count_of(ember_range(ctx, 0, 100000, 1, 1)), 100000);
    ember_close(ctx);
}

static void test_empty_sources(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t sizes[8];
    ember_rdd *r = ember_parallelize_i64(ctx, NULL, 0, 3);
    assert_int_equal(count_of(r), 0);
    /* glom of empty partitions: one empty list each */
    assert_int_equal(partition_sizes(r, sizes, 8), 3);
    assert_int_equal(sizes[0] + sizes[1] + sizes[2], 0);
    bool empty = false;
    assert_int_equal(ember_is_empty(r, &empty), 0);
    assert_true(empty);
    ember_close(ctx);
}

static void test_bad_arguments(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[2] = {1, 2}, n;
    assert_int_equal(ember_count(ember_parallelize_i64(ctx, v, 2, 0), &n), EMBER_EINVAL);
    assert_msg(ctx, "partitions must be > 0");
    assert_int_equal(ember_count(ember_range(ctx, 0, 10, 1, -2), &n), EMBER_EINVAL);
    assert_int_equal(ember_count(ember_range(ctx, 0, 10, 0, 2), &n), EMBER_EINVAL);
    assert_msg(ctx, "step cannot be 0");
    assert_int_equal(ember_count(ember_parallelize_i64(ctx, NULL, 2, 2), &n), EMBER_EINVAL);
    assert_msg(ctx, "NULL");
    ember_bytes bad[] = {{NULL, 4}};
    assert_int_equal(ember_count(ember_parallelize(ctx, bad, 1, 1), &n), EMBER_EINVAL);
    assert_null(ember_parallelize_i64(NULL, v, 2, 2));
    assert_non_null(strstr(ember_errmsg(NULL), "ctx is NULL"));
    /* the context stays usable */
    assert_int_equal(count_of(ember_parallelize_i64(ctx, v, 2, 2)), 2);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallelize_slices_as_spark),
        cmocka_unit_test(test_parallelize_bytes_and_pairs),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_empty_sources),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
