/* src/io/text.c, paths.c, codec.c: lines at split edges against a serial read,
 * every split size from 1 byte up; codecs; paths; errors. */
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "support.h"

/* The lines of data read serially: the reference. */
static size_t serial_lines(const char *data, size_t len, char **lines, size_t *lens)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len && start == len)
            break;
        if (i == len || data[i] == '\n') {
            size_t l = i - start;
            if (l && data[start + l - 1] == '\r')
                l--;
            lines[n] = (char *)data + start;
            lens[n++] = l;
            start = i + 1;
        }
    }
    return n;
}

static void check_against_serial(ember_ctx *ctx, const char *path, const char *data, size_t len,
                                 int min_parts)
{
    static char *lines[400000];
    static size_t lens[400000];
    size_t n = serial_lines(data, len, lines, lens);
    ember_rdd *r = ember_text_file(ctx, path, min_parts);
    ember_result *res;
    if (ember_collect(r, &res)) {
        fprintf(stderr, "%s\n", ember_errmsg(ctx));
        fail();
    }
    if (ember_result_len(res) != n) {
        fprintf(stderr, "min_parts %d: %zu lines, expected %zu\n", min_parts, ember_result_len(res),
                n);
        fail();
    }
    for (size_t i = 0; i < n; i++) {
        ember_rec rec = ember_result_at(res, i);
        if (rec.val.len != lens[i] || (lens[i] && memcmp(rec.val.ptr, lines[i], lens[i]))) {
            fprintf(stderr, "min_parts %d: line %zu differs\n", min_parts, i);
            fail();
        }
    }
    ember_result_free(res);
    ember_free(r);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A file of random lines: lengths 0..40 and now and then a long one, "\n" or
 * "\r\n", with or without a last newline. */
static size_t random_text(char *buf, size_t cap)
{
    size_t len = 0, lines = 1 + next() % 24;
    for (size_t i = 0; i < lines && len + 2000 < cap; i++) {
        size_t l = next() % 10 == 0 ? 100 + next() % 300 : next() % 30;
        for (size_t k = 0; k < l; k++)
            buf[len++] = (char)('a' + next() % 26);
        bool last = i + 1 == lines;
        if (!last || next() % 2) {
            if (next() % 3 == 0)
                buf[len++] = '\r';
            buf[len++] = '\n';
        }
    }
    return len;
}

static void test_split_edges(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    static char buf[1 << 16];
    for (int file = 0; file < 12; file++) {
        size_t len = random_text(buf, sizeof buf);
        tmp_write("lines.txt", buf, len);
        /* min_parts = len: 1-byte splits, then every split size up to one split */
        for (int parts = (int)len, size = 1; parts >= 1; parts = (int)(len / (size_t)++size))
            check_against_serial(ctx, tmp_path("lines.txt"), buf, len, parts);
        check_against_serial(ctx, tmp_path("lines.txt"), buf, len, 1);
    }
    /* edge shapes */
    const char *shapes[] = {"",     "\n",         "\n\n\n", "a",       "a\n",
                            "\r\n", "a\r\nb\r\n", "ab\ncd", "\nx\n\ny"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        size_t len = strlen(shapes[i]);
        tmp_write("shape.txt", shapes[i], len);
        for (int parts = 1; parts <= (int)len + 2; parts++)
            check_against_serial(ctx, tmp_path("shape.txt"), shapes[i], len, parts);
    }
    ember_close(ctx);
}

static void test_partitions_and_empty_files(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    tmp_write("empty.txt", "", 0);
    ember_rdd *r = ember_text_file(ctx, tmp_path("empty.txt"), 0);
    assert_int_equal(ember_num_partitions(r), 1); /* an empty split, as Hadoop */
    assert_int_equal(count_of(r), 0);
    char big[10000];
    memset(big, 'x', sizeof big);
    for (size_t i = 99; i < sizeof big; i += 100)
        big[i] = '\n';
    tmp_write("big.txt", big, sizeof big);
    assert_int_equal(ember_num_partitions(ember_text_file(ctx, tmp_path("big.txt"), 7)), 7);
    assert_int_equal(count_of(ember_text_file(ctx, tmp_path("big.txt"), 7)), 100);
    ember_close(ctx);
}

static void write_gzip(const char *name, const char *data, size_t len, bool twice)
{
    gzFile g = gzopen(tmp_path(name), "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    gzclose(g);
    if (twice) { /* a second member appended, as `cat a.gz b.gz` */
        char tmp[300];
        snprintf(tmp, sizeof tmp, "%.250s.2", tmp_path(name));
        g = gzopen(tmp, "wb");
        gzwrite(g, data, (unsigned)len);
        gzclose(g);
        char cmd[1000];
        snprintf(cmd, sizeof cmd, "cat '%s' >> '%s' && rm '%s'", tmp, tmp_path(name), tmp);
        assert_int_equal(system(cmd), 0);
    }
}

static void test_codecs(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* enough lines that the decompressed stream spans several chunks */
    size_t cap = 3 << 20, len = 0;
    char *text = malloc(cap);
    for (int i = 0; len + 40 < cap; i++)
        len += (size_t)snprintf(text + len, cap - len, "line %d %s\n", i,
                                i % 1000 == 0 ? "with\r" : "x");
    write_gzip("a.txt.gz", text, len, false);
    check_against_serial(ctx, tmp_path("a.txt.gz"), text, len, 4);
    assert_int_equal(ember_num_partitions(ember_text_file(ctx, tmp_path("a.txt.gz"), 8)), 1);
    size_t bound = ZSTD_compressBound(len);
    char *z = malloc(bound);
    size_t zl = ZSTD_compress(z, bound, text, len, 3);
    assert_false(ZSTD_isError(zl));
    tmp_write("a.txt.zst", z, zl);
    check_against_serial(ctx, tmp_path("a.txt.zst"), text, len, 4);
    /* concatenated gzip members read through */
    write_gzip("two.gz", "a\nb\n", 4, true);
    check_against_serial(ctx, tmp_path("two.gz"), "a\nb\na\nb\n", 8, 1);
    /* truncated streams: an error naming the file, and the context usable */
    int64_t n;
    FILE *f = fopen(tmp_path("a.txt.gz"), "rb");
    char *gz = malloc(len);
    size_t gl = fread(gz, 1, len, f);
    fclose(f);
    tmp_write("cut.gz", gz, gl / 2);
    assert_int_equal(ember_count(ember_text_file(ctx, tmp_path("cut.gz"), 1), &n), EMBER_EIO);
    assert_msg(ctx, "truncated gzip");
    assert_msg(ctx, "cut.gz");
    tmp_write("cut.zst", z, zl / 2);
    assert_int_equal(ember_count(ember_text_file(ctx, tmp_path("cut.zst"), 1), &n), EMBER_EIO);
    assert_msg(ctx, "truncated zstd");
    gz[gl / 2] ^= 0x55;
    gz[gl / 2 + 1] ^= 0x55;
    tmp_write("bad.gz", gz, gl);
    assert_int_equal(ember_count(ember_text_file(ctx, tmp_path("bad.gz"), 1), &n), EMBER_EIO);
    assert_msg(ctx, "bad.gz");
    assert_int_equal(count_of(ember_text_file(ctx, tmp_path("two.gz"), 1)), 4);
    free(gz);
    free(z);
    free(text);
    ember_close(ctx);
}

/* bzip2: a file the bzip2 tool wrote (two streams, concatenated) read back;
 * a save with codec "bzip2" that the tool checks and reads back; a cut file
 * named */
static void test_bzip2(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    size_t cap = 2 << 20, len = 0;
    char *text = malloc(cap);
    for (int i = 0; len + 40 < cap; i++)
        len += (size_t)snprintf(text + len, cap - len, "line %d\n", i);
    tmp_write("b.txt", text, len);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "bzip2 -kf '%s' && cat '%s.bz2' '%s.bz2' > '%s'", tmp_path("b.txt"),
             tmp_path("b.txt"), tmp_path("b.txt"), tmp_path("two.bz2"));
    assert_int_equal(system(cmd), 0);
    check_against_serial(ctx, tmp_path("b.txt.bz2"), text, len, 4);
    assert_int_equal(count_of(ember_text_file(ctx, tmp_path("two.bz2"), 1)),
                     2 * count_of(ember_text_file(ctx, tmp_path("b.txt"), 1)));
    /* saved with bzip2: the tool tests it, and it reads back the same */
    char out[600];
    snprintf(out, sizeof out, "%s/saved", tmp_path(""));
    assert_int_equal(
        ember_save_as_text_file(ember_text_file(ctx, tmp_path("b.txt"), 3), out, "bzip2"), 0);
    snprintf(cmd, sizeof cmd, "bzip2 -t '%s'/part-*.bz2 && bzip2 -dc '%s'/part-*.bz2 | cmp - '%s'",
             out, out, tmp_path("b.txt"));
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/part-*.bz2", out);
    assert_int_equal(count_of(ember_text_file(ctx, cmd, 0)),
                     count_of(ember_text_file(ctx, tmp_path("b.txt"), 1)));
    /* cut short: named */
    snprintf(cmd, sizeof cmd, "head -c 20000 '%s.bz2' > '%s'", tmp_path("b.txt"),
             tmp_path("cut.bz2"));
    assert_int_equal(system(cmd), 0);
    int64_t n;
    assert_int_equal(ember_count(ember_text_file(ctx, tmp_path("cut.bz2"), 1), &n), EMBER_EIO);
    assert_msg(ctx, "truncated bzip2");
    assert_msg(ctx, "cut.bz2");
    free(text);
    ember_close(ctx);
}

static void test_paths(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/in", test_dir);
    mkdir(sub, 0755);
    tmp_write("in/b.txt", "b1\nb2\n", 6);
    tmp_write("in/a.txt", "a1\n", 3);
    tmp_write("in/_SUCCESS", "", 0);
    tmp_write("in/.a.txt.crc", "junk\n", 5);
    tmp_write("in/c.log", "c1\n", 3);
    ember_result *res;
    /* a directory: its files in name order, '_' and '.' skipped */
    assert_int_equal(ember_collect(ember_text_file(ctx, sub, 1), &res), 0);
    assert_int_equal(ember_result_len(res), 4);
    assert_bytes(ember_result_at(res, 0).val, "a1");
    assert_bytes(ember_result_at(res, 1).val, "b1");
    assert_bytes(ember_result_at(res, 3).val, "c1");
    ember_result_free(res);
    /* a glob, and a comma list */
    char glob[160], list[400];
    snprintf(glob, sizeof glob, "%s/*.txt", sub);
    assert_int_equal(count_of(ember_text_file(ctx, glob, 1)), 3);
    snprintf(list, sizeof list, "%s/c.log,%s/a.txt", sub, sub);
    assert_int_equal(ember_collect(ember_text_file(ctx, list, 1), &res), 0);
    assert_bytes(ember_result_at(res, 0).val, "c1");
    assert_bytes(ember_result_at(res, 1).val, "a1");
    ember_result_free(res);
    /* errors name the path, at the action */
    int64_t n;
    snprintf(list, sizeof list, "%s/nope.txt", test_dir);
    assert_int_equal(ember_count(ember_text_file(ctx, list, 1), &n), EMBER_EINVAL);
    assert_msg(ctx, "does not exist");
    assert_msg(ctx, "nope.txt");
    snprintf(glob, sizeof glob, "%s/*.csv", sub);
    assert_int_equal(ember_count(ember_text_file(ctx, glob, 1), &n), EMBER_EINVAL);
    assert_msg(ctx, "no file matches");
    assert_int_equal(ember_count(ember_text_file(ctx, "", 1), &n), EMBER_EINVAL);
    assert_null(ember_text_file(NULL, sub, 1));
    assert_int_equal(count_of(ember_text_file(ctx, sub, 3)), 4); /* still usable */
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_edges), cmocka_unit_test(test_partitions_and_empty_files),
        cmocka_unit_test(test_codecs),      cmocka_unit_test(test_bzip2),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
