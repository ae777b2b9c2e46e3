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
    ember__input in;          /* first: the input path's (io/input.c) */
    ember__line_check *check; /* structured readers */
} text_src;

static void text_free(text_src *s)
{
    if (!s)
        return;
    ember__input_close(&s->in);
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
    return ember__bad_record(&ls->bad, sink->task, ls->path, line_number(ls), p, n, why);
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
    const ember__file *f = &s->in.files.v[sp->file];
    ember__mapped m;
    int rc = ember__map_file(s->in.op, f->path, sink->task, &m);
    if (rc || sp->start >= m.size) {
        ember__unmap_file(&m);
        return rc;
    }
    const unsigned char *base = m.base, *end = base + m.size, *p = base + sp->start;
    if (sp->start > 0) { /* the line holding byte start-1 belongs to the split before */
        const unsigned char *nl = memchr(p - 1, '\n', (size_t)(end - (p - 1)));
        p = nl ? nl + 1 : end;
    }
    const unsigned char *stop = base + (sp->end < m.size ? sp->end : m.size);
    ls->map = base;
    ls->first = (size_t)(p - base);
    ember__scan scan;
    ember__scan_init(&scan, p, end);
    while (p < stop && !rc) {
        const unsigned char *nl = ember__scan_next(&scan);
        const unsigned char *eol = nl ? nl : end;
        rc = emit_line(ls, p, (size_t)(eol - p), sink);
        p = eol + 1;
    }
    ls->map = NULL;
    ember__unmap_file(&m);
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

static int text_feed(ember_rdd *n, int part, ember_out *sink)
{
    const text_src *s = n->u.state;
    const ember__split *sp = &s->in.splits[part];
    ember__task *t = sink->task;
    const ember__file *f = &s->in.files.v[sp->file];
    ember__lines ls = {.check = s->check,
                       .path = f->path,
                       .base = sp->start == 0 || f->codec != EMBER__CODEC_NONE ? 0 : UINT64_MAX,
                       .bad.in = &s->in};
    int rc;
    if (f->codec == EMBER__CODEC_NONE) {
        rc = feed_plain(s, sp, sink, &ls);
    } else {
        chunk_arg c = {&ls, sink};
        rc = ember__input_stream(&s->in, f, t, on_chunk, &c);
        if (!rc)
            rc = ember__lines_end(&ls, sink);
    }
    ember_buf_destroy(&ls.pending);
    return ember__input_end(&ls.bad, t, part, ls.count, rc);
}

static void text_node_free(ember_rdd *n)
{
    text_free(n->u.state);
}

static const ember__node_type text_type = {
    .name = "text_file", .flags = EMBER__NT_READER, .compute = text_feed, .free = text_node_free};

ember_rdd *ember__text_source(ember_ctx *ctx, const char *op, const char *paths, int min_parts,
                              ember__line_check *check, const ember_read_opts *opts)
{
    if (!ember__source_ctx_ok(ctx, op))
        return NULL;
    text_src *s = ember__calloc(1, sizeof *s);
    if (!s)
        return ember__rdd_error(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    s->check = check;
    int rc = ember__input_open(&s->in, ctx, op, paths, min_parts, opts, check != NULL, true);
    if (rc) {
        text_free(s);
        return ember__rdd_error(ctx, rc, "%s", ember_errmsg(ctx));
    }
    ember_rdd *r = ember__rdd_new(ctx, &text_type, op, s->in.nsplits, NULL, NULL);
    if (ember__rdd_failed(r)) {
        text_free(s);
        return r;
    }
    r->u.state = s;
    return r;
}

ember_rdd *ember_text_file(ember_ctx *ctx, const char *paths, int min_parts)
{
    return ember_as_string(ember__text_source(ctx, "text_file", paths, min_parts, NULL, NULL));
}
