/* ember_save_to_db and ember_read_db against a real PostgreSQL, started for
 * the test in a temporary directory (tests/db/pg_server.sh) and removed at
 * the end; every check reads the table back through its own connection. */
#include <pthread.h>
#include <stdatomic.h>

#include <libpq-fe.h>

#include "support.h"

static char dir[256], url[512], script[512];
static PGconn *db;

/* the test's own connections, told apart from the saves' in pg_stat_activity */
static PGconn *test_conn(void)
{
    char u[600];
    snprintf(u, sizeof u, "%s?application_name=ember-test", url);
    return PQconnectdb(u);
}

static int setup(void **state)
{
    snprintf(script, sizeof script, "%s/db/pg_server.sh", TEST_SRC_DIR);
    snprintf(dir, sizeof dir, "/tmp/ember-pg-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char cmd[1200];
    /* (stopped by the script's watcher if this process is killed midway) */
    snprintf(cmd, sizeof cmd, "'%s' start '%s' %d", script, dir, (int)getpid());
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(url, sizeof url, p)) {
        if (p)
            pclose(p);
        return -1;
    }
    pclose(p);
    url[strcspn(url, "\n")] = 0;
    db = test_conn();
    return PQstatus(db) == CONNECTION_OK ? 0 : -1;
}

static int teardown(void **state)
{
    PQfinish(db);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' stop '%s'", script, dir);
    return system(cmd);
}

static void sql(const char *s)
{
    PGresult *r = PQexec(db, s);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s\n", s, PQresultErrorMessage(r));
    assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    PQclear(r);
}

