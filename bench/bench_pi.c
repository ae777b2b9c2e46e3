/* π through ember, two ways. Prints samples per second.
 *   records: range(0, samples) in 16 partitions -> map_partitions counting hits
 *            with the partition's sampler, one record per sample -> sum
 *   chunks:  range(0, 16) in 16 partitions, one record per chunk of samples ->
 *            map drawing the chunk's samples -> sum (what the pthreads loop does)
 *   bench_pi MASTER [SAMPLES] [PARTITIONS] [records|chunks]
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pi_sampler.h"

static int count_hits(ember_iter *in, ember_out *out, int index, void *arg)
{
    (void)arg;
    uint64_t s = pi_seed((uint64_t)index);
    int64_t hits = 0;
    ember_rec r;
    int rc;
    while ((rc = ember_iter_next(in, &r)) == 1)
        hits += pi_hit(&s);
    return rc < 0 ? rc : ember_emit_i64(out, hits);
}

typedef struct chunking {
    int64_t samples;
    int chunks;
} chunking;

static int chunk_hits(ember_rec in, ember_out *out, void *arg)
{
    const chunking *c = arg;
    int64_t i = ember_i64(in.val), hits = 0;
    int64_t lo = c->samples * i / c->chunks, hi = c->samples * (i + 1) / c->chunks;
    uint64_t s = pi_seed((uint64_t)i);
    for (int64_t k = lo; k < hi; k++)
        hits += pi_hit(&s);
    return ember_emit_i64(out, hits);
}

int main(int argc, char **argv)
{
    const char *master = argc > 1 ? argv[1] : "local[*]";
    int64_t samples = argc > 2 ? atoll(argv[2]) : 10000000;
    int parts = argc > 3 ? atoi(argv[3]) : 16;
    bool chunks = argc > 4 && !strcmp(argv[4], "chunks");
    chunking c = {samples, parts};
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = master})) {
        fprintf(stderr, "bench_pi: %s\n", ember_errmsg(NULL));
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t hits = 0;
    ember_rdd *rdd =
        chunks ? ember_map(ember_range(ctx, 0, parts, 1, parts), chunk_hits, &c)
               : ember_map_partitions(ember_range(ctx, 0, samples, 1, parts), count_hits, NULL);
    if (ember_sum_i64_values(rdd, &hits)) {
        fprintf(stderr, "bench_pi: %s\n", ember_errmsg(ctx));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.0f\n", (double)samples / secs);
    fprintf(stderr, "pi ~ %.5f\n", 4.0 * (double)hits / (double)samples);
    ember_close(ctx);
    return 0;
}
