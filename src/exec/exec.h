/* The executor backends behind ember__executor_ops (core/core.h). */
#ifndef EMBER_EXEC_H
#define EMBER_EXEC_H

#include "sched/sched.h"

/* A pool of nthreads - 1 workers; the caller of run() is the last thread. */
int ember__pool_create(int nthreads, const ember__executor_ops **ops, void **impl);

#endif
