/* ember_http, the transformation: its conf checked and completed with the
 * defaults, its strings copied, its shared state (the bucket, a curl share of
 * DNS answers and TLS sessions, the journal, the counters) made; and the
 * readers of its counters and pace.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include "core/conf.h"
#include "core/lazy.h"
#include "core/xxh.h"
#include "net/http_int.h"

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
    if (s->sh) {
        pthread_mutex_destroy(&s->sh->bucket.mu);
        munmap(s->sh, sizeof *s->sh);
    }
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
    if (ember__lib_load(&ember__libcurl)) { /* loaded when first used: core/lazy.h */
        curl_init_rc = CURLE_FAILED_INIT;
        return;
    }
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

static const ember__node_type http_type = {.name = "http",
                                           .flags = EMBER__NT_CALLS_OUT,
                                           .compute = ember__http_compute,
                                           .free = http_node_free};

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
    const char *bad =
        c.max_in_flight < 0 || c.max_in_flight > 65536 ? "max_in_flight (0 to 65536)"
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
        : !(c.max_retry_after >= 0 && c.max_retry_after <= T) ? "max_retry_after (0 to 10^7 s)"
        : c.method && !ember__http_method_ok(c.method) ? "method (an HTTP method in capitals)"
        : !(c.grace <= T) || c.grace != c.grace        ? "grace (at most 10^7 s)"
        : c.journal && !*c.journal                     ? "journal (an empty path)"
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
                                ember__libcurl.handle ? curl_easy_strerror(curl_init_rc)
                                                      : ember__libcurl.err);
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
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->share_mu[i], NULL);
    /* the bucket and the counters in shared memory: every task of the node,
     * in whichever process (process[N]), takes its tokens from one bucket */
    s->sh = mmap(NULL, sizeof *s->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->sh == MAP_FAILED) {
        s->sh = NULL;
        http_free(s);
        return ember__rdd_error(ctx, EMBER_ENOMEM, "http: out of memory");
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->sh->bucket.mu, &ma);
    pthread_mutexattr_destroy(&ma);
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
    s->sh->bucket.ceiling = c.rate / ranks;
    s->sh->bucket.burst_max = c.rate > 0 ? (c.burst / ranks >= 1 ? c.burst / ranks : 1) : INFINITY;
    s->sh->bucket.tokens = s->sh->bucket.burst_max < INFINITY ? s->sh->bucket.burst_max : 0;
    s->sh->bucket.last_ns = ember__now_ns();
    s->sh->bucket.adapt = !c.no_adapt;
    /* the conf's headers as shared lists */
    for (const char *const *h = c.headers; !rc && h && *h; h++) {
        struct curl_slist *l = curl_slist_append(s->hdrs, *h);
        if (!l)
            rc = EMBER_ENOMEM;
        else
            s->hdrs = l;
    }
    if (!rc && ember__http_merge_headers(&c, &s->hdrs_empty_body, false))
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
    *out = (ember_http_counts){
        atomic_load(&s->sh->live[C_SENT]),    atomic_load(&s->sh->live[C_SUCCEEDED]),
        atomic_load(&s->sh->live[C_RETRIED]), atomic_load(&s->sh->live[C_THROTTLED]),
        atomic_load(&s->sh->live[C_FAILED]),  atomic_load(&s->sh->live[C_RESUMED])};
    if (done)
        *done = atomic_load(&s->sh->done);
    return 0;
}

double ember_http_rate(ember_rdd *rdd)
{
    http_src *s = http_of(rdd);
    return s ? ember__bucket_now(&s->sh->bucket) : 0;
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
    int rc = ember__http_parse_request(&e, &s, ember_bytes_of(request, rlen), why, sizeof why);
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
        if (ember__http_on_header(line, 1, n, &s) != n)
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
