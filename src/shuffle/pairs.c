/* Building shuffles: the pair transformations that move records by key
 * (Spark's PairRDDFunctions), one mode a kind, from the table below. The map
 * side is map_side.c, the reduce side reduce_side.c (node.h). The partitioner
 * is xxHash3 of the key bytes with a fixed seed, the same on every thread,
 * process and machine.
 */
#include <stddef.h>
#include <string.h>

#include "shuffle/node.h"

/* ---------------------------------------------------------------- the modes */

enum {
    M_MOVE,            /* partition_by */
    M_REDUCE,          /* reduce_by_key and the by-key combines */
    M_GROUP,           /* group_by_key */
    M_DISTINCT,        /* the whole record is the key, combined */
    M_COGROUP,         /* both sides' values, by key */
    M_JOIN,            /* and the outer joins */
    M_SUBTRACT_BY_KEY, /* a's records whose key b lacks */
    M_SUBTRACT,        /* whole records: a's that b lacks (a's duplicates kept) */
    M_INTERSECTION,    /* whole records in both, once */
    M_SPREAD,          /* repartition: round-robin, keys not needed */
    M_SORT             /* sort_by_key (range) and repartition_and_sort_within_partitions (hash) */
};

#define ORDERED EMBER__SM_ORDERED
static const ember__shuffle_mode modes[] = {
    [M_MOVE] = {"move", &ember__shuffle_by_key, ember__read_pass, NULL, 0},
    [M_REDUCE] = {"reduce", &ember__shuffle_combining, ember__read_combined, ember__give_value,
                  ORDERED | EMBER__SM_COMBINES},
    [M_GROUP] = {"group", &ember__shuffle_by_key, ember__read_groups, ember__give_value,
                 ORDERED | EMBER__SM_STREAMS},
    [M_DISTINCT] = {"distinct", &ember__shuffle_distinct, ember__read_combined, ember__give_record,
                    ORDERED | EMBER__SM_COMBINES},
    [M_COGROUP] = {"cogroup", &ember__shuffle_by_key, ember__read_two_sided, ember__give_cogroup,
                   ORDERED},
    [M_JOIN] = {"join", &ember__shuffle_by_key, ember__read_two_sided, ember__give_joined, ORDERED},
    [M_SUBTRACT_BY_KEY] = {"subtract_by_key", &ember__shuffle_by_key, ember__read_two_sided,
                           ember__give_subtracted_by_key, ORDERED},
    [M_SUBTRACT] = {"subtract", &ember__shuffle_by_record, ember__read_two_sided,
                    ember__give_subtracted, ORDERED},
    [M_INTERSECTION] = {"intersection", &ember__shuffle_by_record, ember__read_two_sided,
                        ember__give_intersected, ORDERED},
    [M_SPREAD] = {"spread", &ember__shuffle_spread, ember__read_pass, NULL, 0},
    [M_SORT] = {"sort", &ember__shuffle_sorting, ember__read_sorted, NULL,
                ORDERED | EMBER__SM_SORTS},
};
#undef ORDERED

static void shuffle_free(ember_rdd *n)
{
    ember__shuffle *s = n->u.state;
    if (!s)
        return;
    ember_buf_destroy(&s->zero);
    ember_buf_destroy(&s->bounds);
    ember__free(s->bound);
    ember__shuffle_drop(s);
    ember__free(s);
}

int ember__partition_of(ember_bytes key, int nparts)
{
    return (int)(ember__hash(key) % (uint64_t)nparts);
}

/* ---------------------------------------------------------------- building */

static const ember__node_type shuffle_type = {.name = "shuffle",
                                              .flags = EMBER__NT_WIDE,
                                              .compute = ember__shuffle_compute,
                                              .prepare = ember__shuffle_prepare,
                                              .free = shuffle_free};

/* A shuffle node over a (and b, two-sided) in mode, hash partitioned into parts;
 * *src its state, zeroed but for op, mode and nparts. */
