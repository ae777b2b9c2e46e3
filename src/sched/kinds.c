/*
 * Value kinds learned from typed emits.
 *
 * A node made by a user function (map, flat_map, map_partitions, map_values
 * and flat_map_values for its values; key_by for its keys) has no kind when
 * it is built: its function says it by the emit it calls (ember_emit_i64 and
 * ember_emit_pair_i64: int64; ember_emit_f64, ember_emit_pair_f64: double;
 * ember_emit_str: a string; ember_emit, ember_emit_pair: bytes). An action
 * whose defaults follow the kind (an order, a text form) learns it once, by a
 * stage of its job that runs the node's partitions, a few at a time as take
 * does, until one record comes out: the emit that made it is the kind. Nodes
 * that keep records as they are (filter, distinct, partition_by, …) take their
 * parent's, by a rule set when they are built (ember_rdd::kind_rule).
 *
 * Every action of the same lineage learns the same kind, whatever ran before:
 * the probe bypasses the node's cache, and a checkpoint learns the kinds
 * before the node's parents go. A shuffle's partitioner is fixed when the
 * shuffle is built, so it follows the kinds known then (sources, declarations).
 */
#include "sched/sched.h"

/* A kind probe: its parent's partition computed afresh, past a cache, so that
 * the parent's function runs and its emits are seen. */
static int probe_compute(ember_rdd *n, int part, ember_out *sink)
{
    return ember__compute_uncached(n->parent, part, sink);
}

const ember__node_type ember__probe_type = {"kind probe", 0, probe_compute, NULL, NULL};

static int probe_push(ember_out *self, const ember_rec *rec)
{
    (void)rec;
    unsigned char *found = self->state;
    if (*found) /* a function that emits on after the stop */
        return EMBER__STOP;
    *found = (unsigned char)(1 + self->task->probe_kind);
    ember__task_stop(self->task); /* a probe: no output, nothing counted out */
    return 0;
}

static int probe_reset(void *state, const ember__job *job)
{
    (void)job;
    *(unsigned char *)state = 0;
    return 0;
}

static int probe_pack(const void *state, const ember__job *job, ember_buf *out)
{
    (void)job;
    ember__wr w = ember__wr_to(out);
    ember__wr_u(&w, *(const unsigned char *)state);
    return w.err;
}

static int probe_unpack(void *state, const ember__job *job, ember_bytes in)
{
    (void)job;
    ember__rd r = ember__rd_of(in);
    uint64_t v = ember__rd_u(&r);
    if (v > 1 + EMBER_KIND_JSON)
        return EMBER_EIO;
    *(unsigned char *)state = (unsigned char)v;
    return r.err;
}

static const ember__sink_ops probe_sink = {.state_size = 1,
                                           .push = probe_push,
                                           .reset = probe_reset,
                                           .pack = probe_pack,
                                           .unpack = probe_unpack};

/* Whether computing n again would call out (HTTP, a database, a command)
 * before a shuffle's kept output: a probe never spends an API's quota or
 * writes twice; such a function's kind is declared, or bytes. */
static bool calls_out(const ember_rdd *n)
{
    for (; n; n = n->parent) {
        if (n->type->flags & EMBER__NT_CALLS_OUT)
            return true;
        if (n->type->flags & EMBER__NT_WIDE)
            return false;
        if (n->parent2 && calls_out(n->parent2))
            return true;
    }
    return false;
}

/* The kind n's function emits: its partitions 1, then 4 times as many as
 * scanned, until a record (none at all: bytes, which no record contradicts). */
