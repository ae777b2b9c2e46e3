/* A scripted HTTP server for the tests, on libmicrohttpd, bound to 127.0.0.1 on
 * a port the system picks. A thread per connection, so a delayed answer blocks
 * only its own connection. What it answers depends on the path:
 *
 *   /ok/ID[?delay_ms=N]        200, body "ok ID", after N ms
 *   /status/CODE               that status, body "status CODE"
 *   /flaky/ID?fail=K&code=C    C (default 500) to the first K requests for ID, then 200
 *   /throttle/ID?n=K&ra=S&form=date|seconds&code=C
 *                              C (default 429) with Retry-After S seconds (or the HTTP date S
 *                              seconds on) to the first K requests for ID; a request
 *                              for ID before that time gets 400 "too early"; then 200
 *   /close/ID?n=K              the first K requests for ID: connection closed
 *                              without an answer; then 200
 *   /slow/ID?chunks=N&ms=M     200, a body of N chunks "chunk i\n", M ms apart
 *   /big?bytes=N               200, N bytes: byte i is 'a' + i % 26
 *   /echo                      200, body "METHOD|X-Test header|body"
 *   /limited/ID?rate=R&burst=B 200 while the requests to /limited/ stay within a token
 *                              bucket of rate R a second and size B (+1 for
 *                              scheduling); 400 "over the limit" beyond it
 *   /bucket/ID?rate=R&burst=B  an API that throttles: a token bucket of rate R a second
 *                              and size B for all of /bucket/; beyond it 429 with
 *                              Retry-After (whole seconds until a token, at least 1);
 *                              a throttled request takes no token
 *   /quota/ID?limit=L&ms=W     a fixed window of W ms (default 1000) allowing L requests
 *                              (default 10), each answer with RateLimit-Limit,
 *                              RateLimit-Remaining and RateLimit-Reset (seconds,
 *                              rounded up); 429 beyond the limit
 *   /hostile/ID?ra=TEXT&n=K    the first K requests for ID (default 1): 429 with the header
 *                              Retry-After: TEXT as given (huge, negative, garbage, a
 *                              date in 9999), or no Retry-After when ra is absent; then 200
 *   /bomb?bytes=N              200, Content-Encoding: gzip, a small body that inflates to N
 *                              bytes of 'x'
 *   /record/ID[?delay_ms=N]    200 "recorded ID" (after N ms), keeping the request as it arrived:
 * method, every header, body (server_record) anything else              404
 *
 * Counters: hits (all requests), ok_200 and throttled (answers of /bucket/ and
 * /quota/), and per ID the requests it got (server_count). When log is set,
 * every request is appended to it as one line, "METHOD URL |name: value|...|
 * body=BODY" (the standalone server of the CLI tests, tests/cli/server.c). server_start /
 * server_stop; stop waits for the connection threads.
 */
#ifndef EMBER_TEST_SUPPORT_SERVER_H
#define EMBER_TEST_SUPPORT_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <zlib.h>

typedef struct test_server {
    struct MHD_Daemon *d;
    int port;
    atomic_long hits;
    pthread_mutex_t mu;
    /* per-ID counters: a small table */
    struct {
        char id[64];
        int n;
        double not_before;
    } ids[4096];
    int nids;
    double lim_tokens, lim_last;
    bool lim_started;
    double bk_tokens, bk_last;
    bool bk_started;
    double q_start;
    long q_used;
    atomic_long ok_200, throttled;
    /* /record/: the requests kept */
    struct ts_rec {
        char id[64];
        char method[16];
        char *headers; /* "name: value\n" each, names as sent */
        char *body;
    } recs[256];
    int nrecs;
    FILE *log;
    unsigned char *bomb; /* the last gzip bomb made, for bomb_n bytes */
    size_t bomb_len;
    long bomb_n;
    char *cert, *key; /* kept while the daemon runs */
} test_server;

static double ts_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The entry of id: its count of requests so far (after this one, when bump) and
 * its time. */
