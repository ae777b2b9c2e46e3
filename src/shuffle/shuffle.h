/* Internal interface of the shuffle layer (src/shuffle). */
#ifndef EMBER_SHUFFLE_H
#define EMBER_SHUFFLE_H

#include "sched/sched.h"

/* The reducer of a key among nparts: xxHash3 with a fixed seed. */
int ember__partition_of(ember_bytes key, int nparts);
/* ... of an int64 key: k mod nparts, never negative (Spark's and PySpark's
 * placement of int keys); other lengths as ember__partition_of. */
static inline int ember__partition_of_int(ember_bytes key, int nparts)
{
    if (key.len != 8)
        return ember__partition_of(key, nparts);
    int64_t k;
    memcpy(&k, key.ptr, 8);
    int64_t r = k % nparts;
    return (int)(r < 0 ? r + nparts : r);
}
static inline int ember__partition_for(bool int_keys, ember_bytes key, int nparts)
{
    return int_keys ? ember__partition_of_int(key, nparts) : ember__partition_of(key, nparts);
}

/* A byte-key to byte-value table that combines values with a reducer. */
typedef struct ember__kv {
    struct slot *slots;
    size_t cap, len;
    ember_buf arena, tmp;
} ember__kv;

void ember__kv_init(ember__kv *t);
void ember__kv_destroy(ember__kv *t);
/* The memory the table holds. */
size_t ember__kv_bytes(const ember__kv *t);
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
/* As ember__kv_add, with h = ember__hash(key) already known. */
int ember__kv_add_hashed(ember__kv *t, uint64_t h, ember_bytes key, ember_bytes val,
                         ember_reduce_fn *fn, ember_create_fn *create, const ember_bytes *zero,
                         void *arg);
/* Start loading the slot where a key of hash h is looked for first: a caller
 * with many keys hashes ahead, so the table's cache misses overlap. */
void ember__kv_prefetch(const ember__kv *t, uint64_t h);
/* Entry after *pos (start at 0) into *rec, borrowed until the next combine: 1, or 0 at the end. */
int ember__kv_next(const ember__kv *t, size_t *pos, ember_rec *rec);

/* ---------------------------------------------------------------- spilling (spill.c) */

/* A map task's spill file (nameless: unlinked when made) and its runs' index. */
typedef struct ember__spill_file {
    int fd; /* -1: none */
    uint64_t size;
    int nruns, nparts, part;
    uint64_t *offs; /* nruns rows of nparts + 1 segment offsets */
    /* while writing */
    unsigned char *stage, *zbuf;
    size_t staged;
    struct ZSTD_CCtx_s *zc;
} ember__spill_file;

/* The file, made in dir (created if missing). 0, or a code with why set. */
int ember__spill_open(ember__spill_file *f, const char *dir, char *why, size_t whylen);
void ember__spill_close(ember__spill_file *f);
/* A run: run_begin, then for each reducer in turn its records (run_rec, or
 * encoded bytes with run_bytes) and run_part_end. run_done drops the buffers. */
int ember__run_begin(ember__spill_file *f, int nparts);
int ember__run_rec(ember__spill_file *f, ember_rec r, char *why, size_t whylen);
int ember__run_bytes(ember__spill_file *f, const void *p, size_t n, char *why, size_t whylen);
int ember__run_part_end(ember__spill_file *f, char *why, size_t whylen);
void ember__run_done(ember__spill_file *f);

/* An order of keys: cmp times sign, or (cmp NULL) bytes as memcmp, shorter first. */
typedef struct ember__order {
    ember_cmp_fn *cmp;
    void *arg;
    int sign;
} ember__order;
int ember__order_cmp(const ember__order *o, ember_bytes a, ember_bytes b);
/* Sort records of one buffer by key, ties in buffer order. */
void ember__sort_recs(ember_rec *recs, size_t n, const ember__order *o);
/* Sort records by key (glibc's qsort_r keeps ties in place when it can). */
void ember__sort_by_key(ember_rec *recs, size_t n, const ember__order *o);

/* A reader of one segment [off, end) of a spill file. */
typedef struct ember__run_reader {
    int fd;
    uint64_t pos, end;
    unsigned char *in;        /* one compressed block */
    struct ZSTD_DCtx_s *dctx; /* made at the first compressed block */
    ember_buf win;            /* decompressed, from at on unread */
    size_t at;
    int64_t bytes; /* read from the file */
} ember__run_reader;
int ember__reader_open(ember__run_reader *r, int fd, uint64_t off, uint64_t end);
/* 1 with *rec (valid until the next call), 0 at the end, EMBER_EIO, EMBER_ENOMEM. */
int ember__reader_next(ember__run_reader *r, ember_rec *rec);
void ember__reader_close(ember__run_reader *r);

/* A k-way merge of readers by o (ties: the lower reader first); o NULL: the
 * readers one after the other. */
typedef struct ember__merge {
    ember__run_reader *r;
    int n, nheap, pending;
    int *heap;
    ember_rec *cur;
    const ember__order *o;
} ember__merge;
int ember__merge_start(ember__merge *m, ember__run_reader *readers, int n, const ember__order *o);
/* The next record (valid until the next peek or next) and its reader: 1, 0 at the end, or a code.
 */
int ember__merge_next(ember__merge *m, ember_rec *rec, int *run);
/* The record next would give, without taking it. */
int ember__merge_peek(ember__merge *m, const ember_rec **rec, int *run);
void ember__merge_end(ember__merge *m);

#endif
