/* Lineage nodes: sources and narrow transformations.
 *
 * Building a node runs nothing: it records the operation, its function and its
 * parents. A node lives while the program holds it (until ember_free) or a live
 * child depends on it; ember_close frees whatever is left. A transformation that
 * cannot be built returns an error node, which carries its message to the action
 * that finally runs it (so a chain of calls needs one check, at the end).
 *
 * Nodes are built and freed by the driver thread only; the cache arrays are the
 * one part tasks write, under cache_mu.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* The first item of slice i of n items in parts slices (Spark's positions()). */
static uint64_t slice_start(uint64_t n, int parts, int i)
{
    return (uint64_t)(((unsigned __int128)n * (unsigned)i) / (unsigned)parts);
}

static void node_link(ember_ctx *ctx, ember_rdd *r)
{
    r->next = ctx->nodes;
    if (ctx->nodes)
        ctx->nodes->prev = r;
    ctx->nodes = r;
}

static void node_unlink(ember_rdd *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        r->ctx->nodes = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

void ember__cache_drop(ember_rdd *r)
{
    /* either array may be there without the other (one allocation failed) */
    for (int i = 0; r->cached && i < r->nparts; i++)
        ember_buf_destroy(&r->cached[i]);
    ember__free(r->cached);
    ember__free(r->have);
    r->cached = NULL;
    r->have = NULL;
}

static void node_destroy(ember_rdd *r)
{
    if (r->arenas) {
        for (int i = 0; i < r->nparts; i++)
            ember_buf_destroy(&r->arenas[i]);
        ember__free(r->arenas);
    }
    ember__cache_drop(r);
    if (r->persisted)
        pthread_mutex_destroy(&r->cache_mu);
    if (r->src_free)
        r->src_free(r->src);
    ember__free(r->values);
    ember__free(r->offsets);
    ember__free(r->group);
    ember__free(r->errmsg);
    ember__free(r);
}

/* Free r if nothing holds it, then release its parents the same way. */
static void node_release(ember_rdd *r)
{
    while (r && !r->held && r->children == 0) {
        ember_rdd *p = r->parent, *p2 = r->parent2;
        node_unlink(r);
        node_destroy(r);
        if (p2 && p2 != p) {
            p2->children--;
            node_release(p2);
        } else if (p2) {
            p->children--; /* the same parent twice (union of an rdd with itself) */
        }
        if (p)
            p->children--;
        r = p;
    }
}

int ember__rdd_oom_init(ember_ctx *ctx)
{
    ctx->oom = (ember_rdd){.ctx = ctx,
                           .kind = EMBER__N_ERROR,
                           .op = "error",
                           .id = -1,
                           .held = true,
                           .err = EMBER_ENOMEM};
    return ember__handle_add(&ctx->oom, EMBER__H_RDD);
}

void ember__rdd_oom_destroy(ember_ctx *ctx)
{
    ember__handle_del(&ctx->oom);
}

ember_rdd *ember__rdd_new(ember_ctx *ctx, enum ember__kind kind, const char *op, int nparts,
                          ember_rdd *parent, ember_rdd *parent2)
{
    ember_rdd *r = ember__calloc(1, sizeof *r);
    if (!r || ember__handle_add(r, EMBER__H_RDD)) {
        ember__free(r);
        ember__err(ctx, EMBER_ENOMEM, "%s: out of memory building the rdd", op);
        return &ctx->oom;
    }
    r->ctx = ctx;
    r->kind = kind;
    r->op = op;
    r->id = ctx->next_rdd_id++;
    r->nparts = nparts;
    r->held = true;
    r->parent = parent;
    r->parent2 = parent2;
    if (parent)
        parent->children++;
    if (parent2)
        parent2->children++;
    node_link(ctx, r);
    return r;
}

static ember_rdd *error_node(ember_ctx *ctx, int code, const char *msg)
{
    ember_rdd *r = ember__rdd_new(ctx, EMBER__N_ERROR, "error", 0, NULL, NULL);
    if (r == &ctx->oom)
        return r;
    r->err = code;
    r->errmsg = ember__strdup(msg);
    if (!r->errmsg) {
        ember_free(r);
        return &ctx->oom;
    }
    return r;
}

ember_rdd *ember__rdd_error(ember_ctx *ctx, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ember__err(ctx, code, "%s", msg);
    return error_node(ctx, code, msg);
}

int ember__rdd_check(ember_rdd *rdd, const char *op)
{
    if (!rdd)
        return ember__err(NULL, EMBER_EINVAL, "%s: rdd is NULL", op);
    if (!ember__handle_ok(rdd, EMBER__H_RDD))
        return ember__err(NULL, EMBER_ECTX,
                          "%s: rdd was freed or its context closed (a stale handle)", op);
    if (rdd->kind == EMBER__N_ERROR)
        return ember__err(rdd->ctx, rdd->err, "%s: %s", op,
                          rdd->errmsg ? rdd->errmsg : "out of memory building the lineage");
    return 0;
}

bool ember__parent_usable(ember_rdd *rdd, const char *op, ember_rdd **ret)
{
    *ret = NULL;
    if (ember__cur_task) { /* the lineage belongs to the driver thread */
        ember__err(NULL, EMBER_EINVAL, "%s: rdds are built on the driver, not inside a task", op);
        return false;
    }
    if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD)) {
        ember__rdd_check(rdd, op);
        return false;
    }
    if (rdd->kind == EMBER__N_ERROR) {
        /* carry the first error on, unchanged */
        *ret = rdd == &rdd->ctx->oom ? rdd : error_node(rdd->ctx, rdd->err, rdd->errmsg);
        return false;
    }
    return true;
}