static int ts_entry(test_server *s, const char *id, double *not_before, double set_not_before,
                    bool bump)
{
    pthread_mutex_lock(&s->mu);
    int i;
    for (i = 0; i < s->nids; i++)
        if (!strcmp(s->ids[i].id, id))
            break;
    if (i == s->nids && s->nids < 4096) {
        snprintf(s->ids[i].id, sizeof s->ids[i].id, "%s", id);
        s->ids[i].n = 0;
        s->ids[i].not_before = 0;
        s->nids++;
    }
    int n = bump ? ++s->ids[i].n : s->ids[i].n;
    if (not_before)
        *not_before = s->ids[i].not_before;
    if (set_not_before > 0)
        s->ids[i].not_before = set_not_before;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int ts_bump(test_server *s, const char *id, double *not_before, double set_not_before)
{
    return ts_entry(s, id, not_before, set_not_before, true);
}

typedef struct ts_hbuf {
    char *p;
    size_t len, cap;
} ts_hbuf;

static enum MHD_Result ts_hdr(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    (void)kind;
    ts_hbuf *b = cls;
    size_t need = strlen(key) + strlen(value ? value : "") + 4;
    if (b->len + need >= b->cap) {
        b->cap = (b->len + need) * 2;
        b->p = realloc(b->p, b->cap);
    }
    b->len += (size_t)sprintf(b->p + b->len, "%s: %s\n", key, value ? value : "");
    return MHD_YES;
}

/* The requests /record/ID got so far. */
static int server_count(test_server *s, const char *id)
{
    char key[64];
    snprintf(key, sizeof key, "r%s", id);
    return ts_entry(s, key, NULL, 0, false);
}

/* The last kept request for id (after it answered), or NULL. */
static struct ts_rec *server_record(test_server *s, const char *id)
{
    struct ts_rec *r = NULL;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nrecs; i++)
        if (!strcmp(s->recs[i].id, id))
            r = &s->recs[i];
    pthread_mutex_unlock(&s->mu);
    return r;
}

static long ts_arg(struct MHD_Connection *c, const char *name, long dflt)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v ? atol(v) : dflt;
}

static enum MHD_Result ts_reply(struct MHD_Connection *c, unsigned status, const char *body,
                                const char *hname, const char *hval)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (hname)
        MHD_add_response_header(r, hname, hval);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

typedef struct ts_gen {
    long n, chunks, ms, sent;
} ts_gen;

static ssize_t ts_big(void *cls, uint64_t pos, char *buf, size_t max)
{
    ts_gen *g = cls;
    if ((long)pos >= g->n)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t k = (size_t)(g->n - (long)pos) < max ? (size_t)(g->n - (long)pos) : max;
    for (size_t i = 0; i < k; i++)
        buf[i] = (char)('a' + (pos + i) % 26);
    return (ssize_t)k;
}

static ssize_t ts_slow(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ts_gen *g = cls;
    if (g->sent >= g->chunks)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (g->sent)
        usleep((useconds_t)g->ms * 1000);
    int k = snprintf(buf, max, "chunk %ld\n", g->sent);
    g->sent++;
    return k;
}

typedef struct ts_conn {
    bool started;
    char acc[1 << 16]; /* the body as it comes */
    char uri[];        /* the URI as sent */
} ts_conn;

static void *ts_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)c;
    ts_conn *st = calloc(1, sizeof *st + strlen(uri) + 1);
    strcpy(st->uri, uri);
    return st;
}

