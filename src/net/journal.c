/* The journal of ember_http: final answers appended to a file as they come, so
 * that a job started again sends only what has no answer yet.
 *
 * The file is a text header, then frames:
 *
 *   ember-http-journal 1\n
 *   tag <what the caller says the job is for, one line>\n
 *   conf <32 hex digits: the request options that shape an answer>\n
 *   \n
 *   frame: 'J' | u32 length of body | 24-byte id | u8 ok | body | u32 xxh32 of id..body
 *
 * An id names a request by its content (a hash of the input record's key and
 * value, and the number of identical records before it in its partition), so
 * it does not depend on how the input is partitioned. The body is the response
 * record as ember_http yields it.
 *
 * Frames are gathered in memory and written with O_APPEND, whole, at least every
 * FLUSH_NS (100 ms) and whenever 256 KiB wait (ember__journal_tick is called
 * by the tasks' event loops; the end of a task and close flush too): a process
 * killed at any moment loses at most the answers of the last 100 ms, and
 * leaves at most one frame torn. (One write an answer cost 1,000 write and
 * lseek calls for 1,000 answers: about 8% of ember http's CPU.) Opening stops at the first frame
 * that is short or does not check, and cuts the file there, so appends go on from a clean end. (A
 * machine that loses power may lose the last frames the kernel had not written; nothing is fsynced
 * on this path.)
 *
 * The index maps ids to the offset of their frame, the last frame of an id
 * winning (an answer that failed, sent again with retry_failed, is replaced by
 * the new one). Threads share a journal: one mutex guards the index and the
 * appends. Under MPI each rank appends to its own file (PATH for rank 0,
 * PATH.rank-R for the others) and reads all of them, so a job started again on
 * another number of ranks still finds every answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/xxh.h"
#include "net/journal.h"

#define HEADER_MAGIC "ember-http-journal 1\n"
#define FRAME_HEAD (1 + 4 + EMBER__JOURNAL_ID + 1)

typedef struct source {
    int fd;
    char *path;
} source;

#define FLUSH_NS 100000000ull
#define FLUSH_BYTES (256u << 10)

struct ember__journal {
    pthread_mutex_t mu;
    int64_t end;               /* our file's length on disk */
    ember_buf pending;         /* frames not written yet, to go at end */
    _Atomic uint64_t since_ns; /* when the oldest pending frame came; 0: none */
    source *src;               /* src[0] is the file this process appends to */
    int nsrc;
    ember__htab index; /* id -> (source << 48 | offset of the frame) << 1 | ok */
    int64_t answers;
};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The whole of fd from offset 0. 0 or -errno. */
static int slurp(int fd, ember_buf *out)
{
    out->len = 0;
    for (;;) {
        if (ember__buf_reserve(out, 1 << 16))
            return EMBER_ENOMEM;
        ssize_t k = pread(fd, out->ptr + out->len, out->cap - out->len, (off_t)out->len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return 0;
        out->len += (size_t)k;
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *q = p;
    while (n) {
        ssize_t k = write(fd, q, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

static void header_text(ember_buf *h, const char *tag, const uint64_t conf[2], int *rc)
{
    char line[64];
    *rc = *rc ? *rc : ember_buf_append(h, HEADER_MAGIC, strlen(HEADER_MAGIC));
    *rc = *rc ? *rc : ember_buf_append(h, "tag ", 4);
    for (const char *p = tag; !*rc && *p; p++) /* one line, whatever the caller gave */
        *rc = ember_buf_append(h, *p == '\n' || *p == '\r' ? " " : p, 1);
    snprintf(line, sizeof line, "\nconf %016llx%016llx\n\n", (unsigned long long)conf[0],
             (unsigned long long)conf[1]);
    *rc = *rc ? *rc : ember_buf_append(h, line, strlen(line));
}

/* Index the frames of source k (data: its bytes). Returns the length of the
 * whole frames (where a torn tail starts), or -1 when the header is another
 * job's (why says so). */
static int64_t index_source(ember__journal *j, int k, const ember_buf *data, const ember_buf *want,
                            const char *path, char *why, size_t whylen, int *rc)
{
    size_t hl = want->len;
    if (data->len < hl || memcmp(data->ptr, want->ptr, hl)) {
        const char *d = (const char *)data->ptr, *end = d + data->len;
        size_t ml = strlen(HEADER_MAGIC);
        if (data->len < ml || memcmp(d, HEADER_MAGIC, ml)) {
            snprintf(why, whylen, "%s is not an ember http journal", path);
            return -1;
        }
        /* which line differs: the tag (another input) or the conf (other options) */
        const char *tag = d + ml, *tag_end = memchr(tag, '\n', (size_t)(end - tag));
        const char *wtag = (const char *)want->ptr + ml, *wtag_end = memchr(wtag, '\n', hl - ml);
        if (!tag_end || (size_t)(tag_end - tag) != (size_t)(wtag_end - wtag) ||
            memcmp(tag, wtag, (size_t)(tag_end - tag)))
            snprintf(why, whylen,
                     "%s was written by another job: it is for \"%.*s\", this job is for \"%.*s\"",
                     path, tag_end ? (int)(tag_end - tag) - 4 : 0, tag + 4,
                     (int)(wtag_end - wtag) - 4, wtag + 4);
        else
            snprintf(why, whylen,
                     "%s was written with other request options (method, headers, kept "
                     "headers, user agent or redirects differ)",
                     path);
        return -1;
    }
    const unsigned char *p = data->ptr + hl, *end = data->ptr + data->len;
    while ((size_t)(end - p) >= FRAME_HEAD + 4 && p[0] == 'J') {
        uint32_t blen = get32(p + 1);
        if ((size_t)(end - p) - FRAME_HEAD - 4 < blen)
            break;
        const unsigned char *id = p + 5;
        size_t covered = EMBER__JOURNAL_ID + 1 + blen;
        if (XXH32(id, covered, 0) != get32(id + covered))
            break;
        int64_t *v = ember__htab_upsert(&j->index, ember_bytes_of(id, EMBER__JOURNAL_ID));
        if (!v) {
            *rc = EMBER_ENOMEM;
            return -1;
        }
        int64_t off = (int64_t)(p - data->ptr);
        *v = (((int64_t)k << 48 | off) << 1 | (p[5 + EMBER__JOURNAL_ID] ? 1 : 0)) + 1;
        j->answers++;
        p += FRAME_HEAD + blen + 4;
    }
    return (int64_t)(p - data->ptr);
}

int ember__journal_open(const char *path, const char *tag, const uint64_t conf[2], int rank,
                        ember__journal **out, char *why, size_t whylen)
{
    *out = NULL;
    why[0] = 0;
    ember__journal *j = ember__calloc(1, sizeof *j);
    ember_buf want = {0}, data = {0};
    char own[4096];
    glob_t g = {0};
    int rc = 0;
    if (!j)
        return EMBER_ENOMEM;
    pthread_mutex_init(&j->mu, NULL);
    ember__htab_init(&j->index);
    header_text(&want, tag ? tag : "", conf, &rc);
    if (rc)
        goto fail;
    if (rank > 0)
        snprintf(own, sizeof own, "%s.rank-%d", path, rank);
    else
        snprintf(own, sizeof own, "%s", path);
    /* the files to read: ours first, then the other ranks' */
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s.rank-*", path);
    int grc = glob(pattern, GLOB_NOSORT, NULL, &g);
    size_t nother = grc == 0 ? g.gl_pathc : 0;
    j->src = ember__calloc(nother + 2, sizeof *j->src);
    if (!j->src) {
        rc = EMBER_ENOMEM;
        goto fail;
    }
    const char *paths[1] = {own};
    for (size_t i = 0; i < nother + 2; i++) {
        const char *p = i == 0 ? paths[0] : i == 1 ? path : g.gl_pathv[i - 2];
        if (i > 0 && !strcmp(p, own))
            continue;
        int fd = i == 0 ? open(p, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600)
                        : open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && i > 0 && errno == ENOENT)
            continue;
        if (fd < 0) {
            rc = -errno;
            snprintf(why, whylen, "cannot open the journal %s: %s", p, strerror(errno));
            goto fail;
        }
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
            close(fd);
            rc = EMBER_EINVAL;
            snprintf(why, whylen, "the journal %s is not a regular file", p);
            goto fail;
        }
        int k = j->nsrc++;
        j->src[k].fd = fd;
        if (!(j->src[k].path = ember__strdup(p))) {
            rc = EMBER_ENOMEM;
            goto fail;
        }
        if ((rc = slurp(fd, &data))) {
            snprintf(why, whylen, "cannot read the journal %s: %s", p, strerror(-rc));
            goto fail;
        }
        /* no header yet, or part of ours: a journal just created (another rank
         * starting this job now) or killed before its header was whole */
        bool bare = data.len < want.len && (!data.len || !memcmp(data.ptr, want.ptr, data.len));
        if (bare && k > 0)
            continue;
        if (bare) { /* ours, started over: its header */
            if (data.len && ftruncate(fd, 0)) {
                rc = -errno;
                snprintf(why, whylen, "cannot start the journal %s again: %s", p, strerror(errno));
                goto fail;
            }
            if ((rc = write_all(fd, want.ptr, want.len))) {
                snprintf(why, whylen, "cannot write the journal %s: %s", p, strerror(-rc));
                goto fail;
            }
            j->end = (int64_t)want.len;
            continue;
        }
        int64_t good = index_source(j, k, &data, &want, p, why, whylen, &rc);
        if (good < 0) {
            if (!rc)
                rc = EMBER_EINVAL;
            goto fail;
        }
        /* a torn last frame (a kill during its write): cut it off our own file */
        if (k == 0 && (size_t)good < data.len && ftruncate(fd, (off_t)good)) {
            rc = -errno;
            snprintf(why, whylen, "cannot cut the torn end of the journal %s: %s", p,
                     strerror(errno));
            goto fail;
        }
        if (k == 0)
            j->end = good;
    }
    globfree(&g);
    ember_buf_destroy(&want);
    ember_buf_destroy(&data);
    *out = j;
    return 0;
fail:
    globfree(&g);
    ember_buf_destroy(&want);
    ember_buf_destroy(&data);
    ember__journal_close(j);
    if (!why[0])
        snprintf(why, whylen, "journal %s: %s", path, ember_strerror(rc));
    return rc;
}

/* Write the pending frames (under mu). 0 or -errno. */
static int flush_locked(ember__journal *j)
{
    if (!j->pending.len)
        return 0;
    int rc = write_all(j->src[0].fd, j->pending.ptr, j->pending.len);
    if (!rc) {
        j->end += (int64_t)j->pending.len;
        j->pending.len = 0;
        atomic_store(&j->since_ns, 0);
    }
    return rc;
}

int ember__journal_flush(ember__journal *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = flush_locked(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int ember__journal_tick(ember__journal *j, uint64_t now)
{
    uint64_t since = atomic_load_explicit(&j->since_ns, memory_order_relaxed);
    if (!since || now - since < FLUSH_NS)
        return 0;
    return ember__journal_flush(j);
}

void ember__journal_close(ember__journal *j)
{
    if (!j)
        return;
    if (j->nsrc > 0)
        ember__journal_flush(j); /* an error here has no one to tell: the tasks flushed */
    ember_buf_destroy(&j->pending);
    for (int i = 0; i < j->nsrc; i++) {
        close(j->src[i].fd);
        ember__free(j->src[i].path);
    }
    ember__free(j->src);
    ember__htab_destroy(&j->index);
    pthread_mutex_destroy(&j->mu);
    ember__free(j);
}

int64_t ember__journal_answers(ember__journal *j)
{
    pthread_mutex_lock(&j->mu);
    int64_t n = j->answers;
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* Look id up without inserting it: the htab only has upsert, so probe for an
 * entry and drop a fresh zero one (the table keeps it, harmlessly, as "none"). */
int ember__journal_get(ember__journal *j, const unsigned char id[EMBER__JOURNAL_ID], ember_buf *out,
                       bool *ok)
{
    pthread_mutex_lock(&j->mu);
    int64_t *v = ember__htab_upsert(&j->index, ember_bytes_of(id, EMBER__JOURNAL_ID));
    int64_t e = v ? *v : 0;
    pthread_mutex_unlock(&j->mu);
    if (!v)
        return EMBER_ENOMEM;
    if (!e)
        return 0;
    e -= 1;
    *ok = e & 1;
    int k = (int)(e >> 49);
    off_t off = (off_t)((e >> 1) & (((int64_t)1 << 48) - 1));
    if (k == 0) { /* perhaps still in memory */
        pthread_mutex_lock(&j->mu);
        if (off >= j->end) {
            const unsigned char *f = j->pending.ptr + (off - j->end);
            uint32_t blen = get32(f + 1);
            out->len = 0;
            int rc = ember_buf_append(out, f + FRAME_HEAD, blen) ? EMBER_ENOMEM : 1;
            pthread_mutex_unlock(&j->mu);
            return rc;
        }
        pthread_mutex_unlock(&j->mu);
    }
    unsigned char head[FRAME_HEAD];
    if (pread(j->src[k].fd, head, sizeof head, off) != (ssize_t)sizeof head)
        return EMBER_EIO;
    uint32_t blen = get32(head + 1);
    out->len = 0;
    if (ember__buf_reserve(out, blen))
        return EMBER_ENOMEM;
    ssize_t got = pread(j->src[k].fd, out->ptr, blen, off + FRAME_HEAD);
    if (got != (ssize_t)blen)
        return EMBER_EIO;
    out->len = blen;
    return 1;
}

int ember__journal_put(ember__journal *j, const unsigned char id[EMBER__JOURNAL_ID],
                       ember_bytes rec, bool ok, uint64_t now)
{
    if (rec.len > UINT32_MAX - FRAME_HEAD - 8)
        return EMBER_ERANGE;
    size_t n = FRAME_HEAD + rec.len + 4;
    int rc = 0;
    pthread_mutex_lock(&j->mu);
    int64_t at = j->end + (int64_t)j->pending.len;
    if (ember__buf_reserve(&j->pending, n)) {
        rc = EMBER_ENOMEM;
    } else {
        unsigned char *f = j->pending.ptr + j->pending.len;
        f[0] = 'J';
        put32(f + 1, (uint32_t)rec.len);
        memcpy(f + 5, id, EMBER__JOURNAL_ID);
        f[5 + EMBER__JOURNAL_ID] = ok;
        if (rec.len)
            memcpy(f + FRAME_HEAD, rec.ptr, rec.len);
        put32(f + FRAME_HEAD + rec.len, XXH32(f + 5, EMBER__JOURNAL_ID + 1 + rec.len, 0));
        j->pending.len += n;
        if (!atomic_load(&j->since_ns))
            atomic_store(&j->since_ns, now ? now : 1);
        int64_t *v = ember__htab_upsert(&j->index, ember_bytes_of(id, EMBER__JOURNAL_ID));
        if (!v)
            rc = EMBER_ENOMEM;
        else
            *v = ((int64_t)at << 1 | (ok ? 1 : 0)) + 1;
        j->answers++;
        if (!rc && (j->pending.len >= FLUSH_BYTES || now - atomic_load(&j->since_ns) >= FLUSH_NS))
            rc = flush_locked(j);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}
