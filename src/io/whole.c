/* Whole text files: one (path, content) record per file.
 *
 * Files are dealt to partitions in order, in contiguous runs of about equal
 * total size. A plain file's mapping is its record's value (io/input.c maps
 * it); .gz and .zst are decompressed whole, one allocation a file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "io/io.h"

typedef struct whole_src {
    ember__files files;
    size_t *first; /* partition i holds files [first[i], first[i+1]) */
} whole_src;

static void whole_free(void *p)
{
    whole_src *s = p;
    if (!s)
        return;
    ember__files_destroy(&s->files);
    ember__free(s->first);
    ember__free(s);
}

static int append_chunk(const unsigned char *data, size_t len, void *arg)
{
    return ember_buf_append(arg, data, len);
}

static int whole_feed(ember_rdd *n, int part, ember_out *sink)
{
    const char *op = "whole_text_files";
    const whole_src *s = n->u.state;
    ember__task *t = sink->task;
    ember_buf content = {0};
    int rc = 0;
    for (size_t i = s->first[part]; i < s->first[part + 1] && !rc; i++) {
        const ember__file *f = &s->files.v[i];
        ember__mapped m = {0};
        ember_bytes v;
        if (f->codec == EMBER__CODEC_NONE) { /* the mapping is the value */
            if ((rc = ember__map_file(op, f->path, t, &m)))
                break;
            v = ember_bytes_of(m.size ? m.base : (const unsigned char *)"", m.size);
        } else { /* decompressed whole: one allocation, the value */
            char why[512];
            content.len = 0;
            if ((rc = ember__codec_stream(f, append_chunk, &content, why, sizeof why))) {
                rc = ember__task_fail(t, rc, "%s: %s", op,
                                      why[0] ? why : "out of memory reading a file");
                break;
            }
            v = ember_bytes_of(content.ptr ? content.ptr : (const unsigned char *)"", content.len);
        }
        ember_rec r;
        ember__rec_set(&r, f->path, strlen(f->path), v.ptr, v.len);
        t->records_in++;
        rc = sink->push(sink, &r);
        if (!rc && ember__halted(t))
            rc = ember__halt_code(t);
        ember__unmap_file(&m);
    }
    ember_buf_destroy(&content);
    return rc;
}

static void whole_node_free(ember_rdd *n)
{
    whole_free(n->u.state);
}

static const ember__node_type whole_type = {
    .name = "whole_text_files", .compute = whole_feed, .free = whole_node_free};

ember_rdd *ember_whole_text_files(ember_ctx *ctx, const char *paths, int min_parts)
{
    const char *op = "whole_text_files";
    if (!ember__source_ctx_ok(ctx, op))
        return NULL;
    if (!paths || !*paths)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: no paths given", op);
    if (min_parts < 0)
        return ember__rdd_error(ctx, EMBER_EINVAL, "%s: min_parts must be >= 0", op);
    whole_src *s = ember__calloc(1, sizeof *s);
    if (!s)
        return ember__rdd_error(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    int rc = ember__paths_expand(ctx, op, paths, &s->files);
    size_t nparts = 0;
    if (!rc) {
        size_t want =
            (size_t)(min_parts ? min_parts : (ctx->parallelism < 2 ? ctx->parallelism : 2));
        nparts = want < s->files.n ? want : s->files.n;
        if (!(s->first = ember__calloc(nparts + 1, sizeof *s->first)))
            rc = ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    }
    if (!rc) {
        /* contiguous runs of about total/nparts bytes, one file at least each */
        uint64_t total = 0, acc = 0;
        for (size_t i = 0; i < s->files.n; i++)
            total += s->files.v[i].size + 1;
        size_t part = 1;
        for (size_t i = 0; i < s->files.n && part < nparts; i++) {
            acc += s->files.v[i].size + 1;
            size_t left_files = s->files.n - (i + 1), left_parts = nparts - part;
            if (left_files == left_parts || acc * nparts >= total * part)
                s->first[part++] = i + 1;
        }
        s->first[nparts] = s->files.n;
    }
    if (rc) {
        whole_free(s);
        return ember__rdd_error(ctx, rc, "%s", ember_errmsg(ctx));
    }
    ember_rdd *r = ember__rdd_new(ctx, &whole_type, op, (int)nparts, NULL, NULL);
    if (ember__rdd_failed(r)) {
        whole_free(s);
        return r;
    }
    r->u.state = s;
    r->kind = r->key_kind = EMBER_KIND_STRING; /* (path, content) */
    return r;
}
