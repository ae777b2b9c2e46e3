/* Saving an rdd as text files, with an atomic commit.
 *
 * The whole output is staged in a hidden sibling of dir,
 * PARENT/.NAME.ember-staging-HOST-PID-N, and published with one rename:
 *   - each task attempt writes STAGING/_temporary/_attempt-PPPPP-A;
 *   - when the attempt's records are all written (the sink's finish) the file is
 *     closed and renamed to STAGING/part-PPPPP[.gz|.zst]: the task commit; a
 *     failed attempt's file is removed;
 *   - when every task has committed, the driver writes STAGING/_SUCCESS, removes
 *     STAGING/_temporary, and renames STAGING to dir: the job commit. With
 *     conf.overwrite an existing dir is swapped out in the same step
 *     (renameat2 RENAME_EXCHANGE) and then removed.
 * So dir holds the complete output with _SUCCESS, or is as it was: a job that
 * fails or is cancelled removes its staging; a job killed at any moment (kill
 * -9, inside the commit too) leaves at most the hidden staging directory, which
 * no reader of dir sees and the next save into dir removes (its process is
 * gone). Readers refuse a directory of part files without _SUCCESS (another
 * tool's unfinished save; src/io/paths.c).
 *
 * Writes go through a 256 KiB buffer, compressed as a stream for gzip (zlib)
 * and zstd. A write error (a full disk) fails the task with the file named.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <fcntl.h>
#include <jansson.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bzlib.h>
#include <zlib.h>
#include "core/zmem.h"

#include "core/lazy.h"
#include "core/mkdirs.h"

#include "io/io.h"

#define WBUF (256u * 1024u)

enum { FMT_TEXT, FMT_CSV, FMT_JSON };

typedef struct save_args {
    const char *dir;
    const char *ext; /* "", ".gz", ".zst" */
    int codec;
    int format;
    unsigned char delim, quote; /* CSV */
    const char *header;         /* CSV: a line written first in every part file */
    const char *op;
    unsigned char kind, key_kind; /* text: int64 and double written as decimal text */
    bool numbers;                 /* ... either is one: a record may need that */
} save_args;

typedef struct save_state {
    ember_buf line; /* a formatted record (CSV) */
    int fd;         /* -1: no attempt file open */
    int attempt;
    unsigned char *buf, *zbuf;
    size_t len;
    z_stream z;
    bool z_on;
    bz_stream bz;
    bool bz_on;
    ZSTD_CStream *zs;
    char tmp[PATH_MAX];
} save_state;

/* The name of the saving action, for messages. */
#define OP(t) (((const save_args *)(t)->job->arg)->op)

static int fail_io(ember__task *t, int err, const char *what, const char *path)
{
    const save_args *a = t->job->arg;
    return ember__task_fail(t, -err, "%s: %s %s: %s", a->op, what, path, strerror(err));
}

