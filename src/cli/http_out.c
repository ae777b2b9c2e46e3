/* `ember http`'s output: each answer as a JSON line; the lines written in
 * input order as partitions finish (a partition's lines wait, in memory and
 * past 4 MiB in an unlinked file, until every partition before it is out);
 * a plain output file written unnamed (O_TMPFILE, or a scratch name) and put
 * in place at commit, so an interrupted run never leaves half a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/http_out.h"

/* ---------------------------------------------------------------- the answers as lines */

/* A response record as its JSON line, with the input's line number first. */
int ember_cli_to_json(ember_rec in, ember_out *out, void *arg)
{
    const line_args *a = arg;
    const int64_t *k = in.key.ptr;
    int64_t seq, line;
    memcpy(&seq, k, 8);
    memcpy(&line, (const char *)k + 8, 8);
    ember_buf j;
    ember_buf_init(&j);
    char head[48];
    int n = snprintf(head, sizeof head, "{\"line\":%lld,", (long long)line);
    int rc = ember_buf_append(&j, head, (size_t)n);
    size_t at = j.len;
    if (!rc)
        rc = ember_http_response_json_ex(in.val, &j, a->body_json ? EMBER_HTTP_JSON_BODY : 0);
    if (!rc) {
        /* drop the object's own opening brace */
        memmove(j.ptr + at, j.ptr + at + 1, j.len - at - 1);
        j.len--;
        rc = a->keyed ? ember_emit_pair(out, ember_bytes_of(&seq, 8), ember_buf_bytes(&j))
                      : ember_emit(out, ember_buf_bytes(&j));
    }
    ember_buf_destroy(&j);
    return rc;
}

/* ---------------------------------------------------------------- the ordered writer */