/* The first value of a query, as text ("NULL" for NULL). */
static const char *q1(const char *s)
{
    static char out[4096];
    PGresult *r = PQexec(db, s);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) >= 1);
    snprintf(out, sizeof out, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static int64_t qi(const char *s)
{
    return strtoll(q1(s), NULL, 10);
}

static void test_modes(void **state)
{
    sql("CREATE TABLE m (id int PRIMARY KEY, name text, score float8)");
    ember_ctx *ctx = open_ctx("process[2]"); /* the writers in worker processes */
    for (int mode = EMBER_DB_COPY; mode <= EMBER_DB_UPSERT; mode++) {
        ember_rdd *r = json_rows(ctx, 3000, 3);
        const char *key[] = {"id", NULL};
        assert_int_equal(
            ember_save_to_db(
                r, &(ember_db_conf){.url = url, .table = "m", .mode = mode, .conflict = key}),
            0);
        assert_int_equal(qi("SELECT count(*) FROM m"), 3000);
        sql("TRUNCATE m");
        ember_free(r);
    }
    ember_close(ctx);
    ctx = open_ctx("local[2]");
    int modes[] = {EMBER_DB_COPY, EMBER_DB_INSERT};
    for (int k = 0; k < 2; k++) {
        sql("TRUNCATE m");
        ember_rdd *r = json_rows(ctx, 5000, 4);
        int rc = ember_save_to_db(r, &(ember_db_conf){.url = url, .table = "m", .mode = modes[k]});
        if (rc)
            fprintf(stderr, "%s\n", ember_errmsg(ctx));
        assert_int_equal(rc, 0);
        assert_int_equal(qi("SELECT count(*) FROM m"), 5000);
        assert_int_equal(qi("SELECT sum(id) FROM m"), 4999 * 5000 / 2);
        assert_string_equal(q1("SELECT name FROM m WHERE id = 4321"), "row 4321");
        assert_string_equal(q1("SELECT score FROM m WHERE id = 7"), "3.5");
        ember_free(r);
    }
    /* upsert: half the rows again with new names, and new ones */
    const char *up[] = {"{\"id\": 1, \"name\": \"one\"}", "{\"id\": 6000, \"name\": \"new\"}",
                        "[2, \"two\", 9.25]"};
    ember_bytes ub[3] = {ember_str(up[0]), ember_str(up[1]), ember_str(up[2])};
    ember_rdd *u = ember_parallelize(ctx, ub, 3, 2);
    const char *key[] = {"id", NULL};
    assert_int_equal(
        ember_save_to_db(
            u,
            &(ember_db_conf){.url = url, .table = "m", .mode = EMBER_DB_UPSERT, .conflict = key}),
        0);
    assert_int_equal(qi("SELECT count(*) FROM m"), 5001);
    assert_string_equal(q1("SELECT name FROM m WHERE id = 1"), "one");
    assert_string_equal(q1("SELECT score FROM m WHERE id = 1"), "NULL"); /* a missing field */
    assert_string_equal(q1("SELECT name || score FROM m WHERE id = 2"), "two9.25");
    /* a statement of the caller's */
    sql("CREATE TABLE log (a int, b text)");
    ember_rdd *ss = ember_parallelize(
        ctx, (ember_bytes[]){ember_str("[1, \"x\"]"), ember_str("[2, \"y\"]")}, 2, 1);
    assert_int_equal(ember_save_to_db(ss, &(ember_db_conf){.url = url,
                                                           .sql = "INSERT INTO log VALUES ($1, "
                                                                  "upper($2))",
                                                           .max_in_flight = 1}),
                     0);
    assert_string_equal(q1("SELECT string_agg(b, ',' ORDER BY a) FROM log"), "X,Y");
    ember_free(u);
    ember_free(ss);
    ember_close(ctx);
}

static void test_csv_and_values(void **state)
{
    sql("CREATE TABLE v (id bigint, t text, f float8, n numeric, b bytea, ok boolean, j jsonb)");
    char path[400];
    snprintf(path, sizeof path, "%s/v.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "ok,id,t\n"); /* by header name, not position; f, n, b, j NULL */
    fprintf(f, "true,9223372036854775807,\"tab\there, \"\"quoted\"\"\"\n");
    fprintf(f, "false,-9223372036854775808,ünïcödé ✓ \\back\\slash\n");
    fprintf(f, ",3,\n"); /* empty: NULL */
    fclose(f);
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *csv = ember_read_csv(ctx, path, &(ember_csv_opts){.header = 1});
    assert_int_equal(ember_save_to_db(csv, &(ember_db_conf){.url = url, .table = "v"}), 0);
    assert_int_equal(qi("SELECT count(*) FROM v"), 3);
    assert_string_equal(q1("SELECT t FROM v WHERE id = 9223372036854775807"),
                        "tab\there, \"quoted\"");
    assert_string_equal(q1("SELECT t FROM v WHERE ok = false"), "ünïcödé ✓ \\back\\slash");
    assert_string_equal(q1("SELECT coalesce(t, 'NULL') || coalesce(ok::text, 'NULL') FROM v "
                           "WHERE id = 3"),
                        "NULLNULL");
    /* JSON values: limits, bytea, json, very long text */
    sql("TRUNCATE v");
    size_t big = 1 << 20;
    char *longrow = malloc(big + 200);
    int at = snprintf(longrow, 200, "{\"id\": 1, \"t\": \"");
    memset(longrow + at, 'x', big);
    snprintf(longrow + at + big, 200, "\"}");
    const char *rows[] = {
        /* a number past a double's precision travels as a string */
        "{\"id\": 2, \"f\": 1.7976931348623157e308, \"n\": \"123456789012345678901234567890.5\"}",
        "{\"id\": 3, \"f\": -4.9e-324, \"b\": \"\\\\xdeadbeef00\", \"j\": {\"a\": [1, null]}}",
        "{\"id\": 4, \"t\": null, \"ok\": true, \"t\": \"nul\\u00e9\"}", longrow};
    ember_bytes items[4] = {ember_str(rows[0]), ember_str(rows[1]), ember_str(rows[2]),
                            ember_str(rows[3])};
    for (int mode = EMBER_DB_COPY; mode <= EMBER_DB_INSERT; mode++) {
        sql("TRUNCATE v");
        ember_rdd *r = ember_parallelize(ctx, items, 4, 2);
        int rc = ember_save_to_db(r, &(ember_db_conf){.url = url, .table = "v", .mode = mode});
        if (rc)
            fprintf(stderr, "%s\n", ember_errmsg(ctx));
        assert_int_equal(rc, 0);
        assert_int_equal(qi("SELECT length(t) FROM v WHERE id = 1"), (int64_t)big);
        assert_string_equal(q1("SELECT f FROM v WHERE id = 2"), "1.7976931348623157e+308");
        assert_string_equal(q1("SELECT n FROM v WHERE id = 2"), "123456789012345678901234567890.5");
        assert_string_equal(q1("SELECT encode(b, 'hex') FROM v WHERE id = 3"), "deadbeef00");
        assert_string_equal(q1("SELECT j->'a'->>0 FROM v WHERE id = 3"), "1");
        assert_string_equal(q1("SELECT t || ok FROM v WHERE id = 4"), "nulétrue");
        ember_free(r);
    }
    free(longrow);
    ember_free(csv);
    ember_close(ctx);
}

static void test_retry_writes_once(void **state)
{
    sql("CREATE TABLE once (id int, name text, score float8)"); /* no key: duplicates would show */
    ember_ctx *ctx = open_ctx("local[2,3]");
    ember_rdd *r = json_rows(ctx, 4000, 4);
    for (int mode = EMBER_DB_COPY; mode <= EMBER_DB_INSERT; mode++) {
        sql("TRUNCATE once");
        atomic_store(&row_1300_failed, 0);
        ember_rdd *m = ember_map(r, fail_at_row_1300, NULL);
        assert_int_equal(
            ember_save_to_db(m, &(ember_db_conf){.url = url, .table = "once", .mode = mode}), 0);
        assert_int_equal(atomic_load(&row_1300_failed), 1);
        assert_int_equal(qi("SELECT count(*) FROM once"), 4000);
        assert_int_equal(qi("SELECT count(DISTINCT id) FROM once"), 4000);
        ember_free(m);
    }
    /* committed batches: the retry starts after what the first attempt committed */
    sql("TRUNCATE once");
    atomic_store(&row_1300_failed, 0);
    ember_rdd *m = ember_map(r, fail_at_row_1300, NULL);
    assert_int_equal(ember_save_to_db(m, &(ember_db_conf){.url = url,
                                                          .table = "once",
                                                          .mode = EMBER_DB_INSERT,
                                                          .commit_every = 100,
                                                          .save_id = "batches"}),
                     0);
    assert_int_equal(qi("SELECT count(*) FROM once"), 4000);
    assert_int_equal(qi("SELECT count(DISTINCT id) FROM once"), 4000);
    assert_int_equal(qi("SELECT done FROM ember_progress WHERE save_id = 'batches' AND part = 1"),
                     1000);
    /* the same save_id again: everything is committed, nothing is written twice */
    assert_int_equal(ember_save_to_db(r, &(ember_db_conf){.url = url,
                                                          .table = "once",
                                                          .mode = EMBER_DB_COPY,
                                                          .commit_every = 100,
                                                          .save_id = "batches"}),
                     0);
    assert_int_equal(qi("SELECT count(*) FROM once"), 4000);
    ember_free(m);
    ember_free(r);
    ember_close(ctx);
}

static int bad_rows(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, in.val);
}

static void test_bad_rows_and_errors(void **state)
{
    sql("CREATE TABLE k (id int PRIMARY KEY, name text)");
    ember_ctx *ctx = open_ctx("local[2]");
    /* a constraint violation names its row */
    const char *dup[] = {"[1, \"a\"]", "[2, \"b\"]", "[1, \"again\"]"};
    ember_rdd *d = ember_parallelize(
        ctx, (ember_bytes[]){ember_str(dup[0]), ember_str(dup[1]), ember_str(dup[2])}, 3, 1);
    for (int mode = EMBER_DB_COPY; mode <= EMBER_DB_INSERT; mode++) {
        assert_int_not_equal(
            ember_save_to_db(d, &(ember_db_conf){.url = url, .table = "k", .mode = mode}), 0);
        const char *m = ember_errmsg(ctx);
        assert_non_null(strstr(m, "partition 0 record 3"));
        assert_non_null(strstr(m, "duplicate key"));
        assert_int_equal(qi("SELECT count(*) FROM k"), 0); /* the attempt left nothing */
    }
    /* INSERT sends 64 rows a statement: a violation among them names their range */
    ember_bytes many[200];
    char mtext[200][40];
    for (int i = 0; i < 200; i++) {
        snprintf(mtext[i], sizeof mtext[i], "[%d, \"m\"]", i == 149 ? 10 : i + 10);
        many[i] = ember_str(mtext[i]);
    }
    ember_rdd *mr = ember_parallelize(ctx, many, 200, 1);
    assert_int_not_equal(
        ember_save_to_db(mr, &(ember_db_conf){.url = url, .table = "k", .mode = EMBER_DB_INSERT}),
        0);
    assert_non_null(strstr(ember_errmsg(ctx), "partition 0: records 129 to 192 (one statement): "
                                              "duplicate key value"));
    assert_non_null(strstr(ember_errmsg(ctx), "Key (id)=(10) already exists"));
    assert_int_equal(qi("SELECT count(*) FROM k"), 0);
    /* rows that do not fit: fail names them; skip and divert count them */
    const char *bad[] = {"[5, \"ok\"]", "[6]", "{\"id\": 7, \"nope\": 1}", "not json"};
    ember_bytes bb[4] = {ember_str(bad[0]), ember_str(bad[1]), ember_str(bad[2]),
                         ember_str(bad[3])};
    ember_rdd *b = ember_map(ember_parallelize(ctx, bb, 4, 1), bad_rows, NULL);
    assert_int_not_equal(ember_save_to_db(b, &(ember_db_conf){.url = url, .table = "k"}), 0);
    assert_non_null(strstr(ember_errmsg(ctx), "partition 0 record 2 does not fit: an array of 1"));
    ember_close(ctx);
    char bad_dir[300];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", dir);
    assert_int_equal(ember_open(&ctx, &(ember_conf){.master = "local[2]",
                                                    .progress = -1,
                                                    .bad_records = EMBER_BAD_DIVERT,
                                                    .bad_dir = bad_dir}),
                     0);
    b = ember_parallelize(ctx, bb, 4, 1);
    assert_int_equal(ember_save_to_db(b, &(ember_db_conf){.url = url, .table = "k"}), 0);
    assert_int_equal(qi("SELECT count(*) FROM k"), 1);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.records_bad, 3);
    char path[400], line[600];
    snprintf(path, sizeof path, "%s/db-part-00000", bad_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int lines = 0;
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    assert_int_equal(lines, 3);
    /* a refused connection and a bad URL: named before any task runs */
    char refused[200];
    snprintf(refused, sizeof refused, "postgresql://ember@127.0.0.1:1/ember");
    assert_int_equal(ember_save_to_db(b, &(ember_db_conf){.url = refused, .table = "k"}),
                     EMBER_EIO);
    assert_non_null(strstr(ember_errmsg(ctx), "cannot connect to PostgreSQL"));
    assert_int_not_equal(
        ember_save_to_db(b, &(ember_db_conf){.url = "postgresql://[bad", .table = "k"}), 0);
    assert_non_null(strstr(ember_errmsg(ctx), "save_to_db: cannot connect"));
    assert_int_not_equal(ember_save_to_db(b, &(ember_db_conf){.url = url, .table = "missing"}), 0);
    assert_non_null(strstr(ember_errmsg(ctx), "\"missing\" does not exist"));
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.attempts, 0); /* no task ran */
    int64_t n;
    assert_int_equal(ember_count(b, &n), 0); /* the context still works */
    ember_close(ctx);
}