static ember_rdd *shuffle_node(ember_rdd *a, ember_rdd *b, const char *op, int parts, int mode,
                               ember__shuffle **src)
{
    ember_rdd *r = ember__rdd_new(a->ctx, &shuffle_type, op, parts, a, b);
    if (ember__rdd_failed(r))
        return r;
    ember__shuffle *s = ember__calloc(1, sizeof *s);
    if (!s) {
        ember_free(r);
        return ember__rdd_error(a->ctx, EMBER_ENOMEM, "%s: out of memory", op);
    }
    *s = (ember__shuffle){.op = op, .mode = &modes[mode], .nparts = parts};
    /* int64 keys on every side: key k to partition k mod parts, as Spark */
    s->int_keys = a->key_kind == EMBER_KIND_I64 && (!b || b->key_kind == EMBER_KIND_I64);
    r->u.state = s;
    r->hash_parts = parts;
    r->int_hash = s->int_keys;
    r->key_kind = a->key_kind == (b ? b->key_kind : a->key_kind) ? a->key_kind : 0;
    if (a->key_rule || (b && b->key_rule))
        r->key_rule = b ? EMBER__KS_BOTH : EMBER__KS_P_KEY;
    *src = s;
    return r;
}

/* A one-parent shuffle in mode; with fn, values are combined by key on both
 * sides. */
static ember_rdd *one_sided(ember_rdd *parent, const char *op, int parts, int mode,
                            ember_reduce_fn *fn, void *arg)
{
    ember__shuffle *s = NULL;
    ember_rdd *r = shuffle_node(parent, NULL, op, parts, mode, &s);
    if (ember__rdd_failed(r))
        return r;
    s->fn = fn;
    s->merge = fn; /* reduce_by_key: the same function on both sides */
    s->arg = arg;
    /* the values' kind where it is certain: records moved as they are, or
     * combined by a reducer of a known kind */
    if (mode == M_MOVE || mode == M_SORT || mode == M_SPREAD || mode == M_DISTINCT) {
        r->kind = parent->kind;
        r->kind_rule = parent->kind_rule ? EMBER__KS_P_VAL : 0;
    } else if (mode == M_REDUCE)
        r->kind = fn == ember_sum_i64 || fn == ember_min_i64 || fn == ember_max_i64 ? EMBER_KIND_I64
                  : fn == ember_sum_f64                                             ? EMBER_KIND_F64
                                                                                    : 0;
    return r;
}

/* ---------------------------------------------------------------- public */

/* The common start of a one-parent shuffle: a usable parent and parts >= 0 (0:
 * the parent's count, set in *parts); otherwise false and *ret to return. */
static bool shuffle_args(ember_rdd *rdd, const char *op, int *parts, ember_rdd **ret)
{
    if (!ember__parent_usable(rdd, op, ret))
        return false;
    if (*parts < 0) {
        *ret = ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: partitions must be > 0 (got %d)", op,
                                *parts);
        return false;
    }
    if (!*parts)
        *parts = rdd->nparts;
    return true;
}

ember_rdd *ember_partition_by(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "partition_by", &parts, &ret))
        return ret;
    if (rdd->hash_parts == parts && !rdd->part_fn &&
        rdd->int_hash == (rdd->key_kind == EMBER_KIND_I64))
        /* already partitioned so: no shuffle, as Spark */
        return rdd;
    return one_sided(rdd, "partition_by", parts, M_MOVE, NULL, NULL);
}

ember_rdd *ember_reduce_by_key(ember_rdd *rdd, ember_reduce_fn *fn, void *arg, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "reduce_by_key", &parts, &ret))
        return ret;
    if (!fn)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "reduce_by_key: the function is NULL");
    return one_sided(rdd, "reduce_by_key", parts, M_REDUCE, fn, arg);
}

ember_rdd *ember_group_by_key(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "group_by_key", &parts, &ret))
        return ret;
    return one_sided(rdd, "group_by_key", parts, M_GROUP, NULL, NULL);
}

