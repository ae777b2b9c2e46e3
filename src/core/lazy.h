/* Libraries loaded when first used: libcurl (ember_http), libpq (PostgreSQL),
 * libsqlite3 (SQLite) and libmicrohttpd (the web UI) and their thirty-odd
 * dependencies are not mapped into a program that never calls them, so they
 * cost nothing at start-up, and a process[N] worker's fork copies no page
 * tables of theirs (about 190 of a program's 260 mappings, ~0.4 ms of every
 * fork, when libcurl, libpq and libmicrohttpd went lazy). So are zlib, libbz2
 * and libzstd (compressed files, spills, .zstd event logs) and libcsv (CSV):
 * five mappings each; with libxxhash (compiled in: core/xxh.h) the fork
 * floor fell to 0.78-0.86x (bench/RESULTS.md).
 *
 * libember defines each function it calls as a shim of the same name
 * (net/lazy_curl.c, db/lazy_pq.c, db/lazy_sqlite.c, ui/lazy_mhd.c,
 * io/lazy_io.c, core/lazy_zstd.c), hidden
 * like every symbol but the API, which takes the function from the library on
 * first call. The entry point of each subsystem loads the library first
 * (ember__lib_load) and fails cleanly when it is missing; a shim loads it too
 * (a static link's program may call the library itself) and aborts only when
 * it cannot.
 */
#ifndef EMBER_CORE_LAZY_H
#define EMBER_CORE_LAZY_H

#include <pthread.h>
#include <string.h>

typedef struct ember__lib {
    const char *soname; /* e.g. "libcurl.so.4" */
    pthread_mutex_t mu;
    void *_Atomic handle;
    char err[256]; /* why it did not load (dlerror) */
} ember__lib;

#define EMBER__LIB(soname)                                                                         \
    {                                                                                              \
        (soname), PTHREAD_MUTEX_INITIALIZER, NULL, ""                                              \
    }

extern ember__lib ember__libcurl, ember__libpq, ember__libmhd, ember__libsqlite;
extern ember__lib ember__libz, ember__libzstd, ember__libbz2, ember__libcsv;

/* Load lib once (later calls: at once). 0, or -1 with the reason in lib->err. */
int ember__lib_load(ember__lib *lib);
/* The address of name in lib (loaded first), kept in *at after the first
 * call, for a shim; aborts when the library or the name is missing. */
void *ember__lib_at(ember__lib *lib, void *_Atomic *at, const char *name);

/* A shim: ret name(params) defined in libember under the library's own name
 * (hidden, as every symbol of libember but its API: it binds ember's calls,
 * no one else's), its function looked up in the library on first call. */
#define EMBER__SHIM(lib, ret, name, params, args)                                                  \
    ret name params                                                                                \
    {                                                                                              \
        static void *_Atomic lz_at_;                                                               \
        void *lz_p_ = ember__lib_at(&(lib), &lz_at_, #name);                                       \
        ret(*lz_fn_) params;                                                                       \
        memcpy(&lz_fn_, &lz_p_, sizeof lz_fn_);                                                    \
        return lz_fn_ args;                                                                        \
    }
/* ... for a function that returns nothing (C has no return of a void call) */
#define EMBER__SHIM_VOID(lib, name, params, args)                                                  \
    void name params                                                                               \
    {                                                                                              \
        static void *_Atomic lz_at_;                                                               \
        void *lz_p_ = ember__lib_at(&(lib), &lz_at_, #name);                                       \
        void(*lz_fn_) params;                                                                      \
        memcpy(&lz_fn_, &lz_p_, sizeof lz_fn_);                                                    \
        lz_fn_ args;                                                                               \
    }

#endif
