/* Phases: a host code that runs the runtime, shuts it down, does its own work (under MPI, its
   own MPI_Allreduce) and starts the runtime again, 100 times in one process. Every phase runs
   100 tasks with the right results, and every rank gets back every byte the runtime took
   (counted through the allocator hooks) at each shutdown. ut: mpi (built with mpicc -DUT_MPI
   it runs under mpiexec, MPI started by the runtime; tests/m_phases.c is the same with MPI
   started by the host, on its own communicator). */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"

#define PHASES 100
#define TASKS 100

/* MPICH polls without yielding, so with more ranks than cores each collective of an init
   costs milliseconds (a second a phase at 6 ranks on 2 cores): there 10 phases, and the 100
   run where every rank has a core (2 ranks here). */
static int phases(void) {
#if defined(UT_MPI) && defined(MPICH_VERSION)
    int size = 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (cores > 0 && size > cores) return (int)ut_scaled(10);
#endif
    return (int)ut_scaled(PHASES);
}

static ud_func f_add;
static ut_counting mem;

/* add(x, phase): x + phase. */
static int add(ud_task *t) {
    int x = 0, p = 0, *y;
    if (!ut_arg_int(t, 0, &x) || !ut_arg_int(t, 1, &p) || !(y = ud_task_result(t, 0, sizeof *y)))
        return ud_task_fail(t, "add: bad arguments");
    *y = x + p;
    return 0;
}

/* The driver's share of a phase: TASKS tasks, each checked, then shutdown. */
static int driver_phase(int phase) {
    ud_ref outs[TASKS];
    ud_view v;
    int i, bad = 0;
    for (i = 0; i < TASKS; i++) {
        ud_arg a[2];
        a[0] = ud_arg_val(&i, sizeof i);
        a[1] = ud_arg_val(&phase, sizeof phase);
        if (ud_remote(f_add, a, 2, 1, &outs[i]) != UD_OK) {
            ut_note("phase %d: %s", phase, ud_last_error());
            return 1;
        }
    }
    for (i = 0; i < TASKS; i++) {
        if (ud_get(outs[i], &v) != UD_OK || v.size != sizeof(int) || *(const int *)v.data != i + phase)
            bad++;
        ud_free(outs[i]);
    }
    if (ud_shutdown() != UD_OK) bad++;
    return bad;
}

#ifdef UT_MPI
/* The host's own MPI between phases: every rank adds its phase number. */
static int host_allreduce(MPI_Comm comm, int phase) {
    int sum = 0, size = 0;
    MPI_Comm_size(comm, &size);
    if (MPI_Allreduce(&phase, &sum, 1, MPI_INT, MPI_SUM, comm) != MPI_SUCCESS) return 1;
    return sum != phase * size;
}
#endif

int main(int argc, char **argv) {
    ud_config cfg;
    ud_role role = UD_ROLE_DRIVER;
    int phase, failed = 0, leaked = 0, host_bad = 0, driver = 0, nphases = PHASES;
    void *comm = NULL;
#ifdef UT_MPI
    MPI_Comm host = MPI_COMM_WORLD;
#ifdef UT_EMBED /* the host starts MPI and gives the runtime a communicator of its own */
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &host);
    comm = &host;
#endif
#endif
    (void)argc, (void)argv;
    if (ud_register("add", add, NULL, &f_add) != UD_OK) return 1;
    for (phase = 1; phase <= nphases; phase++) {
        memset(&cfg, 0, sizeof cfg);
        ut_counting_use(&cfg, &mem);
        cfg.mpi_comm = comm;
        /* a small store: each init maps its service buffer, sized from the store's bytes */
        cfg.mpi_shared_object_store_memory = (size_t)64 << 20;
        if (ud_init(&cfg, &role) != UD_OK) {
            printf("FAIL init of phase %d: %s\n", phase, ud_last_error());
            return 1;
        }
        if (phase == 1) nphases = phases(); /* MPI is up now, whoever started it */
        if (role == UD_ROLE_DRIVER) driver = 1, failed += driver_phase(phase);
        if (atomic_load(&mem.live_bytes) != 0 && leaked++ < 3)
            fprintf(stderr, "phase %d: %lld bytes not returned\n", phase,
                    (long long)atomic_load(&mem.live_bytes));
#ifdef UT_MPI
        host_bad += host_allreduce(host, phase);
#endif
    }
#ifdef UT_EMBED
    MPI_Comm_free(&host);
    MPI_Finalize();
#endif
    if (!driver) return leaked || host_bad; /* a worker: its exit status is its verdict */
    ut_note("%d phases of %d tasks", nphases, TASKS);
    UT_CASE("phases of 100 tasks: every result right") UT_EQ_INT(failed, 0);
    UT_CASE("every byte returned at each shutdown") UT_EQ_INT(leaked, 0);
    UT_CASE("the host's own collective between phases") UT_EQ_INT(host_bad, 0);
    return ut_finish();
}
