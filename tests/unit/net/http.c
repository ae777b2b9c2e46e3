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
    assert_non_null(strstr(text, "].failed=0\n"));
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
    ember_rdd *h = ember_http(requests(ctx, l, 4, 3), NULL);
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
                  fmt("%s/slow/a?chunks=4&ms=50", base), fmt("%s/ok/t?delay_ms=1500", base),
                  fmt("%s/slow/b?chunks=10&ms=200", base)};
    ember_rdd *h =
        ember_http(requests(ctx, l, 5, 2),
                   &(ember_http_conf){.max_attempts = 2, .backoff_base = 0.01, .timeout = 0.5});
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

    /* a total timeout ends the retries of a request that keeps failing */
    ember_rdd *h2 = ember_http(
        requests(ctx, l + 2, 1, 1),
        &(ember_http_conf){
            .max_attempts = 1000, .backoff_base = 0.05, .backoff_max = 0.05, .total_timeout = 0.4});
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
    assert_msg(ctx, "http: bad conf: rate and burst");
    assert_int_equal(count_of(h), (int64_t)n);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
