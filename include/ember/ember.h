/* ember — Spark's RDD model as a C library.
 *
 * A context owns everything created from it. Transformations are lazy: they
 * build a lineage and run nothing. An action cuts the lineage into tasks, one
 * per partition, runs them on the context's executor and returns 0 or a
 * negative EMBER_E* code; ember_errmsg() then says what happened in words.
 *
 * Threads: a context is driven from one thread at a time (the driver). User
 * functions run on the executor's threads, the driver's among them, each call
 * on one task's thread; a function that touches shared state must lock it.
 *
 * Records are bytes: a value, or a key and a value, each a byte string. A
 * record handed to a user function is borrowed for the duration of the call.
 */
#ifndef EMBER_EMBER_H
#define EMBER_EMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ember/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EMBER_BUILDING)
#define EMBER_EXTERN __attribute__((visibility("default")))
#else
#define EMBER_EXTERN
#endif

#define EMBER_VERSION_MAJOR 0
#define EMBER_VERSION_MINOR 1
#define EMBER_VERSION_PATCH 0
#define EMBER_VERSION_STRING "0.1.0"

/* Opaque handles, owned by the library. */
typedef struct ember_ctx ember_ctx;
typedef struct ember_rdd ember_rdd;
typedef struct ember_out ember_out;
typedef struct ember_result ember_result;
typedef struct ember_broadcast ember_broadcast;
typedef struct ember_accumulator ember_accumulator;

/* ---------------------------------------------------------------- context */

/* Settings for ember_open(). Zero every field, then set what you need. */
typedef struct ember_conf {
    /* "local" (1 thread, 1 attempt), "local[N]", "local[*]" (one thread per core),
     * "local[N,F]" (F attempts per task); "process[N]", "process[*]",
     * "process[N,F]": N worker processes, where a crash costs one attempt of
     * one task (4 attempts by default, as Spark's cluster default); "mpi",
     * "mpi[N]", "mpi[N,F]" (Open MPI ranks); NULL: $EMBER_MASTER, else
     * "local[*]". */
    const char *master;
    const char *app_name; /* shown in the stats; NULL: "ember" */
    int max_failures;     /* attempts per task; 0: the master's (Spark: 1, or F) */
    /* Bytes of shuffle buffers, all tasks together, before map tasks spill sorted
     * runs to spill_dir and the reduce side merges them; 0: $EMBER_MEMORY_BUDGET
     * (bytes, or with k, m, g), else a quarter of the machine's memory. */
    size_t memory_budget;
    /* Where spill files go (made if missing; each is unlinked as soon as it is
     * made, so none outlives the process); NULL: $TMPDIR, else /tmp. */
    const char *spill_dir;
    /* What a user sees of the application (docs/ui.md). Zero means "not set":
     * the environment decides, else the default. */
    /* The event log: every event as a JSON line (Spark's event log) written to
     * this path, replaced if it exists; a path ending in .zstd (or .zst) is
     * written as zstd frames. A directory (or a path ending in '/', made if
     * missing) holds a log an application, as Spark's spark.eventLog.dir:
     * ID.zstd, named ID.zstd.inprogress until the application ends, never
     * replacing one (docs/ui.md). NULL: $EMBER_EVENT_LOG, else none. */
    const char *event_log;
    /* The web UI and Spark's REST API on 127.0.0.1 (never another address):
     * a port, or -1 for 4040 and up (4041, ... when taken, as Spark); 0:
     * $EMBER_UI_PORT (the same values, 0 off), else no web UI. The URL is
     * printed once on stderr; ember_ui_port() tells the port. */
    int ui_port;
    /* Spark's progress bar on stderr: 1 on (even when stderr is not a
     * terminal), -1 off; 0: $EMBER_PROGRESS (1 on, 0 off), else on when
     * stderr is a terminal. */
    int progress;
    /* 1: save_as_* replace an existing output directory; 0: that is an error. */
    int overwrite;
    /* 1: read a directory of part files with _temporary and no _SUCCESS (a
     * save whose commit did not finish: another tool's, or an older ember's);
     * 0: $EMBER_READ_UNFINISHED=1 turns it on, else reading one is an error
     * naming it. */
    int read_unfinished;
    /* 1: time every user-function call and print the stats at ember_close();
     * -1: off; 0: $EMBER_STATS=1 turns it on. Timing costs two clock reads a call. */
    int stats;
    /* process[N]: an attempt running longer than this many seconds is killed
     * and fails (0: $EMBER_TASK_TIMEOUT, else no limit); a worker's address
     * space is limited to worker_memory bytes (0: $EMBER_WORKER_MEMORY, as
     * 512m or 2g, else no limit). */
    double task_timeout;
    size_t worker_memory;
    /* What a sink does with a record it cannot take (enum ember_on_bad):
     * ember_save_to_db's row that does not fit its columns fails the task (0),
     * is skipped and counted (EMBER_BAD_SKIP), or is written to
     * bad_dir/db-part-NNNNN (EMBER_BAD_DIVERT). process[N]: with
     * EMBER_BAD_DIVERT a record that crashed its worker on two attempts is
     * written to bad_dir/poison-part-NNNNN with the signal named, and the task
     * goes on without it; else the task fails as any other. */
    int bad_records;
    const char *bad_dir;
} ember_conf;

/* Whether master parses and this build runs it, as ember_open would judge
 * it (without opening anything): 0, or EMBER_EMASTER / EMBER_ENOTSUP with
 * ember_errmsg(NULL) the message ember_open would give. */
EMBER_EXTERN int ember_master_check(const char *master);

/* Opens a context. On success *ctx is a new context, owned by the caller until
 * ember_close(). On failure *ctx is NULL and the message is ember_errmsg(NULL).
 * Returns 0, EMBER_EINVAL (NULL argument), EMBER_EMASTER, EMBER_ENOTSUP (a backend
 * not built, or MPI's module, libember-mpi.so beside libember.so, or MPI itself not
 * loadable), EMBER_EIO (MPI does not start), EMBER_ENOMEM, or -errno from thread
 * creation. */
EMBER_EXTERN int ember_open(ember_ctx **ctx, const ember_conf *conf);

/* Closes a context: frees every rdd, result-less object and thread it owns, and
 * prints the stats to stderr when they are on. Results of actions (ember_result)
 * stay valid. NULL is fine. */
EMBER_EXTERN void ember_close(ember_ctx *ctx);

/* The last error on ctx in words; with ctx NULL, the last error of this thread
 * that had no context (ember_open, NULL handles). Borrowed: valid until the next
 * call on ctx from this thread. Never NULL. */
EMBER_EXTERN const char *ember_errmsg(const ember_ctx *ctx);

/* The name of an error code ("invalid argument"). Static storage. */
EMBER_EXTERN const char *ember_strerror(int code);

/* Cancel the action running on ctx, from any thread or from a signal handler
 * (async-signal-safe: it only stores to an atomic flag). Tasks stop at their
 * next record; tasks not yet started do not start; blocking calls already made
 * (map_concurrent) are waited for, and ember_http waits up to its grace period
 * for the requests in flight. The action then fails with EMBER_ECANCELED ("...
 * cancelled"), no task is retried, and the context stays usable. A cancel that
 * comes when no action runs cancels the next one to start (so a signal that
 * arrives between two actions is not lost). NULL is fine. */
EMBER_EXTERN void ember_cancel(ember_ctx *ctx);
/* True while a cancel is pending on ctx (from ember_cancel, not yet reported
 * by a failed action). */
