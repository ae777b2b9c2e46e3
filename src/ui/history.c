/* The history server (ember history): event logs read back into models, one
 * an application, and served with the live UI's pages and REST API. A log
 * cut short by a crash reads up to its last whole line; the application then
 * shows as incomplete. A log written compressed (zstd frames, whatever its
 * name) is known by its first bytes and read through a decompressing stream.
 *
 * As Spark's, it reads a log whole only when a page of its application is
 * asked for: at first, and while it is not asked for, an application is a
 * summary (its start and end, its last event's time, its jobs counted: what
 * the list of applications shows). The applications asked for last
 * (EMBER_HISTORY_RETAINED_APPLICATIONS, 50) are kept whole; one asked for
 * before them, and not in an answer now, goes back to a summary. Answers are
 * made side by side: one that reads its application whole does so holding no
 * lock, so a big log read whole delays only the answers about it (they wait
 * for that read, not one of their own); use_mu guards the set of logs and
 * what they are (a summary or whole, being read, in how many answers). A look
 * reads the files holding no lock either.
 *
 * As Spark's history server, it looks again every 10 s
 * (EMBER_HISTORY_UPDATE_INTERVAL, seconds; 0 never): a log new in a directory
 * is read, one removed goes, and one that grew (an application still running)
 * is read on from where the last look stopped, into the model served (under
 * its lock, as the live UI's listener does), when its first bytes show it is
 * the same file; one that shrank, or another file in its place, is read
 * whole. A log only grows, so its size says when to read it again (a log
 * written over in place at the same size is not read again; an application
 * that ended is a new name: its ".inprogress" one gone). A thread of its own
 * reads them and swaps the new set in at once.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "core/lazy.h"
#include "core/zmem.h"
#include "ui/ui.h"

/* Where a read of a log stopped, for the next look to read on from: the
 * byte of the file to start at and, in a zstd log, how much of that frame's
 * text was read already; ok false: read it whole again (damage was passed
 * over). head: the file's first bytes (another file in its place differs). */
typedef struct resume {
    long long off, skip;
    bool ok, zstd;
    int nhead;
    unsigned char head[256];
} resume;

/* A file the server has seen: its model, or NULL when it is not an event log
 * (passed over until it changes). */
typedef struct hlog {
    char *path;
    long long size; /* a log only grows: its size says when to read it again */
    ui_model *m;    /* whole, or a summary (m->summary) until a page of it is asked for */
    resume at;
    uint64_t used; /* when it was last read whole or asked for (h->tick) */
    int users;     /* answers about it under way: it stays whole meanwhile */
    bool loading;  /* being read whole, by an answer holding no lock */
} hlog;

struct ember_history {
    char **given; /* the paths as given: files, directories */
    int ngiven, keep[2];
    hlog *logs; /* every file seen, by path */
    int nlogs;
    ui_model **models; /* what the server serves */
    int n;
    ui_server *server;
    double every; /* seconds between looks; 0: never */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool watching, stop;
    /* logs and what each is, held briefly by a look and by an answer: an
     * application asked for is read whole first (use_mu not held while it is
     * read, nor while a look reads: loaded signals the end of each such
     * read), and the least lately
     * asked for beyond the newest retained go back to summaries (Spark's
     * spark.history.retainedApplications) */
    pthread_mutex_t use_mu;
    pthread_cond_t loaded;
    int retained;
    uint64_t tick;
};

/* A zstd log read as a stream of its lines (fopencookie): frame after frame.
 * A frame cut short by a crash ends it; a damaged one is passed over to the
 * next frame's magic (frames hold whole lines: a line torn there is ended
 * and then skipped as not JSON), so what follows the damage is kept. */
typedef struct unpack {
    FILE *raw;
    ZSTD_DCtx *d;
    ZSTD_inBuffer in;
    size_t left;     /* what the frame in progress still wants; 0 between frames */
    size_t err;      /* the first damage's zstd error code; 0 none */
    int damaged;     /* frames passed over */
    long long frame; /* the byte where the frame in progress began */
    long long first; /* where the first damaged one began */
    long long at;    /* bytes read from raw */
    long long out;   /* text given out */
    struct {
        long long out, at;
    } * starts; /* each frame's first byte of text, and of the file */
    int nstarts, cstarts;
    char buf[1 << 17];
} unpack;

static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* After damage in the frame at u->frame: on from the next frame's magic. */
static void resync(unpack *u)
{
    long long from = u->frame + 1;
    u->in = (ZSTD_inBuffer){u->buf, 0, 0};
    u->left = 0;
    ZSTD_DCtx_reset(u->d, ZSTD_reset_session_only);
    for (;;) {
        if (fseeko(u->raw, from, SEEK_SET))
            break;
        size_t got = fread(u->buf, 1, sizeof u->buf, u->raw);
        if (got < 4)
            break;
        for (size_t i = 0; i + 4 <= got; i++)
            if (!memcmp(u->buf + i, zstd_magic, 4)) {
                u->in = (ZSTD_inBuffer){u->buf, got, i};
                u->at = from + (long long)got;
                return;
            }
        from += (long long)got - 3;
    }
    u->at = from; /* no frame follows: the end */
    fseeko(u->raw, 0, SEEK_END);
}

