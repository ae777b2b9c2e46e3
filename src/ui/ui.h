/* The UI layer (src/ui): what a user sees of an application while it runs and
 * after. Everything here is built from the scheduler's events:
 *
 *   model.c     the application as the events tell it: jobs, stages, tasks,
 *               threads, HTTP stages, spills, bad records (one mutex)
 *   eventlog.c  the events as JSON lines (Spark's event log), written off the
 *               task threads; json.c reads a line back into an event
 *   progress.c  Spark's console progress bar on stderr
 *   server.c    the web server (libmicrohttpd, 127.0.0.1 only): pages.c draws
 *               the pages, rest.c answers Spark's REST API from the model
 *   history.c   finished event logs replayed into models and served
 *
 * Only these files include <microhttpd.h>.
 */
#ifndef EMBER_UI_UI_H
#define EMBER_UI_UI_H

#include "sched/sched.h"

/* ---------------------------------------------------------------- the model (model.c) */

enum { UI_RUNNING = 1, UI_SUCCEEDED, UI_FAILED };

typedef struct ui_task {
    int64_t task_id;
    int index, partition, attempt, worker;
    int64_t launch_ms, duration_ms; /* duration: -1 while it runs */
    int status;
    ember_task_metrics m; /* run_ns and user_ns as whole milliseconds */
    char *error;
} ui_task;

typedef struct ui_stage {
    int64_t id, job_id;
    char *name;
    int kind, num_tasks, max_attempts;
    int active, complete, failed_attempts;
    int64_t submit_ms, complete_ms, sched_ms, gather_ms;
    int status;
    ember_task_metrics m; /* the finished tasks', summed; the stage's own at its end */
    char *failure;
    ui_task *tasks; /* attempts by task id (UI_TASKS_KEPT at most) */
    int ntasks, cap_tasks;
    int64_t tasks_dropped;
} ui_stage;

typedef struct ui_job {
    int64_t id;
    char *name;
    int64_t submit_ms, complete_ms;
    int status;
    int64_t *stage_ids;
    int nstages, cap_stages;
    char *error;
    ember_task_metrics m;
    int tasks_failed;
} ui_job;

typedef struct ui_http {
    int64_t rdd_id, stage_id;
    int64_t t_ms;
    ember_http_status st;
    /* inputs done and 429s over time: a point an event */
    struct ui_pt {
        int64_t t_ms, done, throttled;
    } * pts;
    int npts, cap_pts;
} ui_http;

typedef struct ui_spill {
    int64_t t_ms, stage_id;
    int partition;
    int64_t bytes;
} ui_spill;

typedef struct ui_bad {
    int64_t t_ms, stage_id;
    int partition;
    char *op, *dir;
    int64_t count;
    char **samples; /* NULL-terminated */
} ui_bad;

/* process[N]: a worker process, as its tasks' events name it */
typedef struct ui_proc {
    int pid, slot; /* slot: the executor thread that started it */
    int64_t first_ms, last_ms;
    int active, done, failed;
    int64_t ms;
    bool lost; /* it died or was killed (and was replaced) */
    char *why; /* ... how */
} ui_proc;

