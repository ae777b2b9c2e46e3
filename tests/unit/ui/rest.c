/* The web UI and its REST API, checked from the client's side: what a real
 * HTTP client gets from 127.0.0.1 while and after jobs run, parsed and set
 * against the jobs that ran; the event log of the same run replayed by the
 * history server into the same answers; escaping, paths that must not lead
 * anywhere, and hostile clients that must not stall a job.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <zstd.h>

#include "support.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ember-ui-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    unsetenv("EMBER_UI_RETAINED_JOBS"); /* test_retained's, even when it failed midway */
    unsetenv("EMBER_UI_RETAINED_STAGES");
    unsetenv("EMBER_HISTORY_UPDATE_INTERVAL");
    unsetenv("EMBER_HISTORY_RETAINED_APPLICATIONS");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static size_t keep(char *p, size_t size, size_t n, void *arg)
{
    return ember_buf_append(arg, p, size * n) ? 0 : size * n;
}

/* GET path from 127.0.0.1:port as it is written (no ../ folding): the status,
 * the body into out. */
static long get(int port, const char *path, ember_buf *out)
{
    char url[12000];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    out->len = 0;
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    ember_buf_append(out, "", 1); /* a C string, its NUL not counted */
    out->len--;
    return status;
}

static json_t *get_json(int port, const char *path)
{
    ember_buf b = {0};
    long st = get(port, path, &b);
    if (st != 200)
        fprintf(stderr, "GET %s: %ld %s\n", path, st, b.ptr ? (char *)b.ptr : "");
    assert_int_equal(st, 200);
    json_error_t err;
    json_t *j = json_loadb((const char *)b.ptr, b.len, 0, &err);
    ember_buf_destroy(&b);
    assert_non_null(j);
    return j;
}

/* Two answers the same, byte for byte: said in full on stderr when not. */
static void same_text(const char *what, const char *a_name, const ember_buf *a, const char *b_name,
                      const ember_buf *b)
{
    if (a->len != b->len || memcmp(a->ptr, b->ptr, a->len))
        fprintf(stderr, "%s\n%s:\n%.*s\n%s:\n%.*s\n", what, a_name, (int)a->len,
                (const char *)a->ptr, b_name, (int)b->len, (const char *)b->ptr);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->ptr, b->ptr, a->len);
}

static int words(ember_rec in, ember_out *out, void *arg)
{
    const char *p = in.val.ptr, *end = p + in.val.len;
    while (p < end) {
        const char *w = p;
        while (p < end && *p != ' ')
            p++;
        if (p > w && ember_emit_pair_i64(out, ember_bytes_of(w, (size_t)(p - w)), 1))
            return EMBER_ENOMEM;
        p++;
    }
    return 0;
}

static int fail_on_7(ember_rec in, ember_out *out, void *arg)
{
    return ember_i64(in.val) == 7 ? EMBER_EIO : ember_emit(out, in.val);
}

static const char *app_id(int port, char *out, size_t cap)
{
    json_t *apps = get_json(port, "/api/v1/applications");
    if (json_array_size(apps) != 1) {
        char *d = json_dumps(apps, 0);
        fprintf(stderr, "applications on %d: %s\n", port, d);
        free(d);
    }
    assert_int_equal(json_array_size(apps), 1);
    snprintf(out, cap, "%s", json_string_value(json_object_get(json_array_get(apps, 0), "id")));
    json_decref(apps);
    return out;
}

static int64_t geti(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* The events of the zstd log at path, unpacked by libzstd itself: every frame
 * whole, every line JSON. How many lines. */
static int zstd_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char magic[4];
    assert_int_equal(fread(magic, 1, 4, f), 4);
    assert_memory_equal(magic, "\x28\xb5\x2f\xfd", 4); /* zstd's frame magic */
    rewind(f);
    ZSTD_DStream *d = ZSTD_createDStream();
    static char in[1 << 16], out[1 << 16];
    ember_buf text = {0};
    size_t got, left = 0;
    while ((got = fread(in, 1, sizeof in, f))) {
        ZSTD_inBuffer ib = {in, got, 0};
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = {out, sizeof out, 0};
            left = ZSTD_decompressStream(d, &ob, &ib);
            assert_false(ZSTD_isError(left));
            assert_int_equal(ember_buf_append(&text, out, ob.pos), 0);
        }
    }
    assert_int_equal(left, 0); /* the last frame ends */
    ZSTD_freeDStream(d);
    fclose(f);
    int lines = 0;
    for (char *p = (char *)text.ptr, *end = p + text.len; p < end; lines++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl); /* whole lines */
        json_error_t e;
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, &e);
        assert_non_null(j);
        json_decref(j);
        p = nl + 1;
    }
    ember_buf_destroy(&text);
    return lines;
}

/* The answer b parsed, after checking that it is the very text jansson prints
 * for what it holds (JSON_INDENT(2), keys in order, and a line's end). */
static json_t *as_jansson_prints(const char *what, const ember_buf *b)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)b->ptr, b->len, 0, &e);
    if (!j)
        fprintf(stderr, "%s: %s at %d\n", what, e.text, e.position);
    assert_non_null(j);
    char *again = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (strlen(again) + 1 != b->len || memcmp(again, b->ptr, b->len - 1))
        fprintf(stderr, "%s:\n%.*s\njansson:\n%s\n", what, (int)b->len, (char *)b->ptr, again);
    assert_int_equal(strlen(again) + 1, b->len);
    assert_memory_equal(again, b->ptr, b->len - 1);
    free(again);
    return j;
}

/* Word count of 2,000 lines (4 splits, 3 reducers), then a failing count: the
 * REST answers against what ran; then the event log (named name: a .zstd one
 * is written compressed) replayed. */