ember_rdd *ember_distinct(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "distinct", &parts, &ret))
        return ret;
    ember_rdd *r = one_sided(rdd, "distinct", parts, M_DISTINCT, ember__keep_first, NULL);
    if (!ember__rdd_failed(r))
        r->hash_parts = 0, r->int_hash = false; /* by whole records, not by key */
    return r;
}

/* ---------------------------------------------------------------- two sides */

static ember_rdd *two_sided(ember_rdd *a, ember_rdd *b, const char *op, int parts, int mode,
                            int keep)
{
    ember_rdd *ret;
    if (!ember__parents_usable(a, b, op, &ret))
        return ret;
    if (parts < 0)
        return ember__rdd_error(a->ctx, EMBER_EINVAL, "%s: partitions must be > 0 (got %d)", op,
                                parts);
    if (parts == 0) /* Spark's default: the larger parent's count; a's for the subtracts */
        parts = mode == M_SUBTRACT || mode == M_SUBTRACT_BY_KEY || a->nparts > b->nparts
                    ? a->nparts
                    : b->nparts;
    ember__shuffle *s = NULL;
    ember_rdd *r = shuffle_node(a, b, op, parts, mode, &s);
    if (!ember__rdd_failed(r))
        s->keep = keep;
    return r;
}

ember_rdd *ember_cogroup(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "cogroup", parts, M_COGROUP, 0);
}

ember_rdd *ember_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "join", parts, M_JOIN, 0);
}

ember_rdd *ember_left_outer_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "left_outer_join", parts, M_JOIN, EMBER__KEEP_LEFT);
}

ember_rdd *ember_right_outer_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "right_outer_join", parts, M_JOIN, EMBER__KEEP_RIGHT);
}

ember_rdd *ember_full_outer_join(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "full_outer_join", parts, M_JOIN, EMBER__KEEP_LEFT | EMBER__KEEP_RIGHT);
}

static const unsigned char *get_side(const unsigned char *p, const unsigned char *end,
                                     ember_bytes *v, bool *has)
{
    uint64_t len;
    if (p >= end || *p > 1)
        return NULL;
    *has = *p == 1;
    if (!(p = ember__varint_get(p + 1, end, &len)) || (uint64_t)(end - p) < len)
        return NULL;
    *v = ember_bytes_of(p, (size_t)len);
    return p + len;
}

int ember_join_sides(ember_bytes value, ember_bytes *left, ember_bytes *right)
{
    const unsigned char *p = value.ptr, *end = p ? p + value.len : NULL;
    ember_bytes l = {0}, r = {0};
    bool hl = false, hr = false;
    if (!p || !left || !right)
        return EMBER_EINVAL;
    const unsigned char *q = get_side(p, end, &l, &hl);
    if (!q || !get_side(q, end, &r, &hr))
        return EMBER_EIO;
    *left = hl ? l : ember_bytes_of(NULL, 0);
    *right = hr ? r : ember_bytes_of(NULL, 0);
    return (hl ? 1 : 0) | (hr ? 2 : 0);
}

int ember_cogroup_sides(ember_bytes value, ember_bytes *left, ember_bytes *right)
{
    const unsigned char *p = value.ptr, *end = p ? p + value.len : NULL;
    uint64_t len;
    if (!p || !left || !right)
        return EMBER_EINVAL;
    if (!(p = ember__varint_get(p, end, &len)) || (uint64_t)(end - p) < len)
        return EMBER_EIO;
    *left = ember_bytes_of(p, (size_t)len);
    *right = ember_bytes_of(p + len, (size_t)(end - p - (ptrdiff_t)len));
    return 0;
}

