/* The response record of ember_http and its readers: MAGIC, varint status,
 * attempts and latency (ns), an ok byte, then url, kept headers, body and
 * error, each as varint length and bytes (docs/net.md). http.c builds it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "net/http_int.h"

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
        rc = ember__json_str(out, r.url);
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
                rc = ember__json_str(out, ember_bytes_of(p, (size_t)(colon - p)));
            for (size_t k = at; !rc && k < out->len; k++) /* names in lower case */
                out->ptr[k] = (unsigned char)tolower(out->ptr[k]);
            if (!rc)
                rc = ember_buf_append(out, ":", 1);
            if (!rc)
                rc = ember__json_str(out, ember_bytes_of(v, (size_t)(ve - v)));
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
            rc = ember__json_str(out, r.body);
    } else if (!rc) {
        rc = ember__json_str(out, r.body);
    }
    if (!rc)
        rc = ember_buf_append(out, ",\"error\":", 9);
    if (!rc)
        rc = r.error.len ? ember__json_str(out, r.error) : ember_buf_append(out, "null", 4);
    if (!rc)
        rc = ember_buf_append(out, "}", 1);
    return rc ? EMBER_ENOMEM : 0;
}
