/* Broadcast variables and accumulators, retries included. */
#include "support.h"

static int lookup(ember_rec in, ember_out *out, void *arg)
{
    ember_bytes t = ember_broadcast_value(arg);
    const int64_t *table = t.ptr;
    return ember_emit_i64(out, table[ember_i64(in.val) % (int64_t)(t.len / 8)]);
}

static void test_broadcast(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t table[] = {100, 200, 300}, got[9];
    ember_broadcast *bc = ember_broadcast_create(ctx, table, sizeof table);
    assert_non_null(bc);
    table[0] = -1; /* the broadcast holds its own copy */
    assert_int_equal(collect_i64(ember_map(ember_range(ctx, 0, 9, 1, 4), lookup, bc), got, 9), 9);
    assert_int_equal(got[0], 100);
    assert_int_equal(got[4], 200);
    assert_int_equal(got[8], 300);
    ember_broadcast_free(bc);
    ember_broadcast_free(bc); /* a stale handle is ignored */
    assert_null(ember_broadcast_create(ctx, NULL, 4));
    ember_close(ctx);
}

typedef struct flaky {
    ember_accumulator *acc;
    int attempts[16]; /* per partition */
} flaky;

/* Adds every record, and fails the first attempt of every partition halfway. */
static int add_then_fail_once(ember_iter *in, ember_out *out, int index, void *arg)
{
    flaky *f = arg;
    int attempt = __atomic_add_fetch(&f->attempts[index], 1, __ATOMIC_SEQ_CST);
    ember_rec r;
    int rc, i = 0;
    while ((rc = ember_iter_next(in, &r)) == 1) {
        ember_accumulator_add_i64(f->acc, 1);
        if (attempt == 1 && ++i == 5)
            return -77;
        if ((rc = ember_emit_rec(out, r)))
            return rc;
    }
    return rc;
}

static void test_retried_task_counts_once(void **state)
{
    /* (process[N]: each worker fails a partition's first attempt it sees, so up
     * to N + 1 attempts) */
    ember_ctx *ctx = open_ctx(isolated_run() ? "local[2,8]" : "local[2,3]");
    flaky f = {.acc = ember_accumulator_i64(ctx, 0)};
    int64_t n = 0, v;
    assert_int_equal(
        ember_count(ember_map_partitions(ember_range(ctx, 0, 100, 1, 4), add_then_fail_once, &f),
                    &n),
        0);
    assert_int_equal(n, 100); /* nothing of the failed attempts in the result */
    assert_int_equal(ember_accumulator_value_i64(f.acc, &v), 0);
    assert_int_equal(v, 100);   /* nor in the accumulator */
    for (int p = 0; p < 4; p++) /* the attempts made in this process */
        assert_int_equal(f.attempts[p], runs_here(ctx, p) ? 2 : 0);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    if (isolated_run()) { /* a retry may land on a worker that has not failed yet */
        assert_true(js.total.failed_attempts >= 4);
        assert_int_equal(js.total.attempts, 4 + js.total.failed_attempts);
    } else {
        assert_int_equal(js.total.failed_attempts, 4);
        assert_int_equal(js.total.attempts, 8);
    }
    ember_close(ctx);
}

static int add_f64(ember_rec in, void *arg)
{
    return ember_accumulator_add_f64(arg, 0.5);
}

static int concat_max(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    /* keep the longer string: associative and commutative */
    return a.len >= b.len ? ember_buf_set(res, a.ptr, a.len) : ember_buf_set(res, b.ptr, b.len);
}

static int add_word(ember_rec in, void *arg)
{
    return ember_accumulator_add(arg, in.val);
}

static void test_accumulator_kinds_and_rules(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_accumulator *f = ember_accumulator_f64(ctx, 1.0);
    assert_int_equal(ember_foreach(ember_range(ctx, 0, 10, 1, 3), add_f64, f), 0);
    double d;
    assert_int_equal(ember_accumulator_value_f64(f, &d), 0);
    assert_float_equal(d, 6.0, 0);
    ember_accumulator *c = ember_accumulator_custom(ctx, B(""), concat_max, NULL);
    ember_bytes w[] = {B("fig"), B("banana"), B("kiwi")};
    assert_int_equal(ember_foreach(ember_parallelize(ctx, w, 3, 3), add_word, c), 0);
    ember_bytes longest;
    assert_int_equal(ember_accumulator_value(c, &longest), 0);
    assert_bytes(longest, "banana");
    /* only tasks add; only the driver reads; kinds must match */
    assert_int_equal(ember_accumulator_add_f64(f, 1), EMBER_EINVAL);
    assert_int_equal(ember_accumulator_add_i64(f, 1), EMBER_EINVAL);
    int64_t i;
    assert_int_equal(ember_accumulator_value_i64(f, &i), EMBER_EINVAL);
    assert_null(ember_accumulator_custom(ctx, B(""), NULL, NULL));
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_retried_task_counts_once),
        cmocka_unit_test(test_accumulator_kinds_and_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
