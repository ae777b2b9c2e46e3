/* Allocation-failure torture, as SQLite does it: each scenario (a job of the
 * Spark suites' kinds) runs once to count the allocations it makes through the
 * seam (src/core/alloc.c: the library's own, and zlib's, zstd's, libcsv's,
 * jansson's and libcurl's), then once more for each k, in a forked child, with
 * the k-th allocation failing. Each run must give the right result, or a clean
 * error (a negative code and a message) after which the context still runs a
 * job; never a crash, a hang (the parent's alarm) or, in sanitizer builds, a
 * leak (LeakSanitizer at the child's exit).
 *
 *   torture [all [STEP]]        every scenario, every (STEP-th) k
 *   torture SCENARIO [STEP [K]] one scenario, every STEP-th k from K (1: all)
 *   torture --list
 *
 * Exit status 0 when every run was clean. */
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ember/ember.h>

#include "support_server.h"

void ember__alloc_fail_at(long k);
long ember__alloc_count(void);
void ember__alloc_fail_curl(bool on);

static char dir[64];
static char base[64]; /* the HTTP server, started in each child that needs it */

/* 0: the right result; 1: a clean error; 2: a wrong result or a dirty error */
typedef int scenario_fn(ember_ctx *ctx);

static int clean(ember_ctx *ctx, int rc)
{
    if (rc == 0)
        return 2; /* (callers pass only failures) */
    const char *m = ember_errmsg(ctx);
    if (rc > 0 || !m || !*m) {
        fprintf(stderr, "a failure without a message: rc %d\n", rc);
        return 2;
    }
    return 1;
}

static int64_t collect_sum(ember_rdd *r, int *rc)
{
    ember_result *res = NULL;
    int64_t sum = 0;
    if ((*rc = ember_collect(r, &res)))
        return 0;
    for (size_t i = 0; i < ember_result_len(res); i++)
        sum += ember_i64(ember_result_at(res, i).val);
    ember_result_free(res);
    return sum;
}

static int key_mod(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    int64_t v = ember_i64(in.val), k = v % 37;
    return ember_emit_pair_i64(out, ember_bytes_of(&k, 8), v);
}

static int s_reduce_by_key(ember_ctx *ctx)
{
    int rc;
    ember_rdd *r = ember_reduce_by_key(ember_map(ember_range(ctx, 0, 3000, 1, 4), key_mod, NULL),
                                       ember_sum_i64, NULL, 3);
    int64_t sum = collect_sum(r, &rc);
    return rc ? clean(ctx, rc) : sum == 3000LL * 2999 / 2 ? 0 : 2;
}

static int s_group_spill(ember_ctx *ctx)
{
    /* the budget is tiny: every map task spills sorted, compressed runs */
    int64_t n = 0;
    ember_rdd *g = ember_group_by_key(ember_map(ember_range(ctx, 0, 5000, 1, 4), key_mod, NULL), 3);
    int rc = ember_count(g, &n);
    return rc ? clean(ctx, rc) : n == 37 ? 0 : 2;
}

static int self_key(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit_pair(out, in.val, in.val);
}

static int s_sort(ember_ctx *ctx)
{
    int64_t v[500];
    for (int i = 0; i < 500; i++)
        v[i] = (i * 7919) % 500;
    ember_rdd *s = ember_values(
        ember_sort_by_key(ember_map(ember_parallelize_i64(ctx, v, 500, 4), self_key, NULL), true,
                          ember_cmp_i64, NULL, 3));
    ember_result *res = NULL;
    int rc = ember_collect(s, &res);
    if (rc)
        return clean(ctx, rc);
    int bad = ember_result_len(res) != 500;
    for (size_t i = 0; !bad && i < 500; i++)
        bad = ember_i64(ember_result_at(res, i).val) != (int64_t)i;
    ember_result_free(res);
    return bad ? 2 : 0;
}

static int s_join_cache(ember_ctx *ctx)
{
    ember_rdd *a = ember_cache(ember_map(ember_range(ctx, 0, 400, 1, 3), key_mod, NULL));
    ember_rdd *b = ember_map(ember_range(ctx, 0, 74, 1, 2), key_mod, NULL);
    int64_t n = 0;
    int rc = ember_count(ember_join(a, b, 2), &n);
    if (rc)
        return clean(ctx, rc);
    int64_t again = 0; /* from the cache */
    if ((rc = ember_count(a, &again)))
        return clean(ctx, rc);
    return n == 400 * 2 && again == 400 ? 0 : 2;
}

static int add_acc(ember_rec in, void *arg)
{
    return ember_accumulator_add_i64(arg, ember_i64(in.val));
}

static int lookup(ember_rec in, ember_out *out, void *arg)
{
    ember_bytes b = ember_broadcast_value(arg);
    return ember_emit_i64(out, ember_i64(in.val) + (int64_t)b.len);
}

