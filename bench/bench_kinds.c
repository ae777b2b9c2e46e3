/* What learning a kind costs: the tiny job's chain (1,000 numbers in 4
 * partitions, map twice, keep the multiples of 3) built afresh for every job,
 * ending in max with no comparator, which needs the values' kind. "learned":
 * the maps' typed emits say int64, learned by a probe stage in every job (a
 * fresh rdd each time); "declared": ember_as_i64 on the last map, no probe.
 * Prints the mean µs a job after a warm-up of a tenth as many jobs.
 *
 *   bench_kinds learned|declared MASTER [JOBS]
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int times_two(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit_i64(out, ember_i64(in.val) * 2);
}

static int plus_one(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit_i64(out, ember_i64(in.val) + 1);
}

static int multiple_of_3(ember_rec in, void *arg)
{
    (void)arg;
    return ember_i64(in.val) % 3 == 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "learned") && strcmp(argv[1], "declared"))) {
        fprintf(stderr, "usage: bench_kinds learned|declared MASTER [JOBS]\n");
        return 2;
    }
    bool declared = !strcmp(argv[1], "declared");
    int jobs = argc > 3 ? atoi(argv[3]) : 5000;
    if (jobs < 1)
        jobs = 1;
    int64_t values[1000];
    for (int i = 0; i < 1000; i++)
        values[i] = i;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "bench_kinds", .master = argv[2]})) {
        fprintf(stderr, "bench_kinds: %s\n", ember_errmsg(NULL));
        return 1;
    }
    int64_t top = 0;
    struct timespec t0, t1;
    for (int j = -jobs / 10; j < jobs; j++) {
        if (j == 0)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        ember_rdd *src = ember_parallelize_i64(ctx, values, 1000, 4);
        ember_rdd *doubled = ember_map(src, times_two, NULL);
        ember_rdd *odd = ember_map(doubled, plus_one, NULL);
        if (declared)
            ember_as_i64(odd);
        ember_rdd *rdd = ember_filter(odd, multiple_of_3, NULL);
        ember_buf b;
        ember_buf_init(&b);
        if (ember_max(rdd, NULL, NULL, &b)) {
            fprintf(stderr, "bench_kinds: %s\n", ember_errmsg(ctx));
            ember_close(ctx);
            return 1;
        }
        top = ember_i64(ember_buf_bytes(&b));
        ember_buf_destroy(&b);
        ember_free(src);
        ember_free(doubled);
        ember_free(odd);
        ember_free(rdd);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3);
    printf("max %lld; %.2f us per job over %d jobs (%s) on %s\n", (long long)top, us / jobs, jobs,
           argv[1], ember_master(ctx));
    ember_close(ctx);
    return top == 1995 ? 0 : 1; /* 1,997 by the bytes of int64 */
}
