/* ember — the scheduler's events, as Spark's listener bus delivers them.
 *
 * Included by ember/ember.h; including it alone brings ember/ember.h too.
 *
 * One action is one job. A job runs stages: the map side of each shuffle it
 * needs that has not run yet (a shuffle-map stage), and the action's own
 * passes over the result (result stages; take may run several). A stage runs a
 * task per partition; a task runs attempts. The scheduler reports each step as
 * an event to the listeners registered on the context: the stats summary is
 * one (ember_stats_print), the event log, the progress bar and the web UI are
 * others.
 */
#ifndef EMBER_EVENTS_H
#define EMBER_EVENTS_H

#include "ember/ember.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ember_event_type {
    EMBER_EV_APP_START = 1,   /* SparkListenerApplicationStart */
    EMBER_EV_APP_END,         /* SparkListenerApplicationEnd */
    EMBER_EV_JOB_START,       /* SparkListenerJobStart */
    EMBER_EV_JOB_END,         /* SparkListenerJobEnd */
    EMBER_EV_STAGE_SUBMITTED, /* SparkListenerStageSubmitted */
    EMBER_EV_STAGE_COMPLETED, /* SparkListenerStageCompleted */
    EMBER_EV_TASK_START,      /* SparkListenerTaskStart */
    EMBER_EV_TASK_END,        /* SparkListenerTaskEnd */
    EMBER_EV_HTTP,            /* ember's own: an ember_http stage's state, about once a second */
    EMBER_EV_SPILL,           /* ember's own: a map task wrote a run past the memory budget */
    EMBER_EV_BAD_RECORDS,     /* ember's own: a reader's task skipped or diverted records */
    EMBER_EV_COUNT
} ember_event_type;

/* Spark's name of an event type ("SparkListenerJobStart"; ember's own are
 * "ember.HttpStatus", "ember.Spill", "ember.BadRecords"); static storage. */
EMBER_EXTERN const char *ember_event_name(ember_event_type type);

/* What a task attempt did (Spark's task metrics); summed for stages and jobs. */
typedef struct ember_task_metrics {
    uint64_t run_ns;  /* the attempt's time on its thread */
    uint64_t user_ns; /* in user functions (timed when stats are on) */
    int64_t records_in, records_out, records_bad;
    int64_t shuffle_write_records, shuffle_write_bytes;
    int64_t shuffle_read_records, shuffle_read_bytes;
    int64_t spill_count, spill_bytes; /* runs written past the memory budget, bytes on disk */
} ember_task_metrics;

/* A named accumulator's update by a task attempt (Spark's accumulables): the
 * HTTP stage's counters (http[N].sent, ...), readers' bad-record counts, and
 * the program's own named accumulators. */
typedef struct ember_accumulable {
    const char *name;
    int is_f64;
    int64_t i64;
    double f64;
} ember_accumulable;

enum ember_stage_kind { EMBER_STAGE_RESULT = 0, EMBER_STAGE_SHUFFLE_MAP = 1 };

/* Latency bins of an HTTP stage's answers: bin 0 under 1 ms, bin i (1 to
 * EMBER_HTTP_LAT_BINS - 2) from 2^(i-1) to 2^i ms, the last 2^(N-2) ms and
 * more. */
#define EMBER_HTTP_LAT_BINS 20

/* An ember_http stage's state (EMBER_EV_HTTP): counts since the stage began,
 * every attempt included. */
typedef struct ember_http_status {
    int64_t rdd_id;
    int64_t sent, succeeded, retried, throttled, failed, resumed;
    int64_t done;      /* inputs finished */
    int64_t in_flight; /* requests on the wire now */
    double rate;       /* the pace the rate limit allows now, requests a second (0: none) */
    double tokens;     /* the bucket's level */
    double paused_s;   /* seconds left of a pause a 429 or 503 asked for (0: none) */
    int64_t latency[EMBER_HTTP_LAT_BINS]; /* final answers by latency */
} ember_http_status;

/* One event. Every pointer is borrowed for the duration of the call. */
typedef struct ember_event {
    ember_event_type type;
    uint64_t time_ns;     /* CLOCK_REALTIME, nanoseconds since the epoch */
    const char *app_name; /* every event */
    int64_t job_id;       /* job, stage and task events (from 0) */
    const char *job_name; /* ... the action: "collect", "save_as_text_file" */
    int64_t stage_id;     /* stage and task events (from 0, across jobs) */
    /* ... the fused operations the stage runs, source to sink, e.g.
     * "text_file -> flat_map -> map -> reduce_by_key (map side)" */
    const char *stage_name;
    int stage_kind;       /* ... enum ember_stage_kind */
    int num_tasks;        /* stage events */
    int task_index;       /* task events: the task's index in its stage */
    int partition;        /* ... the partition it computes */
    int attempt;          /* ... 1-based */
    int max_attempts;     /* ... the attempts a task gets */
    int failed;           /* end events: 1 when it failed (a cancel too) */
    int code;             /* ... its code (EMBER_E*), 0 when it succeeded */
    const char *error;    /* ... its message, "" when it succeeded */
    int stages;           /* job end: stages run */
    int tasks_failed;     /* stage completed, job end: task attempts that failed */
    uint64_t duration_ns; /* end events: start to end */
    /* stage completed: building its tasks, and gathering their results */
    uint64_t sched_ns, gather_ns;
    ember_task_metrics metrics;      /* task end: the attempt's; stage, job: summed */
    const ember_accumulable *accums; /* task end: the attempt's named updates */
    int naccums;
    int64_t task_id; /* task events: unique in the application (Spark's taskId) */
    int worker;      /* task events: the thread (0 to cores - 1) or rank running it */
    int worker_pid;  /* task events: the process that ran it (process[N]: the worker's) */
    int worker_lost; /* task end: 1 when that worker process died or was killed */
    /* application start: its id ("app-20261201121314-0001"), the master, the
     * cores its tasks run on, and its settings as NULL-terminated name,
     * value pairs (conf and EMBER_* environment) */
    const char *app_id;
    const char *master;
    int cores;
    const char *const *props;
    const ember_http_status *http; /* EMBER_EV_HTTP */
    /* EMBER_EV_SPILL: the run's bytes on disk (metrics.spill_bytes too) and the
     * budget; EMBER_EV_BAD_RECORDS: what, how many, where diverted (NULL:
     * skipped), and up to 8 of them as "file:line: why" (NULL-terminated) */
    int64_t bytes, memory_budget;
    const char *bad_op;
    int64_t bad_count;
    const char *bad_dir;
    const char *const *bad_samples;
} ember_event;

/* A listener: called for every event, in order, one call at a time (the
 * context's event lock is held: a listener must not call back into ember).
 * Job and stage events come from the thread running the action, task events
 * from the thread running the task; a listener that keeps what it sees copies
 * it. A listener costs nothing per record: events are per task at most. */
typedef void ember_listener_fn(const ember_event *ev, void *arg);

/* Register fn(ev, arg) on ctx; it first receives the application's start. 0,
 * EMBER_EINVAL, EMBER_ENOMEM. From the driver, between actions. */
EMBER_EXTERN int ember_add_listener(ember_ctx *ctx, ember_listener_fn *fn, void *arg);
/* Unregister it (the same fn and arg). 0, or EMBER_EINVAL when it is not there. */
EMBER_EXTERN int ember_remove_listener(ember_ctx *ctx, ember_listener_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
