/* ember_http: a request per record, sent through libcurl's multi interface.
 *
 * Each task drives its own multi handle from its own thread: no thread per
 * request, no helper thread. The task keeps a ring of max_in_flight slots; a
 * record from the parent takes the next slot, and when the ring is full the
 * task runs the event loop until the head is final, hands it on, and reuses
 * its slot. The loop is libcurl's socket interface on the task's own epoll
 * set: curl says which sockets to watch and when its next timeout is due;
 * epoll_wait reports only the sockets that are ready, and
 * curl_multi_socket_action acts on those alone, so a turn of the loop costs
 * what happened, not the number of transfers in flight. Outputs therefore leave
 * in input order, exactly one per input, and memory is bounded by the window.
 *
 * A slot waits (backoff, or an empty bucket), runs (its easy handle is in the
 * multi), or is final (its response record built). Waiting slots start in ring
 * order, each after taking a token from the rdd's bucket, which every task of
 * the process shares under its mutex. A throttled answer (429, or 503 with
 * Retry-After) pauses the bucket, so every task waits as the server asked.
 * Retries use exponential backoff with full jitter.
 *
 * Shared between tasks: the bucket (mutex), the live counters (atomics), and a
 * curl share of DNS answers and TLS sessions (a mutex per kind of data). A
 * failed task removes its transfers and drops its slots; its retry sends its
 * partition's requests again (the accumulators count the successful attempt).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "core/conf.h"
#include "net/journal.h"
#include "net/net.h"

#define MAGIC "\xeeHR1"
#define MAGIC_LEN 4
#define URL_MAX 65536 /* servers take 8 KiB; curl 8 MiB */

enum { S_WAIT = 1, S_RUN, S_FINAL };
enum { C_SENT, C_SUCCEEDED, C_RETRIED, C_THROTTLED, C_FAILED, C_RESUMED, C_N };

/* ---------------------------------------------------------------- the rate limit */

/* The adaptive pace. Until the server first throttles, nothing limits the
 * rate but the ceiling. The first throttled answer gives a rough measure (the
 * clean answers of the last second, a burst the server allowed): from BETA of
 * it the rate doubles every second (TCP's slow start) until the server
 * throttles again. From then on, after a cut at cut_ns from wmax requests a
 * second, the rate is wmax (1 + c (t - K)^3), t the seconds since the cut: it
 * starts at BETA wmax, comes back to wmax after K seconds, stays near it a
 * while, then grows ever faster to probe for more (CUBIC's window curve, as a
 * rate). With BETA 0.9 and K 10 s a server that allows 2 requests a second
 * sees about one throttled request every 25 s (docs/net.md). */
#define AIMD_BETA 0.9
#define AIMD_K 10.0
#define AIMD_C ((1 - AIMD_BETA) / (AIMD_K * AIMD_K * AIMD_K))
#define RATE_MIN 0.01 /* requests a second: the floor of a cut */
#define OK_BINS 40    /* clean answers in 100 ms bins: the last 4 s */
#define OK_BIN_NS 100000000ull

typedef struct bucket {
    pthread_mutex_t mu;
    double ceiling;   /* requests a second at most (0: none) */
    double burst_max; /* the bucket's size at most */
    double tokens;
    uint64_t last_ns, paused_until;
    bool adapt;
    double wmax;     /* the rate at the last cut (0: never cut) */
    uint64_t cut_ns; /* when */
    bool settled;    /* cut twice: past the slow start */
    double hint;     /* a pace from RateLimit headers, valid until hint_until */
    uint64_t hint_until;
    uint32_t ok_bins[OK_BINS], sent_bins[OK_BINS];
    uint64_t ok_bin; /* the number of the newest bin (time / 100 ms) */
    uint64_t first_ns;
} bucket;

/* The current rate: INFINITY when nothing limits it. */
static double bucket_rate(const bucket *b, uint64_t now)
{
    double r = b->ceiling > 0 ? b->ceiling : INFINITY;
    if (!b->adapt)
        return r;
    if (b->hint > 0 && now < b->hint_until)
        return b->hint < r ? b->hint : r;
    if (b->wmax > 0) {
        double t = (double)(now - b->cut_ns) * 1e-9, x = t - AIMD_K;
        double w = b->settled ? b->wmax * (1 + AIMD_C * x * x * x)
                              : AIMD_BETA * b->wmax * exp2(t < 60 ? t : 60);
        if (w < RATE_MIN)
            w = RATE_MIN;
        if (w < r)
            r = w;
    }
    return r;
}

/* The bucket's size at rate r: the configured burst, but no more than one
 * second's worth once the server has shown its limit. */
static double bucket_burst(const bucket *b, double r)
{
    double cap = b->burst_max;
    if (b->adapt && (b->wmax > 0 || b->hint > 0) && r < cap)
        cap = r;
    return cap < 1 ? 1 : cap;
}

static void ok_advance(bucket *b, uint64_t now)
{
    uint64_t bin = now / OK_BIN_NS;
    if (bin <= b->ok_bin)
        return;
    uint64_t gap = bin - b->ok_bin;
    for (uint64_t k = 1; k <= gap && k <= OK_BINS; k++)
        b->ok_bins[(b->ok_bin + k) % OK_BINS] = b->sent_bins[(b->ok_bin + k) % OK_BINS] = 0;
    b->ok_bin = bin;
}

/* Events a second in bins over the last 1 to 4 seconds (the longer, the
 * steadier; at least 1 so that the first burst is not taken for a rate). */
static double per_second(bucket *b, const uint32_t *bins, uint64_t now, double most)
{
    ok_advance(b, now);
    double span = b->first_ns && now > b->first_ns ? (double)(now - b->first_ns) * 1e-9 : 0;
    span = span < 1 ? 1 : span > most ? most : span;
    int n = (int)(span * 10 + 0.5);
    uint32_t sum = 0;
    for (int k = 0; k < n; k++)
        sum += bins[(b->ok_bin + OK_BINS - (uint64_t)k) % OK_BINS];
    return (double)sum / span;
}

/* Take a token at now: 0, or the nanoseconds to wait before asking again. */
static uint64_t bucket_take(bucket *b, uint64_t now)
{
    uint64_t wait = 0;
    pthread_mutex_lock(&b->mu);
    if (!b->first_ns)
        b->first_ns = now;
    double r = bucket_rate(b, now);
    if (now < b->paused_until) {
        wait = b->paused_until - now;
    } else if (r < INFINITY) {
        double cap = bucket_burst(b, r);
        if (now > b->last_ns) {
            b->tokens += (double)(now - b->last_ns) * 1e-9 * r;
            b->last_ns = now;
        }
        if (b->tokens > cap)
            b->tokens = cap;
        if (b->tokens >= 1)
            b->tokens -= 1;
        else
            wait = (uint64_t)ceil((1 - b->tokens) / r * 1e9) + 1;
    } else {
        b->last_ns = now;
    }
    if (!wait) {
        ok_advance(b, now);
        b->sent_bins[b->ok_bin % OK_BINS]++;
    }
    pthread_mutex_unlock(&b->mu);
    return wait;
}

/* A clean answer (for the estimate of what the server accepts). */
static void bucket_ok(bucket *b, uint64_t now)
{
    pthread_mutex_lock(&b->mu);
    ok_advance(b, now);
    b->ok_bins[b->ok_bin % OK_BINS]++;
    pthread_mutex_unlock(&b->mu);
}

/* The server asked every caller to wait until `until`: no token is handed out
 * before then, and none gathers meanwhile (a full bucket after a pause would
 * only be throttled again). */
static void pause_locked(bucket *b, uint64_t until)
{
    if (until > b->paused_until)
        b->paused_until = until;
    b->tokens = 0;
    if (b->last_ns < until)
        b->last_ns = until;
}

/* Answers said the client is too fast (a request sent at sent_at): pause until
 * `until`, and, once for each burst of such answers (those to requests sent
 * before the last cut are the same event), cut the rate. */
static void bucket_throttled(bucket *b, uint64_t now, uint64_t sent_at, uint64_t until)
{
    pthread_mutex_lock(&b->mu);
    pause_locked(b, until);
    if (b->adapt && (b->wmax == 0 || sent_at >= b->cut_ns)) {
        /* what the server accepted lately */
        /* (in the slow start, the last second alone: the rate was climbing) */
        double seen = per_second(b, b->ok_bins, now, b->wmax > 0 && !b->settled ? 1 : 4);
        double r = bucket_rate(b, now);
        if (seen == 0) /* nothing accepted lately: no measure; start again from 1/s */
            seen = 1;
        if (r < seen)
            seen = r;
        if (seen < RATE_MIN)
            seen = RATE_MIN;
        /* a cut below the last one: the limit is lower still, give way more */
        b->wmax = b->settled && seen < b->wmax ? seen * (1 + AIMD_BETA) / 2 : seen;
        b->settled = b->cut_ns > 0;
        b->cut_ns = now;
        b->hint = 0;
    }
    pthread_mutex_unlock(&b->mu);
}