static int s_shared(ember_ctx *ctx)
{
    ember_accumulator *acc = ember_accumulator_i64(ctx, 0);
    ember_broadcast *bc = ember_broadcast_create(ctx, "0123456789", 10);
    if (!acc || !bc)
        return clean(ctx, EMBER_ENOMEM);
    int rc = ember_foreach(ember_map(ember_range(ctx, 0, 100, 1, 4), lookup, bc), add_acc, acc);
    if (rc)
        return clean(ctx, rc);
    int64_t v = 0;
    if ((rc = ember_accumulator_value_i64(acc, &v)))
        return clean(ctx, rc);
    return v == 4950 + 1000 ? 0 : 2;
}

static int twice(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit_i64(out, 2 * ember_i64(in.val));
}

static int s_map_concurrent(ember_ctx *ctx)
{
    int rc;
    int64_t sum = collect_sum(
        ember_map_concurrent(ember_range(ctx, 0, 60, 1, 2), twice, NULL, 8, EMBER_ORDERED), &rc);
    return rc ? clean(ctx, rc) : sum == 2 * 1770 ? 0 : 2;
}

static int s_http(ember_ctx *ctx)
{
    char lines[20][96];
    ember_bytes items[20];
    for (int i = 0; i < 20; i++) {
        snprintf(lines[i], sizeof lines[i],
                 i % 5 ? "%s/ok/%d" : "{\"url\":\"%s/echo\",\"body\":{\"i\":%d}}", base, i);
        items[i] = ember_str(lines[i]);
    }
    const char *hdrs[] = {"X-Test: t", NULL};
    ember_rdd *h = ember_http(
        ember_parallelize(ctx, items, 20, 2),
        /* a transfer curl loses track of when its own allocation
         * fails ends by its timeout */
        &(ember_http_conf){.headers = hdrs, .max_in_flight = 4, .timeout = 2, .max_attempts = 2});
    ember_result *res = NULL;
    int rc = ember_collect(h, &res);
    if (rc)
        return clean(ctx, rc);
    /* a request may fail on its own when curl runs out of memory: it says so */
    int bad = ember_result_len(res) != 20;
    for (size_t i = 0; !bad && i < 20; i++) {
        ember_http_response r;
        bad = ember_http_response_get(ember_result_at(res, i).val, &r) != 0 ||
              (r.status != 200 && r.error.len == 0);
    }
    ember_result_free(res);
    return bad ? 2 : 0;
}

static int as_text(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    char b[32];
    int n = snprintf(b, sizeof b, "line %lld", (long long)ember_i64(in.val));
    return ember_emit(out, ember_bytes_of(b, (size_t)n));
}

static int s_save_read(ember_ctx *ctx)
{
    char out[128], csv[128];
    static int round;
    snprintf(out, sizeof out, "%s/out-%d-%d", dir, (int)getpid(), round++);
    int rc = ember_save_as_text_file(ember_map(ember_range(ctx, 0, 300, 1, 3), as_text, NULL), out,
                                     round % 2 ? "gzip" : "zstd");
    if (rc)
        return clean(ctx, rc);
    int64_t n = 0;
    if ((rc = ember_count(ember_text_file(ctx, out, 2), &n)))
        return clean(ctx, rc);
    snprintf(csv, sizeof csv, "%s/in.csv", dir);
    ember_rdd *rows = ember_read_csv(ctx, csv, &(ember_csv_opts){.header = 1, .read.min_parts = 3});
    int64_t m = 0;
    if ((rc = ember_count(rows, &m)))
        return clean(ctx, rc);
    char json[128];
    snprintf(json, sizeof json, "%s/in.jsonl", dir);
    int64_t j = 0;
    if ((rc = ember_count(ember_read_json_lines(ctx, json, NULL), &j)))
        return clean(ctx, rc);
    if (n != 300 || m != 200 || j != 50)
        fprintf(stderr, "save_read: %lld lines, %lld rows, %lld JSON lines\n", (long long)n,
                (long long)m, (long long)j);
    return n == 300 && m == 200 && j == 50 ? 0 : 2;
}

static const struct {
    const char *name;
    scenario_fn *fn;
    bool http;
} scenarios[] = {
    {"reduce_by_key", s_reduce_by_key, false},
    {"group_spill", s_group_spill, false},
    {"sort", s_sort, false},
    {"join_cache", s_join_cache, false},
    {"shared", s_shared, false},
    {"map_concurrent", s_map_concurrent, false},
    {"http", s_http, true},
    {"save_read", s_save_read, false},
};
#define NSCEN ((int)(sizeof scenarios / sizeof *scenarios))

/* One run, in this process: 0 right, 1 clean error, 2 wrong (or an open that
 * failed without a message). k 0: no failure. */
