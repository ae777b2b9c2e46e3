/* Internal interface of the scheduler: tasks, the fused pipeline, jobs. */
#ifndef EMBER_SCHED_H
#define EMBER_SCHED_H

#include "core/core.h"

typedef struct ember__job ember__job;

/* The task counters, defined once: X(field, column, width). They are fields of
 * the task, of ember_task_metrics and of ember_stage_stats (same names, same
 * order), summed into stages and jobs, packed between ranks (sched/job.c) and
 * printed by the stats (sched/stats.c). The times (run_ns, user_ns) go with
 * them in the metrics and the stages. */
#define EMBER__COUNTERS(X)                                                                         \
    X(records_in, "records_in", 12)                                                                \
    X(records_out, "records_out", 12)                                                              \
    X(records_bad, "bad", 8)                                                                       \
    X(shuffle_write_records, "shuf_w_recs", 12)                                                    \
    X(shuffle_write_bytes, "shuf_w_bytes", 12)                                                     \
    X(shuffle_read_records, "shuf_r_recs", 12)                                                     \
    X(shuffle_read_bytes, "shuf_r_bytes", 12)                                                      \
    X(spill_count, "spills", 6)                                                                    \
    X(spill_bytes, "spill_bytes", 12)
#define EMBER__COUNTER_FIELD(f, col, w) int64_t f;
#define EMBER__COUNTER_ADD(f, col, w) d->f += s->f;
#define EMBER__COUNTER_COPY(f, col, w) d->f = s->f;

/* d += s: the metrics of attempts, stages or jobs. */
static inline void ember__metrics_add(ember_task_metrics *d, const ember_task_metrics *s)
{
    d->run_ns += s->run_ns;
    d->user_ns += s->user_ns;
    EMBER__COUNTERS(EMBER__COUNTER_ADD)
}

static inline void ember__stage_add(ember_stage_stats *d, const ember_stage_stats *s)
{
    d->tasks += s->tasks;
    d->attempts += s->attempts;
    d->failed_attempts += s->failed_attempts;
    d->sched_ns += s->sched_ns;
    d->gather_ns += s->gather_ns;
    d->run_ns += s->run_ns;
    d->user_ns += s->user_ns;
    EMBER__COUNTERS(EMBER__COUNTER_ADD)
}

/* The metrics part of a stage's stats, and back. */
static inline void ember__stage_metrics(ember_task_metrics *d, const ember_stage_stats *s)
{
    d->run_ns = s->run_ns;
    d->user_ns = s->user_ns;
    EMBER__COUNTERS(EMBER__COUNTER_COPY)
}

static inline void ember__stage_set_metrics(ember_stage_stats *d, const ember_task_metrics *s)
{
    d->run_ns = s->run_ns;
    d->user_ns = s->user_ns;
    EMBER__COUNTERS(EMBER__COUNTER_COPY)
}

/* An accumulator update made by the running attempt, merged when it succeeds. */
typedef struct ember__acc_update {
    ember_accumulator *acc;
    int64_t i64;
    double f64;
    ember_buf bytes;
    bool set;
} ember__acc_update;

