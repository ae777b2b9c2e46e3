/* Shuffles through ember; prints one figure, peak RSS on stderr.
 *   bench_shuffle wordcount PATH MASTER    text_file -> words -> reduce_by_key -> count; MB/s
 *   bench_shuffle sort PATH MASTER OUTDIR  text_file -> sort_by(first 10 bytes) ->
 *                                          save_as_text_file(OUTDIR); seconds
 *   bench_shuffle group MB BUDGET_MB MASTER  MB of 100-byte (key, value) records made
 *                                          in the tasks -> group_by_key under a memory
 *                                          budget -> each group's values read; seconds
 *   bench_shuffle group_data MB PATH       the same records as lines "key value"
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---------------------------------------------------------------- group_by_key */

enum { REC = 100, KEY = 8, KEYS = 200000 };

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* record i: an 8-digit key (one in 200,000, skewed: key k about twice as common as
 * key 2k) and a 91-byte value; 100 bytes as a line "key value\n" */
static void make_rec(int64_t i, char *key, char *val)
{
    uint64_t h = mix((uint64_t)i);
    uint64_t k = (h % KEYS) >> (h >> 60 & 3); /* more weight on small keys */
    snprintf(key, KEY + 1, "%08llu", (unsigned long long)k);
    for (int j = 0; j < REC - KEY - 1; j++)
        val[j] = (char)('a' + (mix(h + (uint64_t)j) % 26));
}

static int group_rec(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    char key[KEY + 1], val[REC - KEY - 1];
    make_rec(ember_i64(in.val), key, val);
    return ember_emit_pair(out, ember_bytes_of(key, KEY), ember_bytes_of(val, sizeof val));
}

/* a group's values read through its iterator: their count */
static int group_size(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    ember_iter it;
    ember_rec v;
    int64_t n = 0;
    int rc;
    ember_iter_init(&it, in.val);
    while ((rc = ember_iter_next(&it, &v)) == 1)
        n++;
    return rc < 0 ? rc : ember_emit_i64(out, n);
}

static int group_bench(int64_t mb, size_t budget_mb, const char *master)
{
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = master, .memory_budget = budget_mb << 20}))
        return 1;
    int64_t n = mb * 1000000 / REC, total = 0;
    double t0 = now();
    ember_rdd *g = ember_group_by_key(ember_map(ember_range(ctx, 0, n, 1, 64), group_rec, NULL), 0);
    int rc = ember_sum_i64_values(ember_values(ember_map_values(g, group_size, NULL)), &total);
    double secs = now() - t0;
    if (rc || total != n) {
        fprintf(stderr, "bench_shuffle group: %s (%lld of %lld values)\n", ember_errmsg(ctx),
                (long long)total, (long long)n);
        return 1;
    }
    ember_stage_stats sum = {0};
    for (int64_t j = 0; j < ember_job_count(ctx); j++) {
        ember_job_stats js;
        if (!ember_job_stats_get(ctx, j, &js)) {
            sum.spill_count += js.total.spill_count;
            sum.spill_bytes += js.total.spill_bytes;
        }
    }
    printf("%.2f\n", secs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "%lld records; %lld spills, %.0f MB spilled; peak_rss_mb %ld\n", (long long)n,
            (long long)sum.spill_count, (double)sum.spill_bytes / 1e6, ru.ru_maxrss / 1024);
    ember_close(ctx);
    return 0;
}

static int group_data(int64_t mb, const char *path)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        return 1;
    int64_t n = mb * 1000000 / REC;
    for (int64_t i = 0; i < n; i++) {
        char key[KEY + 1], val[REC - KEY - 1];
        make_rec(i, key, val);
        fprintf(fp, "%s %.*s\n", key, (int)sizeof val - 1, val);
    }
    return fclose(fp) ? 1 : 0;
}

/* key: a scrambled i among n (about 63% of them distinct), value 1 */
static int scrambled_pair(ember_rec in, ember_out *out, void *arg)
{
    uint64_t n = *(const uint64_t *)arg, z = (uint64_t)ember_i64(in.val) + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    int64_t k = (int64_t)((z ^ (z >> 31)) % n);
    return ember_emit_pair_i64(out, ember_bytes_of(&k, 8), 1);
}

/* reduce_by_key of n generated keys: prints the shuffle's MB/s (bytes written by
 * the map side, after combining, over the whole job's seconds) on the driver */
static int rbk_bench(uint64_t n, const char *master)
{
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = master}))
        return 1;
    int parts = 4 * ember_parallelism(ctx) * ember_ranks(ctx);
    double t0 = now();
    int64_t distinct = 0;
    int rc = ember_count(ember_reduce_by_key(ember_map(ember_range(ctx, 0, (int64_t)n, 1, parts),
                                                       scrambled_pair, &n),
                                             ember_sum_i64, NULL, 0),
                         &distinct);
    double secs = now() - t0;
    int64_t bytes = 0;
    for (int64_t j = 0; j < ember_job_count(ctx); j++) {
        ember_job_stats js;
        if (!ember_job_stats_get(ctx, j, &js))
            bytes += js.total.shuffle_write_bytes;
    }
    if (rc)
        fprintf(stderr, "bench_shuffle: %s\n", ember_errmsg(ctx));
    else if (ember_is_driver(ctx))
        printf("%.1f\n", (double)bytes / 1e6 / secs);
    if (!rc && ember_is_driver(ctx))
        fprintf(stderr, "%lld keys, %.1f MB shuffled in %.2f s\n", (long long)distinct,
                (double)bytes / 1e6, secs);
    ember_close(ctx);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "rbk"))
        return rbk_bench((uint64_t)atoll(argv[2]), argv[3]);
    if (argc == 5 && !strcmp(argv[1], "group"))
        return group_bench(atoll(argv[2]), (size_t)atoll(argv[3]), argv[4]);
    if (argc == 4 && !strcmp(argv[1], "group_data"))
        return group_data(atoll(argv[2]), argv[3]);
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
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (ember_is_driver(ctx)) { /* under MPI every rank runs this: one line */
        if (sort)
            printf("%.2f\n", secs);
        else
            printf("%.1f\n", (double)st.st_size / 1e6 / secs);
        fprintf(stderr, "%lld distinct words; peak_rss_mb %ld\n", (long long)n,
                ru.ru_maxrss / 1024);
    }
    ember_close(ctx);
    return 0;
}
