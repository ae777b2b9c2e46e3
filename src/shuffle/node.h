/* A shuffle node's state, shared by the files of src/shuffle:
 *
 *   pairs.c        builds the nodes; the table of modes, one a kind of shuffle
 *   map_side.c     the map side: placing, combining, spilling; sampling for
 *                  sort_by_key; the prepare hook that runs it as a stage
 *   exchange.c     map outputs between ranks (distributed runs)
 *   reduce_side.c  the reduce side, from buckets in memory or merged runs
 *
 * A node's partition r reads bucket r of every map task, in map order; once a
 * map task spilled, every bucket is a run and the reduce side merges them.
 */
#ifndef EMBER_SHUFFLE_NODE_H
#define EMBER_SHUFFLE_NODE_H

#include "shuffle/shuffle.h"

typedef struct ember__shuffle ember__shuffle;

/* A kind of shuffle: what its map side does with a record, and what its
 * reduce side gives. */
typedef struct ember__shuffle_mode {
    const char *name;
    /* the map side's sink: where each record goes, combined first or not */
    const ember__sink_ops *map;
    /* the reduce side of partition part, from the buckets in memory */
    int (*read)(ember_rdd *n, int part, ember_out *sink);
    /* the reduce side from merged runs: what one key's records give, each
     * side's values encoded as value records (a combine's one value, as it
     * is, in side[0]). NULL: records go on one by one as the merge gives them. */
    int (*give)(const ember__shuffle *s, ember_bytes key, const ember_bytes side[2], ember_buf *tmp,
                ember_out *sink);
    unsigned flags;
} ember__shuffle_mode;

enum {
    EMBER__SM_ORDERED = 1,  /* runs sorted by key, so a key's records meet in the merge */
    EMBER__SM_COMBINES = 2, /* a key's values merge into one (the node's merge) */
    EMBER__SM_STREAMS = 4,  /* a group too big to hold goes on as a stream */
    EMBER__SM_SORTS = 8     /* the order is the node's comparator, not key bytes */
};

/* joins: which unmatched sides still give records (outer joins) */
enum { EMBER__KEEP_LEFT = 1, EMBER__KEEP_RIGHT = 2 };

struct ember__shuffle {
    const char *op;
    const ember__shuffle_mode *mode;
    /* combining (Spark's combineByKey): a key's first value in a map task
     * becomes a combiner (create, or fn(zero, v), or itself), later ones merge
     * into it with fn; the reduce side merges combiners with merge */
    ember_reduce_fn *fn, *merge;
    ember_create_fn *create;
    ember_buf zero;
    bool has_zero;
    void *arg;
    int keep; /* joins: EMBER__KEEP_LEFT | EMBER__KEEP_RIGHT */
    /* sorting: the order, and the range boundaries found by sampling */
    ember_cmp_fn *cmp;
    void *cmp_arg;
    bool ascending;
    bool ranged;   /* sort_by_key: range partitioned (else hashed) */
    bool int_keys; /* int64 keys (every side's): key k to partition k mod n, as Spark */
    ember_partition_fn *part_fn; /* a caller's partitioner (then neither of the above) */
    void *part_arg;
    ember_buf bounds;   /* the boundary keys, encoded as value records */
    ember_bytes *bound; /* nbounds pointers into bounds */
    int nbounds;
    int nparts;
    /* per side (two for cogroup, the joins, the set operations): nmaps *
     * nparts arenas, kept for later actions */
    int nmaps[2];
    ember_buf *buckets[2];
    /* spilling: each map task's spill file (fd -1: none), whether the runs
     * hold everything (merge on the reduce side), the bytes kept in memory by
     * finished map tasks, and the runs' order (NULL: no order needed) */
    ember__spill_file *files[2];
    bool spilled;
    _Atomic int64_t kept;
    ember__order ord;
    const ember__order *order;
};

/* Map task m's bucket for reducer part, of side side. */
static inline const ember_buf *ember__bucket(const ember__shuffle *s, int side, int m, int part)
{
    return &s->buckets[side][(size_t)m * (size_t)s->nparts + (size_t)part];
}

/* ---------------------------------------------------------------- map_side.c */

/* The map side's sinks, one a way of placing records. */
extern const ember__sink_ops ember__shuffle_by_key, ember__shuffle_by_record, ember__shuffle_spread,
    ember__shuffle_sorting, ember__shuffle_combining, ember__shuffle_distinct;
/* The node's prepare: its map side (after sampling, for sort_by_key), as a
 * stage of each side, exchanged between ranks, spilled as runs if needed. */
int ember__shuffle_prepare(ember_rdd *n, const char *action);
/* Buckets out[0..nparts) as one run of f, sorted by o (NULL: as they are). 0,
 * or a code with why set. */
int ember__shuffle_write_run(ember__spill_file *f, const ember_buf *out, int nparts,
                             const ember__order *o, char *why, size_t whylen);
/* Some map task spilled: the kept buckets become runs too. 0, or the failure
 * with its message on the context. */
int ember__shuffle_to_runs(ember_rdd *n);
/* The map output dropped (a later action runs the map side again). */
void ember__shuffle_drop(ember__shuffle *s);
/* A task's share of the memory budget: half of it over the threads. */
size_t ember__shuffle_share(const ember_ctx *ctx);
/* A combine's failure, named: out of memory, too big, or the function's. */
int ember__combine_failed(ember__task *t, const char *op, int rc);
/* distinct's merge: a record seen again is the same record. */
int ember__keep_first(ember_bytes a, ember_bytes b, ember_buf *res, void *arg);

/* ---------------------------------------------------------------- exchange.c */

/* Distributed: every reducer's share of side's map outputs to the rank that
 * runs it. 0, or the failure with its message on the context. */
int ember__shuffle_exchange(ember_rdd *n, int side);

/* ---------------------------------------------------------------- reduce_side.c */

/* The node's compute: partition part's records, from memory or merged runs. */
int ember__shuffle_compute(ember_rdd *n, int part, ember_out *sink);
/* The modes' readers and what a key's records give. */
int ember__read_pass(ember_rdd *n, int part, ember_out *sink);
int ember__read_combined(ember_rdd *n, int part, ember_out *sink);
int ember__read_groups(ember_rdd *n, int part, ember_out *sink);
int ember__read_sorted(ember_rdd *n, int part, ember_out *sink);
int ember__read_two_sided(ember_rdd *n, int part, ember_out *sink);
#define EMBER__GIVE(name)                                                                          \
    int name(const ember__shuffle *s, ember_bytes key, const ember_bytes side[2], ember_buf *tmp,  \
             ember_out *sink)
EMBER__GIVE(ember__give_value);
EMBER__GIVE(ember__give_record);
EMBER__GIVE(ember__give_group);
EMBER__GIVE(ember__give_cogroup);
EMBER__GIVE(ember__give_joined);
EMBER__GIVE(ember__give_subtracted_by_key);
EMBER__GIVE(ember__give_subtracted);
EMBER__GIVE(ember__give_intersected);

/* The shuffle state of a shuffle node, NULL for any other node. */
ember__shuffle *ember__shuffle_of(const ember_rdd *r);
/* sort_by_key: the partition of key by the sampled boundaries. */
int ember__range_part(const ember__shuffle *s, ember_bytes key);

#endif
