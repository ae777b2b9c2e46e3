/* src/io/csv.c: rows, quoting, headers, bad rows under each policy, and split
 * edges (quoted newlines included) against a serial libcsv parse. */
#include <csv.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "support.h"

static void field_is(ember_bytes row, size_t i, const char *expect)
{
    ember_bytes f;
    assert_int_equal(ember_csv_field(row, i, &f), 0);
    assert_bytes(f, expect);
}

static void test_rows_and_quoting(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    const char *text = "id,name,note\n"
                       "1,Ada,plain\n"
                       "2,\"Lovelace, Ada\",\"she said \"\"hi\"\"\"\n"
                       "3,Bob,\"two\nlines\"\r\n"
                       "4,,\n";
    tmp_write("a.csv", text, strlen(text));
    ember_rdd *r = ember_read_csv(ctx, tmp_path("a.csv"), &(ember_csv_opts){.header = 1});
    assert_int_equal(ember_csv_column(r, "name"), 1);
    assert_int_equal(ember_csv_column(r, "note"), 2);
    assert_int_equal(ember_csv_column(r, "nope"), EMBER_EINVAL);
    ember_result *res;
    assert_int_equal(ember_collect(r, &res), 0);
    assert_int_equal(ember_result_len(res), 4);
    ember_bytes row = ember_result_at(res, 1).val;
    assert_int_equal(ember_csv_nfields(row), 3);
    field_is(row, 1, "Lovelace, Ada");
    field_is(row, 2, "she said \"hi\"");
    field_is(ember_result_at(res, 2).val, 2, "two\nlines");
    field_is(ember_result_at(res, 3).val, 1, "");
    ember_bytes f;
    assert_int_equal(ember_csv_field(row, 3, &f), EMBER_ERANGE);
    ember_result_free(res);
    /* a delimiter of one's own, no header */
    tmp_write("b.tsv", "x\ty\n1\t2\n", 8);
    r = ember_read_csv(ctx, tmp_path("b.tsv"), &(ember_csv_opts){.delimiter = '\t'});
    assert_int_equal(count_of(r), 2);
    assert_int_equal(ember_csv_column(r, "x"), EMBER_EINVAL); /* no header */
    /* a backslash escape: \" is a quote, \\ a backslash */
    const char *esc = "a,b\n\"x \\\" y\",\"back\\\\slash\"\n";
    tmp_write("esc.csv", esc, strlen(esc));
    ember_csv_opts eo = {.header = 1, .escape = '\\', .read.min_parts = 8};
    assert_int_equal(ember_collect(ember_read_csv(ctx, tmp_path("esc.csv"), &eo), &res), 0);
    assert_int_equal(ember_result_len(res), 1);
    field_is(ember_result_at(res, 0).val, 0, "x \" y");
    field_is(ember_result_at(res, 0).val, 1, "back\\slash");
    ember_result_free(res);
    int64_t n;
    assert_int_equal(
        ember_count(ember_read_csv(ctx, tmp_path("b.tsv"), &(ember_csv_opts){.escape = ','}), &n),
        EMBER_EINVAL);
    ember_close(ctx);
}

static void test_headers_across_files(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/many", test_dir);
    mkdir(sub, 0755);
    for (int i = 0; i < 5; i++) {
        char name[64], body[128];
        snprintf(name, sizeof name, "many/part%d.csv", i);
        int len = snprintf(body, sizeof body, "k,v\n%d,a\n%d,b\n", i, i);
        tmp_write(name, body, (size_t)len);
    }
    ember_csv_opts o = {.header = 1};
    assert_int_equal(count_of(ember_read_csv(ctx, sub, &o)), 10);
    tmp_write("many/part9.csv", "k,w\n9,z\n", 8);
    int64_t n;
    assert_int_equal(ember_count(ember_read_csv(ctx, sub, &o), &n), EMBER_EINVAL);
    assert_msg(ctx, "part9.csv: the header differs");
    assert_msg(ctx, "(first file: k,v; this file: k,w)"); /* both headers shown */
    ember_close(ctx);
}

