/* Databases in and out: ember_save_to_db (an action: each task writes its
 * partition through one connection, in one transaction or in committed
 * batches it records) and ember_read_db (a source: each partition one range
 * of a column, read through a cursor). The rows are made here from records
 * (JSON objects and arrays, CSV rows); the backends (pg.c, sqlite.c) speak to
 * the database.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/mkdirs.h"
#include "db/db.h"
#include "io/csv.h"

/* ---------------------------------------------------------------- text helpers */

char *ember__db_quote(const char *name)
{
    ember_buf b = {0};
    int rc = ember_buf_append(&b, "\"", 1);
    for (const char *p = name; *p && !rc; p++) {
        if (*p == '.')
            rc = ember_buf_append(&b, "\".\"", 3);
        else if (*p == '"')
            rc = ember_buf_append(&b, "\"\"", 2);
        else
            rc = ember_buf_append(&b, p, 1);
    }
    if (rc || ember_buf_append(&b, "\"", 2)) { /* with its NUL */
        ember_buf_destroy(&b);
        return NULL;
    }
    return (char *)b.ptr;
}

/* name as a quoted identifier ("" doubled), as PostgreSQL and SQLite read it */
static int append_ident(ember_buf *b, const char *name)
{
    int rc = ember_buf_append(b, "\"", 1);
    for (const char *p = name; *p && !rc; p++)
        rc = *p == '"' ? ember_buf_append(b, "\"\"", 2) : ember_buf_append(b, p, 1);
    return rc ? rc : ember_buf_append(b, "\"", 1);
}

#define APPEND(b, s) ember_buf_append((b), (s), strlen(s))

int ember__db_columns(ember_buf *b, const db_save *s)
{
    int rc = APPEND(b, "(");
    for (int i = 0; !rc && i < s->ncols; i++)
        rc = (i && APPEND(b, ", ")) || append_ident(b, s->cols[i]);
    return rc ? rc : APPEND(b, ")");
}

char *ember__db_insert(const db_save *s, int rows, bool dollar)
{
    ember_buf b = {0};
    int rc = APPEND(&b, "INSERT INTO ") || APPEND(&b, s->table_sql) || APPEND(&b, " ") ||
             ember__db_columns(&b, s) || APPEND(&b, " VALUES ");
    for (int g = 0; !rc && g < rows; g++) {
        rc = APPEND(&b, g ? ", (" : "(");
        for (int i = 0; !rc && i < s->ncols; i++) {
            char p[24];
            if (dollar)
                snprintf(p, sizeof p, "%s$%d", i ? ", " : "", g * s->ncols + i + 1);
            else
                snprintf(p, sizeof p, "%s?", i ? ", " : "");
            rc = APPEND(&b, p);
        }
        rc = rc ? rc : APPEND(&b, ")");
    }
    if (!rc && s->c.mode == EMBER_DB_UPSERT) { /* the other columns from the new row */
        rc = APPEND(&b, " ON CONFLICT (");
        int nk = 0;
        for (; !rc && s->c.conflict[nk]; nk++)
            rc = (nk && APPEND(&b, ", ")) || append_ident(&b, s->c.conflict[nk]);
        rc = rc ? rc : APPEND(&b, ") DO ");
        int set = 0;
        for (int i = 0; !rc && i < s->ncols; i++) {
            bool key = false;
            for (int k = 0; k < nk; k++)
                key |= !strcmp(s->cols[i], s->c.conflict[k]);
            if (key)
                continue;
            rc = APPEND(&b, set ? ", " : "UPDATE SET ") || append_ident(&b, s->cols[i]) ||
                 APPEND(&b, " = EXCLUDED.") || append_ident(&b, s->cols[i]);
            set++;
        }
        if (!rc && !set)
            rc = APPEND(&b, "NOTHING");
    }
    if (rc || ember_buf_append(&b, "", 1)) {
        ember_buf_destroy(&b);
        return NULL;
    }
    return (char *)b.ptr;
}

