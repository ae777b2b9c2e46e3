/* Databases: what db.c (the action, the source, rows from records) asks of
 * each backend (pg.c: libpq; sqlite.c). Only src/db includes libpq or SQLite. */
#ifndef EMBER_DB_INT_H
#define EMBER_DB_INT_H

#include "sched/sched.h"

/* One field of a row: text (numbers as their decimal text), or NULL. kind
 * tells SQLite how to bind it. */
enum { DB_NULL, DB_TEXT, DB_INT, DB_REAL, DB_BOOL };
typedef struct db_field {
    const char *p;
    size_t len;
    int kind;
} db_field;

/* What a save writes, fixed on the driver before the tasks run. */
typedef struct db_save {
    ember_db_conf c;
    char *url;
    bool sqlite;
    char *table_sql; /* the table, quoted for SQL */
    char **cols;     /* the columns written, in order */
    int ncols;
    char *stmt;       /* INSERT/UPSERT or the user's sql */
    char *stmt_multi; /* INSERT: group rows a statement (NULL: a row a statement) */
    int group;
    char *copy;   /* COPY ... FROM STDIN */
    int rows;     /* EMBER_DB_ROWS_JSON or _CSV */
    int *csv_map; /* CSV with a header: column i is field csv_map[i] (-1: none) */
    int nparams;  /* sql: the $n it uses */
    char *save_id;
} db_save;

/* A task's writer (one connection). Every call returns 0 or a code with
 * the message in err; row_at is the record a failure is about (-1: none). */
typedef struct db_writer db_writer;
typedef struct db_backend {
    /* Driver: connect, check, and fill s's table_sql, cols (when NULL), stmt. */
    int (*plan)(db_save *s, char *err, size_t cap);
    /* Task: connect and begin; *done: records committed by earlier attempts. */
    int (*open)(const db_save *s, int part, db_writer **w, int64_t *done, char *err, size_t cap);
    int (*row)(db_writer *w, const db_field *f, int n, int64_t rec, char *err, size_t cap,
               int64_t *row_at);
    /* commit_every: commit what is written, with done recorded. */
    int (*checkpoint)(db_writer *w, int64_t done, char *err, size_t cap, int64_t *row_at);
    int (*finish)(db_writer *w, int64_t done, char *err, size_t cap, int64_t *row_at);
    void (*close)(db_writer *w); /* rolls back what is not committed */
    /* Source: the rows of sql (a whole statement) pushed as records. */
    int (*read)(const ember_db_conf *c, const char *url, const char *sql, ember_out *o, char *err,
                size_t cap);
    /* Driver: the minimum and maximum of column in query. */
    int (*bounds)(const char *url, const char *from, const char *column, int64_t *lo, int64_t *hi,
                  char *err, size_t cap);
} db_backend;

extern const db_backend ember__db_pg, ember__db_sqlite;

/* "(a, b)": the columns written, quoted, appended to b. 0 or EMBER_ENOMEM. */
int ember__db_columns(ember_buf *b, const db_save *s);
/* INSERT INTO the table (the columns) VALUES rows rows of placeholders ($1..
 * with dollar, else ?), and for EMBER_DB_UPSERT ON CONFLICT (conflict) DO
 * UPDATE SET the other columns (DO NOTHING when there are none). A new string,
 * NULL when out of memory. */
char *ember__db_insert(const db_save *s, int rows, bool dollar);
/* A CSV record's field appended (the encoding ember_csv_field reads). */
int ember__db_csv_put(ember_buf *b, const char *s, size_t n);
/* "name" or "schema.name" as a quoted identifier (each part in "", "" doubled). */
char *ember__db_quote(const char *name);

#endif