static ssize_t unpack_read(void *cookie, char *to, size_t n)
{
    unpack *u = cookie;
    ZSTD_outBuffer out = {to, n, 0};
    while (!out.pos) {
        if (u->in.pos == u->in.size) {
            size_t got = fread(u->buf, 1, sizeof u->buf, u->raw);
            if (!got)
                return 0; /* the end; mid-frame: a frame cut short */
            u->in = (ZSTD_inBuffer){u->buf, got, 0};
            u->at += (long long)got;
        }
        if (!u->left) { /* a frame begins */
            u->frame = u->at - (long long)(u->in.size - u->in.pos);
            if (u->nstarts == u->cstarts) {
                int c = u->cstarts ? 2 * u->cstarts : 64;
                void *g = ember__realloc(u->starts, (size_t)c * sizeof *u->starts);
                if (!g) { /* where it began is not known: the next look reads it whole */
                    u->damaged++;
                    return -1;
                }
                u->starts = g;
                u->cstarts = c;
            }
            u->starts[u->nstarts].out = u->out + (long long)out.pos;
            u->starts[u->nstarts++].at = u->frame;
        }
        size_t r = ZSTD_decompressStream(u->d, &out, &u->in);
        if (!ZSTD_isError(r)) {
            u->left = r;
            continue;
        }
        if (!u->damaged++) {
            u->err = r;
            u->first = u->frame;
        }
        resync(u);
        if (out.pos < out.size)
            to[out.pos++] = '\n';
    }
    u->out += (long long)out.pos;
    return (ssize_t)out.pos;
}

static int unpack_close(void *cookie)
{
    unpack *u = cookie;
    fclose(u->raw);
    ZSTD_freeDCtx(u->d);
    ember__free(u->starts);
    ember__free(u);
    return 0;
}

/* The log at path as a stream of lines: the file itself, or its zstd frames
 * unpacked (*u set); from: where a read stopped (NULL: the start). head (when
 * not NULL): the file's first bytes, read on the way. NULL with errno when it
 * cannot be read. */
static FILE *open_log(const char *path, const resume *from, unpack **u, resume *head)
{
    *u = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char first[sizeof head->head];
    size_t got = fread(first, 1, sizeof first, f);
    if (head) {
        memcpy(head->head, first, got);
        head->nhead = (int)got;
    }
    bool packed = from ? from->zstd : got >= 4 && !memcmp(first, zstd_magic, 4);
    if (fseeko(f, from ? from->off : 0, SEEK_SET)) {
        int e = errno == ESPIPE ? ESPIPE : EIO; /* ESPIPE: a pipe, read once */
        fclose(f);
        errno = e;
        return NULL;
    }
    if (!packed)
        return f;
    if (ember__lib_load(&ember__libzstd)) {
        fclose(f);
        errno = ENOTSUP;
        return NULL;
    }
    unpack *z = ember__calloc(1, sizeof *z);
    if (!z || !(z->d = ZSTD_createDCtx_advanced(ember__zstd_mem))) {
        ember__free(z);
        fclose(f);
        errno = ENOMEM;
        return NULL;
    }
    z->raw = f;
    z->at = z->frame = from ? from->off : 0;
    FILE *s =
        fopencookie(z, "rb", (cookie_io_functions_t){.read = unpack_read, .close = unpack_close});
    if (!s) {
        unpack_close(z);
        errno = ENOMEM;
        return NULL;
    }
    *u = z;
    return s;
}

/* A line that names its event first, as ember writes them, and an event
 * other than the application's start and end: what a list of applications
 * does not need parsed. */
static bool beside_the_app(const char *line, size_t n)
{
    static const char ev[] = "{\"Event\":\"", app[] = "SparkListenerApplication";
    return n > sizeof ev + sizeof app && !memcmp(line, ev, sizeof ev - 1) &&
           memcmp(line + sizeof ev - 1, app, sizeof app - 1);
}

/* A line a list reads past: the jobs it counts are up to the highest job id
 * any line names (a job's start and end, a stage's job), plus one. */
static void job_seen(ui_model *m, const char *line, size_t n)
{
    static const char key[] = "Job ID\":";
    const char *at = memmem(line, n, key, sizeof key - 1);
    if (!at)
        return;
    char *end;
    long long id = strtoll(at + sizeof key - 1, &end, 10);
    if (end != at + sizeof key - 1 && id >= 0 && id + 1 > m->summary_jobs)
        m->summary_jobs = id + 1;
}

/* Apply the lines of f (the log at path) to m, under m's lock when the
 * server may be reading it; summary: only the application's start and end.
 * *events counts the events, *taken the bytes of text taken (a torn last
 * line is not: the next read takes it whole). 0, or EMBER_ENOMEM. */
