/* The event log: every event as a JSON line (json.c), appended to a file.
 *
 * The listener runs where the event happens (a task's thread, for task
 * events) and only copies the event into a buffer, its strings and arrays
 * after it (a memcpy or two); a writer thread of its own turns the buffer into
 * JSON lines and writes them out every 100 ms, or as soon as it passes 4 MiB,
 * in whole lines. So a task never waits for the disk, and a crash leaves every
 * line written so far whole (a log cut short by a kill ends at a line's end;
 * the reader skips a torn last line in any case). The application's end is
 * written at once, before ember_close returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ui/ui.h"

#define FLUSH_BYTES (4u << 20)

struct ui_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int fd;
    char *path;
    ember_buf buf, spare; /* copied events, filled by the listener / drained by the writer */
    ember_buf json;       /* the writer's lines */
    bool stop, started;
    const char *app_name; /* the context's, alive while the log is */
    int err;              /* the first write error (errno) */
};

/* ---------------------------------------------------------------- an event, copied */

/* A copied event: its size, the struct (pointers cleared), then each string
 * (u32 length, bytes, NUL; length UINT32_MAX for NULL) and array in a fixed
 * order: job name, stage name, error, app id, master, reader, bad dir; the
 * accumulables (name, then the struct); the HTTP status; the settings; the
 * samples. The size is counted first and the copy made in one reservation.
 * A string the event's line does not write is copied as NULL (a task's event
 * carries the job's and the stage's names: json.c writes neither). */
static size_t str_size(const char *s)
{
    return 4 + (s ? strlen(s) + 1 : 0);
}

static size_t strv_size(const char *const *v)
{
    size_t n = 4;
    for (int i = 0; v && v[i]; i++)
        n += str_size(v[i]);
    return n;
}

