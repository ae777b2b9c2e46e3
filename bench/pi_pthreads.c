/* π with plain pthreads: the same 16 chunks and sampler as bench_pi, claimed by
 * THREADS threads from an atomic counter. Prints samples per second.
 *   pi_pthreads THREADS [SAMPLES] [CHUNKS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pi_sampler.h"

static int64_t samples;
static int chunks;
static atomic_int next_chunk;
static atomic_llong total_hits;

static void *worker(void *arg)
{
    (void)arg;
    int c;
    while ((c = atomic_fetch_add(&next_chunk, 1)) < chunks) {
        int64_t lo = samples * c / chunks, hi = samples * (c + 1) / chunks, hits = 0;
        uint64_t s = pi_seed((uint64_t)c);
        for (int64_t i = lo; i < hi; i++)
            hits += pi_hit(&s);
        atomic_fetch_add(&total_hits, hits);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    samples = argc > 2 ? atoll(argv[2]) : 10000000;
    chunks = argc > 3 ? atoi(argv[3]) : 16;
    pthread_t t[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.0f\n", (double)samples / secs);
    fprintf(stderr, "pi ~ %.5f\n", 4.0 * (double)atomic_load(&total_hits) / (double)samples);
    return 0;
}
