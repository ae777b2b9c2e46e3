/* Building the lineage's own kinds: the sources that hold their data
 * (parallelize, range) and the narrow transformations. Each node's type (its
 * compute, prepare and free) is in sched/pipeline.c; nothing here runs a job.
 */
#include <math.h>
#include <string.h>

#include "sched/sched.h"

/* The first item of slice i of n items in parts slices (Spark's positions()). */
static uint64_t slice_start(uint64_t n, int parts, int i)
{
    return (uint64_t)(((unsigned __int128)n * (unsigned)i) / (unsigned)parts);
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

static ember_rdd *source_new(ember_ctx *ctx, const ember__node_type *type, const char *op,
                             const void *items, size_t n, int parts)
{
    if (parts <= 0)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: partitions must be > 0 (got %d)", op,
                                parts);
    if (!items && n)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: items is NULL with n = %zu", op, n);
    return ember__rdd_new(ctx, type, op, parts, NULL, NULL);
}

static ember_rdd *fill_arenas(ember_rdd *r, const ember_rec *recs, const ember_bytes *vals,
                              size_t n)
{
    ember_ctx *ctx = r->ctx;
    r->u.arenas = ember__calloc((size_t)r->nparts, sizeof *r->u.arenas);
    if (!r->u.arenas)
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
            if (ember__arena_put(&r->u.arenas[p], rec))
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
    ember_rdd *r = source_new(ctx, &ember__arena_type, "parallelize", items, n, parts);
    if (!r || ember__rdd_failed(r))
        return r;
    return fill_arenas(r, NULL, items, n);
}

ember_rdd *ember_parallelize_pairs(ember_ctx *ctx, const ember_rec *items, size_t n, int parts)
{
    if (!ctx_usable(ctx, "ember_parallelize_pairs"))
        return NULL;
    ember_rdd *r = source_new(ctx, &ember__arena_type, "parallelize", items, n, parts);
    if (!r || ember__rdd_failed(r))
        return r;
    return fill_arenas(r, items, NULL, n);
}

ember_rdd *ember_parallelize_i64(ember_ctx *ctx, const int64_t *items, size_t n, int parts)
{
    if (!ctx_usable(ctx, "ember_parallelize_i64"))
        return NULL;
    ember_rdd *r = source_new(ctx, &ember__i64_type, "parallelize", items, n, parts);
    if (!r || ember__rdd_failed(r))
        return r;
    r->u.ints.values = ember__malloc(n * sizeof *items);
    if (!r->u.ints.values) {
        ember_free(r);
        return ember__rdd_error(ctx, EMBER_ENOMEM, "ember_parallelize_i64: out of memory");
    }
    if (n)
        memcpy(r->u.ints.values, items, n * sizeof *items);
    r->u.ints.count = n;
    r->kind = EMBER_KIND_I64;
    return r;
}

ember_rdd *ember_range(ember_ctx *ctx, int64_t start, int64_t end, int64_t step, int parts)
{
    if (!ctx_usable(ctx, "ember_range"))
        return NULL;
    if (step == 0)
        return ember__rdd_error(ctx, EMBER_EINVAL, "ember_range: step cannot be 0");
    ember_rdd *r = source_new(ctx, &ember__range_type, "range", "", 0, parts);
    if (!r || ember__rdd_failed(r))
        return r;
    /* Count in 128 bits: start..end may span the whole int64 range. */
    __int128 span = (__int128)end - start, n = 0;
    if ((span > 0 && step > 0) || (span < 0 && step < 0))
        n = (span + step + (step > 0 ? -1 : 1)) / step;
    r->u.ints.start = start;
    r->u.ints.step = step;
    r->u.ints.count = (uint64_t)n;
    r->kind = EMBER_KIND_I64;
    return r;
}

/* ---------------------------------------------------------------- transformations */