static void rest_and_history(const char *name)
{
    char text[300], log[300];
    snprintf(text, sizeof text, "%s/words.txt", dir);
    snprintf(log, sizeof log, "%s/%s", dir, name);
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 2000; i++)
        fprintf(f, "w%d w%d common\n", i % 50, i % 7);
    fclose(f);
    ember_ctx *ctx;
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local[2]",
                                                    .app_name = "rest test",
                                                    .ui_port = -1,
                                                    .event_log = log,
                                                    .progress = -1}),
                     0);
    int port = ember_ui_port(ctx);
    assert_true(port >= 4040 && port < 4056);
    ember_result *res;
    assert_int_equal(ember_collect(ember_reduce_by_key(
                                       ember_flat_map(ember_text_file(ctx, text, 4), words, NULL),
                                       ember_sum_i64, NULL, 3),
                                   &res),
                     0);
    size_t distinct = ember_result_len(res);
    ember_result_free(res);
    int64_t n;
    assert_int_not_equal(ember_count(ember_map(ember_range(ctx, 0, 20, 1, 4), fail_on_7, NULL), &n),
                         0);

    char id[128], path[400];
    app_id(port, id, sizeof id);
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs", id);
    json_t *jobs = get_json(port, path);
    assert_int_equal(json_array_size(jobs), 2);
    json_t *failed = json_array_get(jobs, 0), *wc = json_array_get(jobs, 1); /* newest first */
    assert_int_equal(geti(wc, "jobId"), 0);
    assert_string_equal(json_string_value(json_object_get(wc, "status")), "SUCCEEDED");
    assert_string_equal(json_string_value(json_object_get(wc, "name")), "collect");
    assert_int_equal(json_array_size(json_object_get(wc, "stageIds")), 2);
    assert_int_equal(geti(wc, "numTasks"), 4 + 3);
    assert_int_equal(geti(wc, "numCompletedTasks"), 4 + 3);
    assert_int_equal(geti(wc, "numCompletedStages"), 2);
    assert_string_equal(json_string_value(json_object_get(failed, "status")), "FAILED");
    assert_non_null(strstr(json_string_value(json_object_get(failed, "ember.failure")),
                           "failed 1 of 1 attempt"));
    assert_int_equal(geti(failed, "numFailedStages"), 1);

    snprintf(path, sizeof path, "/api/v1/applications/%s/stages", id);
    json_t *stages = get_json(port, path);
    assert_int_equal(json_array_size(stages), 3);
    json_t *fs = json_array_get(stages, 0), *rs = json_array_get(stages, 1),
           *ms = json_array_get(stages, 2);
    assert_int_equal(geti(ms, "stageId"), 0);
    assert_int_equal(geti(ms, "numTasks"), 4);
    assert_int_equal(geti(ms, "inputRecords"), 2000);
    assert_true(geti(ms, "shuffleWriteRecords") > 0);
    assert_string_equal(json_string_value(json_object_get(ms, "name")),
                        "text_file -> flat_map -> reduce_by_key (map side)");
    assert_int_equal(geti(rs, "numTasks"), 3);
    assert_int_equal(geti(rs, "shuffleReadRecords"), geti(ms, "shuffleWriteRecords"));
    assert_int_equal(geti(rs, "outputRecords"), (int64_t)distinct);
    assert_string_equal(json_string_value(json_object_get(fs, "status")), "FAILED");
    assert_non_null(strstr(json_string_value(json_object_get(fs, "failureReason")), "map"));

    snprintf(path, sizeof path, "/api/v1/applications/%s/stages/0/0/taskList?length=100", id);
    json_t *tasks = get_json(port, path);
    assert_int_equal(json_array_size(tasks), 4);
    int64_t sum = 0;
    for (size_t i = 0; i < 4; i++) {
        json_t *t = json_array_get(tasks, i);
        assert_string_equal(json_string_value(json_object_get(t, "status")), "SUCCESS");
        sum +=
            geti(json_object_get(json_object_get(t, "taskMetrics"), "inputMetrics"), "recordsRead");
    }
    assert_int_equal(sum, 2000);

    snprintf(path, sizeof path, "/api/v1/applications/%s/executors", id);
    json_t *ex = get_json(port, path);
    assert_int_equal(geti(json_array_get(ex, 0), "totalCores"), 2);
    /* the failed job's tasks after its failure may not have started: the
     * executor's counts are the stages' */
    assert_int_equal(geti(json_array_get(ex, 0), "completedTasks"),
                     4 + 3 + geti(fs, "numCompleteTasks"));
    assert_int_equal(geti(json_array_get(ex, 0), "failedTasks"), 1);
    assert_int_equal(geti(fs, "numFailedTasks"), 1);
    json_decref(ex);

    snprintf(path, sizeof path, "/api/v1/applications/%s/environment", id);
    json_t *env = get_json(port, path);
    json_t *props = json_object_get(env, "sparkProperties");
    bool master = false;
    for (size_t i = 0; i < json_array_size(props); i++) {
        json_t *p = json_array_get(props, i);
        master |= !strcmp(json_string_value(json_array_get(p, 0)), "ember.master") &&
                  !strcmp(json_string_value(json_array_get(p, 1)), "local[2]");
    }
    assert_true(master);
    json_decref(env);

    /* the live answers, as text, to set against the history server's; each is
     * the text jansson prints for it (the tasks are written without it) */
    static const char *const paths[] = {
        "jobs",        "stages",   "stages/0/0/taskList?length=100",       "stages/1/0",
        "environment", "stages/2", "stages/2/0/taskList?offset=1&length=3"};
    enum { NPATHS = sizeof paths / sizeof *paths };
    ember_buf live[NPATHS] = {{0}};
    for (int i = 0; i < NPATHS; i++) {
        snprintf(path, sizeof path, "/api/v1/applications/%s/%s", id, paths[i]);
        assert_int_equal(get(port, path, &live[i]), 200);
        json_decref(as_jansson_prints(paths[i], &live[i]));
    }
    json_decref(jobs);
    json_decref(stages);
    json_decref(tasks);
    ember_close(ctx);
    if (strstr(name, ".zstd")) /* the start, settings, 2 jobs, 3 stages, 4 + 3 + 1 tasks at least */
        assert_true(zstd_lines(log) >= 2 + 2 * 2 + 3 * 2 + 8 * 2 + 1);

    ember_history *h;
    const char *logs[] = {log};
    assert_int_equal(ember_history_open(&h, logs, 1, -1), 0);
    int hp = ember_history_port(h);
    char hid[128];
    app_id(hp, hid, sizeof hid);
    assert_string_equal(hid, id);
    ember_buf b = {0};
    for (int i = 0; i < NPATHS; i++) {
        snprintf(path, sizeof path, "/api/v1/applications/%s/%s", id, paths[i]);
        assert_int_equal(get(hp, path, &b), 200);
        same_text(path, "live", &live[i], "history", &b);
        ember_buf_destroy(&live[i]);
    }
    /* the pages too: the history server draws the same job */
    snprintf(path, sizeof path, "/history/%s/jobs/job/?id=0", id);
    assert_int_equal(get(hp, path, &b), 200);
    assert_non_null(
        strstr((char *)b.ptr, "text_file -&gt; flat_map -&gt; reduce_by_key (map side)"));
    assert_int_equal(get(hp, "/", &b), 200);
    assert_non_null(strstr((char *)b.ptr, "rest test"));
    ember_buf_destroy(&b);
    ember_history_close(h);
}

static void test_rest_and_history(void **state)
{
    rest_and_history("events.log");
}

static void test_rest_and_history_zstd(void **state)
{
    rest_and_history("events.zstd");
}

/* A directory of logs: the live UI's application is the log's, named by its
 * id, in progress until it ends; an id whose log is there already (another
 * application's, started in the same millisecond) is not taken. */
static void test_log_directory(void **state)
{
    char logs[300], path[400];
    snprintf(logs, sizeof logs, "%s/logs/", dir);
    assert_int_equal(mkdir(logs, 0755), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (int k = 0; k < 2000; k++) { /* the ids of the next 2 s: taken */
        snprintf(path, sizeof path, "%slocal-%lld.zstd", logs, now + k);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
    }
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(
            &ctx,
            &(ember_conf){.master = "local[2]", .ui_port = -1, .progress = -1, .event_log = logs}),
        0);
    char id[64];
    app_id(ember_ui_port(ctx), id, sizeof id);
    assert_true(atoll(id + strlen("local-")) >= now + 2000);
    snprintf(path, sizeof path, "%s%s.zstd.inprogress", logs, id);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(count_of(ember_range(ctx, 0, 100, 1, 4)), 100);
    ember_close(ctx);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s%s.zstd", logs, id);
    assert_true(zstd_lines(path) > 5);
    for (int k = 0; k < 2000; k++) { /* untouched */
        struct stat st;
        snprintf(path, sizeof path, "%slocal-%lld.zstd", logs, now + k);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 0);
    }
}

/* The ids /api/v1/applications?QUERY lists, in order, joined by spaces. */
static void listed(int port, const char *query, char *out, size_t cap)
{
    char path[300];
    snprintf(path, sizeof path, "/api/v1/applications%s", query);
    json_t *apps = get_json(port, path);
    out[0] = 0;
    for (size_t i = 0; i < json_array_size(apps); i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "",
                 json_string_value(json_object_get(json_array_get(apps, i), "id")));
    json_decref(apps);
}

/* The application id a plain log's first line names. */
static void log_app_id(const char *log, char *out, size_t cap)
{
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char first[4096];
    assert_non_null(fgets(first, sizeof first, f));
    fclose(f);
    const char *at = strstr(first, "\"App ID\":\"");
    assert_non_null(at);
    at += strlen("\"App ID\":\"");
    snprintf(out, cap, "%.*s", (int)(strchr(at, '"') - at), at);
}

/* An application of `jobs` jobs (counts of ranges) logged to path, in a
 * millisecond of its own (so each one's id is another); its id into id. */
static void app_log(const char *path, int jobs, char *id, size_t cap)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_REALTIME, &t0);
    do
        clock_gettime(CLOCK_REALTIME, &t);
    while (t.tv_sec == t0.tv_sec && t.tv_nsec / 1000000 == t0.tv_nsec / 1000000);
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(&ctx, &(ember_conf){.master = "local[2]", .progress = -1, .event_log = path}),
        0);
    for (int j = 0; j < jobs; j++)
        assert_int_equal(count_of(ember_range(ctx, 0, 10 * (j + 1), 1, 2)), 10 * (j + 1));
    ember_close(ctx);
    log_app_id(path, id, cap);
}

/* n applications of `jobs` jobs each, their logs app0.log... in dir: each
 * log's path in logs[a] (and paths[a], when not NULL), its id in ids[a]. */
static void apps(int n, int jobs, char (*logs)[300], const char **paths, char (*ids)[64])
{
    for (int a = 0; a < n; a++) {
        snprintf(logs[a], sizeof logs[a], "%s/app%d.log", dir, a);
        if (paths)
            paths[a] = logs[a];
        app_log(logs[a], jobs, ids[a], sizeof ids[a]);
    }
}

