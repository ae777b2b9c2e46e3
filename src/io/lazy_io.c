/* zlib, libbz2 and libcsv, loaded when a job first reads or writes a gzip or
 * bzip2 file or parses CSV (core/lazy.h): the functions ember calls, as shims
 * of the same names (zlib's deflateInit2 and inflateInit2 are macros over
 * these _ ones). */
#include <bzlib.h>
#include <csv.h>
#include <zlib.h>

#include "core/lazy.h"

#define L ember__libz
EMBER__SHIM(L, int, deflateInit2_,
            (z_streamp s, int level, int method, int bits, int mem, int strategy, const char *v,
             int size),
            (s, level, method, bits, mem, strategy, v, size))
EMBER__SHIM(L, int, deflate, (z_streamp s, int flush), (s, flush))
EMBER__SHIM(L, int, deflateEnd, (z_streamp s), (s))
EMBER__SHIM(L, int, inflateInit2_, (z_streamp s, int bits, const char *v, int size),
            (s, bits, v, size))
EMBER__SHIM(L, int, inflate, (z_streamp s, int flush), (s, flush))
EMBER__SHIM(L, int, inflateReset, (z_streamp s), (s))
EMBER__SHIM(L, int, inflateEnd, (z_streamp s), (s))
#undef L

#define L ember__libbz2
EMBER__SHIM(L, int, BZ2_bzCompressInit, (bz_stream * s, int block, int verbosity, int work),
            (s, block, verbosity, work))
EMBER__SHIM(L, int, BZ2_bzCompress, (bz_stream * s, int action), (s, action))
EMBER__SHIM(L, int, BZ2_bzCompressEnd, (bz_stream * s), (s))
EMBER__SHIM(L, int, BZ2_bzDecompressInit, (bz_stream * s, int verbosity, int small),
            (s, verbosity, small))
EMBER__SHIM(L, int, BZ2_bzDecompress, (bz_stream * s), (s))
EMBER__SHIM(L, int, BZ2_bzDecompressEnd, (bz_stream * s), (s))
#undef L

#define L ember__libcsv
EMBER__SHIM(L, int, csv_init, (struct csv_parser * p, unsigned char opts), (p, opts))
EMBER__SHIM(L, int, csv_fini,
            (struct csv_parser * p, void (*field)(void *, size_t, void *), void (*row)(int, void *),
             void *arg),
            (p, field, row, arg))
EMBER__SHIM_VOID(L, csv_free, (struct csv_parser * p), (p))
EMBER__SHIM(L, int, csv_error, (struct csv_parser * p), (p))
EMBER__SHIM(L, char *, csv_strerror, (int e), (e))
EMBER__SHIM(L, size_t, csv_parse,
            (struct csv_parser * p, const void *s, size_t n, void (*field)(void *, size_t, void *),
             void (*row)(int, void *), void *arg),
            (p, s, n, field, row, arg))
EMBER__SHIM_VOID(L, csv_set_delim, (struct csv_parser * p, unsigned char c), (p, c))
EMBER__SHIM_VOID(L, csv_set_quote, (struct csv_parser * p, unsigned char c), (p, c))
EMBER__SHIM_VOID(L, csv_set_realloc_func, (struct csv_parser * p, void *(*fn)(void *, size_t)),
                 (p, fn))
EMBER__SHIM_VOID(L, csv_set_free_func, (struct csv_parser * p, void (*fn)(void *)), (p, fn))
#undef L