/* the connections the server sees from the save (not the test's own) */
static atomic_int watching, most;
static void *watch(void *arg)
{
    PGconn *c = test_conn();
    while (atomic_load(&watching)) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                "'client backend' AND application_name <> 'ember-test'");
        int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : 0;
        PQclear(r);
        if (n > atomic_load(&most))
            atomic_store(&most, n);
        usleep(2000);
    }
    PQfinish(c);
    return NULL;
}

static void test_window_connections(void **state)
{
    sql("CREATE TABLE w (id int, name text, score float8)");
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *r = json_rows(ctx, 600, 6);
    atomic_store(&watching, 1);
    pthread_t th;
    pthread_create(&th, NULL, watch, NULL);
    assert_int_equal(ember_save_to_db(r, &(ember_db_conf){.url = url,
                                                          .sql = "INSERT INTO w SELECT $1, $2, "
                                                                 "$3 FROM pg_sleep(0.005)",
                                                          .max_in_flight = 64}),
                     0);
    atomic_store(&watching, 0);
    pthread_join(th, NULL);
    assert_int_equal(qi("SELECT count(*) FROM w"), 600);
    assert_true(atomic_load(&most) >= 1);
    assert_true(atomic_load(&most) <= 2); /* one connection a running task */
    ember_free(r);
    ember_close(ctx);
}