static int replay(const char *path, FILE *f, ui_model *m, bool summary, bool shared, long *events,
                  long long *taken)
{
    char *line = NULL, *last = NULL;
    size_t cap = 0, last_cap = 0;
    ssize_t n, last_n = 0;
    long lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0 && !rc) {
        lineno++;
        bool whole = line[n - 1] == '\n';
        if (summary && beside_the_app(line, (size_t)n)) {
            if (!whole)
                continue;
            *taken += n;
            job_seen(m, line, (size_t)n); /* what a list shows besides: its jobs, */
            /* and its last event's time */
            char *t = last; /* the last line kept: its buffer and getline's swapped */
            size_t tc = last_cap;
            last = line;
            last_cap = cap;
            last_n = n;
            line = t;
            cap = tc;
            continue;
        }
        ui_parsed p;
        int got = ember__ui_event_parse(line, (size_t)n, &p);
        if (got == 1) {
            if (shared)
                pthread_mutex_lock(&m->mu);
            if (p.env_update) { /* the settings: applied as a start with props alone */
                ember_event ev = {.type = EMBER_EV_APP_START, .props = p.ev.props};
                rc = ember__ui_model_apply(m, &ev);
            } else {
                rc = ember__ui_model_apply(m, &p.ev);
            }
            if (!rc && p.user) { /* who ran it, not who reads it */
                ember__free(m->user);
                if (!(m->user = ember__strdup(p.user)))
                    rc = EMBER_ENOMEM;
            }
            if (shared)
                pthread_mutex_unlock(&m->mu);
            (*events)++;
            *taken += n;
        } else if (whole) {
            if (got < 0 && !feof(f)) /* a damaged line in the middle: said, and passed over */
                fprintf(stderr, "ember history: %s:%ld: not a JSON event, skipped\n", path, lineno);
            *taken += n;
        }
        ember__ui_parsed_free(&p);
    }
    ui_parsed p;
    if (last && ember__ui_event_parse(last, (size_t)last_n, &p) == 1) {
        int64_t t = (int64_t)(p.ev.time_ns / 1000000);
        if (t > m->last_ms)
            m->last_ms = t;
        ember__ui_parsed_free(&p);
    }
    free(line);
    free(last);
    return rc;
}

/* at: where the next read goes on, after one from (off0, skip0) that took
 * taken bytes of text (u: its zstd stream, NULL for a plain log). */
static void go_on_at(resume *at, const unpack *u, long long off0, long long skip0, long long taken)
{
    at->zstd = u != NULL;
    at->ok = !u || !u->damaged;
    if (!u) {
        at->off = off0 + taken;
        at->skip = 0;
        return;
    }
    long long p = skip0 + taken; /* the text's byte, from off0's frame */
    int k = u->nstarts - 1;
    while (k >= 0 && u->starts[k].out > p)
        k--;
    at->off = k < 0 ? off0 : u->starts[k].at;
    at->skip = k < 0 ? p : p - u->starts[k].out;
}

/* The lines of text[n] read for a list into m (summary). false when there
 * was nothing to read them with. */
static bool summary_of_text(const char *path, ui_model *m, const char *text, size_t n)
{
    FILE *f = n ? fmemopen((void *)text, n, "rb") : NULL;
    if (!f)
        return false;
    long events = 0;
    long long taken = 0;
    int rc = replay(path, f, m, true, false, &events, &taken);
    fclose(f);
    return !rc;
}

/* n bytes of pages of their own, given back whole by munmap (a list's large
 * buffers: malloc would keep them); NULL when there are none. */
static void *pages(size_t n)
{
    void *p =
        n ? mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
    return p == MAP_FAILED ? NULL : p;
}

/* The text of the zstd frame at p (n bytes), whole, into *out (pages(*cap));
 * its length, or -1. */
static long long unpack_frame(ZSTD_DCtx *d, const unsigned char *p, size_t n, char **out,
                              size_t *cap)
{
    unsigned long long size = ZSTD_getFrameContentSize(p, n);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > (1u << 30))
        return -1;
    char *t = pages(size ? size : 1);
    if (!t)
        return -1;
    size_t got = ZSTD_decompressDCtx(d, t, size, p, n);
    if (ZSTD_isError(got) || got != size) {
        munmap(t, size ? size : 1);
        return -1;
    }
    *out = t;
    *cap = size ? size : 1;
    return (long long)size;
}

/* Frames back from the last that a list looks through for a job's id. */
#define BACK_FRAMES 8
/* Bytes a plain log's list reads at each end. */
#define END_BYTES (64 << 10)
/* The largest zstd log a list reads into memory to find its frames. */
#define PACKED_MAX ((size_t)256 << 20)

/* What a list shows of a log, from its ends alone: the application's start
 * in its first bytes (a plain log's first 64 kB, a zstd log's first frame),
 * its end, last event and newest job in its last (the last 64 kB, the last
 * frames: ember writes a frame of whole lines each time). Returns 0 with *out
 * a summary and *at where a later read goes on; 1 when the log is to be read
 * through instead (a plain one under 256 kB, a zstd one over 256 MB, one
 * frame, a frame cut short or damaged, no job in the last frames). */