EMBER_EXTERN int ember_cancelled(const ember_ctx *ctx);

/* Tasks run at once (threads of the executor); 0 for NULL. */
EMBER_EXTERN int ember_parallelism(const ember_ctx *ctx);
/* The attempts a task gets before its action fails. */
EMBER_EXTERN int ember_max_failures(const ember_ctx *ctx);
/* This process's rank and the number of ranks: 0 and 1 outside MPI. */
EMBER_EXTERN int ember_rank(const ember_ctx *ctx);
EMBER_EXTERN int ember_ranks(const ember_ctx *ctx);
/* True on the one rank that prints and writes results (rank 0). */
EMBER_EXTERN int ember_is_driver(const ember_ctx *ctx);
/* The master string after defaults, e.g. "local[2]". Borrowed until close. */
EMBER_EXTERN const char *ember_master(const ember_ctx *ctx);

/* ---------------------------------------------------------------- records */

/* A byte string. Borrowed unless a call says otherwise. */
typedef struct ember_bytes {
    const void *ptr;
    size_t len;
} ember_bytes;

/* A record: key.ptr == NULL means no key. */
typedef struct ember_rec {
    ember_bytes key, val;
} ember_rec;

/* A growable buffer in caller storage: ember_buf_init() before use,
 * ember_buf_destroy() after. Reducers write their result into one. */
typedef struct ember_buf {
    unsigned char *ptr;
    size_t len, cap;
} ember_buf;

/* An iterator over a partition's records (map_partitions, foreach_partition,
 * the value of a glom record). Caller storage; fields are private. */
typedef struct ember_iter {
    const unsigned char *pos_, *end_; /* encoded records */
    const int64_t *vals_;             /* or int64 values made on the fly */
    int64_t cur_, step_;
    uint64_t left_, count_;
    int kind_;
} ember_iter;

static inline ember_bytes ember_bytes_of(const void *ptr, size_t len)
{
    ember_bytes b = {ptr, len};
    return b;
}

/* The bytes of a C string, without its terminating NUL. */
static inline ember_bytes ember_str(const char *s)
{
    return ember_bytes_of(s, s ? strlen(s) : 0);
}

/* The int64 stored in 8 bytes (native byte order); 0 when b is not 8 bytes long. */
static inline int64_t ember_i64(ember_bytes b)
{
    int64_t v = 0;
    if (b.len == sizeof v)
        memcpy(&v, b.ptr, sizeof v);
    return v;
}

/* The double stored in 8 bytes; 0.0 when b is not 8 bytes long. */
static inline double ember_f64(ember_bytes b)
{
    double v = 0.0;
    if (b.len == sizeof v)
        memcpy(&v, b.ptr, sizeof v);
    return v;
}

/* Emitters: hand a record to the next step of the pipeline. The bytes are
 * copied (or consumed) before the call returns. Return 0, or a negative code
 * that the user function should return as it is (EMBER_ENOMEM; or the
 * pipeline's request to stop early, which is not an error for the task). */
EMBER_EXTERN int ember_emit(ember_out *out, ember_bytes val);
EMBER_EXTERN int ember_emit_pair(ember_out *out, ember_bytes key, ember_bytes val);
EMBER_EXTERN int ember_emit_rec(ember_out *out, ember_rec rec);
EMBER_EXTERN int ember_emit_i64(ember_out *out, int64_t v);
EMBER_EXTERN int ember_emit_f64(ember_out *out, double v);
EMBER_EXTERN int ember_emit_str(ember_out *out, const char *s);
EMBER_EXTERN int ember_emit_pair_i64(ember_out *out, ember_bytes key, int64_t v);
EMBER_EXTERN int ember_emit_pair_f64(ember_out *out, ember_bytes key, double v);

EMBER_EXTERN void ember_buf_init(ember_buf *buf);
EMBER_EXTERN void ember_buf_destroy(ember_buf *buf);
/* Replace the contents. Return 0 or EMBER_ENOMEM (the old contents stay). */
EMBER_EXTERN int ember_buf_set(ember_buf *buf, const void *ptr, size_t len);
EMBER_EXTERN int ember_buf_set_i64(ember_buf *buf, int64_t v);
EMBER_EXTERN int ember_buf_set_f64(ember_buf *buf, double v);
EMBER_EXTERN int ember_buf_append(ember_buf *buf, const void *ptr, size_t len);
static inline ember_bytes ember_buf_bytes(const ember_buf *buf)
{
    return ember_bytes_of(buf->ptr, buf->len);
}

/* Iterate the records of an encoded partition (the value of a glom record). */
EMBER_EXTERN void ember_iter_init(ember_iter *it, ember_bytes partition);
EMBER_EXTERN int ember_iter_next_encoded(ember_iter *it, ember_rec *rec);

/* Next record into *rec (borrowed until the next call or until the iterator's data
 * goes away). Returns 1 with a record, 0 at the end, EMBER_EIO on malformed bytes.
 * Inline: int64 sources hand out their values without a call. */
static inline int ember_iter_next(ember_iter *it, ember_rec *rec)
{
    if (it && it->kind_ == 1 && rec) { /* int64 values: a range or an array */
        if (!it->left_)
            return 0;
        it->left_--;
        if (it->vals_)
            it->cur_ = *it->vals_++;
        else
            it->cur_ += it->step_;
        rec->key.ptr = NULL;
        rec->key.len = 0;
        rec->val.ptr = &it->cur_;
        rec->val.len = sizeof it->cur_;
        return 1;
    }
    return ember_iter_next_encoded(it, rec);
}

/* ---------------------------------------------------------------- user functions */

/* Each returns 0, or a negative code to fail the task (retried up to the
 * attempt limit; the action then names the code). They run on executor threads. */
typedef int ember_map_fn(ember_rec in, ember_out *out, void *arg); /* map, flat_map */
typedef int ember_pred_fn(ember_rec in, void *arg);                /* 1 keep, 0 drop, <0 fail */
typedef int ember_part_fn(ember_iter *in, ember_out *out, int index, void *arg);
/* res is empty on entry; write the result of combining a and b into it. */
typedef int ember_reduce_fn(ember_bytes a, ember_bytes b, ember_buf *res, void *arg);
/* <0, 0, >0 as strcmp. Must not fail. */
typedef int ember_cmp_fn(ember_bytes a, ember_bytes b, void *arg);
typedef int ember_each_fn(ember_rec in, void *arg);

/* A combiner made from a key's first value (combine_by_key): write it into res. */
typedef int ember_create_fn(ember_bytes v, ember_buf *res, void *arg);

/* Ready reducers over 8-byte values, and comparators. arg is unused. */
EMBER_EXTERN ember_reduce_fn ember_sum_i64, ember_sum_f64, ember_min_i64, ember_max_i64;
EMBER_EXTERN ember_cmp_fn ember_cmp_i64, ember_cmp_f64, ember_cmp_bytes;

/* ---------------------------------------------------------------- value kinds */

