/* CSV files, parsed with libcsv (RFC 4180 quoting; newlines inside quoted
 * fields).
 *
 * A row is one record: its value holds the fields, each as varint(length) and
 * the bytes (ember_csv_field reads them).
 *
 * The one-split read of a file is the definition of its records: whatever the
 * number of splits and whether the file is plain, gzip or zstd, the rows, their
 * order, the bad rows and their line numbers are those of reading the file
 * whole with libcsv (tests/unit/io/csv_splits.c and the differential fuzz
 * harness tests/fuzz/csv.c hold the readers to this). Compressed files are one
 * split, parsed as a stream. A plain file cut into several splits gets a plan,
 * made once by the first of its tasks (under plan_mu, in one pass over its
 * quotes): a row belongs to the split that holds its first byte, so each split
 * boundary moves to just after the first line break outside quotes at or after
 * it. The quoted state there is the parity of the quotes before it, which is
 * exact only when every quote is regular: an opening quote right at a field's
 * start, a closing one right before a delimiter, a line break or the end, and
 * doubled quotes inside. libcsv reads irregular quotes leniently (a stray quote
 * in a field is kept), and then no parity tells where rows start: such a file
 * is read whole by its first split, and the count of files read so is the
 * accumulator read_csv[RDD].unsplit_files in the stats. So is a file with an
 * escape character. The plan also keeps what a split cannot see alone: the
 * field count of the file's first row (without a header, the count every row
 * must have) and where that row starts (the split holding it reads the header).
 * Between its two boundaries a split reads exactly its rows, none past them.
 *
 * With a header, the first row of every file is the header; each must equal the
 * first file's, which is read when the rdd is built so that columns can be found
 * by name. Bad records (a field count unlike the header's, or the first row's
 * without one; an unterminated quote; invalid UTF-8) follow opts.on_bad.
 */
#include <csv.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/lazy.h"
#include "io/csv.h"

static void csv_src_free(csv_src *s)
{
    if (!s)
        return;
    ember__input_close(&s->in);
    ember__accumulator_free(s->unsplit);
    ember_buf_destroy(&s->head);
    ember__csv_shape_free(s->shape);
    ember__free(s->plans);
    ember__free(s->starts);
    pthread_mutex_destroy(&s->plan_mu);
    ember__free(s);
}

/* ---------------------------------------------------------------- rows */

size_t ember_csv_nfields(ember_bytes row)
{
    const unsigned char *p = row.ptr, *end = p ? p + row.len : NULL;
    size_t n = 0;
    uint64_t len;
    while (p && p < end && (p = ember__varint_get(p, end, &len)) && (uint64_t)(end - p) >= len) {
        p += len;
        n++;
    }
    return n;
}

int ember_csv_field(ember_bytes row, size_t i, ember_bytes *out)
{
    if (!out)
        return EMBER_EINVAL;
    const unsigned char *p = row.ptr, *end = p ? p + row.len : NULL;
    uint64_t len;
    for (size_t k = 0; p && p < end; k++) {
        if (!(p = ember__varint_get(p, end, &len)) || (uint64_t)(end - p) < len)
            return EMBER_EIO;
        if (k == i) {
            *out = ember_bytes_of(p, (size_t)len);
            return 0;
        }
        p += len;
    }
    return EMBER_ERANGE;
}

/* UTF-8, strictly (no overlongs, no surrogates, at most U+10FFFF): the offset of
 * the first bad byte, or SIZE_MAX. */
static size_t utf8_bad_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    while (n - i >= 16) { /* sixteen ASCII bytes at a time: no high bit set */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        if (_mm_movemask_epi8(v))
            break;
        i += 16;
    }
