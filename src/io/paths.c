/* Input paths: a file, a directory, a glob, or a comma-separated list of these.
 *
 * A directory gives its regular files in name order, skipping names that start
 * with '.' or '_' (as Hadoop does: _SUCCESS, .crc files); it is not descended.
 * A directory of part files with _temporary and without _SUCCESS is a save
 * whose commit did not finish (an earlier version's, or another tool's job
 * killed while it moved its files): reading it is an error naming it, unless
 * the context says otherwise (conf.read_unfinished). Saves now publish their
 * directory whole (src/io/save.c), so they never leave one.
 * A glob gives its matches in order, each expanded as above. A path that does
 * not exist, a glob that matches nothing, or an unreadable directory is an
 * error naming it. Runs on the driver when the rdd is built.
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/lazy.h"
#include "io/io.h"

void ember__files_destroy(ember__files *f)
{
    for (size_t i = 0; i < f->n; i++)
        ember__free(f->v[i].path);
    ember__free(f->v);
    *f = (ember__files){0};
}

ember__lib *ember__codec_lib(int codec)
{
    return codec == EMBER__CODEC_GZIP    ? &ember__libz
           : codec == EMBER__CODEC_BZIP2 ? &ember__libbz2
           : codec == EMBER__CODEC_ZSTD  ? &ember__libzstd
                                         : NULL;
}

static int codec_of(const char *path)
{
    size_t n = strlen(path);
    if (n > 3 && !strcmp(path + n - 3, ".gz"))
        return EMBER__CODEC_GZIP;
    if ((n > 4 && !strcmp(path + n - 4, ".zst")) || (n > 5 && !strcmp(path + n - 5, ".zstd")))
        return EMBER__CODEC_ZSTD;
    if (n > 4 && !strcmp(path + n - 4, ".bz2"))
        return EMBER__CODEC_BZIP2;
    return EMBER__CODEC_NONE;
}

static int add_file(ember__files *f, const char *path, uint64_t size)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        ember__file *v = ember__realloc(f->v, cap * sizeof *v);
        if (!v)
            return EMBER_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    char *copy = ember__strdup(path);
    if (!copy)
        return EMBER_ENOMEM;
    f->v[f->n++] = (ember__file){copy, size, codec_of(path)};
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_dir(ember_ctx *ctx, const char *op, const char *dir, ember__files *f)
{
    DIR *d = opendir(dir);
    if (!d)
        return ember__err(ctx, -errno, "%s: cannot read directory %s: %s", op, dir,
                          strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    bool parts = false, success = false, temporary = false;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        success |= !strcmp(e->d_name, "_SUCCESS");
        temporary |= !strcmp(e->d_name, "_temporary");
        parts |= !strncmp(e->d_name, "part-", 5);
        if (e->d_name[0] == '.' || e->d_name[0] == '_')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **grown = ember__realloc(names, cap * sizeof *names);
            if (!grown) {
                rc = EMBER_ENOMEM;
                break;
            }
            names = grown;
        }
        if (!(names[n] = ember__strdup(e->d_name)))
            rc = EMBER_ENOMEM;
        else
            n++;
    }
    closedir(d);
    if (!rc && parts && temporary && !success && !ctx->read_unfinished)
        rc = ember__err(ctx, EMBER_EINVAL,
                        "%s: %s holds part files and _temporary but no _SUCCESS: a save whose "
                        "commit did not finish (set conf.read_unfinished or "
                        "EMBER_READ_UNFINISHED=1 to read it anyway)",
                        op, dir);
    if (!rc)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (!rc) {
            size_t len = strlen(dir) + strlen(names[i]) + 2;
            char *path = ember__malloc(len);
            struct stat st;
            if (!path) {
                rc = EMBER_ENOMEM;
            } else {
                snprintf(path, len, "%s/%s", dir, names[i]);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                    rc = add_file(f, path, (uint64_t)st.st_size);
                ember__free(path);
            }
        }
        ember__free(names[i]);
    }
    ember__free(names);
    if (rc == EMBER_ENOMEM)
        return ember__err(ctx, rc, "%s: out of memory listing %s", op, dir);
    return rc;
}

/* The library of each compressed file listed, loaded by the driver (a clear
 * error when it cannot be; workers forked later have it). */
