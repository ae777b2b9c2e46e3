/* Spark's checkpoint and localCheckpoint: an rdd marked for either is
 * materialized by the next action that needs it (a stage that computes
 * every partition into the rdd's cache, before the action's own stages), and
 * its lineage is cut: the node becomes a source of those records, its
 * parents released. local_checkpoint keeps the partitions in memory;
 * checkpoint writes them to the checkpoint directory (in the record format,
 * a file a partition) and reads them back from there, so they no longer take
 * memory. The files are removed at ember_close.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mkdirs.h"
#include "sched/sched.h"

struct ember__ck {
    bool reliable;
    bool done;
};

/* Distributed: rank 0's path on every rank (each rank's app id is its own
 * start time; the files must be one set, on a directory every rank sees).
 * 0 or EMBER_ENOMEM; local: path as it is. */
static int rank0_path(ember_ctx *ctx, char *path, size_t cap)
{
    if (ctx->ranks < 2)
        return 0;
    ember_buf b = {0};
    int rc = ember_buf_set(&b, path, strlen(path));
    rc = ember__agree_any(ctx, rc ? ember__err(ctx, rc, "set_checkpoint_dir: out of memory") : 0);
    if (!rc && (rc = ctx->exec->bcast(ctx->exec_impl, &b, 0)))
        ember__err(ctx, rc, "set_checkpoint_dir: the ranks could not agree on the directory");
    if (!rc)
        snprintf(path, cap, "%.*s", (int)b.len, (const char *)b.ptr);
    ember_buf_destroy(&b);
    return rc;
}

int ember_set_checkpoint_dir(ember_ctx *ctx, const char *dir)
{
    if (!ctx || !dir || !*dir)
        return ember__err(ctx, EMBER_EINVAL, "set_checkpoint_dir: ctx and dir are needed");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, ctx->app_id ? ctx->app_id : "ember");
    int rc = rank0_path(ctx, path, sizeof path);
    if (rc)
        return rc;
    char mk[4096];
    snprintf(mk, sizeof mk, "%s", path);
    if (ember__mkdirs(mk))
        rc = ember__err(ctx, EMBER_EIO, "set_checkpoint_dir: cannot make %s: %s", path,
                        strerror(errno));
    char *d = rc ? NULL : ember__strdup(path);
    if (!rc && !d)
        rc = ember__err(ctx, EMBER_ENOMEM, "set_checkpoint_dir: out of memory");
    if ((rc = ember__agree_any(ctx, rc))) {
        ember__free(d);
        return rc;
    }
    ember__checkpoint_cleanup(ctx); /* an earlier directory's files go */
    ctx->ck_dir = d;
    return 0;
}

static int mark(ember_rdd *rdd, bool reliable, const char *op)
{
    int rc = ember__rdd_check(rdd, op);
    if (rc)
        return rc;
    /* in memory, a rank holds only the partitions it computes, and another
     * rank's task (coalesce, cartesian) may need any: no lineage to fall back on */
    if (!reliable && rdd->ctx->ranks > 1)
        return ember__err(rdd->ctx, EMBER_ENOTSUP,
                          "%s: not supported on the MPI backend (a rank holds only the "
                          "partitions it computes); checkpoint, to a directory every rank "
                          "sees, is",
                          op);
    if (reliable && !rdd->ctx->ck_dir)
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "%s: no checkpoint directory (ember_set_checkpoint_dir)", op);
    if (rdd->ck)
        return rdd->ck->done ? 0 : (rdd->ck->reliable = reliable, 0);
    if (!(rdd->ck = ember__calloc(1, sizeof *rdd->ck)))
        return ember__err(rdd->ctx, EMBER_ENOMEM, "%s: out of memory", op);
    rdd->ck->reliable = reliable;
    return 0;
}

int ember_checkpoint(ember_rdd *rdd)
{
    return mark(rdd, true, "checkpoint");
}

int ember_local_checkpoint(ember_rdd *rdd)
{
    return mark(rdd, false, "local_checkpoint");
}

bool ember_is_checkpointed(const ember_rdd *rdd)
{
    return rdd && rdd->ck && rdd->ck->done;
}

/* ---------------------------------------------------------------- the file source */

typedef struct ck_files {
    char *dir;
} ck_files;

