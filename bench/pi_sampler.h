/* The π sampler shared by bench_pi.c (through ember) and pi_pthreads.c (plain
 * threads): the same generator, seeding and work per chunk, so the two differ
 * only in what runs the chunks. */
#ifndef EMBER_BENCH_PI_SAMPLER_H
#define EMBER_BENCH_PI_SAMPLER_H

#include <stdint.h>

/* xorshift64*, seeded through splitmix64 by the chunk's index */
static inline uint64_t pi_seed(uint64_t chunk)
{
    uint64_t z = (chunk + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) | 1;
}

static inline double pi_draw(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545f4914f6cdd1dULL) >> 11) * 0x1.0p-53;
}

static inline int pi_hit(uint64_t *s)
{
    double x = pi_draw(s), y = pi_draw(s);
    return x * x + y * y <= 1.0;
}

#endif