static int write_all(ember__task *t, const save_state *s, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return fail_io(t, errno, "writing", s->tmp);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write n bytes through the codec; finish: end the compressed stream. */
static int put_through(ember__task *t, save_state *s, const unsigned char *p, size_t n, int codec,
                       bool finish)
{
    if (codec == EMBER__CODEC_NONE)
        return write_all(t, s, p, n);
    if (codec == EMBER__CODEC_GZIP) {
        s->z.next_in = (unsigned char *)(uintptr_t)p;
        s->z.avail_in = (uInt)n;
        int zr;
        do {
            s->z.next_out = s->zbuf;
            s->z.avail_out = WBUF;
            zr = deflate(&s->z, finish ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR)
                return ember__task_fail(t, EMBER_EIO, "%s: gzip failed on %s", OP(t), s->tmp);
            int rc = write_all(t, s, s->zbuf, WBUF - s->z.avail_out);
            if (rc)
                return rc;
        } while (s->z.avail_out == 0 || (finish && zr != Z_STREAM_END));
        return 0;
    }
    if (codec == EMBER__CODEC_BZIP2) {
        s->bz.next_in = (char *)(uintptr_t)p;
        s->bz.avail_in = (unsigned)n;
        int zr;
        do {
            s->bz.next_out = (char *)s->zbuf;
            s->bz.avail_out = WBUF;
            zr = BZ2_bzCompress(&s->bz, finish ? BZ_FINISH : BZ_RUN);
            if (zr < 0)
                return ember__task_fail(t, EMBER_EIO, "%s: bzip2 failed on %s (%d)", OP(t), s->tmp,
                                        zr);
            int rc = write_all(t, s, s->zbuf, WBUF - s->bz.avail_out);
            if (rc)
                return rc;
        } while (finish ? zr != BZ_STREAM_END : s->bz.avail_in > 0);
        return 0;
    }
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {s->zbuf, WBUF, 0};
        size_t left = ZSTD_compressStream2(s->zs, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            return ember__task_fail(t, EMBER_EIO, "%s: zstd failed on %s: %s", OP(t), s->tmp,
                                    ZSTD_getErrorName(left));
        int rc = write_all(t, s, s->zbuf, out.pos);
        if (rc)
            return rc;
        if (finish ? left == 0 : in.pos == in.size)
            return 0;
    }
}

static int flush_buf(ember__task *t, save_state *s, int codec)
{
    int rc = put_through(t, s, s->buf, s->len, codec, false);
    s->len = 0;
    return rc;
}

static void close_attempt(save_state *s, bool remove)
{
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
        if (remove)
            unlink(s->tmp);
    }
    if (s->z_on) {
        deflateEnd(&s->z);
        s->z_on = false;
    }
    if (s->bz_on) {
        BZ2_bzCompressEnd(&s->bz);
        s->bz_on = false;
    }
    s->len = 0;
}

static int open_attempt(ember__task *t, save_state *s, const save_args *a)
{
    if (!s->buf && !(s->buf = ember__malloc(WBUF)))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", OP(t));
    if (a->codec != EMBER__CODEC_NONE && !s->zbuf && !(s->zbuf = ember__malloc(WBUF)))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", OP(t));
    snprintf(s->tmp, sizeof s->tmp, "%s/_temporary/_attempt-%05d-%d", a->dir, t->partition,
             s->attempt);
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0)
        return fail_io(t, errno, "creating", s->tmp);
    if (a->codec == EMBER__CODEC_GZIP) {
        s->z = (z_stream){.zalloc = ember__zalloc, .zfree = ember__zfree};
        if (deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return ember__task_fail(t, EMBER_ENOMEM, "%s: cannot start gzip", OP(t));
        s->z_on = true;
    } else if (a->codec == EMBER__CODEC_BZIP2) {
        s->bz = (bz_stream){0};
        if (BZ2_bzCompressInit(&s->bz, 9, 0, 0) != BZ_OK)
            return ember__task_fail(t, EMBER_ENOMEM, "%s: cannot start bzip2", OP(t));
        s->bz_on = true;
    } else if (a->codec == EMBER__CODEC_ZSTD) {
        if (!s->zs && !(s->zs = ZSTD_createCStream_advanced(ember__zstd_mem)))
            return ember__task_fail(t, EMBER_ENOMEM, "%s: cannot start zstd", OP(t));
        ZSTD_CCtx_reset(s->zs, ZSTD_reset_session_only);
    }
    if (a->header) { /* CSV: every part file starts with the header line */
        size_t n = strlen(a->header);
        if (n + 1 < WBUF) {
            memcpy(s->buf, a->header, n);
            s->buf[n] = '\n';
            s->len = n + 1;
        }
    }
    return 0;
}

/* The bytes of a record as a CSV line: fields quoted when they hold the
 * delimiter, the quote or a line break; quotes doubled. Into out. */
static int csv_line(const save_args *a, ember_bytes row, ember_buf *out, ember__task *t)
{
    out->len = 0;
    ember_bytes f;
    size_t n = ember_csv_nfields(row);
    if (n == 0 && row.len)
        return ember__task_fail(t, EMBER_EINVAL, "%s: a record that is not a CSV row", a->op);
    for (size_t i = 0; i < n; i++) {
        if (ember_csv_field(row, i, &f))
            return ember__task_fail(t, EMBER_EINVAL, "%s: a record that is not a CSV row", a->op);
        const unsigned char *p = f.ptr;
        bool quote = false;
        for (size_t k = 0; k < f.len && !quote; k++)
            quote = p[k] == a->delim || p[k] == a->quote || p[k] == '\n' || p[k] == '\r';
        int rc = i ? ember_buf_append(out, &a->delim, 1) : 0;
        if (!rc && quote)
            rc = ember_buf_append(out, &a->quote, 1);
        for (size_t k = 0; k < f.len && !rc; k++) {
            if (quote && p[k] == a->quote)
                rc = ember_buf_append(out, &a->quote, 1);
            if (!rc)
                rc = ember_buf_append(out, &p[k], 1);
        }
        if (!rc && quote)
            rc = ember_buf_append(out, &a->quote, 1);
        if (rc)
            return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", a->op);
    }
    return 0;
}

