/* The event log: every event as a JSON line (json.c), appended to a file.
 *
 * The listener runs where the event happens (task threads call it at once,
 * without the event bus's lock; the driver's thread too) and keeps the event
 * in a buffer of that thread's: a task's start or end as a record of what
 * its line needs (a third of the line's bytes), any other event as its line,
 * written by hand. Only the log's writer thread takes from there: every 100
 * ms, or as soon as one thread's pass 256 kB, it swaps each thread's buffer
 * for an empty one, all at one instant (so an event that happened after
 * another taken is taken too), merges them by time (a stage's end comes after
 * its tasks'), writes the tasks' lines from their records, and appends the
 * lot to the file. So little memory passes from the job's cores to the
 * writer's, no line is copied on the thread where it happened, and a task
 * never waits for the disk. A crash leaves every line written so far whole (a
 * log cut short by a kill ends at a line's end; the reader skips a torn last
 * line in any case). The application's end is written at once, before
 * ember_close returns.
 *
 * A path ending in .zstd (or .zst) is written compressed, as Spark writes its
 * logs with spark.eventLog.compress and the zstd codec: each write is one
 * whole zstd frame (level 1, checksummed) of whole lines, so a crash still
 * leaves every frame before the last whole. The writer thread compresses, and
 * does so faster than the kernel takes the plain bytes (bench/run_ui.sh).
 *
 * A directory (a path that is one, or ends in '/': made if missing) holds one
 * log an application, as Spark's spark.eventLog.dir: named by the application's
 * id and compressed as Spark 4 writes them, local-1796186658195.zstd, and
 * called local-1796186658195.zstd.inprogress until the application ends (a log
 * left so was cut short). No log is ever replaced: an id whose log is there
 * already (two applications started in the same millisecond) becomes the next
 * free one, local-1796186658196, before any event is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/lazy.h"
#include "core/mkdirs.h"
#include "core/tslot.h"
#include "core/zmem.h"
#include "ui/ui.h"

#define WAKE_BYTES (256u << 10)

/* A thread's lines not yet taken by the writer, and each one's time and end in
 * buf; and the set the writer took last, which it merges from (lines are
 * written by time, those of all threads together). */
typedef struct log_lines {
    ember_buf buf;
    struct log_line {
        uint64_t t;
        size_t end;
        bool rec; /* a task's start or end as it came (log_rec), not yet a line */
    } * at;
    int n, cap;
} log_lines;

typedef struct log_slot {
    ember__tslot head; /* its lock: its thread, or the writer swapping its sets */
    log_lines cur;     /* under the lock */
    bool asked;        /* its thread woke the writer since the last take */
    log_lines taken;   /* the writer's alone */
    int at;            /* the writer's: its next line of taken in the merge */
} log_slot;

struct ui_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int fd;
    ember_buf buf, out; /* lines of a thread that had no slot (out of memory) / the writer's */
    ZSTD_CCtx *z;       /* a .zstd log: the writer's compressor, into packed */
    ember_buf packed;
    bool stop, started, heard, wake; /* heard: its listener is on */
    int err;                         /* the first write error (errno) */
    char *final;                     /* a directory's log: its name once the application ended */
    ember__tslots slots;             /* log_slot: every thread's that wrote a line */
    ember__tslot **all;              /* the writer's: the slots it took from */
    int cap_all;
};

static void free_lines(log_lines *k)
{
    ember_buf_destroy(&k->buf);
    ember__free(k->at);
}

static void free_slot(ember__tslot *t)
{
    log_slot *s = (log_slot *)t;
    free_lines(&s->cur);
    free_lines(&s->taken);
}

/* A task's start or end kept as it came, for the writer to write its line:
 * about a third of the line's bytes, so that less memory passes from the
 * task's core to the writer's. Its accumulators' updates follow (acc_rec and
 * the name, NUL-ended, each), then its message (NUL-ended) when it failed. */
typedef struct log_rec {
    uint64_t time_ns, duration_ns;
    int64_t stage_id, task_id;
    ember_task_metrics metrics;
    int type, stage_kind, failed, code, task_index, partition, attempt, worker, worker_pid,
        worker_lost, naccums;
    uint32_t error_len;
} log_rec;

typedef struct acc_rec {
    int64_t i64;
    double f64;
    int is_f64;
    uint32_t name_len;
} acc_rec;

