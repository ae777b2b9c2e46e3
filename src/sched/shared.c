/* Shared variables: broadcasts and accumulators.
 *
 * A broadcast is an immutable copy of the program's bytes; every task reads the
 * same memory, so reading needs no lock. An accumulator's additions are kept in
 * the running attempt (ember__task) and merged into the accumulator under the
 * context's acc_mu only when the attempt succeeds: a retried task counts once.
 */
#include <stdio.h>
#include <string.h>

#include "sched/sched.h"

struct ember_broadcast {
    ember_ctx *ctx;
    ember_broadcast *next;
    size_t len;
    unsigned char data[];
};

enum { ACC_I64 = 1, ACC_F64, ACC_CUSTOM };

struct ember_accumulator {
    ember_ctx *ctx;
    ember_accumulator *next;
    int kind;
    int64_t i64;
    double f64;
    ember_buf value, tmp; /* custom */
    ember_reduce_fn *fn;
    void *arg;
    char name[64]; /* shown in the stats when set */
    int64_t id;    /* creation order on its context: the same on every rank */
};

ember_broadcast *ember_broadcast_create(ember_ctx *ctx, const void *data, size_t len)
{
    if (ember__cur_task) {
        ember__err(NULL, EMBER_EINVAL, "ember_broadcast_create: called inside a task");
        return NULL;
    }
    if (!ember__handle_ok(ctx, EMBER__H_CTX)) {
        ember__err(NULL, ctx ? EMBER_ECTX : EMBER_EINVAL,
                   "ember_broadcast_create: ctx is NULL or closed");
        return NULL;
    }
    if (!data && len) {
        ember__err(ctx, EMBER_EINVAL, "ember_broadcast_create: data is NULL with len %zu", len);
        return NULL;
    }
    /* Distributed: rank 0's bytes, sent to every rank (MPI_Bcast), so a value
     * only the driver read (a file, a query) is the same everywhere. Every rank
     * calls this, as every rank builds the same program. */
    ember_buf shared = {0};
    if (ctx->ranks > 1) {
        int rc = ctx->rank == 0 ? ember_buf_set(&shared, data, len) : 0;
        int xrc = ctx->exec->bcast(ctx->exec_impl, &shared, 0);
        if (rc || xrc) {
            ember_buf_destroy(&shared);
            ember__err(ctx, rc ? rc : xrc, "ember_broadcast_create: sending rank 0's %zu bytes: %s",
                       len, ember_strerror(rc ? rc : xrc));
            return NULL;
        }
        data = shared.ptr;
        len = shared.len;
    }
    ember_broadcast *bc = ember__malloc(sizeof *bc + len);
    if (!bc || ember__handle_add(bc, EMBER__H_BCAST)) {
        ember__free(bc);
        ember_buf_destroy(&shared);
        ember__err(ctx, EMBER_ENOMEM, "ember_broadcast_create: out of memory (%zu bytes)", len);
        return NULL;
    }
    bc->ctx = ctx;
    bc->len = len;
    if (len)
        memcpy(bc->data, data, len);
    ember_buf_destroy(&shared);
    bc->next = ctx->bcasts;
    ctx->bcasts = bc;
    return bc;
}

ember_bytes ember_broadcast_value(const ember_broadcast *bc)
{
    /* no registry lookup: tasks call this per record; a NULL is the one check */
    if (!bc)
        return ember_bytes_of(NULL, 0);
    return ember_bytes_of(bc->data, bc->len);
}

void ember_broadcast_free(ember_broadcast *bc)
{
    if (!ember__handle_ok(bc, EMBER__H_BCAST))
        return;
    ember__handle_del(bc);
    for (ember_broadcast **p = &bc->ctx->bcasts; *p; p = &(*p)->next) {
        if (*p == bc) {
            *p = bc->next;
            break;
        }
    }
    ember__free(bc);
}