/* RateLimit headers: `remaining` requests (> 0) until reset_s seconds from
 * now. The quota is spread over the time left once the pace would use it up
 * before the reset (a quota of 5,000 an hour does not slow a job of 1,000
 * calls); while that lasts, every answer's numbers set the pace again. */
static void bucket_hint(bucket *b, uint64_t now, double remaining, double reset_s)
{
    if (!b->adapt)
        return;
    pthread_mutex_lock(&b->mu);
    if (reset_s < 0.001)
        reset_s = 0.001;
    bool active = b->hint > 0 && now < b->hint_until;
    if (active || per_second(b, b->sent_bins, now, 4) * reset_s > remaining) {
        b->hint = remaining / reset_s;
        if (b->hint < RATE_MIN)
            b->hint = RATE_MIN;
        b->hint_until = now + (uint64_t)(reset_s * 1e9);
    }
    pthread_mutex_unlock(&b->mu);
}

/* For tests and the progress line: the pace now (0: none). */
static double bucket_now(bucket *b)
{
    pthread_mutex_lock(&b->mu);
    double r = bucket_rate(b, ember__now_ns());
    pthread_mutex_unlock(&b->mu);
    return r < INFINITY ? r : 0;
}

/* ---------------------------------------------------------------- the node */

typedef struct http_src {
    ember_http_conf conf;
    char **strings; /* copies of conf's strings and lists, freed with the node */
    int nstrings;
    bucket bucket;
    /* conf.headers as curl lists, shared read-only by every request that has no
     * headers of its own: for bodyless requests, and for bare-URL POST, PUT and
     * PATCH (an empty body, and no form Content-Type) */
    struct curl_slist *hdrs, *hdrs_empty_body;
    ember__journal *journal;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    ember_accumulator *acc[C_N];
    _Atomic int64_t live[C_N], done;
} http_src;

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg)
{
    (void)h, (void)a;
    http_src *s = arg;
    pthread_mutex_lock(&s->share_mu[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *arg)
{
    (void)h;
    http_src *s = arg;
    pthread_mutex_unlock(&s->share_mu[d]);
}

/* ---------------------------------------------------------------- the response-memory budget */

/* Response bytes held by every ember_http request of the process (bodies being
 * received, and final answers not yet handed on). Past the budget
 * (conf.max_memory) no request starts but each task's head, and a transfer
 * that is not its task's head pauses until bytes are freed; the head never
 * waits, so the window always moves on. */
static _Atomic int64_t g_held;

static bool budget_full(const struct http_src *src);

/* ---------------------------------------------------------------- a task's slots */

typedef struct engine engine;

typedef struct slot {
    engine *e;
    CURL *easy;
    int state;
    int64_t index; /* of the record in its partition */
    uint64_t ready_at, t_first, deadline, sent_at;
    int attempts, throttled;
    bool idempotent, too_big;
    bool paused;    /* its transfer waits for the response-memory budget */
    double ra_secs; /* the answer's Retry-After in seconds (-1: none, or garbage) */
    size_t held;    /* bytes of body counted against the budget */
    ember_buf key;
    bool has_key;
    ember_buf spec; /* url \0 method \0 body */
    size_t method_off, body_off, body_len;
    struct curl_slist *hdrs_out;   /* the request's own list; NULL: the shared one */
    bool empty_body;               /* a bare-URL POST, PUT or PATCH */
    double rl_remaining, rl_reset; /* RateLimit headers of the answer (-1: none) */
    unsigned char id[EMBER__JOURNAL_ID];
    ember_buf body, hdrs_in;
    long status;
    char errbuf[CURL_ERROR_SIZE];
    char err[600];
    ember_buf out; /* the response record, once final */
} slot;

struct engine {
    ember_out in; /* what the parent pushes into */
    ember_out *next;
    ember__task *task;
    ember_rdd *node;
    http_src *src;
    CURLM *multi;
    slot *slots;
    int cap, head, count, waiting, running;
    int64_t next_index;
    uint64_t rng;
    int epfd;          /* the sockets curl watches */
    bool timer_on;     /* curl wants a call at timer_at */
    uint64_t timer_at; /* ns */
    bool cancelled;    /* ember_cancel: start nothing more */
    bool budget_waits; /* a request did not start for the response-memory budget */
    int npaused;       /* transfers paused for the budget */
    ember__htab seen;  /* journal: hash of a record -> copies seen in this partition */
};

static double jitter(engine *e)
{
    e->rng ^= e->rng << 13;
    e->rng ^= e->rng >> 7;
    e->rng ^= e->rng << 17;
    return (double)(e->rng >> 11) / 9007199254740992.0;
}

/* Full jitter: a random delay in [0, min(max, base * 2^(attempts - 1))] seconds. */
static uint64_t backoff_ns(engine *e, int attempts)
{
    const ember_http_conf *c = &e->src->conf;
    double cap = c->backoff_base * ldexp(1.0, attempts > 60 ? 60 : attempts - 1);
    if (cap > c->backoff_max)
        cap = c->backoff_max;
    return (uint64_t)(jitter(e) * cap * 1e9);
}

static bool budget_full(const http_src *src)
{
    return atomic_load_explicit(&g_held, memory_order_relaxed) >= (int64_t)src->conf.max_memory;
}

/* s's body bytes no longer count */
static void release(slot *s)
{
    if (s->held) {
        atomic_fetch_sub(&g_held, (int64_t)s->held);
        s->held = 0;
    }
}

static void count(engine *e, int which)
{
    atomic_fetch_add(&e->src->live[which], 1);
    ember_accumulator_add_i64(e->src->acc[which], 1); /* ENOMEM only; counted live anyway */
}

/* ---------------------------------------------------------------- response records */

static size_t put_field(unsigned char *p, const void *b, size_t n)
{
    unsigned char *q = ember__varint_put(p, n);
    if (n)
        memcpy(q, b, n);
    return (size_t)(q - p) + n;
}

/* Build s's response record; s becomes final. */
static int finish(engine *e, slot *s, bool ok, const char *error)
{
    uint64_t now = ember__now_ns();
    uint64_t lat = s->t_first ? now - s->t_first : 0;
    const char *url = (const char *)s->spec.ptr;
    size_t ul = s->spec.len ? strlen(url) : 0, el = error ? strlen(error) : 0;
    size_t need = MAGIC_LEN + 3 * 10 + 1 + 4 * 10 + ul + s->hdrs_in.len + s->body.len + el;
    s->out.len = 0;
    if (ember__buf_reserve(&s->out, need))
        return ember__task_fail(e->task, EMBER_ENOMEM,
                                "http: out of memory building a response (partition %d)",
                                e->task->partition);
    unsigned char *p = s->out.ptr;
    memcpy(p, MAGIC, MAGIC_LEN);
    p += MAGIC_LEN;
    p = ember__varint_put(p, (uint64_t)s->status);
    p = ember__varint_put(p, (uint64_t)s->attempts);
    p = ember__varint_put(p, lat);
    *p++ = ok;
    p += put_field(p, url, ul);
    p += put_field(p, s->hdrs_in.ptr, s->hdrs_in.len);
    p += put_field(p, s->body.ptr, s->body.len);
    p += put_field(p, error, el);
    s->out.len = (size_t)(p - s->out.ptr);
    s->state = S_FINAL;
    if (e->src->journal) {
        int rc = ember__journal_put(e->src->journal, s->id, ember_buf_bytes(&s->out), ok, now);
        if (rc)
            return ember__task_fail(e->task, rc,
                                    "http: cannot append record %lld of partition %d to the "
                                    "journal %s: %s",
                                    (long long)s->index, e->task->partition, e->src->conf.journal,
                                    ember_strerror(rc));
    }
    count(e, ok ? C_SUCCEEDED : C_FAILED);
    atomic_fetch_add(&e->src->done, 1);
    return 0;
}

int ember_http_response_get(ember_bytes val, ember_http_response *out)
{
    if (!out || !val.ptr || val.len < MAGIC_LEN || memcmp(val.ptr, MAGIC, MAGIC_LEN))
        return EMBER_EINVAL;
    const unsigned char *p = (const unsigned char *)val.ptr + MAGIC_LEN,
                        *end = (const unsigned char *)val.ptr + val.len;
    uint64_t status, attempts, lat;
    if (!(p = ember__varint_get(p, end, &status)) || !(p = ember__varint_get(p, end, &attempts)) ||
        !(p = ember__varint_get(p, end, &lat)) || p >= end)
        return EMBER_EINVAL;
    *out = (ember_http_response){.status = (int)status,
                                 .attempts = (int)attempts,
                                 .latency = (double)lat * 1e-9,
                                 .ok = *p++ != 0};
    ember_bytes *f[4] = {&out->url, &out->headers, &out->body, &out->error};
    for (int i = 0; i < 4; i++) {
        uint64_t n;
        if (!(p = ember__varint_get(p, end, &n)) || n > (uint64_t)(end - p))
            return EMBER_EINVAL;
        *f[i] = ember_bytes_of(p, (size_t)n);
        p += n;
    }
    return p == end ? 0 : EMBER_EINVAL;
}

ember_bytes ember_http_response_header(const ember_http_response *r, const char *name)
{
    size_t nl = name ? strlen(name) : 0;
    const char *p = r ? r->headers.ptr : NULL, *end = p ? p + r->headers.len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && (size_t)(colon - p) == nl && !strncasecmp(p, name, nl)) {
            const char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            return ember_bytes_of(v, (size_t)(ve - v));
        }
        p = eol ? eol + 1 : end;
    }
    return ember_bytes_of(NULL, 0);
}

