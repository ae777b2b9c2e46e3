/* The CSV reader gives the one-split read's rows, bad rows and failures for any
 * number of splits and for gzip and zstd input (tests/support_csv_diff.h): the
 * cases that once broke it, then seeded random inputs made of the bytes that
 * matter (delimiters, quotes, line breaks, spaces, bad UTF-8), under every
 * bad-record policy, with and without a header. Also: a file whose quotes
 * parity cannot follow is read whole and counted; bad rows cost linear time. */
#include <time.h>

#include "support.h"
#include "support_csv_diff.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ember-csv-splits-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static const ember_on_bad policies[] = {EMBER_BAD_FAIL, EMBER_BAD_SKIP, EMBER_BAD_DIVERT};

static void check_delim(ember_ctx *ctx, const char *data, size_t n, const char *what, char delim)
{
    for (int h = 0; h < 2; h++) {
        for (int p = 0; p < 3; p++) {
            ember_csv_opts o = {.header = h, .read.on_bad = policies[p], .delimiter = delim};
            char *why = NULL;
            if (csv_diff_check(ctx, dir, (const unsigned char *)data, n, &o, &why)) {
                fprintf(stderr, "%s (header %d, policy %d, delimiter %d):\n%s\n", what, h, p, delim,
                        why);
                free(why);
                fail();
            }
        }
    }
}

static void check_all(ember_ctx *ctx, const char *data, size_t n, const char *what)
{
    check_delim(ctx, data, n, what, 0);
}

/* A stray quote inside a quoted field, far from the split boundaries: libcsv
 * keeps it; parity would start the later splits mid-row. */
static void test_stray_quote(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    cd_buf b = {0};
    cd_puts(&b, "id,name,price\n");
    for (int i = 0; i < 3000; i++) {
        char row[96];
        snprintf(row, sizeof row,
                 i == 10 ? "%d,\"Monitor 27\" IPS\",%d.99\n" : "%d,\"Item %d\",%d\n", i, i, i);
        cd_puts(&b, row);
    }
    check_all(ctx, b.p, b.len, "a stray quote");
    /* the file is read whole, and the stats say so */
    char path[128];
    snprintf(path, sizeof path, "%s/stray.csv", dir);
    cd_write(path, b.p, b.len);
    ember_rdd *r = ember_read_csv(ctx, path, &(ember_csv_opts){.header = 1, .read.min_parts = 8});
    int64_t n;
    assert_int_equal(ember_count(r, &n), 0);
    assert_int_equal(n, 3000);
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    ember_stats_print(ctx, f);
    fclose(f);
    assert_non_null(strstr(text, "].unsplit_files=1"));
    free(text);
    unlink(path);
    free(b.p);
    ember_close(ctx);
}

/* Without a header, the file's first row sets the field count for every split;
 * a run of ragged rows across a boundary; blank lines before a header; a lone
 * \r; CRLF; quoted line breaks across boundaries. */
static void test_split_edges(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    cd_buf b = {0};
    for (int i = 0; i < 4000; i++)
        cd_puts(&b, i >= 1900 && i < 2100 ? "1,2\n" : "a,b,c\n");
    check_all(ctx, b.p, b.len, "ragged rows across a boundary");
    b.len = 0;
    for (int i = 0; i < 2000; i++)
        cd_puts(&b, "\n");
    cd_puts(&b, "h1,h2\nx,y\n");
    check_all(ctx, b.p, b.len, "blank lines before the header");
    const char *cr = "x\n\rC\n";
    check_all(ctx, cr, strlen(cr), "a lone CR");
    b.len = 0;
    for (int i = 0; i < 2000; i++)
        cd_puts(&b, i % 7 == 0 ? "\"multi\r\nline\",\"q\"\"uote\",  spaced  \r\n" : "a,b,c\r\n");
    check_all(ctx, b.p, b.len, "CRLF, quoted line breaks, spaces");
    b.len = 0;
    for (int i = 0; i < 3000; i++)
        cd_puts(&b, i % 5 ? "p,q\r" : "  \r");
    check_all(ctx, b.p, b.len, "CR line breaks and blank lines");
    free(b.p);
    ember_close(ctx);
}

/* Random inputs over the bytes that matter, seeded (EMBER_CSV_SEED to replay). */
static void test_random_inputs(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    static const char *const atoms[] = {",",        "\"",   "\"\"",    "\n",        "\r\n",
                                        "\r",       " ",    "\t",      "a",         "bc",
                                        "\xc3\xa9", "\xff", "x,y,z\n", "\"q,\nq\"", ";"};
    const char *env = getenv("EMBER_CSV_SEED");
    unsigned seed = env ? (unsigned)atoi(env) : (unsigned)time(NULL);
    int rounds = getenv("EMBER_CSV_ROUNDS") ? atoi(getenv("EMBER_CSV_ROUNDS")) : 150;
    srand(seed);
    cd_buf b = {0};
    for (int k = 0; k < rounds; k++) {
        b.len = 0;
        cd_puts(&b, "");
        int atoms_n = rand() % 400;
        for (int i = 0; i < atoms_n; i++)
            cd_puts(&b, atoms[rand() % (int)(sizeof atoms / sizeof *atoms)]);
        char what[64];
        snprintf(what, sizeof what, "random input %d of seed %u", k, seed);
        static const char delims[] = {0, ';', '\t'};
        check_delim(ctx, b.p, b.len, what, delims[k % 3]);
    }
    free(b.p);
    ember_close(ctx);
}

/* Bad rows are counted in linear time: 200,000 rows of which the second half
 * is ragged, in 2 splits, read (and diverted) with their line numbers right. */
static void test_many_bad_rows(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    cd_buf b = {0};
    for (int i = 0; i < 200000; i++)
        cd_puts(&b, i < 100000 ? "a,b,c\n" : "a,b\n");
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/many.csv", dir);
    snprintf(bad, sizeof bad, "%s/many_bad", dir);
    cd_write(path, b.p, b.len);
    ember_rdd *r = ember_read_csv(
        ctx, path,
        &(ember_csv_opts){.read = {.min_parts = 2, .on_bad = EMBER_BAD_DIVERT, .bad_dir = bad}});
    assert_int_equal(count_of(r), 100000);
    int64_t nbad;
    assert_int_equal(ember_bad_records(r, &nbad), 0);
    assert_int_equal(nbad, 100000);
    /* the last diverted line names line 200000 */
    char cmd[512], out[256] = "";
    snprintf(cmd, sizeof cmd, "cat %s/part-* | tail -1", bad);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(out, sizeof out, p));
    pclose(p);
    assert_non_null(strstr(out, "many.csv:200000\ta,b"));
    free(b.p);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stray_quote),
        cmocka_unit_test(test_split_edges),
        cmocka_unit_test(test_random_inputs),
        cmocka_unit_test(test_many_bad_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
