/* A shuffle's reduce side: partition r reads bucket r of every map task, in
 * map order, and gives what its mode says (the records as they are, a key's
 * combined value, its group, both sides' values for the joins and the set
 * operations). Once the map side spilled, the buckets are runs, merged in key
 * order, so that only one key's values are held; a group too big for its
 * share is handed on as a stream.
 */
#include <stdlib.h>
#include <string.h>

#include "shuffle/node.h"

static int put_side(ember_buf *out, bool present, ember_bytes v)
{
    unsigned char hdr[11];
    hdr[0] = present;
    size_t hn = (size_t)(ember__varint_put(hdr + 1, present ? v.len : 0) - hdr);
    int rc = ember_buf_append(out, hdr, hn);
    return rc || !present || !v.len ? rc : ember_buf_append(out, v.ptr, v.len);
}

/* Hand rec on; the task's stop or failure as a code. */
static inline int push_on(ember_out *sink, const ember_rec *rec)
{
    ember__task *t = sink->task;
    int rc = sink->push(sink, rec);
    return rc ? rc : ember__halted(t) ? ember__halt_code(t) : 0;
}

/* ---------------------------------------------------------------- what a key gives */

/* reduce_by_key's (the combined value), group_by_key's (the values, encoded) */
EMBER__GIVE(ember__give_value)
{
    (void)s;
    (void)tmp;
    ember_rec out;
    ember__rec_set(&out, key.ptr, key.len, side[0].ptr ? side[0].ptr : (const void *)"",
                   side[0].len);
    return push_on(sink, &out);
}

/* distinct's: the record, back from its encoding (the key) */
EMBER__GIVE(ember__give_record)
{
    (void)side;
    (void)tmp;
    ember_rec out;
    const unsigned char *q = key.ptr;
    if (ember__rec_next(&q, q + key.len, &out) != 1)
        return ember__task_fail(sink->task, EMBER_EIO, "%s: a damaged record", s->op);
    return push_on(sink, &out);
}

/* cogroup's: varint(left length), the left values, the right values */
EMBER__GIVE(ember__give_cogroup)
{
    unsigned char hdr[10];
    size_t hn = (size_t)(ember__varint_put(hdr, side[0].len) - hdr);
    tmp->len = 0;
    if (ember_buf_append(tmp, hdr, hn) ||
        ember_buf_append(tmp, side[0].ptr ? side[0].ptr : (const void *)"", side[0].len) ||
        ember_buf_append(tmp, side[1].ptr ? side[1].ptr : (const void *)"", side[1].len))
        return ember__task_fail(sink->task, EMBER_ENOMEM, "%s: out of memory", s->op);
    ember_rec out;
    ember__rec_set(&out, key.ptr, key.len, tmp->ptr, tmp->len);
    return push_on(sink, &out);
}

/* The joins': one record per combination of the key's values (Spark's join
 * keeps every pair of duplicate keys); an unmatched side gives records for
 * outer joins. */
