/* Internal interface of the shuffle layer (src/shuffle). */
#ifndef EMBER_SHUFFLE_H
#define EMBER_SHUFFLE_H

#include "exec/exec.h"

/* The reducer of a key among nparts: xxHash3 with a fixed seed. */
int ember__partition_of(ember_bytes key, int nparts);

/* A hash-shuffle node over parent into parts partitions (its map side runs at
 * the first action that needs it); with fn, values are combined by key on both
 * sides (reduce_by_key). */
ember_rdd *ember__shuffle_new(ember_rdd *parent, const char *op, int parts, ember_reduce_fn *fn,
                              void *arg);

/* A byte-key to byte-value table that combines values with a reducer. */
typedef struct ember__kv {
    struct slot *slots;
    size_t cap, len;
    ember_buf arena, tmp;
} ember__kv;

void ember__kv_init(ember__kv *t);
void ember__kv_destroy(ember__kv *t);
/* ember__kv_add's answer to a key or value of 4 GB or more (never fn's code). */
#define EMBER__KV_TOO_BIG (-4998)

/* Insert key with val, or replace its value with fn(old, val). 0, EMBER_ENOMEM,
 * EMBER__KV_TOO_BIG, or fn's failure. */
int ember__kv_combine(ember__kv *t, ember_bytes key, ember_bytes val, ember_reduce_fn *fn,
                      void *arg);
/* As ember__kv_combine; a new key's value is first made a combiner: create(val),
 * or fn(*zero, val), when given. */
int ember__kv_add(ember__kv *t, ember_bytes key, ember_bytes val, ember_reduce_fn *fn,
                  ember_create_fn *create, const ember_bytes *zero, void *arg);
/* Entry after *pos (start at 0) into *rec, borrowed until the next combine: 1, or 0 at the end. */
int ember__kv_next(const ember__kv *t, size_t *pos, ember_rec *rec);

#endif