static int save_push(ember_out *self, const ember_rec *rec)
{
    save_state *s = self->state;
    ember__task *t = self->task;
    const save_args *a = t->job->arg;
    int rc;
    if (s->fd < 0 && (rc = open_attempt(t, s, a)))
        return rc;
    ember_rec csv = *rec;
    char knum[32], vnum[32];
    if (__builtin_expect(a->numbers, 0)) {
        /* numbers by their kind: the text Spark writes, not 8 raw bytes */
        if (rec->key.ptr && rec->key.len == 8 && a->key_kind >= EMBER_KIND_I64 &&
            a->key_kind <= EMBER_KIND_F64)
            csv.key = ember_bytes_of(
                knum,
                (size_t)(a->key_kind == EMBER_KIND_I64
                             ? snprintf(knum, sizeof knum, "%lld", (long long)ember_i64(rec->key))
                             : snprintf(knum, sizeof knum, "%.17g", ember_f64(rec->key))));
        if (rec->val.len == 8 && a->kind >= EMBER_KIND_I64 && a->kind <= EMBER_KIND_F64)
            csv.val = ember_bytes_of(
                vnum,
                (size_t)(a->kind == EMBER_KIND_I64
                             ? snprintf(vnum, sizeof vnum, "%lld", (long long)ember_i64(rec->val))
                             : snprintf(vnum, sizeof vnum, "%.17g", ember_f64(rec->val))));
        rec = &csv;
    } else if (a->format == FMT_CSV) {
        if ((rc = csv_line(a, rec->val, &s->line, t)))
            return rc;
        ember__rec_set(&csv, NULL, 0, s->line.ptr ? s->line.ptr : (const unsigned char *)"",
                       s->line.len);
        rec = &csv;
    } else if (a->format == FMT_JSON &&
               (rec->key.ptr || memchr(rec->val.ptr ? rec->val.ptr : "", '\n', rec->val.len))) {
        return ember__task_fail(t, EMBER_EINVAL,
                                "%s: a record that is not one line of JSON (a key, or a line "
                                "break)",
                                a->op);
    } else if (a->format == FMT_JSON && a->kind != EMBER_KIND_JSON) {
        /* text that is not JSON is refused (a JSON source's records are) */
        json_error_t e;
        json_t *j = json_loadb(rec->val.ptr ? (const char *)rec->val.ptr : "", rec->val.len,
                               JSON_DECODE_ANY, &e);
        if (!j)
            return ember__task_fail(
                t, EMBER_EINVAL, "%s: partition %d record %lld is not JSON: %s (column %d)", a->op,
                t->partition, (long long)t->records_out + 1, e.text, e.column);
        json_decref(j);
    }
    size_t need = rec->val.len + 1 + (rec->key.ptr ? rec->key.len + 1 : 0);
    if (s->len + need > WBUF && (rc = flush_buf(t, s, a->codec)))
        return rc;
    t->records_out++;
    if (need > WBUF) { /* a huge record goes straight through */
        if (rec->key.ptr &&
            ((rc = put_through(t, s, rec->key.ptr, rec->key.len, a->codec, false)) ||
             (rc = put_through(t, s, (const unsigned char *)"\t", 1, a->codec, false))))
            return rc;
        if ((rc = put_through(t, s, rec->val.ptr, rec->val.len, a->codec, false)))
            return rc;
        return put_through(t, s, (const unsigned char *)"\n", 1, a->codec, false);
    }
    unsigned char *p = s->buf + s->len;
    if (rec->key.ptr) {
        memcpy(p, rec->key.ptr, rec->key.len);
        p += rec->key.len;
        *p++ = '\t';
    }
    if (rec->val.len)
        memcpy(p, rec->val.ptr, rec->val.len);
    p[rec->val.len] = '\n';
    s->len += need;
    return 0;
}

