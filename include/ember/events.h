/* ember — the scheduler's events, as Spark's listener bus delivers them.
 *
 * Included by ember/ember.h; do not include it alone.
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
    EMBER_EV_COUNT
} ember_event_type;

/* Spark's name of an event type ("SparkListenerJobStart"); static storage. */
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
