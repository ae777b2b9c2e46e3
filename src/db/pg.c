/* PostgreSQL through libpq: COPY FROM STDIN for the bulk path, INSERT and
 * UPSERT as prepared statements in pipeline mode (a window of max_in_flight
 * statements, a sync every batch), reads through a cursor.
 *
 * A task's attempt writes inside one transaction (BEGIN before its first
 * row, COMMIT after its last), so a failure, a lost connection or a kill
 * leaves nothing; with commit_every, each commit also records in
 * ember_progress how many of the partition's records are in, and the next
 * attempt starts after them.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/lazy.h"
#include "db/db.h"

/* ---------------------------------------------------------------- helpers */

static const char *pq_msg(PGconn *c)
{
    static __thread char m[600];
    snprintf(m, sizeof m, "%s", c ? PQerrorMessage(c) : "out of memory");
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        m[--n] = 0;
    return m;
}

/* A failed result's message, one line, with its SQLSTATE. */
static void res_msg(const PGresult *r, char *err, size_t cap)
{
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(err, cap, "%s%s%s (SQLSTATE %s)", m ? m : PQresultErrorMessage(r), d ? ": " : "",
             d ? d : "", st ? st : "?");
}

static PGconn *connect_to(const char *url, char *err, size_t cap)
{
    if (ember__lib_load(&ember__libpq)) { /* loaded when first used: core/lazy.h */
        snprintf(err, cap, "cannot connect to PostgreSQL: %s", ember__libpq.err);
        return NULL;
    }
    PGconn *c = PQconnectdb(url);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, cap, "cannot connect to PostgreSQL: %s", pq_msg(c));
        PQfinish(c);
        return NULL;
    }
    PQsetClientEncoding(c, "UTF8");
    return c;
}

/* In a task: the driver has connected already, so a refused connection is
 * taken as passing (a server restarting) and tried again for up to 10 s
 * (100 ms, doubling to 1 s), unless the task is halted. */
static PGconn *task_connect(const char *url, char *err, size_t cap)
{
    PGconn *c = NULL;
    for (int waited = 0, pause = 100; !(c = connect_to(url, err, cap)) && waited < 10000;
         waited += pause, pause = pause < 1000 ? pause * 2 : 1000) {
        if (ember__cur_task && ember__halted(ember__cur_task))
            break;
        usleep((useconds_t)pause * 1000);
    }
    return c;
}

/* Run sql (no results wanted); 0 or EMBER_EIO with the message. */
static int exec_ok(PGconn *c, const char *sql, int n, const char *const *params, char *err,
                   size_t cap)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN ? 0 : EMBER_EIO;
    if (rc) {
        if (PQstatus(c) != CONNECTION_OK)
            snprintf(err, cap, "connection lost: %s", pq_msg(c));
        else
            res_msg(r, err, cap);
    }
    PQclear(r);
    return rc;
}

#define APPEND(b, s) ember_buf_append((b), (s), strlen(s))
#define ROWS_A_STATEMENT 64

/* ---------------------------------------------------------------- the plan (driver) */

static const char progress_table[] =
    "CREATE TABLE IF NOT EXISTS ember_progress (save_id text NOT NULL, part integer NOT NULL, "
    "done bigint NOT NULL, PRIMARY KEY (save_id, part))";

