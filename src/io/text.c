/* Text files as rdds of lines.
 *
 * Splits follow Hadoop's FileInputFormat: a split size of min(total size /
 * min_parts, 32 MiB), at least 1 byte; a file is cut into splits of that size,
 * the last up to 1.1 times it; an empty file is one empty split; a compressed
 * file is one split, read as a stream. A line belongs to the split that holds
 * its first byte, so no line is lost or read twice at a split edge: a split
 * starting inside a line skips to the next line start, and reads lines while they
 * start before its end, past its end if a line runs over.
 *
 * Plain files are mapped (mmap) and lines point into the mapping: no allocation
 * per line. Lines end at "\n"; a "\r" before it is dropped; a last line without
 * newline is a line. The values carry no newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

typedef struct text_src {
    ember__files files;
    ember__split *splits;
    int nsplits;
    const char *op;
    ember__line_check *check; /* structured readers */
    int on_bad;
    char *bad_dir;
    ember_accumulator *bad; /* skipped or diverted, over successful attempts */
} text_src;

static void text_free(void *p)
{
    text_src *s = p;
    if (!s)
        return;
    ember__files_destroy(&s->files);
    ember__accumulator_free(s->bad);
    ember__free(s->splits);
    ember__free(s->bad_dir);
    ember__free(s);
}

/* ---------------------------------------------------------------- bad records */

static uint64_t line_number(ember__lines *ls)
{
    if (ls->base == UINT64_MAX) { /* count the lines before the split, once */
        ls->base = ls->map ? ember__count_byte(ls->map, ls->map + ls->first, '\n') : 0;
    }
    return ls->base + ls->line;
}

static __attribute__((noinline)) int bad_line(ember__lines *ls, const unsigned char *p, size_t n,
                                              const char *why, ember_out *sink)
{
    uint64_t at = line_number(ls);
    if (ls->on_bad == EMBER_BAD_FAIL)
        return ember__task_fail(sink->task, EMBER_EINVAL, "%s: %s:%llu: %s", ls->op, ls->path,
                                (unsigned long long)at, why);
    ls->bad++;
    if (ls->on_bad == EMBER_BAD_DIVERT) {
        char head[64];
        int hn = snprintf(head, sizeof head, ":%llu\t", (unsigned long long)at);
        if (ember_buf_append(&ls->diverted, ls->path, strlen(ls->path)) ||
            ember_buf_append(&ls->diverted, head, (size_t)hn) ||
            ember_buf_append(&ls->diverted, p, n) || ember_buf_append(&ls->diverted, "\n", 1))
            return ember__task_fail(sink->task, EMBER_ENOMEM, "%s: out of memory diverting",
                                    ls->op);
    }
    return 0;
}

/* ---------------------------------------------------------------- lines */

static int emit_line(ember__lines *ls, const unsigned char *p, size_t n, ember_out *sink)
{
    if (n && p[n - 1] == '\r')
        n--;
    ls->line++;
    if (ls->check) {
        char why[256];
        int c = ls->check(p, n, why, sizeof why);
        if (c > 0)
            return 0;
        if (c < 0)
            return bad_line(ls, p, n, why, sink);
    }
    ls->count++;
    ember_rec r;
    ember__rec_set(&r, NULL, 0, n ? p : (const unsigned char *)"", n);
    int rc = sink->push(sink, &r);
    return rc ? rc : (ember__halted(sink->task) ? ember__halt_code(sink->task) : 0);
}

int ember__lines_push(ember__lines *ls, const unsigned char *data, size_t len, ember_out *sink)
{
    const unsigned char *p = data, *end = data + len;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            if (ember_buf_append(&ls->pending, p, (size_t)(end - p)))
                return ember__task_fail(sink->task, EMBER_ENOMEM, "out of memory on a long line");
            ls->have_pending = true;
            return 0;
        }
        int rc;
        if (ls->have_pending) {
            if (ember_buf_append(&ls->pending, p, (size_t)(nl - p)))
                return ember__task_fail(sink->task, EMBER_ENOMEM, "out of memory on a long line");
            rc = emit_line(ls, ls->pending.ptr, ls->pending.len, sink);
            ls->pending.len = 0;
            ls->have_pending = false;
        } else {
            rc = emit_line(ls, p, (size_t)(nl - p), sink);
        }
        if (rc)
            return rc;
        p = nl + 1;
    }
    return 0;
}