/* What an rdd's values (and a pair rdd's keys) are. Sources know theirs
 * (parallelize_i64 and range: int64; text_file: strings; read_json_lines and
 * read_db: JSON); transformations that keep records as they are carry them
 * (filter, sample, distinct, coalesce, union of one kind, partition_by,
 * repartition, sort_by_key, keys, values, map_values' keys; zip_with_index
 * and zip_with_unique_id: the record's kind as the key's, int64 values), and
 * reduce_by_key with ember_sum_i64, ember_min_i64, ember_max_i64 (int64) or
 * ember_sum_f64 (double) gives its values' kind. What a user function makes
 * (map, flat_map, map_partitions, map_values, flat_map_values; key_by's keys)
 * has the kind of the typed emit it makes its first record with:
 * ember_emit_i64 and ember_emit_pair_i64 int64, ember_emit_f64 and
 * ember_emit_pair_f64 double, ember_emit_str a string; ember_emit,
 * ember_emit_pair and ember_emit_rec bytes. An action that needs such a kind
 * learns it once, by running the function up to its first record (a small
 * stage of its job, past any cache), and every later action uses the same.
 * A declaration (ember_as_i64 …) needs no such stage and wins over it. A
 * function over records that call out (ember_http, map_concurrent, read_db,
 * pipe; before a shuffle) is not run again: bytes unless declared. A
 * shuffle's partitioner is set when the shuffle is built, from the kinds
 * known then: sources' and declared ones. The kind sets the defaults: with no
 * comparator, top, take_ordered, min, max, sort_by_key (keys), count_by_value
 * and count_by_key order int64 and double by their numbers, not their bytes;
 * save_as_text_file writes them as decimal text; and a shuffle of int64 keys
 * sends key k to partition k mod n, as Spark. Bytes keep the byte order. */
typedef enum ember_kind {
    EMBER_KIND_BYTES = 0,
    EMBER_KIND_STRING, /* UTF-8 text */
    EMBER_KIND_I64,    /* 8 bytes, ember_i64 */
    EMBER_KIND_F64,    /* 8 bytes, ember_f64 */
    EMBER_KIND_JSON    /* one JSON value */
} ember_kind;

/* Declare the kind of rdd's values (as_kind), or of its keys and values
 * (as_pairs), and return rdd: a declaration, as a cast (nothing is checked
 * or converted; int64 and double values must be 8 bytes). */
EMBER_EXTERN ember_rdd *ember_as_kind(ember_rdd *rdd, ember_kind values);
EMBER_EXTERN ember_rdd *ember_as_pairs(ember_rdd *rdd, ember_kind keys, ember_kind values);
EMBER_EXTERN ember_rdd *ember_as_i64(ember_rdd *rdd);
EMBER_EXTERN ember_rdd *ember_as_f64(ember_rdd *rdd);
EMBER_EXTERN ember_rdd *ember_as_string(ember_rdd *rdd);
EMBER_EXTERN ember_rdd *ember_as_json(ember_rdd *rdd);
/* The kind of rdd's values, and of its keys (EMBER_KIND_BYTES when unknown);
 * learning one from typed emits runs a job as an action does. */
EMBER_EXTERN ember_kind ember_value_kind(const ember_rdd *rdd);
EMBER_EXTERN ember_kind ember_key_kind(const ember_rdd *rdd);
/* A record as readable text into out (replaced): values (and keys) by their
 * rdd's kinds, int64 and double as numbers, strings and JSON as they are,
 * other bytes with non-printable ones as \xNN; a pair as "(key, value)".
 * 0 or EMBER_ENOMEM. */
EMBER_EXTERN int ember_rec_text(const ember_rdd *rdd, ember_rec rec, ember_buf *out);

/* ---------------------------------------------------------------- sources */

/* Copies n items into parts partitions, sliced as Spark does: partition i holds
 * items [i*n/parts, (i+1)*n/parts). Returns an rdd owned by ctx; NULL only when
 * ctx is NULL or memory ran out. Errors in the arguments (parts <= 0, items NULL
 * with n > 0) give an rdd that carries the error to its action. */
EMBER_EXTERN ember_rdd *ember_parallelize(ember_ctx *ctx, const ember_bytes *items, size_t n,
                                          int parts);
/* Likewise for key-value records. */
EMBER_EXTERN ember_rdd *ember_parallelize_pairs(ember_ctx *ctx, const ember_rec *items, size_t n,
                                                int parts);
/* Likewise for int64 values (8-byte records; read them with ember_i64). */
EMBER_EXTERN ember_rdd *ember_parallelize_i64(ember_ctx *ctx, const int64_t *items, size_t n,
                                              int parts);
/* int64 values start, start+step, ... below end (above, for a negative step),
 * sliced as parallelize. step 0 is an error. Nothing is stored: values are made
 * as tasks read them. */
EMBER_EXTERN ember_rdd *ember_range(ember_ctx *ctx, int64_t start, int64_t end, int64_t step,
                                    int parts);

/* Lines of text files, one record per line (no key; the value without its "\n"
 * or "\r\n"). paths: a file, a directory (its files in name order; names starting
 * with '.' or '_' skipped), a glob, or a comma-separated list of these. Plain
 * files are split at line boundaries into at least min_parts partitions overall
 * (0: Spark's default, min(parallelism, 2)), at most 32 MiB each; .gz and .zst
 * files are one partition each, decompressed as a stream. A path that does not
 * exist gives an rdd that carries the error (naming the path) to its action. */
EMBER_EXTERN ember_rdd *ember_text_file(ember_ctx *ctx, const char *paths, int min_parts);

/* One record per file: key = the file's path, value = its whole content
 * (decompressed for .gz and .zst). Paths as ember_text_file; files are dealt to
 * at most min_parts partitions (0: min(parallelism, 2)) in order. */
EMBER_EXTERN ember_rdd *ember_whole_text_files(ember_ctx *ctx, const char *paths, int min_parts);

/* What a reader does with a record it cannot read (Spark's FAILFAST,
 * DROPMALFORMED; and a third: keep it aside). */
typedef enum ember_on_bad {
    EMBER_BAD_FAIL = 0, /* the action fails; the message names file and line */
    EMBER_BAD_SKIP,     /* dropped and counted (ember_bad_records, the stats) */
    EMBER_BAD_DIVERT,   /* written as-is to opts.bad_dir as "file:line<TAB>record" lines,
                           one part-NNNNN per partition, and counted */
} ember_on_bad;

/* Options of the structured readers. Zero them, then set what you need. */
typedef struct ember_read_opts {
    int min_parts; /* as ember_text_file's */
    ember_on_bad on_bad;
    const char *bad_dir; /* EMBER_BAD_DIVERT: created when missing */
} ember_read_opts;

/* JSON lines: one record per line holding a JSON object (the line as it is),
 * checked with jansson; blank lines are skipped. Invalid JSON, a value that is
 * not an object, and invalid UTF-8 are bad records, handled per opts.on_bad (opts
 * NULL: fail). */
EMBER_EXTERN ember_rdd *ember_read_json_lines(ember_ctx *ctx, const char *paths,
                                              const ember_read_opts *opts);

/* CSV options. Zero them, then set what you need. */
typedef struct ember_csv_opts {
    ember_read_opts read; /* min_parts and the bad-record policy */
    int header;           /* 1: the first row of every file is the header (all equal) */
    char delimiter;       /* 0: ',' */
    char quote;           /* 0: '"' */
    char escape;          /* 0 or the quote: RFC 4180 (a doubled quote). Another character
                             (e.g. '\\'): escape+quote is a quote and escape+escape one escape;
                             files are then not split (one partition each) */
    /* with header: files whose columns come in other orders, or lack some, are
     * read by name into the union of their headers (the first file's order,
     * then new names as they come); a missing column is empty */
    int union_by_name;
    /* a last column of this name holding each row's file path (NULL: none) */
    const char *source_column;
    /* typed columns: "id:int,price:float,ok:bool,name:string" by header name
     * (by position without a header; columns not named are strings), or infer
     * 1 to take each column's type from the first file's first 1,000 rows
     * (int if every value is an int64, else float, else bool, else string).
     * A value that is not of its column's type is a bad record, named by file,
     * line and column; an empty value is NULL. */
    const char *schema;
    int infer;
    /* 1: each row as a JSON object by the header's names (column_N without a
     * header), typed values (numbers, true/false, null for empty) */
    int json;
} ember_csv_opts;