/* A JSON string of b; bytes that are not UTF-8 become U+FFFD. */
static int json_str(ember_buf *o, ember_bytes b)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = b.ptr, *end = p ? p + b.len : p;
    if (ember__buf_reserve(o, b.len + 2))
        return EMBER_ENOMEM;
    int rc = ember_buf_append(o, "\"", 1);
    while (!rc && p < end) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run && (rc = ember_buf_append(o, run, (size_t)(p - run))))
            break;
        if (p == end)
            break;
        unsigned c = *p;
        if (c < 0x80) {
            char esc[7] = {'\\', (char)c, 0};
            size_t n = 2;
            if (c == '\n')
                esc[1] = 'n';
            else if (c == '\r')
                esc[1] = 'r';
            else if (c == '\t')
                esc[1] = 't';
            else if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                n = 6;
            }
            rc = ember_buf_append(o, esc, n);
            p++;
            continue;
        }
        /* a UTF-8 sequence, checked (no overlongs, no surrogates) */
        size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        bool good = n && n <= (size_t)(end - p) && c <= 0xf4;
        for (size_t k = 1; good && k < n; k++)
            good = (p[k] & 0xc0) == 0x80;
        if (good && n == 3)
            good = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
        if (good && n == 4)
            good = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
        if (good) {
            rc = ember_buf_append(o, p, n);
            p += n;
        } else {
            rc = ember_buf_append(o, "\xef\xbf\xbd", 3);
            p++;
        }
    }
    return rc ? rc : ember_buf_append(o, "\"", 1);
}

int ember_http_response_json(ember_bytes val, ember_buf *out)
{
    return ember_http_response_json_ex(val, out, 0);
}

/* The body as a compact JSON value, when it is one (one line, whatever the
 * server's layout); 0 when it is not JSON, 1 when appended, EMBER_ENOMEM. */
static int json_body_value(ember_buf *o, ember_bytes b)
{
    json_error_t err;
    json_t *j = b.len ? json_loadb(b.ptr, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
    if (!j)
        return 0;
    char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!d)
        return EMBER_ENOMEM;
    int rc = ember_buf_append(o, d, strlen(d));
    free(d);
    return rc ? rc : 1;
}

int ember_http_response_json_ex(ember_bytes val, ember_buf *out, unsigned flags)
{
    ember_http_response r;
    if (!out || ember_http_response_get(val, &r) || (flags & ~(unsigned)EMBER_HTTP_JSON_BODY))
        return EMBER_EINVAL;
    char num[128];
    int rc = ember_buf_append(out, "{\"url\":", 7);
    if (!rc)
        rc = json_str(out, r.url);
    snprintf(num, sizeof num, ",\"status\":%d,\"ok\":%s,\"attempts\":%d,\"latency_ms\":%.3f",
             r.status, r.ok ? "true" : "false", r.attempts, r.latency * 1e3);
    if (!rc)
        rc = ember_buf_append(out, num, strlen(num));
    if (!rc)
        rc = ember_buf_append(out, ",\"headers\":{", 12);
    const char *p = r.headers.ptr, *end = p ? p + r.headers.len : p;
    bool first = true;
    while (!rc && p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            if (!first)
                rc = ember_buf_append(out, ",", 1);
            first = false;
            size_t at = out->len;
            if (!rc)
                rc = json_str(out, ember_bytes_of(p, (size_t)(colon - p)));
            for (size_t k = at; !rc && k < out->len; k++) /* names in lower case */
                out->ptr[k] = (unsigned char)tolower(out->ptr[k]);
            if (!rc)
                rc = ember_buf_append(out, ":", 1);
            if (!rc)
                rc = json_str(out, ember_bytes_of(v, (size_t)(ve - v)));
        }
        p = eol ? eol + 1 : end;
    }
    if (!rc)
        rc = ember_buf_append(out, "},\"body\":", 9);
    if (!rc && (flags & EMBER_HTTP_JSON_BODY)) {
        int v = json_body_value(out, r.body);
        if (v < 0)
            rc = v;
        else if (v == 0)
            rc = json_str(out, r.body);
    } else if (!rc) {
        rc = json_str(out, r.body);
    }
    if (!rc)
        rc = ember_buf_append(out, ",\"error\":", 9);
    if (!rc)
        rc = r.error.len ? json_str(out, r.error) : ember_buf_append(out, "null", 4);
    if (!rc)
        rc = ember_buf_append(out, "}", 1);
    return rc ? EMBER_ENOMEM : 0;
}

/* ---------------------------------------------------------------- requests */

static bool method_ok(const char *m)
{
    if (!*m || strlen(m) > 32)
        return false;
    for (; *m; m++)
        if (!isupper((unsigned char)*m) && *m != '-' && *m != '_')
            return false;
    return true;
}

static bool idempotent(const char *m)
{
    static const char *const safe[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < sizeof safe / sizeof *safe; i++)
        if (!strcmp(m, safe[i]))
            return true;
    return false;
}

static bool url_ok(const char *u, size_t n)
{
    if (!((n > 7 && !strncasecmp(u, "http://", 7)) || (n > 8 && !strncasecmp(u, "https://", 8))))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
            return false;
    return true;
}

