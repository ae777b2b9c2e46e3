/* The input path every file reader shares (text lines, JSON lines, CSV): its
 * files and splits, the mapping of a split's file, the compressed stream, and
 * the bad-record policy.
 *
 * A reader's state starts with an ember__input; its node type carries
 * EMBER__NT_READER, which is how ember_bad_records finds the count. Bad
 * records follow ember_read_opts.on_bad: the task fails naming the file and
 * line, or the record is skipped, or it is diverted (kept as
 * "path:line<TAB>record" lines, written to bad_dir/part-NNNNN once the split is
 * read, so a retried attempt rewrites the same file). The count is an
 * accumulator: successful attempts that read their split to its end only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

int ember__input_open(ember__input *in, ember_ctx *ctx, const char *op, const char *paths,
                      int min_parts, const ember_read_opts *opts, bool counts_bad, bool split_plain)
{
    *in = (ember__input){.op = op, .on_bad = opts ? (int)opts->on_bad : EMBER_BAD_FAIL};
    if (!paths || !*paths)
        return ember__err(ctx, EMBER_EINVAL, "%s: no paths given", op);
    if (min_parts < 0)
        return ember__err(ctx, EMBER_EINVAL, "%s: min_parts must be >= 0 (got %d)", op, min_parts);
    if (in->on_bad < EMBER_BAD_FAIL || in->on_bad > EMBER_BAD_DIVERT)
        return ember__err(ctx, EMBER_EINVAL, "%s: unknown on_bad policy %d", op, in->on_bad);
    if (in->on_bad == EMBER_BAD_DIVERT && (!opts->bad_dir || !*opts->bad_dir))
        return ember__err(ctx, EMBER_EINVAL, "%s: EMBER_BAD_DIVERT needs opts.bad_dir", op);
    if (in->on_bad == EMBER_BAD_DIVERT) {
        if (!(in->bad_dir = ember__strdup(opts->bad_dir)))
            return ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
        if (mkdir(in->bad_dir, 0755) != 0 && errno != EEXIST)
            return ember__err(ctx, -errno, "%s: cannot create %s: %s", op, in->bad_dir,
                              strerror(errno));
    }
    if (counts_bad && !(in->bad = ember_accumulator_i64(ctx, 0)))
        return ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    int rc = ember__paths_expand(ctx, op, paths, &in->files);
    if (rc)
        return rc;
    if (in->files.n > UINT32_MAX)
        return ember__err(ctx, EMBER_ERANGE, "%s: too many files", op);
    int want = min_parts ? min_parts : (ctx->parallelism < 2 ? ctx->parallelism : 2);
    if ((rc = ember__make_splits(&in->files, want, split_plain, &in->splits, &in->nsplits)))
        return ember__err(ctx, rc, "%s: out of memory splitting %zu files", op, in->files.n);
    return 0;
}

void ember__input_close(ember__input *in)
{
    ember__files_destroy(&in->files);
    ember__accumulator_free(in->bad);
    ember__free(in->splits);
    ember__free(in->bad_dir);
    in->bad = NULL;
    in->splits = NULL;
    in->bad_dir = NULL;
}

/* ---------------------------------------------------------------- a split's file */

