/* process[N]: a crash costs one attempt of one task, named, and retried on a
 * fresh worker; a hang past task_timeout and a worker over worker_memory the
 * same; a record that crashed two attempts can be diverted; the context stays
 * usable after each, and no worker is left behind (checked in /proc). */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include "support.h"

/* Processes whose parent is this one (workers not reaped would show here). */
static int children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0, me = (int)getpid();
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        const char *rp = strrchr(buf, ')'); /* after the command's name */
        int ppid = 0;
        char st;
        if (rp && sscanf(rp + 2, "%c %d", &st, &ppid) == 2 && ppid == me)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Workers told to go at a stage's end are reaped by the context once they
 * have ended, not waited for: the count falls without a close (a generous
 * bound on the wait, never a measure of speed). */
static bool settles_to(int most)
{
    for (int i = 0; i < 3000; i++) {
        if (children() <= most)
            return true;
        usleep(10000);
    }
    return false;
}

static ember_ctx *open_proc(const char *master, double timeout, size_t mem, const char *bad)
{
    ember_ctx *ctx;
    int rc = ember_open(&ctx, &(ember_conf){.master = master,
                                            .task_timeout = timeout,
                                            .worker_memory = mem,
                                            .bad_records = bad ? EMBER_BAD_DIVERT : 0,
                                            .bad_dir = bad});
    if (rc)
        fprintf(stderr, "%s\n", ember_errmsg(NULL));
    assert_int_equal(rc, 0);
    return ctx;
}

/* still usable: an ordinary count */
static void usable(ember_ctx *ctx)
{
    int64_t n = 0;
    assert_int_equal(ember_count(ember_range(ctx, 0, 1000, 1, 4), &n), 0);
    assert_int_equal(n, 1000);
}

/* a marker file per partition: the first attempt of each sees none */
static char marks[128];

static bool first_time(int64_t v)
{
    char p[256];
    snprintf(p, sizeof p, "%s/m%lld", marks, (long long)v);
    if (access(p, F_OK) == 0)
        return false;
    FILE *f = fopen(p, "w");
    if (f)
        fclose(f);
    return true;
}

static int crash_once_at_50(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    if (v == 50 && first_time(v))
        raise(SIGSEGV);
    return ember_emit_i64(out, v);
}

static int crash_at_7(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    if (v == 7)
        *(int *volatile)arg = 1; /* a real segfault: arg is NULL */
    return ember_emit_i64(out, v);
}

static int abort_at_3(ember_rec in, ember_out *out, void *arg)
{
    if (ember_i64(in.val) == 3)
        abort();
    return ember_emit(out, in.val);
}

static int hog(ember_rec in, ember_out *out, void *arg)
{
    if (ember_i64(in.val) == 2) /* allocate without end */
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p)
                return EMBER_ENOMEM;
            memset(p, 1, 1 << 20);
        }
    return ember_emit(out, in.val);
}

static int sleep_at_5(ember_rec in, ember_out *out, void *arg)
{
    if (ember_i64(in.val) == 5)
        sleep(30);
    return ember_emit(out, in.val);
}

static int64_t sum_of(ember_rdd *r, int *rc)
{
    int64_t s = 0;
    *rc = ember_sum_i64_values(r, &s);
    return s;
}

static void test_crash_once_is_retried(void **state)
{
    snprintf(marks, sizeof marks, "/tmp/ember-proc-XXXXXX");
    assert_non_null(mkdtemp(marks));
    ember_ctx *ctx = open_proc("process[2]", 0, 0, NULL);
    int rc;
    int64_t s = sum_of(ember_map(ember_range(ctx, 0, 100, 1, 4), crash_once_at_50, NULL), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s, 99 * 100 / 2);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.failed_attempts, 1); /* the crash cost one attempt */
    assert_int_equal(js.total.attempts, 5);
    usable(ctx);
    assert_true(settles_to(2)); /* at most the last stage's workers, told to go */
    ember_close(ctx);
    assert_int_equal(children(), 0); /* every one reaped */
    assert_int_equal(remove_tree(marks), 0);
}