/* A bare-URL request with this method carries an empty body (Content-Length: 0). */
static bool wants_body(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

/* Does list l hold a header named like line's name ("Name: value")? */
static bool has_header(const struct curl_slist *l, const char *line)
{
    const char *colon = strchr(line, ':');
    size_t n = colon ? (size_t)(colon - line) : strlen(line);
    for (; l; l = l->next)
        if (!strncasecmp(l->data, line, n) && (l->data[n] == ':' || l->data[n] == ';'))
            return true;
    return false;
}

/* Append to *l the conf's headers that *l does not name already (a request's
 * own headers win), then Content-Type: application/json when json_body and no
 * Content-Type is set. 0 or EMBER_ENOMEM. */
static int merge_headers(const ember_http_conf *c, struct curl_slist **l, bool json_body)
{
    struct curl_slist *own = *l, *n;
    for (const char *const *h = c->headers; h && *h; h++) {
        if (has_header(own, *h))
            continue;
        if (!(n = curl_slist_append(*l, *h)))
            return EMBER_ENOMEM;
        *l = n;
    }
    if (json_body && !has_header(*l, "Content-Type:")) {
        if (!(n = curl_slist_append(*l, "Content-Type: application/json")))
            return EMBER_ENOMEM;
        *l = n;
    }
    return 0;
}

/* Fill s->spec and s->hdrs_out from a record's value: a URL or a JSON request.
 * 0, or a message in why (the record is then final with that error), or
 * EMBER_ENOMEM. */
static int parse_request(engine *e, slot *s, ember_bytes v, char *why, size_t whylen)
{
    const ember_http_conf *c = &e->src->conf;
    const char *p = v.ptr, *end = p ? p + v.len : p;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - p);
    s->spec.len = 0;
    *why = 0;
    if (n && *p != '{') {
        if (n > URL_MAX) {
            snprintf(why, whylen, "a URL of %zu bytes (at most %d): '%.60s...'", n, URL_MAX, p);
            return 0;
        }
        if (!url_ok(p, n)) {
            snprintf(why, whylen, "not a URL (http:// or https://) or a JSON request: '%.*s'",
                     (int)(n > 80 ? 80 : n), p);
            return 0;
        }
        const char *m = c->method;
        if (ember_buf_append(&s->spec, p, n) || ember_buf_append(&s->spec, "", 1) ||
            ember_buf_append(&s->spec, m, strlen(m) + 1))
            return EMBER_ENOMEM;
        s->method_off = n + 1;
        s->body_off = s->spec.len;
        s->empty_body = wants_body(m);
        s->body_len = s->empty_body ? 0 : (size_t)-1; /* a GET carries no body headers */
        s->idempotent = idempotent(m);
        return 0;
    }
    if (!n) {
        snprintf(why, whylen, "an empty record is not a request");
        return 0;
    }
    json_error_t jerr;
    json_t *j = json_loadb(p, n, 0, &jerr);
    if (!j || !json_is_object(j)) {
        snprintf(why, whylen, "not a JSON request object: %s",
                 j ? "a JSON value that is not an object" : jerr.text);
        json_decref(j);
        return 0;
    }
    int rc = 0;
    json_t *ju = json_object_get(j, "url"), *jm = json_object_get(j, "method"),
           *jh = json_object_get(j, "headers"), *jb = json_object_get(j, "body");
    const char *url = json_string_value(ju), *m = jm ? json_string_value(jm) : c->method;
    char *body_json = NULL;
    const char *body = NULL;
    size_t body_len = 0;
    bool as_json = false;
    if (url && json_string_length(ju) > URL_MAX) {
        snprintf(why, whylen, "\"url\" has %zu bytes (at most %d)", json_string_length(ju),
                 URL_MAX);
        goto out;
    }
    if (!url || !url_ok(url, json_string_length(ju))) {
        snprintf(why, whylen, "\"url\" must be an http:// or https:// URL%s",
                 url ? "" : " (missing or not a string)");
        goto out;
    }
    if (!m || !method_ok(m)) {
        snprintf(why, whylen, "\"method\" must be an HTTP method in capitals (got %s)",
                 m ? m : "a value that is not a string");
        goto out;
    }
    if (jb && json_is_string(jb)) {
        body = json_string_value(jb);
        body_len = json_string_length(jb);
    } else if (jb && !json_is_null(jb)) {
        if (!(body_json = json_dumps(jb, JSON_COMPACT | JSON_ENCODE_ANY))) {
            rc = EMBER_ENOMEM;
            goto out;
        }
        body = body_json;
        body_len = strlen(body_json);
        as_json = true;
    }
    size_t ul = strlen(url);
    if (ember_buf_append(&s->spec, url, ul + 1) || ember_buf_append(&s->spec, m, strlen(m) + 1) ||
        (body_len && ember_buf_append(&s->spec, body, body_len))) {
        rc = EMBER_ENOMEM;
        goto out;
    }
    s->method_off = ul + 1;
    s->body_off = ul + 1 + strlen(m) + 1;
    s->empty_body = !body && wants_body(m);
    s->body_len = body ? body_len : s->empty_body ? 0 : (size_t)-1;
    s->idempotent = idempotent(m);
    if (jh && json_is_object(jh)) {
        const char *k;
        json_t *hv;
        json_object_foreach(jh, k, hv)
        {
            const char *sv = json_string_value(hv);
            char line[4096];
            if (!sv || strpbrk(k, "\r\n:") || strpbrk(sv, "\r\n")) {
                snprintf(why, whylen, "header \"%s\" must be a string without line breaks", k);
                goto out;
            }
            snprintf(line, sizeof line, "%s: %s", k, sv);
            struct curl_slist *l = curl_slist_append(s->hdrs_out, line);
            if (!l) {
                rc = EMBER_ENOMEM;
                goto out;
            }
            s->hdrs_out = l;
        }
    } else if (jh && json_is_array(jh)) {
        size_t i;
        json_t *hv;
        json_array_foreach(jh, i, hv)
        {
            const char *sv = json_string_value(hv);
            if (!sv || !strchr(sv, ':') || strpbrk(sv, "\r\n")) {
                snprintf(why, whylen, "header %zu must be a string \"Name: value\"", i);
                goto out;
            }
            struct curl_slist *l = curl_slist_append(s->hdrs_out, sv);
            if (!l) {
                rc = EMBER_ENOMEM;
                goto out;
            }
            s->hdrs_out = l;
        }
    } else if (jh && !json_is_null(jh)) {
        snprintf(why, whylen, "\"headers\" must be an object or an array of \"Name: value\"");
        goto out;
    }
    /* the request's own headers, then the conf's; none of either: the shared list */
    if (s->hdrs_out || as_json)
        rc = merge_headers(c, &s->hdrs_out, as_json);
    if (!rc && s->empty_body && s->hdrs_out && !has_header(s->hdrs_out, "Content-Type:")) {
        struct curl_slist *l = curl_slist_append(s->hdrs_out, "Content-Type:"); /* none */
        if (!l)
            rc = EMBER_ENOMEM;
        else
            s->hdrs_out = l;
    }
out:
    free(body_json);
    json_decref(j);
    return rc;
}

/* ---------------------------------------------------------------- transfers */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    slot *s = arg;
    engine *e = s->e;
    size_t n = size * nmemb;
    if (s->body.len + n > e->src->conf.max_body) {
        s->too_big = true;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    int64_t total = atomic_fetch_add(&g_held, (int64_t)n) + (int64_t)n;
    if (total > (int64_t)e->src->conf.max_memory && s != &e->slots[e->head]) {
        atomic_fetch_sub(&g_held, (int64_t)n);
        s->paused = true;
        e->npaused++;
        return CURL_WRITEFUNC_PAUSE; /* curl keeps these bytes until it is resumed */
    }
    s->held += n;
    return ember_buf_append(&s->body, ptr, n) ? 0 : n;
}

/* Resume the transfers paused for the budget: the head at once, the others
 * once there is room. */
static void unpause(engine *e)
{
    for (int k = 0; k < e->count && e->npaused; k++) {
        slot *s = &e->slots[(e->head + k) % e->cap];
        if (!s->paused || (k > 0 && budget_full(e->src)))
            continue;
        s->paused = false;
        e->npaused--;
        curl_easy_pause(s->easy, CURLPAUSE_CONT); /* may deliver (and pause) again */
    }
}

/* Seconds as nanoseconds, overflow-safe: negative and NaN are 0, and nothing
 * waits past 10^9 s. */
static uint64_t secs_ns(double secs)
{
    if (!(secs > 0))
        return 0;
    return secs > 1e9 ? (uint64_t)1e18 : (uint64_t)(secs * 1e9);
}

/* A Retry-After value: delay-seconds (digits only) or an HTTP date; -1 for
 * anything else (garbage, a negative number), which counts as no header. */
static double retry_after_secs(const char *v, size_t n)
{
    char text[80];
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (!n || n >= sizeof text)
        return -1;
    memcpy(text, v, n);
    text[n] = 0;
    size_t digits = strspn(text, "0123456789");
    if (digits == n)
        return digits > 12 ? 1e12 : strtod(text, NULL);
    if (digits) /* "-5", "10s", "1.5": not a delay */
        return -1;
    time_t at = curl_getdate(text, NULL);
    if (at < 0)
        return -1;
    time_t now = time(NULL);
    return at > now ? (double)(at - now) : 0;
}

/* A number after `key` in v (e.g. "remaining=" in "limit=10, remaining=3"),
 * at the start of v or after a separator; -1 when absent. */
static double field_num(const char *v, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < n; i++) {
        if ((i == 0 || v[i - 1] == ' ' || v[i - 1] == ',' || v[i - 1] == ';') &&
            !strncasecmp(v + i, key, kl)) {
            char num[32];
            size_t k = 0, j = i + kl;
            while (j < n && k < sizeof num - 1 && (isdigit((unsigned char)v[j]) || v[j] == '.'))
                num[k++] = v[j++];
            num[k] = 0;
            return k ? strtod(num, NULL) : -1;
        }
    }
    return -1;
}

/* RateLimit-Remaining / -Reset (IETF draft), X-RateLimit-* (their common
 * forms; a reset past 10^9 is a Unix time), and the draft's single RateLimit
 * header ("limit=10, remaining=3, reset=5" or "...;r=3;t=5"). */
