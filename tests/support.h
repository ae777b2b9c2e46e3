/* Helpers shared by the tests: cmocka, a context, records as int64 arrays. */
#ifndef EMBER_TEST_SUPPORT_H
#define EMBER_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <ember/ember.h>

#define UNUSED __attribute__((unused))

/* Under EMBER_TEST_MPI=1 (the suite run by mpirun), a test's local master runs
 * on MPI instead, with the same threads a rank and the same attempts:
 * local -> mpi[1,1], local[N] -> mpi[N,1], local[N,F] -> mpi[N,F]. */
static UNUSED const char *test_master(const char *master)
{
    static char m[64];
    /* EMBER_TEST_PROCESS=N: the suite under process[N] (crash-isolated workers),
     * with the attempts the test asked for: local[K,F] -> process[N,F] */
    const char *procs = getenv("EMBER_TEST_PROCESS");
    if (procs && *procs && master && !strncmp(master, "local", 5)) {
        const char *comma = strchr(master, ',');
        if (comma)
            snprintf(m, sizeof m, "process[%s,%s", procs, comma + 1);
        else
            snprintf(m, sizeof m, "process[%s,1]", procs);
        return m;
    }
    const char *env = getenv("EMBER_TEST_MPI");
    if (!env || strcmp(env, "1") || !master || strncmp(master, "local", 5))
        return master;
    if (!strcmp(master, "local"))
        return "mpi[1,1]";
    const char *p = master + 6, *comma = strchr(p, ',');
    if (comma)
        snprintf(m, sizeof m, "mpi[%s", p);
    else
        snprintf(m, sizeof m, "mpi[%.*s,1]", (int)strcspn(p, "]"), p);
    return m;
}

/* Whether partition p's tasks run in this process (every one but under MPI,
 * where partition p runs on rank p % ranks). */
static UNUSED bool runs_here(const ember_ctx *ctx, int p)
{
    const char *procs = getenv("EMBER_TEST_PROCESS");
    if (procs && *procs) /* process[N]: tasks run in the workers, never here */
        return false;
    return p % ember_ranks(ctx) == ember_rank(ctx);
}

/* The suite runs under process[N]: side effects of user functions stay in
 * the workers. */
static UNUSED bool isolated_run(void)
{
    const char *procs = getenv("EMBER_TEST_PROCESS");
    return procs && *procs;
}

static UNUSED ember_ctx *open_ctx(const char *master)
{
    ember_ctx *ctx = NULL;
    master = test_master(master);
    int rc = ember_open(&ctx, &(ember_conf){.master = master});
    if (rc)
        fprintf(stderr, "ember_open(%s): %s\n", master, ember_errmsg(NULL));
    assert_int_equal(rc, 0);
    return ctx;
}

/* A context opened with conf, its event log events.log in a new directory
 * made from dir (a template ending in XXXXXX, rewritten), no bar; log receives
 * the log's path (cap bytes). */
static UNUSED ember_ctx *open_logged(char *dir, char *log, size_t cap, ember_conf conf)
{
    assert_non_null(mkdtemp(dir));
    snprintf(log, cap, "%s/events.log", dir);
    conf.event_log = log;
    conf.progress = -1;
    ember_ctx *ctx = NULL;
    assert_int_equal(ember_open(&ctx, &conf), 0);
    return ctx;
}

/* Collect an rdd of int64 values into out (at most cap); returns how many. */
static UNUSED size_t collect_i64(ember_rdd *rdd, int64_t *out, size_t cap)
{
    ember_result *res = NULL;
    int rc = ember_collect(rdd, &res);
    if (rc && rdd)
        fprintf(stderr, "collect: %s\n", ember_errmsg(NULL));
    assert_int_equal(rc, 0);
    size_t n = ember_result_len(res);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        ember_rec r = ember_result_at(res, i);
        assert_int_equal(r.val.len, 8);
        out[i] = ember_i64(r.val);
    }
    ember_result_free(res);
    return n;
}

/* The sizes of an rdd's partitions, through glom. */
static UNUSED int partition_sizes(ember_rdd *rdd, int64_t *sizes, int cap)
{
    ember_rdd *g = ember_glom(rdd);
    ember_result *res = NULL;
    assert_int_equal(ember_collect(g, &res), 0);
    int n = (int)ember_result_len(res);
    assert_true(n <= cap);
    for (int i = 0; i < n; i++) {
        ember_iter it;
        ember_rec r;
        ember_iter_init(&it, ember_result_at(res, (size_t)i).val);
        sizes[i] = 0;
        while (ember_iter_next(&it, &r) == 1)
            sizes[i]++;
    }
    ember_result_free(res);
    ember_free(g);
    return n;
}

