/* The executor backends behind ember__executor_ops (core/core.h). */
#ifndef EMBER_EXEC_H
#define EMBER_EXEC_H

#include "sched/sched.h"

/* A pool of nthreads - 1 workers; the caller of run() is the last thread. */
int ember__pool_create(int nthreads, const ember__executor_ops **ops, void **impl);

#ifdef EMBER_WITH_MPI
/* The MPI backend (exec/mpi.c): initialises MPI or joins it, then a pool of
 * threads per rank (threads <= 0: cores shared among the ranks on this node).
 * 0, or EMBER_EIO when MPI does not start, or the pool's error. */
int ember__mpi_create(int threads, int cores, const ember__executor_ops **ops, void **impl,
                      int *rank, int *ranks, int *threads_out);
#endif

#endif
