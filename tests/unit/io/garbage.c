/* Random bytes through every reader under every policy: never a crash (the
 * sanitizer build checks reads), only clean errors, and the context usable. */
#include <zlib.h>

#include "core/core.h"
#include "support.h"

static uint64_t rng = 0x853c49e6748fea9bULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_clean(ember_ctx *ctx, int rc)
{
    if (rc == 0)
        return;
    /* a clean error: one of ours, with a message */
    assert_true(rc == EMBER_EINVAL || rc == EMBER_EIO || rc == EMBER_ENOMEM);
    assert_true(strlen(ember_errmsg(ctx)) > 0);
}

static void test_garbage(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    static unsigned char buf[8192];
    const char *alphabet = "\",\n\r\\ a{}[]:\xff\xc3";
    for (int round = 0; round < 150; round++) {
        size_t len = next() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = next() % 3 ? (unsigned char)alphabet[next() % strlen(alphabet)]
                                : (unsigned char)next();
        bool gz = round % 5 == 0;
        const char *name = gz ? "g.csv.gz" : "g.csv";
        if (gz) {
            gzFile g = gzopen(tmp_path(name), "wb");
            gzwrite(g, buf, (unsigned)len);
            gzclose(g);
            if (round % 10 == 0) /* and cut it short */
                truncate(tmp_path(name), (off_t)(next() % 64));
        } else {
            tmp_write(name, buf, len);
        }
        char bad[300];
        snprintf(bad, sizeof bad, "%s/bad", test_dir);
        ember_read_opts ro = {.min_parts = 1 + (int)(next() % 40),
                              .on_bad = (ember_on_bad)(next() % 3),
                              .bad_dir = bad};
        int64_t n;
        check_clean(ctx, ember_count(ember_text_file(ctx, tmp_path(name), ro.min_parts), &n));
        check_clean(ctx, ember_count(ember_read_json_lines(ctx, tmp_path(name), &ro), &n));
        ember_csv_opts co = {
            .read = ro, .header = (int)(next() % 2), .escape = next() % 4 == 0 ? '\\' : 0};
        ember_rdd *csv = ember_read_csv(ctx, tmp_path(name), &co);
        check_clean(ctx, ember_count(csv, &n));
        check_clean(ctx, ember_count(ember_whole_text_files(ctx, tmp_path(name), 1), &n));
        ember_free(csv);
    }
    /* still usable */
    assert_int_equal(count_of(ember_range(ctx, 0, 10, 1, 2)), 10);
    ember_close(ctx);
}

/* Fail the k-th allocation for every k through reading, parsing and saving: a
 * clean error or success, never a crash, never a leak (the sanitizer build). */
static void test_allocation_failures(void **state)
{
    const char *csv = "a,b\n1,\"x\"\"y\"\n2,z\n3\n";
    tmp_write("alloc.csv", csv, strlen(csv));
    const char *jl = "{\"a\":1}\n[2]\n";
    tmp_write("alloc.jsonl", jl, strlen(jl));
    int clean = 0;
    for (long k = 1; k < 600; k++) {
        ember__alloc_fail_at(k);
        ember_ctx *ctx = NULL;
        if (ember_open(&ctx, &(ember_conf){.master = "local[2]", .overwrite = 1})) {
            ember__alloc_fail_at(0);
            continue;
        }
        int64_t n;
        char out[300];
        snprintf(out, sizeof out, "%s/alloc-out", test_dir);
        ember_csv_opts co = {.header = 1, .read.on_bad = EMBER_BAD_SKIP};
        int rc1 = ember_count(ember_read_csv(ctx, tmp_path("alloc.csv"), &co), &n);
        int rc2 = ember_count(ember_read_json_lines(ctx, tmp_path("alloc.jsonl"),
                                                    &(ember_read_opts){.on_bad = EMBER_BAD_SKIP}),
                              &n);
        int rc3 =
            ember_save_as_text_file(ember_text_file(ctx, tmp_path("alloc.csv"), 2), out, "gzip");
        ember__alloc_fail_at(0);
        check_clean(ctx, rc1);
        check_clean(ctx, rc2);
        check_clean(ctx, rc3);
        clean += !rc1 && !rc2 && !rc3;
        assert_int_equal(count_of(ember_text_file(ctx, tmp_path("alloc.csv"), 1)), 4);
        ember_close(ctx);
    }
    assert_true(clean > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_garbage),
                                       cmocka_unit_test(test_allocation_failures)};
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
