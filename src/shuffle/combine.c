/* A table from byte keys to byte values, for combining by key (map side and
 * reduce side of reduce_by_key).
 *
 * Open addressing over xxHash3 (fixed seed). Short keys and values live in the
 * slot, longer ones in one arena; a combined value of the same length overwrites
 * the old one in place, so a sum over many records does not grow the table; a
 * longer value of another length is appended (the old bytes are left behind).
 * Not thread-safe: each task has its own.
 */
#include <string.h>

#include "shuffle/shuffle.h"

/* A key of up to 16 bytes and a value of up to 8 live in the slot itself, so
 * finding and combining a short word's count touches one cache line, not the
 * slot and then the arena. */
enum { KEY_IN = 16, VAL_IN = 8 };
#define EMPTY UINT32_MAX

typedef struct slot {
    uint64_t hash;
    uint32_t klen, vlen; /* klen EMPTY: an empty slot */
    union {
        unsigned char in[KEY_IN];
        size_t off;
    } k;
    union {
        unsigned char in[VAL_IN];
        size_t off;
    } v;
} slot;

static inline const unsigned char *key_of(const ember__kv *t, const slot *s)
{
    return s->klen <= KEY_IN ? s->k.in : t->arena.ptr + s->k.off;
}

static inline unsigned char *val_of(const ember__kv *t, slot *s)
{
    return s->vlen <= VAL_IN ? s->v.in : t->arena.ptr + s->v.off;
}

void ember__kv_init(ember__kv *t)
{
    *t = (ember__kv){0};
}

size_t ember__kv_bytes(const ember__kv *t)
{
    return t->cap * sizeof(slot) + t->arena.cap + t->tmp.cap;
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
        s[i].klen = EMPTY;
    slot *old = t->slots;
    for (size_t i = 0; i < t->cap; i++) {
        if (old[i].klen == EMPTY)
            continue;
        size_t j = (size_t)old[i].hash & (cap - 1);
        while (s[j].klen != EMPTY)
            j = (j + 1) & (cap - 1);
        s[j] = old[i];
    }
    ember__free(old);
    t->slots = s;
    t->cap = cap;
    return 0;
}

/* v becomes sl's value: in the slot, in place in the arena when the length is
 * the same, or appended to the arena (the old bytes are left behind) */
static int put_value(ember__kv *t, slot *sl, ember_bytes v, bool fresh)
{
    if (v.len <= VAL_IN || (!fresh && v.len == sl->vlen)) {
        sl->vlen = (uint32_t)v.len;
        if (v.len)
            memcpy(val_of(t, sl), v.ptr, v.len);
        return 0;
    }
    size_t off = t->arena.len;
    if (ember_buf_append(&t->arena, v.ptr, v.len))
        return EMBER_ENOMEM;
    sl->v.off = off;
    sl->vlen = (uint32_t)v.len;
    return 0;
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

int ember__kv_combine(ember__kv *t, ember_bytes key, ember_bytes val, ember_reduce_fn *fn,
                      void *arg)
{
    return ember__kv_add(t, key, val, fn, NULL, NULL, arg);
}

int ember__kv_add(ember__kv *t, ember_bytes key, ember_bytes val, ember_reduce_fn *fn,
                  ember_create_fn *create, const ember_bytes *zero, void *arg)
{
    return ember__kv_add_hashed(t, ember__hash(key), key, val, fn, create, zero, arg);
}

void ember__kv_prefetch(const ember__kv *t, uint64_t h)
{
    if (t->cap)
        __builtin_prefetch(&t->slots[(size_t)h & (t->cap - 1)]);
}

int ember__kv_add_hashed(ember__kv *t, uint64_t h, ember_bytes key, ember_bytes val,
                         ember_reduce_fn *fn, ember_create_fn *create, const ember_bytes *zero,
                         void *arg)
{
    if (key.len >= EMPTY || val.len >= EMPTY)
        return EMBER__KV_TOO_BIG;
    if ((t->len + 1) * 4 > t->cap * 3 && grow(t))
        return EMBER_ENOMEM;
    slot *s = t->slots;
    size_t j = (size_t)h & (t->cap - 1);
    for (; s[j].klen != EMPTY; j = (j + 1) & (t->cap - 1)) {
        if (s[j].hash != h || s[j].klen != key.len || !same_key(key_of(t, &s[j]), key.ptr, key.len))
            continue;
        if (fn == ember_sum_i64 && s[j].vlen == 8 && val.len == 8) {
            /* a count's add, in the slot (wrapping as ember_sum_i64 does) */
            uint64_t a, b;
            memcpy(&a, s[j].v.in, 8);
            memcpy(&b, val.ptr, 8);
            a += b;
            memcpy(s[j].v.in, &a, 8);
            return 0;
        }
        /* combine: fn(old, new) into tmp, then store */
        t->tmp.len = 0;
        int rc = fn(ember_bytes_of(val_of(t, &s[j]), s[j].vlen), val, &t->tmp, arg);
        if (rc)
            return rc;
        if (ember_buf_bytes(&t->tmp).len >= EMPTY)
            return EMBER__KV_TOO_BIG;
        return put_value(t, &s[j], ember_buf_bytes(&t->tmp), false);
    }
    if (create || zero) { /* the key's first value becomes its combiner */
        t->tmp.len = 0;
        int rc = create ? create(val, &t->tmp, arg) : fn(*zero, val, &t->tmp, arg);
        if (rc)
            return rc;
        val = ember_buf_bytes(&t->tmp);
        if (val.len >= EMPTY)
            return EMBER__KV_TOO_BIG;
    }
    slot fresh = {.hash = h, .klen = (uint32_t)key.len};
    if (key.len <= KEY_IN) {
        if (key.len)
            memcpy(fresh.k.in, key.ptr, key.len);
    } else {
        fresh.k.off = t->arena.len;
        if (ember_buf_append(&t->arena, key.ptr, key.len))
            return EMBER_ENOMEM;
    }
    if (put_value(t, &fresh, val, true))
        return EMBER_ENOMEM;
    s[j] = fresh;
    t->len++;
    return 0;
}

int ember__kv_next(const ember__kv *t, size_t *pos, ember_rec *rec)
{
    while (*pos < t->cap) {
        slot *sl = &t->slots[(*pos)++];
        if (sl->klen == EMPTY)
            continue;
        ember__rec_set(rec, key_of(t, sl), sl->klen, val_of(t, sl), sl->vlen);
        return 1;
    }
    return 0;
}
