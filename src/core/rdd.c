/* Lineage nodes: their life, errors and the cache. The kinds themselves are
 * elsewhere (sched/lineage.c builds the sources and narrow transformations).
 *
 * Building a node runs nothing: it records the operation, its function and its
 * parents. A node lives while the program holds it (until ember_free) or a live
 * child depends on it; ember_close frees whatever is left. A transformation that
 * cannot be built returns an error node, which carries its message to the action
 * that finally runs it (so a chain of calls needs one check, at the end).
 *
 * Nodes are built and freed by the driver thread only; the cache arrays are the
 * one part tasks write, under cache_mu.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static void node_link(ember_ctx *ctx, ember_rdd *r)
{
    r->next = ctx->nodes;
    if (ctx->nodes)
        ctx->nodes->prev = r;
    ctx->nodes = r;
}

static void node_unlink(ember_rdd *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        r->ctx->nodes = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

void ember__cache_drop(ember_rdd *r)
{
    /* either array may be there without the other (one allocation failed) */
    for (int i = 0; r->cached && i < r->nparts; i++)
        ember_buf_destroy(&r->cached[i]);
    ember__free(r->cached);
    ember__free(r->have);
    r->cached = NULL;
    r->have = NULL;
}

int ember__cache_put(ember_rdd *r, int part, ember_bytes b)
{
    int rc = 0;
    pthread_mutex_lock(&r->cache_mu);
    if (!r->cached) {
        r->cached = ember__calloc((size_t)r->nparts, sizeof *r->cached);
        r->have = ember__calloc((size_t)r->nparts, sizeof *r->have);
        if (!r->cached || !r->have) {
            ember__cache_drop(r);
            rc = EMBER_ENOMEM;
        }
    }
    if (!rc && !r->have[part]) {
        if (b.len && ember_buf_set(&r->cached[part], b.ptr, b.len))
            rc = EMBER_ENOMEM;
        else
            r->have[part] = true;
    }
    pthread_mutex_unlock(&r->cache_mu);
    return rc == EMBER_ENOMEM ? 0 : rc; /* not cached this time: nothing lost */
}

static void node_destroy(ember_rdd *r)
{
    ember__cache_drop(r);
    ember__free(r->ck);
    if (r->persisted)
        pthread_mutex_destroy(&r->cache_mu);
    if (r->type->free)
        r->type->free(r);
    ember__free(r);
}

static void error_free(ember_rdd *r)
{
    ember__free(r->u.error.msg);
}

const ember__node_type ember__error_type = {.name = "error", .free = error_free};

static void node_release(ember_rdd *r);

void ember__rdd_unparent(ember_rdd *n)
{
    ember_rdd *p = n->parent, *p2 = n->parent2;
    n->parent = n->parent2 = NULL;
    if (p2 && p2 != p) {
        p2->children--;
        node_release(p2);
    } else if (p2) {
        p->children--;
    }
    if (p) {
        p->children--;
        node_release(p);
    }
}

/* Free r if nothing holds it, then release its parents the same way. */
static void node_release(ember_rdd *r)
{
    while (r && !r->held && r->children == 0) {
        ember_rdd *p = r->parent, *p2 = r->parent2;
        node_unlink(r);
        node_destroy(r);
        if (p2 && p2 != p) {
            p2->children--;
            node_release(p2);
        } else if (p2) {
            p->children--; /* the same parent twice (union of an rdd with itself) */
        }
        if (p)
            p->children--;
        r = p;
    }
}

int ember__rdd_oom_init(ember_ctx *ctx)
{
    ctx->oom = (ember_rdd){.ctx = ctx,
                           .type = &ember__error_type,
                           .op = "error",
                           .id = -1,
                           .held = true,
                           .u.error.code = EMBER_ENOMEM};
    return ember__handle_add(&ctx->oom, EMBER__H_RDD);
}

void ember__rdd_oom_destroy(ember_ctx *ctx)
{
    ember__handle_del(&ctx->oom);
}

ember_rdd *ember__rdd_new(ember_ctx *ctx, const ember__node_type *type, const char *op, int nparts,
                          ember_rdd *parent, ember_rdd *parent2)
{
    ember_rdd *r = ember__calloc(1, sizeof *r);
    if (!r || ember__handle_add(r, EMBER__H_RDD)) {
        ember__free(r);
        ember__err(ctx, EMBER_ENOMEM, "%s: out of memory building the rdd", op);
        return &ctx->oom;
    }
    r->ctx = ctx;
    r->type = type;
    r->op = op;
    r->id = ctx->next_rdd_id++;
    r->nparts = nparts;
    r->held = true;
    r->parent = parent;
    r->parent2 = parent2;
    if (parent)
        parent->children++;
    if (parent2)
        parent2->children++;
    node_link(ctx, r);
    return r;
}

