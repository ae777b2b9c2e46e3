/* The event log's lines, read back by a JSON parser that is not ember's
 * (jansson): every number the writer formats by hand comes back as the value
 * it was, at each width and sign; and a log written by several task threads at
 * once (each into a buffer of its own) is in an order a reader can replay:
 * a stage's submission, then its tasks' starts and ends as they happened
 * across threads, then its end. And the progress bar's counts, kept by each
 * task thread apart, drawn right.
 */
#include <jansson.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "ui/ui.h"

/* Values at the edges of the writer's ways of formatting: one digit, two,
 * odd and even digit counts, the largest and smallest int64. */
static const int64_t values[] = {0,         1,
                                 9,         10,
                                 11,        42,
                                 99,        100,
                                 101,       999,
                                 1000,      12345,
                                 100000,    1796194689541,
                                 INT64_MAX, -1,
                                 -9,        -10,
                                 -99,       -100,
                                 -12345,    INT64_MIN + 1,
                                 INT64_MIN};
#define NVALUES (sizeof values / sizeof *values)

/* One line of buf from *off: parsed, its end moved past. */
static json_t *next_line(const ember_buf *buf, size_t *off)
{
    const char *s = (const char *)buf->ptr + *off;
    const char *nl = memchr(s, '\n', buf->len - *off);
    assert_non_null(nl);
    json_error_t err;
    json_t *o = json_loadb(s, (size_t)(nl - s), 0, &err);
    if (!o)
        fail_msg("line %.*s: %s", (int)(nl - s), s, err.text);
    *off = (size_t)(nl - (const char *)buf->ptr) + 1;
    return o;
}

static int64_t int_at(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    assert_true(json_is_integer(v));
    return (int64_t)json_integer_value(v);
}

static void test_numbers_read_back(void **state)
{
    (void)state;
    ember_buf buf = {0};
    for (size_t i = 0; i < NVALUES; i++) {
        int64_t v = values[i];
        ember_accumulable acc = {.name = "n", .i64 = v};
        ember_event ev = {.type = EMBER_EV_TASK_END,
                          .time_ns = 1796194689541000000ull,
                          .job_id = v < 0 ? 0 : v,
                          .stage_id = v,
                          .task_index = (int)(v % 1000000),
                          .partition = (int)(v % 1000),
                          .attempt = 1,
                          .task_id = v,
                          .worker_pid = (int)(v & 0x7fffffff),
                          .error = "",
                          .metrics = {.records_in = v,
                                      .records_out = ~v,
                                      .shuffle_write_bytes = v / 7,
                                      .spill_count = v % 97},
                          .accums = &acc,
                          .naccums = 1};
        assert_int_equal(ember__ui_event_json(&ev, &buf), 0);
    }
    size_t off = 0;
    for (size_t i = 0; i < NVALUES; i++) {
        int64_t v = values[i];
        json_t *o = next_line(&buf, &off);
        assert_string_equal(json_string_value(json_object_get(o, "Event")), "SparkListenerTaskEnd");
        assert_int_equal(int_at(o, "Stage ID", NULL), v);
        assert_int_equal(int_at(o, "Task Info", "Task ID"), v);
        assert_int_equal(int_at(o, "Task Info", "Index"), (int)(v % 1000000));
        assert_int_equal(int_at(o, "Task Info", "Partition ID"), (int)(v % 1000));
        assert_int_equal(int_at(o, "Task Info", "ember.Worker PID"), (int)(v & 0x7fffffff));
        assert_int_equal(int_at(o, "Task Info", "Finish Time"), 1796194689541);
        json_t *m = json_object_get(o, "Task Metrics");
        assert_int_equal(int_at(m, "Input Metrics", "Records Read"), v);
        assert_int_equal(int_at(m, "Output Metrics", "Records Written"), ~v);
        assert_int_equal(int_at(m, "Shuffle Write Metrics", "Shuffle Bytes Written"), v / 7);
        assert_int_equal(int_at(m, "ember.Spill Count", NULL), v % 97);
        json_t *accs = json_object_get(json_object_get(o, "Task Info"), "Accumulables");
        assert_int_equal(json_array_size(accs), 1);
        json_t *upd = json_object_get(json_array_get(accs, 0), "Update");
        assert_true(json_is_integer(upd));
        assert_int_equal(json_integer_value(upd), v);
        json_decref(o);
    }
    assert_int_equal(off, buf.len);
    ember_buf_destroy(&buf);
}

static int slow(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    return ember_emit_rec(out, in);
}

/* Stage state while reading a log: submitted, tasks started and ended, done;
 * the latest time of its task lines so far, and how many lines came more than
 * a millisecond behind it (their time before an earlier line's). */
typedef struct seen {
    bool submitted, completed;
    int64_t ntasks, started, ended, latest_ms, behind;
} seen;

