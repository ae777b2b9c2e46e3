/* src/sched/pipeline.c: fusion (no allocation per record), emitters, early stop. */
#include "core/core.h"
#include "support.h"

static int add_one(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_i64(out, ember_i64(in.val) + 1);
}

static int even(ember_rec in, void *arg)
{
    return ember_i64(in.val) % 2 == 0;
}

static void test_no_allocation_per_record(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *r = ember_filter(
        ember_map(ember_map(ember_range(ctx, 0, 200000, 1, 4), add_one, NULL), add_one, NULL), even,
        NULL);
    int64_t n = 0;
    long before = ember__alloc_count();
    assert_int_equal(ember_count(r, &n), 0);
    long used = ember__alloc_count() - before;
    assert_int_equal(n, 100000);
    /* a job allocates its bookkeeping, never per record */
    if (used > 64) {
        fprintf(stderr, "%ld allocations for 200000 records\n", used);
        fail();
    }
    ember_close(ctx);
}

static int emit_bad(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, ember_bytes_of(NULL, 3));
}

static int emit_ignoring_errors(ember_rec in, ember_out *out, void *arg)
{
    ember_emit(out, ember_bytes_of(NULL, 3)); /* the error is returned; we drop it */
    return 0;
}

static void test_bad_emit_fails_the_task(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t n;
    assert_int_equal(ember_count(ember_flat_map(ember_range(ctx, 0, 10, 1, 2), emit_bad, NULL), &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "NULL pointer");
    /* ignoring the emitter's error does not lose it */
    assert_int_equal(
        ember_count(ember_flat_map(ember_range(ctx, 0, 10, 1, 2), emit_ignoring_errors, NULL), &n),
        EMBER_EINVAL);
    assert_int_equal(ember_emit_i64(NULL, 1), EMBER_EINVAL);
    assert_int_equal(ember_emit(NULL, B("x")), EMBER_EINVAL);
    ember_close(ctx);
}

static int many(ember_rec in, ember_out *out, void *arg)
{
    int *calls = arg;
    __atomic_add_fetch(calls, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 1000; i++)
        ember_emit_i64(out, i); /* ignores the stop request */
    return 0;
}

static void test_take_stops_the_pipeline(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    int calls = 0;
    ember_result *res;
    assert_int_equal(
        ember_take(ember_flat_map(ember_range(ctx, 0, 100, 1, 1), many, &calls), 5, &res), 0);
    assert_int_equal(ember_result_len(res), 5);
    /* one input gave enough: the source stopped after it */
    assert_int_equal(calls, 1);
    ember_result_free(res);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_per_record),
        cmocka_unit_test(test_bad_emit_fails_the_task),
        cmocka_unit_test(test_take_stops_the_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