int ember__db_csv_put(ember_buf *b, const char *s, size_t n)
{
    int rc = ember__buf_varint(b, n);
    return rc ? rc : ember_buf_append(b, s, n);
}

static char **strv_dup(const char *const *v, int *n)
{
    int k = 0;
    while (v && v[k])
        k++;
    char **d = ember__calloc((size_t)k + 1, sizeof *d);
    for (int i = 0; d && i < k; i++)
        if (!(d[i] = ember__strdup(v[i]))) {
            for (int j = 0; j < i; j++)
                ember__free(d[j]);
            ember__free(d);
            return NULL;
        }
    if (n)
        *n = k;
    return d;
}

static void strv_free(char **v)
{
    for (int i = 0; v && v[i]; i++)
        ember__free(v[i]);
    ember__free(v);
}

static bool is_sqlite(const char *url)
{
    return !strncmp(url, "sqlite:", 7);
}

static const db_backend *backend_of(bool sqlite)
{
    return sqlite ? &ember__db_sqlite : &ember__db_pg;
}

/* ---------------------------------------------------------------- rows from records */

/* A row being made: fields pointing into the record, the parsed JSON, or
 * scratch (offsets until every field is in, then pointers). */
typedef struct row {
    db_field *f;
    size_t *off; /* SIZE_MAX: f[i].p is a pointer already */
    int cap;
    json_t *json;
    ember_buf scratch;
} row;

static int put_scratch(row *r, int i, const char *s, size_t n, int kind)
{
    r->off[i] = r->scratch.len;
    r->f[i] = (db_field){NULL, n, kind};
    return ember_buf_append(&r->scratch, s, n);
}

/* Field i from JSON value v (NULL: a missing field, NULL). */
static int json_field(row *r, int i, json_t *v)
{
    char num[40];
    r->off[i] = SIZE_MAX;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_NULL:
        r->f[i] = (db_field){NULL, 0, DB_NULL};
        return 0;
    case JSON_STRING:
        r->f[i] = (db_field){json_string_value(v), json_string_length(v), DB_TEXT};
        return 0;
    case JSON_INTEGER:
        return put_scratch(
            r, i, num,
            (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)),
            DB_INT);
    case JSON_REAL:
        return put_scratch(r, i, num,
                           (size_t)snprintf(num, sizeof num, "%.17g", json_real_value(v)), DB_REAL);
    case JSON_TRUE:
        return put_scratch(r, i, "true", 4, DB_BOOL);
    case JSON_FALSE:
        return put_scratch(r, i, "false", 5, DB_BOOL);
    default: { /* an object or array: its JSON text (json, jsonb columns) */
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!d)
            return EMBER_ENOMEM;
        int rc = put_scratch(r, i, d, strlen(d), DB_TEXT);
        free(d);
        return rc;
    }
    }
}

/* The fields of record val into r (n of them). 0, 1 for a record that does
 * not fit (why says how), or EMBER_ENOMEM. */