static int rec_put(ember_buf *b, const ember_event *ev)
{
    log_rec r = {.time_ns = ev->time_ns,
                 .duration_ns = ev->duration_ns,
                 .stage_id = ev->stage_id,
                 .task_id = ev->task_id,
                 .metrics = ev->metrics,
                 .type = ev->type,
                 .stage_kind = ev->stage_kind,
                 .failed = ev->failed,
                 .code = ev->code,
                 .task_index = ev->task_index,
                 .partition = ev->partition,
                 .attempt = ev->attempt,
                 .worker = ev->worker,
                 .worker_pid = ev->worker_pid,
                 .worker_lost = ev->worker_lost,
                 .naccums = ev->accums ? ev->naccums : 0,
                 .error_len = ev->failed && ev->error ? (uint32_t)strlen(ev->error) : 0};
    size_t need = sizeof r + (r.error_len ? r.error_len + 1 : 0);
    for (int i = 0; i < r.naccums; i++)
        need += sizeof(acc_rec) + strlen(ev->accums[i].name) + 1;
    if (ember__buf_reserve(b, need))
        return EMBER_ENOMEM;
    unsigned char *p = b->ptr + b->len;
    memcpy(p, &r, sizeof r);
    p += sizeof r;
    for (int i = 0; i < r.naccums; i++) {
        const ember_accumulable *a = &ev->accums[i];
        acc_rec c = {.i64 = a->i64,
                     .f64 = a->f64,
                     .is_f64 = a->is_f64,
                     .name_len = (uint32_t)strlen(a->name)};
        memcpy(p, &c, sizeof c);
        memcpy(p + sizeof c, a->name, c.name_len + 1);
        p += sizeof c + c.name_len + 1;
    }
    if (r.error_len) {
        memcpy(p, ev->error, r.error_len + 1);
        p += r.error_len + 1;
    }
    b->len = (size_t)(p - b->ptr);
    return 0;
}

/* The line of the record at p into out. */
static int rec_line(const unsigned char *p, ember_buf *out)
{
    log_rec r;
    memcpy(&r, p, sizeof r);
    p += sizeof r;
    ember_accumulable acc[64];
    int n = r.naccums < 64 ? r.naccums : 64;
    for (int i = 0; i < r.naccums; i++) {
        acc_rec c;
        memcpy(&c, p, sizeof c);
        if (i < n)
            acc[i] = (ember_accumulable){
                .name = (const char *)p + sizeof c, .is_f64 = c.is_f64, .i64 = c.i64, .f64 = c.f64};
        p += sizeof c + c.name_len + 1;
    }
    ember_event ev = {.type = r.type,
                      .time_ns = r.time_ns,
                      .stage_id = r.stage_id,
                      .stage_kind = r.stage_kind,
                      .task_index = r.task_index,
                      .partition = r.partition,
                      .attempt = r.attempt,
                      .failed = r.failed,
                      .code = r.code,
                      .error = r.error_len ? (const char *)p : "",
                      .duration_ns = r.duration_ns,
                      .metrics = r.metrics,
                      .accums = acc,
                      .naccums = n,
                      .task_id = r.task_id,
                      .worker = r.worker,
                      .worker_pid = r.worker_pid,
                      .worker_lost = r.worker_lost};
    return ember__ui_event_json(&ev, out);
}

/* ev's line into k (a task's start or end: its record); out of memory, the
 * line is missing. */
static void lines_add(log_lines *k, const ember_event *ev)
{
    if (k->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 256;
        struct log_line *g = ember__realloc(k->at, (size_t)cap * sizeof *g);
        if (!g)
            return;
        k->at = g;
        k->cap = cap;
    }
    bool rec = ev->type == EMBER_EV_TASK_START || ev->type == EMBER_EV_TASK_END;
    if (!(rec ? rec_put(&k->buf, ev) : ember__ui_event_json(ev, &k->buf)))
        k->at[k->n++] = (struct log_line){ev->time_ns, k->buf.len, rec};
}

/* A slot's lines swapped for an empty set, the writer's to merge. */
static void swap_lines(ember__tslot *t, void *arg)
{
    log_slot *s = (log_slot *)t;
    log_lines taken = s->cur;
    s->cur = s->taken;
    s->cur.buf.len = 0;
    s->cur.n = 0;
    s->taken = taken;
    s->asked = false;
    s->at = 0;
    *(size_t *)arg += taken.buf.len;
}

/* The writer's turn: every slot's lines taken at one instant (their sets
 * swapped: no line is copied under a lock, and an event that happened after
 * another taken is taken too), then merged by time into l->out. Out of
 * memory, the lines wait for the next turn. */
static void take(ui_log *l)
{
    size_t bytes = 0;
    int n = ember__tslots_take(&l->slots, &l->all, &l->cap_all, swap_lines, &bytes);
    ember__buf_reserve(&l->out, 3 * bytes); /* (records become lines about three times theirs) */
    for (;;) { /* the earliest line of any slot, its ties in slot order */
        log_slot *e = NULL;
        for (int i = 0; i < n; i++) {
            log_slot *s = (log_slot *)l->all[i];
            if (s->at < s->taken.n && (!e || s->taken.at[s->at].t < e->taken.at[e->at].t))
                e = s;
        }
        if (!e)
            break;
        log_lines *g = &e->taken;
        size_t from = e->at ? g->at[e->at - 1].end : 0, to = g->at[e->at].end;
        if (g->at[e->at++].rec ? rec_line(g->buf.ptr + from, &l->out)
                               : ember_buf_append(&l->out, g->buf.ptr + from, to - from))
            break; /* out of memory: what is left of this take is lost */
    }
    for (int i = 0; i < n; i++) {
        log_slot *s = (log_slot *)l->all[i];
        s->taken.buf.len = 0;
        s->taken.n = 0;
    }
}

