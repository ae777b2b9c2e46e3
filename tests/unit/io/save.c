/* src/io/save.c: part files, codecs round trip through text_file, the atomic
 * commit (a failed job leaves no part file; a rerun succeeds), overwrite. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static bool exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_parts(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += !strncmp(e->d_name, "part-", 5);
    closedir(d);
    return n;
}

static int tag(ember_rec in, ember_out *out, void *arg)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "line %lld", (long long)ember_i64(in.val));
    return ember_emit(out, ember_bytes_of(buf, (size_t)n));
}

static void round_trip(ember_ctx *ctx, const char *name, const char *codec, const char *ext)
{
    ember_rdd *lines = ember_map(ember_range(ctx, 0, 5000, 1, 4), tag, NULL);
    const char *dir = tmp_path(name);
    assert_int_equal(ember_save_as_text_file(lines, dir, codec), 0);
    assert_true(exists(dir, "_SUCCESS"));
    assert_false(exists(dir, "_temporary"));
    assert_int_equal(count_parts(dir), 4);
    char first[64];
    snprintf(first, sizeof first, "part-00000%s", ext);
    assert_true(exists(dir, first));
    /* read back: the same lines in the same order */
    ember_result *a, *b;
    assert_int_equal(ember_collect(lines, &a), 0);
    assert_int_equal(ember_collect(ember_text_file(ctx, dir, 1), &b), 0);
    assert_int_equal(ember_result_len(a), ember_result_len(b));
    for (size_t i = 0; i < ember_result_len(a); i++) {
        ember_bytes x = ember_result_at(a, i).val, y = ember_result_at(b, i).val;
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.ptr, y.ptr, x.len);
    }
    ember_result_free(a);
    ember_result_free(b);
}

static void test_codecs_round_trip(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    round_trip(ctx, "plain", NULL, "");
    round_trip(ctx, "gz", "gzip", ".gz");
    round_trip(ctx, "zst", "zstd", ".zst");
    int64_t v = 1;
    assert_int_equal(
        ember_save_as_text_file(ember_parallelize_i64(ctx, &v, 1, 1), tmp_path("bad-codec"), "lz4"),
        EMBER_EINVAL);
    assert_msg(ctx, "unknown codec");
    assert_false(exists(tmp_path("bad-codec"), "."));
    ember_close(ctx);
}

static void test_pairs_and_empty_partitions(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rec pairs[] = {{B("k1"), B("v1")}, {B("k2"), B("v2")}};
    const char *dir = tmp_path("pairs");
    assert_int_equal(ember_save_as_text_file(ember_parallelize_pairs(ctx, pairs, 2, 5), dir, NULL),
                     0);
    assert_int_equal(count_parts(dir), 5); /* empty partitions get empty files */
    ember_result *res;
    assert_int_equal(ember_collect(ember_text_file(ctx, dir, 1), &res), 0);
    assert_int_equal(ember_result_len(res), 2);
    assert_bytes(ember_result_at(res, 1).val, "k2\tv2");
    ember_result_free(res);
    ember_close(ctx);
}

static int fail_in_partition_2(ember_iter *in, ember_out *out, int index, void *arg)
{
    ember_rec r;
    int rc;
    while ((rc = ember_iter_next(in, &r)) == 1)
        if ((rc = ember_emit_i64(out, ember_i64(r.val))))
            return rc;
    return index == 2 && *(int *)arg ? -5 : rc;
}

static void test_failed_job_leaves_no_part_file(void **state)
{
    ember_ctx *ctx = open_ctx("local[2,2]");
    int failing = 1;
    const char *dir = tmp_path("atomic");
    ember_rdd *r =
        ember_map_partitions(ember_range(ctx, 0, 100, 1, 4), fail_in_partition_2, &failing);
    assert_int_equal(ember_save_as_text_file(r, dir, NULL), -5);
    assert_msg(ctx, "partition 2");
    assert_false(exists(dir, ".")); /* it created dir, and took it away */
    /* an existing directory, even empty, is not written into (Spark's rule) */
    mkdir(dir, 0755);
    assert_int_equal(ember_save_as_text_file(r, dir, "gzip"), EMBER_EINVAL);
    assert_msg(ctx, "already exists");
    assert_int_equal(count_parts(dir), 0);
    rmdir(dir);
    /* the rerun succeeds */
    failing = 0;
    assert_int_equal(ember_save_as_text_file(r, dir, NULL), 0);
    assert_int_equal(count_parts(dir), 4);
    ember_close(ctx);
}

