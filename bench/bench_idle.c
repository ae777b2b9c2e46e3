/* What a rank that waits costs: under mpirun -n 2, partition 1 (rank 1) works
 * for 2 s while partition 0 (rank 0) has nothing to do. Prints rank 0's CPU
 * seconds over the job: a backend that spins would use about 2. */
#include <ember/ember.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int work_in_partition_1(ember_iter *in, ember_out *out, int index, void *arg)
{
    (void)arg;
    ember_rec r;
    while (ember_iter_next(in, &r) == 1)
        ;
    if (index == 1) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < 2.0);
    }
    return ember_emit_i64(out, index);
}

int main(void)
{
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = "mpi[1]"})) {
        fprintf(stderr, "bench_idle: %s\n", ember_errmsg(NULL));
        return 1;
    }
    double c0 = cpu_now();
    int64_t n;
    int rc = ember_count(
        ember_map_partitions(ember_range(ctx, 0, 2, 1, 2), work_in_partition_1, NULL), &n);
    double used = cpu_now() - c0;
    if (!rc && ember_rank(ctx) == 0)
        printf("%.3f\n", used);
    ember_close(ctx);
    return rc ? 1 : 0;
}
