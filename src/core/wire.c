/* The wire format of the library's own messages between ranks: a distributed
 * job's task states and counters, the ranks' agreement on an outcome, the
 * shuffle exchange, accumulator updates. Unsigned varints, zigzag varints for
 * signed values, length-prefixed bytes, raw bytes of a known size.
 *
 * A writer keeps its first failure and a reader its first decode error, after
 * which every get gives 0 or empty bytes: a decoder reads every field and
 * checks once, at the end (docs/records.md).
 */
#include <string.h>

#include "core/core.h"

void ember__wr_u(ember__wr *w, uint64_t v)
{
    if (!w->err && ember__buf_varint(w->b, v))
        w->err = EMBER_ENOMEM;
}

void ember__wr_i(ember__wr *w, int64_t v)
{
    ember__wr_u(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void ember__wr_raw(ember__wr *w, const void *p, size_t n)
{
    if (!w->err && n && ember_buf_append(w->b, p, n))
        w->err = EMBER_ENOMEM;
}

void ember__wr_bytes(ember__wr *w, const void *p, size_t n)
{
    ember__wr_u(w, n);
    ember__wr_raw(w, p, n);
}

uint64_t ember__rd_u(ember__rd *r)
{
    uint64_t v = 0;
    const unsigned char *q = r->err ? NULL : ember__varint_get(r->p, r->end, &v);
    if (!q) {
        r->err = EMBER_EIO;
        return 0;
    }
    r->p = q;
    return v;
}

int64_t ember__rd_i(ember__rd *r)
{
    uint64_t v = ember__rd_u(r);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

ember_bytes ember__rd_raw(ember__rd *r, uint64_t n)
{
    if (r->err || n > (uint64_t)(r->end - r->p)) {
        r->err = EMBER_EIO;
        return ember_bytes_of(NULL, 0);
    }
    ember_bytes b = ember_bytes_of(r->p, (size_t)n);
    r->p += n;
    return b;
}

ember_bytes ember__rd_bytes(ember__rd *r)
{
    return ember__rd_raw(r, ember__rd_u(r));
}

bool ember__rd_fixed(ember__rd *r, void *out, size_t n)
{
    ember_bytes b = ember__rd_bytes(r);
    if (!r->err && b.len != n)
        r->err = EMBER_EIO;
    if (r->err)
        return false;
    if (n)
        memcpy(out, b.ptr, n);
    return true;
}