static ember_rdd *error_node(ember_ctx *ctx, int code, const char *msg)
{
    ember_rdd *r = ember__rdd_new(ctx, &ember__error_type, "error", 0, NULL, NULL);
    if (r == &ctx->oom)
        return r;
    r->u.error.code = code;
    r->u.error.msg = ember__strdup(msg);
    if (!r->u.error.msg) {
        ember_free(r);
        return &ctx->oom;
    }
    return r;
}

ember_rdd *ember__rdd_carry(ember_ctx *ctx, const ember_rdd *failed)
{
    return error_node(ctx, failed->u.error.code,
                      failed->u.error.msg ? failed->u.error.msg : "out of memory");
}

ember_rdd *ember__rdd_error(ember_ctx *ctx, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ember__err(ctx, code, "%s", msg);
    return error_node(ctx, code, msg);
}

int ember__rdd_check(ember_rdd *rdd, const char *op)
{
    if (!rdd)
        return ember__err(NULL, EMBER_EINVAL, "%s: rdd is NULL", op);
    if (!ember__handle_ok(rdd, EMBER__H_RDD))
        return ember__err(NULL, EMBER_ECTX,
                          "%s: rdd was freed or its context closed (a stale handle)", op);
    if (ember__rdd_failed(rdd))
        return ember__err(rdd->ctx, rdd->u.error.code, "%s: %s", op,
                          rdd->u.error.msg ? rdd->u.error.msg
                                           : "out of memory building the lineage");
    return 0;
}

bool ember__parent_usable(ember_rdd *rdd, const char *op, ember_rdd **ret)
{
    *ret = NULL;
    if (ember__cur_task) { /* the lineage belongs to the driver thread */
        ember__err(NULL, EMBER_EINVAL, "%s: rdds are built on the driver, not inside a task", op);
        return false;
    }
    if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD)) {
        ember__rdd_check(rdd, op);
        return false;
    }
    if (ember__rdd_failed(rdd)) {
        /* carry the first error on, unchanged */
        *ret = rdd == &rdd->ctx->oom ? rdd : ember__rdd_carry(rdd->ctx, rdd);
        return false;
    }
    return true;
}

bool ember__parents_usable(ember_rdd *a, ember_rdd *b, const char *op, ember_rdd **ret)
{
    if (!ember__parent_usable(a, op, ret))
        return false;
    int rc = ember__rdd_check(b, op);
    if (rc == EMBER_EINVAL || rc == EMBER_ECTX) /* NULL or stale: the message is the thread's */
        *ret = ember__rdd_error(a->ctx, rc, "%s", ember_errmsg(NULL));
    else if (b->ctx != a->ctx)
        *ret = ember__rdd_error(a->ctx, EMBER_ECTX, "%s: the two rdds belong to different contexts",
                                op);
    else if (rc) /* b carries an error of its own: pass it on */
        *ret = ember__rdd_carry(a->ctx, b);
    return *ret == NULL;
}

void ember_free(ember_rdd *rdd)
{
    if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD) || rdd == &rdd->ctx->oom)
        return;
    ember__handle_del(rdd);
    rdd->held = false;
    node_release(rdd);
}

void ember__rdd_free_all(ember_ctx *ctx)
{
    while (ctx->nodes) {
        ember_rdd *r = ctx->nodes;
        ctx->nodes = r->next;
        if (r->held)
            ember__handle_del(r);
        node_destroy(r);
    }
}

int ember_num_partitions(ember_rdd *rdd)
{
    int rc = ember__rdd_check(rdd, "ember_num_partitions");
    return rc ? rc : rdd->nparts;
}

ember_rdd *ember_persist(ember_rdd *rdd, ember_storage level)
{
    if (ember__rdd_check(rdd, "persist"))
        return rdd && ember__handle_ok(rdd, EMBER__H_RDD) ? rdd : NULL;
    if (level != EMBER_MEMORY_ONLY) {
        ember__err(rdd->ctx, EMBER_ENOTSUP, "persist: storage level %d is not supported",
                   (int)level);
        return rdd;
    }
    if (!rdd->persisted) {
        pthread_mutex_init(&rdd->cache_mu, NULL);
        rdd->persisted = true;
    }
    rdd->cache_on = true;
    return rdd;
}

ember_rdd *ember_cache(ember_rdd *rdd)
{
    return ember_persist(rdd, EMBER_MEMORY_ONLY);
}

int ember_unpersist(ember_rdd *rdd)
{
    int rc = ember__rdd_check(rdd, "unpersist");
    if (rc)
        return rc;
    if (rdd->persisted) {
        pthread_mutex_lock(&rdd->cache_mu);
        rdd->cache_on = false;
        ember__cache_drop(rdd);
        pthread_mutex_unlock(&rdd->cache_mu);
    }
    return 0;
}
