/* The MPI backend's module, libember-mpi.so (exec/exec.h): loaded from
 * beside libember.so when a context first asks for master "mpi", or built in
 * (EMBER_MPI_BUILTIN: the static library, whose programs link MPI
 * themselves). */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "exec/exec.h"

static const ember__mpi_host host = {.calloc = ember__calloc,
                                     .free = ember__free,
                                     .buf_reserve = ember__buf_reserve,
                                     .buf_append = ember_buf_append,
                                     .buf_destroy = ember_buf_destroy,
                                     .pool_create = ember__pool_create};

#ifdef EMBER_MPI_BUILTIN
static ember__mpi_create_fn *module(char *why, size_t why_len)
{
    (void)why;
    (void)why_len;
    return ember_mpi_module_create;
}
#else
/* Loaded once a process, never unloaded (MPI is started once a process). */
static ember__mpi_create_fn *module(char *why, size_t why_len)
{
    static ember__mpi_create_fn *create;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (!create) {
        /* libember-mpi.so in the directory libember.so was loaded from: the
         * build tree, or the installed libdir */
        char path[PATH_MAX] = "";
        Dl_info di;
        if (dladdr((void *)ember__mpi_create, &di) && di.dli_fname && strchr(di.dli_fname, '/')) {
            const char *slash = strrchr(di.dli_fname, '/');
            snprintf(path, sizeof path, "%.*s/libember-mpi.so", (int)(slash - di.dli_fname),
                     di.dli_fname);
        } else {
            snprintf(path, sizeof path, "libember-mpi.so"); /* the loader's search */
        }
        /* RTLD_GLOBAL: Open MPI's own plugins look for its symbols there */
        void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
        if (!h) {
            const char *e = dlerror();
            snprintf(why, why_len, "%s", e ? e : path);
        }
        if (h && !(create = (ember__mpi_create_fn *)dlsym(h, "ember_mpi_module_create")))
            snprintf(why, why_len, "%s has no ember_mpi_module_create", path);
    }
    ember__mpi_create_fn *c = create;
    pthread_mutex_unlock(&mu);
    return c;
}
#endif

int ember__mpi_create(int threads, int cores, const ember__executor_ops **ops, void **impl,
                      int *rank, int *ranks, int *threads_out, char *why, size_t why_len)
{
    ember__mpi_create_fn *create = module(why, why_len);
    if (!create)
        return EMBER_ENOTSUP;
    return create(&host, threads, cores, ops, impl, rank, ranks, threads_out);
}
