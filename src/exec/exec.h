/* The executor backends behind ember__executor_ops (core/core.h). */
#ifndef EMBER_EXEC_H
#define EMBER_EXEC_H

#include "core/core.h"

/* The blocking pool (exec/blocking.c): threads for calls that wait, made as
 * needed up to the calls the running windows may have waiting at once, kept
 * until ember_close. A job is the caller's: run(job) on a pool thread. */
typedef struct ember__bjob {
    void (*run)(struct ember__bjob *job);
    struct ember__bjob *next;
} ember__bjob;
/* Make ctx->bpool if missing (on the driver). 0 or EMBER_ENOMEM. */
int ember__bpool_open(ember_ctx *ctx);
/* A window of n calls starts (reserve) or ends (release) using the pool. */
void ember__bpool_reserve(ember__bpool *p, int n);
void ember__bpool_release(ember__bpool *p, int n);
/* Queue job; a thread is made when none is idle and the reservations allow.
 * 0, or the error of making the pool's first thread. */
int ember__bpool_push(ember__bpool *p, ember__bjob *job);
/* On a pool thread: the thread's resource for (setup, teardown, arg), made by
 * setup(&res, arg) the first time, torn down by teardown(res, arg) when the
 * thread ends; it is the current call's (ember_concurrent_resource) until
 * ember__bpool_resource_done. 0 or setup's code. */
int ember__bpool_resource(int (*setup)(void **, void *), void (*teardown)(void *, void *),
                          void *arg, void **out);
void ember__bpool_resource_done(void);
/* Threads made so far (tests). */
int ember__bpool_threads(const ember__bpool *p);
void ember__bpool_free(ember__bpool *p);

/* The process backend (exec/process.c): nprocs workers forked at each stage;
 * an attempt past task_timeout seconds (0: none) is killed, a worker's address
 * space is limited to worker_memory bytes (0: no limit); cancel, when set,
 * stops the workers. */
int ember__process_create(int nprocs, double task_timeout, size_t worker_memory,
                          _Atomic int *cancel, const ember__executor_ops **ops, void **impl);
/* Workers replaced after a death, over the backend's life. */
int64_t ember__process_restarts(const void *impl);

/* A pool of nthreads - 1 workers; the caller of run() is the last thread. */
int ember__pool_create(int nthreads, const ember__executor_ops **ops, void **impl);

#ifdef EMBER_WITH_MPI
/* The MPI backend (exec/mpi.c): initialises MPI or joins it, then a pool of
 * threads per rank (threads <= 0: cores shared among the ranks on this node).
 * 0, or EMBER_EIO when MPI does not start, or the pool's error.
 *
 * libember.so does not link Open MPI: the backend is a module of its own
 * (libember-mpi.so beside the library), loaded when a context asks for master
 * "mpi", so that a program on threads or processes neither loads MPI's
 * libraries at start nor copies their mappings at every fork. It reaches
 * libember's internal functions through the host table; the static library
 * has the backend built in (exec/mpi_load.c). */
typedef struct ember__mpi_host {
    void *(*calloc)(size_t n, size_t size);
    void (*free)(void *p);
    int (*buf_reserve)(ember_buf *buf, size_t extra);
    int (*buf_append)(ember_buf *buf, const void *p, size_t n);
    void (*buf_destroy)(ember_buf *buf);
    int (*pool_create)(int nthreads, const ember__executor_ops **ops, void **impl);
} ember__mpi_host;
typedef int ember__mpi_create_fn(const ember__mpi_host *host, int threads, int cores,
                                 const ember__executor_ops **ops, void **impl, int *rank,
                                 int *ranks, int *threads_out);
/* The module's entry (exported by name from libember-mpi.so). */
ember__mpi_create_fn ember_mpi_module_create;
/* Through the module, loaded on first use: as ember_mpi_module_create, or
 * EMBER_ENOTSUP with the reason in why when the module or MPI cannot load. */
int ember__mpi_create(int threads, int cores, const ember__executor_ops **ops, void **impl,
                      int *rank, int *ranks, int *threads_out, char *why, size_t why_len);
#endif

#endif