static void test_existing_dir_and_leftovers(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[] = {1, 2, 3};
    ember_rdd *r = ember_map(ember_parallelize_i64(ctx, v, 3, 2), tag, NULL);
    const char *dir = tmp_path("exists");
    assert_int_equal(ember_save_as_text_file(r, dir, NULL), 0);
    assert_int_equal(ember_save_as_text_file(r, dir, NULL), EMBER_EINVAL);
    assert_msg(ctx, "already exists");
    ember_close(ctx);
    /* conf.overwrite replaces it */
    ember_ctx *ow;
    assert_int_equal(
        ember_open(&ow, &(ember_conf){.master = test_master("local[2]"), .overwrite = 1}), 0);
    r = ember_map(ember_parallelize_i64(ow, v, 3, 3), tag, NULL);
    assert_int_equal(ember_save_as_text_file(r, dir, NULL), 0);
    assert_int_equal(count_parts(dir), 3);
    ember_close(ow);
    /* what a killed run leaves (only _temporary) is cleared by the next run */
    ctx = open_ctx("local[2]");
    const char *killed = tmp_path("killed");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/_temporary", killed);
    mkdir(killed, 0755);
    mkdir(tmp, 0755);
    r = ember_map(ember_parallelize_i64(ctx, v, 3, 1), tag, NULL);
    assert_int_equal(ember_save_as_text_file(r, killed, NULL), 0);
    assert_int_equal(count_parts(killed), 1);
    /* a directory that cannot be created: a clear error */
    assert_int_equal(ember_save_as_text_file(r, "/proc/ember-cannot/out", NULL) < 0, 1);
    assert_msg(ctx, "/proc/ember-cannot/out");
    int64_t n = 0;
    assert_int_equal(ember_save_noop(r, &n), 0);
    assert_int_equal(n, 3);
    ember_close(ctx);
}

static void test_csv_and_json_round_trip(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char in[300];
    snprintf(in, sizeof in, "%s/in.csv", test_dir);
    static const char csv[] = "name,note\nAda,\"a, b\"\nBob,\"say \"\"hi\"\"\nthere\"\n";
    tmp_write("in.csv", csv, sizeof csv - 1);
    ember_csv_opts o = {.header = 1};
    ember_rdd *rows = ember_read_csv(ctx, in, &o);
    const char *dir = tmp_path("csv-out");
    assert_int_equal(ember_save_as_csv(rows, dir, "gzip", NULL, "name,note"), 0);
    ember_result *a, *b;
    assert_int_equal(ember_collect(rows, &a), 0);
    assert_int_equal(ember_collect(ember_read_csv(ctx, dir, &o), &b), 0);
    assert_int_equal(ember_result_len(b), 2);
    for (size_t i = 0; i < 2; i++) {
        ember_bytes x = ember_result_at(a, i).val, y = ember_result_at(b, i).val;
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.ptr, y.ptr, x.len);
    }
    ember_result_free(a);
    ember_result_free(b);
    /* JSON lines: as they are; a record that is not one line fails */
    ember_bytes js[] = {B("{\"a\":1}"), B("{\"b\":[2]}")};
    const char *jdir = tmp_path("json-out");
    assert_int_equal(ember_save_as_json_lines(ember_parallelize(ctx, js, 2, 2), jdir, NULL), 0);
    assert_int_equal(count_of(ember_read_json_lines(ctx, jdir, NULL)), 2);
    ember_bytes bad[] = {B("{\"a\":\n1}")};
    assert_int_equal(
        ember_save_as_json_lines(ember_parallelize(ctx, bad, 1, 1), tmp_path("j2"), NULL),
        EMBER_EINVAL);
    assert_msg(ctx, "not one line of JSON");
    assert_false(exists(tmp_path("j2"), "."));
    ember_close(ctx);
}

static void test_whole_text_files(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[] = {1, 2, 3, 4, 5, 6};
    const char *dir = tmp_path("whole");
    assert_int_equal(ember_save_as_text_file(
                         ember_map(ember_parallelize_i64(ctx, v, 6, 3), tag, NULL), dir, "zstd"),
                     0);
    ember_rdd *w = ember_whole_text_files(ctx, dir, 2);
    assert_int_equal(ember_num_partitions(w), 2);
    ember_result *res;
    assert_int_equal(ember_collect(w, &res), 0);
    assert_int_equal(ember_result_len(res), 3); /* the part files; _SUCCESS skipped */
    ember_rec r = ember_result_at(res, 1);
    char expect[300];
    snprintf(expect, sizeof expect, "%s/part-00001.zst", dir);
    assert_bytes(r.key, expect);
    assert_bytes(r.val, "line 3\nline 4\n");
    ember_result_free(res);
    assert_int_equal(ember_num_partitions(ember_whole_text_files(ctx, dir, 9)), 3);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codecs_round_trip),
        cmocka_unit_test(test_pairs_and_empty_partitions),
        cmocka_unit_test(test_failed_job_leaves_no_part_file),
        cmocka_unit_test(test_existing_dir_and_leftovers),
        cmocka_unit_test(test_csv_and_json_round_trip),
        cmocka_unit_test(test_whole_text_files),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
