/* Compressed input as a stream: gzip (zlib), zstd and bzip2 (libbz2), chosen
 * by extension.
 *
 * The file is read in 256 KiB pieces and decompressed into a 256 KiB buffer
 * handed to the caller chunk by chunk: never whole in memory. Concatenated gzip
 * members and zstd frames are read through. A stream that ends early or holds
 * bad data gives a code and a message naming the file and the compressed offset:
 * the caller reports it (a task's failure, or an rdd's error on the driver).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bzlib.h>
#include <zlib.h>
#include "core/zmem.h"

#include "io/io.h"

#define CHUNK (256u * 1024u)

/* A failure: code, with why set. */
static int failed(char *why, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failed(char *why, size_t cap, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return code;
}

typedef struct bufs {
    unsigned char *in, *out;
} bufs;

static int gzip_stream(const ember__file *f, FILE *fp, bufs *b, ember__chunk_fn *fn, void *arg,
                       char *why, size_t cap)
{
    z_stream z = {.zalloc = ember__zalloc, .zfree = ember__zfree};
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* gzip or zlib header, detected */
        return failed(why, cap, EMBER_ENOMEM, "%s: cannot start gzip", f->path);
    int rc = 0, zr = Z_OK;
    uint64_t offset = 0;
    bool ended = false; /* the last member ended cleanly */
    while (!rc) {
        if (z.avail_in == 0) {
            size_t got = fread(b->in, 1, CHUNK, fp);
            if (got == 0) {
                if (ferror(fp))
                    rc = failed(why, cap, EMBER_EIO, "%s: read error at byte %llu", f->path,
                                (unsigned long long)offset);
                else if (!ended)
                    rc = failed(why, cap, EMBER_EIO,
                                "%s: truncated gzip stream (ends at compressed "
                                "byte %llu)",
                                f->path, (unsigned long long)offset);
                break;
            }
            z.next_in = b->in;
            z.avail_in = (uInt)got;
        }
        if (ended) { /* another member follows */
            inflateReset(&z);
            ended = false;
        }
        z.next_out = b->out;
        z.avail_out = CHUNK;
        uInt before = z.avail_in;
        zr = inflate(&z, Z_NO_FLUSH);
        offset += before - z.avail_in;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            rc = failed(why, cap, EMBER_EIO, "%s: corrupt gzip data near compressed byte %llu: %s",
                        f->path, (unsigned long long)offset, z.msg ? z.msg : "invalid data");
            break;
        }
        if (zr == Z_STREAM_END)
            ended = true;
        size_t produced = CHUNK - z.avail_out;
        if (produced && (rc = fn(b->out, produced, arg)))
            break;
    }
    inflateEnd(&z);
    return rc;
}

static int zstd_stream(const ember__file *f, FILE *fp, bufs *b, ember__chunk_fn *fn, void *arg,
                       char *why, size_t cap)
{
    ZSTD_DCtx *d = ZSTD_createDCtx_advanced(ember__zstd_mem);
    if (!d)
        return failed(why, cap, EMBER_ENOMEM, "%s: cannot start zstd", f->path);
    int rc = 0;
    size_t last = 0; /* 0: at a frame boundary */
    uint64_t offset = 0;
    ZSTD_inBuffer in = {b->in, 0, 0};
    while (!rc) {
        if (in.pos == in.size) {
            size_t got = fread(b->in, 1, CHUNK, fp);
            if (got == 0) {
                if (ferror(fp))
                    rc = failed(why, cap, EMBER_EIO, "%s: read error at byte %llu", f->path,
                                (unsigned long long)offset);
                else if (last != 0)
                    rc = failed(why, cap, EMBER_EIO,
                                "%s: truncated zstd stream (ends at compressed "
                                "byte %llu)",
                                f->path, (unsigned long long)offset);
                break;
            }
            in = (ZSTD_inBuffer){b->in, got, 0};
        }
        ZSTD_outBuffer out = {b->out, CHUNK, 0};
        size_t before = in.pos;
        last = ZSTD_decompressStream(d, &out, &in);
        offset += in.pos - before;
        if (ZSTD_isError(last)) {
            rc = failed(why, cap, EMBER_EIO, "%s: corrupt zstd data near compressed byte %llu: %s",
                        f->path, (unsigned long long)offset, ZSTD_getErrorName(last));
            break;
        }
        if (out.pos && (rc = fn(b->out, out.pos, arg)))
            break;
    }
    ZSTD_freeDCtx(d);
    return rc;
}

