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

/* libcurl's allocations are counted but not failed unless asked: libcurl 7.88
 * (Debian 12's) divides by zero in curl_multi_socket_action when one of its
 * hash tables could not be allocated (found by tests/torture/torture.c), so
 * failing them tests libcurl, not ember. */
static atomic_bool fail_curl;

void ember__alloc_fail_curl(bool on)
{
    atomic_store(&fail_curl, on);
}

static bool curl_should_fail(void)
{
    if (atomic_load_explicit(&fail_curl, memory_order_relaxed))
        return should_fail();
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return false;
}

void *ember__curl_malloc(size_t n)
{
    return curl_should_fail() ? NULL : malloc(n ? n : 1);
}

void *ember__curl_calloc(size_t n, size_t size)
{
    return curl_should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *ember__curl_realloc(void *p, size_t n)
{
    return curl_should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *ember__curl_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ember__curl_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
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
 * JSON value, and only when the program has not set one of its own (the
 * library changes no process-wide state the program chose). The seam is malloc
 * and free underneath, so values made before are freed as they should be. */
static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void json_setup(void)
{
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    if (m == malloc && f == free)
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