static void test_always_crashes(void **state)
{
    ember_ctx *ctx = open_proc("process[2]", 0, 0, NULL); /* 4 attempts, as Spark's */
    int64_t n;
    assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 20, 1, 4), crash_at_7, NULL), &n),
                     EMBER_EIO);
    const char *m = ember_errmsg(ctx);
    /* partition 1 holds 5..9: the 7 is its third record */
    assert_non_null(strstr(m, "count failed: task for partition 1"));
    assert_non_null(strstr(m, "failed 4 of 4 attempts"));
    assert_non_null(strstr(m, "killed by SIGSEGV while processing record 3 of partition 1"));
    usable(ctx);
    assert_true(settles_to(2));
    assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 8, 1, 2), abort_at_3, NULL), &n),
                     EMBER_EIO);
    assert_non_null(strstr(ember_errmsg(ctx), "killed by SIGABRT while processing record 4 of "
                                              "partition 0"));
    usable(ctx);
    assert_true(settles_to(2)); /* at most the last stage's workers, told to go */
    ember_close(ctx);
    assert_int_equal(children(), 0); /* every one reaped */
}

/* The memory bound with no time bound beside it (however long the
 * allocating takes on a loaded machine, the bound alone ends it), then the
 * time bound alone. */
static void test_memory_and_time_bounds(void **state)
{
    ember_ctx *ctx = open_proc("process[2,2]", 0, (size_t)512 << 20, NULL);
    int64_t n;
    int rc = ember_count(ember_map(ember_range(ctx, 0, 8, 1, 2), hog, NULL), &n);
    assert_int_not_equal(rc, 0);
    const char *m = ember_errmsg(ctx);
    if (!strstr(m, "out of memory") && !strstr(m, "killed by SIG"))
        fail_msg("not ended by the memory bound: %s", m);
    assert_non_null(strstr(m, "failed 2 of 2 attempts"));
    usable(ctx);
    assert_true(settles_to(2));
    ember_close(ctx);
    assert_int_equal(children(), 0);

    ctx = open_proc("process[2,2]", 2.0, 0, NULL);
    rc = ember_count(ember_map(ember_range(ctx, 0, 8, 1, 2), sleep_at_5, NULL), &n);
    assert_int_equal(rc, EMBER_EIO);
    assert_non_null(strstr(ember_errmsg(ctx),
                           "exceeded task_timeout (2 s) while processing record 2 of "
                           "partition 1"));
    usable(ctx);
    assert_true(settles_to(2)); /* at most the last stage's workers, told to go */
    ember_close(ctx);
    assert_int_equal(children(), 0); /* every one reaped */
}

/* The first line of partition part's poison file, under bad, names where and
 * the signal. */
static void poison_line_has(const char *bad, int part, const char *where)
{
    char path[256], line[512] = "";
    snprintf(path, sizeof path, "%s/poison-part-%05d", bad, part);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, where));
    assert_non_null(strstr(line, "SIGSEGV"));
}

static void test_poison_record_diverted(void **state)
{
    char bad[128];
    snprintf(bad, sizeof bad, "/tmp/ember-poison-XXXXXX");
    assert_non_null(mkdtemp(bad));
    ember_ctx *ctx = open_proc("process[2]", 0, 0, bad);
    int rc;
    int64_t s = sum_of(ember_map(ember_range(ctx, 0, 20, 1, 4), crash_at_7, NULL), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s, 19 * 20 / 2 - 7); /* everything but the poison record */
    poison_line_has(bad, 1, "partition 1 record 3: ");
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.records_bad, 1);
    assert_int_equal(js.total.failed_attempts, 2);
    ember_close(ctx);
    assert_int_equal(remove_tree(bad), 0);
}

static int slow(ember_rec in, ember_out *out, void *arg)
{
    usleep(20000);
    return ember_emit(out, in.val);
}

typedef struct canceller {
    ember_ctx *ctx;
} canceller;

static void *cancel_soon(void *arg)
{
    usleep(200000);
    ember_cancel(((canceller *)arg)->ctx);
    return NULL;
}

/* Each partition's worker, after a nap long beside a fork. */
static int pid_after_nap(ember_rec in, ember_out *out, void *arg)
{
    usleep(300000);
    return ember_emit_i64(out, (int64_t)getpid());
}

