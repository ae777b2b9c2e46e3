/* CSV rows shaped as asked: files read by name into the union of their
 * headers (union_by_name), a column of the row's file path (source_column),
 * typed columns (schema, or inferred from the first file's first rows) that
 * a value must parse as, and rows as JSON objects with typed values (json).
 * The reader calls ember__csv_shape_row once a row only when one of these is
 * asked for.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/csv.h"

void ember__csv_shape_free(csv_shape *sh)
{
    if (!sh)
        return;
    for (size_t f = 0; sh->maps && sh->maps[f]; f++)
        ember__free(sh->maps[f]);
    ember__free(sh->maps);
    ember__free(sh->file_ncols);
    ember__free(sh->source);
    ember__free(sh->types);
    ember_buf_destroy(&sh->names);
    ember__free(sh);
}

static bool same(ember_bytes a, ember_bytes b)
{
    return a.len == b.len && !memcmp(a.ptr, b.ptr, a.len);
}

/* ---------------------------------------------------------------- types */

static bool parse_int(const char *p, size_t n)
{
    char buf[32], *end;
    if (!n || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = 0;
    errno = 0;
    strtoll(buf, &end, 10);
    return !*end && !errno;
}

static bool parse_float(const char *p, size_t n)
{
    char buf[64], *end;
    if (!n || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = 0;
    double v = strtod(buf, &end);
    return !*end && isfinite(v);
}

static int bool_of(const char *p, size_t n)
{
    if (n == 4 && !strncasecmp(p, "true", 4))
        return 1;
    if (n == 5 && !strncasecmp(p, "false", 5))
        return 0;
    return -1;
}

static const char *const type_names[] = {"string", "int", "float", "bool"};

static bool of_type(int t, const char *p, size_t n)
{
    return !n || t == CSV_STRING || (t == CSV_INT && parse_int(p, n)) ||
           (t == CSV_FLOAT && parse_float(p, n)) || (t == CSV_BOOL && bool_of(p, n) >= 0);
}

/* "id:int, price:float" onto the output columns (names, or positions without
 * a header: "0:int") */
static int parse_schema(ember_ctx *ctx, csv_shape *sh, const char *schema, bool header)
{
    char *copy = ember__strdup(schema);
    if (!copy)
        return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        char *colon = strrchr(item, ':');
        if (!colon) {
            rc = ember__err(ctx, EMBER_EINVAL, "read_csv: schema item '%s' is not NAME:TYPE", item);
            break;
        }
        *colon = 0;
        const char *ty = colon + 1;
        while (*ty == ' ')
            ty++;
        int t = -1;
        for (int k = 0; k < 4; k++)
            if (!strcasecmp(ty, type_names[k]))
                t = k;
        if (t < 0 && (!strcasecmp(ty, "double") || !strcasecmp(ty, "real")))
            t = CSV_FLOAT;
        if (t < 0 && (!strcasecmp(ty, "long") || !strcasecmp(ty, "integer")))
            t = CSV_INT;
        if (t < 0) {
            rc = ember__err(ctx, EMBER_EINVAL,
                            "read_csv: schema type '%s' of '%s' (int, float, bool or string)", ty,
                            item);
            break;
        }
        long col = -1;
        ember_bytes f;
        for (size_t j = 0; header && !ember_csv_field(ember_buf_bytes(&sh->names), j, &f); j++)
            if (strlen(item) == f.len && !memcmp(item, f.ptr, f.len))
                col = (long)j;
        if (!header) {
            char *end;
            col = strtol(item, &end, 10);
            if (*end)
                col = -1;
        }
        if (col < 0 || (size_t)col >= sh->ncols) {
            rc = ember__err(ctx, EMBER_EINVAL, "read_csv: schema column '%s' is not a column%s",
                            item, header ? " of the header" : " number");
            break;
        }
        sh->types[col] = t;
    }
    ember__free(copy);
    return rc;
}

/* each column's type from the first file's first 1,000 rows */
static int infer(ember_ctx *ctx, csv_src *s, csv_shape *sh)
{
    const ember__file *file = &s->in.files.v[0];
    size_t cap = 4 << 20, len = 0;
    unsigned char *p = ember__malloc(cap);
    char why[512] = "";
    int rc = p ? ember__csv_read_start(file, p, cap, &len, why, sizeof why) : EMBER_ENOMEM;
    bool *not_int = ember__calloc(sh->ncols + 1, 1), *not_float = ember__calloc(sh->ncols + 1, 1),
         *not_bool = ember__calloc(sh->ncols + 1, 1), *seen = ember__calloc(sh->ncols + 1, 1);
    if (!rc && (!not_int || !not_float || !not_bool || !seen))
        rc = EMBER_ENOMEM;
    size_t at = ember__bom(p, len), rows = 0;
    if (!rc) {
        /* row by row: a parser a line keeps this simple (inference only) */
        const unsigned char *q = p + at, *end = p + len;
        while (q < end && rows < 1001) {
            const unsigned char *nl = memchr(q, '\n', (size_t)(end - q));
            if (!nl)
                break; /* a cut last line is left out */
            ember_buf r1 = {0};
            ember__csv_first_row(s, q, (size_t)(nl + 1 - q), &r1);
            if (rows++ > 0 || !s->header) /* not the header */
                for (size_t j = 0; j < sh->ncols; j++) {
                    ember_bytes v;
                    if (ember_csv_field(ember_buf_bytes(&r1), j, &v) || !v.len)
                        continue;
                    seen[j] = true;
                    not_int[j] |= !parse_int(v.ptr, v.len);
                    not_float[j] |= !parse_float(v.ptr, v.len);
                    not_bool[j] |= bool_of(v.ptr, v.len) < 0;
                }
            ember_buf_destroy(&r1);
            q = nl + 1;
        }
        for (size_t j = 0; j < sh->ncols; j++)
            sh->types[j] = !seen[j]        ? CSV_STRING
                           : !not_int[j]   ? CSV_INT
                           : !not_float[j] ? CSV_FLOAT
                           : !not_bool[j]  ? CSV_BOOL
                                           : CSV_STRING;
    }
    ember__free(p);
    ember__free(not_int);
    ember__free(not_float);
    ember__free(not_bool);
    ember__free(seen);
    if (rc)
        return ember__err(ctx, rc, "read_csv: inferring the types of %s: %s", file->path,
                          why[0] ? why : ember_strerror(rc));
    return 0;
}

/* ---------------------------------------------------------------- set-up */

int ember__csv_shape_init(ember_ctx *ctx, csv_src *s, const ember_csv_opts *o)
{
    if (!o->union_by_name && !o->source_column && !o->schema && !o->infer && !o->json)
        return 0;
    if (o->union_by_name && !s->header)
        return ember__err(ctx, EMBER_EINVAL, "read_csv: union_by_name needs header");
    csv_shape *sh = ember__calloc(1, sizeof *sh);
    if (!sh)
        return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
    s->shape = sh;
    size_t nfiles = s->in.files.n;
    int rc = 0;
    if (s->header && ember_buf_set(&sh->names, s->head.ptr, s->head.len))
        return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
    sh->ncols = s->ncols;
    if (o->union_by_name) { /* every file's header, and the union of their names */
        sh->maps = ember__calloc(nfiles + 1, sizeof *sh->maps);
        sh->file_ncols = ember__calloc(nfiles + 1, sizeof *sh->file_ncols);
        if (!sh->maps || !sh->file_ncols)
            return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
        ember_buf *heads = ember__calloc(nfiles + 1, sizeof *heads);
        if (!heads)
            return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
        for (uint32_t f = 0; !rc && f < nfiles; f++) {
            size_t nf;
            rc = f ? ember__csv_file_header(ctx, s, f, &heads[f], &nf)
                   : ember_buf_set(&heads[0], s->head.ptr, s->head.len);
            ember_bytes name;
            for (size_t j = 0; !rc && !ember_csv_field(ember_buf_bytes(&heads[f]), j, &name); j++) {
                bool known = false;
                ember_bytes have;
                for (size_t k = 0;
                     !known && !ember_csv_field(ember_buf_bytes(&sh->names), k, &have); k++)
                    known = same(name, have);
                if (!known) {
                    rc = ember__buf_varint(&sh->names, name.len) ||
                         ember_buf_append(&sh->names, name.ptr, name.len);
                    sh->ncols++;
                }
            }
        }
        for (uint32_t f = 0; !rc && f < nfiles; f++) {
            sh->file_ncols[f] = ember_csv_nfields(ember_buf_bytes(&heads[f]));
            if (!(sh->maps[f] = ember__malloc((sh->ncols + 1) * sizeof **sh->maps))) {
                rc = EMBER_ENOMEM;
                break;
            }
            ember_bytes want, have;
            for (size_t j = 0; !ember_csv_field(ember_buf_bytes(&sh->names), j, &want); j++) {
                sh->maps[f][j] = -1;
                for (size_t k = 0; !ember_csv_field(ember_buf_bytes(&heads[f]), k, &have); k++)
                    if (same(want, have)) {
                        sh->maps[f][j] = (int)k;
                        break;
                    }
            }
        }
        for (uint32_t f = 0; f < nfiles; f++)
            ember_buf_destroy(&heads[f]);
        ember__free(heads);
        if (rc)
            return rc == EMBER_ENOMEM ? ember__err(ctx, rc, "read_csv: out of memory") : rc;
    }
    if (!s->header && (o->schema || o->infer || o->json)) { /* the first row's count */
        const ember__file *file = &s->in.files.v[0];
        unsigned char buf[65536];
        size_t len = 0;
        char why[300] = "";
        ember_buf row = {0};
        long fields = 0;
        if (!ember__csv_read_start(file, buf, sizeof buf, &len, why, sizeof why))
            fields = ember__csv_first_row(s, buf, len, &row);
        ember_buf_destroy(&row);
        sh->ncols = fields > 0 ? (size_t)fields : 0;
        for (size_t j = 0; !rc && j < sh->ncols; j++) { /* column_1, column_2, ... */
            char name[32];
            int n = snprintf(name, sizeof name, "column_%zu", j + 1);
            rc = ember__buf_varint(&sh->names, (uint64_t)n) ||
                 ember_buf_append(&sh->names, name, (size_t)n);
        }
    }
    if (o->schema || o->infer) {
        if (!(sh->types = ember__calloc(sh->ncols + 1, sizeof *sh->types)))
            return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
        if (o->schema && (rc = parse_schema(ctx, sh, o->schema, s->header)))
            return rc;
        if (!o->schema && (rc = infer(ctx, s, sh)))
            return rc;
    }
    sh->json = o->json;
    if (o->source_column) {
        if (!(sh->source = ember__strdup(o->source_column)) ||
            ember__buf_varint(&sh->names, strlen(o->source_column)) ||
            ember_buf_append(&sh->names, o->source_column, strlen(o->source_column)))
            return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
    }
    if (s->header && ember_buf_set(&s->head, sh->names.ptr, sh->names.len)) /* what readers see */
        return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
    return 0;
}

/* ---------------------------------------------------------------- a row */

static int json_value(ember_buf *out, int t, const char *p, size_t n)
{
    if (!n)
        return ember_buf_append(out, "null", 4);
    if (t == CSV_INT || t == CSV_FLOAT)
        return ember_buf_append(out, p, n);
    if (t == CSV_BOOL)
        return bool_of(p, n) ? ember_buf_append(out, "true", 4) : ember_buf_append(out, "false", 5);
    return ember__json_str(out, ember_bytes_of(p, n));
}

int ember__csv_shape_row(const csv_src *s, uint32_t f, const char *path, ember_bytes row,
                         ember_buf *out, char *why, size_t cap)
{
    const csv_shape *sh = s->shape;
    out->len = 0;
    int rc = sh->json ? ember_buf_append(out, "{", 1) : 0;
    size_t total = sh->ncols + (sh->source != NULL);
    for (size_t j = 0; j < total && !rc; j++) {
        ember_bytes v = {"", 0}, name = {"", 0};
        bool src = j == sh->ncols;
        if (src) {
            v = ember_str(path);
        } else {
            long k = sh->maps ? sh->maps[f][j] : (long)j;
            if (k >= 0 && ember_csv_field(row, (size_t)k, &v))
                v = (ember_bytes){"", 0};
        }
        int t = !src && sh->types ? sh->types[j] : CSV_STRING;
        if (!of_type(t, v.ptr, v.len)) {
            ember_csv_field(ember_buf_bytes(&sh->names), j, &name);
            snprintf(why, cap, "column %zu%s%.*s%s is not %s: '%.*s'", j + 1, name.len ? " (" : "",
                     (int)name.len, (const char *)name.ptr, name.len ? ")" : "",
                     t == CSV_INT     ? "an int"
                     : t == CSV_FLOAT ? "a float"
                                      : "a bool",
                     (int)(v.len < 40 ? v.len : 40), (const char *)v.ptr);
            return 1;
        }
        if (!sh->json) {
            rc = ember__buf_varint(out, v.len) || ember_buf_append(out, v.ptr, v.len);
            continue;
        }
        ember_csv_field(ember_buf_bytes(&sh->names), j, &name);
        rc = (j && ember_buf_append(out, ",", 1)) || ember__json_str(out, name) ||
             ember_buf_append(out, ":", 1) || json_value(out, t, v.ptr, v.len);
    }
    if (!rc && sh->json)
        rc = ember_buf_append(out, "}", 1);
    return rc ? EMBER_ENOMEM : 0;
}
