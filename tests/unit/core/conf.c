/* src/core/conf.c: master strings, and how ember_open uses them. */
#include "core/conf.h"
#include "support.h"

static void test_masters_that_parse(void **state)
{
    ember__master m;
    assert_int_equal(ember__parse_master("local", &m), 0);
    assert_int_equal(m.threads, 1);
    assert_int_equal(m.attempts, 1);
    assert_int_equal(ember__parse_master("local[4]", &m), 0);
    assert_int_equal(m.threads, 4);
    assert_int_equal(m.attempts, 1); /* Spark: local[N] does not retry */
    assert_int_equal(ember__parse_master("local[3,5]", &m), 0);
    assert_int_equal(m.threads, 3);
    assert_int_equal(m.attempts, 5);
    assert_int_equal(ember__parse_master("local[*]", &m), 0);
    assert_int_equal(m.threads, ember__cores());
    assert_int_equal(ember__parse_master("local[*,2]", &m), 0);
    assert_int_equal(m.attempts, 2);
    assert_int_equal(ember__parse_master("mpi", &m), 0);
    assert_int_equal(m.backend, EMBER__BACKEND_MPI);
    assert_int_equal(m.threads, 0); /* the rank's share of the cores */
    assert_int_equal(m.attempts, 4);
    assert_int_equal(ember__parse_master("mpi[2]", &m), 0);
    assert_int_equal(m.backend, EMBER__BACKEND_MPI);
    assert_int_equal(m.threads, 2);
    assert_int_equal(m.attempts, 4);
    assert_int_equal(ember__parse_master("mpi[3,1]", &m), 0);
    assert_int_equal(m.attempts, 1);
}

static void test_masters_that_do_not(void **state)
{
    const char *bad[] = {"",          "locl",       "local[",     "local[]",
                         "local[0]",  "local[-1]",  "local[2",    "local[2]x",
                         "local[2,]", "local[2,0]", "local[a]",   "local[99999999]",
                         "yarn",      "local [2]",  "local[2, 3]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ember__master m;
        if (ember__parse_master(bad[i], &m) != EMBER_EMASTER) {
            fprintf(stderr, "'%s' parsed\n", bad[i]);
            fail();
        }
    }
}

static void test_open_uses_master(void **state)
{
    ember_ctx *ctx;
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local[3,2]"}), 0);
    assert_int_equal(ember_parallelism(ctx), 3);
    assert_int_equal(ember_max_failures(ctx), 2);
    assert_string_equal(ember_master(ctx), "local[3,2]");
    assert_int_equal(ember_rank(ctx), 0);
    assert_int_equal(ember_ranks(ctx), 1);
    assert_true(ember_is_driver(ctx));
    ember_close(ctx);

    /* conf.max_failures wins over the master's */
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local[2]", .max_failures = 4}), 0);
    assert_int_equal(ember_max_failures(ctx), 4);
    ember_close(ctx);

    /* NULL master: $EMBER_MASTER */
    setenv("EMBER_MASTER", "local[2,3]", 1);
    assert_int_equal(ember_open(&ctx, NULL), 0);
    assert_string_equal(ember_master(ctx), "local[2,3]");
    ember_close(ctx);
    setenv("EMBER_MASTER", "nonsense", 1);
    assert_int_equal(ember_open(&ctx, NULL), EMBER_EMASTER);
    assert_null(ctx);
    assert_non_null(strstr(ember_errmsg(NULL), "'nonsense'"));
    unsetenv("EMBER_MASTER");
    assert_int_equal(ember_open(&ctx, NULL), 0);
    assert_int_equal(ember_parallelism(ctx), ember__cores());
    ember_close(ctx);
}

static void test_open_errors(void **state)
{
    ember_ctx *ctx;
    assert_int_equal(ember_open(NULL, NULL), EMBER_EINVAL);
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local[x]"}), EMBER_EMASTER);
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "process[0]"}), EMBER_EMASTER);
    assert_non_null(strstr(ember_errmsg(NULL), "process[0]"));
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "process[2]"}), 0);
    assert_string_equal(ember_master(ctx), "process[2]");
    ember_close(ctx);
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local", .task_timeout = -1}),
                     EMBER_EINVAL);
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local", .max_failures = -1}),
                     EMBER_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masters_that_parse),
        cmocka_unit_test(test_masters_that_do_not),
        cmocka_unit_test(test_open_uses_master),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
