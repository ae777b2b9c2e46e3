/* The seed's pluck, shared by examples/cat_api.c (JSON lines) and
 * examples/cat_api_db.c (rows in PostgreSQL): a TheCatAPI-shaped answer
 * (GET /v1/images/search: [{"id", "url", "width", "height", "breeds":
 * [{"name"}, ...]}]) to {"id", "url", "width", "height", "breeds": [names]},
 * and a request that finally failed, or an answer that is not JSON, to
 * {"request": i, "error": "..."}.
 */
#ifndef CAT_PLUCK_H
#define CAT_PLUCK_H

#include <ember/ember.h>
#include <ember/json.h>
#include <stdio.h>
#include <stdlib.h>

static int to_request(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair(out, in.val, ember_str(arg));
}

/* (request number, response) -> one JSON object */
static int pluck(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    ember_http_response r;
    int rc = ember_http_response_get(in.val, &r);
    if (rc)
        return rc;
    json_int_t request = ember_i64(in.key);
    json_t *body = r.ok ? ember_json_of(r.body, NULL) : NULL;
    if (!body) /* a failed request, or an answer that is not JSON: kept, named */
        return ember_emit_jsonf(out, "{s:I, s:s%}", "request", request, "error",
                                r.ok ? "the answer is not JSON" : (const char *)r.error.ptr,
                                r.ok ? (size_t)22 : r.error.len);
    json_t *cat = ember_json_path(body, "0"), *names = json_array();
    json_t *breed;
    size_t i;
    json_array_foreach(ember_json_path(cat, "breeds"), i, breed)
        json_array_append(names, json_object_get(breed, "name"));
    rc =
        ember_emit_jsonf(out, "{s:O?, s:O?, s:O?, s:O?, s:o}", "id", ember_json_path(cat, "id"),
                         "url", ember_json_path(cat, "url"), "width", ember_json_path(cat, "width"),
                         "height", ember_json_path(cat, "height"), "breeds", names);
    json_decref(body);
    return rc;
}

/* The job's calls: request i of n to url (a failure names its request), up
 * to 1,000 in flight, at most per_min a minute (0: no cap), $CAT_API_KEY in
 * an x-api-key header; the answers into *answers (for their counters) and
 * plucked into the returned rdd. */
static ember_rdd *cat_calls(ember_ctx *ctx, const char *url, long n, double per_min,
                            ember_rdd **answers)
{
    static char key_header[256];
    static const char *headers[2];
    if (getenv("CAT_API_KEY")) {
        snprintf(key_header, sizeof key_header, "x-api-key: %s", getenv("CAT_API_KEY"));
        headers[0] = key_header;
    }
    int parts = ember_parallelism(ctx);
    ember_raise_open_files_limit(); /* up to 1,000 sockets at once */
    ember_http_conf hc = {.max_in_flight = (1000 + parts - 1) / parts,
                          .rate = per_min / 60,
                          .burst = per_min > 0 ? per_min : 0,
                          .headers = headers};
    ember_rdd *reqs = ember_map(ember_range(ctx, 0, n, 1, parts), to_request, (void *)url);
    *answers = ember_http(reqs, &hc);
    return ember_map(*answers, pluck, NULL);
}

#endif
