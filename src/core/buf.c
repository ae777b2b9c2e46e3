/* Growable buffers and the record encoding of partition arenas.
 *
 * A partition is one buffer of records back to back, each encoded as
 * varint(key length + 1, or 0 when there is no key), the key, varint(value
 * length), the value (docs/records.md). Decoding hands out pointers into the
 * buffer: no copy and no allocation per record.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void ember_buf_init(ember_buf *buf)
{
    if (buf)
        *buf = (ember_buf){0};
}

void ember_buf_destroy(ember_buf *buf)
{
    if (!buf)
        return;
    ember__free(buf->ptr);
    *buf = (ember_buf){0};
}

int ember__buf_reserve(ember_buf *buf, size_t extra)
{
    if (buf->cap - buf->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - buf->len)
        return EMBER_ENOMEM;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap - buf->len < extra)
        cap *= 2;
    unsigned char *p = ember__realloc(buf->ptr, cap);
    if (!p)
        return EMBER_ENOMEM;
    buf->ptr = p;
    buf->cap = cap;
    return 0;
}

int ember_buf_set(ember_buf *buf, const void *ptr, size_t len)
{
    if (!buf || (!ptr && len))
        return EMBER_EINVAL;
    if (len > buf->cap) {
        size_t old = buf->len;
        buf->len = 0;
        int rc = ember__buf_reserve(buf, len);
        if (rc) {
            buf->len = old;
            return rc;
        }
    }
    if (len)
        memmove(buf->ptr, ptr, len);
    buf->len = len;
    return 0;
}

int ember_buf_set_i64(ember_buf *buf, int64_t v)
{
    return ember_buf_set(buf, &v, sizeof v);
}

int ember_buf_set_f64(ember_buf *buf, double v)
{
    return ember_buf_set(buf, &v, sizeof v);
}

int ember_buf_append(ember_buf *buf, const void *ptr, size_t len)
{
    if (!buf || (!ptr && len))
        return EMBER_EINVAL;
    int rc = ember__buf_reserve(buf, len);
    if (rc)
        return rc;
    if (len)
        memcpy(buf->ptr + buf->len, ptr, len);
    buf->len += len;
    return 0;
}

int ember__arena_put(ember_buf *arena, ember_rec r)
{
    size_t need = ember__rec_size(r);
    if (arena->cap - arena->len < need && ember__buf_reserve(arena, need))
        return EMBER_ENOMEM;
    unsigned char *p = arena->ptr + arena->len;
    if (r.key.ptr) {
        p = ember__varint_put(p, (uint64_t)r.key.len + 1);
        if (r.key.len)
            memcpy(p, r.key.ptr, r.key.len);
        p += r.key.len;
    } else {
        *p++ = 0;
    }
    p = ember__varint_put(p, r.val.len);
    if (r.val.len)
        memcpy(p, r.val.ptr, r.val.len);
    arena->len += need;
    return 0;
}

int ember__rec_next(const unsigned char **pos, const unsigned char *end, ember_rec *r)
{
    const unsigned char *p = *pos, *kp = NULL;
    if (p >= end)
        return 0;
    uint64_t k, v;
    if (*p < 0x80) {
        k = *p++;
    } else if (!(p = ember__varint_get(p, end, &k))) {
        return EMBER_EIO;
    }
    if (k) {
        if ((uint64_t)(end - p) < k - 1)
            return EMBER_EIO;
        kp = p;
        p += k - 1;
    }
    if (p < end && *p < 0x80) {
        v = *p++;
    } else if (!(p = ember__varint_get(p, end, &v))) {
        return EMBER_EIO;
    }
    if ((uint64_t)(end - p) < v)
        return EMBER_EIO;
    ember__rec_set(r, kp, k ? (size_t)(k - 1) : 0, p, (size_t)v);
    *pos = p + v;
    return 1;
}

_Thread_local ember__stream *ember__cur_stream;

void ember_iter_init(ember_iter *it, ember_bytes partition)
{
    if (!it)
        return;
    ember__stream *s = ember__cur_stream;
    if (s && partition.ptr == s->mark && partition.len == sizeof s->mark) {
        *it = (ember_iter){.kind_ = EMBER__ITER_STREAM, .pos_ = (const unsigned char *)s};
        return;
    }
    *it = (ember_iter){.kind_ = EMBER__ITER_ARENA};
    it->pos_ = partition.ptr;
    it->end_ = it->pos_ ? it->pos_ + partition.len : NULL;
}

void ember__iter_values(ember_iter *it, const int64_t *vals, int64_t start, int64_t step,
                        uint64_t n)
{
    /* cur_ is one step before the first value: ember_iter_next steps, then reads */
    *it = (ember_iter){.kind_ = EMBER__ITER_VALUES,
                       .vals_ = vals,
                       .step_ = step,
                       .cur_ = (int64_t)((uint64_t)start - (uint64_t)step),
                       .left_ = n,
                       .count_ = n};
}

int ember_iter_next_encoded(ember_iter *it, ember_rec *rec)
{
    if (!it || !rec)
        return EMBER_EINVAL;
    if (it->kind_ == EMBER__ITER_STREAM) {
        ember__stream *s = (ember__stream *)(uintptr_t)it->pos_;
        return s == ember__cur_stream ? s->next(s, rec) : EMBER_EIO;
    }
    if (it->kind_ != EMBER__ITER_ARENA)
        return EMBER_EINVAL;
    return it->pos_ ? ember__rec_next(&it->pos_, it->end_, rec) : 0;
}

int ember__json_str(ember_buf *o, ember_bytes b)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = b.ptr, *end = p ? p + b.len : p;
    if (ember__buf_reserve(o, b.len + 2))
        return EMBER_ENOMEM;
    int rc = ember_buf_append(o, "\"", 1);
    while (!rc && p < end) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run && (rc = ember_buf_append(o, run, (size_t)(p - run))))
            break;
        if (p == end)
            break;
        unsigned c = *p;
        if (c < 0x80) {
            char esc[7] = {'\\', (char)c, 0};
            size_t n = 2;
            if (c == '\n')
                esc[1] = 'n';
            else if (c == '\r')
                esc[1] = 'r';
            else if (c == '\t')
                esc[1] = 't';
            else if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                n = 6;
            }
            rc = ember_buf_append(o, esc, n);
            p++;
            continue;
        }
        /* a UTF-8 sequence, checked (no overlongs, no surrogates) */
        size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        bool good = n && n <= (size_t)(end - p) && c <= 0xf4;
        for (size_t k = 1; good && k < n; k++)
            good = (p[k] & 0xc0) == 0x80;
        if (good && n == 3)
            good = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
        if (good && n == 4)
            good = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
        if (good) {
            rc = ember_buf_append(o, p, n);
            p += n;
        } else {
            rc = ember_buf_append(o, "\xef\xbf\xbd", 3);
            p++;
        }
    }
    return rc ? rc : ember_buf_append(o, "\"", 1);
}