static ember_accumulator *acc_new(ember_ctx *ctx, int kind, const char *op)
{
    if (ember__cur_task) {
        ember__err(NULL, EMBER_EINVAL, "%s: called inside a task", op);
        return NULL;
    }
    if (!ember__handle_ok(ctx, EMBER__H_CTX)) {
        ember__err(NULL, ctx ? EMBER_ECTX : EMBER_EINVAL, "%s: ctx is NULL or closed", op);
        return NULL;
    }
    ember_accumulator *acc = ember__calloc(1, sizeof *acc);
    if (!acc || ember__handle_add(acc, EMBER__H_ACC)) {
        ember__free(acc);
        ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
        return NULL;
    }
    acc->ctx = ctx;
    acc->kind = kind;
    acc->id = ctx->next_acc_id++; /* creation order: the same on every rank */
    acc->next = ctx->accs;
    ctx->accs = acc;
    return acc;
}

ember_accumulator *ember_accumulator_i64(ember_ctx *ctx, int64_t zero)
{
    ember_accumulator *acc = acc_new(ctx, ACC_I64, "ember_accumulator_i64");
    if (acc)
        acc->i64 = zero;
    return acc;
}

ember_accumulator *ember_accumulator_f64(ember_ctx *ctx, double zero)
{
    ember_accumulator *acc = acc_new(ctx, ACC_F64, "ember_accumulator_f64");
    if (acc)
        acc->f64 = zero;
    return acc;
}

ember_accumulator *ember_accumulator_custom(ember_ctx *ctx, ember_bytes zero, ember_reduce_fn *fn,
                                            void *arg)
{
    if (ctx && ember__handle_ok(ctx, EMBER__H_CTX) && (!fn || (!zero.ptr && zero.len))) {
        ember__err(ctx, EMBER_EINVAL, "ember_accumulator_custom: fn or zero is NULL");
        return NULL;
    }
    ember_accumulator *acc = acc_new(ctx, ACC_CUSTOM, "ember_accumulator_custom");
    if (!acc)
        return NULL;
    acc->fn = fn;
    acc->arg = arg;
    if (ember_buf_set(&acc->value, zero.ptr, zero.len)) {
        ember__err(ctx, EMBER_ENOMEM, "ember_accumulator_custom: out of memory");
        return NULL; /* freed with the context */
    }
    return acc;
}

/* The running attempt's update slot for acc, made on first use. */
static ember__acc_update *slot_for(ember_accumulator *acc, int kind, int *rc)
{
    ember__task *t = ember__cur_task;
    if (!acc || !t || t->ctx != acc->ctx || acc->kind != kind) {
        *rc = EMBER_EINVAL;
        return NULL;
    }
    for (int i = 0; i < t->naccs; i++)
        if (t->accs[i].acc == acc)
            return &t->accs[i];
    if (t->naccs == t->cap_accs) {
        int cap = t->cap_accs ? t->cap_accs * 2 : 4;
        ember__acc_update *a = ember__realloc(t->accs, (size_t)cap * sizeof *a);
        if (!a) {
            *rc = EMBER_ENOMEM;
            return NULL;
        }
        memset(a + t->cap_accs, 0, (size_t)(cap - t->cap_accs) * sizeof *a);
        t->accs = a;
        t->cap_accs = cap;
    }
    ember__acc_update *u = &t->accs[t->naccs++];
    u->acc = acc;
    u->i64 = 0;
    u->f64 = 0;
    u->bytes.len = 0;
    u->set = false;
    return u;
}

int ember_accumulator_add_i64(ember_accumulator *acc, int64_t v)
{
    int rc = 0;
    ember__acc_update *u = slot_for(acc, ACC_I64, &rc);
    if (u)
        u->i64 = (int64_t)((uint64_t)u->i64 + (uint64_t)v);
    return rc;
}

int ember_accumulator_add_f64(ember_accumulator *acc, double v)
{
    int rc = 0;
    ember__acc_update *u = slot_for(acc, ACC_F64, &rc);
    if (u)
        u->f64 += v;
    return rc;
}

int ember_accumulator_add(ember_accumulator *acc, ember_bytes v)
{
    int rc = 0;
    ember__acc_update *u = slot_for(acc, ACC_CUSTOM, &rc);
    if (!u)
        return rc;
    if (!u->set) {
        u->set = true;
        return ember_buf_set(&u->bytes, v.ptr, v.len);
    }
    ember_buf res = {0};
    rc = acc->fn(ember_buf_bytes(&u->bytes), v, &res, acc->arg);
    if (!rc) {
        ember_buf_destroy(&u->bytes);
        u->bytes = res;
    } else {
        ember_buf_destroy(&res);
    }
    return rc;
}

