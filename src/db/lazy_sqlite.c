/* libsqlite3, loaded when a job first opens an SQLite database (core/lazy.h):
 * the functions ember calls, as shims of the same names; sqlite3_mprintf goes
 * on through the library's sqlite3_vmprintf. */
#include <stdarg.h>

#include <sqlite3.h>

#include "core/lazy.h"

#define L ember__libsqlite
EMBER__SHIM(L, int, sqlite3_open_v2, (const char *path, sqlite3 **db, int flags, const char *vfs),
            (path, db, flags, vfs))
EMBER__SHIM(L, int, sqlite3_close, (sqlite3 * db), (db))
EMBER__SHIM(L, const char *, sqlite3_errmsg, (sqlite3 * db), (db))
EMBER__SHIM(L, int, sqlite3_busy_timeout, (sqlite3 * db, int ms), (db, ms))
EMBER__SHIM(L, int, sqlite3_get_autocommit, (sqlite3 * db), (db))
EMBER__SHIM(L, int, sqlite3_exec,
            (sqlite3 * db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
             char **errmsg),
            (db, sql, cb, arg, errmsg))
EMBER__SHIM(L, int, sqlite3_prepare_v2,
            (sqlite3 * db, const char *sql, int n, sqlite3_stmt **st, const char **tail),
            (db, sql, n, st, tail))
EMBER__SHIM(L, int, sqlite3_step, (sqlite3_stmt * st), (st))
EMBER__SHIM(L, int, sqlite3_reset, (sqlite3_stmt * st), (st))
EMBER__SHIM(L, int, sqlite3_finalize, (sqlite3_stmt * st), (st))
EMBER__SHIM(L, int, sqlite3_bind_parameter_count, (sqlite3_stmt * st), (st))
EMBER__SHIM(L, int, sqlite3_bind_null, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM(L, int, sqlite3_bind_int, (sqlite3_stmt * st, int i, int v), (st, i, v))
EMBER__SHIM(L, int, sqlite3_bind_int64, (sqlite3_stmt * st, int i, sqlite3_int64 v), (st, i, v))
EMBER__SHIM(L, int, sqlite3_bind_double, (sqlite3_stmt * st, int i, double v), (st, i, v))
EMBER__SHIM(L, int, sqlite3_bind_text,
            (sqlite3_stmt * st, int i, const char *v, int n, void (*del)(void *)),
            (st, i, v, n, del))
EMBER__SHIM(L, int, sqlite3_bind_text64,
            (sqlite3_stmt * st, int i, const char *v, sqlite3_uint64 n, void (*del)(void *),
             unsigned char enc),
            (st, i, v, n, del, enc))
EMBER__SHIM(L, int, sqlite3_column_count, (sqlite3_stmt * st), (st))
EMBER__SHIM(L, int, sqlite3_column_type, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM(L, const char *, sqlite3_column_name, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM(L, sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM(L, double, sqlite3_column_double, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM(L, const unsigned char *, sqlite3_column_text, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM(L, const void *, sqlite3_column_blob, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM(L, int, sqlite3_column_bytes, (sqlite3_stmt * st, int i), (st, i))
EMBER__SHIM_VOID(L, sqlite3_free, (void *p), (p))
EMBER__SHIM(L, char *, sqlite3_vmprintf, (const char *fmt, va_list ap), (fmt, ap))

char *sqlite3_mprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    return s;
}
