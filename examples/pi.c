/* Monte Carlo π over range: every record of range(0, samples) is one sample.
 * Each partition draws from its own generator, seeded by its index, so the
 * estimate is the same at any parallelism.
 *
 *   pi [SAMPLES] [PARTITIONS]        (master from $EMBER_MASTER, else local[*])
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* xorshift64* seeded through splitmix64: small, fast, good enough for π */
static uint64_t seed_of(uint64_t i)
{
    uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) | 1;
}

static double draw(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545f4914f6cdd1dULL) >> 11) * 0x1.0p-53;
}

/* one output per partition: how many of its samples fell inside the circle */
static int count_hits(ember_iter *in, ember_out *out, int index, void *arg)
{
    (void)arg;
    uint64_t s = seed_of((uint64_t)index);
    int64_t hits = 0;
    ember_rec r;
    int rc;
    while ((rc = ember_iter_next(in, &r)) == 1) {
        double x = draw(&s), y = draw(&s);
        hits += x * x + y * y <= 1.0;
    }
    return rc < 0 ? rc : ember_emit_i64(out, hits);
}

int main(int argc, char **argv)
{
    int64_t samples = argc > 1 ? atoll(argv[1]) : 10000000;
    int parts = argc > 2 ? atoi(argv[2]) : 16;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "pi"})) {
        fprintf(stderr, "pi: %s\n", ember_errmsg(NULL));
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ember_rdd *hits =
        ember_map_partitions(ember_range(ctx, 0, samples, 1, parts), count_hits, NULL);
    int64_t inside = 0;
    int rc = ember_sum_i64_values(hits, &inside);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) {
        fprintf(stderr, "pi: %s\n", ember_errmsg(ctx));
        ember_close(ctx);
        return 1;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("pi is roughly %.6f (%lld samples in %d partitions on %s)\n",
           4.0 * (double)inside / (double)samples, (long long)samples, parts, ember_master(ctx));
    printf("time: %.3f s, %.1f M samples/s\n", secs, (double)samples / secs / 1e6);
    ember_stats_print(ctx, stdout);
    ember_close(ctx);
    return 0;
}
