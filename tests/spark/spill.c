/* Shuffles past the memory budget: every operation run twice, with room to
 * spare and with a budget so small that every map task spills, giving the same
 * records; a hot key's group streamed; spill files never left behind; a spill
 * directory that cannot be written, or fills up, failing cleanly. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static char spill_dir[64];

/* ---------------------------------------------------------------- data */

enum { N = 8000 };
static char keys[N][12];
static int64_t vals[N];
static ember_rec items[N], others[N / 4];

/* Skewed pairs: one key in five is "hot", the rest spread over 300 keys. */
static void make_data(void)
{
    uint64_t x = 42;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned k = (unsigned)(x >> 33);
        int len = k % 5 == 0 ? snprintf(keys[i], sizeof keys[i], "hot")
                             : snprintf(keys[i], sizeof keys[i], "k%u", k % 300);
        vals[i] = (int64_t)(k % 1000);
        items[i] = (ember_rec){ember_bytes_of(keys[i], (size_t)len), ember_bytes_of(&vals[i], 8)};
    }
    for (int i = 0; i < N / 4; i++) /* the other side: keys shared in part */
        others[i] = (ember_rec){items[i * 3 % N].key, ember_bytes_of(&vals[(i * 7) % N], 8)};
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static bool libzstd_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "/libzstd.so") != NULL;
    fclose(f);
    return found;
}

static ember_ctx *open_budget(size_t budget, const char *dir)
{
    ember_ctx *ctx = NULL;
    int rc = ember_open(&ctx, &(ember_conf){.master = test_master("local[2]"),
                                            .memory_budget = budget,
                                            .spill_dir = dir,
                                            .max_failures = 2});
    assert_int_equal(rc, 0);
    return ctx;
}

static int64_t spills_so_far(ember_ctx *ctx)
{
    int64_t n = 0;
    for (int64_t j = 0; j < ember_job_count(ctx); j++) {
        ember_job_stats js;
        if (ember_job_stats_get(ctx, j, &js) == 0)
            n += js.total.spill_count;
    }
    return n;
}

/* ---------------------------------------------------------------- canonical results */

typedef struct blob {
    unsigned char *p;
    size_t n;
} blob;

static int cmp_blob(const void *x, const void *y)
{
    const blob *a = x, *b = y;
    size_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->p, b->p, n);
    return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* The records of res, each as key length, key, value; sorted unless ordered. */
static ember_buf canon(ember_result *res, bool ordered)
{
    size_t n = ember_result_len(res);
    blob *b = calloc(n + 1, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        ember_rec r = ember_result_at(res, i);
        b[i].n = 9 + r.key.len + r.val.len;
        b[i].p = malloc(b[i].n);
        uint64_t kl = r.key.ptr ? r.key.len : UINT64_MAX;
        memcpy(b[i].p, &kl, 8);
        b[i].p[8] = 0;
        if (r.key.len)
            memcpy(b[i].p + 9, r.key.ptr, r.key.len);
        if (r.val.len)
            memcpy(b[i].p + 9 + r.key.len, r.val.ptr, r.val.len);
    }
    if (!ordered)
        qsort(b, n, sizeof *b, cmp_blob);
    ember_buf out;
    ember_buf_init(&out);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ember_buf_append(&out, b[i].p, b[i].n), 0);
        free(b[i].p);
    }
    free(b);
    return out;
}

/* ---------------------------------------------------------------- operations */

static int first_byte(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, ember_bytes_of(in.val.ptr, 1)); /* the low byte of the value */
}

/* aggregate_by_key's step: one more value seen */
static int count_one(ember_bytes acc, ember_bytes v, ember_buf *res, void *arg)
{
    return ember_buf_set_i64(res, ember_i64(acc) + 1);
}

static int value_key(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, in.val);
}

typedef struct op {
    const char *name;
    bool ordered; /* the order of records is part of the answer */
    ember_rdd *(*build)(ember_rdd *a, ember_rdd *b, int parts);
} op;

