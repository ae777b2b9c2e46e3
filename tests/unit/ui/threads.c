/* A context driven from 100 threads alive at once, one action at a time (the
 * driver may change threads between actions). Each thread's events wait in a
 * slot of its own for the event log's writer and for the web UI's model, and
 * each take holds every slot at once: past 64 slots, the takes once went round
 * the same 64 for ever. Every job is in the log on disk once, in order, and
 * in the REST API.
 *
 * Its own program: ThreadSanitizer's deadlock detector tracks at most 64
 * locks held by one thread (CMakeLists.txt runs it with detect_deadlocks=0). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "support.h"

enum { THREADS = 100 };

static struct {
    ember_ctx *ctx;
    pthread_mutex_t turn;
    pthread_barrier_t done;
    _Atomic int counted;
} drivers = {.turn = PTHREAD_MUTEX_INITIALIZER};

static void *count_ten(void *arg)
{
    (void)arg;
    int64_t n = 0;
    pthread_mutex_lock(&drivers.turn);
    ember_rdd *r = ember_range(drivers.ctx, 0, 10, 1, 2);
    if (!ember_count(r, &n) && n == 10)
        drivers.counted++;
    ember_free(r);
    pthread_mutex_unlock(&drivers.turn);
    pthread_barrier_wait(&drivers.done); /* alive until all ran: each keeps its slots */
    return NULL;
}

/* The JSON the server at port answers for path (fetched into a memory stream). */
static json_t *rest(int port, const char *path)
{
    char url[512], *body = NULL;
    size_t len = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    FILE *mem = open_memstream(&body, &len);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    fclose(mem);
    json_t *j = json_loadb(body, len, 0, NULL);
    free(body);
    assert_non_null(j);
    return j;
}

static void test_many_driver_threads(void **state)
{
    (void)state;
    char dir[] = "/tmp/ember-threads-XXXXXX", log[64];
    ember_ctx *ctx =
        open_logged(dir, log, sizeof log, (ember_conf){.master = "local[2]", .ui_port = -1});
    drivers.ctx = ctx;
    assert_int_equal(pthread_barrier_init(&drivers.done, NULL, THREADS), 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, count_ten, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&drivers.done);
    assert_int_equal(drivers.counted, THREADS);

    int port = ember_ui_port(ctx);
    json_t *apps = rest(port, "/api/v1/applications");
    char path[300];
    snprintf(path, sizeof path, "/api/v1/applications/%s/jobs",
             json_string_value(json_object_get(json_array_get(apps, 0), "id")));
    json_t *jobs = rest(port, path);
    assert_int_equal(json_array_size(jobs), THREADS);
    for (size_t i = 0; i < json_array_size(jobs); i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(jobs, i), "status")),
                            "SUCCEEDED");
    json_decref(jobs);
    json_decref(apps);
    ember_close(ctx);

    /* the log: each job's start, its two tasks' ends, its end, in that order */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int started = 0, ended = 0, task_ends = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        const char *ev = json_string_value(json_object_get(o, "Event"));
        if (!strcmp(ev, "SparkListenerJobStart")) {
            assert_int_equal(started, ended); /* the one before it ended */
            started++;
        } else if (!strcmp(ev, "SparkListenerTaskEnd")) {
            assert_int_equal(started, ended + 1); /* inside its job */
            task_ends++;
        } else if (!strcmp(ev, "SparkListenerJobEnd")) {
            assert_int_equal(task_ends, 2 * started); /* after its tasks */
            ended++;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    assert_int_equal(ended, THREADS);
    assert_int_equal(task_ends, 2 * THREADS);
    assert_int_equal(remove_tree(dir), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_driver_threads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
