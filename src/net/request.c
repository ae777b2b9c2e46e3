/* What goes out and what comes back: a record as a request (a URL, or a JSON
 * object with url, method, headers and body; the conf's headers merged in, a
 * request's own winning), and the headers of an answer (the ones kept,
 * Retry-After, the RateLimit headers).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "net/http_int.h"

/* ---------------------------------------------------------------- requests */

bool ember__http_method_ok(const char *m)
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

int ember__http_merge_headers(const ember_http_conf *c, struct curl_slist **l, bool json_body)
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

int ember__http_parse_request(engine *e, slot *s, ember_bytes v, char *why, size_t whylen)
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
    if (!m || !ember__http_method_ok(m)) {
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
        rc = ember__http_merge_headers(c, &s->hdrs_out, as_json);
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

/* ---------------------------------------------------------------- answers' headers */

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

/* A status line starts a new response (after a redirect or a 100 Continue),
 * so what came before is dropped. */
size_t ember__http_on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    slot *s = arg;
    size_t n = size * nmemb;
    if (n >= 5 && !memcmp(ptr, "HTTP/", 5)) {
        s->hdrs_in.len = 0;
        s->body.len = 0;
        ember__http_release(s);
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