static void ratelimit_header(slot *s, const char *name, size_t nl, const char *v, size_t vl)
{
    const char *nm = name;
    if (nl > 2 && !strncasecmp(nm, "X-", 2))
        nm += 2, nl -= 2;
    if (nl < 9 || strncasecmp(nm, "RateLimit", 9))
        return;
    while (vl && (v[0] == ' ' || v[0] == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    char num[32];
    snprintf(num, sizeof num, "%.*s", (int)(vl < 31 ? vl : 31), v);
    char *end;
    double x = strtod(num, &end);
    bool plain = end != num && x >= 0;
    if (nl == 19 && !strncasecmp(nm, "RateLimit-Remaining", 19) && plain) {
        s->rl_remaining = x;
    } else if (nl == 15 && !strncasecmp(nm, "RateLimit-Reset", 15) && plain) {
        if (x > 1e9) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            x -= (double)ts.tv_sec;
            if (x < 0)
                x = 0;
        }
        s->rl_reset = x > 1e9 ? 1e9 : x;
    } else if (nl == 9) {
        double r = field_num(v, vl, "remaining="), t = field_num(v, vl, "reset=");
        if (r < 0)
            r = field_num(v, vl, "r=");
        if (t < 0)
            t = field_num(v, vl, "t=");
        if (r >= 0)
            s->rl_remaining = r;
        if (t >= 0)
            s->rl_reset = t > 1e9 ? 1e9 : t;
    }
}

/* Keep the headers asked for; a status line starts a new response (after a
 * redirect or a 100 Continue), so what came before is dropped. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    slot *s = arg;
    size_t n = size * nmemb;
    if (n >= 5 && !memcmp(ptr, "HTTP/", 5)) {
        s->hdrs_in.len = 0;
        s->body.len = 0;
        release(s);
        s->ra_secs = -1;
        s->rl_remaining = s->rl_reset = -1;
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon)
        return n;
    size_t nl = (size_t)(colon - ptr);
    if (nl == 11 && !strncasecmp(ptr, "Retry-After", 11))
        s->ra_secs = retry_after_secs(colon + 1, n - nl - 1);
    if (nl >= 9)
        ratelimit_header(s, ptr, nl, colon + 1, n - nl - 1);
    for (const char *const *k = s->e->src->conf.keep_headers; *k; k++) {
        if (strlen(*k) == nl && !strncasecmp(*k, ptr, nl)) {
            size_t len = n;
            while (len && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
                len--;
            if (ember_buf_append(&s->hdrs_in, ptr, len) || ember_buf_append(&s->hdrs_in, "\r\n", 2))
                return 0;
            break;
        }
    }
    return n;
}

/* Configure s's easy handle for its next attempt and add it to the multi. */
static int start(engine *e, slot *s, uint64_t now)
{
    const ember_http_conf *c = &e->src->conf;
    if (!s->easy && !(s->easy = curl_easy_init()))
        return EMBER_ENOMEM;
    CURL *h = s->easy;
    curl_easy_reset(h);
    const char *url = (const char *)s->spec.ptr, *m = url + s->method_off;
    double left = c->timeout;
    if (s->deadline) {
        double rest = (double)(s->deadline - now) * 1e-9;
        if (rest < left)
            left = rest;
    }
    long timeout_ms = (long)(left * 1e3);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, c->no_redirects ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout * 1e3));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (!strncasecmp(url, "https:", 6))
        curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L); /* wait to multiplex over HTTP/2 */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_SHARE, e->src->share);
    struct curl_slist *hl = s->hdrs_out     ? s->hdrs_out
                            : s->empty_body ? e->src->hdrs_empty_body
                                            : e->src->hdrs;
    if (hl)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (!strcmp(m, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(m, "GET") || s->body_len != (size_t)-1)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    if (s->body_len != (size_t)-1 && strcmp(m, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->spec.ptr + s->body_off);
    }
    s->body.len = s->hdrs_in.len = 0;
    release(s);
    s->status = 0;
    s->errbuf[0] = 0;
    s->too_big = false;
    s->ra_secs = -1;
    s->rl_remaining = s->rl_reset = -1;
    s->sent_at = now;
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK)
        return EMBER_ENOMEM;
    if (!s->t_first)
        s->t_first = now;
    s->attempts++;
    s->state = S_RUN;
    e->waiting--;
    e->running++;
    count(e, C_SENT);
    return 0;
}

/* Transport errors worth another attempt (the server may answer next time). */
static bool transient(CURLcode r)
{
    switch (r) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

/* Wait before the next attempt; false when the total timeout comes first. */
static bool retry_at(engine *e, slot *s, uint64_t at)
{
    if (s->deadline && at >= s->deadline)
        return false;
    s->ready_at = at;
    s->state = S_WAIT;
    e->waiting++;
    return true;
}

/* An attempt of s ended with r. */
static int complete(engine *e, slot *s, CURLcode r)
{
    const ember_http_conf *c = &e->src->conf;
    uint64_t now = ember__now_ns();
    char why[520];
    curl_multi_remove_handle(e->multi, s->easy);
    e->running--;
    if (s->paused) { /* ended (a timeout) while waiting for the budget */
        s->paused = false;
        e->npaused--;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (r == CURLE_OK) {
        long st = s->status;
        if (st == 429 || (st == 503 && s->ra_secs >= 0)) {
            /* throttled: every task waits as long as the server asked (Retry-After,
             * else the RateLimit reset, else a backoff; at most max_retry_after),
             * and the pace is cut */
            s->throttled++;
            count(e, C_THROTTLED);
            double cap = c->max_retry_after;
            uint64_t wait = s->ra_secs >= 0    ? secs_ns(s->ra_secs < cap ? s->ra_secs : cap)
                            : s->rl_reset >= 0 ? secs_ns(s->rl_reset < cap ? s->rl_reset : cap)
                                               : backoff_ns(e, s->throttled);
            bucket_throttled(&e->src->bucket, now, s->sent_at, now + wait);
            if (s->throttled <= c->max_throttled && retry_at(e, s, now + wait))
                return 0;
            if (s->throttled > c->max_throttled)
                snprintf(why, sizeof why, "HTTP %ld: throttled %d times", st, s->throttled);
            else /* the wait asked for runs past the request's total timeout */
                snprintf(why, sizeof why,
                         "total timeout (%.3g s) before the %.3g s the server asked to wait: "
                         "HTTP %ld, throttled %d time%s",
                         c->total_timeout, (double)wait * 1e-9, st, s->throttled,
                         s->throttled == 1 ? "" : "s");
            return finish(e, s, false, why);
        }
        /* what the server says of its quota */
        double reset = s->rl_reset < c->max_retry_after ? s->rl_reset : c->max_retry_after;
        if (s->rl_remaining == 0)
            bucket_throttled(&e->src->bucket, now, s->sent_at, now + secs_ns(reset));
        else if (s->rl_remaining > 0 && s->rl_reset >= 0)
            bucket_hint(&e->src->bucket, now, s->rl_remaining, reset);
        if (st >= 500 && (s->idempotent || c->retry_unsafe) && s->attempts < c->max_attempts) {
            if (retry_at(e, s, now + backoff_ns(e, s->attempts))) {
                count(e, C_RETRIED);
                return 0;
            }
        }
        if (st >= 200 && st < 400) {
            bucket_ok(&e->src->bucket, now);
            return finish(e, s, true, NULL);
        }
        snprintf(why, sizeof why, "HTTP %ld after %d attempt%s", st, s->attempts,
                 s->attempts == 1 ? "" : "s");
        return finish(e, s, false, why);
    }
    /* no answer, or a broken one */
    if (s->too_big || r == CURLE_FILESIZE_EXCEEDED) {
        snprintf(why, sizeof why, "the answer is larger than max_body (%zu bytes)", c->max_body);
        s->body.len = 0;
        return finish(e, s, false, why);
    }
    bool again = transient(r) && (s->idempotent || c->retry_unsafe || r == CURLE_COULDNT_CONNECT);
    if (again && s->attempts < c->max_attempts &&
        retry_at(e, s, now + backoff_ns(e, s->attempts))) {
        count(e, C_RETRIED);
        return 0;
    }
    snprintf(why, sizeof why, "%s%s%s (after %d attempt%s%s)", curl_easy_strerror(r),
             s->errbuf[0] ? ": " : "", s->errbuf, s->attempts, s->attempts == 1 ? "" : "s",
             again && s->attempts < c->max_attempts ? "; total timeout" : "");
    s->status = 0;
    s->body.len = 0;
    return finish(e, s, false, why);
}

/* curl's socket callback: watch fd for what curl waits on, in the task's epoll set. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    (void)easy;
    engine *e = arg;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = fd};
    /* a socket curl has not seen before has no pointer assigned: add it and
     * mark it, so that later changes are one EPOLL_CTL_MOD */
    if (sockp)
        return epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) ? -1 : 0;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) &&
        (errno != EEXIST || epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev)))
        return -1;
    curl_multi_assign(e->multi, fd, e);
    return 0;
}

/* curl's timer callback: when to call it back with CURL_SOCKET_TIMEOUT. */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
    (void)multi;
    engine *e = arg;
    e->timer_on = timeout_ms >= 0;
    e->timer_at = ember__now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    return 0;
}

static int journal_failed(engine *e, int rc)
{
    return ember__task_fail(e->task, rc, "http: cannot write the journal %s: %s (partition %d)",
                            e->src->conf.journal, ember_strerror(rc), e->task->partition);
}

/* One turn of the loop: start what may start, wait for activity (up to the next
 * wake when block), and settle what finished. */
