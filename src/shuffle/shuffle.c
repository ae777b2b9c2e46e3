/* Shuffles: records moved to the partition their key hashes to.
 *
 * A shuffle node is prepared before the first action that needs it: its map side
 * runs as a job over the parent, each task writing its records into one buffer
 * per reducer (no table shared between threads). The buffers are kept in the
 * node, as Spark keeps shuffle files; the node's partition r then reads bucket r
 * of every map task, in map order. The partitioner is xxHash3 of the key bytes
 * with a fixed seed, the same on every thread, process and machine.
 */
#include <string.h>

#include "shuffle/shuffle.h"

typedef struct shuffle_src {
    const char *op;
    int nmaps, nparts;
    ember_buf *buckets; /* nmaps * nparts arenas, kept for later actions */
} shuffle_src;

static void shuffle_free(void *p)
{
    shuffle_src *s = p;
    if (!s)
        return;
    for (size_t i = 0; s->buckets && i < (size_t)s->nmaps * (size_t)s->nparts; i++)
        ember_buf_destroy(&s->buckets[i]);
    ember__free(s->buckets);
    ember__free(s);
}

int ember__partition_of(ember_bytes key, int nparts)
{
    return (int)(ember__hash(key) % (uint64_t)nparts);
}

/* ---------------------------------------------------------------- map side */

typedef struct map_state {
    ember_buf *out; /* one arena per reducer */
    int nparts;
} map_state;

static int map_push(ember_out *self, const ember_rec *rec)
{
    map_state *m = self->state;
    ember__task *t = self->task;
    const ember_rdd *n = t->job->arg;
    if (!rec->key.ptr)
        return ember__task_fail(t, EMBER_EINVAL,
                                "%s: a record has no key (an rdd of pairs is needed)", n->op);
    t->records_out++;
    int r = ember__partition_of(rec->key, m->nparts);
    if (ember__arena_put(&m->out[r], *rec))
        return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory in the shuffle", n->op);
    return 0;
}

static int map_reset(void *state, const ember__job *job)
{
    map_state *m = state;
    const ember_rdd *n = job->arg;
    if (!m->out) {
        if (!(m->out = ember__calloc((size_t)n->nparts, sizeof *m->out)))
            return EMBER_ENOMEM;
        m->nparts = n->nparts;
    }
    for (int r = 0; r < m->nparts; r++)
        m->out[r].len = 0;
    return 0;
}

static void map_destroy(void *state)
{
    map_state *m = state;
    for (int r = 0; m->out && r < m->nparts; r++)
        ember_buf_destroy(&m->out[r]);
    ember__free(m->out);
}

static const ember__sink_ops map_sink = {
    .state_size = sizeof(map_state), .push = map_push, .reset = map_reset, .destroy = map_destroy};

static int shuffle_stage(ember_rdd *n, const char *action)
{
    (void)action;
    shuffle_src *s = n->src;
    ember__job *job;
    int rc = ember__job_run(n->parent, n->op, &map_sink, n, NULL, 0, &job);
    if (rc)
        return rc;
    s->nmaps = job->ntasks;
    s->buckets = ember__calloc((size_t)s->nmaps * (size_t)n->nparts + 1, sizeof *s->buckets);
    if (!s->buckets) {
        rc = ember__err(n->ctx, EMBER_ENOMEM, "%s: out of memory keeping the shuffle", n->op);
    } else {
        for (int m = 0; m < s->nmaps; m++) {
            map_state *st = ember__job_state(job, m);
            for (int r = 0; r < n->nparts; r++) {
                s->buckets[(size_t)m * (size_t)n->nparts + (size_t)r] = st->out[r];
                st->out[r] = (ember_buf){0};
            }
        }
    }
    return ember__job_end(job, rc);
}

/* ---------------------------------------------------------------- reduce side */

static int shuffle_feed(ember_rdd *n, int part, ember_out *sink)
{
    const shuffle_src *s = n->src;
    ember__task *t = sink->task;
    for (int m = 0; m < s->nmaps; m++) {
        const ember_buf *b = &s->buckets[(size_t)m * (size_t)n->nparts + (size_t)part];
        const unsigned char *p = b->ptr, *end = b->ptr + b->len;
        ember_rec r;
        int rc;
        while ((rc = ember__rec_next(&p, end, &r)) == 1) {
            t->records_in++;
            if ((rc = sink->push(sink, &r)) || t->halt)
                return rc ? rc : (t->fail_code ? t->fail_code : EMBER__STOP);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- building */

ember_rdd *ember__shuffle_new(ember_rdd *parent, const char *op, int parts)
{
    ember_rdd *r = ember__rdd_new(parent->ctx, EMBER__N_SHUFFLE, op, parts, parent, NULL);
    if (r->kind == EMBER__N_ERROR)
        return r;
    shuffle_src *s = ember__calloc(1, sizeof *s);
    if (!s) {
        ember_free(r);
        return ember__rdd_error(parent->ctx, EMBER_ENOMEM, "%s: out of memory", op);
    }
    s->op = op;
    s->nparts = parts;
    r->src = s;
    r->hash_parts = parts;
    r->src_free = shuffle_free;
    r->feed = shuffle_feed;
    r->stage = shuffle_stage;
    return r;
}

/* ---------------------------------------------------------------- public */

ember_rdd *ember_partition_by(ember_rdd *rdd, int parts)
{
    if (ember__rdd_check(rdd, "partition_by")) {
        if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD))
            return NULL;
        return ember__rdd_error(rdd->ctx, rdd->err, "%s", rdd->errmsg ? rdd->errmsg : "error");
    }
    if (ember__cur_task) {
        ember__err(NULL, EMBER_EINVAL, "partition_by: rdds are built on the driver");
        return NULL;
    }
    if (parts < 0)
        return ember__rdd_error(rdd->ctx, EMBER_EINVAL,
                                "partition_by: partitions must be > 0 (got %d)", parts);
    if (parts == 0)
        parts = rdd->nparts;
    if (rdd->hash_parts == parts) /* already partitioned so: no shuffle, as Spark */
        return rdd;
    return ember__shuffle_new(rdd, "partition_by", parts);
}