/* The plain log at path cut before its application's end, as a crash leaves
 * it: running. */
static void cut_before_end(const char *path)
{
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    char line[65536];
    long keep = 0, at = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "SparkListenerApplicationEnd"))
            keep = ftell(f);
        at = ftell(f);
    }
    assert_true(keep < at);
    assert_int_equal(ftruncate(fileno(f), keep), 0);
    fclose(f);
}

/* Spark's query of the history's applications: by state, start and end
 * dates, a limit, newest first; what is not Spark's query is a 400 naming it. */
static void test_applications_query(void **state)
{
    char logs[2][300], ids[2][64];
    apps(2, 1, logs, NULL, ids);
    cut_before_end(logs[1]); /* the second: running */

    ember_history *h;
    const char *const given[] = {logs[0], logs[1]};
    assert_int_equal(ember_history_open(&h, given, 2, -1), 0);
    int port = ember_history_port(h);
    char got[200], both[200];
    snprintf(both, sizeof both, "%s %s", ids[1], ids[0]); /* newest first */
    listed(port, "", got, sizeof got);
    assert_string_equal(got, both);
    ember_buf page = {0}; /* and so on the history's page */
    assert_int_equal(get(port, "/", &page), 200);
    const char *first = strstr((char *)page.ptr, ids[1]),
               *second = strstr((char *)page.ptr, ids[0]);
    assert_true(first && second && first < second);
    ember_buf_destroy(&page);
    listed(port, "?status=running", got, sizeof got);
    assert_string_equal(got, ids[1]);
    listed(port, "?status=COMPLETED", got, sizeof got);
    assert_string_equal(got, ids[0]);
    listed(port, "?limit=1", got, sizeof got);
    assert_string_equal(got, ids[1]);
    listed(port, "?limit=0", got, sizeof got);
    assert_string_equal(got, "");
    listed(port, "?minDate=3000-01-01", got, sizeof got);
    assert_string_equal(got, "");
    listed(port, "?minDate=2010-01-01&maxDate=2999-12-31T23:59:59.999GMT", got, sizeof got);
    assert_string_equal(got, both);
    listed(port, "?maxDate=2010-01-01T00:00:00.000GMT", got, sizeof got);
    assert_string_equal(got, "");
    /* by end: a running application has none yet, so only a maxEndDate in
     * the past leaves it out */
    listed(port, "?minEndDate=2999-01-01", got, sizeof got);
    assert_string_equal(got, ids[1]);
    listed(port, "?maxEndDate=2010-01-01", got, sizeof got);
    assert_string_equal(got, "");
    listed(port, "?minEndDate=2010-01-01&status=completed", got, sizeof got);
    assert_string_equal(got, ids[0]);
    /* the first's own start, to the millisecond: in; a millisecond later: out */
    char q[120], d[40];
    long long ms = atoll(ids[0] + strlen("local-"));
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(q, sizeof q, "?maxDate=%s.%03lldGMT", d, ms % 1000);
    listed(port, q, got, sizeof got);
    assert_string_equal(got, ids[0]);
    snprintf(q, sizeof q, "?minDate=%s.%03lld%%47MT", d, ms % 1000); /* %47: 'G' */
    listed(port, q, got, sizeof got);
    assert_string_equal(got, both);
    /* not Spark's query: Spark's status (400 for a date, 404 for the rest),
     * naming what */
    char jobs_bad[200], stages_bad[200];
    snprintf(jobs_bad, sizeof jobs_bad, "/%s/jobs?status=done", ids[0]);
    snprintf(stages_bad, sizeof stages_bad, "/%s/stages?status=SUCCEEDED", ids[0]);
    const char *const bad[][3] = {{"?status=done", "status is running or completed", "404"},
                                  {"?minDate=yesterday", "minDate", "400"},
                                  {"?maxEndDate=2026-13-01", "maxEndDate", "400"},
                                  {"?limit=-1", "limit", "404"},
                                  {jobs_bad, "running, succeeded, failed or unknown", "404"},
                                  {stages_bad, "active, complete, pending", "404"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ember_buf b = {0};
        char path[300];
        snprintf(path, sizeof path, "/api/v1/applications%s", bad[i][0]);
        assert_int_equal(get(port, path, &b), atoi(bad[i][2]));
        assert_non_null(strstr((char *)b.ptr, bad[i][1]));
        ember_buf_destroy(&b);
    }
    /* Spark's states, in any case, are fine */
    char path[300];
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs?status=SUCCEEDED", ids[0]);
    json_t *done = get_json(port, path);
    assert_int_equal(json_array_size(done), 1);
    json_decref(done);
    snprintf(path, sizeof path, "/api/v1/applications/%s/stages?status=complete", ids[0]);
    done = get_json(port, path);
    assert_int_equal(json_array_size(done), 1);
    json_decref(done);
    ember_history_close(h);
}

/* Wait until /api/v1/applications?QUERY lists want (up to 60 s: a guard
 * against a hang, not a time measured). */
static void wait_listed(int port, const char *query, const char *want)
{
    char got[400] = "";
    for (int i = 0; i < 6000; i++) {
        listed(port, query, got, sizeof got);
        if (!strcmp(got, want))
            return;
        usleep(10000);
    }
    fail_msg("the history lists '%s' for '%s', not '%s'", got, query, want);
}

/* The history server looks again (EMBER_HISTORY_UPDATE_INTERVAL): a log new
 * in its directory is served, running while its application runs and
 * completed once it ends (its .inprogress name gone); a file that is no
 * event log is passed over; a log removed goes, a log named as well (and the
 * directory beside it is still looked at). */
static void test_history_looks_again(void **state)
{
    char logs[300], path[600], named[300], named_id[64];
    snprintf(logs, sizeof logs, "%s/live/", dir);
    assert_int_equal(mkdir(logs, 0755), 0);
    snprintf(named, sizeof named, "%s/named.log", dir);
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(&ctx, &(ember_conf){.master = "local[1]", .progress = -1, .event_log = named}),
        0);
    ember_close(ctx);
    log_app_id(named, named_id, sizeof named_id);
    snprintf(path, sizeof path, "%snotes.txt", logs);
    FILE *f = fopen(path, "w");
    fputs("not an event log\n", f);
    fclose(f);
    setenv("EMBER_HISTORY_UPDATE_INTERVAL", "0.1", 1);
    ember_history *h;
    const char *const given[] = {logs, named};
    assert_int_equal(ember_history_open(&h, given, 2, -1), 0);
    int port = ember_history_port(h);
    wait_listed(port, "", named_id);
    assert_int_equal(
        ember_open(&ctx, &(ember_conf){.master = "local[2]", .progress = -1, .event_log = logs}),
        0);
    assert_int_equal(count_of(ember_range(ctx, 0, 10, 1, 2)), 10);
    char id[64] = "";
    DIR *d = opendir(logs);
    for (struct dirent *e; (e = readdir(d));) /* its id: its log's name */
        if (strstr(e->d_name, ".zstd.inprogress"))
            snprintf(id, sizeof id, "%.*s", (int)(strstr(e->d_name, ".zstd") - e->d_name),
                     e->d_name);
    closedir(d);
    assert_true(*id);
    wait_listed(port, "?status=running", id);
    ember_close(ctx);
    char both[200];
    snprintf(both, sizeof both, "%s %s", id, named_id);
    wait_listed(port, "?status=completed", both);
    wait_listed(port, "?status=running", "");
    assert_int_equal(unlink(named), 0);
    wait_listed(port, "", id);
    snprintf(path, sizeof path, "%s%s.zstd", logs, id);
    assert_int_equal(unlink(path), 0);
    wait_listed(port, "", "");
    ember_history_close(h);
    unsetenv("EMBER_HISTORY_UPDATE_INTERVAL");
    /* not a number of seconds: an error naming it */
    setenv("EMBER_HISTORY_UPDATE_INTERVAL", "soon", 1);
    assert_int_equal(ember_history_open(&h, given, 1, -1), EMBER_EINVAL);
    assert_non_null(strstr(ember_errmsg(NULL), "EMBER_HISTORY_UPDATE_INTERVAL 'soon'"));
    unsetenv("EMBER_HISTORY_UPDATE_INTERVAL");
}