#endif
    while (i < n) {
        if (n - i >= 8) { /* eight ASCII bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (n - i <= k)
            return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return i;
        i += k + 1;
    }
    return SIZE_MAX;
}

/* The parse of one split: libcsv's callbacks build the row here. */
typedef struct row_state {
    const csv_src *s;
    const char *path;
    ember_out *sink;
    ember_buf row; /* the fields, encoded */
    ember_buf raw; /* the row's bytes as read, for messages and diverting */
    size_t nfields;
    bool row_done; /* a row ended in the last piece fed */
    bool bad_utf8;
    size_t utf8_field;
    uint64_t line; /* the line the row starts on, 1-based in the file */
    uint64_t next_line;
    bool is_header; /* the next row is the file's header */
    uint32_t file;  /* the file's index (shaping) */
    ember_buf shaped;
    size_t want; /* fields per row; 0: set by the first row */
    int64_t count;
    ember__bad bad;
    const unsigned char *map;       /* plain files: the mapping, to number lines lazily */
    const unsigned char *row_start; /* the row being read, in the mapping */
    const unsigned char *counted;   /* lines are counted up to here (NULL: not yet) */
    uint64_t lines_before;          /* '\n's before counted */
    csv_src *plan_src;              /* for the lines before the split's start */
    int split;
    unsigned char special[256]; /* 1 for the delimiter, the quote, '\r', '\n' */
    const unsigned char *rawp;  /* the fast path's row, in place (else raw) */
    size_t rawn;
    ember_buf esc;    /* a piece with its escapes rewritten */
    bool esc_pending; /* the last piece ended in an escape */
    bool esc_literal; /* the last byte came from an escape pair */
    int rc;
} row_state;

static void on_field(void *data, size_t len, void *arg)
{
    row_state *r = arg;
    if (r->rc)
        return;
    unsigned char hdr[10];
    size_t hn = (size_t)(ember__varint_put(hdr, len) - hdr);
    if (ember_buf_append(&r->row, hdr, hn) || (len && ember_buf_append(&r->row, data, len))) {
        r->rc = ember__task_fail(r->sink->task, EMBER_ENOMEM, "read_csv: out of memory");
        return;
    }
    if (!r->bad_utf8 && len && utf8_bad_at(data, len) != SIZE_MAX) {
        r->bad_utf8 = true;
        r->utf8_field = r->nfields;
    }
    r->nfields++;
}

/* The line the current row starts on. Plain files count lines only when a
 * message needs one, from where the last count stopped (linear in the split,
 * however many rows are bad). */
static uint64_t row_line(row_state *r)
{
    if (!r->map)
        return r->line;
    if (!r->counted) { /* the first count of this split: from its start */
        r->lines_before = ember__csv_lines_before(r->plan_src, r->split, r->map);
        r->counted = r->map + r->plan_src->starts[r->split];
    }
    if (r->row_start > r->counted) {
        r->lines_before += ember__count_byte(r->counted, r->row_start, '\n');
        r->counted = r->row_start;
    }
    return r->line = 1 + r->lines_before;
}

static int bad_row(row_state *r, const char *why)
{
    row_line(r);
    const unsigned char *rp = r->rawp ? r->rawp : r->raw.ptr;
    size_t raw = r->rawp ? r->rawn : r->raw.len;
    return ember__bad_record(&r->bad, r->sink->task, r->path, r->line, rp, raw, why);
}

/* A header row's names joined by commas into out (cut to fit). */
static void header_text(ember_bytes row, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = 0;
    ember_bytes f;
    for (size_t i = 0; !ember_csv_field(row, i, &f) && at + 1 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%.*s", i ? "," : "", (int)f.len,
                               (const char *)f.ptr);
    if (at >= cap - 1 && cap > 4)
        memcpy(out + cap - 4, "...", 4);
}

static void on_row(int term, void *arg)
{
    (void)term;
    row_state *r = arg;
    r->row_done = true;
    if (r->rc)
        return;
    char why[128];
    if (r->is_header) {
        r->is_header = false;
        if ((!r->s->shape || !r->s->shape->maps) && /* union_by_name: mapped, not compared */
            (r->s->head.len != r->row.len || memcmp(r->s->head.ptr, r->row.ptr, r->row.len))) {
            char first[200], here[200]; /* both, as comma-joined names */
            header_text(ember_buf_bytes(&r->s->head), first, sizeof first);
            header_text(ember_buf_bytes(&r->row), here, sizeof here);
            r->rc = ember__task_fail(r->sink->task, EMBER_EINVAL,
                                     "read_csv: %s: the header differs from the first file's "
                                     "(first file: %s; this file: %s)",
                                     r->path, first, here);
        }
    } else {
        if (!r->want) /* without a header, the file's first row sets the count */
            r->want = r->nfields;
        if (r->bad_utf8) {
            snprintf(why, sizeof why, "invalid UTF-8 in field %zu", r->utf8_field + 1);
            r->rc = bad_row(r, why);
        } else if (r->nfields != r->want) {
            snprintf(why, sizeof why, "%zu fields where %zu were expected", r->nfields, r->want);
            r->rc = bad_row(r, why);
        } else {
            ember_rec rec;
            ember__rec_set(&rec, NULL, 0, r->row.ptr ? r->row.ptr : (const unsigned char *)"",
                           r->row.len);
            if (__builtin_expect(r->s->shape != NULL, 0)) { /* union, source, types, JSON */
                int k = ember__csv_shape_row(r->s, r->file, r->path, rec.val, &r->shaped, why,
                                             sizeof why);
                if (k) {
                    r->rc = k == 1 ? bad_row(r, why)
                                   : ember__task_fail(r->sink->task, k, "read_csv: out of memory");
                    goto next;
                }
                ember__rec_set(&rec, NULL, 0, r->shaped.ptr, r->shaped.len);
            }
            r->count++;
            int rc = r->sink->push(r->sink, &rec);
            r->rc = rc ? rc : (ember__halted(r->sink->task) ? ember__halt_code(r->sink->task) : 0);
        }
    }
next:
    r->row.len = 0;
    r->raw.len = 0;
    r->nfields = 0;
    r->bad_utf8 = false;
}

/* With an escape character: escape+quote becomes a doubled quote and
 * escape+escape one escape, the RFC 4180 form libcsv reads. An escape that ends
 * a piece waits for the next one. */
static int unescape(row_state *r, const unsigned char **piece, size_t *n)
{
    const csv_src *s = r->s;
    ember_buf *b = &r->esc;
    b->len = 0;
    if (r->esc_pending && ember_buf_append(b, &s->escape, 1))
        return EMBER_ENOMEM;
    r->esc_pending = false;
    const unsigned char *p = *piece;
    for (size_t i = 0; i < *n; i++) {
        unsigned char c = p[i];
        int rc = 0;
        if (b->len && b->ptr[b->len - 1] == s->escape && !r->esc_literal) {
            if (c == s->quote) {
                b->ptr[b->len - 1] = s->quote; /* \" -> "" */
                rc = ember_buf_append(b, &c, 1);
                r->esc_literal = true;
                if (rc)
                    return rc;
                continue;
            }
            if (c == s->escape) { /* \\ -> \ */
                r->esc_literal = true;
                continue;
            }
        }
        r->esc_literal = false;
        if ((rc = ember_buf_append(b, &c, 1)))
            return rc;
    }
    if (b->len && b->ptr[b->len - 1] == s->escape && !r->esc_literal) {
        b->len--; /* decide with the next piece */
        r->esc_pending = true;
    }
    *piece = b->ptr;
    *n = b->len;
    return 0;
}

/* Feed one piece (a line, with its '\n') to the parser. */
static int feed_piece(struct csv_parser *p, row_state *r, const unsigned char *piece, size_t n)
{
    if (r->raw.len == 0)
        r->line = r->next_line;
    if (ember_buf_append(&r->raw, piece, n))
        return ember__task_fail(r->sink->task, EMBER_ENOMEM, "read_csv: out of memory");
    for (size_t i = 0; i < n; i++)
        r->next_line += piece[i] == '\n';
    if (r->s->escape && unescape(r, &piece, &n))
        return ember__task_fail(r->sink->task, EMBER_ENOMEM, "read_csv: out of memory");
    r->row_done = false;
    if (csv_parse(p, piece, n, on_field, on_row, r) != n && !r->rc)
        return ember__task_fail(r->sink->task, EMBER_EIO, "read_csv: %s:%llu: %s", r->path,
                                (unsigned long long)row_line(r), csv_strerror(csv_error(p)));
    return r->rc;
}

static int finish_parse(struct csv_parser *p, row_state *r)
{
    if (r->rc)
        return r->rc;
    /* libcsv's state: inside a quoted field that never closed (2: FIELD_BEGUN) */
    if (p->quoted && p->pstate == 2) {
        r->rc = bad_row(r, "unterminated quoted field at the end of the file");
        csv_fini(p, NULL, NULL, NULL);
        r->row.len = r->raw.len = 0;
        r->nfields = 0;
        return r->rc;
    }
    csv_fini(p, on_field, on_row, r);
    return r->rc;
}

/* ---------------------------------------------------------------- the fast path */

static bool is_sp(unsigned char c)
{
    return c == ' ' || c == '\t'; /* what libcsv trims around unquoted fields */
}

/* The first quote at or after q (16 bytes a step), or NULL: short quoted fields
 * cost less inline than a memchr call. */
static inline const unsigned char *find_quote(const unsigned char *q, const unsigned char *end,
                                              unsigned char quote)
{
#if defined(__SSE2__)
    const __m128i vq = _mm_set1_epi8((char)quote);
    while (end - q >= 16) {
        int bits = _mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)q), vq));
        if (bits)
            return q + __builtin_ctz((unsigned)bits);
        q += 16;
    }