static int load_codecs(ember_ctx *ctx, const char *op, const ember__files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        ember__lib *lib = ember__codec_lib(f->v[i].codec);
        if (lib && ember__lib_load(lib))
            return ember__err(ctx, EMBER_ENOTSUP, "%s: cannot read %s: %s", op, f->v[i].path,
                              lib->err);
    }
    return 0;
}

static int add_path(ember_ctx *ctx, const char *op, const char *path, ember__files *f)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ember__err(ctx, errno == ENOENT ? EMBER_EINVAL : -errno,
                          "%s: input path does not exist: %s", op, path);
    if (S_ISDIR(st.st_mode))
        return add_dir(ctx, op, path, f);
    if (!S_ISREG(st.st_mode))
        return ember__err(ctx, EMBER_EINVAL, "%s: not a regular file or directory: %s", op, path);
    int rc = add_file(f, path, (uint64_t)st.st_size);
    return rc ? ember__err(ctx, rc, "%s: out of memory", op) : 0;
}

int ember__paths_expand(ember_ctx *ctx, const char *op, const char *paths, ember__files *out)
{
    *out = (ember__files){0};
    char *copy = ember__strdup(paths);
    if (!copy)
        return ember__err(ctx, EMBER_ENOMEM, "%s: out of memory", op);
    int rc = 0;
    char *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p && !rc; p = strtok_r(NULL, ",", &save)) {
        if (!strpbrk(p, "*?[")) {
            rc = add_path(ctx, op, p, out);
            continue;
        }
        glob_t g;
        int gr = glob(p, 0, NULL, &g);
        if (gr == GLOB_NOMATCH)
            rc = ember__err(ctx, EMBER_EINVAL, "%s: no file matches %s", op, p);
        else if (gr)
            rc = ember__err(ctx, EMBER_EIO, "%s: cannot expand %s", op, p);
        for (size_t i = 0; !gr && !rc && i < g.gl_pathc; i++)
            rc = add_path(ctx, op, g.gl_pathv[i], out);
        globfree(&g);
    }
    ember__free(copy);
    if (!rc && out->n == 0)
        rc = ember__err(ctx, EMBER_EINVAL, "%s: no input files in '%s'", op, paths);
    if (!rc)
        rc = load_codecs(ctx, op, out);
    if (rc)
        ember__files_destroy(out);
    return rc;
}

bool ember__source_ctx_ok(ember_ctx *ctx, const char *op)
{
    if (ctx && ember__handle_ok(ctx, EMBER__H_CTX) && !ember__cur_task)
        return true;
    ember__err(NULL, ctx ? EMBER_ECTX : EMBER_EINVAL, "%s: ctx is NULL, closed, or this is a task",
               op);
    return false;
}

#define BLOCK_SIZE (32ull * 1024 * 1024)
#define SPLIT_SLOP 1.1

int ember__make_splits(const ember__files *files, int min_parts, bool split_plain,
                       ember__split **out, int *n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < files->n; i++)
        total += files->v[i].size;
    uint64_t goal = total / (uint64_t)(min_parts > 0 ? min_parts : 1);
    uint64_t size = goal < BLOCK_SIZE ? goal : BLOCK_SIZE;
    if (size < 1)
        size = 1;
    ember__split *v = NULL;
    size_t cap = 0, count = 0;
    for (size_t i = 0; i < files->n; i++) {
        const ember__file *f = &files->v[i];
        bool cut = split_plain && f->codec == EMBER__CODEC_NONE;
        uint64_t left = f->size, at = 0;
        do {
            uint64_t len = cut && (double)left / (double)size > SPLIT_SLOP ? size : left;
            if (count == cap) {
                cap = cap ? cap * 2 : 64;
                ember__split *grown = cap > (1u << 30) ? NULL : ember__realloc(v, cap * sizeof *v);
                if (!grown) {
                    ember__free(v);
                    return cap > (1u << 30) ? EMBER_ERANGE : EMBER_ENOMEM;
                }
                v = grown;
            }
            v[count++] = (ember__split){(uint32_t)i, at, at + len};
            at += len;
            left -= len;
        } while (left > 0);
    }
    *out = v;
    *n = (int)count;
    return 0;
}