/* The jobs /api/v1/applications/ID/jobs lists. */
static size_t jobs_of(int port, const char *id)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs", id);
    json_t *j = get_json(port, path);
    size_t n = json_array_size(j);
    json_decref(j);
    return n;
}

static void append(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Every `from` in the plain log at path made `to` (as long), in place: the
 * same size, so the history server's looks see no change. */
static void swap_text(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    static char all[1 << 20];
    size_t n = fread(all, 1, sizeof all - 1, f), k = strlen(from), hits = 0;
    assert_true(n < sizeof all - 1);
    all[n] = 0;
    for (char *p = all; (p = strstr(p, from)); p += k, hits++)
        memcpy(p, to, k);
    assert_true(hits > 0);
    rewind(f);
    assert_int_equal(fwrite(all, 1, n, f), n);
    fclose(f);
}

/* The history server reads an application whole only when a page of it is
 * asked for, and keeps the newest asked for whole
 * (EMBER_HISTORY_RETAINED_APPLICATIONS, here 1). A log damaged after the
 * server started shows the damage when first asked for: it was not read whole
 * at the start. Put right again, it still shows the damage while it is kept
 * whole, and shows whole once another application was asked for (it went back
 * to a summary and was read again). The list of applications, made from the
 * summaries, is the same before and after (an application cut short
 * included: its last update is its last event's). */
static void test_history_on_demand(void **state)
{
    char logs[3][300], ids[3][64];
    const char *paths[3];
    apps(3, 2, logs, paths, ids);
    /* the third cut short: its list entry's last update is its last event's
     * time, in a summary as read whole */
    cut_before_end(logs[2]);
    setenv("EMBER_HISTORY_UPDATE_INTERVAL", "0", 1);
    setenv("EMBER_HISTORY_RETAINED_APPLICATIONS", "1", 1);
    ember_history *h;
    assert_int_equal(ember_history_open(&h, paths, 3, -1), 0);
    int port = ember_history_port(h);
    ember_buf before = {0}, after = {0};
    assert_int_equal(get(port, "/api/v1/applications", &before), 200);

    swap_text(logs[0], "SparkListenerJob", "SparkListenerJoX");
    assert_int_equal(jobs_of(port, ids[0]), 0); /* read whole now, as it is now */
    swap_text(logs[0], "SparkListenerJoX", "SparkListenerJob");
    assert_int_equal(jobs_of(port, ids[0]), 0); /* kept whole as read */
    assert_int_equal(jobs_of(port, ids[1]), 2); /* read whole; the first back to a summary */
    assert_int_equal(jobs_of(port, ids[0]), 2); /* read whole again */
    assert_int_equal(jobs_of(port, ids[2]), 2);

    assert_int_equal(get(port, "/api/v1/applications", &after), 200);
    same_text("/api/v1/applications", "summaries", &before, "read whole", &after);
    ember_buf page = {0};
    assert_int_equal(get(port, "/", &page), 200); /* the list page counts each one's jobs */
    ember_buf_append(&page, "", 1);
    const char *row = (const char *)page.ptr;
    int twos = 0;
    while ((row = strstr(row, "<td class=\"n\">2</td></tr>")))
        twos++, row++;
    assert_int_equal(twos, 3);
    ember_buf_destroy(&page);
    ember_buf_destroy(&before);
    ember_buf_destroy(&after);
    ember_history_close(h);
}

/* The jobs the application id lists, or -1 when it gives no answer (no
 * assertion: a thread of the test's own may ask). */
static long jobs_listed(int port, const char *id)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs", id);
    ember_buf b = {0};
    json_t *j = get(port, path, &b) == 200 ? json_loadb((const char *)b.ptr, b.len, 0, NULL) : NULL;
    long n = j ? (long)json_array_size(j) : -1;
    json_decref(j);
    ember_buf_destroy(&b);
    return n;
}

/* An answer about the application whose id is at arg, made on a thread of
 * its own: its count of jobs, then done raised. */
typedef struct asking {
    int port;
    const char *id;
    long jobs;
    _Atomic int done;
} asking;

static void *ask_jobs(void *arg)
{
    asking *a = arg;
    a->jobs = jobs_listed(a->port, a->id);
    atomic_store(&a->done, 1);
    return NULL;
}

/* Two applications of 2 jobs each served by a new history server (looking
 * again every `every` seconds), the second's log then made a FIFO linked in
 * its place (the log kept at real, the FIFO named fifo too): a read of it
 * gives nothing until the test writes. */
static ember_history *served_with_fifo(const char *every, char (*logs)[300], char (*ids)[64],
                                       char *real, char *fifo)
{
    const char *paths[2];
    apps(2, 2, logs, paths, ids);
    setenv("EMBER_HISTORY_UPDATE_INTERVAL", every, 1);
    setenv("EMBER_HISTORY_RETAINED_APPLICATIONS", "50", 1);
    ember_history *h;
    assert_int_equal(ember_history_open(&h, paths, 2, -1), 0);
    snprintf(real, 320, "%s.real", logs[1]);
    snprintf(fifo, 320, "%s/fifo", dir);
    assert_int_equal(rename(logs[1], real), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(link(fifo, logs[1]), 0);
    return h;
}

/* The FIFO opened for writing, without waiting: it opens once a read of it
 * has begun (tried for 20 s). The descriptor, or -1. */
static int read_begun(const char *fifo)
{
    int wr = -1;
    for (int i = 0; i < 4000 && wr < 0; i++)
        if ((wr = open(fifo, O_WRONLY | O_NONBLOCK)) < 0)
            usleep(5000);
    return wr;
}

/* The history server makes its answers side by side. An answer whose
 * application is read whole holds back no other: here its log is made a FIFO
 * (linked in its place), whose read gives nothing until the test writes, and
 * the other application is answered meanwhile, while the first answer still
 * waits. It ends when the read does; that read failed (a FIFO is not a log to
 * read), so the application stays a summary and is read whole the next time
 * it is asked for, its log put back. */
static void test_history_answers_side_by_side(void **state)
{
    (void)state;
    char logs[2][300], ids[2][64], real[320], fifo[320];
    ember_history *h = served_with_fifo("0", logs, ids, real, fifo);
    int port = ember_history_port(h);
    asking slow = {.port = port, .id = ids[1]};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ask_jobs, &slow), 0);
    int wr = read_begun(fifo); /* the answer's */
    assert_true(wr >= 0);

    long other = jobs_listed(port, ids[0]); /* answered while the other reads */
    int waiting = !atomic_load(&slow.done);
    /* the read let go before any check, so that a failed one leaves no answer
     * waiting (nor the server's close) */
    int back = rename(real, logs[1]); /* the log back; the FIFO ends empty */
    close(wr);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(other, 2);
    assert_true(waiting);
    assert_int_equal(back, 0);
    assert_int_equal(slow.jobs, 0);             /* its read failed: still a summary */
    assert_int_equal(jobs_of(port, ids[1]), 2); /* read whole now */
    assert_int_equal(jobs_of(port, ids[0]), 2);
    unlink(fifo);
    ember_history_close(h);
}

/* The history server's look reads the files holding no lock: here a log is
 * made a FIFO (linked in its place: another file, which the next look reads
 * anew), whose read gives nothing until the test writes, and the other
 * application is answered while the look waits on it. Once the log is put
 * back, its application is answered whole. */
static void test_history_look_side_by_side(void **state)
{
    (void)state;
    char logs[2][300], ids[2][64], real[320], fifo[320];
    ember_history *h = served_with_fifo("0.05", logs, ids, real, fifo);
    int port = ember_history_port(h);
    int wr = read_begun(fifo);                             /* a look's */
    long other = wr >= 0 ? jobs_listed(port, ids[0]) : -1; /* while the look reads */
    /* the log back, then the FIFO ends empty: the look goes on (before any
     * check, so that a failure leaves no look waiting, nor the close) */
    int back = rename(real, logs[1]);
    if (wr >= 0)
        close(wr);
    assert_true(wr >= 0);
    assert_int_equal(back, 0);
    assert_int_equal(other, 2);
    /* the look that read the FIFO may yet put the log's new summary in place
     * of what an answer read whole: asked again until the look is done */
    long again = -1;
    for (int i = 0; i < 400 && again != 2; i++)
        if ((again = jobs_listed(port, ids[1])) != 2)
            usleep(50000);
    assert_int_equal(again, 2);
    unlink(fifo);
    ember_history_close(h);
}

