/* Spilling: a map task's buckets written as sorted runs to a file, and read back.
 *
 * A map task has one spill file. It is created in the spill directory and
 * unlinked at once, so no name stays behind: the space goes when the descriptor
 * closes (the shuffle's rdd freed, the attempt failed, the context closed, or
 * the process killed). Each spill appends a run: one segment per reducer, each
 * segment a sequence of blocks [u32 raw length][u32 compressed length][zstd
 * bytes] of at most 64 KB of encoded records (compressed length 0: the raw
 * bytes, for a small block or one zstd does not shrink). Blocks are compressed one at a
 * time, so a reader needs no zstd window: a reducer merging k runs holds k
 * blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/zmem.h"

#include "core/mkdirs.h"
#include "shuffle/shuffle.h"

enum { BLOCK = 64 * 1024, SMALL = 2048 };

/* ---------------------------------------------------------------- writing */

int ember__spill_open(ember__spill_file *f, const char *dir, char *why, size_t whylen)
{
    size_t n = strlen(dir);
    char *path = ember__malloc(n + 32);
    if (!path) {
        snprintf(why, whylen, "out of memory");
        return EMBER_ENOMEM;
    }
    memcpy(path, dir, n + 1);
    int e = ember__mkdirs(path);
    if (e) {
        snprintf(why, whylen, "cannot create the spill directory %s: %s", dir, strerror(-e));
        ember__free(path);
        return EMBER_EIO;
    }
    snprintf(path + n, 32, "/ember-spill-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        snprintf(why, whylen, "cannot create a spill file in %s: %s", dir, strerror(errno));
        ember__free(path);
        return EMBER_EIO;
    }
    unlink(path); /* nameless from now on: nothing to clean up, even after a kill */
    ember__free(path);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    f->fd = fd;
    f->size = 0;
    return 0;
}

void ember__spill_close(ember__spill_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    ember__free(f->offs);
    ember__free(f->stage);
    ember__free(f->zbuf);
    if (f->zc) /* (libzstd is loaded when first used: not for nothing) */
        ZSTD_freeCCtx(f->zc);
    *f = (ember__spill_file){.fd = -1};
}

/* The writing buffers go after the last run; the file and its index stay. */
static void drop_writer(ember__spill_file *f)
{
    ember__free(f->stage);
    ember__free(f->zbuf);
    if (f->zc)
        ZSTD_freeCCtx(f->zc);
    f->stage = f->zbuf = NULL;
    f->zc = NULL;
    f->staged = 0;
}

static int write_all(ember__spill_file *f, const void *p, size_t n, char *why, size_t whylen)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = pwrite(f->fd, b, n, (off_t)f->size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, whylen, "writing a spill file: %s",
                     w < 0 ? strerror(errno) : "no space written");
            return EMBER_EIO;
        }
        b += w;
        n -= (size_t)w;
        f->size += (uint64_t)w;
    }
    return 0;
}

static int flush_block(ember__spill_file *f, char *why, size_t whylen)
{
    if (!f->staged)
        return 0;
    /* a small block is stored as it is (compressed length 0): not worth zstd's setup */
    size_t c = 0;
    if (f->staged >= SMALL) {
        c = ZSTD_compressCCtx(f->zc, f->zbuf + 8, ZSTD_compressBound(BLOCK), f->stage, f->staged,
                              1);
        if (ZSTD_isError(c)) {
            snprintf(why, whylen, "compressing a spill block: %s", ZSTD_getErrorName(c));
            return EMBER_EIO;
        }
        if (c >= f->staged)
            c = 0;
    }
    if (!c)
        memcpy(f->zbuf + 8, f->stage, f->staged);
    uint32_t hdr[2] = {(uint32_t)f->staged, (uint32_t)c};
    memcpy(f->zbuf, hdr, sizeof hdr);
    f->staged = 0;
    return write_all(f, f->zbuf, (c ? c : hdr[0]) + 8, why, whylen);
}

int ember__run_begin(ember__spill_file *f, int nparts)
{
    if (!f->stage) {
        f->stage = ember__malloc(BLOCK);
        f->zbuf = ember__malloc(ZSTD_compressBound(BLOCK) + 8);
        f->zc = ZSTD_createCCtx_advanced(ember__zstd_mem);
        if (!f->stage || !f->zbuf || !f->zc) {
            drop_writer(f);
            return EMBER_ENOMEM;
        }
    }
    size_t row = (size_t)nparts + 1;
    uint64_t *grown = ember__realloc(f->offs, (size_t)(f->nruns + 1) * row * sizeof *grown);
    if (!grown)
        return EMBER_ENOMEM;
    f->offs = grown;
    f->offs[(size_t)f->nruns * row] = f->size;
    f->part = 0;
    f->nparts = nparts;
    return 0;
}

