/* The tiny job, in process: parallelize_i64 of 1,000 values in 4 partitions ->
 * map x2 -> filter %3 == 0 -> collect. Prints microseconds per job (the mean over
 * JOBS jobs after a warm-up); the harness takes the median of several runs.
 *   bench_tiny MASTER [JOBS]
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
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

static int one_job(ember_ctx *ctx, const int64_t *values)
{
    ember_rdd *src = ember_parallelize_i64(ctx, values, 1000, 4);
    ember_rdd *a = ember_map(src, times_two, NULL);
    ember_rdd *b = ember_map(a, plus_one, NULL);
    ember_rdd *c = ember_filter(b, multiple_of_3, NULL);
    ember_result *res;
    int rc = ember_collect(c, &res);
    if (!rc && ember_result_len(res) != 333)
        rc = -1;
    if (!rc)
        ember_result_free(res);
    ember_free(src);
    ember_free(a);
    ember_free(b);
    ember_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    const char *master = argc > 1 ? argv[1] : "local[*]";
    int jobs = argc > 2 ? atoi(argv[2]) : 20000;
    int64_t values[1000];
    for (int i = 0; i < 1000; i++)
        values[i] = i;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = master})) {
        fprintf(stderr, "bench_tiny: %s\n", ember_errmsg(NULL));
        return 1;
    }
    for (int j = 0; j < jobs / 10; j++) /* warm up */
        one_job(ctx, values);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int j = 0; j < jobs; j++) {
        if (one_job(ctx, values)) {
            fprintf(stderr, "bench_tiny: %s\n", ember_errmsg(ctx));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    printf("%.3f\n", us / jobs);
    ember_close(ctx);
    return 0;
}
