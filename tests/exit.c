/* A job that ends badly must end, saying why, and never hang or crash inside MPI:
     EXIT_CASE=task    a task calls exit(0) on a worker (on the threads backend, in the process)
     EXIT_CASE=main    the driver leaves main while the runtime runs (no ud_shutdown)
     EXIT_CASE=segv    a task dereferences a null pointer
     EXIT_CASE=abort   a task calls abort()
   tests/run.sh runs it (the kill variants, and the threads backend in the default one) and
   checks that the job ended within its limit, with the message, leaving no process. */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int quitter(ud_task *t) {
    (void)t;
    exit(0);
}

static volatile int *volatile nowhere;

static int crasher(ud_task *t) {
    const char *which = getenv("EXIT_CASE");
    (void)t;
    if (which && !strcmp(which, "abort")) abort();
    return *nowhere; /* a null pointer the compiler cannot see */
}

static int napper(ud_task *t) {
    (void)t;
    usleep(300000);
    return 0;
}

int main(void) {
    const char *which = getenv("EXIT_CASE");
    ud_func f_quit, f_nap, f_crash;
    ud_role role;
    ud_ref r;
    ud_view v;
    if (!which || ud_register("quitter", quitter, NULL, &f_quit) != UD_OK ||
        ud_register("napper", napper, NULL, &f_nap) != UD_OK ||
        ud_register("crasher", crasher, NULL, &f_crash) != UD_OK || ud_init(NULL, &role) != UD_OK)
        return 2;
    if (role != UD_ROLE_DRIVER) return 0;
    if (strcmp(which, "main") != 0) {
        ud_remote(strcmp(which, "task") ? f_crash : f_quit, NULL, 0, 1, &r);
        ud_get(r, &v);
        printf("exit: the driver went on after the task's %s\n", which);
        ud_shutdown();
        return 3;
    }
    ud_remote(f_nap, NULL, 0, 1, &r);
    printf("exit: the driver leaves main\n");
    fflush(stdout);
    return 0; /* no ud_shutdown */
}
