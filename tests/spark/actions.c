/* Actions against Spark's semantics. */
#include "support.h"

static ember_rdd *nums(ember_ctx *ctx, int64_t lo, int64_t hi, int parts)
{
    return ember_range(ctx, lo, hi, 1, parts);
}

static int note_partition(ember_iter *in, ember_out *out, int index, void *arg)
{
    int rc = ember_accumulator_add_i64(arg, (int64_t)1 << index);
    ember_rec r;
    while (!rc && (rc = ember_iter_next(in, &r)) == 1)
        rc = ember_emit_rec(out, r);
    return rc < 0 ? rc : 0;
}

static void test_take_scans_only_what_it_needs(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_accumulator *seen = ember_accumulator_i64(ctx, 0);
    ember_result *res;
    int64_t mask;
    /* take(3) of 10 full partitions: partition 0 only */
    assert_int_equal(
        ember_take(ember_map_partitions(nums(ctx, 0, 100, 10), note_partition, seen), 3, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    assert_int_equal(ember_i64(ember_result_at(res, 2).val), 2);
    ember_result_free(res);
    assert_int_equal(ember_accumulator_value_i64(seen, &mask), 0);
    assert_int_equal(mask, 1);

    /* data only in the last partitions: 1, then 4 more, then the rest (x4 each round) */
    ember_accumulator *seen2 = ember_accumulator_i64(ctx, 0);
    int64_t v[] = {7, 8};
    ember_rdd *late =
        ember_map_partitions(ember_parallelize_i64(ctx, v, 2, 12), note_partition, seen2);
    int64_t jobs = ember_job_count(ctx);
    assert_int_equal(ember_take(late, 1, &res), 0);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 7);
    ember_result_free(res);
    /* parallelize puts the 2 items in partitions 5 and 11: rounds scan 0, 1..4, 5..20,
     * three stages of the action's one job */
    assert_int_equal(ember_job_count(ctx) - jobs, 1);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.nstages, 3);
    assert_int_equal(js.stages[0].tasks + js.stages[1].tasks + js.stages[2].tasks, 12);
    assert_int_equal(ember_accumulator_value_i64(seen2, &mask), 0);
    assert_int_equal(mask, (1 << 12) - 1);

    /* more than there is, and zero */
    assert_int_equal(ember_take(nums(ctx, 0, 5, 3), 100, &res), 0);
    assert_int_equal(ember_result_len(res), 5);
    ember_result_free(res);
    assert_int_equal(ember_take(nums(ctx, 0, 5, 3), 0, &res), 0);
    assert_int_equal(ember_result_len(res), 0);
    ember_result_free(res);
    ember_close(ctx);
}

static void test_first_count_is_empty(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_result *res;
    assert_int_equal(ember_first(nums(ctx, 5, 9, 3), &res), 0);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 5);
    ember_result_free(res);
    assert_int_equal(ember_first(nums(ctx, 0, 0, 3), &res), EMBER_EEMPTY);
    assert_msg(ctx, "empty");
    assert_int_equal(count_of(nums(ctx, 0, 12345, 7)), 12345);
    bool empty = true;
    assert_int_equal(ember_is_empty(nums(ctx, 0, 1, 9), &empty), 0);
    assert_false(empty);
    ember_close(ctx);
}

static void test_reduce_family(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_buf out;
    ember_buf_init(&out);
    assert_int_equal(ember_reduce(nums(ctx, 1, 101, 7), ember_sum_i64, NULL, &out), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), 5050);
    for (int depth = 1; depth <= 4; depth++) {
        assert_int_equal(ember_tree_reduce(nums(ctx, 1, 101, 13), ember_sum_i64, NULL, depth, &out),
                         0);
        assert_int_equal(ember_i64(ember_buf_bytes(&out)), 5050);
    }
    assert_int_equal(ember_tree_reduce(nums(ctx, 1, 10, 2), ember_sum_i64, NULL, 0, &out),
                     EMBER_EINVAL);
    /* Spark: reduce of an empty rdd is an error */
    assert_int_equal(ember_reduce(nums(ctx, 0, 0, 3), ember_sum_i64, NULL, &out), EMBER_EEMPTY);
    /* empty partitions among full ones are skipped */
    assert_int_equal(ember_reduce(nums(ctx, 1, 3, 8), ember_sum_i64, NULL, &out), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), 3);

    /* fold: zero starts every partition and the driver's combination:
       sc.parallelize([1,2,3,4], 2).fold(1, add) == 1 + (1+1+2) + (1+3+4) == 13 */
    int64_t one = 1;
    int64_t v[] = {1, 2, 3, 4};
    assert_int_equal(ember_fold(ember_parallelize_i64(ctx, v, 4, 2), ember_bytes_of(&one, 8),
                                ember_sum_i64, NULL, &out),
                     0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), 13);
    /* fold of an empty rdd with 3 partitions: 1 + 1 + 1 + 1 */
    assert_int_equal(
        ember_fold(nums(ctx, 0, 0, 3), ember_bytes_of(&one, 8), ember_sum_i64, NULL, &out), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), 4);
    /* min and max */
    assert_int_equal(ember_min(nums(ctx, -5, 6, 4), ember_cmp_i64, NULL, &out), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), -5);
    assert_int_equal(ember_max(nums(ctx, -5, 6, 4), ember_cmp_i64, NULL, &out), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), 5);
    assert_int_equal(ember_max(nums(ctx, 0, 0, 4), ember_cmp_i64, NULL, &out), EMBER_EEMPTY);
    ember_buf_destroy(&out);
    ember_close(ctx);
}

