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
} csv_src;

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

/* The first file's header row into s->head, its field count into s->ncols
 * (on the driver). 0, or the failure with its message on ctx. */
int ember__csv_read_header(ember_ctx *ctx, csv_src *s);
/* db: -1 when rdd is no CSV reader, else whether it has a header (into *header). */
int ember__csv_reader(const ember_rdd *rdd, ember_bytes *header);

#endif