int ember__map_file(const char *op, const char *path, ember__task *t, ember__mapped *m)
{
    *m = (ember__mapped){0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ember__task_fail(t, -errno, "%s: cannot open %s: %s", op, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ember__task_fail(t, -e, "%s: cannot stat %s: %s", op, path, strerror(e));
    }
    if (st.st_size == 0) { /* nothing to map: an empty split */
        close(fd);
        return 0;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (base == MAP_FAILED)
        return ember__task_fail(t, -e, "%s: cannot map %s: %s", op, path, strerror(e));
    madvise(base, (size_t)st.st_size, MADV_SEQUENTIAL);
    m->base = base;
    m->size = (size_t)st.st_size;
    return 0;
}

void ember__unmap_file(ember__mapped *m)
{
    if (m->base)
        munmap((void *)(uintptr_t)m->base, m->size);
    *m = (ember__mapped){0};
}

int ember__input_stream(const ember__input *in, const ember__file *f, ember__task *t,
                        ember__chunk_fn *fn, void *arg)
{
    char why[512] = "";
    int rc = ember__codec_stream(f, fn, arg, why, sizeof why);
    if (rc && why[0] && !t->fail_code)
        ember__task_fail(t, rc, "%s: %s", in->op, why);
    return rc;
}

/* ---------------------------------------------------------------- bad records */

int ember__bad_record(ember__bad *b, ember__task *t, const char *path, uint64_t line,
                      const unsigned char *raw, size_t n, const char *why)
{
    const ember__input *in = b->in;
    if (in->on_bad == EMBER_BAD_FAIL)
        return ember__task_fail(t, EMBER_EINVAL, "%s: %s:%llu: %s", in->op, path,
                                (unsigned long long)line, why);
    b->n++;
    if (b->nsamples < 8)
        snprintf(b->samples[b->nsamples++], sizeof b->samples[0], "%s:%llu: %s", path,
                 (unsigned long long)line, why);
    if (in->on_bad == EMBER_BAD_DIVERT) {
        char head[64];
        int hn = snprintf(head, sizeof head, ":%llu\t", (unsigned long long)line);
        while (n && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
            n--;
        if (ember_buf_append(&b->diverted, path, strlen(path)) ||
            ember_buf_append(&b->diverted, head, (size_t)hn) ||
            ember_buf_append(&b->diverted, n ? raw : (const unsigned char *)"", n) ||
            ember_buf_append(&b->diverted, "\n", 1))
            return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory diverting", in->op);
    }
    return 0;
}

/* The partition's diverted records, written once the split is read. */
static int write_diverted(const ember__input *in, int part, const ember_buf *b, ember__task *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/part-%05d", in->bad_dir, part);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ember__task_fail(t, -errno, "%s: cannot write bad records to %s: %s", in->op, path,
                                strerror(errno));
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->ptr + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return ember__task_fail(t, -e, "%s: writing %s: %s", in->op, path, strerror(e));
        }
        off += (size_t)w;
    }
    close(fd);
    return 0;
}

int ember__input_end(ember__bad *b, ember__task *t, int part, int64_t good, int rc)
{
    const ember__input *in = b->in;
    t->records_in += good + b->n;
    /* counted and diverted for a split read to its end only: a take or a kind
     * probe that stops early would count its records again and overwrite the
     * whole split's file with the few it saw */
    if (b->n && !rc && !t->stop) {
        t->records_bad += b->n;
        int brc = in->bad ? ember_accumulator_add_i64(in->bad, b->n) : 0;
        if (!brc && in->on_bad == EMBER_BAD_DIVERT)
            brc = write_diverted(in, part, &b->diverted, t);
        if (brc && !t->fail_code)
            ember__task_fail(t, brc, "%s: counting bad records failed", in->op);
        ember_ctx *ctx = t->ctx;
        if (!brc && ember__ev_wanted(ctx, EMBER_EV_BAD_RECORDS)) {
            const char *samples[9] = {0};
            for (int i = 0; i < b->nsamples; i++)
                samples[i] = b->samples[i];
            ember_event ev = {.type = EMBER_EV_BAD_RECORDS,
                              .job_id = ctx->cur_job,
                              .stage_id = t->job->stage_id,
                              .partition = t->partition,
                              .bad_op = in->op,
                              .bad_count = b->n,
                              .bad_dir = in->on_bad == EMBER_BAD_DIVERT ? in->bad_dir : NULL,
                              .bad_samples = samples};
            ember__emit(ctx, &ev);
        }
    }
    ember_buf_destroy(&b->diverted);
    return t->fail_code ? t->fail_code : rc;
}

int ember_bad_records(ember_rdd *rdd, int64_t *count)
{
    int rc = ember__rdd_check(rdd, "ember_bad_records");
    if (rc)
        return rc;
    const ember__input *in = rdd->type->flags & EMBER__NT_READER ? rdd->u.state : NULL;
    if (!in || !in->bad || !count)
        return ember__err(rdd->ctx, EMBER_EINVAL, "ember_bad_records: not a reader's rdd");
    return ember_accumulator_value_i64(in->bad, count);
}
