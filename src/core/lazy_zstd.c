/* libzstd, loaded when a job first compresses or reads zstd (a .zst file, a
 * spill, a .zstd event log; core/lazy.h): the functions ember calls, as shims
 * of the same names. */
#include "core/lazy.h"
#include "core/zmem.h"

#define L ember__libzstd
EMBER__SHIM(L, size_t, ZSTD_compressBound, (size_t n), (n))
EMBER__SHIM(L, unsigned, ZSTD_isError, (size_t code), (code))
EMBER__SHIM(L, const char *, ZSTD_getErrorName, (size_t code), (code))
EMBER__SHIM(L, ZSTD_CCtx *, ZSTD_createCCtx, (void), ())
EMBER__SHIM(L, ZSTD_CCtx *, ZSTD_createCCtx_advanced, (ZSTD_customMem mem), (mem))
EMBER__SHIM(L, ZSTD_CStream *, ZSTD_createCStream_advanced, (ZSTD_customMem mem), (mem))
EMBER__SHIM(L, ZSTD_DCtx *, ZSTD_createDCtx_advanced, (ZSTD_customMem mem), (mem))
EMBER__SHIM(L, ZSTD_DStream *, ZSTD_createDStream, (void), ())
EMBER__SHIM(L, size_t, ZSTD_freeCCtx, (ZSTD_CCtx * c), (c))
EMBER__SHIM(L, size_t, ZSTD_freeCStream, (ZSTD_CStream * c), (c))
EMBER__SHIM(L, size_t, ZSTD_freeDCtx, (ZSTD_DCtx * d), (d))
EMBER__SHIM(L, size_t, ZSTD_freeDStream, (ZSTD_DStream * d), (d))
EMBER__SHIM(L, size_t, ZSTD_CCtx_setParameter, (ZSTD_CCtx * c, ZSTD_cParameter p, int v), (c, p, v))
EMBER__SHIM(L, size_t, ZSTD_CCtx_reset, (ZSTD_CCtx * c, ZSTD_ResetDirective r), (c, r))
EMBER__SHIM(L, size_t, ZSTD_DCtx_reset, (ZSTD_DCtx * d, ZSTD_ResetDirective r), (d, r))
EMBER__SHIM(L, size_t, ZSTD_compress2,
            (ZSTD_CCtx * c, void *dst, size_t cap, const void *src, size_t n),
            (c, dst, cap, src, n))
EMBER__SHIM(L, size_t, ZSTD_compressCCtx,
            (ZSTD_CCtx * c, void *dst, size_t cap, const void *src, size_t n, int level),
            (c, dst, cap, src, n, level))
EMBER__SHIM(L, size_t, ZSTD_compressStream2,
            (ZSTD_CCtx * c, ZSTD_outBuffer *out, ZSTD_inBuffer *in, ZSTD_EndDirective end),
            (c, out, in, end))
EMBER__SHIM(L, size_t, ZSTD_decompressDCtx,
            (ZSTD_DCtx * d, void *dst, size_t cap, const void *src, size_t n),
            (d, dst, cap, src, n))
EMBER__SHIM(L, unsigned long long, ZSTD_getFrameContentSize, (const void *src, size_t n), (src, n))
EMBER__SHIM(L, size_t, ZSTD_findFrameCompressedSize, (const void *src, size_t n), (src, n))
EMBER__SHIM(L, size_t, ZSTD_decompressStream,
            (ZSTD_DStream * d, ZSTD_outBuffer *out, ZSTD_inBuffer *in), (d, out, in))
#undef L
