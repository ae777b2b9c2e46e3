/* The scheduler's events, as a listener sees them: word count is one job of
 * two stages (the map side of reduce_by_key, then the collect), a task per
 * partition in each, named after the operations they fuse; a retried task's
 * attempts; a failing action; named accumulators' updates on task ends; no
 * event after the listener is removed. */
#include <pthread.h>
#include <stdatomic.h>

#include "support.h"

typedef struct seen {
    pthread_mutex_t mu;
    int n;
    struct {
        ember_event_type type;
        int64_t job, stage;
        char name[160];
        int task, partition, attempt, failed, num_tasks, stages, tasks_failed;
        int64_t records_out, shuffle_write, shuffle_read;
        char error[200];
        char accums[200];
    } ev[4096];
} seen;

static void listen(const ember_event *ev, void *arg)
{
    seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n < 4096) {
        int i = s->n++;
        s->ev[i].type = ev->type;
        s->ev[i].job = ev->job_id;
        s->ev[i].stage = ev->stage_id;
        snprintf(s->ev[i].name, sizeof s->ev[i].name, "%s",
                 ev->stage_name ? ev->stage_name
                 : ev->job_name ? ev->job_name
                                : "");
        s->ev[i].task = ev->task_index;
        s->ev[i].partition = ev->partition;
        s->ev[i].attempt = ev->attempt;
        s->ev[i].failed = ev->failed;
        s->ev[i].num_tasks = ev->num_tasks;
        s->ev[i].stages = ev->stages;
        s->ev[i].tasks_failed = ev->tasks_failed;
        s->ev[i].records_out = ev->metrics.records_out;
        s->ev[i].shuffle_write = ev->metrics.shuffle_write_records;
        s->ev[i].shuffle_read = ev->metrics.shuffle_read_records;
        snprintf(s->ev[i].error, sizeof s->ev[i].error, "%s", ev->error ? ev->error : "");
        s->ev[i].accums[0] = 0;
        for (int k = 0; k < ev->naccums; k++) {
            size_t at = strlen(s->ev[i].accums);
            snprintf(s->ev[i].accums + at, sizeof s->ev[i].accums - at, "%s=%lld ",
                     ev->accums[k].name, (long long)ev->accums[k].i64);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static int count_type(const seen *s, ember_event_type t, int from)
{
    int n = 0;
    for (int i = from; i < s->n; i++)
        n += s->ev[i].type == t;
    return n;
}

static int words(ember_rec in, ember_out *out, void *arg)
{
    const char *p = in.val.ptr, *end = p + in.val.len;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *w_end = sp ? sp : end;
        if (w_end > p) {
            int rc = ember_emit(out, ember_bytes_of(p, (size_t)(w_end - p)));
            if (rc)
                return rc;
        }
        p = w_end + 1;
    }
    return 0;
}

static int one(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair_i64(out, in.val, 1);
}

static void test_word_count_events(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    static seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    s.n = 0;
    assert_int_equal(ember_add_listener(ctx, listen, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ev[0].type, EMBER_EV_APP_START); /* replayed to a late listener */
    char text[256] = "the cat the dog\na cat a bird\nthe end\n";
    tmp_write("wc.txt", text, strlen(text));
    ember_rdd *counts = ember_reduce_by_key(
        ember_map(ember_flat_map(ember_text_file(ctx, tmp_path("wc.txt"), 3), words, NULL), one,
                  NULL),
        ember_sum_i64, NULL, 2);
    ember_result *res;
    int from = s.n;
    assert_int_equal(ember_collect(counts, &res), 0);
    assert_int_equal(ember_result_len(res), 6); /* the cat dog a bird end */
    ember_result_free(res);
    /* one job: start, two stages each submitted, tasks, completed; end */
    assert_int_equal(count_type(&s, EMBER_EV_JOB_START, from), 1);
    assert_int_equal(count_type(&s, EMBER_EV_JOB_END, from), 1);
    assert_int_equal(count_type(&s, EMBER_EV_STAGE_SUBMITTED, from), 2);
    assert_int_equal(count_type(&s, EMBER_EV_STAGE_COMPLETED, from), 2);
    assert_int_equal(s.ev[from].type, EMBER_EV_JOB_START);
    assert_string_equal(s.ev[from].name, "collect");
    assert_int_equal(s.ev[s.n - 1].type, EMBER_EV_JOB_END);
    assert_int_equal(s.ev[s.n - 1].stages, 2);
    assert_int_equal(s.ev[s.n - 1].failed, 0);
    int64_t job = s.ev[from].job;
    int stage_i = 0, tasks_in_stage[2] = {0, 0};
    int64_t stage_ids[2] = {-1, -1};
    for (int i = from + 1; i < s.n - 1; i++) {
        assert_int_equal(s.ev[i].job, job);
        if (s.ev[i].type == EMBER_EV_STAGE_SUBMITTED) {
            stage_ids[stage_i] = s.ev[i].stage;
            if (stage_i == 0) {
                assert_string_equal(s.ev[i].name,
                                    "text_file -> flat_map -> map -> reduce_by_key (map side)");
                assert_int_equal(s.ev[i].num_tasks, 3);
            } else {
                assert_string_equal(s.ev[i].name, "reduce_by_key -> collect");
                assert_int_equal(s.ev[i].num_tasks, 2);
            }
        } else if (s.ev[i].type == EMBER_EV_TASK_END) {
            assert_int_equal(s.ev[i].stage, stage_ids[stage_i]);
            assert_int_equal(s.ev[i].attempt, 1);
            assert_int_equal(s.ev[i].failed, 0);
            tasks_in_stage[stage_i]++;
        } else if (s.ev[i].type == EMBER_EV_STAGE_COMPLETED) {
            assert_int_equal(s.ev[i].stage, stage_ids[stage_i]);
            if (stage_i == 0)
                assert_true(s.ev[i].shuffle_write > 0);
            else
                assert_int_equal(s.ev[i].records_out, 6);
            stage_i++;
        }
    }
    assert_int_equal(tasks_in_stage[0], 3);
    assert_int_equal(tasks_in_stage[1], 2);
    assert_int_equal(count_type(&s, EMBER_EV_TASK_START, from), 5);
    /* after removal, nothing more */
    assert_int_equal(ember_remove_listener(ctx, listen, &s), 0);
    assert_int_equal(ember_remove_listener(ctx, listen, &s), EMBER_EINVAL);
    int before = s.n;
    assert_int_equal(count_of(counts), 6);
    assert_int_equal(s.n, before);
    ember_close(ctx);
}

static atomic_int tries;

static int flaky(ember_rec in, ember_out *out, void *arg)
{
    /* partition 1's first attempt fails */
    if (ember_i64(in.val) == 5 && atomic_fetch_add(&tries, 1) == 0)
        return -7;
    ember_accumulator_add_i64(arg, 1);
    return ember_emit(out, in.val);
}

static int always_fails(ember_rec in, ember_out *out, void *arg)
{
    return -9;
}

static void test_retry_and_failure(void **state)
{
    ember_ctx *ctx = open_ctx("local[2,3]");
    static seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    s.n = 0;
    assert_int_equal(ember_add_listener(ctx, listen, &s), 0);
    ember_accumulator *acc = ember_accumulator_i64(ctx, 0);
    ember_accumulator_set_name(acc, "records.mapped");
    atomic_store(&tries, 0);
    int from = s.n;
    assert_int_equal(count_of(ember_map(ember_range(ctx, 0, 10, 1, 2), flaky, acc)), 10);
    /* partition 1: attempt 1 fails, attempt 2 succeeds */
    int p1_fail = 0, p1_ok = 0;
    for (int i = from; i < s.n; i++) {
        if (s.ev[i].type != EMBER_EV_TASK_END || s.ev[i].partition != 1)
            continue;
        if (s.ev[i].attempt == 1) {
            assert_int_equal(s.ev[i].failed, 1);
            assert_non_null(strstr(s.ev[i].error, "returned -7"));
            p1_fail++;
        } else {
            assert_int_equal(s.ev[i].attempt, 2);
            assert_int_equal(s.ev[i].failed, 0);
            assert_string_equal(s.ev[i].accums, "records.mapped=5 ");
            p1_ok++;
        }
    }
    assert_int_equal(p1_fail, 1);
    assert_int_equal(p1_ok, 1);
    assert_int_equal(s.ev[s.n - 1].type, EMBER_EV_JOB_END);
    assert_int_equal(s.ev[s.n - 1].tasks_failed, 1);
    /* a failing action: every attempt fails, the stage and the job say so */
    from = s.n;
    int64_t n;
    assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 4, 1, 1), always_fails, NULL), &n),
                     -9);
    int fails = 0;
    for (int i = from; i < s.n; i++)
        fails += s.ev[i].type == EMBER_EV_TASK_END && s.ev[i].failed;
    assert_int_equal(fails, 3);
    assert_int_equal(s.ev[s.n - 2].type, EMBER_EV_STAGE_COMPLETED);
    assert_int_equal(s.ev[s.n - 2].failed, 1);
    assert_int_equal(s.ev[s.n - 1].type, EMBER_EV_JOB_END);
    assert_int_equal(s.ev[s.n - 1].failed, 1);
    assert_non_null(strstr(s.ev[s.n - 1].error, "count failed: task for partition 0"));
    ember_close(ctx);
    assert_int_equal(s.ev[s.n - 1].type, EMBER_EV_APP_END);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word_count_events),
        cmocka_unit_test(test_retry_and_failure),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