static int probe(ember_rdd *n, bool keys, const char *action, int *kind)
{
    ember_ctx *ctx = n->ctx;
    ember_rdd *p = ember__rdd_new(ctx, &ember__probe_type, n->op, n->nparts, n, NULL);
    int *parts = ember__malloc(((size_t)n->nparts + 1) * sizeof *parts);
    if (ember__rdd_failed(p) || !parts) {
        ember_free(p);
        ember__free(parts);
        return ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", action);
    }
    char what[96];
    snprintf(what, sizeof what, "kind of its %s", keys ? "keys" : "values");
    unsigned char found = 0;
    int rc = 0;
    for (int scanned = 0; !found && scanned < n->nparts;) {
        long more = scanned ? (long)scanned * 4 : 1;
        int upto = scanned + more > n->nparts ? n->nparts : (int)(scanned + more);
        for (int i = scanned; i < upto; i++)
            parts[i - scanned] = i;
        ember__job *job;
        if ((rc = ember__stage_run(p, action, &probe_sink, NULL, parts, upto - scanned,
                                   EMBER_STAGE_RESULT, what, &job)))
            break;
        for (int i = 0; i < job->ntasks && !found; i++)
            found = *(const unsigned char *)ember__job_state(job, i);
        ember__job_end(job, 0);
        scanned = upto;
    }
    ember_free(p);
    ember__free(parts);
    *kind = found ? found - 1 : EMBER_KIND_BYTES;
    return rc;
}

/* Where a pass-through rule reads a side's kind: up to two nodes and the side
 * of each (a union's two parents agree or give bytes). Returns how many: 0 for
 * a kind as built, or one a node's own emits give. */
static int sources(const ember_rdd *rdd, bool keys, ember_rdd *from[2], bool side[2])
{
    switch (keys ? rdd->key_rule : rdd->kind_rule) {
    case EMBER__KS_P_VAL:
        from[0] = rdd->parent, side[0] = false;
        return from[0] ? 1 : 0;
    case EMBER__KS_P_KEY:
        from[0] = rdd->parent, side[0] = true;
        return from[0] ? 1 : 0;
    case EMBER__KS_P2_VAL:
        from[0] = rdd->parent2, side[0] = false;
        return from[0] ? 1 : 0;
    case EMBER__KS_BOTH:
        from[0] = rdd->parent, from[1] = rdd->parent2, side[0] = side[1] = keys;
        return from[0] && from[1] ? 2 : 0;
    case EMBER__KS_LIKE:
        from[0] = rdd->kinds_like, side[0] = keys;
        return from[0] ? 1 : 0;
    default:
        return 0;
    }
}

static bool emits(const ember_rdd *rdd, bool keys)
{
    return (keys ? rdd->key_rule : rdd->kind_rule) == EMBER__KS_EMITS;
}

int ember__kind_for(ember_rdd *rdd, bool keys, const char *action, int *kind)
{
    unsigned char *found = keys ? &rdd->key_found : &rdd->kind_found;
    int k = ember__kind_known(rdd, keys), rc = 0;
    if (*found) {
        *kind = k;
        return 0;
    }
    ember_rdd *from[2];
    bool side[2];
    int n = sources(rdd, keys, from, side);
    if (emits(rdd, keys) && !ember__cur_task && !calls_out(rdd)) /* no job inside a task */
        rc = probe(rdd, keys, action, &k);
    for (int i = 0, each; !rc && i < n; i++)
        if (!(rc = ember__kind_for(from[i], side[i], action, &each)))
            k = i == 0 || each == k ? each : EMBER_KIND_BYTES;
    if (rc)
        return rc;
    if (!ember__cur_task)
        *found = (unsigned char)(1 + k);
    *kind = k;
    return 0;
}

bool ember__kind_needs_job(const ember_rdd *rdd, bool keys)
{
    if (!rdd || (keys ? rdd->key_found : rdd->kind_found))
        return false;
    if (emits(rdd, keys))
        return !calls_out(rdd);
    ember_rdd *from[2];
    bool side[2];
    int n = sources(rdd, keys, from, side);
    for (int i = 0; i < n; i++)
        if (ember__kind_needs_job(from[i], side[i]))
            return true;
    return false;
}

void ember__kinds_settle(ember_rdd *rdd, const char *action)
{
    int k;
    /* a probe that fails now (it ran in full a moment ago) leaves bytes */
    for (int keys = 0; keys < 2; keys++)
        if (ember__kind_for(rdd, keys, action, &k))
            (keys ? &rdd->key_found : &rdd->kind_found)[0] = 1 + EMBER_KIND_BYTES;
}
