/* The one seam every allocation of the library goes through.
 *
 * It gives one place for the out-of-memory policy (return EMBER_ENOMEM, never
 * abort), a count for the stats, and fault injection: tests arm
 * ember__alloc_fail_at(k) and check that the k-th allocation failing gives a
 * clean error and no leak. The counters are atomics; no lock.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static atomic_long alloc_count;
static atomic_long fail_at; /* allocations left before the one that fails; 0: off */

static bool should_fail(void)
{
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    long k = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (k <= 0)
        return false;
    k = atomic_fetch_sub_explicit(&fail_at, 1, memory_order_relaxed);
    return k == 1;
}

void ember__alloc_fail_at(long k)
{
    atomic_store(&fail_at, k);
}

long ember__alloc_count(void)
{
    return atomic_load(&alloc_count);
}

void *ember__malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *ember__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *ember__realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void ember__free(void *p)
{
    free(p);
}

char *ember__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ember__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
