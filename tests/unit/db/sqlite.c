/* ember_save_to_db and ember_read_db on SQLite files, read back with SQLite
 * itself: every mode, JSON and CSV rows, NULLs and unicode, a retried task
 * written once, committed batches resumed, a constraint violation named, a
 * bad path named before any task, reads split by rowid, and writers in
 * worker processes taking turns. */
#include <stdatomic.h>

#include <sqlite3.h>

#include "support.h"

static char dir[256], path[300], url[320];
static sqlite3 *db;

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ember-sqlite-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/t.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    return sqlite3_open(path, &db) == SQLITE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    sqlite3_close(db);
    return remove_tree(dir);
}

static void sql(const char *s)
{
    char *err = NULL;
    if (sqlite3_exec(db, s, NULL, NULL, &err) != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", s, err);
    assert_null(err);
}

static const char *q1(const char *s)
{
    static char out[4096];
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, s, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(out, sizeof out, "%s", v ? (const char *)v : "NULL");
    sqlite3_finalize(st);
    return out;
}

static int64_t qi(const char *s)
{
    return strtoll(q1(s), NULL, 10);
}

static void test_modes_and_values(void **state)
{
    sql("CREATE TABLE m (id INTEGER PRIMARY KEY, name TEXT, score REAL)");
    const char *masters[] = {"local[2]", "process[2]"};
    for (int k = 0; k < 2; k++) {
        ember_ctx *ctx = open_ctx(masters[k]);
        for (int mode = EMBER_DB_COPY; mode <= EMBER_DB_INSERT; mode++) {
            sql("DELETE FROM m");
            ember_rdd *r = json_rows(ctx, 3000, 4);
            int rc = ember_save_to_db(r, &(ember_db_conf){.url = url, .table = "m", .mode = mode});
            if (rc)
                fprintf(stderr, "%s\n", ember_errmsg(ctx));
            assert_int_equal(rc, 0);
            assert_int_equal(qi("SELECT count(*) FROM m"), 3000);
            assert_int_equal(qi("SELECT sum(id) FROM m"), 2999 * 3000 / 2);
            assert_string_equal(q1("SELECT name || '/' || score FROM m WHERE id = 7"), "row 7/3.5");
            assert_string_equal(q1("SELECT typeof(id) || typeof(score) FROM m WHERE id = 8"),
                                "integerreal");
            ember_free(r);
        }
        ember_close(ctx);
    }
    assert_string_equal(q1("PRAGMA journal_mode"), "wal");
    ember_ctx *ctx = open_ctx("local[2]");
    const char *up[] = {"{\"id\": 1, \"name\": \"ünï ✓\"}", "[5000, null, 1e300]"};
    ember_rdd *u =
        ember_parallelize(ctx, (ember_bytes[]){ember_str(up[0]), ember_str(up[1])}, 2, 2);
    const char *key[] = {"id", NULL};
    assert_int_equal(
        ember_save_to_db(
            u,
            &(ember_db_conf){.url = url, .table = "m", .mode = EMBER_DB_UPSERT, .conflict = key}),
        0);
    assert_int_equal(qi("SELECT count(*) FROM m"), 3001);
    assert_string_equal(q1("SELECT name FROM m WHERE id = 1"), "ünï ✓");
    assert_string_equal(q1("SELECT coalesce(name, 'NULL') || score FROM m WHERE id = 5000"),
                        "NULL1.0e+300");
    /* CSV rows, by position (no header) */
    char csv[400];
    snprintf(csv, sizeof csv, "%s/rows.csv", dir);
    FILE *f = fopen(csv, "w");
    fprintf(f, "9001,\"a, \"\"quoted\"\"\nline\",2.5\n9002,,\n");
    fclose(f);
    assert_int_equal(ember_save_to_db(ember_read_csv(ctx, csv, NULL),
                                      &(ember_db_conf){.url = url, .table = "m"}),
                     0);
    assert_string_equal(q1("SELECT name FROM m WHERE id = 9001"), "a, \"quoted\"\nline");
    assert_string_equal(q1("SELECT coalesce(name, 'NULL') FROM m WHERE id = 9002"), "NULL");
    ember_free(u);
    ember_close(ctx);
}

static void test_retry_and_batches(void **state)
{
    sql("CREATE TABLE once (id INTEGER, name TEXT, score REAL)");
    ember_ctx *ctx = open_ctx("local[2,3]");
    ember_rdd *r = json_rows(ctx, 4000, 4);
    int64_t every[] = {0, 100};
    for (int k = 0; k < 2; k++) {
        sql("DELETE FROM once");
        atomic_store(&row_1300_failed, 0);
        ember_rdd *m = ember_map(r, fail_at_row_1300, NULL);
        assert_int_equal(ember_save_to_db(m, &(ember_db_conf){.url = url,
                                                              .table = "once",
                                                              .commit_every = every[k],
                                                              .save_id = "s1"}),
                         0);
        assert_int_equal(atomic_load(&row_1300_failed), 1);
        assert_int_equal(qi("SELECT count(*) FROM once"), 4000);
        assert_int_equal(qi("SELECT count(DISTINCT id) FROM once"), 4000);
        ember_free(m);
    }
    assert_int_equal(qi("SELECT done FROM ember_progress WHERE save_id = 's1' AND part = 1"), 1000);
    ember_free(r);
    ember_close(ctx);
}

static void test_errors(void **state)
{
    sql("CREATE TABLE k (id INTEGER PRIMARY KEY, name TEXT)");
    ember_ctx *ctx = open_ctx("local[2]");
    const char *dup[] = {"[1, \"a\"]", "[2, \"b\"]", "[1, \"again\"]"};
    ember_rdd *d = ember_parallelize(
        ctx, (ember_bytes[]){ember_str(dup[0]), ember_str(dup[1]), ember_str(dup[2])}, 3, 1);
    assert_int_not_equal(ember_save_to_db(d, &(ember_db_conf){.url = url, .table = "k"}), 0);
    assert_non_null(strstr(ember_errmsg(ctx), "partition 0 record 3: UNIQUE constraint failed"));
    assert_int_equal(qi("SELECT count(*) FROM k"), 0);
    char bad[400];
    snprintf(bad, sizeof bad, "sqlite:%s/no/such/dir/x.db", dir);
    assert_int_not_equal(ember_save_to_db(d, &(ember_db_conf){.url = bad, .table = "k"}), 0);
    assert_non_null(strstr(ember_errmsg(ctx), "cannot open the SQLite database"));
    assert_int_not_equal(ember_save_to_db(d, &(ember_db_conf){.url = url, .table = "nope"}), 0);
    assert_non_null(strstr(ember_errmsg(ctx), "no such table: nope"));
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.attempts, 0); /* no task ran */
    ember_close(ctx);
}

static void test_reads(void **state)
{
    sql("CREATE TABLE src (name TEXT, x REAL, b BLOB)");
    sql("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000) INSERT "
        "INTO src SELECT 'n' || i, i / 4.0, x'00ff' FROM s");
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t n = 0;
    /* a table's name: split by rowid, bounds asked of the file */
    assert_int_equal(
        ember_count(ember_read_db(ctx, &(ember_db_conf){.url = url}, "src", NULL, 0, 0, 4), &n), 0);
    assert_int_equal(n, 1000);
    ember_result *res;
    assert_int_equal(
        ember_collect(ember_read_db(ctx, &(ember_db_conf){.url = url},
                                    "SELECT * FROM src WHERE name = 'n2'", NULL, 0, 0, 1),
                      &res),
        0);
    assert_int_equal(ember_result_len(res), 1);
    const char *want = "{\"name\":\"n2\",\"x\":0.5,\"b\":\"\\\\x00ff\"}";
    ember_bytes v = ember_result_at(res, 0).val;
    assert_int_equal(v.len, strlen(want));
    assert_memory_equal(v.ptr, want, v.len);
    ember_result_free(res);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_modes_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_and_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