/* A gate on table t: inserting id 1500 waits for advisory lock 42, which
 * the test holds; waiters are seen in pg_locks. So the job is stopped at a
 * known row, mid-transaction, whatever the machine's speed. */
static void gate(const char *t)
{
    char q[600];
    sql("CREATE OR REPLACE FUNCTION gate() RETURNS trigger AS $$ BEGIN IF NEW.id = 1500 THEN "
        "PERFORM pg_advisory_lock(42); PERFORM pg_advisory_unlock(42); END IF; RETURN NEW; END "
        "$$ LANGUAGE plpgsql");
    snprintf(q, sizeof q,
             "CREATE TRIGGER gate_%s BEFORE INSERT ON %s FOR EACH ROW EXECUTE "
             "FUNCTION gate()",
             t, t);
    sql(q);
}

static void wait_for_waiter(PGconn *c)
{
    for (int i = 0; i < 6000; i++) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                                "NOT granted");
        int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : 0;
        PQclear(r);
        if (n > 0)
            return;
        usleep(10000);
    }
}

static void *restart_at_gate(void *arg)
{
    PGconn *c = test_conn();
    wait_for_waiter(c);
    PQfinish(c);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' restart '%s'", script, dir);
    if (system(cmd))
        fprintf(stderr, "restart failed\n");
    return NULL;
}

