/* Whole text files: one (path, content) record per file.
 *
 * Files are dealt to partitions in order, in contiguous runs of about equal
 * total size. Each file is read whole (decompressed whole for .gz and .zst):
 * one allocation per file, the record's value.
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

static int read_whole(const ember__file *f, ember_buf *out, ember__task *t)
{
    out->len = 0;
    if (f->codec != EMBER__CODEC_NONE)
        return ember__codec_stream(f, t, "whole_text_files", append_chunk, out);
    FILE *fp = fopen(f->path, "rb");
    if (!fp)
        return ember__task_fail(t, -errno, "whole_text_files: cannot open %s: %s", f->path,
                                strerror(errno));
    unsigned char chunk[65536];
    size_t got;
    int rc = 0;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if (ember_buf_append(out, chunk, got))
            rc = ember__task_fail(t, EMBER_ENOMEM, "whole_text_files: out of memory reading %s",
                                  f->path);
    if (!rc && ferror(fp))
        rc = ember__task_fail(t, EMBER_EIO, "whole_text_files: cannot read %s", f->path);
    fclose(fp);
    return rc;
}

static int whole_feed(ember_rdd *n, int part, ember_out *sink)
{
    const whole_src *s = n->u.state;
    ember__task *t = sink->task;
    ember_buf content = {0};
    int rc = 0;
    for (size_t i = s->first[part]; i < s->first[part + 1] && !rc; i++) {
        const ember__file *f = &s->files.v[i];
        if ((rc = read_whole(f, &content, t)))
            break;
        ember_rec r;
        ember__rec_set(&r, f->path, strlen(f->path),
                       content.ptr ? content.ptr : (const unsigned char *)"", content.len);
        t->records_in++;
        rc = sink->push(sink, &r);
        if (!rc && ember__halted(t))
            rc = ember__halt_code(t);
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
    return r;
}