void ember_free(ember_rdd *rdd)
{
    if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD) || rdd == &rdd->ctx->oom)
        return;
    ember__handle_del(rdd);
    rdd->held = false;
    node_release(rdd);
}

void ember__rdd_free_all(ember_ctx *ctx)
{
    while (ctx->nodes) {
        ember_rdd *r = ctx->nodes;
        ctx->nodes = r->next;
        if (r->held)
            ember__handle_del(r);
        node_destroy(r);
    }
}

int ember_num_partitions(ember_rdd *rdd)
{
    int rc = ember__rdd_check(rdd, "ember_num_partitions");
    return rc ? rc : rdd->nparts;
}

/* ---------------------------------------------------------------- sources */

static bool ctx_usable(ember_ctx *ctx, const char *op)
{
    if (ember__cur_task) {
        ember__err(NULL, EMBER_EINVAL, "%s: rdds are built on the driver, not inside a task", op);
        return false;
    }
    if (!ctx) {
        ember__err(NULL, EMBER_EINVAL, "%s: ctx is NULL", op);
        return false;
    }
    if (!ember__handle_ok(ctx, EMBER__H_CTX)) {
        ember__err(NULL, EMBER_ECTX, "%s: the context is closed", op);
        return false;
    }
    return true;
}

static ember_rdd *source_new(ember_ctx *ctx, enum ember__kind kind, const char *op,
                             const void *items, size_t n, int parts)
{
    if (parts <= 0)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: partitions must be > 0 (got %d)", op,
                                parts);
    if (!items && n)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: items is NULL with n = %zu", op, n);
    return ember__rdd_new(ctx, kind, op, parts, NULL, NULL);
}

static ember_rdd *fill_arenas(ember_rdd *r, const ember_rec *recs, const ember_bytes *vals,
                              size_t n)
{
    ember_ctx *ctx = r->ctx;
    r->arenas = ember__calloc((size_t)r->nparts, sizeof *r->arenas);
    if (!r->arenas)
        goto out_nomem;
    for (int p = 0; p < r->nparts; p++) {
        uint64_t lo = slice_start(n, r->nparts, p), hi = slice_start(n, r->nparts, p + 1);
        for (uint64_t i = lo; i < hi; i++) {
            ember_rec rec = recs ? recs[i] : (ember_rec){.val = vals[i]};
            if ((rec.val.len && !rec.val.ptr) || (rec.key.len && !rec.key.ptr)) {
                ember_free(r);
                return ember__rdd_error(ctx, EMBER_EINVAL,
                                        "ember_parallelize: item %llu has a NULL pointer with "
                                        "length > 0",
                                        (unsigned long long)i);
            }
            if (ember__arena_put(&r->arenas[p], rec))
                goto out_nomem;
        }
    }
    return r;
out_nomem:
    ember_free(r);
    return ember__rdd_error(ctx, EMBER_ENOMEM, "ember_parallelize: out of memory copying %zu items",
                            n);
}

ember_rdd *ember_parallelize(ember_ctx *ctx, const ember_bytes *items, size_t n, int parts)
{
    if (!ctx_usable(ctx, "ember_parallelize"))
        return NULL;
    ember_rdd *r = source_new(ctx, EMBER__N_ARENA, "parallelize", items, n, parts);
    if (!r || r->kind == EMBER__N_ERROR)
        return r;
    return fill_arenas(r, NULL, items, n);
}

ember_rdd *ember_parallelize_pairs(ember_ctx *ctx, const ember_rec *items, size_t n, int parts)
{
    if (!ctx_usable(ctx, "ember_parallelize_pairs"))
        return NULL;
    ember_rdd *r = source_new(ctx, EMBER__N_ARENA, "parallelize", items, n, parts);
    if (!r || r->kind == EMBER__N_ERROR)
        return r;
    return fill_arenas(r, items, NULL, n);
}