static ember_rdd *o_partition_by(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_partition_by(a, p);
}
static ember_rdd *o_repartition(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_repartition(a, p);
}
static ember_rdd *o_reduce(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_reduce_by_key(a, ember_sum_i64, NULL, p);
}
static ember_rdd *o_fold(ember_rdd *a, ember_rdd *b, int p)
{
    /* the zero may count once per combine on the map side, as in Spark: neutral */
    int64_t zero = 0;
    return ember_fold_by_key(a, ember_bytes_of(&zero, 8), ember_max_i64, NULL, p);
}
static ember_rdd *o_aggregate(ember_rdd *a, ember_rdd *b, int p)
{
    int64_t zero = 0;
    return ember_aggregate_by_key(a, ember_bytes_of(&zero, 8), count_one, ember_sum_i64, NULL, p);
}
static ember_rdd *o_combine(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_combine_by_key(a, sc_create, sc_add, sc_merge, NULL, p) /* (sum, count) */;
}
static ember_rdd *o_group(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_group_by_key(a, p);
}
static ember_rdd *o_group_by(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_group_by(ember_values(a), first_byte, NULL, p);
}
static ember_rdd *o_distinct(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_distinct(a, p);
}
static ember_rdd *o_cogroup(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_cogroup(a, b, p);
}
static int not_hot(ember_rec in, void *arg)
{
    return !(in.key.len == 3 && !memcmp(in.key.ptr, "hot", 3));
}
/* the joins without the hot key (4000 x 1000 pairs would only be slow) */
static ember_rdd *o_join(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_join(ember_filter(a, not_hot, NULL), b, p);
}
static ember_rdd *o_left(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_left_outer_join(ember_filter(a, not_hot, NULL), ember_filter(b, not_hot, NULL), p);
}
static ember_rdd *o_right(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_right_outer_join(ember_filter(a, not_hot, NULL), ember_filter(b, not_hot, NULL),
                                  p);
}
static ember_rdd *o_full(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_full_outer_join(ember_filter(a, not_hot, NULL), ember_filter(b, not_hot, NULL), p);
}
static ember_rdd *o_subtract_by_key(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_subtract_by_key(a, b, p);
}
static ember_rdd *o_subtract(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_subtract(a, b, p);
}
static ember_rdd *o_intersection(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_intersection(a, b, p);
}
/* sorts: the keys made unique (key, value) so that the order is the whole answer */
static int unique_key(ember_rec in, ember_out *out, void *arg)
{
    unsigned char k[64];
    memcpy(k, in.key.ptr, in.key.len);
    memcpy(k + in.key.len, in.val.ptr, in.val.len);
    return ember_emit_pair(out, ember_bytes_of(k, in.key.len + in.val.len), in.val);
}
static ember_rdd *o_sort_asc(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_sort_by_key(ember_distinct(ember_flat_map(a, unique_key, NULL), 0), true, NULL,
                             NULL, p);
}
static ember_rdd *o_sort_desc(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_sort_by_key(ember_distinct(ember_flat_map(a, unique_key, NULL), 0), false, NULL,
                             NULL, p);
}
static ember_rdd *o_sort_by(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_sort_by(ember_distinct(ember_values(a), 0), value_key, NULL, true, ember_cmp_i64,
                         NULL, p);
}
static ember_rdd *o_sort_within(ember_rdd *a, ember_rdd *b, int p)
{
    return ember_glom(ember_repartition_and_sort_within_partitions(
        ember_distinct(ember_flat_map(a, unique_key, NULL), 0), p, true, NULL, NULL));
}