static int summary_ends(const char *path, const int keep[2], ui_model **out, resume *at)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 1;
    struct stat st;
    unsigned char *all = NULL;
    char *head = NULL, *tail = NULL; /* pages() of head_cap, tail_cap bytes */
    ui_model *m = NULL;
    ZSTD_DCtx *d = NULL;
    size_t size = 0, head_cap = 0, tail_cap = 0;
    int rc = 1;
    if (fstat(fileno(f), &st))
        goto out;
    size = (size_t)st.st_size;
    unsigned char first[sizeof at->head];
    size_t nfirst = fread(first, 1, sizeof first, f);
    bool packed = nfirst >= 4 && !memcmp(first, zstd_magic, 4);
    if (!packed && size < 4 * END_BYTES) /* small: read through */
        goto out;
    if (packed && size > PACKED_MAX) /* its frames found in memory: too large, read through */
        goto out;
    if (!(m = ember__ui_model_new(keep)))
        goto out;
    m->summary = true;
    *at = (resume){.ok = true, .nhead = (int)nfirst};
    memcpy(at->head, first, nfirst);
    if (packed) { /* the frames found by their headers; the first and the last few read */
        if (ember__lib_load(&ember__libzstd) || !(d = ZSTD_createDCtx_advanced(ember__zstd_mem)))
            goto out;
        /* read, not mapped: a file cut meanwhile must not be a SIGBUS */
        if (!(all = pages(size)) || fseeko(f, 0, SEEK_SET) || fread(all, 1, size, f) != size)
            goto out;
        size_t starts[BACK_FRAMES + 1], nstarts = 0, pos = 0, frames = 0, first_end = 0;
        while (pos < size) {
            size_t k = ZSTD_findFrameCompressedSize(all + pos, size - pos);
            if (ZSTD_isError(k))
                goto out; /* cut short, or damaged: read through */
            if (!frames++)
                first_end = k;
            starts[nstarts++ % (BACK_FRAMES + 1)] = pos;
            pos += k;
        }
        long long n = frames > 1 ? unpack_frame(d, all, first_end, &head, &head_cap) : -1;
        if (n < 0 || !summary_of_text(path, m, head, (size_t)n))
            goto out;
        m->summary_jobs = 0; /* the newest job: in the last frames */
        for (size_t back = 0;
             back < BACK_FRAMES && back + 1 < frames && (!back || !m->summary_jobs); back++) {
            size_t i = frames - 1 - back, from = starts[i % (BACK_FRAMES + 1)];
            size_t to = back ? starts[(i + 1) % (BACK_FRAMES + 1)] : size;
            if (tail)
                munmap(tail, tail_cap);
            tail = NULL;
            long long t = unpack_frame(d, all + from, to - from, &tail, &tail_cap);
            if (t < 0 || !summary_of_text(path, m, tail, (size_t)t))
                goto out;
            if (!back) { /* the next read goes on past the last frame's text */
                at->zstd = true;
                at->off = (long long)from;
                at->skip = t;
            }
        }
    } else {
        /* the first and the last 64 kB, the last from its first whole line */
        if (!(head = pages(head_cap = END_BYTES)) || !(tail = pages(tail_cap = END_BYTES)))
            goto out;
        size_t nh = fseeko(f, 0, SEEK_SET) ? 0 : fread(head, 1, END_BYTES, f);
        size_t nt =
            fseeko(f, (off_t)(size - END_BYTES), SEEK_SET) ? 0 : fread(tail, 1, END_BYTES, f);
        char *from = memchr(tail, '\n', nt), *last = from ? memrchr(tail, '\n', nt) : NULL;
        if (!nh || !last || last == from || !summary_of_text(path, m, head, nh))
            goto out;
        m->summary_jobs = 0; /* the newest job: in the last 64 kB */
        if (!summary_of_text(path, m, from + 1, (size_t)(last - from)))
            goto out;
        at->off = (long long)(size - END_BYTES) + (last - tail) + 1;
    }
    if (m->app_id && m->summary_jobs) { /* (no job near the end: read through) */
        *out = m;
        m = NULL;
        rc = 0;
    }
out:
    fclose(f);
    if (d)
        ZSTD_freeDCtx(d);
    if (all)
        munmap(all, size);
    if (head)
        munmap(head, head_cap);
    if (tail)
        munmap(tail, tail_cap);
    ember__ui_model_free(m);
    return rc;
}

/* Replay the log at path into a new model keeping keep[0] jobs and keep[1]
 * stages; summary: only the application's start and end (a list of
 * applications: ten times as fast); at (when not NULL): where a later read
 * goes on. 0, or a code with the message on the thread. */
