/* SQLite: the same saves and reads on a file. One writer at a time (SQLite's
 * own lock, waited for with a busy timeout), WAL so readers do not block it;
 * a task's rows go in one transaction (BEGIN IMMEDIATE), or committed every
 * commit_every rows with the progress recorded in ember_progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/lazy.h"
#include "db/db.h"

static sqlite3 *open_db(const char *path, bool write, char *err, size_t cap)
{
    if (ember__lib_load(&ember__libsqlite)) { /* loaded when first used: core/lazy.h */
        snprintf(err, cap, "cannot open the SQLite database %s: %s", path, ember__libsqlite.err);
        return NULL;
    }
    sqlite3 *db = NULL;
    int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, cap, "cannot open the SQLite database %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 600000); /* the other writers' transactions */
    if (write)
        sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    return db;
}

static int exec_ok(sqlite3 *db, const char *sql, char *err, size_t cap)
{
    char *m = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &m) == SQLITE_OK)
        return 0;
    snprintf(err, cap, "%s", m ? m : sqlite3_errmsg(db));
    sqlite3_free(m);
    return EMBER_EIO;
}

static const char progress_table[] =
    "CREATE TABLE IF NOT EXISTS ember_progress (save_id TEXT NOT NULL, part INTEGER NOT NULL, "
    "done INTEGER NOT NULL, PRIMARY KEY (save_id, part))";

static int sl_plan(db_save *s, char *err, size_t cap)
{
    sqlite3 *db = open_db(s->url, true, err, cap);
    if (!db)
        return EMBER_EIO;
    int rc = 0;
    sqlite3_stmt *st = NULL;
    if (s->c.sql) {
        if (sqlite3_prepare_v2(db, s->c.sql, -1, &st, NULL) != SQLITE_OK) {
            snprintf(err, cap, "%s", sqlite3_errmsg(db));
            rc = EMBER_EINVAL;
        } else {
            s->nparams = sqlite3_bind_parameter_count(st);
            if (!(s->stmt = ember__strdup(s->c.sql)))
                rc = EMBER_ENOMEM;
        }
        goto out;
    }
    s->table_sql = ember__db_quote(s->c.table);
    if (!s->cols) { /* the table's columns */
        char *q =
            sqlite3_mprintf("SELECT name FROM pragma_table_info(%Q) ORDER BY cid", s->c.table);
        int n = 0, capn = 8;
        s->cols = ember__calloc((size_t)capn + 1, sizeof *s->cols);
        if (q && s->cols && sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
            while (!rc && sqlite3_step(st) == SQLITE_ROW) {
                if (n == capn) {
                    char **g = ember__realloc(s->cols, ((size_t)capn * 2 + 1) * sizeof *g);
                    if (!g) {
                        rc = EMBER_ENOMEM;
                        break;
                    }
                    s->cols = g;
                    capn *= 2;
                }
                s->cols[n] = ember__strdup((const char *)sqlite3_column_text(st, 0));
                s->cols[++n] = NULL;
            }
        }
        sqlite3_finalize(st);
        st = NULL;
        sqlite3_free(q);
        s->ncols = n;
        if (!rc && !n) {
            snprintf(err, cap, "no such table: %s", s->c.table);
            rc = EMBER_EINVAL;
            goto out;
        }
    }
    if (!(s->stmt = ember__db_insert(s, 1, false))) {
        snprintf(err, cap, "out of memory");
        rc = EMBER_ENOMEM;
        goto out;
    }
    if (sqlite3_prepare_v2(db, s->stmt, -1, &st, NULL) != SQLITE_OK) { /* checked now */
        snprintf(err, cap, "%s", sqlite3_errmsg(db));
        rc = EMBER_EINVAL;
    }
out:
    sqlite3_finalize(st);
    if (!rc && s->c.commit_every > 0)
        rc = exec_ok(db, progress_table, err, cap);
    sqlite3_close(db);
    return rc;
}

struct db_writer {
    sqlite3 *db;
    sqlite3_stmt *ins, *prog;
    const db_save *s;
    int part;
};

