/* Shuffles through ember; prints one figure, peak RSS on stderr.
 *   bench_shuffle wordcount PATH MASTER    text_file -> words -> reduce_by_key -> count; MB/s
 *   bench_shuffle sort PATH MASTER OUTDIR  text_file -> sort_by(first 10 bytes) ->
 *                                          save_as_text_file(OUTDIR); seconds
 */
#include <ember/ember.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

/* each run of bytes other than space and tab is a word: (word, 1) */
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

static int sort_key(ember_rec line, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit(out, ember_bytes_of(line.val.ptr, line.val.len < 10 ? line.val.len : 10));
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    bool sort = argc == 5 && !strcmp(argv[1], "sort");
    if (!sort && (argc != 4 || strcmp(argv[1], "wordcount")))
        return 2;
    struct stat st;
    if (stat(argv[2], &st))
        return 1;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = argv[3], .overwrite = 1}))
        return 1;
    double t0 = now();
    int64_t n = 0;
    int rc;
    if (sort)
        rc = ember_save_as_text_file(
            ember_sort_by(ember_text_file(ctx, argv[2], 0), sort_key, NULL, true, NULL, NULL, 0),
            argv[4], NULL);
    else
        rc = ember_count(
            ember_reduce_by_key(ember_flat_map(ember_text_file(ctx, argv[2], 0), words, NULL),
                                ember_sum_i64, NULL, 0),
            &n);
    double secs = now() - t0;
    if (rc) {
        fprintf(stderr, "bench_shuffle: %s\n", ember_errmsg(ctx));
        return 1;
    }
    if (sort)
        printf("%.2f\n", secs);
    else
        printf("%.1f\n", (double)st.st_size / 1e6 / secs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "%lld distinct words; peak_rss_mb %ld\n", (long long)n, ru.ru_maxrss / 1024);
    ember_close(ctx);
    return 0;
}