static ember_rdd *narrow(ember_rdd *rdd, const ember__node_type *type, const char *op,
                         const void *fn, void *arg, bool needs_fn)
{
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, op, &ret))
        return ret;
    if (needs_fn && !fn)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: the function is NULL", op);
    ember_rdd *r = ember__rdd_new(rdd->ctx, type, op, rdd->nparts, rdd, NULL);
    if (!ember__rdd_failed(r)) {
        memcpy(&r->fn, &fn, sizeof fn);
        r->arg = arg;
        /* keys stay where they were: the partitioner holds (Spark's mapValues,
         * filter, flatMapValues) */
        if (type->flags & EMBER__NT_KEEPS_PARTITIONER) {
            r->hash_parts = rdd->hash_parts;
            r->int_hash = rdd->int_hash;
            r->part_fn = rdd->part_fn;
            r->part_arg = rdd->part_arg;
            r->key_kind = rdd->key_kind;
            r->key_rule = rdd->key_rule ? EMBER__KS_P_KEY : 0;
        }
        /* the kinds that are certain, or learned where the parent learns them
         * (sched/kinds.c); a user function's come from its typed emits */
        if (type == &ember__filter_type || type == &ember__sample_type) {
            ember__kinds_pass(r, rdd);
        } else if (type == &ember__keys_type) {
            r->kind = rdd->key_kind;
            r->kind_rule = rdd->key_rule ? EMBER__KS_P_KEY : 0;
        } else if (type == &ember__values_type) {
            r->kind = rdd->kind;
            r->kind_rule = rdd->kind_rule ? EMBER__KS_P_VAL : 0;
        } else if (type == &ember__key_by_type || type == &ember__key_by_whole_type) {
            /* the value: the record, a pair as its encoding */
            r->kind = rdd->key_kind ? EMBER_KIND_BYTES : rdd->kind;
            r->kind_rule = !rdd->key_kind && !rdd->key_rule && rdd->kind_rule ? EMBER__KS_P_VAL : 0;
            r->key_rule = EMBER__KS_EMITS;
        } else if (type == &ember__zip_index_type || type == &ember__zip_unique_type) {
            r->kind = EMBER_KIND_I64; /* (the record, its index) */
            r->key_kind = rdd->kind;
            r->key_rule = rdd->kind_rule ? EMBER__KS_P_VAL : 0;
        } else if (needs_fn) {
            r->kind_rule = EMBER__KS_EMITS; /* map, flat_map, map_partitions, map_values, … */
        }
    }
    return r;
}

ember_rdd *ember_map(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, &ember__map_type, "map", (const void *)fn, arg, true);
}

ember_rdd *ember_flat_map(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, &ember__flat_map_type, "flat_map", (const void *)fn, arg, true);
}

ember_rdd *ember_filter(ember_rdd *rdd, ember_pred_fn *fn, void *arg)
{
    return narrow(rdd, &ember__filter_type, "filter", (const void *)fn, arg, true);
}

ember_rdd *ember_map_partitions(ember_rdd *rdd, ember_part_fn *fn, void *arg)
{
    return narrow(rdd, &ember__map_partitions_type, "map_partitions", (const void *)fn, arg, true);
}

ember_rdd *ember_map_values(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, &ember__map_values_type, "map_values", (const void *)fn, arg, true);
}

ember_rdd *ember_flat_map_values(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, &ember__flat_map_values_type, "flat_map_values", (const void *)fn, arg,
                  true);
}

ember_rdd *ember_key_by(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, &ember__key_by_type, "key_by", (const void *)fn, arg, true);
}

ember_rdd *ember__key_by_whole(ember_rdd *rdd, ember_map_fn *fn, void *arg)
{
    return narrow(rdd, &ember__key_by_whole_type, "key_by", (const void *)fn, arg, true);
}

ember_rdd *ember__unwrap(ember_rdd *rdd, const char *op)
{
    return narrow(rdd, &ember__unwrap_type, op, NULL, NULL, false);
}

ember_rdd *ember_keys(ember_rdd *rdd)
{
    return narrow(rdd, &ember__keys_type, "keys", NULL, NULL, false);
}

ember_rdd *ember_values(ember_rdd *rdd)
{
    return narrow(rdd, &ember__values_type, "values", NULL, NULL, false);
}

ember_rdd *ember_glom(ember_rdd *rdd)
{
    return narrow(rdd, &ember__glom_type, "glom", NULL, NULL, false);
}

