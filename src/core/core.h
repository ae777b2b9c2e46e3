/* Internal declarations shared by the library's modules (not installed).
 *
 * Layering (DESIGN.md): core may use nothing below it; sched uses core; exec
 * uses core and sched. The context struct lives here because every layer reads
 * it; the executor is reached only through the ops table it holds.
 */
#ifndef EMBER_CORE_H
#define EMBER_CORE_H

#include <pthread.h>
#include <stdatomic.h>

#include "ember/ember.h"

#define EMBER__HIDDEN __attribute__((visibility("hidden")))

/* A user function or emitter asking the pipeline to stop early (take has all it
 * needs). Not an error: the task ends successfully. */
#define EMBER__STOP (-4999)

/* ---------------------------------------------------------------- memory seam */

void *ember__malloc(size_t n);
void *ember__calloc(size_t n, size_t size);
void *ember__realloc(void *p, size_t n);
void ember__free(void *p);
/* The seam as zlib (z_stream's zalloc and zfree), zstd (ZSTD_*_advanced) and
 * jansson (once a process: ember__json_alloc_init) take it; libcsv takes
 * ember__realloc and ember__free, libcurl all of them (src/net/http.c). */
void *ember__zalloc(void *opaque, unsigned items, unsigned size);
void ember__zfree(void *opaque, void *p);
void ember__json_alloc_init(void);
/* libcurl's side of the seam: counted, failed only after ember__alloc_fail_curl(true). */
void *ember__curl_malloc(size_t n);
void *ember__curl_calloc(size_t n, size_t size);
void *ember__curl_realloc(void *p, size_t n);
char *ember__curl_strdup(const char *s);
void ember__alloc_fail_curl(bool on);
char *ember__strdup(const char *s);
/* Tests: make the k-th allocation from now fail (1 = the next one); 0 disarms. */
void ember__alloc_fail_at(long k);
/* Allocations made since the process started (for tests and stats). */
long ember__alloc_count(void);

/* ---------------------------------------------------------------- buffers and records */

int ember__buf_reserve(ember_buf *buf, size_t extra);

