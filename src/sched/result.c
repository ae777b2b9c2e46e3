/* Results of actions: the records, owned by the caller.
 *
 * A collected result keeps the tasks' arenas as they are, with the offset of
 * every record that each task wrote down as it appended it, so gathering a job's
 * output is no work per record on the driver: ember_result_at() finds the
 * partition by binary search over the running counts and decodes the record in
 * place. Immutable once built: any number of threads may read one.
 */
#include <string.h>

#include "sched/sched.h"

struct ember_result {
    size_t n; /* records visible: at most the sum of the partitions' */
    int nparts;
    ember_buf *arenas;
    ember_buf *offs; /* size_t offsets into each arena */
    size_t *start;   /* nparts + 1 running counts */
};

size_t ember_result_len(const ember_result *res)
{
    return res ? res->n : 0;
}

ember_rec ember_result_at(const ember_result *res, size_t i)
{
    ember_rec r = {0};
    if (!res || i >= res->n)
        return r;
    int lo = 0, hi = res->nparts; /* the last partition starting at or before i */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (res->start[mid] <= i)
            lo = mid;
        else
            hi = mid;
    }
    const ember_buf *a = &res->arenas[lo];
    size_t off = ((const size_t *)(const void *)res->offs[lo].ptr)[i - res->start[lo]];
    const unsigned char *p = a->ptr ? a->ptr + off : a->ptr,
                        *end = a->ptr ? a->ptr + a->len : a->ptr;
    if (p[0] == 0 && end - p >= 2 && p[1] < 0x80 && end - p - 2 >= p[1])
        ember__rec_set(&r, NULL, 0, p + 2, p[1]); /* no key, a short value */
    else if (ember__rec_next(&p, end, &r) != 1)
        r = (ember_rec){0}; /* cannot happen: we wrote the arena */
    return r;
}

void ember_result_free(ember_result *res)
{
    if (!res)
        return;
    for (int i = 0; i < res->nparts; i++) {
        ember_buf_destroy(&res->arenas[i]);
        ember_buf_destroy(&res->offs[i]);
    }
    ember__free(res->arenas);
    ember__free(res->offs);
    ember__free(res->start);
    ember__free(res);
}

int ember__result_take(ember_buf *arenas, ember_buf *offs, int nparts, size_t limit,
                       ember_result **out)
{
    ember_result *res = ember__calloc(1, sizeof *res);
    size_t *start = ember__malloc(((size_t)nparts + 1) * sizeof *start);
    if (!res || !start) {
        ember__free(res);
        ember__free(start);
        return EMBER_ENOMEM;
    }
    start[0] = 0;
    for (int i = 0; i < nparts; i++)
        start[i + 1] = start[i] + offs[i].len / sizeof(size_t);
    *res =
        (ember_result){start[nparts] < limit ? start[nparts] : limit, nparts, arenas, offs, start};
    *out = res;
    return 0;
}

int ember__result_copy(const ember_rec *recs, size_t n, ember_result **out)
{
    ember_buf *arena = ember__calloc(1, sizeof *arena);
    ember_buf *offs = ember__calloc(1, sizeof *offs);
    int rc = arena && offs ? 0 : EMBER_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t off = arena->len;
        rc = ember__arena_put(arena, recs[i]);
        if (!rc)
            rc = ember_buf_append(offs, &off, sizeof off);
    }
    if (!rc)
        rc = ember__result_take(arena, offs, 1, n, out);
    if (rc) {
        if (arena)
            ember_buf_destroy(arena);
        if (offs)
            ember_buf_destroy(offs);
        ember__free(arena);
        ember__free(offs);
    }
    return rc;
}