static char *field_text(ember_bytes row, size_t i)
{
    static char out[8][256];
    static int k;
    ember_bytes f = {"", 0};
    ember_csv_field(row, i, &f);
    k = (k + 1) % 8;
    snprintf(out[k], sizeof out[k], "%.*s", (int)f.len, (const char *)f.ptr);
    return out[k];
}

/* union_by_name, the source column, typed columns (a schema, or inferred)
 * and JSON rows */
static void test_shapes(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char sub[128], pattern[200];
    snprintf(sub, sizeof sub, "%s/shapes", test_dir);
    mkdir(sub, 0755);
    tmp_write("shapes/a.csv", "id,name\n1,x\n2,y\n", strlen("id,name\n1,x\n2,y\n"));
    tmp_write("shapes/b.csv", "name,id,extra\nz,3,e\n", strlen("name,id,extra\nz,3,e\n"));
    snprintf(pattern, sizeof pattern, "%s/*.csv", sub);
    ember_csv_opts o = {.header = 1, .union_by_name = 1, .source_column = "_file"};
    ember_rdd *r = ember_read_csv(ctx, pattern, &o);
    ember_bytes h;
    assert_int_equal(ember_csv_header(r, &h), 0);
    assert_string_equal(field_text(h, 0), "id");
    assert_string_equal(field_text(h, 2), "extra");
    assert_string_equal(field_text(h, 3), "_file");
    ember_result *res;
    assert_int_equal(ember_collect(r, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    ember_bytes z = ember_result_at(res, 2).val; /* b.csv's row, by name */
    assert_string_equal(field_text(z, 0), "3");
    assert_string_equal(field_text(z, 1), "z");
    assert_string_equal(field_text(z, 2), "e");
    assert_non_null(strstr(field_text(z, 3), "shapes/b.csv"));
    assert_string_equal(field_text(ember_result_at(res, 0).val, 2), ""); /* missing: empty */
    ember_result_free(res);
    /* typed: a value not of its type is a bad record, named */
    tmp_write("shapes/c.csv", "id,name\nabc,q\n", strlen("id,name\nabc,q\n"));
    int64_t n;
    ember_csv_opts typed = {.header = 1, .union_by_name = 1, .schema = "id:int"};
    assert_int_not_equal(ember_count(ember_read_csv(ctx, pattern, &typed), &n), 0);
    assert_msg(ctx, "column 1 (id) is not an int: 'abc'");
    assert_msg(ctx, "c.csv:2");
    typed.read.on_bad = EMBER_BAD_SKIP;
    assert_int_equal(ember_count(ember_read_csv(ctx, pattern, &typed), &n), 0);
    assert_int_equal(n, 3);
    /* inferred types, rows as JSON */
    tmp_write("typed.csv", "id,price,ok,name\n1,2.5,true,x\n2,,false,\"q\"\"t\"\n",
              strlen("id,price,ok,name\n1,2.5,true,x\n2,,false,\"q\"\"t\"\n"));
    ember_csv_opts js = {.header = 1, .infer = 1, .json = 1};
    ember_rdd *jr = ember_read_csv(ctx, tmp_path("typed.csv"), &js);
    assert_int_equal(ember_value_kind(jr), EMBER_KIND_JSON);
    assert_int_equal(ember_collect(jr, &res), 0);
    assert_bytes(ember_result_at(res, 0).val,
                 "{\"id\":1,\"price\":2.5,\"ok\":true,\"name\":\"x\"}");
    assert_bytes(ember_result_at(res, 1).val,
                 "{\"id\":2,\"price\":null,\"ok\":false,\"name\":\"q\\\"t\"}");
    ember_result_free(res);
    /* without a header: column_N names */
    tmp_write("nohead.csv", "7,a\n8,b\n", strlen("7,a\n8,b\n"));
    ember_csv_opts nh = {.json = 1, .schema = "0:int"};
    assert_int_equal(ember_collect(ember_read_csv(ctx, tmp_path("nohead.csv"), &nh), &res), 0);
    assert_bytes(ember_result_at(res, 1).val, "{\"column_1\":8,\"column_2\":\"b\"}");
    ember_result_free(res);
    ember_close(ctx);
}

/* A UTF-8 byte order mark (Excel writes one) is skipped: the header's first
 * name and a headerless first row come out without it, plain and gzip, one
 * split or many. */
static void test_bom(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char body[4096];
    int len = snprintf(body, sizeof body, "\xEF\xBB\xBFid,name\n");
    for (int i = 0; i < 200; i++)
        len += snprintf(body + len, sizeof body - (size_t)len, "%d,n%d\n", i, i);
    tmp_write("bom.csv", body, (size_t)len);
    ember_csv_opts o = {.header = 1, .read = {.min_parts = 4}};
    ember_rdd *r = ember_read_csv(ctx, tmp_path("bom.csv"), &o);
    assert_int_equal(ember_csv_column(r, "id"), 0);
    assert_int_equal(count_of(r), 200);
    ember_result *res;
    ember_csv_opts plain = {.read = {.min_parts = 4}};
    assert_int_equal(ember_collect(ember_read_csv(ctx, tmp_path("bom.csv"), &plain), &res), 0);
    ember_bytes f;
    assert_int_equal(ember_csv_field(ember_result_at(res, 0).val, 0, &f), 0);
    assert_bytes(f, "id");
    ember_result_free(res);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gzip -kf '%s'", tmp_path("bom.csv"));
    assert_int_equal(system(cmd), 0);
    ember_rdd *g = ember_read_csv(ctx, tmp_path("bom.csv.gz"), &o);
    assert_int_equal(ember_csv_column(g, "id"), 0);
    assert_int_equal(count_of(g), 200);
    assert_int_equal(ember_collect(ember_read_csv(ctx, tmp_path("bom.csv.gz"), NULL), &res), 0);
    assert_int_equal(ember_csv_field(ember_result_at(res, 0).val, 0, &f), 0);
    assert_bytes(f, "id");
    ember_result_free(res);
    ember_close(ctx);
}

/* a row's first field as an int64 (a typed emit: the kind is learned) */
static int first_field(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    ember_bytes f;
    char s[32] = "";
    if (ember_csv_field(in.val, 0, &f) == 0 && f.len < sizeof s)
        memcpy(s, f.ptr, f.len), s[f.len] = 0;
    return ember_emit_i64(out, strtoll(s, NULL, 10));
}

static void test_bad_rows(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    const char *text = "a,b,c\n"
                       "1,2,3\n"
                       "4,5\n" /* line 3: too few */
                       "6,7,8\n"
                       "9,\xff\xfe,10\n" /* line 5: invalid UTF-8 */
                       "11,12,13\n"
                       "14,15,\"open\n"; /* line 7: unterminated */
    tmp_write("bad.csv", text, strlen(text));
    int64_t n;
    ember_csv_opts o = {.header = 1};
    assert_int_equal(ember_count(ember_read_csv(ctx, tmp_path("bad.csv"), &o), &n), EMBER_EINVAL);
    assert_msg(ctx, "bad.csv:3: 2 fields where 3 were expected");
    o.read.on_bad = EMBER_BAD_SKIP;
    ember_rdd *r = ember_read_csv(ctx, tmp_path("bad.csv"), &o);
    assert_int_equal(count_of(r), 3);
    assert_int_equal(ember_bad_records(r, &n), 0);
    assert_int_equal(n, 3);
    char bad_dir[256];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", test_dir);
    o.read = (ember_read_opts){.on_bad = EMBER_BAD_DIVERT, .bad_dir = bad_dir};
    assert_int_equal(count_of(ember_read_csv(ctx, tmp_path("bad.csv"), &o)), 3);
    ember_result *res;
    assert_int_equal(ember_collect(ember_text_file(ctx, bad_dir, 1), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    char expect[512];
    snprintf(expect, sizeof expect, "%s:3\t4,5", tmp_path("bad.csv"));
    assert_bytes(ember_result_at(res, 0).val, expect);
    snprintf(expect, sizeof expect, "%s:7\t14,15,\"open", tmp_path("bad.csv"));
    assert_bytes(ember_result_at(res, 2).val, expect);
    ember_result_free(res);
    /* what stops early (take; the probe that learns a kind) counts and diverts
     * nothing: the count stays the split's, and the file keeps all three */
    ember_rdd *d = ember_read_csv(ctx, tmp_path("bad.csv"), &o);
    assert_int_equal(count_of(d), 3);
    assert_int_equal(ember_take(d, 2, &res), 0);
    ember_result_free(res);
    ember_rdd *first = ember_persist(ember_map(d, first_field, NULL), EMBER_MEMORY_ONLY);
    assert_int_equal(count_of(first), 3);
    ember_buf top;
    ember_buf_init(&top);
    assert_int_equal(ember_max(first, NULL, NULL, &top), 0); /* learns the kind: a probe */
    assert_int_equal(ember_i64(ember_buf_bytes(&top)), 11);
    ember_buf_destroy(&top);
    assert_int_equal(ember_bad_records(d, &n), 0);
    assert_int_equal(n, 3 * 2); /* the two full reads: count, and the persisted map's */
    assert_int_equal(ember_collect(ember_text_file(ctx, bad_dir, 1), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    ember_result_free(res);
    /* the messages of the other cases, one at a time */
    tmp_write("utf.csv", "a,b\n1,\xc3\x28\n", 8);
    assert_int_equal(
        ember_count(ember_read_csv(ctx, tmp_path("utf.csv"), &(ember_csv_opts){.header = 1}), &n),
        EMBER_EINVAL);
    assert_msg(ctx, "utf.csv:2: invalid UTF-8 in field 2");
    tmp_write("open.csv", "a\n\"never closed\n", 16);
    assert_int_equal(ember_count(ember_read_csv(ctx, tmp_path("open.csv"), NULL), &n),
                     EMBER_EINVAL);
    assert_msg(ctx, "open.csv:2: unterminated quoted field");
    ember_close(ctx);
}

/* ---------------------------------------------------------------- split edges */

typedef struct ref {
    ember_buf rows; /* every row, encoded as ember encodes it, one after another */
    size_t count;
    ember_buf cur;
} ref;

static void ref_field(void *data, size_t len, void *arg)
{
    ref *r = arg;
    unsigned char hdr[10];
    size_t hn = 0;
    size_t v = len;
    do {
        hdr[hn++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    ember_buf_append(&r->cur, hdr, hn);
    if (len)
        ember_buf_append(&r->cur, data, len);
}

static void ref_row(int term, void *arg)
{
    ref *r = arg;
    size_t len = r->cur.len;
    ember_buf_append(&r->rows, &len, sizeof len);
    if (len)
        ember_buf_append(&r->rows, r->cur.ptr, len);
    r->cur.len = 0;
    r->count++;
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random CSV: quoted fields with commas, doubled quotes and newlines; unquoted
 * fields, some with spaces around them (libcsv trims those: the fast tokenizer
 * hands such rows to libcsv); "\r\n" and "\n"; empty lines; sometimes no last
 * newline. Quotes stay RFC 4180, as split parity needs. */
static size_t random_csv(char *buf, size_t cap)
{
    size_t len = 0, rows = 1 + next() % 20;
    for (size_t i = 0; i < rows && len + 400 < cap; i++) {
        if (next() % 10 == 0)
            buf[len++] = '\n'; /* an empty line */
        for (int f = 0; f < 3; f++) {
            if (f)
                buf[len++] = ',';
            int kind = (int)(next() % 5);
            size_t l = next() % 12;
            if (kind == 0) {
                buf[len++] = '"';
                for (size_t k = 0; k < l; k++) {
                    int c = (int)(next() % 6);
                    if (c == 0) {
                        buf[len++] = '"';
                        buf[len++] = '"';
                    } else if (c == 1) {
                        buf[len++] = '\n';
                    } else if (c == 2) {
                        buf[len++] = ',';
                    } else {
                        buf[len++] = (char)('a' + next() % 26);
                    }
                }
                buf[len++] = '"';
            } else {
                bool spaces = kind == 1;
                if (spaces)
                    buf[len++] = ' ';
                for (size_t k = 0; k < l; k++)
                    buf[len++] = (char)('a' + next() % 26);
                if (spaces && next() % 2)
                    buf[len++] = '\t';
            }
        }
        bool last = i + 1 == rows;
        if (!last || next() % 3) {
            if (next() % 4 == 0)
                buf[len++] = '\r';
            buf[len++] = '\n';
        }
    }
    return len;
}

static void test_split_edges(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    static char buf[1 << 15];
    for (int file = 0; file < 40; file++) {
        size_t len = random_csv(buf, sizeof buf);
        tmp_write("fuzz.csv", buf, len);
        ref r = {0};
        struct csv_parser p;
        csv_init(&p, CSV_STRICT_FINI | CSV_APPEND_NULL);
        csv_parse(&p, buf, len, ref_field, ref_row, &r);
        csv_fini(&p, ref_field, ref_row, &r);
        csv_free(&p);
        for (int parts = (int)len, size = 1; parts >= 1; parts = (int)(len / (size_t)++size)) {
            ember_result *res;
            ember_rdd *rdd = ember_read_csv(ctx, tmp_path("fuzz.csv"),
                                            &(ember_csv_opts){.read.min_parts = parts});
            if (ember_collect(rdd, &res)) {
                fail();
            }
            if (ember_result_len(res) != r.count) {
                fprintf(stderr, "file %d, min_parts %d: %zu rows, expected %zu\n", file, parts,
                        ember_result_len(res), r.count);
                fail();
            }
            const unsigned char *q = r.rows.ptr;
            for (size_t i = 0; i < r.count; i++) {
                size_t l;
                memcpy(&l, q, sizeof l);
                q += sizeof l;
                ember_bytes got = ember_result_at(res, i).val;
                if (got.len != l || (l && memcmp(got.ptr, q, l))) {
                    fprintf(stderr, "file %d, min_parts %d: row %zu differs\n", file, parts, i);
                    fail();
                }
                q += l;
            }
            ember_result_free(res);
            ember_free(rdd);
        }
        ember_buf_destroy(&r.rows);
        ember_buf_destroy(&r.cur);
    }
    ember_close(ctx);
}

static void test_gzip(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    gzFile g = gzopen(tmp_path("z.csv.gz"), "wb");
    gzputs(g, "a,b\n\"1\n2\",x\n3,y\n4\n");
    gzclose(g);
    int64_t n;
    ember_csv_opts o = {.read.on_bad = EMBER_BAD_SKIP};
    ember_rdd *r = ember_read_csv(ctx, tmp_path("z.csv.gz"), &o);
    assert_int_equal(count_of(r), 3);
    assert_int_equal(ember_bad_records(r, &n), 0);
    assert_int_equal(n, 1);
    o.read.on_bad = EMBER_BAD_FAIL;
    assert_int_equal(ember_count(ember_read_csv(ctx, tmp_path("z.csv.gz"), &o), &n), EMBER_EINVAL);
    assert_msg(ctx, "z.csv.gz:5: 1 fields where 2 were expected");
    ember_close(ctx);
}

/* A file that vanishes between building the rdd and the action fails the task
 * with its path, in one split and in several, never reads as empty. */
static void test_vanished_file(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char text[4096] = "a,b\n";
    for (int i = 0; i < 200; i++)
        strcat(text, "1,2\n");
    for (int parts = 1; parts <= 4; parts += 3) {
        tmp_write("gone.csv", text, strlen(text));
        ember_rdd *r = ember_read_csv(ctx, tmp_path("gone.csv"),
                                      &(ember_csv_opts){.header = 1, .read.min_parts = parts});
        unlink(tmp_path("gone.csv"));
        int64_t n = -1;
        int rc = ember_count(r, &n);
        assert_true(rc < 0);
        assert_msg(ctx, tmp_path("gone.csv"));
        assert_msg(ctx, "No such file or directory");
    }
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_and_quoting),
        cmocka_unit_test(test_headers_across_files),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_split_edges),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_vanished_file),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
