/* Libraries loaded when first used (core/lazy.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/lazy.h"

/* the SONAMEs of the libraries the build found (CMakeLists.txt) */
#ifndef EMBER_SONAME_CURL
#define EMBER_SONAME_CURL "libcurl.so.4"
#define EMBER_SONAME_PQ "libpq.so.5"
#define EMBER_SONAME_MHD "libmicrohttpd.so.12"
#define EMBER_SONAME_SQLITE "libsqlite3.so.0"
#define EMBER_SONAME_Z "libz.so.1"
#define EMBER_SONAME_ZSTD "libzstd.so.1"
#define EMBER_SONAME_BZ2 "libbz2.so.1.0"
#define EMBER_SONAME_CSV "libcsv.so.3"
#endif

ember__lib ember__libcurl = EMBER__LIB(EMBER_SONAME_CURL);
ember__lib ember__libpq = EMBER__LIB(EMBER_SONAME_PQ);
ember__lib ember__libmhd = EMBER__LIB(EMBER_SONAME_MHD);
ember__lib ember__libsqlite = EMBER__LIB(EMBER_SONAME_SQLITE);
ember__lib ember__libz = EMBER__LIB(EMBER_SONAME_Z);
ember__lib ember__libzstd = EMBER__LIB(EMBER_SONAME_ZSTD);
ember__lib ember__libbz2 = EMBER__LIB(EMBER_SONAME_BZ2);
ember__lib ember__libcsv = EMBER__LIB(EMBER_SONAME_CSV);

static ember__lib *const all_libs[] = {&ember__libcurl,   &ember__libpq, &ember__libmhd,
                                       &ember__libsqlite, &ember__libz,  &ember__libzstd,
                                       &ember__libbz2,    &ember__libcsv};

/* A fork's child (a process[N] worker) may load a library its parent had not:
 * a lock another thread of the parent held for a load at the moment of the
 * fork would never be let go there, and the child would wait for it forever.
 * Each child starts with them free, as glibc does for its loader's own lock
 * (dlopen is then safe in the child). */
static void free_locks_in_child(void)
{
    for (size_t i = 0; i < sizeof all_libs / sizeof *all_libs; i++)
        pthread_mutex_init(&all_libs[i]->mu, NULL);
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, free_locks_in_child);
}

int ember__lib_load(ember__lib *lib)
{
    if (lib->handle)
        return 0;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    pthread_mutex_lock(&lib->mu);
    if (!lib->handle) {
        /* RTLD_NODELETE: the shims keep its addresses for the process's life */
        void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (h) {
            lib->handle = h;
        } else {
            const char *e = dlerror();
            snprintf(lib->err, sizeof lib->err, "cannot load %s: %s", lib->soname,
                     e ? e : "unknown error");
        }
    }
    int rc = lib->handle ? 0 : -1;
    pthread_mutex_unlock(&lib->mu);
    return rc;
}

void *ember__lib_at(ember__lib *lib, void *_Atomic *at, const char *name)
{
    void *p = *at;
    if (p)
        return p;
    if (ember__lib_load(lib)) {
        fprintf(stderr, "ember: %s\n", lib->err);
        abort();
    }
    if (!(p = dlsym(lib->handle, name))) {
        fprintf(stderr, "ember: %s has no %s\n", lib->soname, name);
        abort();
    }
    *at = p;
    return p;
}
