/* ember_http against a scripted server on 127.0.0.1: one output per input, in
 * order; retries, throttling with Retry-After in both forms, a shared rate
 * limit the server checks, closed connections, slow bodies, timeouts, refused
 * ports, unknown hosts, TLS verification, huge bodies, invalid requests. */
#include "support.h"
#include "support_server.h"

static test_server *srv, *tls_srv;
static char base[64], tls_base[64];

static int setup(void **state)
{
    srv = server_start(NULL, NULL);
    tls_srv = server_start(EMBER_TEST_DATA "/tls/cert.pem", EMBER_TEST_DATA "/tls/key.pem");
    if (!srv || !tls_srv)
        return -1;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", srv->port);
    snprintf(tls_base, sizeof tls_base, "https://127.0.0.1:%d", tls_srv->port);
    return 0;
}

static int teardown(void **state)
{
    server_stop(srv);
    server_stop(tls_srv);
    return 0;
}

/* An rdd of the request lines, in `parts` partitions. */
static ember_rdd *requests(ember_ctx *ctx, char **lines, size_t n, int parts)
{
    ember_bytes *items = calloc(n, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = ember_str(lines[i]);
    ember_rdd *r = ember_parallelize(ctx, items, n, parts);
    free(items);
    return r;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    assert_true(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return s;
}

static void free_lines(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* Run one rdd of requests and return its responses (collected). */
static ember_result *run(ember_rdd *h)
{
    ember_result *res = NULL;
    int rc = ember_collect(h, &res);
    if (rc)
        fprintf(stderr, "collect: %s\n", ember_errmsg(NULL));
    assert_int_equal(rc, 0);
    return res;
}

static ember_http_response resp(const ember_result *res, size_t i)
{
    ember_http_response r;
    assert_int_equal(ember_http_response_get(ember_result_at(res, i).val, &r), 0);
    return r;
}

static void assert_contains(ember_bytes b, const char *needle)
{
    if (!memmem(b.ptr, b.len, needle, strlen(needle))) {
        fprintf(stderr, "'%.*s' lacks '%s'\n", (int)b.len, (const char *)b.ptr, needle);
        fail();
    }
}

static void test_many_in_order(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    size_t n = 300;
    char **l = calloc(n, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = fmt("%s/ok/%zu?delay_ms=%zu", base, i, (i * 37) % 20);
    ember_rdd *h = ember_http(requests(ctx, l, n, 3), &(ember_http_conf){.max_in_flight = 32});
    ember_result *res = run(h);
    assert_int_equal(ember_result_len(res), n);
    for (size_t i = 0; i < n; i++) {
        ember_http_response r = resp(res, i);
        char want[32];
        snprintf(want, sizeof want, "ok %zu", i);
        assert_int_equal(r.status, 200);
        assert_true(r.ok);
        assert_int_equal(r.attempts, 1);
        assert_bytes(r.body, want);
        assert_bytes(r.error, "");
        assert_true(r.latency >= 0);
        assert_bytes(ember_http_response_header(&r, "content-type"), "");
    }
    ember_result_free(res);
    ember_http_counts c;
    assert_int_equal(ember_http_counters(h, &c), 0);
    assert_int_equal(c.sent, (int64_t)n);
    assert_int_equal(c.succeeded, (int64_t)n);
    assert_int_equal(c.failed + c.retried + c.throttled, 0);
    /* the counters are named accumulators, listed by the stats */
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    ember_stats_print(ctx, f);
    fclose(f);
    assert_non_null(strstr(text, "].sent=300 "));
    assert_non_null(strstr(text, "].succeeded=300 "));
    assert_non_null(strstr(text, "].failed=0 "));
    assert_non_null(strstr(text, "].resumed=0\n"));
    free(text);
    free_lines(l, n);
    ember_close(ctx);
}

/* (request, index) -> (index, request) */
static int swap(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair(out, in.val, in.key);
}

/* JSON requests: method, headers, body (text or JSON); keys carried over. */
static void test_json_requests_and_keys(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *v[3] = {fmt("{\"method\":\"POST\",\"url\":\"%s/echo\",\"headers\":{\"X-Test\":\"one\"},"
                      "\"body\":\"hello\"}",
                      base),
                  fmt("{\"method\":\"PUT\",\"url\":\"%s/echo\",\"headers\":[\"X-Test: two\"],"
                      "\"body\":{\"a\":[1,2]}}",
                      base),
                  fmt("  %s/echo  ", base)};
    ember_rec recs[3];
    const char *keys[3] = {"k1", "k2", "k3"};
    ember_bytes items[3];
    for (int i = 0; i < 3; i++)
        items[i] = ember_str(v[i]);
    ember_rdd *src = ember_parallelize(ctx, items, 3, 2);
    /* key each request */
    ember_rdd *keyed = ember_map(ember_zip_with_index(src), swap, NULL);
    (void)recs;
    (void)keys;
    ember_rdd *h = ember_http(keyed, NULL);
    ember_result *res = run(h);
    assert_int_equal(ember_result_len(res), 3);
    const char *want[3] = {"POST|one|hello", "PUT|two|{\"a\":[1,2]}", "GET||"};
    for (size_t i = 0; i < 3; i++) {
        ember_rec rec = ember_result_at(res, i);
        assert_int_equal(ember_i64(rec.key), (int64_t)i); /* the input's key, kept */
        ember_http_response r = resp(res, i);
        assert_int_equal(r.status, 200);
        assert_bytes(r.body, want[i]);
    }
    ember_result_free(res);
    for (int i = 0; i < 3; i++)
        free(v[i]);
    ember_close(ctx);
}

static void test_5xx_retried_then_final(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *l[4] = {fmt("%s/flaky/a?fail=2", base), fmt("%s/status/500", base),
                  fmt("{\"method\":\"POST\",\"url\":\"%s/flaky/b?fail=1\"}", base),
                  fmt("%s/status/404", base)};
    ember_rdd *h = ember_http(requests(ctx, l, 4, 2),
                              &(ember_http_conf){.max_attempts = 3, .backoff_base = 0.01});
    ember_result *res = run(h);
    ember_http_response r = resp(res, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 3);
    assert_bytes(r.body, "recovered");
    r = resp(res, 1);
    assert_int_equal(r.status, 500);
    assert_false(r.ok);
    assert_int_equal(r.attempts, 3);
    assert_bytes(r.error, "HTTP 500 after 3 attempts");
    assert_bytes(r.body, "status 500"); /* the last answer's body is kept */
    r = resp(res, 2);                   /* POST is not retried */
    assert_int_equal(r.status, 500);
    assert_int_equal(r.attempts, 1);
    r = resp(res, 3); /* 4xx: final at once */
    assert_int_equal(r.status, 404);
    assert_int_equal(r.attempts, 1);
    assert_false(r.ok);
    ember_result_free(res);
    ember_http_counts c;
    assert_int_equal(ember_http_counters(h, &c), 0);
    assert_int_equal(c.sent, 3 + 3 + 1 + 1);
    assert_int_equal(c.retried, 4);
    assert_int_equal(c.succeeded, 1);
    assert_int_equal(c.failed, 3);

    /* retry_unsafe: the POST is sent again */
    ember_rdd *h2 = ember_http(requests(ctx, l + 2, 1, 1),
                               &(ember_http_conf){.retry_unsafe = true, .backoff_base = 0.01});
    res = run(h2);
    /* the server's count for b goes on: the second request succeeds */
    r = resp(res, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 1);
    ember_result_free(res);
    for (int i = 0; i < 4; i++)
        free(l[i]);
    ember_close(ctx);
}

/* 429 with Retry-After in seconds and as an HTTP date: the server answers 400
 * "too early" to a request that does not wait. */
static void test_retry_after_both_forms(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *l[4] = {
        fmt("%s/throttle/s1?n=1&ra=1", base), fmt("%s/throttle/d1?n=1&ra=2&form=date", base),
        fmt("%s/throttle/s2?n=2&ra=1", base), fmt("%s/throttle/u1?n=1&ra=1&code=503", base)};
    /* (a fixed rate: each throttled answer here is about one request, which an
     * adaptive pace would take for a low limit and go slowly) */
    ember_rdd *h = ember_http(requests(ctx, l, 4, 3), &(ember_http_conf){.no_adapt = true});
    ember_result *res = run(h);
    int want[4] = {2, 2, 3, 2};
    for (size_t i = 0; i < 4; i++) {
        ember_http_response r = resp(res, i);
        assert_int_equal(r.status, 200);
        assert_bytes(r.body, "finally");
        assert_int_equal(r.attempts, want[i]);
    }
    ember_result_free(res);
    ember_http_counts c;
    assert_int_equal(ember_http_counters(h, &c), 0);
    assert_int_equal(c.throttled, 5); /* the 503 with Retry-After counts as throttled */
    assert_int_equal(c.retried, 0);

    /* throttled past max_throttled: a final error, never a silent drop */
    char *t = fmt("%s/throttle/s3?n=100&ra=0", base);
    ember_rdd *h2 = ember_http(requests(ctx, &t, 1, 1),
                               &(ember_http_conf){.max_throttled = 2, .backoff_base = 0.01});
    res = run(h2);
    ember_http_response r = resp(res, 0);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.attempts, 3);
    assert_bytes(r.error, "HTTP 429: throttled 3 times");
    ember_result_free(res);
    free(t);
    for (int i = 0; i < 4; i++)
        free(l[i]);
    ember_close(ctx);
}

/* The bucket is shared by the tasks: 60 requests from 3 tasks at once stay
 * within 20 a second with a burst of 5, which the server checks. */
static void test_rate_limit_shared(void **state)
{
    ember_ctx *ctx = open_ctx("local[3]");
    size_t n = 60;
    char **l = calloc(n, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = fmt("%s/limited/%zu?rate=20&burst=5", base, i);
    ember_rdd *h = ember_http(requests(ctx, l, n, 3),
                              &(ember_http_conf){.rate = 20, .burst = 5, .max_in_flight = 64});
    ember_result *res = run(h);
    for (size_t i = 0; i < n; i++) {
        ember_http_response r = resp(res, i);
        if (r.status != 200)
            fprintf(stderr, "request %zu: %d %.*s\n", i, r.status, (int)r.body.len,
                    (const char *)r.body.ptr);
        assert_int_equal(r.status, 200);
    }
    ember_result_free(res);
    free_lines(l, n);
    ember_close(ctx);
}

static void test_closed_slow_timeout(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *l[5] = {fmt("%s/close/x?n=1", base), fmt("%s/close/y?n=100", base),
                  fmt("%s/slow/a?chunks=4&ms=50", base), fmt("%s/ok/t?delay_ms=2500", base),
                  fmt("%s/slow/b?chunks=10&ms=200", base)};
    ember_rdd *h =
        ember_http(requests(ctx, l, 5, 2),
                   &(ember_http_conf){.max_attempts = 2, .backoff_base = 0.01, .timeout = 1});
    ember_result *res = run(h);
    ember_http_response r = resp(res, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 2);
    r = resp(res, 1);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    assert_contains(r.error, "nothing");
    r = resp(res, 2);
    assert_int_equal(r.status, 200);
    assert_bytes(r.body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
    r = resp(res, 3);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    assert_contains(r.error, "Timeout");
    r = resp(res, 4); /* a body slower than the timeout */
    assert_false(r.ok);
    assert_contains(r.error, "Timeout");
    assert_int_equal(r.body.len, 0);
    ember_result_free(res);
    for (int i = 0; i < 5; i++)
        free(l[i]);
    ember_close(ctx);
}

static void test_refused_unknown_host_total_timeout(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *l[3] = {fmt("http://127.0.0.1:1/nothing"), fmt("http://nonexistent.invalid/x"),
                  fmt("%s/status/503", base)};
    ember_rdd *h = ember_http(
        requests(ctx, l, 3, 1),
        &(ember_http_conf){.max_attempts = 3, .backoff_base = 0.01, .total_timeout = 0}); /* none */
    ember_result *res = run(h);
    ember_http_response r = resp(res, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 3);
    assert_contains(r.error, "connect");
    r = resp(res, 1);
    assert_int_equal(r.attempts, 1); /* not retried */
    assert_contains(r.error, "resolve");
    r = resp(res, 2);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 3);
    ember_result_free(res);

    /* a total timeout ends the retries of a request that keeps failing (5 s:
     * room for a first answer on a loaded machine under a sanitizer; 2 s once
     * was not, with the whole suite running beside it) */
    ember_rdd *h2 = ember_http(requests(ctx, l + 2, 1, 1), &(ember_http_conf){.max_attempts = 1000,
                                                                              .backoff_base = 0.1,
                                                                              .backoff_max = 0.1,
                                                                              .total_timeout = 5});
    res = run(h2);
    r = resp(res, 0);
    assert_int_equal(r.status, 503);
    assert_true(r.attempts >= 2 && r.attempts < 1000);
    ember_result_free(res);
    for (int i = 0; i < 3; i++)
        free(l[i]);
    ember_close(ctx);
}

static void test_tls_verification(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    char *u = fmt("%s/ok/secure", tls_base);
    ember_http_response r;
    /* a self-signed certificate is rejected by default, and not retried */
    ember_result *res = run(ember_http(requests(ctx, &u, 1, 1), NULL));
    r = resp(res, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 1);
    assert_contains(r.error, "certificate");
    ember_result_free(res);
    /* trusted through ca_file, or with verification off */
    res = run(ember_http(requests(ctx, &u, 1, 1),
                         &(ember_http_conf){.ca_file = EMBER_TEST_DATA "/tls/cert.pem"}));
    r = resp(res, 0);
    assert_int_equal(r.status, 200);
    assert_bytes(r.body, "ok secure");
    ember_result_free(res);
    res = run(ember_http(requests(ctx, &u, 1, 1), &(ember_http_conf){.insecure = true}));
    assert_int_equal(resp(res, 0).status, 200);
    ember_result_free(res);
    free(u);
    ember_close(ctx);
}

static void test_huge_body(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    long n = 20 << 20;
    char *u = fmt("%s/big?bytes=%ld", base, n);
    ember_result *res = run(ember_http(requests(ctx, &u, 1, 1), NULL));
    ember_http_response r = resp(res, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, (size_t)n);
    const unsigned char *b = r.body.ptr;
    for (long i = 0; i < n; i += 4099)
        assert_int_equal(b[i], 'a' + i % 26);
    ember_result_free(res);
    res = run(ember_http(requests(ctx, &u, 1, 1), &(ember_http_conf){.max_body = 1 << 20}));
    r = resp(res, 0);
    assert_false(r.ok);
    assert_int_equal(r.attempts, 1);
    assert_bytes(r.error, "the answer is larger than max_body (1048576 bytes)");
    assert_int_equal(r.body.len, 0);
    ember_result_free(res);
    free(u);
    ember_close(ctx);
}

static void test_invalid_requests(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    char *l[7] = {
        fmt("%s/ok/1", base),       strdup(""),
        fmt("ftp://example.com/x"), fmt("{bad json"),
        fmt("{\"url\": 5}"),        fmt("{\"url\": \"%s/ok/2\", \"method\": \"get\"}", base),
        fmt("%s/ok/3", base)};
    ember_rdd *h = ember_http(requests(ctx, l, 7, 1), NULL);
    ember_result *res = run(h);
    assert_int_equal(ember_result_len(res), 7);
    assert_int_equal(resp(res, 0).status, 200);
    assert_int_equal(resp(res, 6).status, 200);
    const char *why[5] = {
        "record 1 of partition 0: an empty record", "record 2 of partition 0: not a URL",
        "record 3 of partition 0: not a JSON request object",
        "record 4 of partition 0: \"url\" must be", "record 5 of partition 0: \"method\" must be"};
    for (size_t i = 1; i <= 5; i++) {
        ember_http_response r = resp(res, i);
        assert_int_equal(r.attempts, 0);
        assert_int_equal(r.status, 0);
        assert_false(r.ok);
        assert_contains(r.error, why[i - 1]);
    }
    ember_result_free(res);
    ember_http_counts c;
    assert_int_equal(ember_http_counters(h, &c), 0);
    assert_int_equal(c.sent, 2);
    assert_int_equal(c.failed, 5);
    for (int i = 0; i < 7; i++)
        free(l[i]);
    ember_close(ctx);
}

/* The response as JSON; take stops early; a failing step after http leaves the
 * context usable; a bad conf is named. */
static void test_json_take_errors(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    size_t n = 50;
    char **l = calloc(n, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = fmt("%s/ok/%zu", base, i);
    ember_rdd *h = ember_http(requests(ctx, l, n, 1), &(ember_http_conf){.max_in_flight = 4});
    ember_result *res;
    long hits0 = atomic_load(&srv->hits);
    assert_int_equal(ember_take(h, 3, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    assert_true(atomic_load(&srv->hits) - hits0 <= 3 + 4);
    ember_buf j = {0};
    assert_int_equal(ember_http_response_json(ember_result_at(res, 2).val, &j), 0);
    char want[256];
    snprintf(
        want, sizeof want,
        "{\"url\":\"%s/ok/2\",\"status\":200,\"ok\":true,\"attempts\":1,\"latency_ms\":", base);
    assert_int_equal(strncmp((const char *)j.ptr, want, strlen(want)), 0);
    assert_non_null(memmem(j.ptr, j.len, "\"headers\":{}", 12));
    assert_non_null(memmem(j.ptr, j.len, "\"body\":\"ok 2\",\"error\":null}", 27));
    ember_buf_destroy(&j);
    ember_result_free(res);
    assert_int_equal(ember_http_response_json(B("not a response"), &j), EMBER_EINVAL);

    ember_rdd *bad = ember_http(h, &(ember_http_conf){.rate = -1});
    int64_t cnt;
    assert_int_equal(ember_count(bad, &cnt), EMBER_EINVAL);
    assert_msg(ctx, "http: bad conf: rate (0, or 0.0001 to 10^9 requests a second)");
    assert_int_equal(count_of(h), (int64_t)n);
    free_lines(l, n);
    ember_close(ctx);
}

static bool has_line(const char *headers, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = headers; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len == n && !strncasecmp(p, line, n))
            return true;
        p = eol ? eol + 1 : p + len;
    }
    return false;
}

static bool has_name(const char *headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = headers; p && *p;) {
        if (!strncasecmp(p, name, n) && p[n] == ':')
            return true;
        const char *eol = strchr(p, '\n');
        p = eol ? eol + 1 : p + strlen(p);
    }
    return false;
}

/* What the server received: the conf's headers on every request, a JSON
 * request's own header winning on a clash; no body headers on a bare GET; an
 * empty body on a bare POST; a JSON body typed as JSON. */
static void test_headers_arrive(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    const char *hdrs[] = {"X-Api-Key: k1", "Accept: application/json", NULL};
    char *l[3] = {
        fmt("%s/record/h-get", base),
        fmt("{\"method\":\"POST\",\"url\":\"%s/record/h-json\",\"headers\":"
            "{\"x-api-key\":\"own\"},\"body\":{\"a\":1}}",
            base),
        fmt("{\"url\":\"%s/record/h-text\",\"method\":\"PUT\",\"body\":\"plain\"}", base)};
    ember_result *res =
        run(ember_http(requests(ctx, l, 3, 2), &(ember_http_conf){.headers = hdrs}));
    for (int i = 0; i < 3; i++)
        assert_int_equal(resp(res, (size_t)i).status, 200);
    ember_result_free(res);

    struct ts_rec *r = server_record(srv, "h-get");
    assert_non_null(r);
    assert_string_equal(r->method, "GET");
    assert_true(has_line(r->headers, "X-Api-Key: k1"));
    assert_true(has_line(r->headers, "Accept: application/json"));
    assert_false(has_name(r->headers, "Content-Length"));
    assert_false(has_name(r->headers, "Content-Type"));
    assert_string_equal(r->body, "");

    r = server_record(srv, "h-json");
    assert_non_null(r);
    assert_string_equal(r->method, "POST");
    assert_true(has_line(r->headers, "x-api-key: own"));
    assert_false(has_line(r->headers, "X-Api-Key: k1")); /* sent once, the request's own */
    assert_true(has_line(r->headers, "Accept: application/json"));
    assert_true(has_line(r->headers, "Content-Type: application/json"));
    assert_string_equal(r->body, "{\"a\":1}");

    r = server_record(srv, "h-text");
    assert_non_null(r);
    assert_string_equal(r->method, "PUT");
    assert_true(has_line(r->headers, "X-Api-Key: k1"));
    assert_string_equal(r->body, "plain");

    /* a bare URL sent as POST: an empty body, no form type */
    char *u = fmt("%s/record/h-post", base);
    res = run(
        ember_http(requests(ctx, &u, 1, 1), &(ember_http_conf){.headers = hdrs, .method = "POST"}));
    assert_int_equal(resp(res, 0).status, 200);
    ember_result_free(res);
    r = server_record(srv, "h-post");
    assert_non_null(r);
    assert_string_equal(r->method, "POST");
    assert_true(has_line(r->headers, "Content-Length: 0"));
    assert_false(has_name(r->headers, "Content-Type"));
    assert_true(has_line(r->headers, "X-Api-Key: k1"));

    /* a header the conf cannot send is refused before any request */
    const char *bad[] = {"X-Api-Key k1", NULL};
    long hits = atomic_load(&srv->hits);
    assert_int_equal(
        ember_count(ember_http(requests(ctx, &u, 1, 1), &(ember_http_conf){.headers = bad}),
                    &(int64_t){0}),
        EMBER_EINVAL);
    assert_msg(ctx, "header 'X-Api-Key k1' is not \"Name: value\"");
    const char *crlf[] = {"X-A: 1\r\nX-B: 2", NULL};
    assert_int_equal(
        ember_count(ember_http(requests(ctx, &u, 1, 1), &(ember_http_conf){.headers = crlf}),
                    &(int64_t){0}),
        EMBER_EINVAL);
    assert_int_equal(atomic_load(&srv->hits), hits);
    free(u);
    for (int i = 0; i < 3; i++)
        free(l[i]);
    ember_close(ctx);
}

typedef struct canceller {
    ember_ctx *ctx;
    ember_rdd *rdd; /* an http rdd: cancel once `after` inputs are done */
    int64_t after;
    atomic_bool *go; /* or: cancel once this is set */
} canceller;

static void *cancel_main(void *arg)
{
    canceller *c = arg;
    for (int i = 0; i < 30000; i++) { /* 30 s at most */
        int64_t done = 0;
        ember_http_counts hc;
        if (c->rdd && !ember_http_progress(c->rdd, &hc, &done) && done >= c->after)
            break;
        if (c->go && atomic_load(c->go))
            break;
        usleep(1000);
    }
    ember_cancel(c->ctx);
    return NULL;
}

static char *temp_dir(void)
{
    char *d = strdup("/tmp/ember-http-test-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

/* ember_cancel during ember_http with a journal: the action fails with
 * EMBER_ECANCELED, the requests in flight are waited for and journaled, the
 * context stays usable; run again, the job sends only what had no answer, and
 * the server saw every request exactly once. */
static void test_cancel_then_resume(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *dir = temp_dir(), *journal = fmt("%s/journal", dir);
    size_t n = 60;
    char **l = calloc(n, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = fmt("%s/record/cr%zu?delay_ms=150", base, i);
    ember_http_conf hc = {.max_in_flight = 4, .journal = journal, .journal_tag = "sixty"};
    ember_rdd *h = ember_http(requests(ctx, l, n, 2), &hc);
    canceller c = {ctx, h, 10, NULL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_main, &c), 0);
    ember_result *res = NULL;
    assert_int_equal(ember_collect(h, &res), EMBER_ECANCELED);
    pthread_join(th, NULL);
    assert_null(res);
    assert_msg(ctx, "collect cancelled");
    assert_false(ember_cancelled(ctx));
    ember_http_counts hc1;
    int64_t done1 = 0;
    assert_int_equal(ember_http_progress(h, &hc1, &done1), 0);
    assert_true(done1 >= 10 && done1 < (int64_t)n);
    /* the context is usable: another action runs */
    assert_int_equal(count_of(ember_range(ctx, 0, 100, 1, 4)), 100);

    /* run again with the journal: only the rest is sent */
    ember_rdd *h2 = ember_http(requests(ctx, l, n, 3), &hc); /* other partitions too */
    res = run(h2);
    assert_int_equal(ember_result_len(res), n);
    for (size_t i = 0; i < n; i++) {
        ember_http_response r = resp(res, i);
        char want[32], id[32];
        snprintf(want, sizeof want, "recorded cr%zu", i);
        snprintf(id, sizeof id, "cr%zu", i);
        assert_int_equal(r.status, 200);
        assert_bytes(r.body, want);
        assert_int_equal(server_count(srv, id), 1); /* nothing sent twice, nothing lost */
    }
    ember_result_free(res);
    ember_http_counts c2;
    assert_int_equal(ember_http_counters(h2, &c2), 0);
    assert_true(c2.resumed >= done1);
    assert_int_equal(c2.resumed + c2.sent, (int64_t)n);
    assert_int_equal(c2.succeeded, (int64_t)n);

    /* a third run sends nothing */
    long hits = atomic_load(&srv->hits);
    ember_rdd *h3 = ember_http(requests(ctx, l, n, 1), &hc);
    res = run(h3);
    assert_int_equal(ember_result_len(res), n);
    ember_result_free(res);
    assert_int_equal(atomic_load(&srv->hits), hits);
    assert_int_equal(ember_http_counters(h3, &c2), 0);
    assert_int_equal(c2.resumed, (int64_t)n);
    assert_int_equal(c2.sent, 0);
    free_lines(l, n);
    free(journal);
    assert_int_equal(remove_tree(dir), 0);
    free(dir);
    ember_close(ctx);
}

/* A journal of another job or of other options is refused and named; a torn
 * last frame is cut; a failed answer is sent again only with retry_failed; a
 * journal with no whole header yet is a new one. */
static void test_journal_refusals(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    char *dir = temp_dir(), *journal = fmt("%s/j", dir);
    char *l[2] = {fmt("%s/record/jr-a", base), fmt("%s/status/500", base)};
    ember_http_conf hc = {.journal = journal, .journal_tag = "job A", .max_attempts = 1};
    ember_result *res = run(ember_http(requests(ctx, l, 2, 1), &hc));
    assert_int_equal(resp(res, 0).status, 200);
    assert_int_equal(resp(res, 1).status, 500);
    ember_result_free(res);

    hc.journal_tag = "job B";
    int64_t cnt;
    assert_int_equal(ember_count(ember_http(requests(ctx, l, 2, 1), &hc), &cnt), EMBER_EINVAL);
    assert_msg(ctx, "was written by another job: it is for \"job A\", this job is for \"job B\"");
    hc.journal_tag = "job A";
    const char *hdrs[] = {"X-Other: 1", NULL};
    ember_http_conf other = hc;
    other.headers = hdrs;
    assert_int_equal(ember_count(ember_http(requests(ctx, l, 2, 1), &other), &cnt), EMBER_EINVAL);
    assert_msg(ctx, "was written with other request options");

    /* a torn frame at the end (a kill during a write) is cut off */
    FILE *f = fopen(journal, "ab");
    assert_non_null(f);
    fwrite("J\x40\x00\x00\x00partial", 1, 12, f);
    fclose(f);
    long hits = atomic_load(&srv->hits);
    ember_rdd *h = ember_http(requests(ctx, l, 2, 1), &hc);
    res = run(h);
    assert_int_equal(resp(res, 0).status, 200);
    assert_int_equal(resp(res, 1).status, 500); /* the failure, from the journal */
    ember_result_free(res);
    assert_int_equal(atomic_load(&srv->hits), hits);
    assert_int_equal(server_count(srv, "jr-a"), 1);
    /* retry_failed sends the failed one again, and only it */
    hc.retry_failed = true;
    res = run(ember_http(requests(ctx, l, 2, 1), &hc));
    ember_result_free(res);
    assert_int_equal(atomic_load(&srv->hits), hits + 1);
    assert_int_equal(server_count(srv, "jr-a"), 1);

    /* a file that is not a journal */
    char *notj = fmt("%s/notes.txt", dir);
    f = fopen(notj, "w");
    fputs("my notes\n", f);
    fclose(f);
    hc.journal = notj;
    assert_int_equal(ember_count(ember_http(requests(ctx, l, 2, 1), &hc), &cnt), EMBER_EINVAL);
    assert_msg(ctx, "notes.txt is not an ember http journal");

    /* a journal killed inside its header, and another rank's journal just
     * created (empty): both are journals with no answers yet, sent again */
    char *cut = fmt("%s/cut", dir), *other_rank = fmt("%s/cut.rank-1", dir);
    f = fopen(cut, "w");
    fputs("ember-http-jour", f);
    fclose(f);
    fclose(fopen(other_rank, "w"));
    hc.journal = cut;
    hc.retry_failed = false;
    hits = atomic_load(&srv->hits);
    assert_int_equal(ember_count(ember_http(requests(ctx, l, 2, 1), &hc), &cnt), 0);
    assert_int_equal(atomic_load(&srv->hits), hits + 2);
    f = fopen(cut, "r");
    char head[32] = "";
    assert_non_null(fgets(head, sizeof head, f));
    fclose(f);
    assert_string_equal(head, "ember-http-journal 1\n"); /* the header, whole */
    res = run(ember_http(requests(ctx, l, 2, 1), &hc));  /* now answered from the journal */
    ember_result_free(res);
    assert_int_equal(atomic_load(&srv->hits), hits + 2);
    free(cut);
    free(other_rank);
    free(notj);
    free(l[0]);
    free(l[1]);
    free(journal);
    assert_int_equal(remove_tree(dir), 0);
    free(dir);
    ember_close(ctx);
}

static int slow_square(ember_rec in, ember_out *out, void *arg)
{
    atomic_store((atomic_bool *)arg, true);
    int64_t v = ember_i64(in.val);
    usleep(100);
    return ember_emit_i64(out, v * v);
}

/* Any action honours ember_cancel; a cancel with no action running cancels
 * the next one; the context stays usable. */
static void test_cancel_any_action(void **state)
{
    ember_ctx *ctx = open_ctx("local[2,4]");
    atomic_bool started = false;
    ember_rdd *big = ember_map(ember_range(ctx, 0, 100000000, 1, 8), slow_square, &started);
    canceller c = {ctx, NULL, 0, &started};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_main, &c), 0);
    int64_t n = 0;
    assert_int_equal(ember_count(big, &n), EMBER_ECANCELED);
    pthread_join(th, NULL);
    assert_msg(ctx, "count cancelled");
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_true(js.total.attempts <= 8); /* a cancelled task is not retried */
    assert_int_equal(count_of(ember_range(ctx, 0, 10, 1, 2)), 10);

    ember_cancel(ctx);
    assert_true(ember_cancelled(ctx));
    assert_int_equal(ember_count(ember_range(ctx, 0, 10, 1, 2), &n), EMBER_ECANCELED);
    assert_false(ember_cancelled(ctx));
    assert_int_equal(count_of(ember_range(ctx, 0, 10, 1, 2)), 10);
    ember_close(ctx);
}

/* An API that allows 20 requests a second (burst 2, 429 with Retry-After):
 * with no rate set and 64 in flight, the pace adapts, so the server answers
 * far fewer 429s than a fixed bucket would draw (one a request, or more). */
static void test_rate_adapts(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    size_t n = 100;
    char **l = calloc(n, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = fmt("%s/bucket/%zu?rate=20&burst=2", base, i);
    long t0 = atomic_load(&srv->throttled), ok0 = atomic_load(&srv->ok_200);
    ember_rdd *h = ember_http(requests(ctx, l, n, 1), &(ember_http_conf){.max_in_flight = 64});
    ember_result *res = run(h);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(resp(res, i).status, 200);
    ember_result_free(res);
    long throttled = atomic_load(&srv->throttled) - t0;
    assert_int_equal(atomic_load(&srv->ok_200) - ok0, (long)n);
    /* the first burst of 64 meets a bucket of 2: 62 are throttled; after that, few */
    if (getenv("EMBER_TEST_VERBOSE") || throttled >= (long)n)
        fprintf(stderr, "%ld throttled answers for %zu requests\n", throttled, n);
    assert_true(throttled < (long)n);
    ember_http_counts c;
    assert_int_equal(ember_http_counters(h, &c), 0);
    assert_int_equal(c.throttled, throttled);
    assert_true(ember_http_rate(h) > 0); /* the pace it found */
    free_lines(l, n);
    ember_close(ctx);
}

/* RateLimit headers set the pace: a quota of 10 a second, 40 requests with 8
 * in flight, and the server has to throttle almost none. */
static void test_ratelimit_headers(void **state)
{
    ember_ctx *ctx = open_ctx("local[1]");
    size_t n = 40;
    char **l = calloc(n, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = fmt("%s/quota/%zu?limit=10&ms=1000", base, i);
    long t0 = atomic_load(&srv->throttled);
    ember_rdd *h = ember_http(requests(ctx, l, n, 1), &(ember_http_conf){.max_in_flight = 8});
    ember_result *res = run(h);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(resp(res, i).status, 200);
    ember_result_free(res);
    long throttled = atomic_load(&srv->throttled) - t0;
    if (getenv("EMBER_TEST_VERBOSE") || throttled > 4)
        fprintf(stderr, "%ld throttled answers\n", throttled);
    assert_true(throttled <= 4);
    free_lines(l, n);
    ember_close(ctx);
}

/* A hostile server: Retry-After huge, in 9999, negative, garbage, or missing;
 * every request still ends (an answer or an error line), none waits past the
 * caps. */
static void test_hostile_retry_after(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    char *l[6] = {fmt("%s/hostile/a?ra=315360000", base),
                  fmt("%s/hostile/b?ra=Fri,%%2031%%20Dec%%209999%%2023:59:59%%20GMT", base),
                  fmt("%s/hostile/c?ra=18446744074", base),
                  fmt("%s/hostile/d?ra=-5", base),
                  fmt("%s/hostile/e?ra=soon", base),
                  fmt("%s/hostile/f", base)};
    /* the longest pause is cut to max_retry_after */
    ember_rdd *h = ember_http(
        requests(ctx, l, 6, 2),
        &(ember_http_conf){.max_retry_after = 0.2, .backoff_base = 0.01, .no_adapt = true});
    ember_result *res = run(h);
    for (size_t i = 0; i < 6; i++) {
        ember_http_response r = resp(res, i);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.attempts, 2);
        assert_bytes(r.body, "finally");
    }
    ember_result_free(res);
    /* a server that never stops throttling: the request ends as an error line,
     * by total_timeout (its waits included) or by max_throttled */
    char *t[2] = {fmt("%s/hostile/g?ra=100000&n=1000", base), fmt("%s/hostile/i?n=1000", base)};
    res = run(ember_http(requests(ctx, t, 1, 1),
                         &(ember_http_conf){.total_timeout = 2, .no_adapt = true}));
    ember_http_response r = resp(res, 0);
    assert_false(r.ok);
    assert_int_equal(r.status, 429);
    assert_contains(r.error, "total timeout");
    ember_result_free(res);
    res = run(ember_http(requests(ctx, t + 1, 1, 1), &(ember_http_conf){.max_throttled = 3,
                                                                        .backoff_base = 0.01,
                                                                        .backoff_max = 0.02,
                                                                        .no_adapt = true}));
    r = resp(res, 0);
    assert_false(r.ok);
    assert_bytes(r.error, "HTTP 429: throttled 4 times");
    ember_result_free(res);
    /* numbers out of range are refused before any request */
    int64_t n;
    ember_http_conf bad[] = {{.timeout = 1e300},
                             {.rate = 1e-300},
                             {.total_timeout = -1},
                             {.max_retry_after = 1e12},
                             {.burst = 1e300}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ember_count(ember_http(requests(ctx, l, 1, 1), &bad[i]), &n),
                         EMBER_EINVAL);
    for (int i = 0; i < 6; i++)
        free(l[i]);
    free(t[0]);
    free(t[1]);
    ember_close(ctx);
}

/* gzip bombs under a response-memory budget smaller than one of them: every
 * answer arrives whole (transfers pause and resume, the head never waits);
 * one over max_body is that record's error. */
static void test_memory_budget(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    size_t n = 8;
    char **l = calloc(n, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = fmt("%s/bomb?bytes=%d", base, 4 << 20);
    ember_rdd *h = ember_http(requests(ctx, l, n, 2),
                              &(ember_http_conf){.max_memory = 1 << 20, .max_in_flight = 8});
    ember_result *res = run(h);
    for (size_t i = 0; i < n; i++) {
        ember_http_response r = resp(res, i);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body.len, (size_t)4 << 20);
    }
    ember_result_free(res);
    res = run(ember_http(requests(ctx, l, 1, 1), &(ember_http_conf){.max_body = 1 << 20}));
    ember_http_response r = resp(res, 0);
    assert_false(r.ok);
    assert_bytes(r.error, "the answer is larger than max_body (1048576 bytes)");
    ember_result_free(res);
    free_lines(l, n);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_in_order),
        cmocka_unit_test(test_json_requests_and_keys),
        cmocka_unit_test(test_5xx_retried_then_final),
        cmocka_unit_test(test_retry_after_both_forms),
        cmocka_unit_test(test_rate_limit_shared),
        cmocka_unit_test(test_closed_slow_timeout),
        cmocka_unit_test(test_refused_unknown_host_total_timeout),
        cmocka_unit_test(test_tls_verification),
        cmocka_unit_test(test_huge_body),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_json_take_errors),
        cmocka_unit_test(test_headers_arrive),
        cmocka_unit_test(test_cancel_then_resume),
        cmocka_unit_test(test_journal_refusals),
        cmocka_unit_test(test_cancel_any_action),
        cmocka_unit_test(test_rate_adapts),
        cmocka_unit_test(test_ratelimit_headers),
        cmocka_unit_test(test_hostile_retry_after),
        cmocka_unit_test(test_memory_budget),
    };
    if (getenv("EMBER_TEST_FILTER"))
        cmocka_set_test_filter(getenv("EMBER_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
