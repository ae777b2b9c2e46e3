/* The libraries a job may never use (libcurl, libpq, libsqlite3,
 * libmicrohttpd) are not
 * loaded until it uses them: a program that counts numbers maps none of them
 * (a process[N] worker's fork copies none of their page tables); ember_http
 * loads libcurl, a PostgreSQL connection libpq, an SQLite one libsqlite3; a
 * library that cannot be
 * loaded is a clean error naming it. Checked in /proc/self/maps. */
#include <ember/db.h>
#include <ember/net.h>

#include "core/lazy.h"
#include "support.h"

static bool mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

static void test_loaded_when_used(void **state)
{
    (void)state;
    ember_ctx *ctx = open_ctx("local[2]");
    assert_int_equal(count_of(ember_range(ctx, 0, 1000, 1, 4)), 1000);
    assert_false(mapped("/libcurl.so"));
    assert_false(mapped("/libpq.so"));
    assert_false(mapped("/libmicrohttpd.so"));
    assert_false(mapped("/libsqlite3.so"));
    /* ember_http: libcurl, and nothing else */
    ember_rdd *none = ember_parallelize(ctx, NULL, 0, 1);
    assert_int_equal(count_of(ember_http(none, &(ember_http_conf){0})), 0);
    assert_true(mapped("/libcurl.so"));
    assert_false(mapped("/libpq.so"));
    /* a database: libpq (the connection is refused: nothing listens on port 1) */
    ember_rdd *rows = ember_read_db(ctx, &(ember_db_conf){.url = "postgresql://127.0.0.1:1/x"},
                                    "SELECT 1", NULL, 0, 0, 1);
    int64_t n;
    assert_int_not_equal(ember_count(rows, &n), 0);
    assert_msg(ctx, "cannot connect to PostgreSQL");
    assert_true(mapped("/libpq.so"));
    assert_false(mapped("/libsqlite3.so"));
    /* an SQLite database: libsqlite3 (the file is not there) */
    rows = ember_read_db(ctx, &(ember_db_conf){.url = "sqlite:/nonexistent-ember-dir/x.db"},
                         "SELECT 1", NULL, 0, 0, 1);
    assert_int_not_equal(ember_count(rows, &n), 0);
    assert_msg(ctx, "cannot open the SQLite database /nonexistent-ember-dir/x.db");
    assert_true(mapped("/libsqlite3.so"));
    ember_close(ctx);
}

static void test_a_missing_library_is_named(void **state)
{
    (void)state;
    ember__lib gone = EMBER__LIB("libember-no-such-library.so.0");
    assert_int_equal(ember__lib_load(&gone), -1);
    assert_non_null(strstr(gone.err, "cannot load libember-no-such-library.so.0"));
    assert_int_equal(ember__lib_load(&gone), -1); /* and again, the same */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded_when_used),
        cmocka_unit_test(test_a_missing_library_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
