/* Reading files through ember; prints MB/s of input.
 *   bench_io lines PATH MASTER   text_file -> count
 *   bench_io csv PATH MASTER     read_csv (header) -> every field parsed -> noop sink
 *   bench_io csvbad PATH MASTER  read_csv, no header, bad rows skipped and counted,
 *                                in min(parallelism, 2) splits -> noop sink
 *   bench_io csvbad1 PATH MASTER the same in one split
 */
#include <ember/ember.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    struct stat st;
    if (stat(argv[2], &st))
        return 1;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = argv[3]}))
        return 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t n = 0;
    int rc;
    if (!strcmp(argv[1], "csv"))
        rc = ember_save_noop(ember_read_csv(ctx, argv[2], &(ember_csv_opts){.header = 1}), &n);
    else if (!strncmp(argv[1], "csvbad", 6))
        rc = ember_save_noop(
            ember_read_csv(ctx, argv[2],
                           &(ember_csv_opts){.read = {.on_bad = EMBER_BAD_SKIP,
                                                      .min_parts = argv[1][6] == '1' ? 1 : 0}}),
            &n);
    else
        rc = ember_count(ember_text_file(ctx, argv[2], 0), &n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) {
        fprintf(stderr, "bench_io: %s\n", ember_errmsg(ctx));
        return 1;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.1f\n", (double)st.st_size / 1e6 / secs);
    fprintf(stderr, "%lld records\n", (long long)n);
    ember_close(ctx);
    return 0;
}