static enum MHD_Result ts_handle(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    test_server *s = cls;
    /* gather an upload: the first call sets up, later ones bring data */
    /* the connection's state: made by ts_uri with the request line's URI as
     * sent (MHD hands the handler a decoded url); the first call only starts */
    ts_conn *st = *con_cls;
    if (!st->started) {
        st->started = true;
        return MHD_YES;
    }
    char *acc = st->acc;
    if (*upload_size) {
        size_t have = strlen(acc), n = *upload_size;
        if (have + n < (1 << 16) - 1)
            memcpy(acc + have, upload, n);
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s->hits, 1);
    char body[(1 << 16) + 256], id[64] = "";
    const char *rest;
    if (s->log) { /* METHOD URL | name: value | ... | body=BODY, one line */
        ts_hbuf hb = {calloc(1, 256), 0, 256};
        MHD_get_connection_values(c, MHD_HEADER_KIND, ts_hdr, &hb);
        for (size_t i = 0; i < hb.len; i++)
            if (hb.p[i] == '\n')
                hb.p[i] = '|';
        pthread_mutex_lock(&s->mu);
        fprintf(s->log, "%s %s |%s body=%s\n", method, st->uri, hb.p, acc);
        fflush(s->log);
        pthread_mutex_unlock(&s->mu);
        free(hb.p);
    }
    if (!strncmp(url, "/record/", 8)) {
        long ms = ts_arg(c, "delay_ms", 0);
        if (ms)
            usleep((useconds_t)ms * 1000);
        ts_hbuf hb = {calloc(1, 256), 0, 256};
        MHD_get_connection_values(c, MHD_HEADER_KIND, ts_hdr, &hb);
        snprintf(id, sizeof id, "r%s", url + 8);
        ts_bump(s, id, NULL, 0);
        pthread_mutex_lock(&s->mu);
        if (s->nrecs < 256) {
            struct ts_rec *r = &s->recs[s->nrecs++];
            snprintf(r->id, sizeof r->id, "%s", url + 8);
            snprintf(r->method, sizeof r->method, "%s", method);
            r->headers = hb.p;
            r->body = strdup(acc);
            hb.p = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        free(hb.p);
        snprintf(body, sizeof body, "recorded %s", url + 8);
        return ts_reply(c, 200, body, NULL, NULL);
    }
    if (!strncmp(url, "/hostile/", 9)) {
        snprintf(id, sizeof id, "h%s", url + 9);
        const char *ra = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ra");
        if (ts_bump(s, id, NULL, 0) <= ts_arg(c, "n", 1))
            return ts_reply(c, 429, "slow down", ra ? "Retry-After" : NULL, ra);
        return ts_reply(c, 200, "finally", NULL, NULL);
    }
    if (!strcmp(url, "/bomb")) {
        long want = ts_arg(c, "bytes", 1 << 20);
        pthread_mutex_lock(&s->mu);
        if (!s->bomb || s->bomb_n != want) {
            free(s->bomb);
            z_stream z = {0};
            deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
            size_t cap = deflateBound(&z, (uLong)want) + 64;
            unsigned char *zeros = malloc(1 << 20);
            memset(zeros, 'x', 1 << 20);
            s->bomb = malloc(cap);
            z.next_out = s->bomb;
            z.avail_out = (uInt)cap;
            for (long left = want; left > 0;) {
                long k = left < (1 << 20) ? left : (1 << 20);
                z.next_in = zeros;
                z.avail_in = (uInt)k;
                left -= k;
                deflate(&z, left ? Z_NO_FLUSH : Z_FINISH);
            }
            s->bomb_len = cap - z.avail_out;
            s->bomb_n = want;
            deflateEnd(&z);
            free(zeros);
        }
        struct MHD_Response *r =
            MHD_create_response_from_buffer(s->bomb_len, s->bomb, MHD_RESPMEM_MUST_COPY);
        pthread_mutex_unlock(&s->mu);
        MHD_add_response_header(r, "Content-Encoding", "gzip");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strncmp(url, "/bucket/", 8)) {
        double rate = (double)ts_arg(c, "rate", 2), burst = (double)ts_arg(c, "burst", 2);
        double now = ts_now(), need = 0;
        pthread_mutex_lock(&s->mu);
        if (!s->bk_started) {
            s->bk_started = true;
            s->bk_tokens = burst;
            s->bk_last = now;
        }
        s->bk_tokens += (now - s->bk_last) * rate;
        if (s->bk_tokens > burst)
            s->bk_tokens = burst;
        s->bk_last = now;
        bool over = s->bk_tokens < 1;
        if (over)
            need = (1 - s->bk_tokens) / rate;
        else
            s->bk_tokens -= 1;
        pthread_mutex_unlock(&s->mu);
        if (!over) {
            atomic_fetch_add(&s->ok_200, 1);
            return ts_reply(c, 200, "within", NULL, NULL);
        }
        atomic_fetch_add(&s->throttled, 1);
        char ra[32];
        long secs = (long)need + ((double)(long)need < need ? 1 : 0);
        snprintf(ra, sizeof ra, "%ld", secs < 1 ? 1 : secs);
        return ts_reply(c, 429, "slow down", "Retry-After", ra);
    }
    if (!strncmp(url, "/quota/", 7)) {
        long limit = ts_arg(c, "limit", 10), ms = ts_arg(c, "ms", 1000);
        double now = ts_now(), w = (double)ms / 1e3;
        pthread_mutex_lock(&s->mu);
        if (s->q_start == 0 || now >= s->q_start + w) {
            s->q_start =
                s->q_start == 0 ? now : s->q_start + w * (double)(long)((now - s->q_start) / w);
            s->q_used = 0;
        }
        bool over = s->q_used >= limit;
        if (!over)
            s->q_used++;
        long left = limit - s->q_used;
        double reset = s->q_start + w - now;
        pthread_mutex_unlock(&s->mu);
        char l[32], r[32], t[32];
        snprintf(l, sizeof l, "%ld", limit);
        snprintf(r, sizeof r, "%ld", left);
        long rs = (long)reset + ((double)(long)reset < reset ? 1 : 0);
        snprintf(t, sizeof t, "%ld", rs < 1 ? 1 : rs);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            over ? 10 : 6, (void *)(over ? "slow down\n" : "within"), MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "RateLimit-Limit", l);
        MHD_add_response_header(resp, "RateLimit-Remaining", r);
        MHD_add_response_header(resp, "RateLimit-Reset", t);
        enum MHD_Result ret = MHD_queue_response(c, over ? 429 : 200, resp);
        MHD_destroy_response(resp);
        atomic_fetch_add(over ? &s->throttled : &s->ok_200, 1);
        return ret;
    }
    if (!strncmp(url, "/ok/", 4)) {
        long ms = ts_arg(c, "delay_ms", 0);
        if (ms)
            usleep((useconds_t)ms * 1000);
        snprintf(body, sizeof body, "ok %s", url + 4);
        return ts_reply(c, 200, body, NULL, NULL);
    }
    if (!strncmp(url, "/status/", 8)) {
        snprintf(body, sizeof body, "status %s", url + 8);
        return ts_reply(c, (unsigned)atoi(url + 8), body, NULL, NULL);
    }
    if (!strncmp(url, "/flaky/", 7)) {
        snprintf(id, sizeof id, "f%s", url + 7);
        int n = ts_bump(s, id, NULL, 0);
        if (n <= ts_arg(c, "fail", 1))
            return ts_reply(c, (unsigned)ts_arg(c, "code", 500), "flaky", NULL, NULL);
        return ts_reply(c, 200, "recovered", NULL, NULL);
    }
    if (!strncmp(url, "/throttle/", 10)) {
        snprintf(id, sizeof id, "t%s", url + 10);
        long ra = ts_arg(c, "ra", 1);
        const char *form = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "form");
        bool date = form && !strcmp(form, "date");
        double now = ts_now(), nb;
        /* a date has whole seconds: the client may round down by one */
        double next = date ? (double)((time_t)now + ra) - 1 : now + (double)ra - 0.05;
        int n = ts_bump(s, id, &nb, 0);
        if (nb > 0 && now < nb)
            return ts_reply(c, 400, "too early", NULL, NULL);
        if (n <= ts_arg(c, "n", 1)) {
            ts_entry(s, id, NULL, next, false);
            char hv[64];
            if (date) {
                time_t at = (time_t)now + ra;
                struct tm tm;
                gmtime_r(&at, &tm);
                strftime(hv, sizeof hv, "%a, %d %b %Y %H:%M:%S GMT", &tm);
            } else {
                snprintf(hv, sizeof hv, "%ld", ra);
            }
            return ts_reply(c, (unsigned)ts_arg(c, "code", 429), "slow down", "Retry-After", hv);
        }
        return ts_reply(c, 200, "finally", NULL, NULL);
    }
    if ((rest = url, !strncmp(url, "/close/", 7))) {
        snprintf(id, sizeof id, "c%s", rest + 7);
        if (ts_bump(s, id, NULL, 0) <= ts_arg(c, "n", 1))
            return MHD_NO; /* closes the connection, no answer */
        return ts_reply(c, 200, "open", NULL, NULL);
    }
    if (!strncmp(url, "/slow/", 6) || !strcmp(url, "/big")) {
        ts_gen *g = calloc(1, sizeof *g);
        bool big = !strcmp(url, "/big");
        g->n = ts_arg(c, "bytes", 0);
        g->chunks = ts_arg(c, "chunks", 3);
        g->ms = ts_arg(c, "ms", 50);
        struct MHD_Response *r = MHD_create_response_from_callback(
            big ? (uint64_t)g->n : MHD_SIZE_UNKNOWN, 1 << 15, big ? ts_big : ts_slow, g, free);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strcmp(url, "/echo")) {
        const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
        snprintf(body, sizeof body, "%s|%s|%s", method, x ? x : "", acc);
        return ts_reply(c, 200, body, NULL, NULL);
    }
    if (!strncmp(url, "/limited/", 9)) {
        double rate = (double)ts_arg(c, "rate", 10), burst = (double)ts_arg(c, "burst", 1);
        double now = ts_now();
        bool over;
        pthread_mutex_lock(&s->mu);
        if (!s->lim_started) {
            s->lim_started = true;
            s->lim_tokens = burst + 1;
            s->lim_last = now;
        }
        s->lim_tokens += (now - s->lim_last) * rate;
        if (s->lim_tokens > burst + 1)
            s->lim_tokens = burst + 1;
        s->lim_last = now;
        over = s->lim_tokens < 1;
        if (!over)
            s->lim_tokens -= 1;
        pthread_mutex_unlock(&s->mu);
        return over ? ts_reply(c, 400, "over the limit", NULL, NULL)
                    : ts_reply(c, 200, "within", NULL, NULL);
    }
    return ts_reply(c, 404, "no such path", NULL, NULL);
}