ember_rdd *ember_zip_with_index(ember_rdd *rdd)
{
    return narrow(rdd, &ember__zip_index_type, "zip_with_index", NULL, NULL, false);
}

ember_rdd *ember_zip_with_unique_id(ember_rdd *rdd)
{
    return narrow(rdd, &ember__zip_unique_type, "zip_with_unique_id", NULL, NULL, false);
}

ember_rdd *ember_sample(ember_rdd *rdd, bool with_replacement, double fraction, uint64_t seed)
{
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, "sample", &ret))
        return ret;
    if (!(fraction >= 0.0) || isinf(fraction) || (!with_replacement && fraction > 1.0))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "sample: fraction must be %s (got %g)",
                                with_replacement ? "finite and >= 0" : "in [0, 1]", fraction);
    ember_rdd *r = narrow(rdd, &ember__sample_type, "sample", NULL, NULL, false);
    if (r && !ember__rdd_failed(r)) {
        r->u.sample.with_replacement = with_replacement;
        r->u.sample.fraction = fraction;
        r->u.sample.seed = seed;
    }
    return r;
}

ember_rdd *ember_union(ember_rdd *a, ember_rdd *b)
{
    ember_rdd *ret;
    if (!ember__parents_usable(a, b, "union", &ret))
        return ret;
    if ((long)a->nparts + b->nparts > 1 << 30)
        return ember__rdd_error(a->ctx, EMBER_ERANGE, "union: too many partitions");
    ember_rdd *r = ember__rdd_new(a->ctx, &ember__union_type, "union", a->nparts + b->nparts, a, b);
    if (!ember__rdd_failed(r)) {
        r->kind = a->kind == b->kind ? a->kind : 0;
        r->key_kind = a->key_kind == b->key_kind ? a->key_kind : 0;
        r->kind_rule = a->kind_rule || b->kind_rule ? EMBER__KS_BOTH : 0;
        r->key_rule = a->key_rule || b->key_rule ? EMBER__KS_BOTH : 0;
    }
    return r;
}

ember_rdd *ember_cartesian(ember_rdd *a, ember_rdd *b)
{
    ember_rdd *ret;
    if (!ember__parents_usable(a, b, "cartesian", &ret))
        return ret;
    if ((long long)a->nparts * b->nparts > 1 << 30)
        return ember__rdd_error(a->ctx, EMBER_ERANGE, "cartesian: too many partitions (%d x %d)",
                                a->nparts, b->nparts);
    return ember__rdd_new(a->ctx, &ember__cartesian_type, "cartesian", a->nparts * b->nparts, a, b);
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
    ember_rdd *r = ember__rdd_new(rdd->ctx, &ember__coalesce_type, "coalesce", n, rdd, NULL);
    if (ember__rdd_failed(r))
        return r;
    r->u.group = ember__malloc(((size_t)n + 1) * sizeof *r->u.group);
    if (!r->u.group) {
        ember_free(r);
        return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "coalesce: out of memory");
    }
    for (int i = 0; i <= n; i++)
        r->u.group[i] = (int)slice_start((uint64_t)rdd->nparts, n, i);
    ember__kinds_pass(r, rdd);
    return r;
}

/* ---------------------------------------------------------------- value kinds */

void ember__kinds_pass(ember_rdd *r, const ember_rdd *parent)
{
    r->kind = parent->kind;
    r->key_kind = parent->key_kind;
    r->kind_rule = parent->kind_rule ? EMBER__KS_P_VAL : 0;
    r->key_rule = parent->key_rule ? EMBER__KS_P_KEY : 0;
}

ember_rdd *ember_as_pairs(ember_rdd *rdd, ember_kind keys, ember_kind values)
{
    if (rdd && !ember__rdd_failed(rdd) && keys <= EMBER_KIND_JSON && values <= EMBER_KIND_JSON) {
        rdd->key_kind = (unsigned char)keys;
        rdd->kind = (unsigned char)values;
        rdd->key_rule = rdd->kind_rule = EMBER__KS_FINAL; /* declared: nothing to learn */
        rdd->key_found = rdd->kind_found = 0;
    }
    return rdd;
}

