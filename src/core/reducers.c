/* Ready reducers and comparators over 8-byte values and byte strings.
 *
 * Reducers fail with EMBER_EINVAL on a value that is not 8 bytes long, so a
 * mistyped rdd is an error with a partition named, not a silent zero.
 */
#include <string.h>

#include "core/core.h"

static bool both8(ember_bytes a, ember_bytes b)
{
    return a.len == 8 && b.len == 8;
}

int ember_sum_i64(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    (void)arg;
    if (!both8(a, b))
        return EMBER_EINVAL;
    /* Wrap around as Spark's Long does, without C's undefined overflow. */
    return ember_buf_set_i64(res, (int64_t)((uint64_t)ember_i64(a) + (uint64_t)ember_i64(b)));
}

int ember_sum_f64(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    (void)arg;
    if (!both8(a, b))
        return EMBER_EINVAL;
    return ember_buf_set_f64(res, ember_f64(a) + ember_f64(b));
}

int ember_min_i64(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    (void)arg;
    if (!both8(a, b))
        return EMBER_EINVAL;
    int64_t x = ember_i64(a), y = ember_i64(b);
    return ember_buf_set_i64(res, x < y ? x : y);
}

int ember_max_i64(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    (void)arg;
    if (!both8(a, b))
        return EMBER_EINVAL;
    int64_t x = ember_i64(a), y = ember_i64(b);
    return ember_buf_set_i64(res, x > y ? x : y);
}

int ember_cmp_i64(ember_bytes a, ember_bytes b, void *arg)
{
    (void)arg;
    int64_t x = ember_i64(a), y = ember_i64(b);
    return (x > y) - (x < y);
}

/* NaN sorts above every number, as Spark's Double ordering. */
int ember_cmp_f64(ember_bytes a, ember_bytes b, void *arg)
{
    (void)arg;
    double x = ember_f64(a), y = ember_f64(b);
    if (x != x || y != y)
        return (x != x) - (y != y);
    return (x > y) - (x < y);
}

int ember_cmp_bytes(ember_bytes a, ember_bytes b, void *arg)
{
    (void)arg;
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return (a.len > b.len) - (a.len < b.len);
}