static int save_reset(void *state, const ember__job *job)
{
    (void)job;
    save_state *s = state;
    if (!s->attempt) /* first use: zeroed state, no file yet */
        s->fd = -1;
    close_attempt(s, true); /* a failed attempt's file goes */
    s->attempt++;
    return 0;
}

/* The task commit: all records are in; close the attempt file and move it to
 * its part name under _temporary. */
static int save_finish(void *state, ember__task *t)
{
    save_state *s = state;
    const save_args *a = t->job->arg;
    int rc = 0;
    if (s->fd < 0) /* an empty partition still gets its (empty) part file */
        rc = open_attempt(t, s, a);
    if (!rc)
        rc = flush_buf(t, s, a->codec);
    if (!rc && a->codec != EMBER__CODEC_NONE)
        rc = put_through(t, s, NULL, 0, a->codec, true);
    if (rc) {
        close_attempt(s, true);
        return rc;
    }
    close(s->fd);
    s->fd = -1;
    if (s->z_on) {
        deflateEnd(&s->z);
        s->z_on = false;
    }
    if (s->bz_on) {
        BZ2_bzCompressEnd(&s->bz);
        s->bz_on = false;
    }
    char part[PATH_MAX + 64];
    snprintf(part, sizeof part, "%s/part-%05d%s", a->dir, t->partition, a->ext);
    if (rename(s->tmp, part) != 0) {
        int e = errno;
        unlink(s->tmp);
        return fail_io(t, e, "committing", part);
    }
    return 0;
}

static void save_destroy(void *state)
{
    save_state *s = state;
    if (s->attempt)
        close_attempt(s, true);
    ember__free(s->buf);
    ember__free(s->zbuf);
    ember_buf_destroy(&s->line);
    if (s->zs)
        ZSTD_freeCStream(s->zs);
}

static const ember__sink_ops save_sink = {.state_size = sizeof(save_state),
                                          .push = save_push,
                                          .reset = save_reset,
                                          .destroy = save_destroy,
                                          .finish = save_finish};

/* ---------------------------------------------------------------- the driver's side */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) ? -1 : 0;
}

static int rm_tree(const char *path)
{
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A directory that holds nothing but _temporary: what a killed save of an
 * earlier version left. */
static bool only_temporary(const char *dir)
{
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/_temporary", dir);
    struct stat st;
    if (stat(probe, &st) != 0)
        return false;
    bool only = true;
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "_temporary"))
            only = false;
    closedir(d);
    return only;
}

/* dir's parent and name (dir without trailing slashes). */
static void split_dir(const char *dir, char *parent, size_t plen, char *name, size_t nlen)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", dir);
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/')
        d[--n] = 0;
    char *slash = strrchr(d, '/');
    if (!slash) {
        snprintf(parent, plen, ".");
        snprintf(name, nlen, "%s", d);
    } else if (slash == d) {
        snprintf(parent, plen, "/");
        snprintf(name, nlen, "%s", d + 1);
    } else {
        *slash = 0;
        snprintf(parent, plen, "%s", d);
        snprintf(name, nlen, "%s", slash + 1);
    }
}

/* Remove the staging directories of dir that killed saves left on this host
 * (their process is gone). */
static void clear_stale_staging(const char *parent, const char *name, const char *host)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    char prefix[PATH_MAX + 64];
    snprintf(prefix, sizeof prefix, ".%s.ember-staging-%s-", name, host);
    size_t pl = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, pl))
            continue;
        long pid = strtol(e->d_name + pl, NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            char path[2 * PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
            rm_tree(path);
        }
    }
    closedir(d);
}

/* Check dir and make the staging directory (and dir's missing parents). 0, or
 * the error with its message on ctx. */