static inline size_t ember__varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline unsigned char *ember__varint_put(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* Append v as a varint to b. 0 or EMBER_ENOMEM. */
static inline int ember__buf_varint(ember_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    return ember_buf_append(b, tmp, (size_t)(ember__varint_put(tmp, v) - tmp));
}

/* Decode one varint; NULL when it runs past end or is longer than 10 bytes. */
static inline const unsigned char *ember__varint_get(const unsigned char *p,
                                                     const unsigned char *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
        unsigned char c = *p++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

/* The encoded size of a record: varint(key length + 1, or 0 for no key), key,
 * varint(value length), value. */
static inline size_t ember__rec_size(ember_rec r)
{
    size_t n = ember__varint_len(r.key.ptr ? (uint64_t)r.key.len + 1 : 0) + r.val.len +
               ember__varint_len(r.val.len);
    return r.key.ptr ? n + r.key.len : n;
}

/* Build a record with two 16-byte stores. The next stage of a pipeline copies a
 * record with 16-byte loads; a record written with 8-byte stores a moment before
 * would not forward to those loads and stall every stage of every record. */
typedef uint64_t ember__u64x2 __attribute__((vector_size(16), may_alias, aligned(8)));

static inline void ember__rec_set(ember_rec *r, const void *kp, size_t kl, const void *vp,
                                  size_t vl)
{
    ember__u64x2 *h = (ember__u64x2 *)(void *)r;
    h[0] = (ember__u64x2){(uint64_t)(uintptr_t)kp, kl};
    h[1] = (ember__u64x2){(uint64_t)(uintptr_t)vp, vl};
}

/* Append a record to an arena buffer. 0 or EMBER_ENOMEM. */
int ember__arena_put(ember_buf *arena, ember_rec r);
/* b as a JSON string appended to o (quoted, escaped; bytes that are not UTF-8
 * become U+FFFD). 0 or EMBER_ENOMEM. */
int ember__json_str(ember_buf *o, ember_bytes b);

/* Decode the record at *pos; advances *pos. 1, 0 at end, EMBER_EIO when malformed. */
int ember__rec_next(const unsigned char **pos, const unsigned char *end, ember_rec *r);

/* Iterators over int64 values made on the fly: a range (vals NULL) or an array. */
enum {
    EMBER__ITER_ARENA = 0,
    EMBER__ITER_VALUES = 1,
    EMBER__ITER_STREAM = 2
}; /* 1: see ember_iter_next() */

/* A stream of records handed out as a record's value: the value's bytes are the
 * stream's mark, and ember_iter_init on exactly them (while the stream is the
 * thread's current one) reads the stream. group_by_key hands a group too big
 * for memory this way, valid for the call that receives it. Stored elsewhere,
 * the mark does not decode: a reader gets EMBER_EIO, never wrong values. */
typedef struct ember__stream {
    unsigned char mark[16];
    int (*next)(struct ember__stream *s, ember_rec *rec); /* as ember_iter_next */
} ember__stream;
extern _Thread_local ember__stream *ember__cur_stream;
void ember__iter_values(ember_iter *it, const int64_t *vals, int64_t start, int64_t step,
                        uint64_t n);

/* ---------------------------------------------------------------- wire format */

/* The library's own messages between ranks (core/wire.c): unsigned and zigzag
 * varints, length-prefixed bytes. A writer keeps its first failure
 * (EMBER_ENOMEM) and does nothing after it; a reader keeps its first decode
 * error (EMBER_EIO) and gives 0 or empty bytes after it. Check err once, at
 * the end. */
typedef struct ember__wr {
    ember_buf *b;
    int err;
} ember__wr;

typedef struct ember__rd {
    const unsigned char *p, *end;
    int err;
} ember__rd;

static inline ember__wr ember__wr_to(ember_buf *b)
{
    return (ember__wr){b, 0};
}

static inline ember__rd ember__rd_of(ember_bytes in)
{
    const unsigned char *p = in.ptr;
    return (ember__rd){p, p ? p + in.len : p, 0};
}

/* Bytes not yet read, and no error so far. */
static inline bool ember__rd_more(const ember__rd *r)
{
    return !r->err && r->p < r->end;
}

void ember__wr_u(ember__wr *w, uint64_t v);
void ember__wr_i(ember__wr *w, int64_t v);
void ember__wr_bytes(ember__wr *w, const void *p, size_t n); /* varint length, bytes */
void ember__wr_raw(ember__wr *w, const void *p, size_t n);
uint64_t ember__rd_u(ember__rd *r);
int64_t ember__rd_i(ember__rd *r);
ember_bytes ember__rd_bytes(ember__rd *r);
ember_bytes ember__rd_raw(ember__rd *r, uint64_t n);
/* Length-prefixed bytes of exactly n into out (a struct every rank's build
 * lays out alike); false, with the error kept, otherwise. */
bool ember__rd_fixed(ember__rd *r, void *out, size_t n);

/* ---------------------------------------------------------------- hash table of byte keys */

/* Open addressing over xxHash3 of the key; keys and values live in one arena,
 * so an insert is not a malloc. Used by count_by_value (and the shuffle). */
typedef struct ember__htab {
    size_t *slots; /* offset + 1 into arena of the entry; 0 empty */
    uint64_t *hashes;
    size_t cap, len;
    ember_buf arena; /* entries: varint klen, key, 8-byte value */
} ember__htab;

void ember__htab_init(ember__htab *h);
void ember__htab_destroy(ember__htab *h);
/* The 8-byte value slot of key, inserted as zero when new; NULL on ENOMEM. The
 * pointer is valid until the next insert. */
int64_t *ember__htab_upsert(ember__htab *h, ember_bytes key);
/* Entry i of the arena walk: call with *pos 0, then it advances; 0 at the end. */
int ember__htab_next(const ember__htab *h, size_t *pos, ember_bytes *key, int64_t *val);
uint64_t ember__hash(ember_bytes b);

/* ---------------------------------------------------------------- handles */

/* A registry of live handles, so a freed or closed handle gives EMBER_ECTX
 * instead of a use after free. */
enum { EMBER__H_CTX = 1, EMBER__H_RDD, EMBER__H_BCAST, EMBER__H_ACC };
int ember__handle_add(const void *p, int type);
void ember__handle_del(const void *p);
bool ember__handle_ok(const void *p, int type);

/* ---------------------------------------------------------------- errors */

/* The task running on this thread (struct ember__task, src/sched/), NULL outside
 * tasks. Errors raised on a task's thread never touch the context's message,
 * which belongs to the driver. */
extern _Thread_local struct ember__task *ember__cur_task;

/* Set the context's message (printf format) and return code. With ctx NULL the
 * thread's own message is set. */
int ember__err(const ember_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ember__code_name(int code);

/* ---------------------------------------------------------------- executor table */

/* Runs task i of a batch; worker is the running thread's index (0: the caller). */
typedef void ember__task_fn(void *batch, int i, int worker);

struct ember__task_io;

/* Where a worker's task keeps what the driver reads or sets while it runs, in
 * memory both see: the number of the record being processed, the task's halt
 * word, the cancel word. */
typedef struct ember__worker_env {
    _Atomic int64_t *cursor;
    _Atomic int *halt;
    _Atomic int *cancel;
} ember__worker_env;

typedef struct ember__executor_ops {
    const char *name;
    /* Run fn(batch, i, w) for i in [0, ntasks) and return when all are done. The
     * calling thread takes part. Returns 0 (task failures are the batch's business). */
    int (*run)(void *impl, int ntasks, ember__task_fn *fn, void *batch);
    void (*destroy)(void *impl);

    /* Distributed backends only (NULL for local ones): collectives over the ranks,
     * called by every rank's driver thread in the same order. A rank that dies
     * ends the job (the launcher's business); these return 0 or EMBER_ENOMEM. */
    /* Every rank's bytes, in rank order: all gets them, offs[r] where rank r's
     * start (offs has ranks + 1 entries). */
    int (*allgather)(void *impl, const ember_buf *mine, ember_buf *all, size_t *offs);
    /* send[r] goes to rank r; recv[r] gets what rank r sent here (ranks entries). */
    int (*alltoall)(void *impl, const ember_buf *send, ember_buf *recv);
    /* root's buf replaces every other rank's. */
    int (*bcast)(void *impl, ember_buf *buf, int root);
    void (*barrier)(void *impl);

    /* Isolated backends only (process[N]; NULL otherwise): tasks run in other
     * address spaces, one attempt at a time, and what an attempt leaves comes
     * back as bytes (sched/job.c says how). Returns when every task is done:
     * succeeded, or failed its last attempt. 0, or EMBER_ENOMEM. */
    int (*run_isolated)(void *impl, int ntasks, const struct ember__task_io *io, void *batch);
} ember__executor_ops;

/* What an isolated backend asks of the job layer (sched/job.c). */
typedef struct ember__task_io {
    /* In a worker: run attempt `attempt` of task i in env, skipping the
     * source's record number skip (1-based; 0 none: a record that crashed two
     * attempts) with why its reason. Its outcome goes into out (and the
     * descriptors it hands over into fds, *nfds of them, 8 at most). */
    void (*run)(void *batch, int i, int attempt, int worker, int64_t skip, const char *why,
                const struct ember__worker_env *env, ember_buf *out, int *fds, int *nfds);
    /* On the driver: an attempt starts on worker pid, or ends with what run
     * packed (fds received, or -1). land returns 1 when the task is done, 0 to
     * run it again (its next attempt). */
    void (*started)(void *batch, int i, int attempt, int worker, int pid);
    int (*land)(void *batch, int i, int attempt, ember_bytes packed, const int *fds, int nfds);
    /* On the driver: the attempt's worker died; why says how. 1 done, 0 again. */
    int (*died)(void *batch, int i, int attempt, const char *why);
    /* In a worker, once, right after the fork: what the driver's threads held
     * is not the worker's (no listeners, no blocking pool). */
    void (*child)(void *batch);
    /* The context's attempts per task, its partition for task i (for
     * messages), and whether a record that crashed two attempts is skipped. */
    int max_attempts;
    const int *partitions;
    int poison;
} ember__task_io;

/* ---------------------------------------------------------------- lineage */

/* A kind of node, as one static const table in the module that defines it
 * (the map kinds in sched/pipeline.c, files in io/, shuffles in shuffle/, HTTP
 * in net/): its name, how a partition is computed, what must run before the
 * first action that needs it, what frees its state. A node's kind is its type:
 * n->type == &ember__map_type. */
typedef struct ember__node_type {
    const char *name;
    unsigned flags; /* EMBER__NT_* */
    /* Push the records of partition part into sink, on a task's thread; 0 or
     * the task's failure. NULL for a node that cannot be computed (errors). */
    int (*compute)(ember_rdd *n, int part, ember_out *sink);
    /* On the driver, once, before the first action that needs the node and
     * after its parents' own: a shuffle's map side, zip_with_index's counting
     * (each a stage of the action's job). 0 or the failure (message on the
     * context). NULL: nothing to do. */
    int (*prepare)(ember_rdd *n, const char *action);
    /* Release the kind's state (n->u, n->state). NULL: nothing to free. */
    void (*free)(ember_rdd *n);
} ember__node_type;

enum {
    EMBER__NT_WIDE = 1,              /* reads a shuffle: a stage starts at its output */
    EMBER__NT_KEEPS_PARTITIONER = 2, /* keys stay in their partitions (map_values, filter) */
    EMBER__NT_READER = 4,            /* a file reader: u.state starts with io's ember__input */
    EMBER__NT_CALLS_OUT = 8 /* each record costs a call out (HTTP, a database, a command) */
};

/* The node that carries an error to its action (core/rdd.c). */
extern const ember__node_type ember__error_type;

struct ember_rdd {
    ember_ctx *ctx;
    const ember__node_type *type;
    const char *op; /* Spark's name of the operation, for messages */
    int64_t id;
    int nparts;
    int hash_parts; /* hash-partitioned by key into this many (0: not known) */
    bool int_hash;  /* ... by int64 keys, k mod n (Spark's), not by their bytes' hash */
    ember_partition_fn *part_fn; /* ... or by a caller's function (and its arg) */
    struct ember__ck *ck;        /* checkpoint or local_checkpoint asked (sched/checkpoint.c) */
    void *part_arg;
    unsigned char kind, key_kind; /* enum ember_kind of the values and keys (0: bytes) */
    /* Kinds a job may learn (sched/kinds.c): where the values' and the keys'
     * kind come from (EMBER__KS_*: kind/key_kind as they are, this node's
     * typed emits, a parent's), and the kind found, 1 + enum ember_kind (0:
     * not yet). The fields above stay what construction knew: what a
     * transformation decides when built (a shuffle's partitioner) does not
     * depend on what an earlier action happened to learn. */
    unsigned char kind_rule, key_rule, kind_found, key_found;
    ember_rdd *kinds_like; /* EMBER__KS_LIKE: this node's kinds are its */
    int children;          /* live rdds built on this one */
    bool held;             /* the program still holds it (not ember_free'd) */
    bool prepared;         /* type->prepare has run */
    ember_rdd *parent, *parent2;
    ember_rdd *prev, *next; /* the context's list of live nodes */

    /* user function and argument, for the function kinds */
    union {
        ember_map_fn *map;
        ember_pred_fn *pred;
        ember_part_fn *part;
    } fn;
    void *arg;

    /* cache */
    bool persisted; /* cache_mu is initialised */
    bool cache_on;  /* partitions are kept once computed */
    pthread_mutex_t cache_mu;
    ember_buf *cached; /* nparts arenas, valid where have[i] */
    bool *have;

    /* the kind's own state: core's and sched's kinds inline, the lower
     * layers' (files, shuffles, HTTP) behind state; freed by type->free */
    union {
        struct {
            int code;
            char *msg; /* NULL: out of memory building the lineage */
        } error;
        ember_buf *arenas; /* parallelize: nparts arenas */
        struct {
            int64_t *values;     /* parallelize_i64 (NULL for range) */
            uint64_t count;      /* number of values */
            int64_t start, step; /* range */
        } ints;
        struct {
            bool with_replacement;
            double fraction;
            uint64_t seed;
        } sample;
        int64_t *offsets; /* zip_with_index: first index of each partition (prepare) */
        int *group;       /* coalesce: partition i reads parent's [group[i], group[i+1]) */
        void *state;
    } u;
};

/* ember_rdd::kind_rule and key_rule. */
enum {
    EMBER__KS_FINAL = 0, /* kind (key_kind) as it is */
    EMBER__KS_EMITS,     /* the typed emits of this node's function */
    EMBER__KS_P_VAL,     /* the parent's values' kind */
    EMBER__KS_P_KEY,     /* the parent's keys' kind */
    EMBER__KS_P2_VAL,    /* the second parent's values' kind */
    EMBER__KS_BOTH,      /* the same side of both parents, when they agree */
    EMBER__KS_LIKE       /* the same side of kinds_like */
};

static inline bool ember__rdd_failed(const ember_rdd *r)
{
    return r->type == &ember__error_type;
}

/* Build a node of type with parents (which gain a child); on ENOMEM the
 * context's out-of-memory node (an error node, the message set on ctx). */
ember_rdd *ember__rdd_new(ember_ctx *ctx, const ember__node_type *type, const char *op, int nparts,
                          ember_rdd *parent, ember_rdd *parent2);
/* An rdd that carries an error to its action. */
ember_rdd *ember__rdd_error(ember_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A new error node with the error failed carries (the first error, passed on
 * through a transformation of a failed rdd). */
ember_rdd *ember__rdd_carry(ember_ctx *ctx, const ember_rdd *failed);
/* Check an rdd handed in by the program; on failure set the message and return a
 * code (EMBER_EINVAL for NULL, EMBER_ECTX for a freed one, the node's own error). */
int ember__rdd_check(ember_rdd *rdd, const char *op);
/* The common start of a transformation, on the driver: true when rdd is a usable
 * parent; otherwise false, the error set, and *ret what to return (the parent's
 * first error carried on, or NULL). */
bool ember__parent_usable(ember_rdd *rdd, const char *op, ember_rdd **ret);
/* The same for a transformation of two rdds (union, cartesian, join): both
 * usable and of one context, or false with *ret the error node. */
bool ember__parents_usable(ember_rdd *a, ember_rdd *b, const char *op, ember_rdd **ret);
/* Set up and tear down ctx->oom (open, close). */
int ember__rdd_oom_init(ember_ctx *ctx);
void ember__rdd_oom_destroy(ember_ctx *ctx);
/* Release n's parents (a lineage cut: checkpoint). */
void ember__rdd_unparent(ember_rdd *n);
/* Free every node of ctx (close). */
void ember__rdd_free_all(ember_ctx *ctx);
void ember__cache_drop(ember_rdd *rdd);
/* Keep b as partition part of persisted r's cache, unless it is there (a
 * worker's computed partition, handed back). 0. */
int ember__cache_put(ember_rdd *r, int part, ember_bytes b);

/* ---------------------------------------------------------------- context */

typedef struct ember__job_rec ember__job_rec;

typedef struct ember__acc_list {
    ember_accumulator *head;
} ember__acc_list;

typedef struct ember__bpool ember__bpool; /* src/exec/blocking.c */

/* A worker's halt word, alone on its cache line: workers do not share lines. */
struct ember__halt_word {
    _Atomic int word;
    char pad[64 - sizeof(int)];
};

struct ember_ctx {
    char master[64];
    char *app_name;
    int rank, ranks; /* this process among the context's processes (0 and 1: local) */
    int parallelism;
    int max_failures;
    int stats_on;         /* time user functions, print stats at close */
    bool overwrite;       /* save_as_* may replace an existing directory */
    bool read_unfinished; /* readers take part files without _SUCCESS */
    size_t memory_budget; /* bytes of shuffle buffers, all tasks together */
    char *spill_dir;
    bool isolated;   /* tasks run in worker processes (process[N]) */
    bool in_worker;  /* this process is one of them */
    bool poison;     /* process[N]: a record that crashed two attempts is diverted */
    char *bad_dir;   /* ... to here */
    int bad_records; /* conf.bad_records: what a sink does with a row it cannot take (db) */
    char *ck_dir;    /* ember_set_checkpoint_dir: this application's directory in it */

    const ember__executor_ops *exec;
    void *exec_impl;

    char errmsg[1024];
    /* ember_cancel: set from any thread or a signal handler, read by the tasks'
     * source loops once a record; cleared when a job reports the cancellation */
    _Atomic int cancel;
    struct ember__halt_word *halts; /* one per worker thread: its running task's halt */
    void *halts_mem;
    int nhalts;
    /* What a transformation returns when memory runs out building its node: an
     * error node that needs no allocation, so a chain of calls still carries
     * EMBER_ENOMEM to its action. Never freed, never linked. */
    struct ember_rdd oom;
    int64_t next_rdd_id;
    ember_rdd *nodes; /* list of live nodes */
    ember_broadcast *bcasts;
    ember_accumulator *accs;
    int64_t next_acc_id;
    pthread_mutex_t acc_mu; /* merging task updates into accumulators */

    /* src/exec/blocking.c: the pool of threads for blocking calls
     * (map_concurrent), made by the driver on first use, freed at close */
    struct ember__bpool *bpool;

    /* the application: its id and settings (name, value, ..., NULL), and the
     * web UI, event log and progress bar (src/ui, NULL when all are off) */
    char *app_id;
    char **props;
    struct ember__ui *ui;
    _Atomic int64_t next_task_id;

    /* events (src/sched/events.c): listeners under ev_mu; ev_mask has a bit
     * for each event type some listener wants, read without the lock */
    pthread_mutex_t ev_mu;
    struct ember__listener *listeners;
    int nlisteners, cap_listeners;
    _Atomic unsigned ev_mask;
    _Atomic unsigned ev_public; /* the masks of the program's listeners (they read names) */
    uint64_t app_start_ns;
    int64_t rt_off; /* CLOCK_REALTIME less CLOCK_MONOTONIC (events.c), at the job's start */
    /* the job of the action running (action_depth > 0): one action, one job */
    int action_depth;
    int64_t next_job_id, next_stage_id, cur_job;
    const char *cur_job_name;
    uint64_t job_t0;
    int job_stages, job_failed_tasks, job_failed;
    ember_task_metrics job_metrics;
    void *stats; /* the stats listener's state (src/sched/stats.c) */

    /* stats: the last EMBER__JOBS_KEPT jobs, by job id modulo */
    int64_t jobs_run;
    ember__job_rec *jobs;
    ember_stage_stats totals;
    uint64_t totals_wall_ns;
};

#define EMBER__JOBS_KEPT 1024

uint64_t ember__now_ns(void);
/* *ts = CLOCK_REALTIME now plus ns: a deadline for pthread_cond_timedwait */
void ember__deadline(struct timespec *ts, uint64_t ns);
/* A mutex held for a few hundred nanoseconds by threads that meet often (the
 * listener bus, the event log's buffer, the UI's model): it spins briefly
 * before sleeping, so a collision costs a wait of that length, not a futex
 * sleep and a wake. */
void ember__mutex_init_short(pthread_mutex_t *mu);
/* The process's id, read once (a fork's child reads its own) */
int ember__pid(void);

#endif