static void test_order_across_threads(void **state)
{
    (void)state;
    char dir[] = "/tmp/ember-eventjson-XXXXXX", log[64];
    ember_ctx *ctx = open_logged(dir, log, sizeof log, (ember_conf){.master = "local[4]"});
    enum { MANY = 3000, SLOW = 1200 };
    int64_t *v = malloc(MANY * sizeof *v), n;
    for (int i = 0; i < MANY; i++)
        v[i] = i;
    /* many tasks: each thread's buffer fills past its limit over and over */
    assert_int_equal(ember_count(ember_parallelize_i64(ctx, v, MANY, MANY), &n), 0);
    assert_int_equal(n, MANY);
    /* slower ones: the log's writer takes lines in while the stage runs */
    assert_int_equal(
        ember_count(ember_map(ember_parallelize_i64(ctx, v, SLOW, SLOW), slow, NULL), &n), 0);
    assert_int_equal(n, SLOW);
    ember_close(ctx);
    free(v);

    FILE *f = fopen(log, "r");
    assert_non_null(f);
    seen st[2] = {{0}};
    static bool started[MANY + SLOW], ended[MANY + SLOW];
    char *line = NULL;
    size_t cap = 0;
    int64_t lines = 0, jobs_ended = 0;
    while (getline(&line, &cap, f) > 0) {
        lines++;
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (!o)
            fail_msg("line %lld: %s", (long long)lines, err.text);
        const char *ev = json_string_value(json_object_get(o, "Event"));
        json_t *info = json_object_get(o, "Stage Info");
        int64_t stage = info ? int_at(info, "Stage ID", NULL) : -1;
        if (!info && json_object_get(o, "Stage ID"))
            stage = int_at(o, "Stage ID", NULL);
        assert_true(stage < 2);
        seen *s = stage >= 0 ? &st[stage] : NULL;
        if (!strcmp(ev, "SparkListenerStageSubmitted")) {
            assert_false(s->submitted);
            s->submitted = true;
            s->ntasks = int_at(info, "Number of Tasks", NULL);
        } else if (!strcmp(ev, "SparkListenerTaskStart") || !strcmp(ev, "SparkListenerTaskEnd")) {
            bool start = !strcmp(ev, "SparkListenerTaskStart");
            int64_t id = int_at(o, "Task Info", "Task ID");
            assert_true(id >= 0 && id < MANY + SLOW);
            if (!s->submitted || s->completed) /* a task's line outside its stage */
                fail_msg("line %lld: task %lld of stage %lld outside the stage", (long long)lines,
                         (long long)id, (long long)stage);
            if (start) {
                assert_false(started[id]);
                started[id] = true;
                s->started++;
            } else {
                if (!started[id]) /* its end before its start */
                    fail_msg("line %lld: task %lld ends before it starts", (long long)lines,
                             (long long)id);
                assert_false(ended[id]);
                ended[id] = true;
                s->ended++;
            }
            int64_t t = int_at(o, "Task Info", start ? "Launch Time" : "Finish Time");
            s->behind += t < s->latest_ms - 1;
            if (t > s->latest_ms)
                s->latest_ms = t;
        } else if (!strcmp(ev, "SparkListenerStageCompleted")) {
            assert_true(s->submitted);
            s->completed = true;
            /* every task's end is in before the stage's */
            assert_int_equal(s->ended, s->ntasks);
            assert_int_equal(s->started, s->ntasks);
        } else if (!strcmp(ev, "SparkListenerJobEnd")) {
            jobs_ended++;
            assert_true(st[jobs_ended - 1].completed);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    assert_int_equal(st[0].ntasks, MANY);
    assert_int_equal(st[1].ntasks, SLOW);
    /* the slow stage's lines, from four threads over tens of milliseconds, are
     * in time order: a thread's lines taken in on their own would put most
     * behind another's (a line is behind only when its thread was held up
     * between reading the clock and writing it: a few at most) */
    if (st[1].behind * 20 > 2 * SLOW)
        fail_msg("%lld of the slow stage's %d task lines are out of time order",
                 (long long)st[1].behind, 2 * SLOW);
    assert_int_equal(jobs_ended, 2);
    assert_int_equal(remove_tree(dir), 0);
}

static ember_accumulator *seen_acc;

static int add_seen(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    int rc = ember_accumulator_add_i64(seen_acc, ember_i64(in.val));
    return rc ? rc : ember_emit_rec(out, in);
}

static int fail_at_13(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_i64(in.val) == 13 ? EMBER_EIO : ember_emit_rec(out, in);
}

/* A task's start and end wait as records for the log's writer, which writes
 * their lines: what the log holds of them is what happened. Four tasks add
 * their values to a named accumulator (each end line carries its update,
 * named), then a job whose task with 13 fails: its end line says so, with its
 * code and message, and the others' ended well. */
static void test_log_task_records(void **state)
{
    (void)state;
    char dir[] = "/tmp/ember-eventjson-XXXXXX", log[64];
    ember_ctx *ctx =
        open_logged(dir, log, sizeof log, (ember_conf){.master = "local[2]", .max_failures = 1});
    int64_t v[40], n;
    for (int i = 0; i < 40; i++)
        v[i] = i;
    seen_acc = ember_accumulator_i64(ctx, 0);
    assert_int_equal(ember_accumulator_set_name(seen_acc, "seen values"), 0);
    assert_int_equal(
        ember_count(ember_map(ember_parallelize_i64(ctx, v, 40, 4), add_seen, NULL), &n), 0);
    assert_int_equal(n, 40);
    assert_int_not_equal(
        ember_count(ember_map(ember_parallelize_i64(ctx, v, 40, 4), fail_at_13, NULL), &n), 0);
    ember_close(ctx);

    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int ends[2] = {0}, failed = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        assert_non_null(o);
        if (strcmp(json_string_value(json_object_get(o, "Event")), "SparkListenerTaskEnd")) {
            json_decref(o);
            continue;
        }
        int64_t stage = int_at(o, "Stage ID", NULL), part = int_at(o, "Task Info", "Partition ID");
        assert_true(stage == 0 || stage == 1);
        ends[stage]++;
        json_t *info = json_object_get(o, "Task Info");
        json_t *reason = json_object_get(o, "Task End Reason");
        json_t *accs = json_object_get(info, "Accumulables");
        if (stage == 0) { /* partition p holds 10p .. 10p + 9 */
            assert_false(json_is_true(json_object_get(info, "Failed")));
            assert_int_equal(json_array_size(accs), 1);
            json_t *a = json_array_get(accs, 0);
            assert_string_equal(json_string_value(json_object_get(a, "Name")), "seen values");
            assert_int_equal(json_integer_value(json_object_get(a, "Update")), 100 * part + 45);
        } else if (part == 1) { /* 10 .. 19: 13 fails it */
            failed++;
            assert_true(json_is_true(json_object_get(info, "Failed")));
            assert_string_equal(json_string_value(json_object_get(reason, "Reason")),
                                "ExceptionFailure");
            assert_int_equal(int_at(reason, "ember.Code", NULL), EMBER_EIO);
            const char *why = json_string_value(json_object_get(reason, "Description"));
            assert_non_null(why);
            assert_true(strlen(why) > 0);
        } else {
            assert_string_equal(json_string_value(json_object_get(reason, "Reason")), "Success");
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    assert_int_equal(ends[0], 4);
    assert_true(ends[1] >= 1 && ends[1] <= 4); /* the others may be stopped before they run */
    assert_int_equal(failed, 1);
    assert_int_equal(remove_tree(dir), 0);
}

static int nap(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    struct timespec ts = {0, 4000000};
    nanosleep(&ts, NULL);
    return ember_emit_rec(out, in);
}

/* The progress bar (forced on, into a file) while four task threads count
 * their tasks in slots of their own and the bar's thread sums them: every bar
 * the file received for a stage of 1,000 tasks of 4 ms has at most four
 * running, at most 1,000 in all, a count done that never goes back, and the
 * last one counts tasks done. Twenty short stages before it have each thread
 * count stages over again in the same places (a slot counts 16 at once). */
static void test_bar_across_threads(void **state)
{
    (void)state;
    char path[] = "/tmp/ember-bar-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    ember_ctx *ctx = NULL;
    int rc = ember_open(&ctx, &(ember_conf){.master = "local[4]", .ui_port = 0, .progress = 1});
    enum { MANY = 1000 };
    static int64_t v[MANY];
    for (int i = 0; i < MANY; i++)
        v[i] = i;
    int64_t n = 0, total = 0;
    for (int j = 0; !rc && j < 20; j++, total += n)
        rc = ember_count(ember_parallelize_i64(ctx, v, 40, 8), &n);
    if (!rc)
        rc = ember_count(ember_map(ember_parallelize_i64(ctx, v, MANY, MANY), nap, NULL), &n);
    if (ctx)
        ember_close(ctx);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(rc, 0);
    assert_int_equal(total, 20 * 40);
    assert_int_equal(n, MANY);

    FILE *f = fdopen(fd, "r");
    assert_non_null(f);
    rewind(f);
    int bars = 0, last = -1, c;
    char chunk[256];
    size_t at = 0;
    while ((c = fgetc(f)) != EOF) { /* bars are separated by '\r' */
        if (c != '\r' && c != '\n' && at + 1 < sizeof chunk) {
            chunk[at++] = (char)c;
            continue;
        }
        chunk[at] = 0;
        at = 0;
        const char *open = strstr(chunk, "(");
        int stage, done, running, all;
        if (!open || sscanf(chunk, "[Stage %d:", &stage) != 1 ||
            sscanf(open, "(%d + %d) / %d]", &done, &running, &all) != 3)
            continue;
        assert_int_equal(stage, 20);
        assert_int_equal(all, MANY);
        if (running > 4 || done + running > MANY || done < last)
            fail_msg("bar %d: (%d + %d) / %d after %d done", bars + 1, done, running, all, last);
        last = done;
        bars++;
    }
    fclose(f);
    unlink(path);
    assert_true(bars > 0); /* the stage ran over half a second */
    assert_true(last > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_read_back),
        cmocka_unit_test(test_order_across_threads),
        cmocka_unit_test(test_bar_across_threads),
        cmocka_unit_test(test_log_task_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