EMBER__GIVE(ember__give_joined)
{
    bool has[2] = {side[0].len > 0, side[1].len > 0};
    if ((!has[0] && !(s->keep & EMBER__KEEP_RIGHT)) || (!has[1] && !(s->keep & EMBER__KEEP_LEFT)))
        return 0;
    ember__task *t = sink->task;
    ember_iter a, b;
    ember_rec ra, rb;
    ember_iter_init(&a, side[0]);
    bool more_a = has[0] ? ember_iter_next(&a, &ra) == 1 : true;
    for (; more_a; more_a = has[0] && ember_iter_next(&a, &ra) == 1) {
        ember_iter_init(&b, side[1]);
        bool more_b = has[1] ? ember_iter_next(&b, &rb) == 1 : true;
        for (; more_b; more_b = has[1] && ember_iter_next(&b, &rb) == 1) {
            tmp->len = 0;
            if (put_side(tmp, has[0], has[0] ? ra.val : ember_bytes_of(NULL, 0)) ||
                put_side(tmp, has[1], has[1] ? rb.val : ember_bytes_of(NULL, 0)))
                return ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", s->op);
            ember_rec out;
            ember__rec_set(&out, key.ptr, key.len, tmp->ptr, tmp->len);
            int rc = push_on(sink, &out);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* The left side's records when give says so: as (key, value), or (whole
 * records, the key their encoding) decoded; once or each. */
static int give_left(const ember__shuffle *s, ember_bytes key, ember_bytes left, bool whole,
                     bool once, ember_out *sink)
{
    ember_iter it;
    ember_rec v, out;
    ember_iter_init(&it, left);
    while (ember_iter_next(&it, &v) == 1) {
        if (!whole) {
            ember__rec_set(&out, key.ptr, key.len, v.val.ptr, v.val.len);
        } else {
            const unsigned char *p = key.ptr;
            if (ember__rec_next(&p, p + key.len, &out) != 1)
                return ember__task_fail(sink->task, EMBER_EIO, "%s: a damaged record", s->op);
        }
        int rc = push_on(sink, &out);
        if (rc || once)
            return rc;
    }
    return 0;
}

/* subtract_by_key's: a's records whose key b lacks */
EMBER__GIVE(ember__give_subtracted_by_key)
{
    (void)tmp;
    return side[0].len && !side[1].len ? give_left(s, key, side[0], false, false, sink) : 0;
}

/* subtract's: a's whole records that b lacks (a's duplicates kept) */
EMBER__GIVE(ember__give_subtracted)
{
    (void)tmp;
    return side[0].len && !side[1].len ? give_left(s, key, side[0], true, false, sink) : 0;
}

/* intersection's: whole records in both, once */
EMBER__GIVE(ember__give_intersected)
{
    (void)tmp;
    return side[0].len && side[1].len ? give_left(s, key, side[0], true, true, sink) : 0;
}

/* ---------------------------------------------------------------- from the buckets */

/* partition_by, repartition: the records as the buckets hold them */
int ember__read_pass(ember_rdd *n, int part, ember_out *sink)
{
    const ember__shuffle *s = n->u.state;
    ember__task *t = sink->task;
    int rc = 0;
    for (int m = 0; m < s->nmaps[0] && !rc; m++) {
        const ember_buf *b = ember__bucket(s, 0, m, part);
        t->shuffle_read_bytes += (int64_t)b->len;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
        ember_rec r;
        while (!rc && ember__rec_next(&p, end, &r) == 1) {
            t->records_in++;
            t->shuffle_read_records++;
            rc = push_on(sink, &r);
        }
    }
    return rc;
}

/* reduce_by_key, distinct: the map tasks' combiners merged by key in a table,
 * then what each key gives */
int ember__read_combined(ember_rdd *n, int part, ember_out *sink)
{
    const ember__shuffle *s = n->u.state;
    ember__task *t = sink->task;
    ember__kv kv;
    ember__kv_init(&kv);
    int rc = 0;
    for (int m = 0; m < s->nmaps[0] && !rc; m++) {
        const ember_buf *b = ember__bucket(s, 0, m, part);
        t->shuffle_read_bytes += (int64_t)b->len;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
        ember_rec r;
        while (!rc && ember__rec_next(&p, end, &r) == 1) {
            t->records_in++;
            t->shuffle_read_records++;
            if ((rc = ember__kv_combine(&kv, r.key, r.val, s->merge, s->arg)))
                rc = ember__combine_failed(t, n->op, rc);
        }
    }
    size_t pos = 0;
    ember_rec r;
    while (!rc && ember__kv_next(&kv, &pos, &r))
        rc = s->mode->give(s, r.key, (ember_bytes[2]){r.val, {0}}, NULL, sink);
    ember__kv_destroy(&kv);
    return rc;
}

/* group_by_key's reduce side: each key's values, encoded as records, in one
 * buffer per key (read them with ember_iter_init), the keys found by a table. */
int ember__read_groups(ember_rdd *n, int part, ember_out *sink)
{
    const ember__shuffle *s = n->u.state;
    ember__task *t = sink->task;
    ember__htab index; /* key -> group number */
    ember__htab_init(&index);
    ember_buf *groups = NULL;
    size_t ngroups = 0, cap = 0;
    int rc = 0;
    for (int m = 0; m < s->nmaps[0] && !rc; m++) {
        const ember_buf *b = ember__bucket(s, 0, m, part);
        t->shuffle_read_bytes += (int64_t)b->len;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
        ember_rec r;
        while (!rc && ember__rec_next(&p, end, &r) == 1) {
            t->records_in++;
            t->shuffle_read_records++;
            int64_t *g = ember__htab_upsert(&index, r.key);
            if (g && *g == 0) { /* a new key: its group number, plus one */
                if (ngroups == cap) {
                    cap = cap ? cap * 2 : 64;
                    ember_buf *grown = ember__realloc(groups, cap * sizeof *grown);
                    if (!grown) {
                        g = NULL;
                    } else {
                        groups = grown;
                    }
                }
                if (g) {
                    groups[ngroups] = (ember_buf){0};
                    *g = (int64_t)++ngroups;
                }
            }
            ember_rec v;
            ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
            if (!g || ember__arena_put(&groups[*g - 1], v))
                rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory grouping", n->op);
        }
    }
    size_t pos = 0;
    ember_bytes key;
    int64_t g;
    while (!rc && ember__htab_next(&index, &pos, &key, &g)) {
        ember_rec out;
        const ember_buf *b = &groups[g - 1];
        ember__rec_set(&out, key.ptr, key.len, b->ptr ? b->ptr : (const unsigned char *)"", b->len);
        if ((rc = sink->push(sink, &out)) || ember__halted(t))
            rc = rc ? rc : ember__halt_code(t);
    }
    for (size_t i = 0; i < ngroups; i++)
        ember_buf_destroy(&groups[i]);
    ember__free(groups);
    ember__htab_destroy(&index);
    return rc;
}

/* sort_by_key's reduce side: the partition's records, sorted by key. */
int ember__read_sorted(ember_rdd *n, int part, ember_out *sink)
{
    const ember__shuffle *s = n->u.state;
    ember__task *t = sink->task;
    size_t count = 0, cap = 0;
    ember_rec *recs = NULL;
    int rc = 0;
    for (int m = 0; m < s->nmaps[0] && !rc; m++) {
        const ember_buf *b = ember__bucket(s, 0, m, part);
        t->shuffle_read_bytes += (int64_t)b->len;
        const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
        ember_rec r;
        while (!rc && ember__rec_next(&p, end, &r) == 1) {
            t->records_in++;
            t->shuffle_read_records++;
            if (count == cap) {
                cap = cap ? cap * 2 : 256;
                ember_rec *grown = ember__realloc(recs, cap * sizeof *grown);
                if (!grown) {
                    rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory sorting", n->op);
                    break;
                }
                recs = grown;
            }
            recs[count++] = r; /* the buckets stay: pointers into them hold */
        }
    }
    if (!rc)
        ember__sort_by_key(recs, count, &s->ord);
    for (size_t i = 0; i < count && !rc; i++)
        if ((rc = sink->push(sink, &recs[i])) || ember__halted(t))
            rc = rc ? rc : ember__halt_code(t);
    ember__free(recs);
    return rc;
}

/* cogroup, the joins, the set operations: each key's values from both sides,
 * then what they give. */
int ember__read_two_sided(ember_rdd *n, int part, ember_out *sink)
{
    const ember__shuffle *s = n->u.state;
    ember__task *t = sink->task;
    ember__htab index; /* key -> group number + 1 */
    ember__htab_init(&index);
    struct sides {
        ember_buf v[2]; /* each side's values, encoded as records */
    } *groups = NULL;
    size_t ngroups = 0, cap = 0;
    ember_buf tmp = {0};
    int rc = 0;
    for (int side = 0; side < 2 && !rc; side++) {
        for (int m = 0; m < s->nmaps[side] && !rc; m++) {
            const ember_buf *b = ember__bucket(s, side, m, part);
            t->shuffle_read_bytes += (int64_t)b->len;
            const unsigned char *p = b->ptr, *end = p ? p + b->len : p; /* (empty: NULL) */
            ember_rec r;
            while (!rc && ember__rec_next(&p, end, &r) == 1) {
                t->records_in++;
                t->shuffle_read_records++;
                int64_t *g = ember__htab_upsert(&index, r.key);
                if (g && *g == 0) {
                    if (ngroups == cap) {
                        cap = cap ? cap * 2 : 64;
                        struct sides *grown = ember__realloc(groups, cap * sizeof *grown);
                        g = grown ? g : NULL;
                        groups = grown ? grown : groups;
                    }
                    if (g) {
                        groups[ngroups] = (struct sides){0};
                        *g = (int64_t)++ngroups;
                    }
                }
                ember_rec v;
                ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
                if (!g || ember__arena_put(&groups[*g - 1].v[side], v))
                    rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory grouping", n->op);
            }
        }
    }
    size_t pos = 0;
    ember_bytes key;
    int64_t g;
    while (!rc && ember__htab_next(&index, &pos, &key, &g)) {
        ember_bytes side[2] = {ember_buf_bytes(&groups[g - 1].v[0]),
                               ember_buf_bytes(&groups[g - 1].v[1])};
        rc = s->mode->give(s, key, side, &tmp, sink);
    }
    for (size_t i = 0; i < ngroups; i++) {
        ember_buf_destroy(&groups[i].v[0]);
        ember_buf_destroy(&groups[i].v[1]);
    }
    ember__free(groups);
    ember_buf_destroy(&tmp);
    ember__htab_destroy(&index);
    return rc;
}

/* ---------------------------------------------------------------- from merged runs */

static inline bool same_key(ember_bytes a, const ember_buf *b)
{
    return a.len == b->len && (!a.len || !memcmp(a.ptr, b->ptr, a.len));
}

/* A group handed on as a stream: the values already gathered, then the merge's
 * while the key holds. */
typedef struct group_stream {
    ember__stream base;
    ember__merge *mg;
    const ember_buf *key;
    ember_iter gathered;
    bool in_gathered;
    int err;
    ember__task *t;
} group_stream;

static int group_stream_next(ember__stream *b, ember_rec *rec)
{
    group_stream *g = (group_stream *)b;
    if (g->in_gathered) {
        int rc = ember_iter_next(&g->gathered, rec);
        if (rc)
            return rc;
        g->in_gathered = false;
    }
    const ember_rec *p;
    int rc = ember__merge_peek(g->mg, &p, NULL);
    if (rc <= 0 || !same_key(p->key, g->key))
        return rc < 0 ? (g->err = rc) : 0;
    ember_rec r;
    ember__merge_next(g->mg, &r, NULL);
    g->t->records_in++;
    g->t->shuffle_read_records++;
    ember__rec_set(rec, NULL, 0, r.val.ptr, r.val.len);
    return 1;
}

/* The reduce side once the map side spilled: partition part's segment of every
 * run, merged in key order (or read one after the other where no order is
 * needed), so that a key's records come together and only one key's values
 * are held. */
static int read_merged(ember_rdd *n, int part, ember_out *sink)
{
    const ember__shuffle *s = n->u.state;
    ember__task *t = sink->task;
    int nsides = n->parent2 ? 2 : 1, k = 0, total = 0;
    for (int side = 0; side < nsides; side++)
        for (int m = 0; m < s->nmaps[side]; m++)
            total += s->files[side][m].nruns;
    ember__run_reader *rd = ember__calloc((size_t)total + 1, sizeof *rd);
    unsigned char *side_of = ember__calloc((size_t)total + 1, 1);
    ember_buf key = {0}, acc = {0}, res = {0}, tmp = {0};
    ember_buf grp[2] = {{0}, {0}};
    ember__merge mg = {0};
    int rc = rd && side_of ? 0 : ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", n->op);
    for (int side = 0; side < nsides && !rc; side++) {
        for (int m = 0; m < s->nmaps[side]; m++) {
            const ember__spill_file *f = &s->files[side][m];
            for (int j = 0; j < f->nruns; j++) {
                const uint64_t *row = f->offs + (size_t)j * (size_t)(s->nparts + 1);
                if (row[part + 1] == row[part])
                    continue;
                side_of[k] = (unsigned char)side;
                ember__reader_open(&rd[k++], f->fd, row[part], row[part + 1]);
            }
        }
    }
    if (!rc && (rc = ember__merge_start(&mg, rd, k, s->order)))
        goto damaged;
    /* a group bigger than this goes on as a stream, where the next step reads it at once */
    size_t stream_at = ember__shuffle_share(n->ctx);
    unsigned flags = s->mode->flags;
    bool streamable = (flags & EMBER__SM_STREAMS) && ember__reads_now(sink);
    bool combines = flags & EMBER__SM_COMBINES;
    ember_rec r;
    int run = 0, got = 0;
    while (!rc && (got = ember__merge_next(&mg, &r, &run)) == 1) {
        t->records_in++;
        t->shuffle_read_records++;
        if (!s->mode->give) {
            rc = push_on(sink, &r);
            continue;
        }
        /* the records of one key, together */
        if (ember_buf_set(&key, r.key.ptr ? r.key.ptr : "", r.key.len)) {
            rc = ember__task_fail(t, EMBER_ENOMEM, "%s: out of memory", n->op);
            break;
        }
        bool streaming = false;
        acc.len = grp[0].len = grp[1].len = 0;
        ember_rec v;
        ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
        if (combines)
            rc = ember_buf_set(&acc, r.val.ptr ? r.val.ptr : "", r.val.len);
        else
            rc = ember__arena_put(&grp[side_of[run]], v);
        const ember_rec *p;
        while (!rc && (got = ember__merge_peek(&mg, &p, &run)) == 1 && same_key(p->key, &key)) {
            if (streamable && grp[0].len >= stream_at) {
                streaming = true;
                break;
            }
            ember__merge_next(&mg, &r, &run);
            t->records_in++;
            t->shuffle_read_records++;
            if (combines) {
                res.len = 0;
                if ((rc = s->merge(ember_buf_bytes(&acc), r.val, &res, s->arg))) {
                    rc = ember__combine_failed(t, n->op, rc);
                    break;
                }
                ember_buf sw = acc;
                acc = res;
                res = sw;
                continue;
            }
            ember__rec_set(&v, NULL, 0, r.val.ptr, r.val.len);
            rc = ember__arena_put(&grp[side_of[run]], v);
        }
        if (rc == EMBER_ENOMEM)
            rc = ember__task_fail(t, rc, "%s: out of memory grouping", n->op);
        if (rc)
            break;
        if (got < 0) {
            rc = got;
            goto damaged;
        }
        if (!streaming) {
            ember_bytes side[2] = {ember_buf_bytes(combines ? &acc : &grp[0]),
                                   ember_buf_bytes(&grp[1])};
            rc = s->mode->give(s, ember_buf_bytes(&key), side, &tmp, sink);
            continue;
        }
        /* a group too big to hold: read through the merge */
        ember_rec out;
        group_stream gs = {
            .base.next = group_stream_next, .mg = &mg, .key = &key, .in_gathered = true, .t = t};
        memset(gs.base.mark, 0xff, sizeof gs.base.mark); /* not a valid encoding */
        ember_iter_init(&gs.gathered, ember_buf_bytes(&grp[0]));
        ember__rec_set(&out, key.ptr, key.len, gs.base.mark, sizeof gs.base.mark);
        ember__stream *was = ember__cur_stream;
        ember__cur_stream = &gs.base;
        rc = push_on(sink, &out);
        ember__cur_stream = was;
        /* what the step did not read is passed over */
        while (!rc && !gs.err && (got = ember__merge_peek(&mg, &p, NULL)) == 1 &&
               same_key(p->key, &key)) {
            ember__merge_next(&mg, &r, NULL);
            t->records_in++;
            t->shuffle_read_records++;
        }
        if (!rc && (gs.err || got < 0)) {
            rc = gs.err ? gs.err : got;
            goto damaged;
        }
    }
    if (!rc && got < 0) {
        rc = got;
        goto damaged;
    }
    goto out;
damaged:
    rc = rc == EMBER_ENOMEM
             ? ember__task_fail(t, rc, "%s: out of memory merging the spilled shuffle", n->op)
             : ember__task_fail(t, EMBER_EIO,
                                "%s: reading partition %d of the spilled shuffle: a run is "
                                "damaged or unreadable",
                                n->op, part);
out:
    for (int i = 0; i < k; i++) {
        t->shuffle_read_bytes += rd[i].bytes;
        ember__reader_close(&rd[i]);
    }
    ember__merge_end(&mg);
    ember__free(rd);
    ember__free(side_of);
    ember_buf_destroy(&key);
    ember_buf_destroy(&acc);
    ember_buf_destroy(&res);
    ember_buf_destroy(&tmp);
    ember_buf_destroy(&grp[0]);
    ember_buf_destroy(&grp[1]);
    return rc;
}

int ember__shuffle_compute(ember_rdd *n, int part, ember_out *sink)
{
    const ember__shuffle *s = n->u.state;
    return s->spilled ? read_merged(n, part, sink) : s->mode->read(n, part, sink);
}