/* Each attempt that runs says so in a file (O_APPEND: whole lines) */
static int ran_log(ember_rec in, ember_out *out, void *arg)
{
    usleep(1000 + 1000 * (unsigned)(ember_i64(in.val) % 3)); /* longer than a fork, uneven */
    char line[64];
    int n = snprintf(line, sizeof line, "%lld %d\n", (long long)ember_i64(in.val), (int)getpid());
    int fd = open((const char *)arg, O_WRONLY | O_APPEND | O_CREAT, 0644);
    assert_true(fd >= 0 && write(fd, line, (size_t)n) == n);
    close(fd);
    return ember_emit_i64(out, ember_i64(in.val));
}

/* A fresh worker is sent attempts ahead (the 4 of a stage: 1 and 3 ahead);
 * the second worker, forked once the first has been on one for longer than a
 * fork takes, takes back those the first has not begun. Every attempt runs
 * once, on one worker, whichever way each race between a worker beginning it
 * and the driver taking it back goes: 30 stages, each partition logged
 * exactly once. */
static void test_recalled_run_once(void **state)
{
    char log[128];
    snprintf(log, sizeof log, "/tmp/ember-recall-%d.log", (int)getpid());
    ember_ctx *ctx = open_proc("process[2]", 0, 0, NULL);
    int both = 0;
    for (int round = 0; round < 30; round++) {
        unlink(log);
        int64_t n = 0;
        assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 4, 1, 4), ran_log, log), &n), 0);
        assert_int_equal(n, 4);
        FILE *f = fopen(log, "r");
        assert_non_null(f);
        int seen[4] = {0}, lines = 0, pids[2] = {0};
        long long v;
        int pid;
        while (fscanf(f, "%lld %d", &v, &pid) == 2) {
            assert_true(v >= 0 && v < 4);
            seen[v]++;
            lines++;
            if (!pids[0] || pids[0] == pid)
                pids[0] = pid;
            else
                pids[1] = pid;
        }
        fclose(f);
        assert_int_equal(lines, 4);
        for (int i = 0; i < 4; i++)
            assert_int_equal(seen[i], 1);
        both += pids[1] != 0;
    }
    assert_true(both > 0); /* attempts were taken back: the second worker ran some */
    unlink(log);
    ember_close(ctx);
    assert_int_equal(children(), 0);
}

/* Workers start as the stage needs them (one at first): a stage of long
 * tasks still runs on all N, none of them the driver. */
static void test_long_tasks_use_every_worker(void **state)
{
    ember_ctx *ctx = open_proc("process[2]", 0, 0, NULL);
    ember_result *res = NULL;
    assert_int_equal(
        ember_collect(ember_map(ember_range(ctx, 0, 4, 1, 4), pid_after_nap, NULL), &res), 0);
    assert_int_equal(ember_result_len(res), 4);
    int64_t first = ember_i64(ember_result_at(res, 0).val);
    bool other = false;
    for (size_t i = 0; i < 4; i++) {
        int64_t pid = ember_i64(ember_result_at(res, i).val);
        assert_true(pid != (int64_t)getpid());
        other |= pid != first;
    }
    assert_true(other); /* two workers took part */
    ember_result_free(res);
    ember_close(ctx);
    assert_int_equal(children(), 0);
}

static void test_cancel_stops_workers(void **state)
{
    ember_ctx *ctx = open_proc("process[2]", 0, 0, NULL);
    canceller c = {ctx};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_soon, &c), 0);
    int64_t n;
    assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 2000, 1, 4), slow, NULL), &n),
                     EMBER_ECANCELED);
    pthread_join(th, NULL);
    assert_int_equal(children(), 0);
    usable(ctx);
    ember_close(ctx);
}

/* Workers of jobs in a row are reaped by the driver as it lets the next ones
 * go; when no job follows, the context's reaper reaps the last ones without a
 * close (none left as a zombie while the program does something else). */
static void test_idle_workers_reaped(void **state)
{
    ember_ctx *ctx = open_proc("process[2]", 0, 0, NULL);
    for (int i = 0; i < 50; i++)
        usable(ctx);
    assert_true(settles_to(0));
    usable(ctx);
    assert_true(settles_to(0));
    ember_close(ctx);
    assert_int_equal(children(), 0);
}

