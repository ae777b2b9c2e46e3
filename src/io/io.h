/* Internal interface of the input/output layer (src/io). */
#ifndef EMBER_IO_H
#define EMBER_IO_H

#include "sched/sched.h"

enum { EMBER__CODEC_NONE = 0, EMBER__CODEC_GZIP, EMBER__CODEC_ZSTD, EMBER__CODEC_BZIP2 };

typedef struct ember__file {
    char *path;
    uint64_t size;
    int codec; /* by extension: .gz, .zst/.zstd */
} ember__file;

typedef struct ember__files {
    ember__file *v;
    size_t n, cap;
} ember__files;

/* A byte range of one input file. */
typedef struct ember__split {
    uint32_t file;
    uint64_t start, end;
} ember__split;

/* Hadoop's FileInputFormat sizing: min(total / min_parts, 32 MiB), at least 1
 * byte; plain files cut into pieces of that size (the last up to 1.1 times it)
 * when split_plain, else one split a file, as compressed files always are; an
 * empty file is one empty split. 0, EMBER_ENOMEM or EMBER_ERANGE. */
int ember__make_splits(const ember__files *files, int min_parts, bool split_plain,
                       ember__split **out, int *n);

/* A source's constructor is on the driver with a live context; else a message
 * on the thread and false. */
bool ember__source_ctx_ok(ember_ctx *ctx, const char *op);

/* Expand paths (a file, a directory: its files in name order, names starting
 * with '.' or '_' skipped; a glob; or a comma-separated list of these) into
 * files. 0, or a negative code with the message on ctx naming the path. */
int ember__paths_expand(ember_ctx *ctx, const char *op, const char *paths, ember__files *out);
/* The library a codec loads when first used (core/lazy.h); NULL for none. */
struct ember__lib *ember__codec_lib(int codec);
void ember__files_destroy(ember__files *f);

/* ---------------------------------------------------------------- scanning bytes */

/* Newlines found 64 bytes at a time: a bitmask of a block's '\n' bytes (SSE2
 * compares on x86-64), then one count-trailing-zeros a line. Lines here average
 * tens of bytes, where a memchr call a line costs more than the scan. */
typedef struct ember__scan {
    const unsigned char *blk, *end;
    uint64_t mask;
} ember__scan;

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline uint64_t ember__byte_mask(const unsigned char *p, const unsigned char *end,
                                        unsigned char c)
{
    uint64_t m = 0;
#if defined(__SSE2__)
    if (end - p >= 64) {
        const __m128i nl = _mm_set1_epi8((char)c);
        for (int k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
            m |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) << (16 * k);
        }
        return m;
    }
#endif
    for (int k = 0; k < 64 && p + k < end; k++)
        m |= (uint64_t)(p[k] == c) << k;
    return m;
}

static inline void ember__scan_init(ember__scan *s, const unsigned char *p,
                                    const unsigned char *end)
{
    *s = (ember__scan){p, end, p < end ? ember__byte_mask(p, end, '\n') : 0};
}

/* The next newline, or NULL at the end. */
static inline const unsigned char *ember__scan_next(ember__scan *s)
{
    while (!s->mask) {
        s->blk += 64;
        if (s->blk >= s->end)
            return NULL;
        s->mask = ember__byte_mask(s->blk, s->end, '\n');
    }
    const unsigned char *nl = s->blk + __builtin_ctzll(s->mask);
    s->mask &= s->mask - 1;
    return nl;
}

/* How many bytes c there are in [p, end): SSE2 compares subtracted into byte
 * counters, summed (psadbw) every 255 blocks; 16 bytes a step. */
static inline size_t ember__count_byte(const unsigned char *p, const unsigned char *end,
                                       unsigned char c)
{
    size_t n = 0;
#if defined(__SSE2__)
    const __m128i needle = _mm_set1_epi8((char)c);
    while (end - p >= 16) {
        __m128i acc = _mm_setzero_si128();
        for (int k = 0; k < 255 && end - p >= 16; k++, p += 16)
            acc = _mm_sub_epi8(
                acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), needle));
        __m128i sad = _mm_sad_epu8(acc, _mm_setzero_si128());
        n += (size_t)_mm_cvtsi128_si32(sad) + (size_t)_mm_extract_epi16(sad, 4);
    }
#endif
    for (; p < end; p++)
        n += *p == c;
    return n;
}