#endif
    return q < end ? memchr(q, quote, (size_t)(end - q)) : NULL;
}

/* Copy n bytes, 16 at a time (the destination has 16 bytes of slack). */
static inline void copy_short(unsigned char *d, const unsigned char *src, size_t n,
                              const unsigned char *src_end)
{
#if defined(__SSE2__)
    if (n <= 64 && src + ((n + 15) & ~(size_t)15) <= src_end) {
        for (size_t i = 0; i < n; i += 16)
            _mm_storeu_si128((__m128i *)(void *)(d + i),
                             _mm_loadu_si128((const __m128i *)(const void *)(src + i)));
        return;
    }
#endif
    (void)src_end;
    memcpy(d, src, n);
}

static int add_field(row_state *r, const unsigned char *f, size_t len, bool collapse,
                     unsigned char quote, const unsigned char *end)
{
    unsigned char hdr[10];
    size_t hn = (size_t)(ember__varint_put(hdr, len) - hdr); /* an upper bound when collapsing */
    size_t at = r->row.len;
    if (r->row.cap - at < hn + len + 16 && ember__buf_reserve(&r->row, hn + len + 16))
        return EMBER_ENOMEM;
    unsigned char *d = r->row.ptr + at + hn;
    size_t out = len;
    if (!collapse) {
        if (len)
            copy_short(d, f, len, end);
    } else { /* "" -> ": copy the runs between doubled quotes */
        out = 0;
        const unsigned char *src = f, *fend = f + len;
        while (src < fend) {
            const unsigned char *qq = find_quote(src, fend, quote);
            size_t run = qq ? (size_t)(qq - src) + 1 : (size_t)(fend - src);
            copy_short(d + out, src, run, end);
            out += run;
            src += run + (qq ? 1 : 0); /* the second quote of the pair */
        }
        if (ember__varint_len(out) != hn) { /* a shorter length: shift the bytes down */
            size_t nh = ember__varint_len(out);
            memmove(r->row.ptr + at + nh, d, out);
            hn = nh;
        }
    }
    ember__varint_put(r->row.ptr + at, out);
    r->row.len = at + hn + out;
    r->nfields++; /* UTF-8 is checked once a row (fast_row) */
    return 0;
}