static int pg_plan(db_save *s, char *err, size_t cap)
{
    PGconn *c = connect_to(s->url, err, cap);
    if (!c)
        return EMBER_EIO;
    int rc = 0;
    ember_buf b = {0}, cp = {0};
    if (s->c.sql) { /* the user's statement: its parameters, checked by the server */
        PGresult *r = PQprepare(c, "", s->c.sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            res_msg(r, err, cap);
            rc = EMBER_EINVAL;
        }
        PQclear(r);
        r = rc ? NULL : PQdescribePrepared(c, "");
        if (r)
            s->nparams = PQnparams(r);
        PQclear(r);
        if (!rc && !(s->stmt = ember__strdup(s->c.sql)))
            rc = EMBER_ENOMEM;
        goto out;
    }
    /* the table, as the server names it (quoted where it must be) */
    const char *tp[1] = {s->c.table};
    PGresult *r = PQexecParams(c, "SELECT $1::regclass::text", 1, NULL, tp, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        res_msg(r, err, cap);
        PQclear(r);
        rc = EMBER_EINVAL;
        goto out;
    }
    s->table_sql = ember__strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!s->cols) { /* the table's columns, from the catalog */
        r = PQexecParams(c,
                         "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND "
                         "attnum > 0 AND NOT attisdropped ORDER BY attnum",
                         1, NULL, tp, NULL, NULL, 0);
        int n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
        s->cols = ember__calloc((size_t)n + 1, sizeof *s->cols);
        for (int i = 0; s->cols && i < n; i++)
            if (!(s->cols[i] = ember__strdup(PQgetvalue(r, i, 0))))
                rc = EMBER_ENOMEM;
        s->ncols = n;
        PQclear(r);
        if (!s->cols)
            rc = EMBER_ENOMEM;
        if (!rc && !n) {
            snprintf(err, cap, "%s has no columns", s->c.table);
            rc = EMBER_EINVAL;
        }
    }
    /* INSERT INTO t (a, b) VALUES ($1, $2) [ON CONFLICT (k) DO UPDATE SET b = EXCLUDED.b];
     * INSERT: ROWS_A_STATEMENT rows a statement too (fewer when the parameters
     * would pass 65,535); UPSERT keeps a row a statement (a key twice in one
     * statement is an error there, a later row winning here) */
    if (rc)
        goto out;
    s->group = ROWS_A_STATEMENT < 65535 / s->ncols ? ROWS_A_STATEMENT : 65535 / s->ncols;
    if ((!(s->stmt = ember__db_insert(s, 1, true)) ||
         (s->c.mode == EMBER_DB_INSERT && s->group > 1 &&
          !(s->stmt_multi = ember__db_insert(s, s->group, true))) ||
         APPEND(&cp, "COPY ") || APPEND(&cp, s->table_sql) || APPEND(&cp, " ") ||
         ember__db_columns(&cp, s) || APPEND(&cp, " FROM STDIN") || ember_buf_append(&cp, "", 1))) {
        snprintf(err, cap, "out of memory");
        rc = EMBER_ENOMEM;
        goto out;
    }
    s->copy = (char *)cp.ptr;
    cp = (ember_buf){0};
    /* the statement checked now, not in every task (a column that is not there) */
    r = PQprepare(c, "", s->stmt, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        res_msg(r, err, cap);
        rc = EMBER_EINVAL;
    }
    PQclear(r);
out:
    if (!rc && s->c.commit_every > 0)
        rc = exec_ok(c, progress_table, 0, NULL, err, cap);
    ember_buf_destroy(&b);
    ember_buf_destroy(&cp);
    PQfinish(c);
    return rc;
}

/* ---------------------------------------------------------------- the writer (a task) */

enum { P_QUERY, P_SYNC };
typedef struct pend {
    int64_t rec;  /* the first record a statement writes (-1: BEGIN, COMMIT, progress) */
    int64_t last; /* ... and its last */
    int what;
} pend;

struct db_writer {
    PGconn *c;
    const db_save *s;
    int part;
    bool copy;
    ember_buf buf;     /* COPY: lines not yet sent; INSERT: the parameters */
    int64_t copy_line; /* COPY: lines sent in this COPY */
    /* COPY: where the lines' records jump (a bad record left out): (line, record) */
    int64_t (*jumps)[2];
    int njumps, cap_jumps;
    int64_t next_rec;
    /* pipeline: what is in flight, oldest first */
    pend *ring;
    int cap, head, count, queries;
    bool head_got;
    int unsynced;
    int64_t sent;
    bool done; /* committed: nothing of ours runs on the server */
    int code;
    int64_t err_at;
    char err[900];
    const char **vals;
    size_t *offs; /* SIZE_MAX: NULL */
    int nvals;
    /* INSERT: rows gathered for one statement of group rows */
    int group, grouped, nparams;
    int64_t *grec; /* their records */
};

