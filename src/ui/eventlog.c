/* The event log: every event as a JSON line (json.c), appended to a file.
 *
 * The listener runs where the event happens (a task's thread, for task
 * events) and writes the event's line into a buffer, by hand, under a lock
 * held for that (about a hundred nanoseconds for a task's end); a writer
 * thread of its own swaps the buffer for an empty one and writes the lines
 * out every 100 ms, or as soon as they pass 4 MiB. So a task never waits for
 * the disk, and a crash leaves every line written so far whole (a log cut
 * short by a kill ends at a line's end; the reader skips a torn last line in
 * any case). The application's end is written at once, before ember_close
 * returns.
 *
 * A path ending in .zstd (or .zst) is written compressed, as Spark writes its
 * logs with spark.eventLog.compress and the zstd codec: each write is one
 * whole zstd frame (level 1, checksummed) of whole lines, so a crash still
 * leaves every frame before the last whole. The writer thread compresses, and
 * does so faster than the kernel takes the plain bytes (bench/run_ui.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/lazy.h"
#include "core/zmem.h"
#include "ui/ui.h"

#define FLUSH_BYTES (4u << 20)

struct ui_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int fd;
    ember_buf buf, spare; /* lines, written by the listener / out by the writer */
    ZSTD_CCtx *z;         /* a .zstd log: the writer's compressor, into packed */
    ember_buf packed;
    bool stop, started;
    int err; /* the first write error (errno) */
};

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
        if (out.len) /* the lines, written in one go */
            write_all(l, &out);
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
    /* out of memory: this event is missing, the log stays whole */
    ember__ui_event_json(ev, &l->buf);
    bool wake = l->buf.len >= FLUSH_BYTES || ev->type == EMBER_EV_APP_END;
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
    bool packed = packed_name(path);
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
    ember_buf_destroy(&l->packed);
    if (l->z)
        ZSTD_freeCCtx(l->z);
    ember__free(l);
}
