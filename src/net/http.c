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
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "net/net.h"

#define MAGIC "\xeeHR1"
#define MAGIC_LEN 4

enum { S_WAIT = 1, S_RUN, S_FINAL };
enum { C_SENT, C_SUCCEEDED, C_RETRIED, C_THROTTLED, C_FAILED, C_N };

/* ---------------------------------------------------------------- the rate limit */

typedef struct bucket {
    pthread_mutex_t mu;
    double rate, burst, tokens;
    uint64_t last_ns, paused_until;
} bucket;

/* Take a token at now: 0, or the nanoseconds to wait before asking again. */
static uint64_t bucket_take(bucket *b, uint64_t now)
{
    uint64_t wait = 0;
    pthread_mutex_lock(&b->mu);
    if (now < b->paused_until) {
        wait = b->paused_until - now;
    } else if (b->rate > 0) {
        if (now > b->last_ns) {
            b->tokens += (double)(now - b->last_ns) * 1e-9 * b->rate;
            if (b->tokens > b->burst)
                b->tokens = b->burst;
            b->last_ns = now;
        }
        if (b->tokens >= 1)
            b->tokens -= 1;
        else
            wait = (uint64_t)ceil((1 - b->tokens) / b->rate * 1e9) + 1;
    }
    pthread_mutex_unlock(&b->mu);
    return wait;
}

/* The server asked every caller to wait until `until`: no token is handed out
 * before then, and none gathers meanwhile (a full bucket after a pause would
 * only be throttled again). */
static void bucket_pause(bucket *b, uint64_t until)
{
    pthread_mutex_lock(&b->mu);
    if (until > b->paused_until)
        b->paused_until = until;
    b->tokens = 0;
    if (b->last_ns < until)
        b->last_ns = until;
    pthread_mutex_unlock(&b->mu);
}

/* ---------------------------------------------------------------- the node */

typedef struct http_src {
    ember_http_conf conf;
    char **strings; /* copies of conf's strings and lists, freed with the node */
    int nstrings;
    bucket bucket;
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

/* ---------------------------------------------------------------- a task's slots */

typedef struct engine engine;

typedef struct slot {
    engine *e;
    CURL *easy;
    int state;
    int64_t index; /* of the record in its partition */
    uint64_t ready_at, t_first, deadline;
    int attempts, throttled;
    bool idempotent, too_big, retry_after; /* the answer had a Retry-After header */
    ember_buf key;
    bool has_key;
    ember_buf spec; /* url \0 method \0 body */
    size_t method_off, body_off, body_len;
    struct curl_slist *hdrs_out;
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
    const unsigned char *p = b.ptr, *end = p + b.len;
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
    ember_http_response r;
    if (!out || ember_http_response_get(val, &r))
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
    const char *p = r.headers.ptr, *end = p + r.headers.len;
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
    if (!rc)
        rc = json_str(out, r.body);
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

/* Fill s->spec and s->hdrs_out from a record's value: a URL or a JSON request.
 * 0, or a message in why (the record is then final with that error), or
 * EMBER_ENOMEM. */
static int parse_request(engine *e, slot *s, ember_bytes v, char *why, size_t whylen)
{
    const ember_http_conf *c = &e->src->conf;
    const char *p = v.ptr, *end = p + v.len;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - p);
    s->spec.len = 0;
    *why = 0;
    if (n && *p != '{') {
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
        s->body_len = 0;
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
    s->body_len = body ? body_len : (size_t)-1;
    s->idempotent = idempotent(m);
    bool has_ct = false;
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
            has_ct |= !strcasecmp(k, "content-type");
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
            has_ct |= !strncasecmp(sv, "content-type:", 13);
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
    if (as_json && !has_ct) {
        struct curl_slist *l = curl_slist_append(s->hdrs_out, "Content-Type: application/json");
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
    size_t n = size * nmemb;
    if (s->body.len + n > s->e->src->conf.max_body) {
        s->too_big = true;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    return ember_buf_append(&s->body, ptr, n) ? 0 : n;
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
        s->retry_after = false;
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon)
        return n;
    size_t nl = (size_t)(colon - ptr);
    if (nl == 11 && !strncasecmp(ptr, "Retry-After", 11))
        s->retry_after = true;
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
    if (s->hdrs_out)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->hdrs_out);
    if (!strcmp(m, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(m, "GET") || s->body_len != (size_t)-1)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    if (s->body_len != (size_t)-1 && strcmp(m, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->spec.ptr + s->body_off);
    }
    s->body.len = s->hdrs_in.len = 0;
    s->status = 0;
    s->errbuf[0] = 0;
    s->too_big = s->retry_after = false;
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK)
        return EMBER_ENOMEM;
    if (!s->t_first) {
        s->t_first = now;
        if (c->total_timeout > 0)
            s->deadline = now + (uint64_t)(c->total_timeout * 1e9);
    }
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
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (r == CURLE_OK) {
        long st = s->status;
        curl_off_t ra = -1; /* seconds, from a number or an HTTP date */
        if (s->retry_after && (st == 429 || st == 503))
            curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &ra);
        if (st == 429 || (st == 503 && s->retry_after)) {
            /* throttled: every task waits as long as the server asked */
            s->throttled++;
            count(e, C_THROTTLED);
            uint64_t wait = ra >= 0 ? (uint64_t)ra * 1000000000ull : backoff_ns(e, s->throttled);
            bucket_pause(&e->src->bucket, now + wait);
            if (s->throttled <= c->max_throttled && retry_at(e, s, now + wait))
                return 0;
            snprintf(why, sizeof why, "HTTP %ld: throttled %d times%s", st, s->throttled,
                     s->throttled > c->max_throttled ? "" : " (total timeout)");
            return finish(e, s, false, why);
        }
        if (st >= 500 && (s->idempotent || c->retry_unsafe) && s->attempts < c->max_attempts) {
            if (retry_at(e, s, now + backoff_ns(e, s->attempts))) {
                count(e, C_RETRIED);
                return 0;
            }
        }
        if (st >= 200 && st < 400)
            return finish(e, s, true, NULL);
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
    (void)easy, (void)sockp;
    engine *e = arg;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = fd};
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) && errno == ENOENT &&
        epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev))
        return -1;
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