static int sl_open(const db_save *s, int part, db_writer **out, int64_t *done, char *err,
                   size_t cap)
{
    db_writer *w = ember__calloc(1, sizeof *w);
    if (!w)
        return snprintf(err, cap, "out of memory"), EMBER_ENOMEM;
    *out = w;
    w->s = s;
    w->part = part;
    if (!(w->db = open_db(s->url, true, err, cap)))
        return EMBER_EIO;
    if (sqlite3_prepare_v2(w->db, s->stmt, -1, &w->ins, NULL) != SQLITE_OK) {
        snprintf(err, cap, "%s", sqlite3_errmsg(w->db));
        return EMBER_EIO;
    }
    int rc = exec_ok(w->db, "BEGIN IMMEDIATE", err, cap); /* the write lock, waited for */
    if (!rc && s->c.commit_every > 0) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(w->db,
                               "SELECT done FROM ember_progress WHERE save_id = ? AND part = ?", -1,
                               &q, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(w->db,
                               "INSERT INTO ember_progress (save_id, part, done) VALUES (?, ?, ?) "
                               "ON CONFLICT (save_id, part) DO UPDATE SET done = excluded.done",
                               -1, &w->prog, NULL) != SQLITE_OK) {
            snprintf(err, cap, "%s", sqlite3_errmsg(w->db));
            rc = EMBER_EIO;
        } else {
            sqlite3_bind_text(q, 1, s->save_id, -1, SQLITE_STATIC);
            sqlite3_bind_int(q, 2, part);
            if (sqlite3_step(q) == SQLITE_ROW)
                *done = sqlite3_column_int64(q, 0);
        }
        sqlite3_finalize(q);
    }
    return rc;
}

static int sl_row(db_writer *w, const db_field *f, int n, int64_t rec, char *err, size_t cap,
                  int64_t *row_at)
{
    sqlite3_stmt *st = w->ins;
    for (int i = 0; i < n; i++) {
        const db_field *x = &f[i];
        char num[40];
        switch (x->kind) {
        case DB_NULL:
            sqlite3_bind_null(st, i + 1);
            break;
        case DB_INT:
            snprintf(num, sizeof num, "%.*s", (int)(x->len < 39 ? x->len : 39), x->p);
            sqlite3_bind_int64(st, i + 1, strtoll(num, NULL, 10));
            break;
        case DB_REAL:
            snprintf(num, sizeof num, "%.*s", (int)(x->len < 39 ? x->len : 39), x->p);
            sqlite3_bind_double(st, i + 1, strtod(num, NULL));
            break;
        case DB_BOOL:
            sqlite3_bind_int(st, i + 1, x->p[0] == 't');
            break;
        default:
            sqlite3_bind_text64(st, i + 1, x->p, x->len, SQLITE_STATIC, SQLITE_UTF8);
        }
    }
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        snprintf(err, cap, "%s", sqlite3_errmsg(w->db));
        *row_at = rec;
        return EMBER_EIO;
    }
    return 0;
}

static int record(db_writer *w, int64_t done, char *err, size_t cap)
{
    sqlite3_bind_text(w->prog, 1, w->s->save_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(w->prog, 2, w->part);
    sqlite3_bind_int64(w->prog, 3, done);
    int r = sqlite3_step(w->prog);
    sqlite3_reset(w->prog);
    if (r != SQLITE_DONE) {
        snprintf(err, cap, "%s", sqlite3_errmsg(w->db));
        return EMBER_EIO;
    }
    return 0;
}

static int sl_checkpoint(db_writer *w, int64_t done, char *err, size_t cap, int64_t *row_at)
{
    (void)row_at;
    int rc = record(w, done, err, cap);
    rc = rc ? rc : exec_ok(w->db, "COMMIT", err, cap);
    return rc ? rc : exec_ok(w->db, "BEGIN IMMEDIATE", err, cap);
}

static int sl_finish(db_writer *w, int64_t done, char *err, size_t cap, int64_t *row_at)
{
    (void)row_at;
    int rc = w->s->c.commit_every > 0 ? record(w, done, err, cap) : 0;
    return rc ? rc : exec_ok(w->db, "COMMIT", err, cap);
}

static void sl_close(db_writer *w)
{
    if (!w)
        return;
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->prog);
    if (w->db && !sqlite3_get_autocommit(w->db))
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(w->db);
    ember__free(w);
}

