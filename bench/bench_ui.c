/* The web UI's pages for a big job: a count over 10,000 partitions (10,000
 * tasks), then each page and REST answer fetched RUNS times from
 * 127.0.0.1; prints "NAME median_ms bytes" a line. */
#include <curl/curl.h>
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t keep(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    *(size_t *)arg += size * n;
    return size * n;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int tasks = argc > 1 ? atoi(argv[1]) : 10000, runs = argc > 2 ? atoi(argv[2]) : 7;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = "local[2]", .ui_port = -1, .progress = -1})) {
        fprintf(stderr, "bench_ui: %s\n", ember_errmsg(NULL));
        return 1;
    }
    int64_t n;
    if (ember_count(ember_range(ctx, 0, tasks, 1, tasks), &n))
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    char url[2048], app[128] = "";
    /* the app id, from the REST API */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/applications", ember_ui_port(ctx));
    char body[4096] = "";
    FILE *mem = fmemopen(body, sizeof body - 1, "w");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    curl_easy_perform(h);
    fclose(mem);
    char *id = strstr(body, "\"id\": \"");
    if (id)
        sscanf(id + 7, "%127[^\"]", app);
    static const char *const names[] = {"stage page (10,000 tasks)", "job page", "jobs page",
                                        "REST taskList (10,000)", "REST stage with tasks"};
    char paths[5][256];
    snprintf(paths[0], sizeof paths[0], "/stages/stage/?id=0");
    snprintf(paths[1], sizeof paths[1], "/jobs/job/?id=0");
    snprintf(paths[2], sizeof paths[2], "/jobs/");
    snprintf(paths[3], sizeof paths[3], "/api/v1/applications/%s/stages/0/0/taskList?length=%d",
             app, tasks);
    snprintf(paths[4], sizeof paths[4], "/api/v1/applications/%s/stages/0/0", app);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    for (int p = 0; p < 5; p++) {
        double t[64];
        size_t bytes = 0;
        for (int r = 0; r < runs && r < 64; r++) {
            snprintf(url, sizeof url, "http://127.0.0.1:%d%s", ember_ui_port(ctx), paths[p]);
            bytes = 0;
            curl_easy_setopt(h, CURLOPT_URL, url);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &bytes);
            double t0 = now_ms();
            curl_easy_perform(h);
            t[r] = now_ms() - t0;
        }
        qsort(t, (size_t)runs, sizeof *t, cmp);
        printf("%s\t%.1f\t%zu\n", names[p], t[runs / 2], bytes);
    }
    curl_easy_cleanup(h);
    curl_global_cleanup();
    ember_close(ctx);
    return 0;
}