/* The by-key combines: Spark's combineByKey and the two built on it. */
static ember_rdd *combine_by(ember_rdd *rdd, const char *op, ember_create_fn *create,
                             const ember_bytes *zero, ember_reduce_fn *merge_value,
                             ember_reduce_fn *merge_combiners, void *arg, int parts)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, op, &parts, &ret))
        return ret;
    if (!merge_value || !merge_combiners || (zero && zero->len && !zero->ptr))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "%s: a function or the zero is NULL", op);
    ember_rdd *r = one_sided(rdd, op, parts, M_REDUCE, merge_value, arg);
    if (ember__rdd_failed(r))
        return r;
    ember__shuffle *s = r->u.state;
    s->merge = merge_combiners;
    s->create = create;
    if (zero) {
        s->has_zero = true;
        if (ember_buf_set(&s->zero, zero->ptr ? zero->ptr : "", zero->len)) {
            ember_free(r);
            return ember__rdd_error(rdd->ctx, EMBER_ENOMEM, "%s: out of memory", op);
        }
    }
    return r;
}

ember_rdd *ember_combine_by_key(ember_rdd *rdd, ember_create_fn *create,
                                ember_reduce_fn *merge_value, ember_reduce_fn *merge_combiners,
                                void *arg, int parts)
{
    if (!create && rdd && ember__handle_ok(rdd, EMBER__H_RDD))
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "combine_by_key: create is NULL");
    return combine_by(rdd, "combine_by_key", create, NULL, merge_value, merge_combiners, arg,
                      parts);
}

ember_rdd *ember_aggregate_by_key(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *seq,
                                  ember_reduce_fn *comb, void *arg, int parts)
{
    return combine_by(rdd, "aggregate_by_key", NULL, &zero, seq, comb, arg, parts);
}

ember_rdd *ember_fold_by_key(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *fn, void *arg,
                             int parts)
{
    return combine_by(rdd, "fold_by_key", NULL, &zero, fn, fn, arg, parts);
}

ember_rdd *ember_subtract_by_key(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "subtract_by_key", parts, M_SUBTRACT_BY_KEY, 0);
}

ember_rdd *ember_subtract(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "subtract", parts, M_SUBTRACT, 0);
}

ember_rdd *ember_intersection(ember_rdd *a, ember_rdd *b, int parts)
{
    return two_sided(a, b, "intersection", parts, M_INTERSECTION, 0);
}

ember_rdd *ember_repartition(ember_rdd *rdd, int parts)
{
    ember_rdd *ret;
    int asked = parts;
    if (!shuffle_args(rdd, "repartition", &parts, &ret))
        return ret;
    if (!asked) /* no default count here, as Spark */
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL,
                                "repartition: partitions must be > 0 (got 0)");
    ember_rdd *r = one_sided(rdd, "repartition", parts, M_SPREAD, NULL, NULL);
    if (!ember__rdd_failed(r))
        r->hash_parts = 0, r->int_hash = false; /* spread, not partitioned by key */
    return r;
}

ember_rdd *ember_group_by(ember_rdd *rdd, ember_map_fn *fn, void *arg, int parts)
{
    /* Spark's groupBy: key_by then group_by_key; the key_by node lives while the
     * grouped one does */
    ember_rdd *keyed = ember_key_by(rdd, fn, arg);
    if (!keyed)
        return NULL;
    ember_rdd *g = ember_group_by_key(keyed, parts);
    ember_free(keyed);
    return g;
}

/* sort_by_key (range partitioned) and repartition_and_sort_within_partitions
 * (hash partitioned): each output partition sorts its records by key. */
static ember_rdd *sorted_shuffle(ember_rdd *rdd, const char *op, int parts, bool hashed,
                                 bool ascending, ember_cmp_fn *cmp, void *arg)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, op, &parts, &ret))
        return ret;
    ember_rdd *r = one_sided(rdd, op, parts, M_SORT, NULL, NULL);
    if (ember__rdd_failed(r))
        return r;
    ember__shuffle *s = r->u.state;
    s->ranged = !hashed;
    s->cmp = cmp; /* NULL: the keys' order by their kind, learned in the prepare */
    s->cmp_arg = arg;
    s->ascending = ascending;
    /* hashed: partitioned by key as partition_by does; else by range */
    r->hash_parts = hashed ? parts : 0;
    r->int_hash = hashed && s->int_keys;
    return r;
}