static void ts_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static char *ts_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

/* Start a server (TLS with the certificate and key files when given). NULL on
 * failure, with the reason on stderr. */
static test_server *server_start(const char *cert_file, const char *key_file)
{
    test_server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    char *cert = NULL, *key = NULL;
    if (cert_file) {
        cert = ts_read_file(cert_file);
        key = ts_read_file(key_file);
        if (!cert || !key) {
            fprintf(stderr, "server_start: cannot read %s or %s\n", cert_file, key_file);
            free(s);
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    if (cert)
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, ts_handle, s, MHD_OPTION_SOCK_ADDR, &a,
                                MHD_OPTION_NOTIFY_COMPLETED, ts_done, s,
                                MHD_OPTION_URI_LOG_CALLBACK, ts_uri, s,
                                MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_HTTPS_MEM_CERT, cert,
                                MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    else
        s->d =
            MHD_start_daemon(flags, 0, NULL, NULL, ts_handle, s, MHD_OPTION_SOCK_ADDR, &a,
                             MHD_OPTION_NOTIFY_COMPLETED, ts_done, s, MHD_OPTION_URI_LOG_CALLBACK,
                             ts_uri, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    s->cert = cert;
    s->key = key;
    if (!s->d) {
        fprintf(stderr, "server_start: MHD_start_daemon failed\n");
        free(cert);
        free(key);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return s;
}

static void server_stop(test_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s->bomb);
    for (int i = 0; i < s->nrecs; i++) {
        free(s->recs[i].headers);
        free(s->recs[i].body);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->cert);
    free(s->key);
    free(s);
}

#endif