static int pump(engine *e, bool block)
{
    uint64_t now = ember__now_ns(), wake = UINT64_MAX;
    int rc;
    if (!e->cancelled && ember__halted(e->task))
        e->cancelled = true; /* a cancel, a failure, or enough (take): start nothing */
    for (int k = 0, left = e->cancelled ? 0 : e->waiting; k < e->count && left > 0; k++) {
        slot *s = &e->slots[(e->head + k) % e->cap];
        if (s->state != S_WAIT)
            continue;
        left--;
        if (s->deadline && now >= s->deadline) { /* it waited out its total timeout */
            char why[200];
            snprintf(why, sizeof why,
                     "total timeout (%.3g s) reached while waiting to be %s (after %d attempt%s)",
                     e->src->conf.total_timeout, s->attempts ? "sent again" : "sent", s->attempts,
                     s->attempts == 1 ? "" : "s");
            e->waiting--;
            s->status = s->attempts ? s->status : 0;
            if ((rc = finish(e, s, false, why)))
                return rc;
            continue;
        }
        if (s->deadline && s->deadline < wake)
            wake = s->deadline;
        /* the response-memory budget is used up: only the head may start (it
         * frees what the slots behind it hold once it is final) */
        if (k > 0 && budget_full(e->src)) {
            e->budget_waits = true;
            break;
        }
        if (s->ready_at > now) {
            if (s->ready_at < wake)
                wake = s->ready_at;
            continue;
        }
        uint64_t w = bucket_take(&e->src->bucket, now);
        if (w) { /* no token: the rest wait their turn, in order */
            if (now + w < wake)
                wake = now + w;
            break;
        }
        if ((rc = start(e, s, now)))
            return ember__task_fail(e->task, rc, "http: cannot start a request (partition %d)",
                                    e->task->partition);
    }
    if (e->npaused)
        unpause(e);
    if (e->timer_on && e->timer_at < wake)
        wake = e->timer_at;
    int timeout_ms = 0;
    if (block) {
        uint64_t d = wake == UINT64_MAX ? 1000000000ull : wake > now ? wake - now : 0;
        timeout_ms = (int)((d + 999999) / 1000000);
        if (timeout_ms > 100) /* a cancel is seen within 100 ms */
            timeout_ms = 100;
    }
    struct epoll_event ev[256];
    int still, nev = epoll_wait(e->epfd, ev, 256, timeout_ms);
    for (int i = 0; i < nev; i++) {
        int mask = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                   (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(e->multi, ev[i].data.fd, mask, &still);
    }
    if (e->timer_on && ember__now_ns() >= e->timer_at) {
        e->timer_on = false;
        curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        slot *s;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if ((rc = complete(e, s, msg->data.result)))
            return rc;
    }
    if (e->src->journal && (rc = ember__journal_tick(e->src->journal, ember__now_ns())))
        return journal_failed(e, rc);
    return 0;
}

/* Hand on the final slots at the head, in order. */
static int settle(engine *e)
{
    while (e->count && e->slots[e->head].state == S_FINAL) {
        slot *s = &e->slots[e->head];
        ember_rec out;
        ember__rec_set(&out, s->has_key ? (const void *)s->key.ptr : NULL, s->key.len, s->out.ptr,
                       s->out.len);
        if (s->has_key && !out.key.ptr)
            out.key.ptr = "";
        e->head = (e->head + 1) % e->cap;
        e->count--;
        s->state = 0;
        curl_slist_free_all(s->hdrs_out);
        s->hdrs_out = NULL;
        int rc = e->next->push(e->next, &out);
        release(s); /* counted until handed on */
        /* a big answer's buffers go back once handed on: kept for the slot's
         * next request, they would hold memory the budget no longer counts */
        if (s->body.cap > ((size_t)1 << 20))
            ember_buf_destroy(&s->body);
        if (s->out.cap > ((size_t)1 << 20))
            ember_buf_destroy(&s->out);
        if (rc)
            return rc;
    }
    return 0;
}

/* The journal's id of a record: its hash, and the copies of it seen before in
 * this partition. 0 or EMBER_ENOMEM. */
static int record_id(engine *e, const ember_rec *rec, unsigned char id[EMBER__JOURNAL_ID])
{
    XXH3_state_t st;
    uint64_t kl = rec->key.ptr ? rec->key.len + 1 : 0; /* no key differs from an empty one */
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, &kl, sizeof kl);
    if (rec->key.len)
        XXH3_128bits_update(&st, rec->key.ptr, rec->key.len);
    if (rec->val.len)
        XXH3_128bits_update(&st, rec->val.ptr, rec->val.len);
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits_digest(&st));
    int64_t *copies = ember__htab_upsert(&e->seen, ember_bytes_of(h.digest, sizeof h.digest));
    if (!copies)
        return EMBER_ENOMEM;
    uint64_t k = (uint64_t)(*copies)++;
    memcpy(id, h.digest, 16);
    for (int i = 0; i < 8; i++)
        id[16 + i] = (unsigned char)(k >> (8 * i));
    return 0;
}

/* A final answer from the journal for s: 1 when there is one (s is final), 0
 * when the request must be sent, or a failure of the task. */
static int from_journal(engine *e, slot *s)
{
    bool ok = false;
    int rc = ember__journal_get(e->src->journal, s->id, &s->out, &ok);
    if (rc < 0)
        return ember__task_fail(e->task, rc,
                                "http: cannot read record %lld of partition %d from the journal "
                                "%s: %s",
                                (long long)s->index, e->task->partition, e->src->conf.journal,
                                ember_strerror(rc));
    if (rc == 0 || (!ok && e->src->conf.retry_failed))
        return 0;
    s->state = S_FINAL;
    count(e, C_RESUMED);
    count(e, ok ? C_SUCCEEDED : C_FAILED);
    atomic_fetch_add(&e->src->done, 1);
    return 1;
}

static int http_push(ember_out *self, const ember_rec *rec)
{
    engine *e = container_of(self, engine, in);
    int rc;
    while (e->count == e->cap) {
        if ((rc = pump(e, e->slots[e->head].state != S_FINAL)) || (rc = settle(e)))
            return rc;
        if (e->cancelled && e->count == e->cap)
            return ember__halt_code(e->task);
    }
    slot *s = &e->slots[(e->head + e->count) % e->cap];
    e->count++;
    s->index = e->next_index++;
    s->attempts = s->throttled = 0;
    s->t_first = 0;
    /* total_timeout bounds the request from the moment it enters the window:
     * its waits (backoff, Retry-After, the rate limit) included */
    s->deadline =
        e->src->conf.total_timeout > 0 ? ember__now_ns() + secs_ns(e->src->conf.total_timeout) : 0;
    s->has_key = rec->key.ptr != NULL;
    s->key.len = 0;
    s->status = 0;
    s->body.len = s->hdrs_in.len = 0;
    char why[400];
    if ((s->has_key && ember_buf_append(&s->key, rec->key.ptr, rec->key.len)) ||
        (e->src->journal && record_id(e, rec, s->id)))
        return ember__task_fail(e->task, EMBER_ENOMEM, "http: out of memory reading a request");
    if (e->src->journal && (rc = from_journal(e, s)))
        return rc < 0 ? rc : settle(e);
    if (parse_request(e, s, rec->val, why, sizeof why))
        return ember__task_fail(e->task, EMBER_ENOMEM, "http: out of memory reading a request");
    if (why[0]) {
        char msg[520];
        snprintf(msg, sizeof msg, "record %lld of partition %d: %s", (long long)s->index,
                 e->task->partition, why);
        s->spec.len = 0;
        if ((rc = finish(e, s, false, msg)))
            return rc;
        return settle(e);
    }
    s->state = S_WAIT;
    s->ready_at = 0;
    e->waiting++;
    /* send it now: a turn that does not wait starts it and settles what is done */
    if ((rc = pump(e, false)))
        return rc;
    return settle(e);
}