static int row_of(const db_save *s, ember_bytes val, row *r, int *n, char *why, size_t cap)
{
    int want = s->c.sql ? s->nparams : s->ncols;
    if (want > r->cap) {
        db_field *f = ember__realloc(r->f, (size_t)want * sizeof *f);
        if (f)
            r->f = f;
        size_t *o = ember__realloc(r->off, (size_t)want * sizeof *o);
        if (o)
            r->off = o;
        if (!f || !o)
            return EMBER_ENOMEM;
        r->cap = want;
    }
    r->scratch.len = 0;
    if (r->json) {
        json_decref(r->json);
        r->json = NULL;
    }
    *n = want;
    int rc = 0;
    if (s->rows == EMBER_DB_ROWS_CSV) {
        size_t nf = ember_csv_nfields(val);
        if (!s->csv_map && nf != (size_t)want) {
            snprintf(why, cap, "a row of %zu fields for %d columns", nf, want);
            return 1;
        }
        for (int i = 0; i < want; i++) {
            int k = s->csv_map ? s->csv_map[i] : i;
            ember_bytes fv = {0};
            r->off[i] = SIZE_MAX;
            if (k < 0 || ember_csv_field(val, (size_t)k, &fv) || !fv.len)
                r->f[i] = (db_field){NULL, 0, DB_NULL};
            else
                r->f[i] = (db_field){(const char *)fv.ptr, fv.len, DB_TEXT};
        }
        return 0;
    }
    json_error_t e;
    r->json = json_loadb((const char *)val.ptr, val.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!r->json) {
        snprintf(why, cap, "not JSON: %s at column %d", e.text, e.column);
        return 1;
    }
    if (json_is_array(r->json)) {
        if (json_array_size(r->json) != (size_t)want) {
            snprintf(why, cap, "an array of %zu values for %d columns", json_array_size(r->json),
                     want);
            return 1;
        }
        for (int i = 0; i < want && !rc; i++)
            rc = json_field(r, i, json_array_get(r->json, (size_t)i));
    } else if (json_is_object(r->json)) {
        if (s->c.sql && !s->cols) { /* sql without columns: the object's values in order */
            if (json_object_size(r->json) != (size_t)want) {
                snprintf(why, cap, "an object of %zu fields for %d parameters",
                         json_object_size(r->json), want);
                return 1;
            }
            int i = 0;
            const char *k;
            json_t *v;
            json_object_foreach(r->json, k, v)
            {
                (void)k;
                if (!rc)
                    rc = json_field(r, i++, v);
            }
        } else {
            size_t known = 0;
            for (int i = 0; i < want && !rc; i++) {
                json_t *v = json_object_get(r->json, s->cols[i]);
                known += v != NULL;
                rc = json_field(r, i, v);
            }
            if (!rc && known < json_object_size(r->json) && !s->c.ignore_unknown) {
                const char *k;
                json_t *v;
                json_object_foreach(r->json, k, v)
                {
                    bool found = false;
                    for (int i = 0; i < want && !found; i++)
                        found = !strcmp(k, s->cols[i]);
                    (void)v;
                    if (!found) {
                        snprintf(why, cap, "field \"%.100s\" is not a column of %.200s", k,
                                 s->c.table ? s->c.table : "the statement");
                        return 1;
                    }
                }
            }
        }
    } else {
        snprintf(why, cap, "a JSON %s, not an object or an array",
                 json_is_string(r->json) ? "string" : "scalar");
        return 1;
    }
    for (int i = 0; !rc && i < want; i++)
        if (r->off[i] != SIZE_MAX)
            r->f[i].p = (const char *)r->scratch.ptr + r->off[i];
    return rc;
}

static void row_free(row *r)
{
    if (r->json)
        json_decref(r->json);
    ember__free(r->f);
    ember__free(r->off);
    ember_buf_destroy(&r->scratch);
}

/* ---------------------------------------------------------------- save_to_db */

static void save_free(db_save *s)
{
    if (!s)
        return;
    ember__free(s->url);
    ember__free((char *)s->c.table);
    ember__free((char *)s->c.sql);
    strv_free((char **)s->c.conflict);
    ember__free(s->table_sql);
    strv_free(s->cols);
    ember__free(s->stmt);
    ember__free(s->stmt_multi);
    ember__free(s->copy);
    ember__free(s->csv_map);
    ember__free(s->save_id);
    ember__free(s);
}