static int prepare_dir(ember_ctx *ctx, const char *op, const char *dir, char *staging, size_t slen)
{
    struct stat st;
    int rc;
    char parent[PATH_MAX], name[PATH_MAX], host[64] = "host";
    split_dir(dir, parent, sizeof parent, name, sizeof name);
    if (!strcmp(name, "") || !strcmp(name, ".") || !strcmp(name, ".."))
        return ember__err(ctx, EMBER_EINVAL, "%s: %s names no directory to make", op, dir);
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return ember__err(ctx, EMBER_EINVAL, "%s: %s exists and is not a directory", op, dir);
        if (only_temporary(dir)) {
            rm_tree(dir); /* an earlier version's killed run */
        } else if (!ctx->overwrite) {
            return ember__err(ctx, EMBER_EINVAL,
                              "%s: output directory %s already exists (set conf.overwrite to "
                              "replace it)",
                              op, dir);
        }
    }
    if ((rc = ember__mkdirs(parent)))
        return ember__err(ctx, rc, "%s: cannot create %s: %s", op, dir, strerror(-rc));
    gethostname(host, sizeof host - 1);
    for (char *h = host; *h; h++)
        if (*h == '/' || *h == '-')
            *h = '_';
    clear_stale_staging(parent, name, host);
    static _Atomic unsigned seq;
    int sn = snprintf(staging, slen, "%s/.%s.ember-staging-%s-%ld-%u", parent, name, host,
                      (long)getpid(), atomic_fetch_add(&seq, 1));
    if (sn < 0 || (size_t)sn >= slen)
        return ember__err(ctx, EMBER_EINVAL, "%s: the path %s is too long", op, dir);
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s/_temporary", staging);
    if (mkdir(staging, 0755) != 0 || mkdir(tmp, 0755) != 0) {
        rc = ember__err(ctx, -errno, "%s: cannot create %s: %s", op, tmp, strerror(errno));
        rm_tree(staging);
        return rc;
    }
    return 0;
}

/* The job commit: _SUCCESS, then staging becomes dir in one rename. 0 or the
 * error (staging left for the caller to remove). */