/* CSV files parsed with libcsv: one record per row, its value holding the fields
 * (read them with ember_csv_field). Quoted fields may hold delimiters, quotes
 * (doubled) and newlines; a file is never split inside a row. Bad rows (a field
 * count unlike the header's, or the first row's; an unterminated quote; invalid
 * UTF-8) follow opts->read.on_bad, named by file and line. opts NULL: no header,
 * ',' and '"', fail on bad rows. */
EMBER_EXTERN ember_rdd *ember_read_csv(ember_ctx *ctx, const char *paths,
                                       const ember_csv_opts *opts);
/* Field i (0-based) of a CSV row into *out (borrowed from row). 0, EMBER_ERANGE
 * past the last field, EMBER_EIO for bytes that are not a row. */
EMBER_EXTERN int ember_csv_field(ember_bytes row, size_t i, ember_bytes *out);
EMBER_EXTERN size_t ember_csv_nfields(ember_bytes row);
/* The index of the header column named name, for use in tasks with
 * ember_csv_field; EMBER_EINVAL when there is no such column or no header. */
EMBER_EXTERN int ember_csv_column(ember_rdd *csv, const char *name);
/* The header row (read its names with ember_csv_field), borrowed until the rdd is
 * freed. EMBER_EINVAL when csv has no header. */
EMBER_EXTERN int ember_csv_header(ember_rdd *csv, ember_bytes *out);

/* The bad records a reader rdd has skipped or diverted, over the actions run so
 * far (successful task attempts only). EMBER_EINVAL for an rdd that is not a
 * reader. */
EMBER_EXTERN int ember_bad_records(ember_rdd *rdd, int64_t *count);

/* Pluck the value at key path ("a.b", "breeds.0.name": object keys, or array
 * indexes) of a JSON text into out: a string's characters, or the compact JSON of
 * any other value. Returns 1 when found, 0 when absent, EMBER_EINVAL when json is
 * not valid JSON, EMBER_ENOMEM. */
EMBER_EXTERN int ember_json_get(ember_bytes json, const char *path, ember_buf *out);

/* ---------------------------------------------------------------- transformations */

/* All are lazy and return a new rdd owned by the context, or NULL when the
 * parent is NULL or memory ran out. An rdd that cannot be built (NULL function,
 * bad argument, an rdd of another context) carries the error to its action. */

/* Exactly one output per input (emitting none or two fails the task). */
EMBER_EXTERN ember_rdd *ember_map(ember_rdd *rdd, ember_map_fn *fn, void *arg);
/* Zero or more outputs per input. */
EMBER_EXTERN ember_rdd *ember_flat_map(ember_rdd *rdd, ember_map_fn *fn, void *arg);
EMBER_EXTERN ember_rdd *ember_filter(ember_rdd *rdd, ember_pred_fn *fn, void *arg);
/* fn sees the whole partition through an iterator, with the partition's index. */
EMBER_EXTERN ember_rdd *ember_map_partitions(ember_rdd *rdd, ember_part_fn *fn, void *arg);
/* fn gets the value alone (in.key is empty) and emits exactly one value (map_values)
 * or any number (flat_map_values); each output keeps the input's key. */
EMBER_EXTERN ember_rdd *ember_map_values(ember_rdd *rdd, ember_map_fn *fn, void *arg);
EMBER_EXTERN ember_rdd *ember_flat_map_values(ember_rdd *rdd, ember_map_fn *fn, void *arg);
/* Spark's keyBy: fn emits exactly one value, the key. Output: (that key, the
 * input). A record without a key is the value as it is; a pair record is kept
 * whole, its encoding as the value (ember_iter_init reads it back as the pair). */
EMBER_EXTERN ember_rdd *ember_key_by(ember_rdd *rdd, ember_map_fn *fn, void *arg);
/* The keys (as values) and the values of pair records; a record without a key
 * fails the task. */
EMBER_EXTERN ember_rdd *ember_keys(ember_rdd *rdd);
EMBER_EXTERN ember_rdd *ember_values(ember_rdd *rdd);
/* The partitions of a, then those of b (same context). */
EMBER_EXTERN ember_rdd *ember_union(ember_rdd *a, ember_rdd *b);
/* Spark's cartesian: every (x, y) of a's and b's values, as key x and value y;
 * partition i * nb + j pairs a's partition i with b's partition j (no shuffle).
 * Records with keys fail the task (map them to values first). */
EMBER_EXTERN ember_rdd *ember_cartesian(ember_rdd *a, ember_rdd *b);
/* One record per partition: its value is the partition encoded; read it with
 * ember_iter_init(). */
EMBER_EXTERN ember_rdd *ember_glom(ember_rdd *rdd);
/* Without replacement: each record kept with probability fraction (0..1).
 * With replacement: each record repeated Poisson(fraction) times (fraction >= 0).
 * Deterministic for a seed: partition i draws from a generator seeded by (seed, i). */
EMBER_EXTERN ember_rdd *ember_sample(ember_rdd *rdd, bool with_replacement, double fraction,
                                     uint64_t seed);
/* (value, index) pairs: key = the input's value, value = its int64 position in
 * the rdd. Like Spark, counts the partitions before the first action that uses it
 * (a job of its own) when there is more than one. Input records with a key fail. */
EMBER_EXTERN ember_rdd *ember_zip_with_index(ember_rdd *rdd);
/* Spark's zipWithUniqueId: (value, id) pairs, partition k's records getting k,
 * n + k, 2n + k, ... (n partitions): unique, not consecutive, and no job to count
 * partitions first. */
EMBER_EXTERN ember_rdd *ember_zip_with_unique_id(ember_rdd *rdd);
/* At most parts partitions by merging neighbours, without a shuffle (more
 * partitions than the parent's keeps the parent's count, as Spark). */
EMBER_EXTERN ember_rdd *ember_coalesce(ember_rdd *rdd, int parts);

typedef enum ember_storage { EMBER_MEMORY_ONLY = 1 } ember_storage;
/* Keep each partition in memory once a task has computed it; later actions read
 * it. Return rdd itself (Spark's cache returns the same rdd), or NULL when NULL. */
EMBER_EXTERN ember_rdd *ember_cache(ember_rdd *rdd);
EMBER_EXTERN ember_rdd *ember_persist(ember_rdd *rdd, ember_storage level);
/* Drop the kept partitions. Returns 0 or EMBER_EINVAL. */
EMBER_EXTERN int ember_unpersist(ember_rdd *rdd);

/* The number of partitions; a negative code for an rdd that failed to build. */
EMBER_EXTERN int ember_num_partitions(ember_rdd *rdd);

/* Drop the program's hold on rdd early: it is freed once no live rdd depends on
 * it. NULL is fine. Using rdd afterwards is an error (EMBER_ECTX), not a crash. */
EMBER_EXTERN void ember_free(ember_rdd *rdd);

/* ---------------------------------------------------------------- actions */

/* Each runs a job and returns 0 or a negative code (the message on the context).
 * A failed action leaves the context usable. Out-parameters are untouched on
 * failure. */