/* Answers made side by side about three applications, one kept read whole
 * (EMBER_HISTORY_RETAINED_APPLICATIONS=1): each one is read whole for its
 * answer, and pushed back to a summary only once no answer about it is being
 * made, so every answer lists every job of its application. */
typedef struct rounds {
    int port, first, wrong;
    char (*ids)[64];
} rounds;

static void *ask_rounds(void *arg)
{
    rounds *r = arg;
    for (int i = 0; i < 60; i++) {
        if (jobs_listed(r->port, r->ids[(r->first + i) % 3]) != 2)
            r->wrong++;
    }
    return NULL;
}

static void test_history_retained_side_by_side(void **state)
{
    (void)state;
    char logs[3][300], ids[3][64];
    const char *paths[3];
    apps(3, 2, logs, paths, ids);
    setenv("EMBER_HISTORY_UPDATE_INTERVAL", "0", 1);
    setenv("EMBER_HISTORY_RETAINED_APPLICATIONS", "1", 1);
    ember_history *h;
    assert_int_equal(ember_history_open(&h, paths, 3, -1), 0);
    rounds r[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        r[t] = (rounds){.port = ember_history_port(h), .first = t, .ids = ids};
        assert_int_equal(pthread_create(&th[t], NULL, ask_rounds, &r[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(r[t].wrong, 0);
    }
    ember_history_close(h);
}

/* The whole file at path into a new buffer (0-terminated); its length. */
static size_t slurp(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    *out = malloc((size_t)n + 1);
    assert_int_equal(fread(*out, 1, (size_t)n, f), (size_t)n);
    (*out)[n] = 0;
    fclose(f);
    return (size_t)n;
}

/* The row of application id on the history's list page shows `jobs` jobs. */
static void listed_jobs(int port, const char *id, int jobs)
{
    ember_buf page = {0};
    assert_int_equal(get(port, "/", &page), 200);
    ember_buf_append(&page, "", 1);
    const char *row = strstr((const char *)page.ptr, id);
    assert_non_null(row);
    char want[64];
    snprintf(want, sizeof want, "<td class=\"n\">%d</td></tr>", jobs);
    const char *cell = strstr(row, "</tr>");
    assert_non_null(cell);
    if (strncmp(cell - (strlen(want) - 5), want, strlen(want)))
        fail_msg("%s lists %.40s, not %d jobs", id, cell - 30, jobs);
    ember_buf_destroy(&page);
}

/* The list of a large log is made from its ends: a plain log's first and last
 * 64 kB, a zstd log's first and last frames. A line in the middle that only a
 * read through would see (naming job 5000) is not seen: the list counts the
 * jobs the last lines name. The list is byte-for-byte that of the logs read
 * whole (the plain one cut before its end: its last update is its last
 * event's), and the pages are the logs'. */
static void test_history_summary_ends(void **state)
{
    static const char canary[] = "{\"Event\":\"ember.Canary\",\"Job ID\":5000}\n";
    char plain[300], packed[300], pid[64], zid[64], *text;
    snprintf(plain, sizeof plain, "%s/big.log", dir);
    app_log(plain, 100, pid, sizeof pid);
    cut_before_end(plain);
    size_t n = slurp(plain, &text);
    assert_true(n > 300 * 1024); /* past what is read at each end */
    char *mid = strchr(text + n / 2, '\n') + 1;
    FILE *f = fopen(plain, "wb");
    assert_non_null(f);
    fwrite(text, 1, (size_t)(mid - text), f);
    fputs(canary, f);
    fwrite(mid, 1, n - (size_t)(mid - text), f);
    fclose(f);
    free(text);

    /* a zstd log of three frames of whole lines, the canary opening the second */
    char small[300];
    snprintf(small, sizeof small, "%s/small.log", dir);
    app_log(small, 6, zid, sizeof zid);
    n = slurp(small, &text);
    char *third = strchr(text + n / 3, '\n') + 1, *two = strchr(text + 2 * n / 3, '\n') + 1;
    char *parts[3] = {text, NULL, two};
    size_t lens[3] = {(size_t)(third - text), 0, n - (size_t)(two - text)};
    parts[1] = malloc(sizeof canary + (size_t)(two - third));
    memcpy(parts[1], canary, sizeof canary - 1);
    memcpy(parts[1] + sizeof canary - 1, third, (size_t)(two - third));
    lens[1] = sizeof canary - 1 + (size_t)(two - third);
    snprintf(packed, sizeof packed, "%s/small.zstd", dir);
    f = fopen(packed, "wb");
    assert_non_null(f);
    for (int i = 0; i < 3; i++) {
        size_t cap = ZSTD_compressBound(lens[i]);
        void *z = malloc(cap);
        size_t k = ZSTD_compress(z, cap, parts[i], lens[i], 1);
        assert_false(ZSTD_isError(k));
        fwrite(z, 1, k, f);
        free(z);
    }
    fclose(f);
    free(parts[1]);
    free(text);
    assert_int_equal(unlink(small), 0);

    setenv("EMBER_HISTORY_UPDATE_INTERVAL", "0", 1);
    ember_history *h;
    const char *paths[] = {plain, packed};
    assert_int_equal(ember_history_open(&h, paths, 2, -1), 0);
    int port = ember_history_port(h);
    listed_jobs(port, pid, 100);
    listed_jobs(port, zid, 6);
    ember_buf before = {0}, after = {0};
    assert_int_equal(get(port, "/api/v1/applications", &before), 200);
    assert_int_equal(jobs_of(port, pid), 100); /* read whole now */
    assert_int_equal(jobs_of(port, zid), 6);
    assert_int_equal(get(port, "/api/v1/applications", &after), 200);
    same_text("/api/v1/applications", "from the ends", &before, "read whole", &after);
    listed_jobs(port, pid, 100);
    listed_jobs(port, zid, 6);
    ember_buf_destroy(&before);
    ember_buf_destroy(&after);
    ember_history_close(h);
}

/* A log that grows while the history server serves it (an application still
 * running) is read on from where the last look stopped, not again from its
 * start: the part read already is damaged on disk after it was read (a
 * read from the start would lose a job), and the answers at the end are
 * still those of the whole log read at once. A torn last line (a plain
 * log), a torn last frame (zstd) wait for the rest. */
static void reads_on(bool packed)
{
    char whole[300], grow_dir[300], grow[400];
    snprintf(whole, sizeof whole, "%s/whole.log", dir);
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(&ctx, &(ember_conf){.master = "local[2]", .progress = -1, .event_log = whole}),
        0);
    assert_int_equal(count_of(ember_range(ctx, 0, 100, 1, 4)), 100);
    int64_t n;
    assert_int_not_equal(ember_count(ember_map(ember_range(ctx, 0, 20, 1, 4), fail_on_7, NULL), &n),
                         0);
    assert_int_equal(count_of(ember_range(ctx, 0, 50, 1, 3)), 50);
    ember_close(ctx);
    char id[64];
    log_app_id(whole, id, sizeof id);
    /* its lines, cut after the second and third jobs' starts: three parts */
    FILE *f = fopen(whole, "rb");
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    size_t cut[4] = {0}, k = 0;
    for (char *p = text; k < 3 && (p = strstr(p, "SparkListenerJobStart")); p++)
        if (k++)
            cut[k - 1] = (size_t)(strchr(p, '\n') + 1 - text);
    cut[3] = len;
    assert_int_equal(k, 3);
    snprintf(grow_dir, sizeof grow_dir, "%s/grow", dir);
    assert_int_equal(mkdir(grow_dir, 0755), 0);
    snprintf(grow, sizeof grow, "%s/app.%s", grow_dir, packed ? "zstd" : "log");
    /* each part as written (a zstd frame of its lines), and the half of the
     * next held back: torn */
    static char parts[3][1 << 20];
    size_t plen[3];
    for (int i = 0; i < 3; i++) {
        if (packed) {
            plen[i] =
                ZSTD_compress(parts[i], sizeof parts[i], text + cut[i], cut[i + 1] - cut[i], 1);
            assert_false(ZSTD_isError(plen[i]));
        } else {
            plen[i] = cut[i + 1] - cut[i];
            memcpy(parts[i], text + cut[i], plen[i]);
        }
    }
    append(grow, parts[0], plen[0]);
    append(grow, parts[1], plen[1] / 2);
    setenv("EMBER_HISTORY_UPDATE_INTERVAL", "0.05", 1);
    ember_history *h;
    const char *const given[] = {grow_dir};
    assert_int_equal(ember_history_open(&h, given, 1, -1), 0);
    int port = ember_history_port(h);
    assert_int_equal(jobs_of(port, id), 2);
    /* damage on disk in what was read: the second job's start, past the
     * file's first bytes (in a zstd log, the first frame's middle byte) */
    f = fopen(grow, "r+b");
    size_t at = packed ? plen[0] / 2 : cut[1] - 30;
    assert_true(at > 256);
    fseek(f, (long)at, SEEK_SET);
    fputc(packed ? 0xff : 'x', f);
    fclose(f);
    append(grow, parts[1] + plen[1] / 2, plen[1] - plen[1] / 2);
    append(grow, parts[2], plen[2] / 2);
    for (int i = 0; i < 6000 && jobs_of(port, id) != 3; i++)
        usleep(10000);
    assert_int_equal(jobs_of(port, id), 3);
    append(grow, parts[2] + plen[2] / 2, plen[2] - plen[2] / 2);
    wait_listed(port, "?status=completed", id);
    /* the answers of the whole log read at once */
    ember_history *w;
    const char *const all[] = {whole};
    assert_int_equal(ember_history_open(&w, all, 1, -1), 0);
    static const char *const paths[] = {
        "",           "/jobs",       "/stages", "/stages/0/0", "/stages/1/0", "/stages/2/0",
        "/executors", "/environment"};
    ember_buf a = {0}, b = {0};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char path[300];
        snprintf(path, sizeof path, "/api/v1/applications/%s%s", id, paths[i]);
        assert_int_equal(get(port, path, &a), 200);
        assert_int_equal(get(ember_history_port(w), path, &b), 200);
        same_text(path, "read on", &a, "read whole", &b);
    }
    ember_buf_destroy(&a);
    ember_buf_destroy(&b);
    ember_history_close(w);
    ember_history_close(h);
    unsetenv("EMBER_HISTORY_UPDATE_INTERVAL");
}

static void test_history_reads_on(void **state)
{
    reads_on(false);
}

static void test_history_reads_on_zstd(void **state)
{
    reads_on(true);
}

/* Whatever a name holds is text on every page; paths lead nowhere else. */
/* A task's error naming a file whose name holds a quote, a backslash, a line
 * break, a tab, a control character, an é and a byte that is not UTF-8: the
 * stage's tasks, written without jansson, are still jansson's text, and the
 * message reads back whole (the bad byte as U+FFFD). */
static void test_task_text_escaped(void **state)
{
    char name[400], path[400], id[128];
    const char *odd = "we\"ird\\ \n\t\x01 \xc3\xa9 \xff.txt";
    snprintf(name, sizeof name, "%s/%s", dir, odd);
    FILE *f = fopen(name, "w");
    assert_non_null(f);
    fputs("a\nb\n", f);
    fclose(f);
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(&ctx, &(ember_conf){.master = "local[1]", .ui_port = -1, .progress = -1}), 0);
    ember_rdd *lines = ember_text_file(ctx, name, 1);
    assert_int_equal(unlink(name), 0); /* listed, then gone: the task fails on it */
    int64_t n;
    assert_int_not_equal(ember_count(lines, &n), 0);
    int port = ember_ui_port(ctx);
    app_id(port, id, sizeof id);
    static const char *const paths[] = {"stages/0/0/taskList", "stages/0/0", "stages/0"};
    for (int i = 0; i < 3; i++) {
        ember_buf b = {0};
        snprintf(path, sizeof path, "/api/v1/applications/%s/%s", id, paths[i]);
        assert_int_equal(get(port, path, &b), 200);
        json_t *j = as_jansson_prints(paths[i], &b);
        json_t *t = i == 0   ? json_array_get(j, 0)
                    : i == 1 ? json_object_get(json_object_get(j, "tasks"), "0")
                             : json_object_get(json_object_get(json_array_get(j, 0), "tasks"), "0");
        const char *msg = json_string_value(json_object_get(t, "errorMessage"));
        if (!msg || !strstr(msg, "we\"ird\\ \n\t\x01 \xc3\xa9 \xef\xbf\xbd.txt"))
            fprintf(stderr, "%s: %.*s\n", paths[i], (int)b.len, (char *)b.ptr);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "we\"ird\\ \n\t\x01 \xc3\xa9 \xef\xbf\xbd.txt"));
        json_decref(j);
        ember_buf_destroy(&b);
    }
    ember_close(ctx);
}