static int http_feed(ember_rdd *n, int part, ember_out *sink)
{
    http_src *src = n->u.state;
    ember__task *t = sink->task;
    const ember_http_conf *c = &src->conf;
    engine e = {.in = {.push = http_push, .next = sink, .task = t, .node = n},
                .next = sink,
                .task = t,
                .node = n,
                .src = src,
                .cap = c->max_in_flight,
                .epfd = -1,
                .rng = ember__now_ns() ^ (0x9e3779b97f4a7c15ull * (uint64_t)(part + 1))};
    int rc = 0;
    e.rng |= 1;
    ember__htab_init(&e.seen);
    e.multi = curl_multi_init();
    e.slots = ember__calloc((size_t)e.cap, sizeof *e.slots);
    e.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e.epfd < 0) {
        rc = ember__task_fail(t, -errno, "http: epoll_create1: %s", strerror(errno));
        goto out;
    }
    if (!e.multi || !e.slots) {
        rc = ember__task_fail(t, EMBER_ENOMEM, "http: out of memory for a window of %d", e.cap);
        goto out;
    }
    for (int i = 0; i < e.cap; i++)
        e.slots[i].e = &e;
    int tasks = ember_parallelism(n->ctx) * (n->ctx->ranks > 1 ? n->ctx->ranks : 1);
    if (c->max_connections > 0)
        curl_multi_setopt(e.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          (long)((c->max_connections + tasks - 1) / tasks));
    if (c->max_host_connections > 0)
        curl_multi_setopt(e.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)((c->max_host_connections + tasks - 1) / tasks));
    curl_multi_setopt(e.multi, CURLMOPT_MAXCONNECTS, (long)e.cap);
    curl_multi_setopt(e.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e.multi, CURLMOPT_SOCKETDATA, &e);
    curl_multi_setopt(e.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e.multi, CURLMOPT_TIMERDATA, &e);

    rc = ember__compute(n->parent, part, &e.in);
    /* Every request has started: a connection that falls idle now can only serve
     * a retry, so close it while the rest are still waiting on their servers
     * rather than all of them after the last answer. */
    if (!rc)
        curl_multi_setopt(e.multi, CURLMOPT_MAXCONNECTS, 1L);
    while (!rc && e.count) {
        if (!(rc = pump(&e, e.slots[e.head].state != S_FINAL)))
            rc = settle(&e);
        if (!rc && e.cancelled && e.count)
            rc = ember__halt_code(t);
    }
    /* Cancelled: the requests in flight may still answer within the grace
     * period; their answers are final (journaled, and handed on when in order).
     * Nothing starts meanwhile. */
    if (rc == EMBER_ECANCELED && e.running && c->grace > 0) {
        uint64_t until = ember__now_ns() + (uint64_t)(c->grace * 1e9);
        int drc = 0, src_rc = 0;
        e.cancelled = true;
        while (e.running && !drc && ember__now_ns() < until) {
            drc = pump(&e, true);
            if (!src_rc)
                src_rc = settle(&e);
        }
    }
    /* what is final is written before the task ends, whatever its outcome */
    if (src->journal) {
        int jrc = ember__journal_flush(src->journal);
        if (jrc && !rc)
            rc = journal_failed(&e, jrc);
    }
out:
    for (int i = 0; e.slots && i < e.cap; i++) {
        slot *s = &e.slots[i];
        release(s);
        if (s->easy) {
            if (s->state == S_RUN)
                curl_multi_remove_handle(e.multi, s->easy);
            curl_easy_cleanup(s->easy);
        }
        curl_slist_free_all(s->hdrs_out);
        ember_buf_destroy(&s->key);
        ember_buf_destroy(&s->spec);
        ember_buf_destroy(&s->body);
        ember_buf_destroy(&s->hdrs_in);
        ember_buf_destroy(&s->out);
    }
    ember__free(e.slots);
    ember__htab_destroy(&e.seen);
    if (e.multi)
        curl_multi_cleanup(e.multi);
    if (e.epfd >= 0)
        close(e.epfd);
    return rc;
}

/* ---------------------------------------------------------------- the transformation */

static void http_free(void *arg)
{
    http_src *s = arg;
    if (s->share)
        curl_share_cleanup(s->share);
    curl_slist_free_all(s->hdrs);
    curl_slist_free_all(s->hdrs_empty_body);
    ember__journal_close(s->journal);
    for (int i = 0; i < C_N; i++)
        ember__accumulator_free(s->acc[i]);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->share_mu[i]);
    pthread_mutex_destroy(&s->bucket.mu);
    for (int i = 0; i < s->nstrings; i++)
        ember__free(s->strings[i]);
    ember__free(s->strings);
    ember__free(s);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* Once a process: libcurl's global state (when the program started libcurl
 * first, its own allocator stays). */
static void curl_setup(void)
{
    /* libcurl allocates through the seam too (its first init decides) */
    curl_init_rc =
        curl_global_init_mem(CURL_GLOBAL_DEFAULT, ember__curl_malloc, ember__free,
                             ember__curl_realloc, ember__curl_strdup, ember__curl_calloc);
}

long ember_raise_open_files_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return -errno;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl))
            return -errno;
    }
    return rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
}

static const char *keep_string(http_src *s, const char *str, int *rc)
{
    if (!str || *rc)
        return NULL;
    char *d = ember__strdup(str);
    if (!d) {
        *rc = EMBER_ENOMEM;
        return NULL;
    }
    s->strings[s->nstrings++] = d;
    return d;
}

/* A copy of a NULL-terminated list, or a default of one string. */
static const char *const *keep_list(http_src *s, const char *const *l, const char *dflt, int *rc)
{
    int n = 0;
    while (l && l[n])
        n++;
    if (!l)
        n = dflt ? 1 : 0;
    char **copy = ember__calloc((size_t)n + 1, sizeof *copy);
    if (!copy) {
        *rc = EMBER_ENOMEM;
        return NULL;
    }
    s->strings[s->nstrings++] = (char *)copy;
    for (int i = 0; i < n && !*rc; i++)
        copy[i] = (char *)keep_string(s, l ? l[i] : dflt, rc);
    return (const char *const *)copy;
}

/* A header line the conf may send: "Name: value", a token for a name, no line
 * breaks. */
static bool header_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || strpbrk(h, "\r\n"))
        return false;
    for (const char *p = h; p < colon; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("()<>@,;\\\"/[]?={}", *p))
            return false;
    return true;
}

/* The hash of what shapes an answer: a journal of other options is refused. */
static void conf_hash(const ember_http_conf *c, uint64_t out[2])
{
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    const char *items[4] = {c->method, c->user_agent, c->no_redirects ? "noredir" : "redir", NULL};
    for (int i = 0; items[i]; i++)
        XXH3_128bits_update(&st, items[i], strlen(items[i]) + 1);
    for (const char *const *h = c->headers; h && *h; h++)
        XXH3_128bits_update(&st, *h, strlen(*h) + 1);
    XXH3_128bits_update(&st, "|", 1);
    for (const char *const *h = c->keep_headers; h && *h; h++)
        XXH3_128bits_update(&st, *h, strlen(*h) + 1);
    XXH128_hash_t x = XXH3_128bits_digest(&st);
    out[0] = x.high64;
    out[1] = x.low64;
}

static void http_node_free(ember_rdd *n)
{
    http_free(n->u.state);
}

static const ember__node_type http_type = {
    .name = "http", .compute = http_feed, .free = http_node_free};

