/* Differential fuzzing of the CSV reader (tests/support_csv_diff.h): the first
 * byte picks the options (header, bad-record policy, delimiter) and which other
 * reads to compare (a split count of 2, 3, 7 or 16, and gzip or zstd); the rest
 * is the file. They must give the one-split read's rows, bad rows and failure;
 * a disagreement aborts with both. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "support_csv_diff.h"

static ember_ctx *ctx;
static const char *dir;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        if (!(dir = cd_scratch_dir("ember-fuzz-csv")) ||
            ember_open(&ctx, &(ember_conf){.master = "local[1]"}))
            abort();
    }
    if (size < 1 || size > 4096)
        return 0;
    static const char delims[] = {',', ';', '\t', '|'};
    static const ember_on_bad policies[] = {EMBER_BAD_FAIL, EMBER_BAD_SKIP, EMBER_BAD_DIVERT,
                                            EMBER_BAD_SKIP};
    ember_csv_opts o = {.header = data[0] & 1,
                        .read.on_bad = policies[(data[0] >> 1) & 3],
                        .delimiter = delims[(data[0] >> 3) & 3]};
    unsigned ways = (1u << ((data[0] >> 5) & 3)) | ((data[0] & 0x80) ? CD_ZSTD : CD_GZIP);
    char *why = NULL;
    if (csv_diff_check_ways(ctx, dir, data + 1, size - 1, &o, ways, &why)) {
        fprintf(stderr, "the CSV readers disagree:\n%s\n", why);
        abort();
    }
    return 0;
}
