/* The differential check of the CSV reader: the one-split read of a plain file
 * is the definition; reading the same bytes in 2, 3, 7 and 16 splits, and as
 * gzip and zstd streams, must give the same rows in the same order, the same
 * bad rows (count, line numbers, raw text as diverted) and the same failure
 * under the fail policy. Used by tests/unit/io/csv_splits.c and by the fuzz
 * harness tests/fuzz/csv.c. */
#ifndef EMBER_TEST_SUPPORT_CSV_DIFF_H
#define EMBER_TEST_SUPPORT_CSV_DIFF_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <ember/ember.h>

typedef struct cd_buf {
    char *p;
    size_t len, cap;
} cd_buf;

/* A fuzz harness's scratch directory, NAME-XXXXXX under /dev/shm (else
 * /tmp): made at the first call and removed, with all it holds, when the
 * harness exits. NULL when it cannot be made. */
static char cd_scratch[64];

static inline int cd_remove_one(const char *path, const struct stat *st, int flag, struct FTW *at)
{
    (void)st, (void)flag, (void)at;
    return remove(path);
}

static inline void cd_scratch_remove(void)
{
    nftw(cd_scratch, cd_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static inline const char *cd_scratch_dir(const char *name)
{
    if (cd_scratch[0])
        return cd_scratch;
    snprintf(cd_scratch, sizeof cd_scratch, "%s/%s-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name);
    if (!mkdtemp(cd_scratch)) {
        cd_scratch[0] = 0;
        return NULL;
    }
    atexit(cd_scratch_remove);
    return cd_scratch;
}

static void cd_put(cd_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void cd_puts(cd_buf *b, const char *s)
{
    cd_put(b, s, strlen(s));
}

/* n bytes of s with every name of the files read (messages and diverted rows
 * name them) made FILE: path is the plain file's name, and its .gz and .zst
 * twins go too, whichever was read, so that rows that hold such a name come out
 * the same from every read. */
static void cd_put_unpathed_n(cd_buf *b, const char *s, size_t n, const char *path)
{
    size_t pl = strlen(path);
    if (pl > 3 && !strcmp(path + pl - 3, ".gz"))
        pl -= 3;
    else if (pl > 4 && !strcmp(path + pl - 4, ".zst"))
        pl -= 4;
    const char *end = s + n;
    while (s < end) {
        const char *at = memmem(s, (size_t)(end - s), path, pl);
        if (!at) {
            cd_put(b, s, (size_t)(end - s));
            return;
        }
        cd_put(b, s, (size_t)(at - s));
        cd_puts(b, "FILE");
        s = at + pl;
        if (end - s >= 3 && !memcmp(s, ".gz", 3))
            s += 3;
        else if (end - s >= 4 && !memcmp(s, ".zst", 4))
            s += 4;
    }
}

static void cd_put_unpathed(cd_buf *b, const char *s, const char *path)
{
    cd_put_unpathed_n(b, s, strlen(s), path);
}

static int cd_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) || w != n ? -1 : 0;
}

static int cd_write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    if (!g)
        return -1;
    int w = n ? gzwrite(g, data, (unsigned)n) : 0;
    return gzclose(g) != Z_OK || (size_t)w != n ? -1 : 0;
}

static int cd_write_zst(const char *path, const void *data, size_t n)
{
    size_t cap = ZSTD_compressBound(n);
    void *z = malloc(cap ? cap : 1);
    size_t zn = ZSTD_compress(z, cap, data, n, 1);
    int rc = ZSTD_isError(zn) ? -1 : cd_write(path, z, zn);
    free(z);
    return rc;
}

/* Every diverted line of bad_dir's part files, in partition order. */
static int cd_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cd_diverted(cd_buf *out, const char *bad_dir, const char *path)
{
    char *names[1024];
    int n = 0;
    DIR *d = opendir(bad_dir);
    struct dirent *e;
    while (d && n < 1024 && (e = readdir(d)))
        if (!strncmp(e->d_name, "part-", 5))
            names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof *names, cd_cmp_names);
    for (int part = 0; part < n; part++) {
        char f[4200];
        snprintf(f, sizeof f, "%s/%s", bad_dir, names[part]);
        free(names[part]);
        FILE *fp = fopen(f, "rb");
        if (!fp)
            continue;
        char buf[4096];
        cd_buf all = {0};
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, fp)) > 0)
            cd_put(&all, buf, k);
        fclose(fp);
        unlink(f);
        if (all.p)
            cd_put_unpathed_n(out, all.p, all.len, path);
        free(all.p);
    }
}

/* The length of a description (it may hold NUL bytes: rows are binary): kept
 * in the 8 bytes before it. */
static size_t cd_len(const char *p)
{
    size_t n;
    memcpy(&n, p - 8, 8);
    return n;
}

/* b's bytes behind their length (see cd_len); b is consumed. Free with cd_free. */
static char *cd_finish(cd_buf *b)
{
    char *p = malloc(8 + b->len + 1);
    if (!p)
        abort();
    memcpy(p, &b->len, 8);
    if (b->len)
        memcpy(p + 8, b->p, b->len);
    p[8 + b->len] = 0;
    free(b->p);
    return p + 8;
}