/* Attempts sent ahead: a worker whose last attempt was short is sent the
 * next ones before it asks. One worker and many one-record partitions, so
 * that attempts wait in its socket when a task fails: those never begun go
 * back to the queue without spending an attempt, and each begins with its own
 * cursor and halt (a failed attempt halts itself). */
static int crash_once_at(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    if (v == *(const int64_t *)arg && first_time(v))
        raise(SIGSEGV);
    return ember_emit_i64(out, v);
}

static int fail_once_at(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    if (v == *(const int64_t *)arg && first_time(v))
        return EMBER_EIO;
    return ember_emit_i64(out, v);
}

static int crash_always_at(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    if (v == *(const int64_t *)arg)
        raise(SIGSEGV);
    return ember_emit_i64(out, v);
}

static void attempts_were(ember_ctx *ctx, int64_t attempts, int64_t failed)
{
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.attempts, attempts);
    assert_int_equal(js.total.failed_attempts, failed);
}

static void test_sent_ahead(void **state)
{
    snprintf(marks, sizeof marks, "/tmp/ember-proc-XXXXXX");
    assert_non_null(mkdtemp(marks));
    ember_ctx *ctx = open_proc("process[1]", 0, 0, NULL);
    int rc;
    /* a crash: that one attempt failed, the rest ran once each */
    int64_t at = 40;
    int64_t s = sum_of(ember_map(ember_range(ctx, 0, 64, 1, 64), crash_once_at, &at), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s, 63 * 64 / 2);
    attempts_were(ctx, 65, 1);
    /* a failure (no crash): the attempts after it on the same worker begin
     * unhalted and read their whole partitions */
    at = 305;
    s = sum_of(ember_map(ember_range(ctx, 0, 640, 1, 64), fail_once_at, &at), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s, 639 * 640 / 2);
    attempts_were(ctx, 65, 1);
    usable(ctx);
    ember_close(ctx);
    assert_int_equal(children(), 0);
    assert_int_equal(remove_tree(marks), 0);
}

/* A poison record among attempts sent ahead: the deaths are the right task's,
 * at the right record (value 101: partition 25, its second record). */
static void test_sent_ahead_poison(void **state)
{
    char bad[128];
    snprintf(bad, sizeof bad, "/tmp/ember-poison-XXXXXX");
    assert_non_null(mkdtemp(bad));
    ember_ctx *ctx = open_proc("process[1]", 0, 0, bad);
    int rc;
    int64_t at = 101;
    int64_t s = sum_of(ember_map(ember_range(ctx, 0, 200, 1, 50), crash_always_at, &at), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s, 199 * 200 / 2 - 101);
    poison_line_has(bad, 25, "partition 25 record 2: ");
    attempts_were(ctx, 52, 2);
    ember_close(ctx);
    assert_int_equal(children(), 0);
    assert_int_equal(remove_tree(bad), 0);
}

static int short_nap(ember_rec in, ember_out *out, void *arg)
{
    usleep(50);
    return ember_emit(out, in.val);
}

/* A cancel among short tasks, some sent ahead: it stops them all. */
static void test_sent_ahead_cancel(void **state)
{
    ember_ctx *ctx = open_proc("process[1]", 0, 0, NULL);
    canceller c = {ctx};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_soon, &c), 0);
    int64_t n;
    assert_int_equal(
        ember_count(ember_map(ember_range(ctx, 0, 400000, 1, 40000), short_nap, NULL), &n),
        EMBER_ECANCELED);
    pthread_join(th, NULL);
    assert_int_equal(children(), 0);
    usable(ctx);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_once_is_retried),
        cmocka_unit_test(test_always_crashes),
        cmocka_unit_test(test_memory_and_time_bounds),
        cmocka_unit_test(test_poison_record_diverted),
        cmocka_unit_test(test_cancel_stops_workers),
        cmocka_unit_test(test_long_tasks_use_every_worker),
        cmocka_unit_test(test_recalled_run_once),
        cmocka_unit_test(test_idle_workers_reaped),
        cmocka_unit_test(test_sent_ahead),
        cmocka_unit_test(test_sent_ahead_poison),
        cmocka_unit_test(test_sent_ahead_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