static int load(const char *path, const int keep[2], bool summary, ui_model **out, resume *at)
{
    resume ends;
    if (summary && !summary_ends(path, keep, out, &ends)) {
        if (at)
            *at = ends;
        return 0;
    }
    unpack *u;
    FILE *f = open_log(path, NULL, &u, at);
    if (!f && errno == ENOTSUP) /* a zstd log, and no libzstd */
        return ember__err(NULL, EMBER_ENOTSUP, "ember history: cannot read %s: %s", path,
                          ember__libzstd.err);
    if (!f && errno == ESPIPE)
        return ember__err(NULL, EMBER_EINVAL,
                          "ember history: cannot read %s: not a file but a pipe, and a log is "
                          "read more than once (its ends, then whole); save it to a file",
                          path);
    if (!f)
        return ember__err(NULL, -errno, "ember history: cannot read %s: %s", path, strerror(errno));
    ui_model *m = ember__ui_model_new(keep);
    if (!m) {
        fclose(f);
        return ember__err(NULL, EMBER_ENOMEM, "ember history: out of memory");
    }
    m->summary = summary;
    long events = 0;
    long long taken = 0;
    int rc = replay(path, f, m, summary, false, &events, &taken);
    if (u && u->damaged) /* what the other frames hold is kept */
        fprintf(stderr,
                "ember history: %s: %d damaged zstd frame%s passed over, the first at byte %lld "
                "(%s)\n",
                path, u->damaged, u->damaged > 1 ? "s" : "", u->first, ZSTD_getErrorName(u->err));
    if (at)
        go_on_at(at, u, 0, 0, taken);
    fclose(f);
    if (rc) {
        ember__ui_model_free(m);
        return ember__err(NULL, rc, "ember history: out of memory reading %s", path);
    }
    if (!events || !m->app_id) {
        ember__ui_model_free(m);
        return ember__err(NULL, EMBER_EINVAL, "ember history: %s holds no event log", path);
    }
    *out = m;
    return 0;
}

/* A log that grew since old's read, read on from where that stopped into
 * its model (which the server serves meanwhile) when it is still the same
 * file: 0 with *at where the next read goes on, or -1: read it whole. */
static int extend(const char *path, const hlog *old, resume *at)
{
    *at = old->at;
    if (!old->at.ok)
        return -1; /* damage was passed over */
    unpack *u;
    resume now;
    FILE *f = open_log(path, &old->at, &u, &now);
    if (!f)
        return -1;
    if (now.nhead < old->at.nhead || memcmp(now.head, old->at.head, (size_t)old->at.nhead)) {
        fclose(f); /* another file in its place */
        return -1;
    }
    char skip[4096];
    long long left = old->at.skip;
    for (size_t k; left > 0; left -= (long long)k)
        if (!(k = fread(skip, 1, left < (long long)sizeof skip ? (size_t)left : sizeof skip, f)))
            break;
    long events = 0;
    long long taken = 0;
    int rc = left ? -1 : replay(path, f, old->m, old->m->summary, true, &events, &taken);
    if (!rc) {
        go_on_at(at, u, old->at.off, old->at.skip, taken);
        rc = at->ok ? 0 : -1;
    }
    fclose(f);
    return rc ? -1 : 0;
}

static int add_file(const char *path, char ***files, int *n, int *cap)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 8;
        char **g = ember__realloc(*files, (size_t)c * sizeof *g);
        if (!g)
            return ember__err(NULL, EMBER_ENOMEM, "ember history: out of memory");
        *files = g;
        *cap = c;
    }
    if (!((*files)[(*n)++] = ember__strdup(path)))
        return ember__err(NULL, EMBER_ENOMEM, "ember history: out of memory");
    return 0;
}

/* The files a path names: itself, or a directory's regular files (sorted,
 * names starting with '.' passed over). */
static int expand(const char *path, char ***files, int *n, int *cap)
{
    struct stat st;
    if (stat(path, &st))
        return ember__err(NULL, -errno, "ember history: %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return add_file(path, files, n, cap);
    struct dirent **ents = NULL;
    int k = scandir(path, &ents, NULL, alphasort), rc = 0;
    if (k < 0)
        return ember__err(NULL, -errno, "ember history: %s: %s", path, strerror(errno));
    for (int i = 0; i < k; i++) {
        char full[4200];
        snprintf(full, sizeof full, "%s/%s", path, ents[i]->d_name);
        struct stat fs;
        if (!rc && ents[i]->d_name[0] != '.' && !stat(full, &fs) && S_ISREG(fs.st_mode))
            rc = add_file(full, files, n, cap);
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const hlog *)a)->path, ((const hlog *)b)->path);
}

static void free_logs(hlog *logs, int n)
{
    for (int i = 0; i < n; i++) {
        ember__free(logs[i].path);
        ember__ui_model_free(logs[i].m);
    }
    ember__free(logs);
}

/* The log of application id[len] (use_mu held), or NULL. */
static hlog *log_of(ember_history *h, const char *id, size_t len)
{
    for (int i = 0; i < h->nlogs; i++)
        if (h->logs[i].m && h->logs[i].m->app_id && strlen(h->logs[i].m->app_id) == len &&
            !strncmp(h->logs[i].m->app_id, id, len))
            return &h->logs[i];
    return NULL;
}

/* The log at path (use_mu held; the logs are in order of their paths), or
 * NULL: gone since. */
static hlog *log_at(ember_history *h, const char *path)
{
    hlog key = {.path = (char *)path};
    return h->nlogs ? bsearch(&key, h->logs, (size_t)h->nlogs, sizeof key, by_path) : NULL;
}

/* A file a look found, and what it does with it: planned under use_mu,
 * carried out holding no lock (answers go on meanwhile), taken into the new
 * set under use_mu again. */