/* bzip2: concatenated streams read through, as bzip2 -d does */
static int bzip2_stream(const ember__file *f, FILE *fp, bufs *b, ember__chunk_fn *fn, void *arg,
                        char *why, size_t cap)
{
    bz_stream z = {0};
    if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK)
        return failed(why, cap, EMBER_ENOMEM, "%s: cannot start bzip2", f->path);
    int rc = 0;
    uint64_t offset = 0;
    bool ended = false, any = false;
    while (!rc) {
        if (z.avail_in == 0) {
            size_t got = fread(b->in, 1, CHUNK, fp);
            if (got == 0) {
                if (ferror(fp))
                    rc = failed(why, cap, EMBER_EIO, "%s: read error at byte %llu", f->path,
                                (unsigned long long)offset);
                else if (!ended && any)
                    rc = failed(why, cap, EMBER_EIO,
                                "%s: truncated bzip2 stream (ends at compressed byte %llu)",
                                f->path, (unsigned long long)offset);
                break;
            }
            z.next_in = (char *)b->in;
            z.avail_in = (unsigned)got;
            any = true;
        }
        if (ended) { /* another stream follows */
            BZ2_bzDecompressEnd(&z);
            char *next = z.next_in;
            unsigned left = z.avail_in;
            z = (bz_stream){0};
            if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK) {
                rc = failed(why, cap, EMBER_ENOMEM, "%s: cannot start bzip2", f->path);
                return rc;
            }
            z.next_in = next;
            z.avail_in = left;
            ended = false;
        }
        z.next_out = (char *)b->out;
        z.avail_out = CHUNK;
        unsigned before = z.avail_in;
        int zr = BZ2_bzDecompress(&z);
        offset += before - z.avail_in;
        if (zr != BZ_OK && zr != BZ_STREAM_END) {
            rc =
                failed(why, cap, EMBER_EIO, "%s: corrupt bzip2 data near compressed byte %llu (%d)",
                       f->path, (unsigned long long)offset, zr);
            break;
        }
        if (zr == BZ_STREAM_END)
            ended = true;
        size_t produced = CHUNK - z.avail_out;
        if (produced && (rc = fn(b->out, produced, arg)))
            break;
    }
    BZ2_bzDecompressEnd(&z);
    return rc;
}

int ember__codec_stream(const ember__file *f, ember__chunk_fn *fn, void *arg, char *why, size_t cap)
{
    why[0] = 0;
    FILE *fp = fopen(f->path, "rb");
    if (!fp)
        return failed(why, cap, -errno, "cannot open %s: %s", f->path, strerror(errno));
    bufs b = {ember__malloc(CHUNK), ember__malloc(CHUNK)};
    int rc;
    if (!b.in || !b.out)
        rc = failed(why, cap, EMBER_ENOMEM, "%s: out of memory", f->path);
    else if (f->codec == EMBER__CODEC_GZIP)
        rc = gzip_stream(f, fp, &b, fn, arg, why, cap);
    else if (f->codec == EMBER__CODEC_BZIP2)
        rc = bzip2_stream(f, fp, &b, fn, arg, why, cap);
    else
        rc = zstd_stream(f, fp, &b, fn, arg, why, cap);
    ember__free(b.in);
    ember__free(b.out);
    fclose(fp);
    return rc;
}