int ember__acc_commit(ember__task *t)
{
    int rc = 0;
    if (!t->naccs || ember__job_is_probe(t->job))
        return 0;
    pthread_mutex_lock(&t->ctx->acc_mu);
    for (int i = 0; i < t->naccs && !rc; i++) {
        ember__acc_update *u = &t->accs[i];
        ember_accumulator *acc = u->acc;
        if (acc->kind == ACC_I64) {
            acc->i64 = (int64_t)((uint64_t)acc->i64 + (uint64_t)u->i64);
        } else if (acc->kind == ACC_F64) {
            acc->f64 += u->f64;
        } else if (u->set) {
            acc->tmp.len = 0;
            rc = acc->fn(ember_buf_bytes(&acc->value), ember_buf_bytes(&u->bytes), &acc->tmp,
                         acc->arg);
            if (!rc) {
                ember_buf swap = acc->value;
                acc->value = acc->tmp;
                acc->tmp = swap;
            } else {
                ember__task_fail(t, rc, "merging an accumulator's update returned %d", rc);
            }
        }
    }
    pthread_mutex_unlock(&t->ctx->acc_mu);
    t->naccs = 0;
    return rc;
}

void ember__acc_discard(ember__task *t)
{
    t->naccs = 0;
}

int ember__acc_pack(ember__task *t, ember_buf *out)
{
    /* each update: the accumulator's id, whether it was set, its bytes */
    if (ember__job_is_probe(t->job)) /* a kind probe's are not the program's */
        return 0;
    ember__wr w = ember__wr_to(out);
    for (int i = 0; i < t->naccs; i++) {
        ember__acc_update *u = &t->accs[i];
        ember__wr_u(&w, (uint64_t)u->acc->id);
        ember__wr_u(&w, u->acc->kind != ACC_CUSTOM || u->set);
        if (u->acc->kind == ACC_I64)
            ember__wr_bytes(&w, &u->i64, 8);
        else if (u->acc->kind == ACC_F64)
            ember__wr_bytes(&w, &u->f64, 8);
        else
            ember__wr_bytes(&w, u->bytes.ptr, u->set ? u->bytes.len : 0);
    }
    if (w.err)
        return w.err;
    t->naccs = 0;
    return 0;
}

int ember__acc_apply(ember_ctx *ctx, ember_bytes packed)
{
    ember__rd r = ember__rd_of(packed);
    int rc = 0;
    pthread_mutex_lock(&ctx->acc_mu);
    while (!rc && ember__rd_more(&r)) {
        uint64_t id = ember__rd_u(&r), set = ember__rd_u(&r);
        ember_bytes b = ember__rd_bytes(&r);
        if (r.err) {
            rc = r.err;
            break;
        }
        ember_accumulator *acc = ctx->accs;
        while (acc && acc->id != (int64_t)id)
            acc = acc->next;
        if (!acc || !set)
            continue;
        const unsigned char *p = b.ptr;
        size_t len = b.len;
        if (acc->kind == ACC_I64 && len == 8) {
            int64_t v;
            memcpy(&v, p, 8);
            acc->i64 = (int64_t)((uint64_t)acc->i64 + (uint64_t)v);
        } else if (acc->kind == ACC_F64 && len == 8) {
            double v;
            memcpy(&v, p, 8);
            acc->f64 += v;
        } else if (acc->kind == ACC_CUSTOM) {
            acc->tmp.len = 0;
            rc = acc->fn(ember_buf_bytes(&acc->value), ember_bytes_of(p, len), &acc->tmp, acc->arg);
            if (!rc) {
                ember_buf swap = acc->value;
                acc->value = acc->tmp;
                acc->tmp = swap;
            }
        }
    }
    pthread_mutex_unlock(&ctx->acc_mu);
    return rc;
}

int ember_accumulator_set_name(ember_accumulator *acc, const char *name)
{
    if (!acc || !name || ember__cur_task || !ember__handle_ok(acc, EMBER__H_ACC))
        return EMBER_EINVAL;
    snprintf(acc->name, sizeof acc->name, "%s", name);
    return 0;
}