static const op ops[] = {
    {"partition_by", false, o_partition_by},
    {"repartition", false, o_repartition},
    {"reduce_by_key", false, o_reduce},
    {"fold_by_key", false, o_fold},
    {"aggregate_by_key", false, o_aggregate},
    {"combine_by_key", false, o_combine},
    {"group_by_key", false, o_group},
    {"group_by", false, o_group_by},
    {"distinct", false, o_distinct},
    {"cogroup", false, o_cogroup},
    {"join", false, o_join},
    {"left_outer_join", false, o_left},
    {"right_outer_join", false, o_right},
    {"full_outer_join", false, o_full},
    {"subtract_by_key", false, o_subtract_by_key},
    {"subtract", false, o_subtract},
    {"intersection", false, o_intersection},
    {"sort_by_key ascending", true, o_sort_asc},
    {"sort_by_key descending", true, o_sort_desc},
    {"sort_by", true, o_sort_by},
    {"repartition_and_sort_within_partitions", true, o_sort_within},
};

/* One operation's records, over n items of the data in parts partitions. */
static ember_buf run_op(ember_ctx *ctx, const op *o, size_t n, int in_parts, int parts)
{
    ember_rdd *a = ember_parallelize_pairs(ctx, items, n, in_parts);
    ember_rdd *b = ember_parallelize_pairs(ctx, others, n / 4, in_parts > 1 ? in_parts - 1 : 1);
    ember_result *res = NULL;
    int rc = ember_collect(o->build(a, b, parts), &res);
    if (rc)
        fprintf(stderr, "%s: %s\n", o->name, ember_errmsg(ctx));
    assert_int_equal(rc, 0);
    ember_buf out = canon(res, o->ordered);
    ember_result_free(res);
    return out;
}

/* ---------------------------------------------------------------- tests */

static void test_every_op_spilled_gives_the_same(void **state)
{
    ember_ctx *roomy = open_budget(0, spill_dir), *tiny = open_budget(32 * 1024, spill_dir);
    /* empty, one partition, many partitions; the data is skewed (a hot key) */
    const struct {
        size_t n;
        int in_parts, parts;
    } shapes[] = {{0, 3, 2}, {N, 1, 1}, {N, 8, 5}, {N / 2, 5, 16}};
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            int64_t before = spills_so_far(tiny);
            ember_buf want =
                run_op(roomy, &ops[o], shapes[sh].n, shapes[sh].in_parts, shapes[sh].parts);
            ember_buf got =
                run_op(tiny, &ops[o], shapes[sh].n, shapes[sh].in_parts, shapes[sh].parts);
            if (want.len != got.len || (want.len && memcmp(want.ptr, got.ptr, want.len)))
                fail_msg("%s over %zu records: spilled result differs (%zu vs %zu bytes)",
                         ops[o].name, shapes[sh].n, got.len, want.len);
            if (shapes[sh].n && spills_so_far(tiny) == before)
                fail_msg("%s over %zu records did not spill", ops[o].name, shapes[sh].n);
            ember_buf_destroy(&want);
            ember_buf_destroy(&got);
        }
    }
    assert_int_equal(spills_so_far(roomy), 0);
    /* the actions over shuffles too */
    ember_rdd *a = ember_parallelize_pairs(tiny, items, N, 6);
    ember_rdd *ra = ember_parallelize_pairs(roomy, items, N, 6);
    ember_result *x, *y;
    assert_int_equal(ember_count_by_key(a, &x), 0);
    assert_int_equal(ember_count_by_key(ra, &y), 0);
    ember_buf cx = canon(x, false), cy = canon(y, false);
    assert_int_equal(cx.len, cy.len);
    assert_memory_equal(cx.ptr, cy.ptr, cx.len);
    ember_buf_destroy(&cx);
    ember_buf_destroy(&cy);
    ember_result_free(x);
    ember_result_free(y);
    ember_rdd *red = ember_reduce_by_key(a, ember_sum_i64, NULL, 4);
    assert_int_equal(ember_lookup(red, B("hot"), &x), 0);
    assert_int_equal(ember_lookup(ember_reduce_by_key(ra, ember_sum_i64, NULL, 4), B("hot"), &y),
                     0);
    assert_int_equal(ember_result_len(x), 1);
    assert_int_equal(ember_i64(ember_result_at(x, 0).val), ember_i64(ember_result_at(y, 0).val));
    ember_result_free(x);
    ember_result_free(y);
    ember_close(roomy);
    ember_close(tiny);
    assert_int_equal(dir_entries(spill_dir), 0); /* nothing left behind, ever */
}