int ember__run_bytes(ember__spill_file *f, const void *p, size_t n, char *why, size_t whylen)
{
    const unsigned char *b = p;
    while (n) {
        size_t k = BLOCK - f->staged < n ? BLOCK - f->staged : n;
        memcpy(f->stage + f->staged, b, k);
        f->staged += k;
        b += k;
        n -= k;
        if (f->staged == BLOCK) {
            int rc = flush_block(f, why, whylen);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int ember__run_rec(ember__spill_file *f, ember_rec r, char *why, size_t whylen)
{
    unsigned char hdr[20], *p = hdr;
    p = ember__varint_put(p, r.key.ptr ? (uint64_t)r.key.len + 1 : 0);
    size_t kn = (size_t)(p - hdr);
    unsigned char *v = ember__varint_put(p, r.val.len);
    int rc = ember__run_bytes(f, hdr, kn, why, whylen);
    if (!rc && r.key.ptr)
        rc = ember__run_bytes(f, r.key.ptr, r.key.len, why, whylen);
    if (!rc)
        rc = ember__run_bytes(f, p, (size_t)(v - p), why, whylen);
    if (!rc && r.val.len)
        rc = ember__run_bytes(f, r.val.ptr, r.val.len, why, whylen);
    return rc;
}

int ember__run_part_end(ember__spill_file *f, char *why, size_t whylen)
{
    int rc = flush_block(f, why, whylen); /* a segment ends on a block boundary */
    if (rc)
        return rc;
    f->part++;
    f->offs[(size_t)f->nruns * (size_t)(f->nparts + 1) + (size_t)f->part] = f->size;
    if (f->part == f->nparts)
        f->nruns++;
    return 0;
}

void ember__run_done(ember__spill_file *f)
{
    drop_writer(f);
}

/* ---------------------------------------------------------------- sorting */

int ember__order_cmp(const ember__order *o, ember_bytes a, ember_bytes b)
{
    if (o->cmp)
        return o->sign * o->cmp(a, b, o->arg);
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* key order, then arrival (the records' place in their buffer): a stable sort */
static int cmp_recs(const void *x, const void *y, void *arg)
{
    const ember_rec *a = x, *b = y;
    int c = ember__order_cmp(arg, a->key, b->key);
    if (c)
        return c;
    return (a->key.ptr > b->key.ptr) - (a->key.ptr < b->key.ptr);
}

void ember__sort_recs(ember_rec *recs, size_t n, const ember__order *o)
{
    if (n > 1)
        qsort_r(recs, n, sizeof *recs, cmp_recs, (void *)o);
}

static int cmp_keys(const void *x, const void *y, void *arg)
{
    return ember__order_cmp(arg, ((const ember_rec *)x)->key, ((const ember_rec *)y)->key);
}

void ember__sort_by_key(ember_rec *recs, size_t n, const ember__order *o)
{
    if (n > 1)
        qsort_r(recs, n, sizeof *recs, cmp_keys, (void *)o);
}

/* ---------------------------------------------------------------- reading */

int ember__reader_open(ember__run_reader *r, int fd, uint64_t off, uint64_t end)
{
    *r = (ember__run_reader){.fd = fd, .pos = off, .end = end};
    return 0;
}

void ember__reader_close(ember__run_reader *r)
{
    if (r->dctx)
        ZSTD_freeDCtx(r->dctx);
    r->dctx = NULL;
    ember_buf_destroy(&r->win);
    ember__free(r->in);
    r->in = NULL;
}

/* The record at p (n bytes there): its size, 0 when it runs past n, -1 malformed. */
static ptrdiff_t rec_parse(const unsigned char *p, size_t n, ember_rec *rec)
{
    uint64_t k = 0, v = 0;
    size_t i = 0;
    for (int sh = 0;; sh += 7) {
        if (i == n)
            return 0;
        if (sh > 63)
            return -1;
        k |= (uint64_t)(p[i] & 0x7f) << sh;
        if (!(p[i++] & 0x80))
            break;
    }
    size_t klen = k ? (size_t)(k - 1) : 0;
    if (klen > n - i)
        return klen > (size_t)1 << 40 ? -1 : 0;
    size_t kat = i;
    i += klen;
    for (int sh = 0;; sh += 7) {
        if (i == n)
            return 0;
        if (sh > 63)
            return -1;
        v |= (uint64_t)(p[i] & 0x7f) << sh;
        if (!(p[i++] & 0x80))
            break;
    }
    if (v > n - i)
        return v > (uint64_t)1 << 40 ? -1 : 0;
    ember__rec_set(rec, k ? p + kat : NULL, klen, p + i, (size_t)v);
    return (ptrdiff_t)(i + v);
}

/* One more block into the window, after what is unread. 1, 0 at the segment's
 * end, or EMBER_EIO / EMBER_ENOMEM. */
static int refill(ember__run_reader *r)
{
    if (r->pos >= r->end)
        return 0;
    if (!r->in && !(r->in = ember__malloc(ZSTD_compressBound(BLOCK) + 8)))
        return EMBER_ENOMEM;
    uint32_t hdr[2];
    if (pread(r->fd, hdr, sizeof hdr, (off_t)r->pos) != (ssize_t)sizeof hdr || hdr[0] > BLOCK ||
        hdr[1] > ZSTD_compressBound(BLOCK))
        return EMBER_EIO;
    size_t stored = hdr[1] ? hdr[1] : hdr[0];
    if (r->pos + 8 + stored > r->end ||
        pread(r->fd, r->in, stored, (off_t)(r->pos + 8)) != (ssize_t)stored)
        return EMBER_EIO;
    r->pos += 8 + stored;
    size_t rest = r->win.len - r->at; /* keep the unread part, then the block */
    if (rest && r->at)
        memmove(r->win.ptr, r->win.ptr + r->at, rest);
    r->win.len = rest;
    r->at = 0;
    if (r->win.cap < rest + hdr[0]) {
        size_t cap = r->win.cap ? r->win.cap : BLOCK;
        while (cap < rest + hdr[0])
            cap *= 2;
        unsigned char *grown = ember__realloc(r->win.ptr, cap);
        if (!grown)
            return EMBER_ENOMEM;
        r->win.ptr = grown;
        r->win.cap = cap;
    }
    size_t d = hdr[0];
    if (hdr[1] && !r->dctx && !(r->dctx = ZSTD_createDCtx_advanced(ember__zstd_mem)))
        return EMBER_ENOMEM;
    if (hdr[1])
        d = ZSTD_decompressDCtx(r->dctx, r->win.ptr + rest, hdr[0], r->in, hdr[1]);
    else
        memcpy(r->win.ptr + rest, r->in, d);
    if (ZSTD_isError(d) || d != hdr[0])
        return EMBER_EIO;
    r->win.len = rest + d;
    r->bytes += (int64_t)(8 + stored);
    return 1;
}

int ember__reader_next(ember__run_reader *r, ember_rec *rec)
{
    for (;;) {
        ptrdiff_t n = r->win.ptr ? rec_parse(r->win.ptr + r->at, r->win.len - r->at, rec) : 0;
        if (n > 0) {
            r->at += (size_t)n;
            return 1;
        }
        if (n < 0)
            return EMBER_EIO;
        int rc = refill(r);
        if (rc <= 0)
            return rc ? rc : r->at == r->win.len ? 0 : EMBER_EIO;
    }
}

/* ---------------------------------------------------------------- merging */

/* reader i before reader j: key order, then run order (arrival) */
static bool before(const ember__merge *m, int i, int j)
{
    int c = ember__order_cmp(m->o, m->cur[i].key, m->cur[j].key);
    return c ? c < 0 : i < j;
}

static void sift_down(ember__merge *m, int at)
{
    for (;;) {
        int l = 2 * at + 1, best = at;
        if (l < m->nheap && before(m, m->heap[l], m->heap[best]))
            best = l;
        if (l + 1 < m->nheap && before(m, m->heap[l + 1], m->heap[best]))
            best = l + 1;
        if (best == at)
            return;
        int t = m->heap[at];
        m->heap[at] = m->heap[best];
        m->heap[best] = t;
        at = best;
    }
}

int ember__merge_start(ember__merge *m, ember__run_reader *readers, int n, const ember__order *o)
{
    *m = (ember__merge){.r = readers, .n = n, .o = o, .pending = -1};
    m->heap = ember__malloc(((size_t)n + 1) * sizeof *m->heap);
    m->cur = ember__malloc(((size_t)n + 1) * sizeof *m->cur);
    if (!m->heap || !m->cur)
        return EMBER_ENOMEM;
    for (int i = 0; i < n; i++) {
        int rc = ember__reader_next(&readers[i], &m->cur[i]);
        if (rc < 0)
            return rc;
        if (rc)
            m->heap[m->nheap++] = i;
    }
    if (o)
        for (int i = m->nheap / 2 - 1; i >= 0; i--)
            sift_down(m, i);
    return 0;
}

/* The pending reader moves on (its record handed out before is released). */
static int advance(ember__merge *m)
{
    if (m->pending < 0)
        return 0;
    int i = m->pending;
    m->pending = -1;
    int rc = ember__reader_next(&m->r[i], &m->cur[i]);
    if (rc < 0)
        return rc;
    if (!rc) {       /* this run is done */
        if (!m->o) { /* unordered: the runs one after another */
            memmove(m->heap, m->heap + 1, (size_t)(m->nheap - 1) * sizeof *m->heap);
            m->nheap--;
            return 0;
        }
        m->heap[0] = m->heap[--m->nheap];
    }
    if (m->o)
        sift_down(m, 0);
    return 0;
}

int ember__merge_peek(ember__merge *m, const ember_rec **rec, int *run)
{
    int rc = advance(m);
    if (rc)
        return rc;
    if (!m->nheap)
        return 0;
    *rec = &m->cur[m->heap[0]];
    if (run)
        *run = m->heap[0];
    return 1;
}

int ember__merge_next(ember__merge *m, ember_rec *rec, int *run)
{
    const ember_rec *p;
    int rc = ember__merge_peek(m, &p, run);
    if (rc <= 0)
        return rc;
    *rec = *p;
    m->pending = m->heap[0];
    return 1;
}

void ember__merge_end(ember__merge *m)
{
    ember__free(m->heap);
    ember__free(m->cur);
    m->heap = NULL;
    m->cur = NULL;
}