/* Every record, in partition order. *out is owned by the caller: ember_result_free(). */
EMBER_EXTERN int ember_collect(ember_rdd *rdd, ember_result **out);
/* The first n records. Computes one partition, then more as Spark does (scanning
 * up to 4x more partitions a round) until it has n. */
EMBER_EXTERN int ember_take(ember_rdd *rdd, size_t n, ember_result **out);
/* The first record as a one-record result; EMBER_EEMPTY on an empty rdd. */
EMBER_EXTERN int ember_first(ember_rdd *rdd, ember_result **out);
EMBER_EXTERN int ember_count(ember_rdd *rdd, int64_t *out);
EMBER_EXTERN int ember_is_empty(ember_rdd *rdd, bool *out);
/* Combine the values with fn (associative and commutative), partition by
 * partition, then the partitions' results in order. EMBER_EEMPTY on an empty rdd.
 * out must be initialised (ember_buf_init) and receives the result. */
EMBER_EXTERN int ember_reduce(ember_rdd *rdd, ember_reduce_fn *fn, void *arg, ember_buf *out);
/* As reduce, the partitions' results combined in a tree of depth levels (>= 1). */
EMBER_EXTERN int ember_tree_reduce(ember_rdd *rdd, ember_reduce_fn *fn, void *arg, int depth,
                                   ember_buf *out);
/* Spark's fold: zero starts each partition and once more the combination of the
 * partitions' results. An empty rdd gives zero. */
EMBER_EXTERN int ember_fold(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *fn, void *arg,
                            ember_buf *out);
/* Spark's aggregate: seq(acc, value) within a partition from zero, comb(acc, acc)
 * across partitions from zero. */
EMBER_EXTERN int ember_aggregate(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *seq,
                                 ember_reduce_fn *comb, void *arg, ember_buf *out);
EMBER_EXTERN int ember_foreach(ember_rdd *rdd, ember_each_fn *fn, void *arg);
/* fn gets each partition; its out discards what is emitted. */
EMBER_EXTERN int ember_foreach_partition(ember_rdd *rdd, ember_part_fn *fn, void *arg);
/* The n largest values by cmp (NULL: ember_cmp_bytes), largest first. */
EMBER_EXTERN int ember_top(ember_rdd *rdd, size_t n, ember_cmp_fn *cmp, void *arg,
                           ember_result **out);
/* The n smallest values by cmp (NULL: ember_cmp_bytes), smallest first. */
EMBER_EXTERN int ember_take_ordered(ember_rdd *rdd, size_t n, ember_cmp_fn *cmp, void *arg,
                                    ember_result **out);
/* The smallest / largest value by cmp (NULL: ember_cmp_bytes) into out.
 * EMBER_EEMPTY on an empty rdd. */
EMBER_EXTERN int ember_min(ember_rdd *rdd, ember_cmp_fn *cmp, void *arg, ember_buf *out);
EMBER_EXTERN int ember_max(ember_rdd *rdd, ember_cmp_fn *cmp, void *arg, ember_buf *out);
/* (value, int64 count) pairs for each distinct value, ordered by value bytes. */
EMBER_EXTERN int ember_count_by_value(ember_rdd *rdd, ember_result **out);
/* Spark's countByKey: (key, int64 count) pairs for each distinct key, ordered by
 * key bytes; counted in each task, merged on the driver (no shuffle). */
EMBER_EXTERN int ember_count_by_key(ember_rdd *rdd, ember_result **out);
/* Spark's lookup: the values of key, as one-value records in partition order. An
 * rdd partitioned by key (partition_by, reduce_by_key, ..., or sort_by_key's
 * ranges once its sample is taken), directly or through filter, map_values,
 * flat_map_values and the samples, is read in the key's partition only. */
EMBER_EXTERN int ember_lookup(ember_rdd *rdd, ember_bytes key, ember_result **out);
/* Spark's collectAsMap: one (key, value) pair per key, the last value read for a
 * key winning (partition order), ordered by key bytes. */
EMBER_EXTERN int ember_collect_as_map(ember_rdd *rdd, ember_result **out);
/* Spark's reduceByKeyLocally: the values of each key combined with fn in each
 * task, then on the driver; (key, value) pairs ordered by key bytes. */
EMBER_EXTERN int ember_reduce_by_key_locally(ember_rdd *rdd, ember_reduce_fn *fn, void *arg,
                                             ember_result **out);

/* Numeric actions read each value as an 8-byte number of the kind given. A value
 * of another length fails the task with its partition named. */
typedef enum ember_num { EMBER_NUM_I64 = 1, EMBER_NUM_F64 = 2 } ember_num;

/* Spark's StatCounter. Empty: count 0, sum 0, mean/variance NaN, min +inf, max -inf. */
typedef struct ember_stat_counter {
    int64_t count;
    double sum, mean, min, max;
    double variance, stdev;               /* population */
    double sample_variance, sample_stdev; /* n - 1; NaN when count < 2 */
    double m2_;                           /* private: sum of squared deviations */
} ember_stat_counter;

EMBER_EXTERN int ember_stats(ember_rdd *rdd, ember_num num, ember_stat_counter *out);
/* Exact int64 sum; EMBER_ERANGE when it overflows. Empty: 0. */
EMBER_EXTERN int ember_sum_i64_values(ember_rdd *rdd, int64_t *out);
EMBER_EXTERN int ember_sum(ember_rdd *rdd, ember_num num, double *out);
EMBER_EXTERN int ember_mean(ember_rdd *rdd, ember_num num, double *out);
EMBER_EXTERN int ember_variance(ember_rdd *rdd, ember_num num, double *out);
EMBER_EXTERN int ember_stdev(ember_rdd *rdd, ember_num num, double *out);
EMBER_EXTERN int ember_sample_variance(ember_rdd *rdd, ember_num num, double *out);
EMBER_EXTERN int ember_sample_stdev(ember_rdd *rdd, ember_num num, double *out);

/* A histogram in caller storage: edges[nbuckets + 1], counts[nbuckets].
 * Bucket i holds edges[i] <= x < edges[i+1]; the last also holds x == its upper
 * edge (Spark's rule); values outside, and NaN, are not counted. */
typedef struct ember_histogram {
    size_t nbuckets;
    double *edges;
    int64_t *counts;
} ember_histogram;
/* nbuckets evenly spaced buckets from the min to the max (one bucket [m, m] when
 * they are equal). EMBER_EEMPTY on an empty rdd, EMBER_ERANGE with NaN or
 * infinities, as Spark. */
EMBER_EXTERN int ember_histogram_even(ember_rdd *rdd, ember_num num, size_t nbuckets,
                                      ember_histogram *out);
/* Given edges: at least 2, strictly increasing. */
EMBER_EXTERN int ember_histogram_edges(ember_rdd *rdd, ember_num num, const double *edges,
                                       size_t nedges, ember_histogram *out);
EMBER_EXTERN void ember_histogram_destroy(ember_histogram *h);

/* Results: records owned by the result, valid until ember_result_free(). */
EMBER_EXTERN size_t ember_result_len(const ember_result *res);
/* Record i (borrowed until the result is freed); an empty record when out of range. */
EMBER_EXTERN ember_rec ember_result_at(const ember_result *res, size_t i);
EMBER_EXTERN void ember_result_free(ember_result *res);

/* ---------------------------------------------------------------- shuffles */

