/* A CSV file's layout: the plan of a plain file cut into several splits
 * (where each split's rows start, found in one pass over its quotes, and
 * whether its quotes let it be split at all), and the header, read when the
 * rdd is built (csv.c says what the plan promises).
 */
#include <errno.h>
#include <stdio.h>

#include "io/csv.h"

int ember__csv_parser_init(struct csv_parser *p, const csv_src *s)
{
    if (csv_init(p, CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return EMBER_ENOMEM;
    csv_set_realloc_func(p, ember__realloc);
    csv_set_free_func(p, ember__free);
    csv_set_delim(p, s->delim);
    csv_set_quote(p, s->quote);
    return 0;
}

/* ---------------------------------------------------------------- a file's plan */

/* A byte libcsv skips between rows: a line break, or a space or tab that is not
 * the delimiter. */
static inline bool blank_byte(const csv_src *s, unsigned char c)
{
    return c == '\n' || c == '\r' || ((c == ' ' || c == '\t') && c != s->delim);
}

const unsigned char *ember__csv_blank_line(const csv_src *s, const unsigned char *p,
                                           const unsigned char *end)
{
    for (; p < end; p++) {
        if (*p == '\n' || *p == '\r')
            return p + 1;
        if (!blank_byte(s, *p))
            return NULL;
    }
    return end;
}

/* Are the quotes of [base, end) all regular: an opening quote right at a
 * field's start, a closing one right before a delimiter, a line break or the
 * end, doubled quotes inside? Then their parity is the quoted state everywhere.
 * One memchr jump a quote. */
static bool quotes_regular(const csv_src *s, const unsigned char *base, const unsigned char *end)
{
    const unsigned char *p = base;
    unsigned char q = s->quote, d = s->delim;
    bool in = false;
    while (p < end && (p = memchr(p, q, (size_t)(end - p)))) {
        if (!in) {
            if (p > base && p[-1] != d && p[-1] != '\n' && p[-1] != '\r')
                return false;
            in = true;
            p++;
        } else if (p + 1 < end && p[1] == q) {
            p += 2;
        } else {
            if (p + 1 < end && p[1] != d && p[1] != '\n' && p[1] != '\r')
                return false;
            in = false;
            p++;
        }
    }
    return true;
}

typedef struct count_state {
    size_t fields;
    bool done;
} count_state;

static void count_field(void *data, size_t len, void *arg)
{
    (void)data, (void)len;
    count_state *c = arg;
    if (!c->done)
        c->fields++;
}

static void count_row(int term, void *arg)
{
    (void)term;
    ((count_state *)arg)->done = true;
}

/* The field count of the first row of [p, end), as libcsv reads it (0: none). */
static size_t first_row_fields(const csv_src *s, const unsigned char *p, const unsigned char *end)
{
    struct csv_parser cp;
    count_state c = {0, false};
    if (ember__csv_parser_init(&cp, s))
        return 0;
    while (p < end && !c.done) {
        const unsigned char *e = ember__csv_line_end(p, end);
        e = e < end ? e + 1 : end;
        csv_parse(&cp, p, (size_t)(e - p), count_field, count_row, &c);
        p = e;
    }
    if (!c.done)
        csv_fini(&cp, count_field, count_row, &c);
    csv_free(&cp);
    return c.fields;
}

void ember__csv_plan_file(csv_src *s, uint32_t file, const unsigned char *base, size_t size)
{
    file_plan *pl = &s->plans[file];
    const unsigned char *end = base + size;
    pl->size = size;
    pl->first = UINT64_MAX;
    for (size_t i = 0; i < size; i++) {
        if (!blank_byte(s, base[i])) {
            pl->first = i;
            break;
        }
    }
    pl->want = s->shape && s->shape->file_ncols ? s->shape->file_ncols[file]
               : s->ncols                       ? s->ncols
                                                : first_row_fields(s, base, end);
    pl->whole = s->escape || !quotes_regular(s, base, end);
    size_t quotes = 0;
    uint64_t at = 0;
    for (int k = 0; k < s->in.nsplits; k++) {
        const ember__split *sp = &s->in.splits[k];
        if (sp->file != file)
            continue;
        if (sp->start == 0) {
            s->starts[k] = 0;
            continue;
        }
        if (pl->whole || sp->start > size) {
            s->starts[k] = size;
            continue;
        }
        /* the quoted state at start-1: the parity of the quotes before it */
        uint64_t to = sp->start - 1;
        quotes += ember__count_byte(base + at, base + to, s->quote);
        at = to;
        bool in = quotes & 1;
        /* the first line break outside quotes at or after start-1 ends the row
         * that belongs to the split before */
        const unsigned char *q = base + to;
        for (; q < end; q++) {
            if (*q == s->quote)
                in = !in;
            else if ((*q == '\n' || *q == '\r') && !in)
                break;
        }
        s->starts[k] = q < end ? (uint64_t)(q + 1 - base) : size;
    }
    pl->done = true;
}

uint64_t ember__csv_lines_before(csv_src *s, int split, const unsigned char *map)
{
    uint64_t start = s->starts[split];
    return start ? ember__count_byte(map, map + start, '\n') : 0;
}

/* The first row, as a header. */
typedef struct head_state {
    ember_buf *row;
    size_t nfields;
    bool done;
} head_state;

static void head_field(void *data, size_t len, void *arg)
{
    head_state *h = arg;
    if (h->done)
        return;
    unsigned char hdr[10];
    size_t hn = (size_t)(ember__varint_put(hdr, len) - hdr);
    ember_buf_append(h->row, hdr, hn);
    if (len)
        ember_buf_append(h->row, data, len);
    h->nfields++;
}

static void head_row(int term, void *arg)
{
    (void)term;
    ((head_state *)arg)->done = true;
}

long ember__csv_first_row(csv_src *s, const unsigned char *p, size_t len, ember_buf *row)
{
    struct csv_parser cp;
    head_state h = {row, 0, false};
    if (ember__csv_parser_init(&cp, s))
        return -1;
    csv_parse(&cp, p, len, head_field, head_row, &h);
    if (!h.done)
        csv_fini(&cp, head_field, head_row, &h);
    csv_free(&cp);
    return h.done ? (long)h.nfields : 0;
}

/* The file's (decompressed) start, up to a cap. */
typedef struct start_buf {
    unsigned char *p;
    size_t len, cap;
} start_buf;

static int keep_start(const unsigned char *data, size_t len, void *arg)
{
    start_buf *b = arg;
    size_t n = len < b->cap - b->len ? len : b->cap - b->len;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return b->len == b->cap ? EMBER__STOP : 0;
}

/* Up to b->cap bytes of f's start into b: 0, or a code with why set. */
static int read_start(const ember__file *f, start_buf *b, char *why, size_t cap)
{
    if (f->codec != EMBER__CODEC_NONE) {
        int rc = ember__codec_stream(f, keep_start, b, why, cap);
        return rc == EMBER__STOP ? 0 : rc;
    }
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        snprintf(why, cap, "cannot open %s: %s", f->path, strerror(errno));
        return -errno;
    }
    b->len = fread(b->p, 1, b->cap, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        snprintf(why, cap, "%s: read error", f->path);
        return EMBER_EIO;
    }
    return 0;
}

int ember__csv_read_start(const ember__file *f, unsigned char *p, size_t cap, size_t *len,
                          char *why, size_t why_cap)
{
    start_buf b = {p, 0, cap};
    int rc = read_start(f, &b, why, why_cap);
    *len = b.len;
    return rc;
}

int ember__csv_file_header(ember_ctx *ctx, csv_src *s, uint32_t file, ember_buf *row,
                           size_t *nfields)
{
    const ember__file *f = &s->in.files.v[file];
    start_buf b = {ember__malloc(1 << 20), 0, 1 << 20}; /* a longer header is not a header */
    if (!b.p)
        return ember__err(ctx, EMBER_ENOMEM, "read_csv: out of memory");
    char why[512] = "";
    int rc = read_start(f, &b, why, sizeof why);
    long n = 0;
    if (!rc) {
        size_t bom = ember__bom((const unsigned char *)b.p, b.len); /* skipped, as Spark */
        if ((n = ember__csv_first_row(s, b.p + bom, b.len - bom, row)) < 0)
            rc = EMBER_ENOMEM;
    }
    ember__free(b.p);
    if (rc)
        return ember__err(ctx, rc, "read_csv: cannot read the header of %s: %s", f->path,
                          why[0] ? why : ember_strerror(rc));
    if (n == 0)
        return ember__err(ctx, EMBER_EINVAL, "read_csv: %s: no header row", f->path);
    *nfields = (size_t)n;
    return 0;
}