/* A record that does not fit: skipped, diverted, or the task's failure. */
static int bad_row(ember__task *t, int part, int64_t k, ember_bytes val, const char *why)
{
    ember_ctx *ctx = t->ctx;
    if (ctx->bad_records != EMBER_BAD_SKIP && ctx->bad_records != EMBER_BAD_DIVERT)
        return ember__task_fail(t, EMBER_EIO, "partition %d record %lld does not fit: %s", part,
                                (long long)k, why);
    t->records_bad++;
    if (ctx->bad_records == EMBER_BAD_SKIP || !ctx->bad_dir)
        return 0;
    char path[4200], dir[4096];
    snprintf(dir, sizeof dir, "%s", ctx->bad_dir);
    ember__mkdirs(dir);
    snprintf(path, sizeof path, "%s/db-part-%05d", ctx->bad_dir, part);
    FILE *f = fopen(path, "ae");
    if (!f)
        return ember__task_fail(t, EMBER_EIO, "cannot write the bad row to %s: %s", path,
                                strerror(errno));
    fprintf(f, "partition %d record %lld: %s\t", part, (long long)k, why);
    fwrite(val.ptr ? val.ptr : (const void *)"", 1, val.len, f);
    fputc('\n', f);
    return fclose(f) ? ember__task_fail(t, EMBER_EIO, "cannot write %s", path) : 0;
}

/* One task: its partition's rows through one connection. */
static int save_part(ember_iter *in, ember_out *out, int index, void *arg)
{
    const db_save *s = arg;
    ember__task *t = out->task;
    const db_backend *be = backend_of(s->sqlite);
    char err[1024] = "";
    int64_t done = 0, k = 0, at = -1;
    db_writer *w = NULL;
    int rc = be->open(s, index, &w, &done, err, sizeof err);
    if (rc) {
        be->close(w); /* what open made before it failed */
        return ember__task_fail(t, rc, "partition %d: %s", index, err);
    }
    row r = {0};
    ember_rec rec;
    int more;
    while (!rc && (more = ember_iter_next(in, &rec)) == 1) {
        if (++k <= done) /* committed by an earlier attempt */
            continue;
        if (ember__halted(t)) {
            rc = ember__halt_code(t);
            break;
        }
        int n = 0;
        char why[400];
        int fit = row_of(s, rec.val, &r, &n, why, sizeof why);
        if (fit < 0) {
            rc = ember__task_fail(t, fit, "partition %d record %lld: out of memory", index,
                                  (long long)k);
            break;
        }
        if (fit) {
            rc = bad_row(t, index, k, rec.val, why);
            continue;
        }
        if ((rc = be->row(w, r.f, n, k, err, sizeof err, &at)))
            break;
        t->records_out++;
        if (s->c.commit_every > 0 && (k - done) % s->c.commit_every == 0)
            rc = be->checkpoint(w, k, err, sizeof err, &at);
    }
    if (!rc && more < 0)
        rc = ember__task_fail(t, more, "partition %d: the records do not decode", index);
    if (!rc)
        rc = be->finish(w, k, err, sizeof err, &at);
    if (rc && !t->fail_code) {
        if (at > 0)
            ember__task_fail(t, rc, "partition %d record %lld: %s", index, (long long)at, err);
        else
            ember__task_fail(t, rc, "partition %d: %s", index, err);
    }
    be->close(w);
    row_free(&r);
    return rc;
}

static int discard_push(ember_out *self, const ember_rec *rec)
{
    (void)self;
    (void)rec;
    return 0;
}

static int nothing_reset(void *state, const ember__job *job)
{
    (void)state;
    (void)job;
    return 0;
}

static const ember__sink_ops discard_sink = {
    .state_size = 0, .push = discard_push, .reset = nothing_reset};

static _Atomic int64_t saves; /* numbers the saves of the program */

/* The CSV header's names set against the columns (each column's field). */
static int map_header(ember_ctx *ctx, db_save *s, ember_bytes head)
{
    size_t nf = ember_csv_nfields(head);
    s->csv_map = ember__calloc((size_t)s->ncols + 1, sizeof *s->csv_map);
    if (!s->csv_map)
        return ember__err(ctx, EMBER_ENOMEM, "save_to_db: out of memory");
    for (int i = 0; i < s->ncols; i++)
        s->csv_map[i] = -1;
    for (size_t f = 0; f < nf; f++) {
        ember_bytes name;
        ember_csv_field(head, f, &name);
        int found = -1;
        for (int i = 0; i < s->ncols && found < 0; i++)
            if (strlen(s->cols[i]) == name.len && !memcmp(s->cols[i], name.ptr, name.len))
                found = i;
        if (found < 0)
            return ember__err(ctx, EMBER_EINVAL,
                              "save_to_db: the CSV header's column \"%.*s\" is not a column of %s",
                              (int)name.len, (const char *)name.ptr, s->c.table);
        s->csv_map[found] = (int)f;
    }
    return 0;
}

