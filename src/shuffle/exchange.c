/* A shuffle's map outputs between ranks (distributed runs): each rank runs its
 * own map tasks, then sends every reducer's share of their outputs to the rank
 * that runs the reducer, in the wire format (core/wire.c).
 */
#include <stdatomic.h>

#include "shuffle/node.h"

/* Map task m's records for reducer r as encoded records appended to out: its
 * spilled runs' segments in run order, then what it kept in memory. The order
 * is the one the reduce side would have merged them in. */
static int map_output(const ember__shuffle *s, int side, int m, int r, ember_buf *out)
{
    const ember__spill_file *f = &s->files[side][m];
    int rc = 0;
    for (int k = 0; f->fd >= 0 && k < f->nruns && !rc; k++) {
        const uint64_t *row = f->offs + (size_t)k * (size_t)(s->nparts + 1);
        ember__run_reader rd;
        ember__reader_open(&rd, f->fd, row[r], row[r + 1]);
        ember_rec rec;
        while ((rc = ember__reader_next(&rd, &rec)) == 1)
            if (ember__arena_put(out, rec))
                rc = EMBER_ENOMEM;
        ember__reader_close(&rd);
        if (rc == 1)
            rc = EMBER_ENOMEM;
    }
    const ember_buf *b = ember__bucket(s, side, m, r);
    if (!rc && b->len && ember_buf_append(out, b->ptr, b->len))
        rc = EMBER_ENOMEM;
    return rc;
}

/* Distributed (ranks > 1): after the map side of one side ran, each rank holds
 * the outputs of its own map tasks. Every reducer's share of them goes to the
 * rank that runs the reducer (its partition's owner) through all-to-all
 * exchanges, so that a rank ends up with every map task's bucket for the
 * reducers it runs, as if it had run every map task; the reduce side reads
 * them as usual.
 *
 * Rounds: each round sends at most about a chunk (a share of the memory
 * budget) to each rank, so the exchange's buffers stay within the budget
 * whatever the shuffle's size. Each message starts with a byte saying whether
 * its sender has more to send; the rounds go on while any rank has. What a
 * rank spilled travels as records; what a rank receives past half its budget
 * is spilled there as runs (merged on the reduce side as local spills are). */
int ember__shuffle_exchange(ember_rdd *n, int side)
{
    ember__shuffle *s = n->u.state;
    ember_ctx *ctx = n->ctx;
    int ranks = ctx->ranks, me = ctx->rank, rc = 0;
    size_t chunk = ctx->memory_budget / (4 * (size_t)ranks);
    if (chunk < ((size_t)64 << 10))
        chunk = (size_t)64 << 10;
    if (chunk > ((size_t)64 << 20))
        chunk = (size_t)64 << 20;
    ember_buf *send = ember__calloc((size_t)ranks * 2, sizeof *send), *recv = send + ranks;
    int *cur = ember__calloc((size_t)ranks + 1, sizeof *cur); /* per destination: pairs sent */
    ember_buf one = {0};
    size_t received = 0;
    bool told = false;
    if (!send || !cur)
        rc = EMBER_ENOMEM;
    int mine = s->nmaps[side] > me ? (s->nmaps[side] - me + ranks - 1) / ranks : 0;
    for (bool more_anywhere = true; more_anywhere;) {
        bool more = false;
        for (int dst = 0; send && dst < ranks; dst++) {
            send[dst].len = 0;
            if (ember_buf_append(&send[dst], "", 1) && !rc)
                rc = EMBER_ENOMEM;
            int owned = s->nparts > dst ? (s->nparts - dst + ranks - 1) / ranks : 0;
            int pairs = dst == me ? 0 : mine * owned;
            while (!rc && cur[dst] < pairs && send[dst].len < chunk) {
                int m = me + (cur[dst] / owned) * ranks, r = dst + (cur[dst] % owned) * ranks;
                cur[dst]++;
                one.len = 0;
                rc = map_output(s, side, m, r, &one);
                if (!rc && one.len) {
                    ember__wr w = ember__wr_to(&send[dst]);
                    ember__wr_u(&w, (uint64_t)m);
                    ember__wr_u(&w, (uint64_t)r);
                    ember__wr_bytes(&w, one.ptr, one.len);
                    rc = w.err;
                }
                ember_buf_destroy(&s->buckets[side][(size_t)m * (size_t)s->nparts + (size_t)r]);
            }
            more |= !rc && cur[dst] < pairs;
        }
        for (int dst = 0; send && dst < ranks; dst++)
            if (send[dst].len)
                send[dst].ptr[0] = more;
        /* every rank takes part in every round, whatever happened here: a
         * missing rank would hang the others (a failed rank says it has no
         * more, and fails after the others are done with it) */
        int xrc = send ? ctx->exec->alltoall(ctx->exec_impl, send, recv) : EMBER_ENOMEM;
        if (!rc)
            rc = xrc;
        more_anywhere = false;
        for (int src = 0; send && src < ranks; src++) {
            ember__rd in = ember__rd_of(ember_buf_bytes(&recv[src]));
            if (ember__rd_more(&in))
                more_anywhere |= *(const unsigned char *)ember__rd_raw(&in, 1).ptr != 0;
            while (!rc && ember__rd_more(&in)) {
                uint64_t m = ember__rd_u(&in), r = ember__rd_u(&in);
                ember_bytes got = ember__rd_bytes(&in);
                if (in.err || m >= (uint64_t)s->nmaps[side] || r >= (uint64_t)s->nparts) {
                    rc = EMBER_EIO;
                    break;
                }
                ember_buf *b = &s->buckets[side][m * (uint64_t)s->nparts + r];
                if (ember_buf_append(b, got.ptr, got.len))
                    rc = EMBER_ENOMEM;
                received += got.len;
            }
        }
        if (!rc && received + (size_t)atomic_load(&s->kept) > ctx->memory_budget / 2) {
            s->spilled = true; /* the reduce side merges runs from now on */
            if ((rc = ember__shuffle_to_runs(n)))
                told = true; /* its message is on the context; this rank keeps taking
                                part in the rounds until every rank is done */
            received = 0;
        }
        if (!send)
            break;
    }
    for (int i = 0; send && i < 2 * ranks; i++)
        ember_buf_destroy(&send[i]);
    ember__free(send);
    ember__free(cur);
    ember_buf_destroy(&one);
    if (rc && told)
        return rc;
    if (rc)
        return ember__err(ctx, rc, "%s: exchanging the shuffle between ranks: %s", n->op,
                          rc == EMBER_EIO ? "a message does not decode" : ember_strerror(rc));
    return 0;
}