/* the server restarted while a task's transaction waits at the gate: the
 * attempts it cost are retried (task connections wait for the server), and
 * every row is there once */
static void test_server_restart(void **state)
{
    sql("CREATE TABLE rs (id int, name text, score float8)");
    gate("rs");
    sql("SELECT pg_advisory_lock(42)");
    ember_ctx *ctx = open_ctx("local[2,4]");
    ember_rdd *r = json_rows(ctx, 6000, 4);
    pthread_t th;
    pthread_create(&th, NULL, restart_at_gate, NULL);
    int rc =
        ember_save_to_db(r, &(ember_db_conf){.url = url, .table = "rs", .mode = EMBER_DB_INSERT});
    pthread_join(th, NULL);
    if (rc)
        fprintf(stderr, "%s\n", ember_errmsg(ctx));
    assert_int_equal(rc, 0);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_true(js.total.failed_attempts >= 1); /* the restart cost attempts */
    PQfinish(db);                               /* the restart closed it; the lock went with it */
    db = test_conn();
    assert_int_equal(qi("SELECT count(*) FROM rs"), 6000);
    assert_int_equal(qi("SELECT count(DISTINCT id) FROM rs"), 6000);
    ember_free(r);
    ember_close(ctx);
}

static void *cancel_at_gate(void *arg)
{
    PGconn *c = test_conn();
    wait_for_waiter(c);
    PQfinish(c);
    ember_cancel(arg);
    return NULL;
}

