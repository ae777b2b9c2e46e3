/* libpq, loaded when a job first connects to PostgreSQL (core/lazy.h): the
 * functions ember calls, as shims of the same names. */
#include <libpq-fe.h>

#include "core/lazy.h"

#define L ember__libpq
EMBER__SHIM(L, PGconn *, PQconnectdb, (const char *conninfo), (conninfo))
EMBER__SHIM_VOID(L, PQfinish, (PGconn * c), (c))
EMBER__SHIM(L, ConnStatusType, PQstatus, (const PGconn *c), (c))
EMBER__SHIM(L, char *, PQerrorMessage, (const PGconn *c), (c))
EMBER__SHIM(L, int, PQsocket, (const PGconn *c), (c))
EMBER__SHIM(L, int, PQsetClientEncoding, (PGconn * c, const char *e), (c, e))
EMBER__SHIM(L, int, PQsetnonblocking, (PGconn * c, int arg), (c, arg))
EMBER__SHIM(L, int, PQconsumeInput, (PGconn * c), (c))
EMBER__SHIM(L, int, PQisBusy, (PGconn * c), (c))
EMBER__SHIM(L, int, PQflush, (PGconn * c), (c))
EMBER__SHIM(L, int, PQenterPipelineMode, (PGconn * c), (c))
EMBER__SHIM(L, int, PQpipelineSync, (PGconn * c), (c))
EMBER__SHIM(L, PGcancel *, PQgetCancel, (PGconn * c), (c))
EMBER__SHIM_VOID(L, PQfreeCancel, (PGcancel * k), (k))
EMBER__SHIM(L, int, PQcancel, (PGcancel * k, char *errbuf, int size), (k, errbuf, size))
EMBER__SHIM(L, PGresult *, PQexec, (PGconn * c, const char *q), (c, q))
EMBER__SHIM(L, PGresult *, PQexecParams,
            (PGconn * c, const char *command, int n, const Oid *types, const char *const *values,
             const int *lengths, const int *formats, int result_format),
            (c, command, n, types, values, lengths, formats, result_format))
EMBER__SHIM(L, PGresult *, PQprepare,
            (PGconn * c, const char *name, const char *query, int n, const Oid *types),
            (c, name, query, n, types))
EMBER__SHIM(L, PGresult *, PQdescribePrepared, (PGconn * c, const char *name), (c, name))
EMBER__SHIM(L, int, PQsendQueryParams,
            (PGconn * c, const char *command, int n, const Oid *types, const char *const *values,
             const int *lengths, const int *formats, int result_format),
            (c, command, n, types, values, lengths, formats, result_format))
EMBER__SHIM(L, int, PQsendQueryPrepared,
            (PGconn * c, const char *name, int n, const char *const *values, const int *lengths,
             const int *formats, int result_format),
            (c, name, n, values, lengths, formats, result_format))
EMBER__SHIM(L, PGresult *, PQgetResult, (PGconn * c), (c))
EMBER__SHIM(L, int, PQputCopyData, (PGconn * c, const char *buf, int n), (c, buf, n))
EMBER__SHIM(L, int, PQputCopyEnd, (PGconn * c, const char *msg), (c, msg))
EMBER__SHIM_VOID(L, PQclear, (PGresult * r), (r))
EMBER__SHIM(L, ExecStatusType, PQresultStatus, (const PGresult *r), (r))
EMBER__SHIM(L, char *, PQresultErrorMessage, (const PGresult *r), (r))
EMBER__SHIM(L, char *, PQresultErrorField, (const PGresult *r, int code), (r, code))
EMBER__SHIM(L, int, PQntuples, (const PGresult *r), (r))
EMBER__SHIM(L, int, PQnfields, (const PGresult *r), (r))
EMBER__SHIM(L, int, PQnparams, (const PGresult *r), (r))
EMBER__SHIM(L, char *, PQfname, (const PGresult *r, int i), (r, i))
EMBER__SHIM(L, Oid, PQftype, (const PGresult *r, int i), (r, i))
EMBER__SHIM(L, char *, PQgetvalue, (const PGresult *r, int row, int col), (r, row, col))
EMBER__SHIM(L, int, PQgetlength, (const PGresult *r, int row, int col), (r, row, col))
EMBER__SHIM(L, int, PQgetisnull, (const PGresult *r, int row, int col), (r, row, col))
