/* The one seam every allocation of the library goes through.
 *
 * It gives one place for the out-of-memory policy (return EMBER_ENOMEM, never
 * abort), a count for the stats, and fault injection: tests arm
 * ember__alloc_fail_at(k) and check that the k-th allocation failing gives a
 * clean error and no leak. The counters are atomics; no lock.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "core/zmem.h"

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

/* ---------------------------------------------------------------- the seam for libraries */

void *ember__zalloc(void *opaque, unsigned items, unsigned size)
{
    (void)opaque;
    return ember__calloc(items, size);
}

void ember__zfree(void *opaque, void *p)
{
    (void)opaque;
    ember__free(p);
}

static void *zstd_alloc(void *opaque, size_t n)
{
    (void)opaque;
    return ember__malloc(n);
}

static void zstd_free(void *opaque, void *p)
{
    (void)opaque;
    ember__free(p);
}

const ZSTD_customMem ember__zstd_mem = {zstd_alloc, zstd_free, NULL};

static void *json_alloc(size_t n)
{
    return ember__malloc(n);
}

/* jansson's allocator is the process's: set once, before the library's first
 * JSON value. The seam is malloc and free underneath, so values made before
 * (by the program itself) are freed as they should be. */
static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void json_setup(void)
{
    json_set_alloc_funcs(json_alloc, ember__free);
}

void ember__json_alloc_init(void)
{
    pthread_once(&json_once, json_setup);
}

char *ember__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ember__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