ember_rdd *ember_parallelize_i64(ember_ctx *ctx, const int64_t *items, size_t n, int parts)
{
    if (!ctx_usable(ctx, "ember_parallelize_i64"))
        return NULL;
    ember_rdd *r = source_new(ctx, EMBER__N_I64, "parallelize", items, n, parts);
    if (!r || r->kind == EMBER__N_ERROR)
        return r;
    r->values = ember__malloc(n * sizeof *items);
    if (!r->values) {
        ember_free(r);
        return ember__rdd_error(ctx, EMBER_ENOMEM, "ember_parallelize_i64: out of memory");
    }
    if (n)
        memcpy(r->values, items, n * sizeof *items);
    r->count = n;
    return r;
}

ember_rdd *ember_range(ember_ctx *ctx, int64_t start, int64_t end, int64_t step, int parts)
{
    if (!ctx_usable(ctx, "ember_range"))
        return NULL;
    if (step == 0)
        return ember__rdd_error(ctx, EMBER_EINVAL, "ember_range: step cannot be 0");
    ember_rdd *r = source_new(ctx, EMBER__N_RANGE, "range", "", 0, parts);
    if (!r || r->kind == EMBER__N_ERROR)
        return r;
    /* Count in 128 bits: start..end may span the whole int64 range. */
    __int128 span = (__int128)end - start, n = 0;
    if ((span > 0 && step > 0) || (span < 0 && step < 0))
        n = (span + step + (step > 0 ? -1 : 1)) / step;
    r->start = start;
    r->step = step;
    r->count = (uint64_t)n;
    return r;
}

/* ---------------------------------------------------------------- transformations */

static ember_rdd *narrow(ember_rdd *rdd, enum ember__kind kind, const char *op, const void *fn,
                         void *arg, bool needs_fn)
{
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, op, &ret))
        return ret;
    if (needs_fn && !fn)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: the function is NULL", op);
    ember_rdd *r = ember__rdd_new(rdd->ctx, kind, op, rdd->nparts, rdd, NULL);
    if (r->kind != EMBER__N_ERROR) {
        memcpy(&r->fn, &fn, sizeof fn);
        r->arg = arg;
        /* keys stay where they were: the partitioner holds (Spark's mapValues,
         * filter, flatMapValues) */
        if (kind == EMBER__N_MAP_VALUES || kind == EMBER__N_FLAT_MAP_VALUES ||
            kind == EMBER__N_FILTER)
            r->hash_parts = rdd->hash_parts;
    }
    return r;
}

ember_rdd *ember_map(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, EMBER__N_MAP, "map", (const void *)fn, arg, true);
}

ember_rdd *ember_flat_map(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, EMBER__N_FLAT_MAP, "flat_map", (const void *)fn, arg, true);
}

ember_rdd *ember_filter(ember_rdd *rdd, ember_pred_fn *fn, void *arg)
{
    return narrow(rdd, EMBER__N_FILTER, "filter", (const void *)fn, arg, true);
}

ember_rdd *ember_map_partitions(ember_rdd *rdd, ember_part_fn *fn, void *arg)
{
    return narrow(rdd, EMBER__N_MAP_PARTITIONS, "map_partitions", (const void *)fn, arg, true);
}

ember_rdd *ember_map_values(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, EMBER__N_MAP_VALUES, "map_values", (const void *)fn, arg, true);
}

ember_rdd *ember_flat_map_values(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, EMBER__N_FLAT_MAP_VALUES, "flat_map_values", (const void *)fn, arg, true);
}

ember_rdd *ember_key_by(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, EMBER__N_KEY_BY, "key_by", (const void *)fn, arg, true);
}

ember_rdd *ember_keys(ember_rdd *rdd)
{
    return narrow(rdd, EMBER__N_KEYS, "keys", NULL, NULL, false);
}

ember_rdd *ember_values(ember_rdd *rdd)
{
    return narrow(rdd, EMBER__N_VALUES, "values", NULL, NULL, false);
}

ember_rdd *ember_glom(ember_rdd *rdd)
{
    return narrow(rdd, EMBER__N_GLOM, "glom", NULL, NULL, false);
}

ember_rdd *ember_zip_with_index(ember_rdd *rdd)
{
    return narrow(rdd, EMBER__N_ZIP_INDEX, "zip_with_index", NULL, NULL, false);
}

ember_rdd *ember_zip_with_unique_id(ember_rdd *rdd)
{
    return narrow(rdd, EMBER__N_ZIP_UNIQUE, "zip_with_unique_id", NULL, NULL, false);
}

