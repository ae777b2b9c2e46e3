/* Databases, timed from the action's start to its end (seconds printed).
 *   bench_db save URL TABLE CSV copy|insert MASTER   a CSV file (no header) into TABLE
 *   bench_db window URL N IN_FLIGHT MASTER             N statements of pg_sleep(0.05) through
 *                                                       map_concurrent, a connection a thread
 */
#include <ember/ember.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int conn_setup(void **res, void *arg)
{
    PGconn *c = PQconnectdb(arg);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_db: %s", PQerrorMessage(c));
        PQfinish(c);
        return EMBER_EIO;
    }
    *res = c;
    return 0;
}

static void conn_teardown(void *res, void *arg)
{
    (void)arg;
    PQfinish(res);
}

static int sleep_50ms(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    PGresult *r = PQexec(ember_concurrent_resource(), "SELECT pg_sleep(0.05)");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? ember_emit(out, in.val) : EMBER_EIO;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: see bench_db.c\n");
        return 2;
    }
    ember_ctx *ctx;
    const char *master = argv[argc - 1];
    if (ember_open(&ctx, &(ember_conf){.master = master, .progress = -1})) {
        fprintf(stderr, "bench_db: %s\n", ember_errmsg(NULL));
        return 1;
    }
    int rc;
    double t0 = now();
    if (!strcmp(argv[1], "save")) {
        ember_rdd *csv = ember_read_csv(ctx, argv[4], NULL);
        rc = ember_save_to_db(
            csv,
            &(ember_db_conf){.url = argv[2],
                             .table = argv[3],
                             .mode = strcmp(argv[5], "copy") ? EMBER_DB_INSERT : EMBER_DB_COPY});
    } else {
        int64_t n = 0;
        ember_rdd *r =
            ember_map_concurrent_with(ember_range(ctx, 0, atoi(argv[3]), 1, 1), sleep_50ms, argv[2],
                                      &(ember_concurrent_conf){.max_in_flight = atoi(argv[4]),
                                                               .mode = EMBER_AS_COMPLETED,
                                                               .setup = conn_setup,
                                                               .teardown = conn_teardown});
        rc = ember_count(r, &n);
    }
    double took = now() - t0;
    if (rc) {
        fprintf(stderr, "bench_db: %s\n", ember_errmsg(ctx));
        return 1;
    }
    ember_close(ctx);
    printf("%.3f\n", took);
    return 0;
}