static int save_run(ember_rdd *rdd, const ember_db_conf *conf)
{
    ember_ctx *ctx = rdd->ctx;
    if (!conf || !conf->url || !*conf->url)
        return ember__err(ctx, EMBER_EINVAL, "save_to_db: conf->url is not set");
    if (!conf->sql && (!conf->table || !*conf->table))
        return ember__err(ctx, EMBER_EINVAL, "save_to_db: set conf->table or conf->sql");
    if (conf->mode < EMBER_DB_COPY || conf->mode > EMBER_DB_UPSERT)
        return ember__err(ctx, EMBER_EINVAL, "save_to_db: unknown mode %d", conf->mode);
    if (conf->mode == EMBER_DB_UPSERT && !conf->sql && (!conf->conflict || !conf->conflict[0]))
        return ember__err(ctx, EMBER_EINVAL, "save_to_db: EMBER_DB_UPSERT needs conf->conflict");
    if (conf->max_in_flight < 0 || conf->max_in_flight > 65536 || conf->batch < 0 ||
        conf->commit_every < 0)
        return ember__err(ctx, EMBER_EINVAL,
                          "save_to_db: max_in_flight (0 to 65,536), batch and commit_every must "
                          "not be negative");
    db_save *s = ember__calloc(1, sizeof *s);
    if (!s)
        return ember__err(ctx, EMBER_ENOMEM, "save_to_db: out of memory");
    s->c = *conf;
    s->c.table = conf->table ? ember__strdup(conf->table) : NULL;
    s->c.sql = conf->sql ? ember__strdup(conf->sql) : NULL;
    s->c.conflict = conf->conflict ? (const char *const *)strv_dup(conf->conflict, NULL) : NULL;
    s->c.columns = NULL; /* s->cols */
    s->c.save_id = NULL; /* s->save_id */
    s->sqlite = is_sqlite(conf->url);
    s->url = ember__strdup(conf->url + (s->sqlite ? 7 : 0));
    if (!s->c.max_in_flight)
        s->c.max_in_flight = 256;
    if (!s->c.batch)
        s->c.batch = 1000;
    char id[200];
    if (conf->save_id)
        snprintf(id, sizeof id, "%s", conf->save_id);
    else
        snprintf(id, sizeof id, "%s/%lld", ctx->app_id ? ctx->app_id : "ember",
                 (long long)atomic_fetch_add(&saves, 1));
    s->save_id = ember__strdup(id);
    if (conf->columns)
        s->cols = strv_dup(conf->columns, &s->ncols);
    if (!s->url || !s->save_id || (conf->table && !s->c.table) || (conf->sql && !s->c.sql) ||
        (conf->conflict && !s->c.conflict) || (conf->columns && !s->cols)) {
        save_free(s);
        return ember__err(ctx, EMBER_ENOMEM, "save_to_db: out of memory");
    }
    ember_bytes head = {0};
    int csv = ember__csv_reader(rdd, &head);
    s->rows = conf->rows ? conf->rows : csv >= 0 ? EMBER_DB_ROWS_CSV : EMBER_DB_ROWS_JSON;
    char err[1024] = "";
    int rc = backend_of(s->sqlite)->plan(s, err, sizeof err);
    if (rc)
        ember__err(ctx, rc, "save_to_db: %s", err);
    else if (s->rows == EMBER_DB_ROWS_CSV && csv == 1 && !conf->sql)
        rc = map_header(ctx, s, head);
    /* distributed, each rank planned on its own: all go on, or none */
    if ((rc = ember__agree_any(ctx, rc))) {
        save_free(s);
        return rc;
    }
    ember_rdd *each = ember_map_partitions(rdd, save_part, s);
    if (!each || ember__rdd_failed(each)) {
        ember_free(each);
        save_free(s);
        return ember__err(ctx, EMBER_ENOMEM, "save_to_db: out of memory");
    }
    each->op = "save_to_db";
    ember__job *job;
    if (!(rc = ember__job_run(each, "save_to_db", &discard_sink, NULL, NULL, 0, &job)))
        rc = ember__job_end(job, 0);
    ember_free(each);
    save_free(s);
    return rc;
}

