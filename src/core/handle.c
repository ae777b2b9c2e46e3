/* The registry of live handles.
 *
 * Every context, rdd, broadcast and accumulator handed to the program is
 * registered here and removed when it is freed or its context closes, so that a
 * stale handle is answered with EMBER_ECTX rather than read after free. One
 * process-wide mutex guards an open-addressing set of pointers; it is taken once
 * per API call, never per record.
 */
#include <stdint.h>

#include "core/core.h"

typedef struct slot {
    const void *p; /* NULL: empty; TOMB: deleted */
    int type;
} slot;

static const char tomb_mark;
#define TOMB ((const void *)&tomb_mark)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static slot *slots;
static size_t cap, used, live; /* used counts live entries and tombstones */

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int rehash(size_t ncap)
{
    slot *ns = ember__calloc(ncap, sizeof *ns);
    if (!ns)
        return EMBER_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < cap; i++) {
        if (!slots[i].p || slots[i].p == TOMB)
            continue;
        size_t j = hash_ptr(slots[i].p) & (ncap - 1);
        while (ns[j].p)
            j = (j + 1) & (ncap - 1);
        ns[j] = slots[i];
        n++;
    }
    ember__free(slots);
    slots = ns;
    cap = ncap;
    used = n;
    return 0;
}

int ember__handle_add(const void *p, int type)
{
    int rc = 0;
    pthread_mutex_lock(&mu);
    if ((used + 1) * 2 > cap) {
        size_t ncap = 256; /* tombstones go; the table grows only with live entries */
        while (ncap < (live + 1) * 4)
            ncap *= 2;
        rc = rehash(ncap);
    }
    if (!rc) {
        size_t j = hash_ptr(p) & (cap - 1);
        while (slots[j].p && slots[j].p != TOMB)
            j = (j + 1) & (cap - 1);
        if (!slots[j].p)
            used++;
        slots[j] = (slot){p, type};
        live++;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

static size_t find(const void *p)
{
    if (!cap)
        return SIZE_MAX;
    for (size_t j = hash_ptr(p) & (cap - 1);; j = (j + 1) & (cap - 1)) {
        if (!slots[j].p)
            return SIZE_MAX;
        if (slots[j].p == p)
            return j;
    }
}

void ember__handle_del(const void *p)
{
    pthread_mutex_lock(&mu);
    size_t j = find(p);
    if (j != SIZE_MAX) {
        slots[j] = (slot){TOMB, 0};
        live--;
    }
    pthread_mutex_unlock(&mu);
}

bool ember__handle_ok(const void *p, int type)
{
    if (!p)
        return false;
    pthread_mutex_lock(&mu);
    size_t j = find(p);
    bool ok = j != SIZE_MAX && slots[j].type == type;
    pthread_mutex_unlock(&mu);
    return ok;
}