static int pg_open(const db_save *s, int part, db_writer **out, int64_t *done, char *err,
                   size_t cap)
{
    db_writer *w = ember__calloc(1, sizeof *w);
    if (!w)
        return snprintf(err, cap, "out of memory"), EMBER_ENOMEM;
    *out = w;
    w->s = s;
    w->part = part;
    w->copy = s->c.mode == EMBER_DB_COPY && !s->c.sql;
    if (!(w->c = task_connect(s->url, err, cap)))
        return EMBER_EIO;
    if (s->c.commit_every > 0) {
        char pt[16];
        snprintf(pt, sizeof pt, "%d", part);
        const char *pv[2] = {s->save_id, pt};
        PGresult *r = PQexecParams(w->c,
                                   "SELECT done FROM ember_progress WHERE save_id = $1 AND "
                                   "part = $2",
                                   2, NULL, pv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            res_msg(r, err, cap);
            PQclear(r);
            return EMBER_EIO;
        }
        if (PQntuples(r))
            *done = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    int rc = exec_ok(w->c, "BEGIN", 0, NULL, err, cap);
    if (!rc && w->copy)
        rc = exec_ok(w->c, s->copy, 0, NULL, err, cap);
    if (rc || w->copy)
        return rc;
    PGresult *r = PQprepare(w->c, "ember_w", s->stmt, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = EMBER_EIO, res_msg(r, err, cap);
    PQclear(r);
    w->group = s->stmt_multi ? s->group : 1;
    if (!rc && s->stmt_multi) {
        r = PQprepare(w->c, "ember_wk", s->stmt_multi, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = EMBER_EIO, res_msg(r, err, cap);
        PQclear(r);
    }
    if (!rc && (!PQenterPipelineMode(w->c) || PQsetnonblocking(w->c, 1))) {
        snprintf(err, cap, "cannot enter pipeline mode: %s", pq_msg(w->c));
        rc = EMBER_EIO;
    }
    return rc;
}

/* ---- COPY */

/* A field in COPY's text format: \N for NULL; backslash, tab, newline and
 * carriage return escaped. */
static int copy_field(ember_buf *b, const db_field *f)
{
    if (f->kind == DB_NULL)
        return ember_buf_append(b, "\\N", 2);
    const char *p = f->p, *end = p + f->len, *from = p;
    int rc = 0;
    for (; p < end && !rc; p++) {
        char e;
        switch (*p) {
        case '\\':
            e = '\\';
            break;
        case '\t':
            e = 't';
            break;
        case '\n':
            e = 'n';
            break;
        case '\r':
            e = 'r';
            break;
        default:
            continue;
        }
        char esc[2] = {'\\', e};
        rc = ember_buf_append(b, from, (size_t)(p - from)) || ember_buf_append(b, esc, 2);
        from = p + 1;
    }
    return rc ? rc : ember_buf_append(b, from, (size_t)(end - from));
}

static int copy_send(db_writer *w, char *err, size_t cap)
{
    if (!w->buf.len)
        return 0;
    if (PQputCopyData(w->c, (const char *)w->buf.ptr, (int)w->buf.len) != 1) {
        snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
        return EMBER_EIO;
    }
    w->buf.len = 0;
    return 0;
}

/* The record of COPY's line (1-based) in this COPY. */
static int64_t copy_rec(const db_writer *w, int64_t line)
{
    int64_t l0 = 1, r0 = -1;
    for (int i = 0; i < w->njumps && w->jumps[i][0] <= line; i++)
        l0 = w->jumps[i][0], r0 = w->jumps[i][1];
    return r0 < 0 ? -1 : r0 + (line - l0);
}

/* End the COPY; its outcome (a failure names its line's record). */
static int copy_end(db_writer *w, char *err, size_t cap, int64_t *row_at)
{
    int rc = copy_send(w, err, cap);
    if (!rc && PQputCopyEnd(w->c, NULL) != 1) {
        snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
        rc = EMBER_EIO;
    }
    PGresult *r;
    while ((r = PQgetResult(w->c))) {
        if (!rc && PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = EMBER_EIO;
            res_msg(r, err, cap);
            const char *ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
            const char *l = ctx ? strstr(ctx, "line ") : NULL;
            if (l)
                *row_at = copy_rec(w, strtoll(l + 5, NULL, 10));
            if (PQstatus(w->c) != CONNECTION_OK)
                snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
        }
        PQclear(r);
    }
    w->njumps = 0;
    w->copy_line = 0;
    return rc;
}

/* ---- the pipeline */

static int push_pend(db_writer *w, int64_t rec, int what)
{
    if (w->count == w->cap) {
        int nc = w->cap ? w->cap * 2 : 512;
        pend *r = ember__malloc((size_t)nc * sizeof *r);
        if (!r)
            return EMBER_ENOMEM;
        for (int i = 0; i < w->count; i++)
            r[i] = w->ring[(w->head + i) % w->cap];
        ember__free(w->ring);
        w->ring = r;
        w->head = 0;
        w->cap = nc;
    }
    w->ring[(w->head + w->count++) % w->cap] = (pend){rec, rec, what};
    w->queries += what == P_QUERY;
    return 0;
}

static void pop_pend(db_writer *w)
{
    w->queries -= w->ring[w->head].what == P_QUERY;
    w->head = (w->head + 1) % w->cap;
    w->count--;
    w->head_got = false;
}

/* Take in the results that have come. */
static void take_results(db_writer *w)
{
    while (w->count && !PQisBusy(w->c)) {
        PGresult *r = PQgetResult(w->c);
        pend *h = &w->ring[w->head];
        if (!r) { /* the end of a statement's results */
            if (h->what == P_QUERY && w->head_got)
                pop_pend(w);
            else
                break;
            continue;
        }
        int st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            if (h->what == P_SYNC)
                pop_pend(w);
        } else {
            w->head_got = true;
            if (st == PGRES_FATAL_ERROR && !w->code) {
                w->code = EMBER_EIO;
                w->err_at = h->rec;
                int k = 0;
                if (h->last != h->rec) { /* a statement of many rows: their range */
                    k = snprintf(w->err, sizeof w->err,
                                 "records %lld to %lld (one statement): ", (long long)h->rec,
                                 (long long)h->last);
                    w->err_at = -1;
                }
                res_msg(r, w->err + k, sizeof w->err - (size_t)k);
            }
        }
        PQclear(r);
    }
}

/* Send what is written and take in results; with until >= 0, wait until at
 * most until statements are in flight. */
static int pump(db_writer *w, int until, char *err, size_t cap, int64_t *row_at)
{
    for (;;) {
        int f = PQflush(w->c);
        if (f < 0 || !PQconsumeInput(w->c)) {
            snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
            return EMBER_EIO;
        }
        take_results(w);
        if (w->code) {
            snprintf(err, cap, "%s", w->err);
            *row_at = w->err_at;
            return w->code;
        }
        if (until < 0 || (w->queries <= until && (until > 0 || !w->count)))
            return 0;
        if (w->unsynced) { /* what waits must reach the server */
            if (!PQpipelineSync(w->c) || push_pend(w, -1, P_SYNC)) {
                snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
                return EMBER_EIO;
            }
            w->unsynced = 0;
            continue;
        }
        struct pollfd pf = {.fd = PQsocket(w->c), .events = POLLIN | (f == 1 ? POLLOUT : 0)};
        if (poll(&pf, 1, 200) < 0 && errno != EINTR) {
            snprintf(err, cap, "poll: %s", strerror(errno));
            return EMBER_EIO;
        }
        if (ember__cur_task && ember__halted(ember__cur_task)) { /* a cancel, a failure */
            snprintf(err, cap, "stopped while waiting for the server");
            return ember__halt_code(ember__cur_task);
        }
    }
}

static int send_sql(db_writer *w, const char *sql, int n, const char *const *params)
{
    if (!PQsendQueryParams(w->c, sql, n, NULL, params, NULL, NULL, 0))
        return EMBER_EIO;
    w->unsynced++;
    return push_pend(w, -1, P_QUERY);
}

static int sync_now(db_writer *w)
{
    if (!PQpipelineSync(w->c))
        return EMBER_EIO;
    w->unsynced = 0;
    return push_pend(w, -1, P_SYNC);
}

/* Send one prepared statement: rows [from, to) of the group, as stmt. */
static int send_rows(db_writer *w, const char *stmt, int from, int to, char *err, size_t cap,
                     int64_t *row_at)
{
    int n = w->nparams, np = (to - from) * n;
    for (int i = 0; i < np; i++) {
        size_t o = w->offs[from * n + i];
        w->vals[from * n + i] = o == SIZE_MAX ? NULL : (const char *)w->buf.ptr + o;
    }
    if (!PQsendQueryPrepared(w->c, stmt, np, w->vals + from * n, NULL, NULL, 0)) {
        snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
        return EMBER_EIO;
    }
    if (push_pend(w, w->grec[from], P_QUERY))
        return snprintf(err, cap, "out of memory"), EMBER_ENOMEM;
    w->ring[(w->head + w->count - 1) % w->cap].last = w->grec[to - 1];
    if (++w->unsynced >= w->s->c.batch && sync_now(w)) {
        snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
        return EMBER_EIO;
    }
    /* the window: at most max_in_flight statements in flight; what has come
     * back is taken in every 64 statements (two system calls, not two a row) */
    if (w->queries >= w->s->c.max_in_flight)
        return pump(w, w->s->c.max_in_flight - 1, err, cap, row_at);
    return ++w->sent % 64 ? 0 : pump(w, -1, err, cap, row_at);
}

/* The rows gathered: one statement when the group is full, else a
 * statement a row (a task's last rows, before a commit). */
static int send_group(db_writer *w, char *err, size_t cap, int64_t *row_at)
{
    int rc = 0, k = w->grouped;
    if (k == w->group && k > 1)
        rc = send_rows(w, "ember_wk", 0, k, err, cap, row_at);
    else
        for (int r = 0; r < k && !rc; r++)
            rc = send_rows(w, "ember_w", r, r + 1, err, cap, row_at);
    w->grouped = 0;
    return rc;
}

static int pg_row(db_writer *w, const db_field *f, int n, int64_t rec, char *err, size_t cap,
                  int64_t *row_at)
{
    if (w->copy) {
        if (rec != w->next_rec) { /* a jump in the records (or the first line) */
            if (w->njumps == w->cap_jumps) {
                int nc = w->cap_jumps ? w->cap_jumps * 2 : 16;
                void *j = ember__realloc(w->jumps, (size_t)nc * sizeof *w->jumps);
                if (!j)
                    return snprintf(err, cap, "out of memory"), EMBER_ENOMEM;
                w->jumps = j;
                w->cap_jumps = nc;
            }
            w->jumps[w->njumps][0] = w->copy_line + 1;
            w->jumps[w->njumps++][1] = rec;
        }
        w->next_rec = rec + 1;
        w->copy_line++;
        int rc = 0;
        for (int i = 0; i < n && !rc; i++)
            rc = (i && ember_buf_append(&w->buf, "\t", 1)) || copy_field(&w->buf, &f[i]);
        if (rc || ember_buf_append(&w->buf, "\n", 1))
            return snprintf(err, cap, "out of memory"), EMBER_ENOMEM;
        return w->buf.len >= 1 << 16 ? copy_send(w, err, cap) : 0;
    }
    /* INSERT: rows gathered into one statement of w->group rows */
    int at = w->grouped * n;
    if (at + n > w->nvals) {
        int want = w->group * n;
        const char **v = ember__realloc(w->vals, (size_t)want * sizeof *v);
        if (v)
            w->vals = v;
        size_t *o = ember__realloc(w->offs, (size_t)want * sizeof *o);
        if (o)
            w->offs = o;
        int64_t *g = ember__realloc(w->grec, (size_t)w->group * sizeof *g);
        if (g)
            w->grec = g;
        if (!v || !o || !g)
            return snprintf(err, cap, "out of memory"), EMBER_ENOMEM;
        w->nvals = want;
    }
    if (!w->grouped)
        w->buf.len = 0;
    for (int i = 0; i < n; i++) { /* the parameters as C strings (text format) */
        w->offs[at + i] = f[i].kind == DB_NULL ? SIZE_MAX : w->buf.len;
        if (f[i].kind != DB_NULL &&
            (ember_buf_append(&w->buf, f[i].p, f[i].len) || ember_buf_append(&w->buf, "", 1)))
            return snprintf(err, cap, "out of memory"), EMBER_ENOMEM;
    }
    w->grec[w->grouped++] = rec;
    w->nparams = n;
    return w->grouped == w->group ? send_group(w, err, cap, row_at) : 0;
}

static const char progress_upsert[] =
    "INSERT INTO ember_progress (save_id, part, done) VALUES ($1, $2, $3) ON CONFLICT (save_id, "
    "part) DO UPDATE SET done = EXCLUDED.done";

static int pg_checkpoint(db_writer *w, int64_t done, char *err, size_t cap, int64_t *row_at)
{
    char pt[16], dn[24];
    snprintf(pt, sizeof pt, "%d", w->part);
    snprintf(dn, sizeof dn, "%lld", (long long)done);
    const char *pv[3] = {w->s->save_id, pt, dn};
    if (w->copy) {
        int rc = copy_end(w, err, cap, row_at);
        rc = rc ? rc : exec_ok(w->c, progress_upsert, 3, pv, err, cap);
        rc = rc ? rc : exec_ok(w->c, "COMMIT", 0, NULL, err, cap);
        rc = rc ? rc : exec_ok(w->c, "BEGIN", 0, NULL, err, cap);
        return rc ? rc : exec_ok(w->c, w->s->copy, 0, NULL, err, cap);
    }
    int rc = w->grouped ? send_group(w, err, cap, row_at) : 0;
    if (rc)
        return rc;
    if (send_sql(w, progress_upsert, 3, pv) || send_sql(w, "COMMIT", 0, NULL) ||
        send_sql(w, "BEGIN", 0, NULL) || sync_now(w)) {
        snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
        return EMBER_EIO;
    }
    return pump(w, -1, err, cap, row_at);
}

static int pg_finish(db_writer *w, int64_t done, char *err, size_t cap, int64_t *row_at)
{
    int rc = !w->copy && w->grouped ? send_group(w, err, cap, row_at) : 0;
    if (rc)
        return rc;
    if (w->s->c.commit_every > 0) { /* the last batch's progress */
        char pt[16], dn[24];
        snprintf(pt, sizeof pt, "%d", w->part);
        snprintf(dn, sizeof dn, "%lld", (long long)done);
        const char *pv[3] = {w->s->save_id, pt, dn};
        if (w->copy) {
            rc = copy_end(w, err, cap, row_at);
            rc = rc ? rc : exec_ok(w->c, progress_upsert, 3, pv, err, cap);
        } else if (send_sql(w, progress_upsert, 3, pv)) {
            snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
            return EMBER_EIO;
        }
    } else if (w->copy) {
        rc = copy_end(w, err, cap, row_at);
    }
    if (rc)
        return rc;
    if (w->copy)
        rc = exec_ok(w->c, "COMMIT", 0, NULL, err, cap);
    else if (send_sql(w, "COMMIT", 0, NULL) || sync_now(w)) {
        snprintf(err, cap, "connection lost: %s", pq_msg(w->c));
        return EMBER_EIO;
    } else
        rc = pump(w, 0, err, cap, row_at); /* everything answered */
    w->done = rc == 0;
    return rc;
}

static void pg_close(db_writer *w)
{
    if (!w)
        return;
    if (w->c && !w->done) { /* stop what the server is running for us, then go */
        PGcancel *cn = PQgetCancel(w->c);
        char buf[256];
        if (cn)
            PQcancel(cn, buf, sizeof buf);
        PQfreeCancel(cn);
    }
    PQfinish(w->c); /* what is not committed is rolled back */
    ember_buf_destroy(&w->buf);
    ember__free(w->jumps);
    ember__free(w->ring);
    ember__free(w->vals);
    ember__free(w->offs);
    ember__free(w->grec);
    ember__free(w);
}

/* ---------------------------------------------------------------- reads */

static bool json_number(Oid t, const char *v)
{
    if (t != 20 && t != 21 && t != 23 && t != 26 && t != 700 && t != 701 && t != 1700)
        return false;
    return strcmp(v, "NaN") && strcmp(v, "Infinity") && strcmp(v, "-Infinity");
}

/* One row as a record: a JSON object (names: the columns' escaped names) or a CSV row. */
static int row_record(const PGresult *r, int i, const ember_buf *names, const size_t *name_at,
                      bool csv, ember_buf *b)
{
    int nf = PQnfields(r), rc = 0;
    b->len = 0;
    if (!csv)
        rc = ember_buf_append(b, "{", 1);
    for (int f = 0; f < nf && !rc; f++) {
        const char *v = PQgetvalue(r, i, f);
        size_t vl = (size_t)PQgetlength(r, i, f);
        bool null = PQgetisnull(r, i, f);
        if (csv) {
            rc = ember__db_csv_put(b, null ? "" : v, null ? 0 : vl);
            continue;
        }
        if (f)
            rc = ember_buf_append(b, ",", 1);
        rc = rc ? rc : ember_buf_append(b, names->ptr + name_at[f], name_at[f + 1] - name_at[f]);
        Oid t = PQftype(r, f);
        if (rc)
            break;
        if (null)
            rc = ember_buf_append(b, "null", 4);
        else if (t == 16)
            rc = *v == 't' ? ember_buf_append(b, "true", 4) : ember_buf_append(b, "false", 5);
        else if (t == 114 || t == 3802 || json_number(t, v))
            rc = ember_buf_append(b, v, vl);
        else
            rc = ember__json_str(b, ember_bytes_of(v, vl));
    }
    return rc || csv ? rc : ember_buf_append(b, "}", 1);
}

static int pg_read(const ember_db_conf *c, const char *url, const char *sql, ember_out *o,
                   char *err, size_t cap)
{
    ember__task *t = o->task;
    PGconn *conn = connect_to(url, err, cap);
    if (!conn)
        return EMBER_EIO;
    ember_buf decl = {0}, names = {0}, rec = {0};
    size_t *name_at = NULL;
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH FORWARD %d FROM ember_c", c->fetch);
    int rc = exec_ok(conn, "BEGIN READ ONLY", 0, NULL, err, cap);
    if (!rc && (APPEND(&decl, "DECLARE ember_c NO SCROLL CURSOR FOR ") || APPEND(&decl, sql) ||
                ember_buf_append(&decl, "", 1)))
        rc = EMBER_ENOMEM;
    rc = rc ? rc : exec_ok(conn, (const char *)decl.ptr, 0, NULL, err, cap);
    while (!rc) {
        PGresult *r = PQexec(conn, fetch);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            if (PQstatus(conn) != CONNECTION_OK)
                snprintf(err, cap, "connection lost: %s", pq_msg(conn));
            else
                res_msg(r, err, cap);
            PQclear(r);
            rc = EMBER_EIO;
            break;
        }
        int n = PQntuples(r), nf = PQnfields(r);
        if (!name_at && !c->csv_out) { /* the names, escaped once */
            name_at = ember__calloc((size_t)nf + 1, sizeof *name_at);
            for (int f = 0; name_at && f < nf && !rc; f++) {
                name_at[f] = names.len;
                const char *nm = PQfname(r, f);
                rc = ember__json_str(&names, ember_bytes_of(nm, strlen(nm))) ||
                     ember_buf_append(&names, ":", 1);
            }
            if (!name_at)
                rc = EMBER_ENOMEM;
            else
                name_at[nf] = names.len;
        }
        for (int i = 0; i < n && !rc; i++) {
            if ((rc = row_record(r, i, &names, name_at, c->csv_out, &rec)))
                break;
            ember_rec er = {.val = ember_buf_bytes(&rec)};
            t->records_in++;
            if ((rc = o->push(o, &er)) || ember__halted(t)) {
                rc = rc ? rc : ember__halt_code(t);
                break;
            }
        }
        PQclear(r);
        if (!n)
            break;
    }
    if (rc == EMBER_ENOMEM)
        snprintf(err, cap, "out of memory");
    PQfinish(conn); /* the cursor and the read-only transaction go with it */
    ember_buf_destroy(&decl);
    ember_buf_destroy(&names);
    ember_buf_destroy(&rec);
    ember__free(name_at);
    return rc;
}

static int pg_bounds(const char *url, const char *from, const char *column, int64_t *lo,
                     int64_t *hi, char *err, size_t cap)
{
    PGconn *c = connect_to(url, err, cap);
    if (!c)
        return EMBER_EIO;
    ember_buf q = {0};
    int rc = 0;
    if (column)
        rc = APPEND(&q, "SELECT min(") || APPEND(&q, column) || APPEND(&q, ")::bigint, max(") ||
             APPEND(&q, column) || APPEND(&q, ")::bigint FROM ") || APPEND(&q, from);
    else /* the query checked: no rows, its columns known */
        rc = APPEND(&q, "SELECT * FROM ") || APPEND(&q, from) || APPEND(&q, " LIMIT 0");
    rc = rc ? rc : ember_buf_append(&q, "", 1);
    if (!rc) {
        PGresult *r = PQexec(c, (const char *)q.ptr);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            res_msg(r, err, cap);
            rc = EMBER_EINVAL;
        } else if (column) {
            *lo = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            *hi = PQgetisnull(r, 0, 1) ? 0 : strtoll(PQgetvalue(r, 0, 1), NULL, 10);
            *hi += *hi < INT64_MAX; /* upper is the last partition's start's bound */
        }
        PQclear(r);
    } else {
        snprintf(err, cap, "out of memory");
    }
    ember_buf_destroy(&q);
    PQfinish(c);
    return rc;
}

const db_backend ember__db_pg = {.plan = pg_plan,
                                 .open = pg_open,
                                 .row = pg_row,
                                 .checkpoint = pg_checkpoint,
                                 .finish = pg_finish,
                                 .close = pg_close,
                                 .read = pg_read,
                                 .bounds = pg_bounds};