/* One turn of the loop: start what may start, wait for activity (up to the next
 * wake when block), and settle what finished. */
static int pump(engine *e, bool block)
{
    uint64_t now = ember__now_ns(), wake = UINT64_MAX;
    int rc;
    for (int k = 0, left = e->waiting; k < e->count && left > 0; k++) {
        slot *s = &e->slots[(e->head + k) % e->cap];
        if (s->state != S_WAIT)
            continue;
        left--;
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
    if (e->timer_on && e->timer_at < wake)
        wake = e->timer_at;
    int timeout_ms = 0;
    if (block) {
        uint64_t d = wake == UINT64_MAX ? 1000000000ull : wake > now ? wake - now : 0;
        timeout_ms = (int)((d + 999999) / 1000000);
        if (timeout_ms > 1000)
            timeout_ms = 1000;
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
        if (rc)
            return rc;
    }
    return 0;
}

static int http_push(ember_out *self, const ember_rec *rec)
{
    engine *e = container_of(self, engine, in);
    int rc;
    while (e->count == e->cap) {
        if ((rc = pump(e, e->slots[e->head].state != S_FINAL)) || (rc = settle(e)))
            return rc;
    }
    slot *s = &e->slots[(e->head + e->count) % e->cap];
    e->count++;
    s->index = e->next_index++;
    s->attempts = s->throttled = 0;
    s->t_first = s->deadline = 0;
    s->has_key = rec->key.ptr != NULL;
    s->key.len = 0;
    s->status = 0;
    s->body.len = s->hdrs_in.len = 0;
    char why[400];
    if ((s->has_key && ember_buf_append(&s->key, rec->key.ptr, rec->key.len)) ||
        parse_request(e, s, rec->val, why, sizeof why))
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
    http_src *src = n->src;
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
    }
out:
    for (int i = 0; e.slots && i < e.cap; i++) {
        slot *s = &e.slots[i];
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

/* Once a process: libcurl's global state, and the soft limit of open files
 * raised to the hard one (each request in flight holds a socket). */
static void curl_setup(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
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

ember_rdd *ember_http(ember_rdd *rdd, const ember_http_conf *conf)
{
    const char *op = "http";
    ember_rdd *ret;
    if (!ember__parent_usable(rdd, op, &ret))
        return ret;
    ember_ctx *ctx = rdd->ctx;
    ember_http_conf c = conf ? *conf : (ember_http_conf){0};
    const char *bad = c.max_in_flight < 0 || c.max_in_flight > 65536 ? "max_in_flight (0 to 65536)"
                      : c.max_connections < 0                        ? "max_connections"
                      : c.max_host_connections < 0                   ? "max_host_connections"
                      : !(c.rate >= 0) || !(c.burst >= 0)            ? "rate and burst"
                      : c.max_attempts < 0 || c.max_throttled < 0    ? "max_attempts"
                      : !(c.backoff_base >= 0) || !(c.backoff_max >= 0) ? "backoff"
                      : !(c.timeout >= 0) || !(c.connect_timeout >= 0) || !(c.total_timeout >= 0)
                          ? "timeouts"
                      : c.method && !method_ok(c.method) ? "method (an HTTP method in capitals)"
                                                         : NULL;
    if (bad)
        return ember__rdd_error(ctx, EMBER_EINVAL, "http: bad conf: %s", bad);
    pthread_once(&curl_once, curl_setup);
    if (curl_init_rc != CURLE_OK)
        return ember__rdd_error(ctx, EMBER_EIO, "http: libcurl did not start: %s",
                                curl_easy_strerror(curl_init_rc));
    if (!c.max_in_flight)
        c.max_in_flight = 256;
    if (!c.burst)
        c.burst = c.rate > 1 ? c.rate : 1;
    if (!c.max_attempts)
        c.max_attempts = 4;
    if (!c.max_throttled)
        c.max_throttled = 100;
    if (!c.backoff_base)
        c.backoff_base = 0.1;
    if (!c.backoff_max)
        c.backoff_max = 30;
    if (!c.timeout)
        c.timeout = 30;
    if (!c.connect_timeout)
        c.connect_timeout = 10;
    if (!c.max_body)
        c.max_body = (size_t)64 << 20;

    http_src *s = ember__calloc(1, sizeof *s);
    int nh = 0, nk = 0;
    while (c.headers && c.headers[nh])
        nh++;
    while (c.keep_headers && c.keep_headers[nk])
        nk++;
    int rc = 0;
    if (!s || !(s->strings = ember__calloc((size_t)(nh + nk + 8), sizeof *s->strings))) {
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
    s->conf = c;
    /* under MPI each rank has its bucket: the limit is the job's, so each takes
     * its share (a burst of at least one) */
    int ranks = ctx->ranks > 1 ? ctx->ranks : 1;
    s->bucket.rate = c.rate / ranks;
    s->bucket.burst = c.burst / ranks >= 1 ? c.burst / ranks : 1;
    s->bucket.tokens = s->bucket.burst;
    s->bucket.last_ns = ember__now_ns();
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
    ember_rdd *r = ember__rdd_new(ctx, EMBER__N_SOURCE, op, rdd->nparts, rdd, NULL);
    if (r->kind == EMBER__N_ERROR) {
        http_free(s);
        return r;
    }
    static const char *const names[C_N] = {"sent", "succeeded", "retried", "throttled", "failed"};
    for (int i = 0; i < C_N; i++) {
        char name[64];
        snprintf(name, sizeof name, "http[%lld].%s", (long long)r->id, names[i]);
        ember_accumulator_set_name(s->acc[i], name);
    }
    r->src = s;
    r->src_free = http_free;
    r->feed = http_feed;
    return r;
}

static http_src *http_of(ember_rdd *rdd)
{
    if (!rdd || !ember__handle_ok(rdd, EMBER__H_RDD) || rdd->kind != EMBER__N_SOURCE ||
        rdd->feed != http_feed)
        return NULL;
    return rdd->src;
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
    *out =
        (ember_http_counts){v[C_SENT], v[C_SUCCEEDED], v[C_RETRIED], v[C_THROTTLED], v[C_FAILED]};
    return 0;
}

int ember_http_progress(ember_rdd *rdd, ember_http_counts *out, int64_t *done)
{
    http_src *s = http_of(rdd);
    if (!s || !out)
        return EMBER_EINVAL;
    *out = (ember_http_counts){atomic_load(&s->live[C_SENT]), atomic_load(&s->live[C_SUCCEEDED]),
                               atomic_load(&s->live[C_RETRIED]), atomic_load(&s->live[C_THROTTLED]),
                               atomic_load(&s->live[C_FAILED])};
    if (done)
        *done = atomic_load(&s->done);
    return 0;
}
