/* A program the UI tests drive: it opens a context (the web UI, the event log
 * and the progress bar as the environment says), prints "port N", then runs a
 * job each time it reads a line naming one on stdin, and prints "done JOB"
 * (or "failed JOB: message") after it. EOF closes the context and prints
 * "closed".
 *
 *   ui_job [APP_NAME]
 *   jobs: words FILE     word count (text_file, flat_map, reduce_by_key, collect)
 *         slow N MS      N partitions, each sleeping MS ms a record, 4 records each
 *         skew           8 tasks, one 10x slower than the others
 *         fail           a map that fails on one record
 *         http N MS      N requests to a local server answering after MS ms
 *         spill          a group_by_key past a tiny memory budget (its own context)
 *         bad FILE DIR   read_csv of FILE diverting bad rows to DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "support_server.h"

static int words(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    const char *p = in.val.ptr, *end = p + in.val.len;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *w = p;
        while (p < end && *p != ' ')
            p++;
        if (p > w) {
            int rc = ember_emit_pair_i64(out, ember_bytes_of(w, (size_t)(p - w)), 1);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int nap(ember_rec in, ember_out *out, void *arg)
{
    usleep((useconds_t)(*(int *)arg) * 1000);
    return ember_emit(out, in.val);
}

static int skewed(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    usleep(ember_i64(in.val) == 0 ? 400000 : 40000);
    return ember_emit(out, in.val);
}

static int fail_on_7(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_i64(in.val) == 7 ? EMBER_EIO : ember_emit(out, in.val);
}

static int to_url(ember_rec in, ember_out *out, void *arg)
{
    const int *a = arg;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/%lld?delay_ms=%d", a[0],
             (long long)ember_i64(in.val), a[1]);
    return ember_emit_str(out, url);
}

static int run(ember_ctx *ctx, char *line, test_server **srv)
{
    char what[32] = "", a1[512] = "", a2[512] = "";
    sscanf(line, "%31s %511s %511s", what, a1, a2);
    ember_result *res = NULL;
    int64_t n = 0;
    int rc;
    if (!strcmp(what, "words")) {
        rc = ember_collect(
            ember_reduce_by_key(ember_flat_map(ember_text_file(ctx, a1, 4), words, NULL),
                                ember_sum_i64, NULL, 3),
            &res);
    } else if (!strcmp(what, "slow")) {
        static int ms;
        int parts = atoi(a1);
        ms = atoi(a2);
        rc = ember_count(ember_map(ember_range(ctx, 0, 4 * parts, 1, parts), nap, &ms), &n);
    } else if (!strcmp(what, "skew")) {
        rc = ember_count(ember_map(ember_range(ctx, 0, 8, 1, 8), skewed, NULL), &n);
    } else if (!strcmp(what, "fail")) {
        rc = ember_count(ember_map(ember_range(ctx, 0, 20, 1, 4), fail_on_7, NULL), &n);
    } else if (!strcmp(what, "http")) {
        static int args[2];
        if (!*srv && !(*srv = server_start(NULL, NULL)))
            return EMBER_EIO;
        args[0] = (*srv)->port;
        args[1] = atoi(a2);
        ember_http_conf hc = {.max_in_flight = 16};
        rc = ember_count(
            ember_http(ember_map(ember_range(ctx, 0, atoi(a1), 1, 2), to_url, args), &hc), &n);
    } else if (!strcmp(what, "bad")) {
        ember_csv_opts o = {.header = true, .read = {.on_bad = EMBER_BAD_DIVERT, .bad_dir = a2}};
        rc = ember_count(ember_read_csv(ctx, a1, &o), &n);
    } else {
        fprintf(stderr, "ui_job: no job '%s'\n", what);
        return EMBER_EINVAL;
    }
    ember_result_free(res);
    return rc;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *budget = getenv("UI_JOB_BUDGET");
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = "local[2]",
                                       .app_name = argc > 1 ? argv[1] : "ui_job",
                                       .memory_budget = budget ? (size_t)atol(budget) : 0})) {
        fprintf(stderr, "ui_job: %s\n", ember_errmsg(NULL));
        return 1;
    }
    printf("port %d\n", ember_ui_port(ctx));
    test_server *srv = NULL;
    char line[2048];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (!*line)
            continue;
        int rc = run(ctx, line, &srv);
        if (rc)
            printf("failed %s: %s\n", line, ember_errmsg(ctx));
        else
            printf("done %s\n", line);
    }
    ember_close(ctx);
    if (srv)
        server_stop(srv);
    printf("closed\n");
    return 0;
}
