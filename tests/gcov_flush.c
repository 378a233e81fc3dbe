/* Linked into the programs tests/coverage.sh builds with --coverage, with -Wl,--wrap=_exit.
   gcov writes its counts at a normal exit only, and a job that ends on a fatal path never
   exits normally: the rank that fails calls MPI_Abort (or abort() on the threads backend), a
   task's exit() or a driver leaving main ends in the runtime's _exit, and the launcher ends the
   other ranks with SIGTERM (then SIGKILL). What those processes ran is run by the suite all the
   same, so the counts are written first: in MPI_Abort (through the MPI profiling interface,
   with -DUT_MPI), in the program's own calls of _exit, and on SIGTERM, SIGINT and SIGABRT. A
   process killed by SIGKILL (tests/kill.c's victim) still writes nothing. */
#include <signal.h>
#include <string.h>

void __gcov_dump(void);
void __real__exit(int status);
void __wrap__exit(int status);

/* Writes the counts, then dies of the signal as it would have. */
static void gcov_flush_on_signal(int sig) {
    __gcov_dump();
    signal(sig, SIG_DFL);
    raise(sig);
}

__attribute__((constructor)) static void gcov_flush_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gcov_flush_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
}

void __wrap__exit(int status) {
    __gcov_dump();
    __real__exit(status);
}

#ifdef UT_MPI
#include <mpi.h>

int MPI_Abort(MPI_Comm comm, int code) {
    __gcov_dump();
    return PMPI_Abort(comm, code);
}
#endif