/* ---------------------------------------------------------------- the input path (io/input.c) */

/* What every file reader's state starts with (its node type has
 * EMBER__NT_READER): its files and splits and its bad-record policy. */
typedef struct ember__input {
    const char *op;
    ember__files files;
    ember__split *splits;
    int nsplits;
    int on_bad; /* ember_on_bad */
    char *bad_dir;
    ember_accumulator *bad; /* skipped or diverted, over successful attempts */
} ember__input;

/* Check the options and set in up: the policy (making bad_dir), the bad-record
 * count when counts_bad, the files, the splits (split_plain: plain files may
 * be cut). 0, or a code with the message on ctx. Close it even on failure. */
int ember__input_open(ember__input *in, ember_ctx *ctx, const char *op, const char *paths,
                      int min_parts, const ember_read_opts *opts, bool counts_bad,
                      bool split_plain);
void ember__input_close(ember__input *in);

/* A plain file mapped whole (size 0 and base NULL: an empty file). 0, or the
 * task's failure naming the file (open, fstat and mmap failures alike). */
typedef struct ember__mapped {
    const unsigned char *base;
    size_t size;
} ember__mapped;
int ember__map_file(const char *op, const char *path, ember__task *t, ember__mapped *m);
void ember__unmap_file(ember__mapped *m);

/* A compressed file read as a stream into fn: 0, fn's code, or the task's
 * failure naming the file and the compressed offset. */
typedef int ember__chunk_fn(const unsigned char *data, size_t len, void *arg);
int ember__input_stream(const ember__input *in, const ember__file *f, ember__task *t,
                        ember__chunk_fn *fn, void *arg);

/* A task's bad records: counted, diverted ones kept for the end. */
typedef struct ember__bad {
    const ember__input *in;
    int64_t n;
    ember_buf diverted;
    char samples[8][320]; /* the first few, "file:line: why", for the UI's event */
    int nsamples;
} ember__bad;
/* The record at path:line (raw: its text, line breaks trimmed) is bad for why:
 * the task fails, or it is skipped or diverted. 0 or the task's failure. */
int ember__bad_record(ember__bad *b, ember__task *t, const char *path, uint64_t line,
                      const unsigned char *raw, size_t n, const char *why);
/* A split read (rc its outcome, good the records handed on): the records and
 * bad ones counted, the count added, the diverted file written. The task's
 * code. */
int ember__input_end(ember__bad *b, ember__task *t, int part, int64_t good, int rc);

/* A line checker for structured readers: 0 keep, 1 skip quietly (a blank line),
 * -1 bad (why says what is wrong). */
typedef int ember__line_check(const unsigned char *p, size_t n, char *why, size_t cap);

/* A stream of lines pushed into a sink: assembles lines across chunks, strips
 * "\r\n" endings, counts records read, and applies the reader's bad-record
 * policy with the file and line named. */
typedef struct ember__lines {
    ember_buf pending; /* the start of a line cut by a chunk boundary */
    bool have_pending;
    int64_t count;
    ember__line_check *check; /* NULL: every line is a record */
    const char *path;
    uint64_t line;            /* lines seen in this split */
    const unsigned char *map; /* plain files: the mapping, to number lines */
    size_t first;             /* the offset of the split's first line */
    uint64_t base;            /* lines before it; UINT64_MAX until needed */
    ember__bad bad;
} ember__lines;

/* Push the complete lines of data; keep the rest for the next chunk. Returns the
 * push's code (non-zero: stop). */
int ember__lines_push(ember__lines *ls, const unsigned char *data, size_t len, ember_out *sink);
/* At the end of the stream: the last line, if it had no newline. */
int ember__lines_end(ember__lines *ls, ember_out *sink);

/* A line-oriented source over paths; check (NULL: plain lines) and opts (NULL:
 * fail on bad records) for structured readers. */
ember_rdd *ember__text_source(ember_ctx *ctx, const char *op, const char *paths, int min_parts,
                              ember__line_check *check, const ember_read_opts *opts);

/* Read a compressed file as a stream of decompressed chunks into fn (io/codec.c,
 * on any thread). 0; fn's non-zero code, why left empty; or a failure's code
 * with why naming the file and the compressed offset. */
int ember__codec_stream(const ember__file *f, ember__chunk_fn *fn, void *arg, char *why,
                        size_t cap);

#endif