ember_rdd *ember_as_kind(ember_rdd *rdd, ember_kind values)
{
    if (rdd && !ember__rdd_failed(rdd) && values <= EMBER_KIND_JSON) {
        rdd->kind = (unsigned char)values;
        rdd->kind_rule = EMBER__KS_FINAL;
        rdd->kind_found = 0;
    }
    return rdd;
}

ember_rdd *ember_as_i64(ember_rdd *rdd)
{
    return ember_as_kind(rdd, EMBER_KIND_I64);
}

ember_rdd *ember_as_f64(ember_rdd *rdd)
{
    return ember_as_kind(rdd, EMBER_KIND_F64);
}

ember_rdd *ember_as_string(ember_rdd *rdd)
{
    return ember_as_kind(rdd, EMBER_KIND_STRING);
}

ember_rdd *ember_as_json(ember_rdd *rdd)
{
    return ember_as_kind(rdd, EMBER_KIND_JSON);
}

/* A side's kind for the caller: learned when the lineage says how (a job
 * may run); as built when learning fails (the message is on the context). */
static ember_kind side_kind(const ember_rdd *rdd, bool keys, const char *op)
{
    if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD) || ember__rdd_failed(rdd))
        return EMBER_KIND_BYTES;
    int k = keys ? rdd->key_kind : rdd->kind;
    /* the node is the context's: learning what it is changes no result */
    ember_rdd *n = (ember_rdd *)(uintptr_t)rdd;
    int rc = 0;
    if (ember__kind_needs_job(n, keys)) { /* a job of its own, as an action's */
        if (ember__cur_task || ember__action_begin(n, op))
            return (ember_kind)k;
        rc = ember__action_end(n->ctx, ember__kind_for(n, keys, op, &k));
    } else {
        rc = ember__kind_for(n, keys, op, &k);
    }
    return rc ? (ember_kind)(keys ? rdd->key_kind : rdd->kind) : (ember_kind)k;
}

ember_kind ember_value_kind(const ember_rdd *rdd)
{
    return side_kind(rdd, false, "value_kind");
}

ember_kind ember_key_kind(const ember_rdd *rdd)
{
    return side_kind(rdd, true, "key_kind");
}

/* One side of a record as text by its kind. */
static int side_text(ember_buf *out, ember_bytes b, int kind)
{
    char num[48];
    if (kind == EMBER_KIND_I64 && b.len == 8)
        return ember_buf_append(out, num,
                                (size_t)snprintf(num, sizeof num, "%lld", (long long)ember_i64(b)));
    if (kind == EMBER_KIND_F64 && b.len == 8)
        return ember_buf_append(out, num, (size_t)snprintf(num, sizeof num, "%.17g", ember_f64(b)));
    if (kind == EMBER_KIND_STRING || kind == EMBER_KIND_JSON)
        return ember_buf_append(out, b.ptr, b.len);
    int rc = 0;
    const unsigned char *p = b.ptr;
    for (size_t i = 0; i < b.len && !rc; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            rc = ember_buf_append(out, &p[i], 1);
        else
            rc = ember_buf_append(out, num, (size_t)snprintf(num, sizeof num, "\\x%02x", p[i]));
    }
    return rc;
}

int ember_rec_text(const ember_rdd *rdd, ember_rec rec, ember_buf *out)
{
    if (!out)
        return EMBER_EINVAL;
    out->len = 0;
    int vk = rdd ? side_kind(rdd, false, "rec_text") : 0;
    int kk = rdd && rec.key.ptr ? side_kind(rdd, true, "rec_text") : 0;
    if (!rec.key.ptr)
        return side_text(out, rec.val, vk);
    int rc = ember_buf_append(out, "(", 1);
    rc = rc ? rc : side_text(out, rec.key, kk);
    rc = rc ? rc : ember_buf_append(out, ", ", 2);
    rc = rc ? rc : side_text(out, rec.val, vk);
    return rc ? rc : ember_buf_append(out, ")", 1);
}
