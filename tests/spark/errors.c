/* Bad input: clear errors, no crash, no hang, a context still usable after. */
#include "core/core.h"
#include "support.h"

static int fail_on_7(ember_rec in, ember_out *out, void *arg)
{
    if (ember_i64(in.val) == 7)
        return -77;
    return ember_emit_rec(out, in);
}

static void test_task_failure_message(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t n;
    /* range(10) in 4 slices at 0, 2, 5, 7: 7 lives in partition 3 */
    int rc = ember_count(ember_map(ember_range(ctx, 0, 10, 1, 4), fail_on_7, NULL), &n);
    assert_int_equal(rc, -77);
    assert_msg(ctx, "count failed");
    assert_msg(ctx, "partition 3");
    assert_msg(ctx, "1 of 1 attempt");
    assert_msg(ctx, "map function returned -77");
    /* the context is usable after */
    assert_int_equal(count_of(ember_range(ctx, 0, 10, 1, 4)), 10);
    ember_close(ctx);

    ctx = open_ctx("local[2,3]");
    rc = ember_count(ember_map(ember_range(ctx, 0, 10, 1, 4), fail_on_7, NULL), &n);
    assert_int_equal(rc, -77);
    assert_msg(ctx, "3 of 3 attempts");
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_true(js.failed);
    assert_int_equal(js.total.failed_attempts, 3);
    /* a known code is named */
    ember_close(ctx);
}

static int fail_einval(ember_rec in, void *arg)
{
    return EMBER_EINVAL;
}

static void test_known_code_named(void **state)
{
    ember_ctx *ctx = open_ctx("local");
    int64_t n;
    assert_int_equal(ember_count(ember_filter(ember_range(ctx, 0, 3, 1, 1), fail_einval, NULL), &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "filter function returned -22 (EMBER_EINVAL");
    ember_close(ctx);
}

static void test_construction_errors_reach_the_action(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t n;
    ember_rdd *bad = ember_map(ember_range(ctx, 0, 3, 1, 1), NULL, NULL);
    assert_non_null(bad);
    /* a chain after the error carries the first message */
    ember_rdd *later = ember_coalesce(ember_filter(bad, fail_einval, NULL), 1);
    assert_int_equal(ember_count(later, &n), EMBER_EINVAL);
    assert_msg(ctx, "map: the function is NULL");
    assert_int_equal(ember_num_partitions(later), EMBER_EINVAL);
    assert_int_equal(ember_count(ember_coalesce(ember_range(ctx, 0, 3, 1, 1), 0), &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "coalesce");
    /* NULL everywhere */
    assert_null(ember_map(NULL, fail_on_7, NULL));
    assert_int_equal(ember_count(NULL, &n), EMBER_EINVAL);
    assert_non_null(strstr(ember_errmsg(NULL), "rdd is NULL"));
    assert_int_equal(ember_count(ember_range(ctx, 0, 3, 1, 1), NULL), EMBER_EINVAL);
    assert_int_equal(ember_collect(ember_range(ctx, 0, 3, 1, 1), NULL), EMBER_EINVAL);
    ember_buf b;
    ember_buf_init(&b);
    assert_int_equal(ember_reduce(ember_range(ctx, 0, 3, 1, 1), NULL, NULL, &b), EMBER_EINVAL);
    ember_buf_destroy(&b);
    ember_close(ctx);
    ember_close(NULL);
}

static void test_stale_and_foreign_rdds(void **state)
{
    ember_ctx *a = open_ctx("local[2]"), *b = open_ctx("local[1]");
    ember_rdd *ra = ember_range(a, 0, 3, 1, 1), *rb = ember_range(b, 0, 3, 1, 1);
    int64_t n;
    assert_int_equal(ember_count(ember_union(ra, rb), &n), EMBER_ECTX);
    assert_msg(a, "different contexts");
    /* freed: an error, not a use after free */
    ember_rdd *child = ember_map(ra, fail_on_7, NULL);
    ember_free(ra);
    assert_int_equal(ember_count(ra, &n), EMBER_ECTX);
    assert_int_equal(count_of(child), 3); /* the child still holds its parent */
    ember_free(child);
    ember_free(child); /* twice is harmless */
    /* after close */
    ember_close(b);
    assert_int_equal(ember_count(rb, &n), EMBER_ECTX);
    assert_non_null(strstr(ember_errmsg(NULL), "stale"));
    assert_null(ember_map(rb, fail_on_7, NULL));
    assert_int_equal(ember_parallelism(b), 0);
    assert_null(ember_range(b, 0, 1, 1, 1));
    ember_close(a);
}

static ember_ctx *ember_ctx_of_test;

static int ident_fn(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_rec(out, in);
}

static int action_inside(ember_rec in, ember_out *out, void *arg)
{
    int64_t n;
    int rc = ember_count(arg, &n);
    return rc ? rc : ember_emit_rec(out, in);
}

static int build_inside(ember_rec in, ember_out *out, void *arg)
{
    if (ember_map(arg, ident_fn, NULL) != NULL || ember_range(ember_ctx_of_test, 0, 1, 1, 1))
        return -99;
    return EMBER_EINVAL;
}

static void test_action_inside_a_task(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_ctx_of_test = ctx;
    ember_rdd *other = ember_range(ctx, 0, 3, 1, 1);
    int64_t n;
    assert_int_equal(
        ember_count(ember_map(ember_range(ctx, 0, 30, 1, 8), action_inside, other), &n),
        EMBER_EINVAL);
    assert_msg(ctx, "partition 0"); /* the driver's message is the task's failure */
    /* building rdds inside a task is refused, not a race on the lineage */
    assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 30, 1, 8), build_inside, other), &n),
                     EMBER_EINVAL);
    assert_int_equal(count_of(other), 3);
    ember_close(ctx);
}

static int add_one(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_i64(out, ember_i64(in.val) + 1);
}

/* Fail the k-th allocation for every k: a clean error or success, never a crash or
 * a leak (the sanitizer build checks the leaks). */
static void test_allocation_failures(void **state)
{
    int clean = 0;
    for (long k = 1; k < 400; k++) {
        ember__alloc_fail_at(k);
        ember_ctx *ctx = NULL;
        int rc = ember_open(&ctx, &(ember_conf){.master = "local[2]"});
        if (rc) {
            assert_int_equal(rc, EMBER_ENOMEM);
            continue;
        }
        int64_t v[] = {1, 2, 3, 4, 5};
        ember_rdd *r = ember_map(ember_parallelize_i64(ctx, v, 5, 2), add_one, NULL);
        ember_result *res = NULL;
        rc = ember_collect(r, &res);
        if (rc == 0) {
            assert_int_equal(ember_result_len(res), 5);
            assert_int_equal(ember_i64(ember_result_at(res, 4).val), 6);
            ember_result_free(res);
            clean++;
        } else {
            assert_int_equal(rc, EMBER_ENOMEM);
        }
        ember__alloc_fail_at(0);
        /* whatever failed, the context still works */
        int64_t n = 0;
        assert_int_equal(ember_count(ember_range(ctx, 0, 10, 1, 2), &n), 0);
        assert_int_equal(n, 10);
        ember_close(ctx);
    }
    ember__alloc_fail_at(0);
    assert_true(clean > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_failure_message),
        cmocka_unit_test(test_known_code_named),
        cmocka_unit_test(test_construction_errors_reach_the_action),
        cmocka_unit_test(test_stale_and_foreign_rdds),
        cmocka_unit_test(test_action_inside_a_task),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
