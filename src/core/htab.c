/* A hash table from byte keys to an int64, for counting (count_by_value) and,
 * later, map-side combining.
 *
 * Open addressing with linear probing over xxHash3 with a fixed seed, so a key
 * hashes the same on every thread, process and machine. Entries live in one
 * arena (varint key length, key, 8-byte value): an insert copies the key once and
 * allocates only when the arena or the slot array grows. Not thread-safe: each
 * task owns its table.
 */
#include <string.h>

#include "core/core.h"
#include "core/xxh.h"

#define HTAB_SEED 0x656d626572ULL /* "ember" */

uint64_t ember__hash(ember_bytes b)
{
    return XXH3_64bits_withSeed(b.ptr, b.len, HTAB_SEED);
}

void ember__htab_init(ember__htab *h)
{
    *h = (ember__htab){0};
}

void ember__htab_destroy(ember__htab *h)
{
    ember__free(h->slots);
    ember__free(h->hashes);
    ember_buf_destroy(&h->arena);
    *h = (ember__htab){0};
}

static int entry_at(const ember__htab *h, size_t off, ember_bytes *key, int64_t **val)
{
    const unsigned char *p = h->arena.ptr + off, *end = h->arena.ptr + h->arena.len;
    uint64_t klen;
    p = ember__varint_get(p, end, &klen);
    if (!p)
        return EMBER_EIO;
    *key = ember_bytes_of(p, (size_t)klen);
    *val = (int64_t *)(void *)(p + klen);
    return 0;
}

static int grow(ember__htab *h)
{
    size_t cap = h->cap ? h->cap * 2 : 64;
    size_t *slots = ember__calloc(cap, sizeof *slots);
    uint64_t *hashes = ember__calloc(cap, sizeof *hashes);
    if (!slots || !hashes) {
        ember__free(slots);
        ember__free(hashes);
        return EMBER_ENOMEM;
    }
    for (size_t i = 0; i < h->cap; i++) {
        if (!h->slots[i])
            continue;
        size_t j = (size_t)h->hashes[i] & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = h->slots[i];
        hashes[j] = h->hashes[i];
    }
    ember__free(h->slots);
    ember__free(h->hashes);
    h->slots = slots;
    h->hashes = hashes;
    h->cap = cap;
    return 0;
}

int64_t *ember__htab_upsert(ember__htab *h, ember_bytes key)
{
    if ((h->len + 1) * 4 > h->cap * 3 && grow(h))
        return NULL;
    uint64_t hv = ember__hash(key);
    size_t j = (size_t)hv & (h->cap - 1);
    for (; h->slots[j]; j = (j + 1) & (h->cap - 1)) {
        if (h->hashes[j] != hv)
            continue;
        ember_bytes k = {0};
        int64_t *v = NULL;
        if (entry_at(h, h->slots[j] - 1, &k, &v))
            continue; /* cannot happen: we wrote the arena */
        if (k.len == key.len && (!k.len || !memcmp(k.ptr, key.ptr, k.len)))
            return v;
    }
    /* Values are kept 8-byte aligned: pad the entry's start. */
    size_t hdr = ember__varint_len(key.len);
    size_t pad = (8 - ((h->arena.len + hdr + key.len) & 7)) & 7;
    if (ember__buf_reserve(&h->arena, pad + hdr + key.len + 8))
        return NULL;
    h->arena.len += pad;
    size_t off = h->arena.len;
    unsigned char *p = ember__varint_put(h->arena.ptr + off, key.len);
    if (key.len)
        memcpy(p, key.ptr, key.len);
    memset(p + key.len, 0, 8);
    h->arena.len = off + hdr + key.len + 8;
    h->slots[j] = off + 1;
    h->hashes[j] = hv;
    h->len++;
    return (int64_t *)(void *)(p + key.len);
}

int ember__htab_next(const ember__htab *h, size_t *pos, ember_bytes *key, int64_t *val)
{
    /* Walk the slots rather than the arena: the arena has padding. */
    while (*pos < h->cap) {
        size_t i = (*pos)++;
        if (!h->slots[i])
            continue;
        int64_t *v = NULL;
        if (entry_at(h, h->slots[i] - 1, key, &v))
            continue;
        *val = *v;
        return 1;
    }
    return 0;
}