static int run_once(int i, long k)
{
    ember_ctx *ctx = NULL;
    /* TORTURE_CURL=1 fails libcurl's allocations too (see src/core/alloc.c) */
    ember__alloc_fail_curl(getenv("TORTURE_CURL") && !strcmp(getenv("TORTURE_CURL"), "1"));
    ember__alloc_fail_at(k);
    int rc = ember_open(&ctx, &(ember_conf){.master = "local[2,2]", .memory_budget = 8192});
    if (rc) {
        ember__alloc_fail_at(0);
        return *ember_errmsg(NULL) ? 1 : 2;
    }
    int r = scenarios[i].fn(ctx);
    ember__alloc_fail_at(0);
    if (r && (k == 0 || getenv("TORTURE_VERBOSE")))
        fprintf(stderr, "torture %s (allocation %ld failing): %s: %s\n", scenarios[i].name, k,
                r == 1 ? "a clean error" : "a wrong result", ember_errmsg(ctx));
    if (r == 1) { /* after a clean error the context still runs a job */
        int64_t n = 0;
        if (ember_count(ember_range(ctx, 0, 10, 1, 2), &n) || n != 10) {
            fprintf(stderr, "the context is not usable after the error: %s\n", ember_errmsg(ctx));
            r = 2;
        }
    }
    ember_close(ctx);
    return r;
}

static test_server *srv;

/* A crash in a child: where, on stderr, for the report. */
static void on_crash(int sig)
{
    void *frames[48];
    int n = backtrace(frames, 48);
    static const char head[] =
        "torture: the child crashed; its stack (addr2line -e test_torture):\n";
    ssize_t w = write(STDERR_FILENO, head, sizeof head - 1);
    (void)w;
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Run scenario i with the k-th allocation failing, in a child; 0 clean. */
static int torture_one(int i, long k)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        if (getenv("TORTURE_WAIT") && atol(getenv("TORTURE_WAIT")) == k) { /* attach a debugger */
            fprintf(stderr, "torture: child %d waits for a debugger\n", (int)getpid());
            raise(SIGSTOP);
        }
        signal(SIGFPE, on_crash);
        signal(SIGSEGV, on_crash);
        signal(SIGBUS, on_crash);
        alarm(getenv("TORTURE_ALARM") ? (unsigned)atoi(getenv("TORTURE_ALARM"))
                                      : 60); /* a hang is a failure */
        if (scenarios[i].http) {
            srv = server_start(NULL, NULL);
            if (!srv)
                _exit(3);
            snprintf(base, sizeof base, "http://127.0.0.1:%d", srv->port);
        }
        int r = run_once(i, k);
        if (srv)
            server_stop(srv);
        exit(r == 2 ? 2 : 0); /* exit, not _exit: LeakSanitizer checks at exit */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    fprintf(stderr, "torture %s, allocation %ld failing: %s %d\n", scenarios[i].name, k,
            WIFSIGNALED(st) ? "killed by signal" : "exit status",
            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return 1;
}

/* The allocations scenario i makes with none failing (in a child too: the
 * first run of a process sets up libraries once). */
static long count_allocs(int i)
{
    int fds[2];
    if (pipe(fds))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (scenarios[i].http) {
            srv = server_start(NULL, NULL);
            snprintf(base, sizeof base, "http://127.0.0.1:%d", srv ? srv->port : 1);
        }
        long before = ember__alloc_count();
        int r = run_once(i, 0);
        long n = ember__alloc_count() - before;
        if (srv)
            server_stop(srv);
        if (r != 0)
            n = -1;
        if (write(fds[1], &n, sizeof n) != sizeof n)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    long n = -1;
    if (read(fds[0], &n, sizeof n) != sizeof n)
        n = -1;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return n;
}

static void make_inputs(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/in.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("id,name,note\n", f);
    for (int i = 0; i < 200; i++)
        fprintf(f, "%d,\"n %d\",\"a, \"\"b\"\"\"\n", i, i);
    fclose(f);
    snprintf(path, sizeof path, "%s/in.jsonl", dir);
    f = fopen(path, "w");
    for (int i = 0; i < 50; i++)
        fprintf(f, "{\"i\":%d,\"s\":\"x\"}\n", i);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--list")) {
        for (int i = 0; i < NSCEN; i++)
            puts(scenarios[i].name);
        return 0;
    }
    snprintf(dir, sizeof dir, "/tmp/ember-torture-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    make_inputs();
    long step = argc > 2 ? atol(argv[2]) : 1;
    if (step < 1)
        step = 1;
    int failures = 0, ran = 0;
    for (int i = 0; i < NSCEN; i++) {
        if (argc > 1 && strcmp(argv[1], scenarios[i].name) && strcmp(argv[1], "all"))
            continue;
        ran++;
        long n = count_allocs(i);
        if (n < 0) {
            fprintf(stderr, "torture %s: the scenario fails with no allocation failing\n",
                    scenarios[i].name);
            failures++;
            continue;
        }
        int bad = 0;
        long runs = 0;
        long first = argc > 3 ? atol(argv[3]) : 1;
        for (long k = first > 0 ? first : 1; k <= n; k += step, runs++)
            bad += torture_one(i, k);
        printf("%s: %ld allocations, %ld runs with one failing, %d not clean\n", scenarios[i].name,
               n, runs, bad);
        failures += bad;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
        failures++;
    if (!ran) {
        fprintf(stderr, "no scenario named %s (torture --list)\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    return failures ? 1 : 0;
}
