/* Internal interface of the shuffle layer (src/shuffle). */
#ifndef EMBER_SHUFFLE_H
#define EMBER_SHUFFLE_H

#include "exec/exec.h"

/* The reducer of a key among nparts: xxHash3 with a fixed seed. */
int ember__partition_of(ember_bytes key, int nparts);

/* A hash-shuffle node over parent into parts partitions (its map side runs at
 * the first action that needs it). */
ember_rdd *ember__shuffle_new(ember_rdd *parent, const char *op, int parts);

#endif