/* aggregate to (sum, count): Spark's seqOp and combOp */
static int seq(ember_bytes acc, ember_bytes v, ember_buf *res, void *arg)
{
    int64_t a[2];
    memcpy(a, acc.ptr, sizeof a);
    a[0] += ember_i64(v);
    a[1] += 1;
    return ember_buf_set(res, a, sizeof a);
}

static int comb(ember_bytes x, ember_bytes y, ember_buf *res, void *arg)
{
    int64_t a[2], b[2];
    memcpy(a, x.ptr, sizeof a);
    memcpy(b, y.ptr, sizeof b);
    a[0] += b[0];
    a[1] += b[1];
    return ember_buf_set(res, a, sizeof a);
}

static void test_aggregate(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t zero[2] = {0, 0}, got[2];
    ember_buf out;
    ember_buf_init(&out);
    assert_int_equal(ember_aggregate(nums(ctx, 1, 5, 3), ember_bytes_of(zero, sizeof zero), seq,
                                     comb, NULL, &out),
                     0);
    memcpy(got, out.ptr, sizeof got);
    assert_int_equal(got[0], 10);
    assert_int_equal(got[1], 4);
    assert_int_equal(ember_aggregate(nums(ctx, 0, 0, 3), ember_bytes_of(zero, sizeof zero), seq,
                                     comb, NULL, &out),
                     0);
    memcpy(got, out.ptr, sizeof got);
    assert_int_equal(got[1], 0);
    ember_buf_destroy(&out);
    ember_close(ctx);
}

static int add_to(ember_rec in, void *arg)
{
    return ember_accumulator_add_i64(arg, ember_i64(in.val));
}

static int sum_partition(ember_iter *in, ember_out *out, int index, void *arg)
{
    ember_rec r;
    int rc;
    int64_t s = 0;
    while ((rc = ember_iter_next(in, &r)) == 1)
        s += ember_i64(r.val);
    if (rc < 0)
        return rc;
    ember_emit_i64(out, s); /* thrown away */
    return ember_accumulator_add_i64(arg, s);
}

static void test_foreach(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_accumulator *acc = ember_accumulator_i64(ctx, 0);
    int64_t v;
    assert_int_equal(ember_foreach(nums(ctx, 1, 11, 3), add_to, acc), 0);
    assert_int_equal(ember_accumulator_value_i64(acc, &v), 0);
    assert_int_equal(v, 55);
    assert_int_equal(ember_foreach_partition(nums(ctx, 1, 11, 4), sum_partition, acc), 0);
    assert_int_equal(ember_accumulator_value_i64(acc, &v), 0);
    assert_int_equal(v, 110);
    ember_close(ctx);
}

static int reverse_cmp(ember_bytes a, ember_bytes b, void *arg)
{
    return -ember_cmp_i64(a, b, arg);
}

static void test_top_take_ordered(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[] = {10, 4, 2, 12, 3, 12, -1, 7};
    ember_rdd *r = ember_parallelize_i64(ctx, v, 8, 3);
    ember_result *res;
    /* top(3) == [12, 12, 10] */
    assert_int_equal(ember_top(r, 3, ember_cmp_i64, NULL, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 12);
    assert_int_equal(ember_i64(ember_result_at(res, 1).val), 12);
    assert_int_equal(ember_i64(ember_result_at(res, 2).val), 10);
    ember_result_free(res);
    /* takeOrdered(4) == [-1, 2, 3, 4]; with a reversed key == top */
    assert_int_equal(ember_take_ordered(r, 4, ember_cmp_i64, NULL, &res), 0);
    int64_t expect[] = {-1, 2, 3, 4};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ember_i64(ember_result_at(res, i).val), expect[i]);
    ember_result_free(res);
    assert_int_equal(ember_take_ordered(r, 2, reverse_cmp, NULL, &res), 0);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 12);
    ember_result_free(res);
    /* more than there is; none; bytes by default */
    assert_int_equal(ember_top(r, 100, ember_cmp_i64, NULL, &res), 0);
    assert_int_equal(ember_result_len(res), 8);
    ember_result_free(res);
    assert_int_equal(ember_top(r, 0, NULL, NULL, &res), 0);
    assert_int_equal(ember_result_len(res), 0);
    ember_result_free(res);
    ember_bytes w[] = {B("pear"), B("apple"), B("fig")};
    assert_int_equal(ember_take_ordered(ember_parallelize(ctx, w, 3, 2), 1, NULL, NULL, &res), 0);
    assert_bytes(ember_result_at(res, 0).val, "apple");
    ember_result_free(res);
    ember_close(ctx);
}

static void test_count_by_value(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_bytes w[] = {B("b"), B("a"), B("b"), B("c"), B("b"), B("a")};
    ember_result *res;
    assert_int_equal(ember_count_by_value(ember_parallelize(ctx, w, 6, 4), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    const char *keys[] = {"a", "b", "c"};
    int64_t counts[] = {2, 3, 1};
    for (size_t i = 0; i < 3; i++) {
        assert_bytes(ember_result_at(res, i).key, keys[i]);
        assert_int_equal(ember_i64(ember_result_at(res, i).val), counts[i]);
    }
    ember_result_free(res);
    assert_int_equal(ember_count_by_value(nums(ctx, 0, 0, 2), &res), 0);
    assert_int_equal(ember_result_len(res), 0);
    ember_result_free(res);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_scans_only_what_it_needs),
        cmocka_unit_test(test_first_count_is_empty),
        cmocka_unit_test(test_reduce_family),
        cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_top_take_ordered),
        cmocka_unit_test(test_count_by_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