static int publish(ember_ctx *ctx, const char *op, const char *staging, const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/_SUCCESS", staging);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ember__err(ctx, -errno, "%s: cannot write %s: %s", op, path, strerror(errno));
    close(fd);
    snprintf(path, sizeof path, "%s/_temporary", staging);
    rm_tree(path);
    if (rename(staging, dir) == 0)
        return 0;
    int e = errno;
    if ((e == ENOTEMPTY || e == EEXIST) && ctx->overwrite) {
        /* swap the old output out in one step, then remove it (it is now at
         * the staging path) */
        if (renameat2(AT_FDCWD, staging, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
            rm_tree(staging);
            return 0;
        }
        e = errno;
        if (e == EINVAL || e == ENOSYS) { /* a file system without the exchange */
            char old[PATH_MAX + 32];
            snprintf(old, sizeof old, "%s.old", staging);
            if (rename(dir, old) == 0) {
                if (rename(staging, dir) == 0) {
                    rm_tree(old);
                    return 0;
                }
                e = errno;
                rename(old, dir);
            } else {
                e = errno;
            }
        }
    }
    return ember__err(ctx, -e, "%s: cannot move the output into place at %s: %s", op, dir,
                      strerror(e));
}

/* Under MPI: rank 0's staging path, for every rank's tasks. */
static int share_path(ember_ctx *ctx, char *path, size_t cap)
{
    if (ctx->ranks <= 1)
        return 0;
    ember_buf b = {0};
    int rc = ctx->rank == 0 ? ember_buf_append(&b, path, strlen(path) + 1) : 0;
    if (!rc)
        rc = ctx->exec->bcast(ctx->exec_impl, &b, 0);
    if (!rc && b.len && b.len <= cap)
        memcpy(path, b.ptr, b.len);
    else if (!rc)
        rc = EMBER_EIO;
    ember_buf_destroy(&b);
    return rc;
}

static int save_run(ember_rdd *rdd, const char *dir, const char *codec, save_args a)
{
    const char *op = a.op;
    int rc = 0;
    ember_ctx *ctx = rdd->ctx;
    if (!dir || !*dir || strlen(dir) > PATH_MAX - 200)
        return ember__err(ctx, EMBER_EINVAL, "%s: dir is NULL, empty or too long", op);
    if (a.header && (strlen(a.header) + 1 >= WBUF || strchr(a.header, '\n')))
        return ember__err(ctx, EMBER_EINVAL, "%s: the header must be one short line", op);
    if (codec && !strcmp(codec, "gzip")) {
        a.ext = ".gz";
        a.codec = EMBER__CODEC_GZIP;
    } else if (codec && (!strcmp(codec, "bzip2") || !strcmp(codec, "bz2"))) {
        a.ext = ".bz2";
        a.codec = EMBER__CODEC_BZIP2;
    } else if (codec && !strcmp(codec, "zstd")) {
        a.ext = ".zst";
        a.codec = EMBER__CODEC_ZSTD;
    } else if (codec) {
        return ember__err(ctx, EMBER_EINVAL,
                          "%s: unknown codec '%s' (NULL, \"gzip\", \"zstd\" or \"bzip2\")", op,
                          codec);
    }
    ember__lib *lib = ember__codec_lib(a.codec);
    if (lib && ember__lib_load(lib)) /* loaded here: the workers forked later have it */
        return ember__err(ctx, EMBER_ENOTSUP, "%s: %s", op, lib->err);

    /* Distributed: rank 0 prepares and publishes the output (a shared file
     * system); the tasks of every rank write into its staging directory, and
     * every rank returns what rank 0 found. */
    char staging[PATH_MAX] = "";
    bool leader = ctx->rank == 0;
    if (leader)
        rc = prepare_dir(ctx, op, dir, staging, sizeof staging);
    if ((rc = ember__agree(ctx, rc)))
        return rc;
    if ((rc = share_path(ctx, staging, sizeof staging))) {
        if (leader)
            rm_tree(staging);
        return ember__err(ctx, rc, "%s: the ranks could not share the staging directory", op);
    }
    a.dir = staging; /* the tasks' files go there */

    ember__job *job;
    if ((rc = ember__job_run(rdd, op, &save_sink, &a, NULL, 0, &job))) {
        if (leader) /* cleaned up before any rank returns */
            rm_tree(staging);
        return ember__agree(ctx, rc);
    }
    if (leader) {
        rc = publish(ctx, op, staging, dir);
        if (rc)
            rm_tree(staging);
    }
    ember__job_end(job, rc);
    return ember__agree(ctx, rc);
}

static int save(ember_rdd *rdd, const char *dir, const char *codec, save_args a)
{
    const char *op = a.op;
    int rc = ember__action_begin(rdd, op);
    if (rc)
        return rc;
    int kind = rdd->kind, key_kind = rdd->key_kind;
    if (a.format == FMT_TEXT && /* JSON lines check each line that is not known JSON */
        ((rc = ember__kind_for(rdd, false, op, &kind)) ||
         (rc = ember__kind_for(rdd, true, op, &key_kind))))
        return ember__action_end(rdd->ctx, rc);
    a.kind = (unsigned char)kind;
    a.key_kind = (unsigned char)key_kind;
    a.numbers =
        a.format == FMT_TEXT && ((a.kind >= EMBER_KIND_I64 && a.kind <= EMBER_KIND_F64) ||
                                 (a.key_kind >= EMBER_KIND_I64 && a.key_kind <= EMBER_KIND_F64));
    return ember__action_end(rdd->ctx, save_run(rdd, dir, codec, a));
}

int ember_save_as_text_file(ember_rdd *rdd, const char *dir, const char *codec)
{
    return save(rdd, dir, codec,
                (save_args){.ext = "", .format = FMT_TEXT, .op = "save_as_text_file"});
}

int ember_save_as_csv(ember_rdd *rdd, const char *dir, const char *codec,
                      const ember_csv_opts *opts, const char *header)
{
    ember_csv_opts o = opts ? *opts : (ember_csv_opts){0};
    return save(rdd, dir, codec,
                (save_args){.ext = "",
                            .format = FMT_CSV,
                            .op = "save_as_csv",
                            .delim = (unsigned char)(o.delimiter ? o.delimiter : ','),
                            .quote = (unsigned char)(o.quote ? o.quote : '"'),
                            .header = header});
}

int ember_save_as_json_lines(ember_rdd *rdd, const char *dir, const char *codec)
{
    return save(rdd, dir, codec,
                (save_args){.ext = "", .format = FMT_JSON, .op = "save_as_json_lines"});
}

/* ---------------------------------------------------------------- noop */

int ember_save_noop(ember_rdd *rdd, int64_t *count)
{
    int64_t n = 0;
    int rc = ember__count_as(rdd, "save_noop", &n);
    if (!rc && count)
        *count = n;
    return rc;
}