static void test_escaping_and_paths(void **state)
{
    char csv[300], bad[300];
    snprintf(csv, sizeof csv, "%s/<script>alert(2)<\\script>.csv", dir);
    snprintf(bad, sizeof bad, "%s/bad", dir);
    FILE *f = fopen(csv, "w");
    fprintf(f, "a,b\n1,2\n3\n<script>alert(3)</script>,x,y\n");
    fclose(f);
    ember_ctx *ctx;
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local[2]",
                                                    .app_name = "<script>alert(1)</script>",
                                                    .ui_port = -1,
                                                    .progress = -1}),
                     0);
    int port = ember_ui_port(ctx);
    int64_t n;
    ember_csv_opts o = {.header = true, .read = {.on_bad = EMBER_BAD_DIVERT, .bad_dir = bad}};
    assert_int_equal(ember_count(ember_read_csv(ctx, csv, &o), &n), 0);
    assert_int_equal(n, 1);
    static const char *const pages[] = {"/jobs/",      "/stages/",      "/stages/stage/?id=0",
                                        "/executors/", "/http/",        "/spills/",
                                        "/bad/",       "/environment/", "/jobs/job/?id=0"};
    ember_buf b = {0};
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        assert_int_equal(get(port, pages[i], &b), 200);
        assert_null(strstr((char *)b.ptr, "<script>alert"));
        assert_non_null(strstr((char *)b.ptr, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    assert_int_equal(get(port, "/bad/", &b), 200);
    assert_non_null(strstr((char *)b.ptr, "&lt;script&gt;alert(2)"));
    assert_non_null(strstr((char *)b.ptr, ".csv:3: 1 fields where 2 were expected"));
    /* the REST API escapes as JSON does */
    char id[128], path[400];
    app_id(port, id, sizeof id);
    json_t *apps = get_json(port, "/api/v1/applications");
    assert_string_equal(json_string_value(json_object_get(json_array_get(apps, 0), "name")),
                        "<script>alert(1)</script>");
    json_decref(apps);
    /* paths that could name a file get 404, and never a file's bytes */
    static const char *const evil[] = {"/../../../../etc/passwd",
                                       "/static/../../../etc/passwd",
                                       "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                                       "/jobs%2F..%2F..%2F..%2Fetc%2Fpasswd",
                                       "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                                       "/static/ui.js/../../../etc/passwd",
                                       "//etc/passwd",
                                       "/api/v1/../../etc/passwd",
                                       "/history/../etc/passwd"};
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        long st = get(port, evil[i], &b);
        if (st != 404)
            fprintf(stderr, "%s: %ld\n", evil[i], st);
        assert_int_equal(st, 404);
        assert_null(strstr((char *)b.ptr, "root:"));
    }
    char *longp = malloc(9000);
    memset(longp, 'a', 8999);
    longp[0] = '/';
    longp[8999] = 0;
    long st = get(port, longp, &b);
    assert_true(st == 404 || st == 414 || st == 431);
    free(longp);
    snprintf(path, sizeof path, "/api/v1/applications/%s/stages/99/0", id);
    assert_int_equal(get(port, path, &b), 404);
    ember_buf_destroy(&b);

    /* bound to 127.0.0.1 alone: the listening socket in /proc/net/tcp */
    FILE *t = fopen("/proc/net/tcp", "r");
    char line[512], want[32];
    snprintf(want, sizeof want, ":%04X ", port);
    bool found = false;
    while (t && fgets(line, sizeof line, t)) {
        char local[64];
        unsigned st2;
        if (sscanf(line, " %*d: %63s %*s %x", local, &st2) != 2 || st2 != 0x0A) /* LISTEN */
            continue;
        size_t ll = strlen(local);
        char tailp[16];
        snprintf(tailp, sizeof tailp, ":%04X", port);
        if (ll >= 5 && !strcmp(local + ll - 5, tailp)) {
            found = true;
            assert_string_equal(local, (snprintf(want, sizeof want, "0100007F:%04X", port), want));
        }
    }
    if (t)
        fclose(t);
    assert_true(found);
    ember_close(ctx);
}

