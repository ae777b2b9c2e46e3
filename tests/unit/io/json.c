/* src/io/json.c and the bad-record policies of the line readers. */
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "support.h"

/* 300 good lines with bad ones at lines 57, 140 and 299 (1-based). */
static char *make_lines(void)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    for (int i = 1; i <= 300; i++) {
        if (i == 57)
            len += (size_t)snprintf(buf + len, cap - len, "{\"id\": %d, oops}\n", i);
        else if (i == 140)
            len += (size_t)snprintf(buf + len, cap - len, "[1, 2, 3]\n");
        else if (i == 299)
            len += (size_t)snprintf(buf + len, cap - len, "{\"name\": \"bad \xff byte\"}\n");
        else if (i % 50 == 0)
            len += (size_t)snprintf(buf + len, cap - len, "   \n"); /* blank: skipped */
        else
            len +=
                (size_t)snprintf(buf + len, cap - len, "{\"id\": %d, \"tags\": [\"t%d\"]}\n", i, i);
    }
    return buf;
}

static void test_fail_names_file_and_line(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *text = make_lines();
    tmp_write("a.jsonl", text, strlen(text));
    int64_t n;
    /* at every split count, the first bad line is named with its line in the file */
    int parts[] = {1, 3, 17, 200};
    for (size_t i = 0; i < 4; i++) {
        ember_rdd *r = ember_read_json_lines(ctx, tmp_path("a.jsonl"),
                                             &(ember_read_opts){.min_parts = parts[i]});
        assert_int_equal(ember_count(r, &n), EMBER_EINVAL);
        assert_msg(ctx, "a.jsonl:57: invalid JSON");
    }
    /* gzip: numbered from the start of the stream */
    gzFile g = gzopen(tmp_path("a.jsonl.gz"), "wb");
    gzputs(g, text);
    gzclose(g);
    assert_int_equal(ember_count(ember_read_json_lines(ctx, tmp_path("a.jsonl.gz"), NULL), &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "a.jsonl.gz:57:");
    free(text);
    ember_close(ctx);
}

static void test_skip_counts(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *text = make_lines();
    tmp_write("b.jsonl", text, strlen(text));
    ember_rdd *r = ember_read_json_lines(
        ctx, tmp_path("b.jsonl"), &(ember_read_opts){.min_parts = 9, .on_bad = EMBER_BAD_SKIP});
    /* 300 lines: 3 bad, 6 blank (50, 100, ... 300; 300 is not bad) */
    assert_int_equal(count_of(r), 300 - 3 - 6);
    int64_t bad;
    assert_int_equal(ember_bad_records(r, &bad), 0);
    assert_int_equal(bad, 3);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.records_bad, 3);
    assert_int_equal(count_of(r), 291); /* again: the count grows with each action */
    assert_int_equal(ember_bad_records(r, &bad), 0);
    assert_int_equal(bad, 6);
    assert_int_equal(ember_bad_records(ember_text_file(ctx, tmp_path("b.jsonl"), 1), &bad),
                     EMBER_EINVAL);
    free(text);
    ember_close(ctx);
}

static int fail_first_attempt(ember_iter *in, ember_out *out, int index, void *arg)
{
    int *attempts = arg;
    int attempt = __atomic_add_fetch(&attempts[index], 1, __ATOMIC_SEQ_CST);
    ember_rec r;
    int rc;
    while ((rc = ember_iter_next(in, &r)) == 1)
        if ((rc = ember_emit_rec(out, r)))
            return rc;
    return attempt == 1 ? -9 : rc;
}

static void test_divert_once_per_record(void **state)
{
    ember_ctx *ctx = open_ctx("local[2,2]");
    char *text = make_lines();
    tmp_write("c.jsonl", text, strlen(text));
    char bad_dir[256];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", test_dir);
    ember_rdd *r = ember_read_json_lines(
        ctx, tmp_path("c.jsonl"),
        &(ember_read_opts){.min_parts = 4, .on_bad = EMBER_BAD_DIVERT, .bad_dir = bad_dir});
    int attempts[64] = {0};
    /* every task fails its first attempt: the bad records still count once */
    assert_int_equal(count_of(ember_map_partitions(r, fail_first_attempt, attempts)), 291);
    int64_t bad;
    assert_int_equal(ember_bad_records(r, &bad), 0);
    assert_int_equal(bad, 3);
    /* the diverted lines: as they were, with file:line */
    ember_result *res;
    assert_int_equal(ember_collect(ember_text_file(ctx, bad_dir, 1), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    char expect[512];
    snprintf(expect, sizeof expect, "%s:140\t[1, 2, 3]", tmp_path("c.jsonl"));
    assert_bytes(ember_result_at(res, 1).val, expect);
    ember_result_free(res);
    int64_t n;
    assert_int_equal(
        ember_count(ember_read_json_lines(ctx, tmp_path("c.jsonl"),
                                          &(ember_read_opts){.on_bad = EMBER_BAD_DIVERT}),
                    &n),
        EMBER_EINVAL);
    assert_msg(ctx, "bad_dir");
    free(text);
    ember_close(ctx);
}

static void test_json_get(void **state)
{
    ember_buf out;
    ember_buf_init(&out);
    ember_bytes j = B("{\"id\": \"abc\", \"w\": 640, \"breeds\": [{\"name\": \"Bengal\\u00e9\"}],"
                      " \"ok\": true, \"none\": null}");
    assert_int_equal(ember_json_get(j, "id", &out), 1);
    assert_bytes(ember_buf_bytes(&out), "abc");
    assert_int_equal(ember_json_get(j, "w", &out), 1);
    assert_bytes(ember_buf_bytes(&out), "640");
    assert_int_equal(ember_json_get(j, "breeds.0.name", &out), 1);
    assert_bytes(ember_buf_bytes(&out), "Bengal\xc3\xa9");
    assert_int_equal(ember_json_get(j, "breeds", &out), 1);
    assert_bytes(ember_buf_bytes(&out), "[{\"name\":\"Bengal\xc3\xa9\"}]"); /* UTF-8 as is */
    assert_int_equal(ember_json_get(j, "ok", &out), 1);
    assert_bytes(ember_buf_bytes(&out), "true");
    assert_int_equal(ember_json_get(j, "breeds.1.name", &out), 0);
    assert_int_equal(ember_json_get(j, "missing", &out), 0);
    assert_int_equal(ember_json_get(j, "id.deeper", &out), 0);
    assert_int_equal(ember_json_get(B("{oops"), "id", &out), EMBER_EINVAL);
    assert_int_equal(ember_json_get(j, NULL, &out), EMBER_EINVAL);
    ember_buf_destroy(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_names_file_and_line),
        cmocka_unit_test(test_skip_counts),
        cmocka_unit_test(test_divert_once_per_record),
        cmocka_unit_test(test_json_get),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
