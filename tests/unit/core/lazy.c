/* The libraries a job may never use (libcurl, libpq, libsqlite3,
 * libmicrohttpd, zlib, libbz2, libzstd, libcsv) are not loaded until it uses
 * them: a program that counts numbers maps none of them (a process[N]
 * worker's fork copies none of their page tables), nor libxxhash (inlined);
 * ember_http loads libcurl, a PostgreSQL connection libpq, an SQLite one
 * libsqlite3, a gzip, bzip2 or zstd file its library, a CSV libcsv, each when
 * the job is built (so the workers forked later have it); a library that
 * cannot be loaded is a clean error naming it. Checked in /proc/self/maps. */
#include <ember/db.h>
#include <ember/net.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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
    static const char *const codecs[] = {"/libz.so", "/libbz2.so", "/libzstd.so", "/libcsv.so",
                                         "/libxxhash.so"};
    for (int i = 0; i < 5; i++)
        assert_false(mapped(codecs[i]));
    /* each codec's library when its file is written, then read back */
    char dir[] = "/tmp/ember-lazy-XXXXXX", out[64];
    assert_non_null(mkdtemp(dir));
    static const char *const names[] = {"gzip", "bzip2", "zstd"};
    for (int i = 0; i < 3; i++) {
        snprintf(out, sizeof out, "%s/%s", dir, names[i]);
        assert_int_equal(ember_save_as_text_file(ember_range(ctx, 0, 100, 1, 2), out, names[i]), 0);
        assert_true(mapped(codecs[i]));
        assert_false(mapped(codecs[i + 1])); /* the next not yet */
        assert_int_equal(count_of(ember_text_file(ctx, out, 2)), 100);
    }
    snprintf(out, sizeof out, "%s/t.csv", dir);
    FILE *f = fopen(out, "w");
    fputs("a,b\n1,2\n3,4\n", f);
    fclose(f);
    assert_int_equal(count_of(ember_read_csv(ctx, out, NULL)), 3);
    assert_true(mapped("/libcsv.so"));
    assert_false(mapped("/libxxhash.so"));
    char cmd[80];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
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

/* A fork taken while another thread of the parent was loading a library (its
 * lock held): the child loads that library itself and does not wait forever. */
static void test_a_fork_child_loads_what_the_parent_was_loading(void **state)
{
    (void)state;
    assert_int_equal(ember__lib_load(&ember__libcsv), 0);
    assert_null(ember__libz.handle);     /* this copy of the loader's: not loaded yet */
    pthread_mutex_lock(&ember__libz.mu); /* "mid-load" at the fork */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(ember__lib_load(&ember__libz) == 0 && ember__libz.handle ? 0 : 1);
    pthread_mutex_unlock(&ember__libz.mu);
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 6000 && !(got = waitpid(pid, &status, WNOHANG)); i++)
        usleep(10000); /* a hang (the lock never let go) ends the test after 60 s */
    if (!got) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the child still waits for the lock its parent held at the fork");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded_when_used),
        cmocka_unit_test(test_a_missing_library_is_named),
        cmocka_unit_test(test_a_fork_child_loads_what_the_parent_was_loading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