static int nap_map(ember_rec in, ember_out *out, void *arg)
{
    usleep(2000);
    return ember_emit(out, in.val);
}

/* 1,000 connections held open and a 10 MB header: the job still runs to its
 * end, and once they are gone the UI answers again. */
static void test_hostile_clients(void **state)
{
    ember_raise_open_files_limit();
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(&ctx, &(ember_conf){.master = "local[2]", .ui_port = -1, .progress = -1}), 0);
    int port = ember_ui_port(ctx);
    enum { N = 1000 };
    int fds[N], open_ok = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fds[i] >= 0 &&
            (connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS))
            open_ok++;
    }
    assert_true(open_ok > 900);
    /* a header of 10 MB on the first that took it: as much as goes */
    char *big = malloc(1 << 20);
    memset(big, 'x', 1 << 20);
    memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
    for (int k = 0; k < 10; k++)
        if (send(fds[0], big, 1 << 20, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            break;
    free(big);
    int64_t n = 0;
    assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 400, 1, 8), nap_map, NULL), &n), 0);
    assert_int_equal(n, 400);
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    /* the UI answers again once the hostile connections are gone (the server
     * drops them when their peers close) */
    ember_buf b = {0};
    long st = 0;
    for (int tries = 0; tries < 100 && st != 200; tries++) {
        st = get(port, "/api/v1/applications", &b);
        if (st != 200)
            usleep(100000);
    }
    assert_int_equal(st, 200);
    ember_buf_destroy(&b);
    ember_close(ctx);
}

/* The settings: the environment decides when the conf says nothing, the conf
 * wins when it does; a taken port moves the web UI on to the next. */
static void test_settings(void **state)
{
    setenv("EMBER_UI_PORT", "-1", 1);
    ember_ctx *a, *b, *c;
    assert_int_equal(ember_open(&a, &(ember_conf){.master = "local[1]", .progress = -1}), 0);
    assert_int_equal(ember_open(&b, &(ember_conf){.master = "local[1]", .progress = -1}), 0);
    assert_true(ember_ui_port(a) >= 4040);
    assert_true(ember_ui_port(b) > ember_ui_port(a));
    setenv("EMBER_UI_PORT", "0", 1);
    assert_int_equal(ember_open(&c, &(ember_conf){.master = "local[1]", .progress = -1}), 0);
    assert_int_equal(ember_ui_port(c), 0);
    ember_close(c);
    setenv("EMBER_UI_PORT", "banana", 1);
    assert_int_equal(ember_open(&c, &(ember_conf){.master = "local[1]"}), EMBER_EINVAL);
    assert_non_null(strstr(ember_errmsg(NULL), "EMBER_UI_PORT"));
    unsetenv("EMBER_UI_PORT");
    /* a count of jobs to keep that is none: an error naming it, from the UI
     * and from the history server alike */
    setenv("EMBER_UI_RETAINED_JOBS", "1k", 1);
    assert_int_equal(
        ember_open(&c, &(ember_conf){.master = "local[1]", .ui_port = -1, .progress = -1}),
        EMBER_EINVAL);
    assert_non_null(strstr(ember_errmsg(NULL), "EMBER_UI_RETAINED_JOBS '1k'"));
    ember_history *h;
    const char *logs[] = {"/dev/null"};
    assert_int_equal(ember_history_open(&h, logs, 1, -1), EMBER_EINVAL);
    assert_non_null(strstr(ember_errmsg(NULL), "EMBER_UI_RETAINED_JOBS"));
    unsetenv("EMBER_UI_RETAINED_JOBS");
    /* a port given and taken: an error naming it */
    int taken = ember_ui_port(a);
    assert_int_not_equal(
        ember_open(&c, &(ember_conf){.master = "local[1]", .ui_port = taken, .progress = -1}), 0);
    assert_non_null(strstr(ember_errmsg(NULL), "web UI"));
    ember_close(a);
    ember_close(b);
}

/* process[2]: a worker killed on its first try (SIGKILL, as the OOM killer
 * sends: no sanitizer can catch it); the executors the
 * REST API lists are the driver and the worker processes, the dead one with
 * its reason, and the event log on disk says which attempt lost its worker. */
static int killed_once_at_50(ember_rec in, ember_out *out, void *arg)
{
    int64_t v = ember_i64(in.val);
    char mark[300];
    snprintf(mark, sizeof mark, "%s/crashed", dir);
    if (v == 50 && access(mark, F_OK) != 0) {
        FILE *f = fopen(mark, "w");
        if (f)
            fclose(f);
        raise(SIGKILL);
    }
    return ember_emit_i64(out, v);
}

static void test_worker_processes(void **state)
{
    char log[300];
    snprintf(log, sizeof log, "%s/events.log", dir);
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(
            &ctx,
            &(ember_conf){.master = "process[2]", .ui_port = -1, .event_log = log, .progress = -1}),
        0);
    int port = ember_ui_port(ctx);
    int64_t n = 0;
    assert_int_equal(
        ember_count(ember_map(ember_range(ctx, 0, 100, 1, 4), killed_once_at_50, NULL), &n), 0);
    assert_int_equal(n, 100);
    char id[128], path[400];
    app_id(port, id, sizeof id);
    snprintf(path, sizeof path, "/api/v1/applications/%s/allexecutors", id);
    json_t *ex = get_json(port, path);
    assert_true(json_array_size(ex) >= 3); /* the driver, and at least two workers */
    assert_string_equal(json_string_value(json_object_get(json_array_get(ex, 0), "id")), "driver");
    int64_t done = 0, failed = 0, lost = 0;
    for (size_t i = 1; i < json_array_size(ex); i++) {
        json_t *e = json_array_get(ex, i);
        int pid = atoi(json_string_value(json_object_get(e, "id")));
        assert_true(pid > 0 && pid != (int)getpid());
        done += geti(e, "completedTasks");
        failed += geti(e, "failedTasks");
        const char *why = json_string_value(json_object_get(e, "removeReason"));
        if (why) {
            lost++;
            assert_non_null(strstr(why, "SIGKILL"));
            /* partition 2 holds 50..74: 50 is its first record */
            assert_non_null(strstr(why, "record 1 of partition 2"));
            errno = 0;
            assert_int_equal(kill(pid, 0), -1); /* gone, and reaped */
            assert_int_equal(errno, ESRCH);
        }
    }
    assert_int_equal(done, 4);
    assert_int_equal(failed, 1);
    assert_int_equal(lost, 1);
    json_decref(ex);
    ember_buf page = {0};
    assert_int_equal(get(port, "/executors/", &page), 200);
    assert_non_null(strstr((char *)page.ptr, "1 died or killed and replaced"));
    ember_buf_destroy(&page);
    ember_close(ctx);
    /* on disk: one task end says its worker was lost */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[65536];
    int lost_lines = 0;
    while (fgets(line, sizeof line, f))
        lost_lines += strstr(line, "\"ember.Worker Lost\":true") != NULL;
    fclose(f);
    assert_int_equal(lost_lines, 1);
}

/* A long application keeps the newest jobs and stages only (Spark's
 * retainedJobs and retainedStages), so the UI's memory stays bounded: 40 jobs
 * with 10 kept; the totals still count every job and task, and the history
 * server, kept to the same numbers, answers as the live UI did. */
/* A stage of 12,000 tasks on two threads: one of them ran at least 6,000,
 * more than a thread keeps waiting for the model (4,096), so it applied its
 * own; the REST API counts every task once, each ended well. */