static UNUSED int64_t count_of(ember_rdd *rdd)
{
    int64_t n = -1;
    assert_int_equal(ember_count(rdd, &n), 0);
    return n;
}

/* An ember_str that survives: the bytes of a string literal. */
#define B(s) ember_bytes_of((s), sizeof(s) - 1)

static UNUSED void assert_bytes(ember_bytes b, const char *s)
{
    size_t n = strlen(s);
    if (b.len != n || (n && memcmp(b.ptr, s, n))) {
        fprintf(stderr, "bytes: got '%.*s' (%zu), expected '%s'\n", (int)b.len, (const char *)b.ptr,
                b.len, s);
        fail();
    }
}

/* The message on ctx contains needle. */
static UNUSED void assert_msg(const ember_ctx *ctx, const char *needle)
{
    const char *m = ember_errmsg(ctx);
    if (!strstr(m, needle)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", m, needle);
        fail();
    }
}

/* A scratch directory per test program: tmpdir_setup and tmpdir_teardown as the
 * group's setup and teardown; tmp_path names a file in it (four at a time). */
static char test_dir[64];

static UNUSED int tmpdir_setup(void **state)
{
    (void)state;
    /* under mpirun every rank must see the same files (a shared file system):
     * the launcher's directory, made and removed by tests/mpi/run.sh */
    const char *shared = getenv("EMBER_TEST_DIR");
    if (shared && strlen(shared) < sizeof test_dir) {
        strcpy(test_dir, shared);
        return 0;
    }
    strcpy(test_dir, "/tmp/ember-test-XXXXXX");
    return mkdtemp(test_dir) ? 0 : -1;
}

/* rm -rf dir (a test's own scratch directory): 0 when done */
static UNUSED int remove_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static UNUSED int tmpdir_teardown(void **state)
{
    (void)state;
    if (getenv("EMBER_TEST_DIR"))
        return 0;
    return remove_tree(test_dir);
}

static UNUSED const char *tmp_path(const char *name)
{
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", test_dir, name);
    return path[k];
}

/* Written aside and renamed into place: under mpirun every rank writes the same
 * file, and none may read it half written. */
static UNUSED void tmp_write(const char *name, const void *data, size_t len)
{
    char aside[300];
    snprintf(aside, sizeof aside, "%s.%d.tmp", tmp_path(name), (int)getpid());
    FILE *f = fopen(aside, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(aside, tmp_path(name)), 0);
}

/* (sum, count) combiners over int64 values */
static UNUSED int sc_create(ember_bytes v, ember_buf *res, void *arg)
{
    int64_t sc[2] = {ember_i64(v), 1};
    return ember_buf_set(res, sc, sizeof sc);
}

static UNUSED int sc_add(ember_bytes acc, ember_bytes v, ember_buf *res, void *arg)
{
    int64_t sc[2];
    memcpy(sc, acc.ptr, sizeof sc);
    sc[0] += ember_i64(v);
    sc[1]++;
    return ember_buf_set(res, sc, sizeof sc);
}

static UNUSED int sc_merge(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    int64_t x[2], y[2];
    memcpy(x, a.ptr, sizeof x);
    memcpy(y, b.ptr, sizeof y);
    x[0] += y[0];
    x[1] += y[1];
    return ember_buf_set(res, x, sizeof x);
}

/* n JSON objects {"id": i, "name": "row i", "score": i / 2} in parts partitions
 * (the database tests' rows) */
static UNUSED ember_rdd *json_rows(ember_ctx *ctx, int n, int parts)
{
    ember_bytes *items = calloc((size_t)n, sizeof *items);
    char **s = calloc((size_t)n, sizeof *s);
    for (int i = 0; i < n; i++) {
        s[i] = malloc(100);
        snprintf(s[i], 100, "{\"id\": %d, \"name\": \"row %d\", \"score\": %g}", i, i, i / 2.0);
        items[i] = ember_str(s[i]);
    }
    ember_rdd *r = ember_parallelize(ctx, items, (size_t)n, parts);
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
    free(items);
    return r;
}

/* A map over json_rows that fails its first attempt at the row with id 1300
 * (partition 1 of 4000 rows in 4), once until row_1300_failed is reset. */
static UNUSED atomic_int row_1300_failed;
static UNUSED int fail_at_row_1300(ember_rec in, ember_out *out, void *arg)
{
    if (strstr((const char *)in.val.ptr, "\"id\": 1300,") && !atomic_exchange(&row_1300_failed, 1))
        return EMBER_EIO;
    return ember_emit(out, in.val);
}

#endif
