/* Per-job and per-stage stats. */
#include <unistd.h>

#include "support.h"

static int keep_even(ember_rec in, void *arg)
{
    return ember_i64(in.val) % 2 == 0;
}

static int slow_double(ember_rec in, ember_out *out, void *arg)
{
    usleep(200);
    return ember_emit_i64(out, ember_i64(in.val) * 2);
}

static void test_counts(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    assert_int_equal(ember_job_count(ctx), 0);
    assert_int_equal(count_of(ember_filter(ember_range(ctx, 0, 1000, 1, 5), keep_even, NULL)), 500);
    assert_int_equal(ember_job_count(ctx), 1);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.job_id, 0);
    assert_string_equal(js.action, "count");
    assert_false(js.failed);
    assert_int_equal(js.nstages, 1);
    assert_int_equal(js.stages[0].tasks, 5);
    assert_int_equal(js.stages[0].attempts, 5);
    assert_int_equal(js.total.records_in, 1000);
    assert_int_equal(js.total.records_out, 500);
    assert_true(js.total.user_ns == 0); /* not timed unless asked */
    assert_int_equal(ember_job_stats_get(ctx, 1, &js), EMBER_ERANGE);
    assert_int_equal(ember_job_stats_get(ctx, 0, NULL), EMBER_EINVAL);
    ember_close(ctx);
}

static void test_user_time_when_asked(void **state)
{
    ember_ctx *ctx;
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = test_master("local[2]"), .stats = 1}),
                     0);
    assert_int_equal(count_of(ember_map(ember_range(ctx, 0, 20, 1, 2), slow_double, NULL)), 20);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_true(js.total.user_ns > 0);
    assert_true(js.total.user_ns <= js.total.run_ns);
    /* the table names the job */
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    ember_stats_print(ctx, fp);
    fclose(fp);
    assert_non_null(strstr(text, "count"));
    assert_non_null(strstr(text, "records_in"));
    free(text);
    ember_close(ctx); /* prints the stats to stderr too */
}

static void test_many_jobs_keep_the_last(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    for (int i = 0; i < 1100; i++)
        count_of(ember_range(ctx, 0, i % 5, 1, 1));
    assert_int_equal(ember_job_count(ctx), 1100);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, 10, &js), EMBER_ERANGE);
    assert_int_equal(ember_job_stats_get(ctx, 1099, &js), 0);
    assert_int_equal(js.total.records_in, 1099 % 5);
    ember_close(ctx);
}

static int mod_ten_one(ember_rec in, ember_out *out, void *arg)
{
    int64_t k = ember_i64(in.val) % 10;
    return ember_emit_pair_i64(out, ember_bytes_of(&k, sizeof k), 1);
}

static void test_shuffle_metrics(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* 4 map tasks of 250 consecutive numbers: each sees all 10 keys */
    ember_rdd *kv = ember_map(ember_range(ctx, 0, 1000, 1, 4), mod_ten_one, NULL);
    assert_int_equal(count_of(ember_reduce_by_key(kv, ember_sum_i64, NULL, 3)), 10);
    /* one action, one job: the map side is its first stage, the count its second */
    assert_int_equal(ember_job_count(ctx), 1);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, 0, &js), 0);
    assert_string_equal(js.action, "count");
    assert_int_equal(js.nstages, 2);
    const ember_stage_stats *map = &js.stages[0], *red = &js.stages[1];
    assert_int_equal(map->tasks, 4);
    assert_int_equal(red->tasks, 3);
    assert_int_equal(map->records_out, 1000);         /* into the combine */
    assert_int_equal(map->shuffle_write_records, 40); /* combined: 10 keys per task */
    assert_true(map->shuffle_write_bytes >= 40 * 16);
    assert_int_equal(map->shuffle_read_records, 0);
    assert_int_equal(red->shuffle_write_records, 0);
    assert_int_equal(red->shuffle_read_records, 40);
    assert_int_equal(red->shuffle_read_bytes, map->shuffle_write_bytes);
    assert_int_equal(js.total.tasks, 7);
    /* no map-side combine in group_by_key: every record crosses */
    assert_int_equal(count_of(ember_group_by_key(kv, 3)), 10);
    assert_int_equal(ember_job_stats_get(ctx, 1, &js), 0);
    assert_int_equal(js.nstages, 2);
    assert_int_equal(js.stages[0].shuffle_write_records, 1000);
    assert_int_equal(js.stages[1].shuffle_read_records, 1000);
    assert_int_equal(js.stages[1].shuffle_read_bytes, js.stages[0].shuffle_write_bytes);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_shuffle_metrics),
        cmocka_unit_test(test_user_time_when_asked),
        cmocka_unit_test(test_many_jobs_keep_the_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
