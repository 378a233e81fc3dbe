/* One rank: each rank of the launch splits itself a communicator of its own (cfg.mpi_comm)
   and starts the runtime on it alone. UNIDIST_BACKEND=mpi refuses, saying it needs 2 or more
   ranks; auto falls back to the threads backend, which runs tasks. Run under mpiexec with any
   number of ranks; it initializes MPI itself. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

static ud_func f_square;

static int square(ud_task *t) {
    int x = 0;
    return ut_arg_int(t, 0, &x) ? ut_result_int(t, 0, x * x) : ud_task_fail(t, "square");
}

/* Whether every rank saw ok: each rank checks for itself, rank 0 prints. */
static int on_every_rank(int ok) {
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return all;
}

int main(int argc, char **argv) {
    int rank, provided, ok;
    MPI_Comm alone;
    ud_config cfg;
    ud_role role;
    ud_status st;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_split(MPI_COMM_WORLD, rank, 0, &alone);
    ut_set_reduce(rank, NULL, NULL);
    ud_register("square", square, NULL, &f_square);
    memset(&cfg, 0, sizeof cfg);
    cfg.mpi_comm = &alone;
    cfg.cpus = 1;

    cfg.backend = "mpi";
    st = ud_init(&cfg, &role);
    ok = st == UD_ERR_CONFIG && strstr(ud_last_error(), "needs 2 or more ranks") &&
         strstr(ud_last_error(), "this communicator has 1") && !ud_is_initialized();
    if (!ok) ut_note("rank %d: %s: %s", rank, ud_status_str(st), ud_last_error());
    if (st == UD_OK) ud_shutdown();
    UT_CASE("UNIDIST_BACKEND=mpi on one rank: init says it needs 2 or more ranks") {
        UT_CHECK(on_every_rank(ok));
    }

    cfg.backend = "auto";
    st = ud_init(&cfg, &role);
    ok = st == UD_OK && role == UD_ROLE_DRIVER && !strcmp(ud_backend_name(), "threads");
    if (st == UD_OK) {
        ud_ref r;
        ud_view v;
        int x = 7;
        ud_arg a = ud_arg_val(&x, sizeof x);
        ok = ok && ud_remote(f_square, &a, 1, 1, &r) == UD_OK && ud_get(r, &v) == UD_OK &&
             v.size == sizeof(int) && *(const int *)v.data == 49 && ud_free(r) == UD_OK;
        ok = ud_shutdown() == UD_OK && ok;
    }
    if (!ok) ut_note("rank %d: %s, backend %s: %s", rank, ud_status_str(st), ud_backend_name(), ud_last_error());
    UT_CASE("auto on one rank: the threads backend, which runs a task") {
        UT_CHECK(on_every_rank(ok));
    }
    MPI_Comm_free(&alone);
    return (MPI_Finalize(), ut_finish());
}
