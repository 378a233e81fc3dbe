/* Embedding: the host initializes MPI, runs the runtime on a duplicate of its own
   communicator, and goes on using MPI after shutdown before it finalizes MPI itself. A rank
   whose configuration differs makes init fail on every rank, naming the variable; so does a
   communicator that is none, naming the MPI call that refused it. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

static ud_func f_twice;

static int twice(ud_task *t) {
    ud_view a;
    int *y = (int *)ud_task_result(t, 0, sizeof *y);
    if (ud_task_arg(t, 0, &a) != UD_OK || !y) return ud_task_fail(t, "twice: bad argument");
    *y = 2 * *(const int *)a.data;
    return 0;
}

int main(int argc, char **argv) {
    int rank, size, provided, i, total = 0, ones = 1;
    MPI_Comm host;
    ud_config cfg;
    ud_role role = (ud_role)-1;
    ud_status st;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_dup(MPI_COMM_WORLD, &host);
    ut_set_reduce(rank, NULL, NULL);
    ud_register("twice", twice, NULL, &f_twice);

    /* First no communicator at all (MPI's errors on it are the world's, returned for now). */
    {
        MPI_Comm none = MPI_COMM_NULL;
        memset(&cfg, 0, sizeof cfg);
        cfg.mpi_comm = &none;
        cfg.backend = "mpi";
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        st = ud_init(&cfg, &role);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
        UT_CASE("a communicator that is none is refused, naming the MPI call") {
            UT_EQ_STATUS(st, UD_ERR_MPI);
            UT_CONTAINS(ud_last_error(), "init: MPI_Comm_dup: ");
            UT_EQ_INT(ud_is_initialized(), 0);
        }
        /* auto must not take it for "no MPI" and start the threads backend on every rank */
        cfg.backend = "auto";
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        st = ud_init(&cfg, &role);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
        UT_CASE("auto: a communicator that is none is refused too, naming it") {
            UT_CHECK(st != UD_OK);
            UT_CONTAINS(ud_last_error(), "ud_config.mpi_comm");
            UT_EQ_INT(ud_is_initialized(), 0);
            if (st == UD_OK) ud_shutdown();
        }
    }

    /* Then a rank with a different GC threshold: everyone must refuse. */
    memset(&cfg, 0, sizeof cfg);
    cfg.mpi_comm = &host;
    cfg.mpi_gc_threshold = rank == size - 1 ? 77 : 0;
    st = ud_init(&cfg, &role);
    UT_CASE("a configuration that differs is named") {
        UT_EQ_STATUS(st, UD_ERR_CONFIG);
        if (rank == 0) UT_CONTAINS(ud_last_error(), "UNIDIST_MPI_GC_THRESHOLD");
    }

    /* Then the same on every rank: it runs, on the host's communicator. */
    cfg.mpi_gc_threshold = 0;
    st = ud_init(&cfg, &role);
    if (st == UD_OK && role == UD_ROLE_DRIVER) {
        UT_CASE("runs on the host's communicator") {
            int x = 21;
            ud_ref r, o;
            ud_view v;
            ud_arg a;
            int wsize = 0;
            MPI_Comm_size(ud_mpi_comm(), &wsize);
            UT_EQ_INT(wsize, size);
            UT_OK(ud_put(&x, sizeof x, &r));
            a = ud_arg_ref(r);
            UT_OK(ud_remote(f_twice, &a, 1, 1, &o));
            if (UT_OK(ud_get(o, &v))) UT_EQ_INT(*(const int *)v.data, 42);
            UT_OK(ud_free(r));
            UT_OK(ud_free(o));
            UT_OK(ud_shutdown());
        }
    }
    UT_CASE("init returned a role") {
        UT_EQ_STATUS(st, UD_OK);
        /* rank 1 runs tasks and carries the monitor's duty */
        UT_EQ_INT(role, rank == 0 ? UD_ROLE_DRIVER : rank == 1 ? UD_ROLE_MONITOR : UD_ROLE_WORKER);
    }
    /* MPI is still the host's after shutdown: every rank takes part in a collective. */
    for (i = 0; i < 3; i++) MPI_Allreduce(&ones, &total, 1, MPI_INT, MPI_SUM, host);
    UT_CASE("the host's MPI works after shutdown") {
        int finalized = 1;
        UT_EQ_INT(total, size);
        MPI_Finalized(&finalized);
        UT_EQ_INT(finalized, 0);
    }
    MPI_Comm_free(&host);
    MPI_Finalize();
    return ut_finish();
}
