/* A table from byte keys to byte values, for combining by key (map side and
 * reduce side of reduce_by_key).
 *
 * Open addressing over xxHash3 (fixed seed). Keys and values live in one arena;
 * a combined value of the same length overwrites the old one in place, so a sum
 * over many records does not grow the table; a value of another length is
 * appended (the old bytes are left behind). Not thread-safe: each task has its
 * own.
 */
#include <string.h>

#include "shuffle/shuffle.h"

typedef struct slot {
    uint64_t hash;
    size_t koff, klen, voff, vlen; /* koff == SIZE_MAX: empty */
} slot;

void ember__kv_init(ember__kv *t)
{
    *t = (ember__kv){0};
}

void ember__kv_destroy(ember__kv *t)
{
    ember__free(t->slots);
    ember_buf_destroy(&t->arena);
    ember_buf_destroy(&t->tmp);
    *t = (ember__kv){0};
}

static int grow(ember__kv *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    slot *s = ember__malloc(cap * sizeof *s);
    if (!s)
        return EMBER_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        s[i].koff = SIZE_MAX;
    slot *old = t->slots;
    for (size_t i = 0; i < t->cap; i++) {
        if (old[i].koff == SIZE_MAX)
            continue;
        size_t j = (size_t)old[i].hash & (cap - 1);
        while (s[j].koff != SIZE_MAX)
            j = (j + 1) & (cap - 1);
        s[j] = old[i];
    }
    ember__free(old);
    t->slots = s;
    t->cap = cap;
    return 0;
}

static int put_value(ember__kv *t, slot *sl, ember_bytes v)
{
    if (v.len == sl->vlen) { /* in place */
        if (v.len)
            memcpy(t->arena.ptr + sl->voff, v.ptr, v.len);
        return 0;
    }
    size_t off = t->arena.len;
    if (ember_buf_append(&t->arena, v.ptr ? v.ptr : "", v.len))
        return EMBER_ENOMEM;
    sl->voff = off;
    sl->vlen = v.len;
    return 0;
}

int ember__kv_combine(ember__kv *t, ember_bytes key, ember_bytes val, ember_reduce_fn *fn,
                      void *arg)
{
    return ember__kv_add(t, key, val, fn, NULL, NULL, arg);
}

/* most keys are short words: compared inline, not through a memcmp call */
static inline bool same_key(const void *x, const void *y, size_t n)
{
    const unsigned char *a = x, *b = y;
    if (n > 32)
        return !memcmp(a, b, n);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

int ember__kv_add(ember__kv *t, ember_bytes key, ember_bytes val, ember_reduce_fn *fn,
                  ember_create_fn *create, const ember_bytes *zero, void *arg)
{
    if ((t->len + 1) * 4 > t->cap * 3 && grow(t))
        return EMBER_ENOMEM;
    uint64_t h = ember__hash(key);
    slot *s = t->slots;
    size_t j = (size_t)h & (t->cap - 1);
    for (; s[j].koff != SIZE_MAX; j = (j + 1) & (t->cap - 1)) {
        if (s[j].hash != h || s[j].klen != key.len ||
            !same_key(t->arena.ptr + s[j].koff, key.ptr, key.len))
            continue;
        /* combine: fn(old, new) into tmp, then store */
        t->tmp.len = 0;
        int rc = fn(ember_bytes_of(t->arena.ptr + s[j].voff, s[j].vlen), val, &t->tmp, arg);
        if (rc)
            return rc;
        return put_value(t, &s[j], ember_buf_bytes(&t->tmp));
    }
    if (create || zero) { /* the key's first value becomes its combiner */
        t->tmp.len = 0;
        int rc = create ? create(val, &t->tmp, arg) : fn(*zero, val, &t->tmp, arg);
        if (rc)
            return rc;
        val = ember_buf_bytes(&t->tmp);
    }
    size_t koff = t->arena.len, voff = koff + key.len;
    if (ember_buf_append(&t->arena, key.ptr ? key.ptr : "", key.len) ||
        ember_buf_append(&t->arena, val.ptr ? val.ptr : "", val.len))
        return EMBER_ENOMEM;
    s[j] = (slot){h, koff, key.len, voff, val.len};
    t->len++;
    return 0;
}

int ember__kv_next(const ember__kv *t, size_t *pos, ember_rec *rec)
{
    const slot *s = t->slots;
    while (*pos < t->cap) {
        const slot *sl = &s[(*pos)++];
        if (sl->koff == SIZE_MAX)
            continue;
        ember__rec_set(rec, t->arena.ptr + sl->koff, sl->klen, t->arena.ptr + sl->voff, sl->vlen);
        return 1;
    }
    return 0;
}
