/* ember — databases in and out: PostgreSQL (libpq) and SQLite.
 *
 * Included by ember/ember.h; including it alone brings ember/ember.h too.
 *
 * Each task that writes holds one connection (never more connections than
 * tasks running at once) and writes its partition inside one transaction, so
 * a failed, killed or cancelled attempt leaves no row behind and a retried
 * task never writes a row twice. Reads split a query into ranges of one
 * column, as Spark's JDBC reader does, each read through a server-side
 * cursor in bounded memory.
 */
#ifndef EMBER_DB_H
#define EMBER_DB_H

#include "ember/ember.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How ember_save_to_db writes. */
enum ember_db_mode {
    EMBER_DB_COPY = 0, /* PostgreSQL's COPY FROM STDIN: the bulk path (SQLite: INSERT) */
    EMBER_DB_INSERT,   /* INSERT, pipelined (max_in_flight statements in flight) */
    EMBER_DB_UPSERT    /* INSERT ... ON CONFLICT (conflict) DO UPDATE the other columns */
};

/* What a record is, for ember_save_to_db. */
enum ember_db_rows {
    EMBER_DB_ROWS_AUTO = 0, /* an ember_read_csv reader's rows as CSV, anything else JSON */
    EMBER_DB_ROWS_JSON,     /* a JSON object (fields by column name; a missing one is
                               NULL) or a JSON array (by position) */
    EMBER_DB_ROWS_CSV       /* a CSV row (ember_csv_field), by header name when the
                               reader has a header, else by position; "" is NULL */
};

/* A database to write to or read from. Zero it, then set what you need. */
typedef struct ember_db_conf {
    /* "postgresql://user@host:port/db?..." or anything else libpq accepts
     * ("host=/tmp port=5432 dbname=x"); "sqlite:PATH" for SQLite. */
    const char *url;
    /* save: the table ("name" or "schema.name") and its columns (NULL-terminated;
     * NULL: all of the table's, read once from the catalog before any task
     * runs); or sql, a statement run for each record with $1..$n bound to its
     * fields in order (table, columns and mode then unused). */
    const char *table;
    const char *const *columns;
    const char *sql;
    int mode;                    /* enum ember_db_mode */
    const char *const *conflict; /* EMBER_DB_UPSERT: the key columns (NULL-terminated) */
    int rows;                    /* enum ember_db_rows */
    /* 1: a JSON object's fields that are no column are left out, not bad records */
    int ignore_unknown;
    /* PostgreSQL INSERT/UPSERT/sql: statements in flight on a task's connection
     * (libpq's pipeline mode; 0: 256), and statements between two syncs (0:
     * 1,000). */
    int max_in_flight;
    int batch;
    /* 0: each task attempt writes in one transaction. N: a task commits every
     * N rows and records how far it got in the table ember_progress (created
     * when missing) in the same transaction; a retried attempt, or a rerun
     * with the same save_id, skips the rows already committed. */
    int64_t commit_every;
    /* commit_every: the name of this save in ember_progress (NULL: the
     * application's id and the save's number in the context). Give the same
     * name to resume a save a killed program left unfinished. */
    const char *save_id;
    /* read: rows per FETCH from the cursor (0: 1,000); csv_out 1: each row as
     * a CSV record (ember_csv_field; NULL as "") instead of a JSON object. */
    int fetch;
    int csv_out;
} ember_db_conf;

/* Write every record of rdd as a row (an action). The connection, the table
 * and its columns are checked once on the driver before any task runs (a bad
 * URL, a refused connection or a missing table is an error then, named). A
 * record that does not fit the columns is a bad record under the context's
 * policy (conf.bad_records: fail, skip, or divert to bad_dir/db-part-NNNNN),
 * named by partition and record. A constraint violation fails the task with
 * the row named; a lost connection, a serialization failure or a deadlock
 * fails the attempt, which is retried as any task. Returns 0 or the code. */
EMBER_EXTERN int ember_save_to_db(ember_rdd *rdd, const ember_db_conf *conf);

/* Rows of query (a SELECT, or a table's name) as records, in parts
 * partitions by ranges of partition_column, as Spark's JDBC reader: the
 * stride is (upper - lower) / parts; the first partition also takes values
 * below lower and NULLs, the last values from its start up; rows outside
 * [lower, upper] are not dropped. lower == upper == 0: the column's minimum
 * and maximum, asked on the driver. partition_column NULL: one partition (in
 * SQLite, for a table's name, its rowid). Each row is a JSON object of its
 * columns (numbers, booleans and json as JSON values, bytea and blobs as
 * "\x..." hex) or a CSV row (conf->csv_out). */
EMBER_EXTERN ember_rdd *ember_read_db(ember_ctx *ctx, const ember_db_conf *conf, const char *query,
                                      const char *partition_column, int64_t lower, int64_t upper,
                                      int parts);

#ifdef __cplusplus
}
#endif
#endif
