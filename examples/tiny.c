/* The low-latency job: 1,000 numbers in 4 partitions, map twice, keep the
 * multiples of 3, collect. Prints the result's size and the mean time per job
 * after a warm-up of a tenth as many jobs (bench/run.sh takes the median of runs).
 * With max, the job ends in max instead, whose default order needs the values'
 * kind: learned from the maps' typed emits (a small stage a job, the rdds being
 * new each time), or with max-declared declared by ember_as_i64 (bench/run_kinds.sh).
 *
 *   tiny [JOBS] [collect|max|max-declared]  (master from $EMBER_MASTER, else local[*])
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
    int jobs = argc > 1 ? atoi(argv[1]) : 1000;
    if (jobs < 1)
        jobs = 1;
    const char *action = argc > 2 ? argv[2] : "collect";
    bool max = !strncmp(action, "max", 3), declared = !strcmp(action, "max-declared");
    int64_t values[1000];
    for (int i = 0; i < 1000; i++)
        values[i] = i;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "tiny"})) {
        fprintf(stderr, "tiny: %s\n", ember_errmsg(NULL));
        return 1;
    }
    size_t kept = 0;
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
        ember_result *res = NULL;
        ember_buf top;
        ember_buf_init(&top);
        if (max ? ember_max(rdd, NULL, NULL, &top) : ember_collect(rdd, &res)) {
            fprintf(stderr, "tiny: %s\n", ember_errmsg(ctx));
            ember_close(ctx);
            return 1;
        }
        /* max: the largest kept, 1,995 (1,997 were the values ordered by their bytes) */
        kept = max ? (size_t)ember_i64(ember_buf_bytes(&top)) : ember_result_len(res);
        ember_buf_destroy(&top);
        ember_result_free(res);
        ember_free(src); /* drop our holds: the chain goes with the last */
        ember_free(doubled);
        ember_free(odd);
        ember_free(rdd);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3);
    printf(max ? "max %zu; " : "kept %zu of 1000; ", kept);
    printf("%.2f us per job over %d jobs on %s\n", us / jobs, jobs, ember_master(ctx));
    ember_close(ctx);
    return 0;
}