static int write_fd(writer *w, const void *p, size_t n)
{
    const char *q = p;
    while (n) {
        ssize_t k = write(w->fd, q, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno;
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

int ember_cli_writer_flush(writer *w)
{
    int e = w->buf.len ? write_fd(w, w->buf.ptr, w->buf.len) : 0;
    w->buf.len = 0;
    return e;
}

static int out_put(writer *w, const void *p, size_t n)
{
    if (w->stream)
        return write_fd(w, p, n);
    if (w->buf.len + n > (1u << 20)) {
        int e = ember_cli_writer_flush(w);
        if (e)
            return e;
        if (n > (1u << 20))
            return write_fd(w, p, n);
    }
    return ember_buf_append(&w->buf, p, n) ? ENOMEM : 0;
}

/* An unlinked file in $TMPDIR for a partition's waiting lines. */
static int hold_file(void)
{
    const char *d = getenv("TMPDIR");
    if (!d || !*d)
        d = "/tmp";
    int fd = open(d, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ember-http-XXXXXX", d);
    if ((fd = mkstemp(path)) >= 0)
        unlink(path);
    return fd;
}

static int hold(held *h, const void *p, size_t n)
{
    if (h->fd < 0 && h->mem.len + n <= HOLD_MEM)
        return ember_buf_append(&h->mem, p, n) ? ENOMEM : 0;
    if (h->fd < 0 && (h->fd = hold_file()) < 0)
        return errno;
    const char *q = p;
    while (n) {
        ssize_t k = pwrite(h->fd, q, n, h->spilled);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno;
        q += k;
        n -= (size_t)k;
        h->spilled += k;
    }
    return 0;
}

/* Write what partition p held (it has become the head), and forget it. */
static int release(writer *w, held *h)
{
    int e = h->mem.len ? out_put(w, h->mem.ptr, h->mem.len) : 0;
    char buf[1 << 16];
    for (off_t at = 0; !e && at < h->spilled;) {
        ssize_t k = pread(h->fd, buf, sizeof buf, at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            e = k < 0 ? errno : EIO;
            break;
        }
        e = out_put(w, buf, (size_t)k);
        at += k;
    }
    ember_buf_destroy(&h->mem);
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->spilled = 0;
    return e;
}

int ember_cli_writer_each(ember_rec in, void *arg)
{
    writer *w = arg;
    int64_t seq;
    memcpy(&seq, in.key.ptr, 8);
    pthread_mutex_lock(&w->mu);
    int lo = 0, hi = w->parts - 1; /* the partition of seq */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (w->start[mid] <= seq)
            lo = mid;
        else
            hi = mid - 1;
    }
    int p = lo, e = 0;
    if (w->err || seq < w->next[p]) { /* a retried task's answer, already written */
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    w->next[p] = seq + 1;
    if (p == w->head) {
        if (!(e = out_put(w, in.val.ptr, in.val.len)))
            e = out_put(w, "\n", 1);
    } else if (!(e = hold(&w->held[p], in.val.ptr, in.val.len))) {
        e = hold(&w->held[p], "\n", 1);
    }
    /* a finished head hands over to the next partition, with what it held */
    while (!e && w->head < w->parts && w->next[w->head] == w->start[w->head + 1])
        if (++w->head < w->parts)
            e = release(w, &w->held[w->head]);
    if (e && !w->err) {
        w->err = e;
        ember_cancel(w->ctx); /* no use sending what cannot be written */
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void ember_cli_writer_free(writer *w)
{
    for (int i = 0; w->held && i < w->parts; i++) {
        ember_buf_destroy(&w->held[i].mem);
        if (w->held[i].fd >= 0)
            close(w->held[i].fd);
    }
    free(w->held);
    free(w->start);
    free(w->next);
    ember_buf_destroy(&w->buf);
    pthread_mutex_destroy(&w->mu);
}

/* ---------------------------------------------------------------- the output */

/* Where the answers go: standard output, a file written through (not a plain
 * file: /dev/null, a FIFO, /dev/stdout), or a plain file replaced whole at
 * the end. 0, or 2 after a message. */
int ember_cli_output_open(const char *out, output *o)
{
    *o = (output){.name = out ? out : "the standard output", .fd = -1};
    if (!out)
        return 0;
    struct stat st;
    bool exists = lstat(out, &st) == 0;
    if (!exists && errno != ENOENT) {
        fprintf(stderr, "ember http: cannot write %s: %s\n", out, strerror(errno));
        return 2;
    }
    const char *target = out;
    char real[PATH_MAX];
    bool through = exists && !S_ISREG(st.st_mode);
    if (exists && S_ISLNK(st.st_mode)) {
        /* a link to a plain file (not in /dev or /proc) is replaced at its target */
        struct stat rs;
        through = !(realpath(out, real) && strncmp(real, "/proc/", 6) && strncmp(out, "/dev/", 5) &&
                    !lstat(real, &rs) && S_ISREG(rs.st_mode));
        target = through ? out : real;
    }
    if (through) {
        struct stat ts;
        bool reg = !stat(out, &ts) && S_ISREG(ts.st_mode);
        o->fd = open(out, O_WRONLY | O_CLOEXEC | (reg ? O_TRUNC : 0));
        if (o->fd < 0) {
            fprintf(stderr, "ember http: cannot write %s: %s\n", out, strerror(errno));
            return 2;
        }
        return 0;
    }
    snprintf(o->target, sizeof o->target, "%s", target);
    char dir[PATH_MAX];
    const char *slash = strrchr(o->target, '/');
    if (slash == o->target)
        snprintf(dir, sizeof dir, "/");
    else if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - o->target), o->target);
    else
        snprintf(dir, sizeof dir, ".");
    mode_t mode = exists && S_ISREG(st.st_mode) ? st.st_mode & 07777 : 0666;
    o->atomic = true;
    o->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (o->fd >= 0) {
        o->tmpfile = true;
        if (!exists) { /* as a new file would be: the umask applies */
            mode_t um = umask(0);
            umask(um);
            mode &= ~um;
        }
        if (fchmod(o->fd, mode)) {
            /* a mode the file system refuses: keep the file's own */
        }
        return 0;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        fprintf(stderr, "ember http: cannot write %s: %s\n", out, strerror(errno));
        return 2;
    }
    snprintf(o->scratch, sizeof o->scratch, "%s/.ember-http-XXXXXX", dir);
    if ((o->fd = mkstemp(o->scratch)) < 0) {
        fprintf(stderr, "ember http: cannot write %s: %s\n", out, strerror(errno));
        o->scratch[0] = 0;
        return 2;
    }
    snprintf(ember_cli_scratch, sizeof ember_cli_scratch, "%s", o->scratch);
    fchmod(o->fd, mode);
    return 0;
}

/* Give the complete output its name. 0, or 2 after a message. */
int ember_cli_output_commit(output *o)
{
    if (!o->atomic)
        return 0;
    if (o->tmpfile) {
        /* link the unnamed file under a scratch name, then rename it over */
        char proc[64], dir[PATH_MAX];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
        const char *slash = strrchr(o->target, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - o->target) : 1,
                 slash ? o->target : ".");
        for (int i = 0; i < 100; i++) {
            snprintf(o->scratch, sizeof o->scratch, "%s/.ember-http-%d-%d",
                     slash == o->target ? "" : dir, (int)getpid(), i);
            snprintf(ember_cli_scratch, sizeof ember_cli_scratch, "%s", o->scratch);
            if (!linkat(AT_FDCWD, proc, AT_FDCWD, o->scratch, AT_SYMLINK_FOLLOW))
                break;
            o->scratch[0] = 0;
            if (errno != EEXIST)
                break;
        }
        if (!o->scratch[0]) {
            ember_cli_scratch[0] = 0;
            fprintf(stderr, "ember http: cannot write %s: %s\n", o->name, strerror(errno));
            return 2;
        }
    }
    if (rename(o->scratch, o->target)) {
        fprintf(stderr, "ember http: cannot write %s: %s\n", o->name, strerror(errno));
        unlink(o->scratch);
        ember_cli_scratch[0] = 0;
        return 2;
    }
    o->scratch[0] = 0;
    ember_cli_scratch[0] = 0;
    return 0;
}

void ember_cli_output_close(output *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->scratch[0]) { /* not committed */
        unlink(o->scratch);
        o->scratch[0] = 0;
        ember_cli_scratch[0] = 0;
    }
}

/* ---------------------------------------------------------------- MPI: part files copied in order
 */

static int copy_parts(const char *dir, int parts, FILE *f, const char *name)
{
    char path[PATH_MAX + 32];
    static char buf[1 << 16];
    for (int i = 0; i < parts; i++) {
        snprintf(path, sizeof path, "%s/part-%05d", dir, i);
        FILE *p = fopen(path, "rb");
        if (!p) {
            fprintf(stderr, "ember http: cannot read %s: %s\n", path, strerror(errno));
            return 2;
        }
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, p)) > 0)
            if (fwrite(buf, 1, k, f) != k)
                break;
        bool bad = ferror(p) || ferror(f);
        fclose(p);
        if (bad) {
            fprintf(stderr, "ember http: writing %s failed: %s\n", name, strerror(errno));
            return 2;
        }
    }
    return 0;
}