typedef struct seen {
    char *path;
    long long size;
    bool named; /* named itself, not found in a directory */
    bool gone;  /* gone since the directory was read */
    bool known; /* the server had it before this look */
    enum { KEEP, GROW, READ } plan;
    bool grew;   /* GROW was tried (its log marked loading meanwhile) */
    hlog base;   /* GROW: the model read on, and where its last read stopped */
    ui_model *m; /* READ: the summary read */
    resume at;   /* GROW, READ: where the next read goes on */
    int rc;      /* READ: 0, or the code of its failure */
} seen;

/* Look at h's paths: every file's model, read again only when the file
 * changed (a grown one read on, its log marked loading meanwhile; one read
 * whole by an answer now is left to the next look); then the new set served.
 * The files are read holding no lock. first: ember_history_open's look, where
 * a file named (not found in a directory) that is no event log is an error.
 * 0, or a code with the message on the thread. */
static int look(ember_history *h, bool first)
{
    char **files = NULL;
    int nfiles = 0, cap = 0, named_to = 0, rc = 0;
    bool *named = NULL;
    for (int i = 0; i < h->ngiven && !rc; i++) {
        struct stat st;
        bool dir = !stat(h->given[i], &st) && S_ISDIR(st.st_mode);
        if ((rc = expand(h->given[i], &files, &nfiles, &cap)) && first)
            break;
        rc = 0; /* a path gone since the start (a log removed): none of its files are */
        bool *g = ember__realloc(named, (size_t)(nfiles ? nfiles : 1) * sizeof *g);
        if (!g) {
            rc = ember__err(NULL, EMBER_ENOMEM, "ember history: out of memory");
            break;
        }
        named = g;
        for (; named_to < nfiles; named_to++)
            named[named_to] = !dir;
    }
    seen *fs = rc ? NULL : ember__calloc((size_t)nfiles + 1, sizeof *fs);
    hlog *logs = rc ? NULL : ember__calloc((size_t)nfiles + 1, sizeof *logs);
    ui_model **models = rc ? NULL : ember__calloc((size_t)nfiles + 1, sizeof *models);
    if (!rc && (!fs || !logs || !models))
        rc = ember__err(NULL, EMBER_ENOMEM, "ember history: out of memory");
    for (int i = 0; i < nfiles && !rc; i++) {
        struct stat st;
        fs[i] = (seen){.path = files[i], .named = named[i], .gone = stat(files[i], &st) != 0};
        fs[i].size = fs[i].gone ? 0 : (long long)st.st_size;
        files[i] = NULL;
    }
    for (int i = 0; i < nfiles; i++)
        ember__free(files[i]);
    ember__free(files);
    ember__free(named);
    if (rc) {
        ember__free(fs);
        ember__free(logs);
        ember__free(models);
        return rc;
    }
    pthread_mutex_lock(&h->use_mu); /* the plan */
    for (int i = 0; i < nfiles; i++) {
        seen *f = &fs[i];
        hlog *old = f->gone ? NULL : log_at(h, f->path);
        f->known = old != NULL;
        if (old && (old->size == f->size || old->loading)) {
            f->plan = KEEP; /* unchanged (or being read whole: the next look) */
        } else if (old && old->m && f->size > old->size && old->at.ok) {
            f->plan = GROW; /* read on from where the last read stopped */
            f->grew = old->loading = true;
            f->base = (hlog){.path = f->path, .m = old->m, .at = old->at};
        } else {
            f->plan = READ; /* new, or not the same file: its summary */
        }
    }
    pthread_mutex_unlock(&h->use_mu);
    for (int i = 0; i < nfiles; i++) { /* the reads, holding no lock */
        seen *f = &fs[i];
        if (f->gone || rc) /* (a first look that failed reads no more) */
            continue;
        if (f->plan == GROW && extend(f->path, &f->base, &f->at))
            f->plan = READ; /* not the same file after all: read anew */
        if (f->plan == READ && (f->rc = load(f->path, h->keep, true, &f->m, &f->at))) {
            if (first && f->named && !rc)
                rc = f->rc;     /* (its message on the thread) */
            else if (!f->known) /* said once, until it changes */
                fprintf(stderr, "%s (passed over)\n", ember_errmsg(NULL));
        }
    }
    pthread_mutex_lock(&h->use_mu); /* the new set */
    int nl = 0, nm = 0;
    for (int i = 0; i < nfiles; i++) {
        seen *f = &fs[i];
        if (f->gone) {
            ember__free(f->path);
            continue;
        }
        hlog *cur = log_at(h, f->path);
        hlog l = {.path = f->path, .size = f->size};
        if (f->plan != READ && cur) { /* kept or grown: the same model */
            l = *cur;
            l.path = f->path;
            if (f->plan == GROW) {
                l.size = f->size;
                l.at = f->at;
                l.loading = false;
            }
            cur->m = NULL;
        } else {
            l.m = f->m;
            l.at = f->at;
            l.users = cur ? cur->users : 0; /* answers under way, a read whole under way */
            l.loading = cur && cur->loading && !f->grew;
        }
        logs[nl++] = l;
        if (l.m)
            models[nm++] = l.m;
    }
    ember__free(fs);
    if (rc) { /* only at the first look: nothing is served yet */
        pthread_mutex_unlock(&h->use_mu);
        free_logs(logs, nl);
        ember__free(models);
        return rc;
    }
    qsort(logs, (size_t)nl, sizeof *logs, by_path);
    ui_model **was = h->models;
    if (h->server) /* handlers see the old set or the new, whole */
        ember__ui_server_models(h->server, models, nm);
    free_logs(h->logs, h->nlogs); /* the models not carried over */
    ember__free(was);
    h->logs = logs;
    h->nlogs = nl;
    h->models = models;
    h->n = nm;
    pthread_cond_broadcast(&h->loaded); /* the logs read on are free again */
    pthread_mutex_unlock(&h->use_mu);
    return 0;
}

