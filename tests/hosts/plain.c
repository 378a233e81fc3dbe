/* The plain MPI control of tests/hosts/hosts.sh: what a job that has nothing of unidist does
   across the same hosts (a message between every pair of ranks, as a unidist job opens an
   endpoint to each; an allreduce; then MPI_Finalize). When a unidist job hangs in
   MPI_Finalize, this one must hang too for the hang to count as MPI's. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv) {
    int rank, size, sum = 0, ok = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int peer = 0; peer < size; peer++) {
        int got = -1;
        MPI_Sendrecv(&rank, 1, MPI_INT, peer, 7, &got, 1, MPI_INT, peer, 7, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        if (got != peer) ok = 0;
    }
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("plain: %d ranks, sum %d\n", size, sum);
    fflush(stdout);
    MPI_Finalize();
    return ok && sum == size * (size - 1) / 2 ? 0 : 1;
}