/* the hot key's values counted through the group's iterator */
static int count_values(ember_rec in, ember_out *out, void *arg)
{
    ember_iter it;
    ember_rec v;
    int64_t n = 0, sum = 0;
    int rc;
    ember_iter_init(&it, in.val);
    while ((rc = ember_iter_next(&it, &v)) == 1) {
        n++;
        sum += ember_i64(v.val);
    }
    if (rc < 0)
        return rc;
    int64_t both[2] = {n, sum};
    return ember_emit(out, ember_bytes_of(both, sizeof both));
}

static int read_half(ember_rec in, ember_out *out, void *arg)
{
    ember_iter it;
    ember_rec v;
    ember_iter_init(&it, in.val);
    for (int i = 0; i < 3 && ember_iter_next(&it, &v) == 1; i++)
        ;
    return ember_emit_i64(out, 1);
}

static int pass_on(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, in.val);
}

static void test_hot_key_group_streams(void **state)
{
    /* one key with 100,000 values (800 KB of values) against a 32 KB budget */
    enum { HOT = 100000 };
    static int64_t v[HOT];
    static ember_rec hot[HOT];
    int64_t want = 0;
    for (int i = 0; i < HOT; i++) {
        v[i] = i;
        want += i;
        hot[i] = (ember_rec){B("hot"), ember_bytes_of(&v[i], 8)};
    }
    ember_ctx *ctx = open_budget(32 * 1024, spill_dir);
    ember_rdd *g = ember_group_by_key(ember_parallelize_pairs(ctx, hot, HOT, 8), 2);
    ember_result *res;
    assert_int_equal(ember_collect(ember_map_values(g, count_values, NULL), &res), 0);
    assert_int_equal(ember_result_len(res), 1);
    int64_t got[2];
    assert_int_equal(ember_result_at(res, 0).val.len, sizeof got);
    memcpy(got, ember_result_at(res, 0).val.ptr, sizeof got);
    assert_int_equal(got[0], HOT);
    assert_int_equal(got[1], want);
    ember_result_free(res);
    assert_true(spills_so_far(ctx) > 0);
    /* a step that reads part of the group: the rest is passed over */
    assert_int_equal(count_of(ember_map_values(g, read_half, NULL)), 1);
    /* collected whole, the group is the same values in the same order */
    assert_int_equal(ember_collect(g, &res), 0);
    ember_iter it;
    ember_rec r;
    int64_t i = 0;
    ember_iter_init(&it, ember_result_at(res, 0).val);
    while (ember_iter_next(&it, &r) == 1)
        assert_int_equal(ember_i64(r.val), i++);
    assert_int_equal(i, HOT);
    ember_result_free(res);
    /* a streamed group passed on unread and kept reads as damaged, never as wrong values */
    assert_int_equal(ember_collect(ember_map_values(g, pass_on, NULL), &res), 0);
    ember_iter_init(&it, ember_result_at(res, 0).val);
    assert_int_equal(ember_iter_next(&it, &r), EMBER_EIO);
    ember_result_free(res);
    ember_close(ctx);
    assert_int_equal(dir_entries(spill_dir), 0);
}

static int64_t spill_keys(ember_ctx *ctx, int *rc)
{
    ember_rdd *a = ember_parallelize_pairs(ctx, items, N, 4);
    int64_t n = -1;
    *rc = ember_count(ember_group_by_key(a, 3), &n);
    return n;
}