static int sl_read(const ember_db_conf *c, const char *url, const char *sql, ember_out *o,
                   char *err, size_t cap)
{
    ember__task *t = o->task;
    sqlite3 *db = open_db(url, false, err, cap);
    if (!db)
        return EMBER_EIO;
    sqlite3_stmt *st = NULL;
    ember_buf b = {0};
    int rc = 0, r;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, cap, "%s", sqlite3_errmsg(db));
        rc = EMBER_EIO;
    }
    static const char hex[] = "0123456789abcdef";
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        int nf = sqlite3_column_count(st);
        b.len = 0;
        if (!c->csv_out)
            rc = ember_buf_append(&b, "{", 1);
        for (int f = 0; f < nf && !rc; f++) {
            int ty = sqlite3_column_type(st, f);
            char num[40];
            const char *v = num;
            size_t vl = 0;
            if (ty == SQLITE_INTEGER)
                vl = (size_t)snprintf(num, sizeof num, "%lld",
                                      (long long)sqlite3_column_int64(st, f));
            else if (ty == SQLITE_FLOAT)
                vl = (size_t)snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, f));
            else if (ty == SQLITE_TEXT) {
                v = (const char *)sqlite3_column_text(st, f);
                vl = (size_t)sqlite3_column_bytes(st, f);
            }
            if (c->csv_out && ty != SQLITE_BLOB) {
                rc = ember__db_csv_put(&b, v, vl);
                continue;
            }
            if (!c->csv_out) {
                const char *nm = sqlite3_column_name(st, f);
                rc = (f && ember_buf_append(&b, ",", 1)) ||
                     ember__json_str(&b, ember_bytes_of(nm, strlen(nm))) ||
                     ember_buf_append(&b, ":", 1);
            }
            if (rc)
                break;
            if (ty == SQLITE_BLOB) { /* "\x..." */
                const unsigned char *p = sqlite3_column_blob(st, f);
                size_t n = (size_t)sqlite3_column_bytes(st, f);
                ember_buf h = {0};
                rc = ember_buf_append(&h, "\\x", 2);
                for (size_t i = 0; i < n && !rc; i++) {
                    char x[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
                    rc = ember_buf_append(&h, x, 2);
                }
                if (!rc)
                    rc = c->csv_out
                             ? ember__db_csv_put(&b, (const char *)h.ptr, h.len)
                             : ember__json_str(&b, ember_bytes_of((const char *)h.ptr, h.len));
                ember_buf_destroy(&h);
            } else if (ty == SQLITE_NULL) {
                rc = ember_buf_append(&b, "null", 4);
            } else if (ty == SQLITE_TEXT) {
                rc = ember__json_str(&b, ember_bytes_of(v, vl));
            } else {
                rc = ember_buf_append(&b, v, vl);
            }
        }
        if (!rc && !c->csv_out)
            rc = ember_buf_append(&b, "}", 1);
        if (rc)
            break;
        ember_rec er = {.val = ember_buf_bytes(&b)};
        t->records_in++;
        if ((rc = o->push(o, &er)) || ember__halted(t))
            rc = rc ? rc : ember__halt_code(t);
    }
    if (!rc && r != SQLITE_DONE) {
        snprintf(err, cap, "%s", sqlite3_errmsg(db));
        rc = EMBER_EIO;
    }
    if (rc == EMBER_ENOMEM)
        snprintf(err, cap, "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    ember_buf_destroy(&b);
    return rc;
}

static int sl_bounds(const char *url, const char *from, const char *column, int64_t *lo,
                     int64_t *hi, char *err, size_t cap)
{
    sqlite3 *db = open_db(url, false, err, cap);
    if (!db)
        return EMBER_EIO;
    char *q = column ? sqlite3_mprintf("SELECT min(%s), max(%s) FROM %s", column, column, from)
                     : sqlite3_mprintf("SELECT * FROM %s LIMIT 0", from);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (!q || sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, cap, "%s", q ? sqlite3_errmsg(db) : "out of memory");
        rc = EMBER_EINVAL;
    } else if (sqlite3_step(st) == SQLITE_ROW && column) {
        *lo = sqlite3_column_int64(st, 0);
        *hi = sqlite3_column_int64(st, 1);
        *hi += *hi < INT64_MAX;
    }
    sqlite3_finalize(st);
    sqlite3_free(q);
    sqlite3_close(db);
    return rc;
}

const db_backend ember__db_sqlite = {.plan = sl_plan,
                                     .open = sl_open,
                                     .row = sl_row,
                                     .checkpoint = sl_checkpoint,
                                     .finish = sl_finish,
                                     .close = sl_close,
                                     .read = sl_read,
                                     .bounds = sl_bounds};