/* a cancelled save leaves no row, under threads and worker processes alike */
static void test_cancel_leaves_nothing(void **state)
{
    sql("CREATE TABLE c (id int, name text, score float8)");
    gate("c");
    const char *masters[] = {"local[2]", "process[2]"};
    for (int k = 0; k < 2; k++) {
        ember_ctx *ctx = open_ctx(masters[k]);
        sql("SELECT pg_advisory_lock(42)");
        ember_rdd *r = json_rows(ctx, 6000, 1); /* one task: it waits at the gate */
        pthread_t th;
        pthread_create(&th, NULL, cancel_at_gate, ctx);
        int rc = ember_save_to_db(
            r, &(ember_db_conf){.url = url, .table = "c", .mode = EMBER_DB_INSERT});
        pthread_join(th, NULL);
        assert_int_equal(rc, EMBER_ECANCELED);
        sql("SELECT pg_advisory_unlock(42)");
        for (int i = 0; i < 500 && qi("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                      "'client backend' AND application_name <> 'ember-test'");
             i++)
            usleep(10000); /* the cancelled backend's rollback */
        assert_int_equal(qi("SELECT count(*) FROM c"), 0);
        /* the context still works: the same save, to its end */
        assert_int_equal(ember_save_to_db(r, &(ember_db_conf){.url = url, .table = "c"}), 0);
        assert_int_equal(qi("SELECT count(*) FROM c"), 6000);
        sql("TRUNCATE c");
        ember_free(r);
        ember_close(ctx);
    }
}

static void test_reads(void **state)
{
    sql("CREATE TABLE src (id int, name text, ok boolean, j json, x float8)");
    sql("INSERT INTO src SELECT i, 'n' || i, i % 2 = 0, '{\"k\": 1}', i / 4.0 FROM "
        "generate_series(1, 1000) i");
    sql("INSERT INTO src VALUES (NULL, 'null id', NULL, NULL, NULL)");
    const char *masters[] = {"local[2]", "process[2]"};
    for (int k = 0; k < 2; k++) {
        ember_ctx *ctx = open_ctx(masters[k]);
        ember_rdd *r =
            ember_read_db(ctx, &(ember_db_conf){.url = url, .fetch = 64}, "src", "id", 1, 1001, 4);
        int64_t n = 0;
        assert_int_equal(ember_count(r, &n), 0);
        assert_int_equal(n, 1001); /* the NULL in the first partition */
        ember_result *res;
        assert_int_equal(
            ember_collect(ember_read_db(ctx, &(ember_db_conf){.url = url},
                                        "SELECT * FROM src WHERE id = 2", NULL, 0, 0, 1),
                          &res),
            0);
        assert_int_equal(ember_result_len(res), 1);
        ember_bytes v = ember_result_at(res, 0).val;
        assert_int_equal(
            v.len, strlen("{\"id\":2,\"name\":\"n2\",\"ok\":true,\"j\":{\"k\": 1},\"x\":0.5}"));
        assert_memory_equal(
            v.ptr, "{\"id\":2,\"name\":\"n2\",\"ok\":true,\"j\":{\"k\": 1},\"x\":0.5}", v.len);
        ember_result_free(res);
        /* bounds asked of the server; CSV out */
        ember_rdd *c = ember_read_db(ctx, &(ember_db_conf){.url = url, .csv_out = 1},
                                     "SELECT id, name FROM src", "id", 0, 0, 3);
        assert_int_equal(ember_count(c, &n), 0);
        assert_int_equal(n, 1001);
        ember_close(ctx);
    }
}

/* map_concurrent with a connection a pool thread: made once, reused across
 * jobs, closed at ember_close; the server sees no more connections than the
 * windows' calls in flight. */
static atomic_int setups, teardowns;
static int conn_setup(void **res, void *arg)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return EMBER_EIO;
    }
    atomic_fetch_add(&setups, 1);
    *res = c;
    return 0;
}

static void conn_teardown(void *res, void *arg)
{
    atomic_fetch_add(&teardowns, 1);
    PQfinish(res);
}

static int sleepy_query(ember_rec in, ember_out *out, void *arg)
{
    PGconn *c = ember_concurrent_resource();
    PGresult *r = PQexec(c, "SELECT pg_backend_pid() FROM pg_sleep(0.01)");
    int rc =
        PQresultStatus(r) == PGRES_TUPLES_OK ? ember_emit_str(out, PQgetvalue(r, 0, 0)) : EMBER_EIO;
    PQclear(r);
    return rc;
}

static void test_concurrent_connections(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *r = ember_map_concurrent_with(ember_range(ctx, 0, 400, 1, 4), sleepy_query, NULL,
                                             &(ember_concurrent_conf){.max_in_flight = 16,
                                                                      .setup = conn_setup,
                                                                      .teardown = conn_teardown});
    for (int job = 0; job < 2; job++) {
        int64_t n = 0;
        assert_int_equal(ember_count(ember_distinct(r, 2), &n), 0);
        assert_true(n > 1 && n <= 32); /* backends: at most the two windows' 16 calls */
    }
    int made = atomic_load(&setups);
    assert_true(made > 1 && made <= 32); /* made once a thread, kept across jobs */
    assert_int_equal(qi("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client "
                        "backend' AND application_name <> 'ember-test'"),
                     made);
    ember_free(r);
    ember_close(ctx);
    assert_int_equal(atomic_load(&teardowns), made);
    for (int i = 0; i < 100 && qi("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                  "'client backend' AND application_name <> 'ember-test'");
         i++)
        usleep(20000); /* the server notices the closes */
    assert_int_equal(qi("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client "
                        "backend' AND application_name <> 'ember-test'"),
                     0);
}

int main(void)
{
    if (system("ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1")) {
        fprintf(stderr, "skipped: no PostgreSQL server installed\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_csv_and_values),
        cmocka_unit_test(test_retry_writes_once),
        cmocka_unit_test(test_bad_rows_and_errors),
        cmocka_unit_test(test_window_connections),
        cmocka_unit_test(test_server_restart),
        cmocka_unit_test(test_cancel_leaves_nothing),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_concurrent_connections),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