/* One attempt of one task, on the stack of the thread that runs it. */
typedef struct ember__task {
    ember_ctx *ctx;
    ember__job *job;
    int index;     /* in the job */
    int partition; /* of the job's rdd */
    int attempt;   /* 1-based */
    bool stop;     /* the action has what it needs (take) */
    /* stop, a failure or a cancel: the source loops look at this one word. A
     * task a worker runs points it at the worker's word in the context, which
     * ember_cancel (a signal handler) can set without a lock; others at
     * halt_own. */
    _Atomic int *halt;
    _Atomic int halt_own;
    bool timed, in_user;
    uint64_t user_t0, user_ns;
    EMBER__COUNTERS(EMBER__COUNTER_FIELD) /* what the attempt did */
    int worker;                           /* the thread running it (its halt word's index) */
    int64_t task_id;                      /* unique in the application, for the events */
    int pid;                              /* process[N]: the worker that ran it (0: this process) */
    bool lost;                            /* ... and it died or was killed */
    /* process[N]: the number of the source record being processed, in a page
     * the driver reads when the worker dies; a record to pass over (1-based, 0
     * none) and why */
    _Atomic int64_t *cursor;
    int64_t skip;
    const char *skip_why;
    _Atomic int *cancel; /* the context's cancel word (a worker's: shared with the driver) */
    /* ... the partitions it cached, handed back to the driver's nodes */
    struct {
        ember_rdd *node;
        int part;
    } fills[8];
    int nfills;
    unsigned char probe_kind; /* a kind probe: the typed emit of the first record */
    int fail_code;            /* the first failure of this attempt */
    char fail_msg[512];
    ember__acc_update *accs;
    int naccs, cap_accs;
} ember__task;

/* An emitter: the step a record is handed to. Stages of the pipeline are chains
 * of these on the task's stack; the last is the action's sink. */
struct ember_out {
    int (*push)(ember_out *self, const ember_rec *rec);
    ember_out *next;
    /* An emitter that only counts and forwards (map, flat_map, untimed) sets fwd:
     * ember_emit* then hands the record to fwd itself, one call fewer a record. */
    ember_out *fwd;
    int64_t emitted;
    ember__task *task;
    ember_rdd *node;
    void *state;             /* the sink's per-task state */
    unsigned char reads;     /* EMBER__READS_*: what the step does with a record */
    unsigned char kind_seen; /* the kind of the typed emit being pushed (kinds.c) */
};

/* ember_out::reads: the step hands each record to user code before its push
 * returns (map, flat_map, map_values, flat_map_values, foreach), or passes it
 * on unchanged (filter); 0: anything else (it may keep the record). */
enum { EMBER__READS_NOW = 1, EMBER__READS_PASS = 2 };

/* Push every record of partition part of n into sink. 0 when done, EMBER__STOP when
 * the sink asked to stop, or the failure (also in sink->task->fail_code). */
int ember__compute(ember_rdd *n, int part, ember_out *sink);
/* The same past n's cache (its own records computed afresh). */
int ember__compute_uncached(ember_rdd *n, int part, ember_out *sink);

/* The kinds sched defines (sched/pipeline.c), built by sched/lineage.c. */
#define EMBER__SCHED_TYPES(X)                                                                      \
    X(arena)                                                                                       \
    X(i64)                                                                                         \
    X(range)                                                                                       \
    X(map)                                                                                         \
    X(flat_map)                                                                                    \
    X(filter)                                                                                      \
    X(map_values)                                                                                  \
    X(flat_map_values)                                                                             \
    X(key_by)                                                                                      \
    X(key_by_whole)                                                                                \
    X(unwrap)                                                                                      \
    X(keys)                                                                                        \
    X(values)                                                                                      \
    X(sample)                                                                                      \
    X(zip_index)                                                                                   \
    X(zip_unique)                                                                                  \
    X(cartesian)                                                                                   \
    X(map_partitions)                                                                              \
    X(glom)                                                                                        \
    X(union)                                                                                       \
    X(coalesce)
#define EMBER__TYPE_DECL(k) extern const ember__node_type ember__##k##_type;
EMBER__SCHED_TYPES(EMBER__TYPE_DECL)
#undef EMBER__TYPE_DECL

/* Partition part of parent as encoded records, for node n's task t: in place
 * (parallelize, a cached partition) or computed into own. 0 or the failure. */
int ember__partition_bytes(ember_rdd *n, ember_rdd *parent, int part, ember__task *t,
                           ember_buf *own, const ember_buf **bytes);