static void remove_scratch(const char *scratch, int parts)
{
    char path[PATH_MAX + 48];
    for (int i = 0; i < parts; i++) {
        snprintf(path, sizeof path, "%s/parts/part-%05d", scratch, i);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/parts/_SUCCESS", scratch);
    unlink(path);
    snprintf(path, sizeof path, "%s/parts", scratch);
    rmdir(path);
    rmdir(scratch);
}

/* Under MPI: the tasks of every rank save part files in a scratch directory
 * (beside the output, or in $TMPDIR), which rank 0 copies in order to o. */
int ember_cli_save_distributed(ember_ctx *ctx, ember_rdd *json, output *o, const char *out,
                               int parts)
{
    char scratch[PATH_MAX], parts_dir[PATH_MAX + 8];
    const char *base = out ? NULL : getenv("TMPDIR");
    if (out) {
        const char *slash = strrchr(out, '/');
        snprintf(scratch, sizeof scratch, "%.*s/.ember-http-XXXXXX", slash ? (int)(slash - out) : 1,
                 slash ? out : ".");
    } else {
        snprintf(scratch, sizeof scratch, "%s/ember-http-XXXXXX", base && *base ? base : "/tmp");
    }
    bool made = ember_is_driver(ctx) && mkdtemp(scratch);
    if (ember_is_driver(ctx) && !made) {
        fprintf(stderr, "ember http: cannot write %s: %s (making a scratch directory)\n", o->name,
                strerror(errno));
        scratch[0] = 0;
    }
    ember_broadcast *name = ember_broadcast_create(ctx, scratch, strlen(scratch) + 1);
    if (!name) {
        if (made)
            rmdir(scratch);
        return EMBER_ENOMEM;
    }
    snprintf(scratch, sizeof scratch, "%s", (const char *)ember_broadcast_value(name).ptr);
    ember_broadcast_free(name);
    if (!scratch[0])
        return 2;
    snprintf(parts_dir, sizeof parts_dir, "%s/parts", scratch);
    int rc = ember_save_as_text_file(json, parts_dir, NULL);
    if (!rc && ember_is_driver(ctx)) {
        int fd = o->fd >= 0 ? dup(o->fd) : dup(STDOUT_FILENO);
        FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        rc = f ? copy_parts(parts_dir, parts, f, o->name) : 2;
        if (f && fclose(f) && !rc) {
            fprintf(stderr, "ember http: writing %s failed: %s\n", o->name, strerror(errno));
            rc = 2;
        }
    }
    if (ember_is_driver(ctx))
        remove_scratch(scratch, parts);
    return rc;
}
