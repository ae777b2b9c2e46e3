/* The codecs over any bytes: a file named .gz or .zst that holds them is read as
 * text; a clean error or lines, never a crash or a leak. The first byte picks
 * the codec; the rest is the "compressed" data, optionally behind a valid
 * header so the fuzzer reaches the decoders' insides. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "support_csv_diff.h"

static ember_ctx *ctx;
static const char *dir;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        if (!(dir = cd_scratch_dir("ember-fuzz-codec")) ||
            ember_open(&ctx, &(ember_conf){.master = "local[1]"}))
            abort();
    }
    if (size < 1 || size > 65536)
        return 0;
    char path[128];
    bool zst = data[0] & 1;
    snprintf(path, sizeof path, "%s/in.txt.%s", dir, zst ? "zst" : "gz");
    cd_buf b = {0};
    if (data[0] & 2) /* a valid magic first */
        cd_put(&b, zst ? "\x28\xb5\x2f\xfd" : "\x1f\x8b\x08\x00", 4);
    cd_put(&b, data + 1, size - 1);
    if (cd_write(path, b.p ? b.p : "", b.len))
        abort();
    free(b.p);
    int64_t n;
    ember_rdd *t = ember_text_file(ctx, path, 1), *w = ember_whole_text_files(ctx, path, 1);
    ember_count(t, &n); /* 0, or EMBER_EIO with a message */
    ember_count(w, &n);
    ember_free(t); /* (rdds live until ember_close unless freed) */
    ember_free(w);
    return 0;
}