/* Pair records moved to partition hash(key) % parts (xxHash3 of the key bytes,
 * fixed seed: the same on every thread, process and machine); parts 0: the
 * parent's count. An rdd already partitioned so is returned as it is (no
 * shuffle), as Spark does. A record without a key fails the task. */
EMBER_EXTERN ember_rdd *ember_partition_by(ember_rdd *rdd, int parts);

/* Spark's reduceByKey: the values of each key combined with fn (associative and
 * commutative), first within each map task, then across them after the shuffle;
 * parts 0: the parent's count. One (key, value) record per key, in no particular
 * order. A record without a key, or fn failing, fails the task. */
EMBER_EXTERN ember_rdd *ember_reduce_by_key(ember_rdd *rdd, ember_reduce_fn *fn, void *arg,
                                            int parts);

/* Spark's groupByKey: one (key, values) record per key; the value holds the
 * key's values encoded as records (read them with ember_iter_init), in the
 * order they arrived (map task order, then record order). No map-side combine,
 * as Spark. parts 0: the parent's count. Past the memory budget the map side
 * spills and the reduce side holds one key's values at a time; a group bigger
 * than a task's share of the budget, handed to a step that reads it at once
 * (map, flat_map, map_values, flat_map_values, foreach, through filters), is
 * streamed: its iterator reads the spilled runs, and the value is good only
 * during that call (kept past it, it reads as EMBER_EIO). Other steps (collect,
 * cache, save) get the whole group in memory. */
EMBER_EXTERN ember_rdd *ember_group_by_key(ember_rdd *rdd, int parts);
/* Spark's groupBy: records grouped by the key fn emits (one value), as
 * group_by_key of key_by: the groups hold whole records (a pair as its
 * encoding, see key_by). */
EMBER_EXTERN ember_rdd *ember_group_by(ember_rdd *rdd, ember_map_fn *fn, void *arg, int parts);
/* Spark's repartition: the records spread evenly over parts partitions with a
 * shuffle (each map task deals round-robin from its own starting place); keys
 * are not needed and not kept together. */
EMBER_EXTERN ember_rdd *ember_repartition(ember_rdd *rdd, int parts);
/* Spark's sortByKey: records ordered by key with cmp (NULL: ember_cmp_bytes),
 * ascending or not, across partitions: a sampling job picks the range boundaries,
 * the shuffle sends each key to its range, each partition sorts its records.
 * parts 0: the parent's count. Past the memory budget the map side spills
 * sorted runs and a partition is merged from them, never held whole. */
EMBER_EXTERN ember_rdd *ember_sort_by_key(ember_rdd *rdd, bool ascending, ember_cmp_fn *cmp,
                                          void *arg, int parts);
/* Spark's repartitionAndSortWithinPartitions: the records moved to parts
 * partitions by the hash partitioner (as partition_by), each partition's records
 * ordered by key with cmp (NULL: ember_cmp_bytes), ascending or not; no sampling
 * job. parts 0: the parent's count. */
EMBER_EXTERN ember_rdd *ember_repartition_and_sort_within_partitions(ember_rdd *rdd, int parts,
                                                                     bool ascending,
                                                                     ember_cmp_fn *cmp, void *arg);
/* Spark's sortBy: the records ordered by the key key_fn emits (one value);
 * the records come out whole, a pair record with its key. */
EMBER_EXTERN ember_rdd *ember_sort_by(ember_rdd *rdd, ember_map_fn *key_fn, void *key_arg,
                                      bool ascending, ember_cmp_fn *cmp, void *cmp_arg, int parts);

/* Spark's combineByKey: in each map task a key's first value becomes a combiner
 * (create), later values merge into it (merge_value); after the shuffle the
 * combiners of a key merge (merge_combiners). One (key, combiner) record per key.
 * parts 0: the parent's count. */
EMBER_EXTERN ember_rdd *ember_combine_by_key(ember_rdd *rdd, ember_create_fn *create,
                                             ember_reduce_fn *merge_value,
                                             ember_reduce_fn *merge_combiners, void *arg,
                                             int parts);
/* Spark's aggregateByKey: the combiner starts as seq(zero, v) in each map task,
 * seq merges values, comb merges combiners. */
EMBER_EXTERN ember_rdd *ember_aggregate_by_key(ember_rdd *rdd, ember_bytes zero,
                                               ember_reduce_fn *seq, ember_reduce_fn *comb,
                                               void *arg, int parts);
/* Spark's foldByKey: aggregate_by_key with fn for both. zero counts once per key
 * per map task, as in Spark. */
EMBER_EXTERN ember_rdd *ember_fold_by_key(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *fn,
                                          void *arg, int parts);

/* Spark's distinct: each different record once (a pair is compared whole: key and
 * value), de-duplicated in each map task and again after the shuffle; parts 0:
 * the parent's count. In no particular order. */
EMBER_EXTERN ember_rdd *ember_distinct(ember_rdd *rdd, int parts);

/* Spark's cogroup: one record per key of either rdd; the value holds the key's
 * values from a and from b (ember_cogroup_sides). parts 0: the larger parent's
 * count. Records without a key fail the task. */
EMBER_EXTERN ember_rdd *ember_cogroup(ember_rdd *a, ember_rdd *b, int parts);
/* Spark's joins: one record per pair of values of a key, every pair when a key
 * repeats on a side (as Spark; not one per key); read the value's two sides with
 * ember_join_sides. The outer joins also give a key's values from one side when
 * the other has none (that side absent). parts 0: the larger parent's count. */
EMBER_EXTERN ember_rdd *ember_join(ember_rdd *a, ember_rdd *b, int parts);
EMBER_EXTERN ember_rdd *ember_left_outer_join(ember_rdd *a, ember_rdd *b, int parts);
EMBER_EXTERN ember_rdd *ember_right_outer_join(ember_rdd *a, ember_rdd *b, int parts);
EMBER_EXTERN ember_rdd *ember_full_outer_join(ember_rdd *a, ember_rdd *b, int parts);
/* The two sides of a join record's value (borrowed from value): returns a mask,
 * 1 when the left is present, 2 when the right is (an absent side is empty with
 * a NULL pointer); EMBER_EIO for bytes that are not a join value. */
EMBER_EXTERN int ember_join_sides(ember_bytes value, ember_bytes *left, ember_bytes *right);
/* The two groups of a cogroup record's value, each readable with ember_iter_init.
 * 0, or EMBER_EIO. */
EMBER_EXTERN int ember_cogroup_sides(ember_bytes value, ember_bytes *left, ember_bytes *right);

/* Spark's subtractByKey: a's records whose key is not in b. parts 0: a's count. */
EMBER_EXTERN ember_rdd *ember_subtract_by_key(ember_rdd *a, ember_rdd *b, int parts);
/* Spark's subtract: a's records (compared whole) that are not in b, a's duplicates
 * kept. parts 0: a's count. */
EMBER_EXTERN ember_rdd *ember_subtract(ember_rdd *a, ember_rdd *b, int parts);
/* Spark's intersection: the records (compared whole) in both, each once. parts 0:
 * the larger parent's count. */
EMBER_EXTERN ember_rdd *ember_intersection(ember_rdd *a, ember_rdd *b, int parts);

/* ---------------------------------------------------------------- more of Spark's RDD */

/* Spark's zip: record i of a's partition p with record i of b's, as (a's, b's)
 * (a pair side as its encoding); the same number of partitions, and of
 * records in each (a task fails naming the partition otherwise). */