int ember__lines_end(ember__lines *ls, ember_out *sink)
{
    if (!ls->have_pending)
        return 0;
    ls->have_pending = false;
    int rc = emit_line(ls, ls->pending.ptr, ls->pending.len, sink);
    ls->pending.len = 0;
    return rc;
}

/* ---------------------------------------------------------------- reading a split */

static int feed_plain(const text_src *s, const ember__split *sp, ember_out *sink, ember__lines *ls)
{
    const ember__file *f = &s->files.v[sp->file];
    ember__task *t = sink->task;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ember__task_fail(t, -errno, "%s: cannot open %s: %s", s->op, f->path,
                                strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ember__task_fail(t, -e, "%s: cannot stat %s: %s", s->op, f->path, strerror(e));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size == 0 || sp->start >= size) {
        close(fd);
        return 0;
    }
    const unsigned char *base = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (base == MAP_FAILED)
        return ember__task_fail(t, -e, "%s: cannot map %s: %s", s->op, f->path, strerror(e));
    madvise((void *)(uintptr_t)base, (size_t)size, MADV_SEQUENTIAL);

    const unsigned char *end = base + size, *p = base + sp->start;
    if (sp->start > 0) { /* the line holding byte start-1 belongs to the split before */
        const unsigned char *nl = memchr(p - 1, '\n', (size_t)(end - (p - 1)));
        p = nl ? nl + 1 : end;
    }
    const unsigned char *stop = base + (sp->end < size ? sp->end : size);
    ls->map = base;
    ls->first = (size_t)(p - base);
    int rc = 0;
    ember__scan scan;
    ember__scan_init(&scan, p, end);
    while (p < stop && !rc) {
        const unsigned char *nl = ember__scan_next(&scan);
        const unsigned char *eol = nl ? nl : end;
        rc = emit_line(ls, p, (size_t)(eol - p), sink);
        p = eol + 1;
    }
    if (ls->bad && ls->base == UINT64_MAX && ls->on_bad != EMBER_BAD_FAIL)
        line_number(ls); /* while the mapping lives */
    ls->map = NULL;
    munmap((void *)(uintptr_t)base, (size_t)size);
    return rc;
}

typedef struct chunk_arg {
    ember__lines *ls;
    ember_out *sink;
} chunk_arg;

static int on_chunk(const unsigned char *data, size_t len, void *arg)
{
    chunk_arg *c = arg;
    return ember__lines_push(c->ls, data, len, c->sink);
}

/* Diverted records of a partition, written once the split is read: a retried
 * attempt rewrites the same file, so nothing is written twice. */
int ember__write_diverted(const char *op, const char *dir, int part, const ember_buf *b,
                          ember__task *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/part-%05d", dir, part);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ember__task_fail(t, -errno, "%s: cannot write bad records to %s: %s", op, path,
                                strerror(errno));
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->ptr + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return ember__task_fail(t, -e, "%s: writing %s: %s", op, path, strerror(e));
        }
        off += (size_t)w;
    }
    close(fd);
    return 0;
}

static int text_feed(ember_rdd *n, int part, ember_out *sink)
{
    const text_src *s = n->u.state;
    const ember__split *sp = &s->splits[part];
    ember__task *t = sink->task;
    const ember__file *f = &s->files.v[sp->file];
    ember__lines ls = {.check = s->check,
                       .on_bad = s->on_bad,
                       .op = s->op,
                       .path = f->path,
                       .base = sp->start == 0 || f->codec != EMBER__CODEC_NONE ? 0 : UINT64_MAX};
    int rc;
    if (f->codec == EMBER__CODEC_NONE) {
        rc = feed_plain(s, sp, sink, &ls);
    } else {
        chunk_arg c = {&ls, sink};
        rc = ember__codec_stream(f, t, s->op, on_chunk, &c);
        if (!rc)
            rc = ember__lines_end(&ls, sink);
    }
    t->records_in += ls.count + ls.bad;
    if (ls.bad && (!rc || rc == EMBER__STOP)) {
        t->records_bad += ls.bad;
        int brc = ember_accumulator_add_i64(s->bad, ls.bad);
        if (!brc && s->on_bad == EMBER_BAD_DIVERT)
            brc = ember__write_diverted(s->op, s->bad_dir, part, &ls.diverted, t);
        if (brc && !t->fail_code)
            ember__task_fail(t, brc, "%s: counting bad records failed", s->op);
    }
    ember_buf_destroy(&ls.pending);
    ember_buf_destroy(&ls.diverted);
    if (t->fail_code)
        return t->fail_code;
    return rc;
}