ember_rdd *ember_sample(ember_rdd *rdd, bool with_replacement, double fraction, uint64_t seed)
{
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, "sample", &ret))
        return ret;
    if (!(fraction >= 0.0) || isinf(fraction) || (!with_replacement && fraction > 1.0))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "sample: fraction must be %s (got %g)",
                                with_replacement ? "finite and >= 0" : "in [0, 1]", fraction);
    ember_rdd *r = narrow(rdd, EMBER__N_SAMPLE, "sample", NULL, NULL, false);
    if (r && r->kind != EMBER__N_ERROR) {
        r->with_replacement = with_replacement;
        r->fraction = fraction;
        r->seed = seed;
    }
    return r;
}

ember_rdd *ember_union(ember_rdd *a, ember_rdd *b)
{
    ember_rdd *ret;
    if (!ember__parent_usable(a, "union", &ret))
        return ret;
    int rc = ember__rdd_check(b, "union");
    if (rc == EMBER_EINVAL || rc == EMBER_ECTX) /* NULL or stale: the message is the thread's */
        return ember__rdd_error(a->ctx, rc, "%s", ember_errmsg(NULL));
    if (b->ctx != a->ctx)
        return ember__rdd_error(a->ctx, EMBER_ECTX,
                                "union: the two rdds belong to different contexts");
    if (rc) /* b carries an error of its own: pass it on */
        return error_node(a->ctx, b->err, b->errmsg ? b->errmsg : "out of memory");
    if ((long)a->nparts + b->nparts > 1 << 30)
        return ember__rdd_error(a->ctx, EMBER_ERANGE, "union: too many partitions");
    return ember__rdd_new(a->ctx, EMBER__N_UNION, "union", a->nparts + b->nparts, a, b);
}

ember_rdd *ember_cartesian(ember_rdd *a, ember_rdd *b)
{
    ember_rdd *ret;
    if (!ember__parent_usable(a, "cartesian", &ret))
        return ret;
    int rc = ember__rdd_check(b, "cartesian");
    if (rc == EMBER_EINVAL || rc == EMBER_ECTX)
        return ember__rdd_error(a->ctx, rc, "%s", ember_errmsg(NULL));
    if (b->ctx != a->ctx)
        return ember__rdd_error(a->ctx, EMBER_ECTX,
                                "cartesian: the two rdds belong to different contexts");
    if (rc)
        return error_node(a->ctx, b->err, b->errmsg ? b->errmsg : "out of memory");
    if ((long long)a->nparts * b->nparts > 1 << 30)
        return ember__rdd_error(a->ctx, EMBER_ERANGE, "cartesian: too many partitions (%d x %d)",
                                a->nparts, b->nparts);
    return ember__rdd_new(a->ctx, EMBER__N_CARTESIAN, "cartesian", a->nparts * b->nparts, a, b);
}

ember_rdd *ember_coalesce(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, "coalesce", &ret))
        return ret;
    if (parts <= 0)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "coalesce: partitions must be > 0 (got %d)",
                                parts);
    int n = parts < rdd->nparts ? parts : rdd->nparts;
    ember_rdd *r = ember__rdd_new(rdd->ctx, EMBER__N_COALESCE, "coalesce", n, rdd, NULL);
    if (r->kind == EMBER__N_ERROR)
        return r;
    r->group = ember__malloc(((size_t)n + 1) * sizeof *r->group);
    if (!r->group) {
        ember_free(r);
        return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "coalesce: out of memory");
    }
    for (int i = 0; i <= n; i++)
        r->group[i] = (int)slice_start((uint64_t)rdd->nparts, n, i);
    return r;
}

ember_rdd *ember_persist(ember_rdd *rdd, ember_storage level)
{
    if (ember__rdd_check(rdd, "persist"))
        return rdd && ember__handle_ok(rdd, EMBER__H_RDD) ? rdd : NULL;
    if (level != EMBER_MEMORY_ONLY) {
        ember__err(rdd->ctx, EMBER_ENOTSUP, "persist: storage level %d is not supported",
                   (int)level);
        return rdd;
    }
    if (!rdd->persisted) {
        pthread_mutex_init(&rdd->cache_mu, NULL);
        rdd->persisted = true;
    }
    rdd->cache_on = true;
    return rdd;
}

ember_rdd *ember_cache(ember_rdd *rdd)
{
    return ember_persist(rdd, EMBER_MEMORY_ONLY);
}

int ember_unpersist(ember_rdd *rdd)
{
    int rc = ember__rdd_check(rdd, "unpersist");
    if (rc)
        return rc;
    if (rdd->persisted) {
        pthread_mutex_lock(&rdd->cache_mu);
        rdd->cache_on = false;
        ember__cache_drop(rdd);
        pthread_mutex_unlock(&rdd->cache_mu);
    }
    return 0;
}