EMBER_EXTERN ember_rdd *ember_zip(ember_rdd *a, ember_rdd *b);
/* Spark's mapPartitionsWithIndex: map_partitions (fn gets the index). */
EMBER_EXTERN ember_rdd *ember_map_partitions_with_index(ember_rdd *rdd, ember_part_fn *fn,
                                                        void *arg);
/* Spark's randomSplit: n rdds out[0..n) holding about weights[i] / sum of the
 * records each, every record in exactly one (the same seeded draw a record
 * for all of them). 0 or the code. */
EMBER_EXTERN int ember_random_split(ember_rdd *rdd, const double *weights, int n, uint64_t seed,
                                    ember_rdd **out);
/* Spark's sampleByKey: pair records kept with their key's fraction (keys[i]
 * has fractions[i]; a key without one fails its task); with replacement a
 * record comes Poisson(fraction) times. */
EMBER_EXTERN ember_rdd *ember_sample_by_key(ember_rdd *rdd, bool with_replacement,
                                            const ember_bytes *keys, const double *fractions,
                                            size_t n, uint64_t seed);
/* Spark's sampleByKeyExact: exactly ceil(fractions[i] * the count of keys[i])
 * records of each key, seeded. Runs jobs when called. Without replacement
 * (fractions in [0, 1]): the keys' counts, then the draws under a bound (all
 * draws for a key short of its share); the result keeps the records whose draw
 * is at most their key's share-th smallest. With replacement (fractions >= 0):
 * each partition's count of each key, then the picks, uniform over each key's
 * records, made and held on the driver (memory of the order of the sample);
 * the result hands on each record as often as it was picked. A key of the
 * data without a fraction fails the job that counts. */
EMBER_EXTERN ember_rdd *ember_sample_by_key_exact(ember_rdd *rdd, bool with_replacement,
                                                  const ember_bytes *keys, const double *fractions,
                                                  size_t n, uint64_t seed);
/* Spark's pipe: each partition's records, a line each (a pair as key, tab,
 * value; numbers as decimal text), to the standard input of `/bin/sh -c
 * command`; its output lines are the records (strings). A non-zero exit fails
 * the task with the status and the first line of its standard error. */
EMBER_EXTERN ember_rdd *ember_pipe(ember_rdd *rdd, const char *command);

/* Spark's toLocalIterator: the records in order, one partition in memory at a
 * time (a job a partition, when the iteration reaches it). rdd must live
 * until the iterator is freed. next: 1 with *rec (valid until the next call),
 * 0 at the end, or the failed job's code (the message on the context). */
typedef struct ember_local_iter ember_local_iter;
EMBER_EXTERN int ember_to_local_iterator(ember_rdd *rdd, ember_local_iter **out);
EMBER_EXTERN int ember_local_iter_next(ember_local_iter *it, ember_rec *rec);
EMBER_EXTERN void ember_local_iter_free(ember_local_iter *it);
/* Spark's takeSample: exactly min(num, count) records (with replacement: num),
 * drawn with seed, in random order. Runs a count, then samples until enough. */
EMBER_EXTERN int ember_take_sample(ember_rdd *rdd, bool with_replacement, size_t num, uint64_t seed,
                                   ember_result **out);
/* Spark's treeAggregate: seq folds each partition from zero, comb combines
 * the partitions' results in a tree of depth levels. An rdd of no partitions
 * gives zero. */
EMBER_EXTERN int ember_tree_aggregate(ember_rdd *rdd, ember_bytes zero, ember_reduce_fn *seq,
                                      ember_reduce_fn *comb, void *arg, int depth, ember_buf *out);
/* Spark's countApproxDistinct: HyperLogLog with 2^p registers, p from
 * relative_sd (0.000017 to 0.37; Spark's default 0.05); records compared
 * whole. */
EMBER_EXTERN int ember_count_approx_distinct(ember_rdd *rdd, double relative_sd, int64_t *out);
/* Spark's histogram over ordered values of any kind: counts[i] of the values
 * in [edges[i], edges[i+1]) (the last bucket includes its upper edge; values
 * outside the edges are not counted), ordered by cmp (NULL: the values'
 * kind, so strings by bytes and numbers as numbers). */
EMBER_EXTERN int ember_histogram_by(ember_rdd *rdd, const ember_bytes *edges, size_t nedges,
                                    ember_cmp_fn *cmp, void *arg, int64_t *counts);
/* Spark's countApprox, sumApprox, meanApprox: partitions run a wave (a task a
 * thread) at a time until all are done (confidence 1, low = high = the exact
 * figure) or timeout_ms is past after a wave: an estimate from the partitions
 * done, with bounds at confidence (normal quantiles; Spark's evaluators).
 * sum and mean read 8-byte values: double for EMBER_KIND_F64, else int64. */
typedef struct ember_bounded {
    double mean, confidence, low, high;
} ember_bounded;
EMBER_EXTERN int ember_count_approx(ember_rdd *rdd, int64_t timeout_ms, double confidence,
                                    ember_bounded *out);
EMBER_EXTERN int ember_sum_approx(ember_rdd *rdd, int64_t timeout_ms, double confidence,
                                  ember_bounded *out);
EMBER_EXTERN int ember_mean_approx(ember_rdd *rdd, int64_t timeout_ms, double confidence,
                                   ember_bounded *out);

/* Spark's checkpoint and localCheckpoint: rdd is materialized by the next
 * action that needs it (a stage computing every partition, before the
 * action's own) and its lineage is cut, so later actions (and retries) start
 * from it. local_checkpoint keeps the partitions in memory; checkpoint writes
 * them under the directory set_checkpoint_dir names (DIR/APP_ID/rdd-ID/
 * part-NNNNN, removed at ember_close) and reads them back from there. On
 * the MPI backend every rank writes the partitions it computed under rank
 * 0's directory, which every rank must see (a shared file system), and
 * local_checkpoint, whose partitions would stay on the rank that computed
 * them, answers EMBER_ENOTSUP. */
EMBER_EXTERN int ember_set_checkpoint_dir(ember_ctx *ctx, const char *dir);
EMBER_EXTERN int ember_checkpoint(ember_rdd *rdd);
EMBER_EXTERN int ember_local_checkpoint(ember_rdd *rdd);
/* True once a checkpoint has been made (the lineage is cut). */
EMBER_EXTERN bool ember_is_checkpointed(const ember_rdd *rdd);

/* A caller's partitioner: the partition (0 to nparts - 1) of key. */
typedef int ember_partition_fn(ember_bytes key, int nparts, void *arg);
/* Spark's partitionBy(numPartitions, partitionFunc): records moved to the
 * partition fn gives their key (a result out of range fails the task). An
 * rdd already partitioned by the same fn, arg and count is returned as it is. */
EMBER_EXTERN ember_rdd *ember_partition_by_fn(ember_rdd *rdd, int parts, ember_partition_fn *fn,
                                              void *arg);
/* The partitioner of a shuffle by key not yet run (reduce_by_key, fold_by_key,
 * aggregate_by_key, combine_by_key, group_by_key, the joins, cogroup,
 * repartition_and_sort_within_partitions): Spark's partitionFunc argument of
 * those. Returns shuffled, or an error rdd for any other rdd. */
EMBER_EXTERN ember_rdd *ember_with_partitioner(ember_rdd *shuffled, ember_partition_fn *fn,
                                               void *arg);

/* ---------------------------------------------------------------- output */