/* The first byte at or after q that is the delimiter, the quote or a line break
 * (16 bytes a step with SSE2); end when none. */
static inline const unsigned char *find_special(const row_state *r, const unsigned char *q,
                                                const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i vd = _mm_set1_epi8((char)r->s->delim), vq = _mm_set1_epi8((char)r->s->quote);
    const __m128i vr = _mm_set1_epi8('\r'), vn = _mm_set1_epi8('\n');
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vd), _mm_cmpeq_epi8(v, vq)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, vr), _mm_cmpeq_epi8(v, vn)));
        int bits = _mm_movemask_epi8(m);
        if (bits)
            return q + __builtin_ctz((unsigned)bits);
        q += 16;
    }
#endif
    while (q < end && !r->special[*q])
        q++;
    return q;
}

/* Tokenize one well-formed RFC 4180 row at p without libcsv: 1 when done (*next
 * after its line break), 0 when the row is unusual (spaces around an unquoted
 * field, a quote inside one, text after a closing quote, an unterminated quote)
 * and libcsv must read it, or a negative code. */
static int fast_row(const csv_src *s, row_state *r, const unsigned char *p,
                    const unsigned char *end, const unsigned char **next)
{
    const unsigned char *q = p;
    unsigned char delim = s->delim, quote = s->quote;
    r->row.len = 0;
    r->nfields = 0;
    r->bad_utf8 = false;
    for (;;) {
        if (q < end && *q == quote) {
            const unsigned char *fs = ++q;
            bool doubled = false;
            for (;;) {
                const unsigned char *qq = find_quote(q, end, quote);
                if (!qq)
                    return 0;
                if (qq + 1 < end && qq[1] == quote) {
                    doubled = true;
                    q = qq + 2;
                    continue;
                }
                if (add_field(r, fs, (size_t)(qq - fs), doubled, quote, end))
                    return EMBER_ENOMEM;
                q = qq + 1;
                break;
            }
            if (q < end && *q != delim && *q != '\n' && *q != '\r')
                return 0;
        } else {
            const unsigned char *fs = q;
            q = find_special(r, q, end);
            if (q < end && *q == quote)
                return 0;
            if (q > fs && (is_sp(fs[0]) || is_sp(q[-1])))
                return 0;
            if (add_field(r, fs, (size_t)(q - fs), false, quote, end))
                return EMBER_ENOMEM;
        }
        if (q >= end)
            break;
        if (*q == delim) {
            q++;
            if (q >= end) { /* "a," at the end: a last, empty field */
                if (add_field(r, q, 0, false, quote, end))
                    return EMBER_ENOMEM;
                break;
            }
            continue;
        }
        if (*q == '\r' && q + 1 < end && q[1] == '\n')
            q++;
        q++; /* the line break */
        break;
    }
    *next = q;
    /* UTF-8 over the whole row at once (delimiters and quotes are ASCII); the
     * field is found only when the row is bad */
    if (utf8_bad_at(p, (size_t)(q - p)) != SIZE_MAX) {
        ember_bytes f;
        r->bad_utf8 = true;
        for (size_t i = 0; ember_csv_field(ember_buf_bytes(&r->row), i, &f) == 0; i++) {
            if (f.len && utf8_bad_at(f.ptr, f.len) != SIZE_MAX) {
                r->utf8_field = i;
                break;
            }
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- reading a split */

/* ---------------------------------------------------------------- reading a split */

/* Feed libcsv the lines of one row from *pos (a piece a line, cut at \r or \n,
 * so a row's raw text and line are its own), until it is between rows again. */
static int feed_row(struct csv_parser *p, row_state *r, const unsigned char **pos,
                    const unsigned char *end)
{
    int rc = 0;
    do {
        const unsigned char *e = ember__csv_line_end(*pos, end);
        e = e < end ? e + 1 : end;
        rc = feed_piece(p, r, *pos, (size_t)(e - *pos));
        *pos = e;
    } while (*pos < end && !rc && p->pstate != 0);
    return rc;
}

static int feed_plain_csv(csv_src *s, int split, struct csv_parser *p, row_state *r,
                          bool *read_whole)
{
    const ember__split *sp = &s->in.splits[split];
    const ember__file *f = &s->in.files.v[sp->file];
    ember__mapped m;
    int mrc = ember__map_file("read_csv", f->path, r->sink->task, &m);
    if (mrc || !m.size)
        return mrc;
    const unsigned char *base = m.base;
    size_t size = m.size;
    /* this split's rows: from its start to the next split's (the file's end for
     * the last), both moved to row starts by the file's plan */
    bool alone =
        sp->start == 0 && (split + 1 == s->in.nsplits || s->in.splits[split + 1].file != sp->file);
    uint64_t a = 0, b = size;
    file_plan *pl = NULL;
    if (!alone) {
        pthread_mutex_lock(&s->plan_mu);
        pl = &s->plans[sp->file];
        if (!pl->done)
            ember__csv_plan_file(s, sp->file, base, size);
        pthread_mutex_unlock(&s->plan_mu);
        size = pl->size < size ? (size_t)pl->size : size; /* the file as planned */
        bool last = split + 1 == s->in.nsplits || s->in.splits[split + 1].file != sp->file;
        a = s->starts[split];
        b = last || pl->whole ? size : s->starts[split + 1];
        if (pl->whole && sp->start == 0) {
            b = size;
            *read_whole = true;
        }
        if (a > b)
            a = b;
        r->want = pl->want;
    }
    const unsigned char *end = base + size, *pos = base + a, *stop = base + b;
    if (a == 0) /* a UTF-8 byte order mark is no part of the first row */
        pos += ember__bom(pos, (size_t)(end - pos));
    r->is_header =
        s->header && (alone || (pl->first != UINT64_MAX && a <= pl->first && pl->first < b));
    int rc = 0;
    r->map = base;
    r->plan_src = s;
    r->split = split;
    r->special[s->delim] = r->special[s->quote] = r->special['\r'] = r->special['\n'] = 1;
    /* rows that start before stop: the fast tokenizer first; libcsv for a row it
     * declines (and for escapes), fed line by line until it is between rows */
    while (pos < stop && !rc) {
        const unsigned char *blank = ember__csv_blank_line(s, pos, end);
        if (blank) { /* an empty or blank line is no row, as libcsv reads it */
            pos = blank;
            continue;
        }
        const unsigned char *next;
        int fr = s->escape ? 0 : fast_row(s, r, pos, end, &next);
        if (fr < 0) {
            rc = ember__task_fail(r->sink->task, fr, "read_csv: out of memory");
            break;
        }
        r->row_start = pos;
        if (fr == 1) {
            r->rawp = pos;
            r->rawn = (size_t)(next - pos);
            on_row(0, r);
            r->rawp = NULL;
            rc = r->rc;
            pos = next;
            continue;
        }
        r->row.len = 0;
        r->nfields = 0;
        r->bad_utf8 = false;
        rc = feed_row(p, r, &pos, end);
    }
    if (!rc && stop == end)
        rc = finish_parse(p, r);
    r->map = NULL;
    ember__unmap_file(&m);
    return rc;
}

typedef struct csv_chunk {
    struct csv_parser *p;
    row_state *r;
    ember_buf carry; /* a line not ended yet */
    bool started;    /* past the stream's first bytes (and a byte order mark) */
} csv_chunk;

/* One whole line of a stream (its \r or \n included, or the stream's last). */
static int stream_line(csv_chunk *c, const unsigned char *p, const unsigned char *e)
{
    const unsigned char *blank = c->p->pstate == 0 ? ember__csv_blank_line(c->r->s, p, e) : NULL;
    if (blank == e) { /* a blank line between rows: no row, as in a plain file */
        c->r->next_line += e > p && e[-1] == '\n';
        return 0;
    }
    return feed_piece(c->p, c->r, p, (size_t)(e - p));
}

static int on_csv_chunk(const unsigned char *data, size_t len, void *arg)
{
    csv_chunk *c = arg;
    /* line by line, as for plain files, so a row's line and raw text are its own */
    const unsigned char *p = data, *end = data + len;
    int rc = 0;
    if (!c->started && len) {
        c->started = true;
        p += ember__bom(p, len); /* a first chunk holds at least 3 bytes unless the file does */
    }
    while (p < end && !rc) {
        const unsigned char *e = ember__csv_line_end(p, end);
        if (e == end) { /* the line goes on in the next chunk */
            if (ember_buf_append(&c->carry, p, (size_t)(end - p)))
                return ember__task_fail(c->r->sink->task, EMBER_ENOMEM, "read_csv: out of memory");
            break;
        }
        e++;
        if (c->carry.len) {
            if (ember_buf_append(&c->carry, p, (size_t)(e - p)))
                return ember__task_fail(c->r->sink->task, EMBER_ENOMEM, "read_csv: out of memory");
            rc = stream_line(c, c->carry.ptr, c->carry.ptr + c->carry.len);
            c->carry.len = 0;
        } else {
            rc = stream_line(c, p, e);
        }
        p = e;
    }
    return rc;
}

static int csv_feed(ember_rdd *n, int part, ember_out *sink)
{
    const csv_src *s = n->u.state;
    const ember__split *sp = &s->in.splits[part];
    const ember__file *f = &s->in.files.v[sp->file];
    ember__task *t = sink->task;
    struct csv_parser p;
    if (ember__csv_parser_init(&p, s))
        return ember__task_fail(t, EMBER_ENOMEM, "read_csv: out of memory");
    row_state r = {.s = s,
                   .path = f->path,
                   .sink = sink,
                   .want =
                       s->shape && s->shape->file_ncols ? s->shape->file_ncols[sp->file] : s->ncols,
                   .next_line = 1,
                   .bad.in = &s->in,
                   .file = sp->file};
    int rc;
    bool read_whole = false;
    if (f->codec == EMBER__CODEC_NONE) {
        rc = feed_plain_csv((csv_src *)(uintptr_t)s, part, &p, &r, &read_whole);
    } else {
        r.is_header = s->header;
        csv_chunk c = {&p, &r, {0}, false};
        rc = ember__input_stream(&s->in, f, t, on_csv_chunk, &c);
        if (!rc && c.carry.len)
            rc = stream_line(&c, c.carry.ptr, c.carry.ptr + c.carry.len);
        if (!rc)
            rc = finish_parse(&p, &r);
        ember_buf_destroy(&c.carry);
    }
    csv_free(&p);
    if (read_whole && !rc && ember_accumulator_add_i64(s->unsplit, 1) && !t->fail_code)
        ember__task_fail(t, EMBER_ENOMEM, "read_csv: out of memory");
    ember_buf_destroy(&r.row);
    ember_buf_destroy(&r.raw);
    ember_buf_destroy(&r.esc);
    ember_buf_destroy(&r.shaped);
    return ember__input_end(&r.bad, t, part, r.count, rc);
}

/* ---------------------------------------------------------------- building */

static void csv_node_free(ember_rdd *n)
{
    csv_src_free(n->u.state);
}

static const ember__node_type csv_type = {
    .name = "read_csv", .flags = EMBER__NT_READER, .compute = csv_feed, .free = csv_node_free};

ember_rdd *ember_read_csv(ember_ctx *ctx, const char *paths, const ember_csv_opts *opts)
{
    const char *op = "read_csv";
    if (!ember__source_ctx_ok(ctx, op))
        return NULL;
    ember_csv_opts o = opts ? *opts : (ember_csv_opts){0};
    if (o.escape &&
        (o.escape == (o.delimiter ? o.delimiter : ',') || o.escape == '\n' || o.escape == '\r'))
        return ember__rdd_error(ctx, EMBER_EINVAL,
                                "%s: the escape cannot be the delimiter or a "
                                "line break",
                                op);
    if (ember__lib_load(&ember__libcsv)) /* here: the workers forked later have it */
        return ember__rdd_error(ctx, EMBER_ENOTSUP, "%s: %s", op, ember__libcsv.err);
    csv_src *s = ember__calloc(1, sizeof *s);
    if (!s)
        return ember__rdd_error(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    pthread_mutex_init(&s->plan_mu, NULL);
    s->header = o.header;
    s->delim = (unsigned char)(o.delimiter ? o.delimiter : ',');
    s->quote = (unsigned char)(o.quote ? o.quote : '"');
    s->escape = o.escape && (unsigned char)o.escape != s->quote ? (unsigned char)o.escape : 0;
    /* with an escape other than the quote, quote parity no longer tells where
     * records start: each file is one split */
    int rc = ember__input_open(&s->in, ctx, op, paths, o.read.min_parts, &o.read, true, !s->escape);
    if (!rc && !(s->unsplit = ember_accumulator_i64(ctx, 0)))
        rc = ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    if (!rc && s->header)
        rc = ember__csv_file_header(ctx, s, 0, &s->head, &s->ncols);
    if (!rc)
        rc = ember__csv_shape_init(ctx, s, &o);
    if (!rc && (!(s->plans = ember__calloc(s->in.files.n, sizeof *s->plans)) ||
                !(s->starts = ember__calloc((size_t)s->in.nsplits, sizeof *s->starts))))
        rc = ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    if (rc) {
        csv_src_free(s);
        return ember__rdd_error(ctx, rc, "%s", ember_errmsg(ctx));
    }
    ember_rdd *r = ember__rdd_new(ctx, &csv_type, op, s->in.nsplits, NULL, NULL);
    if (ember__rdd_failed(r)) {
        csv_src_free(s);
        return r;
    }
    char name[64];
    snprintf(name, sizeof name, "read_csv[%lld].unsplit_files", (long long)r->id);
    ember_accumulator_set_name(s->unsplit, name);
    r->u.state = s;
    if (o.json)
        r->kind = EMBER_KIND_JSON;
    return r;
}

int ember_csv_column(ember_rdd *rdd, const char *name)
{
    int rc = ember__rdd_check(rdd, "ember_csv_column");
    if (rc)
        return rc;
    if (rdd->type != &csv_type || !name)
        return ember__err(rdd->ctx, EMBER_EINVAL, "ember_csv_column: not a CSV reader's rdd");
    const csv_src *s = rdd->u.state;
    if (!s->header)
        return ember__err(rdd->ctx, EMBER_EINVAL, "ember_csv_column: the CSV has no header");
    ember_bytes head = ember_buf_bytes(&s->head), f;
    for (size_t i = 0; ember_csv_field(head, i, &f) == 0; i++)
        if (f.len == strlen(name) && !memcmp(f.ptr, name, f.len))
            return (int)i;
    return ember__err(rdd->ctx, EMBER_EINVAL, "ember_csv_column: no column named '%s'", name);
}

int ember_csv_header(ember_rdd *rdd, ember_bytes *out)
{
    int rc = ember__rdd_check(rdd, "ember_csv_header");
    if (rc)
        return rc;
    if (rdd->type != &csv_type || !out || !((const csv_src *)rdd->u.state)->header)
        return ember__err(rdd->ctx, EMBER_EINVAL,
                          "ember_csv_header: not a CSV reader's rdd with a header");
    *out = ember_buf_bytes(&((const csv_src *)rdd->u.state)->head);
    return 0;
}

/* db: -1 when rdd is no CSV reader, else whether it has a header (into *header). */
int ember__csv_reader(const ember_rdd *rdd, ember_bytes *header)
{
    if (!rdd || rdd->type != &csv_type)
        return -1;
    const csv_src *s = rdd->u.state;
    if (s->shape && s->shape->json)
        return -1; /* JSON objects, not CSV rows */
    if (!s->header)
        return 0;
    *header = ember_buf_bytes(&s->head);
    return 1;
}