int ember_save_to_db(ember_rdd *rdd, const ember_db_conf *conf)
{
    int rc = ember__action_begin(rdd, "save_to_db");
    if (rc)
        return rc;
    return ember__action_end(rdd->ctx, save_run(rdd, conf));
}

/* ---------------------------------------------------------------- read_db */

typedef struct db_read {
    ember_db_conf c;
    char *url;
    bool sqlite;
    char **sql; /* a statement a partition */
} db_read;

static int read_compute(ember_rdd *n, int part, ember_out *o)
{
    db_read *d = n->u.state;
    char err[1024] = "";
    ember__task *t = o->task;
    int rc = backend_of(d->sqlite)->read(&d->c, d->url, d->sql[part], o, err, sizeof err);
    if (rc && !t->fail_code && rc != EMBER__STOP && rc != EMBER_ECANCELED)
        ember__task_fail(t, rc, "read_db: partition %d: %s", part, err);
    return rc;
}

static void read_free(ember_rdd *n)
{
    db_read *d = n->u.state;
    if (!d)
        return;
    ember__free(d->url);
    strv_free(d->sql);
    ember__free(d);
}

static const ember__node_type read_type = {"read_db", EMBER__NT_CALLS_OUT, read_compute, NULL,
                                           read_free};

/* The FROM of a query: a table's name as it is, a statement as a subquery. */
static char *from_of(const char *query, bool *table)
{
    *table = !strpbrk(query, " \t\n\r(");
    ember_buf b = {0};
    if (*table) {
        char *q = ember__db_quote(query);
        return q;
    }
    if (ember_buf_append(&b, "(", 1) || ember_buf_append(&b, query, strlen(query)) ||
        ember_buf_append(&b, ") AS ember_q", 13)) {
        ember_buf_destroy(&b);
        return NULL;
    }
    return (char *)b.ptr;
}

/* Distributed: rank 0's range of the column on every rank. Each rank asks the
 * server (so each checks its connection), but rows written in between would
 * give the ranks other ranges, and partitions that leave rows out or read
 * them twice. A rank's own failure stays its own (the action's agreement
 * stops every rank). 0, or the broadcast's failure. */
static int share_bounds(ember_ctx *ctx, int rc, int64_t *lower, int64_t *upper)
{
    if (ctx->ranks <= 1)
        return 0;
    ember_buf b = {0};
    if (ctx->rank == 0) {
        ember__wr w = ember__wr_to(&b);
        ember__wr_i(&w, rc);
        ember__wr_i(&w, *lower);
        ember__wr_i(&w, *upper);
        if (w.err)
            b.len = 0;
    }
    int xrc = ctx->exec->bcast(ctx->exec_impl, &b, 0);
    ember__rd in = ember__rd_of(ember_buf_bytes(&b));
    int root_rc = (int)ember__rd_i(&in);
    int64_t lo = ember__rd_i(&in), hi = ember__rd_i(&in);
    if (!xrc && (in.err || !b.len))
        xrc = EMBER_ENOMEM;
    if (!xrc && !root_rc) {
        *lower = lo;
        *upper = hi;
    }
    ember_buf_destroy(&b);
    return xrc;
}