static void text_node_free(ember_rdd *n)
{
    text_free(n->u.state);
}

static const ember__node_type text_type = {
    .name = "text_file", .compute = text_feed, .free = text_node_free};

ember_rdd *ember__text_source(ember_ctx *ctx, const char *op, const char *paths, int min_parts,
                              ember__line_check *check, const ember_read_opts *opts)
{
    if (!ember__source_ctx_ok(ctx, op))
        return NULL;
    if (!paths || !*paths)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: no paths given", op);
    if (min_parts < 0)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: min_parts must be >= 0 (got %d)", op,
                                min_parts);
    int on_bad = opts ? (int)opts->on_bad : EMBER_BAD_FAIL;
    if (on_bad < EMBER_BAD_FAIL || on_bad > EMBER_BAD_DIVERT)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: unknown on_bad policy %d", op, on_bad);
    if (on_bad == EMBER_BAD_DIVERT && (!opts->bad_dir || !*opts->bad_dir))
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: EMBER_BAD_DIVERT needs opts.bad_dir", op);
    text_src *s = ember__calloc(1, sizeof *s);
    if (!s)
        return ember__rdd_error(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    s->op = op;
    s->check = check;
    s->on_bad = on_bad;
    int rc = 0;
    if (on_bad == EMBER_BAD_DIVERT) {
        s->bad_dir = ember__strdup(opts->bad_dir);
        if (!s->bad_dir)
            rc = ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
        else if (mkdir(s->bad_dir, 0755) != 0 && errno != EEXIST)
            rc = ember__err(ctx, -errno, "%s: cannot create %s: %s", op, s->bad_dir,
                            strerror(errno));
    }
    if (!rc && check && !(s->bad = ember_accumulator_i64(ctx, 0)))
        rc = ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    if (!rc)
        rc = ember__paths_expand(ctx, op, paths, &s->files);
    if (!rc && s->files.n > UINT32_MAX)
        rc = ember__err(ctx, EMBER_ERANGE, "%s: too many files", op);
    int want = min_parts ? min_parts : (ctx->parallelism < 2 ? ctx->parallelism : 2);
    if (!rc && (rc = ember__make_splits(&s->files, want, true, &s->splits, &s->nsplits)))
        ember__err(ctx, rc, "%s: out of memory splitting %zu files", op, s->files.n);
    if (rc) {
        text_free(s);
        return ember__rdd_error(ctx, rc, "%s", ember_errmsg(ctx));
    }
    ember_rdd *r = ember__rdd_new(ctx, &text_type, op, s->nsplits, NULL, NULL);
    if (ember__rdd_failed(r)) {
        text_free(s);
        return r;
    }
    r->u.state = s;
    return r;
}

ember_rdd *ember_text_file(ember_ctx *ctx, const char *paths, int min_parts)
{
    return ember__text_source(ctx, "text_file", paths, min_parts, NULL, NULL);
}

int ember_bad_records(ember_rdd *rdd, int64_t *count)
{
    int rc = ember__rdd_check(rdd, "ember_bad_records");
    if (rc)
        return rc;
    if (count && ember__csv_bad_records(rdd, count) == 0)
        return 0;
    if (rdd->type != &text_type || !count || !((text_src *)rdd->u.state)->bad)
        return ember__err(rdd->ctx, EMBER_EINVAL, "ember_bad_records: not a reader's rdd");
    return ember_accumulator_value_i64(((text_src *)rdd->u.state)->bad, count);
}
