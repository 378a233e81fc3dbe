/* Init refuses to start when the ranks disagree, names the difference, and every rank gets
   the error back (no hang, no abort): here the last rank registers one function less, then
   the same function with another flag, named with the flags of both ranks. Run under mpiexec
   with 3 or more ranks; it initializes MPI itself so that it can run init twice and finalize
   once. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

static int noop(ud_task *t) { (void)t; return 0; }

int main(int argc, char **argv) {
    int rank, size, provided;
    ud_role role;
    ud_status st;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ut_set_reduce(rank, NULL, NULL); /* only rank 0 prints; each rank checks for itself */
    ud_register("common", noop, NULL, NULL);
    if (rank != size - 1) ud_register("only_some", noop, NULL, NULL);

    st = ud_init(NULL, &role);
    UT_CASE("missing function is named") {
        UT_EQ_STATUS(st, UD_ERR_CONFIG);
        if (rank == 0) UT_CONTAINS(ud_last_error(), "only_some");
        UT_EQ_INT(ud_is_initialized(), 0);
    }
    {   /* every rank must have seen the error, named: gather the verdicts */
        int mine[2] = {st == UD_ERR_CONFIG, strstr(ud_last_error(), "'only_some'") != NULL};
        int all[2] = {0, 0};
        MPI_Allreduce(mine, all, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        UT_CASE("every rank refused") { UT_EQ_INT(all[0], size); }
        UT_CASE("every rank names the function") { UT_EQ_INT(all[1], size); }
    }
    if (rank == size - 1) ud_register_flags("only_some", noop, NULL, UD_FN_INLINE, NULL);
    st = ud_init(NULL, &role);
    {
        int mine[2] = {st == UD_ERR_CONFIG, strstr(ud_last_error(), "'only_some' has flags") != NULL};
        int all[2] = {0, 0};
        MPI_Allreduce(mine, all, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        UT_CASE("a flag that differs is refused on every rank") { UT_EQ_INT(all[0], size); }
        UT_CASE("every rank names the function whose flags differ") { UT_EQ_INT(all[1], size); }
        UT_CASE("the flags of both ranks are named") {
            if (rank == 0) UT_CONTAINS(ud_last_error(), "flags 0x0 on rank 0 and 0x1 on rank");
        }
    }
    return (MPI_Finalize(), ut_finish());
}