static unsigned char *put(unsigned char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static unsigned char *put_str(unsigned char *p, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
    p = put(p, &n, 4);
    return s ? put(p, s, (size_t)n + 1) : p;
}

static unsigned char *put_strv(unsigned char *p, const char *const *v)
{
    uint32_t n = 0;
    while (v && v[n])
        n++;
    p = put(p, &n, 4);
    for (uint32_t i = 0; i < n; i++)
        p = put_str(p, v[i]);
    return p;
}

static int pack(const ember_event *ev, ember_buf *b)
{
    ember_event c = *ev;
    c.app_name = c.job_name = c.stage_name = c.error = c.app_id = c.master = c.bad_op = c.bad_dir =
        NULL;
    c.accums = NULL;
    c.http = NULL;
    c.props = c.bad_samples = NULL;
    bool task = ev->type == EMBER_EV_TASK_START || ev->type == EMBER_EV_TASK_END;
    const char *strs[] = {task ? NULL : ev->job_name,
                          task ? NULL : ev->stage_name,
                          ev->error,
                          ev->app_id,
                          ev->master,
                          ev->bad_op,
                          ev->bad_dir};
    uint64_t size = 8 + sizeof c + 1 + strv_size(ev->props) + strv_size(ev->bad_samples);
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        size += str_size(strs[i]);
    for (int i = 0; i < ev->naccums; i++)
        size += str_size(ev->accums[i].name) + sizeof *ev->accums;
    if (ev->http)
        size += sizeof *ev->http;
    if (ember__buf_reserve(b, size))
        return EMBER_ENOMEM;
    unsigned char *p = put(put(b->ptr + b->len, &size, 8), &c, sizeof c);
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        p = put_str(p, strs[i]);
    for (int i = 0; i < ev->naccums; i++)
        p = put(put_str(p, ev->accums[i].name), &ev->accums[i], sizeof *ev->accums);
    *p++ = ev->http != NULL;
    if (ev->http)
        p = put(p, ev->http, sizeof *ev->http);
    p = put_strv(p, ev->props);
    p = put_strv(p, ev->bad_samples);
    b->len += size;
    return 0;
}

typedef struct unpacked {
    ember_event ev;
    ember_accumulable accs[16];
    ember_http_status http;
    const char *props[256], *samples[16];
} unpacked;

static const char *get_str(const unsigned char **p)
{
    uint32_t n;
    memcpy(&n, *p, 4);
    *p += 4;
    if (n == UINT32_MAX)
        return NULL;
    const char *s = (const char *)*p;
    *p += n + 1;
    return s;
}

static const char *const *get_strv(const unsigned char **p, const char **v, size_t cap)
{
    uint32_t n;
    memcpy(&n, *p, 4);
    *p += 4;
    for (uint32_t i = 0; i < n; i++) {
        const char *s = get_str(p);
        if (i + 1 < cap)
            v[i] = s;
    }
    v[n + 1 < cap ? n : cap - 1] = NULL;
    return v;
}

/* The event at p (pointers into the buffer); returns the next one. */
static const unsigned char *unpack(const unsigned char *p, unpacked *u)
{
    uint64_t size;
    memcpy(&size, p, 8);
    const unsigned char *next = p + size, *q = p + 8;
    memcpy(&u->ev, q, sizeof u->ev);
    q += sizeof u->ev;
    ember_event *ev = &u->ev;
    ev->job_name = get_str(&q);
    ev->stage_name = get_str(&q);
    ev->error = get_str(&q);
    ev->app_id = get_str(&q);
    ev->master = get_str(&q);
    ev->bad_op = get_str(&q);
    ev->bad_dir = get_str(&q);
    int n = ev->naccums < 16 ? ev->naccums : 16;
    for (int i = 0; i < ev->naccums; i++) {
        const char *name = get_str(&q);
        if (i < n) {
            memcpy(&u->accs[i], q, sizeof u->accs[i]);
            u->accs[i].name = name;
        }
        q += sizeof u->accs[i];
    }
    ev->naccums = n;
    ev->accums = u->accs;
    if (*q++) {
        memcpy(&u->http, q, sizeof u->http);
        ev->http = &u->http;
        q += sizeof u->http;
    }
    ev->props = get_strv(&q, u->props, 256);
    ev->bad_samples = get_strv(&q, u->samples, 16);
    if (!ev->props[0])
        ev->props = NULL;
    if (!ev->bad_samples[0])
        ev->bad_samples = NULL;
    return next;
}

static void write_all(ui_log *l, const ember_buf *b)
{
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
        if (!l->stop && l->buf.len < FLUSH_BYTES) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
        /* swap buffers: the listener fills one while this thread writes the other */
        ember_buf out = l->buf;
        l->buf = l->spare;
        l->buf.len = 0;
        bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        /* the copied events as JSON lines, written in one go */
        l->json.len = 0;
        unpacked *u = out.len ? ember__malloc(sizeof *u) : NULL;
        for (const unsigned char *p = out.ptr; u && p < out.ptr + out.len;) {
            p = unpack(p, u);
            u->ev.app_name = l->app_name;
            ember__ui_event_json(&u->ev, &l->json);
        }
        ember__free(u);
        if (l->json.len)
            write_all(l, &l->json);
        out.len = 0;
        pthread_mutex_lock(&l->mu);
        l->spare = out;
        if (stop && !l->buf.len)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void on_event(const ember_event *ev, void *arg)
{
    ui_log *l = arg;
    pthread_mutex_lock(&l->mu);
    pack(ev, &l->buf); /* out of memory: this event is missing, the log stays whole */
    bool wake = l->buf.len >= FLUSH_BYTES || ev->type == EMBER_EV_APP_END;
    pthread_mutex_unlock(&l->mu);
    if (wake)
        pthread_cond_signal(&l->cv);
}

int ember__ui_log_open(ember_ctx *ctx, const char *path, ui_log **out)
{
    ui_log *l = ember__calloc(1, sizeof *l);
    if (!l)
        return ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
    l->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        int e = errno;
        ember__free(l);
        return ember__err(ctx, -e, "ember_open: cannot write the event log %s: %s", path,
                          strerror(e));
    }
    ember__mutex_init_short(&l->mu);
    pthread_cond_init(&l->cv, NULL);
    l->app_name = ctx->app_name;
    int rc = pthread_create(&l->th, NULL, writer_main, l);
    if (rc) {
        ember__ui_log_close(l);
        return ember__err(ctx, -rc, "ember_open: cannot start the event log's writer: %s",
                          strerror(rc));
    }
    l->started = true;
    if ((rc = ember__listen_named(ctx, on_event, l, ~0u))) {
        ember__ui_log_close(l);
        return ember__err(ctx, rc, "ember_open: out of memory");
    }
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
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    ember_buf_destroy(&l->buf);
    ember_buf_destroy(&l->spare);
    ember_buf_destroy(&l->json);
    ember__free(l);
}
