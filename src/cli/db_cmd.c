/* `ember db load URL TABLE FILE...` writes JSON lines or CSV files to a table
 * (PostgreSQL or SQLite) with ember_save_to_db; `ember db query URL SQL`
 * prints a query's rows as JSON lines (ember_read_db). Uses the public API only.
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char DB_USAGE[] =
    "usage: ember db load URL TABLE FILE... [--mode copy|insert|upsert] [--conflict COLS]\n"
    "                     [--concurrency N] [--commit-every N] [--no-header] [--master M]\n"
    "       ember db query URL SQL [--column C --lower L --upper U --parts N] [--csv]\n"
    "URL: postgresql://user@host:port/db (anything libpq accepts) or sqlite:PATH\n"
    "load: FILEs ending .csv (.csv.gz, .csv.zst) are CSV with a header row (--no-header:\n"
    "      by position), others JSON lines; one transaction a task, retried tasks write\n"
    "      each row once; --conflict a,b names the key columns of --mode upsert;\n"
    "      --concurrency N: statements in flight on each connection (insert, upsert)\n"
    "query: one JSON object a row on standard output (--csv: CSV rows), read in --parts\n"
    "      ranges of --column from --lower to --upper (0 0: the column's own range)\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "ember db: %s\n", why);
    fputs(DB_USAGE, why ? stderr : stdout);
    return why ? 2 : 0;
}

static bool is_csv(const char *p)
{
    return strstr(p, ".csv") != NULL;
}

/* "a,b" as a NULL-terminated list (in place) */
static const char **split_list(char *s)
{
    int n = 1;
    for (char *p = s; *p; p++)
        n += *p == ',';
    const char **v = calloc((size_t)n + 1, sizeof *v);
    int k = 0;
    for (char *tok = strtok(s, ","); v && tok; tok = strtok(NULL, ","))
        v[k++] = tok;
    return v;
}

static int load(int argc, char **argv)
{
    ember_db_conf c = {0};
    const char *master = getenv("EMBER_MASTER") ? NULL : "local[*]";
    const char *files[256];
    int nfiles = 0, header = 1;
    const char **conflict = NULL;
    char *pos[2] = {0};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--mode") && v) {
            i++;
            c.mode = !strcmp(v, "copy")     ? EMBER_DB_COPY
                     : !strcmp(v, "insert") ? EMBER_DB_INSERT
                     : !strcmp(v, "upsert") ? EMBER_DB_UPSERT
                                            : -1;
            if (c.mode < 0)
                return usage("--mode is copy, insert or upsert");
        } else if (!strcmp(a, "--conflict") && v) {
            conflict = split_list(argv[++i]);
        } else if (!strcmp(a, "--concurrency") && v) {
            c.max_in_flight = atoi(argv[++i]);
        } else if (!strcmp(a, "--commit-every") && v) {
            c.commit_every = atoll(argv[++i]);
        } else if (!strcmp(a, "--no-header")) {
            header = 0;
        } else if (!strcmp(a, "--master") && v) {
            master = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return usage("unknown option or missing value");
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else if (nfiles < 256) {
            files[nfiles++] = a;
        }
    }
    if (npos < 2 || !nfiles)
        return usage("load needs URL, TABLE and at least one FILE");
    c.url = pos[0];
    c.table = pos[1];
    c.conflict = conflict;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = master, .app_name = "ember db load"})) {
        fprintf(stderr, "ember db: %s\n", ember_errmsg(NULL));
        free(conflict);
        return 1;
    }
    int rc = 0;
    int64_t rows = 0;
    for (int f = 0; f < nfiles && !rc; f++) {
        ember_rdd *r = is_csv(files[f])
                           ? ember_read_csv(ctx, files[f], &(ember_csv_opts){.header = header})
                           : ember_read_json_lines(ctx, files[f], NULL);
        if (!(rc = ember_save_to_db(r, &c))) {
            ember_job_stats js;
            if (!ember_job_stats_get(ctx, -1, &js))
                rows += js.total.records_out;
        }
        ember_free(r);
    }
    if (rc)
        fprintf(stderr, "ember db: %s\n", ember_errmsg(ctx));
    else
        fprintf(stderr, "ember db: %lld rows into %s\n", (long long)rows, c.table);
    ember_close(ctx);
    free(conflict);
    return rc ? 1 : 0;
}

static int query(int argc, char **argv)
{
    ember_db_conf c = {0};
    const char *column = NULL, *pos[2] = {0};
    int64_t lower = 0, upper = 0;
    int parts = 1, npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--column") && v)
            column = argv[++i];
        else if (!strcmp(a, "--lower") && v)
            lower = atoll(argv[++i]);
        else if (!strcmp(a, "--upper") && v)
            upper = atoll(argv[++i]);
        else if (!strcmp(a, "--parts") && v)
            parts = atoi(argv[++i]);
        else if (!strcmp(a, "--csv"))
            c.csv_out = 1;
        else if (a[0] == '-' && a[1])
            return usage("unknown option or missing value");
        else if (npos < 2)
            pos[npos++] = a;
        else
            return usage("query takes URL and SQL");
    }
    if (npos < 2)
        return usage("query needs URL and SQL");
    c.url = pos[0];
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "ember db query"})) {
        fprintf(stderr, "ember db: %s\n", ember_errmsg(NULL));
        return 1;
    }
    ember_result *res = NULL;
    int rc = ember_collect(ember_read_db(ctx, &c, pos[1], column, lower, upper, parts), &res);
    if (rc) {
        fprintf(stderr, "ember db: %s\n", ember_errmsg(ctx));
    } else {
        for (size_t i = 0; i < ember_result_len(res); i++) {
            ember_bytes v = ember_result_at(res, i).val;
            if (c.csv_out) { /* fields quoted where they must be */
                for (size_t k = 0; k < ember_csv_nfields(v); k++) {
                    ember_bytes f;
                    ember_csv_field(v, k, &f);
                    bool q = memchr(f.ptr, ',', f.len) || memchr(f.ptr, '"', f.len) ||
                             memchr(f.ptr, '\n', f.len);
                    if (k)
                        putchar(',');
                    if (q)
                        putchar('"');
                    for (size_t j = 0; j < f.len; j++) {
                        char ch = ((const char *)f.ptr)[j];
                        if (ch == '"')
                            putchar('"');
                        putchar(ch);
                    }
                    if (q)
                        putchar('"');
                }
                putchar('\n');
            } else {
                fwrite(v.ptr, 1, v.len, stdout);
                putchar('\n');
            }
        }
        ember_result_free(res);
    }
    ember_close(ctx);
    return rc || fflush(stdout) ? 1 : 0;
}

int ember_cli_db(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))
        return usage(argc < 1 ? "load or query?" : NULL);
    if (!strcmp(argv[0], "load"))
        return load(argc - 1, argv + 1);
    if (!strcmp(argv[0], "query"))
        return query(argc - 1, argv + 1);
    return usage("load or query?");
}