ember_rdd *ember_http(ember_rdd *rdd, const ember_http_conf *conf)
{
    const char *op = "http";
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, op, &ret))
        return ret;
    ember_ctx *ctx = rdd->ctx;
    ember_http_conf c = conf ? *conf : (ember_http_conf){0};
    /* every number in range: time arithmetic never overflows (nothing waits
     * longer than 10^7 s, about 115 days) */
    const double T = 1e7;
    const char *bad = c.max_in_flight < 0 || c.max_in_flight > 65536 ? "max_in_flight (0 to 65536)"
                      : c.max_connections < 0                        ? "max_connections"
                      : c.max_host_connections < 0                   ? "max_host_connections"
                      : !(c.rate == 0 || (c.rate >= 1e-4 && c.rate <= 1e9))
                          ? "rate (0, or 0.0001 to 10^9 requests a second)"
                      : !(c.burst >= 0 && c.burst <= 1e9) ? "burst (0 to 10^9)"
                      : c.max_attempts < 0 || c.max_attempts > 1000000 || c.max_throttled < 0 ||
                              c.max_throttled > 1000000
                          ? "max_attempts and max_throttled (0 to 10^6)"
                      : !(c.backoff_base >= 0 && c.backoff_base <= T) ||
                              !(c.backoff_max >= 0 && c.backoff_max <= T)
                          ? "backoff (0 to 10^7 s)"
                      : !(c.timeout >= 0 && c.timeout <= T) ||
                              !(c.connect_timeout >= 0 && c.connect_timeout <= T) ||
                              !(c.total_timeout >= 0 && c.total_timeout <= T)
                          ? "timeouts (0 to 10^7 s)"
                      : !(c.max_retry_after >= 0 && c.max_retry_after <= T)
                          ? "max_retry_after (0 to 10^7 s)"
                      : c.method && !method_ok(c.method) ? "method (an HTTP method in capitals)"
                      : !(c.grace <= T) || c.grace != c.grace ? "grace (at most 10^7 s)"
                      : c.journal && !*c.journal              ? "journal (an empty path)"
                                                              : NULL;
    if (bad)
        return ember__rdd_error(ctx, EMBER_EINVAL, "http: bad conf: %s", bad);
    for (const char *const *h = c.headers; h && *h; h++)
        if (!header_ok(*h))
            return ember__rdd_error(ctx, EMBER_EINVAL,
                                    "http: bad conf: header '%.80s' is not \"Name: value\" (a "
                                    "name without spaces, a colon, no line breaks)",
                                    *h);
    pthread_once(&curl_once, curl_setup);
    if (curl_init_rc != CURLE_OK)
        return ember__rdd_error(ctx, EMBER_EIO, "http: libcurl did not start: %s",
                                curl_easy_strerror(curl_init_rc));
    if (!c.max_in_flight)
        c.max_in_flight = 256;
    if (c.burst == 0)
        c.burst = c.rate > 1 ? c.rate : 1;
    if (!c.max_attempts)
        c.max_attempts = 4;
    if (!c.max_throttled)
        c.max_throttled = 100;
    if (c.backoff_base == 0)
        c.backoff_base = 0.1;
    if (c.backoff_max == 0)
        c.backoff_max = 30;
    if (c.timeout == 0)
        c.timeout = 30;
    if (c.connect_timeout == 0)
        c.connect_timeout = 10;
    if (!c.max_body)
        c.max_body = (size_t)64 << 20;
    if (c.grace == 0)
        c.grace = 5;
    if (c.max_retry_after == 0)
        c.max_retry_after = 600;
    if (!c.max_memory)
        c.max_memory = ember__default_budget();

    http_src *s = ember__calloc(1, sizeof *s);
    int nh = 0, nk = 0;
    while (c.headers && c.headers[nh])
        nh++;
    while (c.keep_headers && c.keep_headers[nk])
        nk++;
    int rc = 0;
    if (!s || !(s->strings = ember__calloc((size_t)(nh + nk + 12), sizeof *s->strings))) {
        ember__free(s);
        return ember__rdd_error(ctx, EMBER_ENOMEM, "http: out of memory");
    }
    pthread_mutex_init(&s->bucket.mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->share_mu[i], NULL);
    c.method = keep_string(s, c.method ? c.method : "GET", &rc);
    char ua[64];
    snprintf(ua, sizeof ua, "ember/%s", EMBER_VERSION_STRING);
    c.user_agent = keep_string(s, c.user_agent ? c.user_agent : ua, &rc);
    c.ca_file = keep_string(s, c.ca_file, &rc);
    c.headers = c.headers ? keep_list(s, c.headers, NULL, &rc) : NULL;
    c.keep_headers = keep_list(s, c.keep_headers, "Content-Type", &rc);
    c.journal = keep_string(s, c.journal, &rc);
    c.journal_tag = keep_string(s, c.journal_tag ? c.journal_tag : "", &rc);
    s->conf = c;
    /* under MPI each rank has its bucket: the limit is the job's, so each takes
     * its share (a burst of at least one); each rank's pace adapts on its own,
     * and adaptive flows sharing a server settle on shares of its limit */
    int ranks = ctx->ranks > 1 ? ctx->ranks : 1;
    s->bucket.ceiling = c.rate / ranks;
    s->bucket.burst_max = c.rate > 0 ? (c.burst / ranks >= 1 ? c.burst / ranks : 1) : INFINITY;
    s->bucket.tokens = s->bucket.burst_max < INFINITY ? s->bucket.burst_max : 0;
    s->bucket.last_ns = ember__now_ns();
    s->bucket.adapt = !c.no_adapt;
    /* the conf's headers as shared lists */
    for (const char *const *h = c.headers; !rc && h && *h; h++) {
        struct curl_slist *l = curl_slist_append(s->hdrs, *h);
        if (!l)
            rc = EMBER_ENOMEM;
        else
            s->hdrs = l;
    }
    if (!rc && merge_headers(&c, &s->hdrs_empty_body, false))
        rc = EMBER_ENOMEM;
    if (!rc) {
        struct curl_slist *l = curl_slist_append(s->hdrs_empty_body, "Content-Type:");
        if (!l)
            rc = EMBER_ENOMEM;
        else
            s->hdrs_empty_body = l;
    }
    if (!rc && c.journal) {
        uint64_t h[2];
        char why[600];
        conf_hash(&c, h);
        rc = ember__journal_open(c.journal, c.journal_tag, h, ctx->rank, &s->journal, why,
                                 sizeof why);
        if (rc) {
            http_free(s);
            return ember__rdd_error(ctx, rc == EMBER_ENOMEM ? rc : EMBER_EINVAL, "http: %s", why);
        }
    }
    if (!rc && !(s->share = curl_share_init()))
        rc = EMBER_ENOMEM;
    if (!rc) {
        curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    for (int i = 0; i < C_N && !rc; i++)
        if (!(s->acc[i] = ember_accumulator_i64(ctx, 0)))
            rc = EMBER_ENOMEM;
    if (rc) {
        http_free(s);
        return ember__rdd_error(ctx, rc, "http: out of memory");
    }
    ember_rdd *r = ember__rdd_new(ctx, &http_type, op, rdd->nparts, rdd, NULL);
    if (ember__rdd_failed(r)) {
        http_free(s);
        return r;
    }
    static const char *const names[C_N] = {"sent",      "succeeded", "retried",
                                           "throttled", "failed",    "resumed"};
    for (int i = 0; i < C_N; i++) {
        char name[64];
        snprintf(name, sizeof name, "http[%lld].%s", (long long)r->id, names[i]);
        ember_accumulator_set_name(s->acc[i], name);
    }
    r->u.state = s;
    return r;
}

static http_src *http_of(ember_rdd *rdd)
{
    if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD) || rdd->type != &http_type)
        return NULL;
    return rdd->u.state;
}

int ember_http_counters(ember_rdd *rdd, ember_http_counts *out)
{
    http_src *s = http_of(rdd);
    if (!s || !out)
        return EMBER_EINVAL;
    int64_t v[C_N];
    for (int i = 0; i < C_N; i++) {
        int rc = ember_accumulator_value_i64(s->acc[i], &v[i]);
        if (rc)
            return rc;
    }
    *out = (ember_http_counts){v[C_SENT],      v[C_SUCCEEDED], v[C_RETRIED],
                               v[C_THROTTLED], v[C_FAILED],    v[C_RESUMED]};
    return 0;
}

int ember_http_progress(ember_rdd *rdd, ember_http_counts *out, int64_t *done)
{
    http_src *s = http_of(rdd);
    if (!s || !out)
        return EMBER_EINVAL;
    *out = (ember_http_counts){atomic_load(&s->live[C_SENT]),    atomic_load(&s->live[C_SUCCEEDED]),
                               atomic_load(&s->live[C_RETRIED]), atomic_load(&s->live[C_THROTTLED]),
                               atomic_load(&s->live[C_FAILED]),  atomic_load(&s->live[C_RESUMED])};
    if (done)
        *done = atomic_load(&s->done);
    return 0;
}

double ember_http_rate(ember_rdd *rdd)
{
    http_src *s = http_of(rdd);
    return s ? bucket_now(&s->bucket) : 0;
}

/* ---------------------------------------------------------------- fuzzing */

/* For tests/fuzz/http_request.c: the request parser on a record's value, and
 * the header callback on each line of headers (as curl hands them over), with
 * a default conf; nothing is sent. 0, or EMBER_ENOMEM. */
int ember__http_probe(const void *request, size_t rlen, const void *headers, size_t hlen)
{
    static const char *const keep[] = {"Content-Type", "X-Kept", NULL};
    static const char *const hdrs[] = {"X-Api-Key: k", "Accept: application/json", NULL};
    http_src src = {.conf = {.method = "GET",
                             .headers = hdrs,
                             .keep_headers = keep,
                             .max_body = 1 << 20,
                             .max_retry_after = 600,
                             .max_memory = (size_t)1 << 30}};
    engine e = {.src = &src};
    slot s = {.e = &e, .ra_secs = -1, .rl_remaining = -1, .rl_reset = -1};
    e.slots = &s;
    e.cap = 1;
    char why[400];
    int rc = parse_request(&e, &s, ember_bytes_of(request, rlen), why, sizeof why);
    const char *p = headers, *end = p ? p + hlen : p;
    while (!rc && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        char *line = ember__malloc(n ? n : 1); /* exactly the line, as curl's buffer */
        if (!line) {
            rc = EMBER_ENOMEM;
            break;
        }
        memcpy(line, p, n);
        if (on_header(line, 1, n, &s) != n)
            rc = EMBER_ENOMEM;
        ember__free(line);
        p += n;
    }
    curl_slist_free_all(s.hdrs_out);
    ember_buf_destroy(&s.spec);
    ember_buf_destroy(&s.hdrs_in);
    ember_buf_destroy(&s.body);
    return rc;
}