/* Push the records of an encoded partition a into o (a task's source loop). */
int ember__feed_arena(const ember_buf *a, ember_out *o, const char *what, int part);
/* checkpoint, local_checkpoint (sched/checkpoint.c): materialize n and cut
 * its lineage, in the action's prepare; and the files removed at close. */
int ember__checkpoint_run(ember_rdd *n, const char *action);
void ember__checkpoint_cleanup(ember_ctx *ctx);

/* Collect partitions parts[0..n) (NULL: all) as action op's job. */
int ember__collect_parts(ember_rdd *rdd, const char *op, const int *parts, int n,
                         ember_result **out);

/* splitmix64: seeds the samplers per (seed, partition), and is them; a
 * uniform draw in [0, 1) from it. */
static inline uint64_t ember__splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline double ember__unit(uint64_t *s)
{
    return (double)(ember__splitmix(s) >> 11) * 0x1.0p-53;
}

/* A Poisson(lambda) draw from splitmix state s (sample, sample_by_key). */
int64_t ember__poisson(uint64_t *s, double lambda);

/* The order of a kind (the comparators of ember.h; bytes for the others). */
static inline ember_cmp_fn *ember__cmp_of(int kind)
{
    return kind == EMBER_KIND_I64   ? ember_cmp_i64
           : kind == EMBER_KIND_F64 ? ember_cmp_f64
                                    : ember_cmp_bytes;
}

/* The kind of rdd's values (keys: of its keys) for a job of action: the one
 * it was built with, or the one its lineage's user functions emit (ember_emit_i64
 * …), learned once by running the function that decides it up to its first
 * record (a stage of the action's job). On the driver only; 0 or the failure
 * of that stage (message on the context). */
int ember__kind_for(ember_rdd *rdd, bool keys, const char *action, int *kind);
/* That kind as learned already (in a task, after the prepare that learned
 * it), or as built. */
static inline int ember__kind_known(const ember_rdd *rdd, bool keys)
{
    int found = keys ? rdd->key_found : rdd->kind_found;
    return found ? found - 1 : keys ? rdd->key_kind : rdd->kind;
}
/* Whether learning that kind runs a job (a probe not run yet). */
bool ember__kind_needs_job(const ember_rdd *rdd, bool keys);
/* r, built on parent, keeps its records as they are: its kinds, learned
 * where parent learns them. */
void ember__kinds_pass(ember_rdd *r, const ember_rdd *parent);
/* Both kinds learned and kept on rdd, before its parents go (checkpoint). */
void ember__kinds_settle(ember_rdd *rdd, const char *action);
/* The node a kind probe runs on: partition p of its parent, bypassing the
 * parent's cache so that its function runs. */
extern const ember__node_type ember__probe_type;

/* sort_by: key_by keeping each whole record (a pair too) as the value, and
 * its inverse, the values read back as the records they were. */
ember_rdd *ember__key_by_whole(ember_rdd *rdd, ember_map_fn *fn, void *arg);
ember_rdd *ember__unwrap(ember_rdd *rdd, const char *op);

/* zip_with_index's prepare: the size of every partition before it, counted by a
 * stage of the action's job (sched/job.c). */
int ember__zip_prepare(ember_rdd *n, const char *action);

static inline void ember__user_begin(ember__task *t)
{
    if (t->timed) {
        t->in_user = true;
        t->user_t0 = ember__now_ns();
    }
}

static inline void ember__user_end(ember__task *t)
{
    if (t->timed && t->in_user) {
        t->user_ns += ember__now_ns() - t->user_t0;
        t->in_user = false;
    }
}

/* After user code of operation op returned rc: 0 to go on, or the failure (or
 * EMBER__STOP) to return. A negative rc is recorded as the task's failure. */
int ember__after_user_slow(ember__task *t, const char *op, int rc);
static inline int ember__after_user(ember__task *t, const char *op, int rc)
{
    if (__builtin_expect(!(rc | t->fail_code | (int)t->stop), 1))
        return 0;
    return ember__after_user_slow(t, op, rc);
}