static int file_compute(ember_rdd *n, int part, ember_out *sink)
{
    const ck_files *f = n->u.state;
    char path[4200];
    snprintf(path, sizeof path, "%s/part-%05d", f->dir, part);
    ember_buf b = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st))
        rc = ember__task_fail(sink->task, EMBER_EIO, "checkpoint: cannot read %s: %s", path,
                              strerror(errno));
    else if (st.st_size && ember__buf_reserve(&b, (size_t)st.st_size))
        rc = ember__task_fail(sink->task, EMBER_ENOMEM, "checkpoint: out of memory");
    while (!rc && b.len < (size_t)st.st_size) {
        ssize_t k = read(fd, b.ptr + b.len, (size_t)st.st_size - b.len);
        if (k <= 0 && errno != EINTR)
            rc = ember__task_fail(sink->task, EMBER_EIO, "checkpoint: reading %s: %s", path,
                                  k ? strerror(errno) : "it ends early");
        else if (k > 0)
            b.len += (size_t)k;
    }
    if (fd >= 0)
        close(fd);
    if (!rc)
        rc = ember__feed_arena(&b, sink, "checkpoint", part);
    ember_buf_destroy(&b);
    return rc;
}

static void file_free(ember_rdd *n)
{
    ck_files *f = n->u.state;
    if (f) {
        ember__free(f->dir);
        ember__free(f);
    }
}

static const ember__node_type file_type = {"checkpoint", 0, file_compute, NULL, file_free};

/* ---------------------------------------------------------------- materializing */

static int write_part(const char *path, const ember_buf *b)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t at = 0;
    int rc = 0;
    while (!rc && at < b->len) {
        ssize_t k = write(fd, b->ptr + at, b->len - at);
        if (k < 0 && errno != EINTR)
            rc = -errno;
        else if (k > 0)
            at += (size_t)k;
    }
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

int ember__checkpoint_run(ember_rdd *n, const char *action)
{
    if (n->ck->done)
        return 0;
    ember_ctx *ctx = n->ctx;
    /* every partition computed into the cache by a stage of the action's job */
    if (!n->persisted)
        ember_persist(n, EMBER_MEMORY_ONLY);
    n->cache_on = true;
    ember__job *job;
    int rc = ember__stage_run(n, action, &ember__count_sink, NULL, NULL, 0, EMBER_STAGE_RESULT,
                              n->ck->reliable ? "checkpoint" : "local_checkpoint", &job);
    if (rc)
        return rc;
    ember__job_end(job, 0);
    /* distributed, each rank holds (and writes) the partitions it computed */
    for (int p = 0; p < n->nparts && !rc; p++)
        if (ember__task_owner(ctx, p) == ctx->rank && (!n->have || !n->have[p]))
            rc = ember__err(ctx, EMBER_ENOMEM,
                            "%s: out of memory keeping partition %d of the rdd to checkpoint",
                            action, p);
    if ((rc = ember__agree_any(ctx, rc)))
        return rc;
    ck_files *files = NULL;
    if (n->ck->reliable) {
        files = ember__calloc(1, sizeof *files);
        char dir[4096], mk[4096];
        snprintf(dir, sizeof dir, "%s/rdd-%lld", ctx->ck_dir, (long long)n->id);
        snprintf(mk, sizeof mk, "%s", dir);
        if (!files || !(files->dir = ember__strdup(dir)))
            rc = ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", action);
        else if (ember__mkdirs(mk))
            rc = ember__err(ctx, EMBER_EIO, "%s: checkpoint: cannot make %s: %s", action, dir,
                            strerror(errno));
        for (int p = 0; !rc && p < n->nparts; p++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/part-%05d", dir, p);
            int wrc = ember__task_owner(ctx, p) == ctx->rank ? write_part(path, &n->cached[p]) : 0;
            if (wrc)
                rc = ember__err(ctx, EMBER_EIO, "%s: checkpoint: writing %s: %s", action, path,
                                strerror(-wrc));
        }
        /* every rank's files written before any reads them */
        if ((rc = ember__agree_any(ctx, rc))) {
            file_free(&(ember_rdd){.u.state = files});
            return rc;
        }
    }
    /* the cut: the node becomes a source of what it held, its parents go; the
     * kinds its functions emit are learned first, as they would be after */
    ember__kinds_settle(n, action);
    ember_buf *arenas = n->cached;
    n->cached = NULL;
    ember__free(n->have);
    n->have = NULL;
    n->cache_on = false;
    if (n->type->free)
        n->type->free(n);
    n->u.state = NULL;
    if (files) {
        for (int p = 0; arenas && p < n->nparts; p++)
            ember_buf_destroy(&arenas[p]);
        ember__free(arenas);
        n->type = &file_type;
        n->u.state = files;
    } else {
        n->type = &ember__arena_type;
        n->u.arenas = arenas;
    }
    n->prepared = true;
    ember__rdd_unparent(n);
    n->ck->done = true;
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void ember__checkpoint_cleanup(ember_ctx *ctx)
{
    if (!ctx->ck_dir)
        return;
    if (ctx->rank == 0) /* distributed: one set of files, removed once */
        nftw(ctx->ck_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    ember__free(ctx->ck_dir);
    ctx->ck_dir = NULL;
}