static void test_big_stage(void **state)
{
    (void)state;
    enum { TASKS = 12000 };
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(&ctx, &(ember_conf){.master = "local[2]", .ui_port = -1, .progress = -1}), 0);
    int port = ember_ui_port(ctx);
    int64_t n = 0;
    ember_rdd *r = ember_range(ctx, 0, TASKS, 1, TASKS);
    assert_int_equal(ember_count(r, &n), 0);
    assert_int_equal(n, TASKS);
    char id[128], path[400];
    app_id(port, id, sizeof id);
    snprintf(path, sizeof path, "/api/v1/applications/%s/stages/0/0", id);
    json_t *st = get_json(port, path);
    assert_int_equal(geti(st, "numCompleteTasks"), TASKS);
    assert_int_equal(geti(st, "numActiveTasks"), 0);
    assert_int_equal(geti(st, "numFailedTasks"), 0);
    json_decref(st);
    snprintf(path, sizeof path, "/api/v1/applications/%s/stages/0/0/taskList?length=%d", id,
             2 * TASKS);
    json_t *tasks = get_json(port, path);
    assert_int_equal(json_array_size(tasks), TASKS);
    static bool seen[TASKS];
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        json_t *t = json_array_get(tasks, i);
        int64_t index = geti(t, "index");
        assert_true(index >= 0 && index < TASKS);
        assert_false(seen[index]);
        seen[index] = true;
        assert_string_equal(json_string_value(json_object_get(t, "status")), "SUCCESS");
    }
    json_decref(tasks);
    snprintf(path, sizeof path, "/api/v1/applications/%s/executors", id);
    json_t *ex = get_json(port, path);
    assert_int_equal(geti(json_array_get(ex, 0), "completedTasks"), TASKS);
    assert_int_equal(geti(json_array_get(ex, 0), "activeTasks"), 0);
    json_decref(ex);
    ember_free(r);
    ember_close(ctx);
}

static void test_retained(void **state)
{
    char log[300];
    snprintf(log, sizeof log, "%s/events.log", dir);
    setenv("EMBER_UI_RETAINED_JOBS", "10", 1);
    setenv("EMBER_UI_RETAINED_STAGES", "10", 1);
    ember_ctx *ctx;
    assert_int_equal(
        ember_open(
            &ctx,
            &(ember_conf){.master = "local[2]", .ui_port = -1, .event_log = log, .progress = -1}),
        0);
    int port = ember_ui_port(ctx);
    ember_rdd *r = ember_range(ctx, 0, 100, 1, 2);
    for (int i = 0; i < 40; i++) {
        int64_t n = 0;
        assert_int_equal(ember_count(r, &n), 0);
        assert_int_equal(n, 100);
    }
    char id[128], path[400];
    app_id(port, id, sizeof id);
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs", id);
    json_t *jobs = get_json(port, path);
    size_t kept = json_array_size(jobs);
    assert_true(kept >= 10 && kept <= 11); /* dropped a tenth at a time */
    for (size_t i = 0; i < kept; i++)      /* the newest, newest first */
        assert_int_equal(geti(json_array_get(jobs, i), "jobId"), 39 - (int64_t)i);
    snprintf(path, sizeof path, "/api/v1/applications/%s/stages", id);
    json_t *stages = get_json(port, path);
    size_t kept_stages = json_array_size(stages);
    assert_true(kept_stages >= 10 && kept_stages <= 11);
    assert_int_equal(geti(json_array_get(stages, 0), "stageId"), 39);
    ember_buf b = {0};
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs/0", id);
    assert_int_equal(get(port, path, &b), 404);
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs/39", id);
    assert_int_equal(get(port, path, &b), 200);
    /* every task counted, those of dropped stages too */
    snprintf(path, sizeof path, "/api/v1/applications/%s/executors", id);
    json_t *ex = get_json(port, path);
    assert_int_equal(geti(json_array_get(ex, 0), "completedTasks"), 80);
    json_decref(ex);
    assert_int_equal(get(port, "/jobs/", &b), 200);
    char heading[80];
    snprintf(heading, sizeof heading, "Completed Jobs (40, only showing %zu)", kept);
    assert_non_null(strstr((char *)b.ptr, heading));
    assert_int_equal(get(port, "/stages/", &b), 200);
    snprintf(heading, sizeof heading, "Stages for All Jobs (40, only showing %zu)", kept_stages);
    assert_non_null(strstr((char *)b.ptr, heading));
    ember_buf live = {0};
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs", id);
    assert_int_equal(get(port, path, &live), 200);
    json_decref(jobs);
    json_decref(stages);
    ember_free(r);
    ember_close(ctx);

    ember_history *h;
    const char *logs[] = {log};
    assert_int_equal(ember_history_open(&h, logs, 1, -1), 0);
    int hp = ember_history_port(h);
    assert_int_equal(get(hp, path, &b), 200);
    same_text(path, "live", &live, "history", &b);
    assert_int_equal(get(hp, "/", &b), 200); /* the list: 40 jobs */
    assert_non_null(strstr((char *)b.ptr, "<td class=\"n\">40</td>"));
    ember_buf_destroy(&b);
    ember_buf_destroy(&live);
    ember_history_close(h);
    unsetenv("EMBER_UI_RETAINED_JOBS");
    unsetenv("EMBER_UI_RETAINED_STAGES");
}

static void task_line(FILE *f, const char *what, int i, int64_t start, int64_t end)
{
    fprintf(f,
            "{\"Event\":\"SparkListenerTask%s\",\"Stage ID\":0,\"Task Info\":{\"Task ID\":%d,"
            "\"Index\":%d,\"Attempt\":0,\"Partition ID\":%d,\"Launch Time\":%lld,\"ember."
            "Thread\":%d,\"Finish Time\":%lld,\"ember.Duration\":%lld}}\n",
            what, i, i, i, (long long)start, i % 2, (long long)end, (long long)(end - start));
}

/* The chart of cores in use over an application's life stays a few thousand
 * points however long it ran, and keeps its peaks: a log of 20,000 task
 * starts and ends 10 ms apart, after two tasks running at once at the start,
 * replayed by the history server. */
static void test_long_chart(void **state)
{
    char log[300];
    snprintf(log, sizeof log, "%s/long.log", dir);
    FILE *f = fopen(log, "w");
    assert_non_null(f);
    const int64_t t0 = 1796000000000;
    fprintf(f,
            "{\"Event\":\"SparkListenerApplicationStart\",\"App Name\":\"long\",\"App "
            "ID\":\"local-1\",\"Timestamp\":%lld,\"ember.Master\":\"local[2]\",\"ember."
            "Cores\":2}\n"
            "{\"Event\":\"SparkListenerJobStart\",\"Job ID\":0,\"Submission Time\":%lld}\n"
            "{\"Event\":\"SparkListenerStageSubmitted\",\"Stage Info\":{\"Stage ID\":0,"
            "\"Number of Tasks\":10002,\"Submission Time\":%lld,\"ember.Job ID\":0}}\n",
            (long long)t0, (long long)t0, (long long)t0);
    /* tasks 0 and 1 together at the start; then one at a time (a log has its
     * events in the order they came) */
    task_line(f, "Start", 0, t0 + 5, t0 + 100);
    task_line(f, "Start", 1, t0 + 6, t0 + 100);
    task_line(f, "End", 0, t0 + 5, t0 + 100);
    task_line(f, "End", 1, t0 + 6, t0 + 100);
    for (int i = 2; i < 10002; i++) {
        int64_t start = t0 + 1000 + 20 * (int64_t)(i - 2);
        task_line(f, "Start", i, start, start + 10);
        task_line(f, "End", i, start, start + 10);
    }
    fprintf(f, "{\"Event\":\"SparkListenerApplicationEnd\",\"Timestamp\":%lld}\n",
            (long long)(t0 + 1000 + 20 * 10000));
    fclose(f);
    ember_history *h;
    const char *logs[] = {log};
    assert_int_equal(ember_history_open(&h, logs, 1, -1), 0);
    ember_buf b = {0};
    assert_int_equal(get(ember_history_port(h), "/history/local-1/executors/", &b), 200);
    const char *chart = strstr((char *)b.ptr, "id=\"cores-chart\"");
    assert_non_null(chart);
    const char *pts = strstr(chart, "points=\""), *end = pts ? strchr(pts + 8, '"') : NULL;
    assert_non_null(end);
    int n = 0;
    bool peak = false;
    for (const char *p = pts + 8; p < end; p++) {
        if (*p != ',')
            continue;
        n++;
        peak |= !strncmp(p, ",10.0 ", 6); /* 2 of 2 cores: the chart's top */
    }
    assert_true(n > 100);
    assert_true(n <= 2 * 4096 + 2); /* a step is two points */
    assert_true(peak);
    ember_buf_destroy(&b);
    ember_history_close(h);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rest_and_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_and_history_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_applications_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_looks_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_reads_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_reads_on_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_on_demand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_answers_side_by_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_retained_side_by_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_look_side_by_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_summary_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping_and_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_task_text_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_stage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_chart, setup, teardown),
        cmocka_unit_test(test_hostile_clients),
        cmocka_unit_test(test_settings),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