/* After user code returned rc, per record: a negative rc other than EMBER__STOP
 * becomes the task's failure; rc is returned as it is (positive counts as 0). The
 * task's flags are left to the source loop (ember__task::halt). */
int ember__user_failed(ember__task *t, const char *op, int rc);
static inline int ember__user_rc(ember__task *t, const char *op, int rc)
{
    if (__builtin_expect(rc >= 0, 1))
        return 0;
    return ember__user_failed(t, op, rc);
}

/* What the source loops test once a record: the task's halt word (a failure,
 * the sink's stop, or a cancel of the context's action). One load. */
static inline int ember__halted(const ember__task *t)
{
    return atomic_load_explicit(t->halt, memory_order_relaxed);
}

/* After a source loop stopped on ember__halted: the code to return (the
 * task's failure, EMBER_ECANCELED, or EMBER__STOP). */
int ember__halt_code(ember__task *t);

/* The sink has what it needs: stop the task's sources. */
static inline void ember__task_stop(ember__task *t)
{
    t->stop = true;
    atomic_store_explicit(t->halt, 1, memory_order_relaxed);
}

/* Record the first failure of the attempt; returns code. */
int ember__task_fail(ember__task *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- jobs */

/* What an action does with the records of each task. */
typedef struct ember__sink_ops {
    size_t state_size;
    /* The terminal push; self->state is the task's state. Counts records_out. */
    int (*push)(ember_out *self, const ember_rec *rec);
    /* Before each attempt: drop what a failed attempt left (state starts zeroed).
     * 0, or EMBER_ENOMEM to fail the attempt. */
    int (*reset)(void *state, const ember__job *job);
    /* After the job, for every task. */
    void (*destroy)(void *state);
    /* Optional: when an attempt's records are all in, before it counts as done
     * (flush and commit a task's output). 0, or a failure of the attempt. */
    int (*finish)(void *state, ember__task *t);
    /* Distributed runs (ranks > 1): a finished task's state as bytes for the
     * other ranks, and those bytes made into the state of the same task on a
     * rank that did not run it (state reset first). NULL: nothing to gather
     * (each rank's state stays as reset). 0 or EMBER_ENOMEM (EMBER_EIO when the
     * bytes do not decode). */
    int (*pack)(const void *state, const ember__job *job, ember_buf *out);
    int (*unpack)(void *state, const ember__job *job, ember_bytes in);
    unsigned char reads; /* ember_out::reads of the terminal push (foreach: READS_NOW) */
    /* Isolated backends (process[N]): the state as bytes for the driver alone,
     * when pack (which every rank would get) is not the way (a shuffle's map
     * side); NULL: pack and unpack. ship_fds hands over descriptors (at most
     * max, into fds; returns how many), take_fds receives them. */
    int (*ship)(const void *state, const ember__job *job, ember_buf *out);
    int (*take)(void *state, const ember__job *job, ember_bytes in);
    int (*ship_fds)(void *state, int *fds, int max);
    void (*take_fds)(void *state, const int *fds, int n);
} ember__sink_ops;

struct ember__job {
    ember_ctx *ctx;
    ember_rdd *rdd;
    const char *action;
    const ember__sink_ops *sink;
    const void *arg; /* the action's parameters, read-only in tasks */
    int ntasks;
    int *parts;            /* partition of each task */
    unsigned char *states; /* ntasks * stride, each on its own cache lines */
    unsigned char *states_mem;
    size_t stride;
    atomic_bool abort;
    pthread_mutex_t mu;
    int err, err_task;
    char errmsg[768];
    uint64_t t_start, t_run_start, t_run_end;
    int64_t task_id_base; /* the ids of its tasks' first attempts start here */
    ember_stage_stats stage;
    /* the stage this run is, in the job of the running action */
    int64_t job_id, stage_id;
    int stage_kind;
    char stage_name[320];
};

/* A kind probe's job: its tasks' accumulator updates are dropped (it is not
 * the program's work, and runs a function again on a record). */
static inline bool ember__job_is_probe(const ember__job *job)
{
    return job && job->rdd && job->rdd->type == &ember__probe_type;
}

/* Run one job over the partitions listed (NULL: all of them). On 0, *out holds the
 * tasks' states for the action to gather; finish with ember__job_end(). On failure
 * the message is on the context and the job is already ended. */
int ember__job_run(ember_rdd *rdd, const char *action, const ember__sink_ops *sink, const void *arg,
                   const int *parts, int nparts, ember__job **out);
/* The same, for a stage that is not the action's result: the map side of a
 * shuffle, a sampling or counting pass. what ends its name, after the
 * operations it runs: "reduce_by_key (map side)". */
int ember__stage_run(ember_rdd *rdd, const char *action, const ember__sink_ops *sink,
                     const void *arg, const int *parts, int nparts, int kind, const char *what,
                     ember__job **out);

/* An action out of memory gathering its tasks' results: the message, and
 * EMBER_ENOMEM. */
static inline int ember__gather_nomem(ember_ctx *ctx, const char *action)
{
    return ember__err(ctx, EMBER_ENOMEM, "%s: out of memory gathering the results", action);
}

/* The count of records: a task's state is an int64_t (sched/actions.c). */
extern const ember__sink_ops ember__count_sink;
/* Spark's StatCounter of the 8-byte numbers (num) of partitions parts[0..nparts)
 * of rdd (every partition when parts is NULL), finished, and their int64 sum
 * when isum (sched/numbers.c). 0 or the failure, its message on ctx. */
int ember__stats_run(ember_rdd *rdd, const char *op, ember_num num, const int *parts, int nparts,
                     ember_stat_counter *out, int64_t *isum);
/* o merged into s (Spark's StatCounter.merge; s's variances stale after). */
void ember__stat_merge(ember_stat_counter *s, const ember_stat_counter *o);

/* ---------------------------------------------------------------- events (sched/events.c) */

void ember__events_init(ember_ctx *ctx);
void ember__events_close(ember_ctx *ctx);
/* Register an internal listener for the event types in mask (1 << type).
 * concurrent: it takes task events from several task threads at once, before
 * the others and without the event lock (it has a lock of its own, or a
 * buffer a thread). */
int ember__listen(ember_ctx *ctx, ember_listener_fn *fn, void *arg, unsigned mask, bool concurrent);
/* The same for a listener that reads times and stage names (the web UI, the
 * event log), as the program's do; it first hears the application's start
 * when mask has it. */
int ember__listen_named(ember_ctx *ctx, ember_listener_fn *fn, void *arg, unsigned mask,
                        bool concurrent);
/* The application's start, as a listener added later first hears it. */
void ember__app_start_event(const ember_ctx *ctx, ember_event *ev);
/* Deliver ev (its time and app name filled in) to the listeners that want it. */
void ember__emit(ember_ctx *ctx, ember_event *ev);
/* Events that come from task threads, several at once: the tasks', and
 * ember's own (HTTP, spills, bad records); the others come from the driver,
 * between a stage's tasks. */
static inline bool ember__ev_of_tasks(int type)
{
    return type == EMBER_EV_TASK_START || type == EMBER_EV_TASK_END || type >= EMBER_EV_HTTP;
}
/* Does some listener want events of this type? One load: test before building one. */
static inline bool ember__ev_wanted(const ember_ctx *ctx, int type)
{
    return atomic_load_explicit(&((ember_ctx *)ctx)->ev_mask, memory_order_relaxed) & (1u << type);
}
/* Open the job of an action (an action inside an action stays in its job). */
void ember__job_open(ember_ctx *ctx, const char *action);
/* End the running action with rc: the job ends when the outermost action does.
 * Returns rc. */
int ember__action_end(ember_ctx *ctx, int rc);
/* A stage of the running job ended with these sums. */
void ember__job_stage_done(ember_ctx *ctx, const ember_task_metrics *m, int failed_tasks);
/* The named accumulators' updates of t's attempt, into out (at most cap; names
 * borrowed from the accumulators). */
int ember__acc_updates(const ember__task *t, ember_accumulable *out, int cap);
/* The stats listener (sched/stats.c), registered at ember_open. */
int ember__stats_listen(ember_ctx *ctx);
static inline void *ember__job_state(const ember__job *job, int i)
{
    return job->states + (size_t)i * job->stride;
}
/* The task index of a state (for sinks that name files after their partition). */
static inline int ember__job_state_index(const ember__job *job, const void *state)
{
    return (int)((size_t)((const unsigned char *)state - job->states) / job->stride);
}
/* Distributed: what rank 0 decided (its rc, and its message on ctx when rc is
 * not 0) on every rank, for steps only rank 0 takes (the output commit). rc as
 * it is when local. */
int ember__agree(ember_ctx *ctx, int rc);
/* Distributed: the first failure of any rank (the lowest rank's rc, its
 * message on ctx), on every rank, for steps each rank takes on its own. rc as
 * it is when local. */
int ember__agree_any(ember_ctx *ctx, int rc);
/* The rank that runs partition partition's tasks (0 when local). */
int ember__task_owner(const ember_ctx *ctx, int partition);
/* Record the job's stats (gather time: until now), free it, return rc. */
int ember__job_end(ember__job *job, int rc);

/* ember_count under another action's name (the noop sink). */
int ember__count_as(ember_rdd *rdd, const char *action, int64_t *out);

/* Checks an action's rdd and runs the jobs its lineage needs first (zip offsets). */
int ember__action_begin(ember_rdd *rdd, const char *action);
/* True when o hands each record to user code before it returns, through
 * filters (ember_out::reads), so a value valid only during the push is read
 * in time. */
static inline bool ember__reads_now(const ember_out *o)
{
    for (; o && o->reads == EMBER__READS_PASS; o = o->next)
        ;
    return o && o->reads == EMBER__READS_NOW;
}

/* ---------------------------------------------------------------- results */

/* A result over nparts arenas and their record offsets (size_t each); takes
 * ownership of both arrays and their buffers on success. At most limit records. */
int ember__result_take(ember_buf *arenas, ember_buf *offs, int nparts, size_t limit,
                       ember_result **out);
/* A result holding copies of recs. */
int ember__result_copy(const ember_rec *recs, size_t n, ember_result **out);

/* ---------------------------------------------------------------- stats */

void ember__stats_free(ember_ctx *ctx);

/* ---------------------------------------------------------------- shared variables */

void ember__shared_free_all(ember_ctx *ctx);
/* Free an accumulator a node made for itself (a reader's bad-record count, an
 * http stage's counters), with the node: a program that builds many jobs does
 * not keep them all. From the driver, between actions. NULL is fine. */
void ember__accumulator_free(ember_accumulator *acc);
/* Merge an attempt's updates into the accumulators (on success). */
int ember__acc_commit(ember__task *t);
void ember__acc_discard(ember__task *t);
/* Move the updates gathered in from (a helper's stand-in for task t: its calls
 * ran on other threads) into t's, on t's thread. 0 or EMBER_ENOMEM. */
int ember__acc_absorb(ember__task *t, ember__task *from);
/* Distributed runs: an attempt's updates as bytes appended to out (accumulators
 * named by their creation order, the same on every rank), and dropped from t.
 * ember__acc_apply merges such bytes into the context's accumulators. */
int ember__acc_pack(ember__task *t, ember_buf *out);
int ember__acc_apply(ember_ctx *ctx, ember_bytes packed);
/* The named accumulators and their values, a line (stats). */
void ember__acc_print(const ember_ctx *ctx, FILE *fp);

#endif