typedef struct ui_model {
    pthread_mutex_t mu;
    /* live: the task threads' starts and ends not applied yet, each thread's
     * in a slot of its own (ember__ui_model_sync applies them); NULL for a
     * model fed from a log */
    struct ui_pending *pending;
    char *app_name, *app_id, *master;
    char *user;   /* a replayed log's User (NULL live: ember__ui_user()) */
    char **props; /* name, value, ..., NULL */
    int cores;
    int64_t start_ms, end_ms; /* end: 0 while it runs */
    int64_t memory_budget;
    /* jobs and stages in id order, the newest kept (Spark's retainedJobs and
     * retainedStages: EMBER_UI_RETAINED_JOBS, _STAGES, 1,000 each): jobs[0] is
     * job job_base; finished ones older than the newest kept are dropped */
    ui_job *jobs;
    int njobs, cap_jobs;
    ui_stage *stages; /* stages[0] is stage stage_base */
    int nstages, cap_stages;
    int64_t job_base, stage_base;
    int keep_jobs, keep_stages;
    /* what was dropped: jobs by their end, stages; and the dropped stages'
     * shuffle bytes (the executors' totals) */
    int64_t jobs_gone[UI_FAILED + 1], stages_gone, gone_read, gone_written;
    /* threads: tasks running on each, done, failed, time; cores in use over time */
    int nworkers;
    struct ui_worker {
        int active, done, failed;
        int64_t ms;
    } * w; /* each thread's counts together: one line of memory an event */
    int active;
    struct ui_use {
        int64_t t_ms;
        int n;
    } * use;
    int nuse, cap_use;
    ui_http *http;
    int nhttp;
    ui_spill *spills; /* the last UI_SPILLS_KEPT */
    int nspills;
    int64_t spill_count, spill_bytes;
    ui_bad *bad; /* the last UI_BAD_KEPT */
    int nbad;
    int64_t bad_total;
    int64_t last_ms; /* the last event's time */
    bool by_process; /* the master is process[...]: its worker processes are kept */
    ui_proc *procs;  /* the last UI_PROCS_KEPT, in the order they first ran a task */
    int nprocs, cap_procs;
    int64_t procs_seen, procs_lost;
    /* a history's application not read whole (what a list of them shows: the
     * application's start and end, its last event's time, its jobs) */
    bool summary;
    int64_t summary_jobs;
} ui_model;

#define UI_TASKS_KEPT 100000
#define UI_HTTP_KEPT 100 /* HTTP stages */
#define UI_USE_KEPT 4096 /* points of a chart over time */
#define UI_SPILLS_KEPT 1000
#define UI_BAD_KEPT 200
#define UI_PROCS_KEPT 1000

/* How many jobs and stages a model keeps (keep[0], keep[1]): from
 * EMBER_UI_RETAINED_JOBS and _STAGES, 1,000 each when unset. 0, or
 * EMBER_EINVAL with a message naming the variable, who saying where. */
int ember__ui_retained(const ember_ctx *ctx, const char *who, int keep[2]);
ui_model *ember__ui_model_new(const int keep[2]);
void ember__ui_model_free(ui_model *m);
/* What a list of applications shows of m, as a new summary model. */
ui_model *ember__ui_model_summary(const ui_model *m);
/* Exchange what a and b hold (each keeps its lock; the caller holds both or
 * knows no one else reads them). */
void ember__ui_model_swap(ui_model *a, ui_model *b);
/* The jobs a list of applications counts for m. */
int64_t ember__ui_model_jobs(const ui_model *m);
/* Take in one event (under m->mu). 0 or EMBER_ENOMEM (the model then misses a
 * detail, never its consistency). */
int ember__ui_model_apply(ui_model *m, const ember_event *ev);
/* The listener that feeds a model. */
void ember__ui_model_listener(const ember_event *ev, void *arg);
/* A model that the live listener feeds: task threads' starts and ends wait in
 * a slot a thread (no line of the model's memory moves between them) and are
 * applied, every thread's merged by time, before any other event and before a
 * page is drawn. 0 or EMBER_ENOMEM. */
int ember__ui_model_live(ui_model *m);
/* The waiting task events applied (mu held). */
void ember__ui_model_sync(ui_model *m);
const ui_stage *ember__ui_stage(const ui_model *m, int64_t id);
const ui_job *ember__ui_job(const ui_model *m, int64_t id);

/* ---------------------------------------------------------------- the event log (eventlog.c,
 * json.c) */

/* ev as one line of JSON (no newline), shaped after Spark's event log. 0 or
 * EMBER_ENOMEM. */
int ember__ui_event_json(const ember_event *ev, ember_buf *out);

/* One line of an event log read back: ev's strings and arrays live in the
 * holder until ember__ui_parsed_free. 1 with *ev, 0 for a line that is no
 * event this version knows (skipped), EMBER_EIO for a line that is not JSON
 * (a crash's torn last line). */
