/* Ingest a directory of CSV files with headers, in parallel, and write each row
 * as a JSON object keyed by the header, one line each (bad rows are skipped and
 * counted).
 *
 *   csv_ingest IN_PATHS OUT_DIR
 */
#include <ember/ember.h>
#include <ember/json.h>
#include <stdio.h>

/* A row as {"name": "value", ...} by the header's names (ember/json.h). */
static int to_json(ember_rec row, ember_out *out, void *header)
{
    json_t *o = json_object();
    ember_bytes name, value;
    for (size_t i = 0; ember_csv_field(row.val, i, &value) == 0; i++) {
        if (ember_csv_field(*(ember_bytes *)header, i, &name))
            break;
        json_object_setn_new_nocheck(o, name.ptr, name.len,
                                     json_stringn_nocheck(value.ptr, value.len));
    }
    int rc = ember_emit_json(out, o);
    json_decref(o);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: csv_ingest IN_PATHS OUT_DIR\n");
        return 2;
    }
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "csv_ingest"})) {
        fprintf(stderr, "csv_ingest: %s\n", ember_errmsg(NULL));
        return 2;
    }
    ember_csv_opts opts = {.header = 1, .read.on_bad = EMBER_BAD_SKIP};
    ember_rdd *rows = ember_read_csv(ctx, argv[1], &opts);
    ember_bytes header;
    int64_t bad = 0, n = 0;
    int rc = ember_csv_header(rows, &header);
    if (!rc)
        rc = ember_save_as_json_lines(ember_map(rows, to_json, &header), argv[2], NULL);
    if (!rc)
        rc = ember_bad_records(rows, &bad);
    ember_job_stats js;
    if (!rc && ember_job_stats_get(ctx, -1, &js) == 0)
        n = js.total.records_out;
    if (rc)
        fprintf(stderr, "csv_ingest: %s\n", ember_errmsg(ctx));
    else
        printf("wrote %lld rows to %s; skipped %lld bad rows\n", (long long)n, argv[2],
               (long long)bad);
    ember_close(ctx);
    return rc ? 1 : 0;
}
