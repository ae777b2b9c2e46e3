/* The seed's pluck, shared by examples/cat_api.c (JSON lines) and
 * examples/cat_api_db.c (rows in PostgreSQL): a TheCatAPI-shaped answer
 * (GET /v1/images/search: [{"id", "url", "width", "height", "breeds":
 * [{"name"}, ...]}]) to {"id", "url", "width", "height", "breeds": [names]},
 * and a request that finally failed to {"request": i, "error": "..."}.
 */
#ifndef CAT_PLUCK_H
#define CAT_PLUCK_H

#include <ember/ember.h>
#include <stdio.h>
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

#endif