typedef struct ui_parsed {
    ember_event ev;
    ember_http_status http;
    ember_accumulable accs[16];
    void *json; /* the parsed line (jansson), which the strings point into */
    const char **strs;
    int env_update;   /* the line was Spark's EnvironmentUpdate: ev.props only */
    const char *user; /* an application's start: its User */
} ui_parsed;
/* Who runs the application, as Spark's "User" and sparkUser: $USER, else the
 * name of the effective user id (static storage). */
const char *ember__ui_user(void);
int ember__ui_event_parse(const char *line, size_t n, ui_parsed *p);
void ember__ui_parsed_free(ui_parsed *p);

typedef struct ui_log ui_log;
/* Start writing ctx's events to path (created, or replaced). 0, or a code with
 * the message on ctx. */
int ember__ui_log_open(ember_ctx *ctx, const char *path, ui_log **out);
/* Flush what is buffered and stop the writer (after the application's end). */
void ember__ui_log_close(ui_log *l);

/* ---------------------------------------------------------------- the progress bar (progress.c) */

typedef struct ui_bar ui_bar;
int ember__ui_bar_open(ember_ctx *ctx, ui_bar **out);
void ember__ui_bar_close(ui_bar *b);
/* Spark's bar for the stages in s (n of them) in width columns, into out. */
void ember__ui_bar_format(char *out, size_t cap, int width, const int64_t *stage_ids,
                          const int *done, const int *running, const int *total, int n);

/* ---------------------------------------------------------------- the web server (server.c) */

typedef struct ui_server ui_server;
/* What a server calls around each answer: enter(arg, url) before it is made,
 * leave(arg, what enter returned) after (the history server's: it reads an
 * application whole when a page of it is asked for). Answers are made on
 * several threads at once: the hooks may run side by side. */
typedef struct ui_hooks {
    void *(*enter)(void *arg, const char *url);
    void (*leave)(void *arg, void *entered);
    void *arg;
} ui_hooks;
/* Serve the models (one live, or a history's) on 127.0.0.1:port; port -1:
 * 4040, then 4041 and up (16 tries); hooks NULL for none. 0 with *out, or a
 * code with why set. */
int ember__ui_serve(ui_model **models, int nmodels, bool history, int port, ui_server **out,
                    char *why, size_t whylen, const ui_hooks *hooks);
int ember__ui_server_port(const ui_server *s);
/* The models served from now on (the history server's new look); the old are
 * the caller's to free once this returns: no answer holds them then. */
void ember__ui_server_models(ui_server *s, ui_model **models, int nmodels);

/* The order applications are listed in (the history's page, /applications):
 * newest first by start; an array of n indexes to free, NULL out of memory. */
int *ember__ui_newest_first(ui_model *const *models, int n);
void ember__ui_server_stop(ui_server *s);

/* A response being built: the page or the JSON, and its status. */
typedef struct ui_reply {
    ember_buf body;
    int status;
    const char *type; /* Content-Type */
} ui_reply;

/* pages.c: an HTML page for path (under base: "" live, "/history/APP_ID" in
 * the history server), or 404. */
void ember__ui_page(const ui_model *m, const char *base, const char *path, const char *query,
                    bool history, ui_reply *r);
/* pages.c: the history server's list of applications. */
void ember__ui_app_list(ui_model *const *models, int n, ui_reply *r);
/* rest.c: /api/v1/... for the models (path after /api/v1). */
void ember__ui_rest(ui_model *const *models, int n, const char *path, const char *query,
                    ui_reply *r);
/* HTML-escaped s appended to b. */
int ember__html(ember_buf *b, const char *s);
/* printf to b. */
int ember__bprintf(ember_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Spark's date form: 2026-12-01T12:34:56.789GMT */
void ember__ui_date(int64_t ms, char *out, size_t cap);

/* ---------------------------------------------------------------- the context's UI (ui.c) */

/* Start what the conf and the environment ask for (rank 0 only). 0, or a code
 * with the message on ctx. */
int ember__ui_open(ember_ctx *ctx, const ember_conf *conf);
/* Stop it, after the application's end was told. */
void ember__ui_close(ember_ctx *ctx);

#endif