ember_rdd *ember_read_db(ember_ctx *ctx, const ember_db_conf *conf, const char *query,
                         const char *partition_column, int64_t lower, int64_t upper, int parts)
{
    if (!ctx)
        return NULL;
    if (!conf || !conf->url || !*conf->url || !query || !*query)
        return ember__rdd_error(ctx, EMBER_EINVAL, "read_db: conf->url and the query must be set");
    if (parts <= 0 || lower > upper)
        return ember__rdd_error(ctx, EMBER_EINVAL,
                                "read_db: parts must be > 0 (got %d) and lower <= upper", parts);
    bool sqlite = is_sqlite(conf->url), table;
    const char *url = conf->url + (sqlite ? 7 : 0);
    char *from = from_of(query, &table);
    if (!from)
        return ember__rdd_error(ctx, EMBER_ENOMEM, "read_db: out of memory");
    const char *col = partition_column;
    if (!col && sqlite && table)
        col = "rowid";
    char *qcol = col ? (strcmp(col, "rowid") ? ember__db_quote(col) : ember__strdup(col)) : NULL;
    if (!col)
        parts = 1;
    char err[1024] = "";
    int rc = col && !qcol ? EMBER_ENOMEM : 0;
    bool asked = col && lower == 0 && upper == 0;
    if (!rc && asked) /* the column's own range */
        rc = backend_of(sqlite)->bounds(url, from, qcol, &lower, &upper, err, sizeof err);
    else if (!rc) { /* the connection checked before any task runs */
        int64_t a, b;
        rc = backend_of(sqlite)->bounds(url, from, NULL, &a, &b, err, sizeof err);
    }
    if (asked && share_bounds(ctx, rc, &lower, &upper) && !rc) {
        rc = EMBER_ENOMEM;
        snprintf(err, sizeof err, "the ranks could not share the range of %s", col);
    }
    if (rc) {
        ember__free(from);
        ember__free(qcol);
        return ember__rdd_error(ctx, rc, "read_db: %s", err);
    }
    db_read *d = ember__calloc(1, sizeof *d);
    char **sql = ember__calloc((size_t)parts + 1, sizeof *sql);
    char *u = ember__strdup(url);
    bool ok = d && sql && u;
    __int128 span = (__int128)upper - lower;
    for (int p = 0; ok && p < parts; p++) {
        int64_t a = (int64_t)(lower + span * p / parts),
                b = (int64_t)(lower + span * (p + 1) / parts);
        char where[600] = "";
        if (parts > 1 && p == 0)
            snprintf(where, sizeof where, " WHERE %s < %lld OR %s IS NULL", qcol, (long long)b,
                     qcol);
        else if (parts > 1 && p == parts - 1)
            snprintf(where, sizeof where, " WHERE %s >= %lld", qcol, (long long)a);
        else if (parts > 1)
            snprintf(where, sizeof where, " WHERE %s >= %lld AND %s < %lld", qcol, (long long)a,
                     qcol, (long long)b);
        size_t len = strlen(from) + strlen(where) + 32;
        if (!(sql[p] = ember__malloc(len)))
            ok = false;
        else
            snprintf(sql[p], len, "SELECT * FROM %s%s", from, where);
    }
    ember__free(from);
    ember__free(qcol);
    if (!ok) {
        ember__free(d);
        strv_free(sql);
        ember__free(u);
        return ember__rdd_error(ctx, EMBER_ENOMEM, "read_db: out of memory");
    }
    d->c = *conf;
    d->c.url = NULL;
    d->url = u;
    d->sqlite = sqlite;
    d->sql = sql;
    if (!d->c.fetch)
        d->c.fetch = 1000;
    ember_rdd *r = ember__rdd_new(ctx, &read_type, "read_db", parts, NULL, NULL);
    if (!r || ember__rdd_failed(r)) {
        d->url = NULL;
        ember__free(u);
        strv_free(sql);
        ember__free(d);
        return r;
    }
    r->u.state = d;
    r->kind = conf->csv_out ? EMBER_KIND_BYTES : EMBER_KIND_JSON;
    return r;
}
