/* map_concurrent: calls overlap up to the window and never past it, outputs keep
 * input order (or completion order when asked), failures fail the task after
 * the calls in flight return, and accumulators count once per success. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec.h"
#include "support.h"

static atomic_int in_flight, peak, started;

static void enter(void)
{
    int now = atomic_fetch_add(&in_flight, 1) + 1;
    int p = atomic_load(&peak);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
        ;
    atomic_fetch_add(&started, 1);
}

static void reset_counts(void)
{
    atomic_store(&in_flight, 0);
    atomic_store(&peak, 0);
    atomic_store(&started, 0);
}

/* Wait (10 s at most) until cond holds; false on timeout. */
static bool wait_until(atomic_int *v, int at_least)
{
    for (int i = 0; i < 10000; i++) {
        if (atomic_load(v) >= at_least)
            return true;
        usleep(1000);
    }
    return false;
}

/* v -> v * 2 after a short, value-dependent sleep */
static int slow_double(ember_rec in, ember_out *out, void *arg)
{
    enter();
    int64_t v = ember_i64(in.val);
    usleep((useconds_t)((v * 7919) % 500));
    atomic_fetch_sub(&in_flight, 1);
    return ember_emit_i64(out, v * 2);
}

static void test_ordered_matches_serial(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    for (int window = 1; window <= 64; window *= 4) {
        reset_counts();
        ember_rdd *r = ember_map_concurrent(ember_range(ctx, 0, 1000, 1, 4), slow_double, NULL,
                                            window, EMBER_ORDERED);
        int64_t got[1000];
        assert_int_equal(collect_i64(r, got, 1000), 1000);
        for (int i = 0; i < 1000; i++)
            assert_int_equal(got[i], 2 * i);
        /* two tasks at a time, each with at most window calls */
        assert_true(atomic_load(&peak) <= 2 * window);
        ember_free(r);
    }
    ember_close(ctx);
}

/* The first `window` calls of the only partition wait for each other: they can
 * only all finish when the window really runs them at once. */
static int barrier_call(ember_rec in, ember_out *out, void *arg)
{
    int window = *(int *)arg;
    enter();
    int64_t v = ember_i64(in.val);
    bool ok = v >= window || wait_until(&started, window);
    atomic_fetch_sub(&in_flight, 1);
    return ok ? ember_emit_i64(out, v) : EMBER_EIO;
}

