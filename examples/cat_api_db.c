/* The seed's job end to end into a database: N calls to a JSON API shaped
 * like TheCatAPI's image search, each answer plucked to its id, url, size and
 * breeds, the rows written to PostgreSQL (or SQLite) by id: a cat seen twice
 * is updated, not doubled. Each task writes its rows in one transaction, so a
 * retried task writes each row once. A request that finally fails is not a
 * cat: its {"request", "error"} line goes to cats-failed/ as a bad record, so
 * nothing is lost.
 *
 *   cat_api_db API_URL DB_URL [N] [RATE_PER_MIN]
 *
 * DB_URL: postgresql://user@host/db or sqlite:PATH, with a table
 *   CREATE TABLE cats (id text PRIMARY KEY, url text, width int, height int, breeds jsonb)
 * $CAT_API_KEY, when set, goes in an x-api-key header.
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cat_pluck.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s API_URL DB_URL [N] [RATE_PER_MIN]\n", argv[0]);
        return 2;
    }
    const char *api = argv[1], *db = argv[2];
    long n = argc > 3 ? atol(argv[3]) : 1000;
    double per_min = argc > 4 ? atof(argv[4]) : 0;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "cat_api_db",
                                       .master = "local[*,4]", /* 4 attempts a task */
                                       .bad_records = EMBER_BAD_DIVERT,
                                       .bad_dir = "cats-failed"})) {
        fprintf(stderr, "cat_api_db: %s\n", ember_errmsg(NULL));
        return 1;
    }
    ember_rdd *answers, *cats = cat_calls(ctx, api, n, per_min, &answers);
    const char *key[] = {"id", NULL};
    int rc = ember_save_to_db(
        cats,
        &(ember_db_conf){.url = db, .table = "cats", .mode = EMBER_DB_UPSERT, .conflict = key});
    ember_job_stats js = {0};
    if (rc)
        fprintf(stderr, "cat_api_db: %s\n", ember_errmsg(ctx));
    else if (!ember_job_stats_get(ctx, -1, &js))
        printf("wrote %lld cats to the table cats; %lld failed calls in cats-failed/\n",
               (long long)js.total.records_out, (long long)js.total.records_bad);
    ember_close(ctx);
    return rc ? 1 : js.total.records_bad ? 3 : 0;
}
