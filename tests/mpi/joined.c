/* A program that started MPI itself: ember_open("mpi") joins it, the context
 * works across the ranks, and MPI stays the program's to finalise. Exit 0 when
 * every check holds on this rank. */
#include <mpi.h>
#include <stdio.h>

#include <ember/ember.h>

int main(int argc, char **argv)
{
    int level = 0, rank = 0, size = 0, bad = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &level);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int round = 0; round < 2; round++) { /* a second context after the first */
        ember_ctx *ctx;
        if (ember_open(&ctx, &(ember_conf){.master = "mpi[1]"})) {
            fprintf(stderr, "rank %d: %s\n", rank, ember_errmsg(NULL));
            return 1;
        }
        int64_t n = 0;
        bad |= ember_rank(ctx) != rank || ember_ranks(ctx) != size;
        bad |= ember_count(ember_range(ctx, 0, 1000, 1, 7), &n) || n != 1000;
        ember_close(ctx);
    }
    int finalized = 1;
    MPI_Finalized(&finalized);
    bad |= finalized; /* ember_close left MPI to the program */
    int all = 0;
    MPI_Allreduce(&bad, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    if (rank == 0)
        printf("%s\n", all ? "FAIL" : "ok");
    return all;
}