static void write_all(ui_log *l, const ember_buf *b)
{
    if (l->z) { /* one frame of the lines */
        size_t cap = ZSTD_compressBound(b->len);
        l->packed.len = 0;
        if (ember__buf_reserve(&l->packed, cap)) {
            l->err = ENOMEM;
            return;
        }
        size_t n = ZSTD_compress2(l->z, l->packed.ptr, cap, b->ptr, b->len);
        if (ZSTD_isError(n)) {
            l->err = EIO;
            return;
        }
        l->packed.len = n;
        b = &l->packed;
    }
    size_t off = 0;
    while (off < b->len && !l->err) {
        ssize_t w = write(l->fd, b->ptr + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            l->err = errno;
        else
            off += (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    ui_log *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (!l->stop && !l->wake) {
            struct timespec ts;
            ember__deadline(&ts, 100000000);
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
        l->wake = false;
        bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        /* (stop: every event was heard before it was asked) */
        take(l);
        pthread_mutex_lock(&l->mu);
        if (l->buf.len && !ember_buf_append(&l->out, l->buf.ptr, l->buf.len))
            l->buf.len = 0;
        pthread_mutex_unlock(&l->mu);
        if (l->out.len) /* the lines, written in one go */
            write_all(l, &l->out);
        l->out.len = 0;
        pthread_mutex_lock(&l->mu);
        if (stop)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Called from task threads at once (a concurrent listener) and from the
 * driver's: each event's line into its thread's slot, where only the writer
 * takes it from; woken when a slot passes WAKE_BYTES, and for the
 * application's end, so that it is written before ember_close returns. */
static void on_event(const ember_event *ev, void *arg)
{
    ui_log *l = arg;
    log_slot *s = (log_slot *)ember__tslot_of(&l->slots);
    bool wake = ev->type == EMBER_EV_APP_END;
    if (s) {
        pthread_mutex_lock(&s->head.mu);
        lines_add(&s->cur, ev);
        if (s->cur.buf.len >= WAKE_BYTES && !s->asked)
            wake = s->asked = true;
        pthread_mutex_unlock(&s->head.mu);
        if (!wake)
            return;
        pthread_mutex_lock(&l->mu);
    } else { /* no slot (out of memory): the log's own buffer, written next */
        pthread_mutex_lock(&l->mu);
        ember__ui_event_json(ev, &l->buf);
    }
    l->wake |= wake;
    pthread_mutex_unlock(&l->mu);
    if (wake)
        pthread_cond_signal(&l->cv);
}

/* A path ending in .zstd or .zst: the log is written compressed. */
static bool packed_name(const char *path)
{
    size_t n = strlen(path);
    return (n > 5 && !strcmp(path + n - 5, ".zstd")) || (n > 4 && !strcmp(path + n - 4, ".zst"));
}

/* The application's id becomes id (its log's name was taken): ctx->app_id and
 * the ember.app.id setting, before any listener heard either. */
static int rename_app(ember_ctx *ctx, const char *id)
{
    char *a = ember__strdup(id), *b = ember__strdup(id);
    if (!a || !b) {
        ember__free(a);
        ember__free(b);
        return EMBER_ENOMEM;
    }
    ember__free(ctx->app_id);
    ctx->app_id = a;
    for (int i = 0; ctx->props && ctx->props[i]; i += 2)
        if (!strcmp(ctx->props[i], "ember.app.id")) {
            ember__free(ctx->props[i + 1]);
            ctx->props[i + 1] = b;
            b = NULL;
        }
    ember__free(b);
    return 0;
}

/* A log in directory dir: DIR/ID.zstd.inprogress made (O_EXCL) for the first
 * id from the application's whose log is in neither name; l->final its name
 * to be. 0, or an error set on ctx. */
static int open_in_dir(ember_ctx *ctx, const char *dir, ui_log *l)
{
    size_t n = strlen(dir);
    char *d = ember__malloc(n + 1);
    if (!d)
        return ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
    memcpy(d, dir, n + 1);
    while (n > 1 && d[n - 1] == '/') /* "logs/" is "logs" */
        d[--n] = 0;
    int rc = ember__mkdirs(d);
    if (rc) {
        ember__free(d);
        return ember__err(ctx, rc, "ember_open: cannot make the event log directory %s: %s", dir,
                          strerror(-rc));
    }
    uint64_t ms = ctx->app_start_ns / 1000000;
    size_t cap = n + 64;
    char id[40], *path = ember__malloc(cap);
    if (!path || !(l->final = ember__malloc(cap))) {
        ember__free(d);
        ember__free(path);
        return ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
    }
    for (int k = 0; k < 100000; k++) {
        snprintf(id, sizeof id, "local-%llu", (unsigned long long)(ms + (uint64_t)k));
        snprintf(l->final, cap, "%s/%s.zstd", d, id);
        snprintf(path, cap, "%s.inprogress", l->final);
        struct stat st;
        if (!lstat(l->final, &st))
            continue; /* an application's finished log */
        l->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (l->fd >= 0 || errno != EEXIST)
            break;
    }
    if (l->fd < 0) {
        int e = l->fd == -1 ? errno : EEXIST;
        rc =
            ember__err(ctx, -e, "ember_open: cannot write the event log %s: %s", path, strerror(e));
    } else if (strcmp(id, ctx->app_id ? ctx->app_id : "") && rename_app(ctx, id)) {
        rc = ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
        unlink(path);
    }
    ember__free(d);
    ember__free(path);
    return rc;
}

int ember__ui_log_open(ember_ctx *ctx, const char *path, ui_log **out)
{
    ui_log *l = ember__calloc(1, sizeof *l);
    if (!l)
        return ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
    l->fd = -2; /* (none tried yet) */
    ember__tslots_init(&l->slots, sizeof(log_slot));
    struct stat st;
    size_t plen = strlen(path);
    bool dir = path[plen - 1] == '/' || (!stat(path, &st) && S_ISDIR(st.st_mode));
    int rc = 0;
    if (dir) {
        rc = open_in_dir(ctx, path, l);
    } else if ((l->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644)) <
               0) {
        int e = errno;
        rc =
            ember__err(ctx, -e, "ember_open: cannot write the event log %s: %s", path, strerror(e));
    }
    if (rc) {
        if (l->fd >= 0)
            close(l->fd);
        ember__free(l->final);
        ember__free(l);
        return rc;
    }
    ember__mutex_init_short(&l->mu);
    pthread_cond_init(&l->cv, NULL);
    bool packed = dir || packed_name(path);
    if (packed && ember__lib_load(&ember__libzstd)) {
        ember__ui_log_close(l);
        return ember__err(ctx, EMBER_ENOTSUP, "ember_open: cannot write the event log %s: %s", path,
                          ember__libzstd.err);
    }
    if (packed && (!(l->z = ZSTD_createCCtx_advanced(ember__zstd_mem)) ||
                   ZSTD_isError(ZSTD_CCtx_setParameter(l->z, ZSTD_c_compressionLevel, 1)) ||
                   ZSTD_isError(ZSTD_CCtx_setParameter(l->z, ZSTD_c_checksumFlag, 1)))) {
        ember__ui_log_close(l);
        return ember__err(ctx, EMBER_ENOMEM, "ember_open: cannot start zstd for the event log %s",
                          path);
    }
    rc = pthread_create(&l->th, NULL, writer_main, l);
    if (rc) {
        ember__ui_log_close(l);
        return ember__err(ctx, -rc, "ember_open: cannot start the event log's writer: %s",
                          strerror(rc));
    }
    l->started = true;
    if ((rc = ember__listen_named(ctx, on_event, l, ~0u, true))) {
        ember__ui_log_close(l);
        return ember__err(ctx, rc, "ember_open: out of memory");
    }
    l->heard = true;
    *out = l;
    return 0;
}

void ember__ui_log_close(ui_log *l)
{
    if (!l)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
    }
    if (l->err)
        fprintf(stderr, "ember: the event log could not be written: %s\n", strerror(l->err));
    close(l->fd);
    if (l->final) { /* the application ended: its log loses ".inprogress" */
        size_t n = strlen(l->final);
        char *from = ember__malloc(n + sizeof ".inprogress");
        if (from) {
            memcpy(from, l->final, n);
            memcpy(from + n, ".inprogress", sizeof ".inprogress");
            if (!l->heard) /* ember_open failed before a line was written */
                unlink(from);
            else if (rename(from, l->final))
                fprintf(stderr, "ember: cannot name the event log %s: %s\n", l->final,
                        strerror(errno));
            ember__free(from);
        }
        ember__free(l->final);
    }
    ember__tslots_destroy(&l->slots, free_slot);
    ember__free(l->all);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    ember_buf_destroy(&l->buf);
    ember_buf_destroy(&l->out);
    ember_buf_destroy(&l->packed);
    if (l->z)
        ZSTD_freeCCtx(l->z);
    ember__free(l);
}
