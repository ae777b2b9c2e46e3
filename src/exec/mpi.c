/* The MPI backend: the context spans every rank of MPI_COMM_WORLD (SPMD).
 *
 * Every rank runs the same program and builds the same lineage; a job's tasks
 * are split among the ranks by partition (sched/job.c), and each rank runs its
 * share on its own thread pool (the thread backend, inside). What crosses ranks
 * goes through the collectives here, always called by the driver thread of
 * every rank in the same order: MPI is initialised with MPI_THREAD_FUNNELED.
 *
 * No core is spun for long: every collective is started non-blocking and
 * waited for with MPI_Test, in a loop for 50 us, then with a sleep that doubles
 * from 20 us to 1 ms, so a rank that waits for a slower one leaves its cores to
 * the workers (a blocking MPI call polls at full speed, and with more ranks
 * than cores that halves the others).
 *
 * A rank that dies: MPI's default handler (errors are fatal) and the launcher
 * end the job on every rank, with mpirun's message and a non-zero status.
 *
 * Built as the module libember-mpi.so for libember.so (exec/exec.h): libember's
 * own functions are reached through the host table it hands over.
 */
#include <mpi.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec.h"

static const ember__mpi_host *host;

typedef struct mpi_impl {
    const ember__executor_ops *pool_ops;
    void *pool;
    int rank, ranks;
} mpi_impl;

/* MPI is started once a process and cannot start again once finalised, so a
 * context that started it does not end it: the process does, at exit (a
 * program that called MPI_Init itself calls MPI_Finalize itself). */
static void finalize_at_exit(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done)
        MPI_Finalize();
}

/* Wait for r without spinning a core: tested in a loop for its first 50 us
 * (the ranks of a small job arrive within that; each round of a collective
 * moves only when both sides test), then with sleeps. */
static void wait_for(MPI_Request *r)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int done = 0;
        MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) > 50000)
            break;
    }
    long ns = 20000;
    for (;;) {
        int done = 0;
        MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 1000000)
            ns *= 2;
    }
}

static int mpi_run(void *impl, int ntasks, ember__task_fn *fn, void *batch)
{
    mpi_impl *m = impl;
    return m->pool_ops->run(m->pool, ntasks, fn, batch);
}

/* Counts travel as int: one rank's part of an exchange stays under 2 GiB. A
 * rank that cannot take part (a part too big, no memory for what it receives)
 * still goes through every step the others go through, and all of them fail
 * together: a rank that left an exchange would leave the others waiting. */

/* Whether any rank says so (an all-reduce of a flag). */
static bool any_rank(bool mine)
{
    int in = mine, out = 0;
    MPI_Request r;
    MPI_Iallreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &r);
    wait_for(&r);
    return out != 0;
}

static int mpi_allgather(void *impl, const ember_buf *mine, ember_buf *all, size_t *offs)
{
    mpi_impl *m = impl;
    int n = m->ranks;
    int mylen = mine->len > INT_MAX ? -1 : (int)mine->len;
    int *lens = host->calloc((size_t)n * 2, sizeof *lens);
    if (!lens) /* 8 bytes a rank: the one step a rank cannot go through */
        return EMBER_ENOMEM;
    bool bad = false;
    MPI_Request r;
    MPI_Iallgather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, MPI_COMM_WORLD, &r);
    wait_for(&r);
    size_t total = 0;
    for (int i = 0; !bad && i < n; i++) {
        bad |= lens[i] < 0;
        offs[i] = total;
        total += lens[i] > 0 ? (size_t)lens[i] : 0;
    }
    offs[n] = total;
    bad |= total > INT_MAX;
    all->len = 0;
    bad |= !bad && host->buf_reserve(all, total + 1) != 0;
    if (any_rank(bad)) {
        host->free(lens);
        return mylen < 0 || total > INT_MAX ? EMBER_ERANGE : EMBER_ENOMEM;
    }
    int *displs = lens + n;
    for (int i = 0; i < n; i++)
        displs[i] = (int)offs[i];
    MPI_Iallgatherv(mine->ptr ? mine->ptr : (void *)"", mylen, MPI_BYTE, all->ptr, lens, displs,
                    MPI_BYTE, MPI_COMM_WORLD, &r);
    wait_for(&r);
    all->len = total;
    host->free(lens);
    return 0;
}

