/* Worker ranks run tasks on threads while one thread calls MPI, so the MPI backend needs
   MPI_THREAD_FUNNELED: a host that initialized MPI with MPI_THREAD_SINGLE sees init fail on
   every rank, naming the level needed, the level given and the rank, and MPI stays usable. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

static int noop(ud_task *t) { (void)t; return 0; }

int main(int argc, char **argv) {
    int rank, size, provided, mine, all = 0;
    ud_role role = (ud_role)-1;
    ud_status st;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ut_set_reduce(rank, NULL, NULL); /* rank 0 prints; the verdicts are gathered below */
    ud_register("noop", noop, NULL, NULL);
    st = ud_init(NULL, &role);
    UT_CASE("MPI_THREAD_SINGLE: init fails, naming the level needed, the one given and the rank") {
        if (provided >= MPI_THREAD_FUNNELED) {
            ut_note("this MPI gave thread level %d when asked for MPI_THREAD_SINGLE", provided);
            ut_skip("MPI gave more than was asked");
        } else {
            UT_EQ_STATUS(st, UD_ERR_CONFIG);
            UT_CONTAINS(ud_last_error(), "MPI_THREAD_FUNNELED");
            UT_CONTAINS(ud_last_error(), "MPI_THREAD_SINGLE on rank 0"); /* the lowest such rank */
            UT_EQ_INT(ud_is_initialized(), 0);
        }
    }
    mine = st != UD_OK;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD); /* MPI is still the host's */
    UT_CASE("every rank refused") {
        if (provided < MPI_THREAD_FUNNELED) UT_EQ_INT(all, size);
    }
    return (MPI_Finalize(), ut_finish());
}
