/* The JSON-lines reader over any bytes: in 1 and in 7 splits, plain and gzip,
 * under the skip policy, the records and the bad count agree; nothing crashes
 * or leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "support_csv_diff.h"

static ember_ctx *ctx;
static const char *dir;

static char *read_all(const char *path, int parts)
{
    cd_buf b = {0};
    cd_puts(&b, "");
    ember_rdd *r = ember_read_json_lines(
        ctx, path, &(ember_read_opts){.min_parts = parts, .on_bad = EMBER_BAD_SKIP});
    ember_result *res = NULL;
    if (ember_collect(r, &res)) {
        cd_puts(&b, "error");
        ember_free(r);
        return cd_finish(&b);
    }
    for (size_t i = 0; i < ember_result_len(res); i++) {
        ember_bytes v = ember_result_at(res, i).val;
        cd_put(&b, v.ptr, v.len);
        cd_puts(&b, "\n--\n");
    }
    ember_result_free(res);
    int64_t bad = 0;
    ember_bad_records(r, &bad);
    char line[48];
    snprintf(line, sizeof line, "bad %lld", (long long)bad);
    cd_puts(&b, line);
    ember_free(r);
    return cd_finish(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        if (!(dir = cd_scratch_dir("ember-fuzz-json")) ||
            ember_open(&ctx, &(ember_conf){.master = "local[1]"}))
            abort();
    }
    if (size > 4096)
        return 0;
    char plain[128], gz[128];
    snprintf(plain, sizeof plain, "%s/in.jsonl", dir);
    snprintf(gz, sizeof gz, "%s/in.jsonl.gz", dir);
    if (cd_write(plain, data, size) || cd_write_gz(gz, data, size))
        abort();
    char *a = read_all(plain, 1), *b = read_all(plain, 7), *c = read_all(gz, 1);
    if (cd_len(a) != cd_len(b) || cd_len(a) != cd_len(c) || memcmp(a, b, cd_len(a)) ||
        memcmp(a, c, cd_len(a))) {
        fprintf(stderr, "the JSON-lines readers disagree:\none split:\n%s\nseven:\n%s\ngzip:\n%s\n",
                a, b, c);
        abort();
    }
    cd_free(a);
    cd_free(b);
    cd_free(c);
    return 0;
}