static void test_unwritable_spill_dir(void **state)
{
    /* a spill directory under a plain file cannot be made */
    char file[96], dir[128];
    snprintf(file, sizeof file, "%s/plain", spill_dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(dir, sizeof dir, "%s/sub", file);
    ember_ctx *ctx = open_budget(4096, dir);
    int rc;
    spill_keys(ctx, &rc);
    assert_int_equal(rc, EMBER_EIO);
    const char *msg = ember_errmsg(ctx);
    assert_non_null(strstr(msg, "group_by_key"));
    assert_non_null(strstr(msg, "memory budget"));
    /* the directory named (under MPI, the failing rank's own spill directory) */
    assert_non_null(strstr(msg, getenv("EMBER_TEST_MPI") ? "/plain/sub" : dir));
    assert_non_null(strstr(msg, "Not a directory"));
    /* the context stays usable: an action without a shuffle still runs */
    assert_int_equal(count_of(ember_parallelize_pairs(ctx, items, 10, 2)), 10);
    ember_close(ctx);
    unlink(file);
    assert_int_equal(dir_entries(spill_dir), 0);
}

/* The child pid ended by exiting 0 (its checks passed). */
static void exited_0(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A disk that fills up: the child process may write only 256 KB to a file. */
static void test_full_disk(void **state)
{
    if (getenv("EMBER_TEST_MPI"))
        skip(); /* a forked child cannot use its parent's MPI */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {256 * 1024, 256 * 1024};
        setrlimit(RLIMIT_FSIZE, &lim);
        ember_ctx *ctx = open_budget(4096, spill_dir);
        enum { M = 100000 };
        static int64_t v[M];
        static ember_rec recs[M];
        uint64_t x = 7;
        for (int i = 0; i < M; i++) { /* random values: they do not compress */
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            v[i] = (int64_t)x;
            recs[i] = (ember_rec){ember_bytes_of(&v[i], 8), ember_bytes_of(&v[i], 8)};
        }
        int64_t n;
        int rc = ember_count(ember_group_by_key(ember_parallelize_pairs(ctx, recs, M, 4), 3), &n);
        const char *msg = ember_errmsg(ctx);
        int ok = rc == EMBER_EIO && strstr(msg, "writing a spill file") &&
                 strstr(msg, "File too large") && strstr(msg, "attempt");
        if (!ok)
            fprintf(stderr, "rc %d: %s\n", rc, msg);
        /* still usable */
        ok = ok && ember_count(ember_parallelize_pairs(ctx, items, 10, 2), &n) == 0 && n == 10;
        ember_close(ctx);
        _exit(ok ? 0 : 1);
    }
    exited_0(pid);
    assert_int_equal(dir_entries(spill_dir), 0); /* and no file left */
}

/* Workers that spilled (process[N]) loaded libzstd for their runs; the
 * driver then loads it too, so the workers it forks next (the reduce side's)
 * have it mapped instead of each loading it. In a child forked before any
 * test loaded libzstd here: a count, whose driver reads no spilled data. */
static void test_the_driver_loads_what_spilling_workers_did(void **state)
{
    if (getenv("EMBER_TEST_MPI")) /* (no fork under mpirun) */
        return;
    assert_false(libzstd_mapped()); /* the first test: nothing loaded it yet */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ember_ctx *ctx = NULL;
        int64_t n = -1;
        if (ember_open(&ctx, &(ember_conf){.master = test_master("local[2]"),
                                           .memory_budget = 32 * 1024,
                                           .spill_dir = spill_dir}) ||
            ember_count(ember_group_by_key(ember_parallelize_pairs(ctx, items, N, 4), 3), &n) ||
            n <= 0 || spills_so_far(ctx) <= 0)
            _exit(2);
        bool has = libzstd_mapped();
        ember_close(ctx);
        _exit(has ? 0 : 1);
    }
    exited_0(pid);
}

static int setup(void **state)
{
    make_data();
    snprintf(spill_dir, sizeof spill_dir, "/tmp/ember-spill-test-XXXXXX");
    return mkdtemp(spill_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    return rmdir(spill_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_driver_loads_what_spilling_workers_did),
        cmocka_unit_test(test_every_op_spilled_gives_the_same),
        cmocka_unit_test(test_hot_key_group_streams),
        cmocka_unit_test(test_unwritable_spill_dir),
        cmocka_unit_test(test_full_disk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