static void test_calls_overlap_up_to_the_window(void **state)
{
    if (isolated_run()) /* it counts in this process what runs in the workers */
        skip();
    ember_ctx *ctx = open_ctx("local[1]");
    int window = 8;
    reset_counts();
    ember_rdd *r = ember_map_concurrent(ember_range(ctx, 0, 200, 1, 1), barrier_call, &window,
                                        window, EMBER_ORDERED);
    int64_t got[200];
    assert_int_equal(collect_i64(r, got, 200), 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(got[i], i);
    assert_int_equal(atomic_load(&peak) <= window, 1);
    assert_int_equal(atomic_load(&peak) >= 2, 1);
    ember_close(ctx);
}

/* Record 0 finishes only after records 1..3 have: in completion order it comes
 * after them, in input order first. Ordered, it waits until their calls have
 * ended (finished); as completed, until they have been handed on downstream
 * (handed_on), so that it cannot end before they are handed on: the
 * completion order is the order of handing on. */
static atomic_int finished, handed_on;
static int late_zero(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    if (v == 0 && !wait_until(arg, 3))
        return EMBER_EIO;
    int rc = ember_emit_i64(out, v);
    atomic_fetch_add(&finished, 1);
    return rc;
}

static int count_handed_on(ember_rec in, ember_out *out, void *arg)
{
    atomic_fetch_add(&handed_on, 1);
    return ember_emit_rec(out, in);
}

static void test_as_completed_order(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    int64_t got[4];
    for (int mode = EMBER_ORDERED; mode <= EMBER_AS_COMPLETED; mode++) {
        atomic_store(&finished, 0);
        atomic_store(&handed_on, 0);
        ember_rdd *c =
            ember_map_concurrent(ember_range(ctx, 0, 4, 1, 1), late_zero,
                                 mode == EMBER_ORDERED ? &finished : &handed_on, 4, mode);
        ember_rdd *r = ember_map(c, count_handed_on, NULL);
        ember_free(c);
        assert_int_equal(collect_i64(r, got, 4), 4);
        if (mode == EMBER_ORDERED) {
            for (int i = 0; i < 4; i++)
                assert_int_equal(got[i], i);
        } else {
            assert_int_equal(got[3], 0); /* 1, 2, 3 in any order, then 0 */
            assert_int_equal(got[0] + got[1] + got[2], 6);
        }
        ember_free(r);
    }
    ember_close(ctx);
}

/* Any number of outputs per input; keys kept; the outputs of one input together. */
static int repeat_pair(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    usleep((useconds_t)(v % 5) * 100);
    for (int64_t k = 0; k < v % 3; k++) {
        int64_t kv[2] = {v, k};
        int rc = ember_emit_pair(out, ember_bytes_of(&kv[0], 8), ember_bytes_of(&kv[1], 8));
        if (rc)
            return rc;
    }
    return 0;
}

static void test_flat_outputs_in_order(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *r =
        ember_map_concurrent(ember_range(ctx, 0, 300, 1, 3), repeat_pair, NULL, 16, EMBER_ORDERED);
    ember_result *res;
    assert_int_equal(ember_collect(r, &res), 0);
    size_t i = 0;
    for (int64_t v = 0; v < 300; v++) {
        for (int64_t k = 0; k < v % 3; k++, i++) {
            ember_rec rec = ember_result_at(res, i);
            assert_int_equal(ember_i64(rec.key), v);
            assert_int_equal(ember_i64(rec.val), k);
        }
    }
    assert_int_equal(ember_result_len(res), i);
    ember_result_free(res);
    ember_close(ctx);
}

/* A failing call fails the task with its code; calls after it do not start; the
 * context stays usable. */
static int fail_at_500(ember_rec in, ember_out *out, void *arg)
{
    enter();
    int64_t v = ember_i64(in.val);
    usleep(200);
    atomic_fetch_sub(&in_flight, 1);
    return v == 500 ? EMBER_EIO : ember_emit_i64(out, v);
}

static void test_failure_fails_the_task(void **state)
{
    ember_ctx *ctx = open_ctx("local[1,1]");
    reset_counts();
    ember_rdd *r = ember_map_concurrent(ember_range(ctx, 0, 100000, 1, 1), fail_at_500, NULL, 8,
                                        EMBER_ORDERED);
    int64_t n;
    assert_int_equal(ember_count(r, &n), EMBER_EIO);
    assert_msg(ctx, "map_concurrent");
    assert_msg(ctx, "partition 0");
    assert_true(atomic_load(&started) < 1000); /* no call past the window after 500 */
    assert_int_equal(atomic_load(&in_flight), 0);
    /* usable after */
    assert_int_equal(count_of(ember_map_concurrent(ember_range(ctx, 0, 10, 1, 2), slow_double, NULL,
                                                   4, EMBER_AS_COMPLETED)),
                     10);
    ember_close(ctx);
}

/* First attempt of each partition fails half way; the retry succeeds. The
 * accumulator counts each call of the successful attempts only. */
static atomic_int attempts_failed;
static atomic_bool failed_once[4];
static int flaky(ember_rec in, ember_out *out, void *arg)
{
    ember_accumulator *acc = arg;
    int64_t v = ember_i64(in.val);
    int rc = ember_accumulator_add_i64(acc, 1);
    if (rc)
        return rc;
    if (v % 100 == 50 && !atomic_exchange(&failed_once[v / 100], true)) {
        atomic_fetch_add(&attempts_failed, 1); /* once in each partition of 100 */
        return EMBER_EIO;
    }
    return ember_emit_i64(out, v + 1);
}

static void test_retry_counts_accumulators_once(void **state)
{
    if (isolated_run()) /* it counts in this process what runs in the workers */
        skip();
    ember_ctx *ctx = open_ctx("local[2,4]");
    ember_accumulator *acc = ember_accumulator_i64(ctx, 0);
    atomic_store(&attempts_failed, 0);
    for (int i = 0; i < 4; i++)
        atomic_store(&failed_once[i], false);
    ember_rdd *r =
        ember_map_concurrent(ember_range(ctx, 0, 400, 1, 4), flaky, acc, 16, EMBER_AS_COMPLETED);
    int64_t sum = 0;
    ember_buf b = {0};
    assert_int_equal(ember_reduce(r, ember_sum_i64, NULL, &b), 0);
    sum = ember_i64(ember_buf_bytes(&b));
    ember_buf_destroy(&b);
    assert_int_equal(sum, 400 * 401 / 2);
    assert_int_equal(atomic_load(&attempts_failed), 4);
    int64_t calls;
    assert_int_equal(ember_accumulator_value_i64(acc, &calls), 0);
    assert_int_equal(calls, 400);
    ember_close(ctx);
}

/* take stops the task: only the window's calls past what it needs are made. */
static void test_take_stops_early(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    reset_counts();
    ember_rdd *r = ember_map_concurrent(ember_range(ctx, 0, 100000, 1, 1), slow_double, NULL, 8,
                                        EMBER_ORDERED);
    ember_result *res;
    assert_int_equal(ember_take(r, 5, &res), 0);
    assert_int_equal(ember_result_len(res), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ember_i64(ember_result_at(res, i).val), 2 * (int64_t)i);
    ember_result_free(res);
    assert_true(atomic_load(&started) <= 5 + 8);
    ember_close(ctx);
}

static void test_bad_arguments(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    ember_rdd *src = ember_range(ctx, 0, 10, 1, 1);
    int64_t n;
    assert_int_equal(ember_count(ember_map_concurrent(src, slow_double, NULL, 0, 0), &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "max_in_flight must be 1 to 65536 (got 0)");
    assert_int_equal(ember_count(ember_map_concurrent(src, slow_double, NULL, 4, 7), &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "mode must be");
    assert_int_equal(ember_count(ember_map_concurrent(src, NULL, NULL, 4, 0), &n), EMBER_EINVAL);
    assert_msg(ctx, "fn is NULL");
    assert_null(ember_map_concurrent(NULL, slow_double, NULL, 4, 0));
    ember_close(ctx);
}

/* A big window over a cached, shuffled parent: results as a plain map's. */
static int plus_one(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair(out, in.key, in.val.len ? in.val : B("-"));
}

static void test_after_a_shuffle(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_bytes items[50];
    char buf[50][8];
    for (int i = 0; i < 50; i++) {
        snprintf(buf[i], sizeof buf[i], "w%d", i % 7);
        items[i] = ember_bytes_of(buf[i], strlen(buf[i]));
    }
    ember_rdd *words = ember_parallelize(ctx, items, 50, 3);
    ember_rdd *grouped = ember_distinct(words, 4);
    ember_rdd *a = ember_map(grouped, plus_one, NULL);
    ember_rdd *b = ember_map_concurrent(grouped, plus_one, NULL, 1000, EMBER_ORDERED);
    ember_result *ra, *rb;
    assert_int_equal(ember_collect(a, &ra), 0);
    assert_int_equal(ember_collect(b, &rb), 0);
    assert_int_equal(ember_result_len(ra), 7);
    assert_int_equal(ember_result_len(rb), 7);
    for (size_t i = 0; i < 7; i++) {
        ember_rec x = ember_result_at(ra, i), y = ember_result_at(rb, i);
        assert_int_equal(x.val.len, y.val.len);
        assert_memory_equal(x.val.ptr, y.val.ptr, x.val.len);
    }
    ember_result_free(ra);
    ember_result_free(rb);
    ember_close(ctx);
}

static int nap_copy(ember_rec in, ember_out *out, void *arg)
{
    usleep(2000);
    return ember_emit(out, in.val);
}

/* The blocking pool makes no more threads than the windows running may have
 * in flight: two tasks with windows of 4 are served by 8 threads at most, over
 * many calls and jobs. */
static void test_pool_bounded_by_windows(void **state)
{
    if (isolated_run()) /* it counts in this process what runs in the workers */
        skip();
    ember_ctx *ctx = open_ctx("local[2]");
    for (int round = 0; round < 5; round++) {
        ember_rdd *r =
            ember_map_concurrent(ember_range(ctx, 0, 120, 1, 2), nap_copy, NULL, 4, EMBER_ORDERED);
        assert_int_equal(count_of(r), 120);
    }
    int threads = ember__bpool_threads(((struct ember_ctx *)ctx)->bpool);
    if (threads > 8)
        fprintf(stderr, "%d threads for two windows of 4\n", threads);
    assert_true(threads >= 1 && threads <= 8);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordered_matches_serial),
        cmocka_unit_test(test_calls_overlap_up_to_the_window),
        cmocka_unit_test(test_as_completed_order),
        cmocka_unit_test(test_flat_outputs_in_order),
        cmocka_unit_test(test_failure_fails_the_task),
        cmocka_unit_test(test_retry_counts_accumulators_once),
        cmocka_unit_test(test_take_stops_early),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_after_a_shuffle),
        cmocka_unit_test(test_pool_bounded_by_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