void ember__acc_print(const ember_ctx *ctx, FILE *fp)
{
    int n = 0;
    for (const ember_accumulator *a = ctx->accs; a; a = a->next)
        n += a->name[0] != 0;
    if (!n)
        return;
    /* the list is newest first: print oldest first */
    const ember_accumulator **v = ember__calloc((size_t)n, sizeof *v);
    if (!v)
        return;
    int k = n;
    for (const ember_accumulator *a = ctx->accs; a; a = a->next)
        if (a->name[0])
            v[--k] = a;
    fprintf(fp, "accumulators:");
    for (int i = 0; i < n; i++) {
        if (v[i]->kind == ACC_I64)
            fprintf(fp, " %s=%lld", v[i]->name, (long long)v[i]->i64);
        else if (v[i]->kind == ACC_F64)
            fprintf(fp, " %s=%g", v[i]->name, v[i]->f64);
        else
            fprintf(fp, " %s=(%zu bytes)", v[i]->name, v[i]->value.len);
    }
    fputc('\n', fp);
    ember__free(v);
}

int ember__acc_absorb(ember__task *t, ember__task *from)
{
    ember__task *outer = ember__cur_task;
    ember__cur_task = t;
    int rc = 0;
    for (int i = 0; i < from->naccs && !rc; i++) {
        ember__acc_update *u = &from->accs[i];
        if (u->acc->kind == ACC_I64)
            rc = ember_accumulator_add_i64(u->acc, u->i64);
        else if (u->acc->kind == ACC_F64)
            rc = ember_accumulator_add_f64(u->acc, u->f64);
        else if (u->set)
            rc = ember_accumulator_add(u->acc, ember_buf_bytes(&u->bytes));
    }
    ember__cur_task = outer;
    from->naccs = 0;
    return rc;
}

static bool readable(const ember_accumulator *acc, int kind)
{
    return acc && !ember__cur_task && ember__handle_ok(acc, EMBER__H_ACC) && acc->kind == kind;
}

int ember_accumulator_value_i64(const ember_accumulator *acc, int64_t *out)
{
    if (!readable(acc, ACC_I64) || !out)
        return EMBER_EINVAL;
    *out = acc->i64;
    return 0;
}

int ember_accumulator_value_f64(const ember_accumulator *acc, double *out)
{
    if (!readable(acc, ACC_F64) || !out)
        return EMBER_EINVAL;
    *out = acc->f64;
    return 0;
}

int ember_accumulator_value(const ember_accumulator *acc, ember_bytes *out)
{
    if (!readable(acc, ACC_CUSTOM) || !out)
        return EMBER_EINVAL;
    *out = ember_buf_bytes(&acc->value);
    return 0;
}

int ember__acc_updates(const ember__task *t, ember_accumulable *out, int cap)
{
    int n = 0;
    for (int i = 0; i < t->naccs && n < cap; i++) {
        const ember__acc_update *u = &t->accs[i];
        if (!u->acc || !u->acc->name[0] || u->acc->kind == ACC_CUSTOM)
            continue;
        out[n++] = (ember_accumulable){
            .name = u->acc->name, .is_f64 = u->acc->kind == ACC_F64, .i64 = u->i64, .f64 = u->f64};
    }
    return n;
}

void ember__accumulator_free(ember_accumulator *acc)
{
    if (!acc)
        return;
    ember_ctx *ctx = acc->ctx;
    for (ember_accumulator **p = &ctx->accs; *p; p = &(*p)->next) {
        if (*p == acc) {
            *p = acc->next;
            break;
        }
    }
    ember__handle_del(acc);
    ember_buf_destroy(&acc->value);
    ember_buf_destroy(&acc->tmp);
    ember__free(acc);
}

void ember__shared_free_all(ember_ctx *ctx)
{
    while (ctx->bcasts) {
        ember_broadcast *bc = ctx->bcasts;
        ctx->bcasts = bc->next;
        ember__handle_del(bc);
        ember__free(bc);
    }
    while (ctx->accs) {
        ember_accumulator *acc = ctx->accs;
        ctx->accs = acc->next;
        ember__handle_del(acc);
        ember_buf_destroy(&acc->value);
        ember_buf_destroy(&acc->tmp);
        ember__free(acc);
    }
}