ember_rdd *ember_sort_by_key(ember_rdd *rdd, bool ascending, ember_cmp_fn *cmp, void *arg,
                             int parts)
{
    return sorted_shuffle(rdd, "sort_by_key", parts, false, ascending, cmp, arg);
}

ember_rdd *ember_repartition_and_sort_within_partitions(ember_rdd *rdd, int parts, bool ascending,
                                                        ember_cmp_fn *cmp, void *arg)
{
    return sorted_shuffle(rdd, "repartition_and_sort_within_partitions", parts, true, ascending,
                          cmp, arg);
}

ember_rdd *ember_sort_by(ember_rdd *rdd, ember_map_fn *key_fn, void *key_arg, bool ascending,
                         ember_cmp_fn *cmp, void *cmp_arg, int parts)
{
    /* Spark's sortBy: key_by, sort_by_key, values; the inner nodes live while the
     * result does */
    ember_rdd *keyed = ember__key_by_whole(rdd, key_fn, key_arg);
    if (!keyed)
        return NULL;
    ember_rdd *sorted = ember_sort_by_key(keyed, ascending, cmp, cmp_arg, parts);
    ember_free(keyed);
    if (!sorted)
        return NULL;
    ember_rdd *vals = ember__unwrap(sorted, "sort_by"); /* the records as they came in */
    ember_free(sorted);
    if (vals && !ember__rdd_failed(vals)) {
        ember_as_pairs(vals, (ember_kind)rdd->key_kind, (ember_kind)rdd->kind);
        if (rdd->kind_rule || rdd->key_rule) { /* the records' kinds, as rdd learns them */
            vals->kinds_like = rdd;
            vals->kind_rule = rdd->kind_rule ? EMBER__KS_LIKE : 0;
            vals->key_rule = rdd->key_rule ? EMBER__KS_LIKE : 0;
        }
    }
    return vals;
}

/* ---------------------------------------------------------------- caller's partitioners */

ember__shuffle *ember__shuffle_of(const ember_rdd *r)
{
    return r && r->type == &shuffle_type ? r->u.state : NULL;
}

/* the modes that place records by key (not by record, range or round robin) */
static bool by_key(const ember__shuffle *s)
{
    return s->mode != &modes[M_DISTINCT] && s->mode != &modes[M_SPREAD] &&
           s->mode != &modes[M_SUBTRACT] && s->mode != &modes[M_INTERSECTION] && !s->ranged;
}

ember_rdd *ember_with_partitioner(ember_rdd *shuffled, ember_partition_fn *fn, void *arg)
{
    ember_rdd *ret;
    if (!ember__parent_usable(shuffled, "with_partitioner", &ret))
        return ret;
    ember__shuffle *s = ember__shuffle_of(shuffled);
    if (!fn || !s || !by_key(s) || shuffled->prepared)
        return ember__rdd_error(shuffled->ctx, EMBER_EINVAL, "with_partitioner: %s",
                                !fn          ? "the function is NULL"
                                : !s         ? "the rdd is not a shuffle by key"
                                : !by_key(s) ? "the shuffle does not place records by key"
                                             : "the shuffle has run already");
    s->part_fn = fn;
    s->part_arg = arg;
    s->int_keys = false;
    shuffled->part_fn = fn;
    shuffled->part_arg = arg;
    shuffled->int_hash = false;
    return shuffled;
}

ember_rdd *ember_partition_by_fn(ember_rdd *rdd, int parts, ember_partition_fn *fn, void *arg)
{
    ember_rdd *ret;
    if (!shuffle_args(rdd, "partition_by", &parts, &ret))
        return ret;
    if (!fn)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL, "partition_by: the function is NULL");
    if (rdd->hash_parts == parts && rdd->part_fn == fn && rdd->part_arg == arg)
        return rdd; /* already partitioned so: no shuffle, as Spark */
    return ember_with_partitioner(one_sided(rdd, "partition_by", parts, M_MOVE, NULL, NULL), fn,
                                  arg);
}