static void cd_free(char *p)
{
    free(p - 8);
}

/* What reading path gives: the rows (fields), the bad count, the diverted
 * lines, or the error; paths replaced by FILE. Owned by the caller. */
static char *cd_read(ember_ctx *ctx, const char *path, const ember_csv_opts *o, const char *bad_dir)
{
    cd_buf b = {0};
    cd_puts(&b, "");
    ember_csv_opts opts = *o;
    opts.read.bad_dir = bad_dir;
    ember_rdd *r = ember_read_csv(ctx, path, &opts);
    ember_result *res = NULL;
    int rc = ember_collect(r, &res);
    if (rc) {
        char code[32];
        snprintf(code, sizeof code, "error %d: ", rc);
        cd_puts(&b, code);
        cd_put_unpathed(&b, ember_errmsg(ctx), path);
        /* the one-split read names its partition 0; a split read names the split
         * of the first bad row: compare from the reader's own words on */
        const char *at = strstr(b.p, "read_csv: ");
        if (at && at != b.p) {
            char *keep = strdup(at);
            b.len = 0;
            cd_puts(&b, code);
            cd_puts(&b, keep);
            free(keep);
        }
        ember_free(r);
        return cd_finish(&b);
    }
    for (size_t i = 0; i < ember_result_len(res); i++) {
        ember_bytes row = ember_result_at(res, i).val, f;
        cd_puts(&b, "[");
        for (size_t k = 0; ember_csv_field(row, k, &f) == 0; k++) {
            char len[24];
            snprintf(len, sizeof len, "%s%zu:", k ? "|" : "", f.len);
            cd_puts(&b, len);
            cd_put(&b, f.ptr, f.len);
        }
        cd_puts(&b, "]\n");
    }
    ember_result_free(res);
    int64_t bad = 0;
    ember_bad_records(r, &bad);
    char line[64];
    snprintf(line, sizeof line, "bad %lld\n", (long long)bad);
    cd_puts(&b, line);
    if (bad_dir)
        cd_diverted(&b, bad_dir, path);
    ember_free(r);
    return cd_finish(&b);
}

/* Read data in several ways under opts (min_parts and bad_dir are set here):
 * the one-split read, then the ways in mask (bit k of CD_WAYS), each of which
 * must agree with it. 0 when all agree, else 1 with both descriptions in *why
 * (owned by the caller). dir: an empty scratch directory. */
enum {
    CD_SPLIT2 = 1,
    CD_SPLIT3 = 2,
    CD_SPLIT7 = 4,
    CD_SPLIT16 = 8,
    CD_GZIP = 16,
    CD_ZSTD = 32,
    CD_ALL = 63
};

static int csv_diff_check_ways(ember_ctx *ctx, const char *dir, const unsigned char *data, size_t n,
                               const ember_csv_opts *opts, unsigned mask, char **why)
{
    char plain[4200], gz[4200], zst[4200], bad[4200];
    snprintf(plain, sizeof plain, "%s/in.csv", dir);
    snprintf(gz, sizeof gz, "%s/in.csv.gz", dir);
    snprintf(zst, sizeof zst, "%s/in.csv.zst", dir);
    snprintf(bad, sizeof bad, "%s/bad", dir);
    if (cd_write(plain, data, n) || ((mask & CD_GZIP) && cd_write_gz(gz, data, n)) ||
        ((mask & CD_ZSTD) && cd_write_zst(zst, data, n)))
        abort();
    ember_csv_opts o = *opts;
    const char *bd = o.read.on_bad == EMBER_BAD_DIVERT ? bad : NULL;
    o.read.min_parts = 1;
    char *want = cd_read(ctx, plain, &o, bd);
    static const int parts[] = {2, 3, 7, 16};
    int differs = 0;
    *why = NULL;
    for (int k = 0; k < 6 && !differs; k++) {
        if (!(mask & (1u << k)))
            continue;
        const char *path = k < 4 ? plain : k == 4 ? gz : zst;
        o.read.min_parts = k < 4 ? parts[k] : 1;
        char *got = cd_read(ctx, path, &o, bd);
        if (cd_len(got) != cd_len(want) || memcmp(got, want, cd_len(want))) {
            differs = 1;
            cd_buf w = {0};
            char head[160];
            snprintf(head, sizeof head, "%s read in %d splits gives:\n", path + strlen(dir) + 1,
                     k < 4 ? parts[k] : 1);
            cd_puts(&w, head);
            cd_put(&w, got, cd_len(got));
            cd_puts(&w, "\nthe one-split read gives:\n");
            cd_put(&w, want, cd_len(want));
            *why = w.p;
        }
        cd_free(got);
    }
    cd_free(want);
    unlink(plain);
    unlink(gz);
    unlink(zst);
    rmdir(bad);
    return differs;
}

static int csv_diff_check(ember_ctx *ctx, const char *dir, const unsigned char *data, size_t n,
                          const ember_csv_opts *opts, char **why)
{
    return csv_diff_check_ways(ctx, dir, data, n, opts, CD_ALL, why);
}

#endif
