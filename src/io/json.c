/* JSON lines: a line reader whose lines are checked with jansson.
 *
 * A record is the line as it is (no re-encoding); a line is good when it parses
 * as one JSON object and is valid UTF-8 (jansson checks both). Blank lines are
 * skipped, as Spark does. ember_json_get plucks a value by key path.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <stdarg.h>

#include "io/io.h"
#include "ember/json.h"

static bool blank(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t')
            return false;
    return true;
}

static int check_json(const unsigned char *p, size_t n, char *why, size_t cap)
{
    if (blank(p, n))
        return 1;
    json_error_t err;
    json_t *v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        snprintf(why, cap, "invalid JSON at column %d: %s", err.column, err.text);
        return -1;
    }
    bool object = json_is_object(v);
    json_decref(v);
    if (!object) {
        snprintf(why, cap, "a JSON value that is not an object");
        return -1;
    }
    return 0;
}

ember_rdd *ember_read_json_lines(ember_ctx *ctx, const char *paths, const ember_read_opts *opts)
{
    return ember_as_json(ember__text_source(ctx, "read_json_lines", paths,
                                            opts ? opts->min_parts : 0, check_json, opts));
}

json_t *ember_json_path(json_t *j, const char *path)
{
    json_t *v = path ? j : NULL;
    const char *p = path;
    char key[256];
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = 0;
        if (json_is_object(v)) {
            v = json_object_get(v, key);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(key, &end, 10);
            v = n && !*end ? json_array_get(v, i) : NULL;
        } else {
            v = NULL;
        }
        p = dot ? dot + 1 : p + n;
    }
    return v;
}

int ember_json_get(ember_bytes json, const char *path, ember_buf *out)
{
    if (!path || !out || (!json.ptr && json.len))
        return EMBER_EINVAL;
    json_t *root = json_loadb(json.ptr ? json.ptr : "", json.len, JSON_DECODE_ANY, NULL);
    if (!root)
        return EMBER_EINVAL;
    json_t *v = ember_json_path(root, path);
    int rc = 0;
    if (v) {
        if (json_is_string(v)) {
            rc = ember_buf_set(out, json_string_value(v), json_string_length(v));
        } else {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = text ? ember_buf_set(out, text, strlen(text)) : EMBER_ENOMEM;
            free(text);
        }
        rc = rc ? rc : 1;
    }
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- JSON rows (ember/json.h) */

json_t *ember_json_of(ember_bytes val, json_error_t *err)
{
    if (!val.ptr && val.len)
        return NULL;
    return json_loadb(val.ptr ? (const char *)val.ptr : "", val.len, JSON_DECODE_ANY, err);
}

static int into_buf(const char *p, size_t n, void *arg)
{
    return ember_buf_append(arg, p, n) ? -1 : 0;
}

int ember_emit_json(ember_out *out, const json_t *j)
{
    if (!j || !out)
        return EMBER_EINVAL;
    out->kind_seen = EMBER_KIND_JSON; /* a typed emit (sched/kinds.c) */
    ember_buf line = {0};
    int rc = json_dump_callback(j, into_buf, &line, JSON_COMPACT | JSON_ENCODE_ANY)
                 ? EMBER_ENOMEM
                 : ember_emit(out, ember_buf_bytes(&line));
    ember_buf_destroy(&line);
    return rc;
}

int ember_emit_jsonf(ember_out *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_error_t err;
    json_t *j = fmt ? json_vpack_ex(&err, 0, fmt, ap) : NULL;
    va_end(ap);
    if (!j) {
        ember__task *t = out ? out->task : NULL;
        if (t)
            ember__task_fail(t, EMBER_EINVAL, "ember_emit_jsonf(\"%s\"): %s", fmt ? fmt : "",
                             fmt ? err.text : "fmt is NULL");
        return EMBER_EINVAL;
    }
    int rc = ember_emit_json(out, j);
    json_decref(j);
    return rc;
}