/* An answer about the application id[len] begins: it is read whole if it is a
 * summary (holding no lock while it is read; an answer that finds it being
 * read waits for that read), and it stays whole until the answer ends (leave);
 * then the least lately asked for beyond h->retained, in no answer, go back to
 * summaries. A log that cannot be read now stays a summary (its pages are
 * empty) and is read again when next asked for. Its path (the answer's to
 * free), or NULL when there is no such application. */
static char *fill(ember_history *h, const char *id, size_t len)
{
    pthread_mutex_lock(&h->use_mu);
    hlog *l = log_of(h, id, len);
    while (l && l->loading) {
        pthread_cond_wait(&h->loaded, &h->use_mu);
        l = log_of(h, id, len); /* a look may have changed the set meanwhile */
    }
    char *path = l ? ember__strdup(l->path) : NULL;
    if (!path) {
        pthread_mutex_unlock(&h->use_mu);
        return NULL;
    }
    l->users++;
    l->used = ++h->tick;
    if (l->m->summary) {
        l->loading = true;
        pthread_mutex_unlock(&h->use_mu);
        struct stat st;
        ui_model *whole = NULL;
        resume at;
        if (stat(path, &st)) /* gone since the last look: its summary stays */
            fprintf(stderr, "ember history: %s: %s\n", path, strerror(errno));
        else if (load(path, h->keep, false, &whole, &at))
            fprintf(stderr, "%s\n", ember_errmsg(NULL));
        pthread_mutex_lock(&h->use_mu);
        l = log_at(h, path); /* a look may have moved it, or read it anew */
        if (l && whole && l->m && l->m->summary) {
            pthread_mutex_lock(&l->m->mu);
            ember__ui_model_swap(l->m, whole);
            pthread_mutex_unlock(&l->m->mu);
            l->at = at;
            l->size = (long long)st.st_size;
        }
        ember__ui_model_free(whole); /* the summary now (or a read that came too late) */
        if (l)
            l->loading = false;
        pthread_cond_broadcast(&h->loaded);
    }
    for (;;) {
        int whole = 0;
        hlog *oldest = NULL;
        for (int i = 0; i < h->nlogs; i++)
            if (h->logs[i].m && !h->logs[i].m->summary) {
                whole++;
                if (!h->logs[i].users && !h->logs[i].loading &&
                    (!oldest || h->logs[i].used < oldest->used))
                    oldest = &h->logs[i];
            }
        if (whole <= h->retained || !oldest)
            break;
        ui_model *sum = ember__ui_model_summary(oldest->m);
        if (!sum)
            break;
        pthread_mutex_lock(&oldest->m->mu);
        ember__ui_model_swap(oldest->m, sum);
        pthread_mutex_unlock(&oldest->m->mu);
        ember__ui_model_free(sum); /* the whole model, now */
    }
    pthread_mutex_unlock(&h->use_mu);
    return path;
}

/* The server's hooks: an answer about an application
 * (/api/v1/applications/ID/..., /history/ID/...) has it read whole first, and
 * kept whole until the answer is made. */
static void *enter(void *arg, const char *url)
{
    ember_history *h = arg;
    const char *id = !strncmp(url, "/api/v1/applications/", 21) ? url + 21
                     : !strncmp(url, "/history/", 9)            ? url + 9
                                                                : NULL;
    const char *slash = id ? strchr(id, '/') : NULL;
    if (slash && slash[1]) /* the application alone is in its summary */
        return fill(h, id, (size_t)(slash - id));
    return NULL;
}

static void leave(void *arg, void *entered)
{
    ember_history *h = arg;
    char *path = entered;
    if (!path)
        return;
    pthread_mutex_lock(&h->use_mu);
    hlog *l = log_at(h, path);
    if (l && l->users > 0) /* (read anew by a look meanwhile: counted from 0) */
        l->users--;
    pthread_mutex_unlock(&h->use_mu);
    ember__free(path);
}