static int mpi_alltoall(void *impl, const ember_buf *send, ember_buf *recv)
{
    mpi_impl *m = impl;
    int n = m->ranks;
    int *v = host->calloc((size_t)n * 4, sizeof *v);
    if (!v) /* 16 bytes a rank: the one step a rank cannot go through */
        return EMBER_ENOMEM;
    int *scount = v, *sdispl = v + n, *rcount = v + 2 * n, *rdispl = v + 3 * n;
    ember_buf out = {0}, in = {0};
    size_t stotal = 0;
    bool big = false;
    for (int i = 0; i < n; i++) {
        scount[i] = send[i].len > INT_MAX ? -1 : (int)send[i].len;
        big |= scount[i] < 0;
        stotal += send[i].len;
    }
    big |= stotal > INT_MAX;
    MPI_Request r;
    MPI_Ialltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT, MPI_COMM_WORLD, &r);
    wait_for(&r);
    size_t rtotal = 0;
    for (int i = 0; i < n; i++) {
        big |= rcount[i] < 0;
        rdispl[i] = (int)(rtotal > INT_MAX ? 0 : rtotal);
        rtotal += rcount[i] > 0 ? (size_t)rcount[i] : 0;
    }
    big |= rtotal > INT_MAX;
    bool nomem =
        !big && (host->buf_reserve(&out, stotal + 1) || host->buf_reserve(&in, rtotal + 1));
    if (any_rank(big || nomem)) {
        host->buf_destroy(&in);
        host->buf_destroy(&out);
        host->free(v);
        return big ? EMBER_ERANGE : EMBER_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        sdispl[i] = (int)out.len;
        if (send[i].len)
            memcpy(out.ptr + out.len, send[i].ptr, send[i].len);
        out.len += send[i].len;
    }
    MPI_Ialltoallv(out.ptr, scount, sdispl, MPI_BYTE, in.ptr, rcount, rdispl, MPI_BYTE,
                   MPI_COMM_WORLD, &r);
    wait_for(&r);
    int rc = 0;
    for (int i = 0; !rc && i < n; i++) {
        recv[i].len = 0;
        if (host->buf_append(&recv[i], in.ptr + rdispl[i], (size_t)rcount[i]))
            rc = EMBER_ENOMEM;
    }
    host->buf_destroy(&in);
    host->buf_destroy(&out);
    host->free(v);
    return rc;
}

static int mpi_bcast(void *impl, ember_buf *buf, int root)
{
    mpi_impl *m = impl;
    unsigned long long len = buf->len;
    MPI_Request r;
    MPI_Ibcast(&len, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD, &r);
    wait_for(&r);
    if (len > INT_MAX) /* every rank sees the same length: all stop here */
        return EMBER_ERANGE;
    bool nomem = false;
    if (m->rank != root) {
        buf->len = 0;
        nomem = host->buf_reserve(buf, (size_t)len + 1) != 0;
    }
    if (any_rank(nomem))
        return EMBER_ENOMEM;
    MPI_Ibcast(buf->ptr, (int)len, MPI_BYTE, root, MPI_COMM_WORLD, &r);
    wait_for(&r);
    buf->len = (size_t)len;
    return 0;
}

static void mpi_barrier(void *impl)
{
    (void)impl;
    MPI_Request r;
    MPI_Ibarrier(MPI_COMM_WORLD, &r);
    wait_for(&r);
}

static void mpi_destroy(void *impl)
{
    mpi_impl *m = impl;
    if (!m)
        return;
    mpi_barrier(m); /* no rank leaves while another may still send to it */
    m->pool_ops->destroy(m->pool);
    host->free(m);
}

static const ember__executor_ops mpi_ops = {.name = "mpi",
                                            .run = mpi_run,
                                            .destroy = mpi_destroy,
                                            .allgather = mpi_allgather,
                                            .alltoall = mpi_alltoall,
                                            .bcast = mpi_bcast,
                                            .barrier = mpi_barrier};

/* The ranks that share this rank's node. */
static int ranks_on_node(void)
{
    MPI_Comm node;
    int n = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &n);
        MPI_Comm_free(&node);
    }
    return n > 0 ? n : 1;
}

__attribute__((visibility("default"))) int ember_mpi_module_create(const ember__mpi_host *h,
                                                                   int threads, int cores,
                                                                   const ember__executor_ops **ops,
                                                                   void **impl, int *rank,
                                                                   int *ranks, int *threads_out)
{
    host = h;
    int inited = 0, level = 0;
    MPI_Initialized(&inited);
    mpi_impl *m = host->calloc(1, sizeof *m);
    if (!m)
        return EMBER_ENOMEM;
    if (!inited) {
        /* no argc/argv here: MPI-3 allows NULL, and mpirun passes its own by environment */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &level) != MPI_SUCCESS) {
            host->free(m);
            return EMBER_EIO;
        }
        atexit(finalize_at_exit);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->ranks);
    if (threads <= 0) { /* the rank's share of the node's cores */
        int local = ranks_on_node();
        threads = cores / local;
        if (threads < 1)
            threads = 1;
    }
    int rc = host->pool_create(threads, &m->pool_ops, &m->pool);
    if (rc) {
        host->free(m);
        return rc;
    }
    *ops = &mpi_ops;
    *impl = m;
    *rank = m->rank;
    *ranks = m->ranks;
    *threads_out = threads;
    return 0;
}
