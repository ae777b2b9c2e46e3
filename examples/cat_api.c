/* The seed's job: N calls to a JSON API shaped like TheCatAPI's image search
 * (GET /v1/images/search answers [{"id", "url", "width", "height", "breeds":
 * [{"name"}, ...]}]), each answer plucked to its id, url, size and breed names,
 * saved as JSON lines. A request that finally fails is saved as {"request": i,
 * "error": "..."}: nothing is lost.
 *
 *   cat_api URL [N] [OUT_DIR] [RATE_PER_MIN]
 *
 * URL is requested N times (default 1000); $CAT_API_KEY, when set, goes in an
 * x-api-key header. RATE_PER_MIN caps the calls (a free tier allows 120 a
 * minute; 0: no cap). Up to 1,000 calls are in flight from the context's
 * threads.
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string of s (escaped) appended to b. */
static int put_str(ember_buf *b, ember_bytes s)
{
    int rc = ember_buf_append(b, "\"", 1);
    for (size_t i = 0; !rc && i < s.len; i++) {
        unsigned char c = ((const unsigned char *)s.ptr)[i];
        char esc[8];
        if (c == '"' || c == '\\')
            rc = ember_buf_append(b, (char[]){'\\', (char)c}, 2);
        else if (c < 0x20)
            rc = ember_buf_append(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
        else
            rc = ember_buf_append(b, &c, 1);
    }
    return rc ? rc : ember_buf_append(b, "\"", 1);
}

static int to_request(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair(out, in.val, ember_str(arg));
}

/* (request number, response) -> one JSON line */
static int pluck(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    ember_http_response r;
    int rc = ember_http_response_get(in.val, &r);
    if (rc)
        return rc;
    ember_buf line, v;
    ember_buf_init(&line);
    ember_buf_init(&v);
    char head[64];
    if (!r.ok) {
        snprintf(head, sizeof head, "{\"request\":%lld,\"error\":", (long long)ember_i64(in.key));
        rc = ember_buf_append(&line, head, strlen(head));
        if (!rc)
            rc = put_str(&line, r.error);
        if (!rc)
            rc = ember_buf_append(&line, "}", 1);
        goto out;
    }
    static const char *const fields[] = {"id", "url", "width", "height"};
    rc = ember_buf_append(&line, "{", 1);
    for (int f = 0; f < 4 && !rc; f++) {
        char path[32];
        snprintf(path, sizeof path, "0.%s", fields[f]);
        int found = ember_json_get(r.body, path, &v);
        if (found < 0) { /* not JSON: say so in the line, keep going */
            line.len = 0;
            snprintf(head, sizeof head,
                     "{\"request\":%lld,\"error\":", (long long)ember_i64(in.key));
            rc = ember_buf_append(&line, head, strlen(head));
            if (!rc)
                rc = ember_buf_append(&line, "\"the answer is not JSON\"}", 25);
            goto out;
        }
        snprintf(head, sizeof head, "%s\"%s\":", f ? "," : "", fields[f]);
        rc = ember_buf_append(&line, head, strlen(head));
        if (rc)
            break;
        if (!found)
            rc = ember_buf_append(&line, "null", 4);
        else if (f < 2)
            rc = put_str(&line, ember_buf_bytes(&v));
        else
            rc = ember_buf_append(&line, v.ptr, v.len); /* a number */
    }
    if (!rc)
        rc = ember_buf_append(&line, ",\"breeds\":[", 11);
    for (int k = 0; !rc; k++) {
        char path[48];
        snprintf(path, sizeof path, "0.breeds.%d.name", k);
        int found = ember_json_get(r.body, path, &v);
        if (found <= 0)
            break;
        if (k)
            rc = ember_buf_append(&line, ",", 1);
        if (!rc)
            rc = put_str(&line, ember_buf_bytes(&v));
    }
    if (!rc)
        rc = ember_buf_append(&line, "]}", 2);
out:
    if (!rc)
        rc = ember_emit(out, ember_buf_bytes(&line));
    ember_buf_destroy(&line);
    ember_buf_destroy(&v);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [N] [OUT_DIR] [RATE_PER_MIN]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 1000;
    const char *dir = argc > 3 ? argv[3] : "cats";
    double per_min = argc > 4 ? atof(argv[4]) : 0;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "cat_api", .overwrite = true})) {
        fprintf(stderr, "cat_api: %s\n", ember_errmsg(NULL));
        return 1;
    }
    int parts = ember_parallelism(ctx);
    ember_raise_open_files_limit(); /* up to 1,000 sockets at once */
    char key_header[256];
    const char *headers[2] = {NULL, NULL};
    if (getenv("CAT_API_KEY")) {
        snprintf(key_header, sizeof key_header, "x-api-key: %s", getenv("CAT_API_KEY"));
        headers[0] = key_header;
    }
    ember_http_conf hc = {.max_in_flight = (1000 + parts - 1) / parts,
                          .rate = per_min / 60,
                          .burst = per_min > 0 ? per_min : 0,
                          .headers = headers};
    /* request i: (i, URL), so a failure names its request */
    ember_rdd *reqs = ember_map(ember_range(ctx, 0, n, 1, parts), to_request, (void *)url);
    ember_rdd *answers = ember_http(reqs, &hc);
    ember_rdd *lines = ember_map(answers, pluck, NULL);
    int rc = ember_save_as_text_file(lines, dir, NULL);
    ember_http_counts c = {0};
    if (rc)
        fprintf(stderr, "cat_api: %s\n", ember_errmsg(ctx));
    else if (!ember_http_counters(answers, &c))
        printf("saved %ld cats to %s: %lld answered, %lld failed (%lld sent, %lld retried, %lld "
               "throttled)\n",
               n, dir, (long long)c.succeeded, (long long)c.failed, (long long)c.sent,
               (long long)c.retried, (long long)c.throttled);
    ember_close(ctx);
    return rc ? 1 : c.failed ? 3 : 0;
}