static void *watch_main(void *arg)
{
    ember_history *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec ts;
        ember__deadline(&ts, (uint64_t)(h->every * 1e9));
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->mu);
        (void)look(h, false); /* out of memory: the set served stays */
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* EMBER_HISTORY_UPDATE_INTERVAL: seconds ("10", "0.5", "10s"), 0 never. */
static int update_interval(double *every)
{
    *every = 10; /* Spark's spark.history.fs.update.interval */
    const char *e = getenv("EMBER_HISTORY_UPDATE_INTERVAL");
    if (!e || !*e)
        return 0;
    char *end;
    double v = strtod(e, &end);
    if (end != e && *end == 's')
        end++;
    if (end == e || *end || !(v >= 0) || v > 86400)
        return ember__err(NULL, EMBER_EINVAL,
                          "ember history: EMBER_HISTORY_UPDATE_INTERVAL '%s' is not a number of "
                          "seconds (0 to 86400; 0: never look again)",
                          e);
    *every = v;
    return 0;
}

/* EMBER_HISTORY_RETAINED_APPLICATIONS: applications kept read whole (the
 * least lately asked for beyond go back to summaries); 50 as Spark's. */
static int retained_apps(int *n)
{
    *n = 50; /* Spark's spark.history.retainedApplications */
    const char *e = getenv("EMBER_HISTORY_RETAINED_APPLICATIONS");
    if (!e || !*e)
        return 0;
    char *end;
    long v = strtol(e, &end, 10);
    if (end == e || *end || v < 1 || v > 1000000)
        return ember__err(NULL, EMBER_EINVAL,
                          "ember history: EMBER_HISTORY_RETAINED_APPLICATIONS '%s' is not a "
                          "count of applications (1 to 1000000)",
                          e);
    *n = (int)v;
    return 0;
}

void ember_history_close(ember_history *h)
{
    if (!h)
        return;
    if (h->watching) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->th, NULL);
    }
    ember__ui_server_stop(h->server);
    free_logs(h->logs, h->nlogs);
    ember__free(h->models);
    for (int i = 0; i < h->ngiven; i++)
        ember__free(h->given[i]);
    ember__free(h->given);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->use_mu);
    pthread_cond_destroy(&h->loaded);
    ember__free(h);
}

int ember_history_open(ember_history **out, const char *const *logs, int nlogs, int port)
{
    if (!out || !logs || nlogs <= 0)
        return ember__err(NULL, EMBER_EINVAL, "ember history: no event log given");
    *out = NULL;
    ember_history *h = ember__calloc(1, sizeof *h);
    if (!h || !(h->given = ember__calloc((size_t)nlogs, sizeof *h->given))) {
        ember__free(h);
        return ember__err(NULL, EMBER_ENOMEM, "ember history: out of memory");
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->use_mu, NULL);
    pthread_cond_init(&h->loaded, NULL);
    pthread_cond_init(&h->cv, NULL);
    int rc = ember__ui_retained(NULL, "ember history", h->keep);
    if (!rc)
        rc = update_interval(&h->every);
    if (!rc)
        rc = retained_apps(&h->retained);
    for (int i = 0; i < nlogs && !rc; i++, h->ngiven++)
        if (!(h->given[i] = ember__strdup(logs[i])))
            rc = ember__err(NULL, EMBER_ENOMEM, "ember history: out of memory");
    if (!rc)
        rc = look(h, true);
    char why[200];
    ui_hooks hooks = {enter, leave, h};
    if (!rc && (rc = ember__ui_serve(h->models, h->n, true, port ? port : 18080, &h->server, why,
                                     sizeof why, &hooks)))
        ember__err(NULL, rc, "ember history: %s", why);
    if (!rc && h->every > 0) {
        int e = pthread_create(&h->th, NULL, watch_main, h);
        if (e)
            rc = ember__err(NULL, -e,
                            "ember history: cannot start the thread that looks for new "
                            "logs: %s",
                            strerror(e));
        h->watching = !e;
    }
    if (rc) {
        ember_history_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

int ember_history_port(const ember_history *h)
{
    return h ? ember__ui_server_port(h->server) : 0;
}

int ember_history_list(const char *dir, FILE *out)
{
    if (!dir || !out)
        return ember__err(NULL, EMBER_EINVAL, "ember history --list: no directory");
    char **files = NULL;
    int n = 0, cap = 0, keep[2];
    int rc = ember__ui_retained(NULL, "ember history --list", keep);
    if (!rc)
        rc = expand(dir, &files, &n, &cap);
    if (!rc)
        fprintf(out, "%-28s %-24s %-25s %-10s %s\n", "app id", "name", "started", "duration",
                "log");
    for (int i = 0; !rc && i < n; i++) {
        ui_model *m;
        if (load(files[i], keep, true, &m, NULL))
            continue; /* not an event log */
        char d[64], dur[32];
        ember__ui_date(m->start_ms, d, sizeof d);
        if (m->end_ms)
            snprintf(dur, sizeof dur, "%.1f s", (double)(m->end_ms - m->start_ms) / 1e3);
        else
            snprintf(dur, sizeof dur, "incomplete");
        fprintf(out, "%-28s %-24s %-25s %-10s %s\n", m->app_id, m->app_name ? m->app_name : "", d,
                dur, files[i]);
        ember__ui_model_free(m);
    }
    for (int i = 0; i < n; i++)
        ember__free(files[i]);
    ember__free(files);
    return rc;
}