/* Write every record as a line (the value; a pair as key, tab, value) into dir:
 * one part-00000... file per partition (".gz", ".zst" or ".bz2" added for codec
 * "gzip", "zstd" or "bzip2"; NULL: plain; readers take all three by extension). Tasks write under
 * dir/_temporary and the files are moved into place only when every task has succeeded, then an
 * empty _SUCCESS is written: a failed job leaves no part file in dir. An existing dir is an error
 * unless conf.overwrite. Returns 0 or a code, the message naming the file. */
EMBER_EXTERN int ember_save_as_text_file(ember_rdd *rdd, const char *dir, const char *codec);
/* As ember_save_as_text_file, each record a CSV row (as ember_read_csv makes
 * them) written as an RFC 4180 line with opts' delimiter and quote (NULL: ','
 * and '"'); header, if not NULL, is written first in every part file. */
EMBER_EXTERN int ember_save_as_csv(ember_rdd *rdd, const char *dir, const char *codec,
                                   const ember_csv_opts *opts, const char *header);
/* As ember_save_as_text_file, each record's value one line of JSON; a record with
 * a key or a line break, or text that is not JSON, fails its task (named by
 * partition and record; a JSON source's records are not parsed again). */
EMBER_EXTERN int ember_save_as_json_lines(ember_rdd *rdd, const char *dir, const char *codec);
/* Run the job and write nothing (Spark's format("noop")), for benchmarks.
 * *count, if not NULL, receives the number of records. */
EMBER_EXTERN int ember_save_noop(ember_rdd *rdd, int64_t *count);

/* ---------------------------------------------------------------- shared variables */

/* Read-only bytes visible to every task. The bytes are copied; the broadcast is
 * owned by ctx (or freed early with ember_broadcast_free). */
EMBER_EXTERN ember_broadcast *ember_broadcast_create(ember_ctx *ctx, const void *data, size_t len);
/* The bytes, borrowed until the broadcast is freed. Safe from any thread. */
EMBER_EXTERN ember_bytes ember_broadcast_value(const ember_broadcast *bc);
EMBER_EXTERN void ember_broadcast_free(ember_broadcast *bc);

/* Accumulators: tasks add, the driver reads after the action. A task's additions
 * count once, when its attempt succeeds; a failed attempt's are dropped. Owned by
 * ctx. */
EMBER_EXTERN ember_accumulator *ember_accumulator_i64(ember_ctx *ctx, int64_t zero);
EMBER_EXTERN ember_accumulator *ember_accumulator_f64(ember_ctx *ctx, double zero);
/* A custom accumulator: fn merges two values (associative and commutative). */
EMBER_EXTERN ember_accumulator *ember_accumulator_custom(ember_ctx *ctx, ember_bytes zero,
                                                         ember_reduce_fn *fn, void *arg);
/* From inside a task only: EMBER_EINVAL on the driver outside an action, or for the
 * wrong kind; EMBER_ENOMEM. */
EMBER_EXTERN int ember_accumulator_add_i64(ember_accumulator *acc, int64_t v);
EMBER_EXTERN int ember_accumulator_add_f64(ember_accumulator *acc, double v);
EMBER_EXTERN int ember_accumulator_add(ember_accumulator *acc, ember_bytes v);
/* From the driver only (EMBER_EINVAL inside a task or for the wrong kind). */
EMBER_EXTERN int ember_accumulator_value_i64(const ember_accumulator *acc, int64_t *out);
EMBER_EXTERN int ember_accumulator_value_f64(const ember_accumulator *acc, double *out);
/* The bytes, borrowed until the next action on the context. */
EMBER_EXTERN int ember_accumulator_value(const ember_accumulator *acc, ember_bytes *out);
/* Name an accumulator (copied; 63 bytes kept): named ones are listed with their
 * values by ember_stats_print ("accumulators: name=value ..."). From the driver. */
EMBER_EXTERN int ember_accumulator_set_name(ember_accumulator *acc, const char *name);

/* ---------------------------------------------------------------- stats */

/* Timers and counts of one stage, summed over its tasks (nanoseconds). */
typedef struct ember_stage_stats {
    int stage_id;
    int tasks;
    int attempts; /* task attempts run, retries included */
    int failed_attempts;
    uint64_t sched_ns;   /* building the tasks and handing them to the executor */
    uint64_t run_ns;     /* task run time, summed over attempts */
    uint64_t user_ns;    /* in user functions (timed only when stats are on) */
    uint64_t gather_ns;  /* merging task results on the driver */
    int64_t records_in;  /* read from the stage's sources */
    int64_t records_out; /* delivered to the action */
    int64_t records_bad; /* skipped or diverted by readers */
    /* a shuffle's map side: records and bytes (encoded, after map-side
     * combining) written to the reducers' buckets */
    int64_t shuffle_write_records, shuffle_write_bytes;
    /* a shuffle's reduce side: records and bytes read from the buckets */
    int64_t shuffle_read_records, shuffle_read_bytes;
    /* map side buffers over the memory budget: runs written, and their bytes on
     * disk (compressed) */
    int64_t spill_count, spill_bytes;
} ember_stage_stats;

typedef struct ember_job_stats {
    int64_t job_id;
    const char *action; /* "collect", "count", ... (static storage) */
    int failed;         /* 1 when the action returned an error */
    uint64_t wall_ns;   /* the action, start to end */
    int nstages;
    ember_stage_stats total;         /* the stages added up */
    const ember_stage_stats *stages; /* borrowed until the next action */
} ember_job_stats;

/* Jobs run so far on ctx. */
EMBER_EXTERN int64_t ember_job_count(const ember_ctx *ctx);
/* The stats of job job_id (0-based), or of the last job with -1. The last 1,024
 * jobs are kept; older ones give EMBER_ERANGE. */
EMBER_EXTERN int ember_job_stats_get(const ember_ctx *ctx, int64_t job_id, ember_job_stats *out);
/* A table of the jobs and stages run so far, and the totals. */
EMBER_EXTERN void ember_stats_print(const ember_ctx *ctx, FILE *fp);

/* ---------------------------------------------------------------- the web UI and history */

/* The port the web UI listens on (127.0.0.1), 0 when it is off. */
EMBER_EXTERN int ember_ui_port(ember_ctx *ctx);

/* The history server (`ember history`): event logs (files, or directories of
 * them) served with the web UI's pages and REST API on 127.0.0.1:port (0:
 * 18080, Spark's; -1: 4040 and up). A log cut short by a crash reads up to its
 * last whole line. A thread looks again every $EMBER_HISTORY_UPDATE_INTERVAL
 * seconds (default 10, as Spark; 0 never): a log new in a directory is read,
 * one that grew is read on from where the last look stopped, one that
 * shrank or is another file is read again, one removed goes (its size says
 * when a log changed); a file in a directory
 * that is no event log is passed over (said once on stderr). 0, or a code
 * with ember_errmsg(NULL) naming the log (a file named that is no event log). */
typedef struct ember_history ember_history;
EMBER_EXTERN int ember_history_open(ember_history **out, const char *const *logs, int nlogs,
                                    int port);
EMBER_EXTERN int ember_history_port(const ember_history *h);
EMBER_EXTERN void ember_history_close(ember_history *h);
/* The applications of the event logs in dir, a line each, to out. */
EMBER_EXTERN int ember_history_list(const char *dir, FILE *out);

#ifdef __cplusplus
}
#endif

#include "ember/events.h" /* jobs, stages and tasks as events, to listeners */
#include "ember/net.h"    /* bounded concurrency, HTTP */
#include "ember/db.h"     /* PostgreSQL and SQLite in and out */

#endif
