/* CSV's shared parts (src/io): the reader's state, and a file's plan and
 * header (csv_plan.c) beside the reading of its rows (csv.c). */
#ifndef EMBER_CSV_H
#define EMBER_CSV_H

#include <csv.h>
#include <string.h>

#include "io/io.h"

typedef struct csv_src {
    ember__input in; /* first: the input path's (io/input.c) */
    bool header;
    unsigned char delim, quote;
    unsigned char escape; /* 0: RFC 4180 (a doubled quote); else escape + quote is a quote */
    ember_buf head;       /* the first file's header row, encoded as a record value */
    size_t ncols;         /* fields per row: the header's; 0: the first row's decides */
    ember_accumulator *unsplit;
    /* the plans of files cut into several splits: made once, by the first of
     * their tasks, under plan_mu */
    pthread_mutex_t plan_mu;
    struct file_plan *plans; /* per file */
    uint64_t *starts;        /* per split: where its first row may start */
    /* shaping (csv_shape.c): set when union_by_name, source_column, schema,
     * infer or json ask for it */
    struct csv_shape *shape;
} csv_src;

/* How a file's rows become the reader's: the union's column order, the source
 * column, the columns' types, JSON. */
enum { CSV_STRING, CSV_INT, CSV_FLOAT, CSV_BOOL };
typedef struct csv_shape {
    int **maps;         /* union_by_name: per file, out column j <- the file's maps[f][j] (-1) */
    size_t *file_ncols; /* per file: its header's count */
    size_t ncols;       /* the output's columns (without the source column) */
    char *source;       /* the source column's name, or NULL */
    int *types;         /* per output column, or NULL */
    bool json;
    ember_buf names; /* the output header (with the source column), encoded as a row */
} csv_shape;

/* Set up s->shape from the options after the first header is read (every
 * file's header with union_by_name, the first rows with infer). 0 or a code
 * with the message on ctx. */
int ember__csv_shape_init(ember_ctx *ctx, csv_src *s, const ember_csv_opts *o);
void ember__csv_shape_free(csv_shape *sh);
/* A row of file f (fields encoded) as the reader hands it on, into out: 0,
 * 1 with why set for a value not of its type (a bad record), or
 * EMBER_ENOMEM. */
int ember__csv_shape_row(const csv_src *s, uint32_t f, const char *path, ember_bytes row,
                         ember_buf *out, char *why, size_t cap);
/* The first (decompressed) bytes of f, up to cap, for headers and inference. */
int ember__csv_read_start(const ember__file *f, unsigned char *p, size_t cap, size_t *len,
                          char *why, size_t why_cap);

typedef struct file_plan {
    bool done;
    bool whole;     /* quotes that parity cannot follow: the first split reads it all */
    size_t want;    /* the first row's field count (0: no row) */
    uint64_t first; /* the offset of the first row's first byte (UINT64_MAX: none) */
    uint64_t size;  /* the file's size when planned */
} file_plan;

/* A libcsv parser with the reader's delimiter, quote and allocator. 0 or
 * EMBER_ENOMEM. */
int ember__csv_parser_init(struct csv_parser *p, const csv_src *s);

/* The bytes a UTF-8 byte order mark takes at p (3), or 0. */
static inline size_t ember__bom(const unsigned char *p, size_t n)
{
    return n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF ? 3 : 0;
}

/* The next line break at or after p (\r or \n), or end. */
static inline const unsigned char *ember__csv_line_end(const unsigned char *p,
                                                       const unsigned char *end)
{
    const unsigned char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    const unsigned char *lim = nl ? nl : end;
    const unsigned char *cr = p < lim ? memchr(p, '\r', (size_t)(lim - p)) : NULL;
    return cr ? cr : lim;
}

/* The end of the line at p (after its \r or \n) when the line holds only
 * blanks; NULL when it holds anything else. libcsv reads no row from it. */
const unsigned char *ember__csv_blank_line(const csv_src *s, const unsigned char *p,
                                           const unsigned char *end);

/* Make the plan of a file cut into several splits (base: its mapping of size
 * bytes): whether it can be split, where each split's rows start, its first
 * row. Under plan_mu. */
void ember__csv_plan_file(csv_src *s, uint32_t file, const unsigned char *base, size_t size);

/* The '\n's before split k's first row (counted once, for a message). */
uint64_t ember__csv_lines_before(csv_src *s, int split, const unsigned char *map);

/* The first row of p[0..len) into row, fields encoded: its field count (0:
 * none), or -1 when the parser cannot start (out of memory). */
long ember__csv_first_row(csv_src *s, const unsigned char *p, size_t len, ember_buf *row);
/* The header row (the first) of file file into row, fields encoded, and its
 * field count (on the driver). 0, or the failure with its message on ctx. */
int ember__csv_file_header(ember_ctx *ctx, csv_src *s, uint32_t file, ember_buf *row,
                           size_t *nfields);
/* db: -1 when rdd is no CSV reader, else whether it has a header (into *header). */
int ember__csv_reader(const ember_rdd *rdd, ember_bytes *header);

#endif
