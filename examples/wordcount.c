/* Word count: text files -> words -> (word, 1) -> reduce_by_key -> the top 20.
 *
 *   wordcount PATHS        (a file, a directory, a glob, or a comma list)
 */
#include <ember/ember.h>
#include <stdio.h>
#include <string.h>

/* each run of non-space bytes is a word: (word, 1) */
static int words(ember_rec line, ember_out *out, void *arg)
{
    (void)arg;
    const char *p = line.val.ptr, *end = p + line.val.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *w = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        if (p > w) {
            int rc = ember_emit_pair_i64(out, ember_bytes_of(w, (size_t)(p - w)), 1);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* (word, count) as one value: count first, so top orders by it */
static int count_first(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    char buf[256];
    int64_t c = ember_i64(in.val);
    size_t n = in.key.len < sizeof buf - 8 ? in.key.len : sizeof buf - 8;
    memcpy(buf, &c, 8);
    memcpy(buf + 8, in.key.ptr, n);
    return ember_emit(out, ember_bytes_of(buf, 8 + n));
}

static int by_count(ember_bytes a, ember_bytes b, void *arg)
{
    (void)arg;
    return ember_cmp_i64(ember_bytes_of(a.ptr, 8), ember_bytes_of(b.ptr, 8), NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wordcount PATHS\n");
        return 2;
    }
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "wordcount"})) {
        fprintf(stderr, "wordcount: %s\n", ember_errmsg(NULL));
        return 2;
    }
    ember_rdd *counts = ember_reduce_by_key(
        ember_flat_map(ember_text_file(ctx, argv[1], 0), words, NULL), ember_sum_i64, NULL, 0);
    ember_result *top;
    if (ember_top(ember_map(counts, count_first, NULL), 20, by_count, NULL, &top)) {
        fprintf(stderr, "wordcount: %s\n", ember_errmsg(ctx));
        ember_close(ctx);
        return 1;
    }
    for (size_t i = 0; i < ember_result_len(top); i++) {
        ember_bytes v = ember_result_at(top, i).val;
        printf("%8lld %.*s\n", (long long)ember_i64(ember_bytes_of(v.ptr, 8)), (int)(v.len - 8),
               (const char *)v.ptr + 8);
    }
    ember_result_free(top);
    ember_close(ctx);
    return 0;
}
